/* The VM process lockdown (sandbox.h): no-new-privs, rlimits, Landlock over the VM's own files
 * and seccomp allow-lists per thread kind. The lists were found by tracing real guests (disk
 * raw and qcow2, user and tap networking, entropy, pty console, reboot); a system call missing
 * here shows up as one clear line and the VM's end, never as a silent failure. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <seccomp.h>

#include "hosted/sandbox.h"

/* ---- Landlock: the kernel headers here may predate ABI 4-6, so the newer parts are spelled out */

#define LL_FS_TRUNCATE  (1ULL << 14) /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define LL_NET_BIND_TCP (1ULL << 0)  /* ABI 4 */
#define LL_RULE_NET_PORT 2
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)

#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1 /* si_code of a SIGSYS from a seccomp filter's trap */
#endif

struct ll_ruleset_attr { uint64_t handled_access_fs, handled_access_net, scoped; };
struct ll_path_beneath { uint64_t allowed_access; int32_t parent_fd; } __attribute__((packed));
struct ll_net_port { uint64_t allowed_access; uint64_t port; };

#define LL_FS_ABI1 ((1ULL << 13) - 1) /* EXECUTE .. MAKE_SYM */
#define LL_FS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
/* Read-write: files and directories under it may be made, changed, renamed and removed; never
 * executed, and no device nodes or FIFOs made. */
#define LL_FS_RW (LL_FS_READ | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR | \
                  LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR |             \
                  LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |               \
                  LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_REFER | LL_FS_TRUNCATE |  \
                  LL_FS_IOCTL_DEV)
/* The rights that mean something on a file (not a directory). */
#define LL_FS_FILE (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
                    LANDLOCK_ACCESS_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)

/* What every VM reads after lockdown, wherever it exists: its own /proc entries (the stats
 * endpoint reads /proc/self/stat and status), the resolver list libslirp's DNS forwarder
 * re-reads when it changes, and the overcommit mode glibc's malloc checks before it shrinks
 * a thread's heap. */
static const char *const runtime_ro[] = { "/proc/self", "/etc/resolv.conf",
                                          "/proc/sys/vm/overcommit_memory" };

/* ---- state shared with the SIGSYS handler: written before it can run, read-only after */

#define NAME_MAX_NR 512
static char syscall_names[NAME_MAX_NR][24];
static pid_t sb_pid;
static volatile sig_atomic_t sb_active;
static _Thread_local int thread_kind = SANDBOX_WORKER;
static void (*volatile last_words)(void);
static int ll_fd = -1;               /* the ruleset other threads restrict themselves with */
static atomic_int ll_pending, ll_failed;
static struct sock_filter *vcpu_prog;
static unsigned short vcpu_prog_len;

/* Writes "WHAT: strerror(-rc)" into err and returns rc. */
static int __attribute__((format(printf, 4, 5))) fail(char *err, size_t errlen, int rc,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < errlen)
        snprintf(err + n, errlen - (size_t)n, ": %s", strerror(-rc));
    return rc;
}

static void append(char *buf, size_t len, const char *text)
{
    size_t n = strlen(buf);
    if (n + 1 < len)
        snprintf(buf + n, len - n, "%s%s", n ? "; " : "", text);
}

/* ---- the SIGSYS handler: async-signal-safe only (write, exit_group, landlock, prctl) */

static size_t put_str(char *p, const char *s)
{
    size_t n = 0;
    while (s[n]) {
        p[n] = s[n];
        n++;
    }
    return n;
}

static size_t put_num(char *p, long v)
{
    char t[24];
    size_t n = 0, o = 0;
    if (v < 0) {
        p[o++] = '-';
        v = -v;
    }
    do
        t[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < sizeof(t));
    while (n)
        p[o++] = t[--n];
    return o;
}

