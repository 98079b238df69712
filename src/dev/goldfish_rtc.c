/* Goldfish RTC: 32-bit registers. Reading TIME_LOW latches the 64-bit time so that the
 * following TIME_HIGH read belongs to it; writing TIME_HIGH then TIME_LOW sets the clock
 * (kept as an offset from the host's). The alarm registers hold their values, but no alarm
 * interrupt is ever raised: guests here have no use for wake-up alarms. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "dev/goldfish_rtc.h"

enum {
    R_TIME_LOW = 0x00, R_TIME_HIGH = 0x04, R_ALARM_LOW = 0x08, R_ALARM_HIGH = 0x0c,
    R_IRQ_ENABLED = 0x10, R_CLEAR_ALARM = 0x14, R_ALARM_STATUS = 0x18, R_CLEAR_INTERRUPT = 0x1c,
};

struct goldfish_rtc {
    pthread_mutex_t lock;
    int64_t (*now_ns)(void);
    int64_t offset;        /* guest time - host time, ns */
    uint32_t latched_high, set_high, alarm_high, alarm_low, irq_enabled;
    struct irq_line irq;
};

static int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct goldfish_rtc *goldfish_rtc_create(const struct irq_line *irq, int64_t (*now_ns)(void))
{
    struct goldfish_rtc *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    pthread_mutex_init(&r->lock, NULL);
    r->now_ns = now_ns ? now_ns : realtime_ns;
    if (irq)
        r->irq = *irq;
    return r;
}

void goldfish_rtc_destroy(struct goldfish_rtc *r)
{
    if (!r)
        return;
    pthread_mutex_destroy(&r->lock);
    free(r);
}

int goldfish_rtc_read(void *dev, uint64_t off, unsigned size, uint64_t *val)
{
    struct goldfish_rtc *r = dev;
    *val = 0;
    if (size != 4)
        return 0;
    pthread_mutex_lock(&r->lock);
    switch (off) {
    case R_TIME_LOW: {
        uint64_t t = (uint64_t)(r->now_ns() + r->offset);
        r->latched_high = (uint32_t)(t >> 32);
        *val = (uint32_t)t;
        break;
    }
    case R_TIME_HIGH: *val = r->latched_high; break;
    case R_ALARM_LOW: *val = r->alarm_low; break;
    case R_ALARM_HIGH: *val = r->alarm_high; break;
    case R_IRQ_ENABLED: *val = r->irq_enabled; break;
    case R_ALARM_STATUS: *val = 0; break; /* no alarm is ever armed */
    default: break;
    }
    pthread_mutex_unlock(&r->lock);
    return 0;
}

int goldfish_rtc_write(void *dev, uint64_t off, unsigned size, uint64_t val)
{
    struct goldfish_rtc *r = dev;
    if (size != 4)
        return 0;
    uint32_t v = (uint32_t)val;
    pthread_mutex_lock(&r->lock);
    switch (off) {
    case R_TIME_HIGH: r->set_high = v; break;
    case R_TIME_LOW: {
        int64_t want = (int64_t)((uint64_t)r->set_high << 32 | v);
        r->offset = want - r->now_ns();
        break;
    }
    case R_ALARM_HIGH: r->alarm_high = v; break;
    case R_ALARM_LOW: r->alarm_low = v; break;
    case R_IRQ_ENABLED: r->irq_enabled = v & 1; break;
    case R_CLEAR_ALARM: case R_CLEAR_INTERRUPT: irq_set(&r->irq, 0); break;
    default: break;
    }
    pthread_mutex_unlock(&r->lock);
    return 0;
}
