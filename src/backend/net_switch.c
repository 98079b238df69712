/* The "switch" network backend: a virtual Ethernet switch with no switch process. Each port
 * (one per VM NIC) is a unix datagram socket DIR/<port>.sock, one datagram per frame. A port
 * learns behind which port a source MAC sits from the frames it receives (recvfrom names the
 * sender), sends a frame for a learned MAC to that port alone, and floods the others to every
 * *.sock in DIR. Like a wire, a full peer drops the frame: nothing here waits for a peer.
 * A port's queue is the kernel's: net.unix.max_dgram_qlen datagrams (10 by default), within
 * the sender's SO_SNDBUF; TCP between guests rides over the drops of a burst. */
#include <dirent.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "backend/net_impl.h"
#include "corral/log.h"

#define SW_LEARN_MAX 256       /* learned MACs per port; the least recently seen goes first */
#define SW_LEARN_AGE_MS 300000 /* unseen this long, a MAC is unknown again (802.1D's 300 s) */
#define SW_FLOOD_MAX 256       /* ports a flooded frame goes to, at most */
#define SW_READS_PER_TURN 64   /* frames received before looking at the wake fd again */
#define SW_SOCK_BUF (4 << 20)  /* asked for; the kernel caps it at net.core.[rw]mem_max */
#define SW_SUFFIX ".sock"
#define SW_PORT_NAME_MAX 32    /* "<mac>-<pid>-<n>.sock" and the NUL */

struct sw_learned {
    uint8_t mac[6];
    bool used;
    int64_t seen;                  /* monotonic milliseconds */
    char port[SW_PORT_NAME_MAX];   /* the port's file name in dir */
};

struct net_switch {
    struct net_backend nb; /* first: net.c sees only this */
    int fd;
    bool bound;            /* our socket file exists: unlink it on close */
    char dir[NET_SWITCH_DIR_MAX + 1];
    char self[SW_PORT_NAME_MAX];
    pthread_mutex_t lock;  /* the table: learned on the thread, looked up by send */
    struct sw_learned table[SW_LEARN_MAX];
    struct net_held held;  /* buf holds a frame the guest had no room for */
    uint8_t buf[NET_FRAME_MAX + 1];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool sw_path(const struct net_switch *s, const char *port, struct sockaddr_un *a)
{
    memset(a, 0, sizeof(*a));
    a->sun_family = AF_UNIX;
    int n = snprintf(a->sun_path, sizeof(a->sun_path), "%s/%s", s->dir, port);
    return n > 0 && (size_t)n < sizeof(a->sun_path);
}

/* A port's file name: "*.sock", no '/', not hidden, short enough for the table. */
static bool sw_port_name_ok(const char *name, size_t n)
{
    size_t sl = strlen(SW_SUFFIX);
    return n > sl && n < SW_PORT_NAME_MAX && name[0] != '.' && !memchr(name, '/', n) &&
           !memcmp(name + n - sl, SW_SUFFIX, sl);
}

/* ---- the learning table */

static struct sw_learned *sw_find(struct net_switch *s, const uint8_t mac[6])
{
    for (unsigned i = 0; i < SW_LEARN_MAX; i++)
        if (s->table[i].used && !memcmp(s->table[i].mac, mac, 6))
            return &s->table[i];
    return NULL;
}

static void sw_learn(struct net_switch *s, const uint8_t mac[6], const char *port)
{
    int64_t now = now_ms();
    pthread_mutex_lock(&s->lock);
    struct sw_learned *e = sw_find(s, mac);
    for (unsigned i = 0; !e && i < SW_LEARN_MAX; i++) {
        struct sw_learned *t = &s->table[i];
        if (!t->used || now - t->seen > SW_LEARN_AGE_MS)
            e = t;
    }
    if (!e) { /* full of fresh entries: the least recently seen makes room */
        e = &s->table[0];
        for (unsigned i = 1; i < SW_LEARN_MAX; i++)
            if (s->table[i].seen < e->seen)
                e = &s->table[i];
    }
    e->used = true;
    memcpy(e->mac, mac, 6);
    e->seen = now;
    snprintf(e->port, sizeof(e->port), "%s", port);
    pthread_mutex_unlock(&s->lock);
}

/* The port behind mac, copied into port; false when unknown or aged out. */
static bool sw_lookup(struct net_switch *s, const uint8_t mac[6], char port[SW_PORT_NAME_MAX])
{
    pthread_mutex_lock(&s->lock);
    struct sw_learned *e = sw_find(s, mac);
    bool hit = e && now_ms() - e->seen <= SW_LEARN_AGE_MS;
    if (hit)
        memcpy(port, e->port, SW_PORT_NAME_MAX);
    pthread_mutex_unlock(&s->lock);
    return hit;
}

static void sw_forget_port(struct net_switch *s, const char *port)
{
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < SW_LEARN_MAX; i++)
        if (s->table[i].used && !strcmp(s->table[i].port, port))
            s->table[i].used = false;
    pthread_mutex_unlock(&s->lock);
}

