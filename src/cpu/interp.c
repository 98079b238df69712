/* The interpreter: runs guest code from the decoded pages of the code cache, one handler per
 * fast_op, and enters translated runs where the translator made them. What it does not
 * handle itself goes to the slow path (exec_one).
 * Hot path: dense on purpose, one function, so the compiler keeps state in registers. Each
 * handler ends in its own indirect jump (threaded code), which the host's branch predictor
 * handles far better than one central switch. */
#include "cpu/alu.h"
#include "cpu/codecache.h"
#include "cpu/decode.h"
#include "cpu/exec.h"
#include "cpu/jit/jit.h"
#include "cpu/slowpath.h"
#include "cpu/tlb.h"

/* Never matches: the data TLB set used while every access must take the slow path. */
static struct tlb_entry no_tlb[TLB_RD_SIZE];

/* no-gcse, no-crossjumping: keep the copies of the dispatch apart (see NEXT); gcc's
 * options, which clang (the fuzz builds) does not know */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-gcse", "no-crossjumping")))
#endif
static unsigned interp_block(struct hart *h, unsigned max)
{
    static const void *const labels[F_COUNT] = {
        [F_DECODE] = &&do_decode, [F_GENERIC] = &&op_generic, [F_CROSS] = &&op_cross,
        [F_NOP] = &&op_nop, [F_FENCE] = &&op_fence,
        [F_LUI] = &&op_lui, [F_AUIPC] = &&op_auipc, [F_JAL] = &&op_jal, [F_JALR] = &&op_jalr,
        [F_BEQ] = &&op_beq, [F_BNE] = &&op_bne, [F_BLT] = &&op_blt, [F_BGE] = &&op_bge,
        [F_BLTU] = &&op_bltu, [F_BGEU] = &&op_bgeu,
        [F_LB] = &&op_lb, [F_LH] = &&op_lh, [F_LW] = &&op_lw, [F_LD] = &&op_ld,
        [F_LBU] = &&op_lbu, [F_LHU] = &&op_lhu, [F_LWU] = &&op_lwu,
        [F_SB] = &&op_sb, [F_SH] = &&op_sh, [F_SW] = &&op_sw, [F_SD] = &&op_sd,
        [F_FLW] = &&op_generic, [F_FLD] = &&op_generic, [F_FSW] = &&op_generic, [F_FSD] = &&op_generic,
        [F_FPOP] = &&op_generic, [F_FFLAGS] = &&op_generic, [F_AMO] = &&op_generic,
        [F_COUNTER] = &&op_generic,
        [F_ADDI] = &&op_addi, [F_SLTI] = &&op_slti, [F_SLTIU] = &&op_sltiu, [F_XORI] = &&op_xori,
        [F_ORI] = &&op_ori, [F_ANDI] = &&op_andi, [F_SLLI] = &&op_slli, [F_SRLI] = &&op_srli,
        [F_SRAI] = &&op_srai, [F_ADD] = &&op_add, [F_SUB] = &&op_sub, [F_SLL] = &&op_sll,
        [F_SLT] = &&op_slt, [F_SLTU] = &&op_sltu, [F_XOR] = &&op_xor, [F_SRL] = &&op_srl,
        [F_SRA] = &&op_sra, [F_OR] = &&op_or, [F_AND] = &&op_and, [F_ADDIW] = &&op_addiw,
        [F_SLLIW] = &&op_slliw, [F_SRLIW] = &&op_srliw, [F_SRAIW] = &&op_sraiw,
        [F_ADDW] = &&op_addw, [F_SUBW] = &&op_subw, [F_MUL] = &&op_mul, [F_ADDUW] = &&op_adduw,
        [F_SH1ADD] = &&op_sh1add, [F_SH2ADD] = &&op_sh2add, [F_SH3ADD] = &&op_sh3add,
        [F_MULH] = &&op_mulh, [F_MULHU] = &&op_mulhu, [F_DIV] = &&op_div, [F_DIVU] = &&op_divu,
        [F_REM] = &&op_rem, [F_REMU] = &&op_remu, [F_MULW] = &&op_mulw, [F_DIVUW] = &&op_divuw,
        [F_REMUW] = &&op_remuw, [F_ORCB] = &&op_orcb, [F_REV8] = &&op_rev8, [F_CLZ] = &&op_clz,
        [F_CTZ] = &&op_ctz, [F_CPOP] = &&op_cpop, [F_ANDN] = &&op_andn, [F_MINU] = &&op_minu,
        [F_MAXU] = &&op_maxu, [F_JIT] = &&op_jit,
    };
    decode_init();
    if (unlikely(!__atomic_load_n(&fast_labels, __ATOMIC_ACQUIRE)))
        __atomic_store_n(&fast_labels, labels, __ATOMIC_RELEASE);
    uint64_t *x = h->x;
    uint64_t pc = h->pc;
    unsigned n = 0;
    uint32_t raw;
    uint64_t v;
    int r;
    /* Hot state in locals; SYNC() reloads it after anything that may change privilege,
     * mstatus, the TLB generation or the decoded pages. */
    struct code_page *cp = NULL;
    struct dentry *e;
    uint64_t vpage, gen;
    struct tlb_entry *rset, *wset;
    struct dentry one;           /* a run's first instruction, when the run cannot be taken */
    struct code_shared *const cs = h->code->cs;
    uint8_t *const jit_base = cs->jit.code;
    h->jit.base = jit_base;
    if (h->jit.jc_gen == 0)
        h->jit.jc_gen = 1; /* entries still zero never match */
    h->jit.run_label = labels[F_JIT];
#define SYNC() do { vpage = ~0ULL; gen = h->tlb_gen; \
        rset = dtlb_set(h, ACC_READ); wset = dtlb_set(h, ACC_WRITE); \
        if (unlikely(!rset)) rset = wset = no_tlb; \
        h->jit.rset = rset; h->jit.wset = wset; h->jit.gen = gen; \
        h->jit.jcache = h->code->jc[h->priv == PRV_M ? 2 : h->priv]; } while (0)
    SYNC();

