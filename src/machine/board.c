/* The virt board: owns guest RAM, the harts and the basic devices, routes physical
 * accesses to device regions, wires interrupt lines, and runs one thread per hart.
 * Boot image placement follows QEMU's virt board so the same guests work unchanged. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <libfdt.h>

#include "corral/guard_map.h"
#include "boot/loader.h"
#include "boot/sbi_hart.h"
#include "cpu/hart.h"
#include "dev/aclint.h"
#include "dev/goldfish_rtc.h"
#include "dev/plic.h"
#include "dev/sifive_test.h"
#include "dev/uart16550.h"
#include "machine/board.h"
#include "machine/fdt.h"
#include "machine/virt.h"

#define MAX_REGIONS 24
#define DTB_MAX (64 * 1024)
#define FW_DYNAMIC_MAGIC 0x4942534fULL /* OpenSBI fw_dynamic_info (version 2) */
#define ISA_STRING "rv64imafdc_zicntr_zicsr_zifencei_zihintpause_zba_zbb_zbs_sstc"

struct board {
    struct board_config cfg;
    struct guest_mem ram;
    _Atomic uint64_t dma_epoch;  /* ram.dma_epoch */
    struct hart harts[VIRT_MAX_HARTS];
    pthread_t threads[VIRT_MAX_HARTS];
    struct hart_bus bus;
    struct sbi_host sbi;
    struct mmio_region regions[MAX_REGIONS];
    unsigned nregions;
    bool virtio_used[VIRT_VIRTIO_SLOTS];
    struct uart16550 *uart;
    struct plic *plic;
    struct aclint *aclint;
    struct sifive_test *test;
    struct goldfish_rtc *rtc;
    uint64_t start_ns;
    pthread_mutex_t exit_lock;
    int exit_kind; /* -1 while running, else enum board_exit */
    int exit_code;
    /* pause: harts park in bus_poll until resumed (or stopped) */
    atomic_bool paused;
    pthread_mutex_t pause_lock;
    pthread_cond_t pause_cond;
    unsigned parked;
    /* CPU quota: percent of one host core for all harts; each hart gets its share per period */
    _Atomic unsigned quota_pct;
    struct { uint64_t period_start, cpu_start; } quota[VIRT_MAX_HARTS];
    /* idle harts give their translation caches back (see idle_account) */
    struct { uint64_t window_start, slept; bool trimmed; } idle[VIRT_MAX_HARTS];
    _Atomic uint64_t busy_epoch; /* times a hart came back from idle */
    /* RAM offsets of the kernel's file mapping (cfg.map_kernel); len 0: none */
    uint64_t kmap_off, kmap_len;
    int pagemap_fd;              /* /proc/self/pagemap, opened before any sandbox; -1: none */
    uint64_t kernel_gpa;         /* where load_images put a flat kernel or Image */
    bool kernel_mappable;
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t board_now(void *ctx)
{
    struct board *b = ctx;
    return (mono_ns() - b->start_ns) / (1000000000ULL / VIRT_TIMEBASE_HZ);
}

/* ---- bus ---- */

static const struct mmio_region *find_region(struct board *b, uint64_t pa)
{
    for (unsigned i = 0; i < b->nregions; i++) {
        const struct mmio_region *r = &b->regions[i];
        if (pa >= r->base && pa - r->base < r->size)
            return r;
    }
    return NULL;
}

static int bus_load(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
    const struct mmio_region *r = find_region(ctx, pa);
    if (!r || pa - r->base + size > r->size)
        return -EFAULT;
    return r->read(r->dev, pa - r->base, size, val);
}

static int bus_store(void *ctx, uint64_t pa, unsigned size, uint64_t val)
{
    const struct mmio_region *r = find_region(ctx, pa);
    if (!r || pa - r->base + size > r->size)
        return -EFAULT;
    return r->write(r->dev, pa - r->base, size, val);
}

static uint64_t bus_time(void *ctx)
{
    struct board *b = ctx;
    return aclint_mtime(b->aclint);
}

static void set_hart_bit(struct hart *h, uint64_t bit, int level)
{
    uint64_t cur = bit == MIP_SEIP ? (atomic_load(&h->seip_line) ? bit : 0) : (atomic_load(&h->mip) & bit);
    if (!!cur != !!level)
        hart_set_irq(h, bit, level);
}

#define QUOTA_PERIOD_NS 20000000ULL /* the most credit a hart keeps: 20 ms of its share */

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Sleeps on the pause condition until DEADLINE_NS (CLOCK_MONOTONIC; 0 = no deadline) while
 * the board is paused (or always, with a deadline), unless the hart is asked to stop. */
static void park(struct board *b, struct hart *h, uint64_t deadline_ns)
{
    struct timespec ts = { (time_t)(deadline_ns / 1000000000ULL), (long)(deadline_ns % 1000000000ULL) };
    pthread_mutex_lock(&b->pause_lock);
    b->parked++;
    pthread_cond_broadcast(&b->pause_cond);
    while (!atomic_load(&h->stop) && (deadline_ns ? mono_ns() < deadline_ns : atomic_load(&b->paused))) {
        if (deadline_ns)
            pthread_cond_timedwait(&b->pause_cond, &b->pause_lock, &ts);
        else
            pthread_cond_wait(&b->pause_cond, &b->pause_lock);
    }
    b->parked--;
    pthread_mutex_unlock(&b->pause_lock);
}

/* The engine enforces the quota itself: each hart earns CPU time at its share of the
 * quota as wall time passes, and a hart that has used more than it earned sleeps until it
 * has earned it back. Debt carries over, so the long-run average holds however coarse the
 * polls are; unused credit is capped at one period, so an idle hart cannot save up a burst.
 * WFI sleeps cost nothing and count nothing. */
static void throttle(struct board *b, struct hart *h, unsigned pct)
{
    unsigned i = (unsigned)h->mhartid;
    uint64_t now = mono_ns(), cpu = thread_cpu_ns();
    uint64_t share = (uint64_t)pct * 1000 / b->cfg.num_harts; /* per mille of one core */
    if (!b->quota[i].period_start) {
        b->quota[i].period_start = now;
        b->quota[i].cpu_start = cpu;
        return;
    }
    uint64_t earned = (now - b->quota[i].period_start) * share / 100000;
    uint64_t used = cpu - b->quota[i].cpu_start;
    uint64_t cap = QUOTA_PERIOD_NS * share / 100000;
    if (earned > used + cap) { /* idle long enough: forget the credit beyond one period */
        uint64_t drop = (earned - used - cap) * 100000 / share;
        b->quota[i].period_start += drop;
        return;
    }
    if (used <= earned)
        return;
    uint64_t wait = (used - earned) * 100000 / share;
    park(b, h, now + wait);
}

static void bus_poll(void *ctx, struct hart *h)
{
    struct board *b = ctx;
    if (atomic_load_explicit(&b->paused, memory_order_relaxed))
        park(b, h, 0);
    unsigned pct = atomic_load_explicit(&b->quota_pct, memory_order_relaxed);
    if (pct)
        throttle(b, h, pct);
    uint64_t now = aclint_update_now(b->aclint); /* one clock read per poll */
    if (h->stimecmp_enabled)
        set_hart_bit(h, MIP_STIP, now >= h->stimecmp);
}

#define IDLE_WINDOW_NS 5000000000ULL /* a hart asleep for 98% of this is idle */

/* A hart that slept through a whole window gives back its decoded pages and translated code
 * (tens of MiB per hart) once, until it is busy again: idle VMs then cost the host little. */
static void idle_account(struct board *b, struct hart *h, uint64_t t0, uint64_t t1)
{
    unsigned i = (unsigned)h->mhartid;
    if (!b->idle[i].window_start)
        b->idle[i].window_start = t0;
    b->idle[i].slept += t1 - t0;
    uint64_t span = t1 - b->idle[i].window_start;
    if (span < IDLE_WINDOW_NS)
        return;
    bool idle = b->idle[i].slept * 100 >= span * 98;
    bool was = __atomic_load_n(&b->idle[i].trimmed, __ATOMIC_RELAXED);
    if (!idle && was)
        atomic_fetch_add(&b->busy_epoch, 1);
    __atomic_store_n(&b->idle[i].trimmed, idle, __ATOMIC_RELEASE);
    if (idle && !was) {
        /* the harts share their code: it goes once the last of them is idle */
        bool all = true;
        for (unsigned j = 0; j < b->cfg.num_harts; j++)
            if (j != i && hart_started(&b->harts[j]) && !__atomic_load_n(&b->idle[j].trimmed, __ATOMIC_ACQUIRE))
                all = false;
        if (all)
            hart_trim_code(h);
    }
    b->idle[i].window_start = t1;
    b->idle[i].slept = 0;
}

/* One timed sleep; the run loop polls and re-checks after it (see hart_run). */
static void bus_wait(void *ctx, struct hart *h)
{
    struct board *b = ctx;
    uint64_t deadline = UINT64_MAX;
    bool running = hart_started(h);
    if (running) {
        if (h->mie & MIP_MTIP)
            deadline = aclint_mtimecmp(b->aclint, (unsigned)h->mhartid);
        if ((h->mie & MIP_STIP) && h->stimecmp_enabled && h->stimecmp < deadline)
            deadline = h->stimecmp;
    }
    uint64_t t0 = mono_ns();
    atomic_store(&h->sleeping, true);
    pthread_mutex_lock(&h->lock);
    bool wake = atomic_load(&h->stop) || atomic_load(&h->flush_tlb_req) ||
                (running ? hart_wfi_should_wake(h) : atomic_load(&h->hsm) != HSM_STOPPED);
    uint64_t now = aclint_mtime(b->aclint);
    if (!wake && deadline > now) {
        if (deadline == UINT64_MAX) {
            pthread_cond_wait(&h->wake, &h->lock);
        } else {
            uint64_t ns = (deadline - now) * (1000000000ULL / VIRT_TIMEBASE_HZ);
            if (ns > 10000000000ULL)
                ns = 10000000000ULL;
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t t = (uint64_t)ts.tv_nsec + ns;
            ts.tv_sec += (time_t)(t / 1000000000ULL);
            ts.tv_nsec = (long)(t % 1000000000ULL);
            pthread_cond_timedwait(&h->wake, &h->lock, &ts);
        }
    }
    pthread_mutex_unlock(&h->lock);
    atomic_store(&h->sleeping, false);
    if (running)
        idle_account(b, h, t0, mono_ns());
}

/* ---- power ---- */

static void request_exit(struct board *b, int kind, int code)
{
    pthread_mutex_lock(&b->exit_lock);
    if (b->exit_kind < 0) {
        b->exit_kind = kind;
        b->exit_code = code;
    }
    pthread_mutex_unlock(&b->exit_lock);
    for (unsigned i = 0; i < b->cfg.num_harts; i++) {
        atomic_store(&b->harts[i].stop, true);
        hart_wakeup(&b->harts[i]);
    }
    pthread_mutex_lock(&b->pause_lock);
    pthread_cond_broadcast(&b->pause_cond);
    pthread_mutex_unlock(&b->pause_lock);
}

void board_pause(struct board *b, bool pause)
{
    pthread_mutex_lock(&b->pause_lock);
    atomic_store(&b->paused, pause);
    pthread_cond_broadcast(&b->pause_cond);
    pthread_mutex_unlock(&b->pause_lock);
    for (unsigned i = 0; pause && i < b->cfg.num_harts; i++)
        hart_wakeup(&b->harts[i]); /* a hart in WFI parks at its next poll */
}

bool board_paused(struct board *b)
{
    return atomic_load(&b->paused);
}

bool board_wait_parked(struct board *b, unsigned timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t t = (uint64_t)ts.tv_nsec + (uint64_t)timeout_ms * 1000000ULL;
    ts.tv_sec += (time_t)(t / 1000000000ULL);
    ts.tv_nsec = (long)(t % 1000000000ULL);
    pthread_mutex_lock(&b->pause_lock);
    while (atomic_load(&b->paused) && b->parked < b->cfg.num_harts) {
        if (pthread_cond_timedwait(&b->pause_cond, &b->pause_lock, &ts) == ETIMEDOUT)
            break;
    }
    bool all = atomic_load(&b->paused) && b->parked == b->cfg.num_harts;
    pthread_mutex_unlock(&b->pause_lock);
    return all;
}

bool board_idle(struct board *b, uint64_t *epoch)
{
    *epoch = atomic_load(&b->busy_epoch);
    for (unsigned i = 0; i < b->cfg.num_harts; i++) {
        if (hart_started(&b->harts[i]) && !__atomic_load_n(&b->idle[i].trimmed, __ATOMIC_ACQUIRE))
            return false;
    }
    return true;
}

#define HOST_PAGE 4096u
#define HUGE_PAGE (2u << 20)

static bool zero_bytes(const uint8_t *p, size_t len)
{
    const uint64_t *w = (const uint64_t *)(const void *)p;
    for (size_t i = 0; i < len / 8; i += 8) {
        if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7])
            return false;
    }
    return true;
}

