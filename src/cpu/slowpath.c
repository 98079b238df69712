/* The slow path (see slowpath.h): fetch through the MMU, then one big switch over RV64IMAFDC,
 * Zicsr, Zifencei, Zba/Zbb/Zbs and the privileged instructions. */
#include "cpu/slowpath.h"

#include "cpu/alu.h"
#include "cpu/decode.h"
#include "cpu/fpu.h"
#include "cpu/tlb.h"

int fetch_insn(struct hart *h, uint32_t *insn)
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
        if (insn >> 25 & 1)
            __atomic_thread_fence(__ATOMIC_SEQ_CST); /* lr.rl: no earlier store passes it */
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
        /* priv spec 3.1.9: a read of mip sees SEIP as the software bit OR the interrupt
         * controller's line, but only the software bit takes part in csrrs/csrrc */
        uint64_t base = csr != 0x344 ? old
                        : (old & ~MIP_SEIP) | (atomic_load_explicit(&h->mip, memory_order_relaxed) & MIP_SEIP);
        uint64_t nv = (f3 & 3) == 1 ? src : (f3 & 3) == 2 ? (base | src) : (base & ~src);
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

/* Executes one fetched instruction (raw: 32-bit, or 16-bit in the low half) at h->pc:
 * the general path, for everything the fast loop below does not handle itself.
 * Returns true when the block must end (CSR write, xRET, WFI, illegal instruction). */
bool exec_one(struct hart *h, uint32_t raw)
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
                /* an access to fflags, frm or fcsr, or a read of cycle, time or instret,
                 * changes no interrupt state and waits for none: the block goes on (glibc
                 * brackets quiet compares with frflags and fsflags, so FP code does this in
                 * its inner loops). Other reads still end it: a guest polling mip for a
                 * timer sees it at the block's end. */
                unsigned csr = insn >> 20;
                if (F3 != 0 && (csr <= 3 || ((F3 & 3) != 1 && RS1 == 0 && csr >= 0xc00 && csr <= 0xc02)))
                    return false;
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
