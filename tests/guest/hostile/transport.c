/* Transport attacks on every virtio device the VM has: queue registers changed while the
 * device runs, bad queue sizes and ring addresses, notify storms, resets in the middle of
 * I/O, features changed after FEATURES_OK and DRIVER_OK, and every register and config
 * offset read and written at every size. Protocol breaks must end in DEVICE_NEEDS_RESET
 * (virtio 1.2 2.1.2) or a refused setting; after each attack the device is reset and must
 * serve a normal request. */
#include "rt.h"

static struct vdev d;
static uint8_t buf[16][4096] __attribute__((aligned(4096)));
static uint8_t status_bytes[16];
static uint32_t hdrs[16][4];

#define LIVE (VS_ACK | VS_DRIVER | VS_FEATURES_OK | VS_DRIVER_OK)

static void line(const char *attack, const char *outcome)
{
    rt_puts(d.name);
    rt_puts(": ");
    rt_puts(attack);
    rt_puts(outcome);
}

/* Waits up to 100 ms for NEEDS_RESET. */
static bool needs_reset(void)
{
    for (uint64_t end = rdtime() + 1000000; rdtime() < end;)
        if (vio_status(&d) & VS_NEEDS_RESET)
            return true;
    return false;
}

static void expect_needs_reset(const char *attack)
{
    line(attack, " -> NEEDS_RESET");
    rt_verdict_val(needs_reset(), "", "status", vio_status(&d));
    vio_recover(&d, attack);
}

/* Puts request I of the device's kind at descriptors 2i, 2i+1, 2i+2... of the main queue
 * (blk: a real 8-sector read; others: one buffer) and returns its head. */
static uint16_t fill(unsigned i)
{
    struct vq *q = &d.q[vio_main_queue(&d)];
    volatile struct vdesc *t = q->desc;
    if (d.id == VIRTIO_BLK) {
        unsigned h = 3 * i;
        hdrs[i][0] = 0;
        hdrs[i][2] = (uint32_t)(8 * i);
        t[h] = (struct vdesc){ (uintptr_t)hdrs[i], 16, VD_NEXT, (uint16_t)(h + 1) };
        t[h + 1] = (struct vdesc){ (uintptr_t)buf[i], 4096, VD_NEXT | VD_WRITE, (uint16_t)(h + 2) };
        t[h + 2] = (struct vdesc){ (uintptr_t)&status_bytes[i], 1, VD_WRITE, 0 };
        return (uint16_t)h;
    }
    uint16_t flags = d.id == VIRTIO_RNG ? VD_WRITE : 0;
    uint32_t len = d.id == VIRTIO_BALLOON ? 4 : d.id == VIRTIO_NET ? 60 : 64;
    /* the balloon gets page numbers of our own buffers, net a zeroed header and frame */
    rt_memset(buf[i], 0, 64);
    ((uint32_t *)buf[i])[0] = (uint32_t)((uintptr_t)buf[i] >> 12);
    t[i] = (struct vdesc){ (uintptr_t)buf[i], len, flags, 0 };
    return (uint16_t)i;
}

static unsigned batch(void)
{
    return d.id == VIRTIO_BLK ? 5 : QSIZE - 1; /* blk: 3 descriptors each */
}

static void live_queue_changes(void)
{
    unsigned n = vio_main_queue(&d);
    static const struct { uint32_t reg, val; const char *what; } ch[] = {
        { R_QUEUE_NUM, 8, "queue size changed while running" },
        { R_QUEUE_NUM, 0, "queue size 0 while running" },
        { R_QUEUE_READY, 0, "queue disabled while running" },
        { R_QUEUE_DESC, 0x80001000u, "descriptor table moved while running" },
        { R_QUEUE_USED + 4, 1, "used ring moved past 4 GiB while running" },
    };
    for (unsigned i = 0; i < sizeof(ch) / sizeof(ch[0]); i++) {
        vio_init(&d);
        vq_offer(&d, n, fill(0)); /* a request in flight */
        vio_w(&d, R_QUEUE_SEL, n);
        vio_w(&d, ch[i].reg, ch[i].val);
        expect_needs_reset(ch[i].what);
    }
}

