/* Unit tests of the translator against the interpreter: the same programs run on a hart that
 * only interprets (hart.interp_only) and on one that translates, and every register, the pc
 * and the data they wrote must agree. Each test also checks that the translating hart really
 * ran most of the program as translated code (hart.jit_insns), so that with the translator
 * off, or its code buffer not mapped, the tests fail instead of comparing the interpreter
 * with itself. */
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
};

static int bus_load(void *c, uint64_t pa, unsigned s, uint64_t *v) { (void)c; (void)pa; (void)s; (void)v; return -EFAULT; }
static int bus_store(void *c, uint64_t pa, unsigned s, uint64_t v) { (void)c; (void)pa; (void)s; (void)v; return -EFAULT; }
static uint64_t bus_time(void *c) { (void)c; return 0; }
static void bus_poll(void *c, struct hart *h) { (void)c; (void)h; }
static void bus_wait(void *c, struct hart *h) { (void)c; (void)h; }

static struct side sides[2]; /* [0] interprets, [1] translates */

static int setup(void **state)
{
    (void)state;
    for (unsigned i = 0; i < 2; i++) {
        struct side *s = &sides[i];
        s->ram = (struct guest_mem){ calloc(1, RAM_SIZE), RAM_BASE, RAM_SIZE, NULL };
        if (!s->ram.host)
            return -1;
        s->bus = (struct hart_bus){ s, &s->ram, bus_load, bus_store, bus_time, bus_poll, bus_wait,
                                    NULL, true, NULL };
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
enum { NREG = 15, XBASE = 20, XCOUNT = 21, XADDR = 22 };

static uint32_t reg(uint64_t *s) { return 1 + (uint32_t)(rnd(s) % NREG); }

/* One random instruction of those the translator handles (and a few it leaves to the
 * interpreter, so that runs end in the middle too), writing x1-x15 only. */
static unsigned gen_insn(uint64_t *s, uint32_t *out)
{
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
    uint32_t rd = reg(s), a = reg(s), b = reg(s);
    int32_t imm = (int32_t)(rnd(s) % 4096) - 2048;
    switch (rnd(s) % 10) {
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
    default: {                           /* a store into the data */
        out[0] = I(0x7f8, a, 7, XADDR, 0x13);
        out[1] = R(0, XBASE, XADDR, 0, XADDR, 0x33);
        out[2] = S((int32_t)(rnd(s) % 0x400), b, XADDR, (uint32_t)(rnd(s) % 4), 0x23);
        return 3;
    }
    }
}

/* A program: set x1-x15 from the seed, then a loop of body instructions run iters times,
 * then jal x0, 0. Returns its length in words. */
static unsigned gen_program(uint64_t seed, uint32_t *p, unsigned body, unsigned iters)
{
    uint64_t s = seed;
    unsigned n = 0;
    p[n++] = (uint32_t)(RAM_BASE + DATA_OFF) >> 12 << 12 | XBASE << 7 | 0x37; /* lui x20 */
    p[n++] = I(32, XBASE, 1, XBASE, 0x13);                                     /* slli x20, 32 */
    p[n++] = I(32, XBASE, 5, XBASE, 0x13);                                     /* srli x20, 32 */
    p[n++] = 0x0000100f;                                                       /* fence.i */
    p[n++] = I((int32_t)iters, 0, 0, XCOUNT, 0x13);                            /* li x21 */
    unsigned top = n;
    for (unsigned i = 0; i < body; i++)
        n += gen_insn(&s, &p[n]);
    p[n] = I(-1, XCOUNT, 0, XCOUNT, 0x13);                                     /* addi x21, -1 */
    n++;
    p[n] = B(-(int32_t)(n - top) * 4, 0, XCOUNT, 1);                           /* bnez x21, top */
    n++;
    p[n++] = JAL_SELF;
    return n;
}

/* Runs the program on side i from the same start: x1-x15 from the seed, the data from it. */
static void run_side(unsigned i, uint64_t seed, const uint32_t *prog, unsigned words)
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
    uint64_t end = RAM_BASE + (words - 1) * 4ULL;
    for (unsigned k = 0; k < 100000 && h->pc != end && h->pc != RAM_BASE + TRAP_OFF; k++)
        hart_exec_block(h, 1000);
    if (h->pc != end)
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
    if (memcmp(sides[0].ram.host + DATA_OFF, sides[1].ram.host + DATA_OFF, DATA_SIZE + 0x400) != 0)
        fail_msg("seed %llu: the data differ", (unsigned long long)seed);
    assert_int_equal(a->instret, b->instret);
}

/* Random straight-line loops: every result agrees, and the translating hart ran nearly all of
 * them as translated code. */
static void test_random_loops_agree(void **state)
{
    (void)state;
    static uint32_t prog[4096];
    uint64_t total = 0, translated = 0;
    for (uint64_t seed = 1; seed <= 300; seed++) {
        unsigned words = gen_program(seed, prog, 8 + (unsigned)(seed % 40), 50);
        run_side(0, seed, prog, words);
        run_side(1, seed, prog, words);
        compare_sides(seed);
        assert_int_equal(sides[0].hart.jit_insns, 0);
        total += sides[1].hart.instret;
        translated += sides[1].hart.jit_insns;
        hart_destroy(&sides[0].hart);
        hart_destroy(&sides[1].hart);
    }
    printf("# %llu of %llu instructions ran translated\n", (unsigned long long)translated,
           (unsigned long long)total);
    /* loops of 50 rounds: all but the first round and the instructions the translator leaves
     * to the interpreter (cpop, sext.b/h, mulhsu, and each run's first pass) */
    if (translated * 10 < total * 7)
        fail_msg("only %llu of %llu instructions ran translated: is the translator off?",
                 (unsigned long long)translated, (unsigned long long)total);
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
    run_side(1, 0, prog, n);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
