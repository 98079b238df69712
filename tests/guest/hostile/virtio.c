/* A minimal virtio-mmio (version 2) driver for the hostile guests: find a device, bring it
 * up, offer chains, wait for used entries, and one normal request per device type, which
 * every attack is followed by to show the device still serves. Polled, no interrupts. */
#include "rt.h"

/* Queue n of the device under test lives at queue_area + n * 16 KiB: descriptors (up to 256),
 * then the available ring at +4 KiB, then the used ring at +8 KiB. */
static uint8_t queue_area[4][16384] __attribute__((aligned(4096)));
static uint8_t io[3][4096] __attribute__((aligned(4096)));
static unsigned hvc_count;

const char *vio_name(uint32_t id)
{
    switch (id) {
    case VIRTIO_NET: return "net";
    case VIRTIO_BLK: return "blk";
    case VIRTIO_CONSOLE: return "console";
    case VIRTIO_RNG: return "rng";
    case VIRTIO_BALLOON: return "balloon";
    case VIRTIO_INPUT: return "input";
    default: return "?";
    }
}

bool vio_find(struct vdev *d, uint32_t id)
{
    rt_memset(d, 0, sizeof(*d));
    for (unsigned i = 0; i < VIRTIO_SLOTS; i++) {
        uintptr_t b = VIRTIO_BASE + 0x1000UL * i;
        if (mmio_r32(b + R_MAGIC) == 0x74726976u && mmio_r32(b + R_DEVICE_ID) == id) {
            d->base = b;
            d->id = id;
            d->name = vio_name(id);
            return true;
        }
    }
    return false;
}

static unsigned num_queues(const struct vdev *d)
{
    return d->id == VIRTIO_BLK || d->id == VIRTIO_RNG ? 1 : d->id == VIRTIO_BALLOON ? 4 : 2;
}

unsigned vio_main_queue(const struct vdev *d)
{
    /* net and console transmit on queue 1, input takes status there; blk, rng and the
     * balloon's inflate use 0 */
    return d->id == VIRTIO_NET || d->id == VIRTIO_CONSOLE || d->id == VIRTIO_INPUT ? 1 : 0;
}

void vio_reset(struct vdev *d)
{
    vio_w(d, R_STATUS, 0);
    for (unsigned i = 0; i < 1000000 && vio_status(d); i++)
        ;
}

bool vio_negotiate(struct vdev *d)
{
    vio_reset(d);
    vio_w(d, R_STATUS, VS_ACK);
    vio_w(d, R_STATUS, VS_ACK | VS_DRIVER);
    vio_w(d, R_DRV_FEATURES_SEL, 0);
    /* INDIRECT_DESC; blk also DISCARD and WRITE_ZEROES, so their ranges get parsed; net
     * CSUM, so the device completes checksums where the guest says; the balloon STATS_VQ and
     * FREE_PAGE_REPORTING, so it has queues 2 and 3 */
    vio_w(d, R_DRV_FEATURES, 1u << 28 | (d->id == VIRTIO_BLK ? 3u << 13 : 0) |
                                 (d->id == VIRTIO_NET ? 1u : 0) |
                                 (d->id == VIRTIO_BALLOON ? 1u << 1 | 1u << 5 : 0));
    vio_w(d, R_DRV_FEATURES_SEL, 1);
    vio_w(d, R_DRV_FEATURES, 1); /* VERSION_1 */
    vio_w(d, R_STATUS, VS_ACK | VS_DRIVER | VS_FEATURES_OK);
    return (vio_status(d) & (VS_FEATURES_OK | VS_NEEDS_RESET)) == VS_FEATURES_OK;
}

static void set64(struct vdev *d, uint32_t off, uint64_t v)
{
    vio_w(d, off, (uint32_t)v);
    vio_w(d, off + 4, (uint32_t)(v >> 32));
}

void vio_queue(struct vdev *d, unsigned n, uint16_t size)
{
    struct vq *q = &d->q[n];
    uint8_t *a = queue_area[n];
    rt_memset(a, 0, sizeof(queue_area[n]));
    q->size = size;
    q->avail_idx = q->last_used = 0;
    q->desc = (volatile struct vdesc *)a;
    q->avail = (volatile uint16_t *)(a + 4096);
    q->used = (volatile uint32_t *)(a + 8192);
    vio_w(d, R_QUEUE_SEL, n);
    vio_w(d, R_QUEUE_NUM, size);
    set64(d, R_QUEUE_DESC, (uintptr_t)q->desc);
    set64(d, R_QUEUE_AVAIL, (uintptr_t)q->avail);
    set64(d, R_QUEUE_USED, (uintptr_t)q->used);
    vio_w(d, R_QUEUE_READY, 1);
}

bool vio_init(struct vdev *d)
{
    if (!vio_negotiate(d))
        return false;
    for (unsigned n = 0; n < num_queues(d); n++)
        vio_queue(d, n, QSIZE);
    vio_w(d, R_STATUS, VS_ACK | VS_DRIVER | VS_FEATURES_OK | VS_DRIVER_OK);
    return vio_status(d) == (VS_ACK | VS_DRIVER | VS_FEATURES_OK | VS_DRIVER_OK);
}

void vq_offer(struct vdev *d, unsigned n, uint16_t head)
{
    struct vq *q = &d->q[n];
    q->avail[2 + q->avail_idx % q->size] = head;
    mb();
    q->avail[1] = ++q->avail_idx;
    vio_w(d, R_QUEUE_NOTIFY, n);
}

uint16_t vq_used_idx(const struct vdev *d, unsigned n)
{
    mb();
    return ((volatile uint16_t *)d->q[n].used)[1];
}

int vq_wait(struct vdev *d, unsigned n, unsigned ms, uint32_t *len)
{
    struct vq *q = &d->q[n];
    uint64_t end = rdtime() + 10000ULL * ms;
    do {
        if (vq_used_idx(d, n) != q->last_used) {
            mb();
            unsigned slot = q->last_used % q->size;
            if (len)
                *len = q->used[2 + 2 * slot];
            q->last_used++;
            return 1;
        }
        if (vio_status(d) & VS_NEEDS_RESET)
            return -1;
    } while (rdtime() < end);
    return 0;
}

static void desc(struct vq *q, unsigned i, const void *addr, uint32_t len, uint16_t flags)
{
    q->desc[i].addr = (uintptr_t)addr;
    q->desc[i].len = len;
    q->desc[i].flags = flags;
    q->desc[i].next = (uint16_t)(i + 1);
}

bool vio_blk_read(struct vdev *d, uint64_t sector, void *dst, uint32_t len)
{
    struct vq *q = &d->q[0];
    uint32_t *hdr = (uint32_t *)io[0];
    hdr[0] = 0; /* VIRTIO_BLK_T_IN */
    hdr[1] = 0;
    hdr[2] = (uint32_t)sector;
    hdr[3] = (uint32_t)(sector >> 32);
    io[2][0] = 0xff;
    desc(q, 0, io[0], 16, VD_NEXT);
    desc(q, 1, dst, len, VD_NEXT | VD_WRITE);
    desc(q, 2, io[2], 1, VD_WRITE);
    vq_offer(d, 0, 0);
    uint32_t used = 0;
    return vq_wait(d, 0, 2000, &used) == 1 && io[2][0] == 0 && used == len + 1;
}

static bool blk_read(struct vdev *d)
{
    rt_memset(io[1], 0, 512);
    if (!vio_blk_read(d, 1, io[1], 512))
        return false;
    static const char want[] = "HOSTILE-DISK";
    for (unsigned i = 0; i + 1 < sizeof(want); i++)
        if (io[1][i] != (uint8_t)want[i])
            return false;
    return true;
}

static bool rng_read(struct vdev *d)
{
    struct vq *q = &d->q[0];
    rt_memset(io[1], 0, 64);
    desc(q, 0, io[1], 64, VD_WRITE);
    vq_offer(d, 0, 0);
    uint32_t len = 0;
    if (vq_wait(d, 0, 2000, &len) != 1 || !len || len > 64)
        return false;
    uint8_t any = 0;
    for (unsigned i = 0; i < len; i++)
        any |= io[1][i];
    return any != 0;
}

