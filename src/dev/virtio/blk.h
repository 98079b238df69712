/* virtio-blk (virtio 1.x section 5.2) over a block backend (raw or qcow2 image). Requests
 * are served on the device's own I/O thread, never on a vCPU thread. */
#ifndef CORRAL_DEV_VIRTIO_BLK_H
#define CORRAL_DEV_VIRTIO_BLK_H

#include "dev/virtio/virtio_mmio.h"

struct virtio_blk;
struct blk_backend;
struct ratelimit_config;

/* The device takes ownership of the backend (closes it on destroy). LIMIT (NULL: none) holds
 * requests until the rate limit lets them through; none is failed or dropped for it. NULL if
 * out of memory or threads, or if LIMIT is out of range (ratelimit.h). */
struct virtio_blk *virtio_blk_create(const struct virtio_slot *slot, struct blk_backend *be,
                                     const struct ratelimit_config *limit);
struct virtio_dev *virtio_blk_dev(struct virtio_blk *b);
/* Replaces the rate limit of a live device (NULL: none); its buckets start full. 0 or -EINVAL. */
int virtio_blk_set_ratelimit(struct virtio_blk *b, const struct ratelimit_config *limit);

/* Counters since the device was created (requests served, not those waiting). */
struct virtio_blk_stats {
    uint64_t read_bytes, write_bytes;
    uint64_t read_ops, write_ops;
    uint64_t other_ops;     /* flush, get-id, discard, write-zeroes, unknown types */
    uint64_t throttled;     /* times a request was held by the rate limit */
    uint64_t throttled_ns;  /* time requests spent held by it */
};
/* Any thread. */
void virtio_blk_stats(struct virtio_blk *b, struct virtio_blk_stats *st);
/* Stops the I/O thread, flushes and closes the backend. */
void virtio_blk_destroy(struct virtio_blk *b);

#endif
