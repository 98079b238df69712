/* Unit tests for corral-bm's device tree reader (src/bm/core/dt.c) and writer
 * (src/bm/core/fdt_write.c), built for the host: a tree written and read back, and the
 * reader on truncated and corrupted blobs, which must give errors and never read outside
 * the blob or loop. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/dt.h"
#include "core/fdt_write.h"

static uint8_t blob[4096];
static struct fdtw writer;

static const char vm_compat[] = "corral,vm\0other";

/* / { #address-cells = 2; #size-cells = 2; cpus { cpu@0 { reg = 0 } cpu@1 { reg = 1 } }
 *     memory@80000000 { device_type = "memory"; reg = <0x80000000 512M> }
 *     chosen { vm0 { compatible = "corral,vm", "other"; cpus = 2;
 *                    module@90000000 { reg = <0x90000000 0x1000> } } } } */
static int build_tree(void)
{
    struct fdtw *w = &writer;
    fdtw_begin(w, blob, sizeof(blob));
    fdtw_node(w, "");
    fdtw_prop_u32(w, "#address-cells", 2);
    fdtw_prop_u32(w, "#size-cells", 2);
    fdtw_node(w, "cpus");
    fdtw_prop_u32(w, "#address-cells", 1);
    fdtw_prop_u32(w, "#size-cells", 0);
    for (uint32_t i = 0; i < 2; i++) {
        fdtw_node(w, i ? "cpu@1" : "cpu@0");
        fdtw_prop_u32(w, "reg", i);
        fdtw_end_node(w);
    }
    fdtw_end_node(w);
    fdtw_node(w, "memory@80000000");
    fdtw_prop_str(w, "device_type", "memory");
    uint8_t reg[16] = { 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0 };
    fdtw_prop(w, "reg", reg, sizeof(reg));
    fdtw_end_node(w);
    fdtw_node(w, "chosen");
    fdtw_node(w, "vm0");
    fdtw_prop(w, "compatible", vm_compat, sizeof(vm_compat));
    fdtw_prop_u32(w, "cpus", 2);
    fdtw_prop_u64(w, "memory", 0x4000);
    fdtw_node(w, "module@90000000");
    uint8_t mreg[16] = { 0, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0 };
    fdtw_prop(w, "reg", mreg, sizeof(mreg));
    fdtw_end_node(w);
    fdtw_end_node(w);
    fdtw_end_node(w);
    fdtw_end_node(w);
    return fdtw_finish(w);
}

static void test_written_tree_reads_back(void **state)
{
    (void)state;
    int size = build_tree();
    assert_true(size > 40);
    struct dt t;
    assert_int_equal(dt_open(&t, blob, (uint32_t)size), 0);
    assert_int_equal(dt_total_size(blob), (uint32_t)size);
    int cpus = dt_path(&t, "/cpus");
    assert_true(cpus >= 0);
    unsigned ac, sc;
    dt_cells(&t, cpus, &ac, &sc);
    assert_int_equal(ac, 1);
    assert_int_equal(sc, 0);
    int cpu1 = dt_child(&t, cpus, "cpu@1");
    uint64_t id, sz;
    assert_int_equal(dt_reg(&t, cpu1, ac, sc, 0, &id, &sz), 0);
    assert_int_equal(id, 1);
    assert_int_equal(dt_child(&t, cpus, "cpu"), dt_first_child(&t, cpus)); /* name without @ */
    assert_true(dt_child(&t, cpus, "cpu@2") < 0);
    int mem = dt_path(&t, "/memory");
    assert_string_equal(dt_prop_str(&t, mem, "device_type"), "memory");
    uint64_t base;
    assert_int_equal(dt_reg(&t, mem, 2, 2, 0, &base, &sz), 0);
    assert_int_equal(base, 0x80000000);
    assert_int_equal(sz, 0x20000000);
    assert_int_equal(dt_reg(&t, mem, 2, 2, 1, &base, &sz), -ENOENT);
    int vm = dt_path(&t, "/chosen/vm0");
    assert_true(dt_compatible(&t, vm, "corral,vm"));
    assert_true(dt_compatible(&t, vm, "other"));
    assert_false(dt_compatible(&t, vm, "corral"));
    uint64_t v;
    assert_int_equal(dt_prop_u64(&t, vm, "cpus", &v), 0);
    assert_int_equal(v, 2);
    assert_int_equal(dt_prop_u64(&t, vm, "memory", &v), 0);
    assert_int_equal(v, 0x4000);
    assert_int_equal(dt_prop_u64(&t, vm, "missing", &v), -ENOENT);
    int mod = dt_first_child(&t, vm);
    assert_string_equal(dt_name(&t, mod), "module@90000000");
    assert_int_equal(dt_next_sibling(&t, mod), -ENOENT);
    assert_int_equal(dt_path(&t, "/chosen/vm1"), -ENOENT);
}

