/* The code cache (see codecache.h): decoded pages by physical page, their invalidation, and
 * the lookup the interpreter makes when it enters a page. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cpu/codecache.h"
#include "cpu/tlb.h"

/* Resets entries to "not decoded yet". */
static void dentries_clear(struct dentry *d, unsigned count)
{
    const void *decode = fast_labels[F_DECODE];
    for (unsigned i = 0; i < count; i++)
        d[i].handler = decode;
}

void hart_flush_code(struct hart *h)
{
    h->jit.jc_gen++;
    if (++h->code_gen == 0) {
        /* wrapped: no page may look live by accident */
        for (unsigned i = 0; h->code && i < CODE_SLOTS; i++)
            if (h->code->slot[i])
                h->code->slot[i]->gen = 0;
        h->code_gen = 1;
    }
    h->fetch_vpage = ~0ULL;
    /* Pages whose bytes have not changed come back to life with their entries and runs
     * (code_page_activate), so translated code stays until its room runs out; then every
     * page starts afresh and so does the room. */
    if (h->code && h->code->jit.full) {
        for (unsigned i = 0; i < CODE_SLOTS; i++)
            if (h->code->slot[i])
                h->code->slot[i]->snap_ok = false;
        jit_reset(&h->code->jit);
    }
}

void code_forget_vpage(struct hart *h, uint64_t va)
{
    if (!h->code)
        return;
    for (unsigned m = 0; m < 3; m++)
        h->code->jc[m][(va >> 12) % JC_SIZE].tag = 0;
}

void hart_fence_i(struct hart *h)
{
    const struct guest_mem *ram = h->bus->ram;
    uint64_t dma = ram->dma_epoch ? atomic_load_explicit(ram->dma_epoch, memory_order_acquire) : 0;
    if (h->bus->one_hart && ram->dma_epoch && dma == h->code_dma_seen)
        return;
    h->code_dma_seen = dma;
    hart_flush_code(h);
}

static inline struct code_page **code_set(struct hart *h, uint64_t ppage)
{
    return &h->code->slot[(ppage >> 12) % CODE_SETS * CODE_WAYS];
}

/* The decoded page given to ppage, or NULL. */
static inline struct code_page *code_slot(struct hart *h, uint64_t ppage)
{
    struct code_page **set = code_set(h, ppage);
    for (unsigned w = 0; w < CODE_WAYS; w++)
        if (set[w] && set[w]->ppage == ppage)
            return set[w];
    return NULL;
}

bool code_page_cached(struct hart *h, uint64_t ppage)
{
    if (!h->code)
        return false;
    return code_slot(h, ppage) != NULL;
}

/* Drops the entries made from bytes [off, off + size) of cp: the slots the bytes fall in,
 * and those before whose instruction or translated run may cover them. */
static void code_clear_range(struct code_page *cp, unsigned off, unsigned size)
{
    unsigned first = off >= 4 * JIT_RUN_MAX ? (off - 4 * JIT_RUN_MAX) / 2 : 0;
    unsigned last = (off + size - 1) / 2;
    if (last >= PAGE_SLOTS)
        last = PAGE_SLOTS - 1;
    dentries_clear(&cp->d[first], last - first + 1);
}

void code_store(struct hart *h, uint64_t pa, unsigned size)
{
    struct code_page *cp = h->code ? code_slot(h, pa & ~0xfffULL) : NULL;
    if (!cp)
        return;
    if (cp->gen != h->code_gen) {
        /* kept since a fence.i but not run since: a page written to is most likely data
         * now, so give it up rather than make every store to it take the slow path */
        cp->ppage = ~0ULL;
        cp->snap_ok = false;
        h->jit.jc_gen++;
        return;
    }
    code_clear_range(cp, pa & 0xfff, size);
}

/* Makes cp live: clears its entries unless the page still holds the bytes they came from. */
static void code_page_activate(struct hart *h, struct code_page *cp)
{
    if (!cp->snap_ok || memcmp(cp->snap, cp->host, sizeof(cp->snap)) != 0) {
        dentries_clear(cp->d, PAGE_SLOTS);
        memcpy(cp->snap, cp->host, sizeof(cp->snap));
        cp->snap_ok = true;
    }
    cp->gen = h->code_gen;
}

/* Gives cp to the page at ppage (host address host): marks every writable TLB entry for the
 * page so that stores to it take the slow path, for as long as cp stays with the page. */
