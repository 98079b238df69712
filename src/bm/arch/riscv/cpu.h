/* One physical hart as the hypervisor sees it: its stack, the frame where a trap saves the
 * registers of whatever ran (a guest, or the hypervisor itself), and what it runs. tp holds
 * this hart's struct cpu whenever the hypervisor runs; sscratch holds it while a guest runs. */
#ifndef CORRAL_BM_CPU_H
#define CORRAL_BM_CPU_H

#include "core/limits.h"

/* Shared with the assembly: the frame's offsets. */
#define CPU_STACK_SIZE  (16 * 1024)
#define CPU_OFF_HYP_SP  (32 * 8)

#ifndef __ASSEMBLER__
#include <stdbool.h>
#include <stdint.h>

#include "core/platform.h"

struct vcpu;

struct cpu {
    uint64_t gpr[32];          /* x0..x31 of the trapped context; gpr[0] unused */
    uint64_t hyp_sp;           /* top of this hart's stack: where a trap starts the C code */
    uint64_t sepc, sstatus, hstatus, scause, stval, htval, htinst;
    unsigned index;            /* in platform.hartid[] */
    uint64_t hartid;
    volatile bool up;          /* reached C and installed its trap vector */
    struct vcpu *runq[MAX_VCPUS]; /* the vCPUs this hart runs, in turn (one: dedicated) */
    unsigned nrunq, turn;
    struct vcpu *cur;          /* the vCPU whose state is in the hart, or NULL */
};

_Static_assert(__builtin_offsetof(struct cpu, hyp_sp) == CPU_OFF_HYP_SP, "asm offsets");

extern struct cpu cpus[MAX_HARTS];

static inline struct cpu *this_cpu(void)
{
    struct cpu *c;
    __asm__("mv %0, tp" : "=r"(c));
    return c;
}

/* Sets tp, sscratch and stvec for cpus[index]; called first on every hart. */
void cpu_init(unsigned index, uint64_t hartid);
/* Leaves guest code for good: waits for interrupts with nothing to run. */
void cpu_idle(void) __attribute__((noreturn));

/* entry.S */
void _secondary_entry(void);
void trap_entry(void);
/* Restores c's frame and returns (sret) to what trapped. */
void trap_return(struct cpu *c) __attribute__((noreturn));
#endif

#endif
