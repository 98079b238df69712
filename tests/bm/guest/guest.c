/* A tiny guest for the corral-bm tests: talks only SBI. It greets through DBCN (a buffer
 * the hypervisor must find in the guest's memory), counts primes in four steps, reports
 * through the legacy console, and powers off with EXIT_CODE through SRST. Built as:
 *   guest-ok      exits 0
 *   guest-exit7   exits 7 (SRST vendor reason 0xf0000007)
 *   guest-escape  stores outside its RAM after greeting, which must stop it
 *   guest-mmio    also talks to its emulated UART and PLIC (G-stage MMIO traps), and exits
 *                 0 if they answered as a 16550 and a PLIC do, else 9
 *   guest-hostile makes SBI calls with bad arguments, prints the errors, then runs an
 *                 HS-only instruction (hfence.gvma), which must stop it */
#include <stdint.h>

#ifndef EXIT_CODE
#define EXIT_CODE 0
#endif
#define LIMIT 60000

void guest_main(uint64_t hartid, uint64_t dtb);

struct ret { long error, value; };

static struct ret ecall(long eid, long fid, long a0, long a1, long a2)
{
    register long r0 __asm__("a0") = a0, r1 __asm__("a1") = a1, r2 __asm__("a2") = a2;
    register long r6 __asm__("a6") = fid, r7 __asm__("a7") = eid;
    __asm__ volatile("ecall" : "+r"(r0), "+r"(r1) : "r"(r2), "r"(r6), "r"(r7) : "memory");
    return (struct ret){ r0, r1 };
}

static void putc_legacy(char c)
{
    ecall(0x01, 0, c, 0, 0);
}

static void puts_legacy(const char *s)
{
    while (*s)
        putc_legacy(*s++);
}

static void put_dec(unsigned long v)
{
    char b[24];
    int n = 0;
    do
        b[n++] = (char)('0' + v % 10);
    while (v /= 10);
    while (n)
        putc_legacy(b[--n]);
}

static unsigned long dbcn_write(const char *s, unsigned long len)
{
    return (unsigned long)ecall(0x4442434e, 0, (long)len, (long)(uintptr_t)s, 0).value;
}

static int is_prime(unsigned long n)
{
    if (n < 2)
        return 0;
    for (unsigned long d = 2; d * d <= n; d++)
        if (n % d == 0)
            return 0;
    return 1;
}

static const char hello[] = "hello from a corral-bm guest\n";

void guest_main(uint64_t hartid, uint64_t dtb)
{
    (void)dtb;
    unsigned long n = dbcn_write(hello, sizeof(hello) - 1);
    puts_legacy("dbcn wrote ");
    put_dec(n);
    puts_legacy(" bytes, hart ");
    put_dec(hartid);
    puts_legacy("\n");
    struct ret r = ecall(0x10, 3, 0x48534d, 0, 0); /* base: probe HSM */
    puts_legacy("hsm probe ");
    put_dec((unsigned long)r.value);
    puts_legacy("\n");
#ifdef MMIO
    volatile uint8_t *uart = (volatile uint8_t *)0x10000000UL;
    volatile uint32_t *plic = (volatile uint32_t *)0x0c000000UL;
    static const char msg[] = "uart says hi\n";
    int bad = 0;
    for (const char *p = msg; *p; p++) {
        if (!(uart[5] & 0x20))   /* LSR.THRE: the model sends at once */
            bad |= 1;
        uart[0] = (uint8_t)*p;
    }
    uart[7] = 0x5a;              /* the scratch register keeps what is written */
    if (uart[7] != 0x5a)
        bad |= 2;
    plic[10] = 5;                /* source 10's priority */
    if (plic[10] != 5)
        bad |= 4;
    puts_legacy("mmio checks ");
    put_dec((unsigned long)bad);
    puts_legacy("\n");
    if (bad)
        ecall(0x53525354, 0, 0, 0xf0000009L, 0);
#endif
#ifdef HOSTILE
    /* DBCN from outside RAM, HSM start of a hart it lacks, an IPI mask past its harts */
    long e1 = ecall(0x4442434e, 0, 64, 0x10000000L, 0).error;
    long e2 = ecall(0x48534d, 0, 5, 0x80200000L, 0).error;
    long e3 = ecall(0x735049, 0, 0x6, 0, 0).error;
    long e4 = ecall(0x48534d, 0, 0, 0x80200000L, 0).error;   /* itself: already started */
    puts_legacy("sbi errors");
    long errs[] = { e1, e2, e3, e4 };
    for (int i = 0; i < 4; i++) {
        puts_legacy(" ");
        put_dec((unsigned long)-errs[i]);
    }
    puts_legacy("\n");
    __asm__ volatile(".insn r 0x73, 0, 0x31, x0, x0, x0" ::: "memory");
    puts_legacy("still running after hfence.gvma\n");
#endif
#ifdef ESCAPE
    puts_legacy("storing outside my memory\n");
    *(volatile uint64_t *)0xc0000000UL = 1;
    puts_legacy("still running after the store\n");
#endif
    unsigned long count = 0;
    for (unsigned step = 1; step <= 4; step++) {
        for (unsigned long i = (step - 1) * (LIMIT / 4); i < step * (LIMIT / 4); i++)
            count += is_prime(i);
        puts_legacy("step ");
        put_dec(step);
        puts_legacy("/4\n");
    }
    puts_legacy("primes below ");
    put_dec(LIMIT);
    puts_legacy(": ");
    put_dec(count);
    puts_legacy("\n");
    ecall(0x53525354, 0, 0, EXIT_CODE ? 0xf0000000L + EXIT_CODE : 0, 0);
    puts_legacy("power off returned\n");
}
