/* Load/store decoding for emulated MMIO. htinst holds the trapping instruction transformed:
 * the address offset zeroed, bit 1 clear if the original was compressed (priv spec,
 * H extension, "Transformed Instruction or Pseudoinstruction for mtinst or htinst"); its
 * rd/rs2 and funct3 are the standard encoding's. A hart may leave htinst 0 (QEMU 7.2
 * does): then the instruction is read from the guest through its own page tables. */
#include <errno.h>

#include "arch/riscv/csr.h"
#include "arch/riscv/mmio_emul.h"

#define OP_LOAD  0x03
#define OP_STORE 0x23
#define EXC_LOAD_ACCESS  5
#define EXC_STORE_ACCESS 7

static const struct mmio_region *find_region(struct vm *vm, uint64_t gpa, unsigned size)
{
    for (unsigned i = 0; i < vm->num_mmio; i++) {
        const struct mmio_region *r = &vm->mmio[i];
        if (gpa >= r->base && gpa - r->base < r->size && size <= r->size - (gpa - r->base))
            return r;
    }
    return NULL;
}

void vcpu_inject(struct cpu *c, uint64_t cause, uint64_t tval)
{
    uint64_t vsstatus = csr_read(CSR_VSSTATUS);
    bool from_s = csr_read(CSR_HSTATUS) & HSTATUS_SPVP;
    /* sstatus layout: SIE bit 1, SPIE bit 5, SPP bit 8 */
    vsstatus = (vsstatus & ~(SSTATUS_SPP | SSTATUS_SPIE | SSTATUS_SIE)) |
               (from_s ? SSTATUS_SPP : 0) | ((vsstatus & SSTATUS_SIE) ? SSTATUS_SPIE : 0);
    csr_write(CSR_VSSTATUS, vsstatus);
    csr_write(CSR_VSEPC, csr_read(CSR_SEPC));
    csr_write(CSR_VSCAUSE, cause);
    csr_write(CSR_VSTVAL, tval);
    csr_write(CSR_SEPC, csr_read(CSR_VSTVEC) & ~3UL);  /* direct mode: exceptions go to BASE */
    csr_set(CSR_HSTATUS, HSTATUS_SPVP);                 /* the handler runs in VS-mode */
    csr_set(CSR_SSTATUS, SSTATUS_SPP);
}

#define PTE_V 1UL
#define PTE_R 2UL
#define PTE_X 8UL
#define PPN(pte) (((pte) >> 10) & ((1UL << 44) - 1))

/* Guest virtual to guest physical through the guest's own tables (vsatp: Sv39/48/57, priv
 * spec, supervisor chapter). Every table read goes through guest_mem_ptr(): the tables are the
 * guest's, and may point anywhere. Permissions are not checked: the guest just ran the
 * instruction we want to read. */
static int gva_to_gpa(struct vm *vm, uint64_t gva, uint64_t *gpa)
{
    uint64_t vsatp = csr_read(CSR_VSATP);
    unsigned mode = vsatp >> 60, levels = mode == 8 ? 3 : mode == 9 ? 4 : mode == 10 ? 5 : 0;
    if (mode == 0) {
        *gpa = gva;
        return 0;
    }
    if (!levels)
        return -EINVAL;
    uint64_t table = (vsatp & ((1UL << 44) - 1)) << 12;   /* satp's PPN: bits 43:0 */
    for (int lvl = (int)levels - 1; lvl >= 0; lvl--) {
        const uint64_t *p = guest_mem_ptr(&vm->mem, table + ((gva >> (12 + 9 * lvl)) & 511) * 8, 8);
        if (!p || !(*p & PTE_V))
            return -EFAULT;
        if (*p & (PTE_R | PTE_X)) {
            uint64_t mask = (1UL << (12 + 9 * lvl)) - 1;
            *gpa = ((PPN(*p) << 12) & ~mask) | (gva & mask);
            return 0;
        }
        table = PPN(*p) << 12;
    }
    return -EFAULT;
}

