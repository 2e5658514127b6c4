/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for split virtqueues (mediators/virtio/virtqueue.c) and
 * gmem_ptr(): chains built by hand in a fake guest memory (a malloc'd
 * buffer behind a gmem region at a non-zero guest address), then every
 * rule vq_pop() enforces, one test per way a guest can break it.
 *
 * Ring layouts are written out here from the virtio spec on purpose
 * (offsets, not the header's structs), so that a wrong layout in the
 * code cannot hide behind the same wrong layout in the test.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "gmem.h"
#include "virtqueue.h"

#define MEM_BASE	0x100000ull	/* guest address of the fake RAM */
#define MEM_SIZE	0x100000ull
#define QSZ		8
/* Offsets in the fake RAM. */
#define DESC		0x1000
#define AVAIL		0x3000
#define USED		0x4000
#define ITABLE		0x8000		/* indirect tables */
#define BUF		0x10000		/* data buffers */

#define F_NEXT		1
#define F_WRITE		2
#define F_INDIRECT	4

static uint8_t *mem;
static struct gmem gm;
static struct vq_state q;
static struct vq_chain chain;
static uint16_t avail_idx;

static uint64_t
gpa(uint64_t off)
{
	return MEM_BASE + off;
}

static void
put16(uint64_t off, uint16_t v)
{
	memcpy(mem + off, &v, 2);
}

static uint16_t
get16(uint64_t off)
{
	uint16_t v;

	memcpy(&v, mem + off, 2);
	return v;
}

static uint32_t
get32(uint64_t off)
{
	uint32_t v;

	memcpy(&v, mem + off, 4);
	return v;
}

/* Descriptor i of the table at offset table: addr, len, flags, next. */
static void
desc_at(uint64_t table, unsigned i, uint64_t addr, uint32_t len,
    uint16_t flags, uint16_t next)
{
	uint8_t *d = mem + table + 16 * i;

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static void
desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	desc_at(DESC, i, addr, len, flags, next);
}

/* Publishes head in the available ring: ring entry, then idx. */
static void
avail_add(uint16_t head)
{
	put16(AVAIL + 4 + 2 * (avail_idx % q.size), head);
	avail_idx++;
	put16(AVAIL + 2, avail_idx);
}

/* vq_pop() must refuse the ring, for the reason named by reason. */
#define POP_FAILS(indirect, reason) do {				\
	ck_assert_int_eq(vq_pop(&gm, &q, (indirect), &chain), -EPROTO);	\
	ck_assert_ptr_nonnull(chain.why);				\
	ck_assert_msg(strstr(chain.why, (reason)) != NULL,		\
	    "refused for \"%s\", expected \"%s\"", chain.why, (reason)); \
} while (0)

static void
setup(void)
{
	mem = calloc(1, MEM_SIZE);
	ck_assert_ptr_nonnull(mem);
	memset(&gm, 0, sizeof(gm));
	gm.n = 1;
	gm.r[0] = (struct gmem_region){ MEM_BASE, MEM_SIZE, mem };
	q = (struct vq_state){
		.size = QSZ, .ready = 1, .desc = gpa(DESC),
		.avail = gpa(AVAIL), .used = gpa(USED),
	};
	avail_idx = 0;
	memset(&chain, 0xa5, sizeof(chain));
}

static void
teardown(void)
{
	free(mem);
}

/* ---- gmem ------------------------------------------------------------- */

START_TEST(gmem_bounds)
{
	ck_assert_ptr_eq(gmem_ptr(&gm, MEM_BASE, MEM_SIZE), mem);
	ck_assert_ptr_eq(gmem_ptr(&gm, MEM_BASE + 10, 6), mem + 10);
	ck_assert_ptr_eq(gmem_ptr(&gm, MEM_BASE + MEM_SIZE - 1, 1),
	    mem + MEM_SIZE - 1);
	ck_assert_ptr_eq(gmem_ptr(&gm, MEM_BASE + 5, 0), mem + 5);
	ck_assert_ptr_null(gmem_ptr(&gm, MEM_BASE - 1, 1));
	ck_assert_ptr_null(gmem_ptr(&gm, MEM_BASE + MEM_SIZE, 0));
	ck_assert_ptr_null(gmem_ptr(&gm, MEM_BASE + MEM_SIZE - 1, 2));
	ck_assert_ptr_null(gmem_ptr(&gm, MEM_BASE, MEM_SIZE + 1));
	/* gpa + len wraps past 2^64: must not look small. */
	ck_assert_ptr_null(gmem_ptr(&gm, MEM_BASE + 16, UINT64_MAX - 8));
	ck_assert_ptr_null(gmem_ptr(&gm, UINT64_MAX - 4, 16));
	/* A second region; a range spanning both is refused. */
	gm.r[1] = (struct gmem_region){ MEM_BASE + MEM_SIZE, 0x1000, mem };
	gm.n = 2;
	ck_assert_ptr_eq(gmem_ptr(&gm, MEM_BASE + MEM_SIZE + 4, 4), mem + 4);
	ck_assert_ptr_null(gmem_ptr(&gm, MEM_BASE + MEM_SIZE - 4, 8));
	gm.n = GMEM_MAX_REGIONS + 1;
	ck_assert_ptr_null(gmem_ptr(&gm, MEM_BASE, 1));
}
END_TEST

/* ---- taking chains ---------------------------------------------------- */

