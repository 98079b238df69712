/* `corral console NAME [--raw]`: attaches this terminal to a background VM's serial console.
 * Recent output is replayed first; Ctrl-A d detaches and leaves the VM running. Output is
 * filtered as `run`'s is (term_filter) unless --raw. */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "hosted/cli.h"
#include "hosted/console.h"
#include "hosted/home.h"
#include "hosted/proc.h"

static int connect_console(const char *dir)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char path[HOME_PATH_MAX];
    home_file(dir, "console.sock", path, sizeof(path));
    if (strlen(path) >= sizeof(sa.sun_path))
        return -1;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool send_all(int fd, const uint8_t *buf, size_t len)
{
    while (len) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

int cmd_console(int argc, char **argv)
{
    const char *name = NULL;
    bool raw = false;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            puts("usage: corral console NAME [--raw]\n\nAttaches this terminal to the VM's "
                 "serial console; Ctrl-A d detaches. --raw passes every escape sequence the "
                 "guest writes (by default those reaching past the terminal are dropped).");
            return 0;
        }
        if (!strcmp(argv[i], "--raw"))
            raw = true;
        else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else {
            cli_error("usage: corral console NAME [--raw]");
            return EXIT_USAGE;
        }
    }
    if (!name) {
        cli_error("usage: corral console NAME [--raw]");
        return EXIT_USAGE;
    }
    char dir[HOME_PATH_MAX];
    struct home_proc p;
    if (proc_find(name, dir, sizeof(dir), &p))
        return EXIT_VM_FAILED;
    int fd = p.alive ? connect_console(dir) : -1;
    if (fd < 0) {
        cli_error("VM '%s' is not running in the background (corral start %s)", name, name);
        return EXIT_VM_FAILED;
    }
    struct console *con = console_open(STDIN_FILENO, STDOUT_FILENO);
    if (!con) {
        close(fd);
        cli_error("cannot set up the terminal");
        return EXIT_VM_FAILED;
    }
    console_set_detach(con);
    console_set_raw(con, raw);
    int status = 0;
    for (;;) {
        struct pollfd pf[2] = { { fd, POLLIN, 0 }, { console_input_fd(con), POLLIN, 0 } };
        if (poll(pf, 2, -1) < 0 && errno != EINTR)
            break;
        if (pf[0].revents) {
            uint8_t buf[4096];
            ssize_t n = recv(fd, buf, sizeof(buf), 0);
            if (n <= 0) {
                console_close(con);
                con = NULL;
                fprintf(stderr, "\ncorral: the VM's console closed (the VM has ended)\n");
                break;
            }
            console_write(con, buf, (size_t)n);
        }
        if (pf[1].revents) {
            uint8_t buf[256];
            bool quit = false;
            long n = console_read(con, buf, sizeof(buf), &quit);
            if (n > 0 && !send_all(fd, buf, (size_t)n))
                break;
            if (quit || n < 0)
                break;
        }
    }
    close(fd);
    console_close(con);
    return status;
}