/* Every handler ends in its own copy of the dispatch, so that each has its own indirect
 * jump for the host's branch predictor to learn. */
#define NEXT()     do { if (unlikely(++n >= max)) goto out; \
        if (unlikely((pc & ~0xfffULL) != vpage)) goto next; \
        e = &cp->d[(pc & 0xfff) >> 1]; goto *e->handler; } while (0)
#define STEP()     do { pc += e->len; NEXT(); } while (0)
#define BRANCH(c)  do { pc = (c) ? pc + (uint64_t)(int64_t)e->imm : pc + e->len; NEXT(); } while (0)
#define LOADOP(sz, T, ext) do { uint64_t va = x[e->rs1] + (uint64_t)(int64_t)e->imm; \
        const uint8_t *hp = tlb_probe(rset, TLB_RD_SIZE, va, sz, gen); \
        if (likely(hp != NULL)) { T tv; memcpy(&tv, hp, sz); v = tv; } \
        else { h->pc = pc; r = mmu_load(h, va, sz, &v); if (unlikely(r)) goto mem_fault; } \
        x[e->rd] = ext; STEP(); } while (0)
#define STOREOP(sz, T) do { uint64_t va = x[e->rs1] + (uint64_t)(int64_t)e->imm; \
        uint8_t *hp = tlb_probe(wset, TLB_SIZE, va, sz, gen); \
        if (likely(hp != NULL)) { T tv = (T)x[e->rs2]; memcpy(hp, &tv, sz); STEP(); } \
        /* the slow path may clear this very entry (a store to code): keep its length */ \
        uint32_t len = e->len; h->pc = pc; r = mmu_store(h, va, sz, x[e->rs2]); \
        if (unlikely(r)) goto mem_fault; \
        pc += len; NEXT(); } while (0)

next:
    if (unlikely((pc & ~0xfffULL) != vpage)) {
        h->pc = pc;
        cp = code_lookup(h, pc, &r);
        if (unlikely(!cp && r == CODE_STEP))
            goto op_step;
        if (unlikely(!cp)) {
            hart_take_trap(h, (uint64_t)r, h->fault_tval, false);
            pc = h->pc;
            SYNC();
            NEXT();
        }
        vpage = pc & ~0xfffULL;
        struct jc_entry *jc = &((struct jc_entry *)h->jit.jcache)[(pc >> 12) % JC_SIZE];
        jc->tag = vpage | gen;
        jc->dents = cp->d;
        jc->gen = h->jit.jc_gen;
    }
    e = &cp->d[(pc & 0xfff) >> 1];
    goto *e->handler;

