/* Unit tests for the token-bucket rate limiter (src/backend/ratelimit.c), on a fake clock:
 * refill, one-time burst, requests larger than a bucket, unlimited buckets, reconfiguring,
 * and threads sharing one limiter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <cmocka.h>

#include "corral/ratelimit.h"

#define MS 1000000ULL
#define SEC 1000000000ULL

static struct ratelimit_config bw(uint64_t size, uint64_t burst, uint64_t refill_ms)
{
    return (struct ratelimit_config){ .bandwidth = { size, burst, refill_ms } };
}

static void test_unlimited_passes_everything(void **state)
{
    (void)state;
    struct ratelimit rl;
    assert_int_equal(ratelimit_init(&rl, NULL), 0);
    assert_false(ratelimit_enabled(&rl));
    for (int i = 0; i < 1000; i++)
        assert_int_equal(ratelimit_consume(&rl, 1ULL << 40, 0), 0);
    ratelimit_destroy(&rl);
    /* size 0, or refill time 0, is no limit too (Firecracker's reading) */
    struct ratelimit_config c = bw(0, 0, 100);
    c.ops = (struct ratelimit_bucket_config){ 10, 0, 0 };
    assert_int_equal(ratelimit_init(&rl, &c), 0);
    assert_false(ratelimit_enabled(&rl));
    for (int i = 0; i < 1000; i++)
        assert_int_equal(ratelimit_consume(&rl, 4096, 5), 0);
    ratelimit_destroy(&rl);
}

static void test_bucket_starts_full_then_refills_linearly(void **state)
{
    (void)state;
    struct ratelimit rl;
    struct ratelimit_config c = bw(1000, 0, 100);   /* 1000 bytes per 100 ms */
    assert_int_equal(ratelimit_init(&rl, &c), 0);
    assert_true(ratelimit_enabled(&rl));
    uint64_t t = 5 * SEC;
    assert_int_equal(ratelimit_consume(&rl, 600, t), 0);
    assert_int_equal(ratelimit_consume(&rl, 400, t), 0);
    /* empty: one byte takes 0.1 ms to come back */
    assert_int_equal(ratelimit_consume(&rl, 1, t), 100000);
    assert_int_equal(ratelimit_consume(&rl, 500, t), 50 * MS);
    /* nothing was taken by the refusals: after 50 ms, 500 bytes are there */
    assert_int_equal(ratelimit_consume(&rl, 500, t + 50 * MS - 1), 1);
    assert_int_equal(ratelimit_consume(&rl, 500, t + 50 * MS), 0);
    assert_int_equal(ratelimit_consume(&rl, 1, t + 50 * MS), 100000);
    /* many small steps refill as much as one big one (the remainder is kept) */
    uint64_t now = t + 50 * MS;
    for (int i = 0; i < 1000; i++) {
        now += 33333;              /* 3.3333 bytes' worth each */
        (void)ratelimit_consume(&rl, 0, now);
    }
    /* 33.333 ms: 333 bytes, not 3 * 1000 */
    assert_int_equal(ratelimit_consume(&rl, 333, now), 0);
    assert_true(ratelimit_consume(&rl, 1, now) > 0);
    /* a long idle time fills the bucket, but not beyond its size */
    now += 10 * SEC;
    assert_int_equal(ratelimit_consume(&rl, 1000, now), 0);
    assert_true(ratelimit_consume(&rl, 1, now) > 0);
    /* the clock going back is no time passing */
    assert_true(ratelimit_consume(&rl, 1, now - SEC) > 0);
    ratelimit_destroy(&rl);
}

