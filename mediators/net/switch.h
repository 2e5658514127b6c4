/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The L2 learning switch of cupule-switch, without its fds: frame
 * validation, the MAC table (learn, look up, age, evict) and the
 * forwarding decision for one frame.  The process around it
 * (switch_main.c) reads frames from its ports, asks sw_input() where
 * each goes and sends it there; everything here is plain memory and can
 * be tested without a socket.  docs/switch.md has the whole picture.
 *
 * A port is an index 0..SW_MAX_PORTS-1, so that a set of ports is one
 * uint64_t.  Time is a monotonic count of milliseconds the caller
 * passes in, so that tests can age the table without sleeping.
 *
 * Functions return 0 or a negative errno unless said otherwise.
 */
#ifndef CUPULE_SWITCH_H
#define CUPULE_SWITCH_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * One message on a port is one frame: a virtio_net_hdr_v1 (12 bytes,
 * forwarded untouched) then the Ethernet frame, at least its 14-byte
 * header and at most 65550 bytes (a 64 KiB GSO frame and its header).
 */
#define SW_VNET_HDR_LEN		12
#define SW_ETH_HDR_LEN		14
#define SW_ETH_ALEN		6
#define SW_MAX_FRAME		65550
#define SW_MIN_MSG		(SW_VNET_HDR_LEN + SW_ETH_HDR_LEN)
#define SW_MAX_MSG		(SW_VNET_HDR_LEN + SW_MAX_FRAME)

#define SW_MAX_PORTS		64

/*
 * Frames cupule-switch reads from one port before it turns to the
 * others: a busy port gets its share of the loop, not all of it.
 */
#define SW_BURST		32

/* Defaults of the MAC table, and the largest table we accept. */
#define SW_MAC_ENTRIES		1024
#define SW_MAC_PORT_ENTRIES	256
#define SW_MAC_AGE_MS		300000
#define SW_MAC_ENTRIES_MAX	65536

/* Why sw_frame_check() refused a message. */
#define SW_BAD_SHORT		(-EMSGSIZE)
#define SW_BAD_LONG		(-E2BIG)
#define SW_BAD_SOURCE		(-EADDRNOTAVAIL)

struct sw_mac_stats {
	uint64_t learned;	/* new entries */
	uint64_t moved;		/* a known MAC seen on another port */
	uint64_t evicted;	/* dropped for room: table or port share full */
	uint64_t aged;		/* forgotten after max_age without a frame */
	uint64_t forgotten;	/* dropped with their port */
};

/*
 * The table: a fixed array of entries found through a hash of the MAC
 * (chained by index), and kept on two lists ordered by when they were
 * last refreshed, oldest first: one of the whole table, which gives the
 * entry to evict when the table is full and makes aging a walk from the
 * head, and one per port, which gives the entry to evict when a port
 * has used its share.  Every operation is O(1) but for the hash chain.
 */
enum { SW_LIST_ALL, SW_LIST_PORT };

struct sw_mac_entry {
	uint8_t mac[SW_ETH_ALEN];
	uint8_t port;
	uint32_t hnext;		/* next in the hash chain; free list link */
	struct {
		uint32_t prev, next;
	} link[2];		/* on the table's list, on its port's list */
	uint64_t seen;		/* ms, when last learned or refreshed */
};

struct sw_mac_list {
	uint32_t head, tail, n;
};

struct sw_table {
	struct sw_mac_entry *e;
	uint32_t *bucket;
	uint32_t cap;		/* entries */
	uint32_t port_cap;	/* entries one port may hold */
	uint32_t mask;		/* buckets - 1 */
	uint32_t free;
	uint64_t max_age;	/* ms */
	uint64_t seed;
	uint64_t last;		/* the latest time seen: time never goes back */
	struct sw_mac_list all;
	struct sw_mac_list port[SW_MAX_PORTS];
	struct sw_mac_stats st;
};

/*
 * Sets a table up for cap entries (1..SW_MAC_ENTRIES_MAX), of which one
 * port may hold port_cap (0: no share, cap), forgetting an entry max_age
 * ms after its last frame (> 0).  seed keys the hash, so that a guest
 * cannot choose MACs that all land in one chain.
 */
int sw_table_init(struct sw_table *t, unsigned cap, unsigned port_cap,
    uint64_t max_age, uint64_t seed);
void sw_table_fini(struct sw_table *t);

