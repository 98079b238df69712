/* The VM process lockdown (hosted/sandbox.c). Each case runs in a forked child, since the
 * filters and Landlock cannot be undone; the parent reads the child's status and stderr. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hosted/sandbox.h"

static char dir[64];  /* a scratch directory the policy grants read-write */
static char outside[128]; /* a file the policy does not name */

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/corral-sandbox-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(outside, sizeof(outside), "%s.outside", dir);
    int fd = open(outside, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x", 1), 1);
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    char cmd[320];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir, outside);
    return system(cmd) ? -1 : 0;
}

/* Runs fn in a child under the sandbox; returns its wait status, its stderr in out. */
static int run_child(int (*fn)(void), char *out, size_t outlen)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], STDERR_FILENO);
        close(p[0]);
        const char *rw[] = { dir };
        struct sandbox_policy pol = { .rw_paths = rw, .n_rw = 1, .landlock_required = true };
        char warn[256], err[256];
        if (sandbox_enter(&pol, warn, sizeof(warn), err, sizeof(err))) {
            dprintf(STDERR_FILENO, "sandbox_enter: %s\n", err);
            _exit(90);
        }
        _exit(fn());
    }
    close(p[1]);
    size_t got = 0;
    ssize_t n;
    while (got + 1 < outlen && (n = read(p[0], out + got, outlen - 1 - got)) > 0)
        got += (size_t)n;
    out[got] = '\0';
    close(p[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static int child_files(void)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/inside", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, "hello", 5) != 5 || pread(fd, path, 5, 0) != 5 ||
        memcmp(path, "hello", 5))
        return 1;
    close(fd);
    if (open(outside, O_RDONLY | O_CLOEXEC) >= 0 || errno != EACCES)
        return 2;
    if (open("/etc/passwd", O_RDONLY | O_CLOEXEC) >= 0 || errno != EACCES)
        return 3;
    return 0;
}

static void test_sandbox_files_inside_policy_only(void **state)
{
    char out[512];
    int st = run_child(child_files, out, sizeof(out));
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st))
        fprintf(stderr, "child: %d %s\n", WEXITSTATUS(st), out);
    assert_int_equal(WEXITSTATUS(st), 0);
}

static int child_status(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 1;
    char line[256];
    int seen = 0;
    while (fgets(line, sizeof(line), f)) {
        if (!strcmp(line, "Seccomp:\t2\n"))
            seen |= 1;
        if (!strcmp(line, "NoNewPrivs:\t1\n"))
            seen |= 2;
    }
    fclose(f);
    return seen == 3 ? 0 : 10 + seen;
}

static void test_sandbox_status_shows_seccomp_and_no_new_privs(void **state)
{
    char out[512];
    int st = run_child(child_status, out, sizeof(out));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static int child_mount(void)
{
    syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL);
    return 0; /* not reached */
}

static int __attribute__((unused)) child_ptrace(void)
{
    syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);
    return 0;
}

static int child_netlink(void)
{
    socket(AF_NETLINK, SOCK_RAW, 0);
    return 0;
}

static int child_execve(void)
{
    char *argv[] = { "/bin/true", NULL };
    execve(argv[0], argv, NULL);
    return 0;
}

static int child_fork(void)
{
    fork();
    return 0;
}

static void expect_killed(int (*fn)(void), const char *line)
{
    char out[512];
    int st = run_child(fn, out, sizeof(out));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 159);
    if (!strstr(out, line))
        fprintf(stderr, "stderr was: %s\n", out);
    assert_non_null(strstr(out, line));
}

static void test_sandbox_forbidden_call_names_itself_and_ends(void **state)
{
    expect_killed(child_mount,
                  "corral: sandbox: forbidden system call 165 (mount) in main thread\n");
#ifndef __SANITIZE_ADDRESS__ /* LeakSanitizer ptraces the process at exit */
    expect_killed(child_ptrace, "forbidden system call 101 (ptrace) in main thread");
#endif
    expect_killed(child_netlink, "forbidden system call 41 (socket) in main thread");
    expect_killed(child_execve, "forbidden system call 59 (execve) in main thread");
    expect_killed(child_fork, "(clone) in main thread");
}

static void say_last_words(void)
{
    if (write(STDERR_FILENO, "last words\n", 11) < 0)
        return;
}

static void *vcpu_open(void *arg)
{
    if (sandbox_enter_thread(SANDBOX_VCPU))
        return (void *)1;
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC); /* the process filter allows it */
    return fd >= 0 ? NULL : (void *)2;
}

static int child_vcpu(void)
{
    sandbox_on_violation(say_last_words);
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 1;
    close(fd);
    pthread_t t;
    if (pthread_create(&t, NULL, vcpu_open, NULL))
        return 2;
    void *r;
    pthread_join(t, &r);
    return 3;
}

