/* Attaches the VM's virtio devices to the board's virtio-mmio slots, in command-line
 * order: disks, then NICs, then the entropy device and the virtio console. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include "backend/block.h"
#include "corral/ratelimit.h"
#include <sys/mman.h>

#include "dev/virtio/balloon.h"
#include "dev/virtio/blk.h"
#include "dev/virtio/input.h"
#include "dev/virtio/console.h"
#include "dev/virtio/net.h"
#include "dev/virtio/rng.h"
#include "hosted/devices.h"
#include "machine/virt.h"

struct vm_device {
    struct virtio_dev *vdev;
    void *model;
    void (*destroy)(void *model);
};

struct vm_devices {
    unsigned count;
    struct virtio_input *power;     /* the power button every VM has */
    struct virtio_balloon *balloon; /* NULL without one */
    struct virtio_blk *blks[VIRT_VIRTIO_SLOTS];
    struct virtio_net *nets[VIRT_VIRTIO_SLOTS];
    unsigned n_blks, n_nets;
    int hvc_slave; /* kept open so the pty's master side never reports a hang-up */
    struct vm_device dev[VIRT_VIRTIO_SLOTS];
};

static const char *const slot_names[VIRT_VIRTIO_SLOTS] = {
    "virtio0", "virtio1", "virtio2", "virtio3", "virtio4", "virtio5", "virtio6", "virtio7",
};

/* The next free slot's place, or -ENOSPC. */
static int next_slot(struct vm_devices *d, struct board *b, struct virtio_slot *s, char *err,
                     size_t errlen)
{
    if (d->count == VIRT_VIRTIO_SLOTS) {
        snprintf(err, errlen, "too many virtio devices (the board has %d slots)",
                 VIRT_VIRTIO_SLOTS);
        return -ENOSPC;
    }
    unsigned i = d->count;
    *s = (struct virtio_slot){ slot_names[i], VIRT_VIRTIO_BASE + i * VIRT_VIRTIO_STRIDE,
                               board_irq(b, VIRT_VIRTIO_IRQ + i), board_ram(b) };
    return 0;
}

static int plug(struct vm_devices *d, struct board *b, struct virtio_dev *vdev, void *model,
                void (*destroy)(void *), char *err, size_t errlen)
{
    if (board_add_mmio(b, &vdev->region)) {
        destroy(model);
        snprintf(err, errlen, "cannot map %s", vdev->region.name);
        return -ENOSPC;
    }
    board_use_virtio_slot(b, d->count);
    d->dev[d->count++] = (struct vm_device){ vdev, model, destroy };
    return 0;
}

static void rng_destroy(void *m) { virtio_rng_destroy(m); }

static int attach_rng(struct vm_devices *d, struct board *b, char *err, size_t errlen)
{
    struct virtio_slot s;
    int rc = next_slot(d, b, &s, err, errlen);
    if (rc)
        return rc;
    struct virtio_rng *r = virtio_rng_create(&s);
    if (!r) {
        snprintf(err, errlen, "cannot create the entropy device");
        return -ENOMEM;
    }
    return plug(d, b, virtio_rng_dev(r), r, rng_destroy, err, errlen);
}

static void blk_destroy(void *m) { virtio_blk_destroy(m); }

/* The spec's token buckets as the limiter takes them; NULL when there is no limit. */
static const struct ratelimit_config *limit_of(const struct spec_limiter *l,
                                               struct ratelimit_config *out)
{
    if (!l->bandwidth.size && !l->ops.size)
        return NULL;
    out->bandwidth = (struct ratelimit_bucket_config){ l->bandwidth.size,
                                                       l->bandwidth.one_time_burst,
                                                       l->bandwidth.refill_time_ms };
    out->ops = (struct ratelimit_bucket_config){ l->ops.size, l->ops.one_time_burst,
                                                 l->ops.refill_time_ms };
    return out;
}

