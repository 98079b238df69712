/* Running a vCPU on the current hart: entering VS-mode, and the guest's traps into HS-mode. */
#ifndef CORRAL_BM_VCPU_H
#define CORRAL_BM_VCPU_H

#include "arch/riscv/cpu.h"
#include "core/vm.h"

/* Enters v on this hart at its start address (never returns: the guest's traps come back
 * through trap_handle()). */
void vcpu_enter(struct cpu *c, struct vcpu *v) __attribute__((noreturn));
/* The hart has nothing to run until v is started (HSM) or the machine stops. */
void vcpu_park(struct cpu *c) __attribute__((noreturn));
/* A trap from the guest that runs on c. Returns to resume it. */
void vcpu_trap(struct cpu *c);
/* Posts req to v's hart and interrupts it (any hart). */
void vcpu_request(struct vcpu *v, uint32_t req);

#endif
