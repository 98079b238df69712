/* The integer arithmetic of RV64IM, Zba, Zbb, Zbs and the A extension's read-modify-write,
 * as pure functions: shared by the interpreter's fast handlers and the slow path. */
#ifndef CORRAL_CPU_ALU_H
#define CORRAL_CPU_ALU_H

#include "cpu/decode.h"

static inline uint64_t mulh(int64_t a, int64_t b) { return (uint64_t)(((__int128)a * b) >> 64); }
static inline uint64_t mulhu(uint64_t a, uint64_t b) { return (uint64_t)(((unsigned __int128)a * b) >> 64); }
static inline uint64_t mulhsu(int64_t a, uint64_t b) { return (uint64_t)(((__int128)a * (unsigned __int128)b) >> 64); }

/* M extension divide rules (ISA spec 13.2): x/0 = -1, x%0 = x, overflow gives the dividend. */
static inline int64_t div_s(int64_t a, int64_t b)
{
    if (b == 0) return -1;
    if (a == INT64_MIN && b == -1) return a;
    return a / b;
}
static inline int64_t rem_s(int64_t a, int64_t b)
{
    if (b == 0) return a;
    if (a == INT64_MIN && b == -1) return 0;
    return a % b;
}
static inline int32_t div_w(int32_t a, int32_t b)
{
    if (b == 0) return -1;
    if (a == INT32_MIN && b == -1) return a;
    return a / b;
}
static inline int32_t rem_w(int32_t a, int32_t b)
{
    if (b == 0) return a;
    if (a == INT32_MIN && b == -1) return 0;
    return a % b;
}

static inline uint64_t op_reg(uint32_t insn, uint64_t a, uint64_t b, bool *ok)
{
    unsigned sh = b & 63;
    switch ((F7 << 3) | F3) {
    case 0x000: return a + b;
    case 0x100: return a - b;
    case 0x001: return a << sh;
    case 0x002: return (int64_t)a < (int64_t)b;
    case 0x003: return a < b;
    case 0x004: return a ^ b;
    case 0x005: return a >> sh;
    case 0x105: return (uint64_t)((int64_t)a >> sh);
    case 0x006: return a | b;
    case 0x007: return a & b;
    case 0x008: return a * b;
    case 0x009: return mulh((int64_t)a, (int64_t)b);
    case 0x00a: return mulhsu((int64_t)a, b);
    case 0x00b: return mulhu(a, b);
    case 0x00c: return (uint64_t)div_s((int64_t)a, (int64_t)b);
    case 0x00d: return b ? a / b : ~0ULL;
    case 0x00e: return (uint64_t)rem_s((int64_t)a, (int64_t)b);
    case 0x00f: return b ? a % b : a;
    /* Zbb */
    case 0x107: return a & ~b;
    case 0x106: return a | ~b;
    case 0x104: return ~(a ^ b);
    case 0x02c: return (int64_t)a < (int64_t)b ? a : b;
    case 0x02d: return a < b ? a : b;
    case 0x02e: return (int64_t)a > (int64_t)b ? a : b;
    case 0x02f: return a > b ? a : b;
    case 0x181: return sh ? (a << sh) | (a >> (64 - sh)) : a;
    case 0x185: return sh ? (a >> sh) | (a << (64 - sh)) : a;
    /* Zba */
    case 0x082: return (a << 1) + b;
    case 0x084: return (a << 2) + b;
    case 0x086: return (a << 3) + b;
    /* Zbs */
    case 0x121: return a & ~(1ULL << sh);
    case 0x125: return (a >> sh) & 1;
    case 0x1a1: return a ^ (1ULL << sh);
    case 0x0a1: return a | (1ULL << sh);
    default: *ok = false; return 0;
    }
}

static inline uint64_t op_reg32(uint32_t insn, uint64_t a, uint64_t b, bool *ok)
{
    uint32_t wa = (uint32_t)a, wb = (uint32_t)b;
    unsigned sh = b & 31;
    switch ((F7 << 3) | F3) {
    case 0x000: return (uint64_t)(int32_t)(wa + wb);
    case 0x100: return (uint64_t)(int32_t)(wa - wb);
    case 0x001: return (uint64_t)(int32_t)(wa << sh);
    case 0x005: return (uint64_t)(int32_t)(wa >> sh);
    case 0x105: return (uint64_t)((int32_t)wa >> sh);
    case 0x008: return (uint64_t)(int32_t)(wa * wb);
    case 0x00c: return (uint64_t)(int64_t)div_w((int32_t)wa, (int32_t)wb);
    case 0x00d: return (uint64_t)(int32_t)(wb ? wa / wb : ~0u);
    case 0x00e: return (uint64_t)(int64_t)rem_w((int32_t)wa, (int32_t)wb);
    case 0x00f: return (uint64_t)(int32_t)(wb ? wa % wb : wa);
    case 0x020: return (uint64_t)wa + b;                  /* add.uw */
    case 0x024: if (RS2 == 0) return (uint16_t)a;          /* zext.h */
        break;
    case 0x082: return ((uint64_t)wa << 1) + b;           /* sh1add.uw */
    case 0x084: return ((uint64_t)wa << 2) + b;
    case 0x086: return ((uint64_t)wa << 3) + b;
    case 0x181: return (uint64_t)(int32_t)(sh ? (wa << sh) | (wa >> (32 - sh)) : wa); /* rolw */
    case 0x185: return (uint64_t)(int32_t)(sh ? (wa >> sh) | (wa << (32 - sh)) : wa); /* rorw */
    default: break;
    }
    *ok = false;
    return 0;
}

