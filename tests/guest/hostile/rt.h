/* The tiny runtime of the hostile guests: UART output, verdict lines, the trap record,
 * SBI calls, power off, and a minimal virtio-mmio driver (virtio.c). No libc. */
#ifndef HOSTILE_RT_H
#define HOSTILE_RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The runner gives every guest --mem 64M: RAM is [RAM_BASE, RAM_END). */
#define RAM_BASE 0x80000000UL
#define RAM_END  0x84000000UL
#define UART_BASE 0x10000000UL
#define TEST_BASE 0x00100000UL
#define VIRTIO_BASE 0x10001000UL
#define VIRTIO_SLOTS 8

#define CAUSE_FETCH_MISALIGNED 0
#define CAUSE_FETCH_ACCESS 1
#define CAUSE_ILLEGAL 2
#define CAUSE_LOAD_MISALIGNED 4
#define CAUSE_LOAD_ACCESS 5
#define CAUSE_STORE_MISALIGNED 6
#define CAUSE_STORE_ACCESS 7
#define CAUSE_FETCH_PAGE 12
#define CAUSE_LOAD_PAGE 13
#define CAUSE_STORE_PAGE 15
#define NO_TRAP (~0UL)

static inline void mb(void) { __asm__ volatile("fence rw, rw" ::: "memory"); }

static inline uint64_t rdtime(void)
{
    uint64_t t;
    __asm__ volatile("rdtime %0" : "=r"(t));
    return t;
}

static inline uint32_t mmio_r32(uintptr_t a) { uint32_t v = *(volatile uint32_t *)a; mb(); return v; }
static inline void mmio_w32(uintptr_t a, uint32_t v) { mb(); *(volatile uint32_t *)a = v; }

/* One access of SIZE bytes (1, 2, 4, else 8), no fence: the attacks choose every size. */
static inline uint64_t mmio_rd(uintptr_t a, unsigned size)
{
    switch (size) {
    case 1: return *(volatile uint8_t *)a;
    case 2: return *(volatile uint16_t *)a;
    case 4: return *(volatile uint32_t *)a;
    default: return *(volatile uint64_t *)a;
    }
}

static inline void mmio_wr(uintptr_t a, unsigned size, uint64_t v)
{
    switch (size) {
    case 1: *(volatile uint8_t *)a = (uint8_t)v; break;
    case 2: *(volatile uint16_t *)a = (uint16_t)v; break;
    case 4: *(volatile uint32_t *)a = (uint32_t)v; break;
    default: *(volatile uint64_t *)a = v; break;
    }
}

/* The last trap: its cause (NO_TRAP if none since rt_clear_trap), tval and epc. A fetch fault
 * resumes at the return address (tests reach bad code by calling it); an ecall from U-mode
 * at rt_user_return, in S-mode; any other exception after the instruction that took it.
 * Interrupts are not recorded: they are masked in sie and dropped. */
struct trap_record {
    uint64_t cause, tval, epc;
    uint64_t count;
};
extern volatile struct trap_record rt_last;
void rt_clear_trap(void);
/* Where an ecall from U-mode returns to, in S-mode (0: no U-mode code runs). */
extern uint64_t rt_user_return;

void rt_putc(char c);
void rt_puts(const char *s);
void rt_hex(uint64_t v);
void rt_dec(uint64_t v);
void *rt_memset(void *d, int c, size_t n);
void *rt_memcpy(void *d, const void *s, size_t n);

/* One verdict line: "<what> ok" or "<what> FAIL"; failures are counted for the power-off
 * status. Returns ok. */
bool rt_verdict(bool ok, const char *what);
/* The same with a detail printed before ok/FAIL ("<what> [<detail> 0x<val>] ok"). */
bool rt_verdict_val(bool ok, const char *what, const char *detail, uint64_t val);
void rt_finish(void); /* prints the tally, powers off with the failure count */

struct sbiret { long error, value; };
struct sbiret sbi_call(long eid, long fid, long a0, long a1, long a2);
/* Starts hart ID (SBI HSM) running FN on its own stack; FN must not return. */
bool rt_start_hart(unsigned id, void (*fn)(void));