/* One 2 MiB stretch of RAM: its resident pages that hold only zeros go back to the host
 * (with huge pages: only a stretch that is zero throughout, so that no huge page is split
 * and left half-used). Returns the bytes of resident memory dropped. */
static uint64_t drop_zero_stretch(uint8_t *p, size_t len, bool small_pages)
{
    unsigned char vec[HUGE_PAGE / HOST_PAGE];
    if (mincore(p, len, vec))
        return 0;
    size_t n = len / HOST_PAGE, run = 0, run_resident = 0, resident = 0;
    uint64_t dropped = 0;
    for (size_t i = 0; i <= n; i++) {
        bool present = i < n && (vec[i] & 1);
        if (i < n && (!present || zero_bytes(p + i * HOST_PAGE, HOST_PAGE))) {
            run++;
            run_resident += present;
            resident += present;
            continue;
        }
        if (!small_pages) {
            if (i < n)
                return 0; /* a page with data: the stretch stays whole */
            break;
        }
        if (run_resident && !madvise(p + (i - run) * HOST_PAGE, run * HOST_PAGE, MADV_DONTNEED))
            dropped += run_resident * HOST_PAGE;
        run = run_resident = 0;
    }
    if (!small_pages && resident && !madvise(p, len, MADV_DONTNEED))
        dropped = resident * HOST_PAGE;
    return dropped;
}

