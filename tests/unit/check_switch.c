/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for cupule-switch.  First the logic of mediators/net/switch.c
 * on plain memory: the MAC table (learning, lookup, aging with a clock
 * the test moves, eviction when the table or a port's share is full, a
 * MAC moving, a port forgotten), checked also against a naive model on
 * random operations; frame validation; and the forwarding decision
 * (flooding, unicast, never back to the ingress port, drops counted).
 *
 * Then the real program, build/bin/cupule-switch next to this test's
 * folder, forked on socketpairs as the supervisor would start it: frames
 * go where they should, byte for byte; a port that never reads loses
 * frames, counted, while another port gets every one (the switch never
 * waits on a port); ports going away; SIGUSR2, SIGTERM; bad arguments.
 * Its counters are read from what it prints on stderr.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "switch.h"

#define AGE	1000	/* ms, the table's max_age in most tests */

static const uint8_t bcast[SW_ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff };
static const uint8_t mcast[SW_ETH_ALEN] = { 0x01, 0x00, 0x5e, 0x00, 0x00,
    0x01 };

/*
 * A locally administered unicast MAC, 02:00:00:00:hi:lo, in one of 16
 * buffers used in turn: a test holds at most a few at once.
 */
static const uint8_t *
mac(unsigned hi, unsigned lo)
{
	static uint8_t m[16][SW_ETH_ALEN];
	static unsigned next;
	uint8_t *p = m[next++ % 16];

	p[0] = 0x02;
	p[1] = p[2] = p[3] = 0;
	p[4] = (uint8_t)hi;
	p[5] = (uint8_t)lo;
	return p;
}

/*
 * Builds one message: a virtio header with a pattern the switch must
 * leave alone, the Ethernet header, the sequence number and filler.
 * eth_len >= 18.  Returns the message's length.
 */
static size_t
mkmsg(uint8_t *buf, const uint8_t *dst, const uint8_t *src, size_t eth_len,
    uint32_t seq)
{
	static const uint8_t hdr[SW_VNET_HDR_LEN] = { 0x01, 0x00, 0x2a, 0x00,
	    0x00, 0x00, 0x22, 0x00, 0x10, 0x00, 0x00, 0x00 };
	uint8_t *eth = buf + SW_VNET_HDR_LEN;

	memcpy(buf, hdr, sizeof(hdr));
	buf[10] = (uint8_t)seq;		/* num_buffers: anything goes */
	memcpy(eth, dst, SW_ETH_ALEN);
	memcpy(eth + 6, src, SW_ETH_ALEN);
	eth[12] = 0x88;			/* local experimental ethertype */
	eth[13] = 0xb5;
	memcpy(eth + 14, &seq, sizeof(seq));
	for (size_t i = 18; i < eth_len; i++)
		eth[i] = (uint8_t)(seq + i);
	return SW_VNET_HDR_LEN + eth_len;
}

static uint32_t
msg_seq(const uint8_t *buf)
{
	uint32_t seq;

	memcpy(&seq, buf + SW_VNET_HDR_LEN + 14, sizeof(seq));
	return seq;
}

/* ---- the MAC table ------------------------------------------------------ */

static struct sw_table t;

static void
table_teardown(void)
{
	sw_table_fini(&t);
}

START_TEST(test_table_init)
{
	ck_assert_int_eq(sw_table_init(&t, 0, 0, AGE, 1), -EINVAL);
	ck_assert_int_eq(sw_table_init(&t, SW_MAC_ENTRIES_MAX + 1, 0, AGE, 1),
	    -EINVAL);
	ck_assert_int_eq(sw_table_init(&t, 16, 0, 0, 1), -EINVAL);
	ck_assert_int_eq(sw_table_init(&t, 16, 0, AGE, 1), 0);
	ck_assert_uint_eq(t.port_cap, 16);	/* 0: no share of its own */
	sw_table_fini(&t);
	ck_assert_int_eq(sw_table_init(&t, 16, 100, AGE, 1), 0);
	ck_assert_uint_eq(t.port_cap, 16);	/* never more than the table */
	sw_table_fini(&t);
	ck_assert_int_eq(sw_table_init(&t, 16, 4, AGE, 1), 0);
	ck_assert_uint_eq(t.port_cap, 4);
	ck_assert_uint_eq(sw_table_count(&t), 0);
}
END_TEST

START_TEST(test_learn_lookup)
{
	const uint8_t *a = mac(0, 1), *b = mac(0, 2), *c = mac(0, 3);

	ck_assert_int_eq(sw_table_init(&t, 16, 0, AGE, 7), 0);
	ck_assert_int_eq(sw_table_lookup(&t, a, 0), -ENOENT);
	ck_assert_int_eq(sw_table_learn(&t, a, 1, 0), SW_LEARN_NEW);
	ck_assert_int_eq(sw_table_learn(&t, b, 63, 0), SW_LEARN_NEW);
	ck_assert_int_eq(sw_table_lookup(&t, a, 10), 1);
	ck_assert_int_eq(sw_table_lookup(&t, b, 10), 63);
	ck_assert_int_eq(sw_table_lookup(&t, c, 10), -ENOENT);
	ck_assert_int_eq(sw_table_learn(&t, a, 1, 20), SW_LEARN_REFRESH);
	ck_assert_uint_eq(sw_table_count(&t), 2);
	ck_assert_uint_eq(sw_table_port_count(&t, 1), 1);
	ck_assert_uint_eq(sw_table_port_count(&t, 63), 1);
	ck_assert_uint_eq(t.st.learned, 2);
	/* Never a group address, never a port we cannot have. */
	ck_assert_int_eq(sw_table_learn(&t, bcast, 1, 30), -EINVAL);
	ck_assert_int_eq(sw_table_learn(&t, mcast, 1, 30), -EINVAL);
	ck_assert_int_eq(sw_table_learn(&t, c, SW_MAX_PORTS, 30), -EINVAL);
	ck_assert_int_eq(sw_table_lookup(&t, bcast, 30), -ENOENT);
	ck_assert_uint_eq(sw_table_count(&t), 2);
}
END_TEST

