/* The terminal output filter (term_filter.h): a byte-at-a-time state machine after ECMA-48's
 * shape (ESC, CSI, control strings). A sequence is held until its final byte says whether it
 * may pass; nothing is passed half. */
#include <stdbool.h>
#include <string.h>

#include "backend/term_filter.h"

enum { GROUND, C2, ESC, CSI, CSI_DROP, STRING, STRING_ESC };

#define BEL 0x07
#define CAN 0x18
#define SUB 0x1a
#define ESC_ 0x1b

void term_filter_init(struct term_filter *f)
{
    memset(f, 0, sizeof(*f));
}

/* C0 controls a terminal only moves the cursor for (or beeps): no answer, no mode. */
static bool c0_ok(uint8_t c)
{
    return c == '\t' || c == '\n' || c == '\r' || c == '\b' || c == BEL || c == 0x0b || c == 0x0c;
}

static bool body_is(const struct term_filter *f, const char *want)
{
    size_t n = strlen(want);
    return f->len == n + 3 && !memcmp(f->seq + 2, want, n);
}

/* A complete CSI sequence, ESC [ params intermediates final: whether the terminal only draws,
 * moves or sets a mode for it. Reports are let through only where the answer is fixed. */
static bool csi_ok(const struct term_filter *f)
{
    uint8_t fin = f->seq[f->len - 1];
    bool inter = false, priv = f->len > 3 && f->seq[2] >= 0x3c && f->seq[2] <= 0x3f;
    for (unsigned i = 2; i + 1 < f->len; i++)
        inter |= f->seq[i] < 0x30;
    if (inter) /* DECSCUSR (cursor style) and DECSTR (soft reset); not DECRQM ($p) and kin */
        return (fin == 'q' && f->seq[f->len - 2] == ' ') || (fin == 'p' && body_is(f, "!"));
    switch (fin) {
    case 'm':                                   /* SGR: colours, bold, ... */
    case 'A': case 'B': case 'C': case 'D': case 'E': case 'F': case 'G': case 'H': case 'f':
    case 'd': case 'e': case 'a': case '`':     /* cursor movement */
    case 'J': case 'K': case 'X': case 'P': case '@': case 'L': case 'M': /* erase, edit */
    case 'S': case 'T': case 'r': case 's': case 'u': case 'g':
    case 'c':                                   /* device attributes: a fixed answer */
        return true;
    case 'h': case 'l':                         /* DEC private modes; ANSI insert, newline */
        return priv || body_is(f, "4") || body_is(f, "20");
    case 'n':                                   /* status and cursor position: numbers only */
        return body_is(f, "5") || body_is(f, "6") || body_is(f, "?6");
    default:                                    /* window ops and reports (t), printing (i), ... */
        return false;
    }
}

static size_t emit_seq(struct term_filter *f, uint8_t *out)
{
    memcpy(out, f->seq, f->len);
    size_t n = f->len;
    f->len = 0;
    f->state = GROUND;
    return n;
}

static void drop_seq(struct term_filter *f, uint8_t state)
{
    f->len = 0;
    f->state = state;
    f->dropped++;
}

static void start_esc(struct term_filter *f)
{
    f->seq[0] = ESC_;
    f->len = 1;
    f->state = ESC;
}

static void hold(struct term_filter *f, uint8_t c, uint8_t state)
{
    if (f->len == TERM_FILTER_MAX_SEQ) {
        drop_seq(f, state == CSI ? CSI_DROP : GROUND); /* too long: dropped whole */
        return;
    }
    f->seq[f->len++] = c;
    f->state = state;
}

/* Text and controls outside any sequence. */
static size_t ground(struct term_filter *f, uint8_t c, uint8_t *out)
{
    if (c == ESC_) {
        f->utf8_need = 0;
        start_esc(f);
        return 0;
    }
    if (c < 0x20) {
        f->utf8_need = 0;
        if (c0_ok(c)) {
            out[0] = c;
            return 1;
        }
        f->dropped++; /* ENQ (answerback), SO/SI (charsets), NUL, ... */
        return 0;
    }
    if (c >= 0x80 && c < 0xc0) {
        if (f->utf8_need) {
            f->utf8_need--;
        } else if (c < 0xa0) {
            f->dropped++; /* a lone 0x80-0x9f is a C1 control to an 8-bit terminal */
            return 0;
        }
    } else if (c == 0xc2) {
        f->state = C2; /* U+0080-U+009F are C1 controls to some UTF-8 terminals */
        return 0;
    } else {
        f->utf8_need = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
    }
    out[0] = c;
    return 1;
}

/* A byte that cannot continue the sequence being held: the sequence is dropped, and the
 * byte starts another (ESC), cancels (CAN, SUB) or is taken as it would be on its own. */
static size_t abandon(struct term_filter *f, uint8_t c, uint8_t *out)
{
    drop_seq(f, GROUND);
    if (c == ESC_) {
        start_esc(f);
        return 0;
    }
    return c == CAN || c == SUB ? 0 : ground(f, c, out);
}

static size_t step(struct term_filter *f, uint8_t c, uint8_t *out)
{
    switch (f->state) {
    case C2:
        f->state = GROUND;
        if (c >= 0x80 && c < 0xa0) {
            f->dropped++;
            return 0;
        }
        out[0] = 0xc2;
        if (c >= 0xa0 && c < 0xc0) {
            out[1] = c;
            return 2;
        }
        return 1 + ground(f, c, out + 1);
    case ESC:
        if (f->len == 1 && c == '[') {
            hold(f, c, CSI);
        } else if (f->len == 1 && (c == ']' || c == 'P' || c == '_' || c == '^' || c == 'X')) {
            drop_seq(f, STRING); /* OSC, DCS, APC, PM, SOS */
            f->string_len = 0;
        } else if (c >= 0x20 && c < 0x30) {
            hold(f, c, ESC);
        } else if (c >= 0x30 && c < 0x7f) {
            hold(f, c, ESC);
            return f->state == ESC ? emit_seq(f, out) : 0;
        } else {
            return abandon(f, c, out);
        }
        return 0;
    case CSI:
        if (c >= 0x20 && c < 0x40) {
            hold(f, c, CSI);
        } else if (c >= 0x40 && c < 0x7f) {
            hold(f, c, CSI);
            if (f->state == CSI && csi_ok(f))
                return emit_seq(f, out);
            drop_seq(f, GROUND);
        } else {
            return abandon(f, c, out);
        }
        return 0;
    case CSI_DROP:
        if (c >= 0x20 && c < 0x40)
            return 0;
        f->state = GROUND;
        if (c >= 0x40 && c < 0x7f)
            return 0;
        return ground(f, c, out);
    case STRING:
        if (c == BEL || c == CAN || c == SUB)
            f->state = GROUND;
        else if (c == ESC_)
            f->state = STRING_ESC;
        else if (++f->string_len > TERM_FILTER_MAX_STRING)
            f->state = GROUND; /* never ended: what follows is text to the terminal */
        return 0;
    case STRING_ESC:
        if (c == '\\') { /* ST */
            f->state = GROUND;
            return 0;
        }
        start_esc(f); /* ESC ends the string and begins a sequence */
        return step(f, c, out);
    default:
        return ground(f, c, out);
    }
}

size_t term_filter_run(struct term_filter *f, const uint8_t *in, size_t len, uint8_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += step(f, in[i], out + n);
    return n;
}