/* Whether [off, off+len) of RAM overlaps the kernel's file mapping. */
static bool in_kernel_map(const struct board *b, uint64_t off, uint64_t len)
{
    return b->kmap_len && off < b->kmap_off + b->kmap_len && b->kmap_off < off + len;
}

/* /proc/self/pagemap: one 64-bit entry per page; bit 63 present, bit 61 a page of a file
 * (or shared anonymous memory), clear for a private copy made by a write. */
#define PM_PRESENT (1ULL << 63)
#define PM_FILE    (1ULL << 61)

/* The kernel's file mapping: its resident pages that are still the file's own (the guest
 * never wrote them) leave this process's page tables. The host keeps them in its page
 * cache, shared by every VM that boots this kernel, and a later guest access maps them
 * again from there; pages the guest wrote are private copies and stay. Returns the bytes
 * unmapped. */
static uint64_t drop_clean_kernel_pages(struct board *b)
{
    if (b->pagemap_fd < 0 || !b->kmap_len)
        return 0;
    uint8_t *base = b->ram.host + b->kmap_off;
    uint64_t pages = b->kmap_len / HOST_PAGE, dropped = 0;
    uint64_t ent[512];
    for (uint64_t i = 0; i < pages; i += 512) {
        uint64_t n = pages - i < 512 ? pages - i : 512;
        off_t at = (off_t)(((uintptr_t)base / HOST_PAGE + i) * sizeof(uint64_t));
        if (pread(b->pagemap_fd, ent, n * sizeof(uint64_t), at) != (ssize_t)(n * sizeof(uint64_t)))
            return dropped;
        uint64_t run = 0;
        for (uint64_t j = 0; j <= n; j++) {
            if (j < n && (ent[j] & (PM_PRESENT | PM_FILE)) == (PM_PRESENT | PM_FILE)) {
                run++;
                continue;
            }
            if (run && !madvise(base + (i + j - run) * HOST_PAGE, run * HOST_PAGE, MADV_DONTNEED))
                dropped += run * HOST_PAGE;
            run = 0;
        }
    }
    return dropped;
}