START_TEST(test_aging)
{
	const uint8_t *a = mac(0, 1), *b = mac(0, 2), *c = mac(0, 3);

	ck_assert_int_eq(sw_table_init(&t, 16, 0, AGE, 7), 0);
	sw_table_learn(&t, a, 1, 0);
	sw_table_learn(&t, b, 2, 500);
	sw_table_learn(&t, c, 3, 0);
	sw_table_learn(&t, c, 3, 800);		/* a refresh keeps it */
	ck_assert_int_eq(sw_table_lookup(&t, a, AGE - 1), 1);
	ck_assert_int_eq(sw_table_lookup(&t, a, AGE), -ENOENT);
	ck_assert_uint_eq(t.st.aged, 1);
	ck_assert_uint_eq(sw_table_count(&t), 2);
	ck_assert_int_eq(sw_table_lookup(&t, b, 500 + AGE - 1), 2);
	ck_assert_int_eq(sw_table_lookup(&t, c, 800 + AGE - 1), 3);
	/* A sweep takes what has aged and nothing else. */
	ck_assert_uint_eq(sw_table_age(&t, 500 + AGE), 1);
	ck_assert_int_eq(sw_table_lookup(&t, c, 500 + AGE), 3);
	ck_assert_uint_eq(sw_table_age(&t, 800 + AGE), 1);
	ck_assert_uint_eq(sw_table_count(&t), 0);
	ck_assert_uint_eq(t.st.aged, 3);

	/* An aged MAC seen again is new, not a refresh of the old entry. */
	ck_assert_int_eq(sw_table_learn(&t, a, 1, 5000), SW_LEARN_NEW);
	ck_assert_int_eq(sw_table_learn(&t, a, 2, 5000 + AGE), SW_LEARN_NEW);
	ck_assert_int_eq(sw_table_lookup(&t, a, 5000 + AGE), 2);

	/* Time never runs backwards for the table. */
	ck_assert_int_eq(sw_table_lookup(&t, a, 0), 2);
	ck_assert_int_eq(sw_table_learn(&t, b, 4, 0), SW_LEARN_NEW);
	ck_assert_int_eq(sw_table_lookup(&t, b, 5000 + 2 * AGE - 1), 4);
	ck_assert_int_eq(sw_table_lookup(&t, b, 5000 + 2 * AGE), -ENOENT);
}
END_TEST

START_TEST(test_evict_full)
{
	ck_assert_int_eq(sw_table_init(&t, 4, 0, AGE, 7), 0);
	for (unsigned i = 0; i < 4; i++)
		ck_assert_int_eq(sw_table_learn(&t, mac(1, i), i, i),
		    SW_LEARN_NEW);
	/* mac 1:0 is refreshed: 1:1 is now the oldest. */
	ck_assert_int_eq(sw_table_learn(&t, mac(1, 0), 0, 10),
	    SW_LEARN_REFRESH);
	ck_assert_int_eq(sw_table_learn(&t, mac(1, 4), 5, 11), SW_LEARN_NEW);
	ck_assert_uint_eq(sw_table_count(&t), 4);
	ck_assert_uint_eq(t.st.evicted, 1);
	ck_assert_int_eq(sw_table_lookup(&t, mac(1, 1), 12), -ENOENT);
	ck_assert_int_eq(sw_table_lookup(&t, mac(1, 0), 12), 0);
	ck_assert_int_eq(sw_table_lookup(&t, mac(1, 2), 12), 2);
	ck_assert_int_eq(sw_table_lookup(&t, mac(1, 3), 12), 3);
	ck_assert_int_eq(sw_table_lookup(&t, mac(1, 4), 12), 5);
	ck_assert_uint_eq(sw_table_port_count(&t, 1), 0);
	/* A lookup is not a refresh: 1:2 goes next. */
	ck_assert_int_eq(sw_table_learn(&t, mac(1, 5), 5, 13), SW_LEARN_NEW);
	ck_assert_int_eq(sw_table_lookup(&t, mac(1, 2), 14), -ENOENT);
	ck_assert_uint_eq(t.st.evicted, 2);
}
END_TEST

START_TEST(test_evict_large)
{
	unsigned n = SW_MAC_ENTRIES;

	ck_assert_int_eq(sw_table_init(&t, n, 0, AGE, 0x1234), 0);
	for (unsigned i = 0; i < n; i++)
		ck_assert_int_eq(sw_table_learn(&t, mac(i >> 8, i & 0xff),
		    i % SW_MAX_PORTS, 1), SW_LEARN_NEW);
	ck_assert_uint_eq(sw_table_count(&t), n);
	for (unsigned i = 0; i < n; i++)
		ck_assert_int_eq(sw_table_lookup(&t, mac(i >> 8, i & 0xff), 2),
		    (int)(i % SW_MAX_PORTS));
	/* The table is full: each new MAC pushes out the oldest one. */
	for (unsigned i = 0; i < 10; i++) {
		ck_assert_int_eq(sw_table_learn(&t, mac(0xf0, i), 0, 3),
		    SW_LEARN_NEW);
		ck_assert_int_eq(sw_table_lookup(&t, mac(0, i), 3), -ENOENT);
		ck_assert_int_eq(sw_table_lookup(&t, mac(0, i + 1), 3),
		    (int)((i + 1) % SW_MAX_PORTS));
	}
	ck_assert_uint_eq(sw_table_count(&t), n);
	ck_assert_uint_eq(t.st.evicted, 10);
}
END_TEST

START_TEST(test_port_share)
{
	uint8_t y[SW_ETH_ALEN];

	/* mac() reuses its buffers: keep y apart from the 200 below. */
	memcpy(y, mac(2, 0), sizeof(y));
	/* 8 entries, 3 per port: a port sending from ever new MACs. */
	ck_assert_int_eq(sw_table_init(&t, 8, 3, AGE, 7), 0);
	sw_table_learn(&t, y, 1, 0);
	for (unsigned i = 0; i < 200; i++) {
		ck_assert_int_eq(sw_table_learn(&t, mac(3, i), 0, i),
		    SW_LEARN_NEW);
		ck_assert_uint_le(sw_table_port_count(&t, 0), 3);
	}
	/* It only ever pushed out its own entries. */
	ck_assert_int_eq(sw_table_lookup(&t, y, 200), 1);
	ck_assert_int_eq(sw_table_lookup(&t, mac(3, 199), 200), 0);
	ck_assert_int_eq(sw_table_lookup(&t, mac(3, 197), 200), 0);
	ck_assert_int_eq(sw_table_lookup(&t, mac(3, 196), 200), -ENOENT);
	ck_assert_uint_eq(sw_table_count(&t), 4);
	ck_assert_uint_eq(t.st.evicted, 197);

	/* A MAC moving onto a port at its share pushes out its oldest. */
	ck_assert_int_eq(sw_table_learn(&t, y, 0, 201), SW_LEARN_MOVED);
	ck_assert_int_eq(sw_table_lookup(&t, mac(3, 197), 201), -ENOENT);
	ck_assert_uint_eq(sw_table_port_count(&t, 0), 3);
	ck_assert_uint_eq(sw_table_port_count(&t, 1), 0);
	ck_assert_uint_eq(sw_table_count(&t), 3);
}
END_TEST

START_TEST(test_move)
{
	const uint8_t *a = mac(4, 1), *b = mac(4, 2);

	ck_assert_int_eq(sw_table_init(&t, 16, 0, AGE, 7), 0);
	sw_table_learn(&t, a, 1, 0);
	sw_table_learn(&t, b, 1, 0);
	ck_assert_int_eq(sw_table_learn(&t, a, 2, 100), SW_LEARN_MOVED);
	ck_assert_int_eq(sw_table_lookup(&t, a, 100), 2);
	ck_assert_uint_eq(sw_table_port_count(&t, 1), 1);
	ck_assert_uint_eq(sw_table_port_count(&t, 2), 1);
	ck_assert_uint_eq(sw_table_count(&t), 2);
	ck_assert_uint_eq(t.st.moved, 1);
	/* A move refreshes: a outlives b. */
	ck_assert_int_eq(sw_table_lookup(&t, b, AGE), -ENOENT);
	ck_assert_int_eq(sw_table_lookup(&t, a, AGE), 2);
	/* And back. */
	ck_assert_int_eq(sw_table_learn(&t, a, 1, AGE + 1), SW_LEARN_MOVED);
	ck_assert_int_eq(sw_table_lookup(&t, a, AGE + 1), 1);
	ck_assert_uint_eq(sw_table_port_count(&t, 2), 0);
}
END_TEST

