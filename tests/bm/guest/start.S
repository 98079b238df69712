/* Test guest entry: a0 = hart id, a1 = device tree (SBI boot convention). */
    .section .text.entry, "ax"
    .globl _start
_start:
    la      sp, stack_top
    call    guest_main
1:  wfi
    j       1b

    .bss
    .align  4
    .space  8192
stack_top:
