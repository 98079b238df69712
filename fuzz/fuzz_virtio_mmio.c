/* libFuzzer target for the virtio-mmio transport with a device model behind it: blk over a
 * raw disk in memory, net over a fake backend, console over a pipe, or rng. The input's
 * first bytes choose the device; then come up to 64 eight-byte operations a driver or the
 * host side could do (register reads and writes of any size and offset, a quick bring-up,
 * descriptors, offers, notifies, status writes, resets, frames and bytes from the host); the
 * rest is guest RAM, so rings and buffers are whatever the fuzzer makes of them. The models'
 * worker threads run on this thread (support/sync_worker.c): an input always does the same.
 * Build and run with tools/fuzz fuzz_virtio_mmio SECONDS. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend/block.h"
#include "dev/virtio/blk.h"
#include "dev/virtio/console.h"
#include "dev/virtio/net.h"
#include "dev/virtio/rng.h"
#include "dev/virtio/virtio_mmio.h"
#include "support/fake_net.h"
#include "support/sync_worker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (64u << 10)
#define DISK_SIZE (256u << 10)
#define HDR 2
#define OP 8
#define OPS_MAX 64
#define PASSES 64

enum { DEV_BLK, DEV_NET, DEV_CONSOLE, DEV_RNG };

struct rig {
    int kind;
    struct virtio_dev *d;
    struct virtio_blk *blk;
    struct virtio_net *net;
    struct virtio_console *con;
    struct virtio_rng *rng;
    int disk_fd, con_in; /* the disk image; the host's end of the console's input */
    uint8_t *ram;
    struct guest_mem mem;
};

static int irq_level;
static bool trace; /* FUZZ_TRACE=1 in the environment: say how each input ended */

static void fake_irq(void *ctx, unsigned num, int level)
{
    (void)ctx;
    (void)num;
    irq_level = level;
}

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* Rings of queue q (0..2) in the quick bring-up; 3 names an indirect table. */
static uint64_t q_desc(unsigned q) { return RAM_BASE + 0x1000 + 0x4000ULL * q; }
static uint64_t q_avail(unsigned q) { return q_desc(q) + 0x1000; }
static uint64_t q_used(unsigned q) { return q_desc(q) + 0x2000; }

static uint64_t rd(struct rig *r, uint64_t off, unsigned size)
{
    uint64_t v = 0;
    r->d->region.read(r->d->region.dev, off, size, &v);
    return v;
}

static void wr(struct rig *r, uint64_t off, unsigned size, uint64_t v)
{
    r->d->region.write(r->d->region.dev, off, size, v);
}

static void bring_up(struct rig *r, const uint8_t *op)
{
    uint64_t features = le32(op + 2) | (uint64_t)op[6] << 32;
    uint32_t qsize = 1u << (op[1] % 9);
    wr(r, R_STATUS, 4, 0);
    wr(r, R_STATUS, 4, 1);
    wr(r, R_STATUS, 4, 3);
    wr(r, R_DRV_FEATURES_SEL, 4, 0);
    wr(r, R_DRV_FEATURES, 4, (uint32_t)features);
    wr(r, R_DRV_FEATURES_SEL, 4, 1);
    wr(r, R_DRV_FEATURES, 4, features >> 32);
    wr(r, R_STATUS, 4, 11);
    for (unsigned q = 0; q < 3; q++) {
        wr(r, R_QUEUE_SEL, 4, q);
        wr(r, R_QUEUE_NUM, 4, qsize);
        wr(r, R_QUEUE_DESC_LO, 4, (uint32_t)q_desc(q));
        wr(r, R_QUEUE_DESC_HI, 4, q_desc(q) >> 32);
        wr(r, R_QUEUE_AVAIL_LO, 4, (uint32_t)q_avail(q));
        wr(r, R_QUEUE_AVAIL_HI, 4, q_avail(q) >> 32);
        wr(r, R_QUEUE_USED_LO, 4, (uint32_t)q_used(q));
        wr(r, R_QUEUE_USED_HI, 4, q_used(q) >> 32);
        wr(r, R_QUEUE_READY, 4, 1);
    }
    if (!(op[7] & 1))
        wr(r, R_STATUS, 4, 15);
}

