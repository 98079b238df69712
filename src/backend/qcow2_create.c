/* Making linked clones: a new, empty qcow2 v3 image over a backing file (docs/interop/qcow2.txt).
 * Only that: no preallocation, no other cluster size, no options; qcow2.c reads and writes it.
 *
 * Layout, 64 KiB clusters: 0 the header, its backing-format extension and the backing file
 * name; 1 the refcount table; 2 its one refcount block (16-bit refcounts); 3.. the L1 table,
 * all zero (none for an empty disk). Each of those clusters has refcount 1; nothing else is
 * allocated. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/block.h"
#include "corral/common.h"

#define CLUSTER_BITS 16
#define CLUSTER (1u << CLUSTER_BITS)
#define HEADER_LEN 104
#define EXT_BACKING_FMT 0xe2792acau
#define MAX_NAME 1023            /* QEMU's limit on the backing file name */
#define MAX_L1_BYTES (32u << 20) /* qcow2.c's limit: 4 Mi entries, 2 PiB of disk */

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

/* The first cluster: header, backing format extension, end of extensions, backing name. */
static void overlay_header(uint8_t *h, uint64_t size, uint32_t l1_entries, const char *base,
                           const char *fmt)
{
    size_t flen = strlen(fmt), name_at = HEADER_LEN + 8 + align_up(flen, 8) + 8;
    put_be32(h + 0, 0x514649fbu);               /* QFI\xfb */
    put_be32(h + 4, 3);                         /* version */
    put_be64(h + 8, name_at);                   /* backing file name offset */
    put_be32(h + 16, (uint32_t)strlen(base));   /* ... and length */
    put_be32(h + 20, CLUSTER_BITS);
    put_be64(h + 24, size);
    put_be32(h + 36, l1_entries);
    put_be64(h + 40, 3ULL * CLUSTER);           /* L1 table */
    put_be64(h + 48, 1ULL * CLUSTER);           /* refcount table */
    put_be32(h + 56, 1);                        /* refcount table clusters */
    put_be32(h + 96, 4);                        /* refcount_order: 16 bits */
    put_be32(h + 100, HEADER_LEN);
    put_be32(h + HEADER_LEN, EXT_BACKING_FMT);
    put_be32(h + HEADER_LEN + 4, (uint32_t)flen);
    memcpy(h + HEADER_LEN + 8, fmt, flen);      /* padding and the end marker stay zero */
    memcpy(h + name_at, base, strlen(base));
}

/* The base as qcow2.c will find it: a relative name is relative to the overlay's directory. */
static int base_size(const char *overlay, const char *base, enum blk_format fmt, uint64_t *size,
                     char *err, size_t errlen)
{
    char full[PATH_MAX];
    const char *slash = strrchr(overlay, '/');
    if (base[0] == '/' || !slash)
        snprintf(full, sizeof(full), "%s", base);
    else if (snprintf(full, sizeof(full), "%.*s/%s", (int)(slash - overlay), overlay, base) >=
             (int)sizeof(full)) {
        blk_errf(err, errlen, "image '%s': backing file path too long", overlay);
        return -ENAMETOOLONG;
    }
    struct blk_backend *b;
    char why[512];
    int rc = blk_open(full, fmt, true, &b, why, sizeof(why));
    if (rc < 0) {
        blk_errf(err, errlen, "image '%s': backing file: %s", overlay, why);
        return rc;
    }
    *size = blk_size(b);
    blk_close(b);
    return 0;
}

static int write_overlay(int fd, uint64_t size, const char *base, const char *fmt)
{
    /* one L1 entry maps CLUSTER / 8 clusters; an empty disk has no L1 cluster (as qemu-img) */
    uint64_t per_l1 = (uint64_t)CLUSTER * (CLUSTER / 8);
    uint64_t l1_entries = size / per_l1 + (size % per_l1 != 0);
    if (l1_entries * 8 > MAX_L1_BYTES)
        return -EFBIG;
    uint64_t l1_clusters = align_up(l1_entries * 8, CLUSTER) / CLUSTER;
    uint64_t clusters = 3 + l1_clusters;
    uint8_t *buf = calloc(3, CLUSTER);
    if (!buf)
        return -ENOMEM;
    overlay_header(buf, size, (uint32_t)l1_entries, base, fmt);
    put_be64(buf + CLUSTER, 2ULL * CLUSTER);    /* refcount table[0]: the block */
    for (uint64_t i = 0; i < clusters; i++)    /* the refcount block */
        buf[2 * CLUSTER + 2 * i + 1] = 1;
    int rc = blk_fd_pwrite(fd, buf, 3 * CLUSTER, 0);
    free(buf);
    if (!rc && ftruncate(fd, (off_t)(clusters * CLUSTER)) < 0)   /* the L1 table: zeros */
        rc = -errno;
    if (!rc && fdatasync(fd) < 0)
        rc = -errno;
    return rc;
}

int qcow2_create_overlay(const char *overlay_path, const char *base_path,
                         const char *base_format, char *err, size_t errlen)
{
    enum blk_format fmt;
    if (err && errlen)
        err[0] = '\0';
    if (!strcmp(base_format, "raw"))
        fmt = BLK_FORMAT_RAW;
    else if (!strcmp(base_format, "qcow2"))
        fmt = BLK_FORMAT_QCOW2;
    else {
        blk_errf(err, errlen, "image '%s': backing file format '%s' is not raw or qcow2",
                 overlay_path, base_format);
        return -EINVAL;
    }
    if (!base_path[0] || strlen(base_path) > MAX_NAME) {
        blk_errf(err, errlen, "image '%s': backing file name empty or longer than %d bytes",
                 overlay_path, MAX_NAME);
        return -EINVAL;
    }
    uint64_t size;
    int rc = base_size(overlay_path, base_path, fmt, &size, err, errlen);
    if (rc < 0)
        return rc;
    size = align_up(size, 512); /* qcow2 sizes are whole sectors; the tail reads as zeros */
    int fd = open(overlay_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        blk_errf(err, errlen, "image '%s': %s", overlay_path, strerror(errno));
        return rc;
    }
    rc = write_overlay(fd, size, base_path, base_format);
    if (close(fd) < 0 && !rc)
        rc = -errno;
    if (rc < 0) {
        blk_errf(err, errlen, "image '%s': cannot write it: %s", overlay_path, strerror(-rc));
        unlink(overlay_path);
    }
    return rc;
}
