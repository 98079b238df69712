/* The block backend front door: opening (format probe, locking, chain bookkeeping), request range
 * checks, and the small I/O helpers raw.c and qcow2.c share. The formats themselves live there. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/block.h"

void blk_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int blk_io_error(struct blk_backend *b, int rc, const char *fmt, ...)
{
    int n = snprintf(b->last_error, sizeof(b->last_error), "image '%s': ", b->path);
    if (n >= 0 && (size_t)n < sizeof(b->last_error)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b->last_error + n, sizeof(b->last_error) - n, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int blk_fd_pread(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0) {               /* end of file: the rest reads as zeros */
            memset(p, 0, len);
            return 0;
        }
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int blk_fd_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int blk_read_backing(struct blk_backend *b, void *buf, size_t len, uint64_t off)
{
    if (off >= b->size) {
        memset(buf, 0, len);
        return 0;
    }
    size_t in = len;
    if (b->size - off < len) {
        in = (size_t)(b->size - off);
        memset((uint8_t *)buf + in, 0, len - in);
    }
    return b->ops->pread(b, buf, in, off);
}

/* An OFD lock over the whole file: exclusive for a writer, shared for readers. It conflicts with
 * any other open file description's lock, in this process or another (and with QEMU's). */
static int blk_lock(int fd, bool exclusive)
{
    struct flock fl = {
        .l_type = exclusive ? F_WRLCK : F_RDLCK,
        .l_whence = SEEK_SET,
        .l_start = 0,
        .l_len = 0,
    };
    if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
        return (errno == EAGAIN || errno == EACCES) ? -EBUSY : -errno;
    return 0;
}

static void blk_make_id(struct blk_backend *b, const struct stat *st)
{
    /* splitmix64 over device and inode: stable for the file, 16 hex digits after a prefix. */
    uint64_t x = ((uint64_t)st->st_dev << 32) ^ (uint64_t)st->st_ino;
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
    snprintf(b->id, sizeof(b->id), "crl-%016llx", (unsigned long long)x);
}

/* Guesses the format from the qcow2 magic. *backing tells whether a qcow2 header names a
 * backing file (its offset, bytes 8..15, is not zero). */
static int blk_probe(int fd, enum blk_format *fmt, bool *backing)
{
    uint8_t h[16] = { 0 };
    ssize_t n = pread(fd, h, sizeof(h), 0);
    if (n < 0)
        return -errno;
    *fmt = (n >= 4 && !memcmp(h, "QFI\xfb", 4)) ? BLK_FORMAT_QCOW2 : BLK_FORMAT_RAW;
    static const uint8_t zero[8];
    *backing = *fmt == BLK_FORMAT_QCOW2 && memcmp(h + 8, zero, 8);
    return 0;
}

static int blk_chain_add(struct blk_chain *chain, const struct stat *st, const char *path,
                         char *err, size_t errlen)
{
    for (int i = 0; i < chain->depth; i++) {
        if (chain->dev[i] == st->st_dev && chain->ino[i] == st->st_ino) {
            blk_errf(err, errlen, "image '%s': backing file chain has a loop", path);
            return -ELOOP;
        }
    }
    if (chain->depth > BLK_MAX_CHAIN) {
        blk_errf(err, errlen, "image '%s': backing file chain deeper than %d", path, BLK_MAX_CHAIN);
        return -ELOOP;
    }
    chain->dev[chain->depth] = st->st_dev;
    chain->ino[chain->depth] = st->st_ino;
    chain->depth++;
    return 0;
}

int blk_open_chain(const char *path, enum blk_format fmt, bool readonly, struct blk_chain *chain,
                   struct blk_backend **out, char *err, size_t errlen)
{
    *out = NULL;
    struct blk_backend *b = calloc(1, sizeof(*b));
    if (!b || !(b->path = strdup(path))) {
        free(b);
        blk_errf(err, errlen, "image '%s': out of memory", path);
        return -ENOMEM;
    }
    b->readonly = readonly;
    /* O_NONBLOCK: a FIFO named as a backing file must not hang the open; it is refused below. */
    b->fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK);
    int rc = 0;
    struct stat st;
    if (b->fd < 0) {
        rc = -errno;
        blk_errf(err, errlen, "image '%s': %s", path, strerror(errno));
        goto fail;
    }
    if (fstat(b->fd, &st) < 0) {
        rc = -errno;
        blk_errf(err, errlen, "image '%s': %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        rc = -EINVAL;
        blk_errf(err, errlen, "image '%s': not a regular file or block device", path);
        goto fail;
    }
    if (fcntl(b->fd, F_SETFL, 0) < 0) {
        rc = -errno;
        blk_errf(err, errlen, "image '%s': %s", path, strerror(errno));
        goto fail;
    }
    if ((rc = blk_chain_add(chain, &st, path, err, errlen)) < 0)
        goto fail;
    if ((rc = blk_lock(b->fd, !readonly)) < 0) {
        if (rc == -EBUSY)
            blk_errf(err, errlen, "image '%s' is in use by another VM", path);
        else
            blk_errf(err, errlen, "image '%s': cannot lock: %s", path, strerror(-rc));
        goto fail;
    }
    blk_make_id(b, &st);
    bool backing = false, strict = fmt == BLK_FORMAT_AUTO_STRICT;
    if ((fmt == BLK_FORMAT_AUTO || strict) && (rc = blk_probe(b->fd, &fmt, &backing)) < 0) {
        blk_errf(err, errlen, "image '%s': %s", path, strerror(-rc));
        goto fail;
    }
    if (strict && fmt == BLK_FORMAT_QCOW2 && !readonly) {
        blk_errf(err, errlen, "image '%s' looks like qcow2 but is not opened as qcow2 without "
                 "format=, because the guest can write it: say format=qcow2 to use it as qcow2 "
                 "(or format=raw)", path);
        rc = -EPERM;
        goto fail;
    }
    if (strict && backing) {
        blk_errf(err, errlen, "'%s' is a qcow2 image with a backing file; add format=qcow2 to "
                 "use it (a probed image could be a guest-written header)", path);
        rc = -EPERM;
        goto fail;
    }
    b->format = fmt;
    rc = fmt == BLK_FORMAT_QCOW2 ? qcow2_open(b, chain, err, errlen) : raw_open(b, err, errlen);
    if (rc < 0)
        goto fail;
    *out = b;
    return 0;
fail:
    if (b->fd >= 0)
        close(b->fd);
    free(b->path);
    free(b);
    return rc;
}

