/* Unit tests for the "switch" network backend: ports in a temporary directory exchange
 * hand-built frames; learning, flooding, stale sockets, full peers and bad specs. No device
 * model, no guest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "backend/net.h"

#define WAIT_MS 2000
#define QUIET_MS 300 /* how long a port must stay silent to count as "saw nothing" */
#define CAP_MAX 4096

struct port {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct net_backend *nb;
    uint8_t mac[6];
    bool refuse;       /* pretend the guest has no RX buffers */
    unsigned n;        /* frames captured */
    uint8_t last[64];  /* the head of the last one */
    size_t last_len;
};

static bool port_rx(void *ctx, const uint8_t *frame, size_t len)
{
    struct port *p = ctx;
    pthread_mutex_lock(&p->lock);
    if (p->refuse) {
        pthread_mutex_unlock(&p->lock);
        return false;
    }
    p->n++;
    p->last_len = len;
    memcpy(p->last, frame, len < sizeof(p->last) ? len : sizeof(p->last));
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    return true;
}

static char dir[128];

static struct port *port_open(const char *mac)
{
    struct port *p = calloc(1, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    char spec[256], err[256] = "";
    snprintf(spec, sizeof(spec), "switch,name=t,dir=%s%s%s", dir, mac ? ",mac=" : "",
             mac ? mac : "");
    int r = net_backend_open(spec, 0, port_rx, p, &p->nb, err, sizeof(err));
    if (r)
        fail_msg("net_backend_open(%s): %d %s", spec, r, err);
    net_backend_mac(p->nb, p->mac);
    assert_int_equal(net_backend_start(p->nb), 0);
    return p;
}

static void port_close(struct port *p)
{
    net_backend_close(p->nb);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}

/* Waits until the port has captured at least n frames; returns how many it has. */
static unsigned port_wait(struct port *p, unsigned n, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->lock);
    while (p->n < n && !pthread_cond_timedwait(&p->cond, &p->lock, &until))
        ;
    unsigned got = p->n;
    pthread_mutex_unlock(&p->lock);
    return got;
}

static size_t frame(uint8_t *f, const uint8_t dst[6], const uint8_t src[6], uint8_t tag)
{
    memset(f, 0, 60);
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    f[12] = 0x88, f[13] = 0xb5; /* local experimental ethertype */
    f[14] = tag;
    return 60;
}

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static unsigned count_sockets(void)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    unsigned n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += strstr(de->d_name, ".sock") != NULL;
    closedir(d);
    return n;
}

static int setup(void **state)
{
    char tmpl[] = "/tmp/corral-sw-XXXXXX";
    if (!mkdtemp(tmpl))
        return -1;
    snprintf(dir, sizeof(dir), "%s/switches/t", tmpl); /* made by the first port */
    return 0;
}

static int teardown(void **state)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
    char *slash = strrchr(dir, '/');
    *slash = '\0';
    rmdir(dir);
    slash = strrchr(dir, '/');
    *slash = '\0';
    rmdir(dir);
    return 0;
}

