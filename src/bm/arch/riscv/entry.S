/* The image's entry points. OpenSBI enters _start on one hart in S-mode with a0 = hart id,
 * a1 = device tree; the other harts enter _secondary_entry when we start them through SBI HSM
 * with a1 = their index. Each hart gets a stack from bm_stacks by index. */
#include "arch/riscv/cpu.h"

    .section .text.entry, "ax"
    .globl _start
_start:
    csrw    sie, zero
    la      t0, early_trap
    csrw    stvec, t0
    /* clear .bss: nothing else runs yet */
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       1b
2:  li      t2, MAX_HARTS    /* a stack of its own: the boot hart's index is not known yet */
    call    set_stack
    call    boot_main        /* (hartid, dtb) */
    j       park

    .globl _secondary_entry
_secondary_entry:
    csrw    sie, zero
    la      t0, early_trap
    csrw    stvec, t0
    li      t0, MAX_HARTS
    bgeu    a1, t0, park
    mv      t2, a1
    call    set_stack
    call    secondary_main   /* (hartid, index) */
    j       park

/* sp = top of bm_stacks[t2] */
set_stack:
    la      sp, bm_stacks
    li      t0, CPU_STACK_SIZE
    addi    t2, t2, 1
    mul     t0, t0, t2
    add     sp, sp, t0
    mv      tp, zero
    ret

park:
    wfi
    j       park

/* A trap before cpu_init (a bad device tree pointer, say): nothing to report it with but the
 * firmware's console, and nothing to go back to. */
    .align  4
early_trap:
    la      a0, early_msg
3:  lbu     t0, 0(a0)
    beqz    t0, park
    mv      s0, a0
    mv      a0, t0
    li      a7, 1
    ecall
    addi    a0, s0, 1
    j       3b

    .section .rodata
early_msg:
    .asciz  "corral-bm: trap during early boot; halted\r\n"

    .section .bss
    .align  12
    .globl  bm_stacks
bm_stacks:
    .space  CPU_STACK_SIZE * (MAX_HARTS + 1)
