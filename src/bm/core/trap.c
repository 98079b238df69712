/* What a trap into HS-mode means: from a guest (hstatus.SPV), the vCPU's business; from the
 * hypervisor itself, a bug: say where and stop this hart. */
#include "arch/riscv/cpu.h"
#include "arch/riscv/csr.h"
#include "arch/riscv/vcpu.h"
#include "core/console.h"

void trap_handle(struct cpu *c);

void trap_handle(struct cpu *c)
{
    if (csr_read(CSR_HSTATUS) & HSTATUS_SPV) {
        vcpu_trap(c);
        return;
    }
    uint64_t scause = csr_read(CSR_SCAUSE), sepc = csr_read(CSR_SEPC);
    kprintf("corral-bm: hart %lu: unexpected trap in the hypervisor: scause 0x%lx sepc 0x%lx "
            "stval 0x%lx; hart halted\n", c->hartid, scause, sepc, csr_read(CSR_STVAL));
    cpu_idle();
}
