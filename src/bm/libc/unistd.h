/* Nothing of unistd.h is used by the shared sources built here; they include it. */
#ifndef CORRAL_BM_UNISTD_H
#define CORRAL_BM_UNISTD_H
#include <sys/types.h>
#endif
