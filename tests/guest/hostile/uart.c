/* The console UART under attack from S-mode while the host types into it: THR flooded
 * without waiting for THRE, 64 KiB of host input read back through LSR, FCR, IER, DLAB and
 * scratch games, loopback flooded past its receive buffer, and the interrupt identification
 * checked. The host input must arrive whole and in order, loopback and divisor bytes must
 * never reach the host, and the VMM must go on serving the console. Every offset and size
 * of the UART is the mmio guest's. */
#include "rt.h"

#define RBR 0
#define THR 0
#define DLL 0
#define IER 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7
#define LSR_DR 1
#define LSR_OE 2
#define LSR_THRE 0x20
#define INPUT_LEN 65536 /* what the runner types, byte i being input_byte(i) */
#define RX_SIZE 4096    /* the UART's receive buffer */

static volatile uint8_t *const u = (volatile uint8_t *)UART_BASE;

static uint8_t input_byte(uint32_t i) { return (uint8_t)(i * 31 + (i >> 8)); }

static void restore(void)
{
    u[LCR] = 3;
    u[IER] = 0;
    u[MCR] = 0;
    u[FCR] = 7;
}

static void flood(void)
{
    /* 1024 lines of 64 '~', no look at LSR: the runner counts 65536 of them */
    for (unsigned l = 0; l < 1024; l++) {
        for (unsigned i = 0; i < 64; i++)
            u[THR] = '~';
        u[THR] = '\n';
    }
    /* written with DLAB set, '|' goes to the divisor, not the host */
    u[LCR] = 0x83;
    for (unsigned i = 0; i < 4096; i++)
        u[DLL] = '|';
    bool dll = u[DLL] == '|';
    restore();
    rt_verdict(dll && (u[LSR] & LSR_THRE), "uart: THR flooded with 64 KiB and DLL with 4 KiB, THRE still set");
}

/* The host's input read back while every other register is played with. */
static void host_input(void)
{
    uint32_t got = 0, wrong = 0, first_wrong = ~0u;
    uint64_t x = 1, end = rdtime() + 300000000; /* 30 s */
    while (got < INPUT_LEN && rdtime() < end) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        switch ((x >> 40) % 8) {
        case 0: u[FCR] = (uint8_t)(x >> 16) | 6; break;  /* clears the FIFOs (input is kept) */
        case 1: u[IER] = (uint8_t)(x >> 16); (void)u[IIR]; break;
        case 2: /* DLAB: RBR's place is DLL, and reading it takes no input */
            u[LCR] = 0x83;
            (void)u[DLL];
            (void)u[IER];
            u[LCR] = 3;
            break;
        case 3: (void)u[MSR]; u[SCR] = (uint8_t)x; (void)u[SCR]; break;
        default: break;
        }
        uint8_t lsr = u[LSR];
        if (!(lsr & LSR_DR))
            continue; /* (RBR read now would take a byte that came since: that is the guest's loss) */
        uint8_t c = u[RBR];
        if (c != input_byte(got)) {
            if (!wrong++)
                first_wrong = got;
        }
        got++;
    }
    restore();
    rt_puts("uart: ");
    rt_dec(got);
    rt_puts(" bytes of host input\n");
    rt_verdict_val(got == INPUT_LEN && !wrong,
                   "uart: 64 KiB of host input arrive whole and in order through LSR, FCR and DLAB games",
                   "first wrong", first_wrong);
}

static void loopback(void)
{
    unsigned bad = 0;
    while (u[LSR] & LSR_DR) /* nothing left of the host's */
        (void)u[RBR];
    u[MCR] = 0x10;
    for (unsigned i = 0; i < RX_SIZE + 1000; i++)
        u[THR] = (uint8_t)(0x80 | (i & 0x7f)); /* never seen by the host */
    uint8_t lsr = u[LSR];
    bad |= ((lsr & (LSR_OE | LSR_DR)) != (LSR_OE | LSR_DR)) << 0;
    bad |= ((u[LSR] & LSR_OE) != 0) << 1; /* OE clears on read */
    unsigned n = 0, wrong = 0;
    while ((u[LSR] & LSR_DR) && n < RX_SIZE + 1000)
        wrong += u[RBR] != (uint8_t)(0x80 | (n++ & 0x7f));
    bad |= (n != RX_SIZE || wrong) << 2;
    /* IIR names what is pending: received data, then THR empty once IER asks for it */
    u[THR] = 0x80;
    u[IER] = 1;
    bad |= ((u[IIR] & 0xf) != 4) << 3;
    (void)u[RBR];
    bad |= ((u[IIR] & 0xf) != 1) << 4;
    u[IER] = 3;
    bad |= ((u[IIR] & 0xf) != 2) << 5;
    bad |= ((u[IIR] & 0xf) != 1) << 6; /* reading IIR cleared THR empty */
    bad |= ((u[MSR] & 0xf0) != 0) << 7; /* loopback: modem inputs follow MCR, all off */
    restore();
    for (unsigned i = 0; i < 1000; i++) /* empty: RBR reads give nothing, and take nothing */
        (void)u[RBR];
    bad |= ((u[LSR] & LSR_DR) != 0) << 8;
    rt_verdict_val(!bad, "uart: loopback flooded past its 4 KiB: overrun once, 4096 bytes back in order",
                   "bad", bad);
}

int main(void)
{
    flood();
    host_input();
    loopback();
    return 0;
}
