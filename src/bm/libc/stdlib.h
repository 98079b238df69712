/* Allocation for the shared device models, built freestanding: calloc and malloc take from
 * a fixed boot-time arena (lib/alloc.c) and fail once boot is over; free gives nothing back. */
#ifndef CORRAL_BM_STDLIB_H
#define CORRAL_BM_STDLIB_H
#include <stddef.h>
void *malloc(size_t size);
void *calloc(size_t n, size_t size);
void free(void *p);
/* After this, malloc and calloc return NULL: nothing is allocated after boot. */
void alloc_seal(void);
#endif
