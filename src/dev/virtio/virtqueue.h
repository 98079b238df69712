/* Split virtqueues (virtio 1.x section 2.7) over guest RAM: taking requests off the
 * available ring and returning them on the used ring. Every descriptor is untrusted:
 * addresses must lie in RAM, chains are bounded, lengths are checked. Not thread-safe:
 * one thread at a time works a given queue. */
#ifndef CORRAL_DEV_VIRTIO_VIRTQUEUE_H
#define CORRAL_DEV_VIRTIO_VIRTQUEUE_H

#include <sys/uio.h>

#include "corral/guest_mem.h"

#define VIRTQ_MAX_SIZE 1024   /* largest queue a device offers (QueueNumMax) */
#define VIRTQ_MAX_SEGS 1024   /* most buffers one request may have */

struct virtq {
    const struct guest_mem *mem;
    uint16_t size;            /* entries; a power of two, 0 = not set up */
    bool ready;
    bool event_idx;           /* VIRTIO_F_RING_EVENT_IDX negotiated */
    bool indirect;            /* VIRTIO_F_INDIRECT_DESC negotiated */
    uint64_t desc_gpa, avail_gpa, used_gpa;
    uint16_t last_avail;      /* next available-ring entry to take */
    uint16_t used_idx;        /* our copy of used->idx */
    uint16_t signalled_used;  /* used->idx at the last interrupt (EVENT_IDX) */
    bool signalled_valid;
};

/* One request: the device-readable buffers (out) come first in iov, then the
 * device-writable ones (in). */
struct virtq_req {
    uint16_t head;
    unsigned n_out, n_in;
    size_t out_len, in_len;
    struct iovec iov[VIRTQ_MAX_SEGS];
};

/* Checks the ring addresses and sizes once the driver sets QueueReady: 0 or -EINVAL. */
int virtq_validate(const struct virtq *q);
/* Takes the next request: 1 if one was taken, 0 if the ring is empty, negative if the
 * driver broke the rules (-EFAULT bad address, -ELOOP chain too long or looping,
 * -EPROTO bad ordering or indirect table); then the device should ask for a reset. */
int virtq_pop(struct virtq *q, struct virtq_req *r);
/* The way a device takes work when it will go idle if there is none: virtq_pop, and on an
 * empty ring asks to be kicked (EVENT_IDX) and looks once more, so that a request the driver
 * added meanwhile, without a kick since we had not asked yet, is taken now rather than
 * stranded. 1 taken, 0 empty and the kick asked for, negative as virtq_pop. */
int virtq_pop_or_arm(struct virtq *q, struct virtq_req *r);
/* Puts back the request the last virtq_pop took, unserved: the next pop takes it again (a
 * device that may not serve it yet, e.g. held by a rate limit). */
void virtq_unpop(struct virtq *q);
/* Returns request HEAD to the driver, saying WRITTEN bytes went into its in buffers. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t written);
/* The used length to report for R when the device wrote WRITTEN bytes: never more than its
 * writable buffers hold, nor than a used entry holds (2.7.8: len is a lower bound the driver
 * may trust). */
uint32_t virtq_used_len(const struct virtq_req *r, size_t written);
/* After pushes: whether the driver wants an interrupt now (EVENT_IDX or the NO_INTERRUPT flag). */
bool virtq_need_interrupt(struct virtq *q);
/* Whether the available ring has entries virtq_pop would take (none while not ready). */
bool virtq_has_avail(const struct virtq *q);
/* With EVENT_IDX: ask to be kicked when the driver adds past what we have taken (call
 * before the final virtq_has_avail check when going idle). */
void virtq_enable_kick(struct virtq *q);
void virtq_reset(struct virtq *q);

/* Copy helpers over a request's buffers: bytes copied. */
size_t virtq_copy_from_out(const struct virtq_req *r, size_t off, void *dst, size_t len);
size_t virtq_copy_to_in(const struct virtq_req *r, size_t off, const void *src, size_t len);

#endif
