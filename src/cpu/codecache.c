/* The code cache (see codecache.h): decoded pages by physical page, shared by a VM's harts,
 * their invalidation and reclaiming, and the lookup the interpreter makes when it enters a
 * page. */
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
        __atomic_store_n(&d[i].handler, decode, __ATOMIC_RELAXED);
}

static inline struct code_page *slot_get(struct code_shared *cs, unsigned i)
{
    return atomic_load_explicit(&cs->slot[i], memory_order_acquire);
}

/* A page's gen and used are read without the lock (code_lookup's fast path). */
static inline uint32_t page_gen(const struct code_page *cp) { return __atomic_load_n(&cp->gen, __ATOMIC_ACQUIRE); }
static inline void page_gen_set(struct code_page *cp, uint32_t g) { __atomic_store_n(&cp->gen, g, __ATOMIC_RELEASE); }
static inline uint64_t page_used(const struct code_page *cp) { return __atomic_load_n(&cp->used, __ATOMIC_RELAXED); }
static inline void page_used_set(struct code_page *cp, uint64_t c) { __atomic_store_n(&cp->used, c, __ATOMIC_RELAXED); }

/* Bumps the shared generation: every page must be looked up (and checked) again. Locked. */
static void gen_bump(struct code_shared *cs)
{
    uint32_t g = atomic_load_explicit(&cs->gen, memory_order_relaxed) + 1;
    if (g == 0) {
        /* wrapped: no page may look live by accident */
        for (unsigned i = 0; i < CODE_SLOTS; i++)
            if (slot_get(cs, i))
                page_gen_set(slot_get(cs, i), 0);
        g = 1;
    }
    atomic_store_explicit(&cs->gen, g, memory_order_release);
}

/* Every hart drops its jump cache at the start of its next block. */
static void jump_caches_go(struct code_shared *cs)
{
    atomic_fetch_add(&cs->retire_gen, 1);
}

/* Every page is cleared when it next comes back to life (its entries and runs remade), and
 * no hart reaches one before. Locked. */
static void pages_start_afresh(struct code_shared *cs)
{
    for (unsigned i = 0; i < CODE_SLOTS; i++)
        if (slot_get(cs, i))
            slot_get(cs, i)->snap_ok = false;
    gen_bump(cs);
    jump_caches_go(cs);
}

/* Starts a grace period: what was retired or given up before it may go once every hart
 * has been outside a block since. Locked. Returns the epoch to wait past. */
static uint64_t grace_begin(struct code_shared *cs)
{
    atomic_store(&cs->pending, true);
    return atomic_fetch_add(&cs->epoch, 1);
}

/* True if no hart but self (NULL: none) can still be in a block that began at epoch e or
 * before. */
static bool grace_over(struct code_shared *cs, const struct code_cache *self, uint64_t e)
{
    for (unsigned i = 0; i < cs->nharts; i++) {
        if (cs->harts[i] == self)
            continue;
        uint64_t he = atomic_load(&cs->harts[i]->epoch);
        if (he != 0 && he <= e)
            return false;
    }
    return true;
}

/* Takes cp out of the table (slot i) to be reclaimed after a grace period. Locked. */
static void page_retire(struct code_shared *cs, unsigned i)
{
    struct code_page *cp = slot_get(cs, i);
    atomic_store_explicit(&cs->slot[i], NULL, memory_order_release);
    page_gen_set(cp, 0);
    jump_caches_go(cs);
    cp->retired = grace_begin(cs);
    cp->next = cs->retired;
    cs->retired = cp;
}

/* What every hart has left behind goes: retired pages to the free list (or back to the
 * host when trimming), the emptied buffer is started afresh. Locked; self is the caller's
 * part, outside any block of its own. */
