/* F and D computational instructions on the host FPU: the host rounds and raises the
 * IEEE flags for RNE/RTZ/RDN/RUP; RMM, NaN rules, NaN-boxing and RISC-V's saturating
 * conversions are done here. Not here: FP loads/stores, mstatus.FS, Zfh/Zfa. */
/* roundeven() is a C2x / TS 18661-1 function */
#define __STDC_WANT_IEC_60559_FUNCS_EXT__ 1
#include "cpu/fpu.h"

#include <fenv.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

/* GCC ignores FENV_ACCESS (and warns), so the volatile operands below are what keep
 * the compiler from folding or moving FP operations across mode and flag changes. */
#ifdef __clang__
#pragma STDC FENV_ACCESS ON
#endif

/* RMM is computed by truncating into long double and rounding that by hand; this needs
 * a long double wide enough to hold a double midpoint, and a range that keeps double
 * subnormals normal. */
_Static_assert(LDBL_MANT_DIG >= 55 && LDBL_MIN_EXP < DBL_MIN_EXP - 60, "long double too narrow");

enum { RM_RNE, RM_RTZ, RM_RDN, RM_RUP, RM_RMM };
enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_SQRT, OP_FMADD, OP_FMSUB, OP_FNMSUB, OP_FNMADD };

#define CANON_S 0x7fc00000u
#define CANON_D 0x7ff8000000000000ull
#define BOX_S   0xffffffff00000000ull

/* ---- bit views ---- */

static inline float f32_of(uint32_t u) { float v; memcpy(&v, &u, 4); return v; }
static inline double f64_of(uint64_t u) { double v; memcpy(&v, &u, 8); return v; }
static inline uint32_t bits_s(float v) { uint32_t u; memcpy(&u, &v, 4); return u; }
static inline uint64_t bits_d(double v) { uint64_t u; memcpy(&u, &v, 8); return u; }

/* ISA spec 12.2: a single operand that is not NaN-boxed reads as the canonical NaN. */
static inline uint32_t unbox_s(uint64_t r)
{
    return (r >> 32) == 0xffffffffu ? (uint32_t)r : CANON_S;
}

static inline bool is_nan_s(uint32_t u) { return (u & 0x7fffffffu) > 0x7f800000u; }
static inline bool is_snan_s(uint32_t u) { return is_nan_s(u) && !(u & 0x00400000u); }
static inline bool is_nan_d(uint64_t u) { return (u & ~(1ull << 63)) > 0x7ff0000000000000ull; }
static inline bool is_snan_d(uint64_t u) { return is_nan_d(u) && !(u & (1ull << 51)); }

/* ---- the host FPU: rounding mode in, IEEE flags out ---- */

#if defined(__x86_64__) && defined(__SSE2__)
/* Scalar float/double arithmetic runs on SSE, so MXCSR alone carries the rounding mode
 * and the flags; touching it directly avoids fenv's x87 round trips on every op. */
static const unsigned mxcsr_rc[4] = { 0, 3, 1, 2 };   /* RNE RTZ RDN RUP */

static inline unsigned host_begin(unsigned mode)
{
    unsigned old = __builtin_ia32_stmxcsr();
    __builtin_ia32_ldmxcsr(0x1f80u | mxcsr_rc[mode] << 13);   /* all masked, no FTZ/DAZ */
    return old;
}

/* Restores the host's control bits (rounding, masks) but not its sticky flags, which
 * nothing in the host reads: skipping the second LDMXCSR in the common RNE case is
 * most of the cost of an instruction. */
static inline unsigned host_end(unsigned old)
{
    unsigned s = __builtin_ia32_stmxcsr();
    if ((s ^ old) & ~0x3fu)
        __builtin_ia32_ldmxcsr(old);
    return (s & 0x01 ? FFLAG_NV : 0) | (s & 0x04 ? FFLAG_DZ : 0) | (s & 0x08 ? FFLAG_OF : 0) |
           (s & 0x10 ? FFLAG_UF : 0) | (s & 0x20 ? FFLAG_NX : 0);
}
#else
static const int fenv_rc[4] = { FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD, FE_UPWARD };

static inline unsigned host_begin(unsigned mode)
{
    unsigned old = (unsigned)fegetround();
    fesetround(fenv_rc[mode]);
    feclearexcept(FE_ALL_EXCEPT);
    return old;
}

