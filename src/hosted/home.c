/* $CORRAL_HOME and the files of one VM's folder. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "hosted/home.h"
#include "hosted/spec.h"

static int mkdirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(path, 0700);
        *p = '/';
        if (rc && errno != EEXIST)
            return -errno;
    }
    if (mkdir(path, 0700) && errno != EEXIST)
        return -errno;
    return 0;
}

int home_root(char *out, size_t outlen, char *err, size_t errlen)
{
    const char *env = getenv("CORRAL_HOME"), *home = getenv("HOME"),
               *xdg = getenv("XDG_DATA_HOME");
    int n;
    if (env && *env)
        n = snprintf(out, outlen, "%s", env);
    else if (geteuid() == 0)
        n = snprintf(out, outlen, "/var/lib/corral");
    else if (xdg && *xdg == '/')
        n = snprintf(out, outlen, "%s/corral", xdg);
    else if (home && *home == '/')
        n = snprintf(out, outlen, "%s/.local/share/corral", home);
    else {
        snprintf(err, errlen, "cannot tell where VMs live: set CORRAL_HOME");
        return -ENOENT;
    }
    if (n < 0 || (size_t)n >= outlen - 64) {
        snprintf(err, errlen, "CORRAL_HOME is too long");
        return -ENAMETOOLONG;
    }
    int rc = mkdirs(out);
    if (rc)
        snprintf(err, errlen, "cannot create '%s': %s", out, strerror(-rc));
    return rc;
}

int home_vm_dir(const char *name, char *out, size_t outlen, char *err, size_t errlen)
{
    if (!spec_id_valid(name)) {
        snprintf(err, errlen, "'%.80s' is not a VM name: use up to 63 of A-Z a-z 0-9 _ . -, "
                              "not starting with . or -", name);
        return -EINVAL;
    }
    char root[HOME_PATH_MAX];
    int rc = home_root(root, sizeof(root), err, errlen);
    if (rc)
        return rc;
    char vms[HOME_PATH_MAX];
    snprintf(vms, sizeof(vms), "%s/vms", root);
    if ((rc = mkdirs(vms))) {
        snprintf(err, errlen, "cannot create '%s': %s", vms, strerror(-rc));
        return rc;
    }
    if (home_file(vms, name, out, outlen)) {
        snprintf(err, errlen, "CORRAL_HOME is too long");
        return -ENAMETOOLONG;
    }
    return 0;
}

int home_switch_root(char *out, size_t outlen, char *err, size_t errlen)
{
    char root[HOME_PATH_MAX];
    int rc = home_root(root, sizeof(root), err, errlen);
    if (rc)
        return rc;
    if (home_file(root, "switches", out, outlen)) {
        snprintf(err, errlen, "CORRAL_HOME is too long");
        return -ENAMETOOLONG;
    }
    if ((rc = mkdirs(out)))
        snprintf(err, errlen, "cannot create '%s': %s", out, strerror(-rc));
    return rc;
}

int home_file(const char *dir, const char *file, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s/%s", dir, file);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

int home_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[HOME_PATH_MAX];
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
            !home_file(dir, e->d_name, path, sizeof(path)))
            unlink(path);
    }
    if (d)
        closedir(d);
    return rmdir(dir) ? -errno : 0;
}

unsigned long long home_proc_start(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p)
        return 0;
    char state = 0;
    unsigned long long start = 0;
    /* after ") ": state, then fields 4..21, then starttime (22) */
    if (sscanf(p + 2, "%c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
                      "%*s %llu", &state, &start) != 2 || state == 'Z')
        return 0;
    return start;
}

int home_read_proc(const char *dir, struct home_proc *p)
{
    memset(p, 0, sizeof(*p));
    char path[HOME_PATH_MAX];
    json_t *j;
    if (!home_file(dir, "pid.json", path, sizeof(path)) && (j = json_load_file(path, 0, NULL))) {
        p->pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
        p->start_ticks = (unsigned long long)json_integer_value(json_object_get(j, "start"));
        json_decref(j);
    }
    if (p->pid > 0) {
        unsigned long long now = home_proc_start(p->pid);
        p->alive = now && now == p->start_ticks;
    }
    if (!home_file(dir, "exit.json", path, sizeof(path)) && (j = json_load_file(path, 0, NULL))) {
        p->ended = true;
        p->exit_code = (int)json_integer_value(json_object_get(j, "exit_code"));
        p->signal = (int)json_integer_value(json_object_get(j, "signal"));
        snprintf(p->ended_at, sizeof(p->ended_at), "%s",
                 json_string_value(json_object_get(j, "at")) ?: "");
        json_decref(j);
    }
    return 0;
}
