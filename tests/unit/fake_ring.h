/* Guest RAM seen from a fake driver's side, for the virtio unit tests: a buffer standing for
 * RAM at RAM_BASE (which the test defines first), and the accessors a driver uses on rings. */
#ifndef CORRAL_TESTS_FAKE_RING_H
#define CORRAL_TESTS_FAKE_RING_H

#include <stdint.h>
#include <string.h>

#include "corral/guest_mem.h"

static uint8_t *ram;
static struct guest_mem mem;

static uint8_t *gp(uint64_t gpa) { return ram + (gpa - RAM_BASE); }

static uint16_t get16(uint64_t gpa)
{
    return __atomic_load_n((uint16_t *)gp(gpa), __ATOMIC_ACQUIRE);
}

static void put16(uint64_t gpa, uint16_t v)
{
    __atomic_store_n((uint16_t *)gp(gpa), v, __ATOMIC_RELEASE);
}

static uint32_t get32(uint64_t gpa)
{
    uint32_t v;
    memcpy(&v, gp(gpa), 4);
    return v;
}

static void set_desc(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    uint8_t *p = gp(table + 16ULL * i);
    memcpy(p, &addr, 8);
    memcpy(p + 8, &len, 4);
    memcpy(p + 12, &flags, 2);
    memcpy(p + 14, &next, 2);
}

#endif
