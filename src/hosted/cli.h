/* The `corral` command line: the verbs' table, and the VM options shared by `run` and
 * `create`, parsed once into the typed VM description (hosted/spec.h). */
#ifndef CORRAL_HOSTED_CLI_H
#define CORRAL_HOSTED_CLI_H

#include "hosted/spec.h"

/* Exit statuses: 0 done, 1 the VM or the action failed, 2 a bad command line. */
enum { EXIT_VM_FAILED = 1, EXIT_USAGE = 2 };

/* What `run` and `create` take besides the VM description. */
struct cli_vm_opts {
    const char *name;       /* --name (run) or the positional NAME (create) */
    const char *config;     /* --config FILE: the API's JSON */
    struct cli_base {  /* --disk-from BASE[,root][,format=raw|qcow2]: overlays made at create */
        char path[4096];
        bool root;
        const char *format; /* "raw", "qcow2", or NULL: probe */
    } disk_from[SPEC_MAX_DRIVES];
    unsigned n_disk_from;
};

/* Parses argv[first..] into s (spec_init'ed) and o. Returns 0, 1 when --help was printed,
 * or -1 with a one-line reason in err. Files are checked for reading, not read. */
int cli_parse_vm(int argc, char **argv, int first, struct vm_spec *s, struct cli_vm_opts *o,
                 char *err, size_t errlen);
/* Reads a config file (the API's JSON) into s. */
int cli_load_config(const char *path, struct vm_spec *s, char *err, size_t errlen);

/* "512M", "2G", "1048576", "64k" (binary units). Returns 0 or -EINVAL/-ERANGE. */
int cli_parse_size(const char *s, uint64_t *out);

/* Prints "corral: MESSAGE" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

extern const char cli_vm_usage[];

/* The verbs, one file each (cmd_*.c). */
int cmd_run(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_start(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_console(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_balloon(int argc, char **argv);

#endif