START_TEST(normal_chain)
{
	desc(3, gpa(BUF), 16, F_NEXT, 5);
	desc(5, gpa(BUF + 0x100), 32, F_NEXT, 1);
	desc(1, gpa(BUF + 0x200), 64, F_WRITE, 0);
	avail_add(3);
	ck_assert_int_eq(vq_pop(&gm, &q, false, &chain), 1);
	ck_assert_uint_eq(chain.head, 3);
	ck_assert_uint_eq(chain.nseg, 3);
	ck_assert_uint_eq(chain.out_len, 48);
	ck_assert_uint_eq(chain.in_len, 64);
	ck_assert_ptr_eq(chain.seg[0].host, mem + BUF);
	ck_assert_uint_eq(chain.seg[0].gpa, gpa(BUF));
	ck_assert(!chain.seg[0].write);
	ck_assert_ptr_eq(chain.seg[1].host, mem + BUF + 0x100);
	ck_assert_uint_eq(chain.seg[2].len, 64);
	ck_assert(chain.seg[2].write);
	ck_assert_uint_eq(q.last_avail, 1);
	ck_assert_int_eq(vq_pop(&gm, &q, false, &chain), 0);
}
END_TEST

START_TEST(indirect_chain)
{
	desc(2, gpa(ITABLE), 3 * 16, F_INDIRECT, 0);
	desc_at(ITABLE, 0, gpa(BUF), 10, F_NEXT, 2);
	desc_at(ITABLE, 2, gpa(BUF + 0x40), 20, F_NEXT, 1);
	desc_at(ITABLE, 1, gpa(BUF + 0x80), 30, F_WRITE, 0);
	avail_add(2);
	ck_assert_int_eq(vq_pop(&gm, &q, true, &chain), 1);
	ck_assert_uint_eq(chain.head, 2);
	ck_assert_uint_eq(chain.nseg, 3);
	ck_assert_uint_eq(chain.out_len, 30);
	ck_assert_uint_eq(chain.in_len, 30);
	ck_assert_ptr_eq(chain.seg[1].host, mem + BUF + 0x40);
	ck_assert(chain.seg[2].write);
	/* Direct descriptors before the indirect one are allowed. */
	desc(4, gpa(BUF + 0x400), 8, F_NEXT, 2);
	avail_add(4);
	ck_assert_int_eq(vq_pop(&gm, &q, true, &chain), 1);
	ck_assert_uint_eq(chain.nseg, 4);
	ck_assert_uint_eq(chain.out_len, 38);
}
END_TEST

START_TEST(indirect_not_negotiated)
{
	desc(0, gpa(ITABLE), 16, F_INDIRECT, 0);
	desc_at(ITABLE, 0, gpa(BUF), 10, 0, 0);
	avail_add(0);
	POP_FAILS(false, "not negotiated");
}
END_TEST

START_TEST(empty_ring)
{
	ck_assert_int_eq(vq_pop(&gm, &q, false, &chain), 0);
	ck_assert_uint_eq(q.last_avail, 0);
	/* A queue that is not ready is empty whatever its ring says. */
	desc(0, gpa(BUF), 4, 0, 0);
	avail_add(0);
	q.ready = 0;
	ck_assert_int_eq(vq_pop(&gm, &q, false, &chain), 0);
	q.ready = 1;
	ck_assert_int_eq(vq_pop(&gm, &q, false, &chain), 1);
}
END_TEST

START_TEST(index_wraparound)
{
	/* Both free-running indexes cross 65535 -> 0. */
	q.last_avail = 65534;
	q.used_idx = 65534;
	avail_idx = 65534;
	for (uint16_t i = 0; i < 4; i++) {
		desc(i, gpa(BUF + 16 * i), 4, 0, 0);
		avail_add(i);
	}
	ck_assert_uint_eq(get16(AVAIL + 2), 2);
	for (uint16_t i = 0; i < 4; i++) {
		ck_assert_int_eq(vq_pop(&gm, &q, false, &chain), 1);
		ck_assert_uint_eq(chain.head, i);
		ck_assert_int_eq(vq_push(&gm, &q, chain.head, i), 0);
	}
	ck_assert_int_eq(vq_pop(&gm, &q, false, &chain), 0);
	ck_assert_uint_eq(q.last_avail, 2);
	ck_assert_uint_eq(get16(USED + 2), 2);
	/* Element for used index 65535 sits in slot 65535 & 7 = 7. */
	ck_assert_uint_eq(get32(USED + 4 + 8 * 7), 1);
	ck_assert_uint_eq(get32(USED + 4 + 8 * 7 + 4), 1);
	ck_assert_uint_eq(get32(USED + 4 + 8 * 1), 3);
}
END_TEST

START_TEST(avail_idx_too_far)
{
	for (unsigned i = 0; i < QSZ; i++)
		desc(i, gpa(BUF), 4, 0, 0);
	/* Exactly a full ring is fine ... */
	put16(AVAIL + 2, QSZ);
	ck_assert_int_eq(vq_pop(&gm, &q, false, &chain), 1);
	/* ... one more than the queue holds is not. */
	put16(AVAIL + 2, (uint16_t)(q.last_avail + QSZ + 1));
	POP_FAILS(false, "ahead");
	/* An index behind ours is a huge distance ahead, too. */
	put16(AVAIL + 2, (uint16_t)(q.last_avail - 1));
	POP_FAILS(false, "ahead");
}
END_TEST

START_TEST(head_out_of_range)
{
	avail_add(QSZ);
	POP_FAILS(false, "head index");
	ck_assert_uint_eq(q.last_avail, 0);
}
END_TEST

START_TEST(next_out_of_range)
{
	desc(0, gpa(BUF), 4, F_NEXT, QSZ);
	avail_add(0);
	POP_FAILS(false, "next index");
}
END_TEST

