/* The VM process: one VM, its control API on a unix socket, its console (the terminal
 * for `corral run`, a log and a socket for `corral start`), its signals and its lockdown,
 * all served from one event loop on the main thread. Device and hart threads are started
 * after the lockdown, so every thread carries it. */
#ifndef CORRAL_HOSTED_VMM_H
#define CORRAL_HOSTED_VMM_H

#include "hosted/cgroup.h"
#include "hosted/spec.h"
#include "hosted/vm.h"

struct console;
struct console_hub;
struct api;

struct vmm {
    char name[SPEC_ID_MAX];
    char dir[4096];          /* the VM's folder ("" for none) */
    char switch_root[4096];
    struct vm_spec spec;     /* what the API has configured so far */
    struct vm *vm;           /* NULL until InstanceStart */
    struct api *api;         /* NULL without an API socket */
    struct console *term;    /* `run`: the user's terminal */
    struct console_hub *hub; /* `start`: console.log and console.sock */
    int ready_fd;            /* `start`: told "ok" or the reason once the guest runs */
    bool quit;               /* leave the loop (the user quit on the terminal) */
    int sfd;                 /* the signalfd, made before any thread; valid when sfd_ready */
    bool sfd_ready;
    int status;              /* exit status once the VM has ended */
    struct vm_cgroup cg;     /* CORRAL_CGROUP: the VM's own cgroup (off: none) */
    uint64_t button_ms;      /* when a signal pressed the power button (0: not pressed) */
};

/* After a signal has pressed the power button, the guest has this long to power off before
 * the VM is stopped hard (a second signal stops it at once). */
#define VMM_BUTTON_GRACE_MS 30000

/* InstanceStart: opens the VM's files, locks the process down, starts the guest. */
int vmm_start(struct vmm *m, char *err, size_t errlen);
/* Runs the event loop until the VM has ended (or, before a start, until a signal asks to
 * leave). Returns the process's exit status. */
int vmm_loop(struct vmm *m);

#endif
