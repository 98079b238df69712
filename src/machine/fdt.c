/* The virt board's device tree, written with libfdt's sequential-write API so that a
 * Linux guest or OpenSBI sees the same nodes QEMU's `-M virt` gives them.
 * Not a parser: nothing here reads a guest's tree; guests can only read what we write. */
#include "machine/fdt.h"

#include <libfdt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "machine/virt.h"

/* Phandles are fixed per layout: hart h's interrupt controller is INTC(h), its cpu node
 * CPU(h); the PLIC and the test device follow all harts. */
#define PH_INTC(h)  (1u + (h))
#define PH_CPU(h)   (1u + VIRT_MAX_HARTS + (h))
#define PH_PLIC     (1u + 2 * VIRT_MAX_HARTS)
#define PH_TEST     (2u + 2 * VIRT_MAX_HARTS)

/* Hart-local interrupt causes (priv spec 3.1.9, mip/mie bits). */
#define IRQ_S_EXT 9
#define IRQ_M_SOFT 3
#define IRQ_M_TIMER 7
#define IRQ_M_EXT 11

#define ISA_EXT_MAX 512

/* Bail out with libfdt's own error code; fdt_build maps it to an errno at the end. */
#define TRY(x) do { int e_ = (x); if (e_ < 0) return e_; } while (0)

struct ext_list {
    char buf[ISA_EXT_MAX];
    size_t len;
};

static bool ext_has(const struct ext_list *l, const char *name, size_t n)
{
    for (size_t off = 0; off < l->len; off += strlen(l->buf + off) + 1) {
        if (strlen(l->buf + off) == n && memcmp(l->buf + off, name, n) == 0)
            return true;
    }
    return false;
}

static int ext_add(struct ext_list *l, const char *name, size_t n)
{
    if (n == 0 || ext_has(l, name, n))
        return 0;
    if (n + 1 > sizeof(l->buf) - l->len)
        return -FDT_ERR_BADVALUE;
    memcpy(l->buf + l->len, name, n);
    l->buf[l->len + n] = '\0';
    l->len += n + 1;
    return 0;
}

/* Splits an ISA string into the riscv,isa-extensions list. Unpriv spec ch. "ISA Extension
 * Naming Conventions": single letters follow "rv64" (G = IMAFD_Zicsr_Zifencei), each may
 * carry a version such as "2p1"; multi-letter names start with z, s or x and are
 * separated by underscores. */
static int isa_extensions(const char *isa, struct ext_list *l)
{
    static const char g_expansion[] = "imafd";
    l->len = 0;
    if (strncmp(isa, "rv64", 4) != 0)
        return -FDT_ERR_BADVALUE;
    const char *p = isa + 4;
    while (*p) {
        char c = *p;
        if (c == '_') {
            p++;
        } else if (c == 'z' || c == 's' || c == 'x') {
            size_t n = strcspn(p, "_");
            TRY(ext_add(l, p, n));
            p += n;
        } else if (c >= 'a' && c <= 'y') {
            if (c == 'g') {
                for (const char *e = g_expansion; *e; e++)
                    TRY(ext_add(l, e, 1));
                TRY(ext_add(l, "zicsr", 5));
                TRY(ext_add(l, "zifencei", 8));
            } else {
                TRY(ext_add(l, p, 1));
            }
            p++;
            /* a version number: digits, optionally "p" and more digits */
            while (*p >= '0' && *p <= '9')
                p++;
            if (*p == 'p' && p[1] >= '0' && p[1] <= '9')
                for (p++; *p >= '0' && *p <= '9'; p++)
                    ;
        } else {
            return -FDT_ERR_BADVALUE;
        }
    }
    return 0;
}

static int prop_reg(void *fdt, uint64_t base, uint64_t size)
{
    fdt64_t reg[2] = { cpu_to_fdt64(base), cpu_to_fdt64(size) };
    return fdt_property(fdt, "reg", reg, sizeof(reg));
}

