/* The software RISC-V hart: RV64IMAFDC + Zicsr/Zifencei/Zicntr/Zihintpause/Zba/Zbb/Zbs/Sstc,
 * M/S/U modes, Sv39/48/57, PMP. Knows nothing of devices: whatever misses RAM goes to the
 * board through struct hart_bus. */
#ifndef CORRAL_CPU_HART_H
#define CORRAL_CPU_HART_H

#include <pthread.h>
#include <stdatomic.h>

#include "corral/common.h"
#include "corral/guest_mem.h"

enum { PRV_U = 0, PRV_S = 1, PRV_M = 3 };

/* mip/mie bits (priv spec 3.1.9) */
#define MIP_SSIP (1ULL << 1)
#define MIP_MSIP (1ULL << 3)
#define MIP_STIP (1ULL << 5)
#define MIP_MTIP (1ULL << 7)
#define MIP_SEIP (1ULL << 9)
#define MIP_MEIP (1ULL << 11)

/* exception causes (priv spec table 3.6) */
enum {
    EXC_INSN_MISALIGNED = 0, EXC_INSN_ACCESS = 1, EXC_ILLEGAL = 2, EXC_BREAKPOINT = 3,
    EXC_LOAD_MISALIGNED = 4, EXC_LOAD_ACCESS = 5, EXC_STORE_MISALIGNED = 6, EXC_STORE_ACCESS = 7,
    EXC_ECALL_U = 8, EXC_ECALL_S = 9, EXC_ECALL_M = 11,
    EXC_INSN_PAGE = 12, EXC_LOAD_PAGE = 13, EXC_STORE_PAGE = 15,
    /* Not a trap: a page walk gave up on a PTE that other harts kept changing under its A/D
     * update. hart_take_trap() leaves everything as it is, and the instruction runs again. */
    EXC_RETRY = 63,
};

enum access_type { ACC_READ = 0, ACC_WRITE = 1, ACC_EXEC = 2 };

struct hart;
struct code_cache;
struct code_shared;

/* What the hart needs from its board. All calls come from the hart's own thread. */
struct hart_bus {
    void *ctx;
    const struct guest_mem *ram;
    /* Physical access outside RAM; return 0 or negative for an access fault. */
    int (*load)(void *ctx, uint64_t pa, unsigned size, uint64_t *val);
    int (*store)(void *ctx, uint64_t pa, unsigned size, uint64_t val);
    /* The timebase count (mtime). */
    uint64_t (*time)(void *ctx);
    /* Called every few thousand instructions: refresh timer lines, notice stop requests. */
    void (*poll)(void *ctx, struct hart *h);
    /* WFI with nothing pending: sleep until hart_wakeup() or the next timer deadline. */
    void (*wait)(void *ctx, struct hart *h);
    /* ecall from S-mode when the built-in SBI is the firmware; NULL otherwise. */
    void (*sbi_call)(void *ctx, struct hart *h);
    bool one_hart;              /* no other hart can store to RAM */
    /* On h's own thread, for a start request (hart_request_start): enter the guest at addr
     * with arg; NULL means a plain reset at addr. */
    void (*start)(void *ctx, struct hart *h, uint64_t addr, uint64_t arg);
    /* The decoded pages and translated code the board's harts share (code_shared_new);
     * NULL: each hart has its own. */
    struct code_shared *code;
};

/* A hart's state as the SBI's HSM extension names it (SBI spec 9.1), as hart_get_status
 * returns it. */
enum hart_hsm { HSM_STARTED = 0, HSM_STOPPED = 1, HSM_START_PENDING = 2 };

#define TLB_SIZE 512      /* entries of a write or fetch set */
#define TLB_RD_SIZE 8192  /* entries of a read set: 32 MiB of data within reach of a hit */

/* Only RAM pages are cached: a hit is one tag compare and gives the host address. */
struct tlb_entry {
    uint64_t tag;      /* virtual page address | generation (0 = never valid) | TLB_CODE */
    uint8_t *host;     /* host address of the page */
};

/* TLB sets by effective privilege. S-mode data accesses use a set of their own when
 * mstatus.SUM is on, so an entry never needs the U bit rechecked on a hit. */
#define TLB_GEN_MASK 0x7ffULL
#define TLB_CODE 0x800ULL  /* in a writable entry's tag: the page holds decoded code */
enum { TLB_U = 0, TLB_S = 1, TLB_M = 2, TLB_S_SUM = 3, TLB_MODES = 4 };

/* What translated code reads and writes at fixed offsets from x[] (interp.c sets it). */
struct hart_jit {
    struct tlb_entry *rset, *wset; /* data TLB sets of the current mode */
    uint64_t gen;                  /* tlb_gen */
    void *dents;                   /* decoded entries of the page the code runs in */
    const void *run_label;         /* the handler that marks the head of a translated run */
    void *jcache;                  /* the current mode's jump cache (codecache.h) */
    uint64_t jc_gen;               /* jump cache entries of other generations are stale */
    uint8_t *base;                 /* the code buffer */
    int64_t left;                  /* runs are chained while this stays above 0 */
    uint32_t mxcsr, pad;           /* scratch for the host's FP status (x86-64) */
};

