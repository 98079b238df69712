/* VMs from the device tree, dom0less style (Xen's docs/misc/arm/device-tree/booting.txt):
 *   /chosen/NAME { compatible = "corral,vm"; cpus = <1>; memory = <0 KiB>;
 *                  #address-cells = <2>; #size-cells = <2>; bootargs = "...";
 *                  corral,harts = <1>;                        (optional: which harts)
 *                  corral,disk = <START_HI START_LO COUNT_HI COUNT_LO>;  (optional: sectors
 *                                of the machine's first virtio-blk disk, as the guest's disk)
 *                  corral,disk-readonly;                      (optional)
 *                  corral,net = "NAME";                       (optional: a NIC on the
 *                                hypervisor's switch NAME, with every VM that names it)
 *                  module@ADDR { compatible = "multiboot,kernel", "multiboot,module";
 *                                reg = <ADDR SIZE>; bootargs = "..."; };
 *                  module@ADDR { compatible = "multiboot,ramdisk", "multiboot,module";
 *                                reg = <ADDR SIZE>; }; };
 * The tree is input: every value is checked, and a VM whose description is wrong gets one
 * console line and is not started; the others are. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "arch/riscv/cpu.h"
#include "arch/riscv/sbi_call.h"
#include "arch/riscv/vcpu.h"
#include "boot/loader.h"
#include "backend/block.h"
#include "dev/plic.h"
#include "dev/uart16550.h"
#include "dev/virtio/blk.h"
#include "dev/virtio/net.h"
#include "machine/virt.h"
#include "core/disk.h"
#include "core/guest_dt.h"
#include "core/mem.h"
#include "core/platform.h"
#include "core/vm.h"

struct vm vms[MAX_VMS];
unsigned num_vms;
static unsigned vms_ended, vms_built;

static int reject(struct vm *vm, const char *why)
{
    kprintf("corral-bm: vm %s: %s; not started\n", vm->name, why);
    vm->state = VM_FREE;
    return -EINVAL;
}

static int parse_module(struct vm *vm, int node, unsigned ac, unsigned sc)
{
    const struct dt *t = &platform.dt;
    struct module *m;
    if (dt_compatible(t, node, "multiboot,kernel"))
        m = &vm->kernel;
    else if (dt_compatible(t, node, "multiboot,ramdisk"))
        m = &vm->initrd;
    else
        return 0; /* not ours: device nodes for passthrough, say */
    if (m->size)
        return reject(vm, "two modules of the same kind");
    if (dt_reg(t, node, ac, sc, 0, &m->base, &m->size) < 0 || !m->size)
        return reject(vm, "module without a valid reg");
    uint64_t ram_end = platform.mem_base + platform.mem_size;
    if (m->base < platform.mem_base || m->base >= ram_end || m->size > ram_end - m->base)
        return reject(vm, "module outside RAM");
    if (m == &vm->kernel && dt_prop_str(t, node, "bootargs"))
        vm->bootargs = dt_prop_str(t, node, "bootargs");
    return 0;
}

static int parse_harts(struct vm *vm, int node)
{
    uint32_t len;
    const uint8_t *p = dt_prop(&platform.dt, node, "corral,harts", &len);
    if (!p)
        return 0;
    if (len % 4 || len / 4 != vm->num_vcpus)
        return reject(vm, "corral,harts must name one hart per vCPU");
    for (unsigned i = 0; i < vm->num_vcpus; i++)
        vm->harts[i] = (uint64_t)p[4 * i] << 24 | p[4 * i + 1] << 16 | p[4 * i + 2] << 8 |
                       p[4 * i + 3];
    vm->num_harts_asked = vm->num_vcpus;
    return 0;
}

static uint64_t cells64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static int parse_disk(struct vm *vm, int node)
{
    uint32_t len;
    const uint8_t *p = dt_prop(&platform.dt, node, "corral,disk", &len);
    if (!p)
        return 0;
    if (len != 16)
        return reject(vm, "corral,disk must be <start-hi start-lo count-hi count-lo>");
    vm->disk_start = cells64(p);
    vm->disk_sectors = cells64(p + 8);
    if (!vm->disk_sectors || vm->disk_start >> 48 || vm->disk_sectors >> 48)
        return reject(vm, "corral,disk has no sectors, or more than a disk can have");
    vm->disk_readonly = dt_prop(&platform.dt, node, "corral,disk-readonly", &len) != NULL;
    return 0;
}

static int parse_net(struct vm *vm, int node)
{
    uint32_t len;
    const uint8_t *p = dt_prop(&platform.dt, node, "corral,net", &len);
    if (!p)
        return 0;
    if (len < 2 || p[len - 1] || len > 33)
        return reject(vm, "corral,net must be a switch name of 1 to 32 characters");
    vm->net = (const char *)p;
    return 0;
}