/* interrupts-extended listing, for each hart, <intc cause_a intc cause_b>. */
static int prop_hart_irqs(void *fdt, unsigned harts, uint32_t a, uint32_t b)
{
    fdt32_t cells[VIRT_MAX_HARTS * 4];
    for (unsigned h = 0; h < harts; h++) {
        cells[4 * h + 0] = cpu_to_fdt32(PH_INTC(h));
        cells[4 * h + 1] = cpu_to_fdt32(a);
        cells[4 * h + 2] = cpu_to_fdt32(PH_INTC(h));
        cells[4 * h + 3] = cpu_to_fdt32(b);
    }
    return fdt_property(fdt, "interrupts-extended", cells, harts * 4 * sizeof(fdt32_t));
}

static int node_chosen(void *fdt, const struct fdt_config *cfg)
{
    char stdout_path[48];
    snprintf(stdout_path, sizeof(stdout_path), "/soc/serial@%llx",
             (unsigned long long)VIRT_UART0_BASE);
    TRY(fdt_begin_node(fdt, "chosen"));
    if (cfg->bootargs)
        TRY(fdt_property_string(fdt, "bootargs", cfg->bootargs));
    if (cfg->initrd_start || cfg->initrd_end) {
        TRY(fdt_property_u64(fdt, "linux,initrd-start", cfg->initrd_start));
        TRY(fdt_property_u64(fdt, "linux,initrd-end", cfg->initrd_end));
    }
    TRY(fdt_property_string(fdt, "stdout-path", stdout_path));
    return fdt_end_node(fdt);
}

static int node_memory(void *fdt, const struct fdt_config *cfg)
{
    char name[32];
    snprintf(name, sizeof(name), "memory@%llx", (unsigned long long)cfg->ram_base);
    TRY(fdt_begin_node(fdt, name));
    TRY(fdt_property_string(fdt, "device_type", "memory"));
    TRY(prop_reg(fdt, cfg->ram_base, cfg->ram_size));
    return fdt_end_node(fdt);
}

static int node_cpu(void *fdt, const struct fdt_config *cfg, unsigned h,
                    const struct ext_list *exts)
{
    char name[16];
    snprintf(name, sizeof(name), "cpu@%u", h);
    TRY(fdt_begin_node(fdt, name));
    TRY(fdt_property_u32(fdt, "phandle", PH_CPU(h)));
    TRY(fdt_property_string(fdt, "device_type", "cpu"));
    TRY(fdt_property_u32(fdt, "reg", h));
    TRY(fdt_property_string(fdt, "status", "okay"));
    TRY(fdt_property_string(fdt, "compatible", "riscv"));
    TRY(fdt_property_string(fdt, "riscv,isa", cfg->isa));
    TRY(fdt_property_string(fdt, "riscv,isa-base", "rv64i"));
    TRY(fdt_property(fdt, "riscv,isa-extensions", exts->buf, (int)exts->len));
    if (cfg->mmu_type)
        TRY(fdt_property_string(fdt, "mmu-type", cfg->mmu_type));
    TRY(fdt_begin_node(fdt, "interrupt-controller"));
    TRY(fdt_property_u32(fdt, "#interrupt-cells", 1));
    TRY(fdt_property(fdt, "interrupt-controller", NULL, 0));
    TRY(fdt_property_string(fdt, "compatible", "riscv,cpu-intc"));
    TRY(fdt_property_u32(fdt, "phandle", PH_INTC(h)));
    TRY(fdt_end_node(fdt));
    return fdt_end_node(fdt);
}