/* What sw_table_learn() did. */
enum sw_learn {
	SW_LEARN_NEW,
	SW_LEARN_REFRESH,
	SW_LEARN_MOVED,
};

/*
 * Records that mac was seen on port at now: a new entry (evicting the
 * port's oldest if the port holds its share, else the table's oldest if
 * the table is full), a refresh, or a move from another port.  Returns
 * what it did (enum sw_learn), or -EINVAL for a multicast MAC or a port
 * out of range.
 */
int sw_table_learn(struct sw_table *t, const uint8_t *mac, unsigned port,
    uint64_t now);

/*
 * Returns the port mac was learned on, or -ENOENT if it is unknown or
 * its entry has aged (which is then forgotten).
 */
int sw_table_lookup(struct sw_table *t, const uint8_t *mac, uint64_t now);

/* Forgets every entry older than max_age.  Returns how many. */
unsigned sw_table_age(struct sw_table *t, uint64_t now);

/* Forgets every entry of one port.  Returns how many. */
unsigned sw_table_forget_port(struct sw_table *t, unsigned port);

static inline unsigned
sw_table_count(const struct sw_table *t)
{
	return t->all.n;
}

static inline unsigned
sw_table_port_count(const struct sw_table *t, unsigned port)
{
	return port < SW_MAX_PORTS ? t->port[port].n : 0;
}

/*
 * Checks one message as read from a port (len is its real length, even
 * if the read truncated it): 0, SW_BAD_SHORT, SW_BAD_LONG or
 * SW_BAD_SOURCE (a multicast or broadcast source MAC, which no station
 * sends and which must not be learned).
 */
int sw_frame_check(const void *msg, size_t len);

static inline bool
sw_mac_is_multicast(const uint8_t *mac)
{
	return (mac[0] & 1) != 0;	/* broadcast is multicast too */
}

/* Counters of one port, from the switch's side. */
struct sw_port_stats {
	uint64_t rx_frames;	/* valid frames from the port */
	uint64_t rx_bytes;	/* their Ethernet bytes (no virtio header) */
	uint64_t tx_frames;	/* frames sent to the port */
	uint64_t tx_bytes;
	uint64_t rx_malformed;	/* dropped: sw_frame_check() refused them */
	uint64_t rx_same_port;	/* dropped: the destination is on this port */
	uint64_t tx_dropped_full; /* dropped: the port's socket was full */
	uint64_t tx_errors;	/* dropped: any other send error */
};

struct sw {
	struct sw_table mac;
	uint64_t ports;		/* bit i: port i is attached */
	struct sw_port_stats stats[SW_MAX_PORTS];
};

/* Sets up a switch without ports; the arguments are sw_table_init()'s. */
int sw_init(struct sw *sw, unsigned cap, unsigned port_cap, uint64_t max_age,
    uint64_t seed);
void sw_fini(struct sw *sw);

/* Attaches a port (its counters start from zero).  -EINVAL, -EEXIST. */
int sw_port_add(struct sw *sw, unsigned port);

/* Detaches a port and forgets its MACs; its counters stay readable. */
void sw_port_remove(struct sw *sw, unsigned port);

/* What to do with one frame. */
enum sw_action {
	SW_DROP_MALFORMED,	/* refused by sw_frame_check() */
	SW_DROP_SAME_PORT,	/* the destination lives on the ingress port */
	SW_UNICAST,		/* to the one port the destination lives on */
	SW_FLOOD,		/* broadcast, multicast, unknown: all others */
};

/*
 * Takes one message read from port in (len as for sw_frame_check()):
 * checks it, learns its source, and sets *out to the ports it goes to,
 * never including in (empty for a drop, and for a flood with no other
 * port).  Counts rx and the drops on port in; the caller counts each
 * send with sw_tx_done().
 */
enum sw_action sw_input(struct sw *sw, unsigned in, const void *msg,
    size_t len, uint64_t now, uint64_t *out);

/*
 * Counts one send of a len-byte message to port: err 0 (sent), -EAGAIN
 * (the socket was full) or another -errno.
 */
void sw_tx_done(struct sw *sw, unsigned port, size_t len, int err);

/*
 * Formats a port's counters on one line, "rx_frames=... tx_errors=...".
 * Returns what snprintf() returns.
 */
int sw_format_stats(const struct sw_port_stats *s, char *buf, size_t size);

#endif
