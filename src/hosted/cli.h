/* The `corral` command line: parsing into a VM description, --help and --version.
 * Parsing only checks syntax and that files are readable; it never starts anything. */
#ifndef CORRAL_HOSTED_CLI_H
#define CORRAL_HOSTED_CLI_H

#include "corral/common.h"

#define CLI_MAX_DISKS 8
#define CLI_MAX_NETS  4

struct vm_config {
    const char *kernel;   /* required */
    const char *initrd;   /* NULL: none */
    const char *append;   /* NULL: default "console=ttyS0" */
    const char *bios;     /* NULL or "builtin": built-in SBI; else a firmware path */
    const char *dtb;      /* NULL: generate */
    uint64_t mem_size;    /* bytes; default 512 MiB */
    unsigned smp;         /* harts; default 1 */
    bool no_reboot;
    bool no_sandbox;      /* skip the process lockdown (sandbox.h) */
    bool rng;             /* virtio-rng from the host's getrandom */
    const char *hvc;      /* virtio-console hvc0: "pty" or "file:PATH"; NULL: none */
    /* virtio devices: raw option strings after --disk / --net, parsed by their own rooms */
    unsigned num_disks, num_nets;
    const char *disks[CLI_MAX_DISKS];
    const char *nets[CLI_MAX_NETS];
};

enum cli_result { CLI_RUN = 0, CLI_EXIT_OK = 1, CLI_ERROR = 2 };

/* Parses argv (argv[0] is the program, argv[1] the subcommand "run").
 * CLI_RUN: cfg is filled. CLI_EXIT_OK: help or version was printed to stdout.
 * CLI_ERROR: err holds a one-line message (no trailing newline) naming the problem. */
enum cli_result cli_parse(int argc, char **argv, struct vm_config *cfg, char *err, size_t errlen);

/* Parses "512M", "2G", "1048576", "64k" (binary units). Returns 0 or -EINVAL/-ERANGE. */
int cli_parse_size(const char *s, uint64_t *out);

#endif
