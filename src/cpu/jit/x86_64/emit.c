/* The translator's x86-64 emitter (see jit/backend.h): host code for one run at a time.
 * Within a run, guest registers live in host registers (rbx, rbp, r8-r10, r12-r15), loaded
 * on first use and written back at every way out of the run. rdi points JIT_XBIAS bytes
 * into x[], so that every guest register is at an 8-bit displacement; hart.jit follows x[].
 * rsi holds the run's pc, r11 the budget (hart.jit.left). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/codecache.h"
#include "cpu/jit/backend.h"

#if defined(__x86_64__)

/* The output, and frm as it was when the run was translated: instructions that round by
 * frm round in that mode, and the run leaves for the interpreter where frm is another. */
struct jit_out { uint8_t *p; unsigned frm; };

enum { RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7 };
/* Offsets of hart.jit's fields from rdi. */
#define JX(f) (unsigned)(offsetof(struct hart, jit) - offsetof(struct hart, x) - JIT_XBIAS + offsetof(struct hart_jit, f))
_Static_assert(offsetof(struct hart, jit) == offsetof(struct hart, x) + sizeof(((struct hart *)0)->x),
               "hart.jit follows x[]");

/* The trampoline at the start of the code buffer (JIT_START bytes) saves the registers the
 * C ABI asks a callee to keep and jumps to the run (rdx); runs leave through JIT_EXIT. */
#define JIT_EXIT 32

static void jb(struct jit_out *j, unsigned n, const uint8_t *b) { memcpy(j->p, b, n); j->p += n; }
static void j32(struct jit_out *j, uint32_t v) { memcpy(j->p, &v, 4); j->p += 4; }

/* [REX] opcode modrm with reg and a register operand rm (mod = 11) */
static void jrr(struct jit_out *j, bool w, unsigned nopc, const uint8_t *opc, unsigned reg, unsigned rm)
{
    uint8_t rex = (uint8_t)(0x40 | (w ? 8 : 0) | (reg >= 8 ? 4 : 0) | (rm >= 8 ? 1 : 0));
    if (rex != 0x40) *j->p++ = rex;
    jb(j, nopc, opc);
    *j->p++ = (uint8_t)(0xc0 | (reg & 7) << 3 | (rm & 7));
}
static void jrr1(struct jit_out *j, uint8_t opc, unsigned reg, unsigned rm) { jrr(j, true, 1, &opc, reg, rm); }
/* [REX.W] opcode modrm with reg and [rdi + disp] */
static void jrm(struct jit_out *j, bool w, uint8_t opc, unsigned reg, int32_t disp)
{
    uint8_t rex = (uint8_t)(0x40 | (w ? 8 : 0) | (reg >= 8 ? 4 : 0));
    if (rex != 0x40) *j->p++ = rex;
    *j->p++ = opc;
    if (disp >= -128 && disp <= 127) {
        *j->p++ = (uint8_t)(0x47 | (reg & 7) << 3);
        *j->p++ = (uint8_t)disp;
    } else {
        *j->p++ = (uint8_t)(0x87 | (reg & 7) << 3);
        j32(j, (uint32_t)disp);
    }
}
static int32_t xdisp(unsigned xr) { return (int32_t)(xr * 8) - JIT_XBIAS; }
/* opc reg64, [rdi + hart.jit field] */
static void jctx_op(struct jit_out *j, uint8_t opc, unsigned reg, unsigned off) { jrm(j, true, opc, reg, (int32_t)off); }
/* lea reg, [rsi + disp]: the run's pc (rsi) plus an offset */
static void jlea_pc(struct jit_out *j, unsigned reg, int32_t disp)
{
    uint8_t b[3] = { (uint8_t)(0x48 | (reg >= 8 ? 4 : 0)), 0x8d, (uint8_t)(0x86 | (reg & 7) << 3) };
    jb(j, 3, b); j32(j, (uint32_t)disp);
}
/* op rax, imm32 (opc: 05 add, 25 and, 0d or, 35 xor, 3d cmp) */
static void jalu_imm(struct jit_out *j, uint8_t opc, int32_t imm) { uint8_t b[2] = { 0x48, opc }; jb(j, 2, b); j32(j, (uint32_t)imm); }
static void jshift_imm(struct jit_out *j, bool wide, uint8_t modrm, unsigned sh)
{
    if (wide) *j->p++ = 0x48;
    uint8_t b[3] = { 0xc1, modrm, (uint8_t)sh };
    jb(j, 3, b);
}
static void jsext32(struct jit_out *j) { static const uint8_t b[3] = { 0x48, 0x63, 0xc0 }; jb(j, 3, b); }
static void jsetcc(struct jit_out *j, uint8_t cc)
{
    uint8_t b[6] = { 0x0f, cc, 0xc0, 0x0f, 0xb6, 0xc0 }; /* setcc al; movzx eax, al */
    jb(j, 6, b);
}
/* sub r11, n: r11 holds hart.jit.left while host code runs (the trampoline loads it and
 * stores it back), so the budget count is no memory round trip per run or loop round */
static void jleft(struct jit_out *j, unsigned n)
{
    uint8_t b[4] = { 0x49, 0x83, 0xeb, (uint8_t)n };
    jb(j, 4, b);
}
/* Leaves: rax = the pc already there, edx = miss, through the trampoline's exit. */
static void jret(struct jit_out *j, uint8_t *base, bool miss)
{
    if (miss) { *j->p++ = 0xba; j32(j, 1); }                    /* mov edx, 1 */
    else { *j->p++ = 0x31; *j->p++ = 0xd2; }                    /* xor edx, edx */
    *j->p++ = 0xe9;                                             /* jmp exit */
    j32(j, (uint32_t)(int32_t)(base + JIT_EXIT - (j->p + 4)));
}
/* A short forward jump (jcc rel8, or jmp with cc 0xeb), patched by jpatch8. */
static uint8_t *jfwd8(struct jit_out *j, uint8_t cc) { *j->p++ = cc; *j->p++ = 0; return j->p - 1; }
static void jpatch8(struct jit_out *j, uint8_t *at)
{
    ptrdiff_t d = j->p - (at + 1);
    if (d > 127)
        abort(); /* an emitter bug: the jump would land anywhere */
    *at = (uint8_t)d;
}
/* The same with rel32 (jcc: cc is the short form's opcode, 0x7x). */
static uint8_t *jfwd32(struct jit_out *j, uint8_t cc)
{
    *j->p++ = 0x0f; *j->p++ = (uint8_t)(cc + 0x10);
    j32(j, 0);
    return j->p - 4;
}
static void jpatch32(struct jit_out *j, uint8_t *at) { uint32_t d = (uint32_t)(j->p - (at + 4)); memcpy(at, &d, 4); }

static void jit_write_flag_table(uint8_t *base);

void jit_backend_trampoline(uint8_t *base)
{
    static const uint8_t push[] = {
        0x53, 0x55, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57, /* push rbx, rbp, r12-r15 */
    };
    static const uint8_t pop[] = {
        0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d, 0x41, 0x5c, 0x5d, 0x5b, /* pop r15-r12, rbp, rbx */
        0xc3,
    };
    struct jit_out j = { base, 0 };
    jb(&j, sizeof(push), push);
    jrm(&j, true, 0x8b, 11, (int32_t)JX(left));                     /* mov r11, left */
    *j.p++ = 0xff; *j.p++ = 0xe2;                                   /* jmp rdx */
    j.p = base + JIT_EXIT;
    jrm(&j, true, 0x89, 11, (int32_t)JX(left));                     /* mov left, r11 */
    jb(&j, sizeof(pop), pop);
    jit_write_flag_table(base);
}

/* ---- guest registers in host registers, within one run ---- */
#define RA_N 9
static const uint8_t ra_pool[RA_N] = { RBX, RBP, 8, 9, 10, 12, 13, 14, 15 };
struct ra {
    int8_t slot_of[32];      /* -1, or the pool slot holding the guest register */
    int8_t guest[RA_N];      /* -1, or the guest register in the slot */
    bool dirty[RA_N];
    uint32_t used[RA_N];
    uint32_t tick;
    /* guest registers known to hold a value in [0, 2^31) here (set by the run's own
     * instructions, forgotten at the run's loop heads): negw of one needs no sign
     * extension */
    uint32_t small;
};

static void ra_init(struct ra *ra)
{
    memset(ra, 0, sizeof(*ra));
    memset(ra->slot_of, -1, sizeof(ra->slot_of));
    memset(ra->guest, -1, sizeof(ra->guest));
}

static void ra_writeback(struct jit_out *j, const struct ra *ra, unsigned s)
{
    jrm(j, true, 0x89, ra_pool[s], xdisp((unsigned)ra->guest[s]));  /* mov x[r], host */
}

/* A slot for a new guest register: a free one, or the one used longest ago (written back). */
static unsigned ra_take(struct jit_out *j, struct ra *ra)
{
    unsigned best = 0;
    for (unsigned s = 0; s < RA_N; s++) {
        if (ra->guest[s] < 0) { best = s; goto got; }
        if (ra->used[s] < ra->used[best]) best = s;
    }
    if (ra->dirty[best]) ra_writeback(j, ra, best);
    ra->slot_of[ra->guest[best]] = -1;
got:
    ra->dirty[best] = false;
    return best;
}

/* The host register holding guest register xr, loaded if it is not there yet; for x0, rdx
 * zeroed (so x0 never takes a slot: callers use the register before rdx serves anything
 * else). */
static unsigned ra_get(struct jit_out *j, struct ra *ra, unsigned xr)
{
    if (xr == 0) {
        static const uint8_t zero[] = { 0x31, 0xd2 };            /* xor edx, edx */
        jb(j, 2, zero);
        return RDX;
    }
    int s = ra->slot_of[xr];
    if (s < 0) {
        s = (int)ra_take(j, ra);
        ra->guest[s] = (int8_t)xr;
        ra->slot_of[xr] = (int8_t)s;
        jrm(j, true, 0x8b, ra_pool[s], xdisp(xr));              /* mov host, x[r] */
    }
    ra->used[s] = ++ra->tick;
    return ra_pool[s];
}

/* The host register to write guest register xr to (never x0: its writes are dropped). */
static unsigned ra_def(struct jit_out *j, struct ra *ra, unsigned xr)
{
    if (xr == 0)
        return RDX;  /* a sink: such writes are dropped */
    int s = ra->slot_of[xr];
    if (s < 0) {
        s = (int)ra_take(j, ra);
        ra->guest[s] = (int8_t)xr;
        ra->slot_of[xr] = (int8_t)s;
    }
    ra->used[s] = ++ra->tick;
    ra->dirty[s] = true;
    return ra_pool[s];
}

/* Writes back every changed register (they stay cached). */
static void ra_flush(struct jit_out *j, struct ra *ra)
{
    for (unsigned s = 0; s < RA_N; s++)
        if (ra->dirty[s]) {
            ra_writeback(j, ra, s);
            ra->dirty[s] = false;
        }
}

/* mov rax/rcx, guest register (x0: the register zeroed, rdx untouched) */
static void jget(struct jit_out *j, struct ra *ra, unsigned reg, unsigned xr)
{
    if (xr == 0) {
        jrr(j, false, 1, (const uint8_t[]){ 0x31 }, reg, reg);          /* xor reg32, reg32 */
        return;
    }
    unsigned h = ra_get(j, ra, xr);
    jrr1(j, 0x8b, reg, h);
}
/* op rax, guest register (opc with modrm reg = rax, rm = the register: 03 add, 2b sub, ...) */
static void jop(struct jit_out *j, struct ra *ra, uint8_t opc, unsigned xr)
{
    unsigned h = ra_get(j, ra, xr);
    jrr1(j, opc, RAX, h);
}
/* guest register = rax (or another scratch register) */
static void jset(struct jit_out *j, struct ra *ra, unsigned xr, unsigned from)
{
    unsigned h = ra_def(j, ra, xr);
    jrr1(j, 0x8b, h, from);
}

bool jit_backend_end_ok(uint8_t op)
{
    return op == F_JAL || op == F_JALR;
}

static bool fp_translatable(uint32_t insn);

bool jit_backend_op_ok(uint8_t op, const struct dentry *d)
{
    switch (op) {
    case F_FLW: case F_FLD: case F_FSW: case F_FSD: case F_FFLAGS: case F_AMO: case F_COUNTER:
    case F_BEQ: case F_BNE: case F_BLT: case F_BGE: case F_BLTU: case F_BGEU:
        return true;
    case F_FPOP:
        return fp_translatable((uint32_t)d->imm);
    case F_LB: case F_LH: case F_LW: case F_LD: case F_LBU: case F_LHU: case F_LWU:
    case F_SB: case F_SH: case F_SW: case F_SD: case F_AUIPC:
    case F_NOP: case F_FENCE: case F_LUI: case F_ADDI: case F_SLTI: case F_SLTIU: case F_XORI: case F_ORI:
    case F_ANDI: case F_SLLI: case F_SRLI: case F_SRAI: case F_ADD: case F_SUB: case F_SLL:
    case F_SLT: case F_SLTU: case F_XOR: case F_SRL: case F_SRA: case F_OR: case F_AND:
    case F_ADDIW: case F_SLLIW: case F_SRLIW: case F_SRAIW: case F_ADDW: case F_SUBW:
    case F_MUL: case F_MULW: case F_ADDUW: case F_SH1ADD: case F_SH2ADD: case F_SH3ADD: case F_ANDN:
    case F_MULH: case F_MULHU: case F_MINU: case F_MAXU: case F_REV8:
    case F_DIV: case F_DIVU: case F_REM: case F_REMU: case F_DIVUW: case F_REMUW:
    case F_ORCB: case F_CTZ: case F_CLZ:
        return true;
    default:
        return false;
    }
}

/* A run's offset in its decoded page (code_page.run), from the page's entries */
#define RUN_AT ((int32_t)(offsetof(struct code_page, run) - offsetof(struct code_page, d)))
_Static_assert(offsetof(struct code_page, run) - offsetof(struct code_page, d) == PAGE_SLOTS * sizeof(struct dentry) &&
               sizeof(((struct code_page *)0)->run[0]) == 4, "run offsets follow the entries");

