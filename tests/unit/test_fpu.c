/* Unit tests of the F and D computational instructions: rounding modes (RMM ties too),
 * every flag, canonical NaNs, NaN-boxing, min/max and compare NaN rules, classify,
 * saturating conversions, moves, FMA, and the illegal encodings. Values are bit patterns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cpu/fpu.h"

enum { RNE, RTZ, RDN, RUP, RMM, DYN = 7 };
#define NV FFLAG_NV
#define DZ FFLAG_DZ
#define OF FFLAG_OF
#define UF FFLAG_UF
#define NX FFLAG_NX

/* OP-FP funct7 values with fmt in the low two bits */
enum {
    FADD = 0x00, FSUB = 0x04, FMUL = 0x08, FDIV = 0x0c, FSQRT = 0x2c, FSGNJ = 0x10,
    FMINMAX = 0x14, FCVT_S_D = 0x20, FCVT_D_S = 0x21, FCMP = 0x50, FCVT_INT_F = 0x60,
    FCVT_F_INT = 0x68, FMV_X_CLASS = 0x70, FMV_F_X = 0x78
};
enum { S = 0, D = 1 };
enum { W = 0, WU = 1, L = 2, LU = 3 };
enum { FMADD = 0x43, FMSUB = 0x47, FNMSUB = 0x4b, FNMADD = 0x4f };

#define BOX 0xffffffff00000000ull
#define CANON_S (BOX | 0x7fc00000u)
#define CANON_D 0x7ff8000000000000ull
#define SNAN_S (BOX | 0x7fa00000u)
#define QNAN_S (BOX | 0x7fc00123u)
#define SNAN_D 0x7ff4000000000000ull
#define QNAN_D 0x7ff8000000000123ull

/* Register use in every test: operands in f1, f2, f3 (or x1), FP result in f4,
 * integer result in x5. */
static uint64_t x[32], f[32];
static uint32_t fcsr;

static uint32_t enc(unsigned f7, unsigned rs2, unsigned rm, unsigned rd)
{
    return f7 << 25 | rs2 << 20 | 1u << 15 | rm << 12 | rd << 7 | 0x53;
}

static uint32_t enc4(unsigned opc, unsigned fmt, unsigned rm)
{
    return 3u << 27 | fmt << 25 | 2u << 20 | 1u << 15 | rm << 12 | 4u << 7 | opc;
}

static uint64_t fs(float v) { uint32_t u; memcpy(&u, &v, 4); return BOX | u; }
static uint64_t fd(double v) { uint64_t u; memcpy(&u, &v, 8); return u; }

static void clear(void)
{
    memset(x, 0, sizeof(x));
    memset(f, 0, sizeof(f));
    fcsr = 0;
}

/* Runs insn with f1..f3 = a, b, c and x1 = xi, fcsr starting at fcsr_in.
 * Returns the fflags it left; the results are in f[4] and x[5]. */
static uint32_t run(uint32_t insn, uint64_t a, uint64_t b, uint64_t c, uint64_t xi,
                    uint32_t fcsr_in)
{
    clear();
    f[1] = a, f[2] = b, f[3] = c, x[1] = xi;
    fcsr = fcsr_in;
    assert_int_equal(fpu_execute(insn, x, f, &fcsr), 0);
    assert_int_equal(fcsr >> 5, fcsr_in >> 5);   /* frm is never written */
    return fcsr & 0x1f;
}

/* two-operand op with result in f4 */
static uint64_t op2(unsigned f7, unsigned rm, uint64_t a, uint64_t b, uint32_t *fl)
{
    *fl = run(enc(f7, 2, rm, 4), a, b, 0, 0, 0);
    return f[4];
}

#define ASSERT_OP2(f7, rm, a, b, want, want_fl) do { uint32_t fl_; \
        assert_int_equal(op2(f7, rm, a, b, &fl_), (want));  \
        assert_int_equal(fl_, (want_fl)); } while (0)

/* ---- rounding modes ---- */

static void test_fadd_s_tie_rounds_per_mode(void **st)
{
    (void)st;
    /* 1 + 2^-24 is exactly half an ulp above 1.0f */
    uint64_t one = fs(1.0f), half_ulp = fs(0x1p-24f), up = fs(1.0f + 0x1p-23f);
    ASSERT_OP2(FADD | S, RNE, one, half_ulp, one, NX);
    ASSERT_OP2(FADD | S, RTZ, one, half_ulp, one, NX);
    ASSERT_OP2(FADD | S, RDN, one, half_ulp, one, NX);
    ASSERT_OP2(FADD | S, RUP, one, half_ulp, up, NX);
    ASSERT_OP2(FADD | S, RMM, one, half_ulp, up, NX);
    /* negative: down is away from zero */
    ASSERT_OP2(FADD | S, RDN, fs(-1.0f), fs(-0x1p-24f), fs(-1.0f - 0x1p-23f), NX);
    ASSERT_OP2(FADD | S, RUP, fs(-1.0f), fs(-0x1p-24f), fs(-1.0f), NX);
    ASSERT_OP2(FADD | S, RMM, fs(-1.0f), fs(-0x1p-24f), fs(-1.0f - 0x1p-23f), NX);
    /* tie on an odd value: RNE goes up to even, as RMM does */
    ASSERT_OP2(FADD | S, RNE, up, half_ulp, fs(1.0f + 0x1p-22f), NX);
}

static void test_rmm_double_ties_go_away_and_non_ties_do_not(void **st)
{
    (void)st;
    ASSERT_OP2(FADD | D, RMM, fd(1.0), fd(0x1p-53), fd(1.0 + 0x1p-52), NX);
    ASSERT_OP2(FADD | D, RNE, fd(1.0), fd(0x1p-53), fd(1.0), NX);
    ASSERT_OP2(FSUB | D, RMM, fd(-1.0), fd(0x1p-53), fd(-1.0 - 0x1p-52), NX);
    /* just below the tie: 1 + 2^-53 - 2^-106 rounds to 1 even in RMM */
    uint32_t fl = run(enc4(FMADD, D, RMM), fd(1.0), fd(1.0), fd(0x1p-53 - 0x1p-106), 0, 0);
    assert_int_equal(f[4], fd(1.0));
    assert_int_equal(fl, NX);
    /* just above the tie in RNE */
    fl = run(enc4(FMADD, D, RNE), fd(1.0), fd(1.0), fd(0x1p-53 + 0x1p-105), 0, 0);
    assert_int_equal(f[4], fd(1.0 + 0x1p-52));
    assert_int_equal(fl, NX);
}

