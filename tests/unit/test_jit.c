/* Unit tests of the translator against the interpreter: the same programs run on a hart that
 * only interprets (hart.interp_only) and on one that translates, and every register, the pc
 * and the data they wrote must agree. Each test also checks that the translating hart really
 * ran most of the program as translated code (hart.jit_insns), so that with the translator
 * off, or its code buffer not mapped, the tests fail instead of comparing the interpreter
 * with itself. */
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cpu/exec.h"
#include "cpu/hart.h"
#include "rv_encode.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (1024 * 1024)
#define DATA_OFF 0x80000           /* the programs' data: 4 KiB at RAM_BASE + DATA_OFF */
#define DATA_SIZE 4096
#define TRAP_OFF 0x70000            /* mtvec: jal x0, 0 */

struct side {
    struct guest_mem ram;
    struct hart_bus bus;
    struct hart hart;
    uint64_t time;          /* the timer: each read of it counts one up */
    bool misaligned;        /* bus_time was called with the stack not 16-byte aligned */
};

static int bus_load(void *c, uint64_t pa, unsigned s, uint64_t *v) { (void)c; (void)pa; (void)s; (void)v; return -EFAULT; }
static int bus_store(void *c, uint64_t pa, unsigned s, uint64_t v) { (void)c; (void)pa; (void)s; (void)v; return -EFAULT; }
/* Each read of time gives the next count, so that both harts must read it as often; the
 * division leaves the host's inexact flag set, which must not reach the guest's fflags, and
 * the frame address (rsp at the call, less 8 for the return address and 8 for the saved
 * rbp) says whether translated code called it with the stack aligned as the ABI asks. */
static uint64_t bus_time(void *c)
{
    struct side *sd = c;
    volatile double third = 1.0, three = 3.0;
    third = third / three;
    if ((uintptr_t)__builtin_frame_address(0) & 15)
        sd->misaligned = true;
    return ++sd->time * 1000;
}
static void bus_poll(void *c, struct hart *h) { (void)c; (void)h; }
static void bus_wait(void *c, struct hart *h) { (void)c; (void)h; }

static struct side sides[2]; /* [0] interprets, [1] translates */
static bool allow_trap;       /* a trap (FP off) ends a program as well as its end does */
static const uint64_t *f_init; /* if set, f0... start with these f_init_count values */
static const uint64_t *x_init; /* if set, x1..x15 start with these */
static void (*side_init)(struct hart *h); /* if set, called once each hart is set up */
static unsigned f_init_count;

