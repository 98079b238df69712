/* Guest accesses to emulated devices: a G-stage fault inside one of the VM's MMIO regions
 * is decoded (from htinst, or from the instruction itself) and served by the device model,
 * then the guest resumes after the instruction. */
#ifndef CORRAL_BM_MMIO_EMUL_H
#define CORRAL_BM_MMIO_EMUL_H

#include "arch/riscv/cpu.h"
#include "core/vm.h"

/* 0: served; -ENOENT: no region at gpa; -EINVAL: not a load or store we can decode;
 * -EFAULT: the device refused it (the guest got an access fault). */
int mmio_emulate(struct cpu *c, struct vcpu *v, uint64_t scause, uint64_t gpa);
/* Delivers exception cause with tval to the guest's VS-mode handler, as a trap taken into
 * VS-mode would (priv spec, H extension, "Traps"). */
void vcpu_inject(struct cpu *c, uint64_t cause, uint64_t tval);

#endif
