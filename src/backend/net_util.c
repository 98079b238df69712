/* Parsing of --net specs and the bounded frame FIFO the backends share. Pure functions: no
 * host I/O, so the unit tests can reach every error message. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/net_util.h"

#define HOSTFWD_FORM "[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT"

int net_err(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen > 0) {
        int n = snprintf(err, errlen, "--net: ");
        if (n >= 0 && (size_t)n < errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return code;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int net_parse_mac(const char *s, uint8_t mac[6], char *err, size_t errlen)
{
    uint8_t m[6];
    const char *p = s;
    for (int i = 0; i < 6; i++) {
        int hi = hex_digit(p[0]), lo = hi < 0 ? -1 : hex_digit(p[1]);
        char sep = lo < 0 ? 0 : p[2];
        if (lo < 0 || (i < 5 && sep != ':' && sep != '-') || (i == 5 && sep != '\0'))
            return net_err(err, errlen, -EINVAL,
                           "bad mac '%s': expected six hex bytes like 52:54:00:12:34:56", s);
        m[i] = (uint8_t)(hi << 4 | lo);
        p += 3;
    }
    if (m[0] & 1)
        return net_err(err, errlen, -EINVAL, "bad mac '%s': a multicast address", s);
    if (!(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]))
        return net_err(err, errlen, -EINVAL, "bad mac '%s': all zero", s);
    memcpy(mac, m, 6);
    return 0;
}

/* A port 1..65535 in decimal, from [s, s+n). */
static int parse_port(const char *fwd, const char *s, size_t n, uint16_t *port,
                      char *err, size_t errlen)
{
    unsigned long v = 0;
    if (n == 0)
        return net_err(err, errlen, -EINVAL, "bad hostfwd '%s': missing port", fwd);
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return net_err(err, errlen, -EINVAL, "bad hostfwd '%s': port '%.*s' is not a number",
                           fwd, (int)n, s);
        if (v <= 65535)
            v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return net_err(err, errlen, -EINVAL, "bad hostfwd '%s': port '%.*s' is out of range "
                       "(1-65535)", fwd, (int)n, s);
    *port = (uint16_t)v;
    return 0;
}

/* A dotted IPv4 address from [s, s+n); empty keeps *addr (the default). */
static int parse_addr(const char *fwd, const char *s, size_t n, struct in_addr *addr,
                      char *err, size_t errlen)
{
    char buf[INET_ADDRSTRLEN];
    if (n == 0)
        return 0;
    if (n >= sizeof(buf))
        goto bad;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET, buf, addr) == 1)
        return 0;
bad:
    return net_err(err, errlen, -EINVAL, "bad hostfwd '%s': '%.*s' is not an IPv4 address",
                   fwd, (int)n, s);
}

/* "[ADDR:]PORT" from [s, s+n): the address is everything before the last ':'. */
static int parse_endpoint(const char *fwd, const char *s, size_t n, struct in_addr *addr,
                          uint16_t *port, char *err, size_t errlen)
{
    const char *colon = memrchr(s, ':', n);
    if (!colon)
        return parse_port(fwd, s, n, port, err, errlen);
    int r = parse_addr(fwd, s, (size_t)(colon - s), addr, err, errlen);
    if (r)
        return r;
    return parse_port(fwd, colon + 1, n - (size_t)(colon - s) - 1, port, err, errlen);
}

