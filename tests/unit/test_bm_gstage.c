/* corral-bm's G-stage tables (src/bm/arch/riscv/gstage.c), built for the host: what a VM's
 * Sv39x4 tables map, and what they refuse to map. Table addresses here are host virtual
 * ones, which fit the PPN field as physical ones do on the machine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <errno.h>

#include "arch/riscv/gstage.h"

#define MiB (1ULL << 20)
#define RAM 0x80000000ULL

static struct gstage *new_gstage(uint16_t vmid)
{
    struct gstage *g = aligned_alloc(16384, sizeof(*g));
    assert_non_null(g);
    gstage_init(g, vmid);
    return g;
}

/* RAM maps page for page onto its slice; everything around it stays unmapped. */
static void test_slice_maps_exactly(void **state)
{
    (void)state;
    struct gstage *g = new_gstage(3);
    assert_int_equal(gstage_map(g, RAM, 0x90400000ULL, 128 * MiB), 0);
    assert_int_equal(gstage_lookup(g, RAM), 0x90400000ULL);
    assert_int_equal(gstage_lookup(g, RAM + 0x12345), 0x90412345ULL);
    assert_int_equal(gstage_lookup(g, RAM + 128 * MiB - 1), 0x90400000ULL + 128 * MiB - 1);
    assert_int_equal(gstage_lookup(g, RAM + 128 * MiB), (uint64_t)-1);
    assert_int_equal(gstage_lookup(g, RAM - 1), (uint64_t)-1);
    assert_int_equal(gstage_lookup(g, 0), (uint64_t)-1);
    assert_int_equal(gstage_lookup(g, 0x10001000ULL), (uint64_t)-1); /* devices: trapped */
    assert_int_equal(gstage_lookup(g, 0x90400000ULL), (uint64_t)-1); /* the host address */
    assert_int_equal(gstage_lookup(g, 1ULL << 41), (uint64_t)-1);
    assert_int_equal(gstage_lookup(g, ~0ULL), (uint64_t)-1);
    free(g);
}

/* The entries: a leaf is valid, readable, writable, executable, user (G-stage accesses are
 * all user-level), accessed and dirty; a pointer to the next level is only valid. hgatp
 * names Sv39x4, the VMID and the 16 KiB-aligned root. */
static void test_entries_and_hgatp(void **state)
{
    (void)state;
    struct gstage *g = new_gstage(0x5a);
    assert_int_equal(gstage_map(g, RAM, 0x80400000ULL, 2 * MiB), 0);
    uint64_t root = g->root[RAM >> 30];
    assert_int_equal(root & 0x3ff, 0x1);
    const uint64_t *l1 = (const uint64_t *)((root >> 10) << 12);
    uint64_t leaf = l1[(RAM >> 21) & 511];
    assert_int_equal(leaf & 0x3ff, 0xdf);
    assert_int_equal((leaf >> 10) << 12, 0x80400000ULL);
    uint64_t hgatp = gstage_hgatp(g);
    assert_int_equal(hgatp >> 60, 8);
    assert_int_equal((hgatp >> 44) & 0x3fff, 0x5a);
    assert_int_equal((hgatp & ((1ULL << 44) - 1)) << 12, (uint64_t)(uintptr_t)g->root);
    assert_int_equal((uintptr_t)g->root % 16384, 0);
    free(g);
}

/* Only 2 MiB-aligned ranges inside the 41-bit space; a full pool is an error, not an
 * overflow into memory past the tables. */
static void test_refusals(void **state)
{
    (void)state;
    struct gstage *g = new_gstage(1);
    assert_int_equal(gstage_map(g, RAM + 4096, 0x80400000ULL, 2 * MiB), -EINVAL);
    assert_int_equal(gstage_map(g, RAM, 0x80401000ULL, 2 * MiB), -EINVAL);
    assert_int_equal(gstage_map(g, RAM, 0x80400000ULL, 2 * MiB + 4096), -EINVAL);
    assert_int_equal(gstage_map(g, 1ULL << 41, 0x80400000ULL, 2 * MiB), -EINVAL);
    assert_int_equal(gstage_map(g, (1ULL << 41) - 2 * MiB, 0x80400000ULL, 4 * MiB), -EINVAL);
    assert_int_equal(gstage_map(g, 2 * MiB, 0x80400000ULL, ~0ULL - 2 * MiB + 1), -EINVAL);
    for (unsigned i = 0; i < GSTAGE_POOL; i++) /* one level-1 table per GiB */
        assert_int_equal(gstage_map(g, (uint64_t)i << 30, 0x80000000ULL, 2 * MiB), 0);
    assert_int_equal(g->used, GSTAGE_POOL);
    assert_int_equal(gstage_map(g, (uint64_t)GSTAGE_POOL << 30, 0x80000000ULL, 2 * MiB), -ENOMEM);
    assert_int_equal(gstage_lookup(g, (uint64_t)GSTAGE_POOL << 30), (uint64_t)-1);
    /* re-initialised, the tables map nothing */
    gstage_init(g, 1);
    assert_int_equal(gstage_lookup(g, 0), (uint64_t)-1);
    free(g);
}

/* Two VMs: each one's guest RAM reaches its own slice only, at the same guest address. */
static void test_two_vms_disjoint(void **state)
{
    (void)state;
    struct gstage *a = new_gstage(1), *b = new_gstage(2);
    assert_int_equal(gstage_map(a, RAM, 0x80400000ULL, 64 * MiB), 0);
    assert_int_equal(gstage_map(b, RAM, 0x84400000ULL, 64 * MiB), 0);
    for (uint64_t off = 0; off < 64 * MiB; off += 2 * MiB) {
        uint64_t ha = gstage_lookup(a, RAM + off), hb = gstage_lookup(b, RAM + off);
        assert_true(ha >= 0x80400000ULL && ha < 0x84400000ULL);
        assert_true(hb >= 0x84400000ULL && hb < 0x88400000ULL);
    }
    assert_int_equal(gstage_lookup(a, RAM + 64 * MiB), (uint64_t)-1);
    assert_true(gstage_hgatp(a) != gstage_hgatp(b));
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slice_maps_exactly),
        cmocka_unit_test(test_entries_and_hgatp),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_two_vms_disjoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
