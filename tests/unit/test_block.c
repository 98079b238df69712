/* Unit tests for the block backends (raw, qcow2): images made by qemu-img/qemu-io in a temporary
 * directory, written and read through blk_*, then checked by qemu-img check and compared with
 * qemu-img convert's view of the same disk. Malformed headers must fail cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "backend/block.h"

struct fx {
    char dir[64];
    char paths[8][256];
    int next;
    char err[256];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/corral-blk-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* A path in the test's directory (a ring of buffers, so a few may be live at once). */
static const char *P(struct fx *f, const char *name)
{
    char *p = f->paths[f->next++ % 8], dir[sizeof(f->dir)];
    memcpy(dir, f->dir, sizeof(dir));
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

static bool expect_failure;   /* run() shows a failing command's output unless this is set */

/* Runs a shell command in the test directory; returns its exit status. */
static int run(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run(struct fx *f, const char *fmt, ...)
{
    char cmd[2048];
    int n = snprintf(cmd, sizeof(cmd), "cd '%s' && (", f->dir);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(cmd + n, sizeof(cmd) - n, fmt, ap);
    va_end(ap);
    snprintf(cmd + n, sizeof(cmd) - n, ") >cmd.log 2>&1");
    int st = system(cmd);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    if (WEXITSTATUS(st) != 0 && !expect_failure) {
        char show[2200];
        snprintf(show, sizeof(show), "echo '--- %s' >&2; cat '%s/cmd.log' >&2", fmt, f->dir);
        (void)!system(show);
    }
    return WEXITSTATUS(st);
}

static void fill(uint8_t *p, size_t len, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *p = malloc(n ? (size_t)n : 1);
    if (p && fread(p, 1, (size_t)n, fp) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(fp);
    *len = (size_t)n;
    return p;
}

static void write_file(const char *path, const void *p, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(p, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static void assert_file_is(const char *path, const uint8_t *want, size_t len)
{
    size_t n;
    uint8_t *got = read_file(path, &n);
    assert_non_null(got);
    assert_int_equal(n, len);
    assert_memory_equal(got, want, len);
    free(got);
}

/* qemu-img check must pass, and qemu-img's view of the disk must equal WANT. */
static void assert_qemu_sees(struct fx *f, const char *img, const uint8_t *want, size_t len)
{
    assert_int_equal(run(f, "qemu-img check '%s'", img), 0);
    assert_int_equal(run(f, "qemu-img convert -O raw '%s' view.raw", img), 0);
    assert_file_is(P(f, "view.raw"), want, len);
}

static void patch_be(const char *path, off_t off, uint64_t v, int bytes)
{
    uint8_t b[8];
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        b[i] = (uint8_t)v;
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, b, bytes, off), bytes);
    close(fd);
}

static struct blk_backend *open_ok(struct fx *f, const char *path, enum blk_format fmt, bool ro)
{
    struct blk_backend *b = NULL;
    int rc = blk_open(path, fmt, ro, &b, f->err, sizeof(f->err));
    if (rc)
        print_error("blk_open: %s\n", f->err);
    assert_int_equal(rc, 0);
    assert_non_null(b);
    return b;
}

/* blk_open must fail with an error naming the file and containing WHAT. */
static void open_fails(struct fx *f, const char *path, bool ro, const char *what)
{
    struct blk_backend *b = NULL;
    f->err[0] = '\0';
    int rc = blk_open(path, BLK_FORMAT_AUTO, ro, &b, f->err, sizeof(f->err));
    if (rc == 0 || !strstr(f->err, what))
        print_error("blk_open('%s') = %d, '%s' (wanted '%s')\n", path, rc, f->err, what);
    assert_true(rc < 0);
    assert_null(b);
    assert_non_null(strstr(f->err, what));
    assert_non_null(strstr(f->err, path));
}

/* Random writes at unaligned offsets and lengths crossing clusters, mirrored in SHADOW. */
static void random_writes(struct blk_backend *b, uint8_t *shadow, size_t size, int count,
                          size_t maxlen, uint32_t seed)
{
    uint8_t *buf = malloc(maxlen);
    assert_non_null(buf);
    uint32_t r = seed;
    for (int i = 0; i < count; i++) {
        r = r * 1103515245u + 12345u;
        size_t len = 1 + (r >> 4) % maxlen;
        r = r * 1103515245u + 12345u;
        uint64_t off = ((uint64_t)r << 7 ^ r) % (size - len + 1);
        fill(buf, len, seed + i);
        if (b)      /* NULL: only replay the writes into the shadow */
            assert_int_equal(blk_pwrite(b, buf, len, off), 0);
        memcpy(shadow + off, buf, len);
    }
    free(buf);
}

static void assert_disk_is(struct blk_backend *b, const uint8_t *want, size_t len)
{
    uint8_t *got = malloc(len);
    assert_non_null(got);
    assert_int_equal(blk_pread(b, got, len, 0), 0);
    assert_memory_equal(got, want, len);
    /* and again in odd pieces, to cross cluster edges at other places */
    memset(got, 0xee, len);
    for (size_t off = 0, step = 777; off < len; off += step, step = step * 3 % 70001 + 1) {
        size_t n = off + step > len ? len - off : step;
        assert_int_equal(blk_pread(b, got + off, n, off), 0);
    }
    assert_memory_equal(got, want, len);
    free(got);
}

/* ---- raw ---- */

static void test_raw_read_write_discard_zeroes(void **state)
{
    struct fx *f = *state;
    const size_t size = 1 << 20;
    uint8_t *img = malloc(size);
    fill(img, size, 1);
    write_file(P(f, "d.raw"), img, size);
    struct blk_backend *b = open_ok(f, P(f, "d.raw"), BLK_FORMAT_AUTO, false);
    assert_int_equal(blk_size(b), size);
    assert_false(blk_readonly(b));
    assert_int_equal(blk_format(b), BLK_FORMAT_RAW);
    random_writes(b, img, size, 40, 70000, 7);
    assert_disk_is(b, img, size);
    assert_int_equal(blk_discard(b, 4096, 65536), 0);   /* a hint: contents unspecified */
    assert_int_equal(blk_pread(b, img + 4096, 65536, 4096), 0);
    assert_int_equal(blk_write_zeroes(b, 100000, 12345, true), 0);
    assert_int_equal(blk_write_zeroes(b, 300001, 99999, false), 0);
    memset(img + 100000, 0, 12345);
    memset(img + 300001, 0, 99999);
    assert_disk_is(b, img, size);
    assert_int_equal(blk_flush(b), 0);
    blk_close(b);
    assert_file_is(P(f, "d.raw"), img, size);
    free(img);
}

static void test_out_of_range_is_einval(void **state)
{
    struct fx *f = *state;
    uint8_t buf[1024] = { 0 };
    assert_int_equal(run(f, "truncate -s 1M d.raw && qemu-img create -f qcow2 d.qcow2 1000000"), 0);
    const char *names[] = { "d.raw", "d.qcow2" };
    for (int i = 0; i < 2; i++) {
        struct blk_backend *b = open_ok(f, P(f, names[i]), BLK_FORMAT_AUTO, false);
        uint64_t size = blk_size(b);
        assert_int_equal(blk_pread(b, buf, 1, size), -EINVAL);
        assert_int_equal(blk_pread(b, buf, 1024, size - 1000), -EINVAL);
        assert_int_equal(blk_pwrite(b, buf, 2, size - 1), -EINVAL);
        assert_int_equal(blk_pwrite(b, buf, 16, UINT64_MAX - 8), -EINVAL);
        assert_int_equal(blk_discard(b, size, 1), -EINVAL);
        assert_int_equal(blk_write_zeroes(b, 0, size + 1, true), -EINVAL);
        assert_int_equal(blk_pread(b, buf, 1000, size - 1000), 0);
        assert_int_equal(blk_pwrite(b, buf, 0, size), 0);
        blk_close(b);
        b = open_ok(f, P(f, names[i]), BLK_FORMAT_AUTO, true);
        assert_true(blk_readonly(b));
        assert_int_equal(blk_pwrite(b, buf, 1, 0), -EROFS);
        assert_int_equal(blk_write_zeroes(b, 0, 1, true), -EROFS);
        blk_close(b);
    }
}

/* ---- qcow2 writes checked by qemu-img ---- */

static void qcow2_roundtrip(struct fx *f, const char *opts, size_t size, size_t maxlen)
{
    assert_int_equal(run(f, "rm -f t.qcow2; qemu-img create -f qcow2 %s t.qcow2 %zu", opts, size),
                     0);
    uint8_t *img = calloc(1, size);
    struct blk_backend *b = open_ok(f, P(f, "t.qcow2"), BLK_FORMAT_AUTO, false);
    assert_int_equal(blk_format(b), BLK_FORMAT_QCOW2);
    assert_int_equal(blk_size(b), size);
    random_writes(b, img, size, 60, maxlen, 11);
    assert_disk_is(b, img, size);
    assert_int_equal(blk_flush(b), 0);
    blk_close(b);
    b = open_ok(f, P(f, "t.qcow2"), BLK_FORMAT_QCOW2, true);
    assert_disk_is(b, img, size);
    blk_close(b);
    assert_qemu_sees(f, "t.qcow2", img, size);
    free(img);
}

static void test_qcow2_writes_default_clusters(void **state)
{
    qcow2_roundtrip(*state, "", 8 << 20, 200000);
}

static void test_qcow2_writes_small_clusters_new_refblocks(void **state)
{
    /* 512-byte clusters: each refcount block covers 128 KiB, so writes need new ones. */
    qcow2_roundtrip(*state, "-o cluster_size=512", 3 << 20, 5000);
}

static void test_qcow2_refcount_table_grows(void **state)
{
    /* 512-byte clusters: the first refcount table maps 8 MiB of file, this needs more. */
    struct fx *f = *state;
    const size_t size = 12 << 20;
    assert_int_equal(run(f, "qemu-img create -f qcow2 -o cluster_size=512 g.qcow2 %zu", size), 0);
    uint8_t *img = malloc(size);
    fill(img, size, 99);
    struct blk_backend *b = open_ok(f, P(f, "g.qcow2"), BLK_FORMAT_AUTO, false);
    for (size_t off = 0; off < size; off += 1 << 20)
        assert_int_equal(blk_pwrite(b, img + off, 1 << 20, off), 0);
    random_writes(b, img, size, 20, 100000, 5);
    assert_disk_is(b, img, size);
    blk_close(b);
    uint8_t hdr[4];
    int fd = open(P(f, "g.qcow2"), O_RDONLY);
    assert_int_equal(pread(fd, hdr, 4, 56), 4);   /* refcount_table_clusters: was 1 */
    close(fd);
    assert_true(hdr[3] > 1 || hdr[2]);
    assert_qemu_sees(f, "g.qcow2", img, size);
    b = open_ok(f, P(f, "g.qcow2"), BLK_FORMAT_AUTO, false);
    random_writes(b, img, size, 20, 100000, 6);
    blk_close(b);
    assert_qemu_sees(f, "g.qcow2", img, size);
    free(img);
}

static void test_qcow2_writes_v2(void **state)
{
    qcow2_roundtrip(*state, "-o compat=0.10,cluster_size=4096", (4 << 20) + 1536, 20000);
}

static void test_qcow2_writes_refcount_widths(void **state)
{
    qcow2_roundtrip(*state, "-o refcount_bits=1,cluster_size=1024", 1 << 20, 9000);
    qcow2_roundtrip(*state, "-o refcount_bits=64,cluster_size=2048", 1 << 20, 9000);
    qcow2_roundtrip(*state, "-o refcount_bits=8,cluster_size=2M", 5 << 20, 3000000);
}

/* ---- data written by QEMU, read by us ---- */

static void test_qcow2_reads_qemu_data_and_compressed(void **state)
{
    struct fx *f = *state;
    const size_t size = 3 << 20;
    uint8_t *img = malloc(size);
    fill(img, size / 2, 3);            /* half random, half compressible text */
    for (size_t i = size / 2; i < size; i++)
        img[i] = "corral qcow2 "[i % 13];
    memset(img + 200000, 0, 300000);
    write_file(P(f, "src.raw"), img, size);
    assert_int_equal(run(f, "qemu-img convert -f raw -O qcow2 src.raw plain.qcow2 && "
                            "qemu-img convert -c -f raw -O qcow2 src.raw comp.qcow2 && "
                            "qemu-img convert -c -f raw -O qcow2 -o cluster_size=4096 src.raw "
                            "comp4k.qcow2"), 0);
    const char *names[] = { "plain.qcow2", "comp.qcow2", "comp4k.qcow2" };
    for (int i = 0; i < 3; i++) {
        struct blk_backend *b = open_ok(f, P(f, names[i]), BLK_FORMAT_AUTO, true);
        assert_disk_is(b, img, size);
        blk_close(b);
    }
    /* qemu-io writes into an empty image */
    assert_int_equal(run(f, "qemu-img create -f qcow2 io.qcow2 1M && "
                            "qemu-io -c 'write -P 0xab 4095 70000' -c 'write -P 0x5c 900000 1' "
                            "io.qcow2"), 0);
    uint8_t *want = calloc(1, 1 << 20);
    memset(want + 4095, 0xab, 70000);
    want[900000] = 0x5c;
    struct blk_backend *b = open_ok(f, P(f, "io.qcow2"), BLK_FORMAT_AUTO, true);
    assert_disk_is(b, want, 1 << 20);
    blk_close(b);
    /* partial writes into compressed clusters copy them first and free them */
    for (int i = 1; i < 3; i++) {
        b = open_ok(f, P(f, names[i]), BLK_FORMAT_AUTO, false);
        uint8_t *shadow = malloc(size);
        memcpy(shadow, img, size);
        random_writes(b, shadow, size, 30, 10000, 5 + i);
        assert_int_equal(blk_write_zeroes(b, 2 << 20, 1 << 16, true), 0);
        memset(shadow + (2 << 20), 0, 1 << 16);
        assert_disk_is(b, shadow, size);
        blk_close(b);
        assert_qemu_sees(f, names[i], shadow, size);
        free(shadow);
    }
    free(want);
    free(img);
}

/* ---- backing files ---- */

static void test_qcow2_backing_chain(void **state)
{
    struct fx *f = *state;
    const size_t size = 2 << 20;
    uint8_t *base = malloc(size), *img = malloc(size);
    fill(base, size, 9);
    write_file(P(f, "base.raw"), base, size);
    assert_int_equal(run(f, "qemu-img create -f qcow2 -b base.raw -F raw mid.qcow2 && "
                            "qemu-io -c 'write -P 0x11 65536 65536' -c 'write -P 0x22 1000 10' "
                            "mid.qcow2 && "
                            "qemu-img create -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2"), 0);
    memcpy(img, base, size);
    memset(img + 65536, 0x11, 65536);
    memset(img + 1000, 0x22, 10);
    uint8_t *mid = malloc(size);
    memcpy(mid, img, size);
    struct blk_backend *b = open_ok(f, P(f, "top.qcow2"), BLK_FORMAT_AUTO, false);
    assert_disk_is(b, img, size);                 /* unwritten ranges come from the chain */
    random_writes(b, img, size, 40, 100000, 21);
    assert_int_equal(blk_write_zeroes(b, 3 << 16, 1 << 16, true), 0);   /* hides the base */
    assert_int_equal(blk_write_zeroes(b, 5 << 16, 1 << 16, false), 0);
    assert_int_equal(blk_write_zeroes(b, 12345, 3000, true), 0);         /* partial cluster */
    memset(img + (3 << 16), 0, 1 << 16);
    memset(img + (5 << 16), 0, 1 << 16);
    memset(img + 12345, 0, 3000);
    assert_disk_is(b, img, size);
    blk_close(b);
    assert_qemu_sees(f, "top.qcow2", img, size);
    assert_file_is(P(f, "base.raw"), base, size);  /* the chain below is untouched */
    assert_qemu_sees(f, "mid.qcow2", mid, size);
    free(base);
    free(mid);
    free(img);
}

static void test_qcow2_backing_smaller_than_overlay(void **state)
{
    struct fx *f = *state;
    const size_t size = 1 << 20, bsize = 100000;
    uint8_t *img = calloc(1, size);
    fill(img, bsize, 6);
    write_file(P(f, "small.raw"), img, bsize);
    assert_int_equal(run(f, "mkdir sub && qemu-img create -f qcow2 -b ../small.raw -F raw "
                            "sub/big.qcow2 %zu", size), 0);
    struct blk_backend *b = open_ok(f, P(f, "sub/big.qcow2"), BLK_FORMAT_AUTO, false);
    assert_disk_is(b, img, size);                  /* zeros past the backing file's end */
    uint8_t buf[5000];
    fill(buf, sizeof(buf), 1);
    assert_int_equal(blk_pwrite(b, buf, sizeof(buf), bsize - 2000), 0);
    memcpy(img + bsize - 2000, buf, sizeof(buf));
    assert_disk_is(b, img, size);
    blk_close(b);
    assert_qemu_sees(f, "sub/big.qcow2", img, size);
    free(img);
}

static void test_qcow2_v2_overlay_discard_keeps_backing(void **state)
{
    struct fx *f = *state;
    const size_t size = 1 << 20;
    uint8_t *base = malloc(size), *img = malloc(size);
    fill(base, size, 4);
    write_file(P(f, "base.raw"), base, size);
    assert_int_equal(run(f, "qemu-img create -f qcow2 -o compat=0.10 -b base.raw -F raw "
                            "ov.qcow2"), 0);
    memcpy(img, base, size);
    struct blk_backend *b = open_ok(f, P(f, "ov.qcow2"), BLK_FORMAT_AUTO, false);
    random_writes(b, img, size, 20, 50000, 8);
    assert_int_equal(blk_write_zeroes(b, 0, 1 << 17, true), 0);
    memset(img, 0, 1 << 17);
    assert_int_equal(blk_discard(b, 1 << 18, 1 << 18), 0);   /* v2 cannot hide the backing */
    assert_disk_is(b, img, size);
    blk_close(b);
    assert_qemu_sees(f, "ov.qcow2", img, size);
    free(base);
    free(img);
}

static void test_qcow2_zero_clusters_and_discard(void **state)
{
    struct fx *f = *state;
    const size_t size = 1 << 20;
    uint8_t *img = malloc(size);
    fill(img, size, 12);
    write_file(P(f, "base.raw"), img, size);
    assert_int_equal(run(f, "qemu-img create -f qcow2 -b base.raw -F raw z.qcow2 && "
                            "qemu-io -c 'write -z 0 131072' -c 'write -P 7 262144 65536' "
                            "-c 'write -z 262144 65536' z.qcow2"), 0);
    memset(img, 0, 131072);
    memset(img + 262144, 0, 65536);
    struct blk_backend *b = open_ok(f, P(f, "z.qcow2"), BLK_FORMAT_AUTO, false);
    assert_disk_is(b, img, size);
    random_writes(b, img, size, 20, 100000, 31);
    assert_int_equal(blk_discard(b, 65536 * 4, 65536 * 3), 0);   /* whole clusters: zeros */
    memset(img + 65536 * 4, 0, 65536 * 3);
    assert_int_equal(blk_discard(b, 65536 * 8 + 100, 1000), 0);   /* partial: no change */
    assert_int_equal(blk_write_zeroes(b, 65536 * 9 - 10, 65536 + 20, false), 0);
    memset(img + 65536 * 9 - 10, 0, 65536 + 20);
    assert_disk_is(b, img, size);
    blk_close(b);
    assert_qemu_sees(f, "z.qcow2", img, size);

    /* without a backing file: discard deallocates, and the space goes back */
    assert_int_equal(run(f, "qemu-img create -f qcow2 n.qcow2 4M"), 0);
    b = open_ok(f, P(f, "n.qcow2"), BLK_FORMAT_AUTO, false);
    uint8_t *big = malloc(4 << 20);
    fill(big, 4 << 20, 2);
    assert_int_equal(blk_pwrite(b, big, 4 << 20, 0), 0);
    assert_int_equal(blk_discard(b, 0, 4 << 20), 0);
    memset(big, 0, 4 << 20);
    assert_disk_is(b, big, 4 << 20);
    blk_close(b);
    struct stat st;
    assert_int_equal(stat(P(f, "n.qcow2"), &st), 0);
    assert_true(st.st_blocks * 512 < (1 << 20));
    assert_qemu_sees(f, "n.qcow2", big, 4 << 20);
    free(big);
    free(img);
}

/* ---- snapshots: shared clusters and L2 tables are copied before writing ---- */

static void test_qcow2_snapshot_copy_on_write(void **state)
{
    struct fx *f = *state;
    const size_t size = 2 << 20;
    uint8_t *orig = malloc(size), *img = malloc(size);
    fill(orig, size, 17);
    write_file(P(f, "src.raw"), orig, size);
    assert_int_equal(run(f, "qemu-img convert -f raw -O qcow2 -o cluster_size=4096 src.raw "
                            "s.qcow2 && qemu-img snapshot -c snap1 s.qcow2"), 0);
    memcpy(img, orig, size);
    struct blk_backend *b = open_ok(f, P(f, "s.qcow2"), BLK_FORMAT_AUTO, false);
    random_writes(b, img, size, 40, 20000, 3);
    assert_int_equal(blk_discard(b, 1 << 20, 1 << 16), 0);
    memset(img + (1 << 20), 0, 1 << 16);
    assert_disk_is(b, img, size);
    blk_close(b);
    assert_qemu_sees(f, "s.qcow2", img, size);
    assert_int_equal(run(f, "qemu-img convert -O raw -l snapshot.name=snap1 s.qcow2 snap.raw"),
                     0);
    assert_file_is(P(f, "snap.raw"), orig, size);
    free(orig);
    free(img);
}

/* ---- durability: flushed data survives kill -9 ---- */

static void test_flushed_data_survives_kill(void **state)
{
    struct fx *f = *state;
    const size_t size = 1 << 20;
    assert_int_equal(run(f, "qemu-img create -f qcow2 -o cluster_size=4096 k.qcow2 1M"), 0);
    uint8_t *img = calloc(1, size);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct blk_backend *b = NULL;
        if (blk_open(P(f, "k.qcow2"), BLK_FORMAT_AUTO, false, &b, NULL, 0))
            _exit(2);
        random_writes(b, img, size, 50, 30000, 77);
        if (blk_flush(b))
            _exit(3);
        raise(SIGKILL);
        _exit(4);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    random_writes(NULL, img, size, 50, 30000, 77);
    struct blk_backend *b = open_ok(f, P(f, "k.qcow2"), BLK_FORMAT_AUTO, true);
    assert_disk_is(b, img, size);
    blk_close(b);
    assert_qemu_sees(f, "k.qcow2", img, size);
    free(img);
}

/* ---- locking ---- */

static void test_writable_image_is_locked(void **state)
{
    struct fx *f = *state;
    assert_int_equal(run(f, "qemu-img create -f raw base.raw 1M && "
                            "qemu-img create -f qcow2 -b base.raw -F raw ov.qcow2"), 0);
    struct blk_backend *b = open_ok(f, P(f, "ov.qcow2"), BLK_FORMAT_AUTO, false);
    char want[300];
    snprintf(want, sizeof(want), "image '%s' is in use by another VM", P(f, "ov.qcow2"));
    struct blk_backend *b2 = NULL;
    assert_int_equal(blk_open(P(f, "ov.qcow2"), BLK_FORMAT_AUTO, false, &b2, f->err,
                              sizeof(f->err)), -EBUSY);
    assert_string_equal(f->err, want);
    assert_int_equal(blk_open(P(f, "ov.qcow2"), BLK_FORMAT_AUTO, true, &b2, f->err,
                              sizeof(f->err)), -EBUSY);
    open_fails(f, P(f, "base.raw"), false, "is in use by another VM");   /* backing: shared */
    b2 = open_ok(f, P(f, "base.raw"), BLK_FORMAT_RAW, true);               /* readers share */
    blk_close(b2);
    expect_failure = true;
    assert_int_not_equal(run(f, "qemu-img info ov.qcow2"), 0);            /* QEMU sees it too */
    expect_failure = false;
    blk_close(b);
    b = open_ok(f, P(f, "ov.qcow2"), BLK_FORMAT_AUTO, false);
    blk_close(b);
}

/* ---- linked clones ---- */

static void test_overlay_is_a_linked_clone(void **state)
{
    struct fx *f = *state;
    size_t size = 3 * 1024 * 1024 + 512 * 3;   /* not a whole number of clusters */
    uint8_t *base = malloc(size), *shadow = malloc(size), *other = malloc(size);
    assert_non_null(base);
    assert_non_null(shadow);
    assert_non_null(other);
    fill(base, size, 11);
    write_file(P(f, "base.raw"), base, size);
    assert_int_equal(qcow2_create_overlay(P(f, "a.qcow2"), "base.raw", "raw", f->err,
                                          sizeof(f->err)), 0);
    /* QEMU agrees: clean, backed by base.raw as raw, same size, same contents */
    assert_int_equal(run(f, "qemu-img check a.qcow2"), 0);
    assert_int_equal(run(f, "qemu-img info a.qcow2 | grep -qx 'backing file: base.raw' && "
                            "qemu-img info a.qcow2 | grep -qx 'backing file format: raw' && "
                            "qemu-img info a.qcow2 | grep -q '(%zu bytes)' && "
                            "qemu-img info a.qcow2 | grep -qx 'cluster_size: 65536' && "
                            "qemu-img info a.qcow2 | grep -qx '    compat: 1.1'", size), 0);
    assert_qemu_sees(f, "a.qcow2", base, size);
    /* never overwritten */
    struct stat st0, st1;
    assert_int_equal(stat(P(f, "a.qcow2"), &st0), 0);
    assert_int_equal(qcow2_create_overlay(P(f, "a.qcow2"), "base.raw", "raw", f->err,
                                          sizeof(f->err)), -EEXIST);
    assert_non_null(strstr(f->err, "a.qcow2"));
    assert_int_equal(stat(P(f, "a.qcow2"), &st1), 0);
    assert_int_equal(st0.st_ino, st1.st_ino);
    assert_int_equal(st0.st_size, st1.st_size);
    /* a second overlay of the same base; both written at once */
    assert_int_equal(qcow2_create_overlay(P(f, "b.qcow2"), P(f, "base.raw"), "raw", f->err,
                                          sizeof(f->err)), 0);
    struct blk_backend *a = open_ok(f, P(f, "a.qcow2"), BLK_FORMAT_QCOW2, false);
    struct blk_backend *b = open_ok(f, P(f, "b.qcow2"), BLK_FORMAT_QCOW2, false);
    assert_int_equal(blk_size(a), size);
    memcpy(shadow, base, size);
    memcpy(other, base, size);
    random_writes(a, shadow, size, 300, 100000, 5);
    random_writes(b, other, size, 300, 100000, 6);
    assert_disk_is(a, shadow, size);
    assert_disk_is(b, other, size);
    /* each overlay has one writer; the base is shared and read-only */
    open_fails(f, P(f, "a.qcow2"), false, "is in use by another VM");
    open_fails(f, P(f, "base.raw"), false, "is in use by another VM");
    struct blk_backend *r = open_ok(f, P(f, "base.raw"), BLK_FORMAT_RAW, true);
    blk_close(r);
    blk_close(a);
    blk_close(b);
    assert_file_is(P(f, "base.raw"), base, size);
    assert_qemu_sees(f, "a.qcow2", shadow, size);
    assert_qemu_sees(f, "b.qcow2", other, size);
    /* an overlay of a qcow2 image: a chain of three, read back through it */
    assert_int_equal(qcow2_create_overlay(P(f, "c.qcow2"), "a.qcow2", "qcow2", f->err,
                                          sizeof(f->err)), 0);
    assert_int_equal(run(f, "qemu-img info c.qcow2 | grep -qx 'backing file format: qcow2'"), 0);
    struct blk_backend *c = open_ok(f, P(f, "c.qcow2"), BLK_FORMAT_AUTO, false);
    assert_disk_is(c, shadow, size);
    blk_close(c);
    assert_qemu_sees(f, "c.qcow2", shadow, size);
    free(base);
    free(shadow);
    free(other);
}

static void test_overlay_refusals(void **state)
{
    struct fx *f = *state;
    assert_int_equal(run(f, "truncate -s 1M base.raw && mkdir sub"), 0);
    f->err[0] = '\0';
    assert_int_equal(qcow2_create_overlay(P(f, "o.qcow2"), "base.raw", "vmdk", f->err,
                                          sizeof(f->err)), -EINVAL);
    assert_non_null(strstr(f->err, "vmdk"));
    assert_int_equal(qcow2_create_overlay(P(f, "o.qcow2"), "gone.raw", "raw", f->err,
                                          sizeof(f->err)), -ENOENT);
    assert_non_null(strstr(f->err, "gone.raw"));
    /* relative to the overlay's directory, not ours */
    assert_int_equal(qcow2_create_overlay(P(f, "sub/o.qcow2"), "base.raw", "raw", f->err,
                                          sizeof(f->err)), -ENOENT);
    assert_int_equal(access(P(f, "o.qcow2"), F_OK), -1);
    assert_int_equal(access(P(f, "sub/o.qcow2"), F_OK), -1);
    assert_int_equal(qcow2_create_overlay(P(f, "sub/o.qcow2"), "../base.raw", "raw", f->err,
                                          sizeof(f->err)), 0);
    assert_int_equal(run(f, "qemu-img check sub/o.qcow2"), 0);
    /* a base that a VM writes is not cloned */
    struct blk_backend *w = open_ok(f, P(f, "base.raw"), BLK_FORMAT_RAW, false);
    assert_int_equal(qcow2_create_overlay(P(f, "o2.qcow2"), "base.raw", "raw", f->err,
                                          sizeof(f->err)), -EBUSY);
    blk_close(w);
    /* an empty base makes an empty overlay that QEMU still takes */
    assert_int_equal(run(f, "truncate -s 0 empty.raw"), 0);
    assert_int_equal(qcow2_create_overlay(P(f, "e.qcow2"), "empty.raw", "raw", f->err,
                                          sizeof(f->err)), 0);
    assert_int_equal(run(f, "qemu-img check e.qcow2"), 0);
    struct blk_backend *e = open_ok(f, P(f, "e.qcow2"), BLK_FORMAT_QCOW2, false);
    assert_int_equal(blk_size(e), 0);
    blk_close(e);
}

static void test_id_is_stable_per_file(void **state)
{
    struct fx *f = *state;
    assert_int_equal(run(f, "truncate -s 4096 a.raw b.raw"), 0);
    struct blk_backend *a = open_ok(f, P(f, "a.raw"), BLK_FORMAT_AUTO, true);
    struct blk_backend *a2 = open_ok(f, P(f, "a.raw"), BLK_FORMAT_AUTO, true);
    struct blk_backend *b = open_ok(f, P(f, "b.raw"), BLK_FORMAT_AUTO, true);
    assert_true(strlen(blk_id(a)) > 0 && strlen(blk_id(a)) <= 20);
    assert_string_equal(blk_id(a), blk_id(a2));
    assert_string_not_equal(blk_id(a), blk_id(b));
    blk_close(a);
    blk_close(a2);
    blk_close(b);
}

/* ---- malformed and unsupported images ---- */

static void fresh(struct fx *f, const char *opts)
{
    assert_int_equal(run(f, "rm -f m.qcow2; qemu-img create -f qcow2 %s m.qcow2 1M", opts), 0);
}

static void test_malformed_headers_fail_cleanly(void **state)
{
    struct fx *f = *state;
    const char *m = P(f, "m.qcow2");
    fresh(f, "");
    assert_int_equal(truncate(m, 50), 0);
    open_fails(f, m, true, "truncated");
    fresh(f, "");
    assert_int_equal(truncate(m, 80), 0);
    open_fails(f, m, true, "qcow2");
    fresh(f, "");
    patch_be(m, 0, 0x514649fc, 4);               /* bad magic, format forced */
    struct blk_backend *b = NULL;
    assert_true(blk_open(m, BLK_FORMAT_QCOW2, true, &b, f->err, sizeof(f->err)) < 0);
    assert_non_null(strstr(f->err, "bad magic"));
    fresh(f, "");
    patch_be(m, 36, 0x7fffffff, 4);              /* huge L1 size */
    open_fails(f, m, true, "L1 table too large");
    fresh(f, "");
    patch_be(m, 36, 4000, 4);                    /* L1 runs past the end of the file */
    open_fails(f, m, true, "L1 table offset");
    fresh(f, "");
    patch_be(m, 24, 1ULL << 50, 8);              /* virtual size beyond what L1 maps */
    open_fails(f, m, true, "too small for the virtual size");
    fresh(f, "");
    patch_be(m, 20, 30, 4);                      /* cluster_bits 30 */
    open_fails(f, m, true, "cluster_bits 30");
    fresh(f, "");
    patch_be(m, 40, 1ULL << 40, 8);              /* L1 offset beyond EOF */
    open_fails(f, m, true, "L1 table offset");
    fresh(f, "");
    patch_be(m, 40, 65536 + 8, 8);               /* L1 offset misaligned */
    open_fails(f, m, true, "L1 table offset");
    fresh(f, "");
    patch_be(m, 48, 0, 8);                       /* refcount table on the header */
    open_fails(f, m, false, "refcount table offset");
    fresh(f, "");
    patch_be(m, 56, 1u << 30, 4);
    open_fails(f, m, false, "refcount table size");
    fresh(f, "");
    patch_be(m, 65536 * 1, 65536, 8);            /* refcount table's entry points at itself */
    open_fails(f, m, false, "refcount block 0");
    fresh(f, "");
    patch_be(m, 96, 7, 4);
    open_fails(f, m, true, "refcount_order");
    fresh(f, "");
    patch_be(m, 4, 4, 4);
    open_fails(f, m, true, "version 4");
    fresh(f, "");
    patch_be(m, 100, 100, 4);
    open_fails(f, m, true, "header length");
    fresh(f, "");
    patch_be(m, 8, 104, 8);                      /* backing name: too long */
    patch_be(m, 16, 5000, 4);
    open_fails(f, m, true, "backing file name");
    fresh(f, "");
    uint8_t hl[4];                               /* header extension longer than the cluster */
    int fd = open(m, O_RDONLY);
    assert_int_equal(pread(fd, hl, 4, 100), 4);
    close(fd);
    off_t ext = (off_t)hl[0] << 24 | hl[1] << 16 | hl[2] << 8 | hl[3];
    patch_be(m, ext, 0xe2792aca, 4);
    patch_be(m, ext + 4, 0x7fffffff, 4);
    open_fails(f, m, true, "overruns");
    fresh(f, "");
    patch_be(m, 60, 100000, 4);
    open_fails(f, m, true, "snapshots");
    fresh(f, "");
    patch_be(m, 32, 1, 4);
    open_fails(f, m, true, "encryption");
    /* an L2 table pointing into the header: reads fail with -EIO, no crash */
    fresh(f, "");
    assert_int_equal(run(f, "qemu-io -c 'write -P 1 0 4096' m.qcow2"), 0);
    patch_be(m, 3 * 65536, 0x8000000000000000ULL | 0, 8);
    b = open_ok(f, m, BLK_FORMAT_AUTO, true);
    uint8_t buf[4096];
    assert_int_equal(blk_pread(b, buf, sizeof(buf), 0), 0);   /* L1 entry 0 -> unallocated */
    blk_close(b);
    patch_be(m, 3 * 65536, 0x8000000000000200ULL, 8);
    b = open_ok(f, m, BLK_FORMAT_AUTO, true);
    assert_int_equal(blk_pread(b, buf, sizeof(buf), 0), -EIO);
    assert_non_null(strstr(blk_last_error(b), "L2 table"));
    blk_close(b);
    /* tables whose refcount says free would be handed out again: not opened for writing */
    fresh(f, "");
    assert_int_equal(run(f, "qemu-io -c 'write -P 1 0 4096' m.qcow2"), 0);
    patch_be(m, 2 * 65536 + 4 * 2, 0, 2);        /* cluster 4, the L2 table: refcount 0 */
    open_fails(f, m, false, "L2 table at 0x40000 has refcount 0");
    blk_close(open_ok(f, m, BLK_FORMAT_AUTO, true));
    fresh(f, "");
    patch_be(m, 2 * 65536 + 2 * 2, 0, 2);        /* cluster 2, the refcount block itself */
    open_fails(f, m, false, "refcount block at 0x20000 has refcount 0");
}

static void test_unsupported_features_named(void **state)
{
    struct fx *f = *state;
    const char *m = P(f, "m.qcow2");
    fresh(f, "");
    patch_be(m, 72, 1ULL << 40, 8);
    open_fails(f, m, true, "unsupported qcow2 feature");
    fresh(f, "-o extended_l2=on");
    open_fails(f, m, true, "subclusters");
    fresh(f, "-o data_file=data.raw");
    open_fails(f, m, true, "external data file");
    fresh(f, "");
    patch_be(m, 72, 1, 8);                       /* dirty: read-only is fine */
    open_fails(f, m, false, "dirty");
    blk_close(open_ok(f, m, BLK_FORMAT_AUTO, true));
    fresh(f, "");
    patch_be(m, 72, 2, 8);                       /* corrupt: likewise */
    open_fails(f, m, false, "corrupt");
    blk_close(open_ok(f, m, BLK_FORMAT_AUTO, true));
    fresh(f, "");
    patch_be(m, 88, 1, 8);                       /* autoclear bits are cleared by a writer */
    blk_close(open_ok(f, m, BLK_FORMAT_AUTO, false));
    assert_int_equal(run(f, "qemu-img check m.qcow2"), 0);
}

static void test_backing_loops_and_depth(void **state)
{
    struct fx *f = *state;
    assert_int_equal(run(f, "qemu-img create -f qcow2 a.qcow2 1M && "
                            "qemu-img create -f qcow2 -b a.qcow2 -F qcow2 b.qcow2 && "
                            "qemu-img rebase -u -b b.qcow2 -F qcow2 a.qcow2"), 0);
    open_fails(f, P(f, "b.qcow2"), true, "loop");
    assert_int_equal(run(f, "qemu-img create -f qcow2 self.qcow2 1M && "
                            "qemu-img rebase -u -b self.qcow2 -F qcow2 self.qcow2"), 0);
    open_fails(f, P(f, "self.qcow2"), false, "loop");
    /* top + 16 backing files open; one more is refused */
    assert_int_equal(run(f, "qemu-img create -f raw c0 1M && for i in $(seq 1 17); do "
                            "qemu-img create -f qcow2 -b c$((i-1)) -F $([ $i = 1 ] && echo raw "
                            "|| echo qcow2) -u c$i 1M || exit 1; done"), 0);
    blk_close(open_ok(f, P(f, "c16"), BLK_FORMAT_AUTO, false));
    open_fails(f, P(f, "c17"), true, "deeper than 16");
}

/* ---- freed clusters are allocated again ---- */

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

/* A guest that writes and discards in a loop must not grow the file: freed clusters come back. */
static void test_qcow2_reuses_freed_clusters(void **state)
{
    struct fx *f = *state;
    const size_t size = 4 << 20;
    assert_int_equal(run(f, "qemu-img create -q -f qcow2 r.qcow2 %zu", size), 0);
    uint8_t *img = calloc(1, size), buf[65536];
    struct blk_backend *b = open_ok(f, P(f, "r.qcow2"), BLK_FORMAT_QCOW2, false);
    for (int i = 0; i < 1000; i++) {
        uint64_t off = (uint64_t)(i % 61) * 65536;
        fill(buf, sizeof(buf), (uint32_t)i);
        assert_int_equal(blk_pwrite(b, buf, sizeof(buf), off), 0);
        assert_int_equal(blk_discard(b, off, sizeof(buf)), 0);
    }
    /* keep some, discard others, write more: the holes are filled before the file grows */
    random_writes(b, img, size, 200, 100000, 21);
    assert_int_equal(blk_discard(b, 0, size / 2), 0);
    memset(img, 0, size / 2);
    random_writes(b, img, size, 200, 100000, 22);
    assert_disk_is(b, img, size);
    blk_close(b);
    assert_true(file_size(P(f, "r.qcow2")) < (off_t)size + (1 << 20));
    assert_qemu_sees(f, "r.qcow2", img, size);

    /* small clusters and a snapshot: shared clusters are not freed by the top's discards */
    assert_int_equal(run(f, "qemu-img create -q -f qcow2 -o cluster_size=4096 s.qcow2 %zu && "
                            "qemu-io -c 'write -P 9 0 1M' s.qcow2 && "
                            "qemu-img snapshot -c one s.qcow2", size), 0);
    memset(img, 0, size);
    memset(img, 9, 1 << 20);
    b = open_ok(f, P(f, "s.qcow2"), BLK_FORMAT_QCOW2, false);
    for (int i = 0; i < 300; i++) {
        uint64_t off = (uint64_t)i * 12288 + 4096;
        fill(buf, 8192, (uint32_t)i);
        assert_int_equal(blk_pwrite(b, buf, 8192, off), 0);
        assert_int_equal(blk_discard(b, off, 8192), 0);
        memset(img + off, 0, 8192);
    }
    random_writes(b, img, size, 100, 20000, 23);
    assert_disk_is(b, img, size);
    blk_close(b);
    assert_true(file_size(P(f, "s.qcow2")) < (off_t)size + (2 << 20));
    assert_qemu_sees(f, "s.qcow2", img, size);
    memset(img, 0, size);
    memset(img, 9, 1 << 20);
    assert_int_equal(run(f, "qemu-img convert -O raw -l snapshot.name=one s.qcow2 snap.raw"), 0);
    assert_file_is(P(f, "snap.raw"), img, size);
    free(img);
}

/* Killed in the middle of writes and discards that reuse clusters: qemu-img check stays clean
 * (at worst leaked clusters) and what was flushed reads back. */
static void test_qcow2_reuse_survives_kill(void **state)
{
    struct fx *f = *state;
    const size_t size = 1 << 20;
    assert_int_equal(run(f, "qemu-img create -q -f qcow2 -o cluster_size=4096 k.qcow2 1M"), 0);
    uint8_t *img = calloc(1, size);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct blk_backend *b = NULL;
        if (blk_open(P(f, "k.qcow2"), BLK_FORMAT_QCOW2, false, &b, NULL, 0))
            _exit(2);
        for (uint32_t i = 0; i < 20; i++) {
            random_writes(b, img, size, 20, 30000, 100 + i);
            if (blk_discard(b, (i * 40960) % size, 65536))
                _exit(3);
        }
        if (blk_flush(b))
            _exit(4);
        random_writes(b, img, size, 20, 30000, 99);   /* after the flush: may or may not land */
        raise(SIGKILL);
        _exit(5);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    assert_int_equal(run(f, "qemu-img check k.qcow2"), 0);
    for (uint32_t i = 0; i < 20; i++) {
        random_writes(NULL, img, size, 20, 30000, 100 + i);
        memset(img + (i * 40960) % size, 0, 65536);
    }
    random_writes(NULL, img, size, 20, 30000, 99);
    struct blk_backend *b = open_ok(f, P(f, "k.qcow2"), BLK_FORMAT_QCOW2, true);
    assert_disk_is(b, img, size);
    blk_close(b);
    free(img);
}

/* ---- a kill at every write ---- */

/* test_block links with -Wl,--wrap=pwrite, so every pwrite the backends make comes here. A child
 * given a budget dies of SIGKILL at the first write past it: the image is left as a kill at that
 * point would leave it (the page cache keeps every write that returned, in order). */
static long writes_left = -1;   /* -1: no limit */
ssize_t __real_pwrite(int fd, const void *buf, size_t n, off_t off);
ssize_t __wrap_pwrite(int fd, const void *buf, size_t n, off_t off);
ssize_t __wrap_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (writes_left == 0)
        raise(SIGKILL);
    if (writes_left > 0)
        writes_left--;
    return __real_pwrite(fd, buf, n, off);
}

#define KILL_WRITES 12

/* The workload: one cluster each at 16 KiB steps from 256 KiB, so that with 512-byte clusters
 * every write allocates a data cluster and every other one an L2 table too. */
static void kill_workload_write(struct blk_backend *b, uint8_t *buf, int i)
{
    fill(buf, 512, 1000 + (uint32_t)i);
    if (b && blk_pwrite(b, buf, 512, (256 << 10) + (uint64_t)i * (16 << 10)))
        _exit(3);
}

/* Runs the workload on a copy of BASE in a child killed at its Nth write, for every N until the
 * workload finishes unkilled. After each kill: qemu-img check finds at worst leaked clusters,
 * the image opens for writing again, and every write that returned reads back. */
static void kill_at_every_write(struct fx *f, const char *base)
{
    uint8_t buf[512], got[512];
    bool finished = false;
    for (long n = 0; !finished; n++) {
        assert_true(n < 10000);
        assert_int_equal(run(f, "cp '%s' k.qcow2", base), 0);
        int pfd[2];
        assert_int_equal(pipe(pfd), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(pfd[0]);
            struct blk_backend *b = NULL;
            writes_left = n;
            if (blk_open(P(f, "k.qcow2"), BLK_FORMAT_QCOW2, false, &b, NULL, 0))
                _exit(2);
            for (int i = 0; i < KILL_WRITES; i++) {
                kill_workload_write(b, buf, i);
                if (write(pfd[1], "w", 1) != 1)     /* write I returned */
                    _exit(4);
            }
            _exit(0);                               /* no kill: the budget was enough */
        }
        close(pfd[1]);
        int done = 0;
        char c;
        while (read(pfd[0], &c, 1) == 1)
            done++;
        close(pfd[0]);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        finished = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        assert_true(finished || (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL));
        /* 3: leaked clusters only (allocated, not yet pointed at); 2 would be corruption */
        int rc = run(f, "qemu-img check -f qcow2 k.qcow2");
        if (rc != 0 && rc != 3) {
            print_error("killed at write %ld: qemu-img check says %d\n", n, rc);
            size_t len;
            char *log = (char *)read_file(P(f, "cmd.log"), &len);
            print_error("%.*s", log ? (int)len : 0, log ? log : "");
            free(log);
        }
        assert_true(rc == 0 || rc == 3);
        struct blk_backend *b = open_ok(f, P(f, "k.qcow2"), BLK_FORMAT_QCOW2, false);
        for (int i = 0; i < done; i++) {
            kill_workload_write(NULL, buf, i);
            assert_int_equal(blk_pread(b, got, 512, (256 << 10) + (uint64_t)i * (16 << 10)), 0);
            assert_memory_equal(got, buf, 512);
        }
        blk_close(b);
        assert_true(done == KILL_WRITES || !finished);
    }
}

/* 512-byte clusters: each refcount block covers 128 KiB of file and each L2 table 32 KiB of disk.
 * The image is filled to just short of 128 KiB of file first, so the kills land in data
 * clusters, L2 tables and a new refcount block alike. */
static void make_kill_base(struct fx *f, const char *name)
{
    assert_int_equal(run(f, "qemu-img create -q -f qcow2 -o cluster_size=512 %s 1M", name), 0);
    struct blk_backend *b = open_ok(f, P(f, name), BLK_FORMAT_QCOW2, false);
    uint8_t buf[512];
    struct stat st;
    for (uint64_t off = 0; stat(P(f, name), &st) == 0 && st.st_size < (124 << 10); off += 512) {
        fill(buf, 512, (uint32_t)off);
        assert_int_equal(blk_pwrite(b, buf, 512, off), 0);
    }
    blk_close(b);
}

static void test_qcow2_kill_at_every_write(void **state)
{
    struct fx *f = *state;
    make_kill_base(f, "base.qcow2");
    kill_at_every_write(f, "base.qcow2");
}

/* The file is longer than its refcounts reach (a tail no refcount block covers, as an image
 * grown by hand or by another tool may be): the first allocation takes a cluster there, whose
 * refcount block must go at the end of the file, outside the range it covers. */
static void test_qcow2_kill_at_every_write_past_refcounts(void **state)
{
    struct fx *f = *state;
    make_kill_base(f, "base.qcow2");
    assert_int_equal(run(f, "truncate -s 384K base.qcow2 && qemu-img check -q base.qcow2"), 0);
    kill_at_every_write(f, "base.qcow2");
}

/* A crafted image: a 2 TiB sparse file whose 8 MiB refcount table points every entry at one
 * refcount block saying "in use". Looking for a freed cluster must not scan it all at once. */
static void test_qcow2_free_cluster_search_is_bounded(void **state)
{
    struct fx *f = *state;
    const char *m = P(f, "huge.qcow2");
    assert_int_equal(run(f, "qemu-img create -q -f qcow2 -o cluster_size=512,refcount_bits=1 "
                            "huge.qcow2 1M"), 0);
    uint64_t rt = ((uint64_t)file_size(m) + 511) & ~511ULL, rt_bytes = 8 << 20, rb = rt + rt_bytes;
    uint8_t *raw = malloc(rt_bytes), ones[512];
    assert_non_null(raw);
    for (uint64_t i = 0; i < rt_bytes; i += 8)
        for (int k = 0; k < 8; k++)
            raw[i + k] = (uint8_t)(rb >> (56 - 8 * k));
    memset(ones, 0xff, sizeof(ones));
    int fd = open(m, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, raw, rt_bytes, (off_t)rt), (ssize_t)rt_bytes);
    assert_int_equal(pwrite(fd, ones, sizeof(ones), (off_t)rb), (ssize_t)sizeof(ones));
    assert_int_equal(ftruncate(fd, (2LL << 40) - (1 << 20)), 0);
    close(fd);
    free(raw);
    patch_be(m, 48, rt, 8);
    patch_be(m, 56, rt_bytes / 512, 4);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(20);
        struct blk_backend *b = NULL;
        if (blk_open(m, BLK_FORMAT_QCOW2, false, &b, NULL, 0))
            _exit(2);
        (void)blk_pwrite(b, ones, sizeof(ones), 0);    /* fails or not, but soon */
        blk_close(b);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st))
        print_error("killed by signal %d\n", WTERMSIG(st));
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ---- a guest-written qcow2 header is never trusted ---- */