static int read_guest_u16(struct vm *vm, uint64_t gva, uint16_t *out)
{
    uint64_t gpa;
    const uint8_t *p;
    if (gva & 1 || gva_to_gpa(vm, gva, &gpa) < 0 || !(p = guest_mem_ptr(&vm->mem, gpa, 2)))
        return -EFAULT;
    *out = (uint16_t)(p[0] | p[1] << 8);
    return 0;
}

/* The compressed loads and stores of RVC quadrant 0 (C.LW, C.LD, C.SW, C.SD) as their
 * 32-bit forms: only rd/rs2, funct3 and the opcode matter here. 0 if not one of them. */
static uint32_t expand_compressed(uint16_t c)
{
    unsigned funct3 = c >> 13, reg = 8 + ((c >> 2) & 7);
    if ((c & 3) != 0)
        return 0;
    switch (funct3) {
    case 2: return OP_LOAD | reg << 7 | 2 << 12;    /* c.lw */
    case 3: return OP_LOAD | reg << 7 | 3 << 12;    /* c.ld */
    case 6: return OP_STORE | 2 << 12 | reg << 20;  /* c.sw */
    case 7: return OP_STORE | 3 << 12 | reg << 20;  /* c.sd */
    default: return 0;
    }
}

/* The trapping instruction: htinst when the hart gives it, else read from the guest. */
static int trapped_insn(struct vm *vm, uint32_t *insn, unsigned *len)
{
    uint32_t t = (uint32_t)csr_read(CSR_HTINST);
    if (t & 1) {
        *len = t & 2 ? 4 : 2;
        *insn = t | 3;
        return 0;
    }
    uint64_t pc = csr_read(CSR_SEPC);
    uint16_t lo, hi;
    if (read_guest_u16(vm, pc, &lo) < 0)
        return -EINVAL;
    if ((lo & 3) != 3) {
        *len = 2;
        *insn = expand_compressed(lo);
        return *insn ? 0 : -EINVAL;
    }
    if (read_guest_u16(vm, pc + 2, &hi) < 0)
        return -EINVAL;
    *len = 4;
    *insn = lo | (uint32_t)hi << 16;
    return 0;
}

int mmio_emulate(struct cpu *c, struct vcpu *v, uint64_t scause, uint64_t gpa)
{
    uint32_t insn;
    unsigned len;
    if (trapped_insn(v->vm, &insn, &len) < 0)
        return -EINVAL;
    unsigned op = insn & 0x7f, funct3 = (insn >> 12) & 7;
    unsigned size = 1u << (funct3 & 3);
    bool is_store = scause == CAUSE_STORE_GPF;
    if (is_store ? op != OP_STORE || funct3 > 3 : op != OP_LOAD || funct3 == 7)
        return -EINVAL;
    const struct mmio_region *r = find_region(v->vm, gpa, size);
    if (!r)
        return -ENOENT;
    uint64_t off = gpa - r->base;
    if (is_store) {
        uint64_t val = c->gpr[(insn >> 20) & 31];
        if (size < 8)
            val &= (1UL << (8 * size)) - 1;
        if (r->write(r->dev, off, size, val) < 0) {
            vcpu_inject(c, EXC_STORE_ACCESS, csr_read(CSR_STVAL));
            return -EFAULT;
        }
    } else {
        uint64_t val = 0;
        if (r->read(r->dev, off, size, &val) < 0) {
            vcpu_inject(c, EXC_LOAD_ACCESS, csr_read(CSR_STVAL));
            return -EFAULT;
        }
        if (size < 8) {
            val &= (1UL << (8 * size)) - 1;
            if (!(funct3 & 4) && (val >> (8 * size - 1)) & 1)   /* LB, LH, LW sign-extend */
                val |= ~0UL << (8 * size);
        }
        unsigned rd = (insn >> 7) & 31;
        if (rd)
            c->gpr[rd] = val;
    }
    csr_write(CSR_SEPC, csr_read(CSR_SEPC) + len);
    return 0;
}