static void test_wait_is_exact(void **state)
{
    (void)state;
    /* 7 tokens per 3 ms: waits are not whole numbers of anything */
    struct ratelimit rl;
    struct ratelimit_config c = bw(7, 0, 3);
    assert_int_equal(ratelimit_init(&rl, &c), 0);
    uint64_t now = 1;
    assert_int_equal(ratelimit_consume(&rl, 7, now), 0);
    for (int i = 0; i < 50; i++) {
        uint64_t w = ratelimit_consume(&rl, 3, now);
        assert_true(w > 0);
        assert_true(ratelimit_consume(&rl, 3, now + w - 1) > 0);
        assert_int_equal(ratelimit_consume(&rl, 3, now + w), 0);
        now += w;
    }
    /* 150 tokens after the first 7, at 7 per 3 ms: 150 * 3 / 7 ms, rounded up to the ns */
    assert_int_equal(now - 1, (150 * 3 * MS + 6) / 7);
    ratelimit_destroy(&rl);
}

static void test_one_time_burst_is_spent_first_and_not_refilled(void **state)
{
    (void)state;
    struct ratelimit rl;
    struct ratelimit_config c = bw(100, 5000, 1000);
    assert_int_equal(ratelimit_init(&rl, &c), 0);
    uint64_t now = SEC;
    /* burst + size at once */
    assert_int_equal(ratelimit_consume(&rl, 4000, now), 0);
    assert_int_equal(ratelimit_consume(&rl, 1050, now), 0);   /* 1000 burst + 50 budget */
    assert_int_equal(ratelimit_consume(&rl, 50, now), 0);
    assert_true(ratelimit_consume(&rl, 1, now) > 0);
    /* a long time later only the bucket is back */
    now += 100 * SEC;
    assert_int_equal(ratelimit_consume(&rl, 100, now), 0);
    assert_int_equal(ratelimit_consume(&rl, 1, now), 10 * MS);
    ratelimit_destroy(&rl);
}

static void test_oversize_request_passes_when_full_and_leaves_debt(void **state)
{
    (void)state;
    struct ratelimit rl;
    struct ratelimit_config c = bw(1000, 0, 100);   /* 10 bytes per ms */
    assert_int_equal(ratelimit_init(&rl, &c), 0);
    uint64_t now = SEC;
    assert_int_equal(ratelimit_consume(&rl, 10, now), 0);
    /* 5000 > size: it needs a full bucket, 1 ms away */
    assert_int_equal(ratelimit_consume(&rl, 5000, now), 1 * MS);
    now += MS;
    assert_int_equal(ratelimit_consume(&rl, 5000, now), 0);
    /* 4000 bytes of debt + 1 byte: 400.1 ms */
    assert_int_equal(ratelimit_consume(&rl, 1, now), 400 * MS + 100000);
    /* another oversize one waits for the debt and a full bucket: 500 ms */
    assert_int_equal(ratelimit_consume(&rl, 5000, now), 500 * MS);
    assert_int_equal(ratelimit_consume(&rl, 5000, now + 500 * MS), 0);
    /* the long-run rate holds: 10000 bytes took 500 ms beyond the first full bucket */
    ratelimit_destroy(&rl);
}

static void test_ops_bucket_counts_requests(void **state)
{
    (void)state;
    struct ratelimit rl;
    struct ratelimit_config c = { .ops = { 10, 2, 1000 } };   /* 10 ops/s, 2 extra at first */
    assert_int_equal(ratelimit_init(&rl, &c), 0);
    uint64_t now = SEC;
    for (int i = 0; i < 12; i++)
        assert_int_equal(ratelimit_consume(&rl, 1 << 20, now), 0);
    assert_int_equal(ratelimit_consume(&rl, 0, now), 100 * MS);
    ratelimit_destroy(&rl);
}

