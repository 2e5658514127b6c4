/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switch.h"

#define SW_NIL	UINT32_MAX

/*
 * A keyed mix of the 48-bit MAC (the splitmix64 finaliser over the MAC
 * XOR the seed).  Not cryptographic, but a guest that does not know the
 * seed cannot aim its source MACs at one chain; and a chain holds at
 * most the table's cap entries anyway.
 */
static uint32_t
sw_hash(const struct sw_table *t, const uint8_t *mac)
{
	uint64_t x = 0;

	for (int i = 0; i < SW_ETH_ALEN; i++)
		x = x << 8 | mac[i];
	x ^= t->seed;
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return (uint32_t)x & t->mask;
}

int
sw_table_init(struct sw_table *t, unsigned cap, unsigned port_cap,
    uint64_t max_age, uint64_t seed)
{
	uint32_t nb = 1;

	memset(t, 0, sizeof(*t));
	if (cap == 0 || cap > SW_MAC_ENTRIES_MAX || max_age == 0)
		return -EINVAL;
	/* At least twice as many chains as entries: chains stay short. */
	while (nb < 2 * cap)
		nb <<= 1;
	t->e = calloc(cap, sizeof(*t->e));
	t->bucket = malloc(nb * sizeof(*t->bucket));
	if (t->e == NULL || t->bucket == NULL) {
		sw_table_fini(t);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < nb; i++)
		t->bucket[i] = SW_NIL;
	/* The free list goes through hnext. */
	for (uint32_t i = 0; i < cap; i++)
		t->e[i].hnext = i + 1 < cap ? i + 1 : SW_NIL;
	t->free = 0;
	t->cap = cap;
	t->port_cap = port_cap == 0 || port_cap > cap ? cap : port_cap;
	t->mask = nb - 1;
	t->max_age = max_age;
	t->seed = seed;
	t->all = (struct sw_mac_list){ SW_NIL, SW_NIL, 0 };
	for (int p = 0; p < SW_MAX_PORTS; p++)
		t->port[p] = (struct sw_mac_list){ SW_NIL, SW_NIL, 0 };
	return 0;
}

void
sw_table_fini(struct sw_table *t)
{
	free(t->e);
	free(t->bucket);
	t->e = NULL;
	t->bucket = NULL;
	t->cap = 0;
}

/* Appends entry i to list l, which is of kind k (SW_LIST_*). */
static void
list_append(struct sw_table *t, struct sw_mac_list *l, int k, uint32_t i)
{
	t->e[i].link[k].prev = l->tail;
	t->e[i].link[k].next = SW_NIL;
	if (l->tail != SW_NIL)
		t->e[l->tail].link[k].next = i;
	else
		l->head = i;
	l->tail = i;
	l->n++;
}

static void
list_remove(struct sw_table *t, struct sw_mac_list *l, int k, uint32_t i)
{
	uint32_t p = t->e[i].link[k].prev, n = t->e[i].link[k].next;

	if (p != SW_NIL)
		t->e[p].link[k].next = n;
	else
		l->head = n;
	if (n != SW_NIL)
		t->e[n].link[k].prev = p;
	else
		l->tail = p;
	l->n--;
}

static uint32_t
sw_find(const struct sw_table *t, const uint8_t *mac)
{
	uint32_t i = t->bucket[sw_hash(t, mac)];

	while (i != SW_NIL && memcmp(t->e[i].mac, mac, SW_ETH_ALEN) != 0)
		i = t->e[i].hnext;
	return i;
}

/* Takes entry i out of its chain and both lists, onto the free list. */
static void
sw_drop(struct sw_table *t, uint32_t i)
{
	struct sw_mac_entry *e = &t->e[i];
	uint32_t *pp = &t->bucket[sw_hash(t, e->mac)];

	while (*pp != i)
		pp = &t->e[*pp].hnext;
	*pp = e->hnext;
	list_remove(t, &t->all, SW_LIST_ALL, i);
	list_remove(t, &t->port[e->port], SW_LIST_PORT, i);
	e->hnext = t->free;
	t->free = i;
}

/*
 * Time as the table sees it: never earlier than what it saw before, so
 * that the age lists stay in order whatever the caller passes.
 */
