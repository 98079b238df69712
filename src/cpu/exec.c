/* The interpreter's inner loop: fetch (with a per-page fast path), decode and execute
 * RV64IMAFDC, Zicsr, Zifencei, Zba/Zbb/Zbs and the privileged instructions.
 * Hot path: dense on purpose, one function, so the compiler keeps state in registers. */
#include <stdlib.h>
#include <string.h>

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

static inline int tlb_mode(const struct hart *h) { return h->priv == PRV_M ? 2 : h->priv; }

/* TLB hit for a data access that stays inside one page, or NULL (then take the slow path). */
static inline uint8_t *tlb_hit(struct hart *h, uint64_t va, unsigned size, enum access_type t)
{
    if (unlikely(h->priv == PRV_M && (h->mstatus & MSTATUS_MPRV)))
        return NULL;
    int m = tlb_mode(h);
    uint64_t vpn = va >> 12;
    struct tlb_entry *e = &h->tlb[m][t][vpn % TLB_SIZE];
    if (likely(e->tag == ((va & ~0xfffULL) | h->tlb_gen) && e->host && (va & 0xfff) + size <= 0x1000)) {
        if (unlikely(e->user && m == PRV_S && !(h->mstatus & MSTATUS_SUM)))
            return NULL;
        return e->host + (va & 0xfff);
    }
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

/* Fetches the parcel at pc. Returns 0 with *insn (32-bit, or 16-bit in the low half),
 * or a cause + 1 with h->fault_tval set. */
static inline int fetch(struct hart *h, uint32_t *insn)
{
    uint64_t pc = h->pc;
    uint16_t lo, hi;
    if (likely((pc & ~0xfffULL) == h->fetch_vpage)) {
        unsigned off = pc & 0xfff;
        memcpy(&lo, h->fetch_host + off, 2);
        if ((lo & 3) != 3) {
            *insn = lo;
            return 0;
        }
        if (likely(off <= 0xffc)) {
            memcpy(&hi, h->fetch_host + off + 2, 2);
            *insn = lo | ((uint32_t)hi << 16);
            return 0;
        }
    }
    int cause = 0;
    uint8_t *p = mmu_translate_ram(h, pc, ACC_EXEC, &cause);
    if (!p) {
        h->fault_tval = pc;
        return (cause < 0 ? EXC_INSN_ACCESS : cause) + 1;
    }
    h->fetch_vpage = pc & ~0xfffULL;
    h->fetch_host = p - (pc & 0xfff);
    memcpy(&lo, p, 2);
    if ((lo & 3) != 3) {
        *insn = lo;
        return 0;
    }
    uint64_t pc2 = pc + 2;
    if ((pc2 & 0xfff) == 0) {
        uint8_t *q = mmu_translate_ram(h, pc2, ACC_EXEC, &cause);
        if (!q) {
            h->fault_tval = pc2;
            return (cause < 0 ? EXC_INSN_ACCESS : cause) + 1;
        }
        memcpy(&hi, q, 2);
        h->fetch_vpage = ~0ULL; /* the fast path must not read across the page */
    } else {
        memcpy(&hi, p + 2, 2);
    }
    *insn = lo | ((uint32_t)hi << 16);
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
    if (f5 == 0x02) { /* lr */
        uint8_t *p = mmu_translate_ram(h, va, ACC_READ, &cause);
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
    uint8_t *p = mmu_translate_ram(h, va, ACC_WRITE, &cause);
    if (!p) {
        h->fault_tval = va;
        return (cause < 0 ? EXC_STORE_ACCESS : cause) + 1;
    }
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
        hart_flush_tlb(h);
        return SYS_NEXT;
    }
    return SYS_ILLEGAL;
}

static inline bool fp_enabled(const struct hart *h) { return (h->mstatus & MSTATUS_FS) != 0; }

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
                h->fetch_vpage = ~0ULL;
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
 * Decoded instructions are memoised in a per-hart table indexed by pc. An entry is valid
 * for as long as its raw bits match what is in memory now, so the table needs no
 * invalidation on stores, DMA or fence.i: a changed instruction simply misses.
 * Each handler ends in its own indirect jump (threaded code), which the host's branch
 * predictor handles far better than one central switch. Rare instructions go to exec_one. */

enum fast_op {
    F_DECODE = 0, F_GENERIC, F_NOP, F_LUI, F_AUIPC, F_JAL, F_JALR,
    F_BEQ, F_BNE, F_BLT, F_BGE, F_BLTU, F_BGEU,
    F_LB, F_LH, F_LW, F_LD, F_LBU, F_LHU, F_LWU, F_SB, F_SH, F_SW, F_SD,
    F_ADDI, F_SLTI, F_SLTIU, F_XORI, F_ORI, F_ANDI, F_SLLI, F_SRLI, F_SRAI,
    F_ADD, F_SUB, F_SLL, F_SLT, F_SLTU, F_XOR, F_SRL, F_SRA, F_OR, F_AND,
    F_ADDIW, F_SLLIW, F_SRLIW, F_SRAIW, F_ADDW, F_SUBW, F_MUL, F_ADDUW, F_SH1ADD, F_SH2ADD, F_SH3ADD,
    F_MULH, F_MULHU, F_DIV, F_DIVU, F_REM, F_REMU, F_MULW, F_DIVUW, F_REMUW, F_ORCB, F_REV8,
    F_CLZ, F_CTZ, F_CPOP, F_ANDN, F_MINU, F_MAXU,
    F_COUNT
};

struct dentry {
    uint32_t raw;
    uint8_t op, rd, rs1, rs2;
    int32_t imm;
    uint32_t len;
};

#define DCACHE_ENTRIES 65536

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
        return f3 == 0 ? F_NOP : F_GENERIC; /* fence: memory is already ordered for one hart */
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

static void decode_entry(struct dentry *e, uint32_t raw)
{
    uint32_t insn = raw;
    e->raw = raw;
    e->len = 4;
    if ((raw & 3) != 3) {
        e->len = 2;
        insn = rvc_table[raw & 0xffff];
    }
    int32_t imm = 0;
    uint8_t op = insn ? decode_op(insn, &imm) : F_GENERIC;
    if (op_writes_rd_only(op) && RD == 0)
        op = F_NOP;
    e->op = op;
    e->rd = RD;
    e->rs1 = RS1;
    e->rs2 = RS2;
    e->imm = imm;
}

unsigned hart_exec_block(struct hart *h, unsigned max)
{
    static void *const labels[F_COUNT] = {
        [F_DECODE] = &&do_decode, [F_GENERIC] = &&op_generic, [F_NOP] = &&op_nop,
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
        [F_MAXU] = &&op_maxu,
    };
    pthread_once(&rvc_once, rvc_table_init);
    if (unlikely(!h->dcache)) {
        h->dcache = calloc(DCACHE_ENTRIES, sizeof(struct dentry));
        if (!h->dcache)
            return 0;
    }
    struct dentry *dc = h->dcache, *e;
    uint64_t *x = h->x;
    uint64_t pc = h->pc;
    unsigned n = 0;
    uint32_t raw;
    uint64_t v;
    int r;

#define NEXT()     do { if (unlikely(++n >= max)) goto out; goto next; } while (0)
#define STEP()     do { pc += e->len; NEXT(); } while (0)
#define BRANCH(c)  do { pc = (c) ? pc + (uint64_t)(int64_t)e->imm : pc + e->len; NEXT(); } while (0)
#define LOADOP(sz, T, ext) do { uint64_t va = x[e->rs1] + (uint64_t)(int64_t)e->imm; \
        uint8_t *p = tlb_hit(h, va, sz, ACC_READ); \
        if (likely(p != NULL)) { T t; memcpy(&t, p, sz); v = t; } \
        else { h->pc = pc; r = mmu_load(h, va, sz, &v); if (unlikely(r)) goto mem_fault; } \
        x[e->rd] = ext; STEP(); } while (0)
#define STOREOP(sz, T) do { uint64_t va = x[e->rs1] + (uint64_t)(int64_t)e->imm; \
        uint8_t *p = tlb_hit(h, va, sz, ACC_WRITE); \
        if (likely(p != NULL)) { T t = (T)x[e->rs2]; memcpy(p, &t, sz); } \
        else { h->pc = pc; r = mmu_store(h, va, sz, x[e->rs2]); if (unlikely(r)) goto mem_fault; } \
        STEP(); } while (0)

