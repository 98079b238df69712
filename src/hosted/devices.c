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
#include "dev/virtio/blk.h"
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
    }
    return 0;
}

static int attach_disk(struct vm_devices *d, struct board *b, struct blk_backend *be,
                       char *err, size_t errlen)
{
    struct virtio_slot s;
    int rc;
    if ((rc = next_slot(d, b, &s, err, errlen))) {
        blk_close(be);
        return rc;
    }
    struct virtio_blk *blk = virtio_blk_create(&s, be);
    if (!blk) {
        blk_close(be);
        snprintf(err, errlen, "--disk: cannot create the disk device");
        return -ENOMEM;
    }
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
    struct virtio_net *n = virtio_net_create(&s, spec, index, err, errlen);
    if (!n)
        return -EINVAL;
    return plug(d, b, virtio_net_dev(n), n, net_destroy, err, errlen);
}

static void console_destroy(void *m) { virtio_console_destroy(m); }

/* --hvc pty: a new pseudo-terminal in raw mode, its name printed for the user;
 * --hvc file:PATH: output appended to PATH, no input. */
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
    return plug(d, b, virtio_console_dev(c), c, console_destroy, err, errlen);
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
        rc = attach_disk(d, b, disks[i], err, errlen);
    for (; i < vs->n_drives; i++)
        blk_close(disks[i]); /* not attached after an error */
    for (i = 0; !rc && i < vs->n_nets; i++)
        rc = attach_net(d, b, &vs->nets[i], i, switch_root, err, errlen);
    if (!rc && vs->rng)
        rc = attach_rng(d, b, err, errlen);
    if (!rc && vs->hvc)
        rc = attach_hvc(d, b, vs->hvc, err, errlen);
    if (rc) {
        devices_detach(d);
        return rc;
    }
    *out = d;
    return 0;
}

int devices_power_button(struct vm_devices *d)
{
    (void)d;
    return -ENODEV; /* the power button arrives with virtio-input */
}

int devices_balloon_set(struct vm_devices *d, uint64_t mib)
{
    (void)d;
    (void)mib;
    return -ENODEV;
}

void devices_stats(struct vm_devices *d, json_t *out)
{
    json_t *a = json_array();
    for (unsigned i = 0; d && i < d->count; i++)
        json_array_append_new(a, json_string(d->dev[i].vdev->region.name));
    json_object_set_new(out, "virtio_slots", a);
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
