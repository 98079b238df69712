/* The decoder: from raw instruction bytes to the decoded entries the interpreter runs from
 * (see decode.h). */
#include <pthread.h>

#include "cpu/decode.h"
#include "cpu/exec.h"

const void *const *fast_labels;
uint32_t rvc_table[65536];
static pthread_once_t rvc_once = PTHREAD_ONCE_INIT;

static void rvc_table_init(void)
{
    for (uint32_t c = 0; c < 65536; c++)
        rvc_table[c] = (c & 3) == 3 ? 0 : rvc_expand((uint16_t)c);
}

void decode_init(void) { pthread_once(&rvc_once, rvc_table_init); }

static uint8_t decode_op(uint32_t insn, int32_t *imm)
{
    unsigned f3 = F3, f7 = F7;
    *imm = (int32_t)IMM_I;
    switch (insn & 0x7f) {
    case 0x37: *imm = (int32_t)IMM_U; return F_LUI;
    case 0x17: *imm = (int32_t)IMM_U; return F_AUIPC;
    case 0x6f: *imm = (int32_t)imm_j(insn); return F_JAL;
    case 0x67: return f3 == 0 ? F_JALR : F_GENERIC;
    case 0x63: {
        static const uint8_t ops[8] = { F_BEQ, F_BNE, F_GENERIC, F_GENERIC, F_BLT, F_BGE, F_BLTU, F_BGEU };
        *imm = (int32_t)imm_b(insn);
        return ops[f3];
    }
    case 0x03: {
        static const uint8_t ops[8] = { F_LB, F_LH, F_LW, F_LD, F_LBU, F_LHU, F_LWU, F_GENERIC };
        return RD ? ops[f3] : F_GENERIC;
    }
    case 0x23: {
        static const uint8_t ops[8] = { F_SB, F_SH, F_SW, F_SD, F_GENERIC, F_GENERIC, F_GENERIC, F_GENERIC };
        *imm = (int32_t)IMM_S;
        return ops[f3];
    }
    case 0x13:
        switch (f3) {
        case 0: return F_ADDI;
        case 2: return F_SLTI;
        case 3: return F_SLTIU;
        case 4: return F_XORI;
        case 6: return F_ORI;
        case 7: return F_ANDI;
        case 1:
            *imm = (insn >> 20) & 63;
            if ((insn >> 26) == 0) return F_SLLI;
            switch ((insn >> 20) & 0xfff) {
            case 0x600: return F_CLZ;
            case 0x601: return F_CTZ;
            case 0x602: return F_CPOP;
            default: return F_GENERIC;
            }
        default:
            *imm = (insn >> 20) & 63;
            if ((insn >> 20 & 0xfff) == 0x287) return F_ORCB;
            if ((insn >> 20 & 0xfff) == 0x6b8) return F_REV8;
            return (insn >> 26) == 0 ? F_SRLI : (insn >> 26) == 0x10 ? F_SRAI : F_GENERIC;
        }
    case 0x1b:
        if (f3 == 0) return F_ADDIW;
        *imm = (insn >> 20) & 31;
        if (f3 == 1 && f7 == 0) return F_SLLIW;
        if (f3 == 5 && f7 == 0) return F_SRLIW;
        if (f3 == 5 && f7 == 0x20) return F_SRAIW;
        return F_GENERIC;
    case 0x33:
        switch ((f7 << 3) | f3) {
        case 0x000: return F_ADD;
        case 0x100: return F_SUB;
        case 0x001: return F_SLL;
        case 0x002: return F_SLT;
        case 0x003: return F_SLTU;
        case 0x004: return F_XOR;
        case 0x005: return F_SRL;
        case 0x105: return F_SRA;
        case 0x006: return F_OR;
        case 0x007: return F_AND;
        case 0x008: return F_MUL;
        case 0x009: return F_MULH;
        case 0x00b: return F_MULHU;
        case 0x00c: return F_DIV;
        case 0x00d: return F_DIVU;
        case 0x00e: return F_REM;
        case 0x00f: return F_REMU;
        case 0x107: return F_ANDN;
        case 0x02d: return F_MINU;
        case 0x02f: return F_MAXU;
        case 0x082: return F_SH1ADD;
        case 0x084: return F_SH2ADD;
        case 0x086: return F_SH3ADD;
        default: return F_GENERIC;
        }
    case 0x0f:
        /* fence: a no-op for this hart, but stores before loads need a barrier (SMP) */
        return f3 == 0 ? (fence_orders_store_load(insn) ? F_FENCE : F_NOP) : F_GENERIC;
    case 0x07: /* FP loads: the slow path checks mstatus.FS, the translator does too */
        return f3 == 2 ? F_FLW : f3 == 3 ? F_FLD : F_GENERIC;
    case 0x27:
        *imm = (int32_t)IMM_S;
        return f3 == 2 ? F_FSW : f3 == 3 ? F_FSD : F_GENERIC;
    case 0x53: case 0x43: case 0x47: case 0x4b: case 0x4f:
        *imm = (int32_t)insn;
        return F_FPOP;
    case 0x73:
        /* csrrs rd, fflags/frm/fcsr, x0 (frflags, frrm, frcsr) and csrrw rd, fflags, rs (fsflags) */
        *imm = (int32_t)insn;
        if ((f3 == 2 && RS1 == 0 && (insn >> 20) >= 1 && (insn >> 20) <= 3) || (f3 == 1 && (insn >> 20) == 1))
            return F_FFLAGS;
        /* csrrs/csrrc rd, cycle/time/instret, x0 and their immediate forms with 0: reads
         * only (rdcycle, rdtime, rdinstret) */
        if ((f3 & 3) >= 2 && RS1 == 0 && (insn >> 20) >= 0xc00 && (insn >> 20) <= 0xc02)
            return F_COUNTER;
        return F_GENERIC;
    case 0x2f: { /* A: lr (rs2 = 0), sc and the AMOs, on words and doublewords */
        unsigned f5 = insn >> 27;
        *imm = (int32_t)insn;
        if ((f3 != 2 && f3 != 3) || (f5 == 0x02 && RS2 != 0))
            return F_GENERIC;
        switch (f5) {
        case 0x00: case 0x01: case 0x02: case 0x03: case 0x04: case 0x08: case 0x0c:
        case 0x10: case 0x14: case 0x18: case 0x1c:
            return F_AMO;
        default:
            return F_GENERIC;
        }
    }
    case 0x3b:
        switch ((f7 << 3) | f3) {
        case 0x000: return F_ADDW;
        case 0x100: return F_SUBW;
        case 0x020: return F_ADDUW;
        case 0x008: return F_MULW;
        case 0x00d: return F_DIVUW;
        case 0x00f: return F_REMUW;
        default: return F_GENERIC;
        }
    default:
        return F_GENERIC;
    }
}