START_TEST(test_forget_port)
{
	ck_assert_int_eq(sw_table_init(&t, 16, 0, AGE, 7), 0);
	for (unsigned i = 0; i < 6; i++)
		sw_table_learn(&t, mac(5, i), i % 2, i);
	ck_assert_uint_eq(sw_table_forget_port(&t, 1), 3);
	ck_assert_uint_eq(sw_table_forget_port(&t, 1), 0);
	ck_assert_uint_eq(sw_table_forget_port(&t, SW_MAX_PORTS), 0);
	ck_assert_uint_eq(sw_table_count(&t), 3);
	ck_assert_uint_eq(t.st.forgotten, 3);
	for (unsigned i = 0; i < 6; i++)
		ck_assert_int_eq(sw_table_lookup(&t, mac(5, i), 10),
		    i % 2 ? -ENOENT : 0);
	/* The freed entries are used again. */
	for (unsigned i = 0; i < 13; i++)
		ck_assert_int_eq(sw_table_learn(&t, mac(6, i), 3, 10),
		    SW_LEARN_NEW);
	ck_assert_uint_eq(sw_table_count(&t), 16);
	ck_assert_uint_eq(t.st.evicted, 0);
}
END_TEST

/*
 * The model: the same policy written the obvious way (an array scanned
 * in full, entries ordered by a stamp taken on every learn), run beside
 * the table on random operations.
 */
#define M_CAP	8
#define M_PCAP	3
#define M_PORTS	4
#define M_MACS	14

struct model_ent {
	bool used;
	unsigned mac, port;
	uint64_t seen, stamp;
};

struct model {
	struct model_ent e[M_CAP];
	uint64_t last, stamp;
	struct sw_mac_stats st;
};

static int
model_find(struct model *m, unsigned k)
{
	for (int i = 0; i < M_CAP; i++)
		if (m->e[i].used && m->e[i].mac == k)
			return i;
	return -1;
}

/* The oldest entry of port p, or of all for p < 0. */
static int
model_oldest(struct model *m, int p)
{
	int best = -1;

	for (int i = 0; i < M_CAP; i++)
		if (m->e[i].used && (p < 0 || m->e[i].port == (unsigned)p) &&
		    (best < 0 || m->e[i].stamp < m->e[best].stamp))
			best = i;
	return best;
}

static unsigned
model_count(struct model *m, int p)
{
	unsigned n = 0;

	for (int i = 0; i < M_CAP; i++)
		n += m->e[i].used && (p < 0 || m->e[i].port == (unsigned)p);
	return n;
}

static uint64_t
model_clock(struct model *m, uint64_t now)
{
	if (now < m->last)
		return m->last;
	return m->last = now;
}

static int
model_lookup(struct model *m, unsigned k, uint64_t now)
{
	int i = model_find(m, k);

	now = model_clock(m, now);
	if (i < 0)
		return -ENOENT;
	if (now - m->e[i].seen >= AGE) {
		m->e[i].used = false;
		m->st.aged++;
		return -ENOENT;
	}
	return (int)m->e[i].port;
}

static void
model_age(struct model *m, uint64_t now)
{
	now = model_clock(m, now);
	for (int i = 0; i < M_CAP; i++)
		if (m->e[i].used && now - m->e[i].seen >= AGE) {
			m->e[i].used = false;
			m->st.aged++;
		}
}

static int
model_learn(struct model *m, unsigned k, unsigned port, uint64_t now)
{
	int i = model_find(m, k), v;

	now = model_clock(m, now);
	if (i >= 0 && now - m->e[i].seen < AGE) {
		if (m->e[i].port != port) {
			if (model_count(m, (int)port) >= M_PCAP) {
				m->e[model_oldest(m, (int)port)].used = false;
				m->st.evicted++;
			}
			m->e[i].port = port;
			m->st.moved++;
			v = SW_LEARN_MOVED;
		} else
			v = SW_LEARN_REFRESH;
		m->e[i].seen = now;
		m->e[i].stamp = ++m->stamp;
		return v;
	}
	model_age(m, now);
	if (model_count(m, (int)port) >= M_PCAP) {
		m->e[model_oldest(m, (int)port)].used = false;
		m->st.evicted++;
	} else if (model_count(m, -1) >= M_CAP) {
		m->e[model_oldest(m, -1)].used = false;
		m->st.evicted++;
	}
	for (i = 0; m->e[i].used; i++)
		;
	m->e[i] = (struct model_ent){ true, k, port, now, ++m->stamp };
	m->st.learned++;
	return SW_LEARN_NEW;
}

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static const uint64_t model_seeds[] = { 1, 0xdeadbeef, 0x0123456789abcdef };

START_TEST(test_model)
{
	uint64_t rng = 0x9e3779b97f4a7c15ull + (uint64_t)_i, now = 0;
	struct model m = { 0 };

	ck_assert_int_eq(sw_table_init(&t, M_CAP, M_PCAP, AGE,
	    model_seeds[_i]), 0);
	for (int op = 0; op < 20000; op++) {
		uint64_t r = xorshift(&rng);
		unsigned k = (unsigned)(r >> 8) % M_MACS;
		unsigned p = (unsigned)(r >> 16) % M_PORTS;

		/* Mostly small steps, now and then one back, or a long one. */
		switch ((r >> 24) % 16) {
		case 0:
			now = now > 50 ? now - 50 : 0;
			break;
		case 1:
			now += AGE;
			break;
		default:
			now += (r >> 32) % 120;
		}
		switch (r % 8) {
		case 0:
		case 1:
		case 2:
		case 3:
			ck_assert_int_eq(sw_table_learn(&t, mac(7, k), p, now),
			    model_learn(&m, k, p, now));
			break;
		case 4:
		case 5:
			ck_assert_int_eq(sw_table_lookup(&t, mac(7, k), now),
			    model_lookup(&m, k, now));
			break;
		case 6:
			model_age(&m, now);
			sw_table_age(&t, now);
			break;
		case 7:
			if ((r >> 40) % 8 == 0) {
				for (int i = 0; i < M_CAP; i++)
					if (m.e[i].port == p)
						m.e[i].used = false;
				sw_table_forget_port(&t, p);
			}
			break;
		}
		ck_assert_uint_eq(sw_table_count(&t), model_count(&m, -1));
		for (unsigned q = 0; q < M_PORTS; q++)
			ck_assert_uint_eq(sw_table_port_count(&t, q),
			    model_count(&m, (int)q));
	}
	for (unsigned k = 0; k < M_MACS; k++)
		ck_assert_int_eq(sw_table_lookup(&t, mac(7, k), now),
		    model_lookup(&m, k, now));
	ck_assert_uint_eq(t.st.learned, m.st.learned);
	ck_assert_uint_eq(t.st.moved, m.st.moved);
	ck_assert_uint_eq(t.st.evicted, m.st.evicted);
	/* Something of each happened, or the test proved little. */
	ck_assert_uint_gt(m.st.moved, 100);
	ck_assert_uint_gt(m.st.evicted, 100);
	ck_assert_uint_gt(m.st.aged, 100);
}
END_TEST

