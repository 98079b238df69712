/* Unit tests for the ns16550a model: register semantics as a guest driver sees them through
 * MMIO, with a capturing char backend and a recording interrupt line. No board, no hart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dev/uart16550.h"

#define RBR 0
#define THR 0
#define DLL 0
#define IER 1
#define DLM 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

#define UART_IRQ_NUM 10
#define RX_CAPACITY  4096

struct fixture {
    struct uart16550 *u;
    uint8_t out[8192];
    size_t out_len;
    int level;
    int irq_calls;
    unsigned last_num;
};

static long capture_write(void *ctx, const uint8_t *buf, size_t len)
{
    struct fixture *f = ctx;
    for (size_t i = 0; i < len && f->out_len < sizeof(f->out); i++)
        f->out[f->out_len++] = buf[i];
    return (long)len;
}

static void record_irq(void *ctx, unsigned num, int level)
{
    struct fixture *f = ctx;
    f->level = level;
    f->last_num = num;
    f->irq_calls++;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    struct char_backend out = { capture_write, f };
    struct irq_line irq = { record_irq, f, UART_IRQ_NUM };
    f->u = uart16550_create(&out, &irq);
    if (!f->u) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    uart16550_destroy(f->u);
    free(f);
    return 0;
}

static uint8_t rd(struct fixture *f, uint64_t off)
{
    uint64_t v = 0xdeadbeef;
    assert_int_equal(uart16550_read(f->u, off, 1, &v), 0);
    assert_true(v <= 0xff);
    return (uint8_t)v;
}

static void wr(struct fixture *f, uint64_t off, uint8_t v)
{
    assert_int_equal(uart16550_write(f->u, off, 1, v), 0);
}

static void receive_str(struct fixture *f, const char *s)
{
    size_t n = strlen(s);
    assert_int_equal(uart16550_receive(f->u, (const uint8_t *)s, n), n);
}

static void test_thr_write_goes_to_backend(void **state)
{
    struct fixture *f = *state;
    wr(f, THR, 'h');
    wr(f, THR, 'i');
    wr(f, THR, 0x00);
    wr(f, THR, 0xff);
    assert_int_equal(f->out_len, 4);
    assert_memory_equal(f->out, "hi\x00\xff", 4);
}

static void test_lsr_after_reset_is_transmitter_empty_no_data(void **state)
{
    struct fixture *f = *state;
    uint8_t lsr = rd(f, LSR);
    assert_int_equal(lsr & 0x01, 0);        /* DR */
    assert_int_equal(lsr & 0x20, 0x20);     /* THRE */
    assert_int_equal(lsr & 0x40, 0x40);     /* TEMT */
    assert_int_equal(lsr & 0x1e, 0);        /* no OE/PE/FE/BI */
    wr(f, THR, 'x');
    assert_int_equal(rd(f, LSR) & 0x60, 0x60); /* transmit is instant */
}

static void test_received_bytes_read_in_order_and_clear_dr(void **state)
{
    struct fixture *f = *state;
    receive_str(f, "abc");
    assert_int_equal(rd(f, LSR) & 0x01, 0x01);
    assert_int_equal(rd(f, RBR), 'a');
    assert_int_equal(rd(f, LSR) & 0x01, 0x01);
    assert_int_equal(rd(f, RBR), 'b');
    assert_int_equal(rd(f, RBR), 'c');
    assert_int_equal(rd(f, LSR) & 0x01, 0);
    /* nothing was echoed to the backend */
    assert_int_equal(f->out_len, 0);
}

static void test_rx_interrupt_follows_data_when_enabled(void **state)
{
    struct fixture *f = *state;
    wr(f, IER, 0x01); /* ERBFI */
    assert_int_equal(f->level, 0);
    assert_int_equal(rd(f, IIR) & 0x0f, 0x01); /* no interrupt pending */
    receive_str(f, "xy");
    assert_int_equal(f->level, 1);
    assert_int_equal(f->last_num, UART_IRQ_NUM);
    assert_int_equal(rd(f, IIR) & 0x0f, 0x04); /* received data available */
    assert_int_equal(f->level, 1);             /* reading IIR does not clear RDA */
    rd(f, RBR);
    assert_int_equal(f->level, 1);
    rd(f, RBR);
    assert_int_equal(f->level, 0);
    assert_int_equal(rd(f, IIR) & 0x0f, 0x01);
}

