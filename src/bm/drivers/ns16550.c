/* ns16550a registers (PC16550D data sheet): THR/RBR at 0, IER at 1, FCR at 2, LCR at 3,
 * MCR at 4, LSR at 5. The firmware has set the line up; we keep its divisor. */
#include "drivers/ns16550.h"

#define REG_THR 0
#define REG_IER 1
#define REG_FCR 2
#define REG_LSR 5
#define LSR_DR   0x01
#define LSR_THRE 0x20

static uint32_t reg_read(struct ns16550 *u, unsigned reg)
{
    uintptr_t a = u->base + ((uintptr_t)reg << u->shift);
    if (u->width == 4)
        return *(volatile uint32_t *)a;
    return *(volatile uint8_t *)a;
}

static void reg_write(struct ns16550 *u, unsigned reg, uint32_t v)
{
    uintptr_t a = u->base + ((uintptr_t)reg << u->shift);
    if (u->width == 4)
        *(volatile uint32_t *)a = v;
    else
        *(volatile uint8_t *)a = (uint8_t)v;
}

void ns16550_init(struct ns16550 *u)
{
    reg_write(u, REG_IER, 0);      /* polled */
    reg_write(u, REG_FCR, 0x07);   /* FIFOs on and cleared */
}

void ns16550_enable_rx_irq(struct ns16550 *u)
{
    reg_write(u, 4, 0x0b);         /* MCR: DTR, RTS, OUT2 (which gates the interrupt on PCs) */
    reg_write(u, REG_IER, 0x01);   /* received data available */
}

void ns16550_putc(struct ns16550 *u, char c)
{
    for (unsigned spins = 0; !(reg_read(u, REG_LSR) & LSR_THRE) && spins < 1000000; spins++)
        ;
    reg_write(u, REG_THR, (uint8_t)c);
}

int ns16550_getc(struct ns16550 *u)
{
    return reg_read(u, REG_LSR) & LSR_DR ? (int)(reg_read(u, REG_THR) & 0xff) : -1;
}
