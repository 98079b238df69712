/* Builds the virt board's flattened device tree for one VM with libfdt:
 * memory, harts and their ISA strings, timebase, CLINT, PLIC, UART, test device with
 * syscon-poweroff/reboot, virtio-mmio slots, chosen (bootargs, initrd, stdout-path). */
#ifndef CORRAL_MACHINE_FDT_H
#define CORRAL_MACHINE_FDT_H

#include "corral/common.h"

struct fdt_virtio_slot {
    uint64_t base, size;
    unsigned irq;
};

struct fdt_config {
    unsigned num_harts;
    const char *isa;          /* riscv,isa, e.g. "rv64imafdc_zicntr_zicsr_zifencei_zihintpause" */
    const char *mmu_type;     /* e.g. "riscv,sv57" */
    uint64_t ram_base, ram_size;
    uint64_t timebase_hz;
    const char *bootargs;     /* may be NULL */
    uint64_t initrd_start, initrd_end; /* both 0: no initrd */
    unsigned num_virtio;      /* slots to list (all listed slots should exist) */
    struct fdt_virtio_slot virtio[8];
};

/* Writes the DTB into buf. Returns its size, or a negative code (-ENOSPC if too small). */
long fdt_build(const struct fdt_config *cfg, void *buf, size_t bufsize);

#endif
