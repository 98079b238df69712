/* Unit tests of the built-in SBI's hart state management (HSM): hart_start only posts a
 * request, which the target hart's own thread applies to itself, and the states follow the
 * SBI spec (STOPPED, START_PENDING, STARTED). Also the arguments SRST and the debug console
 * refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "boot/sbi_hart.h"
#include "cpu/exec.h"
#include "cpu/hart.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (1024 * 1024)
#define NUM_HARTS 2

#define EXT_HSM 0x48534d
#define EXT_SRST 0x53525354
#define EXT_DBCN 0x4442434e
enum { A0 = 10, A1, A2, A3, A4, A5, A6, A7 };
enum { SBI_ERR_INVALID_PARAM = -3, SBI_ERR_INVALID_ADDRESS = -5, SBI_ERR_ALREADY_AVAILABLE = -6 };

static struct guest_mem ram;
static struct hart harts[NUM_HARTS];

static int bus_load(void *c, uint64_t pa, unsigned s, uint64_t *v) { (void)c; (void)pa; (void)s; (void)v; return -EFAULT; }
static int bus_store(void *c, uint64_t pa, unsigned s, uint64_t v) { (void)c; (void)pa; (void)s; (void)v; return -EFAULT; }
static uint64_t bus_time(void *c) { (void)c; return 0; }
static void bus_poll(void *c, struct hart *h) { (void)c; (void)h; }
/* Sleeps while the hart is stopped, as the board's wait does */
static void bus_wait(void *c, struct hart *h)
{
    (void)c;
    pthread_mutex_lock(&h->lock);
    while (!atomic_load(&h->stop) && atomic_load(&h->hsm) == HSM_STOPPED)
        pthread_cond_wait(&h->wake, &h->lock);
    pthread_mutex_unlock(&h->lock);
}
static void bus_start(void *c, struct hart *h, uint64_t addr, uint64_t arg) { (void)c; sbi_start_hart(h, addr, arg); }
static const struct hart_bus bus = {
    .ram = &ram, .load = bus_load, .store = bus_store, .time = bus_time, .poll = bus_poll,
    .wait = bus_wait, .start = bus_start,
};

static struct hart *host_hart(void *ctx, unsigned id) { (void)ctx; return &harts[id]; }
static size_t console_bytes;
static int power_calls;
static void host_console(void *ctx, const uint8_t *buf, size_t len) { (void)ctx; (void)buf; console_bytes += len; }
static void host_power(void *ctx, enum power_action a, int code) { (void)ctx; (void)a; (void)code; power_calls++; }
static const struct sbi_host host = { NULL, NUM_HARTS, host_hart, host_console, host_power };

static int setup(void **state)
{
    (void)state;
    console_bytes = 0;
    power_calls = 0;
    ram = (struct guest_mem){ calloc(1, RAM_SIZE), RAM_BASE, RAM_SIZE, NULL };
    for (unsigned i = 0; i < NUM_HARTS; i++)
        hart_init(&harts[i], i, &bus);
    sbi_prepare_hart(&harts[0], RAM_BASE, 0, 0);
    atomic_store(&harts[0].hsm, HSM_STARTED); /* as the board boots it */
    return ram.host ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    for (unsigned i = 0; i < NUM_HARTS; i++)
        hart_destroy(&harts[i]);
    free(ram.host);
    return 0;
}

/* An SBI call from hart h: returns the error, and the value in *value. */
static int64_t call(struct hart *h, uint64_t eid, uint64_t fid, uint64_t a0, uint64_t a1, uint64_t a2,
                    uint64_t *value)
{
    h->x[A7] = eid;
    h->x[A6] = fid;
    h->x[A0] = a0;
    h->x[A1] = a1;
    h->x[A2] = a2;
    sbi_ecall(&host, h);
    if (value)
        *value = h->x[A1];
    return (int64_t)h->x[A0];
}

static int64_t hsm(struct hart *h, uint64_t fid, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t *value)
{
    return call(h, EXT_HSM, fid, a0, a1, a2, value);
}

static void test_hart_start_posts_a_request_the_target_applies_itself(void **state)
{
    (void)state;
    struct hart *caller = &harts[0], *target = &harts[1];
    uint64_t status;
    /* what the target's own thread may be doing with its registers meanwhile */
    target->pc = 0x1234;
    target->x[A0] = 0xdead;
    target->x[A1] = 0xbeef;
    assert_int_equal(hsm(caller, 2, 1, 0, 0, &status), 0);
    assert_int_equal(status, 1); /* STOPPED */
    assert_int_equal(hsm(caller, 0, 1, RAM_BASE + 0x1000, 0x55, NULL), 0);
    assert_int_equal(target->pc, 0x1234);
    assert_int_equal(target->x[A0], 0xdead);
    assert_int_equal(target->x[A1], 0xbeef);
    assert_int_equal(target->priv, PRV_M);
    assert_int_equal(hsm(caller, 2, 1, 0, 0, &status), 0);
    assert_int_equal(status, 2); /* START_PENDING */
    /* a second start while the first is pending */
    assert_int_equal(hsm(caller, 0, 1, RAM_BASE + 0x2000, 0x66, NULL), SBI_ERR_ALREADY_AVAILABLE);
    /* the target's thread picks the request up */
    assert_true(hart_take_start(target));
    assert_int_equal(target->pc, RAM_BASE + 0x1000);
    assert_int_equal(target->x[A0], 1);
    assert_int_equal(target->x[A1], 0x55);
    assert_int_equal(target->priv, PRV_S);
    assert_int_equal(hsm(caller, 2, 1, 0, 0, &status), 0);
    assert_int_equal(status, 0); /* STARTED */
    assert_false(hart_take_start(target));
    assert_int_equal(hsm(caller, 0, 1, RAM_BASE, 0, NULL), SBI_ERR_ALREADY_AVAILABLE);
    /* it stops itself, and can be started again */
    assert_int_equal(hsm(target, 1, 0, 0, 0, NULL), 0);
    assert_int_equal(hsm(caller, 2, 1, 0, 0, &status), 0);
    assert_int_equal(status, 1);
    assert_int_equal(hsm(caller, 0, 1, RAM_BASE + 0x3000, 0x77, NULL), 0);
    assert_true(hart_take_start(target));
    assert_int_equal(target->pc, RAM_BASE + 0x3000);
    assert_int_equal(target->x[A1], 0x77);
}

