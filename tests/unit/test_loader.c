/* Unit tests for the kernel/firmware loader: synthesised Images and ELFs, lying headers,
 * flat binaries, and the OpenSBI ELF Debian installs. Loads into a calloc'd test RAM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "boot/loader.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (16 * MiB)
#define FILL 0xa5
#define OPENSBI_ELF "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.elf"

static struct guest_mem ram;

static int setup_ram(void **state)
{
    ram.host = calloc(1, RAM_SIZE);
    ram.base = RAM_BASE;
    ram.size = RAM_SIZE;
    return ram.host ? 0 : -1;
}

static int fill_ram(void **state)
{
    memset(ram.host, FILL, RAM_SIZE);
    return 0;
}

static int teardown_ram(void **state)
{
    free(ram.host);
    return 0;
}

static uint8_t *at(uint64_t gpa)
{
    return ram.host + (gpa - RAM_BASE);
}

static bool ram_untouched(void)
{
    for (size_t i = 0; i < RAM_SIZE; i++)
        if (ram.host[i] != FILL)
            return false;
    return true;
}

static void put(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- Linux Image ---- */

static uint8_t *make_image(size_t len, uint64_t text_offset, uint64_t image_size)
{
    uint8_t *img = malloc(len);
    assert_non_null(img);
    for (size_t i = 0; i < len; i++)
        img[i] = (uint8_t)(i * 7 + 1);
    memset(img, 0, 64);
    img[0] = 'M';
    img[1] = 'Z';  /* an EFI-stub Image, as Debian ships */
    put(img + 8, text_offset, 8);
    put(img + 16, image_size, 8);
    put(img + 32, 0x2, 4);  /* header version 0.2 */
    memcpy(img + 48, "RISCV\0\0\0", 8);
    memcpy(img + 56, "RSC\x05", 4);
    return img;
}

static void test_image_goes_to_aligned_hint_plus_text_offset(void **state)
{
    uint8_t *img = make_image(8192, 0x200000, 0x400000);
    struct boot_image bi;
    assert_true(boot_is_linux_image(img, 8192));
    assert_int_equal(boot_load(&ram, img, 8192, RAM_BASE + 1 * MiB, false, &bi), 0);
    uint64_t want = RAM_BASE + 2 * MiB + 0x200000;
    assert_int_equal(bi.format, BOOT_IMAGE);
    assert_int_equal(bi.entry, want);
    assert_int_equal(bi.start, want);
    assert_int_equal(bi.end, want + 0x400000);
    assert_memory_equal(at(want), img, 8192);
    /* the reserved tail past the file is zeroed, the byte before the image is not touched */
    assert_int_equal(at(want + 8192)[0], 0);
    assert_int_equal(at(want + 0x400000 - 1)[0], 0);
    assert_int_equal(at(want - 1)[0], FILL);
    assert_int_equal(at(want + 0x400000)[0], FILL);
    free(img);
}

static void test_image_size_zero_reserves_the_file_length(void **state)
{
    uint8_t *img = make_image(4096, 0, 0);
    struct boot_image bi;
    assert_int_equal(boot_load(&ram, img, 4096, RAM_BASE + 2 * MiB, false, &bi), 0);
    assert_int_equal(bi.start, RAM_BASE + 2 * MiB);
    assert_int_equal(bi.end, RAM_BASE + 2 * MiB + 4096);
    assert_memory_equal(at(bi.start), img, 4096);
    free(img);
}

static void test_image_with_only_the_deprecated_magic_is_an_image(void **state)
{
    uint8_t *img = make_image(4096, 0, 0);
    memset(img + 56, 0, 4);
    struct boot_image bi;
    assert_true(boot_is_linux_image(img, 4096));
    assert_int_equal(boot_load(&ram, img, 4096, RAM_BASE, false, &bi), 0);
    assert_int_equal(bi.format, BOOT_IMAGE);
    free(img);
}

static void test_image_larger_than_ram_is_enomem(void **state)
{
    uint8_t *img = make_image(4096, 0x200000, RAM_SIZE);
    struct boot_image bi;
    assert_int_equal(boot_load(&ram, img, 4096, RAM_BASE, false, &bi), -ENOMEM);
    put(img + 8, UINT64_MAX - 4096, 8);  /* text_offset that wraps the address */
    assert_int_not_equal(boot_load(&ram, img, 4096, RAM_BASE, false, &bi), 0);
    put(img + 8, 0, 8);
    assert_int_equal(boot_load(&ram, img, 4096, UINT64_MAX - 10, false, &bi), -ENOMEM);
    assert_true(ram_untouched());
    free(img);
}