static void test_fsub_exact_zero_is_negative_only_in_rdn(void **st)
{
    (void)st;
    ASSERT_OP2(FSUB | D, RNE, fd(1.5), fd(1.5), fd(0.0), 0);
    ASSERT_OP2(FSUB | D, RDN, fd(1.5), fd(1.5), fd(-0.0), 0);
    ASSERT_OP2(FSUB | S, RDN, fs(2.0f), fs(2.0f), fs(-0.0f), 0);
    ASSERT_OP2(FSUB | S, RMM, fs(2.0f), fs(2.0f), fs(0.0f), 0);
}

static void test_fdiv_d_rounds_per_mode(void **st)
{
    (void)st;
    ASSERT_OP2(FDIV | D, RNE, fd(1.0), fd(3.0), 0x3fd5555555555555ull, NX);
    ASSERT_OP2(FDIV | D, RTZ, fd(1.0), fd(3.0), 0x3fd5555555555555ull, NX);
    ASSERT_OP2(FDIV | D, RUP, fd(1.0), fd(3.0), 0x3fd5555555555556ull, NX);
    ASSERT_OP2(FDIV | D, RMM, fd(1.0), fd(3.0), 0x3fd5555555555555ull, NX);
    ASSERT_OP2(FDIV | D, RDN, fd(-1.0), fd(3.0), 0xbfd5555555555556ull, NX);
    ASSERT_OP2(FDIV | S, RUP, fs(2.0f), fs(3.0f), BOX | 0x3f2aaaabu, NX);
    ASSERT_OP2(FDIV | S, RTZ, fs(2.0f), fs(3.0f), BOX | 0x3f2aaaaau, NX);
    ASSERT_OP2(FDIV | S, RMM, fs(2.0f), fs(3.0f), BOX | 0x3f2aaaabu, NX);
    ASSERT_OP2(FDIV | S, RNE, fs(6.0f), fs(3.0f), fs(2.0f), 0);
}

static void test_fmul_rounds_per_mode(void **st)
{
    (void)st;
    uint64_t a = fs(1.0f + 0x1p-23f);   /* a*a = 1 + 2^-22 + 2^-46 */
    ASSERT_OP2(FMUL | S, RNE, a, a, fs(1.0f + 0x1p-22f), NX);
    ASSERT_OP2(FMUL | S, RUP, a, a, fs(1.0f + 0x1p-22f + 0x1p-23f), NX);
    ASSERT_OP2(FMUL | S, RMM, a, a, fs(1.0f + 0x1p-22f), NX);
    ASSERT_OP2(FMUL | D, RNE, fd(3.0), fd(-0.5), fd(-1.5), 0);
    ASSERT_OP2(FMUL | D, RDN, fd(1.0 + 0x1p-52), fd(1.0 + 0x1p-52), fd(1.0 + 0x1p-51), NX);
    ASSERT_OP2(FMUL | D, RUP, fd(1.0 + 0x1p-52), fd(1.0 + 0x1p-52), fd(1.0 + 0x1p-51 + 0x1p-52),
               NX);
}

static void test_fsqrt_rounds_per_mode_and_signals(void **st)
{
    (void)st;
    uint32_t fl;
    fl = run(enc(FSQRT | D, 0, RNE, 4), fd(2.0), 0, 0, 0, 0);
    assert_int_equal(f[4], 0x3ff6a09e667f3bcdull);   /* sqrt(2) rounds up here */
    assert_int_equal(fl, NX);
    fl = run(enc(FSQRT | D, 0, RTZ, 4), fd(2.0), 0, 0, 0, 0);
    assert_int_equal(f[4], 0x3ff6a09e667f3bccull);
    fl = run(enc(FSQRT | D, 0, RMM, 4), fd(2.0), 0, 0, 0, 0);
    assert_int_equal(f[4], 0x3ff6a09e667f3bcdull);
    assert_int_equal(fl, NX);
    fl = run(enc(FSQRT | S, 0, RNE, 4), fs(2.25f), 0, 0, 0, 0);
    assert_int_equal(f[4], fs(1.5f));
    assert_int_equal(fl, 0);
    fl = run(enc(FSQRT | S, 0, RNE, 4), fs(-0.0f), 0, 0, 0, 0);
    assert_int_equal(f[4], fs(-0.0f));
    assert_int_equal(fl, 0);
    fl = run(enc(FSQRT | S, 0, RNE, 4), fs(-1.0f), 0, 0, 0, 0);
    assert_int_equal(f[4], CANON_S);
    assert_int_equal(fl, NV);
    /* rs2 (always f0) is not an operand: a signaling NaN there raises nothing */
    for (unsigned rm = RNE; rm <= RMM; rm++) {
        clear();
        f[0] = SNAN_D, f[1] = fd(4.0);
        assert_int_equal(fpu_execute(enc(FSQRT | D, 0, rm, 4), x, f, &fcsr), 0);
        assert_int_equal(f[4], fd(2.0));
        assert_int_equal(fcsr, 0);
    }
}

static void test_dynamic_rm_takes_frm(void **st)
{
    (void)st;
    uint64_t one = fs(1.0f), half_ulp = fs(0x1p-24f);
    assert_int_equal(run(enc(FADD | S, 2, DYN, 4), one, half_ulp, 0, 0, RUP << 5), NX);
    assert_int_equal(f[4], fs(1.0f + 0x1p-23f));
    assert_int_equal(run(enc(FADD | S, 2, DYN, 4), one, half_ulp, 0, 0, RTZ << 5), NX);
    assert_int_equal(f[4], one);
    assert_int_equal(run(enc(FADD | D, 2, DYN, 4), fd(1.0), fd(0x1p-53), 0, 0, RMM << 5), NX);
    assert_int_equal(f[4], fd(1.0 + 0x1p-52));
    /* a static rm wins over frm */
    assert_int_equal(run(enc(FADD | S, 2, RNE, 4), one, half_ulp, 0, 0, RUP << 5), NX);
    assert_int_equal(f[4], one);
}

/* ---- illegal encodings ---- */

static void assert_illegal(uint32_t insn, uint32_t fcsr_in)
{
    clear();
    for (int i = 0; i < 32; i++)
        f[i] = fd(i + 0.5), x[i] = i ? 100u + i : 0;
    uint64_t f0[32], x0[32];
    memcpy(f0, f, sizeof(f));
    memcpy(x0, x, sizeof(x));
    fcsr = fcsr_in;
    assert_int_equal(fpu_execute(insn, x, f, &fcsr), -1);
    assert_memory_equal(f, f0, sizeof(f));
    assert_memory_equal(x, x0, sizeof(x));
    assert_int_equal(fcsr, fcsr_in);
}

