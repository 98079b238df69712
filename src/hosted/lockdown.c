/* The VM process's lockdown, from its VM description: the folders it keeps (its own, its
 * switches'), what user networking still reads, then sandbox_enter() for the rest. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hosted/console.h"
#include "hosted/lockdown.h"
#include "hosted/sandbox.h"

int lockdown_enter(const struct vm_spec *s, const char *dir, const char *switch_root,
                   char *err, size_t errlen)
{
    static char switch_dirs[SPEC_MAX_NETS][4200];
    const char *rw[1 + SPEC_MAX_NETS];
    unsigned n_rw = 0;
    if (dir && dir[0])
        rw[n_rw++] = dir; /* exit.json, the sockets */
    for (unsigned i = 0; i < s->n_nets; i++) {
        if (s->nets[i].kind != SPEC_NET_SWITCH)
            continue;
        snprintf(switch_dirs[i], sizeof(switch_dirs[i]), "%s/%s", switch_root,
                 s->nets[i].switch_name);
        rw[n_rw++] = switch_dirs[i]; /* flooding reads it, stale ports are removed */
    }
    struct sandbox_policy p = { .rw_paths = rw, .n_rw = n_rw };
    char warn[256] = "", why[256] = "";
    sandbox_on_violation(console_restore_tty); /* a forbidden call leaves the terminal usable */
    int rc = sandbox_enter(&p, warn, sizeof(warn), why, sizeof(why));
    if (rc) {
        snprintf(err, errlen, "sandbox: %s", why);
        return rc;
    }
    if (warn[0])
        fprintf(stderr, "corral: sandbox: %s\n", warn);
    return 0;
}

void lockdown_hart_thread(void *ctx)
{
    (void)ctx;
    if (sandbox_enter_thread(SANDBOX_VCPU)) {
        fprintf(stderr, "corral: sandbox: cannot narrow a hart thread\n");
        _exit(1);
    }
}
