/* The boot-time arena: a bump allocator over a fixed array. Device models are created while
 * VMs are built, before any guest runs; alloc_seal() then closes the arena. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_SIZE (2 * 1024 * 1024)

static uint8_t arena[ARENA_SIZE] __attribute__((aligned(64)));
static size_t used;
static bool sealed;

void *malloc(size_t size)
{
    size_t at = (used + 15) & ~(size_t)15;
    if (sealed || at > ARENA_SIZE || size > ARENA_SIZE - at)
        return NULL;
    used = at + size;
    return arena + at;
}

void *calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void free(void *p)
{
    (void)p;
}

void alloc_seal(void)
{
    sealed = true;
}
