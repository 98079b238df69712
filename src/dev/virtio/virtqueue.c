/* Split virtqueue walking. The layout (virtio 1.x 2.7): a descriptor table of 16-byte
 * entries {addr, len, flags, next}, an available ring {flags, idx, ring[size], used_event}
 * written by the driver, and a used ring {flags, idx, {id, len}[size], avail_event}
 * written by the device. All guest memory is little-endian, as is the host. */
#include <errno.h>
#include <string.h>

#include "dev/virtio/virtqueue.h"

#define DESC_F_NEXT     1
#define DESC_F_WRITE    2
#define DESC_F_INDIRECT 4
#define AVAIL_F_NO_INTERRUPT 1
#define USED_F_NO_NOTIFY     1

struct vdesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

static inline uint16_t load16(const void *p)
{
    return __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE);
}

static inline void store16(void *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)p, v, __ATOMIC_RELEASE);
}

static uint8_t *avail(const struct virtq *q, uint64_t off, uint64_t len)
{
    return guest_mem_ptr(q->mem, q->avail_gpa + off, len);
}

static uint8_t *used(const struct virtq *q, uint64_t off, uint64_t len)
{
    return guest_mem_ptr(q->mem, q->used_gpa + off, len);
}

int virtq_validate(const struct virtq *q)
{
    if (!q->size || q->size > VIRTQ_MAX_SIZE || (q->size & (q->size - 1)))
        return -EINVAL;
    /* alignment: descriptors 16, available ring 2, used ring 4 */
    if ((q->desc_gpa & 15) || (q->avail_gpa & 1) || (q->used_gpa & 3))
        return -EINVAL;
    if (!guest_mem_ptr(q->mem, q->desc_gpa, 16ULL * q->size) ||
        !guest_mem_ptr(q->mem, q->avail_gpa, 6 + 2ULL * q->size) ||
        !guest_mem_ptr(q->mem, q->used_gpa, 6 + 8ULL * q->size))
        return -EINVAL;
    return 0;
}

void virtq_reset(struct virtq *q)
{
    const struct guest_mem *mem = q->mem;
    memset(q, 0, sizeof(*q));
    q->mem = mem;
}

bool virtq_has_avail(const struct virtq *q)
{
    if (!q->ready || !q->size)
        return false; /* virtq_pop takes nothing from it: a drain loop would spin */
    const uint8_t *a = avail(q, 2, 2);
    return a && load16(a) != q->last_avail;
}

static int add_segment(struct virtq_req *r, const struct virtq *q, const struct vdesc *d)
{
    if (r->n_out + r->n_in >= VIRTQ_MAX_SEGS)
        return -ELOOP;
    void *p = guest_mem_ptr(q->mem, d->addr, d->len);
    if (!p)
        return -EFAULT;
    bool write = d->flags & DESC_F_WRITE;
    if (!write && r->n_in)
        return -EPROTO; /* readable after writable: forbidden by 2.7.4.2 */
    struct iovec *v = &r->iov[r->n_out + r->n_in];
    v->iov_base = p;
    v->iov_len = d->len;
    if (write) {
        guest_mem_dma(q->mem);
        r->n_in++;
        r->in_len += d->len;
    } else {
        r->n_out++;
        r->out_len += d->len;
    }
    return 0;
}

/* Walks an indirect table: its own descriptors, chained by next within the table. */
static int walk_indirect(const struct virtq *q, const struct vdesc *d, struct virtq_req *r)
{
    if (!q->indirect || (d->flags & DESC_F_NEXT) || !d->len || d->len % 16)
        return -EPROTO;
    uint32_t n = d->len / 16;
    if (n > VIRTQ_MAX_SEGS)
        return -ELOOP;
    const uint8_t *table = guest_mem_ptr(q->mem, d->addr, d->len);
    if (!table)
        return -EFAULT;
    uint32_t i = 0;
    for (uint32_t steps = 0;; steps++) {
        if (steps >= n)
            return -ELOOP; /* more links than entries: a loop */
        struct vdesc e;
        memcpy(&e, table + 16ULL * i, sizeof(e));
        if (e.flags & DESC_F_INDIRECT)
            return -EPROTO; /* nested indirect tables are forbidden */
        int rc = add_segment(r, q, &e);
        if (rc)
            return rc;
        if (!(e.flags & DESC_F_NEXT))
            return 0;
        if (e.next >= n)
            return -EPROTO;
        i = e.next;
    }
}

