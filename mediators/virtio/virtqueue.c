/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Split virtqueues, device side.
 *
 * The guest may rewrite any byte of its rings while we read them, so
 * every field is fetched exactly once into a local and only the local
 * is checked and used (no double fetch).  Indexes are masked with
 * size - 1, addresses go through gmem_ptr(), and nothing here trusts
 * q either: it lives in shared memory a previous process wrote.
 *
 * Orderings (virtio 1.x split rings): avail->idx is loaded with
 * acquire before the ring entries it publishes; a used element is
 * stored before used->idx is release-stored; a full fence separates
 * that store from reading avail->flags or used_event for the interrupt
 * decision, and storing avail_event from reading avail->idx again
 * before the device waits for a notification.  Each fence is half of a
 * Dekker pair whose other half is the driver's (store its index or
 * event, full barrier, load ours): of the two loads at least one sees
 * the other side's store, so a notification or interrupt is never
 * lost between them.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "virtqueue.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "split rings are little-endian and read in place"
#endif

_Static_assert(sizeof(struct virtq_desc) == 16, "descriptor layout");
_Static_assert(VQ_MAX_SEGS <= UINT16_MAX, "nseg is 16 bits");
/* The event fields end their areas, so an area's range check has them. */
_Static_assert(VIRTQ_USED_EVENT_OFF(VQ_MAX_SIZE) + 2 ==
    VIRTQ_AVAIL_BYTES(VQ_MAX_SIZE), "used_event ends the available ring");
_Static_assert(VIRTQ_AVAIL_EVENT_OFF(VQ_MAX_SIZE) + 2 ==
    VIRTQ_USED_BYTES(VQ_MAX_SIZE), "avail_event ends the used ring");

/*
 * One compiler barrier after a copy from guest memory: the compiler may
 * not re-derive the local from guest memory afterwards, so what we
 * checked is what we use.
 */
#define GUEST_READ_ONCE_BARRIER() __asm__ __volatile__("" ::: "memory")

/* Copies the descriptor at p once; p need not be aligned (indirect). */
static struct virtq_desc
desc_fetch(const void *p)
{
	struct virtq_desc d;

	memcpy(&d, p, sizeof(d));
	GUEST_READ_ONCE_BARRIER();
	return d;
}

/* A queue size as vq_state may hold it: a power of two, 1..VQ_MAX_SIZE. */
static bool
size_ok(uint16_t size)
{
	return size != 0 && size <= VQ_MAX_SIZE && (size & (size - 1)) == 0;
}

/* Where the walk through one chain stands. */
struct walk {
	const uint8_t *table;	/* current descriptor table */
	uint32_t tsize;		/* its number of entries */
	uint32_t seen;		/* descriptors visited in this table */
	bool indirect;		/* table is an indirect one */
	bool writing;		/* a device-writable segment was seen */
	uint64_t total;		/* bytes in the chain so far */
};

static int
fail(struct vq_chain *c, const char *why)
{
	c->why = why;
	return -EPROTO;
}

/* Switches w to the indirect table d describes.  Returns 0 or -EPROTO. */
static int
enter_indirect(const struct gmem *m, struct walk *w, const struct virtq_desc *d,
    bool allowed, struct vq_chain *c)
{
	if (!allowed)
		return fail(c, "indirect descriptor not negotiated");
	if (w->indirect)
		return fail(c, "nested indirect descriptor");
	if (d->flags & VIRTQ_DESC_F_NEXT)
		return fail(c, "indirect descriptor with NEXT");
	if (d->len == 0 || d->len % sizeof(struct virtq_desc) != 0)
		return fail(c, "indirect table length not a multiple of 16");
	if (d->len / sizeof(struct virtq_desc) > VQ_MAX_SEGS)
		return fail(c, "indirect table too long");
	w->table = gmem_ptr(m, d->addr, d->len);
	if (w->table == NULL)
		return fail(c, "indirect table outside guest memory");
	w->tsize = d->len / sizeof(struct virtq_desc);
	w->seen = 0;
	w->indirect = true;
	return 0;
}

