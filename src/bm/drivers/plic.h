/* The machine's PLIC, as the hypervisor drives it for its own devices (the console UART):
 * one source routed to one hart's S-mode context. Not the PLIC guests see (src/dev/plic.c). */
#ifndef CORRAL_BM_DRIVERS_PLIC_H
#define CORRAL_BM_DRIVERS_PLIC_H

#include <stdint.h>

struct phys_plic {
    uintptr_t base;
    unsigned context;   /* the S-mode context of the hart that takes the interrupts */
};

/* Enables source src (priority 1) for context, every other source of it masked. */
void phys_plic_route(struct phys_plic *p, unsigned src, unsigned num_sources);
/* Enables one more source (priority 1) for the context, the others as they are. */
void phys_plic_enable(struct phys_plic *p, unsigned src);
/* The next pending source for the context (0: none); complete it when served. */
unsigned phys_plic_claim(struct phys_plic *p);
void phys_plic_complete(struct phys_plic *p, unsigned src);

#endif
