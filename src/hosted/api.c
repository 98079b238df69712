/* The control API: HTTP/1.1 + JSON on the VM process's unix socket, served by libmicrohttpd
 * from the VMM's event loop (no thread of its own), with Firecracker's endpoints and bodies
 * where they overlap and Corral's own beside them. Bodies are parsed with jansson. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "hosted/api.h"
#include "hosted/vmm.h"

#define BODY_MAX (64 * 1024)

struct api {
    struct MHD_Daemon *d;
    int listen_fd;
    char path[108];
    struct vmm *m;
};

struct body {
    char *data;
    size_t len;
    bool too_big;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    struct MHD_Response *r = MHD_create_response_from_buffer(text ? strlen(text) : 0, text ?: "",
                                                             MHD_RESPMEM_MUST_COPY);
    free(text);
    if (!r)
        return MHD_NO;
    if (code != 204)
        MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result fault(struct MHD_Connection *c, unsigned code, const char *msg)
{
    return reply(c, code, json_pack("{s:s}", "fault_message", msg));
}

static enum vm_state state_of(const struct vmm *m)
{
    return m->vm ? vm_state(m->vm) : VM_CREATED;
}

/* PUT/PATCH bodies that configure the VM before it starts. */
static enum MHD_Result configure(struct api *a, struct MHD_Connection *c, const char *url,
                                 bool patch, json_t *j)
{
    struct vmm *m = a->m;
    char err[512];
    int rc;
    const char *id = NULL;
    if (!strncmp(url, "/drives/", 8))
        id = url + 8;
    else if (!strncmp(url, "/network-interfaces/", 20))
        id = url + 20;
    /* work on a copy: a refused body leaves the configuration as it was */
    struct vm_spec s;
    if (spec_copy(&s, &m->spec))
        return fault(c, 500, "out of memory");
    if (!strcmp(url, "/boot-source") && !patch)
        rc = spec_set_boot(&s, j, err, sizeof(err));
    else if (!strcmp(url, "/machine-config"))
        rc = spec_set_machine(&s, j, patch, err, sizeof(err));
    else if (!strncmp(url, "/drives/", 8) && !patch)
        rc = spec_set_drive(&s, id, j, err, sizeof(err));
    else if (!strncmp(url, "/network-interfaces/", 20) && !patch)
        rc = spec_set_net(&s, id, j, err, sizeof(err));
    else if (!strcmp(url, "/balloon") && !patch)
        rc = spec_set_balloon(&s, j, err, sizeof(err));
    else if (!strcmp(url, "/entropy") && !patch) {
        rc = json_object_size(j) && !json_object_get(j, "rate_limiter") ? -EINVAL : 0;
        snprintf(err, sizeof(err), "entropy: only 'rate_limiter' is known");
        s.rng = rc == 0;
    } else {
        spec_free(&s);
        return fault(c, 400, "invalid request method and/or path");
    }
    if (!rc && s.balloon && s.balloon_mib >= s.mem_mib) {
        snprintf(err, sizeof(err), "balloon: amount_mib is not less than mem_size_mib");
        rc = -EINVAL;
    }
    if (rc) {
        spec_free(&s);
        return fault(c, 400, err);
    }
    spec_free(&m->spec);
    m->spec = s;
    return reply(c, 204, NULL);
}

static enum MHD_Result action(struct api *a, struct MHD_Connection *c, json_t *j)
{
    struct vmm *m = a->m;
    const char *type = json_string_value(json_object_get(j, "action_type"));
    if (!type || json_object_size(j) != 1)
        return fault(c, 400, "actions: the body is {\"action_type\": ...}");
    char err[512];
    static const char *const known[] = { "InstanceStart", "SendCtrlAltDel", "Stop", "FlushMetrics" };
    size_t k = 0;
    while (k < ARRAY_SIZE(known) && strcmp(known[k], type))
        k++;
    if (k == ARRAY_SIZE(known)) {
        snprintf(err, sizeof(err), "actions: unknown action_type '%.40s' (InstanceStart, "
                                   "SendCtrlAltDel, Stop, FlushMetrics)", type);
        return fault(c, 400, err);
    }
    if (!strcmp(type, "InstanceStart")) {
        if (m->vm)
            return fault(c, 400, "InstanceStart: the VM has already started");
        if (vmm_start(m, err, sizeof(err)))
            return fault(c, 400, err);
        return reply(c, 204, NULL);
    }
    if (!m->vm || vm_state(m->vm) == VM_STOPPED)
        return fault(c, 400, "the VM is not running");
    if (!strcmp(type, "SendCtrlAltDel")) {
        if (vm_power_button(m->vm))
            return fault(c, 400, "SendCtrlAltDel: the VM has no power button the guest listens to");
        return reply(c, 204, NULL);
    }
    if (!strcmp(type, "Stop")) { /* Corral's own: end the VM now; flushed writes stay */
        vm_stop(m->vm);
        return reply(c, 204, NULL);
    }
    return reply(c, 204, NULL); /* FlushMetrics: there are no metrics files to flush */
}

