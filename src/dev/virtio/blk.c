/* virtio-blk: one request queue worked by an I/O thread. Each request is a 16-byte header
 * {type, reserved, sector}, data buffers, and a final status byte the device writes. Every
 * field is checked against the disk size and the request's own buffers before any I/O.
 * An optional rate limit holds requests in the ring (never fails them): the thread stops
 * popping and waits, on its eventfd so that reset and stop still reach it, until the
 * limiter lets the next one through. A request's data is bounded (seg_max x size_max, as
 * offered), and the thread works at most DRAIN_BATCH requests while holding its lock, so a
 * driver that keeps the ring full cannot hold reset or stop behind it. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/block.h"
#include "corral/ratelimit.h"
#include "dev/virtio/blk.h"
#include "dev/virtio/worker.h"

#define VIRTIO_ID_BLOCK 2

#define F_SIZE_MAX     1
#define F_SEG_MAX      2
#define F_RO           5
#define F_BLK_SIZE     6
#define F_FLUSH        9
#define F_DISCARD      13
#define F_WRITE_ZEROES 14

#define T_IN           0
#define T_OUT          1
#define T_FLUSH        4
#define T_GET_ID       8
#define T_DISCARD      11
#define T_WRITE_ZEROES 13

#define S_OK     0
#define S_IOERR  1
#define S_UNSUPP 2

#define QUEUE_SIZE 256
#define SEG_MAX (QUEUE_SIZE - 2)
#define SIZE_MAX_SEG (64u << 10)   /* size_max: Linux's default segment size */
/* Many buffers may alias one piece of RAM: bound the disk one request spans (~16 MiB). */
#define MAX_REQ_BYTES ((size_t)SEG_MAX * SIZE_MAX_SEG)
#define DRAIN_BATCH 64             /* requests per hold of the worker's lock */
#define MAX_DISCARD_SECTORS (1u << 22) /* 2 GiB per discard or write-zeroes range */
#define CONFIG_SIZE 60

struct virtio_blk {
    struct virtio_dev vdev;
    struct blk_backend *be;
    uint64_t sectors;
    bool readonly;
    uint8_t config[CONFIG_SIZE];
    struct virtio_worker w;      /* the I/O thread */
    struct ratelimit rl;
    uint64_t throttled_since;    /* clock when the request at the ring's head was first held */
    atomic_uint_least64_t read_bytes, write_bytes, read_ops, write_ops, other_ops;
    atomic_uint_least64_t throttled, throttled_ns;
    struct virtq_req req;
    struct iovec iov[VIRTQ_MAX_SEGS];
};

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static void build_config(struct virtio_blk *b)
{
    uint8_t *c = b->config;
    memset(c, 0, sizeof(b->config));
    put64(c + 0, b->sectors);               /* capacity in 512-byte sectors */
    put32(c + 8, SIZE_MAX_SEG);             /* size_max */
    put32(c + 12, SEG_MAX);                 /* seg_max */
    put32(c + 20, 512);                     /* blk_size */
    put32(c + 36, MAX_DISCARD_SECTORS);     /* max_discard_sectors */
    put32(c + 40, 1);                       /* max_discard_seg */
    put32(c + 44, 8);                       /* discard_sector_alignment: 4 KiB */
    put32(c + 48, MAX_DISCARD_SECTORS);     /* max_write_zeroes_sectors */
    put32(c + 52, 1);                       /* max_write_zeroes_seg */
    c[56] = 1;                              /* write_zeroes_may_unmap */
}

static void blk_config_read(void *ctx, uint32_t off, unsigned size, uint64_t *val)
{
    struct virtio_blk *b = ctx;
    uint64_t v = 0;
    memcpy(&v, b->config + off, size); /* the transport checked off + size */
    *val = v;
}

/* The data part of a request as an iovec list: LEN bytes starting SKIP bytes into the
 * buffers [first, first + count). Returns the number of entries. */