static void test_big_endian_image_is_rejected(void **state)
{
    uint8_t *img = make_image(4096, 0, 0);
    img[24] = 1;
    struct boot_image bi;
    assert_int_equal(boot_load(&ram, img, 4096, RAM_BASE, true, &bi), -ENOEXEC);
    free(img);
}

static void test_short_buffer_is_not_an_image(void **state)
{
    uint8_t *img = make_image(64, 0, 0);
    assert_true(boot_is_linux_image(img, 64));
    assert_false(boot_is_linux_image(img, 63));
    assert_false(boot_is_linux_image(NULL, 0));
    free(img);
}

/* ---- ELF ---- */

struct seg {
    uint32_t type;
    uint64_t offset, vaddr, paddr, filesz, memsz;
};

#define ELF_MAX 8192

/* Writes an ELF64 header and program headers; segment contents are the file's bytes. */
static uint8_t *make_elf(uint16_t machine, uint64_t entry, const struct seg *segs, unsigned n)
{
    uint8_t *e = malloc(ELF_MAX);
    assert_non_null(e);
    for (size_t i = 0; i < ELF_MAX; i++)
        e[i] = (uint8_t)(i * 13 + 5);
    memset(e, 0, 64);
    memcpy(e, "\x7f" "ELF", 4);
    e[4] = 2;  /* ELFCLASS64 */
    e[5] = 1;  /* little-endian */
    e[6] = 1;
    put(e + 16, 2, 2);  /* ET_EXEC */
    put(e + 18, machine, 2);
    put(e + 20, 1, 4);
    put(e + 24, entry, 8);
    put(e + 32, 64, 8);  /* phoff */
    put(e + 52, 64, 2);
    put(e + 54, 56, 2);
    put(e + 56, n, 2);
    for (unsigned i = 0; i < n; i++) {
        uint8_t *ph = e + 64 + 56 * i;
        memset(ph, 0, 56);
        put(ph, segs[i].type, 4);
        put(ph + 8, segs[i].offset, 8);
        put(ph + 16, segs[i].vaddr, 8);
        put(ph + 24, segs[i].paddr, 8);
        put(ph + 32, segs[i].filesz, 8);
        put(ph + 40, segs[i].memsz, 8);
    }
    return e;
}

static const struct seg two_loads[] = {
    { 1, 0x400, RAM_BASE, RAM_BASE, 0x300, 0x300 },
    { 4, 0x100, 0, 0, 0x10, 0x10 },  /* PT_NOTE: not loaded */
    { 1, 0x800, RAM_BASE + 0x10000, RAM_BASE + 0x10000, 0x200, 0x1000 },
};

static void test_elf_loads_segments_at_paddr_and_zeroes_bss(void **state)
{
    uint8_t *e = make_elf(243, RAM_BASE, two_loads, 3);
    struct boot_image bi;
    assert_int_equal(boot_load(&ram, e, ELF_MAX, 0, false, &bi), 0);
    assert_int_equal(bi.format, BOOT_ELF);
    assert_int_equal(bi.entry, RAM_BASE);
    assert_int_equal(bi.start, RAM_BASE);
    assert_int_equal(bi.end, RAM_BASE + 0x11000);
    assert_memory_equal(at(RAM_BASE), e + 0x400, 0x300);
    assert_int_equal(at(RAM_BASE + 0x300)[0], FILL);  /* between segments: untouched */
    assert_memory_equal(at(RAM_BASE + 0x10000), e + 0x800, 0x200);
    for (uint64_t i = 0x200; i < 0x1000; i++)
        assert_int_equal(at(RAM_BASE + 0x10000 + i)[0], 0);
    assert_int_equal(at(RAM_BASE + 0x11000)[0], FILL);
    free(e);
}

static void test_elf_virtual_entry_moves_to_its_physical_segment(void **state)
{
    const struct seg s[] = { { 1, 0x400, 0xffffffff80000000ULL, RAM_BASE + 0x200000, 0x100,
                               0x100 } };
    uint8_t *e = make_elf(243, 0xffffffff80000010ULL, s, 1);
    struct boot_image bi;
    assert_int_equal(boot_load(&ram, e, ELF_MAX, 0, false, &bi), 0);
    assert_int_equal(bi.entry, RAM_BASE + 0x200010);
    free(e);
}

static void test_elf_of_another_machine_or_class_is_enoexec(void **state)
{
    uint8_t *e = make_elf(62 /* x86-64 */, RAM_BASE, two_loads, 3);
    struct boot_image bi;
    assert_int_equal(boot_load(&ram, e, ELF_MAX, RAM_BASE, true, &bi), -ENOEXEC);
    put(e + 18, 243, 2);
    e[4] = 1;  /* ELFCLASS32 */
    assert_int_equal(boot_load(&ram, e, ELF_MAX, RAM_BASE, true, &bi), -ENOEXEC);
    assert_int_equal(boot_load(&ram, e, 52, RAM_BASE, true, &bi), -ENOEXEC);
    e[4] = 2;
    e[5] = 2;  /* big-endian */
    assert_int_equal(boot_load(&ram, e, ELF_MAX, RAM_BASE, true, &bi), -ENOEXEC);
    e[5] = 1;
    put(e + 16, 1, 2);  /* ET_REL: an object file, not an executable */
    assert_int_equal(boot_load(&ram, e, ELF_MAX, RAM_BASE, true, &bi), -ENOEXEC);
    assert_true(ram_untouched());
    free(e);
}

