/* The C extension: expands each 16-bit instruction to the 32-bit instruction it stands for
 * (ISA spec ch. 16, RV64 column), so the interpreter has one execution path. */
#include "cpu/exec.h"

#define BITS(v, hi, lo) (((v) >> (lo)) & ((1u << ((hi) - (lo) + 1)) - 1))

static uint32_t enc_i(uint32_t op, uint32_t rd, uint32_t f3, uint32_t rs1, int32_t imm)
{
    return ((uint32_t)imm << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op;
}

static uint32_t enc_s(uint32_t op, uint32_t f3, uint32_t rs1, uint32_t rs2, int32_t imm)
{
    uint32_t u = (uint32_t)imm;
    return ((u >> 5 & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((u & 31) << 7) | op;
}

static uint32_t enc_r(uint32_t op, uint32_t rd, uint32_t f3, uint32_t rs1, uint32_t rs2, uint32_t f7)
{
    return (f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op;
}

static uint32_t enc_b(uint32_t f3, uint32_t rs1, uint32_t rs2, int32_t imm)
{
    uint32_t u = (uint32_t)imm;
    return ((u >> 12 & 1) << 31) | ((u >> 5 & 0x3f) << 25) | (rs2 << 20) | (rs1 << 15) |
           (f3 << 12) | ((u >> 1 & 0xf) << 8) | ((u >> 11 & 1) << 7) | 0x63;
}

static uint32_t enc_j(uint32_t rd, int32_t imm)
{
    uint32_t u = (uint32_t)imm;
    return ((u >> 20 & 1) << 31) | ((u >> 1 & 0x3ff) << 21) | ((u >> 11 & 1) << 20) |
           ((u >> 12 & 0xff) << 12) | (rd << 7) | 0x6f;
}

static int32_t sext(uint32_t v, int bits)
{
    return (int32_t)(v << (32 - bits)) >> (32 - bits);
}

static uint32_t quadrant0(uint16_t c)
{
    uint32_t rd_ = BITS(c, 4, 2) + 8, rs1_ = BITS(c, 9, 7) + 8;
    uint32_t off_d = (BITS(c, 12, 10) << 3) | (BITS(c, 6, 5) << 6);
    uint32_t off_w = (BITS(c, 12, 10) << 3) | (BITS(c, 6, 6) << 2) | (BITS(c, 5, 5) << 6);
    switch (BITS(c, 15, 13)) {
    case 0: {
        uint32_t imm = (BITS(c, 12, 11) << 4) | (BITS(c, 10, 7) << 6) | (BITS(c, 6, 6) << 2) |
                       (BITS(c, 5, 5) << 3);
        return imm ? enc_i(0x13, rd_, 0, 2, (int32_t)imm) : 0; /* c.addi4spn */
    }
    case 1: return enc_i(0x07, rd_, 3, rs1_, (int32_t)off_d);  /* c.fld */
    case 2: return enc_i(0x03, rd_, 2, rs1_, (int32_t)off_w);  /* c.lw */
    case 3: return enc_i(0x03, rd_, 3, rs1_, (int32_t)off_d);  /* c.ld */
    case 5: return enc_s(0x27, 3, rs1_, rd_, (int32_t)off_d);  /* c.fsd */
    case 6: return enc_s(0x23, 2, rs1_, rd_, (int32_t)off_w);  /* c.sw */
    case 7: return enc_s(0x23, 3, rs1_, rd_, (int32_t)off_d);  /* c.sd */
    default: return 0;
    }
}

static uint32_t quadrant1_arith(uint16_t c)
{
    uint32_t rd_ = BITS(c, 9, 7) + 8, rs2_ = BITS(c, 4, 2) + 8;
    uint32_t shamt = (BITS(c, 12, 12) << 5) | BITS(c, 6, 2);
    switch (BITS(c, 11, 10)) {
    case 0: return enc_i(0x13, rd_, 5, rd_, (int32_t)shamt);            /* c.srli */
    case 1: return enc_i(0x13, rd_, 5, rd_, (int32_t)(shamt | 0x400));  /* c.srai */
    case 2: return enc_i(0x13, rd_, 7, rd_, sext(shamt, 6));            /* c.andi */
    default: break;
    }
    static const uint32_t f3[4] = { 0, 4, 6, 7 };
    uint32_t sel = BITS(c, 6, 5);
    if (!BITS(c, 12, 12))
        return enc_r(0x33, rd_, f3[sel], rd_, rs2_, sel == 0 ? 0x20 : 0); /* sub xor or and */
    if (sel == 0)
        return enc_r(0x3b, rd_, 0, rd_, rs2_, 0x20); /* c.subw */
    if (sel == 1)
        return enc_r(0x3b, rd_, 0, rd_, rs2_, 0);    /* c.addw */
    return 0;
}

static uint32_t quadrant1(uint16_t c)
{
    uint32_t rd = BITS(c, 11, 7);
    int32_t imm6 = sext((BITS(c, 12, 12) << 5) | BITS(c, 6, 2), 6);
    switch (BITS(c, 15, 13)) {
    case 0: return enc_i(0x13, rd, 0, rd, imm6);                  /* c.addi / c.nop */
    case 1: return rd ? enc_i(0x1b, rd, 0, rd, imm6) : 0;         /* c.addiw */
    case 2: return enc_i(0x13, rd, 0, 0, imm6);                   /* c.li */
    case 3:
        if (rd == 2) {
            uint32_t v = (BITS(c, 12, 12) << 9) | (BITS(c, 6, 6) << 4) | (BITS(c, 5, 5) << 6) |
                         (BITS(c, 4, 3) << 7) | (BITS(c, 2, 2) << 5);
            return v ? enc_i(0x13, 2, 0, 2, sext(v, 10)) : 0;     /* c.addi16sp */
        }
        if (imm6 == 0)
            return 0;
        return ((uint32_t)imm6 << 12) | (rd << 7) | 0x37;         /* c.lui */
    case 4: return quadrant1_arith(c);
    case 5: {
        uint32_t v = (BITS(c, 12, 12) << 11) | (BITS(c, 11, 11) << 4) | (BITS(c, 10, 9) << 8) |
                     (BITS(c, 8, 8) << 10) | (BITS(c, 7, 7) << 6) | (BITS(c, 6, 6) << 7) |
                     (BITS(c, 5, 3) << 1) | (BITS(c, 2, 2) << 5);
        return enc_j(0, sext(v, 12));                             /* c.j */
    }
    default: {
        uint32_t v = (BITS(c, 12, 12) << 8) | (BITS(c, 11, 10) << 3) | (BITS(c, 6, 5) << 6) |
                     (BITS(c, 4, 3) << 1) | (BITS(c, 2, 2) << 5);
        return enc_b(BITS(c, 15, 13) == 6 ? 0 : 1, BITS(c, 9, 7) + 8, 0, sext(v, 9)); /* c.beqz/bnez */
    }
    }
}

static uint32_t quadrant2(uint16_t c)
{
    uint32_t rd = BITS(c, 11, 7), rs2 = BITS(c, 6, 2);
    uint32_t ldsp = (BITS(c, 12, 12) << 5) | (BITS(c, 6, 5) << 3) | (BITS(c, 4, 2) << 6);
    uint32_t sdsp = (BITS(c, 12, 10) << 3) | (BITS(c, 9, 7) << 6);
    switch (BITS(c, 15, 13)) {
    case 0: return enc_i(0x13, rd, 1, rd, (int32_t)((BITS(c, 12, 12) << 5) | rs2)); /* c.slli */
    case 1: return enc_i(0x07, rd, 3, 2, (int32_t)ldsp);                          /* c.fldsp */
    case 2: {
        uint32_t v = (BITS(c, 12, 12) << 5) | (BITS(c, 6, 4) << 2) | (BITS(c, 3, 2) << 6);
        return rd ? enc_i(0x03, rd, 2, 2, (int32_t)v) : 0;                         /* c.lwsp */
    }
    case 3: return rd ? enc_i(0x03, rd, 3, 2, (int32_t)ldsp) : 0;                  /* c.ldsp */
    case 4:
        if (!BITS(c, 12, 12)) {
            if (rs2 == 0)
                return rd ? enc_i(0x67, 0, 0, rd, 0) : 0;                          /* c.jr */
            return enc_r(0x33, rd, 0, 0, rs2, 0);                                  /* c.mv */
        }
        if (rs2 == 0)
            return rd ? enc_i(0x67, 1, 0, rd, 0) : 0x00100073;                     /* c.jalr / c.ebreak */
        return enc_r(0x33, rd, 0, rd, rs2, 0);                                     /* c.add */
    case 5: return enc_s(0x27, 3, 2, rs2, (int32_t)sdsp);                          /* c.fsdsp */
    case 6: {
        uint32_t v = (BITS(c, 12, 9) << 2) | (BITS(c, 8, 7) << 6);
        return enc_s(0x23, 2, 2, rs2, (int32_t)v);                                 /* c.swsp */
    }
    default: return enc_s(0x23, 3, 2, rs2, (int32_t)sdsp);                         /* c.sdsp */
    }
}

uint32_t rvc_expand(uint16_t c)
{
    switch (c & 3) {
    case 0: return c == 0 ? 0 : quadrant0(c);
    case 1: return quadrant1(c);
    case 2: return quadrant2(c);
    default: return 0;
    }
}
