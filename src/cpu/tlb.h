/* The TLB's fast side: which set serves an access, and the one probe that every fast path
 * (interpreter handlers, the slow path's first try, instruction fetch) makes. Fills, walks
 * and flushes are in mmu.c. */
#ifndef CORRAL_CPU_TLB_H
#define CORRAL_CPU_TLB_H

#include <string.h>

#include "cpu/hart.h"

/* The data TLB set for access type t at the current privilege, or NULL when every access
 * must take the slow path (M-mode with MPRV). */
static inline struct tlb_entry *dtlb_set(struct hart *h, enum access_type t)
{
    if (h->priv == PRV_M)
        return (h->mstatus & MSTATUS_MPRV) ? NULL : tlb_set_of(h, TLB_M, t);
    if (h->priv == PRV_S)
        return tlb_set_of(h, (h->mstatus & MSTATUS_SUM) ? TLB_S_SUM : TLB_S, t);
    return tlb_set_of(h, TLB_U, t);
}

/* The instruction TLB set at the current privilege (fetches ignore MPRV and SUM). */
static inline struct tlb_entry *itlb_set(struct hart *h)
{
    return h->tlb[h->priv == PRV_M ? TLB_M : h->priv][ACC_EXEC];
}

/* The probe: the host address of va if set (of entries slots, a power of two) holds its
 * page under generation gen and the size bytes from va stay inside that page; else NULL
 * (take the slow path). A writable entry marked TLB_CODE never matches, so stores to
 * decoded code go the slow way. */
static inline uint8_t *tlb_probe(const struct tlb_entry *set, unsigned entries, uint64_t va, unsigned size,
                                 uint64_t gen)
{
    const struct tlb_entry *e = &set[(va >> 12) & (entries - 1)];
    if (likely(e->tag == ((va & ~0xfffULL) | gen) && (va & 0xfff) <= 0x1000 - size))
        return e->host + (va & 0xfff);
    return NULL;
}

/* TLB hit for a data access that stays inside one page, or NULL (then take the slow path). */
static inline uint8_t *tlb_hit(struct hart *h, uint64_t va, unsigned size, enum access_type t)
{
    struct tlb_entry *set = dtlb_set(h, t);
    if (unlikely(!set))
        return NULL;
    return tlb_probe(set, tlb_entries(t), va, size, h->tlb_gen);
}

static inline int load(struct hart *h, uint64_t va, unsigned size, uint64_t *val)
{
    uint8_t *p = tlb_hit(h, va, size, ACC_READ);
    if (likely(p != NULL)) {
        /* fixed-size copies compile to single moves; a variable size would call memcpy */
        switch (size) {
        case 1: *val = *p; break;
        case 2: { uint16_t v; memcpy(&v, p, 2); *val = v; break; }
        case 4: { uint32_t v; memcpy(&v, p, 4); *val = v; break; }
        default: { uint64_t v; memcpy(&v, p, 8); *val = v; break; }
        }
        return 0;
    }
    return mmu_load(h, va, size, val);
}

static inline int store(struct hart *h, uint64_t va, unsigned size, uint64_t val)
{
    uint8_t *p = tlb_hit(h, va, size, ACC_WRITE);
    if (likely(p != NULL)) {
        switch (size) {
        case 1: *p = (uint8_t)val; break;
        case 2: { uint16_t v = (uint16_t)val; memcpy(p, &v, 2); break; }
        case 4: { uint32_t v = (uint32_t)val; memcpy(p, &v, 4); break; }
        default: memcpy(p, &val, 8); break;
        }
        return 0;
    }
    return mmu_store(h, va, size, val);
}

#endif
