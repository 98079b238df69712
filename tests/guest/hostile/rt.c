/* The runtime's C half: console output through the ns16550 UART, verdict lines, the trap
 * handler, SBI calls and power off through the sifive test device. */
#include "rt.h"

volatile struct trap_record rt_last = { NO_TRAP, 0, 0, 0 };
uint64_t rt_user_return;
static unsigned checks, failures;

void rt_putc(char c)
{
    volatile uint8_t *u = (volatile uint8_t *)UART_BASE;
    if (c == '\n')
        rt_putc('\r');
    while (!(u[5] & 0x20))
        ;
    u[0] = (uint8_t)c;
}

void rt_puts(const char *s)
{
    while (*s)
        rt_putc(*s++);
}

void rt_hex(uint64_t v)
{
    rt_puts("0x");
    for (int i = 60; i >= 0; i -= 4)
        if (v >> i || !i)
            rt_putc("0123456789abcdef"[(v >> i) & 15]);
}

void rt_dec(uint64_t v)
{
    char b[24];
    int n = 0;
    do {
        b[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        rt_putc(b[--n]);
}

void *rt_memset(void *d, int c, size_t n)
{
    volatile uint8_t *p = d;
    while (n--)
        *p++ = (uint8_t)c;
    return d;
}

void *rt_memcpy(void *d, const void *s, size_t n)
{
    volatile uint8_t *p = d;
    const uint8_t *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

/* gcc may emit calls to these itself, freestanding or not */
void *memset(void *d, int c, size_t n) { return rt_memset(d, c, n); }
void *memcpy(void *d, const void *s, size_t n) { return rt_memcpy(d, s, n); }

bool rt_verdict_val(bool ok, const char *what, const char *detail, uint64_t val)
{
    checks++;
    failures += !ok;
    rt_puts(what);
    if (detail) {
        rt_puts(" [");
        rt_puts(detail);
        rt_putc(' ');
        rt_hex(val);
        rt_putc(']');
    }
    rt_puts(ok ? " ok\n" : " FAIL\n");
    return ok;
}

bool rt_verdict(bool ok, const char *what)
{
    return rt_verdict_val(ok, what, NULL, 0);
}

void rt_clear_trap(void)
{
    rt_last.cause = NO_TRAP;
    rt_last.tval = rt_last.epc = 0;
}

/* Called from rt_vector with the saved frame: f[0] is sepc, f[i] is xi. */
void rt_trap(uint64_t *f)
{
    uint64_t cause, tval;
    __asm__ volatile("csrr %0, scause; csrr %1, stval" : "=r"(cause), "=r"(tval));
    if (cause >> 63) {
        /* no test wants interrupts: quiet whichever one came (timer, software) */
        __asm__ volatile("csrc sie, %0; csrci sip, 2" ::"r"(0x222UL));
        return;
    }
    rt_last.cause = cause;
    rt_last.tval = tval;
    rt_last.epc = f[0];
    rt_last.count++;
    if (cause == 8 && rt_user_return) { /* ecall from U-mode: back to S where it was left */
        f[0] = rt_user_return;
        /* SPP = S, and SPIE = 0 so that S-mode goes on with interrupts off, as before */
        __asm__ volatile("csrs sstatus, %0; csrc sstatus, %1" ::"r"(1UL << 8), "r"(1UL << 5));
        return;
    }
    if (cause == CAUSE_FETCH_MISALIGNED || cause == CAUSE_FETCH_ACCESS || cause == CAUSE_FETCH_PAGE) {
        f[0] = f[1]; /* back to the caller of the bad code */
        return;
    }
    uint16_t low = *(volatile uint16_t *)f[0];
    f[0] += (low & 3) == 3 ? 4 : 2;
}

struct sbiret sbi_call(long eid, long fid, long a0, long a1, long a2)
{
    register long x10 __asm__("a0") = a0, x11 __asm__("a1") = a1, x12 __asm__("a2") = a2;
    register long x16 __asm__("a6") = fid, x17 __asm__("a7") = eid;
    __asm__ volatile("ecall" : "+r"(x10), "+r"(x11) : "r"(x12), "r"(x16), "r"(x17) : "memory");
    return (struct sbiret){ x10, x11 };
}

static void (*volatile secondary_fn)(void);
static uint8_t secondary_stack[16384] __attribute__((aligned(16)));
extern char rt_secondary[];

void rt_secondary_main(void)
{
    secondary_fn();
}

bool rt_start_hart(unsigned id, void (*fn)(void))
{
    secondary_fn = fn;
    mb();
    struct sbiret r = sbi_call(0x48534d, 0, id, (long)rt_secondary,
                               (long)(secondary_stack + sizeof(secondary_stack)));
    return r.error == 0;
}

void delay_ms(unsigned ms)
{
    uint64_t end = rdtime() + 10000ULL * ms;
    while (rdtime() < end)
        ;
}

void rt_finish(void)
{
    rt_puts("hostile: ");
    rt_dec(checks);
    rt_puts(" checks, ");
    rt_dec(failures);
    rt_puts(" failed\n");
    /* sifive test device: 0x5555 passes, 0x3333 | code << 16 fails with code */
    volatile uint32_t *t = (volatile uint32_t *)TEST_BASE;
    *t = failures ? 0x3333u | (failures > 255 ? 255 : failures) << 16 : 0x5555u;
    for (;;)
        __asm__ volatile("wfi");
}
