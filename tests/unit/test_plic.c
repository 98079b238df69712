/* Unit tests for the PLIC model in the SiFive / QEMU virt register layout: priorities,
 * pending, enables, thresholds, claim/complete and the context output lines. No board. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dev/plic.h"

#define NSRC 40 /* sources 0..39: two pending words, the second partly beyond the last source */
#define NCTX 2

#define PRIORITY(s)  (4ULL * (s))
#define PENDING(w)   (0x1000ULL + 4ULL * (w))
#define ENABLE(c, w) (0x2000ULL + 0x80ULL * (c) + 4ULL * (w))
#define THRESHOLD(c) (0x200000ULL + 0x1000ULL * (c))
#define CLAIM(c)     (0x200004ULL + 0x1000ULL * (c))

struct fixture {
    struct plic *p;
    int level[NCTX];
    int calls[NCTX];
};

static void record_out(void *ctx, unsigned num, int level)
{
    struct fixture *f = ctx;
    assert_true(num < NCTX);
    f->level[num] = level;
    f->calls[num]++;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    struct irq_line out[NCTX];
    for (unsigned c = 0; c < NCTX; c++)
        out[c] = (struct irq_line){ record_out, f, c };
    f->p = plic_create(NSRC, NCTX, out);
    if (!f->p) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    plic_destroy(f->p);
    free(f);
    return 0;
}

static uint32_t rd(struct fixture *f, uint64_t off)
{
    uint64_t v = 0xdeadbeefcafeULL;
    assert_int_equal(plic_read(f->p, off, 4, &v), 0);
    assert_true(v <= UINT32_MAX);
    return (uint32_t)v;
}

static void wr(struct fixture *f, uint64_t off, uint32_t v)
{
    assert_int_equal(plic_write(f->p, off, 4, v), 0);
}

static void enable(struct fixture *f, unsigned ctx, unsigned src)
{
    uint64_t off = ENABLE(ctx, src / 32);
    wr(f, off, rd(f, off) | (1u << (src % 32)));
}

static void test_priority_read_write(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(rd(f, PRIORITY(1)), 0);
    wr(f, PRIORITY(1), 3);
    wr(f, PRIORITY(39), 7);
    assert_int_equal(rd(f, PRIORITY(1)), 3);
    assert_int_equal(rd(f, PRIORITY(39)), 7);
    assert_int_equal(rd(f, PRIORITY(2)), 0);
    /* WARL: only the implemented priority bits stick */
    wr(f, PRIORITY(2), 0xffffffff);
    assert_int_equal(rd(f, PRIORITY(2)), 7);
}

static void test_source_zero_and_out_of_range_priorities_ignored(void **state)
{
    struct fixture *f = *state;
    wr(f, PRIORITY(0), 5);
    assert_int_equal(rd(f, PRIORITY(0)), 0);
    wr(f, PRIORITY(NSRC), 5);
    assert_int_equal(rd(f, PRIORITY(NSRC)), 0);
    wr(f, PRIORITY(1023), 5);
    assert_int_equal(rd(f, PRIORITY(1023)), 0);
}

static void test_pending_follows_level_lines(void **state)
{
    struct fixture *f = *state;
    plic_set_irq(f->p, 5, 1);
    plic_set_irq(f->p, 35, 1);
    assert_int_equal(rd(f, PENDING(0)), 1u << 5);
    assert_int_equal(rd(f, PENDING(1)), 1u << 3);
    /* a line dropped before the claim withdraws its request, as in QEMU (the PLIC spec's
     * gateway would keep the IP bit set and let the handler find nothing to do) */
    plic_set_irq(f->p, 5, 0);
    assert_int_equal(rd(f, PENDING(0)), 0);
    assert_int_equal(rd(f, PENDING(1)), 1u << 3);
    plic_set_irq(f->p, 5, 1);
    plic_set_irq(f->p, 5, 1); /* same level again is harmless */
    assert_int_equal(rd(f, PENDING(0)), 1u << 5);
    /* pending bits are read-only */
    wr(f, PENDING(0), 0);
    assert_int_equal(rd(f, PENDING(0)), 1u << 5);
    wr(f, PENDING(1), 0xffffffff);
    assert_int_equal(rd(f, PENDING(1)), 1u << 3);
}

