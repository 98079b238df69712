/* A filter for guest output bound for the user's terminal: passes text and the control and
 * CSI sequences a shell and Linux's console use (colours, cursor movement, erase, modes, the
 * cursor-position query), and drops what can reach past the terminal: OSC (clipboard writes,
 * titles), DCS (DECRQSS), APC, PM, SOS, ENQ (answerback), C1 controls, and CSI sequences that
 * make the terminal report strings (window ops, printing). Streams across writes with
 * bounded state; not a terminal emulator, and it knows nothing of fds. */
#ifndef CORRAL_BACKEND_TERM_FILTER_H
#define CORRAL_BACKEND_TERM_FILTER_H

#include <stddef.h>
#include <stdint.h>

#define TERM_FILTER_MAX_SEQ 64      /* longest CSI or ESC sequence passed; longer: dropped */
#define TERM_FILTER_MAX_STRING 4096 /* an unterminated OSC/DCS/... is given up after this */

struct term_filter {
    uint8_t state;
    uint8_t utf8_need;              /* continuation bytes a UTF-8 lead byte still wants */
    uint8_t len;                    /* bytes held in seq */
    uint8_t seq[TERM_FILTER_MAX_SEQ];
    uint32_t string_len;            /* bytes dropped inside a string so far */
    uint64_t dropped;               /* sequences and controls dropped */
};

void term_filter_init(struct term_filter *f);
/* Filters LEN bytes of IN into OUT, which has room for LEN + TERM_FILTER_MAX_SEQ bytes (a
 * held sequence may complete now): the number of bytes to write. */
size_t term_filter_run(struct term_filter *f, const uint8_t *in, size_t len, uint8_t *out);

#endif