START_TEST(desc_outside_memory)
{
	desc(0, gpa(MEM_SIZE), 4, 0, 0);		/* just past the end */
	avail_add(0);
	POP_FAILS(false, "buffer outside");
	desc(1, MEM_BASE - 16, 8, 0, 0);		/* below the start */
	q.last_avail = 0;
	avail_idx = 0;
	avail_add(1);
	POP_FAILS(false, "buffer outside");
	desc(2, UINT64_MAX - 7, 16, 0, 0);		/* wraps 2^64 */
	q.last_avail = 0;
	avail_idx = 0;
	avail_add(2);
	POP_FAILS(false, "buffer outside");
}
END_TEST

START_TEST(desc_straddles_end)
{
	desc(0, gpa(MEM_SIZE - 8), 16, 0, 0);
	avail_add(0);
	POP_FAILS(false, "buffer outside");
	/* The same buffer ending exactly at the end is fine. */
	desc(0, gpa(MEM_SIZE - 8), 8, 0, 0);
	ck_assert_int_eq(vq_pop(&gm, &q, false, &chain), 1);
	ck_assert_ptr_eq(chain.seg[0].host, mem + MEM_SIZE - 8);
}
END_TEST

START_TEST(rings_outside_memory)
{
	q.desc = gpa(MEM_SIZE - 16 * QSZ + 16);		/* table straddles */
	avail_add(0);
	POP_FAILS(false, "ring outside");
	q.desc = gpa(DESC);
	q.used = gpa(MEM_SIZE - 4);
	ck_assert_int_eq(vq_push(&gm, &q, 0, 0), -EPROTO);
	/* Misaligned areas and a bad size are refused, not used. */
	q.used = gpa(USED + 2);
	ck_assert_int_eq(vq_push(&gm, &q, 0, 0), -EPROTO);
	q.avail = gpa(AVAIL + 1);
	POP_FAILS(false, "misaligned");
	q.avail = gpa(AVAIL);
	q.desc = gpa(DESC + 8);
	POP_FAILS(false, "misaligned");
	q.desc = gpa(DESC);
	q.size = 6;
	POP_FAILS(false, "queue size");
	q.size = 2 * VQ_MAX_SIZE;
	POP_FAILS(false, "queue size");
}
END_TEST

START_TEST(next_loop)
{
	desc(0, gpa(BUF), 4, F_NEXT, 1);
	desc(1, gpa(BUF), 4, F_NEXT, 2);
	desc(2, gpa(BUF), 4, F_NEXT, 0);
	avail_add(0);
	POP_FAILS(false, "descriptor loop");
	/* A descriptor pointing at itself, with zero length (no segment). */
	desc(5, gpa(BUF), 0, F_NEXT, 5);
	q.last_avail = 0;
	avail_idx = 0;
	avail_add(5);
	POP_FAILS(false, "descriptor loop");
	/* A loop inside an indirect table. */
	desc(6, gpa(ITABLE), 32, F_INDIRECT, 0);
	desc_at(ITABLE, 0, gpa(BUF), 4, F_NEXT, 1);
	desc_at(ITABLE, 1, gpa(BUF), 4, F_NEXT, 0);
	q.last_avail = 0;
	avail_idx = 0;
	avail_add(6);
	POP_FAILS(true, "loop in indirect");
}
END_TEST

START_TEST(full_length_chain)
{
	/* Every descriptor of the table in one chain: no loop. */
	for (unsigned i = 0; i < QSZ; i++)
		desc(i, gpa(BUF + i), 1, i + 1 < QSZ ? F_NEXT : 0,
		    (uint16_t)(i + 1));
	avail_add(0);
	ck_assert_int_eq(vq_pop(&gm, &q, false, &chain), 1);
	ck_assert_uint_eq(chain.nseg, QSZ);
}
END_TEST

START_TEST(chain_too_long)
{
	unsigned n = VQ_MAX_SEGS + 1;

	/* A queue large enough to hold a chain past VQ_MAX_SEGS. */
	q.size = 512;
	q.avail = gpa(0x20000);
	q.used = gpa(0x21000);
	for (unsigned i = 0; i < n; i++)
		desc(i, gpa(BUF + i), 1, i + 1 < n ? F_NEXT : 0,
		    (uint16_t)(i + 1));
	put16(0x20000 + 4, 0);
	put16(0x20000 + 2, 1);
	POP_FAILS(false, "VQ_MAX_SEGS");
	/* VQ_MAX_SEGS exactly is accepted. */
	desc(n - 2, gpa(BUF), 1, 0, 0);
	ck_assert_int_eq(vq_pop(&gm, &q, false, &chain), 1);
	ck_assert_uint_eq(chain.nseg, VQ_MAX_SEGS);
	/* An indirect table longer than VQ_MAX_SEGS entries. */
	desc(1, gpa(ITABLE), 16 * n, F_INDIRECT, 0);
	put16(0x20000 + 6, 1);
	put16(0x20000 + 2, 2);
	POP_FAILS(true, "indirect table too long");
}
END_TEST

START_TEST(zero_length)
{
	desc(0, gpa(BUF), 16, F_NEXT, 1);
	desc(1, gpa(BUF + 0x100), 0, F_NEXT, 2);
	desc(2, gpa(BUF + 0x200), 8, F_WRITE, 0);
	avail_add(0);
	ck_assert_int_eq(vq_pop(&gm, &q, false, &chain), 1);
	ck_assert_uint_eq(chain.nseg, 2);
	ck_assert_uint_eq(chain.out_len, 16);
	ck_assert_uint_eq(chain.in_len, 8);
	/* Skipped means not looked at: its address may be anything. */
	desc(1, UINT64_MAX, 0, F_NEXT, 2);
	avail_add(0);
	ck_assert_int_eq(vq_pop(&gm, &q, false, &chain), 1);
	ck_assert_uint_eq(chain.nseg, 2);
}
END_TEST

