/* Device tree probing for the QEMU virt board's shapes (and any board that names its devices
 * the same way): memory, /cpus, and the devices under /soc. */
#include <errno.h>
#include <string.h>

#include "core/platform.h"

struct platform platform;

/* The ISA string of a hart lists single-letter extensions after "rv64" and multi-letter ones
 * after underscores (ISA manual, chapter "ISA extension naming conventions"). */
static bool isa_has(const char *isa, const char *ext)
{
    if (strncmp(isa, "rv64", 4) != 0)
        return false;
    const char *p = isa + 4;
    if (!ext[1]) {
        for (; *p && *p != '_'; p++)
            if (*p == ext[0])
                return true;
        return false;
    }
    size_t n = strlen(ext);
    for (p = strchr(p, '_'); p; p = strchr(p + 1, '_'))
        if (strncmp(p + 1, ext, n) == 0 && (p[1 + n] == '_' || p[1 + n] == '\0'))
            return true;
    return false;
}

static int probe_memory(const struct dt *t, unsigned ac, unsigned sc)
{
    int root = dt_root(t);
    for (int n = dt_first_child(t, root); n >= 0; n = dt_next_sibling(t, n)) {
        const char *type = dt_prop_str(t, n, "device_type");
        if (!type || strcmp(type, "memory") != 0)
            continue;
        uint64_t base, size;
        if (dt_reg(t, n, ac, sc, 0, &base, &size) == 0 && size && base + size > base) {
            platform.mem_base = base;
            platform.mem_size = size;
            return 0;
        }
    }
    return -ENOENT;
}

static int probe_harts(const struct dt *t)
{
    int cpus = dt_path(t, "/cpus");
    if (cpus < 0)
        return -ENOENT;
    unsigned ac, sc;
    dt_cells(t, cpus, &ac, &sc);
    if (dt_prop_u64(t, cpus, "timebase-frequency", &platform.timebase) < 0 || !platform.timebase)
        return -ENOENT;
    platform.sstc = true;
    for (int n = dt_first_child(t, cpus); n >= 0; n = dt_next_sibling(t, n)) {
        const char *type = dt_prop_str(t, n, "device_type");
        const char *status = dt_prop_str(t, n, "status");
        const char *isa = dt_prop_str(t, n, "riscv,isa");
        uint64_t id, unused;
        if (!type || strcmp(type, "cpu") != 0 || (status && strcmp(status, "okay") != 0))
            continue;
        if (dt_reg(t, n, ac, sc, 0, &id, &unused) < 0 || platform.num_harts == MAX_HARTS)
            continue;
        if (!platform.num_harts) {
            platform.isa = isa;
            platform.mmu_type = dt_prop_str(t, n, "mmu-type");
        }
        platform.hart_has_h[platform.num_harts] = isa && isa_has(isa, "h");
        uint64_t ph;
        int intc = dt_child(t, n, "interrupt-controller");
        platform.intc_phandle[platform.num_harts] =
            intc >= 0 && dt_prop_u64(t, intc, "phandle", &ph) == 0 ? (uint32_t)ph : 0;
        platform.sstc = platform.sstc && isa && isa_has(isa, "sstc");
        platform.hartid[platform.num_harts++] = id;
    }
    return platform.num_harts ? 0 : -ENOENT;
}

static void probe_irq(const struct dt *t, int n, unsigned *irq)
{
    uint64_t v;
    *irq = dt_prop_u64(t, n, "interrupts", &v) == 0 && v < 1024 ? (unsigned)v : 0;
}

