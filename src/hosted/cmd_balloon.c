/* `corral balloon NAME SIZE`: how much memory the balloon takes from the guest now
 * (0 gives it all back). */
#include <stdio.h>
#include <string.h>

#include "hosted/cli.h"
#include "hosted/client.h"

int cmd_balloon(int argc, char **argv)
{
    uint64_t size;
    if (argc != 4 || argv[2][0] == '-' || cli_parse_size(argv[3], &size)) {
        cli_error("usage: corral balloon NAME SIZE (e.g. 256M)");
        return EXIT_USAGE;
    }
    char err[512];
    json_t *body = json_pack("{s:I}", "amount_mib", (json_int_t)(size / MiB));
    long st = client_call_vm(argv[2], "PATCH", "/balloon", body, NULL, err, sizeof(err));
    json_decref(body);
    if (st != 204) {
        cli_error("%s: %s", argv[2], err);
        return EXIT_VM_FAILED;
    }
    return 0;
}
