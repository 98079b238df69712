/* SiFive-compatible PLIC: level-triggered sources with priorities, per-context enables,
 * thresholds and claim/complete. One mutex guards it: device lines change from I/O
 * threads while harts claim. Lock order: PLIC, then the hart it signals. */
#include <pthread.h>
#include <stdlib.h>

#include "dev/plic.h"

#define PRIORITY_BASE  0x000000
#define PENDING_BASE   0x001000
#define ENABLE_BASE    0x002000
#define ENABLE_STRIDE  0x80
#define CONTEXT_BASE   0x200000
#define CONTEXT_STRIDE 0x1000
#define MAX_SOURCES    1024
#define WORDS          (MAX_SOURCES / 32)

struct plic {
    pthread_mutex_t lock;
    unsigned num_sources, num_contexts;
    uint32_t priority[MAX_SOURCES];
    uint32_t level[WORDS];    /* the device line as driven now */
    uint32_t pending[WORDS];
    uint32_t claimed[WORDS];  /* claimed and not yet completed */
    uint32_t (*enable)[WORDS];
    uint32_t *threshold;
    int *out_level;
    struct irq_line *out;
};

struct plic *plic_create(unsigned num_sources, unsigned num_contexts, const struct irq_line *ctx_out)
{
    if (num_sources > MAX_SOURCES || num_contexts == 0)
        return NULL;
    struct plic *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->num_sources = num_sources;
    p->num_contexts = num_contexts;
    p->enable = calloc(num_contexts, sizeof(*p->enable));
    p->threshold = calloc(num_contexts, sizeof(*p->threshold));
    p->out_level = calloc(num_contexts, sizeof(*p->out_level));
    p->out = calloc(num_contexts, sizeof(*p->out));
    if (!p->enable || !p->threshold || !p->out_level || !p->out) {
        plic_destroy(p);
        return NULL;
    }
    for (unsigned i = 0; i < num_contexts; i++)
        p->out[i] = ctx_out[i];
    pthread_mutex_init(&p->lock, NULL);
    return p;
}

void plic_destroy(struct plic *p)
{
    if (!p)
        return;
    free(p->enable);
    free(p->threshold);
    free(p->out_level);
    free(p->out);
    free(p);
}

static bool bit(const uint32_t *w, unsigned i) { return (w[i / 32] >> (i % 32)) & 1; }
static void set_bit(uint32_t *w, unsigned i, bool v)
{
    if (v)
        w[i / 32] |= 1u << (i % 32);
    else
        w[i / 32] &= ~(1u << (i % 32));
}

/* The source context ctx would get from a claim now: highest priority above the
 * threshold, lowest id on ties; 0 if none. */
static unsigned best_source(const struct plic *p, unsigned ctx)
{
    unsigned best = 0;
    uint32_t best_prio = p->threshold[ctx];
    for (unsigned w = 0; w < (p->num_sources + 31) / 32; w++) {
        uint32_t cand = p->pending[w] & p->enable[ctx][w];
        while (cand) {
            unsigned src = w * 32 + (unsigned)__builtin_ctz(cand);
            cand &= cand - 1;
            if (src == 0 || src >= p->num_sources)
                continue;
            if (p->priority[src] > best_prio) {
                best_prio = p->priority[src];
                best = src;
            }
        }
    }
    return best;
}

static void update_outputs(struct plic *p)
{
    for (unsigned c = 0; c < p->num_contexts; c++) {
        int lvl = best_source(p, c) != 0;
        if (lvl != p->out_level[c]) {
            p->out_level[c] = lvl;
            irq_set(&p->out[c], lvl);
        }
    }
}

void plic_reset(struct plic *p)
{
    pthread_mutex_lock(&p->lock);
    for (unsigned i = 0; i < MAX_SOURCES; i++)
        p->priority[i] = 0;
    for (unsigned w = 0; w < WORDS; w++) {
        p->pending[w] = 0;
        p->claimed[w] = 0;
    }
    for (unsigned c = 0; c < p->num_contexts; c++) {
        for (unsigned w = 0; w < WORDS; w++)
            p->enable[c][w] = 0;
        p->threshold[c] = 0;
    }
    /* lines still high stay high across a reset and become pending again */
    for (unsigned s = 1; s < p->num_sources; s++)
        set_bit(p->pending, s, bit(p->level, s));
    update_outputs(p);
    pthread_mutex_unlock(&p->lock);
}

