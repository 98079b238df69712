/* The VM options of `corral run` and `corral create`, parsed once into the typed VM
 * description. Parsing checks syntax, ranges and that named files can be read; it starts
 * nothing. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/net_util.h"
#include "hosted/cli.h"

const char cli_vm_usage[] =
    "VM options (corral run and corral create):\n"
    "  --kernel PATH        Linux Image, ELF or flat binary to boot (required but with\n"
    "                       a --bios file, which may then run alone, as xv6 does)\n"
    "  --initrd PATH        initial ramdisk\n"
    "  --append ARGS        kernel command line (default: console=ttyS0)\n"
    "  --mem SIZE           guest memory, e.g. 512M or 2G (default: 512M)\n"
    "  --cpus N, --smp N    number of harts, 1-8, each on its own host thread (default: 1)\n"
    "  --cpu-quota PERCENT  cap the VM's host CPU at PERCENT of one core (default: no cap)\n"
    "  --bios PATH|builtin  M-mode firmware such as OpenSBI's fw_dynamic.bin, or the\n"
    "                       built-in SBI that starts the kernel in S-mode (default)\n"
    "  --dtb PATH           use this device tree instead of the generated one\n"
    "  --no-reboot          exit when the guest reboots instead of restarting it\n"
    "  --disk SPEC          virtio disk: PATH[,format=raw|qcow2][,readonly][,root]\n"
    "                       [,bps=BYTES/s][,iops=N] (repeatable)\n"
    "  --disk-from BASE[,root][,format=raw|qcow2]  (create) a new qcow2 overlay on the\n"
    "                       read-only image BASE\n"
    "                       (a linked clone); root makes it the root device (root=/dev/vdX)\n"
    "  --net SPEC           virtio NIC: user[,hostfwd=tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT]\n"
    "                       [,host=on] (host=on: the guest may reach the host's 127.0.0.1 as\n"
    "                       10.0.2.2); tap[,ifname=NAME]; switch=NAME (VMs naming the same\n"
    "                       switch share an Ethernet segment); each may add\n"
    "                       mac=52:54:00:xx:xx:xx and bps=BYTES/s (repeatable)\n"
    "  --rng                virtio entropy device fed by the host's getrandom\n"
    "  --hvc pty|file:PATH  virtio console (hvc0) on a new pseudo-terminal or into a file\n"
    "  --balloon [SIZE]     virtio balloon (free page reporting), holding SIZE at start\n"
    "  --no-sandbox         skip the VM process lockdown (for debugging)\n"
    "  --console raw|filtered  guest output to the terminal: filtered (the default) drops\n"
    "                       escapes that reach past it (clipboard, title, reports)\n"
    "  --config FILE        the VM description as JSON (the control API's keys)\n";

void cli_error(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    for (char *p = buf; *p; p++) /* one line, whatever the message holds */
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fprintf(stderr, "corral: %s\n", buf);
}

int cli_parse_size(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -EINVAL;
    uint64_t mult = 1;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': mult = KiB; end++; break;
    case 'm': case 'M': mult = MiB; end++; break;
    case 'g': case 'G': mult = GiB; end++; break;
    default: return -EINVAL;
    }
    if (*end == 'i' || *end == 'B' || *end == 'b') /* 512MiB, 512MB */
        end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
    if (*end)
        return -EINVAL;
    if (v > UINT64_MAX / mult)
        return -ERANGE;
    *out = v * mult;
    return 0;
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int readable(const char *path, const char *what, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(err, errlen, "cannot open %s '%s': %s", what, path, strerror(errno));
    close(fd);
    return 0;
}

static int set_str(char **dst, const char *v)
{
    free(*dst);
    return (*dst = strdup(v)) ? 0 : -ENOMEM;
}

