/* The Goldfish RTC: latched 64-bit time reads, setting the clock, alarm registers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dev/goldfish_rtc.h"

static int64_t fake_now;
static int64_t now(void) { return fake_now; }

static uint64_t rd(struct goldfish_rtc *r, uint64_t off)
{
    uint64_t v = 0xdead;
    assert_int_equal(goldfish_rtc_read(r, off, 4, &v), 0);
    return v;
}

static uint64_t read_time(struct goldfish_rtc *r)
{
    uint64_t lo = rd(r, 0x00);
    return rd(r, 0x04) << 32 | lo;
}

static void test_time_follows_host_clock(void **state)
{
    (void)state;
    struct goldfish_rtc *r = goldfish_rtc_create(NULL, now);
    fake_now = 1764000000123456789LL;
    assert_int_equal(read_time(r), 1764000000123456789ULL);
    fake_now += 5000000000LL;
    assert_int_equal(read_time(r), 1764000005123456789ULL);
    goldfish_rtc_destroy(r);
}

static void test_high_word_is_latched_by_low_read(void **state)
{
    (void)state;
    struct goldfish_rtc *r = goldfish_rtc_create(NULL, now);
    fake_now = 0x00000001ffffffffLL;
    uint64_t lo = rd(r, 0x00);
    fake_now = 0x0000000200000001LL; /* the low word wraps between the two reads */
    uint64_t hi = rd(r, 0x04);
    assert_int_equal(hi << 32 | lo, 0x00000001ffffffffULL);
    goldfish_rtc_destroy(r);
}

static void test_guest_sets_the_clock(void **state)
{
    (void)state;
    struct goldfish_rtc *r = goldfish_rtc_create(NULL, now);
    fake_now = 1000;
    uint64_t want = 0x0123456789abcdefULL;
    goldfish_rtc_write(r, 0x04, 4, want >> 32);
    goldfish_rtc_write(r, 0x00, 4, (uint32_t)want);
    assert_int_equal(read_time(r), want);
    fake_now += 777;
    assert_int_equal(read_time(r), want + 777);
    goldfish_rtc_destroy(r);
}

static void test_real_clock_and_registers(void **state)
{
    (void)state;
    struct goldfish_rtc *r = goldfish_rtc_create(NULL, NULL);
    uint64_t t = read_time(r);
    assert_true(t > 1700000000ULL * 1000000000ULL); /* after November 2023 */
    goldfish_rtc_write(r, 0x08, 4, 0x1234);
    goldfish_rtc_write(r, 0x0c, 4, 0x5678);
    goldfish_rtc_write(r, 0x10, 4, 3);
    assert_int_equal(rd(r, 0x08), 0x1234);
    assert_int_equal(rd(r, 0x0c), 0x5678);
    assert_int_equal(rd(r, 0x10), 1);
    assert_int_equal(rd(r, 0x18), 0);
    uint64_t v = 7;
    assert_int_equal(goldfish_rtc_read(r, 0x00, 8, &v), 0); /* wrong size: reads as 0 */
    assert_int_equal(v, 0);
    assert_int_equal(goldfish_rtc_write(r, 0xffc, 4, 1), 0);
    goldfish_rtc_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_follows_host_clock),
        cmocka_unit_test(test_high_word_is_latched_by_low_read),
        cmocka_unit_test(test_guest_sets_the_clock),
        cmocka_unit_test(test_real_clock_and_registers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
