/* Harts sharing one code cache (cpu/codecache.h): what one hart translated another runs
 * without translating it again; and two harts running the same code at once, while their
 * fence.i's make pages come back to life, pages are given up for others and the code
 * buffer runs out over and over, compute exactly what one interpreting hart computes. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cpu/codecache.h"
#include "cpu/exec.h"
#include "cpu/hart.h"
#include "rv_encode.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (8u << 20)
#define TRAP_OFF 0x7000          /* mtvec: jal x0, 0 */
#define END_OFF 0x800            /* where the program ends: jal x0, 0 */
#define NFUNC 32

static struct guest_mem ram;

static int bus_load(void *c, uint64_t pa, unsigned s, uint64_t *v) { (void)c; (void)pa; (void)s; (void)v; return -EFAULT; }
static int bus_store(void *c, uint64_t pa, unsigned s, uint64_t v) { (void)c; (void)pa; (void)s; (void)v; return -EFAULT; }
static uint64_t bus_time(void *c) { (void)c; return 0; }
static void bus_poll(void *c, struct hart *h) { (void)c; (void)h; }
static void bus_wait(void *c, struct hart *h) { (void)c; (void)h; }

static void put32(uint64_t off, uint32_t v) { memcpy(ram.host + off, &v, 4); }

/* Function f's page. With crowd, the first six share one set of the cache's (four ways),
 * so calling them in turn gives pages up for others all the time; else, and the rest, have
 * sets of their own. */
static bool crowd;
static unsigned rounds;
static uint64_t func_off(unsigned f)
{
    return crowd && f < 6 ? (1 + 256ULL * f) << 12 : (uint64_t)(2 + f) << 12;
}

/* Two mains: at 0, rounds times (the second: rounds / 50 + 1), call every function (auipc + jalr) in turn and fence.i,
 * then go to END_OFF; at MAIN1_OFF the same with the functions in the opposite order.
 * Function f: about 150 ALU instructions on x5-x9 made from f, then a loop of x13 rounds,
 * then ret. */
#define MAIN1_OFF 0x400
static void write_main(uint64_t o, bool reverse)
{
    put32(o, I((int32_t)(reverse ? rounds / 50 + 1 : rounds), 0, 0, 21, 0x13)); o += 4; /* addi x21, x0, n */
    /* the second main stays long in each function, so that the first, passing through the
     * crowded set, gives up the very page the second is running in */
    put32(o, I(reverse ? 2000 : 3, 0, 0, 13, 0x13)); o += 4;           /* addi x13, x0, n */
    uint64_t loop = o;
    for (unsigned k = 0; k < NFUNC; k++) {
        unsigned f = reverse ? NFUNC - 1 - k : k;
        int64_t d = (int64_t)func_off(f) - (int64_t)o;
        int32_t lo = (int32_t)((d & 0xfff) ^ 0x800) - 0x800, hi = (int32_t)((d - lo) >> 12);
        put32(o, (uint32_t)hi << 12 | 10u << 7 | 0x17); o += 4;        /* auipc x10, hi */
        put32(o, I(lo, 10, 0, 1, 0x67)); o += 4;                       /* jalr x1, lo(x10) */
    }
    put32(o, 0x0000100fu); o += 4;                                     /* fence.i */
    put32(o, I(-1, 21, 0, 21, 0x13)); o += 4;                          /* addi x21, x21, -1 */
    put32(o, B((int32_t)(loop - o), 0, 21, 1)); o += 4;                /* bnez x21, loop */
    int64_t d = (int64_t)END_OFF - (int64_t)o;
    put32(o, (uint32_t)((d >> 20 & 1) << 31 | (d >> 1 & 0x3ff) << 21 | (d >> 11 & 1) << 20 |
                        (d >> 12 & 0xff) << 12) | 0x6f);               /* jal x0, END_OFF */
    assert_true(o < (reverse ? END_OFF : MAIN1_OFF));
}

static void write_program(void)
{
    memset(ram.host, 0, RAM_SIZE);
    write_main(0, false);
    write_main(MAIN1_OFF, true);
    put32(END_OFF, 0x6f);
    put32(TRAP_OFF, 0x6f);
    for (unsigned f = 0; f < NFUNC; f++) {
        uint64_t p = func_off(f);
        for (unsigned i = 0; i < 140; i++) {
            unsigned k = (f * 131 + i * 7) % 8, a = 5 + (i + f) % 5, b = 5 + (i * 3 + f) % 5;
            uint32_t w;
            switch (k) {
            case 0: w = I((int32_t)(f * 17 + i) % 2000 - 1000, a, 0, b, 0x13); break;  /* addi */
            case 1: w = R(0, b, a, 4, a, 0x33); break;                                 /* xor */
            case 2: w = I((int32_t)(1 + (i + f) % 31), a, 1, b, 0x13); break;          /* slli */
            case 3: w = R(0, a, b, 0, b, 0x33); break;                                 /* add */
            case 4: w = I((int32_t)(1 + (i * f) % 29), b, 5, a, 0x13); break;          /* srli */
            case 5: w = R(0x20, b, a, 0, a, 0x33); break;                              /* sub */
            case 6: w = R(1, a, b, 0, b, 0x33); break;                                 /* mul */
            default: w = R(0, a, b, 6, a, 0x33); break;                                /* or */
            }
            put32(p, w); p += 4;
        }
        put32(p, I(0, 13, 0, 11, 0x13)); p += 4;                       /* addi x11, x13, 0 */
        put32(p, I((int32_t)f, 5, 0, 5, 0x13)); p += 4;                /* l: addi x5, x5, f */
        put32(p, R(0, 5, 6, 4, 6, 0x33)); p += 4;                      /* xor x6, x6, x5 */
        put32(p, I(-1, 11, 0, 11, 0x13)); p += 4;                      /* addi x11, x11, -1 */
        put32(p, B(-12, 0, 11, 1)); p += 4;                            /* bnez x11, l */
        put32(p, I(0, 1, 0, 0, 0x67));                                 /* ret */
    }
}

