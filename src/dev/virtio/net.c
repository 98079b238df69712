/* virtio-net: frames from the guest's transmit queue go to the backend on the kicking
 * vCPU thread (the backend only queues them); frames from the backend's thread go into
 * the guest's receive buffers, or wait in the backend when the guest has none. Each frame
 * is preceded by the 12-byte virtio_net_hdr {flags, gso_type, hdr_len, gso_size, csum_start,
 * csum_offset, num_buffers}, or by its first 10 bytes for a driver that did not accept
 * VIRTIO_F_VERSION_1 (5.1.6: num_buffers is there only with VERSION_1 or MRG_RXBUF), as QEMU. The only offloads are checksums: a transmitted frame may ask
 * us to finish its TCP/UDP checksum (NEEDS_CSUM), and frames from the user network, whose
 * checksums libslirp computed, are marked DATA_VALID so the guest does not verify them
 * again. No segmentation offload: every frame fits the MTU.
 *
 * Optional rx and tx rate limits (Firecracker's rx_rate_limiter and tx_rate_limiter) count
 * frame bytes, without the virtio header, and frames as ops. A held transmit frame stays in
 * the ring; a held received frame stays in the backend, as when the guest has no buffer. A
 * timer thread retries either when the limiter says tokens are back. Nothing is dropped for
 * a limit. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/net.h"
#include "corral/ratelimit.h"
#include "dev/virtio/net.h"
#include "dev/virtio/worker.h"

#define VIRTIO_ID_NET 1
#define F_CSUM        0 /* we complete checksums the guest leaves partial */
#define F_GUEST_CSUM  1 /* we may mark received checksums as already verified */
#define F_MTU    3
#define F_MAC    5
#define F_STATUS 16
#define HDR_LEN 12 /* the longest header */
#define QUEUE_SIZE 256
#define CONFIG_SIZE 12 /* mac[6], status, max_virtqueue_pairs, mtu */

struct virtio_net {
    struct virtio_dev vdev;
    struct net_backend *be;
    uint8_t config[CONFIG_SIZE];
    pthread_mutex_t rx_lock, tx_lock;
    bool running;           /* DRIVER_OK and not reset; written under both locks */
    bool trusted_csum;      /* the backend's frames carry correct checksums (user network) */
    struct ratelimit rx_rl, tx_rl;
    struct virtio_worker timer; /* retries held frames; its lock guards the two times below */
    uint64_t rx_due, tx_due;    /* ratelimit_clock_ns() to retry at; 0: nothing held */
    atomic_uint_least64_t rx_bytes, rx_frames, tx_bytes, tx_frames, rx_throttled, tx_throttled;
    struct virtq_req rx_req, tx_req;
    uint8_t tx_frame[NET_FRAME_MAX];
};

static void net_config_read(void *ctx, uint32_t off, unsigned size, uint64_t *val)
{
    struct virtio_net *n = ctx;
    uint64_t v = 0;
    memcpy(&v, n->config + off, size);
    *val = v;
}

