/* One stub per CSR number, 0x000-0xfff, because the number is part of the instruction.
 * csr_read_stubs + 8n:  a0 = csr n
 * csr_write_stubs + 16n: t0 = csr n, csr n = a0; a0 = csr n, csr n = t0 (written, read
 *                        back, and the old value restored before anything else runs) */
	.option push
	.option norvc
	.option norelax
	.text
	.balign 16
	.globl csr_read_stubs
csr_read_stubs:
	.set n, 0
	.rept 4096
	csrrs	a0, n, zero
	ret
	.set n, n + 1
	.endr

	.balign 16
	.globl csr_write_stubs
csr_write_stubs:
	.set n, 0
	.rept 4096
	csrrw	t0, n, a0
	csrrw	a0, n, t0
	ret
	nop
	.set n, n + 1
	.endr
	.option pop

/* csr_user_call(fn): runs fn in U-mode on this stack; fn ends with ecall, and the trap
 * handler (rt_trap, cause 8) comes back to 1: in S-mode, where the stack pointer, the
 * return address and the callee-saved registers are taken back (fn never returned, so it
 * did not restore them itself). */
	.text
	.globl csr_user_call
csr_user_call:
	addi	sp, sp, -112
	sd	ra, 0(sp)
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11
	sd	s\n, (8 + 8 * \n)(sp)
	.endr
	la	t0, csr_user_sp
	sd	sp, 0(t0)
	la	t0, 1f
	la	t1, rt_user_return
	sd	t0, 0(t1)
	csrw	sepc, a0
	li	t0, 1 << 8
	csrc	sstatus, t0	/* SPP = U */
	sret
1:	la	t0, csr_user_sp
	ld	sp, 0(t0)
	ld	ra, 0(sp)
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11
	ld	s\n, (8 + 8 * \n)(sp)
	.endr
	addi	sp, sp, 112
	ret

	.bss
	.balign 8
csr_user_sp:
	.space 8
