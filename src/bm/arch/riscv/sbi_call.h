/* Calls from the hypervisor down to the machine's firmware (OpenSBI): hart start, timer,
 * IPIs, system reset. Not the SBI the guests see (that is src/boot/sbi.c). */
#ifndef CORRAL_BM_SBI_CALL_H
#define CORRAL_BM_SBI_CALL_H

#include <stdint.h>

struct fw_ret { long error; long value; };

struct fw_ret fw_call(uint64_t eid, uint64_t fid, uint64_t a0, uint64_t a1, uint64_t a2);
long fw_hart_start(uint64_t hartid, uint64_t addr, uint64_t opaque);
long fw_hart_status(uint64_t hartid);
void fw_set_timer(uint64_t when);
long fw_send_ipi(uint64_t mask, uint64_t base);
void fw_console_putc(char c);
/* Shuts the machine down (reason 0: none, 1: system failure); does not return. */
void fw_shutdown(unsigned reason) __attribute__((noreturn));
/* Whether the firmware offers extension eid. */
int fw_probe(uint64_t eid);

#endif