/* With rax = a pc and rdx = the decoded entries of its page: jumps to the run that starts
 * there (rsi = rax), if there is one; else falls through the jump returned, for patching,
 * with rax as it was. Guest registers are written back: r8 is free. */
static uint8_t *jit_emit_enter(struct jit_out *j)
{
    static const uint8_t slot[] = {
        0x89, 0xc1,                                              /* mov ecx, eax */
        0x81, 0xe1, 0xfe, 0x0f, 0x00, 0x00,                      /* and ecx, 0xffe */
        0x4c, 0x8b, 0x04, 0xca,                                  /* mov r8, [rdx + rcx*8] */
    };
    _Static_assert(sizeof(struct dentry) == 16, "jit dentry layout");
    jb(j, sizeof(slot), slot);
    jctx_op(j, 0x3b, 8, JX(run_label));                          /* cmp r8, run_label */
    uint8_t *out = jfwd8(j, 0x75);                               /* jne out */
    static const uint8_t ld[] = { 0x8b, 0x8c, 0x4a };            /* mov ecx, [rdx + rcx*2 + run] */
    jb(j, sizeof(ld), ld); j32(j, (uint32_t)RUN_AT);
    jctx_op(j, 0x03, RCX, JX(base));                             /* add rcx, base */
    static const uint8_t go[] = { 0x48, 0x89, 0xc6, 0xff, 0xe1 }; /* mov rsi, rax; jmp rcx */
    jb(j, sizeof(go), go);
    return out;
}

/* Goes on to the run at the pc in rax, in another page, if the jump cache knows the page
 * and there is a run there; or leaves. Budget already checked. */
static void jit_emit_far(struct jit_out *j, uint8_t *base)
{
    uint8_t *x1, *x2, *x3;
    static const uint8_t idx[] = {
        0x89, 0xc1,                                              /* mov ecx, eax */
        0xc1, 0xe9, 0x07,                                        /* shr ecx, 7 */
        0x81, 0xe1, 0xe0, 0x3f, 0x00, 0x00,                      /* and ecx, 511 << 5 */
    };
    _Static_assert(sizeof(struct jc_entry) == 32 && JC_SIZE == 512, "jit jump cache layout");
    jb(j, sizeof(idx), idx);
    jctx_op(j, 0x03, RCX, JX(jcache));                           /* add rcx, jcache */
    static const uint8_t pg[] = {
        0x48, 0x89, 0xc2,                                        /* mov rdx, rax */
        0x48, 0x81, 0xe2, 0x00, 0xf0, 0xff, 0xff,                /* and rdx, ~0xfff */
    };
    jb(j, sizeof(pg), pg);
    jctx_op(j, 0x0b, RDX, JX(gen));                              /* or rdx, gen */
    static const uint8_t cmp[] = { 0x48, 0x3b, 0x11 };           /* cmp rdx, [rcx] */
    jb(j, sizeof(cmp), cmp);
    x1 = jfwd8(j, 0x75);                                         /* jne out */
    jctx_op(j, 0x8b, RDX, JX(jc_gen));                           /* mov rdx, jc_gen */
    static const uint8_t cmp2[] = { 0x48, 0x3b, 0x51, 0x10 };    /* cmp rdx, [rcx + 16] */
    jb(j, sizeof(cmp2), cmp2);
    x2 = jfwd8(j, 0x75);                                         /* jne out */
    static const uint8_t ld[] = { 0x48, 0x8b, 0x51, 0x08 };      /* mov rdx, [rcx + 8] */
    jb(j, sizeof(ld), ld);
    jrm(j, true, 0x89, RDX, (int32_t)JX(dents));                 /* mov dents, rdx */
    x3 = jit_emit_enter(j);
    jpatch8(j, x1);
    jpatch8(j, x2);
    jpatch8(j, x3);
    jret(j, base, false);
}

/* The end of a run whose next pc is pc + rel, page offset t (known when translating):
 * count its n instructions, then go on to the run at t if it is in this page and there is
 * one, or leave. Registers are written back already. */
static void jit_emit_next(struct jit_out *j, uint8_t *base, unsigned n, int32_t rel, int32_t t)
{
    jleft(j, n);
    if (t >= 0 && t < 4096) {
        uint8_t *x1, *x2;
        x1 = jfwd8(j, 0x7e);                                     /* jle out */
        jctx_op(j, 0x8b, RDX, JX(dents));                        /* mov rdx, dents */
        static const uint8_t ld[] = { 0x48, 0x8b, 0x82 };         /* mov rax, [rdx + slot] */
        jb(j, 3, ld); j32(j, (uint32_t)(t >> 1) * (uint32_t)sizeof(struct dentry));
        jctx_op(j, 0x3b, RAX, JX(run_label));                    /* cmp rax, run_label */
        x2 = jfwd8(j, 0x75);                                     /* jne out */
        static const uint8_t ld2[] = { 0x8b, 0x82 };              /* mov eax, [rdx + run + 2t] */
        jb(j, 2, ld2); j32(j, (uint32_t)(RUN_AT + 2 * t));
        jctx_op(j, 0x03, RAX, JX(base));                         /* add rax, base */
        jlea_pc(j, RSI, rel);                                    /* lea rsi, [rsi + rel] */
        static const uint8_t jmp[] = { 0xff, 0xe0 };              /* jmp rax */
        jb(j, 2, jmp);
        jpatch8(j, x1);
        jpatch8(j, x2);
        jlea_pc(j, RAX, rel);                                    /* out: rax = next pc */
        jret(j, base, false);
        return;
    }
    uint8_t *x0 = jfwd32(j, 0x7e);                               /* jle out */
    jlea_pc(j, RAX, rel);
    jit_emit_far(j, base);
    jpatch32(j, x0);
    jlea_pc(j, RAX, rel);                                        /* out: rax = next pc */
    jret(j, base, false);
}

/* The same for a next pc computed into rax (jalr): chained when it is in the run's page. */
static void jit_emit_next_dyn(struct jit_out *j, uint8_t *base, unsigned n)
{
    uint8_t *x1, *x2, *x3;
    jleft(j, n);
    x2 = jfwd8(j, 0x7e);                                         /* jle out */
    static const uint8_t same[] = {
        0x48, 0x89, 0xc1,                                        /* mov rcx, rax */
        0x48, 0x31, 0xf1,                                        /* xor rcx, rsi */
        0x48, 0xc1, 0xe9, 0x0c,                                  /* shr rcx, 12 */
    };
    jb(j, sizeof(same), same);
    x1 = jfwd8(j, 0x75);                                         /* jnz far */
    jctx_op(j, 0x8b, RDX, JX(dents));                            /* mov rdx, dents */
    x3 = jit_emit_enter(j);
    jpatch8(j, x2);
    jpatch8(j, x3);
    jret(j, base, false);                                        /* out */
    jpatch8(j, x1);
    jit_emit_far(j, base);                                       /* another page */
}

/* A way out of a run at a load or store that missed: the registers changed before it. */
struct jit_fix {
    uint8_t *at;            /* rel32 of the jump to patch */
    unsigned insn, off;     /* instructions done before it, its offset from the run's pc */
    uint8_t nwb, wb_host[RA_N], wb_guest[RA_N];
};

/* Records a way out through the rel32 about to be written at j->p (its jump's opcode is
 * there already), with the registers changed so far, and writes the placeholder. */
static void fix_here(struct jit_out *j, const struct ra *ra, struct jit_fix *fix)
{
    fix->at = j->p;
    j32(j, 0);
    fix->nwb = 0;
    for (unsigned s = 0; s < RA_N; s++)
        if (ra->dirty[s]) {
            fix->wb_host[fix->nwb] = ra_pool[s];
            fix->wb_guest[fix->nwb++] = (uint8_t)ra->guest[s];
        }
}

/* Offsets from rdi of the hart's other fields, and of FP register r. */
#define HX(f) ((int32_t)(offsetof(struct hart, f) - offsetof(struct hart, x)) - JIT_XBIAS)
static int32_t fdisp(unsigned r) { return HX(f) + (int32_t)r * 8; }

static bool op_is_fp(uint8_t op) { return op >= F_FLW && op <= F_FFLAGS; }
/* FP instructions the interpreter marks mstatus.FS dirty for: all but stores and reads of
 * fflags/fcsr (a run marks it once, after its checks) */
static bool op_dirties_fs(uint8_t op, const struct dentry *d)
{
    if (op == F_FSW || op == F_FSD)
        return false;
    return op != F_FFLAGS || (((uint32_t)d->imm >> 12) & 7) == 1;
}
static bool op_is_store(uint8_t op) { return (op >= F_SB && op <= F_SD) || op == F_FSW || op == F_FSD; }
static bool op_is_mem(uint8_t op) { return (op >= F_LB && op <= F_SD) || (op >= F_FLW && op <= F_FSD); }

/* The data TLB hit check the interpreter does, for an access of sz bytes at x[rs1] + off
 * (the write set for a store, else the read set): on a miss, or an access that would leave
 * the page (the page of its last byte is then not the entry's), a jump to an exit stub so
 * that the interpreter executes this instruction itself with everything before it done
 * (first, with align_fix, a misaligned address takes that way out too: the interpreter
 * traps). On a hit: rax = the host address (and rdx = the guest virtual address if
 * keep_va). */
static void jit_emit_tlb(struct jit_out *j, struct ra *ra, bool st, unsigned sz, unsigned rs1, int32_t off,
                         bool keep_va, struct jit_fix *align_fix, struct jit_fix *fix)
{
    jget(j, ra, RAX, rs1);
    if (off) jalu_imm(j, 0x05, off);                               /* rax = va */
    if (align_fix) {
        uint8_t al[] = { 0xa8, (uint8_t)(sz - 1), 0x0f, 0x85 };    /* test al, sz - 1; jnz exit */
        jb(j, 4, al);
        fix_here(j, ra, align_fix);
    }
    static const uint8_t idx[] = {
        0x89, 0xc1,                                                /* mov ecx, eax */
        0xc1, 0xe9, 0x08,                                          /* shr ecx, 8 */
        0x81, 0xe1,                                                /* and ecx, (entries - 1) << 4 */
    };
    _Static_assert(sizeof(struct tlb_entry) == 16, "jit TLB layout");
    jb(j, sizeof(idx), idx);
    j32(j, (uint32_t)((st ? TLB_SIZE : TLB_RD_SIZE) - 1) << 4);
    jctx_op(j, 0x03, RCX, st ? JX(wset) : JX(rset));               /* add rcx, wset / rset */
    uint8_t lea[4] = { 0x48, 0x8d, 0x50, (uint8_t)(sz - 1) };      /* lea rdx, [rax + sz - 1] */
    jb(j, 4, lea);
    static const uint8_t pg[] = { 0x48, 0x81, 0xe2, 0x00, 0xf0, 0xff, 0xff }; /* and rdx, ~0xfff */
    jb(j, sizeof(pg), pg);
    jctx_op(j, 0x0b, RDX, JX(gen));                                /* or rdx, gen */
    static const uint8_t cmp[] = { 0x48, 0x3b, 0x11, 0x0f, 0x85 }; /* cmp rdx, [rcx]; jne exit */
    jb(j, sizeof(cmp), cmp);
    fix_here(j, ra, fix);
    static const uint8_t va[] = { 0x48, 0x89, 0xc2 };              /* mov rdx, rax */
    if (keep_va) jb(j, 3, va);
    static const uint8_t host[] = {
        0x25, 0xff, 0x0f, 0x00, 0x00,                              /* and eax, 0xfff */
        0x48, 0x03, 0x41, 0x08,                                    /* add rax, [rcx + 8] */
    };
    jb(j, sizeof(host), host);
}

/* A load or store: the TLB check (jit_emit_tlb), then the access through the entry's host
 * page. */
static void jit_emit_mem(struct jit_out *j, struct ra *ra, uint8_t op, const struct dentry *d,
                         struct jit_fix *fix)
{
    static const uint8_t size[] = { [F_LB] = 1, [F_LH] = 2, [F_LW] = 4, [F_LD] = 8, [F_LBU] = 1,
                                    [F_LHU] = 2, [F_LWU] = 4, [F_SB] = 1, [F_SH] = 2, [F_SW] = 4, [F_SD] = 8,
                                    [F_FLW] = 4, [F_FLD] = 8, [F_FSW] = 4, [F_FSD] = 8 };
    bool st = op_is_store(op);
    unsigned sz = size[op];
    jit_emit_tlb(j, ra, st, sz, d->rs1, d->imm, false, NULL, fix);
    if (op >= F_FLW) {
        /* FP: the value goes between memory and f[] through rcx; singles NaN-boxed */
        static const uint8_t ld8[] = { 0x48, 0x8b, 0x08 }, ld4[] = { 0x8b, 0x08 };      /* mov rcx/ecx, [rax] */
        static const uint8_t st8[] = { 0x48, 0x89, 0x08 }, st4[] = { 0x89, 0x08 };      /* mov [rax], rcx/ecx */
        switch (op) {
        case F_FLD: jb(j, 3, ld8); jrm(j, true, 0x89, RCX, fdisp(d->rd)); break;
        case F_FLW:
            jb(j, 2, ld4);
            jrm(j, false, 0x89, RCX, fdisp(d->rd));
            jrm(j, false, 0xc7, 0, fdisp(d->rd) + 4);                         /* mov dword [f + 4], -1 */
            j32(j, 0xffffffffu);
            break;
        case F_FSD: jrm(j, true, 0x8b, RCX, fdisp(d->rs2)); jb(j, 3, st8); break;
        default: jrm(j, false, 0x8b, RCX, fdisp(d->rs2)); jb(j, 2, st4); break;
        }
        return;
    }
    if (st) {
        jget(j, ra, RCX, d->rs2);
        switch (sz) {
        case 1: { static const uint8_t b[] = { 0x88, 0x08 }; jb(j, 2, b); break; }        /* mov [rax], cl */
        case 2: { static const uint8_t b[] = { 0x66, 0x89, 0x08 }; jb(j, 3, b); break; }  /* mov [rax], cx */
        case 4: { static const uint8_t b[] = { 0x89, 0x08 }; jb(j, 2, b); break; }        /* mov [rax], ecx */
        default: { static const uint8_t b[] = { 0x48, 0x89, 0x08 }; jb(j, 3, b); break; } /* mov [rax], rcx */
        }
        return;
    }
    switch (op) {
    case F_LB:  { static const uint8_t b[] = { 0x48, 0x0f, 0xbe, 0x00 }; jb(j, 4, b); break; } /* movsx rax, byte */
    case F_LBU: { static const uint8_t b[] = { 0x0f, 0xb6, 0x00 }; jb(j, 3, b); break; }       /* movzx eax, byte */
    case F_LH:  { static const uint8_t b[] = { 0x48, 0x0f, 0xbf, 0x00 }; jb(j, 4, b); break; } /* movsx rax, word */
    case F_LHU: { static const uint8_t b[] = { 0x0f, 0xb7, 0x00 }; jb(j, 3, b); break; }       /* movzx eax, word */
    case F_LW:  { static const uint8_t b[] = { 0x48, 0x63, 0x00 }; jb(j, 3, b); break; }       /* movsxd rax, dword */
    case F_LWU: { static const uint8_t b[] = { 0x8b, 0x00 }; jb(j, 2, b); break; }             /* mov eax, dword */
    default:    { static const uint8_t b[] = { 0x48, 0x8b, 0x00 }; jb(j, 3, b); break; }       /* mov rax, qword */
    }
    jset(j, ra, d->rd, RAX);
}

