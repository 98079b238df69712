/* What a VM process gives up before its guest runs, derived from its VM description:
 * the files it may reach (Landlock), the system calls it may make (seccomp), its limits. */
#ifndef CORRAL_HOSTED_LOCKDOWN_H
#define CORRAL_HOSTED_LOCKDOWN_H

#include "hosted/spec.h"

/* No new privileges, rlimits and the file rules: call on the only thread, after every
 * image is open and before any device thread starts. DIR is the VM's folder ("" for none). */
int lockdown_enter(const struct vm_spec *s, const char *dir, const char *switch_root,
                   char *err, size_t errlen);
/* The system call filters, for all threads at once. */
int lockdown_filter(char *err, size_t errlen);

#endif
