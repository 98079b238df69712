/* Unit tests for split virtqueues (virtqueue.c), the virtio-mmio transport (virtio_mmio.c)
 * and virtio-blk (blk.c) over a fake guest RAM with rings laid out by hand. Every malformed
 * ring must end in an error code, never a crash or a hang. No vCPU, no board. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "backend/block.h"
#include "corral/ratelimit.h"
#include "dev/virtio/blk.h"
#include "dev/virtio/virtio_mmio.h"
#include "dev/virtio/virtqueue.h"

#define RAM_BASE 0x80000000ULL
#include "fake_ring.h"
#define RAM_SIZE (1u << 20)
#define DESC  (RAM_BASE + 0x1000)
#define AVAIL (RAM_BASE + 0x2000)
#define USED  (RAM_BASE + 0x3000)
#define TABLE (RAM_BASE + 0x4000)   /* an indirect table */
#define DATA  (RAM_BASE + 0x10000)
#define QSIZE 8

#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4

static struct virtq q;

static int setup(void **state)
{
    ram = calloc(1, RAM_SIZE);
    if (!ram)
        return -1;
    mem = (struct guest_mem){ ram, RAM_BASE, RAM_SIZE, NULL };
    q = (struct virtq){ .mem = &mem, .size = QSIZE, .ready = true, .desc_gpa = DESC,
                        .avail_gpa = AVAIL, .used_gpa = USED };
    return 0;
}

static int teardown(void **state)
{
    free(ram);
    ram = NULL;
    return 0;
}

/* ---- guest memory seen from the driver's side */


/* Offers the chain at HEAD on an available ring of SIZE entries. */
static void offer(uint64_t avail, uint16_t size, uint16_t head)
{
    uint16_t idx = get16(avail + 2);
    put16(avail + 4 + 2ULL * (idx % size), head);
    put16(avail + 2, (uint16_t)(idx + 1));
}

static int pop1(struct virtq_req *r, uint16_t head)
{
    offer(AVAIL, QSIZE, head);
    return virtq_pop(&q, r);
}

static struct virtq_req req; /* too big for a test's stack under ASan: one, reused */

/* ---- virtq_pop: good chains */

static void test_pop_readable_then_writable_chain(void **state)
{
    set_desc(DESC, 0, DATA, 100, F_NEXT, 3);
    set_desc(DESC, 3, DATA + 0x1000, 200, F_NEXT | F_WRITE, 5);
    set_desc(DESC, 5, DATA + 0x2000, 1, F_WRITE, 0);
    assert_int_equal(pop1(&req, 0), 1);
    assert_int_equal(req.head, 0);
    assert_int_equal(req.n_out, 1);
    assert_int_equal(req.n_in, 2);
    assert_int_equal(req.out_len, 100);
    assert_int_equal(req.in_len, 201);
    assert_ptr_equal(req.iov[0].iov_base, gp(DATA));
    assert_int_equal(req.iov[0].iov_len, 100);
    assert_ptr_equal(req.iov[1].iov_base, gp(DATA + 0x1000));
    assert_int_equal(req.iov[1].iov_len, 200);
    assert_ptr_equal(req.iov[2].iov_base, gp(DATA + 0x2000));
    assert_int_equal(req.iov[2].iov_len, 1);
    assert_int_equal(virtq_pop(&q, &req), 0); /* taken: the ring is empty again */
}

static void test_pop_empty_ring_returns_zero(void **state)
{
    assert_false(virtq_has_avail(&q));
    assert_int_equal(virtq_pop(&q, &req), 0);
    q.ready = false;
    offer(AVAIL, QSIZE, 0);
    assert_int_equal(virtq_pop(&q, &req), 0); /* not ready: nothing is taken */
    q.ready = true;
    assert_true(virtq_has_avail(&q));
}

/* A queue the driver never made ready has nothing available, whatever its ring says: the
 * models' drain loops pop until has_avail says no more. */
static void test_unready_queue_has_nothing_available(void **state)
{
    set_desc(DESC, 0, DATA, 16, 0, 0);
    q.ready = false;
    offer(AVAIL, QSIZE, 0);
    assert_false(virtq_has_avail(&q));
    assert_int_equal(virtq_pop(&q, &req), 0);
    q.ready = true;
    assert_true(virtq_has_avail(&q));
}

static void test_pop_chain_of_queue_size_is_allowed(void **state)
{
    for (unsigned i = 0; i < QSIZE; i++)
        set_desc(DESC, i, DATA + 16 * i, 16, i + 1 < QSIZE ? F_NEXT : 0, (uint16_t)(i + 1));
    assert_int_equal(pop1(&req, 0), 1);
    assert_int_equal(req.n_out, QSIZE);
    assert_int_equal(req.out_len, 16 * QSIZE);
}

static void test_pop_two_requests_in_order(void **state)
{
    set_desc(DESC, 1, DATA, 10, 0, 0);
    set_desc(DESC, 2, DATA + 10, 20, F_WRITE, 0);
    offer(AVAIL, QSIZE, 2);
    offer(AVAIL, QSIZE, 1);
    assert_int_equal(virtq_pop(&q, &req), 1);
    assert_int_equal(req.head, 2);
    assert_int_equal(req.in_len, 20);
    assert_int_equal(virtq_pop(&q, &req), 1);
    assert_int_equal(req.head, 1);
    assert_int_equal(req.out_len, 10);
}

/* ---- virtq_pop: broken chains */

static void test_pop_descriptor_loop_is_eloop(void **state)
{
    set_desc(DESC, 0, DATA, 8, F_NEXT, 1);
    set_desc(DESC, 1, DATA, 8, F_NEXT, 0);
    assert_int_equal(pop1(&req, 0), -ELOOP);
}

static void test_pop_self_loop_is_eloop(void **state)
{
    set_desc(DESC, 4, DATA, 8, F_NEXT, 4);
    assert_int_equal(pop1(&req, 4), -ELOOP);
}

static void test_pop_chain_longer_than_queue_fails(void **state)
{
    /* every descriptor used once, then back to the middle: QSIZE + 1 links */
    for (unsigned i = 0; i < QSIZE; i++)
        set_desc(DESC, i, DATA, 8, F_NEXT, (uint16_t)(i + 1 < QSIZE ? i + 1 : 3));
    assert_int_equal(pop1(&req, 0), -ELOOP);
}

static void test_pop_address_outside_ram_faults(void **state)
{
    set_desc(DESC, 0, 0x1000, 8, 0, 0); /* below RAM */
    assert_int_equal(pop1(&req, 0), -EFAULT);
    set_desc(DESC, 0, RAM_BASE + RAM_SIZE - 4, 8, 0, 0); /* runs off the end */
    assert_int_equal(pop1(&req, 0), -EFAULT);
    set_desc(DESC, 0, RAM_BASE + RAM_SIZE, 1, 0, 0);
    assert_int_equal(pop1(&req, 0), -EFAULT);
}

static void test_pop_address_wrapping_2_64_faults(void **state)
{
    set_desc(DESC, 0, 0xfffffffffffffff0ULL, 0x20, 0, 0);
    assert_int_equal(pop1(&req, 0), -EFAULT);
    set_desc(DESC, 0, DATA, 16, F_NEXT, 1);
    set_desc(DESC, 1, UINT64_MAX, 2, F_WRITE, 0);
    assert_int_equal(pop1(&req, 0), -EFAULT);
}

static void test_pop_huge_len_faults(void **state)
{
    set_desc(DESC, 0, DATA, UINT32_MAX, 0, 0);
    assert_int_equal(pop1(&req, 0), -EFAULT);
    set_desc(DESC, 0, RAM_BASE, RAM_SIZE + 1, 0, 0);
    assert_int_equal(pop1(&req, 0), -EFAULT);
}

static void test_pop_next_out_of_range_fails(void **state)
{
    set_desc(DESC, 0, DATA, 8, F_NEXT, QSIZE);
    assert_true(pop1(&req, 0) < 0);
    set_desc(DESC, 0, DATA, 8, F_NEXT, 0xffff);
    assert_true(pop1(&req, 0) < 0);
}

static void test_pop_readable_after_writable_is_eproto(void **state)
{
    set_desc(DESC, 0, DATA, 8, F_WRITE | F_NEXT, 1);
    set_desc(DESC, 1, DATA + 8, 8, 0, 0);
    assert_int_equal(pop1(&req, 0), -EPROTO);
}

static void test_pop_head_out_of_range_fails(void **state)
{
    assert_true(pop1(&req, QSIZE) < 0);
}

static void test_pop_avail_idx_too_far_ahead_fails(void **state)
{
    for (unsigned i = 0; i < QSIZE; i++)
        set_desc(DESC, i, DATA, 8, 0, 0);
    put16(AVAIL + 2, QSIZE + 1); /* claims 9 entries in an 8-entry ring */
    assert_true(virtq_pop(&q, &req) < 0);
}

static void test_pop_avail_idx_exactly_full_is_fine(void **state)
{
    for (unsigned i = 0; i < QSIZE; i++) {
        set_desc(DESC, i, DATA, 8, 0, 0);
        offer(AVAIL, QSIZE, (uint16_t)(QSIZE - 1 - i));
    }
    for (unsigned i = 0; i < QSIZE; i++) {
        assert_int_equal(virtq_pop(&q, &req), 1);
        assert_int_equal(req.head, QSIZE - 1 - i);
    }
    assert_int_equal(virtq_pop(&q, &req), 0);
}