static void landlock_this_thread(void)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(SYS_landlock_restrict_self, ll_fd, 0))
        atomic_fetch_add(&ll_failed, 1);
    atomic_fetch_sub(&ll_pending, 1);
}

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    if (si->si_code == SI_TKILL && si->si_pid == sb_pid && ll_fd >= 0) {
        landlock_this_thread(); /* sandbox_enter asks each existing thread to join the domain */
        errno = saved;
        return;
    }
    if (si->si_code != SYS_SECCOMP) {
        errno = saved;
        return;
    }
    static const char *const kinds[] = { "worker", "main", "vcpu" };
    char msg[160];
    size_t n = put_str(msg, "corral: sandbox: forbidden system call ");
    int nr = si->si_syscall;
    n += put_num(msg + n, nr);
    n += put_str(msg + n, " (");
    n += put_str(msg + n, nr >= 0 && nr < NAME_MAX_NR && syscall_names[nr][0] ? syscall_names[nr]
                                                                              : "unknown");
    n += put_str(msg + n, ") in ");
    n += put_str(msg + n, kinds[thread_kind]);
    n += put_str(msg + n, " thread\n");
    if (write(STDERR_FILENO, msg, n) < 0) {
        /* nothing more to say */
    }
    if (last_words)
        last_words();
    syscall(SYS_exit_group, 159); /* 128 + SIGSYS, as a shell shows a death by it */
}

static void resolve_names(void)
{
    for (int nr = 0; nr < NAME_MAX_NR; nr++) {
        char *s = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
        if (s)
            snprintf(syscall_names[nr], sizeof(syscall_names[nr]), "%s", s);
        free(s);
    }
}

/* ---- rlimits */

static int highest_fd(void)
{
    DIR *d = opendir("/proc/self/fd");
    int hi = 64;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (atoi(e->d_name) > hi)
            hi = atoi(e->d_name);
    if (d)
        closedir(d);
    return hi;
}

/* RLIMIT_NPROC is left alone: it counts every process and thread of the user, not of this VM,
 * so no bound is both safe for the user's other programs and tight for this one. */
static int set_rlimits(char *err, size_t errlen)
{
    struct rlimit r;
    rlim_t nofile = (rlim_t)highest_fd() + 256 > 1024 ? (rlim_t)highest_fd() + 256 : 1024;
    if (!getrlimit(RLIMIT_NOFILE, &r) && r.rlim_max != RLIM_INFINITY && r.rlim_max < nofile)
        nofile = r.rlim_max;
    r = (struct rlimit){ nofile, nofile };
    if (setrlimit(RLIMIT_NOFILE, &r))
        return fail(err, errlen, -errno, "cannot bound open files");
    r = (struct rlimit){ 0, 0 }; /* guest memory never lands in a core file or stays locked */
    if (setrlimit(RLIMIT_CORE, &r) || setrlimit(RLIMIT_MEMLOCK, &r))
        return fail(err, errlen, -errno, "cannot set core and memlock limits");
    if (!getrlimit(RLIMIT_FSIZE, &r) && r.rlim_cur != r.rlim_max) {
        r.rlim_cur = r.rlim_max; /* disk images grow: as large as the hard limit lets them */
        setrlimit(RLIMIT_FSIZE, &r);
    }
    return 0;
}

/* ---- Landlock */

int sandbox_landlock_abi(void)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return abi < 0 ? 0 : (int)abi;
}

static int ll_add_path(int rs, const char *path, uint64_t want, uint64_t handled, bool must)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return must ? -errno : 0;
    struct stat st;
    if (fstat(fd, &st)) {
        close(fd);
        return -errno;
    }
    struct ll_path_beneath pb = { want & handled & (S_ISDIR(st.st_mode) ? ~0ULL : LL_FS_FILE), fd };
    int rc = syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) ? -errno : 0;
    close(fd);
    return rc;
}