static enum blk_format blk_format_of(enum spec_format f)
{
    /* without format=, the guest may have written the header a probe would trust */
    return f == SPEC_FMT_RAW ? BLK_FORMAT_RAW : f == SPEC_FMT_QCOW2 ? BLK_FORMAT_QCOW2
                                                                   : BLK_FORMAT_AUTO_STRICT;
}

int devices_open_disks(const struct vm_spec *s, struct blk_backend **be, char *err,
                       size_t errlen)
{
    for (unsigned i = 0; i < s->n_drives; i++) {
        const struct spec_drive *d = &s->drives[i];
        char why[512];
        int rc = blk_open(d->path, blk_format_of(d->format), d->read_only, &be[i], why,
                          sizeof(why));
        if (rc) {
            snprintf(err, errlen, "--disk: %s", why);
            while (i--)
                blk_close(be[i]);
            return rc;
        }
        if (blk_warning(be[i])[0])
            fprintf(stderr, "corral: --disk: warning: %s\n", blk_warning(be[i]));
    }
    return 0;
}

static int attach_disk(struct vm_devices *d, struct board *b, struct blk_backend *be,
                       const struct spec_limiter *limit, char *err, size_t errlen)
{
    struct virtio_slot s;
    int rc;
    if ((rc = next_slot(d, b, &s, err, errlen))) {
        blk_close(be);
        return rc;
    }
    struct ratelimit_config rl;
    struct virtio_blk *blk = virtio_blk_create(&s, be, limit_of(limit, &rl));
    if (!blk) {
        blk_close(be);
        snprintf(err, errlen, "--disk: cannot create the disk device");
        return -ENOMEM;
    }
    d->blks[d->n_blks++] = blk;
    return plug(d, b, virtio_blk_dev(blk), blk, blk_destroy, err, errlen);
}

static void net_destroy(void *m) { virtio_net_destroy(m); }

static int attach_net(struct vm_devices *d, struct board *b, const struct spec_net *sn,
                      unsigned index, const char *switch_root, char *err, size_t errlen)
{
    struct virtio_slot s;
    int rc = next_slot(d, b, &s, err, errlen);
    if (rc)
        return rc;
    char dir[4096] = "", spec[2048];
    if (sn->kind == SPEC_NET_SWITCH)
        snprintf(dir, sizeof(dir), "%s/%s", switch_root ? switch_root : "/tmp", sn->switch_name);
    if (spec_net_backend_text(sn, dir, spec, sizeof(spec))) {
        snprintf(err, errlen, "--net: the NIC's description is too long");
        return -ENAMETOOLONG;
    }
    struct ratelimit_config rx, tx;
    struct virtio_net *n = virtio_net_create(&s, spec, index, limit_of(&sn->rx, &rx),
                                             limit_of(&sn->tx, &tx), err, errlen);
    if (!n)
        return -EINVAL;
    d->nets[d->n_nets++] = n;
    return plug(d, b, virtio_net_dev(n), n, net_destroy, err, errlen);
}

static void console_destroy(void *m) { virtio_console_destroy(m); }

/* --hvc pty: a new pseudo-terminal in raw mode, its name printed for the user;
 * --hvc file:PATH: output appended to PATH, no input; past HVC_FILE_CAP the file empties and
 * starts again, so that a guest cannot fill the host's disk. */
