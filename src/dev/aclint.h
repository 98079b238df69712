/* ACLINT MSWI and MTIMER in the SiFive CLINT layout: msip[h] at 0x0 + 4h,
 * mtimecmp[h] at 0x4000 + 8h, mtime at 0xbff8. mtime counts at the board's timebase. */
#ifndef CORRAL_DEV_ACLINT_H
#define CORRAL_DEV_ACLINT_H

#include "corral/irq.h"

struct aclint;

/* now() gives the free-running timebase count (10 MHz on virt). mtip[h] and msip[h] are
 * hart h's MTIP and MSIP lines; arrays are copied. */
struct aclint *aclint_create(unsigned num_harts, uint64_t (*now)(void *ctx), void *now_ctx,
                             const struct irq_line *mtip, const struct irq_line *msip);
void aclint_destroy(struct aclint *a);
void aclint_reset(struct aclint *a);
int aclint_read(void *dev, uint64_t off, unsigned size, uint64_t *val);
int aclint_write(void *dev, uint64_t off, unsigned size, uint64_t val);
/* Current mtime (now() plus any offset the guest wrote). */
uint64_t aclint_mtime(struct aclint *a);
/* Re-evaluates every hart's MTIP against the current mtime. */
void aclint_update(struct aclint *a);
/* The same, returning the mtime it used (one clock read for both). */
uint64_t aclint_update_now(struct aclint *a);
/* Hart h's mtimecmp (UINT64_MAX after reset). */
uint64_t aclint_mtimecmp(struct aclint *a, unsigned h);

#endif