static void test_hart_start_checks_hart_and_address(void **state)
{
    (void)state;
    struct hart *caller = &harts[0], *target = &harts[1];
    assert_int_equal(hsm(caller, 0, NUM_HARTS, RAM_BASE, 0, NULL), SBI_ERR_INVALID_PARAM);
    assert_int_equal(hsm(caller, 0, 1, RAM_BASE + RAM_SIZE, 0, NULL), SBI_ERR_INVALID_ADDRESS);
    assert_int_equal(hsm(caller, 0, 0, RAM_BASE, 0, NULL), SBI_ERR_ALREADY_AVAILABLE); /* itself */
    assert_false(hart_take_start(target));
    assert_int_equal(hsm(caller, 2, NUM_HARTS, 0, 0, NULL), SBI_ERR_INVALID_PARAM);
}

static void *run_hart(void *arg)
{
    hart_run(arg);
    return NULL;
}

/* The target's own thread, asleep while stopped, wakes on the request, starts itself and
 * runs the guest from the start address. */
static void test_stopped_hart_thread_wakes_and_starts_itself(void **state)
{
    (void)state;
    struct hart *caller = &harts[0], *target = &harts[1];
    uint64_t entry = RAM_BASE + 0x1000;
    uint32_t code[] = { 0x00000297 /* auipc t0, 0 */, 0x10b2b023 /* sd a1, 0x100(t0) */,
                        0x0000006f /* j . */ };
    memcpy(ram.host + 0x1000, code, sizeof(code));
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, run_hart, target), 0);
    assert_int_equal(hsm(caller, 0, 1, entry, 0x5a5a, NULL), 0);
    uint64_t seen = 0;
    for (int i = 0; i < 5000 && seen != 0x5a5a; i++) {
        nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
        seen = __atomic_load_n((uint64_t *)(ram.host + 0x1100), __ATOMIC_ACQUIRE);
    }
    atomic_store(&target->stop, true);
    hart_wakeup(target);
    pthread_join(t, NULL);
    assert_int_equal(seen, 0x5a5a);
    assert_true(hart_started(target));
}

static void test_srst_refuses_reserved_types_and_reasons(void **state)
{
    (void)state;
    struct hart *h = &harts[0];
    assert_int_equal(call(h, EXT_SRST, 0, 3, 0, 0, NULL), SBI_ERR_INVALID_PARAM);
    assert_int_equal(call(h, EXT_SRST, 0, 0xffffffff, 0, 0, NULL), SBI_ERR_INVALID_PARAM);
    assert_int_equal(call(h, EXT_SRST, 0, 0, 2, 0, NULL), SBI_ERR_INVALID_PARAM);
    assert_int_equal(call(h, EXT_SRST, 0, 0, 0xe0000000, 0, NULL), SBI_ERR_INVALID_PARAM);
    assert_int_equal(call(h, EXT_SRST, 0, 0, 0xf0000100, 0, NULL), SBI_ERR_INVALID_PARAM);
    assert_int_equal(power_calls, 0);
    assert_int_equal(call(h, EXT_SRST, 0, 0, 1, 0, NULL), 0); /* shutdown, system failure */
    assert_int_equal(power_calls, 1);
    assert_int_equal(call(h, EXT_SRST, 0, 0, 0xf0000007, 0, NULL), 0); /* exit code 7 */
    assert_int_equal(power_calls, 2);
}

static void test_dbcn_write_checks_the_whole_buffer_then_writes_part(void **state)
{
    (void)state;
    struct hart *h = &harts[0];
    uint64_t n = 99;
    assert_int_equal(call(h, EXT_DBCN, 0, UINT64_MAX, RAM_BASE, 0, NULL), SBI_ERR_INVALID_PARAM);
    assert_int_equal(call(h, EXT_DBCN, 0, RAM_SIZE + 1, RAM_BASE, 0, NULL), SBI_ERR_INVALID_PARAM);
    assert_int_equal(call(h, EXT_DBCN, 0, 16, RAM_BASE + RAM_SIZE - 8, 0, NULL), SBI_ERR_INVALID_PARAM);
    assert_int_equal(console_bytes, 0);
    assert_int_equal(call(h, EXT_DBCN, 0, 8192, RAM_BASE, 0, &n), 0);
    assert_int_equal(n, 4096); /* a partial write, which the spec allows */
    assert_int_equal(console_bytes, 4096);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hart_start_posts_a_request_the_target_applies_itself, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hart_start_checks_hart_and_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stopped_hart_thread_wakes_and_starts_itself, setup, teardown),
        cmocka_unit_test_setup_teardown(test_srst_refuses_reserved_types_and_reasons, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dbcn_write_checks_the_whole_buffer_then_writes_part, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
