/* `corral create NAME [VM options] | --config FILE`: stores a VM's definition (the control
 * API's JSON) in its own folder under $CORRAL_HOME. Paths are made absolute, since the VM
 * process does not run where the user stood. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/block.h"
#include "hosted/cli.h"
#include "hosted/home.h"
#include "hosted/proc.h"

static int absolute(char **path, char *err, size_t errlen)
{
    if (!*path || (*path)[0] == '/' || !strcmp(*path, "builtin"))
        return 0;
    char *abs = realpath(*path, NULL);
    if (!abs) {
        snprintf(err, errlen, "cannot find '%s': %s", *path, strerror(errno));
        return -errno;
    }
    free(*path);
    *path = abs;
    return 0;
}

static int make_paths_absolute(struct vm_spec *s, char *err, size_t errlen)
{
    int rc = absolute(&s->kernel, err, errlen) || absolute(&s->initrd, err, errlen) ||
             absolute(&s->firmware, err, errlen) || absolute(&s->dtb, err, errlen);
    for (unsigned i = 0; !rc && i < s->n_drives; i++)
        rc = absolute(&s->drives[i].path, err, errlen);
    return rc ? -EINVAL : 0;
}

/* The base's format: what the user named, else a read-only probe that refuses a qcow2
 * header naming a backing file (a base that was once a guest's raw disk may hold one the
 * guest wrote, pointing at any host file); format=qcow2 says the user trusts it. */
static const char *base_format(const char *path, const char *named, char *err, size_t errlen)
{
    if (named)
        return named;
    struct blk_backend *be;
    char why[512];
    if (blk_open(path, BLK_FORMAT_AUTO_STRICT, true, &be, why, sizeof(why))) {
        snprintf(err, errlen, "--disk-from: %s (name the base's format: BASE,format=qcow2 "
                              "or BASE,format=raw)", why);
        return NULL;
    }
    const char *f = blk_format(be) == BLK_FORMAT_QCOW2 ? "qcow2" : "raw";
    blk_close(be);
    return f;
}

/* --disk-from BASE: a new qcow2 overlay in the VM's folder on the read-only BASE. */
static int make_overlays(struct vm_spec *s, const struct cli_vm_opts *o, const char *dir,
                         char *err, size_t errlen)
{
    for (unsigned i = 0; i < o->n_disk_from; i++) {
        const struct cli_base *from = &o->disk_from[i];
        char base[PATH_MAX], path[HOME_PATH_MAX], name[32], why[512];
        if (!realpath(from->path, base)) {
            snprintf(err, errlen, "--disk-from: cannot find '%s': %s", from->path, strerror(errno));
            return -ENOENT;
        }
        snprintf(name, sizeof(name), "disk%u.qcow2", s->n_drives);
        home_file(dir, name, path, sizeof(path));
        const char *format = base_format(base, from->format, err, errlen);
        if (!format)
            return -EINVAL;
        if (qcow2_create_overlay(path, base, format, why, sizeof(why))) {
            snprintf(err, errlen, "--disk-from: %s", why);
            return -EIO;
        }
        struct spec_drive *d = &s->drives[s->n_drives++];
        memset(d, 0, sizeof(*d));
        snprintf(d->id, sizeof(d->id), "disk%u", s->n_drives - 1);
        d->format = SPEC_FMT_QCOW2;
        d->is_root_device = from->root;
        if (!(d->path = strdup(path)))
            return -ENOMEM;
    }
    return 0;
}

int cmd_create(int argc, char **argv)
{
    struct vm_spec s;
    spec_init(&s);
    struct cli_vm_opts o;
    char err[1024], dir[HOME_PATH_MAX], path[HOME_PATH_MAX];
    int rc = cli_parse_vm(argc, argv, 2, &s, &o, err, sizeof(err));
    if (rc == 1) {
        fputs("usage: corral create NAME [VM options] | corral create NAME --config FILE\n\n", stdout);
        fputs(cli_vm_usage, stdout);
        spec_free(&s);
        return 0;
    }
    if (!rc && !o.name) {
        snprintf(err, sizeof(err), "create: missing the VM's NAME");
        rc = -1;
    }
    int status = EXIT_USAGE;
    if (rc || make_paths_absolute(&s, err, sizeof(err)) ||
        home_vm_dir(o.name, dir, sizeof(dir), err, sizeof(err)))
        goto out;
    status = EXIT_VM_FAILED;
    if (mkdir(dir, 0700)) {
        if (errno == EEXIST)
            snprintf(err, sizeof(err), "a VM named '%s' exists already", o.name);
        else
            snprintf(err, sizeof(err), "cannot create '%.900s': %s", dir, strerror(errno));
        goto out;
    }
    home_file(dir, "vm.json", path, sizeof(path));
    if (make_overlays(&s, &o, dir, err, sizeof(err)) || spec_check(&s, err, sizeof(err)) ||
        proc_write_json(path, spec_to_json(&s))) {
        if (!err[0])
            snprintf(err, sizeof(err), "cannot write '%.900s'", path);
        home_remove_dir(dir);
        goto out;
    }
    status = 0;
out:
    if (status)
        cli_error("%s", err);
    spec_free(&s);
    return status;
}
