/* Address translation for the software hart: Sv39/Sv48/Sv57 page walks with superpages and
 * hardware A/D updates, PMP checks, the TLB that caches host pointers for RAM pages, and the
 * slow paths of loads and stores (MMIO, page-crossing accesses). */
#include <string.h>

#include "cpu/hart.h"

#define PTE_V (1ULL << 0)
#define PTE_R (1ULL << 1)
#define PTE_W (1ULL << 2)
#define PTE_X (1ULL << 3)
#define PTE_U (1ULL << 4)
#define PTE_A (1ULL << 6)
#define PTE_D (1ULL << 7)
#define PTE_PPN_MASK (((1ULL << 44) - 1) << 10)

void (*mmu_pte_race_hook)(uint64_t *pte);

static const int page_fault_cause[3] = { EXC_LOAD_PAGE, EXC_STORE_PAGE, EXC_INSN_PAGE };
static const int access_fault_cause[3] = { EXC_LOAD_ACCESS, EXC_STORE_ACCESS, EXC_INSN_ACCESS };

/* Flushes are frequent (every sfence.vma, satp write, many mstatus writes): a new
 * generation makes every entry stale at once; the arrays are cleared only on wrap-around. */
void hart_flush_tlb(struct hart *h)
{
    h->tlb_gen = (h->tlb_gen + 1) & TLB_GEN_MASK;
    if (h->tlb_gen == 0) {
        memset(h->tlb, 0, sizeof(h->tlb));
        memset(h->tlb_rd, 0, sizeof(h->tlb_rd));
        h->tlb_gen = 1;
    }
    h->fetch_vpage = ~0ULL;
    h->sp_lo = ~0ULL;
    h->sp_last = 0;
}

/* Only the entries for va's page go, unless va may have been translated through a
 * superpage: the entries of its other 4 KiB pages would be left, so then all go. */
void hart_flush_tlb_page(struct hart *h, uint64_t va)
{
    if (va >= h->sp_lo && va <= h->sp_last) {
        hart_flush_tlb(h);
        return;
    }
    for (unsigned m = 0; m < TLB_MODES; m++)
        for (unsigned t = 0; t < 3; t++) {
            struct tlb_entry *e = tlb_slot(h, (int)m, t, va);
            if (((e->tag ^ va) & ~0xfffULL) == 0)
                e->tag = 0;
        }
    h->fetch_vpage = ~0ULL;
    code_forget_vpage(h, va);
}

/* The TLB set for an access by priv (see TLB_S_SUM in hart.h). */
static inline int tlb_index_for(const struct hart *h, int priv, enum access_type t)
{
    if (priv == PRV_M)
        return TLB_M;
    if (priv == PRV_S && t != ACC_EXEC && (h->mstatus & MSTATUS_SUM))
        return TLB_S_SUM;
    return priv;
}

/* The privilege a data or fetch access is checked with (priv spec 3.1.6.3: MPRV). */
static int effective_priv(struct hart *h, enum access_type t)
{
    if (t != ACC_EXEC && h->priv == PRV_M && (h->mstatus & MSTATUS_MPRV))
        return (int)((h->mstatus & MSTATUS_MPP) >> 11);
    return h->priv;
}

/* priv spec 3.7: the first matching entry decides; M-mode passes unless it is locked;
 * with no match, only M-mode passes. A range that only partly matches fails. */
static bool pmp_check(struct hart *h, uint64_t pa, uint64_t size, enum access_type t, int priv)
{
    uint64_t lo = 0;
    for (unsigned i = 0; i < h->pmp_count; i++) {
        uint8_t cfg = h->pmpcfg[i];
        uint64_t addr = h->pmpaddr[i];
        uint64_t base, end; /* [base, end) */
        unsigned a = (cfg >> 3) & 3;
        uint64_t prev = lo;
        lo = addr << 2;
        if (a == 0)
            continue;
        if (a == 1) {
            base = prev;
            end = addr << 2;
        } else if (a == 2) {
            base = addr << 2;
            end = base + 4;
        } else {
            uint64_t ones = addr ^ (addr + 1); /* trailing ones plus the next bit */
            if (ones == ~0ULL || (ones >> 55)) {
                base = 0;
                end = ~0ULL;
            } else {
                base = (addr & ~ones) << 2;
                end = base + ((ones + 1) << 2);
            }
        }
        /* a non-empty entry inside the range, touching neither of its ends, matches too */
        bool start_in = pa >= base && pa < end;
        bool end_in = pa + size - 1 >= base && pa + size - 1 < end;
        bool inside = base < end && base > pa && base <= pa + size - 1;
        if (!start_in && !end_in && !inside)
            continue;
        if (!(start_in && end_in))
            return false;
        if (priv == PRV_M && !(cfg & 0x80))
            return true;
        return (cfg >> (t == ACC_READ ? 0 : t == ACC_WRITE ? 1 : 2)) & 1;
    }
    return priv == PRV_M;
}

#define WALK_PTE_CHANGED (-1) /* page_walk_once: the leaf PTE changed under its A/D update */
#define WALK_TRIES 8           /* walks before a PTE that keeps changing makes the access retry */

