/* Unit tests for the virtio-input power button (input.c), driven through its virtio-mmio
 * registers over a fake guest RAM: the config space's select/subsel answers, events given
 * in order one a buffer, events waiting for buffers, the bounded wait queue, and broken
 * buffers asking for a reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "dev/virtio/input.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (1u << 20)
#define QSIZE 8
#include "fake_ring.h"
#include "fake_driver.h"

#define DATA (RAM_BASE + 0x20000)
#define EVQ 0
#define STQ 1

#define CFG_SELECT (R_CONFIG + 0)
#define CFG_SUBSEL (R_CONFIG + 1)
#define CFG_SIZE (R_CONFIG + 2)
#define CFG_U (R_CONFIG + 8)

static struct virtio_input *in;
static struct virtio_dev *dev;

static int setup(void **state)
{
    (void)state;
    if (setup_ram())
        return -1;
    struct virtio_slot s = slot("virtio-input");
    in = virtio_input_create(&s);
    if (!in)
        return -1;
    dev = virtio_input_dev(in);
    return bring_up(dev, V1, 2) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    virtio_input_destroy(in);
    in = NULL;
    free_ram();
    return 0;
}

/* Selects (SEL, SUB) the way Linux does, a byte at a time: the size the device answers. */
static unsigned cfg_select(uint8_t sel, uint8_t sub)
{
    wr_sized(dev, CFG_SELECT, 1, sel);
    wr_sized(dev, CFG_SUBSEL, 1, sub);
    return (unsigned)rd_sized(dev, CFG_SIZE, 1);
}

static void cfg_union(uint8_t *out)
{
    for (unsigned i = 0; i < 128; i++)
        out[i] = (uint8_t)rd_sized(dev, CFG_U + i, 1);
}

/* Posts writable buffers of LEN bytes, descriptors FIRST..FIRST+N-1, 16 bytes apart. */
static void post_events(unsigned first, unsigned n, uint32_t len)
{
    for (unsigned i = first; i < first + n; i++) {
        set_desc(q_desc(EVQ), i % QSIZE, DATA + 16 * i, len, F_WRITE, 0);
        offer(EVQ, (uint16_t)(i % QSIZE));
    }
    wr(dev, R_QUEUE_NOTIFY, EVQ);
}

/* The event in used entry N: checks it has 8 bytes and is (TYPE, CODE, VALUE). */
static void assert_event(uint16_t n, uint16_t type, uint16_t code, uint32_t value)
{
    uint32_t id = used_id(EVQ, n);
    assert_int_equal(used_len(EVQ, n), 8);
    uint64_t at = DATA + 16 * id;
    assert_int_equal(get16(at), type);
    assert_int_equal(get16(at + 2), code);
    assert_int_equal(get32(at + 4), value);
}

static void assert_press(uint16_t from)
{
    assert_event(from, 1, 116, 1);
    assert_event((uint16_t)(from + 1), 0, 0, 0);
    assert_event((uint16_t)(from + 2), 1, 116, 0);
    assert_event((uint16_t)(from + 3), 0, 0, 0);
}

static void test_input_identifies(void **state)
{
    (void)state;
    assert_int_equal(rd(dev, R_DEVICE_ID), 18);
    wr(dev, R_DEV_FEATURES_SEL, 1);
    assert_int_equal(rd(dev, R_DEV_FEATURES) & 1, 1); /* VERSION_1 */
}

static void test_input_config_names_and_ids(void **state)
{
    (void)state;
    uint8_t u[128];
    unsigned n = cfg_select(0x01, 0); /* ID_NAME */
    cfg_union(u);
    assert_int_equal(n, strlen("Corral power button"));
    assert_memory_equal(u, "Corral power button", n);
    assert_int_equal(u[n], 0);
    n = cfg_select(0x02, 0); /* ID_SERIAL */
    cfg_union(u);
    assert_true(n > 0);
    assert_memory_equal(u, "corral-power-0", n);
    assert_int_equal(cfg_select(0x03, 0), 8); /* ID_DEVIDS */
    assert_int_equal(rd_sized(dev, CFG_U, 2), 0x06); /* BUS_VIRTUAL */
    assert_int_equal(rd_sized(dev, CFG_U + 6, 2), 1);
    assert_int_equal(cfg_select(0x10, 0), 0); /* PROP_BITS: none */
}

