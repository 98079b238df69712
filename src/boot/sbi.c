/* The built-in SBI: each extension is a small function over the caller's a0-a7. Guest-supplied
 * hart masks, hart ids and buffers are checked here before the machine sees them. */
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

/* One call in progress. */
struct call {
    const struct sbi_ops *ops;
    void *ctx, *self;
    uint64_t *x;
};

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

static struct sbi_ret sbi_base(const struct call *c, uint64_t fid)
{
    switch (fid) {
    case 0: return ok(2ULL << 24);        /* spec version 2.0 */
    case 1: return ok(SBI_IMPL_ID);
    case 2: return ok(1);
    case 3: return ok(ext_supported(c->x[A0]));
    case 4: case 5: case 6: return ok(0); /* mvendorid, marchid, mimpid */
    default: return fail(SBI_ERR_NOT_SUPPORTED);
    }
}

/* Calls fn for every hart named by (mask, base); base == -1 means all harts. Checks every
 * named hart before acting on any. */
static int64_t for_harts(const struct call *c, uint64_t mask, uint64_t base,
                         void (*fn)(void *ctx, void *self, unsigned target))
{
    unsigned n = c->ops->num_harts;
    if (base == UINT64_MAX) {
        for (unsigned i = 0; i < n; i++)
            fn(c->ctx, c->self, i);
        return SBI_SUCCESS;
    }
    for (unsigned bit = 0; bit < 64 && mask >> bit; bit++) {
        if (!((mask >> bit) & 1))
            continue;
        if (base + bit >= n || base + bit < base)
            return SBI_ERR_INVALID_PARAM;
    }
    for (unsigned bit = 0; bit < 64 && mask >> bit; bit++)
        if ((mask >> bit) & 1)
            fn(c->ctx, c->self, (unsigned)(base + bit));
    return SBI_SUCCESS;
}

static struct sbi_ret sbi_hsm(const struct call *c, uint64_t fid)
{
    uint64_t id = c->x[A0];
    switch (fid) {
    case 0: /* hart_start(hartid, start_addr, opaque) */
        if (id >= c->ops->num_harts)
            return fail(SBI_ERR_INVALID_PARAM);
        if (!c->ops->mem_ptr(c->ctx, c->self, c->x[A1], 4))
            return fail(SBI_ERR_INVALID_ADDRESS);
        if (!c->ops->hart_start(c->ctx, (unsigned)id, c->x[A1], c->x[A2]))
            return fail(SBI_ERR_ALREADY_AVAILABLE);
        return ok(0);
    case 1: /* hart_stop: the hart stops itself */
        c->ops->hart_stop(c->ctx, c->self);
        return ok(0);
    case 2: /* hart_get_status */
        if (id >= c->ops->num_harts)
            return fail(SBI_ERR_INVALID_PARAM);
        return ok((uint64_t)c->ops->hart_status(c->ctx, (unsigned)id));
    case 3: /* hart_suspend: only the retentive default suspend, which is a WFI */
        if ((uint32_t)c->x[A0] != 0)
            return fail(SBI_ERR_NOT_SUPPORTED);
        c->ops->hart_suspend(c->ctx, c->self);
        return ok(0);
    default:
        return fail(SBI_ERR_NOT_SUPPORTED);
    }
}

static struct sbi_ret sbi_dbcn(const struct call *c, uint64_t fid)
{
    if (fid == 2) {
        uint8_t ch = (uint8_t)c->x[A0];
        c->ops->console_write(c->ctx, &ch, 1);
        return ok(0);
    }
    if (fid != 0 && fid != 1)
        return fail(SBI_ERR_NOT_SUPPORTED);
    uint64_t len = c->x[A0], addr = c->x[A1];
    if (c->x[A2] != 0)
        return fail(SBI_ERR_INVALID_PARAM);
    /* SBI 2.0 12.1: the whole buffer the caller names must be memory, even if less of it is
     * written */
    uint8_t *p = c->ops->mem_ptr(c->ctx, c->self, addr, len);
    if (!p)
        return fail(SBI_ERR_INVALID_PARAM);
    if (len > 4096)
        len = 4096; /* the spec allows a partial write; keeps one call short */
    if (fid == 1)
        return ok(0); /* console input comes through the UART */
    c->ops->console_write(c->ctx, p, len);
    return ok(len);
}