struct hart {
    uint64_t x[32];
    struct hart_jit jit;        /* must follow x[] */
    uint64_t pc;
    uint64_t f[32];
    uint32_t fcsr;
    int priv;

    uint64_t mhartid;
    uint64_t mstatus, misa, medeleg, mideleg, mie, mtvec, mscratch, mepc, mcause, mtval;
    uint64_t mcounteren, menvcfg, mcountinhibit;
    uint64_t stvec, sscratch, sepc, scause, stval, satp, scounteren, senvcfg;
    uint64_t stimecmp;
    _Atomic uint64_t mip;       /* every mip bit, software and hardware driven */
    _Atomic uint64_t seip_line; /* the PLIC's S-mode line, ORed into SEIP (priv spec 3.1.9) */
    uint8_t pmpcfg[64];
    uint64_t pmpaddr[64];
    unsigned pmp_count;         /* entries in use (last with A != OFF) + 1 */
    uint64_t instret;
    uint64_t jit_insns;         /* of which completed in translated code (for tests and profiles) */

    /* LR/SC: address and value seen by LR (SC compares-and-swaps against it) */
    uint64_t resv_addr, resv_val;
    bool resv_valid;

    /* TLBs by effective privilege and access type */
    struct tlb_entry tlb_rd[TLB_MODES][TLB_RD_SIZE]; /* reads: [U, S, M, S+SUM] */
    struct tlb_entry tlb[TLB_MODES][3][TLB_SIZE];    /* writes and fetches ([..][ACC_READ] unused) */
    uint64_t fault_tval;        /* address of the last failed mmu_* access */
    uint64_t tlb_gen;           /* bumping it empties every TLB at once (1..2047) */
    uint64_t sp_lo, sp_last;    /* virtual range translated through superpages since then */

    /* instruction fetch fast path: the current virtual page and its host address */
    uint64_t fetch_vpage;
    uint8_t *fetch_host;

    bool sbi_builtin;           /* S-mode ecalls go to bus->sbi_call */
    bool interp_only;           /* never translate: the reference the translator is checked against */
    bool stimecmp_enabled;      /* stimecmp drives STIP (Sstc, or the built-in SBI's timer) */
    atomic_bool stop;           /* leave hart_run() at the next block boundary */
    atomic_bool flush_tlb_req;  /* a remote fence asked for a TLB flush */
    _Atomic int hsm;            /* enum hart_hsm; runs guest code only when STARTED */
    uint64_t start_addr, start_arg; /* the start request, while START_PENDING (under lock) */
    atomic_bool sleeping;       /* inside bus->wait(): executes nothing until woken */
    bool wfi_pending;

    struct code_cache *code;    /* jump cache, and the decoded pages it shares (codecache.h) */
    uint64_t code_dma_seen;     /* ram.dma_epoch at the last flush of decoded pages */
    const struct hart_bus *bus;
    pthread_mutex_t lock;       /* guards the sleep in WFI and the start request */
    pthread_cond_t wake;
};

/* The entries of a TLB set for access type t, the set of a TLB mode, and the slot of va. */
static inline unsigned tlb_entries(enum access_type t) { return t == ACC_READ ? TLB_RD_SIZE : TLB_SIZE; }
static inline struct tlb_entry *tlb_set_of(struct hart *h, int mode, enum access_type t)
{
    return t == ACC_READ ? h->tlb_rd[mode] : h->tlb[mode][t];
}
static inline struct tlb_entry *tlb_slot(struct hart *h, int mode, enum access_type t, uint64_t va)
{
    return &tlb_set_of(h, mode, t)[(va >> 12) & (tlb_entries(t) - 1)];
}

/* A VM's code cache, shared by up to max_harts harts (codecache.h), with its code buffer
 * (mapped now: call it before a sandbox forbids memfd_create); NULL without memory. Harts
 * attach to it in hart_alloc_code through their bus (hart_bus.code). Freed after them. */
struct code_shared *code_shared_new(unsigned max_harts);
void code_shared_free(struct code_shared *cs);
/* Gives the decoded pages and translated code back to the host: call when every hart of
 * the VM is idle, from a hart's own thread outside hart_exec_block. */
void code_shared_trim(struct code_shared *cs);

void hart_init(struct hart *h, uint64_t hartid, const struct hart_bus *bus);
void hart_destroy(struct hart *h);
/* Reset state (priv spec 3.4): M-mode, mstatus.MIE = 0, pc = entry. */
void hart_reset(struct hart *h, uint64_t entry);
/* Runs until h->stop is set. */
void hart_run(struct hart *h);
/* Sets or clears a hardware-driven mip bit (MSIP, MTIP, MEIP, SEIP line, STIP) from any thread. */
void hart_set_irq(struct hart *h, uint64_t bit, int level);
/* Any thread: asks a STOPPED hart to start (SBI HSM hart_start): posts the request, moves
 * the hart to START_PENDING and wakes it; its own thread applies the request (bus->start)
 * and moves to STARTED. Writes nothing else of the hart. False if it is not STOPPED. */