static void test_input_config_event_bits(void **state)
{
    (void)state;
    uint8_t u[128];
    assert_int_equal(cfg_select(0x11, 1), 15); /* EV_BITS, EV_KEY: up to KEY_POWER */
    cfg_union(u);
    for (unsigned i = 0; i < 128; i++)
        assert_int_equal(u[i], i == 14 ? 0x10 : 0); /* bit 116 alone */
    assert_int_equal(cfg_select(0x11, 0), 1); /* EV_SYN: SYN_REPORT */
    assert_int_equal(rd_sized(dev, CFG_U, 1), 1);
    assert_int_equal(cfg_select(0x11, 2), 0); /* EV_REL */
    assert_int_equal(cfg_select(0x11, 3), 0); /* EV_ABS */
    assert_int_equal(cfg_select(0x11, 0x14), 0); /* EV_REP: no autorepeat */
    assert_int_equal(cfg_select(0x12, 0), 0); /* ABS_INFO */
}

static void test_input_config_bad_select_reads_zero(void **state)
{
    (void)state;
    uint8_t u[128];
    cfg_select(0x01, 0);
    static const uint8_t bad[][2] = { { 0x00, 0 }, { 0x01, 1 }, { 0x03, 9 }, { 0x42, 0 },
                                      { 0xff, 0xff }, { 0x13, 0 } };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(cfg_select(bad[i][0], bad[i][1]), 0);
        cfg_union(u);
        for (unsigned j = 0; j < 128; j++)
            assert_int_equal(u[j], 0);
    }
    /* select and subsel in one 16-bit write; the read-only bytes keep the device's values */
    wr_sized(dev, CFG_SELECT, 2, 0x0111);
    assert_int_equal(rd_sized(dev, CFG_SIZE, 1), 15);
    wr_sized(dev, CFG_SIZE, 1, 99);
    wr_sized(dev, CFG_U + 14, 1, 0xff);
    assert_int_equal(rd_sized(dev, CFG_SIZE, 1), 15);
    assert_int_equal(rd_sized(dev, CFG_U + 14, 1), 0x10);
    assert_int_equal(rd_sized(dev, R_CONFIG, 4), 0x0f0111);
    /* past the config structure (8 + 128 bytes) */
    assert_int_equal(rd_sized(dev, R_CONFIG + 136, 1), 0);
    assert_int_equal(rd_sized(dev, R_CONFIG + 134, 4), 0);
}

static void test_input_press_delivers_events_in_order(void **state)
{
    (void)state;
    post_events(0, 8, 8);
    assert_int_equal(used_idx(EVQ), 0); /* buffers alone produce nothing */
    __atomic_store_n(&irq_calls, 0, __ATOMIC_RELAXED);
    assert_int_equal(virtio_input_press_power(in), 0);
    assert_int_equal(used_idx(EVQ), 4);
    assert_press(0);
    assert_true(__atomic_load_n(&irq_calls, __ATOMIC_RELAXED) > 0);
    assert_int_equal(rd(dev, R_INT_STATUS) & 1, 1);
    assert_int_equal(virtio_input_press_power(in), 0);
    assert_int_equal(used_idx(EVQ), 8);
    assert_press(4);
    assert_int_equal(rd(dev, R_STATUS), S_LIVE);
}

static void test_input_events_wait_for_buffers(void **state)
{
    (void)state;
    post_events(0, 2, 8);
    assert_int_equal(virtio_input_press_power(in), 0);
    assert_int_equal(used_idx(EVQ), 2);
    assert_event(0, 1, 116, 1);
    assert_event(1, 0, 0, 0);
    post_events(2, 1, 16); /* a buffer larger than an event still takes one */
    assert_int_equal(used_idx(EVQ), 3);
    assert_event(2, 1, 116, 0);
    post_events(3, 5, 8);
    assert_int_equal(used_idx(EVQ), 4);
    assert_event(3, 0, 0, 0);
    assert_int_equal(virtio_input_press_power(in), 0); /* the four buffers left take it */
    assert_int_equal(used_idx(EVQ), 8);
    assert_press(4);
}