/* A raw disk whose first bytes a guest made a qcow2 header; NAME, when given, is its backing
 * file. The disk is 1 MiB, the header's virtual size too. Returns the disk's bytes. */
static uint8_t *guest_written_header(struct fx *f, const char *disk, const char *backing)
{
    if (backing)
        assert_int_equal(run(f, "qemu-img create -q -f qcow2 -u -b '%s' -F raw hdr.qcow2 1M",
                             backing), 0);
    else
        assert_int_equal(run(f, "qemu-img create -q -f qcow2 hdr.qcow2 1M"), 0);
    assert_int_equal(run(f, "cp hdr.qcow2 '%s' && truncate -s 1M '%s'", disk, disk), 0);
    size_t n;
    uint8_t *img = read_file(P(f, disk), &n);
    assert_non_null(img);
    assert_int_equal(n, 1 << 20);
    return img;
}

/* The overlay has no backing format: its raw base holds a qcow2 header naming a host file. The
 * base must read as the raw bytes the guest wrote, and the host file must stay closed. */
static void test_backing_file_is_never_probed(void **state)
{
    struct fx *f = *state;
    uint8_t *secret = malloc(1 << 20);
    fill(secret, 1 << 20, 42);
    write_file(P(f, "secret.raw"), secret, 1 << 20);
    uint8_t *base = guest_written_header(f, "base.raw", P(f, "secret.raw"));
    assert_int_equal(run(f, "qemu-img create -q -f qcow2 -b base.raw -F raw ov.qcow2 1M"), 0);
    uint8_t hl[4];                              /* the backing-format extension comes first */
    int fd = open(P(f, "ov.qcow2"), O_RDONLY);
    assert_int_equal(pread(fd, hl, 4, 100), 4);
    close(fd);
    patch_be(P(f, "ov.qcow2"), (off_t)hl[0] << 24 | hl[1] << 16 | hl[2] << 8 | hl[3], 0, 4);
    expect_failure = true;
    assert_int_not_equal(run(f, "qemu-img info ov.qcow2 | grep -q 'backing file format'"), 0);
    expect_failure = false;
    /* a writer of the secret would conflict with a reader's shared lock: it must be free */
    struct blk_backend *w = open_ok(f, P(f, "secret.raw"), BLK_FORMAT_RAW, false);
    struct blk_backend *b = open_ok(f, P(f, "ov.qcow2"), BLK_FORMAT_QCOW2, true);
    blk_close(w);
    assert_disk_is(b, base, 1 << 20);
    assert_non_null(strstr(blk_warning(b), "looks like qcow2 but is read as raw"));
    blk_close(b);
    b = open_ok(f, P(f, "ov.qcow2"), BLK_FORMAT_QCOW2, false);
    assert_disk_is(b, base, 1 << 20);
    blk_close(b);
    free(base);
    free(secret);
}