/* "bps=N" / "iops=N": a limiter refilled each second, the bucket one second's worth. */
static int parse_rate(const char *opt, size_t len, struct spec_limiter *l, const char *what,
                      char *err, size_t errlen)
{
    bool ops = len > 5 && !strncmp(opt, "iops=", 5);
    const char *v = opt + (ops ? 5 : 4);
    char num[32];
    size_t n = len - (size_t)(v - opt);
    uint64_t rate;
    if (n == 0 || n >= sizeof(num))
        return fail(err, errlen, "%s: '%.*s' is not a rate", what, (int)len, opt);
    memcpy(num, v, n);
    num[n] = '\0';
    if (cli_parse_size(num, &rate) || rate == 0)
        return fail(err, errlen, "%s: '%.*s' is not a rate", what, (int)len, opt);
    struct spec_bucket *b = ops ? &l->ops : &l->bandwidth;
    *b = (struct spec_bucket){ .size = rate, .refill_time_ms = 1000 };
    return 0;
}

/* PATH[,format=raw|qcow2|auto][,readonly][,root][,bps=N][,iops=N]; "," in PATH is ",,". */
static int parse_disk(const char *spec, struct spec_drive *d, char *err, size_t errlen)
{
    char path[4096];
    size_t n = 0;
    const char *p = spec;
    for (; *p; p++) {
        if (*p == ',' && p[1] == ',')
            p++;
        else if (*p == ',')
            break;
        if (n + 1 >= sizeof(path))
            return fail(err, errlen, "--disk: path too long");
        path[n++] = *p;
    }
    path[n] = '\0';
    if (!n)
        return fail(err, errlen, "--disk: missing image path in '%s'", spec);
    while (*p == ',') {
        const char *opt = ++p;
        size_t len = strcspn(opt, ",");
        p += len;
        if (len == 8 && !strncmp(opt, "readonly", 8)) {
            d->read_only = true;
        } else if (len == 4 && !strncmp(opt, "root", 4)) {
            d->is_root_device = true;
        } else if (len == 10 && !strncmp(opt, "format=raw", 10)) {
            d->format = SPEC_FMT_RAW;
        } else if (len == 12 && !strncmp(opt, "format=qcow2", 12)) {
            d->format = SPEC_FMT_QCOW2;
        } else if (len == 11 && !strncmp(opt, "format=auto", 11)) {
            d->format = SPEC_FMT_AUTO;
        } else if (len > 7 && !strncmp(opt, "format=", 7)) {
            return fail(err, errlen, "--disk: unknown format '%.*s' (raw, qcow2 or auto)",
                        (int)(len - 7), opt + 7);
        } else if ((len > 4 && !strncmp(opt, "bps=", 4)) || (len > 5 && !strncmp(opt, "iops=", 5))) {
            if (parse_rate(opt, len, &d->limit, "--disk", err, errlen))
                return -1;
        } else {
            return fail(err, errlen, "--disk: unknown option '%.*s' (format=, readonly, root, "
                                     "bps=, iops=)", (int)len, opt);
        }
    }
    return (d->path = strdup(path)) ? 0 : -1;
}

/* user[,hostfwd=R]...[,host=on|off] | tap[,ifname=NAME] | switch=NAME | switch,name=NAME;
 * each may add mac=M and bps=N. */