next:
    if (likely((pc & ~0xfffULL) == h->fetch_vpage)) {
        unsigned off = pc & 0xfff;
        uint16_t lo;
        memcpy(&lo, h->fetch_host + off, 2);
        if ((lo & 3) != 3) {
            raw = lo;
        } else if (likely(off <= 0xffc)) {
            memcpy(&raw, h->fetch_host + off, 4);
        } else {
            goto slow_fetch;
        }
    } else {
    slow_fetch:
        h->pc = pc;
        r = fetch(h, &raw);
        if (unlikely(r)) {
            hart_take_trap(h, (uint64_t)(r - 1), h->fault_tval, false);
            pc = h->pc;
            NEXT();
        }
    }
    e = &dc[(pc >> 1) % DCACHE_ENTRIES];
    if (unlikely(e->raw != raw || e->op == F_DECODE))
        decode_entry(e, raw);
    goto *labels[e->op];

do_decode:
    decode_entry(e, raw);
    goto *labels[e->op];
op_generic:
    h->pc = pc;
    if (exec_one(h, raw)) {
        n++;
        goto out_synced;
    }
    pc = h->pc;
    NEXT();
mem_fault:
    hart_take_trap(h, (uint64_t)(r - 1), h->fault_tval, false);
    pc = h->pc;
    NEXT();

op_nop:   STEP();
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
#undef STEP
#undef BRANCH
#undef LOADOP
#undef STOREOP
}
