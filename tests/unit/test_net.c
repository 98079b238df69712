/* Unit tests for the network backends: --net spec parsing, the frame queue, libslirp user
 * networking driven with hand-built frames (DHCP, ARP, TCP both ways, the guest kept off the
 * host's loopback), and a tap interface in a private network namespace. No device model, no
 * guest. The switch has its own file, test_net_switch.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend/net.h"
#include "backend/net_policy.h"
#include "backend/net_util.h"

#define GUEST_MAC { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }
#define SLIRP_MAC { 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02 } /* libslirp's gateway: 52:55 + IP */
#define BCAST_MAC { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }
#define ETH_IP 0x0800
#define ETH_ARP 0x0806
#define WAIT_MS 5000

static const uint8_t guest_mac[6] = GUEST_MAC;

/* ---- frames built and read by hand */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

static uint32_t ip_of(const char *s)
{
    struct in_addr a;
    assert_int_equal(inet_pton(AF_INET, s, &a), 1);
    return ntohl(a.s_addr);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

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

static size_t put_eth(uint8_t *f, const uint8_t dst[6], const uint8_t src[6], uint16_t type)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    put16(f + 12, type);
    return 14;
}

/* An IPv4 header (20 bytes) at ip for a payload of len bytes. */
static void put_ip(uint8_t *ip, uint8_t proto, uint32_t src, uint32_t dst, size_t len)
{
    memset(ip, 0, 20);
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + len));
    put16(ip + 4, 0x1234);
    ip[8] = 64;
    ip[9] = proto;
    put32(ip + 12, src);
    put32(ip + 16, dst);
    put16(ip + 10, fold(sum16(ip, 20, 0)));
}

static size_t arp_frame(uint8_t *f, uint16_t op, const uint8_t sha[6], uint32_t spa,
                        const uint8_t tha[6], uint32_t tpa, const uint8_t eth_dst[6])
{
    memset(f, 0, 60);
    size_t o = put_eth(f, eth_dst, sha, ETH_ARP);
    put16(f + o, 1);
    put16(f + o + 2, ETH_IP);
    f[o + 4] = 6;
    f[o + 5] = 4;
    put16(f + o + 6, op);
    memcpy(f + o + 8, sha, 6);
    put32(f + o + 14, spa);
    memcpy(f + o + 18, tha, 6);
    put32(f + o + 24, tpa);
    return 60; /* padded to Ethernet's minimum */
}

#define BOOTP_LEN 548 /* 236 fixed + 312 options, RFC 2131's minimum message */

static size_t dhcp_discover_frame(uint8_t *f, uint32_t xid)
{
    static const uint8_t bcast[6] = BCAST_MAC;
    memset(f, 0, 14 + 20 + 8 + BOOTP_LEN);
    put_eth(f, bcast, guest_mac, ETH_IP);
    uint8_t *udp = f + 34, *bp = udp + 8;
    put16(udp, 68);
    put16(udp + 2, 67);
    put16(udp + 4, 8 + BOOTP_LEN); /* checksum 0: none */
    bp[0] = 1;                     /* BOOTREQUEST */
    bp[1] = 1;                     /* Ethernet */
    bp[2] = 6;
    put32(bp + 4, xid);
    put16(bp + 10, 0x8000);        /* broadcast reply */
    memcpy(bp + 28, guest_mac, 6);
    put32(bp + 236, 0x63825363);   /* magic cookie */
    uint8_t *opt = bp + 240;
    *opt++ = 53, *opt++ = 1, *opt++ = 1; /* DHCPDISCOVER */
    *opt++ = 55, *opt++ = 3, *opt++ = 1, *opt++ = 3, *opt++ = 6; /* ask: mask, router, DNS */
    *opt = 255;
    put_ip(f + 14, 17, 0, 0xffffffff, 8 + BOOTP_LEN);
    return 14 + 20 + 8 + BOOTP_LEN;
}

/* A TCP segment with no payload; flags 0x02 SYN, 0x12 SYN+ACK. SYNs carry an MSS option. */
static size_t tcp_frame(uint8_t *f, const uint8_t eth_dst[6], uint32_t src, uint16_t sport,
                        uint32_t dst, uint16_t dport, uint32_t seq, uint8_t flags)
{
    size_t tlen = 24;
    memset(f, 0, 14 + 20 + tlen);
    put_eth(f, eth_dst, guest_mac, ETH_IP);
    put_ip(f + 14, 6, src, dst, tlen);
    uint8_t *t = f + 34;
    put16(t, sport);
    put16(t + 2, dport);
    put32(t + 4, seq);
    t[12] = (uint8_t)((tlen / 4) << 4);
    t[13] = flags;
    put16(t + 14, 65535);
    t[20] = 2, t[21] = 4;
    put16(t + 22, 1460);
    uint8_t pseudo[12];
    put32(pseudo, src);
    put32(pseudo + 4, dst);
    pseudo[8] = 0, pseudo[9] = 6;
    put16(pseudo + 10, (uint16_t)tlen);
    put16(t + 16, fold(sum16(t, tlen, sum16(pseudo, 12, 0))));
    return 14 + 20 + tlen;
}

/* The IPv4 payload of a frame with protocol proto, or NULL. */
static const uint8_t *ip_payload(const uint8_t *f, size_t len, uint8_t proto, const uint8_t **ip)
{
    if (len < 34 || get16(f + 12) != ETH_IP || (f[14] >> 4) != 4 || f[23] != proto)
        return NULL;
    size_t ihl = (size_t)(f[14] & 15) * 4;
    if (len < 14 + ihl + 8)
        return NULL;
    *ip = f + 14;
    return f + 14 + ihl;
}

static bool is_arp(const uint8_t *f, size_t len, uint16_t op, uint32_t spa, uint32_t tpa)
{
    return len >= 42 && get16(f + 12) == ETH_ARP && get16(f + 20) == op &&
           get32(f + 28) == spa && get32(f + 38) == tpa;
}

/* ---- a capturing rx callback that also plays the guest's ARP side */

#define CAP_MAX 512

struct capture {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct net_backend *nb;
    uint32_t guest_ip;   /* answer ARP requests for it, as a guest would; 0: don't */
    bool refuse;         /* pretend the guest has no RX buffers */
    unsigned refused, n;
    uint8_t *frames[CAP_MAX];
    size_t lens[CAP_MAX];
};

static bool capture_rx(void *ctx, const uint8_t *frame, size_t len)
{
    struct capture *c = ctx;
    pthread_mutex_lock(&c->lock);
    if (c->refuse) {
        c->refused++;
        pthread_mutex_unlock(&c->lock);
        return false;
    }
    if (c->n < CAP_MAX) {
        c->frames[c->n] = malloc(len);
        memcpy(c->frames[c->n], frame, len);
        c->lens[c->n++] = len;
    }
    pthread_cond_broadcast(&c->cond);
    bool answer = c->guest_ip && len >= 42 && get16(frame + 12) == ETH_ARP &&
                  get16(frame + 20) == 1 && get32(frame + 38) == c->guest_ip;
    pthread_mutex_unlock(&c->lock);
    if (answer) {
        uint8_t reply[60];
        arp_frame(reply, 2, guest_mac, c->guest_ip, frame + 22, get32(frame + 28), frame + 6);
        net_backend_send(c->nb, reply, sizeof(reply));
    }
    return true;
}

