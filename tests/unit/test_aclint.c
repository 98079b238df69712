/* Unit tests for the ACLINT (SiFive CLINT layout): MSIP, mtimecmp and mtime through MMIO,
 * with a fake timebase and recording MTIP/MSIP lines. No board, no hart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dev/aclint.h"

#define NHARTS 2

#define MSIP(h)     (4ULL * (h))
#define MTIMECMP(h) (0x4000ULL + 8ULL * (h))
#define MTIME       0xbff8ULL

struct fixture {
    struct aclint *a;
    uint64_t clock;
    int mtip[NHARTS], msip[NHARTS];
    int mtip_calls[NHARTS], msip_calls[NHARTS];
};

static uint64_t fake_now(void *ctx)
{
    return ((struct fixture *)ctx)->clock;
}

static void set_mtip(void *ctx, unsigned num, int level)
{
    struct fixture *f = ctx;
    assert_true(num < NHARTS);
    f->mtip[num] = level;
    f->mtip_calls[num]++;
}

static void set_msip(void *ctx, unsigned num, int level)
{
    struct fixture *f = ctx;
    assert_true(num < NHARTS);
    f->msip[num] = level;
    f->msip_calls[num]++;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->clock = 1000;
    struct irq_line mtip[NHARTS], msip[NHARTS];
    for (unsigned h = 0; h < NHARTS; h++) {
        mtip[h] = (struct irq_line){ set_mtip, f, h };
        msip[h] = (struct irq_line){ set_msip, f, h };
        f->mtip[h] = f->msip[h] = -1; /* neither level yet: reset must drive them */
    }
    f->a = aclint_create(NHARTS, fake_now, f, mtip, msip);
    if (!f->a) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    aclint_destroy(f->a);
    free(f);
    return 0;
}

static uint64_t rd(struct fixture *f, uint64_t off, unsigned size)
{
    uint64_t v = 0xdeadbeefdeadbeefULL;
    assert_int_equal(aclint_read(f->a, off, size, &v), 0);
    return v;
}

static void wr(struct fixture *f, uint64_t off, unsigned size, uint64_t v)
{
    assert_int_equal(aclint_write(f->a, off, size, v), 0);
}

static void test_reset_state(void **state)
{
    struct fixture *f = *state;
    for (unsigned h = 0; h < NHARTS; h++) {
        assert_int_equal(f->mtip[h], 0);
        assert_int_equal(f->msip[h], 0);
        assert_int_equal(rd(f, MSIP(h), 4), 0);
        assert_int_equal(aclint_mtimecmp(f->a, h), UINT64_MAX);
        assert_int_equal(rd(f, MTIMECMP(h), 8), UINT64_MAX);
    }
    assert_int_equal(rd(f, MTIME, 8), 1000);
}

static void test_msip_raises_and_lowers_software_interrupt(void **state)
{
    struct fixture *f = *state;
    wr(f, MSIP(1), 4, 1);
    assert_int_equal(f->msip[1], 1);
    assert_int_equal(f->msip[0], 0);
    assert_int_equal(rd(f, MSIP(1), 4), 1);
    assert_int_equal(rd(f, MSIP(0), 4), 0);
    wr(f, MSIP(1), 4, 0);
    assert_int_equal(f->msip[1], 0);
    assert_int_equal(rd(f, MSIP(1), 4), 0);
    wr(f, MSIP(0), 4, 1);
    assert_int_equal(f->msip[0], 1);
    assert_int_equal(f->msip[1], 0);
    assert_int_equal(f->mtip[0], 0); /* the timer line is separate */
}

static void test_msip_only_bit_zero_is_writable(void **state)
{
    struct fixture *f = *state;
    wr(f, MSIP(0), 4, 0xfffffffe);
    assert_int_equal(rd(f, MSIP(0), 4), 0);
    assert_int_equal(f->msip[0], 0);
    wr(f, MSIP(0), 4, 0xffffffff);
    assert_int_equal(rd(f, MSIP(0), 4), 1);
    assert_int_equal(f->msip[0], 1);
}