static int data_iov(const struct virtq_req *r, unsigned first, unsigned count, size_t skip,
                    size_t len, struct iovec *out)
{
    int n = 0;
    for (unsigned i = first; i < first + count && len; i++) {
        size_t l = r->iov[i].iov_len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        size_t take = l - skip < len ? l - skip : len;
        out[n++] = (struct iovec){ (uint8_t *)r->iov[i].iov_base + skip, take };
        len -= take;
        skip = 0;
    }
    return n;
}

static int do_read(struct virtio_blk *b, const struct virtq_req *r, uint64_t off, size_t len)
{
    int n = data_iov(r, r->n_out, r->n_in, 0, len, b->iov);
    return blk_preadv(b->be, b->iov, n, off);
}

static int do_write(struct virtio_blk *b, const struct virtq_req *r, uint64_t off, size_t len)
{
    int n = data_iov(r, 0, r->n_out, 16, len, b->iov); /* the header comes first */
    return blk_pwritev(b->be, b->iov, n, off);
}

static bool in_range(const struct virtio_blk *b, uint64_t sector, uint64_t bytes)
{
    return sector <= b->sectors && bytes <= (b->sectors - sector) * 512;
}

/* DISCARD and WRITE_ZEROES carry one 16-byte segment {sector, num_sectors, flags}. */
static uint8_t do_ranges(struct virtio_blk *b, const struct virtq_req *r, bool zeroes)
{
    uint8_t seg[16];
    if (r->out_len != 32 || virtq_copy_from_out(r, 16, seg, 16) != 16)
        return S_UNSUPP; /* more than max_discard_seg segments, or a torn one */
    uint64_t sector;
    uint32_t num, flags;
    memcpy(&sector, seg, 8);
    memcpy(&num, seg + 8, 4);
    memcpy(&flags, seg + 12, 4);
    if ((flags & ~1u) || (!zeroes && flags) || num > MAX_DISCARD_SECTORS)
        return S_UNSUPP;
    if (!in_range(b, sector, (uint64_t)num * 512))
        return S_IOERR;
    int rc = zeroes ? blk_write_zeroes(b->be, sector * 512, (uint64_t)num * 512, flags & 1)
                    : blk_discard(b->be, sector * 512, (uint64_t)num * 512);
    return rc ? S_IOERR : S_OK;
}

/* Serves one request; returns the bytes written into the driver's buffers. */
static size_t serve(struct virtio_blk *b, const struct virtq_req *r)
{
    uint8_t hdr[16];
    if (r->out_len < 16 || r->in_len < 1 || virtq_copy_from_out(r, 0, hdr, 16) != 16)
        return 0; /* no room for a status: nothing we can say */
    uint32_t type;
    uint64_t sector;
    memcpy(&type, hdr, 4);
    memcpy(&sector, hdr + 8, 8);
    size_t in_data = r->in_len - 1, out_data = r->out_len - 16;
    size_t written = 0;
    uint8_t status = S_OK;
    bool writes = type == T_OUT || type == T_DISCARD || type == T_WRITE_ZEROES;
    if (in_data > MAX_REQ_BYTES || out_data > MAX_REQ_BYTES) {
        status = S_IOERR; /* more than seg_max x size_max: no driver honouring them sends it */
    } else if (writes && b->readonly) {
        status = S_IOERR;
    } else if (type == T_IN) {
        if (!in_range(b, sector, in_data))
            status = S_IOERR;
        else if (do_read(b, r, sector * 512, in_data))
            status = S_IOERR;
        else
            written = in_data;
    } else if (type == T_OUT) {
        if (!in_range(b, sector, out_data) || do_write(b, r, sector * 512, out_data))
            status = S_IOERR;
    } else if (type == T_FLUSH) {
        status = blk_flush(b->be) ? S_IOERR : S_OK;
    } else if (type == T_GET_ID) {
        char id[20] = { 0 };
        const char *s = blk_id(b->be);
        strncpy(id, s ? s : "", sizeof(id));
        size_t n = in_data < sizeof(id) ? in_data : sizeof(id);
        written = virtq_copy_to_in(r, 0, id, n);
    } else if (type == T_DISCARD || type == T_WRITE_ZEROES) {
        status = do_ranges(b, r, type == T_WRITE_ZEROES);
    } else {
        status = S_UNSUPP;
    }
    virtq_copy_to_in(r, r->in_len - 1, &status, 1);
    return written + 1;
}