static void test_reserved_rm_is_illegal_and_changes_nothing(void **st)
{
    (void)st;
    static const unsigned f7s[] = { FADD | S, FSUB | D, FMUL | S, FDIV | D };
    for (unsigned i = 0; i < 4; i++) {
        assert_illegal(enc(f7s[i], 2, 5, 4), 0);
        assert_illegal(enc(f7s[i], 2, 6, 4), 0);
        for (unsigned frm = 5; frm <= 7; frm++)
            assert_illegal(enc(f7s[i], 2, DYN, 4), frm << 5 | NX);
    }
    assert_illegal(enc(FSQRT | D, 0, 5, 4), 0);
    assert_illegal(enc4(FMADD, S, 6), 0);
    assert_illegal(enc4(FNMADD, D, DYN), 6u << 5);
    assert_illegal(enc(FCVT_INT_F | D, W, 5, 5), 0);
    assert_illegal(enc(FCVT_F_INT | S, L, DYN, 4), 7u << 5);
    assert_illegal(enc(FCVT_S_D, 1, 6, 4), 0);
    assert_illegal(enc(FCVT_D_S, 0, DYN, 4), 5u << 5);
}

static void test_unknown_encodings_are_illegal(void **st)
{
    (void)st;
    assert_illegal(enc(FADD | 2, 2, RNE, 4), 0);          /* half precision: no Zfh */
    assert_illegal(enc(FADD | 3, 2, RNE, 4), 0);          /* quad: no Q */
    assert_illegal(enc4(FMADD, 2, RNE), 0);
    assert_illegal(enc(FSQRT | S, 1, RNE, 4), 0);         /* rs2 must be 0 */
    assert_illegal(enc(FSGNJ | S, 2, 3, 4), 0);
    assert_illegal(enc(FMINMAX | D, 2, 2, 4), 0);
    assert_illegal(enc(FCMP | S, 2, 3, 5), 0);
    assert_illegal(enc(FCVT_INT_F | S, 4, RNE, 5), 0);
    assert_illegal(enc(FCVT_F_INT | D, 5, RNE, 4), 0);
    assert_illegal(enc(FCVT_S_D, 0, RNE, 4), 0);
    assert_illegal(enc(FCVT_D_S, 1, RNE, 4), 0);
    assert_illegal(enc(FMV_X_CLASS | S, 0, 2, 5), 0);
    assert_illegal(enc(FMV_X_CLASS | D, 1, 0, 5), 0);
    assert_illegal(enc(FMV_F_X | S, 0, 1, 4), 0);
    assert_illegal(enc(0x7c, 2, RNE, 4), 0);
    assert_illegal(0x00000013u, 0);                       /* addi: not an FP opcode */
}

/* ---- flags ---- */

static void test_flags_accumulate_and_are_never_cleared(void **st)
{
    (void)st;
    clear();
    f[1] = fd(1.0), f[2] = fd(3.0), f[6] = fd(0.0);
    fcsr = RUP << 5 | UF;
    assert_int_equal(fpu_execute(enc(FDIV | D, 2, DYN, 4), x, f, &fcsr), 0);
    assert_int_equal(fcsr, RUP << 5 | UF | NX);
    assert_int_equal(fpu_execute(enc(FDIV | D, 6, DYN, 4), x, f, &fcsr), 0);   /* 1/0 */
    assert_int_equal(fcsr, RUP << 5 | UF | NX | DZ);
    assert_int_equal(f[4], fd(__builtin_inf()));
    assert_int_equal(fpu_execute(enc(FADD | D, 1, RNE, 4), x, f, &fcsr), 0);    /* exact */
    assert_int_equal(fcsr, RUP << 5 | UF | NX | DZ);
}

static void test_divide_by_zero_sets_dz_and_zero_by_zero_nv(void **st)
{
    (void)st;
    ASSERT_OP2(FDIV | S, RNE, fs(-2.0f), fs(0.0f), fs(-__builtin_inff()), DZ);
    ASSERT_OP2(FDIV | D, RMM, fd(2.0), fd(-0.0), fd(-__builtin_inf()), DZ);
    ASSERT_OP2(FDIV | D, RNE, fd(0.0), fd(0.0), CANON_D, NV);
    ASSERT_OP2(FDIV | S, RMM, fs(0.0f), fs(0.0f), CANON_S, NV);
    ASSERT_OP2(FDIV | D, RNE, fd(__builtin_inf()), fd(0.0), fd(__builtin_inf()), 0);
}

static void test_overflow_result_depends_on_mode(void **st)
{
    (void)st;
    uint64_t fmax = BOX | 0x7f7fffffu, dmax = 0x7fefffffffffffffull;
    ASSERT_OP2(FMUL | S, RNE, fmax, fs(2.0f), fs(__builtin_inff()), OF | NX);
    ASSERT_OP2(FMUL | S, RTZ, fmax, fs(2.0f), fmax, OF | NX);
    ASSERT_OP2(FMUL | S, RDN, fmax, fs(2.0f), fmax, OF | NX);
    ASSERT_OP2(FMUL | S, RMM, fmax, fs(2.0f), fs(__builtin_inff()), OF | NX);
    ASSERT_OP2(FADD | D, RUP, dmax, dmax, fd(__builtin_inf()), OF | NX);
    ASSERT_OP2(FADD | D, RUP, dmax | 1ull << 63, dmax | 1ull << 63, dmax | 1ull << 63, OF | NX);
    ASSERT_OP2(FADD | D, RDN, dmax | 1ull << 63, dmax | 1ull << 63, fd(-__builtin_inf()), OF | NX);
    /* RMM at the top: half an ulp above the largest finite overflows, a quarter does not */
    ASSERT_OP2(FADD | S, RMM, fmax, fs(0x1p103f), fs(__builtin_inff()), OF | NX);
    ASSERT_OP2(FADD | S, RMM, fmax, fs(0x1p102f), fmax, NX);
    ASSERT_OP2(FADD | D, RMM, dmax, fd(0x1p970), fd(__builtin_inf()), OF | NX);
    ASSERT_OP2(FADD | D, RMM, dmax, fd(0x1p969), dmax, NX);
}

