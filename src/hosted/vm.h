/* One virtual machine inside its VM process: built from a VM description, opened (every
 * host file read or opened), locked down, launched (devices and harts on their threads),
 * then paused, resumed, powered off or stopped by its owner: `corral run` on the terminal
 * or `corral serve` behind the control API. */
#ifndef CORRAL_HOSTED_VM_H
#define CORRAL_HOSTED_VM_H

#include <jansson.h>

#include "corral/chardev.h"
#include "hosted/spec.h"

enum vm_state { VM_CREATED = 0, VM_RUNNING, VM_PAUSED, VM_STOPPED };

struct vm;

/* Reads the boot images, opens the disks and builds the board; no thread runs yet.
 * CONSOLE receives the guest's serial output. SWITCH_ROOT holds the virtual switches'
 * folders. On failure a one-line reason in err. */
int vm_open(struct vm **out, const struct vm_spec *s, const struct char_backend *console,
            const char *switch_root, char *err, size_t errlen);
/* Attaches the devices (their threads start) and loads the images into guest RAM. */
int vm_launch(struct vm *vm, char *err, size_t errlen);
/* Starts the harts: the guest runs. The owner locks the process down before this. */
int vm_go(struct vm *vm, char *err, size_t errlen);
/* Readable (an eventfd) once the guest has powered off or been stopped. */
int vm_done_fd(const struct vm *vm);
/* After vm_done_fd: joins the VM's thread and gives the exit status (0 powered off,
 * the guest's failure code, 1 for an error after launch). */
int vm_wait(struct vm *vm);
/* Closes everything (disks are flushed). */
void vm_close(struct vm *vm);

enum vm_state vm_state(const struct vm *vm);
const char *vm_state_name(enum vm_state s);
int vm_pause(struct vm *vm);
int vm_resume(struct vm *vm);
/* Presses the power button the guest sees; -ENODEV if the VM has none. */
int vm_power_button(struct vm *vm);
/* Stops the harts now (devices are closed cleanly after, so flushed writes stay). */
void vm_stop(struct vm *vm);
/* Characters for the guest's serial port; returns how many it took. */
size_t vm_console_input(struct vm *vm, const uint8_t *buf, size_t len);
/* The event loop's periodic call: when every hart has been idle for a while, once per idle
 * spell, gives the host back the guest RAM pages that hold only zeros. Returns the bytes. */
uint64_t vm_idle_sweep(struct vm *vm);
/* Caps the harts' host CPU at PERCENT of one core (0: no cap), now. */
void vm_set_cpu_quota(struct vm *vm, unsigned percent);
/* Sets the balloon's size; -ENODEV without a balloon. */
int vm_balloon_set(struct vm *vm, uint64_t mib);

/* {"state", "uptime_s", "rss_bytes", "cpu_user_s", "cpu_system_s", "vcpus", "mem_size_mib",
 *  "drives": [...], "network-interfaces": [...], "balloon": {...}} */
json_t *vm_stats(struct vm *vm);
const struct vm_spec *vm_spec(const struct vm *vm);

#endif
