/* What every network backend kind fills in: the shared head of its state and a struct of
 * functions. Private to src/backend/net*.c; device models use net.h only. */
#ifndef CORRAL_BACKEND_NET_IMPL_H
#define CORRAL_BACKEND_NET_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "backend/net.h"
#include "backend/net_util.h"

struct net_backend_ops {
    /* The backend thread (argument: the backend). It polls wake_fd with its own fds and
     * returns once stop is set; rx_retry says the guest posted RX buffers. */
    void *(*thread)(void *nb);
    int (*send)(struct net_backend *nb, const uint8_t *frame, size_t len);
    /* Frees the backend; the thread has stopped, or never started. */
    void (*destroy)(struct net_backend *nb);
};

/* The first member of every backend's state. */
struct net_backend {
    const struct net_backend_ops *ops;
    int wake_fd;              /* an eventfd: net_wake() gets the thread out of poll() */
    pthread_t thread;
    bool started;
    atomic_bool stop, rx_retry;
    const char *kind;
    char ifname[IFNAMSIZ];
    uint8_t mac[6];
    net_rx_fn rx;
    void *rx_ctx;
    atomic_uint_least64_t tx_frames, tx_dropped, rx_frames, rx_dropped;
};

/* A backend kind: its spec name, the options it takes (NET_OPT_*), and its constructor.
 * The constructor gets nb->mac, rx and rx_ctx filled in through *head, which it copies into
 * the state it allocates. */
struct net_kind {
    const char *name;
    unsigned opts;
    int (*open)(const struct net_opts *o, const struct net_backend *head,
                struct net_backend **out, char *err, size_t errlen);
};

extern const struct net_kind net_kind_user, net_kind_tap, net_kind_switch;

/* Fills the head of a backend's state from what net_backend_open prepared and opens its
 * wake_fd; on error (a negative errno) the head is still fit for net_backend_fini_head. */
int net_backend_init_head(struct net_backend *nb, const struct net_backend *head,
                          const struct net_backend_ops *ops);
void net_backend_fini_head(struct net_backend *nb);

/* A frame read into a backend's buffer that the guest had no room for: the backend stops
 * reading its fd while one is held (tap, switch), so the host side pushes back. */
struct net_held {
    bool on;
    size_t len;
};
/* Offers buf[0..len) to the guest: counted when taken, else held in *h. */
bool net_offer(struct net_backend *nb, struct net_held *h, const uint8_t *buf, size_t len);
/* On the backend thread, each turn: after rx_retry, offers the held frame again. Checked
 * after a refusal sets h->on, so a rx_ready racing with the refusal is not lost. */
void net_retry_held(struct net_backend *nb, struct net_held *h, const uint8_t *buf);

void net_wake(int fd);
void net_wake_drain(int fd);

#endif