/* Adds the buffer d describes to c.  Returns 0 or -EPROTO. */
static int
add_segment(const struct gmem *m, struct walk *w, const struct virtq_desc *d,
    struct vq_chain *c)
{
	bool write = (d->flags & VIRTQ_DESC_F_WRITE) != 0;
	void *host;

	/* The spec puts device-readable buffers before writable ones. */
	if (!write && w->writing)
		return fail(c, "device-readable after device-writable");
	w->writing |= write;
	/*
	 * Zero-length buffers carry nothing; skipping them keeps drivers
	 * that emit them working and gives the device no empty segment
	 * to trip over.  They still count against the loop limit.
	 */
	if (d->len == 0)
		return 0;
	if (c->nseg >= VQ_MAX_SEGS)
		return fail(c, "chain longer than VQ_MAX_SEGS");
	host = gmem_ptr(m, d->addr, d->len);
	if (host == NULL)
		return fail(c, "buffer outside guest memory");
	w->total += d->len;
	if (w->total > UINT32_MAX)
		return fail(c, "chain longer than 4 GiB");
	c->seg[c->nseg++] = (struct vq_seg){
		.host = host, .gpa = d->addr, .len = d->len, .write = write,
	};
	if (write)
		c->in_len += d->len;
	else
		c->out_len += d->len;
	return 0;
}

/*
 * Walks the chain starting at head in the queue's table of size
 * entries.  Returns 0 with c filled, or -EPROTO.
 */
static int
walk_chain(const struct gmem *m, const uint8_t *desc, uint16_t size,
    uint16_t head, bool indirect, struct vq_chain *c)
{
	struct walk w = { .table = desc, .tsize = size };
	uint32_t idx = head;
	int ret;

	for (;;) {
		struct virtq_desc d;

		/*
		 * A driver may not build a chain longer than the queue
		 * (or the indirect table), so one that is must loop.
		 */
		if (w.seen++ >= w.tsize)
			return fail(c, w.indirect ? "loop in indirect table" :
			    "descriptor loop");
		d = desc_fetch(w.table + (size_t)idx * sizeof(d));
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if ((ret = enter_indirect(m, &w, &d, indirect, c)) < 0)
				return ret;
			idx = 0;
			continue;
		}
		if ((ret = add_segment(m, &w, &d, c)) < 0)
			return ret;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		idx = d.next;
		if (idx >= w.tsize)
			return fail(c, "next index out of range");
	}
}

int
vq_peek(const struct gmem *m, const struct vq_state *q, bool indirect,
    struct vq_chain *c)
{
	uint16_t size, last, avail_idx, head;
	uint64_t desc_gpa, avail_gpa;
	const uint16_t *avail;
	const uint8_t *desc;

	c->nseg = 0;
	c->out_len = c->in_len = 0;
	c->why = NULL;
	/* Pairs with the release store that enables the queue. */
	if (!__atomic_load_n(&q->ready, __ATOMIC_ACQUIRE))
		return 0;
	size = q->size;
	last = q->last_avail;
	desc_gpa = q->desc;
	avail_gpa = q->avail;
	if (!size_ok(size))
		return fail(c, "bad queue size");
	if ((avail_gpa & 1) != 0 || (desc_gpa & 15) != 0)
		return fail(c, "misaligned ring");
	avail = gmem_ptr(m, avail_gpa, VIRTQ_AVAIL_BYTES(size));
	desc = gmem_ptr(m, desc_gpa, VIRTQ_DESC_BYTES(size));
	if (avail == NULL || desc == NULL)
		return fail(c, "ring outside guest memory");

	/* Pairs with the driver's write barrier before it bumps idx. */
	avail_idx = __atomic_load_n(&avail[1], __ATOMIC_ACQUIRE);
	if (avail_idx == last)
		return 0;
	/* Free-running 16-bit indexes: the difference is what is new. */
	if ((uint16_t)(avail_idx - last) > size)
		return fail(c, "avail idx more than queue size ahead");

	head = __atomic_load_n(&avail[2 + (last & (size - 1))],
	    __ATOMIC_RELAXED);
	if (head >= size)
		return fail(c, "head index out of range");
	c->head = head;
	if (walk_chain(m, desc, size, head, indirect, c) < 0)
		return -EPROTO;
	return 1;
}

