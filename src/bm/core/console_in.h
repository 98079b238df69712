/* Console input for the guests: bytes typed on the machine's UART go to one VM's UART model
 * at a time. Ctrl-] then a digit n gives the input to VM n. The UART's interrupt comes
 * through the machine's PLIC to one hart, the input hart. */
#ifndef CORRAL_BM_CONSOLE_IN_H
#define CORRAL_BM_CONSOLE_IN_H

#include <stdbool.h>

#include "drivers/ns16550.h"

/* Routes the UART's interrupt to hart index; false (and input stays off) if the tree
 * gives no way. */
bool console_input_init(struct ns16550 *u, unsigned hart_index);
/* The hart that takes the input interrupt, or -1. */
int console_input_hart(void);
/* Another source of the machine's PLIC for the input hart: fn runs there on its interrupt,
 * before the source is completed. False if there is no input hart or no room. */
bool console_input_add_source(unsigned src, void (*fn)(void));
/* On the input hart, on its S external interrupt (or when idle): serves the PLIC. */
void console_input_poll(void);

#endif
