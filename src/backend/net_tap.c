/* The "tap" network backend: a Linux tap interface (/dev/net/tun, IFF_TAP | IFF_NO_PI, no
 * virtio header). A thread reads frames for the guest; when the guest has no buffer it holds
 * the frame and stops reading until net_backend_rx_ready, so the kernel queue pushes back.
 * Setting the interface up, addresses and bridges are the host's business, not Corral's. */
#include <fcntl.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "backend/net_impl.h"
#include "corral/log.h"

#define TAP_READS_PER_TURN 64 /* frames read before looking at the wake fd again */

struct net_tap {
    struct net_backend nb; /* first: net.c sees only this */
    int fd, wake_fd;
    pthread_t thread;
    bool started;
    atomic_bool stop, rx_retry;
    bool held;             /* buf holds a frame the guest had no room for */
    size_t held_len;
    uint8_t buf[NET_FRAME_MAX];
};

static bool tap_deliver(struct net_tap *t, size_t len)
{
    if (t->nb.rx(t->nb.rx_ctx, t->buf, len)) {
        atomic_fetch_add(&t->nb.rx_frames, 1);
        t->held = false;
        return true;
    }
    t->held = true;
    t->held_len = len;
    return false;
}

static void tap_read_frames(struct net_tap *t)
{
    for (int n = 0; n < TAP_READS_PER_TURN; n++) {
        ssize_t len = read(t->fd, t->buf, sizeof(t->buf));
        if (len < 0 && errno == EINTR)
            continue;
        if (len < 0) {
            if (errno != EAGAIN)
                LOG_DEBUG("net tap %s: read: %s", t->nb.ifname, strerror(errno));
            return;
        }
        if (len == 0 || !tap_deliver(t, (size_t)len))
            return;
    }
}

static void *tap_thread(void *arg)
{
    struct net_tap *t = arg;
    while (!atomic_load(&t->stop)) {
        /* checked after held is set, so a rx_ready racing with a refusal is not lost */
        if (atomic_exchange(&t->rx_retry, false) && t->held)
            tap_deliver(t, t->held_len);
        struct pollfd p[2] = {
            { .fd = t->wake_fd, .events = POLLIN },
            { .fd = t->fd, .events = t->held ? 0 : POLLIN },
        };
        int n = poll(p, 2, -1);
        if (n < 0)
            continue;
        if (p[0].revents)
            net_wake_drain(t->wake_fd);
        if (!t->held && (p[1].revents & POLLIN))
            tap_read_frames(t);
    }
    return NULL;
}

static int tap_start(struct net_backend *nb)
{
    struct net_tap *t = (struct net_tap *)nb;
    if (t->started)
        return -EBUSY;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* signals belong to the main thread */
    int r = pthread_create(&t->thread, NULL, tap_thread, t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r)
        return -r;
    t->started = true;
    return 0;
}

static int tap_send(struct net_backend *nb, const uint8_t *frame, size_t len)
{
    struct net_tap *t = (struct net_tap *)nb;
    ssize_t n;
    do
        n = write(t->fd, frame, len);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN ? -ENOBUFS : -errno; /* EIO: the interface is down */
    return 0;
}

static void tap_rx_ready(struct net_backend *nb)
{
    struct net_tap *t = (struct net_tap *)nb;
    atomic_store(&t->rx_retry, true);
    net_wake(t->wake_fd);
}

static void tap_close(struct net_backend *nb)
{
    struct net_tap *t = (struct net_tap *)nb;
    if (t->started) {
        atomic_store(&t->stop, true);
        net_wake(t->wake_fd);
        pthread_join(t->thread, NULL);
    }
    if (t->fd >= 0)
        close(t->fd);
    if (t->wake_fd >= 0)
        close(t->wake_fd);
    free(t);
}

static const struct net_backend_ops tap_ops = {
    .start = tap_start,
    .close = tap_close,
    .send = tap_send,
    .rx_ready = tap_rx_ready,
};

static int tap_attach(struct net_tap *t, const char *want, char *err, size_t errlen)
{
    t->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (t->fd < 0)
        return net_err(err, errlen, -errno, "cannot open tap '%s': /dev/net/tun: %s", want,
                       strerror(errno));
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI; /* no IFF_VNET_HDR: plain Ethernet frames */
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", want); /* net_util checked the length */
    if (ioctl(t->fd, TUNSETIFF, &ifr) < 0)
        return net_err(err, errlen, -errno, "cannot open tap '%s': %s", want, strerror(errno));
    memcpy(t->nb.ifname, ifr.ifr_name, IFNAMSIZ);
    t->nb.ifname[IFNAMSIZ - 1] = '\0';
    return 0;
}

static int tap_open(const struct net_opts *o, const struct net_backend *head,
                    struct net_backend **out, char *err, size_t errlen)
{
    struct net_tap *t = calloc(1, sizeof(*t));
    if (!t)
        return net_err(err, errlen, -ENOMEM, "out of memory");
    net_backend_init_head(&t->nb, head, &tap_ops);
    atomic_init(&t->stop, false);
    atomic_init(&t->rx_retry, false);
    t->fd = -1;
    t->wake_fd = net_wake_open();
    int r = t->wake_fd < 0 ? net_err(err, errlen, t->wake_fd, "tap: eventfd: %s",
                                     strerror(-t->wake_fd))
                           : tap_attach(t, o->ifname[0] ? o->ifname : "tap%d", err, errlen);
    if (r) {
        tap_close(&t->nb);
        return r;
    }
    *out = &t->nb;
    return 0;
}

const struct net_kind net_kind_tap = {
    .name = "tap",
    .opts = NET_OPT_MAC | NET_OPT_IFNAME,
    .open = tap_open,
};
