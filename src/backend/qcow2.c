/* The qcow2 image backend (versions 2 and 3, per QEMU's docs/interop/qcow2.txt): header checks,
 * L1/L2 lookup, zero and compressed (zlib) clusters, backing chains, cluster allocation with
 * refcounts, copy-on-write of shared clusters and L2 tables (internal snapshots).
 * Allocation takes the lowest cluster whose refcount is 0, else appends; freed clusters are
 * punched out until then. Not here: encryption, external data files, extended L2 entries, zstd,
 * lazy refcounts, a refcount table beyond 8 MiB (a write that would need one fails with -ENOSPC
 * and says so).
 *
 * Every header field and table entry comes from an untrusted file: each is checked before use.
 * Metadata is write-through (each changed entry is written at once) in a crash-safe order: a new
 * cluster's refcount before anything points at it, a data cluster or a new L2 table before the
 * L2 or L1 entry pointing at it, the new pointer before the old cluster's refcount drops. If the
 * process dies (kill -9), the page cache keeps every write in that order, so the image is at
 * worst left with leaked clusters. blk_flush makes everything durable with one fdatasync; after a
 * power loss, what was written since the last flush may have reached the disk in another order
 * (no barriers between the steps, for speed), which 'qemu-img check -r all' repairs. The one
 * barrier: a freed cluster is punched out or allocated again only after an fdatasync since it
 * was freed, so no order of those writes loses flushed data or leaves two owners of it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "backend/block.h"
#include "corral/common.h"

#define QCOW2_MAGIC 0x514649fbu
#define QCOW2_V2_HEADER_LEN 72
#define QCOW2_V3_HEADER_LEN 104

#define QCOW_OFLAG_COPIED     (1ULL << 63)
#define QCOW_OFLAG_COMPRESSED (1ULL << 62)
#define QCOW_OFLAG_ZERO       1ULL
#define QCOW2_OFFSET_MASK     0x00fffffffffffe00ULL   /* L1 and standard L2 entries: bits 9..55 */
#define QCOW2_RT_OFFSET_MASK  0xfffffffffffffe00ULL

#define INCOMPAT_DIRTY       (1ULL << 0)
#define INCOMPAT_CORRUPT     (1ULL << 1)
#define INCOMPAT_DATA_FILE   (1ULL << 2)
#define INCOMPAT_COMPRESSION (1ULL << 3)
#define INCOMPAT_EXTL2       (1ULL << 4)

#define EXT_END          0x00000000u
#define EXT_BACKING_FMT  0xe2792acau
#define EXT_CRYPTO       0x0537be77u
#define EXT_DATA_FILE    0x44415441u

#define QCOW2_MAX_L1_BYTES (32 * 1024 * 1024)   /* 4 Mi entries */
#define QCOW2_MAX_RT_BYTES (8 * 1024 * 1024)
#define QCOW2_MAX_SNAPSHOTS 65536
#define QCOW2_MAX_BACKING_NAME 1023
#define QCOW2_CACHE_SLOTS 16
#define QCOW2_PUNCH_SLOTS 256     /* freed ranges waiting for a sync before their punch */
#define QCOW2_SCAN_BUDGET 65536   /* refcounts looked at per allocation before appending */

/* A few cluster-sized tables (L2 tables or refcount blocks) kept in memory, least recently used
 * out. The file is always up to date: callers write each entry they change through at once. */
struct qcow2_cache {
    uint64_t off[QCOW2_CACHE_SLOTS];    /* 0: slot empty (cluster 0 is the header, never a table) */
    uint64_t used[QCOW2_CACHE_SLOTS];
    uint8_t *buf[QCOW2_CACHE_SLOTS];
};

struct qcow2 {
    struct blk_backend *b;
    uint32_t version;
    unsigned cluster_bits;
    uint64_t cluster_size;
    uint64_t l2_entries;
    uint64_t *l1;                 /* host byte order */
    uint32_t l1_size;
    uint64_t l1_offset;
    uint64_t *rt;                 /* refcount table, host order; loaded only when writable */
    uint64_t rt_entries;
    uint64_t rt_offset;
    uint32_t rt_clusters;
    unsigned refcount_order;
    uint64_t rb_entries;          /* refcounts per refcount block */
    uint64_t file_end;            /* the end of the file, where appended clusters go */
    uint64_t free_hint;           /* no cluster below it is free (freeing lowers it) */
    /* Clusters freed since the last fdatasync: not reused, nor punched out, before one. */
    uint64_t punch_off[QCOW2_PUNCH_SLOTS], punch_len[QCOW2_PUNCH_SLOTS];
    unsigned n_punch;
    struct blk_backend *backing;
    struct qcow2_cache l2c, rbc;
    uint64_t tick;
    uint8_t *cow;                 /* one cluster, for copy-on-write and zero filling */
    uint8_t *zin;                 /* compressed input, two clusters */
    uint8_t *zout;                /* the last decompressed cluster ... */
    uint64_t zout_l2e;            /* ... and the L2 entry it came from (0: none) */
};

static inline uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t be64(const uint8_t *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }
static inline void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

#define q_corrupt(q, ...) blk_io_error((q)->b, -EIO, "corrupt qcow2: " __VA_ARGS__)

/* ---- fixed metadata: the header cluster, the L1 table, the refcount table ---- */

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

static bool qcow2_hits_fixed_metadata(const struct qcow2 *q, uint64_t off, uint64_t len)
{
    return ranges_overlap(off, len, 0, q->cluster_size) ||
           ranges_overlap(off, len, q->l1_offset, (uint64_t)q->l1_size * 8) ||
           ranges_overlap(off, len, q->rt_offset, (uint64_t)q->rt_clusters * q->cluster_size);
}

/* A table or data cluster offset from the file: cluster-aligned and clear of fixed metadata. */
static int qcow2_check_cluster(struct qcow2 *q, uint64_t off, const char *what)
{
    if (off & (q->cluster_size - 1))
        return q_corrupt(q, "%s at %#llx is not cluster-aligned", what, (unsigned long long)off);
    if (qcow2_hits_fixed_metadata(q, off, q->cluster_size))
        return q_corrupt(q, "%s at %#llx overlaps the header, L1 or refcount table", what,
                         (unsigned long long)off);
    return 0;
}

/* ---- the table cache ---- */

static int qcow2_cache_get(struct qcow2 *q, struct qcow2_cache *c, uint64_t off, bool fresh,
                           uint8_t **out)
{
    int victim = 0;
    for (int i = 0; i < QCOW2_CACHE_SLOTS; i++) {
        if (c->off[i] == off) {
            c->used[i] = ++q->tick;
            if (fresh)
                memset(c->buf[i], 0, q->cluster_size);
            *out = c->buf[i];
            return 0;
        }
        if (c->used[i] < c->used[victim])
            victim = i;
    }
    if (!c->buf[victim] && !(c->buf[victim] = malloc(q->cluster_size)))
        return -ENOMEM;
    c->off[victim] = 0;
    c->used[victim] = 0;
    if (fresh) {
        memset(c->buf[victim], 0, q->cluster_size);
    } else {
        int rc = blk_fd_pread(q->b->fd, c->buf[victim], q->cluster_size, off);
        if (rc < 0)
            return blk_io_error(q->b, rc, "reading table at %#llx: %s", (unsigned long long)off,
                                strerror(-rc));
    }
    c->off[victim] = off;
    c->used[victim] = ++q->tick;
    *out = c->buf[victim];
    return 0;
}

static void qcow2_cache_free(struct qcow2_cache *c)
{
    for (int i = 0; i < QCOW2_CACHE_SLOTS; i++)
        free(c->buf[i]);
}

static int qcow2_write_meta(struct qcow2 *q, const void *p, size_t len, uint64_t off)
{
    int rc = blk_fd_pwrite(q->b->fd, p, len, off);
    if (rc < 0)
        return blk_io_error(q->b, rc, "writing metadata at %#llx: %s", (unsigned long long)off,
                            strerror(-rc));
    return 0;
}

static int qcow2_write_be64(struct qcow2 *q, uint64_t v, uint64_t off)
{
    uint8_t raw[8];
    put_be64(raw, v);
    return qcow2_write_meta(q, raw, 8, off);
}

/* ---- refcounts ---- */

static uint64_t rb_entry_get(const struct qcow2 *q, const uint8_t *rb, uint64_t i)
{
    unsigned order = q->refcount_order;
    if (order < 3) {
        unsigned bits = 1u << order, per_byte = 8 >> order;
        return (rb[i / per_byte] >> ((i % per_byte) * bits)) & ((1u << bits) - 1);
    }
    unsigned bytes = 1u << (order - 3);
    uint64_t v = 0;
    for (unsigned k = 0; k < bytes; k++)
        v = v << 8 | rb[i * bytes + k];
    return v;
}

/* Sets entry I and returns the byte range of RB that changed, for the write-through. */
static void rb_entry_set(const struct qcow2 *q, uint8_t *rb, uint64_t i, uint64_t v,
                         uint64_t *first, unsigned *len)
{
    unsigned order = q->refcount_order;
    if (order < 3) {
        unsigned bits = 1u << order, per_byte = 8 >> order, shift = (i % per_byte) * bits;
        uint8_t mask = (uint8_t)(((1u << bits) - 1) << shift);
        rb[i / per_byte] = (uint8_t)((rb[i / per_byte] & ~mask) | ((v << shift) & mask));
        *first = i / per_byte;
        *len = 1;
        return;
    }
    unsigned bytes = 1u << (order - 3);
    for (unsigned k = bytes; k-- > 0; v >>= 8)
        rb[i * bytes + k] = (uint8_t)v;
    *first = i * bytes;
    *len = bytes;
}

static uint64_t qcow2_refcount_max(const struct qcow2 *q)
{
    unsigned bits = 1u << q->refcount_order;
    return bits == 64 ? UINT64_MAX : (1ULL << bits) - 1;
}

static int qcow2_refcount_get(struct qcow2 *q, uint64_t host, uint64_t *val)
{
    uint64_t ci = host >> q->cluster_bits, rti = ci / q->rb_entries;
    *val = 0;
    if (rti >= q->rt_entries || !q->rt[rti])
        return 0;
    uint8_t *rb;
    int rc = qcow2_cache_get(q, &q->rbc, q->rt[rti], false, &rb);
    if (rc < 0)
        return rc;
    *val = rb_entry_get(q, rb, ci % q->rb_entries);
    return 0;
}

static int qcow2_refcount_set(struct qcow2 *q, uint64_t host, uint64_t val, int depth);
static int qcow2_unref_range(struct qcow2 *q, uint64_t off, uint64_t len);

/* Refcount block RTI is missing: put a new one at the end of the file, then point the table at it.
 * Its own refcount goes into itself when it covers its own cluster, else into another block,
 * and then first: a kill before the table points at the new block leaves a leaked cluster, one
 * after it a block counted, never a block in use with refcount 0. */
static int qcow2_refblock_alloc(struct qcow2 *q, uint64_t rti, int depth)
{
    uint64_t at = q->file_end;
    q->file_end += q->cluster_size;
    uint64_t ci = at >> q->cluster_bits;
    bool self = ci / q->rb_entries == rti;
    int rc;
    if (!self && (rc = qcow2_refcount_set(q, at, 1, depth + 1)) < 0)
        return rc;
    uint8_t *rb;
    if ((rc = qcow2_cache_get(q, &q->rbc, at, true, &rb)) < 0)
        return rc;
    if (self) {
        uint64_t first;
        unsigned n;
        rb_entry_set(q, rb, ci % q->rb_entries, 1, &first, &n);
    }
    if ((rc = qcow2_write_meta(q, rb, q->cluster_size, at)) < 0)
        return rc;
    if ((rc = qcow2_write_be64(q, at, q->rt_offset + rti * 8)) < 0)
        return rc;
    q->rt[rti] = at;
    return 0;
}

static bool qcow2_rt_missing(const struct qcow2 *q, uint64_t rti)
{
    return rti >= q->rt_entries || !q->rt[rti];
}

/* The refcount table cannot map refcount block RTI: move it to a bigger one at the end of the file.
 * The new table and the refcount blocks it needs for itself go there together, [start, end), and
 * the header switches to it with one write (the commit point); then the old table is freed. */
