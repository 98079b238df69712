/* virtio-balloon: inflateq and deflateq carry 32-bit page frame numbers of 4 KiB pages,
 * statsq one buffer of (tag, value) pairs that the device holds until it wants fresh
 * figures, and the reporting queue device-writable buffers whose ranges are free guest
 * memory. Work is short (a check, a callback), so it runs on the kicking thread. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dev/virtio/balloon.h"

#define VIRTIO_ID_BALLOON 5
/* Feature bits (5.5.3); FREE_PAGE_HINT (3) and PAGE_POISON (4) are not offered. */
#define F_STATS_VQ       1
#define F_DEFLATE_ON_OOM 2
#define F_REPORTING      5

#define QUEUE_SIZE 128
#define NUM_QUEUES 4       /* inflate, deflate, and stats and reporting if negotiated */
#define CONFIG_SIZE 8      /* num_pages, actual */
#define PAGE_SHIFT 12
#define PAGE_SIZE (1ULL << PAGE_SHIFT)
#define MAX_PFNS 16384     /* per inflate or deflate buffer: Linux sends at most 256 */
#define STAT_LEN 10        /* le16 tag, le64 value, packed */
#define MAX_STATS 64       /* entries read from one statistics buffer */

enum role { ROLE_NONE, ROLE_INFLATE, ROLE_DEFLATE, ROLE_STATS, ROLE_REPORT };

struct virtio_balloon {
    struct virtio_dev vdev;
    struct virtio_ops ops;        /* its features depend on deflate_on_oom */
    balloon_discard_fn discard;
    void *ctx;
    pthread_mutex_t lock;         /* everything below, and the queues */
    bool running;                 /* between DRIVER_OK and a reset or an error */
    enum role role[NUM_QUEUES];   /* what each queue index is, by the negotiated features */
    uint32_t num_pages, actual;   /* the config space */
    bool stats_held;              /* the guest's statistics buffer is with us */
    uint16_t stats_head;
    unsigned stats_q;
    struct balloon_info info;     /* counters and statistics (target, actual filled on get) */
    struct virtq_req req;
    uint32_t pfns[MAX_PFNS];
};

static void balloon_config_read(void *ctx, uint32_t off, unsigned size, uint64_t *val)
{
    struct virtio_balloon *b = ctx;
    uint8_t cfg[CONFIG_SIZE];
    pthread_mutex_lock(&b->lock);
    memcpy(cfg, &b->num_pages, 4);
    memcpy(cfg + 4, &b->actual, 4);
    pthread_mutex_unlock(&b->lock);
    uint64_t v = 0;
    memcpy(&v, cfg + off, size);
    *val = v;
}

/* The driver writes actual; num_pages is the device's. */
static void balloon_config_write(void *ctx, uint32_t off, unsigned size, uint64_t val)
{
    struct virtio_balloon *b = ctx;
    pthread_mutex_lock(&b->lock);
    uint8_t a[4];
    memcpy(a, &b->actual, 4);
    for (unsigned i = 0; i < size; i++)
        if (off + i >= 4 && off + i < 8)
            a[off + i - 4] = (uint8_t)(val >> 8 * i);
    memcpy(&b->actual, a, 4);
    pthread_mutex_unlock(&b->lock);
}

static void give_back(struct virtio_balloon *b, uint64_t gpa, uint64_t len)
{
    guest_mem_dma(b->vdev.vq[0].mem); /* the range reads as zeros from now on */
    b->discard(b->ctx, gpa, len);
}

/* An inflate or deflate buffer: every page checked first, so a bad one changes nothing;
 * then inflated pages go to the callback in runs of consecutive frames. */