uint64_t board_drop_zero_pages(struct board *b)
{
    uint64_t dropped = drop_clean_kernel_pages(b);
    for (uint64_t off = 0; off < b->ram.size; off += HUGE_PAGE) {
        size_t len = b->ram.size - off < HUGE_PAGE ? (size_t)(b->ram.size - off) : HUGE_PAGE;
        if (in_kernel_map(b, off, len)) /* the kernel map is 2 MiB-aligned in practice */
            continue;
        dropped += drop_zero_stretch(b->ram.host + off, len, b->cfg.ram_small_pages);
    }
    return dropped;
}

/* Over the kernel's file mapping too: a page the guest wrote goes back to the file's bytes,
 * which is as good as any for a page the guest reported free. */
void board_discard_ram(struct board *b, uint64_t gpa, uint64_t len)
{
    if (gpa < b->ram.base || gpa - b->ram.base > b->ram.size || len > b->ram.size - (gpa - b->ram.base))
        return;
    madvise(b->ram.host + (gpa - b->ram.base), len, MADV_DONTNEED);
}

void board_set_cpu_quota(struct board *b, unsigned percent)
{
    atomic_store(&b->quota_pct, percent);
}

static void power_request(void *ctx, enum power_action a, int code)
{
    request_exit(ctx, a == POWER_RESET ? BOARD_RESET : BOARD_POWEROFF, code);
}

