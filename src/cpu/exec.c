/* The interpreter's inner loop: fetch (with a per-page fast path), decode and execute
 * RV64IMAFDC, Zicsr, Zifencei, Zba/Zbb/Zbs and the privileged instructions.
 * Hot path: dense on purpose, one function, so the compiler keeps state in registers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "corral/guard_map.h"
#include "cpu/exec.h"
#include "cpu/fpu.h"

#define RD    ((insn >> 7) & 31)
#define RS1   ((insn >> 15) & 31)
#define RS2   ((insn >> 20) & 31)
#define F3    ((insn >> 12) & 7)
#define F7    (insn >> 25)
#define IMM_I ((int64_t)(int32_t)insn >> 20)
#define IMM_S ((int64_t)((uint64_t)((int64_t)(int32_t)insn >> 25) << 5) | ((insn >> 7) & 31))
#define IMM_U ((int64_t)(int32_t)(insn & 0xfffff000))

static inline int64_t imm_b(uint32_t insn)
{
    return (int64_t)((uint64_t)((int64_t)(int32_t)insn >> 31) << 12) | ((insn >> 7 & 1) << 11) |
           ((insn >> 25 & 0x3f) << 5) | ((insn >> 8 & 0xf) << 1);
}

static inline int64_t imm_j(uint32_t insn)
{
    return (int64_t)((uint64_t)((int64_t)(int32_t)insn >> 31) << 20) | (insn & 0xff000) | ((insn >> 20 & 1) << 11) |
           ((insn >> 21 & 0x3ff) << 1);
}

/* The data TLB set for access type t at the current privilege, or NULL when every access
 * must take the slow path (M-mode with MPRV). */
static inline struct tlb_entry *dtlb_set(struct hart *h, enum access_type t)
{
    if (h->priv == PRV_M)
        return (h->mstatus & MSTATUS_MPRV) ? NULL : h->tlb[TLB_M][t];
    if (h->priv == PRV_S)
        return h->tlb[(h->mstatus & MSTATUS_SUM) ? TLB_S_SUM : TLB_S][t];
    return h->tlb[TLB_U][t];
}