/* ---- frames and the forwarding decision -------------------------------- */

static uint8_t buf[SW_MAX_MSG + 64];
static uint8_t rbuf[SW_MAX_MSG + 64];

START_TEST(test_frame_check)
{
	const uint8_t *a = mac(8, 1);

	mkmsg(buf, bcast, a, SW_MAX_FRAME, 1);
	ck_assert_int_eq(sw_frame_check(buf, 0), SW_BAD_SHORT);
	ck_assert_int_eq(sw_frame_check(buf, SW_VNET_HDR_LEN), SW_BAD_SHORT);
	ck_assert_int_eq(sw_frame_check(buf, SW_MIN_MSG - 1), SW_BAD_SHORT);
	ck_assert_int_eq(sw_frame_check(buf, SW_MIN_MSG), 0);
	ck_assert_int_eq(sw_frame_check(buf, SW_MAX_MSG), 0);
	ck_assert_int_eq(sw_frame_check(buf, SW_MAX_MSG + 1), SW_BAD_LONG);
	ck_assert_int_eq(sw_frame_check(buf, SIZE_MAX), SW_BAD_LONG);
	mkmsg(buf, a, bcast, 60, 1);
	ck_assert_int_eq(sw_frame_check(buf, 72), SW_BAD_SOURCE);
	mkmsg(buf, a, mcast, 60, 1);
	ck_assert_int_eq(sw_frame_check(buf, 72), SW_BAD_SOURCE);
	mkmsg(buf, a, (const uint8_t[]){ 0x03, 0, 0, 0, 0, 1 }, 60, 1);
	ck_assert_int_eq(sw_frame_check(buf, 72), SW_BAD_SOURCE);
	/* Only the group bit counts: locally administered is fine. */
	mkmsg(buf, a, (const uint8_t[]){ 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff },
	    60, 1);
	ck_assert_int_eq(sw_frame_check(buf, 72), 0);
}
END_TEST

static struct sw s;

static void
sw_setup(void)
{
	ck_assert_int_eq(sw_init(&s, 64, 0, AGE, 3), 0);
	for (unsigned p = 0; p < 4; p++)
		ck_assert_int_eq(sw_port_add(&s, p), 0);
}

static void
sw_teardown(void)
{
	sw_fini(&s);
}

/* One frame in, its decision out. */
static enum sw_action
input(unsigned in, const uint8_t *dst, const uint8_t *src, uint64_t now,
    uint64_t *out)
{
	size_t len = mkmsg(buf, dst, src, 60, 0);

	return sw_input(&s, in, buf, len, now, out);
}

#define PORTS(...)	ports_mask((const unsigned[]){ __VA_ARGS__ }, \
	sizeof((const unsigned[]){ __VA_ARGS__ }) / sizeof(unsigned))

static uint64_t
ports_mask(const unsigned *p, size_t n)
{
	uint64_t m = 0;

	for (size_t i = 0; i < n; i++)
		m |= 1ull << p[i];
	return m;
}

START_TEST(test_flood)
{
	uint64_t out;

	/* Broadcast, multicast and unknown unicast: every other port. */
	for (unsigned in = 0; in < 4; in++) {
		const uint8_t *src = mac(9, in);
		uint64_t others = PORTS(0, 1, 2, 3) & ~(1ull << in);

		ck_assert_int_eq(input(in, bcast, src, 0, &out), SW_FLOOD);
		ck_assert_uint_eq(out, others);
		ck_assert_int_eq(input(in, mcast, src, 0, &out), SW_FLOOD);
		ck_assert_uint_eq(out, others);
		ck_assert_int_eq(input(in, mac(9, 0x99), src, 0, &out),
		    SW_FLOOD);
		ck_assert_uint_eq(out, others);
		ck_assert_uint_eq(s.stats[in].rx_frames, 3);
		ck_assert_uint_eq(s.stats[in].rx_bytes, 3 * 60);
	}
	/* A multicast destination floods even if someone "is" that MAC. */
	ck_assert_int_eq(sw_table_learn(&s.mac, mcast, 2, 0), -EINVAL);
	ck_assert_int_eq(input(0, mcast, mac(9, 0), 0, &out), SW_FLOOD);
	ck_assert_uint_eq(out, PORTS(1, 2, 3));

	/* A port alone floods to nobody. */
	sw_port_remove(&s, 1);
	sw_port_remove(&s, 2);
	sw_port_remove(&s, 3);
	ck_assert_int_eq(input(0, bcast, mac(9, 0), 0, &out), SW_FLOOD);
	ck_assert_uint_eq(out, 0);
}
END_TEST

START_TEST(test_unicast)
{
	const uint8_t *a = mac(10, 1), *b = mac(10, 2), *c = mac(10, 3);
	uint64_t out;

	ck_assert_int_eq(input(0, bcast, a, 0, &out), SW_FLOOD);
	ck_assert_int_eq(input(2, a, b, 1, &out), SW_UNICAST);
	ck_assert_uint_eq(out, PORTS(0));
	ck_assert_int_eq(input(0, b, a, 2, &out), SW_UNICAST);
	ck_assert_uint_eq(out, PORTS(2));
	/* c unknown yet: flooded; then learned from its own frame. */
	ck_assert_int_eq(input(0, c, a, 3, &out), SW_FLOOD);
	ck_assert_uint_eq(out, PORTS(1, 2, 3));
	ck_assert_int_eq(input(3, a, c, 4, &out), SW_UNICAST);
	ck_assert_int_eq(input(0, c, a, 5, &out), SW_UNICAST);
	ck_assert_uint_eq(out, PORTS(3));
	/* b moves to port 1: frames for it follow. */
	ck_assert_int_eq(input(1, bcast, b, 6, &out), SW_FLOOD);
	ck_assert_uint_eq(out, PORTS(0, 2, 3));
	ck_assert_int_eq(input(0, b, a, 7, &out), SW_UNICAST);
	ck_assert_uint_eq(out, PORTS(1));
	ck_assert_uint_eq(s.mac.st.moved, 1);
	/* Once aged, b is unknown again. */
	ck_assert_int_eq(input(0, b, a, 6 + AGE, &out), SW_FLOOD);
	ck_assert_uint_eq(out, PORTS(1, 2, 3));
}
END_TEST

