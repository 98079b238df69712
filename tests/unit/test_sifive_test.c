/* Unit tests for the sifive,test0 finisher: which writes ask the board for a power-off or a
 * reset, with what code, and which are ignored. The request callback only records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dev/sifive_test.h"

struct fixture {
    struct sifive_test *t;
    int calls;
    enum power_action action;
    int code;
};

static void record_request(void *ctx, enum power_action a, int code)
{
    struct fixture *f = ctx;
    f->calls++;
    f->action = a;
    f->code = code;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->code = -1;
    f->t = sifive_test_create(record_request, f);
    if (!f->t) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sifive_test_destroy(f->t);
    free(f);
    return 0;
}

static void wr(struct fixture *f, uint64_t off, unsigned size, uint64_t v)
{
    assert_int_equal(sifive_test_write(f->t, off, size, v), 0);
}

static void test_poweroff(void **state)
{
    struct fixture *f = *state;
    wr(f, 0, 4, 0x5555);
    assert_int_equal(f->calls, 1);
    assert_int_equal(f->action, POWER_OFF);
    assert_int_equal(f->code, 0);
}

static void test_reset(void **state)
{
    struct fixture *f = *state;
    wr(f, 0, 4, 0x7777);
    assert_int_equal(f->calls, 1);
    assert_int_equal(f->action, POWER_RESET);
    assert_int_equal(f->code, 0);
}

static void test_fail_carries_code_from_upper_half(void **state)
{
    struct fixture *f = *state;
    wr(f, 0, 4, (42u << 16) | 0x3333);
    assert_int_equal(f->calls, 1);
    assert_int_equal(f->action, POWER_OFF);
    assert_int_equal(f->code, 42);
    wr(f, 0, 4, 0xffff3333u);
    assert_int_equal(f->calls, 2);
    assert_int_equal(f->action, POWER_OFF);
    assert_int_equal(f->code, 0xffff);
    wr(f, 0, 4, 0x00013333u);
    assert_int_equal(f->calls, 3);
    assert_int_equal(f->code, 1);
}

static void test_status_is_the_low_half_only(void **state)
{
    struct fixture *f = *state;
    /* the upper half is the code: pass and reset ignore it */
    wr(f, 0, 4, 0x12345555u);
    assert_int_equal(f->calls, 1);
    assert_int_equal(f->action, POWER_OFF);
    assert_int_equal(f->code, 0);
    wr(f, 0, 4, 0xabcd7777u);
    assert_int_equal(f->calls, 2);
    assert_int_equal(f->action, POWER_RESET);
}

static void test_other_values_ignored(void **state)
{
    struct fixture *f = *state;
    static const uint32_t vals[] = { 0, 1, 0x5554, 0x5556, 0x3332, 0x7776, 0x4444, 0xffff,
                                     0x55550000u, 0x33330000u, 0x77770000u, 0xffffffffu };
    for (size_t i = 0; i < ARRAY_SIZE(vals); i++)
        wr(f, 0, 4, vals[i]);
    assert_int_equal(f->calls, 0);
}

/* OpenSBI's sifive_test driver writes the status with writew; QEMU takes 2..4 bytes. */
static void test_halfword_write_powers_off(void **state)
{
    struct fixture *f = *state;
    wr(f, 0, 2, 0x5555);
    assert_int_equal(f->calls, 1);
    assert_int_equal(f->action, POWER_OFF);
    assert_int_equal(f->code, 0);
    wr(f, 0, 2, 0x7777);
    assert_int_equal(f->calls, 2);
    assert_int_equal(f->action, POWER_RESET);
    wr(f, 2, 2, 0x5555); /* the upper half alone is the code, not a status */
    assert_int_equal(f->calls, 2);
}

static void test_wrong_offset_or_size_ignored(void **state)
{
    struct fixture *f = *state;
    wr(f, 4, 4, 0x5555);
    wr(f, 2, 4, 0x5555);
    wr(f, 0x1000, 4, 0x7777);
    wr(f, UINT64_MAX, 4, 0x3333);
    wr(f, 0, 1, 0x55);
    wr(f, 0, 8, 0x5555);
    wr(f, 0, 0, 0x5555);
    assert_int_equal(f->calls, 0);
}

static void test_reads_return_zero(void **state)
{
    struct fixture *f = *state;
    static const uint64_t offs[] = { 0, 4, 0xfff, UINT64_MAX };
    for (size_t i = 0; i < ARRAY_SIZE(offs); i++) {
        uint64_t v = 0xdeadbeef;
        assert_int_equal(sifive_test_read(f->t, offs[i], 4, &v), 0);
        assert_int_equal(v, 0);
    }
    assert_int_equal(f->calls, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_poweroff),
        T(test_reset),
        T(test_fail_carries_code_from_upper_half),
        T(test_status_is_the_low_half_only),
        T(test_other_values_ignored),
        T(test_halfword_write_powers_off),
        T(test_wrong_offset_or_size_ignored),
        T(test_reads_return_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