START_TEST(readable_after_writable)
{
	desc(0, gpa(BUF), 16, F_WRITE | F_NEXT, 1);
	desc(1, gpa(BUF + 0x100), 16, 0, 0);
	avail_add(0);
	POP_FAILS(false, "readable after");
}
END_TEST

START_TEST(nested_indirect)
{
	desc(0, gpa(ITABLE), 16, F_INDIRECT, 0);
	desc_at(ITABLE, 0, gpa(ITABLE + 0x100), 16, F_INDIRECT, 0);
	desc_at(ITABLE + 0x100, 0, gpa(BUF), 4, 0, 0);
	avail_add(0);
	POP_FAILS(true, "nested");
}
END_TEST

START_TEST(indirect_bad_length)
{
	desc_at(ITABLE, 0, gpa(BUF), 4, 0, 0);
	desc_at(ITABLE, 1, gpa(BUF), 4, 0, 0);
	desc(0, gpa(ITABLE), 24, F_INDIRECT, 0);	/* not 16 * n */
	avail_add(0);
	POP_FAILS(true, "multiple of 16");
	desc(0, gpa(ITABLE), 0, F_INDIRECT, 0);		/* empty table */
	POP_FAILS(true, "multiple of 16");
	desc(0, gpa(ITABLE), 16, F_INDIRECT | F_NEXT, 1); /* with NEXT */
	desc(1, gpa(BUF), 4, 0, 0);
	POP_FAILS(true, "with NEXT");
	desc(0, gpa(MEM_SIZE - 16), 32, F_INDIRECT, 0);	/* out of RAM */
	POP_FAILS(true, "indirect table outside");
	desc(0, gpa(ITABLE + 8), 32, F_INDIRECT, 0);	/* unaligned is ok */
	desc_at(ITABLE + 8, 0, gpa(BUF), 4, F_NEXT, 1);
	desc_at(ITABLE + 8, 1, gpa(BUF), 4, F_WRITE, 0);
	ck_assert_int_eq(vq_pop(&gm, &q, true, &chain), 1);
	ck_assert_uint_eq(chain.nseg, 2);
}
END_TEST