static uint64_t
sw_clock(struct sw_table *t, uint64_t now)
{
	if (now < t->last)
		return t->last;
	t->last = now;
	return now;
}

static bool
sw_expired(const struct sw_table *t, const struct sw_mac_entry *e,
    uint64_t now)
{
	return now - e->seen >= t->max_age;
}

unsigned
sw_table_age(struct sw_table *t, uint64_t now)
{
	unsigned n = 0;

	now = sw_clock(t, now);
	/* Oldest first: stop at the first entry still young enough. */
	while (t->all.head != SW_NIL &&
	    sw_expired(t, &t->e[t->all.head], now)) {
		sw_drop(t, t->all.head);
		n++;
	}
	t->st.aged += n;
	return n;
}

unsigned
sw_table_forget_port(struct sw_table *t, unsigned port)
{
	unsigned n = 0;

	if (port >= SW_MAX_PORTS)
		return 0;
	while (t->port[port].head != SW_NIL) {
		sw_drop(t, t->port[port].head);
		n++;
	}
	t->st.forgotten += n;
	return n;
}

/* Makes entry i the newest of the table and of its port. */
static void
sw_touch(struct sw_table *t, uint32_t i, uint64_t now)
{
	struct sw_mac_entry *e = &t->e[i];

	list_remove(t, &t->all, SW_LIST_ALL, i);
	list_append(t, &t->all, SW_LIST_ALL, i);
	list_remove(t, &t->port[e->port], SW_LIST_PORT, i);
	list_append(t, &t->port[e->port], SW_LIST_PORT, i);
	e->seen = now;
}

int
sw_table_learn(struct sw_table *t, const uint8_t *mac, unsigned port,
    uint64_t now)
{
	uint32_t i;
	struct sw_mac_entry *e;

	if (port >= SW_MAX_PORTS || sw_mac_is_multicast(mac))
		return -EINVAL;
	now = sw_clock(t, now);
	i = sw_find(t, mac);
	if (i != SW_NIL && !sw_expired(t, &t->e[i], now)) {
		e = &t->e[i];
		if (e->port == port) {
			sw_touch(t, i, now);
			return SW_LEARN_REFRESH;
		}
		/* A move takes a place in the new port's share. */
		list_remove(t, &t->port[e->port], SW_LIST_PORT, i);
		if (t->port[port].n >= t->port_cap) {
			sw_drop(t, t->port[port].head);
			t->st.evicted++;
		}
		e->port = (uint8_t)port;
		list_append(t, &t->port[port], SW_LIST_PORT, i);
		list_remove(t, &t->all, SW_LIST_ALL, i);
		list_append(t, &t->all, SW_LIST_ALL, i);
		e->seen = now;
		t->st.moved++;
		return SW_LEARN_MOVED;
	}
	if (i != SW_NIL) {
		sw_drop(t, i);
		t->st.aged++;
	}

	/*
	 * Make room: what has aged goes first, then the port's own oldest
	 * if it holds its share (a guest sending from ever new MACs only
	 * churns its own entries), else the table's oldest.
	 */
	sw_table_age(t, now);
	if (t->port[port].n >= t->port_cap) {
		sw_drop(t, t->port[port].head);
		t->st.evicted++;
	} else if (t->all.n >= t->cap) {
		sw_drop(t, t->all.head);
		t->st.evicted++;
	}
	i = t->free;
	e = &t->e[i];
	t->free = e->hnext;
	memcpy(e->mac, mac, SW_ETH_ALEN);
	e->port = (uint8_t)port;
	e->seen = now;
	{
		uint32_t *b = &t->bucket[sw_hash(t, mac)];

		e->hnext = *b;
		*b = i;
	}
	list_append(t, &t->all, SW_LIST_ALL, i);
	list_append(t, &t->port[port], SW_LIST_PORT, i);
	t->st.learned++;
	return SW_LEARN_NEW;
}

int
sw_table_lookup(struct sw_table *t, const uint8_t *mac, uint64_t now)
{
	uint32_t i;

	now = sw_clock(t, now);
	if ((i = sw_find(t, mac)) == SW_NIL)
		return -ENOENT;
	if (sw_expired(t, &t->e[i], now)) {
		sw_drop(t, i);
		t->st.aged++;
		return -ENOENT;
	}
	return t->e[i].port;
}

