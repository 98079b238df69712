/* `corral rm NAME`: removes a VM that is not running: its folder, definition, logs and the
 * overlays `create --disk-from` made there, then the shared kernel copies no running VM holds
 * (image_share.c). Images elsewhere are left alone. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hosted/cli.h"
#include "hosted/home.h"
#include "hosted/image_share.h"
#include "hosted/proc.h"

int cmd_rm(int argc, char **argv)
{
    if (argc != 3 || argv[2][0] == '-') {
        cli_error("usage: corral rm NAME");
        return EXIT_USAGE;
    }
    char dir[HOME_PATH_MAX] = "", err[512];
    struct vm_spec s;
    spec_init(&s);
    int rc = proc_load_definition(argv[2], dir, sizeof(dir), &s, err, sizeof(err));
    spec_free(&s);
    if (rc && (rc != -EINVAL || !dir[0])) {
        cli_error("%s", err);
        return EXIT_VM_FAILED;
    }
    struct home_proc p;
    home_read_proc(dir, &p);
    if (p.alive) {
        cli_error("VM '%s' is running (pid %d): stop it first", argv[2], (int)p.pid);
        return EXIT_VM_FAILED;
    }
    if (home_remove_dir(dir)) {
        cli_error("cannot remove '%s': %s", dir, strerror(errno));
        return EXIT_VM_FAILED;
    }
    image_share_gc(); /* kernels no running VM uses: the next VM makes its copy again */
    return 0;
}
