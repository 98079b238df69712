/* virtio-rng (virtio 1.x section 5.4): entropy for the guest from the host's getrandom. */
#ifndef CORRAL_DEV_VIRTIO_RNG_H
#define CORRAL_DEV_VIRTIO_RNG_H

#include "dev/virtio/virtio_mmio.h"

struct virtio_rng;

struct virtio_rng *virtio_rng_create(const struct virtio_slot *slot);
struct virtio_dev *virtio_rng_dev(struct virtio_rng *r);
void virtio_rng_destroy(struct virtio_rng *r);

#endif
