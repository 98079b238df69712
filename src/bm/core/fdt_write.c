/* The writer: structure and strings are gathered in the struct, then laid out behind the
 * header and an empty memory reservation map. Big-endian throughout (spec 5.2). */
#include <errno.h>
#include <string.h>

#include "core/fdt_write.h"

#define FDT_MAGIC 0xd00dfeed
#define TOK_BEGIN 1
#define TOK_END   2
#define TOK_PROP  3
#define TOK_DONE  9
#define HDR_SIZE  40
#define RSV_SIZE  16   /* one empty entry ends the map */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void emit(struct fdtw *w, const void *data, uint32_t len)
{
    uint32_t padded = (len + 3) & ~3u;
    if (w->error || padded < len || padded > sizeof(w->structs) - w->slen) {
        w->error = -ENOSPC;
        return;
    }
    memcpy(w->structs + w->slen, data, len);
    memset(w->structs + w->slen + len, 0, padded - len);
    w->slen += padded;
}

static void emit32(struct fdtw *w, uint32_t v)
{
    uint8_t b[4];
    put32(b, v);
    emit(w, b, 4);
}

void fdtw_begin(struct fdtw *w, void *buf, uint32_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->slen = w->strings_len = 0;
    w->depth = 0;
    w->error = 0;
}

void fdtw_node(struct fdtw *w, const char *name)
{
    emit32(w, TOK_BEGIN);
    emit(w, name, (uint32_t)strlen(name) + 1);
    w->depth++;
}

void fdtw_end_node(struct fdtw *w)
{
    emit32(w, TOK_END);
    if (--w->depth < 0)
        w->error = -EINVAL;
}

/* Offset of name in the strings block, adding it if new. */
static uint32_t string_off(struct fdtw *w, const char *name)
{
    uint32_t len = (uint32_t)strlen(name) + 1;
    for (uint32_t off = 0; off < w->strings_len; off += (uint32_t)strlen(w->strings + off) + 1)
        if (strcmp(w->strings + off, name) == 0)
            return off;
    if (len > sizeof(w->strings) - w->strings_len) {
        w->error = -ENOSPC;
        return 0;
    }
    memcpy(w->strings + w->strings_len, name, len);
    w->strings_len += len;
    return w->strings_len - len;
}

void fdtw_prop(struct fdtw *w, const char *name, const void *val, uint32_t len)
{
    emit32(w, TOK_PROP);
    emit32(w, len);
    emit32(w, string_off(w, name));
    emit(w, val, len);
}

void fdtw_prop_u32(struct fdtw *w, const char *name, uint32_t v)
{
    uint8_t b[4];
    put32(b, v);
    fdtw_prop(w, name, b, 4);
}

void fdtw_prop_u64(struct fdtw *w, const char *name, uint64_t v)
{
    uint8_t b[8];
    put32(b, (uint32_t)(v >> 32));
    put32(b + 4, (uint32_t)v);
    fdtw_prop(w, name, b, 8);
}

void fdtw_prop_str(struct fdtw *w, const char *name, const char *s)
{
    fdtw_prop(w, name, s, (uint32_t)strlen(s) + 1);
}

int fdtw_finish(struct fdtw *w)
{
    emit32(w, TOK_DONE);
    if (w->error || w->depth != 0)
        return w->error ? w->error : -EINVAL;
    uint32_t off_struct = HDR_SIZE + RSV_SIZE, off_strings = off_struct + w->slen;
    uint32_t total = off_strings + w->strings_len;
    if (total > w->cap)
        return -ENOSPC;
    uint8_t *h = w->buf;
    memset(h, 0, HDR_SIZE + RSV_SIZE);
    put32(h, FDT_MAGIC);
    put32(h + 4, total);
    put32(h + 8, off_struct);
    put32(h + 12, off_strings);
    put32(h + 16, HDR_SIZE);        /* memory reservation map */
    put32(h + 20, 17);              /* version */
    put32(h + 24, 16);              /* last compatible version */
    put32(h + 28, 0);               /* boot cpu */
    put32(h + 32, w->strings_len);
    put32(h + 36, w->slen);
    memcpy(h + off_struct, w->structs, w->slen);
    memcpy(h + off_strings, w->strings, w->strings_len);
    return (int)total;
}
