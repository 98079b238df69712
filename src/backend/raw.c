/* The raw image backend: the file (or block device) is the disk, byte for byte. Holes from discard
 * read as zeros. No format state beyond the descriptor block.c opened. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/block.h"

static int raw_pread(struct blk_backend *b, void *buf, size_t len, uint64_t off)
{
    int rc = blk_fd_pread(b->fd, buf, len, off);
    return rc < 0 ? blk_io_error(b, rc, "read at %llu: %s", (unsigned long long)off, strerror(-rc))
                  : 0;
}

static int raw_pwrite(struct blk_backend *b, const void *buf, size_t len, uint64_t off)
{
    int rc = blk_fd_pwrite(b->fd, buf, len, off);
    return rc < 0 ? blk_io_error(b, rc, "write at %llu: %s", (unsigned long long)off, strerror(-rc))
                  : 0;
}

static int raw_flush(struct blk_backend *b)
{
    if (fdatasync(b->fd) < 0)
        return blk_io_error(b, -errno, "fdatasync: %s", strerror(errno));
    return 0;
}

static int raw_write_zero_buffers(struct blk_backend *b, uint64_t off, uint64_t len)
{
    size_t chunk = len < 1 * 1024 * 1024 ? (size_t)len : 1 * 1024 * 1024;
    void *zero = calloc(1, chunk);
    if (!zero)
        return -ENOMEM;
    int rc = 0;
    while (len && rc == 0) {
        size_t n = len < chunk ? (size_t)len : chunk;
        rc = raw_pwrite(b, zero, n, off);
        off += n;
        len -= n;
    }
    free(zero);
    return rc;
}

/* Discard is a hint: a file system that cannot punch holes just keeps the data. */
static int raw_discard(struct blk_backend *b, uint64_t off, uint64_t len)
{
    if (fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
        return 0;
    if (errno == EOPNOTSUPP || errno == ENOSYS)
        return 0;
    return blk_io_error(b, -errno, "discard: %s", strerror(errno));
}

static int raw_write_zeroes(struct blk_backend *b, uint64_t off, uint64_t len, bool may_unmap)
{
    int mode = may_unmap ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
                         : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
    if (fallocate(b->fd, mode, (off_t)off, (off_t)len) == 0)
        return 0;
    if (errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL)
        return blk_io_error(b, -errno, "write zeroes: %s", strerror(errno));
    return raw_write_zero_buffers(b, off, len);
}

static const struct blk_ops raw_ops = {
    .pread = raw_pread,
    .pwrite = raw_pwrite,
    .flush = raw_flush,
    .discard = raw_discard,
    .write_zeroes = raw_write_zeroes,
    .close = NULL,
};

int raw_open(struct blk_backend *b, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(b->fd, &st) < 0) {
        blk_errf(err, errlen, "image '%s': %s", b->path, strerror(errno));
        return -errno;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (S_ISBLK(st.st_mode) && ioctl(b->fd, BLKGETSIZE64, &size) < 0) {
        blk_errf(err, errlen, "image '%s': cannot get device size: %s", b->path, strerror(errno));
        return -errno;
    }
    b->size = size;
    b->ops = &raw_ops;
    return 0;
}