int blk_open(const char *path, enum blk_format fmt, bool readonly, struct blk_backend **out,
             char *err, size_t errlen)
{
    struct blk_chain chain = { 0 };
    if (err && errlen)
        err[0] = '\0';
    return blk_open_chain(path, fmt, readonly, &chain, out, err, errlen);
}

void blk_close(struct blk_backend *b)
{
    if (!b)
        return;
    if (b->ops && b->ops->close)
        b->ops->close(b);
    close(b->fd);   /* releases the OFD lock */
    free(b->path);
    free(b);
}

uint64_t blk_size(const struct blk_backend *b) { return b->size; }
bool blk_readonly(const struct blk_backend *b) { return b->readonly; }
enum blk_format blk_format(const struct blk_backend *b) { return b->format; }
const char *blk_id(const struct blk_backend *b) { return b->id; }
const char *blk_last_error(const struct blk_backend *b) { return b->last_error; }
const char *blk_warning(const struct blk_backend *b) { return b->warning; }

static bool blk_in_range(const struct blk_backend *b, uint64_t off, uint64_t len)
{
    return off <= b->size && len <= b->size - off;
}

int blk_pread(struct blk_backend *b, void *buf, size_t len, uint64_t off)
{
    if (!blk_in_range(b, off, len))
        return -EINVAL;
    return len ? b->ops->pread(b, buf, len, off) : 0;
}

static size_t iov_total(const struct iovec *iov, int n)
{
    size_t t = 0;
    for (int i = 0; i < n; i++)
        t += iov[i].iov_len;
    return t;
}

/* Raw images: preadv/pwritev straight to the file, resuming after short transfers. */
static int raw_rw_v(struct blk_backend *b, const struct iovec *iov_in, int n, uint64_t off, bool write)
{
    struct iovec iov[IOV_MAX];
    if (n > IOV_MAX)
        return -EINVAL;
    memcpy(iov, iov_in, sizeof(*iov) * (size_t)n);
    struct iovec *v = iov;
    while (n > 0) {
        ssize_t got = write ? pwritev(b->fd, v, n, (off_t)off) : preadv(b->fd, v, n, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -errno;
        if (got == 0) {
            if (write)
                return -EIO;
            for (int i = 0; i < n; i++) /* a raw file shorter than its size: zeros, as a hole */
                memset(v[i].iov_base, 0, v[i].iov_len);
            return 0;
        }
        off += (uint64_t)got;
        size_t left = (size_t)got;
        while (n > 0 && left >= v->iov_len) {
            left -= v->iov_len;
            v++;
            n--;
        }
        if (n > 0) {
            v->iov_base = (uint8_t *)v->iov_base + left;
            v->iov_len -= left;
        }
    }
    return 0;
}

static int rw_v(struct blk_backend *b, const struct iovec *iov, int n, uint64_t off, bool write)
{
    if (n < 0 || !blk_in_range(b, off, iov_total(iov, n)))
        return -EINVAL;
    if (write && b->readonly)
        return -EROFS;
    if (b->format == BLK_FORMAT_RAW)
        return raw_rw_v(b, iov, n, off, write);
    for (int i = 0; i < n; i++) {
        int rc = write ? blk_pwrite(b, iov[i].iov_base, iov[i].iov_len, off)
                       : blk_pread(b, iov[i].iov_base, iov[i].iov_len, off);
        if (rc)
            return rc;
        off += iov[i].iov_len;
    }
    return 0;
}

int blk_preadv(struct blk_backend *b, const struct iovec *iov, int n, uint64_t off)
{
    return rw_v(b, iov, n, off, false);
}

int blk_pwritev(struct blk_backend *b, const struct iovec *iov, int n, uint64_t off)
{
    return rw_v(b, iov, n, off, true);
}

int blk_pwrite(struct blk_backend *b, const void *buf, size_t len, uint64_t off)
{
    if (!blk_in_range(b, off, len))
        return -EINVAL;
    if (b->readonly)
        return -EROFS;
    return len ? b->ops->pwrite(b, buf, len, off) : 0;
}

int blk_flush(struct blk_backend *b)
{
    return b->readonly ? 0 : b->ops->flush(b);
}

int blk_discard(struct blk_backend *b, uint64_t off, uint64_t len)
{
    if (!blk_in_range(b, off, len))
        return -EINVAL;
    if (b->readonly)
        return -EROFS;
    return len ? b->ops->discard(b, off, len) : 0;
}

int blk_write_zeroes(struct blk_backend *b, uint64_t off, uint64_t len, bool may_unmap)
{
    if (!blk_in_range(b, off, len))
        return -EINVAL;
    if (b->readonly)
        return -EROFS;
    return len ? b->ops->write_zeroes(b, off, len, may_unmap) : 0;
}