/* ALU results written to x0 have no effect: such instructions become no-ops. */
static bool op_writes_rd_only(uint8_t op)
{
    return op == F_LUI || op == F_AUIPC || (op >= F_ADDI && op < F_COUNT);
}

/* Fills e's operands and length; returns its fast_op. */
uint8_t decode_fields(struct dentry *e, uint32_t raw)
{
    uint32_t insn = raw;
    e->len = 4;
    if ((raw & 3) != 3) {
        e->len = 2;
        insn = rvc_table[raw & 0xffff];
    }
    int32_t imm = 0;
    uint8_t op = insn ? decode_op(insn, &imm) : F_GENERIC;
    if (op_writes_rd_only(op) && RD == 0)
        op = F_NOP;
    e->rd = RD;
    e->rs1 = RS1;
    e->rs2 = RS2;
    e->imm = imm;
    return op;
}

bool op_reads_rs2(uint8_t op)
{
    switch (op) {
    case F_ADD: case F_SUB: case F_XOR: case F_OR: case F_AND: case F_ADDW: case F_SUBW:
    case F_SLL: case F_SRL: case F_SRA: case F_SLT: case F_SLTU: case F_MUL: case F_MULW:
    case F_MULH: case F_MULHU: case F_MINU: case F_MAXU: case F_ADDUW: case F_SH1ADD:
    case F_SH2ADD: case F_SH3ADD: case F_ANDN: case F_DIV: case F_DIVU: case F_REM: case F_REMU:
    case F_DIVUW: case F_REMUW: case F_SB: case F_SH: case F_SW: case F_SD:
    case F_BEQ: case F_BNE: case F_BLT: case F_BGE: case F_BLTU: case F_BGEU:
        return true;
    default:
        return false;
    }
}
