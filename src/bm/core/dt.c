/* The device tree reader: a token walk over the structure block. Every read goes through
 * word() or str_at(), which check bounds, and every walk is bounded by the block's size. */
#include <errno.h>
#include <string.h>

#include "core/dt.h"

#define FDT_MAGIC      0xd00dfeed
#define FDT_BEGIN_NODE 1
#define FDT_END_NODE   2
#define FDT_PROP       3
#define FDT_NOP        4
#define FDT_END        9

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint32_t dt_total_size(const void *blob)
{
    const uint8_t *p = blob;
    return be32(p) == FDT_MAGIC ? be32(p + 4) : 0;
}

int dt_open(struct dt *t, const void *blob, uint32_t max_size)
{
    const uint8_t *p = blob;
    if (max_size < 40 || be32(p) != FDT_MAGIC)
        return -EINVAL;
    uint32_t size = be32(p + 4);
    if (size < 40 || size > max_size || be32(p + 20) < 16 || be32(p + 24) > 17)
        return -EINVAL;
    *t = (struct dt){ p, size, be32(p + 8), be32(p + 36), be32(p + 12), be32(p + 32) };
    if (t->off_struct > size || t->size_struct > size - t->off_struct ||
        t->off_strings > size || t->size_strings > size - t->off_strings ||
        (t->off_struct & 3) || (t->size_struct & 3))
        return -EINVAL;
    return 0;
}

/* The 32-bit word at structure offset off, or -1 past the end. */
static int64_t word(const struct dt *t, int off)
{
    if (off < 0 || t->size_struct < 4 || (uint32_t)off > t->size_struct - 4)
        return -1;
    return be32(t->blob + t->off_struct + off);
}

/* A NUL-terminated string at structure offset off: its length, or -1. */
static int name_len(const struct dt *t, int off)
{
    if (off < 0 || (uint32_t)off >= t->size_struct)
        return -1;
    const char *s = (const char *)t->blob + t->off_struct + off;
    size_t n = strnlen(s, t->size_struct - off);
    return n == t->size_struct - (uint32_t)off ? -1 : (int)n;
}

static const char *string_at(const struct dt *t, uint32_t off)
{
    if (off >= t->size_strings)
        return NULL;
    const char *s = (const char *)t->blob + t->off_strings + off;
    return strnlen(s, t->size_strings - off) == t->size_strings - off ? NULL : s;
}

/* Offset of the first token after the BEGIN_NODE at node and its name; -1 if malformed. */
static int node_body(const struct dt *t, int node)
{
    if (word(t, node) != FDT_BEGIN_NODE)
        return -1;
    int n = name_len(t, node + 4);
    return n < 0 ? -1 : node + 4 + ((n + 4) & ~3);
}

/* Offset of the token after a PROP token at off; -1 if malformed. */
static int prop_end(const struct dt *t, int off)
{
    int64_t len = word(t, off + 4);
    if (len < 0 || word(t, off + 8) < 0 || len > (int64_t)t->size_struct)
        return -1;
    int64_t end = off + 12 + ((len + 3) & ~3);
    return end > (int64_t)t->size_struct ? -1 : (int)end;
}

/* Skips NOPs and properties from off: the offset of the next BEGIN_NODE, END_NODE or END. */
static int skip_props(const struct dt *t, int off)
{
    while (off >= 0) {
        int64_t tok = word(t, off);
        if (tok == FDT_NOP)
            off += 4;
        else if (tok == FDT_PROP)
            off = prop_end(t, off);
        else
            return tok < 0 ? -1 : off;
    }
    return -1;
}

/* Offset just past the END_NODE that closes node; -1 if malformed or too deep. */
static int node_end(const struct dt *t, int node)
{
    int depth = 0, off = node;
    while (off >= 0) {
        int64_t tok = word(t, off);
        if (tok == FDT_BEGIN_NODE) {
            if (++depth > DT_MAX_DEPTH)
                return -1;
            off = node_body(t, off);
        } else if (tok == FDT_END_NODE) {
            off += 4;
            if (--depth == 0)
                return off;
        } else if (tok == FDT_PROP || tok == FDT_NOP) {
            off = skip_props(t, off);
        } else {
            return -1;
        }
    }
    return -1;
}

int dt_root(const struct dt *t)
{
    int off = skip_props(t, 0);
    return word(t, off) == FDT_BEGIN_NODE ? off : -ENOENT;
}

int dt_first_child(const struct dt *t, int node)
{
    int off = skip_props(t, node_body(t, node));
    return word(t, off) == FDT_BEGIN_NODE ? off : -ENOENT;
}

