/* The software hart's life: reset, trap entry with delegation, interrupt selection,
 * WFI, and the run loop that alternates blocks of instructions with board polls.
 * The instructions themselves are run by interp.c, slowpath.c and the translator (jit/). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu/hart.h"
#include "cpu/exec.h"

#define MISA_RV64 (2ULL << 62)
#define MISA_EXT(c) (1ULL << ((c) - 'A'))

void hart_init(struct hart *h, uint64_t hartid, const struct hart_bus *bus)
{
    memset(h, 0, sizeof(*h));
    h->mhartid = hartid;
    h->bus = bus;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* WFI deadlines are monotonic */
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->wake, &attr);
    pthread_condattr_destroy(&attr);
    atomic_store(&h->hsm, HSM_STOPPED);
    hart_reset(h, 0);
    hart_alloc_code(h);
}

void hart_destroy(struct hart *h)
{
    hart_free_code(h);
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->wake);
}

void hart_reset(struct hart *h, uint64_t entry)
{
    bool builtin = h->sbi_builtin;
    memset(h->x, 0, sizeof(h->x));
    memset(h->f, 0, sizeof(h->f));
    h->fcsr = 0;
    h->pc = entry;
    h->priv = PRV_M;
    h->misa = MISA_RV64 | MISA_EXT('I') | MISA_EXT('M') | MISA_EXT('A') | MISA_EXT('F') |
              MISA_EXT('D') | MISA_EXT('C') | MISA_EXT('S') | MISA_EXT('U');
    h->mstatus = (2ULL << 32) | (2ULL << 34); /* UXL = SXL = 64 */
    h->medeleg = h->mideleg = h->mie = h->mtvec = h->mscratch = h->mepc = h->mcause = 0;
    h->mtval = h->mcounteren = h->menvcfg = h->mcountinhibit = 0;
    h->stvec = h->sscratch = h->sepc = h->scause = h->stval = h->satp = 0;
    h->scounteren = h->senvcfg = 0;
    h->stimecmp = UINT64_MAX;
    atomic_store(&h->mip, 0);
    atomic_store(&h->seip_line, 0);
    memset(h->pmpcfg, 0, sizeof(h->pmpcfg));
    memset(h->pmpaddr, 0, sizeof(h->pmpaddr));
    h->pmp_count = 0;
    h->instret = 0;
    h->resv_valid = false;
    h->wfi_pending = false;
    h->sbi_builtin = builtin;
    h->stimecmp_enabled = builtin;
    atomic_store(&h->flush_tlb_req, false);
    hart_flush_tlb(h);
    hart_flush_code(h);
}

void hart_wakeup(struct hart *h)
{
    pthread_mutex_lock(&h->lock);
    pthread_cond_broadcast(&h->wake);
    pthread_mutex_unlock(&h->lock);
}

bool hart_request_start(struct hart *h, uint64_t addr, uint64_t arg)
{
    pthread_mutex_lock(&h->lock);
    bool stopped = atomic_load(&h->hsm) == HSM_STOPPED;
    if (stopped) {
        h->start_addr = addr;
        h->start_arg = arg;
        atomic_store(&h->hsm, HSM_START_PENDING);
        pthread_cond_broadcast(&h->wake);
    }
    pthread_mutex_unlock(&h->lock);
    return stopped;
}

bool hart_take_start(struct hart *h)
{
    pthread_mutex_lock(&h->lock);
    bool pending = atomic_load(&h->hsm) == HSM_START_PENDING;
    uint64_t addr = h->start_addr, arg = h->start_arg;
    pthread_mutex_unlock(&h->lock);
    if (!pending)
        return false;
    if (h->bus->start)
        h->bus->start(h->bus->ctx, h, addr, arg);
    else
        hart_reset(h, addr);
    atomic_store_explicit(&h->hsm, HSM_STARTED, memory_order_release);
    return true;
}

void hart_stop_self(struct hart *h)
{
    atomic_store(&h->hsm, HSM_STOPPED);
}

void hart_set_irq(struct hart *h, uint64_t bit, int level)
{
    if (bit == MIP_SEIP) {
        atomic_store(&h->seip_line, level ? 1 : 0);
    } else if (level) {
        atomic_fetch_or(&h->mip, bit);
    } else {
        atomic_fetch_and(&h->mip, ~bit);
    }
    if (level)
        hart_wakeup(h);
}

