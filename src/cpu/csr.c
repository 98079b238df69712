/* Control and status registers of the software hart: access rules (privilege, read-only,
 * counter enables, TVM), WARL masks, and the side effects of writes (TLB flushes).
 * Trap entry and the interpreter live elsewhere. */
#include "cpu/hart.h"

#define SSTATUS_MASK (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_FS | MSTATUS_SUM | \
                      MSTATUS_MXR | (1ULL << 6) | (3ULL << 9) | (3ULL << 15) | MSTATUS_UXL | MSTATUS_SD)
#define MSTATUS_WRITABLE (MSTATUS_SIE | MSTATUS_MIE | MSTATUS_SPIE | MSTATUS_MPIE | MSTATUS_SPP | \
                          MSTATUS_MPP | MSTATUS_FS | MSTATUS_MPRV | MSTATUS_SUM | MSTATUS_MXR | \
                          MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR)
#define SIP_MASK (MIP_SSIP | MIP_STIP | MIP_SEIP)
#define MIP_SW_WRITABLE (MIP_SSIP | MIP_STIP | MIP_SEIP)
#define MIE_MASK (MIP_SSIP | MIP_MSIP | MIP_STIP | MIP_MTIP | MIP_SEIP | MIP_MEIP)
/* Exceptions that may be delegated to S-mode (ecall from M is never delegated). */
#define MEDELEG_MASK 0xb3ffULL

static uint64_t mstatus_with_sd(uint64_t s)
{
    if ((s & MSTATUS_FS) == MSTATUS_FS)
        s |= MSTATUS_SD;
    else
        s &= ~MSTATUS_SD;
    return s;
}

static uint64_t read_mip(struct hart *h)
{
    uint64_t mip = atomic_load_explicit(&h->mip, memory_order_relaxed);
    if (atomic_load_explicit(&h->seip_line, memory_order_relaxed))
        mip |= MIP_SEIP;
    /* Sstc: STIP is time >= stimecmp at this moment, not as the last poll saw it (a guest
     * may read time and then sip within one block) */
    if (h->stimecmp_enabled)
        mip = (mip & ~MIP_STIP) | (h->bus->time(h->bus->ctx) >= h->stimecmp ? MIP_STIP : 0);
    return mip;
}

/* priv spec 3.1.11 (mcounteren) / 4.1.5 (scounteren): counter visibility below M. */
static bool counter_allowed(struct hart *h, unsigned idx)
{
    if (h->priv == PRV_M)
        return true;
    if (!(h->mcounteren & (1ULL << idx)))
        return false;
    if (h->priv == PRV_U && !(h->scounteren & (1ULL << idx)))
        return false;
    return true;
}

static bool stimecmp_allowed(struct hart *h)
{
    if (h->priv == PRV_M)
        return true;
    if (!(h->menvcfg & MENVCFG_STCE))
        return false;
    return h->priv == PRV_S && (h->mcounteren & 2);
}

static int pmp_read(struct hart *h, unsigned csr, uint64_t *val)
{
    if (csr >= 0x3a0 && csr <= 0x3af) {
        if (csr & 1)
            return -1; /* RV64: odd pmpcfg registers do not exist */
        unsigned base = (csr - 0x3a0) * 4;
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
            v |= (uint64_t)h->pmpcfg[base + i] << (8 * i);
        *val = v;
        return 0;
    }
    *val = h->pmpaddr[csr - 0x3b0];
    return 0;
}

static void pmp_recount(struct hart *h)
{
    h->pmp_count = 0;
    for (unsigned i = 0; i < 64; i++)
        if (h->pmpcfg[i] & 0x18)
            h->pmp_count = i + 1;
}

static int pmp_write(struct hart *h, unsigned csr, uint64_t val)
{
    if (csr >= 0x3a0 && csr <= 0x3af) {
        if (csr & 1)
            return -1;
        unsigned base = (csr - 0x3a0) * 4;
        for (int i = 0; i < 8; i++) {
            uint8_t cfg = (uint8_t)(val >> (8 * i));
            if (h->pmpcfg[base + i] & 0x80)
                continue; /* locked */
            cfg &= 0x9f;
            if ((cfg & 3) == 2) /* W without R is reserved: keep it unreadable and unwritable */
                cfg &= ~3;
            h->pmpcfg[base + i] = cfg;
        }
    } else {
        unsigned i = csr - 0x3b0;
        bool next_tor_locked = i + 1 < 64 && (h->pmpcfg[i + 1] & 0x98) == 0x88;
        if ((h->pmpcfg[i] & 0x80) || next_tor_locked)
            return 0;
        h->pmpaddr[i] = val & ((1ULL << 54) - 1);
    }
    pmp_recount(h);
    hart_flush_tlb(h);
    return 0;
}