/* LR, SC and the AMOs (A extension, W and D), atomic on host memory as the interpreter's are:
 * a misaligned address, or one the TLB cannot serve (the read set for LR, the write set,
 * which never holds a page with decoded code, for the others), leaves for the interpreter,
 * which traps or walks. The old value (SC: 0 for success) goes to x[rd], sign-extended for
 * the W forms. The reservation is the interpreter's (hart.resv_*): SC succeeds when the
 * reserved address matches and memory still holds the value LR saw. */
static void jit_emit_amo(struct jit_out *j, struct ra *ra, const struct dentry *d, struct jit_fix *fix,
                         unsigned *nfix, unsigned insn_no, unsigned off)
{
    uint32_t insn = (uint32_t)d->imm;
    unsigned f5 = insn >> 27, sz = ((insn >> 12) & 7) == 2 ? 4 : 8;
    bool w = sz == 4;
    for (unsigned k = 0; k < 2; k++) {                                  /* misaligned, missed */
        fix[*nfix + k].insn = insn_no;
        fix[*nfix + k].off = off;
    }
    jit_emit_tlb(j, ra, f5 != 0x02, sz, d->rs1, 0, f5 == 0x02 || f5 == 0x03, &fix[*nfix], &fix[*nfix + 1]);
    *nfix += 2;
    if (f5 == 0x02) {                                                   /* lr */
        if (insn >> 25 & 1) {
            /* lr.rl (aqrl): no earlier store may pass it, which x86 allows a plain load */
            static const uint8_t mfence[] = { 0x0f, 0xae, 0xf0 };
            jb(j, 3, mfence);
        }
        static const uint8_t ld8[] = { 0x48, 0x8b, 0x08 }, ld4[] = { 0x48, 0x63, 0x08 };
        jb(j, 3, w ? ld4 : ld8);                                        /* mov / movsxd rcx, [rax] */
        jrm(j, false, 0xc6, 0, HX(resv_valid));                         /* mov byte [resv_valid], 1 */
        *j->p++ = 1;
        jrm(j, true, 0x89, RDX, HX(resv_addr));                         /* mov [resv_addr], rdx */
        jrm(j, true, 0x89, RCX, HX(resv_val));                          /* mov [resv_val], rcx */
        jset(j, ra, d->rd, RCX);
        return;
    }
    /* every ra_ call before a branch; jget leaves rdx (sc's address) alone, also for x0 */
    jget(j, ra, RCX, d->rs2);
    if (f5 == 0x03) {                                                   /* sc */
        jrm(j, false, 0x80, 7, HX(resv_valid));                         /* cmp byte [resv_valid], 0 */
        *j->p++ = 0;
        uint8_t *f1 = jfwd8(j, 0x74);                                   /* je fail */
        jrm(j, true, 0x3b, RDX, HX(resv_addr));                         /* cmp rdx, [resv_addr] */
        uint8_t *f2 = jfwd8(j, 0x75);                                   /* jne fail */
        static const uint8_t mv[] = { 0x48, 0x89, 0xc2 };               /* mov rdx, rax */
        jb(j, 3, mv);
        jrm(j, true, 0x8b, RAX, HX(resv_val));                          /* mov rax, [resv_val] */
        static const uint8_t cx8[] = { 0xf0, 0x48, 0x0f, 0xb1, 0x0a }, cx4[] = { 0xf0, 0x0f, 0xb1, 0x0a };
        if (w) jb(j, 4, cx4); else jb(j, 5, cx8);                       /* lock cmpxchg [rdx], rcx/ecx */
        static const uint8_t res[] = { 0x0f, 0x95, 0xc0, 0x0f, 0xb6, 0xc0 }; /* setnz al; movzx eax, al */
        jb(j, sizeof(res), res);
        uint8_t *done = jfwd8(j, 0xeb);                                 /* jmp done */
        jpatch8(j, f1);
        jpatch8(j, f2);
        static const uint8_t one[] = { 0xb8, 1, 0, 0, 0 };              /* fail: mov eax, 1 */
        jb(j, 5, one);
        jpatch8(j, done);
        jrm(j, false, 0xc6, 0, HX(resv_valid));                         /* mov byte [resv_valid], 0 */
        *j->p++ = 0;
        jset(j, ra, d->rd, RAX);
        return;
    }
    static const uint8_t sext_rcx[] = { 0x48, 0x63, 0xc9 };             /* movsxd rcx, ecx */
    if (f5 == 0x01 || f5 == 0x00) {
        /* amoswap: xchg [rax], rcx; amoadd: lock xadd [rax], rcx (ecx for W) */
        static const uint8_t swp8[] = { 0x48, 0x87, 0x08 }, swp4[] = { 0x87, 0x08 };
        static const uint8_t add8[] = { 0xf0, 0x48, 0x0f, 0xc1, 0x08 }, add4[] = { 0xf0, 0x0f, 0xc1, 0x08 };
        if (f5 == 0x01) { if (w) jb(j, 2, swp4); else jb(j, 3, swp8); }
        else { if (w) jb(j, 4, add4); else jb(j, 5, add8); }
        if (w) jb(j, 3, sext_rcx);
        jset(j, ra, d->rd, RCX);
        return;
    }
    /* the rest: a compare-and-swap loop, the new value in rsi (the run's pc, saved) */
    static const uint8_t head8[] = { 0x56, 0x48, 0x89, 0xc2, 0x48, 0x8b, 0x02 }; /* push rsi; mov rdx, rax; mov rax, [rdx] */
    static const uint8_t head4[] = { 0x56, 0x48, 0x89, 0xc2, 0x8b, 0x02 };       /* ...; mov eax, [rdx] */
    if (w) jb(j, sizeof(head4), head4); else jb(j, sizeof(head8), head8);
    uint8_t *loop = j->p;
    if (!w) *j->p++ = 0x48;
    *j->p++ = 0x89; *j->p++ = 0xc6;                                     /* mov rsi, rax */
    uint8_t opc = 0, cc = 0;
    switch (f5) {
    case 0x04: opc = 0x31; break;                                       /* amoxor: xor rsi, rcx */
    case 0x08: opc = 0x09; break;                                       /* amoor */
    case 0x0c: opc = 0x21; break;                                       /* amoand */
    case 0x10: cc = 0x4f; break;                                        /* amomin: cmovg (old > b: b) */
    case 0x14: cc = 0x4c; break;                                        /* amomax: cmovl */
    case 0x18: cc = 0x47; break;                                        /* amominu: cmova */
    default:   cc = 0x42; break;                                        /* amomaxu: cmovb */
    }
    if (!w) *j->p++ = 0x48;
    if (opc) {
        *j->p++ = opc; *j->p++ = 0xce;                                  /* op rsi, rcx */
    } else {
        *j->p++ = 0x39; *j->p++ = 0xce;                                 /* cmp rsi, rcx */
        if (!w) *j->p++ = 0x48;
        *j->p++ = 0x0f; *j->p++ = cc; *j->p++ = 0xf1;                   /* cmovcc rsi, rcx */
    }
    static const uint8_t cas8[] = { 0xf0, 0x48, 0x0f, 0xb1, 0x32 }, cas4[] = { 0xf0, 0x0f, 0xb1, 0x32 };
    if (w) jb(j, 4, cas4); else jb(j, 5, cas8);                         /* lock cmpxchg [rdx], rsi */
    *j->p++ = 0x75;                                                     /* jne loop */
    *j->p = (uint8_t)(loop - (j->p + 1));
    j->p++;
    *j->p++ = 0x5e;                                                     /* pop rsi */
    if (w) jsext32(j);
    jset(j, ra, d->rd, RAX);
}

/* A read of cycle, time or instret (the instruction i of the run, at offset off). Below
 * M-mode, mcounteren, and in U-mode scounteren too, must allow it (priv spec 3.1.11,
 * 4.1.5), else the run leaves for the interpreter, which raises the illegal instruction;
 * they may change between runs, so the check is made each time. cycle and instret are the
 * count of instructions completed before this one, as the interpreter's slow path sees it
 * (instret + the block's count so far): the interpreter adds to instret what the run would
 * do if it used all of its budget, and r11 holds what is left of it once the instructions
 * of this run before i are counted too. time is the board's (bus->time), called as C is:
 * the registers the C ABI lets it change (r8-r11, rdi, rsi) pushed with the stack aligned,
 * and MXCSR put back after it, so that its flags do not become the guest's. */
static void jmxcsr(struct jit_out *j, unsigned ext);

static void jit_emit_counter(struct jit_out *j, struct ra *ra, const struct dentry *d, struct jit_fix *fix,
                             unsigned *nfix, unsigned insn_no, unsigned off)
{
    uint32_t insn = (uint32_t)d->imm;
    uint8_t bit = (uint8_t)(1u << ((insn >> 20) & 3));
    jrm(j, false, 0x83, 7, HX(priv));                                   /* cmp dword [priv], M */
    *j->p++ = PRV_M;
    uint8_t *ok1 = jfwd8(j, 0x74), *ok2 = NULL;                         /* je ok */
    for (unsigned k = 0; k < 2; k++) {
        /* test byte [mcounteren / scounteren], bit; jz exit */
        jrm(j, false, 0xf6, 0, k == 0 ? HX(mcounteren) : HX(scounteren));
        *j->p++ = bit;
        *j->p++ = 0x0f; *j->p++ = 0x84;
        fix[*nfix].insn = insn_no;
        fix[*nfix].off = off;
        fix_here(j, ra, &fix[(*nfix)++]);
        if (k == 0) {
            jrm(j, false, 0x83, 7, HX(priv));                           /* cmp dword [priv], S */
            *j->p++ = PRV_S;
            ok2 = jfwd8(j, 0x74);                                       /* je ok */
        }
    }
    jpatch8(j, ok1);
    jpatch8(j, ok2);
    if ((insn >> 20) == 0xc01) {
        static const uint8_t save[] = {
            0x57, 0x56, 0x41, 0x50, 0x41, 0x51, 0x41, 0x52, 0x41, 0x53, /* push rdi, rsi, r8-r11 */
            0x48, 0x83, 0xec, 0x08,                                     /* sub rsp, 8: aligned */
        };
        static const uint8_t restore[] = {
            0x48, 0x83, 0xc4, 0x08,                                     /* add rsp, 8 */
            0x41, 0x5b, 0x41, 0x5a, 0x41, 0x59, 0x41, 0x58, 0x5e, 0x5f, /* pop r11-r8, rsi, rdi */
        };
        jmxcsr(j, 3);                                                   /* stmxcsr [mxcsr] */
        jb(j, sizeof(save), save);
        jrm(j, true, 0x8b, RAX, HX(bus));                               /* mov rax, [bus] */
        uint8_t call[] = {
            0x48, 0x8b, 0x78, (uint8_t)offsetof(struct hart_bus, ctx),  /* mov rdi, [rax + ctx] */
            0xff, 0x50, (uint8_t)offsetof(struct hart_bus, time),       /* call [rax + time] */
        };
        _Static_assert(offsetof(struct hart_bus, time) < 128, "jit hart_bus layout");
        jb(j, sizeof(call), call);
        jb(j, sizeof(restore), restore);
        jmxcsr(j, 2);                                                   /* ldmxcsr [mxcsr] */
    } else {
        jrm(j, true, 0x8b, RAX, HX(instret));                           /* mov rax, [instret] */
        static const uint8_t sub_left[] = { 0x4c, 0x29, 0xd8 };         /* sub rax, r11 */
        jb(j, sizeof(sub_left), sub_left);
        if (insn_no) jalu_imm(j, 0x05, (int32_t)insn_no);               /* add rax, i */
    }
    jset(j, ra, d->rd, RAX);
}

/* ---- floating point (F and D, scalar, on SSE2; FMA on FMA3) ----
 * Translated, for singles and doubles: add, sub, mul, div, sqrt, the four FMAs, sign
 * injection, min/max, compares, classification, moves between x and f, conversions from and to
 * signed and unsigned integers, between single and double, and FP loads and stores, with
 * the rounding modes x86 has: RNE, RTZ, RDN and RUP, static or dynamic (frm is checked at
 * run time to be one of those). RMM (ties away from zero) has no x86 mode: an instruction
 * with a static RMM stays with the interpreter, and one that rounds by frm leaves for it
 * when frm is RMM (or reserved). A mode other than RNE is set in MXCSR.RC around the one
 * instruction that rounds (a conversion to an integer with RTZ truncates instead), and
 * RNE is set back after it, keeping the sticky flags.
 * The host's MXCSR stays in RNE with every exception masked; its sticky flags are RISC-V's
 * fflags once mapped, folded into fcsr when the code returns to the interpreter
 * (jit_fp_end). RISC-V's NaN rules are applied after each operation: a NaN result becomes
 * the canonical NaN, and an FMA of inf * 0 raises NV even with a quiet NaN addend (ISA spec
 * 11.6). A single operand is unboxed as it is read, and a single result written boxed. */
