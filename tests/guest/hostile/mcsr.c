/* The hart's M-mode CSRs attacked from M-mode, this guest being the firmware (--bios):
 * every number 0x000-0xfff read and written with 0, all ones, alternating bits and random
 * values; the ones the hart has must serve, every other one must be an illegal
 * instruction (priv spec 2.1), and WARL fields must hold legal values afterwards (3.1).
 * Then page tables whose root or non-leaf entry lies on MMIO or past RAM, reached by
 * M-mode loads and stores under MPRV and by S-mode fetches: access faults (4.3.2), never a
 * host read. Last, PMP entries locked (3.7.1): they refuse writes, bind M-mode, and M-mode
 * goes on running. */
#include "rt.h"

extern char csr_read_stubs[], csr_write_stubs[];
extern uint64_t m_resume;
void m_enter_s(uintptr_t va);

#define MSTATUS 0x300
#define MISA 0x301
#define MEDELEG 0x302
#define MIDELEG 0x303
#define MTVEC 0x305
#define MEPC 0x341
#define PMPCFG0 0x3a0
#define PMPADDR0 0x3b0
#define MPRV (1ULL << 17)
#define MPP (3ULL << 11)
#define MPP_S (1ULL << 11)
#define PTE_V 1
#define LEAF 0xcf /* V R W X A D */
#define NPAT 12

static uint64_t bad_cause;

/* Called from m_vector with the saved frame: f[0] is mepc, f[i] is xi. A trap from below M
 * goes back to m_enter_s's caller; in M-mode, a fetch fault returns to the caller of the
 * bad code and anything else resumes after the instruction. */
void m_trap(uint64_t *f)
{
    uint64_t cause, tval, mstatus;
    __asm__ volatile("csrr %0, mcause; csrr %1, mtval; csrr %2, mstatus"
                     : "=r"(cause), "=r"(tval), "=r"(mstatus));
    if (cause >> 63) { /* no test wants interrupts: mask whichever came */
        __asm__ volatile("csrw mie, zero");
        return;
    }
    rt_last.cause = cause;
    rt_last.tval = tval;
    rt_last.epc = f[0];
    rt_last.count++;
    if ((mstatus & MPP) != MPP && m_resume) {
        f[0] = m_resume;
        __asm__ volatile("csrs mstatus, %0" ::"r"(MPP));
        return;
    }
    if (cause == CAUSE_FETCH_MISALIGNED || cause == CAUSE_FETCH_ACCESS || cause == CAUSE_FETCH_PAGE) {
        f[0] = f[1];
        return;
    }
    uint16_t low = *(volatile uint16_t *)f[0];
    f[0] += (low & 3) == 3 ? 4 : 2;
}

/* Calls a stub of csr_stubs.S with a0 = V; returns a0 and how many traps it took. */
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

/* Writes V, returns what reads back, and puts the old value back. */
static uint64_t csr_try(unsigned n, uint64_t v, unsigned *traps)
{
    return stub(csr_write_stubs + 16 * n, v, traps);
}

static uint64_t csr_get(unsigned n, unsigned *traps)
{
    return stub(csr_read_stubs + 8 * n, 0, traps);
}

static uint64_t csr_get1(unsigned n)
{
    unsigned t;
    return csr_get(n, &t);
}