int dt_next_sibling(const struct dt *t, int node)
{
    int off = skip_props(t, node_end(t, node));
    return word(t, off) == FDT_BEGIN_NODE ? off : -ENOENT;
}

const char *dt_name(const struct dt *t, int node)
{
    if (word(t, node) != FDT_BEGIN_NODE || name_len(t, node + 4) < 0)
        return NULL;
    return (const char *)t->blob + t->off_struct + node + 4;
}

/* have is the node's name; want (wlen bytes) matches it exactly, or up to have's '@' when
 * want has no unit address of its own. */
static bool name_matches(const char *have, const char *want, size_t wlen)
{
    if (strncmp(have, want, wlen) != 0)
        return false;
    if (have[wlen] == '\0')
        return true;
    for (size_t i = 0; i < wlen; i++)
        if (want[i] == '@')
            return false;
    return have[wlen] == '@';
}

static int child_n(const struct dt *t, int node, const char *name, size_t len)
{
    for (int c = dt_first_child(t, node); c >= 0; c = dt_next_sibling(t, c)) {
        const char *n = dt_name(t, c);
        if (n && name_matches(n, name, len))
            return c;
    }
    return -ENOENT;
}

int dt_child(const struct dt *t, int node, const char *name)
{
    return child_n(t, node, name, strlen(name));
}

int dt_path(const struct dt *t, const char *path)
{
    int node = dt_root(t);
    if (*path != '/')
        return -EINVAL;
    while (node >= 0 && *path) {
        while (*path == '/')
            path++;
        if (!*path)
            break;
        size_t len = 0;
        while (path[len] && path[len] != '/')
            len++;
        node = child_n(t, node, path, len);
        path += len;
    }
    return node;
}

const void *dt_prop(const struct dt *t, int node, const char *name, uint32_t *len)
{
    int off = node_body(t, node);
    while (off >= 0) {
        int64_t tok = word(t, off);
        if (tok == FDT_NOP) {
            off += 4;
            continue;
        }
        if (tok != FDT_PROP)
            return NULL;
        int next = prop_end(t, off);
        const char *pname = next < 0 ? NULL : string_at(t, (uint32_t)word(t, off + 8));
        if (pname && strcmp(pname, name) == 0) {
            if (len)
                *len = (uint32_t)word(t, off + 4);
            return t->blob + t->off_struct + off + 12;
        }
        off = next;
    }
    return NULL;
}

const char *dt_prop_str(const struct dt *t, int node, const char *name)
{
    uint32_t len;
    const char *s = dt_prop(t, node, name, &len);
    if (!s || len == 0 || s[len - 1] != '\0')
        return NULL;
    return s;
}

int dt_prop_u64(const struct dt *t, int node, const char *name, uint64_t *v)
{
    uint32_t len;
    const uint8_t *p = dt_prop(t, node, name, &len);
    if (!p)
        return -ENOENT;
    if (len == 4)
        *v = be32(p);
    else if (len == 8)
        *v = (uint64_t)be32(p) << 32 | be32(p + 4);
    else
        return -EINVAL;
    return 0;
}

bool dt_compatible(const struct dt *t, int node, const char *compat)
{
    uint32_t len;
    const char *s = dt_prop(t, node, "compatible", &len);
    if (!s)
        return false;
    /* a list of NUL-terminated strings, walked within len */
    for (uint32_t i = 0; i < len;) {
        size_t n = strnlen(s + i, len - i);
        if (n < len - i && strcmp(s + i, compat) == 0)
            return true;
        i += (uint32_t)n + 1;
    }
    return false;
}

static uint64_t cells(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = v << 32 | be32(p + 4 * i);
    return v;
}

int dt_reg(const struct dt *t, int node, unsigned ac, unsigned sc, unsigned idx,
           uint64_t *addr, uint64_t *size)
{
    uint32_t len;
    const uint8_t *p = dt_prop(t, node, "reg", &len);
    if (!p)
        return -ENOENT;
    if (ac < 1 || ac > 2 || sc > 2)
        return -EINVAL;
    uint32_t entry = 4 * (ac + sc);
    if (idx >= len / entry)
        return -ENOENT;
    p += idx * entry;
    *addr = cells(p, ac);
    *size = cells(p + 4 * ac, sc);
    return 0;
}

void dt_cells(const struct dt *t, int node, unsigned *ac, unsigned *sc)
{
    uint64_t v;
    *ac = dt_prop_u64(t, node, "#address-cells", &v) == 0 && v <= 4 ? (unsigned)v : 2;
    *sc = dt_prop_u64(t, node, "#size-cells", &v) == 0 && v <= 4 ? (unsigned)v : 1;
}
