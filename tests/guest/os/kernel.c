/* pen: a small S-mode operating system for QEMU's virt board, used to test that Corral runs
 * an OS that is not Linux. It turns on Sv39 paging, takes SBI TIME timer interrupts, runs
 * tasks preemptively, reads the ns16550 UART through PLIC interrupts for a tiny shell, and
 * powers off through SBI SRST when told to or when the virtio-input power button is pressed.
 * It is not a general OS: one hart, tasks in S-mode, no allocator. */
#include <stdint.h>

#define UART 0x10000000UL
#define PLIC 0x0c000000UL
#define VIRTIO_BASE 0x10001000UL
#define VIRTIO_SLOTS 8
#define UART_IRQ 10
#define TIMEBASE 10000000UL /* the virt board's timebase-frequency */
#define HZ 100
#define NTASKS 3
#define STACK 8192

typedef uint64_t u64;
typedef uint32_t u32;
typedef uint16_t u16;
typedef uint8_t u8;

/* x[i] is register x(i+1); the layout and size (272) match entry.S, x[1] (sp) is unused */
struct frame { u64 sepc, x[31], sstatus, pad; };

static volatile u8 *const uart = (volatile u8 *)UART;
static volatile u64 ticks;
static volatile u64 spins[NTASKS];
static u64 switches;
static struct frame *task_frame[NTASKS];
static int current;
static u8 stacks[NTASKS][STACK] __attribute__((aligned(16)));
static char rx[256];
static volatile u32 rx_head, rx_tail;
static u64 root_pt[512] __attribute__((aligned(4096)));

#define csr_read(r) ({ u64 v_; __asm__ volatile("csrr %0, " #r : "=r"(v_)); v_; })
#define csr_write(r, v) __asm__ volatile("csrw " #r ", %0" ::"r"((u64)(v)))
#define csr_set(r, v) __asm__ volatile("csrs " #r ", %0" ::"r"((u64)(v)))

static inline u32 mmio_r32(u64 a) { return *(volatile u32 *)a; }
static inline void mmio_w32(u64 a, u32 v) { *(volatile u32 *)a = v; }

struct sbiret { long error, value; };

static struct sbiret sbi_call(long ext, long fid, long a0, long a1, long a2)
{
	register long r0 __asm__("a0") = a0, r1 __asm__("a1") = a1, r2 __asm__("a2") = a2;
	register long r6 __asm__("a6") = fid, r7 __asm__("a7") = ext;
	__asm__ volatile("ecall" : "+r"(r0), "+r"(r1) : "r"(r2), "r"(r6), "r"(r7) : "memory");
	return (struct sbiret){r0, r1};
}

static void putc(char c)
{
	if (c == '\n')
		putc('\r');
	while (!(uart[5] & 0x20)) /* LSR.THRE */
		;
	uart[0] = c;
}

static void puts(const char *s)
{
	while (*s)
		putc(*s++);
}

static void putu(u64 v)
{
	char b[21];
	int i = 20;
	b[i] = 0;
	do
		b[--i] = '0' + v % 10;
	while (v /= 10);
	puts(b + i);
}

static void puthex(u64 v)
{
	puts("0x");
	for (int s = 60; s >= 0; s -= 4)
		putc("0123456789abcdef"[(v >> s) & 15]);
}

static void power_off(const char *why)
{
	puts("pen: ");
	puts(why);
	puts(", powering off\n");
	sbi_call(0x53525354, 0, 0, 0, 0); /* SRST: shutdown, no reason */
	puts("pen: SBI SRST failed\n");
	for (;;)
		__asm__ volatile("wfi");
}

/* ---- Sv39: identity gigapages for devices and RAM, and RAM again at the top of the space */
#define PTE_V 1
#define PTE_RWX (2 | 4 | 8)
#define PTE_AD (0x40 | 0x80)
#define HIGH_VA 0xffffffc080000000UL

static void paging_init(void)
{
	for (u64 gb = 0; gb < 4; gb++)
		root_pt[gb] = ((gb << 30) >> 12 << 10) | PTE_V | PTE_RWX | PTE_AD;
	root_pt[(HIGH_VA >> 30) & 511] = ((0x80000000UL >> 12) << 10) | PTE_V | PTE_RWX | PTE_AD;
	csr_write(satp, (8UL << 60) | ((u64)root_pt >> 12));
	__asm__ volatile("sfence.vma" ::: "memory");
}

