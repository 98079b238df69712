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

/* --disk PATH[,format=raw|qcow2|auto][,readonly]; a comma in PATH is written ",,". */
static int parse_disk(const char *spec, char *path, size_t pathlen, enum blk_format *fmt,
                      bool *ro, char *err, size_t errlen)
{
    size_t n = 0;
    const char *p = spec;
    for (; *p; p++) {
        if (*p == ',' && p[1] == ',') {
            p++;
        } else if (*p == ',') {
            break;
        }
        if (n + 1 >= pathlen) {
            snprintf(err, errlen, "--disk: path too long");
            return -EINVAL;
        }
        path[n++] = *p;
    }
    path[n] = '\0';
    if (!n) {
        snprintf(err, errlen, "--disk: missing image path in '%s'", spec);
        return -EINVAL;
    }
    *fmt = BLK_FORMAT_AUTO_STRICT; /* the guest may have written the header it would probe */
    *ro = false;
    while (*p == ',') {
        const char *opt = ++p;
        size_t len = strcspn(opt, ",");
        p += len;
        if (len == 8 && !strncmp(opt, "readonly", 8)) {
            *ro = true;
        } else if (len == 10 && !strncmp(opt, "format=raw", 10)) {
            *fmt = BLK_FORMAT_RAW;
        } else if (len == 12 && !strncmp(opt, "format=qcow2", 12)) {
            *fmt = BLK_FORMAT_QCOW2;
        } else if (len == 11 && !strncmp(opt, "format=auto", 11)) {
            *fmt = BLK_FORMAT_AUTO_STRICT; /* the guest may have written the header it would probe */
        } else if (len > 7 && !strncmp(opt, "format=", 7)) {
            snprintf(err, errlen, "--disk: unknown format '%.*s' (raw, qcow2 or auto)",
                     (int)(len - 7), opt + 7);
            return -EINVAL;
        } else {
            snprintf(err, errlen, "--disk: unknown option '%.*s' (format=, readonly)", (int)len, opt);
            return -EINVAL;
        }
    }
    return 0;
}

static int attach_disk(struct vm_devices *d, struct board *b, const char *spec, char *err,
                       size_t errlen)
{
    char path[4096];
    enum blk_format fmt;
    bool ro;
    int rc = parse_disk(spec, path, sizeof(path), &fmt, &ro, err, errlen);
    if (rc)
        return rc;
    struct virtio_slot s;
    if ((rc = next_slot(d, b, &s, err, errlen)))
        return rc;
    struct blk_backend *be;
    char why[512];
    if ((rc = blk_open(path, fmt, ro, &be, why, sizeof(why)))) {
        snprintf(err, errlen, "--disk: %s", why);
        return rc;
    }
    struct virtio_blk *blk = virtio_blk_create(&s, be, NULL);
    if (!blk) {
        blk_close(be);
        snprintf(err, errlen, "--disk: cannot create the disk device for '%s'", path);
        return -ENOMEM;
    }
    return plug(d, b, virtio_blk_dev(blk), blk, blk_destroy, err, errlen);
}

static void net_destroy(void *m) { virtio_net_destroy(m); }

static int attach_net(struct vm_devices *d, struct board *b, const char *spec, unsigned index,
                      char *err, size_t errlen)
{
    struct virtio_slot s;
    int rc = next_slot(d, b, &s, err, errlen);
    if (rc)
        return rc;
    struct virtio_net *n = virtio_net_create(&s, spec, index, NULL, NULL, err, errlen);
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

int devices_attach(struct board *b, const struct vm_config *vc, struct vm_devices **out,
                   char *err, size_t errlen)
{
    struct vm_devices *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    d->hvc_slave = -1;
    int rc = 0;
    for (unsigned i = 0; !rc && i < vc->num_disks; i++)
        rc = attach_disk(d, b, vc->disks[i], err, errlen);
    for (unsigned i = 0; !rc && i < vc->num_nets; i++)
        rc = attach_net(d, b, vc->nets[i], i, err, errlen);
    if (!rc && vc->rng)
        rc = attach_rng(d, b, err, errlen);
    if (!rc && vc->hvc)
        rc = attach_hvc(d, b, vc->hvc, err, errlen);
    if (rc) {
        devices_detach(d);
        return rc;
    }
    *out = d;
    return 0;
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
