/* libFuzzer target that checks the translator against the interpreter: the input's header
 * chooses the privilege, a few CSRs and every register's first value, the rest is guest code
 * placed at the start of RAM. Two harts with equal RAM run the same number of instructions,
 * one interpreting only (hart.interp_only), one translating as a VM does; their integer and
 * FP registers, pc, privilege, trap CSRs, RAM and device accesses must then be equal.
 * Build and run with tools/fuzz fuzz_jit_diff SECONDS. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/exec.h"
#include "cpu/hart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (64u << 10)
#define CODE_MAX (8u << 10)   /* two pages of code: runs that cross a page, too */
#define DEV_BASE 0x10000000ULL /* a small fake device: what reaches the bus is compared */
#define DEV_SIZE 0x1000
#define HDR 72                /* flags, steps, medeleg, mideleg, 32 x and 32 f selectors, ... */
#define STEPS_MAX 1024

/* What one hart saw on its bus, besides RAM. */
struct side {
    struct guest_mem ram;
    struct hart_bus bus;
    struct hart hart;
    uint64_t dev_hash, dev_stores, dev_loads;
};

static struct side side[2];

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x9e3779b97f4a7c15ULL;
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ULL;
    return x ^ x >> 32;
}

static int dev_load(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
    struct side *s = ctx;
    if (pa < DEV_BASE || pa - DEV_BASE >= DEV_SIZE)
        return -EFAULT;
    s->dev_loads++;
    uint64_t v = mix(pa * 8 + size);
    *val = size == 8 ? v : v & ((1ULL << (8 * size)) - 1);
    return 0;
}

static int dev_store(void *ctx, uint64_t pa, unsigned size, uint64_t val)
{
    struct side *s = ctx;
    if (pa < DEV_BASE || pa - DEV_BASE >= DEV_SIZE)
        return -EFAULT;
    s->dev_stores++;
    s->dev_hash = mix(s->dev_hash ^ pa ^ (uint64_t)size << 56) ^ val;
    return 0;
}

/* Time stands still in both harts, so the time CSR, Sstc's stimecmp and WFI give the same
 * answers in both: nothing needs to be left out of the comparison for it. */
static uint64_t dev_time(void *ctx) { (void)ctx; return 0x123456789ULL; }
static void dev_poll(void *ctx, struct hart *h) { (void)ctx; (void)h; }
static void dev_wait(void *ctx, struct hart *h) { (void)ctx; (void)h; }

/* A register's first value from one selector byte: small numbers, addresses in RAM, near
 * its end and in the device, single bits, masks, extremes, and noise. */
static uint64_t pick(uint8_t b, unsigned i)
{
    unsigned k = b & 31;
    switch (b >> 5) {
    case 0: return (uint64_t)((int64_t)k - 16);
    case 1: return RAM_BASE + k * (RAM_SIZE / 32) + (i & 7);
    case 2: return DEV_BASE + k * 8;
    case 3: return 1ULL << (2 * k);
    case 4: return ~0ULL << (2 * k);
    case 5: return 0x8000000000000000ULL | k;
    case 6: return RAM_BASE + RAM_SIZE - k;
    default: return mix(b * 131u + i);
    }
}

/* FP values: NaN-boxed singles and doubles, with their special cases. */
static uint64_t pick_f(uint8_t b, unsigned i)
{
    static const uint64_t special[] = {
        0, 0x8000000000000000ULL, 0x3ff0000000000000ULL, 0x7ff0000000000000ULL,
        0x7ff8000000000000ULL, 0x7ff0000000000001ULL, 0x0000000000000001ULL,
        0xffffffff3f800000ULL, 0xffffffff7fc00000ULL, 0xffffffff7f800000ULL,
        0xffffffff00000001ULL, 0x000000003f800000ULL /* not NaN-boxed */,
    };
    if (b < sizeof(special) / sizeof(special[0]))
        return special[b];
    return b & 1 ? 0xffffffff00000000ULL | (uint32_t)mix(b + i) : mix(b * 7u + i);
}

static void side_init(struct side *s)
{
    s->ram = (struct guest_mem){ NULL, RAM_BASE, RAM_SIZE, NULL };
    s->bus = (struct hart_bus){ s, &s->ram, dev_load, dev_store, dev_time, dev_poll, dev_wait,
                                NULL, true, NULL, NULL };
}

