/* The thread a virtio device model works its queues on (worker.h). */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "dev/virtio/worker.h"

int virtio_worker_init(struct virtio_worker *w, void *(*fn)(void *), void *arg)
{
    w->running = w->stop = false;
    w->cutting_in = 0;
    w->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->kick_fd < 0)
        return -1;
    pthread_mutex_init(&w->lock, NULL);
    if (pthread_create(&w->thread, NULL, fn, arg)) {
        close(w->kick_fd);
        pthread_mutex_destroy(&w->lock);
        return -1;
    }
    return 0;
}

void virtio_worker_kick(struct virtio_worker *w)
{
    uint64_t one = 1;
    if (write(w->kick_fd, &one, sizeof(one)) < 0) {
        /* an eventfd write fails only on counter overflow: a kick is pending anyway */
    }
}

bool virtio_worker_take_kick(struct virtio_worker *w)
{
    uint64_t n;
    return read(w->kick_fd, &n, sizeof(n)) >= 0 || errno == EAGAIN;
}

bool virtio_worker_wait(struct virtio_worker *w, uint64_t timeout_ns)
{
    struct pollfd p = { w->kick_fd, POLLIN, 0 };
    struct timespec ts = { (time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u) };
    bool forever = timeout_ns == VIRTIO_WORKER_FOREVER;
    if (ppoll(&p, 1, forever ? NULL : &ts, NULL) < 0 && errno != EINTR)
        return false;
    return virtio_worker_take_kick(w);
}

/* The thread sees the count, ends its pass, and stands back. */
void virtio_worker_lock_cut_in(struct virtio_worker *w)
{
    __atomic_add_fetch(&w->cutting_in, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&w->lock);
    __atomic_sub_fetch(&w->cutting_in, 1, __ATOMIC_SEQ_CST);
}

bool virtio_worker_cut_in_wanted(struct virtio_worker *w)
{
    return __atomic_load_n(&w->cutting_in, __ATOMIC_SEQ_CST) != 0;
}

void virtio_worker_let_in(struct virtio_worker *w)
{
    /* bounded: each waiter leaves the count as soon as it holds the lock, which we do not */
    while (virtio_worker_cut_in_wanted(w))
        sched_yield();
}

void virtio_worker_set_running(struct virtio_worker *w, bool running)
{
    virtio_worker_lock_cut_in(w);
    w->running = running;
    pthread_mutex_unlock(&w->lock);
    if (running)
        virtio_worker_kick(w);
}

void virtio_worker_destroy(struct virtio_worker *w)
{
    virtio_worker_lock_cut_in(w);
    w->stop = true;
    pthread_mutex_unlock(&w->lock);
    virtio_worker_kick(w);
    pthread_join(w->thread, NULL);
    close(w->kick_fd);
    pthread_mutex_destroy(&w->lock);
}
