/* What a host's emitter gives the host-neutral translator (jit/run.c). One implementation
 * per host architecture, in jit/<arch>/. */
#ifndef CORRAL_CPU_JIT_BACKEND_H
#define CORRAL_CPU_JIT_BACKEND_H

#include "cpu/decode.h"
#include "cpu/jit/jit.h"

/* Writes the entry trampoline at base (JIT_START bytes at most). */
void jit_backend_trampoline(uint8_t *base);
/* True if op (decoded as d) can be inside a run (not its end). */
bool jit_backend_op_ok(uint8_t op, const struct dentry *d);
/* True if op can end a run (a jump or branch). */
bool jit_backend_end_ok(uint8_t op);
/* Emits the run of count decoded instructions d (fast_ops ops) that starts at page offset
 * start, at at in the writable view whose buffer starts at base; end says the last
 * instruction is a jump or branch; frm is the hart's frm now (instructions that round by
 * frm may be made for it, the run checking it before them). Returns the end of the emitted
 * code (at most JIT_RUN_MAX * JIT_INSN_MAX + 1024 bytes past at). */
uint8_t *jit_backend_emit_run(uint8_t *base, uint8_t *at, const struct dentry *d, const uint8_t *ops,
                              unsigned count, bool end, unsigned start, unsigned frm);

#endif
