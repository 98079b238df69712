/* virtio-mmio version 2 registers. A driver's writes take the transport lock; the device
 * model's callbacks run without it, so a model may call back into virtio_notify_*.
 * The status follows the spec's state machine strictly (2.1.1, 3.1.1): bits come in order and
 * stay until a reset, features freeze at FEATURES_OK, queues at DRIVER_OK. A driver that
 * breaks these gets DEVICE_NEEDS_RESET, and its device serves nothing until reset. */
#include <errno.h>
#include <string.h>

#include "dev/virtio/virtio_mmio.h"

#define MAGIC 0x74726976u /* "virt" */
#define VENDOR 0x554d4551u /* the vendor ID Linux and QEMU use for emulated devices */


static uint64_t all_features(const struct virtio_dev *d)
{
    return d->ops->features | 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_F_INDIRECT_DESC |
           1ULL << VIRTIO_F_EVENT_IDX;
}

static struct virtq *cur_queue(struct virtio_dev *d)
{
    return d->queue_sel < d->ops->num_queues ? &d->vq[d->queue_sel] : NULL;
}

static void set_hi(uint64_t *v, uint32_t x) { *v = (*v & 0xffffffffULL) | (uint64_t)x << 32; }
static void set_lo(uint64_t *v, uint32_t x) { *v = (*v & ~0xffffffffULL) | x; }

/* A config access the model can serve: a register size, wholly inside its config space (the
 * models copy SIZE bytes into a uint64_t). */
static bool config_ok(const struct virtio_dev *d, uint64_t coff, unsigned size)
{
    bool sized = size == 1 || size == 2 || size == 4 || size == 8;
    return sized && coff < d->ops->config_size && size <= d->ops->config_size - coff;
}

static int mmio_read(void *dev, uint64_t off, unsigned size, uint64_t *val)
{
    struct virtio_dev *d = dev;
    if (off >= R_CONFIG) {
        *val = 0;
        if (d->ops->config_read && config_ok(d, off - R_CONFIG, size))
            d->ops->config_read(d->ctx, (uint32_t)(off - R_CONFIG), size, val);
        return 0;
    }
    if (size != 4 || (off & 3)) {
        *val = 0;
        return 0;
    }
    pthread_mutex_lock(&d->lock);
    struct virtq *q = cur_queue(d);
    uint64_t v = 0;
    switch (off) {
    case R_MAGIC: v = MAGIC; break;
    case R_VERSION: v = 2; break;
    case R_DEVICE_ID: v = d->ops->device_id; break;
    case R_VENDOR_ID: v = VENDOR; break;
    case R_DEV_FEATURES:
        v = d->dev_features_sel < 2 ? (uint32_t)(all_features(d) >> (32 * d->dev_features_sel)) : 0;
        break;
    case R_QUEUE_NUM_MAX: v = q ? d->ops->queue_max : 0; break;
    case R_QUEUE_NUM: v = q ? q->size : 0; break;
    case R_QUEUE_READY: v = q ? q->ready : 0; break;
    case R_INT_STATUS: v = d->isr; break;
    case R_STATUS: v = d->status; break;
    case R_QUEUE_DESC_LO: v = q ? (uint32_t)q->desc_gpa : 0; break;
    case R_QUEUE_DESC_HI: v = q ? q->desc_gpa >> 32 : 0; break;
    case R_QUEUE_AVAIL_LO: v = q ? (uint32_t)q->avail_gpa : 0; break;
    case R_QUEUE_AVAIL_HI: v = q ? q->avail_gpa >> 32 : 0; break;
    case R_QUEUE_USED_LO: v = q ? (uint32_t)q->used_gpa : 0; break;
    case R_QUEUE_USED_HI: v = q ? q->used_gpa >> 32 : 0; break;
    case R_SHM_LEN_LO: case R_SHM_LEN_HI: v = 0xffffffffu; break; /* no shared memory */
    case R_SHM_BASE_LO: case R_SHM_BASE_HI: v = 0xffffffffu; break;
    case R_CONFIG_GEN: v = d->config_generation; break;
    default: break;
    }
    pthread_mutex_unlock(&d->lock);
    *val = v;
    return 0;
}

