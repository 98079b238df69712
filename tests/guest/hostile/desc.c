/* Descriptor attacks on every virtio device the VM has: loops, a 64K-entry chain, nested
 * and malformed indirect tables, buffers at, across and past the end of RAM, lengths of
 * 2^32-1, bad heads and indices. Each must end in DEVICE_NEEDS_RESET (virtio 1.2 2.1.2) or,
 * for a block request the device can still answer, an error status; then the device is
 * reset and must serve a normal request. Block requests with bad sectors follow. */
#include "rt.h"

static struct vdev d;
static struct vdesc big[65536] __attribute__((aligned(16))); /* 1 MiB indirect table */
static struct vdesc small[8] __attribute__((aligned(16)));
static uint8_t buf[4096] __attribute__((aligned(4096)));
static uint8_t blk_status;

/* The flags a descriptor of the attacked queue carries: rng and the receive side want
 * writable buffers, everything else readable ones. */
static uint16_t dir(void)
{
    return d.id == VIRTIO_RNG ? VD_WRITE : 0;
}

static void set(volatile struct vdesc *t, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                uint16_t next)
{
    t[i].addr = addr;
    t[i].len = len;
    t[i].flags = flags;
    t[i].next = next;
}

static struct vq *mq(void)
{
    return &d.q[vio_main_queue(&d)];
}

/* Offers head 0 (or HEAD) of the main queue, which the attack has filled, and expects the
 * device to refuse it; then recovery. */
static void expect_refused(const char *attack, uint16_t head)
{
    unsigned n = vio_main_queue(&d);
    blk_status = 0xee;
    vq_offer(&d, n, head);
    uint32_t len = 0;
    int r = vq_wait(&d, n, 1000, &len);
    bool ok = r == -1 || (d.id == VIRTIO_BLK && r == 1 && (blk_status == 1 || blk_status == 2));
    rt_puts(d.name);
    rt_puts(": ");
    rt_puts(attack);
    rt_verdict_val(ok, " -> NEEDS_RESET or error status", r == -1 ? "status" : "used", vio_status(&d));
    vio_recover(&d, attack);
}

/* For blk the chain must look like a request up to the part under attack: a header first. */
static volatile struct vdesc *fresh(void)
{
    vio_init(&d);
    return mq()->desc;
}

static void attack_loops(void)
{
    volatile struct vdesc *t = fresh();
    set(t, 0, (uintptr_t)buf, 16, dir() | VD_NEXT, 1);
    set(t, 1, (uintptr_t)buf, 16, dir() | VD_NEXT, 0);
    expect_refused("two-descriptor loop", 0);

    t = fresh();
    set(t, 0, (uintptr_t)buf, 16, dir() | VD_NEXT, 0);
    expect_refused("self loop", 0);

    t = fresh();
    for (unsigned i = 0; i < QSIZE; i++)
        set(t, i, (uintptr_t)buf, 1, dir() | VD_NEXT, (uint16_t)((i + 1) % QSIZE));
    expect_refused("loop through the whole ring", 0);

    t = fresh();
    set(t, 0, (uintptr_t)buf, 16, dir() | VD_NEXT, 0xffff);
    expect_refused("next out of range", 0);

    t = fresh();
    set(t, 0, (uintptr_t)buf, 16, dir(), 0);
    expect_refused("head out of range", 0xffff);

    t = fresh();
    set(t, 0, (uintptr_t)buf, 16, VD_WRITE | VD_NEXT, 1);
    set(t, 1, (uintptr_t)buf, 16, 0, 0);
    expect_refused("readable after writable", 0);
}