static int take_pages(struct virtio_balloon *b, const struct virtq_req *r, bool inflate)
{
    const struct guest_mem *mem = b->vdev.vq[0].mem;
    if (r->n_in || r->out_len > sizeof(b->pfns) || r->out_len % 4)
        return -EPROTO;
    size_t n = virtq_copy_from_out(r, 0, b->pfns, r->out_len) / 4;
    for (size_t i = 0; i < n; i++)
        if (!guest_mem_ptr(mem, (uint64_t)b->pfns[i] << PAGE_SHIFT, PAGE_SIZE))
            return -EFAULT;
    if (!inflate) {
        b->info.deflated += n * PAGE_SIZE;
        return 0;
    }
    uint64_t start = 0, len = 0;
    for (size_t i = 0; i <= n; i++) {
        uint64_t gpa = i < n ? (uint64_t)b->pfns[i] << PAGE_SHIFT : 0;
        if (i < n && len && gpa == start + len) {
            len += PAGE_SIZE;
            continue;
        }
        if (len)
            give_back(b, start, len);
        start = gpa;
        len = PAGE_SIZE;
    }
    b->info.inflated += n * PAGE_SIZE;
    return 0;
}

/* A free page report: each device-writable buffer is a free range (5.5.6.7); whole pages
 * inside it go to the callback. */
static int take_report(struct virtio_balloon *b, const struct virtq_req *r)
{
    const struct guest_mem *mem = b->vdev.vq[0].mem;
    if (r->n_out)
        return -EPROTO;
    for (unsigned i = 0; i < r->n_in; i++) {
        const uint8_t *p = r->iov[i].iov_base;
        uint64_t gpa = mem->base + (uint64_t)(p - mem->host), len = r->iov[i].iov_len;
        if (!guest_mem_ptr(mem, gpa, len))
            return -EFAULT;
        uint64_t start = (gpa + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
        uint64_t end = (gpa + len) & ~(PAGE_SIZE - 1);
        if (end > start) {
            give_back(b, start, end - start);
            b->info.reported += end - start;
        }
    }
    return 0;
}

/* The guest's statistics (5.5.6.3): kept until it is asked for fresh ones. A second buffer
 * while we hold one sends the old one back. */
static void take_stats(struct virtio_balloon *b, unsigned qi, const struct virtq_req *r,
                       bool *pushed)
{
    if (b->stats_held) {
        virtq_push(&b->vdev.vq[qi], b->stats_head, 0);
        *pushed = true;
    }
    size_t n = r->out_len / STAT_LEN < MAX_STATS ? r->out_len / STAT_LEN : MAX_STATS;
    b->info.stats_valid = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t e[STAT_LEN];
        virtq_copy_from_out(r, i * STAT_LEN, e, STAT_LEN);
        uint16_t tag;
        uint64_t val;
        memcpy(&tag, e, 2);
        memcpy(&val, e + 2, 8);
        if (tag < BALLOON_STAT_NR) {
            b->info.stats[tag] = val;
            b->info.stats_valid |= 1u << tag;
        }
    }
    b->stats_held = true;
    b->stats_head = r->head;
    b->stats_q = qi;
}

/* Works queue QI to empty (under the lock): 0, or negative if the driver broke it. */
static int drain(struct virtio_balloon *b, unsigned qi, bool *pushed)
{
    struct virtq *q = &b->vdev.vq[qi];
    enum role role = b->role[qi];
    if (role == ROLE_NONE)
        return 0;
    int rc;
    do {
        while ((rc = virtq_pop(q, &b->req)) > 0) {
            if (role == ROLE_STATS) {
                take_stats(b, qi, &b->req, pushed);
                continue;
            }
            rc = role == ROLE_REPORT ? take_report(b, &b->req)
                                     : take_pages(b, &b->req, role == ROLE_INFLATE);
            if (rc < 0)
                return rc;
            virtq_push(q, b->req.head, 0);
            *pushed = true;
        }
        if (rc < 0)
            return rc;
        virtq_enable_kick(q);
    } while (virtq_has_avail(q));
    return 0;
}

/* Works the queues in MASK; raises the interrupts afterwards, outside the lock. */
static void work(struct virtio_balloon *b, unsigned mask)
{
    bool pushed[NUM_QUEUES] = { false }, broken = false;
    pthread_mutex_lock(&b->lock);
    for (unsigned qi = 0; b->running && qi < NUM_QUEUES; qi++) {
        if ((mask >> qi & 1) && drain(b, qi, &pushed[qi]) < 0) {
            b->running = false;
            b->stats_held = false;
            broken = true;
        }
    }
    pthread_mutex_unlock(&b->lock);
    if (broken)
        virtio_needs_reset(&b->vdev);
    for (unsigned qi = 0; qi < NUM_QUEUES; qi++)
        if (pushed[qi])
            virtio_notify_queue(&b->vdev, qi);
}