static void reset_locked(struct virtio_dev *d)
{
    for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
        virtq_reset(&d->vq[i]);
    d->status = 0;
    d->isr = 0;
    d->driver_features = 0;
    d->dev_features_sel = d->drv_features_sel = d->queue_sel = 0;
    irq_set(&d->irq, 0);
}

#define DRIVER_BITS (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK | \
                     VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_FAILED)

/* The driver broke the protocol (under the lock): DEVICE_NEEDS_RESET and a config interrupt
 * (2.1.2). *stop asks the caller to stop the model, if it was working its queues. */
static void violation(struct virtio_dev *d, bool *stop)
{
    if (d->status & VIRTIO_STATUS_NEEDS_RESET)
        return;
    *stop = (d->status & VIRTIO_STATUS_DRIVER_OK) != 0;
    d->status |= VIRTIO_STATUS_NEEDS_RESET;
    d->isr |= 2;
    irq_set(&d->irq, 1);
}

/* A status write other than reset may only add bits, each after the one before it
 * (DRIVER, FEATURES_OK, DRIVER_OK; 3.1.1); FAILED may come at any time. ACKNOWLEDGE may be
 * left out, as QEMU allows: U-Boot acknowledges a device when it binds it, resets it when it
 * probes it, and goes on with DRIVER alone. */
static bool status_step_ok(uint32_t old, uint32_t v)
{
    uint32_t added = v & ~old;
    if (old & ~v & DRIVER_BITS)
        return false; /* 2.1.2: the driver must not clear a status bit */
    if ((added & VIRTIO_STATUS_FEATURES_OK) && !(v & VIRTIO_STATUS_DRIVER))
        return false;
    if ((added & VIRTIO_STATUS_DRIVER_OK) && !(v & VIRTIO_STATUS_FEATURES_OK))
        return false;
    return true;
}

/* Status writes: 0 resets; anything out of order is a violation and changes nothing.
 * FEATURES_OK is accepted as QEMU's virtio-mmio accepts it: the features the device does
 * not offer are dropped, and a driver that leaves VIRTIO_F_VERSION_1 out (xv6, written
 * against QEMU) still drives the device through the version 2 registers. The spec lets a
 * device refuse both (3.1.1, 6.1); QEMU does not, and drivers rely on it. */
static void write_status(struct virtio_dev *d, uint32_t v, bool *start, bool *reset, bool *stop)
{
    if (v == 0) {
        *reset = true;
        return;
    }
    uint32_t old = d->status & DRIVER_BITS;
    v &= DRIVER_BITS; /* NEEDS_RESET is the device's to set, and only a reset clears it */
    if (!status_step_ok(old, v)) {
        violation(d, stop);
        return;
    }
    if (v & ~old & VIRTIO_STATUS_FEATURES_OK) {
        /* frozen from here to the next reset: the device's threads read these unlocked */
        d->driver_features &= all_features(d);
        bool ev = d->driver_features >> VIRTIO_F_EVENT_IDX & 1;
        bool ind = d->driver_features >> VIRTIO_F_INDIRECT_DESC & 1;
        for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
            d->vq[i].event_idx = ev;
            d->vq[i].indirect = ind;
        }
    }
    *start = (v & ~old & VIRTIO_STATUS_DRIVER_OK) && !(d->status & VIRTIO_STATUS_NEEDS_RESET);
    d->status = v | (d->status & VIRTIO_STATUS_NEEDS_RESET);
}

static void write_queue_ready(struct virtio_dev *d, struct virtq *q, uint32_t v, bool *stop)
{
    if (!v) {
        q->ready = false;
        return;
    }
    if (virtq_validate(q)) {
        violation(d, stop);
        return;
    }
    q->last_avail = 0;
    q->used_idx = 0;
    q->signalled_valid = false;
    q->ready = true;
}

