/* `corral serve --api-sock PATH [--config FILE]`: a VM process that waits on its API socket
 * to be configured and started, as a Firecracker client expects (with --config it starts
 * at once). `corral serve --vm-dir DIR --ready-fd N` is what `corral start` runs: the VM
 * in DIR with its console log and socket, "ok" or the reason written to fd N. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hosted/api.h"
#include "hosted/cli.h"
#include "hosted/console.h"
#include "hosted/console_hub.h"
#include "hosted/home.h"
#include "hosted/proc.h"
#include "hosted/vmm.h"

static const char usage[] =
    "usage: corral serve --api-sock PATH [--config FILE]\n\n"
    "Serves the control API (Firecracker's endpoints: PUT /boot-source, /machine-config,\n"
    "/drives/ID, /network-interfaces/ID, /actions; PATCH /vm; GET /, /vm/config, /stats)\n"
    "on a unix socket; the VM starts on PUT /actions {\"action_type\": \"InstanceStart\"}.\n"
    "The guest's serial port is this process's standard input and output.\n";

static void tell_ready(int fd, const char *msg)
{
    if (fd < 0)
        return;
    if (write(fd, msg, strlen(msg)) < 0) {
        /* the starter has gone: nothing to tell */
    }
    close(fd);
}

/* The VM of a folder, started at once; its console goes to the folder. */
static int open_vm_dir(struct vmm *m, const char *dir, char *err, size_t errlen)
{
    snprintf(m->dir, sizeof(m->dir), "%s", dir);
    const char *base = strrchr(dir, '/');
    snprintf(m->name, sizeof(m->name), "%s", base ? base + 1 : dir);
    char dummy[HOME_PATH_MAX], log[HOME_PATH_MAX], sock[HOME_PATH_MAX];
    if (proc_load_definition(m->name, dummy, sizeof(dummy), &m->spec, err, errlen) ||
        home_switch_root(m->switch_root, sizeof(m->switch_root), err, errlen))
        return -EINVAL;
    home_file(dir, "console.log", log, sizeof(log));
    home_file(dir, "console.sock", sock, sizeof(sock));
    int rc = hub_open(&m->hub, log, sock, err, errlen);
    if (rc)
        return rc;
    home_file(dir, "api.sock", sock, sizeof(sock));
    return api_open(&m->api, sock, m, err, errlen);
}

int cmd_serve(int argc, char **argv)
{
    struct vmm m;
    memset(&m, 0, sizeof(m));
    spec_init(&m.spec);
    m.ready_fd = -1;
    const char *sock = NULL, *config = NULL, *dir = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            cli_error("serve: unknown option or missing value '%s' (see corral serve --help)", a);
            return EXIT_USAGE;
        }
        if (!strcmp(a, "--api-sock"))
            sock = argv[++i];
        else if (!strcmp(a, "--config") || !strcmp(a, "--config-file"))
            config = argv[++i];
        else if (!strcmp(a, "--vm-dir"))
            dir = argv[++i];
        else if (!strcmp(a, "--ready-fd"))
            m.ready_fd = atoi(argv[++i]);
        else {
            cli_error("serve: unknown option '%s' (see corral serve --help)", a);
            return EXIT_USAGE;
        }
    }
    if (!sock == !dir) {
        cli_error("serve: give --api-sock PATH (see corral serve --help)");
        return EXIT_USAGE;
    }
    char err[1024];
    int status = EXIT_VM_FAILED;
    if (dir) {
        if (open_vm_dir(&m, dir, err, sizeof(err)) || vmm_start(&m, err, sizeof(err)))
            goto fail;
        tell_ready(m.ready_fd, "ok\n");
        m.ready_fd = -1;
    } else {
        /* as Firecracker's: the guest's serial port is this process's stdin and stdout */
        if (!(m.term = console_open(STDIN_FILENO, STDOUT_FILENO))) {
            snprintf(err, sizeof(err), "cannot set up the console");
            goto fail;
        }
        if (home_switch_root(m.switch_root, sizeof(m.switch_root), err, sizeof(err)) ||
            (config && cli_load_config(config, &m.spec, err, sizeof(err))) ||
            api_open(&m.api, sock, &m, err, sizeof(err)) ||
            (config && vmm_start(&m, err, sizeof(err))))
            goto fail;
    }
    status = vmm_loop(&m);
    goto out;
fail:
    cli_error("%s", err);
    tell_ready(m.ready_fd, err);
out:
    vm_close(m.vm);
    api_close(m.api);
    hub_close(m.hub);
    console_close(m.term);
    spec_free(&m.spec);
    return status;
}
