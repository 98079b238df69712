/* The user network's rules for what a guest may reach on the host (see net_policy.h). Every
 * header is read only after its length is checked against the frame. */
#include <string.h>

#include "backend/net_policy.h"

#define ETH_IP4 0x0800
#define ETH_IP6 0x86dd
#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_ICMP6 58
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

/* The IP header of a frame, as far as the policy needs it. */
struct ip_view {
    int family;               /* 4 or 6; 0: not IP, or too short for the addresses */
    const uint8_t *src, *dst; /* 4 or 16 bytes */
    uint8_t proto;            /* IPv6: the first next header; libslirp follows no others */
    bool fragment;
    const uint8_t *l4;        /* the transport header; NULL for fragments */
    size_t l4_len;            /* bytes from l4 to the end of the frame */
};

static bool ip_view(const uint8_t *f, size_t len, struct ip_view *v)
{
    memset(v, 0, sizeof(*v));
    if (len < 14)
        return false;
    const uint8_t *ip = f + 14;
    uint16_t type = get16(f + 12);
    if (type == ETH_IP4 && len >= 14 + 20) {
        size_t ihl = (size_t)(ip[0] & 15) * 4;
        v->family = 4;
        v->src = ip + 12;
        v->dst = ip + 16;
        v->proto = ip[9];
        v->fragment = (get16(ip + 6) & 0x3fff) != 0; /* more fragments, or an offset */
        if (!v->fragment && ihl >= 20 && 14 + ihl <= len) {
            v->l4 = ip + ihl;
            v->l4_len = len - 14 - ihl;
        }
        return true;
    }
    if (type == ETH_IP6 && len >= 14 + 40) {
        v->family = 6;
        v->src = ip + 8;
        v->dst = ip + 24;
        v->proto = ip[6];
        v->fragment = v->proto == 44;
        if (!v->fragment) {
            v->l4 = ip + 40;
            v->l4_len = len - 14 - 40;
        }
        return true;
    }
    return false;
}

/* ---- addresses that are never reached, or only with host=on */

static bool ip4_blocked(const uint8_t *a, bool host_loopback)
{
    if (a[0] == 169 && a[1] == 254)
        return true; /* link-local: cloud metadata services, other hosts' autoconf */
    return !host_loopback && (a[0] == 127 || a[0] == 0); /* connect() to 0.0.0.0 is local */
}

static bool ip6_blocked(const uint8_t *a, uint8_t proto, bool host_loopback)
{
    static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
    static const uint8_t zero[15] = { 0 };
    if (!memcmp(a, mapped, 12))
        return ip4_blocked(a + 12, host_loopback);
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
        return proto != PROTO_ICMP6; /* neighbour discovery with libslirp's fe80:: address */
    return !host_loopback && !memcmp(a, zero, 15) && a[15] <= 1; /* :: and ::1 */
}

enum net_verdict net_policy_check_address(const uint8_t *frame, size_t len,
                                          bool host_loopback)
{
    struct ip_view v;
    if (!ip_view(frame, len, &v))
        return NET_PASS; /* libslirp takes no VLAN tags: a tagged frame goes nowhere */
    if (v.family == 4 && v.fragment)
        return NET_DROP; /* libslirp 4.7 crashes reassembling some orders of fragments */
    bool blocked = v.family == 4 ? ip4_blocked(v.dst, host_loopback)
                                 : ip6_blocked(v.dst, v.proto, host_loopback);
    return blocked ? NET_DROP : NET_PASS;
}

/* ---- libslirp's own addresses, which it maps to the host's loopback */

static bool is_alias(const struct ip_view *v, const uint8_t *a)
{
    static const uint8_t net4[3] = { 10, 0, 2 }, net6[8] = { 0xfe, 0xc0 };
    return v->family == 4 ? !memcmp(a, net4, 3) : !memcmp(a, net6, 8);
}

static bool is_alias_dns(const struct ip_view *v)
{
    static const uint8_t dns6_host[8] = { [7] = 3 };
    return v->family == 4 ? v->dst[3] == 3 : !memcmp(v->dst + 8, dns6_host, 8);
}

static size_t addr_len(const struct ip_view *v) { return v->family == 4 ? 4 : 16; }

static bool answer_known(const struct net_policy *p, const struct ip_view *v)
{
    uint16_t sport = get16(v->l4), dport = get16(v->l4 + 2);
    for (unsigned i = 0; i < NET_POLICY_ANSWERS_MAX; i++) {
        const struct net_policy_answer *a = &p->answers[i];
        if (a->family == v->family && a->alias_port == dport && a->guest_port == sport &&
            !memcmp(a->addr, v->dst, addr_len(v)))
            return true;
    }
    return false;
}

