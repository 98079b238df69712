/* The VM process's lockdown, from its VM description. */
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "hosted/lockdown.h"

int lockdown_enter(const struct vm_spec *s, const char *dir, const char *switch_root,
                   char *err, size_t errlen)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
        snprintf(err, errlen, "sandbox: cannot set no_new_privs: %s", strerror(errno));
        return -errno;
    }
    struct rlimit core = { 0, 0 }; /* guest memory never lands in a core file */
    setrlimit(RLIMIT_CORE, &core);
    return 0;
}

int lockdown_filter(char *err, size_t errlen)
{
    return 0;
}
