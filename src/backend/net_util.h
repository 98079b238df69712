/* Pure helpers for the network backends: parsing --net specs (MAC, hostfwd, options) and a
 * bounded FIFO of frames. No threads, no sockets: everything here is unit-testable. */
#ifndef CORRAL_BACKEND_NET_UTIL_H
#define CORRAL_BACKEND_NET_UTIL_H

#include <netinet/in.h>
#include <net/if.h>

#include "corral/common.h"

#define NET_HOSTFWD_MAX 32

struct net_hostfwd {
    bool udp;
    struct in_addr host_addr, guest_addr; /* network byte order */
    uint16_t host_port, guest_port;
};

/* Which options a spec gave; a backend kind lists the ones it accepts. */
enum {
    NET_OPT_MAC = 1u << 0,
    NET_OPT_HOSTFWD = 1u << 1,
    NET_OPT_IFNAME = 1u << 2,
    NET_OPT_IPV6 = 1u << 3,
    NET_OPT_NAME = 1u << 4,
    NET_OPT_DIR = 1u << 5,
    NET_OPT_HOST = 1u << 6,
};

#define NET_SWITCH_NAME_MAX 32
#define NET_SWITCH_DIR_MAX 72 /* leaves room for "/<port>.sock" in a 108-byte sun_path */

struct net_opts {
    char kind[16];
    unsigned seen; /* NET_OPT_* */
    uint8_t mac[6];
    char ifname[IFNAMSIZ];
    bool ipv6;
    bool host;                          /* user: the guest may reach the host's loopback */
    char name[NET_SWITCH_NAME_MAX + 1]; /* switch: [A-Za-z0-9_.-], not starting with '.' */
    char dir[NET_SWITCH_DIR_MAX + 1];   /* switch: where its ports' sockets live */
    unsigned n_hostfwd;
    struct net_hostfwd hostfwd[NET_HOSTFWD_MAX];
};

/* Writes "--net: " and the formatted message to err (if errlen > 0); returns code. */
int net_err(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "52:54:00:12:34:56" (':' or '-' between six hex pairs); a unicast, non-zero address. */
int net_parse_mac(const char *s, uint8_t mac[6], char *err, size_t errlen);
/* [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT, with the defaults in net.h. */
int net_parse_hostfwd(const char *s, struct net_hostfwd *fw, char *err, size_t errlen);
/* The whole spec: kind, then comma-separated key=value options. Any kind name is accepted
 * here; the caller checks it and which options it takes. ipv6 defaults to on. */
int net_parse_spec(const char *spec, struct net_opts *o, char *err, size_t errlen);
/* The option's spelling in a spec, for messages: NET_OPT_MAC -> "mac". */
const char *net_opt_name(unsigned opt);
/* A switch name: 1 to NET_SWITCH_NAME_MAX of [A-Za-z0-9_.-], not starting with '.'. */
bool net_switch_name_ok(const char *name);

/* A bounded FIFO of copied frames. Not locked: its owner locks if threads share it. */
struct net_frame {
    uint8_t *data;
    size_t len;
};
struct net_queue {
    struct net_frame *ring;
    unsigned cap, head, count;
};
int net_queue_init(struct net_queue *q, unsigned cap);
void net_queue_free(struct net_queue *q);
/* Copies the frame in; -ENOBUFS when full, -ENOMEM. */
int net_queue_push(struct net_queue *q, const uint8_t *data, size_t len);
/* The oldest frame, or NULL; it stays queued until net_queue_drop. */
const struct net_frame *net_queue_peek(const struct net_queue *q);
void net_queue_drop(struct net_queue *q);
/* Moves the oldest frame out (caller frees data); false when empty. */
bool net_queue_pop(struct net_queue *q, struct net_frame *f);

#endif
