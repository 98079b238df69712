/* The virtio-mmio transport, version 2 (virtio 1.x section 4.2.2): the register block a
 * device model sits behind in one of the board's virtio slots. A device model supplies
 * virtio_ops; the transport handles feature negotiation, status, queue setup, interrupt
 * status and the config-space window, and owns the queues. */
#ifndef CORRAL_DEV_VIRTIO_MMIO_H
#define CORRAL_DEV_VIRTIO_MMIO_H

#include <pthread.h>

#include "corral/irq.h"
#include "corral/mmio.h"
#include "dev/virtio/virtqueue.h"

#define VIRTIO_MAX_QUEUES 8

/* Register offsets of a virtio-mmio version 2 device (virtio 1.x 4.2.2). */
enum {
    R_MAGIC = 0x000, R_VERSION = 0x004, R_DEVICE_ID = 0x008, R_VENDOR_ID = 0x00c,
    R_DEV_FEATURES = 0x010, R_DEV_FEATURES_SEL = 0x014,
    R_DRV_FEATURES = 0x020, R_DRV_FEATURES_SEL = 0x024,
    R_QUEUE_SEL = 0x030, R_QUEUE_NUM_MAX = 0x034, R_QUEUE_NUM = 0x038,
    R_QUEUE_READY = 0x044, R_QUEUE_NOTIFY = 0x050,
    R_INT_STATUS = 0x060, R_INT_ACK = 0x064, R_STATUS = 0x070,
    R_QUEUE_DESC_LO = 0x080, R_QUEUE_DESC_HI = 0x084,
    R_QUEUE_AVAIL_LO = 0x090, R_QUEUE_AVAIL_HI = 0x094,
    R_QUEUE_USED_LO = 0x0a0, R_QUEUE_USED_HI = 0x0a4,
    R_SHM_SEL = 0x0ac, R_SHM_LEN_LO = 0x0b0, R_SHM_LEN_HI = 0x0b4,
    R_SHM_BASE_LO = 0x0b8, R_SHM_BASE_HI = 0x0bc,
    R_CONFIG_GEN = 0x0fc, R_CONFIG = 0x100,
};

/* Feature bits (the transport adds VERSION_1, RING_INDIRECT_DESC and RING_EVENT_IDX). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1     32

/* Device status bits */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER      2
#define VIRTIO_STATUS_DRIVER_OK   4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED      0x80

struct virtio_dev;

/* Where a device model goes: its slot's registers, interrupt line and the guest's RAM. */
struct virtio_slot {
    const char *name;
    uint64_t base;
    struct irq_line irq;
    const struct guest_mem *mem;
};

struct virtio_ops {
    uint32_t device_id;
    uint64_t features;       /* device-specific bits */
    unsigned num_queues;
    uint16_t queue_max;      /* QueueNumMax for every queue */
    uint32_t config_size;
    /* Config space access (offset within config, 1/2/4/8 bytes); may be NULL. */
    void (*config_read)(void *ctx, uint32_t off, unsigned size, uint64_t *val);
    void (*config_write)(void *ctx, uint32_t off, unsigned size, uint64_t val);
    /* The driver kicked queue q (on a vCPU thread). */
    void (*notify)(void *ctx, unsigned q);
    /* The driver set DRIVER_OK: queues are ready; features are in dev->driver_features. */
    void (*start)(void *ctx);
    /* The driver reset the device (or the VM is resetting): stop all work on the queues
     * and return when no thread touches them any more. */
    void (*reset)(void *ctx);
    /* Another thread needs guest RAM left alone for a moment (hold true) and is done (hold
     * false): a model whose own threads touch RAM takes what they hold while they work. NULL
     * for a model that works only on vCPU threads and the caller's (the event loop). */
    void (*hold)(void *ctx, bool hold);
};

struct virtio_dev {
    const struct virtio_ops *ops;
    void *ctx;
    struct irq_line irq;
    struct mmio_region region;
    pthread_mutex_t lock;          /* transport registers */
    /* Held (read) from a queue notify's DRIVER_OK check until the model has taken the kick,
     * and (write) across a reset: no kick reaches a model after its reset. */
    pthread_rwlock_t notify_lock;
    uint64_t driver_features;
    uint32_t dev_features_sel, drv_features_sel, queue_sel;
    uint32_t status;
    uint32_t isr;                  /* InterruptStatus: bit 0 used buffer, bit 1 config */
    uint32_t config_generation;
    struct virtq vq[VIRTIO_MAX_QUEUES];
};

/* Sets up the transport at BASE for a device model; IRQ is its PLIC line. */
void virtio_mmio_init(struct virtio_dev *d, const char *name, uint64_t base,
                      const struct guest_mem *mem, struct irq_line irq,
                      const struct virtio_ops *ops, void *ctx);
void virtio_mmio_destroy(struct virtio_dev *d);
/* Resets the transport and the device, as at power-on (VM reboot). */
void virtio_mmio_reset(struct virtio_dev *d);
/* Holds or releases the device model (virtio_ops.hold); the harts must be parked. */
void virtio_mmio_hold(struct virtio_dev *d, bool hold);
/* Device side: tell the driver queue q has used buffers (if it wants an interrupt). */
void virtio_notify_queue(struct virtio_dev *d, unsigned q);
/* Device side: config space changed. */
void virtio_notify_config(struct virtio_dev *d);
/* Device side: the driver broke the protocol; set DEVICE_NEEDS_RESET and tell it. */
void virtio_needs_reset(struct virtio_dev *d);
bool virtio_has_feature(const struct virtio_dev *d, unsigned bit);
bool virtio_driver_ok(const struct virtio_dev *d);

#endif