static void test_pop_avail_idx_wraps_at_65536(void **state)
{
    set_desc(DESC, 0, DATA, 8, 0, 0);
    q.last_avail = 0xffff;
    put16(AVAIL + 2, 0xffff);
    offer(AVAIL, QSIZE, 0); /* idx 0xffff -> 0 */
    assert_int_equal(virtq_pop(&q, &req), 1);
    assert_int_equal(q.last_avail, 0);
    assert_int_equal(virtq_pop(&q, &req), 0);
}

/* ---- indirect descriptors */

static void test_indirect_good_table(void **state)
{
    q.indirect = true;
    set_desc(TABLE, 0, DATA, 16, F_NEXT, 2);
    set_desc(TABLE, 2, DATA + 0x100, 512, F_NEXT | F_WRITE, 1);
    set_desc(TABLE, 1, DATA + 0x400, 1, F_WRITE, 0);
    set_desc(DESC, 6, TABLE, 48, F_INDIRECT, 0);
    assert_int_equal(pop1(&req, 6), 1);
    assert_int_equal(req.head, 6);
    assert_int_equal(req.n_out, 1);
    assert_int_equal(req.n_in, 2);
    assert_int_equal(req.out_len, 16);
    assert_int_equal(req.in_len, 513);
    assert_ptr_equal(req.iov[1].iov_base, gp(DATA + 0x100));
    assert_ptr_equal(req.iov[2].iov_base, gp(DATA + 0x400));
}

static void test_indirect_table_of_max_segs_is_allowed(void **state)
{
    q.indirect = true;
    for (unsigned i = 0; i < VIRTQ_MAX_SEGS; i++)
        set_desc(TABLE, i, DATA, 4, i + 1 < VIRTQ_MAX_SEGS ? F_NEXT : 0, (uint16_t)(i + 1));
    set_desc(DESC, 0, TABLE, 16 * VIRTQ_MAX_SEGS, F_INDIRECT, 0);
    assert_int_equal(pop1(&req, 0), 1);
    assert_int_equal(req.n_out, VIRTQ_MAX_SEGS);
    set_desc(DESC, 0, TABLE, 16 * (VIRTQ_MAX_SEGS + 1), F_INDIRECT, 0);
    assert_true(pop1(&req, 0) < 0);
}

static void test_indirect_not_negotiated_fails(void **state)
{
    set_desc(TABLE, 0, DATA, 16, 0, 0);
    set_desc(DESC, 0, TABLE, 16, F_INDIRECT, 0);
    assert_true(pop1(&req, 0) < 0);
}

static void test_indirect_bad_table_len_fails(void **state)
{
    q.indirect = true;
    set_desc(TABLE, 0, DATA, 16, 0, 0);
    set_desc(TABLE, 1, DATA, 16, 0, 0);
    set_desc(DESC, 0, TABLE, 24, F_INDIRECT, 0);
    assert_true(pop1(&req, 0) < 0);
    set_desc(DESC, 0, TABLE, 0, F_INDIRECT, 0);
    assert_true(pop1(&req, 0) < 0);
    set_desc(DESC, 0, TABLE, 15, F_INDIRECT, 0);
    assert_true(pop1(&req, 0) < 0);
}

static void test_indirect_nested_fails(void **state)
{
    q.indirect = true;
    set_desc(TABLE, 0, TABLE + 0x100, 16, F_INDIRECT, 0);
    set_desc(TABLE + 0x100, 0, DATA, 16, 0, 0);
    set_desc(DESC, 0, TABLE, 16, F_INDIRECT, 0);
    assert_true(pop1(&req, 0) < 0);
}

static void test_indirect_loop_is_eloop(void **state)
{
    q.indirect = true;
    set_desc(TABLE, 0, DATA, 16, F_NEXT, 1);
    set_desc(TABLE, 1, DATA, 16, F_NEXT, 0);
    set_desc(DESC, 0, TABLE, 32, F_INDIRECT, 0);
    assert_int_equal(pop1(&req, 0), -ELOOP);
}

static void test_indirect_next_out_of_table_fails(void **state)
{
    q.indirect = true;
    set_desc(TABLE, 0, DATA, 16, F_NEXT, 2); /* a two-entry table */
    set_desc(DESC, 0, TABLE, 32, F_INDIRECT, 0);
    assert_true(pop1(&req, 0) < 0);
}

static void test_indirect_with_next_flag_fails(void **state)
{
    q.indirect = true;
    set_desc(TABLE, 0, DATA, 16, 0, 0);
    set_desc(DESC, 0, TABLE, 16, F_INDIRECT | F_NEXT, 1);
    set_desc(DESC, 1, DATA, 16, F_WRITE, 0);
    assert_true(pop1(&req, 0) < 0);
}

static void test_indirect_table_outside_ram_faults(void **state)
{
    q.indirect = true;
    set_desc(DESC, 0, 0x1000, 16, F_INDIRECT, 0);
    assert_int_equal(pop1(&req, 0), -EFAULT);
    set_desc(DESC, 0, RAM_BASE + RAM_SIZE - 16, 32, F_INDIRECT, 0);
    assert_int_equal(pop1(&req, 0), -EFAULT);
    set_desc(DESC, 0, 0xfffffffffffffff0ULL, 32, F_INDIRECT, 0);
    assert_int_equal(pop1(&req, 0), -EFAULT);
}

static void test_indirect_entry_outside_ram_faults(void **state)
{
    q.indirect = true;
    set_desc(TABLE, 0, 0x10, 16, 0, 0);
    set_desc(DESC, 0, TABLE, 16, F_INDIRECT, 0);
    assert_int_equal(pop1(&req, 0), -EFAULT);
}

static void test_indirect_after_other_descriptors_fails(void **state)
{
    q.indirect = true;
    set_desc(TABLE, 0, DATA, 16, F_WRITE, 0);
    set_desc(DESC, 0, DATA, 16, F_NEXT, 1);
    set_desc(DESC, 1, TABLE, 16, F_INDIRECT, 0);
    assert_true(pop1(&req, 0) < 0);
}

/* ---- virtq_push and interrupts */

static void test_push_writes_used_entries_and_idx(void **state)
{
    virtq_push(&q, 5, 1234);
    assert_int_equal(get16(USED + 2), 1);
    assert_int_equal(get32(USED + 4), 5);
    assert_int_equal(get32(USED + 8), 1234);
    virtq_push(&q, 7, 0);
    assert_int_equal(get16(USED + 2), 2);
    assert_int_equal(get32(USED + 12), 7);
    assert_int_equal(get32(USED + 16), 0);
    for (unsigned i = 2; i < QSIZE; i++)
        virtq_push(&q, 1, (uint32_t)i);
    virtq_push(&q, 3, 99); /* wraps to entry 0 */
    assert_int_equal(get16(USED + 2), QSIZE + 1);
    assert_int_equal(get32(USED + 4), 3);
    assert_int_equal(get32(USED + 8), 99);
    assert_int_equal(get32(USED + 4 + 8 * QSIZE), 0); /* nothing past the ring */
}

static void test_unset_queue_pops_and_pushes_nothing(void **state)
{
    q.size = 0; /* as after a reset that raced with the device's thread */
    set_desc(DESC, 0, DATA, 8, 0, 0);
    put16(AVAIL + 2, 1);
    assert_int_equal(virtq_pop(&q, &req), 0);
    virtq_push(&q, 0, 1);
    assert_int_equal(get16(USED + 2), 0);
}

static void test_push_wraps_used_idx_at_65536(void **state)
{
    q.used_idx = 0xffff;
    virtq_push(&q, 2, 9);
    assert_int_equal(get16(USED + 2), 0);
    assert_int_equal(get32(USED + 4 + 8 * (0xffff % QSIZE)), 2);
}

static void test_no_interrupt_flag_without_event_idx(void **state)
{
    virtq_push(&q, 0, 0);
    assert_true(virtq_need_interrupt(&q));
    put16(AVAIL, 1); /* VIRTQ_AVAIL_F_NO_INTERRUPT */
    virtq_push(&q, 0, 0);
    assert_false(virtq_need_interrupt(&q));
    put16(AVAIL, 0);
    assert_true(virtq_need_interrupt(&q));
}

static void test_event_idx_respects_used_event(void **state)
{
    q.event_idx = true;
    const uint64_t used_event = AVAIL + 4 + 2 * QSIZE;
    put16(AVAIL, 1); /* NO_INTERRUPT means nothing with EVENT_IDX */
    put16(used_event, 0);
    virtq_push(&q, 0, 0); /* used idx 1 */
    assert_true(virtq_need_interrupt(&q)); /* the first one always interrupts */
    put16(used_event, 4); /* interrupt when used idx passes 4 */
    virtq_push(&q, 0, 0); /* 2 */
    assert_false(virtq_need_interrupt(&q));
    virtq_push(&q, 0, 0); /* 3 */
    virtq_push(&q, 0, 0); /* 4 */
    assert_false(virtq_need_interrupt(&q));
    virtq_push(&q, 0, 0); /* 5: used_event 4 in (4, 5] */
    assert_true(virtq_need_interrupt(&q));
    virtq_push(&q, 0, 0); /* 6 */
    assert_false(virtq_need_interrupt(&q)); /* event already behind */
    put16(used_event, 6);
    virtq_push(&q, 0, 0);
    virtq_push(&q, 0, 0); /* 8: event 6 in (6, 8] */
    assert_true(virtq_need_interrupt(&q));
}

static void test_event_idx_wraps(void **state)
{
    q.event_idx = true;
    q.used_idx = 0xfffe;
    q.signalled_used = 0xfffe;
    q.signalled_valid = true;
    put16(AVAIL + 4 + 2 * QSIZE, 0xffff);
    virtq_push(&q, 0, 0);
    virtq_push(&q, 0, 0); /* 0: event 0xffff in (0xfffe, 0] */
    assert_true(virtq_need_interrupt(&q));
}

static void test_enable_kick_writes_avail_event(void **state)
{
    const uint64_t avail_event = USED + 4 + 8 * QSIZE;
    put16(avail_event, 0x5555);
    virtq_enable_kick(&q); /* without EVENT_IDX: untouched */
    assert_int_equal(get16(avail_event), 0x5555);
    q.event_idx = true;
    set_desc(DESC, 0, DATA, 8, 0, 0);
    assert_int_equal(pop1(&req, 0), 1);
    assert_int_equal(pop1(&req, 0), 1);
    virtq_enable_kick(&q);
    assert_int_equal(get16(avail_event), 2);
}

static void test_pop_or_arm_asks_for_a_kick_when_empty(void **state)
{
    const uint64_t avail_event = USED + 4 + 8 * QSIZE;
    q.event_idx = true;
    set_desc(DESC, 0, DATA, 8, 0, 0);
    offer(AVAIL, QSIZE, 0);
    assert_int_equal(virtq_pop_or_arm(&q, &req), 1);
    assert_int_equal(get16(avail_event), 0); /* work in hand: nothing asked */
    assert_int_equal(virtq_pop_or_arm(&q, &req), 0);
    assert_int_equal(get16(avail_event), 1); /* kick me when entry 1 comes */
}

/* ---- virtq_validate */

static void test_validate_sizes(void **state)
{
    assert_int_equal(virtq_validate(&q), 0);
    q.size = 0;
    assert_int_equal(virtq_validate(&q), -EINVAL);
    q.size = 3;
    assert_int_equal(virtq_validate(&q), -EINVAL);
    q.size = 12;
    assert_int_equal(virtq_validate(&q), -EINVAL);
    q.size = VIRTQ_MAX_SIZE * 2;
    assert_int_equal(virtq_validate(&q), -EINVAL);
    q.size = 1;
    assert_int_equal(virtq_validate(&q), 0);
    q.size = VIRTQ_MAX_SIZE;
    q.desc_gpa = RAM_BASE + 0x20000;
    q.avail_gpa = RAM_BASE + 0x30000;
    q.used_gpa = RAM_BASE + 0x40000;
    assert_int_equal(virtq_validate(&q), 0);
}

static void test_validate_alignment(void **state)
{
    q.desc_gpa = DESC + 8;
    assert_int_equal(virtq_validate(&q), -EINVAL);
    q.desc_gpa = DESC;
    q.avail_gpa = AVAIL + 1;
    assert_int_equal(virtq_validate(&q), -EINVAL);
    q.avail_gpa = AVAIL + 2;
    assert_int_equal(virtq_validate(&q), 0);
    q.used_gpa = USED + 2;
    assert_int_equal(virtq_validate(&q), -EINVAL);
    q.used_gpa = USED + 4;
    assert_int_equal(virtq_validate(&q), 0);
}

static void test_validate_rings_outside_ram(void **state)
{
    q.desc_gpa = 0;
    assert_int_equal(virtq_validate(&q), -EINVAL);
    q.desc_gpa = RAM_BASE + RAM_SIZE - 16 * QSIZE + 16; /* last entry beyond RAM */
    assert_int_equal(virtq_validate(&q), -EINVAL);
    q.desc_gpa = RAM_BASE + RAM_SIZE - 16 * QSIZE; /* ends exactly at the end */
    assert_int_equal(virtq_validate(&q), 0);
    q.avail_gpa = RAM_BASE + RAM_SIZE - (4 + 2 * QSIZE); /* no room for used_event */
    assert_int_equal(virtq_validate(&q), -EINVAL);
    q.avail_gpa = AVAIL;
    q.used_gpa = RAM_BASE + RAM_SIZE - (4 + 8 * QSIZE); /* no room for avail_event */
    assert_int_equal(virtq_validate(&q), -EINVAL);
    q.used_gpa = 0xfffffffffffffff0ULL;
    assert_int_equal(virtq_validate(&q), -EINVAL);
}

/* ---- copy helpers */