/* SBI PMU (spec chapter 11), enough to describe the three fixed counters cycle, time and
 * instret, which the hart implements as CSRs. Linux's SBI PMU driver then opens the time
 * CSR to user space (scounteren.TM), which the vDSO's clock_gettime needs. Programmable
 * events are not offered. */
static struct sbi_ret sbi_pmu(const struct call *c, uint64_t fid)
{
    switch (fid) {
    case 0: /* number of counters */
        return ok(3);
    case 1: /* counter info: hardware counter, 64 bits wide, read from CSR 0xc00 + idx */
        if (c->x[A0] >= 3)
            return fail(SBI_ERR_INVALID_PARAM);
        return ok(63ULL << 12 | (0xc00 + c->x[A0]));
    case 4: /* stop: the fixed counters always run; nothing was started */
        return ok(0);
    default:
        return fail(SBI_ERR_NOT_SUPPORTED);
    }
}

int sbi_reset_code(uint64_t reason)
{
    if (reason == 0)
        return 0;
    if (reason >= 0xf0000000 && reason <= 0xf00000ff)
        return (int)(reason - 0xf0000000);
    return 1; /* system failure, or a reason we do not know: still a failure */
}

static struct sbi_ret sbi_dispatch(const struct call *c)
{
    uint64_t eid = c->x[A7], fid = c->x[A6];
    switch (eid) {
    case EXT_BASE:
        return sbi_base(c, fid);
    case EXT_TIME:
        if (fid != 0)
            return fail(SBI_ERR_NOT_SUPPORTED);
        c->ops->set_timer(c->ctx, c->self, c->x[A0]);
        return ok(0);
    case EXT_IPI:
        if (fid != 0)
            return fail(SBI_ERR_NOT_SUPPORTED);
        return (struct sbi_ret){ for_harts(c, c->x[A0], c->x[A1], c->ops->send_ipi), 0 };
    case EXT_RFENCE:
        if (fid > 2)
            return fail(SBI_ERR_NOT_SUPPORTED);
        return (struct sbi_ret){ for_harts(c, c->x[A0], c->x[A1], c->ops->remote_fence), 0 };
    case EXT_HSM:
        return sbi_hsm(c, fid);
    case EXT_SRST:
        /* SBI 2.0 10.1: types 0-2; the reasons "none" (0), "system failure" (1) and our
         * vendor-specific exit codes (0xf0000000 + n, n < 256: sbi_reset_code); the others
         * are reserved or ones we do not have */
        if (fid != 0 || (uint32_t)c->x[A0] > 2 ||
            ((uint32_t)c->x[A1] > 1 && ((uint32_t)c->x[A1] < 0xf0000000u ||
                                        (uint32_t)c->x[A1] > 0xf00000ffu)))
            return fail(fid != 0 ? SBI_ERR_NOT_SUPPORTED : SBI_ERR_INVALID_PARAM);
        c->ops->power(c->ctx, c->x[A0] == 0 ? POWER_OFF : POWER_RESET, sbi_reset_code(c->x[A1]));
        return ok(0);
    case EXT_DBCN:
        return sbi_dbcn(c, fid);
    case EXT_PMU:
        return sbi_pmu(c, fid);
    default:
        return fail(SBI_ERR_NOT_SUPPORTED);
    }
}

/* SBI spec 5 (legacy extensions): results in a0 only. */
static bool sbi_legacy(const struct call *c)
{
    switch (c->x[A7]) {
    case 0x00:
        c->ops->set_timer(c->ctx, c->self, c->x[A0]);
        c->x[A0] = 0;
        return true;
    case 0x01: {
        uint8_t ch = (uint8_t)c->x[A0];
        c->ops->console_write(c->ctx, &ch, 1);
        c->x[A0] = 0;
        return true;
    }
    case 0x02:
        c->x[A0] = (uint64_t)-1;
        return true;
    case 0x08:
        c->ops->power(c->ctx, POWER_OFF, 0);
        c->x[A0] = 0;
        return true;
    default:
        return false;
    }
}

void sbi_call(const struct sbi_ops *ops, void *ctx, void *self, uint64_t x[32])
{
    struct call c = { ops, ctx, self, x };
    if (sbi_legacy(&c))
        return;
    struct sbi_ret r = sbi_dispatch(&c);
    x[A0] = (uint64_t)r.error;
    x[A1] = r.value;
}
