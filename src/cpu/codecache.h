/* The code cache: decoded pages that mirror guest physical pages, with what keeps them
 * right (stores to code, fence.i, DMA), and the translator's buffer that goes with them,
 * shared by every hart of a VM (struct code_shared); and, per hart, the jump cache that
 * translated code uses to leave its page (struct code_cache).
 *
 * A decoded page has one entry per 2-byte slot of a 4 KiB guest page, decoded on first
 * execution. The interpreter finds the page once per change of virtual page and then runs
 * straight from the entries, with no fetch, no TLB lookup and no re-decode per instruction.
 * Keeping the pages right: every writable TLB entry of a page that has a decoded page
 * carries TLB_CODE (set when the entry is filled, or when the page gets its decoded page on
 * this hart), so any store to it takes the slow path, which drops the entries it
 * overwrites (code_store). Other stores (another hart's through an entry filled before the
 * page got its decoded page, device DMA) are seen after a fence.i or a remote fence
 * (hart_fence_i, hart_flush_code), which is what the ISA asks software to do (Zifencei): a
 * page then comes back to life only if its bytes are still those its entries were made
 * from (its snapshot).
 *
 * Sharing between harts. Harts run from the pages and the buffer without a lock; whatever
 * changes them (decoding, translating, clearing, giving a page to another physical page)
 * holds code_shared.lock when the VM has more than one hart. Nothing a hart may be running
 * is ever freed or overwritten under it: a page given up is retired (taken out of the
 * table, kept intact) and the buffer emptied only once every hart has been outside
 * hart_exec_block since (an epoch scheme: each hart publishes the epoch at which its block
 * began, 0 between blocks). A hart keeps no pointer into the cache across blocks but its
 * jump cache, which it drops at the start of a block when anything was retired since.
 * An entry is written fields first and handler last, so a hart that reads a new handler
 * reads its fields; one that read the old handler just before may read new fields, which
 * at worst runs a wrong guest instruction: every register field is below 32 in every
 * entry, and a translated run's head keeps its decoded fields, its run's offset held
 * apart (code_page.run) and written with nothing but run starts, so no mix of old and new
 * leaves the guest's registers and memory or enters host code anywhere but at a run's
 * start. (The buffer is emptied only after every hart has left the blocks that could hold
 * a head translated before: then every head a hart can read has its offset from after.) */
#ifndef CORRAL_CPU_CODECACHE_H
#define CORRAL_CPU_CODECACHE_H

#include "cpu/decode.h"
#include "cpu/hart.h"
#include "cpu/jit/jit.h"

#define PAGE_SLOTS 2048   /* 2-byte slots in a 4 KiB page */
#define CODE_WAYS 4       /* decoded pages per hart: 4-way set-associative by physical page */
#define CODE_SETS 256
#define CODE_SLOTS (CODE_WAYS * CODE_SETS)

struct code_page {
    uint64_t ppage;       /* physical page address */
    uint8_t *host;        /* its host address */
    uint32_t gen;         /* == code_shared.gen while live (gen is never 0) */
    bool snap_ok;         /* snap may bring the page back to life */
    uint64_t used;        /* code_shared.clock when last looked up (the least recent goes) */
    struct code_page *next; /* on the retired or free list */
    uint64_t retired;     /* the epoch it was retired at */
    struct dentry d[PAGE_SLOTS];
    /* At a run's head (F_JIT), the run's offset in the code buffer; written only with the
     * start of a run made from this page's bytes, never cleared (see above). */
    uint32_t run[PAGE_SLOTS];
    /* The page's bytes as its entries were decoded from: every decoded instruction and
     * translated run writes the bytes it was made from here. After a fence.i the page is
     * live again without a re-decode if the guest page still holds exactly these bytes. */
    uint8_t snap[4096];
};

/* Jump cache: for translated code that leaves its page, the decoded page of a virtual page,
 * by mode (U, S, M). Valid while the TLB generation (in tag) and jc_gen are those of now. */