enum fp_kind {
    FK_NONE, FK_ARITH, FK_SQRT, FK_FMA, FK_SGNJ, FK_CMP, FK_MINMAX,
    FK_MVXF, FK_MVFX,        /* fmv.x.w/d, fmv.w/d.x */
    FK_CVTFX, FK_CVTXF,      /* fcvt.s/d.w/wu/l/lu, fcvt.w/wu/l/lu.s/d */
    FK_CVTSD, FK_CVTDS,      /* fcvt.s.d, fcvt.d.s */
    FK_CLASS,
};

static bool host_fma(void)
{
    static int have = -1;
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("fma") != 0;
    }
    return have;
}

/* What the translator does with the FP instruction insn; *dyn says it rounds by frm. The
 * low bit of funct7 (fmt) is 0 for singles, 1 for doubles. */
static enum fp_kind fp_kind(uint32_t insn, bool *dyn)
{
    unsigned f7 = insn >> 25, rm = (insn >> 12) & 7, rs2 = (insn >> 20) & 31;
    bool x86_rm = rm <= 3 || rm == 7;   /* RNE, RTZ, RDN, RUP, or frm (one of those) */
    *dyn = rm == 7;
    switch (insn & 0x7f) {
    case 0x43: case 0x47: case 0x4b: case 0x4f:
        return ((insn >> 25) & 3) <= 1 && x86_rm && host_fma() ? FK_FMA : FK_NONE;
    case 0x53:
        break;
    default:
        return FK_NONE;
    }
    switch (f7 & ~1u) {
    case 0x00: case 0x04: case 0x08: case 0x0c: return x86_rm ? FK_ARITH : FK_NONE;
    case 0x2c: return x86_rm && rs2 == 0 ? FK_SQRT : FK_NONE;
    case 0x68: return x86_rm && rs2 <= 3 ? FK_CVTFX : FK_NONE;
    case 0x60: return x86_rm && rs2 <= 3 ? FK_CVTXF : FK_NONE;
    default: break;
    }
    if (f7 == 0x20)
        return x86_rm && rs2 == 1 ? FK_CVTSD : FK_NONE;
    if (f7 == 0x21)                                  /* exact: any valid rounding mode */
        return (rm <= 4 || rm == 7) && rs2 == 0 ? FK_CVTDS : FK_NONE;
    *dyn = false;
    switch (f7 & ~1u) {
    case 0x10: return rm <= 2 ? FK_SGNJ : FK_NONE;
    case 0x14: return rm <= 1 ? FK_MINMAX : FK_NONE;
    case 0x50: return rm <= 2 ? FK_CMP : FK_NONE;
    case 0x70: return rs2 != 0 ? FK_NONE : rm == 0 ? FK_MVXF : rm == 1 ? FK_CLASS : FK_NONE;
    case 0x78: return rm == 0 && rs2 == 0 ? FK_MVFX : FK_NONE;
    default: return FK_NONE;
    }
}

static bool fp_translatable(uint32_t insn)
{
    bool dyn;
    return fp_kind(insn, &dyn) != FK_NONE;
}

/* op xmm, [rdi + disp] (pfx F2 double, F3 single: 10 movs load, 11 store) */
static void jsse(struct jit_out *j, uint8_t pfx, uint8_t opc, unsigned xmm, int32_t disp)
{
    uint8_t b[4] = { pfx, 0x0f, opc, (uint8_t)(0x87 | xmm << 3) };
    jb(j, 4, b);
    j32(j, (uint32_t)disp);
}

/* op xmm reg, xmm rm, with prefix pfx or none (0). Scalar (pfx F2 double, F3 single): 58
 * add, 59 mul, 5c sub, 5e div, 51 sqrt, 5d min, 5f max, 5a conversion between the two;
 * packed (66 double, none single): 2e ucomis, 2f comis, 54 and, 56 or, 57 xor, 28 mov. */
static void jsse_rr(struct jit_out *j, uint8_t pfx, uint8_t opc, unsigned reg, unsigned rm)
{
    if (pfx) *j->p++ = pfx;
    uint8_t b[3] = { 0x0f, opc, (uint8_t)(0xc0 | reg << 3 | rm) };
    jb(j, 3, b);
}

/* The bytes b, after REX.W when w (a 64-bit operation on the same registers) */
static void jw(struct jit_out *j, bool w, unsigned n, const uint8_t *b)
{
    if (w) *j->p++ = 0x48;
    jb(j, n, b);
}

/* mov reg, imm64 */
static void jmov64(struct jit_out *j, unsigned reg, uint64_t v)
{
    *j->p++ = (uint8_t)(0x48 | (reg >= 8 ? 1 : 0));
    *j->p++ = (uint8_t)(0xb8 | (reg & 7));
    memcpy(j->p, &v, 8);
    j->p += 8;
}

/* eax = f[r] read as a single: its low half if it is NaN-boxed (upper 32 bits all ones),
 * else the canonical NaN (ISA spec 12.2) */
static void jit_unbox_s(struct jit_out *j, unsigned r)
{
    jrm(j, false, 0x8b, RAX, fdisp(r));                                  /* mov eax, [f] */
    jrm(j, false, 0x83, 7, fdisp(r) + 4);                                /* cmp dword [f + 4], -1 */
    *j->p++ = 0xff;
    uint8_t *ok = jfwd8(j, 0x74);                                        /* je ok */
    *j->p++ = 0xb8;                                                      /* mov eax, canonical NaN */
    j32(j, 0x7fc00000u);
    jpatch8(j, ok);
}

/* mov dword [f + 4], -1: a single written to f[r] is NaN-boxed */
static void jit_box(struct jit_out *j, unsigned r)
{
    jrm(j, false, 0xc7, 0, fdisp(r) + 4);
    j32(j, 0xffffffffu);
}

/* xmm = f[r] (a single unboxed, through eax) */
static void jit_fp_ld(struct jit_out *j, bool dbl, unsigned xmm, unsigned r)
{
    if (dbl) {
        jsse(j, 0xf2, 0x10, xmm, fdisp(r));                             /* movsd xmm, [f] */
        return;
    }
    jit_unbox_s(j, r);
    uint8_t b[4] = { 0x66, 0x0f, 0x6e, (uint8_t)(0xc0 | xmm << 3) };     /* movd xmm, eax */
    jb(j, 4, b);
}

/* f[r] = xmm0 (a single boxed) */
static void jit_fp_st(struct jit_out *j, bool dbl, unsigned r)
{
    jsse(j, dbl ? 0xf2 : 0xf3, 0x11, 0, fdisp(r));                      /* movsd/movss [f], xmm0 */
    if (!dbl) jit_box(j, r);
}

/* A NaN in xmm0 becomes the canonical NaN; for an FMA (operands in xmm1, xmm2), inf * 0
 * sets NV. */
static void jit_fp_canon(struct jit_out *j, bool dbl, bool fma)
{
    jsse_rr(j, dbl ? 0x66 : 0, 0x2e, 0, 0);                              /* ucomisd/ss xmm0, xmm0 */
    uint8_t *ok = jfwd8(j, 0x7b);                                        /* jnp ok */
    if (fma) {
        /* the operands' bits shifted left once (no sign): an infinity is all exponent */
        static const uint8_t mvq[] = { 0x66, 0x48, 0x0f, 0x7e, 0xc8, 0x66, 0x48, 0x0f, 0x7e, 0xd1 };
        static const uint8_t mvd[] = { 0x66, 0x0f, 0x7e, 0xc8, 0x66, 0x0f, 0x7e, 0xd1 };
        if (dbl) jb(j, sizeof(mvq), mvq);                                /* movq rax, xmm1; movq rcx, xmm2 */
        else jb(j, sizeof(mvd), mvd);                                    /* movd eax, xmm1; movd ecx, xmm2 */
        static const uint8_t shl_a[] = { 0xd1, 0xe0 }, shl_c[] = { 0xd1, 0xe1 };
        jw(j, dbl, 2, shl_a);                                            /* shl rax/eax, 1 */
        jw(j, dbl, 2, shl_c);                                            /* shl rcx/ecx, 1 */
        if (dbl) jmov64(j, RDX, 0xffe0000000000000ULL);
        else { *j->p++ = 0xba; j32(j, 0xff000000u); }                    /* mov edx, inf << 1 */
        static const uint8_t t1[] = { 0x39, 0xd0 }, t2[] = { 0x39, 0xd1 }; /* cmp rax, rdx; cmp rcx, rdx */
        static const uint8_t tc[] = { 0x85, 0xc9 }, ta[] = { 0x85, 0xc0 }; /* test rcx, rcx; test rax, rax */
        jw(j, dbl, 2, t1);
        uint8_t *n1 = jfwd8(j, 0x75);                                    /* jne n1 */
        jw(j, dbl, 2, tc);
        uint8_t *nv1 = jfwd8(j, 0x74);                                   /* jz nv */
        jpatch8(j, n1);
        jw(j, dbl, 2, t2);
        uint8_t *n2 = jfwd8(j, 0x75);                                    /* jne canon */
        jw(j, dbl, 2, ta);
        uint8_t *n3 = jfwd8(j, 0x75);                                    /* jnz canon */
        jpatch8(j, nv1);
        jrm(j, false, 0x83, 1, HX(fcsr));                                /* or dword [fcsr], NV */
        *j->p++ = 0x10;
        jpatch8(j, n2);
        jpatch8(j, n3);
    }
    if (dbl) {
        jmov64(j, RAX, 0x7ff8000000000000ULL);
        static const uint8_t mv[] = { 0x66, 0x48, 0x0f, 0x6e, 0xc0 };   /* movq xmm0, rax */
        jb(j, sizeof(mv), mv);
    } else {
        *j->p++ = 0xb8;                                                  /* mov eax, 0x7fc00000 */
        j32(j, 0x7fc00000u);
        static const uint8_t mv[] = { 0x66, 0x0f, 0x6e, 0xc0 };         /* movd xmm0, eax */
        jb(j, sizeof(mv), mv);
    }
    jpatch8(j, ok);
}

/* Before the run's first FP instruction (fs), and before its first that rounds by frm
 * (frm): leave for the interpreter, which raises the illegal instruction or rounds as frm
 * says, unless mstatus.FS is on (and frm is RNE, RTZ, RDN or RUP: not RMM, nor reserved).
 * Nothing a run translates writes frm, so it holds for the rest of the run. (After the
 * run's first instruction that changes FP state, the run marks the state dirty as the
 * interpreter does.) */
static void jit_emit_fp_guard(struct jit_out *j, struct ra *ra, bool fs, bool frm, struct jit_fix *fix,
                              unsigned *nfix, unsigned insn, unsigned off)
{
    if (fs) {
        jrm(j, false, 0xf7, 0, HX(mstatus));                             /* test dword [mstatus], FS */
        j32(j, (uint32_t)MSTATUS_FS);
        *j->p++ = 0x0f; *j->p++ = 0x84;                                  /* jz exit */
        fix[*nfix].insn = insn;
        fix[*nfix].off = off;
        fix_here(j, ra, &fix[(*nfix)++]);
    }
    if (frm) {
        static const uint8_t ld[] = { 0x0f, 0xb6, 0x87 };                /* movzx eax, byte [fcsr] */
        jb(j, 3, ld); j32(j, (uint32_t)HX(fcsr));
        static const uint8_t and_[] = { 0x83, 0xe0, 0xe0 };              /* and eax, 0xe0: frm */
        jb(j, 3, and_);
        *j->p++ = 0x3d; j32(j, j->frm << 5);                             /* cmp eax, frm as translated */
        *j->p++ = 0x0f; *j->p++ = 0x85;                                  /* jne exit */
        fix[*nfix].insn = insn;
        fix[*nfix].off = off;
        fix_here(j, ra, &fix[(*nfix)++]);
    }
}

/* At JIT_FLAGS in the code buffer: MXCSR's exception flags (IE, DE, ZE, OE, UE, PE) as
 * RISC-V's fflags (NV, -, DZ, OF, UF, NX), by the low six bits of MXCSR. */
#define JIT_FLAGS 64
static void jit_write_flag_table(uint8_t *base)
{
    for (unsigned m = 0; m < 64; m++)
        base[JIT_FLAGS + m] = (uint8_t)((m & 0x01 ? 0x10 : 0) | (m & 0x04 ? 0x08 : 0) | (m & 0x08 ? 0x04 : 0) |
                                        (m & 0x10 ? 0x02 : 0) | (m & 0x20 ? 0x01 : 0));
}

/* stmxcsr / ldmxcsr [rdi + hart.jit.mxcsr] (ext 3 / 2) */
static void jmxcsr(struct jit_out *j, unsigned ext)
{
    uint8_t b[3] = { 0x0f, 0xae, (uint8_t)(0x87 | ext << 3) };
    jb(j, 3, b);
    j32(j, JX(mxcsr));
}

/* MXCSR.RC for a RISC-V rounding mode: RNE 00, RTZ 11, RDN 01 (down), RUP 10 (up), two bits
 * each from bit 13 of this, by twice the mode */
#define RC_OF_RM (0x9cu << 13)

/* Sets MXCSR.RC for the instruction about to round with rm (1-3: RTZ, RDN, RUP), keeping
 * the sticky flags; RC is 00 (RNE) between instructions. */
static void jit_emit_rc_set(struct jit_out *j, unsigned rm)
{
    jmxcsr(j, 3);                                                         /* stmxcsr [mxcsr] */
    jrm(j, false, 0x81, 1, (int32_t)JX(mxcsr));                           /* or dword [mxcsr], rc */
    j32(j, (RC_OF_RM >> (2 * rm)) & 0x6000);
    jmxcsr(j, 2);                                                         /* ldmxcsr [mxcsr] */
}

