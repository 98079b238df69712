/* The VM description and its JSON form (jansson). Every key is known, typed and bounded;
 * anything else is a one-line error naming the key. No files are opened here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hosted/spec.h"

#define SPEC_STR_MAX 4096

void spec_init(struct vm_spec *s)
{
    memset(s, 0, sizeof(*s));
    s->vcpus = 1;
    s->mem_mib = 512;
}

static void net_free(struct spec_net *n)
{
    free(n->host_dev_name);
    free(n->switch_name);
    for (unsigned i = 0; i < n->n_hostfwd; i++)
        free(n->hostfwd[i]);
    memset(n, 0, sizeof(*n));
}

void spec_free(struct vm_spec *s)
{
    free(s->kernel);
    free(s->initrd);
    free(s->boot_args);
    free(s->firmware);
    free(s->dtb);
    free(s->hvc);
    for (unsigned i = 0; i < s->n_drives; i++)
        free(s->drives[i].path);
    for (unsigned i = 0; i < s->n_nets; i++)
        net_free(&s->nets[i]);
    spec_init(s);
}

static int dup_str(char **dst, const char *src)
{
    *dst = NULL;
    if (src && !(*dst = strdup(src)))
        return -ENOMEM;
    return 0;
}

int spec_copy(struct vm_spec *dst, const struct vm_spec *src)
{
    *dst = *src;
    int rc = dup_str(&dst->kernel, src->kernel) | dup_str(&dst->initrd, src->initrd) |
             dup_str(&dst->boot_args, src->boot_args) | dup_str(&dst->firmware, src->firmware) |
             dup_str(&dst->dtb, src->dtb) | dup_str(&dst->hvc, src->hvc);
    for (unsigned i = 0; i < src->n_drives; i++)
        rc |= dup_str(&dst->drives[i].path, src->drives[i].path);
    for (unsigned i = 0; i < src->n_nets; i++) {
        struct spec_net *d = &dst->nets[i];
        const struct spec_net *n = &src->nets[i];
        rc |= dup_str(&d->host_dev_name, n->host_dev_name) |
              dup_str(&d->switch_name, n->switch_name);
        for (unsigned k = 0; k < n->n_hostfwd; k++)
            rc |= dup_str(&d->hostfwd[k], n->hostfwd[k]);
    }
    if (rc) {
        spec_free(dst);
        return -ENOMEM;
    }
    return 0;
}

const char *spec_format_name(enum spec_format f)
{
    return f == SPEC_FMT_RAW ? "raw" : f == SPEC_FMT_QCOW2 ? "qcow2" : "auto";
}

static const char *const net_kinds[] = { "user", "tap", "switch" };

bool spec_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n >= SPEC_ID_MAX || id[0] == '.' || id[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* ---- JSON out ---- */

static json_t *bucket_json(const struct spec_bucket *b)
{
    json_t *j = json_pack("{s:I,s:I}", "size", (json_int_t)b->size, "refill_time",
                          (json_int_t)b->refill_time_ms);
    if (b->one_time_burst)
        json_object_set_new(j, "one_time_burst", json_integer((json_int_t)b->one_time_burst));
    return j;
}

static json_t *limiter_json(const struct spec_limiter *l)
{
    json_t *j = json_object();
    if (l->bandwidth.size)
        json_object_set_new(j, "bandwidth", bucket_json(&l->bandwidth));
    if (l->ops.size)
        json_object_set_new(j, "ops", bucket_json(&l->ops));
    return j;
}

static bool limited(const struct spec_limiter *l)
{
    return l->bandwidth.size || l->ops.size;
}

static void set_str(json_t *o, const char *k, const char *v)
{
    if (v)
        json_object_set_new(o, k, json_string(v));
}

json_t *spec_machine_json(const struct vm_spec *s)
{
    return json_pack("{s:i,s:I,s:b,s:i}", "vcpu_count", (int)s->vcpus, "mem_size_mib",
                     (json_int_t)s->mem_mib, "smt", 0, "cpu_quota_pct", (int)s->cpu_quota);
}

