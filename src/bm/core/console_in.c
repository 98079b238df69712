/* Input routing. The focus starts at the first running VM and moves on when that VM ends. */
#include "core/console_in.h"
#include "core/platform.h"
#include "core/vm.h"
#include "dev/uart16550.h"
#include "drivers/plic.h"

#define KEY_ESCAPE 0x1d    /* Ctrl-] (QEMU's own console keeps Ctrl-A) */

static struct ns16550 *uart;
static struct phys_plic plic;
static int input_hart = -1;
static unsigned focus;
static bool escaped;
static spinlock_t input_lock;
static struct { unsigned src; void (*fn)(void); } extra[4];
static unsigned num_extra;

bool console_input_init(struct ns16550 *u, unsigned hart_index)
{
    int ctx = platform_plic_s_context(hart_index);
    if (ctx < 0 || !platform.uart.irq)
        return false;
    uart = u;
    plic = (struct phys_plic){ platform.plic.base, (unsigned)ctx };
    phys_plic_route(&plic, platform.uart.irq, platform.plic_ndev);
    ns16550_enable_rx_irq(u);
    input_hart = (int)hart_index;
    return true;
}

int console_input_hart(void)
{
    return input_hart;
}

static struct vm *focused(void)
{
    for (unsigned k = 0; k < num_vms; k++) {
        struct vm *vm = &vms[(focus + k) % num_vms];
        if (vm->state == VM_RUNNING) {
            focus = vm->index;
            return vm;
        }
    }
    return NULL;
}

static void route(uint8_t ch)
{
    if (escaped) {
        escaped = false;
        if (ch >= '0' && ch <= '9' && (unsigned)(ch - '0') < num_vms &&
            vms[ch - '0'].state == VM_RUNNING) {
            focus = (unsigned)(ch - '0');
            kprintf("corral-bm: console input to vm %s\n", vms[focus].name);
            return;
        }
        if (ch != KEY_ESCAPE)
            return;   /* Ctrl-] Ctrl-] sends one Ctrl-] */
    } else if (ch == KEY_ESCAPE) {
        escaped = true;
        return;
    }
    struct vm *vm = focused();
    if (vm && vm->uart)
        uart16550_receive(vm->uart, &ch, 1);   /* a full buffer drops the byte, as a line would */
}

bool console_input_add_source(unsigned src, void (*fn)(void))
{
    if (input_hart < 0 || !src || num_extra == sizeof(extra) / sizeof(extra[0]))
        return false;
    extra[num_extra].src = src;
    extra[num_extra].fn = fn;
    num_extra++;
    phys_plic_enable(&plic, src);
    return true;
}

void console_input_poll(void)
{
    if (input_hart < 0)
        return;
    spin_lock(&input_lock);
    for (unsigned n = 0; n < 64; n++) {
        unsigned src = phys_plic_claim(&plic);
        if (!src)
            break;
        if (src == platform.uart.irq)
            for (int ch, k = 0; k < 4096 && (ch = ns16550_getc(uart)) >= 0; k++)
                route((uint8_t)ch);
        for (unsigned k = 0; k < num_extra; k++)
            if (extra[k].src == src)
                extra[k].fn();
        phys_plic_complete(&plic, src);
    }
    spin_unlock(&input_lock);
}
