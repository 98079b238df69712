/* The guest's tree (Linux's Documentation/devicetree/bindings/riscv/cpus.yaml for the
 * harts). The ISA string is the host's with what a VS-mode guest must not be told of taken
 * out: H itself, and every multi-letter extension not on a short list known to work in
 * VS-mode without further hypervisor set-up (henvcfg bits, say). */
#include <errno.h>
#include <string.h>

#include "boot/loader.h"
#include "core/fdt_write.h"
#include "core/guest_dt.h"
#include "core/platform.h"
#include "machine/virt.h"

#define DT_MAX 16384

static struct fdtw writer;          /* boot time only, one VM at a time */
static uint8_t blob[DT_MAX];

static const char *const vs_extensions[] = {
    "zicsr", "zifencei", "zihintpause", "zicntr", "zba", "zbb", "zbc", "zbs", "sstc",
};

static void guest_isa(char *out, size_t cap)
{
    const char *isa = platform.isa ? platform.isa : "rv64imafdc";
    size_t n = 0;
    const char *p = isa;
    for (; *p && *p != '_' && n + 1 < cap; p++)
        if (*p != 'h')
            out[n++] = *p;
    while (*p == '_') {
        const char *ext = ++p;
        size_t len = 0;
        while (ext[len] && ext[len] != '_')
            len++;
        for (size_t i = 0; i < sizeof(vs_extensions) / sizeof(vs_extensions[0]); i++)
            if (strlen(vs_extensions[i]) == len && strncmp(ext, vs_extensions[i], len) == 0 &&
                n + len + 2 < cap) {
                out[n++] = '_';
                memcpy(out + n, ext, len);
                n += len;
            }
        p = ext + len;
    }
    out[n] = '\0';
}

static void unit_name(char *out, const char *prefix, uint64_t v)
{
    size_t n = strlen(prefix);
    memcpy(out, prefix, n);
    char tmp[17];
    int k = 0;
    do
        tmp[k++] = "0123456789abcdef"[v & 15];
    while (v >>= 4);
    while (k)
        out[n++] = tmp[--k];
    out[n] = '\0';
}

static void write_cpus(struct fdtw *w, const struct vm *vm)
{
    char isa[128], name[32];
    guest_isa(isa, sizeof(isa));
    fdtw_node(w, "cpus");
    fdtw_prop_u32(w, "#address-cells", 1);
    fdtw_prop_u32(w, "#size-cells", 0);
    fdtw_prop_u32(w, "timebase-frequency", (uint32_t)platform.timebase);
    for (unsigned i = 0; i < vm->num_vcpus; i++) {
        unit_name(name, "cpu@", i);
        fdtw_node(w, name);
        fdtw_prop_str(w, "device_type", "cpu");
        fdtw_prop_u32(w, "reg", i);
        fdtw_prop_str(w, "status", "okay");
        fdtw_prop_str(w, "compatible", "riscv");
        fdtw_prop_str(w, "riscv,isa", isa);
        fdtw_prop_str(w, "mmu-type", platform.mmu_type ? platform.mmu_type : "riscv,sv39");
        fdtw_node(w, "interrupt-controller");
        fdtw_prop_u32(w, "#interrupt-cells", 1);
        fdtw_prop(w, "interrupt-controller", NULL, 0);
        fdtw_prop_str(w, "compatible", "riscv,cpu-intc");
        fdtw_prop_u32(w, "phandle", i + 1);
        fdtw_end_node(w);
        fdtw_end_node(w);
    }
    fdtw_end_node(w);
}

