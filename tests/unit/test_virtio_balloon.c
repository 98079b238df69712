/* Unit tests for virtio-balloon (balloon.c), driven through its virtio-mmio registers over a
 * fake guest RAM: the target and its config interrupt, inflated and reported ranges reaching
 * the discard callback (and ranges outside RAM never reaching it), the queue numbering that
 * follows the features, and the statistics buffer the device holds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "dev/virtio/balloon.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (8u << 20)
#define QSIZE 8
#include "fake_ring.h"
#include "fake_driver.h"

#define DATA (RAM_BASE + 0x20000)
#define PFN0 (RAM_BASE >> 12)

#define F_STATS (1ULL << 1)
#define F_OOM (1ULL << 2)
#define F_REPORT (1ULL << 5)
#define Q_INFLATE 0
#define Q_DEFLATE 1
#define Q_STATS 2
#define Q_REPORT 3 /* with STATS_VQ; 2 without */

#define MAX_RANGES 64

static struct virtio_balloon *bal;
static struct virtio_dev *dev;
static struct { uint64_t gpa, len; } ranges[MAX_RANGES];
static unsigned n_ranges;

static void record_discard(void *ctx, uint64_t gpa, uint64_t len)
{
    assert_ptr_equal(ctx, &n_ranges);
    assert_true(n_ranges < MAX_RANGES);
    ranges[n_ranges].gpa = gpa;
    ranges[n_ranges].len = len;
    n_ranges++;
}

static void assert_range(unsigned i, uint64_t gpa, uint64_t len)
{
    assert_true(i < n_ranges);
    assert_int_equal(ranges[i].gpa, gpa);
    assert_int_equal(ranges[i].len, len);
}

static int create(bool oom)
{
    if (setup_ram())
        return -1;
    n_ranges = 0;
    struct virtio_slot s = slot("virtio-balloon");
    bal = virtio_balloon_create(&s, oom, record_discard, &n_ranges);
    if (!bal)
        return -1;
    dev = virtio_balloon_dev(bal);
    return 0;
}

/* The features Linux takes from us: statistics and free page reporting. */
static int setup(void **state)
{
    (void)state;
    if (create(false))
        return -1;
    return bring_up(dev, V1 | F_STATS | F_REPORT, 4) ? 0 : -1;
}

static int setup_created(void **state)
{
    (void)state;
    return create(false);
}

static int teardown(void **state)
{
    (void)state;
    virtio_balloon_destroy(bal);
    bal = NULL;
    free_ram();
    return 0;
}

static struct balloon_info info(void)
{
    struct balloon_info i;
    virtio_balloon_get(bal, &i);
    return i;
}

/* Writes N page frame numbers at DATA and submits them as one readable buffer on QI. */
static uint32_t submit_pfns(unsigned qi, uint16_t head, const uint32_t *pfn, unsigned n)
{
    memcpy(gp(DATA), pfn, 4ULL * n);
    set_desc(q_desc(qi), head, DATA, 4 * n, 0, 0);
    return submit(dev, qi, head);
}

static void test_balloon_identifies_and_offers(void **state)
{
    (void)state;
    assert_int_equal(rd(dev, R_DEVICE_ID), 5);
    wr(dev, R_DEV_FEATURES_SEL, 0);
    uint32_t f = rd(dev, R_DEV_FEATURES);
    assert_int_equal(f & 0xff, F_STATS | F_REPORT); /* no FREE_PAGE_HINT, no PAGE_POISON */
    virtio_balloon_destroy(bal);
    bal = NULL;
    free_ram();
    assert_int_equal(create(true), 0);
    wr(dev, R_DEV_FEATURES_SEL, 0);
    assert_int_equal(rd(dev, R_DEV_FEATURES) & 0xff, F_STATS | F_OOM | F_REPORT);
    assert_true(bring_up(dev, V1 | F_OOM, 2));
}

