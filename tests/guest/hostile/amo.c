/* Atomics and plain accesses at and across the end of RAM (and its start), and on MMIO.
 * Unpriv spec (A extension): a misaligned AMO or LR/SC raises an address-misaligned or an
 * access fault; priv spec 3.6: an access to a region that is not memory, or one that
 * supports no atomics, is an access fault. Nothing may reach the host past the guest's RAM. */
#include "rt.h"

enum op { LD, LW, LH, SD, SW, FLD, FSD, CLD, CSD, AMO_W, AMO_D, SWAP_W, LR_W, LR_D, SC_W, SC_D, LB, SB };
static const char *name[] = { "ld", "lw", "lh", "sd", "sw", "fld", "fsd", "c.ld", "c.sd", "amoadd.w",
                              "amoadd.d", "amoswap.w", "lr.w", "lr.d", "sc.w", "sc.d", "lb", "sb" };

static uint64_t run(enum op o, uintptr_t a, uint64_t v)
{
    rt_clear_trap();
    switch (o) {
    case LD: __asm__ volatile("ld %0, 0(%1)" : "+r"(v) : "r"(a) : "memory"); break;
    case LW: __asm__ volatile("lw %0, 0(%1)" : "+r"(v) : "r"(a) : "memory"); break;
    case LH: __asm__ volatile("lh %0, 0(%1)" : "+r"(v) : "r"(a) : "memory"); break;
    case LB: __asm__ volatile("lb %0, 0(%1)" : "+r"(v) : "r"(a) : "memory"); break;
    case SD: __asm__ volatile("sd %0, 0(%1)" ::"r"(v), "r"(a) : "memory"); break;
    case SW: __asm__ volatile("sw %0, 0(%1)" ::"r"(v), "r"(a) : "memory"); break;
    case SB: __asm__ volatile("sb %0, 0(%1)" ::"r"(v), "r"(a) : "memory"); break;
    case FLD: __asm__ volatile("fld fa0, 0(%1); fmv.x.d %0, fa0" : "+r"(v) : "r"(a) : "fa0", "memory"); break;
    case FSD: __asm__ volatile("fmv.d.x fa0, %0; fsd fa0, 0(%1)" ::"r"(v), "r"(a) : "fa0", "memory"); break;
    case CLD: {
        register uint64_t x8 __asm__("s0") = v;
        register uintptr_t x9 __asm__("s1") = a;
        __asm__ volatile("c.ld s0, 0(s1)" : "+r"(x8) : "r"(x9) : "memory");
        v = x8;
        break;
    }
    case CSD: {
        register uint64_t x8 __asm__("s0") = v;
        register uintptr_t x9 __asm__("s1") = a;
        __asm__ volatile("c.sd s0, 0(s1)" ::"r"(x8), "r"(x9) : "memory");
        break;
    }
    case AMO_W: __asm__ volatile("amoadd.w %0, %0, 0(%1)" : "+r"(v) : "r"(a) : "memory"); break;
    case AMO_D: __asm__ volatile("amoadd.d %0, %0, 0(%1)" : "+r"(v) : "r"(a) : "memory"); break;
    case SWAP_W: __asm__ volatile("amoswap.w %0, %0, 0(%1)" : "+r"(v) : "r"(a) : "memory"); break;
    case LR_W: __asm__ volatile("lr.w %0, 0(%1)" : "+r"(v) : "r"(a) : "memory"); break;
    case LR_D: __asm__ volatile("lr.d %0, 0(%1)" : "+r"(v) : "r"(a) : "memory"); break;
    case SC_W: __asm__ volatile("sc.w %0, %0, 0(%1)" : "+r"(v) : "r"(a) : "memory"); break;
    case SC_D: __asm__ volatile("sc.d %0, %0, 0(%1)" : "+r"(v) : "r"(a) : "memory"); break;
    }
    return v;
}

static bool is_store(enum op o)
{
    return o == SD || o == SW || o == SB || o == FSD || o == CSD || o == AMO_W || o == AMO_D ||
           o == SWAP_W || o == SC_W || o == SC_D;
}

static void say(enum op o, const char *where, const char *outcome)
{
    rt_puts("amo: ");
    rt_puts(name[o]);
    rt_puts(" at ");
    rt_puts(where);
    rt_puts(outcome);
}

