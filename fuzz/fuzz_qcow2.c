/* libFuzzer target for the qcow2 backend: the input is an image file. It is opened read-only and
 * read at a few places; when the input's last byte is odd, it is also opened for writing and
 * written, discarded and zeroed a little. Build and run with tools/fuzz fuzz_qcow2 SECONDS. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend/block.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t buf[3 * 65536 + 1];

/* Offsets derived from the input, so the fuzzer can steer them. */
static uint64_t pick(const uint8_t *data, size_t size, unsigned k, uint64_t limit)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ k;
    for (size_t i = size > 16 ? size - 16 : 0; i < size; i++)
        h = (h ^ data[i]) * 0x100000001b3ULL;
    return limit ? (h >> 7) % limit : 0;
}

static void read_some(struct blk_backend *b, const uint8_t *data, size_t size)
{
    uint64_t disk = blk_size(b);
    uint64_t len = disk < sizeof(buf) ? disk : sizeof(buf);
    (void)blk_pread(b, buf, len, 0);
    (void)blk_pread(b, buf, len, disk - len);
    for (unsigned k = 0; k < 3; k++) {
        uint64_t n = 1 + pick(data, size, k, len);
        (void)blk_pread(b, buf, n, pick(data, size, k + 10, disk - n + 1));
    }
}

static void write_some(struct blk_backend *b, const uint8_t *data, size_t size)
{
    uint64_t disk = blk_size(b);
    uint64_t len = disk < sizeof(buf) ? disk : sizeof(buf);
    memset(buf, 0x5a, sizeof(buf));
    for (unsigned k = 0; k < 3; k++) {
        uint64_t n = 1 + pick(data, size, k + 20, len);
        (void)blk_pwrite(b, buf, n, pick(data, size, k + 30, disk - n + 1));
    }
    uint64_t n = pick(data, size, 40, disk + 1);
    (void)blk_discard(b, pick(data, size, 41, disk - n + 1), n);
    n = pick(data, size, 42, disk + 1);
    (void)blk_write_zeroes(b, pick(data, size, 43, disk - n + 1), n, data[0] & 1);
    read_some(b, data, size);
    (void)blk_flush(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-qcow2", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64], err[256];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct blk_backend *b = NULL;
    if (blk_open(path, BLK_FORMAT_QCOW2, true, &b, err, sizeof(err)) == 0) {
        read_some(b, data, size);
        blk_close(b);
    }
    if (size && (data[size - 1] & 1) &&
        blk_open(path, BLK_FORMAT_QCOW2, false, &b, err, sizeof(err)) == 0) {
        write_some(b, data, size);
        blk_close(b);
    }
    close(fd);
    return 0;
}
