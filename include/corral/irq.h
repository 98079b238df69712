/* An interrupt line: a device raises or lowers it; the board decides where it goes
 * (a PLIC source, or a hart's mip bit). Level-triggered; calling set() with the
 * current level again is harmless. Safe to call from any thread. */
#ifndef CORRAL_IRQ_H
#define CORRAL_IRQ_H

#include "corral/common.h"

struct irq_line {
    void (*set)(void *ctx, unsigned num, int level);
    void *ctx;
    unsigned num;
};

static inline void irq_set(const struct irq_line *l, int level)
{
    if (l && l->set)
        l->set(l->ctx, l->num, level);
}

#endif
