/* Unit tests for the virtio device models other than blk: virtio-rng (rng.c), virtio-console
 * (console.c, over pipes) and virtio-net (net.c, over the libslirp user network). Each is
 * driven through its virtio-mmio registers over a fake guest RAM with split rings laid out
 * by hand, as in test_virtqueue.c. The devices answer on their own threads or on the
 * kicking one, so every wait polls the used ring with a timeout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#include <cmocka.h>

#include "corral/ratelimit.h"
#include "dev/virtio/console.h"
#include "dev/virtio/net.h"
#include "dev/virtio/rng.h"
#include "dev/virtio/virtio_mmio.h"
#include "dev/virtio/virtqueue.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (2u << 20)
#define QSIZE 8
#include "fake_ring.h"
#include "fake_driver.h"
#define DATA (RAM_BASE + 0x20000)   /* buffers from here on */
#define BIG  (RAM_BASE + 0x100000)  /* room for more than 64 KiB */

/* ---- virtio-rng */

static struct virtio_rng *rng;
static struct virtio_dev *rd_dev;

static int setup_rng(void **state)
{
    (void)state;
    if (setup_ram())
        return -1;
    struct virtio_slot s = slot("virtio-rng");
    rng = virtio_rng_create(&s);
    if (!rng)
        return -1;
    rd_dev = virtio_rng_dev(rng);
    return bring_up(rd_dev, V1, 1) ? 0 : -1;
}

static int teardown_rng(void **state)
{
    (void)state;
    virtio_rng_destroy(rng);
    rng = NULL;
    free(ram);
    ram = NULL;
    return 0;
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return false;
    return true;
}

static void test_rng_identifies(void **state)
{
    (void)state;
    assert_int_equal(rd(rd_dev, R_DEVICE_ID), 4);
}

static void test_rng_fills_writable_buffer(void **state)
{
    (void)state;
    set_desc(q_desc(0), 0, DATA, 4096, F_WRITE, 0);
    assert_int_equal(submit(rd_dev, 0, 0), 4096);
    /* 4096 random bytes all zero: not in this universe */
    assert_false(all_bytes(gp(DATA), 4096, 0));
    assert_true(all_bytes(gp(DATA + 4096), 64, 0)); /* nothing past the buffer */
    assert_true(__atomic_load_n(&irq_calls, __ATOMIC_RELAXED) > 0);
    assert_int_equal(rd(rd_dev, R_INT_STATUS) & 1, 1);
    /* two writable buffers: both filled, lengths added */
    memset(gp(DATA), 0, 0x2000);
    set_desc(q_desc(0), 3, DATA, 100, F_WRITE | F_NEXT, 5);
    set_desc(q_desc(0), 5, DATA + 0x1000, 200, F_WRITE, 0);
    assert_int_equal(submit(rd_dev, 0, 3), 300);
    assert_false(all_bytes(gp(DATA), 100, 0));
    assert_false(all_bytes(gp(DATA + 0x1000), 200, 0));
    assert_true(all_bytes(gp(DATA + 100), 64, 0));
    /* readable ones in front are skipped */
    set_desc(q_desc(0), 1, DATA + 0x3000, 16, F_NEXT, 2);
    set_desc(q_desc(0), 2, DATA + 0x4000, 33, F_WRITE, 0);
    assert_int_equal(submit(rd_dev, 0, 1), 33);
}

static void test_rng_caps_at_64k(void **state)
{
    (void)state;
    set_desc(q_desc(0), 0, BIG, 65536, F_WRITE, 0);
    assert_int_equal(submit(rd_dev, 0, 0), 65536);
    memset(gp(BIG), 0, 0x20000);
    set_desc(q_desc(0), 0, BIG, 65536 + 4096, F_WRITE, 0);
    assert_int_equal(submit(rd_dev, 0, 0), 65536);
    assert_true(all_bytes(gp(BIG + 65536), 4096, 0)); /* the tail is left alone */
    assert_false(all_bytes(gp(BIG + 65536 - 256), 256, 0));
    /* the cap spans buffers too */
    memset(gp(BIG), 0, 0x20000);
    set_desc(q_desc(0), 0, BIG, 60000, F_WRITE | F_NEXT, 1);
    set_desc(q_desc(0), 1, BIG + 0x10000, 10000, F_WRITE, 0);
    assert_int_equal(submit(rd_dev, 0, 0), 65536);
    assert_true(all_bytes(gp(BIG + 0x10000 + 65536 - 60000), 10000 - (65536 - 60000), 0));
}

