/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The record of in-flight requests, in shared memory.  A mediator that
 * dies (crash, kill, upgrade) leaves it behind; the next one learns
 * from it which chains it owes the guest an answer for.
 *
 * One process writes the record and a kill stops it between any two
 * instructions, so each change ends with a single release store of an
 * aligned state word, after the fields it publishes: avail_idx before
 * state when adding, used_idx before state when finishing.  The record
 * is read back by a process that trusts nothing in it:
 * blk_inflight_check() and blk_inflight_recover() refuse what this code
 * could not have written.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "blk.h"

_Static_assert(sizeof(struct blk_inflight_entry) == 8, "entry layout");
_Static_assert(offsetof(struct blk_inflight_entry, used_idx) == 4,
    "entry layout");
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
	r->reserved[0] = r->reserved[1] = 0;
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

/* Records head as seen at avail_idx; 0, -EINVAL or -EEXIST. */
int
blk_inflight_add(struct blk_inflight *r, uint16_t head, uint16_t avail_idx)
{
	struct blk_inflight_entry *e;

	if (head >= BLK_INFLIGHT_MAX)
		return -EINVAL;
	e = &r->e[head];
	if (e->state != BLK_INFLIGHT_FREE)
		return -EEXIST;
	e->avail_idx = avail_idx;
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
 * What the order of the steps leaves possible, and nothing else:
 *
 * - a PENDING entry was seen at avail_idx, and last_avail has moved past
 *   it (it was taken) or not yet (age 0: the process died in between).
 *   At most one can be in between, as chains are taken one at a time,
 *   and none was taken more than size chains ago: the driver cannot
 *   have more chains out than the queue has entries.
 * - a DONE entry is being pushed at its used_idx.  Only one at a time,
 *   and nothing else is pushed until it is removed, so the committed
 *   used index is either used_idx (not pushed: run it again) or one
 *   more (pushed: forget it).
 */
int
blk_inflight_recover(struct blk_inflight *r, uint16_t *last_avail,
    uint16_t used_idx, uint16_t size)
{
	int fresh = -1, done = -1, n = 0;

	if (size == 0 || size > BLK_INFLIGHT_MAX)
		return -EPROTO;
	/* Everything is checked before anything changes. */
	for (unsigned i = 0; i < BLK_INFLIGHT_MAX; i++) {
		const struct blk_inflight_entry *e = &r->e[i];
		uint16_t age = (uint16_t)(*last_avail - e->avail_idx);

		if (e->state == BLK_INFLIGHT_FREE)
			continue;
		if (i >= size || age > size)
			return -EPROTO;
		if (age == 0) {
			if (e->state != BLK_INFLIGHT_PENDING || fresh >= 0)
				return -EPROTO;
			fresh = (int)i;
		}
		if (e->state == BLK_INFLIGHT_DONE) {
			if (done >= 0 || (e->used_idx != used_idx &&
			    (uint16_t)(e->used_idx + 1) != used_idx))
				return -EPROTO;
			done = (int)i;
		}
	}
	/* Seen and recorded, not taken: take it now, as it would have been. */
	if (fresh >= 0)
		*last_avail = (uint16_t)(*last_avail + 1);
	if (done >= 0)
		set_state(&r->e[done], r->e[done].used_idx == used_idx ?
		    BLK_INFLIGHT_PENDING : BLK_INFLIGHT_FREE);
	for (unsigned i = 0; i < BLK_INFLIGHT_MAX; i++)
		n += r->e[i].state != BLK_INFLIGHT_FREE;
	return n;
}

/* Heads in flight, oldest first; returns their number. */
int
blk_inflight_list(const struct blk_inflight *r, uint16_t last_avail,
    uint16_t *heads, int max)
{
	uint16_t age[BLK_INFLIGHT_MAX];
	uint16_t order[BLK_INFLIGHT_MAX];
	int n = 0;

	/*
	 * Avail indexes wrap; their distance back from last_avail does not
	 * while fewer than 65536 chains are taken after one still in
	 * flight, which the queue size rules out.  Insertion sort: at most
	 * 256 entries, and only at restart.
	 */
	for (unsigned i = 0; i < BLK_INFLIGHT_MAX; i++) {
		uint16_t a;
		int j;

		if (r->e[i].state == BLK_INFLIGHT_FREE)
			continue;
		a = (uint16_t)(last_avail - r->e[i].avail_idx);
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