static json_t *drive_json(const struct spec_drive *d)
{
    json_t *j = json_pack("{s:s,s:s,s:b,s:b,s:s}", "drive_id", d->id, "path_on_host", d->path,
                          "is_root_device", d->is_root_device, "is_read_only", d->read_only,
                          "format", spec_format_name(d->format));
    if (limited(&d->limit))
        json_object_set_new(j, "rate_limiter", limiter_json(&d->limit));
    return j;
}

static json_t *net_json(const struct spec_net *n)
{
    json_t *j = json_pack("{s:s,s:s}", "iface_id", n->id, "kind", net_kinds[n->kind]);
    set_str(j, "host_dev_name", n->host_dev_name);
    set_str(j, "switch", n->switch_name);
    if (n->guest_mac[0])
        set_str(j, "guest_mac", n->guest_mac);
    if (n->n_hostfwd) {
        json_t *a = json_array();
        for (unsigned i = 0; i < n->n_hostfwd; i++)
            json_array_append_new(a, json_string(n->hostfwd[i]));
        json_object_set_new(j, "hostfwd", a);
    }
    if (n->kind == SPEC_NET_USER)
        json_object_set_new(j, "allow_host_loopback", json_boolean(n->host_loopback));
    if (limited(&n->rx))
        json_object_set_new(j, "rx_rate_limiter", limiter_json(&n->rx));
    if (limited(&n->tx))
        json_object_set_new(j, "tx_rate_limiter", limiter_json(&n->tx));
    return j;
}

json_t *spec_to_json(const struct vm_spec *s)
{
    json_t *j = json_object();
    json_t *boot = json_object();
    set_str(boot, "kernel_image_path", s->kernel);
    set_str(boot, "initrd_path", s->initrd);
    set_str(boot, "boot_args", s->boot_args);
    set_str(boot, "firmware", s->firmware);
    set_str(boot, "dtb_path", s->dtb);
    if (s->kernel) /* a boot source names a kernel: none yet is no boot source */
        json_object_set_new(j, "boot-source", boot);
    else
        json_decref(boot);
    json_object_set_new(j, "machine-config", spec_machine_json(s));
    json_t *drives = json_array();
    for (unsigned i = 0; i < s->n_drives; i++)
        json_array_append_new(drives, drive_json(&s->drives[i]));
    json_object_set_new(j, "drives", drives);
    json_t *nets = json_array();
    for (unsigned i = 0; i < s->n_nets; i++)
        json_array_append_new(nets, net_json(&s->nets[i]));
    json_object_set_new(j, "network-interfaces", nets);
    if (s->balloon)
        json_object_set_new(j, "balloon",
                            json_pack("{s:I,s:b,s:i}", "amount_mib", (json_int_t)s->balloon_mib,
                                      "deflate_on_oom", s->deflate_on_oom,
                                      "stats_polling_interval_s", (int)s->balloon_stats_s));
    if (s->rng)
        json_object_set_new(j, "entropy", json_object());
    json_t *own = json_pack("{s:b,s:b,s:s}", "no_reboot", s->no_reboot, "sandbox", !s->no_sandbox,
                            "console", s->console_raw ? "raw" : "filtered");
    set_str(own, "hvc", s->hvc);
    json_object_set_new(j, "corral", own);
    return j;
}

/* ---- JSON in ---- */

/* One known key of an object: its name and the JSON type it must have. */
struct key {
    const char *name;
    json_type type;   /* JSON_TRUE stands for either boolean */
};

