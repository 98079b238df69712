/* RISC-V instruction encoders for the unit tests that write guest code. */
#ifndef CORRAL_TESTS_RV_ENCODE_H
#define CORRAL_TESTS_RV_ENCODE_H

#include <stdint.h>

static inline uint32_t R(uint32_t f7, uint32_t rs2, uint32_t rs1, uint32_t f3, uint32_t rd, uint32_t op)
{ return f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op; }
static inline uint32_t I(int32_t imm, uint32_t rs1, uint32_t f3, uint32_t rd, uint32_t op)
{ return (uint32_t)imm << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op; }
static inline uint32_t S(int32_t imm, uint32_t rs2, uint32_t rs1, uint32_t f3, uint32_t op)
{ uint32_t u = (uint32_t)imm; return (u >> 5) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | (u & 31) << 7 | op; }
/* A branch (f3: 0 beq, 1 bne, 4 blt, 5 bge, 6 bltu, 7 bgeu) by off bytes. */
static inline uint32_t B(int32_t off, uint32_t rs2, uint32_t rs1, uint32_t f3)
{
    uint32_t u = (uint32_t)off;
    return (u >> 12 & 1) << 31 | (u >> 5 & 0x3f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 |
           (u >> 1 & 0xf) << 8 | (u >> 11 & 1) << 7 | 0x63;
}

#endif