/* Fills vm from its node; the modules are not touched yet. */
static int parse_vm(struct vm *vm, int node)
{
    const struct dt *t = &platform.dt;
    uint64_t ncpus, mem_kib;
    vm->name = dt_name(t, node);
    if (!vm->name)
        vm->name = "?";
    if (dt_prop_u64(t, node, "cpus", &ncpus) < 0 || ncpus < 1 || ncpus > MAX_VCPUS)
        return reject(vm, "cpus missing or out of range (1..8)");
    vm->num_vcpus = (unsigned)ncpus;
    if (dt_prop_u64(t, node, "memory", &mem_kib) < 0 || !mem_kib || mem_kib > (1ULL << 40))
        return reject(vm, "memory missing or out of range");
    vm->ram_size = mem_kib * 1024;
    if (vm->ram_size % MEM_SLICE_ALIGN || vm->ram_size < 2 * VM_KERNEL_OFF)
        return reject(vm, "memory must be a multiple of 2 MiB, at least 4 MiB");
    vm->bootargs = dt_prop_str(t, node, "bootargs");
    unsigned ac, sc;
    dt_cells(t, node, &ac, &sc);
    for (int m = dt_first_child(t, node); m >= 0; m = dt_next_sibling(t, m))
        if (parse_module(vm, m, ac, sc) < 0)
            return -EINVAL;
    if (!vm->kernel.size)
        return reject(vm, "no multiboot,kernel module");
    if (parse_harts(vm, node) < 0 || parse_disk(vm, node) < 0 || parse_net(vm, node) < 0)
        return -EINVAL;
    vm->state = VM_DESCRIBED;
    return 0;
}

/* The hart a vCPU runs on: one asked for by corral,harts, else a hart with nothing on it,
 * else the one with the fewest vCPUs, which it then shares (time slices). -1 if none. */
static int pick_hart(struct vm *vm, unsigned i, const unsigned *load)
{
    if (vm->num_harts_asked) {
        int h = platform_hart_index(vm->harts[i]);
        return h >= 0 && platform.hart_has_h[h] && cpus[h].up && load[h] < MAX_VCPUS ? h : -1;
    }
    int best = -1;
    for (unsigned j = 0; j < platform.num_harts; j++)
        if (platform.hart_has_h[j] && cpus[j].up && load[j] < MAX_VCPUS &&
            (best < 0 || load[j] < load[best]))
            best = (int)j;
    return best;
}

static int assign_harts(struct vm *vm)
{
    int chosen[MAX_VCPUS];
    unsigned load[MAX_HARTS];
    for (unsigned j = 0; j < MAX_HARTS; j++)
        load[j] = cpus[j].nrunq;
    for (unsigned i = 0; i < vm->num_vcpus; i++) {
        chosen[i] = pick_hart(vm, i, load);
        if (chosen[i] < 0)
            return reject(vm, vm->num_harts_asked ? "a hart in corral,harts is missing or "
                          "without H" : "no hart with H can take another vCPU");
        load[chosen[i]]++;
    }
    for (unsigned i = 0; i < vm->num_vcpus; i++) {
        struct vcpu *v = &vm->vcpu[i];
        *v = (struct vcpu){ .vm = vm, .id = i, .hart = chosen[i], .hsm = SBI_HSM_STOPPED };
        struct cpu *c = &cpus[chosen[i]];
        c->runq[c->nrunq++] = v;
    }
    /* vCPU 0 starts at the kernel: a0 = hart id, a1 = device tree */
    vcpu_reset(&vm->vcpu[0], vm->entry, 0, vm->dtb_gpa);
    vm->vcpu[0].hsm = SBI_HSM_STARTED;
    return 0;
}

static long uart_out(void *ctx, const uint8_t *buf, size_t len)
{
    vm_console_write(ctx, buf, len);
    return (long)len;
}

/* The virtual PLIC's context outputs: 2h is vCPU h's M-mode line (unused: guests run in
 * S), 2h + 1 its S-mode line, which becomes hvip.VSEIP. */
static void plic_out(void *ctx, unsigned num, int level)
{
    struct vm *vm = ctx;
    if (num & 1 && num / 2 < vm->num_vcpus)
        vcpu_set_eip(&vm->vcpu[num / 2], level);
}