static unsigned host_flags(void)
{
    int e = fetestexcept(FE_ALL_EXCEPT);
    return (e & FE_INVALID ? FFLAG_NV : 0) | (e & FE_DIVBYZERO ? FFLAG_DZ : 0) |
           (e & FE_OVERFLOW ? FFLAG_OF : 0) | (e & FE_UNDERFLOW ? FFLAG_UF : 0) |
           (e & FE_INEXACT ? FFLAG_NX : 0);
}

static inline unsigned host_end(unsigned old)
{
    unsigned fl = host_flags();
    fesetround((int)old);
    return fl;
}
#endif

/* ---- arithmetic in the host's modes ---- */

/* Operands go through volatile so the compiler cannot fold or move the operation
 * out from between host_begin() and host_end(). */
static float op_s(unsigned op, float a, float b, float c)
{
    volatile float va = a, vb = b, vc = c, r;
    switch (op) {
    case OP_ADD:    r = va + vb; break;
    case OP_SUB:    r = va - vb; break;
    case OP_MUL:    r = va * vb; break;
    case OP_DIV:    r = va / vb; break;
    case OP_SQRT:   r = sqrtf(va); break;
    case OP_FMADD:  r = fmaf(va, vb, vc); break;
    case OP_FMSUB:  r = fmaf(va, vb, -vc); break;
    case OP_FNMSUB: r = fmaf(-va, vb, vc); break;
    default:        r = fmaf(-va, vb, -vc); break;
    }
    return r;
}

static double op_d(unsigned op, double a, double b, double c)
{
    volatile double va = a, vb = b, vc = c, r;
    switch (op) {
    case OP_ADD:    r = va + vb; break;
    case OP_SUB:    r = va - vb; break;
    case OP_MUL:    r = va * vb; break;
    case OP_DIV:    r = va / vb; break;
    case OP_SQRT:   r = sqrt(va); break;
    case OP_FMADD:  r = fma(va, vb, vc); break;
    case OP_FMSUB:  r = fma(va, vb, -vc); break;
    case OP_FNMSUB: r = fma(-va, vb, vc); break;
    default:        r = fma(-va, vb, -vc); break;
    }
    return r;
}

static long double op_ld(unsigned op, long double a, long double b, long double c)
{
    volatile long double va = a, vb = b, vc = c, r;
    switch (op) {
    case OP_ADD:    r = va + vb; break;
    case OP_SUB:    r = va - vb; break;
    case OP_MUL:    r = va * vb; break;
    case OP_DIV:    r = va / vb; break;
    case OP_SQRT:   r = sqrtl(va); break;
    case OP_FMADD:  r = fmal(va, vb, vc); break;
    case OP_FMSUB:  r = fmal(va, vb, -vc); break;
    case OP_FNMSUB: r = fmal(-va, vb, vc); break;
    default:        r = fmal(-va, vb, -vc); break;
    }
    return r;
}

/* ---- RMM: round to nearest, ties to max magnitude (ISA spec 11.2, table 11.1) ----
 * v is the exact result truncated (RTZ) to long double; `inexact` says it lost bits.
 * Because ties go away from zero, |exact| >= midpoint exactly when |v| >= midpoint
 * (the midpoint is representable in long double), so truncation loses nothing we need.
 * Tininess is after rounding: tiny when the result rounded to the target precision
 * with unbounded exponent is below the smallest normal, i.e. |exact| < min - ulp/4. */
static double rmm_round_d(long double v, bool inexact, unsigned *fl)
{
    if (isnan(v) || isinf(v) || v == 0)
        return (double)v;
    long double av = fabsl(v);
    volatile double t = (double)av;                   /* host is in RTZ here */
    double up = nextafter(t, INFINITY);
    long double mid = isinf(up) ? (long double)t + ((long double)t - nextafter(t, 0)) / 2
                                : ((long double)t + up) / 2;
    double r = av >= mid ? up : t;
    if (inexact || av != t) {
        *fl |= FFLAG_NX;
        if (isinf(r))
            *fl |= FFLAG_OF;
        if (av < ldexpl(1, -1022) - ldexpl(1, -1076))
            *fl |= FFLAG_UF;
    }
    return signbit(v) ? -r : r;
}