static int parse_net(const char *spec, struct spec_net *n, char *err, size_t errlen)
{
    char buf[1024];
    if (strlen(spec) >= sizeof(buf))
        return fail(err, errlen, "--net: the spec is too long");
    snprintf(buf, sizeof(buf), "%s", spec);
    char *save = NULL, *item = strtok_r(buf, ",", &save);
    if (!item)
        return fail(err, errlen, "--net: empty spec");
    if (!strcmp(item, "user")) {
        n->kind = SPEC_NET_USER;
    } else if (!strcmp(item, "tap")) {
        n->kind = SPEC_NET_TAP;
    } else if (!strcmp(item, "switch") || !strncmp(item, "switch=", 7)) {
        n->kind = SPEC_NET_SWITCH;
        if (item[6] == '=' && set_str(&n->switch_name, item + 7))
            return -1;
    } else {
        return fail(err, errlen, "--net: unknown network backend '%s' (user, tap or switch)", item);
    }
    while ((item = strtok_r(NULL, ",", &save))) {
        char *eq = strchr(item, '=');
        const char *key = item, *val = eq ? eq + 1 : "";
        if (eq)
            *eq = '\0';
        uint8_t mac[6];
        struct net_hostfwd fwd;
        if (!strcmp(key, "mac")) {
            if (net_parse_mac(val, mac, err, errlen))
                return -1;
            snprintf(n->guest_mac, sizeof(n->guest_mac), "%02x:%02x:%02x:%02x:%02x:%02x",
                     mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
        } else if (!strcmp(key, "hostfwd") && n->kind == SPEC_NET_USER) {
            if (net_parse_hostfwd(val, &fwd, err, errlen))
                return -1;
            if (n->n_hostfwd == SPEC_MAX_FWD)
                return fail(err, errlen, "--net: at most %d hostfwd rules", SPEC_MAX_FWD);
            if (!(n->hostfwd[n->n_hostfwd++] = strdup(val)))
                return -1;
        } else if (!strcmp(key, "host") && n->kind == SPEC_NET_USER &&
                   (!strcmp(val, "on") || !strcmp(val, "off"))) {
            n->host_loopback = !strcmp(val, "on");
        } else if (!strcmp(key, "ifname") && n->kind == SPEC_NET_TAP && *val) {
            if (strlen(val) >= 16)
                return fail(err, errlen, "--net: ifname '%s' is too long", val);
            if (set_str(&n->host_dev_name, val))
                return -1;
        } else if (!strcmp(key, "name") && n->kind == SPEC_NET_SWITCH) {
            if (set_str(&n->switch_name, val))
                return -1;
        } else if (!strcmp(key, "bps") && eq) {
            *eq = '=';
            if (parse_rate(item, strlen(item), &n->rx, "--net", err, errlen))
                return -1;
            n->tx = n->rx;
        } else {
            return fail(err, errlen, "--net: option '%s' is not one a %s NIC takes", key,
                        n->kind == SPEC_NET_USER ? "user" : n->kind == SPEC_NET_TAP ? "tap" : "switch");
        }
    }
    if (n->kind == SPEC_NET_SWITCH && (!n->switch_name || !spec_id_valid(n->switch_name)))
        return fail(err, errlen, "--net: switch needs a name of [A-Za-z0-9_.-] (switch=NAME)");
    return 0;
}

int cli_load_config(const char *path, struct vm_spec *s, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return fail(err, errlen, "--config '%s': %s (line %d)", path, je.text, je.line);
    char why[512];
    int rc = spec_from_json(s, j, why, sizeof(why));
    json_decref(j);
    if (rc)
        return fail(err, errlen, "--config '%s': %s", path, why);
    return 0;
}

static int check_files(const struct vm_spec *s, char *err, size_t errlen)
{
    if (!s->kernel && !spec_firmware_file(s))
        return fail(err, errlen, "missing --kernel PATH (see corral run --help)");
    if ((s->kernel && readable(s->kernel, "kernel", err, errlen)) ||
        (s->initrd && readable(s->initrd, "initrd", err, errlen)) ||
        (s->dtb && readable(s->dtb, "device tree", err, errlen)) ||
        (s->firmware && strcmp(s->firmware, "builtin") &&
         readable(s->firmware, "firmware", err, errlen)))
        return -1;
    return 0;
}

/* BASE[,root][,format=raw|qcow2], in any order after the path. */
static int split_base(const char *arg, struct cli_base *b, char *err, size_t errlen)
{
    if (strlen(arg) >= sizeof(b->path))
        return fail(err, errlen, "--disk-from: path too long");
    snprintf(b->path, sizeof(b->path), "%s", arg);
    b->root = false;
    b->format = NULL;
    char *comma;
    while ((comma = strrchr(b->path, ','))) {
        const char *opt = comma + 1;
        if (!strcmp(opt, "root"))
            b->root = true;
        else if (!strcmp(opt, "format=raw"))
            b->format = "raw";
        else if (!strcmp(opt, "format=qcow2"))
            b->format = "qcow2";
        else
            return fail(err, errlen, "--disk-from: unknown option '%s' (root, format=raw|qcow2)", opt);
        *comma = '\0';
    }
    return 0;
}

static const char *const valued[] = { "--kernel", "--initrd", "--append", "--mem", "--smp",
                                      "--cpus", "--bios", "--dtb", "--disk", "--net", "--hvc",
                                      "--cpu-quota", "--name", "--config", "--disk-from",
                                      "--console" };

static bool is_option(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return !strncmp(arg, name, n) && (arg[n] == '\0' || arg[n] == '=');
}

/* One valued option; 0 or -1 with err set. */
static int set_option(struct vm_spec *s, struct cli_vm_opts *o, const char *name, const char *v,
                      char *err, size_t errlen)
{
    uint64_t sz;
    char *end;
    long n;
    if (!strcmp(name, "--kernel"))
        return set_str(&s->kernel, v);
    if (!strcmp(name, "--initrd"))
        return set_str(&s->initrd, v);
    if (!strcmp(name, "--dtb"))
        return set_str(&s->dtb, v);
    if (!strcmp(name, "--bios"))
        return set_str(&s->firmware, v);
    if (!strcmp(name, "--name")) {
        o->name = v;
        return 0;
    }
    if (!strcmp(name, "--config")) {
        o->config = v;
        return 0;
    }
    if (!strcmp(name, "--append")) {
        /* RISC-V Linux keeps at most 1023 bytes (COMMAND_LINE_SIZE) and cuts the rest */
        if (strlen(v) > 1023)
            return fail(err, errlen, "--append: the command line is %zu bytes; at most 1023 fit",
                        strlen(v));
        return set_str(&s->boot_args, v);
    }
    if (!strcmp(name, "--mem")) {
        if (cli_parse_size(v, &sz))
            return fail(err, errlen, "--mem: '%s' is not a size (try 512M or 2G)", v);
        if (sz < SPEC_MIN_MEM_MIB * MiB || sz > SPEC_MAX_MEM_MIB * MiB || (sz % MiB))
            return fail(err, errlen, "--mem: %s is outside 16M..64G or not a multiple of 1M", v);
        s->mem_mib = sz / MiB;
        return 0;
    }
    if (!strcmp(name, "--smp") || !strcmp(name, "--cpus")) {
        n = strtol(v, &end, 10);
        if (*v == '\0' || *end || n < 1 || n > SPEC_MAX_VCPUS)
            return fail(err, errlen, "%s: '%s' is not a hart count from 1 to %d", name, v,
                        SPEC_MAX_VCPUS);
        s->vcpus = (unsigned)n;
        return 0;
    }
    if (!strcmp(name, "--cpu-quota")) {
        n = strtol(v, &end, 10);
        if (*v == '\0' || (*end && strcmp(end, "%")) || n < 1 || n > 100 * SPEC_MAX_VCPUS)
            return fail(err, errlen, "--cpu-quota: '%s' is not a percentage from 1 to %d", v,
                        100 * SPEC_MAX_VCPUS);
        s->cpu_quota = (unsigned)n;
        return 0;
    }
    if (!strcmp(name, "--console")) {
        if (spec_parse_console(v, &s->console_raw))
            return fail(err, errlen, "--console: '%s' is neither raw nor filtered", v);
        return 0;
    }
    if (!strcmp(name, "--hvc")) {
        if (strcmp(v, "pty") && (strncmp(v, "file:", 5) || !v[5]))
            return fail(err, errlen, "--hvc: '%s' is neither pty nor file:PATH", v);
        return set_str(&s->hvc, v);
    }
    if (!strcmp(name, "--disk-from")) {
        if (o->n_disk_from + s->n_drives >= SPEC_MAX_DRIVES)
            return fail(err, errlen, "too many disks (at most %d)", SPEC_MAX_DRIVES);
        struct cli_base *b = &o->disk_from[o->n_disk_from++];
        if (split_base(v, b, err, errlen))
            return -1;
        return readable(b->path, "base image", err, errlen);
    }
    if (!strcmp(name, "--disk")) {
        if (s->n_drives + o->n_disk_from >= SPEC_MAX_DRIVES)
            return fail(err, errlen, "too many --disk options (at most %d)", SPEC_MAX_DRIVES);
        struct spec_drive *d = &s->drives[s->n_drives];
        memset(d, 0, sizeof(*d));
        snprintf(d->id, sizeof(d->id), "disk%u", s->n_drives);
        if (parse_disk(v, d, err, errlen))
            return -1;
        s->n_drives++;
        return 0;
    }
    /* --net */
    if (s->n_nets == SPEC_MAX_NETS)
        return fail(err, errlen, "too many --net options (at most %d)", SPEC_MAX_NETS);
    struct spec_net *nn = &s->nets[s->n_nets];
    memset(nn, 0, sizeof(*nn));
    snprintf(nn->id, sizeof(nn->id), "net%u", s->n_nets);
    s->n_nets++; /* counted even on error so that spec_free frees what was parsed */
    return parse_net(v, nn, err, errlen);
}

int cli_parse_vm(int argc, char **argv, int first, struct vm_spec *s, struct cli_vm_opts *o,
                 char *err, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    err[0] = '\0';
    /* A config file is the base; options given beside it override it. */
    for (int i = first; i < argc; i++) {
        if (is_option(argv[i], "--config")) {
            const char *v = argv[i][8] == '=' ? argv[i] + 9 : i + 1 < argc ? argv[i + 1] : NULL;
            if (!v)
                return fail(err, errlen, "option --config needs a value");
            if (cli_load_config(v, s, err, errlen))
                return -1;
        }
    }
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            return 1;
        bool *flag = !strcmp(a, "--rng")        ? &s->rng
                     : !strcmp(a, "--no-reboot")  ? &s->no_reboot
                     : !strcmp(a, "--no-sandbox") ? &s->no_sandbox
                                                  : NULL;
        if (flag) {
            *flag = true;
            continue;
        }
        if (!strcmp(a, "--balloon")) {
            s->balloon = true;
            if (i + 1 < argc && argv[i + 1][0] != '-') {
                uint64_t sz;
                if (cli_parse_size(argv[++i], &sz))
                    return fail(err, errlen, "--balloon: '%s' is not a size", argv[i]);
                s->balloon_mib = sz / MiB;
            }
            continue;
        }
        const char *name = NULL;
        for (size_t k = 0; k < ARRAY_SIZE(valued); k++)
            if (is_option(a, valued[k]))
                name = valued[k];
        if (!name) {
            if (a[0] != '-' && first > 0 && !o->name && i == first) {
                o->name = a; /* create NAME */
                continue;
            }
            return fail(err, errlen, "unknown option '%s' (see corral run --help)", a);
        }
        size_t nl = strlen(name);
        const char *v = a[nl] == '=' ? a + nl + 1 : NULL;
        if (!v) {
            if (i + 1 >= argc)
                return fail(err, errlen, "option %s needs a value", name);
            v = argv[++i];
        }
        int rc = set_option(s, o, name, v, err, errlen);
        if (rc) {
            if (!err[0])
                fail(err, errlen, "out of memory");
            return -1;
        }
    }
    if (s->balloon && s->balloon_mib >= s->mem_mib)
        return fail(err, errlen, "--balloon: %llu MiB is not less than the guest's memory",
                    (unsigned long long)s->balloon_mib);
    if (check_files(s, err, errlen))
        return -1;
    return spec_check(s, err, errlen) ? -1 : 0;
}
