/* Boot: the first hart finds the machine in the device tree, prints the banner and starts
 * the others; then every hart goes to what it runs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/riscv/cpu.h"
#include "arch/riscv/csr.h"
#include "arch/riscv/sbi_call.h"
#include "arch/riscv/vcpu.h"
#include "core/console.h"
#include "core/console_in.h"
#include "core/mem.h"
#include "core/netswitch.h"
#include "core/platform.h"
#include "core/vm.h"
#include "core/disk.h"

void boot_main(uint64_t hartid, const void *dtb);
void secondary_main(uint64_t hartid, uint64_t index);

static struct ns16550 uart;
static void run_vms(const void *dtb) __attribute__((noreturn));
extern char __image_start[], __image_end[];

static void print_banner(uint64_t boot_hartid, const void *dtb)
{
    const struct platform *p = &platform;
    kprintf("corral-bm %s: bare-metal hypervisor, boot hart %lu, device tree at %p\n",
            CORRAL_VERSION, boot_hartid, dtb);
    kprintf("corral-bm: image 0x%lx-0x%lx\n", (uint64_t)__image_start, (uint64_t)__image_end);
    kprintf("corral-bm: memory 0x%lx-0x%lx (%lu MiB)\n", p->mem_base,
            p->mem_base + p->mem_size, p->mem_size >> 20);
    kprintf("corral-bm: harts %u:", p->num_harts);
    for (unsigned i = 0; i < p->num_harts; i++)
        kprintf(" %lu%s", p->hartid[i], p->hart_has_h[i] ? "" : "(no H)");
    kprintf("\n");
    kprintf("corral-bm: timer %s, timebase %lu Hz\n", p->sstc ? "sstc" : "sbi", p->timebase);
    kprintf("corral-bm: uart ns16550a at 0x%lx irq %u\n", p->uart.base, p->uart.irq);
    if (p->plic.size)
        kprintf("corral-bm: plic at 0x%lx size 0x%lx, %u sources\n", p->plic.base, p->plic.size,
                p->plic_ndev);
    else
        kprintf("corral-bm: no plic\n");
    kprintf("corral-bm: virtio-mmio slots %u:", p->num_virtio);
    for (unsigned i = 0; i < p->num_virtio; i++)
        kprintf(" 0x%lx/%u", p->virtio[i].base, p->virtio[i].irq);
    kprintf("\n");
}

/* Starts every other hart through SBI HSM; returns how many came up. */
static unsigned start_harts(uint64_t boot_hartid)
{
    unsigned up = 1;
    for (unsigned i = 0; i < platform.num_harts; i++) {
        if (platform.hartid[i] == boot_hartid)
            continue;
        long err = fw_hart_start(platform.hartid[i], (uint64_t)_secondary_entry, i);
        if (err) {
            kprintf("corral-bm: hart %lu: start failed (SBI error %ld)\n", platform.hartid[i], err);
            continue;
        }
        /* one second of timebase for the hart to reach C */
        uint64_t deadline = csr_read(CSR_TIME) + platform.timebase;
        while (!__atomic_load_n(&cpus[i].up, __ATOMIC_ACQUIRE) && csr_read(CSR_TIME) < deadline)
            ;
        if (cpus[i].up) {
            kprintf("corral-bm: hart %lu up\n", platform.hartid[i]);
            up++;
        } else {
            kprintf("corral-bm: hart %lu did not come up\n", platform.hartid[i]);
        }
    }
    return up;
}

void boot_main(uint64_t hartid, const void *dtb)
{
    const char *why = "";
    if (!dtb || ((uintptr_t)dtb & 7) || platform_probe(dtb, &why) < 0) {
        kprintf("corral-bm: cannot boot: %s\n", why);
        fw_shutdown(1);
    }
    uart = (struct ns16550){ platform.uart.base, platform.uart_shift, platform.uart_width };
    ns16550_init(&uart);
    console_use_uart(&uart);
    int index = platform_hart_index(hartid);
    if (index < 0) {
        kprintf("corral-bm: boot hart %lu is not in the device tree\n", hartid);
        fw_shutdown(1);
    }
    cpu_init((unsigned)index, hartid);
    /* This call chain stays on the boot stack (entry.S); traps use the hart's own. */
    print_banner(hartid, dtb);
    disk_probe_all();
    unsigned up = start_harts(hartid);
    kprintf("corral-bm: %u of %u harts up\n", up, platform.num_harts);
    run_vms(dtb);
}

static volatile bool go;

/* Every hart: runs its vCPUs, or waits for one to be started. */
static void cpu_run(struct cpu *c) __attribute__((noreturn));
static void cpu_run(struct cpu *c)
{
    if (c->nrunq > 1)
        kprintf("corral-bm: hart %lu: %u vCPUs in %u ms time slices\n", c->hartid, c->nrunq,
                SCHED_SLICE_MS);
    sched_run(c);
}

static void run_vms(const void *dtb)
{
    /* OpenSBI below the image, the image, the device tree: never a guest's */
    mem_reserve(platform.mem_base, (uint64_t)__image_end - platform.mem_base);
    mem_reserve((uint64_t)dtb, dt_total_size(dtb));
    if (!gstage_supported()) {
        kprintf("corral-bm: this hart has no Sv39x4 G-stage translation; no VMs\n");
        fw_shutdown(1);
    }
    if (!platform.sstc) {
        kprintf("corral-bm: the harts lack Sstc, which the guests' timers need; no VMs\n");
        fw_shutdown(1);
    }
    unsigned n = vm_setup_all();
    alloc_seal();
    if (n && !console_input_init(&uart, this_cpu()->index))
        kprintf("corral-bm: no PLIC route for the console UART; no input to the guests\n");
    if (n)
        netswitch_uplink_init();
    if (!n) {
        kprintf("corral-bm: no VMs to run; shutting down\n");
        fw_shutdown(num_vms ? 1 : 0);
    }
    kprintf("corral-bm: running %u VM%s\n", n, n == 1 ? "" : "s");
    __atomic_store_n(&go, true, __ATOMIC_RELEASE);
    fw_send_ipi(0, (uint64_t)-1);   /* every hart: wake up and look */
    csr_clear(CSR_SIP, 1UL << IRQ_S_SOFT);
    cpu_run(this_cpu());
}

void secondary_main(uint64_t hartid, uint64_t index)
{
    cpu_init((unsigned)index, hartid);
    csr_set(CSR_SIE, 1UL << IRQ_S_SOFT);
    while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE)) {
        wfi();
        csr_clear(CSR_SIP, 1UL << IRQ_S_SOFT);
    }
    cpu_run(this_cpu());
}