static void test_switch_floods_broadcast_and_learns_unicast(void **state)
{
    struct port *a = port_open("52:54:00:00:00:0a"), *b = port_open("52:54:00:00:00:0b"),
                *c = port_open("52:54:00:00:00:0c");
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(count_sockets(), 3);
    assert_int_equal(net_backend_mtu(a->nb), 1500);
    assert_string_equal(net_backend_kind(a->nb), "switch");

    uint8_t f[60];
    assert_int_equal(net_backend_send(a->nb, f, frame(f, bcast, a->mac, 1)), 0);
    assert_int_equal(port_wait(b, 1, WAIT_MS), 1);
    assert_int_equal(port_wait(c, 1, WAIT_MS), 1);
    assert_int_equal(b->last[14], 1);
    assert_int_equal(port_wait(a, 1, QUIET_MS), 0); /* a port does not hear itself */

    /* b learned a from the broadcast: its answer goes to a alone */
    assert_int_equal(net_backend_send(b->nb, f, frame(f, a->mac, b->mac, 2)), 0);
    assert_int_equal(port_wait(a, 1, WAIT_MS), 1);
    assert_int_equal(a->last[14], 2);
    /* and a learned b from that answer */
    assert_int_equal(net_backend_send(a->nb, f, frame(f, b->mac, a->mac, 3)), 0);
    assert_int_equal(port_wait(b, 2, WAIT_MS), 2);
    assert_int_equal(b->last[14], 3);
    assert_int_equal(port_wait(c, 2, QUIET_MS), 1); /* c saw the broadcast only */

    /* an unknown unicast is flooded, like a switch that has not learned yet */
    static const uint8_t nobody[6] = { 0x52, 0x54, 0x00, 0x99, 0x99, 0x99 };
    assert_int_equal(net_backend_send(c->nb, f, frame(f, nobody, c->mac, 4)), 0);
    assert_int_equal(port_wait(a, 2, WAIT_MS), 2);
    assert_int_equal(port_wait(b, 3, WAIT_MS), 3);

    port_close(a);
    port_close(b);
    port_close(c);
    assert_int_equal(count_sockets(), 0); /* each port removes its socket */
}

/* The table holds 256 MACs: the least recently seen makes room, and a forgotten MAC is
 * flooded again while a remembered one still goes to its port alone. */
static void test_switch_learning_table_forgets_the_oldest(void **state)
{
    struct port *a = port_open("52:54:00:00:00:0a"), *b = port_open("52:54:00:00:00:0b"),
                *c = port_open("52:54:00:00:00:0c");
    uint8_t f[60], mac[6] = { 0x02, 0, 0, 0, 0, 0 };
    for (unsigned i = 0; i < 300; i++) { /* one at a time: a's queue holds only a few */
        mac[4] = (uint8_t)(i >> 8), mac[5] = (uint8_t)i;
        assert_int_equal(net_backend_send(b->nb, f, frame(f, a->mac, mac, 0)), 0);
        assert_int_equal(port_wait(a, i + 1, WAIT_MS), i + 1);
    }
    unsigned c_saw = port_wait(c, 1000, QUIET_MS); /* the first frames, flooded before b knew a */
    mac[4] = 0, mac[5] = 200;
    assert_int_equal(net_backend_send(a->nb, f, frame(f, mac, a->mac, 1)), 0);
    assert_int_equal(port_wait(b, 1, WAIT_MS), 1);
    assert_int_equal(port_wait(c, c_saw + 1, QUIET_MS), c_saw);
    mac[5] = 0;
    assert_int_equal(net_backend_send(a->nb, f, frame(f, mac, a->mac, 2)), 0);
    assert_int_equal(port_wait(b, 2, WAIT_MS), 2);
    assert_int_equal(port_wait(c, c_saw + 1, WAIT_MS), c_saw + 1);
    port_close(a);
    port_close(b);
    port_close(c);
}

static void test_switch_port_without_peers_drops_quietly(void **state)
{
    struct port *a = port_open(NULL);
    uint8_t f[60];
    assert_int_equal(net_backend_send(a->nb, f, frame(f, bcast, a->mac, 1)), 0);
    assert_int_equal(net_backend_send(a->nb, f, frame(f, (uint8_t[6]){ 2, 0, 0, 0, 0, 1 },
                                                       a->mac, 2)), 0);
    struct net_stats st;
    net_backend_stats(a->nb, &st);
    assert_int_equal(st.tx_frames, 2);
    assert_int_equal(st.tx_dropped, 0);
    port_close(a);
}

static void test_switch_default_macs_differ(void **state)
{
    struct port *a = port_open(NULL), *b = port_open(NULL);
    assert_memory_equal(a->mac, ((uint8_t[3]){ 0x52, 0x54, 0x00 }), 3);
    assert_memory_not_equal(a->mac, b->mac, 6);
    port_close(a);
    port_close(b);
}

