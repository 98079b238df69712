/* snprintf for the shared sources' error messages (core/console.c formats it: %d %u %x
 * %p %c %s with l, z, width and .*). */
#ifndef CORRAL_BM_STDIO_H
#define CORRAL_BM_STDIO_H
#include <stdarg.h>
#include <stddef.h>
int snprintf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap);
#endif