/* Whether a write of V at OFF would change a live queue's setup. */
static bool queue_change(const struct virtq *q, uint64_t off, uint32_t v)
{
    switch (off) {
    case R_QUEUE_NUM: return v != q->size;
    case R_QUEUE_READY: return (v != 0) != q->ready;
    case R_QUEUE_DESC_LO: return v != (uint32_t)q->desc_gpa;
    case R_QUEUE_DESC_HI: return v != q->desc_gpa >> 32;
    case R_QUEUE_AVAIL_LO: return v != (uint32_t)q->avail_gpa;
    case R_QUEUE_AVAIL_HI: return v != q->avail_gpa >> 32;
    case R_QUEUE_USED_LO: return v != (uint32_t)q->used_gpa;
    case R_QUEUE_USED_HI: return v != q->used_gpa >> 32;
    default: return false;
    }
}

/* After a violation on a live device: the model stops working its queues, as at a reset,
 * but the registers keep their values for the driver to see until it resets. */
static void stop_model(struct virtio_dev *d)
{
    pthread_rwlock_wrlock(&d->notify_lock);
    if (d->ops->reset)
        d->ops->reset(d->ctx);
    pthread_rwlock_unlock(&d->notify_lock);
}

static int mmio_write(void *dev, uint64_t off, unsigned size, uint64_t val)
{
    struct virtio_dev *d = dev;
    if (off >= R_CONFIG) {
        if (d->ops->config_write && config_ok(d, off - R_CONFIG, size))
            d->ops->config_write(d->ctx, (uint32_t)(off - R_CONFIG), size, val);
        return 0;
    }
    if (size != 4 || (off & 3))
        return 0;
    uint32_t v = (uint32_t)val;
    bool start = false, reset = false, stop = false;
    if (off == R_QUEUE_NOTIFY) {
        pthread_rwlock_rdlock(&d->notify_lock);
        pthread_mutex_lock(&d->lock);
        bool live = (d->status & VIRTIO_STATUS_DRIVER_OK) &&
                    !(d->status & VIRTIO_STATUS_NEEDS_RESET);
        pthread_mutex_unlock(&d->lock);
        if (v < d->ops->num_queues && live && d->ops->notify)
            d->ops->notify(d->ctx, v);
        pthread_rwlock_unlock(&d->notify_lock);
        return 0;
    }
    pthread_mutex_lock(&d->lock);
    struct virtq *q = cur_queue(d);
    bool live = d->status & VIRTIO_STATUS_DRIVER_OK;
    /* After DRIVER_OK the device's threads work the queues without this lock: hands off. A
     * queue register the driver changes then is a violation. */
    struct virtq *setup = q && !live ? q : NULL;
    if (q && live && queue_change(q, off, v))
        violation(d, &stop);
    switch (off) {
    case R_DEV_FEATURES_SEL: d->dev_features_sel = v; break;
    case R_DRV_FEATURES_SEL: d->drv_features_sel = v; break;
    case R_DRV_FEATURES:
        if (d->status & VIRTIO_STATUS_FEATURES_OK)
            violation(d, &stop); /* features are frozen */
        else if (d->drv_features_sel == 1)
            set_hi(&d->driver_features, v);
        else if (d->drv_features_sel == 0)
            set_lo(&d->driver_features, v);
        break;
    case R_QUEUE_SEL: d->queue_sel = v; break;
    case R_QUEUE_NUM:
        if (setup && !q->ready)
            q->size = v <= d->ops->queue_max && v && !(v & (v - 1)) ? (uint16_t)v : 0;
        break;
    case R_QUEUE_READY:
        if (setup)
            write_queue_ready(d, q, v, &stop);
        break;
    case R_INT_ACK:
        d->isr &= ~v;
        if (!d->isr)
            irq_set(&d->irq, 0);
        break;
    case R_STATUS: write_status(d, v, &start, &reset, &stop); break;
    case R_QUEUE_DESC_LO: if (setup && !q->ready) set_lo(&q->desc_gpa, v); break;
    case R_QUEUE_DESC_HI: if (setup && !q->ready) set_hi(&q->desc_gpa, v); break;
    case R_QUEUE_AVAIL_LO: if (setup && !q->ready) set_lo(&q->avail_gpa, v); break;
    case R_QUEUE_AVAIL_HI: if (setup && !q->ready) set_hi(&q->avail_gpa, v); break;
    case R_QUEUE_USED_LO: if (setup && !q->ready) set_lo(&q->used_gpa, v); break;
    case R_QUEUE_USED_HI: if (setup && !q->ready) set_hi(&q->used_gpa, v); break;
    case R_SHM_SEL: break;
    default: break;
    }
    pthread_mutex_unlock(&d->lock);
    if (reset)
        virtio_mmio_reset(d);
    if (stop)
        stop_model(d);
    if (start && d->ops->start)
        d->ops->start(d->ctx);
    return 0;
}

