/* The user's terminal as the guest console: raw mode on a tty (restored at exit, on
 * fatal signals and by console_close), the Ctrl-A escape keys, and plain pass-through
 * when input is a pipe or file. Guest output goes through term_filter unless raw, and a
 * terminal that stops taking it gets it dropped, never waited on for long. */
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "backend/term_filter.h"
#include "hosted/console.h"

#define ESCAPE_KEY 0x01 /* Ctrl-A */
#define STALL_MS 100    /* how long output waits for a full terminal before it is dropped */

struct console {
    int in_fd, out_fd;
    bool tty, escape, eof;
    bool detach; /* attached to a background VM: Ctrl-A d leaves, the VM goes on */
    bool raw;    /* guest output unfiltered */
    bool stalled; /* the terminal took nothing for STALL_MS: drop without waiting until it does */
    uint64_t dropped_bytes;
    struct term_filter filter;
};

/* One saved terminal state for the process: signal handlers and atexit need it. */
static struct termios saved_tio;
static volatile sig_atomic_t tio_saved_fd = -1;

static void restore_terminal(void)
{
    if (tio_saved_fd >= 0) {
        tcsetattr(tio_saved_fd, TCSANOW, &saved_tio);
        tio_saved_fd = -1;
    }
}

void console_restore_tty(void)
{
    if (tio_saved_fd >= 0)
        tcsetattr(tio_saved_fd, TCSANOW, &saved_tio);
}

static void on_fatal_signal(int sig)
{
    /* tcsetattr is async-signal-safe; then die of the same signal */
    if (tio_saved_fd >= 0)
        tcsetattr(tio_saved_fd, TCSANOW, &saved_tio);
    signal(sig, SIG_DFL);
    raise(sig);
}

struct console *console_open(int in_fd, int out_fd)
{
    struct console *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->in_fd = in_fd;
    c->out_fd = out_fd;
    term_filter_init(&c->filter);
    c->tty = isatty(in_fd);
    if (c->tty && tcgetattr(in_fd, &saved_tio) == 0) {
        struct termios raw = saved_tio;
        cfmakeraw(&raw);
        /* output stays raw too: the guest sends CR NL itself */
        tio_saved_fd = in_fd;
        atexit(restore_terminal);
        static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGSEGV, SIGABRT, SIGBUS };
        for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
            struct sigaction sa;
            memset(&sa, 0, sizeof(sa));
            sa.sa_handler = on_fatal_signal;
            sigaction(sigs[i], &sa, NULL);
        }
        tcsetattr(in_fd, TCSANOW, &raw);
    } else {
        c->tty = false;
    }
    signal(SIGPIPE, SIG_IGN); /* a closed output pipe is an error value, not a death */
    return c;
}

void console_close(struct console *c)
{
    if (!c)
        return;
    if (c->tty)
        restore_terminal();
    free(c);
}

int console_input_fd(const struct console *c)
{
    return c->eof ? -1 : c->in_fd;
}

/* Writes BUF; when the terminal is full (EAGAIN) waits up to STALL_MS for room, then drops
 * the rest (counted). A guest's UART lock is held across this: it must not spin or hang. */
static void write_out(struct console *c, const uint8_t *buf, size_t len)
{
    while (len) {
        ssize_t n = write(c->out_fd, buf, len);
        if (n > 0) {
            c->stalled = false;
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !c->stalled) {
            struct pollfd p = { c->out_fd, POLLOUT, 0 };
            int rc = poll(&p, 1, STALL_MS);
            if (rc > 0 || (rc < 0 && errno == EINTR))
                continue;
            c->stalled = true;
        }
        c->dropped_bytes += len; /* full, or gone */
        return;
    }
}

static const char help_text[] =
    "\r\nCtrl-A x       quit corral (the guest is stopped)\r\n"
    "Ctrl-A h       show this help\r\nCtrl-A Ctrl-A  send Ctrl-A to the guest\r\n";
static const char detach_help[] =
    "\r\nCtrl-A d       detach (the VM keeps running)\r\n"
    "Ctrl-A h       show this help\r\nCtrl-A Ctrl-A  send Ctrl-A to the guest\r\n";

void console_set_detach(struct console *c)
{
    c->detach = true;
}

long console_read(struct console *c, uint8_t *buf, size_t len, bool *quit)
{
    uint8_t in[256];
    *quit = false;
    if (len > sizeof(in))
        len = sizeof(in);
    ssize_t n = read(c->in_fd, in, len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0) {
        c->eof = true;
        return -1;
    }
    if (!c->tty) {
        memcpy(buf, in, (size_t)n);
        return n;
    }
    size_t out = 0;
    for (ssize_t i = 0; i < n; i++) {
        uint8_t ch = in[i];
        if (c->escape) {
            c->escape = false;
            if (c->detach ? (ch == 'd' || ch == 'D') : (ch == 'x' || ch == 'X')) {
                *quit = true;
                return (long)out;
            }
            if (ch == 'h' || ch == 'H' || ch == '?') {
                const char *t = c->detach ? detach_help : help_text;
                write_out(c, (const uint8_t *)t, strlen(t));
                continue;
            }
            if (ch == ESCAPE_KEY) {
                buf[out++] = ESCAPE_KEY;
                continue;
            }
            continue; /* an unknown escape is dropped, like other emulators' consoles */
        }
        if (ch == ESCAPE_KEY) {
            c->escape = true;
            continue;
        }
        buf[out++] = ch;
    }
    return (long)out;
}

void console_set_raw(struct console *c, bool raw)
{
    c->raw = raw;
}

uint64_t console_dropped(const struct console *c)
{
    return c->dropped_bytes;
}

long console_write(void *ctx, const uint8_t *buf, size_t len)
{
    struct console *c = ctx;
    if (c->raw) {
        write_out(c, buf, len);
        return (long)len;
    }
    uint8_t out[1024 + TERM_FILTER_MAX_SEQ];
    for (size_t done = 0; done < len;) {
        size_t k = len - done < 1024 ? len - done : 1024;
        write_out(c, out, term_filter_run(&c->filter, buf + done, k, out));
        done += k;
    }
    return (long)len;
}