int virtq_pop(struct virtq *q, struct virtq_req *r)
{
    uint16_t size = q->size; /* read once: a reset racing with us may zero it */
    if (!q->ready || !size)
        return 0;
    const uint8_t *aidx = avail(q, 2, 2);
    if (!aidx)
        return -EFAULT;
    uint16_t idx = load16(aidx);
    if (idx == q->last_avail)
        return 0;
    if ((uint16_t)(idx - q->last_avail) > size)
        return -EPROTO; /* the driver claims more entries than the ring holds */
    const uint8_t *slot = avail(q, 4 + 2ULL * (q->last_avail % size), 2);
    const uint8_t *table = guest_mem_ptr(q->mem, q->desc_gpa, 16ULL * size);
    if (!slot || !table)
        return -EFAULT;
    uint16_t head;
    memcpy(&head, slot, 2);
    if (head >= size)
        return -EPROTO;
    q->last_avail++;

    r->head = head;
    r->n_out = r->n_in = 0;
    r->out_len = r->in_len = 0;
    uint16_t i = head;
    for (unsigned steps = 0;; steps++) {
        if (steps >= size)
            return -ELOOP;
        struct vdesc d;
        memcpy(&d, table + 16ULL * i, sizeof(d));
        int rc;
        if (d.flags & DESC_F_INDIRECT) {
            if (r->n_out + r->n_in)
                return -EPROTO; /* an indirect descriptor must be the only one */
            rc = walk_indirect(q, &d, r);
            return rc ? rc : 1;
        }
        if ((rc = add_segment(r, q, &d)))
            return rc;
        if (!(d.flags & DESC_F_NEXT))
            return 1;
        if (d.next >= size)
            return -EPROTO;
        i = d.next;
    }
}

int virtq_pop_or_arm(struct virtq *q, struct virtq_req *r)
{
    int rc = virtq_pop(q, r);
    if (rc)
        return rc;
    virtq_enable_kick(q); /* a full fence: the store is seen before we look again */
    return virtq_pop(q, r);
}

void virtq_unpop(struct virtq *q)
{
    q->last_avail--;
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t written)
{
    uint16_t size = q->size;
    if (!size)
        return;
    uint8_t *e = used(q, 4 + 8ULL * (q->used_idx % size), 8);
    uint8_t *uidx = used(q, 2, 2);
    if (!e || !uidx)
        return;
    uint32_t id = head;
    guest_mem_dma(q->mem);
    memcpy(e, &id, 4);
    memcpy(e + 4, &written, 4);
    q->used_idx++;
    store16(uidx, q->used_idx); /* release: the entry is visible before the index */
}

uint32_t virtq_used_len(const struct virtq_req *r, size_t written)
{
    size_t n = written < r->in_len ? written : r->in_len;
    return n < UINT32_MAX ? (uint32_t)n : UINT32_MAX;
}

bool virtq_need_interrupt(struct virtq *q)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* our used->idx store before their event read */
    if (!q->event_idx) {
        const uint8_t *f = avail(q, 0, 2);
        return !f || !(load16(f) & AVAIL_F_NO_INTERRUPT);
    }
    const uint8_t *ev = avail(q, 4 + 2ULL * q->size, 2);
    uint16_t old = q->signalled_used, now = q->used_idx;
    bool valid = q->signalled_valid;
    q->signalled_used = now;
    q->signalled_valid = true;
    if (!valid || !ev)
        return true;
    uint16_t event = load16(ev);
    /* vring_need_event: interrupt if used_event lies in (old, now] */
    return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}

void virtq_enable_kick(struct virtq *q)
{
    if (!q->event_idx)
        return;
    uint8_t *ev = used(q, 4 + 8ULL * q->size, 2);
    if (ev)
        store16(ev, q->last_avail);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

size_t virtq_copy_from_out(const struct virtq_req *r, size_t off, void *dst, size_t len)
{
    size_t done = 0;
    for (unsigned i = 0; i < r->n_out && done < len; i++) {
        size_t l = r->iov[i].iov_len;
        if (off >= l) {
            off -= l;
            continue;
        }
        size_t n = l - off < len - done ? l - off : len - done;
        memcpy((uint8_t *)dst + done, (uint8_t *)r->iov[i].iov_base + off, n);
        done += n;
        off = 0;
    }
    return done;
}

size_t virtq_copy_to_in(const struct virtq_req *r, size_t off, const void *src, size_t len)
{
    size_t done = 0;
    for (unsigned i = r->n_out; i < r->n_out + r->n_in && done < len; i++) {
        size_t l = r->iov[i].iov_len;
        if (off >= l) {
            off -= l;
            continue;
        }
        size_t n = l - off < len - done ? l - off : len - done;
        memcpy((uint8_t *)r->iov[i].iov_base + off, (const uint8_t *)src + done, n);
        done += n;
        off = 0;
    }
    return done;
}