static void test_writer_reports_overflow(void **state)
{
    (void)state;
    uint8_t small[64];
    fdtw_begin(&writer, small, sizeof(small));
    fdtw_node(&writer, "");
    fdtw_prop_str(&writer, "model", "a model string longer than the buffer has room for");
    fdtw_end_node(&writer);
    assert_true(fdtw_finish(&writer) < 0);
    fdtw_begin(&writer, blob, sizeof(blob));
    fdtw_node(&writer, "");
    assert_true(fdtw_finish(&writer) < 0); /* a node left open */
}

static void test_header_checks(void **state)
{
    (void)state;
    int size = build_tree();
    struct dt t;
    assert_int_equal(dt_open(&t, blob, (uint32_t)size - 1), -EINVAL); /* larger than given */
    uint8_t copy[4096];
    memcpy(copy, blob, (size_t)size);
    copy[0] ^= 1;
    assert_int_equal(dt_open(&t, copy, (uint32_t)size), -EINVAL);
    assert_int_equal(dt_total_size(copy), 0);
    memcpy(copy, blob, (size_t)size);
    copy[8] = 0x7f; /* structure block offset far outside */
    assert_int_equal(dt_open(&t, copy, (uint32_t)size), -EINVAL);
}

/* Visits every node and a few properties; returns how many nodes (bounded). */
static int walk(const struct dt *t, int node, int depth)
{
    int n = 1;
    if (depth > DT_MAX_DEPTH + 2)
        return n;
    (void)dt_name(t, node);
    (void)dt_prop_str(t, node, "device_type");
    (void)dt_compatible(t, node, "corral,vm");
    uint64_t a, s;
    (void)dt_reg(t, node, 2, 2, 0, &a, &s);
    for (int c = dt_first_child(t, node); c >= 0 && n < 1000; c = dt_next_sibling(t, c))
        n += walk(t, c, depth + 1);
    return n;
}

static void test_corrupt_blobs_fail_safely(void **state)
{
    (void)state;
    int size = build_tree();
    struct dt t;
    assert_int_equal(dt_open(&t, blob, (uint32_t)size), 0);
    int whole = walk(&t, dt_root(&t), 0);
    assert_int_equal(whole, 8);   /* root, cpus, 2 cpus, memory, chosen, vm0, module */
    /* every byte of the blob set to each of a few values, the tree (re)read each time: in
     * its own heap copy of the exact size, so that ASan builds catch any read past it */
    static const uint8_t values[] = { 0x00, 0x01, 0x02, 0x03, 0x09, 0x7f, 0xff };
    for (int i = 0; i < size; i++) {
        for (size_t k = 0; k < sizeof(values); k++) {
            uint8_t *copy = malloc((size_t)size);
            assert_non_null(copy);
            memcpy(copy, blob, (size_t)size);
            copy[i] = values[k];
            if (dt_open(&t, copy, (uint32_t)size) == 0 && dt_root(&t) >= 0)
                assert_true(walk(&t, dt_root(&t), 0) < 1000);
            free(copy);
        }
    }
    /* every truncation, with the header's size claiming the original */
    for (int len = 0; len < size; len++) {
        uint8_t *copy = malloc((size_t)len + 1);
        assert_non_null(copy);
        memcpy(copy, blob, (size_t)len);
        assert_int_equal(dt_open(&t, copy, (uint32_t)len), -EINVAL);
        free(copy);
    }
}

static void test_deep_nesting_is_bounded(void **state)
{
    (void)state;
    fdtw_begin(&writer, blob, sizeof(blob));
    fdtw_node(&writer, "");
    for (int i = 0; i < DT_MAX_DEPTH + 4; i++)
        fdtw_node(&writer, "n");
    for (int i = 0; i < DT_MAX_DEPTH + 4; i++)
        fdtw_end_node(&writer);
    fdtw_node(&writer, "after");
    fdtw_end_node(&writer);
    fdtw_end_node(&writer);
    int size = fdtw_finish(&writer);
    assert_true(size > 0);
    struct dt t;
    assert_int_equal(dt_open(&t, blob, (uint32_t)size), 0);
    int deep = dt_first_child(&t, dt_root(&t));
    assert_true(deep >= 0);
    assert_true(dt_next_sibling(&t, deep) < 0); /* too deep to skip: an error, not a hang */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_written_tree_reads_back),
        cmocka_unit_test(test_writer_reports_overflow),
        cmocka_unit_test(test_header_checks),
        cmocka_unit_test(test_corrupt_blobs_fail_safely),
        cmocka_unit_test(test_deep_nesting_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
