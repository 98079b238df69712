/* Guest RAM as the device models and loaders see it: one host mapping per VM.
 * Every guest-controlled address goes through guest_mem_ptr(); nothing else indexes RAM. */
#ifndef CORRAL_GUEST_MEM_H
#define CORRAL_GUEST_MEM_H

#include <stdatomic.h>
#include "corral/common.h"

struct guest_mem {
    uint8_t *host;  /* host address of guest physical address `base` */
    uint64_t base;  /* guest physical base (0x80000000 on virt) */
    uint64_t size;  /* bytes */
    /* Bumped before a device writes guest RAM (NULL: nobody watches). A hart compares it at
     * fence.i to know whether code may have changed other than by its own stores. */
    _Atomic uint64_t *dma_epoch;
};

/* A device is about to write guest RAM. */
static inline void guest_mem_dma(const struct guest_mem *m)
{
    if (m->dma_epoch)
        atomic_fetch_add_explicit(m->dma_epoch, 1, memory_order_release);
}

/* Host pointer for [gpa, gpa+len) if the whole range is RAM, else NULL. len 0 is allowed. */
static inline void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
    if (gpa < m->base)
        return NULL;
    uint64_t off = gpa - m->base;
    if (off > m->size || len > m->size - off)
        return NULL;
    return m->host + off;
}

#endif
