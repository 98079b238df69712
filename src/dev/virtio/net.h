/* virtio-net (virtio 1.x section 5.1): one receive and one transmit queue over a network
 * backend (libslirp user networking or a tap device). */
#ifndef CORRAL_DEV_VIRTIO_NET_H
#define CORRAL_DEV_VIRTIO_NET_H

#include "dev/virtio/virtio_mmio.h"

struct virtio_net;
struct ratelimit_config;

/* Opens the backend for SPEC (the text after --net; INDEX picks the default MAC) and
 * creates the device. RX_LIMIT and TX_LIMIT (NULL: none) are the rate limits on frames to
 * and from the guest: held frames wait, none is dropped for them. On failure: NULL with a
 * one-line reason in err. */
struct virtio_net *virtio_net_create(const struct virtio_slot *slot, const char *spec,
                                     unsigned index, const struct ratelimit_config *rx_limit,
                                     const struct ratelimit_config *tx_limit, char *err,
                                     size_t errlen);
struct virtio_dev *virtio_net_dev(struct virtio_net *n);
/* Replaces both rate limits of a live device (NULL: none); their buckets start full. 0 or
 * -EINVAL (a limit out of range is then none). */
int virtio_net_set_ratelimit(struct virtio_net *n, const struct ratelimit_config *rx_limit,
                             const struct ratelimit_config *tx_limit);

/* Counters since the device was created. Bytes are frame bytes, without the virtio header. */
struct virtio_net_stats {
    uint64_t rx_bytes, rx_frames;   /* network -> guest, delivered */
    uint64_t tx_bytes, tx_frames;   /* guest -> network, handed to the backend */
    uint64_t rx_throttled;          /* times a received frame was held by the rx limit */
    uint64_t tx_throttled;          /* times the transmit queue was held by the tx limit */
    uint64_t rx_dropped, tx_dropped; /* by the backend (its queue full, a write error) */
};
/* Any thread. */
void virtio_net_stats(struct virtio_net *n, struct virtio_net_stats *st);
void virtio_net_destroy(struct virtio_net *n);

#endif
