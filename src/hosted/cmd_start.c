/* `corral start NAME`: starts a defined VM in the background and returns once its guest
 * runs. A small monitor process (no daemon: one per VM) runs the VM process, waits for it
 * and writes exit.json, so that `ls` can say how it ended, crash or kill included. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hosted/cgroup.h"
#include "hosted/cli.h"
#include "hosted/home.h"
#include "hosted/proc.h"

#define START_TIMEOUT_MS 120000

static void redirect(const char *dir)
{
    char log[HOME_PATH_MAX];
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        close(null);
    }
    home_file(dir, "vm.log", log, sizeof(log));
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
}

/* The monitor: runs the VM process and records its end. Never returns. */
static void monitor(const char *dir, const char *name, int ready_w)
{
    setsid();
    redirect(dir);
    signal(SIGHUP, SIG_IGN);
    pid_t vm = fork();
    if (vm == 0) {
        char fd[16];
        snprintf(fd, sizeof(fd), "%d", ready_w);
        execl("/proc/self/exe", "corral", "serve", "--vm-dir", dir, "--ready-fd", fd, (char *)NULL);
        fprintf(stderr, "corral: cannot run the VM process: %s\n", strerror(errno));
        _exit(127);
    }
    close(ready_w);
    if (vm < 0)
        _exit(1);
    proc_write_pid(dir, vm);
    int ws = 0;
    while (waitpid(vm, &ws, 0) < 0 && errno == EINTR)
        ;
    proc_write_exit(dir, ws);
    const char *cg = getenv("CORRAL_CGROUP");
    if (cg && *cg)
        cgroup_remove(cg, name);
    if (WIFSIGNALED(ws))
        fprintf(stderr, "corral: the VM process was killed by signal %d (%s)\n", WTERMSIG(ws),
                strsignal(WTERMSIG(ws)));
    _exit(0);
}

int cmd_start(int argc, char **argv)
{
    if (argc != 3 || argv[2][0] == '-') {
        if (argc == 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
            puts("usage: corral start NAME\n\nStarts the VM NAME in the background; returns once "
                 "its guest runs.");
            return 0;
        }
        cli_error("usage: corral start NAME");
        return EXIT_USAGE;
    }
    const char *name = argv[2];
    char dir[HOME_PATH_MAX];
    struct home_proc p;
    if (proc_find(name, dir, sizeof(dir), &p))
        return EXIT_VM_FAILED;
    if (p.alive) {
        cli_error("VM '%s' is already running (pid %d)", name, (int)p.pid);
        return EXIT_VM_FAILED;
    }
    char path[HOME_PATH_MAX];
    home_file(dir, "exit.json", path, sizeof(path));
    unlink(path);
    home_file(dir, "pid.json", path, sizeof(path));
    unlink(path);
    int ready[2];
    if (pipe(ready)) {
        cli_error("cannot create a pipe: %s", strerror(errno));
        return EXIT_VM_FAILED;
    }
    fcntl(ready[0], F_SETFD, FD_CLOEXEC);
    pid_t mon = fork();
    if (mon < 0) {
        cli_error("cannot fork: %s", strerror(errno));
        return EXIT_VM_FAILED;
    }
    if (mon == 0) {
        close(ready[0]);
        monitor(dir, name, ready[1]);
    }
    close(ready[1]);
    char msg[1024];
    size_t n = 0;
    ssize_t got = 1;
    /* the VM process answers once its guest runs (seconds), or the pipe closes when it dies */
    struct pollfd pf = { ready[0], POLLIN, 0 };
    while (n < sizeof(msg) - 1 && got != 0) {
        int pr = poll(&pf, 1, START_TIMEOUT_MS);
        if (pr == 0) {
            snprintf(msg, sizeof(msg), "its process did not report within %d s (see %s/vm.log)",
                     START_TIMEOUT_MS / 1000, dir);
            close(ready[0]);
            cli_error("cannot start VM '%s': %s", name, msg);
            return EXIT_VM_FAILED;
        }
        got = pr < 0 ? -1 : read(ready[0], msg + n, sizeof(msg) - 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            break;
        n += (size_t)got;
    }
    close(ready[0]);
    msg[n] = '\0';
    if (strcmp(msg, "ok\n")) {
        if (!n)
            snprintf(msg, sizeof(msg), "the VM process ended before its guest ran (see %.900s/vm.log)", dir);
        cli_error("cannot start VM '%s': %s", name, msg);
        return EXIT_VM_FAILED;
    }
    return 0;
}
