/* The errno codes the shared headers name (corral/common.h), for the freestanding image:
 * same values as Linux, no errno variable. */
#ifndef CORRAL_BM_ERRNO_H
#define CORRAL_BM_ERRNO_H
#define EPERM 1
#define ENOENT 2
#define EIO 5
#define E2BIG 7
#define ENOEXEC 8
#define ENOMEM 12
#define EFAULT 14
#define EBUSY 16
#define EEXIST 17
#define ENODEV 19
#define EINVAL 22
#define ENOSPC 28
#define EROFS 30
#define ERANGE 34
#define ENOSYS 38
#define ELOOP 40
#define EPROTO 71
#define ENOBUFS 105
#define EOPNOTSUPP 95
#define ENOTSUP 95
#endif
