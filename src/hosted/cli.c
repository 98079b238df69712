/* The `corral` command line: `corral run [options]`, --help and --version.
 * Parsing checks syntax, ranges and that named files can be read; it starts nothing. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hosted/cli.h"

#define MIN_MEM (16 * MiB)
#define MAX_MEM (64 * GiB)

static const char usage[] =
    "usage: corral run --kernel PATH [options]\n"
    "       corral --help | --version\n"
    "\n"
    "Runs a 64-bit RISC-V virtual machine (virt board) in software.\n"
    "\n"
    "options for run:\n"
    "  --kernel PATH        Linux Image, ELF or flat binary to boot (required)\n"
    "  --initrd PATH        initial ramdisk\n"
    "  --append ARGS        kernel command line (default: console=ttyS0)\n"
    "  --mem SIZE           guest memory, e.g. 512M or 2G (default: 512M)\n"
    "  --smp N              number of harts, 1-8 (default: 1)\n"
    "  --bios PATH|builtin  M-mode firmware such as OpenSBI's fw_dynamic.bin, or the\n"
    "                       built-in SBI that starts the kernel in S-mode (default)\n"
    "  --dtb PATH           use this device tree instead of the generated one\n"
    "  --no-reboot          exit when the guest reboots instead of restarting it\n"
    "  --disk SPEC          virtio disk: PATH[,format=raw|qcow2][,readonly] (repeatable)\n"
    "  --net SPEC           virtio NIC: user[,hostfwd=tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT]\n"
    "                       or tap,ifname=NAME; either may add mac=52:54:00:xx:xx:xx (repeatable)\n"
    "  --rng                virtio entropy device fed by the host's getrandom\n"
    "  --hvc pty|file:PATH  virtio console (hvc0) on a new pseudo-terminal or into a file\n"
    "  --no-sandbox         skip the lockdown (no-new-privs, Landlock, seccomp) before boot\n"
    "\n"
    "console: the guest's serial port is the terminal; Ctrl-A x quits, Ctrl-A h helps.\n";

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

static bool readable(const char *path, char *err, size_t errlen, const char *what)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s '%s': %s", what, path, strerror(errno));
        return false;
    }
    close(fd);
    return true;
}

/* Splits "--opt=value" and "--opt value". Returns the value or NULL (err set). */
static const char *option_value(int argc, char **argv, int *i, const char *arg, const char *name,
                                char *err, size_t errlen)
{
    size_t n = strlen(name);
    if (arg[n] == '=')
        return arg + n + 1;
    if (*i + 1 >= argc) {
        snprintf(err, errlen, "option %s needs a value", name);
        return NULL;
    }
    return argv[++*i];
}

static bool is_option(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return !strncmp(arg, name, n) && (arg[n] == '\0' || arg[n] == '=');
}

static enum cli_result parse_run(int argc, char **argv, struct vm_config *cfg, char *err, size_t errlen)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return CLI_EXIT_OK;
        }
        if (!strcmp(a, "--no-reboot")) {
            cfg->no_reboot = true;
            continue;
        }
        if (!strcmp(a, "--no-sandbox")) {
            cfg->no_sandbox = true;
            continue;
        }
        if (!strcmp(a, "--rng")) {
            cfg->rng = true;
            continue;
        }
        static const char *const valued[] = { "--kernel", "--initrd", "--append", "--mem", "--smp",
                                              "--bios", "--dtb", "--disk", "--net", "--hvc" };
        const char *name = NULL;
        for (size_t k = 0; k < ARRAY_SIZE(valued); k++)
            if (is_option(a, valued[k]))
                name = valued[k];
        if (!name) {
            snprintf(err, errlen, "unknown option '%s' (see corral run --help)", a);
            return CLI_ERROR;
        }
        if (!(v = option_value(argc, argv, &i, a, name, err, errlen)))
            return CLI_ERROR;
        if (!strcmp(name, "--kernel")) {
            cfg->kernel = v;
        } else if (!strcmp(name, "--initrd")) {
            cfg->initrd = v;
        } else if (!strcmp(name, "--append")) {
            /* RISC-V Linux keeps at most 1023 bytes (COMMAND_LINE_SIZE) and silently cuts the
             * rest; a longer line is a mistake worth stopping for. */
            if (strlen(v) > 1023) {
                snprintf(err, errlen, "--append: the command line is %zu bytes; at most 1023 fit",
                         strlen(v));
                return CLI_ERROR;
            }
            cfg->append = v;
        } else if (!strcmp(name, "--bios")) {
            cfg->bios = v;
        } else if (!strcmp(name, "--dtb")) {
            cfg->dtb = v;
        } else if (!strcmp(name, "--mem")) {
            uint64_t sz;
            if (cli_parse_size(v, &sz)) {
                snprintf(err, errlen, "--mem: '%s' is not a size (try 512M or 2G)", v);
                return CLI_ERROR;
            }
            if (sz < MIN_MEM || sz > MAX_MEM || (sz & 0xfff)) {
                snprintf(err, errlen, "--mem: %s is outside 16M..64G or not a multiple of 4K", v);
                return CLI_ERROR;
            }
            cfg->mem_size = sz;
        } else if (!strcmp(name, "--smp")) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*v == '\0' || *end || n < 1 || n > 8) {
                snprintf(err, errlen, "--smp: '%s' is not a hart count from 1 to 8", v);
                return CLI_ERROR;
            }
            cfg->smp = (unsigned)n;
        } else if (!strcmp(name, "--hvc")) {
            if (strcmp(v, "pty") && (strncmp(v, "file:", 5) || !v[5])) {
                snprintf(err, errlen, "--hvc: '%s' is neither pty nor file:PATH", v);
                return CLI_ERROR;
            }
            cfg->hvc = v;
        } else if (!strcmp(name, "--disk")) {
            if (cfg->num_disks == CLI_MAX_DISKS) {
                snprintf(err, errlen, "too many --disk options (at most %d)", CLI_MAX_DISKS);
                return CLI_ERROR;
            }
            cfg->disks[cfg->num_disks++] = v;
        } else {
            if (cfg->num_nets == CLI_MAX_NETS) {
                snprintf(err, errlen, "too many --net options (at most %d)", CLI_MAX_NETS);
                return CLI_ERROR;
            }
            cfg->nets[cfg->num_nets++] = v;
        }
    }
    if (!cfg->kernel) {
        snprintf(err, errlen, "missing --kernel PATH (see corral run --help)");
        return CLI_ERROR;
    }
    if (!readable(cfg->kernel, err, errlen, "kernel"))
        return CLI_ERROR;
    if (cfg->initrd && !readable(cfg->initrd, err, errlen, "initrd"))
        return CLI_ERROR;
    if (cfg->dtb && !readable(cfg->dtb, err, errlen, "device tree"))
        return CLI_ERROR;
    if (cfg->bios && strcmp(cfg->bios, "builtin") && !readable(cfg->bios, err, errlen, "firmware"))
        return CLI_ERROR;
    return CLI_RUN;
}

enum cli_result cli_parse(int argc, char **argv, struct vm_config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->mem_size = 512 * MiB;
    cfg->smp = 1;
    err[0] = '\0';
    if (argc < 2) {
        snprintf(err, errlen, "missing command (try corral --help)");
        return CLI_ERROR;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("corral %s\n", CORRAL_VERSION);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "run")) {
        snprintf(err, errlen, "unknown command '%s' (try corral --help)", cmd);
        return CLI_ERROR;
    }
    return parse_run(argc, argv, cfg, err, errlen);
}
