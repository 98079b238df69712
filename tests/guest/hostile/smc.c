/* Self-modifying code at page edges: a 32-bit instruction straddling offset 0xffe of a page
 * whose halves are rewritten (by stores, by an AMO, by the code itself) between runs, each
 * change followed by fence.i (unpriv spec, Zifencei: after it, fetches see the stores).
 * And code at the end of RAM: an instruction fetch past RAM is an access fault. */
#include "rt.h"

static uint8_t code[3 * 4096] __attribute__((aligned(4096)));
#define EDGE ((uintptr_t)code + 0xffe)

#define A0 10
#define T0 5
#define T1 6
static uint32_t addi(unsigned rd, unsigned rs1, int imm) { return (uint32_t)(imm & 0xfff) << 20 | rs1 << 15 | rd << 7 | 0x13; }
static uint32_t xori(unsigned rd, unsigned rs1, int imm) { return addi(rd, rs1, imm) | 4 << 12; }
static uint32_t sw(unsigned rs2, unsigned rs1, int off)
{
    return (uint32_t)(off >> 5 & 0x7f) << 25 | rs2 << 20 | rs1 << 15 | 2 << 12 | (uint32_t)(off & 31) << 7 | 0x23;
}
#define RET16 0x8082u      /* c.jr ra */
#define RET32 0x00008067u  /* jalr x0, 0(ra) */
#define FENCE_I 0x0000100fu

static void put16(uintptr_t a, uint16_t v) { *(volatile uint16_t *)a = v; }
static void put32(uintptr_t a, uint32_t v) { put16(a, (uint16_t)v); put16(a + 2, (uint16_t)(v >> 16)); }
static void fence_i(void) { __asm__ volatile("fence.i" ::: "memory"); }

/* Calls the code at A with a0 = ARG; a fetch fault comes back here too (rt_last says). */
static uint64_t call(uintptr_t a, uint64_t arg)
{
    rt_clear_trap(); /* before a0 is loaded: a call would clobber it */
    register uint64_t x10 __asm__("a0") = arg;
    __asm__ volatile("jalr %1" : "+r"(x10) : "r"(a)
                     : "ra", "t0", "t1", "t2", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "memory");
    return x10;
}

/* The other hart rewrites the upper half on request: it stores the halfword it is given,
 * then says so; this hart runs the code after fence.i (Zifencei: a store by another hart,
 * seen through synchronization, then fence.i, then the fetch sees it). */
static volatile uint32_t remote_want, remote_done;
#define REMOTE_STOP 0xffffffffu

static void remote_writer(void)
{
    for (;;) {
        uint32_t w = remote_want;
        if (w == REMOTE_STOP)
            sbi_call(0x48534d, 1, 0, 0, 0); /* HSM hart_stop */
        if (w == remote_done)
            continue;
        put16(EDGE + 2, (uint16_t)(addi(A0, A0, (int)(w & 0x7ff)) >> 16));
        mb();
        remote_done = w;
    }
}

static void cross_hart(void)
{
    if (!rt_start_hart(1, remote_writer)) {
        rt_verdict(false, "smc: a second hart starts");
        return;
    }
    put32(EDGE, addi(A0, A0, 5));
    put16(EDGE + 4, RET16);
    fence_i();
    unsigned wrong = 0, late = 0;
    for (uint32_t i = 1; i <= 200; i++) {
        (void)call(EDGE, 7); /* keep the old code hot */
        remote_want = i;
        /* a busy host may be slow to run the other hart, but not this slow */
        for (uint64_t end = rdtime() + 20000000; remote_done != i && rdtime() < end;)
            ;
        if (remote_done != i) {
            late++;
            break;
        }
        mb();
        fence_i();
        wrong += call(EDGE, 7) != 7 + (i & 0x7ff);
    }
    rt_verdict_val(!wrong && !late,
                   "smc: the other hart rewrites the second page's half 200 times -> seen after fence.i",
                   "wrong", wrong | (uint64_t)late << 32);
    remote_want = REMOTE_STOP;
}