static int ll_build(const struct sandbox_policy *p, int abi, char *err, size_t errlen)
{
    struct ll_ruleset_attr a = { LL_FS_ABI1, 0, 0 };
    size_t size = sizeof(a.handled_access_fs);
    if (abi >= 2)
        a.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        a.handled_access_fs |= LL_FS_TRUNCATE;
    if (abi >= 5)
        a.handled_access_fs |= LL_FS_IOCTL_DEV;
    /* TCP connect stays unhandled: user networking connects to any host and port for the
     * guest's NAT. Bind is handled: only the ports named may be bound after lockdown. */
    if (abi >= 4) {
        a.handled_access_net = LL_NET_BIND_TCP;
        size = offsetof(struct ll_ruleset_attr, scoped);
    }
    if (abi >= 6) {
        a.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
        size = sizeof(a);
    }
    int rs = (int)syscall(SYS_landlock_create_ruleset, &a, size, 0);
    if (rs < 0)
        return fail(err, errlen, -errno, "cannot create a Landlock ruleset");
    int rc = 0;
    for (unsigned i = 0; !rc && i < p->n_ro; i++)
        if ((rc = ll_add_path(rs, p->ro_paths[i], LL_FS_READ, a.handled_access_fs, true)))
            fail(err, errlen, rc, "cannot allow reading '%s'", p->ro_paths[i]);
    for (unsigned i = 0; !rc && i < p->n_rw; i++)
        if ((rc = ll_add_path(rs, p->rw_paths[i], LL_FS_RW, a.handled_access_fs, true)))
            fail(err, errlen, rc, "cannot allow writing '%s'", p->rw_paths[i]);
    for (size_t i = 0; !rc && i < sizeof(runtime_ro) / sizeof(runtime_ro[0]); i++)
        if ((rc = ll_add_path(rs, runtime_ro[i], LL_FS_READ, a.handled_access_fs, false)))
            fail(err, errlen, rc, "cannot allow reading '%s'", runtime_ro[i]);
    for (unsigned i = 0; !rc && abi >= 4 && i < p->n_tcp_bind; i++) {
        struct ll_net_port np = { LL_NET_BIND_TCP, p->tcp_bind_ports[i] };
        if (syscall(SYS_landlock_add_rule, rs, LL_RULE_NET_PORT, &np, 0))
            rc = fail(err, errlen, -errno, "cannot allow binding a TCP port");
    }
    if (rc) {
        close(rs);
        return rc;
    }
    return rs;
}

/* Landlock restricts the calling thread and its future children only, so every thread that
 * already exists (I/O workers, network backends) is asked through a SIGSYS of our own to
 * restrict itself with the same ruleset, and this thread waits until all have. */
static int ll_all_threads(char *err, size_t errlen)
{
    pid_t tids[256];
    unsigned n = 0;
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return fail(err, errlen, -errno, "cannot list the threads");
    pid_t self = (pid_t)syscall(SYS_gettid);
    struct dirent *e;
    bool too_many = false;
    while ((e = readdir(d)))
        if (atoi(e->d_name) > 0 && atoi(e->d_name) != self) {
            too_many = n == sizeof(tids) / sizeof(tids[0]);
            if (too_many)
                break;
            tids[n++] = atoi(e->d_name);
        }
    closedir(d);
    if (too_many)
        return fail(err, errlen, -E2BIG, "more than %zu threads to confine",
                    sizeof(tids) / sizeof(tids[0]));
    atomic_store(&ll_pending, (int)n + 1);
    atomic_store(&ll_failed, 0);
    landlock_this_thread();
    for (unsigned i = 0; i < n; i++)
        if (syscall(SYS_tgkill, sb_pid, tids[i], SIGSYS))
            atomic_fetch_sub(&ll_pending, 1); /* it ended meanwhile */
    for (int ms = 0; atomic_load(&ll_pending) > 0 && ms < 5000; ms++)
        nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
    if (atomic_load(&ll_pending) > 0 || atomic_load(&ll_failed))
        return fail(err, errlen, -EPERM, "a thread did not take the Landlock domain%s",
                    atomic_load(&ll_pending) > 0 ? " in time" : "");
    return 0;
}