static void test_rng_readable_only_gets_zero(void **state)
{
    (void)state;
    memset(gp(DATA), 0x5a, 256);
    set_desc(q_desc(0), 0, DATA, 128, F_NEXT, 1);
    set_desc(q_desc(0), 1, DATA + 128, 128, 0, 0);
    assert_int_equal(submit(rd_dev, 0, 0), 0);
    assert_true(all_bytes(gp(DATA), 256, 0x5a));
    assert_int_equal(rd(rd_dev, R_STATUS), S_LIVE);
}

static void test_rng_loop_needs_reset_and_recovers(void **state)
{
    (void)state;
    set_desc(q_desc(0), 0, DATA, 16, F_WRITE | F_NEXT, 1);
    set_desc(q_desc(0), 1, DATA + 16, 16, F_WRITE | F_NEXT, 0);
    offer(0, 0);
    wr(rd_dev, R_QUEUE_NOTIFY, 0);
    assert_true(WAIT_FOR(rd(rd_dev, R_STATUS) & S_NEEDS_RESET));
    assert_int_equal(rd(rd_dev, R_INT_STATUS) & 2, 2); /* a config interrupt tells the driver */
    assert_int_equal(used_idx(0), 0);
    /* after a reset it serves again */
    assert_true(bring_up(rd_dev, V1, 1));
    assert_int_equal(rd(rd_dev, R_STATUS) & S_NEEDS_RESET, 0);
    set_desc(q_desc(0), 0, DATA, 512, F_WRITE, 0);
    assert_int_equal(submit(rd_dev, 0, 0), 512);
    assert_false(all_bytes(gp(DATA), 512, 0));
}

static void test_rng_stops_after_needs_reset(void **state)
{
    (void)state;
    set_desc(q_desc(0), 0, DATA, 16, F_WRITE | F_NEXT, 0); /* a loop */
    offer(0, 0);
    wr(rd_dev, R_QUEUE_NOTIFY, 0);
    assert_true(WAIT_FOR(rd(rd_dev, R_STATUS) & S_NEEDS_RESET));
    /* a good request now: the device waits for its reset, it does not serve */
    set_desc(q_desc(0), 1, DATA + 0x1000, 512, F_WRITE, 0);
    offer(0, 1);
    wr(rd_dev, R_QUEUE_NOTIFY, 0);
    usleep(20 * 1000);
    assert_int_equal(used_idx(0), 0);
    assert_true(all_bytes(gp(DATA + 0x1000), 512, 0));
}

/* ---- virtio-console, over two pipes */

static struct virtio_console *con;
static struct virtio_dev *cd;
static int con_in_w = -1, con_out_r = -1; /* our ends */

static int setup_con(void **state)
{
    (void)state;
    if (setup_ram())
        return -1;
    int in[2], out[2];
    if (pipe(in))
        return -1;
    if (pipe(out)) {
        close(in[0]);
        close(in[1]);
        return -1;
    }
    con_in_w = in[1];
    con_out_r = out[0];
    struct virtio_slot s = slot("virtio-console");
    con = virtio_console_create(&s, in[0], out[1]);
    if (!con)
        return -1;
    cd = virtio_console_dev(con);
    return bring_up(cd, V1, 2) ? 0 : -1;
}

static int teardown_con(void **state)
{
    (void)state;
    virtio_console_destroy(con);
    con = NULL;
    close(con_in_w);
    close(con_out_r);
    free(ram);
    ram = NULL;
    return 0;
}