static void test_copy_helpers_span_buffers(void **state)
{
    for (unsigned i = 0; i < 30; i++)
        gp(DATA)[i] = (uint8_t)i;
    set_desc(DESC, 0, DATA, 10, F_NEXT, 1);
    set_desc(DESC, 1, DATA + 10, 20, F_NEXT, 2);
    set_desc(DESC, 2, DATA + 0x100, 5, F_NEXT | F_WRITE, 3);
    set_desc(DESC, 3, DATA + 0x200, 7, F_WRITE, 0);
    assert_int_equal(pop1(&req, 0), 1);
    uint8_t buf[64];
    memset(buf, 0xee, sizeof(buf));
    assert_int_equal(virtq_copy_from_out(&req, 5, buf, 20), 20);
    for (unsigned i = 0; i < 20; i++)
        assert_int_equal(buf[i], 5 + i);
    assert_int_equal(buf[20], 0xee);
    assert_int_equal(virtq_copy_from_out(&req, 25, buf, 64), 5); /* only 30 bytes out */
    assert_int_equal(virtq_copy_from_out(&req, 30, buf, 64), 0);
    assert_int_equal(virtq_copy_from_out(&req, SIZE_MAX, buf, 64), 0);
    for (unsigned i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(0x80 + i);
    assert_int_equal(virtq_copy_to_in(&req, 3, buf, 64), 9); /* 12 writable bytes */
    assert_int_equal(gp(DATA + 0x100)[2], 0);
    assert_int_equal(gp(DATA + 0x100)[3], 0x80);
    assert_int_equal(gp(DATA + 0x100)[4], 0x81);
    assert_int_equal(gp(DATA + 0x200)[0], 0x82);
    assert_int_equal(gp(DATA + 0x200)[6], 0x88);
    assert_int_equal(gp(DATA + 0x200)[7], 0);
    assert_int_equal(gp(DATA)[0], 0); /* readable buffers untouched */
    assert_int_equal(virtq_copy_to_in(&req, 12, buf, 1), 0);
    assert_int_equal(virtq_copy_to_in(&req, 0, buf, 0), 0);
}

/* ---- the transport, through its registers, with a fake device */


#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 0x40
#define FAKE_FEATURE 3

struct fake {
    int notifies, starts, resets;
    unsigned last_queue;
    int irq_level, irq_calls;
    uint8_t config[6];
};

static struct fake fake;
static struct virtio_dev dev;

static void fake_config_read(void *ctx, uint32_t off, unsigned size, uint64_t *val)
{
    uint64_t v = 0;
    assert_true(off + size <= sizeof(fake.config));
    memcpy(&v, fake.config + off, size);
    *val = v;
}

static void fake_notify(void *ctx, unsigned qi)
{
    fake.notifies++;
    fake.last_queue = qi;
}

static void fake_start(void *ctx) { fake.starts++; }
static void fake_reset(void *ctx) { fake.resets++; }

static void fake_irq(void *ctx, unsigned num, int level)
{
    assert_int_equal(num, 7);
    fake.irq_level = level;
    fake.irq_calls++;
}

static const struct virtio_ops fake_ops = {
    .device_id = 42, .features = 1ULL << FAKE_FEATURE, .num_queues = 2, .queue_max = 16,
    .config_size = sizeof(fake.config), .config_read = fake_config_read,
    .notify = fake_notify, .start = fake_start, .reset = fake_reset,
};

static int setup_dev(void **state)
{
    if (setup(state))
        return -1;
    memset(&fake, 0, sizeof(fake));
    memcpy(fake.config, "\x11\x22\x33\x44\x55\x66", 6);
    virtio_mmio_init(&dev, "fake", 0x10001000, &mem, (struct irq_line){ fake_irq, NULL, 7 },
                     &fake_ops, NULL);
    return 0;
}

static int teardown_dev(void **state)
{
    virtio_mmio_destroy(&dev);
    return teardown(state);
}

static uint64_t rd_sized(struct virtio_dev *d, uint64_t off, unsigned size)
{
    uint64_t v = 0xdeadbeef;
    assert_int_equal(d->region.read(d->region.dev, off, size, &v), 0);
    return v;
}

static void wr_sized(struct virtio_dev *d, uint64_t off, unsigned size, uint64_t v)
{
    assert_int_equal(d->region.write(d->region.dev, off, size, v), 0);
}

static uint32_t rd(struct virtio_dev *d, uint64_t off) { return (uint32_t)rd_sized(d, off, 4); }
static void wr(struct virtio_dev *d, uint64_t off, uint32_t v) { wr_sized(d, off, 4, v); }

static void write_features(struct virtio_dev *d, uint64_t f)
{
    wr(d, R_DRV_FEATURES_SEL, 0);
    wr(d, R_DRV_FEATURES, (uint32_t)f);
    wr(d, R_DRV_FEATURES_SEL, 1);
    wr(d, R_DRV_FEATURES, (uint32_t)(f >> 32));
}

/* The driver's side of 3.1.1 up to FEATURES_OK; returns the status read back. */
static uint32_t negotiate(struct virtio_dev *d, uint64_t f)
{
    wr(d, R_STATUS, S_ACK);
    wr(d, R_STATUS, S_ACK | S_DRIVER);
    write_features(d, f);
    wr(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
    return rd(d, R_STATUS);
}

static void setup_queue(struct virtio_dev *d, unsigned qi, uint32_t size, uint64_t desc,
                        uint64_t avail, uint64_t used)
{
    wr(d, R_QUEUE_SEL, qi);
    wr(d, R_QUEUE_NUM, size);
    wr(d, R_QUEUE_DESC_LO, (uint32_t)desc);
    wr(d, R_QUEUE_DESC_HI, (uint32_t)(desc >> 32));
    wr(d, R_QUEUE_AVAIL_LO, (uint32_t)avail);
    wr(d, R_QUEUE_AVAIL_HI, (uint32_t)(avail >> 32));
    wr(d, R_QUEUE_USED_LO, (uint32_t)used);
    wr(d, R_QUEUE_USED_HI, (uint32_t)(used >> 32));
    wr(d, R_QUEUE_READY, 1);
}

#define V1 (1ULL << 32)

static void test_mmio_identifies_device(void **state)
{
    assert_int_equal(rd(&dev, R_MAGIC), 0x74726976);
    assert_int_equal(rd(&dev, R_VERSION), 2);
    assert_int_equal(rd(&dev, R_DEVICE_ID), 42);
    assert_int_equal(rd(&dev, R_VENDOR_ID), 0x554d4551);
    wr(&dev, R_DEV_FEATURES_SEL, 0);
    assert_int_equal(rd(&dev, R_DEV_FEATURES), 1u << FAKE_FEATURE | 1u << 28 | 1u << 29);
    wr(&dev, R_DEV_FEATURES_SEL, 1);
    assert_int_equal(rd(&dev, R_DEV_FEATURES), 1); /* VERSION_1 */
    wr(&dev, R_DEV_FEATURES_SEL, 2);
    assert_int_equal(rd(&dev, R_DEV_FEATURES), 0);
    wr(&dev, R_DEV_FEATURES_SEL, 0xffffffff);
    assert_int_equal(rd(&dev, R_DEV_FEATURES), 0);
    assert_int_equal(rd(&dev, 0x200), 0); /* unknown offsets read as zero */
}

/* As QEMU's virtio-mmio: a driver that leaves VERSION_1 out (xv6) is accepted. */
static void test_mmio_features_ok_without_version_1(void **state)
{
    assert_int_equal(negotiate(&dev, 1ULL << FAKE_FEATURE) & S_FEATURES_OK, S_FEATURES_OK);
    assert_true(virtio_has_feature(&dev, FAKE_FEATURE));
    assert_false(virtio_has_feature(&dev, VIRTIO_F_VERSION_1));
    wr(&dev, R_STATUS, 0);
    assert_int_equal(negotiate(&dev, V1 | 1ULL << FAKE_FEATURE) & S_FEATURES_OK, S_FEATURES_OK);
    assert_true(virtio_has_feature(&dev, FAKE_FEATURE));
    assert_false(virtio_has_feature(&dev, 28));
}

/* As QEMU's virtio-mmio: bits the device does not offer are dropped, FEATURES_OK stays. */
static void test_mmio_features_ok_drops_unknown_bits(void **state)
{
    assert_int_equal(negotiate(&dev, V1 | 1ULL << 10) & S_FEATURES_OK, S_FEATURES_OK);
    assert_false(virtio_has_feature(&dev, 10));
    wr(&dev, R_STATUS, 0);
    assert_int_equal(negotiate(&dev, V1 | 1ULL << 40) & S_FEATURES_OK, S_FEATURES_OK);
    assert_false(virtio_has_feature(&dev, 40));
    assert_true(virtio_has_feature(&dev, VIRTIO_F_VERSION_1));
    wr(&dev, R_STATUS, 0);
    assert_int_equal(negotiate(&dev, V1 | 1ULL << 28 | 1ULL << 29) & S_FEATURES_OK,
                     S_FEATURES_OK);
    assert_true(dev.vq[0].indirect);
    assert_true(dev.vq[1].event_idx);
}

static void test_mmio_features_frozen_after_features_ok(void **state)
{
    assert_int_equal(negotiate(&dev, V1) & S_FEATURES_OK, S_FEATURES_OK);
    write_features(&dev, V1 | 1ULL << FAKE_FEATURE | 1ULL << 50);
    assert_false(virtio_has_feature(&dev, FAKE_FEATURE));
    assert_false(virtio_has_feature(&dev, 50));
    assert_false(virtio_has_feature(&dev, 64));
}

#define S_LIVE (S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK)

/* Asserts that the driver broke the status rules: NEEDS_RESET, a config interrupt, the
 * model stopped, and no kick reaches it until a reset. */
static void assert_violation(void)
{
    assert_int_equal(rd(&dev, R_STATUS) & S_NEEDS_RESET, S_NEEDS_RESET);
    assert_int_equal(rd(&dev, R_INT_STATUS) & 2, 2);
    assert_int_equal(fake.irq_level, 1);
    int n = fake.notifies;
    wr(&dev, R_QUEUE_NOTIFY, 0);
    assert_int_equal(fake.notifies, n);
}

static void test_mmio_features_ok_is_sticky_while_live(void **state)
{
    assert_int_equal(negotiate(&dev, V1 | 1ULL << 29), S_ACK | S_DRIVER | S_FEATURES_OK);
    setup_queue(&dev, 0, 8, DESC, AVAIL, USED);
    wr(&dev, R_STATUS, S_LIVE);
    assert_int_equal(rd(&dev, R_STATUS), S_LIVE);
    /* drop FEATURES_OK and DRIVER_OK, renegotiate indirect instead of event_idx */
    wr(&dev, R_STATUS, S_ACK | S_DRIVER);
    write_features(&dev, V1 | 1ULL << 28);
    wr(&dev, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
    wr(&dev, R_STATUS, S_LIVE);
    assert_true(dev.vq[0].event_idx);
    assert_false(dev.vq[0].indirect);
    assert_true(virtio_has_feature(&dev, 29));
    assert_false(virtio_has_feature(&dev, 28));
    assert_int_equal(fake.resets, 1); /* the model stopped working its queues */
    assert_int_equal(fake.starts, 1);
    assert_violation();
    wr(&dev, R_STATUS, 0); /* only a reset clears it */
    assert_int_equal(rd(&dev, R_STATUS), 0);
}

static void test_mmio_status_bits_come_in_order(void **state)
{
    static const uint32_t bad[][2] = {
        { S_ACK, S_ACK | S_FEATURES_OK },             /* FEATURES_OK before DRIVER */
        { S_ACK, S_ACK | S_DRIVER_OK },               /* DRIVER_OK before FEATURES_OK */
        { S_ACK | S_DRIVER, S_ACK | S_DRIVER | S_DRIVER_OK },
        { S_ACK | S_DRIVER, S_ACK },                  /* a bit cleared without reset */
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        wr(&dev, R_STATUS, 0);
        fake.irq_level = 0;
        write_features(&dev, V1);
        wr(&dev, R_STATUS, bad[i][0]);
        wr(&dev, R_STATUS, bad[i][1]);
        assert_int_equal(rd(&dev, R_STATUS) & S_NEEDS_RESET, S_NEEDS_RESET);
        assert_int_equal(fake.irq_level, 1);
    }
    assert_int_equal(fake.starts, 0);
    /* U-Boot's way after its reset, DRIVER without ACKNOWLEDGE, is fine as on QEMU */
    wr(&dev, R_STATUS, 0);
    wr(&dev, R_STATUS, S_DRIVER);
    assert_int_equal(rd(&dev, R_STATUS), S_DRIVER);
    write_features(&dev, V1);
    wr(&dev, R_STATUS, S_DRIVER | S_FEATURES_OK);
    assert_int_equal(rd(&dev, R_STATUS), S_DRIVER | S_FEATURES_OK);
    /* the driver's way, and FAILED at any time, are fine */
    wr(&dev, R_STATUS, 0);
    assert_int_equal(negotiate(&dev, V1), S_ACK | S_DRIVER | S_FEATURES_OK);
    wr(&dev, R_STATUS, S_LIVE);
    wr(&dev, R_STATUS, S_LIVE);
    wr(&dev, R_STATUS, S_LIVE | 0x80);
    assert_int_equal(rd(&dev, R_STATUS), S_LIVE | 0x80);
}

static void test_mmio_queue_change_while_live_needs_reset(void **state)
{
    negotiate(&dev, V1);
    setup_queue(&dev, 0, 8, DESC, AVAIL, USED);
    wr(&dev, R_STATUS, S_LIVE);
    wr(&dev, R_QUEUE_NOTIFY, 0);
    assert_int_equal(fake.notifies, 1);
    wr(&dev, R_QUEUE_SEL, 0);
    wr(&dev, R_QUEUE_READY, 1); /* no change: harmless */
    assert_int_equal(rd(&dev, R_STATUS), S_LIVE);
    wr(&dev, R_QUEUE_NUM, 4);
    assert_violation();
    assert_int_equal(dev.vq[0].size, 8);
    assert_int_equal(fake.resets, 1);
}

static void test_mmio_features_write_after_features_ok_needs_reset(void **state)
{
    negotiate(&dev, V1);
    setup_queue(&dev, 0, 8, DESC, AVAIL, USED);
    wr(&dev, R_STATUS, S_LIVE);
    write_features(&dev, V1 | 1ULL << 28);
    assert_violation();
    assert_false(dev.vq[0].indirect);
}

static void test_mmio_queue_registers(void **state)
{
    wr(&dev, R_QUEUE_SEL, 0);
    assert_int_equal(rd(&dev, R_QUEUE_NUM_MAX), 16);
    assert_int_equal(rd(&dev, R_QUEUE_READY), 0);
    wr(&dev, R_QUEUE_NUM, 3);
    assert_int_equal(rd(&dev, R_QUEUE_NUM), 0); /* not a power of two */
    wr(&dev, R_QUEUE_NUM, 32);
    assert_int_equal(rd(&dev, R_QUEUE_NUM), 0); /* more than QueueNumMax */
    negotiate(&dev, V1);
    setup_queue(&dev, 1, 8, DESC, AVAIL, USED);
    assert_int_equal(rd(&dev, R_QUEUE_NUM), 8);
    assert_int_equal(rd(&dev, R_QUEUE_DESC_LO), (uint32_t)DESC);
    assert_int_equal(rd(&dev, R_QUEUE_DESC_HI), 0);
    assert_int_equal(rd(&dev, R_QUEUE_AVAIL_LO), (uint32_t)AVAIL);
    assert_int_equal(rd(&dev, R_QUEUE_USED_LO), (uint32_t)USED);
    assert_int_equal(rd(&dev, R_QUEUE_READY), 1);
    assert_true(dev.vq[1].ready);
    assert_false(dev.vq[0].ready);
    assert_int_equal(rd(&dev, R_STATUS) & S_NEEDS_RESET, 0);
    wr(&dev, R_QUEUE_DESC_LO, 0x1234); /* a ready queue's addresses stay */
    assert_int_equal(rd(&dev, R_QUEUE_DESC_LO), (uint32_t)DESC);
    wr(&dev, R_QUEUE_SEL, 2); /* beyond num_queues: all zero, writes ignored */
    assert_int_equal(rd(&dev, R_QUEUE_NUM_MAX), 0);
    wr(&dev, R_QUEUE_NUM, 8);
    wr(&dev, R_QUEUE_READY, 1);
    assert_int_equal(rd(&dev, R_QUEUE_NUM), 0);
    assert_int_equal(rd(&dev, R_QUEUE_READY), 0);
    wr(&dev, R_QUEUE_SEL, 0xffffffff);
    assert_int_equal(rd(&dev, R_QUEUE_DESC_LO), 0);
}

static void test_mmio_bad_ring_sets_needs_reset(void **state)
{
    negotiate(&dev, V1);
    setup_queue(&dev, 0, 8, 0x1000, AVAIL, USED); /* descriptors outside RAM */
    assert_int_equal(rd(&dev, R_QUEUE_READY), 0);
    assert_int_equal(rd(&dev, R_STATUS) & S_NEEDS_RESET, S_NEEDS_RESET);
    assert_int_equal(rd(&dev, R_INT_STATUS) & 2, 2);
    assert_int_equal(fake.irq_level, 1);
    wr(&dev, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    assert_int_equal(rd(&dev, R_STATUS) & S_NEEDS_RESET, S_NEEDS_RESET); /* sticky */
    wr(&dev, R_STATUS, 0);
    assert_int_equal(rd(&dev, R_STATUS), 0);
    assert_int_equal(rd(&dev, R_INT_STATUS), 0);
    assert_int_equal(fake.irq_level, 0);
}

static void test_mmio_bad_ring_variants_set_needs_reset(void **state)
{
    const uint64_t bad[][3] = {
        { DESC + 8, AVAIL, USED },                  /* misaligned descriptors */
        { DESC, AVAIL + 1, USED },                  /* misaligned available ring */
        { DESC, AVAIL, USED + 2 },                  /* misaligned used ring */
        { DESC, AVAIL, RAM_BASE + RAM_SIZE - 8 },   /* used ring off the end */
        { DESC | 1ULL << 40, AVAIL, USED },         /* high half set */
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        negotiate(&dev, V1);
        setup_queue(&dev, 0, 8, bad[i][0], bad[i][1], bad[i][2]);
        assert_int_equal(rd(&dev, R_QUEUE_READY), 0);
        assert_int_equal(rd(&dev, R_STATUS) & S_NEEDS_RESET, S_NEEDS_RESET);
        wr(&dev, R_STATUS, 0);
    }
    negotiate(&dev, V1);
    setup_queue(&dev, 0, 3, DESC, AVAIL, USED); /* size refused, so 0 */
    assert_int_equal(rd(&dev, R_QUEUE_READY), 0);
    assert_int_equal(rd(&dev, R_STATUS) & S_NEEDS_RESET, S_NEEDS_RESET);
}

static void test_mmio_notify_only_after_driver_ok(void **state)
{
    negotiate(&dev, V1);
    setup_queue(&dev, 1, 8, DESC, AVAIL, USED);
    wr(&dev, R_QUEUE_NOTIFY, 1);
    assert_int_equal(fake.notifies, 0);
    assert_int_equal(fake.starts, 0);
    wr(&dev, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    assert_int_equal(fake.starts, 1);
    wr(&dev, R_QUEUE_NOTIFY, 1);
    assert_int_equal(fake.notifies, 1);
    assert_int_equal(fake.last_queue, 1);
    wr(&dev, R_QUEUE_NOTIFY, 2); /* no such queue */
    wr(&dev, R_QUEUE_NOTIFY, 0xffffffff);
    assert_int_equal(fake.notifies, 1);
    wr_sized(&dev, R_QUEUE_NOTIFY, 2, 0); /* a 16-bit write is not a notify */
    assert_int_equal(fake.notifies, 1);
    wr(&dev, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    assert_int_equal(fake.starts, 1); /* DRIVER_OK again does not start again */
}

static void test_mmio_driver_ok_without_features_ok_does_not_start(void **state)
{
    wr(&dev, R_STATUS, S_ACK | S_DRIVER);
    wr(&dev, R_STATUS, S_ACK | S_DRIVER | S_DRIVER_OK);
    assert_int_equal(fake.starts, 0);
}

static void test_mmio_queue_frozen_while_live(void **state)
{
    negotiate(&dev, V1);
    setup_queue(&dev, 0, 8, DESC, AVAIL, USED);
    wr(&dev, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    dev.vq[0].last_avail = 5;
    /* The device works the queue on its own thread: the driver cannot pull it away. */
    wr(&dev, R_QUEUE_READY, 0);
    wr(&dev, R_QUEUE_NUM, 0);
    wr(&dev, R_QUEUE_READY, 1);
    assert_true(dev.vq[0].ready);
    assert_int_equal(dev.vq[0].size, 8);
    assert_int_equal(dev.vq[0].last_avail, 5);
    /* nor by clearing DRIVER_OK without a reset */
    wr(&dev, R_STATUS, S_ACK);
    wr(&dev, R_QUEUE_READY, 0);
    wr(&dev, R_QUEUE_NUM, 2);
    assert_true(dev.vq[0].ready);
    assert_int_equal(dev.vq[0].size, 8);
}

static void test_mmio_interrupt_ack(void **state)
{
    negotiate(&dev, V1);
    setup_queue(&dev, 0, 8, DESC, AVAIL, USED);
    wr(&dev, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    virtq_push(&dev.vq[0], 0, 0);
    virtio_notify_queue(&dev, 0);
    assert_int_equal(rd(&dev, R_INT_STATUS), 1);
    assert_int_equal(fake.irq_level, 1);
    virtio_notify_config(&dev);
    assert_int_equal(rd(&dev, R_INT_STATUS), 3);
    assert_int_equal(rd(&dev, R_CONFIG_GEN), 1);
    wr(&dev, R_INT_ACK, 1);
    assert_int_equal(rd(&dev, R_INT_STATUS), 2);
    assert_int_equal(fake.irq_level, 1);
    wr(&dev, R_INT_ACK, 2);
    assert_int_equal(rd(&dev, R_INT_STATUS), 0);
    assert_int_equal(fake.irq_level, 0);
    put16(AVAIL, 1); /* NO_INTERRUPT */
    virtq_push(&dev.vq[0], 0, 0);
    virtio_notify_queue(&dev, 0);
    assert_int_equal(rd(&dev, R_INT_STATUS), 0);
    virtio_notify_queue(&dev, 5); /* no such queue: ignored */
    assert_int_equal(rd(&dev, R_INT_STATUS), 0);
}

static void test_mmio_needs_reset_from_device(void **state)
{
    negotiate(&dev, V1);
    virtio_needs_reset(&dev); /* before DRIVER_OK: no interrupt */
    assert_int_equal(rd(&dev, R_STATUS) & S_NEEDS_RESET, S_NEEDS_RESET);
    assert_int_equal(rd(&dev, R_INT_STATUS), 0);
    wr(&dev, R_STATUS, 0);
    negotiate(&dev, V1);
    wr(&dev, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    assert_true(virtio_driver_ok(&dev));
    virtio_needs_reset(&dev);
    assert_false(virtio_driver_ok(&dev));
    assert_int_equal(rd(&dev, R_INT_STATUS), 2);
    assert_int_equal(fake.irq_level, 1);
}

static void test_mmio_status_zero_resets_everything(void **state)
{
    negotiate(&dev, V1 | 1ULL << 29);
    setup_queue(&dev, 0, 8, DESC, AVAIL, USED);
    wr(&dev, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    virtio_notify_queue(&dev, 0);
    wr(&dev, R_DEV_FEATURES_SEL, 1);
    wr(&dev, R_STATUS, 0);
    assert_int_equal(fake.resets, 1);
    assert_int_equal(rd(&dev, R_STATUS), 0);
    assert_int_equal(rd(&dev, R_INT_STATUS), 0);
    assert_int_equal(fake.irq_level, 0);
    assert_false(virtio_has_feature(&dev, 29));
    assert_false(dev.vq[0].event_idx);
    assert_int_equal(rd(&dev, R_QUEUE_SEL), 0); /* write-only: reads as 0 */
    assert_int_equal(rd(&dev, R_QUEUE_READY), 0);
    assert_int_equal(rd(&dev, R_QUEUE_NUM), 0);
    assert_int_equal(rd(&dev, R_QUEUE_DESC_LO), 0);
    assert_int_equal(rd(&dev, R_DEV_FEATURES), 1u << FAKE_FEATURE | 1u << 28 | 1u << 29);
    wr(&dev, R_QUEUE_NOTIFY, 0);
    assert_int_equal(fake.notifies, 0);
}

static void test_mmio_config_space(void **state)
{
    assert_int_equal(rd_sized(&dev, R_CONFIG, 1), 0x11);
    assert_int_equal(rd_sized(&dev, R_CONFIG + 1, 2), 0x3322);
    assert_int_equal(rd_sized(&dev, R_CONFIG + 2, 4), 0x66554433);
    assert_int_equal(rd_sized(&dev, R_CONFIG + 5, 1), 0x66);
    assert_int_equal(rd_sized(&dev, R_CONFIG + 6, 1), 0);  /* beyond config_size */
    assert_int_equal(rd_sized(&dev, R_CONFIG + 4, 4), 0);  /* straddles the end */
    assert_int_equal(rd_sized(&dev, R_CONFIG, 8), 0);      /* longer than config */
    assert_int_equal(rd_sized(&dev, 0xffc, 4), 0);
    assert_int_equal(rd_sized(&dev, 0xffffffffffffffffULL, 4), 0);
    wr_sized(&dev, R_CONFIG, 4, 0xffffffff); /* no config_write: ignored */
    assert_int_equal(rd_sized(&dev, R_CONFIG, 1), 0x11);
}

static void test_mmio_bad_access_sizes_do_not_crash(void **state)
{
    static const unsigned sizes[] = { 0, 1, 2, 3, 5, 8, 16, 64, 260, 4096, UINT32_MAX };
    for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        unsigned s = sizes[i];
        assert_int_equal(rd_sized(&dev, R_MAGIC, s), 0);
        assert_int_equal(rd_sized(&dev, R_CONFIG, s), s == 1 ? 0x11 : s == 2 ? 0x2211 : 0);
        assert_int_equal(rd_sized(&dev, UINT64_MAX, s), 0); /* off + size wraps */
        assert_int_equal(rd_sized(&dev, UINT64_MAX - 3, s), 0);
        wr_sized(&dev, R_STATUS, s, S_ACK);
        wr_sized(&dev, R_CONFIG, s, 0);
    }
    assert_int_equal(rd(&dev, R_STATUS), 0);
    assert_int_equal(rd_sized(&dev, R_MAGIC + 1, 4), 0); /* misaligned */
    assert_int_equal(rd_sized(&dev, R_MAGIC + 2, 4), 0);
    wr_sized(&dev, R_STATUS + 2, 4, S_ACK);
    assert_int_equal(rd(&dev, R_STATUS), 0);
}

/* ---- virtio-blk driven through its registers, over a temporary raw file */

#define DISK_SECTORS 2048
#define BLK_Q 8
#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8

struct blkfx {
    char path[64];
    struct virtio_blk *blk;
    struct virtio_dev *d;
    uint16_t next_used;
};

static struct blkfx bf;
static const struct ratelimit_config *bf_limit; /* for the next setup_blk */
static uint64_t bf_disk_bytes;                  /* for the next setup_blk; 0: DISK_SECTORS */
static uint64_t bf_features;                    /* for the next setup_blk, beside VERSION_1 */
static uint16_t bf_qsize = BLK_Q;               /* queue size of the blk under test */

static int setup_blk(void **state)
{
    if (setup(state))
        return -1;
    memset(&bf, 0, sizeof(bf));
    snprintf(bf.path, sizeof(bf.path), "/tmp/corral-vq-XXXXXX");
    int fd = mkstemp(bf.path);
    if (fd < 0)
        return -1;
    int rc = ftruncate(fd, bf_disk_bytes ? (off_t)bf_disk_bytes : DISK_SECTORS * 512);
    bf_disk_bytes = 0;
    close(fd);
    if (rc)
        return -1;
    struct blk_backend *be;
    char err[256];
    if (blk_open(bf.path, BLK_FORMAT_RAW, false, &be, err, sizeof(err)))
        return -1;
    struct virtio_slot slot = { "virtio-blk", 0x10001000, { fake_irq, NULL, 7 }, &mem };
    memset(&fake, 0, sizeof(fake));
    bf.blk = virtio_blk_create(&slot, be, bf_limit);
    bf_limit = NULL;
    if (!bf.blk) {
        blk_close(be);
        return -1;
    }
    bf.d = virtio_blk_dev(bf.blk);
    negotiate(bf.d, V1 | bf_features);
    bf_features = 0;
    setup_queue(bf.d, 0, bf_qsize, DESC, AVAIL, USED);
    wr(bf.d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    return rd(bf.d, R_STATUS) == (S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK) ? 0 : -1;
}

/* 320 KiB/s: a 16 KiB bucket refilled in 50 ms */
static const struct ratelimit_config limit_bw = { .bandwidth = { 16384, 0, 50 } };
/* 50 requests/s: 5 per 100 ms */
static const struct ratelimit_config limit_ops = { .ops = { 5, 0, 100 } };
/* 4 KiB/s: after one 4 KiB read, the next waits a second */
static const struct ratelimit_config limit_slow = { .bandwidth = { 4096, 0, 1000 } };

static int setup_blk_bw(void **state)
{
    bf_limit = &limit_bw;
    return setup_blk(state);
}

static int setup_blk_ops(void **state)
{
    bf_limit = &limit_ops;
    return setup_blk(state);
}

static int setup_blk_slow(void **state)
{
    bf_limit = &limit_slow;
    return setup_blk(state);
}

/* 64 MiB of sparse disk, and indirect descriptors */
static int setup_blk_big(void **state)
{
    bf_disk_bytes = 64ULL << 20;
    bf_features = 1ULL << 28;
    return setup_blk(state);
}

/* the largest ring the device offers (256 entries) */
static int setup_blk_deep(void **state)
{
    bf_qsize = 256;
    return setup_blk(state);
}

static int teardown_blk(void **state)
{
    bf_qsize = BLK_Q;
    virtio_blk_destroy(bf.blk);
    unlink(bf.path);
    return teardown(state);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

/* Waits up to 2 s for COND; true if it came. */
#define WAIT_FOR(cond)                                                   \
    ({                                                                   \
        long t0_ = now_ms();                                             \
        while (!(cond) && now_ms() - t0_ < 2000)                         \
            usleep(200);                                                 \
        (cond);                                                          \
    })

/* Offers the chain at HEAD, kicks, and waits for the device to return it: its used length. */
static uint32_t submit(uint16_t head)
{
    offer(AVAIL, BLK_Q, head);
    wr(bf.d, R_QUEUE_NOTIFY, 0);
    uint16_t want = ++bf.next_used;
    assert_true(WAIT_FOR(get16(USED + 2) == want));
    uint16_t slot = (uint16_t)((want - 1) % BLK_Q);
    assert_int_equal(get32(USED + 4 + 8 * slot), head);
    return get32(USED + 8 + 8 * slot);
}

static void put_hdr(uint64_t gpa, uint32_t type, uint64_t sector)
{
    memset(gp(gpa), 0, 16);
    memcpy(gp(gpa), &type, 4);
    memcpy(gp(gpa + 8), &sector, 8);
}

#define HDR  (DATA)
#define BUF  (DATA + 0x1000)
#define BUF2 (DATA + 0x2000)
#define STAT (DATA + 0x100)

/* header, LEN data bytes at BUF (writable for reads), status byte */
static uint8_t rw_request(uint32_t type, uint64_t sector, uint32_t len, uint32_t *used_len)
{
    put_hdr(HDR, type, sector);
    *gp(STAT) = 0xff;
    uint16_t data_flags = type == T_OUT ? F_NEXT : F_NEXT | F_WRITE;
    set_desc(DESC, 0, HDR, 16, F_NEXT, 1);
    set_desc(DESC, 1, BUF, len, data_flags, 2);
    set_desc(DESC, 2, STAT, 1, F_WRITE, 0);
    *used_len = submit(0);
    return *gp(STAT);
}

static void test_blk_read_beyond_end_is_ioerr(void **state)
{
    uint32_t n;
    assert_int_equal(rw_request(T_IN, DISK_SECTORS, 512, &n), 1);
    assert_int_equal(n, 1);
    assert_int_equal(rw_request(T_IN, DISK_SECTORS - 1, 1024, &n), 1);
    assert_int_equal(rw_request(T_IN, UINT64_MAX, 512, &n), 1);
    assert_int_equal(rw_request(T_IN, UINT64_MAX / 512 + 1, 512, &n), 1);
    assert_int_equal(rw_request(T_OUT, DISK_SECTORS - 1, 1024, &n), 1);
    assert_int_equal(rw_request(T_IN, DISK_SECTORS - 1, 512, &n), 0); /* the last sector */
    assert_int_equal(n, 513);
}

static void test_blk_unknown_type_is_unsupp(void **state)
{
    uint32_t n;
    assert_int_equal(rw_request(99, 0, 512, &n), 2);
    assert_int_equal(n, 1);
    assert_int_equal(rw_request(0x80000000u, 0, 512, &n), 2);
}

static void test_blk_write_read_round_trip(void **state)
{
    uint32_t n;
    for (unsigned i = 0; i < 1024; i++)
        gp(BUF)[i] = (uint8_t)(i * 7 + 3);
    assert_int_equal(rw_request(T_OUT, 5, 1024, &n), 0);
    assert_int_equal(n, 1);
    memset(gp(BUF), 0, 1024);
    assert_int_equal(rw_request(T_IN, 5, 1024, &n), 0);
    assert_int_equal(n, 1025);
    for (unsigned i = 0; i < 1024; i++)
        assert_int_equal(gp(BUF)[i], (uint8_t)(i * 7 + 3));
    assert_int_equal(rw_request(T_IN, 6, 512, &n), 0); /* the second half, alone */
    assert_int_equal(gp(BUF)[0], (uint8_t)(512 * 7 + 3));
    assert_int_equal(rw_request(T_FLUSH, 0, 0, &n), 0);
    /* data in two buffers, written by the device in order */
    put_hdr(HDR, T_IN, 5);
    set_desc(DESC, 3, HDR, 16, F_NEXT, 4);
    set_desc(DESC, 4, BUF2, 100, F_NEXT | F_WRITE, 5);
    set_desc(DESC, 5, BUF2 + 0x200, 412, F_NEXT | F_WRITE, 6);
    set_desc(DESC, 6, STAT, 1, F_WRITE, 0);
    *gp(STAT) = 0xff;
    assert_int_equal(submit(3), 513);
    assert_int_equal(*gp(STAT), 0);
    assert_int_equal(gp(BUF2)[99], (uint8_t)(99 * 7 + 3));
    assert_int_equal(gp(BUF2 + 0x200)[0], (uint8_t)(100 * 7 + 3));
}

static void test_blk_get_id(void **state)
{
    uint32_t n;
    memset(gp(BUF), 0xaa, 64);
    assert_int_equal(rw_request(T_GET_ID, 0, 20, &n), 0);
    assert_int_equal(n, 21);
    assert_true(memchr(gp(BUF), 0xaa, 20) == NULL);
}

static void test_blk_short_header_does_not_crash(void **state)
{
    set_desc(DESC, 0, HDR, 8, F_NEXT, 1);
    set_desc(DESC, 1, STAT, 1, F_WRITE, 0);
    *gp(STAT) = 0xff;
    submit(0);
    set_desc(DESC, 0, STAT, 1, F_WRITE, 0); /* no header at all */
    submit(0);
    set_desc(DESC, 0, HDR, 16, 0, 0); /* no status byte */
    put_hdr(HDR, T_IN, 0);
    submit(0);
    assert_int_equal(rd(bf.d, R_STATUS) & S_NEEDS_RESET, 0);
    uint32_t n;
    assert_int_equal(rw_request(T_IN, 0, 512, &n), 0); /* still working */
}

/* After a reset: clears the rings and takes the device to DRIVER_OK again. */
static void bring_up_again(void)
{
    memset(gp(AVAIL), 0, 0x1000);
    memset(gp(USED), 0, 0x1000);
    bf.next_used = 0;
    negotiate(bf.d, V1);
    setup_queue(bf.d, 0, BLK_Q, DESC, AVAIL, USED);
    wr(bf.d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
}

static void *reset_blk(void *arg)
{
    wr(bf.d, R_STATUS, 0);
    __atomic_store_n((bool *)arg, true, __ATOMIC_RELEASE);
    return NULL;
}

/* DRIVER_OK with the request queue's rings set but the queue never made ready, then a kick
 * (found by fuzz_virtio_mmio): the I/O thread must not spin on what it cannot pop, and a
 * reset must still get through. */
static void test_blk_queue_never_made_ready_does_not_spin(void **state)
{
    wr(bf.d, R_STATUS, 0);
    memset(gp(AVAIL), 0, 0x1000);
    negotiate(bf.d, V1);
    setup_queue(bf.d, 0, BLK_Q, DESC, AVAIL, USED);
    wr(bf.d, R_QUEUE_READY, 0);
    wr(bf.d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    put_hdr(HDR, T_IN, 0);
    set_desc(DESC, 0, HDR, 16, F_NEXT, 1);
    set_desc(DESC, 1, STAT, 1, F_WRITE, 0);
    offer(AVAIL, BLK_Q, 0);
    wr(bf.d, R_QUEUE_NOTIFY, 0);
    usleep(20 * 1000);
    bool done = false;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reset_blk, &done), 0);
    if (!WAIT_FOR(__atomic_load_n(&done, __ATOMIC_ACQUIRE)))
        fail_msg("the reset waits behind an I/O thread that spins");
    pthread_join(t, NULL);
    assert_int_equal(get16(USED + 2), 0);
    bring_up_again();
    uint32_t n;
    assert_int_equal(rw_request(T_IN, 0, 512, &n), 0);
}

static void test_blk_descriptor_loop_needs_reset(void **state)
{
    set_desc(DESC, 0, HDR, 16, F_NEXT, 1);
    set_desc(DESC, 1, BUF, 512, F_NEXT, 0);
    offer(AVAIL, BLK_Q, 0);
    wr(bf.d, R_QUEUE_NOTIFY, 0);
    assert_true(WAIT_FOR(rd(bf.d, R_STATUS) & S_NEEDS_RESET));
    assert_int_equal(rd(bf.d, R_INT_STATUS) & 2, 2);
    assert_int_equal(fake.irq_level, 1);
    assert_int_equal(get16(USED + 2), 0);
    /* a reset brings it back */
    wr(bf.d, R_STATUS, 0);
    bring_up_again();
    uint32_t n;
    assert_int_equal(rw_request(T_IN, 0, 512, &n), 0);
}

static void test_blk_config_space(void **state)
{
    assert_int_equal(rd_sized(bf.d, R_CONFIG, 8), DISK_SECTORS);
    assert_int_equal(rd_sized(bf.d, R_CONFIG + 20, 4), 512);
    assert_int_equal(rd_sized(bf.d, R_CONFIG + 60, 4), 0);
    assert_int_equal(rd_sized(bf.d, R_CONFIG, 16), 0); /* not a register size */
    assert_int_equal(rd_sized(bf.d, R_CONFIG, 3), 0);
}

/* ---- virtio-blk under a rate limit (real time: bounds are loose below, none above but the
 * 2 s a request may take) */

static void test_blk_rate_limit_paces_reads(void **state)
{
    uint32_t n;
    long t0 = now_ms();
    for (unsigned i = 0; i < 20; i++)    /* 80 KiB: 16 KiB at once, 64 KiB at 320 KiB/s */
        assert_int_equal(rw_request(T_IN, i * 8, 4096, &n), 0);
    long t1 = now_ms();
    assert_true(t1 - t0 >= 190);         /* 200 ms exactly, by the limiter's arithmetic */
    /* a read of four buckets passes once the bucket is full, and leaves a debt */
    assert_int_equal(rw_request(T_IN, 0, 65536, &n), 0);
    assert_int_equal(n, 65537);
    long t2 = now_ms();
    assert_int_equal(rw_request(T_IN, 0, 4096, &n), 0);
    long t3 = now_ms();
    assert_true(t3 - t2 >= 140);         /* (48 + 4) KiB at 320 KiB/s: 162 ms */
    struct virtio_blk_stats st;
    virtio_blk_stats(bf.blk, &st);
    assert_int_equal(st.read_ops, 22);
    assert_int_equal(st.read_bytes, 21 * 4096 + 65536);
    assert_int_equal(st.write_ops + st.write_bytes + st.other_ops, 0);
    /* counts, not times: a late wake-up finds more tokens and fewer refusals */
    assert_true(st.throttled >= 1);
    assert_true(st.throttled_ns >= 100 * 1000000ULL);
}

static void test_blk_rate_limit_counts_ops(void **state)
{
    uint32_t n;
    long t0 = now_ms();
    for (unsigned i = 0; i < 15; i++)    /* 5 at once, 10 at 50/s */
        assert_int_equal(rw_request(T_FLUSH, 0, 0, &n), 0);
    assert_true(now_ms() - t0 >= 190);
    struct virtio_blk_stats st;
    virtio_blk_stats(bf.blk, &st);
    assert_int_equal(st.other_ops, 15);
    assert_true(st.throttled >= 1);
}

/* Offers a 4 KiB read of sector 0 without waiting for it. */
static void offer_read(void)
{
    put_hdr(HDR, T_IN, 0);
    set_desc(DESC, 0, HDR, 16, F_NEXT, 1);
    set_desc(DESC, 1, BUF, 4096, F_NEXT | F_WRITE, 2);
    set_desc(DESC, 2, STAT, 1, F_WRITE, 0);
    offer(AVAIL, BLK_Q, 0);
    wr(bf.d, R_QUEUE_NOTIFY, 0);
}

static void test_blk_held_request_yields_to_new_limit_and_reset(void **state)
{
    uint32_t n;
    assert_int_equal(rw_request(T_IN, 0, 4096, &n), 0);
    offer_read();                        /* held for a second */
    usleep(50 * 1000);
    assert_int_equal(get16(USED + 2), bf.next_used);
    /* lifting the limit lets it through at once */
    long t0 = now_ms();
    assert_int_equal(virtio_blk_set_ratelimit(bf.blk, NULL), 0);
    assert_true(WAIT_FOR(get16(USED + 2) == bf.next_used + 1));
    bf.next_used++;
    assert_true(now_ms() - t0 < 500);
    assert_int_equal(*gp(STAT), 0);
    /* held again; a reset does not wait for the limiter */
    assert_int_equal(virtio_blk_set_ratelimit(bf.blk, &limit_slow), 0);
    assert_int_equal(rw_request(T_IN, 0, 4096, &n), 0);
    offer_read();
    usleep(50 * 1000);
    t0 = now_ms();
    wr(bf.d, R_STATUS, 0);
    assert_true(now_ms() - t0 < 500);
    assert_int_equal(get16(USED + 2), bf.next_used);   /* never served */
    bring_up_again();
    assert_int_equal(virtio_blk_set_ratelimit(bf.blk, NULL), 0);
    assert_int_equal(rw_request(T_IN, 0, 4096, &n), 0);
    struct virtio_blk_stats st;
    virtio_blk_stats(bf.blk, &st);
    assert_int_equal(st.read_ops, 4);
}

static bool all_5a(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0x5a)
            return false;
    return true;
}

/* One request of many descriptors all aliasing the same 512 KiB of RAM: 18 MiB of disk
 * from 1 MiB of guest. Past the bound of a request it fails whole, without touching the disk. */
static void test_blk_request_of_aliased_buffers_is_bounded(void **state)
{
    enum { SEGS = 36, SEG_LEN = 512 << 10 };
    const uint64_t seg = RAM_BASE + 0x80000;
    put_hdr(HDR, T_IN, 0);
    *gp(STAT) = 0xff;
    set_desc(TABLE, 0, HDR, 16, F_NEXT, 1);
    for (unsigned i = 1; i <= SEGS; i++)
        set_desc(TABLE, i, seg, SEG_LEN, F_NEXT | F_WRITE, (uint16_t)(i + 1));
    set_desc(TABLE, SEGS + 1, STAT, 1, F_WRITE, 0);
    set_desc(DESC, 0, TABLE, 16 * (SEGS + 2), F_INDIRECT, 0);
    memset(gp(seg), 0x5a, SEG_LEN);
    assert_int_equal(submit(0), 1);
    assert_int_equal(*gp(STAT), 1); /* IOERR */
    assert_true(all_5a(gp(seg), SEG_LEN)); /* the (zero) disk was not read into them */
    /* a request within the bound is served */
    set_desc(TABLE, 5, STAT, 1, F_WRITE, 0);
    set_desc(DESC, 0, TABLE, 16 * 6, F_INDIRECT, 0);
    assert_int_equal(submit(0), 4 * SEG_LEN + 1);
    assert_int_equal(*gp(STAT), 0);
}

/* 4 KiB/s and indirect descriptors */
static int setup_blk_slow_indirect(void **state)
{
    bf_limit = &limit_slow;
    bf_features = 1ULL << 28;
    return setup_blk(state);
}

/* The refused 18 MiB read moves nothing and costs no bandwidth: were it charged, the next
 * read would wait hours at 4 KiB/s, through resets too. */
static void test_blk_refused_request_costs_no_bandwidth(void **state)
{
    enum { SEGS = 36, SEG_LEN = 512 << 10 };
    const uint64_t seg = RAM_BASE + 0x80000;
    put_hdr(HDR, T_IN, 0);
    set_desc(TABLE, 0, HDR, 16, F_NEXT, 1);
    for (unsigned i = 1; i <= SEGS; i++)
        set_desc(TABLE, i, seg, SEG_LEN, F_NEXT | F_WRITE, (uint16_t)(i + 1));
    set_desc(TABLE, SEGS + 1, STAT, 1, F_WRITE, 0);
    set_desc(DESC, 0, TABLE, 16 * (SEGS + 2), F_INDIRECT, 0);
    assert_int_equal(submit(0), 1);
    assert_int_equal(*gp(STAT), 1); /* IOERR */
    uint32_t n;
    assert_int_equal(rw_request(T_IN, 0, 512, &n), 0);
    assert_int_equal(n, 513);
}

/* A driver that keeps the ring full: its feeder offers a 512 KiB read whenever there is room. */
static volatile bool feeding, resetting;

static void *feeder(void *arg)
{
    (void)arg;
    while (__atomic_load_n(&feeding, __ATOMIC_ACQUIRE)) {
        uint16_t a = get16(AVAIL + 2);
        if ((uint16_t)(a - get16(USED + 2)) < bf_qsize) {
            offer(AVAIL, bf_qsize, 0);
            /* kicks would wait behind the reset's hold on notifies: a second vCPU's
             * stores need none while the device is busy */
            if (!__atomic_load_n(&resetting, __ATOMIC_ACQUIRE))
                bf.d->region.write(bf.d->region.dev, R_QUEUE_NOTIFY, 4, 0);
        }
    }
    return NULL;
}

static volatile bool reset_done;

static void *resetter(void *arg)
{
    (void)arg;
    uint64_t v = 0;
    __atomic_store_n(&resetting, true, __ATOMIC_RELEASE);
    bf.d->region.write(bf.d->region.dev, R_STATUS, 4, v);
    __atomic_store_n(&reset_done, true, __ATOMIC_RELEASE);
    return NULL;
}

static void test_blk_reset_cuts_into_a_ring_that_never_empties(void **state)
{
    put_hdr(HDR, T_IN, 0);
    set_desc(DESC, 0, HDR, 16, F_NEXT, 1);
    set_desc(DESC, 1, BUF, 512 << 10, F_NEXT | F_WRITE, 2);
    set_desc(DESC, 2, STAT, 1, F_WRITE, 0);
    feeding = true;
    resetting = reset_done = false;
    pthread_t f, r;
    assert_int_equal(pthread_create(&f, NULL, feeder, NULL), 0);
    wr(bf.d, R_QUEUE_NOTIFY, 0);
    assert_true(WAIT_FOR(get16(USED + 2) > 16)); /* the device is busy */
    assert_int_equal(pthread_create(&r, NULL, resetter, NULL), 0);
    bool in_time = WAIT_FOR(__atomic_load_n(&reset_done, __ATOMIC_ACQUIRE));
    __atomic_store_n(&feeding, false, __ATOMIC_RELEASE);
    pthread_join(f, NULL);
    pthread_join(r, NULL);
    assert_true(in_time);
    assert_int_equal(rd(bf.d, R_STATUS), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TD(f) cmocka_unit_test_setup_teardown(f, setup_dev, teardown_dev)
#define TB(f) cmocka_unit_test_setup_teardown(f, setup_blk, teardown_blk)
#define TBL(f, s) cmocka_unit_test_setup_teardown(f, s, teardown_blk)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_pop_readable_then_writable_chain),
        T(test_pop_empty_ring_returns_zero),
        T(test_unready_queue_has_nothing_available),
        T(test_pop_chain_of_queue_size_is_allowed),
        T(test_pop_two_requests_in_order),
        T(test_pop_descriptor_loop_is_eloop),
        T(test_pop_self_loop_is_eloop),
        T(test_pop_chain_longer_than_queue_fails),
        T(test_pop_address_outside_ram_faults),
        T(test_pop_address_wrapping_2_64_faults),
        T(test_pop_huge_len_faults),
        T(test_pop_next_out_of_range_fails),
        T(test_pop_readable_after_writable_is_eproto),
        T(test_pop_head_out_of_range_fails),
        T(test_pop_avail_idx_too_far_ahead_fails),
        T(test_pop_avail_idx_exactly_full_is_fine),
        T(test_pop_avail_idx_wraps_at_65536),
        T(test_indirect_good_table),
        T(test_indirect_table_of_max_segs_is_allowed),
        T(test_indirect_not_negotiated_fails),
        T(test_indirect_bad_table_len_fails),
        T(test_indirect_nested_fails),
        T(test_indirect_loop_is_eloop),
        T(test_indirect_next_out_of_table_fails),
        T(test_indirect_with_next_flag_fails),
        T(test_indirect_table_outside_ram_faults),
        T(test_indirect_entry_outside_ram_faults),
        T(test_indirect_after_other_descriptors_fails),
        T(test_push_writes_used_entries_and_idx),
        T(test_unset_queue_pops_and_pushes_nothing),
        T(test_push_wraps_used_idx_at_65536),
        T(test_no_interrupt_flag_without_event_idx),
        T(test_event_idx_respects_used_event),
        T(test_event_idx_wraps),
        T(test_enable_kick_writes_avail_event),
        T(test_pop_or_arm_asks_for_a_kick_when_empty),
        T(test_validate_sizes),
        T(test_validate_alignment),
        T(test_validate_rings_outside_ram),
        T(test_copy_helpers_span_buffers),
        TD(test_mmio_identifies_device),
        TD(test_mmio_features_ok_without_version_1),
        TD(test_mmio_features_ok_drops_unknown_bits),
        TD(test_mmio_features_frozen_after_features_ok),
        TD(test_mmio_features_ok_is_sticky_while_live),
        TD(test_mmio_status_bits_come_in_order),
        TD(test_mmio_queue_change_while_live_needs_reset),
        TD(test_mmio_features_write_after_features_ok_needs_reset),
        TD(test_mmio_queue_registers),
        TD(test_mmio_bad_ring_sets_needs_reset),
        TD(test_mmio_bad_ring_variants_set_needs_reset),
        TD(test_mmio_notify_only_after_driver_ok),
        TD(test_mmio_driver_ok_without_features_ok_does_not_start),
        TD(test_mmio_queue_frozen_while_live),
        TD(test_mmio_interrupt_ack),
        TD(test_mmio_needs_reset_from_device),
        TD(test_mmio_status_zero_resets_everything),
        TD(test_mmio_config_space),
        TD(test_mmio_bad_access_sizes_do_not_crash),
        TB(test_blk_read_beyond_end_is_ioerr),
        TB(test_blk_unknown_type_is_unsupp),
        TB(test_blk_write_read_round_trip),
        TB(test_blk_get_id),
        TB(test_blk_short_header_does_not_crash),
        TB(test_blk_descriptor_loop_needs_reset),
        TB(test_blk_queue_never_made_ready_does_not_spin),
        TB(test_blk_config_space),
        TBL(test_blk_rate_limit_paces_reads, setup_blk_bw),
        TBL(test_blk_rate_limit_counts_ops, setup_blk_ops),
        TBL(test_blk_held_request_yields_to_new_limit_and_reset, setup_blk_slow),
        TBL(test_blk_request_of_aliased_buffers_is_bounded, setup_blk_big),
        TBL(test_blk_refused_request_costs_no_bandwidth, setup_blk_slow_indirect),
        TBL(test_blk_reset_cuts_into_a_ring_that_never_empties, setup_blk_deep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
