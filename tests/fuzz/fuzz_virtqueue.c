/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for split virtqueues (mediators/virtio/virtqueue.c).
 *
 * Input: a 16-byte header with the queue parameters, then the guest
 * memory, copied into a buffer of exactly that size so that AddressSanitizer
 * sees any byte read or written outside it.  The target takes chains
 * until the ring is empty or refused, checks every promise vq_pop()
 * makes about a chain it accepts, copies data in and out of it and
 * returns it through the used ring.
 *
 * Header (little-endian):
 *	0  u8  queue size as log2 (mod 11: 1..1024)
 *	1  u8  bit 0: indirect descriptors negotiated;
 *	       bit 1: split the memory into two regions with a hole between;
 *	       bit 2: put the memory at the very top of the address space;
 *	       bit 3: EVENT_IDX negotiated (used_event, avail_event);
 *	       bits 4-7: vq_state.flags as a dead process may leave them
 *	2  u16 last_avail		4  u16 used_idx
 *	6  u16 descriptor table offset	8  u16 available ring offset
 *	10 u16 used ring offset		(offsets from the memory's start)
 *	12 u32 memory's guest page number (bit 2 clear)
 *
 * Build: make build/fuzz/fuzz_virtqueue (clang, -fsanitize=fuzzer,...)
 * Run:   build/fuzz/fuzz_virtqueue tests/fuzz/corpus/virtqueue
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gmem.h"
#include "virtqueue.h"

#define HDR_SIZE	16
#define HOLE		0x10000		/* between the two regions */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Aborts (a finding) unless [p, p + len) lies inside one region of m. */
static void
check_inside(const struct gmem *m, const uint8_t *p, uint32_t len)
{
	for (int i = 0; i < m->n; i++) {
		const uint8_t *lo = m->r[i].host, *hi = lo + m->r[i].size;

		if (p >= lo && p <= hi && len <= (size_t)(hi - p))
			return;
	}
	abort();
}

/* Everything vq_pop() promises about a chain it returned. */
static void
check_chain(const struct gmem *m, const struct vq_state *q,
    const struct vq_chain *c)
{
	uint64_t out = 0, in = 0;
	int writing = 0;

	if (c->head >= q->size || c->nseg > VQ_MAX_SEGS)
		abort();
	for (unsigned i = 0; i < c->nseg; i++) {
		const struct vq_seg *s = &c->seg[i];

		if (s->len == 0 || (!s->write && writing))
			abort();
		writing |= s->write;
		if (gmem_ptr(m, s->gpa, s->len) != s->host)
			abort();
		check_inside(m, s->host, s->len);
		if (s->write)
			in += s->len;
		else
			out += s->len;
	}
	if (out != c->out_len || in != c->in_len || out + in > UINT32_MAX)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vq_chain chain;
	static uint8_t scratch[4096];
	struct vq_state q = { 0 };
	struct gmem m = { 0 };
	uint64_t base, len;
	uint8_t *mem, flags;
	bool indirect, event_idx;

	if (size <= HDR_SIZE)
		return 0;
	len = size - HDR_SIZE;
	mem = malloc(len);
	if (mem == NULL)
		return 0;
	memcpy(mem, data + HDR_SIZE, len);

	flags = data[1];
	indirect = flags & 1;
	event_idx = (flags & 8) != 0;
	if (flags & 4)
		/* The memory (and the hole) end exactly at 2^64. */
		base = 0 - len - ((flags & 2) ? HOLE : 0);
	else
		base = (uint64_t)(data[12] | data[13] << 8 | data[14] << 16 |
		    (uint32_t)data[15] << 24) << 12;
	if ((flags & 2) && len >= 2) {
		m.n = 2;
		m.r[0] = (struct gmem_region){ base, len / 2, mem };
		m.r[1] = (struct gmem_region){ base + len / 2 + HOLE,
		    len - len / 2, mem + len / 2 };
	} else {
		m.n = 1;
		m.r[0] = (struct gmem_region){ base, len, mem };
	}

	q.size = (uint16_t)(1u << (data[0] % 11));
	q.ready = 1;
	q.last_avail = get16(data + 2);
	q.used_idx = get16(data + 4);
	q.desc = base + get16(data + 6);
	q.avail = base + get16(data + 8);
	q.used = base + get16(data + 10);
	/* Whatever a dead process may have left; any value is safe. */
	q.signalled_used = get16(data + 2) ^ get16(data + 4);
	q.flags = (uint16_t)(flags >> 4);

	/* A ring holds at most size chains; a few more rounds prove it. */
	for (unsigned round = 0; round < 2u * q.size + 4; round++) {
		uint32_t n, written;
		int r = vq_pop(&m, &q, indirect, &chain);

		if (r <= 0)
			break;
		check_chain(&m, &q, &chain);
		n = chain.out_len < sizeof(scratch) ? chain.out_len :
		    sizeof(scratch);
		if (vq_chain_read(&chain, 0, scratch, n) != n)
			abort();
		/* Write a little at an offset the data chooses. */
		n = chain.in_len < 64 ? chain.in_len : 64;
		written = vq_chain_write(&chain, scratch[0] % 8, scratch, n);
		if (written > n)
			abort();
		if (vq_push(&m, &q, chain.head, written) != 0)
			break;
		/* A decision records what it decided, with EVENT_IDX. */
		(void)vq_want_interrupt(&m, &q, event_idx);
		if (event_idx && (!(q.flags & VQ_SIGNALLED) ||
		    q.signalled_used != q.used_idx))
			abort();
	}
	/* Arming writes inside the used ring only (ASan watches). */
	(void)vq_arm(&m, &q, event_idx);
	free(mem);
	return 0;
}
