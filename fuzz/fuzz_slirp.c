/* libFuzzer target for the user network's glue to libslirp (src/backend/net_slirp.c): frames
 * from the guest go through net_backend_send, the policy and slirp_input, and what libslirp
 * sends back (ARP and DHCP answers, ICMP errors, the policy's resets) comes to a guest that
 * sometimes has no buffer, so that the held queue fills and drains. The backend's thread is
 * not started: this target runs its turns itself, on its own thread, by compiling
 * net_slirp.c in (its loop's steps are static). The input is a flags byte, then frames, each
 * a 16-bit length and its bytes.
 * The process first moves to a network namespace of its own, where not even the loopback is
 * up: libslirp would otherwise open real connections for the guest's SYNs and datagrams.
 * libslirp's timers run on the real clock, so a timer may fire in one run and not another;
 * within one input's few milliseconds that is rare.
 * Build and run with tools/fuzz fuzz_slirp SECONDS. */
#include <sched.h>
#include <stdio.h>

#include "../src/backend/net_slirp.c"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FRAMES_MAX 32
#define TURNS_AFTER 4

static uint8_t refuse_mask;   /* the guest has no buffer for frame k when bit k % 8 is set */
static unsigned offered;
static uint8_t last_rx[NET_FRAME_MAX];

static bool guest_rx(void *ctx, const uint8_t *frame, size_t len)
{
    (void)ctx;
    if (len > NET_FRAME_MAX)
        __builtin_trap(); /* more than the device promises the guest's buffers */
    if (refuse_mask >> (offered++ % 8) & 1)
        return false;
    memcpy(last_rx, frame, len); /* every byte of it must be readable */
    return true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (unshare(CLONE_NEWNET) && unshare(CLONE_NEWUSER | CLONE_NEWNET)) {
        fprintf(stderr, "fuzz_slirp: cannot make a network namespace (%s): refusing to run "
                        "libslirp against the host's network\n", strerror(errno));
        exit(1);
    }
    return 0;
}

/* One turn of slirp_thread's loop, without waiting in poll(). */
static void turn(struct net_slirp *s) { slirp_turn(s, true); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const char *const specs[4] = { "user", "user,host=on", "user,ipv6=off",
                                          "user,host=on,ipv6=off" };
    struct net_backend *nb;
    char err[256];
    if (net_backend_open(specs[data[0] & 3], 0, guest_rx, NULL, &nb, err, sizeof(err)))
        abort();
    struct net_slirp *s = (struct net_slirp *)nb;
    refuse_mask = data[1];
    offered = 0;
    const uint8_t *p = data + 2, *end = data + size;
    for (unsigned k = 0; k < FRAMES_MAX && end - p >= 2; k++) {
        size_t len = (size_t)(p[0] | p[1] << 8) % 4096;
        p += 2;
        if (len > (size_t)(end - p))
            len = (size_t)(end - p);
        /* each frame in an allocation of its own size, so that ASan sees a read past it */
        uint8_t *frame = malloc(len ? len : 1);
        if (!frame)
            abort();
        memcpy(frame, p, len);
        p += len;
        (void)net_backend_send(nb, frame, len);
        free(frame);
        if (data[0] & 4 || k % 4 == 3)
            turn(s);
        if (data[0] & 8)
            net_backend_rx_ready(nb); /* the guest posted buffers: held frames again */
    }
    for (unsigned t = 0; t < TURNS_AFTER; t++) {
        refuse_mask = 0;
        net_backend_rx_ready(nb);
        turn(s);
    }
    if (getenv("FUZZ_TRACE")) { /* say how the input ended */
        struct net_stats st;
        net_backend_stats(nb, &st);
        fprintf(stderr, "offered %u, tx %llu dropped %llu, rx %llu dropped %llu\n", offered,
                (unsigned long long)st.tx_frames, (unsigned long long)st.tx_dropped,
                (unsigned long long)st.rx_frames, (unsigned long long)st.rx_dropped);
    }
    net_backend_close(nb);
    return 0;
}