static inline uint64_t orc_b(uint64_t a)
{
    /* each byte becomes 0xff if non-zero: set the high bit of non-zero bytes, then spread */
    uint64_t hi = ((a & 0x7f7f7f7f7f7f7f7fULL) + 0x7f7f7f7f7f7f7f7fULL) | a;
    hi &= 0x8080808080808080ULL;
    return (hi >> 7) * 0xff;
}

static inline uint64_t op_imm(uint32_t insn, uint64_t a, bool *ok)
{
    int64_t imm = IMM_I;
    unsigned sh = (insn >> 20) & 63;
    unsigned f6 = insn >> 26;
    unsigned imm12 = (insn >> 20) & 0xfff;
    switch (F3) {
    case 0: return a + (uint64_t)imm;
    case 2: return (int64_t)a < imm;
    case 3: return a < (uint64_t)imm;
    case 4: return a ^ (uint64_t)imm;
    case 6: return a | (uint64_t)imm;
    case 7: return a & (uint64_t)imm;
    case 1:
        if (f6 == 0x00) return a << sh;
        if (f6 == 0x12) return a & ~(1ULL << sh);   /* bclri */
        if (f6 == 0x1a) return a ^ (1ULL << sh);    /* binvi */
        if (f6 == 0x0a) return a | (1ULL << sh);    /* bseti */
        switch (imm12) {
        case 0x600: return a ? (uint64_t)__builtin_clzll(a) : 64;
        case 0x601: return a ? (uint64_t)__builtin_ctzll(a) : 64;
        case 0x602: return (uint64_t)__builtin_popcountll(a);
        case 0x604: return (uint64_t)(int64_t)(int8_t)a;
        case 0x605: return (uint64_t)(int64_t)(int16_t)a;
        default: break;
        }
        break;
    case 5:
        if (f6 == 0x00) return a >> sh;
        if (f6 == 0x10) return (uint64_t)((int64_t)a >> sh);
        if (f6 == 0x12) return (a >> sh) & 1;      /* bexti */
        if (f6 == 0x18) return sh ? (a >> sh) | (a << (64 - sh)) : a; /* rori */
        if (imm12 == 0x287) return orc_b(a);
        if (imm12 == 0x6b8) return __builtin_bswap64(a);
        break;
    }
    *ok = false;
    return 0;
}

static inline uint64_t op_imm32(uint32_t insn, uint64_t a, bool *ok)
{
    uint32_t wa = (uint32_t)a;
    unsigned sh = (insn >> 20) & 31;
    switch (F3) {
    case 0: return (uint64_t)(int32_t)(wa + (uint32_t)IMM_I);
    case 1:
        if (F7 == 0) return (uint64_t)(int32_t)(wa << sh);
        if ((insn >> 26) == 0x02) return (uint64_t)wa << ((insn >> 20) & 63); /* slli.uw */
        if (F7 == 0x30) {
            switch (RS2) {
            case 0: return wa ? (uint64_t)__builtin_clz(wa) : 32;
            case 1: return wa ? (uint64_t)__builtin_ctz(wa) : 32;
            case 2: return (uint64_t)__builtin_popcount(wa);
            default: break;
            }
        }
        break;
    case 5:
        if (F7 == 0) return (uint64_t)(int32_t)(wa >> sh);
        if (F7 == 0x20) return (uint64_t)((int32_t)wa >> sh);
        if (F7 == 0x30) return (uint64_t)(int32_t)(sh ? (wa >> sh) | (wa << (32 - sh)) : wa);
        break;
    default:
        break;
    }
    *ok = false;
    return 0;
}

static inline bool branch_taken(unsigned f3, uint64_t a, uint64_t b, bool *ok)
{
    switch (f3) {
    case 0: return a == b;
    case 1: return a != b;
    case 4: return (int64_t)a < (int64_t)b;
    case 5: return (int64_t)a >= (int64_t)b;
    case 6: return a < b;
    case 7: return a >= b;
    default: *ok = false; return false;
    }
}

static inline uint64_t amo_compute(unsigned f5, uint64_t old, uint64_t b, bool word)
{
    if (word) {
        old = (uint64_t)(int32_t)old;
        b = (uint64_t)(int32_t)b;
    }
    switch (f5) {
    case 0x01: return b;
    case 0x00: return old + b;
    case 0x04: return old ^ b;
    case 0x0c: return old & b;
    case 0x08: return old | b;
    case 0x10: return (int64_t)old < (int64_t)b ? old : b;
    case 0x14: return (int64_t)old > (int64_t)b ? old : b;
    case 0x18: return (word ? (uint32_t)old < (uint32_t)b : old < b) ? old : b;
    default:   return (word ? (uint32_t)old > (uint32_t)b : old > b) ? old : b;
    }
}

#endif