static void test_sandbox_vcpu_thread_cannot_open(void **state)
{
#ifdef __SANITIZE_ADDRESS__
    skip(); /* a sanitizer build gives harts what its error reports need, opens included */
#endif
    expect_killed(child_vcpu, "forbidden system call 257 (openat) in vcpu thread\nlast words\n");
}

static void *vcpu_crash(void *arg)
{
    if (sandbox_enter_thread(SANDBOX_VCPU))
        return (void *)1;
    raise(SIGSEGV); /* what the console's fatal-signal handler does after restoring the tty */
    return NULL;
}

static int child_vcpu_crash(void)
{
    signal(SIGSEGV, SIG_DFL); /* cmocka's own handler is not the point here */
    pthread_t t;
    void *r;
    if (pthread_create(&t, NULL, vcpu_crash, NULL) || pthread_join(t, &r))
        return 1;
    return 2;
}

/* A crash on a hart thread dies of its own signal, not of the sandbox. */
static void test_sandbox_vcpu_crash_dies_of_its_signal(void **state)
{
    char out[512];
    int st = run_child(child_vcpu_crash, out, sizeof(out));
    if (!WIFSIGNALED(st))
        fprintf(stderr, "status %#x, stderr: %s\n", st, out);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGSEGV);
    assert_null(strstr(out, "forbidden"));
}

static void *io_open(void *arg)
{
    int *go = arg;
    while (!__atomic_load_n(go, __ATOMIC_ACQUIRE))
        usleep(1000);
    int fd = open(outside, O_RDONLY | O_CLOEXEC); /* started before lockdown: Landlock anyway */
    return fd < 0 && errno == EACCES ? NULL : (void *)1;
}

/* A thread that exists before sandbox_enter is confined too (Landlock and seccomp). */
static void test_sandbox_covers_threads_started_before(void **state)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        static int go;
        pthread_t t;
        if (pthread_create(&t, NULL, io_open, &go))
            _exit(1);
        const char *rw[] = { dir };
        struct sandbox_policy pol = { .rw_paths = rw, .n_rw = 1, .landlock_required = true };
        char warn[256], err[256];
        if (sandbox_enter(&pol, warn, sizeof(warn), err, sizeof(err)))
            _exit(2);
        __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
        void *r;
        pthread_join(t, &r);
        if (r)
            _exit(3);
        /* and new threads still start (clone with CLONE_THREAD; clone3 says ENOSYS) */
        go = 1;
        if (pthread_create(&t, NULL, io_open, &go) || pthread_join(t, &r) || r)
            _exit(4);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static uint16_t free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

static int bind_port(uint16_t port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int rc = bind(s, (struct sockaddr *)&a, sizeof(a)) ? errno : 0;
    close(s);
    return rc;
}

/* Landlock ABI 4: TCP bind only to the policy's ports (connect stays open for NAT). */
static void test_sandbox_tcp_bind_only_to_policy_ports(void **state)
{
    if (sandbox_landlock_abi() < 4)
        skip();
    uint16_t allowed = free_port(), other = free_port();
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct sandbox_policy pol = { .tcp_bind_ports = &allowed, .n_tcp_bind = 1 };
        char warn[256], err[256];
        if (sandbox_enter(&pol, warn, sizeof(warn), err, sizeof(err)))
            _exit(1);
        _exit(bind_port(allowed) ? 2 : bind_port(other) != EACCES ? 3 : 0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* Landlock ABI 6: no connecting to another process's abstract unix socket. */
static void test_sandbox_abstract_sockets_of_others_are_out_of_reach(void **state)
{
    if (sandbox_landlock_abi() < 6)
        skip();
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    int n = snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "corral-sandbox-test-%d",
                     (int)getpid());
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(l, (struct sockaddr *)&a, len), 0);
    assert_int_equal(listen(l, 1), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct sandbox_policy pol = { 0 };
        char warn[256], err[256];
        if (sandbox_enter(&pol, warn, sizeof(warn), err, sizeof(err)))
            _exit(1);
        int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        _exit(connect(c, (struct sockaddr *)&a, len) == 0 ? 2 : errno == EPERM ? 0 : 3);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    close(l);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    if (sandbox_landlock_abi() < 1) {
        fprintf(stderr, "no Landlock on this kernel: skipped\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sandbox_files_inside_policy_only),
        cmocka_unit_test(test_sandbox_status_shows_seccomp_and_no_new_privs),
        cmocka_unit_test(test_sandbox_forbidden_call_names_itself_and_ends),
        cmocka_unit_test(test_sandbox_vcpu_thread_cannot_open),
        cmocka_unit_test(test_sandbox_vcpu_crash_dies_of_its_signal),
        cmocka_unit_test(test_sandbox_covers_threads_started_before),
        cmocka_unit_test(test_sandbox_tcp_bind_only_to_policy_ports),
        cmocka_unit_test(test_sandbox_abstract_sockets_of_others_are_out_of_reach),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
