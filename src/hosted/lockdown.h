/* What a VM process gives up before its guest runs, derived from its VM description:
 * the files it may reach (Landlock), the system calls it may make (seccomp), its limits. */
#ifndef CORRAL_HOSTED_LOCKDOWN_H
#define CORRAL_HOSTED_LOCKDOWN_H

#include "hosted/spec.h"

/* Locks the whole process down (sandbox.h): call after the devices are attached and before
 * the harts start. DIR is the VM's folder ("" for none). */
int lockdown_enter(const struct vm_spec *s, const char *dir, const char *switch_root,
                   char *err, size_t errlen);
/* The board's hart_thread_start: narrows a hart thread to what harts need. */
void lockdown_hart_thread(void *ctx);

#endif
