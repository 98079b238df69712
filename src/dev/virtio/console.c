/* virtio-console: receiveq (0) carries host input to the guest, transmitq (1) the guest's
 * output to the host. One thread moves bytes both ways with poll(), so a slow reader on
 * the host side holds the guest's output back instead of losing it or blocking a vCPU. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dev/virtio/console.h"
#include "dev/virtio/worker.h"

#define VIRTIO_ID_CONSOLE 3
#define QUEUE_SIZE 128
#define CONFIG_SIZE 12 /* cols, rows, max_nr_ports, emerg_wr */
#define TX_BATCH 64    /* transmit requests per hold of the lock; then the thread comes back */
#define TX_SLICE (1u << 20) /* bytes of one request written per hold of the lock */

struct virtio_console {
    struct virtio_dev vdev;
    int in_fd, out_fd;
    struct virtio_worker w;
    /* a transmit request partly written to out_fd (under w.lock) */
    bool tx_pending;
    size_t tx_off;
    struct virtq_req tx, rx;
    uint64_t out_cap, out_size; /* out_fd a file: it starts again past out_cap (0: no cap) */
};

static void con_config_read(void *ctx, uint32_t off, unsigned size, uint64_t *val)
{
    (void)ctx;
    uint8_t cfg[CONFIG_SIZE] = { 0 };
    uint32_t ports = 1;
    memcpy(cfg + 4, &ports, 4);
    uint64_t v = 0;
    memcpy(&v, cfg + off, size);
    *val = v;
}

/* Writes what it can of the pending transmit request; true when it is all out. At most
 * TX_SLICE bytes a call, and none once a reset waits: one request may name the same RAM a
 * thousand times over (60 GiB in 64 MiB of RAM), and the vCPU resetting the device waits
 * for this lock. The rest goes on when out_fd polls writable again, unless the reset came. */
static bool tx_write(struct virtio_console *c)
{
    for (size_t slice = 0;; slice++) {
        if (slice == TX_SLICE / 4096 || virtio_worker_cut_in_wanted(&c->w))
            return false;
        uint8_t buf[4096];
        size_t n = virtq_copy_from_out(&c->tx, c->tx_off, buf, sizeof(buf));
        if (!n)
            return true;
        if (c->out_cap && c->out_size + n > c->out_cap && !ftruncate(c->out_fd, 0))
            c->out_size = 0; /* a chatty guest cannot fill the host's disk */
        ssize_t w = write(c->out_fd, buf, n);
        if (w > 0)
            c->out_size += (uint64_t)w;
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            return false;
        if (w <= 0)
            return true; /* the host side is gone: nowhere to put the bytes */
        c->tx_off += (size_t)w;
    }
}

static bool do_tx(struct virtio_console *c)
{
    struct virtq *q = &c->vdev.vq[1];
    bool pushed = false;
    int rc = 0;
    for (unsigned served = 0;; served++) {
        if (served == TX_BATCH || virtio_worker_cut_in_wanted(&c->w)) {
            virtio_worker_kick(&c->w); /* more may wait: come back once the lock was free */
            break;
        }
        if (!c->tx_pending) {
            if ((rc = virtq_pop_or_arm(q, &c->tx)) <= 0)
                break;
            c->tx_pending = true;
            c->tx_off = 0;
        }
        if (!tx_write(c))
            break;
        virtq_push(q, c->tx.head, 0);
        c->tx_pending = false;
        pushed = true;
    }
    if (pushed)
        virtio_notify_queue(&c->vdev, 1);
    return rc >= 0;
}

/* Host input is ready: move it into one receive buffer. False if the queue is broken. */
static bool do_rx(struct virtio_console *c, bool *no_buffer)
{
    struct virtq *q = &c->vdev.vq[0];
    int rc = virtq_pop_or_arm(q, &c->rx);
    if (rc <= 0) {
        *no_buffer = rc == 0; /* and we asked for a kick when one comes */
        return rc == 0;
    }
    if (c->rx.in_len == 0 || c->rx.n_out)
        return false; /* receive buffers are device-writable only (virtio 5.3.6): malformed */
    size_t room = c->rx.in_len < 4096 ? c->rx.in_len : 4096;
    uint8_t buf[4096];
    ssize_t n = read(c->in_fd, buf, room);
    if (n < 0)
        n = 0;
    size_t put = virtq_copy_to_in(&c->rx, 0, buf, (size_t)n);
    virtq_push(q, c->rx.head, (uint32_t)put);
    virtio_notify_queue(&c->vdev, 0);
    return true;
}