/* ---- sending: from the device's thread (and from rx callbacks on ours) */

/* One frame to one port. A port whose owner is gone (ECONNREFUSED: the file is there, the
 * socket is not) is unlinked here, by whoever finds it first. */
static int sw_send_to(struct net_switch *s, const char *port, const uint8_t *frame, size_t len)
{
    struct sockaddr_un a;
    if (!sw_path(s, port, &a))
        return -ENAMETOOLONG;
    ssize_t n;
    do
        n = sendto(s->fd, frame, len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&a,
                   sizeof(a));
    while (n < 0 && errno == EINTR);
    if (n >= 0)
        return 0;
    int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS)
        return -ENOBUFS; /* the peer's queue is full: dropped, as a wire would */
    if (e == ECONNREFUSED) {
        LOG_DEBUG("net switch: removing stale port %s", a.sun_path);
        unlink(a.sun_path);
    }
    if (e == ECONNREFUSED || e == ENOENT)
        sw_forget_port(s, port);
    return -e;
}

/* To every port in dir but ours. Returns 0 unless every port there refused it for lack of
 * room: no port at all is a cable to nowhere, not an error. */
static int sw_flood(struct net_switch *s, const uint8_t *frame, size_t len)
{
    DIR *d = opendir(s->dir);
    if (!d)
        return -errno;
    unsigned sent = 0, full = 0;
    struct dirent *de;
    while ((de = readdir(d)) && sent + full < SW_FLOOD_MAX) {
        size_t n = strlen(de->d_name);
        if ((de->d_type != DT_SOCK && de->d_type != DT_UNKNOWN) ||
            !sw_port_name_ok(de->d_name, n) || !strcmp(de->d_name, s->self))
            continue;
        int r = sw_send_to(s, de->d_name, frame, len);
        if (!r)
            sent++;
        else if (r == -ENOBUFS)
            full++;
    }
    closedir(d);
    return full && !sent ? -ENOBUFS : 0;
}

static int switch_send(struct net_backend *nb, const uint8_t *frame, size_t len)
{
    struct net_switch *s = (struct net_switch *)nb;
    char port[SW_PORT_NAME_MAX];
    if (!(frame[0] & 1) && sw_lookup(s, frame, port)) {
        int r = sw_send_to(s, port, frame, len);
        if (r != -ECONNREFUSED && r != -ENOENT)
            return r;
        /* the port is gone: the MAC may have moved, ask everyone */
    }
    return sw_flood(s, frame, len);
}

/* ---- receiving: the backend thread */

/* The sender's port name if it is a port of our switch (a socket file right in dir). */
static const char *sw_sender(const struct net_switch *s, const struct sockaddr_un *a,
                             socklen_t alen)
{
    size_t off = offsetof(struct sockaddr_un, sun_path), dl = strlen(s->dir);
    if (alen <= off + dl + 1)
        return NULL;
    size_t n = strnlen(a->sun_path, alen - off);
    if (n <= dl + 1 || memcmp(a->sun_path, s->dir, dl) || a->sun_path[dl] != '/')
        return NULL;
    const char *port = a->sun_path + dl + 1;
    return sw_port_name_ok(port, n - dl - 1) ? port : NULL;
}

static void sw_read_frames(struct net_switch *s)
{
    for (int i = 0; i < SW_READS_PER_TURN; i++) {
        struct sockaddr_un a;
        socklen_t alen = sizeof(a);
        memset(&a, 0, sizeof(a));
        ssize_t n = recvfrom(s->fd, s->buf, sizeof(s->buf), MSG_DONTWAIT | MSG_TRUNC,
                             (struct sockaddr *)&a, &alen);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return;
        const char *port = sw_sender(s, &a, alen);
        if (n < 14 || n > NET_FRAME_MAX || !port) {
            atomic_fetch_add(&s->nb.rx_dropped, 1); /* a runt, a giant, or not one of ours */
            continue;
        }
        if (!(s->buf[6] & 1))
            sw_learn(s, s->buf + 6, port);
        if (!net_offer(&s->nb, &s->held, s->buf, (size_t)n))
            return;
    }
}

static void *switch_thread(void *arg)
{
    struct net_switch *s = arg;
    while (!atomic_load(&s->nb.stop)) {
        net_retry_held(&s->nb, &s->held, s->buf);
        struct pollfd p[2] = {
            { .fd = s->nb.wake_fd, .events = POLLIN },
            { .fd = s->fd, .events = s->held.on ? 0 : POLLIN },
        };
        if (poll(p, 2, -1) < 0)
            continue;
        if (p[0].revents)
            net_wake_drain(s->nb.wake_fd);
        if (!s->held.on && (p[1].revents & POLLIN))
            sw_read_frames(s);
    }
    return NULL;
}

/* ---- open and close */