static void test_mtime_follows_the_clock(void **state)
{
    struct fixture *f = *state;
    f->clock = 0x123456789abcdef0ULL;
    assert_int_equal(rd(f, MTIME, 8), 0x123456789abcdef0ULL);
    assert_int_equal(rd(f, MTIME, 4), 0x9abcdef0ULL);
    assert_int_equal(rd(f, MTIME + 4, 4), 0x12345678ULL);
    assert_int_equal(aclint_mtime(f->a), 0x123456789abcdef0ULL);
    f->clock += 0x10;
    assert_int_equal(rd(f, MTIME, 4), 0x9abcdf00ULL);
}

static void test_mtimecmp_at_or_below_mtime_raises_timer(void **state)
{
    struct fixture *f = *state;
    wr(f, MTIMECMP(0), 8, 1001);
    assert_int_equal(f->mtip[0], 0);
    wr(f, MTIMECMP(0), 8, 1000); /* equal: pending */
    assert_int_equal(f->mtip[0], 1);
    assert_int_equal(f->mtip[1], 0);
    wr(f, MTIMECMP(0), 8, 5);
    assert_int_equal(f->mtip[0], 1);
    wr(f, MTIMECMP(0), 8, UINT64_MAX); /* moving it ahead clears MTIP */
    assert_int_equal(f->mtip[0], 0);
    assert_int_equal(aclint_mtimecmp(f->a, 0), UINT64_MAX);
    wr(f, MTIMECMP(1), 8, 0);
    assert_int_equal(f->mtip[1], 1);
    assert_int_equal(f->mtip[0], 0);
    assert_int_equal(f->msip[1], 0); /* the software line is separate */
}

static void test_timer_fires_when_time_reaches_mtimecmp(void **state)
{
    struct fixture *f = *state;
    wr(f, MTIMECMP(1), 8, 1500);
    assert_int_equal(f->mtip[1], 0);
    f->clock = 1499;
    aclint_update(f->a);
    assert_int_equal(f->mtip[1], 0);
    f->clock = 1500;
    aclint_update(f->a);
    assert_int_equal(f->mtip[1], 1);
    assert_int_equal(f->mtip[0], 0);
    f->clock = 9999;
    aclint_update(f->a);
    assert_int_equal(f->mtip[1], 1);
}

static void test_mtimecmp_32bit_halves(void **state)
{
    struct fixture *f = *state;
    /* the RV32 sequence: park low at all-ones, write high, then low */
    wr(f, MTIMECMP(1), 4, 0xffffffff);
    wr(f, MTIMECMP(1) + 4, 4, 0x00000001);
    assert_int_equal(f->mtip[1], 0);
    wr(f, MTIMECMP(1), 4, 0x00000002);
    assert_int_equal(aclint_mtimecmp(f->a, 1), 0x0000000100000002ULL);
    assert_int_equal(rd(f, MTIMECMP(1), 8), 0x0000000100000002ULL);
    assert_int_equal(rd(f, MTIMECMP(1), 4), 0x00000002);
    assert_int_equal(rd(f, MTIMECMP(1) + 4, 4), 0x00000001);
    assert_int_equal(aclint_mtimecmp(f->a, 0), UINT64_MAX); /* hart 0 untouched */
    wr(f, MTIMECMP(1) + 4, 4, 0);
    assert_int_equal(aclint_mtimecmp(f->a, 1), 2);
    assert_int_equal(f->mtip[1], 1);
}

static void test_mtime_write_moves_the_counter(void **state)
{
    struct fixture *f = *state;
    wr(f, MTIME, 8, 50000);
    assert_int_equal(rd(f, MTIME, 8), 50000);
    f->clock += 25;
    assert_int_equal(rd(f, MTIME, 8), 50025);
    assert_int_equal(aclint_mtime(f->a), 50025);
    wr(f, MTIME + 4, 4, 0x7);
    assert_int_equal(rd(f, MTIME, 8), 0x700000000ULL + 50025);
    wr(f, MTIME, 4, 0x10);
    assert_int_equal(rd(f, MTIME, 8), 0x700000010ULL);
    /* moving mtime past mtimecmp raises the timer without any update() call */
    wr(f, MTIMECMP(0), 8, 0x800000000ULL);
    assert_int_equal(f->mtip[0], 0);
    wr(f, MTIME, 8, 0x800000000ULL);
    assert_int_equal(f->mtip[0], 1);
    wr(f, MTIME, 8, 0);
    assert_int_equal(f->mtip[0], 0);
    aclint_reset(f->a);
    assert_int_equal(rd(f, MTIME, 8), f->clock);
}