static void test_source_zero_and_out_of_range_lines_ignored(void **state)
{
    struct fixture *f = *state;
    plic_set_irq(f->p, 0, 1);
    plic_set_irq(f->p, NSRC, 1);
    plic_set_irq(f->p, 1000, 1);
    plic_set_irq(f->p, UINT32_MAX, 1);
    for (unsigned w = 0; w < 32; w++)
        assert_int_equal(rd(f, PENDING(w)), 0);
    for (unsigned c = 0; c < NCTX; c++) {
        wr(f, ENABLE(c, 0), 0xffffffff);
        wr(f, ENABLE(c, 1), 0xffffffff);
        assert_int_equal(rd(f, CLAIM(c)), 0);
        assert_int_equal(f->level[c], 0);
    }
}

static void test_enables_are_per_context_and_masked(void **state)
{
    struct fixture *f = *state;
    wr(f, ENABLE(0, 0), 0x000000f0);
    wr(f, ENABLE(1, 0), 0x0000ff00);
    assert_int_equal(rd(f, ENABLE(0, 0)), 0x000000f0);
    assert_int_equal(rd(f, ENABLE(1, 0)), 0x0000ff00);
    /* bit 0 (source 0) is hardwired to zero */
    wr(f, ENABLE(0, 0), 0xffffffff);
    assert_int_equal(rd(f, ENABLE(0, 0)), 0xfffffffe);
    /* only sources 32..39 exist in the second word */
    wr(f, ENABLE(0, 1), 0xffffffff);
    assert_int_equal(rd(f, ENABLE(0, 1)), 0x000000ff);
    wr(f, ENABLE(0, 2), 0xffffffff);
    assert_int_equal(rd(f, ENABLE(0, 2)), 0);
    assert_int_equal(rd(f, ENABLE(1, 0)), 0x0000ff00);
    assert_int_equal(rd(f, ENABLE(1, 1)), 0);
}

static void test_threshold_read_write(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(rd(f, THRESHOLD(0)), 0);
    wr(f, THRESHOLD(0), 4);
    wr(f, THRESHOLD(1), 2);
    assert_int_equal(rd(f, THRESHOLD(0)), 4);
    assert_int_equal(rd(f, THRESHOLD(1)), 2);
}

static void test_output_needs_enable_priority_and_pending(void **state)
{
    struct fixture *f = *state;
    plic_set_irq(f->p, 10, 1);
    assert_int_equal(f->level[0], 0); /* priority 0: never */
    enable(f, 0, 10);
    assert_int_equal(f->level[0], 0);
    wr(f, PRIORITY(10), 1);
    assert_int_equal(f->level[0], 1);
    assert_int_equal(f->level[1], 0); /* not enabled for context 1 */
    plic_set_irq(f->p, 10, 0);
    assert_int_equal(f->level[0], 0);
    plic_set_irq(f->p, 10, 1);
    assert_int_equal(f->level[0], 1);
    wr(f, ENABLE(0, 0), 0);
    assert_int_equal(f->level[0], 0);
}

static void test_threshold_masks_priority_at_or_below(void **state)
{
    struct fixture *f = *state;
    wr(f, PRIORITY(3), 3);
    enable(f, 0, 3);
    plic_set_irq(f->p, 3, 1);
    assert_int_equal(f->level[0], 1);
    wr(f, THRESHOLD(0), 3); /* equal: masked */
    assert_int_equal(f->level[0], 0);
    assert_int_equal(rd(f, CLAIM(0)), 0);
    assert_int_equal(rd(f, PENDING(0)), 1u << 3); /* still pending */
    wr(f, THRESHOLD(0), 2);
    assert_int_equal(f->level[0], 1);
    assert_int_equal(rd(f, CLAIM(0)), 3);
}