void board_stop(struct board *b)
{
    request_exit(b, BOARD_STOPPED, 0);
}

/* ---- SBI host side ---- */

static struct hart *sbi_hart(void *ctx, unsigned id)
{
    struct board *b = ctx;
    return &b->harts[id];
}

static void sbi_console(void *ctx, const uint8_t *buf, size_t len)
{
    struct board *b = ctx;
    if (b->cfg.console.write)
        b->cfg.console.write(b->cfg.console.ctx, buf, len);
}

static void bus_sbi_call(void *ctx, struct hart *h)
{
    struct board *b = ctx;
    sbi_ecall(&b->sbi, h);
}

static void bus_hart_start(void *ctx, struct hart *h, uint64_t addr, uint64_t arg)
{
    (void)ctx;
    sbi_start_hart(h, addr, arg);
}

/* ---- interrupt wiring ---- */

static void hart_line(void *ctx, unsigned num, int level)
{
    struct board *b = ctx;
    set_hart_bit(&b->harts[num / 64], 1ULL << (num % 64), level);
}

struct irq_line board_irq(struct board *b, unsigned src)
{
    return (struct irq_line){ plic_set_irq, b->plic, src };
}

static int add_region(struct board *b, const char *name, uint64_t base, uint64_t size, void *dev,
                      int (*rd)(void *, uint64_t, unsigned, uint64_t *),
                      int (*wr)(void *, uint64_t, unsigned, uint64_t))
{
    struct mmio_region r = { name, base, size, dev, rd, wr };
    return board_add_mmio(b, &r);
}

int board_add_mmio(struct board *b, const struct mmio_region *r)
{
    if (b->nregions >= MAX_REGIONS)
        return -ENOSPC;
    for (unsigned i = 0; i < b->nregions; i++) {
        const struct mmio_region *o = &b->regions[i];
        if (r->base < o->base + o->size && o->base < r->base + r->size)
            return -EEXIST;
    }
    b->regions[b->nregions++] = *r;
    return 0;
}

void board_use_virtio_slot(struct board *b, unsigned slot)
{
    if (slot < VIRT_VIRTIO_SLOTS)
        b->virtio_used[slot] = true;
}

struct guest_mem *board_ram(struct board *b) { return &b->ram; }
struct uart16550 *board_uart(struct board *b) { return b->uart; }

static int create_devices(struct board *b)
{
    unsigned n = b->cfg.num_harts;
    struct irq_line ctx_out[2 * VIRT_MAX_HARTS], mtip[VIRT_MAX_HARTS], msip[VIRT_MAX_HARTS];
    for (unsigned h = 0; h < n; h++) {
        ctx_out[VIRT_PLIC_CTX_M(h)] = (struct irq_line){ hart_line, b, h * 64 + 11 };
        ctx_out[VIRT_PLIC_CTX_S(h)] = (struct irq_line){ hart_line, b, h * 64 + 9 };
        mtip[h] = (struct irq_line){ hart_line, b, h * 64 + 7 };
        msip[h] = (struct irq_line){ hart_line, b, h * 64 + 3 };
    }
    b->plic = plic_create(VIRT_PLIC_SOURCES, 2 * n, ctx_out);
    b->aclint = aclint_create(n, board_now, b, mtip, msip);
    struct irq_line uart_irq = board_irq(b, VIRT_UART0_IRQ);
    b->uart = uart16550_create(&b->cfg.console, &uart_irq);
    b->test = sifive_test_create(power_request, b);
    struct irq_line rtc_irq = board_irq(b, VIRT_RTC_IRQ);
    b->rtc = goldfish_rtc_create(&rtc_irq, NULL);
    if (!b->plic || !b->aclint || !b->uart || !b->test || !b->rtc)
        return -ENOMEM;
    add_region(b, "rtc", VIRT_RTC_BASE, VIRT_RTC_SIZE, b->rtc, goldfish_rtc_read, goldfish_rtc_write);
    add_region(b, "test", VIRT_TEST_BASE, VIRT_TEST_SIZE, b->test, sifive_test_read, sifive_test_write);
    add_region(b, "clint", VIRT_CLINT_BASE, VIRT_CLINT_SIZE, b->aclint, aclint_read, aclint_write);
    add_region(b, "plic", VIRT_PLIC_BASE, VIRT_PLIC_SIZE, b->plic, plic_read, plic_write);
    add_region(b, "uart0", VIRT_UART0_BASE, VIRT_UART0_SIZE, b->uart, uart16550_read, uart16550_write);
    return 0;
}

