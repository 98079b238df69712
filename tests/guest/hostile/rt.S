/* Entry and trap vector shared by the hostile guests: the SBI starts _start in S-mode;
 * a trap saves the registers in a frame (slot 0 holds sepc) and rt_trap() may change
 * any of them before the frame is restored, which is how a test resumes after a fault. */
#define FRAME 256
	.section .text.entry
	.globl _start
_start:
	la	t0, __bss_start
	la	t1, _end
2:	bgeu	t0, t1, 3f
	sd	zero, 0(t0)
	addi	t0, t0, 8
	j	2b
3:	la	sp, rt_stack_top
	la	t0, rt_vector
	csrw	stvec, t0
	li	t0, 1 << 13	/* sstatus.FS = Initial: the FP tests may run */
	csrs	sstatus, t0
	call	main
	call	rt_finish
1:	wfi
	j	1b

	/* a hart started through SBI HSM: a0 = its id, a1 = its stack top */
	.globl rt_secondary
rt_secondary:
	mv	sp, a1
	la	t0, rt_vector
	csrw	stvec, t0
	call	rt_secondary_main
1:	wfi
	j	1b

	.text
	.balign 4
	.globl rt_vector
rt_vector:
	addi	sp, sp, -FRAME
	.irp n, 1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	sd	x\n, \n*8(sp)
	.endr
	addi	t0, sp, FRAME
	sd	t0, 16(sp)	/* the interrupted sp */
	csrr	t0, sepc
	sd	t0, 0(sp)
	mv	a0, sp
	call	rt_trap
	ld	t0, 0(sp)
	csrw	sepc, t0
	.irp n, 1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	ld	x\n, \n*8(sp)
	.endr
	addi	sp, sp, FRAME
	sret

	.bss
	.balign 16
	.space 32768
	.globl rt_stack_top
rt_stack_top:
