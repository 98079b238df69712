/* The interrupt paths attacked from S-mode with two harts: every word of the PLIC's window
 * and the CLINT's read and written; priorities, enables and thresholds of sources and
 * contexts that do not exist; claims and completions of bogus ids, from the wrong context
 * and from both harts at once; mtime, mtimecmp and msip of harts that do not exist; and
 * stimecmp (Sstc) given wild values. The PLIC spec: sources past riscv,ndev and contexts
 * past the harts' are not there (read zero, writes ignored); a completion for a source not
 * enabled on the context is ignored. A real interrupt (the UART's) must still go through. */
#include "rt.h"

#define CLINT_BASE 0x02000000UL
#define CLINT_SIZE 0x10000UL
#define PLIC_BASE 0x0c000000UL
#define PLIC_SIZE 0x600000UL
#define PLIC_PRIO(s) (PLIC_BASE + 4UL * (s))
#define PLIC_PENDING(w) (PLIC_BASE + 0x1000 + 4UL * (w))
#define PLIC_ENABLE(c, w) (PLIC_BASE + 0x2000 + 0x80UL * (c) + 4UL * (w))
#define PLIC_THRESHOLD(c) (PLIC_BASE + 0x200000 + 0x1000UL * (c))
#define PLIC_CLAIM(c) (PLIC_THRESHOLD(c) + 4)
#define CONTEXTS 4   /* two harts, M and S each */
#define SOURCES 96   /* riscv,ndev = 95 */
#define UART_IRQ 10
#define SIP_SEIP 0x200
#define SIP_STIP 0x20

static unsigned traps, odd_traps;

static void note(void)
{
    uint64_t c = rt_last.cause;
    if (c == NO_TRAP)
        return;
    traps++;
    if (c < CAUSE_LOAD_MISALIGNED || c > CAUSE_STORE_ACCESS)
        odd_traps++;
    rt_clear_trap();
}

/* Every STEP bytes of [from, to): a read, then all ones and zero written, at SIZE. */
static void sweep(uintptr_t from, uintptr_t to, unsigned step, unsigned size)
{
    rt_clear_trap();
    for (uintptr_t a = from; a < to; a += step) {
        (void)mmio_rd(a, size);
        note();
        mmio_wr(a, size, ~0ULL);
        note();
        mmio_wr(a, size, 0);
        note();
    }
}

static void verdict(const char *what, bool ok, const char *detail, uint64_t val)
{
    rt_puts("irq: ");
    rt_puts(what);
    rt_verdict_val(ok && odd_traps == 0, "", detail, val);
    traps = odd_traps = 0;
}

static uint64_t sip(void)
{
    uint64_t v;
    __asm__ volatile("csrr %0, sip" : "=r"(v));
    return v;
}

/* Every source completed on every context (a completion counts only where the source is
 * enabled), then everything off: what the attacks claimed is not left in service. */
static void plic_quiet(void)
{
    for (unsigned c = 0; c < CONTEXTS; c++) {
        for (unsigned w = 0; w < SOURCES / 32; w++)
            mmio_w32(PLIC_ENABLE(c, w), ~0u);
        for (unsigned s = 1; s < SOURCES; s++)
            mmio_w32(PLIC_CLAIM(c), s);
        for (unsigned w = 0; w < 32; w++)
            mmio_w32(PLIC_ENABLE(c, w), 0);
        mmio_w32(PLIC_THRESHOLD(c), 0);
    }
    for (unsigned s = 0; s < SOURCES; s++)
        mmio_w32(PLIC_PRIO(s), 0);
}

static void plic_window(void)
{
    uint64_t t0 = rdtime();
    sweep(PLIC_BASE, PLIC_BASE + PLIC_SIZE, 4, 4);
    rt_puts("irq: PLIC window swept in ");
    rt_dec((rdtime() - t0) / 10000);
    rt_puts(" ms\n");
    plic_quiet();
    verdict("PLIC, every word of the window read and written -> served or ignored", true, "traps", traps);

    /* odd sizes and offsets at the start of every region, of the first and last context, and
     * at the window's end */
    static const uintptr_t at[] = { 0, 0x1000, 0x2000, 0x2000 + 0x80 * 1023, 0x200000, 0x3ff000,
                                    PLIC_SIZE - 0x40 };
    for (unsigned i = 0; i < sizeof(at) / sizeof(at[0]); i++)
        for (unsigned size = 1; size <= 8; size *= 2)
            for (unsigned off = 0; off < 0x40; off++)
                sweep(PLIC_BASE + at[i] + off, PLIC_BASE + at[i] + off + 1, 1, size);
    plic_quiet();
    verdict("PLIC, every size at every offset of each region -> served or ignored", true, "traps", traps);
}

static void plic_nonexistent(void)
{
    unsigned bad = 0;
    mmio_w32(PLIC_PRIO(0), 7);
    bad += mmio_r32(PLIC_PRIO(0)) != 0;
    for (unsigned s = SOURCES; s < 1024; s++) {
        mmio_w32(PLIC_PRIO(s), 7);
        bad += mmio_r32(PLIC_PRIO(s)) != 0;
    }
    for (unsigned w = 0; w < 32; w++) {
        mmio_w32(PLIC_ENABLE(1, w), ~0u);
        uint32_t want = w == 0 ? ~1u : w < SOURCES / 32 ? ~0u : 0;
        bad += mmio_r32(PLIC_ENABLE(1, w)) != want;
        mmio_w32(PLIC_ENABLE(1, w), 0);
        bad += w >= SOURCES / 32 && mmio_r32(PLIC_PENDING(w)) != 0;
    }
    verdict("PLIC sources 0 and 96-1023 have no priority, enable or pending bit", !bad, "bad", bad);

    bad = 0;
    for (unsigned c = CONTEXTS; c < 1024; c++) {
        if (c < (0x200000 - 0x2000) / 0x80) {
            mmio_w32(PLIC_ENABLE(c, 0), ~0u);
            bad += mmio_r32(PLIC_ENABLE(c, 0)) != 0;
        }
        mmio_w32(PLIC_THRESHOLD(c), 1);
        bad += mmio_r32(PLIC_THRESHOLD(c)) != 0;
        bad += mmio_r32(PLIC_CLAIM(c)) != 0;
        mmio_w32(PLIC_CLAIM(c), UART_IRQ);
    }
    mmio_w32(PLIC_THRESHOLD(1), ~0u);
    uint32_t th = mmio_r32(PLIC_THRESHOLD(1));
    bad += th != 7;
    mmio_w32(PLIC_THRESHOLD(1), 0);
    verdict("PLIC contexts past the harts' read zero; a threshold keeps 3 bits", !bad, "bad", bad);
}

/* The UART's THR-empty interrupt: setting IER.THRI with THR empty raises it, and it stays
 * up until IIR reports it or THR is written (through context 1: hart 0, S-mode). */
static void uart_thri(bool on)
{
    ((volatile uint8_t *)UART_BASE)[1] = on ? 2 : 0;
}

static void plic_claims(void)
{
    unsigned bad = 0;
    mmio_w32(PLIC_PRIO(UART_IRQ), 1);
    mmio_w32(PLIC_ENABLE(1, 0), 1u << UART_IRQ);
    uart_thri(true);
    bad |= !(sip() & SIP_SEIP) << 0;
    uint32_t id = mmio_r32(PLIC_CLAIM(1));
    bad |= (id != UART_IRQ) << 1;
    /* in service: no bogus completion, and none from a context without the source, ends it */
    static const uint32_t bogus[] = { 0, 1, 9, 11, 95, 96, 1023, 1024, 0x80000000u, 0xffffffffu };
    for (unsigned i = 0; i < sizeof(bogus) / sizeof(bogus[0]); i++)
        mmio_w32(PLIC_CLAIM(1), bogus[i]);
    for (unsigned c = 0; c < CONTEXTS; c++)
        if (c != 1)
            mmio_w32(PLIC_CLAIM(c), UART_IRQ);
    bad |= (mmio_r32(PLIC_CLAIM(1)) != 0) << 2;
    bad |= ((sip() & SIP_SEIP) != 0) << 3;
    /* the right completion ends it; the line is still up, so it is pending again */
    mmio_w32(PLIC_CLAIM(1), UART_IRQ);
    bad |= !(sip() & SIP_SEIP) << 4;
    /* a threshold equal to the priority masks it */
    mmio_w32(PLIC_THRESHOLD(1), 1);
    bad |= ((sip() & SIP_SEIP) != 0) << 5;
    bad |= (mmio_r32(PLIC_CLAIM(1)) != 0) << 6;
    mmio_w32(PLIC_THRESHOLD(1), 0);
    bad |= (mmio_r32(PLIC_CLAIM(1)) != UART_IRQ) << 7;
    uart_thri(false);
    mmio_w32(PLIC_CLAIM(1), UART_IRQ);
    bad |= ((sip() & SIP_SEIP) != 0) << 8;
    plic_quiet();
    verdict("PLIC bogus completions leave the UART's interrupt in service, the right one ends it",
            !bad, "bad", bad);
}

/* Both harts claim, complete and reconfigure every context at once. */
static volatile unsigned storm_stop, storm_done, storm_odd;

static void storm(unsigned hart, uint64_t end)
{
    uint64_t x = 0x1234567u + hart;
    while (!storm_stop) {
        if (hart == 0 && rdtime() >= end)
            storm_stop = 1;
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        unsigned c = (x >> 33) % CONTEXTS, s = (x >> 40) % 1030;
        rt_clear_trap();
        mmio_w32(PLIC_PRIO(s % SOURCES), (uint32_t)(x >> 20));
        mmio_w32(PLIC_ENABLE(c, (x >> 50) % 4), (uint32_t)x);
        mmio_w32(PLIC_THRESHOLD(c), (uint32_t)(x >> 24) % 3);
        uint32_t id = mmio_r32(PLIC_CLAIM(c));
        if (id >= SOURCES)
            storm_odd++;
        mmio_w32(PLIC_CLAIM(c), (x & 1) ? id : s);
        ((volatile uint8_t *)UART_BASE)[1] = x & 2; /* IER.THRI: the UART's line up or down */
        if (hart == 0 && rt_last.cause != NO_TRAP)
            storm_odd++;
    }
}

static void storm_hart1(void)
{
    storm(1, 0);
    storm_done = 1;
    for (;;)
        __asm__ volatile("wfi");
}

static void plic_storm(void)
{
    bool started = rt_start_hart(1, storm_hart1);
    storm(0, rdtime() + 2000000); /* 200 ms */
    for (uint64_t t = rdtime() + 10000000; started && !storm_done && rdtime() < t;)
        ;
    uart_thri(false);
    plic_quiet();
    verdict("two harts claim, complete and reconfigure every context for 200 ms",
            started && storm_done && !storm_odd, "odd", storm_odd);
    plic_claims(); /* and the path still works */
}

static void clint(void)
{
    uint64_t t0 = rdtime();
    for (unsigned size = 1; size <= 8; size *= 2)
        sweep(CLINT_BASE, CLINT_BASE + CLINT_SIZE, size < 4 ? 4 : size, size);
    /* time back; the harts' own msip and mtimecmp as the SBI left them (off) */
    mmio_wr(CLINT_BASE + 0xbff8, 8, t0 + 10000);
    for (unsigned h = 0; h < 2; h++) {
        mmio_wr(CLINT_BASE + 4 * h, 4, 0);
        mmio_wr(CLINT_BASE + 0x4000 + 8 * h, 8, ~0ULL);
    }
    verdict("CLINT, every word of the window at every size -> served or ignored", true, "traps", traps);
    unsigned bad = 0;
    for (unsigned h = 2; h < 4095; h++) {
        mmio_wr(CLINT_BASE + 4 * h, 4, 1);
        bad += mmio_rd(CLINT_BASE + 4 * h, 4) != 0;
        mmio_wr(CLINT_BASE + 0x4000 + 8 * h, 8, 0);
        bad += mmio_rd(CLINT_BASE + 0x4000 + 8 * h, 8) != 0;
    }
    verdict("CLINT msip and mtimecmp of harts 2-4094 read zero", !bad, "bad", bad);
}