/* The same starting state in both harts, from the header. */
static void side_start(struct side *s, const uint8_t *h, const uint8_t *code, size_t len,
                       bool interp)
{
    s->dev_hash = s->dev_stores = s->dev_loads = 0;
    for (unsigned i = 0; i < RAM_SIZE; i += 8) {
        uint64_t v = mix(i ^ (uint64_t)h[70] << 32);
        memcpy(s->ram.host + i, &v, 8);
    }
    memcpy(s->ram.host, code, len);
    hart_init(&s->hart, 0, &s->bus);
    struct hart *t = &s->hart;
    t->interp_only = interp;
    static const int privs[4] = { PRV_U, PRV_S, PRV_M, PRV_M };
    t->priv = privs[h[0] & 3];
    if (h[0] & 4)
        t->mstatus |= MSTATUS_FS; /* FP on */
    t->mstatus |= (h[0] & 8 ? MSTATUS_SUM : 0) | (h[0] & 16 ? MSTATUS_MXR : 0) |
                  (h[0] & 32 ? MSTATUS_MPRV | (uint64_t)(h[71] & 3) << 11 : 0);
    /* PMP as firmware leaves it: everything open to S and U */
    t->pmpaddr[0] = ~0ULL >> 10;
    t->pmpcfg[0] = 0x1f;
    t->pmp_count = 1;
    /* traps land back in the code, in M or, delegated, in S */
    t->mtvec = RAM_BASE + (h[69] & 0x3c);
    t->stvec = RAM_BASE + 0x40 + (h[69] >> 6 << 2);
    t->medeleg = (uint64_t)h[2] << 8 | h[3];
    t->mideleg = MIP_SSIP | MIP_STIP | MIP_SEIP;
    t->mie = h[0] & 64 ? MIP_SSIP | MIP_STIP | MIP_MSIP : 0;
    for (unsigned i = 1; i < 32; i++)
        t->x[i] = pick(h[4 + i], i);
    for (unsigned i = 0; i < 32; i++)
        t->f[i] = pick_f(h[36 + i], i);
    t->fcsr = h[68] & 0xff;
    t->pc = RAM_BASE;
    atomic_store(&t->hsm, HSM_STARTED);
}

/* Runs STEPS instructions as hart_run does, between blocks taking interrupts; a WFI wakes
 * at once (nothing will come). */
static void side_run(struct side *s, unsigned steps)
{
    struct hart *t = &s->hart;
    unsigned done = 0, idle = 0;
    while (done < steps && idle < 4) {
        hart_check_interrupts(t);
        t->wfi_pending = false;
        unsigned n = hart_exec_block(t, steps - done);
        done += n;
        idle = n ? 0 : idle + 1;
    }
}

/* A difference names itself, with both values, before the fuzzer's crash report. */
#define SAME(field) do { if (a->field != b->field) { \
        fprintf(stderr, "fuzz_jit_diff: %s differs: interpreted %#llx, translated %#llx\n", #field, \
                (unsigned long long)a->field, (unsigned long long)b->field); \
        __builtin_trap(); } } while (0)

static void compare(const struct side *sa, const struct side *sb)
{
    const struct hart *a = &sa->hart, *b = &sb->hart;
    for (unsigned i = 0; i < 32; i++) {
        SAME(x[i]);
        SAME(f[i]);
    }
    SAME(pc);
    SAME(priv);
    SAME(fcsr);
    SAME(mstatus);
    SAME(mcause);
    SAME(mtval);
    SAME(mepc);
    SAME(scause);
    SAME(stval);
    SAME(sepc);
    SAME(satp);
    SAME(mscratch);
    SAME(sscratch);
    SAME(mtvec);
    SAME(stvec);
    SAME(mie);
    SAME(instret);
    SAME(resv_valid);
    SAME(stimecmp);
    if (atomic_load(&a->mip) != atomic_load(&b->mip))
        __builtin_trap();
    if (sa->dev_hash != sb->dev_hash || sa->dev_stores != sb->dev_stores ||
        sa->dev_loads != sb->dev_loads)
        __builtin_trap();
    if (memcmp(sa->ram.host, sb->ram.host, RAM_SIZE))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HDR + 2)
        return 0;
    const uint8_t *code = data + HDR;
    size_t len = size - HDR < CODE_MAX ? size - HDR : CODE_MAX;
    unsigned steps = 1 + (data[1] * 4u) % STEPS_MAX;
    for (int i = 0; i < 2; i++) {
        side_init(&side[i]);
        /* fresh each time, so that ASan sees a step past the end of RAM */
        side[i].ram.host = aligned_alloc(4096, RAM_SIZE);
        if (!side[i].ram.host)
            abort();
        side_start(&side[i], data, code, len, i == 0);
        side_run(&side[i], steps);
    }
    compare(&side[0], &side[1]);
    if (getenv("FUZZ_TRACE")) { /* say where the run ended */
        const struct hart *t = &side[0].hart;
        fprintf(stderr, "pc %#llx priv %d mcause %#llx scause %#llx satp %#llx instret %llu\n",
                (unsigned long long)t->pc, t->priv, (unsigned long long)t->mcause,
                (unsigned long long)t->scause, (unsigned long long)t->satp,
                (unsigned long long)t->instret);
    }
    for (int i = 0; i < 2; i++) {
        hart_destroy(&side[i].hart);
        free(side[i].ram.host);
    }
    return 0;
}
