/* SiFive-compatible PLIC (riscv,plic0 / sifive,plic-1.0.0): priorities, pending bits,
 * per-context enables, thresholds, claim/complete. Level-triggered sources. */
#ifndef CORRAL_DEV_PLIC_H
#define CORRAL_DEV_PLIC_H

#include "corral/irq.h"

struct plic;

/* num_sources includes source 0 (which never fires). ctx_out[i] is context i's output
 * (the hart's MEIP or SEIP line); the array is copied. */
struct plic *plic_create(unsigned num_sources, unsigned num_contexts, const struct irq_line *ctx_out);
void plic_destroy(struct plic *p);
void plic_reset(struct plic *p);
int plic_read(void *dev, uint64_t off, unsigned size, uint64_t *val);
int plic_write(void *dev, uint64_t off, unsigned size, uint64_t val);
/* Signature of struct irq_line's set(): a device's line into source `src`. Any thread. */
void plic_set_irq(void *plic, unsigned src, int level);

#endif