static void set_stimecmp(uint64_t v) { __asm__ volatile("csrw stimecmp, %0" ::"r"(v)); }

static uint64_t get_stimecmp(void)
{
    uint64_t v;
    __asm__ volatile("csrr %0, stimecmp" : "=r"(v));
    return v;
}

/* WFI with only the timer enabled (and sstatus.SIE off, so no trap): back within LIMIT
 * ticks, after the timer. */
static bool wfi_until_timer(uint64_t limit)
{
    __asm__ volatile("csrs sie, %0" ::"r"(SIP_STIP));
    uint64_t t0 = rdtime();
    while (!(sip() & SIP_STIP) && rdtime() - t0 < limit)
        __asm__ volatile("wfi");
    __asm__ volatile("csrc sie, %0" ::"r"(SIP_STIP));
    return sip() & SIP_STIP;
}

static void stimecmp(void)
{
    unsigned bad = 0;
    uint64_t now = rdtime();
    static const uint64_t due[] = { 0, 1 };
    static const uint64_t never[] = { ~0ULL, ~0ULL - 1, 1ULL << 63, 1ULL << 62, 1ULL << 32 };
    for (unsigned i = 0; i < 2; i++) {
        set_stimecmp(due[i]);
        bad += get_stimecmp() != due[i] || !(sip() & SIP_STIP);
    }
    for (unsigned i = 0; i < 5; i++) {
        set_stimecmp(never[i]);
        bad += (get_stimecmp() != never[i] || (sip() & SIP_STIP)) << 4;
    }
    set_stimecmp(now - 1);
    bad += !(sip() & SIP_STIP);
    set_stimecmp(rdtime() + 10000); /* 1 ms */
    bad += !wfi_until_timer(10000000) << 8;
    verdict("stimecmp of 0, 1, 2^32, 2^62, 2^63, 2^64-1: STIP follows it, WFI wakes on it",
            !bad, "bad", bad);

    /* mtime moved to 10 ms before it wraps, under a stimecmp of 5 ms after: STIP is up
     * (time is past it), down once time wraps, and up again when WFI wakes on it */
    bad = 0;
    volatile uint64_t *mtime = (volatile uint64_t *)(CLINT_BASE + 0xbff8);
    set_stimecmp(50000);
    *mtime = ~0ULL - 100000;
    bad += !(sip() & SIP_STIP);
    /* until time wraps (a host that deschedules the hart may let it run on past 50000
     * before we look: then STIP is rightly up again, which the checks below allow) */
    for (unsigned long i = 0; i < 1000000000UL && rdtime() >= ~0ULL - 200000; i++)
        ;
    bool down = !(sip() & SIP_STIP);
    bad += !down && rdtime() < 50000;
    bad += !wfi_until_timer(10000000) << 4;
    bad += (rdtime() < 50000) << 8;
    *mtime = now + 20000;
    set_stimecmp(~0ULL);
    bad += ((sip() & SIP_STIP) != 0) << 12;
    verdict("mtime moved across 2^64 under stimecmp, then back", !bad, "bad", bad);
}

int main(void)
{
    plic_window();
    plic_nonexistent();
    plic_claims();
    plic_storm();
    clint();
    stimecmp();
    /* unharmed: time moves, and a timer set through the SBI still fires */
    uint64_t a = rdtime();
    delay_ms(1);
    rt_verdict(rdtime() > a, "irq: time still moves");
    sbi_call(0x54494d45, 0, (long)(rdtime() + 10000), 0, 0);
    bool fired = false;
    for (uint64_t end = rdtime() + 2000000; !fired && rdtime() < end;)
        fired = sip() & SIP_STIP;
    rt_verdict(fired, "irq: a timer set through the SBI still fires");
    sbi_call(0x54494d45, 0, -1, 0, 0);
    return 0;
}
