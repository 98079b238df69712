/* Page tables that point where they should not: leaves on MMIO, past the end of RAM and at
 * the top of the physical address space, intermediate tables on MMIO and past RAM, malformed
 * entries. Priv spec 4.3.2: a PTE read that fails its PMA check is an access fault of the
 * original access type; a reserved or malformed PTE is a page fault; a leaf whose physical
 * address is not memory gives an access fault. MMIO reached through a page works, but is
 * neither executable nor atomic (load/store/AMO access faults). */
#include "rt.h"

#define PTE_V 1
#define PTE_R 2
#define PTE_W 4
#define PTE_X 8
#define PTE_A 0x40
#define PTE_D 0x80
#define LEAF (PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)

static uint64_t root[512] __attribute__((aligned(4096)));
static uint64_t l1[512] __attribute__((aligned(4096)));
static uint64_t l0[512] __attribute__((aligned(4096)));
static uint64_t target[512] __attribute__((aligned(4096)));
#define VA(i) (0x40000000UL + 0x1000UL * (i)) /* l0's pages */
#define VA_MEG(i) (0x40000000UL + 0x200000UL * (i)) /* l1's entries */

static uint64_t pte(uint64_t pa, uint64_t flags) { return (pa >> 12) << 10 | flags; }

static void sfence(void) { __asm__ volatile("sfence.vma" ::: "memory"); }

enum kind { LOAD, STORE, FETCH, AMO, LR };
static const char *kind_name[] = { "load", "store", "fetch", "amo", "lr" };
static const uint64_t fault[] = { CAUSE_LOAD_ACCESS, CAUSE_STORE_ACCESS, CAUSE_FETCH_ACCESS,
                                  CAUSE_STORE_ACCESS, CAUSE_LOAD_ACCESS };
static const uint64_t page_fault[] = { CAUSE_LOAD_PAGE, CAUSE_STORE_PAGE, CAUSE_FETCH_PAGE,
                                       CAUSE_STORE_PAGE, CAUSE_LOAD_PAGE };

/* One access of KIND at VA; the trap it took, if any, is in rt_last. */
static uint64_t probe(enum kind k, uintptr_t va)
{
    uint64_t v = 0;
    rt_clear_trap();
    switch (k) {
    case LOAD: __asm__ volatile("ld %0, 0(%1)" : "+r"(v) : "r"(va) : "memory"); break;
    case STORE: __asm__ volatile("sd %0, 0(%1)" ::"r"(v), "r"(va) : "memory"); break;
    case FETCH: { /* the code reached gets a0 = 0 and may give back a0 */
        register uint64_t a0 __asm__("a0") = 0;
        __asm__ volatile("jalr %1" : "+r"(a0) : "r"(va)
                         : "ra", "t0", "t1", "t2", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "memory");
        v = a0;
        break;
    }
    case AMO: __asm__ volatile("amoadd.d %0, %0, 0(%1)" : "+r"(v) : "r"(va) : "memory"); break;
    case LR: __asm__ volatile("lr.d %0, 0(%1)" : "+r"(v) : "r"(va) : "memory"); break;
    }
    return v;
}

static void expect(enum kind k, uintptr_t va, uint64_t cause, const char *what)
{
    probe(k, va);
    rt_puts("paging: ");
    rt_puts(kind_name[k]);
    rt_puts(" via ");
    rt_puts(what);
    rt_puts(cause == CAUSE_LOAD_ACCESS || cause == CAUSE_STORE_ACCESS || cause == CAUSE_FETCH_ACCESS
                ? " -> access fault" : cause == NO_TRAP ? " -> works" : " -> page fault");
    bool ok = rt_last.cause == cause && (cause == NO_TRAP || rt_last.tval == va);
    rt_verdict_val(ok, "", "cause", rt_last.cause);
}

static void all_faults(uintptr_t va, const uint64_t *causes, const char *what)
{
    for (enum kind k = LOAD; k <= LR; k++)
        expect(k, va, causes[k], what);
}

