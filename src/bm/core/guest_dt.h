/* The device tree a VM's kernel boots with: its harts, its RAM, its command line and
 * initrd. Built by the hypervisor at VM creation, never taken from the host's tree. */
#ifndef CORRAL_BM_GUEST_DT_H
#define CORRAL_BM_GUEST_DT_H

#include "core/vm.h"

/* Writes vm's tree into its RAM below top (guest physical), 8-byte aligned; sets
 * vm->dtb_gpa. 0, or negative if it does not fit. */
int guest_dt_build(struct vm *vm, uint64_t top, uint64_t initrd_gpa, uint64_t initrd_size,
                   uint64_t kernel_end);

#endif