int
sw_frame_check(const void *msg, size_t len)
{
	const uint8_t *eth = (const uint8_t *)msg + SW_VNET_HDR_LEN;

	if (len < SW_MIN_MSG)
		return SW_BAD_SHORT;
	if (len > SW_MAX_MSG)
		return SW_BAD_LONG;
	if (sw_mac_is_multicast(eth + SW_ETH_ALEN))
		return SW_BAD_SOURCE;
	return 0;
}

int
sw_init(struct sw *sw, unsigned cap, unsigned port_cap, uint64_t max_age,
    uint64_t seed)
{
	memset(sw, 0, sizeof(*sw));
	return sw_table_init(&sw->mac, cap, port_cap, max_age, seed);
}

void
sw_fini(struct sw *sw)
{
	sw_table_fini(&sw->mac);
	sw->ports = 0;
}

int
sw_port_add(struct sw *sw, unsigned port)
{
	if (port >= SW_MAX_PORTS)
		return -EINVAL;
	if (sw->ports & (1ull << port))
		return -EEXIST;
	sw->ports |= 1ull << port;
	memset(&sw->stats[port], 0, sizeof(sw->stats[port]));
	return 0;
}

void
sw_port_remove(struct sw *sw, unsigned port)
{
	if (port >= SW_MAX_PORTS || !(sw->ports & (1ull << port)))
		return;
	sw->ports &= ~(1ull << port);
	/* Frames for its MACs flood again until they show up elsewhere. */
	sw_table_forget_port(&sw->mac, port);
}

enum sw_action
sw_input(struct sw *sw, unsigned in, const void *msg, size_t len,
    uint64_t now, uint64_t *out)
{
	const uint8_t *eth = (const uint8_t *)msg + SW_VNET_HDR_LEN;
	uint64_t others;
	int p;

	*out = 0;
	/* A frame from a port we do not have: a bug of the caller. */
	if (in >= SW_MAX_PORTS || !(sw->ports & (1ull << in)))
		return SW_DROP_MALFORMED;
	if (sw_frame_check(msg, len) < 0) {
		sw->stats[in].rx_malformed++;
		return SW_DROP_MALFORMED;
	}
	sw->stats[in].rx_frames++;
	sw->stats[in].rx_bytes += len - SW_VNET_HDR_LEN;
	sw_table_learn(&sw->mac, eth + SW_ETH_ALEN, in, now);

	others = sw->ports & ~(1ull << in);
	if (sw_mac_is_multicast(eth))
		goto flood;
	p = sw_table_lookup(&sw->mac, eth, now);
	if (p < 0 || !(sw->ports & (1ull << p)))
		goto flood;
	if ((unsigned)p == in) {
		/* Both stations are behind that port: it has the frame. */
		sw->stats[in].rx_same_port++;
		return SW_DROP_SAME_PORT;
	}
	*out = 1ull << p;
	return SW_UNICAST;
flood:
	*out = others;
	return SW_FLOOD;
}

void
sw_tx_done(struct sw *sw, unsigned port, size_t len, int err)
{
	struct sw_port_stats *s;

	if (port >= SW_MAX_PORTS)
		return;
	s = &sw->stats[port];
	if (err == 0) {
		s->tx_frames++;
		s->tx_bytes += len > SW_VNET_HDR_LEN ?
		    len - SW_VNET_HDR_LEN : 0;
	} else if (err == -EAGAIN || err == -EWOULDBLOCK)
		s->tx_dropped_full++;
	else
		s->tx_errors++;
}

int
sw_format_stats(const struct sw_port_stats *s, char *buf, size_t size)
{
	return snprintf(buf, size, "rx_frames=%" PRIu64 " rx_bytes=%" PRIu64
	    " tx_frames=%" PRIu64 " tx_bytes=%" PRIu64
	    " rx_malformed=%" PRIu64 " rx_same_port=%" PRIu64
	    " tx_dropped_full=%" PRIu64 " tx_errors=%" PRIu64,
	    s->rx_frames, s->rx_bytes, s->tx_frames, s->tx_bytes,
	    s->rx_malformed, s->rx_same_port, s->tx_dropped_full,
	    s->tx_errors);
}
