/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The record of in-flight requests, in shared memory.  A mediator that
 * dies (crash, kill, upgrade) leaves it behind; the next one learns
 * from it which chains it owes the guest an answer for.
 *
 * One process writes the record and a crash stops it between any two
 * stores, so each change is a single store of a naturally aligned field,
 * ordered with release stores: seq before state when adding, used_idx
 * before state when finishing.  The record is read back by a process
 * that trusts nothing in it: blk_inflight_check() first.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "blk.h"

_Static_assert(sizeof(struct blk_inflight_entry) == 8, "entry layout");
_Static_assert(offsetof(struct blk_inflight, e) == 0x10, "record layout");
_Static_assert(sizeof(struct blk_inflight) == 0x10 + 8 * BLK_INFLIGHT_MAX,
    "record layout");
_Static_assert(sizeof(struct blk_inflight) <= VIRTIO_DEV_AREA,
    "record fits the device area of the shared state");
_Static_assert(BLK_INFLIGHT_MAX >= BLK_QUEUE_SIZE, "one entry per head");

static void
set_state(struct blk_inflight_entry *e, uint16_t state)
{
	__atomic_store_n(&e->state, state, __ATOMIC_RELEASE);
}

/* An empty record, header last so a torn one fails the check. */
void
blk_inflight_init(struct blk_inflight *r)
{
	memset(r->e, 0, sizeof(r->e));
	r->max = BLK_INFLIGHT_MAX;
	r->next_seq = 1;
	r->reserved = 0;
	r->version = BLK_INFLIGHT_VERSION;
	__atomic_store_n(&r->magic, BLK_INFLIGHT_MAGIC, __ATOMIC_RELEASE);
}

/* Layout and states of a record left behind; 0 or -EPROTO. */
int
blk_inflight_check(const struct blk_inflight *r)
{
	if (r->magic != BLK_INFLIGHT_MAGIC ||
	    r->version != BLK_INFLIGHT_VERSION || r->max != BLK_INFLIGHT_MAX)
		return -EPROTO;
	for (unsigned i = 0; i < BLK_INFLIGHT_MAX; i++) {
		if (r->e[i].state > BLK_INFLIGHT_DONE)
			return -EPROTO;
	}
	return 0;
}

/* Records head as taken; 0, -EINVAL or -EEXIST. */
int
blk_inflight_add(struct blk_inflight *r, uint16_t head)
{
	struct blk_inflight_entry *e;
	uint32_t seq;

	if (head >= BLK_INFLIGHT_MAX)
		return -EINVAL;
	e = &r->e[head];
	if (e->state != BLK_INFLIGHT_FREE)
		return -EEXIST;
	seq = r->next_seq;
	r->next_seq = seq + 1;
	e->seq = seq;
	e->used_idx = 0;
	set_state(e, BLK_INFLIGHT_PENDING);
	return 0;
}

/* Marks head finished, to be pushed at used_idx; 0 or -ENOENT. */
int
blk_inflight_done(struct blk_inflight *r, uint16_t head, uint16_t used_idx)
{
	struct blk_inflight_entry *e;

	if (head >= BLK_INFLIGHT_MAX)
		return -ENOENT;
	e = &r->e[head];
	if (e->state == BLK_INFLIGHT_FREE)
		return -ENOENT;
	e->used_idx = used_idx;
	set_state(e, BLK_INFLIGHT_DONE);
	return 0;
}

/* Forgets head after its push; 0 or -ENOENT. */
int
blk_inflight_remove(struct blk_inflight *r, uint16_t head)
{
	struct blk_inflight_entry *e;

	if (head >= BLK_INFLIGHT_MAX)
		return -ENOENT;
	e = &r->e[head];
	if (e->state == BLK_INFLIGHT_FREE)
		return -ENOENT;
	/*
	 * The used-ring push before this must not sink below it: a record
	 * that forgets a request before the guest sees its answer would
	 * lose it in a crash.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	set_state(e, BLK_INFLIGHT_FREE);
	return 0;
}

/*
 * A DONE entry was pushed when the queue's used index moved past the
 * index it was to take.  Only this process pushes, and nothing is
 * pushed between blk_inflight_done() and the push it announces, so the
 * used index either still equals used_idx (not pushed) or does not.
 */
int
blk_inflight_recover(struct blk_inflight *r, uint16_t used_idx)
{
	int n = 0;

	for (unsigned i = 0; i < BLK_INFLIGHT_MAX; i++) {
		struct blk_inflight_entry *e = &r->e[i];

		if (e->state != BLK_INFLIGHT_DONE)
			continue;
		if (e->used_idx != used_idx) {
			set_state(e, BLK_INFLIGHT_FREE);
			n++;
		} else
			set_state(e, BLK_INFLIGHT_PENDING);
	}
	return n;
}

/* Heads in flight, oldest first; returns their number. */
int
blk_inflight_list(const struct blk_inflight *r, uint16_t *heads, int max)
{
	uint32_t age[BLK_INFLIGHT_MAX];
	uint16_t order[BLK_INFLIGHT_MAX];
	uint32_t next = r->next_seq;
	int n = 0;

	/*
	 * Sequence numbers wrap; their distance back from next_seq does
	 * not, as long as fewer than 2^32 requests are taken while one
	 * stays in flight.  Insertion sort: at most 256 entries, and only
	 * at restart.
	 */
	for (unsigned i = 0; i < BLK_INFLIGHT_MAX; i++) {
		uint32_t a;
		int j;

		if (r->e[i].state == BLK_INFLIGHT_FREE)
			continue;
		a = next - r->e[i].seq;
		for (j = n; j > 0 && age[j - 1] < a; j--) {
			age[j] = age[j - 1];
			order[j] = order[j - 1];
		}
		age[j] = a;
		order[j] = (uint16_t)i;
		n++;
	}
	for (int i = 0; i < n && i < max; i++)
		heads[i] = order[i];
	return n;
}