#define JC_SIZE 512
struct jc_entry {
    uint64_t tag;         /* virtual page | tlb_gen */
    struct dentry *dents; /* the decoded page's entries */
    uint64_t gen;         /* hart.jit.jc_gen when made */
    uint64_t pad;
};

/* What the harts of a VM share (or one hart alone). */
struct code_shared {
    struct code_page *_Atomic slot[CODE_SLOTS]; /* set s is slot[s * CODE_WAYS ...] */
    _Atomic uint64_t clock;
    _Atomic uint32_t gen;           /* bumping it drops every decoded page (fence.i) */
    struct jit_buf jit;             /* the translator's host code for every hart's runs */
    pthread_mutex_t lock;           /* held to change pages or the buffer, if multi */
    bool multi;                     /* more than one hart: take the lock */
    /* reclaiming (see above) */
    _Atomic uint64_t epoch;         /* starts at 1 */
    _Atomic uint64_t retire_gen;    /* bumped when a page is retired or runs go: jump caches go */
    struct code_page *retired;      /* retired pages, newest first */
    struct code_page *free;         /* reclaimed pages, ready for reuse */
    _Atomic bool pending;           /* retired pages or a buffer reset wait for reclaim */
    bool reset_pending, trim_pending;
    uint64_t reset_epoch;           /* the epoch of the buffer's running out */
    unsigned nharts, max_harts;
    struct code_cache **harts;
};

/* One hart's part: its jump cache and its place in the epoch scheme. */
struct code_cache {
    struct jc_entry jc[3][JC_SIZE];
    struct code_shared *cs;
    _Atomic uint64_t epoch;         /* cs->epoch when this hart's block began; 0 between */
    uint64_t retire_seen;           /* cs->retire_gen at the start of the last block */
    bool own;                       /* cs is this hart's alone (freed with it) */
};

/* code_shared_new, code_shared_free, code_shared_trim: hart.h */

/* Around each hart_exec_block: publish the block's epoch, drop the jump cache if anything
 * was retired, reclaim what every hart has left behind; and leave. */
void code_enter(struct hart *h);
static inline void code_leave(struct hart *h)
{
    atomic_store_explicit(&h->code->epoch, 0, memory_order_release);
}

static inline void code_lock(struct code_shared *cs)
{
    if (cs->multi)
        pthread_mutex_lock(&cs->lock);
}
static inline void code_unlock(struct code_shared *cs)
{
    if (cs->multi)
        pthread_mutex_unlock(&cs->lock);
}

/* The translator's buffer ran out (locked): every page starts afresh, and the buffer is
 * emptied once no hart can be running from it. The caller drops what it holds of the
 * cache. */
void code_buffer_full(struct hart *h);

#define CODE_STEP (-1) /* code_lookup: the page is only partly executable (PMP), step through it */

/* The live decoded page holding pc, or NULL with *cause set (h->fault_tval = pc), or with
 * *cause CODE_STEP. */
struct code_page *code_lookup(struct hart *h, uint64_t pc, int *cause);

/* Records in the page's snapshot the bytes of the instruction raw, len bytes long
 * (code_parcel), decoded at off; drops what was made from other bytes there. */
void code_snap(struct code_page *cp, unsigned off, uint32_t raw, unsigned len);

/* The raw instruction that the entry at offset off of a decoded page was made from (not one
 * that crosses the page). It comes from the snapshot, not from guest memory: the guest page
 * may have changed since (another hart, a device), and what runs must be what was decoded
 * and translated. Every live entry's bytes are in the snapshot (code_snap clears the
 * entries whose bytes it replaces). */
static inline uint32_t code_raw(const struct code_page *cp, unsigned off)
{
    uint32_t raw;
    code_parcel(cp->snap, off, &raw);
    return raw;
}

/* The decoded page whose entries are dents. */
static inline struct code_page *container_of_dents(void *dents)
{
    return (struct code_page *)((char *)dents - offsetof(struct code_page, d));
}

#endif