/* A driver's side of the rings, through RAM as the guest sees it. */
static void offer(struct rig *r, unsigned q, uint16_t head)
{
    uint8_t *avail = r->ram + (q_avail(q) - RAM_BASE);
    uint16_t idx = le16(avail + 2);
    wr(r, R_QUEUE_SEL, 4, q); /* to read its size back, as a driver knows it */
    uint32_t qsize = (uint32_t)rd(r, R_QUEUE_NUM, 4);
    unsigned slot = qsize ? idx % qsize : idx % 256;
    memcpy(avail + 4 + 2 * slot, &head, 2);
    idx++;
    memcpy(avail + 2, &idx, 2);
}

static void set_desc(struct rig *r, const uint8_t *op)
{
    unsigned q = op[1] & 3, next = op[1] >> 2;
    uint64_t table = q < 3 ? q_desc(q) : RAM_BASE + 0xd000;
    uint64_t addr = RAM_BASE + le16(op + 3);
    if (op[7] & 0x80)
        addr = (uint64_t)le16(op + 3) << 40 | 0xff0; /* outside RAM */
    uint32_t len = le16(op + 5) & 0x7fff;
    if (op[7] & 0x40)
        len <<= 8; /* bigger than RAM */
    uint16_t flags = op[7] & 7, nx = (uint16_t)next;
    uint8_t *p = r->ram + (table - RAM_BASE) + 16u * op[2];
    memcpy(p, &addr, 8);
    memcpy(p + 8, &len, 4);
    memcpy(p + 12, &flags, 2);
    memcpy(p + 14, &nx, 2);
}

/* Something from the host side: a frame from the network, bytes typed on the console, or a
 * reset of the whole VM. */
static void host_side(struct rig *r, const uint8_t *op)
{
    if (r->kind == DEV_NET) {
        size_t len = le16(op + 1) % 2048, at = le16(op + 3) % RAM_SIZE;
        fuzz_net_queue(r->ram + at, len < RAM_SIZE - at ? len : RAM_SIZE - at);
    } else if (r->kind == DEV_CONSOLE) {
        if (write(r->con_in, op + 2, op[1] % 7) < 0) {
            /* a full pipe: the bytes are lost, as a user's keys would be */
        }
        fuzz_workers_wake(); /* the console's thread polls the pipe */
    } else {
        virtio_mmio_reset(r->d);
    }
}

static void one_op(struct rig *r, const uint8_t *op)
{
    uint8_t mode = op[2];
    uint64_t off = mode & 0x80 ? (op[1] | (mode & 1u) << 8) : (op[1] * 4u) & 0x1fc;
    unsigned sz = mode & 0x40 ? 1u << (mode >> 4 & 3) : 4;
    uint64_t val = le32(op + 3) | (uint64_t)op[7] << 32;
    switch (op[0] & 7) {
    case 0: wr(r, off, sz, val); break;
    case 1: (void)rd(r, off, sz); break;
    case 2: bring_up(r, op); break;
    case 3: wr(r, R_QUEUE_NOTIFY, 4, op[1] % 4); break;
    case 4: offer(r, op[1] % 3, (uint16_t)(op[2] | (op[3] & 0x80 ? op[3] << 8 : 0))); break;
    case 5: set_desc(r, op); break;
    case 6: host_side(r, op); break;
    default: wr(r, R_STATUS, 4, op[1]); break;
    }
    fuzz_workers_run(PASSES);
    if (r->kind == DEV_NET) {
        fuzz_net_deliver();
        fuzz_workers_run(PASSES);
    }
    /* the line is up exactly while InterruptStatus has a bit set */
    if (irq_level != (r->d->isr != 0))
        __builtin_trap();
}