static void test_underflow_is_detected_after_rounding(void **st)
{
    (void)st;
    /* (1 + 2^-23) * (2^-126 - 2^-149) = 2^-126 (1 - 2^-46): tiny before rounding, but it
     * rounds to the smallest normal, so RISC-V (tininess after rounding) sets only NX */
    uint64_t a = fs(1.0f + 0x1p-23f), b = BOX | 0x007fffffu, minnorm = BOX | 0x00800000u;
    ASSERT_OP2(FMUL | S, RNE, a, b, minnorm, NX);
    ASSERT_OP2(FMUL | S, RMM, a, b, minnorm, NX);
    ASSERT_OP2(FMUL | S, RUP, a, b, minnorm, NX);
    ASSERT_OP2(FMUL | S, RTZ, a, b, BOX | 0x007fffffu, UF | NX);
    uint64_t da = fd(1.0 + 0x1p-52), db = 0x000fffffffffffffull;
    ASSERT_OP2(FMUL | D, RNE, da, db, 0x0010000000000000ull, NX);
    ASSERT_OP2(FMUL | D, RMM, da, db, 0x0010000000000000ull, NX);
    ASSERT_OP2(FMUL | D, RDN, da, db, 0x000fffffffffffffull, UF | NX);
    /* an exact subnormal result is not an underflow */
    ASSERT_OP2(FMUL | S, RNE, BOX | 2u, fs(0.5f), BOX | 1u, 0);
    ASSERT_OP2(FMUL | D, RMM, 2u, fd(0.5), 1u, 0);
}

static void test_subnormal_ties_in_rne_and_rmm(void **st)
{
    (void)st;
    /* 2^-150 is half the smallest subnormal: RNE gives 0, RMM the smallest subnormal */
    ASSERT_OP2(FMUL | S, RNE, BOX | 1u, fs(0.5f), fs(0.0f), UF | NX);
    ASSERT_OP2(FMUL | S, RMM, BOX | 1u, fs(0.5f), BOX | 1u, UF | NX);
    ASSERT_OP2(FMUL | S, RMM, BOX | 0x80000001u, fs(0.5f), BOX | 0x80000001u, UF | NX);
    ASSERT_OP2(FMUL | D, RNE, 3u, fd(0.5), 2u, UF | NX);
    ASSERT_OP2(FMUL | D, RMM, 3u, fd(0.5), 2u, UF | NX);
    ASSERT_OP2(FMUL | D, RMM, 5u, fd(0.5), 3u, UF | NX);
    ASSERT_OP2(FMUL | D, RNE, 5u, fd(0.5), 2u, UF | NX);
}

/* ---- NaNs and NaN-boxing ---- */

static void test_nan_results_are_canonical(void **st)
{
    (void)st;
    ASSERT_OP2(FADD | S, RNE, SNAN_S, fs(1.0f), CANON_S, NV);
    ASSERT_OP2(FADD | S, RNE, QNAN_S, fs(1.0f), CANON_S, 0);
    ASSERT_OP2(FMUL | S, RMM, BOX | 0xffc00000u, fs(1.0f), CANON_S, 0);
    ASSERT_OP2(FSUB | D, RNE, fd(1.0), QNAN_D | 1ull << 63, CANON_D, 0);
    ASSERT_OP2(FSUB | D, RMM, SNAN_D, fd(1.0), CANON_D, NV);
    ASSERT_OP2(FSUB | D, RNE, fd(__builtin_inf()), fd(__builtin_inf()), CANON_D, NV);
    ASSERT_OP2(FMUL | S, RUP, fs(__builtin_inff()), fs(0.0f), CANON_S, NV);
    uint32_t fl = run(enc(FCVT_S_D, 1, RNE, 4), QNAN_D, 0, 0, 0, 0);
    assert_int_equal(f[4], CANON_S);
    assert_int_equal(fl, 0);
    fl = run(enc(FCVT_D_S, 0, RNE, 4), SNAN_S, 0, 0, 0, 0);
    assert_int_equal(f[4], CANON_D);
    assert_int_equal(fl, NV);
    fl = run(enc(FSQRT | D, 0, RNE, 4), QNAN_D, 0, 0, 0, 0);
    assert_int_equal(f[4], CANON_D);
    assert_int_equal(fl, 0);
}

static void test_unboxed_single_reads_as_canonical_nan(void **st)
{
    (void)st;
    uint64_t unboxed_one = 0x000000003f800000ull, half_boxed = 0xfffffffe3f800000ull;
    ASSERT_OP2(FADD | S, RNE, unboxed_one, fs(1.0f), CANON_S, 0);
    ASSERT_OP2(FADD | S, RNE, fs(1.0f), half_boxed, CANON_S, 0);
    ASSERT_OP2(FSGNJ | S, 1, unboxed_one, fs(1.0f), BOX | 0xffc00000u, 0);   /* fsgnjn */
    ASSERT_OP2(FMINMAX | S, 0, unboxed_one, fs(5.0f), fs(5.0f), 0);
    assert_int_equal(run(enc(FCMP | S, 2, 2, 5), unboxed_one, unboxed_one, 0, 0, 0), 0);
    assert_int_equal(x[5], 0);
    run(enc(FMV_X_CLASS | S, 0, 1, 5), unboxed_one, 0, 0, 0, 0);
    assert_int_equal(x[5], 1u << 9);   /* quiet NaN */
    uint32_t fl = run(enc(FCVT_D_S, 0, RNE, 4), unboxed_one, 0, 0, 0, 0);
    assert_int_equal(f[4], CANON_D);
    assert_int_equal(fl, 0);
    fl = run(enc(FCVT_INT_F | S, W, RNE, 5), unboxed_one, 0, 0, 0, 0);
    assert_int_equal(x[5], 0x7fffffff);
    assert_int_equal(fl, NV);
    fl = run(enc4(FMADD, S, RNE), fs(1.0f), fs(1.0f), unboxed_one, 0, 0);
    assert_int_equal(f[4], CANON_S);
    /* a double reads all 64 bits, boxed or not */
    ASSERT_OP2(FADD | D, RNE, fd(1.0), fd(2.0), fd(3.0), 0);
}

static void test_single_results_are_nan_boxed(void **st)
{
    (void)st;
    ASSERT_OP2(FADD | S, RNE, fs(1.0f), fs(2.0f), BOX | 0x40400000u, 0);
    ASSERT_OP2(FSGNJ | S, 2, fs(-1.0f), fs(-2.0f), BOX | 0x3f800000u, 0);
    ASSERT_OP2(FMINMAX | S, 1, fs(1.0f), fs(2.0f), BOX | 0x40000000u, 0);
    run(enc(FMV_F_X | S, 0, 0, 4), 0, 0, 0, 0x1234567887654321ull, 0);
    assert_int_equal(f[4], BOX | 0x87654321u);
    run(enc(FCVT_F_INT | S, W, RNE, 4), 0, 0, 0, 3, 0);
    assert_int_equal(f[4], BOX | 0x40400000u);
    run(enc(FCVT_S_D, 1, RNE, 4), fd(0.5), 0, 0, 0, 0);
    assert_int_equal(f[4], BOX | 0x3f000000u);
    run(enc4(FMSUB, S, RNE), fs(2.0f), fs(2.0f), fs(1.0f), 0, 0);
    assert_int_equal(f[4], BOX | 0x40400000u);
}

/* ---- min/max ---- */

static void test_fmin_fmax_order_signed_zeros(void **st)
{
    (void)st;
    ASSERT_OP2(FMINMAX | S, 0, fs(0.0f), fs(-0.0f), fs(-0.0f), 0);
    ASSERT_OP2(FMINMAX | S, 0, fs(-0.0f), fs(0.0f), fs(-0.0f), 0);
    ASSERT_OP2(FMINMAX | S, 1, fs(-0.0f), fs(0.0f), fs(0.0f), 0);
    ASSERT_OP2(FMINMAX | S, 1, fs(0.0f), fs(-0.0f), fs(0.0f), 0);
    ASSERT_OP2(FMINMAX | D, 0, fd(0.0), fd(-0.0), fd(-0.0), 0);
    ASSERT_OP2(FMINMAX | D, 1, fd(-0.0), fd(0.0), fd(0.0), 0);
    ASSERT_OP2(FMINMAX | D, 0, fd(-3.0), fd(2.0), fd(-3.0), 0);
    ASSERT_OP2(FMINMAX | D, 1, fd(-3.0), fd(2.0), fd(2.0), 0);
    ASSERT_OP2(FMINMAX | D, 1, fd(-__builtin_inf()), fd(-1e300), fd(-1e300), 0);
}

static void test_fmin_fmax_nan_operands(void **st)
{
    (void)st;
    ASSERT_OP2(FMINMAX | S, 0, QNAN_S, fs(2.0f), fs(2.0f), 0);
    ASSERT_OP2(FMINMAX | S, 1, fs(3.0f), SNAN_S, fs(3.0f), NV);
    ASSERT_OP2(FMINMAX | S, 0, QNAN_S, QNAN_S, CANON_S, 0);
    ASSERT_OP2(FMINMAX | S, 1, SNAN_S, QNAN_S, CANON_S, NV);
    ASSERT_OP2(FMINMAX | D, 1, QNAN_D, fd(-7.0), fd(-7.0), 0);
    ASSERT_OP2(FMINMAX | D, 0, fd(-7.0), SNAN_D, fd(-7.0), NV);
    ASSERT_OP2(FMINMAX | D, 0, SNAN_D, SNAN_D, CANON_D, NV);
}

/* ---- compares ---- */

static uint64_t cmp(unsigned fmt, unsigned f3, uint64_t a, uint64_t b, uint32_t *fl)
{
    *fl = run(enc(FCMP | fmt, 2, f3, 5), a, b, 0, 0, 0);
    return x[5];
}

#define ASSERT_CMP(fmt, f3, a, b, want, want_fl) do { uint32_t fl_; \
        assert_int_equal(cmp(fmt, f3, a, b, &fl_), (want));  \
        assert_int_equal(fl_, (want_fl)); } while (0)
enum { FLE = 0, FLT = 1, FEQ = 2 };

static void test_compares_order_values(void **st)
{
    (void)st;
    ASSERT_CMP(S, FLT, fs(1.0f), fs(2.0f), 1, 0);
    ASSERT_CMP(S, FLT, fs(2.0f), fs(1.0f), 0, 0);
    ASSERT_CMP(S, FLE, fs(2.0f), fs(2.0f), 1, 0);
    ASSERT_CMP(S, FEQ, fs(0.0f), fs(-0.0f), 1, 0);
    ASSERT_CMP(S, FLT, fs(-0.0f), fs(0.0f), 0, 0);
    ASSERT_CMP(D, FLE, fd(-1.0), fd(-2.0), 0, 0);
    ASSERT_CMP(D, FLT, fd(-__builtin_inf()), fd(-1e308), 1, 0);
    ASSERT_CMP(D, FEQ, fd(1.0), fd(1.0 + 0x1p-52), 0, 0);
}

static void test_feq_is_quiet_but_flt_fle_signal_on_any_nan(void **st)
{
    (void)st;
    ASSERT_CMP(S, FEQ, QNAN_S, fs(1.0f), 0, 0);
    ASSERT_CMP(S, FEQ, QNAN_S, QNAN_S, 0, 0);
    ASSERT_CMP(S, FEQ, fs(1.0f), SNAN_S, 0, NV);
    ASSERT_CMP(S, FLT, QNAN_S, fs(1.0f), 0, NV);
    ASSERT_CMP(S, FLE, fs(1.0f), QNAN_S, 0, NV);
    ASSERT_CMP(D, FEQ, QNAN_D, QNAN_D, 0, 0);
    ASSERT_CMP(D, FEQ, SNAN_D, fd(0.0), 0, NV);
    ASSERT_CMP(D, FLT, fd(0.0), QNAN_D, 0, NV);
    ASSERT_CMP(D, FLE, SNAN_D, fd(0.0), 0, NV);
}

static void test_compare_into_x0_is_discarded(void **st)
{
    (void)st;
    clear();
    f[1] = fd(1.0), f[2] = fd(1.0);
    assert_int_equal(fpu_execute(enc(FCMP | D, 2, FEQ, 0), x, f, &fcsr), 0);
    assert_int_equal(x[0], 0);
    assert_int_equal(fpu_execute(enc(FMV_X_CLASS | D, 0, 1, 0), x, f, &fcsr), 0);
    assert_int_equal(x[0], 0);
}

/* ---- classify, sign injection, moves ---- */

static void test_fclass_sets_one_of_ten_bits(void **st)
{
    (void)st;
    static const uint32_t s[10] = {
        0xff800000u, 0xbf800000u, 0x807fffffu, 0x80000000u, 0,
        0x00000001u, 0x7f7fffffu, 0x7f800000u, 0x7f800001u, 0x7fc00000u,
    };
    static const uint64_t d[10] = {
        0xfff0000000000000ull, 0x8010000000000000ull, 0x8000000000000001ull, 1ull << 63, 0,
        0x000fffffffffffffull, 0x3ff0000000000000ull, 0x7ff0000000000000ull,
        0x7ff0000000000001ull, 0xfff8000000000000ull,
    };
    for (unsigned i = 0; i < 10; i++) {
        assert_int_equal(run(enc(FMV_X_CLASS | S, 0, 1, 5), BOX | s[i], 0, 0, 0, 0), 0);
        assert_int_equal(x[5], 1u << i);
        assert_int_equal(run(enc(FMV_X_CLASS | D, 0, 1, 5), d[i], 0, 0, 0, 0), 0);
        assert_int_equal(x[5], 1u << i);
    }
}

