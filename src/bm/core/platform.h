/* The machine as the device tree describes it: RAM, harts, console UART, PLIC, timer and the
 * virtio-mmio slots. Filled once at boot into fixed tables. */
#ifndef CORRAL_BM_PLATFORM_H
#define CORRAL_BM_PLATFORM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/dt.h"
#include "core/limits.h"


struct mmio_dev { uint64_t base, size; unsigned irq; };

struct platform {
    struct dt dt;
    uint64_t mem_base, mem_size;
    unsigned num_harts;
    uint64_t hartid[MAX_HARTS];
    bool hart_has_h[MAX_HARTS];
    uint32_t intc_phandle[MAX_HARTS]; /* each hart's interrupt-controller node */
    uint64_t timebase;          /* Hz */
    const char *isa;            /* the first hart's riscv,isa and mmu-type, for guests */
    const char *mmu_type;
    bool sstc;                  /* every hart has Sstc (stimecmp, vstimecmp) */
    struct mmio_dev uart;       /* uart.size == 0: none */
    unsigned uart_shift, uart_width;
    struct mmio_dev plic;
    unsigned plic_ndev;
    struct mmio_dev virtio[MAX_VIRTIO];
    unsigned num_virtio;
};

extern struct platform platform;

/* Reads the tree at dtb into platform; 0, or negative with *why naming what is missing. */
int platform_probe(const void *dtb, const char **why);
/* The PLIC context of hart index's S-mode external interrupt (from the PLIC's
 * interrupts-extended), or -1. */
int platform_plic_s_context(unsigned index);
/* platform's index of hartid, or -1. */
int platform_hart_index(uint64_t hartid);

#endif
