/* The sifive,test0 finisher: a 32-bit write of 0x5555 powers off, 0x3333 | code << 16
 * powers off with a failure code, 0x7777 resets. The board decides what that means. */
#ifndef CORRAL_DEV_SIFIVE_TEST_H
#define CORRAL_DEV_SIFIVE_TEST_H

#include "corral/common.h"

enum power_action { POWER_OFF = 1, POWER_RESET = 2 };

struct sifive_test;

struct sifive_test *sifive_test_create(void (*request)(void *ctx, enum power_action a, int code), void *ctx);
void sifive_test_destroy(struct sifive_test *t);
int sifive_test_read(void *dev, uint64_t off, unsigned size, uint64_t *val);
int sifive_test_write(void *dev, uint64_t off, unsigned size, uint64_t val);

#endif