static void count(atomic_uint_least64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* Asks the rate limit for request R: 0 if it may be served now (and counts it), else the
 * nanoseconds to wait. Data bytes of reads and writes count against the bandwidth bucket;
 * every request, flushes included, takes one op (as in Firecracker). */
static uint64_t admit(struct virtio_blk *b, const struct virtq_req *r)
{
    uint32_t type = UINT32_MAX;
    if (r->out_len >= 16)
        virtq_copy_from_out(r, 0, &type, 4);
    uint64_t bytes = 0;
    if (type == T_IN && r->in_len >= 1)
        bytes = r->in_len - 1;
    else if (type == T_OUT)
        bytes = r->out_len - 16;
    if (bytes > MAX_REQ_BYTES)
        bytes = 0; /* serve() refuses it and moves nothing: a debt of 60 GiB would outlast resets */
    uint64_t now = ratelimit_clock_ns();
    uint64_t wait = ratelimit_consume(&b->rl, bytes, now);
    if (wait) {
        if (!b->throttled_since) {
            b->throttled_since = now;
            count(&b->throttled, 1);
        }
        return wait;
    }
    if (b->throttled_since) {
        count(&b->throttled_ns, now - b->throttled_since);
        b->throttled_since = 0;
    }
    if (type == T_IN) {
        count(&b->read_ops, 1);
        count(&b->read_bytes, bytes);
    } else if (type == T_OUT) {
        count(&b->write_ops, 1);
        count(&b->write_bytes, bytes);
    } else {
        count(&b->other_ops, 1);
    }
    return 0;
}

/* Works the queue until it is empty, or until the rate limit holds the next request: then
 * *wait_ns says for how long. After DRAIN_BATCH requests, or when a reset or stop waits for
 * the lock, it stops with *wait_ns = 0: come back at once. False if the driver broke the
 * queue. */
static bool drain(struct virtio_blk *b, uint64_t *wait_ns)
{
    struct virtq *q = &b->vdev.vq[0];
    unsigned served = 0;
    for (;;) {
        int rc;
        bool pushed = false, more = false;
        uint64_t wait = 0;
        while ((rc = virtq_pop(q, &b->req)) > 0) {
            if ((wait = admit(b, &b->req))) {
                virtq_unpop(q);
                break;
            }
            size_t written = serve(b, &b->req);
            virtq_push(q, b->req.head, virtq_used_len(&b->req, written));
            pushed = true;
            if (++served >= DRAIN_BATCH || virtio_worker_cut_in_wanted(&b->w)) {
                more = true;
                break;
            }
        }
        if (pushed)
            virtio_notify_queue(&b->vdev, 0);
        if (rc < 0)
            return false;
        if (wait || more) {
            *wait_ns = wait;
            return true;
        }
        virtq_enable_kick(q);
        if (!virtq_has_avail(q))
            return true;
    }
}

static void *io_thread(void *arg)
{
    struct virtio_blk *b = arg;
    uint64_t wait_ns = VIRTIO_WORKER_FOREVER;
    for (;;) {
        if (!virtio_worker_wait(&b->w, wait_ns))
            break;
        wait_ns = VIRTIO_WORKER_FOREVER;
        virtio_worker_let_in(&b->w);
        pthread_mutex_lock(&b->w.lock);
        if (b->w.stop) {
            pthread_mutex_unlock(&b->w.lock);
            break;
        }
        bool broken = b->w.running && !drain(b, &wait_ns);
        if (broken)
            b->w.running = false;
        pthread_mutex_unlock(&b->w.lock);
        if (broken)
            virtio_needs_reset(&b->vdev);
    }
    return NULL;
}

static void blk_notify(void *ctx, unsigned q)
{
    (void)q;
    virtio_worker_kick(&((struct virtio_blk *)ctx)->w);
}

static void blk_start(void *ctx) { virtio_worker_set_running(&((struct virtio_blk *)ctx)->w, true); }

/* waits for the I/O thread to finish its batch */
static void blk_reset(void *ctx)
{
    struct virtio_blk *b = ctx;
    virtio_worker_set_running(&b->w, false);
    b->throttled_since = 0; /* the thread is out of the queue: the held request is gone */
}

/* The I/O thread touches RAM only under its lock. */
static void blk_hold(void *ctx, bool hold)
{
    struct virtio_blk *b = ctx;
    if (hold)
        virtio_worker_lock_cut_in(&b->w);
    else
        pthread_mutex_unlock(&b->w.lock);
}

static struct virtio_ops blk_ops_template = {
    .device_id = VIRTIO_ID_BLOCK,
    .features = 1ULL << F_SIZE_MAX | 1ULL << F_SEG_MAX | 1ULL << F_BLK_SIZE | 1ULL << F_FLUSH | 1ULL << F_DISCARD |
                1ULL << F_WRITE_ZEROES,
    .num_queues = 1, .queue_max = QUEUE_SIZE, .config_size = CONFIG_SIZE,
    .config_read = blk_config_read, .notify = blk_notify, .start = blk_start, .reset = blk_reset,
    .hold = blk_hold,
};

struct blk_model {
    struct virtio_blk blk;
    struct virtio_ops ops; /* per device: RO differs */
};

struct virtio_blk *virtio_blk_create(const struct virtio_slot *slot, struct blk_backend *be,
                                     const struct ratelimit_config *limit)
{
    struct blk_model *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    struct virtio_blk *b = &m->blk;
    if (ratelimit_init(&b->rl, limit)) {
        ratelimit_destroy(&b->rl);
        free(m);
        return NULL;
    }
    b->be = be;
    b->sectors = blk_size(be) / 512;
    b->readonly = blk_readonly(be);
    m->ops = blk_ops_template;
    if (b->readonly)
        m->ops.features |= 1ULL << F_RO;
    build_config(b);
    virtio_mmio_init(&b->vdev, slot->name, slot->base, slot->mem, slot->irq, &m->ops, b);
    if (virtio_worker_init(&b->w, io_thread, b)) {
        virtio_mmio_destroy(&b->vdev);
        ratelimit_destroy(&b->rl);
        free(m);
        return NULL;
    }
    return b;
}

struct virtio_dev *virtio_blk_dev(struct virtio_blk *b) { return &b->vdev; }

int virtio_blk_set_ratelimit(struct virtio_blk *b, const struct ratelimit_config *limit)
{
    int rc = ratelimit_set(&b->rl, limit);
    virtio_worker_kick(&b->w); /* a held request may pass now */
    return rc;
}

static uint64_t load(atomic_uint_least64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

void virtio_blk_stats(struct virtio_blk *b, struct virtio_blk_stats *st)
{
    st->read_bytes = load(&b->read_bytes);
    st->write_bytes = load(&b->write_bytes);
    st->read_ops = load(&b->read_ops);
    st->write_ops = load(&b->write_ops);
    st->other_ops = load(&b->other_ops);
    st->throttled = load(&b->throttled);
    st->throttled_ns = load(&b->throttled_ns);
}

void virtio_blk_destroy(struct virtio_blk *b)
{
    if (!b)
        return;
    virtio_worker_destroy(&b->w);
    blk_flush(b->be);
    blk_close(b->be);
    virtio_mmio_destroy(&b->vdev);
    ratelimit_destroy(&b->rl);
    free((struct blk_model *)b);
}