static int node_cpus(void *fdt, const struct fdt_config *cfg, const struct ext_list *exts)
{
    TRY(fdt_begin_node(fdt, "cpus"));
    TRY(fdt_property_u32(fdt, "#address-cells", 1));
    TRY(fdt_property_u32(fdt, "#size-cells", 0));
    TRY(fdt_property_u32(fdt, "timebase-frequency", (uint32_t)cfg->timebase_hz));
    for (unsigned h = 0; h < cfg->num_harts; h++)
        TRY(node_cpu(fdt, cfg, h, exts));
    TRY(fdt_begin_node(fdt, "cpu-map"));
    TRY(fdt_begin_node(fdt, "cluster0"));
    for (unsigned h = 0; h < cfg->num_harts; h++) {
        char name[16];
        snprintf(name, sizeof(name), "core%u", h);
        TRY(fdt_begin_node(fdt, name));
        TRY(fdt_property_u32(fdt, "cpu", PH_CPU(h)));
        TRY(fdt_end_node(fdt));
    }
    TRY(fdt_end_node(fdt));
    TRY(fdt_end_node(fdt));
    return fdt_end_node(fdt);
}

static int node_clint_plic(void *fdt, const struct fdt_config *cfg)
{
    static const char clint_compat[] = "sifive,clint0\0riscv,clint0";
    static const char plic_compat[] = "sifive,plic-1.0.0\0riscv,plic0";
    char name[32];

    snprintf(name, sizeof(name), "clint@%llx", (unsigned long long)VIRT_CLINT_BASE);
    TRY(fdt_begin_node(fdt, name));
    TRY(fdt_property(fdt, "compatible", clint_compat, sizeof(clint_compat)));
    TRY(prop_reg(fdt, VIRT_CLINT_BASE, VIRT_CLINT_SIZE));
    TRY(prop_hart_irqs(fdt, cfg->num_harts, IRQ_M_SOFT, IRQ_M_TIMER));
    TRY(fdt_end_node(fdt));

    /* Contexts 2h (M) and 2h+1 (S) per hart, in that order, as VIRT_PLIC_CTX_* number them. */
    snprintf(name, sizeof(name), "plic@%llx", (unsigned long long)VIRT_PLIC_BASE);
    TRY(fdt_begin_node(fdt, name));
    TRY(fdt_property_u32(fdt, "phandle", PH_PLIC));
    TRY(fdt_property(fdt, "compatible", plic_compat, sizeof(plic_compat)));
    TRY(fdt_property_u32(fdt, "#interrupt-cells", 1));
    TRY(fdt_property_u32(fdt, "#address-cells", 0));
    TRY(fdt_property(fdt, "interrupt-controller", NULL, 0));
    TRY(prop_reg(fdt, VIRT_PLIC_BASE, VIRT_PLIC_SIZE));
    TRY(fdt_property_u32(fdt, "riscv,ndev", VIRT_PLIC_SOURCES - 1));
    TRY(prop_hart_irqs(fdt, cfg->num_harts, IRQ_M_EXT, IRQ_S_EXT));
    return fdt_end_node(fdt);
}

static int node_plic_device(void *fdt, const char *name, uint64_t base, uint64_t size,
                            const char *compat, unsigned irq)
{
    TRY(fdt_begin_node(fdt, name));
    TRY(fdt_property_string(fdt, "compatible", compat));
    TRY(prop_reg(fdt, base, size));
    TRY(fdt_property_u32(fdt, "interrupt-parent", PH_PLIC));
    TRY(fdt_property_u32(fdt, "interrupts", irq));
    return 0; /* the caller may add properties, then ends the node */
}

