/* libFuzzer target for split virtqueues: the input's first 16 bytes choose the queue (size, ring
 * offsets, indices, negotiated features), the rest is the guest's 64 KiB of RAM holding the rings.
 * Requests are popped, read, written and returned as a device would; each one is checked to lie
 * in RAM. Build and run with tools/fuzz fuzz_virtq SECONDS. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dev/virtio/virtqueue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE 65536
#define HDR 16
#define MAX_POPS 64

static struct virtq_req req;
static uint8_t scratch[4096];

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* A ring address: usually an offset into RAM, sometimes (when the fuzzer sets the flag) far
 * from it, to try the bounds. */
static uint64_t ring_gpa(const uint8_t *p, bool wild)
{
    uint64_t off = le16(p);
    return wild ? off << 48 | 0xfff0 : RAM_BASE + off;
}

/* Every buffer must be host memory inside RAM, and the counts must add up. */
static void check_req(const struct virtq_req *r, const uint8_t *ram)
{
    if (r->n_out + r->n_in > VIRTQ_MAX_SEGS)
        __builtin_trap();
    size_t out = 0, in = 0;
    for (unsigned i = 0; i < r->n_out + r->n_in; i++) {
        const uint8_t *b = r->iov[i].iov_base;
        size_t l = r->iov[i].iov_len;
        if (b < ram || b > ram + RAM_SIZE || l > (size_t)(ram + RAM_SIZE - b))
            __builtin_trap();
        *(i < r->n_out ? &out : &in) += l;
    }
    if (out != r->out_len || in != r->in_len)
        __builtin_trap();
}

static void work(struct virtq *q, const uint8_t *ram, const uint8_t *h)
{
    unsigned pops = 1 + h[13] % MAX_POPS;
    for (unsigned n = 0; n < pops; n++) {
        int rc = virtq_pop(q, &req);
        if (rc <= 0)
            break;
        check_req(&req, ram);
        size_t off = h[14] * 7u;
        size_t got = virtq_copy_from_out(&req, off, scratch, sizeof(scratch));
        if (got > sizeof(scratch) || got > req.out_len)
            __builtin_trap();
        size_t put = virtq_copy_to_in(&req, off / 2, scratch, h[15] * 16u);
        if (put > req.in_len)
            __builtin_trap();
        virtq_push(q, req.head, (uint32_t)put);
        if (n & 1)
            (void)virtq_need_interrupt(q);
    }
    (void)virtq_need_interrupt(q);
    virtq_enable_kick(q);
    (void)virtq_has_avail(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HDR)
        return 0;
    const uint8_t *h = data;
    /* a fresh allocation of exactly RAM_SIZE each time, so that ASan sees any step past it */
    uint8_t *ram = calloc(1, RAM_SIZE);
    if (!ram)
        return 0;
    size_t img = size - HDR < RAM_SIZE ? size - HDR : RAM_SIZE;
    memcpy(ram, data + HDR, img);
    struct guest_mem mem = { ram, RAM_BASE, RAM_SIZE, NULL };
    struct virtq q = { .mem = &mem };
    /* h[0]: low 4 bits a power of two up to 1024 (or, with bit 7, h[1] as the raw size) */
    q.size = h[0] & 0x80 ? h[1] : (uint16_t)(1u << ((h[0] & 15) % 11));
    if (h[0] & 0x40)
        q.size = (uint16_t)(q.size << 4); /* sizes beyond VIRTQ_MAX_SIZE too */
    bool wild = h[0] & 0x20;
    q.desc_gpa = ring_gpa(h + 2, wild && (h[12] & 0x10));
    q.avail_gpa = ring_gpa(h + 4, wild && (h[12] & 0x20));
    q.used_gpa = ring_gpa(h + 6, wild && (h[12] & 0x40));
    q.indirect = h[12] & 1;
    q.event_idx = h[12] & 2;
    if (virtq_validate(&q) == 0) {
        q.ready = true;
        q.last_avail = le16(h + 8);
        q.used_idx = le16(h + 10);
        q.signalled_used = q.used_idx;
        q.signalled_valid = h[12] & 4;
        work(&q, ram, h);
    }
    free(ram);
    return 0;
}