static int landlock(const struct sandbox_policy *p, char *warn, size_t warnlen, char *err,
                    size_t errlen)
{
    int abi = sandbox_landlock_abi();
    if (abi < 1) {
        if (p->landlock_required)
            return fail(err, errlen, -ENOSYS, "Landlock is required but this kernel has none");
        append(warn, warnlen, "no Landlock on this kernel: files are not confined");
        return 0;
    }
    if (abi < 4)
        append(warn, warnlen, "Landlock ABI below 4: TCP bind is not confined");
    if (abi < 6)
        append(warn, warnlen, "Landlock ABI below 6: signals and abstract sockets are not scoped");
    int rs = ll_build(p, abi, err, errlen);
    if (rs < 0)
        return rs;
    ll_fd = rs;
    int rc = ll_all_threads(err, errlen);
    ll_fd = -1; /* a late answer now fails instead of using a closed descriptor */
    close(rs);
    return rc;
}

/* ---- seccomp */

struct rule {
    int nr;
    unsigned nargs;
    struct scmp_arg_cmp arg[1];
};

#define ANY(name) { SCMP_SYS(name), 0, { { 0 } } }
#define ARG(name, cmp) { SCMP_SYS(name), 1, { cmp } }

/* Every thread, harts included: memory, its own bookkeeping and end, time, sleeping and waking,
 * entropy, and writes to descriptors it already has (console output, eventfd kicks, tap). */
static const struct rule common_rules[] = {
    ANY(write), ANY(writev),
    ANY(mmap), ANY(munmap), ANY(mremap), ANY(madvise), ANY(mincore), ANY(brk),
    /* no page turns executable after lockdown; the translator maps its buffer's executable view
     * at hart_init, before it (memfd_create is not allowed here) */
    ARG(mprotect, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)),
    ANY(futex), ANY(clock_gettime), ANY(clock_nanosleep), ANY(nanosleep), ANY(sched_yield),
    ANY(getrandom), ANY(rt_sigreturn), ANY(rt_sigprocmask), ANY(restart_syscall),
    ANY(exit), ANY(exit_group), ANY(gettid), ANY(getpid),
};

/* The rest of the process: files already open (disk I/O, eventfds, pipes), Landlock-confined
 * opens, user networking's sockets (Landlock bounds TCP bind; UDP and unix sockets bind
 * freely), a management API's listening socket and event loop, thread creation, and the tty
 * and signals of the console. */
static const struct rule process_rules[] = {
    ANY(read), ANY(readv), ANY(close),
    ANY(pread64), ANY(pwrite64), ANY(preadv), ANY(pwritev), ANY(preadv2), ANY(pwritev2),
    ANY(lseek), ANY(fsync), ANY(fdatasync), ANY(fallocate), ANY(ftruncate), ANY(fcntl),
    ANY(openat), ANY(fstat), ANY(newfstatat), ANY(statx), ANY(getdents64), ANY(dup), ANY(dup3),
    ANY(pipe2), ANY(eventfd2),
    /* the VM's folder: exit.json written by rename, sockets removed at the end, a switch's
     * stale ports; Landlock keeps these to the folders the VM was given */
    ANY(rename), ANY(renameat), ANY(renameat2), ANY(unlink), ANY(unlinkat), ANY(getrusage),
    ANY(poll), ANY(ppoll), ANY(select), ANY(pselect6),
    ANY(epoll_create1), ANY(epoll_ctl), ANY(epoll_wait), ANY(epoll_pwait),
    ARG(socket, SCMP_A0(SCMP_CMP_EQ, AF_UNIX)), ARG(socket, SCMP_A0(SCMP_CMP_EQ, AF_INET)),
    ARG(socket, SCMP_A0(SCMP_CMP_EQ, AF_INET6)),
    ANY(connect), ANY(bind), ANY(listen), ANY(accept), ANY(accept4), ANY(shutdown),
    ANY(sendto), ANY(recvfrom), ANY(sendmsg), ANY(recvmsg), ANY(setsockopt), ANY(getsockopt),
    ANY(getsockname), ANY(getpeername),
    ARG(ioctl, SCMP_A1(SCMP_CMP_EQ, TCGETS)), ARG(ioctl, SCMP_A1(SCMP_CMP_EQ, TCSETS)),
    ARG(ioctl, SCMP_A1(SCMP_CMP_EQ, TCSETSW)), ARG(ioctl, SCMP_A1(SCMP_CMP_EQ, TCSETSF)),
    ARG(ioctl, SCMP_A1(SCMP_CMP_EQ, TIOCGWINSZ)), ARG(ioctl, SCMP_A1(SCMP_CMP_EQ, FIONREAD)),
    ARG(ioctl, SCMP_A1(SCMP_CMP_EQ, FIONBIO)),
    /* threads, never processes: CLONE_THREAD implies CLONE_VM and CLONE_SIGHAND */
    ARG(clone, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)),
    ANY(set_robust_list), ANY(rseq), ANY(sched_getaffinity),
    ANY(rt_sigaction), ARG(tgkill, SCMP_A0(SCMP_CMP_EQ, 0 /* the pid, filled in */)),
    /* a hart thread adds its own narrower filter */
    ARG(seccomp, SCMP_A0(SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER)),
};