static float rmm_round_s(long double v, bool inexact, unsigned *fl)
{
    if (isnan(v) || isinf(v) || v == 0)
        return (float)v;
    long double av = fabsl(v);
    volatile float t = (float)av;
    float up = nextafterf(t, INFINITY);
    long double mid = isinf(up) ? (long double)t + ((long double)t - nextafterf(t, 0)) / 2
                                : ((long double)t + up) / 2;
    float r = av >= mid ? up : t;
    if (inexact || av != t) {
        *fl |= FFLAG_NX;
        if (isinf(r))
            *fl |= FFLAG_OF;
        if (av < ldexpl(1, -126) - ldexpl(1, -151))
            *fl |= FFLAG_UF;
    }
    return signbit(v) ? -r : r;
}

/* Runs op in long double with the host in RTZ (the caller sets it, and keeps it for
 * rmm_round_*); returns the truncated value, adds NV/DZ to *fl and says in *inexact
 * whether the truncation lost bits. Used only for RMM, which is rare. */
static long double rmm_op(unsigned op, long double a, long double b, long double c,
                          unsigned *fl, bool *inexact)
{
    feclearexcept(FE_ALL_EXCEPT);
    long double r = op_ld(op, a, b, c);
    int e = fetestexcept(FE_ALL_EXCEPT);
    *fl |= (e & FE_INVALID ? FFLAG_NV : 0) | (e & FE_DIVBYZERO ? FFLAG_DZ : 0);
    *inexact = (e & FE_INEXACT) != 0;
    return r;
}

/* ISA spec 11.6: FMA of inf*0 is invalid even when the addend is a quiet NaN. */
static inline bool inf_times_zero(double a, double b)
{
    return (isinf(a) && b == 0) || (a == 0 && isinf(b));
}

static uint32_t arith_s(unsigned op, unsigned mode, uint32_t a, uint32_t b, uint32_t c,
                        unsigned *fl)
{
    float fa = f32_of(a), fb = f32_of(b), fc = f32_of(c), r;
    if (mode == RM_RMM) {
        bool inexact;
        int old = fegetround();
        fesetround(FE_TOWARDZERO);
        long double v = rmm_op(op, fa, fb, fc, fl, &inexact);
        r = rmm_round_s(v, inexact, fl);
        /* the widening to long double may run before rmm_op clears the flags */
        if (is_snan_s(a) || is_snan_s(b) || is_snan_s(c))
            *fl |= FFLAG_NV;
        fesetround(old);
    } else {
        unsigned old = host_begin(mode);
        r = op_s(op, fa, fb, fc);
        *fl |= host_end(old);
    }
    if (op >= OP_FMADD && inf_times_zero(fa, fb))
        *fl |= FFLAG_NV;
    return isnan(r) ? CANON_S : bits_s(r);
}

static uint64_t arith_d(unsigned op, unsigned mode, uint64_t a, uint64_t b, uint64_t c,
                        unsigned *fl)
{
    double fa = f64_of(a), fb = f64_of(b), fc = f64_of(c), r;
    if (mode == RM_RMM) {
        bool inexact;
        int old = fegetround();
        fesetround(FE_TOWARDZERO);
        long double v = rmm_op(op, fa, fb, fc, fl, &inexact);
        r = rmm_round_d(v, inexact, fl);
        /* the widening to long double may run before rmm_op clears the flags */
        if (is_snan_d(a) || is_snan_d(b) || is_snan_d(c))
            *fl |= FFLAG_NV;
        fesetround(old);
    } else {
        unsigned old = host_begin(mode);
        r = op_d(op, fa, fb, fc);
        *fl |= host_end(old);
    }
    if (op >= OP_FMADD && inf_times_zero(fa, fb))
        *fl |= FFLAG_NV;
    return isnan(r) ? CANON_D : bits_d(r);
}

/* ---- min/max, compares, classify (bit logic; the host's flags are not consulted) ---- */

/* ISA spec 11.6 (F v2.2): -0 < +0; one NaN yields the other operand; two give the
 * canonical NaN; a signaling NaN input raises NV. */
static uint64_t minmax(bool dbl, bool max, uint64_t a, uint64_t b, unsigned *fl)
{
    bool na = dbl ? is_nan_d(a) : is_nan_s((uint32_t)a);
    bool nb = dbl ? is_nan_d(b) : is_nan_s((uint32_t)b);
    if ((dbl && (is_snan_d(a) || is_snan_d(b))) ||
        (!dbl && (is_snan_s((uint32_t)a) || is_snan_s((uint32_t)b))))
        *fl |= FFLAG_NV;
    if (na && nb)
        return dbl ? CANON_D : CANON_S;
    if (na)
        return b;
    if (nb)
        return a;
    double x = dbl ? f64_of(a) : f32_of((uint32_t)a);
    double y = dbl ? f64_of(b) : f32_of((uint32_t)b);
    if (x == y)   /* equal, or +0 and -0: the sign bit decides */
        return (signbit(x) != 0) == max ? b : a;
    return (x < y) == max ? b : a;
}