START_TEST(chain_over_4g)
{
	/*
	 * Lengths are checked, not touched: a PROT_NONE reservation makes a
	 * 3 GiB "guest RAM" that vq_pop() may point into but never reads.
	 */
	uint64_t big = 3ull << 30;
	void *res = mmap(NULL, big, PROT_NONE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	ck_assert_ptr_ne(res, MAP_FAILED);
	gm.r[1] = (struct gmem_region){ 1ull << 32, big, res };
	gm.n = 2;
	desc(0, 1ull << 32, 0xc0000000u, F_NEXT, 1);
	desc(1, 1ull << 32, 0xc0000000u, 0, 0);
	avail_add(0);
	POP_FAILS(false, "4 GiB");
	/* Just under 4 GiB in total is fine. */
	desc(0, 1ull << 32, 0x7fffffffu, F_NEXT, 1);
	desc(1, 1ull << 32, 0x80000000u, 0, 0);
	ck_assert_int_eq(vq_pop(&gm, &q, false, &chain), 1);
	ck_assert_uint_eq(chain.out_len, 0xffffffffu);
	munmap(res, big);
}
END_TEST

/* ---- returning chains ------------------------------------------------- */

START_TEST(push_used_ring)
{
	ck_assert_int_eq(vq_push(&gm, &q, 5, 100), 0);
	ck_assert_uint_eq(get16(USED + 2), 1);
	ck_assert_uint_eq(get32(USED + 4), 5);
	ck_assert_uint_eq(get32(USED + 8), 100);
	ck_assert_int_eq(vq_push(&gm, &q, 7, 0xdeadbeef), 0);
	ck_assert_uint_eq(get16(USED + 2), 2);
	ck_assert_uint_eq(get32(USED + 12), 7);
	ck_assert_uint_eq(get32(USED + 16), 0xdeadbeef);
	ck_assert_uint_eq(q.used_idx, 2);
	/* used->flags is the driver's to read, never written by us. */
	ck_assert_uint_eq(get16(USED), 0);
	ck_assert_int_eq(vq_push(&gm, &q, QSZ, 0), -EPROTO);
	ck_assert_uint_eq(get16(USED + 2), 2);
}
END_TEST

START_TEST(no_interrupt_flag)
{
	ck_assert(vq_want_interrupt(&gm, &q, false));
	put16(AVAIL, 1);	/* VIRTQ_AVAIL_F_NO_INTERRUPT */
	ck_assert(!vq_want_interrupt(&gm, &q, false));
	put16(AVAIL, 0);
	ck_assert(vq_want_interrupt(&gm, &q, false));
}
END_TEST

/* ---- EVENT_IDX -------------------------------------------------------- */

/*
 * The trailing event fields, from the spec's layout: used_event after
 * avail->ring[size], avail_event after used->ring[size].
 */
#define USED_EVENT	(AVAIL + 4 + 2 * QSZ)
#define AVAIL_EVENT	(USED + 4 + 8 * QSZ)

START_TEST(need_event_arith)
{
	static const uint16_t olds[] = { 0, 1, 7, 32767, 32768, 65530, 65535 };
	static const uint32_t moved[] = { 0, 1, 2, 8, 1000, 32768, 65535 };

	/* Hand-picked: event before, at the start of, inside, at the end. */
	ck_assert(vq_need_event(0, 1, 0));	/* entry 0 published */
	ck_assert(!vq_need_event(0, 0, 0));	/* nothing moved */
	ck_assert(!vq_need_event(4, 10, 5));	/* before old: told already */
	ck_assert(vq_need_event(5, 10, 5));	/* at old */
	ck_assert(vq_need_event(9, 10, 5));	/* the last one published */
	ck_assert(!vq_need_event(10, 10, 5));	/* not published yet */
	ck_assert(!vq_need_event(11, 10, 5));
	/* Across 65535 -> 0. */
	ck_assert(vq_need_event(65535, 2, 65534));
	ck_assert(vq_need_event(0, 2, 65534));
	ck_assert(vq_need_event(1, 2, 65534));
	ck_assert(!vq_need_event(2, 2, 65534));
	ck_assert(!vq_need_event(65533, 2, 65534));
	ck_assert(vq_need_event(65534, 0, 65534));
	ck_assert(!vq_need_event(0, 0, 65534));
	/*
	 * Every event against counting: true iff event is one of the
	 * moved entries old, old + 1, ..., new - 1.
	 */
	for (unsigned i = 0; i < sizeof(olds) / sizeof(olds[0]); i++)
		for (unsigned j = 0; j < sizeof(moved) / sizeof(moved[0]);
		    j++) {
			uint16_t old = olds[i];
			uint16_t new = (uint16_t)(old + moved[j]);
			static uint8_t hit[65536];
			unsigned bad = 0, first = 0;

			memset(hit, 0, sizeof(hit));
			for (uint32_t k = 0; k < moved[j]; k++)
				hit[(uint16_t)(old + k)] = 1;
			for (uint32_t e = 0; e < 65536; e++)
				if (vq_need_event((uint16_t)e, new, old) !=
				    hit[e] && bad++ == 0)
					first = e;
			ck_assert_msg(bad == 0, "%u wrong, first event %u "
			    "(new %u old %u)", bad, first, new, old);
		}
}
END_TEST

/* Pushes n chains (head 0) without deciding about an interrupt. */
static void
push_n(unsigned n)
{
	unsigned bad = 0;

	/* One assertion: check records every passing one, slowly. */
	for (unsigned i = 0; i < n; i++)
		bad += vq_push(&gm, &q, 0, 0) != 0;
	ck_assert_uint_eq(bad, 0);
}

START_TEST(event_idx_interrupt)
{
	/* Never decided: interrupt whatever used_event says. */
	put16(USED_EVENT, 100);
	push_n(1);
	ck_assert(vq_want_interrupt(&gm, &q, true));
	ck_assert_uint_eq(q.signalled_used, 1);
	ck_assert(q.flags & VQ_SIGNALLED);
	/* "Tell me when entry 2 is published" (used->idx passes 2). */
	put16(USED_EVENT, 2);
	push_n(1);					/* entry 1 */
	ck_assert(!vq_want_interrupt(&gm, &q, true));
	ck_assert_uint_eq(q.signalled_used, 2);	/* a "no" is recorded */
	push_n(1);					/* entry 2 */
	ck_assert(vq_want_interrupt(&gm, &q, true));
	ck_assert_uint_eq(q.signalled_used, 3);
	/* Nothing pushed since: no second interrupt for it. */
	ck_assert(!vq_want_interrupt(&gm, &q, true));
	/* Event inside a batch of three (entries 3, 4, 5). */
	put16(USED_EVENT, 4);
	push_n(3);
	ck_assert(vq_want_interrupt(&gm, &q, true));
	/* Event at the first entry of the batch. */
	put16(USED_EVENT, 6);
	push_n(2);
	ck_assert(vq_want_interrupt(&gm, &q, true));
	/* Event behind (already told) and ahead: no. */
	put16(USED_EVENT, 5);
	push_n(2);
	ck_assert(!vq_want_interrupt(&gm, &q, true));
	put16(USED_EVENT, 11);
	push_n(1);					/* entry 10 */
	ck_assert(!vq_want_interrupt(&gm, &q, true));
	ck_assert_uint_eq(q.used_idx, 11);
	/* avail->flags is ignored with EVENT_IDX ... */
	put16(AVAIL, 1);				/* NO_INTERRUPT */
	push_n(1);					/* entry 11 */
	ck_assert(vq_want_interrupt(&gm, &q, true));
	/* ... and used_event without it, which records nothing. */
	push_n(1);
	ck_assert(!vq_want_interrupt(&gm, &q, false));
	put16(AVAIL, 0);
	ck_assert(vq_want_interrupt(&gm, &q, false));
	ck_assert_uint_eq(q.signalled_used, 12);
	ck_assert_uint_eq(q.used_idx, 13);
}
END_TEST

START_TEST(event_idx_wrap)
{
	q.used_idx = 65534;
	q.signalled_used = 65534;
	q.flags = VQ_SIGNALLED;
	put16(USED_EVENT, 65535);
	push_n(1);					/* entry 65534 */
	ck_assert(!vq_want_interrupt(&gm, &q, true));
	push_n(1);					/* entry 65535 */
	ck_assert(vq_want_interrupt(&gm, &q, true));
	ck_assert_uint_eq(q.signalled_used, 0);
	ck_assert_uint_eq(get16(USED + 2), 0);
	/* A batch across the wrap: entries 0..3, event 1, then 5. */
	put16(USED_EVENT, 1);
	push_n(4);
	ck_assert(vq_want_interrupt(&gm, &q, true));
	put16(USED_EVENT, 5);
	push_n(1);					/* entry 4 */
	ck_assert(!vq_want_interrupt(&gm, &q, true));
	/* Old just before the wrap, event just after it. */
	q.used_idx = 65533;
	q.signalled_used = 65533;
	put16(USED_EVENT, 1);
	push_n(4);					/* 65533 .. 0 */
	ck_assert(!vq_want_interrupt(&gm, &q, true));
	push_n(2);					/* 1, 2 */
	ck_assert(vq_want_interrupt(&gm, &q, true));
}
END_TEST

START_TEST(event_idx_unsure)
{
	/* What a reset or takeover leaves: no valid decision. */
	q.used_idx = 40;
	q.signalled_used = 40;
	q.flags = 0;
	put16(USED_EVENT, 1000);
	push_n(1);
	ck_assert(vq_want_interrupt(&gm, &q, true));
	/*
	 * 65536 pushes without a decision bring used_idx back to
	 * signalled_used: the range would look empty, so interrupt.
	 */
	put16(USED_EVENT, 20);
	push_n(65536);
	ck_assert_uint_eq(q.used_idx, q.signalled_used);
	ck_assert(!(q.flags & VQ_SIGNALLED));
	ck_assert(vq_want_interrupt(&gm, &q, true));
	/* One fewer and the decision still counts. */
	push_n(65535);
	ck_assert(q.flags & VQ_SIGNALLED);
	/* Every entry but the next one was published: ask for that one. */
	put16(USED_EVENT, q.used_idx);
	ck_assert(!vq_want_interrupt(&gm, &q, true));
	/* A ring we cannot read: interrupt, and forget the decision. */
	q.avail = gpa(MEM_SIZE - 4);
	push_n(1);
	ck_assert(vq_want_interrupt(&gm, &q, true));
	ck_assert(!(q.flags & VQ_SIGNALLED));
	/* Without EVENT_IDX: true too, and q left as it is. */
	q.flags = VQ_SIGNALLED;
	ck_assert(vq_want_interrupt(&gm, &q, false));
	ck_assert_uint_eq(q.flags, VQ_SIGNALLED);
}
END_TEST

START_TEST(event_idx_rings_outside)
{
	/* Only used_event (the last two bytes) outside guest memory. */
	q.avail = gpa(MEM_SIZE - (4 + 2 * QSZ));
	desc(0, gpa(BUF), 4, 0, 0);
	POP_FAILS(false, "ring outside");
	ck_assert(vq_want_interrupt(&gm, &q, true));
	ck_assert_int_eq(vq_arm(&gm, &q, true), -EPROTO);
	ck_assert_int_eq(vq_arm(&gm, &q, false), -EPROTO);
	/* Two bytes lower, it all fits. */
	q.avail = gpa(MEM_SIZE - (6 + 2 * QSZ));
	ck_assert_int_eq(vq_arm(&gm, &q, true), 0);
	ck_assert_int_eq(vq_pop(&gm, &q, false, &chain), 0);
	/* Only avail_event outside: no push, no arm. */
	q.used = gpa(MEM_SIZE - (4 + 8 * QSZ));
	ck_assert_int_eq(vq_push(&gm, &q, 0, 0), -EPROTO);
	ck_assert_int_eq(vq_arm(&gm, &q, true), -EPROTO);
	/* Without EVENT_IDX arming does not touch the used ring. */
	ck_assert_int_eq(vq_arm(&gm, &q, false), 0);
	q.used = gpa(MEM_SIZE - (8 + 8 * QSZ));
	ck_assert_int_eq(vq_push(&gm, &q, 0, 0), 0);
	put16(MEM_SIZE - 4, 0xbeef);			/* avail_event */
	ck_assert_int_eq(vq_arm(&gm, &q, true), 0);
	ck_assert_uint_eq(get16(MEM_SIZE - 4), 0);
	ck_assert_uint_eq(get16(MEM_SIZE - 2), 0);
	/* Misaligned rings are refused as in vq_pop/vq_push. */
	q.used = gpa(USED + 2);
	ck_assert_int_eq(vq_arm(&gm, &q, true), -EPROTO);
	q.used = gpa(USED);
	q.avail = gpa(AVAIL + 1);
	ck_assert_int_eq(vq_arm(&gm, &q, true), -EPROTO);
}
END_TEST

START_TEST(arm_avail_event)
{
	for (uint16_t i = 0; i < QSZ; i++)
		desc(i, gpa(BUF + 16 * i), 4, 0, 0);
	/* Marks on both sides of avail_event: only it may change. */
	put16(AVAIL_EVENT - 2, 0xaaaa);
	put16(AVAIL_EVENT, 0xbeef);
	put16(AVAIL_EVENT + 2, 0x5555);
	/* Without EVENT_IDX: nothing written, just "is there more". */
	ck_assert_int_eq(vq_arm(&gm, &q, false), 0);
	ck_assert_uint_eq(get16(AVAIL_EVENT), 0xbeef);
	avail_add(0);
	ck_assert_int_eq(vq_arm(&gm, &q, false), 1);
	ck_assert_uint_eq(get16(AVAIL_EVENT), 0xbeef);
	/* With it: avail_event = last_avail, and the entry is reported. */
	ck_assert_int_eq(vq_arm(&gm, &q, true), 1);
	ck_assert_uint_eq(get16(AVAIL_EVENT), 0);
	for (uint16_t i = 1; i < 3; i++)
		avail_add(i);
	for (uint16_t i = 0; i < 3; i++)
		ck_assert_int_eq(vq_pop(&gm, &q, false, &chain), 1);
	ck_assert_int_eq(vq_arm(&gm, &q, true), 0);
	ck_assert_uint_eq(get16(AVAIL_EVENT), 3);
	ck_assert_uint_eq(get16(AVAIL_EVENT - 2), 0xaaaa);
	ck_assert_uint_eq(get16(AVAIL_EVENT + 2), 0x5555);
	/* The used ring's own fields are not touched. */
	ck_assert_uint_eq(get16(USED), 0);
	ck_assert_uint_eq(get16(USED + 2), 0);
	/* A chain published after the drain (the race): reported. */
	avail_add(3);
	ck_assert_int_eq(vq_arm(&gm, &q, true), 1);
	ck_assert_int_eq(vq_pop(&gm, &q, false, &chain), 1);
	ck_assert_uint_eq(chain.head, 3);
	ck_assert_int_eq(vq_arm(&gm, &q, true), 0);
	ck_assert_uint_eq(get16(AVAIL_EVENT), 4);
	/* Wrap-around of last_avail, and a queue that is not ready. */
	q.last_avail = 65535;
	avail_idx = 65535;
	put16(AVAIL + 2, 65535);
	ck_assert_int_eq(vq_arm(&gm, &q, true), 0);
	ck_assert_uint_eq(get16(AVAIL_EVENT), 65535);
	avail_add(1);
	ck_assert_int_eq(vq_arm(&gm, &q, true), 1);
	q.ready = 0;
	put16(AVAIL_EVENT, 0xbeef);
	ck_assert_int_eq(vq_arm(&gm, &q, true), 0);
	ck_assert_uint_eq(get16(AVAIL_EVENT), 0xbeef);
}
END_TEST

/* ---- both suppressions against a driver thread ------------------------ */

/*
 * A driver in a second thread, written from the spec (2.7.7.2, 2.7.10):
 * it publishes chains in batches of 1 to 3 and notifies only when
 * vq_need_event(avail_event, new, old) says so; after some batches it
 * waits for all to be used before adding more (so that a lone chain
 * must be noticed).  When it has nothing to do it writes used_event =
 * the used index it has seen,
 * fences, looks at used->idx again and only then sleeps until an
 * interrupt.  The device (the test's thread) waits for a notification,
 * pops and pushes until the ring is empty, decides on an interrupt and
 * arms, looping while vq_arm() finds more.  A notification or an
 * interrupt lost leaves one side asleep for good: each sleep lasts at
 * most RACE_WAIT_S, and a timeout fails the test.
 */
#define RACE_CHAINS	100000u
#define RACE_WAIT_S	5

static sem_t kick_sem, irq_sem;
static unsigned race_kicks, race_irqs;
static int race_stop;

/* Waits for s at most RACE_WAIT_S (or until told to stop). */
static bool
race_wait(sem_t *s)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += RACE_WAIT_S;
	while (sem_timedwait(s, &ts) < 0)
		if (errno != EINTR)
			return false;
	return !__atomic_load_n(&race_stop, __ATOMIC_SEQ_CST);
}

