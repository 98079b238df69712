/* The "tap" network backend: a Linux tap interface (/dev/net/tun, IFF_TAP | IFF_NO_PI, no
 * virtio header). A thread reads frames for the guest; when the guest has no buffer it holds
 * the frame and stops reading until net_backend_rx_ready, so the kernel queue pushes back.
 * Setting the interface up, addresses and bridges are the host's business, not Corral's. */
#include <fcntl.h>
#include <linux/if_tun.h>
#include <poll.h>
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
    int fd;
    bool dead;             /* the fd reports errors only (interface deleted): stop polling it */
    struct net_held held;  /* buf holds a frame the guest had no room for */
    uint8_t buf[NET_FRAME_MAX];
};

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
        if (len == 0 || !net_offer(&t->nb, &t->held, t->buf, (size_t)len))
            return;
    }
}

static void *tap_thread(void *arg)
{
    struct net_tap *t = arg;
    while (!atomic_load(&t->nb.stop)) {
        net_retry_held(&t->nb, &t->held, t->buf);
        struct pollfd p[2] = {
            { .fd = t->nb.wake_fd, .events = POLLIN },
            { .fd = t->fd, .events = t->held.on ? 0 : POLLIN },
        };
        int n = poll(p, t->dead ? 1 : 2, -1);
        if (n < 0)
            continue;
        if (p[0].revents)
            net_wake_drain(t->nb.wake_fd);
        if (!t->held.on && (p[1].revents & POLLIN)) {
            tap_read_frames(t);
        } else if (p[1].revents & (POLLERR | POLLHUP | POLLNVAL)) {
            LOG_DEBUG("net tap %s: fd reports errors, no more input", t->nb.ifname);
            t->dead = true; /* else poll would return at once, forever */
        }
    }
    return NULL;
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

static void tap_destroy(struct net_backend *nb)
{
    struct net_tap *t = (struct net_tap *)nb;
    if (t->fd >= 0)
        close(t->fd);
    net_backend_fini_head(&t->nb);
    free(t);
}

static const struct net_backend_ops tap_ops = {
    .thread = tap_thread,
    .send = tap_send,
    .destroy = tap_destroy,
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
    t->fd = -1;
    int r = net_backend_init_head(&t->nb, head, &tap_ops);
    if (r)
        net_err(err, errlen, r, "tap: eventfd: %s", strerror(-r));
    else
        r = tap_attach(t, o->ifname[0] ? o->ifname : "tap%d", err, errlen);
    if (r) {
        tap_destroy(&t->nb);
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
