/* The VM description: one typed spec shared by the command line, the config file and the
 * control API. Its JSON form is the API's (Firecracker's keys where they overlap, Corral's
 * own beside them). Parsing checks types, ranges and unknown keys; it opens no files. */
#ifndef CORRAL_HOSTED_SPEC_H
#define CORRAL_HOSTED_SPEC_H

#include <jansson.h>

#include "corral/common.h"

#define SPEC_MAX_DRIVES 6
#define SPEC_MAX_NETS   4
#define SPEC_MAX_FWD    8
#define SPEC_MIN_MEM_MIB 16
#define SPEC_MAX_MEM_MIB (64 * 1024)
#define SPEC_MAX_VCPUS  8
#define SPEC_ID_MAX     64

/* Firecracker's TokenBucket: `size` tokens refill over `refill_time` ms; size 0 = no limit. */
struct spec_bucket {
    uint64_t size, one_time_burst, refill_time_ms;
};
struct spec_limiter {
    struct spec_bucket bandwidth, ops;
};

enum spec_format { SPEC_FMT_AUTO = 0, SPEC_FMT_RAW, SPEC_FMT_QCOW2 };

struct spec_drive {
    char id[SPEC_ID_MAX];
    char *path;           /* path_on_host */
    enum spec_format format;
    bool read_only;
    bool is_root_device;  /* boot_args gain root=/dev/vdX unless they name a root */
    struct spec_limiter limit;
};

enum spec_net_kind { SPEC_NET_USER = 0, SPEC_NET_TAP, SPEC_NET_SWITCH };

struct spec_net {
    char id[SPEC_ID_MAX];
    enum spec_net_kind kind;
    char *host_dev_name;  /* tap: the interface; NULL lets the kernel name it */
    char *switch_name;    /* switch: the segment's name */
    char guest_mac[18];   /* "" = derived from the NIC's index */
    char *hostfwd[SPEC_MAX_FWD];
    unsigned n_hostfwd;
    bool host_loopback;   /* user: the guest may reach the host's 127.0.0.1 as 10.0.2.2 */
    struct spec_limiter rx, tx;
};

struct vm_spec {
    /* boot-source */
    char *kernel, *initrd, *boot_args, *firmware, *dtb;
    /* machine-config */
    unsigned vcpus;
    uint64_t mem_mib;
    unsigned cpu_quota;   /* percent of one host core for the whole VM; 0 = no cap */
    /* devices */
    struct spec_drive drives[SPEC_MAX_DRIVES];
    unsigned n_drives;
    struct spec_net nets[SPEC_MAX_NETS];
    unsigned n_nets;
    bool rng;
    char *hvc;            /* "pty" or "file:PATH"; NULL: none */
    bool balloon;
    uint64_t balloon_mib; /* how much the balloon holds (Firecracker's amount_mib) */
    bool deflate_on_oom;
    unsigned balloon_stats_s;
    /* Corral's own */
    bool no_reboot;
    bool no_sandbox;
    bool console_raw;     /* guest output reaches the terminal unfiltered (escapes and all) */
};

void spec_init(struct vm_spec *s);
void spec_free(struct vm_spec *s);
/* Deep copy; -ENOMEM on failure (dst is then empty). */
int spec_copy(struct vm_spec *dst, const struct vm_spec *src);

/* The whole description as JSON ("boot-source", "machine-config", "drives", ...). */
json_t *spec_to_json(const struct vm_spec *s);
/* Fills s (spec_init'ed) from a whole description; a one-line reason in err on failure.
 * Unknown keys, wrong types and out-of-range values are errors. */
int spec_from_json(struct vm_spec *s, json_t *j, char *err, size_t errlen);
/* The API's pieces, each checked the same way as in a whole description. */
int spec_set_boot(struct vm_spec *s, json_t *j, char *err, size_t errlen);
int spec_set_machine(struct vm_spec *s, json_t *j, bool patch, char *err, size_t errlen);
int spec_set_drive(struct vm_spec *s, const char *id, json_t *j, char *err, size_t errlen);
int spec_set_net(struct vm_spec *s, const char *id, json_t *j, char *err, size_t errlen);
int spec_set_balloon(struct vm_spec *s, json_t *j, char *err, size_t errlen);
json_t *spec_machine_json(const struct vm_spec *s);

/* Checks what the whole needs before a start: a kernel, an id per device, one root drive. */
/* "raw" or "filtered" (the --console option and the "console" key): 0, or -EINVAL. */
int spec_parse_console(const char *v, bool *raw);
int spec_check(const struct vm_spec *s, char *err, size_t errlen);
/* True when the spec names an M-mode firmware file (not the built-in SBI); such a VM may
 * have no kernel, as QEMU's -bios without -kernel. */
bool spec_firmware_file(const struct vm_spec *s);
/* The kernel command line to boot with: boot_args (default "console=ttyS0") plus
 * root=/dev/vdX rw|ro for a root drive when boot_args name no root. Caller frees. */
char *spec_cmdline(const struct vm_spec *s);
/* The text a net backend takes (see backend/net.h) for NIC i, with DIR the switch's folder. */
int spec_net_backend_text(const struct spec_net *n, const char *switch_dir, char *out,
                          size_t outlen);

const char *spec_format_name(enum spec_format f);
bool spec_id_valid(const char *id);

#endif
