/* The SBI the guests see: the shared src/boot/sbi.c, over struct sbi_ops for these VMs. The
 * ctx of every call is the calling vCPU's VM, self the vCPU; targets are vCPU ids in it. */
#include "arch/riscv/csr.h"
#include "arch/riscv/vcpu.h"
#include "core/platform.h"
#include "core/vm.h"

static void *mem_ptr(void *ctx, void *self, uint64_t gpa, uint64_t len)
{
    struct vm *vm = ctx;
    return guest_mem_ptr(&vm->mem, gpa, len);
}

/* Runs on the calling vCPU's hart, which holds its vstimecmp while it runs (Sstc). */
static void set_timer(void *ctx, void *self, uint64_t when)
{
    csr_write(CSR_VSTIMECMP, when);
}

static struct vcpu *target(void *ctx, unsigned id)
{
    struct vm *vm = ctx;
    return id < vm->num_vcpus ? &vm->vcpu[id] : NULL;
}

/* A request to a vCPU that waits for this very hart is only seen once the caller gives the
 * hart up: tell vcpu_trap to yield after the call. */
static void note_local(struct vcpu *self, struct vcpu *t)
{
    if (t != self && t->hart == self->hart)
        self->kicked_local = true;
}

static void send_ipi(void *ctx, void *self, unsigned id)
{
    struct vcpu *t = target(ctx, id);
    if (t == self)
        csr_set(CSR_HVIP, 1UL << IRQ_VS_SOFT);
    else if (t && t->hsm == SBI_HSM_STARTED) {
        vcpu_request(t, REQ_SSIP);
        note_local(self, t);
    }
}

static void remote_fence(void *ctx, void *self, unsigned id)
{
    struct vcpu *t = target(ctx, id);
    if (t == self) {
        hfence_vvma_all();
        return;
    }
    if (!t || t->hsm != SBI_HSM_STARTED)
        return; /* a vCPU starts with its translations dropped */
    struct vcpu *me = self;
    if (t->hart == me->hart)
        return; /* it waits for this hart, and drops its translations when loaded */
    vcpu_request(t, REQ_FENCE);
    /* the spec wants it done on return; a hart answers IPIs at once unless it stopped */
    for (unsigned spins = 0; spins < 10000000; spins++)
        if (!(__atomic_load_n(&t->requests, __ATOMIC_ACQUIRE) & REQ_FENCE) ||
            t->hsm != SBI_HSM_STARTED)
            return;
}

static bool hart_start(void *ctx, unsigned id, uint64_t addr, uint64_t opaque)
{
    struct vcpu *t = target(ctx, id);
    int stopped = SBI_HSM_STOPPED;
    if (!t || !__atomic_compare_exchange_n(&t->hsm, &stopped, SBI_HSM_START_PENDING, false,
                                           __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return false;
    t->start_addr = addr;
    t->start_arg = opaque;
    vcpu_request(t, REQ_START);
    return true;   /* the caller may be on t's hart: t starts at the next slice at the latest */
}

static void hart_stop(void *ctx, void *self)
{
    struct vcpu *v = self;
    __atomic_store_n(&v->hsm, SBI_HSM_STOPPED, __ATOMIC_RELEASE); /* vcpu_trap parks it */
}

static enum sbi_hsm_state hart_status(void *ctx, unsigned id)
{
    struct vcpu *t = target(ctx, id);
    return t ? (enum sbi_hsm_state)__atomic_load_n(&t->hsm, __ATOMIC_ACQUIRE) : SBI_HSM_STOPPED;
}

/* A retentive suspend may return early (SBI spec 9.3); the guest's idle loop then waits
 * with its own WFI, which the hart runs in VS-mode. */
static void hart_suspend(void *ctx, void *self)
{
}

/* ctx is the VM here as everywhere: the console is the VM's own line. */
static void vm_console(void *ctx, const uint8_t *buf, size_t len)
{
    vm_console_write(ctx, buf, len);
}

static void power(void *ctx, enum power_action a, int code)
{
    if (a == POWER_OFF)
        vm_exit(ctx, VM_OFF, code, NULL);
    else
        vm_exit(ctx, VM_STOPPED, VM_CODE_STOPPED, "reset requested, which is not supported");
}

const struct sbi_ops vm_sbi_ops = {
    .mem_ptr = mem_ptr, .set_timer = set_timer, .send_ipi = send_ipi,
    .remote_fence = remote_fence, .hart_start = hart_start, .hart_stop = hart_stop,
    .hart_status = hart_status, .hart_suspend = hart_suspend,
    .console_write = vm_console, .power = power,
};
