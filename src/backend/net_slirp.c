/* The "user" network backend: libslirp, QEMU's user-mode network stack, on a thread of its own.
 * libslirp is not thread-safe, so only that thread touches it: frames from the guest reach it
 * through a locked queue and an eventfd; its timers and sockets are polled there too.
 * The guest is kept off the host itself: frames that libslirp would carry to the host's
 * loopback (10.0.2.2 is 127.0.0.1 to it; other VMs' forwarded ports listen there) or to
 * link-local addresses are refused or dropped before libslirp sees them (net_policy.c);
 * host=on gives the loopback back. */
#include <arpa/inet.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <slirp/libslirp.h>

#include "backend/net_impl.h"
#include "backend/net_policy.h"
#include "corral/log.h"

/* SlirpConfig version 4 (libslirp >= 4.5): timer_new_opaque, init_completed, disable_dhcp. */
#define SLIRP_CFG_VERSION 4
#define TIMER_RUNS_MAX 64 /* expired timers run per loop turn; the rest wait for the next */

struct slirp_timer {
    struct slirp_timer *next;
    bool by_id;          /* made by timer_new_opaque: fire through slirp_handle_timer */
    SlirpTimerId id;
    SlirpTimerCb cb;
    void *cb_opaque;
    int64_t expire_ms;   /* on the clock_get_ns clock; -1 when not armed */
};

struct net_slirp {
    struct net_backend nb; /* first: net.c sees only this */
    Slirp *slirp;
    struct net_policy policy; /* thread only, but host_loopback, set at open */
    pthread_mutex_t tx_lock;
    struct net_queue txq;  /* guest -> slirp, under tx_lock */
    struct net_queue rxq;  /* slirp -> guest while the guest has no buffers; thread only */
    struct slirp_timer *timers;
    struct pollfd *pfds;   /* [0] is wake_fd; the rest are slirp's for this turn */
    unsigned npfds, pfd_cap;
};

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- callbacks from libslirp, all on the backend thread (or in open/close before/after) */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
    struct net_slirp *s = opaque;
    if (len > NET_FRAME_MAX) {
        atomic_fetch_add(&s->nb.rx_dropped, 1);
        return (ssize_t)len;
    }
    net_policy_note_to_guest(&s->policy, buf, len);
    /* behind queued frames, or the guest would see them out of order */
    if (!s->rxq.count && s->nb.rx(s->nb.rx_ctx, buf, len)) {
        atomic_fetch_add(&s->nb.rx_frames, 1);
    } else if (net_queue_push(&s->rxq, buf, len)) {
        atomic_fetch_add(&s->nb.rx_dropped, 1); /* TCP retransmits; UDP was never promised */
    }
    return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
    LOG_DEBUG("net user: guest error: %s", msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
    return monotonic_ns();
}

static struct slirp_timer *timer_add(struct net_slirp *s)
{
    struct slirp_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL; /* libslirp checks for NULL nowhere; it will crash either way */
    t->expire_ms = -1;
    t->next = s->timers;
    s->timers = t;
    return t;
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    struct slirp_timer *t = timer_add(opaque);
    if (t) {
        t->cb = cb;
        t->cb_opaque = cb_opaque;
    }
    return t;
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
    struct slirp_timer *t = timer_add(opaque);
    if (t) {
        t->by_id = true;
        t->id = id;
        t->cb_opaque = cb_opaque;
    }
    return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
    struct net_slirp *s = opaque;
    for (struct slirp_timer **p = &s->timers; *p; p = &(*p)->next) {
        if (*p == timer) {
            *p = (*p)->next;
            free(timer);
            return;
        }
    }
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    ((struct slirp_timer *)timer)->expire_ms = expire_ms < 0 ? 0 : expire_ms;
}

/* Sockets are polled afresh each turn through slirp_pollfds_fill: nothing to keep. */
static void cb_register_poll_fd(int fd, void *opaque) {}
static void cb_unregister_poll_fd(int fd, void *opaque) {}

static void cb_notify(void *opaque)
{
    struct net_slirp *s = opaque;
    net_wake(s->nb.wake_fd);
}

static void cb_init_completed(Slirp *slirp, void *opaque) {}

static const SlirpCb slirp_callbacks = {
    .send_packet = cb_send_packet,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock_get_ns,
    .timer_new = cb_timer_new,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_register_poll_fd,
    .unregister_poll_fd = cb_unregister_poll_fd,
    .notify = cb_notify,
    .init_completed = cb_init_completed,
    .timer_new_opaque = cb_timer_new_opaque,
};

/* ---- the backend thread */

static int add_poll(int fd, int events, void *opaque)
{
    struct net_slirp *s = opaque;
    if (s->npfds == s->pfd_cap) {
        unsigned cap = s->pfd_cap * 2;
        struct pollfd *p = realloc(s->pfds, cap * sizeof(*p));
        if (!p)
            return -1; /* this socket sits out one turn */
        s->pfds = p;
        s->pfd_cap = cap;
    }
    short ev = 0;
    if (events & SLIRP_POLL_IN)
        ev |= POLLIN;
    if (events & SLIRP_POLL_OUT)
        ev |= POLLOUT;
    if (events & SLIRP_POLL_PRI)
        ev |= POLLPRI;
    s->pfds[s->npfds] = (struct pollfd){ .fd = fd, .events = ev };
    return (int)s->npfds++;
}

