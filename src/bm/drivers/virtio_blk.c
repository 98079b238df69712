/* virtio-blk over virtio-mmio (virtio 1.1 sections 4.2.2 registers, 3.1.1 initialization,
 * 5.2 block device). The hypervisor runs with translation off, so buffer addresses are
 * physical as they are. The device is trusted no more than needed: used-ring ids and
 * lengths are checked, and a request that does not complete in time is an error. */
#include <errno.h>
#include <string.h>

#include "arch/riscv/csr.h"
#include "core/platform.h"
#include "drivers/virtio_blk.h"

enum {
    R_MAGIC = 0x000, R_VERSION = 0x004, R_DEVICE_ID = 0x008, R_DEV_FEATURES = 0x010,
    R_DEV_FEATURES_SEL = 0x014, R_DRV_FEATURES = 0x020, R_DRV_FEATURES_SEL = 0x024,
    R_QUEUE_SEL = 0x030, R_QUEUE_NUM_MAX = 0x034, R_QUEUE_NUM = 0x038, R_QUEUE_READY = 0x044,
    R_QUEUE_NOTIFY = 0x050, R_INT_STATUS = 0x060, R_INT_ACK = 0x064, R_STATUS = 0x070,
    R_DESC_LO = 0x080, R_DESC_HI = 0x084, R_AVAIL_LO = 0x090, R_AVAIL_HI = 0x094,
    R_USED_LO = 0x0a0, R_USED_HI = 0x0a4, R_CONFIG = 0x100,
};
#define MAGIC 0x74726976            /* "virt" */
#define DEV_BLOCK 2
#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
#define F_RO (1u << 5)              /* VIRTIO_BLK_F_RO */
#define F_FLUSH (1u << 9)           /* VIRTIO_BLK_F_FLUSH */
#define F_VERSION_1 (1u << 0)       /* bit 32: the high feature word's bit 0 */
#define DESC_NEXT 1
#define DESC_WRITE 2
#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4

static uint32_t rd(struct vblk *d, unsigned off)
{
    return *(volatile uint32_t *)(d->base + off);
}

static void wr(struct vblk *d, unsigned off, uint32_t v)
{
    *(volatile uint32_t *)(d->base + off) = v;
}

static void wr64(struct vblk *d, unsigned lo, const volatile void *p)
{
    wr(d, lo, (uint32_t)(uintptr_t)p);
    wr(d, lo + 4, (uint32_t)((uintptr_t)p >> 32));
}

int vblk_probe(struct vblk *d, uintptr_t base)
{
    memset(d, 0, sizeof(*d));
    d->base = base;
    if (rd(d, R_MAGIC) != MAGIC || rd(d, R_DEVICE_ID) != DEV_BLOCK)
        return -ENODEV;
    if (rd(d, R_VERSION) != 2)
        return -ENOTSUP;
    wr(d, R_STATUS, 0);
    wr(d, R_STATUS, S_ACK);
    wr(d, R_STATUS, S_ACK | S_DRIVER);
    wr(d, R_DEV_FEATURES_SEL, 0);
    uint32_t offered = rd(d, R_DEV_FEATURES);
    d->read_only = offered & F_RO;
    d->flush = offered & F_FLUSH;
    wr(d, R_DEV_FEATURES_SEL, 1);
    if (!(rd(d, R_DEV_FEATURES) & F_VERSION_1))
        return -ENOTSUP;
    wr(d, R_DRV_FEATURES_SEL, 0);
    wr(d, R_DRV_FEATURES, (d->read_only ? F_RO : 0) | (d->flush ? F_FLUSH : 0));
    wr(d, R_DRV_FEATURES_SEL, 1);
    wr(d, R_DRV_FEATURES, F_VERSION_1);
    wr(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
    if (!(rd(d, R_STATUS) & S_FEATURES_OK))
        return -EIO;
    wr(d, R_QUEUE_SEL, 0);
    if (rd(d, R_QUEUE_READY) || rd(d, R_QUEUE_NUM_MAX) < 3)
        return -EIO;
    wr(d, R_QUEUE_NUM, rd(d, R_QUEUE_NUM_MAX) < VBLK_QSIZE ? rd(d, R_QUEUE_NUM_MAX) : VBLK_QSIZE);
    wr64(d, R_DESC_LO, d->desc);
    wr64(d, R_AVAIL_LO, &d->avail);
    wr64(d, R_USED_LO, &d->used);
    wr(d, R_QUEUE_READY, 1);
    d->capacity = (uint64_t)rd(d, R_CONFIG + 4) << 32 | rd(d, R_CONFIG);
    wr(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    return 0;
}

/* One request: header, data (none for a flush), status (virtio 1.1 5.2.6), polled to
 * completion. */
static int request(struct vblk *d, uint32_t type, uint64_t sector, void *buf, uint32_t count)
{
    if (type != T_FLUSH && (!count || sector >= d->capacity || count > d->capacity - sector ||
                            count > (1u << 20) || (type == T_OUT && d->read_only)))
        return -EINVAL;
    d->hdr = (typeof(d->hdr)){ type, 0, type == T_FLUSH ? 0 : sector };
    d->status = 0xff;
    d->desc[0] = (struct vblk_desc){ (uintptr_t)&d->hdr, sizeof(d->hdr), DESC_NEXT, 1 };
    if (type == T_FLUSH) {
        d->desc[1] = (struct vblk_desc){ (uintptr_t)&d->status, 1, DESC_WRITE, 0 };
    } else {
        d->desc[1] = (struct vblk_desc){ (uintptr_t)buf, count * 512,
                                         DESC_NEXT | (type == T_IN ? DESC_WRITE : 0), 2 };
        d->desc[2] = (struct vblk_desc){ (uintptr_t)&d->status, 1, DESC_WRITE, 0 };
    }
    d->avail.ring[d->avail_idx % VBLK_QSIZE] = 0;
    __asm__ volatile("fence rw, rw" ::: "memory");
    d->avail.idx = ++d->avail_idx;
    __asm__ volatile("fence rw, rw" ::: "memory");
    wr(d, R_QUEUE_NOTIFY, 0);
    uint64_t deadline = csr_read(CSR_TIME) + 5 * platform.timebase;
    while (*(volatile uint16_t *)&d->used.idx == d->used_seen)
        if (csr_read(CSR_TIME) > deadline)
            return -EIO;
    __asm__ volatile("fence rw, rw" ::: "memory");
    uint32_t id = d->used.ring[d->used_seen % VBLK_QSIZE].id;
    d->used_seen++;
    wr(d, R_INT_ACK, rd(d, R_INT_STATUS));
    return id == 0 && d->status == 0 ? 0 : -EIO;
}

int vblk_read(struct vblk *d, uint64_t sector, void *buf, uint32_t count)
{
    return request(d, T_IN, sector, buf, count);
}

int vblk_write(struct vblk *d, uint64_t sector, const void *buf, uint32_t count)
{
    return request(d, T_OUT, sector, (void *)buf, count);
}

int vblk_flush(struct vblk *d)
{
    return d->flush ? request(d, T_FLUSH, 0, NULL, 0) : 0;
}
