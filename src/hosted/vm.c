/* One virtual machine in its VM process: reads the images, opens the disks, builds the
 * board, attaches the devices, and runs the harts on a thread of its own that turns the
 * guest's reboots into restarts. Its owner (run or serve) does the talking. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend/block.h"
#include "boot/loader.h"
#include "dev/uart16550.h"
#include "hosted/devices.h"
#include "hosted/image_share.h"
#include "hosted/lockdown.h"
#include "hosted/vm.h"
#include "machine/board.h"

struct file_buf {
    uint8_t *data;
    size_t len;
    int fd;     /* kept open: a reboot checks the file has not shrunk under the mapping */
    const char *what;
};

struct vm {
    struct vm_spec spec;
    char *cmdline;
    struct file_buf kernel, fw, initrd, dtb;
    struct board *board;
    struct vm_devices *devs;
    struct blk_backend *disks[SPEC_MAX_DRIVES];
    char switch_root[4096];
    pthread_t thread;
    bool thread_started;
    int done_fd;
    int statm_fd;          /* /proc/self/statm, opened before the lockdown */
    _Atomic int state;
    int status;
    uint64_t start_ns;
    char late_error[256];  /* a reload that failed after a reboot */
    uint64_t swept_epoch;  /* the board's busy epoch at the last zero-page sweep */
    bool swept;
    uint64_t swept_ns;     /* when the last sweep ran */
    uint64_t zero_bytes;   /* given back by zero-page sweeps, in all */
    int kshare_fd;         /* the kernel's shared copy (image_share.c), or -1 */
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Maps an image read-only and private: its pages are the page cache's, shared by every VM
 * booting the same file, and they leave this process's RSS once loaded (vm_drop_images). */
static int read_file(const char *what, const char *path, uint64_t max, struct file_buf *out,
                     char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s '%s': %s", what, path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s '%s' is not a regular file", what, path);
        close(fd);
        return -1;
    }
    if ((uint64_t)st.st_size > max) {
        snprintf(err, errlen, "%s '%s' is too large (%lld bytes)", what, path,
                 (long long)st.st_size);
        close(fd);
        return -1;
    }
    out->len = (size_t)st.st_size;
    out->data = out->len ? mmap(NULL, out->len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    out->fd = fd;
    out->what = what;
    if (out->data == MAP_FAILED) {
        close(fd);
        out->data = NULL;
        snprintf(err, errlen, "cannot map %s '%s': %s", what, path, strerror(errno));
        return -1;
    }
    if (!out->data) { /* an empty file: the loaders say what is wrong with it */
        close(fd);
        out->data = (uint8_t *)"";
    }
    return 0;
}

static void unmap_file(struct file_buf *f)
{
    if (f->data && f->len) {
        munmap(f->data, f->len);
        close(f->fd);
    }
    f->data = NULL;
}

/* Before a reload: a file cut shorter than its mapping would fault instead of reading. */
static int images_intact(struct vm *vm, char *err, size_t errlen)
{
    struct file_buf *f[] = { &vm->kernel, &vm->fw, &vm->initrd, &vm->dtb };
    for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
        struct stat st;
        if (f[i]->data && f[i]->len && (fstat(f[i]->fd, &st) || (uint64_t)st.st_size < f[i]->len)) {
            snprintf(err, errlen, "the %s file shrank while the VM ran: cannot reboot", f[i]->what);
            return -EIO;
        }
    }
    return 0;
}

/* The images are in guest RAM now: their pages leave this process (a reboot maps them in
 * again from the page cache). */
static void drop_images(struct vm *vm)
{
    struct file_buf *f[] = { &vm->kernel, &vm->fw, &vm->initrd, &vm->dtb };
    for (size_t i = 0; i < ARRAY_SIZE(f); i++)
        if (f[i]->data && f[i]->len)
            madvise(f[i]->data, f[i]->len, MADV_DONTNEED);
}

static int read_images(struct vm *vm, char *err, size_t errlen)
{
    const struct vm_spec *s = &vm->spec;
    uint64_t mem = s->mem_mib * MiB;
    bool builtin = !s->firmware || !strcmp(s->firmware, "builtin");
    if ((s->kernel && read_file("kernel", s->kernel, 1ULL << 30, &vm->kernel, err, errlen)) ||
        (!builtin && read_file("firmware", s->firmware, 64 * MiB, &vm->fw, err, errlen)) ||
        (s->initrd && read_file("initrd", s->initrd, mem, &vm->initrd, err, errlen)) ||
        (s->dtb && read_file("device tree", s->dtb, 64 * KiB, &vm->dtb, err, errlen)))
        return -1;
    return 0;
}

/* The board's hook: the kernel's pages in RAM become a view of its shared copy. */
static int map_kernel(void *ctx, uint8_t *dst, size_t len)
{
    struct vm *vm = ctx;
    return image_share_map(vm->kshare_fd, dst, len);
}

