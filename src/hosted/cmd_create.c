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

/* The base's format from its first bytes: the user chose this file as a base, and it is
 * opened read-only, so its header is trusted here (unlike a disk a guest has written). */
static const char *base_format(const char *path)
{
    uint8_t magic[4] = { 0 };
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, magic, 4) != 4)
            magic[0] = 0;
        close(fd);
    }
    return !memcmp(magic, "QFI\xfb", 4) ? "qcow2" : "raw";
}

/* --disk-from BASE: a new qcow2 overlay in the VM's folder on the read-only BASE. */
static int make_overlays(struct vm_spec *s, const struct cli_vm_opts *o, const char *dir,
                         char *err, size_t errlen)
{
    for (unsigned i = 0; i < o->n_disk_from; i++) {
        char base[PATH_MAX], path[HOME_PATH_MAX], name[32], why[512], arg[PATH_MAX];
        snprintf(arg, sizeof(arg), "%s", o->disk_from[i]);
        size_t n = strlen(arg);
        bool root = n > 5 && !strcmp(arg + n - 5, ",root");
        if (root)
            arg[n - 5] = '\0';
        if (!realpath(arg, base)) {
            snprintf(err, errlen, "--disk-from: cannot find '%s': %s", arg, strerror(errno));
            return -ENOENT;
        }
        snprintf(name, sizeof(name), "disk%u.qcow2", s->n_drives);
        home_file(dir, name, path, sizeof(path));
        if (qcow2_create_overlay(path, base, base_format(base), why, sizeof(why))) {
            snprintf(err, errlen, "--disk-from: %s", why);
            return -EIO;
        }
        struct spec_drive *d = &s->drives[s->n_drives++];
        memset(d, 0, sizeof(*d));
        snprintf(d->id, sizeof(d->id), "disk%u", s->n_drives - 1);
        d->format = SPEC_FMT_QCOW2;
        d->is_root_device = root;
        if (!(d->path = strdup(path)))
            return -ENOMEM;
    }
    return 0;
}

static void remove_dir(const char *dir)
{
    static const char *const files[] = { "vm.json", "disk0.qcow2", "disk1.qcow2", "disk2.qcow2",
                                         "disk3.qcow2", "disk4.qcow2", "disk5.qcow2" };
    char path[HOME_PATH_MAX];
    for (size_t i = 0; i < ARRAY_SIZE(files); i++)
        if (!home_file(dir, files[i], path, sizeof(path)))
            unlink(path);
    rmdir(dir);
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
        remove_dir(dir);
        goto out;
    }
    status = 0;
out:
    if (status)
        cli_error("%s", err);
    spec_free(&s);
    return status;
}
