/* libFuzzer target for the user network's frame policy: the input's first byte chooses
 * host=on and whether the frame is also noted as one to the guest; the rest is an Ethernet
 * frame from the guest. Every rule must read only within the frame, and a RST it builds must
 * fit its buffer. The frame sits at the end of a heap buffer so an overread is caught.
 * Build and run with tools/fuzz fuzz_net_policy SECONDS. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/net_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct net_policy policy;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t ctl = data[0];
    size_t len = size - 1;
    uint8_t *frame = malloc(len ? len : 1);
    if (!frame)
        return 0;
    memcpy(frame, data + 1, len);
    policy.host_loopback = ctl & 1;
    if (ctl & 2)
        net_policy_note_to_guest(&policy, frame, len);
    enum net_verdict v = net_policy_check(&policy, frame, len);
    if (v == NET_REFUSE) {
        uint8_t rst[14 + 40 + 20];
        if (!net_policy_tcp_rst(frame, len, rst))
            abort(); /* a refused frame is always a whole TCP SYN */
    }
    free(frame);
    return 0;
}
