/* The VM's optional devices (virtio disks, NICs, console, entropy): chosen by the VM
 * description, backed by host resources, and placed in the board's virtio slots. */
#ifndef CORRAL_HOSTED_DEVICES_H
#define CORRAL_HOSTED_DEVICES_H

#include "hosted/spec.h"
#include "machine/board.h"

struct vm_devices;
struct blk_backend;

/* Opens every drive's image (and its backing chain) into be[0..n_drives): the files are
 * open before the VM process locks itself down. On failure nothing stays open. */
int devices_open_disks(const struct vm_spec *s, struct blk_backend **be, char *err,
                       size_t errlen);
/* Adds the devices to the board, taking over the opened disks (closed on failure too).
 * SWITCH_ROOT holds one folder per virtual switch. On failure err holds a one-line reason. */
int devices_attach(struct board *b, const struct vm_spec *vs, struct blk_backend **disks,
                   const char *switch_root, struct vm_devices **out, char *err, size_t errlen);
/* Presses the power button (virtio-input KEY_POWER); -ENODEV without one, -ENOTCONN when
 * the guest has no driver for it (yet), -EAGAIN when presses are still queued. */
int devices_power_button(struct vm_devices *d);
/* Sets the balloon's size in MiB; -ENODEV without a balloon. */
int devices_balloon_set(struct vm_devices *d, uint64_t mib);
/* Adds the devices' counters to a stats object. */
void devices_stats(struct vm_devices *d, json_t *out);
/* Holds (true) or releases every device, so that none of their threads touches guest RAM
 * meanwhile; the harts must be parked. */
void devices_hold(struct vm_devices *d, bool hold);
/* Guest reboot: devices return to their reset state. */
void devices_reset(struct vm_devices *d);
/* Closes backends (flushing them) and frees. NULL is fine. */
void devices_detach(struct vm_devices *d);

#endif
