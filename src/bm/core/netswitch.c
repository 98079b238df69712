/* Virtual Ethernet switches inside the hypervisor, as the network backend API
 * (backend/net.h) that the guests' virtio-net models use: spec "switch,name=NAME". Every VM
 * NIC naming NAME is a port of that switch, which learns source MACs and floods frames to
 * unknown or group addresses, as a learning bridge.
 *
 * A frame a guest sends is queued on each destination port (net_backend_send runs on the
 * sending hart with the sender's transmit lock held) and delivered into the receiving
 * guest's buffers later, from netswitch_flush() on the sending hart once its trap is
 * handled, or from net_backend_rx_ready() when the receiver posts buffers. So a delivery
 * never runs under the sender's locks: the receive path takes only the port's queue lock,
 * then the receiver model's own receive lock. A full port queue drops the frame and counts
 * it, as a wire would; frames longer than the switch's MTU are dropped and counted too.
 *
 * The machine's own NIC (drivers/virtio_net.c) may be one more port, the uplink, of the
 * switch that /chosen's corral,uplink names: frames the switch sends it go out on the wire
 * (on the sending hart, under the port's lock), and frames from the wire, taken on the
 * NIC's interrupt on the console input hart, are switched as if the uplink had sent them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backend/net.h"
#include "core/console.h"
#include "core/console_in.h"
#include "core/limits.h"
#include "core/netswitch.h"
#include "core/platform.h"
#include "drivers/virtio_net.h"

#define SWITCHES 4
#define PORTS (MAX_VMS * 2)
#define PORT_QUEUE 64
#define FRAME_BUF 1536   /* an Ethernet frame of MTU 1500, with a VLAN tag, rounded up */
#define MACS 64
#define MTU 1500

struct frame { uint16_t len; uint8_t data[FRAME_BUF]; };

struct net_backend {
    unsigned sw, index;
    uint8_t mac[6];
    net_rx_fn rx;
    void *rx_ctx;
    spinlock_t lock;                   /* the queue */
    unsigned head, count;
    struct frame q[PORT_QUEUE];
    uint64_t tx_frames, tx_dropped, rx_frames, rx_dropped;  /* under lock, or the sender's */
};

struct sw {
    char name[33];
    spinlock_t lock;                   /* the MAC table */
    struct { uint8_t mac[6]; struct net_backend *port; } macs[MACS];
    unsigned nmacs, next_evict;
};

static struct sw switches[SWITCHES];
static unsigned num_switches;
static struct net_backend ports[PORTS];
static unsigned num_ports;
static volatile int pending;           /* some port has queued frames */