int csr_read(struct hart *h, unsigned csr, uint64_t *val)
{
    if (((csr >> 8) & 3) > (unsigned)h->priv)
        return -1;
    switch (csr) {
    case 0x001: case 0x002: case 0x003:
        if (!(h->mstatus & MSTATUS_FS))
            return -1;
        *val = csr == 1 ? (h->fcsr & 0x1f) : csr == 2 ? ((h->fcsr >> 5) & 7) : (h->fcsr & 0xff);
        return 0;
    case 0xc00: case 0xc02:
        if (!counter_allowed(h, csr & 0x1f))
            return -1;
        *val = h->instret;
        return 0;
    case 0xc01:
        if (!counter_allowed(h, 1))
            return -1;
        *val = h->bus->time(h->bus->ctx);
        return 0;
    case 0x100: *val = mstatus_with_sd(h->mstatus) & SSTATUS_MASK; return 0;
    case 0x104: *val = h->mie & h->mideleg; return 0;
    case 0x105: *val = h->stvec; return 0;
    case 0x106: *val = h->scounteren; return 0;
    case 0x10a: *val = h->senvcfg; return 0;
    case 0x140: *val = h->sscratch; return 0;
    case 0x141: *val = h->sepc; return 0;
    case 0x142: *val = h->scause; return 0;
    case 0x143: *val = h->stval; return 0;
    case 0x144: *val = read_mip(h) & h->mideleg; return 0;
    case 0x14d:
        if (!stimecmp_allowed(h))
            return -1;
        *val = h->stimecmp;
        return 0;
    case 0x180:
        if (h->priv == PRV_S && (h->mstatus & MSTATUS_TVM))
            return -1;
        *val = h->satp;
        return 0;
    case 0xf11: case 0xf12: case 0xf13: case 0xf15: *val = 0; return 0;
    case 0xf14: *val = h->mhartid; return 0;
    case 0x300: *val = mstatus_with_sd(h->mstatus); return 0;
    case 0x301: *val = h->misa; return 0;
    case 0x302: *val = h->medeleg; return 0;
    case 0x303: *val = h->mideleg; return 0;
    case 0x304: *val = h->mie; return 0;
    case 0x305: *val = h->mtvec; return 0;
    case 0x306: *val = h->mcounteren; return 0;
    case 0x30a: *val = h->menvcfg; return 0;
    case 0x320: *val = h->mcountinhibit; return 0;
    case 0x340: *val = h->mscratch; return 0;
    case 0x341: *val = h->mepc; return 0;
    case 0x342: *val = h->mcause; return 0;
    case 0x343: *val = h->mtval; return 0;
    case 0x344: *val = read_mip(h); return 0;
    case 0x34a: case 0x34b: *val = 0; return 0;
    case 0x747: *val = 0; return 0; /* mseccfg: no Smepmp */
    case 0xb00: case 0xb02: *val = h->instret; return 0;
    default:
        break;
    }
    if ((csr >= 0x3a0 && csr <= 0x3af) || (csr >= 0x3b0 && csr <= 0x3ef))
        return pmp_read(h, csr, val);
    /* Unimplemented hpm counters and events read as zero (priv spec 3.1.10). */
    if ((csr >= 0xb03 && csr <= 0xb1f) || (csr >= 0x323 && csr <= 0x33f)) {
        *val = 0;
        return 0;
    }
    if (csr >= 0xc03 && csr <= 0xc1f) {
        if (!counter_allowed(h, csr & 0x1f))
            return -1;
        *val = 0;
        return 0;
    }
    return -1;
}

static void write_satp(struct hart *h, uint64_t val)
{
    uint64_t mode = val >> 60;
    if (mode != 0 && mode != 8 && mode != 9 && mode != 10)
        return; /* WARL: an unsupported mode leaves satp unchanged (priv spec 4.1.11) */
    h->satp = val & ~(0xffffULL << 44); /* ASID not implemented: reads as zero */
    hart_flush_tlb(h);
}

