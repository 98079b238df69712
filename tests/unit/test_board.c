/* Unit tests of the virt board's checks on its configuration (no guest runs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "corral/guest_mem.h"
#include "machine/board.h"

static struct board *create_with(uint64_t ram_size, bool small_pages, int *r)
{
    struct board_config cfg = { .ram_size = ram_size, .num_harts = 1,
                                .ram_small_pages = small_pages };
    struct board *b = NULL;
    char err[128];
    *r = board_create(&b, &cfg, err, sizeof(err));
    return b;
}

static struct board *create(uint64_t ram_size, int *r) { return create_with(ram_size, false, r); }

static size_t resident_pages(uint8_t *p, size_t len)
{
    unsigned char vec[1024];
    assert_true(len / 4096 <= sizeof(vec));
    assert_int_equal(mincore(p, len, vec), 0);
    size_t n = 0;
    for (size_t i = 0; i < len / 4096; i++)
        n += vec[i] & 1;
    return n;
}

/* Small pages: every resident page of zeros goes, every page with a byte of data stays with
 * its data, and pages never touched count for nothing. */
static void test_zero_pages_go_back_data_stays(void **state)
{
    (void)state;
    int r;
    struct board *b = create_with(4u << 20, true, &r);
    assert_non_null(b);
    uint8_t *ram = board_ram(b)->host;
    for (unsigned i = 0; i < 64; i++)
        memset(ram + i * 4096, 0, 4096); /* touched, still zero */
    ram[3 * 4096 + 4095] = 0x5a;          /* the last byte of page 3 */
    ram[40 * 4096] = 1;                   /* the first byte of page 40 */
    ram[(1u << 20) + 7] = 9;              /* a lone page elsewhere */
    assert_int_equal(resident_pages(ram, 4u << 20), 65);
    assert_int_equal(board_drop_zero_pages(b), 62 * 4096);
    assert_int_equal(resident_pages(ram, 4u << 20), 3);
    assert_int_equal(ram[3 * 4096 + 4095], 0x5a);
    assert_int_equal(ram[40 * 4096], 1);
    assert_int_equal(ram[(1u << 20) + 7], 9);
    assert_int_equal(board_drop_zero_pages(b), 0); /* nothing more to give */
    assert_int_equal(ram[5 * 4096], 0);
    board_destroy(b);
}

/* Huge pages: a 2 MiB stretch goes only when it is zero throughout. */
static void test_zero_stretches_go_back_whole(void **state)
{
    (void)state;
    int r;
    struct board *b = create_with(4u << 20, false, &r);
    assert_non_null(b);
    uint8_t *ram = board_ram(b)->host;
    memset(ram, 0, 4u << 20);
    ram[(2u << 20) + 12345] = 7; /* the second stretch has data */
    uint64_t got = board_drop_zero_pages(b);
    assert_true(got > 0 && got <= (2u << 20));
    assert_int_equal(resident_pages(ram, 2u << 20), 0);
    assert_int_equal(ram[(2u << 20) + 12345], 7);
    board_destroy(b);
}

#define KPAGES 64

/* Pages of [p, p+len) in this process's page tables (mincore would count a file's pages
 * that are only in the page cache). */
static size_t mapped_pages(uint8_t *p, size_t len)
{
    FILE *f = fopen("/proc/self/pagemap", "rb");
    assert_non_null(f);
    size_t n = 0;
    for (size_t i = 0; i < len / 4096; i++) {
        uint64_t e = 0;
        assert_int_equal(fseek(f, (long)(((uintptr_t)p / 4096 + i) * 8), SEEK_SET), 0);
        assert_int_equal(fread(&e, 8, 1, f), 1);
        n += (size_t)(e >> 63);
    }
    fclose(f);
    return n;
}

static int map_file(void *ctx, uint8_t *dst, size_t len)
{
    int fd = *(int *)ctx;
    return mmap(dst, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0) == dst ? 0 : -1;
}

/* The kernel's file mapping: pages the guest only read leave the process (and read the
 * same after), a page it wrote keeps its bytes, and a page reported free reads as the
 * file's bytes again. */
static void test_clean_kernel_pages_go_back(void **state)
{
    (void)state;
    static uint8_t image[KPAGES * 4096];
    for (unsigned i = 0; i < KPAGES; i++)
        memset(image + i * 4096, (int)(i + 1), 4096);
    char path[] = "/tmp/corral-test-kernel-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, image, sizeof(image)), (ssize_t)sizeof(image));
    struct board_config cfg = { .ram_size = 8u << 20, .num_harts = 1, .ram_small_pages = true,
                                .kernel = image, .kernel_len = sizeof(image),
                                .map_kernel = map_file, .map_ctx = &fd };
    struct board *b = NULL;
    char err[128];
    assert_int_equal(board_create(&b, &cfg, err, sizeof(err)), 0);
    assert_int_equal(board_load(b, err, sizeof(err)), 0);
    struct guest_mem *ram = board_ram(b);
    uint8_t *k = NULL;
    for (uint64_t off = 0; off + sizeof(image) <= ram->size && !k; off += 4096) {
        if (!memcmp(ram->host + off, image, sizeof(image)))
            k = ram->host + off;
    }
    assert_non_null(k);
    unsigned sum = 0;
    for (unsigned i = 0; i < KPAGES; i++)
        sum += k[i * 4096 + 17]; /* read every page: all resident */
    assert_int_equal(sum, KPAGES * (KPAGES + 1) / 2);
    k[5 * 4096 + 9] = 0xaa; /* the guest writes page 5: a private copy */
    assert_int_equal(mapped_pages(k, sizeof(image)), KPAGES);
    assert_true(board_drop_zero_pages(b) >= (KPAGES - 1) * 4096);
    assert_int_equal(mapped_pages(k, sizeof(image)), 1);
    assert_int_equal(k[5 * 4096 + 9], 0xaa);
    assert_int_equal(k[5 * 4096 + 10], 6);
    for (unsigned i = 0; i < KPAGES; i++)
        assert_int_equal(k[i * 4096 + 4095], i + 1);
    board_discard_ram(b, ram->base + (uint64_t)(k - ram->host) + 5 * 4096, 4096);
    assert_int_equal(k[5 * 4096 + 9], 6);
    board_destroy(b);
    close(fd);
}

/* The harts map RAM a 4 KiB page at a time, reading up to the end of a page: RAM that ends
 * inside a page is refused. */
static void test_ram_must_be_whole_pages(void **state)
{
    (void)state;
    int r;
    assert_null(create(1024 * 1024 + 2048, &r));
    assert_int_equal(r, -EINVAL);
    assert_null(create(0, &r));
    assert_int_equal(r, -EINVAL);
    struct board *b = create(1024 * 1024, &r);
    assert_int_equal(r, 0);
    assert_non_null(b);
    board_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ram_must_be_whole_pages),
        cmocka_unit_test(test_zero_pages_go_back_data_stays),
        cmocka_unit_test(test_zero_stretches_go_back_whole),
        cmocka_unit_test(test_clean_kernel_pages_go_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