/* ---- the virtio-input power button (virtio-mmio version 2, event queue 0) */
struct vq_desc { u64 addr; u32 len; u16 flags, next; };
struct input_event { u16 type, code; u32 value; };
#define QSZ 8
static struct vq_desc vq_desc[QSZ] __attribute__((aligned(16)));
static struct { u16 flags, idx, ring[QSZ], used_event; } vq_avail __attribute__((aligned(2)));
static struct { u16 flags, idx; struct { u32 id, len; } ring[QSZ]; u16 avail_event; }
	vq_used __attribute__((aligned(4)));
static struct input_event events[QSZ];
static u64 button;
static u16 used_seen;

static int button_init(void)
{
	for (int i = 0; i < VIRTIO_SLOTS; i++) {
		u64 b = VIRTIO_BASE + 0x1000UL * i;
		if (mmio_r32(b) != 0x74726976 || mmio_r32(b + 4) != 2 || mmio_r32(b + 8) != 18)
			continue;
		mmio_w32(b + 0x70, 0);
		mmio_w32(b + 0x70, 1 | 2);           /* ACKNOWLEDGE | DRIVER */
		mmio_w32(b + 0x24, 1);
		mmio_w32(b + 0x20, 1);               /* VIRTIO_F_VERSION_1 (bit 32) */
		mmio_w32(b + 0x24, 0);
		mmio_w32(b + 0x20, 0);
		mmio_w32(b + 0x70, 1 | 2 | 8);       /* FEATURES_OK */
		if (!(mmio_r32(b + 0x70) & 8))
			continue;
		mmio_w32(b + 0x30, 0);
		if (mmio_r32(b + 0x34) < QSZ)
			continue;
		mmio_w32(b + 0x38, QSZ);
		for (int d = 0; d < QSZ; d++) {
			vq_desc[d] = (struct vq_desc){(u64)&events[d], sizeof(events[d]), 2, 0};
			vq_avail.ring[d] = d;
		}
		vq_avail.idx = QSZ;
		mmio_w32(b + 0x80, (u64)vq_desc);
		mmio_w32(b + 0x84, (u64)vq_desc >> 32);
		mmio_w32(b + 0x90, (u64)&vq_avail);
		mmio_w32(b + 0x94, (u64)&vq_avail >> 32);
		mmio_w32(b + 0xa0, (u64)&vq_used);
		mmio_w32(b + 0xa4, (u64)&vq_used >> 32);
		mmio_w32(b + 0x44, 1);
		mmio_w32(b + 0x70, 1 | 2 | 8 | 4);   /* DRIVER_OK */
		__asm__ volatile("fence ow, ow" ::: "memory");
		mmio_w32(b + 0x50, 0);
		button = b;
		return 1 + i; /* the virt board wires slot i to PLIC source 1 + i */
	}
	return 0;
}

static void button_irq(void)
{
	mmio_w32(button + 0x64, mmio_r32(button + 0x60));
	__asm__ volatile("fence" ::: "memory");
	while (used_seen != vq_used.idx) {
		u32 id = vq_used.ring[used_seen % QSZ].id % QSZ;
		struct input_event e = events[id];
		used_seen++;
		if (e.type == 1 && e.code == 116 && e.value == 1) /* EV_KEY, KEY_POWER, pressed */
			power_off("power button pressed");
		vq_avail.ring[vq_avail.idx % QSZ] = id;
		__asm__ volatile("fence" ::: "memory");
		vq_avail.idx++;
	}
	mmio_w32(button + 0x50, 0);
}

/* ---- PLIC, S-mode context of hart 0 (context 1) */
static int button_line;

static void plic_init(void)
{
	mmio_w32(PLIC + 4 * UART_IRQ, 1);
	u32 en = 1u << UART_IRQ;
	if (button_line) {
		mmio_w32(PLIC + 4 * button_line, 1);
		en |= 1u << button_line;
	}
	mmio_w32(PLIC + 0x2080, en);
	mmio_w32(PLIC + 0x201000, 0);
}

static void uart_irq(void)
{
	while (uart[5] & 1) { /* LSR.DR */
		char c = uart[0];
		if (rx_head - rx_tail < sizeof(rx))
			rx[rx_head++ % sizeof(rx)] = c;
	}
}

static void external_irq(void)
{
	u32 src;
	while ((src = mmio_r32(PLIC + 0x201004)) != 0) {
		if (src == UART_IRQ)
			uart_irq();
		else if (button_line && (int)src == button_line)
			button_irq();
		mmio_w32(PLIC + 0x201004, src);
	}
}

/* ---- timer and scheduling */
static void timer_arm(void)
{
	sbi_call(0x54494d45, 0, csr_read(time) + TIMEBASE / HZ, 0, 0);
}