START_TEST(test_same_port)
{
	const uint8_t *a = mac(11, 1), *a2 = mac(11, 2);
	uint64_t out = 1;

	/* Two stations behind port 1 (a guest bridging for another). */
	input(1, bcast, a, 0, &out);
	input(1, bcast, a2, 0, &out);
	ck_assert_int_eq(input(1, a2, a, 1, &out), SW_DROP_SAME_PORT);
	ck_assert_uint_eq(out, 0);
	ck_assert_int_eq(input(1, a, a, 1, &out), SW_DROP_SAME_PORT);
	ck_assert_uint_eq(s.stats[1].rx_same_port, 2);
	ck_assert_uint_eq(s.stats[1].rx_frames, 4);
	/* The answer from elsewhere still goes there. */
	ck_assert_int_eq(input(2, a2, mac(11, 3), 2, &out), SW_UNICAST);
	ck_assert_uint_eq(out, PORTS(1));
}
END_TEST

START_TEST(test_malformed)
{
	const uint8_t *a = mac(12, 1);
	uint64_t out = 1;
	size_t len;

	len = mkmsg(buf, bcast, a, 60, 0);
	ck_assert_int_eq(sw_input(&s, 0, buf, SW_MIN_MSG - 1, 0, &out),
	    SW_DROP_MALFORMED);
	ck_assert_uint_eq(out, 0);
	ck_assert_int_eq(sw_input(&s, 0, buf, 3, 0, &out), SW_DROP_MALFORMED);
	ck_assert_int_eq(sw_input(&s, 0, buf, SW_MAX_MSG + 1, 0, &out),
	    SW_DROP_MALFORMED);
	len = mkmsg(buf, a, mcast, 60, 0);
	ck_assert_int_eq(sw_input(&s, 0, buf, len, 0, &out), SW_DROP_MALFORMED);
	len = mkmsg(buf, a, bcast, 60, 0);
	ck_assert_int_eq(sw_input(&s, 0, buf, len, 0, &out), SW_DROP_MALFORMED);
	ck_assert_uint_eq(out, 0);
	ck_assert_uint_eq(s.stats[0].rx_malformed, 5);
	ck_assert_uint_eq(s.stats[0].rx_frames, 0);
	ck_assert_uint_eq(s.stats[0].rx_bytes, 0);
	/* Nothing was learned from them. */
	ck_assert_uint_eq(sw_table_count(&s.mac), 0);
	/* The smallest and the largest frames go through. */
	len = mkmsg(buf, bcast, a, SW_ETH_HDR_LEN + 4, 0);
	ck_assert_int_eq(sw_input(&s, 0, buf, SW_MIN_MSG, 0, &out), SW_FLOOD);
	len = mkmsg(buf, bcast, a, SW_MAX_FRAME, 0);
	ck_assert_int_eq(sw_input(&s, 0, buf, len, 0, &out), SW_FLOOD);
	ck_assert_uint_eq(s.stats[0].rx_bytes, SW_ETH_HDR_LEN + SW_MAX_FRAME);
}
END_TEST

START_TEST(test_ports)
{
	const uint8_t *a = mac(13, 1), *b = mac(13, 2);
	uint64_t out = 1;

	ck_assert_int_eq(sw_port_add(&s, 2), -EEXIST);
	ck_assert_int_eq(sw_port_add(&s, SW_MAX_PORTS), -EINVAL);
	input(2, bcast, a, 0, &out);
	input(2, bcast, mac(13, 3), 0, &out);
	s.stats[2].tx_frames = 5;
	sw_port_remove(&s, 2);
	ck_assert_uint_eq(s.mac.st.forgotten, 2);
	/* Its counters stay readable, its MACs are gone, it gets nothing. */
	ck_assert_uint_eq(s.stats[2].tx_frames, 5);
	ck_assert_int_eq(input(0, a, b, 1, &out), SW_FLOOD);
	ck_assert_uint_eq(out, PORTS(1, 3));
	ck_assert_int_eq(input(2, bcast, a, 1, &out), SW_DROP_MALFORMED);
	ck_assert_uint_eq(out, 0);
	ck_assert_int_eq(sw_input(&s, SW_MAX_PORTS, buf, 72, 1, &out),
	    SW_DROP_MALFORMED);
	/* Back again, from zero. */
	ck_assert_int_eq(sw_port_add(&s, 2), 0);
	ck_assert_uint_eq(s.stats[2].tx_frames, 0);
	ck_assert_int_eq(input(0, bcast, b, 2, &out), SW_FLOOD);
	ck_assert_uint_eq(out, PORTS(1, 2, 3));

	/* All 64 ports. */
	for (unsigned p = 4; p < SW_MAX_PORTS; p++)
		ck_assert_int_eq(sw_port_add(&s, p), 0);
	ck_assert_int_eq(input(63, bcast, mac(13, 63), 3, &out), SW_FLOOD);
	ck_assert_uint_eq(out, ~(1ull << 63));
	ck_assert_int_eq(input(0, mac(13, 63), b, 3, &out), SW_UNICAST);
	ck_assert_uint_eq(out, 1ull << 63);
}
END_TEST

START_TEST(test_counters)
{
	char line[512];

	sw_tx_done(&s, 1, 72, 0);
	sw_tx_done(&s, 1, 1000, 0);
	sw_tx_done(&s, 1, 72, -EAGAIN);
	sw_tx_done(&s, 1, 72, -EAGAIN);
	sw_tx_done(&s, 1, 72, -ENOBUFS);
	sw_tx_done(&s, SW_MAX_PORTS, 72, 0);
	ck_assert_uint_eq(s.stats[1].tx_frames, 2);
	ck_assert_uint_eq(s.stats[1].tx_bytes, 60 + 988);
	ck_assert_uint_eq(s.stats[1].tx_dropped_full, 2);
	ck_assert_uint_eq(s.stats[1].tx_errors, 1);
	s.stats[1].rx_malformed = UINT64_MAX;
	sw_format_stats(&s.stats[1], line, sizeof(line));
	ck_assert_str_eq(line, "rx_frames=0 rx_bytes=0 tx_frames=2 "
	    "tx_bytes=1048 rx_malformed=18446744073709551615 rx_same_port=0 "
	    "tx_dropped_full=2 tx_errors=1");
}
END_TEST

/* ---- the program, on socketpairs --------------------------------------- */

#define NP	3		/* ports of most program tests */
#define WAIT_MS	3000		/* for anything that should be quick */

struct run {
	pid_t pid;
	int port[NP];		/* our ends */
	int log;		/* the switch's stderr, a deleted file */
};

static struct run r = { .pid = -1 };

static const char *
switch_path(void)
{
	static char path[PATH_MAX + 32];
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	/* BUILD/tests/check_switch -> BUILD/bin/cupule-switch */
	for (int i = 0; i < 2; i++) {
		ck_assert_ptr_nonnull(slash = strrchr(exe, '/'));
		*slash = '\0';
	}
	snprintf(path, sizeof(path), "%s/bin/cupule-switch", exe);
	ck_assert_msg(access(path, X_OK) == 0, "%s is not built", path);
	return path;
}

/*
 * Starts the switch with fds[i] as its fd 3 + i, its stderr in r.log,
 * and argv (NULL-terminated, argv[0] filled in here).
 */