static void *
race_driver(void *arg)
{
	uint16_t *avail = (uint16_t *)(void *)(mem + AVAIL);
	uint16_t *used = (uint16_t *)(void *)(mem + USED);
	uint16_t added = 0, seen = 0;
	unsigned nadded = 0, nseen = 0;
	bool *ok = arg, drain = false;

	while (nseen < RACE_CHAINS) {
		uint16_t old = added, u, ev;
		unsigned n = 0;

		if (drain && seen == added)
			drain = false;
		while (!drain && nadded < RACE_CHAINS &&
		    (uint16_t)(added - seen) < QSZ && n < 1 + nadded % 3) {
			__atomic_store_n(&avail[2 + added % QSZ],
			    (uint16_t)(added % QSZ), __ATOMIC_RELAXED);
			added++;
			nadded++;
			n++;
		}
		if (n > 0) {
			drain = nadded % 5 < 2;
			__atomic_store_n(&avail[1], added, __ATOMIC_RELEASE);
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			ev = __atomic_load_n(&used[2 + 4 * QSZ],
			    __ATOMIC_RELAXED);
			if (vq_need_event(ev, added, old)) {
				race_kicks++;
				sem_post(&kick_sem);
			}
		}
		u = __atomic_load_n(&used[1], __ATOMIC_ACQUIRE);
		if (u != seen) {
			nseen += (uint16_t)(u - seen);
			seen = u;
			continue;
		}
		if (n > 0)
			continue;
		/* No room or nothing left to add, nothing new used. */
		__atomic_store_n(&avail[2 + QSZ], seen, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (__atomic_load_n(&used[1], __ATOMIC_ACQUIRE) != seen)
			continue;
		if (!race_wait(&irq_sem)) {
			__atomic_store_n(&race_stop, 1, __ATOMIC_SEQ_CST);
			sem_post(&kick_sem);
			*ok = false;
			return NULL;
		}
	}
	*ok = true;
	return NULL;
}

START_TEST(event_idx_no_lost_wakeup)
{
	unsigned consumed = 0, bad = 0;
	bool driver_ok = false, device_ok = true;
	pthread_t t;
	int r;

	for (uint16_t i = 0; i < QSZ; i++)
		desc(i, gpa(BUF + 16 * i), 4, 0, 0);
	race_kicks = race_irqs = 0;
	race_stop = 0;
	ck_assert_int_eq(sem_init(&kick_sem, 0, 0), 0);
	ck_assert_int_eq(sem_init(&irq_sem, 0, 0), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, race_driver, &driver_ok), 0);
	while (consumed < RACE_CHAINS) {
		if (!race_wait(&kick_sem)) {
			device_ok = false;
			__atomic_store_n(&race_stop, 1, __ATOMIC_SEQ_CST);
			sem_post(&irq_sem);
			break;
		}
		do {
			while ((r = vq_pop(&gm, &q, false, &chain)) == 1) {
				bad += vq_push(&gm, &q, chain.head, 4) != 0;
				consumed++;
			}
			bad += r != 0;
			if (vq_want_interrupt(&gm, &q, true)) {
				race_irqs++;
				sem_post(&irq_sem);
			}
		} while ((r = vq_arm(&gm, &q, true)) == 1);
		bad += r != 0;
	}
	pthread_join(t, NULL);
	sem_destroy(&kick_sem);
	sem_destroy(&irq_sem);
	ck_assert_uint_eq(bad, 0);
	ck_assert_msg(device_ok, "device waited %d s for a notification "
	    "with %u of %u chains taken", RACE_WAIT_S, consumed, RACE_CHAINS);
	ck_assert_msg(driver_ok, "driver waited %d s for an interrupt",
	    RACE_WAIT_S);
	ck_assert_uint_eq(consumed, RACE_CHAINS);
	/* Both sides did suppress something. */
	ck_assert_uint_lt(race_kicks, RACE_CHAINS);
	ck_assert_uint_lt(race_irqs, RACE_CHAINS);
	printf("event_idx race: %u chains, %u notifications, %u interrupts\n",
	    RACE_CHAINS, race_kicks, race_irqs);
}
END_TEST