/* Reads up to N bytes from FD, waiting up to 2 s for the first: how many. */
static size_t read_some(int fd, void *buf, size_t n, size_t want)
{
    size_t got = 0;
    long t0 = now_ms();
    while (got < want && now_ms() - t0 < 2000) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t r = read(fd, (uint8_t *)buf + got, n - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

static void test_con_config_has_one_port(void **state)
{
    (void)state;
    assert_int_equal(rd(cd, R_DEVICE_ID), 3);
    assert_int_equal(rd_sized(cd, R_CONFIG + 4, 4), 1);
}

static void test_con_tx_reaches_out_fd(void **state)
{
    (void)state;
    memcpy(gp(DATA), "hello, ", 7);
    memcpy(gp(DATA + 0x100), "world\n", 6);
    set_desc(q_desc(1), 0, DATA, 7, F_NEXT, 1);
    set_desc(q_desc(1), 1, DATA + 0x100, 6, 0, 0);
    assert_int_equal(submit(cd, 1, 0), 0);
    char buf[64] = { 0 };
    assert_int_equal(read_some(con_out_r, buf, sizeof(buf), 13), 13);
    assert_memory_equal(buf, "hello, world\n", 13);
    /* a second request, 8 KiB, more than one write's bounce buffer */
    for (unsigned i = 0; i < 8192; i++)
        gp(DATA + 0x1000)[i] = (uint8_t)(i * 13 + 1);
    set_desc(q_desc(1), 2, DATA + 0x1000, 8192, 0, 0);
    assert_int_equal(submit(cd, 1, 2), 0);
    static uint8_t big[8192];
    assert_int_equal(read_some(con_out_r, big, sizeof(big), sizeof(big)), sizeof(big));
    assert_memory_equal(big, gp(DATA + 0x1000), sizeof(big));
}

static void test_con_rx_from_in_fd(void **state)
{
    (void)state;
    memset(gp(DATA), 0xee, 64);
    set_desc(q_desc(0), 0, DATA, 64, F_WRITE, 0);
    offer(0, 0);
    wr(cd, R_QUEUE_NOTIFY, 0);
    assert_int_equal(write(con_in_w, "abc", 3), 3);
    assert_true(WAIT_FOR(used_idx(0) == 1));
    assert_int_equal(used_id(0, 0), 0);
    assert_int_equal(used_len(0, 0), 3);
    assert_memory_equal(gp(DATA), "abc", 3);
    assert_int_equal(gp(DATA)[3], 0xee);
}

static void spin_us(long us)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do
        clock_gettime(CLOCK_MONOTONIC, &b);
    while ((b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000 < us);
}

/* With EVENT_IDX a driver kicks only when the device asked (avail_event). Input that finds no
 * buffer makes the device ask; a buffer the driver adds while the device is asking must not
 * be missed. Races the two many times, at varied offsets: no round may stall. */
static void test_con_rx_event_idx_never_stalls(void **state)
{
    (void)state;
    assert_true(bring_up(cd, V1 | 1ULL << 29, 2));
    long t0 = now_ms();
    unsigned seed = 1;
    for (uint16_t i = 0; i < 3000 && now_ms() - t0 < 2000; i++) {
        uint16_t slot_ = i % QSIZE;
        set_desc(q_desc(0), slot_, DATA + 64 * slot_, 64, F_WRITE, 0);
        assert_int_equal(write(con_in_w, "k", 1), 1);
        seed = seed * 1103515245 + 12345;
        spin_us((long)(seed >> 16) % 60);
        offer(0, slot_);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        uint16_t event = get16(q_used(0) + 4 + 8 * QSIZE);
        if ((uint16_t)(i + 1 - event - 1) < 1) /* vring_need_event(event, i + 1, i) */
            wr(cd, R_QUEUE_NOTIFY, 0);
        if (!WAIT_FOR_MS(used_idx(0) == (uint16_t)(i + 1), 500))
            fail_msg("receive stalled at round %u", i);
    }
}

static void test_con_rx_input_before_buffer(void **state)
{
    (void)state;
    /* input with no receive buffer posted waits for one */
    assert_int_equal(write(con_in_w, "xyz!", 4), 4);
    usleep(20 * 1000);
    assert_int_equal(used_idx(0), 0);
    set_desc(q_desc(0), 2, DATA + 0x200, 2, F_WRITE | F_NEXT, 3);
    set_desc(q_desc(0), 3, DATA + 0x300, 100, F_WRITE, 0);
    offer(0, 2);
    wr(cd, R_QUEUE_NOTIFY, 0);
    assert_true(WAIT_FOR(used_idx(0) == 1));
    assert_int_equal(used_id(0, 0), 2);
    assert_int_equal(used_len(0, 0), 4);
    assert_memory_equal(gp(DATA + 0x200), "xy", 2);
    assert_memory_equal(gp(DATA + 0x300), "z!", 2);
}

static void test_con_malformed_tx_needs_reset(void **state)
{
    (void)state;
    set_desc(q_desc(1), 0, DATA, 4, F_NEXT, 1);
    set_desc(q_desc(1), 1, DATA, 4, F_NEXT, 0);
    offer(1, 0);
    wr(cd, R_QUEUE_NOTIFY, 1);
    assert_true(WAIT_FOR(rd(cd, R_STATUS) & S_NEEDS_RESET));
    assert_int_equal(used_idx(1), 0);
    /* nothing reached the host */
    struct pollfd p = { con_out_r, POLLIN, 0 };
    assert_int_equal(poll(&p, 1, 20), 0);
    /* and after a reset it transmits again */
    assert_true(bring_up(cd, V1, 2));
    memcpy(gp(DATA), "ok", 2);
    set_desc(q_desc(1), 0, DATA, 2, 0, 0);
    assert_int_equal(submit(cd, 1, 0), 0);
    char buf[4];
    assert_int_equal(read_some(con_out_r, buf, sizeof(buf), 2), 2);
    assert_memory_equal(buf, "ok", 2);
}

static void test_con_tx_readable_after_writable_needs_reset(void **state)
{
    (void)state;
    set_desc(q_desc(1), 0, DATA, 4, F_WRITE | F_NEXT, 1);
    set_desc(q_desc(1), 1, DATA + 4, 4, 0, 0);
    offer(1, 0);
    wr(cd, R_QUEUE_NOTIFY, 1);
    assert_true(WAIT_FOR(rd(cd, R_STATUS) & S_NEEDS_RESET));
    assert_int_equal(used_idx(1), 0);
}

static void test_con_rx_buffer_without_writable_part_needs_reset(void **state)
{
    (void)state;
    /* a receive buffer the device can only read: the driver broke the rules (5.3.6) */
    set_desc(q_desc(0), 0, DATA, 16, 0, 0);
    offer(0, 0);
    wr(cd, R_QUEUE_NOTIFY, 0);
    assert_int_equal(write(con_in_w, "q", 1), 1);
    assert_true(WAIT_FOR(rd(cd, R_STATUS) & S_NEEDS_RESET));
    assert_int_equal(used_idx(0), 0);
}

/* ---- virtio-net over the user network */

#define N_CSUM 0
#define N_MAC 5
#define HDR_LEN 12

static struct virtio_net *net;
static struct virtio_dev *nd;
static uint8_t mac[6];
static const struct ratelimit_config *net_rx_limit, *net_tx_limit; /* for the next setup_net */

static int setup_net(void **state)
{
    (void)state;
    if (setup_ram())
        return -1;
    struct virtio_slot s = slot("virtio-net");
    char err[256] = "";
    net = virtio_net_create(&s, "user", 0, net_rx_limit, net_tx_limit, err, sizeof(err));
    net_rx_limit = net_tx_limit = NULL;
    if (!net) {
        fprintf(stderr, "virtio_net_create: %s\n", err);
        return -1;
    }
    nd = virtio_net_dev(net);
    for (unsigned i = 0; i < 6; i++)
        mac[i] = (uint8_t)rd_sized(nd, R_CONFIG + i, 1);
    return bring_up(nd, V1 | 1ULL << N_CSUM | 1ULL << N_MAC, 2) ? 0 : -1;
}

static int teardown_net(void **state)
{
    (void)state;
    virtio_net_destroy(net);
    net = NULL;
    free(ram);
    ram = NULL;
    return 0;
}

/* An ARP request "who has 10.0.2.2, tell 10.0.2.15" from our MAC: 42 bytes at P. */
static size_t arp_request(uint8_t *p)
{
    static const uint8_t ip_us[4] = { 10, 0, 2, 15 }, ip_gw[4] = { 10, 0, 2, 2 };
    memset(p, 0xff, 6);
    memcpy(p + 6, mac, 6);
    p[12] = 0x08, p[13] = 0x06;
    p[14] = 0, p[15] = 1;          /* Ethernet */
    p[16] = 0x08, p[17] = 0x00;    /* IPv4 */
    p[18] = 6, p[19] = 4;
    p[20] = 0, p[21] = 1;          /* request */
    memcpy(p + 22, mac, 6);
    memcpy(p + 28, ip_us, 4);
    memset(p + 32, 0, 6);
    memcpy(p + 38, ip_gw, 4);
    return 42;
}

#define RXBUF (DATA + 0x8000)

/* Posts receive buffers 0..3 of 2 KiB each. */
static void post_rx(void)
{
    for (unsigned i = 0; i < 4; i++) {
        set_desc(q_desc(0), i, RXBUF + 0x800 * i, 0x800, F_WRITE, 0);
        offer(0, (uint16_t)i);
    }
    wr(nd, R_QUEUE_NOTIFY, 0);
}

/* Sends the frame at DATA (LEN bytes after a header) as one readable buffer: used len. */
static uint32_t send_tx(uint16_t head, uint32_t len)
{
    set_desc(q_desc(1), head, DATA, len, 0, 0);
    return submit(nd, 1, head);
}

/* True if an ARP reply from 10.0.2.2 to us, after a header of HL bytes, arrives within 5 s. */
static bool wait_arp_reply_hdr(size_t hl)
{
    uint16_t seen = 0;
    long t0 = now_ms();
    while (now_ms() - t0 < 5000) {
        uint16_t idx = used_idx(0);
        for (; seen != idx; seen++) {
            uint32_t id = used_id(0, seen), len = used_len(0, seen);
            if (id >= 4 || len < hl + 42 || len > 0x800)
                continue;
            const uint8_t *f = gp(RXBUF + 0x800 * id) + hl;
            if (!memcmp(f, mac, 6) && f[12] == 0x08 && f[13] == 0x06 && f[21] == 2 &&
                !memcmp(f + 28, "\x0a\x00\x02\x02", 4) && !memcmp(f + 32, mac, 6))
                return true;
        }
        usleep(1000);
    }
    return false;
}

static bool wait_arp_reply(void)
{
    return wait_arp_reply_hdr(HDR_LEN);
}

static void test_net_config(void **state)
{
    (void)state;
    assert_int_equal(rd(nd, R_DEVICE_ID), 1);
    assert_false(all_bytes(mac, 6, 0));
    assert_int_equal(mac[0] & 1, 0); /* unicast */
    assert_int_equal(rd_sized(nd, R_CONFIG + 6, 2), 1); /* link up */
}

static void test_net_arp_gets_reply(void **state)
{
    (void)state;
    post_rx();
    memset(gp(DATA), 0, HDR_LEN);
    size_t n = arp_request(gp(DATA + HDR_LEN));
    assert_int_equal(send_tx(0, (uint32_t)(HDR_LEN + n)), 0);
    assert_true(wait_arp_reply());
    assert_int_equal(rd(nd, R_STATUS), S_LIVE);
}

/* A driver without VERSION_1 (xv6's kind, which QEMU serves) gets the 10-byte header of
 * 5.1.6 both ways: no num_buffers without VERSION_1 or MRG_RXBUF. */
static void test_net_header_without_version_1_is_10_bytes(void **state)
{
    (void)state;
    assert_true(bring_up(nd, 1ULL << N_MAC, 2));
    post_rx();
    memset(gp(DATA), 0, 10);
    size_t n = arp_request(gp(DATA + 10));
    assert_int_equal(send_tx(0, (uint32_t)(10 + n)), 0);
    assert_true(wait_arp_reply_hdr(10));
}

static void test_net_short_tx_is_consumed(void **state)
{
    (void)state;
    memset(gp(DATA), 0, 64);
    assert_int_equal(send_tx(0, 1), 0);
    assert_int_equal(send_tx(1, 8), 0);
    assert_int_equal(send_tx(2, HDR_LEN), 0); /* a header, no frame */
    assert_int_equal(send_tx(3, HDR_LEN + 5), 0); /* shorter than an Ethernet header */
    /* header split over two buffers, shorter than 12 in all */
    set_desc(q_desc(1), 4, DATA, 3, F_NEXT, 5);
    set_desc(q_desc(1), 5, DATA + 3, 4, 0, 0);
    assert_int_equal(submit(nd, 1, 4), 0);
    /* only writable buffers on the transmit queue */
    set_desc(q_desc(1), 6, DATA, 64, F_WRITE, 0);
    assert_int_equal(submit(nd, 1, 6), 0);
    assert_int_equal(rd(nd, R_STATUS), S_LIVE);
    /* still transmitting */
    post_rx();
    arp_request(gp(DATA + HDR_LEN));
    memset(gp(DATA), 0, HDR_LEN);
    assert_int_equal(send_tx(7, HDR_LEN + 42), 0);
    assert_true(wait_arp_reply());
}

static void put_csum_hdr(uint16_t start, uint16_t offset)
{
    uint8_t *h = gp(DATA);
    memset(h, 0, HDR_LEN);
    h[0] = 1; /* NEEDS_CSUM */
    memcpy(h + 6, &start, 2);
    memcpy(h + 8, &offset, 2);
}

static void test_net_needs_csum_beyond_frame(void **state)
{
    (void)state;
    static const uint16_t cases[][2] = {
        { 0xffff, 0xffff }, { 0xfff0, 0 }, { 0, 0xffff }, { 41, 0 }, { 40, 1 }, { 42, 0 },
        { 100, 100 }, { 0x7fff, 0x8000 },
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        arp_request(gp(DATA + HDR_LEN));
        put_csum_hdr(cases[i][0], cases[i][1]);
        assert_int_equal(send_tx((uint16_t)(i % QSIZE), HDR_LEN + 42), 0);
        /* the guest's buffer is never written */
        assert_memory_equal(gp(DATA + HDR_LEN + 38), "\x0a\x00\x02\x02", 4);
    }
    assert_int_equal(rd(nd, R_STATUS), S_LIVE);
    /* the last two bytes as the checksum field is in range: the frame still goes out */
    post_rx();
    arp_request(gp(DATA + HDR_LEN));
    put_csum_hdr(30, 10);
    assert_int_equal(send_tx(0, HDR_LEN + 42), 0);
    assert_int_equal(rd(nd, R_STATUS), S_LIVE);
}

static void test_net_tx_loop_needs_reset(void **state)
{
    (void)state;
    set_desc(q_desc(1), 0, DATA, 20, F_NEXT, 1);
    set_desc(q_desc(1), 1, DATA + 20, 40, F_NEXT, 0);
    offer(1, 0);
    wr(nd, R_QUEUE_NOTIFY, 1);
    assert_true(WAIT_FOR(rd(nd, R_STATUS) & S_NEEDS_RESET));
    assert_int_equal(rd(nd, R_INT_STATUS) & 2, 2);
    assert_int_equal(used_idx(1), 0);
    /* a reset brings it back */
    assert_true(bring_up(nd, V1 | 1ULL << N_MAC, 2));
    post_rx();
    memset(gp(DATA), 0, HDR_LEN);
    arp_request(gp(DATA + HDR_LEN));
    assert_int_equal(send_tx(0, HDR_LEN + 42), 0);
    assert_true(wait_arp_reply());
}

static void test_net_rx_loop_needs_reset(void **state)
{
    (void)state;
    /* a receive ring with a loop is found broken when a frame arrives */
    set_desc(q_desc(0), 0, RXBUF, 0x800, F_WRITE | F_NEXT, 1);
    set_desc(q_desc(0), 1, RXBUF + 0x800, 0x800, F_WRITE | F_NEXT, 0);
    offer(0, 0);
    wr(nd, R_QUEUE_NOTIFY, 0);
    memset(gp(DATA), 0, HDR_LEN);
    arp_request(gp(DATA + HDR_LEN));
    assert_int_equal(send_tx(0, HDR_LEN + 42), 0);
    assert_true(WAIT_FOR_MS(rd(nd, R_STATUS) & S_NEEDS_RESET, 5000));
    assert_int_equal(used_idx(0), 0);
}

/* ---- virtio-net under rate limits (real time: loose lower bounds) */

static const struct ratelimit_config tx_20_per_s = { .ops = { 2, 0, 100 } };
static const struct ratelimit_config rx_5_per_s = { .ops = { 1, 0, 200 } };
static const struct ratelimit_config tx_1_per_s = { .ops = { 1, 0, 1000 } };

static int setup_net_tx_limit(void **state)
{
    net_tx_limit = &tx_20_per_s;
    return setup_net(state);
}

static int setup_net_rx_limit(void **state)
{
    net_rx_limit = &rx_5_per_s;
    return setup_net(state);
}

static int setup_net_tx_slow(void **state)
{
    net_tx_limit = &tx_1_per_s;
    return setup_net(state);
}

/* Puts QSIZE ARP requests on the transmit queue, in buffers of their own, with one kick. */
static void offer_arp_requests(unsigned count)
{
    for (unsigned i = 0; i < count; i++) {
        uint64_t at = DATA + 0x100 * i;
        memset(gp(at), 0, HDR_LEN);
        arp_request(gp(at + HDR_LEN));
        set_desc(q_desc(1), i, at, HDR_LEN + 42, 0, 0);
        offer(1, (uint16_t)i);
    }
    wr(nd, R_QUEUE_NOTIFY, 1);
}

static const struct ratelimit_config tx_100k_per_s = { .bandwidth = { 10000, 0, 100 } };

static int setup_net_tx_bandwidth(void **state)
{
    net_tx_limit = &tx_100k_per_s;
    return setup_net(state);
}

/* A transmit chain naming 14 MiB is no frame: it is dropped, and costs no bandwidth. Were
 * it charged, the debt would hold the NIC for minutes, through resets too. */
static void test_net_dropped_oversize_tx_costs_no_bandwidth(void **state)
{
    (void)state;
    for (unsigned i = 0; i < 7; i++)
        set_desc(q_desc(1), i, RAM_BASE, RAM_SIZE, i < 6 ? F_NEXT : 0, (uint16_t)(i + 1));
    assert_int_equal(submit(nd, 1, 0), 0);
    post_rx();
    arp_request(gp(DATA + HDR_LEN));
    memset(gp(DATA), 0, HDR_LEN);
    assert_int_equal(send_tx(7, HDR_LEN + 42), 0);
    assert_true(wait_arp_reply());
}

static void test_net_tx_limit_holds_frames_without_dropping(void **state)
{
    (void)state;
    post_rx();
    long t0 = now_ms();
    offer_arp_requests(QSIZE);          /* 2 at once, then one per 50 ms, with no more kicks */
    assert_true(WAIT_FOR(used_idx(1) == QSIZE));
    assert_true(now_ms() - t0 >= 280);
    struct virtio_net_stats st;
    virtio_net_stats(net, &st);
    assert_int_equal(st.tx_frames, QSIZE);
    assert_int_equal(st.tx_bytes, QSIZE * 42);
    assert_int_equal(st.tx_dropped, 0);
    assert_true(st.tx_throttled >= 1);
    assert_true(wait_arp_reply());
}

static void test_net_rx_limit_holds_frames_in_backend(void **state)
{
    (void)state;
    post_rx();
    long t0 = now_ms();
    offer_arp_requests(3);              /* three replies: one at once, then one per 200 ms */
    assert_true(WAIT_FOR(used_idx(0) == 3));
    assert_true(now_ms() - t0 >= 380);
    assert_true(wait_arp_reply());
    struct virtio_net_stats st;
    virtio_net_stats(net, &st);
    assert_int_equal(st.rx_frames, 3);
    assert_int_equal(st.rx_dropped, 0);
    assert_true(st.rx_throttled >= 1);
}

static void test_net_held_tx_yields_to_reset_and_new_limit(void **state)
{
    (void)state;
    offer_arp_requests(2);              /* the second is held for a second */
    assert_true(WAIT_FOR(used_idx(1) == 1));
    usleep(50 * 1000);
    assert_int_equal(used_idx(1), 1);
    long t0 = now_ms();
    assert_int_equal(virtio_net_set_ratelimit(net, NULL, NULL), 0);
    assert_true(WAIT_FOR(used_idx(1) == 2));
    assert_true(now_ms() - t0 < 500);
    /* held again: a reset does not wait for it */
    assert_int_equal(virtio_net_set_ratelimit(net, NULL, &tx_1_per_s), 0);
    offer_arp_requests(2);
    assert_true(WAIT_FOR(used_idx(1) == 3));
    usleep(50 * 1000);
    t0 = now_ms();
    wr(nd, R_STATUS, 0);
    assert_true(now_ms() - t0 < 500);
    assert_int_equal(used_idx(1), 3);                  /* never sent */
    assert_true(bring_up(nd, V1 | 1ULL << N_MAC, 2));
    assert_int_equal(virtio_net_set_ratelimit(net, NULL, NULL), 0);
    post_rx();
    offer_arp_requests(1);
    assert_true(WAIT_FOR(used_idx(1) == 1));
    assert_true(wait_arp_reply());
}

#define TR(f) cmocka_unit_test_setup_teardown(f, setup_rng, teardown_rng)
#define TC(f) cmocka_unit_test_setup_teardown(f, setup_con, teardown_con)
#define TN(f) cmocka_unit_test_setup_teardown(f, setup_net, teardown_net)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TR(test_rng_identifies),
        TR(test_rng_fills_writable_buffer),
        TR(test_rng_caps_at_64k),
        TR(test_rng_readable_only_gets_zero),
        TR(test_rng_loop_needs_reset_and_recovers),
        TR(test_rng_stops_after_needs_reset),
        TC(test_con_config_has_one_port),
        TC(test_con_tx_reaches_out_fd),
        TC(test_con_rx_from_in_fd),
        TC(test_con_rx_event_idx_never_stalls),
        TC(test_con_rx_input_before_buffer),
        TC(test_con_malformed_tx_needs_reset),
        TC(test_con_tx_readable_after_writable_needs_reset),
        TC(test_con_rx_buffer_without_writable_part_needs_reset),
        TN(test_net_config),
        TN(test_net_arp_gets_reply),
        TN(test_net_header_without_version_1_is_10_bytes),
        TN(test_net_short_tx_is_consumed),
        TN(test_net_needs_csum_beyond_frame),
        TN(test_net_tx_loop_needs_reset),
        TN(test_net_rx_loop_needs_reset),
        cmocka_unit_test_setup_teardown(test_net_dropped_oversize_tx_costs_no_bandwidth,
                                        setup_net_tx_bandwidth, teardown_net),
        cmocka_unit_test_setup_teardown(test_net_tx_limit_holds_frames_without_dropping,
                                        setup_net_tx_limit, teardown_net),
        cmocka_unit_test_setup_teardown(test_net_rx_limit_holds_frames_in_backend,
                                        setup_net_rx_limit, teardown_net),
        cmocka_unit_test_setup_teardown(test_net_held_tx_yields_to_reset_and_new_limit,
                                        setup_net_tx_slow, teardown_net),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