int main(void)
{
    /* identity: 0-1 GiB (the devices) and 2-3 GiB (RAM and beyond) as gigapages; the test
     * pages hang below 1-2 GiB */
    root[0] = pte(0, LEAF);
    root[1] = pte((uintptr_t)l1, PTE_V);
    root[2] = pte(RAM_BASE, LEAF);
    l1[0] = pte((uintptr_t)l0, PTE_V);
    l0[0] = pte((uintptr_t)target, LEAF);           /* a normal page */
    l0[1] = pte(UART_BASE, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D | PTE_X); /* the UART */
    l0[2] = pte(RAM_END, LEAF);                      /* the first page past RAM */
    l0[3] = pte(0xfffffffffff000ULL, LEAF);          /* the top of the 56-bit space */
    l0[4] = pte(0x40000000UL, LEAF);                 /* a hole: nothing there */
    l0[5] = pte(RAM_END - 0x1000, LEAF);             /* the last page of RAM */
    l0[6] = pte((uintptr_t)target, LEAF | 1ULL << 60); /* a reserved bit */
    l0[7] = pte((uintptr_t)target, PTE_V | PTE_W | PTE_A | PTE_D); /* W without R */
    l0[8] = pte(VIRTIO_BASE, LEAF);                  /* a virtio device */
    l1[1] = pte(UART_BASE, PTE_V);                   /* next-level table on the UART */
    l1[2] = pte(RAM_END, PTE_V);                     /* next-level table past RAM */
    l1[3] = pte(0xfffffffffff000ULL, PTE_V);         /* next-level table at the top */
    l1[4] = pte(VIRTIO_BASE, PTE_V);                 /* next-level table on virtio */
    l1[5] = pte((uintptr_t)target + 0x1000, LEAF);   /* a misaligned megapage */
    l1[6] = pte(RAM_END - 0x1000, PTE_V);            /* next-level table in RAM's last page */
    uint64_t *last = (uint64_t *)(RAM_END - 0x1000);
    rt_memset(last, 0, 4096);
    last[0] = pte((uintptr_t)target, LEAF);
    target[0] = 0x1234;

    __asm__ volatile("csrw satp, %0" ::"r"(8ULL << 60 | (uintptr_t)root >> 12));
    sfence();
    rt_puts("paging: Sv39 on\n");

    uint64_t v = probe(LOAD, VA(0));
    rt_verdict(rt_last.cause == NO_TRAP && v == 0x1234, "paging: load via a normal page -> works");
    v = probe(LOAD, VA_MEG(6));
    rt_verdict(rt_last.cause == NO_TRAP && v == 0x1234,
               "paging: load via a table in the last page of RAM -> works");

    /* the UART through a page: its line status register reads, a store prints */
    rt_clear_trap();
    uint8_t lsr = *(volatile uint8_t *)(VA(1) + 5);
    rt_verdict_val(rt_last.cause == NO_TRAP && (lsr & 0x20), "paging: UART read through a page -> works",
                   "lsr", lsr);
    while (!(*(volatile uint8_t *)(VA(1) + 5) & 0x20))
        ;
    *(volatile uint8_t *)VA(1) = '!';
    rt_puts(" <- paging: UART written through a page\n");
    expect(FETCH, VA(1), CAUSE_FETCH_ACCESS, "a page on the UART");
    expect(AMO, VA(1), CAUSE_STORE_ACCESS, "a page on the UART");
    expect(FETCH, VA(8), CAUSE_FETCH_ACCESS, "a page on a virtio device");

    all_faults(VA(2), fault, "a page past RAM");
    all_faults(VA(3), fault, "a page at the top of the physical space");
    all_faults(VA(4), fault, "a page on a hole");
    expect(LOAD, VA(5) + 0xff8, NO_TRAP, "the last page of RAM");
    expect(AMO, VA(5) + 0xff8, NO_TRAP, "the last page of RAM");
    all_faults(VA(6), page_fault, "a PTE with a reserved bit");
    all_faults(VA(7), page_fault, "a PTE with W but not R");
    all_faults(VA_MEG(1), fault, "a table on the UART");
    all_faults(VA_MEG(2), fault, "a table past RAM");
    all_faults(VA_MEG(3), fault, "a table at the top of the physical space");
    all_faults(VA_MEG(4), fault, "a table on a virtio device");
    all_faults(VA_MEG(5), page_fault, "a misaligned megapage");

    /* a misaligned load that starts in a good page and ends past RAM */
    l0[9] = pte((uintptr_t)target, LEAF);
    l0[10] = pte(RAM_END, LEAF);
    sfence();
    rt_clear_trap();
    __asm__ volatile("ld %0, 0(%1)" : "=r"(v) : "r"(VA(9) + 0xffc) : "memory");
    rt_verdict_val(rt_last.cause == CAUSE_LOAD_ACCESS || rt_last.cause == CAUSE_LOAD_MISALIGNED,
                   "paging: load across a page into one past RAM -> access or misaligned fault",
                   "cause", rt_last.cause);
    rt_clear_trap();
    __asm__ volatile("sd %0, 0(%1)" ::"r"(v), "r"(VA(9) + 0xffc) : "memory");
    rt_verdict_val(rt_last.cause == CAUSE_STORE_ACCESS || rt_last.cause == CAUSE_STORE_MISALIGNED,
                   "paging: store across a page into one past RAM -> access or misaligned fault",
                   "cause", rt_last.cause);

    /* change a live PTE from RAM to past RAM: after sfence.vma the old page is gone */
    (void)probe(LOAD, VA(11));
    l0[11] = pte(RAM_END + 0x10000, LEAF);
    sfence();
    expect(LOAD, VA(11), CAUSE_LOAD_ACCESS, "a PTE moved past RAM after sfence.vma");

    /* A 32-bit instruction straddling two virtual pages, run hot, then its second page
     * unmapped, made non-executable, and mapped to other frames: each change after
     * sfence.vma must be seen, whatever code the hart has cached for the old mapping. */
    static uint8_t frames[3][4096] __attribute__((aligned(4096)));
    uint32_t add5 = 5 << 20 | 10 << 15 | 10 << 7 | 0x13, add9 = 9 << 20 | 10 << 15 | 10 << 7 | 0x13;
    *(volatile uint16_t *)(frames[0] + 0xffe) = (uint16_t)add5;
    *(volatile uint16_t *)(frames[1] + 0) = (uint16_t)(add5 >> 16);
    *(volatile uint16_t *)(frames[1] + 2) = 0x8082; /* c.jr ra */
    *(volatile uint16_t *)(frames[2] + 0) = (uint16_t)(add9 >> 16);
    *(volatile uint16_t *)(frames[2] + 2) = 0x8082;
    __asm__ volatile("fence.i" ::: "memory");
    l0[12] = pte((uintptr_t)frames[0], LEAF);
    l0[13] = pte((uintptr_t)frames[1], LEAF);
    sfence();
    uintptr_t edge = VA(12) + 0xffe;
    unsigned wrong = 0;
    for (unsigned i = 0; i < 2000; i++) {
        v = probe(FETCH, edge);
        wrong += rt_last.cause != NO_TRAP || v != 5;
    }
    rt_verdict_val(!wrong, "paging: instruction across two pages, 2000 runs -> works", "wrong", wrong);
    l0[13] = 0;
    sfence();
    probe(FETCH, edge);
    rt_verdict_val(rt_last.cause == CAUSE_FETCH_PAGE && (rt_last.tval == VA(13) || rt_last.tval == edge),
                   "paging: its second page unmapped -> fetch page fault", "tval", rt_last.tval);
    l0[13] = pte((uintptr_t)frames[1], PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
    sfence();
    probe(FETCH, edge);
    rt_verdict_val(rt_last.cause == CAUSE_FETCH_PAGE, "paging: its second page not executable -> fetch page fault",
                   "cause", rt_last.cause);
    l0[13] = pte(UART_BASE, LEAF);
    sfence();
    probe(FETCH, edge);
    rt_verdict_val(rt_last.cause == CAUSE_FETCH_ACCESS, "paging: its second page on the UART -> fetch access fault",
                   "cause", rt_last.cause);
    l0[13] = pte(RAM_END, LEAF);
    sfence();
    probe(FETCH, edge);
    rt_verdict_val(rt_last.cause == CAUSE_FETCH_ACCESS, "paging: its second page past RAM -> fetch access fault",
                   "cause", rt_last.cause);
    l0[13] = pte((uintptr_t)frames[2], LEAF);
    sfence();
    v = probe(FETCH, edge);
    rt_verdict_val(rt_last.cause == NO_TRAP && v == 9,
                   "paging: its second page mapped to another frame -> the new half runs", "a0", v);
    l0[13] = pte((uintptr_t)frames[1], LEAF);
    sfence();
    v = probe(FETCH, edge);
    rt_verdict_val(rt_last.cause == NO_TRAP && v == 5, "paging: and back -> the old half runs", "a0", v);

    /* the identity gigapage reaches past RAM: its last bytes work, the next ones fault */
    v = probe(LOAD, RAM_END - 8);
    rt_verdict(rt_last.cause == NO_TRAP, "paging: load at RAM_END-8 through a gigapage -> works");
    expect(LOAD, RAM_END, CAUSE_LOAD_ACCESS, "a gigapage at RAM_END");
    expect(STORE, RAM_END, CAUSE_STORE_ACCESS, "a gigapage at RAM_END");
    expect(AMO, RAM_END, CAUSE_STORE_ACCESS, "a gigapage at RAM_END");
    rt_clear_trap();
    __asm__ volatile("ld %0, 0(%1)" : "=r"(v) : "r"(RAM_END - 4) : "memory");
    rt_verdict_val(rt_last.cause == CAUSE_LOAD_ACCESS || rt_last.cause == CAUSE_LOAD_MISALIGNED,
                   "paging: load across RAM_END through a gigapage -> access or misaligned fault",
                   "cause", rt_last.cause);

    /* Sv48 and Sv57: the Sv39 table hangs below a new root whose other entries point at the
     * UART and past RAM, so the walk meets them one and two levels higher */
    static uint64_t root48[512] __attribute__((aligned(4096)));
    static uint64_t root57[512] __attribute__((aligned(4096)));
    root48[0] = pte((uintptr_t)root, PTE_V);
    root48[1] = pte(UART_BASE, PTE_V);
    root48[2] = pte(RAM_END, PTE_V);
    root57[0] = pte((uintptr_t)root48, PTE_V);
    root57[1] = pte(UART_BASE, PTE_V);
    root57[2] = pte(RAM_END, PTE_V);
    __asm__ volatile("csrw satp, %0" ::"r"(9ULL << 60 | (uintptr_t)root48 >> 12));
    sfence();
    v = probe(LOAD, VA(0));
    rt_verdict(rt_last.cause == NO_TRAP && v == 0x1234, "paging: Sv48, load via a normal page -> works");
    all_faults(1ULL << 39, fault, "an Sv48 level-3 table on the UART");
    all_faults(2ULL << 39, fault, "an Sv48 level-3 table past RAM");
    __asm__ volatile("csrw satp, %0" ::"r"(10ULL << 60 | (uintptr_t)root57 >> 12));
    sfence();
    v = probe(LOAD, VA(0));
    rt_verdict(rt_last.cause == NO_TRAP && v == 0x1234, "paging: Sv57, load via a normal page -> works");
    all_faults(1ULL << 48, fault, "an Sv57 level-4 table on the UART");
    all_faults(2ULL << 48, fault, "an Sv57 level-4 table past RAM");
    all_faults(1ULL << 56, page_fault, "an Sv57 address that is not sign-extended");

    __asm__ volatile("csrw satp, zero");
    sfence();
    v = probe(LOAD, (uintptr_t)target);
    rt_verdict(rt_last.cause == NO_TRAP && v == 0x1234, "paging: off again, RAM reads");
    return 0;
}