static void test_balloon_target_raises_config_interrupt(void **state)
{
    (void)state;
    assert_int_equal(rd(dev, R_CONFIG), 0);
    uint32_t gen = rd(dev, R_CONFIG_GEN);
    assert_int_equal(rd(dev, R_INT_STATUS), 0);
    virtio_balloon_set_target(bal, (64ULL << 20) + 123);
    assert_int_equal(rd(dev, R_CONFIG), 16384); /* num_pages, whole 4 KiB pages */
    assert_int_equal(rd(dev, R_INT_STATUS), 2);
    assert_true(rd(dev, R_CONFIG_GEN) != gen);
    assert_true(__atomic_load_n(&irq_calls, __ATOMIC_RELAXED) > 0);
    assert_int_equal(info().target, 64ULL << 20);
    wr(dev, R_INT_ACK, 2);
    assert_int_equal(rd(dev, R_INT_STATUS), 0);
    /* the guest answers in actual; num_pages is not its to write */
    wr(dev, R_CONFIG + 4, 16384);
    wr(dev, R_CONFIG, 7);
    assert_int_equal(rd(dev, R_CONFIG), 16384);
    assert_int_equal(info().actual, 64ULL << 20);
    wr_sized(dev, R_CONFIG + 5, 1, 0);
    assert_int_equal(rd(dev, R_CONFIG + 4), 0);
    assert_int_equal(rd_sized(dev, R_CONFIG, 8), 16384);
    /* absurd targets saturate */
    virtio_balloon_set_target(bal, UINT64_MAX);
    assert_int_equal(rd(dev, R_CONFIG), UINT32_MAX);
}

static void test_balloon_target_before_driver_waits(void **state)
{
    (void)state;
    virtio_balloon_set_target(bal, 1 << 20);
    assert_int_equal(rd(dev, R_INT_STATUS), 0); /* no driver: no interrupt */
    assert_int_equal(rd(dev, R_CONFIG), 256);
    assert_true(bring_up(dev, V1 | F_STATS | F_REPORT, 4));
    assert_int_equal(rd(dev, R_CONFIG), 256);
}

static void test_balloon_inflate_discards_runs(void **state)
{
    (void)state;
    const uint32_t pfn[] = { PFN0 + 0x100, PFN0 + 0x101, PFN0 + 0x102, PFN0 + 0x200,
                             PFN0 + 0x1ff, PFN0 + 0x7ff };
    assert_int_equal(submit_pfns(Q_INFLATE, 0, pfn, 6), 0);
    assert_int_equal(n_ranges, 4);
    assert_range(0, RAM_BASE + 0x100000, 0x3000);
    assert_range(1, RAM_BASE + 0x200000, 0x1000);
    assert_range(2, RAM_BASE + 0x1ff000, 0x1000);
    assert_range(3, RAM_BASE + 0x7ff000, 0x1000); /* the last page of RAM */
    assert_int_equal(info().inflated, 6 * 4096);
    assert_int_equal(rd(dev, R_INT_STATUS) & 1, 1);
    /* a buffer spread over two descriptors is one list */
    memcpy(gp(DATA), (uint32_t[]){ PFN0 + 0x300, PFN0 + 0x301 }, 8);
    memcpy(gp(DATA + 0x1000), (uint32_t[]){ PFN0 + 0x302 }, 4);
    set_desc(q_desc(Q_INFLATE), 1, DATA, 8, F_NEXT, 2);
    set_desc(q_desc(Q_INFLATE), 2, DATA + 0x1000, 4, 0, 0);
    assert_int_equal(submit(dev, Q_INFLATE, 1), 0);
    assert_int_equal(n_ranges, 5);
    assert_range(4, RAM_BASE + 0x300000, 0x3000);
    assert_int_equal(info().inflated, 9 * 4096);
    assert_int_equal(rd(dev, R_STATUS), S_LIVE);
}

