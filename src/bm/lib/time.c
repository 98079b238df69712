/* clock_gettime for the shared rate limiter: CLOCK_MONOTONIC from the time CSR. */
#include <errno.h>
#include <stdint.h>
#include <time.h>

#include "arch/riscv/csr.h"
#include "core/platform.h"

int clock_gettime(clockid_t clk, struct timespec *ts)
{
    (void)clk;
    uint64_t hz = platform.timebase ? platform.timebase : 10000000;
    uint64_t t = csr_read(CSR_TIME);
    ts->tv_sec = (time_t)(t / hz);
    ts->tv_nsec = (long)((t % hz) * 1000000000ULL / hz);
    return 0;
}
