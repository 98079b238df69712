/* Unit tests for the virt board's device tree: builds a tree and reads it back with libfdt.
 * Does not boot anything; only checks what a guest would find in the tree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <libfdt.h>

#include "machine/fdt.h"
#include "machine/virt.h"

#define BUF_SIZE (64 * 1024)
#define ISA "rv64imafdc_zicntr_zicsr_zifencei_zihintpause_zba_zbb_zbs_sstc"

static struct fdt_config two_harts_config(void)
{
    struct fdt_config c = {
        .num_harts = 2, .isa = ISA, .mmu_type = "riscv,sv57",
        .ram_base = VIRT_DRAM_BASE, .ram_size = 512 * MiB, .timebase_hz = VIRT_TIMEBASE_HZ,
        .bootargs = "console=ttyS0 earlycon", .initrd_start = 0x88000000ULL,
        .initrd_end = 0x88123456ULL, .num_virtio = 2,
    };
    c.virtio[0] = (struct fdt_virtio_slot){ VIRT_VIRTIO_BASE, VIRT_VIRTIO_STRIDE, 1 };
    c.virtio[1] = (struct fdt_virtio_slot){ VIRT_VIRTIO_BASE + VIRT_VIRTIO_STRIDE,
                                            VIRT_VIRTIO_STRIDE, 2 };
    return c;
}

static int setup_tree(void **state)
{
    struct fdt_config c = two_harts_config();
    void *buf = calloc(1, BUF_SIZE);
    if (!buf)
        return -1;
    long n = fdt_build(&c, buf, BUF_SIZE);
    if (n <= 0 || fdt_check_header(buf) != 0 || (long)fdt_totalsize(buf) != n) {
        free(buf);
        return -1;
    }
    *state = buf;
    return 0;
}

static int teardown_tree(void **state)
{
    free(*state);
    return 0;
}

/* Returns the property's value, asserting it exists with exactly `len` bytes. */
static const void *prop(const void *fdt, const char *path, const char *name, int len)
{
    int node = fdt_path_offset(fdt, path);
    assert_true(node >= 0);
    int got = -1;
    const void *p = fdt_getprop(fdt, node, name, &got);
    assert_non_null(p);
    assert_int_equal(got, len);
    return p;
}

static uint64_t be64_at(const void *p, int i)
{
    fdt64_t v;
    memcpy(&v, (const uint8_t *)p + 8 * i, 8);
    return fdt64_to_cpu(v);
}

static uint32_t be32_at(const void *p, int i)
{
    fdt32_t v;
    memcpy(&v, (const uint8_t *)p + 4 * i, 4);
    return fdt32_to_cpu(v);
}

static void test_memory_reg_is_ram_base_and_size(void **state)
{
    const void *reg = prop(*state, "/memory@80000000", "reg", 16);
    assert_int_equal(be64_at(reg, 0), VIRT_DRAM_BASE);
    assert_int_equal(be64_at(reg, 1), 512 * MiB);
    assert_string_equal(prop(*state, "/memory@80000000", "device_type", 7), "memory");
}

static void test_chosen_has_initrd_bootargs_and_stdout(void **state)
{
    assert_int_equal(be64_at(prop(*state, "/chosen", "linux,initrd-start", 8), 0), 0x88000000ULL);
    assert_int_equal(be64_at(prop(*state, "/chosen", "linux,initrd-end", 8), 0), 0x88123456ULL);
    const char *args = "console=ttyS0 earlycon";
    assert_string_equal(prop(*state, "/chosen", "bootargs", (int)strlen(args) + 1), args);
    const char *out = prop(*state, "/chosen", "stdout-path", 21);
    assert_string_equal(out, "/soc/serial@10000000");
    /* the path must name a node that exists */
    assert_true(fdt_path_offset(*state, out) >= 0);
}

