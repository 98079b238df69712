/* The verbs' side of the control API: one HTTP request to a VM process's unix socket
 * (libcurl), its JSON answer parsed with jansson. */
#ifndef CORRAL_HOSTED_CLIENT_H
#define CORRAL_HOSTED_CLIENT_H

#include <jansson.h>

#include "corral/common.h"

/* METHOD PATH with BODY (NULL: none) to the API socket SOCK. Returns the HTTP status, or
 * -1 with a reason in err when the VM process did not answer. *reply (if asked) is the
 * parsed answer or NULL. A 4xx/5xx answer's fault_message lands in err. */
long client_call(const char *sock, const char *method, const char *path, json_t *body,
                 json_t **reply, char *err, size_t errlen);
/* client_call on the VM named NAME; err names the VM when it is not running. */
long client_call_vm(const char *name, const char *method, const char *path, json_t *body,
                    json_t **reply, char *err, size_t errlen);

#endif