/* Refuses keys not in KEYS and values of the wrong type. */
static int check_keys(json_t *o, const char *where, const struct key *keys, size_t n, char *err,
                      size_t errlen)
{
    if (!json_is_object(o)) {
        snprintf(err, errlen, "%s: expected a JSON object", where);
        return -EINVAL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        size_t i = 0;
        while (i < n && strcmp(keys[i].name, k))
            i++;
        if (i == n) {
            snprintf(err, errlen, "%s: unknown key '%.64s'", where, k);
            return -EINVAL;
        }
        bool ok = keys[i].type == JSON_TRUE ? json_is_boolean(v)
                  : keys[i].type == JSON_NULL ? true
                                              : json_typeof(v) == keys[i].type;
        if (json_is_null(v) && keys[i].type == JSON_STRING)
            ok = true; /* null clears an optional string */
        if (!ok) {
            static const char *const names[] = { "an object", "an array", "a string",
                                                 "an integer", "a number", "a boolean",
                                                 "a boolean", "null" };
            snprintf(err, errlen, "%s: '%s' must be %s", where, k, names[keys[i].type]);
            return -EINVAL;
        }
    }
    return 0;
}

static int get_str(json_t *o, const char *k, char **dst, const char *where, char *err,
                   size_t errlen)
{
    json_t *v = json_object_get(o, k);
    if (!v)
        return 0;
    free(*dst);
    *dst = NULL;
    if (json_is_null(v))
        return 0;
    const char *s = json_string_value(v);
    if (strlen(s) > SPEC_STR_MAX || (strlen(s) == 0 && strcmp(k, "boot_args"))) {
        snprintf(err, errlen, "%s: '%s' is empty or too long", where, k);
        return -EINVAL;
    }
    if (!(*dst = strdup(s)))
        return -ENOMEM;
    return 0;
}

static int get_uint(json_t *o, const char *k, uint64_t lo, uint64_t hi, uint64_t *dst,
                    const char *where, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, k);
    if (!v)
        return 0;
    json_int_t x = json_integer_value(v);
    if (x < 0 || (uint64_t)x < lo || (uint64_t)x > hi) {
        snprintf(err, errlen, "%s: '%s' is %lld, outside %llu..%llu", where, k, (long long)x,
                 (unsigned long long)lo, (unsigned long long)hi);
        return -ERANGE;
    }
    *dst = (uint64_t)x;
    return 0;
}

static void get_bool(json_t *o, const char *k, bool *dst)
{
    json_t *v = json_object_get(o, k);
    if (v)
        *dst = json_is_true(v);
}

static int parse_bucket(json_t *o, const char *where, struct spec_bucket *b, char *err,
                        size_t errlen)
{
    static const struct key keys[] = { { "size", JSON_INTEGER }, { "one_time_burst", JSON_INTEGER },
                                       { "refill_time", JSON_INTEGER } };
    int rc = check_keys(o, where, keys, ARRAY_SIZE(keys), err, errlen);
    if (rc)
        return rc;
    if (!json_object_get(o, "size") || !json_object_get(o, "refill_time")) {
        snprintf(err, errlen, "%s: needs 'size' and 'refill_time'", where);
        return -EINVAL;
    }
    memset(b, 0, sizeof(*b));
    if ((rc = get_uint(o, "size", 0, 1ULL << 50, &b->size, where, err, errlen)) ||
        (rc = get_uint(o, "one_time_burst", 0, 1ULL << 50, &b->one_time_burst, where, err,
                       errlen)) ||
        (rc = get_uint(o, "refill_time", 1, 3600000, &b->refill_time_ms, where, err, errlen)))
        return rc;
    return 0;
}

static int parse_limiter(json_t *o, const char *where, struct spec_limiter *l, char *err,
                         size_t errlen)
{
    static const struct key keys[] = { { "bandwidth", JSON_OBJECT }, { "ops", JSON_OBJECT } };
    memset(l, 0, sizeof(*l));
    if (!o || json_is_null(o))
        return 0;
    int rc = check_keys(o, where, keys, ARRAY_SIZE(keys), err, errlen);
    json_t *b = json_object_get(o, "bandwidth"), *p = json_object_get(o, "ops");
    if (!rc && b)
        rc = parse_bucket(b, "rate_limiter.bandwidth", &l->bandwidth, err, errlen);
    if (!rc && p)
        rc = parse_bucket(p, "rate_limiter.ops", &l->ops, err, errlen);
    return rc;
}

