/* `corral`: the hosted (type 2) program. Reads the user's files, builds the board, runs
 * the guest on its own threads while this thread feeds the console, and turns the
 * guest's poweroff or reboot into an exit status or a restart. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dev/uart16550.h"
#include "hosted/cli.h"
#include "hosted/console.h"
#include "hosted/devices.h"
#include "hosted/sandbox.h"
#include "machine/board.h"

struct file_buf {
    uint8_t *data;
    size_t len;
};

static int read_file(const char *what, const char *path, uint64_t max, struct file_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "corral: cannot open %s '%s': %s\n", what, path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "corral: %s '%s' is not a regular file\n", what, path);
        close(fd);
        return -1;
    }
    if ((uint64_t)st.st_size > max) {
        fprintf(stderr, "corral: %s '%s' is too large (%lld bytes)\n", what, path, (long long)st.st_size);
        close(fd);
        return -1;
    }
    out->len = (size_t)st.st_size;
    out->data = malloc(out->len ? out->len : 1);
    size_t got = 0;
    while (out->data && got < out->len) {
        ssize_t n = read(fd, out->data + got, out->len - got);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            fprintf(stderr, "corral: cannot read %s '%s'\n", what, path);
            free(out->data);
            out->data = NULL;
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    return out->data ? 0 : -1;
}

struct vm_thread {
    struct board *board;
    enum board_exit result;
    int code;
    int done_fd; /* write end of a pipe: tells the console loop the guest stopped */
};

static void *vm_thread_main(void *arg)
{
    struct vm_thread *t = arg;
    t->result = board_run(t->board, &t->code);
    char c = 1;
    if (write(t->done_fd, &c, 1) < 0) {
        /* the console loop also notices through pthread_join; nothing else to do */
    }
    return NULL;
}

/* Feeds console input to the UART until the guest stops. Returns true if the user quit. */
static bool console_loop(struct console *con, struct board *b, int done_fd)
{
    uint8_t pending[4096];
    size_t npending = 0;
    for (;;) {
        int in = console_input_fd(con);
        struct pollfd p[2] = { { done_fd, POLLIN, 0 }, { npending ? -1 : in, POLLIN, 0 } };
        int r = poll(p, 2, npending ? 10 : -1);
        if (r < 0 && errno != EINTR)
            return false;
        if (p[0].revents)
            return false;
        if (p[1].revents && in >= 0 && npending == 0) {
            bool quit = false;
            long n = console_read(con, pending, sizeof(pending), &quit);
            if (quit) {
                board_stop(b);
                return true;
            }
            if (n > 0)
                npending = (size_t)n;
        }
        if (npending) {
            size_t took = uart16550_receive(board_uart(b), pending, npending);
            memmove(pending, pending + took, npending - took);
            npending -= took;
        }
    }
}

/* Every file is open by now: after this the VM keeps only what sandbox.c grants. */
static int lock_down(void)
{
    struct sandbox_policy p = { 0 };
    char warn[256], err[256];
    sandbox_on_violation(console_restore_tty);
    if (sandbox_enter(&p, warn, sizeof(warn), err, sizeof(err))) {
        fprintf(stderr, "corral: sandbox: %s\n", err);
        return -1;
    }
    if (warn[0])
        fprintf(stderr, "corral: sandbox: %s\n", warn);
    return 0;
}

static void hart_lock_down(void *ctx)
{
    if (sandbox_enter_thread(SANDBOX_VCPU)) {
        fprintf(stderr, "corral: sandbox: cannot narrow a hart thread\n");
        exit(1);
    }
}

static int run_vm(const struct vm_config *vc, struct board_config *bc, struct console *con)
{
    char err[256];
    struct board *b;
    if (board_create(&b, bc, err, sizeof(err))) {
        fprintf(stderr, "corral: %s\n", err);
        return 1;
    }
    struct vm_devices *devs = NULL;
    if (devices_attach(b, vc, &devs, err, sizeof(err))) {
        fprintf(stderr, "corral: %s\n", err);
        board_destroy(b);
        return 1;
    }
    int status = 0;
    bool locked = false;
    for (;;) {
        if (board_load(b, err, sizeof(err))) {
            fprintf(stderr, "corral: %s\n", err);
            status = 1;
            break;
        }
        if (!vc->no_sandbox && !locked) {
            locked = true;
            if (lock_down()) {
                status = 1;
                break;
            }
        }
        int fds[2];
        if (pipe2(fds, O_CLOEXEC)) {
            fprintf(stderr, "corral: cannot create a pipe: %s\n", strerror(errno));
            status = 1;
            break;
        }
        struct vm_thread t = { b, BOARD_STOPPED, 0, fds[1] };
        pthread_t tid;
        if (pthread_create(&tid, NULL, vm_thread_main, &t)) {
            fprintf(stderr, "corral: cannot start the guest thread\n");
            close(fds[0]);
            close(fds[1]);
            status = 1;
            break;
        }
        console_loop(con, b, fds[0]);
        pthread_join(tid, NULL);
        close(fds[0]);
        close(fds[1]);
        if (t.result == BOARD_RESET && !vc->no_reboot) {
            devices_reset(devs);
            continue;
        }
        if (t.result == BOARD_POWEROFF && t.code)
            status = t.code & 0xff ? t.code & 0xff : 1;
        break;
    }
    devices_detach(devs);
    board_destroy(b);
    return status;
}

int main(int argc, char **argv)
{
    struct vm_config vc;
    char err[512];
    switch (cli_parse(argc, argv, &vc, err, sizeof(err))) {
    case CLI_EXIT_OK:
        return 0;
    case CLI_ERROR:
        fprintf(stderr, "corral: %s\n", err);
        return 2;
    case CLI_RUN:
        break;
    }
    struct file_buf kernel = { 0 }, fw = { 0 }, initrd = { 0 }, dtb = { 0 };
    if (read_file("kernel", vc.kernel, 1ULL << 30, &kernel))
        return 1;
    bool builtin = !vc.bios || !strcmp(vc.bios, "builtin");
    if (!builtin && read_file("firmware", vc.bios, 64 * MiB, &fw))
        return 1;
    if (vc.initrd && read_file("initrd", vc.initrd, vc.mem_size, &initrd))
        return 1;
    if (vc.dtb && read_file("device tree", vc.dtb, 64 * KiB, &dtb))
        return 1;

    struct console *con = console_open(STDIN_FILENO, STDOUT_FILENO);
    if (!con) {
        fprintf(stderr, "corral: cannot set up the console\n");
        return 1;
    }
    struct board_config bc = {
        .ram_size = vc.mem_size, .num_harts = vc.smp,
        .bootargs = vc.append ? vc.append : "console=ttyS0",
        .kernel = kernel.data, .kernel_len = kernel.len,
        .firmware = fw.data, .firmware_len = fw.len,
        .initrd = initrd.data, .initrd_len = initrd.len,
        .dtb = dtb.data, .dtb_len = dtb.len,
        .console = { console_write, con },
        .hart_thread_start = vc.no_sandbox ? NULL : hart_lock_down,
    };
    int status = run_vm(&vc, &bc, con);
    console_close(con);
    free(kernel.data);
    free(fw.data);
    free(initrd.data);
    free(dtb.data);
    return status;
}
