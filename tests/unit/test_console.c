/* Unit tests for the terminal side of `corral run` and `corral console` (hosted/console.c):
 * guest output is filtered unless raw, and a terminal that stops reading has output dropped
 * after a short wait, never spun on. Over pipes standing for the terminal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "hosted/console.h"

static int term_r = -1, term_w = -1, in_r = -1, in_w = -1;
static struct console *con;

static int setup(void **state)
{
    (void)state;
    int t[2], i[2];
    if (pipe(t) || pipe(i))
        return -1;
    term_r = t[0];
    term_w = t[1];
    in_r = i[0];
    in_w = i[1];
    fcntl(term_w, F_SETFL, O_NONBLOCK);
    con = console_open(in_r, term_w);
    return con ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    console_close(con);
    close(term_r);
    close(term_w);
    close(in_r);
    close(in_w);
    return 0;
}

static size_t drain(char *buf, size_t n)
{
    fcntl(term_r, F_SETFL, O_NONBLOCK);
    ssize_t got = read(term_r, buf, n - 1);
    buf[got > 0 ? got : 0] = '\0';
    return got > 0 ? (size_t)got : 0;
}

static void test_output_is_filtered_by_default(void **state)
{
    (void)state;
    const char *s = "a\x1b]52;c;cm0gLXJmIH4K\x07\x1b[1mb\x1b[21t";
    console_write(con, (const uint8_t *)s, strlen(s));
    char buf[256];
    drain(buf, sizeof(buf));
    assert_string_equal(buf, "a\x1b[1mb");
}

static void test_raw_passes_everything(void **state)
{
    (void)state;
    console_set_raw(con, true);
    const char *s = "a\x1b]0;title\x07" "b";
    console_write(con, (const uint8_t *)s, strlen(s));
    char buf[256];
    drain(buf, sizeof(buf));
    assert_string_equal(buf, s);
}

static long ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000L + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void test_full_terminal_drops_instead_of_spinning(void **state)
{
    (void)state;
    static uint8_t chunk[4096];
    memset(chunk, 'x', sizeof(chunk));
    alarm(10); /* a spin would never come back: die rather than hang the suite */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 64; i++) /* 256 KiB into a 64 KiB pipe nobody reads */
        console_write(con, chunk, sizeof(chunk));
    long ms = ms_since(&t0);
    alarm(0);
    assert_true(ms < 2000); /* one short wait, then drops without waiting */
    assert_true(console_dropped(con) >= 128 * 1024);
    /* once the terminal reads again, output flows again */
    char buf[4096];
    while (drain(buf, sizeof(buf)))
        ;
    console_write(con, (const uint8_t *)"ok", 2);
    drain(buf, sizeof(buf));
    assert_string_equal(buf, "ok");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_output_is_filtered_by_default),
        T(test_raw_passes_everything),
        T(test_full_terminal_drops_instead_of_spinning),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
