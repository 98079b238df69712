/* The virtio worker API (dev/virtio/worker.h) without threads: run to completion. A device
 * model's thread function is one loop (wait for a kick, take the lock, work the queues,
 * release it); here a kick runs that loop on the hart that kicked, inside the guest's
 * trapped queue notify, for as long as it has work: its first wait returns at once, a wait
 * with a timeout of 0 ("come back at once": more work) returns at once, and any other wait
 * ends the function. So a guest's request is served before its vCPU resumes, and the
 * models need no scheduler. A model that waits for a time (a rate limit) serves the rest at
 * the next kick. Two harts of one VM may run the same model's loop at once: its lock
 * orders them, as it orders a thread and a reset in the hosted form. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/riscv/cpu.h"
#include "core/limits.h"
#include "dev/virtio/worker.h"

#define MAX_WORKERS (MAX_VMS * 4)

static struct job {
    struct virtio_worker *w;
    void *(*fn)(void *);
    void *arg;
} jobs[MAX_WORKERS];
static unsigned num_jobs;

/* per hart: whether the loop in hand has yet to take its first kick */
static bool first_wait[MAX_HARTS];
static bool in_pass[MAX_HARTS];

int virtio_worker_init(struct virtio_worker *w, void *(*fn)(void *), void *arg)
{
    if (num_jobs == MAX_WORKERS)
        return -1;
    w->kick_fd = -1;
    w->running = w->stop = false;
    w->cutting_in = 0;
    pthread_mutex_init(&w->lock, NULL);
    jobs[num_jobs++] = (struct job){ w, fn, arg };
    return 0;
}

static void run(struct virtio_worker *w)
{
    unsigned h = this_cpu()->index;
    if (in_pass[h])
        return; /* the loop in hand looks at the queues again before it ends */
    for (unsigned i = 0; i < num_jobs; i++) {
        if (jobs[i].w == w) {
            in_pass[h] = true;
            first_wait[h] = true;
            jobs[i].fn(jobs[i].arg);
            in_pass[h] = false;
            return;
        }
    }
}

void virtio_worker_kick(struct virtio_worker *w) { run(w); }

bool virtio_worker_wait(struct virtio_worker *w, uint64_t timeout_ns)
{
    (void)w;
    unsigned h = this_cpu()->index;
    if (first_wait[h]) {
        first_wait[h] = false;
        return true;
    }
    return timeout_ns == 0;
}

bool virtio_worker_take_kick(struct virtio_worker *w)
{
    (void)w;
    return true;
}

void virtio_worker_set_running(struct virtio_worker *w, bool running)
{
    virtio_worker_lock_cut_in(w);
    w->running = running;
    pthread_mutex_unlock(&w->lock);
    if (running)
        run(w);
}

void virtio_worker_lock_cut_in(struct virtio_worker *w)
{
    __atomic_add_fetch(&w->cutting_in, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_lock(&w->lock);
    __atomic_sub_fetch(&w->cutting_in, 1, __ATOMIC_ACQ_REL);
}

bool virtio_worker_cut_in_wanted(struct virtio_worker *w)
{
    return __atomic_load_n(&w->cutting_in, __ATOMIC_ACQUIRE) > 0;
}

void virtio_worker_let_in(struct virtio_worker *w)
{
    while (__atomic_load_n(&w->cutting_in, __ATOMIC_ACQUIRE) > 0)
        ;
}

void virtio_worker_destroy(struct virtio_worker *w)
{
    (void)w; /* models live as long as the machine */
}
