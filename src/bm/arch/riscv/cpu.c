/* Per-hart setup and the idle loop. */
#include "arch/riscv/cpu.h"
#include "arch/riscv/csr.h"
#include "arch/riscv/gstage.h"

struct cpu cpus[MAX_HARTS];
extern uint8_t bm_stacks[];

void cpu_init(unsigned index, uint64_t hartid)
{
    struct cpu *c = &cpus[index];
    c->index = index;
    c->hartid = hartid;
    c->hyp_sp = (uint64_t)(bm_stacks + (uint64_t)(index + 1) * CPU_STACK_SIZE);
    __asm__ volatile("mv tp, %0" :: "r"(c));
    csr_write(CSR_SSCRATCH, c);
    csr_write(CSR_STVEC, trap_entry);
    __atomic_store_n(&c->up, true, __ATOMIC_RELEASE);
}

void cpu_idle(void)
{
    csr_clear(CSR_SSTATUS, SSTATUS_SIE);
    for (;;)
        wfi();
}

int gstage_supported(void)
{
    csr_write(CSR_HGATP, HGATP_SV39X4);
    int ok = (csr_read(CSR_HGATP) >> 60) == 8;
    csr_write(CSR_HGATP, 0);
    return ok;
}