static void code_page_assign(struct hart *h, struct code_page *cp, uint64_t ppage, uint8_t *host)
{
    cp->gen = 0; /* not live: activation clears it */
    h->jit.jc_gen++;
    cp->snap_ok = false;
    cp->ppage = ppage;
    cp->host = host;
    for (unsigned m = 0; m < TLB_MODES; m++) {
        struct tlb_entry *set = h->tlb[m][ACC_WRITE];
        for (unsigned i = 0; i < TLB_SIZE; i++)
            if (set[i].host == host && set[i].tag)
                set[i].tag |= TLB_CODE;
    }
}


/* The live decoded page holding pc, or NULL with *cause set (h->fault_tval = pc), or with
 * *cause CODE_STEP. */
struct code_page *code_lookup(struct hart *h, uint64_t pc, int *cause)
{
    uint64_t vpage = pc & ~0xfffULL;
    uint8_t *host = tlb_probe(itlb_set(h), TLB_SIZE, vpage, 1, h->tlb_gen);
    if (unlikely(!host)) {
        uint64_t pa;
        int r = mmu_translate(h, pc, ACC_EXEC, &pa);
        host = r ? NULL : guest_mem_ptr(h->bus->ram, pa & ~0xfffULL, 4096);
        if (!host) {
            *cause = r ? r - 1 : EXC_INSN_ACCESS;
            h->fault_tval = pc;
            return NULL;
        }
        /* a RAM page goes into the TLB unless a PMP entry covers only part of it: then
         * every instruction there is fetched, and checked, on its own */
        if (!tlb_probe(itlb_set(h), TLB_SIZE, vpage, 1, h->tlb_gen)) {
            *cause = CODE_STEP;
            return NULL;
        }
    }
    uint64_t ppage = h->bus->ram->base + (uint64_t)(host - h->bus->ram->host);
    /* the way holding ppage, else an empty or given-up way, else the least recently used */
    struct code_page **set = code_set(h, ppage), *cp = code_slot(h, ppage);
    unsigned victim = 0;
    for (unsigned w = 0; !cp && w < CODE_WAYS; w++) {
        if (!set[w]) {
            victim = w;
            break;
        }
        if (set[victim]->ppage != ~0ULL &&
            (set[w]->ppage == ~0ULL || set[w]->used < set[victim]->used))
            victim = w;
    }
    if (!cp)
        cp = set[victim];
    if (unlikely(!cp)) {
        /* mapped, not from the heap: a trimmed hart gives these pages straight back */
        cp = mmap(NULL, sizeof(*cp), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (cp == MAP_FAILED) {
            cp = NULL;
            *cause = EXC_INSN_ACCESS;
            h->fault_tval = pc;
            return NULL;
        }
        cp->ppage = ~0ULL;
        set[victim] = cp;
    }
    cp->used = ++h->code->clock;
    if (cp->ppage != ppage)
        code_page_assign(h, cp, ppage, host);
    if (cp->gen != h->code_gen)
        code_page_activate(h, cp);
    return cp;
}

static void code_cache_free(struct hart *h)
{
    if (!h->code)
        return;
    for (unsigned i = 0; i < CODE_SLOTS; i++)
        if (h->code->slot[i])
            munmap(h->code->slot[i], sizeof(struct code_page));
    jit_unmap(&h->code->jit);
    free(h->code);
    h->code = NULL;
}

void hart_free_code(struct hart *h) { code_cache_free(h); }

void hart_trim_code(struct hart *h)
{
    struct code_cache *cc = h->code;
    if (!cc)
        return;
    /* The decoded pages go (they are mapped one by one, so their memory goes with them).
     * The code buffer stays mapped, since it was made before the lockdown forbade making
     * another, but its pages past the trampoline go back to the host. */
    for (unsigned i = 0; i < CODE_SLOTS; i++) {
        if (cc->slot[i])
            munmap(cc->slot[i], sizeof(struct code_page));
        cc->slot[i] = NULL;
    }
    memset(cc->jc, 0, sizeof(cc->jc));
    jit_trim(&cc->jit);
    hart_flush_code(h);
    hart_flush_tlb(h); /* no write entry keeps a mark for a decoded page that is gone */
}

/* Records in the page's snapshot the bytes of the instruction raw, len bytes long
 * (code_parcel), decoded at off. */
void code_snap(struct code_page *cp, unsigned off, uint32_t raw, unsigned len)
{
    if (unlikely(memcmp(cp->snap + off, &raw, len) != 0)) {
        /* changed by another hart or a device since: what was made from the old bytes
         * must go, or the page could come back to life with it */
        memcpy(cp->snap + off, &raw, len);
        code_clear_range(cp, off, len);
    }
}

int hart_alloc_code(struct hart *h)
{
    if (h->code)
        return 0;
    h->code = calloc(1, sizeof(*h->code));
    if (!h->code)
        return -ENOMEM;
    jit_map(&h->code->jit);
    return 0;
}