static void test_claim_returns_highest_priority(void **state)
{
    struct fixture *f = *state;
    wr(f, PRIORITY(4), 2);
    wr(f, PRIORITY(9), 6);
    wr(f, PRIORITY(33), 4);
    wr(f, ENABLE(0, 0), 0xffffffff);
    wr(f, ENABLE(0, 1), 0xffffffff);
    plic_set_irq(f->p, 4, 1);
    plic_set_irq(f->p, 9, 1);
    plic_set_irq(f->p, 33, 1);
    assert_int_equal(rd(f, CLAIM(0)), 9);
    assert_int_equal(rd(f, CLAIM(0)), 33);
    assert_int_equal(rd(f, CLAIM(0)), 4);
    assert_int_equal(rd(f, CLAIM(0)), 0);
    assert_int_equal(f->level[0], 0);
}

static void test_claim_ties_go_to_lowest_id(void **state)
{
    struct fixture *f = *state;
    static const unsigned srcs[] = { 37, 12, 6, 20 };
    wr(f, ENABLE(0, 0), 0xffffffff);
    wr(f, ENABLE(0, 1), 0xffffffff);
    for (size_t i = 0; i < ARRAY_SIZE(srcs); i++) {
        wr(f, PRIORITY(srcs[i]), 5);
        plic_set_irq(f->p, srcs[i], 1);
    }
    assert_int_equal(rd(f, CLAIM(0)), 6);
    assert_int_equal(rd(f, CLAIM(0)), 12);
    assert_int_equal(rd(f, CLAIM(0)), 20);
    assert_int_equal(rd(f, CLAIM(0)), 37);
    assert_int_equal(rd(f, CLAIM(0)), 0);
}

static void test_claim_clears_pending_and_lowers_output(void **state)
{
    struct fixture *f = *state;
    wr(f, PRIORITY(7), 1);
    enable(f, 0, 7);
    plic_set_irq(f->p, 7, 1);
    assert_int_equal(f->level[0], 1);
    assert_int_equal(rd(f, CLAIM(0)), 7);
    assert_int_equal(rd(f, PENDING(0)), 0);
    assert_int_equal(f->level[0], 0);
    assert_int_equal(rd(f, CLAIM(0)), 0); /* in service: not claimable twice */
}

static void test_complete_repends_while_line_high(void **state)
{
    struct fixture *f = *state;
    wr(f, PRIORITY(7), 1);
    enable(f, 0, 7);
    plic_set_irq(f->p, 7, 1);
    assert_int_equal(rd(f, CLAIM(0)), 7);
    wr(f, CLAIM(0), 7); /* device still asserts its line */
    assert_int_equal(rd(f, PENDING(0)), 1u << 7);
    assert_int_equal(f->level[0], 1);
    assert_int_equal(rd(f, CLAIM(0)), 7);
    plic_set_irq(f->p, 7, 0); /* the handler quiets the device */
    wr(f, CLAIM(0), 7);
    assert_int_equal(rd(f, PENDING(0)), 0);
    assert_int_equal(f->level[0], 0);
    assert_int_equal(rd(f, CLAIM(0)), 0);
}

static void test_line_raised_during_service_waits_for_complete(void **state)
{
    struct fixture *f = *state;
    wr(f, PRIORITY(8), 1);
    enable(f, 0, 8);
    plic_set_irq(f->p, 8, 1);
    assert_int_equal(rd(f, CLAIM(0)), 8);
    plic_set_irq(f->p, 8, 0);
    plic_set_irq(f->p, 8, 1);
    assert_int_equal(rd(f, PENDING(0)), 0);
    assert_int_equal(f->level[0], 0);
    wr(f, CLAIM(0), 8);
    assert_int_equal(rd(f, PENDING(0)), 1u << 8);
    assert_int_equal(f->level[0], 1);
}