int board_create(struct board **out, const struct board_config *cfg, char *err, size_t errlen)
{
    if (cfg->num_harts < 1 || cfg->num_harts > VIRT_MAX_HARTS) {
        snprintf(err, errlen, "hart count must be 1..%d", VIRT_MAX_HARTS);
        return -EINVAL;
    }
    if (cfg->ram_size == 0 || cfg->ram_size % 4096) {
        /* the harts map RAM a 4 KiB page at a time */
        snprintf(err, errlen, "guest memory must be a non-zero multiple of 4 KiB");
        return -EINVAL;
    }
    struct board *b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    b->cfg = *cfg;
    b->pagemap_fd = -1;
    if (cfg->map_kernel) /* read while idle (drop_clean_kernel_pages), after the sandbox is up */
        b->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    b->start_ns = mono_ns();
    b->exit_kind = -1;
    pthread_mutex_init(&b->exit_lock, NULL);
    pthread_mutex_init(&b->pause_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->pause_cond, &ca);
    pthread_condattr_destroy(&ca);
    void *mem = guard_map(cfg->ram_size, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1);
    if (!mem) {
        snprintf(err, errlen, "cannot allocate %llu MiB of guest memory",
                 (unsigned long long)(cfg->ram_size >> 20));
        free(b);
        return -ENOMEM;
    }
    if (!cfg->ram_small_pages)
        madvise(mem, cfg->ram_size, MADV_HUGEPAGE);
    b->ram = (struct guest_mem){ mem, VIRT_DRAM_BASE, cfg->ram_size, &b->dma_epoch };
    b->bus = (struct hart_bus){
        .ctx = b, .ram = &b->ram, .load = bus_load, .store = bus_store, .time = bus_time,
        .poll = bus_poll, .wait = bus_wait, .sbi_call = cfg->firmware ? NULL : bus_sbi_call,
        .one_hart = cfg->num_harts == 1, .start = bus_hart_start,
        .code = code_shared_new(cfg->num_harts),
    };
    b->sbi = (struct sbi_host){ b, cfg->num_harts, sbi_hart, sbi_console, power_request };
    if (create_devices(b)) {
        snprintf(err, errlen, "cannot create the board's devices");
        board_destroy(b);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < cfg->num_harts; i++)
        hart_init(&b->harts[i], i, &b->bus);
    *out = b;
    return 0;
}

void board_destroy(struct board *b)
{
    if (!b)
        return;
    for (unsigned i = 0; i < b->cfg.num_harts; i++)
        hart_destroy(&b->harts[i]);
    code_shared_free(b->bus.code);
    if (b->uart) uart16550_destroy(b->uart);
    if (b->plic) plic_destroy(b->plic);
    if (b->aclint) aclint_destroy(b->aclint);
    if (b->test) sifive_test_destroy(b->test);
    goldfish_rtc_destroy(b->rtc);
    guard_unmap(b->ram.host, b->ram.size);
    if (b->pagemap_fd >= 0)
        close(b->pagemap_fd);
    pthread_mutex_destroy(&b->exit_lock);
    pthread_mutex_destroy(&b->pause_lock);
    pthread_cond_destroy(&b->pause_cond);
    free(b);
}

/* ---- boot ---- */

