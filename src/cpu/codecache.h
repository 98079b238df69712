/* The code cache: decoded pages that mirror guest physical pages, with what keeps them
 * right (stores to code, fence.i, DMA), the jump cache translated code uses to leave its
 * page, and the translator's buffer that goes with them. One per hart.
 *
 * A decoded page has one entry per 2-byte slot of a 4 KiB guest page, decoded on first
 * execution. The interpreter finds the page once per change of virtual page and then runs
 * straight from the entries, with no fetch, no TLB lookup and no re-decode per instruction.
 * Keeping the pages right: every writable TLB entry of a page that has a decoded page
 * carries TLB_CODE (set when the entry is filled, or when the page gets its decoded page),
 * so any store to it from this hart takes the slow path, which drops the entries it
 * overwrites (code_store). Other harts' stores and device DMA are seen after a fence.i on
 * this hart or a remote fence (hart_fence_i, hart_flush_code), which is what the ISA asks
 * software to do (Zifencei); a page then comes back to life only if its bytes are still
 * those its entries were made from (its snapshot). */
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
    uint32_t gen;         /* == hart.code_gen while live (code_gen is never 0) */
    bool snap_ok;         /* snap may bring the page back to life */
    uint64_t used;        /* code_cache.clock when last looked up (the least recent goes) */
    struct dentry d[PAGE_SLOTS];
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

struct code_cache {
    struct jc_entry jc[3][JC_SIZE];
    struct code_page *slot[CODE_SLOTS]; /* set s is slot[s * CODE_WAYS ...] */
    uint64_t clock;
    struct jit_buf jit;   /* the translator's host code for this hart's runs */
};

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
