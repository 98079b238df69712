/* The translator, seen from the code cache and the interpreter: a buffer of host code, and
 * jit_run(), which turns a run of decoded instructions into host code and marks the run's
 * first entry F_JIT. Host-neutral; the host's emitter is behind jit/backend.h.
 *
 * A run is a line of ALU instructions, loads, stores, AMOs, FP instructions and reads of
 * cycle, time and instret, with conditional branches back into it (loops) or out of it
 * (one, unless it holds a loop), ended by a jump or a branch out. The interpreter stays the reference for every
 * instruction.
 * Host code is entered through a trampoline at the start of the code buffer, as
 * jit_entry(x + JIT_XBIAS, pc of the run's first instruction, the run's code), so that
 * every guest register is at a short displacement; hart.jit follows x[].
 * A run's head entry is its first instruction's, with the handler F_JIT; the decoded page's
 * run[] holds at the same slot the run's offset in the buffer.
 * A run returns the next pc and 0, or the pc of a load or store the TLB could not serve and
 * 1 (everything before it is done). Every run subtracts the instructions it completed from
 * hart.jit.left. A run whose next pc has a run goes on to it without coming back
 * (chaining: within its page through the decoded entries, to another page through the jump
 * cache), while left stays above zero. */
#ifndef CORRAL_CPU_JIT_H
#define CORRAL_CPU_JIT_H

#include <stdbool.h>
#include <stdint.h>

#if defined(__x86_64__)
#define HAVE_JIT 1
#endif

#define JIT_SIZE (16u << 20)  /* host code for translated runs, per VM */
#define JIT_RUN_MAX 32        /* instructions in one run (so at most 128 bytes of guest code) */
#define JIT_INSN_MAX 512      /* host bytes for one instruction at worst, with its checks and ways out */
#define JIT_START 128         /* the entry trampoline and its constants, then runs */
#define JIT_XBIAS 128         /* translated code addresses x[] from (uint8_t *)x + JIT_XBIAS */

/* The code buffer: one memfd mapped twice, so that no page is ever writable and executable
 * at once (W^X). */
struct jit_buf {
    uint8_t *code;        /* JIT_SIZE bytes, read and execute; NULL if unavailable */
    uint8_t *w;           /* the same bytes, read and write: the emitter's view */
    uint32_t used;
    uint32_t nruns;       /* runs in it (for tests and profiles) */
    bool full;            /* out of room: start afresh at the next flush */
    bool fp;              /* some run computes in floating point: see jit_fp_begin */
};

/* Test seam: when not 0, the buffer counts as full past this many bytes, so that tests can
 * make it run out often. */
extern uint32_t jit_test_size;

struct jit_ret { uint64_t pc, miss; };
typedef struct jit_ret (*jit_entry)(uint8_t *xb, uint64_t pc, const uint8_t *code);

/* Translated FP instructions leave their IEEE flags in the host FPU's sticky flags. Around
 * a call into translated code that may hold any, jit_fp_begin() clears them and
 * jit_fp_end() returns them as RISC-V fflags (and clears them), for fcsr. */
#if defined(__x86_64__)
static inline void jit_fp_begin(void)
{
    unsigned m = __builtin_ia32_stmxcsr();
    if (m & 0x3f)
        __builtin_ia32_ldmxcsr(m & ~0x3fu);
}

static inline uint32_t jit_fp_end(void)
{
    /* MXCSR: IE 0x01, DE 0x02 (no RISC-V flag), ZE 0x04, OE 0x08, UE 0x10, PE 0x20 */
    unsigned m = __builtin_ia32_stmxcsr();
    if (!(m & 0x3d))
        return 0;
    __builtin_ia32_ldmxcsr(m & ~0x3fu);
    return (m & 0x01 ? 0x10u : 0) | (m & 0x04 ? 0x08u : 0) | (m & 0x08 ? 0x04u : 0) |
           (m & 0x10 ? 0x02u : 0) | (m & 0x20 ? 0x01u : 0);
}
#else
static inline void jit_fp_begin(void) {}
static inline uint32_t jit_fp_end(void) { return 0; }
#endif

struct code_page;
struct dentry;

/* Maps the buffer (b->code stays NULL when it cannot be mapped: then nothing is translated
 * and every run is interpreted) and writes the trampoline. */
void jit_map(struct jit_buf *b);
void jit_unmap(struct jit_buf *b);
/* Gives the buffer's pages past the trampoline back to the host and starts it afresh. */
void jit_trim(struct jit_buf *b);
/* Starts the buffer afresh (every run in it is forgotten by the caller, and no hart may be
 * running one). */
static inline void jit_reset(struct jit_buf *b) { b->used = JIT_START; b->nruns = 0; b->full = false; }

/* Translates the run starting at offset off of cp into head, if the buffer has room (else
 * sets b->full). head_raw is the first instruction as the caller read it (and recorded it
 * in the snapshot); frm the hart's frm now: instructions that round by frm are made to
 * round in that mode, and the run leaves for the interpreter when frm is another. */
void jit_run(struct jit_buf *b, struct code_page *cp, unsigned off, struct dentry *head, uint32_t head_raw,
             unsigned frm);

#endif