int spec_set_boot(struct vm_spec *s, json_t *j, char *err, size_t errlen)
{
    static const struct key keys[] = {
        { "kernel_image_path", JSON_STRING }, { "initrd_path", JSON_STRING },
        { "boot_args", JSON_STRING }, { "firmware", JSON_STRING }, { "dtb_path", JSON_STRING },
    };
    const char *w = "boot-source";
    int rc = check_keys(j, w, keys, ARRAY_SIZE(keys), err, errlen);
    if (rc)
        return rc;
    /* As QEMU's -bios without -kernel: M-mode firmware alone (xv6) needs no kernel. */
    json_t *fw = json_object_get(j, "firmware");
    bool fw_alone = json_is_string(fw) && strcmp(json_string_value(fw), "builtin");
    if (!json_is_string(json_object_get(j, "kernel_image_path")) && !fw_alone) {
        snprintf(err, errlen, "boot-source: 'kernel_image_path' is required");
        return -EINVAL;
    }
    json_t *args = json_object_get(j, "boot_args");
    if (json_is_string(args) && strlen(json_string_value(args)) > 1023) {
        snprintf(err, errlen, "boot-source: 'boot_args' is %zu bytes; at most 1023 fit",
                 strlen(json_string_value(args)));
        return -EINVAL;
    }
    if ((rc = get_str(j, "kernel_image_path", &s->kernel, w, err, errlen)) ||
        (rc = get_str(j, "initrd_path", &s->initrd, w, err, errlen)) ||
        (rc = get_str(j, "boot_args", &s->boot_args, w, err, errlen)) ||
        (rc = get_str(j, "firmware", &s->firmware, w, err, errlen)) ||
        (rc = get_str(j, "dtb_path", &s->dtb, w, err, errlen)))
        return rc;
    return 0;
}

int spec_set_machine(struct vm_spec *s, json_t *j, bool patch, char *err, size_t errlen)
{
    static const struct key keys[] = {
        { "vcpu_count", JSON_INTEGER }, { "mem_size_mib", JSON_INTEGER }, { "smt", JSON_TRUE },
        { "track_dirty_pages", JSON_TRUE }, { "cpu_quota_pct", JSON_INTEGER },
        { "huge_pages", JSON_STRING },
    };
    const char *w = "machine-config";
    int rc = check_keys(j, w, keys, ARRAY_SIZE(keys), err, errlen);
    if (rc)
        return rc;
    if (!patch && (!json_object_get(j, "vcpu_count") || !json_object_get(j, "mem_size_mib"))) {
        snprintf(err, errlen, "machine-config: 'vcpu_count' and 'mem_size_mib' are required");
        return -EINVAL;
    }
    if (json_is_true(json_object_get(j, "smt"))) {
        snprintf(err, errlen, "machine-config: 'smt' is not supported (RISC-V harts have none)");
        return -EINVAL;
    }
    uint64_t vcpus = s->vcpus, mem = s->mem_mib, quota = s->cpu_quota;
    if ((rc = get_uint(j, "vcpu_count", 1, SPEC_MAX_VCPUS, &vcpus, w, err, errlen)) ||
        (rc = get_uint(j, "mem_size_mib", SPEC_MIN_MEM_MIB, SPEC_MAX_MEM_MIB, &mem, w, err,
                       errlen)) ||
        (rc = get_uint(j, "cpu_quota_pct", 0, 100 * SPEC_MAX_VCPUS, &quota, w, err, errlen)))
        return rc;
    s->vcpus = (unsigned)vcpus;
    s->mem_mib = mem;
    s->cpu_quota = (unsigned)quota;
    return 0;
}

static int parse_format(json_t *j, enum spec_format *f, char *err, size_t errlen)
{
    json_t *v = json_object_get(j, "format");
    if (!v)
        return 0;
    const char *s = json_string_value(v);
    if (!s || !strcmp(s, "auto"))
        *f = SPEC_FMT_AUTO;
    else if (!strcmp(s, "raw"))
        *f = SPEC_FMT_RAW;
    else if (!strcmp(s, "qcow2"))
        *f = SPEC_FMT_QCOW2;
    else {
        snprintf(err, errlen, "drives: unknown format '%.32s' (raw, qcow2 or auto)", s);
        return -EINVAL;
    }
    return 0;
}