static void test_rx_interrupt_masked_without_ier(void **state)
{
    struct fixture *f = *state;
    receive_str(f, "z");
    assert_int_equal(f->level, 0);
    assert_int_equal(rd(f, IIR) & 0x0f, 0x01);
    wr(f, IER, 0x01);
    assert_int_equal(f->level, 1);
    wr(f, IER, 0x00);
    assert_int_equal(f->level, 0);
    assert_int_equal(rd(f, RBR), 'z'); /* the data stays */
}

static void test_thre_interrupt_on_enable_cleared_by_iir_read(void **state)
{
    struct fixture *f = *state;
    wr(f, IER, 0x02); /* ETBEI with THR empty: interrupt at once */
    assert_int_equal(f->level, 1);
    assert_int_equal(rd(f, IIR) & 0x0f, 0x02);
    assert_int_equal(f->level, 0);             /* IIR read with THRE as the source clears it */
    assert_int_equal(rd(f, IIR) & 0x0f, 0x01);
    assert_int_equal(rd(f, IER), 0x02);
}

static void test_thr_write_raises_thre_interrupt_again(void **state)
{
    struct fixture *f = *state;
    wr(f, IER, 0x02);
    rd(f, IIR);
    assert_int_equal(f->level, 0);
    wr(f, THR, 'q');
    assert_int_equal(f->level, 1);
    assert_int_equal(rd(f, IIR) & 0x0f, 0x02);
    assert_int_equal(f->level, 0);
    /* disabling and re-enabling ETBEI, as Linux's 8250 driver does, raises it again */
    wr(f, IER, 0x00);
    wr(f, IER, 0x02);
    assert_int_equal(f->level, 1);
}

static void test_thre_interrupt_needs_ier(void **state)
{
    struct fixture *f = *state;
    wr(f, THR, 'q');
    assert_int_equal(f->level, 0);
    assert_int_equal(rd(f, IIR) & 0x0f, 0x01);
}

static void test_iir_reports_rx_before_thre(void **state)
{
    struct fixture *f = *state;
    wr(f, IER, 0x03);
    receive_str(f, "k");
    assert_int_equal(rd(f, IIR) & 0x0f, 0x04);
    assert_int_equal(rd(f, IIR) & 0x0f, 0x04); /* THRE still waits behind RDA */
    rd(f, RBR);
    assert_int_equal(f->level, 1);             /* THRE still pending */
    assert_int_equal(rd(f, IIR) & 0x0f, 0x02);
    assert_int_equal(f->level, 0);
}

static void test_iir_fifo_bits_follow_fcr(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(rd(f, IIR), 0x01);
    wr(f, FCR, 0x07); /* enable and clear FIFOs */
    assert_int_equal(rd(f, IIR), 0xc1);
    wr(f, FCR, 0x00);
    assert_int_equal(rd(f, IIR), 0x01);
}

static void test_dlab_selects_divisor_latch(void **state)
{
    struct fixture *f = *state;
    wr(f, IER, 0x05);
    wr(f, LCR, 0x83); /* DLAB, 8N1 */
    assert_int_equal(rd(f, LCR), 0x83);
    wr(f, DLL, 0x34);
    wr(f, DLM, 0x12);
    assert_int_equal(rd(f, DLL), 0x34);
    assert_int_equal(rd(f, DLM), 0x12);
    assert_int_equal(f->out_len, 0); /* writing DLL did not transmit */
    wr(f, LCR, 0x03);
    assert_int_equal(rd(f, LCR), 0x03);
    assert_int_equal(rd(f, IER), 0x05); /* IER untouched by the DLM write */
    wr(f, THR, 'A');
    assert_int_equal(f->out_len, 1);
    wr(f, LCR, 0x80);
    assert_int_equal(rd(f, DLL), 0x34); /* the latch kept its value */
    assert_int_equal(rd(f, DLM), 0x12);
}

static void test_dlab_hides_rbr_without_consuming(void **state)
{
    struct fixture *f = *state;
    receive_str(f, "r");
    wr(f, LCR, 0x80);
    wr(f, DLL, 0x01);
    assert_int_equal(rd(f, DLL), 0x01);
    assert_int_equal(rd(f, LSR) & 0x01, 0x01);
    wr(f, LCR, 0x00);
    assert_int_equal(rd(f, RBR), 'r');
}