do_decode:
    {
        /* another hart may be decoding this page too: the lock, and then the entry may be
         * decoded already */
        code_lock(cs);
        const void *now = __atomic_load_n(&e->handler, __ATOMIC_ACQUIRE);
        if (now != &&do_decode) {
            code_unlock(cs);
            goto *now;
        }
        unsigned off = pc & 0xfff, len;
        uint32_t raw1;
        bool ran_out = false;
        len = code_parcel(cp->host, off, &raw1);
        if (!len) {
            e->len = 4; /* the second half is on the next page: fetch it each time */
            __atomic_store_n(&e->handler, &&op_cross, __ATOMIC_RELEASE);
        } else {
            code_snap(cp, off, raw1, len);
            decode_entry(e, raw1);
#ifdef HAVE_JIT
            if (!h->interp_only && !cs->jit.full) {
                jit_run(&cs->jit, cp, off, e, raw1, (h->fcsr >> 5) & 7);
                /* out of room for host code: every page starts afresh, and the buffer once
                 * no hart can be in it, so that no code goes on being interpreted */
                ran_out = cs->jit.full;
                if (ran_out)
                    code_buffer_full(h);
            }
#endif
        }
        code_unlock(cs);
        if (unlikely(ran_out)) {
            SYNC();
            goto next;
        }
    }
    goto *e->handler;
op_jit:
    {
        uint32_t run = __atomic_load_n(&cp->run[(pc & 0xfff) >> 1], __ATOMIC_ACQUIRE);
        if (unlikely(n + JIT_RUN_MAX > max || run < JIT_START)) {
            /* the run could overshoot the budget (or, never expected, has no offset):
             * interpret its first instruction alone */
            decode_entry(&one, code_raw(cp, pc & 0xfff));
            e = &one;
            goto *e->handler;
        }
        int64_t left = max - n > JIT_RUN_MAX ? (int64_t)(max - n - JIT_RUN_MAX) : 0;
        h->jit.left = left;
        h->jit.dents = cp->d;
        bool fp = __atomic_load_n(&cs->jit.fp, __ATOMIC_RELAXED);
        if (fp)
            jit_fp_begin();
        /* while it runs, instret holds this block's count so far as if the run completed all
         * of left: translated reads of instret and cycle take what the run has not done
         * (r11) off it (the slow path's view at op_generic) */
        h->instret += n + (uint64_t)left;
        struct jit_ret jr = ((jit_entry)jit_base)((uint8_t *)x + JIT_XBIAS, pc, jit_base + run);
        h->instret -= n + (uint64_t)left;
        /* a run another hart made may be the VM's first in floating point */
        if (fp || __atomic_load_n(&cs->jit.fp, __ATOMIC_RELAXED))
            h->fcsr |= jit_fp_end();
        pc = jr.pc;
        n += (unsigned)(left - h->jit.left);
        h->jit_insns += (uint64_t)(left - h->jit.left);
        if (unlikely(jr.miss)) {
            /* stopped at a load or store that missed the TLB (or would cross its page):
             * everything before it is done; interpret that one instruction, which may be
             * in another page (the runs went on there) */
            if ((pc & ~0xfffULL) != vpage) {
                vpage = pc & ~0xfffULL;
                cp = container_of_dents(h->jit.dents);
            }
            decode_entry(&one, code_raw(cp, pc & 0xfff));
            e = &one;
            goto *e->handler;
        }
        n--;
        NEXT();
    }
op_cross:
    h->pc = pc;
    r = fetch_insn(h, &raw);
    if (unlikely(r))
        goto mem_fault; /* the fetch's cause + 1, fault_tval set */
    goto generic;
op_step:
    /* one instruction of a page PMP covers only in part: both its halves checked, and
     * nothing of the page kept for the next one */
    h->pc = pc;
    r = fetch_insn(h, &raw);
    h->fetch_vpage = ~0ULL;
    if (!r && (raw & 3) == 3 && ((pc + 2) & 0xfff) != 0) {
        uint64_t pa;
        r = mmu_translate(h, pc + 2, ACC_EXEC, &pa);
        h->fault_tval = pc + 2;
    }
    if (unlikely(r))
        goto mem_fault;
    goto generic;
op_generic:
    h->pc = pc;
    raw = code_raw(cp, pc & 0xfff);
generic:
    /* the slow path sees instret (and cycle) with this block's instructions counted so
     * far; what it writes to them stays as written plus what follows */
    h->instret += n;
    r = exec_one(h, raw);
    h->instret -= n;
    if (r) {
        n++;
        goto out_synced;
    }
    pc = h->pc;
    SYNC();
    NEXT();