static int qcow2_grow_reftable(struct qcow2 *q, uint64_t need)
{
    uint64_t cs = q->cluster_size, per = cs / 8, start = q->file_end, clusters = q->rt_clusters;
    uint64_t first = (start >> q->cluster_bits) / q->rb_entries, last = first, blocks = 0;
    clusters *= 2;                                          /* at most 8 MiB / 512: no overflow */
    for (int round = 0; round < 16; round++) {           /* converges in two or three rounds */
        if (clusters * per <= need)
            clusters = need / per + 1;
        uint64_t end = start + (clusters + blocks) * cs, nb = 0;
        last = ((end - 1) >> q->cluster_bits) / q->rb_entries;
        for (uint64_t r = first; r <= last; r++)
            nb += qcow2_rt_missing(q, r);
        if (nb == blocks && clusters * per > last)
            break;
        blocks = nb;
        if (clusters * per <= last)
            clusters = last / per + 1;
    }
    uint64_t end = start + (clusters + blocks) * cs;
    if (clusters * cs > QCOW2_MAX_RT_BYTES || clusters * per <= last)
        return blk_io_error(q->b, -ENOSPC, "refcount table would exceed %u MiB: the image "
                            "cannot grow beyond %#llx", QCOW2_MAX_RT_BYTES >> 20,
                            (unsigned long long)start);
    uint64_t *rt = calloc(clusters * per, 8);
    uint8_t *raw = malloc(clusters * cs), *rb = calloc(1, cs);
    int rc = -ENOMEM;
    if (!rt || !raw || !rb)
        goto out;
    memcpy(rt, q->rt, q->rt_entries * 8);
    /* New blocks follow the table; each counts the clusters of [start, end) in its range. */
    uint64_t at = start + clusters * cs;
    for (uint64_t r = first; r <= last; r++) {
        if (!qcow2_rt_missing(q, r))
            continue;
        memset(rb, 0, cs);
        for (uint64_t c = start; c < end; c += cs) {
            uint64_t ci = c >> q->cluster_bits, pos;
            unsigned len;
            if (ci / q->rb_entries == r)
                rb_entry_set(q, rb, ci % q->rb_entries, 1, &pos, &len);
        }
        if ((rc = qcow2_write_meta(q, rb, cs, at)) < 0)
            goto out;
        rt[r] = at;
        at += cs;
    }
    for (uint64_t c = start; c < end; c += cs) {         /* and existing blocks the rest */
        uint64_t r = (c >> q->cluster_bits) / q->rb_entries;
        if (r < q->rt_entries && q->rt[r] && (rc = qcow2_refcount_set(q, c, 1, 4)) < 0)
            goto out;
    }
    for (uint64_t i = 0; i < clusters * per; i++)
        put_be64(raw + i * 8, rt[i]);
    if ((rc = qcow2_write_meta(q, raw, clusters * cs, start)) < 0)
        goto out;
    if (fdatasync(q->b->fd) < 0) {
        rc = blk_io_error(q->b, -errno, "fdatasync: %s", strerror(errno));
        goto out;
    }
    uint8_t hdr[12];
    put_be64(hdr, start);
    hdr[8] = (uint8_t)(clusters >> 24), hdr[9] = (uint8_t)(clusters >> 16);
    hdr[10] = (uint8_t)(clusters >> 8), hdr[11] = (uint8_t)clusters;
    if ((rc = qcow2_write_meta(q, hdr, sizeof(hdr), 48)) < 0)
        goto out;
    uint64_t old = q->rt_offset, old_clusters = q->rt_clusters;
    free(q->rt);
    q->rt = rt;
    rt = NULL;
    q->rt_entries = clusters * per;
    q->rt_offset = start;
    q->rt_clusters = (uint32_t)clusters;
    q->file_end = end;
    rc = qcow2_unref_range(q, old, old_clusters * cs);
out:
    free(rt);
    free(raw);
    free(rb);
    return rc < 0 ? rc : 0;
}

static int qcow2_refcount_set(struct qcow2 *q, uint64_t host, uint64_t val, int depth)
{
    uint64_t ci = host >> q->cluster_bits, rti = ci / q->rb_entries;
    if (val > qcow2_refcount_max(q))
        return blk_io_error(q->b, -EIO, "refcount overflow at %#llx", (unsigned long long)host);
    if (depth > 4)
        return q_corrupt(q, "refcount block allocation does not converge");
    int rc;
    if (rti >= q->rt_entries && (rc = qcow2_grow_reftable(q, rti)) < 0)
        return rc;
    if (!q->rt[rti] && (rc = qcow2_refblock_alloc(q, rti, depth)) < 0)
        return rc;
    uint8_t *rb;
    if ((rc = qcow2_cache_get(q, &q->rbc, q->rt[rti], false, &rb)) < 0)
        return rc;
    uint64_t first;
    unsigned n;
    rb_entry_set(q, rb, ci % q->rb_entries, val, &first, &n);
    return qcow2_write_meta(q, rb + first, n, q->rt[rti] + first);
}

/* Makes every free so far durable, then punches the freed clusters out. Before the sync, a
 * power loss could keep the old pointer to a cluster and lose its data all the same (a punch),
 * or give it a second owner (reuse). */
static int qcow2_sync_frees(struct qcow2 *q)
{
    if (fdatasync(q->b->fd) < 0)
        return blk_io_error(q->b, -errno, "fdatasync: %s", strerror(errno));
    int rc = 0;
    for (unsigned i = 0; i < q->n_punch; i++) {
        if (fallocate(q->b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      (off_t)q->punch_off[i], (off_t)q->punch_len[i]) == 0 ||
            errno == EOPNOTSUPP || errno == ENOSYS || rc < 0)
            continue;
        rc = blk_io_error(q->b, -errno, "punching freed clusters at %#llx: %s",
                          (unsigned long long)q->punch_off[i], strerror(errno));
    }
    q->n_punch = 0;
    return rc;
}

/* The first cluster from the hint on whose refcount is 0 on disk (0: none). The write-through
 * order drops a refcount only after the last pointer to the cluster is gone, so nothing refers
 * to it, even after a kill. The header, L1 and refcount tables are skipped whatever their
 * refcounts say. A budget bounds one call: a huge sparse file whose refcounts say "in use" must
 * not hold a request for minutes; the next call goes on from where this one stopped. */
static int qcow2_find_free(struct qcow2 *q, uint64_t *out)
{
    uint64_t cs = q->cluster_size, budget = QCOW2_SCAN_BUDGET;
    *out = 0;
    for (uint64_t c = q->free_hint; c < q->file_end; c += cs) {
        if (budget-- == 0) {
            q->free_hint = c;
            return 0;
        }
        uint64_t v;
        if (qcow2_hits_fixed_metadata(q, c, cs))
            continue;
        int rc = qcow2_refcount_get(q, c, &v);
        if (rc < 0)
            return rc;
        if (v == 0) {
            if (q->n_punch && (rc = qcow2_sync_frees(q)) < 0)
                return rc;
            q->free_hint = c + cs;
            *out = c;
            return 0;
        }
    }
    q->free_hint = q->file_end;
    return 0;
}

/* A cluster with refcount 1 (written before anything points at it): a freed one if there is
 * one, so that a guest's write-and-discard loop cannot grow the file, else one at the end. */
static int qcow2_alloc_cluster(struct qcow2 *q, uint64_t *out)
{
    uint64_t at;
    int rc = qcow2_find_free(q, &at);
    if (rc < 0)
        return rc;
    if (at) {
        if ((rc = qcow2_refcount_set(q, at, 1, 0)) < 0)
            return rc;
        *out = at;
        return 0;
    }
    for (int tries = 0; tries < 1024; tries++) {
        uint64_t rc_val;
        at = q->file_end;
        q->file_end += q->cluster_size;
        if ((rc = qcow2_refcount_get(q, at, &rc_val)) < 0)
            return rc;
        if (rc_val)        /* in use beyond the end of the file: a preallocated image */
            continue;
        if ((rc = qcow2_refcount_set(q, at, 1, 0)) < 0)
            return rc;
        if (q->free_hint == at)       /* unless a refcount change freed something below */
            q->free_hint = q->file_end;
        *out = at;
        return 0;
    }
    return q_corrupt(q, "no free cluster found at the end of the file");
}

static void qcow2_cache_forget(struct qcow2_cache *c, uint64_t off)
{
    for (int i = 0; i < QCOW2_CACHE_SLOTS; i++) {
        if (c->off[i] == off) {
            c->off[i] = 0;
            c->used[i] = 0;
        }
    }
}

/* A cluster's refcount went to 0: it may be allocated again, and its storage goes back to the
 * file system, both after the next sync. Its cached copies go now. */