/* funct3: 2 FEQ, 1 FLT, 0 FLE. FEQ is quiet (NV only for sNaN); FLT/FLE signal on any NaN. */
static uint64_t compare(bool dbl, unsigned f3, uint64_t a, uint64_t b, unsigned *fl)
{
    bool na = dbl ? is_nan_d(a) : is_nan_s((uint32_t)a);
    bool nb = dbl ? is_nan_d(b) : is_nan_s((uint32_t)b);
    if (na || nb) {
        bool sig = dbl ? is_snan_d(a) || is_snan_d(b)
                       : is_snan_s((uint32_t)a) || is_snan_s((uint32_t)b);
        if (f3 != 2 || sig)
            *fl |= FFLAG_NV;
        return 0;
    }
    double x = dbl ? f64_of(a) : f32_of((uint32_t)a);
    double y = dbl ? f64_of(b) : f32_of((uint32_t)b);
    return f3 == 2 ? x == y : f3 == 1 ? x < y : x <= y;
}

/* ISA spec 11.9, table 11.5: one bit set out of ten. */
static uint64_t classify(bool dbl, uint64_t u)
{
    bool neg = dbl ? u >> 63 : (u >> 31) & 1;
    uint64_t exp = dbl ? (u >> 52) & 0x7ff : (u >> 23) & 0xff;
    uint64_t man = dbl ? u & ((1ull << 52) - 1) : u & ((1u << 23) - 1);
    uint64_t emax = dbl ? 0x7ff : 0xff;
    uint64_t quiet = dbl ? 1ull << 51 : 1u << 22;
    if (exp == emax) {
        if (man == 0)
            return neg ? 1u << 0 : 1u << 7;
        return man & quiet ? 1u << 9 : 1u << 8;
    }
    if (exp == 0)
        return man == 0 ? (neg ? 1u << 3 : 1u << 4) : (neg ? 1u << 2 : 1u << 5);
    return neg ? 1u << 1 : 1u << 6;
}

/* ---- conversions ---- */

/* FCVT.{W,WU,L,LU}.{S,D}: kind is rs2. ISA spec 11.7, table 11.4: the value is rounded
 * first; a rounded value out of range, or NaN, saturates and raises NV (not NX). */
static uint64_t cvt_to_int(double a, unsigned mode, unsigned kind, unsigned *fl)
{
    static const double lo[4] = { -2147483648.0, 0.0, -9223372036854775808.0, 0.0 };
    static const double hi[4] = { 2147483648.0, 4294967296.0, 9223372036854775808.0,
                                  18446744073709551616.0 };   /* exclusive */
    static const uint64_t min[4] = { 0xffffffff80000000ull, 0, 1ull << 63, 0 };
    static const uint64_t max[4] = { 0x7fffffffull, ~0ull, ~0ull >> 1, ~0ull };
    if (isnan(a)) {
        *fl |= FFLAG_NV;
        return max[kind];
    }
    double r;
    switch (mode) {
    case RM_RNE: r = roundeven(a); break;
    case RM_RTZ: r = trunc(a); break;
    case RM_RDN: r = floor(a); break;
    case RM_RUP: r = ceil(a); break;
    default:     r = round(a); break;
    }
    if (r < lo[kind]) {
        *fl |= FFLAG_NV;
        return min[kind];
    }
    if (r >= hi[kind]) {
        *fl |= FFLAG_NV;
        return max[kind];
    }
    if (r != a)
        *fl |= FFLAG_NX;
    switch (kind) {
    case 0:  return (uint64_t)(int64_t)(int32_t)r;
    case 1:  return (uint64_t)(int64_t)(int32_t)(uint32_t)r;   /* RV64: sign-extend */
    case 2:  return (uint64_t)(int64_t)r;
    default: return (uint64_t)r;
    }
}

