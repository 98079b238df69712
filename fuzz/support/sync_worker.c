/* The virtio worker API (dev/virtio/worker.h) without threads, for fuzz targets: a kick only
 * counts, and fuzz_workers_run() then runs each kicked worker's thread function on the
 * caller's thread for one pass, so that an input always does the same thing. A pass is one
 * trip round the function's loop: its first wait returns a kick, the next ends the function,
 * and a loop that polls kick_fd instead (which stays readable) is sent out at its second
 * let_in through the stop flag. A timed wait counts as a kick: the next run comes back. */
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "dev/virtio/worker.h"
#include "support/sync_worker.h"

#define SLOTS 8

struct slot {
    struct virtio_worker *w;
    void *(*fn)(void *);
    void *arg;
    unsigned kicks, waits, let_ins;
    bool in_pass;
};

static struct slot slots[SLOTS];

static struct slot *slot_of(struct virtio_worker *w)
{
    for (unsigned i = 0; i < SLOTS; i++)
        if (slots[i].w == w)
            return &slots[i];
    __builtin_trap(); /* a worker that was never made */
}

int virtio_worker_init(struct virtio_worker *w, void *(*fn)(void *), void *arg)
{
    struct slot *s = NULL;
    for (unsigned i = 0; i < SLOTS && !s; i++)
        if (!slots[i].w)
            s = &slots[i];
    if (!s)
        return -1;
    w->running = w->stop = false;
    w->cutting_in = 0;
    w->kick_fd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK); /* always readable, never read */
    if (w->kick_fd < 0)
        return -1;
    pthread_mutex_init(&w->lock, NULL);
    *s = (struct slot){ w, fn, arg, 0, 0, 0, false };
    return 0;
}

void virtio_worker_kick(struct virtio_worker *w) { slot_of(w)->kicks++; }

bool virtio_worker_take_kick(struct virtio_worker *w)
{
    (void)w;
    return true;
}

bool virtio_worker_wait(struct virtio_worker *w, uint64_t timeout_ns)
{
    struct slot *s = slot_of(w);
    if (!s->in_pass)
        __builtin_trap(); /* only the worker's own function waits */
    if (s->waits++ == 0)
        return true;
    if (timeout_ns != VIRTIO_WORKER_FOREVER)
        s->kicks++; /* it wants to come back: next run */
    return false;
}

void virtio_worker_lock_cut_in(struct virtio_worker *w) { pthread_mutex_lock(&w->lock); }

bool virtio_worker_cut_in_wanted(struct virtio_worker *w)
{
    (void)w;
    return false; /* nobody else runs */
}

void virtio_worker_let_in(struct virtio_worker *w)
{
    struct slot *s = slot_of(w);
    if (s->in_pass && ++s->let_ins >= 2)
        w->stop = true;
}

void virtio_worker_set_running(struct virtio_worker *w, bool running)
{
    pthread_mutex_lock(&w->lock);
    w->running = running;
    pthread_mutex_unlock(&w->lock);
    if (running)
        virtio_worker_kick(w);
}

void virtio_worker_destroy(struct virtio_worker *w)
{
    struct slot *s = slot_of(w);
    close(w->kick_fd);
    pthread_mutex_destroy(&w->lock);
    *s = (struct slot){ 0 };
}

void fuzz_workers_wake(void)
{
    for (unsigned i = 0; i < SLOTS; i++)
        if (slots[i].w)
            slots[i].kicks++;
}

unsigned fuzz_workers_run(unsigned max_passes)
{
    unsigned passes = 0;
    for (bool any = true; any && passes < max_passes;) {
        any = false;
        for (unsigned i = 0; i < SLOTS && passes < max_passes; i++) {
            struct slot *s = &slots[i];
            if (!s->w || !s->kicks)
                continue;
            any = true;
            passes++;
            s->kicks = s->waits = s->let_ins = 0;
            s->in_pass = true;
            s->fn(s->arg);
            s->in_pass = false;
            s->w->stop = false;
        }
    }
    return passes;
}