static void test_complete_of_source_not_enabled_is_ignored(void **state)
{
    struct fixture *f = *state;
    wr(f, PRIORITY(8), 1);
    enable(f, 0, 8);
    plic_set_irq(f->p, 8, 1);
    assert_int_equal(rd(f, CLAIM(0)), 8);
    wr(f, CLAIM(1), 8); /* context 1 has not enabled source 8 */
    assert_int_equal(rd(f, PENDING(0)), 0);
    assert_int_equal(f->level[0], 0);
    wr(f, CLAIM(0), 0);    /* source 0 */
    wr(f, CLAIM(0), NSRC); /* beyond the last source */
    wr(f, CLAIM(0), 0xffffffff);
    assert_int_equal(rd(f, PENDING(0)), 0);
    wr(f, CLAIM(0), 8);
    assert_int_equal(rd(f, PENDING(0)), 1u << 8);
}

static void test_contexts_claim_only_their_enabled_sources(void **state)
{
    struct fixture *f = *state;
    wr(f, PRIORITY(2), 1);
    wr(f, PRIORITY(3), 1);
    enable(f, 0, 2);
    enable(f, 1, 3);
    plic_set_irq(f->p, 2, 1);
    assert_int_equal(f->level[0], 1);
    assert_int_equal(f->level[1], 0);
    plic_set_irq(f->p, 3, 1);
    assert_int_equal(f->level[1], 1);
    assert_int_equal(rd(f, CLAIM(1)), 3);
    assert_int_equal(rd(f, CLAIM(1)), 0);
    assert_int_equal(f->level[0], 1);
    assert_int_equal(f->level[1], 0);
    assert_int_equal(rd(f, CLAIM(0)), 2);
}

static void test_claim_by_one_context_lowers_the_other(void **state)
{
    struct fixture *f = *state;
    wr(f, PRIORITY(11), 2);
    enable(f, 0, 11);
    enable(f, 1, 11);
    plic_set_irq(f->p, 11, 1);
    assert_int_equal(f->level[0], 1);
    assert_int_equal(f->level[1], 1);
    assert_int_equal(rd(f, CLAIM(1)), 11);
    assert_int_equal(f->level[0], 0);
    assert_int_equal(f->level[1], 0);
    assert_int_equal(rd(f, CLAIM(0)), 0);
    wr(f, CLAIM(1), 11);
    assert_int_equal(f->level[0], 1);
    assert_int_equal(f->level[1], 1);
}

static void test_output_only_signals_changes(void **state)
{
    struct fixture *f = *state;
    wr(f, PRIORITY(1), 1);
    wr(f, PRIORITY(2), 1);
    enable(f, 0, 1);
    enable(f, 0, 2);
    int before = f->calls[0];
    plic_set_irq(f->p, 1, 1);
    plic_set_irq(f->p, 2, 1);
    plic_set_irq(f->p, 2, 1);
    assert_int_equal(f->level[0], 1);
    assert_int_equal(f->calls[0], before + 1);
}

static void test_bad_sizes_and_offsets_ignored(void **state)
{
    struct fixture *f = *state;
    static const unsigned sizes[] = { 0, 1, 2, 3, 8 };
    wr(f, PRIORITY(5), 2);
    enable(f, 0, 5);
    plic_set_irq(f->p, 5, 1);
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        uint64_t v = 0x55;
        assert_int_equal(plic_write(f->p, PRIORITY(5), sizes[i], 7), 0);
        assert_int_equal(plic_read(f->p, CLAIM(0), sizes[i], &v), 0); /* must not claim */
        assert_int_equal(v, 0);
        assert_int_equal(plic_read(f->p, PRIORITY(5), sizes[i], &v), 0);
        assert_int_equal(v, 0);
    }
    assert_int_equal(plic_write(f->p, PRIORITY(5) + 1, 4, 7), 0); /* misaligned */
    assert_int_equal(rd(f, PRIORITY(5)), 2);
    assert_int_equal(rd(f, PENDING(0)), 1u << 5);
    /* a context that does not exist, and gaps in the map */
    static const uint64_t offs[] = {
        ENABLE(NCTX, 0), THRESHOLD(NCTX), CLAIM(NCTX), THRESHOLD(0) + 8, 0x1080, 0x1ffc,
        0x1ffffc, 0x3fffffc, 0x4000000, UINT64_MAX - 3,
    };
    for (size_t i = 0; i < ARRAY_SIZE(offs); i++) {
        wr(f, offs[i], 0xffffffff);
        assert_int_equal(rd(f, offs[i]), 0);
    }
    assert_int_equal(rd(f, THRESHOLD(0)), 0);
    assert_int_equal(rd(f, THRESHOLD(1)), 0);
    assert_int_equal(rd(f, ENABLE(1, 0)), 0);
    assert_int_equal(rd(f, PENDING(0)), 1u << 5);
    assert_int_equal(f->level[0], 1);
    assert_int_equal(rd(f, CLAIM(0)), 5);
}