static bool console_write(struct vdev *d)
{
    struct vq *q = &d->q[1];
    static const char msg[] = "hvc alive ";
    unsigned n = sizeof(msg) - 1;
    rt_memcpy(io[0], msg, n);
    unsigned v = ++hvc_count;
    char digits[12];
    unsigned k = 0;
    do {
        digits[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (k)
        io[0][n++] = (uint8_t)digits[--k];
    io[0][n++] = '\n';
    desc(q, 0, io[0], n, 0);
    vq_offer(d, 1, 0);
    return vq_wait(d, 1, 2000, NULL) == 1;
}

static bool balloon_cycle(struct vdev *d)
{
    uint32_t *pfn = (uint32_t *)io[0];
    pfn[0] = (uint32_t)((uintptr_t)io[2] >> 12);
    for (unsigned n = 0; n < 2; n++) { /* inflate, then deflate */
        desc(&d->q[n], 0, pfn, 4, 0);
        vq_offer(d, n, 0);
        if (vq_wait(d, n, 2000, NULL) != 1)
            return false;
    }
    return true;
}

/* Sends an ARP request for the user network's gateway 10.0.2.2 with descriptor 0 of the
 * transmit queue; true once the device gave the buffer back. */
bool vio_net_send_arp(struct vdev *d)
{
    uint8_t mac[6];
    for (unsigned i = 0; i < 6; i++)
        mac[i] = *(volatile uint8_t *)(d->base + R_CONFIG + i);
    uint8_t *f = io[0];
    rt_memset(f, 0, 12 + 42);
    uint8_t *e = f + 12; /* after the virtio-net header */
    static const uint8_t arp[] = { 8, 6, 0, 1, 8, 0, 6, 4, 0, 1 };
    rt_memset(e, 0xff, 6);
    rt_memcpy(e + 6, mac, 6);
    rt_memcpy(e + 12, arp, sizeof(arp));
    rt_memcpy(e + 22, mac, 6);
    static const uint8_t ips[] = { 10, 0, 2, 15, 0, 0, 0, 0, 0, 0, 10, 0, 2, 2 };
    rt_memcpy(e + 28, ips, sizeof(ips));
    desc(&d->q[1], 0, f, 12 + 42, 0);
    vq_offer(d, 1, 0);
    return vq_wait(d, 1, 2000, NULL) == 1;
}

/* An ARP request for the gateway, and its answer. */
static bool net_arp(struct vdev *d)
{
    rt_memset(io[1], 0, 2048);
    desc(&d->q[0], 0, io[1], 2048, VD_WRITE);
    vq_offer(d, 0, 0);
    if (!vio_net_send_arp(d))
        return false;
    uint32_t len = 0;
    if (vq_wait(d, 0, 3000, &len) != 1 || len < 12 + 42)
        return false;
    const uint8_t *r = io[1] + 12;
    return r[12] == 8 && r[13] == 6 && r[21] == 2 && r[28] == 10 && r[31] == 2;
}

/* The power button: its name through the config space's select, and a status event
 * (an LED it does not have) taken and given back. */
static bool input_status(struct vdev *d)
{
    volatile uint8_t *cfg = (volatile uint8_t *)(d->base + R_CONFIG);
    cfg[1] = 0;
    cfg[0] = 1; /* VIRTIO_INPUT_CFG_ID_NAME */
    uint8_t size = cfg[2];
    if (size == 0 || size > 128 || cfg[8] != 'C')
        return false;
    uint16_t *ev = (uint16_t *)io[0];
    ev[0] = 0x11; /* EV_LED */
    ev[1] = 0;
    ev[2] = ev[3] = 0;
    desc(&d->q[1], 0, ev, 8, 0);
    vq_offer(d, 1, 0);
    return vq_wait(d, 1, 2000, NULL) == 1;
}

bool vio_good_op(struct vdev *d)
{
    if (!vio_init(d))
        return false;
    switch (d->id) {
    case VIRTIO_BLK: return blk_read(d);
    case VIRTIO_RNG: return rng_read(d);
    case VIRTIO_CONSOLE: return console_write(d);
    case VIRTIO_BALLOON: return balloon_cycle(d);
    case VIRTIO_NET: return net_arp(d);
    case VIRTIO_INPUT: return input_status(d);
    default: return false;
    }
}

bool vio_recover(struct vdev *d, const char *after)
{
    bool ok = vio_good_op(d);
    rt_puts(d->name);
    rt_puts(": after ");
    rt_puts(after);
    return rt_verdict_val(ok, " -> good request", "status", vio_status(d));
}
