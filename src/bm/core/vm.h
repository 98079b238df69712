/* A VM: a partition of the machine with its own RAM slice behind its own G-stage tables,
 * its vCPUs on harts (dedicated or time-sliced), its devices and its console line. Fixed
 * table vms[]. */
#ifndef CORRAL_BM_VM_H
#define CORRAL_BM_VM_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/riscv/gstage.h"
#include "boot/sbi.h"
#include "core/console.h"
#include "core/limits.h"
#include "corral/guest_mem.h"
#include "corral/mmio.h"

#define VM_RAM_GPA    0x80000000ULL  /* guest RAM starts where it does on virt */
#define VM_KERNEL_OFF (2ULL << 20)   /* the kernel goes 2 MiB into RAM, as firmware puts it */
#define VM_CODE_STOPPED 255          /* exit code of a VM the hypervisor had to stop */
#define VM_MAX_MMIO   8
/* the guest's devices sit where they do on QEMU's and the hosted virt board */
#define VM_PLIC_PHANDLE 0x100

enum vm_state { VM_FREE = 0, VM_DESCRIBED, VM_RUNNING, VM_OFF, VM_STOPPED };

/* Requests from other harts to the hart running a vCPU, with an IPI (vcpu_request()). */
#define REQ_STOP   (1u << 0)   /* leave the guest for good */
#define REQ_SSIP   (1u << 1)   /* raise the guest's supervisor software interrupt */
#define REQ_FENCE  (1u << 2)   /* drop the guest's cached translations, then clear the bit */
#define REQ_START  (1u << 3)   /* HSM hart_start: enter the guest at start_addr */
#define REQ_EIP    (1u << 4)   /* the virtual PLIC changed seip: update hvip.VSEIP */

struct vm;
struct uart16550;
struct virtio_blk;
struct virtio_net;
struct plic;

/* A vCPU's state while another vCPU has its hart (time-sliced harts). */
struct vcpu_ctx {
    uint64_t gpr[32];
    uint64_t sepc, hstatus, vsstatus, vsie, vstvec, vsscratch, vsepc, vscause, vstval, vsatp;
    uint64_t vstimecmp, hvip;
    uint64_t fpr[32], fcsr;
};

struct vcpu {
    struct vcpu_ctx ctx;
    struct vm *vm;
    unsigned id;               /* the hart id the guest sees */
    int hart;                  /* index of the physical hart that runs it; -1: none */
    volatile int hsm;          /* enum sbi_hsm_state */
    uint64_t start_addr, start_arg;
    volatile uint32_t requests;
    bool kicked_local;         /* it just asked something of a vCPU waiting on its own hart */
    volatile int seip;         /* the virtual PLIC's S-context line for this vCPU */
};

struct module { uint64_t base, size; };

struct vm {
    struct gstage gs;          /* first: its root must be 16 KiB aligned */
    unsigned index;
    const char *name;          /* the description node's name, in the device tree */
    volatile int state;        /* enum vm_state */
    int code;                  /* exit code once OFF or STOPPED */
    uint64_t ram_hpa, ram_size;
    struct guest_mem mem;      /* the slice as guest_mem: host = host physical address */
    struct module kernel, initrd;
    const char *bootargs;
    uint64_t entry, dtb_gpa;
    unsigned num_vcpus;
    uint64_t harts[MAX_VCPUS]; /* corral,harts: physical hart ids asked for */
    unsigned num_harts_asked;
    struct vcpu vcpu[MAX_VCPUS];
    struct mmio_region mmio[VM_MAX_MMIO];  /* emulated devices (src/dev models) */
    unsigned num_mmio;
    struct uart16550 *uart;
    struct plic *plic;
    /* corral,disk: a slice of the machine's first disk, as the guest's virtio-blk */
    uint64_t disk_start, disk_sectors;  /* 512-byte sectors; disk_sectors 0: no disk */
    bool disk_readonly;
    struct virtio_blk *blk;
    const char *net;           /* corral,net: the switch its NIC joins; NULL: no NIC */
    struct virtio_net *nic;
    struct sbi_ops sbi;        /* vm_sbi_ops with this VM's vCPU count */
    char line[160];            /* console output waiting for its newline */
    unsigned line_len;
    spinlock_t line_lock;
};

extern struct vm vms[MAX_VMS];
extern unsigned num_vms;

/* Reads the descriptions under /chosen, reserves their modules, and builds every VM whose
 * description holds up; prints a line for each one that does not. Returns VMs built. */
unsigned vm_setup_all(void);
/* Ends vm (once): prints why, stops its other vCPUs; the last VM to end shuts down. */
void vm_exit(struct vm *vm, enum vm_state how, int code, const char *why);
/* The guest's console output, a line at a time, prefixed with the VM's name. */
void vm_console_write(struct vm *vm, const uint8_t *buf, size_t len);
/* The SBI the guests see: src/boot/sbi.c over these VMs (core/vsbi.c); num_harts is set
 * per VM in vm->sbi. */
extern const struct sbi_ops vm_sbi_ops;

#endif
