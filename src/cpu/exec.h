/* The CPU engine's entry points: run a block of guest instructions (interp.c, which enters
 * translated code), take interrupts, and the compressed-instruction expander (rvc.c). */
#ifndef CORRAL_CPU_EXEC_H
#define CORRAL_CPU_EXEC_H

#include "cpu/hart.h"

/* Executes up to max instructions; returns early after anything that may change which
 * interrupts can be taken (CSR writes, xRET, WFI). Returns the number executed. */
unsigned hart_exec_block(struct hart *h, unsigned max);
/* Takes a pending enabled interrupt if there is one; true if a trap was entered. */
bool hart_check_interrupts(struct hart *h);
/* Expands a 16-bit instruction to its 32-bit equivalent; 0 if it is illegal/reserved. */
uint32_t rvc_expand(uint16_t c);

#endif
