/* The host-neutral side of the translator (see jit.h): the code buffer, which instructions
 * make a run, and what the decoded page records of it. The host's emitter writes the code
 * (jit/backend.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "corral/guard_map.h"
#include "cpu/codecache.h"
#include "cpu/jit/backend.h"

uint32_t jit_test_size;

#ifdef HAVE_JIT
/* With CORRAL_PERF_MAP set, every run is listed in /tmp/perf-PID.map for perf(1), named by
 * the guest physical address it was made from. */
static FILE *perf_map;

static void perf_map_open(void)
{
    if (getenv("CORRAL_PERF_MAP")) {
        char path[64];
        snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
        perf_map = fopen(path, "w");
        if (perf_map)
            setvbuf(perf_map, NULL, _IOLBF, 0);
    }
}

/* One memfd mapped twice, writable where the emitter writes and executable where runs run,
 * so no page is ever both (W^X); guards around each view. Nothing patches code once made
 * (chaining goes through the decoded pages and the jump cache), so every write is the
 * emitter's. Without memfd there is no translator, not an RWX one. */
void jit_map(struct jit_buf *b)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, perf_map_open);
    int fd = memfd_create("corral-jit", MFD_CLOEXEC);
    if (fd < 0)
        return;
    if (ftruncate(fd, JIT_SIZE) == 0) {
        b->w = guard_map(JIT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
        b->code = guard_map(JIT_SIZE, PROT_READ | PROT_EXEC, MAP_SHARED, fd);
    }
    close(fd);
    if (!b->code || !b->w) {
        jit_unmap(b);
        return;
    }
    jit_backend_trampoline(b->w);
    jit_reset(b);
}
#else
void jit_map(struct jit_buf *b) { (void)b; }
#endif

void jit_unmap(struct jit_buf *b)
{
    guard_unmap(b->code, JIT_SIZE);
    guard_unmap(b->w, JIT_SIZE);
    b->code = b->w = NULL;
}

void jit_trim(struct jit_buf *b)
{
    if (!b->w)
        return;
    madvise(b->w + 4096, JIT_SIZE - 4096, MADV_REMOVE);
    jit_reset(b);
}

#ifdef HAVE_JIT
void jit_run(struct jit_buf *b, struct code_page *cp, unsigned off, struct dentry *head, uint32_t head_raw,
             unsigned frm)
{
    struct dentry d[JIT_RUN_MAX];
    uint8_t ops[JIT_RUN_MAX];
    uint32_t raw[JIT_RUN_MAX];
    if (!b->code || b->full)
        return;
    uint32_t size = jit_test_size ? jit_test_size : JIT_SIZE;
    if (b->used + JIT_RUN_MAX * JIT_INSN_MAX + 1024 > size) {
        b->full = true;
        return;
    }
    /* the head as the caller read and decoded it; each instruction after it read once */
    unsigned count = 0, o = off, past = 0, o_past = 0;
    bool end = false, loop = false;
    raw[0] = head_raw;
    while (count < JIT_RUN_MAX && o <= 0xffe) {
        if (count && !code_parcel(cp->host, o, &raw[count]))
            break;
        ops[count] = decode_fields(&d[count], raw[count]);
        end = jit_backend_end_ok(ops[count]);
        if (!end && !jit_backend_op_ok(ops[count], &d[count]))
            break;
        o += d[count].len;
        count++;
        if (end)
            break;
        /* A conditional branch that goes back into the run is a loop, which then runs
         * inside the run's code. The run goes on past one other (its taken side leaves the
         * run), so that, say, a call's argument set-up shares the run of the loop test
         * before it, and ends at the next; past more, the same code would be copied into
         * every run that starts before it. A run that holds a loop ends at the first such
         * branch, so that the loop's own registers, not those of the code around it,
         * decide whether it can stay in host registers. */
        uint8_t op = ops[count - 1];
        if (op >= F_BEQ && op <= F_BGEU) {
            int64_t t = (int64_t)(o - d[count - 1].len) + d[count - 1].imm;
            if (t >= (int64_t)off && t < (int64_t)(o - d[count - 1].len))
                loop = true;
            else if (!past) {
                past = count;
                o_past = o;
            }
            else
                break;
        }
    }
    if (count == 0)
        return;
    if (loop && past) {
        count = past;
        end = false;
        o = o_past;
    }
    for (unsigned i = 1, at = off + d[0].len; i < count; at += d[i].len, i++)
        code_snap(cp, at, raw[i], d[i].len);
    for (unsigned i = 0; i < count; i++)
        if (ops[i] == F_FPOP || ops[i] == F_FFLAGS) /* frflags reads the host's flags too */
            __atomic_store_n(&b->fp, true, __ATOMIC_RELAXED); /* other harts read it unlocked */
    /* jumps within the buffer are relative: the same in both views */
    uint8_t *endp = jit_backend_emit_run(b->w, b->w + b->used, d, ops, count, end, off, frm);
    if (perf_map)
        fprintf(perf_map, "%lx %lx run_%llx\n", (unsigned long)(b->code + b->used),
                (unsigned long)(endp - (b->w + b->used)), (unsigned long long)(cp->ppage + off));
    /* published in order: the code, the run's offset, the head's handler; the head keeps
     * its decoded fields (other harts may read the head at any time: codecache.h) */
    b->nruns++;
    __atomic_store_n(&cp->run[off >> 1], b->used, __ATOMIC_RELEASE);
    __atomic_store_n(&head->handler, fast_labels[F_JIT], __ATOMIC_RELEASE);
    b->used = (uint32_t)(endp - b->w + 15) & ~15u;
}
#else
void jit_run(struct jit_buf *b, struct code_page *cp, unsigned off, struct dentry *head, uint32_t head_raw,
             unsigned frm)
{
    (void)b; (void)cp; (void)off; (void)head; (void)head_raw; (void)frm;
}
#endif