/* The slot for ID among n entries of size sz (an existing one is replaced), or NULL. */
static void *slot_for(void *base, size_t sz, unsigned *n, unsigned max, const char *id,
                      bool *fresh)
{
    for (unsigned i = 0; i < *n; i++) {
        char *e = (char *)base + i * sz; /* the id is the first member */
        if (!strcmp(e, id)) {
            *fresh = false;
            return e;
        }
    }
    if (*n == max)
        return NULL;
    *fresh = true;
    return (char *)base + (*n)++ * sz;
}

/* An entry's id: the one in the API's path (PATH_ID), which the body's KEY must match if
 * it names one, else the body's; NULL with a reason when it is missing or not a name. */
static const char *entry_id(json_t *j, const char *key, const char *path_id, const char *where,
                            char *err, size_t errlen)
{
    json_t *jid = json_object_get(j, key);
    const char *id = path_id ? path_id : json_string_value(jid);
    if (!id || !spec_id_valid(id) || (jid && strcmp(json_string_value(jid), id))) {
        snprintf(err, errlen, "%s: '%s' is missing, does not match the path or is not a name "
                              "of [A-Za-z0-9_.-]", where, key);
        return NULL;
    }
    return id;
}

int spec_set_drive(struct vm_spec *s, const char *id, json_t *j, char *err, size_t errlen)
{
    static const struct key keys[] = {
        { "drive_id", JSON_STRING }, { "path_on_host", JSON_STRING },
        { "is_root_device", JSON_TRUE }, { "is_read_only", JSON_TRUE },
        { "format", JSON_STRING }, { "rate_limiter", JSON_OBJECT }, { "io_engine", JSON_STRING },
        { "cache_type", JSON_STRING }, { "partuuid", JSON_NULL },
    };
    int rc = check_keys(j, "drives", keys, ARRAY_SIZE(keys), err, errlen);
    if (rc)
        return rc;
    if (!(id = entry_id(j, "drive_id", id, "drives", err, errlen)))
        return -EINVAL;
    if (!json_is_string(json_object_get(j, "path_on_host"))) {
        snprintf(err, errlen, "drives: 'path_on_host' is required");
        return -EINVAL;
    }
    struct spec_drive d;
    memset(&d, 0, sizeof(d));
    snprintf(d.id, sizeof(d.id), "%s", id);
    get_bool(j, "is_root_device", &d.is_root_device);
    get_bool(j, "is_read_only", &d.read_only);
    if ((rc = parse_format(j, &d.format, err, errlen)) ||
        (rc = parse_limiter(json_object_get(j, "rate_limiter"), "drives.rate_limiter", &d.limit,
                            err, errlen)) ||
        (rc = get_str(j, "path_on_host", &d.path, "drives", err, errlen)))
        return rc;
    bool fresh;
    struct spec_drive *slot = slot_for(s->drives, sizeof(d), &s->n_drives, SPEC_MAX_DRIVES, id,
                                       &fresh);
    if (!slot) {
        free(d.path);
        snprintf(err, errlen, "drives: at most %d drives", SPEC_MAX_DRIVES);
        return -ENOSPC;
    }
    if (!fresh)
        free(slot->path);
    *slot = d;
    return 0;
}

