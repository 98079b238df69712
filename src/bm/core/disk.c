/* The machine's disks (drivers/virtio_blk.c) and the block backends the guests' virtio-blk
 * models use: a slice of a machine disk, read and written through a bounce buffer per
 * disk, under the disk's lock (the driver has one request in flight). The models run on
 * the hart whose guest kicked them (core/worker.c), so several harts may come here at once.
 * Every request is checked against the slice: a guest cannot reach outside it. */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "backend/block.h"
#include "core/console.h"
#include "core/disk.h"
#include "core/platform.h"
#include "drivers/virtio_blk.h"

#define BOUNCE (64u << 10)   /* bytes per request to the machine's disk */
#define MAX_SLICES 8

struct slice {
    unsigned disk;
    uint64_t start, sectors;
    bool readonly;
    char id[20];
};

static struct vblk vblks[VBLK_MAX];
static unsigned num_vblks;
static spinlock_t locks[VBLK_MAX];
static uint8_t bounce[VBLK_MAX][BOUNCE] __attribute__((aligned(64)));
static struct slice slices[MAX_SLICES];
static struct blk_backend backends[MAX_SLICES];
static unsigned num_slices;

void disk_probe_all(void)
{
    for (unsigned i = 0; i < platform.num_virtio && num_vblks < VBLK_MAX; i++) {
        struct vblk *d = &vblks[num_vblks];
        uint64_t base = platform.virtio[i].base;
        int err = vblk_probe(d, base);
        if (err == -ENOTSUP)
            kprintf("corral-bm: virtio-blk at 0x%lx: legacy (version 1) transport, not used\n",
                    base);
        else if (err == -EIO)
            kprintf("corral-bm: virtio-blk at 0x%lx: the device refused the driver\n", base);
        if (err)
            continue;
        uint8_t *buf = bounce[num_vblks];
        num_vblks++;
        char head[17];
        err = vblk_read(d, 0, buf, 1);
        for (unsigned k = 0; k < 16; k++)
            head[k] = buf[k] >= 0x20 && buf[k] < 0x7f ? (char)buf[k] : '.';
        head[16] = '\0';
        kprintf("corral-bm: virtio-blk at 0x%lx: %lu sectors%s%s, sector 0 %s%s%s\n", base,
                d->capacity, d->read_only ? " (read-only)" : "", d->flush ? ", write cache" : "",
                err ? "unreadable" : "'", err ? "" : head, err ? "" : "'");
    }
}

uint64_t disk_capacity(unsigned n)
{
    return n < num_vblks ? vblks[n].capacity : 0;
}

/* Moves LEN bytes between the iovec list and the slice at byte OFF, a bounce buffer at a
 * time. */
static int xfer(struct blk_backend *b, const struct iovec *iov, int n, uint64_t off, bool write)
{
    struct slice *s = b->priv;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (iov[i].iov_len > s->sectors * 512 - total)
            return -EINVAL;
        total += iov[i].iov_len;
    }
    if (off % 512 || total % 512 || off > s->sectors * 512 || total > s->sectors * 512 - off)
        return -EINVAL;
    if (write && s->readonly)
        return -EROFS;
    struct vblk *d = &vblks[s->disk];
    uint8_t *buf = bounce[s->disk];
    int i = 0, rc = 0;
    size_t in_iov = 0; /* bytes of iov[i] already moved */
    spin_lock(&locks[s->disk]);
    while (total && !rc) {
        size_t chunk = total < BOUNCE ? total : BOUNCE, done = 0;
        uint64_t sector = s->start + off / 512;
        if (!write)
            rc = vblk_read(d, sector, buf, (uint32_t)(chunk / 512));
        while (done < chunk && !rc) {
            size_t take = iov[i].iov_len - in_iov;
            if (take > chunk - done)
                take = chunk - done;
            if (write)
                memcpy(buf + done, (uint8_t *)iov[i].iov_base + in_iov, take);
            else
                memcpy((uint8_t *)iov[i].iov_base + in_iov, buf + done, take);
            done += take;
            in_iov += take;
            if (in_iov == iov[i].iov_len) {
                i++;
                in_iov = 0;
            }
        }
        if (write && !rc)
            rc = vblk_write(d, sector, buf, (uint32_t)(chunk / 512));
        off += chunk;
        total -= chunk;
    }
    spin_unlock(&locks[s->disk]);
    return rc ? -EIO : 0;
}