/* A crash on a hart thread (SIGSEGV, SIGBUS, ...) runs the console's fatal-signal handler there:
 * it puts the terminal back, restores the default action and raises the signal again; a
 * forbidden call there puts the terminal back too (sandbox_on_violation). The asynchronous
 * signals (SIGTERM, SIGINT, ...) never land on a hart: it blocks them. */
static const struct rule vcpu_rules[] = {
    /* a background VM's console.log starts again at its cap, from the hart that wrote it */
    ANY(ftruncate),
    ARG(ioctl, SCMP_A1(SCMP_CMP_EQ, TCSETS)), ARG(ioctl, SCMP_A1(SCMP_CMP_EQ, TCSETSW)),
    ARG(ioctl, SCMP_A1(SCMP_CMP_EQ, TCSETSF)), ANY(rt_sigaction),
    ARG(tgkill, SCMP_A0(SCMP_CMP_EQ, 0 /* the pid, filled in */)),
};

/* AddressSanitizer's runtime in a sanitizer build: alternate signal stacks as threads start and
 * end, and at exit LeakSanitizer's tracer, a child sharing the memory that lists the threads
 * (with the old open and getdents) and ptraces them. It starts with SIGSYS blocked, so a call
 * missing here ends it without a word and leaves the process waiting for it forever.
 * A sanitizer build is for finding memory errors, not for guarding a host. */
#ifdef __SANITIZE_ADDRESS__
static const struct rule sanitizer_common_rules[] = { ANY(sigaltstack) };
static const struct rule sanitizer_process_rules[] = {
    ARG(clone, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_VM, CLONE_VM)), ANY(ptrace), ANY(wait4),
    ANY(prctl), ANY(getppid), ANY(open), ANY(getdents),
};
#define SANITIZER_RULES(f, set) add_rules(f, set, sizeof(set) / sizeof(set[0]))
#else
#define SANITIZER_RULES(f, set) 0
#endif

static int add_rules(scmp_filter_ctx f, const struct rule *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct scmp_arg_cmp a = r[i].arg[0];
        if (r[i].nr == SCMP_SYS(tgkill))
            a.datum_a = (scmp_datum_t)sb_pid; /* signals to this process only */
        int rc = seccomp_rule_add_array(f, SCMP_ACT_ALLOW, r[i].nr, r[i].nargs, &a);
        if (rc)
            return rc;
    }
    return 0;
}

static scmp_filter_ctx filter_new(const struct rule *extra, size_t nextra)
{
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_TRAP);
    if (!f)
        return NULL;
    int rc = seccomp_attr_set(f, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (!rc)
        rc = add_rules(f, common_rules, sizeof(common_rules) / sizeof(common_rules[0]));
    if (!rc)
        rc = SANITIZER_RULES(f, sanitizer_common_rules);
    if (!rc)
        rc = add_rules(f, extra, nextra);
    if (rc) {
        seccomp_release(f);
        return NULL;
    }
    return f;
}

/* The hart filter is compiled now, while allocation and pipes are allowed, so that a hart
 * thread installs it with one system call. */