static int parse_mac(const char *m, char out[18], char *err, size_t errlen)
{
    unsigned b[6];
    char tail;
    if (strlen(m) != 17 ||
        sscanf(m, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6 ||
        (b[0] & 1)) {
        snprintf(err, errlen, "network-interfaces: '%.32s' is not a unicast MAC address", m);
        return -EINVAL;
    }
    snprintf(out, 18, "%s", m);
    return 0;
}

static int parse_net(struct spec_net *n, json_t *j, char *err, size_t errlen)
{
    const char *w = "network-interfaces";
    const char *kind = json_string_value(json_object_get(j, "kind"));
    n->kind = json_object_get(j, "host_dev_name") ? SPEC_NET_TAP
              : json_object_get(j, "switch")     ? SPEC_NET_SWITCH
                                                 : SPEC_NET_USER;
    if (kind) {
        size_t k = 0;
        while (k < ARRAY_SIZE(net_kinds) && strcmp(net_kinds[k], kind))
            k++;
        if (k == ARRAY_SIZE(net_kinds)) {
            snprintf(err, errlen, "%s: unknown kind '%.32s' (user, tap or switch)", w, kind);
            return -EINVAL;
        }
        n->kind = (enum spec_net_kind)k;
    }
    int rc;
    if ((rc = get_str(j, "host_dev_name", &n->host_dev_name, w, err, errlen)) ||
        (rc = get_str(j, "switch", &n->switch_name, w, err, errlen)))
        return rc;
    if (n->kind == SPEC_NET_SWITCH && (!n->switch_name || !spec_id_valid(n->switch_name))) {
        snprintf(err, errlen, "%s: a switch NIC needs 'switch', a name of [A-Za-z0-9_.-]", w);
        return -EINVAL;
    }
    const char *mac = json_string_value(json_object_get(j, "guest_mac"));
    if (mac && (rc = parse_mac(mac, n->guest_mac, err, errlen)))
        return rc;
    json_t *fwd = json_object_get(j, "hostfwd");
    if (fwd) {
        if (n->kind != SPEC_NET_USER || json_array_size(fwd) > SPEC_MAX_FWD) {
            snprintf(err, errlen, "%s: 'hostfwd' takes at most %d rules, on a user NIC", w,
                     SPEC_MAX_FWD);
            return -EINVAL;
        }
        for (size_t i = 0; i < json_array_size(fwd); i++) {
            const char *r = json_string_value(json_array_get(fwd, i));
            if (!r || !*r || strchr(r, ',') || strlen(r) > 128) {
                snprintf(err, errlen, "%s: each 'hostfwd' rule is a string like "
                                      "tcp:127.0.0.1:8080-:80", w);
                return -EINVAL;
            }
            if (!(n->hostfwd[n->n_hostfwd++] = strdup(r)))
                return -ENOMEM;
        }
    }
    get_bool(j, "allow_host_loopback", &n->host_loopback);
    if ((rc = parse_limiter(json_object_get(j, "rx_rate_limiter"), "rx_rate_limiter", &n->rx, err,
                            errlen)) ||
        (rc = parse_limiter(json_object_get(j, "tx_rate_limiter"), "tx_rate_limiter", &n->tx, err,
                            errlen)))
        return rc;
    return 0;
}

int spec_set_net(struct vm_spec *s, const char *id, json_t *j, char *err, size_t errlen)
{
    static const struct key keys[] = {
        { "iface_id", JSON_STRING }, { "host_dev_name", JSON_STRING }, { "guest_mac", JSON_STRING },
        { "kind", JSON_STRING }, { "switch", JSON_STRING }, { "hostfwd", JSON_ARRAY },
        { "allow_host_loopback", JSON_TRUE }, { "rx_rate_limiter", JSON_OBJECT },
        { "tx_rate_limiter", JSON_OBJECT },
    };
    int rc = check_keys(j, "network-interfaces", keys, ARRAY_SIZE(keys), err, errlen);
    if (rc)
        return rc;
    if (!(id = entry_id(j, "iface_id", id, "network-interfaces", err, errlen)))
        return -EINVAL;
    struct spec_net n;
    memset(&n, 0, sizeof(n));
    snprintf(n.id, sizeof(n.id), "%s", id);
    if ((rc = parse_net(&n, j, err, errlen))) {
        net_free(&n);
        return rc;
    }
    bool fresh;
    struct spec_net *slot = slot_for(s->nets, sizeof(n), &s->n_nets, SPEC_MAX_NETS, id, &fresh);
    if (!slot) {
        net_free(&n);
        snprintf(err, errlen, "network-interfaces: at most %d NICs", SPEC_MAX_NETS);
        return -ENOSPC;
    }
    if (!fresh)
        net_free(slot);
    *slot = n;
    return 0;
}

int spec_set_balloon(struct vm_spec *s, json_t *j, char *err, size_t errlen)
{
    static const struct key keys[] = {
        { "amount_mib", JSON_INTEGER }, { "deflate_on_oom", JSON_TRUE },
        { "stats_polling_interval_s", JSON_INTEGER }, { "free_page_reporting", JSON_TRUE },
    };
    int rc = check_keys(j, "balloon", keys, ARRAY_SIZE(keys), err, errlen);
    uint64_t amount = s->balloon_mib, stats = s->balloon_stats_s;
    if (rc || (rc = get_uint(j, "amount_mib", 0, SPEC_MAX_MEM_MIB, &amount, "balloon", err,
                             errlen)) ||
        (rc = get_uint(j, "stats_polling_interval_s", 0, 3600, &stats, "balloon", err, errlen)))
        return rc;
    s->balloon = true;
    s->balloon_mib = amount;
    s->balloon_stats_s = (unsigned)stats;
    get_bool(j, "deflate_on_oom", &s->deflate_on_oom);
    return 0;
}

int spec_parse_console(const char *v, bool *raw)
{
    if (strcmp(v, "raw") && strcmp(v, "filtered"))
        return -EINVAL;
    *raw = !strcmp(v, "raw");
    return 0;
}

static int set_own(struct vm_spec *s, json_t *j, char *err, size_t errlen)
{
    static const struct key keys[] = { { "no_reboot", JSON_TRUE }, { "sandbox", JSON_TRUE },
                                       { "hvc", JSON_STRING }, { "console", JSON_STRING } };
    int rc = check_keys(j, "corral", keys, ARRAY_SIZE(keys), err, errlen);
    if (rc)
        return rc;
    get_bool(j, "no_reboot", &s->no_reboot);
    bool sandbox = !s->no_sandbox;
    get_bool(j, "sandbox", &sandbox);
    s->no_sandbox = !sandbox;
    const char *con = json_string_value(json_object_get(j, "console"));
    if (con && spec_parse_console(con, &s->console_raw)) {
        snprintf(err, errlen, "corral: 'console' is neither raw nor filtered");
        return -EINVAL;
    }
    if ((rc = get_str(j, "hvc", &s->hvc, "corral", err, errlen)))
        return rc;
    if (s->hvc && strcmp(s->hvc, "pty") && strncmp(s->hvc, "file:", 5)) {
        snprintf(err, errlen, "corral: 'hvc' is neither pty nor file:PATH");
        return -EINVAL;
    }
    return 0;
}

int spec_from_json(struct vm_spec *s, json_t *j, char *err, size_t errlen)
{
    static const struct key keys[] = {
        { "boot-source", JSON_OBJECT }, { "machine-config", JSON_OBJECT },
        { "drives", JSON_ARRAY }, { "network-interfaces", JSON_ARRAY },
        { "balloon", JSON_OBJECT }, { "entropy", JSON_OBJECT }, { "corral", JSON_OBJECT },
        { "logger", JSON_NULL }, { "metrics", JSON_NULL }, { "vsock", JSON_NULL },
    };
    int rc = check_keys(j, "config", keys, ARRAY_SIZE(keys), err, errlen);
    if (rc)
        return rc;
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) {
        if ((!strcmp(k, "logger") || !strcmp(k, "metrics") || !strcmp(k, "vsock")) &&
            !json_is_null(v)) {
            snprintf(err, errlen, "config: '%s' is not supported", k);
            return -EINVAL;
        }
    }
    json_t *boot = json_object_get(j, "boot-source"), *m = json_object_get(j, "machine-config");
    if (boot && (rc = spec_set_boot(s, boot, err, errlen)))
        return rc;
    if (m && (rc = spec_set_machine(s, m, false, err, errlen)))
        return rc;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(j, "drives"), i, e)
        if ((rc = spec_set_drive(s, NULL, e, err, errlen)))
            return rc;
    json_array_foreach(json_object_get(j, "network-interfaces"), i, e)
        if ((rc = spec_set_net(s, NULL, e, err, errlen)))
            return rc;
    json_t *b = json_object_get(j, "balloon");
    if (b && (rc = spec_set_balloon(s, b, err, errlen)))
        return rc;
    json_t *ent = json_object_get(j, "entropy");
    if (ent) {
        static const struct key ekeys[] = { { "rate_limiter", JSON_OBJECT } };
        if ((rc = check_keys(ent, "entropy", ekeys, ARRAY_SIZE(ekeys), err, errlen)))
            return rc;
        s->rng = true;
    }
    json_t *own = json_object_get(j, "corral");
    if (own && (rc = set_own(s, own, err, errlen)))
        return rc;
    return 0;
}