static void reclaim(struct code_shared *cs, const struct code_cache *self)
{
    /* retired pages, newest first: those past their grace period go */
    struct code_page **pp = &cs->retired;
    while (*pp && !grace_over(cs, self, (*pp)->retired))
        pp = &(*pp)->next;
    struct code_page *cp = *pp;
    *pp = NULL;
    while (cp) {
        struct code_page *next = cp->next;
        if (cs->trim_pending) {
            munmap(cp, sizeof(*cp));
        } else {
            cp->next = cs->free;
            cs->free = cp;
        }
        cp = next;
    }
    if (cs->reset_pending && grace_over(cs, self, cs->reset_epoch)) {
        /* no hart can be in a run of the buffer now, nor reach one: every page was made to
         * start afresh when it ran out, and every jump cache went */
        if (cs->trim_pending) {
            jit_trim(&cs->jit);
            while (cs->free) {
                struct code_page *next = cs->free->next;
                munmap(cs->free, sizeof(*cs->free));
                cs->free = next;
            }
        } else {
            jit_reset(&cs->jit);
        }
        cs->reset_pending = false;
        /* pages decoded meanwhile were not translated: they start afresh once more */
        pages_start_afresh(cs);
    }
    if (!cs->reset_pending && !cs->retired) {
        cs->trim_pending = false;
        atomic_store(&cs->pending, false);
    }
}

void code_enter(struct hart *h)
{
    struct code_cache *cc = h->code;
    struct code_shared *cs = cc->cs;
    if (unlikely(atomic_load_explicit(&cs->pending, memory_order_relaxed))) {
        /* between blocks (epoch 0) this hart holds nothing of the cache */
        code_lock(cs);
        reclaim(cs, cc);
        code_unlock(cs);
    }
    /* seq_cst, then the reads: a reclaimer that saw this hart outside its blocks freed only
     * what was taken out of reach before, and this hart sees that it was */
    atomic_store(&cc->epoch, atomic_load(&cs->epoch));
    uint64_t rg = atomic_load(&cs->retire_gen);
    if (rg != cc->retire_seen) {
        cc->retire_seen = rg;
        h->jit.jc_gen++;
    }
}

void code_buffer_full(struct hart *h)
{
    struct code_shared *cs = h->code->cs;
    h->jit.jc_gen++;
    h->fetch_vpage = ~0ULL;
    if (cs->reset_pending)
        return;
    pages_start_afresh(cs);
    if (!cs->multi) {
        /* this hart is the only one, and drops what it holds: empty the buffer now */
        jit_reset(&cs->jit);
        return;
    }
    /* the buffer stays full, so nothing is translated until it is emptied */
    cs->reset_pending = true;
    cs->reset_epoch = grace_begin(cs);
}

