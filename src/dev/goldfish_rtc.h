/* The Goldfish real-time clock QEMU's virt board has at 0x101000: wall-clock time in
 * nanoseconds since 1970, settable by the guest. Alarms are kept but never fire. */
#ifndef CORRAL_DEV_GOLDFISH_RTC_H
#define CORRAL_DEV_GOLDFISH_RTC_H

#include "corral/irq.h"

struct goldfish_rtc;

/* NOW_NS gives the host's wall clock in ns (NULL: CLOCK_REALTIME); for tests. */
struct goldfish_rtc *goldfish_rtc_create(const struct irq_line *irq, int64_t (*now_ns)(void));
void goldfish_rtc_destroy(struct goldfish_rtc *r);
int goldfish_rtc_read(void *dev, uint64_t off, unsigned size, uint64_t *val);
int goldfish_rtc_write(void *dev, uint64_t off, unsigned size, uint64_t val);

#endif
