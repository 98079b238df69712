/* vCPUs on harts: VS-mode entry with the H-extension CSRs (priv spec, H extension), the guest's
 * traps, and the run queue of each hart. A vCPU's registers are in the hart's struct cpu and
 * its VS CSRs and f registers in the hart while it runs; a hart shared by several vCPUs
 * switches them at the end of a time slice or at a guest's WFI, saving into struct vcpu_ctx. */
#include <errno.h>
#include <string.h>

#include "arch/riscv/csr.h"
#include "arch/riscv/mmio_emul.h"
#include "arch/riscv/sbi_call.h"
#include "arch/riscv/vcpu.h"
#include "core/console_in.h"
#include "core/netswitch.h"
#include "core/platform.h"

/* Guest exceptions the guest handles itself (priv spec, H extension, "Hypervisor Trap
 * Delegation Registers"): misaligned, access faults, illegal instruction, breakpoint, ecall
 * from VU, and its own page faults. */
#define HEDELEG_GUEST 0xb1ffUL
#define HIDELEG_GUEST (1UL << IRQ_VS_SOFT | 1UL << IRQ_VS_TIMER | 1UL << IRQ_VS_EXT)

static const char *const gpf_kind[] = { "fetch", "load", "", "store" };

void vcpu_request(struct vcpu *v, uint32_t req)
{
    __atomic_fetch_or(&v->requests, req, __ATOMIC_ACQ_REL);
    if (v->hart >= 0)
        fw_send_ipi(1, platform.hartid[v->hart]);
}

void vcpu_reset(struct vcpu *v, uint64_t pc, uint64_t a0, uint64_t a1)
{
    memset(&v->ctx, 0, sizeof(v->ctx));
    v->ctx.gpr[10] = a0;
    v->ctx.gpr[11] = a1;
    v->ctx.sepc = pc;
    v->ctx.hstatus = HSTATUS_SPVP;     /* the guest starts in VS-mode (S) */
    v->ctx.vstimecmp = ~0UL;
}

/* The guest's state out of the hart into v (it is not running). */
static void vcpu_save(struct cpu *c, struct vcpu *v)
{
    struct vcpu_ctx *x = &v->ctx;
    memcpy(x->gpr, c->gpr, sizeof(x->gpr));
    x->sepc = csr_read(CSR_SEPC);
    x->hstatus = csr_read(CSR_HSTATUS) & HSTATUS_SPVP;
    x->vsstatus = csr_read(CSR_VSSTATUS);
    x->vsie = csr_read(CSR_VSIE);
    x->vstvec = csr_read(CSR_VSTVEC);
    x->vsscratch = csr_read(CSR_VSSCRATCH);
    x->vsepc = csr_read(CSR_VSEPC);
    x->vscause = csr_read(CSR_VSCAUSE);
    x->vstval = csr_read(CSR_VSTVAL);
    x->vsatp = csr_read(CSR_VSATP);
    x->vstimecmp = platform.sstc ? csr_read(CSR_VSTIMECMP) : ~0UL;
    x->hvip = csr_read(CSR_HVIP);
    fpu_save(x->fpr, &x->fcsr);
    c->cur = NULL;
}

static void sync_eip(struct vcpu *v)
{
    if (__atomic_load_n(&v->seip, __ATOMIC_ACQUIRE))
        csr_set(CSR_HVIP, 1UL << IRQ_VS_EXT);
    else
        csr_clear(CSR_HVIP, 1UL << IRQ_VS_EXT);
}

void vcpu_set_eip(struct vcpu *v, int level)
{
    __atomic_store_n(&v->seip, level, __ATOMIC_RELEASE);
    if (this_cpu()->cur == v)
        sync_eip(v);       /* hvip is this hart's */
    else
        vcpu_request(v, REQ_EIP);
}

/* Requests posted by other harts to the vCPU in the hart. */
static void take_requests(struct vcpu *v)
{
    uint32_t req = __atomic_fetch_and(&v->requests, ~(REQ_SSIP | REQ_STOP | REQ_EIP),
                                      __ATOMIC_ACQ_REL);
    if (req & REQ_SSIP)
        csr_set(CSR_HVIP, 1UL << IRQ_VS_SOFT);
    if (req & REQ_EIP)
        sync_eip(v);
    if (req & REQ_FENCE) {
        hfence_vvma_all();
        __atomic_fetch_and(&v->requests, ~REQ_FENCE, __ATOMIC_RELEASE);
    }
}

