/* A network backend (backend/net.h) for fuzz targets: no host I/O and no thread. Frames the
 * device sends are copied out (so that a bad length shows), frames for the guest are queued
 * by the target and handed over by fuzz_net_deliver(), which retries a held one only after
 * the device said it has buffers again, as the user network does. The spec chooses the kind:
 * "user" (checksums trusted), "tap", or "switch" (sends go through the device's timer). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend/net.h"
#include "support/fake_net.h"

#define HELD_MAX 4

struct net_backend {
    net_rx_fn rx;
    void *ctx;
    const char *kind;
    bool started, rx_ready;
    unsigned held;
    size_t len[HELD_MAX];
    uint8_t *frame[HELD_MAX];
    struct net_stats st;
};

static struct net_backend *live;
static uint8_t sent[NET_FRAME_MAX];

int net_backend_open(const char *spec, unsigned index, net_rx_fn rx, void *rx_ctx,
                     struct net_backend **out, char *err, size_t errlen)
{
    (void)index;
    (void)err;
    (void)errlen;
    struct net_backend *nb = calloc(1, sizeof(*nb));
    if (!nb)
        return -ENOMEM;
    nb->rx = rx;
    nb->ctx = rx_ctx;
    nb->kind = !strcmp(spec, "tap") ? "tap" : !strcmp(spec, "switch") ? "switch" : "user";
    *out = live = nb;
    return 0;
}

int net_backend_start(struct net_backend *nb)
{
    if (nb->started)
        return -EBUSY;
    nb->started = true;
    return 0;
}

void net_backend_close(struct net_backend *nb)
{
    if (!nb)
        return;
    for (unsigned i = 0; i < nb->held; i++)
        free(nb->frame[i]);
    if (live == nb)
        live = NULL;
    free(nb);
}

int net_backend_send(struct net_backend *nb, const uint8_t *frame, size_t len)
{
    if (len < 14 || len > NET_FRAME_MAX)
        return -EINVAL;
    memcpy(sent, frame, len);
    nb->st.tx_frames++;
    return 0;
}

void net_backend_mac(const struct net_backend *nb, uint8_t mac[6])
{
    (void)nb;
    static const uint8_t m[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    memcpy(mac, m, 6);
}

void net_backend_rx_ready(struct net_backend *nb) { nb->rx_ready = true; }

void net_backend_stats(const struct net_backend *nb, struct net_stats *st) { *st = nb->st; }
const char *net_backend_kind(const struct net_backend *nb) { return nb->kind; }
unsigned net_backend_mtu(const struct net_backend *nb)
{
    return !strcmp(nb->kind, "user") ? NET_USER_MTU : 1500;
}
bool net_backend_send_needs_io_thread(const struct net_backend *nb)
{
    return !strcmp(nb->kind, "switch");
}
const char *net_backend_ifname(const struct net_backend *nb)
{
    (void)nb;
    return NULL;
}

void fuzz_net_queue(const uint8_t *frame, size_t len)
{
    if (!live || live->held == HELD_MAX)
        return;
    uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan sees a read past it */
    if (!copy)
        return;
    memcpy(copy, frame, len);
    live->frame[live->held] = copy;
    live->len[live->held++] = len;
    live->rx_ready = true; /* a new frame is tried at once */
}

void fuzz_net_deliver(void)
{
    struct net_backend *nb = live;
    while (nb && nb->held && nb->rx_ready) {
        if (!nb->rx(nb->ctx, nb->frame[0], nb->len[0])) {
            nb->rx_ready = false; /* held until the device posts buffers */
            break;
        }
        free(nb->frame[0]);
        memmove(nb->frame, nb->frame + 1, --nb->held * sizeof(nb->frame[0]));
        memmove(nb->len, nb->len + 1, nb->held * sizeof(nb->len[0]));
        nb->st.rx_frames++;
    }
}