static long build_dtb(struct board *b, uint8_t *buf, uint64_t initrd_start, uint64_t initrd_end)
{
    struct fdt_config fc = {
        .num_harts = b->cfg.num_harts, .isa = ISA_STRING, .mmu_type = "riscv,sv57",
        .ram_base = b->ram.base, .ram_size = b->ram.size, .timebase_hz = VIRT_TIMEBASE_HZ,
        .bootargs = b->cfg.bootargs, .initrd_start = initrd_start, .initrd_end = initrd_end,
    };
    for (unsigned i = 0; i < VIRT_VIRTIO_SLOTS; i++) {
        if (!b->virtio_used[i])
            continue;
        fc.virtio[fc.num_virtio++] = (struct fdt_virtio_slot){
            VIRT_VIRTIO_BASE + i * VIRT_VIRTIO_STRIDE, VIRT_VIRTIO_STRIDE, VIRT_VIRTIO_IRQ + i };
    }
    return fdt_build(&fc, buf, DTB_MAX);
}

static const char *load_error(int r)
{
    return r == -ENOEXEC ? "is not a RISC-V 64-bit executable or Linux Image"
         : r == -ENOMEM ? "does not fit in guest memory"
         : "has a malformed header";
}

/* Chooses where everything goes (QEMU virt's layout): firmware at the start of RAM, the
 * kernel 2 MiB in, the initrd min(RAM/2, 128 MiB) past the kernel, the DTB near the top. */
static int load_images(struct board *b, uint64_t *entry, uint64_t *dtb_addr, uint64_t *info_addr,
                       char *err, size_t errlen)
{
    struct guest_mem *ram = &b->ram;
    uint64_t ram_end = ram->base + ram->size;
    struct boot_image fw = { 0 }, kern = { 0 };
    int r;
    if (b->cfg.firmware) {
        r = boot_load(ram, b->cfg.firmware, b->cfg.firmware_len, ram->base, true, &fw);
        if (r) {
            snprintf(err, errlen, "firmware %s", load_error(r));
            return r;
        }
    }
    /* An Image adds its own text_offset (2 MiB for RV64) to the hint: 0x80200000 as on QEMU. */
    uint64_t hint = ram->base + (boot_is_linux_image(b->cfg.kernel, b->cfg.kernel_len) ? 0 : 2 * MiB);
    if (!b->cfg.kernel) /* firmware alone, as QEMU's -bios without -kernel: no S-mode payload */
        kern.start = kern.end = kern.entry = fw.end;
    r = b->cfg.kernel ? boot_load(ram, b->cfg.kernel, b->cfg.kernel_len, hint, true, &kern) : 0;
    if (r) {
        snprintf(err, errlen, "kernel %s", load_error(r));
        return r;
    }
    b->kernel_gpa = kern.start;
    b->kernel_mappable = b->cfg.kernel && (kern.format == BOOT_IMAGE || kern.format == BOOT_FLAT);
    if (b->cfg.firmware && kern.start < fw.end && fw.start < kern.end) {
        snprintf(err, errlen, "kernel overlaps the firmware");
        return -EINVAL;
    }
    uint64_t initrd_start = 0, initrd_end = 0;
    uint64_t top = align_up(kern.end, 2 * MiB);
    if (b->cfg.initrd) {
        uint64_t gap = ram->size / 2 < 128 * MiB ? ram->size / 2 : 128 * MiB;
        initrd_start = align_up(kern.start + gap > kern.end ? kern.start + gap : kern.end, 4096);
        initrd_end = initrd_start + b->cfg.initrd_len;
        top = initrd_end;
    }
    uint8_t *dtb = calloc(1, DTB_MAX);
    if (!dtb)
        return -ENOMEM;
    long dtb_len;
    if (b->cfg.dtb) {
        int fr = b->cfg.dtb_len >= sizeof(struct fdt_header) && b->cfg.dtb_len <= DTB_MAX
                     ? fdt_check_full(b->cfg.dtb, b->cfg.dtb_len) : -FDT_ERR_TRUNCATED;
        if (fr) {
            free(dtb);
            snprintf(err, errlen, "device tree is not a valid flattened device tree (%s)",
                     fdt_strerror(fr));
            return -EINVAL;
        }
        dtb_len = (long)b->cfg.dtb_len;
        memcpy(dtb, b->cfg.dtb, b->cfg.dtb_len < DTB_MAX ? b->cfg.dtb_len : DTB_MAX);
    } else {
        dtb_len = build_dtb(b, dtb, initrd_start, initrd_end);
    }
    if (dtb_len < 0 || dtb_len > DTB_MAX) {
        free(dtb);
        snprintf(err, errlen, "device tree does not fit in %d KiB", DTB_MAX / 1024);
        return -EINVAL;
    }
    /* leave room above the DTB: firmware grows it in place */
    *dtb_addr = (ram_end - (uint64_t)dtb_len - 64 * 1024) & ~(2 * MiB - 1);
    *info_addr = *dtb_addr - 64;
    if (*dtb_addr < ram->base || *info_addr < top || top > ram_end) {
        free(dtb);
        snprintf(err, errlen, "guest memory (%llu MiB) is too small for the kernel%s",
                 (unsigned long long)(ram->size >> 20), b->cfg.initrd ? " and initrd" : "");
        return -ENOMEM;
    }
    if (b->cfg.initrd)
        boot_place(ram, initrd_start, b->cfg.initrd, b->cfg.initrd_len);
    boot_place(ram, *dtb_addr, dtb, (size_t)dtb_len);
    free(dtb);
    uint64_t info[6] = { FW_DYNAMIC_MAGIC, 2, kern.entry, 1 /* S-mode */, 0, UINT64_MAX };
    boot_place(ram, *info_addr, info, sizeof(info));
    *entry = b->cfg.firmware ? fw.entry : kern.entry;
    return 0;
}

