/* Ecalls to the firmware below us (SBI spec v2.0 calling convention: a7 = EID, a6 = FID). */
#include "arch/riscv/sbi_call.h"
#include "arch/riscv/csr.h"

#define FW_BASE   0x10
#define FW_TIME   0x54494d45
#define FW_IPI    0x735049
#define FW_HSM    0x48534d
#define FW_SRST   0x53525354

struct fw_ret fw_call(uint64_t eid, uint64_t fid, uint64_t a0, uint64_t a1, uint64_t a2)
{
    register uint64_t r0 __asm__("a0") = a0;
    register uint64_t r1 __asm__("a1") = a1;
    register uint64_t r2 __asm__("a2") = a2;
    register uint64_t r6 __asm__("a6") = fid;
    register uint64_t r7 __asm__("a7") = eid;
    __asm__ volatile("ecall" : "+r"(r0), "+r"(r1) : "r"(r2), "r"(r6), "r"(r7) : "memory");
    return (struct fw_ret){ (long)r0, (long)r1 };
}

long fw_hart_start(uint64_t hartid, uint64_t addr, uint64_t opaque)
{
    return fw_call(FW_HSM, 0, hartid, addr, opaque).error;
}

long fw_hart_status(uint64_t hartid)
{
    struct fw_ret r = fw_call(FW_HSM, 2, hartid, 0, 0);
    return r.error ? r.error : r.value;
}

void fw_set_timer(uint64_t when)
{
    fw_call(FW_TIME, 0, when, 0, 0);
}

long fw_send_ipi(uint64_t mask, uint64_t base)
{
    return fw_call(FW_IPI, 0, mask, base, 0).error;
}

void fw_console_putc(char c)
{
    fw_call(0x01, 0, (uint8_t)c, 0, 0); /* legacy putchar: usable before the UART is known */
}

void fw_shutdown(unsigned reason)
{
    fw_call(FW_SRST, 0, 0, reason, 0);
    for (;;)
        wfi();
}

int fw_probe(uint64_t eid)
{
    struct fw_ret r = fw_call(FW_BASE, 3, eid, 0, 0);
    return r.error == 0 && r.value != 0;
}
