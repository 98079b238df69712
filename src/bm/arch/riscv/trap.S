/* Trap entry and return. Whatever trapped (a guest in VS/VU-mode, or the hypervisor itself),
 * its registers go to this hart's struct cpu, found in sscratch; the C handler runs on the
 * hart's own stack and either returns here to resume it or never returns. */
#include "arch/riscv/cpu.h"

#define SAVE(r)    sd x##r, (r * 8)(tp)
#define LOAD(r)    ld x##r, (r * 8)(tp)

    .text
    .align  4
    .globl  trap_entry
trap_entry:
    csrrw   tp, sscratch, tp     /* tp = struct cpu; sscratch = the trapped tp */
    SAVE(1);  SAVE(2);  SAVE(3);  SAVE(5);  SAVE(6);  SAVE(7);  SAVE(8);  SAVE(9)
    SAVE(10); SAVE(11); SAVE(12); SAVE(13); SAVE(14); SAVE(15); SAVE(16); SAVE(17)
    SAVE(18); SAVE(19); SAVE(20); SAVE(21); SAVE(22); SAVE(23); SAVE(24); SAVE(25)
    SAVE(26); SAVE(27); SAVE(28); SAVE(29); SAVE(30); SAVE(31)
    csrr    t0, sscratch
    sd      t0, (4 * 8)(tp)
    csrw    sscratch, tp
    ld      sp, CPU_OFF_HYP_SP(tp)
    mv      a0, tp
    call    trap_handle          /* returns only to resume the frame */
    mv      a0, tp
    /* fall through */

    .globl  trap_return
trap_return:                     /* (struct cpu *c): sepc, sstatus, hstatus already set */
    mv      tp, a0
    csrw    sscratch, tp
    LOAD(1);  LOAD(2);  LOAD(3);  LOAD(5);  LOAD(6);  LOAD(7);  LOAD(8);  LOAD(9)
    LOAD(10); LOAD(11); LOAD(12); LOAD(13); LOAD(14); LOAD(15); LOAD(16); LOAD(17)
    LOAD(18); LOAD(19); LOAD(20); LOAD(21); LOAD(22); LOAD(23); LOAD(24); LOAD(25)
    LOAD(26); LOAD(27); LOAD(28); LOAD(29); LOAD(30); LOAD(31)
    LOAD(4)
    sret