static void test_input_full_queue_is_eagain(void **state)
{
    (void)state;
    for (unsigned i = 0; i < 16; i++)
        assert_int_equal(virtio_input_press_power(in), 0);
    assert_int_equal(virtio_input_press_power(in), -EAGAIN);
    assert_int_equal(used_idx(EVQ), 0);
    /* a ring's worth of buffers takes the two oldest presses, in order */
    post_events(0, 8, 8);
    assert_int_equal(used_idx(EVQ), 8);
    assert_press(0);
    assert_press(4);
    assert_int_equal(virtio_input_press_power(in), 0); /* room again */
    assert_int_equal(virtio_input_press_power(in), 0);
    assert_int_equal(virtio_input_press_power(in), -EAGAIN);
    assert_int_equal(rd(dev, R_STATUS), S_LIVE);
}

static void test_input_not_ready_is_enodev(void **state)
{
    (void)state;
    wr(dev, R_STATUS, 0);
    assert_int_equal(virtio_input_press_power(in), -ENODEV);
    bring_up_to_ready(dev, V1, 2);
    assert_int_equal(virtio_input_press_power(in), -ENODEV); /* no DRIVER_OK yet */
    post_events(0, 4, 8);
    assert_true(go_live(dev));
    assert_int_equal(virtio_input_press_power(in), 0);
    assert_int_equal(used_idx(EVQ), 4);
    assert_press(0);
}

static void test_input_reset_drops_waiting_events(void **state)
{
    (void)state;
    assert_int_equal(virtio_input_press_power(in), 0);
    assert_true(bring_up(dev, V1, 2));
    post_events(0, 8, 8);
    assert_int_equal(used_idx(EVQ), 0);
    assert_int_equal(virtio_input_press_power(in), 0);
    assert_int_equal(used_idx(EVQ), 4);
    assert_press(0);
}

static void test_input_readable_event_buffer_needs_reset(void **state)
{
    (void)state;
    set_desc(q_desc(EVQ), 0, DATA, 8, 0, 0);
    offer(EVQ, 0);
    wr(dev, R_QUEUE_NOTIFY, EVQ);
    assert_int_equal(virtio_input_press_power(in), 0);
    assert_true(rd(dev, R_STATUS) & S_NEEDS_RESET);
    assert_int_equal(rd(dev, R_INT_STATUS) & 2, 2);
    assert_int_equal(used_idx(EVQ), 0);
    assert_int_equal(virtio_input_press_power(in), -ENODEV);
    /* a reset brings it back */
    assert_true(bring_up(dev, V1, 2));
    post_events(0, 4, 8);
    assert_int_equal(virtio_input_press_power(in), 0);
    assert_press(0);
}

static void test_input_short_event_buffer_needs_reset(void **state)
{
    (void)state;
    post_events(0, 1, 4);
    assert_int_equal(virtio_input_press_power(in), 0);
    assert_true(rd(dev, R_STATUS) & S_NEEDS_RESET);
    assert_int_equal(used_idx(EVQ), 0);
    assert_int_equal(get32(DATA), 0);
}

static void test_input_event_buffer_outside_ram_needs_reset(void **state)
{
    (void)state;
    set_desc(q_desc(EVQ), 0, RAM_BASE + RAM_SIZE - 4, 8, F_WRITE, 0);
    offer(EVQ, 0);
    assert_int_equal(virtio_input_press_power(in), 0);
    assert_true(rd(dev, R_STATUS) & S_NEEDS_RESET);
    assert_int_equal(used_idx(EVQ), 0);
}

static void test_input_status_queue_is_drained(void **state)
{
    (void)state;
    memcpy(gp(DATA), "\x11\x00\x01\x00\x01\x00\x00\x00", 8); /* EV_LED, LED_CAPSL, on */
    set_desc(q_desc(STQ), 0, DATA, 8, 0, 0);
    assert_int_equal(submit(dev, STQ, 0), 0);
    set_desc(q_desc(STQ), 1, DATA, 8, 0, 0);
    assert_int_equal(submit(dev, STQ, 1), 0);
    assert_int_equal(used_idx(EVQ), 0);
    assert_int_equal(rd(dev, R_STATUS), S_LIVE);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_input_identifies),
        T(test_input_config_names_and_ids),
        T(test_input_config_event_bits),
        T(test_input_config_bad_select_reads_zero),
        T(test_input_press_delivers_events_in_order),
        T(test_input_events_wait_for_buffers),
        T(test_input_full_queue_is_eagain),
        T(test_input_not_ready_is_enodev),
        T(test_input_reset_drops_waiting_events),
        T(test_input_readable_event_buffer_needs_reset),
        T(test_input_short_event_buffer_needs_reset),
        T(test_input_event_buffer_outside_ram_needs_reset),
        T(test_input_status_queue_is_drained),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
