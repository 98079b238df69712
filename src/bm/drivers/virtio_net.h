/* The machine's virtio-net device on virtio-mmio (virtio 1.x, MMIO version 2 only): the
 * switches' way out (core/netswitch.c). Receive buffers stay posted; received frames are
 * taken by vnet_poll on the device's interrupt; a send waits for the device to take the
 * frame. Not the device guests see. */
#ifndef CORRAL_BM_VIRTIO_NET_H
#define CORRAL_BM_VIRTIO_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VNET_QSIZE 16
#define VNET_BUF 1600            /* the 12-byte header and a 1514-byte frame, rounded up */

struct vnet_desc { uint64_t addr; uint32_t len; uint16_t flags, next; };

struct vnet_queue {
    struct vnet_desc desc[VNET_QSIZE] __attribute__((aligned(16)));
    struct { uint16_t flags, idx, ring[VNET_QSIZE], used_event; } avail __attribute__((aligned(2)));
    struct { uint16_t flags, idx; struct { uint32_t id, len; } ring[VNET_QSIZE];
             uint16_t avail_event; } used __attribute__((aligned(4)));
    uint16_t size, avail_idx, used_seen;
};

struct vnet {
    uintptr_t base;
    unsigned irq;
    uint8_t mac[6];
    struct vnet_queue rx, tx;
    uint8_t rx_buf[VNET_QSIZE][VNET_BUF] __attribute__((aligned(64)));
    uint8_t tx_buf[VNET_BUF] __attribute__((aligned(64)));
    uint64_t rx_frames, tx_frames, tx_errors;
};

/* What the slot at base holds: 0 and *d set up with its receive buffers posted; -ENODEV
 * for an empty slot or another device; -ENOTSUP for a legacy transport; -EIO if the device
 * refused the driver. */
int vnet_probe(struct vnet *d, uintptr_t base, unsigned irq);
/* One Ethernet frame out (14 to 1514 bytes); 0, -EINVAL or -EIO (the device did not take
 * it in time). One caller at a time. */
int vnet_send(struct vnet *d, const uint8_t *frame, size_t len);
/* Every frame received so far to fn(ctx, frame, len), each buffer posted again after;
 * acknowledges the interrupt. One caller at a time. Returns the frames taken. */
unsigned vnet_poll(struct vnet *d, void (*fn)(void *ctx, const uint8_t *frame, size_t len),
                   void *ctx);

#endif
