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