START_TEST(chain_copy)
{
	uint8_t buf[32], want[32];

	for (unsigned i = 0; i < 15; i++)
		mem[BUF + i] = (uint8_t)(0x10 + i);
	/* Readable 3 + 5 + 7 bytes, then writable 4 + 4. */
	desc(0, gpa(BUF), 3, F_NEXT, 1);
	desc(1, gpa(BUF + 3), 5, F_NEXT, 2);
	desc(2, gpa(BUF + 8), 7, F_NEXT, 3);
	desc(3, gpa(BUF + 0x100), 4, F_WRITE | F_NEXT, 4);
	desc(4, gpa(BUF + 0x200), 4, F_WRITE, 0);
	avail_add(0);
	ck_assert_int_eq(vq_pop(&gm, &q, false, &chain), 1);

	ck_assert_uint_eq(vq_chain_read(&chain, 2, buf, 10), 10);
	ck_assert_mem_eq(buf, mem + BUF + 2, 10);
	ck_assert_uint_eq(vq_chain_read(&chain, 0, buf, sizeof(buf)), 15);
	ck_assert_uint_eq(vq_chain_read(&chain, 15, buf, 4), 0);
	ck_assert_uint_eq(vq_chain_read(&chain, 14, buf, 4), 1);
	ck_assert_uint_eq(buf[0], 0x10 + 14);

	for (unsigned i = 0; i < sizeof(want); i++)
		want[i] = (uint8_t)(0xa0 + i);
	ck_assert_uint_eq(vq_chain_write(&chain, 1, want, 6), 6);
	ck_assert_mem_eq(mem + BUF + 0x101, want, 3);
	ck_assert_mem_eq(mem + BUF + 0x200, want + 3, 3);
	ck_assert_uint_eq(mem[BUF + 0x100], 0);
	ck_assert_uint_eq(mem[BUF + 0x203], 0);
	/* Past the writable part: short count, nothing beyond touched. */
	ck_assert_uint_eq(vq_chain_write(&chain, 5, want, 10), 3);
	ck_assert_uint_eq(mem[BUF + 0x204], 0);
	ck_assert_uint_eq(vq_chain_write(&chain, 8, want, 1), 0);
}
END_TEST

