/* A flattened device tree writer (devicetree spec v0.4, chapter 5) into a caller's buffer:
 * sequential nodes and properties, no allocation. Any overflow makes fdtw_finish() fail, so
 * callers write the whole tree and check once. */
#ifndef CORRAL_BM_FDT_WRITE_H
#define CORRAL_BM_FDT_WRITE_H

#include <stddef.h>
#include <stdint.h>

struct fdtw {
    uint8_t *buf;
    uint32_t cap;
    uint8_t structs[8192];     /* the structure block, built here, copied at the end */
    uint32_t slen;
    char strings[1024];
    uint32_t strings_len;
    int depth;
    int error;                 /* -ENOSPC once anything did not fit */
};

void fdtw_begin(struct fdtw *w, void *buf, uint32_t cap);
void fdtw_node(struct fdtw *w, const char *name);
void fdtw_end_node(struct fdtw *w);
void fdtw_prop(struct fdtw *w, const char *name, const void *val, uint32_t len);
void fdtw_prop_u32(struct fdtw *w, const char *name, uint32_t v);
/* Two cells: v's high and low halves. */
void fdtw_prop_u64(struct fdtw *w, const char *name, uint64_t v);
void fdtw_prop_str(struct fdtw *w, const char *name, const char *s);
/* Lays the blob out in buf; its size, or a negative error. */
int fdtw_finish(struct fdtw *w);

#endif