#define HVC_FILE_CAP (16 * MiB)
static int attach_hvc(struct vm_devices *d, struct board *b, const char *spec, char *err,
                      size_t errlen)
{
    struct virtio_slot s;
    int rc = next_slot(d, b, &s, err, errlen);
    if (rc)
        return rc;
    int in = -1, out;
    if (!strcmp(spec, "pty")) {
        out = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        const char *name = out >= 0 && !grantpt(out) && !unlockpt(out) ? ptsname(out) : NULL;
        if (!name) {
            snprintf(err, errlen, "--hvc pty: cannot create a pseudo-terminal: %s", strerror(errno));
            if (out >= 0)
                close(out);
            return -errno;
        }
        d->hvc_slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (d->hvc_slave >= 0) {
            struct termios t;
            if (!tcgetattr(d->hvc_slave, &t)) {
                cfmakeraw(&t);
                tcsetattr(d->hvc_slave, TCSANOW, &t);
            }
        }
        fprintf(stderr, "corral: virtio console hvc0 is on %s\n", name);
        in = out;
    } else {
        const char *path = spec + 5;
        out = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (out < 0) {
            snprintf(err, errlen, "--hvc: cannot open '%s': %s", path, strerror(errno));
            return -errno;
        }
    }
    struct virtio_console *c = virtio_console_create(&s, in, out);
    if (!c) {
        close(out);
        snprintf(err, errlen, "cannot create the virtio console");
        return -ENOMEM;
    }
    if (in < 0)
        virtio_console_cap_output(c, HVC_FILE_CAP);
    return plug(d, b, virtio_console_dev(c), c, console_destroy, err, errlen);
}

static void input_destroy(void *m) { virtio_input_destroy(m); }

static int attach_power_button(struct vm_devices *d, struct board *b, char *err, size_t errlen)
{
    struct virtio_slot s;
    int rc = next_slot(d, b, &s, err, errlen);
    if (rc)
        return rc;
    if (!(d->power = virtio_input_create(&s))) {
        snprintf(err, errlen, "cannot create the power button");
        return -ENOMEM;
    }
    return plug(d, b, virtio_input_dev(d->power), d->power, input_destroy, err, errlen);
}

void devices_hold(struct vm_devices *d, bool hold)
{
    for (unsigned i = 0; i < d->count; i++)
        virtio_mmio_hold(d->dev[i].vdev, hold);
}

/* The guest gave back [gpa, gpa+len) (checked against RAM by the model): drop the host
 * pages behind it, so that the host gets the memory back. */
static void balloon_discard(void *ctx, uint64_t gpa, uint64_t len)
{
    board_discard_ram(ctx, gpa, len);
}

static void balloon_destroy(void *m) { virtio_balloon_destroy(m); }

static int attach_balloon(struct vm_devices *d, struct board *b, const struct vm_spec *vs,
                          char *err, size_t errlen)
{
    struct virtio_slot s;
    int rc = next_slot(d, b, &s, err, errlen);
    if (rc)
        return rc;
    d->balloon = virtio_balloon_create(&s, vs->deflate_on_oom, balloon_discard, b);
    if (!d->balloon) {
        snprintf(err, errlen, "cannot create the balloon");
        return -ENOMEM;
    }
    virtio_balloon_set_target(d->balloon, vs->balloon_mib * MiB);
    return plug(d, b, virtio_balloon_dev(d->balloon), d->balloon, balloon_destroy, err, errlen);
}

