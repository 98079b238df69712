/* ACLINT MSWI and MTIMER in the SiFive CLINT layout. mtime is the board's free-running
 * timebase plus an offset the guest may write; MTIP is a level: mtime >= mtimecmp. */
#include <stdatomic.h>
#include <stdlib.h>

#include "dev/aclint.h"

#define MSIP_BASE     0x0000
#define MTIMECMP_BASE 0x4000
#define MTIME_OFF     0xbff8

struct aclint {
    unsigned num_harts;
    uint64_t (*now)(void *ctx);
    void *now_ctx;
    _Atomic uint64_t offset;
    _Atomic uint64_t *mtimecmp;
    _Atomic uint32_t *msip;
    struct irq_line *mtip_line, *msip_line;
};

struct aclint *aclint_create(unsigned num_harts, uint64_t (*now)(void *ctx), void *now_ctx,
                             const struct irq_line *mtip, const struct irq_line *msip)
{
    struct aclint *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->num_harts = num_harts;
    a->now = now;
    a->now_ctx = now_ctx;
    a->mtimecmp = calloc(num_harts, sizeof(*a->mtimecmp));
    a->msip = calloc(num_harts, sizeof(*a->msip));
    a->mtip_line = calloc(num_harts, sizeof(*a->mtip_line));
    a->msip_line = calloc(num_harts, sizeof(*a->msip_line));
    if (!a->mtimecmp || !a->msip || !a->mtip_line || !a->msip_line) {
        aclint_destroy(a);
        return NULL;
    }
    for (unsigned h = 0; h < num_harts; h++) {
        a->mtip_line[h] = mtip[h];
        a->msip_line[h] = msip[h];
    }
    aclint_reset(a);
    return a;
}

void aclint_destroy(struct aclint *a)
{
    if (!a)
        return;
    free((void *)a->mtimecmp);
    free((void *)a->msip);
    free(a->mtip_line);
    free(a->msip_line);
    free(a);
}

void aclint_reset(struct aclint *a)
{
    atomic_store(&a->offset, 0);
    for (unsigned h = 0; h < a->num_harts; h++) {
        atomic_store(&a->mtimecmp[h], UINT64_MAX);
        atomic_store(&a->msip[h], 0);
        irq_set(&a->msip_line[h], 0);
        irq_set(&a->mtip_line[h], 0);
    }
}

uint64_t aclint_mtime(struct aclint *a)
{
    return a->now(a->now_ctx) + atomic_load_explicit(&a->offset, memory_order_relaxed);
}

uint64_t aclint_mtimecmp(struct aclint *a, unsigned h)
{
    return h < a->num_harts ? atomic_load(&a->mtimecmp[h]) : UINT64_MAX;
}

static void update_hart(struct aclint *a, unsigned h, uint64_t now)
{
    irq_set(&a->mtip_line[h], now >= atomic_load_explicit(&a->mtimecmp[h], memory_order_relaxed));
}

uint64_t aclint_update_now(struct aclint *a)
{
    uint64_t now = aclint_mtime(a);
    for (unsigned h = 0; h < a->num_harts; h++)
        update_hart(a, h, now);
    return now;
}

void aclint_update(struct aclint *a)
{
    aclint_update_now(a);
}

/* A 32-bit access to either half of a 64-bit register, or a 64-bit access to all of it. */
static uint64_t merge(uint64_t old, uint64_t off, unsigned size, uint64_t val)
{
    if (size == 8)
        return val;
    if (off & 4)
        return (old & 0xffffffffULL) | (val << 32);
    return (old & ~0xffffffffULL) | (val & 0xffffffffULL);
}

static uint64_t extract(uint64_t reg, uint64_t off, unsigned size)
{
    if (size == 8)
        return reg;
    return (off & 4) ? reg >> 32 : reg & 0xffffffffULL;
}

int aclint_read(void *dev, uint64_t off, unsigned size, uint64_t *val)
{
    struct aclint *a = dev;
    *val = 0;
    if (size != 4 && size != 8)
        return 0;
    if (off < MSIP_BASE + 4ULL * a->num_harts) {
        if (size == 4 && !(off & 3))
            *val = atomic_load(&a->msip[off / 4]);
    } else if (off >= MTIMECMP_BASE && off < MTIMECMP_BASE + 8ULL * a->num_harts) {
        *val = extract(atomic_load(&a->mtimecmp[(off - MTIMECMP_BASE) / 8]), off, size);
    } else if (off >= MTIME_OFF && off < MTIME_OFF + 8) {
        *val = extract(aclint_mtime(a), off, size);
    }
    return 0;
}

int aclint_write(void *dev, uint64_t off, unsigned size, uint64_t val)
{
    struct aclint *a = dev;
    if (size != 4 && size != 8)
        return 0;
    if (off < MSIP_BASE + 4ULL * a->num_harts) {
        if (size == 4 && !(off & 3)) {
            unsigned h = (unsigned)(off / 4);
            atomic_store(&a->msip[h], val & 1);
            irq_set(&a->msip_line[h], val & 1);
        }
    } else if (off >= MTIMECMP_BASE && off < MTIMECMP_BASE + 8ULL * a->num_harts) {
        unsigned h = (unsigned)((off - MTIMECMP_BASE) / 8);
        atomic_store(&a->mtimecmp[h], merge(atomic_load(&a->mtimecmp[h]), off, size, val));
        update_hart(a, h, aclint_mtime(a));
    } else if (off >= MTIME_OFF && off < MTIME_OFF + 8) {
        uint64_t want = merge(aclint_mtime(a), off, size, val);
        atomic_store(&a->offset, want - a->now(a->now_ctx));
        aclint_update(a);
    }
    return 0;
}