static void balloon_notify(void *ctx, unsigned qi) { work(ctx, 1u << qi); }

/* Queue indexes follow the negotiated features: a queue whose feature is off takes no
 * index (5.5.2; Linux's virtio_find_vqs skips it). */
static void balloon_start(void *ctx)
{
    struct virtio_balloon *b = ctx;
    pthread_mutex_lock(&b->lock);
    unsigned n = 0;
    memset(b->role, 0, sizeof(b->role));
    b->role[n++] = ROLE_INFLATE;
    b->role[n++] = ROLE_DEFLATE;
    if (virtio_has_feature(&b->vdev, F_STATS_VQ))
        b->role[n++] = ROLE_STATS;
    if (virtio_has_feature(&b->vdev, F_REPORTING))
        b->role[n++] = ROLE_REPORT;
    b->running = true;
    pthread_mutex_unlock(&b->lock);
    work(b, (1u << NUM_QUEUES) - 1); /* Linux offers its statistics before DRIVER_OK */
}

static void balloon_reset(void *ctx)
{
    struct virtio_balloon *b = ctx;
    pthread_mutex_lock(&b->lock);
    b->running = false;
    b->stats_held = false;
    b->actual = 0;
    pthread_mutex_unlock(&b->lock);
}

struct virtio_balloon *virtio_balloon_create(const struct virtio_slot *slot, bool deflate_on_oom,
                                             balloon_discard_fn discard, void *ctx)
{
    if (!discard)
        return NULL;
    struct virtio_balloon *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->ops = (struct virtio_ops){
        .device_id = VIRTIO_ID_BALLOON, .num_queues = NUM_QUEUES, .queue_max = QUEUE_SIZE,
        .features = 1ULL << F_STATS_VQ | 1ULL << F_REPORTING |
                    (deflate_on_oom ? 1ULL << F_DEFLATE_ON_OOM : 0),
        .config_size = CONFIG_SIZE, .config_read = balloon_config_read,
        .config_write = balloon_config_write, .notify = balloon_notify,
        .start = balloon_start, .reset = balloon_reset,
    };
    b->discard = discard;
    b->ctx = ctx;
    pthread_mutex_init(&b->lock, NULL);
    virtio_mmio_init(&b->vdev, slot->name, slot->base, slot->mem, slot->irq, &b->ops, b);
    return b;
}

struct virtio_dev *virtio_balloon_dev(struct virtio_balloon *b) { return &b->vdev; }

void virtio_balloon_destroy(struct virtio_balloon *b)
{
    if (!b)
        return;
    virtio_mmio_destroy(&b->vdev);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

void virtio_balloon_set_target(struct virtio_balloon *b, uint64_t bytes)
{
    uint64_t pages = bytes >> PAGE_SHIFT;
    pthread_mutex_lock(&b->lock);
    b->num_pages = pages > UINT32_MAX ? UINT32_MAX : (uint32_t)pages;
    pthread_mutex_unlock(&b->lock);
    virtio_notify_config(&b->vdev); /* 5.5.6.1: the driver rereads num_pages */
}

int virtio_balloon_request_stats(struct virtio_balloon *b)
{
    int rc = -EAGAIN;
    unsigned qi = 0;
    pthread_mutex_lock(&b->lock);
    if (b->running && b->stats_held) {
        qi = b->stats_q;
        virtq_push(&b->vdev.vq[qi], b->stats_head, 0);
        b->stats_held = false;
        rc = 0;
    }
    pthread_mutex_unlock(&b->lock);
    if (!rc)
        virtio_notify_queue(&b->vdev, qi);
    return rc;
}

void virtio_balloon_get(struct virtio_balloon *b, struct balloon_info *out)
{
    pthread_mutex_lock(&b->lock);
    *out = b->info;
    out->target = (uint64_t)b->num_pages << PAGE_SHIFT;
    out->actual = (uint64_t)b->actual << PAGE_SHIFT;
    pthread_mutex_unlock(&b->lock);
}
