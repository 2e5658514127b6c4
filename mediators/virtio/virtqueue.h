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
 * ring[n], used_event; used: flags, idx, ring[n], avail_event.
 */
#define VIRTQ_DESC_BYTES(n)	(16u * (n))
#define VIRTQ_AVAIL_BYTES(n)	(6u + 2u * (n))
#define VIRTQ_USED_BYTES(n)	(6u + 8u * (n))

/* The part of a queue's state the guest programs; lives in shared state. */
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
	uint32_t pad;
};

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
 * unusable until reset).
 */
int vq_pop(const struct gmem *m, struct vq_state *q, bool indirect,
    struct vq_chain *c);

/*
 * Returns the chain with head to the guest with written bytes, making
 * the used entry visible before the index.  Returns 0 or -EPROTO.
 */
int vq_push(const struct gmem *m, struct vq_state *q, uint16_t head,
    uint32_t written);

/*
 * True when the guest wants an interrupt for what vq_push just returned
 * (VRING_AVAIL_F_NO_INTERRUPT clear).
 */
bool vq_want_interrupt(const struct gmem *m, const struct vq_state *q);

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
