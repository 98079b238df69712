/* A fake virtio driver for the device-model unit tests: the transport's registers, queues
 * laid out 16 KiB apart from RAM_BASE + 4 KiB, bring-up to DRIVER_OK, and waits on the used
 * ring. The test defines RAM_BASE, RAM_SIZE and QSIZE, and includes fake_ring.h first. */
#ifndef CORRAL_TESTS_FAKE_DRIVER_H
#define CORRAL_TESTS_FAKE_DRIVER_H

#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "dev/virtio/virtio_mmio.h"

#define F_NEXT 1
#define F_WRITE 2

#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 0x40
#define S_LIVE (S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK)
#define V1 (1ULL << 32)

static int irq_calls; /* raised from device threads: touched atomically only */

static inline uint64_t q_desc(unsigned qi) { return RAM_BASE + 0x1000 + 0x4000ULL * qi; }
static inline uint64_t q_avail(unsigned qi) { return q_desc(qi) + 0x1000; }
static inline uint64_t q_used(unsigned qi) { return q_desc(qi) + 0x2000; }

static inline void offer(unsigned qi, uint16_t head)
{
    uint64_t avail = q_avail(qi);
    uint16_t idx = get16(avail + 2);
    put16(avail + 4 + 2ULL * (idx % QSIZE), head);
    put16(avail + 2, (uint16_t)(idx + 1));
}

static inline void fake_irq(void *ctx, unsigned num, int level)
{
    (void)ctx;
    (void)num;
    (void)level;
    __atomic_fetch_add(&irq_calls, 1, __ATOMIC_RELAXED);
}

static inline uint64_t rd_sized(struct virtio_dev *d, uint64_t off, unsigned size)
{
    uint64_t v = 0xdeadbeef;
    assert_int_equal(d->region.read(d->region.dev, off, size, &v), 0);
    return v;
}

static inline void wr_sized(struct virtio_dev *d, uint64_t off, unsigned size, uint64_t v)
{
    assert_int_equal(d->region.write(d->region.dev, off, size, v), 0);
}

static inline void wr(struct virtio_dev *d, uint64_t off, uint32_t v) { wr_sized(d, off, 4, v); }
static inline uint32_t rd(struct virtio_dev *d, uint64_t off) { return (uint32_t)rd_sized(d, off, 4); }

static inline void setup_queue(struct virtio_dev *d, unsigned qi)
{
    wr(d, R_QUEUE_SEL, qi);
    wr(d, R_QUEUE_NUM, QSIZE);
    wr(d, R_QUEUE_DESC_LO, (uint32_t)q_desc(qi));
    wr(d, R_QUEUE_DESC_HI, (uint32_t)(q_desc(qi) >> 32));
    wr(d, R_QUEUE_AVAIL_LO, (uint32_t)q_avail(qi));
    wr(d, R_QUEUE_AVAIL_HI, (uint32_t)(q_avail(qi) >> 32));
    wr(d, R_QUEUE_USED_LO, (uint32_t)q_used(qi));
    wr(d, R_QUEUE_USED_HI, (uint32_t)(q_used(qi) >> 32));
    wr(d, R_QUEUE_READY, 1);
}

/* Clears the rings and takes the device from reset to FEATURES_OK with NQ queues set up,
 * stopping short of DRIVER_OK: a driver may offer buffers (and kick) here. */
static inline void bring_up_to_ready(struct virtio_dev *d, uint64_t features, unsigned nq)
{
    memset(ram, 0, 0x20000);
    wr(d, R_STATUS, 0);
    wr(d, R_STATUS, S_ACK);
    wr(d, R_STATUS, S_ACK | S_DRIVER);
    wr(d, R_DRV_FEATURES_SEL, 0);
    wr(d, R_DRV_FEATURES, (uint32_t)features);
    wr(d, R_DRV_FEATURES_SEL, 1);
    wr(d, R_DRV_FEATURES, (uint32_t)(features >> 32));
    wr(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
    for (unsigned i = 0; i < nq; i++)
        setup_queue(d, i);
}

/* Sets DRIVER_OK: true if the device took it. */
static inline bool go_live(struct virtio_dev *d)
{
    wr(d, R_STATUS, S_LIVE);
    return rd(d, R_STATUS) == S_LIVE;
}

/* From reset to DRIVER_OK with NQ queues; true if it got there. */
static inline bool bring_up(struct virtio_dev *d, uint64_t features, unsigned nq)
{
    bring_up_to_ready(d, features, nq);
    return go_live(d);
}

static inline long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

/* Waits up to MS milliseconds for COND; true if it came. */
#define WAIT_FOR_MS(cond, ms)                                            \
    ({                                                                   \
        long t0_ = now_ms();                                             \
        while (!(cond) && now_ms() - t0_ < (ms))                         \
            usleep(200);                                                 \
        (cond);                                                          \
    })
#define WAIT_FOR(cond) WAIT_FOR_MS(cond, 2000)

static inline uint16_t used_idx(unsigned qi) { return get16(q_used(qi) + 2); }
static inline uint32_t used_id(unsigned qi, uint16_t n) { return get32(q_used(qi) + 4 + 8 * (n % QSIZE)); }
static inline uint32_t used_len(unsigned qi, uint16_t n) { return get32(q_used(qi) + 8 + 8 * (n % QSIZE)); }

/* Offers HEAD on queue QI, kicks, waits for it to come back: its used length. */
static inline uint32_t submit(struct virtio_dev *d, unsigned qi, uint16_t head)
{
    uint16_t before = used_idx(qi);
    offer(qi, head);
    wr(d, R_QUEUE_NOTIFY, qi);
    assert_true(WAIT_FOR(used_idx(qi) == (uint16_t)(before + 1)));
    assert_int_equal(used_id(qi, before), head);
    return used_len(qi, before);
}

static inline struct virtio_slot slot(const char *name)
{
    return (struct virtio_slot){ name, 0x10001000, { fake_irq, NULL, 7 }, &mem };
}

static inline int setup_ram(void)
{
    ram = calloc(1, RAM_SIZE);
    if (!ram)
        return -1;
    mem = (struct guest_mem){ ram, RAM_BASE, RAM_SIZE, NULL };
    __atomic_store_n(&irq_calls, 0, __ATOMIC_RELAXED);
    return 0;
}

static inline void free_ram(void)
{
    free(ram);
    ram = NULL;
}

#endif