/* The kernel's bytes are in RAM as a copy; where the host can, its file's pages replace
 * the copy (cfg.map_kernel), page for page the same bytes. */
static void map_kernel(struct board *b)
{
    uint64_t off = b->kernel_gpa - b->ram.base, len = b->cfg.kernel_len & ~(uint64_t)(HOST_PAGE - 1);
    if (!b->cfg.map_kernel || !b->kernel_mappable || (off & (HOST_PAGE - 1)) || !len ||
        off > b->ram.size || len > b->ram.size - off)
        return;
    if (b->cfg.map_kernel(b->cfg.map_ctx, b->ram.host + off, (size_t)len) == 0) {
        b->kmap_off = off;
        b->kmap_len = len;
    }
}

int board_load(struct board *b, char *err, size_t errlen)
{
    /* a fresh, zeroed RAM without touching every page */
    madvise(b->ram.host, b->ram.size, MADV_DONTNEED);
    uint64_t entry, dtb_addr, info_addr;
    b->kmap_off = b->kmap_len = 0;
    int r = load_images(b, &entry, &dtb_addr, &info_addr, err, errlen);
    if (r)
        return r;
    map_kernel(b);
    uart16550_reset(b->uart);
    plic_reset(b->plic);
    aclint_reset(b->aclint);
    b->exit_kind = -1;
    b->exit_code = 0;
    bool builtin = b->cfg.firmware == NULL;
    for (unsigned i = 0; i < b->cfg.num_harts; i++) {
        struct hart *h = &b->harts[i];
        h->sbi_builtin = builtin;
        atomic_store(&h->stop, false);
        if (builtin) {
            sbi_prepare_hart(h, entry, i, dtb_addr);
            atomic_store(&h->hsm, i == 0 ? HSM_STARTED : HSM_STOPPED);
        } else {
            hart_reset(h, entry);
            h->x[10] = i;
            h->x[11] = dtb_addr;
            h->x[12] = info_addr; /* fw_dynamic: struct fw_dynamic_info */
            atomic_store(&h->hsm, HSM_STARTED);
        }
    }
    return 0;
}

static void *hart_thread(void *arg)
{
    struct hart *h = arg;
    const struct board *b = h->bus->ctx;
    if (b->cfg.hart_thread_start)
        b->cfg.hart_thread_start(b->cfg.hart_thread_ctx);
    hart_run(h);
    return NULL;
}

enum board_exit board_run(struct board *b, int *exit_code)
{
    unsigned started = 0;
    for (unsigned i = 0; i < b->cfg.num_harts; i++) {
        if (pthread_create(&b->threads[i], NULL, hart_thread, &b->harts[i]) != 0) {
            request_exit(b, BOARD_STOPPED, 0);
            break;
        }
        started++;
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(b->threads[i], NULL);
    *exit_code = b->exit_code;
    return b->exit_kind < 0 ? BOARD_STOPPED : (enum board_exit)b->exit_kind;
}