static void put_cell(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void reg_prop(struct fdtw *w, uint64_t base, uint64_t size);

/* The PLIC (contexts 2h: M, 2h + 1: S of vCPU h, as on virt) and the UART on it. */
static void write_soc(struct fdtw *w, const struct vm *vm)
{
    static const char plic_compat[] = "sifive,plic-1.0.0\0riscv,plic0";
    char name[32];
    uint8_t ext[MAX_VCPUS * 16];
    fdtw_node(w, "soc");
    fdtw_prop_u32(w, "#address-cells", 2);
    fdtw_prop_u32(w, "#size-cells", 2);
    fdtw_prop_str(w, "compatible", "simple-bus");
    fdtw_prop(w, "ranges", NULL, 0);
    unit_name(name, "plic@", VIRT_PLIC_BASE);
    fdtw_node(w, name);
    fdtw_prop_u32(w, "phandle", VM_PLIC_PHANDLE);
    fdtw_prop(w, "compatible", plic_compat, sizeof(plic_compat));
    fdtw_prop_u32(w, "#interrupt-cells", 1);
    fdtw_prop_u32(w, "#address-cells", 0);
    fdtw_prop(w, "interrupt-controller", NULL, 0);
    reg_prop(w, VIRT_PLIC_BASE, VIRT_PLIC_SIZE);
    fdtw_prop_u32(w, "riscv,ndev", VIRT_PLIC_SOURCES - 1);
    for (unsigned i = 0; i < vm->num_vcpus; i++) {
        put_cell(ext + 16 * i, i + 1);            /* vCPU i's interrupt controller */
        put_cell(ext + 16 * i + 4, 11);           /* M external */
        put_cell(ext + 16 * i + 8, i + 1);
        put_cell(ext + 16 * i + 12, 9);           /* S external */
    }
    fdtw_prop(w, "interrupts-extended", ext, 16 * vm->num_vcpus);
    fdtw_end_node(w);
    unit_name(name, "serial@", VIRT_UART0_BASE);
    fdtw_node(w, name);
    fdtw_prop_str(w, "compatible", "ns16550a");
    reg_prop(w, VIRT_UART0_BASE, VIRT_UART0_SIZE);
    fdtw_prop_u32(w, "clock-frequency", 3686400);
    fdtw_prop_u32(w, "interrupt-parent", VM_PLIC_PHANDLE);
    fdtw_prop_u32(w, "interrupts", VIRT_UART0_IRQ);
    fdtw_end_node(w);
    if (vm->blk) { /* its disk, in the first virtio-mmio slot as on virt */
        unit_name(name, "virtio_mmio@", VIRT_VIRTIO_BASE);
        fdtw_node(w, name);
        fdtw_prop_str(w, "compatible", "virtio,mmio");
        reg_prop(w, VIRT_VIRTIO_BASE, VIRT_VIRTIO_STRIDE);
        fdtw_prop_u32(w, "interrupt-parent", VM_PLIC_PHANDLE);
        fdtw_prop_u32(w, "interrupts", VIRT_VIRTIO_IRQ);
        fdtw_end_node(w);
    }
    if (vm->nic) { /* its NIC, in the second slot */
        unit_name(name, "virtio_mmio@", VIRT_VIRTIO_BASE + VIRT_VIRTIO_STRIDE);
        fdtw_node(w, name);
        fdtw_prop_str(w, "compatible", "virtio,mmio");
        reg_prop(w, VIRT_VIRTIO_BASE + VIRT_VIRTIO_STRIDE, VIRT_VIRTIO_STRIDE);
        fdtw_prop_u32(w, "interrupt-parent", VM_PLIC_PHANDLE);
        fdtw_prop_u32(w, "interrupts", VIRT_VIRTIO_IRQ + 1);
        fdtw_end_node(w);
    }
    fdtw_end_node(w);
}

/* reg = <base size> in two cells each */
static void reg_prop(struct fdtw *w, uint64_t base, uint64_t size)
{
    uint8_t reg[16];
    for (int i = 0; i < 8; i++) {
        reg[i] = (uint8_t)(base >> (56 - 8 * i));
        reg[8 + i] = (uint8_t)(size >> (56 - 8 * i));
    }
    fdtw_prop(w, "reg", reg, 16);
}

int guest_dt_build(struct vm *vm, uint64_t top, uint64_t initrd_gpa, uint64_t initrd_size,
                   uint64_t kernel_end)
{
    struct fdtw *w = &writer;
    char name[32];
    fdtw_begin(w, blob, sizeof(blob));
    fdtw_node(w, "");
    fdtw_prop_u32(w, "#address-cells", 2);
    fdtw_prop_u32(w, "#size-cells", 2);
    fdtw_prop_str(w, "compatible", "corral,bm-vm");
    fdtw_prop_str(w, "model", "corral-bm VM");
    fdtw_node(w, "chosen");
    if (vm->bootargs)
        fdtw_prop_str(w, "bootargs", vm->bootargs);
    fdtw_prop_str(w, "stdout-path", "/soc/serial@10000000");
    if (initrd_size) {
        fdtw_prop_u64(w, "linux,initrd-start", initrd_gpa);
        fdtw_prop_u64(w, "linux,initrd-end", initrd_gpa + initrd_size);
    }
    fdtw_end_node(w);
    write_cpus(w, vm);
    write_soc(w, vm);
    unit_name(name, "memory@", VM_RAM_GPA);
    fdtw_node(w, name);
    fdtw_prop_str(w, "device_type", "memory");
    reg_prop(w, VM_RAM_GPA, vm->ram_size);
    fdtw_end_node(w);
    fdtw_end_node(w);
    int size = fdtw_finish(w);
    if (size < 0)
        return size;
    uint64_t at = (top - (uint64_t)size) & ~7ULL;
    if (top < (uint64_t)size || at < kernel_end || boot_place(&vm->mem, at, blob, (size_t)size) < 0)
        return -ENOMEM;
    vm->dtb_gpa = at;
    return 0;
}