/* A setting the device must refuse before DRIVER_OK: QueueReady stays 0 or NEEDS_RESET. */
static void bad_setup(const char *what, uint32_t num, uint64_t desc, uint64_t avail, uint64_t used)
{
    vio_negotiate(&d);
    unsigned n = vio_main_queue(&d);
    vio_queue(&d, n, QSIZE);
    vio_w(&d, R_QUEUE_READY, 0);
    vio_w(&d, R_QUEUE_NUM, num);
    vio_w(&d, R_QUEUE_DESC, (uint32_t)desc);
    vio_w(&d, R_QUEUE_DESC + 4, (uint32_t)(desc >> 32));
    vio_w(&d, R_QUEUE_AVAIL, (uint32_t)avail);
    vio_w(&d, R_QUEUE_AVAIL + 4, (uint32_t)(avail >> 32));
    vio_w(&d, R_QUEUE_USED, (uint32_t)used);
    vio_w(&d, R_QUEUE_USED + 4, (uint32_t)(used >> 32));
    vio_w(&d, R_QUEUE_READY, 1);
    bool refused = !vio_r(&d, R_QUEUE_READY) || (vio_status(&d) & VS_NEEDS_RESET);
    line(what, " -> refused");
    rt_verdict_val(refused, "", "status", vio_status(&d));
    vio_recover(&d, what);
}

static void bad_setups(void)
{
    uint64_t good = (uintptr_t)d.q[vio_main_queue(&d)].desc;
    uint32_t max = 0;
    vio_negotiate(&d);
    vio_w(&d, R_QUEUE_SEL, vio_main_queue(&d));
    max = vio_r(&d, R_QUEUE_NUM_MAX);
    line("QueueNumMax", " -> a power of 2 from 16 to 32768");
    rt_verdict_val(max >= QSIZE && max <= 32768 && !(max & (max - 1)), "", "max", max);
    bad_setup("queue size 3", 3, good, good + 4096, good + 8192);
    bad_setup("queue size QueueNumMax*2", max * 2, good, good + 4096, good + 8192);
    bad_setup("queue size 65535", 65535, good, good + 4096, good + 8192);
    bad_setup("queue size 2^32-1", 0xffffffffu, good, good + 4096, good + 8192);
    bad_setup("descriptor table across the end of RAM", QSIZE, RAM_END - 64, good + 4096, good + 8192);
    bad_setup("used ring past the end of RAM", QSIZE, good, good + 4096, RAM_END);
    bad_setup("available ring on MMIO", QSIZE, good, UART_BASE, good + 8192);
    bad_setup("misaligned descriptor table", QSIZE, good + 8, good + 4096, good + 8192);
    bad_setup("rings at 2^64-64", QSIZE, ~0ULL - 63, ~0ULL - 63, ~0ULL - 63);

    /* a queue the device does not have */
    vio_negotiate(&d);
    vio_w(&d, R_QUEUE_SEL, 0xffffffffu);
    uint32_t m = vio_r(&d, R_QUEUE_NUM_MAX);
    vio_w(&d, R_QUEUE_NUM, QSIZE);
    vio_w(&d, R_QUEUE_DESC, (uint32_t)good);
    vio_w(&d, R_QUEUE_READY, 1);
    uint32_t r = vio_r(&d, R_QUEUE_READY);
    line("queue 2^32-1 selected", " -> QueueNumMax 0, not ready");
    rt_verdict_val(m == 0 && r == 0, "", "max", m);
    vio_recover(&d, "queue 2^32-1 selected");
}

static void notify_storms(void)
{
    unsigned n = vio_main_queue(&d);
    vio_init(&d);
    uint64_t t0 = rdtime();
    for (unsigned i = 0; i < 100000; i++)
        vio_w(&d, R_QUEUE_NOTIFY, n);
    for (uint32_t i = 0; i < 0x10000; i += 7)
        vio_w(&d, R_QUEUE_NOTIFY, i);
    vio_w(&d, R_QUEUE_NOTIFY, 0xffffffffu);
    uint64_t ms = (rdtime() - t0) / 10000;
    line("notify storm on an empty queue and on every queue number", " -> no used entry");
    rt_verdict_val(vq_used_idx(&d, n) == 0 && !(vio_status(&d) & VS_NEEDS_RESET), "", "ms", ms);
    vio_recover(&d, "notify storm");

    /* one request and 20000 notifies: served once */
    vio_init(&d);
    struct vq *q = &d.q[n];
    q->avail[2] = fill(0);
    mb();
    q->avail[1] = ++q->avail_idx;
    for (unsigned i = 0; i < 20000; i++)
        vio_w(&d, R_QUEUE_NOTIFY, n);
    int w = vq_wait(&d, n, 2000, NULL);
    delay_ms(20);
    uint16_t u = vq_used_idx(&d, n);
    line("one request under a notify storm", " -> used exactly once");
    rt_verdict_val(w == 1 && u == 1, "", "used", u);
    vio_recover(&d, "notify storm with a request");
}

