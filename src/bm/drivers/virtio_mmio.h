/* What the hypervisor's drivers for the machine's virtio-mmio devices share (virtio 1.1
 * section 4.2.2, MMIO version 2): the registers, the status bits, 32-bit accessors, and the
 * start of initialization (3.1.1) up to FEATURES_OK. */
#ifndef CORRAL_BM_DRIVERS_VIRTIO_MMIO_H
#define CORRAL_BM_DRIVERS_VIRTIO_MMIO_H

#include <errno.h>
#include <stdint.h>

enum {
    VM_MAGIC = 0x000, VM_VERSION = 0x004, VM_DEVICE_ID = 0x008, VM_DEV_FEATURES = 0x010,
    VM_DEV_FEATURES_SEL = 0x014, VM_DRV_FEATURES = 0x020, VM_DRV_FEATURES_SEL = 0x024,
    VM_QUEUE_SEL = 0x030, VM_QUEUE_NUM_MAX = 0x034, VM_QUEUE_NUM = 0x038,
    VM_QUEUE_READY = 0x044, VM_QUEUE_NOTIFY = 0x050, VM_INT_STATUS = 0x060,
    VM_INT_ACK = 0x064, VM_STATUS = 0x070, VM_DESC_LO = 0x080, VM_AVAIL_LO = 0x090,
    VM_USED_LO = 0x0a0, VM_CONFIG = 0x100,
};
#define VM_S_ACK 1
#define VM_S_DRIVER 2
#define VM_S_DRIVER_OK 4
#define VM_S_FEATURES_OK 8
#define VM_F_VERSION_1 (1u << 0)    /* bit 32: the high feature word's bit 0 */

static inline uint32_t vmmio_rd(uintptr_t base, unsigned off)
{
    return *(volatile uint32_t *)(base + off);
}

static inline void vmmio_wr(uintptr_t base, unsigned off, uint32_t v)
{
    *(volatile uint32_t *)(base + off) = v;
}

static inline void vmmio_wr64(uintptr_t base, unsigned lo, const volatile void *p)
{
    vmmio_wr(base, lo, (uint32_t)(uintptr_t)p);
    vmmio_wr(base, lo + 4, (uint32_t)((uintptr_t)p >> 32));
}

/* Resets the device at base if it is a virtio 1.x device of type id, and negotiates
 * VERSION_1 plus the low feature bits in want that it offers (*got). 0 at FEATURES_OK;
 * -ENODEV for an empty slot or another device, -ENOTSUP for a legacy transport or a
 * device without VERSION_1, -EIO if it refused. */
static inline int vmmio_begin(uintptr_t base, uint32_t id, uint32_t want, uint32_t *got)
{
    if (vmmio_rd(base, VM_MAGIC) != 0x74726976 /* "virt" */ ||
        vmmio_rd(base, VM_DEVICE_ID) != id)
        return -ENODEV;
    if (vmmio_rd(base, VM_VERSION) != 2)
        return -ENOTSUP;
    vmmio_wr(base, VM_STATUS, 0);
    vmmio_wr(base, VM_STATUS, VM_S_ACK);
    vmmio_wr(base, VM_STATUS, VM_S_ACK | VM_S_DRIVER);
    vmmio_wr(base, VM_DEV_FEATURES_SEL, 0);
    *got = vmmio_rd(base, VM_DEV_FEATURES) & want;
    vmmio_wr(base, VM_DEV_FEATURES_SEL, 1);
    if (!(vmmio_rd(base, VM_DEV_FEATURES) & VM_F_VERSION_1))
        return -ENOTSUP;
    vmmio_wr(base, VM_DRV_FEATURES_SEL, 0);
    vmmio_wr(base, VM_DRV_FEATURES, *got);
    vmmio_wr(base, VM_DRV_FEATURES_SEL, 1);
    vmmio_wr(base, VM_DRV_FEATURES, VM_F_VERSION_1);
    vmmio_wr(base, VM_STATUS, VM_S_ACK | VM_S_DRIVER | VM_S_FEATURES_OK);
    return vmmio_rd(base, VM_STATUS) & VM_S_FEATURES_OK ? 0 : -EIO;
}

#endif
