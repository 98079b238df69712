/* virtio-blk over virtio-mmio (virtio 1.1 sections 4.2.2 registers, 3.1.1 initialization,
 * 5.2 block device). The hypervisor runs with translation off, so buffer addresses are
 * physical as they are. The device is trusted no more than needed: used-ring ids and
 * lengths are checked, and a request that does not complete in time is an error. */
#include <errno.h>
#include <string.h>

#include "arch/riscv/csr.h"
#include "core/platform.h"
#include "drivers/virtio_blk.h"
#include "drivers/virtio_mmio.h"

#define DEV_BLOCK 2
#define F_RO (1u << 5)              /* VIRTIO_BLK_F_RO */
#define F_FLUSH (1u << 9)           /* VIRTIO_BLK_F_FLUSH */
#define DESC_NEXT 1
#define DESC_WRITE 2
#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4

static uint32_t rd(struct vblk *d, unsigned off) { return vmmio_rd(d->base, off); }
static void wr(struct vblk *d, unsigned off, uint32_t v) { vmmio_wr(d->base, off, v); }

int vblk_probe(struct vblk *d, uintptr_t base)
{
    memset(d, 0, sizeof(*d));
    d->base = base;
    uint32_t got;
    int err = vmmio_begin(base, DEV_BLOCK, F_RO | F_FLUSH, &got);
    if (err)
        return err;
    d->read_only = got & F_RO;
    d->flush = got & F_FLUSH;
    wr(d, VM_QUEUE_SEL, 0);
    if (rd(d, VM_QUEUE_READY) || rd(d, VM_QUEUE_NUM_MAX) < 3)
        return -EIO;
    wr(d, VM_QUEUE_NUM, rd(d, VM_QUEUE_NUM_MAX) < VBLK_QSIZE ? rd(d, VM_QUEUE_NUM_MAX) : VBLK_QSIZE);
    vmmio_wr64(base, VM_DESC_LO, d->desc);
    vmmio_wr64(base, VM_AVAIL_LO, &d->avail);
    vmmio_wr64(base, VM_USED_LO, &d->used);
    wr(d, VM_QUEUE_READY, 1);
    d->capacity = (uint64_t)rd(d, VM_CONFIG + 4) << 32 | rd(d, VM_CONFIG);
    wr(d, VM_STATUS, VM_S_ACK | VM_S_DRIVER | VM_S_FEATURES_OK | VM_S_DRIVER_OK);
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
    wr(d, VM_QUEUE_NOTIFY, 0);
    uint64_t deadline = csr_read(CSR_TIME) + 5 * platform.timebase;
    while (*(volatile uint16_t *)&d->used.idx == d->used_seen)
        if (csr_read(CSR_TIME) > deadline)
            return -EIO;
    __asm__ volatile("fence rw, rw" ::: "memory");
    uint32_t id = d->used.ring[d->used_seen % VBLK_QSIZE].id;
    d->used_seen++;
    wr(d, VM_INT_ACK, rd(d, VM_INT_STATUS));
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
