/* The network backend front door: parses a --net spec, picks the kind, and forwards the calls
 * of net.h to it. The kinds themselves are net_slirp.c ("user"), net_tap.c ("tap") and
 * net_switch.c ("switch"). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "backend/net_impl.h"

static const struct net_kind *const net_kinds[] = { &net_kind_user, &net_kind_tap,
                                                     &net_kind_switch };

static const struct net_kind *net_find_kind(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(net_kinds); i++)
        if (!strcmp(net_kinds[i]->name, name))
            return net_kinds[i];
    return NULL;
}

int net_backend_open(const char *spec, unsigned index, net_rx_fn rx, void *rx_ctx,
                     struct net_backend **out, char *err, size_t errlen)
{
    struct net_opts *o = malloc(sizeof(*o));
    if (!o)
        return net_err(err, errlen, -ENOMEM, "out of memory");
    int r = net_parse_spec(spec, o, err, errlen);
    const struct net_kind *k = r ? NULL : net_find_kind(o->kind);
    if (!r && !k)
        r = net_err(err, errlen, -EINVAL, "unknown backend '%s' (expected user, tap or switch)", o->kind);
    for (unsigned bit = 1; !r && bit <= o->seen; bit <<= 1)
        if ((o->seen & bit) && !(k->opts & bit))
            r = net_err(err, errlen, -EINVAL, "option '%s' is not valid for %s",
                        net_opt_name(bit), k->name);
    if (!r) {
        struct net_backend head = { .kind = k->name, .rx = rx, .rx_ctx = rx_ctx };
        if (o->seen & NET_OPT_MAC)
            memcpy(head.mac, o->mac, 6);
        else
            memcpy(head.mac, (uint8_t[6]){ 0x52, 0x54, 0x00, 0x12, 0x34,
                                           (uint8_t)(index + 0x56) }, 6);
        r = k->open(o, &head, out, err, errlen);
    }
    free(o);
    return r;
}

int net_backend_init_head(struct net_backend *nb, const struct net_backend *head,
                          const struct net_backend_ops *ops)
{
    nb->ops = ops;
    nb->started = false;
    atomic_init(&nb->stop, false);
    atomic_init(&nb->rx_retry, false);
    nb->kind = head->kind;
    memcpy(nb->mac, head->mac, 6);
    nb->rx = head->rx;
    nb->rx_ctx = head->rx_ctx;
    atomic_init(&nb->tx_frames, 0);
    atomic_init(&nb->tx_dropped, 0);
    atomic_init(&nb->rx_frames, 0);
    atomic_init(&nb->rx_dropped, 0);
    nb->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return nb->wake_fd < 0 ? -errno : 0;
}

void net_backend_fini_head(struct net_backend *nb)
{
    if (nb->wake_fd >= 0)
        close(nb->wake_fd);
    nb->wake_fd = -1;
}

bool net_offer(struct net_backend *nb, struct net_held *h, const uint8_t *buf, size_t len)
{
    h->on = !nb->rx(nb->rx_ctx, buf, len);
    if (h->on)
        h->len = len;
    else
        atomic_fetch_add(&nb->rx_frames, 1);
    return !h->on;
}

void net_retry_held(struct net_backend *nb, struct net_held *h, const uint8_t *buf)
{
    if (atomic_exchange(&nb->rx_retry, false) && h->on)
        net_offer(nb, h, buf, h->len);
}

void net_wake(int fd)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already huge: the thread is woken anyway */
    if (write(fd, &one, sizeof(one)) < 0)
        return;
}

void net_wake_drain(int fd)
{
    uint64_t v;
    if (read(fd, &v, sizeof(v)) < 0)
        return;
}

int net_backend_start(struct net_backend *nb)
{
    if (nb->started)
        return -EBUSY;
    /* signals belong to the main thread; a SIGPIPE from a socket here stays pending, harmless.
     * SIGSYS stays open: the sandbox reports a forbidden system call with it, and a blocked
     * one would end the process without a word. */
    sigset_t all, old;
    sigfillset(&all);
    sigdelset(&all, SIGSYS);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int r = pthread_create(&nb->thread, NULL, nb->ops->thread, nb);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r)
        return -r;
    nb->started = true;
    return 0;
}

void net_backend_close(struct net_backend *nb)
{
    if (!nb)
        return;
    if (nb->started) {
        atomic_store(&nb->stop, true);
        net_wake(nb->wake_fd);
        pthread_join(nb->thread, NULL);
        nb->started = false;
    }
    nb->ops->destroy(nb);
}

int net_backend_send(struct net_backend *nb, const uint8_t *frame, size_t len)
{
    if (len < 14 || len > NET_FRAME_MAX) {
        atomic_fetch_add(&nb->tx_dropped, 1);
        return -EINVAL;
    }
    int r = nb->ops->send(nb, frame, len);
    atomic_fetch_add(r ? &nb->tx_dropped : &nb->tx_frames, 1);
    return r;
}

void net_backend_mac(const struct net_backend *nb, uint8_t mac[6])
{
    memcpy(mac, nb->mac, 6);
}

void net_backend_rx_ready(struct net_backend *nb)
{
    atomic_store(&nb->rx_retry, true);
    net_wake(nb->wake_fd);
}

void net_backend_stats(const struct net_backend *nb, struct net_stats *st)
{
    struct net_backend *m = (struct net_backend *)nb; /* atomic loads want non-const */
    st->tx_frames = atomic_load(&m->tx_frames);
    st->tx_dropped = atomic_load(&m->tx_dropped);
    st->rx_frames = atomic_load(&m->rx_frames);
    st->rx_dropped = atomic_load(&m->rx_dropped);
}

const char *net_backend_kind(const struct net_backend *nb)
{
    return nb->kind;
}

unsigned net_backend_mtu(const struct net_backend *nb)
{
    return strcmp(nb->kind, "user") ? 1500 : NET_USER_MTU;
}

const char *net_backend_ifname(const struct net_backend *nb)
{
    return nb->ifname;
}

bool net_backend_send_needs_io_thread(const struct net_backend *nb)
{
    return !strcmp(nb->kind, "switch");
}
