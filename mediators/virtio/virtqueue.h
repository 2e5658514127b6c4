/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Split virtqueues (virtio 1.x, 2.7): taking descriptor chains from the
 * available ring and returning them through the used ring.  Every index
 * the guest writes is masked, every descriptor bounds-checked against
 * guest memory, chains are limited in length and loops detected.  A
 * violation is reported as -EPROTO: the caller puts the device in
 * DEVICE_NEEDS_RESET; nothing here aborts.
 */
#ifndef CUPULE_VIRTQUEUE_H
#define CUPULE_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "gmem.h"

#define VQ_MAX_SIZE	1024	/* largest queue a device offers */
#define VQ_MAX_SEGS	256	/* longest chain accepted (incl. indirect) */

/*
 * The guest's side of a split queue (virtio 1.x 2.7), little-endian.
 * Alignment: descriptor table 16, available ring 2, used ring 4.
 */
struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

#define VIRTQ_DESC_F_NEXT	0x1	/* chain continues at next */
#define VIRTQ_DESC_F_WRITE	0x2	/* device writes this buffer */
#define VIRTQ_DESC_F_INDIRECT	0x4	/* buffer is a descriptor table */

#define VIRTQ_AVAIL_F_NO_INTERRUPT 0x1	/* avail->flags: do not interrupt */

/*
 * Sizes of the three areas of a queue of size n.  avail: flags, idx,
 * ring[n], used_event; used: flags, idx, ring[n], avail_event.  The
 * trailing event fields are part of the areas whatever was negotiated
 * (virtio 1.x 2.7), so every range check of an area covers them: a
 * ring whose event field lies outside guest memory is refused like any
 * other ring outside it.
 */
#define VIRTQ_DESC_BYTES(n)	(16u * (n))
#define VIRTQ_AVAIL_BYTES(n)	(6u + 2u * (n))
#define VIRTQ_USED_BYTES(n)	(6u + 8u * (n))

/* Byte offsets of the event fields (VIRTIO_F_EVENT_IDX). */
#define VIRTQ_USED_EVENT_OFF(n)	(4u + 2u * (n))	/* in avail: after ring[n] */
#define VIRTQ_AVAIL_EVENT_OFF(n) (4u + 8u * (n))	/* in used: after ring[n] */

/*
 * The part of a queue's state the guest programs, and the device's
 * indexes; lives in shared state (40 bytes, offsets pinned in
 * virtio_state.c), so a process taking the device over finds them.
 *
 * signalled_used is used_idx as it was at the last interrupt decision
 * under EVENT_IDX, whether or not it interrupted: the next decision
 * interrupts if used_event lies in [signalled_used, used_idx).  It only
 * means something while flags has VQ_SIGNALLED; reset, enabling the
 * queue, a takeover and a used_idx that went all the way round since
 * clear the bit, and a decision without it always interrupts.
 */
struct vq_state {
	uint16_t size;		/* power of two, <= VQ_MAX_SIZE */
	uint16_t ready;
	uint16_t msix_vector;
	uint16_t notify_off;
	uint64_t desc;		/* guest addresses of the three areas */
	uint64_t avail;
	uint64_t used;
	uint16_t last_avail;	/* next avail entry to take */
	uint16_t used_idx;	/* our copy of used->idx */
	uint16_t signalled_used; /* used_idx at the last decision (EVENT_IDX) */
	uint16_t flags;		/* VQ_SIGNALLED */
};

#define VQ_SIGNALLED	0x1	/* signalled_used holds a decision */

struct vq_seg {
	void *host;		/* validated host pointer */
	uint64_t gpa;
	uint32_t len;
	bool write;		/* device writes (guest reads) */
};

struct vq_chain {
	uint16_t head;		/* descriptor index to return in used */
	uint16_t nseg;
	uint32_t out_len;	/* bytes the device reads */
	uint32_t in_len;	/* bytes the device may write */
	const char *why;	/* after -EPROTO: the rule broken (for logs) */
	struct vq_seg seg[VQ_MAX_SEGS];
};

/*
 * Takes the next available chain of q into c, validating every
 * descriptor (indirect tables included when indirect is true).
 * Device-readable segments come first in c->seg, then device-writable
 * ones; zero-length descriptors are skipped (no segment, no access).
 * Returns 1 with c filled, 0 when the ring is empty or q is not ready,
 * -EPROTO on a guest protocol violation (c->why names it; q is then
 * unusable until reset).  vq_pop() is vq_peek() then vq_advance().
 */
int vq_pop(const struct gmem *m, struct vq_state *q, bool indirect,
    struct vq_chain *c);