static void count(atomic_uint_least64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* Asks the timer thread to retry at AT (clock ns) what DUE stands for, unless it will sooner.
 * The kick happens under the timer's lock: once virtio_worker_destroy has set stop there, no
 * kick reaches its closed eventfd. */
static void retry_at(struct virtio_net *n, uint64_t *due, uint64_t at)
{
    pthread_mutex_lock(&n->timer.lock);
    if (!n->timer.stop && (!*due || at < *due)) {
        *due = at;
        virtio_worker_kick(&n->timer);
    }
    pthread_mutex_unlock(&n->timer.lock);
}

/* Backend thread: one frame for the guest. */
/* The header's length for the features the driver accepted. */
static size_t net_hdr_len(const struct virtio_net *n)
{
    return virtio_has_feature(&n->vdev, VIRTIO_F_VERSION_1) ? HDR_LEN : 10;
}

static bool net_rx(void *ctx, const uint8_t *frame, size_t len)
{
    struct virtio_net *n = ctx;
    struct virtq *q = &n->vdev.vq[0];
    pthread_mutex_lock(&n->rx_lock);
    if (!n->running) {
        pthread_mutex_unlock(&n->rx_lock);
        return true; /* no driver: the frame falls on the floor, as on a cable to nowhere */
    }
    int rc = virtq_pop(q, &n->rx_req);
    if (rc == 0) {
        virtq_enable_kick(q);
        rc = virtq_pop(q, &n->rx_req);
    }
    if (rc <= 0) {
        if (rc < 0)
            n->running = false;
        pthread_mutex_unlock(&n->rx_lock);
        if (rc < 0) {
            virtio_needs_reset(&n->vdev);
            return true;
        }
        return false; /* held by the backend until the guest posts buffers */
    }
    uint64_t now = ratelimit_clock_ns(), wait = ratelimit_consume(&n->rx_rl, len, now);
    if (wait) {
        virtq_unpop(q);
        pthread_mutex_unlock(&n->rx_lock);
        count(&n->rx_throttled, 1);
        retry_at(n, &n->rx_due, now + wait);
        return false; /* held by the backend until the timer calls net_backend_rx_ready */
    }
    uint8_t hdr[HDR_LEN] = { 0 };
    size_t hl = net_hdr_len(n);
    hdr[10] = 1; /* num_buffers, when the header has it */
    if (n->trusted_csum && virtio_has_feature(&n->vdev, F_GUEST_CSUM))
        hdr[0] = 2; /* VIRTIO_NET_HDR_F_DATA_VALID */
    size_t put = 0;
    if (n->rx_req.in_len >= hl + len) {
        put = virtq_copy_to_in(&n->rx_req, 0, hdr, hl);
        put += virtq_copy_to_in(&n->rx_req, hl, frame, len);
        count(&n->rx_frames, 1);
        count(&n->rx_bytes, len);
    } /* else: a buffer too small for the frame gets nothing (the frame is dropped) */
    virtq_push(q, n->rx_req.head, (uint32_t)put);
    pthread_mutex_unlock(&n->rx_lock);
    virtio_notify_queue(&n->vdev, 0);
    return true;
}

/* NEEDS_CSUM: the Internet checksum of frame[start..len), folded and complemented, goes at
 * start + offset, where the guest left the pseudo-header sum. Bad offsets: leave it alone. */
static void complete_csum(uint8_t *frame, size_t len, const uint8_t *hdr)
{
    uint16_t start, offset;
    memcpy(&start, hdr + 6, 2);
    memcpy(&offset, hdr + 8, 2);
    if (!(hdr[0] & 1) || (size_t)start + offset + 2 > len)
        return;
    uint64_t sum = 0;
    size_t i = start;
    for (; i + 1 < len; i += 2)
        sum += (uint32_t)frame[i] << 8 | frame[i + 1];
    if (i < len)
        sum += (uint32_t)frame[i] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    uint16_t c = (uint16_t)~sum;
    if (!c)
        c = 0xffff; /* 0 would mean "no checksum" to UDP */
    frame[start + offset] = (uint8_t)(c >> 8);
    frame[start + offset + 1] = (uint8_t)c;
}

#define TX_BATCH 256 /* frames per call; the rest goes on from the timer thread */

/* The transmit queue, on a vCPU thread (a kick) or the timer thread (a held frame). At most
 * TX_BATCH frames a call, so that a driver keeping the ring full cannot hold a vCPU, nor a
 * reset waiting for the lock. */
static void net_tx(struct virtio_net *n)
{
    struct virtq *q = &n->vdev.vq[1];
    pthread_mutex_lock(&n->tx_lock);
    if (!n->running) {
        pthread_mutex_unlock(&n->tx_lock);
        return;
    }
    bool pushed = false, more = false;
    uint64_t now = ratelimit_clock_ns(), wait = 0;
    size_t hl = net_hdr_len(n);
    unsigned sent = 0;
    int rc;
    do {
        while ((rc = virtq_pop(q, &n->tx_req)) > 0) {
            if (++sent > TX_BATCH) {
                virtq_unpop(q);
                more = true;
                break;
            }
            size_t len = n->tx_req.out_len;
            bool goes = len > hl && len - hl <= NET_FRAME_MAX; /* else dropped below */
            /* only a frame that goes out costs bandwidth: one chain may name 60 GiB, and a
             * debt that large would outlast resets */
            if ((wait = ratelimit_consume(&n->tx_rl, goes ? len - hl : 0, now))) {
                virtq_unpop(q);
                break;
            }
            if (goes) {
                uint8_t hdr[HDR_LEN];
                virtq_copy_from_out(&n->tx_req, 0, hdr, hl);
                size_t got = virtq_copy_from_out(&n->tx_req, hl, n->tx_frame, len - hl);
                if (virtio_has_feature(&n->vdev, F_CSUM))
                    complete_csum(n->tx_frame, got, hdr);
                net_backend_send(n->be, n->tx_frame, got); /* a full backend drops, as a wire */
                count(&n->tx_frames, 1);
                count(&n->tx_bytes, got);
            }
            virtq_push(q, n->tx_req.head, 0);
            pushed = true;
        }
        if (rc < 0 || wait || more)
            break;
        virtq_enable_kick(q);
    } while (virtq_has_avail(q));
    if (rc < 0)
        n->running = false;
    pthread_mutex_unlock(&n->tx_lock);
    if (wait) {
        count(&n->tx_throttled, 1);
        retry_at(n, &n->tx_due, now + wait);
    } else if (more) {
        retry_at(n, &n->tx_due, 1); /* due at once, on the timer thread */
    }
    if (pushed)
        virtio_notify_queue(&n->vdev, 1);
    if (rc < 0)
        virtio_needs_reset(&n->vdev);
}

/* Takes DUE if it has come (under the timer's lock); else lowers *next to it. */
static bool due_now(uint64_t *due, uint64_t now, uint64_t *next)
{
    if (!*due)
        return false;
    if (*due <= now) {
        *due = 0;
        return true;
    }
    if (*due - now < *next)
        *next = *due - now;
    return false;
}

static void *timer_thread(void *arg)
{
    struct virtio_net *n = arg;
    uint64_t wait = VIRTIO_WORKER_FOREVER;
    while (virtio_worker_wait(&n->timer, wait)) {
        pthread_mutex_lock(&n->timer.lock);
        if (n->timer.stop) {
            pthread_mutex_unlock(&n->timer.lock);
            break;
        }
        uint64_t now = ratelimit_clock_ns();
        wait = VIRTIO_WORKER_FOREVER;
        bool tx = due_now(&n->tx_due, now, &wait), rx = due_now(&n->rx_due, now, &wait);
        pthread_mutex_unlock(&n->timer.lock);
        if (tx)
            net_tx(n);
        if (rx)
            net_backend_rx_ready(n->be);
    }
    return NULL;
}

static void net_notify(void *ctx, unsigned q)
{
    struct virtio_net *n = ctx;
    if (q == 1 && net_backend_send_needs_io_thread(n->be))
        retry_at(n, &n->tx_due, 1); /* due at once, on the timer thread */
    else if (q == 1)
        net_tx(n);
    else
        net_backend_rx_ready(n->be); /* new receive buffers: retry held frames */
}

static void set_running(struct virtio_net *n, bool on)
{
    pthread_mutex_lock(&n->rx_lock);
    pthread_mutex_lock(&n->tx_lock);
    n->running = on;
    pthread_mutex_unlock(&n->tx_lock);
    pthread_mutex_unlock(&n->rx_lock);
}

static void net_start(void *ctx)
{
    struct virtio_net *n = ctx;
    set_running(n, true);
    net_backend_rx_ready(n->be);
}

static void net_reset(void *ctx) { set_running(ctx, false); }

/* Receive (the backend's thread) and transmit (a vCPU or the timer thread) touch RAM only
 * under their locks. */
static void net_hold(void *ctx, bool hold)
{
    struct virtio_net *n = ctx;
    if (hold) {
        pthread_mutex_lock(&n->rx_lock);
        pthread_mutex_lock(&n->tx_lock);
    } else {
        pthread_mutex_unlock(&n->tx_lock);
        pthread_mutex_unlock(&n->rx_lock);
    }
}

static const struct virtio_ops net_ops = {
    .device_id = VIRTIO_ID_NET,
    .features = 1ULL << F_CSUM | 1ULL << F_GUEST_CSUM | 1ULL << F_MTU | 1ULL << F_MAC |
                1ULL << F_STATUS,
    .num_queues = 2, .queue_max = QUEUE_SIZE, .config_size = CONFIG_SIZE,
    .config_read = net_config_read, .notify = net_notify, .start = net_start,
    .reset = net_reset, .hold = net_hold,
};

struct virtio_net *virtio_net_create(const struct virtio_slot *slot, const char *spec,
                                     unsigned index, const struct ratelimit_config *rx_limit,
                                     const struct ratelimit_config *tx_limit, char *err,
                                     size_t errlen)
{
    struct virtio_net *n = calloc(1, sizeof(*n));
    if (!n) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    int bad = ratelimit_init(&n->rx_rl, rx_limit);
    bad |= ratelimit_init(&n->tx_rl, tx_limit);
    if (bad) {
        snprintf(err, errlen, "--net: rate limit out of range");
        goto fail_limits;
    }
    if (virtio_worker_init(&n->timer, timer_thread, n)) {
        snprintf(err, errlen, "--net: cannot start the device's timer thread");
        goto fail_limits;
    }
    if (net_backend_open(spec, index, net_rx, n, &n->be, err, errlen)) {
        virtio_worker_destroy(&n->timer);
        goto fail_limits;
    }
    net_backend_mac(n->be, n->config);
    n->trusted_csum = !strcmp(net_backend_kind(n->be), "user");
    n->config[6] = 1; /* status: VIRTIO_NET_S_LINK_UP */
    n->config[8] = 1; /* max_virtqueue_pairs */
    unsigned mtu = net_backend_mtu(n->be);
    n->config[10] = (uint8_t)mtu;
    n->config[11] = (uint8_t)(mtu >> 8);
    pthread_mutex_init(&n->rx_lock, NULL);
    pthread_mutex_init(&n->tx_lock, NULL);
    virtio_mmio_init(&n->vdev, slot->name, slot->base, slot->mem, slot->irq, &net_ops, n);
    if (net_backend_start(n->be)) {
        snprintf(err, errlen, "--net: cannot start the network backend");
        virtio_net_destroy(n);
        return NULL;
    }
    return n;
fail_limits:
    ratelimit_destroy(&n->rx_rl);
    ratelimit_destroy(&n->tx_rl);
    free(n);
    return NULL;
}

struct virtio_dev *virtio_net_dev(struct virtio_net *n) { return &n->vdev; }

int virtio_net_set_ratelimit(struct virtio_net *n, const struct ratelimit_config *rx_limit,
                             const struct ratelimit_config *tx_limit)
{
    int rc = ratelimit_set(&n->rx_rl, rx_limit);
    int rc2 = ratelimit_set(&n->tx_rl, tx_limit);
    uint64_t now = ratelimit_clock_ns(); /* held frames may pass now */
    retry_at(n, &n->rx_due, now);
    retry_at(n, &n->tx_due, now);
    return rc ? rc : rc2;
}

static uint64_t load(atomic_uint_least64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

void virtio_net_stats(struct virtio_net *n, struct virtio_net_stats *st)
{
    struct net_stats be;
    net_backend_stats(n->be, &be);
    st->rx_bytes = load(&n->rx_bytes);
    st->rx_frames = load(&n->rx_frames);
    st->tx_bytes = load(&n->tx_bytes);
    st->tx_frames = load(&n->tx_frames);
    st->rx_throttled = load(&n->rx_throttled);
    st->tx_throttled = load(&n->tx_throttled);
    st->rx_dropped = be.rx_dropped;
    st->tx_dropped = be.tx_dropped;
}

void virtio_net_destroy(struct virtio_net *n)
{
    if (!n)
        return;
    /* the timer first: it calls into the backend; the backend's thread then finds it stopped */
    virtio_worker_destroy(&n->timer);
    net_backend_close(n->be); /* its thread is gone before the device state goes */
    virtio_mmio_destroy(&n->vdev);
    pthread_mutex_destroy(&n->rx_lock);
    pthread_mutex_destroy(&n->tx_lock);
    ratelimit_destroy(&n->rx_rl);
    ratelimit_destroy(&n->tx_rl);
    free(n);
}
