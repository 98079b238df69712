/* A VM process's CPU share through a cgroup v2 the host delegated (CORRAL_CGROUP): the VM
 * process moves into a child cgroup of its own and the quota goes into its cpu.max, so that
 * the kernel bounds every thread of the VM (harts, disk and network threads alike). Without
 * a delegated cgroup the engine's own throttle (board_set_cpu_quota) does it for the harts. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hosted/cgroup.h"

#define CPU_PERIOD_US 100000

/* Reads DIR/FILE (small) into buf; -errno on failure. */
static int read_small(const char *dir, const char *file, char *buf, size_t len)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, len - 1);
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    buf[n] = '\0';
    return 0;
}

static int write_small(const char *dir, const char *file, const char *text)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : n < 0 ? -e : -EIO;
}

/* Whether the space-separated list holds WORD. */
static bool has_word(const char *list, const char *word)
{
    size_t w = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += w) {
        bool starts = p == list || p[-1] == ' ' || p[-1] == '+';
        bool ends = p[w] == '\0' || p[w] == ' ' || p[w] == '\n';
        if (starts && ends)
            return true;
    }
    return false;
}

int cgroup_join(struct vm_cgroup *cg, const char *root, const char *name, char *err,
                size_t errlen)
{
    cg->on = false;
    /* the longest path made below: ROOT/corral-NAME/cgroup.procs, and cpu.max beside it */
    if (strlen(root) + strlen(name) + sizeof("/corral-/cgroup.subtree_control") > sizeof(cg->path)) {
        snprintf(err, errlen, "CORRAL_CGROUP=%.64s...: the path is too long", root);
        return -ENAMETOOLONG;
    }
    char buf[512];
    int rc = read_small(root, "cgroup.controllers", buf, sizeof(buf));
    if (rc) {
        snprintf(err, errlen, "CORRAL_CGROUP=%s is not a cgroup v2 folder (%s)", root,
                 strerror(-rc));
        return rc;
    }
    if (!has_word(buf, "cpu")) {
        snprintf(err, errlen, "CORRAL_CGROUP=%s: its cgroup.controllers has no cpu controller "
                 "(the host did not delegate it)", root);
        return -ENOTSUP;
    }
    /* A cgroup with processes cannot pass controllers on (cgroup v2's no-internal-process
     * rule): a delegated folder is one that only holds the VMs' cgroups. */
    if ((rc = read_small(root, "cgroup.subtree_control", buf, sizeof(buf))) ||
        (!has_word(buf, "cpu") && (rc = write_small(root, "cgroup.subtree_control", "+cpu")))) {
        snprintf(err, errlen, "CORRAL_CGROUP=%s: cannot enable the cpu controller for its "
                 "children (%s)", root, strerror(-rc));
        return rc;
    }
    snprintf(cg->path, sizeof(cg->path), "%s/corral-%s", root, name);
    if (mkdir(cg->path, 0755) && errno != EEXIST) {
        rc = -errno;
        snprintf(err, errlen, "cannot make the cgroup %s: %s", cg->path, strerror(errno));
        return rc;
    }
    char pid[24];
    snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if ((rc = write_small(cg->path, "cgroup.procs", pid))) {
        snprintf(err, errlen, "cannot move the VM process into %s: %s", cg->path, strerror(-rc));
        return rc;
    }
    /* kept open: the quota can change after the lockdown, which closes the folder */
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/cpu.max", cg->path);
    if ((cg->cpu_max_fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return rc;
    }
    cg->on = true;
    return 0;
}

int cgroup_set_cpu(struct vm_cgroup *cg, unsigned percent)
{
    if (!cg->on)
        return -EBADF;
    char text[48];
    if (percent)
        snprintf(text, sizeof(text), "%llu %u\n",
                 (unsigned long long)percent * CPU_PERIOD_US / 100, CPU_PERIOD_US);
    else
        snprintf(text, sizeof(text), "max %u\n", CPU_PERIOD_US);
    ssize_t n = pwrite(cg->cpu_max_fd, text, strlen(text), 0);
    return n == (ssize_t)strlen(text) ? 0 : n < 0 ? -errno : -EIO;
}

void cgroup_close(struct vm_cgroup *cg)
{
    if (cg->on)
        close(cg->cpu_max_fd);
    cg->on = false;
}

void cgroup_remove(const char *root, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/corral-%s", root, name);
    rmdir(path); /* only an empty cgroup goes: a VM still in it keeps it */
}
