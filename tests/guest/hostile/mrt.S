/* Entry and trap vector of the hostile guests that run in M-mode, as firmware: hart 0
 * runs main, the others wait. A trap saves the registers in a frame (slot 0 holds mepc)
 * and m_trap() may change any of them, as rt_vector does for the S-mode guests; rt.S's
 * _start is linked in but never runs. */
#define FRAME 256
	.section .text.mentry
	.globl _mstart
_mstart:
	csrr	t0, mhartid
	bnez	t0, 1f
	la	t0, __bss_start
	la	t1, _end
2:	bgeu	t0, t1, 3f
	sd	zero, 0(t0)
	addi	t0, t0, 8
	j	2b
3:	la	sp, rt_stack_top
	la	t0, m_vector
	csrw	mtvec, t0
	li	t0, 1 << 13	/* mstatus.FS = Initial */
	csrs	mstatus, t0
	call	main
	call	rt_finish
1:	wfi
	j	1b

	.text
	.balign 4
	.globl m_vector
m_vector:
	addi	sp, sp, -FRAME
	.irp n, 1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	sd	x\n, \n*8(sp)
	.endr
	addi	t0, sp, FRAME
	sd	t0, 16(sp)
	csrr	t0, mepc
	sd	t0, 0(sp)
	mv	a0, sp
	call	m_trap
	ld	t0, 0(sp)
	csrw	mepc, t0
	.irp n, 1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	ld	x\n, \n*8(sp)
	.endr
	addi	sp, sp, FRAME
	mret

/* m_enter_s(va): runs S-mode at va with the registers as they are; the first trap from
 * below M (m_trap sees MPP != M) comes back here, to 1:, in M-mode, where sp, ra and the
 * callee-saved registers are taken back. */
	.globl m_enter_s
m_enter_s:
	addi	sp, sp, -112
	sd	ra, 0(sp)
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11
	sd	s\n, (8 + 8 * \n)(sp)
	.endr
	la	t0, m_saved_sp
	sd	sp, 0(t0)
	la	t0, 1f
	la	t1, m_resume
	sd	t0, 0(t1)
	csrw	mepc, a0
	li	t0, 3 << 11
	csrc	mstatus, t0
	li	t0, 1 << 11
	csrs	mstatus, t0	/* MPP = S */
	mret
1:	la	t0, m_saved_sp
	ld	sp, 0(t0)
	ld	ra, 0(sp)
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11
	ld	s\n, (8 + 8 * \n)(sp)
	.endr
	addi	sp, sp, 112
	la	t0, m_resume
	sd	zero, 0(t0)
	ret

	.bss
	.balign 8
	.globl m_resume
m_resume:
	.space 8
m_saved_sp:
	.space 8