static void test_scratch_register_holds_a_byte(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(rd(f, SCR), 0);
    wr(f, SCR, 0xa5);
    assert_int_equal(rd(f, SCR), 0xa5);
    wr(f, SCR, 0x5a);
    assert_int_equal(rd(f, SCR), 0x5a);
    assert_int_equal(f->out_len, 0);
}

static void test_ier_keeps_only_low_four_bits(void **state)
{
    struct fixture *f = *state;
    wr(f, IER, 0xf0);
    assert_int_equal(rd(f, IER), 0x00);
    wr(f, IER, 0xff);
    assert_int_equal(rd(f, IER), 0x0f);
}

static void test_receive_stops_at_buffer_capacity(void **state)
{
    struct fixture *f = *state;
    static uint8_t buf[RX_CAPACITY + 100];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)i;
    assert_int_equal(uart16550_receive(f->u, buf, sizeof(buf)), RX_CAPACITY);
    assert_int_equal(uart16550_receive(f->u, buf, 1), 0);
    /* refusing input is flow control, not an overrun */
    assert_int_equal(rd(f, LSR) & 0x02, 0);
    for (size_t i = 0; i < RX_CAPACITY; i++)
        assert_int_equal(rd(f, RBR), (uint8_t)i);
    assert_int_equal(rd(f, LSR) & 0x01, 0);
    assert_int_equal(uart16550_receive(f->u, buf, 2), 2);
}

static void test_overrun_when_rx_full_sets_oe_and_line_status_interrupt(void **state)
{
    struct fixture *f = *state;
    static uint8_t buf[RX_CAPACITY];
    memset(buf, 'f', sizeof(buf));
    assert_int_equal(uart16550_receive(f->u, buf, sizeof(buf)), RX_CAPACITY);
    wr(f, IER, 0x05); /* ERBFI | ELSI */
    wr(f, MCR, 0x10); /* loopback: THR feeds the receiver */
    wr(f, THR, 'X');  /* no room: overrun */
    assert_int_equal(f->level, 1);
    assert_int_equal(rd(f, IIR) & 0x0f, 0x06); /* line status outranks RDA */
    uint8_t lsr = rd(f, LSR);
    assert_int_equal(lsr & 0x02, 0x02);
    assert_int_equal(lsr & 0x01, 0x01);
    assert_int_equal(rd(f, LSR) & 0x02, 0);    /* OE clears on read */
    assert_int_equal(rd(f, IIR) & 0x0f, 0x04);
    /* the overrunning byte was dropped, the buffered ones kept */
    for (size_t i = 0; i < RX_CAPACITY; i++)
        assert_int_equal(rd(f, RBR), 'f');
    assert_int_equal(rd(f, LSR) & 0x01, 0);
    assert_int_equal(f->level, 0);
    assert_int_equal(f->out_len, 0);
}

static void test_loopback_echoes_to_receiver_not_backend(void **state)
{
    struct fixture *f = *state;
    wr(f, MCR, 0x10);
    wr(f, THR, 'L');
    assert_int_equal(f->out_len, 0);
    assert_int_equal(rd(f, LSR) & 0x01, 0x01);
    assert_int_equal(rd(f, RBR), 'L');
    /* loopback MSR: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD */
    wr(f, MCR, 0x10 | 0x02);
    assert_int_equal(rd(f, MSR) & 0xf0, 0x10);
    wr(f, MCR, 0x10 | 0x01);
    assert_int_equal(rd(f, MSR) & 0xf0, 0x20);
    wr(f, MCR, 0x10 | 0x04);
    assert_int_equal(rd(f, MSR) & 0xf0, 0x40);
    wr(f, MCR, 0x10 | 0x08);
    assert_int_equal(rd(f, MSR) & 0xf0, 0x80);
    wr(f, MCR, 0x00);
    wr(f, THR, 'N');
    assert_int_equal(f->out_len, 1);
    assert_int_equal(f->out[0], 'N');
}

static void test_msr_reports_connected_line(void **state)
{
    struct fixture *f = *state;
    uint8_t msr = rd(f, MSR);
    assert_int_equal(msr & 0xb0, 0xb0); /* DCD, DSR, CTS */
}

