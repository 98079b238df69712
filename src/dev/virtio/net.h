/* virtio-net (virtio 1.x section 5.1): one receive and one transmit queue over a network
 * backend (libslirp user networking or a tap device). */
#ifndef CORRAL_DEV_VIRTIO_NET_H
#define CORRAL_DEV_VIRTIO_NET_H

#include "dev/virtio/virtio_mmio.h"

struct virtio_net;

/* Opens the backend for SPEC (the text after --net; INDEX picks the default MAC) and
 * creates the device. On failure: NULL with a one-line reason in err. */
struct virtio_net *virtio_net_create(const struct virtio_slot *slot, const char *spec,
                                     unsigned index, char *err, size_t errlen);
struct virtio_dev *virtio_net_dev(struct virtio_net *n);
void virtio_net_destroy(struct virtio_net *n);

#endif
