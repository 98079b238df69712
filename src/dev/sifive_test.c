/* The sifive,test0 finisher: one 32-bit register whose writes ask the board to power off
 * or reset. It keeps no state of its own. Like QEMU's model it takes 16- and 32-bit writes:
 * OpenSBI's driver writes the status alone with a 16-bit store. */
#include <stdlib.h>

#include "dev/sifive_test.h"

struct sifive_test {
    void (*request)(void *ctx, enum power_action a, int code);
    void *ctx;
};

struct sifive_test *sifive_test_create(void (*request)(void *ctx, enum power_action a, int code), void *ctx)
{
    struct sifive_test *t = calloc(1, sizeof(*t));
    if (t) {
        t->request = request;
        t->ctx = ctx;
    }
    return t;
}

void sifive_test_destroy(struct sifive_test *t)
{
    free(t);
}

int sifive_test_read(void *dev, uint64_t off, unsigned size, uint64_t *val)
{
    (void)dev;
    (void)off;
    (void)size;
    *val = 0;
    return 0;
}

int sifive_test_write(void *dev, uint64_t off, unsigned size, uint64_t val)
{
    struct sifive_test *t = dev;
    if (off != 0 || (size != 2 && size != 4))
        return 0;
    switch (val & 0xffff) {
    case 0x5555: t->request(t->ctx, POWER_OFF, 0); break;
    case 0x3333: t->request(t->ctx, POWER_OFF, (int)((val >> 16) & 0xffff)); break;
    case 0x7777: t->request(t->ctx, POWER_RESET, 0); break;
    default: break; /* other values do nothing, as on the real part */
    }
    return 0;
}