static void test_reset_clears_registers_keeps_input(void **state)
{
    struct fixture *f = *state;
    receive_str(f, "k");
    wr(f, IER, 0x0f);
    wr(f, LCR, 0x1b);
    wr(f, MCR, 0x0b);
    wr(f, SCR, 0x77);
    wr(f, FCR, 0x01);
    assert_int_equal(f->level, 1);
    uart16550_reset(f->u);
    assert_int_equal(f->level, 0);
    assert_int_equal(rd(f, IER), 0);
    assert_int_equal(rd(f, LCR), 0);
    assert_int_equal(rd(f, MCR), 0);
    assert_int_equal(rd(f, SCR), 0);
    assert_int_equal(rd(f, IIR), 0x01);
    assert_int_equal(rd(f, RBR), 'k');
}

static void test_bad_offsets_and_sizes_do_not_crash(void **state)
{
    struct fixture *f = *state;
    static const uint64_t offs[] = { 8, 9, 0x100, 0xfff, 1ULL << 32, UINT64_MAX };
    static const unsigned sizes[] = { 0, 1, 2, 3, 4, 8, 16, UINT32_MAX };
    receive_str(f, "s");
    wr(f, SCR, 0x42);
    for (size_t i = 0; i < ARRAY_SIZE(offs); i++) {
        for (size_t j = 0; j < ARRAY_SIZE(sizes); j++) {
            uint64_t v = 0xdeadbeef;
            assert_int_equal(uart16550_read(f->u, offs[i], sizes[j], &v), 0);
            assert_int_equal(v, 0);
            assert_int_equal(uart16550_write(f->u, offs[i], sizes[j], 0xffffffffffffffffULL), 0);
        }
    }
    assert_int_equal(f->out_len, 0);
    assert_int_equal(rd(f, SCR), 0x42);
    assert_int_equal(rd(f, IER), 0);
    assert_int_equal(rd(f, LCR), 0);
    /* a wide write to THR sends only the low byte */
    assert_int_equal(uart16550_write(f->u, THR, 4, 0x12345641), 0);
    assert_int_equal(f->out_len, 1);
    assert_int_equal(f->out[0], 0x41);
    assert_int_equal(rd(f, RBR), 's');
    assert_int_equal(uart16550_receive(f->u, NULL, 0), 0);
}

static void test_no_backend_write_is_harmless(void **state)
{
    (void)state;
    struct char_backend none = { NULL, NULL };
    struct irq_line no_irq = { NULL, NULL, 0 };
    struct uart16550 *u = uart16550_create(&none, &no_irq);
    assert_non_null(u);
    assert_int_equal(uart16550_write(u, THR, 1, 'x'), 0);
    assert_int_equal(uart16550_write(u, IER, 1, 0x03), 0);
    uint64_t v = 0;
    assert_int_equal(uart16550_read(u, IIR, 1, &v), 0);
    assert_int_equal(v & 0x0f, 0x02);
    uart16550_destroy(u);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_thr_write_goes_to_backend),
        T(test_lsr_after_reset_is_transmitter_empty_no_data),
        T(test_received_bytes_read_in_order_and_clear_dr),
        T(test_rx_interrupt_follows_data_when_enabled),
        T(test_rx_interrupt_masked_without_ier),
        T(test_thre_interrupt_on_enable_cleared_by_iir_read),
        T(test_thr_write_raises_thre_interrupt_again),
        T(test_thre_interrupt_needs_ier),
        T(test_iir_reports_rx_before_thre),
        T(test_iir_fifo_bits_follow_fcr),
        T(test_dlab_selects_divisor_latch),
        T(test_dlab_hides_rbr_without_consuming),
        T(test_scratch_register_holds_a_byte),
        T(test_ier_keeps_only_low_four_bits),
        T(test_receive_stops_at_buffer_capacity),
        T(test_overrun_when_rx_full_sets_oe_and_line_status_interrupt),
        T(test_loopback_echoes_to_receiver_not_backend),
        T(test_msr_reports_connected_line),
        T(test_reset_clears_registers_keeps_input),
        T(test_bad_offsets_and_sizes_do_not_crash),
        cmocka_unit_test(test_no_backend_write_is_harmless),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
