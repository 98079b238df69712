/* Every CSR number, 0x000-0xfff, read and written from S-mode with every pattern: 0, all
 * ones, alternating bits, and each single bit set. Priv spec 2.1: a CSR above the current
 * privilege level (bits 9:8) or a write to a read-only one (bits 11:10 = 3) is an illegal
 * instruction; 4.1.11: satp written with an unsupported MODE keeps its old value. Each
 * write is undone at once by the stub, so the guest keeps running whatever it wrote; a
 * supported paging mode gets an identity page table of that depth. */
#include "rt.h"

extern char csr_read_stubs[], csr_write_stubs[];

static uint64_t l2[512] __attribute__((aligned(4096))); /* Sv39 root */
static uint64_t l3[512] __attribute__((aligned(4096))); /* Sv48 root */
static uint64_t l4[512] __attribute__((aligned(4096))); /* Sv57 root */

#define SATP 0x180
#define LEAF 0xcf /* V R W X A D */

static uint64_t bad_cause;

/* Calls a stub with a0 = V; returns a0 and how many traps it took. */
static uint64_t stub(const char *s, uint64_t v, unsigned *traps)
{
    uint64_t before = rt_last.count;
    rt_clear_trap();
    register uint64_t a0 __asm__("a0") = v;
    __asm__ volatile("jalr %1" : "+r"(a0) : "r"(s) : "ra", "t0", "memory");
    *traps = (unsigned)(rt_last.count - before);
    if (*traps && rt_last.cause != CAUSE_ILLEGAL)
        bad_cause = rt_last.cause;
    return a0;
}

static uint64_t csr_write(unsigned n, uint64_t v, unsigned *traps)
{
    return stub(csr_write_stubs + 16 * n, v, traps);
}

static uint64_t csr_read(unsigned n, unsigned *traps)
{
    return stub(csr_read_stubs + 8 * n, 0, traps);
}

/* The value written to satp for pattern P: a supported paging mode gets our tables. */
static uint64_t satp_value(uint64_t p)
{
    uint64_t mode = p >> 60;
    uint64_t *root = mode == 8 ? l2 : mode == 9 ? l3 : mode == 10 ? l4 : NULL;
    if (!root)
        return p;
    return mode << 60 | (p & 0xffffULL << 44) | (uintptr_t)root >> 12;
}

/* From U-mode: every number read; only user-level ones (bits 9:8 = 0) may be served. */
static unsigned user_readable, user_high_served, user_writes_served_ro;

static void user_sweep(void)
{
    unsigned t;
    for (unsigned n = 0; n < 4096; n++) {
        csr_read(n, &t);
        user_readable += !t;
        user_high_served += !t && ((n >> 8) & 3) != 0;
        csr_write(n, 0, &t);
        user_writes_served_ro += !t && (n >> 10) == 3;
        csr_write(n, ~0ULL, &t);
        user_writes_served_ro += !t && (n >> 10) == 3;
    }
    __asm__ volatile("ecall");
}

extern void csr_user_call(void (*fn)(void));

