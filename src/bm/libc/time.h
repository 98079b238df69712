/* The monotonic clock the shared rate limiter reads, from the hart's time CSR
 * (lib/time.c). */
#ifndef CORRAL_BM_TIME_H
#define CORRAL_BM_TIME_H
typedef long time_t;
struct timespec {
    time_t tv_sec;
    long tv_nsec;
};
#define CLOCK_MONOTONIC 1
typedef int clockid_t;
int clock_gettime(clockid_t clk, struct timespec *ts);
#endif