static void switch_destroy(struct net_backend *nb)
{
    struct net_switch *s = (struct net_switch *)nb;
    struct sockaddr_un a;
    if (s->bound && sw_path(s, s->self, &a))
        unlink(a.sun_path);
    if (s->fd >= 0)
        close(s->fd);
    pthread_mutex_destroy(&s->lock);
    net_backend_fini_head(&s->nb);
    free(s);
}

static const struct net_backend_ops switch_ops = {
    .thread = switch_thread,
    .send = switch_send,
    .destroy = switch_destroy,
};

/* mkdir -p with mode 0700, then insist on a directory of ours that nobody else may write:
 * anyone who can put a socket in it is on the switch. */
static int sw_make_dir(const char *dir, char *err, size_t errlen)
{
    char p[NET_SWITCH_DIR_MAX + 1];
    snprintf(p, sizeof(p), "%s", dir);
    for (char *c = p + 1;; c++) {
        if (*c != '/' && *c != '\0')
            continue;
        char was = *c;
        *c = '\0';
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
            return net_err(err, errlen, -errno, "switch: cannot make '%s': %s", p,
                           strerror(errno));
        *c = was;
        if (!was)
            break;
    }
    struct stat st;
    if (stat(dir, &st) < 0)
        return net_err(err, errlen, -errno, "switch: '%s': %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return net_err(err, errlen, -ENOTDIR, "switch: '%s' is not a directory", dir);
    if (st.st_uid != geteuid() || (st.st_mode & 022))
        return net_err(err, errlen, -EPERM, "switch: '%s' must belong to you and be writable "
                       "by no one else", dir);
    return 0;
}

/* Is the socket at path a leftover of a process that is gone? */
static bool sw_stale(const struct sockaddr_un *a)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool stale = connect(fd, (const struct sockaddr *)a, sizeof(*a)) < 0 &&
                 errno == ECONNREFUSED;
    close(fd);
    return stale;
}

static int sw_bind(struct net_switch *s, char *err, size_t errlen)
{
    static atomic_uint ports;
    const uint8_t *m = s->nb.mac;
    /* pid_max is at most 2^22: six hex digits name the process */
    snprintf(s->self, sizeof(s->self), "%02x%02x%02x%02x%02x%02x-%x-%x" SW_SUFFIX, m[0], m[1],
             m[2], m[3], m[4], m[5], (unsigned)getpid() & 0xffffffu,
             atomic_fetch_add(&ports, 1) & 0xfffu);
    struct sockaddr_un a;
    if (!sw_path(s, s->self, &a))
        return net_err(err, errlen, -ENAMETOOLONG, "switch: dir '%s' is too long", s->dir);
    s->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s->fd < 0)
        return net_err(err, errlen, -errno, "switch: socket: %s", strerror(errno));
    int size = SW_SOCK_BUF;
    setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    int r = bind(s->fd, (struct sockaddr *)&a, sizeof(a));
    if (r < 0 && errno == EADDRINUSE && sw_stale(&a)) {
        unlink(a.sun_path);
        r = bind(s->fd, (struct sockaddr *)&a, sizeof(a));
    }
    if (r < 0)
        return net_err(err, errlen, -errno, "switch: cannot bind '%s': %s", a.sun_path,
                       strerror(errno));
    s->bound = true;
    return 0;
}

static int switch_open(const struct net_opts *o, const struct net_backend *head,
                       struct net_backend **out, char *err, size_t errlen)
{
    if ((o->seen & (NET_OPT_NAME | NET_OPT_DIR)) != (NET_OPT_NAME | NET_OPT_DIR))
        return net_err(err, errlen, -EINVAL, "switch needs name=NAME and dir=DIR");
    struct net_switch *s = calloc(1, sizeof(*s));
    if (!s)
        return net_err(err, errlen, -ENOMEM, "out of memory");
    s->fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    snprintf(s->dir, sizeof(s->dir), "%s", o->dir);
    int r = net_backend_init_head(&s->nb, head, &switch_ops);
    if (r) {
        net_err(err, errlen, r, "switch: eventfd: %s", strerror(-r));
        goto fail;
    }
    /* Every VM's first NIC would be 52:54:00:12:34:56, which on a shared segment is a clash. */
    if (!(o->seen & NET_OPT_MAC) && getrandom(s->nb.mac + 3, 3, 0) != 3) {
        r = net_err(err, errlen, -EIO, "switch: getrandom: %s", strerror(errno));
        goto fail;
    }
    r = sw_make_dir(s->dir, err, errlen);
    if (!r)
        r = sw_bind(s, err, errlen);
    if (r)
        goto fail;
    *out = &s->nb;
    return 0;
fail:
    switch_destroy(&s->nb);
    return r;
}

const struct net_kind net_kind_switch = {
    .name = "switch",
    .opts = NET_OPT_MAC | NET_OPT_NAME | NET_OPT_DIR,
    .open = switch_open,
};