static void test_chosen_omits_absent_initrd_and_bootargs(void **state)
{
    struct fdt_config c = two_harts_config();
    c.bootargs = NULL;
    c.initrd_start = c.initrd_end = 0;
    uint8_t buf[8192];
    assert_true(fdt_build(&c, buf, sizeof(buf)) > 0);
    int node = fdt_path_offset(buf, "/chosen");
    assert_true(node >= 0);
    assert_null(fdt_getprop(buf, node, "bootargs", NULL));
    assert_null(fdt_getprop(buf, node, "linux,initrd-start", NULL));
    assert_null(fdt_getprop(buf, node, "linux,initrd-end", NULL));
}

static void test_cpus_have_timebase_isa_and_one_node_per_hart(void **state)
{
    assert_int_equal(be32_at(prop(*state, "/cpus", "timebase-frequency", 4), 0),
                     VIRT_TIMEBASE_HZ);
    assert_string_equal(prop(*state, "/cpus/cpu@0", "riscv,isa", sizeof(ISA)), ISA);
    assert_string_equal(prop(*state, "/cpus/cpu@1", "riscv,isa", sizeof(ISA)), ISA);
    assert_int_equal(be32_at(prop(*state, "/cpus/cpu@1", "reg", 4), 0), 1);
    assert_string_equal(prop(*state, "/cpus/cpu@0", "riscv,isa-base", 6), "rv64i");
    assert_string_equal(prop(*state, "/cpus/cpu@0", "mmu-type", 11), "riscv,sv57");
    assert_true(fdt_path_offset(*state, "/cpus/cpu@2") < 0);
    assert_true(fdt_path_offset(*state, "/cpus/cpu-map/cluster0/core1") >= 0);
}

static void test_isa_extensions_list_letters_then_multi_letter_names(void **state)
{
    static const char want[] = "i\0m\0a\0f\0d\0c\0zicntr\0zicsr\0zifencei\0zihintpause\0"
                               "zba\0zbb\0zbs\0sstc";
    const char *got = prop(*state, "/cpus/cpu@0", "riscv,isa-extensions", sizeof(want));
    assert_memory_equal(got, want, sizeof(want));
}

static void test_isa_g_expands_and_versions_are_skipped(void **state)
{
    struct fdt_config c = two_harts_config();
    c.isa = "rv64g2p1c_zba";
    uint8_t buf[8192];
    assert_true(fdt_build(&c, buf, sizeof(buf)) > 0);
    static const char want[] = "i\0m\0a\0f\0d\0zicsr\0zifencei\0c\0zba";
    int node = fdt_path_offset(buf, "/cpus/cpu@0");
    int len = 0;
    const void *got = fdt_getprop(buf, node, "riscv,isa-extensions", &len);
    assert_non_null(got);
    assert_int_equal(len, sizeof(want));
    assert_memory_equal(got, want, sizeof(want));
}

static void test_malformed_isa_is_rejected(void **state)
{
    struct fdt_config c = two_harts_config();
    uint8_t buf[8192];
    c.isa = "rv32imac";
    assert_int_equal(fdt_build(&c, buf, sizeof(buf)), -EINVAL);
    c.isa = "rv64IMA";
    assert_int_equal(fdt_build(&c, buf, sizeof(buf)), -EINVAL);
}

static void test_plic_ndev_and_contexts_per_hart(void **state)
{
    assert_int_equal(be32_at(prop(*state, "/soc/plic@c000000", "riscv,ndev", 4), 0),
                     VIRT_PLIC_SOURCES - 1);
    /* two contexts (M external 11, S external 9) per hart, 2 cells each */
    const void *ie = prop(*state, "/soc/plic@c000000", "interrupts-extended", 2 * 4 * 4);
    uint32_t plic_ph = fdt_get_phandle(*state, fdt_path_offset(*state, "/soc/plic@c000000"));
    assert_true(plic_ph != 0);
    uint32_t intc1 = fdt_get_phandle(*state,
                                     fdt_path_offset(*state, "/cpus/cpu@1/interrupt-controller"));
    assert_int_equal(be32_at(ie, 4), intc1);
    assert_int_equal(be32_at(ie, 5), 11);
    assert_int_equal(be32_at(ie, 7), 9);
}