void hart_flush_code(struct hart *h)
{
    h->jit.jc_gen++;
    h->fetch_vpage = ~0ULL;
    if (!h->code)
        return;
    struct code_shared *cs = h->code->cs;
    /* Pages whose bytes have not changed come back to life with their entries and runs
     * (code_page_activate), so translated code stays until its room runs out. */
    code_lock(cs);
    gen_bump(cs);
    code_unlock(cs);
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

static inline unsigned code_set(uint64_t ppage)
{
    return (unsigned)((ppage >> 12) % CODE_SETS) * CODE_WAYS;
}

/* The decoded page given to ppage, or NULL. */
static inline struct code_page *code_slot(struct code_shared *cs, uint64_t ppage)
{
    unsigned set = code_set(ppage);
    for (unsigned w = 0; w < CODE_WAYS; w++) {
        struct code_page *cp = slot_get(cs, set + w);
        if (cp && cp->ppage == ppage)
            return cp;
    }
    return NULL;
}

bool code_page_cached(struct hart *h, uint64_t ppage)
{
    if (!h->code)
        return false;
    return code_slot(h->code->cs, ppage) != NULL;
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
    if (!h->code)
        return;
    struct code_shared *cs = h->code->cs;
    code_lock(cs);
    struct code_page *cp = code_slot(cs, pa & ~0xfffULL);
    if (cp && page_gen(cp) != atomic_load_explicit(&cs->gen, memory_order_relaxed)) {
        /* kept since a fence.i but not run since: a page written to is most likely data
         * now, so give it up rather than make every store to it take the slow path */
        unsigned set = code_set(cp->ppage);
        for (unsigned w = 0; w < CODE_WAYS; w++)
            if (slot_get(cs, set + w) == cp)
                page_retire(cs, set + w);
        h->jit.jc_gen++;
    } else if (cp) {
        code_clear_range(cp, pa & 0xfff, size);
    }
    code_unlock(cs);
}

/* Makes cp live: clears its entries unless the page still holds the bytes they came from.
 * Locked. */
static void code_page_activate(struct code_shared *cs, struct code_page *cp)
{
    if (!cp->snap_ok || memcmp(cp->snap, cp->host, sizeof(cp->snap)) != 0) {
        dentries_clear(cp->d, PAGE_SLOTS);
        memcpy(cp->snap, cp->host, sizeof(cp->snap));
        cp->snap_ok = true;
    }
    page_gen_set(cp, atomic_load_explicit(&cs->gen, memory_order_relaxed));
}

/* A fresh page for ppage (host address host): from the free list, or mapped (not from the
 * heap: trimming gives these pages straight back). Marks every writable TLB entry of this
 * hart for the page, so that its stores to it take the slow path. Locked. */
static struct code_page *code_page_new(struct hart *h, uint64_t ppage, uint8_t *host)
{
    struct code_shared *cs = h->code->cs;
    struct code_page *cp = cs->free;
    if (cp) {
        cs->free = cp->next;
    } else {
        cp = mmap(NULL, sizeof(*cp), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (cp == MAP_FAILED)
            return NULL;
    }
    page_gen_set(cp, 0); /* not live: activation clears it */
    cp->snap_ok = false;
    cp->ppage = ppage;
    cp->host = host;
    cp->next = NULL;
    for (unsigned m = 0; m < TLB_MODES; m++) {
        struct tlb_entry *set = h->tlb[m][ACC_WRITE];
        for (unsigned i = 0; i < TLB_SIZE; i++)
            if (set[i].host == host && set[i].tag)
                set[i].tag |= TLB_CODE;
    }
    return cp;
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
    struct code_shared *cs = h->code->cs;
    uint64_t ppage = h->bus->ram->base + (uint64_t)(host - h->bus->ram->host);
    uint64_t clock = atomic_load_explicit(&cs->clock, memory_order_relaxed) + 1;
    atomic_store_explicit(&cs->clock, clock, memory_order_relaxed);
    /* without the lock: the page, live */
    struct code_page *cp = code_slot(cs, ppage);
    if (likely(cp && page_gen(cp) == atomic_load_explicit(&cs->gen, memory_order_acquire))) {
        page_used_set(cp, clock);
        return cp;
    }
    code_lock(cs);
    cp = code_slot(cs, ppage);
    if (!cp) {
        /* an empty way, else the least recently used, which is retired */
        unsigned set = code_set(ppage), victim = 0;
        bool empty = false;
        for (unsigned w = 0; w < CODE_WAYS; w++) {
            struct code_page *o = slot_get(cs, set + w);
            if (!o) {
                victim = w;
                empty = true;
                break;
            }
            if (page_used(o) < page_used(slot_get(cs, set + victim)))
                victim = w;
        }
        cp = code_page_new(h, ppage, host);
        if (!cp) {
            code_unlock(cs);
            *cause = EXC_INSN_ACCESS;
            h->fault_tval = pc;
            return NULL;
        }
        if (!empty)
            page_retire(cs, set + victim);
        h->jit.jc_gen++;
        atomic_store_explicit(&cs->slot[set + victim], cp, memory_order_release);
    }
    page_used_set(cp, clock);
    if (page_gen(cp) != atomic_load_explicit(&cs->gen, memory_order_relaxed))
        code_page_activate(cs, cp);
    code_unlock(cs);
    return cp;
}

/* Records in the page's snapshot the bytes of the instruction raw, len bytes long
 * (code_parcel), decoded at off. Locked. */
void code_snap(struct code_page *cp, unsigned off, uint32_t raw, unsigned len)
{
    if (unlikely(memcmp(cp->snap + off, &raw, len) != 0)) {
        /* changed by another hart or a device since: what was made from the old bytes
         * must go, or the page could come back to life with it */
        memcpy(cp->snap + off, &raw, len);
        code_clear_range(cp, off, len);
    }
}

struct code_shared *code_shared_new(unsigned max_harts)
{
    struct code_shared *cs = calloc(1, sizeof(*cs));
    if (!cs)
        return NULL;
    cs->harts = calloc(max_harts ? max_harts : 1, sizeof(*cs->harts));
    if (!cs->harts) {
        free(cs);
        return NULL;
    }
    cs->max_harts = max_harts ? max_harts : 1;
    cs->multi = cs->max_harts > 1;
    pthread_mutex_init(&cs->lock, NULL);
    atomic_store(&cs->gen, 1);
    atomic_store(&cs->epoch, 1);
    jit_map(&cs->jit);
    return cs;
}

void code_shared_free(struct code_shared *cs)
{
    if (!cs)
        return;
    for (unsigned i = 0; i < CODE_SLOTS; i++)
        if (slot_get(cs, i))
            munmap(slot_get(cs, i), sizeof(struct code_page));
    for (struct code_page *l[2] = { cs->retired, cs->free }, **p = l; p < l + 2; p++) {
        while (*p) {
            struct code_page *next = (*p)->next;
            munmap(*p, sizeof(**p));
            *p = next;
        }
    }
    jit_unmap(&cs->jit);
    pthread_mutex_destroy(&cs->lock);
    free(cs->harts);
    free(cs);
}

void code_shared_trim(struct code_shared *cs)
{
    code_lock(cs);
    /* The decoded pages go (they are mapped one by one, so their memory goes with them).
     * The code buffer stays mapped, since it was made before the lockdown forbade making
     * another, but its pages past the trampoline go back to the host. Both once no hart
     * can be running from them: at once if every hart is outside its blocks. */
    for (unsigned i = 0; i < CODE_SLOTS; i++)
        if (slot_get(cs, i))
            page_retire(cs, i);
    gen_bump(cs);
    jump_caches_go(cs);
    cs->trim_pending = true;
    cs->reset_pending = true;
    cs->reset_epoch = grace_begin(cs);
    reclaim(cs, NULL);
    code_unlock(cs);
}

void hart_free_code(struct hart *h)
{
    struct code_cache *cc = h->code;
    if (!cc)
        return;
    struct code_shared *cs = cc->cs;
    code_lock(cs);
    for (unsigned i = 0; i < cs->nharts; i++) {
        if (cs->harts[i] == cc) {
            cs->harts[i] = cs->harts[--cs->nharts];
            break;
        }
    }
    code_unlock(cs);
    if (cc->own)
        code_shared_free(cs);
    free(cc);
    h->code = NULL;
}

void hart_trim_code(struct hart *h)
{
    if (!h->code)
        return;
    code_shared_trim(h->code->cs);
    memset(h->code->jc, 0, sizeof(h->code->jc));
    hart_flush_code(h);
    hart_flush_tlb(h); /* no write entry keeps a mark for a decoded page that is gone */
}

int hart_alloc_code(struct hart *h)
{
    if (h->code)
        return 0;
    struct code_cache *cc = calloc(1, sizeof(*cc));
    if (!cc)
        return -ENOMEM;
    struct code_shared *cs = h->bus->code;
    if (!cs) {
        cs = code_shared_new(1);
        cc->own = true;
    }
    if (!cs) {
        free(cc);
        return -ENOMEM;
    }
    code_lock(cs);
    bool room = cs->nharts < cs->max_harts;
    if (room)
        cs->harts[cs->nharts++] = cc;
    code_unlock(cs);
    if (!room) {
        if (cc->own)
            code_shared_free(cs);
        free(cc);
        return -ENOMEM;
    }
    cc->cs = cs;
    cc->retire_seen = atomic_load(&cs->retire_gen);
    h->code = cc;
    return 0;
}