static void attack_indirect(void)
{
    /* 65536 entries chained one after another: far past any queue or segment limit */
    for (unsigned i = 0; i < 65536; i++)
        set(big, i, (uintptr_t)buf, 1, dir() | (i + 1 < 65536 ? VD_NEXT : 0), (uint16_t)(i + 1));
    volatile struct vdesc *t = fresh();
    set(t, 0, (uintptr_t)big, sizeof(big), VD_INDIRECT, 0);
    expect_refused("64K indirect chain", 0);

    /* the same table, but looping back to its start at the end */
    set(big, 65535, (uintptr_t)buf, 1, dir() | VD_NEXT, 0);
    t = fresh();
    set(t, 0, (uintptr_t)big, sizeof(big), VD_INDIRECT, 0);
    expect_refused("64K indirect loop", 0);

    for (unsigned i = 0; i < 8; i++)
        set(small, i, (uintptr_t)buf, 16, dir() | VD_NEXT, (uint16_t)((i + 1) % 8));
    t = fresh();
    set(t, 0, (uintptr_t)small, sizeof(small), VD_INDIRECT, 0);
    expect_refused("indirect loop", 0);

    set(small, 0, (uintptr_t)small, sizeof(small), VD_INDIRECT, 0);
    t = fresh();
    set(t, 0, (uintptr_t)small, sizeof(small), VD_INDIRECT, 0);
    expect_refused("indirect table inside an indirect table", 0);

    set(small, 0, (uintptr_t)buf, 16, dir(), 0);
    t = fresh();
    set(t, 0, (uintptr_t)small, 16, VD_INDIRECT | VD_NEXT, 1);
    set(t, 1, (uintptr_t)small, 16, VD_INDIRECT, 0);
    expect_refused("indirect with NEXT", 0);

    t = fresh();
    set(t, 0, (uintptr_t)small, 17, VD_INDIRECT, 0);
    expect_refused("indirect length not a multiple of 16", 0);

    t = fresh();
    set(t, 0, RAM_END - 64, 128, VD_INDIRECT, 0);
    expect_refused("indirect table across the end of RAM", 0);

    t = fresh();
    set(t, 0, RAM_BASE, 0xfffffff0u, VD_INDIRECT, 0);
    expect_refused("indirect table of 2^32-16 bytes", 0);

    set(small, 0, RAM_END - 8, 16, dir(), 0);
    t = fresh();
    set(t, 0, (uintptr_t)small, 16, VD_INDIRECT, 0);
    expect_refused("indirect entry across the end of RAM", 0);
}

static void attack_addresses(void)
{
    static const struct { uint64_t addr; uint32_t len; const char *what; } bad[] = {
        { RAM_END, 1, "buffer at the end of RAM" },
        { RAM_END - 8, 16, "buffer across the end of RAM" },
        { RAM_END + 0x1000, 16, "buffer past the end of RAM" },
        { 0xfffffffffffffff0ULL, 32, "buffer wrapping the address space" },
        { RAM_BASE - 8, 16, "buffer across the start of RAM" },
        { UART_BASE, 8, "buffer on MMIO" },
        { 0, 16, "buffer at address 0" },
        { RAM_BASE, 0xffffffffu, "length 2^32-1" },
        { RAM_END - 1, 0xffffffffu, "length 2^32-1 at the end of RAM" },
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        volatile struct vdesc *t = fresh();
        set(t, 0, bad[i].addr, bad[i].len, dir(), 0);
        expect_refused(bad[i].what, 0);
    }
    /* the ring itself claims more entries than it holds */
    fresh();
    struct vq *q = mq();
    set(q->desc, 0, (uintptr_t)buf, 16, dir(), 0);
    q->avail_idx = 1000;
    expect_refused("available index 1000 ahead", 0);
}

/* One request of 1024 buffers of 60 MiB each, all naming the same RAM: 60 GiB that no
 * device may take its time over while the driver waits. It may be served, refused or left
 * pending, but a reset 20 ms later must be done at once (under 100 ms). */
