/* A VM process's CPU share through a cgroup v2 folder the host delegated to Corral
 * (CORRAL_CGROUP=DIR): each VM gets DIR/corral-NAME, and its quota goes into cpu.max. */
#ifndef CORRAL_HOSTED_CGROUP_H
#define CORRAL_HOSTED_CGROUP_H

#include <limits.h>
#include <stdbool.h>

/* All zero: not in a cgroup of ours. */
struct vm_cgroup {
    bool on;
    int cpu_max_fd;
    char path[PATH_MAX];
};

/* Moves the calling process into ROOT/corral-NAME (made if needed, with the cpu controller
 * enabled in ROOT for it). On failure a one-line reason in err, and cg stays off. */
int cgroup_join(struct vm_cgroup *cg, const char *root, const char *name, char *err,
                size_t errlen);
/* Writes the quota (percent of one core; 0: none) into cpu.max. Works after the lockdown. */
int cgroup_set_cpu(struct vm_cgroup *cg, unsigned percent);
void cgroup_close(struct vm_cgroup *cg);
/* After the VM process has ended (its monitor): removes its cgroup if empty. */
void cgroup_remove(const char *root, const char *name);

#endif