/* Sets MXCSR.RC back to RNE after jit_emit_rc_set, keeping the sticky flags. */
static void jit_emit_rc_clear(struct jit_out *j)
{
    jmxcsr(j, 3);                                                         /* stmxcsr [mxcsr] */
    jrm(j, false, 0x81, 4, (int32_t)JX(mxcsr));                           /* and dword [mxcsr], ~RC */
    j32(j, ~0x6000u);
    jmxcsr(j, 2);                                                         /* ldmxcsr [mxcsr] */
}

/* frflags, frcsr, fsflags: fflags is fcsr's flags OR the host's sticky flags not yet folded
 * into it (jit_fp_end); fsflags writes fcsr's and clears the host's. */
static void jit_emit_fflags(struct jit_out *j, struct ra *ra, uint8_t *base, const struct dentry *d)
{
    uint32_t insn = (uint32_t)d->imm;
    bool write = ((insn >> 12) & 7) == 1;
    if ((insn >> 20) == 2) {
        /* frrm: frm is fcsr's alone (nothing translated writes it) */
        jrm(j, false, 0x8b, RAX, HX(fcsr));                               /* mov eax, [fcsr] */
        static const uint8_t b[] = { 0xc1, 0xe8, 0x05, 0x83, 0xe0, 0x07 }; /* shr eax, 5; and eax, 7 */
        jb(j, sizeof(b), b);
        if (d->rd)
            jset(j, ra, d->rd, RAX);
        return;
    }
    jmxcsr(j, 3);                                                         /* stmxcsr [mxcsr] */
    jrm(j, false, 0x8b, RAX, (int32_t)JX(mxcsr));                         /* mov eax, [mxcsr] */
    static const uint8_t and3f[] = { 0x83, 0xe0, 0x3f };                  /* and eax, 0x3f */
    jb(j, 3, and3f);
    static const uint8_t lea[] = { 0x48, 0x8d, 0x0d };                    /* lea rcx, [rip + table] */
    jb(j, 3, lea);
    j32(j, (uint32_t)(int32_t)(base + JIT_FLAGS - (j->p + 4)));
    static const uint8_t ld[] = { 0x0f, 0xb6, 0x04, 0x01 };               /* movzx eax, byte [rcx + rax] */
    jb(j, 4, ld);
    jrm(j, false, 0x0b, RAX, HX(fcsr));                                   /* or eax, [fcsr] */
    *j->p++ = 0x25;                                                       /* and eax, 0x1f / 0xff */
    j32(j, (insn >> 20) == 1 ? 0x1fu : 0xffu);
    if (write) {
        jget(j, ra, RCX, d->rs1);
        static const uint8_t b[] = { 0x83, 0xe1, 0x1f };                  /* and ecx, 0x1f */
        jb(j, 3, b);
        jrm(j, false, 0x83, 4, HX(fcsr));                                 /* and dword [fcsr], ~0x1f */
        *j->p++ = 0xe0;
        jrm(j, false, 0x09, RCX, HX(fcsr));                               /* or [fcsr], ecx */
        jrm(j, false, 0x83, 4, (int32_t)JX(mxcsr));                       /* and dword [mxcsr], ~0x3f */
        *j->p++ = 0xc0;
        jmxcsr(j, 2);                                                     /* ldmxcsr [mxcsr] */
    }
    if (d->rd)
        jset(j, ra, d->rd, RAX);
}

/* fcvt.w/l.s/d of xmm0 into rax (sign-extended from 32 bits for .w), truncating or
 * rounding by MXCSR (RNE). x86 returns the integer indefinite (the minimum) with IE alone
 * for NaN and out of range, PE alone when inexact: RISC-V's NV and NX (ISA spec 11.7,
 * table 11.4), but RISC-V saturates a NaN or a too large value to the maximum. The
 * indefinite from a valid conversion is the minimum and the input negative. */
static void jit_emit_cvt_to_int(struct jit_out *j, bool dbl, bool l, bool rtz)
{
    uint8_t cvt[] = { 0x0f, (uint8_t)(rtz ? 0x2c : 0x2d), 0xc0 };     /* cvt(t)sd/ss2si rax/eax, xmm0 */
    *j->p++ = dbl ? 0xf2 : 0xf3;
    jw(j, l, 3, cvt);
    static const uint8_t ovf[] = { 0x83, 0xf8, 0x01 };                 /* cmp rax/eax, 1: OF only for the minimum */
    jw(j, l, 3, ovf);
    uint8_t *done = jfwd8(j, 0x71);                                     /* jno done */
    jsse_rr(j, dbl ? 0x66 : 0, 0x57, 1, 1);                             /* xorpd/ps xmm1, xmm1 */
    jsse_rr(j, dbl ? 0x66 : 0, 0x2e, 1, 0);                             /* ucomisd/ss xmm1, xmm0 */
    uint8_t *keep = jfwd8(j, 0x77);                                     /* ja done: 0 > input, not NaN */
    static const uint8_t dec[] = { 0xff, 0xc8 };                       /* dec rax/eax: the maximum */
    jw(j, l, 2, dec);
    jpatch8(j, done);
    jpatch8(j, keep);
    if (!l) jsext32(j);
}

/* fcvt.wu/lu.s/d of xmm0 into rax, truncating or rounding by MXCSR. The conversion is done
 * to a signed 64-bit integer (for .lu, a value of 2^63 or more has 2^63 taken off first, which
 * is exact there, and put back after), and any result out of range, with the input's sign,
 * says what RISC-V gives (ISA spec 11.7, table 11.4): the maximum (all ones, also for .wu on
 * RV64) for NaN and too large, 0 for a value that rounds to a negative integer, with NV
 * alone. x86 would have raised PE for an inexact one, so the flags are first put back as
 * they were before the conversion (saved in hart.jit.mxcsr). A value in (-1, 0) that rounds
 * to 0 is no such case: 0, with NX. */
static void jit_emit_cvt_to_uint(struct jit_out *j, bool dbl, bool l, bool rtz)
{
    uint8_t ps = dbl ? 0x66 : 0, ss = dbl ? 0xf2 : 0xf3;
    uint8_t cvt[] = { ss, 0x48, 0x0f, (uint8_t)(rtz ? 0x2c : 0x2d), 0xc0 };  /* cvt(t)sd/ss2si rax, xmm0 */
    static const uint8_t sgn[] = { 0x48, 0x85, 0xc0 };                  /* test rax, rax */
    uint8_t *bad1, *bad2, *done1 = NULL, *done2;
    jmxcsr(j, 3);                                                       /* stmxcsr [mxcsr] */
    if (l) {
        if (dbl) jmov64(j, RAX, 0x43e0000000000000ULL);                 /* 2^63 */
        else { *j->p++ = 0xb8; j32(j, 0x5f000000u); }
        static const uint8_t mvq[] = { 0x66, 0x48, 0x0f, 0x6e, 0xc8 }, mvd[] = { 0x66, 0x0f, 0x6e, 0xc8 };
        if (dbl) jb(j, sizeof(mvq), mvq); else jb(j, sizeof(mvd), mvd); /* movq/movd xmm1, rax */
        jsse_rr(j, ps, 0x2e, 0, 1);                                     /* ucomis xmm0, xmm1 */
        uint8_t *small = jfwd8(j, 0x72);                                /* jb small (or NaN) */
        jsse_rr(j, ss, 0x5c, 0, 1);                                     /* subs xmm0, xmm1 */
        jb(j, sizeof(cvt), cvt);
        jb(j, sizeof(sgn), sgn);
        bad1 = jfwd8(j, 0x78);                                          /* js bad: 2^64 or more (xmm0 stays positive) */
        static const uint8_t bts[] = { 0x48, 0x0f, 0xba, 0xe8, 0x3f };  /* bts rax, 63 */
        jb(j, sizeof(bts), bts);
        done1 = jfwd8(j, 0xeb);                                         /* jmp done */
        jpatch8(j, small);
        jb(j, sizeof(cvt), cvt);
        jb(j, sizeof(sgn), sgn);
        bad2 = jfwd8(j, 0x78);                                          /* js bad */
    } else {
        jb(j, sizeof(cvt), cvt);
        static const uint8_t hi[] = { 0x48, 0x89, 0xc1, 0x48, 0xc1, 0xe9, 0x20 }; /* mov rcx, rax; shr rcx, 32 */
        jb(j, sizeof(hi), hi);
        bad1 = jfwd8(j, 0x75);                                          /* jnz bad */
        jsext32(j);
        bad2 = NULL;
    }
    done2 = jfwd8(j, 0xeb);                                             /* jmp done */
    jpatch8(j, bad1);
    if (bad2) jpatch8(j, bad2);
    jrm(j, false, 0x83, 1, (int32_t)JX(mxcsr));                         /* or dword [mxcsr], IE */
    *j->p++ = 0x01;
    jmxcsr(j, 2);                                                       /* ldmxcsr [mxcsr] */
    jsse_rr(j, ps, 0x57, 1, 1);                                         /* xorpd/ps xmm1, xmm1 */
    jsse_rr(j, ps, 0x2e, 1, 0);                                         /* ucomis xmm1, xmm0 */
    static const uint8_t ones[] = { 0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff }; /* mov rax, -1 */
    jb(j, sizeof(ones), ones);
    uint8_t *keep = jfwd8(j, 0x76);                                     /* jbe done: NaN, or not negative */
    static const uint8_t zero[] = { 0x31, 0xc0 };                       /* xor eax, eax */
    jb(j, 2, zero);
    jpatch8(j, keep);
    if (done1) jpatch8(j, done1);
    jpatch8(j, done2);
}

/* fmin/fmax of xmm0 and xmm1 into xmm0 (ISA spec 11.6, F v2.2): -0 < +0, a NaN operand
 * yields the other, two yield the canonical NaN, and only a signalling NaN raises NV
 * (ucomis's IE). mins/maxs have neither rule, so they see only ordered unequal operands;
 * equal ones (zeros of either sign) are ORed for min, ANDed for max. */
static void jit_emit_minmax(struct jit_out *j, bool dbl, bool max)
{
    uint8_t ps = dbl ? 0x66 : 0, ss = dbl ? 0xf2 : 0xf3;
    jsse_rr(j, ps, 0x2e, 0, 1);                                          /* ucomis xmm0, xmm1 */
    uint8_t *nan = jfwd8(j, 0x7a);                                       /* jp nan */
    uint8_t *ne = jfwd8(j, 0x75);                                        /* jne ne */
    jsse_rr(j, ps, max ? 0x54 : 0x56, 0, 1);                             /* and/or xmm0, xmm1 */
    uint8_t *done1 = jfwd8(j, 0xeb);                                     /* jmp done */
    jpatch8(j, ne);
    jsse_rr(j, ss, max ? 0x5f : 0x5d, 0, 1);                             /* maxs/mins xmm0, xmm1 */
    uint8_t *done2 = jfwd8(j, 0xeb);                                     /* jmp done */
    jpatch8(j, nan);
    jsse_rr(j, ps, 0x2e, 0, 0);                                          /* ucomis xmm0, xmm0 */
    uint8_t *done3 = jfwd8(j, 0x7b);                                     /* jnp done: rs1 is no NaN */
    jsse_rr(j, ps, 0x28, 0, 1);                                          /* mov xmm0, xmm1 */
    jpatch8(j, done1);
    jpatch8(j, done2);
    jpatch8(j, done3);
    jit_fp_canon(j, dbl, false);
}

/* fsgnj, fsgnjn, fsgnjx (f3 0-2): rax = rs1 with its sign from rs2 (through rcx, the sign
 * mask in rdx), in 32 bits for singles */
static void jit_emit_sgnj(struct jit_out *j, bool dbl, unsigned f3, unsigned rs1, unsigned rs2)
{
    if (dbl) {
        jrm(j, true, 0x8b, RCX, fdisp(rs2));
        jmov64(j, RDX, 1ULL << 63);
        jrm(j, true, 0x8b, RAX, fdisp(rs1));
    } else {
        static const uint8_t mv[] = { 0x89, 0xc1 };                       /* mov ecx, eax */
        jit_unbox_s(j, rs2);
        jb(j, 2, mv);
        *j->p++ = 0xba;                                                   /* mov edx, 1 << 31 */
        j32(j, 0x80000000u);
        jit_unbox_s(j, rs1);
    }
    static const uint8_t notc[] = { 0xf7, 0xd1 }, sign[] = { 0x21, 0xd1 }; /* not rcx; and rcx, rdx */
    if (f3 == 1) jw(j, dbl, 2, notc);
    jw(j, dbl, 2, sign);
    if (f3 == 2) {
        static const uint8_t b[] = { 0x31, 0xc8 };                        /* xor rax, rcx */
        jw(j, dbl, 2, b);
    } else {
        static const uint8_t b[] = { 0xf7, 0xd2 }, c[] = { 0x21, 0xd0 }, e[] = { 0x09, 0xc8 };
        jw(j, dbl, 2, b);                                                 /* not rdx */
        jw(j, dbl, 2, c);                                                 /* and rax, rdx */
        jw(j, dbl, 2, e);                                                 /* or rax, rcx */
    }
}

/* fclass of f[r] into rax: one bit of ten (ISA spec 11.9, table 11.5), by the exponent
 * and the mantissa (its top bit the quiet bit): 4 +0, 5 +subnormal, 6 +normal, 7 +inf;
 * their negatives 7 - that; 8 sNaN, 9 qNaN. */
