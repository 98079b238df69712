/* The physical ns16550a UART: polled output, polled input. The driver for the machine's
 * own console, not the model guests see (that is src/dev/uart16550.c). */
#ifndef CORRAL_BM_NS16550_H
#define CORRAL_BM_NS16550_H

#include <stdint.h>

struct ns16550 {
    uintptr_t base;
    unsigned shift;   /* reg-shift: registers are 1 << shift bytes apart */
    unsigned width;   /* reg-io-width: 1 or 4 */
};

void ns16550_init(struct ns16550 *u);
void ns16550_putc(struct ns16550 *u, char c);
/* Raises the UART's interrupt on received data (and only then). */
void ns16550_enable_rx_irq(struct ns16550 *u);
/* A received byte, or -1 if none. */
int ns16550_getc(struct ns16550 *u);

#endif
