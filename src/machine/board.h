/* The virt board: RAM, harts, the bus that routes physical addresses to device models,
 * interrupt wiring, the device tree, boot images and power. It does no host I/O of its
 * own: images arrive as buffers and the console as a char backend. */
#ifndef CORRAL_MACHINE_BOARD_H
#define CORRAL_MACHINE_BOARD_H

#include "corral/chardev.h"
#include "corral/irq.h"
#include "corral/mmio.h"

struct board;
struct uart16550;

struct board_config {
    uint64_t ram_size;
    /* No transparent huge pages for RAM: memory the guest gives back (balloon, zero pages)
     * then returns to the host page by page. */
    bool ram_small_pages;
    unsigned num_harts;
    const char *bootargs;
    const uint8_t *kernel;   size_t kernel_len;    /* required */
    const uint8_t *firmware; size_t firmware_len;  /* NULL: the built-in SBI */
    const uint8_t *initrd;   size_t initrd_len;    /* optional */
    const uint8_t *dtb;      size_t dtb_len;       /* NULL: generated */
    struct char_backend console;                   /* UART and SBI console output */
    /* Optional: after the kernel (a Linux Image or flat binary, copied from its file's first
     * byte on) is in RAM, maps the first LEN bytes of that file over DST, a private
     * copy-on-write view, so that VMs booting the same kernel share the pages none of them
     * writes; 0 if it did. The board then never drops those pages (they would read back as
     * the file, not as zeros). */
    int (*map_kernel)(void *ctx, uint8_t *dst, size_t len);
    void *map_ctx;
    /* Optional: called first on every hart thread (the host narrows the thread there). */
    void (*hart_thread_start)(void *ctx);
    void *hart_thread_ctx;
};

enum board_exit { BOARD_POWEROFF = 0, BOARD_RESET, BOARD_STOPPED };

/* Creates the board (no guest code runs yet). On failure returns a negative code and
 * writes a one-line reason into err. */
int board_create(struct board **out, const struct board_config *cfg, char *err, size_t errlen);
void board_destroy(struct board *b);
/* Adds a device region (virtio slots); the board keeps the pointer. Call before board_load. */
int board_add_mmio(struct board *b, const struct mmio_region *r);
/* The PLIC input for source src, for a device's interrupt. */
struct irq_line board_irq(struct board *b, unsigned src);
/* Marks virtio slot i as populated so the device tree lists it. */
void board_use_virtio_slot(struct board *b, unsigned slot);
struct guest_mem *board_ram(struct board *b);
/* (Re)loads firmware, kernel, initrd and DTB into RAM and resets harts and devices. */
int board_load(struct board *b, char *err, size_t errlen);
/* Runs the harts (one thread each) until poweroff, reset or board_stop().
 * *exit_code is the guest's failure code for a failing poweroff, else 0. */
enum board_exit board_run(struct board *b, int *exit_code);
/* Any thread: makes board_run() return BOARD_STOPPED. */
void board_stop(struct board *b);
struct uart16550 *board_uart(struct board *b);
/* Any thread: harts stop at their next poll (within a few thousand instructions) and sleep
 * until resumed; devices and time go on. */
void board_pause(struct board *b, bool pause);
bool board_paused(struct board *b);
/* After board_pause(b, true): waits up to TIMEOUT_MS for every hart to park; true if they
 * all did (none then runs guest code until the pause ends). */
bool board_wait_parked(struct board *b, unsigned timeout_ms);
/* Whether every started hart has slept through its last idle window; *epoch counts the
 * times a hart became busy again, so that a caller acts once per idle spell. */
bool board_idle(struct board *b, uint64_t *epoch);
/* Gives the host back the resident pages of RAM that hold only zeros (kernels zero much
 * memory they never use again), and unmaps the pages of the kernel's file mapping that the
 * guest never wrote (the host's page cache keeps them for every VM); returns the bytes
 * dropped. Only while nothing writes RAM:
 * every hart parked (board_wait_parked) and every device held. */
uint64_t board_drop_zero_pages(struct board *b);
/* The guest no longer needs [gpa, gpa+len) (a balloon's free page report): its host pages
 * go (over the kernel's file mapping, the page reads as the file's bytes again). */
void board_discard_ram(struct board *b, uint64_t gpa, uint64_t len);
/* Caps the harts' host CPU at PERCENT of one core in all (0: no cap). Any thread. */
void board_set_cpu_quota(struct board *b, unsigned percent);

#endif
