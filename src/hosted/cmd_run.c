/* `corral run [--name NAME] [VM options]`: one VM in the foreground on this terminal.
 * With a name, the VM also serves its control API in its folder, so the other verbs
 * (ls, pause, stop, ...) reach it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hosted/api.h"
#include "hosted/cli.h"
#include "hosted/console.h"
#include "hosted/home.h"
#include "hosted/proc.h"
#include "hosted/vmm.h"

static const char usage[] =
    "usage: corral run --kernel PATH [--name NAME] [VM options]\n\n"
    "Runs a 64-bit RISC-V virtual machine (virt board) in the foreground; the guest's\n"
    "serial port is the terminal: Ctrl-A x quits, Ctrl-A h helps.\n\n";

int cmd_run(int argc, char **argv)
{
    struct vmm m;
    memset(&m, 0, sizeof(m));
    spec_init(&m.spec);
    struct cli_vm_opts o;
    char err[1024];
    int rc = cli_parse_vm(argc, argv, 2, &m.spec, &o, err, sizeof(err));
    if (rc == 1) {
        fputs(usage, stdout);
        fputs(cli_vm_usage, stdout);
        spec_free(&m.spec);
        return 0;
    }
    if (rc) {
        cli_error("%s", err);
        spec_free(&m.spec);
        return EXIT_USAGE;
    }
    int status = EXIT_VM_FAILED;
    if (o.name && proc_claim_dir(o.name, &m, err, sizeof(err))) {
        cli_error("%s", err);
        goto out;
    }
    if (!m.switch_root[0] && home_switch_root(m.switch_root, sizeof(m.switch_root), err, sizeof(err))) {
        cli_error("%s", err);
        goto out;
    }
    if (!(m.term = console_open(STDIN_FILENO, STDOUT_FILENO))) {
        cli_error("cannot set up the console");
        goto out;
    }
    if (vmm_start(&m, err, sizeof(err))) {
        console_close(m.term);
        m.term = NULL;
        cli_error("%s", err);
        goto out;
    }
    status = vmm_loop(&m);
out:
    if (m.name[0])
        proc_release_dir(&m, status);
    vm_close(m.vm);
    api_close(m.api);
    console_close(m.term);
    spec_free(&m.spec);
    return status;
}
