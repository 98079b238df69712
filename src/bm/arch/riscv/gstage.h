/* G-stage (guest physical to host physical) translation: Sv39x4 tables (priv spec, H extension),
 * one fixed set per VM. Only 2 MiB leaves: guest RAM slices are 2 MiB aligned. */
#ifndef CORRAL_BM_GSTAGE_H
#define CORRAL_BM_GSTAGE_H

#include <stdint.h>

#define GSTAGE_POOL 8
#define HGATP_SV39X4 (8UL << 60)   /* level-1 tables per VM: each maps 1 GiB of guest space */

struct gstage {
    uint64_t root[2048] __attribute__((aligned(16384)));   /* 16 KiB, 16 KiB aligned */
    uint64_t tables[GSTAGE_POOL][512] __attribute__((aligned(4096)));
    unsigned used;
    uint16_t vmid;
};

/* Empties the tables. */
void gstage_init(struct gstage *g, uint16_t vmid);
/* Maps guest [gpa, gpa+size) to host [hpa, ...) read/write/execute; all three 2 MiB aligned,
 * gpa + size within the 41-bit Sv39x4 space. 0, -EINVAL or -ENOMEM (pool exhausted). */
int gstage_map(struct gstage *g, uint64_t gpa, uint64_t hpa, uint64_t size);
/* The hgatp value selecting these tables (mode Sv39x4). */
uint64_t gstage_hgatp(const struct gstage *g);
/* Host physical address for gpa through the tables, or -1 if unmapped (tests, debugging). */
uint64_t gstage_lookup(const struct gstage *g, uint64_t gpa);
/* Whether hgatp accepts Sv39x4 on this hart (writes and reads hgatp back, leaves it 0);
 * in cpu.c, with the other CSR work. */
int gstage_supported(void);

#endif
