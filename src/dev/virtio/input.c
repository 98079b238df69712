/* virtio-input power button: eventq (0) takes the guest's empty event buffers and gives
 * them back filled, statusq (1) is drained and ignored (a button has no LEDs). Events the
 * guest has no buffer for yet wait in a small ring. Served on whichever thread kicks or
 * presses, under one lock: there is no I/O to wait for. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dev/virtio/input.h"

#define VIRTIO_ID_INPUT 18
#define QUEUE_SIZE 64
#define Q_EVENT 0
#define Q_STATUS 1

/* struct virtio_input_config (5.8.4): select, subsel, size, 5 reserved, a 128-byte union */
#define CFG_UNION 8
#define CONFIG_SIZE (CFG_UNION + 128)
enum {
    CFG_UNSET = 0x00, CFG_ID_NAME = 0x01, CFG_ID_SERIAL = 0x02, CFG_ID_DEVIDS = 0x03,
    CFG_PROP_BITS = 0x10, CFG_EV_BITS = 0x11, CFG_ABS_INFO = 0x12,
};

/* Linux input event codes (include/uapi/linux/input-event-codes.h) */
#define EV_SYN 0x00
#define EV_KEY 0x01
#define SYN_REPORT 0
#define KEY_POWER 116
#define BUS_VIRTUAL 0x06

#define NAME "Corral power button"
#define SERIAL "corral-power-0"
#define PENDING_MAX 64 /* events waiting for guest buffers: 16 presses */

struct input_event_le {
    uint16_t type, code;
    uint32_t value;
};

struct virtio_input {
    struct virtio_dev vdev;
    pthread_mutex_t lock;   /* everything below, and both queues */
    bool running;           /* between the driver's DRIVER_OK and a reset or an error */
    uint8_t cfg[CONFIG_SIZE];
    struct input_event_le pending[PENDING_MAX];
    unsigned first, count;
    struct virtq_req req;
};

static void set_bit(uint8_t *map, unsigned bit) { map[bit / 8] |= (uint8_t)(1u << bit % 8); }

/* Fills size and the union for the driver's select/subsel (5.8.4); anything we do not
 * have reads as size 0. */
static void cfg_answer(uint8_t *cfg)
{
    uint8_t sel = cfg[0], sub = cfg[1], *u = cfg + CFG_UNION;
    size_t size = 0;
    memset(u, 0, CONFIG_SIZE - CFG_UNION);
    if (sel == CFG_ID_NAME && sub == 0) {
        size = strlen(NAME);
        memcpy(u, NAME, size);
    } else if (sel == CFG_ID_SERIAL && sub == 0) {
        size = strlen(SERIAL);
        memcpy(u, SERIAL, size);
    } else if (sel == CFG_ID_DEVIDS && sub == 0) {
        const uint16_t ids[4] = { BUS_VIRTUAL, 0, 0, 1 }; /* bustype, vendor, product, version */
        size = sizeof(ids);
        memcpy(u, ids, size);
    } else if (sel == CFG_EV_BITS && sub == EV_KEY) {
        set_bit(u, KEY_POWER);
        size = KEY_POWER / 8 + 1;
    } else if (sel == CFG_EV_BITS && sub == EV_SYN) {
        set_bit(u, SYN_REPORT);
        size = 1;
    }
    cfg[2] = (uint8_t)size;
}

static void input_config_read(void *ctx, uint32_t off, unsigned size, uint64_t *val)
{
    struct virtio_input *in = ctx;
    uint64_t v = 0;
    pthread_mutex_lock(&in->lock);
    memcpy(&v, in->cfg + off, size);
    pthread_mutex_unlock(&in->lock);
    *val = v;
}

/* Only select and subsel are the driver's to write. */
static void input_config_write(void *ctx, uint32_t off, unsigned size, uint64_t val)
{
    struct virtio_input *in = ctx;
    pthread_mutex_lock(&in->lock);
    for (unsigned i = 0; i < size; i++)
        if (off + i < 2)
            in->cfg[off + i] = (uint8_t)(val >> 8 * i);
    cfg_answer(in->cfg);
    pthread_mutex_unlock(&in->lock);
}

/* Moves waiting events into the guest's buffers, one event a buffer (5.8.6.1). Under the
 * lock; 0, or negative if the driver broke the queue. */
