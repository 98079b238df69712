/* Unit tests of the software hart: integer, M, A, compressed and Zb* instructions, CSR
 * access rules, traps and delegation, interrupts, and Sv39/Sv48 page walks. Each test
 * writes a few instructions into a small RAM and runs them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "cpu/exec.h"
#include "cpu/hart.h"
#include "rv_encode.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (4 * 1024 * 1024)

static struct guest_mem ram;
static struct hart hart;
static uint64_t fake_time;

static int bus_load(void *c, uint64_t pa, unsigned s, uint64_t *v) { (void)c; (void)pa; (void)s; (void)v; return -EFAULT; }
static int bus_store(void *c, uint64_t pa, unsigned s, uint64_t v) { (void)c; (void)pa; (void)s; (void)v; return -EFAULT; }
static uint64_t bus_time(void *c) { (void)c; return fake_time; }
static void bus_poll(void *c, struct hart *h) { (void)c; (void)h; }
static void bus_wait(void *c, struct hart *h) { (void)c; (void)h; }
static const struct hart_bus bus = { NULL, &ram, bus_load, bus_store, bus_time, bus_poll, bus_wait, NULL, false, NULL, NULL };

/* ---- encoders (rv_encode.h) ---- */
#define ADDI(rd, rs1, imm) I(imm, rs1, 0, rd, 0x13)
#define CSRRW(rd, csr, rs1) I(csr, rs1, 1, rd, 0x73)
#define CSRRS(rd, csr, rs1) I(csr, rs1, 2, rd, 0x73)
#define LD(rd, rs1, imm) I(imm, rs1, 3, rd, 0x03)
#define SD(rs2, rs1, imm) S(imm, rs2, rs1, 3, 0x23)
#define ECALL 0x00000073u
#define MRET 0x30200073u
#define SRET 0x10200073u

static void hart_setup(void)
{
    ram.base = RAM_BASE;
    ram.size = RAM_SIZE;
    hart_init(&hart, 0, &bus);
    hart_reset(&hart, RAM_BASE);
    /* PMP as firmware leaves it: all of memory open to S and U */
    hart.pmpaddr[0] = ~0ULL >> 10;
    hart.pmpcfg[0] = 0x1f;
    hart.pmp_count = 1;
    fake_time = 0;
}

static int setup(void **state)
{
    (void)state;
    ram.host = calloc(1, RAM_SIZE);
    hart_setup();
    return ram.host ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    hart_destroy(&hart);
    free(ram.host);
    return 0;
}

/* RAM followed by a page that faults on any access, as the end of a VM's mapping may be:
 * a read past the last RAM page kills the test. */
static int setup_guarded(void **state)
{
    (void)state;
    uint8_t *m = mmap(NULL, RAM_SIZE + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED || mprotect(m + RAM_SIZE, 4096, PROT_NONE))
        return -1;
    ram.host = m;
    hart_setup();
    return 0;
}

static int teardown_guarded(void **state)
{
    (void)state;
    hart_destroy(&hart);
    munmap(ram.host, RAM_SIZE + 4096);
    ram.host = NULL;
    return 0;
}

static void put32(uint64_t addr, uint32_t v) { memcpy(ram.host + (addr - RAM_BASE), &v, 4); }
static void put16(uint64_t addr, uint16_t v) { memcpy(ram.host + (addr - RAM_BASE), &v, 2); }
static void put64(uint64_t addr, uint64_t v) { memcpy(ram.host + (addr - RAM_BASE), &v, 8); }
static uint64_t get64(uint64_t addr) { uint64_t v; memcpy(&v, ram.host + (addr - RAM_BASE), 8); return v; }

/* Writes the program at pc and executes exactly n instructions (traps count as one). */
static void run_prog(const uint32_t *prog, unsigned count, unsigned n)
{
    for (unsigned i = 0; i < count; i++)
        put32(hart.pc + 4 * i, prog[i]);
    for (unsigned done = 0; done < n;)
        done += hart_exec_block(&hart, n - done);
}

static void run1(uint32_t insn) { run_prog(&insn, 1, 1); }

/* ---- integer ---- */

static void test_lui_addi_addiw_sign_extend(void **state)
{
    (void)state;
    uint32_t p[] = { 0x800002b7 /* lui t0, 0x80000 */, ADDI(6, 0, -1), I(1, 6, 0, 7, 0x1b) /* addiw t2, t1, 1 */,
                     I(0x7ff, 0, 0, 28, 0x1b) /* addiw t3, x0, 0x7ff */ };
    run_prog(p, 4, 4);
    assert_int_equal(hart.x[5], 0xffffffff80000000ULL);
    assert_int_equal(hart.x[6], UINT64_MAX);
    assert_int_equal(hart.x[7], 0);
    assert_int_equal(hart.x[28], 0x7ff);
}

static void test_addiw_overflow_wraps_and_sign_extends(void **state)
{
    (void)state;
    hart.x[5] = 0x7fffffff;
    run1(I(1, 5, 0, 6, 0x1b));
    assert_int_equal(hart.x[6], 0xffffffff80000000ULL);
}

static void test_x0_stays_zero(void **state)
{
    (void)state;
    run1(ADDI(0, 0, 5));
    assert_int_equal(hart.x[0], 0);
}

static void test_shifts_mask_amounts(void **state)
{
    (void)state;
    hart.x[5] = 0x8000000000000001ULL;
    hart.x[6] = 65; /* only the low 6 bits count */
    uint32_t p[] = { R(0, 6, 5, 1, 7, 0x33) /* sll */, R(0, 6, 5, 5, 28, 0x33) /* srl */,
                     R(0x20, 6, 5, 5, 29, 0x33) /* sra */, R(0, 6, 5, 1, 30, 0x3b) /* sllw */,
                     R(0x20, 6, 5, 5, 31, 0x3b) /* sraw */ };
    run_prog(p, 5, 5);
    assert_int_equal(hart.x[7], 2);
    assert_int_equal(hart.x[28], 0x4000000000000000ULL);
    assert_int_equal(hart.x[29], 0xc000000000000000ULL);
    assert_int_equal(hart.x[30], 2);
    assert_int_equal(hart.x[31], 0); /* sraw of 1 by 1 */
}

static void test_srliw_sign_extends_result(void **state)
{
    (void)state;
    hart.x[5] = 0xffffffff80000000ULL;
    run1(I(0, 5, 5, 6, 0x1b)); /* srliw t1, t0, 0 */
    assert_int_equal(hart.x[6], 0xffffffff80000000ULL);
    run1(I(1, 5, 5, 6, 0x1b)); /* srliw t1, t0, 1 */
    assert_int_equal(hart.x[6], 0x40000000);
}

static void test_slt_signed_and_unsigned(void **state)
{
    (void)state;
    hart.x[5] = (uint64_t)-1;
    hart.x[6] = 1;
    uint32_t p[] = { R(0, 6, 5, 2, 7, 0x33), R(0, 6, 5, 3, 28, 0x33), I(-1, 6, 3, 29, 0x13) };
    run_prog(p, 3, 3);
    assert_int_equal(hart.x[7], 1);
    assert_int_equal(hart.x[28], 0);
    assert_int_equal(hart.x[29], 1); /* sltiu with -1 compares against all ones */
}

static void test_division_by_zero_and_overflow(void **state)
{
    (void)state;
    hart.x[5] = 7;
    hart.x[6] = 0;
    uint32_t p[] = { R(1, 6, 5, 4, 7, 0x33) /* div */, R(1, 6, 5, 5, 28, 0x33) /* divu */,
                     R(1, 6, 5, 6, 29, 0x33) /* rem */, R(1, 6, 5, 7, 30, 0x33) /* remu */ };
    run_prog(p, 4, 4);
    assert_int_equal(hart.x[7], UINT64_MAX);
    assert_int_equal(hart.x[28], UINT64_MAX);
    assert_int_equal(hart.x[29], 7);
    assert_int_equal(hart.x[30], 7);

    hart_reset(&hart, RAM_BASE);
    hart.x[5] = 0x8000000000000000ULL;
    hart.x[6] = UINT64_MAX;
    uint32_t q[] = { R(1, 6, 5, 4, 7, 0x33), R(1, 6, 5, 6, 28, 0x33) };
    run_prog(q, 2, 2);
    assert_int_equal(hart.x[7], 0x8000000000000000ULL);
    assert_int_equal(hart.x[28], 0);
}

static void test_divw_overflow_and_zero(void **state)
{
    (void)state;
    hart.x[5] = 0xffffffff80000000ULL;
    hart.x[6] = UINT64_MAX;
    hart.x[8] = 0;
    uint32_t p[] = { R(1, 6, 5, 4, 7, 0x3b) /* divw */, R(1, 6, 5, 6, 28, 0x3b) /* remw */,
                     R(1, 8, 5, 5, 29, 0x3b) /* divuw by 0 */, R(1, 8, 5, 7, 30, 0x3b) /* remuw by 0 */ };
    run_prog(p, 4, 4);
    assert_int_equal(hart.x[7], 0xffffffff80000000ULL);
    assert_int_equal(hart.x[28], 0);
    assert_int_equal(hart.x[29], UINT64_MAX);
    assert_int_equal(hart.x[30], 0xffffffff80000000ULL);
}

static void test_mulh_variants(void **state)
{
    (void)state;
    hart.x[5] = (uint64_t)-2;
    hart.x[6] = 3;
    uint32_t p[] = { R(1, 6, 5, 1, 7, 0x33) /* mulh */, R(1, 6, 5, 2, 28, 0x33) /* mulhsu */,
                     R(1, 6, 5, 3, 29, 0x33) /* mulhu */, R(1, 6, 5, 0, 30, 0x33) /* mul */,
                     R(1, 6, 5, 0, 31, 0x3b) /* mulw */ };
    run_prog(p, 5, 5);
    assert_int_equal(hart.x[7], UINT64_MAX);
    assert_int_equal(hart.x[28], UINT64_MAX);
    assert_int_equal(hart.x[29], 2);
    assert_int_equal(hart.x[30], (uint64_t)-6);
    assert_int_equal(hart.x[31], (uint64_t)-6);
}