/* The CSRs this hart has, as seen from M-mode (RV64: no odd pmpcfg, no ...h halves). */
static bool implemented(unsigned n)
{
    static const unsigned one[] = { 0x100, 0x104, 0x105, 0x106, 0x10a, 0x14d, 0x180, 0x30a, 0x320,
                                    0x34a, 0x34b, 0x747, 0xb00, 0xb02 };
    static const unsigned range[][2] = { { 0x001, 0x003 }, { 0x140, 0x144 }, { 0x300, 0x306 },
                                         { 0x323, 0x33f }, { 0x340, 0x344 }, { 0x3b0, 0x3ef },
                                         { 0xb03, 0xb1f }, { 0xc00, 0xc1f }, { 0xf11, 0xf15 } };
    for (unsigned i = 0; i < sizeof(one) / sizeof(one[0]); i++)
        if (n == one[i])
            return true;
    for (unsigned i = 0; i < sizeof(range) / sizeof(range[0]); i++)
        if (n >= range[i][0] && n <= range[i][1])
            return true;
    return n >= 0x3a0 && n <= 0x3af && !(n & 1);
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Every number with every pattern. A pmpcfg pattern loses its lock bits here (a lock
 * cannot be undone, it has its own test below); every other write is undone at once. */
static void sweep(void)
{
    uint64_t pat[NPAT] = { 0, ~0ULL, 0x5555555555555555ULL, 0xaaaaaaaaaaaaaaaaULL };
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    for (unsigned p = 4; p < NPAT; p++)
        pat[p] = xorshift(&seed);
    unsigned served = 0, refused = 0, has = 0, wrong = 0, first_wrong = 0;
    uint64_t t0 = rdtime();
    for (unsigned n = 0; n < 4096; n++) {
        unsigned rt, wt, wtraps = 0;
        csr_get(n, &rt);
        for (unsigned p = 0; p < NPAT; p++) {
            uint64_t v = pat[p];
            if (n >= PMPCFG0 && n <= PMPCFG0 + 15)
                v &= ~0x8080808080808080ULL;
            csr_try(n, v, &wt);
            wtraps += wt != 0;
        }
        bool ro = (n >> 10) == 3, ok;
        if (implemented(n)) {
            has++;
            ok = !rt && wtraps == (ro ? NPAT : 0);
            served += ok;
        } else {
            ok = rt && wtraps == NPAT;
            refused += ok;
        }
        if (!ok && !wrong++)
            first_wrong = n;
    }
    rt_puts("mcsr: ");
    rt_dec(served);
    rt_puts(" served, ");
    rt_dec(refused);
    rt_puts(" refused, in ");
    rt_dec((rdtime() - t0) / 10000);
    rt_puts(" ms\n");
    rt_verdict_val(served == has && has > 150, "mcsr: every CSR the hart has serves every pattern",
                   "served", served);
    rt_verdict_val(refused == 4096 - has, "mcsr: every other number traps on read and write",
                   "first wrong", first_wrong);
    rt_verdict_val(bad_cause == 0, "mcsr: every trap is an illegal instruction", "other cause", bad_cause);
}

/* WARL fields (priv spec 3.1) hold legal values whatever was written. */
static void warl(void)
{
    unsigned t, bad = 0;
    uint64_t ms = csr_get1(MSTATUS);
    uint64_t v = csr_try(MSTATUS, (ms & ~MPP) | 2ULL << 11, &t);
    bad |= ((v & MPP) == 2ULL << 11) << 0;               /* MPP = H does not exist */
    v = csr_try(MSTATUS, ~0ULL, &t);
    bad |= ((v >> 32 & 0xf) != 0xa) << 1;                /* UXL = SXL = 64 */
    bad |= ((v >> 63) != ((v >> 13 & 3) == 3)) << 2;    /* SD says FS is dirty */
    uint64_t misa = csr_get1(MISA);
    bad |= (csr_try(MISA, 0, &t) != misa || csr_try(MISA, ~0ULL, &t) != misa) << 3;
    uint64_t want = 1ULL << 63 | 1 << ('I' - 'A') | 1 << ('M' - 'A') | 1 << ('A' - 'A') |
                    1 << ('F' - 'A') | 1 << ('D' - 'A') | 1 << ('C' - 'A') | 1 << ('S' - 'A') |
                    1 << ('U' - 'A');
    bad |= ((misa & want) != want || (misa >> 62) != 2) << 4;
    bad |= ((csr_try(MEDELEG, ~0ULL, &t) >> 11) & 1) << 5; /* ecall from M stays in M */
    bad |= ((csr_try(MIDELEG, ~0ULL, &t) & 0x888) != 0) << 6; /* M interrupts stay in M */
    bad |= ((csr_try(MTVEC, ~0ULL, &t) & 2) != 0) << 7;   /* no reserved mode */
    bad |= (csr_try(MEPC, ~0ULL, &t) & 1) << 8;           /* IALIGN 16 */
    bad |= ((csr_try(PMPADDR0, ~0ULL, &t) >> 54) != 0) << 9;
    bad |= ((csr_try(PMPCFG0, 0x02, &t) & 3) == 2) << 10; /* W without R is reserved */
    bad |= (csr_get1(MSTATUS) != ms) << 11;
    rt_verdict_val(!bad && bad_cause == 0, "mcsr: WARL fields hold legal values", "bad", bad);
}

/* ---- page tables on MMIO and past RAM, reached under MPRV and from S-mode */

static uint64_t root[512] __attribute__((aligned(4096)));
static uint32_t s_ecall[2] __attribute__((aligned(8))) = { 0x00000073, 0x00000073 };

static uint64_t pte(uint64_t pa, uint64_t flags) { return (pa >> 12) << 10 | flags; }

static void set_satp(uint64_t v)
{
    __asm__ volatile("csrw satp, %0; sfence.vma" ::"r"(v) : "memory");
}

static uint64_t mprv_load(uintptr_t va)
{
    uint64_t v = 0;
    rt_clear_trap();
    __asm__ volatile("csrs mstatus, %1; ld %0, 0(%2); csrc mstatus, %1"
                     : "+r"(v) : "r"(MPRV), "r"(va) : "memory");
    return v;
}

static void mprv_store(uintptr_t va, uint64_t v)
{
    rt_clear_trap();
    __asm__ volatile("csrs mstatus, %0; sd %1, 0(%2); csrc mstatus, %0"
                     ::"r"(MPRV), "r"(v), "r"(va) : "memory");
}

static void s_fetch(uintptr_t va)
{
    rt_clear_trap();
    m_enter_s(va);
}

/* Load and store under MPRV (as S) and an S-mode fetch at VA: each an access fault at VA. */
static void expect_access_faults(uintptr_t va, const char *what)
{
    unsigned wrong = 0;
    mprv_load(va);
    wrong += rt_last.cause != CAUSE_LOAD_ACCESS || rt_last.tval != va;
    mprv_store(va, 0x1234);
    wrong += (rt_last.cause != CAUSE_STORE_ACCESS || rt_last.tval != va) << 1;
    s_fetch(va);
    wrong += (rt_last.cause != CAUSE_FETCH_ACCESS || rt_last.tval != va) << 2;
    rt_puts("mcsr: ");
    rt_puts(what);
    rt_verdict_val(!wrong, " -> load, store and fetch access faults", "wrong", wrong);
}

static void page_tables(void)
{
    /* S-mode may reach everything (with no PMP entry only M-mode may), and M-mode loads
     * and stores go through satp as S's under MPRV */
    __asm__ volatile("csrw pmpaddr0, %0; csrw pmpcfg0, %1" ::"r"(~0ULL), "r"(0x1fULL));
    __asm__ volatile("csrc mstatus, %0; csrs mstatus, %1" ::"r"(MPP), "r"(MPP_S));
    root[2] = pte(RAM_BASE, LEAF);
    set_satp(8ULL << 60 | (uintptr_t)root >> 12);
    static volatile uint64_t cell = 0x5eed;
    uint64_t v = mprv_load((uintptr_t)&cell);
    bool ok = rt_last.cause == NO_TRAP && v == 0x5eed;
    s_fetch((uintptr_t)s_ecall);
    ok = ok && rt_last.cause == 9 && rt_last.epc == (uintptr_t)s_ecall;
    rt_verdict_val(ok, "mcsr: a good table serves MPRV loads and S-mode runs", "cause", rt_last.cause);

    static const struct { uint64_t pa; const char *name; } at[] = {
        { UART_BASE, "the UART" }, { 0x02000000, "the CLINT" }, { 0x0c201000, "a PLIC context" },
        { VIRTIO_BASE, "a virtio slot" }, { 0x00101000, "the RTC" }, { 0, "address 0" },
        { RAM_END, "RAM_END" }, { RAM_END + 0x40000000, "1 GiB past RAM" },
        { ((1ULL << 44) - 1) << 12, "the last page of the physical space" } };
    char what[96];
    for (unsigned i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
        const char *pre = "Sv39 root on ";
        unsigned n = 0;
        while (*pre)
            what[n++] = *pre++;
        for (const char *s = at[i].name; *s && n < sizeof(what) - 1;)
            what[n++] = *s++;
        what[n] = 0;
        set_satp(8ULL << 60 | at[i].pa >> 12);
        expect_access_faults(RAM_BASE + 0x1000, what);
        what[2] = '5';
        what[3] = '7';
        set_satp(10ULL << 60 | at[i].pa >> 12);
        expect_access_faults(RAM_BASE + 0x1000, what);
        /* a non-leaf entry of a table in RAM pointing there */
        root[0] = pte(at[i].pa, PTE_V);
        set_satp(8ULL << 60 | (uintptr_t)root >> 12);
        rt_memcpy(what, "Sv39 table ", 11);
        rt_memcpy(what + 11, "non-leaf to ", 12);
        n = 23;
        for (const char *s = at[i].name; *s && n < sizeof(what) - 1;)
            what[n++] = *s++;
        what[n] = 0;
        expect_access_faults(0x1000, what);
        root[0] = 0;
    }
    /* a root in RAM's last page: PTEs read as zero there, so page faults */
    rt_memset((void *)(RAM_END - 4096), 0, 4096);
    set_satp(8ULL << 60 | (RAM_END - 4096) >> 12);
    mprv_load(RAM_BASE);
    unsigned wrong = rt_last.cause != CAUSE_LOAD_PAGE;
    s_fetch(RAM_BASE);
    wrong += (rt_last.cause != CAUSE_FETCH_PAGE) << 1;
    rt_verdict_val(!wrong, "mcsr: root in RAM's last page -> page faults", "wrong", wrong);
    set_satp(0);
    __asm__ volatile("csrc mstatus, %0" ::"r"(MPP));
}

/* ---- PMP locks (priv spec 3.7.1): a locked entry ignores writes to its pmpcfg and
 * pmpaddr (and a locked TOR entry to the pmpaddr below it), and binds M-mode too */

static volatile uint64_t guard[512] __attribute__((aligned(4096)));
static volatile uint32_t code_page[1024] __attribute__((aligned(4096)));

static void pmp_locks(void)
{
    unsigned t, bad = 0;
    __asm__ volatile("csrw pmpcfg0, zero"); /* entry 0 no longer matches first */
    /* entry 15: the guard page, readable only, locked; entry 14: locked empty TOR */
    uint64_t napot = ((uintptr_t)guard >> 2) | 0x1ff;
    __asm__ volatile("csrw pmpaddr15, %0; csrw pmpaddr14, %1; csrw pmpaddr13, %1"
                     ::"r"(napot), "r"(0x1000ULL));
    __asm__ volatile("csrw pmpcfg2, %0" ::"r"(0x9988ULL << 48) : "memory");
    rt_clear_trap();
    guard[0] = 1;
    bad |= (rt_last.cause != CAUSE_STORE_ACCESS) << 0;
    rt_clear_trap();
    uint64_t g = guard[1];
    bad |= (rt_last.cause != NO_TRAP || g != 0) << 1;
    bad |= (csr_try(PMPADDR0 + 15, 0, &t) != napot) << 2;
    bad |= (csr_try(PMPADDR0 + 13, 0x5000, &t) != 0x1000) << 3;
    uint64_t cfg = csr_try(PMPCFG0 + 2, 0, &t);
    bad |= (cfg >> 48 != 0x9988) << 4;
    rt_clear_trap();
    guard[0] = 1;
    bad |= (rt_last.cause != CAUSE_STORE_ACCESS) << 5;
    rt_verdict_val(!bad, "mcsr: locked PMP entries refuse writes and bind M-mode", "bad", bad);

    /* entry 12: 8 bytes inside the guard page, locked with no access, ahead of entry 15 */
    bad = 0;
    __asm__ volatile("csrw pmpaddr12, %0" ::"r"(((uintptr_t)guard + 0x100) >> 2));
    __asm__ volatile("csrw pmpcfg2, %0" ::"r"(0x9988ULL << 48 | 0x98ULL << 32) : "memory");
    rt_clear_trap();
    g = guard[0x100 / 8];
    bad |= (rt_last.cause != CAUSE_LOAD_ACCESS || rt_last.tval != (uintptr_t)guard + 0x100) << 0;
    rt_clear_trap();
    g = guard[0x200 / 8];
    bad |= (rt_last.cause != NO_TRAP) << 1;
    rt_clear_trap();
    g = guard[0x108 / 8];
    bad |= (rt_last.cause != NO_TRAP) << 2;
    rt_clear_trap();
    g = guard[0x100 / 8]; /* again, now that the rest of the page has been reached */
    bad |= (rt_last.cause != CAUSE_LOAD_ACCESS) << 3;
    rt_verdict_val(!bad, "mcsr: a locked PMP entry of 8 bytes inside a page binds M-mode", "bad", bad);

    /* entry 11: the 4 bytes at guard + 0x184 (NA4), locked with no access: a doubleword
     * over them only partly matches, and fails (priv spec 3.7.1) */
    bad = 0;
    __asm__ volatile("csrw pmpaddr11, %0" ::"r"(((uintptr_t)guard + 0x184) >> 2));
    __asm__ volatile("csrw pmpcfg2, %0" ::"r"(0x9988ULL << 48 | 0x98ULL << 32 | 0x90ULL << 24) : "memory");
    rt_clear_trap();
    g = guard[0x180 / 8];
    bad |= (rt_last.cause != CAUSE_LOAD_ACCESS || rt_last.tval != (uintptr_t)guard + 0x180) << 0;
    rt_clear_trap();
    g = *(volatile uint32_t *)((uintptr_t)guard + 0x180);
    bad |= (rt_last.cause != NO_TRAP) << 1;
    rt_clear_trap();
    g = *(volatile uint32_t *)((uintptr_t)guard + 0x184);
    bad |= (rt_last.cause != CAUSE_LOAD_ACCESS) << 2;
    uint64_t one = 1;
    rt_clear_trap();
    __asm__ volatile("amoadd.d %0, %0, 0(%1)" : "+r"(one) : "r"((uintptr_t)guard + 0x180) : "memory");
    bad |= (rt_last.cause != CAUSE_STORE_ACCESS) << 3;
    rt_clear_trap();
    __asm__ volatile("lr.d %0, 0(%1)" : "=r"(one) : "r"((uintptr_t)guard + 0x180) : "memory");
    bad |= (rt_last.cause != CAUSE_LOAD_ACCESS) << 4;
    rt_verdict_val(!bad, "mcsr: a doubleword load, AMO or LR over a locked 4-byte PMP entry faults",
                   "bad", bad);

    /* entry 10: 8 bytes inside a page of code, locked and not executable: a run of
     * addi a0, a0, 1 going into them stops there with a fetch access fault */
    bad = 0;
    volatile uint32_t *code = code_page;
    for (unsigned i = 0; i < 8; i++)
        code[i] = 0x00150513; /* addi a0, a0, 1 */
    code[8] = 0x00008067;     /* ret */
    __asm__ volatile("csrw pmpaddr10, %0" ::"r"(((uintptr_t)code + 0x10) >> 2));
    __asm__ volatile("csrw pmpcfg2, %0; fence.i"
                     ::"r"(0x9988ULL << 48 | 0x98ULL << 32 | 0x90ULL << 24 | 0x98ULL << 16) : "memory");
    rt_clear_trap();
    register uint64_t a0 __asm__("a0") = 0;
    __asm__ volatile("jalr %1" : "+r"(a0) : "r"(code) : "ra", "t0", "memory");
    bad |= (rt_last.cause != CAUSE_FETCH_ACCESS || rt_last.tval != (uintptr_t)code + 0x10) << 0;
    bad |= (a0 != 4) << 1;
    rt_verdict_val(!bad, "mcsr: code running into a locked non-executable PMP entry inside its page faults",
                   "a0", a0);

    /* all ones into every pmpcfg: every entry left locks, M-mode still runs */
    for (unsigned n = PMPCFG0; n < PMPCFG0 + 16; n += 2)
        csr_try(n, ~0ULL, &t);
    unsigned locked = 0;
    for (unsigned n = PMPCFG0; n < PMPCFG0 + 16; n += 2) {
        uint64_t c = csr_get1(n);
        for (unsigned i = 0; i < 8; i++)
            locked += (c >> (8 * i)) & 0x80 ? 1 : 0;
        csr_try(n, 0, &t);
        locked -= csr_get1(n) != c;
    }
    for (unsigned i = 0; i < 64; i++) {
        uint64_t a = csr_get1(PMPADDR0 + i);
        locked -= csr_try(PMPADDR0 + i, 0x12345, &t) != a;
    }
    rt_verdict_val(locked == 64 && bad_cause == 0,
                   "mcsr: all 64 PMP entries locked, M-mode still runs", "locked", locked);
}

int main(void)
{
    sweep();
    warl();
    page_tables();
    pmp_locks();
    /* unharmed: a machine timer through the CLINT still fires */
    volatile uint64_t *mtimecmp = (volatile uint64_t *)0x02004000UL;
    volatile uint64_t *mtime = (volatile uint64_t *)0x0200bff8UL;
    *mtimecmp = *mtime + 10000;
    bool fired = false;
    for (uint64_t end = rdtime() + 2000000; !fired && rdtime() < end;) {
        uint64_t mip;
        __asm__ volatile("csrr %0, mip" : "=r"(mip));
        fired = mip & 0x80;
    }
    *mtimecmp = ~0ULL;
    rt_verdict(fired, "mcsr: a machine timer still fires (mip.MTIP)");
    return 0;
}
