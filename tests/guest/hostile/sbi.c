/* The built-in SBI called with hostile arguments: unknown extensions and functions, hart
 * masks that overflow or name harts that do not exist, HSM starts at bad addresses,
 * debug-console buffers past RAM and of 2^64-1 bytes, remote fences over the whole address
 * space, PMU counters that do not exist, and system resets of reserved types and reasons.
 * Each must return the error the SBI spec (v2.0) gives, and the guest goes on. */
#include "rt.h"

#define EXT_BASE 0x10
#define EXT_TIME 0x54494d45
#define EXT_IPI 0x735049
#define EXT_RFENCE 0x52464e43
#define EXT_HSM 0x48534d
#define EXT_SRST 0x53525354
#define EXT_DBCN 0x4442434e
#define EXT_PMU 0x504d55

#define NOT_SUPPORTED (-2)
#define INVALID_PARAM (-3)
#define INVALID_ADDRESS (-5)
#define ALREADY_AVAILABLE (-6)

static void expect(long eid, long fid, long a0, long a1, long a2, long want, const char *what)
{
    struct sbiret r = sbi_call(eid, fid, a0, a1, a2);
    rt_puts("sbi: ");
    rt_puts(what);
    rt_verdict_val(r.error == want, "", "error", (uint64_t)r.error);
}

static void parked(void)
{
    for (;;)
        __asm__ volatile("wfi");
}

int main(void)
{
    static const char msg[] = "sbi: debug console written\n";
    expect(0x0badcafe, 0, 0, 0, 0, NOT_SUPPORTED, "unknown extension -> NOT_SUPPORTED");
    expect(EXT_BASE, 0x7fffffff, 0, 0, 0, NOT_SUPPORTED, "unknown base function -> NOT_SUPPORTED");
    expect(EXT_TIME, 1, 0, 0, 0, NOT_SUPPORTED, "TIME function 1 -> NOT_SUPPORTED");
    expect(EXT_IPI, 0, 3, -2L, 0, INVALID_PARAM, "IPI, hart mask base 2^64-2 + 1 wraps -> INVALID_PARAM");
    expect(EXT_IPI, 0, 1L << 63, 0, 0, INVALID_PARAM, "IPI to hart 63 -> INVALID_PARAM");
    expect(EXT_IPI, 0, 1, 8, 0, INVALID_PARAM, "IPI to hart 8 -> INVALID_PARAM");
    expect(EXT_IPI, 0, 0, -1L, 0, 0, "IPI to all harts (base -1) -> SUCCESS");
    __asm__ volatile("csrci sip, 2"); /* the IPI we sent ourselves */
    expect(EXT_RFENCE, 1, 0, -1L, 0, 0, "remote sfence.vma on every hart -> SUCCESS");
    expect(EXT_RFENCE, 6, 1, 0, 0, NOT_SUPPORTED, "remote hfence -> NOT_SUPPORTED");
    expect(EXT_RFENCE, 0, 1L << 40, 0, 0, INVALID_PARAM, "remote fence.i to hart 40 -> INVALID_PARAM");
    expect(EXT_HSM, 0, 99, (long)parked, 0, INVALID_PARAM, "start hart 99 -> INVALID_PARAM");
    expect(EXT_HSM, 0, -1L, (long)parked, 0, INVALID_PARAM, "start hart 2^64-1 -> INVALID_PARAM");
    expect(EXT_HSM, 0, 1, RAM_END - 2, 0, INVALID_ADDRESS, "start at RAM_END-2 -> INVALID_ADDRESS");
    expect(EXT_HSM, 0, 1, UART_BASE, 0, INVALID_ADDRESS, "start on MMIO -> INVALID_ADDRESS");
    expect(EXT_HSM, 0, 1, -4L, 0, INVALID_ADDRESS, "start at 2^64-4 -> INVALID_ADDRESS");
    expect(EXT_HSM, 0, 0, (long)parked, 0, ALREADY_AVAILABLE, "start myself -> ALREADY_AVAILABLE");
    expect(EXT_HSM, 2, 4000, 0, 0, INVALID_PARAM, "status of hart 4000 -> INVALID_PARAM");
    expect(EXT_HSM, 3, 0x80000000L, 0, 0, NOT_SUPPORTED, "non-retentive suspend -> NOT_SUPPORTED");
    expect(EXT_DBCN, 0, 16, RAM_END - 8, 0, INVALID_PARAM, "console write across RAM_END -> INVALID_PARAM");
    expect(EXT_DBCN, 0, -1L, RAM_BASE + 0x1000, 0, INVALID_PARAM,
           "console write of 2^64-1 bytes -> INVALID_PARAM");
    expect(EXT_DBCN, 0, 8, (long)msg, 1, INVALID_PARAM, "console write above 4 GiB (a2) -> INVALID_PARAM");
    expect(EXT_DBCN, 1, 8, UART_BASE, 0, INVALID_PARAM, "console read into MMIO -> INVALID_PARAM");
    expect(EXT_DBCN, 7, 0, 0, 0, NOT_SUPPORTED, "console function 7 -> NOT_SUPPORTED");
    struct sbiret w = sbi_call(EXT_DBCN, 0, sizeof(msg) - 1, (long)msg, 0);
    rt_verdict_val(w.error == 0 && w.value == sizeof(msg) - 1, "sbi: a good console write -> all bytes",
                   "value", (uint64_t)w.value);
    expect(EXT_PMU, 1, 1000, 0, 0, INVALID_PARAM, "info of PMU counter 1000 -> INVALID_PARAM");
    expect(EXT_PMU, 2, 0, 0, 0, NOT_SUPPORTED, "PMU configure -> NOT_SUPPORTED");
    expect(EXT_SRST, 0, 0xffffffffL, 0, 0, INVALID_PARAM, "reset of type 2^32-1 -> INVALID_PARAM");
    expect(EXT_SRST, 0, 3, 0, 0, INVALID_PARAM, "reset of reserved type 3 -> INVALID_PARAM");
    expect(EXT_SRST, 0, 0, 2, 0, INVALID_PARAM, "shutdown for reserved reason 2 -> INVALID_PARAM");
    expect(EXT_SRST, 0, 0, 0xE0000000L, 0, INVALID_PARAM,
           "shutdown for an unimplemented SBI-specific reason -> INVALID_PARAM");
    expect(EXT_SRST, 1, 0, 0, 0, NOT_SUPPORTED, "SRST function 1 -> NOT_SUPPORTED");

    /* the legacy getchar answers -1 (no input) rather than anything else */
    struct sbiret g = sbi_call(0x02, 0, 0, 0, 0);
    rt_verdict_val(g.error == -1, "sbi: legacy getchar -> -1", "a0", (uint64_t)g.error);
    /* a hart started the right way still runs */
    expect(EXT_HSM, 0, 1, (long)parked, 0, 0, "start hart 1 at good code -> SUCCESS");
    return 0;
}