int net_parse_hostfwd(const char *s, struct net_hostfwd *fw, char *err, size_t errlen)
{
    struct net_hostfwd f = { .udp = false };
    inet_pton(AF_INET, "127.0.0.1", &f.host_addr);
    inet_pton(AF_INET, "10.0.2.15", &f.guest_addr);

    const char *dash = strchr(s, '-');
    if (!dash || strchr(dash + 1, '-'))
        return net_err(err, errlen, -EINVAL, "bad hostfwd '%s': expected " HOSTFWD_FORM, s);
    const char *host = s, *guest = dash + 1;
    size_t host_len = (size_t)(dash - s);

    /* The protocol is the first field when the host side has two colons, or when its first
     * field spells one ("tcp:2222"); a lone first field is otherwise the host address. */
    const char *c1 = memchr(host, ':', host_len);
    const char *c2 = c1 ? memchr(c1 + 1, ':', host_len - (size_t)(c1 + 1 - host)) : NULL;
    if (c1) {
        size_t plen = (size_t)(c1 - host);
        bool is_tcp = plen == 3 && !strncmp(host, "tcp", 3);
        bool is_udp = plen == 3 && !strncmp(host, "udp", 3);
        if (c2 || is_tcp || is_udp) {
            if (plen != 0 && !is_tcp && !is_udp)
                return net_err(err, errlen, -EINVAL,
                               "bad hostfwd '%s': unknown protocol '%.*s' (tcp or udp)",
                               s, (int)plen, host);
            f.udp = is_udp;
            host_len -= plen + 1;
            host = c1 + 1;
        }
    }
    int r = parse_endpoint(s, host, host_len, &f.host_addr, &f.host_port, err, errlen);
    if (!r)
        r = parse_endpoint(s, guest, strlen(guest), &f.guest_addr, &f.guest_port, err, errlen);
    if (r)
        return r;
    *fw = f;
    return 0;
}

static const struct {
    const char *name;
    unsigned bit;
} net_opt_names[] = {
    { "mac", NET_OPT_MAC },
    { "hostfwd", NET_OPT_HOSTFWD },
    { "ifname", NET_OPT_IFNAME },
    { "ipv6", NET_OPT_IPV6 },
    { "name", NET_OPT_NAME },
    { "dir", NET_OPT_DIR },
    { "host", NET_OPT_HOST },
};

const char *net_opt_name(unsigned opt)
{
    for (size_t i = 0; i < ARRAY_SIZE(net_opt_names); i++)
        if (net_opt_names[i].bit == opt)
            return net_opt_names[i].name;
    return "?";
}

bool net_switch_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > NET_SWITCH_NAME_MAX || name[0] == '.')
        return false;
    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static int parse_on_off(const char *key, const char *val, bool *out, char *err, size_t errlen)
{
    if (strcmp(val, "on") && strcmp(val, "off"))
        return net_err(err, errlen, -EINVAL, "bad %s '%s': on or off", key, val);
    *out = !strcmp(val, "on");
    return 0;
}

static int parse_option(struct net_opts *o, unsigned bit, const char *key, const char *val,
                        char *err, size_t errlen)
{
    switch (bit) {
    case NET_OPT_MAC:
        return net_parse_mac(val, o->mac, err, errlen);
    case NET_OPT_HOSTFWD:
        if (o->n_hostfwd == NET_HOSTFWD_MAX)
            return net_err(err, errlen, -E2BIG, "too many hostfwd options (at most %d)",
                           NET_HOSTFWD_MAX);
        return net_parse_hostfwd(val, &o->hostfwd[o->n_hostfwd++], err, errlen);
    case NET_OPT_IFNAME:
        if (!*val || strlen(val) >= IFNAMSIZ || strpbrk(val, "/ \t\n:"))
            return net_err(err, errlen, -EINVAL, "bad ifname '%s': 1 to %d characters, "
                           "no '/', ':' or spaces", val, IFNAMSIZ - 1);
        strcpy(o->ifname, val);
        return 0;
    case NET_OPT_IPV6:
        return parse_on_off(key, val, &o->ipv6, err, errlen);
    case NET_OPT_HOST:
        return parse_on_off(key, val, &o->host, err, errlen);
    case NET_OPT_NAME:
        if (!net_switch_name_ok(val))
            return net_err(err, errlen, -EINVAL, "bad switch name '%s': 1 to %d of A-Z a-z 0-9 "
                           "_ . -, not starting with '.'", val, NET_SWITCH_NAME_MAX);
        strcpy(o->name, val);
        return 0;
    case NET_OPT_DIR:
        if (val[0] != '/' || strlen(val) > NET_SWITCH_DIR_MAX)
            return net_err(err, errlen, -EINVAL, "bad switch dir '%s': an absolute path of at "
                           "most %d characters", val, NET_SWITCH_DIR_MAX);
        strcpy(o->dir, val);
        return 0;
    }
    return net_err(err, errlen, -EINVAL, "unknown option '%s'", key);
}

