/* The board's own devices attacked from S-mode: every offset of the UART, the RTC, the
 * test device, the CLINT's registers and the PLIC's (priorities, pending, enables and
 * contexts, the harts' and far beyond) read and written at every size with every pattern;
 * claims and completions of sources that do not exist; the empty virtio slots; and the
 * holes in the memory map. Priv spec 3.6.1: an access the region does not support may
 * raise an access fault (or misaligned, if misaligned); anything else is served or ignored.
 * The guest must keep running, with its console, time and timer. */
#include "rt.h"

#define CLINT_BASE 0x02000000UL
#define PLIC_BASE 0x0c000000UL
#define RTC_BASE 0x00101000UL

static const uint64_t pat[] = { 0, ~0ULL, 0x5a5a5a5a5a5a5a5aULL, 0x8000000000000001ULL };
static unsigned odd_traps; /* traps other than access or misaligned faults */
static unsigned traps;

static void note(void)
{
    uint64_t c = rt_last.cause;
    if (c == NO_TRAP)
        return;
    traps++;
    if (c < CAUSE_LOAD_MISALIGNED || c > CAUSE_STORE_ACCESS)
        odd_traps++;
}

/* Reads, then writes of every pattern, at every offset in [from, to) and every size. */
static void sweep(uintptr_t from, uintptr_t to, bool write)
{
    for (uintptr_t a = from; a < to; a++)
        for (unsigned size = 1; size <= 8; size *= 2) {
            rt_clear_trap();
            (void)mmio_rd(a, size);
            note();
            for (unsigned p = 0; write && p < 4; p++) {
                rt_clear_trap();
                mmio_wr(a, size, pat[p]);
                note();
            }
        }
}

static void uart_restore(void)
{
    volatile uint8_t *u = (volatile uint8_t *)UART_BASE;
    u[3] = 0x80; /* DLAB: divisor 1 */
    u[0] = 1;
    u[1] = 0;
    u[3] = 3;    /* 8N1 */
    u[1] = 0;    /* no interrupts */
    u[2] = 7;    /* FIFOs on and cleared */
    u[4] = 0;    /* no loopback */
}

static void verdict(const char *what)
{
    rt_puts("mmio: ");
    rt_puts(what);
    rt_verdict_val(odd_traps == 0, " -> served, ignored or access/misaligned faults", "traps", traps);
    odd_traps = traps = 0;
}

int main(void)
{
    sweep(UART_BASE, UART_BASE + 0x100, true);
    uart_restore();
    rt_putc('\n'); /* after what the sweep sent through THR */
    verdict("UART, every offset");

    sweep(RTC_BASE, RTC_BASE + 0x40, true);
    verdict("RTC, every offset");

    /* the test device: all but the three values that end the VM */
    sweep(TEST_BASE + 1, TEST_BASE + 0x20, true);
    for (unsigned size = 1; size <= 8; size *= 2) {
        rt_clear_trap();
        mmio_wr(TEST_BASE, size, 0x12345678);
        note();
        rt_clear_trap();
        mmio_wr(TEST_BASE, size, 0x3333ULL << 32);
        note();
    }
    verdict("test device, other values");

    /* CLINT: msip, mtimecmp and mtime of every hart and past them; mtime is put back */
    uint64_t t0 = rdtime();
    sweep(CLINT_BASE, CLINT_BASE + 0x40, true);
    sweep(CLINT_BASE + 0x4000, CLINT_BASE + 0x4048, true);
    sweep(CLINT_BASE + 0xbff0, CLINT_BASE + 0xc008, true);
    rt_clear_trap();
    mmio_wr(CLINT_BASE + 0xbff8, 8, t0 + 1000);
    for (unsigned h = 0; h < 8; h++) {
        mmio_wr(CLINT_BASE + 4 * h, 4, 0);
        mmio_wr(CLINT_BASE + 0x4000 + 8 * h, 8, ~0ULL);
    }
    verdict("CLINT, every register");

    /* PLIC: priorities, pending, enables and contexts of the harts there are and far past */
    sweep(PLIC_BASE, PLIC_BASE + 0x200, true);
    sweep(PLIC_BASE + 0x1000, PLIC_BASE + 0x1090, true);
    sweep(PLIC_BASE + 0x2000, PLIC_BASE + 0x2000 + 4 * 0x80, true);
    sweep(PLIC_BASE + 0x1f1f80, PLIC_BASE + 0x1f2000, true); /* the last context's enables */
    static const unsigned ctx[] = { 0, 1, 2, 3, 15, 16, 0x1ff };
    for (unsigned i = 0; i < sizeof(ctx) / sizeof(ctx[0]); i++)
        sweep(PLIC_BASE + 0x200000 + 0x1000UL * ctx[i], PLIC_BASE + 0x200000 + 0x1000UL * ctx[i] + 16, true);
    sweep(PLIC_BASE + 0x5ffff0, PLIC_BASE + 0x600000, true);
    static const uint32_t ids[] = { 0, 1, 10, 95, 96, 1023, 1024, 0xffffffffu };
    for (unsigned c = 0; c < 4; c++)
        for (unsigned i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
            rt_clear_trap();
            (void)mmio_rd(PLIC_BASE + 0x200004 + 0x1000UL * c, 4); /* claim */
            note();
            mmio_wr(PLIC_BASE + 0x200004 + 0x1000UL * c, 4, ids[i]); /* complete */
            note();
        }
    for (unsigned c = 0; c < 4; c++) { /* quiet again */
        for (unsigned w = 0; w < 32; w++)
            mmio_wr(PLIC_BASE + 0x2000 + 0x80UL * c + 4 * w, 4, 0);
        mmio_wr(PLIC_BASE + 0x200000 + 0x1000UL * c, 4, 0);
    }
    verdict("PLIC, every kind of register, bad claims and completions");

    /* the virtio slots (the power button's and the empty ones): reads at every size */
    sweep(VIRTIO_BASE, VIRTIO_BASE + 8 * 0x1000, false);
    verdict("virtio slots, every offset read");

    /* holes in the memory map: access faults, and only those */
    static const uintptr_t holes[] = { 0, 0x200000, 0x3000000, 0x10100000, 0x20000000, 0x40000000,
                                       0x7ffff000, 0x100000000UL, ~0UL - 7 };
    unsigned wrong = 0;
    for (unsigned i = 0; i < sizeof(holes) / sizeof(holes[0]); i++) {
        rt_clear_trap();
        (void)mmio_rd(holes[i], 8);
        wrong += rt_last.cause != CAUSE_LOAD_ACCESS;
        rt_clear_trap();
        mmio_wr(holes[i], 8, 1);
        wrong += rt_last.cause != CAUSE_STORE_ACCESS;
    }
    rt_verdict_val(!wrong, "mmio: holes in the memory map -> load and store access faults", "wrong", wrong);

    /* unharmed: time moves, and a timer set through the SBI still fires */
    uint64_t a = rdtime();
    delay_ms(1);
    rt_verdict(rdtime() > a, "mmio: time still moves");
    sbi_call(0x54494d45, 0, (long)(rdtime() + 10000), 0, 0);
    bool fired = false;
    for (uint64_t end = rdtime() + 2000000; !fired && rdtime() < end;) {
        uint64_t sip;
        __asm__ volatile("csrr %0, sip" : "=r"(sip));
        fired = sip & 0x20;
    }
    rt_verdict(fired, "mmio: a timer set through the SBI still fires");
    sbi_call(0x54494d45, 0, -1, 0, 0);
    return 0;
}