int main(void)
{
    /* addi a0, a0, imm across the edge, then a return on the next page */
    put32(EDGE, addi(A0, A0, 5));
    put16(EDGE + 4, RET16);
    fence_i();
    uint64_t r = call(EDGE, 7);
    rt_verdict_val(r == 12, "smc: addi across offset 0xffe -> runs", "a0", r);

    /* the upper half (the immediate, on the second page) changes 1000 times */
    unsigned wrong = 0;
    for (int i = 0; i < 1000; i++) {
        put16(EDGE + 2, (uint16_t)(addi(A0, A0, i) >> 16));
        fence_i();
        wrong += call(EDGE, 7) != (uint64_t)(7 + i);
    }
    rt_verdict_val(!wrong, "smc: second page's half rewritten 1000 times -> each run sees it", "wrong", wrong);

    /* the lower half (funct3, on the first page) flips between addi and xori */
    put32(EDGE, addi(A0, A0, 5));
    wrong = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t insn = (i & 1) ? xori(A0, A0, 5) : addi(A0, A0, 5);
        put16(EDGE, (uint16_t)insn);
        fence_i();
        wrong += call(EDGE, 7) != ((i & 1) ? 2u : 12u);
    }
    rt_verdict_val(!wrong, "smc: first page's half rewritten 1000 times -> each run sees it", "wrong", wrong);

    /* an AMO rewrites the immediate: the aligned word at the page start holds the upper half */
    put32(EDGE, addi(A0, A0, 5));
    fence_i();
    (void)call(EDGE, 7);
    uint32_t flip = (addi(A0, A0, 5) ^ addi(A0, A0, 100)) >> 16;
    __asm__ volatile("amoxor.w zero, %0, 0(%1)" ::"r"(flip), "r"(EDGE + 2) : "memory");
    fence_i();
    r = call(EDGE, 7);
    rt_verdict_val(r == 107, "smc: AMO rewrites the second page's half -> seen", "a0", r);

    /* the code rewrites its own next instruction, which straddles the edge:
     *   edge-8: sw t1, 6(t0)    (t0 = edge-8, t1 = new upper half | ret << 16)
     *   edge-4: fence.i
     *   edge:   addi a0, a0, 5  (its upper half becomes addi a0, a0, 33's)
     *   edge+4: ret */
    wrong = 0;
    for (int i = 0; i < 200; i++) {
        put32(EDGE - 8, sw(T1, T0, 10));
        put32(EDGE - 4, FENCE_I);
        put32(EDGE, addi(A0, A0, 5));
        put16(EDGE + 4, RET16);
        fence_i();
        uint32_t upper = addi(A0, A0, 33 + i) >> 16;
        register uint64_t t0 __asm__("t0") = EDGE - 8;
        register uint64_t t1 __asm__("t1") = upper | (uint32_t)RET16 << 16;
        register uint64_t x10 __asm__("a0") = 7;
        __asm__ volatile("jalr %3" : "+r"(x10), "+r"(t0), "+r"(t1) : "r"(EDGE - 8)
                         : "ra", "t2", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "memory");
        wrong += x10 != (uint64_t)(7 + 33 + i);
    }
    rt_verdict_val(!wrong, "smc: code rewrites the instruction across the edge ahead of it -> seen",
                   "wrong", wrong);

    cross_hart();

    /* the device rewrites the code: virtio-blk reads sector 2 (the runner put there the
     * upper half of addi a0, a0, 42 and a return) over the start of the second page */
    struct vdev blk;
    if (vio_find(&blk, VIRTIO_BLK) && vio_init(&blk)) {
        put32(EDGE, addi(A0, A0, 5));
        put16(EDGE + 4, RET16);
        fence_i();
        uint64_t before = call(EDGE, 7);
        bool read = vio_blk_read(&blk, 2, code + 0x1000, 512);
        /* run it only if the disk held the code: zeros would trap on and on */
        read = read && *(volatile uint16_t *)(code + 0x1000) == (uint16_t)(addi(A0, A0, 42) >> 16);
        fence_i();
        r = read ? call(EDGE, 7) : 0;
        rt_verdict_val(before == 12 && read && r == 49,
                       "smc: virtio-blk reads new code over the second page's half -> seen after fence.i",
                       "a0", r);
        vio_reset(&blk);
    }

    /* a 32-bit instruction whose upper half would lie past the end of RAM */
    uintptr_t end = RAM_END;
    put16(end - 2, (uint16_t)addi(A0, A0, 1));
    fence_i();
    r = call(end - 2, 7);
    rt_verdict_val(rt_last.cause == CAUSE_FETCH_ACCESS && (rt_last.tval == end || rt_last.tval == end - 2),
                   "smc: 32-bit instruction across the end of RAM -> fetch access fault", "tval", rt_last.tval);

    /* a compressed one in the last halfword runs; the fetch after it faults at RAM_END */
    put16(end - 2, 0x4515); /* c.li a0, 5 */
    fence_i();
    r = call(end - 2, 7);
    rt_verdict_val(rt_last.cause == CAUSE_FETCH_ACCESS && rt_last.tval == end && r == 5,
                   "smc: c.li in RAM's last halfword runs, the next fetch faults at RAM_END", "a0", r);

    /* a full instruction in the last word, twice so the second run may come from a cache */
    put32(end - 4, addi(A0, A0, 3));
    fence_i();
    for (unsigned pass = 0; pass < 2; pass++) {
        r = call(end - 4, 7);
        rt_verdict_val(rt_last.cause == CAUSE_FETCH_ACCESS && rt_last.tval == end && r == 10,
                       pass ? "smc: addi in RAM's last word again -> same" :
                       "smc: addi in RAM's last word runs, the next fetch faults at RAM_END", "a0", r);
    }
    wrong = 0;
    for (unsigned i = 0; i < 2000; i++) {
        r = call(end - 4, 7);
        wrong += rt_last.cause != CAUSE_FETCH_ACCESS || r != 10;
    }
    rt_verdict_val(!wrong, "smc: addi in RAM's last word, 2000 runs -> same each time", "wrong", wrong);
    put32(end - 4, addi(A0, A0, 4));
    fence_i();
    r = call(end - 4, 7);
    rt_verdict_val(r == 11, "smc: RAM's last word rewritten -> seen", "a0", r);

    /* jumping into the middle of nothing */
    r = call(RAM_END + 0x100000, 7);
    rt_verdict(rt_last.cause == CAUSE_FETCH_ACCESS && rt_last.tval == RAM_END + 0x100000,
               "smc: jump past RAM -> fetch access fault");
    r = call(EDGE + 1, 7);
    rt_verdict(rt_last.cause == NO_TRAP || rt_last.cause == CAUSE_FETCH_MISALIGNED,
               "smc: jump to an odd address -> low bit cleared (jalr) or misaligned fault");
    return 0;
}
