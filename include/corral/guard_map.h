/* Host mappings fenced by PROT_NONE guard regions on both sides (guest RAM, the translator's
 * code): an access that runs off either end faults instead of landing in a neighbour. */
#ifndef CORRAL_GUARD_MAP_H
#define CORRAL_GUARD_MAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#define GUARD_SIZE (2u << 20) /* a huge page: keeps what lies inside as aligned as the region */

/* Maps LEN bytes (PROT, FLAGS, FD as for mmap; FD -1 for anonymous) between two guards:
 * the mapping, or NULL. */
static inline void *guard_map(size_t len, int prot, int flags, int fd)
{
    uint8_t *r = mmap(NULL, len + 2 * (size_t)GUARD_SIZE, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED)
        return NULL;
    void *m = mmap(r + GUARD_SIZE, len, prot, flags | MAP_FIXED, fd, 0);
    if (m == MAP_FAILED) {
        munmap(r, len + 2 * (size_t)GUARD_SIZE);
        return NULL;
    }
    return m;
}

/* Unmaps what guard_map(LEN, ...) returned, guards included. */
static inline void guard_unmap(void *p, size_t len)
{
    if (p)
        munmap((uint8_t *)p - GUARD_SIZE, len + 2 * (size_t)GUARD_SIZE);
}

#endif