int vm_open(struct vm **out, const struct vm_spec *s, const struct char_backend *console,
            const char *switch_root, char *err, size_t errlen)
{
    err[0] = '\0';
    struct vm *vm = calloc(1, sizeof(*vm));
    if (!vm || spec_copy(&vm->spec, s)) {
        free(vm);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    vm->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    vm->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    snprintf(vm->switch_root, sizeof(vm->switch_root), "%s", switch_root ? switch_root : "");
    vm->kshare_fd = -1;
    int rc = -EINVAL;
    if (spec_check(s, err, errlen) || read_images(vm, err, errlen))
        goto fail;
    if (vm->kernel.data && boot_is_linux_image(vm->kernel.data, vm->kernel.len)) {
        char why[256];
        vm->kshare_fd = image_share_open(vm->kernel.data, vm->kernel.len, why, sizeof(why));
    }
    if (!(vm->cmdline = spec_cmdline(s))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    struct board_config bc = {
        .ram_size = s->mem_mib * MiB, .num_harts = s->vcpus, .bootargs = vm->cmdline,
        .ram_small_pages = s->balloon, /* a balloon returns memory 4 KiB at a time */
        .kernel = vm->kernel.data, .kernel_len = vm->kernel.len,
        .firmware = vm->fw.data, .firmware_len = vm->fw.len,
        .initrd = vm->initrd.data, .initrd_len = vm->initrd.len,
        .dtb = vm->dtb.data, .dtb_len = vm->dtb.len,
        .console = *console,
        .hart_thread_start = s->no_sandbox ? NULL : lockdown_hart_thread,
        .map_kernel = vm->kshare_fd >= 0 ? map_kernel : NULL, .map_ctx = vm,
    };
    if ((rc = board_create(&vm->board, &bc, err, errlen)))
        goto fail;
    if ((rc = devices_open_disks(s, vm->disks, err, errlen)))
        goto fail;
    *out = vm;
    return 0;
fail:
    vm_close(vm);
    return rc ? rc : -EINVAL;
}

int vm_launch(struct vm *vm, char *err, size_t errlen)
{
    const struct vm_spec *s = &vm->spec;
    int rc = devices_attach(vm->board, s, vm->disks, vm->switch_root, &vm->devs, err, errlen);
    memset(vm->disks, 0, sizeof(vm->disks)); /* the devices own them now, even on failure */
    if (rc)
        return rc;
    board_set_cpu_quota(vm->board, s->cpu_quota);
    rc = board_load(vm->board, err, errlen);
    drop_images(vm);
    return rc;
}

static void *vm_thread(void *arg)
{
    struct vm *vm = arg;
    for (;;) {
        int code = 0;
        enum board_exit e = board_run(vm->board, &code);
        if (e == BOARD_RESET && !vm->spec.no_reboot) {
            devices_reset(vm->devs);
            int rc = images_intact(vm, vm->late_error, sizeof(vm->late_error));
            if (!rc)
                rc = board_load(vm->board, vm->late_error, sizeof(vm->late_error));
            drop_images(vm);
            if (rc == 0)
                continue;
            vm->status = 1;
            break;
        }
        if (e == BOARD_POWEROFF && code)
            vm->status = code & 0xff ? code & 0xff : 1;
        break;
    }
    atomic_store(&vm->state, VM_STOPPED);
    uint64_t one = 1;
    if (write(vm->done_fd, &one, sizeof(one)) < 0) {
        /* an eventfd write fails only on overflow, which one write cannot reach */
    }
    return NULL;
}

int vm_go(struct vm *vm, char *err, size_t errlen)
{
    vm->start_ns = mono_ns();
    atomic_store(&vm->state, VM_RUNNING);
    if (pthread_create(&vm->thread, NULL, vm_thread, vm)) {
        atomic_store(&vm->state, VM_STOPPED);
        snprintf(err, errlen, "cannot start the guest's thread");
        return -EAGAIN;
    }
    vm->thread_started = true;
    return 0;
}

int vm_done_fd(const struct vm *vm) { return vm->done_fd; }

int vm_wait(struct vm *vm)
{
    if (vm->thread_started) {
        pthread_join(vm->thread, NULL);
        vm->thread_started = false;
    }
    if (vm->late_error[0])
        fprintf(stderr, "corral: %s\n", vm->late_error);
    return vm->status;
}

void vm_close(struct vm *vm)
{
    if (!vm)
        return;
    if (vm->thread_started) {
        board_stop(vm->board);
        vm_wait(vm);
    }
    devices_detach(vm->devs);
    for (unsigned i = 0; i < SPEC_MAX_DRIVES; i++)
        if (vm->disks[i])
            blk_close(vm->disks[i]);
    board_destroy(vm->board);
    unmap_file(&vm->kernel);
    unmap_file(&vm->fw);
    unmap_file(&vm->initrd);
    unmap_file(&vm->dtb);
    if (vm->kshare_fd >= 0)
        close(vm->kshare_fd);
    free(vm->cmdline);
    spec_free(&vm->spec);
    if (vm->done_fd >= 0)
        close(vm->done_fd);
    if (vm->statm_fd >= 0)
        close(vm->statm_fd);
    free(vm);
}

enum vm_state vm_state(const struct vm *vm) { return (enum vm_state)atomic_load(&vm->state); }
const struct vm_spec *vm_spec(const struct vm *vm) { return &vm->spec; }

const char *vm_state_name(enum vm_state s)
{
    static const char *const names[] = { "Not started", "Running", "Paused", "Stopped" };
    return names[s];
}

int vm_pause(struct vm *vm)
{
    int expect = VM_RUNNING;
    if (!atomic_compare_exchange_strong(&vm->state, &expect, VM_PAUSED))
        return -EINVAL;
    board_pause(vm->board, true);
    return 0;
}

int vm_resume(struct vm *vm)
{
    int expect = VM_PAUSED;
    if (!atomic_compare_exchange_strong(&vm->state, &expect, VM_RUNNING))
        return -EINVAL;
    board_pause(vm->board, false);
    return 0;
}

/* When a guest goes idle: the harts park, the devices are held, and the RAM's zero pages
 * (and the kernel's pages the host can map again) go back to the host. A pause of a few
 * milliseconds that an idle guest does not see. While it stays idle the sweep comes again
 * every IDLE_RESWEEP_NS: a guest that just booted goes on touching pages for some seconds
 * after it first looks idle, and an idle kernel's timer work maps back a few of the kernel
 * pages the last sweep let go. A sweep costs a few milliseconds of host CPU. */
#define IDLE_RESWEEP_NS (30 * 1000000000ULL)

uint64_t vm_idle_sweep(struct vm *vm)
{
    uint64_t epoch, now = mono_ns();
    if (vm_state(vm) != VM_RUNNING || !board_idle(vm->board, &epoch))
        return 0;
    if (vm->swept && epoch == vm->swept_epoch && now - vm->swept_ns < IDLE_RESWEEP_NS)
        return 0;
    vm->swept = true;
    vm->swept_epoch = epoch;
    vm->swept_ns = now;
    uint64_t got = 0;
    board_pause(vm->board, true);
    if (board_wait_parked(vm->board, 200)) {
        devices_hold(vm->devs, true);
        got = board_drop_zero_pages(vm->board);
        devices_hold(vm->devs, false);
    }
    board_pause(vm->board, false);
    vm->zero_bytes += got;
    return got;
}

void vm_set_cpu_quota(struct vm *vm, unsigned percent)
{
    vm->spec.cpu_quota = percent;
    board_set_cpu_quota(vm->board, percent);
}

void vm_stop(struct vm *vm)
{
    if (vm->board)
        board_stop(vm->board);
}

int vm_power_button(struct vm *vm)
{
    return devices_power_button(vm->devs);
}

int vm_balloon_set(struct vm *vm, uint64_t mib)
{
    if (mib >= vm->spec.mem_mib)
        return -ERANGE;
    return devices_balloon_set(vm->devs, mib);
}

size_t vm_console_input(struct vm *vm, const uint8_t *buf, size_t len)
{
    return uart16550_receive(board_uart(vm->board), buf, len);
}

static uint64_t rss_bytes(const struct vm *vm)
{
    char buf[128];
    ssize_t n = vm->statm_fd >= 0 ? pread(vm->statm_fd, buf, sizeof(buf) - 1, 0) : -1;
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    unsigned long long size, resident;
    if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
        return 0;
    return resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

json_t *vm_stats(struct vm *vm)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    enum vm_state st = vm_state(vm);
    double up = st == VM_CREATED ? 0 : (double)(mono_ns() - vm->start_ns) / 1e9;
    json_t *j = json_pack("{s:s,s:f,s:I,s:f,s:f,s:i,s:I,s:i}", "state", vm_state_name(st),
                          "uptime_s", up, "rss_bytes", (json_int_t)rss_bytes(vm), "cpu_user_s",
                          ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6, "cpu_system_s",
                          ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, "vcpus",
                          (int)vm->spec.vcpus, "mem_size_mib", (json_int_t)vm->spec.mem_mib,
                          "cpu_quota_pct", (int)vm->spec.cpu_quota);
    json_object_set_new(j, "zero_pages_returned_bytes", json_integer((json_int_t)vm->zero_bytes));
    json_object_set_new(j, "kernel_shared", json_boolean(vm->kshare_fd >= 0));
    devices_stats(vm->devs, j);
    return j;
}
