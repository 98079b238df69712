/* Kernels shared between VMs through one read-only copy per distinct kernel under
 * $CORRAL_HOME/images/, mapped copy-on-write into each VM's RAM. */
#ifndef CORRAL_HOSTED_IMAGE_SHARE_H
#define CORRAL_HOSTED_IMAGE_SHARE_H

#include <stddef.h>
#include <stdint.h>

/* Finds or makes the shared copy of DATA and opens it: a descriptor, or -1 with the reason
 * in why (the VM then boots from a private copy as before). */
int image_share_open(const uint8_t *data, size_t len, char *why, size_t whylen);
/* Removes the copies no running VM holds; returns how many. */
unsigned image_share_gc(void);
/* Maps the first LEN bytes of the copy over DST (page-aligned), private and writable. */
int image_share_map(int fd, uint8_t *dst, size_t len);

#endif
