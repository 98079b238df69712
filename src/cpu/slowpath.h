/* The slow path: one instruction at a time, fetched through the MMU and executed by a plain
 * switch. It serves what the interpreter's fast handlers and the translator leave to it
 * (CSRs, privileged instructions, AMOs, floating point, instructions crossing a page, pages
 * PMP covers only in part), and is the reference their results are checked against. */
#ifndef CORRAL_CPU_SLOWPATH_H
#define CORRAL_CPU_SLOWPATH_H

#include "cpu/hart.h"

/* Fetches the instruction at h->pc. Returns 0 with *insn (32-bit, or 16-bit in the low
 * half), or a cause + 1 with h->fault_tval set. */
int fetch_insn(struct hart *h, uint32_t *insn);

/* Executes one fetched instruction (raw: 32-bit, or 16-bit in the low half) at h->pc.
 * Returns true when the block must end (CSR write, xRET, WFI, illegal instruction). */
bool exec_one(struct hart *h, uint32_t raw);

#endif