static void test_sign_injection_moves_sign_bits_only(void **st)
{
    (void)st;
    ASSERT_OP2(FSGNJ | S, 0, fs(1.0f), fs(-2.0f), fs(-1.0f), 0);
    ASSERT_OP2(FSGNJ | S, 1, fs(1.0f), fs(-2.0f), fs(1.0f), 0);
    ASSERT_OP2(FSGNJ | S, 2, fs(-1.0f), fs(-2.0f), fs(1.0f), 0);
    ASSERT_OP2(FSGNJ | D, 0, fd(-3.0), fd(2.0), fd(3.0), 0);
    ASSERT_OP2(FSGNJ | D, 1, fd(3.0), fd(3.0), fd(-3.0), 0);
    ASSERT_OP2(FSGNJ | D, 2, fd(-3.0), fd(2.0), fd(-3.0), 0);
    /* not arithmetic: NaN payloads pass through and signaling NaNs raise nothing */
    ASSERT_OP2(FSGNJ | D, 1, SNAN_D, SNAN_D, SNAN_D | 1ull << 63, 0);
    ASSERT_OP2(FSGNJ | S, 2, SNAN_S, fs(-1.0f), BOX | 0xffa00000u, 0);
}

static void test_fmv_moves_raw_bits_and_sign_extends_w(void **st)
{
    (void)st;
    run(enc(FMV_X_CLASS | S, 0, 0, 5), fs(-1.0f), 0, 0, 0, 0);
    assert_int_equal(x[5], 0xffffffffbf800000ull);
    run(enc(FMV_X_CLASS | S, 0, 0, 5), fs(1.0f), 0, 0, 0, 0);
    assert_int_equal(x[5], 0x3f800000ull);
    run(enc(FMV_X_CLASS | S, 0, 0, 5), 0x12345678fff00000ull, 0, 0, 0, 0);   /* no box check */
    assert_int_equal(x[5], 0xfffffffffff00000ull);
    uint32_t fl = run(enc(FMV_X_CLASS | D, 0, 0, 5), SNAN_D | 5, 0, 0, 0, 0);
    assert_int_equal(x[5], SNAN_D | 5);
    assert_int_equal(fl, 0);
    run(enc(FMV_F_X | D, 0, 0, 4), 0, 0, 0, 0xfff0000000000001ull, 0);
    assert_int_equal(f[4], 0xfff0000000000001ull);
    run(enc(FMV_F_X | S, 0, 0, 4), 0, 0, 0, 0x7fa00000u, 0);
    assert_int_equal(f[4], SNAN_S);
}

/* ---- conversions ---- */

static uint64_t to_int(unsigned fmt, unsigned kind, unsigned rm, uint64_t a, uint32_t *fl)
{
    *fl = run(enc(FCVT_INT_F | fmt, kind, rm, 5), a, 0, 0, 0, 0);
    return x[5];
}

#define ASSERT_TO_INT(fmt, kind, rm, a, want, want_fl) do { uint32_t fl_; \
        assert_int_equal(to_int(fmt, kind, rm, a, &fl_), (want));  \
        assert_int_equal(fl_, (want_fl)); } while (0)

static void test_fcvt_to_int_saturates_every_type(void **st)
{
    (void)st;
    const uint64_t inf = fd(__builtin_inf()), ninf = fd(-__builtin_inf());
    for (unsigned fmt = S; fmt <= D; fmt++) {
        uint64_t big = fmt ? fd(1e30) : fs(1e30f), nbig = fmt ? fd(-1e30) : fs(-1e30f);
        uint64_t nan = fmt ? QNAN_D : QNAN_S, m1 = fmt ? fd(-1.0) : fs(-1.0f);
        uint64_t pinf = fmt ? inf : fs(__builtin_inff()), minf = fmt ? ninf : fs(-__builtin_inff());
        ASSERT_TO_INT(fmt, W, RNE, big, 0x7fffffff, NV);
        ASSERT_TO_INT(fmt, W, RNE, nbig, 0xffffffff80000000ull, NV);
        ASSERT_TO_INT(fmt, W, RNE, nan, 0x7fffffff, NV);
        ASSERT_TO_INT(fmt, W, RTZ, minf, 0xffffffff80000000ull, NV);
        ASSERT_TO_INT(fmt, WU, RNE, big, ~0ull, NV);           /* 0xffffffff, sign-extended */
        ASSERT_TO_INT(fmt, WU, RNE, nan, ~0ull, NV);
        ASSERT_TO_INT(fmt, WU, RNE, m1, 0, NV);
        ASSERT_TO_INT(fmt, WU, RUP, minf, 0, NV);
        ASSERT_TO_INT(fmt, L, RNE, big, 0x7fffffffffffffffull, NV);
        ASSERT_TO_INT(fmt, L, RNE, nbig, 1ull << 63, NV);
        ASSERT_TO_INT(fmt, L, RNE, nan, 0x7fffffffffffffffull, NV);
        ASSERT_TO_INT(fmt, L, RDN, pinf, 0x7fffffffffffffffull, NV);
        ASSERT_TO_INT(fmt, LU, RNE, big, ~0ull, NV);
        ASSERT_TO_INT(fmt, LU, RNE, nan, ~0ull, NV);
        ASSERT_TO_INT(fmt, LU, RNE, m1, 0, NV);
        ASSERT_TO_INT(fmt, LU, RMM, minf, 0, NV);
    }
}

static void test_fcvt_to_int_edges_round_before_range_check(void **st)
{
    (void)st;
    /* -0.5 rounds to -0, which is in range for the unsigned types: NX, not NV */
    ASSERT_TO_INT(S, WU, RTZ, fs(-0.5f), 0, NX);
    ASSERT_TO_INT(D, WU, RNE, fd(-0.5), 0, NX);
    ASSERT_TO_INT(D, LU, RUP, fd(-0.5), 0, NX);
    ASSERT_TO_INT(S, LU, RMM, fs(-0.5f), 0, NV);   /* rounds to -1 */
    ASSERT_TO_INT(D, WU, RDN, fd(-0.5), 0, NV);
    ASSERT_TO_INT(D, W, RNE, fd(2147483647.4), 0x7fffffff, NX);
    ASSERT_TO_INT(D, W, RNE, fd(2147483647.5), 0x7fffffff, NV);
    ASSERT_TO_INT(D, W, RTZ, fd(-2147483648.9), 0xffffffff80000000ull, NX);
    ASSERT_TO_INT(D, W, RDN, fd(-2147483648.1), 0xffffffff80000000ull, NV);
    ASSERT_TO_INT(D, WU, RNE, fd(4294967295.0), ~0ull, 0);
    ASSERT_TO_INT(S, L, RNE, fs(-0x1p63f), 1ull << 63, 0);
    ASSERT_TO_INT(S, L, RNE, fs(0x1p63f), 0x7fffffffffffffffull, NV);
    ASSERT_TO_INT(D, LU, RNE, fd(0x1p64 - 0x1p11), 0xfffffffffffff800ull, 0);
    ASSERT_TO_INT(D, L, RNE, fd(-0.0), 0, 0);
}