/* Without format=, a writable image is not opened as qcow2 on its magic alone: the guest may
 * have written it. A read-only one may be probed; a named format is always honoured. */
static void test_writable_image_is_not_probed_as_qcow2(void **state)
{
    struct fx *f = *state;
    uint8_t *disk = guest_written_header(f, "d.raw", NULL);
    struct blk_backend *b = NULL;
    f->err[0] = '\0';
    assert_int_equal(blk_open(P(f, "d.raw"), BLK_FORMAT_AUTO_STRICT, false, &b, f->err,
                              sizeof(f->err)), -EPERM);
    assert_null(b);
    assert_non_null(strstr(f->err, P(f, "d.raw")));
    assert_non_null(strstr(f->err, "looks like qcow2"));
    assert_non_null(strstr(f->err, "format=qcow2"));
    b = open_ok(f, P(f, "d.raw"), BLK_FORMAT_RAW, false);
    assert_int_equal(blk_format(b), BLK_FORMAT_RAW);
    assert_disk_is(b, disk, 1 << 20);
    blk_close(b);
    b = open_ok(f, P(f, "d.raw"), BLK_FORMAT_AUTO_STRICT, true);
    assert_int_equal(blk_format(b), BLK_FORMAT_QCOW2);
    blk_close(b);
    b = open_ok(f, P(f, "d.raw"), BLK_FORMAT_QCOW2, false);
    assert_int_equal(blk_format(b), BLK_FORMAT_QCOW2);
    blk_close(b);
    /* a raw image is still found raw without format= */
    assert_int_equal(run(f, "truncate -s 1M plain.raw"), 0);
    b = open_ok(f, P(f, "plain.raw"), BLK_FORMAT_AUTO_STRICT, false);
    assert_int_equal(blk_format(b), BLK_FORMAT_RAW);
    blk_close(b);
    free(disk);
}