void virtio_mmio_init(struct virtio_dev *d, const char *name, uint64_t base,
                      const struct guest_mem *mem, struct irq_line irq,
                      const struct virtio_ops *ops, void *ctx)
{
    memset(d, 0, sizeof(*d));
    d->ops = ops;
    d->ctx = ctx;
    d->irq = irq;
    pthread_mutex_init(&d->lock, NULL);
    pthread_rwlock_init(&d->notify_lock, NULL);
    for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
        d->vq[i].mem = mem;
    d->region = (struct mmio_region){ name, base, 0x1000, d, mmio_read, mmio_write };
}

void virtio_mmio_destroy(struct virtio_dev *d)
{
    pthread_mutex_destroy(&d->lock);
    pthread_rwlock_destroy(&d->notify_lock);
}

void virtio_mmio_hold(struct virtio_dev *d, bool hold)
{
    if (d->ops->hold)
        d->ops->hold(d->ctx, hold);
}

void virtio_mmio_reset(struct virtio_dev *d)
{
    pthread_rwlock_wrlock(&d->notify_lock);
    if (d->ops->reset)
        d->ops->reset(d->ctx); /* the model stops touching the queues first */
    pthread_mutex_lock(&d->lock);
    reset_locked(d);
    pthread_mutex_unlock(&d->lock);
    pthread_rwlock_unlock(&d->notify_lock);
}

void virtio_notify_queue(struct virtio_dev *d, unsigned q)
{
    pthread_mutex_lock(&d->lock);
    if (q < d->ops->num_queues && virtq_need_interrupt(&d->vq[q])) {
        d->isr |= 1;
        irq_set(&d->irq, 1);
    }
    pthread_mutex_unlock(&d->lock);
}

void virtio_notify_config(struct virtio_dev *d)
{
    pthread_mutex_lock(&d->lock);
    d->config_generation++;
    if (d->status & VIRTIO_STATUS_DRIVER_OK) {
        d->isr |= 2;
        irq_set(&d->irq, 1);
    }
    pthread_mutex_unlock(&d->lock);
}

void virtio_needs_reset(struct virtio_dev *d)
{
    pthread_mutex_lock(&d->lock);
    if (!(d->status & VIRTIO_STATUS_NEEDS_RESET)) {
        d->status |= VIRTIO_STATUS_NEEDS_RESET;
        if (d->status & VIRTIO_STATUS_DRIVER_OK) {
            d->isr |= 2;
            irq_set(&d->irq, 1);
        }
    }
    pthread_mutex_unlock(&d->lock);
}

bool virtio_has_feature(const struct virtio_dev *d, unsigned bit)
{
    return bit < 64 && (d->driver_features >> bit & 1);
}

bool virtio_driver_ok(const struct virtio_dev *d)
{
    return (__atomic_load_n(&d->status, __ATOMIC_ACQUIRE) & VIRTIO_STATUS_DRIVER_OK) &&
           !(__atomic_load_n(&d->status, __ATOMIC_ACQUIRE) & VIRTIO_STATUS_NEEDS_RESET);
}