/*
 * Like vq_pop(), but leaves last_avail where it is: the chain is not
 * taken until vq_advance().  For a device that must record what it
 * takes, in shared memory, before the avail ring says it took it.
 */
int vq_peek(const struct gmem *m, const struct vq_state *q, bool indirect,
    struct vq_chain *c);

/*
 * Takes the chain vq_peek() returned: moves last_avail one on, with a
 * release store, so that a crash cannot make the move visible to a
 * successor without the stores that came before it.
 */
void vq_advance(struct vq_state *q);

/*
 * Walks the chain at head again into c, with the same checks as
 * vq_pop(): for a chain the device took earlier and has not returned,
 * which a restarted device finds in its own records (the avail ring
 * has moved on).  The driver may not touch the descriptors of a chain
 * the device owns, so the walk finds what the first one found.
 * Returns 0, or -EPROTO (c->why names the rule broken).
 */
int vq_chain_at(const struct gmem *m, const struct vq_state *q,
    bool indirect, uint16_t head, struct vq_chain *c);

/*
 * Returns the chain with head to the guest with written bytes, making
 * the used entry visible before the index.  Clears VQ_SIGNALLED when
 * used_idx comes round to signalled_used.  Returns 0 or -EPROTO.
 * vq_push() is vq_push_elem(), vq_push_commit(), vq_publish().
 */
int vq_push(const struct gmem *m, struct vq_state *q, uint16_t head,
    uint32_t written);

/*
 * The three steps of vq_push(), for a device that must survive a crash
 * between any two of them.  q->used_idx is the commit point: an entry
 * is pushed once vq_push_commit() has moved it past the entry, whatever
 * the guest's used->idx says, and vq_publish() copies it to the guest.
 *
 * vq_push_elem() writes the used element at q->used_idx (not yet
 * visible to the driver): 0, or -EPROTO for a used ring that is not
 * usable (nothing written).
 */
int vq_push_elem(const struct gmem *m, const struct vq_state *q,
    uint16_t head, uint32_t written);

/* Commits the element vq_push_elem() wrote: q->used_idx + 1 (release). */
void vq_push_commit(struct vq_state *q);

/*
 * Release-stores q->used_idx into the guest's used->idx.  Also what a
 * restarted device calls, since its predecessor may have committed and
 * died before publishing.  Returns 0 or -EPROTO (nothing written).
 */
int vq_publish(const struct gmem *m, const struct vq_state *q);

/*
 * After one or more vq_push(): true when the guest wants an interrupt
 * for them.  Without event_idx: VIRTQ_AVAIL_F_NO_INTERRUPT is clear in
 * avail->flags; q is not changed.  With event_idx (avail->flags then
 * ignored): used_event lies in [signalled_used, used_idx), or there was
 * no valid decision before (VQ_SIGNALLED clear); either way the decision
 * is recorded (signalled_used = used_idx, VQ_SIGNALLED set).  A ring we
 * cannot read answers true (with event_idx, VQ_SIGNALLED cleared): a
 * spurious interrupt is harmless, a missed one hangs the driver.
 */
bool vq_want_interrupt(const struct gmem *m, struct vq_state *q,
    bool event_idx);

/*
 * The device took every available chain and is going back to waiting
 * for a notification.  With event_idx, first asks for one when the
 * driver publishes the entry at last_avail (avail_event = last_avail),
 * then, after a full fence, looks at avail->idx again.  Returns 1 when
 * chains are available (the caller must pop again before it sleeps:
 * they may have come before the driver could see avail_event), 0 when
 * the ring is empty or q is not ready (a notification will come for
 * the next chain), -EPROTO for a ring that is misaligned or outside
 * guest memory.  Without event_idx nothing is written (the driver
 * notifies every time, as used->flags never has NO_NOTIFY) and the
 * return value only says whether chains are available.
 */
int vq_arm(const struct gmem *m, struct vq_state *q, bool event_idx);

/*
 * virtio 1.x 2.7.10 (vring_need_event): an index the other side watches
 * just moved from old to new_idx; it asked to be told when the entry at
 * event is published.  True iff event lies in [old, new_idx), modulo
 * 2^16: the move published it.
 */
static inline bool
vq_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

/*
 * Copies up to len bytes of the device-readable part of c, starting at
 * byte off of that part, into buf.  Returns the number copied.
 */
uint32_t vq_chain_read(const struct vq_chain *c, uint32_t off, void *buf,
    uint32_t len);

/*
 * Copies len bytes from buf into the device-writable part of c at byte
 * off of that part.  Returns the number copied (less if it ran out).
 */
uint32_t vq_chain_write(const struct vq_chain *c, uint32_t off,
    const void *buf, uint32_t len);

#endif
