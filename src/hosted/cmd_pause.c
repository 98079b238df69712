/* `corral pause NAME` and `corral resume NAME`: the harts stop (or go on) where they are;
 * devices, timers and the API keep running. */
#include <stdio.h>
#include <string.h>

#include "hosted/cli.h"
#include "hosted/client.h"

static int set_state(int argc, char **argv, const char *state)
{
    if (argc != 3 || argv[2][0] == '-') {
        cli_error("usage: corral %s NAME", argv[1]);
        return EXIT_USAGE;
    }
    char err[512];
    json_t *body = json_pack("{s:s}", "state", state);
    long st = client_call_vm(argv[2], "PATCH", "/vm", body, NULL, err, sizeof(err));
    json_decref(body);
    if (st != 204) {
        cli_error("%s: %s", argv[2], err);
        return EXIT_VM_FAILED;
    }
    return 0;
}

int cmd_pause(int argc, char **argv) { return set_state(argc, argv, "Paused"); }
int cmd_resume(int argc, char **argv) { return set_state(argc, argv, "Resumed"); }