static void test_fcvt_w_results_are_sign_extended(void **st)
{
    (void)st;
    ASSERT_TO_INT(S, W, RNE, fs(-1.0f), ~0ull, 0);
    ASSERT_TO_INT(D, W, RNE, fd(-123456.0), (uint64_t)-123456, 0);
    ASSERT_TO_INT(D, WU, RNE, fd(3e9), 0xffffffffb2d05e00ull, 0);
    ASSERT_TO_INT(S, WU, RNE, fs(2147483648.0f), 0xffffffff80000000ull, 0);
    ASSERT_TO_INT(D, WU, RNE, fd(100.0), 100, 0);
}

static void test_fcvt_to_int_rounds_per_mode(void **st)
{
    (void)st;
    static const int64_t pos[5] = { 2, 2, 2, 3, 3 }, neg[5] = { -2, -2, -3, -2, -3 };
    for (unsigned rm = RNE; rm <= RMM; rm++) {
        ASSERT_TO_INT(D, L, rm, fd(2.5), (uint64_t)pos[rm], NX);
        ASSERT_TO_INT(S, W, rm, fs(-2.5f), (uint64_t)neg[rm], NX);
    }
    ASSERT_TO_INT(D, W, RNE, fd(3.5), 4, NX);
    ASSERT_TO_INT(S, LU, RMM, fs(0.5f), 1, NX);
    ASSERT_TO_INT(D, L, RUP, fd(0x1p-1074), 1, NX);
    uint32_t fl = run(enc(FCVT_INT_F | D, L, DYN, 5), fd(2.5), 0, 0, 0, RUP << 5);
    assert_int_equal(x[5], 3);
    assert_int_equal(fl, NX);
}

static uint64_t from_int(unsigned fmt, unsigned kind, unsigned rm, uint64_t v, uint32_t *fl)
{
    *fl = run(enc(FCVT_F_INT | fmt, kind, rm, 4), 0, 0, 0, v, 0);
    return f[4];
}

#define ASSERT_FROM_INT(fmt, kind, rm, v, want, want_fl) do { uint32_t fl_; \
        assert_int_equal(from_int(fmt, kind, rm, v, &fl_), (want));  \
        assert_int_equal(fl_, (want_fl)); } while (0)

static void test_fcvt_from_int_every_type(void **st)
{
    (void)st;
    ASSERT_FROM_INT(S, W, RNE, (uint64_t)-7, fs(-7.0f), 0);
    ASSERT_FROM_INT(S, W, RNE, 0x100000005ull, fs(5.0f), 0);   /* low 32 bits only */
    ASSERT_FROM_INT(D, W, RNE, 0x80000000ull, fd(-2147483648.0), 0);
    ASSERT_FROM_INT(D, WU, RNE, 0xffffffffull, fd(4294967295.0), 0);
    ASSERT_FROM_INT(S, WU, RNE, 0xffffffffull, fs(4294967296.0f), NX);
    ASSERT_FROM_INT(S, WU, RTZ, 0xffffffffull, fs(4294967040.0f), NX);
    ASSERT_FROM_INT(D, L, RNE, 1ull << 63, fd(-0x1p63), 0);
    ASSERT_FROM_INT(D, LU, RNE, ~0ull, fd(0x1p64), NX);
    ASSERT_FROM_INT(D, LU, RTZ, ~0ull, 0x43efffffffffffffull, NX);
    ASSERT_FROM_INT(S, L, RDN, (uint64_t)-16777217, fs(-16777218.0f), NX);
    ASSERT_FROM_INT(S, LU, RUP, 16777217, fs(16777218.0f), NX);
}

static void test_fcvt_from_int_rmm_ties(void **st)
{
    (void)st;
    /* 2^24 + 1 and 2^53 + 1 sit exactly between two representable values */
    ASSERT_FROM_INT(S, W, RNE, 16777217, fs(16777216.0f), NX);
    ASSERT_FROM_INT(S, W, RMM, 16777217, fs(16777218.0f), NX);
    ASSERT_FROM_INT(S, L, RMM, (uint64_t)-16777217, fs(-16777218.0f), NX);
    ASSERT_FROM_INT(D, L, RNE, (1ull << 53) + 1, fd(0x1p53), NX);
    ASSERT_FROM_INT(D, LU, RMM, (1ull << 53) + 1, fd(0x1p53 + 2), NX);
    ASSERT_FROM_INT(D, LU, RMM, ~0ull, fd(0x1p64), NX);
    ASSERT_FROM_INT(D, WU, RMM, 0xffffffffull, fd(4294967295.0), 0);
}

static void test_fcvt_between_precisions(void **st)
{
    (void)st;
    uint32_t fl = run(enc(FCVT_D_S, 0, RNE, 4), fs(1.5f), 0, 0, 0, 0);
    assert_int_equal(f[4], fd(1.5));
    assert_int_equal(fl, 0);
    static const struct { unsigned rm; uint64_t in, out; uint32_t fl; } c[] = {
        { RNE, 0x3ff0000010000000ull, BOX | 0x3f800000u, NX },   /* 1 + 2^-24: a tie */
        { RMM, 0x3ff0000010000000ull, BOX | 0x3f800001u, NX },
        { RUP, 0x3ff0000000000001ull, BOX | 0x3f800001u, NX },
        { RTZ, 0x3ff0000010000001ull, BOX | 0x3f800000u, NX },
        { RMM, 0x3ff000000fffffffull, BOX | 0x3f800000u, NX },
        { RNE, 0x7e37e43c8800759cull, BOX | 0x7f800000u, OF | NX },   /* 1e300 */
        { RTZ, 0x7e37e43c8800759cull, BOX | 0x7f7fffffu, OF | NX },
        { RMM, 0x7e37e43c8800759cull, BOX | 0x7f800000u, OF | NX },
        { RNE, 0x358dee7a4ad4b81full, BOX | 0u, UF | NX },           /* 1e-50 */
        { RUP, 0x358dee7a4ad4b81full, BOX | 1u, UF | NX },
        { RMM, 0x36a0000000000000ull, BOX | 1u, 0 },                /* 2^-149 exact */
        { RMM, 0x3690000000000000ull, BOX | 1u, UF | NX },           /* 2^-150: tie */
    };
    for (unsigned i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        fl = run(enc(FCVT_S_D, 1, c[i].rm, 4), c[i].in, 0, 0, 0, 0);
        assert_int_equal(f[4], c[i].out);
        assert_int_equal(fl, c[i].fl);
    }
}

