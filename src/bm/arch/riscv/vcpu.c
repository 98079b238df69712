/* A vCPU on its dedicated hart: VS-mode entry with the H-extension CSRs (priv spec chapter 9)
 * and the guest's traps. The guest's registers live in the hart's struct cpu while it runs;
 * its VS CSRs and f registers stay in the hart, which the hypervisor never uses for anything
 * else. */
#include <errno.h>
#include <string.h>

#include "arch/riscv/csr.h"
#include "arch/riscv/mmio_emul.h"
#include "arch/riscv/sbi_call.h"
#include "arch/riscv/vcpu.h"
#include "core/platform.h"

/* Guest exceptions the guest handles itself (priv spec 9.2.2): misaligned, access faults,
 * illegal instruction, breakpoint, ecall from VU, and its own page faults. */
#define HEDELEG_GUEST 0xb1ffUL
#define HIDELEG_GUEST (1UL << IRQ_VS_SOFT | 1UL << IRQ_VS_TIMER | 1UL << IRQ_VS_EXT)

static const char *const gpf_kind[] = { "fetch", "load", "", "store" };

void vcpu_request(struct vcpu *v, uint32_t req)
{
    __atomic_fetch_or(&v->requests, req, __ATOMIC_ACQ_REL);
    if (v->hart >= 0)
        fw_send_ipi(1, platform.hartid[v->hart]);
}

void vcpu_enter(struct cpu *c, struct vcpu *v)
{
    struct vm *vm = v->vm;
    memset(c->gpr, 0, sizeof(c->gpr));
    c->gpr[10] = v->id;
    c->gpr[11] = v->start_arg;
    uint64_t pc = v->start_addr;

    csr_write(CSR_HEDELEG, HEDELEG_GUEST);
    csr_write(CSR_HIDELEG, HIDELEG_GUEST);
    csr_write(CSR_HCOUNTEREN, ~0UL);
    csr_write(CSR_HENVCFG, platform.sstc ? ENVCFG_STCE : 0);
    csr_write(CSR_HTIMEDELTA, 0);
    csr_write(CSR_HVIP, 0);
    csr_write(CSR_HIE, 0);
    csr_write(CSR_VSSTATUS, 0);
    csr_write(CSR_VSIE, 0);
    csr_write(CSR_VSTVEC, 0);
    csr_write(CSR_VSSCRATCH, 0);
    csr_write(CSR_VSATP, 0);
    if (platform.sstc)
        csr_write(CSR_VSTIMECMP, ~0UL);
    csr_write(CSR_HGATP, gstage_hgatp(&vm->gs));
    hfence_gvma_all();
    hfence_vvma_all();

    uint64_t hs = csr_read(CSR_HSTATUS);
    hs &= ~(HSTATUS_VTW | HSTATUS_GVA | (1UL << 20) /* VTVM */ | (1UL << 22) /* VTSR */ |
            (1UL << 9) /* HU */);
    csr_write(CSR_HSTATUS, hs | HSTATUS_SPV | HSTATUS_SPVP);
    /* sret to VS-mode (SPP = S with SPV); FS on so that the guest may turn on its FPU */
    csr_clear(CSR_SSTATUS, SSTATUS_SIE | SSTATUS_SPIE | SSTATUS_FS);
    csr_set(CSR_SSTATUS, SSTATUS_SPP | (1UL << 13));
    csr_write(CSR_SEPC, pc);
    csr_set(CSR_SIE, 1UL << IRQ_S_SOFT);   /* requests from other harts */
    c->vcpu = v;
    __atomic_store_n(&v->hsm, SBI_HSM_STARTED, __ATOMIC_RELEASE);
    trap_return(c);
}

void vcpu_park(struct cpu *c)
{
    struct vcpu *v = c->vcpu;
    csr_clear(CSR_SSTATUS, SSTATUS_SIE);
    csr_set(CSR_SIE, 1UL << IRQ_S_SOFT);
    for (;;) {
        csr_clear(CSR_SIP, 1UL << IRQ_S_SOFT);
        if (v && v->vm->state == VM_RUNNING &&
            (__atomic_fetch_and(&v->requests, ~REQ_START, __ATOMIC_ACQ_REL) & REQ_START))
            vcpu_enter(c, v);
        wfi();
    }
}

/* Requests posted by other harts; true if the vCPU must leave the guest. */
static bool take_requests(struct vcpu *v)
{
    uint32_t req = __atomic_fetch_and(&v->requests, ~(REQ_SSIP | REQ_STOP), __ATOMIC_ACQ_REL);
    if (req & REQ_SSIP)
        csr_set(CSR_HVIP, 1UL << IRQ_VS_SOFT);
    if (req & REQ_FENCE) {
        hfence_vvma_all();
        __atomic_fetch_and(&v->requests, ~REQ_FENCE, __ATOMIC_RELEASE);
    }
    return req & REQ_STOP;
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

void vcpu_trap(struct cpu *c)
{
    struct vcpu *v = c->vcpu;
    uint64_t scause = csr_read(CSR_SCAUSE);
    if (scause == (CAUSE_IRQ | IRQ_S_SOFT)) {
        csr_clear(CSR_SIP, 1UL << IRQ_S_SOFT);
    } else if (scause == CAUSE_ECALL_VS) {
        csr_write(CSR_SEPC, csr_read(CSR_SEPC) + 4);
        sbi_call(&v->vm->sbi, v->vm, v, c->gpr);
    } else if (scause == CAUSE_LOAD_GPF || scause == CAUSE_STORE_GPF) {
        uint64_t gpa = csr_read(CSR_HTVAL) << 2 | (csr_read(CSR_STVAL) & 3);
        int err = mmio_emulate(c, v, scause, gpa);
        if (err == -ENOENT)
            guest_fault(c, v, scause);
        else if (err == -EINVAL)
            undecodable(v, gpa);
    } else if (scause == CAUSE_INSN_GPF) {
        guest_fault(c, v, scause);
    } else {
        kprintf("corral-bm: vm %s: vCPU %u: unhandled trap scause 0x%lx stval 0x%lx pc 0x%lx\n",
                v->vm->name, v->id, scause, csr_read(CSR_STVAL), csr_read(CSR_SEPC));
        vm_exit(v->vm, VM_STOPPED, VM_CODE_STOPPED, "unhandled trap");
    }
    if (take_requests(v) || v->vm->state != VM_RUNNING || v->hsm != SBI_HSM_STARTED) {
        if (v->vm->state != VM_RUNNING)
            v->hsm = SBI_HSM_STOPPED;
        vcpu_park(c);
    }
}