static void expect_rejected(const struct seg *s, unsigned n, size_t len, int want)
{
    uint8_t *e = make_elf(243, RAM_BASE, s, n);
    struct boot_image bi;
    assert_int_equal(boot_load(&ram, e, len, RAM_BASE, true, &bi), want);
    assert_true(ram_untouched());
    free(e);
}

static void test_elf_segment_beyond_file_is_einval(void **state)
{
    const struct seg s[] = { two_loads[0], { 1, ELF_MAX - 0x10, RAM_BASE + 0x1000,
                                             RAM_BASE + 0x1000, 0x20, 0x20 } };
    expect_rejected(s, 2, ELF_MAX, -EINVAL);
    const struct seg huge_off[] = { { 1, UINT64_MAX - 4, RAM_BASE, RAM_BASE, 0x10, 0x10 } };
    expect_rejected(huge_off, 1, ELF_MAX, -EINVAL);
    const struct seg file_over_mem[] = { { 1, 0x400, RAM_BASE, RAM_BASE, 0x20, 0x10 } };
    expect_rejected(file_over_mem, 1, ELF_MAX, -EINVAL);
}

static void test_elf_segment_beyond_ram_is_enomem(void **state)
{
    const struct seg past_end[] = { two_loads[0], { 1, 0x800, 0, RAM_BASE + RAM_SIZE - 0x100,
                                                    0x100, 0x101 } };
    expect_rejected(past_end, 2, ELF_MAX, -ENOMEM);
    const struct seg below[] = { { 1, 0x400, 0, RAM_BASE - 0x100, 0x200, 0x200 } };
    expect_rejected(below, 1, ELF_MAX, -ENOMEM);
}

static void test_elf_overflowing_paddr_plus_memsz_is_rejected(void **state)
{
    const struct seg wrap[] = { { 1, 0x400, 0, UINT64_MAX - 0xff, 0x100, 0x200 } };
    expect_rejected(wrap, 1, ELF_MAX, -EINVAL);
    const struct seg huge[] = { { 1, 0x400, 0, RAM_BASE, 0x100, UINT64_MAX } };
    expect_rejected(huge, 1, ELF_MAX, -EINVAL);
}

static void test_elf_with_huge_phnum_is_einval(void **state)
{
    uint8_t *e = make_elf(243, RAM_BASE, two_loads, 3);
    struct boot_image bi;
    put(e + 56, 0xffff, 2);
    assert_int_equal(boot_load(&ram, e, ELF_MAX, RAM_BASE, true, &bi), -EINVAL);
    put(e + 56, 3, 2);
    put(e + 32, UINT64_MAX - 8, 8);  /* phoff past the file */
    assert_int_equal(boot_load(&ram, e, ELF_MAX, RAM_BASE, true, &bi), -EINVAL);
    put(e + 32, 64, 8);
    put(e + 54, 32, 2);  /* phentsize that is not Elf64_Phdr's */
    assert_int_equal(boot_load(&ram, e, ELF_MAX, RAM_BASE, true, &bi), -EINVAL);
    assert_true(ram_untouched());
    free(e);
}

static void test_elf_without_loadable_segments_is_einval(void **state)
{
    const struct seg none[] = { { 4, 0x100, 0, 0, 0x10, 0x10 } };
    expect_rejected(none, 1, ELF_MAX, -EINVAL);
}

static void test_every_truncation_of_an_elf_fails_cleanly(void **state)
{
    uint8_t *e = make_elf(243, RAM_BASE, two_loads, 3);
    struct boot_image bi;
    /* the last segment ends at 0xa00: any shorter file lies about its contents */
    for (size_t len = 4; len < 0xa00; len++) {
        uint8_t *copy = malloc(len);  /* exact-size copy so a read past it is caught by ASan */
        assert_non_null(copy);
        memcpy(copy, e, len);
        assert_true(boot_load(&ram, copy, len, RAM_BASE, false, &bi) < 0);
        free(copy);
    }
    assert_true(ram_untouched());
    assert_int_equal(boot_load(&ram, e, 0xa00, RAM_BASE, false, &bi), 0);
    free(e);
}

/* ---- flat binaries and placement ---- */