static void test_both_buckets_take_nothing_unless_both_allow(void **state)
{
    (void)state;
    struct ratelimit rl;
    /* 1 byte per ms, 1 op per 500 ms */
    struct ratelimit_config c = { .bandwidth = { 1000, 0, 1000 }, .ops = { 2, 0, 1000 } };
    assert_int_equal(ratelimit_init(&rl, &c), 0);
    uint64_t now = SEC;
    assert_int_equal(ratelimit_consume(&rl, 100, now), 0);
    assert_int_equal(ratelimit_consume(&rl, 100, now), 0);
    /* ops empty: refused, and the bytes are not taken either ... */
    assert_int_equal(ratelimit_consume(&rl, 800, now), 500 * MS);
    now += 500 * MS;
    /* ... or 800 - 800 + 500 would not make a full bucket here */
    assert_int_equal(ratelimit_consume(&rl, 1000, now), 0);
    now += SEC;                                                   /* both full */
    assert_int_equal(ratelimit_consume(&rl, 1000, now), 0);      /* 1 op left */
    /* bandwidth empty: refused, and the op is not taken */
    assert_int_equal(ratelimit_consume(&rl, 500, now), 500 * MS);
    now += 500 * MS;
    assert_int_equal(ratelimit_consume(&rl, 500, now), 0);
    assert_int_equal(ratelimit_consume(&rl, 0, now), 0);         /* 1 left + 1 refilled */
    assert_int_equal(ratelimit_consume(&rl, 0, now), 500 * MS);
    ratelimit_destroy(&rl);
}

static void test_set_replaces_config(void **state)
{
    (void)state;
    struct ratelimit rl;
    struct ratelimit_config c = bw(100, 0, 1000);
    assert_int_equal(ratelimit_init(&rl, &c), 0);
    assert_int_equal(ratelimit_consume(&rl, 100, SEC), 0);
    assert_true(ratelimit_consume(&rl, 100, SEC) > 0);
    c = bw(1000, 0, 1000);
    assert_int_equal(ratelimit_set(&rl, &c), 0);
    assert_int_equal(ratelimit_consume(&rl, 1000, SEC), 0);
    assert_int_equal(ratelimit_set(&rl, NULL), 0);
    assert_false(ratelimit_enabled(&rl));
    assert_int_equal(ratelimit_consume(&rl, 1ULL << 30, SEC), 0);
    c = bw(RATELIMIT_MAX_TOKENS + 1, 0, 1);
    assert_int_equal(ratelimit_set(&rl, &c), -EINVAL);
    assert_false(ratelimit_enabled(&rl));
    c = bw(1, 0, RATELIMIT_MAX_REFILL_MS + 1);
    assert_int_equal(ratelimit_set(&rl, &c), -EINVAL);
    ratelimit_destroy(&rl);
}

/* ---- threads: four consumers share one limiter and a fake clock that they advance */

#define THREADS 4
#define ROUNDS 20000

static struct ratelimit shared;
static uint64_t fake_now, taken;

static void *consumer(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        uint64_t now = __atomic_add_fetch(&fake_now, 1000, __ATOMIC_RELAXED);  /* 1 us */
        if (ratelimit_consume(&shared, 100, now) == 0)
            __atomic_add_fetch(&taken, 100, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_concurrent_consumers_do_not_exceed_rate(void **state)
{
    (void)state;
    /* 10 bytes per us would allow everything; 1 byte per us allows one request in 400 */
    struct ratelimit_config c = bw(1000, 0, 1);   /* 1000 bytes per ms */
    assert_int_equal(ratelimit_init(&shared, &c), 0);
    fake_now = SEC;
    taken = 0;
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, consumer, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    uint64_t elapsed = fake_now - SEC;            /* 80 ms of fake time */
    uint64_t allowed = 1000 + elapsed / MS * 1000;
    assert_true(taken <= allowed);
    /* and the limiter did let the rate through, not much less */
    assert_true(taken >= allowed - 2000);
    ratelimit_destroy(&shared);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unlimited_passes_everything),
        cmocka_unit_test(test_bucket_starts_full_then_refills_linearly),
        cmocka_unit_test(test_wait_is_exact),
        cmocka_unit_test(test_one_time_burst_is_spent_first_and_not_refilled),
        cmocka_unit_test(test_oversize_request_passes_when_full_and_leaves_debt),
        cmocka_unit_test(test_ops_bucket_counts_requests),
        cmocka_unit_test(test_both_buckets_take_nothing_unless_both_allow),
        cmocka_unit_test(test_set_replaces_config),
        cmocka_unit_test(test_concurrent_consumers_do_not_exceed_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