/* The guest's devices: the shared models of src/dev, reached through G-stage faults. */
static int add_devices(struct vm *vm)
{
    struct irq_line outs[2 * MAX_VCPUS];
    for (unsigned i = 0; i < 2 * vm->num_vcpus; i++)
        outs[i] = (struct irq_line){ plic_out, vm, i };
    vm->plic = plic_create(VIRT_PLIC_SOURCES, 2 * vm->num_vcpus, outs);
    struct char_backend out = { uart_out, vm };
    struct irq_line uart_irq = { plic_set_irq, vm->plic, VIRT_UART0_IRQ };
    vm->uart = vm->plic ? uart16550_create(&out, &uart_irq) : NULL;
    if (!vm->uart)
        return reject(vm, "no room for its device models");
    vm->mmio[vm->num_mmio++] = (struct mmio_region){ "plic", VIRT_PLIC_BASE, VIRT_PLIC_SIZE,
                                                     vm->plic, plic_read, plic_write };
    vm->mmio[vm->num_mmio++] = (struct mmio_region){ "uart", VIRT_UART0_BASE, VIRT_UART0_SIZE,
                                                     vm->uart, uart16550_read, uart16550_write };
    if (vm->disk_sectors) {
        const char *why = "";
        struct blk_backend *be = disk_slice(0, vm->disk_start, vm->disk_sectors,
                                            vm->disk_readonly, vm->index, &why);
        if (!be)
            return reject(vm, why);
        struct virtio_slot slot = { "virtio-blk", VIRT_VIRTIO_BASE,
                                    { plic_set_irq, vm->plic, VIRT_VIRTIO_IRQ }, &vm->mem };
        vm->blk = virtio_blk_create(&slot, be, NULL);
        if (!vm->blk)
            return reject(vm, "no room for its disk's device model");
        vm->mmio[vm->num_mmio++] = virtio_blk_dev(vm->blk)->region;
    }
    if (vm->net) {
        char spec[48], err[96];
        snprintf(spec, sizeof(spec), "switch,name=%s", vm->net);
        struct virtio_slot slot = { "virtio-net", VIRT_VIRTIO_BASE + VIRT_VIRTIO_STRIDE,
                                    { plic_set_irq, vm->plic, VIRT_VIRTIO_IRQ + 1 }, &vm->mem };
        vm->nic = virtio_net_create(&slot, spec, vm->index, NULL, NULL, err, sizeof(err));
        if (!vm->nic)
            return reject(vm, err);
        vm->mmio[vm->num_mmio++] = virtio_net_dev(vm->nic)->region;
    }
    return 0;
}

/* Takes a slice of RAM, maps it, and copies the kernel (and initrd) into it. */
static int build_vm(struct vm *vm)
{
    vm->ram_hpa = mem_alloc_slice(vm->ram_size);
    if (!vm->ram_hpa)
        return reject(vm, "not enough free memory for its RAM");
    vm->mem = (struct guest_mem){ (uint8_t *)vm->ram_hpa, VM_RAM_GPA, vm->ram_size, NULL };
    gstage_init(&vm->gs, (uint16_t)(vm->index + 1));
    if (gstage_map(&vm->gs, VM_RAM_GPA, vm->ram_hpa, vm->ram_size) < 0)
        return reject(vm, "cannot map its RAM");
    memset(vm->mem.host, 0, vm->ram_size);
    struct boot_image img;
    int err = boot_load(&vm->mem, (const uint8_t *)vm->kernel.base, vm->kernel.size,
                        VM_RAM_GPA + VM_KERNEL_OFF, true, &img);
    if (err == -ENOMEM)
        return reject(vm, "kernel does not fit in its memory");
    if (err < 0)
        return reject(vm, "kernel module is not a RISC-V Image, ELF or flat binary");
    vm->entry = img.entry;
    vm->sbi = vm_sbi_ops;
    vm->sbi.num_harts = vm->num_vcpus;
    /* the initrd at the top of RAM, page aligned; the device tree below it */
    uint64_t top = VM_RAM_GPA + vm->ram_size;
    if (vm->initrd.size) {
        top = (top - vm->initrd.size) & ~4095ULL;
        if (vm->initrd.size > vm->ram_size || top < img.end ||
            boot_place(&vm->mem, top, (const void *)vm->initrd.base, vm->initrd.size) < 0)
            return reject(vm, "initrd does not fit in its memory");
    }
    if (add_devices(vm) < 0)
        return -ENOMEM;
    if (guest_dt_build(vm, top, top, vm->initrd.size, img.end) < 0)
        return reject(vm, "no room for its device tree");
    return assign_harts(vm);
}

