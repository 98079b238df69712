/* Unit tests for the terminal output filter (backend/term_filter.c): what a shell and Linux
 * print passes unchanged; what makes the terminal write the clipboard, change its title or
 * answer with strings is dropped whole, also when split across writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "backend/term_filter.h"

static struct term_filter tf;
static uint8_t out[1 << 16];

/* Filters S in one piece (or CHUNK-byte pieces) and returns the output as a string. */
static const char *run_chunked(const char *s, size_t chunk)
{
    static char got[sizeof(out)];
    size_t len = strlen(s), n = 0;
    for (size_t i = 0; i < len; i += chunk) {
        size_t k = len - i < chunk ? len - i : chunk;
        n += term_filter_run(&tf, (const uint8_t *)s + i, k, out + n);
    }
    memcpy(got, out, n);
    got[n] = '\0';
    return got;
}

static const char *run(const char *s) { return run_chunked(s, strlen(s) ? strlen(s) : 1); }

static int setup(void **state)
{
    (void)state;
    term_filter_init(&tf);
    return 0;
}

static void test_text_and_line_controls_pass(void **state)
{
    (void)state;
    const char *s = "login: root\r\n\ta\bb\x07 caf\xc3\xa9 \xe2\x94\x80 \xf0\x9f\x90\xa7\r\n";
    assert_string_equal(run(s), s);
    assert_int_equal(tf.dropped, 0);
}

static void test_shell_and_console_sequences_pass(void **state)
{
    (void)state;
    static const char *const keep[] = {
        "\x1b[0m", "\x1b[1;31;42m", "\x1b[38;5;208m", "\x1b[38;2;1;2;3m", "\x1b[H", "\x1b[2J",
        "\x1b[K", "\x1b[1K", "\x1b[10;20H", "\x1b[3A", "\x1b[4C", "\x1b[6n", "\x1b[5n",
        "\x1b[?25l", "\x1b[?25h", "\x1b[?1049h", "\x1b[?2004h", "\x1b[1;24r", "\x1b[3P",
        "\x1b[2@", "\x1b[c", "\x1b[>c", "\x1b[2 q", "\x1b[!p", "\x1b" "7", "\x1b" "8",
        "\x1b" "M", "\x1b(B", "\x1b(0", "\x1b" "c", "\x1b" "Z", "\x1b" "=", "\x1b" ">",
    };
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
        assert_string_equal(run(keep[i]), keep[i]);
    assert_int_equal(tf.dropped, 0);
}

static void test_osc_is_dropped(void **state)
{
    (void)state;
    /* OSC 52 (clipboard), titles 0/1/2, ended by BEL or by ST */
    assert_string_equal(run("a\x1b]52;c;cm0gLXJmIH4K\x07" "b"), "ab");
    assert_string_equal(run("a\x1b]0;evil title\x1b\\b"), "ab");
    assert_string_equal(run("a\x1b]2;t\x07\x1b]1;i\x07" "b"), "ab");
    assert_int_equal(tf.dropped, 4);
}

static void test_dcs_apc_pm_sos_are_dropped(void **state)
{
    (void)state;
    assert_string_equal(run("a\x1bP$qm\x1b\\b"), "ab");       /* DECRQSS */
    /* tmux passthrough: the OSC inside is a string of its own, dropped too */
    assert_string_equal(run("a\x1bPtmux;\x1b\x1b]52;;x\x07\x1b\\b"), "a\x1b\\b");
    assert_string_equal(run("a\x1b_apc\x1b\\b\x1b^pm\x1b\\c\x1bXsos\x1b\\d"), "abcd");
}

static void test_reports_that_answer_strings_are_dropped(void **state)
{
    (void)state;
    assert_string_equal(run("a\x1b[21tb"), "ab");   /* title report */
    assert_string_equal(run("a\x1b[20tb"), "ab");   /* icon label report */
    assert_string_equal(run("a\x1b[8;1;1tb"), "ab");
    assert_string_equal(run("a\x1b[5ib"), "ab");    /* media copy */
    assert_string_equal(run("a\x1b[?2026$pb"), "ab"); /* DECRQM */
    assert_string_equal(run("a\x1b[2hb"), "ab");    /* keyboard lock */
    assert_string_equal(run("a\x05" "b\x0e" "c\x0f"), "abc"); /* ENQ answerback, SO, SI */
}

static void test_c1_controls_are_dropped(void **state)
{
    (void)state;
    assert_string_equal(run("a\xc2\x9d" "0;t\x07" "b"), "a0;t\x07" "b"); /* UTF-8 OSC */
    assert_string_equal(run("a\x9b" "21t"), "a21t");                   /* 8-bit CSI */
    assert_string_equal(run("\xc2\xa0\xc3\x9b"), "\xc2\xa0\xc3\x9b");   /* not controls */
}

static void test_sequences_split_across_writes(void **state)
{
    (void)state;
    const char *s = "x\x1b[1;32mgreen\x1b[0m\x1b]52;c;AAAA\x1b\\y\x1b]0;t\x07z\xc3\xa9\x1b[21t!";
    const char *want = "x\x1b[1;32mgreen\x1b[0my" "z\xc3\xa9!";
    for (size_t chunk = 1; chunk < 8; chunk++) {
        term_filter_init(&tf);
        assert_string_equal(run_chunked(s, chunk), want);
    }
}

static void test_overlong_sequences_are_dropped_whole(void **state)
{
    (void)state;
    char s[400];
    strcpy(s, "a\x1b[");
    for (int i = 0; i < 100; i++)
        strcat(s, "1;");
    strcat(s, "mb");
    assert_string_equal(run(s), "ab");
    /* an OSC that never ends is given up: the terminal never saw it begin */
    static char big[TERM_FILTER_MAX_STRING + 64];
    memset(big, 'q', sizeof(big) - 1);
    memcpy(big, "\x1b]0;", 4);
    big[sizeof(big) - 1] = '\0';
    size_t n = strlen(run(big));
    assert_true(n > 0 && n < 64);
}

static void test_output_fits_the_documented_room(void **state)
{
    (void)state;
    uint8_t in[TERM_FILTER_MAX_SEQ];
    memcpy(in, "\x1b[", 2);
    memset(in + 2, '1', sizeof(in) - 2);
    assert_int_equal(term_filter_run(&tf, in, 2 + 60, out), 0);  /* held */
    assert_int_equal(term_filter_run(&tf, (const uint8_t *)"m", 1, out), 63);
}

#define T(f) cmocka_unit_test_setup(f, setup)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_text_and_line_controls_pass),
        T(test_shell_and_console_sequences_pass),
        T(test_osc_is_dropped),
        T(test_dcs_apc_pm_sos_are_dropped),
        T(test_reports_that_answer_strings_are_dropped),
        T(test_c1_controls_are_dropped),
        T(test_sequences_split_across_writes),
        T(test_overlong_sequences_are_dropped_whole),
        T(test_output_fits_the_documented_room),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