/* hart id, at main m */
static void start(struct hart *h, unsigned id, const struct hart_bus *bus, unsigned m)
{
    hart_init(h, id, bus);
    hart_reset(h, RAM_BASE + (m ? MAIN1_OFF : 0));
    h->pmpaddr[0] = ~0ULL >> 10;
    h->pmpcfg[0] = 0x1f;
    h->pmp_count = 1;
    h->mtvec = RAM_BASE + TRAP_OFF;
    for (unsigned r = 5; r <= 9; r++)
        h->x[r] = 0x9e3779b97f4a7c15ULL * r;
}

static void *run(void *arg)
{
    struct hart *h = arg;
    for (unsigned k = 0; k < 10000000 && h->pc != RAM_BASE + END_OFF && h->pc != RAM_BASE + TRAP_OFF; k++)
        hart_exec_block(h, 16384);
    return NULL;
}

static struct hart ref_hart, harts[2];

/* x5-x9 at the end of main id, from one hart that only interprets */
static void reference(unsigned id, uint64_t *out)
{
    struct hart_bus bus = { NULL, &ram, bus_load, bus_store, bus_time, bus_poll, bus_wait, NULL, true, NULL, NULL };
    start(&ref_hart, 0, &bus, id);
    ref_hart.interp_only = true;
    run(&ref_hart);
    assert_int_equal(ref_hart.pc, RAM_BASE + END_OFF);
    memcpy(out, &ref_hart.x[5], 5 * 8);
    hart_destroy(&ref_hart);
}

static void test_a_second_hart_runs_what_the_first_translated(void **state)
{
    (void)state;
    crowd = false;
    rounds = 40;
    write_program();
    uint64_t want[1][5];
    reference(0, want[0]);
    struct hart_bus bus = { NULL, &ram, bus_load, bus_store, bus_time, bus_poll, bus_wait, NULL, false, NULL,
                            code_shared_new(2) };
    assert_non_null(bus.code);
    for (unsigned i = 0; i < 2; i++)
        start(&harts[i], i, &bus, 0);
    assert_ptr_equal(harts[0].code->cs, harts[1].code->cs);
    run(&harts[0]);
    uint32_t runs = bus.code->jit.nruns;
    assert_true(runs > 10);
    run(&harts[1]);
    for (unsigned i = 0; i < 2; i++) {
        assert_int_equal(harts[i].pc, RAM_BASE + END_OFF);
        assert_memory_equal(&harts[i].x[5], want[0], sizeof(want[0]));
        if (harts[i].jit_insns * 2 < harts[i].instret)
            fail_msg("hart %u: only %llu of %llu instructions ran translated", i,
                     (unsigned long long)harts[i].jit_insns, (unsigned long long)harts[i].instret);
    }
    /* the second hart found every run made: it translated nothing */
    assert_int_equal(bus.code->jit.nruns, runs);
    for (unsigned i = 0; i < 2; i++)
        hart_destroy(&harts[i]);
    code_shared_free(bus.code);
}

static void test_two_harts_at_once_while_the_buffer_runs_out(void **state)
{
    (void)state;
    crowd = true;
    rounds = 1500;
    write_program();
    uint64_t want[2][5];
    reference(0, want[0]);
    reference(1, want[1]);
    /* room for a few dozen runs: emptied many times per round */
    jit_test_size = JIT_START + (64u << 10);
    for (unsigned trial = 0; trial < 2; trial++) {
        struct hart_bus bus = { NULL, &ram, bus_load, bus_store, bus_time, bus_poll, bus_wait, NULL, false, NULL,
                                code_shared_new(2) };
        assert_non_null(bus.code);
        for (unsigned i = 0; i < 2; i++)
            start(&harts[i], i, &bus, i);
        /* in the second trial the second hart interprets: it runs from the pages' entries
         * all the time, not from host code */
        harts[1].interp_only = trial == 1;
        pthread_t t[2];
        for (unsigned i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&t[i], NULL, run, &harts[i]), 0);
        for (unsigned i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        for (unsigned i = 0; i < 2; i++) {
            assert_int_equal(harts[i].pc, RAM_BASE + END_OFF);
            assert_memory_equal(&harts[i].x[5], want[i], sizeof(want[i]));
            /* how much runs translated depends on how the threads meet (the buffer is full
             * for as long as the other hart stays in its block): only that some did */
            if (!harts[i].interp_only && harts[i].jit_insns == 0)
                fail_msg("hart %u: nothing of %llu instructions ran translated", i,
                         (unsigned long long)harts[i].instret);
        }
        for (unsigned i = 0; i < 2; i++)
            hart_destroy(&harts[i]);
        code_shared_free(bus.code);
    }
    jit_test_size = 0;
}

static int setup(void **state)
{
    (void)state;
    ram = (struct guest_mem){ calloc(1, RAM_SIZE), RAM_BASE, RAM_SIZE, NULL };
    return ram.host ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(ram.host);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_second_hart_runs_what_the_first_translated),
        cmocka_unit_test(test_two_harts_at_once_while_the_buffer_runs_out),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