bool hart_request_start(struct hart *h, uint64_t addr, uint64_t arg);
/* The hart's own thread: applies a pending start request; true if there was one. */
bool hart_take_start(struct hart *h);
/* The hart's own thread: stops it (SBI HSM hart_stop); it sleeps until started. */
void hart_stop_self(struct hart *h);
static inline bool hart_started(struct hart *h)
{
    return atomic_load_explicit(&h->hsm, memory_order_acquire) == HSM_STARTED;
}
/* Wakes the hart from WFI (any thread). */
void hart_wakeup(struct hart *h);
/* True if an interrupt is pending and enabled in mie (the WFI wake-up condition). */
bool hart_wfi_should_wake(struct hart *h);
void hart_flush_tlb(struct hart *h);
/* sfence.vma for one virtual address. */
void hart_flush_tlb_page(struct hart *h, uint64_t va);
/* Forgets what the translated code's jump cache knows of virtual page va (codecache.c). */
void code_forget_vpage(struct hart *h, uint64_t va);
/* Forgets every decoded instruction (fence.i, remote fence.i, reset). */
void hart_flush_code(struct hart *h);
/* fence.i: decoded pages go unless nothing but this hart's own stores (which drop what they
 * overwrite at once) can have changed RAM since the last flush. */
void hart_fence_i(struct hart *h);
void hart_free_code(struct hart *h);
/* On the hart's own thread, between blocks, when every hart sharing its code is idle: gives
 * the decoded pages and translated code back to the host (an idle guest needs little of
 * it); they are built again as code runs. */
void hart_trim_code(struct hart *h);
/* Allocates the hart's part of the code cache and attaches it to bus->code, or to a cache
 * and translator's buffer of its own (hart_init does; a hart whose allocation failed then
 * tries at its first block): 0 or -ENOMEM. Without bus->code this needs memfd_create: call
 * before a sandbox forbids it. */
int hart_alloc_code(struct hart *h);
/* A store of size bytes at RAM address pa (slow path): drops the decoded instructions it
 * overlaps. */
void code_store(struct hart *h, uint64_t pa, unsigned size);
/* True if RAM page ppage has a decoded page, live or kept for a later fence.i: its writable
 * TLB entries carry TLB_CODE so that stores to it take the slow path through code_store(). */
bool code_page_cached(struct hart *h, uint64_t ppage);
/* Raises a synchronous exception and moves to the handler (trap entry). */
void hart_take_trap(struct hart *h, uint64_t cause, uint64_t tval, bool interrupt);

/* CSR access, with the rules of the privileged spec; return 0 or -1 (illegal instruction). */
int csr_read(struct hart *h, unsigned csr, uint64_t *val);
int csr_write(struct hart *h, unsigned csr, uint64_t val);

/* Test seam, NULL outside tests: called between reading a leaf PTE and updating its A/D
 * bits, where another hart may change the PTE. */
extern void (*mmu_pte_race_hook)(uint64_t *pte);

/* Memory access by virtual address (with the hart's current translation). Return 0, or the
 * exception cause + 1 with h->fault_tval set to the faulting address. */
int mmu_load(struct hart *h, uint64_t va, unsigned size, uint64_t *val);
int mmu_store(struct hart *h, uint64_t va, unsigned size, uint64_t val);
/* Host pointer for va when its whole page is RAM (an aligned access, or a fetch, may use
 * any byte up to the end of the page), or NULL with *cause set: the exception, or -1 when
 * the page is not RAM (e.g. MMIO). PMP is checked for the SIZE bytes at va. */
uint8_t *mmu_translate_ram(struct hart *h, uint64_t va, enum access_type t, unsigned size, int *cause);
/* Translates va for access type t. Returns 0 and *pa, or the exception cause + 1. */
int mmu_translate(struct hart *h, uint64_t va, enum access_type t, uint64_t *pa);
/* Physical access (RAM or bus) used by the slow paths. */
int phys_load(struct hart *h, uint64_t pa, unsigned size, uint64_t *val);
int phys_store(struct hart *h, uint64_t pa, unsigned size, uint64_t val);

/* mstatus fields */
#define MSTATUS_SIE  (1ULL << 1)
#define MSTATUS_MIE  (1ULL << 3)
#define MSTATUS_SPIE (1ULL << 5)
#define MSTATUS_MPIE (1ULL << 7)
#define MSTATUS_SPP  (1ULL << 8)
#define MSTATUS_MPP  (3ULL << 11)
#define MSTATUS_FS   (3ULL << 13)
#define MSTATUS_MPRV (1ULL << 17)
#define MSTATUS_SUM  (1ULL << 18)
#define MSTATUS_MXR  (1ULL << 19)
#define MSTATUS_TVM  (1ULL << 20)
#define MSTATUS_TW   (1ULL << 21)
#define MSTATUS_TSR  (1ULL << 22)
#define MSTATUS_UXL  (3ULL << 32)
#define MSTATUS_SXL  (3ULL << 34)
#define MSTATUS_SD   (1ULL << 63)

#define MENVCFG_STCE (1ULL << 63)

#endif
