/* Formatted output for the hypervisor's own messages. Each kprintf() call is formatted into
 * a buffer and written under the console lock, so lines from different harts do not mix. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "arch/riscv/sbi_call.h"
#include "core/console.h"

static struct ns16550 *console_uart;
static spinlock_t console_lock;

void spin_lock(spinlock_t *l)
{
    while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED))
            ;
}

void spin_unlock(spinlock_t *l)
{
    __atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

void console_use_uart(struct ns16550 *u)
{
    console_uart = u;
}

static void put_raw(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\n')
            console_uart ? ns16550_putc(console_uart, '\r') : fw_console_putc('\r');
        console_uart ? ns16550_putc(console_uart, buf[i]) : fw_console_putc(buf[i]);
    }
}

void console_write(const char *buf, size_t len)
{
    spin_lock(&console_lock);
    put_raw(buf, len);
    spin_unlock(&console_lock);
}

struct out { char *buf; size_t cap, n; };

static void out_c(struct out *o, char c)
{
    if (o->n < o->cap)
        o->buf[o->n++] = c;
}

static void out_num(struct out *o, uint64_t v, unsigned base, bool neg, unsigned width, char pad)
{
    char tmp[24];
    unsigned n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (neg)
        tmp[n++] = '-';
    while (width > n) {
        out_c(o, pad);
        width--;
    }
    while (n)
        out_c(o, tmp[--n]);
}

/* The formatter: into o, up to its capacity. */
static void format(struct out *op, const char *fmt, va_list ap)
{
    struct out o = *op;
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            out_c(&o, *fmt);
            continue;
        }
        char pad = ' ';
        unsigned width = 0, longs = 0;
        size_t prec = (size_t)-1;
        if (*++fmt == '0')
            pad = '0';
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (unsigned)(*fmt++ - '0');
        if (*fmt == '.' && fmt[1] == '*') {
            int p = va_arg(ap, int);
            prec = p < 0 ? 0 : (size_t)p;
            fmt += 2;
        }
        while (*fmt == 'l' || *fmt == 'z')
            longs++, fmt++;
        switch (*fmt) {
        case 'd': {
            int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
            out_num(&o, v < 0 ? -(uint64_t)v : (uint64_t)v, 10, v < 0, width, pad);
            break;
        }
        case 'u': case 'x': {
            uint64_t v = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            out_num(&o, v, *fmt == 'u' ? 10 : 16, false, width, pad);
            break;
        }
        case 'p':
            out_c(&o, '0'), out_c(&o, 'x');
            out_num(&o, (uintptr_t)va_arg(ap, void *), 16, false, width, pad);
            break;
        case 'c':
            out_c(&o, (char)va_arg(ap, int));
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            for (s = s ? s : "(null)"; *s && prec; s++, prec--)
                out_c(&o, *s);
            break;
        }
        case '\0':
            fmt--;
            break;
        default:
            out_c(&o, *fmt);
        }
    }
    *op = o;
}

void kvprintf(const char *fmt, va_list ap)
{
    char buf[256];
    struct out o = { buf, sizeof(buf), 0 };
    format(&o, fmt, ap);
    console_write(o.buf, o.n);
}

/* For the shared sources' error messages: always terminated, cut at CAP - 1 characters;
 * returns the characters written. */
int vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap)
{
    if (!cap)
        return 0;
    struct out o = { buf, cap - 1, 0 };
    format(&o, fmt, ap);
    buf[o.n] = '\0';
    return (int)o.n;
}

int snprintf(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    return n;
}

void kprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kvprintf(fmt, ap);
    va_end(ap);
}
