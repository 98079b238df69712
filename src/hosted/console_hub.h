/* The serial console of a VM started in the background: every byte the guest writes goes
 * to console.log (capped) and to a ring of recent output; `corral console` clients connect
 * to console.sock, get the ring replayed, then live output, and type into the guest. */
#ifndef CORRAL_HOSTED_CONSOLE_HUB_H
#define CORRAL_HOSTED_CONSOLE_HUB_H

#include <poll.h>

#include "corral/common.h"

struct console_hub;
struct vm;

int hub_open(struct console_hub **out, const char *log_path, const char *sock_path, char *err,
             size_t errlen);
void hub_close(struct console_hub *h);
/* A struct char_backend write() for guest output (called from hart threads). */
long hub_write(void *ctx, const uint8_t *buf, size_t len);
/* The fds the event loop polls: fills at most max entries, returns how many. */
unsigned hub_pollfds(struct console_hub *h, struct pollfd *p, unsigned max);
/* After poll: accepts clients, moves their input into the VM (NULL: input is dropped).
 * Returns true while some input waits for room in the guest's UART. */
bool hub_service(struct console_hub *h, const struct pollfd *p, unsigned n, struct vm *vm);

#endif