static void test_loads_sign_and_zero_extend(void **state)
{
    (void)state;
    put64(RAM_BASE + 0x1000, 0x8081828384858687ULL);
    hart.x[5] = RAM_BASE + 0x1000;
    uint32_t p[] = { I(0, 5, 0, 6, 3) /* lb */, I(0, 5, 4, 7, 3) /* lbu */, I(0, 5, 1, 28, 3) /* lh */,
                     I(0, 5, 5, 29, 3) /* lhu */, I(4, 5, 2, 30, 3) /* lw */, I(4, 5, 6, 31, 3) /* lwu */ };
    run_prog(p, 6, 6);
    assert_int_equal(hart.x[6], 0xffffffffffffff87ULL);
    assert_int_equal(hart.x[7], 0x87);
    assert_int_equal(hart.x[28], 0xffffffffffff8687ULL);
    assert_int_equal(hart.x[29], 0x8687);
    assert_int_equal(hart.x[30], 0xffffffff80818283ULL);
    assert_int_equal(hart.x[31], 0x80818283);
}

static void test_misaligned_load_and_store_work(void **state)
{
    (void)state;
    hart.x[5] = RAM_BASE + 0x1003;
    hart.x[6] = 0x1122334455667788ULL;
    uint32_t p[] = { SD(6, 5, 0), LD(7, 5, 0) };
    run_prog(p, 2, 2);
    assert_int_equal(hart.x[7], 0x1122334455667788ULL);
    assert_int_equal(hart.pc, RAM_BASE + 8);
}

static void test_branches_and_jumps(void **state)
{
    (void)state;
    hart.x[5] = (uint64_t)-1;
    hart.x[6] = 1;
    /* blt t0, t1, +8 (taken); addi t2, x0, 1 (skipped); bltu t0, t1, +8 (not taken); jal ra, +8 */
    uint32_t p[] = { 0x0062c463, ADDI(7, 0, 1), 0x0062e463, 0x008000ef };
    run_prog(p, 4, 3);
    assert_int_equal(hart.x[7], 0);
    assert_int_equal(hart.x[1], RAM_BASE + 16);
    assert_int_equal(hart.pc, RAM_BASE + 20);
}

static void test_jalr_clears_bit0(void **state)
{
    (void)state;
    hart.x[5] = RAM_BASE + 0x101;
    run1(I(0, 5, 0, 1, 0x67));
    assert_int_equal(hart.pc, RAM_BASE + 0x100);
    assert_int_equal(hart.x[1], RAM_BASE + 4);
}

/* ---- Zb* ---- */

static void test_zbb_zba_zbs(void **state)
{
    (void)state;
    hart.x[5] = 0x00f0000000000100ULL;
    hart.x[6] = 3;
    uint32_t p[] = {
        I(0x600, 5, 1, 7, 0x13),        /* clz */
        I(0x601, 5, 1, 28, 0x13),       /* ctz */
        I(0x602, 5, 1, 29, 0x13),       /* cpop */
        R(0x10, 6, 6, 4, 30, 0x33),     /* sh2add t5, t1, t1 = 3*4+3 */
        R(0x14, 6, 0, 1, 31, 0x33),     /* bset t6, x0, t1 */
        I(0x6b8, 5, 5, 8, 0x13),        /* rev8 */
    };
    run_prog(p, 6, 6);
    assert_int_equal(hart.x[7], 8);
    assert_int_equal(hart.x[28], 8);
    assert_int_equal(hart.x[29], 5);
    assert_int_equal(hart.x[30], 15);
    assert_int_equal(hart.x[31], 8);
    assert_int_equal(hart.x[8], 0x000100000000f000ULL);
}

/* ---- compressed ---- */

static void test_compressed_arith_and_stack(void **state)
{
    (void)state;
    hart.x[2] = RAM_BASE + 0x2000;
    uint64_t pc = hart.pc;
    put16(pc + 0, 0x4515);   /* c.li a0, 5 */
    put16(pc + 2, 0x0505);   /* c.addi a0, 1 */
    put16(pc + 4, 0xe42a);   /* c.sdsp a0, 8(sp) */
    put16(pc + 6, 0x65a2);   /* c.ldsp a1, 8(sp) */
    put16(pc + 8, 0x1141);   /* c.addi sp, -16 */
    put16(pc + 10, 0x6605);  /* c.lui a2, 1 */
    for (int i = 0; i < 6;)
        i += (int)hart_exec_block(&hart, 6 - (unsigned)i);
    assert_int_equal(hart.x[10], 6);
    assert_int_equal(hart.x[11], 6);
    assert_int_equal(hart.x[2], RAM_BASE + 0x2000 - 16);
    assert_int_equal(hart.x[12], 0x1000);
    assert_int_equal(hart.pc, pc + 12);
}

static void test_compressed_branch_and_jump(void **state)
{
    (void)state;
    uint64_t pc = hart.pc;
    hart.x[8] = 0;
    put16(pc + 0, 0xc011);   /* c.beqz s0, +4 */
    put16(pc + 4, 0xa011);   /* c.j +4 */
    for (int i = 0; i < 2;)
        i += (int)hart_exec_block(&hart, 2 - (unsigned)i);
    assert_int_equal(hart.pc, pc + 8);
}

static void test_rvc_reserved_encodings_expand_to_zero(void **state)
{
    (void)state;
    assert_int_equal(rvc_expand(0x0000), 0);     /* all zero: illegal */
    assert_int_equal(rvc_expand(0x6101), 0);     /* c.addi16sp with 0 */
    assert_int_equal(rvc_expand(0x6501), 0);     /* c.lui a0, 0 */
    assert_int_equal(rvc_expand(0x4002), 0);     /* c.lwsp x0 */
    assert_int_equal(rvc_expand(0x8002), 0);     /* c.jr x0 */
    assert_int_equal(rvc_expand(0x9002), 0x00100073); /* c.ebreak */
}

static void test_illegal_compressed_traps_with_tval(void **state)
{
    (void)state;
    hart.mtvec = RAM_BASE + 0x800;
    put16(hart.pc, 0x0000);
    hart_exec_block(&hart, 1);
    assert_int_equal(hart.mcause, EXC_ILLEGAL);
    assert_int_equal(hart.mepc, RAM_BASE);
    assert_int_equal(hart.pc, RAM_BASE + 0x800);
}

/* ---- atomics ---- */

static void test_lr_sc_success_and_failure(void **state)
{
    (void)state;
    uint64_t a = RAM_BASE + 0x3000;
    put64(a, 41);
    hart.x[5] = a;
    hart.x[6] = 42;
    uint32_t p[] = { R(0x08, 0, 5, 3, 7, 0x2f) /* lr.d t2 */, R(0x0c, 6, 5, 3, 28, 0x2f) /* sc.d t3 */,
                     R(0x0c, 6, 5, 3, 29, 0x2f) /* sc.d again: no reservation */ };
    run_prog(p, 3, 3);
    assert_int_equal(hart.x[7], 41);
    assert_int_equal(hart.x[28], 0);
    assert_int_equal(hart.x[29], 1);
    assert_int_equal(get64(a), 42);
}

static void test_amo_word_sign_extends_and_minmax(void **state)
{
    (void)state;
    uint64_t a = RAM_BASE + 0x3000;
    put64(a, 0xfffffffe); /* word -2 */
    hart.x[5] = a;
    hart.x[6] = 5;
    uint32_t p[] = { R(0x00, 6, 5, 2, 7, 0x2f) /* amoadd.w */, R(0x10 << 2, 6, 5, 2, 28, 0x2f) /* amomin.w */ };
    run_prog(p, 2, 2);
    assert_int_equal(hart.x[7], (uint64_t)-2);
    assert_int_equal(hart.x[28], 3);
    assert_int_equal(get64(a) & 0xffffffff, 3);
}

static void test_amo_misaligned_faults(void **state)
{
    (void)state;
    hart.mtvec = RAM_BASE + 0x800;
    hart.x[5] = RAM_BASE + 0x3004;
    run1(R(0x00, 6, 5, 3, 7, 0x2f)); /* amoadd.d on a 4-aligned address */
    assert_int_equal(hart.mcause, EXC_STORE_MISALIGNED);
    assert_int_equal(hart.mtval, RAM_BASE + 0x3004);
}

/* ---- CSRs, traps, delegation ---- */

static void enter_mode(int priv, uint64_t pc)
{
    hart.priv = priv;
    hart.pc = pc;
}

static void test_csr_from_user_is_illegal(void **state)
{
    (void)state;
    hart.mtvec = RAM_BASE + 0x800;
    enter_mode(PRV_U, RAM_BASE + 0x100);
    run1(CSRRS(5, 0x300, 0)); /* csrr t0, mstatus */
    assert_int_equal(hart.mcause, EXC_ILLEGAL);
    assert_int_equal(hart.priv, PRV_M);
    assert_int_equal((hart.mstatus & MSTATUS_MPP) >> 11, PRV_U);
    assert_int_equal(hart.x[5], 0);
}

/* priv spec 3.1.9: mip.SEIP reads as the software bit OR the interrupt controller's line,
 * but a csrrs/csrrc of mip writes back only the software bit. M-mode firmware that sets or
 * clears SSIP while the line is up must not latch SEIP on for good (a guest interrupt
 * storm: the line drops, SEIP stays). */
static void test_mip_set_does_not_latch_the_seip_line(void **state)
{
    (void)state;
    hart_set_irq(&hart, MIP_SEIP, 1);
    run1(I(0x344, 2, 6, 5, 0x73));           /* csrrsi t0, mip, SSIP */
    assert_true(hart.x[5] & MIP_SEIP);       /* the read sees the line */
    run1(I(0x344, 2, 7, 0, 0x73));           /* csrrci x0, mip, SSIP */
    hart_set_irq(&hart, MIP_SEIP, 0);
    run1(CSRRS(6, 0x344, 0));                /* csrr t1, mip */
    assert_false(hart.x[6] & MIP_SEIP);
    assert_false(hart.x[6] & MIP_SSIP);
    /* the software bit itself still sets and clears */
    hart.x[9] = MIP_SEIP;
    run1(CSRRS(0, 0x344, 9));                /* csrs mip, x9 */
    run1(CSRRS(6, 0x344, 0));
    assert_true(hart.x[6] & MIP_SEIP);
    run1(I(0x344, 9, 3, 0, 0x73));           /* csrc mip, x9 */
    run1(CSRRS(6, 0x344, 0));
    assert_false(hart.x[6] & MIP_SEIP);
}

static void test_write_to_read_only_csr_is_illegal(void **state)
{
    (void)state;
    hart.mtvec = RAM_BASE + 0x800;
    hart.x[5] = 7;
    run1(CSRRW(0, 0xf14, 5)); /* csrw mhartid */
    assert_int_equal(hart.mcause, EXC_ILLEGAL);
    /* reading it (csrrs with x0) is fine; new code at the same place needs a fence.i */
    hart.pc = RAM_BASE;
    hart_flush_code(&hart);
    run1(CSRRS(6, 0xf14, 0));
    assert_int_equal(hart.pc, RAM_BASE + 4);
}