static int node_soc(void *fdt, const struct fdt_config *cfg)
{
    static const char test_compat[] = "sifive,test1\0sifive,test0\0syscon";
    char name[32];

    TRY(fdt_begin_node(fdt, "soc"));
    TRY(fdt_property_u32(fdt, "#address-cells", 2));
    TRY(fdt_property_u32(fdt, "#size-cells", 2));
    TRY(fdt_property_string(fdt, "compatible", "simple-bus"));
    TRY(fdt_property(fdt, "ranges", NULL, 0));
    TRY(node_clint_plic(fdt, cfg));

    snprintf(name, sizeof(name), "serial@%llx", (unsigned long long)VIRT_UART0_BASE);
    TRY(node_plic_device(fdt, name, VIRT_UART0_BASE, VIRT_UART0_SIZE, "ns16550a",
                         VIRT_UART0_IRQ));
    TRY(fdt_property_u32(fdt, "clock-frequency", 3686400));
    TRY(fdt_end_node(fdt));

    snprintf(name, sizeof(name), "test@%llx", (unsigned long long)VIRT_TEST_BASE);
    TRY(fdt_begin_node(fdt, name));
    TRY(fdt_property_u32(fdt, "phandle", PH_TEST));
    TRY(fdt_property(fdt, "compatible", test_compat, sizeof(test_compat)));
    TRY(prop_reg(fdt, VIRT_TEST_BASE, VIRT_TEST_SIZE));
    TRY(fdt_end_node(fdt));

    snprintf(name, sizeof(name), "rtc@%llx", (unsigned long long)VIRT_RTC_BASE);
    TRY(node_plic_device(fdt, name, VIRT_RTC_BASE, VIRT_RTC_SIZE, "google,goldfish-rtc",
                         VIRT_RTC_IRQ));
    TRY(fdt_end_node(fdt));

    for (unsigned i = 0; i < cfg->num_virtio; i++) {
        const struct fdt_virtio_slot *s = &cfg->virtio[i];
        snprintf(name, sizeof(name), "virtio_mmio@%llx", (unsigned long long)s->base);
        TRY(node_plic_device(fdt, name, s->base, s->size, "virtio,mmio", s->irq));
        TRY(fdt_end_node(fdt));
    }
    return fdt_end_node(fdt);
}

/* syscon-poweroff/-reboot write `value` to the test device (QEMU puts them at the root). */
static int node_syscon_action(void *fdt, const char *name, const char *compat, uint32_t value)
{
    TRY(fdt_begin_node(fdt, name));
    TRY(fdt_property_string(fdt, "compatible", compat));
    TRY(fdt_property_u32(fdt, "regmap", PH_TEST));
    TRY(fdt_property_u32(fdt, "offset", 0));
    TRY(fdt_property_u32(fdt, "value", value));
    return fdt_end_node(fdt);
}

static int write_tree(void *fdt, size_t size, const struct fdt_config *cfg,
                      const struct ext_list *exts)
{
    TRY(fdt_create(fdt, size > INT_MAX ? INT_MAX : (int)size));
    TRY(fdt_finish_reservemap(fdt));
    TRY(fdt_begin_node(fdt, ""));
    TRY(fdt_property_u32(fdt, "#address-cells", 2));
    TRY(fdt_property_u32(fdt, "#size-cells", 2));
    TRY(fdt_property_string(fdt, "compatible", "riscv-virtio"));
    TRY(fdt_property_string(fdt, "model", "riscv-virtio,corral"));
    TRY(node_chosen(fdt, cfg));
    TRY(node_memory(fdt, cfg));
    TRY(node_cpus(fdt, cfg, exts));
    TRY(node_soc(fdt, cfg));
    TRY(node_syscon_action(fdt, "poweroff", "syscon-poweroff", 0x5555));
    TRY(node_syscon_action(fdt, "reboot", "syscon-reboot", 0x7777));
    TRY(fdt_end_node(fdt));
    return fdt_finish(fdt);
}

long fdt_build(const struct fdt_config *cfg, void *buf, size_t bufsize)
{
    struct ext_list exts;
    if (!cfg || !buf || !cfg->isa || cfg->num_harts == 0 || cfg->num_harts > VIRT_MAX_HARTS ||
        cfg->num_virtio > ARRAY_SIZE(cfg->virtio) || cfg->timebase_hz == 0 ||
        cfg->timebase_hz > UINT32_MAX || cfg->initrd_end < cfg->initrd_start)
        return -EINVAL;
    if (isa_extensions(cfg->isa, &exts) < 0)
        return -EINVAL;
    int r = write_tree(buf, bufsize, cfg, &exts);
    if (r == -FDT_ERR_NOSPACE)
        return -ENOSPC;
    if (r < 0)
        return -EINVAL;
    return (long)fdt_totalsize(buf);
}
