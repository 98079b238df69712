/* The background VM's serial console: a capped log, a replay ring and up to HUB_CLIENTS
 * attached terminals. Output never blocks a hart: a client that cannot keep up loses
 * output (counted), it does not stall the guest. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hosted/console_hub.h"
#include "hosted/vm.h"

#define HUB_CLIENTS 4
#define RING_SIZE (64 * 1024)
#define LOG_CAP (16 * MiB) /* then the log starts again: a chatty guest cannot fill the disk */

struct console_hub {
    pthread_mutex_t lock;  /* ring, log and the client list against hart threads */
    int log_fd, listen_fd;
    char sock_path[108];
    uint64_t log_size;
    uint8_t ring[RING_SIZE];
    uint64_t ring_total;   /* bytes ever written; the ring holds the last RING_SIZE */
    int clients[HUB_CLIENTS];
    uint8_t pending[256];  /* input waiting for room in the UART */
    size_t npending;
    int pending_from;
};

int hub_open(struct console_hub **out, const char *log_path, const char *sock_path, char *err,
             size_t errlen)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(sock_path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "console socket path '%s' is too long", sock_path);
        return -ENAMETOOLONG;
    }
    struct console_hub *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    pthread_mutex_init(&h->lock, NULL);
    for (int i = 0; i < HUB_CLIENTS; i++)
        h->clients[i] = -1;
    h->log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    snprintf(h->sock_path, sizeof(h->sock_path), "%s", sock_path);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
    unlink(sock_path);
    h->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (h->log_fd < 0 || h->listen_fd < 0 || bind(h->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
        listen(h->listen_fd, 4)) {
        snprintf(err, errlen, "cannot set up the console (%s): %s", h->log_fd < 0 ? log_path : sock_path,
                 strerror(errno));
        hub_close(h);
        return -EIO;
    }
    chmod(sock_path, 0600);
    /* hub_write runs on hart threads, whose seccomp list has write() but no socket calls:
     * a client gone away must be an EPIPE there, not a signal */
    signal(SIGPIPE, SIG_IGN);
    struct stat st;
    if (!fstat(h->log_fd, &st))
        h->log_size = (uint64_t)st.st_size;
    *out = h;
    return 0;
}

void hub_close(struct console_hub *h)
{
    if (!h)
        return;
    for (int i = 0; i < HUB_CLIENTS; i++)
        if (h->clients[i] >= 0)
            close(h->clients[i]);
    if (h->listen_fd >= 0) {
        close(h->listen_fd);
        unlink(h->sock_path);
    }
    if (h->log_fd >= 0)
        close(h->log_fd);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

static void drop_client(struct console_hub *h, int i)
{
    close(h->clients[i]);
    h->clients[i] = -1;
    if (h->pending_from == i)
        h->npending = 0;
}

long hub_write(void *ctx, const uint8_t *buf, size_t len)
{
    struct console_hub *h = ctx;
    pthread_mutex_lock(&h->lock);
    if (h->log_size + len > LOG_CAP && !ftruncate(h->log_fd, 0))
        h->log_size = 0;
    if (write(h->log_fd, buf, len) > 0)
        h->log_size += len;
    for (size_t i = 0; i < len; i++)
        h->ring[(h->ring_total + i) % RING_SIZE] = buf[i];
    h->ring_total += len;
    for (int i = 0; i < HUB_CLIENTS; i++) {
        if (h->clients[i] < 0)
            continue;
        /* write, not send: hart threads call this, and their filter allows writes only. The
         * socket is non-blocking (accept4) and SIGPIPE is ignored; a client gone away is closed
         * by the event loop, which sees its hang-up: a hart thread may not close() */
        (void)!write(h->clients[i], buf, len);
    }
    pthread_mutex_unlock(&h->lock);
    return (long)len;
}

static void accept_client(struct console_hub *h)
{
    int fd = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    pthread_mutex_lock(&h->lock);
    int slot = -1;
    for (int i = 0; i < HUB_CLIENTS && slot < 0; i++)
        if (h->clients[i] < 0)
            slot = i;
    if (slot < 0) {
        static const char full[] = "corral: too many consoles attached\r\n";
        send(fd, full, sizeof(full) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        close(fd);
    } else {
        /* replay the recent output: the older part of the ring first */
        uint64_t have = h->ring_total < RING_SIZE ? h->ring_total : RING_SIZE;
        uint64_t start = (h->ring_total - have) % RING_SIZE;
        uint64_t first = have < RING_SIZE - start ? have : RING_SIZE - start;
        send(fd, h->ring + start, first, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (have > first)
            send(fd, h->ring, have - first, MSG_DONTWAIT | MSG_NOSIGNAL);
        h->clients[slot] = fd;
    }
    pthread_mutex_unlock(&h->lock);
}

unsigned hub_pollfds(struct console_hub *h, struct pollfd *p, unsigned max)
{
    unsigned n = 0;
    if (max > n)
        p[n++] = (struct pollfd){ h->listen_fd, POLLIN, 0 };
    for (int i = 0; i < HUB_CLIENTS && n < max; i++)
        p[n++] = (struct pollfd){ h->npending ? -1 : h->clients[i], POLLIN, 0 };
    return n;
}

bool hub_service(struct console_hub *h, const struct pollfd *p, unsigned n, struct vm *vm)
{
    if (n > 0 && (p[0].revents & POLLIN))
        accept_client(h);
    for (int i = 0; i < HUB_CLIENTS && (unsigned)i + 1 < n; i++) {
        if (!p[i + 1].revents || h->clients[i] < 0 || p[i + 1].fd != h->clients[i])
            continue;
        ssize_t got = recv(h->clients[i], h->pending, sizeof(h->pending), MSG_DONTWAIT);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
            pthread_mutex_lock(&h->lock);
            drop_client(h, i);
            pthread_mutex_unlock(&h->lock);
        } else if (got > 0) {
            h->npending = (size_t)got;
            h->pending_from = i;
            break; /* one client's bytes at a time, in order */
        }
    }
    if (h->npending) {
        size_t took = vm && vm_state(vm) != VM_CREATED ? vm_console_input(vm, h->pending, h->npending)
                                                      : h->npending;
        memmove(h->pending, h->pending + took, h->npending - took);
        h->npending -= took;
    }
    return h->npending != 0;
}