int main(void)
{
    l2[0] = LEAF;                          /* devices: 0-1 GiB */
    l2[2] = (RAM_BASE >> 12) << 10 | LEAF; /* RAM: 2-3 GiB */
    l3[0] = ((uintptr_t)l2 >> 12) << 10 | 1;
    l4[0] = ((uintptr_t)l3 >> 12) << 10 | 1;

    uint64_t pat[68] = { 0, ~0ULL, 0x5555555555555555ULL, 0xaaaaaaaaaaaaaaaaULL };
    for (unsigned b = 0; b < 64; b++)
        pat[4 + b] = 1ULL << b;

    unsigned t;
    uint64_t stvec0 = csr_read(0x105, &t), sstatus0 = csr_read(0x100, &t), sie0 = csr_read(0x104, &t);
    unsigned readable = 0, writable = 0, high_ok = 0, ro_ok = 0, satp_kept = 0, satp_modes = 0;
    uint64_t t0 = rdtime();
    for (unsigned n = 0; n < 4096; n++) {
        unsigned rt, wt, wt_all = 0;
        uint64_t old = csr_read(n, &rt);
        readable += !rt;
        bool high = ((n >> 8) & 3) >= 2, ro = (n >> 10) == 3;
        for (unsigned p = 0; p < 68; p++) {
            uint64_t v = n == SATP ? satp_value(pat[p]) : pat[p];
            uint64_t back = csr_write(n, v, &wt);
            if (n == SATP) {
                __asm__ volatile("sfence.vma" ::: "memory");
                uint64_t mode = v >> 60;
                if (mode != 0 && mode != 8 && mode != 9 && mode != 10) {
                    satp_modes++;
                    satp_kept += back == old;
                }
            }
            wt_all += wt != 0;
        }
        writable += !wt_all;
        if (high)
            high_ok += rt && wt_all == 68;
        if (ro)
            ro_ok += wt_all == 68;
    }
    uint64_t ms = (rdtime() - t0) / 10000;
    rt_puts("csr: ");
    rt_dec(readable);
    rt_puts(" readable and ");
    rt_dec(writable);
    rt_puts(" writable from S-mode, in ");
    rt_dec(ms);
    rt_puts(" ms\n");

    rt_verdict_val(high_ok == 2048, "csr: all 2048 H- and M-level numbers trap on read and write",
                   "trapping", high_ok);
    rt_verdict_val(ro_ok == 1024, "csr: all 1024 read-only numbers trap on every write", "trapping", ro_ok);
    rt_verdict_val(bad_cause == 0, "csr: every trap is an illegal instruction", "other cause", bad_cause);
    rt_verdict_val(satp_modes && satp_kept == satp_modes,
                   "csr: satp with an unsupported mode keeps its value", "kept", satp_kept);
    static const unsigned must_read[] = { 0x100, 0x104, 0x105, 0x106, 0x140, 0x141, 0x142, 0x143,
                                          0x144, 0x180, 0xc00, 0xc01, 0xc02, 0x001, 0x002, 0x003 };
    unsigned missing = 0;
    for (unsigned i = 0; i < sizeof(must_read) / sizeof(must_read[0]); i++) {
        csr_read(must_read[i], &t);
        missing += t != 0;
    }
    rt_verdict_val(!missing, "csr: the S-level and user CSRs of the spec read", "missing", missing);
    rt_verdict_val(readable >= 16 && readable < 1024 && writable >= 10,
                   "csr: the sweep reached real CSRs", "readable", readable);

    /* the same from U-mode: only user-level CSRs, and of those no read-only one written */
    csr_user_call(user_sweep);
    rt_puts("csr: ");
    rt_dec(user_readable);
    rt_puts(" readable from U-mode\n");
    rt_verdict_val(user_high_served == 0 && user_writes_served_ro == 0 && user_readable >= 3,
                   "csr: from U-mode, every S-, H- and M-level number traps and read-only ones refuse writes",
                   "served above U", user_high_served);

    /* the hart is unharmed: its trap setup, and a timer through the SBI */
    /* sstatus.FS (and SD) may now say Dirty, the sweep wrote the FP CSRs; SPIE and SPP
     * are whatever the last trap and sret left */
    uint64_t fs = 3ULL << 13 | 1ULL << 63 | 1 << 5 | 1 << 8;
    uint64_t sstatus1 = csr_read(0x100, &t);
    unsigned changed = (csr_read(0x105, &t) != stvec0) | ((sstatus1 & ~fs) != (sstatus0 & ~fs)) << 1 |
                       (csr_read(0x104, &t) != sie0) << 2 | (csr_read(SATP, &t) != 0) << 3;
    rt_verdict_val(!changed, "csr: stvec, sstatus, sie and satp are as before", "changed", changed);
    sbi_call(0x54494d45, 0, (long)(rdtime() + 10000), 0, 0); /* TIME: 1 ms from now */
    bool fired = false;
    for (uint64_t end = rdtime() + 2000000; !fired && rdtime() < end;)
        fired = csr_read(0x144, &t) & 0x20;
    rt_verdict(fired, "csr: a timer set through the SBI still fires (sip.STIP)");
    sbi_call(0x54494d45, 0, -1, 0, 0);
    return 0;
}
