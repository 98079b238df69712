/* The fuzz targets' network backend (fake_net.c): frames for the guest, from the target. */
#ifndef CORRAL_FUZZ_FAKE_NET_H
#define CORRAL_FUZZ_FAKE_NET_H

#include <stddef.h>
#include <stdint.h>

/* Queues a frame for the guest (up to four wait; more are dropped). */
void fuzz_net_queue(const uint8_t *frame, size_t len);
/* Hands queued frames to the device while it takes them. */
void fuzz_net_deliver(void);

#endif