static void
spawn(const int *fds, int nfds, char **argv)
{
	char tmpl[] = "/tmp/check_switch.XXXXXX";
	const char *path = switch_path();
	int hi[SW_MAX_PORTS + 1];

	r.log = mkostemp(tmpl, O_CLOEXEC);
	ck_assert_int_ge(r.log, 0);
	unlink(tmpl);
	argv[0] = (char *)"cupule-switch";
	r.pid = fork();
	ck_assert_int_ge(r.pid, 0);
	if (r.pid == 0) {
		/* Out of the way first, then into place. */
		for (int i = 0; i < nfds; i++)
			hi[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 200);
		hi[nfds] = fcntl(r.log, F_DUPFD_CLOEXEC, 200);
		for (int i = 0; i < nfds; i++)
			dup2(hi[i], 3 + i);
		dup2(hi[nfds], 2);
		execv(path, argv);
		_exit(127);
	}
}

/* Starts the switch on NP fresh socketpairs, named t/p0, t/p1, ... */
static void
start(const char *extra)
{
	static char args[2 * NP + 3][64];
	char *argv[2 * NP + 4];
	int child[NP], n = 1;

	for (int i = 0; i < NP; i++) {
		int sv[2];

		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET |
		    SOCK_CLOEXEC, 0, sv), 0);
		r.port[i] = sv[0];
		child[i] = sv[1];
	}
	snprintf(args[n], sizeof(args[n]), "--name=t");
	argv[n] = args[n];
	n++;
	for (int i = 0; i < NP; i++) {
		snprintf(args[n], sizeof(args[n]), "--port-fd=%d", 3 + i);
		argv[n] = args[n];
		n++;
		snprintf(args[n], sizeof(args[n]), "--port-name=%d:t/p%d",
		    3 + i, i);
		argv[n] = args[n];
		n++;
	}
	if (extra != NULL) {
		snprintf(args[n], sizeof(args[n]), "%s", extra);
		argv[n] = args[n];
		n++;
	}
	argv[n] = NULL;
	spawn(child, NP, argv);
	for (int i = 0; i < NP; i++)
		close(child[i]);
}

/* Waits up to ms for the switch to exit; returns its wait status. */
static int
wait_exit(int ms)
{
	int status;

	for (int i = 0; i < ms; i += 5) {
		pid_t p = waitpid(r.pid, &status, WNOHANG);

		ck_assert_int_ge(p, 0);
		if (p == r.pid) {
			r.pid = -1;
			return status;
		}
		usleep(5000);
	}
	ck_abort_msg("the switch did not exit within %d ms", ms);
	return -1;
}

static void
run_teardown(void)
{
	/* Only our own child, and only if a failed test left it running. */
	if (r.pid > 0) {
		kill(r.pid, SIGKILL);
		waitpid(r.pid, NULL, 0);
		r.pid = -1;
	}
}

/* What the switch printed so far, NUL-terminated. */
static const char *
read_log(void)
{
	static char text[64 * 1024];
	ssize_t n = pread(r.log, text, sizeof(text) - 1, 0);

	ck_assert_int_ge(n, 0);
	text[n] = '\0';
	return text;
}

/* Waits up to WAIT_MS for the log to contain what. */
static void
wait_log(const char *what)
{
	for (int i = 0; i < WAIT_MS; i += 5) {
		if (strstr(read_log(), what) != NULL)
			return;
		usleep(5000);
	}
	ck_abort_msg("the switch never said '%s'; it said:\n%s", what,
	    read_log());
}

/* The value of key= on the last counter line of port t/pN. */
static uint64_t
stat_of(int port, const char *key)
{
	const char *text = read_log(), *line = NULL, *p;
	char tag[48], k[64];

	snprintf(tag, sizeof(tag), "port t/p%d (fd %d)", port, 3 + port);
	snprintf(k, sizeof(k), " %s=", key);
	for (p = text; (p = strstr(p, tag)) != NULL; p++) {
		const char *eol = strchr(p, '\n');
		const char *v = strstr(p, k);

		if (v != NULL && (eol == NULL || v < eol))
			line = v;
	}
	ck_assert_msg(line != NULL, "no %s for port %d in:\n%s", key, port,
	    text);
	return strtoull(line + strlen(k), NULL, 10);
}

static void
send_msg(int fd, const uint8_t *msg, size_t len)
{
	ck_assert_int_eq(send(fd, msg, len, MSG_NOSIGNAL), (ssize_t)len);
}

static void
send_frame(int port, const uint8_t *dst, const uint8_t *src, size_t eth_len,
    uint32_t seq)
{
	send_msg(r.port[port], buf, mkmsg(buf, dst, src, eth_len, seq));
}

/* Receives one message within ms; returns its length, or -1. */
static ssize_t
recv_msg(int fd, int ms)
{
	struct pollfd pfd = { fd, POLLIN, 0 };

	if (poll(&pfd, 1, ms) != 1)
		return -1;
	return recv(fd, rbuf, sizeof(rbuf), MSG_DONTWAIT | MSG_TRUNC);
}

/* The next message on port is frame seq, as sent (buf holds it if same). */
static void
expect_seq(int port, uint32_t seq)
{
	ssize_t n = recv_msg(r.port[port], WAIT_MS);

	ck_assert_msg(n >= SW_MIN_MSG + 4, "port %d: no frame %u (%zd)", port,
	    seq, n);
	ck_assert_msg(msg_seq(rbuf) == seq, "port %d: frame %u, not %u", port,
	    msg_seq(rbuf), seq);
}

static void
expect_nothing(int port)
{
	ck_assert_int_eq(recv_msg(r.port[port], 100), -1);
}

static void
stop_switch(void)
{
	int st;

	ck_assert_int_eq(kill(r.pid, SIGTERM), 0);
	st = wait_exit(WAIT_MS);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "status 0x%x; it said:\n%s", st, read_log());
}