bool spec_firmware_file(const struct vm_spec *s)
{
    return s->firmware && strcmp(s->firmware, "builtin");
}

int spec_check(const struct vm_spec *s, char *err, size_t errlen)
{
    if (!s->kernel && !spec_firmware_file(s)) {
        snprintf(err, errlen, "no kernel: set boot-source first");
        return -EINVAL;
    }
    unsigned roots = 0;
    for (unsigned i = 0; i < s->n_drives; i++)
        roots += s->drives[i].is_root_device;
    if (roots > 1) {
        snprintf(err, errlen, "more than one drive is the root device");
        return -EINVAL;
    }
    unsigned devices = s->n_drives + s->n_nets + s->rng + (s->hvc != NULL) + s->balloon + 1;
    if (devices > 8) {
        snprintf(err, errlen, "too many virtio devices (%u; the board has 8 slots)", devices);
        return -ENOSPC;
    }
    return 0;
}

char *spec_cmdline(const struct vm_spec *s)
{
    const char *args = s->boot_args ? s->boot_args : "console=ttyS0";
    char root[64] = "";
    bool named = !strncmp(args, "root=", 5) || strstr(args, " root=");
    for (unsigned i = 0; i < s->n_drives && !named; i++)
        if (s->drives[i].is_root_device)
            snprintf(root, sizeof(root), " root=/dev/vd%c %s", 'a' + i,
                     s->drives[i].read_only ? "ro" : "rw");
    size_t n = strlen(args) + strlen(root) + 1;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s%s", args, root);
    return out;
}

