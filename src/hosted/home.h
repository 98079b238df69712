/* Where VMs live: $CORRAL_HOME (default ~/.local/share/corral, /var/lib/corral as root),
 * one folder per VM under vms/ holding its definition (vm.json, the API's JSON), its API
 * and console sockets, its console log, its process ids and how its process ended. */
#ifndef CORRAL_HOSTED_HOME_H
#define CORRAL_HOSTED_HOME_H

#include <sys/types.h>

#include "corral/common.h"

#define HOME_PATH_MAX 4096

/* $CORRAL_HOME, created if missing. 0 or -errno with a reason in err. */
int home_root(char *out, size_t outlen, char *err, size_t errlen);
/* The folder of VM NAME (not created); -EINVAL for a bad name. */
int home_vm_dir(const char *name, char *out, size_t outlen, char *err, size_t errlen);
/* The folder holding the virtual switches' folders. */
int home_switch_root(char *out, size_t outlen, char *err, size_t errlen);
/* DIR/FILE into out; -ENAMETOOLONG (unix socket paths must stay under 108 bytes). */
int home_file(const char *dir, const char *file, char *out, size_t outlen);

/* Removes a VM's folder and the files in it (a VM's folder holds no subfolders). */
int home_remove_dir(const char *dir);

/* What the monitor of a VM process wrote when it started and when the process ended. */
struct home_proc {
    pid_t pid;            /* the VM process; 0 if none was started */
    unsigned long long start_ticks; /* its start time in /proc/PID/stat, against pid reuse */
    bool alive;
    bool ended;           /* exit.json exists */
    int exit_code;        /* -1 when killed by a signal */
    int signal;
    char ended_at[32];
};
int home_read_proc(const char *dir, struct home_proc *p);
/* Start time of a live process in clock ticks since boot (field 22 of /proc/PID/stat). */
unsigned long long home_proc_start(pid_t pid);

#endif