int blk_preadv(struct blk_backend *b, const struct iovec *iov, int n, uint64_t off)
{
    return xfer(b, iov, n, off, false);
}

int blk_pwritev(struct blk_backend *b, const struct iovec *iov, int n, uint64_t off)
{
    return xfer(b, iov, n, off, true);
}

int blk_flush(struct blk_backend *b)
{
    struct slice *s = b->priv;
    spin_lock(&locks[s->disk]);
    int rc = vblk_flush(&vblks[s->disk]);
    spin_unlock(&locks[s->disk]);
    return rc ? -EIO : 0;
}

/* A hint (virtio 1.1 5.2.6.2): the slice keeps its bytes. */
int blk_discard(struct blk_backend *b, uint64_t off, uint64_t len)
{
    struct slice *s = b->priv;
    if (off > s->sectors * 512 || len > s->sectors * 512 - off)
        return -EINVAL;
    return s->readonly ? -EROFS : 0;
}

int blk_write_zeroes(struct blk_backend *b, uint64_t off, uint64_t len, bool may_unmap)
{
    (void)may_unmap;
    struct slice *s = b->priv;
    if (off % 512 || len % 512 || off > s->sectors * 512 || len > s->sectors * 512 - off)
        return -EINVAL;
    if (s->readonly)
        return -EROFS;
    struct vblk *d = &vblks[s->disk];
    int rc = 0;
    spin_lock(&locks[s->disk]);
    memset(bounce[s->disk], 0, BOUNCE);
    while (len && !rc) {
        uint64_t chunk = len < BOUNCE ? len : BOUNCE;
        rc = vblk_write(d, s->start + off / 512, bounce[s->disk], (uint32_t)(chunk / 512));
        off += chunk;
        len -= chunk;
    }
    spin_unlock(&locks[s->disk]);
    return rc ? -EIO : 0;
}

uint64_t blk_size(const struct blk_backend *b)
{
    return ((const struct slice *)b->priv)->sectors * 512;
}

bool blk_readonly(const struct blk_backend *b)
{
    return ((const struct slice *)b->priv)->readonly;
}

const char *blk_id(const struct blk_backend *b)
{
    return ((const struct slice *)b->priv)->id;
}

const char *blk_last_error(const struct blk_backend *b)
{
    (void)b;
    return "";
}

void blk_close(struct blk_backend *b)
{
    (void)b; /* the machine's disk stays; a flush came before */
}

struct blk_backend *disk_slice(unsigned n, uint64_t start, uint64_t count, bool readonly,
                               unsigned vm_index, const char **why)
{
    if (n >= num_vblks) {
        *why = "the machine has no disk for corral,disk";
        return NULL;
    }
    if (!count || start >= vblks[n].capacity || count > vblks[n].capacity - start ||
        count > (1ULL << 40)) {
        *why = "corral,disk lies outside the machine's disk";
        return NULL;
    }
    if (num_slices == MAX_SLICES) {
        *why = "too many disk slices";
        return NULL;
    }
    struct slice *s = &slices[num_slices];
    *s = (struct slice){ n, start, count, readonly || vblks[n].read_only, "" };
    memcpy(s->id, "corral-bm-vm", 12);
    s->id[12] = (char)('0' + vm_index % 10);
    struct blk_backend *b = &backends[num_slices++];
    b->ops = NULL;
    b->priv = s;
    return b;
}
