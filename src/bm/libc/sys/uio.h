/* struct iovec, as the shared device models pass buffers, for the freestanding image. */
#ifndef CORRAL_BM_SYS_UIO_H
#define CORRAL_BM_SYS_UIO_H
#include <sys/types.h>
struct iovec {
    void *iov_base;
    size_t iov_len;
};
#endif