static void *con_thread(void *arg)
{
    struct virtio_console *c = arg;
    bool rx_wait = false; /* no receive buffer: wait for a kick before reading input */
    for (;;) {
        pthread_mutex_lock(&c->w.lock);
        bool run = c->w.running, txp = c->tx_pending;
        pthread_mutex_unlock(&c->w.lock);
        struct pollfd p[3] = {
            { c->w.kick_fd, POLLIN, 0 },
            { run && c->in_fd >= 0 && !rx_wait ? c->in_fd : -1, POLLIN, 0 },
            { run && txp ? c->out_fd : -1, POLLOUT, 0 },
        };
        if (poll(p, 3, -1) < 0 && errno != EINTR)
            break;
        if (p[0].revents) {
            if (!virtio_worker_take_kick(&c->w))
                break;
            rx_wait = false;
        }
        virtio_worker_let_in(&c->w);
        pthread_mutex_lock(&c->w.lock);
        if (c->w.stop) {
            pthread_mutex_unlock(&c->w.lock);
            break;
        }
        bool ok = true;
        if (c->w.running) {
            ok = do_tx(c);
            if (ok && (p[1].revents & POLLIN) && !rx_wait) {
                bool none = false;
                ok = do_rx(c, &none);
                rx_wait = none;
            }
            if (p[1].revents & (POLLHUP | POLLERR) && !(p[1].revents & POLLIN))
                usleep(100 * 1000); /* nobody on the other side of the pty yet */
            if (!ok)
                c->w.running = false;
        }
        pthread_mutex_unlock(&c->w.lock);
        if (!ok)
            virtio_needs_reset(&c->vdev);
    }
    return NULL;
}

static void con_notify(void *ctx, unsigned q)
{
    (void)q;
    virtio_worker_kick(&((struct virtio_console *)ctx)->w);
}

static void con_start(void *ctx) { virtio_worker_set_running(&((struct virtio_console *)ctx)->w, true); }

static void con_reset(void *ctx)
{
    struct virtio_console *c = ctx;
    virtio_worker_lock_cut_in(&c->w);
    c->w.running = false;
    c->tx_pending = false;
    pthread_mutex_unlock(&c->w.lock);
}

/* The console's thread touches RAM only under its lock. */
static void con_hold(void *ctx, bool hold)
{
    struct virtio_console *c = ctx;
    if (hold)
        virtio_worker_lock_cut_in(&c->w);
    else
        pthread_mutex_unlock(&c->w.lock);
}

static const struct virtio_ops con_ops = {
    .device_id = VIRTIO_ID_CONSOLE, .num_queues = 2, .queue_max = QUEUE_SIZE,
    .config_size = CONFIG_SIZE, .config_read = con_config_read,
    .notify = con_notify, .start = con_start, .reset = con_reset, .hold = con_hold,
};

void virtio_console_cap_output(struct virtio_console *c, uint64_t cap)
{
    struct stat st;
    c->out_size = fstat(c->out_fd, &st) ? 0 : (uint64_t)st.st_size;
    c->out_cap = cap;
}

struct virtio_console *virtio_console_create(const struct virtio_slot *slot, int in_fd, int out_fd)
{
    struct virtio_console *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->in_fd = in_fd;
    c->out_fd = out_fd;
    fcntl(out_fd, F_SETFL, fcntl(out_fd, F_GETFL) | O_NONBLOCK);
    if (in_fd >= 0)
        fcntl(in_fd, F_SETFL, fcntl(in_fd, F_GETFL) | O_NONBLOCK);
    virtio_mmio_init(&c->vdev, slot->name, slot->base, slot->mem, slot->irq, &con_ops, c);
    if (virtio_worker_init(&c->w, con_thread, c)) {
        virtio_mmio_destroy(&c->vdev);
        free(c);
        return NULL;
    }
    return c;
}

struct virtio_dev *virtio_console_dev(struct virtio_console *c) { return &c->vdev; }

void virtio_console_destroy(struct virtio_console *c)
{
    if (!c)
        return;
    virtio_worker_destroy(&c->w);
    if (c->in_fd >= 0 && c->in_fd != c->out_fd)
        close(c->in_fd);
    close(c->out_fd);
    virtio_mmio_destroy(&c->vdev);
    free(c);
}