/* ---- fused multiply-add ---- */

static void test_fma_family_signs(void **st)
{
    (void)st;
    static const struct { unsigned opc; double want; } c[] = {
        { FMADD, 7.0 }, { FMSUB, 5.0 }, { FNMSUB, -5.0 }, { FNMADD, -7.0 },
    };
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(run(enc4(c[i].opc, D, RNE), fd(2.0), fd(3.0), fd(1.0), 0, 0), 0);
        assert_int_equal(f[4], fd(c[i].want));
        assert_int_equal(run(enc4(c[i].opc, S, RMM), fs(2.0f), fs(3.0f), fs(1.0f), 0, 0), 0);
        assert_int_equal(f[4], fs((float)c[i].want));
    }
}

static void test_fma_rounds_once(void **st)
{
    (void)st;
    /* (1 + 2^-52)^2 - (1 + 2^-51) = 2^-104 exactly; two roundings would give 0 */
    uint64_t a = fd(1.0 + 0x1p-52), as = fs(1.0f + 0x1p-23f);
    uint32_t fl = run(enc4(FMSUB, D, RNE), a, a, fd(1.0 + 0x1p-51), 0, 0);
    assert_int_equal(f[4], fd(0x1p-104));
    assert_int_equal(fl, 0);
    fl = run(enc4(FMSUB, S, RNE), as, as, fs(1.0f + 0x1p-22f), 0, 0);
    assert_int_equal(f[4], fs(0x1p-46f));
    assert_int_equal(fl, 0);
    /* RMM: (1 + 2^-23)^2 + 2^-24 = 1 + 2^-22 + 2^-24 + 2^-46, above the tie */
    fl = run(enc4(FMADD, S, RMM), as, as, fs(0x1p-24f), 0, 0);
    assert_int_equal(f[4], fs(1.0f + 0x1p-22f + 0x1p-23f));
    assert_int_equal(fl, NX);
    fl = run(enc4(FNMADD, D, RUP), a, a, fd(0.0), 0, 0);
    assert_int_equal(f[4], fd(-(1.0 + 0x1p-51)));
    assert_int_equal(fl, NX);
}

static void test_fma_inf_times_zero_is_invalid_even_with_quiet_nan_addend(void **st)
{
    (void)st;
    uint32_t fl = run(enc4(FMADD, S, RNE), fs(__builtin_inff()), fs(0.0f), QNAN_S, 0, 0);
    assert_int_equal(f[4], CANON_S);
    assert_int_equal(fl, NV);
    fl = run(enc4(FNMSUB, D, RMM), fd(0.0), fd(-__builtin_inf()), QNAN_D, 0, 0);
    assert_int_equal(f[4], CANON_D);
    assert_int_equal(fl, NV);
    fl = run(enc4(FMADD, D, RNE), fd(1.0), fd(2.0), QNAN_D, 0, 0);
    assert_int_equal(f[4], CANON_D);
    assert_int_equal(fl, 0);
    fl = run(enc4(FMSUB, D, RNE), fd(1.0), fd(2.0), SNAN_D, 0, 0);
    assert_int_equal(f[4], CANON_D);
    assert_int_equal(fl, NV);
    fl = run(enc4(FMADD, D, RNE), fd(__builtin_inf()), fd(1.0), fd(-__builtin_inf()), 0, 0);
    assert_int_equal(f[4], CANON_D);
    assert_int_equal(fl, NV);
}

/* ---- the host is left as found ---- */

static void test_host_rounding_mode_is_restored(void **st)
{
    (void)st;
    volatile double one = 1.0, tiny = 0x1p-60;
    run(enc(FADD | D, 2, RUP, 4), fd(1.0), fd(0x1p-60), 0, 0, 0);
    run(enc(FADD | D, 2, RMM, 4), fd(1.0), fd(0x1p-60), 0, 0, 0);
    run(enc(FCVT_F_INT | S, L, RTZ, 4), 0, 0, 0, ~0ull >> 1, 0);
    run(enc(FCVT_S_D, 1, RDN, 4), fd(0.1), 0, 0, 0, 0);
    assert_true(one + tiny == 1.0);   /* round-to-nearest again */
    assert_true(-one - tiny == -1.0);
}

#define T(f) cmocka_unit_test(f)
int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_fadd_s_tie_rounds_per_mode),
        T(test_rmm_double_ties_go_away_and_non_ties_do_not),
        T(test_fsub_exact_zero_is_negative_only_in_rdn),
        T(test_fdiv_d_rounds_per_mode),
        T(test_fmul_rounds_per_mode),
        T(test_fsqrt_rounds_per_mode_and_signals),
        T(test_dynamic_rm_takes_frm),
        T(test_reserved_rm_is_illegal_and_changes_nothing),
        T(test_unknown_encodings_are_illegal),
        T(test_flags_accumulate_and_are_never_cleared),
        T(test_divide_by_zero_sets_dz_and_zero_by_zero_nv),
        T(test_overflow_result_depends_on_mode),
        T(test_underflow_is_detected_after_rounding),
        T(test_subnormal_ties_in_rne_and_rmm),
        T(test_nan_results_are_canonical),
        T(test_unboxed_single_reads_as_canonical_nan),
        T(test_single_results_are_nan_boxed),
        T(test_fmin_fmax_order_signed_zeros),
        T(test_fmin_fmax_nan_operands),
        T(test_compares_order_values),
        T(test_feq_is_quiet_but_flt_fle_signal_on_any_nan),
        T(test_compare_into_x0_is_discarded),
        T(test_fclass_sets_one_of_ten_bits),
        T(test_sign_injection_moves_sign_bits_only),
        T(test_fmv_moves_raw_bits_and_sign_extends_w),
        T(test_fcvt_to_int_saturates_every_type),
        T(test_fcvt_to_int_edges_round_before_range_check),
        T(test_fcvt_w_results_are_sign_extended),
        T(test_fcvt_to_int_rounds_per_mode),
        T(test_fcvt_from_int_every_type),
        T(test_fcvt_from_int_rmm_ties),
        T(test_fcvt_between_precisions),
        T(test_fma_family_signs),
        T(test_fma_rounds_once),
        T(test_fma_inf_times_zero_is_invalid_even_with_quiet_nan_addend),
        T(test_host_rounding_mode_is_restored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