/* TLB hit for a data access that stays inside one page, or NULL (then take the slow path). */
static inline uint8_t *tlb_hit(struct hart *h, uint64_t va, unsigned size, enum access_type t)
{
    struct tlb_entry *set = dtlb_set(h, t);
    if (unlikely(!set))
        return NULL;
    struct tlb_entry *e = &set[(va >> 12) % TLB_SIZE];
    if (likely(e->tag == ((va & ~0xfffULL) | h->tlb_gen) && (va & 0xfff) + size <= 0x1000))
        return e->host + (va & 0xfff);
    return NULL;
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

/* Reads the instruction at offset off of a 4 KiB page of guest code: each halfword once
 * (another hart or a device may change it meanwhile; the length and the decode must come
 * from the same read), and never a byte past the page. Returns the length, 2 or 4, with
 * *raw (32-bit, or 16-bit in the low half); or 0 with the low half in *raw when a 32-bit
 * instruction starts in the page's last halfword and goes on in the next page. */
static inline unsigned code_parcel(const uint8_t *page, unsigned off, uint32_t *raw)
{
    uint16_t lo = __atomic_load_n((const uint16_t *)(page + off), __ATOMIC_RELAXED);
    *raw = lo;
    if ((lo & 3) != 3)
        return 2;
    if (off > 0xffc)
        return 0;
    uint16_t hi = __atomic_load_n((const uint16_t *)(page + off + 2), __ATOMIC_RELAXED);
    *raw = lo | (uint32_t)hi << 16;
    return 4;
}

/* Fetches the instruction at pc. Returns 0 with *insn (32-bit, or 16-bit in the low half),
 * or a cause + 1 with h->fault_tval set. */
static inline int fetch(struct hart *h, uint32_t *insn)
{
    uint64_t pc = h->pc;
    unsigned off = pc & 0xfff;
    int cause = 0;
    if (unlikely((pc & ~0xfffULL) != h->fetch_vpage)) {
        uint8_t *p = mmu_translate_ram(h, pc, ACC_EXEC, 2, &cause);
        if (!p) {
            h->fault_tval = pc;
            return (cause < 0 ? EXC_INSN_ACCESS : cause) + 1;
        }
        h->fetch_vpage = pc & ~0xfffULL;
        h->fetch_host = p - off;
    }
    if (likely(code_parcel(h->fetch_host, off, insn)))
        return 0;
    /* the high half is the first halfword of the next page */
    uint64_t pc2 = pc + 2;
    uint8_t *q = mmu_translate_ram(h, pc2, ACC_EXEC, 2, &cause);
    if (!q) {
        h->fault_tval = pc2;
        return (cause < 0 ? EXC_INSN_ACCESS : cause) + 1;
    }
    *insn |= (uint32_t)__atomic_load_n((const uint16_t *)q, __ATOMIC_RELAXED) << 16;
    return 0;
}

static uint64_t mulh(int64_t a, int64_t b) { return (uint64_t)(((__int128)a * b) >> 64); }
static uint64_t mulhu(uint64_t a, uint64_t b) { return (uint64_t)(((unsigned __int128)a * b) >> 64); }
static uint64_t mulhsu(int64_t a, uint64_t b) { return (uint64_t)(((__int128)a * (unsigned __int128)b) >> 64); }

/* M extension divide rules (ISA spec 13.2): x/0 = -1, x%0 = x, overflow gives the dividend. */
static int64_t div_s(int64_t a, int64_t b)
{
    if (b == 0) return -1;
    if (a == INT64_MIN && b == -1) return a;
    return a / b;
}
static int64_t rem_s(int64_t a, int64_t b)
{
    if (b == 0) return a;
    if (a == INT64_MIN && b == -1) return 0;
    return a % b;
}
static int32_t div_w(int32_t a, int32_t b)
{
    if (b == 0) return -1;
    if (a == INT32_MIN && b == -1) return a;
    return a / b;
}
static int32_t rem_w(int32_t a, int32_t b)
{
    if (b == 0) return a;
    if (a == INT32_MIN && b == -1) return 0;
    return a % b;
}

static uint64_t op_reg(uint32_t insn, uint64_t a, uint64_t b, bool *ok)
{
    unsigned sh = b & 63;
    switch ((F7 << 3) | F3) {
    case 0x000: return a + b;
    case 0x100: return a - b;
    case 0x001: return a << sh;
    case 0x002: return (int64_t)a < (int64_t)b;
    case 0x003: return a < b;
    case 0x004: return a ^ b;
    case 0x005: return a >> sh;
    case 0x105: return (uint64_t)((int64_t)a >> sh);
    case 0x006: return a | b;
    case 0x007: return a & b;
    case 0x008: return a * b;
    case 0x009: return mulh((int64_t)a, (int64_t)b);
    case 0x00a: return mulhsu((int64_t)a, b);
    case 0x00b: return mulhu(a, b);
    case 0x00c: return (uint64_t)div_s((int64_t)a, (int64_t)b);
    case 0x00d: return b ? a / b : ~0ULL;
    case 0x00e: return (uint64_t)rem_s((int64_t)a, (int64_t)b);
    case 0x00f: return b ? a % b : a;
    /* Zbb */
    case 0x107: return a & ~b;
    case 0x106: return a | ~b;
    case 0x104: return ~(a ^ b);
    case 0x02c: return (int64_t)a < (int64_t)b ? a : b;
    case 0x02d: return a < b ? a : b;
    case 0x02e: return (int64_t)a > (int64_t)b ? a : b;
    case 0x02f: return a > b ? a : b;
    case 0x181: return sh ? (a << sh) | (a >> (64 - sh)) : a;
    case 0x185: return sh ? (a >> sh) | (a << (64 - sh)) : a;
    /* Zba */
    case 0x082: return (a << 1) + b;
    case 0x084: return (a << 2) + b;
    case 0x086: return (a << 3) + b;
    /* Zbs */
    case 0x121: return a & ~(1ULL << sh);
    case 0x125: return (a >> sh) & 1;
    case 0x1a1: return a ^ (1ULL << sh);
    case 0x0a1: return a | (1ULL << sh);
    default: *ok = false; return 0;
    }
}

static uint64_t op_reg32(uint32_t insn, uint64_t a, uint64_t b, bool *ok)
{
    uint32_t wa = (uint32_t)a, wb = (uint32_t)b;
    unsigned sh = b & 31;
    switch ((F7 << 3) | F3) {
    case 0x000: return (uint64_t)(int32_t)(wa + wb);
    case 0x100: return (uint64_t)(int32_t)(wa - wb);
    case 0x001: return (uint64_t)(int32_t)(wa << sh);
    case 0x005: return (uint64_t)(int32_t)(wa >> sh);
    case 0x105: return (uint64_t)((int32_t)wa >> sh);
    case 0x008: return (uint64_t)(int32_t)(wa * wb);
    case 0x00c: return (uint64_t)(int64_t)div_w((int32_t)wa, (int32_t)wb);
    case 0x00d: return (uint64_t)(int32_t)(wb ? wa / wb : ~0u);
    case 0x00e: return (uint64_t)(int64_t)rem_w((int32_t)wa, (int32_t)wb);
    case 0x00f: return (uint64_t)(int32_t)(wb ? wa % wb : wa);
    case 0x020: return (uint64_t)wa + b;                  /* add.uw */
    case 0x024: if (RS2 == 0) return (uint16_t)a;          /* zext.h */
        break;
    case 0x082: return ((uint64_t)wa << 1) + b;           /* sh1add.uw */
    case 0x084: return ((uint64_t)wa << 2) + b;
    case 0x086: return ((uint64_t)wa << 3) + b;
    case 0x181: return (uint64_t)(int32_t)(sh ? (wa << sh) | (wa >> (32 - sh)) : wa); /* rolw */
    case 0x185: return (uint64_t)(int32_t)(sh ? (wa >> sh) | (wa << (32 - sh)) : wa); /* rorw */
    default: break;
    }
    *ok = false;
    return 0;
}

static uint64_t orc_b(uint64_t a)
{
    /* each byte becomes 0xff if non-zero: set the high bit of non-zero bytes, then spread */
    uint64_t hi = ((a & 0x7f7f7f7f7f7f7f7fULL) + 0x7f7f7f7f7f7f7f7fULL) | a;
    hi &= 0x8080808080808080ULL;
    return (hi >> 7) * 0xff;
}

static uint64_t op_imm(uint32_t insn, uint64_t a, bool *ok)
{
    int64_t imm = IMM_I;
    unsigned sh = (insn >> 20) & 63;
    unsigned f6 = insn >> 26;
    unsigned imm12 = (insn >> 20) & 0xfff;
    switch (F3) {
    case 0: return a + (uint64_t)imm;
    case 2: return (int64_t)a < imm;
    case 3: return a < (uint64_t)imm;
    case 4: return a ^ (uint64_t)imm;
    case 6: return a | (uint64_t)imm;
    case 7: return a & (uint64_t)imm;
    case 1:
        if (f6 == 0x00) return a << sh;
        if (f6 == 0x12) return a & ~(1ULL << sh);   /* bclri */
        if (f6 == 0x1a) return a ^ (1ULL << sh);    /* binvi */
        if (f6 == 0x0a) return a | (1ULL << sh);    /* bseti */
        switch (imm12) {
        case 0x600: return a ? (uint64_t)__builtin_clzll(a) : 64;
        case 0x601: return a ? (uint64_t)__builtin_ctzll(a) : 64;
        case 0x602: return (uint64_t)__builtin_popcountll(a);
        case 0x604: return (uint64_t)(int64_t)(int8_t)a;
        case 0x605: return (uint64_t)(int64_t)(int16_t)a;
        default: break;
        }
        break;
    case 5:
        if (f6 == 0x00) return a >> sh;
        if (f6 == 0x10) return (uint64_t)((int64_t)a >> sh);
        if (f6 == 0x12) return (a >> sh) & 1;      /* bexti */
        if (f6 == 0x18) return sh ? (a >> sh) | (a << (64 - sh)) : a; /* rori */
        if (imm12 == 0x287) return orc_b(a);
        if (imm12 == 0x6b8) return __builtin_bswap64(a);
        break;
    }
    *ok = false;
    return 0;
}

static uint64_t op_imm32(uint32_t insn, uint64_t a, bool *ok)
{
    uint32_t wa = (uint32_t)a;
    unsigned sh = (insn >> 20) & 31;
    switch (F3) {
    case 0: return (uint64_t)(int32_t)(wa + (uint32_t)IMM_I);
    case 1:
        if (F7 == 0) return (uint64_t)(int32_t)(wa << sh);
        if ((insn >> 26) == 0x02) return (uint64_t)wa << ((insn >> 20) & 63); /* slli.uw */
        if (F7 == 0x30) {
            switch (RS2) {
            case 0: return wa ? (uint64_t)__builtin_clz(wa) : 32;
            case 1: return wa ? (uint64_t)__builtin_ctz(wa) : 32;
            case 2: return (uint64_t)__builtin_popcount(wa);
            default: break;
            }
        }
        break;
    case 5:
        if (F7 == 0) return (uint64_t)(int32_t)(wa >> sh);
        if (F7 == 0x20) return (uint64_t)((int32_t)wa >> sh);
        if (F7 == 0x30) return (uint64_t)(int32_t)(sh ? (wa >> sh) | (wa << (32 - sh)) : wa);
        break;
    default:
        break;
    }
    *ok = false;
    return 0;
}

static bool branch_taken(unsigned f3, uint64_t a, uint64_t b, bool *ok)
{
    switch (f3) {
    case 0: return a == b;
    case 1: return a != b;
    case 4: return (int64_t)a < (int64_t)b;
    case 5: return (int64_t)a >= (int64_t)b;
    case 6: return a < b;
    case 7: return a >= b;
    default: *ok = false; return false;
    }
}

static uint64_t amo_compute(unsigned f5, uint64_t old, uint64_t b, bool word)
{
    if (word) {
        old = (uint64_t)(int32_t)old;
        b = (uint64_t)(int32_t)b;
    }
    switch (f5) {
    case 0x01: return b;
    case 0x00: return old + b;
    case 0x04: return old ^ b;
    case 0x0c: return old & b;
    case 0x08: return old | b;
    case 0x10: return (int64_t)old < (int64_t)b ? old : b;
    case 0x14: return (int64_t)old > (int64_t)b ? old : b;
    case 0x18: return (word ? (uint32_t)old < (uint32_t)b : old < b) ? old : b;
    default:   return (word ? (uint32_t)old > (uint32_t)b : old > b) ? old : b;
    }
}

/* LR/SC and AMOs. Atomic on host memory so that harts on other threads see them whole.
 * Returns 0 or cause + 1 (h->fault_tval set). */
static int exec_amo(struct hart *h, uint32_t insn, uint64_t *rd_val, bool *ok)
{
    unsigned f5 = insn >> 27;
    bool word = F3 == 2;
    if (F3 != 2 && F3 != 3) {
        *ok = false;
        return 0;
    }
    unsigned size = word ? 4 : 8;
    uint64_t va = h->x[RS1];
    if (va & (size - 1)) {
        h->fault_tval = va;
        return (f5 == 0x02 ? EXC_LOAD_MISALIGNED : EXC_STORE_MISALIGNED) + 1;
    }
    int cause = 0;
    /* a TLB hit first (aligned, so inside one page), else the walk */
    if (f5 == 0x02) { /* lr */
        uint8_t *p = tlb_hit(h, va, size, ACC_READ);
        if (!p)
            p = mmu_translate_ram(h, va, ACC_READ, size, &cause);
        if (!p) {
            h->fault_tval = va;
            return (cause < 0 ? EXC_LOAD_ACCESS : cause) + 1;
        }
        uint64_t v = word ? (uint64_t)(int32_t)__atomic_load_n((uint32_t *)p, __ATOMIC_ACQUIRE)
                          : __atomic_load_n((uint64_t *)p, __ATOMIC_ACQUIRE);
        h->resv_valid = true;
        h->resv_addr = va;
        h->resv_val = v;
        *rd_val = v;
        return 0;
    }
    uint8_t *p = tlb_hit(h, va, size, ACC_WRITE);
    if (!p)
        p = mmu_translate_ram(h, va, ACC_WRITE, size, &cause);
    if (!p) {
        h->fault_tval = va;
        return (cause < 0 ? EXC_STORE_ACCESS : cause) + 1;
    }
    code_store(h, h->bus->ram->base + (uint64_t)(p - h->bus->ram->host), size);
    uint64_t b = h->x[RS2];
    if (f5 == 0x03) { /* sc: succeeds if the reserved value is still there */
        bool success = false;
        if (h->resv_valid && h->resv_addr == va) {
            if (word) {
                uint32_t expect = (uint32_t)h->resv_val;
                success = __atomic_compare_exchange_n((uint32_t *)p, &expect, (uint32_t)b, false,
                                                      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
            } else {
                uint64_t expect = h->resv_val;
                success = __atomic_compare_exchange_n((uint64_t *)p, &expect, b, false,
                                                      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
            }
        }
        h->resv_valid = false;
        *rd_val = success ? 0 : 1;
        return 0;
    }
    if (word) {
        uint32_t *q = (uint32_t *)p, old = __atomic_load_n(q, __ATOMIC_RELAXED);
        while (!__atomic_compare_exchange_n(q, &old, (uint32_t)amo_compute(f5, old, b, true), false,
                                            __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            ;
        *rd_val = (uint64_t)(int32_t)old;
    } else {
        uint64_t *q = (uint64_t *)p, old = __atomic_load_n(q, __ATOMIC_RELAXED);
        while (!__atomic_compare_exchange_n(q, &old, amo_compute(f5, old, b, false), false,
                                            __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            ;
        *rd_val = old;
    }
    return 0;
}

static int do_csr(struct hart *h, uint32_t insn, uint64_t *rd_val)
{
    unsigned csr = insn >> 20;
    unsigned f3 = F3;
    uint64_t src = (f3 & 4) ? RS1 : h->x[RS1];
    bool writes = (f3 & 3) == 1 || RS1 != 0;
    bool reads = (f3 & 3) != 1 || RD != 0;
    uint64_t old = 0;
    if (reads && csr_read(h, csr, &old))
        return -1;
    if (writes && !reads) {
        /* csrrw with rd = x0 still needs the access check a read would do */
        uint64_t dummy;
        if (((csr >> 8) & 3) > (unsigned)h->priv || csr_read(h, csr, &dummy))
            return -1;
    }
    if (writes) {
        uint64_t nv = (f3 & 3) == 1 ? src : (f3 & 3) == 2 ? (old | src) : (old & ~src);
        if (csr_write(h, csr, nv))
            return -1;
    }
    *rd_val = old;
    return 0;
}

/* mret/sret (priv spec 3.3.2). Returns false if illegal here. */
static bool do_xret(struct hart *h, bool machine)
{
    uint64_t s = h->mstatus;
    if (machine) {
        if (h->priv != PRV_M)
            return false;
        int mpp = (int)((s & MSTATUS_MPP) >> 11);
        s = (s & ~MSTATUS_MIE) | ((s & MSTATUS_MPIE) ? MSTATUS_MIE : 0);
        s |= MSTATUS_MPIE;
        s &= ~MSTATUS_MPP;
        if (mpp != PRV_M)
            s &= ~MSTATUS_MPRV;
        h->mstatus = s;
        h->priv = mpp;
        h->pc = h->mepc;
    } else {
        if (h->priv < PRV_S || (h->priv == PRV_S && (s & MSTATUS_TSR)))
            return false;
        int spp = (s & MSTATUS_SPP) ? PRV_S : PRV_U;
        s = (s & ~MSTATUS_SIE) | ((s & MSTATUS_SPIE) ? MSTATUS_SIE : 0);
        s |= MSTATUS_SPIE;
        s &= ~(MSTATUS_SPP | MSTATUS_MPRV);
        h->mstatus = s;
        h->priv = spp;
        h->pc = h->sepc;
    }
    h->fetch_vpage = ~0ULL;
    return true;
}

enum sys_result { SYS_NEXT, SYS_JUMPED, SYS_ILLEGAL, SYS_TRAPPED };

static enum sys_result exec_system(struct hart *h, uint32_t insn, unsigned len)
{
    if (F3 != 0) {
        uint64_t v;
        if (do_csr(h, insn, &v))
            return SYS_ILLEGAL;
        if (RD)
            h->x[RD] = v;
        return SYS_NEXT;
    }
    if (insn == 0x00000073) { /* ecall */
        if (h->priv == PRV_S && h->sbi_builtin && h->bus->sbi_call) {
            h->bus->sbi_call(h->bus->ctx, h);
            return SYS_NEXT;
        }
        hart_take_trap(h, EXC_ECALL_U + (h->priv == PRV_M ? 3 : h->priv), 0, false);
        return SYS_TRAPPED;
    }
    if (insn == 0x00100073) {
        hart_take_trap(h, EXC_BREAKPOINT, h->pc, false);
        return SYS_TRAPPED;
    }
    if (insn == 0x30200073)
        return do_xret(h, true) ? SYS_JUMPED : SYS_ILLEGAL;
    if (insn == 0x10200073)
        return do_xret(h, false) ? SYS_JUMPED : SYS_ILLEGAL;
    if (insn == 0x10500073) { /* wfi: priv spec 3.3.3 */
        if (h->priv == PRV_U || (h->priv == PRV_S && (h->mstatus & MSTATUS_TW)))
            return SYS_ILLEGAL;
        h->pc += len;
        h->wfi_pending = true;
        return SYS_JUMPED;
    }
    if (F7 == 0x09 && RD == 0) { /* sfence.vma */
        if (h->priv == PRV_U || (h->priv == PRV_S && (h->mstatus & MSTATUS_TVM)))
            return SYS_ILLEGAL;
        if (RS1)
            hart_flush_tlb_page(h, h->x[RS1]);
        else
            hart_flush_tlb(h);
        return SYS_NEXT;
    }
    return SYS_ILLEGAL;
}

static inline bool fp_enabled(const struct hart *h) { return (h->mstatus & MSTATUS_FS) != 0; }

/* A fence that orders earlier stores before later loads: the one ordering an x86-64 host
 * does not give by itself (stores wait in its store buffer), so it needs a full barrier
 * for the other harts' sake. fence.tso does not order stores before loads. */
static inline bool fence_orders_store_load(uint32_t insn)
{
    unsigned fm = insn >> 28, pred = (insn >> 24) & 15, succ = (insn >> 20) & 15;
    return fm != 8 && (pred & 5) && (succ & 10); /* pred has w or o, succ has r or i */
}

/* Every 16-bit encoding expanded once: a 256 KiB table turns the C extension's decode
 * into one load on the hot path (about half of a Linux guest's instructions are compressed). */
static uint32_t rvc_table[65536];
static pthread_once_t rvc_once = PTHREAD_ONCE_INIT;

static void rvc_table_init(void)
{
    for (uint32_t c = 0; c < 65536; c++)
        rvc_table[c] = (c & 3) == 3 ? 0 : rvc_expand((uint16_t)c);
}

/* Executes one fetched instruction (raw: 32-bit, or 16-bit in the low half) at h->pc:
 * the general path, for everything the fast loop below does not handle itself.
 * Returns true when the block must end (CSR write, xRET, WFI, illegal instruction). */
static bool exec_one(struct hart *h, uint32_t raw)
{
    {
        uint32_t insn = raw;
        unsigned len = 4;
        if ((insn & 3) != 3) {
            len = 2;
            insn = rvc_table[insn];
            if (!insn)
                goto illegal;
        }
        uint64_t *x = h->x;
        uint64_t pc = h->pc;
        uint64_t v = 0;
        bool ok = true;
        int r;
        switch (insn & 0x7f) {
        case 0x37: v = (uint64_t)IMM_U; break;                  /* lui */
        case 0x17: v = pc + (uint64_t)IMM_U; break;             /* auipc */
        case 0x6f:                                              /* jal */
            if (RD) x[RD] = pc + len;
            h->pc = pc + (uint64_t)imm_j(insn);
            return false;
        case 0x67: {                                            /* jalr */
            if (F3) goto illegal;
            uint64_t t = (x[RS1] + (uint64_t)IMM_I) & ~1ULL;
            if (RD) x[RD] = pc + len;
            h->pc = t;
            return false;
        }
        case 0x63:                                              /* branches */
            if (branch_taken(F3, x[RS1], x[RS2], &ok)) {
                h->pc = pc + (uint64_t)imm_b(insn);
                return false;
            }
            if (!ok) goto illegal;
            h->pc = pc + len;
            return false;
        case 0x03: {                                            /* loads */
            static const unsigned sizes[8] = { 1, 2, 4, 8, 1, 2, 4, 0 };
            unsigned sz = sizes[F3];
            if (!sz) goto illegal;
            r = load(h, x[RS1] + (uint64_t)IMM_I, sz, &v);
            if (unlikely(r)) goto mem_fault_r;
            switch (F3) {
            case 0: v = (uint64_t)(int8_t)v; break;
            case 1: v = (uint64_t)(int16_t)v; break;
            case 2: v = (uint64_t)(int32_t)v; break;
            default: break;
            }
            break;
        }
        case 0x23: {                                            /* stores */
            if (F3 > 3) goto illegal;
            r = store(h, x[RS1] + (uint64_t)IMM_S, 1u << F3, x[RS2]);
            if (unlikely(r)) goto mem_fault_r;
            h->pc = pc + len;
            return false;
        mem_fault_r:
            hart_take_trap(h, (uint64_t)(r - 1), h->fault_tval, false);
            return false;
        }
        case 0x13: v = op_imm(insn, x[RS1], &ok); if (!ok) goto illegal; break;
        case 0x1b: v = op_imm32(insn, x[RS1], &ok); if (!ok) goto illegal; break;
        case 0x33: v = op_reg(insn, x[RS1], x[RS2], &ok); if (!ok) goto illegal; break;
        case 0x3b: v = op_reg32(insn, x[RS1], x[RS2], &ok); if (!ok) goto illegal; break;
        case 0x0f:                                              /* fence, fence.i */
            if (F3 == 1)
                hart_fence_i(h);
            else if (F3 == 0 && fence_orders_store_load(insn))
                __atomic_thread_fence(__ATOMIC_SEQ_CST);
            else if (F3 != 0)
                goto illegal;
            h->pc = pc + len;
            return false;
        case 0x2f: {
            r = exec_amo(h, insn, &v, &ok);
            if (!ok) goto illegal;
            if (r) {
                hart_take_trap(h, (uint64_t)(r - 1), h->fault_tval, false);
                return false;
            }
            break;
        }
        case 0x73: {
            enum sys_result sr = exec_system(h, insn, len);
            if (sr == SYS_ILLEGAL) goto illegal;
            if (sr == SYS_NEXT) {
                h->pc = pc + len;
                if (F3 == 0 && insn != 0x00000073)
                    return false; /* sfence.vma: interrupt state unchanged */
            }
            return true;  /* CSR write, xRET, trap, WFI: let the run loop look at interrupts */
        }
        case 0x07: case 0x27: {                                 /* FP loads and stores */
            if (!fp_enabled(h) || (F3 != 2 && F3 != 3)) goto illegal;
            unsigned sz = F3 == 2 ? 4 : 8;
            if ((insn & 0x7f) == 0x07) {
                r = load(h, x[RS1] + (uint64_t)IMM_I, sz, &v);
                if (unlikely(r)) goto mem_fault_f;
                h->f[RD] = sz == 4 ? (v | 0xffffffff00000000ULL) : v;
                h->mstatus |= MSTATUS_FS;
            } else {
                r = store(h, x[RS1] + (uint64_t)IMM_S, sz, h->f[RS2]);
                if (unlikely(r)) goto mem_fault_f;
            }
            h->pc = pc + len;
            return false;
        mem_fault_f:
            hart_take_trap(h, (uint64_t)(r - 1), h->fault_tval, false);
            return false;
        }
        case 0x53: case 0x43: case 0x47: case 0x4b: case 0x4f:
            if (!fp_enabled(h) || fpu_execute(insn, x, h->f, &h->fcsr)) goto illegal;
            h->mstatus |= MSTATUS_FS;
            x[0] = 0;
            h->pc = pc + len;
            return false;
        default:
            goto illegal;
        }
        if (RD)
            x[RD] = v;
        h->pc = pc + len;
        return false;
    illegal:
        hart_take_trap(h, EXC_ILLEGAL, len == 2 ? (raw & 0xffff) : raw, false);
        return true;
    }
}

/* ---- the fast loop ----
 * Decoded instructions live in pages that mirror guest physical pages: one entry per
 * 2-byte slot, decoded on first execution. The loop finds the page once per change of
 * virtual page and then runs straight from the entries, with no fetch, no TLB lookup and
 * no re-decode per instruction.
 * Keeping the pages right: every writable TLB entry of a page that has a decoded page
 * carries TLB_CODE (set when the entry is filled, or when the page gets its decoded page),
 * so any store to it from this hart takes the slow path, which drops the entries it
 * overwrites (code_store). Other harts' stores and device DMA are seen after a fence.i on
 * this hart or a remote fence (hart_fence_i, hart_flush_code), which is what the ISA asks
 * software to do (Zifencei); a page then comes back to life only if its bytes are still
 * those its entries were made from.
 * Each handler ends in its own indirect jump (threaded code), which the host's branch
 * predictor handles far better than one central switch. Rare instructions go to exec_one. */

enum fast_op {
    F_DECODE = 0, F_GENERIC, F_CROSS, F_NOP, F_FENCE, F_LUI, F_AUIPC, F_JAL, F_JALR,
    F_BEQ, F_BNE, F_BLT, F_BGE, F_BLTU, F_BGEU,
    F_LB, F_LH, F_LW, F_LD, F_LBU, F_LHU, F_LWU, F_SB, F_SH, F_SW, F_SD,
    F_ADDI, F_SLTI, F_SLTIU, F_XORI, F_ORI, F_ANDI, F_SLLI, F_SRLI, F_SRAI,
    F_ADD, F_SUB, F_SLL, F_SLT, F_SLTU, F_XOR, F_SRL, F_SRA, F_OR, F_AND,
    F_ADDIW, F_SLLIW, F_SRLIW, F_SRAIW, F_ADDW, F_SUBW, F_MUL, F_ADDUW, F_SH1ADD, F_SH2ADD, F_SH3ADD,
    F_MULH, F_MULHU, F_DIV, F_DIVU, F_REM, F_REMU, F_MULW, F_DIVUW, F_REMUW, F_ORCB, F_REV8,
    F_CLZ, F_CTZ, F_CPOP, F_ANDN, F_MINU, F_MAXU, F_JIT,
    F_COUNT
};

struct dentry {
    const void *handler;  /* the fast loop's label for this instruction */
    int32_t imm;
    uint8_t rd, rs1, rs2, len;
};

/* The fast loop's labels by fast_op, published by its first run (decode_entry needs them). */
static const void *const *fast_labels;

/* Resets entries to "not decoded yet". */
static void dentries_clear(struct dentry *d, unsigned count)
{
    const void *decode = fast_labels[F_DECODE];
    for (unsigned i = 0; i < count; i++)
        d[i].handler = decode;
}

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

#define JIT_SIZE (16u << 20)  /* host code for translated runs, per hart */
#define JIT_RUN_MAX 32        /* instructions in one run (so at most 128 bytes of guest code) */
#define JIT_INSN_MAX 160      /* host bytes for one instruction, with its exit stub */
#define JIT_START 64          /* the entry trampoline, then runs */
#define JIT_XBIAS 128         /* translated code addresses x[] from (uint8_t *)x + JIT_XBIAS */

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
    uint8_t *jit;         /* JIT_SIZE bytes, read and execute; NULL if unavailable */
    uint8_t *jit_w;       /* the same bytes, read and write: the emitter's view (W^X) */
    uint32_t jit_used;
    bool jit_full;        /* out of room: start afresh at the next flush */
};

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
    if (h->code && h->code->jit_full) {
        for (unsigned i = 0; i < CODE_SLOTS; i++)
            if (h->code->slot[i])
                h->code->slot[i]->snap_ok = false;
        h->code->jit_used = JIT_START;
        h->code->jit_full = false;
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

#define CODE_STEP (-1) /* code_lookup: the page is only partly executable (PMP), step through it */

/* The live decoded page holding pc, or NULL with *cause set (h->fault_tval = pc), or with
 * *cause CODE_STEP. */
static struct code_page *code_lookup(struct hart *h, uint64_t pc, int *cause)
{
    struct tlb_entry *e = &h->tlb[h->priv == PRV_M ? TLB_M : h->priv][ACC_EXEC][(pc >> 12) % TLB_SIZE];
    uint8_t *host;
    if (likely(e->tag == ((pc & ~0xfffULL) | h->tlb_gen))) {
        host = e->host;
    } else {
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
        if (e->tag != ((pc & ~0xfffULL) | h->tlb_gen)) {
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
    guard_unmap(h->code->jit, JIT_SIZE);
    guard_unmap(h->code->jit_w, JIT_SIZE);
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
    if (cc->jit_w) {
        madvise(cc->jit_w + 4096, JIT_SIZE - 4096, MADV_REMOVE);
        cc->jit_used = JIT_START;
        cc->jit_full = false;
    }
    hart_flush_code(h);
    hart_flush_tlb(h); /* no write entry keeps a mark for a decoded page that is gone */
}

static uint8_t decode_op(uint32_t insn, int32_t *imm)
{
    unsigned f3 = F3, f7 = F7;
    *imm = (int32_t)IMM_I;
    switch (insn & 0x7f) {
    case 0x37: *imm = (int32_t)IMM_U; return F_LUI;
    case 0x17: *imm = (int32_t)IMM_U; return F_AUIPC;
    case 0x6f: *imm = (int32_t)imm_j(insn); return F_JAL;
    case 0x67: return f3 == 0 ? F_JALR : F_GENERIC;
    case 0x63: {
        static const uint8_t ops[8] = { F_BEQ, F_BNE, F_GENERIC, F_GENERIC, F_BLT, F_BGE, F_BLTU, F_BGEU };
        *imm = (int32_t)imm_b(insn);
        return ops[f3];
    }
    case 0x03: {
        static const uint8_t ops[8] = { F_LB, F_LH, F_LW, F_LD, F_LBU, F_LHU, F_LWU, F_GENERIC };
        return RD ? ops[f3] : F_GENERIC;
    }
    case 0x23: {
        static const uint8_t ops[8] = { F_SB, F_SH, F_SW, F_SD, F_GENERIC, F_GENERIC, F_GENERIC, F_GENERIC };
        *imm = (int32_t)IMM_S;
        return ops[f3];
    }
    case 0x13:
        switch (f3) {
        case 0: return F_ADDI;
        case 2: return F_SLTI;
        case 3: return F_SLTIU;
        case 4: return F_XORI;
        case 6: return F_ORI;
        case 7: return F_ANDI;
        case 1:
            *imm = (insn >> 20) & 63;
            if ((insn >> 26) == 0) return F_SLLI;
            switch ((insn >> 20) & 0xfff) {
            case 0x600: return F_CLZ;
            case 0x601: return F_CTZ;
            case 0x602: return F_CPOP;
            default: return F_GENERIC;
            }
        default:
            *imm = (insn >> 20) & 63;
            if ((insn >> 20 & 0xfff) == 0x287) return F_ORCB;
            if ((insn >> 20 & 0xfff) == 0x6b8) return F_REV8;
            return (insn >> 26) == 0 ? F_SRLI : (insn >> 26) == 0x10 ? F_SRAI : F_GENERIC;
        }
    case 0x1b:
        if (f3 == 0) return F_ADDIW;
        *imm = (insn >> 20) & 31;
        if (f3 == 1 && f7 == 0) return F_SLLIW;
        if (f3 == 5 && f7 == 0) return F_SRLIW;
        if (f3 == 5 && f7 == 0x20) return F_SRAIW;
        return F_GENERIC;
    case 0x33:
        switch ((f7 << 3) | f3) {
        case 0x000: return F_ADD;
        case 0x100: return F_SUB;
        case 0x001: return F_SLL;
        case 0x002: return F_SLT;
        case 0x003: return F_SLTU;
        case 0x004: return F_XOR;
        case 0x005: return F_SRL;
        case 0x105: return F_SRA;
        case 0x006: return F_OR;
        case 0x007: return F_AND;
        case 0x008: return F_MUL;
        case 0x009: return F_MULH;
        case 0x00b: return F_MULHU;
        case 0x00c: return F_DIV;
        case 0x00d: return F_DIVU;
        case 0x00e: return F_REM;
        case 0x00f: return F_REMU;
        case 0x107: return F_ANDN;
        case 0x02d: return F_MINU;
        case 0x02f: return F_MAXU;
        case 0x082: return F_SH1ADD;
        case 0x084: return F_SH2ADD;
        case 0x086: return F_SH3ADD;
        default: return F_GENERIC;
        }
    case 0x0f:
        /* fence: a no-op for this hart, but stores before loads need a barrier (SMP) */
        return f3 == 0 ? (fence_orders_store_load(insn) ? F_FENCE : F_NOP) : F_GENERIC;
    case 0x3b:
        switch ((f7 << 3) | f3) {
        case 0x000: return F_ADDW;
        case 0x100: return F_SUBW;
        case 0x020: return F_ADDUW;
        case 0x008: return F_MULW;
        case 0x00d: return F_DIVUW;
        case 0x00f: return F_REMUW;
        default: return F_GENERIC;
        }
    default:
        return F_GENERIC;
    }
}

/* ALU results written to x0 have no effect: such instructions become no-ops. */
static bool op_writes_rd_only(uint8_t op)
{
    return op == F_LUI || op == F_AUIPC || (op >= F_ADDI && op < F_COUNT);
}

/* Fills e's operands and length; returns its fast_op. */
static uint8_t decode_fields(struct dentry *e, uint32_t raw)
{
    uint32_t insn = raw;
    e->len = 4;
    if ((raw & 3) != 3) {
        e->len = 2;
        insn = rvc_table[raw & 0xffff];
    }
    int32_t imm = 0;
    uint8_t op = insn ? decode_op(insn, &imm) : F_GENERIC;
    if (op_writes_rd_only(op) && RD == 0)
        op = F_NOP;
    e->rd = RD;
    e->rs1 = RS1;
    e->rs2 = RS2;
    e->imm = imm;
    return op;
}

static void decode_entry(struct dentry *e, uint32_t raw)
{
    e->handler = fast_labels[decode_fields(e, raw)];
}

/* Records in the page's snapshot the bytes of the instruction raw, len bytes long
 * (code_parcel), decoded at off. */
static inline void code_snap(struct code_page *cp, unsigned off, uint32_t raw, unsigned len)
{
    if (unlikely(memcmp(cp->snap + off, &raw, len) != 0)) {
        /* changed by another hart or a device since: what was made from the old bytes
         * must go, or the page could come back to life with it */
        memcpy(cp->snap + off, &raw, len);
        code_clear_range(cp, off, len);
    }
}

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

/* ---- runs translated to x86-64 ----
 * A run is a straight line of ALU instructions, loads and stores, ended by at most one jump
 * or branch. The run's first entry becomes F_JIT; the interpreter is still the reference
 * for every instruction.
 * Host code is entered through a trampoline at the start of the code buffer, as
 * jit_entry(x + 16, pc of the run's first instruction, the run's code). rdi points into x[]
 * so that every guest register is at an 8-bit displacement; hart.jit follows x[]. Within a
 * run, guest registers live in host registers (rbx, rbp, r8-r10, r12-r15), loaded on first
 * use and written back at every way out of the run.
 * A run returns the next pc and 0, or the pc of a load or store the TLB could not serve and
 * 1 (everything before it is done). Every run subtracts the instructions it completed from
 * hart.jit.left. A run whose next pc is in the same page goes on to the run that starts
 * there, if there is one, without coming back (chaining), while left stays above zero. */
struct jit_ret { uint64_t pc, miss; };
typedef struct jit_ret (*jit_entry)(uint8_t *xb, uint64_t pc, const uint8_t *code);

#if defined(__x86_64__)
#define HAVE_JIT 1

struct jit_out { uint8_t *p; };

enum { RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7, R11 = 11 };
/* Offsets of hart.jit's fields from rdi. */
#define JX(f) (unsigned)(offsetof(struct hart, jit) - offsetof(struct hart, x) - JIT_XBIAS + offsetof(struct hart_jit, f))
_Static_assert(offsetof(struct hart, jit) == offsetof(struct hart, x) + sizeof(((struct hart *)0)->x),
               "hart.jit follows x[]");

/* The trampoline at the start of the code buffer (JIT_START bytes) saves the registers the
 * C ABI asks a callee to keep and jumps to the run (rdx); runs leave through JIT_EXIT. */
#define JIT_EXIT 16

static void jb(struct jit_out *j, unsigned n, const uint8_t *b) { memcpy(j->p, b, n); j->p += n; }
static void j32(struct jit_out *j, uint32_t v) { memcpy(j->p, &v, 4); j->p += 4; }

/* [REX] opcode modrm with reg and a register operand rm (mod = 11) */
static void jrr(struct jit_out *j, bool w, unsigned nopc, const uint8_t *opc, unsigned reg, unsigned rm)
{
    uint8_t rex = (uint8_t)(0x40 | (w ? 8 : 0) | (reg >= 8 ? 4 : 0) | (rm >= 8 ? 1 : 0));
    if (rex != 0x40) *j->p++ = rex;
    jb(j, nopc, opc);
    *j->p++ = (uint8_t)(0xc0 | (reg & 7) << 3 | (rm & 7));
}
static void jrr1(struct jit_out *j, uint8_t opc, unsigned reg, unsigned rm) { jrr(j, true, 1, &opc, reg, rm); }
/* [REX.W] opcode modrm with reg and [rdi + disp] */
static void jrm(struct jit_out *j, bool w, uint8_t opc, unsigned reg, int32_t disp)
{
    uint8_t rex = (uint8_t)(0x40 | (w ? 8 : 0) | (reg >= 8 ? 4 : 0));
    if (rex != 0x40) *j->p++ = rex;
    *j->p++ = opc;
    if (disp >= -128 && disp <= 127) {
        *j->p++ = (uint8_t)(0x47 | (reg & 7) << 3);
        *j->p++ = (uint8_t)disp;
    } else {
        *j->p++ = (uint8_t)(0x87 | (reg & 7) << 3);
        j32(j, (uint32_t)disp);
    }
}
static int32_t xdisp(unsigned xr) { return (int32_t)(xr * 8) - JIT_XBIAS; }
/* opc reg64, [rdi + hart.jit field] */
static void jctx_op(struct jit_out *j, uint8_t opc, unsigned reg, unsigned off) { jrm(j, true, opc, reg, (int32_t)off); }
/* lea reg, [rsi + disp]: the run's pc (rsi) plus an offset */
static void jlea_pc(struct jit_out *j, unsigned reg, int32_t disp)
{
    uint8_t b[3] = { (uint8_t)(0x48 | (reg >= 8 ? 4 : 0)), 0x8d, (uint8_t)(0x86 | (reg & 7) << 3) };
    jb(j, 3, b); j32(j, (uint32_t)disp);
}
/* op rax, imm32 (opc: 05 add, 25 and, 0d or, 35 xor, 3d cmp) */
static void jalu_imm(struct jit_out *j, uint8_t opc, int32_t imm) { uint8_t b[2] = { 0x48, opc }; jb(j, 2, b); j32(j, (uint32_t)imm); }
static void jshift_imm(struct jit_out *j, bool wide, uint8_t modrm, unsigned sh)
{
    if (wide) *j->p++ = 0x48;
    uint8_t b[3] = { 0xc1, modrm, (uint8_t)sh };
    jb(j, 3, b);
}
static void jsext32(struct jit_out *j) { static const uint8_t b[3] = { 0x48, 0x63, 0xc0 }; jb(j, 3, b); }
static void jsetcc(struct jit_out *j, uint8_t cc)
{
    uint8_t b[6] = { 0x0f, cc, 0xc0, 0x0f, 0xb6, 0xc0 }; /* setcc al; movzx eax, al */
    jb(j, 6, b);
}
/* sub qword [rdi + left], n */
static void jleft(struct jit_out *j, unsigned n)
{
    jrm(j, true, 0x83, 5, (int32_t)JX(left));
    *j->p++ = (uint8_t)n;
}
/* Leaves: rax = the pc already there, edx = miss, through the trampoline's exit. */
static void jret(struct jit_out *j, uint8_t *base, bool miss)
{
    if (miss) { *j->p++ = 0xba; j32(j, 1); }                    /* mov edx, 1 */
    else { *j->p++ = 0x31; *j->p++ = 0xd2; }                    /* xor edx, edx */
    *j->p++ = 0xe9;                                             /* jmp exit */
    j32(j, (uint32_t)(int32_t)(base + JIT_EXIT - (j->p + 4)));
}
/* A short forward jump (jcc rel8, or jmp with cc 0xeb), patched by jpatch8. */
static uint8_t *jfwd8(struct jit_out *j, uint8_t cc) { *j->p++ = cc; *j->p++ = 0; return j->p - 1; }
static void jpatch8(struct jit_out *j, uint8_t *at) { *at = (uint8_t)(j->p - (at + 1)); }

/* With CORRAL_PERF_MAP set, every run is listed in /tmp/perf-PID.map for perf(1), named by
 * the guest physical address it was made from. */
static FILE *perf_map;

static void perf_map_open(void)
{
    if (getenv("CORRAL_PERF_MAP")) {
        char path[64];
        snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
        perf_map = fopen(path, "w");
        if (perf_map)
            setvbuf(perf_map, NULL, _IOLBF, 0);
    }
}


static void jit_emit_trampoline(uint8_t *base)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, perf_map_open);
    static const uint8_t entry[] = {
        0x53, 0x55, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57, /* push rbx, rbp, r12-r15 */
        0xff, 0xe2,                                                 /* jmp rdx */
    };
    static const uint8_t exit[] = {
        0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d, 0x41, 0x5c, 0x5d, 0x5b, /* pop r15-r12, rbp, rbx */
        0xc3,
    };
    memcpy(base, entry, sizeof(entry));
    memcpy(base + JIT_EXIT, exit, sizeof(exit));
}

/* ---- guest registers in host registers, within one run ---- */
#define RA_N 9
static const uint8_t ra_pool[RA_N] = { RBX, RBP, 8, 9, 10, 12, 13, 14, 15 };
struct ra {
    int8_t slot_of[32];      /* -1, or the pool slot holding the guest register */
    int8_t guest[RA_N];      /* -1, or the guest register in the slot */
    bool dirty[RA_N];
    uint32_t used[RA_N];
    uint32_t tick;
};

static void ra_init(struct ra *ra)
{
    memset(ra, 0, sizeof(*ra));
    memset(ra->slot_of, -1, sizeof(ra->slot_of));
    memset(ra->guest, -1, sizeof(ra->guest));
}

static void ra_writeback(struct jit_out *j, const struct ra *ra, unsigned s)
{
    jrm(j, true, 0x89, ra_pool[s], xdisp((unsigned)ra->guest[s]));  /* mov x[r], host */
}

/* A slot for a new guest register: a free one, or the one used longest ago (written back). */
static unsigned ra_take(struct jit_out *j, struct ra *ra)
{
    unsigned best = 0;
    for (unsigned s = 0; s < RA_N; s++) {
        if (ra->guest[s] < 0) { best = s; goto got; }
        if (ra->used[s] < ra->used[best]) best = s;
    }
    if (ra->dirty[best]) ra_writeback(j, ra, best);
    ra->slot_of[ra->guest[best]] = -1;
got:
    ra->dirty[best] = false;
    return best;
}

/* The host register holding guest register xr, loaded if it is not there yet. */
static unsigned ra_get(struct jit_out *j, struct ra *ra, unsigned xr)
{
    int s = ra->slot_of[xr];
    if (s < 0) {
        s = (int)ra_take(j, ra);
        ra->guest[s] = (int8_t)xr;
        ra->slot_of[xr] = (int8_t)s;
        jrm(j, true, 0x8b, ra_pool[s], xdisp(xr));              /* mov host, x[r] */
    }
    ra->used[s] = ++ra->tick;
    return ra_pool[s];
}

/* The host register to write guest register xr to (never x0: its writes are dropped). */
static unsigned ra_def(struct jit_out *j, struct ra *ra, unsigned xr)
{
    if (xr == 0)
        return R11;
    int s = ra->slot_of[xr];
    if (s < 0) {
        s = (int)ra_take(j, ra);
        ra->guest[s] = (int8_t)xr;
        ra->slot_of[xr] = (int8_t)s;
    }
    ra->used[s] = ++ra->tick;
    ra->dirty[s] = true;
    return ra_pool[s];
}

/* Writes back every changed register (they stay cached). */
static void ra_flush(struct jit_out *j, struct ra *ra)
{
    for (unsigned s = 0; s < RA_N; s++)
        if (ra->dirty[s]) {
            ra_writeback(j, ra, s);
            ra->dirty[s] = false;
        }
}

/* mov rax/rcx, guest register */
static void jget(struct jit_out *j, struct ra *ra, unsigned reg, unsigned xr)
{
    unsigned h = ra_get(j, ra, xr);
    jrr1(j, 0x8b, reg, h);
}
/* op rax, guest register (opc with modrm reg = rax, rm = the register: 03 add, 2b sub, ...) */
static void jop(struct jit_out *j, struct ra *ra, uint8_t opc, unsigned xr)
{
    unsigned h = ra_get(j, ra, xr);
    jrr1(j, opc, RAX, h);
}
/* guest register = rax (or another scratch register) */
static void jset(struct jit_out *j, struct ra *ra, unsigned xr, unsigned from)
{
    unsigned h = ra_def(j, ra, xr);
    jrr1(j, 0x8b, h, from);
}

static bool jit_op_ok(uint8_t op)
{
    switch (op) {
    case F_LB: case F_LH: case F_LW: case F_LD: case F_LBU: case F_LHU: case F_LWU:
    case F_SB: case F_SH: case F_SW: case F_SD: case F_AUIPC:
    case F_NOP: case F_FENCE: case F_LUI: case F_ADDI: case F_SLTI: case F_SLTIU: case F_XORI: case F_ORI:
    case F_ANDI: case F_SLLI: case F_SRLI: case F_SRAI: case F_ADD: case F_SUB: case F_SLL:
    case F_SLT: case F_SLTU: case F_XOR: case F_SRL: case F_SRA: case F_OR: case F_AND:
    case F_ADDIW: case F_SLLIW: case F_SRLIW: case F_SRAIW: case F_ADDW: case F_SUBW:
    case F_MUL: case F_MULW: case F_ADDUW: case F_SH1ADD: case F_SH2ADD: case F_SH3ADD: case F_ANDN:
    case F_MULH: case F_MULHU: case F_MINU: case F_MAXU: case F_REV8:
    case F_DIV: case F_DIVU: case F_REM: case F_REMU: case F_DIVUW: case F_REMUW:
    case F_ORCB: case F_CTZ: case F_CLZ:
        return true;
    default:
        return false;
    }
}

/* With rax = a pc and rdx = the decoded entries of its page: jumps to the run that starts
 * there (rsi = rax), if there is one; else falls through a jne, returned for patching. */
static uint8_t *jit_emit_enter(struct jit_out *j)
{
    static const uint8_t slot[] = {
        0x89, 0xc1,                                              /* mov ecx, eax */
        0x81, 0xe1, 0xfe, 0x0f, 0x00, 0x00,                      /* and ecx, 0xffe */
        0x4c, 0x8b, 0x1c, 0xca,                                  /* mov r11, [rdx + rcx*8] */
    };
    _Static_assert(sizeof(struct dentry) == 16, "jit dentry layout");
    jb(j, sizeof(slot), slot);
    jctx_op(j, 0x3b, R11, JX(run_label));                        /* cmp r11, run_label */
    uint8_t *out = jfwd8(j, 0x75);                               /* jne out */
    static const uint8_t ld[] = { 0x44, 0x8b, 0x5c, 0xca, 0x08 }; /* mov r11d, [rdx + rcx*8 + 8] */
    jb(j, sizeof(ld), ld);
    jctx_op(j, 0x03, R11, JX(base));                             /* add r11, base */
    static const uint8_t go[] = { 0x48, 0x89, 0xc6, 0x41, 0xff, 0xe3 }; /* mov rsi, rax; jmp r11 */
    jb(j, sizeof(go), go);
    return out;
}

/* Goes on to the run at the pc in rax, in another page, if the jump cache knows the page
 * and there is a run there; or leaves. Budget already checked. */
static void jit_emit_far(struct jit_out *j, uint8_t *base)
{
    uint8_t *x1, *x2, *x3;
    static const uint8_t idx[] = {
        0x89, 0xc1,                                              /* mov ecx, eax */
        0xc1, 0xe9, 0x07,                                        /* shr ecx, 7 */
        0x81, 0xe1, 0xe0, 0x3f, 0x00, 0x00,                      /* and ecx, 511 << 5 */
    };
    _Static_assert(sizeof(struct jc_entry) == 32 && JC_SIZE == 512, "jit jump cache layout");
    jb(j, sizeof(idx), idx);
    jctx_op(j, 0x03, RCX, JX(jcache));                           /* add rcx, jcache */
    static const uint8_t pg[] = {
        0x48, 0x89, 0xc2,                                        /* mov rdx, rax */
        0x48, 0x81, 0xe2, 0x00, 0xf0, 0xff, 0xff,                /* and rdx, ~0xfff */
    };
    jb(j, sizeof(pg), pg);
    jctx_op(j, 0x0b, RDX, JX(gen));                              /* or rdx, gen */
    static const uint8_t cmp[] = { 0x48, 0x3b, 0x11 };           /* cmp rdx, [rcx] */
    jb(j, sizeof(cmp), cmp);
    x1 = jfwd8(j, 0x75);                                         /* jne out */
    jctx_op(j, 0x8b, RDX, JX(jc_gen));                           /* mov rdx, jc_gen */
    static const uint8_t cmp2[] = { 0x48, 0x3b, 0x51, 0x10 };    /* cmp rdx, [rcx + 16] */
    jb(j, sizeof(cmp2), cmp2);
    x2 = jfwd8(j, 0x75);                                         /* jne out */
    static const uint8_t ld[] = { 0x48, 0x8b, 0x51, 0x08 };      /* mov rdx, [rcx + 8] */
    jb(j, sizeof(ld), ld);
    jrm(j, true, 0x89, RDX, (int32_t)JX(dents));                 /* mov dents, rdx */
    x3 = jit_emit_enter(j);
    jpatch8(j, x1);
    jpatch8(j, x2);
    jpatch8(j, x3);
    jret(j, base, false);
}

/* The end of a run whose next pc is pc + rel, page offset t (known when translating):
 * count its n instructions, then go on to the run at t if it is in this page and there is
 * one, or leave. Registers are written back already. */
static void jit_emit_next(struct jit_out *j, uint8_t *base, unsigned n, int32_t rel, int32_t t)
{
    jleft(j, n);
    if (t >= 0 && t < 4096) {
        uint8_t *x1, *x2;
        x1 = jfwd8(j, 0x7e);                                     /* jle out */
        jctx_op(j, 0x8b, RDX, JX(dents));                        /* mov rdx, dents */
        static const uint8_t ld[] = { 0x48, 0x8b, 0x82 };         /* mov rax, [rdx + slot] */
        jb(j, 3, ld); j32(j, (uint32_t)(t >> 1) * (uint32_t)sizeof(struct dentry));
        jctx_op(j, 0x3b, RAX, JX(run_label));                    /* cmp rax, run_label */
        x2 = jfwd8(j, 0x75);                                     /* jne out */
        static const uint8_t ld2[] = { 0x8b, 0x82 };              /* mov eax, [rdx + slot + 8] */
        jb(j, 2, ld2); j32(j, (uint32_t)(t >> 1) * (uint32_t)sizeof(struct dentry) + 8);
        jctx_op(j, 0x03, RAX, JX(base));                         /* add rax, base */
        jlea_pc(j, RSI, rel);                                    /* lea rsi, [rsi + rel] */
        static const uint8_t jmp[] = { 0xff, 0xe0 };              /* jmp rax */
        jb(j, 2, jmp);
        jpatch8(j, x1);
        jpatch8(j, x2);
        jlea_pc(j, RAX, rel);                                    /* out: rax = next pc */
        jret(j, base, false);
        return;
    }
    uint8_t *x0 = jfwd8(j, 0x7e);                                /* jle out */
    jlea_pc(j, RAX, rel);
    jit_emit_far(j, base);
    jpatch8(j, x0);
    jlea_pc(j, RAX, rel);                                        /* out: rax = next pc */
    jret(j, base, false);
}

/* The same for a next pc computed into rax (jalr): chained when it is in the run's page. */
static void jit_emit_next_dyn(struct jit_out *j, uint8_t *base, unsigned n)
{
    uint8_t *x1, *x2, *x3;
    jleft(j, n);
    x2 = jfwd8(j, 0x7e);                                         /* jle out */
    static const uint8_t same[] = {
        0x48, 0x89, 0xc1,                                        /* mov rcx, rax */
        0x48, 0x31, 0xf1,                                        /* xor rcx, rsi */
        0x48, 0xc1, 0xe9, 0x0c,                                  /* shr rcx, 12 */
    };
    jb(j, sizeof(same), same);
    x1 = jfwd8(j, 0x75);                                         /* jnz far */
    jctx_op(j, 0x8b, RDX, JX(dents));                            /* mov rdx, dents */
    x3 = jit_emit_enter(j);
    jpatch8(j, x2);
    jpatch8(j, x3);
    jret(j, base, false);                                        /* out */
    jpatch8(j, x1);
    jit_emit_far(j, base);                                       /* another page */
}

/* A way out of a run at a load or store that missed: the registers changed before it. */
struct jit_fix {
    uint8_t *at;            /* rel32 of the jump to patch */
    unsigned insn, off;     /* instructions done before it, its offset from the run's pc */
    uint8_t nwb, wb_host[RA_N], wb_guest[RA_N];
};

/* A load or store: the data TLB hit check the interpreter does, then the access through the
 * entry's host page. A miss, or an access that would leave the page (the page of its last
 * byte is then not the entry's), jumps to an exit stub so that the interpreter executes
 * this instruction itself with everything before it done. */
static void jit_emit_mem(struct jit_out *j, struct ra *ra, uint8_t op, const struct dentry *d,
                         struct jit_fix *fix)
{
    static const uint8_t size[] = { [F_LB] = 1, [F_LH] = 2, [F_LW] = 4, [F_LD] = 8, [F_LBU] = 1,
                                    [F_LHU] = 2, [F_LWU] = 4, [F_SB] = 1, [F_SH] = 2, [F_SW] = 4, [F_SD] = 8 };
    bool st = op >= F_SB;
    unsigned sz = size[op];
    jget(j, ra, RAX, d->rs1);
    if (d->imm) jalu_imm(j, 0x05, d->imm);                         /* rax = va */
    static const uint8_t idx[] = {
        0x89, 0xc1,                                                /* mov ecx, eax */
        0xc1, 0xe9, 0x08,                                          /* shr ecx, 8 */
        0x81, 0xe1, 0xf0, 0x1f, 0x00, 0x00,                        /* and ecx, 511 << 4 */
    };
    _Static_assert(sizeof(struct tlb_entry) == 16 && TLB_SIZE == 512, "jit TLB layout");
    jb(j, sizeof(idx), idx);
    jctx_op(j, 0x03, RCX, st ? JX(wset) : JX(rset));               /* add rcx, wset / rset */
    uint8_t lea[4] = { 0x48, 0x8d, 0x50, (uint8_t)(sz - 1) };      /* lea rdx, [rax + sz - 1] */
    jb(j, 4, lea);
    static const uint8_t pg[] = { 0x48, 0x81, 0xe2, 0x00, 0xf0, 0xff, 0xff }; /* and rdx, ~0xfff */
    jb(j, sizeof(pg), pg);
    jctx_op(j, 0x0b, RDX, JX(gen));                                /* or rdx, gen */
    static const uint8_t cmp[] = { 0x48, 0x3b, 0x11, 0x0f, 0x85 }; /* cmp rdx, [rcx]; jne exit */
    jb(j, sizeof(cmp), cmp);
    fix->at = j->p;
    j32(j, 0);
    fix->nwb = 0;
    for (unsigned s = 0; s < RA_N; s++)
        if (ra->dirty[s]) {
            fix->wb_host[fix->nwb] = ra_pool[s];
            fix->wb_guest[fix->nwb++] = (uint8_t)ra->guest[s];
        }
    static const uint8_t host[] = {
        0x25, 0xff, 0x0f, 0x00, 0x00,                              /* and eax, 0xfff */
        0x48, 0x03, 0x41, 0x08,                                    /* add rax, [rcx + 8] */
    };
    jb(j, sizeof(host), host);
    if (st) {
        jget(j, ra, RCX, d->rs2);
        switch (sz) {
        case 1: { static const uint8_t b[] = { 0x88, 0x08 }; jb(j, 2, b); break; }        /* mov [rax], cl */
        case 2: { static const uint8_t b[] = { 0x66, 0x89, 0x08 }; jb(j, 3, b); break; }  /* mov [rax], cx */
        case 4: { static const uint8_t b[] = { 0x89, 0x08 }; jb(j, 2, b); break; }        /* mov [rax], ecx */
        default: { static const uint8_t b[] = { 0x48, 0x89, 0x08 }; jb(j, 3, b); break; } /* mov [rax], rcx */
        }
        return;
    }
    switch (op) {
    case F_LB:  { static const uint8_t b[] = { 0x48, 0x0f, 0xbe, 0x00 }; jb(j, 4, b); break; } /* movsx rax, byte */
    case F_LBU: { static const uint8_t b[] = { 0x0f, 0xb6, 0x00 }; jb(j, 3, b); break; }       /* movzx eax, byte */
    case F_LH:  { static const uint8_t b[] = { 0x48, 0x0f, 0xbf, 0x00 }; jb(j, 4, b); break; } /* movsx rax, word */
    case F_LHU: { static const uint8_t b[] = { 0x0f, 0xb7, 0x00 }; jb(j, 3, b); break; }       /* movzx eax, word */
    case F_LW:  { static const uint8_t b[] = { 0x48, 0x63, 0x00 }; jb(j, 3, b); break; }       /* movsxd rax, dword */
    case F_LWU: { static const uint8_t b[] = { 0x8b, 0x00 }; jb(j, 2, b); break; }             /* mov eax, dword */
    default:    { static const uint8_t b[] = { 0x48, 0x8b, 0x00 }; jb(j, 3, b); break; }       /* mov rax, qword */
    }
    jset(j, ra, d->rd, RAX);
}

/* Emits the control transfer that ends a run (the run's last instruction, at offset off
 * from the run's pc, which is at page offset start), then goes on to the next pc. */
static void jit_emit_end(struct jit_out *j, uint8_t *base, struct ra *ra, uint8_t op, const struct dentry *d,
                         unsigned start, unsigned off, unsigned done, const uint8_t *body)
{
    int32_t next = (int32_t)(off + d->len), target = (int32_t)off + d->imm;
    if (body) {
        /* a loop to its own start, with its registers loaded before body: while the
         * budget lasts, go round again with them still in host registers */
        static const uint8_t cc[] = { [F_BEQ] = 0x84, [F_BNE] = 0x85, [F_BLT] = 0x8c, [F_BGE] = 0x8d,
                                      [F_BLTU] = 0x82, [F_BGEU] = 0x83 };
        jget(j, ra, RAX, d->rs1);
        jrr1(j, 0x3b, RAX, ra_get(j, ra, d->rs2));
        uint8_t b[2] = { 0x0f, cc[op] };
        jb(j, 2, b);
        uint8_t *taken = j->p;
        j32(j, 0);
        struct ra keep = *ra;
        ra_flush(j, ra);
        jit_emit_next(j, base, done, next, (int32_t)start + next);
        int32_t rel = (int32_t)(j->p - (taken + 4));
        memcpy(taken, &rel, 4);
        *ra = keep;
        jleft(j, done);
        uint8_t *out = jfwd8(j, 0x7e);                                    /* jle out */
        *j->p++ = 0xe9;                                                   /* jmp body */
        j32(j, (uint32_t)(int32_t)(body - (j->p + 4)));
        jpatch8(j, out);
        ra_flush(j, ra);
        jlea_pc(j, RAX, 0);
        jret(j, base, false);
        return;
    }
    if (op == F_JAL) {
        if (d->rd) { jlea_pc(j, RCX, next); jset(j, ra, d->rd, RCX); }   /* x[rd] = link */
        ra_flush(j, ra);
        jit_emit_next(j, base, done, target, (int32_t)start + target);
    } else if (op == F_JALR) {
        static const uint8_t clr[] = { 0x48, 0x83, 0xe0, 0xfe };          /* and rax, ~1 */
        jget(j, ra, RAX, d->rs1);
        if (d->imm) jalu_imm(j, 0x05, d->imm);
        jb(j, 4, clr);
        if (d->rd) { jlea_pc(j, RCX, next); jset(j, ra, d->rd, RCX); }
        ra_flush(j, ra);
        jit_emit_next_dyn(j, base, done);
    } else {
        /* cmp x[rs1], x[rs2]; jcc taken; the next pc, then taken: the target */
        static const uint8_t cc[] = { [F_BEQ] = 0x84, [F_BNE] = 0x85, [F_BLT] = 0x8c, [F_BGE] = 0x8d,
                                      [F_BLTU] = 0x82, [F_BGEU] = 0x83 };
        jget(j, ra, RAX, d->rs1);
        unsigned h2 = ra_get(j, ra, d->rs2);
        ra_flush(j, ra);                                                  /* movs: flags untouched */
        jrr1(j, 0x3b, RAX, h2);
        uint8_t b[2] = { 0x0f, cc[op] };
        jb(j, 2, b);
        uint8_t *taken = j->p;
        j32(j, 0);
        jit_emit_next(j, base, done, next, (int32_t)start + next);
        int32_t rel = (int32_t)(j->p - (taken + 4));
        memcpy(taken, &rel, 4);
        jit_emit_next(j, base, done, target, (int32_t)start + target);
    }
}

/* Division with the RISC-V results for a zero divisor and for overflow, which trap on
 * x86: quotient in rax, remainder in rdx (sign-extended from 32 bits for the W forms). */
static void jit_emit_div(struct jit_out *j, struct ra *ra, uint8_t op, const struct dentry *d)
{
    bool w = op == F_DIVUW || op == F_REMUW, sgn = op == F_DIV || op == F_REM;
    bool rem = op == F_REM || op == F_REMU || op == F_REMUW;
    jget(j, ra, RCX, d->rs2);
    jget(j, ra, RAX, d->rs1);
    if (w) { static const uint8_t b[] = { 0x89, 0xc9, 0x89, 0xc0 }; jb(j, 4, b); } /* mov ecx, ecx; mov eax, eax */
    static const uint8_t test[] = { 0x48, 0x85, 0xc9 };                  /* test rcx, rcx */
    jb(j, 3, test);
    uint8_t *zero = jfwd8(j, 0x74), *ovf = NULL, *end1 = NULL;           /* jz zero */
    if (sgn) {
        static const uint8_t m1[] = { 0x48, 0x83, 0xf9, 0xff };           /* cmp rcx, -1 */
        jb(j, 4, m1);
        uint8_t *norm = jfwd8(j, 0x75);                                   /* jne norm */
        if (rem) { static const uint8_t b[] = { 0x31, 0xd2 }; jb(j, 2, b); }             /* xor edx, edx */
        else { static const uint8_t b[] = { 0x48, 0xf7, 0xd8 }; jb(j, 3, b); }          /* neg rax */
        ovf = jfwd8(j, 0xeb);                                             /* jmp end */
        jpatch8(j, norm);
        static const uint8_t b[] = { 0x48, 0x99, 0x48, 0xf7, 0xf9 };      /* cqo; idiv rcx */
        jb(j, 5, b);
    } else if (w) {
        static const uint8_t b[] = { 0x31, 0xd2, 0xf7, 0xf1 };            /* xor edx, edx; div ecx */
        jb(j, 4, b);
    } else {
        static const uint8_t b[] = { 0x31, 0xd2, 0x48, 0xf7, 0xf1 };      /* xor edx, edx; div rcx */
        jb(j, 5, b);
    }
    end1 = jfwd8(j, 0xeb);                                                /* jmp end */
    jpatch8(j, zero);
    if (rem) { static const uint8_t b[] = { 0x48, 0x89, 0xc2 }; jb(j, 3, b); }               /* mov rdx, rax */
    else { static const uint8_t b[] = { 0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff }; jb(j, 7, b); } /* mov rax, -1 */
    jpatch8(j, end1);
    if (ovf) jpatch8(j, ovf);
    if (w) {
        if (rem) { static const uint8_t b[] = { 0x48, 0x63, 0xd2 }; jb(j, 3, b); }   /* movsxd rdx, edx */
        else jsext32(j);
    }
}

static bool jit_end_ok(uint8_t op)
{
    return op == F_JAL || op == F_JALR || (op >= F_BEQ && op <= F_BGEU);
}

/* rd = rs1 op rs2 straight in host registers (opc: 03 add, 2b sub, 33 xor, 0b or, 23 and,
 * 0f af imul), with a 32-bit result sign-extended for the W forms. */
static void jit_emit_rr(struct jit_out *j, struct ra *ra, unsigned nopc, const uint8_t *opc, bool commutes,
                        bool w32, const struct dentry *d)
{
    unsigned h1 = ra_get(j, ra, d->rs1), h2 = ra_get(j, ra, d->rs2);
    unsigned hd = ra_def(j, ra, d->rd);
    static const uint8_t mov = 0x8b, movsxd = 0x63;
    if (w32 || (hd == h2 && hd != h1 && !commutes)) {
        jrr1(j, mov, RAX, h1);
        jrr(j, true, nopc, opc, RAX, h2);
        if (w32) jrr(j, true, 1, &movsxd, hd, RAX);
        else jrr1(j, mov, hd, RAX);
        return;
    }
    if (hd == h2 && hd != h1) {
        jrr(j, true, nopc, opc, hd, h1);
        return;
    }
    if (hd != h1) jrr1(j, mov, hd, h1);
    jrr(j, true, nopc, opc, hd, h2);
}

/* rd = rs1 + imm as one lea */
static void jit_emit_addi(struct jit_out *j, struct ra *ra, const struct dentry *d)
{
    unsigned h1 = ra_get(j, ra, d->rs1);
    unsigned hd = ra_def(j, ra, d->rd);
    bool short_disp = d->imm >= -128 && d->imm <= 127;
    *j->p++ = (uint8_t)(0x48 | (hd >= 8 ? 4 : 0) | (h1 >= 8 ? 1 : 0));
    *j->p++ = 0x8d;
    *j->p++ = (uint8_t)((short_disp ? 0x40 : 0x80) | (hd & 7) << 3 | (h1 & 7));
    if ((h1 & 7) == 4) *j->p++ = 0x24;                 /* SIB: base r12, no index */
    if (short_disp) *j->p++ = (uint8_t)d->imm;
    else j32(j, (uint32_t)d->imm);
}

/* rd = rs1 op imm: ext is the /digit of 81 (0 add, 1 or, 4 and, 6 xor) or of c1 (4 shl,
 * 5 shr, 7 sar) */
static void jit_emit_ri(struct jit_out *j, struct ra *ra, bool shift, unsigned ext, const struct dentry *d)
{
    unsigned h1 = ra_get(j, ra, d->rs1);
    unsigned hd = ra_def(j, ra, d->rd);
    if (hd != h1) jrr1(j, 0x8b, hd, h1);
    if (shift) {
        jrr1(j, 0xc1, ext, hd);
        *j->p++ = (uint8_t)d->imm;
    } else if (d->imm >= -128 && d->imm <= 127) {
        jrr1(j, 0x83, ext, hd);
        *j->p++ = (uint8_t)d->imm;
    } else {
        jrr1(j, 0x81, ext, hd);
        j32(j, (uint32_t)d->imm);
    }
}

/* Emits one ALU instruction: the result in rax (rdx for mulh), then into x[rd]. */
static void jit_emit(struct jit_out *j, struct ra *ra, uint8_t op, const struct dentry *d, unsigned off)
{
    static const uint8_t rr_opc[] = { [F_ADD] = 0x03, [F_SUB] = 0x2b, [F_XOR] = 0x33, [F_OR] = 0x0b,
                                      [F_AND] = 0x23, [F_ADDW] = 0x03, [F_SUBW] = 0x2b };
    unsigned result = RAX;
    if (op == F_NOP)
        return;
    if (op == F_FENCE) {
        static const uint8_t b[3] = { 0x0f, 0xae, 0xf0 }; /* mfence */
        jb(j, 3, b);
        return;
    }
    static const uint8_t imul[2] = { 0x0f, 0xaf };
    switch (op) {
    case F_ADD: case F_XOR: case F_OR: case F_AND: jit_emit_rr(j, ra, 1, &rr_opc[op], true, false, d); return;
    case F_SUB: jit_emit_rr(j, ra, 1, &rr_opc[op], false, false, d); return;
    case F_ADDW: jit_emit_rr(j, ra, 1, &rr_opc[op], true, true, d); return;
    case F_SUBW: jit_emit_rr(j, ra, 1, &rr_opc[op], false, true, d); return;
    case F_MUL: jit_emit_rr(j, ra, 2, imul, true, false, d); return;
    case F_MULW: jit_emit_rr(j, ra, 2, imul, true, true, d); return;
    case F_ADDI: jit_emit_addi(j, ra, d); return;
    case F_XORI: jit_emit_ri(j, ra, false, 6, d); return;
    case F_ORI: jit_emit_ri(j, ra, false, 1, d); return;
    case F_ANDI: jit_emit_ri(j, ra, false, 4, d); return;
    case F_SLLI: jit_emit_ri(j, ra, true, 4, d); return;
    case F_SRLI: jit_emit_ri(j, ra, true, 5, d); return;
    case F_SRAI: jit_emit_ri(j, ra, true, 7, d); return;
    case F_LUI: { uint8_t b[3] = { 0x48, 0xc7, 0xc0 }; jb(j, 3, b); j32(j, (uint32_t)d->imm); break; }
    case F_AUIPC: jlea_pc(j, RAX, (int32_t)off + d->imm); break;
    case F_SLTI:  jget(j, ra, RAX, d->rs1); jalu_imm(j, 0x3d, d->imm); jsetcc(j, 0x9c); break;
    case F_SLTIU: jget(j, ra, RAX, d->rs1); jalu_imm(j, 0x3d, d->imm); jsetcc(j, 0x92); break;
    case F_SLL: case F_SRL: case F_SRA: {
        uint8_t b[3] = { 0x48, 0xd3, op == F_SLL ? 0xe0 : op == F_SRL ? 0xe8 : 0xf8 };
        jget(j, ra, RAX, d->rs1); jget(j, ra, RCX, d->rs2); jb(j, 3, b); break;
    }
    case F_SLT:  jget(j, ra, RAX, d->rs1); jop(j, ra, 0x3b, d->rs2); jsetcc(j, 0x9c); break;
    case F_SLTU: jget(j, ra, RAX, d->rs1); jop(j, ra, 0x3b, d->rs2); jsetcc(j, 0x92); break;
    case F_ADDIW: jget(j, ra, RAX, d->rs1); jalu_imm(j, 0x05, d->imm); jsext32(j); break;
    case F_SLLIW: jget(j, ra, RAX, d->rs1); jshift_imm(j, false, 0xe0, (unsigned)d->imm); jsext32(j); break;
    case F_SRLIW: jget(j, ra, RAX, d->rs1); jshift_imm(j, false, 0xe8, (unsigned)d->imm); jsext32(j); break;
    case F_SRAIW: jget(j, ra, RAX, d->rs1); jshift_imm(j, false, 0xf8, (unsigned)d->imm); jsext32(j); break;
    case F_MULH: case F_MULHU:
        /* one-operand imul/mul: rdx = the high half */
        jget(j, ra, RAX, d->rs1);
        jrr1(j, 0xf7, op == F_MULH ? 5 : 4, ra_get(j, ra, d->rs2));
        result = RDX;
        break;
    case F_MINU: case F_MAXU: {
        uint8_t b[4] = { 0x48, 0x0f, op == F_MINU ? 0x47 : 0x42, 0xc1 }; /* cmova/cmovb rax, rcx */
        jget(j, ra, RAX, d->rs1); jget(j, ra, RCX, d->rs2);
        static const uint8_t c[3] = { 0x48, 0x39, 0xc8 };                 /* cmp rax, rcx */
        jb(j, 3, c); jb(j, 4, b); break;
    }
    case F_REV8: { static const uint8_t b[3] = { 0x48, 0x0f, 0xc8 }; jget(j, ra, RAX, d->rs1); jb(j, 3, b); break; }
    case F_DIV: case F_DIVU: case F_REM: case F_REMU: case F_DIVUW: case F_REMUW:
        jit_emit_div(j, ra, op, d);
        result = op == F_REM || op == F_REMU || op == F_REMUW ? RDX : RAX;
        break;
    case F_ORCB: {
        static const uint8_t b[] = {
            0x66, 0x48, 0x0f, 0x6e, 0xc0,  /* movq xmm0, rax */
            0x66, 0x0f, 0xef, 0xc9,        /* pxor xmm1, xmm1 */
            0x66, 0x0f, 0x74, 0xc1,        /* pcmpeqb xmm0, xmm1: 0xff where a byte is 0 */
            0x66, 0x48, 0x0f, 0x7e, 0xc0,  /* movq rax, xmm0 */
            0x48, 0xf7, 0xd0,              /* not rax */
        };
        jget(j, ra, RAX, d->rs1); jb(j, sizeof(b), b); break;
    }
    case F_CTZ: case F_CLZ: {
        /* bsf/bsr leave ZF set for 0: then 64 (clz: 127 ^ 63) */
        uint8_t b[] = { 0xb9, op == F_CTZ ? 64 : 127, 0, 0, 0,   /* mov ecx, 64 / 127 */
                        0x48, 0x0f, op == F_CTZ ? 0xbc : 0xbd, 0xc0, /* bsf/bsr rax, rax */
                        0x48, 0x0f, 0x44, 0xc1 };                /* cmovz rax, rcx */
        jget(j, ra, RAX, d->rs1); jb(j, sizeof(b), b);
        if (op == F_CLZ) { static const uint8_t x[3] = { 0x83, 0xf0, 0x3f }; jb(j, 3, x); } /* xor eax, 63 */
        break;
    }
    case F_ADDUW: {
        static const uint8_t mov = 0x8b;                                  /* mov eax, host32 */
        jrr(j, false, 1, &mov, RAX, ra_get(j, ra, d->rs1));
        jop(j, ra, 0x03, d->rs2);
        break;
    }
    case F_SH1ADD: case F_SH2ADD: case F_SH3ADD:
        jget(j, ra, RAX, d->rs1); jshift_imm(j, true, 0xe0, op == F_SH1ADD ? 1 : op == F_SH2ADD ? 2 : 3);
        jop(j, ra, 0x03, d->rs2); break;
    case F_ANDN: {
        static const uint8_t b[6] = { 0x48, 0xf7, 0xd1, 0x48, 0x21, 0xc8 }; /* not rcx; and rax, rcx */
        jget(j, ra, RAX, d->rs1); jget(j, ra, RCX, d->rs2); jb(j, 6, b); break;
    }
    default: return;
    }
    jset(j, ra, d->rd, result);
}

static bool op_reads_rs2(uint8_t op)
{
    switch (op) {
    case F_ADD: case F_SUB: case F_XOR: case F_OR: case F_AND: case F_ADDW: case F_SUBW:
    case F_SLL: case F_SRL: case F_SRA: case F_SLT: case F_SLTU: case F_MUL: case F_MULW:
    case F_MULH: case F_MULHU: case F_MINU: case F_MAXU: case F_ADDUW: case F_SH1ADD:
    case F_SH2ADD: case F_SH3ADD: case F_ANDN: case F_DIV: case F_DIVU: case F_REM: case F_REMU:
    case F_DIVUW: case F_REMUW: case F_SB: case F_SH: case F_SW: case F_SD:
    case F_BEQ: case F_BNE: case F_BLT: case F_BGE: case F_BLTU: case F_BGEU:
        return true;
    default:
        return false;
    }
}

/* A run that ends in a branch back to its own first instruction, and whose registers all
 * fit in host registers, loads them all first and returns where the loop body starts (its
 * back edge goes there); everything it writes counts as changed from the start, so that
 * every way out writes it back. Otherwise NULL. */
static const uint8_t *jit_loop_prologue(struct jit_out *j, struct ra *ra, const struct dentry *d,
                                        const uint8_t *ops, unsigned count, bool end)
{
    unsigned at = 0;
    for (unsigned i = 0; i + 1 < count; i++)
        at += d[i].len;
    uint8_t last = ops[count - 1];
    if (!end || last < F_BEQ || last > F_BGEU || (int32_t)at + d[count - 1].imm != 0)
        return NULL;
    uint32_t used = 0, written = 0;
    for (unsigned i = 0; i < count; i++) {
        uint8_t op = ops[i];
        if (op == F_NOP || op == F_FENCE)
            continue;
        if (op != F_LUI && op != F_AUIPC)
            used |= 1u << d[i].rs1;
        if (op_reads_rs2(op))
            used |= 1u << d[i].rs2;
        if (!(op >= F_SB && op <= F_SD) && !(op >= F_BEQ && op <= F_BGEU) && d[i].rd)
            written |= 1u << d[i].rd;
    }
    used |= written;
    if (__builtin_popcount(used) > RA_N)
        return NULL;
    for (unsigned r = 0; r < 32; r++)
        if (used >> r & 1)
            ra_get(j, ra, r);
    for (unsigned r = 1; r < 32; r++)
        if (written >> r & 1)
            ra->dirty[ra->slot_of[r]] = true;
    return j->p;
}

/* Translates the run starting at offset off of cp into head: ALU instructions, loads and
 * stores, and at most one jump or branch, which ends it. head_raw is the first instruction
 * as the caller read it (and recorded it in the snapshot). */
static void jit_run(struct code_cache *cc, struct code_page *cp, unsigned off, struct dentry *head,
                    uint32_t head_raw)
{
    struct dentry d[JIT_RUN_MAX];
    uint8_t ops[JIT_RUN_MAX];
    uint32_t raw[JIT_RUN_MAX];
    if (!cc->jit || cc->jit_full)
        return;
    if (cc->jit_used + JIT_RUN_MAX * JIT_INSN_MAX + 1024 > JIT_SIZE) {
        cc->jit_full = true;
        return;
    }
    /* the head as the caller read and decoded it; each instruction after it read once */
    unsigned count = 0, o = off;
    bool end = false;
    raw[0] = head_raw;
    while (count < JIT_RUN_MAX && o <= 0xffe) {
        if (count && !code_parcel(cp->host, o, &raw[count]))
            break;
        ops[count] = decode_fields(&d[count], raw[count]);
        end = jit_end_ok(ops[count]);
        if (!end && !jit_op_ok(ops[count]))
            break;
        o += d[count].len;
        count++;
        if (end)
            break;
    }
    if (count == 0)
        return;
    for (unsigned i = 1, at = off + d[0].len; i < count; at += d[i].len, i++)
        code_snap(cp, at, raw[i], d[i].len);
    uint8_t *base = cc->jit_w; /* jumps within the buffer are relative: the same in both views */
    struct jit_out j = { base + cc->jit_used };
    struct jit_fix fix[JIT_RUN_MAX];
    unsigned nfix = 0;
    struct ra ra;
    ra_init(&ra);
    const uint8_t *body = jit_loop_prologue(&j, &ra, d, ops, count, end);
    unsigned at = 0;
    for (unsigned i = 0; i < count; i++) {
        if (end && i == count - 1) {
            jit_emit_end(&j, base, &ra, ops[i], &d[i], off, at, count, body);
        } else if (ops[i] >= F_LB && ops[i] <= F_SD) {
            fix[nfix].insn = i;
            fix[nfix].off = at;
            jit_emit_mem(&j, &ra, ops[i], &d[i], &fix[nfix]);
            nfix++;
        } else {
            jit_emit(&j, &ra, ops[i], &d[i], at);
        }
        at += d[i].len;
    }
    if (!end) {
        ra_flush(&j, &ra);
        jit_emit_next(&j, base, count, (int32_t)at, (int32_t)(off + at));
    }
    /* exit stubs: write back what changed before the instruction that missed, count the
     * instructions done before it, and leave with its pc */
    for (unsigned f = 0; f < nfix; f++) {
        int32_t rel = (int32_t)(j.p - (fix[f].at + 4));
        memcpy(fix[f].at, &rel, 4);
        for (unsigned w = 0; w < fix[f].nwb; w++)
            jrm(&j, true, 0x89, fix[f].wb_host[w], xdisp(fix[f].wb_guest[w]));
        if (fix[f].insn)
            jleft(&j, fix[f].insn);
        jlea_pc(&j, RAX, (int32_t)fix[f].off);
        jret(&j, base, true);
    }
    if (perf_map)
        fprintf(perf_map, "%lx %lx run_%llx\n", (unsigned long)(cc->jit + cc->jit_used),
                (unsigned long)(j.p - (base + cc->jit_used)), (unsigned long long)(cp->ppage + off));
    head->handler = fast_labels[F_JIT];
    head->imm = (int32_t)cc->jit_used;
    head->rd = (uint8_t)count;
    head->len = (uint8_t)(o - off);
    cc->jit_used = (uint32_t)(j.p - base + 15) & ~15u;
}
#endif

/* The decoded page whose entries are dents. */
static struct code_page *container_of_dents(void *dents)
{
    return (struct code_page *)((char *)dents - offsetof(struct code_page, d));
}

/* Never matches: the data TLB set used while every access must take the slow path. */
static struct tlb_entry no_tlb[TLB_SIZE];

#ifdef HAVE_JIT
/* The translator's buffer: one memfd mapped twice, writable where the emitter writes and
 * executable where runs run, so no page is ever both (W^X); guards around each view. Nothing
 * patches code once made (chaining goes through the decoded pages and the jump cache), so
 * every write is the emitter's. Without memfd there is no translator, not an RWX one. */
static void jit_map(struct code_cache *cc)
{
    int fd = memfd_create("corral-jit", MFD_CLOEXEC);
    if (fd < 0)
        return;
    if (ftruncate(fd, JIT_SIZE) == 0) {
        cc->jit_w = guard_map(JIT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
        cc->jit = guard_map(JIT_SIZE, PROT_READ | PROT_EXEC, MAP_SHARED, fd);
    }
    close(fd);
    if (!cc->jit || !cc->jit_w) {
        guard_unmap(cc->jit, JIT_SIZE);
        guard_unmap(cc->jit_w, JIT_SIZE);
        cc->jit = cc->jit_w = NULL;
        return;
    }
    jit_emit_trampoline(cc->jit_w);
    cc->jit_used = JIT_START;
}
#endif

int hart_alloc_code(struct hart *h)
{
    if (h->code)
        return 0;
    h->code = calloc(1, sizeof(*h->code));
    if (!h->code)
        return -ENOMEM;
#ifdef HAVE_JIT
    jit_map(h->code);
#endif
    return 0;
}

/* no-gcse, no-crossjumping: keep the copies of the dispatch apart (see NEXT); gcc's
 * options, which clang (the fuzz builds) does not know */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-gcse", "no-crossjumping")))
#endif
unsigned hart_exec_block(struct hart *h, unsigned max)
{
    static const void *const labels[F_COUNT] = {
        [F_DECODE] = &&do_decode, [F_GENERIC] = &&op_generic, [F_CROSS] = &&op_cross,
        [F_NOP] = &&op_nop, [F_FENCE] = &&op_fence,
        [F_LUI] = &&op_lui, [F_AUIPC] = &&op_auipc, [F_JAL] = &&op_jal, [F_JALR] = &&op_jalr,
        [F_BEQ] = &&op_beq, [F_BNE] = &&op_bne, [F_BLT] = &&op_blt, [F_BGE] = &&op_bge,
        [F_BLTU] = &&op_bltu, [F_BGEU] = &&op_bgeu,
        [F_LB] = &&op_lb, [F_LH] = &&op_lh, [F_LW] = &&op_lw, [F_LD] = &&op_ld,
        [F_LBU] = &&op_lbu, [F_LHU] = &&op_lhu, [F_LWU] = &&op_lwu,
        [F_SB] = &&op_sb, [F_SH] = &&op_sh, [F_SW] = &&op_sw, [F_SD] = &&op_sd,
        [F_ADDI] = &&op_addi, [F_SLTI] = &&op_slti, [F_SLTIU] = &&op_sltiu, [F_XORI] = &&op_xori,
        [F_ORI] = &&op_ori, [F_ANDI] = &&op_andi, [F_SLLI] = &&op_slli, [F_SRLI] = &&op_srli,
        [F_SRAI] = &&op_srai, [F_ADD] = &&op_add, [F_SUB] = &&op_sub, [F_SLL] = &&op_sll,
        [F_SLT] = &&op_slt, [F_SLTU] = &&op_sltu, [F_XOR] = &&op_xor, [F_SRL] = &&op_srl,
        [F_SRA] = &&op_sra, [F_OR] = &&op_or, [F_AND] = &&op_and, [F_ADDIW] = &&op_addiw,
        [F_SLLIW] = &&op_slliw, [F_SRLIW] = &&op_srliw, [F_SRAIW] = &&op_sraiw,
        [F_ADDW] = &&op_addw, [F_SUBW] = &&op_subw, [F_MUL] = &&op_mul, [F_ADDUW] = &&op_adduw,
        [F_SH1ADD] = &&op_sh1add, [F_SH2ADD] = &&op_sh2add, [F_SH3ADD] = &&op_sh3add,
        [F_MULH] = &&op_mulh, [F_MULHU] = &&op_mulhu, [F_DIV] = &&op_div, [F_DIVU] = &&op_divu,
        [F_REM] = &&op_rem, [F_REMU] = &&op_remu, [F_MULW] = &&op_mulw, [F_DIVUW] = &&op_divuw,
        [F_REMUW] = &&op_remuw, [F_ORCB] = &&op_orcb, [F_REV8] = &&op_rev8, [F_CLZ] = &&op_clz,
        [F_CTZ] = &&op_ctz, [F_CPOP] = &&op_cpop, [F_ANDN] = &&op_andn, [F_MINU] = &&op_minu,
        [F_MAXU] = &&op_maxu, [F_JIT] = &&op_jit,
    };
    pthread_once(&rvc_once, rvc_table_init);
    if (unlikely(!__atomic_load_n(&fast_labels, __ATOMIC_ACQUIRE)))
        __atomic_store_n(&fast_labels, labels, __ATOMIC_RELEASE);
    if (unlikely(!h->code) && hart_alloc_code(h))
        return 0;
    uint64_t *x = h->x;
    uint64_t pc = h->pc;
    unsigned n = 0;
    uint32_t raw;
    uint64_t v;
    int r;
    /* Hot state in locals; SYNC() reloads it after anything that may change privilege,
     * mstatus, the TLB generation or the decoded pages. */
    struct code_page *cp = NULL;
    struct dentry *e;
    uint64_t vpage, gen;
    struct tlb_entry *rset, *wset;
    struct dentry one;           /* a run's first instruction, when the run cannot be taken */
    uint8_t *const jit_base = h->code->jit;
    h->jit.base = jit_base;
    if (h->jit.jc_gen == 0)
        h->jit.jc_gen = 1; /* entries still zero never match */
    h->jit.run_label = labels[F_JIT];
#define SYNC() do { vpage = ~0ULL; gen = h->tlb_gen; \
        rset = dtlb_set(h, ACC_READ); wset = dtlb_set(h, ACC_WRITE); \
        if (unlikely(!rset)) rset = wset = no_tlb; \
        h->jit.rset = rset; h->jit.wset = wset; h->jit.gen = gen; \
        h->jit.jcache = h->code->jc[h->priv == PRV_M ? 2 : h->priv]; } while (0)
    SYNC();

/* Every handler ends in its own copy of the dispatch, so that each has its own indirect
 * jump for the host's branch predictor to learn. */
#define NEXT()     do { if (unlikely(++n >= max)) goto out; \
        if (unlikely((pc & ~0xfffULL) != vpage)) goto next; \
        e = &cp->d[(pc & 0xfff) >> 1]; goto *e->handler; } while (0)
#define STEP()     do { pc += e->len; NEXT(); } while (0)
#define BRANCH(c)  do { pc = (c) ? pc + (uint64_t)(int64_t)e->imm : pc + e->len; NEXT(); } while (0)
#define LOADOP(sz, T, ext) do { uint64_t va = x[e->rs1] + (uint64_t)(int64_t)e->imm; \
        const struct tlb_entry *t = &rset[(va >> 12) % TLB_SIZE]; \
        if (likely(t->tag == ((va & ~0xfffULL) | gen) && (va & 0xfff) <= 0x1000 - sz)) \
            { T tv; memcpy(&tv, t->host + (va & 0xfff), sz); v = tv; } \
        else { h->pc = pc; r = mmu_load(h, va, sz, &v); if (unlikely(r)) goto mem_fault; } \
        x[e->rd] = ext; STEP(); } while (0)
#define STOREOP(sz, T) do { uint64_t va = x[e->rs1] + (uint64_t)(int64_t)e->imm; \
        const struct tlb_entry *t = &wset[(va >> 12) % TLB_SIZE]; \
        if (likely(t->tag == ((va & ~0xfffULL) | gen) && (va & 0xfff) <= 0x1000 - sz)) \
            { T tv = (T)x[e->rs2]; memcpy(t->host + (va & 0xfff), &tv, sz); STEP(); } \
        /* the slow path may clear this very entry (a store to code): keep its length */ \
        uint32_t len = e->len; h->pc = pc; r = mmu_store(h, va, sz, x[e->rs2]); \
        if (unlikely(r)) goto mem_fault; \
        pc += len; NEXT(); } while (0)

next:
    if (unlikely((pc & ~0xfffULL) != vpage)) {
        h->pc = pc;
        cp = code_lookup(h, pc, &r);
        if (unlikely(!cp && r == CODE_STEP))
            goto op_step;
        if (unlikely(!cp)) {
            hart_take_trap(h, (uint64_t)r, h->fault_tval, false);
            pc = h->pc;
            SYNC();
            NEXT();
        }
        vpage = pc & ~0xfffULL;
        struct jc_entry *jc = &((struct jc_entry *)h->jit.jcache)[(pc >> 12) % JC_SIZE];
        jc->tag = vpage | gen;
        jc->dents = cp->d;
        jc->gen = h->jit.jc_gen;
    }
    e = &cp->d[(pc & 0xfff) >> 1];
    goto *e->handler;

do_decode:
    {
        unsigned off = pc & 0xfff, len;
        uint32_t raw1;
        len = code_parcel(cp->host, off, &raw1);
        if (!len) {
            e->handler = &&op_cross; /* the second half is on the next page: fetch it each time */
            e->len = 4;
        } else {
            code_snap(cp, off, raw1, len);
            decode_entry(e, raw1);
#ifdef HAVE_JIT
            if (!h->interp_only)
                jit_run(h->code, cp, off, e, raw1);
            if (unlikely(h->code->jit_full)) {
                /* out of room for host code: start afresh now (every decoded page is
                 * cleared as it comes back to life), not at the next fence.i, so that no
                 * code goes on being interpreted in the meantime */
                hart_flush_code(h);
                SYNC();
                goto next;
            }
#endif
        }
    }
    goto *e->handler;
op_jit:
    if (unlikely(n + e->rd > max)) {
        /* the run would overshoot the budget: interpret its first instruction alone */
        decode_entry(&one, code_raw(cp, pc & 0xfff));
        e = &one;
        goto *e->handler;
    }
    {
        int64_t left = max - n > JIT_RUN_MAX ? (int64_t)(max - n - JIT_RUN_MAX) : 0;
        h->jit.left = left;
        h->jit.dents = cp->d;
        struct jit_ret jr = ((jit_entry)jit_base)((uint8_t *)x + JIT_XBIAS, pc, jit_base + (uint32_t)e->imm);
        pc = jr.pc;
        n += (unsigned)(left - h->jit.left);
        if (unlikely(jr.miss)) {
            /* stopped at a load or store that missed the TLB (or would cross its page):
             * everything before it is done; interpret that one instruction, which may be
             * in another page (the runs went on there) */
            if ((pc & ~0xfffULL) != vpage) {
                vpage = pc & ~0xfffULL;
                cp = container_of_dents(h->jit.dents);
            }
            decode_entry(&one, code_raw(cp, pc & 0xfff));
            e = &one;
            goto *e->handler;
        }
        n--;
        NEXT();
    }
op_cross:
    h->pc = pc;
    r = fetch(h, &raw);
    if (unlikely(r)) {
        hart_take_trap(h, (uint64_t)(r - 1), h->fault_tval, false);
        pc = h->pc;
        SYNC();
        NEXT();
    }
    goto generic;
op_step:
    /* one instruction of a page PMP covers only in part: both its halves checked, and
     * nothing of the page kept for the next one */
    h->pc = pc;
    r = fetch(h, &raw);
    h->fetch_vpage = ~0ULL;
    if (!r && (raw & 3) == 3 && ((pc + 2) & 0xfff) != 0) {
        uint64_t pa;
        r = mmu_translate(h, pc + 2, ACC_EXEC, &pa);
        h->fault_tval = pc + 2;
    }
    if (unlikely(r)) {
        hart_take_trap(h, (uint64_t)(r - 1), h->fault_tval, false);
        pc = h->pc;
        SYNC();
        NEXT();
    }
    goto generic;
op_generic:
    h->pc = pc;
    raw = code_raw(cp, pc & 0xfff);
generic:
    if (exec_one(h, raw)) {
        n++;
        goto out_synced;
    }
    pc = h->pc;
    SYNC();
    NEXT();
mem_fault:
    hart_take_trap(h, (uint64_t)(r - 1), h->fault_tval, false);
    pc = h->pc;
    SYNC();
    NEXT();
op_nop:   STEP();
op_fence: __atomic_thread_fence(__ATOMIC_SEQ_CST); STEP();
op_lui:   x[e->rd] = (uint64_t)(int64_t)e->imm; STEP();
op_auipc: x[e->rd] = pc + (uint64_t)(int64_t)e->imm; STEP();
op_jal:   x[e->rd] = pc + e->len; x[0] = 0; pc += (uint64_t)(int64_t)e->imm; NEXT();
op_jalr: {
    uint64_t t = (x[e->rs1] + (uint64_t)(int64_t)e->imm) & ~1ULL;
    x[e->rd] = pc + e->len;
    x[0] = 0;
    pc = t;
    NEXT();
}
op_beq:  BRANCH(x[e->rs1] == x[e->rs2]);
op_bne:  BRANCH(x[e->rs1] != x[e->rs2]);
op_blt:  BRANCH((int64_t)x[e->rs1] < (int64_t)x[e->rs2]);
op_bge:  BRANCH((int64_t)x[e->rs1] >= (int64_t)x[e->rs2]);
op_bltu: BRANCH(x[e->rs1] < x[e->rs2]);
op_bgeu: BRANCH(x[e->rs1] >= x[e->rs2]);
op_lb:  LOADOP(1, uint8_t, (uint64_t)(int64_t)(int8_t)v);
op_lh:  LOADOP(2, uint16_t, (uint64_t)(int64_t)(int16_t)v);
op_lw:  LOADOP(4, uint32_t, (uint64_t)(int64_t)(int32_t)v);
op_ld:  LOADOP(8, uint64_t, v);
op_lbu: LOADOP(1, uint8_t, v);
op_lhu: LOADOP(2, uint16_t, v);
op_lwu: LOADOP(4, uint32_t, v);
op_sb:  STOREOP(1, uint8_t);
op_sh:  STOREOP(2, uint16_t);
op_sw:  STOREOP(4, uint32_t);
op_sd:  STOREOP(8, uint64_t);
op_addi:  x[e->rd] = x[e->rs1] + (uint64_t)(int64_t)e->imm; STEP();
op_slti:  x[e->rd] = (int64_t)x[e->rs1] < (int64_t)e->imm; STEP();
op_sltiu: x[e->rd] = x[e->rs1] < (uint64_t)(int64_t)e->imm; STEP();
op_xori:  x[e->rd] = x[e->rs1] ^ (uint64_t)(int64_t)e->imm; STEP();
op_ori:   x[e->rd] = x[e->rs1] | (uint64_t)(int64_t)e->imm; STEP();
op_andi:  x[e->rd] = x[e->rs1] & (uint64_t)(int64_t)e->imm; STEP();
op_slli:  x[e->rd] = x[e->rs1] << e->imm; STEP();
op_srli:  x[e->rd] = x[e->rs1] >> e->imm; STEP();
op_srai:  x[e->rd] = (uint64_t)((int64_t)x[e->rs1] >> e->imm); STEP();
op_add:   x[e->rd] = x[e->rs1] + x[e->rs2]; STEP();
op_sub:   x[e->rd] = x[e->rs1] - x[e->rs2]; STEP();
op_sll:   x[e->rd] = x[e->rs1] << (x[e->rs2] & 63); STEP();
op_slt:   x[e->rd] = (int64_t)x[e->rs1] < (int64_t)x[e->rs2]; STEP();
op_sltu:  x[e->rd] = x[e->rs1] < x[e->rs2]; STEP();
op_xor:   x[e->rd] = x[e->rs1] ^ x[e->rs2]; STEP();
op_srl:   x[e->rd] = x[e->rs1] >> (x[e->rs2] & 63); STEP();
op_sra:   x[e->rd] = (uint64_t)((int64_t)x[e->rs1] >> (x[e->rs2] & 63)); STEP();
op_or:    x[e->rd] = x[e->rs1] | x[e->rs2]; STEP();
op_and:   x[e->rd] = x[e->rs1] & x[e->rs2]; STEP();
op_addiw: x[e->rd] = (uint64_t)(int64_t)(int32_t)((uint32_t)x[e->rs1] + (uint32_t)e->imm); STEP();
op_slliw: x[e->rd] = (uint64_t)(int64_t)(int32_t)((uint32_t)x[e->rs1] << e->imm); STEP();
op_srliw: x[e->rd] = (uint64_t)(int64_t)(int32_t)((uint32_t)x[e->rs1] >> e->imm); STEP();
op_sraiw: x[e->rd] = (uint64_t)(int64_t)((int32_t)x[e->rs1] >> e->imm); STEP();
op_addw:  x[e->rd] = (uint64_t)(int64_t)(int32_t)((uint32_t)x[e->rs1] + (uint32_t)x[e->rs2]); STEP();
op_subw:  x[e->rd] = (uint64_t)(int64_t)(int32_t)((uint32_t)x[e->rs1] - (uint32_t)x[e->rs2]); STEP();
op_mul:   x[e->rd] = x[e->rs1] * x[e->rs2]; STEP();
op_adduw: x[e->rd] = (uint64_t)(uint32_t)x[e->rs1] + x[e->rs2]; STEP();
op_sh1add: x[e->rd] = (x[e->rs1] << 1) + x[e->rs2]; STEP();
op_sh2add: x[e->rd] = (x[e->rs1] << 2) + x[e->rs2]; STEP();
op_sh3add: x[e->rd] = (x[e->rs1] << 3) + x[e->rs2]; STEP();
op_mulh:  x[e->rd] = mulh((int64_t)x[e->rs1], (int64_t)x[e->rs2]); STEP();
op_mulhu: x[e->rd] = mulhu(x[e->rs1], x[e->rs2]); STEP();
op_div:   x[e->rd] = (uint64_t)div_s((int64_t)x[e->rs1], (int64_t)x[e->rs2]); STEP();
op_divu:  x[e->rd] = x[e->rs2] ? x[e->rs1] / x[e->rs2] : ~0ULL; STEP();
op_rem:   x[e->rd] = (uint64_t)rem_s((int64_t)x[e->rs1], (int64_t)x[e->rs2]); STEP();
op_remu:  x[e->rd] = x[e->rs2] ? x[e->rs1] % x[e->rs2] : x[e->rs1]; STEP();
op_mulw:  x[e->rd] = (uint64_t)(int64_t)(int32_t)((uint32_t)x[e->rs1] * (uint32_t)x[e->rs2]); STEP();
op_divuw: {
    uint32_t a = (uint32_t)x[e->rs1], b = (uint32_t)x[e->rs2];
    x[e->rd] = (uint64_t)(int64_t)(int32_t)(b ? a / b : ~0u);
    STEP();
}
op_remuw: {
    uint32_t a = (uint32_t)x[e->rs1], b = (uint32_t)x[e->rs2];
    x[e->rd] = (uint64_t)(int64_t)(int32_t)(b ? a % b : a);
    STEP();
}
op_orcb:  x[e->rd] = orc_b(x[e->rs1]); STEP();
op_rev8:  x[e->rd] = __builtin_bswap64(x[e->rs1]); STEP();
op_clz:   x[e->rd] = x[e->rs1] ? (uint64_t)__builtin_clzll(x[e->rs1]) : 64; STEP();
op_ctz:   x[e->rd] = x[e->rs1] ? (uint64_t)__builtin_ctzll(x[e->rs1]) : 64; STEP();
op_cpop:  x[e->rd] = (uint64_t)__builtin_popcountll(x[e->rs1]); STEP();
op_andn:  x[e->rd] = x[e->rs1] & ~x[e->rs2]; STEP();
op_minu:  x[e->rd] = x[e->rs1] < x[e->rs2] ? x[e->rs1] : x[e->rs2]; STEP();
op_maxu:  x[e->rd] = x[e->rs1] > x[e->rs2] ? x[e->rs1] : x[e->rs2]; STEP();

out:
    h->pc = pc;
out_synced:
    h->instret += n;
    return n;
#undef NEXT
#undef SYNC
#undef STEP
#undef BRANCH
#undef LOADOP
#undef STOREOP
}