static void test_reset_clears_state_keeps_high_lines_pending(void **state)
{
    struct fixture *f = *state;
    wr(f, PRIORITY(6), 3);
    wr(f, PRIORITY(7), 3);
    enable(f, 0, 6);
    enable(f, 0, 7);
    wr(f, THRESHOLD(1), 5);
    plic_set_irq(f->p, 6, 1);
    plic_set_irq(f->p, 7, 1);
    assert_int_equal(rd(f, CLAIM(0)), 6);
    plic_set_irq(f->p, 7, 0);
    assert_int_equal(f->level[0], 0);
    plic_set_irq(f->p, 7, 1);
    assert_int_equal(f->level[0], 1);
    plic_reset(f->p);
    assert_int_equal(f->level[0], 0);
    assert_int_equal(rd(f, PRIORITY(6)), 0);
    assert_int_equal(rd(f, ENABLE(0, 0)), 0);
    assert_int_equal(rd(f, THRESHOLD(1)), 0);
    /* the claimed source 6 is free again and, like 7, pending because its line is high */
    assert_int_equal(rd(f, PENDING(0)), (1u << 6) | (1u << 7));
    wr(f, PRIORITY(6), 1);
    enable(f, 0, 6);
    assert_int_equal(f->level[0], 1);
    assert_int_equal(rd(f, CLAIM(0)), 6);
}

static void test_create_rejects_bad_sizes(void **state)
{
    (void)state;
    struct irq_line out[1] = { { NULL, NULL, 0 } };
    assert_null(plic_create(2000, 1, out));
    assert_null(plic_create(32, 0, out));
    struct plic *p = plic_create(1024, 1, out);
    assert_non_null(p);
    plic_set_irq(p, 1023, 1);
    uint64_t v = 0;
    assert_int_equal(plic_read(p, PENDING(31), 4, &v), 0);
    assert_int_equal(v, 1u << 31);
    plic_destroy(p);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_priority_read_write),
        T(test_source_zero_and_out_of_range_priorities_ignored),
        T(test_pending_follows_level_lines),
        T(test_source_zero_and_out_of_range_lines_ignored),
        T(test_enables_are_per_context_and_masked),
        T(test_threshold_read_write),
        T(test_output_needs_enable_priority_and_pending),
        T(test_threshold_masks_priority_at_or_below),
        T(test_claim_returns_highest_priority),
        T(test_claim_ties_go_to_lowest_id),
        T(test_claim_clears_pending_and_lowers_output),
        T(test_complete_repends_while_line_high),
        T(test_line_raised_during_service_waits_for_complete),
        T(test_complete_of_source_not_enabled_is_ignored),
        T(test_contexts_claim_only_their_enabled_sources),
        T(test_claim_by_one_context_lowers_the_other),
        T(test_output_only_signals_changes),
        T(test_bad_sizes_and_offsets_ignored),
        T(test_reset_clears_state_keeps_high_lines_pending),
        cmocka_unit_test(test_create_rejects_bad_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
