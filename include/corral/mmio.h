/* The shape of every memory-mapped device: a region {base, size} with read and write
 * handlers. Offsets are relative to base; size is 1, 2, 4 or 8 bytes. A handler returns
 * 0, or a negative code to make the guest see an access fault. Handlers may be called from
 * any vCPU thread: a device with state shared with other threads locks it itself. */
#ifndef CORRAL_MMIO_H
#define CORRAL_MMIO_H

#include "corral/common.h"

struct mmio_region {
    const char *name;
    uint64_t base;
    uint64_t size;
    void *dev;
    int (*read)(void *dev, uint64_t off, unsigned size, uint64_t *val);
    int (*write)(void *dev, uint64_t off, unsigned size, uint64_t val);
};

#endif