static void jit_emit_class(struct jit_out *j, bool dbl, unsigned r)
{
    if (dbl) jrm(j, true, 0x8b, RAX, fdisp(r));
    else jit_unbox_s(j, r);
    static const uint8_t sgn[] = { 0x89, 0xc2 }, man[] = { 0x89, 0xc1 }; /* mov rdx, rax; mov rcx, rax */
    jw(j, dbl, 2, sgn);
    jw(j, dbl, 2, man);
    uint8_t shm[] = { 0xc1, 0xe1, dbl ? 12 : 9 };                      /* shl rcx: the mantissa at the top */
    jw(j, dbl, 3, shm);
    uint8_t she[] = { 0xd1, 0xe0, 0xc1, 0xe8, dbl ? 53 : 24 };         /* shl rax, 1; shr rax: the exponent */
    jw(j, dbl, 2, she);
    jw(j, dbl, 3, she + 2);
    *j->p++ = 0x3d;                                                    /* cmp eax, the largest */
    j32(j, dbl ? 0x7ff : 0xff);
    uint8_t *special = jfwd8(j, 0x74);                                 /* je special */
    static const uint8_t tz[] = { 0x85, 0xc0 };                        /* test eax, eax */
    jb(j, 2, tz);
    uint8_t *small = jfwd8(j, 0x74);                                   /* jz small */
    static const uint8_t normal[] = { 0xb8, 6, 0, 0, 0 };              /* mov eax, 6 */
    jb(j, 5, normal);
    uint8_t *sign1 = jfwd8(j, 0xeb);                                   /* jmp sign */
    jpatch8(j, small);
    static const uint8_t tm[] = { 0x85, 0xc9 };                        /* test rcx, rcx */
    static const uint8_t zero[] = { 0xb8, 4, 0, 0, 0 };                /* mov eax, 4 */
    jw(j, dbl, 2, tm);
    jb(j, 5, zero);
    uint8_t *sign2 = jfwd8(j, 0x74);                                   /* jz sign */
    static const uint8_t inc[] = { 0xff, 0xc0 };                       /* inc eax: 5 */
    jb(j, 2, inc);
    uint8_t *sign3 = jfwd8(j, 0xeb);                                   /* jmp sign */
    jpatch8(j, special);
    static const uint8_t inf[] = { 0xb8, 7, 0, 0, 0 };                 /* mov eax, 7 */
    jw(j, dbl, 2, tm);
    jb(j, 5, inf);
    uint8_t *sign4 = jfwd8(j, 0x74);                                   /* jz sign */
    uint8_t q[] = { 0xc1, 0xe9, dbl ? 63 : 31 };                       /* shr rcx: the quiet bit */
    jw(j, dbl, 3, q);
    static const uint8_t nan[] = { 0x8d, 0x41, 0x08 };                 /* lea eax, [rcx + 8] */
    jb(j, 3, nan);
    uint8_t *done = jfwd8(j, 0xeb);                                    /* jmp done */
    jpatch8(j, sign1);
    jpatch8(j, sign2);
    jpatch8(j, sign3);
    jpatch8(j, sign4);
    static const uint8_t ts[] = { 0x85, 0xd2 };                        /* test rdx, rdx */
    jw(j, dbl, 2, ts);
    uint8_t *pos = jfwd8(j, 0x79);                                     /* jns done */
    static const uint8_t neg[] = { 0x83, 0xf0, 0x07 };                 /* xor eax, 7 */
    jb(j, 3, neg);
    jpatch8(j, done);
    jpatch8(j, pos);
    static const uint8_t bit[] = { 0x89, 0xc1, 0xb8, 1, 0, 0, 0, 0xd3, 0xe0 }; /* mov ecx, eax; mov eax, 1; shl eax, cl */
    jb(j, sizeof(bit), bit);
}

static void jit_emit_fp_op(struct jit_out *j, struct ra *ra, const struct dentry *d, enum fp_kind k);

/* One FP computational instruction that fp_kind accepted. Singles and doubles take the
 * same path, with operands read by jit_fp_ld and results written by jit_fp_st. */
static void jit_emit_fp(struct jit_out *j, struct ra *ra, const struct dentry *d)
{
    uint32_t insn = (uint32_t)d->imm;
    unsigned f3 = (insn >> 12) & 7;
    bool dyn;
    enum fp_kind k = fp_kind(insn, &dyn);
    /* a mode other than RNE in MXCSR around an instruction that rounds (a conversion to an
     * integer with RTZ truncates instead) */
    bool rounds = k == FK_ARITH || k == FK_SQRT || k == FK_FMA || k == FK_CVTFX || k == FK_CVTSD ||
                  (k == FK_CVTXF && f3 != 1);
    /* by frm: in the mode frm had when the run was made (the run's guard checks it) */
    unsigned rm = f3 == 7 ? j->frm : f3;
    if (rounds && rm != 0) {
        jit_emit_rc_set(j, rm);
        jit_emit_fp_op(j, ra, d, k);
        jit_emit_rc_clear(j);
        return;
    }
    jit_emit_fp_op(j, ra, d, k);
}

/* The instruction itself, for jit_emit_fp, with MXCSR.RC as it must round. */
static void jit_emit_fp_op(struct jit_out *j, struct ra *ra, const struct dentry *d, enum fp_kind k)
{
    uint32_t insn = (uint32_t)d->imm;
    unsigned rd = (insn >> 7) & 31, rs1 = (insn >> 15) & 31, rs2 = (insn >> 20) & 31, rs3 = insn >> 27;
    unsigned f3 = (insn >> 12) & 7, f7 = insn >> 25;
    bool dbl = f7 & 1;
    uint8_t ps = dbl ? 0x66 : 0, ss = dbl ? 0xf2 : 0xf3;
    switch (k) {
    case FK_ARITH: {
        static const uint8_t opc[4] = { 0x58, 0x5c, 0x59, 0x5e };       /* add, sub, mul, div */
        jit_fp_ld(j, dbl, 0, rs1);
        jit_fp_ld(j, dbl, 1, rs2);
        jsse_rr(j, ss, opc[f7 >> 2], 0, 1);
        jit_fp_canon(j, dbl, false);
        jit_fp_st(j, dbl, rd);
        return;
    }
    case FK_SQRT:
        jit_fp_ld(j, dbl, 0, rs1);
        jsse_rr(j, ss, 0x51, 0, 0);
        jit_fp_canon(j, dbl, false);
        jit_fp_st(j, dbl, rd);
        return;
    case FK_FMA: {
        /* vfmadd231 / vfmsub231 / vfnmadd231 / vfnmsub231 (sd: VEX.W1, ss: W0) xmm0, xmm1,
         * xmm2: xmm0 = +-(xmm1 * xmm2) +- xmm0, xmm0 the addend rs3, xmm1 rs1, xmm2 rs2 */
        jit_fp_ld(j, dbl, 0, rs3);
        jit_fp_ld(j, dbl, 1, rs1);
        jit_fp_ld(j, dbl, 2, rs2);
        uint8_t b[5] = { 0xc4, 0xe2, (uint8_t)(dbl ? 0xf1 : 0x71),
                         (uint8_t)(0xb9 + 2 * (((insn & 0x7f) - 0x43) >> 2)), 0xc2 };
        jb(j, 5, b);
        jit_fp_canon(j, dbl, true);
        jit_fp_st(j, dbl, rd);
        return;
    }
    case FK_SGNJ:
        jit_emit_sgnj(j, dbl, f3, rs1, rs2);
        jrm(j, dbl, 0x89, RAX, fdisp(rd));                                /* mov [f], rax/eax */
        if (!dbl) jit_box(j, rd);
        return;
    case FK_MINMAX:
        jit_fp_ld(j, dbl, 0, rs1);
        jit_fp_ld(j, dbl, 1, rs2);
        jit_emit_minmax(j, dbl, f3 == 1);
        jit_fp_st(j, dbl, rd);
        return;
    case FK_CMP:
        jit_fp_ld(j, dbl, 0, rs1);
        jit_fp_ld(j, dbl, 1, rs2);
        if (f3 == 2) {
            jsse_rr(j, ps, 0x2e, 0, 1);                                   /* ucomis xmm0, xmm1: quiet */
            static const uint8_t b[] = { 0x0f, 0x94, 0xc0, 0x0f, 0x9b, 0xc1, 0x20, 0xc8, 0x0f, 0xb6, 0xc0 };
            jb(j, sizeof(b), b);                                          /* sete al; setnp cl; and al, cl; movzx */
        } else {
            jsse_rr(j, ps, 0x2f, 1, 0);                                   /* comis xmm1, xmm0: signalling */
            jsetcc(j, f3 == 1 ? 0x97 : 0x93);                             /* rs2 > rs1: seta; >=: setae */
        }
        jset(j, ra, rd, RAX);
        return;
    case FK_MVXF:
        jrm(j, true, dbl ? 0x8b : 0x63, RAX, fdisp(rs1));                 /* mov rax / movsxd rax, [f] */
        jset(j, ra, rd, RAX);
        return;
    case FK_MVFX:
        jget(j, ra, RAX, rs1);
        jrm(j, dbl, 0x89, RAX, fdisp(rd));                                /* mov [f], rax/eax */
        if (!dbl) jit_box(j, rd);
        return;
    case FK_CVTFX: {
        jget(j, ra, RAX, rs1);
        if (rs2 == 0) jsext32(j);                                         /* fcvt.s/d.w */
        else if (rs2 == 1) { static const uint8_t b[] = { 0x89, 0xc0 }; jb(j, 2, b); } /* .wu: mov eax, eax */
        uint8_t *small = NULL, *done = NULL;
        if (rs2 == 3) {
            /* .lu of 2^63 or more: half of it, its low bit kept as a sticky bit so that it
             * rounds as the whole would (to at most 53 bits of 63), converted and doubled
             * (exact) */
            static const uint8_t half[] = {
                0x48, 0x89, 0xc1,                                         /* mov rcx, rax */
                0x48, 0xd1, 0xe9,                                         /* shr rcx, 1 */
                0x83, 0xe0, 0x01,                                         /* and eax, 1 */
                0x48, 0x09, 0xc1,                                         /* or rcx, rax */
            };
            static const uint8_t test[] = { 0x48, 0x85, 0xc0 };           /* test rax, rax */
            jb(j, sizeof(test), test);
            small = jfwd8(j, 0x79);                                       /* jns small */
            jb(j, sizeof(half), half);
            static const uint8_t cvt2[] = { 0x48, 0x0f, 0x2a, 0xc1 };     /* cvtsi2sd/ss xmm0, rcx */
            *j->p++ = ss;
            jb(j, sizeof(cvt2), cvt2);
            jsse_rr(j, ss, 0x58, 0, 0);                                   /* adds xmm0, xmm0 */
            done = jfwd8(j, 0xeb);                                        /* jmp done */
            jpatch8(j, small);
        }
        static const uint8_t cvt[] = { 0x48, 0x0f, 0x2a, 0xc0 };          /* cvtsi2sd/ss xmm0, rax */
        *j->p++ = ss;
        jb(j, sizeof(cvt), cvt);
        if (done) jpatch8(j, done);
        jit_fp_st(j, dbl, rd);
        return;
    }
    case FK_CVTXF:
        jit_fp_ld(j, dbl, 0, rs1);
        if (rs2 & 1) jit_emit_cvt_to_uint(j, dbl, rs2 == 3, f3 == 1);
        else jit_emit_cvt_to_int(j, dbl, rs2 == 2, f3 == 1);
        jset(j, ra, rd, RAX);
        return;
    case FK_CLASS:
        jit_emit_class(j, dbl, rs1);
        jset(j, ra, rd, RAX);
        return;
    case FK_CVTSD: case FK_CVTDS:
        /* fcvt.s.d rounds (its NaN made canonical), fcvt.d.s is exact (likewise) */
        jit_fp_ld(j, !dbl, 0, rs1);
        jsse_rr(j, dbl ? 0xf3 : 0xf2, 0x5a, 0, 0);                       /* cvtss2sd / cvtsd2ss xmm0, xmm0 */
        jit_fp_canon(j, dbl, false);
        jit_fp_st(j, dbl, rd);
        return;
    default:
        return;
    }
}

/* Compares x[rs1] with x[rs2] (with 0: test) in their host registers, for a branch. */
static void jit_emit_cmp(struct jit_out *j, struct ra *ra, const struct dentry *d)
{
    unsigned h1 = ra_get(j, ra, d->rs1);
    if (d->rs2 == 0) {
        jrr1(j, 0x85, h1, h1);                                            /* test h1, h1 */
        return;
    }
    unsigned h2 = ra_get(j, ra, d->rs2);
    jrr1(j, 0x3b, h1, h2);                                                /* cmp h1, h2 */
}

/* Emits the control transfer that ends a run (the run's last instruction, at offset off
 * from the run's pc, which is at page offset start), then goes on to the next pc. */
static void jit_emit_end(struct jit_out *j, uint8_t *base, struct ra *ra, uint8_t op, const struct dentry *d,
                         unsigned start, unsigned off, unsigned done)
{
    int32_t next = (int32_t)(off + d->len), target = (int32_t)off + d->imm;
    if (op == F_JAL) {
        if (d->rd) { jlea_pc(j, RCX, next); jset(j, ra, d->rd, RCX); }   /* x[rd] = link */
        ra_flush(j, ra);
        jit_emit_next(j, base, done, target, (int32_t)start + target);
    } else {
        static const uint8_t clr[] = { 0x48, 0x83, 0xe0, 0xfe };          /* and rax, ~1 */
        jget(j, ra, RAX, d->rs1);
        if (d->imm) jalu_imm(j, 0x05, d->imm);
        jb(j, 4, clr);
        if (d->rd) { jlea_pc(j, RCX, next); jset(j, ra, d->rd, RCX); }
        ra_flush(j, ra);
        jit_emit_next_dyn(j, base, done);
    }
}

/* Division with the RISC-V results for a zero divisor and for overflow, which trap on
 * x86: quotient in rax, remainder in rdx (sign-extended from 32 bits for the W forms). */