void
vq_advance(struct vq_state *q)
{
	__atomic_store_n(&q->last_avail, (uint16_t)(q->last_avail + 1),
	    __ATOMIC_RELEASE);
}

int
vq_pop(const struct gmem *m, struct vq_state *q, bool indirect,
    struct vq_chain *c)
{
	int ret = vq_peek(m, q, indirect, c);

	if (ret == 1)
		vq_advance(q);
	return ret;
}

int
vq_chain_at(const struct gmem *m, const struct vq_state *q, bool indirect,
    uint16_t head, struct vq_chain *c)
{
	uint16_t size = q->size;
	uint64_t desc_gpa = q->desc;
	const uint8_t *desc;

	c->nseg = 0;
	c->out_len = c->in_len = 0;
	c->why = NULL;
	if (!size_ok(size))
		return fail(c, "bad queue size");
	if ((desc_gpa & 15) != 0)
		return fail(c, "misaligned ring");
	if ((desc = gmem_ptr(m, desc_gpa, VIRTQ_DESC_BYTES(size))) == NULL)
		return fail(c, "ring outside guest memory");
	if (head >= size)
		return fail(c, "head index out of range");
	c->head = head;
	return walk_chain(m, desc, size, head, indirect, c);
}

/* The used ring of q as host words, or NULL when it is not usable. */
static uint32_t *
used_ring(const struct gmem *m, const struct vq_state *q)
{
	uint16_t size = q->size;
	uint64_t used_gpa = q->used;

	if (!size_ok(size) || (used_gpa & 3) != 0)
		return NULL;
	return gmem_ptr(m, used_gpa, VIRTQ_USED_BYTES(size));
}

int
vq_push_elem(const struct gmem *m, const struct vq_state *q, uint16_t head,
    uint32_t written)
{
	uint32_t *used = used_ring(m, q);
	uint32_t slot;

	if (used == NULL || head >= q->size)
		return -EPROTO;
	/* used: u16 flags, u16 idx, then {u32 id, u32 len}[size]. */
	slot = 1 + 2u * (q->used_idx & (q->size - 1));
	__atomic_store_n(&used[slot], (uint32_t)head, __ATOMIC_RELAXED);
	__atomic_store_n(&used[slot + 1], written, __ATOMIC_RELAXED);
	return 0;
}

void
vq_push_commit(struct vq_state *q)
{
	uint16_t idx = (uint16_t)(q->used_idx + 1);

	/*
	 * 65536 pushes since the last interrupt decision bring used_idx
	 * back to signalled_used, and [signalled_used, used_idx) would
	 * look empty: forget the decision so that the next one interrupts.
	 */
	if (idx == q->signalled_used)
		q->flags &= (uint16_t)~VQ_SIGNALLED;
	/* The element (and the caller's record of it) before the commit. */
	__atomic_store_n(&q->used_idx, idx, __ATOMIC_RELEASE);
}

int
vq_publish(const struct gmem *m, const struct vq_state *q)
{
	uint32_t *used = used_ring(m, q);

	if (used == NULL)
		return -EPROTO;
	/* The element must be visible before the index that publishes it. */
	__atomic_store_n((uint16_t *)used + 1, q->used_idx, __ATOMIC_RELEASE);
	return 0;
}

int
vq_push(const struct gmem *m, struct vq_state *q, uint16_t head,
    uint32_t written)
{
	int ret = vq_push_elem(m, q, head, written);

	if (ret < 0)
		return ret;
	vq_push_commit(q);
	return vq_publish(m, q);
}

