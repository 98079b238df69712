/* Attaches the VM's virtio devices to the board's virtio-mmio slots.
 * Which device goes in which slot is decided here, in command-line order. */
#include <stdio.h>
#include <stdlib.h>

#include "hosted/devices.h"

struct vm_devices {
    unsigned count;
};

int devices_attach(struct board *b, const struct vm_config *vc, struct vm_devices **out,
                   char *err, size_t errlen)
{
    (void)b;
    if (vc->num_disks || vc->num_nets) {
        snprintf(err, errlen, "virtio devices (--disk, --net) are not available in this build");
        return -ENOTSUP;
    }
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : -ENOMEM;
}

void devices_reset(struct vm_devices *d)
{
    (void)d;
}

void devices_detach(struct vm_devices *d)
{
    free(d);
}