int csr_write(struct hart *h, unsigned csr, uint64_t val)
{
    if (((csr >> 8) & 3) > (unsigned)h->priv || (csr >> 10) == 3)
        return -1;
    switch (csr) {
    case 0x001: case 0x002: case 0x003:
        if (!(h->mstatus & MSTATUS_FS))
            return -1;
        if (csr == 1)
            h->fcsr = (h->fcsr & ~0x1fu) | (val & 0x1f);
        else if (csr == 2)
            h->fcsr = (h->fcsr & 0x1f) | ((val & 7) << 5);
        else
            h->fcsr = val & 0xff;
        h->mstatus |= MSTATUS_FS;
        return 0;
    case 0x100: {
        uint64_t old = h->mstatus;
        uint64_t m = SSTATUS_MASK & MSTATUS_WRITABLE;
        h->mstatus = (h->mstatus & ~m) | (val & m);
        if ((old ^ h->mstatus) & MSTATUS_MXR)
            hart_flush_tlb(h);
        return 0;
    }
    case 0x104: h->mie = (h->mie & ~h->mideleg) | (val & h->mideleg & MIE_MASK); return 0;
    case 0x105: h->stvec = val & ~2ULL; return 0;
    case 0x106: h->scounteren = val & 0xffffffff; return 0;
    case 0x10a: h->senvcfg = val & 1; return 0;
    case 0x140: h->sscratch = val; return 0;
    case 0x141: h->sepc = val & ~1ULL; return 0;
    case 0x142: h->scause = val; return 0;
    case 0x143: h->stval = val; return 0;
    case 0x144: {
        /* Only SSIP is writable through sip (priv spec 4.1.3). */
        uint64_t m = MIP_SSIP & h->mideleg;
        if (val & m)
            atomic_fetch_or(&h->mip, m);
        else
            atomic_fetch_and(&h->mip, ~m);
        return 0;
    }
    case 0x14d:
        if (!stimecmp_allowed(h))
            return -1;
        h->stimecmp = val;
        h->bus->poll(h->bus->ctx, h);
        return 0;
    case 0x180:
        if (h->priv == PRV_S && (h->mstatus & MSTATUS_TVM))
            return -1;
        write_satp(h, val);
        return 0;
    case 0x300: {
        uint64_t old = h->mstatus;
        h->mstatus = (h->mstatus & ~MSTATUS_WRITABLE) | (val & MSTATUS_WRITABLE);
        if ((h->mstatus & MSTATUS_MPP) == (2ULL << 11))
            h->mstatus &= ~MSTATUS_MPP; /* WARL: MPP=2 is reserved, becomes U */
        if ((old ^ h->mstatus) & (MSTATUS_MXR | MSTATUS_MPRV | MSTATUS_MPP))
            hart_flush_tlb(h);
        return 0;
    }
    case 0x301: return 0; /* misa: WARL, fixed */
    case 0x302: h->medeleg = val & MEDELEG_MASK; return 0;
    case 0x303: h->mideleg = val & (MIP_SSIP | MIP_STIP | MIP_SEIP); return 0;
    case 0x304: h->mie = val & MIE_MASK; return 0;
    case 0x305: h->mtvec = val & ~2ULL; return 0;
    case 0x306: h->mcounteren = val & 0xffffffff; return 0;
    case 0x30a:
        h->menvcfg = val & (MENVCFG_STCE | 1);
        h->stimecmp_enabled = h->sbi_builtin || (h->menvcfg & MENVCFG_STCE);
        h->bus->poll(h->bus->ctx, h);
        return 0;
    case 0x320: h->mcountinhibit = val & 0xfffffffd; return 0;
    case 0x340: h->mscratch = val; return 0;
    case 0x341: h->mepc = val & ~1ULL; return 0;
    case 0x342: h->mcause = val; return 0;
    case 0x343: h->mtval = val; return 0;
    case 0x344: {
        uint64_t m = MIP_SW_WRITABLE;
        if (h->stimecmp_enabled)
            m &= ~MIP_STIP; /* Sstc: STIP follows stimecmp */
        uint64_t cur = atomic_load(&h->mip);
        atomic_fetch_or(&h->mip, val & m);
        atomic_fetch_and(&h->mip, ~(~val & m & cur));
        return 0;
    }
    case 0x34a: case 0x34b: case 0x747: return 0;
    case 0xb00: case 0xb02: h->instret = val; return 0;
    default:
        break;
    }
    if ((csr >= 0x3a0 && csr <= 0x3af) || (csr >= 0x3b0 && csr <= 0x3ef))
        return pmp_write(h, csr, val);
    if ((csr >= 0xb03 && csr <= 0xb1f) || (csr >= 0x323 && csr <= 0x33f))
        return 0;
    return -1;
}