static void test_counter_access_needs_mcounteren(void **state)
{
    (void)state;
    hart.mtvec = RAM_BASE + 0x800;
    fake_time = 1234;
    enter_mode(PRV_S, RAM_BASE);
    run1(CSRRS(5, 0xc01, 0)); /* rdtime */
    assert_int_equal(hart.mcause, EXC_ILLEGAL);
    hart.mcounteren = 2;
    enter_mode(PRV_S, RAM_BASE);
    run1(CSRRS(5, 0xc01, 0));
    assert_int_equal(hart.x[5], 1234);
}

static void test_satp_trapped_by_tvm(void **state)
{
    (void)state;
    hart.mtvec = RAM_BASE + 0x800;
    hart.mstatus |= MSTATUS_TVM;
    enter_mode(PRV_S, RAM_BASE);
    run1(CSRRS(5, 0x180, 0));
    assert_int_equal(hart.mcause, EXC_ILLEGAL);
}

static void test_satp_unsupported_mode_is_ignored(void **state)
{
    (void)state;
    hart.x[5] = 1ULL << 60; /* mode 1 is not a valid RV64 mode */
    run1(CSRRW(0, 0x180, 5));
    assert_int_equal(hart.satp, 0);
}

static void test_ecall_from_user_delegated_to_supervisor(void **state)
{
    (void)state;
    hart.medeleg = 1 << EXC_ECALL_U;
    hart.stvec = RAM_BASE + 0x400;
    hart.mtvec = RAM_BASE + 0x800;
    enter_mode(PRV_U, RAM_BASE + 0x100);
    run1(ECALL);
    assert_int_equal(hart.priv, PRV_S);
    assert_int_equal(hart.scause, EXC_ECALL_U);
    assert_int_equal(hart.sepc, RAM_BASE + 0x100);
    assert_int_equal(hart.pc, RAM_BASE + 0x400);
    assert_false(hart.mstatus & MSTATUS_SPP);
    /* sret goes back to U at sepc + 4 once the handler advances it */
    hart.sepc += 4;
    run1(SRET);
    assert_int_equal(hart.priv, PRV_U);
    assert_int_equal(hart.pc, RAM_BASE + 0x104);
}

static void test_ecall_from_supervisor_not_delegated_goes_to_machine(void **state)
{
    (void)state;
    hart.medeleg = 1 << EXC_ECALL_U;
    hart.mtvec = RAM_BASE + 0x800;
    enter_mode(PRV_S, RAM_BASE + 0x100);
    run1(ECALL);
    assert_int_equal(hart.priv, PRV_M);
    assert_int_equal(hart.mcause, EXC_ECALL_S);
    assert_int_equal((hart.mstatus & MSTATUS_MPP) >> 11, PRV_S);
}

static void test_mret_restores_mode_and_mie(void **state)
{
    (void)state;
    hart.mstatus |= MSTATUS_MPIE | (1ULL << 11); /* MPP = S */
    hart.mstatus |= MSTATUS_MPRV;
    hart.mepc = RAM_BASE + 0x200;
    run1(MRET);
    assert_int_equal(hart.priv, PRV_S);
    assert_int_equal(hart.pc, RAM_BASE + 0x200);
    assert_true(hart.mstatus & MSTATUS_MIE);
    assert_false(hart.mstatus & MSTATUS_MPRV); /* leaving M clears MPRV */
    assert_int_equal(hart.mstatus & MSTATUS_MPP, 0);
}

static void test_sret_trapped_by_tsr(void **state)
{
    (void)state;
    hart.mtvec = RAM_BASE + 0x800;
    hart.mstatus |= MSTATUS_TSR;
    enter_mode(PRV_S, RAM_BASE);
    run1(SRET);
    assert_int_equal(hart.mcause, EXC_ILLEGAL);
}

static void test_interrupt_priority_and_delegation(void **state)
{
    (void)state;
    hart.mtvec = RAM_BASE + 0x801; /* vectored */
    hart.stvec = RAM_BASE + 0x400;
    hart.mideleg = MIP_STIP;
    hart.mie = MIP_MTIP | MIP_STIP;
    hart_set_irq(&hart, MIP_STIP, 1);
    hart_set_irq(&hart, MIP_MTIP, 1);
    enter_mode(PRV_S, RAM_BASE);
    /* in S-mode, machine interrupts are always enabled and come first */
    assert_true(hart_check_interrupts(&hart));
    assert_int_equal(hart.mcause, (1ULL << 63) | 7);
    assert_int_equal(hart.pc, RAM_BASE + 0x800 + 4 * 7);
    /* in M-mode with MIE clear nothing is taken; the delegated one never in M */
    assert_false(hart_check_interrupts(&hart));
    hart_set_irq(&hart, MIP_MTIP, 0);
    enter_mode(PRV_S, RAM_BASE);
    hart.mstatus |= MSTATUS_SIE;
    assert_true(hart_check_interrupts(&hart));
    assert_int_equal(hart.scause, (1ULL << 63) | 5);
    assert_int_equal(hart.priv, PRV_S);
}

static void test_wfi_illegal_in_user_and_with_tw(void **state)
{
    (void)state;
    hart.mtvec = RAM_BASE + 0x800;
    enter_mode(PRV_U, RAM_BASE);
    run1(0x10500073);
    assert_int_equal(hart.mcause, EXC_ILLEGAL);
    hart.mstatus |= MSTATUS_TW;
    enter_mode(PRV_S, RAM_BASE);
    run1(0x10500073);
    assert_int_equal(hart.mcause, EXC_ILLEGAL);
    hart.mstatus &= ~MSTATUS_TW;
    enter_mode(PRV_S, RAM_BASE);
    run1(0x10500073);
    assert_true(hart.wfi_pending);
}

static void test_fp_disabled_is_illegal(void **state)
{
    (void)state;
    hart.mtvec = RAM_BASE + 0x800;
    hart.mstatus &= ~MSTATUS_FS;
    run1(I(0, 5, 3, 1, 0x07)); /* fld f1, 0(t0) */
    assert_int_equal(hart.mcause, EXC_ILLEGAL);
}

/* ---- paging ---- */

#define PT_ROOT (RAM_BASE + 0x100000)
#define PTE(pa, flags) ((((pa) >> 12) << 10) | (flags))
enum { V = 1, Rr = 2, W = 4, X = 8, U = 16, A = 64, D = 128 };

/* Sv39: maps the 4 KiB page at va to pa with a three-level table under PT_ROOT. */
static void map4k(uint64_t va, uint64_t pa, uint64_t flags)
{
    uint64_t l1 = PT_ROOT + 0x1000, l0 = PT_ROOT + 0x2000;
    put64(PT_ROOT + ((va >> 30) & 511) * 8, PTE(l1, V));
    put64(l1 + ((va >> 21) & 511) * 8, PTE(l0, V));
    put64(l0 + ((va >> 12) & 511) * 8, PTE(pa, flags));
}

static void paging_on(int priv)
{
    hart.satp = (8ULL << 60) | (PT_ROOT >> 12);
    hart_flush_tlb(&hart);
    hart.priv = priv;
    hart.mtvec = RAM_BASE + 0x800;
    /* PMP: everything accessible from S/U */
    hart.pmpaddr[0] = ~0ULL >> 10;
    hart.pmpcfg[0] = 0x1f;
    hart.pmp_count = 1;
}

static void test_sv39_4k_page_load_sets_accessed(void **state)
{
    (void)state;
    map4k(0x40000000, RAM_BASE + 0x5000, V | Rr | W);
    put64(RAM_BASE + 0x5008, 0xabcdef);
    paging_on(PRV_S);
    uint64_t v = 0;
    assert_int_equal(mmu_load(&hart, 0x40000008, 8, &v), 0);
    assert_int_equal(v, 0xabcdef);
    uint64_t pte = get64(PT_ROOT + 0x2000);
    assert_true(pte & A);
    assert_false(pte & D);
    assert_int_equal(mmu_store(&hart, 0x40000010, 8, 5), 0);
    assert_true(get64(PT_ROOT + 0x2000) & D);
}

/* Another hart changes the PTE between the walk's read and its A/D update, every time: the
 * walk gives up after a few tries, without growing the stack, and the load is neither done
 * nor trapped, so the instruction runs again; once the PTE holds still, it completes. */
static unsigned pte_races_left;

static void race_pte(uint64_t *pte)
{
    if (pte_races_left) {
        pte_races_left--;
        *pte ^= 1ULL << 8; /* a bit reserved for software: the walk's CAS fails */
    }
}

static void test_pte_changing_under_the_ad_update_retries_the_instruction(void **state)
{
    (void)state;
    map4k(0x40000000, RAM_BASE + 0x5000, V | Rr | W);
    map4k(0x40001000, RAM_BASE, V | Rr | X | A);
    put64(RAM_BASE + 0x5008, 0xabcdef);
    put32(RAM_BASE, LD(6, 5, 8));
    paging_on(PRV_S);
    hart.x[5] = 0x40000000;
    hart.pc = 0x40001000;
    mmu_pte_race_hook = race_pte;
    pte_races_left = 1000000;
    uint64_t v = 0;
    assert_int_equal(mmu_load(&hart, 0x40000008, 8, &v), EXC_RETRY + 1);
    assert_true(pte_races_left > 1000000 - 100);
    for (unsigned i = 0; i < 10; i++) {
        hart_exec_block(&hart, 1);
        assert_int_equal(hart.pc, 0x40001000);
        assert_int_equal(hart.x[6], 0);
        assert_int_equal(hart.scause, 0);
        assert_int_equal(hart.mcause, 0);
    }
    assert_false(get64(PT_ROOT + 0x2000) & A);
    pte_races_left = 0;
    hart_exec_block(&hart, 1);
    mmu_pte_race_hook = NULL;
    assert_int_equal(hart.x[6], 0xabcdef);
    assert_int_equal(hart.pc, 0x40001004);
    assert_true(get64(PT_ROOT + 0x2000) & A);
}

/* sfence.vma with an address: that page's TLB entries go; an entry made through a superpage
 * goes with every other page of the superpage. */
static bool tlb_holds(uint64_t va)
{
    const struct tlb_entry *e = tlb_slot(&hart, TLB_S, ACC_READ, va);
    return e->tag == ((va & ~0xfffULL) | hart.tlb_gen);
}