mem_fault:
    /* r is a cause + 1 (a load, store or fetch that failed), h->fault_tval its address */
    hart_take_trap(h, (uint64_t)(r - 1), h->fault_tval, false);
    pc = h->pc;
    SYNC();
    NEXT();
op_nop:   STEP();
op_fence: __atomic_thread_fence(__ATOMIC_SEQ_CST); STEP();
op_lui:   x[e->rd] = (uint64_t)(int64_t)e->imm; STEP();
op_auipc: x[e->rd] = pc + (uint64_t)(int64_t)e->imm; STEP();
op_jal:   x[e->rd] = pc + e->len; x[0] = 0; pc += (uint64_t)(int64_t)e->imm; NEXT();
op_jalr: {
    uint64_t t = (x[e->rs1] + (uint64_t)(int64_t)e->imm) & ~1ULL;
    x[e->rd] = pc + e->len;
    x[0] = 0;
    pc = t;
    NEXT();
}
op_beq:  BRANCH(x[e->rs1] == x[e->rs2]);
op_bne:  BRANCH(x[e->rs1] != x[e->rs2]);
op_blt:  BRANCH((int64_t)x[e->rs1] < (int64_t)x[e->rs2]);
op_bge:  BRANCH((int64_t)x[e->rs1] >= (int64_t)x[e->rs2]);
op_bltu: BRANCH(x[e->rs1] < x[e->rs2]);
op_bgeu: BRANCH(x[e->rs1] >= x[e->rs2]);
op_lb:  LOADOP(1, uint8_t, (uint64_t)(int64_t)(int8_t)v);
op_lh:  LOADOP(2, uint16_t, (uint64_t)(int64_t)(int16_t)v);
op_lw:  LOADOP(4, uint32_t, (uint64_t)(int64_t)(int32_t)v);
op_ld:  LOADOP(8, uint64_t, v);
op_lbu: LOADOP(1, uint8_t, v);
op_lhu: LOADOP(2, uint16_t, v);
op_lwu: LOADOP(4, uint32_t, v);
op_sb:  STOREOP(1, uint8_t);
op_sh:  STOREOP(2, uint16_t);
op_sw:  STOREOP(4, uint32_t);
op_sd:  STOREOP(8, uint64_t);
op_addi:  x[e->rd] = x[e->rs1] + (uint64_t)(int64_t)e->imm; STEP();
op_slti:  x[e->rd] = (int64_t)x[e->rs1] < (int64_t)e->imm; STEP();
op_sltiu: x[e->rd] = x[e->rs1] < (uint64_t)(int64_t)e->imm; STEP();
op_xori:  x[e->rd] = x[e->rs1] ^ (uint64_t)(int64_t)e->imm; STEP();
op_ori:   x[e->rd] = x[e->rs1] | (uint64_t)(int64_t)e->imm; STEP();
op_andi:  x[e->rd] = x[e->rs1] & (uint64_t)(int64_t)e->imm; STEP();
op_slli:  x[e->rd] = x[e->rs1] << e->imm; STEP();
op_srli:  x[e->rd] = x[e->rs1] >> e->imm; STEP();
op_srai:  x[e->rd] = (uint64_t)((int64_t)x[e->rs1] >> e->imm); STEP();
op_add:   x[e->rd] = x[e->rs1] + x[e->rs2]; STEP();
op_sub:   x[e->rd] = x[e->rs1] - x[e->rs2]; STEP();
op_sll:   x[e->rd] = x[e->rs1] << (x[e->rs2] & 63); STEP();
op_slt:   x[e->rd] = (int64_t)x[e->rs1] < (int64_t)x[e->rs2]; STEP();
op_sltu:  x[e->rd] = x[e->rs1] < x[e->rs2]; STEP();
op_xor:   x[e->rd] = x[e->rs1] ^ x[e->rs2]; STEP();
op_srl:   x[e->rd] = x[e->rs1] >> (x[e->rs2] & 63); STEP();
op_sra:   x[e->rd] = (uint64_t)((int64_t)x[e->rs1] >> (x[e->rs2] & 63)); STEP();
op_or:    x[e->rd] = x[e->rs1] | x[e->rs2]; STEP();
op_and:   x[e->rd] = x[e->rs1] & x[e->rs2]; STEP();
op_addiw: x[e->rd] = (uint64_t)(int64_t)(int32_t)((uint32_t)x[e->rs1] + (uint32_t)e->imm); STEP();
op_slliw: x[e->rd] = (uint64_t)(int64_t)(int32_t)((uint32_t)x[e->rs1] << e->imm); STEP();
op_srliw: x[e->rd] = (uint64_t)(int64_t)(int32_t)((uint32_t)x[e->rs1] >> e->imm); STEP();
op_sraiw: x[e->rd] = (uint64_t)(int64_t)((int32_t)x[e->rs1] >> e->imm); STEP();
op_addw:  x[e->rd] = (uint64_t)(int64_t)(int32_t)((uint32_t)x[e->rs1] + (uint32_t)x[e->rs2]); STEP();
op_subw:  x[e->rd] = (uint64_t)(int64_t)(int32_t)((uint32_t)x[e->rs1] - (uint32_t)x[e->rs2]); STEP();
op_mul:   x[e->rd] = x[e->rs1] * x[e->rs2]; STEP();
op_adduw: x[e->rd] = (uint64_t)(uint32_t)x[e->rs1] + x[e->rs2]; STEP();
op_sh1add: x[e->rd] = (x[e->rs1] << 1) + x[e->rs2]; STEP();
op_sh2add: x[e->rd] = (x[e->rs1] << 2) + x[e->rs2]; STEP();
op_sh3add: x[e->rd] = (x[e->rs1] << 3) + x[e->rs2]; STEP();
op_mulh:  x[e->rd] = mulh((int64_t)x[e->rs1], (int64_t)x[e->rs2]); STEP();
op_mulhu: x[e->rd] = mulhu(x[e->rs1], x[e->rs2]); STEP();
op_div:   x[e->rd] = (uint64_t)div_s((int64_t)x[e->rs1], (int64_t)x[e->rs2]); STEP();
op_divu:  x[e->rd] = x[e->rs2] ? x[e->rs1] / x[e->rs2] : ~0ULL; STEP();
op_rem:   x[e->rd] = (uint64_t)rem_s((int64_t)x[e->rs1], (int64_t)x[e->rs2]); STEP();
op_remu:  x[e->rd] = x[e->rs2] ? x[e->rs1] % x[e->rs2] : x[e->rs1]; STEP();
op_mulw:  x[e->rd] = (uint64_t)(int64_t)(int32_t)((uint32_t)x[e->rs1] * (uint32_t)x[e->rs2]); STEP();
op_divuw: {
    uint32_t a = (uint32_t)x[e->rs1], b = (uint32_t)x[e->rs2];
    x[e->rd] = (uint64_t)(int64_t)(int32_t)(b ? a / b : ~0u);
    STEP();
}
op_remuw: {
    uint32_t a = (uint32_t)x[e->rs1], b = (uint32_t)x[e->rs2];
    x[e->rd] = (uint64_t)(int64_t)(int32_t)(b ? a % b : a);
    STEP();
}
op_orcb:  x[e->rd] = orc_b(x[e->rs1]); STEP();
op_rev8:  x[e->rd] = __builtin_bswap64(x[e->rs1]); STEP();
op_clz:   x[e->rd] = x[e->rs1] ? (uint64_t)__builtin_clzll(x[e->rs1]) : 64; STEP();
op_ctz:   x[e->rd] = x[e->rs1] ? (uint64_t)__builtin_ctzll(x[e->rs1]) : 64; STEP();
op_cpop:  x[e->rd] = (uint64_t)__builtin_popcountll(x[e->rs1]); STEP();
op_andn:  x[e->rd] = x[e->rs1] & ~x[e->rs2]; STEP();
op_minu:  x[e->rd] = x[e->rs1] < x[e->rs2] ? x[e->rs1] : x[e->rs2]; STEP();
op_maxu:  x[e->rd] = x[e->rs1] > x[e->rs2] ? x[e->rs1] : x[e->rs2]; STEP();

out:
    h->pc = pc;
out_synced:
    h->instret += n;
    return n;
#undef NEXT
#undef SYNC
#undef STEP
#undef BRANCH
#undef LOADOP
#undef STOREOP
}

unsigned hart_exec_block(struct hart *h, unsigned max)
{
    if (unlikely(!h->code) && hart_alloc_code(h))
        return 0;
    code_enter(h);
    unsigned n = interp_block(h, max);
    code_leave(h);
    return n;
}
