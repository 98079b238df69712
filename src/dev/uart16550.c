/* ns16550a UART as Linux's 8250 driver, OpenSBI and U-Boot drive it. Transmit is
 * instant (bytes go straight to the char backend), so THR is always empty again after a
 * write; receive is a 4 KiB buffer filled from the host side. Not a modem: MSR reports a
 * connected line. One mutex guards it; lock order: UART, then PLIC, then hart. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dev/uart16550.h"

#define RX_SIZE 4096

#define IER_RDI  0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define IER_MSI  0x08
#define LSR_DR   0x01
#define LSR_OE   0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LCR_DLAB 0x80
#define MCR_LOOP 0x10

struct uart16550 {
    pthread_mutex_t lock;
    struct char_backend out;
    struct irq_line irq;
    uint8_t rx[RX_SIZE];
    size_t rx_head, rx_count;
    uint8_t ier, lcr, mcr, scr, fcr, dll, dlm, lsr_err;
    bool thre_pending; /* the THR-empty interrupt, until IIR reports it or THR is written */
    int irq_level;
};

struct uart16550 *uart16550_create(const struct char_backend *out, const struct irq_line *irq)
{
    struct uart16550 *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    pthread_mutex_init(&u->lock, NULL);
    u->out = *out;
    u->irq = *irq;
    uart16550_reset(u);
    return u;
}

void uart16550_destroy(struct uart16550 *u)
{
    if (!u)
        return;
    pthread_mutex_destroy(&u->lock);
    free(u);
}

static void update_irq(struct uart16550 *u)
{
    int lvl = ((u->ier & IER_RDI) && u->rx_count) || ((u->ier & IER_THRI) && u->thre_pending) ||
              ((u->ier & IER_RLSI) && u->lsr_err);
    if (lvl != u->irq_level) {
        u->irq_level = lvl;
        irq_set(&u->irq, lvl);
    }
}

void uart16550_reset(struct uart16550 *u)
{
    pthread_mutex_lock(&u->lock);
    u->ier = u->lcr = u->mcr = u->scr = u->fcr = u->lsr_err = 0;
    u->dll = 12; /* 9600 baud at 1.8432 MHz: the part's power-on default divisor */
    u->dlm = 0;
    u->thre_pending = false;
    /* Input typed before a reset is kept: it is the user's, not the guest's. */
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
}

static void rx_push(struct uart16550 *u, uint8_t c)
{
    if (u->rx_count == RX_SIZE) {
        u->lsr_err |= LSR_OE;
        return;
    }
    u->rx[(u->rx_head + u->rx_count) % RX_SIZE] = c;
    u->rx_count++;
}

static uint8_t read_iir(struct uart16550 *u)
{
    uint8_t fifo = (u->fcr & 1) ? 0xc0 : 0;
    if ((u->ier & IER_RLSI) && u->lsr_err)
        return fifo | 0x06;
    if ((u->ier & IER_RDI) && u->rx_count)
        return fifo | 0x04;
    if ((u->ier & IER_THRI) && u->thre_pending) {
        u->thre_pending = false; /* reading IIR with THRE as the source clears it */
        return fifo | 0x02;
    }
    return fifo | 0x01;
}

static uint8_t read_msr(struct uart16550 *u)
{
    if (u->mcr & MCR_LOOP) /* loopback: modem inputs follow the modem outputs */
        return (uint8_t)(((u->mcr & 0x02) << 3) | ((u->mcr & 0x01) << 5) | ((u->mcr & 0x04) << 4) |
                         ((u->mcr & 0x08) << 4));
    return 0xb0; /* DCD, DSR, CTS: a connected line */
}

int uart16550_read(void *dev, uint64_t off, unsigned size, uint64_t *val)
{
    struct uart16550 *u = dev;
    uint8_t v = 0;
    (void)size;
    pthread_mutex_lock(&u->lock);
    switch (off) {
    case 0:
        if (u->lcr & LCR_DLAB) {
            v = u->dll;
        } else if (u->rx_count) {
            v = u->rx[u->rx_head];
            u->rx_head = (u->rx_head + 1) % RX_SIZE;
            u->rx_count--;
        }
        break;
    case 1: v = (u->lcr & LCR_DLAB) ? u->dlm : u->ier; break;
    case 2: v = read_iir(u); break;
    case 3: v = u->lcr; break;
    case 4: v = u->mcr; break;
    case 5:
        v = LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0) | u->lsr_err;
        u->lsr_err = 0; /* error bits clear on read */
        break;
    case 6: v = read_msr(u); break;
    case 7: v = u->scr; break;
    default: break;
    }
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    *val = v;
    return 0;
}

int uart16550_write(void *dev, uint64_t off, unsigned size, uint64_t val)
{
    struct uart16550 *u = dev;
    uint8_t v = (uint8_t)val;
    bool send = false;
    (void)size;
    pthread_mutex_lock(&u->lock);
    switch (off) {
    case 0:
        if (u->lcr & LCR_DLAB) {
            u->dll = v;
        } else if (u->mcr & MCR_LOOP) {
            rx_push(u, v);
            u->thre_pending = true;
        } else {
            send = true;
            u->thre_pending = true; /* sent at once: THR is empty again */
        }
        break;
    case 1:
        if (u->lcr & LCR_DLAB) {
            u->dlm = v;
        } else {
            /* enabling the THRE interrupt while THR is empty raises it at once */
            if ((v & IER_THRI) && !(u->ier & IER_THRI))
                u->thre_pending = true;
            u->ier = v & 0x0f;
        }
        break;
    case 2:
        /* FCR. Clearing the receive FIFO is ignored on purpose: Linux clears it when the
         * port is opened, and input the user typed (or piped) ahead must not be lost. */
        u->fcr = v & 0xc9;
        break;
    case 3: u->lcr = v; break;
    case 4: u->mcr = v & 0x1f; break;
    case 7: u->scr = v; break;
    default: break;
    }
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    /* outside the lock: the backend may block briefly on the terminal */
    if (send && u->out.write)
        u->out.write(u->out.ctx, &v, 1);
    return 0;
}

size_t uart16550_receive(struct uart16550 *u, const uint8_t *buf, size_t len)
{
    pthread_mutex_lock(&u->lock);
    size_t room = RX_SIZE - u->rx_count;
    size_t n = len < room ? len : room;
    for (size_t i = 0; i < n; i++)
        rx_push(u, buf[i]);
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return n;
}