typedef bool (*frame_match_fn)(const uint8_t *f, size_t len, const void *arg);

/* Waits until a captured frame (from index *from on) matches; returns its index or -1. */
static int capture_wait(struct capture *c, frame_match_fn match, const void *arg, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int found = -1;
    unsigned seen = 0;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        for (; seen < c->n && found < 0; seen++)
            if (match(c->frames[seen], c->lens[seen], arg))
                found = (int)seen;
        if (found >= 0 || pthread_cond_timedwait(&c->cond, &c->lock, &until))
            break;
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

/* The backend counts a delivered frame after the callback returns: give it a moment. */
static struct net_stats stats_after_rx(struct net_backend *nb, uint64_t rx_frames)
{
    struct net_stats st;
    for (int i = 0; i < 1000; i++) {
        net_backend_stats(nb, &st);
        if (st.rx_frames >= rx_frames)
            break;
        usleep(1000);
    }
    return st;
}

static struct capture *capture_new(void)
{
    struct capture *c = calloc(1, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    return c;
}

/* Forgets the frames captured so far (waiting for all queued replies first). */
static void capture_clear(struct capture *c)
{
    usleep(200000);
    pthread_mutex_lock(&c->lock);
    for (unsigned i = 0; i < c->n; i++)
        free(c->frames[i]);
    c->n = 0;
    pthread_mutex_unlock(&c->lock);
}

static void capture_free(struct capture *c)
{
    for (unsigned i = 0; i < c->n; i++)
        free(c->frames[i]);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c);
}

/* Opens and starts SPEC with a fresh capture that answers ARP for 10.0.2.15. */
static struct capture *open_user(const char *spec)
{
    struct capture *c = capture_new();
    char err[256] = "";
    int r = net_backend_open(spec, 0, capture_rx, c, &c->nb, err, sizeof(err));
    if (r)
        fail_msg("net_backend_open(%s): %d %s", spec, r, err);
    c->guest_ip = ip_of("10.0.2.15");
    assert_int_equal(net_backend_start(c->nb), 0);
    return c;
}

static void close_user(struct capture *c)
{
    net_backend_close(c->nb);
    capture_free(c);
}

/* ---- parsing */

static void expect_open_error(const char *spec, const char *msg)
{
    char err[256] = "";
    struct net_backend *nb = (struct net_backend *)0x1;
    int r = net_backend_open(spec, 0, capture_rx, NULL, &nb, err, sizeof(err));
    if (r >= 0)
        fail_msg("spec '%s' was accepted", spec);
    assert_ptr_equal(nb, (struct net_backend *)0x1);
    assert_string_equal(err, msg);
}

static void test_bad_specs_give_one_line_errors(void **state)
{
    expect_open_error("foo", "--net: unknown backend 'foo' (expected user, tap or switch)");
    expect_open_error("", "--net: empty spec (expected user, tap or switch)");
    expect_open_error(",mac=52:54:00:12:34:56", "--net: unknown backend '' (expected user, tap or switch)");
    expect_open_error("user,foo=1", "--net: unknown option 'foo'");
    expect_open_error("user,mac", "--net: option 'mac' needs a value (mac=...)");
    expect_open_error("user,,ipv6=on", "--net: empty option in 'user,,ipv6=on'");
    expect_open_error("user,ipv6=maybe", "--net: bad ipv6 'maybe': on or off");
    expect_open_error("user,host=yes", "--net: bad host 'yes': on or off");
    expect_open_error("tap,host=on", "--net: option 'host' is not valid for tap");
    expect_open_error("user,ifname=tap0", "--net: option 'ifname' is not valid for user");
    expect_open_error("tap,hostfwd=tcp::2222-:22", "--net: option 'hostfwd' is not valid for tap");
    expect_open_error("tap,ifname=averyveryverylongname",
                      "--net: bad ifname 'averyveryverylongname': 1 to 15 characters, "
                      "no '/', ':' or spaces");
    expect_open_error("user,mac=52:54:00:12:34:56,mac=52:54:00:12:34:57",
                      "--net: option 'mac' given twice");
    expect_open_error("user,mac=52:54:00:12:34",
                      "--net: bad mac '52:54:00:12:34': expected six hex bytes like "
                      "52:54:00:12:34:56");
    expect_open_error("user,mac=01:00:5e:00:00:01", "--net: bad mac '01:00:5e:00:00:01': a "
                      "multicast address");
    expect_open_error("user,hostfwd=tcp:abc-:22",
                      "--net: bad hostfwd 'tcp:abc-:22': port 'abc' is not a number");
}

static void test_bad_hostfwd_forms(void **state)
{
    static const struct { const char *fwd, *msg; } cases[] = {
        { "tcp::2222", "expected [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT" },
        { "tcp::1-:2-:3", "expected [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT" },
        { "sctp::2222-:22", "unknown protocol 'sctp' (tcp or udp)" },
        { "tcp:1.2.3:2222-:22", "'1.2.3' is not an IPv4 address" },
        { "tcp:localhost:2222-:22", "'localhost' is not an IPv4 address" },
        { "tcp::2222-10.0.2.300:22", "'10.0.2.300' is not an IPv4 address" },
        { "tcp::70000-:22", "port '70000' is out of range (1-65535)" },
        { "tcp::0-:22", "port '0' is out of range (1-65535)" },
        { "tcp::2222-:", "missing port" },
        { "tcp::-:22", "missing port" },
        { "udp::53x-:53", "port '53x' is not a number" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char spec[128], want[256], err[256] = "";
        struct net_hostfwd fw;
        snprintf(spec, sizeof(spec), "user,hostfwd=%s", cases[i].fwd);
        snprintf(want, sizeof(want), "--net: bad hostfwd '%s': %s", cases[i].fwd, cases[i].msg);
        expect_open_error(spec, want);
        assert_int_equal(net_parse_hostfwd(cases[i].fwd, &fw, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, want);
    }
}

static void expect_fwd(const char *s, bool udp, const char *ha, unsigned hp, const char *ga,
                       unsigned gp)
{
    struct net_hostfwd fw;
    char err[256] = "";
    if (net_parse_hostfwd(s, &fw, err, sizeof(err)))
        fail_msg("'%s' rejected: %s", s, err);
    assert_int_equal(fw.udp, udp);
    assert_int_equal(ntohl(fw.host_addr.s_addr), ip_of(ha));
    assert_int_equal(fw.host_port, hp);
    assert_int_equal(ntohl(fw.guest_addr.s_addr), ip_of(ga));
    assert_int_equal(fw.guest_port, gp);
}

static void test_hostfwd_forms_and_defaults(void **state)
{
    expect_fwd("tcp:127.0.0.1:2222-:22", false, "127.0.0.1", 2222, "10.0.2.15", 22);
    expect_fwd("tcp::2222-:22", false, "127.0.0.1", 2222, "10.0.2.15", 22);
    expect_fwd("udp::5353-:53", true, "127.0.0.1", 5353, "10.0.2.15", 53);
    expect_fwd("::8080-:80", false, "127.0.0.1", 8080, "10.0.2.15", 80);
    expect_fwd("tcp:0.0.0.0:2222-10.0.2.16:2022", false, "0.0.0.0", 2222, "10.0.2.16", 2022);
    expect_fwd("udp:9999-53", true, "127.0.0.1", 9999, "10.0.2.15", 53);
    expect_fwd("192.168.1.5:65535-:1", false, "192.168.1.5", 65535, "10.0.2.15", 1);
}

static void test_mac_parsing(void **state)
{
    uint8_t mac[6];
    char err[128];
    assert_int_equal(net_parse_mac("52:54:00:AB:cd:Ef", mac, err, sizeof(err)), 0);
    assert_memory_equal(mac, ((uint8_t[]){ 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef }), 6);
    assert_int_equal(net_parse_mac("02-00-00-00-00-01", mac, err, sizeof(err)), 0);
    assert_int_equal(mac[5], 1);
    static const char *const bad[] = {
        "", "52:54:00:12:34:5", "52:54:00:12:34:567", "52:54:00:12:34:56:", "52:54:00:12:34-5g",
        "5:54:00:12:34:56", "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_int_equal(net_parse_mac(bad[i], mac, err, sizeof(err)), -EINVAL);
    /* a tiny or absent error buffer is fine */
    assert_int_equal(net_parse_mac("x", mac, err, 3), -EINVAL);
    assert_string_equal(err, "--");
    assert_int_equal(net_parse_mac("x", mac, NULL, 0), -EINVAL);
}

static void test_default_mac_follows_index_and_mac_option_overrides(void **state)
{
    struct net_backend *nb;
    uint8_t mac[6];
    char err[256];
    assert_int_equal(net_backend_open("user", 0, capture_rx, NULL, &nb, err, sizeof(err)), 0);
    net_backend_mac(nb, mac);
    assert_memory_equal(mac, guest_mac, 6);
    assert_string_equal(net_backend_kind(nb), "user");
    net_backend_close(nb);
    assert_int_equal(net_backend_open("user,ipv6=off", 2, capture_rx, NULL, &nb, err,
                                      sizeof(err)), 0);
    net_backend_mac(nb, mac);
    assert_memory_equal(mac, ((uint8_t[]){ 0x52, 0x54, 0x00, 0x12, 0x34, 0x58 }), 6);
    net_backend_close(nb);
    assert_int_equal(net_backend_open("user,mac=02:11:22:33:44:55", 3, capture_rx, NULL, &nb,
                                      err, sizeof(err)), 0);
    net_backend_mac(nb, mac);
    assert_memory_equal(mac, ((uint8_t[]){ 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 }), 6);
    net_backend_close(nb); /* never started: close must still free everything */
    net_backend_close(NULL);
}

static void test_too_many_hostfwd_is_an_error(void **state)
{
    char spec[4096] = "user", err[256] = "";
    for (int i = 0; i <= NET_HOSTFWD_MAX; i++)
        snprintf(spec + strlen(spec), sizeof(spec) - strlen(spec), ",hostfwd=tcp::%d-:22",
                 20000 + i);
    struct net_opts *o = malloc(sizeof(*o));
    assert_int_equal(net_parse_spec(spec, o, err, sizeof(err)), -E2BIG);
    assert_string_equal(err, "--net: too many hostfwd options (at most 32)");
    free(o);
}

static void test_frame_queue_is_bounded_fifo(void **state)
{
    struct net_queue q;
    assert_int_equal(net_queue_init(&q, 2), 0);
    assert_null(net_queue_peek(&q));
    assert_int_equal(net_queue_push(&q, (const uint8_t *)"one", 3), 0);
    assert_int_equal(net_queue_push(&q, (const uint8_t *)"two!", 4), 0);
    assert_int_equal(net_queue_push(&q, (const uint8_t *)"three", 5), -ENOBUFS);
    assert_int_equal(net_queue_peek(&q)->len, 3);
    net_queue_drop(&q);
    assert_int_equal(net_queue_push(&q, (const uint8_t *)"three", 5), 0); /* wraps */
    struct net_frame f;
    assert_true(net_queue_pop(&q, &f));
    assert_memory_equal(f.data, "two!", 4);
    free(f.data);
    assert_int_equal(net_queue_peek(&q)->len, 5);
    net_queue_free(&q); /* frees what is left */
}

/* ---- user networking */

static bool match_dhcp_offer(const uint8_t *f, size_t len, const void *arg)
{
    const uint8_t *ip, *udp = ip_payload(f, len, 17, &ip);
    if (!udp || get16(udp) != 67 || get16(udp + 2) != 68 || udp + 8 + 240 > f + len)
        return false;
    const uint8_t *bp = udp + 8;
    return bp[0] == 2 && get32(bp + 4) == *(const uint32_t *)arg;
}

/* The value of DHCP option code in the BOOTP message at bp (len bytes), or NULL. */
static const uint8_t *dhcp_option(const uint8_t *bp, size_t len, uint8_t code, uint8_t *olen)
{
    for (size_t i = 240; i < len && bp[i] != 255;) {
        if (bp[i] == 0) {
            i++;
            continue;
        }
        if (i + 2 > len || i + 2 + bp[i + 1] > len)
            return NULL;
        if (bp[i] == code) {
            *olen = bp[i + 1];
            return bp + i + 2;
        }
        i += 2 + (size_t)bp[i + 1];
    }
    return NULL;
}

static void test_user_dhcp_discover_gets_qemu_style_offer(void **state)
{
    struct capture *c = open_user("user");
    uint8_t f[700];
    uint32_t xid = 0x5eed1234;
    size_t len = dhcp_discover_frame(f, xid);
    assert_int_equal(net_backend_send(c->nb, f, len), 0);

    int i = capture_wait(c, match_dhcp_offer, &xid, WAIT_MS);
    assert_true(i >= 0);
    const uint8_t *ip = NULL, *udp = ip_payload(c->frames[i], c->lens[i], 17, &ip);
    assert_non_null(udp);
    const uint8_t *bp = udp + 8;
    size_t bplen = c->lens[i] - (size_t)(bp - c->frames[i]);
    assert_int_equal(get32(bp + 16), ip_of("10.0.2.15"));  /* yiaddr */
    assert_int_equal(get32(bp + 236), 0x63825363);
    uint8_t olen = 0;
    const uint8_t *v = dhcp_option(bp, bplen, 53, &olen);
    assert_non_null(v);
    assert_int_equal(v[0], 2);                             /* DHCPOFFER */
    v = dhcp_option(bp, bplen, 3, &olen);
    assert_non_null(v);
    assert_int_equal(get32(v), ip_of("10.0.2.2"));         /* router */
    v = dhcp_option(bp, bplen, 6, &olen);
    assert_non_null(v);
    assert_int_equal(get32(v), ip_of("10.0.2.3"));         /* DNS */
    v = dhcp_option(bp, bplen, 1, &olen);
    assert_non_null(v);
    assert_int_equal(get32(v), ip_of("255.255.255.0"));    /* netmask */

    struct net_stats st = stats_after_rx(c->nb, 1);
    assert_int_equal(st.tx_frames, 1);
    assert_true(st.rx_frames >= 1);
    assert_int_equal(st.rx_dropped, 0);
    close_user(c);
}

struct arp_want {
    uint16_t op;
    uint32_t spa, tpa;
};

static bool match_arp(const uint8_t *f, size_t len, const void *arg)
{
    const struct arp_want *w = arg;
    return is_arp(f, len, w->op, w->spa, w->tpa);
}

static void send_arp_for_gateway(struct net_backend *nb)
{
    static const uint8_t bcast[6] = BCAST_MAC, zero[6] = { 0 };
    uint8_t f[60];
    arp_frame(f, 1, guest_mac, ip_of("10.0.2.15"), zero, ip_of("10.0.2.2"), bcast);
    assert_int_equal(net_backend_send(nb, f, sizeof(f)), 0);
}

static void test_user_answers_arp_for_gateway(void **state)
{
    struct capture *c = open_user("user,ipv6=off");
    send_arp_for_gateway(c->nb);
    struct arp_want w = { 2, ip_of("10.0.2.2"), ip_of("10.0.2.15") };
    int i = capture_wait(c, match_arp, &w, WAIT_MS);
    assert_true(i >= 0);
    assert_memory_equal(c->frames[i], guest_mac, 6);       /* to the guest */
    assert_memory_equal(c->frames[i] + 32, guest_mac, 6);  /* target hardware address */
    const uint8_t slirp_mac[6] = SLIRP_MAC;
    assert_memory_equal(c->frames[i] + 22, slirp_mac, 6);
    close_user(c);
}

static void test_user_holds_frames_until_rx_ready(void **state)
{
    struct capture *c = open_user("user,ipv6=off");
    pthread_mutex_lock(&c->lock);
    c->refuse = true;
    pthread_mutex_unlock(&c->lock);
    send_arp_for_gateway(c->nb);
    struct arp_want w = { 2, ip_of("10.0.2.2"), ip_of("10.0.2.15") };
    assert_int_equal(capture_wait(c, match_arp, &w, 300), -1);
    pthread_mutex_lock(&c->lock);
    assert_true(c->refused >= 1);
    c->refuse = false;
    pthread_mutex_unlock(&c->lock);
    net_backend_rx_ready(c->nb);
    assert_true(capture_wait(c, match_arp, &w, WAIT_MS) >= 0);
    struct net_stats st = stats_after_rx(c->nb, 1);
    assert_int_equal(st.rx_frames, 1);
    assert_int_equal(st.rx_dropped, 0);
    close_user(c);
}

static void test_user_tx_queue_is_bounded(void **state)
{
    struct capture *c = capture_new();
    char err[256];
    assert_int_equal(net_backend_open("user,ipv6=off", 0, capture_rx, c, &c->nb, err,
                                      sizeof(err)), 0);
    static const uint8_t bcast[6] = BCAST_MAC, zero[6] = { 0 };
    uint8_t f[60];
    arp_frame(f, 1, guest_mac, ip_of("10.0.2.15"), zero, ip_of("10.0.2.2"), bcast);
    /* not started: nothing drains the queue */
    for (int i = 0; i < NET_TX_QUEUE_MAX; i++)
        assert_int_equal(net_backend_send(c->nb, f, sizeof(f)), 0);
    assert_int_equal(net_backend_send(c->nb, f, sizeof(f)), -ENOBUFS);
    struct net_stats st;
    net_backend_stats(c->nb, &st);
    assert_int_equal(st.tx_frames, NET_TX_QUEUE_MAX);
    assert_int_equal(st.tx_dropped, 1);
    /* once started, the queued requests are answered */
    assert_int_equal(net_backend_start(c->nb), 0);
    assert_int_equal(net_backend_start(c->nb), -EBUSY);
    st = stats_after_rx(c->nb, NET_TX_QUEUE_MAX);
    assert_int_equal(st.rx_frames, NET_TX_QUEUE_MAX);
    close_user(c);
}

static void test_user_rx_queue_drops_beyond_its_bound(void **state)
{
    enum { EXTRA = 20 };
    struct capture *c = open_user("user,ipv6=off");
    pthread_mutex_lock(&c->lock);
    c->refuse = true;
    pthread_mutex_unlock(&c->lock);
    static const uint8_t bcast[6] = BCAST_MAC, zero[6] = { 0 };
    uint8_t f[60];
    arp_frame(f, 1, guest_mac, ip_of("10.0.2.15"), zero, ip_of("10.0.2.2"), bcast);
    /* each request makes one reply; the guest takes none of them for now */
    for (int i = 0; i < NET_RX_QUEUE_MAX + EXTRA; i++)
        while (net_backend_send(c->nb, f, sizeof(f)) == -ENOBUFS)
            usleep(1000);
    struct net_stats st;
    for (int i = 0; i < 5000; i++) {
        net_backend_stats(c->nb, &st);
        if (st.rx_dropped >= EXTRA)
            break;
        usleep(1000);
    }
    assert_int_equal(st.rx_dropped, EXTRA);
    assert_int_equal(st.rx_frames, 0);
    pthread_mutex_lock(&c->lock);
    c->refuse = false;
    pthread_mutex_unlock(&c->lock);
    net_backend_rx_ready(c->nb);
    st = stats_after_rx(c->nb, NET_RX_QUEUE_MAX);
    assert_int_equal(st.rx_frames, NET_RX_QUEUE_MAX);
    assert_int_equal(st.rx_dropped, EXTRA);
    close_user(c);
}

static void test_user_send_rejects_runt_and_giant_frames(void **state)
{
    struct capture *c = open_user("user,ipv6=off");
    uint8_t f[14] = { 0 };
    assert_int_equal(net_backend_send(c->nb, f, 13), -EINVAL);
    assert_int_equal(net_backend_send(c->nb, f, NET_FRAME_MAX + 1), -EINVAL);
    struct net_stats st;
    net_backend_stats(c->nb, &st);
    assert_int_equal(st.tx_dropped, 2);
    assert_int_equal(st.tx_frames, 0);
    close_user(c);
}

static bool match_router_advert(const uint8_t *f, size_t len, const void *arg)
{
    return len >= 14 + 40 + 16 && get16(f + 12) == 0x86dd && f[20] == 58 && f[54] == 134;
}

static void test_user_ipv6_router_solicitation_gets_fec0_prefix(void **state)
{
    struct capture *c = open_user("user");
    static const uint8_t all_routers_mac[6] = { 0x33, 0x33, 0, 0, 0, 2 };
    uint8_t f[14 + 40 + 8] = { 0 }, *ip6 = f + 14, *icmp = ip6 + 40;
    put_eth(f, all_routers_mac, guest_mac, 0x86dd);
    ip6[0] = 0x60;
    put16(ip6 + 4, 8);   /* payload length */
    ip6[6] = 58;         /* ICMPv6 */
    ip6[7] = 255;        /* NDP wants hop limit 255 (RFC 4861 6.1.1) */
    static const uint8_t src[16] = { 0xfe, 0x80, [8] = 0x50, 0x54, 0x00, 0xff, 0xfe, 0x12, 0x34,
                                     0x56 };
    static const uint8_t dst[16] = { 0xff, 0x02, [15] = 2 };
    memcpy(ip6 + 8, src, 16);
    memcpy(ip6 + 24, dst, 16);
    icmp[0] = 133;       /* router solicitation */
    uint8_t pseudo[40] = { 0 };
    memcpy(pseudo, src, 16);
    memcpy(pseudo + 16, dst, 16);
    put32(pseudo + 32, 8);
    pseudo[39] = 58;
    put16(icmp + 2, fold(sum16(icmp, 8, sum16(pseudo, 40, 0))));
    assert_int_equal(net_backend_send(c->nb, f, sizeof(f)), 0);

    int i = capture_wait(c, match_router_advert, NULL, WAIT_MS);
    assert_true(i >= 0);
    const uint8_t *ra = c->frames[i] + 54, *end = c->frames[i] + c->lens[i];
    bool prefix_ok = false;
    for (const uint8_t *o = ra + 16; o + 2 <= end && o[1]; o += o[1] * 8)
        if (o[0] == 3 && o + 32 <= end)   /* prefix information */
            prefix_ok = o[2] == 64 && get16(o + 16) == 0xfec0 &&
                        !memcmp(o + 18, (uint8_t[14]){ 0 }, 14);
    assert_true(prefix_ok);
    close_user(c);
}

/* Guest input is never trusted: cut-off and random frames must leave slirp working. */
static void test_user_survives_truncated_and_random_frames(void **state)
{
    struct capture *c = open_user("user");
    static const uint8_t bcast[6] = BCAST_MAC, zero[6] = { 0 }, gw[6] = SLIRP_MAC;
    uint8_t good[3][700];
    size_t lens[3] = {
        dhcp_discover_frame(good[0], 1),
        arp_frame(good[1], 1, guest_mac, ip_of("10.0.2.15"), zero, ip_of("10.0.2.2"), bcast),
        tcp_frame(good[2], gw, ip_of("10.0.2.15"), 1234, ip_of("10.0.2.2"), 9, 1, 0x02),
    };
    for (int k = 0; k < 3; k++) {
        for (size_t len = 14; len < lens[k]; len++) {
            uint8_t *f = malloc(len); /* exact size, so an overread is a real one */
            memcpy(f, good[k], len);
            while (net_backend_send(c->nb, f, len) == -ENOBUFS)
                usleep(1000);
            free(f);
        }
    }
    unsigned seed = 12345;
    for (int n = 0; n < 2000; n++) {
        uint8_t f[1514];
        size_t len = 14 + (size_t)rand_r(&seed) % (sizeof(f) - 13);
        for (size_t i = 0; i < len; i++)
            f[i] = (uint8_t)rand_r(&seed);
        /* steer some toward the parsers: IPv4, ARP and IPv6 headers with random insides */
        static const uint16_t types[] = { ETH_IP, ETH_ARP, 0x86dd, 0x1234 };
        put16(f + 12, types[n % 4]);
        if (n % 4 == 0 && len > 14)
            f[14] = (uint8_t)(0x45 + (n & 1));
        while (net_backend_send(c->nb, f, len) == -ENOBUFS)
            usleep(1000);
    }
    /* still alive and answering */
    capture_clear(c);
    send_arp_for_gateway(c->nb);
    struct arp_want w = { 2, ip_of("10.0.2.2"), ip_of("10.0.2.15") };
    assert_true(capture_wait(c, match_arp, &w, WAIT_MS) >= 0);
    close_user(c);
}

/* A TCP port on 127.0.0.1: listening (returns the fd) or just free (returns -1, closed). */
static int loopback_port(bool listen_on, uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    *port = ntohs(a.sin_port);
    if (listen_on) {
        assert_int_equal(listen(fd, 4), 0);
        return fd;
    }
    close(fd);
    return -1;
}

struct tcp_want {
    uint32_t dst;
    uint16_t dport, sport; /* sport 0: any */
    uint8_t flags;
};

static bool match_tcp(const uint8_t *f, size_t len, const void *arg)
{
    const struct tcp_want *w = arg;
    const uint8_t *ip, *t = ip_payload(f, len, 6, &ip);
    return t && t + 20 <= f + len && get32(ip + 16) == w->dst && get16(t + 2) == w->dport &&
           (!w->sport || get16(t) == w->sport) && (t[13] & 0x3f) == w->flags;
}

struct udp_want {
    uint32_t dst;
    uint16_t dport;
    const char *payload;
    size_t len;
};

static bool match_udp(const uint8_t *f, size_t len, const void *arg)
{
    const struct udp_want *w = arg;
    const uint8_t *ip, *u = ip_payload(f, len, 17, &ip);
    return u && get32(ip + 16) == w->dst && get16(u + 2) == w->dport &&
           get16(u + 4) == 8 + w->len && u + 8 + w->len <= f + len &&
           !memcmp(u + 8, w->payload, w->len);
}

static void test_user_hostfwd_brings_host_connection_to_guest(void **state)
{
    uint16_t port;
    loopback_port(false, &port);
    char spec[128];
    snprintf(spec, sizeof(spec), "user,hostfwd=tcp:127.0.0.1:%u-:8080,hostfwd=udp::%u-:53",
             port, port);
    struct capture *c = open_user(spec);

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);

    struct tcp_want w = { ip_of("10.0.2.15"), 8080, 0, 0x02 };
    int i = capture_wait(c, match_tcp, &w, WAIT_MS);
    assert_true(i >= 0);
    assert_memory_equal(c->frames[i], guest_mac, 6);
    close(fd);

    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_int_equal(sendto(fd, "ping", 4, 0, (struct sockaddr *)&a, sizeof(a)), 4);
    struct udp_want uw = { ip_of("10.0.2.15"), 53, "ping", 4 };
    assert_true(capture_wait(c, match_udp, &uw, WAIT_MS) >= 0);
    close(fd);
    close_user(c);
}

/* A UDP datagram from the guest (checksum 0: none). */
static size_t udp_frame(uint8_t *f, const uint8_t eth_dst[6], uint32_t src, uint16_t sport,
                        uint32_t dst, uint16_t dport, const char *payload, size_t n)
{
    memset(f, 0, 14 + 20 + 8 + n);
    put_eth(f, eth_dst, guest_mac, ETH_IP);
    put_ip(f + 14, 17, src, dst, 8 + n);
    uint8_t *u = f + 34;
    put16(u, sport);
    put16(u + 2, dport);
    put16(u + 4, (uint16_t)(8 + n));
    memcpy(u + 8, payload, n);
    return 14 + 20 + 8 + n;
}

/* IPv4 fragments from the guest, in any order: a last fragment that comes alone (which
 * crashed libslirp 4.7 inside slirp_input; found by fuzz_slirp) or first, a first fragment
 * alone, and a whole datagram in two. Each is dropped and counted, and the user network goes
 * on answering. */
static void test_user_survives_ip_fragments_in_any_order(void **state)
{
    struct capture *c = open_user("user");
    static const uint8_t gw[6] = SLIRP_MAC;
    /* {offset in 8-byte units, more fragments}: the lone last one, then a pair backwards,
     * then a first one alone, then a pair in order */
    static const uint16_t frags[][2] = { { 2, 0 }, { 2, 0 }, { 0, 1 }, { 0, 1 }, { 0, 1 }, { 2, 0 } };
    for (unsigned k = 0; k < sizeof(frags) / sizeof(frags[0]); k++) {
        uint8_t f[14 + 20 + 16];
        size_t len = udp_frame(f, gw, ip_of("10.0.2.15"), 1000, ip_of("192.0.2.1"), 9,
                               "0123456789", 8);
        uint8_t *ip = f + 14;
        put16(ip + 2, 20 + 16);
        put16(ip + 4, (uint16_t)(0x4d00 + k / 2)); /* one datagram per pair */
        put16(ip + 6, (uint16_t)(frags[k][0] | (frags[k][1] ? 0x2000 : 0)));
        put16(ip + 10, 0);
        put16(ip + 10, fold(sum16(ip, 20, 0)));
        memset(f + len, 'x', sizeof(f) - len);
        assert_int_equal(net_backend_send(c->nb, f, sizeof(f)), -EACCES);
    }
    struct net_stats st;
    net_backend_stats(c->nb, &st);
    assert_int_equal(st.tx_dropped, sizeof(frags) / sizeof(frags[0]));
    capture_clear(c);
    send_arp_for_gateway(c->nb);
    struct arp_want w = { 2, ip_of("10.0.2.2"), ip_of("10.0.2.15") };
    assert_true(capture_wait(c, match_arp, &w, WAIT_MS) >= 0);
    close_user(c);
}

/* The guest answers a forwarded UDP datagram to where it came from, 10.0.2.2: that is the
 * host's loopback, but an answer on a forward the host opened, so it passes without host=on. */
static void test_user_udp_hostfwd_answer_reaches_host(void **state)
{
    uint16_t port;
    loopback_port(false, &port);
    char spec[128];
    snprintf(spec, sizeof(spec), "user,ipv6=off,hostfwd=udp::%u-:53", port);
    struct capture *c = open_user(spec);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(sendto(fd, "ping", 4, 0, (struct sockaddr *)&a, sizeof(a)), 4);
    struct udp_want uw = { ip_of("10.0.2.15"), 53, "ping", 4 };
    int i = capture_wait(c, match_udp, &uw, WAIT_MS);
    assert_true(i >= 0);
    const uint8_t *ip = NULL, *u = ip_payload(c->frames[i], c->lens[i], 17, &ip);
    uint8_t f[128];
    size_t len = udp_frame(f, c->frames[i] + 6, ip_of("10.0.2.15"), 53, get32(ip + 12),
                           get16(u), "pong", 4);
    assert_int_equal(net_backend_send(c->nb, f, len), 0);
    struct pollfd p = { .fd = fd, .events = POLLIN };
    assert_int_equal(poll(&p, 1, WAIT_MS), 1);
    char buf[8];
    assert_int_equal(recv(fd, buf, sizeof(buf), 0), 4);
    assert_memory_equal(buf, "pong", 4);
    close(fd);
    close_user(c);
}

static void test_user_hostfwd_on_busy_port_fails_cleanly(void **state)
{
    uint16_t port;
    int lfd = loopback_port(true, &port);
    char spec[128], want[256], err[256] = "";
    snprintf(spec, sizeof(spec), "user,hostfwd=tcp::%u-:22", port);
    snprintf(want, sizeof(want), "--net: cannot forward tcp 127.0.0.1:%u to 10.0.2.15:22: "
             "Address already in use", port);
    struct net_backend *nb = NULL;
    assert_true(net_backend_open(spec, 0, capture_rx, NULL, &nb, err, sizeof(err)) < 0);
    assert_null(nb);
    assert_string_equal(err, want);
    close(lfd);
}

/* As a guest would: ARP for the gateway, then a TCP SYN to 10.0.2.2:port from 40000. */
static void syn_to_gateway(struct capture *c, uint16_t port, uint32_t seq)
{
    send_arp_for_gateway(c->nb);
    struct arp_want aw = { 2, ip_of("10.0.2.2"), ip_of("10.0.2.15") };
    int i = capture_wait(c, match_arp, &aw, WAIT_MS);
    assert_true(i >= 0);
    uint8_t gw_mac[6];
    memcpy(gw_mac, c->frames[i] + 22, 6);
    uint8_t f[128];
    size_t len = tcp_frame(f, gw_mac, ip_of("10.0.2.15"), 40000, ip_of("10.0.2.2"), port, seq,
                           0x02);
    assert_int_equal(net_backend_send(c->nb, f, len), 0);
}

static void test_user_host_on_lets_guest_reach_host_loopback(void **state)
{
    uint16_t port;
    int lfd = loopback_port(true, &port);
    struct capture *c = open_user("user,host=on");
    uint32_t seq = 0x01020304;
    syn_to_gateway(c, port, seq);

    struct tcp_want w = { ip_of("10.0.2.15"), 40000, port, 0x12 };
    int i = capture_wait(c, match_tcp, &w, WAIT_MS);
    assert_true(i >= 0);
    const uint8_t *ip = NULL, *t = ip_payload(c->frames[i], c->lens[i], 6, &ip);
    assert_non_null(t);
    assert_int_equal(get32(ip + 12), ip_of("10.0.2.2"));
    assert_int_equal(get32(t + 8), seq + 1); /* acknowledges our SYN */

    struct pollfd p = { .fd = lfd, .events = POLLIN };
    assert_int_equal(poll(&p, 1, WAIT_MS), 1);
    int afd = accept(lfd, NULL, NULL);
    assert_true(afd >= 0);
    close(afd);
    close(lfd);
    close_user(c);
}

/* The default: 10.0.2.2 is not the host's loopback, so services on 127.0.0.1 (and other
 * VMs' forwarded ports, which listen there) are out of the guest's reach. */
static void test_user_guest_cannot_reach_host_loopback_by_default(void **state)
{
    uint16_t port;
    int lfd = loopback_port(true, &port);
    struct capture *c = open_user("user");
    syn_to_gateway(c, port, 0x01020304);

    struct tcp_want w = { ip_of("10.0.2.15"), 40000, port, 0x14 };
    int i = capture_wait(c, match_tcp, &w, WAIT_MS); /* refused at once: RST+ACK */
    assert_true(i >= 0);
    const uint8_t *ip = NULL, *t = ip_payload(c->frames[i], c->lens[i], 6, &ip);
    assert_int_equal(get32(ip + 12), ip_of("10.0.2.2"));
    assert_int_equal(get32(t + 8), 0x01020304 + 1);
    assert_int_equal(fold(sum16(ip, 20, 0)), 0);
    uint8_t pseudo[12];
    memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0, pseudo[9] = 6;
    put16(pseudo + 10, 20);
    assert_int_equal(fold(sum16(t, 20, sum16(pseudo, 12, 0))), 0);
    w.flags = 0x12;
    assert_int_equal(capture_wait(c, match_tcp, &w, 300), -1); /* no SYN+ACK */
    struct pollfd p = { .fd = lfd, .events = POLLIN };
    assert_int_equal(poll(&p, 1, 500), 0); /* and nobody knocked */

    /* UDP to a host service on 127.0.0.1 goes nowhere either */
    int ufd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(a);
    assert_int_equal(bind(ufd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(ufd, (struct sockaddr *)&a, &alen), 0);
    uint8_t f[128];
    size_t len = udp_frame(f, c->frames[i] + 6, ip_of("10.0.2.15"), 40001, ip_of("10.0.2.2"),
                           ntohs(a.sin_port), "hello", 5);
    assert_int_equal(net_backend_send(c->nb, f, len), 0);
    p.fd = ufd;
    assert_int_equal(poll(&p, 1, 500), 0);
    close(ufd);
    close(lfd);
    close_user(c);
}

static void v6_frame(uint8_t *f, const char *dst, uint8_t next_header)
{
    memset(f, 0, 14 + 40 + 8);
    static const uint8_t gw[6] = SLIRP_MAC;
    put_eth(f, gw, guest_mac, 0x86dd);
    f[14] = 0x60;
    f[14 + 6] = next_header;
    assert_int_equal(inet_pton(AF_INET6, dst, f + 14 + 24), 1);
}

/* The rules for libslirp's own addresses, frame by frame. */
static void test_user_policy_for_slirp_addresses(void **state)
{
    static const uint8_t gw[6] = SLIRP_MAC;
    struct net_policy pol = { .host_loopback = false };
    uint8_t f[128];
    uint32_t guest = ip_of("10.0.2.15");
    size_t len = tcp_frame(f, gw, guest, 40000, ip_of("10.0.2.3"), 53, 1, 0x02);
    assert_int_equal(net_policy_check(&pol, f, len), NET_PASS);     /* DNS over TCP */
    len = tcp_frame(f, gw, guest, 40000, ip_of("10.0.2.3"), 22, 1, 0x02);
    assert_int_equal(net_policy_check(&pol, f, len), NET_REFUSE);   /* not DNS */
    len = tcp_frame(f, gw, guest, 40000, ip_of("10.0.2.77"), 80, 1, 0x02);
    assert_int_equal(net_policy_check(&pol, f, len), NET_REFUSE);   /* any alias is the host */
    len = tcp_frame(f, gw, guest, 8080, ip_of("10.0.2.2"), 40000, 1, 0x12);
    assert_int_equal(net_policy_check(&pol, f, len), NET_PASS);     /* hostfwd's SYN+ACK */
    len = tcp_frame(f, gw, guest, 40000, ip_of("93.184.216.34"), 80, 1, 0x02);
    assert_int_equal(net_policy_check(&pol, f, len), NET_PASS);     /* the internet */
    len = tcp_frame(f, gw, guest, 40000, ip_of("10.0.2.2"), 80, 1, 0x02);
    f[14 + 6] = 0x20;                                               /* more fragments */
    assert_int_equal(net_policy_check(&pol, f, len), NET_DROP);
    pol.host_loopback = true;
    f[14 + 6] = 0;
    assert_int_equal(net_policy_check(&pol, f, len), NET_PASS);
    pol.host_loopback = false;

    len = udp_frame(f, gw, guest, 40000, ip_of("10.0.2.3"), 53, "q", 1);
    assert_int_equal(net_policy_check(&pol, f, len), NET_PASS);
    len = udp_frame(f, gw, guest, 68, ip_of("10.0.2.2"), 67, "q", 1);
    assert_int_equal(net_policy_check(&pol, f, len), NET_PASS);     /* DHCP renewal */
    len = udp_frame(f, gw, guest, 53, ip_of("10.0.2.2"), 5555, "a", 1);
    assert_int_equal(net_policy_check(&pol, f, len), NET_DROP);
    uint8_t in[128];                                                /* until slirp brings */
    size_t inlen = udp_frame(in, guest_mac, ip_of("10.0.2.2"), 5555, guest, 53, "q", 1);
    net_policy_note_to_guest(&pol, in, inlen);                      /* a forwarded datagram */
    assert_int_equal(net_policy_check(&pol, f, len), NET_PASS);
    len = udp_frame(f, gw, guest, 53, ip_of("10.0.2.2"), 5556, "a", 1);
    assert_int_equal(net_policy_check(&pol, f, len), NET_DROP);     /* only to that port */

    len = tcp_frame(f, gw, guest, 40000, ip_of("10.0.2.2"), 80, 1, 0x02);
    assert_int_equal(net_policy_tcp_rst(f, len, in), 14 + 20 + 20);
    len = udp_frame(f, gw, guest, 40000, ip_of("10.0.2.2"), 80, "x", 1);
    assert_int_equal(net_policy_tcp_rst(f, len, in), 0);

    /* IPv6: fec0::2 is the host too; the RST comes back from it with a right checksum */
    uint8_t f6[14 + 40 + 20];
    v6_frame(f6, "fec0::2", 6);
    assert_int_equal(inet_pton(AF_INET6, "fec0::15", f6 + 14 + 8), 1);
    put16(f6 + 14 + 4, 20);
    uint8_t *t = f6 + 54;
    memset(t, 0, 20);
    put16(t, 40000);
    put16(t + 2, 22);
    put32(t + 4, 77);
    t[12] = 5 << 4;
    t[13] = 0x02;
    assert_int_equal(net_policy_check(&pol, f6, sizeof(f6)), NET_REFUSE);
    uint8_t r6[14 + 40 + 20];
    assert_int_equal(net_policy_tcp_rst(f6, sizeof(f6), r6), sizeof(r6));
    assert_memory_equal(r6 + 14 + 8, f6 + 14 + 24, 16);  /* from fec0::2 */
    assert_int_equal(get16(r6 + 54 + 2), 40000);
    assert_int_equal(get32(r6 + 54 + 8), 78);
    uint8_t pseudo6[40] = { 0 };
    memcpy(pseudo6, r6 + 14 + 8, 32);
    put32(pseudo6 + 32, 20);
    pseudo6[39] = 6;
    assert_int_equal(fold(sum16(r6 + 54, 20, sum16(pseudo6, 40, 0))), 0);
}

/* Frames to loopback and link-local addresses are refused before libslirp sees them. */
static void test_user_refuses_loopback_and_link_local_frames(void **state)
{
    static const uint8_t gw[6] = SLIRP_MAC;
    static const struct { const char *dst; bool host_on_allows; } v4[] = {
        { "127.0.0.1", true }, { "127.1.2.3", true }, { "0.0.0.0", true },
        { "169.254.169.254", false }, { "169.254.0.1", false },
    };
    struct capture *c = open_user("user"), *h = open_user("user,host=on");
    uint8_t f[128];
    for (size_t i = 0; i < ARRAY_SIZE(v4); i++) {
        size_t len = tcp_frame(f, gw, ip_of("10.0.2.15"), 40000, ip_of(v4[i].dst), 80, 1, 0x02);
        assert_int_equal(net_backend_send(c->nb, f, len), -EACCES);
        assert_int_equal(net_backend_send(h->nb, f, len), v4[i].host_on_allows ? 0 : -EACCES);
    }
    size_t len = tcp_frame(f, gw, ip_of("10.0.2.15"), 40000, ip_of("93.184.216.34"), 80, 1,
                           0x02);
    assert_int_equal(net_backend_send(c->nb, f, len), 0);
    struct net_stats st;
    net_backend_stats(c->nb, &st);
    assert_int_equal(st.tx_dropped, ARRAY_SIZE(v4));
    close_user(c);
    close_user(h);
}

static void test_user_frame_policy_for_ipv6(void **state)
{
    static const struct { const char *dst; uint8_t nh; bool off, on; } cases[] = {
        { "fe80::2", 58, true, true },          /* neighbour discovery with libslirp */
        { "fe80::1234", 6, false, false },      /* TCP to a link-local host */
        { "febf::1", 17, false, false },        /* the top of fe80::/10 */
        { "fec0::2", 6, true, true },           /* libslirp's host: its own rule decides */
        { "::1", 6, false, true },
        { "::", 17, false, true },
        { "::ffff:127.0.0.1", 6, false, true },
        { "::ffff:169.254.169.254", 6, false, false },
        { "2001:db8::1", 6, true, true },
        { "ff02::2", 58, true, true },
    };
    uint8_t f[14 + 40 + 8];
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        v6_frame(f, cases[i].dst, cases[i].nh);
        if ((net_policy_check_address(f, sizeof(f), false) == NET_PASS) != cases[i].off ||
            (net_policy_check_address(f, sizeof(f), true) == NET_PASS) != cases[i].on)
            fail_msg("policy for %s (next header %u) is wrong", cases[i].dst, cases[i].nh);
    }
    /* too short to carry an address, or not IP: left to libslirp */
    assert_int_equal(net_policy_check_address(f, 14 + 39, false), NET_PASS);
    f[12] = 0x81, f[13] = 0x00;
    assert_int_equal(net_policy_check_address(f, sizeof(f), false), NET_PASS);
}

/* ---- tap, in a network namespace of a child process */

#define TAP_UNAVAILABLE 77
#define TAP_IF "corraltap0"

/* Child side: returns 0, TAP_UNAVAILABLE or 1, with a message in msg. */
static int tap_arp_roundtrip(char *msg, size_t msglen)
{
    if (unshare(CLONE_NEWNET)) {
        snprintf(msg, msglen, "cannot make a network namespace: %s", strerror(errno));
        return TAP_UNAVAILABLE;
    }
    /* no IPv6 chatter (router solicitations, MLD): the ARP reply is the only frame */
    FILE *sysctl = fopen("/proc/sys/net/ipv6/conf/default/disable_ipv6", "w");
    if (sysctl) {
        fputs("1\n", sysctl);
        fclose(sysctl);
    }
    struct capture *c = capture_new();
    char err[256] = "";
    int r = net_backend_open("tap,ifname=" TAP_IF, 0, capture_rx, c, &c->nb, err, sizeof(err));
    if (r) {
        snprintf(msg, msglen, "%s", err);
        return r == -EPERM || r == -EACCES || r == -ENOENT || r == -ENODEV ? TAP_UNAVAILABLE : 1;
    }
    if (strcmp(net_backend_ifname(c->nb), TAP_IF) || net_backend_start(c->nb)) {
        snprintf(msg, msglen, "tap came up as '%s' or did not start", net_backend_ifname(c->nb));
        return 1;
    }
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", TAP_IF);
    struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(ip_of("10.0.9.1"));
    bool ok = ioctl(s, SIOCSIFADDR, &ifr) == 0;
    sin->sin_addr.s_addr = htonl(ip_of("255.255.255.0"));
    ok = ok && ioctl(s, SIOCSIFNETMASK, &ifr) == 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
    ifr.ifr_flags |= IFF_UP;
    ok = ok && ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
    close(s);
    if (!ok) {
        snprintf(msg, msglen, "cannot configure %s: %s", TAP_IF, strerror(errno));
        return 1;
    }
    static const uint8_t bcast[6] = BCAST_MAC, zero[6] = { 0 };
    struct arp_want w = { 2, ip_of("10.0.9.1"), ip_of("10.0.9.2") };
    uint8_t f[60];
    arp_frame(f, 1, guest_mac, ip_of("10.0.9.2"), zero, ip_of("10.0.9.1"), bcast);
    /* First with a guest that has no buffers: the reply waits in the kernel until rx_ready. */
    pthread_mutex_lock(&c->lock);
    c->refuse = true;
    pthread_mutex_unlock(&c->lock);
    r = net_backend_send(c->nb, f, sizeof(f));
    if (r) {
        snprintf(msg, msglen, "net_backend_send: %s", strerror(-r));
        return 1;
    }
    unsigned refused = 0;
    for (int i = 0; i < 2000 && !refused; i++) {
        usleep(1000);
        pthread_mutex_lock(&c->lock);
        refused = c->refused;
        pthread_mutex_unlock(&c->lock);
    }
    usleep(100000);
    pthread_mutex_lock(&c->lock);
    bool early = c->n > 0;
    refused = c->refused;
    c->refuse = false;
    pthread_mutex_unlock(&c->lock);
    if (!refused || early || refused > 1) {
        snprintf(msg, msglen, "a refused frame was not held: %u refusals, %s", refused,
                 early ? "frames delivered anyway" : "nothing delivered");
        return 1;
    }
    net_backend_rx_ready(c->nb);
    int found = capture_wait(c, match_arp, &w, WAIT_MS);
    if (found < 0) {
        snprintf(msg, msglen, "no ARP reply from the kernel through %s", TAP_IF);
        return 1;
    }
    if (memcmp(c->frames[found], guest_mac, 6) || memcmp(c->frames[found] + 32, guest_mac, 6)) {
        snprintf(msg, msglen, "ARP reply not addressed to the guest MAC");
        return 1;
    }
    net_backend_close(c->nb);
    capture_free(c);
    snprintf(msg, msglen, "ok");
    return 0;
}

static void test_tap_kernel_answers_arp_in_netns(void **state)
{
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char msg[512] = "";
        close(pfd[0]);
        int code = tap_arp_roundtrip(msg, sizeof(msg));
        if (write(pfd[1], msg, strlen(msg)) < 0)
            code = 1;
        _exit(code);
    }
    close(pfd[1]);
    char msg[512] = "";
    ssize_t n = read(pfd[0], msg, sizeof(msg) - 1);
    msg[n > 0 ? n : 0] = '\0';
    close(pfd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status))
        fail_msg("tap test child died (status %#x)", status);
    if (WEXITSTATUS(status) == TAP_UNAVAILABLE) {
        const char *no_tap = getenv("CORRAL_NO_TAP");
        if (no_tap && !strcmp(no_tap, "1")) {
            print_message("tap unavailable, skipped (CORRAL_NO_TAP=1): %s\n", msg);
            skip();
        }
        fail_msg("tap unavailable on this machine: %s (set CORRAL_NO_TAP=1 to skip)", msg);
    }
    if (WEXITSTATUS(status) != 0)
        fail_msg("tap: %s", msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_specs_give_one_line_errors),
        cmocka_unit_test(test_bad_hostfwd_forms),
        cmocka_unit_test(test_hostfwd_forms_and_defaults),
        cmocka_unit_test(test_mac_parsing),
        cmocka_unit_test(test_default_mac_follows_index_and_mac_option_overrides),
        cmocka_unit_test(test_too_many_hostfwd_is_an_error),
        cmocka_unit_test(test_frame_queue_is_bounded_fifo),
        cmocka_unit_test(test_user_dhcp_discover_gets_qemu_style_offer),
        cmocka_unit_test(test_user_answers_arp_for_gateway),
        cmocka_unit_test(test_user_holds_frames_until_rx_ready),
        cmocka_unit_test(test_user_tx_queue_is_bounded),
        cmocka_unit_test(test_user_rx_queue_drops_beyond_its_bound),
        cmocka_unit_test(test_user_send_rejects_runt_and_giant_frames),
        cmocka_unit_test(test_user_ipv6_router_solicitation_gets_fec0_prefix),
        cmocka_unit_test(test_user_survives_truncated_and_random_frames),
        cmocka_unit_test(test_user_survives_ip_fragments_in_any_order),
        cmocka_unit_test(test_user_hostfwd_brings_host_connection_to_guest),
        cmocka_unit_test(test_user_udp_hostfwd_answer_reaches_host),
        cmocka_unit_test(test_user_hostfwd_on_busy_port_fails_cleanly),
        cmocka_unit_test(test_user_host_on_lets_guest_reach_host_loopback),
        cmocka_unit_test(test_user_guest_cannot_reach_host_loopback_by_default),
        cmocka_unit_test(test_user_refuses_loopback_and_link_local_frames),
        cmocka_unit_test(test_user_policy_for_slirp_addresses),
        cmocka_unit_test(test_user_frame_policy_for_ipv6),
        cmocka_unit_test(test_tap_kernel_answers_arp_in_netns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
