/* `corral stop NAME [--timeout S] [--force]`: presses the guest's power button and waits
 * for it to power off; after the timeout (or at once with --force) the VM is stopped hard.
 * Either way the VM process closes its disks cleanly, so flushed writes stay; only a VM
 * process that no longer answers is killed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hosted/cli.h"
#include "hosted/client.h"
#include "hosted/home.h"
#include "hosted/proc.h"

static bool wait_gone(const char *dir, double seconds)
{
    struct timespec t = { 0, 50000000 };
    for (double waited = 0; waited < seconds; waited += 0.05) {
        struct home_proc p;
        home_read_proc(dir, &p);
        if (!p.alive)
            return true;
        nanosleep(&t, NULL);
    }
    return false;
}

int cmd_stop(int argc, char **argv)
{
    const char *name = NULL;
    double timeout = 30;
    bool force = false;
    for (int i = 2; i < argc; i++) {
        char *end;
        if (!strcmp(argv[i], "--force")) {
            force = true;
        } else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
            timeout = strtod(argv[++i], &end);
            if (*end || timeout < 0 || timeout > 86400) {
                cli_error("stop: --timeout '%s' is not a number of seconds", argv[i]);
                return EXIT_USAGE;
            }
        } else if (argv[i][0] != '-' && !name) {
            name = argv[i];
        } else {
            cli_error("usage: corral stop NAME [--timeout SECONDS] [--force]");
            return EXIT_USAGE;
        }
    }
    if (!name) {
        cli_error("usage: corral stop NAME [--timeout SECONDS] [--force]");
        return EXIT_USAGE;
    }
    char dir[HOME_PATH_MAX], err[512];
    struct home_proc p;
    if (proc_find(name, dir, sizeof(dir), &p))
        return EXIT_VM_FAILED;
    if (!p.alive) {
        cli_error("VM '%s' is not running", name);
        return EXIT_VM_FAILED;
    }
    json_t *press = json_pack("{s:s}", "action_type", "SendCtrlAltDel");
    if (!force) {
        long st = client_call_vm(name, "PUT", "/actions", press, NULL, err, sizeof(err));
        if (st == 204 && wait_gone(dir, timeout)) {
            json_decref(press);
            return 0;
        }
        fprintf(stderr, "corral: VM '%s' %s; stopping it\n", name,
                st == 204 ? "did not power off in time" : err);
    }
    json_decref(press);
    json_t *stop = json_pack("{s:s}", "action_type", "Stop");
    long st = client_call_vm(name, "PUT", "/actions", stop, NULL, err, sizeof(err));
    json_decref(stop);
    if (st == 204 && wait_gone(dir, 10))
        return 0;
    home_read_proc(dir, &p);
    if (p.alive) {
        fprintf(stderr, "corral: VM '%s' does not answer; killing pid %d\n", name, (int)p.pid);
        kill(p.pid, SIGKILL);
        wait_gone(dir, 5);
    }
    return 0;
}