static void attack_huge(void)
{
    static uint32_t hdr[4];
    static uint8_t status;
    uint16_t f = dir();
    for (unsigned i = 0; i < 1024; i++)
        set(big, i, RAM_BASE, 60u << 20, f | (i < 1023 ? VD_NEXT : 0), (uint16_t)(i + 1));
    if (d.id == VIRTIO_BLK) { /* a read: header, then writable data and status */
        set(big, 0, (uintptr_t)hdr, 16, VD_NEXT, 1);
        for (unsigned i = 1; i < 1023; i++)
            big[i].flags = VD_WRITE | VD_NEXT;
        set(big, 1023, (uintptr_t)&status, 1, VD_WRITE, 0);
    }
    volatile struct vdesc *t = fresh();
    set(t, 0, (uintptr_t)big, 1024 * 16, VD_INDIRECT, 0);
    vq_offer(&d, vio_main_queue(&d), 0);
    delay_ms(20);
    uint64_t t0 = rdtime();
    vio_reset(&d);
    uint64_t ms = (rdtime() - t0) / 10000;
    rt_puts(d.name);
    rt_verdict_val(ms < 100 && !vio_status(&d), ": 1024 x 60 MiB buffers, reset 20 ms later -> reset at once",
                   "ms", ms);
    vio_recover(&d, "1024 x 60 MiB buffers");
}

/* The receive queue: bad buffers posted, then a frame made to arrive (the gateway's
 * answer to an ARP request). The device must refuse the queue, or give the buffer back
 * without writing into a buffer that is not device-writable or too small. */
static void net_rx_attacks(void)
{
    static const struct { uint64_t addr; uint32_t len; uint16_t flags; bool may_return; const char *what; } rx[] = {
        { 0, 16, VD_WRITE | VD_NEXT, false, "receive loop" },
        { RAM_END - 64, 2048, VD_WRITE, false, "receive buffer across the end of RAM" },
        { 0, 2048, 0, true, "receive buffer not device-writable" },
        { 0, 1, VD_WRITE, true, "receive buffer of 1 byte" },
        { 0, 0, VD_WRITE, true, "receive buffer of 0 bytes" },
    };
    for (unsigned i = 0; i < sizeof(rx) / sizeof(rx[0]); i++) {
        vio_init(&d);
        volatile struct vdesc *t = d.q[0].desc;
        rt_memset(buf, 0x5a, 64);
        set(t, 0, rx[i].addr ? rx[i].addr : (uintptr_t)buf, rx[i].len, rx[i].flags, 0);
        vq_offer(&d, 0, 0);
        vio_net_send_arp(&d);
        uint32_t len = 99;
        int r = vq_wait(&d, 0, 2000, &len);
        bool untouched = buf[0] == 0x5a && buf[1] == 0x5a;
        bool ok = r == -1 || (rx[i].may_return && r == 1 && len == 0 && untouched);
        rt_puts("net: ");
        rt_puts(rx[i].what);
        rt_verdict_val(ok, " -> NEEDS_RESET, or returned unwritten", "rc", (uint64_t)(int64_t)r);
        vio_recover(&d, rx[i].what);
    }
}

/* Checksum offload asked with offsets at and past the frame's end. */
static void net_csum_attacks(void)
{
    static const uint16_t so[][2] = { { 0xffff, 0xffff }, { 53, 0 }, { 52, 0 }, { 0, 0xfffe }, { 40, 13 } };
    unsigned bad = 0;
    for (unsigned i = 0; i < sizeof(so) / sizeof(so[0]); i++) {
        vio_init(&d);
        uint8_t *f = buf;
        rt_memset(f, 0, 12 + 54);
        f[0] = 1; /* NEEDS_CSUM */
        f[6] = (uint8_t)so[i][0];
        f[7] = (uint8_t)(so[i][0] >> 8);
        f[8] = (uint8_t)so[i][1];
        f[9] = (uint8_t)(so[i][1] >> 8);
        rt_memset(f + 12, 0xff, 6); /* broadcast, so nobody minds */
        set(d.q[1].desc, 0, (uintptr_t)f, 12 + 54, 0, 0);
        vq_offer(&d, 1, 0);
        bad += vq_wait(&d, 1, 2000, NULL) != 1;
    }
    rt_verdict_val(!bad, "net: checksum offsets at and past the frame's end -> frames sent and returned",
                   "not returned", bad);
    vio_recover(&d, "checksum offsets");
}

