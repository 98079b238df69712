/* What the user network lets a guest reach on the host, decided frame by frame. Pure
 * functions over Ethernet frames and a small table: no sockets, no libslirp, so the unit
 * tests reach every rule. net_slirp.c applies them. */
#ifndef CORRAL_BACKEND_NET_POLICY_H
#define CORRAL_BACKEND_NET_POLICY_H

#include "corral/common.h"

/* Addresses libslirp answers for on the guest's network (QEMU's): 10.0.2.0/24 and fec0::/64,
 * all of which libslirp maps to the host's loopback, except the DNS server (10.0.2.3,
 * fec0::3), which it maps to the host's resolver. */
#define NET_POLICY_ANSWERS_MAX 64

/* UDP datagrams libslirp brought to the guest from its own addresses (hostfwd), so that the
 * guest's answers may go back: {alias address, alias port, guest port}. */
struct net_policy_answer {
    uint8_t addr[16]; /* IPv4 in the first 4 bytes */
    uint8_t family;   /* 4 or 6; 0: unused */
    uint16_t alias_port, guest_port;
};

struct net_policy {
    bool host_loopback; /* host=on: the guest may reach the host's loopback */
    unsigned next;      /* the slot the next answer takes: oldest first */
    struct net_policy_answer answers[NET_POLICY_ANSWERS_MAX];
};

enum net_verdict {
    NET_PASS,   /* to libslirp */
    NET_DROP,   /* dropped and counted */
    NET_REFUSE, /* a TCP SYN answered with a RST, as a host with nothing listening would */
};

/* Stateless, for every frame from the guest: NET_DROP for IPv4 or IPv6 to a link-local
 * address (169.254.0.0/16; fe80::/10 except ICMPv6, which carries neighbour discovery), or,
 * unless host_loopback, to the host by a loopback or unspecified address (127.0.0.0/8,
 * 0.0.0.0/8, ::1, ::, and their IPv4-mapped forms). NET_DROP too for every IPv4 fragment:
 * libslirp 4.7 (Debian 12's) crashes reassembling a datagram whose last fragment comes
 * first, and a guest needs none under the user network's 65520-byte MTU (TCP sets DF; a
 * whole UDP datagram fits). Frames too short to carry an address pass: libslirp drops
 * malformed ones. */
enum net_verdict net_policy_check_address(const uint8_t *frame, size_t len,
                                          bool host_loopback);

/* For frames to libslirp's own addresses, unless host_loopback: what libslirp would hand to
 * the host's loopback. DNS on port 53 passes; a new TCP connection (SYN without ACK) is
 * refused; UDP passes only as an answer recorded by net_policy_note_to_guest; fragments
 * are dropped (their ports cannot be seen whole); segments of connections libslirp already
 * has (hostfwd), ICMP and the rest pass. Includes net_policy_check_address. */
enum net_verdict net_policy_check(struct net_policy *p, const uint8_t *frame, size_t len);

/* A frame from libslirp to the guest: a UDP datagram from one of its own addresses is a
 * hostfwd datagram, which the guest may answer. */
void net_policy_note_to_guest(struct net_policy *p, const uint8_t *frame, size_t len);

/* Builds into out (at least 14 + 40 + 20 bytes) the RST+ACK that refuses the TCP SYN in
 * frame; returns its length, or 0 when frame is not a whole TCP SYN. */
size_t net_policy_tcp_rst(const uint8_t *frame, size_t len, uint8_t *out);

#endif