int devices_attach(struct board *b, const struct vm_spec *vs, struct blk_backend **disks,
                   const char *switch_root, struct vm_devices **out, char *err, size_t errlen)
{
    struct vm_devices *d = calloc(1, sizeof(*d));
    if (!d) {
        for (unsigned i = 0; i < vs->n_drives; i++)
            blk_close(disks[i]);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    d->hvc_slave = -1;
    int rc = 0;
    unsigned i = 0;
    for (; !rc && i < vs->n_drives; i++)
        rc = attach_disk(d, b, disks[i], &vs->drives[i].limit, err, errlen);
    for (; i < vs->n_drives; i++)
        blk_close(disks[i]); /* not attached after an error */
    for (i = 0; !rc && i < vs->n_nets; i++)
        rc = attach_net(d, b, &vs->nets[i], i, switch_root, err, errlen);
    if (!rc && vs->rng)
        rc = attach_rng(d, b, err, errlen);
    if (!rc && vs->hvc)
        rc = attach_hvc(d, b, vs->hvc, err, errlen);
    if (!rc && vs->balloon)
        rc = attach_balloon(d, b, vs, err, errlen);
    if (!rc)
        rc = attach_power_button(d, b, err, errlen);
    if (rc) {
        devices_detach(d);
        return rc;
    }
    *out = d;
    return 0;
}

int devices_power_button(struct vm_devices *d)
{
    if (!d || !d->power)
        return -ENODEV;
    int rc = virtio_input_press_power(d->power);
    return rc == -ENODEV ? -ENOTCONN : rc; /* the button is there; no driver listens to it */
}

int devices_balloon_set(struct vm_devices *d, uint64_t mib)
{
    if (!d || !d->balloon)
        return -ENODEV;
    virtio_balloon_set_target(d->balloon, mib * MiB);
    return 0;
}

static json_t *balloon_json(struct virtio_balloon *bl)
{
    virtio_balloon_request_stats(bl); /* fresh figures for the next look */
    struct balloon_info bi;
    virtio_balloon_get(bl, &bi);
    json_t *j = json_pack("{s:I,s:I,s:I,s:I,s:I}", "target_mib", (json_int_t)(bi.target / MiB),
                          "actual_mib", (json_int_t)(bi.actual / MiB), "inflated_bytes",
                          (json_int_t)bi.inflated, "deflated_bytes", (json_int_t)bi.deflated,
                          "reported_free_bytes", (json_int_t)bi.reported);
    static const struct { unsigned tag; const char *name; } stats[] = {
        { BALLOON_STAT_MEMFREE, "free_memory" }, { BALLOON_STAT_MEMTOT, "total_memory" },
        { BALLOON_STAT_AVAIL, "available_memory" }, { BALLOON_STAT_CACHES, "disk_caches" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(stats); i++)
        if (bi.stats_valid & (1u << stats[i].tag))
            json_object_set_new(j, stats[i].name, json_integer((json_int_t)bi.stats[stats[i].tag]));
    return j;
}

void devices_stats(struct vm_devices *d, json_t *out)
{
    json_t *a = json_array();
    for (unsigned i = 0; d && i < d->count; i++)
        json_array_append_new(a, json_string(d->dev[i].vdev->region.name));
    json_object_set_new(out, "virtio_slots", a);
    if (d && d->balloon)
        json_object_set_new(out, "balloon", balloon_json(d->balloon));
    json_t *drives = json_array(), *nics = json_array();
    for (unsigned i = 0; d && i < d->n_blks; i++) {
        struct virtio_blk_stats st;
        virtio_blk_stats(d->blks[i], &st);
        json_array_append_new(drives, json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:f}",
            "read_bytes", (json_int_t)st.read_bytes, "write_bytes", (json_int_t)st.write_bytes,
            "read_ops", (json_int_t)st.read_ops, "write_ops", (json_int_t)st.write_ops,
            "other_ops", (json_int_t)st.other_ops, "throttled", (json_int_t)st.throttled,
            "throttled_s", (double)st.throttled_ns / 1e9));
    }
    for (unsigned i = 0; d && i < d->n_nets; i++) {
        struct virtio_net_stats st;
        virtio_net_stats(d->nets[i], &st);
        json_array_append_new(nics, json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
            "rx_bytes", (json_int_t)st.rx_bytes, "rx_frames", (json_int_t)st.rx_frames,
            "tx_bytes", (json_int_t)st.tx_bytes, "tx_frames", (json_int_t)st.tx_frames,
            "rx_throttled", (json_int_t)st.rx_throttled, "tx_throttled", (json_int_t)st.tx_throttled,
            "rx_dropped", (json_int_t)st.rx_dropped, "tx_dropped", (json_int_t)st.tx_dropped));
    }
    json_object_set_new(out, "drives", drives);
    json_object_set_new(out, "network-interfaces", nics);
}

void devices_reset(struct vm_devices *d)
{
    for (unsigned i = 0; d && i < d->count; i++)
        virtio_mmio_reset(d->dev[i].vdev);
}

void devices_detach(struct vm_devices *d)
{
    for (unsigned i = 0; d && i < d->count; i++)
        d->dev[i].destroy(d->dev[i].model);
    if (d && d->hvc_slave >= 0)
        close(d->hvc_slave);
    free(d);
}
