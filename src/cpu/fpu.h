/* F and D computational instructions for the software hart: arithmetic, FMA, sqrt,
 * min/max, compares, classify, conversions, sign injection and moves, with RISC-V's
 * rounding modes, exception flags, canonical NaNs and NaN-boxing (ISA spec ch. 11-12).
 * Not here: FP loads and stores, mstatus.FS (the caller handles both). */
#ifndef CORRAL_CPU_FPU_H
#define CORRAL_CPU_FPU_H

#include <stdint.h>

/* fcsr layout: fflags in bits 4:0 (NV DZ OF UF NX = 16 8 4 2 1), frm in bits 7:5. */
#define FFLAG_NX 0x01u
#define FFLAG_UF 0x02u
#define FFLAG_OF 0x04u
#define FFLAG_DZ 0x08u
#define FFLAG_NV 0x10u

/* Executes one instruction whose major opcode is OP-FP (0x53), FMADD (0x43),
 * FMSUB (0x47), FNMSUB (0x4b) or FNMADD (0x4f). x is the integer register file
 * (x[0] is never written), f the FP register file (64-bit; singles NaN-boxed),
 * fcsr the fcsr CSR (flags accumulate into it; frm is read from it for rm=7).
 * Returns 0, or -1 for an illegal instruction (reserved rm, unknown encoding);
 * on -1 no state has changed. */
int fpu_execute(uint32_t insn, uint64_t x[32], uint64_t f[32], uint32_t *fcsr);

#endif