static void resets_during_io(void)
{
    unsigned n = vio_main_queue(&d);
    unsigned late = 0, stuck = 0;
    for (unsigned round = 0; round < 40; round++) {
        vio_init(&d);
        struct vq *q = &d.q[n];
        for (unsigned i = 0; i < batch(); i++)
            q->avail[2 + i] = fill(i);
        mb();
        q->avail_idx = (uint16_t)batch();
        q->avail[1] = q->avail_idx;
        vio_w(&d, R_QUEUE_NOTIFY, n);
        for (unsigned k = 0; k < round * 50; k++)
            __asm__ volatile("nop");
        vio_w(&d, R_STATUS, 0);
        unsigned spins = 0;
        while (vio_status(&d) && spins < 1000000)
            spins++;
        stuck += spins >= 1000000;
        uint16_t before = vq_used_idx(&d, n);
        delay_ms(2);
        late += vq_used_idx(&d, n) != before;
    }
    line("reset during I/O, 40 times", " -> status 0, no ring writes after it");
    rt_verdict_val(!late && !stuck, "", "late", late | (uint64_t)stuck << 32);
    vio_recover(&d, "reset during I/O");
}

static void feature_flips(void)
{
    vio_negotiate(&d);
    vio_w(&d, R_DRV_FEATURES_SEL, 0);
    vio_w(&d, R_DRV_FEATURES, 0xffffffffu);
    expect_needs_reset("features changed after FEATURES_OK");

    vio_init(&d);
    vio_w(&d, R_DRV_FEATURES_SEL, 1);
    vio_w(&d, R_DRV_FEATURES, 0);
    expect_needs_reset("VERSION_1 dropped after DRIVER_OK");

    vio_init(&d);
    vio_w(&d, R_STATUS, VS_ACK | VS_DRIVER | VS_DRIVER_OK);
    expect_needs_reset("FEATURES_OK cleared while running");

    vio_reset(&d);
    vio_w(&d, R_STATUS, VS_ACK | VS_DRIVER);
    vio_w(&d, R_STATUS, VS_ACK | VS_DRIVER | VS_DRIVER_OK);
    expect_needs_reset("DRIVER_OK without FEATURES_OK");

    vio_reset(&d);
    vio_w(&d, R_STATUS, VS_FEATURES_OK);
    expect_needs_reset("FEATURES_OK without DRIVER");

    vio_negotiate(&d);
    vio_w(&d, R_DEV_FEATURES_SEL, 0xffffffffu);
    uint32_t f = vio_r(&d, R_DEV_FEATURES);
    line("device feature word 2^32-1", " -> 0");
    rt_verdict_val(f == 0, "", "features", f);
    vio_recover(&d, "device feature word 2^32-1");
}

/* Every offset of the device's page at every size: misaligned ones may trap, with a
 * misaligned or access fault, and nothing else. Returns the traps of other causes. */
static unsigned sweep(uintptr_t from, uintptr_t to, bool write, uint64_t pattern)
{
    unsigned bad = 0;
    for (uintptr_t off = from; off < to; off++) {
        for (unsigned size = 1; size <= 8; size *= 2) {
            if (off + size > 0x1000)
                continue;
            rt_clear_trap();
            if (write)
                mmio_wr(d.base + off, size, pattern);
            else
                (void)mmio_rd(d.base + off, size);
            uint64_t c = rt_last.cause;
            bool aligned = !(off & (size - 1));
            if (c != NO_TRAP && (aligned || c < CAUSE_LOAD_MISALIGNED || c > CAUSE_STORE_ACCESS))
                bad++;
        }
    }
    return bad;
}