static enum MHD_Result patch_vm(struct api *a, struct MHD_Connection *c, json_t *j)
{
    struct vmm *m = a->m;
    const char *st = json_string_value(json_object_get(j, "state"));
    if (!st || json_object_size(j) != 1 || (strcmp(st, "Paused") && strcmp(st, "Resumed")))
        return fault(c, 400, "vm: the body is {\"state\": \"Paused\"} or {\"state\": \"Resumed\"}");
    if (!m->vm)
        return fault(c, 400, "vm: the VM has not started");
    bool pause = !strcmp(st, "Paused");
    if ((pause ? vm_pause(m->vm) : vm_resume(m->vm)))
        return fault(c, 400, pause ? "vm: the VM is not running, so it cannot be paused"
                                   : "vm: the VM is not paused, so it cannot be resumed");
    return reply(c, 204, NULL);
}

static enum MHD_Result patch_balloon(struct api *a, struct MHD_Connection *c, json_t *j)
{
    json_int_t mib = json_integer_value(json_object_get(j, "amount_mib"));
    if (!json_is_integer(json_object_get(j, "amount_mib")) || json_object_size(j) != 1 || mib < 0)
        return fault(c, 400, "balloon: the body is {\"amount_mib\": N}");
    int rc = vm_balloon_set(a->m->vm, (uint64_t)mib);
    if (rc == -ERANGE)
        return fault(c, 400, "balloon: amount_mib is not less than the guest's memory");
    if (rc)
        return fault(c, 400, "balloon: the VM has no balloon device");
    a->m->spec.balloon_mib = (uint64_t)mib;
    return reply(c, 204, NULL);
}

/* A running VM takes one change of its machine: the CPU quota. */
static enum MHD_Result patch_machine(struct api *a, struct MHD_Connection *c, json_t *j)
{
    json_t *q = json_object_get(j, "cpu_quota_pct");
    json_int_t pct = json_integer_value(q);
    if (!json_is_integer(q) || json_object_size(j) != 1 || pct < 0 ||
        pct > 100 * (json_int_t)a->m->spec.vcpus)
        return fault(c, 400, "machine-config: a running VM takes only {\"cpu_quota_pct\": N}, "
                             "N from 0 (no cap) to 100 per vCPU");
    if (a->m->cg.on && cgroup_set_cpu(&a->m->cg, (unsigned)pct))
        return fault(c, 500, "machine-config: the VM's cgroup refused the quota");
    vm_set_cpu_quota(a->m->vm, (unsigned)pct);
    a->m->spec.cpu_quota = (unsigned)pct;
    return reply(c, 204, NULL);
}

static enum MHD_Result get(struct api *a, struct MHD_Connection *c, const char *url)
{
    struct vmm *m = a->m;
    if (!strcmp(url, "/"))
        return reply(c, 200, json_pack("{s:s,s:s,s:s,s:s}", "id", m->name[0] ? m->name : "anonymous-instance",
                                       "state", vm_state_name(state_of(m)), "vmm_version",
                                       CORRAL_VERSION, "app_name", "corral"));
    if (!strcmp(url, "/version"))
        return reply(c, 200, json_pack("{s:s}", "vmm_version", CORRAL_VERSION));
    if (!strcmp(url, "/machine-config"))
        return reply(c, 200, spec_machine_json(&m->spec));
    if (!strcmp(url, "/vm/config"))
        return reply(c, 200, spec_to_json(&m->spec));
    if (!strcmp(url, "/stats")) {
        if (m->vm)
            return reply(c, 200, vm_stats(m->vm));
        return reply(c, 200, json_pack("{s:s}", "state", vm_state_name(VM_CREATED)));
    }
    if (!strcmp(url, "/balloon")) {
        if (!m->spec.balloon)
            return fault(c, 400, "balloon: the VM has no balloon device");
        return reply(c, 200, json_pack("{s:I,s:b,s:i}", "amount_mib", (json_int_t)m->spec.balloon_mib,
                                       "deflate_on_oom", m->spec.deflate_on_oom,
                                       "stats_polling_interval_s", (int)m->spec.balloon_stats_s));
    }
    return fault(c, 400, "invalid request method and/or path");
}

