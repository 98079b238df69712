/* The machine's disks and the guests' slices of them. At boot disk_probe_all() finds the
 * machine's virtio-blk devices (drivers/virtio_blk.c); a VM's description may give it a
 * slice of the first one, which its virtio-blk model (src/dev/virtio/blk.c, unchanged) sees
 * as a whole disk through the block backend API of backend/block.h. */
#ifndef CORRAL_BM_DISK_H
#define CORRAL_BM_DISK_H

#include <stdbool.h>
#include <stdint.h>

struct blk_backend;

/* Probes every virtio-mmio slot for a block device and prints what it found. */
void disk_probe_all(void);
/* Sectors (512 bytes) of the machine's disk N, 0 if there is none. */
uint64_t disk_capacity(unsigned n);
/* A backend over sectors [start, start + count) of machine disk N, read-only if asked or if
 * the disk is; NULL (and *why says it) if the slice does not fit or there is no room. The
 * caller checks that slices of different VMs do not overlap. */
struct blk_backend *disk_slice(unsigned n, uint64_t start, uint64_t count, bool readonly,
                               unsigned vm_index, const char **why);

#endif