/* v's state into the hart, and into the guest (sret with hstatus.SPV set). */
static void vcpu_load(struct cpu *c, struct vcpu *v) __attribute__((noreturn));
static void vcpu_load(struct cpu *c, struct vcpu *v)
{
    struct vcpu_ctx *x = &v->ctx;
    bool shared = c->nrunq > 1;
    csr_write(CSR_HEDELEG, HEDELEG_GUEST);
    csr_write(CSR_HIDELEG, HIDELEG_GUEST);
    csr_write(CSR_HCOUNTEREN, ~0UL);
    csr_write(CSR_HENVCFG, platform.sstc ? ENVCFG_STCE : 0);
    csr_write(CSR_HTIMEDELTA, 0);
    csr_write(CSR_HGATP, gstage_hgatp(&v->vm->gs));
    hfence_gvma_all();
    hfence_vvma_all();   /* hgatp's VMID is this VM's now: drop its VS-stage entries too */
    csr_write(CSR_VSSTATUS, x->vsstatus);
    csr_write(CSR_VSIE, x->vsie);
    csr_write(CSR_VSTVEC, x->vstvec);
    csr_write(CSR_VSSCRATCH, x->vsscratch);
    csr_write(CSR_VSEPC, x->vsepc);
    csr_write(CSR_VSCAUSE, x->vscause);
    csr_write(CSR_VSTVAL, x->vstval);
    csr_write(CSR_VSATP, x->vsatp);
    if (platform.sstc)
        csr_write(CSR_VSTIMECMP, x->vstimecmp);
    csr_write(CSR_HVIP, x->hvip);
    sync_eip(v);
    csr_set(CSR_SSTATUS, 1UL << 13);   /* FS on, to restore f registers */
    fpu_restore(x->fpr, &x->fcsr);

    uint64_t hs = csr_read(CSR_HSTATUS);
    hs &= ~(HSTATUS_VTW | HSTATUS_GVA | HSTATUS_SPVP | (1UL << 20) /* VTVM */ |
            (1UL << 22) /* VTSR */ | (1UL << 9) /* HU */);
    /* on a shared hart a guest's WFI traps, so that the hart goes to another vCPU */
    csr_write(CSR_HSTATUS, hs | HSTATUS_SPV | (x->hstatus & HSTATUS_SPVP) |
                           (shared ? HSTATUS_VTW : 0));
    /* sret goes to the guest's own mode: on a trap from V=1, SPP and hstatus.SPVP both
     * held it (VS = 1, VU = 0), so the saved SPVP gives SPP back */
    csr_clear(CSR_SSTATUS, SSTATUS_SIE | SSTATUS_SPIE | SSTATUS_SPP);
    csr_set(CSR_SSTATUS, x->hstatus & HSTATUS_SPVP ? SSTATUS_SPP : 0);
    csr_write(CSR_SEPC, x->sepc);
    csr_set(CSR_SIE, 1UL << IRQ_S_SOFT);   /* requests from other harts */
    if ((int)c->index == console_input_hart())
        csr_set(CSR_SIE, 1UL << IRQ_S_EXT);  /* console input */
    if (shared) {
        csr_write(CSR_STIMECMP, csr_read(CSR_TIME) + platform.timebase / 1000 * SCHED_SLICE_MS);
        csr_set(CSR_SIE, 1UL << IRQ_S_TIMER);
    } else {
        csr_clear(CSR_SIE, 1UL << IRQ_S_TIMER);
    }
    memcpy(c->gpr, x->gpr, sizeof(c->gpr));
    c->cur = v;
    take_requests(v);
    trap_return(c);
}

/* Whether v can run now; applies a pending HSM start. */
static bool runnable(struct vcpu *v)
{
    if (v->vm->state != VM_RUNNING)
        return false;
    if (v->hsm == SBI_HSM_START_PENDING &&
        (__atomic_fetch_and(&v->requests, ~REQ_START, __ATOMIC_ACQ_REL) & REQ_START)) {
        vcpu_reset(v, v->start_addr, v->id, v->start_arg);
        __atomic_store_n(&v->hsm, SBI_HSM_STARTED, __ATOMIC_RELEASE);
    }
    return v->hsm == SBI_HSM_STARTED;
}

/* vCPUs not in the hart drop their translations when loaded: their fence requests are done
 * as soon as asked. */
static void settle_fences(struct cpu *c)
{
    for (unsigned i = 0; i < c->nrunq; i++)
        if (c->runq[i] != c->cur)
            __atomic_fetch_and(&c->runq[i]->requests, ~REQ_FENCE, __ATOMIC_RELEASE);
}

void sched_run(struct cpu *c)
{
    bool input = (int)c->index == console_input_hart();
    csr_clear(CSR_SSTATUS, SSTATUS_SIE);
    csr_set(CSR_SIE, 1UL << IRQ_S_SOFT | (input ? 1UL << IRQ_S_EXT : 0));
    csr_clear(CSR_SIE, 1UL << IRQ_S_TIMER);
    for (;;) {
        csr_clear(CSR_SIP, 1UL << IRQ_S_SOFT);
        if (input)
            console_input_poll();
        settle_fences(c);
        for (unsigned k = 1; k <= c->nrunq; k++) {
            unsigned i = (c->turn + k) % c->nrunq;
            if (runnable(c->runq[i])) {
                c->turn = i;
                vcpu_load(c, c->runq[i]);
            }
        }
        wfi();
    }
}