static int setup(void **state)
{
    (void)state;
    for (unsigned i = 0; i < 2; i++) {
        struct side *s = &sides[i];
        s->ram = (struct guest_mem){ calloc(1, RAM_SIZE), RAM_BASE, RAM_SIZE, NULL };
        if (!s->ram.host)
            return -1;
        s->bus = (struct hart_bus){ s, &s->ram, bus_load, bus_store, bus_time, bus_poll, bus_wait,
                                    NULL, true, NULL, NULL };
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (unsigned i = 0; i < 2; i++)
        free(sides[i].ram.host);
    return 0;
}

/* ---- encoders (rv_encode.h) ---- */
#define JAL_SELF 0x0000006fu  /* jal x0, 0: where a program ends */

/* splitmix64: the programs and their data come from a seed, so a failure names its seed */
static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Registers: x1-x15 hold random values and take every result; x20 points at the data, x21
 * counts the loop down, x22 is the address scratch. */
enum { NREG = 15, XBASE = 20, XCOUNT = 21, XADDR = 22, XINNER = 23 };

/* Programs draw from x1..x<nregs>: few enough, and a run's registers all fit in host
 * registers (the translator then keeps them there across the run's own branches). */
static unsigned nregs = NREG;
static uint32_t reg(uint64_t *s) { return 1 + (uint32_t)(rnd(s) % nregs); }
/* A source (or destination) that is x0 one time in eight: neg, snez, stores of zero, writes
 * that are dropped. */
static uint32_t reg0(uint64_t *s) { return rnd(s) % 8 ? reg(s) : 0; }

/* The register-register ops the generators draw from: f7, f3 of OP and of OP-32. */
static const uint32_t rr[][2] = {      /* f7, f3 of OP */
    { 0, 0 }, { 0x20, 0 }, { 0, 1 }, { 0, 2 }, { 0, 3 }, { 0, 4 }, { 0, 5 }, { 0x20, 5 },
    { 0, 6 }, { 0, 7 }, { 1, 0 }, { 1, 1 }, { 1, 2 }, { 1, 3 }, { 1, 4 }, { 1, 5 }, { 1, 6 },
    { 1, 7 }, { 0x20, 7 }, { 0x05, 5 }, { 0x05, 7 }, { 0x05, 4 }, { 0x05, 6 },
    { 0x10, 2 }, { 0x10, 4 }, { 0x10, 6 }, { 0x30, 1 }, { 0x30, 5 }, { 0x24, 1 }, { 0x24, 5 },
    { 0x14, 1 }, { 0x34, 1 },
};
static const uint32_t rr32[][2] = {    /* f7, f3 of OP-32 */
    { 0, 0 }, { 0x20, 0 }, { 0, 1 }, { 0, 5 }, { 0x20, 5 }, { 1, 0 }, { 1, 4 }, { 1, 5 },
    { 1, 6 }, { 1, 7 }, { 0x04, 0 }, { 0x10, 2 }, { 0x10, 4 }, { 0x10, 6 },
};
/* One random instruction of those the translator handles (and a few it leaves to the
 * interpreter, so that runs end in the middle too), writing x1-x15 only. */
static unsigned gen_insn(uint64_t *s, uint32_t *out)
{
    uint32_t rd = reg0(s), a = reg0(s), b = reg0(s);
    int32_t imm = (int32_t)(rnd(s) % 4096) - 2048;
    switch (rnd(s) % 11) {
    case 0: case 1: case 2: {
        const uint32_t *k = rr[rnd(s) % (sizeof(rr) / sizeof(rr[0]))];
        *out = R(k[0], b, a, k[1], rd, 0x33);
        return 1;
    }
    case 3: {
        const uint32_t *k = rr32[rnd(s) % (sizeof(rr32) / sizeof(rr32[0]))];
        *out = R(k[0], b, a, k[1], rd, 0x3b);
        return 1;
    }
    case 4: {
        static const uint32_t f3[] = { 0, 2, 3, 4, 6, 7 };
        *out = I(imm, a, f3[rnd(s) % 6], rd, 0x13);
        return 1;
    }
    case 5: {
        uint32_t sh = (uint32_t)(rnd(s) % 64);
        static const uint32_t ops[][2] = { { 0x000, 1 }, { 0x000, 5 }, { 0x400, 5 }, { 0x480, 1 },
                                           { 0x680, 1 }, { 0x600, 5 }, { 0x480, 5 }, { 0x280, 1 } };
        const uint32_t *k = ops[rnd(s) % 8];
        static const uint32_t unary[] = { 0x600, 0x601, 0x602, 0x604, 0x605, 0x287, 0x6b8 };
        if (rnd(s) % 4 == 0) {           /* clz, ctz, cpop, sext.b/h, orc.b, rev8 */
            uint32_t u = unary[rnd(s) % 7];
            *out = I((int32_t)u, a, u == 0x287 || u == 0x6b8 ? 5 : 1, rd, 0x13);
        } else {
            *out = I((int32_t)(k[0] | sh), a, k[1], rd, 0x13);
        }
        return 1;
    }
    case 6: {
        static const uint32_t f3w[] = { 0, 1, 5, 5 };
        unsigned k = (unsigned)(rnd(s) % 4);
        int32_t v = k == 0 ? imm : (int32_t)(rnd(s) % 32) | (k == 3 ? 0x400 : 0);
        *out = I(v, a, f3w[k], rd, 0x1b);
        return 1;
    }
    case 7:
        *out = (rnd(s) & 0xfffff000u) | rd << 7 | (rnd(s) % 2 ? 0x37 : 0x17); /* lui, auipc */
        return 1;
    case 8: {                            /* a load from the data, any size and alignment */
        static const uint32_t f3[] = { 0, 1, 2, 3, 4, 5, 6 };
        out[0] = I(0x7f8, a, 7, XADDR, 0x13);            /* andi x22, a, 0x7f8 */
        out[1] = R(0, XBASE, XADDR, 0, XADDR, 0x33);     /* add x22, x22, x20 */
        out[2] = I((int32_t)(rnd(s) % 0x400), XADDR, f3[rnd(s) % 7], rd, 0x03);
        return 3;
    }
    case 9: {                            /* lr, sc or an AMO on the data (aligned), W or D */
        static const uint32_t f5[] = { 0x00, 0x01, 0x02, 0x03, 0x04, 0x08, 0x0c, 0x10, 0x14, 0x18, 0x1c };
        uint32_t op = f5[rnd(s) % 11], aqrl = (uint32_t)(rnd(s) % 4), f3 = rnd(s) % 2 ? 2 : 3;
        int32_t mask = f3 == 3 || rnd(s) % 2 ? 0x7f8 : 0x7fc;
        out[0] = I(mask, a, 7, XADDR, 0x13);                               /* andi x22, a, mask */
        out[1] = R(0, XBASE, XADDR, 0, XADDR, 0x33);
        out[2] = op << 27 | aqrl << 25 | (op == 0x02 ? 0 : b) << 20 | XADDR << 15 | f3 << 12 | rd << 7 | 0x2f;
        if (op != 0x02 || rnd(s) % 2)
            return 3;
        /* an lr/sc pair (sc succeeds unless lr's rd was x22, or the sizes or values differ) */
        out[3] = 0x03u << 27 | b << 20 | XADDR << 15 | (mask == 0x7f8 && rnd(s) % 4 == 0 ? 5 - f3 : f3) << 12 | reg0(s) << 7 | 0x2f;
        return 4;
    }
    default: {                           /* a store into the data */
        out[0] = I(0x7f8, a, 7, XADDR, 0x13);
        out[1] = R(0, XBASE, XADDR, 0, XADDR, 0x33);
        out[2] = S((int32_t)(rnd(s) % 0x400), b, XADDR, (uint32_t)(rnd(s) % 4), 0x23);
        return 3;
    }
    }
}

/* Edge-case doubles (and two NaN-boxed singles, and one single not boxed). */
static const uint64_t fp_edge[] = {
    0, 0x8000000000000000ULL, 0x3ff0000000000000ULL, 0xbff0000000000000ULL,
    0x7ff0000000000000ULL, 0xfff0000000000000ULL, 0x7ff8000000000000ULL, 0xfff8000000000000ULL,
    0x7ff0000000000001ULL, 0x7ff4000000000000ULL, 0x0000000000000001ULL, 0x8000000000000001ULL,
    0x000fffffffffffffULL, 0x0010000000000000ULL, 0x7fefffffffffffffULL, 0xffefffffffffffffULL,
    0x3ff8000000000000ULL, 0xc004000000000000ULL, 0x4008000000000000ULL, 0x43e0000000000000ULL,
    0xc3e0000000000000ULL, 0x41dfffffffc00000ULL, 0x3fe0000000000000ULL, 0x3ca0000000000000ULL,
    0xffffffff3f800000ULL, 0xffffffff7fc00000ULL, 0x000000003f800000ULL,
    0x3fb999999999999aULL, 0x3fc999999999999aULL, 0x3fd5555555555555ULL, 0x3ff0000000000001ULL, /* 0.1, 0.2, 1/3, 1 + ulp */
};

/* Doubles at the rounding and range boundaries of the conversions to integers: ties,
 * INT32/UINT32/INT64 limits and their neighbours, infinities, NaNs of both signs and kinds,
 * subnormals (at most 31: the sweep puts them in f0-f30). */
static const uint64_t cvt_edge_d[] = {
    0, 0x8000000000000000ULL, 0x3fe0000000000000ULL, 0xbfe0000000000000ULL,   /* +-0, +-0.5 */
    0x3ff8000000000000ULL, 0xbff8000000000000ULL, 0x4004000000000000ULL,      /* +-1.5, 2.5 */
    0xc004000000000000ULL, 0x400c000000000000ULL,                             /* -2.5, 3.5 */
    0x41dfffffffc00000ULL, 0x41dfffffffe00000ULL, 0x41e0000000000000ULL,      /* 2^31-1, -0.5, 2^31 */
    0xc1e0000000000000ULL, 0xc1e0000000100000ULL, 0xc1e0000000200000ULL,      /* -2^31, -0.5, -1 */
    0xc1dfffffffe00000ULL, 0x43dfffffffffffffULL, 0x43e0000000000000ULL,      /* -2^31+0.5, 2^63 */
    0xc3e0000000000000ULL, 0xc3e0000000000001ULL, 0x41effffffff00000ULL,      /* -2^63, 2^32-0.5 */
    0x41f0000000000000ULL, 0x43f0000000000000ULL,                             /* 2^32, 2^64 */
    0x7ff0000000000000ULL, 0xfff0000000000000ULL, 0x7ff8000000000000ULL,
    0xfff8000000000000ULL, 0x7ff4000000000000ULL, 0xfff0000000000001ULL,      /* sNaNs */
    0x0000000000000001ULL, 0x800fffffffffffffULL,
};

/* Doubles at the edges of the conversions to unsigned integers: zeros, values in (-1, 0)
 * that round to 0 or to -1 by the mode, -1, 2^32 and what rounds to it, 2^63 (in range for
 * .lu) and 2^64 with their neighbours, infinities, NaNs, subnormals. */
static const uint64_t cvt_edge_ud[] = {
    0, 0x8000000000000000ULL, 0x3fe0000000000000ULL, 0xbfe0000000000000ULL,   /* +-0, +-0.5 */
    0xbff0000000000000ULL, 0xbfe6666666666666ULL, 0xbfd3333333333333ULL,      /* -1, -0.7, -0.3 */
    0xbff8000000000000ULL, 0x3ff8000000000000ULL, 0x4004000000000000ULL,      /* -1.5, 1.5, 2.5 */
    0x41efffffffe00000ULL, 0x41effffffff00000ULL, 0x41effffffff80000ULL,      /* 2^32-1, -0.5, -0.25 */
    0x41efffffffe80000ULL, 0x41f0000000000000ULL, 0x41f0000000080000ULL,      /* 2^32-0.75, 2^32, +0.5 */
    0x43dfffffffffffffULL, 0x43e0000000000000ULL, 0x43e0000000000001ULL,      /* 2^63 and neighbours */
    0x43efffffffffffffULL, 0x43f0000000000000ULL, 0x43f0000000000001ULL,      /* 2^64 and neighbours */
    0xc3e0000000000000ULL, 0xc3f0000000000000ULL,                             /* -2^63, -2^64 */
    0x7ff0000000000000ULL, 0xfff0000000000000ULL, 0x7ff8000000000000ULL,
    0xfff8000000000000ULL, 0x7ff4000000000000ULL, 0x0000000000000001ULL, 0x8000000000000001ULL,
};

/* Edge-case singles, NaN-boxed but for the last six (which read as the canonical NaN, ISA
 * spec 12.2); at the indices the sweep's FMA addends use, as in fp_edge: 6 qNaN, 9 sNaN,
 * 0 +0, 5 -inf, 2 1.0. */
#define BOX 0xffffffff00000000ULL
static const uint64_t fp_edge_s[] = {
    BOX | 0, BOX | 0x80000000, BOX | 0x3f800000, BOX | 0xbf800000, BOX | 0x7f800000, BOX | 0xff800000,
    BOX | 0x7fc00000, BOX | 0xffc00000, BOX | 0x7f800001, BOX | 0x7fa00000, BOX | 0x00000001,
    BOX | 0x80000001, BOX | 0x007fffff, BOX | 0x00800000, BOX | 0x7f7fffff, BOX | 0xff7fffff,
    BOX | 0x3fc00000, BOX | 0xc0200000, BOX | 0x40400000, BOX | 0x4f000000, BOX | 0xcf000000,
    BOX | 0x3f000000, BOX | 0x33800000, BOX | 0x3eaaaaab, BOX | 0x3dcccccd,   /* 0.5, 2^-24, 1/3, 0.1 */
    0x000000003f800000ULL, 0x7fffffff3f800000ULL, 0xfffffffe3f800000ULL, 0x3ff0000000000000ULL,
    0x7fffffffffffffffULL, 0x00000000ffc00000ULL,
};

/* Singles at the rounding and range boundaries of the conversions to integers (boxed), and
 * four not boxed (read as NaN: the maximum). */
static const uint64_t cvt_edge_s[] = {
    BOX | 0, BOX | 0x80000000, BOX | 0x3f000000, BOX | 0xbf000000, BOX | 0x3fc00000,    /* +-0, +-0.5, 1.5 */
    BOX | 0xbfc00000, BOX | 0x40200000, BOX | 0xc0200000, BOX | 0x40600000,            /* -1.5, +-2.5, 3.5 */
    BOX | 0x4f000000, BOX | 0x4effffff, BOX | 0xcf000000, BOX | 0xcf000001,            /* +-2^31 */
    BOX | 0x5f000000, BOX | 0x5effffff, BOX | 0xdf000000, BOX | 0xdf000001,            /* +-2^63 */
    BOX | 0x4f800000, BOX | 0x4f7fffff, BOX | 0x7f800000, BOX | 0xff800000,            /* 2^32, inf */
    BOX | 0x7fc00000, BOX | 0xffc00000, BOX | 0x7fa00000, BOX | 0xff800001,            /* NaNs */
    BOX | 0x00000001, BOX | 0x807fffff,                                                /* subnormals */
    0x000000004f000000ULL, 0x7fffffff3fc00000ULL, 0x00000000bfc00000ULL, 0xbff8000000000000ULL,
};

/* The same for singles (boxed, but for the last, which reads as NaN): 2^32 - 256 is the
 * largest single below 2^32. */
static const uint64_t cvt_edge_us[] = {
    BOX | 0, BOX | 0x80000000, BOX | 0x3f000000, BOX | 0xbf000000, BOX | 0xbf800000,    /* +-0, +-0.5, -1 */
    BOX | 0xbf333333, BOX | 0xbe99999a, BOX | 0xbfc00000, BOX | 0x3fc00000,            /* -0.7, -0.3, +-1.5 */
    BOX | 0x40200000, BOX | 0x3f7fffff, BOX | 0xbf7fffff,                              /* 2.5, +-(1 - ulp) */
    BOX | 0x4f7fffff, BOX | 0x4f800000, BOX | 0x4f800001,                              /* 2^32 */
    BOX | 0x5effffff, BOX | 0x5f000000, BOX | 0x5f000001,                              /* 2^63 */
    BOX | 0x5f7fffff, BOX | 0x5f800000, BOX | 0x5f800001, BOX | 0xdf000000,            /* 2^64, -2^63 */
    BOX | 0x7f800000, BOX | 0xff800000, BOX | 0x7fc00000, BOX | 0xffc00000,            /* infinities, NaNs */
    BOX | 0x7fa00000, BOX | 0x00000001, BOX | 0x80000001, BOX | 0x4b800001,            /* sNaN, +-tiny, 2^24+2 */
    0x000000004f000000ULL,
};

/* 64-bit integers for the conversions from unsigned integers (moved to x6 by fmv.x.d):
 * 2^32 - 1, 2^53 + 1 and 2^24 + 1 (which round), values of 2^63 and above, ties between
 * doubles and between singles there, and all ones. */
static const uint64_t int_edge_u[] = {
    0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ULL, 0x20000000000001ULL, 0x20000000000003ULL,
    0x1000001, 0x1000003, 0x7fffffffffffffffULL, 0x8000000000000000ULL, 0x8000000000000001ULL,
    0x8000000000000400ULL, 0x8000000000000401ULL, 0x8000000000000c00ULL, 0x8000008000000000ULL,
    0x8000018000000000ULL, 0xfffffffffffff800ULL, 0xfffffffffffffc00ULL, 0xfffffffffffffbffULL,
    0xffffffffffffffffULL, 0xffffff7fffffffffULL, 0xffffff8000000000ULL, 0xffffffff80000000ULL,
    0xfffffffe00000001ULL, 0x123456789abcdef1ULL, 0xfedcba9876543211ULL, 0x00000000fffffffeULL,
    0xffffffff01000001ULL, 0x0000000001000002ULL,
};

/* Doubles at the edges of single range, for fcvt.s.d: the smallest single subnormal, half
 * of it (a tie to zero), 1.5 of it, the smallest normal and just below, the largest single,
 * a half ulp above it (a tie to infinity) and just under that, single ties next to 1.0, a
 * signalling and a negative quiet NaN, a double subnormal, infinity. */
static const uint64_t narrow_edge_d[] = {
    0x36a0000000000000ULL, 0x3690000000000000ULL, 0x3698000000000000ULL, 0x3810000000000000ULL,
    0x380fffffe0000000ULL, 0x380ffffff0000000ULL, 0x47efffffe0000000ULL, 0x47effffff0000000ULL,
    0x47efffffefffffffULL, 0xc7effffff0000000ULL, 0x3ff0000010000000ULL, 0x3ff0000030000000ULL,
    0x7ff4000000000000ULL, 0xfff8000000000001ULL, 0x8000000000000001ULL, 0x7ff0000000000000ULL,
};

static uint64_t pick_fp(uint64_t *s)
{
    uint64_t r = rnd(s);
    if (r % 6 == 1)
        return cvt_edge_d[rnd(s) % (sizeof(cvt_edge_d) / sizeof(cvt_edge_d[0]))];
    if (r % 6 == 2)
        return fp_edge_s[rnd(s) % (sizeof(fp_edge_s) / sizeof(fp_edge_s[0]))];
    if (r % 12 == 3)                     /* a boxed single of modest exponent */
        return BOX | (r >> 32 & 0x807fffff) | (uint64_t)(0x70 + rnd(s) % 32) << 23;
    if (r % 3)
        return fp_edge[rnd(s) % (sizeof(fp_edge) / sizeof(fp_edge[0]))];
    /* a double of modest exponent, so that loops do not all end in infinity at once */
    return (r & 0x800fffffffffffffULL) | (uint64_t)(0x3f0 + rnd(s) % 32) << 52;
}

/* One random FP instruction, single or double: those the translator handles, with now and
 * then a rounding mode or a form it leaves to the interpreter. f1-f15 and x1-x15 only. */
static unsigned gen_fp(uint64_t *s, uint32_t *out)
{
    uint32_t rd = reg(s), a = reg(s), b = reg(s), c = reg(s);
    uint32_t rm = rnd(s) % 8 == 0 ? (uint32_t)(rnd(s) % 5) : (rnd(s) % 2 ? 7 : 0);
    uint32_t fmt = rnd(s) % 5 < 3 ? 1 : 0;  /* D or S: the low bit of funct7 */
    switch (rnd(s) % 15) {
    case 14:                             /* fcvt.s.d, fcvt.d.s */
        *out = fmt ? R(0x21, 0, a, rnd(s) % 4 ? rm : 1, rd, 0x53) : R(0x20, 1, a, rm, rd, 0x53);
        return 1;
    case 13: {                           /* fcvt.w/wu/l/lu.s/d, mostly RTZ or RNE */
        uint32_t crm = rnd(s) % 8 == 0 ? (uint32_t)(rnd(s) % 5) : (uint32_t)(rnd(s) % 3 == 0 ? 1 : rm);
        static const uint32_t kind[] = { 0, 2, 0, 2, 1, 3 };
        *out = R(0x60 | fmt, kind[rnd(s) % 6], a, crm, rd, 0x53);
        return 1;
    }
    case 12: {                           /* frflags, fsflags, frcsr, frrm */
        static const uint32_t csrop[4][2] = { { 0x001, 2 }, { 0x001, 1 }, { 0x003, 2 }, { 0x002, 2 } };
        const uint32_t *k = csrop[rnd(s) % 4];
        *out = I((int32_t)k[0], k[1] == 1 ? a : 0, k[1], rnd(s) % 4 ? rd : 0, 0x73);
        return 1;
    }
    case 0: case 1: {                    /* fadd, fsub, fmul, fdiv */
        uint32_t f7 = (uint32_t)(rnd(s) % 4) << 2 | fmt;
        *out = R(f7, b, a, rm, rd, 0x53);
        return 1;
    }
    case 2: *out = R(0x2c | fmt, 0, a, rm, rd, 0x53); return 1;           /* fsqrt */
    case 3: case 4: {                    /* fmadd, fmsub, fnmsub, fnmadd */
        static const uint32_t op[] = { 0x43, 0x47, 0x4b, 0x4f };
        *out = c << 27 | fmt << 25 | b << 20 | a << 15 | rm << 12 | rd << 7 | op[rnd(s) % 4];
        return 1;
    }
    case 5:                              /* fsgnj[n,x], fmin, fmax */
        *out = rnd(s) % 2 ? R(0x10 | fmt, b, a, (uint32_t)(rnd(s) % 3), rd, 0x53)
                          : R(0x14 | fmt, b, a, (uint32_t)(rnd(s) % 2), rd, 0x53);
        return 1;
    case 6: *out = R(0x50 | fmt, b, a, (uint32_t)(rnd(s) % 3), rd, 0x53); return 1; /* fle, flt, feq */
    case 7: *out = R(0x70 | fmt, 0, a, rnd(s) % 2, rd, 0x53); return 1;   /* fmv.x.w/d, fclass */
    case 8: *out = R(0x78 | fmt, 0, a, 0, rd, 0x53); return 1;            /* fmv.w/d.x */
    case 9: *out = R(0x68 | fmt, (uint32_t)(rnd(s) % 4), a, rm, rd, 0x53); return 1; /* fcvt.s/d.w/wu/l/lu */
    case 10: {                           /* fld, flw */
        out[0] = I(0x7f8, a, 7, XADDR, 0x13);
        out[1] = R(0, XBASE, XADDR, 0, XADDR, 0x33);
        out[2] = I((int32_t)(rnd(s) % 0x400), XADDR, rnd(s) % 2 ? 3 : 2, rd, 0x07);
        return 3;
    }
    default: {                           /* fsd, fsw */
        out[0] = I(0x7f8, a, 7, XADDR, 0x13);
        out[1] = R(0, XBASE, XADDR, 0, XADDR, 0x33);
        out[2] = S((int32_t)(rnd(s) % 0x400), b, XADDR, rnd(s) % 2 ? 3 : 2, 0x27);
        return 3;
    }
    }
}

/* A program: set x1-x15 from the seed, then a loop of body instructions run iters times,
 * then jal x0, 0. Returns its length in words. */
static unsigned gen_program(uint64_t seed, uint32_t *p, unsigned body, unsigned iters, bool fp)
{
    uint64_t s = seed;
    unsigned n = 0;
    p[n++] = (uint32_t)(RAM_BASE + DATA_OFF) >> 12 << 12 | XBASE << 7 | 0x37; /* lui x20 */
    p[n++] = I(32, XBASE, 1, XBASE, 0x13);                                     /* slli x20, 32 */
    p[n++] = I(32, XBASE, 5, XBASE, 0x13);                                     /* srli x20, 32 */
    p[n++] = 0x0000100f;                                                       /* fence.i */
    p[n++] = I((int32_t)iters, 0, 0, XCOUNT, 0x13);                            /* li x21 */
    unsigned top = n;
    unsigned inner_top = 0;
    bool inner = false;
    for (unsigned i = 0; i < body; i++) {
        unsigned k = (unsigned)(rnd(&s) % 16);
        if (k == 0) {
            /* a forward branch, on a random compare, over the next instruction (or group) */
            static const uint32_t f3[] = { 0, 1, 4, 5, 6, 7 };
            uint32_t unit[4];
            unsigned len = fp && rnd(&s) % 4 ? gen_fp(&s, unit) : gen_insn(&s, unit);
            p[n++] = B((int32_t)(4 * (1 + len)), reg0(&s), rnd(&s) % 3 ? reg(&s) : 0, f3[rnd(&s) % 6]);
            memcpy(&p[n], unit, len * 4);
            n += len;
            continue;
        }
        if (k == 1 && !inner && i + 4 < body) {
            /* an inner counted loop of the next few instructions */
            p[n++] = I((int32_t)(1 + rnd(&s) % 5), 0, 0, XINNER, 0x13);       /* li x23, 1..5 */
            inner_top = n;
            inner = true;
            continue;
        }
        if (k == 2 && inner) {
            p[n] = I(-1, XINNER, 0, XINNER, 0x13);                             /* addi x23, -1 */
            n++;
            p[n] = B(-(int32_t)(n - inner_top) * 4, 0, XINNER, 1);            /* bnez x23, inner */
            n++;
            inner = false;
            continue;
        }
        n += fp && rnd(&s) % 4 ? gen_fp(&s, &p[n]) : gen_insn(&s, &p[n]);
    }
    if (inner) {
        p[n] = I(-1, XINNER, 0, XINNER, 0x13);
        n++;
        p[n] = B(-(int32_t)(n - inner_top) * 4, 0, XINNER, 1);
        n++;
    }
    p[n] = I(-1, XCOUNT, 0, XCOUNT, 0x13);                                     /* addi x21, -1 */
    n++;
    p[n] = B(-(int32_t)(n - top) * 4, 0, XCOUNT, 1);                           /* bnez x21, top */
    n++;
    p[n++] = I(0x340, 0, 1, 0, 0x73);   /* csrw mscratch, x0: ends the block here, so instret is exact */
    p[n++] = JAL_SELF;
    return n;
}

/* Runs the program on side i from the same start: x1-x15 from the seed, the data from it. */
static void run_side(unsigned i, uint64_t seed, const uint32_t *prog, unsigned words, uint64_t mstatus_fs,
                     uint32_t frm)
{
    struct side *sd = &sides[i];
    struct hart *h = &sd->hart;
    memset(sd->ram.host, 0, RAM_SIZE);
    memcpy(sd->ram.host, prog, words * 4);
    uint64_t s = seed ^ 0x5eedULL;
    for (unsigned o = 0; o < DATA_SIZE; o += 8) {
        uint64_t v = rnd(&s);
        memcpy(sd->ram.host + DATA_OFF + o, &v, 8);
    }
    hart_init(h, 0, &sd->bus);
    hart_reset(h, RAM_BASE);
    h->interp_only = i == 0;
    h->pmpaddr[0] = ~0ULL >> 10;
    h->pmpcfg[0] = 0x1f;
    h->pmp_count = 1;
    h->mtvec = RAM_BASE + TRAP_OFF;  /* a trap ends the run there (and fails the test) */
    memcpy(sd->ram.host + TRAP_OFF, &(uint32_t){ JAL_SELF }, 4);
    for (unsigned r = 1; r <= NREG; r++)
        h->x[r] = rnd(&s) >> (rnd(&s) % 64);
    if (x_init)
        memcpy(&h->x[1], x_init, NREG * 8);
    h->x[XADDR] = RAM_BASE + DATA_OFF;  /* a branch may skip the address's computation */
    for (unsigned r = 0; r < 32; r++)
        h->f[r] = f_init && r < f_init_count ? f_init[r] : pick_fp(&s);
    h->mstatus = (h->mstatus & ~MSTATUS_FS) | mstatus_fs;
    h->fcsr = frm << 5;
    sd->time = 0;
    sd->misaligned = false;
    if (side_init)
        side_init(h);
    uint64_t end = RAM_BASE + (words - 1) * 4ULL;
    for (unsigned k = 0; k < 100000 && h->pc != end && h->pc != RAM_BASE + TRAP_OFF; k++)
        hart_exec_block(h, 1000);
    if (h->pc != end && !(allow_trap && h->pc == RAM_BASE + TRAP_OFF))
        fail_msg("seed %llu, %s: stopped at %#llx, mcause %llu at %#llx (%#x)", (unsigned long long)seed,
                 i ? "translated" : "interpreted", (unsigned long long)h->pc, (unsigned long long)h->mcause,
                 (unsigned long long)h->mepc,
                 h->mepc >= RAM_BASE && h->mepc < RAM_BASE + words * 4 ? prog[(h->mepc - RAM_BASE) / 4] : 0);
}

static void compare_sides(uint64_t seed)
{
    struct hart *a = &sides[0].hart, *b = &sides[1].hart;
    for (unsigned r = 0; r < 32; r++)
        if (a->x[r] != b->x[r])
            fail_msg("seed %llu: x%u interpreted %#llx, translated %#llx", (unsigned long long)seed, r,
                     (unsigned long long)a->x[r], (unsigned long long)b->x[r]);
    if (memcmp(sides[0].ram.host + DATA_OFF, sides[1].ram.host + DATA_OFF, RAM_SIZE - DATA_OFF) != 0)
        fail_msg("seed %llu: the data differ", (unsigned long long)seed);
    assert_int_equal(a->instret, b->instret);
    for (unsigned r = 0; r < 32; r++)
        if (a->f[r] != b->f[r])
            fail_msg("seed %llu: f%u interpreted %#llx, translated %#llx", (unsigned long long)seed, r,
                     (unsigned long long)a->f[r], (unsigned long long)b->f[r]);
    if (a->fcsr != b->fcsr)
        fail_msg("seed %llu: fcsr interpreted %#x, translated %#x", (unsigned long long)seed, a->fcsr, b->fcsr);
    if (a->pc != b->pc || a->mcause != b->mcause || a->mepc != b->mepc || a->mstatus != b->mstatus)
        fail_msg("seed %llu: pc %#llx/%#llx, mcause %llu/%llu, mstatus %#llx/%#llx", (unsigned long long)seed,
                 (unsigned long long)a->pc, (unsigned long long)b->pc, (unsigned long long)a->mcause,
                 (unsigned long long)b->mcause, (unsigned long long)a->mstatus, (unsigned long long)b->mstatus);
}

/* Random straight-line loops: every result agrees, and the translating hart ran nearly all of
 * them as translated code. */
static void test_random_loops_agree(void **state)
{
    (void)state;
    static uint32_t prog[4096];
    uint64_t total = 0, translated = 0;
    for (uint64_t seed = 1; seed <= 300; seed++) {
        nregs = seed % 3 ? NREG : 3 + (unsigned)(seed % 4);
        unsigned words = gen_program(seed, prog, 8 + (unsigned)(seed % 40), 50, false);
        run_side(0, seed, prog, words, MSTATUS_FS, 0);
        run_side(1, seed, prog, words, MSTATUS_FS, 0);
        compare_sides(seed);
        assert_int_equal(sides[0].hart.jit_insns, 0);
        total += sides[1].hart.instret;
        translated += sides[1].hart.jit_insns;
        hart_destroy(&sides[0].hart);
        hart_destroy(&sides[1].hart);
    }
    nregs = NREG;
    printf("# %llu of %llu instructions ran translated\n", (unsigned long long)translated,
           (unsigned long long)total);
    /* loops of 50 rounds: all but the first round and the instructions the translator leaves
     * to the interpreter (cpop, sext.b/h, mulhsu, and each run's first pass) */
    if (translated * 10 < total * 7)
        fail_msg("only %llu of %llu instructions ran translated: is the translator off?",
                 (unsigned long long)translated, (unsigned long long)total);
}

/* x1..x15 for the integer edge-case programs */
static const uint64_t int_edges[NREG] = {
    1, 2, 31, 32, 63, 0x7fffffff, 0x80000000, 0xffffffff, 0xffffffff80000000ULL,
    0x7fffffffffffffffULL, 0x8000000000000000ULL, ~0ULL, 0x123456789abcdef0ULL,
    0xfedcba9876543210ULL, 0x00000000fffffffeULL,
};

/* Every register-register op (and the W forms with an immediate) over every pair of
 * edge-case operands, x0 among them (neg, snez and sgtz are such forms), each result stored
 * apart: translated and interpreted agree on every one. */
static void test_int_edge_cases(void **state)
{
    (void)state;
    static uint32_t prog[16384];
    enum { NRR = sizeof(rr) / sizeof(rr[0]), NRR32 = sizeof(rr32) / sizeof(rr32[0]) };
    static const uint32_t wimm[][2] = {  /* f3, imm of OP-IMM-32: addiw, slliw, srliw, sraiw */
        { 0, 0 }, { 0, 1 }, { 0, 0x7ff }, { 0, 0x800 }, { 1, 0 }, { 1, 1 }, { 1, 31 }, { 5, 0 },
        { 5, 1 }, { 5, 31 }, { 5, 0x400 }, { 5, 0x401 }, { 5, 0x41f },
    };
    uint64_t translated = 0, total = 0;
    for (unsigned k = 0; k < NRR + NRR32 + 1; k++) {
        unsigned n = 0, slot = 0;
        prog[n++] = (uint32_t)(RAM_BASE + DATA_OFF) >> 12 << 12 | XBASE << 7 | 0x37;
        prog[n++] = I(32, XBASE, 1, XBASE, 0x13);
        prog[n++] = I(32, XBASE, 5, XBASE, 0x13);
        for (unsigned a = 0; a <= NREG; a++)
            for (unsigned b = 0; b < (k < NRR + NRR32 ? NREG + 1u : sizeof(wimm) / sizeof(wimm[0])); b++) {
                if (k < NRR)
                    prog[n++] = R(rr[k][0], b, a, rr[k][1], 16, 0x33);
                else if (k < NRR + NRR32)
                    prog[n++] = R(rr32[k - NRR][0], b, a, rr32[k - NRR][1], 16, 0x3b);
                else
                    prog[n++] = I((int32_t)wimm[b][1], a, wimm[b][0], 16, 0x1b);
                prog[n++] = S((int32_t)(slot % 256) * 8, 16, XBASE, 3, 0x23);   /* sd x16 */
                if (++slot % 256 == 0) {                                   /* x20 += 2048 */
                    prog[n++] = I(2047, XBASE, 0, XBASE, 0x13);
                    prog[n++] = I(1, XBASE, 0, XBASE, 0x13);
                }
            }
        prog[n++] = JAL_SELF;
        assert_true(n < TRAP_OFF / 4);
        x_init = int_edges;
        run_side(0, 0, prog, n, MSTATUS_FS, 0);
        run_side(1, 0, prog, n, MSTATUS_FS, 0);
        x_init = NULL;
        compare_sides(k);
        total += sides[1].hart.instret;
        translated += sides[1].hart.jit_insns;
        hart_destroy(&sides[0].hart);
        hart_destroy(&sides[1].hart);
    }
    printf("# integer edge cases: %llu of %llu instructions ran translated\n",
           (unsigned long long)translated, (unsigned long long)total);
    if (translated * 10 < total * 3)
        fail_msg("only %llu of %llu instructions ran translated", (unsigned long long)translated,
                 (unsigned long long)total);
}

/* negw of a value the run knows to be in [0, 2^31) is translated without its sign extension:
 * each producer (andi, srliw, srli, sltu, slti, sltiu) over the edge values, then negw (and
 * subw from x0 through the compressed-free form) of its result, translated as interpreted;
 * also producers that do not qualify (andi with a negative mask, srliw by 0, srli by 32). */
static void test_negw_of_small_values(void **state)
{
    (void)state;
    const uint32_t producers[] = {
        I(1, 0, 7, 16, 0x13), I(0x7ff, 0, 7, 16, 0x13), I(0, 0, 7, 16, 0x13),        /* andi */
        I(-1, 0, 7, 16, 0x13), I(-2048, 0, 7, 16, 0x13), I(-2, 0, 7, 16, 0x13),     /* andi, negative */
        I(1, 0, 5, 16, 0x1b), I(31, 0, 5, 16, 0x1b), I(0, 0, 5, 16, 0x1b),          /* srliw 1, 31, 0 */
        I(33, 0, 5, 16, 0x13), I(63, 0, 5, 16, 0x13), I(32, 0, 5, 16, 0x13),        /* srli 33, 63, 32 */
        I(-1, 0, 3, 16, 0x13), I(5, 0, 2, 16, 0x13),                                 /* sltiu, slti */
    };
    static uint32_t prog[4096];
    unsigned n = 0, slot = 0;
    prog[n++] = (uint32_t)(RAM_BASE + DATA_OFF) >> 12 << 12 | XBASE << 7 | 0x37;
    prog[n++] = I(32, XBASE, 1, XBASE, 0x13);
    prog[n++] = I(32, XBASE, 5, XBASE, 0x13);
    for (unsigned a = 1; a <= NREG; a++)
        for (unsigned p = 0; p < sizeof(producers) / sizeof(producers[0]); p++) {
            prog[n++] = producers[p] | a << 15;                                /* x16 = f(xa) */
            prog[n++] = R(0x20, 16, 0, 0, 17, 0x3b);                           /* negw x17, x16 */
            prog[n++] = S((int32_t)(slot % 256) * 8, 17, XBASE, 3, 0x23);      /* sd x17 */
            if (++slot % 256 == 0) {                                           /* x20 += 2048 */
                prog[n++] = I(2047, XBASE, 0, XBASE, 0x13);
                prog[n++] = I(1, XBASE, 0, XBASE, 0x13);
            }
        }
    /* a loop whose head negates a register small on entry but not from the loop's end:
     * 1, then 1 + 2^32 and 1 + 2^33, whose negw and 64-bit negation differ */
    prog[n++] = I(1, 0, 0, 19, 0x13);                                          /* li x19, 1 */
    prog[n++] = I(32, 19, 1, 19, 0x13);                                        /* slli x19, 32 */
    prog[n++] = I(3, 0, 0, 18, 0x13);                                          /* li x18, 3 */
    prog[n++] = I(1, 1, 7, 16, 0x13);                                          /* andi x16, x1, 1 */
    prog[n++] = R(0x20, 16, 0, 0, 17, 0x3b);                                   /* loop: negw x17, x16 */
    prog[n++] = S(0, 17, XBASE, 3, 0x23);                                      /* sd x17, 0(x20) */
    prog[n++] = I(8, XBASE, 0, XBASE, 0x13);                                   /* addi x20, 8 */
    prog[n++] = R(0, 19, 16, 0, 16, 0x33);                                     /* add x16, x19 */
    prog[n++] = I(-1, 18, 0, 18, 0x13);                                        /* addi x18, -1 */
    prog[n++] = B(-20, 0, 18, 1);                                              /* bnez x18, loop */
    prog[n++] = JAL_SELF;
    assert_true(n < TRAP_OFF / 4);
    x_init = int_edges;
    run_side(0, 0, prog, n, MSTATUS_FS, 0);
    run_side(1, 0, prog, n, MSTATUS_FS, 0);
    x_init = NULL;
    compare_sides(0);
    if (sides[1].hart.jit_insns * 2 < sides[1].hart.instret)
        fail_msg("only %llu of %llu instructions ran translated", (unsigned long long)sides[1].hart.jit_insns,
                 (unsigned long long)sides[1].hart.instret);
    hart_destroy(&sides[0].hart);
    hart_destroy(&sides[1].hart);
}

/* A misaligned lr or AMO, on a page the TLB holds, leaves the translated code for the
 * interpreter, which raises the misaligned trap (load for lr, store/AMO for the rest) with
 * the address in mtval. */
static void test_misaligned_amo_traps(void **state)
{
    (void)state;
    static const uint32_t ops[][2] = { { 0x02, 2 }, { 0x00, 2 }, { 0x01, 3 }, { 0x03, 3 }, { 0x1c, 2 } };
    allow_trap = true;
    for (unsigned k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
        uint32_t prog[16];
        unsigned n = 0;
        prog[n++] = (uint32_t)(RAM_BASE + DATA_OFF) >> 12 << 12 | XBASE << 7 | 0x37;
        prog[n++] = I(32, XBASE, 1, XBASE, 0x13);
        prog[n++] = I(32, XBASE, 5, XBASE, 0x13);
        prog[n++] = I(0, XBASE, 3, 4, 0x03);                                 /* ld x4, 0(x20) */
        prog[n++] = S(8, 4, XBASE, 3, 0x23);                                 /* sd x4, 8(x20) */
        /* (each missed the TLB and left for the interpreter, which filled it; a run starts
         * again at the next instruction) */
        prog[n++] = I(2 + 4 * (int32_t)k, XBASE, 0, XADDR, 0x13);            /* addi x22, x20, 2 + 4k */
        prog[n++] = I(5, 1, 0, 1, 0x13);                                     /* addi x1, x1, 5 */
        prog[n++] = ops[k][0] << 27 | (ops[k][0] == 0x02 ? 0 : 2u) << 20 | XADDR << 15 | ops[k][1] << 12 |
                    3u << 7 | 0x2f;
        prog[n++] = JAL_SELF;
        run_side(0, k, prog, n, MSTATUS_FS, 0);
        run_side(1, k, prog, n, MSTATUS_FS, 0);
        compare_sides(k);
        struct hart *a = &sides[0].hart, *b = &sides[1].hart;
        assert_int_equal(b->mcause, ops[k][0] == 0x02 ? 4 : 6);
        assert_int_equal(a->mtval, b->mtval);
        assert_int_equal(b->mtval, RAM_BASE + DATA_OFF + 2 + 4 * k);
        assert_true(b->jit_insns >= 2);  /* the two addi before it ran translated */
        hart_destroy(&sides[0].hart);
        hart_destroy(&sides[1].hart);
    }
    allow_trap = false;
}

/* instret and cycle, read twice within one block, differ by the instructions between (the
 * slow path that reads them sees the block's count so far), interpreted and translated. */
static void test_instret_counts_within_a_block(void **state)
{
    (void)state;
    uint32_t prog[64];
    unsigned n = 0;
    prog[n++] = I(0xc02, 0, 2, 5, 0x73);                 /* csrr x5, instret */
    for (unsigned k = 0; k < 10; k++)
        prog[n++] = I(1, 1, 0, 1, 0x13);                 /* addi x1, x1, 1 */
    prog[n++] = I(0xc02, 0, 2, 6, 0x73);                 /* csrr x6, instret */
    prog[n++] = R(0x20, 5, 6, 0, 7, 0x33);               /* sub x7, x6, x5 */
    prog[n++] = I(0xc00, 0, 2, 8, 0x73);                 /* csrr x8, cycle */
    for (unsigned k = 0; k < 3; k++)
        prog[n++] = I(1, 2, 0, 2, 0x13);                 /* addi x2, x2, 1 */
    prog[n++] = I(0xc00, 0, 2, 9, 0x73);                 /* csrr x9, cycle */
    prog[n++] = R(0x20, 8, 9, 0, 10, 0x33);              /* sub x10, x9, x8 */
    prog[n++] = JAL_SELF;
    for (unsigned i = 0; i < 2; i++)
        run_side(i, 1, prog, n, MSTATUS_FS, 0);
    compare_sides(1);
    for (unsigned i = 0; i < 2; i++) {
        assert_int_equal(sides[i].hart.x[7], 11);
        assert_int_equal(sides[i].hart.x[10], 4);
    }
    assert_true(sides[1].hart.jit_insns >= 10);
    hart_destroy(&sides[0].hart);
    hart_destroy(&sides[1].hart);
}

/* cycle, instret and time read in translated code: in a loop (each round's count), after
 * a forward branch, between FP instructions (the host's flags from the call into the board
 * for time must not show in fflags), and with registers held in host registers around the
 * call; every value as the interpreter reads it, and all of it translated. */
static void test_counters_read_in_translated_code(void **state)
{
    (void)state;
    uint32_t prog[64];
    unsigned n = 0;
    prog[n++] = I(5, 0, 0, 12, 0x13);                    /* li x12, 5 */
    prog[n++] = I(0xc02, 0, 2, 13, 0x73);                /* loop: rdinstret x13 */
    prog[n++] = R(0, 13, 14, 0, 14, 0x33);               /* add x14, x14, x13 */
    prog[n++] = I(0xc00, 0, 2, 15, 0x73);                /* rdcycle x15 */
    prog[n++] = R(0, 15, 14, 0, 14, 0x33);               /* add x14, x14, x15 */
    prog[n++] = I(-1, 12, 0, 12, 0x13);                  /* addi x12, x12, -1 */
    prog[n] = B(-20, 0, 12, 1);                          /* bnez x12, loop */
    n++;
    prog[n] = B(8, 0, 1, 0);                             /* beq x1, x0, +8 (taken: x1 is 0) */
    n++;
    prog[n++] = I(1, 2, 0, 2, 0x13);                     /* addi x2, x2, 1 (skipped) */
    prog[n++] = I(0xc02, 0, 6, 3, 0x73);                 /* csrrsi x3, instret, 0 */
    prog[n++] = I(0xc00, 0, 3, 4, 0x73);                 /* csrrc x4, cycle, x0 */
    prog[n++] = R(0x01, 2, 1, 7, 1, 0x53);               /* fadd.d f1, f1, f2: exact */
    prog[n++] = I(0xc01, 0, 2, 5, 0x73);                 /* rdtime x5 */
    prog[n++] = I(0x001, 0, 2, 6, 0x73);                 /* frflags x6 */
    prog[n++] = R(0, 5, 7, 0, 8, 0x33);                  /* add x8, x7, x5 */
    prog[n++] = I(0xc01, 0, 7, 9, 0x73);                 /* csrrci x9, time, 0 */
    prog[n++] = I(0xc02, 0, 2, 0, 0x73);                 /* csrr x0, instret */
    prog[n++] = I(0x340, 0, 1, 0, 0x73);                 /* csrw mscratch, x0 */
    prog[n++] = JAL_SELF;
    static const uint64_t f[3] = { 0, 0x3ff0000000000000ULL, 0x4000000000000000ULL };  /* 0, 1, 2 */
    static const uint64_t xs[NREG] = { 0, 10, 20, 30, 40, 50, 60, 70 };
    f_init = f;
    f_init_count = 3;
    x_init = xs;
    for (unsigned i = 0; i < 2; i++)
        run_side(i, 1, prog, n, MSTATUS_FS, 0);
    f_init = NULL;
    x_init = NULL;
    compare_sides(1);
    struct hart *b = &sides[1].hart;
    assert_int_equal(b->x[3], 1 + 5 * 6 + 1);            /* instret before it: li, 5 rounds of 6, beq */
    assert_int_equal(b->x[4], b->x[3] + 1);
    assert_int_equal(b->x[5], 1000);
    assert_int_equal(b->x[9], 2000);
    assert_int_equal(b->x[6], 0);
    assert_int_equal(sides[1].time, 2);
    assert_false(sides[1].misaligned);
    /* all but the last two (csrw mscratch and the jump, which end the run) ran translated */
    if (b->jit_insns + 2 < b->instret)
        fail_msg("only %llu of %llu instructions ran translated", (unsigned long long)b->jit_insns,
                 (unsigned long long)b->instret);
    hart_destroy(&sides[0].hart);
    hart_destroy(&sides[1].hart);
}

/* The privilege and the counter enables the next test runs with. */
static int ctr_priv;
static uint64_t ctr_mcounteren, ctr_scounteren;

static void set_counter_access(struct hart *h)
{
    h->priv = ctr_priv;
    h->mcounteren = ctr_mcounteren;
    h->scounteren = ctr_scounteren;
}

/* A read of cycle, time or instret below M-mode that mcounteren (or, in U-mode,
 * scounteren) does not allow raises the illegal-instruction trap, translated as
 * interpreted (priv spec 3.1.11, 4.1.5), with the same pc and mtval; one they allow reads. */
static void test_counter_read_obeys_counteren(void **state)
{
    (void)state;
    static const struct { int priv; uint64_t m, s; } cases[] = {
        { PRV_S, 0, 7 }, { PRV_S, 5, 0 }, { PRV_S, 2, 0 }, { PRV_S, 7, 0 }, { PRV_U, 7, 0 },
        { PRV_U, 0, 7 }, { PRV_U, 7, 7 }, { PRV_U, 5, 7 }, { PRV_U, 7, 3 }, { PRV_M, 0, 0 },
    };
    allow_trap = true;
    side_init = set_counter_access;
    for (unsigned k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
        for (unsigned c = 0; c < 3; c++) {
            uint32_t prog[8];
            unsigned n = 0;
            prog[n++] = I(5, 1, 0, 1, 0x13);             /* addi x1, x1, 5 */
            prog[n++] = I(7, 2, 0, 2, 0x13);             /* addi x2, x2, 7 */
            prog[n++] = I(0xc00 + (int32_t)c, 0, 2, 3, 0x73); /* csrr x3, cycle / time / instret */
            prog[n++] = I(1, 3, 0, 4, 0x13);             /* addi x4, x3, 1 */
            prog[n++] = I(0x340, 0, 1, 0, 0x73);         /* csrw mscratch, x0 (traps in U and S) */
            prog[n++] = JAL_SELF;
            ctr_priv = cases[k].priv;
            ctr_mcounteren = cases[k].m;
            ctr_scounteren = cases[k].s;
            for (unsigned i = 0; i < 2; i++)
                run_side(i, k * 3 + c, prog, n, MSTATUS_FS, 0);
            compare_sides(k * 3 + c);
            struct hart *a = &sides[0].hart, *b = &sides[1].hart;
            bool allowed = cases[k].priv == PRV_M ||
                           ((cases[k].m >> c & 1) && (cases[k].priv == PRV_S || (cases[k].s >> c & 1)));
            assert_int_equal(a->mtval, b->mtval);
            if (cases[k].priv == PRV_M) {
                assert_int_equal(b->pc, RAM_BASE + 20);  /* the end: M may write mscratch */
            } else {
                if (b->mcause != EXC_ILLEGAL)
                    fail_msg("case %u, counter %u: pc %#llx mcause %llu", k, c, (unsigned long long)b->pc,
                             (unsigned long long)b->mcause);
                assert_int_equal(b->mepc, RAM_BASE + (allowed ? 16 : 8));
            }
            if (allowed)
                assert_int_equal(b->x[4], b->x[3] + 1);
            assert_true(b->jit_insns >= 2);              /* the two addi ran translated */
            hart_destroy(&sides[0].hart);
            hart_destroy(&sides[1].hart);
        }
    side_init = NULL;
    allow_trap = false;
}

/* Two harts on two host threads, translating, each add 1 to one counter 262144 times with
 * amoadd.w and to another with an lr.d/sc.d loop: no update may be lost (with the host's
 * lock prefixes taken out, updates are lost when the threads run at once on two cores). */
static atomic_int amo_ready;

static void *amo_hart(void *arg)
{
    struct hart *h = arg;
    atomic_fetch_add(&amo_ready, 1);
    while (atomic_load(&amo_ready) < 2)
        ;
    uint64_t end = RAM_BASE + 12 * 4;
    for (unsigned k = 0; k < 1000000 && h->pc != end && h->pc != RAM_BASE + TRAP_OFF; k++)
        hart_exec_block(h, 1000);
    return NULL;
}

static void test_amo_two_harts(void **state)
{
    (void)state;
    struct side *sd = &sides[0];
    uint32_t prog[] = {
        (uint32_t)(RAM_BASE + DATA_OFF) >> 12 << 12 | XBASE << 7 | 0x37,   /* lui x20, data */
        I(32, XBASE, 1, XBASE, 0x13),                                    /* slli x20, 32 */
        I(32, XBASE, 5, XBASE, 0x13),                                    /* srli x20, 32 */
        64u << 12 | XCOUNT << 7 | 0x37,                                  /* lui x21, 64: 262144 rounds */
        I(8, XBASE, 0, XADDR, 0x13),                                     /* addi x22, x20, 8 */
        1u << 20 | XBASE << 15 | 2u << 12 | 0x2f,                        /* loop: amoadd.w x0, x1, (x20) */
        0x02u << 27 | XADDR << 15 | 3u << 12 | 5u << 7 | 0x2f,           /* retry: lr.d x5, (x22) */
        I(1, 5, 0, 5, 0x13),                                             /* addi x5, x5, 1 */
        0x03u << 27 | 5u << 20 | XADDR << 15 | 3u << 12 | 6u << 7 | 0x2f, /* sc.d x6, x5, (x22) */
        B(-12, 0, 6, 1),                                                 /* bnez x6, retry */
        I(-1, XCOUNT, 0, XCOUNT, 0x13),                                  /* addi x21, x21, -1 */
        B(-24, 0, XCOUNT, 1),                                            /* bnez x21, loop */
        JAL_SELF,
    };
    memset(sd->ram.host, 0, RAM_SIZE);
    memcpy(sd->ram.host, prog, sizeof(prog));
    memcpy(sd->ram.host + TRAP_OFF, &(uint32_t){ JAL_SELF }, 4);
    struct hart_bus bus = sd->bus;
    bus.one_hart = false;
    static struct hart h[2];
    pthread_t t[2];
    for (unsigned i = 0; i < 2; i++) {
        hart_init(&h[i], i, &bus);
        hart_reset(&h[i], RAM_BASE);
        h[i].pmpaddr[0] = ~0ULL >> 10;
        h[i].pmpcfg[0] = 0x1f;
        h[i].pmp_count = 1;
        h[i].mtvec = RAM_BASE + TRAP_OFF;
        h[i].x[1] = 1;
    }
    atomic_store(&amo_ready, 0);
    for (unsigned i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, amo_hart, &h[i]), 0);
    for (unsigned i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    uint32_t a;
    uint64_t b;
    memcpy(&a, sd->ram.host + DATA_OFF, 4);
    memcpy(&b, sd->ram.host + DATA_OFF + 8, 8);
    for (unsigned i = 0; i < 2; i++) {
        assert_int_equal(h[i].pc, RAM_BASE + 12 * 4);
        if (h[i].jit_insns * 2 < h[i].instret)
            fail_msg("hart %u: only %llu of %llu instructions ran translated", i,
                     (unsigned long long)h[i].jit_insns, (unsigned long long)h[i].instret);
    }
    assert_int_equal(a, 2 * 262144);
    assert_int_equal(b, 2 * 262144);
    for (unsigned i = 0; i < 2; i++)
        hart_destroy(&h[i]);
}

/* Random loops of FP instructions over edge-case operands (zeros, subnormals, infinities,
 * quiet and signalling NaNs, conversion boundaries): every f and x register, the data, and
 * fcsr's accrued flags agree, also as frflags/frcsr read them midway (the translated code
 * keeps flags in the host FPU until it returns) and after fsflags. Some programs run with
 * frm not RNE, or reserved (the translated code must leave dynamic-rounding instructions to
 * the interpreter, which rounds or traps), or with mstatus.FS off (the first FP
 * instruction must raise the illegal-instruction trap, translated or not). */
static void test_random_fp_loops_agree(void **state)
{
    (void)state;
    static uint32_t prog[4096];
    uint64_t total = 0, translated = 0, fp_programs = 0;
    allow_trap = true;
    for (uint64_t seed = 1; seed <= 400; seed++) {
        nregs = seed % 3 ? NREG : 3 + (unsigned)(seed % 4);
        unsigned words = gen_program(seed * 7919, prog, 6 + (unsigned)(seed % 30), 20, true);
        uint64_t fs = seed % 23 == 0 ? 0 : seed % 3 == 0 ? MSTATUS_FS : MSTATUS_FS / 3; /* off, dirty, initial */
        uint32_t frm = seed % 7 == 0 ? (uint32_t)(seed / 7 % 8) : 0;  /* 5-7: reserved */
        run_side(0, seed, prog, words, fs, frm);
        run_side(1, seed, prog, words, fs, frm);
        compare_sides(seed);
        if (fs && !frm) {
            total += sides[1].hart.instret;
            translated += sides[1].hart.jit_insns;
            fp_programs++;
        }
        hart_destroy(&sides[0].hart);
        hart_destroy(&sides[1].hart);
    }
    allow_trap = false;
    nregs = NREG;
    printf("# FP programs: %llu of %llu instructions ran translated\n", (unsigned long long)translated,
           (unsigned long long)total);
    if (translated * 10 < total * 5)
        fail_msg("only %llu of %llu instructions ran translated: is the translator off?",
                 (unsigned long long)translated, (unsigned long long)total);
}

/* One operation of the edge-case sweep: insn with rd, rs1 (and rs2 for two operands) 0,
 * over the operands in (put in f0...): result in f31 or x7, or from x6 (from_x). */
struct edge_op {
    uint32_t insn;
    bool two, fma, to_x, from_x;
    const uint64_t *in;
    unsigned nin;
    const char *name;
};
#define EDGE_D fp_edge, sizeof(fp_edge) / sizeof(fp_edge[0])
#define CVT_D cvt_edge_d, sizeof(cvt_edge_d) / sizeof(cvt_edge_d[0])
#define EDGE_S fp_edge_s, sizeof(fp_edge_s) / sizeof(fp_edge_s[0])
#define CVT_S cvt_edge_s, sizeof(cvt_edge_s) / sizeof(cvt_edge_s[0])
#define NARROW_D narrow_edge_d, sizeof(narrow_edge_d) / sizeof(narrow_edge_d[0])
#define CVT_UD cvt_edge_ud, sizeof(cvt_edge_ud) / sizeof(cvt_edge_ud[0])
#define CVT_US cvt_edge_us, sizeof(cvt_edge_us) / sizeof(cvt_edge_us[0])
#define INT_U int_edge_u, sizeof(int_edge_u) / sizeof(int_edge_u[0])

/* True if the FP operation insn has a rounding mode (its funct3 is rm). */
static bool edge_rounds(uint32_t insn)
{
    if ((insn & 0x7f) != 0x53)
        return true;                                 /* the FMAs */
    switch ((insn >> 25) & ~1u) {
    case 0x00: case 0x04: case 0x08: case 0x0c: case 0x2c: case 0x20: case 0x60: case 0x68:
        return true;
    default:
        return false;
    }
}

/* Every translated FP operation over every pair of edge-case operands (and, for the FMAs,
 * five addends), each result and the flags it raised stored apart (slot k at 16 k in the
 * data), so that no wrong flag hides behind another's: translated and interpreted must
 * agree on every one. */
static void test_fp_edge_cases(void **state)
{
    (void)state;
    static const uint32_t addend[] = { 6, 9, 0, 5, 2 };  /* in fp_edge: qNaN, sNaN, +0, -inf, 1.0 */
    const struct edge_op edge_ops[] = {
        { R(0x01, 0, 0, 7, 0, 0x53), true, false, false, false, EDGE_D, "fadd.d" },
        { R(0x05, 0, 0, 0, 0, 0x53), true, false, false, false, EDGE_D, "fsub.d" },
        { R(0x09, 0, 0, 7, 0, 0x53), true, false, false, false, EDGE_D, "fmul.d" },
        { R(0x0d, 0, 0, 0, 0, 0x53), true, false, false, false, EDGE_D, "fdiv.d" },
        { R(0x2d, 0, 0, 7, 0, 0x53), false, false, false, false, EDGE_D, "fsqrt.d" },
        { 1u << 25 | 7u << 12 | 0x43, true, true, false, false, EDGE_D, "fmadd.d" },
        { 1u << 25 | 0u << 12 | 0x47, true, true, false, false, EDGE_D, "fmsub.d" },
        { 1u << 25 | 7u << 12 | 0x4b, true, true, false, false, EDGE_D, "fnmsub.d" },
        { 1u << 25 | 0u << 12 | 0x4f, true, true, false, false, EDGE_D, "fnmadd.d" },
        { R(0x11, 0, 0, 0, 0, 0x53), true, false, false, false, EDGE_D, "fsgnj.d" },
        { R(0x11, 0, 0, 1, 0, 0x53), true, false, false, false, EDGE_D, "fsgnjn.d" },
        { R(0x11, 0, 0, 2, 0, 0x53), true, false, false, false, EDGE_D, "fsgnjx.d" },
        { R(0x15, 0, 0, 0, 0, 0x53), true, false, false, false, EDGE_D, "fmin.d" },
        { R(0x15, 0, 0, 1, 0, 0x53), true, false, false, false, EDGE_D, "fmax.d" },
        { R(0x51, 0, 0, 0, 0, 0x53), true, false, true, false, EDGE_D, "fle.d" },
        { R(0x51, 0, 0, 1, 0, 0x53), true, false, true, false, EDGE_D, "flt.d" },
        { R(0x51, 0, 0, 2, 0, 0x53), true, false, true, false, EDGE_D, "feq.d" },
        { R(0x69, 0, 0, 7, 0, 0x53), false, false, false, true, EDGE_D, "fcvt.d.w" },
        { R(0x69, 1, 0, 0, 0, 0x53), false, false, false, true, EDGE_D, "fcvt.d.wu" },
        { R(0x69, 2, 0, 7, 0, 0x53), false, false, false, true, EDGE_D, "fcvt.d.l" },
        { R(0x61, 0, 0, 1, 0, 0x53), false, false, true, false, CVT_D, "fcvt.w.d rtz" },
        { R(0x61, 0, 0, 0, 0, 0x53), false, false, true, false, CVT_D, "fcvt.w.d rne" },
        { R(0x61, 0, 0, 7, 0, 0x53), false, false, true, false, CVT_D, "fcvt.w.d dyn" },
        { R(0x61, 2, 0, 1, 0, 0x53), false, false, true, false, CVT_D, "fcvt.l.d rtz" },
        { R(0x61, 2, 0, 0, 0, 0x53), false, false, true, false, CVT_D, "fcvt.l.d rne" },
        { R(0x61, 2, 0, 7, 0, 0x53), false, false, true, false, CVT_D, "fcvt.l.d dyn" },
        { R(0x00, 0, 0, 7, 0, 0x53), true, false, false, false, EDGE_S, "fadd.s" },
        { R(0x04, 0, 0, 0, 0, 0x53), true, false, false, false, EDGE_S, "fsub.s" },
        { R(0x08, 0, 0, 7, 0, 0x53), true, false, false, false, EDGE_S, "fmul.s" },
        { R(0x0c, 0, 0, 0, 0, 0x53), true, false, false, false, EDGE_S, "fdiv.s" },
        { R(0x2c, 0, 0, 7, 0, 0x53), false, false, false, false, EDGE_S, "fsqrt.s" },
        { 0u << 25 | 7u << 12 | 0x43, true, true, false, false, EDGE_S, "fmadd.s" },
        { 0u << 25 | 0u << 12 | 0x47, true, true, false, false, EDGE_S, "fmsub.s" },
        { 0u << 25 | 7u << 12 | 0x4b, true, true, false, false, EDGE_S, "fnmsub.s" },
        { 0u << 25 | 0u << 12 | 0x4f, true, true, false, false, EDGE_S, "fnmadd.s" },
        { R(0x10, 0, 0, 0, 0, 0x53), true, false, false, false, EDGE_S, "fsgnj.s" },
        { R(0x10, 0, 0, 1, 0, 0x53), true, false, false, false, EDGE_S, "fsgnjn.s" },
        { R(0x10, 0, 0, 2, 0, 0x53), true, false, false, false, EDGE_S, "fsgnjx.s" },
        { R(0x14, 0, 0, 0, 0, 0x53), true, false, false, false, EDGE_S, "fmin.s" },
        { R(0x14, 0, 0, 1, 0, 0x53), true, false, false, false, EDGE_S, "fmax.s" },
        { R(0x50, 0, 0, 0, 0, 0x53), true, false, true, false, EDGE_S, "fle.s" },
        { R(0x50, 0, 0, 1, 0, 0x53), true, false, true, false, EDGE_S, "flt.s" },
        { R(0x50, 0, 0, 2, 0, 0x53), true, false, true, false, EDGE_S, "feq.s" },
        { R(0x70, 0, 0, 0, 0, 0x53), false, false, true, false, EDGE_S, "fmv.x.w" },
        { R(0x78, 0, 0, 0, 0, 0x53), false, false, false, true, EDGE_D, "fmv.w.x" },
        { R(0x71, 0, 0, 1, 0, 0x53), false, false, true, false, EDGE_D, "fclass.d" },
        { R(0x71, 0, 0, 1, 0, 0x53), false, false, true, false, CVT_D, "fclass.d" },
        { R(0x70, 0, 0, 1, 0, 0x53), false, false, true, false, EDGE_S, "fclass.s" },
        { R(0x70, 0, 0, 1, 0, 0x53), false, false, true, false, CVT_S, "fclass.s" },
        { R(0x68, 0, 0, 7, 0, 0x53), false, false, false, true, EDGE_D, "fcvt.s.w" },
        { R(0x68, 1, 0, 0, 0, 0x53), false, false, false, true, EDGE_D, "fcvt.s.wu" },
        { R(0x68, 2, 0, 7, 0, 0x53), false, false, false, true, EDGE_D, "fcvt.s.l" },
        { R(0x68, 2, 0, 0, 0, 0x53), false, false, false, true, CVT_D, "fcvt.s.l" },
        { R(0x20, 1, 0, 7, 0, 0x53), false, false, false, false, EDGE_D, "fcvt.s.d" },
        { R(0x20, 1, 0, 0, 0, 0x53), false, false, false, false, NARROW_D, "fcvt.s.d" },
        { R(0x21, 0, 0, 0, 0, 0x53), false, false, false, false, EDGE_S, "fcvt.d.s" },
        { R(0x21, 0, 0, 1, 0, 0x53), false, false, false, false, CVT_S, "fcvt.d.s rtz" },
        { R(0x60, 0, 0, 1, 0, 0x53), false, false, true, false, CVT_S, "fcvt.w.s rtz" },
        { R(0x60, 0, 0, 0, 0, 0x53), false, false, true, false, CVT_S, "fcvt.w.s rne" },
        { R(0x60, 0, 0, 7, 0, 0x53), false, false, true, false, CVT_S, "fcvt.w.s dyn" },
        { R(0x60, 2, 0, 1, 0, 0x53), false, false, true, false, CVT_S, "fcvt.l.s rtz" },
        { R(0x60, 2, 0, 0, 0, 0x53), false, false, true, false, CVT_S, "fcvt.l.s rne" },
        { R(0x60, 2, 0, 7, 0, 0x53), false, false, true, false, CVT_S, "fcvt.l.s dyn" },
        { R(0x61, 1, 0, 1, 0, 0x53), false, false, true, false, CVT_UD, "fcvt.wu.d rtz" },
        { R(0x61, 1, 0, 0, 0, 0x53), false, false, true, false, CVT_UD, "fcvt.wu.d rne" },
        { R(0x61, 1, 0, 7, 0, 0x53), false, false, true, false, CVT_D, "fcvt.wu.d dyn" },
        { R(0x61, 3, 0, 1, 0, 0x53), false, false, true, false, CVT_UD, "fcvt.lu.d rtz" },
        { R(0x61, 3, 0, 0, 0, 0x53), false, false, true, false, CVT_UD, "fcvt.lu.d rne" },
        { R(0x61, 3, 0, 7, 0, 0x53), false, false, true, false, CVT_D, "fcvt.lu.d dyn" },
        { R(0x60, 1, 0, 1, 0, 0x53), false, false, true, false, CVT_US, "fcvt.wu.s rtz" },
        { R(0x60, 1, 0, 0, 0, 0x53), false, false, true, false, CVT_US, "fcvt.wu.s rne" },
        { R(0x60, 1, 0, 7, 0, 0x53), false, false, true, false, CVT_S, "fcvt.wu.s dyn" },
        { R(0x60, 3, 0, 1, 0, 0x53), false, false, true, false, CVT_US, "fcvt.lu.s rtz" },
        { R(0x60, 3, 0, 0, 0, 0x53), false, false, true, false, CVT_US, "fcvt.lu.s rne" },
        { R(0x60, 3, 0, 7, 0, 0x53), false, false, true, false, CVT_S, "fcvt.lu.s dyn" },
        { R(0x69, 1, 0, 7, 0, 0x53), false, false, false, true, INT_U, "fcvt.d.wu" },
        { R(0x69, 3, 0, 7, 0, 0x53), false, false, false, true, INT_U, "fcvt.d.lu" },
        { R(0x68, 1, 0, 0, 0, 0x53), false, false, false, true, INT_U, "fcvt.s.wu" },
        { R(0x68, 3, 0, 7, 0, 0x53), false, false, false, true, INT_U, "fcvt.s.lu" },
        { R(0x68, 2, 0, 0, 0, 0x53), false, false, false, true, INT_U, "fcvt.s.l" },
        { R(0x69, 2, 0, 0, 0, 0x53), false, false, false, true, INT_U, "fcvt.d.l" },
    };
    static uint32_t prog[65536];
    static uint16_t slot_arg[3][(RAM_SIZE - DATA_OFF) / 16];
    /* each operation that rounds, under every static rounding mode and under frm = each */
    static const uint32_t modes[][2] = { { 0, 0 }, { 1, 0 }, { 2, 0 }, { 3, 0 }, { 4, 0 },
                                         { 7, 0 }, { 7, 1 }, { 7, 2 }, { 7, 3 }, { 7, 4 } };
    uint64_t translated = 0, total = 0;
    unsigned nedge = sizeof(edge_ops) / sizeof(edge_ops[0]);
    for (unsigned k = 0; k < nedge * 10; k++) {
        const struct edge_op *e = &edge_ops[k / 10];
        unsigned m = k % 10;
        bool dup = false;
        for (unsigned k2 = 0; k2 < k / 10; k2++)
            dup |= edge_rounds(e->insn) && edge_ops[k2].in == e->in &&
                   ((edge_ops[k2].insn ^ e->insn) & ~(7u << 12)) == 0;
        if (dup || (m > 0 && !edge_rounds(e->insn)))
            continue;
        uint32_t insn = edge_rounds(e->insn) ? (e->insn & ~(7u << 12)) | modes[m][0] << 12 : e->insn;
        uint32_t frm = edge_rounds(e->insn) ? modes[m][1] : 0;
        unsigned n = 0, slot = 0, ne = e->nin;
        assert_true(ne <= 31 && (!e->fma || e->in == fp_edge || e->in == fp_edge_s));
        prog[n++] = (uint32_t)(RAM_BASE + DATA_OFF) >> 12 << 12 | XBASE << 7 | 0x37;
        prog[n++] = I(32, XBASE, 1, XBASE, 0x13);
        prog[n++] = I(32, XBASE, 5, XBASE, 0x13);
        for (unsigned a = 0; a < ne; a++)
            for (unsigned b = 0; b < (e->two ? ne : 1u); b++)
                for (unsigned c = 0; c < (e->fma ? 5u : 1u); c++) {
                    uint32_t src = a, rd = e->to_x ? 7 : 31;
                    if (e->from_x) {
                        prog[n++] = R(0x71, 0, a, 0, 6, 0x53);          /* fmv.x.d x6, fa */
                        src = 6;
                    }
                    prog[n++] = insn | (e->fma ? addend[c] << 27 : 0) | (e->two ? b << 20 : 0) |
                                src << 15 | rd << 7;
                    if (e->to_x)
                        prog[n++] = S((int32_t)(slot % 128) * 16, 7, XBASE, 3, 0x23);   /* sd x7 */
                    else
                        prog[n++] = S((int32_t)(slot % 128) * 16, 31, XBASE, 3, 0x27);  /* fsd f31 */
                    prog[n++] = I(0x001, 0, 2, 5, 0x73);                 /* frflags x5 */
                    prog[n++] = S((int32_t)(slot % 128) * 16 + 8, 5, XBASE, 3, 0x23);
                    prog[n++] = I(0x001, 0, 1, 0, 0x73);                 /* fsflags x0 */
                    slot_arg[0][slot] = (uint16_t)a;
                    slot_arg[1][slot] = (uint16_t)b;
                    slot_arg[2][slot] = (uint16_t)c;
                    if (++slot % 128 == 0) {                             /* x20 += 2048 */
                        prog[n++] = I(2047, XBASE, 0, XBASE, 0x13);
                        prog[n++] = I(1, XBASE, 0, XBASE, 0x13);
                    }
                    assert_true(n + 16 < sizeof(prog) / sizeof(prog[0]) && slot < sizeof(slot_arg[0]) / 2);
                }
        prog[n++] = JAL_SELF;
        f_init = e->in;
        f_init_count = ne;
        run_side(0, 0, prog, n, MSTATUS_FS, frm);
        run_side(1, 0, prog, n, MSTATUS_FS, frm);
        f_init = NULL;
        for (unsigned i = 0; i < slot; i++) {
            uint64_t v[2][2];
            for (unsigned sd = 0; sd < 2; sd++)
                memcpy(v[sd], sides[sd].ram.host + DATA_OFF + 16 * i, 16);
            if (memcmp(v[0], v[1], 16) != 0)
                fail_msg("%s rm %u frm %u: %#llx, %#llx (addend %u): interpreted %#llx flags %#llx, "
                         "translated %#llx flags %#llx", e->name, (insn >> 12) & 7, frm,
                         (unsigned long long)e->in[slot_arg[0][i]],
                         (unsigned long long)e->in[slot_arg[1][i]], slot_arg[2][i], (unsigned long long)v[0][0],
                         (unsigned long long)v[0][1], (unsigned long long)v[1][0], (unsigned long long)v[1][1]);
        }
        compare_sides(k);
        total += sides[1].hart.instret;
        translated += sides[1].hart.jit_insns;
        hart_destroy(&sides[0].hart);
        hart_destroy(&sides[1].hart);
    }
    printf("# edge cases: %llu of %llu instructions ran translated\n", (unsigned long long)translated,
           (unsigned long long)total);
    if (translated * 10 < total * 3)
        fail_msg("only %llu of %llu instructions ran translated", (unsigned long long)translated,
                 (unsigned long long)total);
}

/* An FP load that faults leaves mstatus.FS as it was (found by fuzz_jit_diff: the
 * translated code marked the state dirty before the load left for the interpreter). */
static void test_faulting_fp_load_leaves_fs_clean(void **state)
{
    (void)state;
    static uint32_t prog[16];
    unsigned n = 0;
    prog[n++] = I(0x100, 0, 0, 5, 0x13);          /* li x5, 0x100: not RAM */
    prog[n++] = I(8, 5, 3, 1, 0x07);              /* fld f1, 8(x5): faults */
    prog[n++] = I(0x340, 0, 1, 0, 0x73);
    prog[n++] = JAL_SELF;
    allow_trap = true;
    for (unsigned i = 0; i < 2; i++) {
        run_side(i, 1, prog, n, MSTATUS_FS / 3, 0);   /* FS = Initial */
        assert_int_equal(sides[i].hart.mcause, EXC_LOAD_ACCESS);
        assert_int_equal(sides[i].hart.mstatus & MSTATUS_FS, MSTATUS_FS / 3);
    }
    allow_trap = false;
    compare_sides(1);
    hart_destroy(&sides[0].hart);
    hart_destroy(&sides[1].hart);
}

/* A run made while frm was RNE, run again with frm RDN without being made again: its
 * dynamic-rounding instructions must round down (the run leaves for the interpreter, whose
 * result the translated side must equal), and the other way round. 1/10 rounds up to
 * nearest and down to ...99. */
static void test_run_made_for_one_frm_runs_under_another(void **state)
{
    (void)state;
    uint32_t prog[] = {
        I(1, 0, 0, 5, 0x13),                  /* addi x5, x0, 1 */
        I(10, 0, 0, 6, 0x13),                 /* addi x6, x0, 10 */
        R(0x69, 2, 5, 7, 1, 0x53),            /* fcvt.d.l f1, x5, dyn */
        R(0x69, 2, 6, 7, 2, 0x53),            /* fcvt.d.l f2, x6, dyn */
        R(0x0d, 2, 1, 7, 3, 0x53),            /* fdiv.d f3, f1, f2, dyn */
        R(0x71, 0, 3, 0, 7, 0x53),            /* fmv.x.d x7, f3 */
        JAL_SELF,
    };
    unsigned words = sizeof(prog) / 4;
    static const uint32_t modes[][2] = { { 0, 2 }, { 2, 0 }, { 3, 1 } };
    for (unsigned m = 0; m < 3; m++) {
        uint32_t made = modes[m][0], now = modes[m][1];
        run_side(0, 1, prog, words, MSTATUS_FS, now);
        uint64_t want = sides[0].hart.x[7];
        run_side(1, 1, prog, words, MSTATUS_FS, made);
        struct hart *h = &sides[1].hart;
        assert_true(h->jit_insns > 0);
        h->pc = RAM_BASE;
        h->fcsr = now << 5;
        for (unsigned k = 0; k < 100 && h->pc != RAM_BASE + (words - 1) * 4ULL; k++)
            hart_exec_block(h, 1000);
        assert_int_equal(h->pc, RAM_BASE + (words - 1) * 4ULL);
        if (h->x[7] != want)
            fail_msg("made for frm %u, run under %u: %#llx, interpreted %#llx", made, now,
                     (unsigned long long)h->x[7], (unsigned long long)want);
        if (m == 2)
            assert_int_equal(want & 0xf, 0x9); /* RTZ: 1/10 truncated */
        hart_destroy(&sides[0].hart);
        hart_destroy(&sides[1].hart);
    }
}

/* frflags in translated code with no FP arithmetic in the hart's runs yet: the host FPU's
 * sticky flags left by earlier host code must not show (found by fuzz_jit_diff, which saw
 * a stale NX only after other inputs had run). */
static void test_frflags_ignores_stale_host_flags(void **state)
{
    (void)state;
    static uint32_t prog[16];
    unsigned n = 0;
    prog[n++] = I(0x001, 0, 2, 5, 0x73);          /* frflags x5 */
    prog[n++] = I(1, 5, 0, 6, 0x13);              /* addi x6, x5, 1 */
    prog[n++] = I(0x340, 0, 1, 0, 0x73);
    prog[n++] = JAL_SELF;
    for (unsigned i = 0; i < 2; i++) {
        volatile double third = 1.0, three = 3.0;
        third = third / three;                    /* leaves the host's inexact flag set */
        run_side(i, 1, prog, n, MSTATUS_FS, 0);
        assert_int_equal(sides[i].hart.x[5], 0);
    }
    compare_sides(1);
    assert_true(sides[1].hart.jit_insns > 0);
    hart_destroy(&sides[0].hart);
    hart_destroy(&sides[1].hart);
}

/* The translator exists on this host, and a hart gets a code buffer it can run. */
static void test_translator_is_on(void **state)
{
    (void)state;
    static uint32_t prog[64];
    unsigned n = 0;
    prog[n++] = I(1000, 0, 0, 1, 0x13);           /* li x1, 1000 */
    prog[n++] = I(0, 0, 0, 2, 0x13);              /* li x2, 0 */
    prog[n++] = R(0, 1, 2, 0, 2, 0x33);           /* loop: add x2, x2, x1 */
    prog[n++] = I(-1, 1, 0, 1, 0x13);             /* addi x1, x1, -1 */
    prog[n] = B(-8, 0, 1, 1);                     /* bnez x1, loop */
    n++;
    prog[n++] = JAL_SELF;
    run_side(1, 0, prog, n, MSTATUS_FS, 0);
    assert_int_equal(sides[1].hart.x[2], 500500);
    if (sides[1].hart.jit_insns < 2900)
        fail_msg("%llu of %llu instructions ran translated: the translator is off or has no code buffer",
                 (unsigned long long)sides[1].hart.jit_insns, (unsigned long long)sides[1].hart.instret);
    hart_destroy(&sides[1].hart);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_translator_is_on, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_loops_agree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_int_edge_cases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_negw_of_small_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_misaligned_amo_traps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_instret_counts_within_a_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counters_read_in_translated_code, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counter_read_obeys_counteren, setup, teardown),
        cmocka_unit_test_setup_teardown(test_amo_two_harts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_fp_loops_agree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fp_edge_cases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faulting_fp_load_leaves_fs_clean, setup, teardown),
        cmocka_unit_test_setup_teardown(test_frflags_ignores_stale_host_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_made_for_one_frm_runs_under_another, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