/* ---- virtio-mmio (virtio.c) */
#define VIRTIO_NET 1
#define VIRTIO_BLK 2
#define VIRTIO_CONSOLE 3
#define VIRTIO_RNG 4
#define VIRTIO_BALLOON 5
#define VIRTIO_INPUT 18

#define VS_ACK 1
#define VS_DRIVER 2
#define VS_DRIVER_OK 4
#define VS_FEATURES_OK 8
#define VS_NEEDS_RESET 0x40

#define R_MAGIC 0x000
#define R_DEVICE_ID 0x008
#define R_DEV_FEATURES 0x010
#define R_DEV_FEATURES_SEL 0x014
#define R_DRV_FEATURES 0x020
#define R_DRV_FEATURES_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_INT_STATUS 0x060
#define R_INT_ACK 0x064
#define R_STATUS 0x070
#define R_QUEUE_DESC 0x080
#define R_QUEUE_AVAIL 0x090
#define R_QUEUE_USED 0x0a0
#define R_CONFIG 0x100

#define VD_NEXT 1
#define VD_WRITE 2
#define VD_INDIRECT 4

struct vdesc { uint64_t addr; uint32_t len; uint16_t flags, next; };

#define QSIZE 16 /* the size the guests give every queue */

struct vq {
    uint16_t size, avail_idx, last_used;
    volatile struct vdesc *desc;
    volatile uint16_t *avail; /* flags, idx, ring[] */
    volatile uint32_t *used;  /* flags|idx, then {id, len} pairs */
};

struct vdev {
    uintptr_t base;
    uint32_t id;
    const char *name;
    struct vq q[4];
};

const char *vio_name(uint32_t id);
/* The device of type ID (the first one), or false. */
bool vio_find(struct vdev *d, uint32_t id);
static inline uint32_t vio_r(const struct vdev *d, uint32_t off) { return mmio_r32(d->base + off); }
static inline void vio_w(const struct vdev *d, uint32_t off, uint32_t v) { mmio_w32(d->base + off, v); }
/* Reset (waiting for status 0), ACKNOWLEDGE, DRIVER, VERSION_1 | INDIRECT_DESC, FEATURES_OK. */
bool vio_negotiate(struct vdev *d);
/* Sets up queue N with SIZE entries at its own place in the guest's queue area. */
void vio_queue(struct vdev *d, unsigned n, uint16_t size);
/* The whole bring-up of every queue the guests use, ending with DRIVER_OK. */
bool vio_init(struct vdev *d);
void vio_reset(struct vdev *d);
static inline uint32_t vio_status(const struct vdev *d) { return vio_r(d, R_STATUS); }
/* The queue a device's attacks go to: requests the device reads from the driver. */
unsigned vio_main_queue(const struct vdev *d);
/* Offers head HEAD on queue N and notifies. */
void vq_offer(struct vdev *d, unsigned n, uint16_t head);
/* Waits up to MS milliseconds for a used entry on queue N: 1 (its length in *len), 0 on
 * timeout, -1 as soon as the device sets NEEDS_RESET. */
int vq_wait(struct vdev *d, unsigned n, unsigned ms, uint32_t *len);
uint16_t vq_used_idx(const struct vdev *d, unsigned n);
/* A normal request the device must serve after any attack, and reset first: true if it
 * worked. Prints nothing. */
bool vio_good_op(struct vdev *d);
/* Reset, bring up again, and a good request: the verdict "<dev>: <after> -> good request ok". */
bool vio_recover(struct vdev *d, const char *after);
/* blk: reads LEN bytes from SECTOR into DST (the device writes guest RAM); true if OK. */
bool vio_blk_read(struct vdev *d, uint64_t sector, void *dst, uint32_t len);
/* net: an ARP request for 10.0.2.2 on descriptor 0 of the transmit queue, given back. */
bool vio_net_send_arp(struct vdev *d);
void delay_ms(unsigned ms);

#endif
