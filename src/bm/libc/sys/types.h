/* The types of sys/types.h that the shared headers name, for the freestanding image. */
#ifndef CORRAL_BM_SYS_TYPES_H
#define CORRAL_BM_SYS_TYPES_H
#include <stddef.h>
#include <stdint.h>
typedef long ssize_t;
typedef long off_t;
typedef unsigned long dev_t;
typedef unsigned long ino_t;
#endif
