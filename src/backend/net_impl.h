/* What every network backend kind fills in: the shared head of its state and a struct of
 * functions. Private to src/backend/net*.c; device models use net.h only. */
#ifndef CORRAL_BACKEND_NET_IMPL_H
#define CORRAL_BACKEND_NET_IMPL_H

#include <stdatomic.h>

#include "backend/net.h"
#include "backend/net_util.h"

struct net_backend_ops {
    int (*start)(struct net_backend *nb);
    void (*close)(struct net_backend *nb);
    int (*send)(struct net_backend *nb, const uint8_t *frame, size_t len);
    void (*rx_ready)(struct net_backend *nb);
};

/* The first member of every backend's state. */
struct net_backend {
    const struct net_backend_ops *ops;
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

extern const struct net_kind net_kind_user, net_kind_tap;

/* Fills the head of a backend's state from what net_backend_open prepared. */
void net_backend_init_head(struct net_backend *nb, const struct net_backend *head,
                           const struct net_backend_ops *ops);

/* An eventfd that wakes a backend thread out of poll(). */
int net_wake_open(void);
void net_wake(int fd);
void net_wake_drain(int fd);

#endif
