/* The VM process's event loop and its start: API requests, console input, signals and
 * the end of the guest, all on the main thread. SIGTERM is a press of the power button. */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "hosted/api.h"
#include "hosted/console.h"
#include "hosted/console_hub.h"
#include "hosted/home.h"
#include "hosted/lockdown.h"
#include "hosted/vmm.h"

static int signals_fd(void);

/* With CORRAL_CGROUP set, the VM process moves into a cgroup of its own, whose cpu.max
 * holds the quota (the engine's throttle holds it too, for the harts alone). */
static int join_cgroup(struct vmm *m, char *err, size_t errlen)
{
    const char *root = getenv("CORRAL_CGROUP");
    if (!root || !*root || m->cg.on)
        return 0;
    char name[SPEC_ID_MAX + 24];
    if (m->name[0])
        snprintf(name, sizeof(name), "%s", m->name);
    else
        snprintf(name, sizeof(name), "run-%d", (int)getpid());
    int rc = cgroup_join(&m->cg, root, name, err, errlen);
    if (!rc && (rc = cgroup_set_cpu(&m->cg, m->spec.cpu_quota)))
        snprintf(err, errlen, "cannot write the quota into %s/cpu.max: %s", m->cg.path,
                 strerror(-rc));
    return rc;
}

int vmm_start(struct vmm *m, char *err, size_t errlen)
{
    if (!m->sfd_ready) { /* before the first thread, so that every thread blocks them */
        m->sfd = signals_fd();
        m->sfd_ready = true;
    }
    if (m->term)
        console_set_raw(m->term, m->spec.console_raw);
    int rc = join_cgroup(m, err, errlen);
    if (rc)
        return rc;
    struct char_backend con = m->hub ? (struct char_backend){ hub_write, m->hub }
                                     : (struct char_backend){ console_write, m->term };
    struct vm *vm;
    rc = vm_open(&vm, &m->spec, &con, m->switch_root, err, errlen);
    if (rc)
        return rc;
    /* Every file the VM needs is open or read, and every device thread runs: lock the whole
     * process down (all its threads) before the harts start. */
    if ((rc = vm_launch(vm, err, errlen)) ||
        (!m->spec.no_sandbox &&
         (rc = lockdown_enter(&m->spec, m->dir, m->switch_root, err, errlen))) ||
        (rc = vm_go(vm, err, errlen))) {
        vm_close(vm);
        return rc;
    }
    m->vm = vm;
    return 0;
}

static int signals_fd(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    /* blocked here, before any other thread exists, so every thread inherits the mask */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_signal(struct vmm *m, int sfd)
{
    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
        if (!m->vm) {
            m->quit = true;
            continue;
        }
        if (m->button_ms) { /* pressed already: the user insists */
            fprintf(stderr, "corral: signal %u again: stopping the VM\n", si.ssi_signo);
            vm_stop(m->vm);
            continue;
        }
        if (vm_state(m->vm) == VM_PAUSED)
            vm_resume(m->vm); /* a paused guest cannot hear the button */
        int rc = vm_power_button(m->vm);
        m->button_ms = mono_ms();
        if (rc == -ENOTCONN || rc == -ENODEV) {
            fprintf(stderr, "corral: signal %u and %s: stopping the VM\n", si.ssi_signo,
                    rc == -ENODEV ? "no power button"
                                  : "the guest has no driver for its power button");
            vm_stop(m->vm);
        }
    }
}

/* The terminal's input for the guest; pending holds what the UART had no room for. */
struct term_input {
    uint8_t buf[4096];
    size_t n;
};

static void on_terminal(struct vmm *m, struct term_input *in, bool readable)
{
    if (readable && in->n == 0) {
        bool quit = false;
        long n = console_read(m->term, in->buf, sizeof(in->buf), &quit);
        if (quit) {
            m->quit = true;
            if (m->vm)
                vm_stop(m->vm);
            return;
        }
        if (n > 0)
            in->n = (size_t)n;
    }
    if (in->n && m->vm) {
        size_t took = vm_console_input(m->vm, in->buf, in->n);
        memmove(in->buf, in->buf + took, in->n - took);
        in->n -= took;
    }
}

/* How often the loop looks whether the guest has gone idle (vm_idle_sweep). */
#define SWEEP_EVERY_MS 2000

int vmm_loop(struct vmm *m)
{
    if (!m->sfd_ready) {
        m->sfd = signals_fd();
        m->sfd_ready = true;
    }
    int sfd = m->sfd;
    struct term_input tin = { .n = 0 };
    bool hub_pending = false;
    uint64_t last_sweep = mono_ms();
    for (;;) {
        struct pollfd p[16];
        unsigned n = 0, i_done, i_term, i_hub;
        p[n++] = (struct pollfd){ sfd, POLLIN, 0 };
        i_done = n;
        p[n++] = (struct pollfd){ m->vm ? vm_done_fd(m->vm) : -1, POLLIN, 0 };
        p[n++] = (struct pollfd){ m->api ? api_poll_fd(m->api) : -1, POLLIN, 0 };
        i_term = n;
        p[n++] = (struct pollfd){ m->term && !tin.n ? console_input_fd(m->term) : -1, POLLIN, 0 };
        i_hub = n;
        if (m->hub)
            n += hub_pollfds(m->hub, p + n, 16 - n);
        int timeout = m->api ? api_timeout_ms(m->api) : -1;
        if (m->vm && (timeout < 0 || timeout > SWEEP_EVERY_MS))
            timeout = SWEEP_EVERY_MS; /* also how often the button's grace is looked at */
        if (tin.n || hub_pending)
            timeout = 10;
        if (poll(p, n, timeout) < 0 && errno != EINTR)
            break;
        if (p[0].revents)
            on_signal(m, sfd);
        if (m->api)
            api_run(m->api);
        if (m->term)
            on_terminal(m, &tin, p[i_term].revents != 0);
        if (m->hub)
            hub_pending = hub_service(m->hub, p + i_hub, n - i_hub, m->vm);
        if (m->vm && m->button_ms && mono_ms() - m->button_ms >= VMM_BUTTON_GRACE_MS) {
            fprintf(stderr, "corral: the guest did not power off within %u s of the power "
                    "button: stopping the VM\n", VMM_BUTTON_GRACE_MS / 1000);
            vm_stop(m->vm);
            m->button_ms = 0;
        }
        if (m->vm && mono_ms() - last_sweep >= SWEEP_EVERY_MS) {
            last_sweep = mono_ms();
            vm_idle_sweep(m->vm);
        }
        if (m->vm && (p[i_done].revents & POLLIN)) {
            m->status = vm_wait(m->vm);
            break;
        }
        if (m->quit && !m->vm)
            break;
    }
    if (sfd >= 0)
        close(sfd);
    cgroup_close(&m->cg);
    return m->status;
}
