/* Network backends as a virtio-net device sees them: Ethernet frames in and out, no virtio
 * header. "user" is libslirp (NAT, DHCP, DNS, port forwards); "tap" is a Linux tap device;
 * "switch" joins the VMs that name the same switch on one Ethernet segment.
 * Each backend runs its own thread; the device calls in from its thread. */
#ifndef CORRAL_BACKEND_NET_H
#define CORRAL_BACKEND_NET_H

#include "corral/common.h"

#define NET_FRAME_MAX 65550 /* largest frame accepted or delivered: 64 KiB payload + headers */

struct net_backend;

/* Called from the backend's own thread with one Ethernet frame (no virtio header) for the
 * guest. Returns true if taken; false = the guest has no buffer now. The frame is not lost:
 * "user" queues up to NET_RX_QUEUE_MAX frames (dropping and counting beyond that), "tap" stops
 * reading its fd; both retry after net_backend_rx_ready. The callback may call
 * net_backend_send and net_backend_rx_ready, but not net_backend_close. */
typedef bool (*net_rx_fn)(void *ctx, const uint8_t *frame, size_t len);

#define NET_RX_QUEUE_MAX 256 /* frames "user" holds for a guest without RX buffers */
#define NET_TX_QUEUE_MAX 256 /* frames "user" holds between net_backend_send and its thread */

/* SPEC is the text after --net:
 *   user[,mac=M][,ipv6=on|off][,host=on|off][,hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT]...
 *   tap[,ifname=NAME][,mac=M]
 *   switch,name=NAME,dir=DIR[,mac=M]
 * "user" is QEMU's -netdev user network: 10.0.2.0/24, gateway 10.0.2.2, DNS 10.0.2.3,
 * DHCP from 10.0.2.15; IPv6 fec0::/64 unless ipv6=off. Unlike QEMU, 10.0.2.2 does not lead
 * to the host's loopback (services on 127.0.0.1, other VMs' forwarded ports) unless host=on:
 * a connection to it is reset, a datagram dropped (answers on a UDP hostfwd excepted), and
 * link-local addresses (169.254.0.0/16, fe80::/10) are never reached (net_policy.h has the
 * rules). Dropped frames count as tx_dropped. A hostfwd HOSTADDR defaults to
 * 127.0.0.1 (not QEMU's 0.0.0.0: other machines cannot reach the guest unless asked for),
 * GUESTADDR to 10.0.2.15.
 * "switch" is a virtual Ethernet switch without a switch process: every port (one per VM
 * NIC) is a unix datagram socket in DIR, and each port learns and floods for itself (see
 * net_switch.c). NAME is 1 to 32 of [A-Za-z0-9_.-], not starting with '.'; DIR is absolute,
 * made with mode 0700 if missing (the hosted program passes $CORRAL_HOME/switches/NAME).
 * The guest MAC defaults to 52:54:00:12:34:NN, NN = index + 0x56, except on a switch, where
 * VMs meet each other: there it is 52:54:00 and three random bytes.
 * On error: a one-line message in err ("--net: ..."), a negative errno, *out untouched. */
int net_backend_open(const char *spec, unsigned index, net_rx_fn rx, void *rx_ctx,
                     struct net_backend **out, char *err, size_t errlen);
/* Starts the backend thread (-EBUSY if it runs). Frames sent before this wait in the queue. */
int net_backend_start(struct net_backend *nb);
/* Stops the thread and frees everything. NULL is allowed. */
void net_backend_close(struct net_backend *nb);
/* From the device's thread: one frame from the guest to the network. Returns 0 when taken,
 * -EINVAL for a frame shorter than an Ethernet header or longer than NET_FRAME_MAX, -ENOBUFS
 * when the backend cannot keep up (the frame is dropped and counted, as a wire would),
 * -EACCES for a frame to an address the user network never reaches (dropped and counted
 * too; the rules that depend on its state drop later, on its thread, counted the same). */
int net_backend_send(struct net_backend *nb, const uint8_t *frame, size_t len);
void net_backend_mac(const struct net_backend *nb, uint8_t mac[6]);
/* The guest has posted RX buffers again: wake the backend thread to retry held frames. */
void net_backend_rx_ready(struct net_backend *nb);

struct net_stats {
    uint64_t tx_frames;  /* guest -> network, taken */
    uint64_t tx_dropped; /* guest -> network, dropped (queue full, write error) */
    uint64_t rx_frames;  /* network -> guest, delivered */
    uint64_t rx_dropped; /* network -> guest, dropped (guest queue full) */
};
void net_backend_stats(const struct net_backend *nb, struct net_stats *st);
/* The backend's kind ("user", "tap" or "switch") and, for tap, the interface name the
 * kernel gave. */
const char *net_backend_kind(const struct net_backend *nb);
/* The largest IP packet the backend carries: "user" takes NET_USER_MTU (libslirp segments
 * TCP for the host sockets itself, so a big MTU saves the guest per-packet work); "tap" and
 * "switch" follow the usual Ethernet 1500 (a switch carries frames to other guests, and
 * to a tap or bridge some day, that all agree on it). */
#define NET_USER_MTU 65520
unsigned net_backend_mtu(const struct net_backend *nb);
/* True when net_backend_send may read a directory and reach other sockets (a switch floods
 * to its ports): the device then sends from its own thread, never a hart's, whose system
 * calls the sandbox keeps to a few. */
bool net_backend_send_needs_io_thread(const struct net_backend *nb);
const char *net_backend_ifname(const struct net_backend *nb);

#endif
