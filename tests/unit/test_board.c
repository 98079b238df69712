/* Unit tests of the virt board's checks on its configuration (no guest runs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "machine/board.h"

static struct board *create(uint64_t ram_size, int *r)
{
    struct board_config cfg = { .ram_size = ram_size, .num_harts = 1 };
    struct board *b = NULL;
    char err[128];
    *r = board_create(&b, &cfg, err, sizeof(err));
    return b;
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