static void guest_fault(struct cpu *c, struct vcpu *v, uint64_t scause)
{
    uint64_t gpa = csr_read(CSR_HTVAL) << 2 | (csr_read(CSR_STVAL) & 3);
    const char *kind = gpf_kind[scause - CAUSE_INSN_GPF];
    kprintf("corral-bm: vm %s: vCPU %u: guest %s outside its memory at guest physical 0x%lx, "
            "pc 0x%lx\n", v->vm->name, v->id, kind, gpa, csr_read(CSR_SEPC));
    vm_exit(v->vm, VM_STOPPED, VM_CODE_STOPPED, "access outside its memory");
}

static void undecodable(struct vcpu *v, uint64_t gpa)
{
    kprintf("corral-bm: vm %s: vCPU %u: device access at guest physical 0x%lx by an instruction "
            "that cannot be decoded (htinst 0x%lx), pc 0x%lx\n", v->vm->name, v->id, gpa,
            csr_read(CSR_HTINST), csr_read(CSR_SEPC));
    vm_exit(v->vm, VM_STOPPED, VM_CODE_STOPPED, "undecodable device access");
}


#define INSN_WFI 0x10500073

/* A virtual-instruction trap: WFI on a shared hart (VTW) gives the hart away; anything else
 * is not emulated. True if the vCPU should yield. */
static bool virtual_insn(struct vcpu *v)
{
    uint64_t insn = csr_read(CSR_STVAL);
    if (insn == INSN_WFI) {
        csr_write(CSR_SEPC, csr_read(CSR_SEPC) + 4);
        return true;
    }
    kprintf("corral-bm: vm %s: vCPU %u: virtual instruction 0x%lx at pc 0x%lx\n", v->vm->name,
            v->id, insn, csr_read(CSR_SEPC));
    vm_exit(v->vm, VM_STOPPED, VM_CODE_STOPPED, "instruction not emulated");
    return false;
}

void vcpu_trap(struct cpu *c)
{
    struct vcpu *v = c->cur;
    uint64_t scause = csr_read(CSR_SCAUSE);
    bool yield = false;
    if (scause == (CAUSE_IRQ | IRQ_S_SOFT)) {
        csr_clear(CSR_SIP, 1UL << IRQ_S_SOFT);
        settle_fences(c);
    } else if (scause == (CAUSE_IRQ | IRQ_S_EXT)) {
        console_input_poll();
    } else if (scause == (CAUSE_IRQ | IRQ_S_TIMER)) {
        csr_write(CSR_STIMECMP, ~0UL);   /* the slice is over */
        yield = true;
    } else if (scause == CAUSE_ECALL_VS) {
        csr_write(CSR_SEPC, csr_read(CSR_SEPC) + 4);
        sbi_call(&v->vm->sbi, v->vm, v, c->gpr);
        yield = v->kicked_local;
        v->kicked_local = false;
    } else if (scause == CAUSE_LOAD_GPF || scause == CAUSE_STORE_GPF) {
        uint64_t gpa = csr_read(CSR_HTVAL) << 2 | (csr_read(CSR_STVAL) & 3);
        int err = mmio_emulate(c, v, scause, gpa);
        if (err == -ENOENT)
            guest_fault(c, v, scause);
        else if (err == -EINVAL)
            undecodable(v, gpa);
        netswitch_flush(); /* frames a transmit queued, now that no device lock is held */
    } else if (scause == CAUSE_INSN_GPF) {
        guest_fault(c, v, scause);
    } else if (scause == CAUSE_VIRT_INSN) {
        yield = virtual_insn(v);
    } else {
        kprintf("corral-bm: vm %s: vCPU %u: unhandled trap scause 0x%lx stval 0x%lx pc 0x%lx\n",
                v->vm->name, v->id, scause, csr_read(CSR_STVAL), csr_read(CSR_SEPC));
        vm_exit(v->vm, VM_STOPPED, VM_CODE_STOPPED, "unhandled trap");
    }
    take_requests(v);
    if (v->vm->state != VM_RUNNING || v->hsm != SBI_HSM_STARTED) {
        if (v->vm->state != VM_RUNNING)
            v->hsm = SBI_HSM_STOPPED;
        c->cur = NULL;   /* stopped: its state is not needed again */
        sched_run(c);
    }
    if (yield && c->nrunq > 1) {
        vcpu_save(c, v);
        sched_run(c);
    }
}
