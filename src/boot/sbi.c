/* The built-in SBI: each extension is a small function over the hart's a0-a7.
 * Guest-supplied hart masks and buffers are checked before use. */
#include <sched.h>

#include "boot/sbi.h"

enum {
    SBI_SUCCESS = 0, SBI_ERR_FAILED = -1, SBI_ERR_NOT_SUPPORTED = -2, SBI_ERR_INVALID_PARAM = -3,
    SBI_ERR_INVALID_ADDRESS = -5, SBI_ERR_ALREADY_AVAILABLE = -6,
};

#define EXT_BASE   0x10
#define EXT_TIME   0x54494d45
#define EXT_IPI    0x735049
#define EXT_RFENCE 0x52464e43
#define EXT_HSM    0x48534d
#define EXT_SRST   0x53525354
#define EXT_DBCN   0x4442434e
#define EXT_PMU    0x504d55

enum { A0 = 10, A1, A2, A3, A4, A5, A6, A7 };

struct sbi_ret { int64_t error; uint64_t value; };

static struct sbi_ret ok(uint64_t v) { return (struct sbi_ret){ SBI_SUCCESS, v }; }
static struct sbi_ret fail(int64_t e) { return (struct sbi_ret){ e, 0 }; }

static bool ext_supported(uint64_t eid)
{
    switch (eid) {
    case EXT_BASE: case EXT_TIME: case EXT_IPI: case EXT_RFENCE: case EXT_HSM: case EXT_SRST:
    case EXT_DBCN: case EXT_PMU: case 0x00: case 0x01: case 0x02: case 0x08:
        return true;
    default:
        return false;
    }
}

static struct sbi_ret sbi_base(struct hart *h, uint64_t fid)
{
    switch (fid) {
    case 0: return ok(2ULL << 24);        /* spec version 2.0 */
    case 1: return ok(SBI_IMPL_ID);
    case 2: return ok(1);
    case 3: return ok(ext_supported(h->x[A0]));
    case 4: case 5: case 6: return ok(0); /* mvendorid, marchid, mimpid */
    default: return fail(SBI_ERR_NOT_SUPPORTED);
    }
}

static void set_timer(struct hart *h, uint64_t when)
{
    h->stimecmp = when;
    h->bus->poll(h->bus->ctx, h); /* STIP follows the new deadline at once */
}

/* Calls fn for every hart named by (mask, base); base == -1 means all harts. */
static int64_t for_harts(const struct sbi_host *host, uint64_t mask, uint64_t base,
                         void (*fn)(struct hart *target, struct hart *self), struct hart *self)
{
    if (base == UINT64_MAX) {
        for (unsigned i = 0; i < host->num_harts; i++)
            fn(host->hart(host->ctx, i), self);
        return SBI_SUCCESS;
    }
    for (unsigned bit = 0; bit < 64 && mask >> bit; bit++) {
        if (!((mask >> bit) & 1))
            continue;
        if (base + bit >= host->num_harts || base + bit < base)
            return SBI_ERR_INVALID_PARAM;
    }
    for (unsigned bit = 0; bit < 64 && mask >> bit; bit++)
        if ((mask >> bit) & 1)
            fn(host->hart(host->ctx, (unsigned)(base + bit)), self);
    return SBI_SUCCESS;
}

static void send_ipi(struct hart *t, struct hart *self)
{
    (void)self;
    hart_set_irq(t, MIP_SSIP, 1);
}

/* A remote fence completes before the call returns (SBI spec 8): wait until the target
 * has flushed, or is asleep (it checks the request before running again). */
static void remote_fence(struct hart *t, struct hart *self)
{
    if (t == self) {
        hart_flush_tlb(t);
        return;
    }
    if (!hart_started(t))
        return; /* a hart flushes everything when it starts */
    atomic_store_explicit(&t->flush_tlb_req, true, memory_order_release);
    for (int spins = 0; spins < 100000; spins++) {
        if (!atomic_load(&t->flush_tlb_req) || atomic_load(&t->sleeping) || !hart_started(t))
            return;
        sched_yield();
    }
}

static struct sbi_ret sbi_hsm(const struct sbi_host *host, struct hart *h, uint64_t fid)
{
    uint64_t id = h->x[A0];
    switch (fid) {
    case 0: /* hart_start(hartid, start_addr, opaque) */
        if (id >= host->num_harts)
            return fail(SBI_ERR_INVALID_PARAM);
        if (!guest_mem_ptr(h->bus->ram, h->x[A1], 4))
            return fail(SBI_ERR_INVALID_ADDRESS);
        /* the target's own thread applies it (sbi_start_hart): another thread must not
         * write a hart's registers */
        if (!hart_request_start(host->hart(host->ctx, (unsigned)id), h->x[A1], h->x[A2]))
            return fail(SBI_ERR_ALREADY_AVAILABLE);
        return ok(0);
    case 1: /* hart_stop: the hart stops itself */
        hart_stop_self(h);
        return ok(0);
    case 2: /* hart_get_status */
        if (id >= host->num_harts)
            return fail(SBI_ERR_INVALID_PARAM);
        return ok((uint64_t)atomic_load(&host->hart(host->ctx, (unsigned)id)->hsm));
    case 3: /* hart_suspend: only the retentive default suspend, which is a WFI */
        if ((uint32_t)h->x[A0] != 0)
            return fail(SBI_ERR_NOT_SUPPORTED);
        h->wfi_pending = true;
        return ok(0);
    default:
        return fail(SBI_ERR_NOT_SUPPORTED);
    }
}

