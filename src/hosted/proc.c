/* pid.json, exit.json and the definition in a VM's folder. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hosted/api.h"
#include "hosted/cli.h"
#include "hosted/home.h"
#include "hosted/proc.h"

int proc_write_json(const char *path, json_t *j)
{
    char tmp[HOME_PATH_MAX + 16];
    snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
    int rc = j ? json_dump_file(j, tmp, JSON_INDENT(2)) : -1;
    json_decref(j);
    if (rc || rename(tmp, path)) {
        unlink(tmp);
        return -EIO;
    }
    return 0;
}

int proc_write_pid(const char *dir, pid_t pid)
{
    char path[HOME_PATH_MAX];
    if (home_file(dir, "pid.json", path, sizeof(path)))
        return -ENAMETOOLONG;
    return proc_write_json(path, json_pack("{s:i,s:I}", "pid", (int)pid, "start",
                                           (json_int_t)home_proc_start(pid)));
}

int proc_write_exit(const char *dir, int wstatus)
{
    char path[HOME_PATH_MAX], at[32];
    if (home_file(dir, "exit.json", path, sizeof(path)))
        return -ENAMETOOLONG;
    time_t t = time(NULL);
    struct tm tm;
    strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    int code = wstatus < 0 ? -wstatus - 1 : WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
    int sig = wstatus >= 0 && WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
    return proc_write_json(path, json_pack("{s:i,s:i,s:s}", "exit_code", code, "signal", sig,
                                           "at", at));
}

int proc_load_definition(const char *name, char *dir, size_t dirlen, struct vm_spec *s,
                         char *err, size_t errlen)
{
    if (home_vm_dir(name, dir, dirlen, err, errlen))
        return -EINVAL;
    char path[HOME_PATH_MAX];
    home_file(dir, "vm.json", path, sizeof(path));
    if (access(path, F_OK)) {
        snprintf(err, errlen, "no VM named '%s' (corral create makes one)", name);
        return -ENOENT;
    }
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        snprintf(err, errlen, "VM '%s': its definition '%s' is unreadable: %s", name, path, je.text);
        return -EINVAL;
    }
    char why[512];
    int rc = spec_from_json(s, j, why, sizeof(why));
    json_decref(j);
    if (rc)
        snprintf(err, errlen, "VM '%s': its definition is invalid: %s", name, why);
    return rc;
}

int proc_claim_dir(const char *name, struct vmm *m, char *err, size_t errlen)
{
    if (home_vm_dir(name, m->dir, sizeof(m->dir), err, errlen) ||
        home_switch_root(m->switch_root, sizeof(m->switch_root), err, errlen))
        return -EINVAL;
    if (mkdir(m->dir, 0700) && errno != EEXIST) {
        snprintf(err, errlen, "cannot create '%s': %s", m->dir, strerror(errno));
        return -errno;
    }
    struct home_proc p;
    home_read_proc(m->dir, &p);
    if (p.alive) {
        snprintf(err, errlen, "VM '%s' is already running (pid %d)", name, (int)p.pid);
        return -EBUSY;
    }
    snprintf(m->name, sizeof(m->name), "%s", name);
    char path[HOME_PATH_MAX];
    home_file(m->dir, "vm.json", path, sizeof(path));
    if (proc_write_json(path, spec_to_json(&m->spec)) || proc_write_pid(m->dir, getpid())) {
        snprintf(err, errlen, "cannot write into '%s'", m->dir);
        return -EIO;
    }
    home_file(m->dir, "exit.json", path, sizeof(path));
    unlink(path);
    home_file(m->dir, "api.sock", path, sizeof(path));
    return api_open(&m->api, path, m, err, errlen);
}

void proc_release_dir(struct vmm *m, int status)
{
    proc_write_exit(m->dir, -status - 1);
}

int proc_find(const char *name, char *dir, size_t dirlen, struct home_proc *p)
{
    char err[1024];
    struct vm_spec s;
    spec_init(&s);
    int rc = proc_load_definition(name, dir, dirlen, &s, err, sizeof(err));
    spec_free(&s);
    if (rc) {
        cli_error("%s", err);
        return -1;
    }
    home_read_proc(dir, p);
    return 0;
}