static void test_balloon_inflate_outside_ram_is_device_error(void **state)
{
    (void)state;
    /* one frame past the end of RAM, after good ones: nothing is discarded */
    const uint32_t pfn[] = { PFN0 + 1, PFN0 + 2, PFN0 + 0x800 };
    memcpy(gp(DATA), pfn, sizeof(pfn));
    set_desc(q_desc(Q_INFLATE), 0, DATA, sizeof(pfn), 0, 0);
    offer(Q_INFLATE, 0);
    wr(dev, R_QUEUE_NOTIFY, Q_INFLATE);
    assert_true(rd(dev, R_STATUS) & S_NEEDS_RESET);
    assert_int_equal(rd(dev, R_INT_STATUS) & 2, 2);
    assert_int_equal(n_ranges, 0);
    assert_int_equal(used_idx(Q_INFLATE), 0);
    assert_int_equal(info().inflated, 0);
    /* below RAM too; and after a reset the device serves again */
    assert_true(bring_up(dev, V1, 2));
    const uint32_t below[] = { PFN0 - 1 };
    memcpy(gp(DATA), below, 4);
    set_desc(q_desc(Q_INFLATE), 0, DATA, 4, 0, 0);
    offer(Q_INFLATE, 0);
    wr(dev, R_QUEUE_NOTIFY, Q_INFLATE);
    assert_true(rd(dev, R_STATUS) & S_NEEDS_RESET);
    assert_int_equal(n_ranges, 0);
    assert_true(bring_up(dev, V1, 2));
    assert_int_equal(submit_pfns(Q_INFLATE, 0, pfn, 2), 0);
    assert_int_equal(n_ranges, 1);
    assert_range(0, RAM_BASE + 0x1000, 0x2000);
}

static void test_balloon_malformed_page_lists_need_reset(void **state)
{
    (void)state;
    /* not a whole number of frames */
    set_desc(q_desc(Q_INFLATE), 0, DATA, 6, 0, 0);
    offer(Q_INFLATE, 0);
    wr(dev, R_QUEUE_NOTIFY, Q_INFLATE);
    assert_true(rd(dev, R_STATUS) & S_NEEDS_RESET);
    /* a writable buffer on the inflate queue */
    assert_true(bring_up(dev, V1, 2));
    set_desc(q_desc(Q_INFLATE), 0, DATA, 8, F_WRITE, 0);
    offer(Q_INFLATE, 0);
    wr(dev, R_QUEUE_NOTIFY, Q_INFLATE);
    assert_true(rd(dev, R_STATUS) & S_NEEDS_RESET);
    /* more frames than a buffer may hold (64 KiB) */
    assert_true(bring_up(dev, V1, 2));
    set_desc(q_desc(Q_INFLATE), 0, DATA, 0x10004, 0, 0);
    offer(Q_INFLATE, 0);
    wr(dev, R_QUEUE_NOTIFY, Q_INFLATE);
    assert_true(rd(dev, R_STATUS) & S_NEEDS_RESET);
    assert_int_equal(n_ranges, 0);
    assert_int_equal(used_idx(Q_INFLATE), 0);
    /* an empty list is fine */
    assert_true(bring_up(dev, V1, 2));
    set_desc(q_desc(Q_INFLATE), 0, DATA, 0, 0, 0);
    assert_int_equal(submit(dev, Q_INFLATE, 0), 0);
    assert_int_equal(n_ranges, 0);
    assert_int_equal(rd(dev, R_STATUS), S_LIVE);
}

static void test_balloon_deflate_counts_without_discarding(void **state)
{
    (void)state;
    const uint32_t pfn[] = { PFN0 + 0x100, PFN0 + 0x101, PFN0 + 0x400 };
    assert_int_equal(submit_pfns(Q_DEFLATE, 0, pfn, 3), 0);
    assert_int_equal(n_ranges, 0);
    assert_int_equal(info().deflated, 3 * 4096);
    assert_int_equal(info().inflated, 0);
    const uint32_t bad[] = { 0 };
    memcpy(gp(DATA), bad, 4);
    set_desc(q_desc(Q_DEFLATE), 1, DATA, 4, 0, 0);
    offer(Q_DEFLATE, 1);
    wr(dev, R_QUEUE_NOTIFY, Q_DEFLATE);
    assert_true(rd(dev, R_STATUS) & S_NEEDS_RESET);
    assert_int_equal(info().deflated, 3 * 4096);
}