START_TEST(test_run_forward)
{
	const uint8_t *a = mac(0x20, 0), *a2 = mac(0x20, 1);
	const uint8_t *b = mac(0x21, 0), *c = mac(0x22, 0);
	size_t len;

	start(NULL);
	/* Broadcast from a: both others, nothing back. */
	send_frame(0, bcast, a, 60, 1);
	expect_seq(1, 1);
	expect_seq(2, 1);
	/* b to a: to port 0 only, byte for byte (the header too). */
	len = mkmsg(buf, a, b, 60, 2);
	send_msg(r.port[1], buf, len);
	ck_assert_int_eq(recv_msg(r.port[0], WAIT_MS), (ssize_t)len);
	ck_assert_mem_eq(rbuf, buf, len);
	/* Port 1's next is 3: its own frame 2 did not come back. */
	send_frame(2, bcast, c, 60, 3);
	expect_seq(0, 3);
	expect_seq(1, 3);
	send_frame(0, b, a, 60, 4);
	expect_seq(1, 4);
	/* Port 2's next is 5: neither unicast 2 nor 4 reached it. */
	send_frame(0, c, a, 60, 5);
	expect_seq(2, 5);
	/* Unknown unicast and multicast: flooded. */
	send_frame(0, mac(0x2f, 0), a, 60, 6);
	expect_seq(1, 6);
	expect_seq(2, 6);
	send_frame(0, mcast, a, 60, 7);
	expect_seq(1, 7);
	expect_seq(2, 7);
	/* Malformed: short twice, a group source, one byte too long. */
	mkmsg(buf, bcast, a, SW_MAX_FRAME + 1, 0);
	send_msg(r.port[0], buf, 20);
	send_msg(r.port[0], buf, SW_MIN_MSG - 1);
	send_msg(r.port[0], buf, SW_MAX_MSG + 1);
	send_frame(0, bcast, mcast, 60, 0);
	/* a2 behind port 0 too; a to a2 stays there. */
	send_frame(0, bcast, a2, 60, 8);
	expect_seq(1, 8);
	expect_seq(2, 8);
	send_frame(0, a2, a, 60, 9);
	/* The largest frame, to b, whole. */
	len = mkmsg(buf, b, a, SW_MAX_FRAME, 10);
	send_msg(r.port[0], buf, len);
	ck_assert_int_eq(recv_msg(r.port[1], WAIT_MS), (ssize_t)len);
	ck_assert_mem_eq(rbuf, buf, len);
	/* Next on 0 is 11 (9 did not come back), on 2 too (nor 9, nor 10). */
	send_frame(1, bcast, b, 60, 11);
	expect_seq(0, 11);
	expect_seq(2, 11);
	expect_nothing(1);

	stop_switch();
	ck_assert_uint_eq(stat_of(0, "rx_frames"), 8);
	ck_assert_uint_eq(stat_of(0, "rx_bytes"), 7 * 60 + SW_MAX_FRAME);
	ck_assert_uint_eq(stat_of(0, "rx_malformed"), 4);
	ck_assert_uint_eq(stat_of(0, "rx_same_port"), 1);
	ck_assert_uint_eq(stat_of(0, "tx_frames"), 3);
	ck_assert_uint_eq(stat_of(1, "rx_frames"), 2);
	ck_assert_uint_eq(stat_of(1, "tx_frames"), 7);
	ck_assert_uint_eq(stat_of(1, "tx_bytes"), 6 * 60 + SW_MAX_FRAME);
	ck_assert_uint_eq(stat_of(2, "rx_frames"), 1);
	ck_assert_uint_eq(stat_of(2, "tx_frames"), 6);
	for (int p = 0; p < NP; p++) {
		ck_assert_uint_eq(stat_of(p, "tx_dropped_full"), 0);
		ck_assert_uint_eq(stat_of(p, "tx_errors"), 0);
	}
	ck_assert_ptr_nonnull(strstr(read_log(), "mac table: 4 of 1024 "
	    "entries, learned=4 "));
}
END_TEST

/*
 * Port 2's guest never reads.  Port 0 floods N frames, one at a time,
 * and port 1 must get each within WAIT_MS: if the switch ever waited on
 * port 2, port 1 would starve and the test would fail.
 */
START_TEST(test_run_stalled)
{
	const uint8_t *a = mac(0x30, 0);
	enum { N = 3000, LEN = 1000 };
	uint64_t sent2, full2;
	uint32_t got = 0;
	ssize_t n;

	start(NULL);
	for (uint32_t seq = 1; seq <= N; seq++) {
		send_frame(0, bcast, a, LEN, seq);
		expect_seq(1, seq);
	}
	stop_switch();
	ck_assert_uint_eq(stat_of(1, "tx_frames"), N);
	ck_assert_uint_eq(stat_of(1, "tx_dropped_full"), 0);
	/* Said once, not once per frame. */
	{
		const char *said = "port t/p2 (fd 5): not reading";
		const char *at = strstr(read_log(), said);

		ck_assert_ptr_nonnull(at);
		ck_assert_ptr_null(strstr(at + 1, said));
	}
	sent2 = stat_of(2, "tx_frames");
	full2 = stat_of(2, "tx_dropped_full");
	ck_assert_uint_eq(sent2 + full2, N);
	ck_assert_uint_gt(full2, 0);
	ck_assert_uint_gt(sent2, 0);
	/* What waited for port 2 is bounded by its send buffer (2x256K). */
	ck_assert_uint_le(sent2 * LEN, 2 * 256 * 1024 + SW_MAX_MSG);
	/* And it is the first frames, in order: full means dropped. */
	while ((n = recv_msg(r.port[2], WAIT_MS)) > 0) {
		ck_assert_int_eq(n, SW_VNET_HDR_LEN + LEN);
		ck_assert_uint_eq(msg_seq(rbuf), ++got);
	}
	ck_assert_int_eq(n, 0);		/* end of file: the switch is gone */
	ck_assert_uint_eq(got, sent2);
}
END_TEST

/*
 * Fairness: with the switch stopped, port 0 queues many frames, then
 * port 1 one.  Once it runs again, port 1's frame must come out within
 * port 0's first burst, not after all of them.
 */
START_TEST(test_run_fair)
{
	const uint8_t *a = mac(0x38, 0), *b = mac(0x39, 0);
	/* Few enough to fit in port 0's send buffer while nobody reads. */
	enum { N = 3 * SW_BURST };
	int st, pos = -1, from0 = 0;

	start(NULL);
	ck_assert_int_eq(kill(r.pid, SIGSTOP), 0);
	ck_assert_int_eq(waitpid(r.pid, &st, WUNTRACED), r.pid);
	ck_assert(WIFSTOPPED(st));
	for (uint32_t seq = 1; seq <= N; seq++)
		send_frame(0, bcast, a, 60, seq);
	send_frame(1, bcast, b, 60, 1000);
	ck_assert_int_eq(kill(r.pid, SIGCONT), 0);
	for (int i = 0; i <= N; i++) {
		ck_assert_int_gt(recv_msg(r.port[2], WAIT_MS), 0);
		if (msg_seq(rbuf) == 1000)
			pos = i;
		else
			ck_assert_uint_eq(msg_seq(rbuf), ++from0);
	}
	ck_assert_int_eq(from0, N);
	ck_assert_msg(pos >= 0 && pos <= SW_BURST, "port 1's frame came "
	    "out at position %d of %d", pos + 1, N + 1);
	stop_switch();
}
END_TEST

START_TEST(test_run_port_gone)
{
	const uint8_t *a = mac(0x40, 0), *b = mac(0x41, 0), *c = mac(0x42, 0);
	int st;

	start(NULL);
	send_frame(0, bcast, a, 60, 1);
	expect_seq(1, 1);
	expect_seq(2, 1);
	send_frame(1, bcast, b, 60, 2);
	expect_seq(0, 2);
	expect_seq(2, 2);
	close(r.port[0]);
	wait_log("port t/p0 (fd 3): closed by its peer; removed, 2 left");
	/* a was forgotten with its port: a frame for it is flooded. */
	send_frame(1, a, b, 60, 3);
	expect_seq(2, 3);
	send_frame(2, b, c, 60, 4);
	expect_seq(1, 4);
	close(r.port[1]);
	wait_log("removed, 1 left");
	ck_assert_int_eq(waitpid(r.pid, &st, WNOHANG), 0);	/* running */
	send_frame(2, bcast, c, 60, 5);		/* to nobody */
	close(r.port[2]);
	st = wait_exit(WAIT_MS);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x", st);
	ck_assert_ptr_nonnull(strstr(read_log(), "every port is gone"));
	ck_assert_ptr_nonnull(strstr(read_log(),
	    "port t/p0 (fd 3) (closed): "));
	ck_assert_uint_eq(stat_of(0, "tx_frames"), 1);
	ck_assert_uint_eq(stat_of(1, "tx_frames"), 2);
	ck_assert_uint_eq(stat_of(2, "rx_frames"), 2);
	ck_assert_ptr_nonnull(strstr(read_log(), "forgotten=3"));
}
END_TEST

