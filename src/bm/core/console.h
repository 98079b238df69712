/* The hypervisor's console: whole lines to the machine's UART (or the firmware's console
 * before the UART is known), one hart at a time. */
#ifndef CORRAL_BM_CONSOLE_H
#define CORRAL_BM_CONSOLE_H

#include <stdarg.h>
#include <stddef.h>

#include "drivers/ns16550.h"

/* From now on output goes to u instead of the firmware. */
void console_use_uart(struct ns16550 *u);
void console_write(const char *buf, size_t len);
/* printf subset: %s %.*s %c %d %u %x %p, l/ll/z modifiers, width with 0 or space padding. */
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kvprintf(const char *fmt, va_list ap);

/* A simple test-and-set lock: harts spin, the hypervisor never sleeps holding it. */
typedef struct { volatile int locked; } spinlock_t;
void spin_lock(spinlock_t *l);
void spin_unlock(spinlock_t *l);

#endif