/* Integer to float conversion at the host; v carries the integer in both signednesses. */
static uint64_t cvt_from_int(bool dbl, unsigned mode, unsigned kind, uint64_t v, unsigned *fl)
{
    if (mode == RM_RMM) {
        long double exact;   /* every 64-bit integer fits a long double exactly */
        switch (kind) {
        case 0:  exact = (int32_t)v; break;
        case 1:  exact = (uint32_t)v; break;
        case 2:  exact = (int64_t)v; break;
        default: exact = v; break;
        }
        int old = fegetround();
        fesetround(FE_TOWARDZERO);
        uint64_t r = dbl ? bits_d(rmm_round_d(exact, false, fl))
                         : bits_s(rmm_round_s(exact, false, fl));
        fesetround(old);
        return r;
    }
    unsigned old = host_begin(mode);
    volatile uint64_t vv = v;
    volatile double rd = 0;
    volatile float rs = 0;
    switch (kind * 2 + dbl) {
    case 0: rs = (float)(int32_t)vv; break;
    case 1: rd = (double)(int32_t)vv; break;
    case 2: rs = (float)(uint32_t)vv; break;
    case 3: rd = (double)(uint32_t)vv; break;
    case 4: rs = (float)(int64_t)vv; break;
    case 5: rd = (double)(int64_t)vv; break;
    case 6: rs = (float)vv; break;
    default: rd = (double)vv; break;
    }
    *fl |= host_end(old);
    return dbl ? bits_d(rd) : bits_s(rs);
}

static uint32_t cvt_s_d(unsigned mode, uint64_t a, unsigned *fl)
{
    float r;
    if (mode == RM_RMM) {
        int old = fegetround();
        fesetround(FE_TOWARDZERO);
        if (is_snan_d(a))
            *fl |= FFLAG_NV;
        r = rmm_round_s(f64_of(a), false, fl);
        fesetround(old);
    } else {
        unsigned old = host_begin(mode);
        volatile double va = f64_of(a);
        volatile float vr = (float)va;
        *fl |= host_end(old);
        r = vr;
    }
    return isnan(r) ? CANON_S : bits_s(r);
}

static uint64_t cvt_d_s(uint32_t a, unsigned *fl)
{
    if (is_nan_s(a)) {
        if (is_snan_s(a))
            *fl |= FFLAG_NV;
        return CANON_D;
    }
    return bits_d((double)f32_of(a));   /* exact */
}

/* ---- decode and dispatch ---- */

/* ISA spec 11.2: rm 5 and 6 are reserved; rm 7 takes frm, whose values 5..7 are too. */
static inline int resolve_rm(unsigned rm, uint32_t fcsr)
{
    if (rm == 7)
        rm = (fcsr >> 5) & 7;
    return rm <= RM_RMM ? (int)rm : -1;
}

static inline void set_x(uint64_t x[32], unsigned rd, uint64_t v)
{
    if (rd)
        x[rd] = v;
}

/* FMADD/FMSUB/FNMSUB/FNMADD (R4-type): fmt in bits 26:25, rs3 in 31:27. */
static int exec_fma(uint32_t insn, uint64_t f[32], uint32_t *fcsr)
{
    unsigned rd = (insn >> 7) & 31, rs1 = (insn >> 15) & 31, rs2 = (insn >> 20) & 31;
    unsigned rs3 = insn >> 27, fmt = (insn >> 25) & 3;
    unsigned op = OP_FMADD + (((insn & 0x7f) - 0x43) >> 2);
    int mode = resolve_rm((insn >> 12) & 7, *fcsr);
    if (mode < 0 || fmt > 1)
        return -1;
    unsigned fl = 0;
    if (fmt == 0)
        f[rd] = BOX_S | arith_s(op, (unsigned)mode, unbox_s(f[rs1]), unbox_s(f[rs2]),
                                unbox_s(f[rs3]), &fl);
    else
        f[rd] = arith_d(op, (unsigned)mode, f[rs1], f[rs2], f[rs3], &fl);
    *fcsr |= fl;
    return 0;
}