static void test_balloon_report_discards_whole_pages(void **state)
{
    (void)state;
    /* two free ranges in one report: a 2 MiB block, and one not page-aligned */
    set_desc(q_desc(Q_REPORT), 0, RAM_BASE + 0x200000, 0x200000, F_WRITE | F_NEXT, 1);
    set_desc(q_desc(Q_REPORT), 1, RAM_BASE + 0x500800, 0x3000, F_WRITE | F_NEXT, 2);
    set_desc(q_desc(Q_REPORT), 2, RAM_BASE + 0x600800, 0x800, F_WRITE, 0);
    assert_int_equal(submit(dev, Q_REPORT, 0), 0);
    assert_int_equal(n_ranges, 2);
    assert_range(0, RAM_BASE + 0x200000, 0x200000);
    assert_range(1, RAM_BASE + 0x501000, 0x2000);
    assert_int_equal(info().reported, 0x202000);
    assert_int_equal(info().inflated, 0);
    assert_int_equal(rd(dev, R_INT_STATUS) & 1, 1);
    /* up to the end of RAM */
    set_desc(q_desc(Q_REPORT), 3, RAM_BASE + RAM_SIZE - 0x200000, 0x200000, F_WRITE, 0);
    assert_int_equal(submit(dev, Q_REPORT, 3), 0);
    assert_range(2, RAM_BASE + RAM_SIZE - 0x200000, 0x200000);
    assert_int_equal(rd(dev, R_STATUS), S_LIVE);
}

static void test_balloon_report_outside_ram_is_device_error(void **state)
{
    (void)state;
    set_desc(q_desc(Q_REPORT), 0, RAM_BASE + 0x100000, 0x200000, F_WRITE | F_NEXT, 1);
    set_desc(q_desc(Q_REPORT), 1, RAM_BASE + RAM_SIZE - 0x1000, 0x200000, F_WRITE, 0);
    offer(Q_REPORT, 0);
    wr(dev, R_QUEUE_NOTIFY, Q_REPORT);
    assert_true(rd(dev, R_STATUS) & S_NEEDS_RESET);
    assert_int_equal(n_ranges, 0);
    assert_int_equal(used_idx(Q_REPORT), 0);
    assert_int_equal(info().reported, 0);
    /* readable report buffers are malformed too (5.5.6.7) */
    assert_true(bring_up(dev, V1 | F_STATS | F_REPORT, 4));
    set_desc(q_desc(Q_REPORT), 0, RAM_BASE + 0x200000, 0x200000, 0, 0);
    offer(Q_REPORT, 0);
    wr(dev, R_QUEUE_NOTIFY, Q_REPORT);
    assert_true(rd(dev, R_STATUS) & S_NEEDS_RESET);
    assert_int_equal(n_ranges, 0);
}

static void test_balloon_queue_numbers_follow_features(void **state)
{
    (void)state;
    /* reporting without statistics: the reporting queue is index 2 */
    assert_true(bring_up(dev, V1 | F_REPORT, 3));
    set_desc(q_desc(2), 0, RAM_BASE + 0x400000, 0x200000, F_WRITE, 0);
    assert_int_equal(submit(dev, 2, 0), 0);
    assert_int_equal(n_ranges, 1);
    assert_range(0, RAM_BASE + 0x400000, 0x200000);
    /* neither: queues past deflate are not the device's, kicks there do nothing */
    assert_true(bring_up(dev, V1, 3));
    set_desc(q_desc(2), 0, RAM_BASE + 0x400000, 0x200000, F_WRITE, 0);
    offer(2, 0);
    wr(dev, R_QUEUE_NOTIFY, 2);
    assert_int_equal(used_idx(2), 0);
    assert_int_equal(n_ranges, 1);
    assert_int_equal(rd(dev, R_STATUS), S_LIVE);
}

/* Writes a statistics buffer at DATA + OFF: (tag, value) pairs, 10 bytes each, on HEAD. */
static void put_stats(uint16_t head, uint64_t off, const uint16_t *tag, const uint64_t *val,
                      unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        memcpy(gp(DATA + off + 10 * i), &tag[i], 2);
        memcpy(gp(DATA + off + 10 * i + 2), &val[i], 8);
    }
    set_desc(q_desc(Q_STATS), head, DATA + off, 10 * n, 0, 0);
}