static enum MHD_Result route(struct api *a, struct MHD_Connection *c, const char *url,
                             const char *method, struct body *b)
{
    if (!strcmp(method, "GET"))
        return get(a, c, url);
    bool put = !strcmp(method, "PUT"), patch = !strcmp(method, "PATCH");
    if (!put && !patch)
        return fault(c, 405, "only GET, PUT and PATCH are served");
    if (b->too_big)
        return fault(c, 413, "the request body is larger than 64 KiB");
    json_error_t je;
    json_t *j = json_loadb(b->data ? b->data : "", b->len, JSON_REJECT_DUPLICATES, &je);
    if (!j || !json_is_object(j)) {
        char msg[300];
        snprintf(msg, sizeof(msg), "the body is not a JSON object: %s", j ? "not an object" : je.text);
        json_decref(j);
        return fault(c, 400, msg);
    }
    enum MHD_Result rc;
    struct vmm *m = a->m;
    if (put && !strcmp(url, "/actions"))
        rc = action(a, c, j);
    else if (patch && !strcmp(url, "/vm"))
        rc = patch_vm(a, c, j);
    else if (patch && !strcmp(url, "/balloon") && m->vm)
        rc = patch_balloon(a, c, j);
    else if (patch && !strcmp(url, "/machine-config") && m->vm)
        rc = patch_machine(a, c, j);
    else if (m->vm && (!strcmp(url, "/boot-source") || !strcmp(url, "/machine-config") ||
                       !strncmp(url, "/drives/", 8) || !strncmp(url, "/network-interfaces/", 20) ||
                       !strcmp(url, "/balloon") || !strcmp(url, "/entropy")))
        rc = fault(c, 400, "the VM has started: this can only be set before InstanceStart");
    else
        rc = configure(a, c, url, patch, j);
    json_decref(j);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
    struct body *b = *con_cls;
    if (!b) {
        if (!(b = calloc(1, sizeof(*b))))
            return MHD_NO;
        *con_cls = b;
        return MHD_YES;
    }
    if (*data_size) {
        if (b->len + *data_size > BODY_MAX) {
            b->too_big = true;
        } else {
            char *nd = realloc(b->data, b->len + *data_size + 1);
            if (!nd)
                return MHD_NO;
            memcpy(nd + b->len, data, *data_size);
            b->data = nd;
            b->len += *data_size;
        }
        *data_size = 0;
        return MHD_YES;
    }
    return route(cls, c, url, method, b);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct body *b = *con_cls;
    if (b) {
        free(b->data);
        free(b);
        *con_cls = NULL;
    }
}

int api_open(struct api **out, const char *path, struct vmm *m, char *err, size_t errlen)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "API socket path '%s' is longer than %zu bytes", path,
                 sizeof(sa.sun_path) - 1);
        return -ENAMETOOLONG;
    }
    struct api *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    snprintf(a->path, sizeof(a->path), "%s", path);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    a->m = m;
    a->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct stat st;
    if (!lstat(path, &st) && S_ISSOCK(st.st_mode))
        unlink(path); /* left by a VM process that was killed; the caller made sure */
    if (a->listen_fd < 0 || bind(a->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
        listen(a->listen_fd, 64)) {
        snprintf(err, errlen, "cannot listen on API socket '%s': %s", path, strerror(errno));
        if (a->listen_fd >= 0)
            close(a->listen_fd);
        free(a);
        return -errno;
    }
    chmod(path, 0600);
    a->d = MHD_start_daemon(MHD_USE_EPOLL, 0, NULL, NULL,
                            on_request, a, MHD_OPTION_LISTEN_SOCKET, a->listen_fd,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                            MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
                            MHD_OPTION_END);
    if (!a->d) {
        snprintf(err, errlen, "cannot start the API server on '%s'", path);
        close(a->listen_fd);
        unlink(path);
        free(a);
        return -EIO;
    }
    *out = a;
    return 0;
}

int api_poll_fd(struct api *a)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_EPOLL_FD);
    return i ? i->epoll_fd : -1;
}

int api_timeout_ms(struct api *a)
{
    MHD_UNSIGNED_LONG_LONG t;
    if (MHD_get_timeout(a->d, &t) != MHD_YES)
        return -1;
    return t > 1000 ? 1000 : (int)t;
}

void api_run(struct api *a)
{
    MHD_run(a->d);
}

void api_close(struct api *a)
{
    if (!a)
        return;
    MHD_stop_daemon(a->d);
    close(a->listen_fd);
    unlink(a->path);
    free(a);
}
