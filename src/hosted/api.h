/* The control API's server side: HTTP/1.1 + JSON on a unix socket (libmicrohttpd, driven
 * from the VMM's event loop). Endpoints: GET /, /version, /machine-config, /vm/config,
 * /stats, /balloon; PUT /boot-source, /machine-config, /drives/{id},
 * /network-interfaces/{id}, /balloon, /entropy, /actions; PATCH /machine-config, /vm,
 * /balloon. Errors are {"fault_message": "..."} with status 400. */
#ifndef CORRAL_HOSTED_API_H
#define CORRAL_HOSTED_API_H

#include "corral/common.h"

struct api;
struct vmm;

int api_open(struct api **out, const char *path, struct vmm *m, char *err, size_t errlen);
/* The fd to poll for reading (an epoll fd), and how long the server may wait. */
int api_poll_fd(struct api *a);
int api_timeout_ms(struct api *a);
/* Serves whatever is ready, without blocking. */
void api_run(struct api *a);
/* Stops serving and removes the socket. NULL is fine. */
void api_close(struct api *a);

#endif