/* A socket file left by a process that is gone: bound, then closed without unlink. */
static void make_stale_socket(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    assert_true(snprintf(a.sun_path, sizeof(a.sun_path), "%s", path) < (int)sizeof(a.sun_path));
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    close(fd);
}

static void test_switch_removes_stale_sockets(void **state)
{
    struct port *a = port_open("52:54:00:00:00:0a");
    char stale[256];
    snprintf(stale, sizeof(stale), "%s/525400000099-1-0.sock", dir);
    make_stale_socket(stale);
    struct stat st;
    assert_int_equal(stat(stale, &st), 0);
    uint8_t f[60];
    assert_int_equal(net_backend_send(a->nb, f, frame(f, bcast, a->mac, 1)), 0);
    assert_int_equal(stat(stale, &st), -1); /* found by the flood and removed */
    assert_int_equal(errno, ENOENT);
    port_close(a);
}

static void test_switch_drops_giants_and_strangers(void **state)
{
    struct port *a = port_open("52:54:00:00:00:0a");
    struct sockaddr_un to = { .sun_family = AF_UNIX };
    DIR *d = opendir(dir);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".sock"))
            assert_true(snprintf(to.sun_path, sizeof(to.sun_path), "%s/%s", dir, de->d_name) <
                        (int)sizeof(to.sun_path));
    closedir(d);

    /* a sender bound in the switch's dir, but with a giant, then a runt */
    struct sockaddr_un me = { .sun_family = AF_UNIX };
    assert_true(snprintf(me.sun_path, sizeof(me.sun_path), "%s/tester.sock", dir) <
                (int)sizeof(me.sun_path));
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&me, sizeof(me)), 0);
    int size = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    uint8_t *big = calloc(1, NET_FRAME_MAX + 1);
    assert_int_equal(sendto(fd, big, NET_FRAME_MAX + 1, 0, (struct sockaddr *)&to, sizeof(to)),
                     NET_FRAME_MAX + 1);
    assert_int_equal(sendto(fd, big, 10, 0, (struct sockaddr *)&to, sizeof(to)), 10);
    /* the largest frame passes */
    frame(big, a->mac, (uint8_t[6]){ 2, 0, 0, 0, 0, 1 }, 7);
    assert_int_equal(sendto(fd, big, NET_FRAME_MAX, 0, (struct sockaddr *)&to, sizeof(to)),
                     NET_FRAME_MAX);
    assert_int_equal(port_wait(a, 1, WAIT_MS), 1);
    assert_int_equal(a->last_len, NET_FRAME_MAX);
    close(fd);
    unlink(me.sun_path);

    /* a sender outside the dir is not on the switch */
    fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    uint8_t f[60];
    assert_int_equal(sendto(fd, f, frame(f, a->mac, (uint8_t[6]){ 2, 0, 0, 0, 0, 2 }, 8), 0,
                            (struct sockaddr *)&to, sizeof(to)), 60);
    close(fd);
    assert_int_equal(port_wait(a, 2, QUIET_MS), 1);
    struct net_stats st;
    net_backend_stats(a->nb, &st);
    assert_int_equal(st.rx_dropped, 3);
    free(big);
    port_close(a);
}

/* A peer whose guest takes nothing: its queue fills, and the sender drops and counts
 * instead of waiting. When the guest takes frames again, the held one comes first. */