unsigned vm_setup_all(void)
{
    const struct dt *t = &platform.dt;
    int chosen = dt_path(t, "/chosen");
    if (chosen < 0)
        return 0;
    for (int n = dt_first_child(t, chosen); n >= 0; n = dt_next_sibling(t, n)) {
        if (!dt_compatible(t, n, "corral,vm"))
            continue;
        if (num_vms == MAX_VMS) {
            kprintf("corral-bm: more than %u VMs described; the rest are not started\n", MAX_VMS);
            break;
        }
        struct vm *vm = &vms[num_vms];
        memset(vm, 0, sizeof(*vm));   /* the slot may hold a description refused before */
        vm->index = num_vms;
        if (parse_vm(vm, n) < 0)
            continue;
        num_vms++;
    }
    /* modules may not cover the firmware, the image or the tree (reserved by now) */
    for (unsigned i = 0; i < num_vms; i++) {
        struct vm *vm = &vms[i];
        if (vm->state == VM_DESCRIBED && (mem_overlaps_reserved(vm->kernel.base, vm->kernel.size)
            || (vm->initrd.size && mem_overlaps_reserved(vm->initrd.base, vm->initrd.size))))
            reject(vm, "a module overlaps the firmware, the hypervisor or the device tree");
    }
    /* then reserve them, so that no RAM slice lands on one */
    for (unsigned i = 0; i < num_vms; i++) {
        struct vm *vm = &vms[i];
        if (vm->state != VM_DESCRIBED)
            continue;
        if (mem_reserve(vm->kernel.base, vm->kernel.size) < 0 ||
            (vm->initrd.size && mem_reserve(vm->initrd.base, vm->initrd.size) < 0))
            reject(vm, "too many modules");
    }
    /* two VMs never share sectors of the machine's disk: the later one is refused */
    for (unsigned i = 0; i < num_vms; i++) {
        struct vm *vm = &vms[i];
        for (unsigned j = 0; j < i && vm->state == VM_DESCRIBED && vm->disk_sectors; j++) {
            struct vm *o = &vms[j];
            if (o->state == VM_DESCRIBED && o->disk_sectors &&
                vm->disk_start < o->disk_start + o->disk_sectors &&
                o->disk_start < vm->disk_start + vm->disk_sectors)
                reject(vm, "corral,disk overlaps another VM's disk");
        }
    }
    unsigned built = 0;
    for (unsigned i = 0; i < num_vms; i++) {
        struct vm *vm = &vms[i];
        if (vm->state != VM_DESCRIBED || build_vm(vm) < 0)
            continue;
        vm->state = VM_RUNNING;
        built++;
        kprintf("corral-bm: vm %s: %u vCPU, %lu MiB at 0x%lx, entry 0x%lx, harts", vm->name,
                vm->num_vcpus, vm->ram_size >> 20, vm->ram_hpa, vm->entry);
        for (unsigned v = 0; v < vm->num_vcpus; v++)
            kprintf(" %lu", platform.hartid[vm->vcpu[v].hart]);
        kprintf("\n");
    }
    vms_built = built;
    return built;
}

static void flush_line(struct vm *vm)
{
    if (vm->line_len) {
        kprintf("%s| %.*s\n", vm->name, (int)vm->line_len, vm->line);
        vm->line_len = 0;
    }
}

void vm_console_write(struct vm *vm, const uint8_t *buf, size_t len)
{
    spin_lock(&vm->line_lock);
    for (size_t i = 0; i < len; i++) {
        char ch = (char)buf[i];
        if (ch == '\n') {
            if (!vm->line_len)
                kprintf("%s|\n", vm->name);
            flush_line(vm);
        } else if (ch != '\r') {
            vm->line[vm->line_len++] = (ch >= 0x20 && ch < 0x7f) || ch == '\t' ? ch : '?';
            if (vm->line_len == sizeof(vm->line))
                flush_line(vm);
        }
    }
    spin_unlock(&vm->line_lock);
}

void vm_exit(struct vm *vm, enum vm_state how, int code, const char *why)
{
    int running = VM_RUNNING;
    if (!__atomic_compare_exchange_n(&vm->state, &running, how, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return; /* another vCPU ended it first */
    vm->code = code;
    spin_lock(&vm->line_lock);
    flush_line(vm);
    spin_unlock(&vm->line_lock);
    if (how == VM_OFF)
        kprintf("corral-bm: vm %s: powered off (code %d)\n", vm->name, code);
    else
        kprintf("corral-bm: vm %s: stopped: %s (code %d)\n", vm->name, why, code);
    struct cpu *self = this_cpu();
    for (unsigned i = 0; i < vm->num_vcpus; i++)
        if (vm->vcpu[i].hart != (int)self->index)
            vcpu_request(&vm->vcpu[i], REQ_STOP);
    if (__atomic_add_fetch(&vms_ended, 1, __ATOMIC_ACQ_REL) == vms_built) {
        kprintf("corral-bm: all VMs have ended\n");
        fw_shutdown(0);
    }
}