static bool name_ok(const char *s, size_t n)
{
    if (!n || n > 32 || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

int net_backend_open(const char *spec, unsigned index, net_rx_fn rx, void *rx_ctx,
                     struct net_backend **out, char *err, size_t errlen)
{
    (void)index;
    const char *pre = "switch,name=";
    size_t pl = strlen(pre);
    if (strncmp(spec, pre, pl) || !name_ok(spec + pl, strlen(spec + pl))) {
        snprintf(err, errlen, "corral,net must name a switch: 1 to 32 of A-Za-z0-9_.-");
        return -EINVAL;
    }
    const char *name = spec + pl;
    unsigned s = 0;
    while (s < num_switches && strcmp(switches[s].name, name))
        s++;
    if (s == num_switches) {
        if (num_switches == SWITCHES) {
            snprintf(err, errlen, "more than %d switches", SWITCHES);
            return -ENOSPC;
        }
        memcpy(switches[s].name, name, strlen(name) + 1);
        num_switches++;
    }
    if (num_ports == PORTS) {
        snprintf(err, errlen, "more than %d switch ports", PORTS);
        return -ENOSPC;
    }
    struct net_backend *p = &ports[num_ports];
    *p = (struct net_backend){ .sw = s, .index = num_ports, .rx = rx, .rx_ctx = rx_ctx };
    /* locally administered, unique per port: 52:54:00 as QEMU's, then c0 and the port */
    const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xc0, (uint8_t)s, (uint8_t)num_ports };
    memcpy(p->mac, mac, 6);
    num_ports++;
    *out = p;
    return 0;
}

int net_backend_start(struct net_backend *nb) { (void)nb; return 0; }
void net_backend_close(struct net_backend *nb) { (void)nb; }
void net_backend_mac(const struct net_backend *nb, uint8_t mac[6]) { memcpy(mac, nb->mac, 6); }
const char *net_backend_kind(const struct net_backend *nb) { (void)nb; return "switch"; }
unsigned net_backend_mtu(const struct net_backend *nb) { (void)nb; return MTU; }
bool net_backend_send_needs_io_thread(const struct net_backend *nb) { (void)nb; return false; }
const char *net_backend_ifname(const struct net_backend *nb) { (void)nb; return ""; }

void net_backend_stats(const struct net_backend *nb, struct net_stats *st)
{
    st->tx_frames = nb->tx_frames;
    st->tx_dropped = nb->tx_dropped;
    st->rx_frames = nb->rx_frames;
    st->rx_dropped = nb->rx_dropped;
}

static void learn(struct sw *w, const uint8_t *mac, struct net_backend *port)
{
    if (mac[0] & 1)
        return; /* a group address is never a source */
    spin_lock(&w->lock);
    unsigned i = 0;
    while (i < w->nmacs && memcmp(w->macs[i].mac, mac, 6))
        i++;
    if (i == w->nmacs) {
        if (w->nmacs < MACS)
            w->nmacs++;
        else
            i = w->next_evict++ % MACS;
        memcpy(w->macs[i].mac, mac, 6);
    }
    w->macs[i].port = port;
    spin_unlock(&w->lock);
}

static struct net_backend *lookup(struct sw *w, const uint8_t *mac)
{
    struct net_backend *p = NULL;
    spin_lock(&w->lock);
    for (unsigned i = 0; i < w->nmacs && !p; i++)
        if (!memcmp(w->macs[i].mac, mac, 6))
            p = w->macs[i].port;
    spin_unlock(&w->lock);
    return p;
}

static void enqueue(struct net_backend *to, const uint8_t *frame, size_t len)
{
    spin_lock(&to->lock);
    if (to->count == PORT_QUEUE) {
        to->rx_dropped++;
    } else {
        struct frame *f = &to->q[(to->head + to->count) % PORT_QUEUE];
        f->len = (uint16_t)len;
        memcpy(f->data, frame, len);
        to->count++;
        __atomic_store_n(&pending, 1, __ATOMIC_RELEASE);
    }
    spin_unlock(&to->lock);
}

int net_backend_send(struct net_backend *nb, const uint8_t *frame, size_t len)
{
    if (len < 14 || len > NET_FRAME_MAX)
        return -EINVAL;
    if (len > FRAME_BUF) {
        nb->tx_dropped++;
        return -ENOBUFS;
    }
    struct sw *w = &switches[nb->sw];
    learn(w, frame + 6, nb);
    nb->tx_frames++;
    struct net_backend *to = frame[0] & 1 ? NULL : lookup(w, frame);
    if (to) {
        if (to != nb)
            enqueue(to, frame, len);
        return 0;
    }
    for (unsigned i = 0; i < num_ports; i++)
        if (ports[i].sw == nb->sw && &ports[i] != nb)
            enqueue(&ports[i], frame, len);
    return 0;
}

/* Into the guest's buffers, while it has some. */
static void deliver(struct net_backend *p)
{
    spin_lock(&p->lock);
    while (p->count) {
        struct frame *f = &p->q[p->head];
        if (!p->rx(p->rx_ctx, f->data, f->len))
            break; /* no buffer: the rest wait for net_backend_rx_ready */
        p->rx_frames++;
        p->head = (p->head + 1) % PORT_QUEUE;
        p->count--;
    }
    spin_unlock(&p->lock);
}

void net_backend_rx_ready(struct net_backend *nb)
{
    deliver(nb);
}

void netswitch_flush(void)
{
    /* after every device trap: a plain load first, so that harts do not contend for the
     * line when nothing waits */
    if (!__atomic_load_n(&pending, __ATOMIC_RELAXED) ||
        !__atomic_exchange_n(&pending, 0, __ATOMIC_ACQ_REL))
        return;
    for (unsigned i = 0; i < num_ports; i++)
        if (__atomic_load_n(&ports[i].count, __ATOMIC_ACQUIRE))
            deliver(&ports[i]);
}

/* ---- the uplink ---- */

static struct vnet nic;
static struct net_backend *uplink;

/* The switch's frames for the uplink: out on the wire (a frame the wire refuses is dropped,
 * as on a cable). */
static bool to_wire(void *ctx, const uint8_t *frame, size_t len)
{
    (void)ctx;
    if (vnet_send(&nic, frame, len))
        uplink->tx_dropped++;
    return true;
}

static void from_wire(void *ctx, const uint8_t *frame, size_t len)
{
    net_backend_send(ctx, frame, len); /* as if the uplink port had sent it */
}

static void nic_interrupt(void)
{
    vnet_poll(&nic, from_wire, uplink);
    netswitch_flush();
}

void netswitch_uplink_init(void)
{
    int chosen = dt_path(&platform.dt, "/chosen");
    const char *name = chosen >= 0 ? dt_prop_str(&platform.dt, chosen, "corral,uplink") : NULL;
    if (!name)
        return;
    int found = -ENODEV;
    uintptr_t base = 0;
    for (unsigned i = 0; i < platform.num_virtio && found; i++) {
        base = platform.virtio[i].base;
        found = vnet_probe(&nic, base, platform.virtio[i].irq);
    }
    if (found) {
        kprintf("corral-bm: uplink: no usable virtio-net device; switch %s stays inside\n", name);
        return;
    }
    char spec[48], err[96];
    snprintf(spec, sizeof(spec), "switch,name=%s", name);
    struct net_backend *p;
    if (net_backend_open(spec, 0, to_wire, NULL, &p, err, sizeof(err))) {
        kprintf("corral-bm: uplink: %s\n", err);
        return;
    }
    uplink = p;
    if (!console_input_add_source(nic.irq, nic_interrupt)) {
        kprintf("corral-bm: uplink: no PLIC route for the NIC's interrupt\n");
        return;
    }
    kprintf("corral-bm: uplink: switch %s on virtio-net at 0x%lx, irq %u, mac "
            "%02x:%02x:%02x:%02x:%02x:%02x\n", name, base, nic.irq, nic.mac[0], nic.mac[1],
            nic.mac[2], nic.mac[3], nic.mac[4], nic.mac[5]);
}
