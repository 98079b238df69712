/* The user's terminal as the guest's console: raw mode when stdin is a terminal (restored
 * on every exit path, signals included), plain pipes otherwise; the Ctrl-A escape keys
 * (Ctrl-A x quits, Ctrl-A h prints help, Ctrl-A Ctrl-A sends a Ctrl-A). */
#ifndef CORRAL_HOSTED_CONSOLE_H
#define CORRAL_HOSTED_CONSOLE_H

#include "corral/common.h"

struct console;

/* Opens the console on in_fd/out_fd (normally 0 and 1). Returns NULL on failure. */
struct console *console_open(int in_fd, int out_fd);
/* Attached to a background VM: Ctrl-A d (not x) ends the session. */
void console_set_detach(struct console *c);
/* Restores the terminal (idempotent) and frees. */
void console_close(struct console *c);
/* Puts the terminal back as it was before console_open, if raw mode was set. Async-signal-
 * safe (one tcsetattr), for a death that skips exit handlers. */
void console_restore_tty(void);
/* The fd to poll for input (-1 once input has reached EOF). */
int console_input_fd(const struct console *c);
/* Reads what is available from in_fd (call after poll says readable) and handles escapes.
 * Returns bytes meant for the guest placed in buf (0 is fine), or -1 on EOF/error
 * (the VM keeps running without input). *quit is set when the user asked to quit. */
long console_read(struct console *c, uint8_t *buf, size_t len, bool *quit);
/* A struct char_backend write() for guest output: writes it to out_fd through the escape
 * filter (backend/term_filter.h) unless raw. A terminal that takes nothing for a moment
 * (EAGAIN) has output dropped rather than waited on; ctx is the struct console. */
long console_write(void *ctx, const uint8_t *buf, size_t len);
/* Passes guest output unfiltered (--console raw). */
void console_set_raw(struct console *c, bool raw);
/* Bytes of output dropped because the terminal would not take them. */
uint64_t console_dropped(const struct console *c);

#endif