static void test_clint_lists_soft_and_timer_per_hart(void **state)
{
    const void *ie = prop(*state, "/soc/clint@2000000", "interrupts-extended", 2 * 4 * 4);
    assert_int_equal(be32_at(ie, 1), 3);
    assert_int_equal(be32_at(ie, 3), 7);
}

static void test_devices_point_at_the_plic(void **state)
{
    uint32_t plic_ph = fdt_get_phandle(*state, fdt_path_offset(*state, "/soc/plic@c000000"));
    assert_int_equal(be32_at(prop(*state, "/soc/serial@10000000", "interrupt-parent", 4), 0),
                     plic_ph);
    assert_int_equal(be32_at(prop(*state, "/soc/serial@10000000", "interrupts", 4), 0),
                     VIRT_UART0_IRQ);
    assert_int_equal(be32_at(prop(*state, "/soc/virtio_mmio@10002000", "interrupts", 4), 0), 2);
    const void *reg = prop(*state, "/soc/virtio_mmio@10002000", "reg", 16);
    assert_int_equal(be64_at(reg, 0), 0x10002000ULL);
    assert_true(fdt_path_offset(*state, "/soc/virtio_mmio@10003000") < 0);
    assert_int_equal(fdt_node_offset_by_compatible(*state, -1, "virtio,mmio") >= 0, 1);
}

static void test_poweroff_and_reboot_use_the_test_device(void **state)
{
    uint32_t test_ph = fdt_get_phandle(*state, fdt_path_offset(*state, "/soc/test@100000"));
    assert_true(test_ph != 0);
    assert_int_equal(be32_at(prop(*state, "/poweroff", "regmap", 4), 0), test_ph);
    assert_int_equal(be32_at(prop(*state, "/poweroff", "value", 4), 0), 0x5555);
    assert_int_equal(be32_at(prop(*state, "/reboot", "regmap", 4), 0), test_ph);
    assert_int_equal(be32_at(prop(*state, "/reboot", "value", 4), 0), 0x7777);
}

static void test_too_small_buffer_gives_enospc(void **state)
{
    struct fdt_config c = two_harts_config();
    long full = (long)fdt_totalsize(*state);
    uint8_t *buf = malloc((size_t)full);
    assert_non_null(buf);
    assert_int_equal(fdt_build(&c, buf, (size_t)full - 1), -ENOSPC);
    assert_int_equal(fdt_build(&c, buf, 16), -ENOSPC);
    assert_int_equal(fdt_build(&c, buf, (size_t)full), full);
    free(buf);
}

static void test_bad_hart_counts_are_rejected(void **state)
{
    struct fdt_config c = two_harts_config();
    uint8_t buf[8192];
    c.num_harts = 0;
    assert_int_equal(fdt_build(&c, buf, sizeof(buf)), -EINVAL);
    c.num_harts = VIRT_MAX_HARTS + 1;
    assert_int_equal(fdt_build(&c, buf, sizeof(buf)), -EINVAL);
    c.num_harts = VIRT_MAX_HARTS;
    assert_true(fdt_build(&c, buf, sizeof(buf)) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_reg_is_ram_base_and_size),
        cmocka_unit_test(test_chosen_has_initrd_bootargs_and_stdout),
        cmocka_unit_test(test_chosen_omits_absent_initrd_and_bootargs),
        cmocka_unit_test(test_cpus_have_timebase_isa_and_one_node_per_hart),
        cmocka_unit_test(test_isa_extensions_list_letters_then_multi_letter_names),
        cmocka_unit_test(test_isa_g_expands_and_versions_are_skipped),
        cmocka_unit_test(test_malformed_isa_is_rejected),
        cmocka_unit_test(test_plic_ndev_and_contexts_per_hart),
        cmocka_unit_test(test_clint_lists_soft_and_timer_per_hart),
        cmocka_unit_test(test_devices_point_at_the_plic),
        cmocka_unit_test(test_poweroff_and_reboot_use_the_test_device),
        cmocka_unit_test(test_too_small_buffer_gives_enospc),
        cmocka_unit_test(test_bad_hart_counts_are_rejected),
    };
    return cmocka_run_group_tests(tests, setup_tree, teardown_tree);
}
