/* First fit over a small table of reserved ranges. */
#include <errno.h>

#include "core/mem.h"
#include "core/platform.h"

struct range { uint64_t base, end; };
static struct range reserved[MEM_MAX_RANGES];
static unsigned num_reserved;

int mem_reserve(uint64_t base, uint64_t size)
{
    if (num_reserved == MEM_MAX_RANGES)
        return -ENOSPC;
    uint64_t end = base + size < base ? UINT64_MAX : base + size;
    reserved[num_reserved++] = (struct range){ base, end };
    return 0;
}

int mem_overlaps_reserved(uint64_t base, uint64_t size)
{
    uint64_t end = base + size;
    for (unsigned i = 0; i < num_reserved; i++)
        if (base < reserved[i].end && reserved[i].base < end)
            return 1;
    return 0;
}

uint64_t mem_alloc_slice(uint64_t size)
{
    uint64_t ram_end = platform.mem_base + platform.mem_size;
    uint64_t cand = (platform.mem_base + MEM_SLICE_ALIGN - 1) & ~(MEM_SLICE_ALIGN - 1);
    if (!size || size % MEM_SLICE_ALIGN)
        return 0;
    /* each pass either succeeds or moves past one reserved range */
    for (unsigned pass = 0; pass <= num_reserved; pass++) {
        if (cand >= ram_end || size > ram_end - cand)
            return 0;
        bool moved = false;
        for (unsigned i = 0; i < num_reserved; i++) {
            if (cand < reserved[i].end && reserved[i].base < cand + size) {
                cand = (reserved[i].end + MEM_SLICE_ALIGN - 1) & ~(MEM_SLICE_ALIGN - 1);
                moved = true;
            }
        }
        if (!moved)
            return mem_reserve(cand, size) == 0 ? cand : 0;
    }
    return 0;
}
