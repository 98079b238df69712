/* A hart wedged in M-mode, this guest being the firmware: mtvec on the UART, then an
 * illegal instruction, so that every trap is a fetch access fault at mtvec, forever. The
 * guest never ends; the VMM must go on answering (the runner stops it with SIGTERM). */
#include "rt.h"

int main(void)
{
    rt_puts("wedge: mtvec on the UART, trapping forever\n");
    __asm__ volatile("csrw mtvec, %0; csrw mie, zero; .word 0" ::"r"(UART_BASE));
    return 0;
}

/* m_vector's handler: never reached, mtvec no longer points at m_vector */
void m_trap(uint64_t *f);
void m_trap(uint64_t *f)
{
    (void)f;
}
