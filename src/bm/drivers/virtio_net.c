/* virtio-net over virtio-mmio (virtio 1.1 sections 4.2.2 registers, 3.1.1 initialization,
 * 5.1 network device), without offloads: every frame is whole, with the 12-byte header of
 * VIRTIO_F_VERSION_1 (all zero on transmit). The hypervisor runs with translation off, so
 * buffer addresses are physical as they are. The device is trusted no more than needed:
 * used-ring ids and lengths are checked before a buffer is read. */
#include <errno.h>
#include <string.h>

#include "arch/riscv/csr.h"
#include "core/platform.h"
#include "drivers/virtio_mmio.h"
#include "drivers/virtio_net.h"

#define DEV_NET 1
#define F_MAC (1u << 5)
#define DESC_WRITE 2
#define HDR 12
#define FRAME_MIN 14
#define FRAME_MAX 1514

static uint32_t rd(struct vnet *d, unsigned off) { return vmmio_rd(d->base, off); }
static void wr(struct vnet *d, unsigned off, uint32_t v) { vmmio_wr(d->base, off, v); }

static int setup_queue(struct vnet *d, unsigned index, struct vnet_queue *q)
{
    wr(d, VM_QUEUE_SEL, index);
    uint32_t max = rd(d, VM_QUEUE_NUM_MAX);
    if (rd(d, VM_QUEUE_READY) || max < 2)
        return -EIO;
    q->size = max < VNET_QSIZE ? (uint16_t)max : VNET_QSIZE;
    wr(d, VM_QUEUE_NUM, q->size);
    vmmio_wr64(d->base, VM_DESC_LO, q->desc);
    vmmio_wr64(d->base, VM_AVAIL_LO, &q->avail);
    vmmio_wr64(d->base, VM_USED_LO, &q->used);
    wr(d, VM_QUEUE_READY, 1);
    return 0;
}

static void publish(struct vnet_queue *q, uint16_t id)
{
    q->avail.ring[q->avail_idx % q->size] = id;
    __asm__ volatile("fence rw, rw" ::: "memory");
    q->avail.idx = ++q->avail_idx;
    __asm__ volatile("fence rw, rw" ::: "memory");
}

int vnet_probe(struct vnet *d, uintptr_t base, unsigned irq)
{
    memset(d, 0, sizeof(*d));
    d->base = base;
    d->irq = irq;
    uint32_t lo;
    int err = vmmio_begin(base, DEV_NET, F_MAC, &lo);
    if (err)
        return err;
    if (setup_queue(d, 0, &d->rx) || setup_queue(d, 1, &d->tx))
        return -EIO;
    for (unsigned i = 0; i < 6; i++)
        d->mac[i] = lo ? *(volatile uint8_t *)(d->base + VM_CONFIG + i) : 0;
    for (uint16_t i = 0; i < d->rx.size; i++) {
        d->rx.desc[i] = (struct vnet_desc){ (uintptr_t)d->rx_buf[i], VNET_BUF, DESC_WRITE, 0 };
        publish(&d->rx, i);
    }
    wr(d, VM_STATUS, VM_S_ACK | VM_S_DRIVER | VM_S_FEATURES_OK | VM_S_DRIVER_OK);
    wr(d, VM_QUEUE_NOTIFY, 0);
    return 0;
}

int vnet_send(struct vnet *d, const uint8_t *frame, size_t len)
{
    if (len < FRAME_MIN || len > FRAME_MAX)
        return -EINVAL;
    memset(d->tx_buf, 0, HDR);
    memcpy(d->tx_buf + HDR, frame, len);
    d->tx.desc[0] = (struct vnet_desc){ (uintptr_t)d->tx_buf, (uint32_t)(HDR + len), 0, 0 };
    publish(&d->tx, 0);
    wr(d, VM_QUEUE_NOTIFY, 1);
    uint64_t deadline = csr_read(CSR_TIME) + platform.timebase;
    while (*(volatile uint16_t *)&d->tx.used.idx == d->tx.used_seen) {
        if (csr_read(CSR_TIME) > deadline) {
            d->tx_errors++;
            return -EIO;
        }
    }
    d->tx.used_seen++;
    d->tx_frames++;
    return 0;
}

unsigned vnet_poll(struct vnet *d, void (*fn)(void *ctx, const uint8_t *frame, size_t len),
                   void *ctx)
{
    wr(d, VM_INT_ACK, rd(d, VM_INT_STATUS));
    unsigned n = 0;
    while (*(volatile uint16_t *)&d->rx.used.idx != d->rx.used_seen && n < 4 * VNET_QSIZE) {
        __asm__ volatile("fence rw, rw" ::: "memory");
        uint32_t id = d->rx.used.ring[d->rx.used_seen % d->rx.size].id;
        uint32_t len = d->rx.used.ring[d->rx.used_seen % d->rx.size].len;
        d->rx.used_seen++;
        if (id >= d->rx.size)
            continue; /* a device that says so is not one we can trust with this buffer */
        if (len >= HDR + FRAME_MIN && len <= VNET_BUF) {
            fn(ctx, d->rx_buf[id] + HDR, len - HDR);
            d->rx_frames++;
        }
        publish(&d->rx, (uint16_t)id);
        n++;
    }
    if (n)
        wr(d, VM_QUEUE_NOTIFY, 0);
    return n;
}
