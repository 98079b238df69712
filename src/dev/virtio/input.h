/* virtio-input (virtio 1.x section 5.8) as a power button: the host presses it, the guest
 * sees KEY_POWER on an input device. Nothing else (no keyboard, no pointer). */
#ifndef CORRAL_DEV_VIRTIO_INPUT_H
#define CORRAL_DEV_VIRTIO_INPUT_H

#include "dev/virtio/virtio_mmio.h"

struct virtio_input;

struct virtio_input *virtio_input_create(const struct virtio_slot *slot);
struct virtio_dev *virtio_input_dev(struct virtio_input *in);
void virtio_input_destroy(struct virtio_input *in);

/* Queues KEY_POWER down, SYN, KEY_POWER up, SYN (any thread). 0; -ENODEV if the driver
 * is not running the device; -EAGAIN if too many events wait for guest buffers already. */
int virtio_input_press_power(struct virtio_input *in);

#endif
