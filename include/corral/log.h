/* Diagnostics for developers (not user-facing errors, which only hosted/ prints).
 * Silent unless CORRAL_DEBUG is set in the environment. */
#ifndef CORRAL_LOG_H
#define CORRAL_LOG_H

#include <stdio.h>
#include <stdlib.h>

static inline int log_enabled(void)
{
    static int on = -1;
    if (on < 0)
        on = getenv("CORRAL_DEBUG") != NULL;
    return on;
}

#define LOG_DEBUG(...) do { if (log_enabled()) { fprintf(stderr, "corral: " __VA_ARGS__); fputc('\n', stderr); } } while (0)

#endif
