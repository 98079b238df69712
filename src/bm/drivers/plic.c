/* PLIC registers (RISC-V PLIC specification 1.0.0, as on QEMU virt and SiFive parts):
 * priorities at 4 * src, enables at 0x2000 + 0x80 * context, threshold and claim/complete
 * at 0x200000 + 0x1000 * context. */
#include "drivers/plic.h"

#define ENABLE(c)    (0x2000UL + 0x80UL * (c))
#define THRESHOLD(c) (0x200000UL + 0x1000UL * (c))
#define CLAIM(c)     (0x200004UL + 0x1000UL * (c))

static void w32(struct phys_plic *p, uintptr_t off, uint32_t v)
{
    *(volatile uint32_t *)(p->base + off) = v;
}

void phys_plic_route(struct phys_plic *p, unsigned src, unsigned num_sources)
{
    for (unsigned word = 0; word * 32 <= num_sources; word++)
        w32(p, ENABLE(p->context) + 4 * word, word == src / 32 ? 1u << (src % 32) : 0);
    w32(p, 4UL * src, 1);
    w32(p, THRESHOLD(p->context), 0);
}

void phys_plic_enable(struct phys_plic *p, unsigned src)
{
    volatile uint32_t *en = (volatile uint32_t *)(p->base + ENABLE(p->context) + 4 * (src / 32));
    *en |= 1u << (src % 32);
    w32(p, 4UL * src, 1);
}

unsigned phys_plic_claim(struct phys_plic *p)
{
    return *(volatile uint32_t *)(p->base + CLAIM(p->context));
}

void phys_plic_complete(struct phys_plic *p, unsigned src)
{
    w32(p, CLAIM(p->context), src);
}