static void jit_emit_div(struct jit_out *j, struct ra *ra, uint8_t op, const struct dentry *d)
{
    bool w = op == F_DIVUW || op == F_REMUW, sgn = op == F_DIV || op == F_REM;
    bool rem = op == F_REM || op == F_REMU || op == F_REMUW;
    jget(j, ra, RCX, d->rs2);
    jget(j, ra, RAX, d->rs1);
    if (w) { static const uint8_t b[] = { 0x89, 0xc9, 0x89, 0xc0 }; jb(j, 4, b); } /* mov ecx, ecx; mov eax, eax */
    static const uint8_t test[] = { 0x48, 0x85, 0xc9 };                  /* test rcx, rcx */
    jb(j, 3, test);
    uint8_t *zero = jfwd8(j, 0x74), *ovf = NULL, *end1 = NULL;           /* jz zero */
    if (sgn) {
        static const uint8_t m1[] = { 0x48, 0x83, 0xf9, 0xff };           /* cmp rcx, -1 */
        jb(j, 4, m1);
        uint8_t *norm = jfwd8(j, 0x75);                                   /* jne norm */
        if (rem) { static const uint8_t b[] = { 0x31, 0xd2 }; jb(j, 2, b); }             /* xor edx, edx */
        else { static const uint8_t b[] = { 0x48, 0xf7, 0xd8 }; jb(j, 3, b); }          /* neg rax */
        ovf = jfwd8(j, 0xeb);                                             /* jmp end */
        jpatch8(j, norm);
        static const uint8_t b[] = { 0x48, 0x99, 0x48, 0xf7, 0xf9 };      /* cqo; idiv rcx */
        jb(j, 5, b);
    } else if (w) {
        static const uint8_t b[] = { 0x31, 0xd2, 0xf7, 0xf1 };            /* xor edx, edx; div ecx */
        jb(j, 4, b);
    } else {
        static const uint8_t b[] = { 0x31, 0xd2, 0x48, 0xf7, 0xf1 };      /* xor edx, edx; div rcx */
        jb(j, 5, b);
    }
    end1 = jfwd8(j, 0xeb);                                                /* jmp end */
    jpatch8(j, zero);
    if (rem) { static const uint8_t b[] = { 0x48, 0x89, 0xc2 }; jb(j, 3, b); }               /* mov rdx, rax */
    else { static const uint8_t b[] = { 0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff }; jb(j, 7, b); } /* mov rax, -1 */
    jpatch8(j, end1);
    if (ovf) jpatch8(j, ovf);
    if (w) {
        if (rem) { static const uint8_t b[] = { 0x48, 0x63, 0xd2 }; jb(j, 3, b); }   /* movsxd rdx, edx */
        else jsext32(j);
    }
}

/* rd = rs1 op rs2 straight in host registers (opc: 03 add, 2b sub, 33 xor, 0b or, 23 and,
 * 0f af imul), with a 32-bit result sign-extended for the W forms. */
static void jit_emit_rr(struct jit_out *j, struct ra *ra, unsigned nopc, const uint8_t *opc, bool commutes,
                        bool w32, const struct dentry *d)
{
    static const uint8_t mov = 0x8b, movsxd = 0x63;
    if (d->rs1 == 0 && !commutes) {
        /* neg, negw: rd = 0 - rs2 (sub and subw are the only ops here that do not commute);
         * negw of a value in [0, 2^31) is its 64-bit negation */
        unsigned h2 = ra_get(j, ra, d->rs2), hd = ra_def(j, ra, d->rd);
        static const uint8_t neg[] = { 0x48, 0xf7, 0xd8 };                 /* neg rax */
        jrr1(j, mov, RAX, h2);
        jb(j, 3, neg);
        if (w32 && !(ra->small >> d->rs2 & 1)) jrr(j, true, 1, &movsxd, hd, RAX);
        else jrr1(j, mov, hd, RAX);
        return;
    }
    unsigned h1 = ra_get(j, ra, d->rs1), h2 = ra_get(j, ra, d->rs2);
    unsigned hd = ra_def(j, ra, d->rd);
    if (w32 || (hd == h2 && hd != h1 && !commutes)) {
        jrr1(j, mov, RAX, h1);
        jrr(j, true, nopc, opc, RAX, h2);
        if (w32) jrr(j, true, 1, &movsxd, hd, RAX);
        else jrr1(j, mov, hd, RAX);
        return;
    }
    if (hd == h2 && hd != h1) {
        jrr(j, true, nopc, opc, hd, h1);
        return;
    }
    if (hd != h1) jrr1(j, mov, hd, h1);
    jrr(j, true, nopc, opc, hd, h2);
}

/* rd = rs1 + imm as one lea */
static void jit_emit_addi(struct jit_out *j, struct ra *ra, const struct dentry *d)
{
    unsigned h1 = ra_get(j, ra, d->rs1);
    unsigned hd = ra_def(j, ra, d->rd);
    bool short_disp = d->imm >= -128 && d->imm <= 127;
    *j->p++ = (uint8_t)(0x48 | (hd >= 8 ? 4 : 0) | (h1 >= 8 ? 1 : 0));
    *j->p++ = 0x8d;
    *j->p++ = (uint8_t)((short_disp ? 0x40 : 0x80) | (hd & 7) << 3 | (h1 & 7));
    if ((h1 & 7) == 4) *j->p++ = 0x24;                 /* SIB: base r12, no index */
    if (short_disp) *j->p++ = (uint8_t)d->imm;
    else j32(j, (uint32_t)d->imm);
}

/* rd = rs1 op imm: ext is the /digit of 81 (0 add, 1 or, 4 and, 6 xor) or of c1 (4 shl,
 * 5 shr, 7 sar) */
static void jit_emit_ri(struct jit_out *j, struct ra *ra, bool shift, unsigned ext, const struct dentry *d)
{
    unsigned h1 = ra_get(j, ra, d->rs1);
    unsigned hd = ra_def(j, ra, d->rd);
    if (hd != h1) jrr1(j, 0x8b, hd, h1);
    if (shift) {
        jrr1(j, 0xc1, ext, hd);
        *j->p++ = (uint8_t)d->imm;
    } else if (d->imm >= -128 && d->imm <= 127) {
        jrr1(j, 0x83, ext, hd);
        *j->p++ = (uint8_t)d->imm;
    } else {
        jrr1(j, 0x81, ext, hd);
        j32(j, (uint32_t)d->imm);
    }
}

/* The W forms with an immediate: a 32-bit lea or shift into eax, sign-extended into x[rd]
 * (addiw 0, sext.w, is one movsxd). */
static void jit_emit_w_imm(struct jit_out *j, struct ra *ra, uint8_t op, const struct dentry *d)
{
    static const uint8_t movsxd = 0x63, mov = 0x8b;
    unsigned h1 = ra_get(j, ra, d->rs1);
    unsigned hd = ra_def(j, ra, d->rd);
    if (op == F_ADDIW && d->imm == 0) {
        jrr(j, true, 1, &movsxd, hd, h1);                                 /* movsxd hd, h1d */
        return;
    }
    if (op == F_ADDIW) {
        bool short_disp = d->imm >= -128 && d->imm <= 127;               /* lea eax, [h1 + imm] */
        if (h1 >= 8) *j->p++ = 0x41;
        *j->p++ = 0x8d;
        *j->p++ = (uint8_t)((short_disp ? 0x40 : 0x80) | (h1 & 7));
        if ((h1 & 7) == 4) *j->p++ = 0x24;
        if (short_disp) *j->p++ = (uint8_t)d->imm;
        else j32(j, (uint32_t)d->imm);
    } else if (op == F_SRLIW && d->imm) {
        /* bit 31 of the result is 0: the 32-bit shift's zero extension is the sign extension */
        if (hd != h1) jrr(j, false, 1, &mov, hd, h1);                     /* mov hdd, h1d */
        jrr(j, false, 1, (const uint8_t[]){ 0xc1 }, 5, hd);                /* shr hdd, imm */
        *j->p++ = (uint8_t)d->imm;
        return;
    } else {
        jrr(j, false, 1, &mov, RAX, h1);                                  /* mov eax, h1d */
        jshift_imm(j, false, op == F_SLLIW ? 0xe0 : op == F_SRLIW ? 0xe8 : 0xf8, (unsigned)d->imm);
    }
    jrr(j, true, 1, &movsxd, hd, RAX);                                    /* movsxd hd, eax */
}

/* rd = rs (x0 an operand of add, or, xor, sub or their W forms: a copy), sign-extended
 * from 32 bits for the W forms */
static void jit_emit_copy(struct jit_out *j, struct ra *ra, unsigned rs, bool w32, const struct dentry *d)
{
    static const uint8_t movsxd = 0x63;
    unsigned h = ra_get(j, ra, rs), hd = ra_def(j, ra, d->rd);
    if (w32) jrr(j, true, 1, &movsxd, hd, h);
    else if (hd != h) jrr1(j, 0x8b, hd, h);
}

/* slt, sltu, slti, sltiu: a compare of the host registers (or with the immediate), then
 * setcc straight into x[rd] */
static void jit_emit_slt(struct jit_out *j, struct ra *ra, uint8_t op, const struct dentry *d)
{
    unsigned h1 = ra_get(j, ra, d->rs1);
    if (op == F_SLTI || op == F_SLTIU) {
        bool short_imm = d->imm >= -128 && d->imm <= 127;
        jrr1(j, short_imm ? 0x83 : 0x81, 7, h1);                         /* cmp h1, imm */
        if (short_imm) *j->p++ = (uint8_t)d->imm;
        else j32(j, (uint32_t)d->imm);
    } else if (d->rs2 == 0) {
        jrr1(j, 0x85, h1, h1);                                            /* test h1, h1 */
    } else {
        jrr1(j, 0x3b, h1, ra_get(j, ra, d->rs2));                         /* cmp h1, h2 */
    }
    unsigned hd = ra_def(j, ra, d->rd);                                   /* (a write-back keeps the flags) */
    bool sgn = op == F_SLT || op == F_SLTI;
    uint8_t set[3] = { 0x0f, sgn ? 0x9c : 0x92, 0xc0 };                   /* setl / setb al */
    jb(j, 3, set);
    jrr(j, false, 2, (const uint8_t[]){ 0x0f, 0xb6 }, hd, RAX);           /* movzx hdd, al */
}

/* Emits one ALU instruction: the result in rax (rdx for mulh), then into x[rd]. */
static void jit_emit(struct jit_out *j, struct ra *ra, uint8_t op, const struct dentry *d, unsigned off)
{
    static const uint8_t rr_opc[] = { [F_ADD] = 0x03, [F_SUB] = 0x2b, [F_XOR] = 0x33, [F_OR] = 0x0b,
                                      [F_AND] = 0x23, [F_ADDW] = 0x03, [F_SUBW] = 0x2b };
    unsigned result = RAX;
    if (op == F_NOP)
        return;
    if (op == F_FENCE) {
        static const uint8_t b[3] = { 0x0f, 0xae, 0xf0 }; /* mfence */
        jb(j, 3, b);
        return;
    }
    static const uint8_t imul[2] = { 0x0f, 0xaf };
    /* x0 as an operand: mv (c.mv is add rd, x0, rs), sext.w and the like are copies */
    if ((op == F_ADD || op == F_XOR || op == F_OR || op == F_ADDW) && (d->rs1 == 0 || d->rs2 == 0)) {
        jit_emit_copy(j, ra, d->rs1 ? d->rs1 : d->rs2, op == F_ADDW, d);
        return;
    }
    if ((op == F_SUB || op == F_SUBW) && d->rs2 == 0) {
        jit_emit_copy(j, ra, d->rs1, op == F_SUBW, d);
        return;
    }
    switch (op) {
    case F_ADD: case F_XOR: case F_OR: case F_AND: jit_emit_rr(j, ra, 1, &rr_opc[op], true, false, d); return;
    case F_SUB: jit_emit_rr(j, ra, 1, &rr_opc[op], false, false, d); return;
    case F_ADDW: jit_emit_rr(j, ra, 1, &rr_opc[op], true, true, d); return;
    case F_SUBW: jit_emit_rr(j, ra, 1, &rr_opc[op], false, true, d); return;
    case F_MUL: jit_emit_rr(j, ra, 2, imul, true, false, d); return;
    case F_MULW: jit_emit_rr(j, ra, 2, imul, true, true, d); return;
    case F_ADDI: jit_emit_addi(j, ra, d); return;
    case F_XORI: jit_emit_ri(j, ra, false, 6, d); return;
    case F_ORI: jit_emit_ri(j, ra, false, 1, d); return;
    case F_ANDI: jit_emit_ri(j, ra, false, 4, d); return;
    case F_SLLI: jit_emit_ri(j, ra, true, 4, d); return;
    case F_SRLI: jit_emit_ri(j, ra, true, 5, d); return;
    case F_SRAI: jit_emit_ri(j, ra, true, 7, d); return;
    case F_LUI: { uint8_t b[3] = { 0x48, 0xc7, 0xc0 }; jb(j, 3, b); j32(j, (uint32_t)d->imm); break; }
    case F_AUIPC: jlea_pc(j, RAX, (int32_t)off + d->imm); break;
    case F_SLTI: case F_SLTIU: case F_SLT: case F_SLTU: jit_emit_slt(j, ra, op, d); return;
    case F_SLL: case F_SRL: case F_SRA: {
        uint8_t b[3] = { 0x48, 0xd3, op == F_SLL ? 0xe0 : op == F_SRL ? 0xe8 : 0xf8 };
        jget(j, ra, RAX, d->rs1); jget(j, ra, RCX, d->rs2); jb(j, 3, b); break;
    }
    case F_ADDIW: case F_SLLIW: case F_SRLIW: case F_SRAIW: jit_emit_w_imm(j, ra, op, d); return;
    case F_MULH: case F_MULHU:
        /* one-operand imul/mul: rdx = the high half */
        jget(j, ra, RAX, d->rs1);
        jrr1(j, 0xf7, op == F_MULH ? 5 : 4, ra_get(j, ra, d->rs2));
        result = RDX;
        break;
    case F_MINU: case F_MAXU: {
        uint8_t b[4] = { 0x48, 0x0f, op == F_MINU ? 0x47 : 0x42, 0xc1 }; /* cmova/cmovb rax, rcx */
        jget(j, ra, RAX, d->rs1); jget(j, ra, RCX, d->rs2);
        static const uint8_t c[3] = { 0x48, 0x39, 0xc8 };                 /* cmp rax, rcx */
        jb(j, 3, c); jb(j, 4, b); break;
    }
    case F_REV8: { static const uint8_t b[3] = { 0x48, 0x0f, 0xc8 }; jget(j, ra, RAX, d->rs1); jb(j, 3, b); break; }
    case F_DIV: case F_DIVU: case F_REM: case F_REMU: case F_DIVUW: case F_REMUW:
        jit_emit_div(j, ra, op, d);
        result = op == F_REM || op == F_REMU || op == F_REMUW ? RDX : RAX;
        break;
    case F_ORCB: {
        static const uint8_t b[] = {
            0x66, 0x48, 0x0f, 0x6e, 0xc0,  /* movq xmm0, rax */
            0x66, 0x0f, 0xef, 0xc9,        /* pxor xmm1, xmm1 */
            0x66, 0x0f, 0x74, 0xc1,        /* pcmpeqb xmm0, xmm1: 0xff where a byte is 0 */
            0x66, 0x48, 0x0f, 0x7e, 0xc0,  /* movq rax, xmm0 */
            0x48, 0xf7, 0xd0,              /* not rax */
        };
        jget(j, ra, RAX, d->rs1); jb(j, sizeof(b), b); break;
    }
    case F_CTZ: case F_CLZ: {
        /* bsf/bsr leave ZF set for 0: then 64 (clz: 127 ^ 63) */
        uint8_t b[] = { 0xb9, op == F_CTZ ? 64 : 127, 0, 0, 0,   /* mov ecx, 64 / 127 */
                        0x48, 0x0f, op == F_CTZ ? 0xbc : 0xbd, 0xc0, /* bsf/bsr rax, rax */
                        0x48, 0x0f, 0x44, 0xc1 };                /* cmovz rax, rcx */
        jget(j, ra, RAX, d->rs1); jb(j, sizeof(b), b);
        if (op == F_CLZ) { static const uint8_t x[3] = { 0x83, 0xf0, 0x3f }; jb(j, 3, x); } /* xor eax, 63 */
        break;
    }
    case F_ADDUW: {
        static const uint8_t mov = 0x8b;                                  /* mov eax, host32 */
        jrr(j, false, 1, &mov, RAX, ra_get(j, ra, d->rs1));
        jop(j, ra, 0x03, d->rs2);
        break;
    }
    case F_SH1ADD: case F_SH2ADD: case F_SH3ADD:
        jget(j, ra, RAX, d->rs1); jshift_imm(j, true, 0xe0, op == F_SH1ADD ? 1 : op == F_SH2ADD ? 2 : 3);
        jop(j, ra, 0x03, d->rs2); break;
    case F_ANDN: {
        static const uint8_t b[6] = { 0x48, 0xf7, 0xd1, 0x48, 0x21, 0xc8 }; /* not rcx; and rax, rcx */
        jget(j, ra, RAX, d->rs1); jget(j, ra, RCX, d->rs2); jb(j, 6, b); break;
    }
    default: return;
    }
    jset(j, ra, d->rd, result);
}