static int deliver(struct virtio_input *in, bool *pushed)
{
    struct virtq *q = &in->vdev.vq[Q_EVENT];
    while (in->count) {
        int rc = virtq_pop(q, &in->req);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            virtq_enable_kick(q);
            if (virtq_has_avail(q))
                continue;
            return 0;
        }
        if (in->req.n_out || in->req.in_len < sizeof(struct input_event_le))
            return -EPROTO; /* event buffers are device-writable and hold one event */
        virtq_copy_to_in(&in->req, 0, &in->pending[in->first], sizeof(struct input_event_le));
        virtq_push(q, in->req.head, sizeof(struct input_event_le));
        in->first = (in->first + 1) % PENDING_MAX;
        in->count--;
        *pushed = true;
    }
    return 0;
}

/* The driver's LED and force-feedback updates: taken and given back unread. */
static int drain_status(struct virtio_input *in, bool *pushed)
{
    struct virtq *q = &in->vdev.vq[Q_STATUS];
    int rc;
    do {
        while ((rc = virtq_pop(q, &in->req)) > 0) {
            virtq_push(q, in->req.head, 0);
            *pushed = true;
        }
        if (rc < 0)
            return rc;
        virtq_enable_kick(q);
    } while (virtq_has_avail(q));
    return 0;
}

/* Under the lock: the work a kick, a start or a press asks for. */
static void work(struct virtio_input *in, bool *ev_pushed, bool *st_pushed, bool *broken)
{
    if (!in->running)
        return;
    if (deliver(in, ev_pushed) < 0 || drain_status(in, st_pushed) < 0) {
        in->running = false;
        in->count = 0;
        *broken = true;
    }
}

static void finish(struct virtio_input *in, bool ev_pushed, bool st_pushed, bool broken)
{
    if (broken)
        virtio_needs_reset(&in->vdev);
    if (ev_pushed)
        virtio_notify_queue(&in->vdev, Q_EVENT);
    if (st_pushed)
        virtio_notify_queue(&in->vdev, Q_STATUS);
}

static void input_notify(void *ctx, unsigned q)
{
    (void)q;
    struct virtio_input *in = ctx;
    bool ev = false, st = false, broken = false;
    pthread_mutex_lock(&in->lock);
    work(in, &ev, &st, &broken);
    pthread_mutex_unlock(&in->lock);
    finish(in, ev, st, broken);
}

static void input_start(void *ctx)
{
    struct virtio_input *in = ctx;
    pthread_mutex_lock(&in->lock);
    in->running = true;
    pthread_mutex_unlock(&in->lock);
    input_notify(in, Q_EVENT); /* kicks that came before DRIVER_OK reached us */
}

static void input_reset(void *ctx)
{
    struct virtio_input *in = ctx;
    pthread_mutex_lock(&in->lock);
    in->running = false;
    in->first = in->count = 0;
    memset(in->cfg, 0, sizeof(in->cfg));
    pthread_mutex_unlock(&in->lock);
}

int virtio_input_press_power(struct virtio_input *in)
{
    static const struct input_event_le press[] = {
        { EV_KEY, KEY_POWER, 1 }, { EV_SYN, SYN_REPORT, 0 },
        { EV_KEY, KEY_POWER, 0 }, { EV_SYN, SYN_REPORT, 0 },
    };
    bool ev = false, st = false, broken = false;
    int rc = 0;
    pthread_mutex_lock(&in->lock);
    if (!in->running || !virtio_driver_ok(&in->vdev)) {
        rc = -ENODEV;
    } else if (in->count + 4 > PENDING_MAX) {
        rc = -EAGAIN;
    } else {
        for (unsigned i = 0; i < 4; i++)
            in->pending[(in->first + in->count++) % PENDING_MAX] = press[i];
        work(in, &ev, &st, &broken);
    }
    pthread_mutex_unlock(&in->lock);
    finish(in, ev, st, broken);
    return rc;
}

static const struct virtio_ops input_ops = {
    .device_id = VIRTIO_ID_INPUT, .num_queues = 2, .queue_max = QUEUE_SIZE,
    .config_size = CONFIG_SIZE, .config_read = input_config_read,
    .config_write = input_config_write, .notify = input_notify, .start = input_start,
    .reset = input_reset,
};

struct virtio_input *virtio_input_create(const struct virtio_slot *slot)
{
    struct virtio_input *in = calloc(1, sizeof(*in));
    if (!in)
        return NULL;
    pthread_mutex_init(&in->lock, NULL);
    virtio_mmio_init(&in->vdev, slot->name, slot->base, slot->mem, slot->irq, &input_ops, in);
    return in;
}

struct virtio_dev *virtio_input_dev(struct virtio_input *in) { return &in->vdev; }

void virtio_input_destroy(struct virtio_input *in)
{
    if (!in)
        return;
    virtio_mmio_destroy(&in->vdev);
    pthread_mutex_destroy(&in->lock);
    free(in);
}