static void test_balloon_stats_held_until_requested(void **state)
{
    (void)state;
    /* Linux offers its first statistics before DRIVER_OK */
    bring_up_to_ready(dev, V1 | F_STATS | F_REPORT, 4);
    const uint16_t tag[] = { 4, 5, 6, 99 };
    const uint64_t val[] = { 100 << 20, 512 << 20, 300 << 20, 1 };
    put_stats(0, 0, tag, val, 4);
    offer(Q_STATS, 0);
    wr(dev, R_QUEUE_NOTIFY, Q_STATS);
    assert_int_equal(info().stats_valid, 0);
    assert_true(go_live(dev));
    struct balloon_info i = info();
    assert_int_equal(i.stats_valid, 1u << 4 | 1u << 5 | 1u << 6);
    assert_int_equal(i.stats[BALLOON_STAT_MEMFREE], 100 << 20);
    assert_int_equal(i.stats[BALLOON_STAT_MEMTOT], 512 << 20);
    assert_int_equal(i.stats[BALLOON_STAT_AVAIL], 300 << 20);
    assert_int_equal(used_idx(Q_STATS), 0); /* held */
    /* asking gives the buffer back; a second ask has nothing to give */
    assert_int_equal(virtio_balloon_request_stats(bal), 0);
    assert_int_equal(used_idx(Q_STATS), 1);
    assert_int_equal(used_id(Q_STATS, 0), 0);
    assert_int_equal(rd(dev, R_INT_STATUS) & 1, 1);
    assert_int_equal(virtio_balloon_request_stats(bal), -EAGAIN);
    /* the guest's fresh figures replace the old ones */
    const uint64_t val2[] = { 50 << 20 };
    put_stats(1, 0x100, tag, val2, 1);
    offer(Q_STATS, 1);
    wr(dev, R_QUEUE_NOTIFY, Q_STATS);
    i = info();
    assert_int_equal(i.stats_valid, 1u << 4);
    assert_int_equal(i.stats[BALLOON_STAT_MEMFREE], 50 << 20);
    assert_int_equal(used_idx(Q_STATS), 1);
    /* a second buffer while one is held sends the held one back */
    put_stats(2, 0x200, tag, val, 2);
    offer(Q_STATS, 2);
    wr(dev, R_QUEUE_NOTIFY, Q_STATS);
    assert_int_equal(used_idx(Q_STATS), 2);
    assert_int_equal(used_id(Q_STATS, 1), 1);
    assert_int_equal(info().stats[BALLOON_STAT_MEMFREE], 100 << 20);
    /* a reset forgets the held buffer */
    assert_true(bring_up(dev, V1 | F_STATS, 3));
    assert_int_equal(virtio_balloon_request_stats(bal), -EAGAIN);
}

static void test_balloon_stats_bounded(void **state)
{
    (void)state;
    /* a huge statistics buffer: only the first 64 entries are read, and it is held */
    for (unsigned i = 0; i < 100; i++) {
        uint16_t t = i < 64 ? 7 : 4;
        uint64_t v = i;
        memcpy(gp(DATA + 10 * i), &t, 2);
        memcpy(gp(DATA + 10 * i + 2), &v, 8);
    }
    set_desc(q_desc(Q_STATS), 0, DATA, 1000, 0, 0);
    offer(Q_STATS, 0);
    wr(dev, R_QUEUE_NOTIFY, Q_STATS);
    struct balloon_info i = info();
    assert_int_equal(i.stats_valid, 1u << 7);
    assert_int_equal(i.stats[BALLOON_STAT_CACHES], 63);
    assert_int_equal(rd(dev, R_STATUS), S_LIVE);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TC(f) cmocka_unit_test_setup_teardown(f, setup_created, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_balloon_identifies_and_offers),
        T(test_balloon_target_raises_config_interrupt),
        TC(test_balloon_target_before_driver_waits),
        T(test_balloon_inflate_discards_runs),
        T(test_balloon_inflate_outside_ram_is_device_error),
        T(test_balloon_malformed_page_lists_need_reset),
        T(test_balloon_deflate_counts_without_discarding),
        T(test_balloon_report_discards_whole_pages),
        T(test_balloon_report_outside_ram_is_device_error),
        T(test_balloon_queue_numbers_follow_features),
        T(test_balloon_stats_held_until_requested),
        T(test_balloon_stats_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