/* The balloon's statistics (2) and free page reporting (3) queues. A report is device-
 * writable ranges of RAM; anything else is refused. Statistics buffers are held until the
 * host wants fresh ones, so a huge one only has to survive a reset. */
static void balloon_attacks(void)
{
    static const struct { uint64_t addr; uint32_t len; uint16_t flags; const char *what; } rep[] = {
        { RAM_END - 4096, 8192, VD_WRITE, "free page report across the end of RAM" },
        { RAM_BASE, 0xffffffffu, VD_WRITE, "free page report of 2^32-1 bytes" },
        { 0, 4096, 0, "free page report not device-writable" },
    };
    for (unsigned i = 0; i < sizeof(rep) / sizeof(rep[0]); i++) {
        vio_init(&d);
        set(d.q[3].desc, 0, rep[i].addr ? rep[i].addr : (uintptr_t)buf, rep[i].len, rep[i].flags, 0);
        vq_offer(&d, 3, 0);
        int r = vq_wait(&d, 3, 1000, NULL);
        rt_puts("balloon: ");
        rt_puts(rep[i].what);
        rt_verdict_val(r == -1, " -> NEEDS_RESET", "rc", (uint64_t)(int64_t)r);
        vio_recover(&d, rep[i].what);
    }
    /* statistics: 60 GiB of them, then a torn entry and unknown tags, each replacing the last */
    vio_init(&d);
    for (unsigned i = 0; i < 1024; i++)
        set(big, i, RAM_BASE, 60u << 20, i < 1023 ? VD_NEXT : 0, (uint16_t)(i + 1));
    set(d.q[2].desc, 0, (uintptr_t)big, 1024 * 16, VD_INDIRECT, 0);
    vq_offer(&d, 2, 0);
    rt_memset(buf, 0xee, 23);
    set(d.q[2].desc, 1, (uintptr_t)buf, 23, 0, 0);
    vq_offer(&d, 2, 1);
    int r = vq_wait(&d, 2, 1000, NULL); /* the first comes back when the second arrives */
    uint64_t t0 = rdtime();
    vio_reset(&d);
    uint64_t ms = (rdtime() - t0) / 10000;
    rt_verdict_val(r == 1 && ms < 100, "balloon: statistics of 60 GiB, then a torn one, then reset -> "
                   "the first returned, reset at once", "ms", ms);
    vio_recover(&d, "huge statistics");
}

/* Block requests well formed as chains but asking for what the disk cannot do. */
static uint8_t blk_req(uint32_t type, uint64_t sector, void *data, uint32_t len, uint16_t dflags)
{
    static uint32_t hdr[4];
    hdr[0] = type;
    hdr[1] = 0;
    hdr[2] = (uint32_t)sector;
    hdr[3] = (uint32_t)(sector >> 32);
    volatile struct vdesc *t = fresh();
    set(t, 0, (uintptr_t)hdr, 16, VD_NEXT, 1);
    set(t, 1, (uintptr_t)data, len, dflags | VD_NEXT, 2);
    set(t, 2, (uintptr_t)&blk_status, 1, VD_WRITE, 0);
    blk_status = 0xee;
    vq_offer(&d, 0, 0);
    if (vq_wait(&d, 0, 2000, NULL) != 1)
        return 0xfe;
    return blk_status;
}

