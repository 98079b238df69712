/* ns16550a UART as on the virt board: 8 byte-wide registers, stride 1, FIFOs,
 * interrupt on received data and on THR empty. Not a full modem model (no real MSR lines). */
#ifndef CORRAL_DEV_UART16550_H
#define CORRAL_DEV_UART16550_H

#include "corral/chardev.h"
#include "corral/irq.h"

struct uart16550;

/* out receives transmitted bytes; irq is the UART's interrupt line. Both are copied. */
struct uart16550 *uart16550_create(const struct char_backend *out, const struct irq_line *irq);
void uart16550_destroy(struct uart16550 *u);
void uart16550_reset(struct uart16550 *u);
int uart16550_read(void *dev, uint64_t off, unsigned size, uint64_t *val);
int uart16550_write(void *dev, uint64_t off, unsigned size, uint64_t val);
/* Host side (any thread): queues input bytes for the guest. Returns how many were taken;
 * the caller keeps the rest and offers them again later. Holds at least 4096 bytes. */
size_t uart16550_receive(struct uart16550 *u, const uint8_t *buf, size_t len);

#endif
