/* The VM's optional devices (virtio disks, NICs, console, entropy): chosen from the
 * command line, backed by host resources, and placed in the board's virtio slots. */
#ifndef CORRAL_HOSTED_DEVICES_H
#define CORRAL_HOSTED_DEVICES_H

#include "hosted/cli.h"
#include "machine/board.h"

struct vm_devices;

/* Opens backends and adds devices to the board. On failure err holds a one-line reason. */
int devices_attach(struct board *b, const struct vm_config *vc, struct vm_devices **out,
                   char *err, size_t errlen);
/* Guest reboot: devices return to their reset state. */
void devices_reset(struct vm_devices *d);
/* Closes backends (flushing them) and frees. NULL is fine. */
void devices_detach(struct vm_devices *d);

#endif