bool
vq_want_interrupt(const struct gmem *m, struct vq_state *q, bool event_idx)
{
	uint16_t size = q->size, flags, event, new, old;
	uint64_t avail_gpa = q->avail;
	const uint16_t *avail;
	bool valid;

	if (!size_ok(size) || (avail_gpa & 1) != 0)
		goto unsure;
	avail = gmem_ptr(m, avail_gpa, VIRTQ_AVAIL_BYTES(size));
	if (avail == NULL)
		goto unsure;
	/*
	 * Store used->idx, then load avail->flags (or used_event): the
	 * driver does the mirror image (clear NO_INTERRUPT or write
	 * used_event, then look at used->idx), and without a full fence
	 * both could miss the other's store.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!event_idx) {
		flags = __atomic_load_n(&avail[0], __ATOMIC_RELAXED);
		return !(flags & VIRTQ_AVAIL_F_NO_INTERRUPT);
	}
	/* avail: u16 flags, u16 idx, u16 ring[size], u16 used_event. */
	event = __atomic_load_n(&avail[VIRTQ_USED_EVENT_OFF(size) / 2],
	    __ATOMIC_RELAXED);
	new = q->used_idx;
	old = q->signalled_used;
	valid = (q->flags & VQ_SIGNALLED) != 0;
	/*
	 * Recorded whatever the answer: the next decision is about the
	 * entries published after new.  A driver that asks later about
	 * an entry before new reads used->idx after asking (its half of
	 * the fence pair) and finds the entry without an interrupt.
	 */
	q->signalled_used = new;
	q->flags |= VQ_SIGNALLED;
	return !valid || vq_need_event(event, new, old);
unsure:
	/* A spurious interrupt is harmless; start afresh after it. */
	if (event_idx)
		q->flags &= (uint16_t)~VQ_SIGNALLED;
	return true;
}

int
vq_arm(const struct gmem *m, struct vq_state *q, bool event_idx)
{
	uint16_t size, last, idx;
	uint64_t avail_gpa, used_gpa;
	const uint16_t *avail;
	uint16_t *used;

	/* Pairs with the release store that enables the queue. */
	if (!__atomic_load_n(&q->ready, __ATOMIC_ACQUIRE))
		return 0;
	size = q->size;
	last = q->last_avail;
	avail_gpa = q->avail;
	used_gpa = q->used;
	if (!size_ok(size) || (avail_gpa & 1) != 0 || (used_gpa & 3) != 0)
		return -EPROTO;
	avail = gmem_ptr(m, avail_gpa, VIRTQ_AVAIL_BYTES(size));
	if (avail == NULL)
		return -EPROTO;
	if (event_idx) {
		used = gmem_ptr(m, used_gpa, VIRTQ_USED_BYTES(size));
		if (used == NULL)
			return -EPROTO;
		/* used: u16 flags, u16 idx, ring[size] of 8 bytes, avail_event. */
		__atomic_store_n(&used[VIRTQ_AVAIL_EVENT_OFF(size) / 2], last,
		    __ATOMIC_RELAXED);
		/*
		 * Store avail_event, then load avail->idx: the driver stores
		 * avail->idx, then loads avail_event to decide whether to
		 * notify.  With a full fence on both sides, either it sees
		 * our avail_event (and notifies for the entry at last) or
		 * we see its idx below (and the caller pops again).
		 */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	}
	/* Acquire, like vq_pop(): the caller may take the entries next. */
	idx = __atomic_load_n(&avail[1], __ATOMIC_ACQUIRE);
	return idx != last;
}

/*
 * Copies between the segments of c of one direction, starting off bytes
 * into that part, and a buffer: from the device-readable part into to,
 * or from from into the device-writable part (write).  Returns bytes
 * copied.
 */
static uint32_t
chain_copy(const struct vq_chain *c, bool write, uint32_t off, uint8_t *to,
    const uint8_t *from, uint32_t len)
{
	uint32_t done = 0;
	unsigned nseg = c->nseg < VQ_MAX_SEGS ? c->nseg : VQ_MAX_SEGS;

	for (unsigned i = 0; i < nseg && done < len; i++) {
		const struct vq_seg *s = &c->seg[i];
		uint32_t n;

		if (s->write != write)
			continue;
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		n = s->len - off;
		if (n > len - done)
			n = len - done;
		if (write)
			memcpy((uint8_t *)s->host + off, from + done, n);
		else
			memcpy(to + done, (const uint8_t *)s->host + off, n);
		done += n;
		off = 0;
	}
	return done;
}

uint32_t
vq_chain_read(const struct vq_chain *c, uint32_t off, void *buf, uint32_t len)
{
	return chain_copy(c, false, off, buf, NULL, len);
}

uint32_t
vq_chain_write(const struct vq_chain *c, uint32_t off, const void *buf,
    uint32_t len)
{
	return chain_copy(c, true, off, NULL, buf, len);
}
