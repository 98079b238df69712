/* Disk image backends for the virtio-blk device: raw files and qcow2 (v2/v3), with backing chains.
 * Not thread-safe per backend: the calls for one backend must come from one thread at a time
 * (the device serialises them on its I/O thread); different backends are independent. */
#ifndef CORRAL_BACKEND_BLOCK_H
#define CORRAL_BACKEND_BLOCK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct blk_backend;
enum blk_format { BLK_FORMAT_AUTO, BLK_FORMAT_RAW, BLK_FORMAT_QCOW2, BLK_FORMAT_AUTO_STRICT };

/* Opens PATH; AUTO probes the qcow2 magic. AUTO_STRICT is for images a guest could have written
 * (a qcow2 header in a raw disk would otherwise hand the guest the virtual size, the qcow2
 * parser and, through a backing name, any host file): it refuses a writable image that looks
 * like qcow2 (-EPERM, "say format=qcow2"), and a read-only one that names a backing file;
 * other read-only images are probed. Backing files are never probed: their format comes from
 * the overlay's header, else raw. readonly opens O_RDONLY. A writable image takes an
 * exclusive OFD lock on the whole file, a read-only image and every backing file a shared one, so a
 * second VM cannot open it for writing: that is the error "image 'PATH' is in use by another VM"
 * (-EBUSY). Errors fill err with a one-line message naming the file and the problem; returns 0 or
 * negative errno. */
int blk_open(const char *path, enum blk_format fmt, bool readonly, struct blk_backend **out,
             char *err, size_t errlen);
void blk_close(struct blk_backend *b);
uint64_t blk_size(const struct blk_backend *b);     /* virtual disk size in bytes */
bool blk_readonly(const struct blk_backend *b);
enum blk_format blk_format(const struct blk_backend *b);
/* 0 or -errno; off+len beyond the size -> -EINVAL; writes to a read-only backend -> -EROFS. */
int blk_pread(struct blk_backend *b, void *buf, size_t len, uint64_t off);
int blk_pwrite(struct blk_backend *b, const void *buf, size_t len, uint64_t off);
/* Scatter/gather forms: one system call for a raw image, a loop for other formats. */
int blk_preadv(struct blk_backend *b, const struct iovec *iov, int n, uint64_t off);
int blk_pwritev(struct blk_backend *b, const struct iovec *iov, int n, uint64_t off);
/* Data and metadata on stable storage (fdatasync) before it returns. */
int blk_flush(struct blk_backend *b);
/* A hint: raw punches a hole; qcow2 deallocates the whole clusters in the range (partial ones are
 * left alone). Reads of discarded ranges return zeros or, for a qcow2 v2 overlay, backing data. */
int blk_discard(struct blk_backend *b, uint64_t off, uint64_t len);
/* After it, the range reads as zeros; may_unmap lets the backend deallocate. */
int blk_write_zeroes(struct blk_backend *b, uint64_t off, uint64_t len, bool may_unmap);
/* Up to 20 bytes serial for VIRTIO_BLK_T_GET_ID, from the file's device and inode (NUL-terminated). */
const char *blk_id(const struct blk_backend *b);
/* A one-line description of the last I/O error (corrupt metadata and the like), or "". */
const char *blk_last_error(const struct blk_backend *b);
/* A one-line warning from opening the image for the user to see (a backing file that looks
 * like qcow2 but has no format in its overlay, so is read as raw), or "". */
const char *blk_warning(const struct blk_backend *b);

/* A linked clone: creates OVERLAY_PATH, a new qcow2 v3 image (64 KiB clusters) whose backing
 * file is BASE_PATH in BASE_FORMAT ("raw" or "qcow2", written in the header so that the base
 * is never probed), with the base's virtual size (rounded up to 512 bytes). BASE_PATH is
 * stored as given; a relative one is relative to the overlay's directory, as for QEMU. The
 * base is opened read-only to read its size, so one that a VM has open for writing is refused
 * (-EBUSY). Never overwrites: an existing OVERLAY_PATH is -EEXIST. The new file is mode 0600.
 * Opened later, the overlay takes the usual exclusive lock and the base a shared one, so many
 * overlays of one base may run at once. 0, or negative errno with a message in err. */
int qcow2_create_overlay(const char *overlay_path, const char *base_path,
                         const char *base_format, char *err, size_t errlen);

/* ---- Below: shared by block.c, raw.c and qcow2.c only. ---- */

#define BLK_MAX_CHAIN 16   /* backing files deeper than this are refused */

struct blk_ops {
    int (*pread)(struct blk_backend *b, void *buf, size_t len, uint64_t off);
    int (*pwrite)(struct blk_backend *b, const void *buf, size_t len, uint64_t off);
    int (*flush)(struct blk_backend *b);
    int (*discard)(struct blk_backend *b, uint64_t off, uint64_t len);
    int (*write_zeroes)(struct blk_backend *b, uint64_t off, uint64_t len, bool may_unmap);
    void (*close)(struct blk_backend *b);
};

struct blk_backend {
    const struct blk_ops *ops;
    void *priv;                 /* the format's state */
    enum blk_format format;
    int fd;
    bool readonly;
    uint64_t size;
    char *path;
    char id[21];
    char last_error[200];
    char warning[300];
};

/* The files opened so far along one backing chain, to find loops. */
struct blk_chain {
    int depth;
    dev_t dev[BLK_MAX_CHAIN + 1];
    ino_t ino[BLK_MAX_CHAIN + 1];
};

/* blk_open for a chain member: a backing file is opened read-only with CHAIN holding its users. */
int blk_open_chain(const char *path, enum blk_format fmt, bool readonly, struct blk_chain *chain,
                   struct blk_backend **out, char *err, size_t errlen);
int raw_open(struct blk_backend *b, char *err, size_t errlen);
int qcow2_open(struct blk_backend *b, struct blk_chain *chain, char *err, size_t errlen);

/* Whole-buffer pread/pwrite on a descriptor, retrying short transfers; pread fills what lies beyond
 * the end of the file with zeros. */
int blk_fd_pread(int fd, void *buf, size_t len, uint64_t off);
int blk_fd_pwrite(int fd, const void *buf, size_t len, uint64_t off);
/* Reads a backing file: the part beyond its size reads as zeros. */
int blk_read_backing(struct blk_backend *b, void *buf, size_t len, uint64_t off);
void blk_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int blk_io_error(struct blk_backend *b, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