static int get_revents(int idx, void *opaque)
{
    struct net_slirp *s = opaque;
    if (idx < 1 || (unsigned)idx >= s->npfds)
        return 0;
    short rev = s->pfds[idx].revents;
    int r = 0;
    if (rev & POLLIN)
        r |= SLIRP_POLL_IN;
    if (rev & POLLOUT)
        r |= SLIRP_POLL_OUT;
    if (rev & POLLPRI)
        r |= SLIRP_POLL_PRI;
    if (rev & (POLLERR | POLLNVAL))
        r |= SLIRP_POLL_ERR;
    if (rev & POLLHUP)
        r |= SLIRP_POLL_HUP;
    return r;
}

/* Runs the timers that are due; returns ms until the next one (UINT32_MAX: none). */
static uint32_t run_timers(struct net_slirp *s)
{
    for (int runs = 0; runs < TIMER_RUNS_MAX; runs++) {
        int64_t now = monotonic_ns() / 1000000;
        struct slirp_timer *due = NULL;
        for (struct slirp_timer *t = s->timers; t && !due; t = t->next)
            if (t->expire_ms >= 0 && t->expire_ms <= now)
                due = t;
        if (!due)
            break;
        due->expire_ms = -1; /* the callback may re-arm or free it */
        if (due->by_id)
            slirp_handle_timer(s->slirp, due->id, due->cb_opaque);
        else
            due->cb(due->cb_opaque);
    }
    int64_t now = monotonic_ns() / 1000000, next = INT64_MAX;
    for (struct slirp_timer *t = s->timers; t; t = t->next)
        if (t->expire_ms >= 0 && t->expire_ms < next)
            next = t->expire_ms;
    if (next == INT64_MAX)
        return UINT32_MAX;
    return next <= now ? 0 : (uint32_t)(next - now < INT_MAX ? next - now : INT_MAX);
}

/* Frames from the guest into slirp, without holding the lock across slirp_input. */
static void drain_tx(struct net_slirp *s)
{
    for (unsigned n = 0; n < NET_TX_QUEUE_MAX; n++) {
        struct net_frame f;
        pthread_mutex_lock(&s->tx_lock);
        bool got = net_queue_pop(&s->txq, &f);
        pthread_mutex_unlock(&s->tx_lock);
        if (!got)
            return;
        uint8_t rst[14 + 40 + 20];
        switch (net_policy_check(&s->policy, f.data, f.len)) {
        case NET_PASS:
            slirp_input(s->slirp, f.data, (int)f.len);
            break;
        case NET_REFUSE: { /* answered, as by a host with nothing listening: not a drop */
            size_t rst_len = net_policy_tcp_rst(f.data, f.len, rst);
            if (rst_len)
                cb_send_packet(rst, rst_len, s);
            break;
        }
        case NET_DROP:
            atomic_fetch_add(&s->nb.tx_dropped, 1);
            break;
        }
        free(f.data);
    }
}

static void flush_rx(struct net_slirp *s)
{
    const struct net_frame *f;
    while ((f = net_queue_peek(&s->rxq)) && s->nb.rx(s->nb.rx_ctx, f->data, f->len)) {
        net_queue_drop(&s->rxq);
        atomic_fetch_add(&s->nb.rx_frames, 1);
    }
}

/* One turn of the backend's loop: the guest's frames out, held frames in, libslirp's timers
 * and sockets; poll() waits for libslirp's next timer unless NO_WAIT (the fuzz target). */
static void slirp_turn(struct net_slirp *s, bool no_wait)
{
    drain_tx(s);
    if (atomic_exchange(&s->nb.rx_retry, false))
        flush_rx(s);
    uint32_t timeout = run_timers(s);
    s->npfds = 1;
    s->pfds[0] = (struct pollfd){ .fd = s->nb.wake_fd, .events = POLLIN };
    slirp_pollfds_fill(s->slirp, &timeout, add_poll, s);
    int n = poll(s->pfds, s->npfds, no_wait ? 0 : timeout > INT_MAX ? -1 : (int)timeout);
    if (n > 0 && s->pfds[0].revents)
        net_wake_drain(s->nb.wake_fd);
    slirp_pollfds_poll(s->slirp, n < 0, get_revents, s);
}

static void *slirp_thread(void *arg)
{
    struct net_slirp *s = arg;
    while (!atomic_load(&s->nb.stop))
        slirp_turn(s, false);
    return NULL;
}

/* ---- net.h operations */

