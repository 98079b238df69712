/* The decoder: instruction fields, the compressed-form table, and the decoded-entry format
 * that the interpreter runs from and the translator reads (struct dentry, enum fast_op). */
#ifndef CORRAL_CPU_DECODE_H
#define CORRAL_CPU_DECODE_H

#include <stdbool.h>
#include <stdint.h>

#include "corral/common.h"

#define RD    ((insn >> 7) & 31)
#define RS1   ((insn >> 15) & 31)
#define RS2   ((insn >> 20) & 31)
#define F3    ((insn >> 12) & 7)
#define F7    (insn >> 25)
#define IMM_I ((int64_t)(int32_t)insn >> 20)
#define IMM_S ((int64_t)((uint64_t)((int64_t)(int32_t)insn >> 25) << 5) | ((insn >> 7) & 31))
#define IMM_U ((int64_t)(int32_t)(insn & 0xfffff000))

static inline int64_t imm_b(uint32_t insn)
{
    return (int64_t)((uint64_t)((int64_t)(int32_t)insn >> 31) << 12) | ((insn >> 7 & 1) << 11) |
           ((insn >> 25 & 0x3f) << 5) | ((insn >> 8 & 0xf) << 1);
}

static inline int64_t imm_j(uint32_t insn)
{
    return (int64_t)((uint64_t)((int64_t)(int32_t)insn >> 31) << 20) | (insn & 0xff000) | ((insn >> 20 & 1) << 11) |
           ((insn >> 21 & 0x3ff) << 1);
}


/* Reads the instruction at offset off of a 4 KiB page of guest code: each halfword once
 * (another hart or a device may change it meanwhile; the length and the decode must come
 * from the same read), and never a byte past the page. Returns the length, 2 or 4, with
 * *raw (32-bit, or 16-bit in the low half); or 0 with the low half in *raw when a 32-bit
 * instruction starts in the page's last halfword and goes on in the next page. */
static inline unsigned code_parcel(const uint8_t *page, unsigned off, uint32_t *raw)
{
    uint16_t lo = __atomic_load_n((const uint16_t *)(page + off), __ATOMIC_RELAXED);
    *raw = lo;
    if ((lo & 3) != 3)
        return 2;
    if (off > 0xffc)
        return 0;
    uint16_t hi = __atomic_load_n((const uint16_t *)(page + off + 2), __ATOMIC_RELAXED);
    *raw = lo | (uint32_t)hi << 16;
    return 4;
}


/* A fence that orders earlier stores before later loads: the one ordering an x86-64 host
 * does not give by itself (stores wait in its store buffer), so it needs a full barrier
 * for the other harts' sake. fence.tso does not order stores before loads. */
static inline bool fence_orders_store_load(uint32_t insn)
{
    unsigned fm = insn >> 28, pred = (insn >> 24) & 15, succ = (insn >> 20) & 15;
    return fm != 8 && (pred & 5) && (succ & 10); /* pred has w or o, succ has r or i */
}

/* The decoded form. Decoded instructions live in pages that mirror guest physical pages
 * (cpu/codecache.h): one entry per 2-byte slot, made on first execution. */
enum fast_op {
    F_DECODE = 0, F_GENERIC, F_CROSS, F_NOP, F_FENCE, F_LUI, F_AUIPC, F_JAL, F_JALR,
    F_BEQ, F_BNE, F_BLT, F_BGE, F_BLTU, F_BGEU,
    F_LB, F_LH, F_LW, F_LD, F_LBU, F_LHU, F_LWU, F_SB, F_SH, F_SW, F_SD,
    F_FLW, F_FLD, F_FSW, F_FSD, F_FPOP,  /* FP: the interpreter's slow path, the translator's own */
    F_FFLAGS,                            /* frflags, frrm, fsflags, frcsr: likewise */
    F_AMO,                               /* LR, SC, AMOs (W and D): the slow path; the translator's own */
    F_COUNTER,                           /* reads of cycle, time, instret (rdcycle...): likewise */
    F_ADDI, F_SLTI, F_SLTIU, F_XORI, F_ORI, F_ANDI, F_SLLI, F_SRLI, F_SRAI,
    F_ADD, F_SUB, F_SLL, F_SLT, F_SLTU, F_XOR, F_SRL, F_SRA, F_OR, F_AND,
    F_ADDIW, F_SLLIW, F_SRLIW, F_SRAIW, F_ADDW, F_SUBW, F_MUL, F_ADDUW, F_SH1ADD, F_SH2ADD, F_SH3ADD,
    F_MULH, F_MULHU, F_DIV, F_DIVU, F_REM, F_REMU, F_MULW, F_DIVUW, F_REMUW, F_ORCB, F_REV8,
    F_CLZ, F_CTZ, F_CPOP, F_ANDN, F_MINU, F_MAXU, F_JIT,
    F_COUNT
};

/* An entry: imm is the immediate, or for F_FPOP, F_FFLAGS, F_AMO and F_COUNTER the whole (32-bit)
 * instruction. */
struct dentry {
    const void *handler;  /* the fast loop's label for this instruction */
    int32_t imm;
    uint8_t rd, rs1, rs2, len;
};

/* The interpreter's handler for each fast_op, published by its first run (cpu/interp.c);
 * an entry's handler is one of these. */
extern const void *const *fast_labels;

/* Every 16-bit encoding expanded once (rvc_expand): a 256 KiB table turns the C extension's
 * decode into one load on the hot path (about half of a Linux guest's instructions are
 * compressed). 0 for an illegal encoding. decode_init() fills it; idempotent. */
extern uint32_t rvc_table[65536];
void decode_init(void);

/* Fills e's operands and length from the instruction raw (32-bit, or 16-bit in the low
 * half); returns its fast_op (F_GENERIC for what only the slow path executes). */
uint8_t decode_fields(struct dentry *e, uint32_t raw);
/* True if op reads rs2. */
bool op_reads_rs2(uint8_t op);

static inline void decode_entry(struct dentry *e, uint32_t raw)
{
    e->handler = fast_labels[decode_fields(e, raw)];
}

#endif
