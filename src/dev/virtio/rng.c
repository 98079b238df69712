/* virtio-rng: one request queue; each request's writable buffers are filled from
 * getrandom(). Small and fast enough to serve on the vCPU thread that kicks it. */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "dev/virtio/rng.h"

#define VIRTIO_ID_RNG 4
#define MAX_PER_REQUEST (64 * 1024)

struct virtio_rng {
    struct virtio_dev vdev;
    pthread_mutex_t lock; /* one kick at a time works the queue */
    struct virtq_req req;
};

static size_t fill(struct virtq_req *r)
{
    size_t done = 0;
    for (unsigned i = r->n_out; i < r->n_out + r->n_in && done < MAX_PER_REQUEST; i++) {
        uint8_t *p = r->iov[i].iov_base;
        size_t len = r->iov[i].iov_len, got = 0;
        if (len > MAX_PER_REQUEST - done)
            len = MAX_PER_REQUEST - done;
        while (got < len) {
            ssize_t n = getrandom(p + got, len - got, 0);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return done + got;
            }
            got += (size_t)n;
        }
        done += got;
    }
    return done;
}

static void rng_notify(void *ctx, unsigned qi)
{
    struct virtio_rng *r = ctx;
    struct virtq *q = &r->vdev.vq[qi];
    pthread_mutex_lock(&r->lock);
    bool pushed = false;
    int rc;
    while ((rc = virtq_pop_or_arm(q, &r->req)) > 0) {
        virtq_push(q, r->req.head, virtq_used_len(&r->req, fill(&r->req)));
        pushed = true;
    }
    pthread_mutex_unlock(&r->lock);
    if (rc < 0)
        virtio_needs_reset(&r->vdev);
    if (pushed)
        virtio_notify_queue(&r->vdev, qi);
}

static void rng_reset(void *ctx)
{
    struct virtio_rng *r = ctx;
    pthread_mutex_lock(&r->lock); /* wait out a kick in progress */
    pthread_mutex_unlock(&r->lock);
}

static const struct virtio_ops rng_ops = {
    .device_id = VIRTIO_ID_RNG, .num_queues = 1, .queue_max = 256,
    .notify = rng_notify, .reset = rng_reset,
};

struct virtio_rng *virtio_rng_create(const struct virtio_slot *slot)
{
    struct virtio_rng *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    pthread_mutex_init(&r->lock, NULL);
    virtio_mmio_init(&r->vdev, slot->name, slot->base, slot->mem, slot->irq, &rng_ops, r);
    return r;
}

struct virtio_dev *virtio_rng_dev(struct virtio_rng *r) { return &r->vdev; }

void virtio_rng_destroy(struct virtio_rng *r)
{
    if (!r)
        return;
    virtio_mmio_destroy(&r->vdev);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