static int slirp_send(struct net_backend *nb, const uint8_t *frame, size_t len)
{
    struct net_slirp *s = (struct net_slirp *)nb;
    if (net_policy_check_address(frame, len, s->policy.host_loopback) != NET_PASS)
        return -EACCES;
    pthread_mutex_lock(&s->tx_lock);
    int r = net_queue_push(&s->txq, frame, len);
    pthread_mutex_unlock(&s->tx_lock);
    if (!r)
        net_wake(s->nb.wake_fd);
    return r;
}

static void slirp_destroy(struct net_backend *nb)
{
    struct net_slirp *s = (struct net_slirp *)nb;
    if (s->slirp)
        slirp_cleanup(s->slirp); /* frees its timers through cb_timer_free */
    while (s->timers)
        cb_timer_free(s->timers, s);
    net_queue_free(&s->txq);
    net_queue_free(&s->rxq);
    pthread_mutex_destroy(&s->tx_lock);
    net_backend_fini_head(&s->nb);
    free(s->pfds);
    free(s);
}

static const struct net_backend_ops slirp_ops = {
    .thread = slirp_thread,
    .send = slirp_send,
    .destroy = slirp_destroy,
};

static struct in_addr ip4(const char *s)
{
    struct in_addr a;
    inet_pton(AF_INET, s, &a);
    return a;
}

static struct in6_addr ip6(const char *s)
{
    struct in6_addr a;
    inet_pton(AF_INET6, s, &a);
    return a;
}

/* QEMU's -netdev user defaults, so guests and habits carry over. */
static Slirp *slirp_create(struct net_slirp *s, bool ipv6)
{
    SlirpConfig cfg = {
        .version = SLIRP_CFG_VERSION,
        .restricted = 0,
        .if_mtu = NET_USER_MTU,
        .if_mru = NET_USER_MTU,
        .in_enabled = true,
        .vnetwork = ip4("10.0.2.0"),
        .vnetmask = ip4("255.255.255.0"),
        .vhost = ip4("10.0.2.2"),
        .vdhcp_start = ip4("10.0.2.15"),
        .vnameserver = ip4("10.0.2.3"),
        .in6_enabled = ipv6,
        .vprefix_addr6 = ip6("fec0::"),
        .vprefix_len = 64,
        .vhost6 = ip6("fec0::2"),
        .vnameserver6 = ip6("fec0::3"),
        /* net_policy keeps the guest off the host's loopback, more finely: libslirp's
         * disable_host_loopback would also drop the guest's answers on UDP forwards */
        .disable_host_loopback = false,
    };
    return slirp_new(&cfg, &slirp_callbacks, s);
}

static int slirp_add_forwards(struct net_slirp *s, const struct net_opts *o,
                              char *err, size_t errlen)
{
    for (unsigned i = 0; i < o->n_hostfwd; i++) {
        const struct net_hostfwd *f = &o->hostfwd[i];
        errno = 0;
        if (slirp_add_hostfwd(s->slirp, f->udp, f->host_addr, f->host_port, f->guest_addr,
                              f->guest_port) == 0)
            continue;
        int e = errno ? errno : EADDRINUSE;
        char ha[INET_ADDRSTRLEN], ga[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &f->host_addr, ha, sizeof(ha));
        inet_ntop(AF_INET, &f->guest_addr, ga, sizeof(ga));
        return net_err(err, errlen, -e, "cannot forward %s %s:%u to %s:%u: %s",
                       f->udp ? "udp" : "tcp", ha, f->host_port, ga, f->guest_port,
                       strerror(e));
    }
    return 0;
}

static int slirp_open(const struct net_opts *o, const struct net_backend *head,
                      struct net_backend **out, char *err, size_t errlen)
{
    struct net_slirp *s = calloc(1, sizeof(*s));
    if (!s)
        return net_err(err, errlen, -ENOMEM, "out of memory");
    int r = net_backend_init_head(&s->nb, head, &slirp_ops);
    pthread_mutex_init(&s->tx_lock, NULL);
    s->pfd_cap = 16;
    s->pfds = malloc(s->pfd_cap * sizeof(*s->pfds));
    if (!r && (!s->pfds || net_queue_init(&s->txq, NET_TX_QUEUE_MAX) ||
               net_queue_init(&s->rxq, NET_RX_QUEUE_MAX)))
        r = -ENOMEM;
    if (r) {
        net_err(err, errlen, r, "user: cannot set up: %s", strerror(-r));
        goto fail;
    }
    s->policy.host_loopback = o->host;
    s->slirp = slirp_create(s, o->ipv6);
    if (!s->slirp) {
        r = net_err(err, errlen, -ENOMEM, "user: libslirp refused its configuration");
        goto fail;
    }
    r = slirp_add_forwards(s, o, err, errlen);
    if (r)
        goto fail;
    *out = &s->nb;
    return 0;
fail:
    slirp_destroy(&s->nb);
    return r;
}

const struct net_kind net_kind_user = {
    .name = "user",
    .opts = NET_OPT_MAC | NET_OPT_HOSTFWD | NET_OPT_IPV6 | NET_OPT_HOST,
    .open = slirp_open,
};