/* Hot path: one switch on funct7 (its low two bits are fmt, S=0, D=1). */
int fpu_execute(uint32_t insn, uint64_t x[32], uint64_t f[32], uint32_t *fcsr)
{
    unsigned opc = insn & 0x7f;
    if (opc == 0x43 || opc == 0x47 || opc == 0x4b || opc == 0x4f)
        return exec_fma(insn, f, fcsr);
    if (opc != 0x53)
        return -1;

    unsigned rd = (insn >> 7) & 31, f3 = (insn >> 12) & 7;
    unsigned rs1 = (insn >> 15) & 31, rs2 = (insn >> 20) & 31, funct7 = insn >> 25;
    bool dbl = funct7 & 1;
    uint64_t a = dbl ? f[rs1] : unbox_s(f[rs1]);
    uint64_t b = dbl ? f[rs2] : unbox_s(f[rs2]);
    int mode = resolve_rm(f3, *fcsr);   /* only meaningful where f3 is an rm field */
    unsigned fl = 0;
    uint64_t r;

    switch (funct7) {
    case 0x00: case 0x01: case 0x04: case 0x05:   /* FADD FSUB */
    case 0x08: case 0x09: case 0x0c: case 0x0d:   /* FMUL FDIV */
    case 0x2c: case 0x2d:                         /* FSQRT */
        if (mode < 0 || ((funct7 >> 2) == 0x0b && rs2 != 0))
            return -1;
        {
            static const unsigned ops[12] = { OP_ADD, OP_SUB, OP_MUL, OP_DIV, 0, 0, 0, 0,
                                              0, 0, 0, OP_SQRT };
            unsigned op = ops[funct7 >> 2];
            if (op == OP_SQRT)
                b = 0;   /* rs2 is not an operand */
            r = dbl ? arith_d(op, (unsigned)mode, a, b, 0, &fl)
                    : BOX_S | arith_s(op, (unsigned)mode, (uint32_t)a, (uint32_t)b, 0, &fl);
        }
        f[rd] = r;
        break;
    case 0x10: case 0x11: {                       /* FSGNJ FSGNJN FSGNJX */
        uint64_t sign = dbl ? 1ull << 63 : 1u << 31;
        if (f3 > 2)
            return -1;
        uint64_t s = f3 == 0 ? b & sign : f3 == 1 ? ~b & sign : (a ^ b) & sign;
        r = (a & ~sign) | s;
        f[rd] = dbl ? r : BOX_S | r;
        break;
    }
    case 0x14: case 0x15:                         /* FMIN FMAX */
        if (f3 > 1)
            return -1;
        r = minmax(dbl, f3 == 1, a, b, &fl);
        f[rd] = dbl ? r : BOX_S | r;
        break;
    case 0x20:                                    /* FCVT.S.D */
        if (mode < 0 || rs2 != 1)
            return -1;
        f[rd] = BOX_S | cvt_s_d((unsigned)mode, f[rs1], &fl);
        break;
    case 0x21:                                    /* FCVT.D.S */
        if (mode < 0 || rs2 != 0)
            return -1;
        f[rd] = cvt_d_s(unbox_s(f[rs1]), &fl);
        break;
    case 0x50: case 0x51:                         /* FLE FLT FEQ */
        if (f3 > 2)
            return -1;
        set_x(x, rd, compare(dbl, f3, a, b, &fl));
        break;
    case 0x60: case 0x61:                         /* FCVT.{W,WU,L,LU}.{S,D} */
        if (mode < 0 || rs2 > 3)
            return -1;
        set_x(x, rd, cvt_to_int(dbl ? f64_of(a) : f32_of((uint32_t)a), (unsigned)mode,
                                rs2, &fl));
        break;
    case 0x68: case 0x69:                         /* FCVT.{S,D}.{W,WU,L,LU} */
        if (mode < 0 || rs2 > 3)
            return -1;
        r = cvt_from_int(dbl, (unsigned)mode, rs2, x[rs1], &fl);
        f[rd] = dbl ? r : BOX_S | r;
        break;
    case 0x70: case 0x71:                         /* FMV.X.{W,D}, FCLASS */
        if (rs2 != 0 || f3 > 1)
            return -1;
        if (f3 == 1)
            set_x(x, rd, classify(dbl, a));
        else   /* FMV.X.W moves raw bits (no NaN-box check) and sign-extends */
            set_x(x, rd, dbl ? f[rs1] : (uint64_t)(int64_t)(int32_t)f[rs1]);
        break;
    case 0x78: case 0x79:                         /* FMV.{W,D}.X */
        if (rs2 != 0 || f3 != 0)
            return -1;
        f[rd] = dbl ? x[rs1] : BOX_S | (uint32_t)x[rs1];
        break;
    default:
        return -1;
    }
    *fcsr |= fl;
    return 0;
}
