/* Running vCPUs on the current hart: VS-mode entry, the guest's traps into HS-mode, and the
 * time-slice scheduler of a hart shared by several vCPUs. */
#ifndef CORRAL_BM_VCPU_H
#define CORRAL_BM_VCPU_H

#include "arch/riscv/cpu.h"
#include "core/vm.h"

#define SCHED_SLICE_MS 10

/* Sets v's saved state to a fresh start at pc with a0, a1 (SBI boot and HSM start). */
void vcpu_reset(struct vcpu *v, uint64_t pc, uint64_t a0, uint64_t a1);
/* Runs the next runnable vCPU of c's run queue, or waits for one (never returns). */
void sched_run(struct cpu *c) __attribute__((noreturn));
/* A trap from the guest that runs on c. Returns to resume it. */
void vcpu_trap(struct cpu *c);
/* The level of v's virtual external interrupt (hvip.VSEIP), from any hart. */
void vcpu_set_eip(struct vcpu *v, int level);
/* Posts req to v's hart and interrupts it (any hart). */
void vcpu_request(struct vcpu *v, uint32_t req);

/* fpu.S: the guest's f registers and fcsr (the hypervisor itself has no FPU code) */
void fpu_save(uint64_t *fpr, uint64_t *fcsr);
void fpu_restore(const uint64_t *fpr, const uint64_t *fcsr);

#endif