static int open_disk(struct rig *r, bool readonly)
{
    r->disk_fd = memfd_create("fuzz-disk", MFD_CLOEXEC);
    if (r->disk_fd < 0 || ftruncate(r->disk_fd, DISK_SIZE))
        return -1;
    char path[64], err[256];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", r->disk_fd);
    struct blk_backend *be;
    if (blk_open(path, BLK_FORMAT_RAW, readonly, &be, err, sizeof(err)))
        return -1;
    struct virtio_slot s = { "virtio-blk", 0x10001000, { fake_irq, NULL, 1 }, &r->mem };
    r->blk = virtio_blk_create(&s, be, NULL);
    if (!r->blk) {
        blk_close(be);
        return -1;
    }
    return 0;
}

static int rig_create(struct rig *r, uint8_t how)
{
    static const char *const net_kinds[4] = { "user", "tap", "switch", "user" };
    struct virtio_slot s = { "virtio", 0x10001000, { fake_irq, NULL, 1 }, &r->mem };
    char err[256];
    r->kind = how & 3;
    r->disk_fd = r->con_in = -1;
    switch (r->kind) {
    case DEV_BLK:
        if (open_disk(r, how & 4))
            return -1;
        r->d = virtio_blk_dev(r->blk);
        break;
    case DEV_NET:
        r->net = virtio_net_create(&s, net_kinds[how >> 3 & 3], 0, NULL, NULL, err, sizeof(err));
        if (!r->net)
            return -1;
        r->d = virtio_net_dev(r->net);
        break;
    case DEV_CONSOLE: {
        int in[2];
        int out = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (out < 0 || pipe2(in, O_CLOEXEC)) {
            if (out >= 0)
                close(out);
            return -1;
        }
        r->con_in = in[1];
        r->con = virtio_console_create(&s, in[0], out);
        if (!r->con)
            return -1;
        r->d = virtio_console_dev(r->con);
        break;
    }
    default:
        r->rng = virtio_rng_create(&s);
        if (!r->rng)
            return -1;
        r->d = virtio_rng_dev(r->rng);
        break;
    }
    return 0;
}

static void rig_destroy(struct rig *r)
{
    if (r->d)
        virtio_mmio_reset(r->d);
    virtio_blk_destroy(r->blk);
    if (r->net)
        virtio_net_destroy(r->net);
    virtio_console_destroy(r->con);
    virtio_rng_destroy(r->rng);
    if (r->disk_fd >= 0)
        close(r->disk_fd);
    if (r->con_in >= 0)
        close(r->con_in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HDR)
        return 0;
    struct rig r = { 0 };
    static bool env_read;
    if (!env_read) {
        env_read = true;
        trace = getenv("FUZZ_TRACE") != NULL;
    }
    /* a fresh allocation of exactly RAM_SIZE each time, so that ASan sees any step past it */
    r.ram = calloc(1, RAM_SIZE);
    if (!r.ram)
        return 0;
    r.mem = (struct guest_mem){ r.ram, RAM_BASE, RAM_SIZE, NULL };
    irq_level = 0;
    size_t nops = data[1] % (OPS_MAX + 1);
    if (nops > (size - HDR) / OP)
        nops = (size - HDR) / OP;
    const uint8_t *ops = data + HDR, *img = ops + nops * OP;
    size_t img_len = size - HDR - nops * OP;
    memcpy(r.ram, img, img_len < RAM_SIZE ? img_len : RAM_SIZE);
    if (rig_create(&r, data[0]) == 0)
        for (size_t i = 0; i < nops; i++)
            one_op(&r, ops + i * OP);
    if (trace && r.d)
        fprintf(stderr, "status %#x isr %#x used idx %u %u %u\n", r.d->status, r.d->isr,
                le16(r.ram + (q_used(0) - RAM_BASE) + 2), le16(r.ram + (q_used(1) - RAM_BASE) + 2),
                le16(r.ram + (q_used(2) - RAM_BASE) + 2));
    rig_destroy(&r);
    free(r.ram);
    return 0;
}
