/* Host physical memory, given out once at boot: the firmware, the image, the device tree and
 * the loaded modules are reserved first; guest slices come from what is left. No freeing. */
#ifndef CORRAL_BM_MEM_H
#define CORRAL_BM_MEM_H

#include <stdint.h>

#define MEM_MAX_RANGES 32
#define MEM_SLICE_ALIGN (2ULL << 20)   /* G-stage maps guest RAM with 2 MiB pages */

/* Marks [base, base+size) as in use; 0, or -ENOSPC when the table is full. */
int mem_reserve(uint64_t base, uint64_t size);
/* 1 if [base, base+size) overlaps anything reserved, else 0. */
int mem_overlaps_reserved(uint64_t base, uint64_t size);
/* A free, 2 MiB-aligned slice of size bytes, now reserved; 0 if none is left. */
uint64_t mem_alloc_slice(uint64_t size);

#endif