static uint64_t pending_irqs(struct hart *h)
{
    uint64_t mip = atomic_load_explicit(&h->mip, memory_order_relaxed);
    if (atomic_load_explicit(&h->seip_line, memory_order_relaxed))
        mip |= MIP_SEIP;
    return mip & h->mie;
}

bool hart_wfi_should_wake(struct hart *h)
{
    return pending_irqs(h) != 0 || atomic_load(&h->stop);
}

void hart_take_trap(struct hart *h, uint64_t cause, uint64_t tval, bool interrupt)
{
    if (unlikely(cause == EXC_RETRY && !interrupt))
        return; /* pc still names the instruction: it runs again */
    uint64_t deleg = interrupt ? h->mideleg : h->medeleg;
    uint64_t mcause = cause | (interrupt ? 1ULL << 63 : 0);
    if (h->priv <= PRV_S && ((deleg >> cause) & 1)) {
        h->scause = mcause;
        h->sepc = h->pc;
        h->stval = tval;
        uint64_t s = h->mstatus;
        s = (s & ~MSTATUS_SPIE) | ((s & MSTATUS_SIE) ? MSTATUS_SPIE : 0);
        s &= ~MSTATUS_SIE;
        s = (s & ~MSTATUS_SPP) | (h->priv == PRV_S ? MSTATUS_SPP : 0);
        h->mstatus = s;
        h->pc = (h->stvec & ~3ULL) + ((interrupt && (h->stvec & 1)) ? 4 * cause : 0);
        h->priv = PRV_S;
    } else {
        h->mcause = mcause;
        h->mepc = h->pc;
        h->mtval = tval;
        uint64_t s = h->mstatus;
        s = (s & ~MSTATUS_MPIE) | ((s & MSTATUS_MIE) ? MSTATUS_MPIE : 0);
        s &= ~MSTATUS_MIE;
        s = (s & ~MSTATUS_MPP) | ((uint64_t)h->priv << 11);
        h->mstatus = s;
        h->pc = (h->mtvec & ~3ULL) + ((interrupt && (h->mtvec & 1)) ? 4 * cause : 0);
        h->priv = PRV_M;
    }
    h->fetch_vpage = ~0ULL;
}

/* priv spec 3.1.9: pick the highest-priority interrupt that is pending, enabled and
 * allowed at the current privilege; returns its cause or -1. */
static int select_interrupt(struct hart *h)
{
    static const int order[] = { 11, 3, 7, 9, 1, 5 };
    uint64_t pend = pending_irqs(h);
    if (!pend)
        return -1;
    uint64_t m_pend = pend & ~h->mideleg;
    uint64_t s_pend = pend & h->mideleg;
    bool m_on = h->priv < PRV_M || (h->mstatus & MSTATUS_MIE);
    bool s_on = h->priv < PRV_S || (h->priv == PRV_S && (h->mstatus & MSTATUS_SIE));
    uint64_t take = (m_on ? m_pend : 0) | (s_on ? s_pend : 0);
    if (!take)
        return -1;
    for (unsigned i = 0; i < ARRAY_SIZE(order); i++)
        if (take & (1ULL << order[i]))
            return order[i];
    return -1;
}

bool hart_check_interrupts(struct hart *h)
{
    int cause = select_interrupt(h);
    if (cause < 0)
        return false;
    h->wfi_pending = false;
    hart_take_trap(h, (uint64_t)cause, 0, true);
    return true;
}

void hart_run(struct hart *h)
{
    while (!atomic_load_explicit(&h->stop, memory_order_relaxed)) {
        if (!hart_started(h)) {
            if (!hart_take_start(h))
                h->bus->wait(h->bus->ctx, h); /* stopped (SBI HSM): sleep until started */
            continue;
        }
        if (atomic_load_explicit(&h->flush_tlb_req, memory_order_acquire)) {
            /* remote sfence.vma or fence.i (SBI RFENCE): both may follow a change to code */
            atomic_store(&h->flush_tlb_req, false);
            hart_flush_tlb(h);
            hart_flush_code(h);
        }
        hart_check_interrupts(h);
        if (h->wfi_pending) {
            if (!hart_wfi_should_wake(h))
                h->bus->wait(h->bus->ctx, h);
            h->bus->poll(h->bus->ctx, h);
            if (hart_wfi_should_wake(h))
                h->wfi_pending = false;
            continue;
        }
        hart_exec_block(h, 16384);
        h->bus->poll(h->bus->ctx, h);
    }
}