void plic_set_irq(void *opaque, unsigned src, int level)
{
    struct plic *p = opaque;
    if (src == 0 || src >= p->num_sources)
        return;
    pthread_mutex_lock(&p->lock);
    set_bit(p->level, src, level);
    /* level-triggered: pending follows the line unless the source is in service */
    if (!bit(p->claimed, src))
        set_bit(p->pending, src, level);
    update_outputs(p);
    pthread_mutex_unlock(&p->lock);
}

static uint32_t claim(struct plic *p, unsigned ctx)
{
    unsigned src = best_source(p, ctx);
    if (src) {
        set_bit(p->pending, src, false);
        set_bit(p->claimed, src, true);
    }
    return src;
}

static void complete(struct plic *p, unsigned ctx, uint32_t src)
{
    if (src == 0 || src >= p->num_sources || !bit(p->enable[ctx], src))
        return; /* the spec ignores completions for sources not enabled for the context */
    set_bit(p->claimed, src, false);
    if (bit(p->level, src))
        set_bit(p->pending, src, true);
}

/* Only aligned 32-bit accesses mean anything; others read 0 and are ignored rather than
 * faulting, which is what guests probing the PLIC expect of real parts. */
int plic_read(void *dev, uint64_t off, unsigned size, uint64_t *val)
{
    struct plic *p = dev;
    *val = 0;
    if (size != 4 || (off & 3))
        return 0;
    pthread_mutex_lock(&p->lock);
    if (off < PENDING_BASE) {
        unsigned src = (unsigned)(off / 4);
        if (src < p->num_sources)
            *val = p->priority[src];
    } else if (off < PENDING_BASE + WORDS * 4) {
        *val = p->pending[(off - PENDING_BASE) / 4];
    } else if (off >= ENABLE_BASE && off < ENABLE_BASE + (uint64_t)p->num_contexts * ENABLE_STRIDE) {
        unsigned ctx = (unsigned)((off - ENABLE_BASE) / ENABLE_STRIDE);
        unsigned w = (unsigned)((off - ENABLE_BASE) % ENABLE_STRIDE) / 4;
        *val = p->enable[ctx][w];
    } else if (off >= CONTEXT_BASE && off < CONTEXT_BASE + (uint64_t)p->num_contexts * CONTEXT_STRIDE) {
        unsigned ctx = (unsigned)((off - CONTEXT_BASE) / CONTEXT_STRIDE);
        unsigned reg = (unsigned)((off - CONTEXT_BASE) % CONTEXT_STRIDE);
        if (reg == 0) {
            *val = p->threshold[ctx];
        } else if (reg == 4) {
            *val = claim(p, ctx);
            update_outputs(p);
        }
    }
    pthread_mutex_unlock(&p->lock);
    return 0;
}

int plic_write(void *dev, uint64_t off, unsigned size, uint64_t val)
{
    struct plic *p = dev;
    if (size != 4 || (off & 3))
        return 0;
    pthread_mutex_lock(&p->lock);
    if (off < PENDING_BASE) {
        unsigned src = (unsigned)(off / 4);
        if (src > 0 && src < p->num_sources)
            p->priority[src] = (uint32_t)val & 7;
    } else if (off >= ENABLE_BASE && off < ENABLE_BASE + (uint64_t)p->num_contexts * ENABLE_STRIDE) {
        unsigned ctx = (unsigned)((off - ENABLE_BASE) / ENABLE_STRIDE);
        unsigned w = (unsigned)((off - ENABLE_BASE) % ENABLE_STRIDE) / 4;
        uint32_t mask = 0;
        for (unsigned b = 0; b < 32; b++)
            if (w * 32 + b < p->num_sources && w * 32 + b != 0)
                mask |= 1u << b;
        p->enable[ctx][w] = (uint32_t)val & mask;
    } else if (off >= CONTEXT_BASE && off < CONTEXT_BASE + (uint64_t)p->num_contexts * CONTEXT_STRIDE) {
        unsigned ctx = (unsigned)((off - CONTEXT_BASE) / CONTEXT_STRIDE);
        unsigned reg = (unsigned)((off - CONTEXT_BASE) % CONTEXT_STRIDE);
        if (reg == 0)
            p->threshold[ctx] = (uint32_t)val & 7;
        else if (reg == 4)
            complete(p, ctx, (uint32_t)val);
    }
    update_outputs(p);
    pthread_mutex_unlock(&p->lock);
    return 0;
}
