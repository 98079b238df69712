/* Token buckets for device rate limits (corral/ratelimit.h). Exact integer arithmetic: the
 * refill keeps its remainder, so many small refills add up to the same tokens as one big one,
 * and the wait it returns is the first nanosecond at which the request would pass. */
#include <errno.h>
#include <time.h>

#include "corral/ratelimit.h"

typedef unsigned __int128 u128;

static int bucket_init(struct ratelimit_bucket *b, const struct ratelimit_bucket_config *c)
{
    *b = (struct ratelimit_bucket){ 0 };
    if (!c || !c->size || !c->refill_time_ms)
        return 0;
    if (c->size > RATELIMIT_MAX_TOKENS || c->one_time_burst > RATELIMIT_MAX_TOKENS ||
        c->refill_time_ms > RATELIMIT_MAX_REFILL_MS)
        return -EINVAL;
    b->size = c->size;
    b->refill_ns = c->refill_time_ms * 1000000;
    b->budget = (int64_t)c->size;
    b->burst = c->one_time_burst;
    return 0;
}

static int ratelimit_configure(struct ratelimit *rl, const struct ratelimit_config *cfg)
{
    int rc = bucket_init(&rl->bandwidth, cfg ? &cfg->bandwidth : NULL);
    if (!rc)
        rc = bucket_init(&rl->ops, cfg ? &cfg->ops : NULL);
    if (rc) {
        bucket_init(&rl->bandwidth, NULL);
        bucket_init(&rl->ops, NULL);
    }
    return rc;
}

int ratelimit_init(struct ratelimit *rl, const struct ratelimit_config *cfg)
{
    pthread_mutex_init(&rl->lock, NULL);
    return ratelimit_configure(rl, cfg);
}

void ratelimit_destroy(struct ratelimit *rl)
{
    pthread_mutex_destroy(&rl->lock);
}

int ratelimit_set(struct ratelimit *rl, const struct ratelimit_config *cfg)
{
    pthread_mutex_lock(&rl->lock);
    int rc = ratelimit_configure(rl, cfg);
    pthread_mutex_unlock(&rl->lock);
    return rc;
}

bool ratelimit_enabled(struct ratelimit *rl)
{
    pthread_mutex_lock(&rl->lock);
    bool on = rl->bandwidth.size || rl->ops.size;
    pthread_mutex_unlock(&rl->lock);
    return on;
}

static void bucket_refill(struct ratelimit_bucket *b, uint64_t now)
{
    if (!b->size || now <= b->last_ns)
        return;
    uint64_t elapsed = now - b->last_ns;
    b->last_ns = now;
    if (b->budget >= (int64_t)b->size) {
        b->frac = 0;
        return;
    }
    u128 acc = (u128)elapsed * b->size + b->frac;
    u128 add = acc / b->refill_ns;
    uint64_t room = (uint64_t)((int64_t)b->size - b->budget); /* at most 2^63 */
    if (add >= room) {
        b->budget = (int64_t)b->size;
        b->frac = 0;
    } else {
        b->budget += (int64_t)add;
        b->frac = (uint64_t)(acc % b->refill_ns);
    }
}

/* The part of N the remaining burst does not cover. */
static uint64_t beyond_burst(const struct ratelimit_bucket *b, uint64_t n)
{
    return n > b->burst ? n - b->burst : 0;
}

/* Nanoseconds until the bucket can give N tokens: 0 if it can now. */
static uint64_t bucket_wait(const struct ratelimit_bucket *b, uint64_t n)
{
    uint64_t r = beyond_burst(b, n);
    if (!b->size || !r)
        return 0;
    int64_t need = (int64_t)(r < b->size ? r : b->size);
    if (b->budget >= need)
        return 0;
    /* the first t with frac + t * size >= deficit * refill_ns */
    u128 deficit = (u128)(uint64_t)(need - b->budget) * b->refill_ns - b->frac;
    u128 t = (deficit + b->size - 1) / b->size;
    return t > UINT64_MAX ? UINT64_MAX : (t ? (uint64_t)t : 1);
}

static void bucket_take(struct ratelimit_bucket *b, uint64_t n)
{
    if (!b->size)
        return;
    uint64_t r = beyond_burst(b, n);
    b->burst -= n - r;
    b->budget -= (int64_t)r;
}

uint64_t ratelimit_consume(struct ratelimit *rl, uint64_t bytes, uint64_t now_ns)
{
    if (bytes > RATELIMIT_MAX_TOKENS)
        bytes = RATELIMIT_MAX_TOKENS;
    pthread_mutex_lock(&rl->lock);
    bucket_refill(&rl->bandwidth, now_ns);
    bucket_refill(&rl->ops, now_ns);
    uint64_t wb = bucket_wait(&rl->bandwidth, bytes), wo = bucket_wait(&rl->ops, 1);
    uint64_t wait = wb > wo ? wb : wo;
    if (!wait) {
        bucket_take(&rl->bandwidth, bytes);
        bucket_take(&rl->ops, 1);
    }
    pthread_mutex_unlock(&rl->lock);
    return wait;
}

uint64_t ratelimit_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
