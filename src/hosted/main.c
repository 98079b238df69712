/* `corral`: the hosted (type 2) hypervisor's program. Each verb lives in its own file
 * (cmd_*.c); this table finds it. There is no daemon: a VM is one process, and every verb
 * but run and serve talks to a VM process through its control API. */
#include <stdio.h>
#include <string.h>

#include "hosted/cli.h"

struct verb {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
};

static const struct verb verbs[] = {
    { "run", cmd_run, "run a VM in the foreground on this terminal" },
    { "create", cmd_create, "define a VM: corral create NAME [VM options] | --config FILE" },
    { "start", cmd_start, "start a defined VM in the background" },
    { "ls", cmd_ls, "list VMs with their state and resources [--json]" },
    { "console", cmd_console, "attach to a background VM's serial console (Ctrl-A d detaches)" },
    { "stop", cmd_stop, "power a VM off: power button, then hard [--timeout S] [--force]" },
    { "pause", cmd_pause, "pause a VM's harts" },
    { "resume", cmd_resume, "resume a paused VM" },
    { "balloon", cmd_balloon, "set how much memory the balloon takes: corral balloon NAME SIZE" },
    { "rm", cmd_rm, "remove a VM that is not running" },
    { "serve", cmd_serve, "serve the control API on a socket: --api-sock PATH" },
};

static void usage(void)
{
    puts("usage: corral VERB [options]      (corral VERB --help for a verb's options)\n\n"
         "Corral runs 64-bit RISC-V virtual machines (virt board), one process per VM.\n"
         "VMs live in $CORRAL_HOME (default ~/.local/share/corral, /var/lib/corral as root).\n");
    for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
        printf("  %-9s %s\n", verbs[i].name, verbs[i].help);
    puts("");
    fputs(cli_vm_usage, stdout);
    puts("\nconsole: on `corral run` the guest's serial port is the terminal; Ctrl-A x quits,\n"
         "Ctrl-A h helps.");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        cli_error("missing command (try corral --help)");
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage();
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("corral %s\n", CORRAL_VERSION);
        return 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
        if (strcmp(cmd, verbs[i].name))
            continue;
        return verbs[i].fn(argc, argv);
    }
    cli_error("unknown command '%s' (try corral --help)", cmd);
    return EXIT_USAGE;
}
