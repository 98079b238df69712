/* Token-bucket rate limiting for device I/O, in the shape of Firecracker's rate_limiter: a
 * limiter has a bandwidth bucket (bytes) and an ops bucket (requests), either one unlimited.
 * Pure arithmetic over a clock the caller passes in (tests use a fake one); thread-safe.
 * Not here: sleeping or timers. A device asks, and retries after the time it is told. */
#ifndef CORRAL_RATELIMIT_H
#define CORRAL_RATELIMIT_H

#include <pthread.h>
#include <stdint.h>

#include "corral/common.h"

/* One bucket: SIZE tokens that refill linearly, empty to full in REFILL_TIME_MS, and starts
 * full; ONE_TIME_BURST extra tokens at the start, spent first and never refilled. SIZE 0 or
 * REFILL_TIME_MS 0 means no limit (as in Firecracker, where such a bucket does not exist). */
struct ratelimit_bucket_config {
    uint64_t size;
    uint64_t one_time_burst;
    uint64_t refill_time_ms;
};

struct ratelimit_config {
    struct ratelimit_bucket_config bandwidth;   /* tokens are bytes */
    struct ratelimit_bucket_config ops;         /* one token per request */
};

#define RATELIMIT_MAX_TOKENS (1ULL << 62)        /* larger sizes, bursts or requests: -EINVAL */
#define RATELIMIT_MAX_REFILL_MS (1ULL << 40)     /* about 35 years */

/* Private to ratelimit.c; here so that devices can embed a limiter. */
struct ratelimit_bucket {
    uint64_t size;          /* 0: unlimited */
    uint64_t refill_ns;
    int64_t budget;         /* tokens now; negative after an oversize request (debt) */
    uint64_t frac;          /* refill remainder: frac / refill_ns of a token */
    uint64_t burst;         /* what is left of one_time_burst */
    uint64_t last_ns;       /* clock at the last refill */
};

struct ratelimit {
    pthread_mutex_t lock;
    struct ratelimit_bucket bandwidth, ops;
};

/* CFG NULL: no limit. Buckets start full. 0, or -EINVAL for a number above the limits above
 * (the limiter is then initialised, unlimited). */
int ratelimit_init(struct ratelimit *rl, const struct ratelimit_config *cfg);
void ratelimit_destroy(struct ratelimit *rl);
/* Replaces the configuration of a live limiter; its buckets start full again. */
int ratelimit_set(struct ratelimit *rl, const struct ratelimit_config *cfg);
/* Whether either bucket limits anything. */
bool ratelimit_enabled(struct ratelimit *rl);

/* One request of BYTES bytes at time NOW_NS: 0 if allowed (one op token and BYTES bandwidth
 * tokens are taken), else the nanoseconds after which it would be (nothing is taken).
 *
 * A request larger than a bucket's size (say a 1 MiB write against a 64 KiB bucket) passes
 * once the bucket is full, and leaves the bucket in debt by the excess: later requests wait
 * until the debt is refilled. So nothing waits forever and the long-run rate still holds;
 * Firecracker does the same in effect (it lets the request through and blocks the limiter
 * for the over-consumption). In general a request passes when the tokens it needs beyond the
 * remaining one_time_burst, capped at the bucket size, are there. NOW_NS should not go back;
 * an earlier time is taken as no time passed. */
uint64_t ratelimit_consume(struct ratelimit *rl, uint64_t bytes, uint64_t now_ns);

/* CLOCK_MONOTONIC in nanoseconds: the clock devices pass to ratelimit_consume. */
uint64_t ratelimit_clock_ns(void);

#endif