static void blk_semantics(void)
{
    static const struct { uint32_t type; uint64_t sector; uint32_t len; uint16_t f; const char *what; } bad[] = {
        { 0, 1ULL << 20, 512, VD_WRITE, "read past the end of the disk" },
        { 0, ~0ULL, 512, VD_WRITE, "read at sector 2^64-1" },
        { 0, ~0ULL / 512 + 1, 512, VD_WRITE, "read where sector * 512 wraps" },
        { 1, 2047, 1024, 0, "write across the end of the disk" },
        { 1, ~0ULL - 1, 512, 0, "write at sector 2^64-2" },
        { 0x7777, 0, 512, VD_WRITE, "unknown request type" },
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t s = blk_req(bad[i].type, bad[i].sector, buf, bad[i].len, bad[i].f);
        rt_puts("blk: ");
        rt_puts(bad[i].what);
        rt_verdict_val(s == 1 || s == 2, " -> IOERR/UNSUPP", "status", s);
        vio_recover(&d, bad[i].what);
    }
    /* discard and write-zeroes ranges: too long, past the end, wrapping, bad flags */
    static const struct { uint32_t type; uint64_t sector; uint32_t num, flags; const char *what; } rg[] = {
        { 11, ~0ULL - 7, 0xffffffffu, 0, "discard of 2^32-1 sectors at 2^64-8" },
        { 13, ~0ULL - 7, 0xffffffffu, 0, "write-zeroes of 2^32-1 sectors at 2^64-8" },
        { 11, ~0ULL - 3, 8, 0, "discard of 8 sectors at 2^64-4" },
        { 13, 0, 1u << 22, 1, "write-zeroes of 4M sectors at 0" },
        { 11, 0, 1, 0xfffffffeu, "discard with unknown flags" },
    };
    static uint32_t seg[4];
    for (unsigned i = 0; i < sizeof(rg) / sizeof(rg[0]); i++) {
        seg[0] = (uint32_t)rg[i].sector;
        seg[1] = (uint32_t)(rg[i].sector >> 32);
        seg[2] = rg[i].num;
        seg[3] = rg[i].flags;
        uint8_t s = blk_req(rg[i].type, 0, seg, 16, 0);
        rt_puts("blk: ");
        rt_puts(rg[i].what);
        rt_verdict_val(s == 1 || s == 2, " -> IOERR/UNSUPP", "status", s);
        vio_recover(&d, rg[i].what);
    }
    /* a header alone, no room for the status: the device has nothing to say, and must
     * still give the chain back or refuse the queue */
    volatile struct vdesc *t = fresh();
    static uint32_t hdr[4];
    set(t, 0, (uintptr_t)hdr, 16, 0, 0);
    vq_offer(&d, 0, 0);
    int r = vq_wait(&d, 0, 1000, NULL);
    rt_verdict_val(r != 0, "blk: header without a status byte -> returned or NEEDS_RESET", "rc", (uint64_t)r);
    vio_recover(&d, "header without a status byte");
}

int main(void)
{
    static const uint32_t ids[] = { VIRTIO_BLK, VIRTIO_NET, VIRTIO_CONSOLE, VIRTIO_RNG, VIRTIO_BALLOON,
                                  VIRTIO_INPUT };
    for (unsigned i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        if (!vio_find(&d, ids[i]))
            continue;
        rt_puts(d.name);
        rt_puts(": found at ");
        rt_hex(d.base);
        rt_putc('\n');
        rt_verdict(vio_good_op(&d), d.id == VIRTIO_BLK ? "blk: good request first" :
                   d.id == VIRTIO_NET ? "net: good request first" :
                   d.id == VIRTIO_CONSOLE ? "console: good request first" :
                   d.id == VIRTIO_RNG ? "rng: good request first" :
                   d.id == VIRTIO_BALLOON ? "balloon: good request first" : "input: good request first");
        attack_loops();
        attack_indirect();
        attack_addresses();
        attack_huge();
        if (d.id == VIRTIO_BLK)
            blk_semantics();
        if (d.id == VIRTIO_BALLOON)
            balloon_attacks();
        if (d.id == VIRTIO_NET) {
            net_rx_attacks();
            net_csum_attacks();
        }
        vio_reset(&d);
    }
    return 0;
}