struct frame *trap(struct frame *f)
{
	u64 cause = csr_read(scause);
	if (cause == (1UL << 63 | 5)) {
		ticks++;
		timer_arm();
		task_frame[current] = f;
		current = (current + 1) % NTASKS;
		switches++;
		return task_frame[current];
	}
	if (cause == (1UL << 63 | 9)) {
		external_irq();
		return f;
	}
	puts("pen: unexpected trap scause=");
	puthex(cause);
	puts(" sepc=");
	puthex(f->sepc);
	puts(" stval=");
	puthex(csr_read(stval));
	putc('\n');
	power_off("fatal trap");
	return f;
}

static void task_start(int n, void (*fn)(void))
{
	struct frame *f = (struct frame *)(stacks[n] + STACK) - 1;
	for (int i = 0; i < 31; i++)
		f->x[i] = 0;
	f->sepc = (u64)fn;
	f->sstatus = (1UL << 8) | (1UL << 5); /* SPP = S, SPIE */
	task_frame[n] = f;
}

/* A task that never yields: it counts for 20 ms of every half second, so only the timer
 * takes the hart from it, then waits for interrupts so an idle guest costs the host little. */
static void spinner(void)
{
	int me = current;
	for (;;) {
		u64 until = csr_read(time) + TIMEBASE / 50;
		while (csr_read(time) < until)
			spins[me]++;
		until = csr_read(time) + TIMEBASE / 2;
		while (csr_read(time) < until)
			__asm__ volatile("wfi");
	}
}

/* ---- the shell */
static int getc(void)
{
	while (rx_head == rx_tail)
		__asm__ volatile("wfi");
	return rx[rx_tail++ % sizeof(rx)];
}

static int streq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static int prefix(const char *s, const char *p)
{
	while (*p && *s == *p)
		s++, p++;
	return !*p;
}

static void command(char *line)
{
	if (streq(line, "")) {
	} else if (streq(line, "help")) {
		puts("commands: help, echo TEXT, uname, ticks, tasks, vm, poweroff\n");
	} else if (prefix(line, "echo ")) {
		puts(line + 5);
		putc('\n');
	} else if (streq(line, "uname")) {
		puts("pen 1.0 riscv64 (Sv39, ");
		putu(NTASKS);
		puts(" tasks, ");
		putu(HZ);
		puts(" Hz)\n");
	} else if (streq(line, "ticks")) {
		puts("ticks ");
		putu(ticks);
		puts(" switches ");
		putu(switches);
		putc('\n');
	} else if (streq(line, "tasks")) {
		for (int i = 1; i < NTASKS; i++) {
			puts("task ");
			putu(i);
			puts(" spins ");
			putu(spins[i]);
			putc('\n');
		}
	} else if (streq(line, "vm")) {
		/* a kernel variable read through its identity address and its alias at HIGH_VA
		 * (not RAM's first page: the firmware may guard it with PMP) */
		volatile u64 *low = (volatile u64 *)&ticks;
		volatile u64 *high = (volatile u64 *)(HIGH_VA + ((u64)&ticks - 0x80000000UL));
		puts("satp ");
		puthex(csr_read(satp));
		puts(*low == *high ? " high alias ok\n" : " high alias MISMATCH\n");
	} else if (streq(line, "poweroff")) {
		power_off("poweroff command");
	} else {
		puts("pen: unknown command: ");
		puts(line);
		putc('\n');
	}
}

static void shell(void)
{
	char line[128];
	for (;;) {
		puts("pen> ");
		u32 n = 0;
		for (;;) {
			int c = getc();
			if (c == '\r' || c == '\n') {
				putc('\n');
				break;
			}
			if ((c == 8 || c == 127) && n) {
				n--;
				puts("\b \b");
			} else if (c >= ' ' && n < sizeof(line) - 1) {
				line[n++] = c;
				putc(c);
			}
		}
		line[n] = 0;
		command(line);
	}
}

void kmain(u64 hart, u64 dtb)
{
	puts("\npen: booting on hart ");
	putu(hart);
	puts(", device tree at ");
	puthex(dtb);
	putc('\n');
	paging_init();
	puts("pen: Sv39 paging on\n");
	button_line = button_init();
	if (button_line) {
		puts("pen: power button on PLIC line ");
		putu(button_line);
		putc('\n');
	}
	uart[1] = 1;                  /* IER: received data available */
	plic_init();
	task_start(0, shell);
	for (int i = 1; i < NTASKS; i++)
		task_start(i, spinner);
	current = 0;
	csr_set(sie, (1UL << 5) | (1UL << 9)); /* STIE, SEIE */
	timer_arm();
	puts("pen: ready\n");
	__asm__ volatile("mv a0, %0; j trap_resume" ::"r"(task_frame[0]) : "a0");
}