static void test_sfence_vma_with_an_address(void **state)
{
    (void)state;
    map4k(0x40000000, RAM_BASE + 0x5000, V | Rr | W | A | D);
    map4k(0x40001000, RAM_BASE + 0x6000, V | Rr | W | A | D);
    put64(RAM_BASE + 0x5000, 1);
    put64(RAM_BASE + 0x7000, 3);
    paging_on(PRV_S);
    uint64_t v = 0;
    assert_int_equal(mmu_load(&hart, 0x40000000, 8, &v), 0);
    assert_int_equal(mmu_load(&hart, 0x40001000, 8, &v), 0);
    assert_true(tlb_holds(0x40000000));
    assert_true(tlb_holds(0x40001000));
    map4k(0x40000000, RAM_BASE + 0x7000, V | Rr | W | A | D);
    hart_flush_tlb_page(&hart, 0x40000000);
    assert_false(tlb_holds(0x40000000));
    assert_true(tlb_holds(0x40001000)); /* only 0x40000000 was flushed */
    assert_int_equal(mmu_load(&hart, 0x40000000, 8, &v), 0);
    assert_int_equal(v, 3);

    /* a 2 MiB page at 0x40200000 */
    put64(PT_ROOT + 0x1000 + 1 * 8, PTE(RAM_BASE + 0x200000, V | Rr | W | A | D));
    assert_int_equal(mmu_load(&hart, 0x40201000, 8, &v), 0);
    assert_true(tlb_holds(0x40201000));
    hart_flush_tlb_page(&hart, 0x40200000);
    assert_false(tlb_holds(0x40201000));
    assert_false(tlb_holds(0x40001000)); /* a superpage: everything went */
}

static void test_sv39_unmapped_faults_with_tval(void **state)
{
    (void)state;
    paging_on(PRV_S);
    uint64_t v;
    assert_int_equal(mmu_load(&hart, 0x40001000, 8, &v), EXC_LOAD_PAGE + 1);
    assert_int_equal(hart.fault_tval, 0x40001000);
    assert_int_equal(mmu_store(&hart, 0x40001000, 8, 0), EXC_STORE_PAGE + 1);
}

static void test_sv39_non_canonical_address_faults(void **state)
{
    (void)state;
    paging_on(PRV_S);
    uint64_t v;
    assert_int_equal(mmu_load(&hart, 0x0000008000000000ULL, 8, &v), EXC_LOAD_PAGE + 1);
}

static void test_sv39_gigapage_and_misaligned_superpage(void **state)
{
    (void)state;
    paging_on(PRV_S);
    put64(PT_ROOT + 2 * 8, PTE(RAM_BASE, V | Rr | A)); /* VA 0x80000000 -> PA 0x80000000, 1 GiB */
    put64(RAM_BASE + 0x1230, 77);
    uint64_t v = 0;
    assert_int_equal(mmu_load(&hart, 0x80001230, 8, &v), 0);
    assert_int_equal(v, 77);
    /* a gigapage whose PPN is not 1 GiB aligned is a page fault */
    put64(PT_ROOT + 3 * 8, PTE(RAM_BASE + 0x200000, V | Rr | A));
    assert_int_equal(mmu_load(&hart, 0xc0000000, 8, &v), EXC_LOAD_PAGE + 1);
}

static void test_sv39_user_page_needs_sum_in_supervisor(void **state)
{
    (void)state;
    map4k(0x40000000, RAM_BASE + 0x5000, V | Rr | W | U | A | D);
    paging_on(PRV_S);
    uint64_t v;
    assert_int_equal(mmu_load(&hart, 0x40000000, 8, &v), EXC_LOAD_PAGE + 1);
    hart.mstatus |= MSTATUS_SUM;
    assert_int_equal(mmu_load(&hart, 0x40000000, 8, &v), 0);
    hart.mstatus &= ~MSTATUS_SUM; /* the TLB entry must not let it through now */
    hart.x[5] = 0x40000000;
    hart.pc = RAM_BASE;
    hart.satp = 0; /* run the load from untranslated code... */
    hart.priv = PRV_M;
    put32(RAM_BASE, LD(6, 5, 0));
    hart.mstatus = (hart.mstatus & ~MSTATUS_MPP) | (1ULL << 11) | MSTATUS_MPRV; /* ...as S via MPRV */
    hart.satp = (8ULL << 60) | (PT_ROOT >> 12);
    hart_flush_tlb(&hart);
    hart_exec_block(&hart, 1);
    assert_int_equal(hart.mcause, EXC_LOAD_PAGE);
}

static void test_sv39_supervisor_cannot_execute_user_page(void **state)
{
    (void)state;
    map4k(0x40000000, RAM_BASE + 0x5000, V | Rr | X | U | A);
    paging_on(PRV_S);
    hart.mstatus |= MSTATUS_SUM;
    hart.pc = 0x40000000;
    hart_exec_block(&hart, 1);
    assert_int_equal(hart.mcause, EXC_INSN_PAGE);
    assert_int_equal(hart.mtval, 0x40000000);
}

static void test_sv39_user_cannot_touch_supervisor_page(void **state)
{
    (void)state;
    map4k(0x40000000, RAM_BASE + 0x5000, V | Rr | W | A | D);
    paging_on(PRV_U);
    uint64_t v;
    assert_int_equal(mmu_load(&hart, 0x40000000, 8, &v), EXC_LOAD_PAGE + 1);
}

static void test_sv39_mxr_makes_execute_only_readable(void **state)
{
    (void)state;
    map4k(0x40000000, RAM_BASE + 0x5000, V | X | A);
    paging_on(PRV_S);
    uint64_t v;
    assert_int_equal(mmu_load(&hart, 0x40000000, 8, &v), EXC_LOAD_PAGE + 1);
    hart.mstatus |= MSTATUS_MXR;
    assert_int_equal(mmu_load(&hart, 0x40000000, 8, &v), 0);
}

static void test_sv39_write_to_read_only_faults(void **state)
{
    (void)state;
    map4k(0x40000000, RAM_BASE + 0x5000, V | Rr | A);
    paging_on(PRV_S);
    assert_int_equal(mmu_store(&hart, 0x40000000, 8, 1), EXC_STORE_PAGE + 1);
}

static void test_sv39_reserved_w_without_r_faults(void **state)
{
    (void)state;
    map4k(0x40000000, RAM_BASE + 0x5000, V | W | A | D);
    paging_on(PRV_S);
    uint64_t v;
    assert_int_equal(mmu_load(&hart, 0x40000000, 8, &v), EXC_LOAD_PAGE + 1);
}

static void test_page_crossing_load_faults_on_second_page(void **state)
{
    (void)state;
    map4k(0x40000000, RAM_BASE + 0x5000, V | Rr | W | A | D);
    paging_on(PRV_S);
    uint64_t v;
    assert_int_equal(mmu_load(&hart, 0x40000ffc, 8, &v), EXC_LOAD_PAGE + 1);
    assert_int_equal(hart.fault_tval, 0x40001000);
    /* a crossing store that faults on the second page writes nothing */
    put64(RAM_BASE + 0x5ff8, 0);
    assert_int_equal(mmu_store(&hart, 0x40000ffc, 8, ~0ULL), EXC_STORE_PAGE + 1);
    assert_int_equal(get64(RAM_BASE + 0x5ff8), 0);
}

static void test_sv48_walk(void **state)
{
    (void)state;
    /* Sv48: 4 levels; map VA 0x8000000000 (level-3 index 1) with a 1 GiB page at level 1 */
    uint64_t l2 = PT_ROOT + 0x3000;
    put64(PT_ROOT + 1 * 8, PTE(l2, V));
    put64(l2 + 0, PTE(RAM_BASE, V | Rr | A));
    put64(RAM_BASE + 0x40, 99);
    paging_on(PRV_S);
    hart.satp = (9ULL << 60) | (PT_ROOT >> 12);
    hart_flush_tlb(&hart);
    uint64_t v = 0;
    assert_int_equal(mmu_load(&hart, 0x8000000040ULL, 8, &v), 0);
    assert_int_equal(v, 99);
}

static void test_pmp_denies_supervisor_outside_regions(void **state)
{
    (void)state;
    hart.priv = PRV_S;
    hart.mtvec = RAM_BASE + 0x800;
    /* TOR region [0, RAM_BASE + 0x10000) readable only */
    hart.pmpaddr[0] = (RAM_BASE + 0x10000) >> 2;
    hart.pmpcfg[0] = 0x09; /* TOR, R */
    hart.pmp_count = 1;
    hart_flush_tlb(&hart);
    uint64_t v;
    assert_int_equal(mmu_load(&hart, RAM_BASE + 0x100, 8, &v), 0);
    assert_int_equal(mmu_store(&hart, RAM_BASE + 0x100, 8, 1), EXC_STORE_ACCESS + 1);
    assert_int_equal(mmu_load(&hart, RAM_BASE + 0x20000, 8, &v), EXC_LOAD_ACCESS + 1);
    /* M-mode is not bound by an unlocked entry */
    hart.priv = PRV_M;
    hart_flush_tlb(&hart);
    assert_int_equal(mmu_store(&hart, RAM_BASE + 0x100, 8, 1), 0);
}

/* priv spec 3.7.1: an entry smaller than a page, lying inside it, still decides for its bytes,
 * and an access that covers it only partly fails; an empty TOR entry decides nothing */
static void test_pmp_entry_inside_a_page_binds(void **state)
{
    (void)state;
    hart.priv = PRV_M;
    hart.pmpaddr[0] = (RAM_BASE + 0x100) >> 2; /* NAPOT, 8 bytes */
    hart.pmpcfg[0] = 0x98;                      /* locked, no access */
    hart.pmpaddr[1] = (RAM_BASE + 0x200) >> 2;
    hart.pmpaddr[2] = (RAM_BASE + 0x200) >> 2;
    hart.pmpcfg[2] = 0x88;                      /* locked TOR [0x200, 0x200): empty */
    hart.pmpaddr[3] = (RAM_BASE + 0x184) >> 2;
    hart.pmpcfg[3] = 0x90;                      /* locked NA4, no access */
    hart.pmp_count = 4;
    hart_flush_tlb(&hart);
    uint64_t v;
    assert_int_equal(mmu_load(&hart, RAM_BASE + 0x180, 4, &v), 0);
    assert_int_equal(mmu_load(&hart, RAM_BASE + 0x180, 8, &v), EXC_LOAD_ACCESS + 1);
    assert_int_equal(mmu_store(&hart, RAM_BASE + 0x180, 8, 1), EXC_STORE_ACCESS + 1);
    assert_int_equal(mmu_load(&hart, RAM_BASE + 0x108, 8, &v), 0);
    assert_int_equal(mmu_load(&hart, RAM_BASE + 0x100, 8, &v), EXC_LOAD_ACCESS + 1);
    assert_int_equal(mmu_store(&hart, RAM_BASE + 0x104, 4, 1), EXC_STORE_ACCESS + 1);
    assert_int_equal(mmu_load(&hart, RAM_BASE + 0x200, 8, &v), 0);
}