static Suite *
virtqueue_suite(void)
{
	Suite *s = suite_create("virtqueue");
	TCase *tc = tcase_create("core"), *race_tc;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, gmem_bounds);
	tcase_add_test(tc, normal_chain);
	tcase_add_test(tc, indirect_chain);
	tcase_add_test(tc, indirect_not_negotiated);
	tcase_add_test(tc, empty_ring);
	tcase_add_test(tc, index_wraparound);
	tcase_add_test(tc, avail_idx_too_far);
	tcase_add_test(tc, head_out_of_range);
	tcase_add_test(tc, next_out_of_range);
	tcase_add_test(tc, desc_outside_memory);
	tcase_add_test(tc, desc_straddles_end);
	tcase_add_test(tc, rings_outside_memory);
	tcase_add_test(tc, next_loop);
	tcase_add_test(tc, full_length_chain);
	tcase_add_test(tc, chain_too_long);
	tcase_add_test(tc, zero_length);
	tcase_add_test(tc, readable_after_writable);
	tcase_add_test(tc, nested_indirect);
	tcase_add_test(tc, indirect_bad_length);
	tcase_add_test(tc, chain_over_4g);
	tcase_add_test(tc, push_used_ring);
	tcase_add_test(tc, no_interrupt_flag);
	tcase_add_test(tc, need_event_arith);
	tcase_add_test(tc, event_idx_interrupt);
	tcase_add_test(tc, event_idx_wrap);
	tcase_add_test(tc, event_idx_unsure);
	tcase_add_test(tc, event_idx_rings_outside);
	tcase_add_test(tc, arm_avail_event);
	tcase_add_test(tc, chain_copy);
	suite_add_tcase(s, tc);

	race_tc = tcase_create("race");
	tcase_add_checked_fixture(race_tc, setup, teardown);
	tcase_set_timeout(race_tc, 120);
	tcase_add_test(race_tc, event_idx_no_lost_wakeup);
	suite_add_tcase(s, race_tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(virtqueue_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
