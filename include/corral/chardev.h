/* A character backend as a device model sees it: a place to write bytes to.
 * Input flows the other way: the host side calls the device's receive function. */
#ifndef CORRAL_CHARDEV_H
#define CORRAL_CHARDEV_H

#include "corral/common.h"

struct char_backend {
    /* Writes len bytes; returns bytes taken or a negative code. Must not block for long. */
    long (*write)(void *ctx, const uint8_t *buf, size_t len);
    void *ctx;
};

#endif