static void test_pmp_csr_write_read_back(void **state)
{
    (void)state;
    assert_int_equal(csr_write(&hart, 0x3b0, 0x12345), 0);
    assert_int_equal(csr_write(&hart, 0x3a0, 0x1f), 0);
    uint64_t v;
    assert_int_equal(csr_read(&hart, 0x3b0, &v), 0);
    assert_int_equal(v, 0x12345);
    assert_int_equal(csr_read(&hart, 0x3a0, &v), 0);
    assert_int_equal(v, 0x1f);
    assert_int_equal(csr_read(&hart, 0x3a1, &v), -1); /* odd pmpcfg does not exist on RV64 */
}

/* ---- decoded-code cache ---- */

#define JAL(rd, off) ((((uint32_t)(off) >> 20 & 1) << 31) | (((uint32_t)(off) >> 1 & 0x3ff) << 21) | \
                      (((uint32_t)(off) >> 11 & 1) << 20) | ((uint32_t)(off) & 0xff000) | (rd) << 7 | 0x6f)
#define SW(rs2, rs1, imm) S(imm, rs2, rs1, 2, 0x23)
#define RET I(0, 1, 0, 0, 0x67)

/* Decoded code must not run through a non-executable entry inside its page: the hart steps
 * through such a page one checked fetch at a time */
static void test_pmp_entry_inside_a_code_page_stops_a_run(void **state)
{
    (void)state;
    hart.priv = PRV_M;
    hart.mtvec = RAM_BASE + 0x800;
    put32(RAM_BASE + 0x800, JAL(0, 0));
    hart.pmpaddr[0] = (RAM_BASE + 0x10) >> 2; /* NAPOT, 8 bytes */
    hart.pmpcfg[0] = 0x98;                     /* locked, no access */
    hart.pmp_count = 1;
    hart_flush_tlb(&hart);
    uint32_t p[8];
    for (unsigned i = 0; i < 8; i++)
        p[i] = ADDI(5, 5, 1);
    run_prog(p, 8, 20);
    assert_int_equal(hart.x[5], 4);
    assert_int_equal(hart.mcause, EXC_INSN_ACCESS);
    assert_int_equal(hart.mtval, RAM_BASE + 0x10);
    assert_int_equal(hart.pc, RAM_BASE + 0x800);
}

static void test_store_to_decoded_code_is_seen(void **state)
{
    (void)state;
    /* 0x100: addi t0, x0, 1; ret. main: call it, patch its addi, call it again */
    put32(RAM_BASE + 0x100, ADDI(5, 0, 1));
    put32(RAM_BASE + 0x104, RET);
    hart.x[6] = ADDI(5, 0, 42);
    hart.x[7] = RAM_BASE + 0x100;
    uint32_t p[] = { JAL(1, 0x100), SW(6, 7, 0), JAL(1, 0x100 - 8) };
    run_prog(p, 3, 3);
    assert_int_equal(hart.x[5], 1);
    assert_int_equal(hart.pc, RAM_BASE + 4);
    for (unsigned done = 0; done < 4;)
        done += hart_exec_block(&hart, 4 - done);
    assert_int_equal(hart.x[5], 42);
    assert_int_equal(hart.pc, RAM_BASE + 12);
}

static void test_store_to_the_next_instruction_is_seen(void **state)
{
    (void)state;
    /* sw t1, 4(t2) overwrites the instruction right after it, in the same run of code */
    hart.x[6] = ADDI(5, 0, 7);
    hart.x[7] = RAM_BASE;
    uint32_t p[] = { ADDI(5, 0, 1), SW(6, 7, 8), ADDI(5, 0, 3), ADDI(28, 0, 9) };
    run_prog(p, 4, 1);   /* decodes the page */
    hart.pc = RAM_BASE;
    for (unsigned done = 0; done < 4;)
        done += hart_exec_block(&hart, 4 - done);
    assert_int_equal(hart.x[5], 7);
    assert_int_equal(hart.x[28], 9);
}

static void test_fence_i_drops_code_changed_behind_the_harts_back(void **state)
{
    (void)state;
    /* another hart or a device changes code: this hart sees it after fence.i */
    uint32_t p[] = { ADDI(5, 0, 1), 0x0000100f /* fence.i */, ADDI(6, 0, 2) };
    run_prog(p, 3, 1);
    assert_int_equal(hart.x[5], 1);
    put32(RAM_BASE + 8, ADDI(6, 0, 5));
    for (unsigned done = 0; done < 2;)
        done += hart_exec_block(&hart, 2 - done);
    assert_int_equal(hart.x[6], 5);
    /* and code run again after fence.i is decoded afresh */
    put32(RAM_BASE, ADDI(5, 0, 11));
    hart.pc = RAM_BASE;
    hart_flush_code(&hart);
    hart_exec_block(&hart, 1);
    assert_int_equal(hart.x[5], 11);
}

/* On a VM with one hart, fence.i keeps decoded pages unless a device wrote RAM since the
 * last flush: the hart's own stores drop what they overwrite as they happen. */
static void test_fence_i_on_one_hart(void **state)
{
    (void)state;
    static _Atomic uint64_t epoch;
    static const struct hart_bus bus1 = { NULL, &ram, bus_load, bus_store, bus_time, bus_poll, bus_wait, NULL, true, NULL, NULL };
    hart.bus = &bus1;
    ram.dma_epoch = &epoch;
    /* x6 = the address of the first instruction; sw x7 there, fence.i, then run it */
    uint32_t p[] = { ADDI(5, 0, 1), 0x0000100f /* fence.i */, JAL(0, -8) };
    hart.pc = RAM_BASE;
    run_prog(p, 3, 2);
    assert_int_equal(hart.x[5], 1);
    /* a store of its own: seen */
    hart.x[6] = RAM_BASE;
    hart.x[7] = ADDI(5, 0, 2);
    hart.pc = RAM_BASE + 0x100;
    put32(RAM_BASE + 0x100, SW(7, 6, 0));
    put32(RAM_BASE + 0x104, JAL(0, -0x104 + 4)); /* to the fence.i */
    for (unsigned done = 0; done < 5;)
        done += hart_exec_block(&hart, 5 - done); /* sw, jal, fence.i, jal, addi */
    assert_int_equal(hart.x[5], 2);
    /* a device's write, announced: seen after fence.i */
    put32(RAM_BASE, ADDI(5, 0, 3));
    guest_mem_dma(&ram);
    for (unsigned done = 0; done < 3;)
        done += hart_exec_block(&hart, 3 - done); /* fence.i, jal, addi */
    assert_int_equal(hart.x[5], 3);
    /* nothing announced: this fence.i kept the decoded page (what makes fence.i cheap) */
    memcpy(ram.host, &(uint32_t){ ADDI(5, 0, 4) }, 4);
    for (unsigned done = 0; done < 3;)
        done += hart_exec_block(&hart, 3 - done);
    assert_int_equal(hart.x[5], 3);
    ram.dma_epoch = NULL;
    hart.bus = &bus;
}

/* An AMO that writes decoded code is seen, also when the page had a write TLB entry from
 * before it held decoded code. */
static void test_amo_to_decoded_code_is_seen(void **state)
{
    (void)state;
    uint64_t x = RAM_BASE + 0x1000;
    uint32_t amoswap_w = (0x01u << 27) | (7u << 20) | (6u << 15) | (2u << 12) | 0x2f; /* amoswap.w x0, x7, (x6) */
    uint32_t p[] = { SD(0, 6, 8), I(0, 6, 0, 1, 0x67) /* jalr ra, 0(x6) */, amoswap_w,
                     I(0, 6, 0, 1, 0x67), ADDI(9, 0, 1) };
    put32(x, ADDI(5, 0, 1));
    put32(x + 4, I(0, 1, 0, 0, 0x67)); /* ret */
    hart.x[6] = x;
    hart.x[7] = ADDI(5, 0, 2);
    hart.pc = RAM_BASE;
    run_prog(p, 5, 9);
    assert_int_equal(hart.x[9], 1);
    assert_int_equal(hart.x[5], 2);
}

