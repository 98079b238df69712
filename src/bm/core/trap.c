/* What a trap into HS-mode means. A trap from the hypervisor itself is a bug: say where and
 * stop this hart. */
#include "arch/riscv/cpu.h"
#include "arch/riscv/csr.h"
#include "core/console.h"

void trap_handle(struct cpu *c);

void trap_handle(struct cpu *c)
{
    uint64_t scause = csr_read(CSR_SCAUSE), sepc = csr_read(CSR_SEPC);
    kprintf("corral-bm: hart %lu: unexpected trap in the hypervisor: scause 0x%lx sepc 0x%lx "
            "stval 0x%lx; hart halted\n", c->hartid, scause, sepc, csr_read(CSR_STVAL));
    cpu_idle();
}