static void test_flat_binary_loads_at_hint_only_when_allowed(void **state)
{
    uint8_t blob[300];
    for (size_t i = 0; i < sizeof(blob); i++)
        blob[i] = (uint8_t)(i + 3);
    struct boot_image bi;
    assert_int_equal(boot_load(&ram, blob, sizeof(blob), RAM_BASE + 0x1234, false, &bi),
                     -ENOEXEC);
    assert_true(ram_untouched());
    assert_int_equal(boot_load(&ram, blob, sizeof(blob), RAM_BASE + 0x1234, true, &bi), 0);
    assert_int_equal(bi.format, BOOT_FLAT);
    assert_int_equal(bi.entry, RAM_BASE + 0x1234);
    assert_int_equal(bi.start, RAM_BASE + 0x1234);
    assert_int_equal(bi.end, RAM_BASE + 0x1234 + sizeof(blob));
    assert_memory_equal(at(RAM_BASE + 0x1234), blob, sizeof(blob));
}

static void test_flat_binary_past_ram_or_empty_fails(void **state)
{
    uint8_t blob[16] = { 1 };
    struct boot_image bi;
    assert_int_equal(boot_load(&ram, blob, 16, RAM_BASE + RAM_SIZE - 8, true, &bi), -ENOMEM);
    assert_int_equal(boot_load(&ram, blob, 0, RAM_BASE, true, &bi), -ENOEXEC);
    assert_true(ram_untouched());
}

static void test_place_checks_bounds(void **state)
{
    const char msg[] = "initrd";
    assert_int_equal(boot_place(&ram, RAM_BASE + 100, msg, sizeof(msg)), 0);
    assert_memory_equal(at(RAM_BASE + 100), msg, sizeof(msg));
    assert_int_equal(boot_place(&ram, RAM_BASE + RAM_SIZE - 3, msg, sizeof(msg)), -ENOMEM);
    assert_int_equal(boot_place(&ram, RAM_BASE - 1, msg, sizeof(msg)), -ENOMEM);
    assert_int_equal(boot_place(&ram, UINT64_MAX - 2, msg, sizeof(msg)), -ENOMEM);
    assert_int_equal(boot_place(&ram, RAM_BASE + RAM_SIZE, msg, 0), 0);
}

/* ---- a real file ---- */

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);  /* installed by the project's dependency script */
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    uint8_t *buf = malloc((size_t)n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void test_opensbi_elf_loads_at_dram_base(void **state)
{
    size_t len;
    uint8_t *fw = read_file(OPENSBI_ELF, &len);
    struct boot_image bi;
    assert_false(boot_is_linux_image(fw, len));
    assert_int_equal(boot_load(&ram, fw, len, RAM_BASE, false, &bi), 0);
    assert_int_equal(bi.format, BOOT_ELF);
    assert_int_equal(bi.entry, 0x80000000ULL);
    assert_int_equal(bi.start, 0x80000000ULL);
    assert_true(bi.end > bi.start && bi.end <= RAM_BASE + RAM_SIZE);
    /* the first instructions are the file's, wherever its segment starts in the file */
    bool all_fill = true;
    for (int i = 0; i < 64; i++)
        all_fill = all_fill && at(RAM_BASE)[i] == FILL;
    assert_false(all_fill);
    bool found = false;
    for (size_t off = 0; off + 64 <= len && !found; off += 4)
        found = memcmp(fw + off, at(RAM_BASE), 64) == 0;
    assert_true(found);
    free(fw);
}

#define T(f) cmocka_unit_test_setup(f, fill_ram)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_image_goes_to_aligned_hint_plus_text_offset),
        T(test_image_size_zero_reserves_the_file_length),
        T(test_image_with_only_the_deprecated_magic_is_an_image),
        T(test_image_larger_than_ram_is_enomem),
        T(test_big_endian_image_is_rejected),
        T(test_short_buffer_is_not_an_image),
        T(test_elf_loads_segments_at_paddr_and_zeroes_bss),
        T(test_elf_virtual_entry_moves_to_its_physical_segment),
        T(test_elf_of_another_machine_or_class_is_enoexec),
        T(test_elf_segment_beyond_file_is_einval),
        T(test_elf_segment_beyond_ram_is_enomem),
        T(test_elf_overflowing_paddr_plus_memsz_is_rejected),
        T(test_elf_with_huge_phnum_is_einval),
        T(test_elf_without_loadable_segments_is_einval),
        T(test_every_truncation_of_an_elf_fails_cleanly),
        T(test_flat_binary_loads_at_hint_only_when_allowed),
        T(test_flat_binary_past_ram_or_empty_fails),
        T(test_place_checks_bounds),
        T(test_opensbi_elf_loads_at_dram_base),
    };
    return cmocka_run_group_tests(tests, setup_ram, teardown_ram);
}