static int qcow2_cluster_freed(struct qcow2 *q, uint64_t c)
{
    qcow2_cache_forget(&q->l2c, c);
    qcow2_cache_forget(&q->rbc, c);
    q->zout_l2e = 0;
    if (c < q->free_hint)
        q->free_hint = c;
    unsigned n = q->n_punch;
    if (n && q->punch_off[n - 1] + q->punch_len[n - 1] == c) {
        q->punch_len[n - 1] += q->cluster_size;
        return 0;
    }
    int rc;
    if (n == QCOW2_PUNCH_SLOTS && (rc = qcow2_sync_frees(q)) < 0)
        return rc;
    q->punch_off[q->n_punch] = c;
    q->punch_len[q->n_punch++] = q->cluster_size;
    return 0;
}

/* Drops one reference to each cluster in [off, off+len); a cluster left unused is freed. */
static int qcow2_unref_range(struct qcow2 *q, uint64_t off, uint64_t len)
{
    uint64_t cs = q->cluster_size;
    for (uint64_t c = off & ~(cs - 1); c < off + len; c += cs) {
        uint64_t v;
        int rc = qcow2_refcount_get(q, c, &v);
        if (rc < 0)
            return rc;
        if (v == 0)
            return q_corrupt(q, "freeing cluster %#llx with refcount 0", (unsigned long long)c);
        if ((rc = qcow2_refcount_set(q, c, v - 1, 0)) < 0)
            return rc;
        if (v == 1 && !qcow2_hits_fixed_metadata(q, c, cs) &&
            (rc = qcow2_cluster_freed(q, c)) < 0)
            return rc;
    }
    return 0;
}

/* ---- L2 entries ---- */

static void qcow2_compressed_span(const struct qcow2 *q, uint64_t l2e, uint64_t *off, uint64_t *len)
{
    unsigned x = 62 - (q->cluster_bits - 8);
    *off = l2e & ((1ULL << x) - 1);
    uint64_t sectors = ((l2e & ~(QCOW_OFLAG_COPIED | QCOW_OFLAG_COMPRESSED)) >> x) + 1;
    *len = sectors * 512 - (*off & 511);
}

/* Releases the host storage an L2 entry no longer points at. */
static int qcow2_release_l2e(struct qcow2 *q, uint64_t l2e)
{
    if (l2e & QCOW_OFLAG_COMPRESSED) {
        uint64_t off, len;
        qcow2_compressed_span(q, l2e, &off, &len);
        return qcow2_unref_range(q, off & ~511ULL, len + (off & 511));
    }
    uint64_t host = l2e & QCOW2_OFFSET_MASK;
    return host ? qcow2_unref_range(q, host, q->cluster_size) : 0;
}

/* The L2 table for virtual offset VOFF, or *l2off = 0 when none is allocated. */
static int qcow2_l2_table(struct qcow2 *q, uint64_t voff, uint64_t *l2off, uint8_t **l2)
{
    uint64_t l1i = (voff >> q->cluster_bits) / q->l2_entries;
    *l2off = 0;
    if (l1i >= q->l1_size)
        return q_corrupt(q, "L1 table too small for offset %#llx", (unsigned long long)voff);
    uint64_t off = q->l1[l1i] & QCOW2_OFFSET_MASK;
    if (!off)
        return 0;
    int rc = qcow2_check_cluster(q, off, "L2 table");
    if (rc < 0)
        return rc;
    *l2off = off;
    return qcow2_cache_get(q, &q->l2c, off, false, l2);
}

static uint64_t qcow2_l2_index(const struct qcow2 *q, uint64_t voff)
{
    return (voff >> q->cluster_bits) % q->l2_entries;
}

static int qcow2_l2e_lookup(struct qcow2 *q, uint64_t voff, uint64_t *l2e)
{
    uint64_t l2off;
    uint8_t *l2;
    int rc = qcow2_l2_table(q, voff, &l2off, &l2);
    *l2e = (rc == 0 && l2off) ? be64(l2 + qcow2_l2_index(q, voff) * 8) : 0;
    return rc;
}

static bool qcow2_l2e_reads_zero(const struct qcow2 *q, uint64_t l2e)
{
    return q->version >= 3 && !(l2e & QCOW_OFLAG_COMPRESSED) && (l2e & QCOW_OFLAG_ZERO);
}

static int qcow2_decompress(struct qcow2 *q, uint64_t l2e)
{
    if (q->zout_l2e == l2e)
        return 0;
    uint64_t off, len;
    qcow2_compressed_span(q, l2e, &off, &len);   /* len <= 2 clusters by the field's width */
    int rc = blk_fd_pread(q->b->fd, q->zin, (size_t)len, off);
    if (rc < 0)
        return blk_io_error(q->b, rc, "reading compressed cluster: %s", strerror(-rc));
    z_stream zs = { 0 };
    if (inflateInit2(&zs, -15) != Z_OK)
        return blk_io_error(q->b, -ENOMEM, "zlib initialisation failed");
    zs.next_in = q->zin;
    zs.avail_in = (uInt)len;
    zs.next_out = q->zout;
    zs.avail_out = (uInt)q->cluster_size;
    int zrc = inflate(&zs, Z_FINISH);
    uInt left = zs.avail_out;
    inflateEnd(&zs);
    if (zrc == Z_STREAM_END)
        memset(q->zout + (q->cluster_size - left), 0, left);
    else if (!((zrc == Z_OK || zrc == Z_BUF_ERROR) && left == 0))
        return q_corrupt(q, "compressed cluster at %#llx does not inflate",
                         (unsigned long long)off);
    q->zout_l2e = l2e;
    return 0;
}

/* Reads LEN bytes at VOFF, all inside the cluster whose L2 entry is L2E. */
static int qcow2_read_l2e(struct qcow2 *q, uint64_t l2e, uint64_t voff, uint8_t *buf, size_t len)
{
    uint64_t in = voff & (q->cluster_size - 1);
    if (l2e & QCOW_OFLAG_COMPRESSED) {
        int rc = qcow2_decompress(q, l2e);
        if (rc < 0)
            return rc;
        memcpy(buf, q->zout + in, len);
        return 0;
    }
    if (qcow2_l2e_reads_zero(q, l2e)) {
        memset(buf, 0, len);
        return 0;
    }
    uint64_t host = l2e & QCOW2_OFFSET_MASK;
    if (!host) {
        if (q->backing)
            return blk_read_backing(q->backing, buf, len, voff);
        memset(buf, 0, len);
        return 0;
    }
    if (host & (q->cluster_size - 1))
        return q_corrupt(q, "data cluster %#llx is not cluster-aligned", (unsigned long long)host);
    int rc = blk_fd_pread(q->b->fd, buf, len, host + in);
    if (rc < 0)
        return blk_io_error(q->b, rc, "read at %#llx: %s", (unsigned long long)(host + in),
                            strerror(-rc));
    return 0;
}

