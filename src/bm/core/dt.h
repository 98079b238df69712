/* A small flattened device tree reader (devicetree spec v0.4, chapter 5) for a freestanding
 * image: read-only, no allocation, every offset and length checked against the blob, so a
 * malformed tree gives errors, never a read outside it. Nodes are offsets into the
 * structure block; negative values are errors or "none". */
#ifndef CORRAL_BM_DT_H
#define CORRAL_BM_DT_H

#include <stdbool.h>
#include <stdint.h>

struct dt {
    const uint8_t *blob;
    uint32_t size;
    uint32_t off_struct, size_struct;
    uint32_t off_strings, size_strings;
};

#define DT_MAX_DEPTH 16

/* Checks the header (magic, version, block bounds); 0 or -EINVAL. */
int dt_open(struct dt *t, const void *blob, uint32_t max_size);
/* The total size the header claims; 0 if blob has no FDT magic. */
uint32_t dt_total_size(const void *blob);
int dt_root(const struct dt *t);
int dt_first_child(const struct dt *t, int node);
int dt_next_sibling(const struct dt *t, int node);
/* The node's name ("cpu@0"; "" for the root), or NULL if malformed. */
const char *dt_name(const struct dt *t, int node);
/* A child by name: exact, or up to its '@' when name has none. */
int dt_child(const struct dt *t, int node, const char *name);
/* A node by absolute path ("/cpus", "/soc/plic@c000000"). */
int dt_path(const struct dt *t, const char *path);
const void *dt_prop(const struct dt *t, int node, const char *name, uint32_t *len);
/* A string property, checked to be NUL-terminated within its length. */
const char *dt_prop_str(const struct dt *t, int node, const char *name);
/* A property of one or two cells (big-endian) as a number; 0 or -ENOENT/-EINVAL. */
int dt_prop_u64(const struct dt *t, int node, const char *name, uint64_t *v);
bool dt_compatible(const struct dt *t, int node, const char *compat);
/* Entry idx of a node's reg with the parent's #address-cells and #size-cells (ac, sc). */
int dt_reg(const struct dt *t, int node, unsigned ac, unsigned sc, unsigned idx,
           uint64_t *addr, uint64_t *size);
/* #address-cells / #size-cells of node (defaults 2 and 1, devicetree spec 2.3.5). */
void dt_cells(const struct dt *t, int node, unsigned *ac, unsigned *sc);

#endif
