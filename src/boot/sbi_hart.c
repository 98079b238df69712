/* The hosted side of the built-in SBI: struct sbi_ops over the software harts of one board.
 * Each call runs on the calling hart's own thread; other harts are reached only through
 * their thread-safe requests (interrupt lines, start requests, flush requests). */
#include <sched.h>

#include "boot/sbi_hart.h"

static struct hart *target_hart(void *ctx, unsigned id)
{
    const struct sbi_host *host = ctx;
    return host->hart(host->ctx, id);
}

static void *mem_ptr(void *ctx, void *self, uint64_t gpa, uint64_t len)
{
    struct hart *h = self;
    return guest_mem_ptr(h->bus->ram, gpa, len);
}

static void set_timer(void *ctx, void *self, uint64_t when)
{
    struct hart *h = self;
    h->stimecmp = when;
    h->bus->poll(h->bus->ctx, h); /* STIP follows the new deadline at once */
}

static void send_ipi(void *ctx, void *self, unsigned target)
{
    hart_set_irq(target_hart(ctx, target), MIP_SSIP, 1);
}

/* A remote fence completes before the call returns (SBI spec 8): wait until the target
 * has flushed, or is asleep (it checks the request before running again). */
static void remote_fence(void *ctx, void *self, unsigned target)
{
    struct hart *t = target_hart(ctx, target);
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

/* The target's own thread applies the start (sbi_start_hart): another thread must not
 * write a hart's registers. */
static bool hart_start(void *ctx, unsigned target, uint64_t addr, uint64_t opaque)
{
    return hart_request_start(target_hart(ctx, target), addr, opaque);
}

static void hart_stop(void *ctx, void *self)
{
    hart_stop_self(self);
}

static enum sbi_hsm_state hart_status(void *ctx, unsigned target)
{
    switch (atomic_load(&target_hart(ctx, target)->hsm)) {
    case HSM_STARTED: return SBI_HSM_STARTED;
    case HSM_START_PENDING: return SBI_HSM_START_PENDING;
    default: return SBI_HSM_STOPPED;
    }
}

static void hart_suspend(void *ctx, void *self)
{
    struct hart *h = self;
    h->wfi_pending = true;
}

static void console_write(void *ctx, const uint8_t *buf, size_t len)
{
    const struct sbi_host *host = ctx;
    host->console_write(host->ctx, buf, len);
}

static void power(void *ctx, enum power_action a, int code)
{
    const struct sbi_host *host = ctx;
    host->power(host->ctx, a, code);
}

static const struct sbi_ops hart_ops = {
    .mem_ptr = mem_ptr, .set_timer = set_timer, .send_ipi = send_ipi,
    .remote_fence = remote_fence, .hart_start = hart_start, .hart_stop = hart_stop,
    .hart_status = hart_status, .hart_suspend = hart_suspend,
    .console_write = console_write, .power = power,
};

void sbi_ecall(const struct sbi_host *host, struct hart *h)
{
    struct sbi_ops ops = hart_ops;
    ops.num_harts = host->num_harts;
    sbi_call(&ops, (void *)host, h, h->x);
}

void sbi_prepare_hart(struct hart *h, uint64_t entry, uint64_t a0, uint64_t a1)
{
    h->sbi_builtin = true;
    hart_reset(h, entry);
    h->priv = PRV_S;
    h->x[10] = a0;
    h->x[11] = a1;
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
