/* virtio-blk (virtio 1.x section 5.2) over a block backend (raw or qcow2 image). Requests
 * are served on the device's own I/O thread, never on a vCPU thread. */
#ifndef CORRAL_DEV_VIRTIO_BLK_H
#define CORRAL_DEV_VIRTIO_BLK_H

#include "dev/virtio/virtio_mmio.h"

struct virtio_blk;
struct blk_backend;

/* The device takes ownership of the backend (closes it on destroy). */
struct virtio_blk *virtio_blk_create(const struct virtio_slot *slot, struct blk_backend *be);
struct virtio_dev *virtio_blk_dev(struct virtio_blk *b);
/* Stops the I/O thread, flushes and closes the backend. */
void virtio_blk_destroy(struct virtio_blk *b);

#endif
