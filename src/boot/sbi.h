/* The built-in SBI (SBI spec v2.0): answers a guest kernel's S-mode ecalls directly, in
 * place of firmware — base, TIME, IPI, RFENCE, HSM, SRST, DBCN, PMU and the legacy console.
 * Freestanding: it sees the calling hart as its 32 registers and the machine through
 * struct sbi_ops, so the hosted board (sbi_hart.c) and corral-bm both build it unchanged. */
#ifndef CORRAL_BOOT_SBI_H
#define CORRAL_BOOT_SBI_H

#include "corral/common.h"
#include "dev/sifive_test.h"

#define SBI_IMPL_ID 0x436f72ULL /* "Cor" */

/* SBI spec 9.1: hart_get_status values */
enum sbi_hsm_state { SBI_HSM_STARTED = 0, SBI_HSM_STOPPED = 1, SBI_HSM_START_PENDING = 2 };

/* What the SBI needs from the machine. Every call names the calling hart (self, the
 * caller's own handle) or a target by its index below num_harts, already checked. */
struct sbi_ops {
    unsigned num_harts;
    /* The caller's view of [gpa, gpa+len) as a pointer, or NULL if not all its RAM. */
    void *(*mem_ptr)(void *ctx, void *self, uint64_t gpa, uint64_t len);
    void (*set_timer)(void *ctx, void *self, uint64_t when);
    void (*send_ipi)(void *ctx, void *self, unsigned target);
    /* Returns once target has dropped its cached translations (SBI spec 8). */
    void (*remote_fence)(void *ctx, void *self, unsigned target);
    /* Starts a STOPPED target at addr with a1 = opaque; false if it is not STOPPED. */
    bool (*hart_start)(void *ctx, unsigned target, uint64_t addr, uint64_t opaque);
    void (*hart_stop)(void *ctx, void *self);
    enum sbi_hsm_state (*hart_status)(void *ctx, unsigned target);
    /* Default retentive suspend: a WFI. */
    void (*hart_suspend)(void *ctx, void *self);
    void (*console_write)(void *ctx, const uint8_t *buf, size_t len);
    /* code: 0 for no reason, 1 for a system failure, n for the vendor reason 0xf0000000 + n
     * (n < 256), as sbi_reset_code() maps them. */
    void (*power)(void *ctx, enum power_action a, int code);
};

/* Handles the ecall in x[10..17] (a0-a7) and writes the results to a0/a1; the caller
 * advances pc. */
void sbi_call(const struct sbi_ops *ops, void *ctx, void *self, uint64_t x[32]);

/* The exit code for an SRST reset_reason (SBI spec 10.1). */
int sbi_reset_code(uint64_t reason);

#endif