static void test_missing_backing_file_named(void **state)
{
    struct fx *f = *state;
    assert_int_equal(run(f, "qemu-img create -f qcow2 -u -b gone.raw -F raw o.qcow2 1M"), 0);
    open_fails(f, P(f, "o.qcow2"), true, "gone.raw");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_raw_read_write_discard_zeroes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_range_is_einval, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qcow2_writes_default_clusters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qcow2_writes_small_clusters_new_refblocks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_qcow2_refcount_table_grows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qcow2_writes_v2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qcow2_writes_refcount_widths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qcow2_reads_qemu_data_and_compressed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_qcow2_backing_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qcow2_backing_smaller_than_overlay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qcow2_v2_overlay_discard_keeps_backing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_qcow2_zero_clusters_and_discard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qcow2_snapshot_copy_on_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flushed_data_survives_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writable_image_is_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlay_is_a_linked_clone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlay_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_id_is_stable_per_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_headers_fail_cleanly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsupported_features_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backing_loops_and_depth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_backing_file_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qcow2_reuses_freed_clusters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qcow2_reuse_survives_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qcow2_free_cluster_search_is_bounded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_qcow2_kill_at_every_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qcow2_kill_at_every_write_past_refcounts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_backing_file_is_never_probed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writable_image_is_not_probed_as_qcow2, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
