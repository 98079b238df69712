/* virtio-console (virtio 1.x section 5.3), one port without MULTIPORT: the guest's hvc0,
 * carried over a host file descriptor (a pseudo-terminal or a file). */
#ifndef CORRAL_DEV_VIRTIO_CONSOLE_H
#define CORRAL_DEV_VIRTIO_CONSOLE_H

#include "dev/virtio/virtio_mmio.h"

struct virtio_console;

/* IN_FD is read for guest input (-1: none); OUT_FD receives the guest's output. The device
 * owns both descriptors (closes them on destroy; they may be the same). */
struct virtio_console *virtio_console_create(const struct virtio_slot *slot, int in_fd, int out_fd);
struct virtio_dev *virtio_console_dev(struct virtio_console *c);
/* OUT_FD is a file: once it would grow past CAP bytes it is emptied and starts again (as
 * a background VM's console.log does). Before the device starts. */
void virtio_console_cap_output(struct virtio_console *c, uint64_t cap);
void virtio_console_destroy(struct virtio_console *c);

#endif