static int vcpu_filter_compile(char *err, size_t errlen)
{
    /* A hart runs guest code in memory, sleeps on its condition variable, writes console
     * output and eventfd kicks, draws entropy for virtio-rng: the common rules, and what a
     * crash needs. No opens, no sockets, no threads. */
    scmp_filter_ctx f = filter_new(vcpu_rules, sizeof(vcpu_rules) / sizeof(vcpu_rules[0]));
#ifdef __SANITIZE_ADDRESS__
    /* most device code runs on harts: their error reports need what the process has */
    if (f && (add_rules(f, process_rules, sizeof(process_rules) / sizeof(process_rules[0])) ||
              SANITIZER_RULES(f, sanitizer_process_rules))) {
        seccomp_release(f);
        f = NULL;
    }
#endif
    if (!f)
        return fail(err, errlen, -ENOMEM, "cannot build the vCPU filter");
    int fds[2], rc = pipe2(fds, O_CLOEXEC) ? -errno : 0;
    if (!rc) {
        rc = seccomp_export_bpf(f, fds[1]);
        close(fds[1]);
    }
    seccomp_release(f);
    static struct sock_filter buf[4096];
    ssize_t n = rc ? -1 : read(fds[0], buf, sizeof(buf));
    if (!rc)
        close(fds[0]);
    if (rc || n <= 0 || n % (ssize_t)sizeof(buf[0]))
        return fail(err, errlen, rc ? rc : -EIO, "cannot compile the vCPU filter");
    vcpu_prog = buf;
    vcpu_prog_len = (unsigned short)(n / (ssize_t)sizeof(buf[0]));
    return 0;
}

static int process_filter_load(char *err, size_t errlen)
{
    scmp_filter_ctx f = filter_new(process_rules, sizeof(process_rules) / sizeof(process_rules[0]));
    int rc = f ? 0 : -ENOMEM;
    /* clone3 hides its flags in memory where no filter can read them: glibc falls back to
     * clone on ENOSYS, whose flags the rule above checks. */
    if (!rc)
        rc = seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    if (!rc)
        rc = SANITIZER_RULES(f, sanitizer_process_rules);
    if (!rc)
        rc = seccomp_attr_set(f, SCMP_FLTATR_CTL_TSYNC, 1);
    if (!rc)
        rc = seccomp_load(f);
    if (f)
        seccomp_release(f);
    return rc ? fail(err, errlen, rc, "cannot load the seccomp filter") : 0;
}

void sandbox_on_violation(void (*fn)(void))
{
    last_words = fn;
}

int sandbox_enter_thread(enum sandbox_thread_kind k)
{
    if (!sb_active)
        return 0;
    thread_kind = k;
    if (k != SANDBOX_VCPU)
        return 0;
    sigset_t async;
    sigfillset(&async);
    static const int faults[] = { SIGSYS, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT };
    for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
        sigdelset(&async, faults[i]);
    pthread_sigmask(SIG_BLOCK, &async, NULL);
    struct sock_fprog prog = { vcpu_prog_len, vcpu_prog };
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) ? -errno : 0;
}

int sandbox_enter(const struct sandbox_policy *p, char *warn, size_t warnlen, char *err,
                  size_t errlen)
{
    warn[0] = err[0] = '\0';
    if (sb_active)
        return fail(err, errlen, -EALREADY, "the sandbox is already on");
    if (getenv("CORRAL_PERF_MAP")) {
        snprintf(err, errlen, "CORRAL_PERF_MAP makes hart threads open files: use --no-sandbox");
        return -EPERM;
    }
    sb_pid = getpid();
    resolve_names();
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    if (sigaction(SIGSYS, &sa, NULL))
        return fail(err, errlen, -errno, "cannot catch SIGSYS");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
        return fail(err, errlen, -errno, "cannot set no-new-privs");
    int rc = set_rlimits(err, errlen);
    if (!rc)
        rc = vcpu_filter_compile(err, errlen);
    if (!rc)
        rc = landlock(p, warn, warnlen, err, errlen);
    if (!rc)
        rc = process_filter_load(err, errlen);
    if (rc)
        return rc;
    thread_kind = SANDBOX_MAIN;
    sb_active = 1;
    return 0;
}
