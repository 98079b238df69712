/* The VM process lockdown: no-new-privs, rlimits, Landlock over the VM's own files and
 * seccomp allow-lists per thread kind. Entered once, after every file the VM needs is open
 * and before guest code runs; there is no way back. Not a policy language: the caller says
 * which paths and ports the VM keeps, the allow-lists are fixed here. */
#ifndef CORRAL_HOSTED_SANDBOX_H
#define CORRAL_HOSTED_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sandbox_policy {
    /* Paths the VM may still open after lockdown (a directory covers what is beneath it).
     * Files opened before sandbox_enter need no entry: Landlock checks at open time. */
    const char *const *ro_paths;
    unsigned n_ro;
    const char *const *rw_paths;
    unsigned n_rw;
    /* TCP ports the VM may still bind (Landlock ABI 4); connect stays open for user
     * networking's NAT. Ports bound before sandbox_enter need no entry. */
    const uint16_t *tcp_bind_ports;
    unsigned n_tcp_bind;
    bool landlock_required; /* fail, instead of warning, without a usable Landlock */
};

enum sandbox_thread_kind {
    SANDBOX_WORKER = 0, /* I/O workers, network backends, the board thread: the process filter */
    SANDBOX_MAIN,       /* the thread that called sandbox_enter */
    SANDBOX_VCPU,       /* hart threads: the process filter plus a narrower one */
};

/* Locks the whole process down: no-new-privs, rlimits, Landlock (every thread that exists, and
 * so every later one), the process-wide seccomp filter on every thread (TSYNC). Call it from
 * the main thread while no other thread creates threads. Returns 0 (warn holds a line when
 * something was weaker than asked, e.g. no Landlock, else "") or a negative errno with a
 * one-line reason in err. A forbidden system call later prints
 * "corral: sandbox: forbidden system call N (name) in KIND thread" and ends the process
 * with status 159. */
int sandbox_enter(const struct sandbox_policy *p, char *warn, size_t warnlen, char *err,
                  size_t errlen);

/* Adds the filter of kind k to the calling thread (filters stack: it can only narrow).
 * A no-op returning 0 before sandbox_enter. Returns 0 or a negative errno. */
int sandbox_enter_thread(enum sandbox_thread_kind k);

/* fn runs when a forbidden system call ends the process, after its line is written, e.g. to
 * put the terminal back. It must be async-signal-safe and make only calls every filter allows
 * (write, and ioctl TCSETS/TCSETSW/TCSETSF for tcsetattr). */
void sandbox_on_violation(void (*fn)(void));

/* The highest Landlock ABI this kernel offers, 0 if none. */
int sandbox_landlock_abi(void);

#endif