enum net_verdict net_policy_check(struct net_policy *p, const uint8_t *frame, size_t len)
{
    enum net_verdict verdict = net_policy_check_address(frame, len, p->host_loopback);
    struct ip_view v;
    if (verdict != NET_PASS || p->host_loopback || !ip_view(frame, len, &v) ||
        !is_alias(&v, v.dst))
        return verdict;
    if (v.fragment)
        return NET_DROP; /* a tiny first fragment could hide a SYN's flags in the second */
    if (v.proto == PROTO_TCP && v.l4 && v.l4_len >= 20) {
        uint8_t flags = v.l4[13];
        if (!(flags & TCP_SYN) || (flags & TCP_ACK))
            return NET_PASS; /* libslirp resets what belongs to no connection it has */
        return is_alias_dns(&v) && get16(v.l4 + 2) == 53 ? NET_PASS : NET_REFUSE;
    }
    if (v.proto == PROTO_UDP && v.l4 && v.l4_len >= 8) {
        uint16_t dport = get16(v.l4 + 2);
        if ((is_alias_dns(&v) && dport == 53) || (v.family == 4 && v.dst[3] == 2 && dport == 67))
            return NET_PASS; /* DNS, and DHCP renewals to the server at 10.0.2.2 */
        return answer_known(p, &v) ? NET_PASS : NET_DROP;
    }
    return NET_PASS; /* ICMP is answered by libslirp; runts it drops itself */
}

void net_policy_note_to_guest(struct net_policy *p, const uint8_t *frame, size_t len)
{
    struct ip_view v;
    if (p->host_loopback || !ip_view(frame, len, &v) || v.proto != PROTO_UDP || !v.l4 ||
        v.l4_len < 8 || !is_alias(&v, v.src) || is_alias_dns(&v))
        return;
    struct net_policy_answer a = { .family = (uint8_t)v.family, .alias_port = get16(v.l4),
                                   .guest_port = get16(v.l4 + 2) };
    memcpy(a.addr, v.src, addr_len(&v));
    for (unsigned i = 0; i < NET_POLICY_ANSWERS_MAX; i++)
        if (!memcmp(&p->answers[i], &a, sizeof(a)))
            return;
    p->answers[p->next] = a;
    p->next = (p->next + 1) % NET_POLICY_ANSWERS_MAX;
}

/* ---- refusing a connection the way a host with nothing listening would */

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t sum)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += get16(p + i);
    if (n & 1)
        sum += (uint32_t)p[n - 1] << 8;
    return sum;
}

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

size_t net_policy_tcp_rst(const uint8_t *frame, size_t len, uint8_t *out)
{
    struct ip_view v;
    if (!ip_view(frame, len, &v) || v.proto != PROTO_TCP || !v.l4 || v.l4_len < 20 ||
        !(v.l4[13] & TCP_SYN))
        return 0;
    size_t alen = addr_len(&v), iplen = v.family == 4 ? 20 : 40;
    memcpy(out, frame + 6, 6); /* back to the guest, from whom it was sent to */
    memcpy(out + 6, frame, 6);
    memcpy(out + 12, frame + 12, 2);
    uint8_t *ip = out + 14, *t = ip + iplen;
    memset(ip, 0, iplen + 20);
    if (v.family == 4) {
        ip[0] = 0x45;
        put16(ip + 2, 40);
        ip[8] = 64;
        ip[9] = PROTO_TCP;
        memcpy(ip + 12, v.dst, 4);
        memcpy(ip + 16, v.src, 4);
        put16(ip + 10, fold(sum16(ip, 20, 0)));
    } else {
        ip[0] = 0x60;
        put16(ip + 4, 20);
        ip[6] = PROTO_TCP;
        ip[7] = 64;
        memcpy(ip + 8, v.dst, 16);
        memcpy(ip + 24, v.src, 16);
    }
    memcpy(t, v.l4 + 2, 2);     /* ports swapped */
    memcpy(t + 2, v.l4, 2);
    uint32_t seq = (uint32_t)get16(v.l4 + 4) << 16 | get16(v.l4 + 6);
    seq += 1 + ((v.l4[13] & TCP_FIN) ? 1 : 0); /* RFC 793 3.4: ack what the SYN took */
    put16(t + 8, (uint16_t)(seq >> 16));
    put16(t + 10, (uint16_t)seq);
    t[12] = 5 << 4;
    t[13] = TCP_RST | TCP_ACK;
    /* the pseudo-header: both addresses, then IPv4 {0, proto, length} or IPv6 {length32,
     * 0, 0, 0, next header}; either sums to the same as proto + length */
    uint32_t sum = sum16(ip + (v.family == 4 ? 12 : 8), 2 * alen, PROTO_TCP + 20);
    put16(t + 16, fold(sum16(t, 20, sum)));
    return 14 + iplen + 20;
}