static void config_sweeps(void)
{
    vio_init(&d);
    unsigned bad = sweep(0, 0x1000, false, 0);
    line("every offset and size read", " -> values or misaligned/access faults");
    rt_verdict_val(bad == 0, "", "bad traps", bad);
    vio_recover(&d, "reads everywhere");

    static const uint64_t pat[] = { 0, ~0ULL, 0x5a5a5a5a5a5a5a5aULL, 0x8000000000000001ULL };
    bad = 0;
    for (unsigned p = 0; p < 4; p++) {
        vio_init(&d);
        bad += sweep(R_CONFIG, 0x1000, true, pat[p]);
    }
    line("config space written at every offset and size", " -> accepted or misaligned/access faults");
    rt_verdict_val(bad == 0, "", "bad traps", bad);
    vio_recover(&d, "config writes");

    /* the registers at sizes the transport does not serve (1, 2 and 8 bytes, misaligned) */
    bad = 0;
    vio_init(&d);
    for (uintptr_t off = 0; off < R_CONFIG; off++)
        for (unsigned size = 1; size <= 8; size *= 2) {
            if (size == 4 && !(off & 3))
                continue;
            rt_clear_trap();
            mmio_wr(d.base + off, size, ~0ULL);
            uint64_t c = rt_last.cause;
            if (c != NO_TRAP && (c < CAUSE_LOAD_MISALIGNED || c > CAUSE_STORE_ACCESS))
                bad++;
        }
    line("registers written at odd sizes and offsets", " -> ignored or faults");
    bool same = vio_r(&d, R_MAGIC) == 0x74726976u && vio_r(&d, R_DEVICE_ID) == d.id;
    rt_verdict_val(bad == 0 && same, "", "bad traps", bad);
    vio_recover(&d, "odd register writes");
}

/* The second hart: notifies of every queue, reads of the status and config, interrupt
 * acknowledgements, as fast as it can, on the device RACE_BASE names (0: idle). */
static volatile uintptr_t race_base;
static volatile uint64_t race_rounds;

#define RACE_END 1

static void racer(void)
{
    __asm__ volatile("csrs sie, %0" ::"r"(2UL)); /* an IPI ends wfi (not taken: SIE is 0) */
    for (;;) {
        uintptr_t b = race_base;
        if (b == RACE_END)
            sbi_call(0x48534d, 1, 0, 0, 0); /* HSM hart_stop */
        if (!b) { /* idle without taking a host CPU from the first hart */
            __asm__ volatile("csrci sip, 2");
            if (!race_base)
                __asm__ volatile("wfi");
            continue;
        }
        for (uint32_t q = 0; q < 4; q++)
            mmio_w32(b + R_QUEUE_NOTIFY, q);
        (void)mmio_r32(b + R_STATUS);
        (void)*(volatile uint8_t *)(b + R_CONFIG + (race_rounds & 7));
        mmio_w32(b + R_INT_ACK, 3);
        race_rounds++;
    }
}

/* Bring-ups, requests and resets on the first hart while the second hammers the device
 * (it must get at least a few turns in between, however busy the host). */
static void two_hart_race(void)
{
    unsigned n = vio_main_queue(&d), bad = 0;
    uint64_t start = race_rounds;
    race_base = d.base;
    sbi_call(0x735049, 0, 1L << 1, 0, 0); /* IPI: wake the other hart */
    for (unsigned round = 0; round < 50; round++) {
        bad += !vio_init(&d);
        struct vq *q = &d.q[n];
        for (unsigned i = 0; i < batch(); i++)
            q->avail[2 + i] = fill(i);
        mb();
        q->avail_idx = (uint16_t)batch();
        q->avail[1] = q->avail_idx;
        for (unsigned k = 0; k < (round % 10) * 200; k++)
            __asm__ volatile("nop");
        vio_reset(&d);
        bad += vio_status(&d) != 0;
        /* the host may not have run the other hart yet: give it up to 20 ms to go round */
        uint64_t seen = race_rounds;
        for (uint64_t end = rdtime() + 200000; race_rounds == seen && rdtime() < end;)
            ;
    }
    race_base = 0;
    line("50 bring-ups and resets while the other hart notifies", " -> every one works");
    rt_verdict_val(!bad && race_rounds - start >= 10, "", "racer rounds", race_rounds - start);
    vio_recover(&d, "a racing hart");
}

int main(void)
{
    static const uint32_t ids[] = { VIRTIO_BLK, VIRTIO_NET, VIRTIO_CONSOLE, VIRTIO_RNG, VIRTIO_BALLOON,
                                  VIRTIO_INPUT };
    bool racing = rt_start_hart(1, racer);
    rt_verdict(racing, "transport: a second hart starts");
    for (unsigned i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        if (!vio_find(&d, ids[i]))
            continue;
        rt_puts(d.name);
        rt_puts(": found at ");
        rt_hex(d.base);
        rt_putc('\n');
        if (racing)
            two_hart_race();
        live_queue_changes();
        bad_setups();
        notify_storms();
        resets_during_io();
        feature_flips();
        config_sweeps();
        vio_reset(&d);
    }
    race_base = RACE_END;
    sbi_call(0x735049, 0, 1L << 1, 0, 0);
    return 0;
}