static int qcow2_pread(struct blk_backend *b, void *buf, size_t len, uint64_t off)
{
    struct qcow2 *q = b->priv;
    uint8_t *p = buf;
    while (len) {
        size_t n = (size_t)(q->cluster_size - (off & (q->cluster_size - 1)));
        if (n > len)
            n = len;
        uint64_t l2e;
        int rc = qcow2_l2e_lookup(q, off, &l2e);
        if (rc < 0 || (rc = qcow2_read_l2e(q, l2e, off, p, n)) < 0)
            return rc;
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* ---- writing ---- */

/* Whether the cluster at HOST (from an entry with flag word ENTRY) belongs to this image alone:
 * OFLAG_COPIED says refcount 1; without it, ask the refcount (snapshots share clusters). */
static int qcow2_owned(struct qcow2 *q, uint64_t entry, uint64_t host, bool *owned)
{
    *owned = true;
    if (entry & QCOW_OFLAG_COPIED)
        return 0;
    uint64_t v;
    int rc = qcow2_refcount_get(q, host, &v);
    *owned = rc == 0 && v == 1;
    return rc;
}

/* The L2 table for VOFF, ready to change: allocated if missing, copied if shared with a snapshot
 * (the copy is written before L1 points at it; the data clusters keep their counts, since the
 * number of paths to them does not change). */
static int qcow2_l2_for_write(struct qcow2 *q, uint64_t voff, uint64_t *l2off, uint8_t **l2)
{
    uint64_t l1i = (voff >> q->cluster_bits) / q->l2_entries, old;
    int rc = qcow2_l2_table(q, voff, &old, l2);
    if (rc < 0)
        return rc;
    bool owned = true;
    if (old && (rc = qcow2_owned(q, q->l1[l1i], old, &owned)) < 0)
        return rc;
    if (old && owned) {
        *l2off = old;
        return 0;
    }
    uint64_t neu = 0;
    if ((rc = qcow2_alloc_cluster(q, &neu)) < 0)
        return rc;
    if (old)
        memcpy(q->cow, *l2, q->cluster_size);
    else
        memset(q->cow, 0, q->cluster_size);
    if ((rc = qcow2_write_meta(q, q->cow, q->cluster_size, neu)) < 0)
        return rc;
    if ((rc = qcow2_cache_get(q, &q->l2c, neu, true, l2)) < 0)
        return rc;
    memcpy(*l2, q->cow, q->cluster_size);
    if ((rc = qcow2_write_be64(q, neu | QCOW_OFLAG_COPIED, q->l1_offset + l1i * 8)) < 0)
        return rc;
    q->l1[l1i] = neu | QCOW_OFLAG_COPIED;
    *l2off = neu;
    return old ? qcow2_unref_range(q, old, q->cluster_size) : 0;
}

static int qcow2_set_l2e(struct qcow2 *q, uint64_t l2off, uint8_t *l2, uint64_t voff, uint64_t v)
{
    uint64_t i = qcow2_l2_index(q, voff);
    put_be64(l2 + i * 8, v);
    return qcow2_write_be64(q, v, l2off + i * 8);
}

static int qcow2_write_data(struct qcow2 *q, const void *buf, size_t len, uint64_t host)
{
    int rc = blk_fd_pwrite(q->b->fd, buf, len, host);
    if (rc < 0)
        return blk_io_error(q->b, rc, "write at %#llx: %s", (unsigned long long)host,
                            strerror(-rc));
    return 0;
}

/* Writes LEN bytes at VOFF inside one cluster (BUF NULL writes zeros). */
static int qcow2_write_cluster(struct qcow2 *q, const uint8_t *buf, size_t len, uint64_t voff)
{
    uint64_t cs = q->cluster_size, in = voff & (cs - 1), l2off;
    uint8_t *l2;
    int rc = qcow2_l2_for_write(q, voff, &l2off, &l2);
    if (rc < 0)
        return rc;
    uint64_t l2e = be64(l2 + qcow2_l2_index(q, voff) * 8);
    uint64_t host = l2e & QCOW2_OFFSET_MASK;
    bool owned = false;
    if (host && !(l2e & QCOW_OFLAG_COMPRESSED)) {
        if ((rc = qcow2_check_cluster(q, host, "data cluster")) < 0 ||
            (rc = qcow2_owned(q, l2e, host, &owned)) < 0)
            return rc;
    }
    if (owned && !qcow2_l2e_reads_zero(q, l2e)) {   /* the common case: overwrite in place */
        if (buf)
            return qcow2_write_data(q, buf, len, host + in);
        memset(q->cow, 0, len);
        return qcow2_write_data(q, q->cow, len, host + in);
    }
    /* Build the whole new cluster: the old contents (backing, zeros, compressed, shared), then
     * the new bytes. A preallocated zero cluster of ours is reused in place. */
    if (len < cs && (rc = qcow2_read_l2e(q, l2e, voff - in, q->cow, (size_t)cs)) < 0)
        return rc;
    if (buf)
        memcpy(q->cow + in, buf, len);
    else
        memset(q->cow + in, 0, len);
    uint64_t target = host;
    if (!owned && (rc = qcow2_alloc_cluster(q, &target)) < 0)
        return rc;
    if ((rc = qcow2_write_data(q, q->cow, (size_t)cs, target)) < 0)
        return rc;
    /* qcow2_alloc_cluster may have evicted the L2 table from the cache: look it up again. */
    if ((rc = qcow2_l2_table(q, voff, &l2off, &l2)) < 0)
        return rc;
    if ((rc = qcow2_set_l2e(q, l2off, l2, voff, target | QCOW_OFLAG_COPIED)) < 0)
        return rc;
    return owned ? 0 : qcow2_release_l2e(q, l2e);
}

static int qcow2_pwrite_common(struct blk_backend *b, const uint8_t *p, size_t len, uint64_t off)
{
    struct qcow2 *q = b->priv;
    while (len) {
        size_t n = (size_t)(q->cluster_size - (off & (q->cluster_size - 1)));
        if (n > len)
            n = len;
        int rc = qcow2_write_cluster(q, p, n, off);
        if (rc < 0)
            return rc;
        if (p)
            p += n;
        off += n;
        len -= n;
    }
    return 0;
}

static int qcow2_pwrite(struct blk_backend *b, const void *buf, size_t len, uint64_t off)
{
    return qcow2_pwrite_common(b, buf, len, off);
}

static int qcow2_flush(struct blk_backend *b)
{
    return qcow2_sync_frees(b->priv);
}

/* Deallocates one whole cluster so that it reads as zeros (or, for DISCARD on a v2 overlay, is
 * left alone: v2 has no zero flag to hide the backing file). KEEP keeps our own allocation and
 * marks it zero (v3). */
enum qcow2_zero_mode { QCOW2_DISCARD, QCOW2_ZERO_UNMAP, QCOW2_ZERO_KEEP };

static int qcow2_zero_cluster(struct qcow2 *q, uint64_t voff, enum qcow2_zero_mode mode)
{
    uint64_t l2e;
    int rc = qcow2_l2e_lookup(q, voff, &l2e);
    if (rc < 0)
        return rc;
    if (!q->backing && (l2e & ~QCOW_OFLAG_COPIED) == 0)
        return 0;                                  /* unallocated: already zeros */
    if (qcow2_l2e_reads_zero(q, l2e) && (l2e & QCOW2_OFFSET_MASK) == 0)
        return 0;
    if (q->backing && q->version < 3)
        return mode == QCOW2_DISCARD ? 0 : qcow2_write_cluster(q, NULL, q->cluster_size, voff);
    uint64_t l2off;
    uint8_t *l2;
    if ((rc = qcow2_l2_for_write(q, voff, &l2off, &l2)) < 0)
        return rc;
    l2e = be64(l2 + qcow2_l2_index(q, voff) * 8);      /* the table may be a fresh copy */
    uint64_t host = l2e & QCOW2_OFFSET_MASK, neu = q->backing ? QCOW_OFLAG_ZERO : 0;
    bool owned = false;
    if (mode == QCOW2_ZERO_KEEP && q->version >= 3 && host && !(l2e & QCOW_OFLAG_COMPRESSED)) {
        if ((rc = qcow2_owned(q, l2e, host, &owned)) < 0)
            return rc;
        if (owned)
            neu = host | QCOW_OFLAG_COPIED | QCOW_OFLAG_ZERO;
    }
    if ((rc = qcow2_set_l2e(q, l2off, l2, voff, neu)) < 0)
        return rc;
    return owned ? 0 : qcow2_release_l2e(q, l2e);
}

static int qcow2_zero_range(struct blk_backend *b, uint64_t off, uint64_t len,
                            enum qcow2_zero_mode mode)
{
    struct qcow2 *q = b->priv;
    while (len) {
        uint64_t in = off & (q->cluster_size - 1), n = q->cluster_size - in;
        if (n > len)
            n = len;
        /* The disk's last cluster may be partial: covering it to the end counts as whole. */
        bool whole = in == 0 && (n == q->cluster_size || off + n == b->size);
        int rc = 0;
        if (whole)
            rc = qcow2_zero_cluster(q, off, mode);
        else if (mode != QCOW2_DISCARD)
            rc = qcow2_write_cluster(q, NULL, (size_t)n, off);
        if (rc < 0)
            return rc;
        off += n;
        len -= n;
    }
    return 0;
}

static int qcow2_discard(struct blk_backend *b, uint64_t off, uint64_t len)
{
    return qcow2_zero_range(b, off, len, QCOW2_DISCARD);
}

static int qcow2_write_zeroes(struct blk_backend *b, uint64_t off, uint64_t len, bool may_unmap)
{
    return qcow2_zero_range(b, off, len, may_unmap ? QCOW2_ZERO_UNMAP : QCOW2_ZERO_KEEP);
}

static void qcow2_close(struct blk_backend *b)
{
    struct qcow2 *q = b->priv;
    if (!q)
        return;
    if (q->n_punch)
        (void)qcow2_sync_frees(q);
    blk_close(q->backing);
    qcow2_cache_free(&q->l2c);
    qcow2_cache_free(&q->rbc);
    free(q->l1);
    free(q->rt);
    free(q->cow);
    free(q->zin);
    free(q->zout);
    free(q);
    b->priv = NULL;
}

static const struct blk_ops qcow2_ops = {
    .pread = qcow2_pread,
    .pwrite = qcow2_pwrite,
    .flush = qcow2_flush,
    .discard = qcow2_discard,
    .write_zeroes = qcow2_write_zeroes,
    .close = qcow2_close,
};

/* ---- opening: the header, its extensions, the tables, the backing file ---- */

struct qcow2_header {
    uint64_t backing_offset;
    uint32_t backing_len;
    uint64_t incompat, autoclear;
    uint32_t header_len;
    uint32_t nb_snapshots;
    uint64_t snapshots_offset;
    char backing_fmt[16];
};

/* A malformed header: say what, name the file, fail with -EINVAL. */
#define BAD(fmt, ...)                                                                          \
    do {                                                                                       \
        blk_errf(err, errlen, "image '%s': " fmt, q->b->path, ##__VA_ARGS__);                \
        return -EINVAL;                                                                        \
    } while (0)

static int qcow2_check_features(struct qcow2 *q, const uint8_t *h, struct qcow2_header *hd,
                                char *err, size_t errlen)
{
    const char *path = q->b->path;
    uint64_t unknown = hd->incompat & ~(INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE |
                                        INCOMPAT_COMPRESSION | INCOMPAT_EXTL2);
    if (unknown) {
        blk_errf(err, errlen, "image '%s': unsupported qcow2 feature (incompatible bits %#llx)",
                 path, (unsigned long long)unknown);
        return -ENOTSUP;
    }
    const char *what = NULL;
    if (hd->incompat & INCOMPAT_DATA_FILE)
        what = "external data file";
    else if (hd->incompat & INCOMPAT_EXTL2)
        what = "extended L2 entries (subclusters)";
    else if ((hd->incompat & INCOMPAT_COMPRESSION) && hd->header_len > 104 && h[104] != 0)
        what = "compression type other than zlib";
    if (what) {
        blk_errf(err, errlen, "image '%s': unsupported qcow2 feature: %s", path, what);
        return -ENOTSUP;
    }
    if (!q->b->readonly && (hd->incompat & INCOMPAT_CORRUPT)) {
        blk_errf(err, errlen, "image '%s': qcow2 image is marked corrupt; open it read-only or "
                 "repair it with 'qemu-img check -r all'", path);
        return -EUCLEAN;
    }
    if (!q->b->readonly && (hd->incompat & INCOMPAT_DIRTY)) {
        blk_errf(err, errlen, "image '%s': qcow2 image is dirty (lazy refcounts); open it "
                 "read-only or repair it with 'qemu-img check -r all'", path);
        return -EUCLEAN;
    }
    return 0;
}

/* Header extensions: a chain of {type, length, data padded to 8} ending at type 0, between the
 * header and END (the backing file name, or the end of the first cluster). */
static int qcow2_read_extensions(struct qcow2 *q, const uint8_t *h, uint64_t end,
                                 struct qcow2_header *hd, char *err, size_t errlen)
{
    const char *path = q->b->path;
    uint64_t pos = hd->header_len;
    while (pos + 8 <= end) {
        uint32_t type = be32(h + pos), len = be32(h + pos + 4);
        pos += 8;
        if (type == EXT_END)
            return 0;
        if (len > end - pos)
            BAD("qcow2 header extension %#x overruns the header", type);
        if (type == EXT_BACKING_FMT) {
            if (len >= sizeof(hd->backing_fmt))
                BAD("qcow2 backing format name too long");
            memcpy(hd->backing_fmt, h + pos, len);
            hd->backing_fmt[len] = '\0';
        } else if (type == EXT_DATA_FILE) {
            blk_errf(err, errlen, "image '%s': unsupported qcow2 feature: external data file",
                     path);
            return -ENOTSUP;
        } else if (type == EXT_CRYPTO) {
            blk_errf(err, errlen, "image '%s': unsupported qcow2 feature: encryption", path);
            return -ENOTSUP;
        }
        pos += align_up(len, 8);
    }
    return 0;
}

static int qcow2_parse_header(struct qcow2 *q, const uint8_t *h, uint64_t file_size,
                              struct qcow2_header *hd, char *err, size_t errlen)
{
    const char *path = q->b->path;
    if (file_size < QCOW2_V2_HEADER_LEN)
        BAD("qcow2 header truncated");
    if (be32(h) != QCOW2_MAGIC)
        BAD("not a qcow2 image (bad magic)");
    q->version = be32(h + 4);
    if (q->version != 2 && q->version != 3) {
        blk_errf(err, errlen, "image '%s': unsupported qcow2 version %u", path, q->version);
        return -ENOTSUP;
    }
    q->cluster_bits = be32(h + 20);
    if (q->cluster_bits < 9 || q->cluster_bits > 21)
        BAD("qcow2 cluster_bits %u outside 9..21", q->cluster_bits);
    q->cluster_size = 1ULL << q->cluster_bits;
    q->l2_entries = q->cluster_size / 8;
    if (be32(h + 32) != 0) {
        blk_errf(err, errlen, "image '%s': unsupported qcow2 feature: encryption", path);
        return -ENOTSUP;
    }
    hd->backing_offset = be64(h + 8);
    hd->backing_len = be32(h + 16);
    q->b->size = be64(h + 24);
    q->l1_size = be32(h + 36);
    q->l1_offset = be64(h + 40);
    q->rt_offset = be64(h + 48);
    q->rt_clusters = be32(h + 56);
    hd->nb_snapshots = be32(h + 60);
    hd->snapshots_offset = be64(h + 64);
    q->refcount_order = 4;
    hd->header_len = QCOW2_V2_HEADER_LEN;
    if (q->version == 3) {
        if (file_size < QCOW2_V3_HEADER_LEN)
            BAD("qcow2 header truncated");
        hd->incompat = be64(h + 72);
        hd->autoclear = be64(h + 88);
        q->refcount_order = be32(h + 96);
        hd->header_len = be32(h + 100);
        if (hd->header_len < QCOW2_V3_HEADER_LEN || hd->header_len % 8 ||
            hd->header_len > q->cluster_size)
            BAD("qcow2 header length %u invalid", hd->header_len);
        int rc = qcow2_check_features(q, h, hd, err, errlen);
        if (rc < 0)
            return rc;
    }
    if (q->refcount_order > 6)
        BAD("qcow2 refcount_order %u unsupported", q->refcount_order);
    q->rb_entries = q->cluster_size * 8 >> q->refcount_order;

    /* L1: covers the virtual size, within the file, bounded in memory. */
    unsigned shift = 2 * q->cluster_bits - 3;          /* bytes mapped by one L1 entry */
    uint64_t need = (q->b->size >> shift) + ((q->b->size & ((1ULL << shift) - 1)) != 0);
    if ((uint64_t)q->l1_size * 8 > QCOW2_MAX_L1_BYTES)
        BAD("qcow2 L1 table too large (%u entries)", q->l1_size);
    if (need > q->l1_size)
        BAD("qcow2 L1 table (%u entries) too small for the virtual size", q->l1_size);
    if (q->b->size > (uint64_t)INT64_MAX)
        BAD("qcow2 virtual size too large");
    uint64_t l1_bytes = (uint64_t)q->l1_size * 8;
    if (q->l1_size && (q->l1_offset & (q->cluster_size - 1) || q->l1_offset == 0 ||
                       q->l1_offset > file_size || l1_bytes > file_size - q->l1_offset))
        BAD("qcow2 L1 table offset %#llx invalid or beyond the end of the file",
            (unsigned long long)q->l1_offset);

    /* Refcount table: likewise, and clear of the header and the L1 table. */
    uint64_t rt_bytes = (uint64_t)q->rt_clusters * q->cluster_size;
    if (q->rt_clusters == 0 || rt_bytes > QCOW2_MAX_RT_BYTES)
        BAD("qcow2 refcount table size (%u clusters) invalid", q->rt_clusters);
    if (q->rt_offset & (q->cluster_size - 1) || q->rt_offset == 0 || q->rt_offset > file_size ||
        rt_bytes > file_size - q->rt_offset)
        BAD("qcow2 refcount table offset %#llx invalid or beyond the end of the file",
            (unsigned long long)q->rt_offset);
    if (ranges_overlap(q->rt_offset, rt_bytes, q->l1_offset, l1_bytes))
        BAD("qcow2 refcount table overlaps the L1 table");

    if (hd->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
        BAD("qcow2 has too many snapshots (%u)", hd->nb_snapshots);
    if (hd->nb_snapshots && (hd->snapshots_offset & (q->cluster_size - 1) ||
                             hd->snapshots_offset == 0 || hd->snapshots_offset >= file_size))
        BAD("qcow2 snapshot table offset invalid");

    uint64_t ext_end = q->cluster_size;
    if (hd->backing_offset) {
        if (hd->backing_len == 0 || hd->backing_len > QCOW2_MAX_BACKING_NAME ||
            hd->backing_offset < hd->header_len || hd->backing_offset > q->cluster_size ||
            hd->backing_len > q->cluster_size - hd->backing_offset ||
            hd->backing_offset + hd->backing_len > file_size)
            BAD("qcow2 backing file name (offset %#llx, length %u) invalid",
                (unsigned long long)hd->backing_offset, hd->backing_len);
        ext_end = hd->backing_offset;
    }
    return qcow2_read_extensions(q, h, ext_end, hd, err, errlen);
}

static int qcow2_load_l1(struct qcow2 *q, char *err, size_t errlen)
{
    if (!q->l1_size)
        return 0;
    size_t bytes = (size_t)q->l1_size * 8;
    uint8_t *raw = malloc(bytes);
    if (!raw || !(q->l1 = malloc(bytes))) {
        free(raw);
        blk_errf(err, errlen, "image '%s': out of memory for the L1 table", q->b->path);
        return -ENOMEM;
    }
    int rc = blk_fd_pread(q->b->fd, raw, bytes, q->l1_offset);
    for (uint32_t i = 0; rc == 0 && i < q->l1_size; i++)
        q->l1[i] = be64(raw + (size_t)i * 8);
    free(raw);
    if (rc < 0)
        blk_errf(err, errlen, "image '%s': reading the L1 table: %s", q->b->path, strerror(-rc));
    return rc;
}

/* Only a writable image needs refcounts. Each block must be aligned and clear of fixed metadata,
 * or allocation would overwrite the header or the tables. */
static int qcow2_load_refcounts(struct qcow2 *q, char *err, size_t errlen)
{
    const char *path = q->b->path;
    size_t bytes = (size_t)q->rt_clusters * q->cluster_size;
    q->rt_entries = bytes / 8;
    uint8_t *raw = malloc(bytes);
    if (!raw || !(q->rt = malloc(bytes))) {
        free(raw);
        blk_errf(err, errlen, "image '%s': out of memory for the refcount table", path);
        return -ENOMEM;
    }
    int rc = blk_fd_pread(q->b->fd, raw, bytes, q->rt_offset);
    for (uint64_t i = 0; rc == 0 && i < q->rt_entries; i++) {
        uint64_t off = be64(raw + i * 8) & QCOW2_RT_OFFSET_MASK;
        if (off && (off & (q->cluster_size - 1) ||
                    qcow2_hits_fixed_metadata(q, off, q->cluster_size))) {
            free(raw);
            blk_errf(err, errlen, "image '%s': corrupt qcow2: refcount block %llu at %#llx "
                     "misaligned or overlapping the header, L1 or refcount table", path,
                     (unsigned long long)i, (unsigned long long)off);
            return -EINVAL;
        }
        q->rt[i] = off;
    }
    free(raw);
    if (rc < 0)
        blk_errf(err, errlen, "image '%s': reading the refcount table: %s", path, strerror(-rc));
    return rc;
}

/* Allocation hands out clusters whose refcount is 0: a refcount block or an L2 table that says
 * so would get guest data written over it, and the guest's bytes would then be read as table
 * entries. Refuse such an image for writing (snapshot tables are not looked at). */
static int qcow2_check_table_refcounts(struct qcow2 *q, char *err, size_t errlen)
{
    for (uint64_t i = 0; i < q->rt_entries + q->l1_size; i++) {
        bool rb = i < q->rt_entries;
        uint64_t off = rb ? q->rt[i] : q->l1[i - q->rt_entries] & QCOW2_OFFSET_MASK, v;
        if (!off)
            continue;
        int rc = qcow2_refcount_get(q, off, &v);
        if (rc < 0) {
            blk_errf(err, errlen, "%s", q->b->last_error);
            return rc;
        }
        if (v == 0) {
            blk_errf(err, errlen, "image '%s': corrupt qcow2: %s at %#llx has refcount 0; "
                     "repair it with 'qemu-img check -r all'", q->b->path,
                     rb ? "refcount block" : "L2 table", (unsigned long long)off);
            return -EUCLEAN;
        }
    }
    return 0;
}

static int qcow2_open_backing(struct qcow2 *q, const uint8_t *h, const struct qcow2_header *hd,
                              struct blk_chain *chain, char *err, size_t errlen)
{
    const char *path = q->b->path;
    char name[QCOW2_MAX_BACKING_NAME + 1];
    memcpy(name, h + hd->backing_offset, hd->backing_len);
    name[hd->backing_len] = '\0';
    if (strlen(name) != hd->backing_len)
        BAD("qcow2 backing file name contains a NUL byte");
    /* Never probed: without a format in the header the backing file is raw. A probe would
     * trust a qcow2 header that a guest wrote into a raw base, and its backing name would
     * open any host file for the guest to read. */
    enum blk_format fmt = BLK_FORMAT_RAW;
    if (!strcmp(hd->backing_fmt, "qcow2"))
        fmt = BLK_FORMAT_QCOW2;
    else if (hd->backing_fmt[0] && strcmp(hd->backing_fmt, "raw")) {
        blk_errf(err, errlen, "image '%s': unsupported backing file format '%s'", path,
                 hd->backing_fmt);
        return -ENOTSUP;
    }
    char full[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (name[0] == '/' || !slash)
        snprintf(full, sizeof(full), "%s", name);
    else if (snprintf(full, sizeof(full), "%.*s/%s", (int)(slash - path), path, name) >=
             (int)sizeof(full))
        BAD("backing file path too long");
    /* The message names the image the user asked for and the backing file at fault. */
    bool top = chain->depth == 1;
    char sub[512];
    int rc = blk_open_chain(full, fmt, true, chain, &q->backing, sub, sizeof(sub));
    if (rc < 0) {
        blk_errf(err, errlen, top ? "image '%s': backing file: %s" : "%.0s%s", path, sub);
        return rc;
    }
    uint8_t magic[4] = { 0 };
    if (!hd->backing_fmt[0] && blk_fd_pread(q->backing->fd, magic, 4, 0) == 0 &&
        be32(magic) == QCOW2_MAGIC)
        blk_errf(q->b->warning, sizeof(q->b->warning), "image '%s' names no backing format: "
                 "its backing file '%s' looks like qcow2 but is read as raw", path, full);
    if (q->backing->warning[0])
        blk_errf(q->b->warning, sizeof(q->b->warning), "%s", q->backing->warning);
    return 0;
}

int qcow2_open(struct blk_backend *b, struct blk_chain *chain, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(b->fd, &st) < 0) {
        blk_errf(err, errlen, "image '%s': %s", b->path, strerror(errno));
        return -errno;
    }
    uint64_t file_size = (uint64_t)st.st_size;
    struct qcow2 *q = calloc(1, sizeof(*q));
    uint8_t *h = NULL;
    int rc = -ENOMEM;
    if (!q)
        goto nomem;
    q->b = b;
    b->priv = q;
    b->ops = &qcow2_ops;       /* from here on blk_close frees what has been built */
    /* The first cluster holds the header, its extensions and the backing file name. Read the
     * fixed part first: cluster_bits decides how much more there is. */
    uint8_t fixed[QCOW2_V3_HEADER_LEN] = { 0 };
    if ((rc = blk_fd_pread(b->fd, fixed, sizeof(fixed), 0)) < 0) {
        blk_errf(err, errlen, "image '%s': %s", b->path, strerror(-rc));
        goto fail;
    }
    uint32_t cb = be32(fixed + 20);
    if (be32(fixed) == QCOW2_MAGIC && cb >= 9 && cb <= 21) {
        if (!(h = calloc(1, 1u << cb)))
            goto nomem;
        if ((rc = blk_fd_pread(b->fd, h, 1u << cb, 0)) < 0) {
            blk_errf(err, errlen, "image '%s': %s", b->path, strerror(-rc));
            goto fail;
        }
    }
    struct qcow2_header hd = { 0 };
    if ((rc = qcow2_parse_header(q, h ? h : fixed, file_size, &hd, err, errlen)) < 0)
        goto fail;
    q->file_end = align_up(file_size, q->cluster_size);
    if (!(q->cow = malloc(q->cluster_size)) || !(q->zin = malloc(2 * q->cluster_size)) ||
        !(q->zout = malloc(q->cluster_size)))
        goto nomem;
    q->zout_l2e = 0;
    if ((rc = qcow2_load_l1(q, err, errlen)) < 0)
        goto fail;
    if (!b->readonly && ((rc = qcow2_load_refcounts(q, err, errlen)) < 0 ||
                         (rc = qcow2_check_table_refcounts(q, err, errlen)) < 0))
        goto fail;
    if (hd.backing_offset && (rc = qcow2_open_backing(q, h, &hd, chain, err, errlen)) < 0)
        goto fail;
    /* Autoclear bits name extensions (bitmaps, ...) this writer does not keep up to date. */
    if (!b->readonly && hd.autoclear && (rc = qcow2_write_be64(q, 0, 88)) < 0) {
        blk_errf(err, errlen, "%s", b->last_error);
        goto fail;
    }
    free(h);
    return 0;
nomem:
    rc = -ENOMEM;
    blk_errf(err, errlen, "image '%s': out of memory", b->path);
fail:
    free(h);
    qcow2_close(b);
    b->ops = NULL;
    return rc;
}
