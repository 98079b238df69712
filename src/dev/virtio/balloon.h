/* virtio-balloon (virtio 1.x section 5.5): the host asks the guest for memory back (a
 * target), the guest gives pages (inflateq) and takes them back (deflateq), reports its
 * memory statistics (statsq) and hands over free ranges (free page reporting). The model
 * never frees memory itself: it passes checked guest-physical ranges to a callback. */
#ifndef CORRAL_DEV_VIRTIO_BALLOON_H
#define CORRAL_DEV_VIRTIO_BALLOON_H

#include "dev/virtio/virtio_mmio.h"

/* The guest no longer needs [gpa, gpa+len) (whole 4 KiB pages, inside guest RAM): the host
 * may drop its contents; the guest reads zeros there if it uses the range again. Called
 * on the thread that kicked the queue. */
typedef void (*balloon_discard_fn)(void *ctx, uint64_t gpa, uint64_t len);

/* Statistic tags (5.5.6.3) */
enum {
    BALLOON_STAT_SWAP_IN, BALLOON_STAT_SWAP_OUT, BALLOON_STAT_MAJFLT, BALLOON_STAT_MINFLT,
    BALLOON_STAT_MEMFREE, BALLOON_STAT_MEMTOT, BALLOON_STAT_AVAIL, BALLOON_STAT_CACHES,
    BALLOON_STAT_HTLB_PGALLOC, BALLOON_STAT_HTLB_PGFAIL, BALLOON_STAT_OOM_KILL,
    BALLOON_STAT_ALLOC_STALL, BALLOON_STAT_ASYNC_SCAN, BALLOON_STAT_DIRECT_SCAN,
    BALLOON_STAT_ASYNC_RECLAIM, BALLOON_STAT_DIRECT_RECLAIM,
    BALLOON_STAT_NR
};

struct balloon_info {
    uint64_t target;      /* bytes the host asks the guest to give up */
    uint64_t actual;      /* bytes the guest says it has given up */
    uint64_t inflated;    /* bytes passed to the callback from the inflate queue, in all */
    uint64_t deflated;    /* bytes the guest took back on the deflate queue, in all */
    uint64_t reported;    /* bytes passed to the callback from free page reports, in all */
    uint32_t stats_valid; /* bit TAG set: stats[TAG] came from the guest's last report */
    uint64_t stats[BALLOON_STAT_NR]; /* memory figures in bytes, the others as counts */
};

struct virtio_balloon;

/* DEFLATE_ON_OOM lets the guest take pages back when it runs out of memory. */
struct virtio_balloon *virtio_balloon_create(const struct virtio_slot *slot, bool deflate_on_oom,
                                             balloon_discard_fn discard, void *ctx);
struct virtio_dev *virtio_balloon_dev(struct virtio_balloon *b);
void virtio_balloon_destroy(struct virtio_balloon *b);

/* Asks the guest to give up BYTES in all (rounded down to 4 KiB pages); any thread. */
void virtio_balloon_set_target(struct virtio_balloon *b, uint64_t bytes);
/* Asks the guest for fresh statistics (they arrive in a later virtio_balloon_get): 0, or
 * -EAGAIN if the guest has no statistics buffer with the device right now. */
int virtio_balloon_request_stats(struct virtio_balloon *b);
void virtio_balloon_get(struct virtio_balloon *b, struct balloon_info *out);

#endif