/* Walks the page table for va. Returns 0 with *pa and *pte_out, a cause + 1, or
 * WALK_PTE_CHANGED. */
static int page_walk_once(struct hart *h, uint64_t va, enum access_type t, int priv,
                          uint64_t *pa, uint64_t *pte_out)
{
    unsigned mode = h->satp >> 60;
    int levels = (int)mode - 8 + 3;
    int va_bits = 12 + 9 * levels;
    if ((uint64_t)((int64_t)(va << (64 - va_bits)) >> (64 - va_bits)) != va)
        return page_fault_cause[t] + 1;

    uint64_t table = (h->satp & ((1ULL << 44) - 1)) << 12;
    for (int level = levels - 1; level >= 0; level--) {
        uint64_t pte_addr = table + ((va >> (12 + 9 * level)) & 511) * 8;
        uint64_t *pte_p = guest_mem_ptr(h->bus->ram, pte_addr, 8);
        if (!pte_p || !pmp_check(h, pte_addr, 8, ACC_READ, PRV_S))
            return access_fault_cause[t] + 1;
        uint64_t pte = __atomic_load_n(pte_p, __ATOMIC_ACQUIRE);
        if (!(pte & PTE_V) || (!(pte & PTE_R) && (pte & PTE_W)) || (pte >> 54))
            return page_fault_cause[t] + 1;
        if (!(pte & (PTE_R | PTE_X))) {
            if (pte & (PTE_A | PTE_D | PTE_U))
                return page_fault_cause[t] + 1; /* non-leaf with leaf-only bits set */
            table = (pte & PTE_PPN_MASK) << 2;
            continue;
        }
        /* leaf: permissions (priv spec 4.3.2 step 5) */
        bool ok;
        if (t == ACC_EXEC)
            ok = pte & PTE_X;
        else if (t == ACC_READ)
            ok = (pte & PTE_R) || ((h->mstatus & MSTATUS_MXR) && (pte & PTE_X));
        else
            ok = pte & PTE_W;
        if (priv == PRV_U && !(pte & PTE_U))
            ok = false;
        if (priv == PRV_S && (pte & PTE_U) && (t == ACC_EXEC || !(h->mstatus & MSTATUS_SUM)))
            ok = false;
        uint64_t ppn = (pte & PTE_PPN_MASK) >> 10;
        uint64_t low_mask = (1ULL << (9 * level)) - 1;
        if (ppn & low_mask)
            ok = false; /* misaligned superpage */
        if (!ok)
            return page_fault_cause[t] + 1;
        uint64_t want = PTE_A | (t == ACC_WRITE ? PTE_D : 0);
        if ((pte & want) != want) {
            /* Hardware A/D update, done atomically against other harts (priv spec 4.3.2 step 7) */
            uint64_t expect = pte;
            if (unlikely(mmu_pte_race_hook != NULL))
                mmu_pte_race_hook(pte_p);
            if (!__atomic_compare_exchange_n(pte_p, &expect, pte | want, false,
                                             __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                return WALK_PTE_CHANGED; /* another hart wrote it: walk again */
            pte |= want;
        }
        *pa = ((ppn & ~low_mask) << 12) | (va & ((1ULL << (12 + 9 * level)) - 1));
        *pte_out = pte;
        if (level > 0) {
            uint64_t lo = va & ~((1ULL << (12 + 9 * level)) - 1), last = lo + ((1ULL << (12 + 9 * level)) - 1);
            if (lo < h->sp_lo) h->sp_lo = lo;
            if (last > h->sp_last) h->sp_last = last;
        }
        return 0;
    }
    return page_fault_cause[t] + 1;
}

/* Walks the page table for va. Returns 0 with *pa and *pte_out, or a cause + 1. Other
 * harts may keep changing the PTE under the A/D update: after a few walks the access gives
 * up with EXC_RETRY, and the instruction runs again later, so the host thread stays in
 * control (it checks for stop between blocks) whatever the guest does. */
static int page_walk(struct hart *h, uint64_t va, enum access_type t, int priv,
                     uint64_t *pa, uint64_t *pte_out)
{
    for (unsigned i = 0; i < WALK_TRIES; i++) {
        int r = page_walk_once(h, va, t, priv, pa, pte_out);
        if (r != WALK_PTE_CHANGED)
            return r;
    }
    return EXC_RETRY + 1;
}

/* Translates and, when the whole page is RAM and PMP-clean, fills the TLB. Otherwise PMP
 * decides for the SIZE bytes at va alone. */
static int translate_fill(struct hart *h, uint64_t va, enum access_type t, unsigned size, uint64_t *pa,
                          bool fill)
{
    int priv = effective_priv(h, t);
    uint64_t pte = PTE_R | PTE_W | PTE_X | PTE_D | PTE_A;
    int r;
    if (priv == PRV_M || (h->satp >> 60) == 0) {
        *pa = va;
        if (va >> 56)
            return access_fault_cause[t] + 1;
    } else if ((r = page_walk(h, va, t, priv, pa, &pte)) != 0) {
        return r;
    }
    uint64_t ppage = *pa & ~0xfffULL;
    bool page_ok = pmp_check(h, ppage, 4096, t, priv);
    if (!page_ok && !pmp_check(h, *pa, size, t, priv))
        return access_fault_cause[t] + 1;
    uint8_t *host;
    if (fill && page_ok && !(h->priv == PRV_M && (h->mstatus & MSTATUS_MPRV) && t != ACC_EXEC) &&
        (host = guest_mem_ptr(h->bus->ram, ppage, 4096)) != NULL) {
        struct tlb_entry *e = tlb_slot(h, tlb_index_for(h, priv, t), t, va);
        e->tag = (va & ~0xfffULL) | h->tlb_gen;
        if (t == ACC_WRITE && code_page_cached(h, ppage))
            e->tag |= TLB_CODE;
        e->host = host;
    }
    return 0;
}

int mmu_translate(struct hart *h, uint64_t va, enum access_type t, uint64_t *pa)
{
    return translate_fill(h, va, t, 1, pa, true);
}

uint8_t *mmu_translate_ram(struct hart *h, uint64_t va, enum access_type t, unsigned size, int *cause)
{
    uint64_t pa;
    int r = translate_fill(h, va, t, size, &pa, true);
    if (r) {
        *cause = r - 1;
        h->fault_tval = va;
        return NULL;
    }
    /* the whole page, as for a TLB entry: callers read up to the end of the page */
    uint8_t *p = guest_mem_ptr(h->bus->ram, pa & ~0xfffULL, 4096);
    if (!p) {
        *cause = -1;
        return NULL;
    }
    return p + (pa & 0xfff);
}

int phys_load(struct hart *h, uint64_t pa, unsigned size, uint64_t *val)
{
    uint8_t *p = guest_mem_ptr(h->bus->ram, pa, size);
    if (p) {
        uint64_t v = 0;
        memcpy(&v, p, size);
        *val = v;
        return 0;
    }
    if (pa & (size - 1))
        return -EFAULT;
    return h->bus->load(h->bus->ctx, pa, size, val);
}

int phys_store(struct hart *h, uint64_t pa, unsigned size, uint64_t val)
{
    uint8_t *p = guest_mem_ptr(h->bus->ram, pa, size);
    if (p) {
        code_store(h, pa, size);
        memcpy(p, &val, size);
        return 0;
    }
    if (pa & (size - 1))
        return -EFAULT;
    return h->bus->store(h->bus->ctx, pa, size, val);
}

int mmu_load(struct hart *h, uint64_t va, unsigned size, uint64_t *val)
{
    if (((va & 0xfff) + size) > 0x1000) {
        /* crosses a page: byte by byte, so the fault names the page that failed */
        uint64_t v = 0;
        for (unsigned i = 0; i < size; i++) {
            uint64_t b;
            int r = mmu_load(h, va + i, 1, &b);
            if (r)
                return r;
            v |= b << (8 * i);
        }
        *val = v;
        return 0;
    }
    uint64_t pa;
    int r = translate_fill(h, va, ACC_READ, size, &pa, true);
    if (!r && phys_load(h, pa, size, val))
        r = EXC_LOAD_ACCESS + 1;
    if (r)
        h->fault_tval = va;
    return r;
}

int mmu_store(struct hart *h, uint64_t va, unsigned size, uint64_t val)
{
    if (((va & 0xfff) + size) > 0x1000) {
        /* Check both pages before writing anything, so a fault leaves memory unchanged. */
        uint64_t pa;
        uint64_t second = (va | 0xfff) + 1;
        int r = translate_fill(h, va, ACC_WRITE, 1, &pa, true);
        if (r) {
            h->fault_tval = va;
            return r;
        }
        r = translate_fill(h, second, ACC_WRITE, 1, &pa, true);
        if (r) {
            h->fault_tval = second;
            return r;
        }
        for (unsigned i = 0; i < size; i++) {
            r = mmu_store(h, va + i, 1, (val >> (8 * i)) & 0xff);
            if (r)
                return r;
        }
        return 0;
    }
    /* a TLB hit on a page with decoded code: store without a walk */
    if (!(h->priv == PRV_M && (h->mstatus & MSTATUS_MPRV))) {
        struct tlb_entry *e = tlb_slot(h, tlb_index_for(h, h->priv, ACC_WRITE), ACC_WRITE, va);
        if (e->tag == ((va & ~0xfffULL) | h->tlb_gen | TLB_CODE)) {
            const struct guest_mem *ram = h->bus->ram;
            uint64_t ppage = ram->base + (uint64_t)(e->host - ram->host);
            code_store(h, ppage | (va & 0xfff), size);
            if (!code_page_cached(h, ppage))
                e->tag &= ~TLB_CODE; /* no decoded page any more: fast again */
            memcpy(e->host + (va & 0xfff), &val, size);
            return 0;
        }
    }
    uint64_t pa;
    int r = translate_fill(h, va, ACC_WRITE, size, &pa, true);
    if (!r && phys_store(h, pa, size, val))
        r = EXC_STORE_ACCESS + 1;
    if (r)
        h->fault_tval = va;
    return r;
}
