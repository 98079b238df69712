/* Sv39x4: a 41-bit guest physical address; the root has 2048 entries indexed by bits 40:30,
 * the next level 512 entries by bits 29:21; a leaf there maps 2 MiB (priv spec, H extension,
 * "Guest Physical Address Translation"). Plain C: tests/unit/test_bm_gstage.c builds it for
 * the host. */
#include <errno.h>
#include <string.h>

#include "arch/riscv/gstage.h"

#define PTE_V (1UL << 0)
#define PTE_R (1UL << 1)
#define PTE_W (1UL << 2)
#define PTE_X (1UL << 3)
#define PTE_U (1UL << 4)   /* G-stage accesses are all user-level (same section) */
#define PTE_A (1UL << 6)
#define PTE_D (1UL << 7)
#define PTE_PPN_SHIFT 10
#define GPA_BITS 41
#define MEGA (2UL << 20)

void gstage_init(struct gstage *g, uint16_t vmid)
{
    memset(g->root, 0, sizeof(g->root));
    g->used = 0;
    g->vmid = vmid;
}

static uint64_t *next_table(struct gstage *g, uint64_t *slot)
{
    if (*slot & PTE_V)
        return (uint64_t *)((*slot >> PTE_PPN_SHIFT) << 12);
    if (g->used == GSTAGE_POOL)
        return NULL;
    uint64_t *t = g->tables[g->used++];
    memset(t, 0, 4096);
    *slot = ((uint64_t)t >> 12) << PTE_PPN_SHIFT | PTE_V;
    return t;
}

int gstage_map(struct gstage *g, uint64_t gpa, uint64_t hpa, uint64_t size)
{
    if ((gpa | hpa | size) & (MEGA - 1) || gpa >= 1UL << GPA_BITS ||
        size > (1UL << GPA_BITS) - gpa)
        return -EINVAL;
    for (uint64_t off = 0; off < size; off += MEGA) {
        uint64_t a = gpa + off;
        uint64_t *l1 = next_table(g, &g->root[a >> 30]);
        if (!l1)
            return -ENOMEM;
        l1[(a >> 21) & 511] = ((hpa + off) >> 12) << PTE_PPN_SHIFT |
                              PTE_V | PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D;
    }
    return 0;
}

uint64_t gstage_hgatp(const struct gstage *g)
{
    return HGATP_SV39X4 | (uint64_t)g->vmid << 44 | (uint64_t)g->root >> 12;
}

uint64_t gstage_lookup(const struct gstage *g, uint64_t gpa)
{
    if (gpa >= 1UL << GPA_BITS)
        return (uint64_t)-1;
    uint64_t e = g->root[gpa >> 30];
    if (!(e & PTE_V))
        return (uint64_t)-1;
    const uint64_t *l1 = (const uint64_t *)((e >> PTE_PPN_SHIFT) << 12);
    e = l1[(gpa >> 21) & 511];
    if (!(e & PTE_V))
        return (uint64_t)-1;
    return ((e >> PTE_PPN_SHIFT) << 12) + (gpa & (MEGA - 1));
}