static struct sbi_ret sbi_dbcn(const struct sbi_host *host, struct hart *h, uint64_t fid)
{
    if (fid == 2) {
        uint8_t c = (uint8_t)h->x[A0];
        host->console_write(host->ctx, &c, 1);
        return ok(0);
    }
    if (fid != 0 && fid != 1)
        return fail(SBI_ERR_NOT_SUPPORTED);
    uint64_t len = h->x[A0], addr = h->x[A1];
    if (h->x[A2] != 0)
        return fail(SBI_ERR_INVALID_PARAM);
    /* SBI 2.0 12.1: the whole buffer the caller names must be memory, even if less of it is
     * written */
    uint8_t *p = guest_mem_ptr(h->bus->ram, addr, len);
    if (!p)
        return fail(SBI_ERR_INVALID_PARAM);
    if (len > 4096)
        len = 4096; /* the spec allows a partial write; keeps one call short */
    if (fid == 1)
        return ok(0); /* console input comes through the UART */
    host->console_write(host->ctx, p, len);
    return ok(len);
}

/* SBI PMU (spec chapter 11), enough to describe the three fixed counters cycle, time and
 * instret, which the hart implements as CSRs. Linux's SBI PMU driver then opens the time
 * CSR to user space (scounteren.TM), which the vDSO's clock_gettime needs. Programmable
 * events are not offered. */
static struct sbi_ret sbi_pmu(struct hart *h, uint64_t fid)
{
    switch (fid) {
    case 0: /* number of counters */
        return ok(3);
    case 1: /* counter info: hardware counter, 64 bits wide, read from CSR 0xc00 + idx */
        if (h->x[A0] >= 3)
            return fail(SBI_ERR_INVALID_PARAM);
        return ok(63ULL << 12 | (0xc00 + h->x[A0]));
    case 4: /* stop: the fixed counters always run; nothing was started */
        return ok(0);
    default:
        return fail(SBI_ERR_NOT_SUPPORTED);
    }
}

static struct sbi_ret sbi_dispatch(const struct sbi_host *host, struct hart *h)
{
    uint64_t eid = h->x[A7], fid = h->x[A6];
    switch (eid) {
    case EXT_BASE:
        return sbi_base(h, fid);
    case EXT_TIME:
        if (fid != 0)
            return fail(SBI_ERR_NOT_SUPPORTED);
        set_timer(h, h->x[A0]);
        return ok(0);
    case EXT_IPI:
        if (fid != 0)
            return fail(SBI_ERR_NOT_SUPPORTED);
        return (struct sbi_ret){ for_harts(host, h->x[A0], h->x[A1], send_ipi, h), 0 };
    case EXT_RFENCE:
        if (fid > 2)
            return fail(SBI_ERR_NOT_SUPPORTED);
        return (struct sbi_ret){ for_harts(host, h->x[A0], h->x[A1], remote_fence, h), 0 };
    case EXT_HSM:
        return sbi_hsm(host, h, fid);
    case EXT_SRST:
        /* SBI 2.0 10.1: types 0-2 and the reasons "none" (0) and "system failure" (1); the
         * others are reserved or platform-specific ones we do not have */
        if (fid != 0 || (uint32_t)h->x[A0] > 2 || (uint32_t)h->x[A1] > 1)
            return fail(fid != 0 ? SBI_ERR_NOT_SUPPORTED : SBI_ERR_INVALID_PARAM);
        host->power(host->ctx, h->x[A0] == 0 ? POWER_OFF : POWER_RESET, 0);
        return ok(0);
    case EXT_DBCN:
        return sbi_dbcn(host, h, fid);
    case EXT_PMU:
        return sbi_pmu(h, fid);
    default:
        return fail(SBI_ERR_NOT_SUPPORTED);
    }
}

/* SBI spec 5 (legacy extensions): results in a0 only. */
static bool sbi_legacy(const struct sbi_host *host, struct hart *h)
{
    switch (h->x[A7]) {
    case 0x00:
        set_timer(h, h->x[A0]);
        h->x[A0] = 0;
        return true;
    case 0x01: {
        uint8_t c = (uint8_t)h->x[A0];
        host->console_write(host->ctx, &c, 1);
        h->x[A0] = 0;
        return true;
    }
    case 0x02:
        h->x[A0] = (uint64_t)-1;
        return true;
    case 0x08:
        host->power(host->ctx, POWER_OFF, 0);
        h->x[A0] = 0;
        return true;
    default:
        return false;
    }
}

void sbi_prepare_hart(struct hart *h, uint64_t entry, uint64_t a0, uint64_t a1)
{
    h->sbi_builtin = true;
    hart_reset(h, entry);
    h->priv = PRV_S;
    h->x[A0] = a0;
    h->x[A1] = a1;
    h->pmpaddr[0] = ~0ULL >> 10;
    h->pmpcfg[0] = 0x1f; /* NAPOT, RWX: all of memory */
    h->pmp_count = 1;
    h->medeleg = 0xb1ff; /* misaligned, access and page faults, illegal, breakpoint, ecall from U */
    h->mideleg = MIP_SSIP | MIP_STIP | MIP_SEIP;
    h->mcounteren = 7;
    h->menvcfg = MENVCFG_STCE;
}

void sbi_start_hart(struct hart *h, uint64_t entry, uint64_t opaque)
{
    sbi_prepare_hart(h, entry, h->mhartid, opaque);
}

void sbi_ecall(const struct sbi_host *host, struct hart *h)
{
    if (sbi_legacy(host, h))
        return;
    struct sbi_ret r = sbi_dispatch(host, h);
    h->x[A0] = (uint64_t)r.error;
    h->x[A1] = r.value;
}