/* The integer registers op reads (used) and writes (written). */
static void int_regs(uint8_t op, const struct dentry *d, uint32_t *used, uint32_t *written)
{
    bool dyn;
    if (op == F_NOP || op == F_FENCE)
        return;
    if (op == F_FPOP) {
        switch (fp_kind((uint32_t)d->imm, &dyn)) {
        case FK_CMP: case FK_MVXF: case FK_CVTXF: case FK_CLASS: if (d->rd) *written |= 1u << d->rd; break;
        case FK_MVFX: case FK_CVTFX: *used |= 1u << d->rs1; break;
        default: break;
        }
        return;
    }
    if (op >= F_FLW && op <= F_FSD) {
        *used |= 1u << d->rs1;  /* the address; the value is an FP register */
        return;
    }
    if (op == F_AMO) {
        *used |= 1u << d->rs1 | 1u << d->rs2;  /* lr's rs2 is x0 */
        if (d->rd) *written |= 1u << d->rd;
        return;
    }
    if (op == F_COUNTER) {
        if (d->rd) *written |= 1u << d->rd;
        return;
    }
    if (op == F_FFLAGS) {
        if (d->rd) *written |= 1u << d->rd;
        if ((((uint32_t)d->imm >> 12) & 7) == 1) *used |= 1u << d->rs1;
        return;
    }
    if (op != F_LUI && op != F_AUIPC)
        *used |= 1u << d->rs1;
    if (op_reads_rs2(op))
        *used |= 1u << d->rs2;
    if (!(op >= F_SB && op <= F_SD) && !(op >= F_BEQ && op <= F_BGEU) && d->rd)
        *written |= 1u << d->rd;
}

/* A run whose registers all fit in host registers is pinned: it loads them all first, and
 * everything it writes counts as changed from the start, so that the mapping of guest to
 * host registers is the same at every instruction and a branch to an instruction of the
 * run can jump straight to its code (loops stay in host registers); every way out writes
 * back what it wrote. */
static bool jit_pin(struct jit_out *j, struct ra *ra, const struct dentry *d, const uint8_t *ops, unsigned count)
{
    uint32_t used = 0, written = 0;
    for (unsigned i = 0; i < count; i++)
        int_regs(ops[i], &d[i], &used, &written);
    used = (used | written) & ~1u;  /* x0 is never held (ra_get) */
    if (__builtin_popcount(used) > RA_N)
        return false;
    for (unsigned r = 0; r < 32; r++)
        if (used >> r & 1)
            ra_get(j, ra, r);
    for (unsigned r = 1; r < 32; r++)
        if (written >> r & 1)
            ra->dirty[ra->slot_of[r]] = true;
    return true;
}

/* An internal jump to be patched: the rel32 at at goes to instruction target. */
struct jit_link { uint8_t *at; unsigned target; };

/* True if op (decoded as d) leaves a value in [0, 2^31) in rd. */
static bool result_small(uint8_t op, const struct dentry *d)
{
    switch (op) {
    case F_ANDI: return d->imm >= 0;
    case F_LBU: case F_LHU: case F_SLT: case F_SLTU: case F_SLTI: case F_SLTIU: return true;
    case F_SRLIW: return d->imm >= 1;
    case F_SRLI: return d->imm >= 33;
    default: return false;
    }
}

uint8_t *jit_backend_emit_run(uint8_t *base, uint8_t *at_code, const struct dentry *d, const uint8_t *ops,
                              unsigned count, bool end, unsigned off, unsigned frm)
{
    static const uint8_t cc[] = { [F_BEQ] = 0x84, [F_BNE] = 0x85, [F_BLT] = 0x8c, [F_BGE] = 0x8d,
                                  [F_BLTU] = 0x82, [F_BGEU] = 0x83 };
    struct jit_out j = { at_code, frm <= 3 ? frm : 0 };
    struct jit_fix fix[3 * JIT_RUN_MAX];  /* three an instruction at most: a load (one) and FP checks (two), an AMO (two) */
    unsigned nfix = 0;
    struct ra ra;
    ra_init(&ra);
    /* each instruction's offset from the run's pc, and which are targets of the run's own
     * branches (there the FP checks made earlier in the run cannot be relied on) */
    unsigned at_of[JIT_RUN_MAX + 1];
    bool target[JIT_RUN_MAX + 1] = { false };
    int tgt_of[JIT_RUN_MAX];
    at_of[0] = 0;
    for (unsigned i = 0; i < count; i++)
        at_of[i + 1] = at_of[i] + d[i].len;
    bool any_internal = false;
    for (unsigned i = 0; i < count; i++) {
        tgt_of[i] = -1;
        if (ops[i] < F_BEQ || ops[i] > F_BGEU)
            continue;
        int64_t t = (int64_t)at_of[i] + d[i].imm;
        for (unsigned k = 0; k < count; k++)
            if ((int64_t)at_of[k] == t)
                tgt_of[i] = (int)k;
        any_internal |= tgt_of[i] >= 0;
    }
    bool pinned = any_internal && jit_pin(&j, &ra, d, ops, count);
    uint8_t *lab[JIT_RUN_MAX];
    struct jit_link link[JIT_RUN_MAX];
    unsigned nlink = 0;
    if (pinned)
        for (unsigned i = 0; i < count; i++)
            if (tgt_of[i] >= 0)
                target[tgt_of[i]] = true;
    bool fs_checked = false, frm_checked = false, fs_dirty = false;
    for (unsigned i = 0; i < count; i++) {
        unsigned at = at_of[i];
        lab[i] = j.p;
        if (target[i]) {
            fs_checked = frm_checked = fs_dirty = false;
            ra.small = 0; /* reached from the loop's end too */
        }
        bool mark_dirty = false;
        if (op_is_fp(ops[i])) {
            bool dyn = false;
            if (ops[i] == F_FPOP)
                fp_kind((uint32_t)d[i].imm, &dyn);
            mark_dirty = op_dirties_fs(ops[i], &d[i]) && !fs_dirty;
            if (!fs_checked || (dyn && !frm_checked))
                jit_emit_fp_guard(&j, &ra, !fs_checked, dyn && !frm_checked, fix, &nfix, i, at);
            fs_checked = true;
            frm_checked |= dyn;
            fs_dirty |= mark_dirty;
        }
        if (end && i == count - 1) {
            jit_emit_end(&j, base, &ra, ops[i], &d[i], off, at, count);
        } else if (ops[i] >= F_BEQ && ops[i] <= F_BGEU) {
            /* taken: to an instruction of the run (pinned), or out; not taken: on */
            if (!pinned) {
                ra_get(&j, &ra, d[i].rs1);
                if (d[i].rs2)
                    ra_get(&j, &ra, d[i].rs2);
            }
            jit_emit_cmp(&j, &ra, &d[i]);
            uint8_t b2[2] = { 0x0f, (uint8_t)(cc[ops[i]] ^ 1) };                 /* j!cc on */
            jb(&j, 2, b2);
            uint8_t *on = j.p;
            j32(&j, 0);
            int t = pinned ? tgt_of[i] : -1;
            int32_t toff = (int32_t)at + d[i].imm;
            if (t >= 0 && (unsigned)t <= i) {
                /* a loop: count the instructions done since as if the run had been entered
                 * at its start and gone straight to t (what every way out counts from), go
                 * round while the budget lasts, else leave at t */
                jleft(&j, i + 1 - (unsigned)t);
                uint8_t g[2] = { 0x0f, 0x8f };                                  /* jg lab[t] */
                jb(&j, 2, g);
                j32(&j, (uint32_t)(int32_t)(lab[t] - (j.p + 4)));
                struct ra keep = ra;
                ra_flush(&j, &ra);
                if (t > 0)
                    jleft(&j, (unsigned)t);                                     /* 0..t-1, counted at t */
                jlea_pc(&j, RAX, toff);
                jret(&j, base, false);
                ra = keep;
            } else if (t >= 0) {
                /* forward in the run: the instructions skipped count as if done */
                uint8_t b3[4] = { 0x49, 0x83, 0xc3, (uint8_t)((unsigned)t - i - 1) }; /* add r11, skipped */
                if ((unsigned)t > i + 1)
                    jb(&j, 4, b3);
                *j.p++ = 0xe9;                                                  /* jmp lab[t] */
                link[nlink].at = j.p;
                link[nlink++].target = (unsigned)t;
                j32(&j, 0);
            } else {
                struct ra keep = ra;
                ra_flush(&j, &ra);
                jit_emit_next(&j, base, i + 1, toff, (int32_t)off + toff);
                ra = keep;
            }
            int32_t rel = (int32_t)(j.p - (on + 4));
            memcpy(on, &rel, 4);
        } else if (op_is_mem(ops[i])) {
            fix[nfix].insn = i;
            fix[nfix].off = at;
            jit_emit_mem(&j, &ra, ops[i], &d[i], &fix[nfix]);
            nfix++;
        } else if (ops[i] == F_AMO) {
            jit_emit_amo(&j, &ra, &d[i], fix, &nfix, i, at);
        } else if (ops[i] == F_FPOP) {
            jit_emit_fp(&j, &ra, &d[i]);
        } else if (ops[i] == F_COUNTER) {
            jit_emit_counter(&j, &ra, &d[i], fix, &nfix, i, at);
        } else if (ops[i] == F_FFLAGS) {
            jit_emit_fflags(&j, &ra, base, &d[i]);
        } else {
            jit_emit(&j, &ra, ops[i], &d[i], at);
        }
        /* what the instruction wrote: every instruction that writes an x register names it
         * in rd (those that do not only make this forget more) */
        ra.small &= ~(1u << d[i].rd);
        if (result_small(ops[i], &d[i]))
            ra.small |= 1u << d[i].rd;
        if (mark_dirty) {
            /* after the instruction: a load that leaves for the interpreter (and faults
             * there) must not have marked it */
            jrm(&j, false, 0x81, 1, HX(mstatus));                               /* or dword [mstatus], FS */
            j32(&j, (uint32_t)MSTATUS_FS);
        }
    }
    for (unsigned l = 0; l < nlink; l++) {
        int32_t rel = (int32_t)(lab[link[l].target] - (link[l].at + 4));
        memcpy(link[l].at, &rel, 4);
    }
    if (!end) {
        ra_flush(&j, &ra);
        jit_emit_next(&j, base, count, (int32_t)at_of[count], (int32_t)(off + at_of[count]));
    }
    /* exit stubs: write back what changed before the instruction that missed, count the
     * instructions done before it, and leave with its pc */
    for (unsigned f = 0; f < nfix; f++) {
        int32_t rel = (int32_t)(j.p - (fix[f].at + 4));
        memcpy(fix[f].at, &rel, 4);
        for (unsigned w = 0; w < fix[f].nwb; w++)
            jrm(&j, true, 0x89, fix[f].wb_host[w], xdisp(fix[f].wb_guest[w]));
        if (fix[f].insn)
            jleft(&j, fix[f].insn);
        jlea_pc(&j, RAX, (int32_t)fix[f].off);
        jret(&j, base, true);
    }
    return j.p;
}

#endif
