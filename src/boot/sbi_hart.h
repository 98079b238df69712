/* The built-in SBI on the hosted board's software harts: struct sbi_host names the harts,
 * the console and power; sbi_ecall() answers an ecall in a struct hart through the shared
 * SBI (sbi.c). */
#ifndef CORRAL_BOOT_SBI_HART_H
#define CORRAL_BOOT_SBI_HART_H

#include "boot/sbi.h"
#include "cpu/hart.h"

struct sbi_host {
    void *ctx;
    unsigned num_harts;
    struct hart *(*hart)(void *ctx, unsigned id);
    void (*console_write)(void *ctx, const uint8_t *buf, size_t len);
    void (*power)(void *ctx, enum power_action a, int code);
};

/* Puts a reset hart into the state firmware leaves it in before entering a kernel in
 * S-mode at entry: PMP open, traps and interrupts delegated, counters and Sstc enabled. */
void sbi_prepare_hart(struct hart *h, uint64_t entry, uint64_t a0, uint64_t a1);

/* On h's own thread, for an HSM start request: enters the guest at entry in S-mode with
 * a0 = its hart id and a1 = opaque (SBI spec 9.2). */
void sbi_start_hart(struct hart *h, uint64_t entry, uint64_t opaque);

/* Handles the ecall in h's a0-a7 and writes the results; the caller advances pc. */
void sbi_ecall(const struct sbi_host *host, struct hart *h);

#endif
