/* The machine's virtio-blk devices on virtio-mmio (virtio 1.x, MMIO version 2 only): polled,
 * one request at a time, used by the hypervisor itself. Not the device guests see. */
#ifndef CORRAL_BM_VIRTIO_BLK_H
#define CORRAL_BM_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#define VBLK_MAX 4
#define VBLK_QSIZE 8

struct vblk {
    uintptr_t base;
    uint64_t capacity;        /* 512-byte sectors */
    bool read_only;
    bool flush;               /* VIRTIO_BLK_F_FLUSH: a write cache that a flush empties */
    uint16_t avail_idx, used_seen;
    /* the split virtqueue (virtio 1.x 2.7): descriptor table, driver and device areas */
    struct vblk_desc { uint64_t addr; uint32_t len; uint16_t flags, next; } desc[VBLK_QSIZE]
        __attribute__((aligned(16)));
    struct { uint16_t flags, idx, ring[VBLK_QSIZE], used_event; } avail
        __attribute__((aligned(2)));
    struct { uint16_t flags, idx; struct { uint32_t id, len; } ring[VBLK_QSIZE];
             uint16_t avail_event; } used __attribute__((aligned(4)));
    struct { uint32_t type, reserved; uint64_t sector; } hdr;
    volatile uint8_t status;
};

/* What the slot at base holds: 0 and *d set up for a block device; -ENODEV for an empty
 * slot or another device; -ENOTSUP for a legacy (version 1) transport; -EIO if the device
 * refused the driver. */
int vblk_probe(struct vblk *d, uintptr_t base);
/* count sectors from sector into/from buf (physical memory); 0 or -EIO/-EINVAL. */
int vblk_read(struct vblk *d, uint64_t sector, void *buf, uint32_t count);
int vblk_write(struct vblk *d, uint64_t sector, const void *buf, uint32_t count);
/* Everything written so far on stable storage (a no-op for a device without a write
 * cache); 0 or -EIO. */
int vblk_flush(struct vblk *d);

#endif