static void test_switch_full_peer_drops_without_blocking(void **state)
{
    struct port *a = port_open("52:54:00:00:00:0a"), *b = port_open("52:54:00:00:00:0b");
    uint8_t f[60];
    pthread_mutex_lock(&b->lock);
    b->refuse = true;
    pthread_mutex_unlock(&b->lock);
    int full = 0, last_taken = -1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 2000; i++) {
        int r = net_backend_send(a->nb, f, frame(f, bcast, a->mac, (uint8_t)i));
        assert_true(r == 0 || r == -ENOBUFS);
        full += r == -ENOBUFS;
        last_taken = r ? last_taken : i;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(full > 0);
    assert_true(t1.tv_sec - t0.tv_sec < 2);
    struct net_stats st;
    net_backend_stats(a->nb, &st);
    assert_int_equal(st.tx_dropped, (uint64_t)full);
    assert_int_equal(st.tx_frames + st.tx_dropped, 2000);

    pthread_mutex_lock(&b->lock);
    b->refuse = false;
    pthread_mutex_unlock(&b->lock);
    net_backend_rx_ready(b->nb);
    assert_true(port_wait(b, 2000 - (unsigned)full, WAIT_MS) == 2000 - (unsigned)full);
    assert_int_equal(b->last[14], (uint8_t)last_taken); /* in order, none lost after taking */
    port_close(a);
    port_close(b);
}

static void expect_error(const char *spec, const char *msg)
{
    char err[256] = "";
    struct net_backend *nb = (struct net_backend *)0x1;
    if (net_backend_open(spec, 0, port_rx, NULL, &nb, err, sizeof(err)) >= 0)
        fail_msg("spec '%s' was accepted", spec);
    assert_ptr_equal(nb, (struct net_backend *)0x1);
    assert_string_equal(err, msg);
}

static void test_switch_bad_specs_give_one_line_errors(void **state)
{
    static const char bad_name[] = "1 to 32 of A-Z a-z 0-9 _ . -, not starting with '.'";
    char want[256];
    static const char *const names[] = { ".hidden", "a/b", "", "a b", "x*",
                                         "abcdefghijklmnopqrstuvwxyz0123456" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char spec[256];
        snprintf(spec, sizeof(spec), "switch,name=%s,dir=/tmp/x", names[i]);
        snprintf(want, sizeof(want), "--net: bad switch name '%s': %s", names[i], bad_name);
        expect_error(spec, want);
    }
    expect_error("switch,name=t", "--net: switch needs name=NAME and dir=DIR");
    expect_error("switch,dir=/tmp/x", "--net: switch needs name=NAME and dir=DIR");
    expect_error("switch,name=t,dir=relative", "--net: bad switch dir 'relative': an absolute "
                 "path of at most 72 characters");
    expect_error("switch,name=t,dir=/tmp/x,hostfwd=tcp::1-:2",
                 "--net: option 'hostfwd' is not valid for switch");
    expect_error("user,name=t", "--net: option 'name' is not valid for user");
    expect_error("switch,name=t,dir=/etc/passwd/x",
                 "--net: switch: cannot make '/etc/passwd/x': Not a directory");
}

static void test_switch_refuses_a_dir_others_may_write(void **state)
{
    char open_dir[160], spec[256], want[300], err[256] = "";
    snprintf(open_dir, sizeof(open_dir), "%s/open", dir);
    assert_int_equal(mkdir(open_dir, 0700), 0);
    assert_int_equal(chmod(open_dir, 0777), 0);
    snprintf(spec, sizeof(spec), "switch,name=t,dir=%s", open_dir);
    snprintf(want, sizeof(want), "--net: switch: '%s' must belong to you and be writable by "
             "no one else", open_dir);
    struct net_backend *nb;
    assert_int_equal(net_backend_open(spec, 0, port_rx, NULL, &nb, err, sizeof(err)), -EPERM);
    assert_string_equal(err, want);
    rmdir(open_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_switch_floods_broadcast_and_learns_unicast),
        cmocka_unit_test(test_switch_learning_table_forgets_the_oldest),
        cmocka_unit_test(test_switch_port_without_peers_drops_quietly),
        cmocka_unit_test(test_switch_default_macs_differ),
        cmocka_unit_test(test_switch_removes_stale_sockets),
        cmocka_unit_test(test_switch_drops_giants_and_strangers),
        cmocka_unit_test(test_switch_full_peer_drops_without_blocking),
        cmocka_unit_test(test_switch_bad_specs_give_one_line_errors),
        cmocka_unit_test(test_switch_refuses_a_dir_others_may_write),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