/* Appends KEY then V (KEY is ",name=" or "" for the kind). */
static int append(char *out, size_t outlen, size_t *pos, const char *key, const char *v)
{
    int n = snprintf(out + *pos, outlen - *pos, "%s%s", key, v);
    if (n < 0 || (size_t)n >= outlen - *pos)
        return -ENAMETOOLONG;
    *pos += (size_t)n;
    return 0;
}

int spec_net_backend_text(const struct spec_net *n, const char *switch_dir, char *out,
                          size_t outlen)
{
    size_t pos = 0;
    int rc = append(out, outlen, &pos, "", net_kinds[n->kind]);
    if (n->kind == SPEC_NET_TAP && n->host_dev_name)
        rc |= append(out, outlen, &pos, ",ifname=", n->host_dev_name);
    if (n->kind == SPEC_NET_SWITCH) {
        rc |= append(out, outlen, &pos, ",name=", n->switch_name);
        rc |= append(out, outlen, &pos, ",dir=", switch_dir);
    }
    if (n->kind == SPEC_NET_USER && n->host_loopback)
        rc |= append(out, outlen, &pos, "", ",host=on");
    for (unsigned i = 0; i < n->n_hostfwd; i++)
        rc |= append(out, outlen, &pos, ",hostfwd=", n->hostfwd[i]);
    if (n->guest_mac[0])
        rc |= append(out, outlen, &pos, ",mac=", n->guest_mac);
    return rc ? -ENAMETOOLONG : 0;
}