static void test_translated_alu_run_matches_the_interpreter(void **state)
{
    (void)state;
    /* a run of ALU instructions long enough to be translated; run once as a whole and once
     * one instruction per call (which interprets each), and compare the registers */
    uint32_t p[] = {
        R(0, 6, 5, 0, 7, 0x33), R(0x20, 6, 5, 0, 8, 0x33), R(0, 6, 5, 4, 9, 0x33),
        R(0, 6, 5, 6, 10, 0x33), R(0, 6, 5, 7, 11, 0x33), R(0, 6, 5, 1, 12, 0x33),
        R(0, 6, 5, 5, 13, 0x33), R(0x20, 6, 5, 5, 14, 0x33), R(0, 6, 5, 2, 15, 0x33),
        R(0, 6, 5, 3, 16, 0x33), R(0, 6, 5, 0, 17, 0x3b), R(0x20, 6, 5, 0, 18, 0x3b),
        R(1, 6, 5, 0, 19, 0x33), R(1, 6, 5, 0, 20, 0x3b), I(13, 5, 1, 21, 0x13),
        I(7, 5, 5, 22, 0x13), I(0x400 | 9, 5, 5, 23, 0x13), I(3, 5, 1, 24, 0x1b),
        I(5, 5, 5, 25, 0x1b), I(0x400 | 6, 5, 5, 26, 0x1b), I(-2000, 5, 0, 27, 0x1b),
        I(-5, 5, 2, 28, 0x13), I(-5, 5, 3, 29, 0x13), I(0x123, 5, 4, 30, 0x13),
        I(-0x123, 5, 6, 31, 0x13), I(0x7f0, 5, 7, 1, 0x13), 0xfedcb237 /* lui t0... x4 */,
        R(0x10, 6, 5, 2, 3, 0x33) /* sh1add */, R(0x04, 6, 5, 0, 2, 0x3b) /* add.uw */,
        R(0x20, 6, 5, 7, 0, 0x33) /* andn x0: no effect */, R(0x20, 6, 5, 7, 4, 0x33) /* andn */,
        R(1, 6, 5, 1, 27, 0x33) /* mulh */, R(1, 6, 5, 3, 28, 0x33) /* mulhu */,
        R(5, 6, 5, 5, 29, 0x33) /* minu */, R(5, 6, 5, 7, 30, 0x33) /* maxu */,
        I(0x6b8, 5, 5, 31, 0x13) /* rev8 */,
        R(1, 6, 5, 4, 14, 0x33) /* div */, R(1, 6, 5, 5, 15, 0x33) /* divu */,
        R(1, 6, 5, 6, 16, 0x33) /* rem */, R(1, 6, 5, 7, 17, 0x33) /* remu */,
        R(1, 6, 5, 5, 18, 0x3b) /* divuw */, R(1, 6, 5, 7, 20, 0x3b) /* remuw */,
        I(0x287, 5, 5, 21, 0x13) /* orc.b */, I(0x601, 5, 1, 22, 0x13) /* ctz */,
        I(0x600, 5, 1, 23, 0x13) /* clz */,
        /* destination equal to a source */
        R(0x20, 24, 5, 0, 24, 0x33) /* sub x24, x5, x24 */, R(0x20, 6, 25, 0, 25, 0x33) /* sub x25, x25, x6 */,
        R(0, 26, 6, 0, 26, 0x33) /* add x26, x6, x26 */, I(-2000, 9, 0, 9, 0x13) /* addi x9, x9, -2000 */,
        I(3, 10, 1, 10, 0x13) /* slli x10, x10, 3 */, R(0, 11, 5, 0, 11, 0x3b) /* addw x11, x5, x11 */,
        R(0x20, 12, 12, 0, 12, 0x3b) /* subw x12, x12, x12 */, R(1, 5, 3, 0, 3, 0x3b) /* mulw x3, x3, x5 */,
        I(-16, 2, 7, 2, 0x13) /* andi x2, x2, -16 */, I(0x555, 24, 4, 24, 0x13) /* xori x24, x24, 0x555 */,
        R(1, 25, 6, 0, 25, 0x33) /* mul x25, x6, x25 */,
    };
    unsigned count = sizeof(p) / sizeof(p[0]);
    uint64_t seeds[][2] = { { 0x8000000087654321ULL, 0x00000000000000c5ULL },
                            { 0x00000000fffffff0ULL, 0xffffffffffffff3fULL },
                            { 0x7fffffff12345678ULL, 0x8000000000000000ULL },
                            { 0x8000000000000000ULL, ~0ULL },           /* division overflow */
                            { 0x0000123400560000ULL, 0 },               /* division by zero */
                            { 0, 0xffffffff00000007ULL } };            /* clz, ctz of 0 */
    for (unsigned k = 0; k < sizeof(seeds) / sizeof(seeds[0]); k++) {
        uint64_t want[32];
        for (int pass = 0; pass < 2; pass++) {
            memset(hart.x, 0, sizeof(hart.x));
            hart.x[5] = seeds[k][0];
            hart.x[6] = seeds[k][1];
            hart.pc = RAM_BASE;
            hart_flush_code(&hart);
            for (unsigned i = 0; i < count; i++)
                put32(RAM_BASE + 4 * i, p[i]);
            if (pass == 0) {
                for (unsigned done = 0; done < count;)
                    done += hart_exec_block(&hart, 1);
                memcpy(want, hart.x, sizeof(want));
            } else {
                assert_int_equal(hart_exec_block(&hart, count), count);
                for (unsigned r = 0; r < 32; r++)
                    assert_int_equal(hart.x[r], want[r]);
            }
            assert_int_equal(hart.pc, RAM_BASE + 4 * count);
        }
        assert_int_equal(want[0], 0);
        assert_int_equal(want[7], seeds[k][0] + seeds[k][1]);
        assert_int_equal(want[13], seeds[k][0] >> (seeds[k][1] & 63));
        assert_int_equal(want[19], seeds[k][0] * seeds[k][1]);
        assert_int_equal(want[4], seeds[k][0] & ~seeds[k][1]);
        assert_int_equal(want[27], (uint64_t)(((__int128)(int64_t)seeds[k][0] * (int64_t)seeds[k][1]) >> 64));
        assert_int_equal(want[28], (uint64_t)(((unsigned __int128)seeds[k][0] * seeds[k][1]) >> 64));
        assert_int_equal(want[29], seeds[k][0] < seeds[k][1] ? seeds[k][0] : seeds[k][1]);
        assert_int_equal(want[30], seeds[k][0] > seeds[k][1] ? seeds[k][0] : seeds[k][1]);
        assert_int_equal(want[31], __builtin_bswap64(seeds[k][0]));
        uint64_t a = seeds[k][0], b = seeds[k][1];
        assert_int_equal(want[15], b ? a / b : ~0ULL);
        assert_int_equal(want[17], b ? a % b : a);
        if (b == ~0ULL) {
            assert_int_equal(want[14], -a);
            assert_int_equal(want[16], 0);
        } else if (b) {
            assert_int_equal(want[14], (uint64_t)((int64_t)a / (int64_t)b));
            assert_int_equal(want[16], (uint64_t)((int64_t)a % (int64_t)b));
        } else {
            assert_int_equal(want[14], ~0ULL);
            assert_int_equal(want[16], a);
        }
        uint32_t a32 = (uint32_t)a, b32 = (uint32_t)b;
        assert_int_equal(want[18], (uint64_t)(int64_t)(int32_t)(b32 ? a32 / b32 : ~0u));
        assert_int_equal(want[20], (uint64_t)(int64_t)(int32_t)(b32 ? a32 % b32 : a32));
        assert_int_equal(want[22], a ? (uint64_t)__builtin_ctzll(a) : 64);
        assert_int_equal(want[23], a ? (uint64_t)__builtin_clzll(a) : 64);
    }
}