static void probe_device(const struct dt *t, int n, unsigned ac, unsigned sc)
{
    struct mmio_dev d = { 0 };
    if (dt_reg(t, n, ac, sc, 0, &d.base, &d.size) < 0 || !d.size || d.base + d.size < d.base)
        return;
    probe_irq(t, n, &d.irq);
    if (dt_compatible(t, n, "ns16550a") && !platform.uart.size) {
        uint64_t v;
        platform.uart = d;
        platform.uart_shift = dt_prop_u64(t, n, "reg-shift", &v) == 0 && v <= 2 ? (unsigned)v : 0;
        platform.uart_width = dt_prop_u64(t, n, "reg-io-width", &v) == 0 && v == 4 ? 4 : 1;
    } else if ((dt_compatible(t, n, "riscv,plic0") || dt_compatible(t, n, "sifive,plic-1.0.0"))
               && !platform.plic.size) {
        uint64_t ndev;
        platform.plic = d;
        platform.plic_ndev = dt_prop_u64(t, n, "riscv,ndev", &ndev) == 0 && ndev < 1024
                             ? (unsigned)ndev : 0;
    } else if (dt_compatible(t, n, "virtio,mmio") && platform.num_virtio < MAX_VIRTIO) {
        platform.virtio[platform.num_virtio++] = d;
    }
}

static void sort_virtio(void)
{
    for (unsigned i = 1; i < platform.num_virtio; i++)
        for (unsigned j = i; j && platform.virtio[j].base < platform.virtio[j - 1].base; j--) {
            struct mmio_dev tmp = platform.virtio[j];
            platform.virtio[j] = platform.virtio[j - 1];
            platform.virtio[j - 1] = tmp;
        }
}

int platform_probe(const void *dtb, const char **why)
{
    struct dt *t = &platform.dt;
    uint32_t size = dt_total_size(dtb);
    if (!size || dt_open(t, dtb, size) < 0 || dt_root(t) < 0) {
        *why = "no valid device tree";
        return -EINVAL;
    }
    unsigned ac, sc;
    dt_cells(t, dt_root(t), &ac, &sc);
    if (probe_memory(t, ac, sc) < 0) {
        *why = "no memory node";
        return -ENOENT;
    }
    if (probe_harts(t) < 0) {
        *why = "no harts (or no timebase-frequency) under /cpus";
        return -ENOENT;
    }
    int soc = dt_path(t, "/soc");
    if (soc >= 0) {
        dt_cells(t, soc, &ac, &sc);
        for (int n = dt_first_child(t, soc); n >= 0; n = dt_next_sibling(t, n))
            probe_device(t, n, ac, sc);
    }
    sort_virtio();
    if (!platform.uart.size) {
        *why = "no ns16550a UART";
        return -ENOENT;
    }
    return 0;
}

int platform_plic_s_context(unsigned index)
{
    int soc = dt_path(&platform.dt, "/soc");
    if (!platform.plic.size || soc < 0 || !platform.intc_phandle[index])
        return -1;
    /* the PLIC node again: platform_probe kept only its registers */
    for (int n = dt_first_child(&platform.dt, soc); n >= 0; n = dt_next_sibling(&platform.dt, n)) {
        uint64_t base, size;
        unsigned ac, sc;
        dt_cells(&platform.dt, soc, &ac, &sc);
        if (dt_reg(&platform.dt, n, ac, sc, 0, &base, &size) < 0 || base != platform.plic.base)
            continue;
        uint32_t len;
        const uint8_t *p = dt_prop(&platform.dt, n, "interrupts-extended", &len);
        /* (phandle, irq) pairs: the hart intc has one interrupt cell; 9 is S external */
        for (uint32_t i = 0; p && i + 8 <= len; i += 8) {
            uint32_t ph = (uint32_t)p[i] << 24 | p[i + 1] << 16 | p[i + 2] << 8 | p[i + 3];
            uint32_t irq = (uint32_t)p[i + 4] << 24 | p[i + 5] << 16 | p[i + 6] << 8 | p[i + 7];
            if (ph == platform.intc_phandle[index] && irq == 9)
                return (int)(i / 8);
        }
    }
    return -1;
}

int platform_hart_index(uint64_t hartid)
{
    for (unsigned i = 0; i < platform.num_harts; i++)
        if (platform.hartid[i] == hartid)
            return (int)i;
    return -1;
}