/* Must fault: access fault, or misaligned when the address is misaligned for the size. */
static void must_fault(enum op o, uintptr_t a, const char *where)
{
    run(o, a, 0x1111);
    uint64_t c = rt_last.cause;
    bool store = is_store(o);
    bool ok = c == (store ? CAUSE_STORE_ACCESS : CAUSE_LOAD_ACCESS) ||
              c == (store ? CAUSE_STORE_MISALIGNED : CAUSE_LOAD_MISALIGNED);
    say(o, where, " -> access/misaligned fault");
    rt_verdict_val(ok, "", "cause", c);
}

int main(void)
{
    static const enum op every[] = { LD, LW, LH, SD, SW, FLD, FSD, CLD, CSD, AMO_W, AMO_D, SWAP_W,
                                     LR_W, LR_D, SC_W, SC_D };
    static const struct { uintptr_t a; const char *where; } bad[] = {
        { RAM_END - 1, "RAM_END-1" },
        { RAM_END - 2, "RAM_END-2" },
        { RAM_END - 4, "RAM_END-4" },
        { RAM_END - 6, "RAM_END-6" },
        { RAM_END, "RAM_END" },
        { RAM_END + 8, "RAM_END+8" },
        { RAM_BASE - 4, "RAM_BASE-4" },
        { RAM_BASE - 2, "RAM_BASE-2" },
        { ~0UL - 3, "2^64-4" },
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        for (unsigned k = 0; k < sizeof(every) / sizeof(every[0]); k++) {
            enum op o = every[k];
            unsigned size = o == LW || o == SW || o == AMO_W || o == SWAP_W || o == LR_W || o == SC_W ? 4
                            : o == LH ? 2 : 8;
            uintptr_t a = bad[i].a;
            if (a < RAM_END && a >= RAM_BASE && a + size <= RAM_END)
                continue; /* wholly inside RAM: not an attack */
            must_fault(o, a, bad[i].where);
        }
    must_fault(LB, RAM_END, "RAM_END");
    must_fault(SB, RAM_END, "RAM_END");

    /* the last bytes of RAM are ordinary memory, twice so the second goes by the TLB */
    for (unsigned pass = 0; pass < 2; pass++) {
        run(SD, RAM_END - 8, 0x0102030405060708ULL);
        uint64_t old = run(AMO_D, RAM_END - 8, 1);
        bool ok = rt_last.cause == NO_TRAP && old == 0x0102030405060708ULL;
        uint64_t now = run(LD, RAM_END - 8, 0);
        ok = ok && now == 0x0102030405060709ULL;
        run(LR_D, RAM_END - 8, 0);
        uint64_t sc = run(SC_D, RAM_END - 8, 77);
        ok = ok && sc == 0 && run(LD, RAM_END - 8, 0) == 77;
        uint64_t b = run(LB, RAM_END - 1, 0);
        ok = ok && rt_last.cause == NO_TRAP && b == 0;
        rt_verdict_val(ok, pass ? "amo: last doubleword of RAM again -> works" :
                       "amo: last doubleword of RAM (sd, amoadd.d, lr/sc, lb) -> works", "value", now);
    }

    /* misaligned atomics inside RAM, one of them across a page */
    static uint64_t cell[1024] __attribute__((aligned(4096)));
    for (unsigned k = 0; k < 3; k++) {
        enum op o = k == 0 ? AMO_W : k == 1 ? AMO_D : LR_D;
        uintptr_t a = k == 1 ? (uintptr_t)cell + 4096 - 4 : (uintptr_t)cell + 2;
        must_fault(o, a, k == 1 ? "a page edge in RAM" : "an odd address in RAM");
    }

    /* atomics on MMIO: the UART's scratch register, a virtio device, a hole */
    must_fault(AMO_W, UART_BASE + 4, "the UART");
    must_fault(LR_W, UART_BASE + 4, "the UART");
    must_fault(AMO_D, VIRTIO_BASE + 0x70, "a virtio status register");
    must_fault(AMO_W, 0x40000000UL, "a hole");
    must_fault(SC_W, 0x40000000UL, "a hole");
    return 0;
}