/* A peer that stops receiving: the switch's send fails and drops the port. */
START_TEST(test_run_send_fails)
{
	const uint8_t *b = mac(0x51, 0);

	start(NULL);
	ck_assert_int_eq(shutdown(r.port[0], SHUT_RD), 0);
	send_frame(1, bcast, b, 60, 1);
	expect_seq(2, 1);
	wait_log("port t/p0 (fd 3): Broken pipe; removed, 2 left");
	send_frame(2, bcast, mac(0x52, 0), 60, 2);
	expect_seq(1, 2);
	stop_switch();
}
END_TEST

START_TEST(test_run_dump)
{
	start(NULL);
	send_frame(0, bcast, mac(0x60, 0), 60, 1);
	expect_seq(1, 1);
	expect_seq(2, 1);
	ck_assert_int_eq(kill(r.pid, SIGUSR2), 0);
	wait_log("mac table: 1 of 1024 entries");
	for (int p = 0; p < NP; p++)
		ck_assert_uint_eq(stat_of(p, "tx_frames"), p == 0 ? 0 : 1);
	ck_assert_ptr_nonnull(strstr(read_log(), "cupule: switch t: port t/p0 "
	    "(fd 3): rx_frames=1 "));
	/* Still switching after the dump; SIGINT stops it cleanly. */
	send_frame(1, bcast, mac(0x61, 0), 60, 2);
	expect_seq(0, 2);
	ck_assert_int_eq(kill(r.pid, SIGINT), 0);
	ck_assert_int_eq(wait_exit(WAIT_MS), 0);
}
END_TEST

START_TEST(test_run_age_option)
{
	const uint8_t *a = mac(0x70, 0), *b = mac(0x71, 0);

	start("--mac-age=1");
	send_frame(0, bcast, a, 60, 1);
	expect_seq(1, 1);
	expect_seq(2, 1);
	send_frame(1, a, b, 60, 2);
	expect_seq(0, 2);
	/* A second later a is forgotten: b's next frame to it floods. */
	usleep(1100 * 1000);
	send_frame(1, a, b, 60, 3);
	expect_seq(2, 3);
	expect_seq(0, 3);
	stop_switch();
}
END_TEST

/* Arguments the switch must refuse, with status 2, before switching. */
static char *const bad_args[][4] = {
	{ NULL },
	{ "--port-fd=2", NULL },
	{ "--port-fd=3x", NULL },
	{ "--port-fd=3", "--port-fd=3", NULL },
	{ "--port-fd=3", "--bogus", NULL },
	{ "--port-fd=3", "--port-name=4:x", NULL },
	{ "--port-fd=3", "--port-name=3", NULL },
	{ "--port-fd=3", "--mac-age=0", NULL },
	{ "--port-fd=3", "--mac-entries=0", NULL },
	{ "--port-fd=3", "--port-fd=1000", NULL },	/* not open */
	{ "--port-fd=4", NULL },			/* 4 is a pipe */
	{ "--port-fd=5", NULL },			/* 5 is SOCK_DGRAM */
};
#define NBAD	((int)(sizeof(bad_args) / sizeof(bad_args[0])))

START_TEST(test_run_bad_args)
{
	int sv[2], pp[2], dg[2], fds[3], st;
	char *argv[8] = { NULL };

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    sv), 0);
	ck_assert_int_eq(pipe2(pp, O_CLOEXEC), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0,
	    dg), 0);
	fds[0] = sv[1];
	fds[1] = pp[0];
	fds[2] = dg[1];
	for (int i = 0; bad_args[_i][i] != NULL; i++)
		argv[i + 1] = bad_args[_i][i];
	spawn(fds, 3, argv);
	st = wait_exit(WAIT_MS);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2,
	    "status 0x%x; it said:\n%s", st, read_log());
	ck_assert_ptr_nonnull(strstr(read_log(), "cupule: switch: "));
}
END_TEST

START_TEST(test_run_too_many_ports)
{
	static char args[SW_MAX_PORTS + 1][32];
	char *argv[SW_MAX_PORTS + 3] = { NULL };
	int st;

	for (int i = 0; i <= SW_MAX_PORTS; i++) {
		snprintf(args[i], sizeof(args[i]), "--port-fd=%d", 3 + i);
		argv[i + 1] = args[i];
	}
	spawn(NULL, 0, argv);
	st = wait_exit(WAIT_MS);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status 0x%x",
	    st);
	ck_assert_ptr_nonnull(strstr(read_log(), "more than 64 ports"));
}
END_TEST

static Suite *
switch_suite(void)
{
	Suite *su = suite_create("switch");
	TCase *tc;

	tc = tcase_create("table");
	tcase_add_checked_fixture(tc, NULL, table_teardown);
	tcase_add_test(tc, test_table_init);
	tcase_add_test(tc, test_learn_lookup);
	tcase_add_test(tc, test_aging);
	tcase_add_test(tc, test_evict_full);
	tcase_add_test(tc, test_evict_large);
	tcase_add_test(tc, test_port_share);
	tcase_add_test(tc, test_move);
	tcase_add_test(tc, test_forget_port);
	tcase_add_loop_test(tc, test_model, 0,
	    sizeof(model_seeds) / sizeof(model_seeds[0]));
	suite_add_tcase(su, tc);

	tc = tcase_create("forward");
	tcase_add_checked_fixture(tc, sw_setup, sw_teardown);
	tcase_add_test(tc, test_frame_check);
	tcase_add_test(tc, test_flood);
	tcase_add_test(tc, test_unicast);
	tcase_add_test(tc, test_same_port);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_ports);
	tcase_add_test(tc, test_counters);
	suite_add_tcase(su, tc);

	tc = tcase_create("program");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, NULL, run_teardown);
	tcase_add_test(tc, test_run_forward);
	tcase_add_test(tc, test_run_stalled);
	tcase_add_test(tc, test_run_fair);
	tcase_add_test(tc, test_run_port_gone);
	tcase_add_test(tc, test_run_send_fails);
	tcase_add_test(tc, test_run_dump);
	tcase_add_test(tc, test_run_age_option);
	tcase_add_loop_test(tc, test_run_bad_args, 0, NBAD);
	tcase_add_test(tc, test_run_too_many_ports);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	SRunner *sr = srunner_create(switch_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