static void test_nonexistent_harts_ignored(void **state)
{
    struct fixture *f = *state;
    int msip_calls = f->msip_calls[0] + f->msip_calls[1];
    int mtip_calls = f->mtip_calls[0] + f->mtip_calls[1];
    wr(f, MSIP(NHARTS), 4, 1);
    wr(f, MSIP(4094), 4, 1);
    wr(f, MTIMECMP(NHARTS), 8, 0);
    wr(f, MTIMECMP(NHARTS), 4, 0);
    wr(f, MTIMECMP(4094) + 4, 4, 0);
    assert_int_equal(f->msip_calls[0] + f->msip_calls[1], msip_calls);
    assert_int_equal(f->mtip_calls[0] + f->mtip_calls[1], mtip_calls);
    assert_int_equal(rd(f, MSIP(NHARTS), 4), 0);
    assert_int_equal(rd(f, MTIMECMP(NHARTS), 8), 0);
    assert_int_equal(aclint_mtimecmp(f->a, NHARTS), UINT64_MAX);
    for (unsigned h = 0; h < NHARTS; h++) {
        assert_int_equal(aclint_mtimecmp(f->a, h), UINT64_MAX);
        assert_int_equal(rd(f, MSIP(h), 4), 0);
    }
}

static void test_bad_sizes_and_offsets_ignored(void **state)
{
    struct fixture *f = *state;
    static const unsigned sizes[] = { 0, 1, 2, 3, 16 };
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        wr(f, MSIP(0), sizes[i], 1);
        wr(f, MTIMECMP(0), sizes[i], 0);
        wr(f, MTIME, sizes[i], 0);
        assert_int_equal(rd(f, MSIP(0), sizes[i]), 0);
        assert_int_equal(rd(f, MTIMECMP(0), sizes[i]), 0);
        assert_int_equal(rd(f, MTIME, sizes[i]), 0);
    }
    wr(f, MSIP(0) + 1, 4, 1);                          /* misaligned MSIP */
    wr(f, MSIP(0), 8, 1);                              /* MSIP is 32 bits */
    static const uint64_t gaps[] = { 0x3ff8, 0x8000, 0xbff0, 0xc000, 0x10000, UINT64_MAX - 7 };
    for (size_t i = 0; i < ARRAY_SIZE(gaps); i++) {
        wr(f, gaps[i], 8, 0);
        wr(f, gaps[i], 4, 1);
        assert_int_equal(rd(f, gaps[i], 8), 0);
        assert_int_equal(rd(f, gaps[i], 4), 0);
    }
    assert_int_equal(f->msip[0], 0);
    assert_int_equal(f->mtip[0], 0);
    assert_int_equal(aclint_mtimecmp(f->a, 0), UINT64_MAX);
    assert_int_equal(rd(f, MTIME, 8), 1000);
}

static void test_reset_lowers_lines_and_restores_mtimecmp(void **state)
{
    struct fixture *f = *state;
    wr(f, MSIP(0), 4, 1);
    wr(f, MSIP(1), 4, 1);
    wr(f, MTIMECMP(0), 8, 0);
    wr(f, MTIMECMP(1), 8, 0);
    assert_int_equal(f->mtip[1], 1);
    aclint_reset(f->a);
    for (unsigned h = 0; h < NHARTS; h++) {
        assert_int_equal(f->msip[h], 0);
        assert_int_equal(f->mtip[h], 0);
        assert_int_equal(rd(f, MSIP(h), 4), 0);
        assert_int_equal(aclint_mtimecmp(f->a, h), UINT64_MAX);
    }
    aclint_update(f->a);
    assert_int_equal(f->mtip[0], 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_reset_state),
        T(test_msip_raises_and_lowers_software_interrupt),
        T(test_msip_only_bit_zero_is_writable),
        T(test_mtime_follows_the_clock),
        T(test_mtimecmp_at_or_below_mtime_raises_timer),
        T(test_timer_fires_when_time_reaches_mtimecmp),
        T(test_mtimecmp_32bit_halves),
        T(test_mtime_write_moves_the_counter),
        T(test_nonexistent_harts_ignored),
        T(test_bad_sizes_and_offsets_ignored),
        T(test_reset_lowers_lines_and_restores_mtimecmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
