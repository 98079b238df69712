/* The thread a virtio device model works its queues on: woken through an eventfd by queue
 * notifies, start and stop; holding `lock` while it works, so that a reset that takes the
 * lock knows the thread is out of the queues. */
#ifndef CORRAL_VIRTIO_WORKER_H
#define CORRAL_VIRTIO_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct virtio_worker {
    int kick_fd;            /* eventfd: a queue was notified, or stop */
    pthread_t thread;
    pthread_mutex_t lock;   /* held while the thread works the queues */
    bool running;           /* DRIVER_OK and not reset (under lock) */
    bool stop;              /* the thread leaves at its next wake-up (under lock) */
    int cutting_in;         /* threads waiting for the lock to stop or reset (atomic) */
};

/* Makes the eventfd and the lock and starts fn(arg); 0, or -1 with nothing left behind. */
int virtio_worker_init(struct virtio_worker *w, void *(*fn)(void *), void *arg);
/* Wakes the thread (any thread). */
void virtio_worker_kick(struct virtio_worker *w);
/* In the thread: waits for a kick, or TIMEOUT_NS nanoseconds (VIRTIO_WORKER_FOREVER: no
 * timeout), and consumes the kicks. False if the eventfd failed and the thread should end. */
#define VIRTIO_WORKER_FOREVER UINT64_MAX
bool virtio_worker_wait(struct virtio_worker *w, uint64_t timeout_ns);
/* In the thread, after poll() saw kick_fd readable: consumes the kicks. False if the
 * eventfd failed and the thread should end. */
bool virtio_worker_take_kick(struct virtio_worker *w);
/* Sets running under the lock (waiting for the thread to finish what it is doing); a start
 * also wakes the thread. */
void virtio_worker_set_running(struct virtio_worker *w, bool running);
/* Takes the lock ahead of the thread, as a stop or reset does (the thread sees it wanted and
 * stands back); the caller unlocks w->lock. */
void virtio_worker_lock_cut_in(struct virtio_worker *w);
/* In the thread, while it works: whether a stop or reset waits for the lock. The thread
 * should then finish the request in hand and release the lock. */
bool virtio_worker_cut_in_wanted(struct virtio_worker *w);
/* In the thread, before it takes the lock again: lets a waiting stop or reset have it first
 * (a mutex is not fair: the thread that just released it may win it back). */
void virtio_worker_let_in(struct virtio_worker *w);
/* Stops and joins the thread, then frees the eventfd and the lock. */
void virtio_worker_destroy(struct virtio_worker *w);

#endif