static uint32_t Bt(int32_t off, uint32_t rs2, uint32_t rs1, uint32_t f3)
{
    uint32_t u = (uint32_t)off;
    return (u >> 12 & 1) << 31 | (u >> 5 & 0x3f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 |
           (u >> 1 & 0xf) << 8 | (u >> 11 & 1) << 7 | 0x63;
}

/* Runs that go on to the next run in the same page (chained) without coming back: loops by
 * a branch and by jalr, run with a small budget per call. Every call keeps to its budget and
 * the loop ends with the right counts. */
/* Executes total instructions in calls of at most budget each; every call keeps to it. */
static void run_in_budget(unsigned total, unsigned budget)
{
    unsigned done = 0, calls = 0;
    while (done < total && calls++ < 100000) {
        unsigned want = total - done < budget ? total - done : budget;
        unsigned got = hart_exec_block(&hart, want);
        assert_true(got >= 1 && got <= want);
        done += got;
    }
    assert_int_equal(done, total);
}

/* Runs that go on to runs in another page (through the jump cache): a loop across two pages
 * by jal/blt and by jalr, with a small budget per call; then the second page's code is
 * changed behind the hart's back and, after fence.i, the new code runs. */
static void test_chained_runs_across_pages(void **state)
{
    (void)state;
    uint64_t b = RAM_BASE + 0x1000;
    for (int use_jalr = 0; use_jalr < 2; use_jalr++) {
        for (unsigned budget = 1; budget <= 4096; budget *= 16) {
            memset(hart.x, 0, sizeof(hart.x));
            hart.x[7] = 300;
            hart.x[10] = b;
            hart.pc = RAM_BASE;
            hart.instret = 0;
            hart_flush_code(&hart);
            put32(RAM_BASE, ADDI(5, 5, 1));
            put32(RAM_BASE + 4, use_jalr ? I(0, 10, 0, 0, 0x67) /* jalr x0, 0(x10) */ : JAL(0, 0x1000 - 4));
            /* starts at RAM_BASE + 8, which leaves a run there at the offset of a run in b */
            put32(RAM_BASE + 8, ADDI(9, 9, 100));
            put32(RAM_BASE + 12, JAL(0, -12));
            hart.pc = RAM_BASE + 8;
            put32(b, ADDI(6, 6, 2));
            put32(b + 4, Bt(8, 7, 5, 5));             /* bge x5, x7, b + 12 */
            put32(b + 8, JAL(0, -0x1000 - 8));        /* back to RAM_BASE */
            put32(b + 12, ADDI(8, 0, 9));
            unsigned total = 2 + 300 * 2 + 299 * 3 + 3;
            run_in_budget(total, budget);
            assert_int_equal(hart.x[5], 300);
            assert_int_equal(hart.x[6], 600);
            assert_int_equal(hart.x[8], 9);
            assert_int_equal(hart.x[9], 100);
            assert_int_equal(hart.pc, b + 16);
            /* new code in the second page, seen after fence.i */
            put32(b, ADDI(6, 6, 5));
            hart_flush_code(&hart);
            hart.x[5] = 0;
            hart.x[6] = 0;
            hart.pc = RAM_BASE;
            total -= 2;
            run_in_budget(total, budget);
            assert_int_equal(hart.x[6], 1500);
        }
    }
}

/* A loop translated as one run that goes round with its registers in host registers: its
 * stores cross into a page the TLB has not seen (a way out in a later round) and the
 * budget ends it mid-way; the results match the interpreter's. */
static void test_translated_loop_matches_the_interpreter(void **state)
{
    (void)state;
    uint32_t p[] = { SD(6, 5, 0), LD(7, 5, 0), R(0, 7, 8, 0, 8, 0x33) /* add x8, x8, x7 */,
                     ADDI(5, 5, 8), ADDI(6, 6, 3), Bt(-20, 9, 5, 1) /* bne x5, x9, start */,
                     ADDI(10, 0, 1) };
    unsigned budgets[] = { 1, 7, 100000 }, total = 6 * 64 + 1;
    uint64_t want[32];
    for (unsigned b = 0; b < 3; b++) {
        memset(hart.x, 0, sizeof(hart.x));
        hart.x[5] = RAM_BASE + 0x3000 - 0x100;   /* 64 doublewords, across a page boundary */
        hart.x[6] = 5;
        hart.x[9] = RAM_BASE + 0x3000 + 0x100;
        hart.pc = RAM_BASE;
        hart.instret = 0;
        hart_flush_code(&hart);
        hart_flush_tlb(&hart);
        for (unsigned i = 0; i < sizeof(p) / sizeof(p[0]); i++)
            put32(RAM_BASE + 4 * i, p[i]);
        run_in_budget(total, budgets[b]);
        assert_int_equal(hart.pc, RAM_BASE + 4 * 7);
        if (b == 0) {
            memcpy(want, hart.x, sizeof(want));
            continue;
        }
        for (unsigned r = 0; r < 32; r++)
            assert_int_equal(hart.x[r], want[r]);
    }
    assert_int_equal(want[10], 1);
    assert_int_equal(want[5], RAM_BASE + 0x3100);
    assert_int_equal(want[6], 5 + 3 * 64);
    assert_int_equal(want[8], 64 * 5 + 3 * (63 * 64 / 2));
    assert_int_equal(get64(RAM_BASE + 0x30f8), 5 + 3 * 63);
}

/* An idle hart gives its decoded pages and translated code back (hart_trim_code) between
 * blocks, even in the middle of a loop that was translated and chained: the loop goes on
 * from where it was with the right counts, and the code is built again. */
static void test_trimmed_code_cache_is_rebuilt_mid_loop(void **state)
{
    (void)state;
    uint32_t loop[] = { ADDI(5, 5, 1), Bt(-4, 6, 5, 4) /* blt x5, x6 */, ADDI(7, 0, 9) };
    for (unsigned i = 0; i < 3; i++)
        put32(RAM_BASE + 4 * i, loop[i]);
    memset(hart.x, 0, sizeof(hart.x));
    hart.x[6] = 3000;
    hart.pc = RAM_BASE;
    hart.instret = 0;
    unsigned done = 0;
    for (unsigned round = 0; done < 2 * 3000 + 1; round++) {
        done += hart_exec_block(&hart, 2 * 3000 + 1 - done < 500 ? 2 * 3000 + 1 - done : 500);
        if (round % 3 == 1)
            hart_trim_code(&hart);
    }
    assert_int_equal(hart.x[5], 3000);
    assert_int_equal(hart.x[7], 9);
    assert_int_equal(hart.instret, 2 * 3000 + 1);
    hart_trim_code(&hart);
    hart_trim_code(&hart); /* twice in a row, and with nothing built, is harmless */
}

static void test_chained_runs_keep_to_the_budget(void **state)
{
    (void)state;
    uint32_t branch_loop[] = { ADDI(5, 5, 1), Bt(-4, 6, 5, 4) /* blt x5, x6 */, ADDI(7, 0, 9) };
    uint32_t jalr_loop[] = { ADDI(5, 5, 1), Bt(8, 6, 5, 5) /* bge x5, x6, +8 */,
                             I(0, 10, 0, 0, 0x67) /* jalr x0, 0(x10) */, ADDI(7, 0, 9) };
    struct { const uint32_t *p; unsigned count, total; } loops[] = {
        { branch_loop, 3, 2 * 1000 + 1 }, { jalr_loop, 4, 3 * 999 + 2 + 1 },
    };
    for (unsigned l = 0; l < 2; l++) {
        for (unsigned budget = 1; budget <= 4096; budget *= 8) {
            memset(hart.x, 0, sizeof(hart.x));
            hart.x[6] = 1000;
            hart.x[10] = RAM_BASE;
            hart.pc = RAM_BASE;
            hart.instret = 0;
            hart_flush_code(&hart);
            for (unsigned i = 0; i < loops[l].count; i++)
                put32(RAM_BASE + 4 * i, loops[l].p[i]);
            run_in_budget(loops[l].total, budget);
            assert_int_equal(hart.x[5], 1000);
            assert_int_equal(hart.x[7], 9);
            assert_int_equal(hart.instret, loops[l].total);
            assert_int_equal(hart.pc, RAM_BASE + 4 * loops[l].count);
        }
    }
}


static void test_translated_runs_with_memory_and_branches_match_the_interpreter(void **state)
{
    (void)state;
    /* runs of loads, stores and ALU instructions that end in branches and jumps, in a loop:
     * the first pass of the loop leaves translated runs at TLB misses, later ones hit */
    uint64_t data = RAM_BASE + 0x2000;
    uint32_t p[] = {
        ADDI(5, 10, 0x100), LD(6, 5, 0), I(4, 5, 2, 7, 0x03) /* lw */, I(1, 5, 4, 8, 0x03) /* lbu */,
        I(3, 5, 0, 9, 0x03) /* lb */, I(2, 5, 1, 11, 0x03) /* lh */, I(6, 5, 5, 12, 0x03) /* lhu */,
        I(4, 5, 6, 13, 0x03) /* lwu */, R(0, 16, 6, 0, 6, 0x33) /* add */, SD(6, 5, 16),
        S(24, 7, 5, 2, 0x23) /* sw */, S(28, 8, 5, 1, 0x23) /* sh */, S(30, 9, 5, 0, 0x23) /* sb */,
        LD(14, 5, 24), 0x00000797 /* auipc x15, 0 */, SD(14, 5, 0), ADDI(16, 16, 1),
        Bt(-68, 17, 16, 4) /* blt x16, x17, start */,
        ADDI(18, 0, 7), Bt(8, 16, 18, 7) /* bgeu: taken */, ADDI(19, 0, 1),
        R(0, 16, 18, 0, 20, 0x33), JAL(1, 8), ADDI(19, 19, 2), ADDI(21, 1, 0),
        Bt(8, 0, 0, 0) /* beq x0, x0: taken */, ADDI(19, 19, 4), Bt(8, 17, 16, 1) /* bne: not taken */,
        0x00000b17 /* auipc x22, 0 */, ADDI(22, 22, 16), I(0, 22, 0, 23, 0x67) /* jalr x23 */,
        ADDI(19, 19, 8), Bt(8, 16, 17, 5) /* bge: taken */, ADDI(19, 19, 16),
        Bt(8, 0, 16, 6) /* bltu x16, x0: not taken */, ADDI(24, 0, 1),
    };
    unsigned count = sizeof(p) / sizeof(p[0]), total = 18 * 3 + 13;
    uint64_t want[32], want_mem[8], want_instret = 0;
    for (int pass = 0; pass < 2; pass++) {
        memset(hart.x, 0, sizeof(hart.x));
        hart.x[10] = data;
        hart.x[17] = 3;
        hart.pc = RAM_BASE;
        hart.instret = 0;
        hart_flush_code(&hart);
        hart_flush_tlb(&hart);
        for (unsigned i = 0; i < count; i++)
            put32(RAM_BASE + 4 * i, p[i]);
        put64(data + 0x100, 0x8123456789abcdefULL);
        put64(data + 0x108, 0xfedcba9876543210ULL);
        for (unsigned i = 2; i < 8; i++)
            put64(data + 0x100 + 8 * i, 0);
        if (pass == 0) {
            for (unsigned done = 0; done < total;)
                done += hart_exec_block(&hart, 1);
            memcpy(want, hart.x, sizeof(want));
            memcpy(want_mem, ram.host + (data + 0x100 - RAM_BASE), sizeof(want_mem));
            want_instret = hart.instret;
        } else {
            unsigned done = 0;
            while (done < total)
                done += hart_exec_block(&hart, total - done);
            assert_int_equal(done, total);
            for (unsigned r = 0; r < 32; r++)
                assert_int_equal(hart.x[r], want[r]);
            assert_memory_equal(ram.host + (data + 0x100 - RAM_BASE), want_mem, sizeof(want_mem));
            assert_int_equal(hart.instret, want_instret);
        }
        assert_int_equal(hart.pc, RAM_BASE + 4 * count);
    }
    assert_int_equal(want[16], 3);
    assert_int_equal(want[19], 0);
    assert_int_equal(want[24], 1);
    assert_int_equal(want[1], RAM_BASE + 4 * 23);
    assert_int_equal(want[21], RAM_BASE + 4 * 23);
    assert_int_equal(want[23], RAM_BASE + 4 * 31);
    assert_int_equal(want[15], RAM_BASE + 4 * 14);
}

/* A load or store in the middle of a translated run that faults: the instructions before
 * it are done, none after it, and the trap sees its pc, as if each were interpreted. */
static void test_fault_in_the_middle_of_a_translated_run_is_precise(void **state)
{
    (void)state;
    for (int store = 0; store < 2; store++) {
        memset(hart.x, 0, sizeof(hart.x));
        hart.x[10] = 0x1000; /* not RAM: the bus refuses it */
        hart.mtvec = RAM_BASE + 0x800;
        /* csrrs x20, mcause, x21 (x21 = 0): its read-modify-write ends the block */
        put32(RAM_BASE + 0x800, CSRRS(20, 0x342, 21));
        uint32_t p[] = { ADDI(5, 0, 1), ADDI(6, 5, 2), 0 /* set below */,
                         store ? SD(5, 10, 8) : LD(8, 10, 8), ADDI(9, 0, 4), ADDI(11, 0, 5) };
        p[2] = ADDI(7, 6, 3);
        hart.pc = RAM_BASE;
        hart_flush_code(&hart);
        for (unsigned i = 0; i < 6; i++)
            put32(RAM_BASE + 4 * i, p[i]);
        unsigned instret = (unsigned)hart.instret;
        /* three instructions, the trap, the csrr in the handler */
        assert_int_equal(hart_exec_block(&hart, 100), 5);
        assert_int_equal(hart.instret - instret, 5);
        assert_int_equal(hart.x[5], 1);
        assert_int_equal(hart.x[6], 3);
        assert_int_equal(hart.x[7], 6);
        assert_int_equal(hart.x[8], 0);
        assert_int_equal(hart.x[9], 0);
        assert_int_equal(hart.x[11], 0);
        assert_int_equal(hart.x[20], store ? EXC_STORE_ACCESS : EXC_LOAD_ACCESS);
        assert_int_equal(hart.mepc, RAM_BASE + 12);
        assert_int_equal(hart.mtval, 0x1008);
        assert_int_equal(hart.pc, RAM_BASE + 0x804);
        /* and again, now that the run is translated, from the same start */
        memset(hart.x, 0, sizeof(hart.x));
        hart.x[10] = 0x1000;
        hart.pc = RAM_BASE;
        assert_int_equal(hart_exec_block(&hart, 100), 5);
        assert_int_equal(hart.x[7], 6);
        assert_int_equal(hart.x[8], 0);
        assert_int_equal(hart.x[9], 0);
        assert_int_equal(hart.mepc, RAM_BASE + 12);
    }
}

static void test_code_changed_behind_the_harts_back_is_seen_after_fence_i(void **state)
{
    (void)state;
    /* 0x108 is decoded (and translated) first; another hart then changes it, and a run
     * from 0x100 over it is made from the new bytes. After fence.i the page is unchanged
     * since that run, but what was made from the old bytes at 0x108 must not come back. */
    uint64_t f = RAM_BASE + 0x100;
    uint32_t p[] = { ADDI(5, 0, 1), ADDI(6, 0, 2), ADDI(7, 0, 3), ADDI(8, 0, 4), RET };
    for (unsigned i = 0; i < 5; i++)
        put32(f + 4 * i, p[i]);
    hart.x[1] = RAM_BASE + 0x200;
    hart.pc = f + 8;
    assert_int_equal(hart_exec_block(&hart, 1), 1);
    assert_int_equal(hart.x[7], 3);
    put32(f + 8, ADDI(7, 0, 33));
    hart.pc = f;
    assert_int_equal(hart_exec_block(&hart, 5), 5);
    assert_int_equal(hart.x[7], 33);
    assert_int_equal(hart.pc, RAM_BASE + 0x200);
    hart_flush_code(&hart);
    hart.x[7] = 0;
    hart.pc = f + 8;
    assert_int_equal(hart_exec_block(&hart, 3), 3);
    assert_int_equal(hart.x[7], 33);
    /* and a change with nothing decoded over it since is seen after fence.i too */
    put32(f + 12, ADDI(8, 0, 44));
    hart_flush_code(&hart);
    hart.pc = f;
    assert_int_equal(hart_exec_block(&hart, 5), 5);
    assert_int_equal(hart.x[8], 44);
}

static void test_fences_in_a_translated_run(void **state)
{
    (void)state;
    /* fence rw,rw and fence w,r need a host barrier (stores before loads), fence.tso and
     * fence r,r do not: whichever, a run with them computes what the interpreter does */
    hart.x[10] = RAM_BASE + 0x2000;
    uint32_t p[] = { ADDI(5, 0, 77), 0x0330000f /* fence rw,rw */, SD(5, 10, 0), 0x0120000f /* fence w,r */,
                     LD(6, 10, 0), 0x8330000f /* fence.tso */, ADDI(7, 6, 1), 0x0220000f /* fence r,r */,
                     ADDI(8, 7, 1) };
    run_prog(p, 9, 9);
    assert_int_equal(hart.x[6], 77);
    assert_int_equal(hart.x[8], 79);
    assert_int_equal(hart.pc, RAM_BASE + 36);
}


/* ---- instruction bytes are read once ----
 * A compressed instruction in the last two bytes of a page is decoded from one read of its
 * bytes. If another hart then rewrites them into the low half of a 32-bit instruction (no
 * fence.i), the hart goes on running what it decoded, and never reads past the page: here
 * the last page of RAM, with nothing mapped after it. */
#define LAST_PAGE (RAM_BASE + RAM_SIZE - 4096)

static void test_compressed_at_the_end_of_ram_runs_as_decoded(void **state)
{
    (void)state;
    uint64_t at = LAST_PAGE + 0xffe;
    hart.mtvec = RAM_BASE + 0x800;
    put16(at, 0x9002); /* c.ebreak: taken by the general path */
    hart.pc = at;
    assert_int_equal(hart_exec_block(&hart, 1), 1);
    assert_int_equal(hart.mcause, EXC_BREAKPOINT);
    assert_int_equal(hart.mepc, at);
    put16(at, 0x0513); /* the low half of addi a0, ... */
    hart.mcause = 0;
    hart.pc = at;
    assert_int_equal(hart_exec_block(&hart, 1), 1);
    assert_int_equal(hart.mcause, EXC_BREAKPOINT);
    assert_int_equal(hart.mepc, at);
}

static void test_translated_run_at_the_end_of_ram_interprets_what_it_was_made_from(void **state)
{
    (void)state;
    uint64_t at = LAST_PAGE + 0xffc;
    hart.x[8] = RAM_BASE + 0x2000;
    put64(RAM_BASE + 0x2000, 0x1234);
    put16(at, 0x4515);     /* c.li a0, 5 */
    put16(at + 2, 0x6004); /* c.ld s1, 0(s0): misses the TLB, so the run stops there */
    hart.pc = at;
    assert_int_equal(hart_exec_block(&hart, 2), 2);
    assert_int_equal(hart.x[10], 5);
    assert_int_equal(hart.x[9], 0x1234);
    put16(at + 2, 0x0513);
    hart_flush_tlb(&hart); /* the load misses again: the hart interprets it */
    hart.x[9] = hart.x[10] = 0;
    hart.pc = at;
    assert_int_equal(hart_exec_block(&hart, 2), 2);
    assert_int_equal(hart.x[10], 5);
    assert_int_equal(hart.x[9], 0x1234);
    assert_int_equal(hart.pc, at + 4);
}

static void test_run_cut_short_by_the_budget_interprets_what_it_was_made_from(void **state)
{
    (void)state;
    uint64_t at = LAST_PAGE + 0xffc;
    put16(at, 0x4515);     /* c.li a0, 5 */
    put16(at + 2, 0x4599); /* c.li a1, 6 */
    hart.pc = at;
    assert_int_equal(hart_exec_block(&hart, 2), 2);
    assert_int_equal(hart.x[11], 6);
    put32(at, ADDI(10, 0, 7)); /* changed behind the hart's back */
    hart.x[10] = 0;
    hart.pc = at;
    assert_int_equal(hart_exec_block(&hart, 1), 1); /* the run's first instruction alone */
    assert_int_equal(hart.x[10], 5);
    assert_int_equal(hart.pc, at + 2);
}

/* Another thread keeps flipping the last halfword of RAM between a compressed instruction
 * and the low half of a 32-bit one while the hart decodes it afresh, again and again:
 * whatever it reads, it runs one or the other (a breakpoint, or an access fault for the
 * half past the end of RAM), and never reads past RAM. */
static atomic_bool flipping;

static void *flip_parcel(void *arg)
{
    uint16_t *p = arg;
    while (atomic_load_explicit(&flipping, memory_order_relaxed)) {
        __atomic_store_n(p, 0x9002, __ATOMIC_RELAXED); /* c.ebreak */
        __atomic_store_n(p, 0x0513, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_instruction_changing_while_decoded_at_the_end_of_ram(void **state)
{
    (void)state;
    uint64_t at = LAST_PAGE + 0xffe;
    hart.mtvec = RAM_BASE + 0x800;
    put16(at, 0x9002);
    pthread_t t;
    atomic_store(&flipping, true);
    assert_int_equal(pthread_create(&t, NULL, flip_parcel, ram.host + (at - RAM_BASE)), 0);
    unsigned seen[2] = { 0, 0 };
    for (unsigned i = 0; i < 50000; i++) {
        hart_flush_code(&hart); /* as after a fence.i */
        hart.pc = at;
        hart_exec_block(&hart, 1);
        if (hart.mcause != EXC_BREAKPOINT && hart.mcause != EXC_INSN_ACCESS)
            break;
        seen[hart.mcause == EXC_INSN_ACCESS]++;
    }
    atomic_store(&flipping, false);
    pthread_join(t, NULL);
    assert_int_equal(seen[0] + seen[1], 50000);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TG(f) cmocka_unit_test_setup_teardown(f, setup_guarded, teardown_guarded)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_lui_addi_addiw_sign_extend), T(test_addiw_overflow_wraps_and_sign_extends),
        T(test_x0_stays_zero), T(test_shifts_mask_amounts), T(test_srliw_sign_extends_result),
        T(test_slt_signed_and_unsigned), T(test_division_by_zero_and_overflow),
        T(test_divw_overflow_and_zero), T(test_mulh_variants), T(test_loads_sign_and_zero_extend),
        T(test_misaligned_load_and_store_work), T(test_branches_and_jumps), T(test_jalr_clears_bit0),
        T(test_zbb_zba_zbs), T(test_compressed_arith_and_stack), T(test_compressed_branch_and_jump),
        T(test_rvc_reserved_encodings_expand_to_zero), T(test_illegal_compressed_traps_with_tval),
        T(test_lr_sc_success_and_failure), T(test_amo_word_sign_extends_and_minmax),
        T(test_amo_misaligned_faults), T(test_csr_from_user_is_illegal), T(test_mip_set_does_not_latch_the_seip_line),
        T(test_write_to_read_only_csr_is_illegal), T(test_counter_access_needs_mcounteren),
        T(test_satp_trapped_by_tvm), T(test_satp_unsupported_mode_is_ignored),
        T(test_ecall_from_user_delegated_to_supervisor),
        T(test_ecall_from_supervisor_not_delegated_goes_to_machine),
        T(test_mret_restores_mode_and_mie), T(test_sret_trapped_by_tsr),
        T(test_interrupt_priority_and_delegation), T(test_wfi_illegal_in_user_and_with_tw),
        T(test_fp_disabled_is_illegal), T(test_sv39_4k_page_load_sets_accessed),
        T(test_sv39_unmapped_faults_with_tval), T(test_sv39_non_canonical_address_faults),
        T(test_sv39_gigapage_and_misaligned_superpage), T(test_sv39_user_page_needs_sum_in_supervisor),
        T(test_sv39_supervisor_cannot_execute_user_page), T(test_sv39_user_cannot_touch_supervisor_page),
        T(test_sv39_mxr_makes_execute_only_readable), T(test_sv39_write_to_read_only_faults),
        T(test_sv39_reserved_w_without_r_faults), T(test_page_crossing_load_faults_on_second_page),
        T(test_sv48_walk), T(test_pmp_denies_supervisor_outside_regions),
        T(test_pmp_entry_inside_a_page_binds), T(test_pmp_entry_inside_a_code_page_stops_a_run),
        T(test_pmp_csr_write_read_back),
        T(test_store_to_decoded_code_is_seen), T(test_store_to_the_next_instruction_is_seen),
        T(test_fence_i_drops_code_changed_behind_the_harts_back),
        T(test_translated_alu_run_matches_the_interpreter),
        T(test_translated_runs_with_memory_and_branches_match_the_interpreter),
        T(test_fault_in_the_middle_of_a_translated_run_is_precise),
        T(test_code_changed_behind_the_harts_back_is_seen_after_fence_i),
        T(test_fences_in_a_translated_run), T(test_chained_runs_keep_to_the_budget),
        T(test_chained_runs_across_pages), T(test_sfence_vma_with_an_address), T(test_fence_i_on_one_hart), T(test_amo_to_decoded_code_is_seen),
        T(test_translated_loop_matches_the_interpreter),
        T(test_trimmed_code_cache_is_rebuilt_mid_loop),
        T(test_pte_changing_under_the_ad_update_retries_the_instruction),
        TG(test_compressed_at_the_end_of_ram_runs_as_decoded),
        TG(test_translated_run_at_the_end_of_ram_interprets_what_it_was_made_from),
        TG(test_run_cut_short_by_the_budget_interprets_what_it_was_made_from),
        TG(test_instruction_changing_while_decoded_at_the_end_of_ram),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