/* One "key=value" item (NUL-terminated, modifiable). */
static int parse_item(struct net_opts *o, char *item, char *err, size_t errlen)
{
    char *eq = strchr(item, '=');
    if (!eq)
        return net_err(err, errlen, -EINVAL, "option '%s' needs a value (%s=...)", item, item);
    *eq = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(net_opt_names); i++) {
        if (strcmp(item, net_opt_names[i].name))
            continue;
        unsigned bit = net_opt_names[i].bit;
        if ((o->seen & bit) && bit != NET_OPT_HOSTFWD)
            return net_err(err, errlen, -EINVAL, "option '%s' given twice", item);
        o->seen |= bit;
        return parse_option(o, bit, item, eq + 1, err, errlen);
    }
    return net_err(err, errlen, -EINVAL, "unknown option '%s'", item);
}

int net_parse_spec(const char *spec, struct net_opts *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    o->ipv6 = true;
    if (!spec || !*spec)
        return net_err(err, errlen, -EINVAL, "empty spec (expected user, tap or switch)");
    size_t kind_len = strcspn(spec, ",");
    if (kind_len == 0 || kind_len >= sizeof(o->kind))
        return net_err(err, errlen, -EINVAL, "unknown backend '%.*s' (expected user, tap or switch)",
                       (int)kind_len, spec);
    memcpy(o->kind, spec, kind_len);

    char *copy = strdup(spec + kind_len);
    if (!copy)
        return net_err(err, errlen, -ENOMEM, "out of memory");
    int r = 0;
    char *save = NULL;
    /* strtok_r would skip empty items; "user,,mac=..." is a typo worth reporting */
    for (char *item = copy[0] ? copy + 1 : NULL; item && !r; item = save) {
        char *comma = strchr(item, ',');
        save = comma ? comma + 1 : NULL;
        if (comma)
            *comma = '\0';
        if (!*item)
            r = net_err(err, errlen, -EINVAL, "empty option in '%s'", spec);
        else
            r = parse_item(o, item, err, errlen);
    }
    free(copy);
    return r;
}

int net_queue_init(struct net_queue *q, unsigned cap)
{
    memset(q, 0, sizeof(*q));
    q->ring = calloc(cap, sizeof(*q->ring));
    if (!q->ring)
        return -ENOMEM;
    q->cap = cap;
    return 0;
}

void net_queue_free(struct net_queue *q)
{
    struct net_frame f;
    while (net_queue_pop(q, &f))
        free(f.data);
    free(q->ring);
    q->ring = NULL;
    q->cap = 0;
}

int net_queue_push(struct net_queue *q, const uint8_t *data, size_t len)
{
    if (q->count == q->cap)
        return -ENOBUFS;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, data, len);
    q->ring[(q->head + q->count) % q->cap] = (struct net_frame){ copy, len };
    q->count++;
    return 0;
}

const struct net_frame *net_queue_peek(const struct net_queue *q)
{
    return q->count ? &q->ring[q->head] : NULL;
}

bool net_queue_pop(struct net_queue *q, struct net_frame *f)
{
    if (!q->count)
        return false;
    *f = q->ring[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    return true;
}

void net_queue_drop(struct net_queue *q)
{
    struct net_frame f;
    if (net_queue_pop(q, &f))
        free(f.data);
}

