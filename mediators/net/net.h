/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-net (virtio 1.x 5.1) without its fds: the features offered and
 * how the driver's choice maps to the tap's offloads, the checks of the
 * 12-byte header on frames both ways, the Internet checksum a guest
 * without GUEST_CSUM needs done for it, how a received frame is spread
 * over receive chains (mergeable buffers), the receive filter the
 * control queue programs, the counters, and the record of chains taken
 * from a queue but not returned that lets a restarted mediator carry on.
 * The process around it (datapath.c, set up by main.c) moves frames
 * between the backend fd and the queues; everything here is plain memory and is tested
 * without an fd (tests/unit/check_net.c, tests/fuzz/fuzz_net.c).
 *
 * A frame on the backend fd (tap or switch) is one read() or write():
 * a struct virtio_net_hdr_v1, then the Ethernet frame.  The guest's
 * buffers carry the same header, so a frame crosses unchanged but for
 * what the guest did not negotiate (net_rx_fixup()).
 *
 * Functions return 0 or a negative errno unless said otherwise.  A bad
 * frame is never an error of the device: it is dropped and counted.
 * docs/net.md has the whole picture.
 */
#ifndef CUPULE_NET_H
#define CUPULE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gmem.h"
#include "virtio_pci.h"
#include "virtqueue.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "virtio-net headers and the persistent area are read in place"
#endif

#define VIRTIO_ID_NET		1

/* Feature bits (5.1.3); docs/net.md says which are offered and why. */
#define VIRTIO_NET_F_CSUM	(1ull << 0)	/* we take partial csums */
#define VIRTIO_NET_F_GUEST_CSUM	(1ull << 1)	/* the guest takes them */
#define VIRTIO_NET_F_CTRL_GUEST_OFFLOADS (1ull << 2)	/* not offered */
#define VIRTIO_NET_F_MTU	(1ull << 3)	/* not offered */
#define VIRTIO_NET_F_MAC	(1ull << 5)
#define VIRTIO_NET_F_GUEST_TSO4	(1ull << 7)
#define VIRTIO_NET_F_GUEST_TSO6	(1ull << 8)
#define VIRTIO_NET_F_GUEST_ECN	(1ull << 9)
#define VIRTIO_NET_F_GUEST_UFO	(1ull << 10)	/* not offered */
#define VIRTIO_NET_F_HOST_TSO4	(1ull << 11)
#define VIRTIO_NET_F_HOST_TSO6	(1ull << 12)
#define VIRTIO_NET_F_HOST_ECN	(1ull << 13)
#define VIRTIO_NET_F_HOST_UFO	(1ull << 14)	/* not offered */
#define VIRTIO_NET_F_MRG_RXBUF	(1ull << 15)
#define VIRTIO_NET_F_STATUS	(1ull << 16)
#define VIRTIO_NET_F_CTRL_VQ	(1ull << 17)
#define VIRTIO_NET_F_CTRL_RX	(1ull << 18)
#define VIRTIO_NET_F_CTRL_VLAN	(1ull << 19)	/* not offered */
#define VIRTIO_NET_F_CTRL_RX_EXTRA (1ull << 20)	/* not offered */
#define VIRTIO_NET_F_GUEST_ANNOUNCE (1ull << 21)	/* not offered */
#define VIRTIO_NET_F_MQ		(1ull << 22)	/* not offered */
#define VIRTIO_NET_F_CTRL_MAC_ADDR (1ull << 23)

/* The header in front of every frame (5.1.6), little-endian. */
struct virtio_net_hdr_v1 {
	uint8_t flags;			/* VIRTIO_NET_HDR_F_* */
	uint8_t gso_type;		/* VIRTIO_NET_HDR_GSO_*, | ECN */
	uint16_t hdr_len;		/* Ethernet + IP + L4 headers (hint) */
	uint16_t gso_size;		/* MSS of a GSO frame */
	uint16_t csum_start;		/* checksum from here to the end */
	uint16_t csum_offset;		/* stored at csum_start + this */
	uint16_t num_buffers;		/* rx: chains the frame took */
};

#define VIRTIO_NET_HDR_F_NEEDS_CSUM	0x1
#define VIRTIO_NET_HDR_F_DATA_VALID	0x2	/* rx only */
#define VIRTIO_NET_HDR_F_RSC_INFO	0x4	/* rx only, not offered */

#define VIRTIO_NET_HDR_GSO_NONE		0
#define VIRTIO_NET_HDR_GSO_TCPV4	1
#define VIRTIO_NET_HDR_GSO_UDP		3	/* UFO: never accepted */
#define VIRTIO_NET_HDR_GSO_TCPV6	4
#define VIRTIO_NET_HDR_GSO_ECN		0x80

/* The device configuration (5.1.4) as far as we declare it. */
struct virtio_net_config {
	uint8_t mac[6];			/* 0x0 */
	uint16_t status;		/* 0x6: VIRTIO_NET_S_* */
	uint16_t max_virtqueue_pairs;	/* 0x8: 1 (MQ is not offered) */
} __attribute__((packed));		/* 0xa bytes */

#define VIRTIO_NET_S_LINK_UP	1

/* The control queue (5.1.6.5): class, command, data, then the ack. */
#define VIRTIO_NET_OK		0
#define VIRTIO_NET_ERR		1
#define VIRTIO_NET_CTRL_RX	0
#define  VIRTIO_NET_CTRL_RX_PROMISC	0
#define  VIRTIO_NET_CTRL_RX_ALLMULTI	1
#define VIRTIO_NET_CTRL_MAC	1
#define  VIRTIO_NET_CTRL_MAC_TABLE_SET	0
#define  VIRTIO_NET_CTRL_MAC_ADDR_SET	1

#define NET_ETH_ALEN		6
#define NET_HDR_LEN		12	/* sizeof(struct virtio_net_hdr_v1) */
#define NET_ETH_HLEN		14
#define NET_FRAME_MAX		65550	/* a 64 KiB GSO frame and its headers */
#define NET_MSG_MAX		(NET_HDR_LEN + NET_FRAME_MAX)

/* Queues: one pair and the control queue (no MQ). */
#define NET_RXQ			0
#define NET_TXQ			1
#define NET_CTRLQ		2
#define NET_NUM_QUEUES		3
#define NET_QUEUE_SIZE		256	/* max_queue_size of every queue */
#define NET_BURST		64	/* frames per queue per loop turn */
#define NET_MAC_TABLE		64	/* MAC filter entries, both kinds */

enum net_backend {
	NET_BACKEND_NONE,
	NET_BACKEND_TAP,		/* IFF_TAP | IFF_NO_PI | IFF_VNET_HDR */
	NET_BACKEND_SWITCH,		/* SOCK_SEQPACKET to cupule-switch */
};

/*
 * Counters, in the persistent area so that they outlive a mediator.
 * Bytes are Ethernet bytes, without the virtio header.  docs/net.md
 * says when each one moves.
 */
enum net_counter {
	NET_RX_FRAMES,			/* delivered to the guest */
	NET_RX_BYTES,
	NET_TX_FRAMES,			/* handed to the backend */
	NET_TX_BYTES,
	NET_RX_NO_BUFFER,		/* drop: no rx queue (no driver) */
	NET_RX_TOO_BIG,			/* drop: the buffers cannot hold it */
	NET_RX_GSO_UNSUPPORTED,		/* drop: GSO the guest did not accept */
	NET_RX_MALFORMED,		/* drop: header or length refused */
	NET_RX_FILTERED,		/* drop: the guest's MAC filter */
	NET_RX_BACKEND_ERROR,		/* read() failed */
	NET_RX_BAD_BUFFER,		/* rx chain returned unused: < 12 B */
	NET_RX_STALLS,			/* waits for rx buffers (no drop) */
	NET_RX_SW_CSUM,			/* checksums done for the guest */
	NET_TX_MALFORMED,		/* drop: header or length refused */
	NET_TX_BACKEND_ERROR,		/* drop: write() failed */
	NET_TX_BLOCKED,			/* waits for the backend (no drop) */
	NET_CTRL_OK,			/* control commands accepted */
	NET_CTRL_ERR,			/* control commands refused */
	NET_TAKEOVERS,			/* processes that took over */
	NET_RECOVERED,			/* chains a takeover took back/pushed */
	NET_COUNTERS
};
#define NET_COUNTER_SLOTS	32

extern const char *const net_counter_name[NET_COUNTERS];

/*
 * The receive filter (5.1.6.5.1, 5.1.6.5.2).  At reset: promiscuous, as
 * a driver that never negotiates CTRL_RX expects every frame, and one
 * that does sets its mode when it brings the interface up.  The table
 * holds n_uni unicast then n_multi multicast MACs; a list longer than
 * the table sets the overflow flag of its kind, which accepts every MAC
 * of that kind (the spec lets a device fall back to allmulti/promisc).
 */
struct net_rxfilter {
	uint8_t promisc;
	uint8_t allmulti;
	uint8_t uni_overflow;
	uint8_t multi_overflow;
	uint8_t n_uni;
	uint8_t n_multi;
	uint8_t reserved[2];
	uint8_t mac[NET_MAC_TABLE][NET_ETH_ALEN];
};

/*
 * Restart record of one queue: one 64-bit word, stored with one release
 * store per change so that a process stopped between any two stores
 * leaves a word that is old or new, never torn:
 *
 *	bits  0-15 state (NET_REC_*)
 *	bits 16-31 base: avail index of the oldest chain taken and not returned
 *	bits 32-47 used: our used index when that chain was taken
 *	bits 48-63 n: chains being returned (PUBLISH)
 *
 * HELD: chains [base, last_avail) are taken, none returned.  PUBLISH:
 * the first n of them are being pushed with the lengths in rx_ent[]
 * (rx), tx_ent or ctrl_ent (n is 1); how many went already is our used
 * index minus used.  IDLE: nothing is taken.  Every push of every queue
 * happens under PUBLISH, so a HELD record always has used equal to the
 * queue's used index.
 */
#define NET_REC_IDLE		0
#define NET_REC_HELD		1
#define NET_REC_PUBLISH		2

static inline uint64_t
net_rec(unsigned state, uint16_t base, uint16_t used, uint16_t n)
{
	return (uint64_t)state | (uint64_t)base << 16 |
	    (uint64_t)used << 32 | (uint64_t)n << 48;
}

static inline unsigned
net_rec_state(uint64_t r)
{
	return (unsigned)(r & 0xffff);
}

static inline uint16_t
net_rec_base(uint64_t r)
{
	return (uint16_t)(r >> 16);
}

static inline uint16_t
net_rec_used(uint64_t r)
{
	return (uint16_t)(r >> 32);
}

static inline uint16_t
net_rec_n(uint64_t r)
{
	return (uint16_t)(r >> 48);
}

static inline void
net_rec_set(uint64_t *slot, uint64_t r)
{
	__atomic_store_n(slot, r, __ATOMIC_RELEASE);
}

/* A chain being returned: its head and the bytes written into it. */
struct net_ent {
	uint16_t head;
	uint16_t reserved;
	uint32_t len;
};

#define NET_PERSIST_MAGIC	0x504e5543u	/* bytes "CUNP" */
#define NET_PERSIST_VERSION	1

/*
 * The device's part of struct virtio_state (device[], 4 KiB): what the
 * guest can observe of this device beyond the transport (the filter),
 * the restart records, and the counters.  Fixed layout, no pointers,
 * checked by net_persist_check() before a new process trusts it.
 */
struct net_persist {
	uint32_t magic;			/* 0x000 */
	uint16_t version;		/* 0x004 */
	uint16_t ncounters;		/* 0x006: NET_COUNTERS when written */
	uint32_t tun_offload;		/* 0x008: TUN_F_* last applied (dump) */
	uint32_t reserved0;		/* 0x00c */
	uint64_t rec[NET_NUM_QUEUES];	/* 0x010: restart record per queue */
	uint64_t reserved1;		/* 0x028 */
	uint64_t counter[NET_COUNTER_SLOTS];	/* 0x030 */
	struct net_rxfilter filter;	/* 0x130 */
	uint8_t reserved2[0x3f0 - 0x130 - sizeof(struct net_rxfilter)];
	struct net_ent tx_ent;		/* 0x3f0: the tx chain returned */
	struct net_ent ctrl_ent;	/* 0x3f8: the ctrl chain returned */
	struct net_ent rx_ent[NET_QUEUE_SIZE];	/* 0x400: rx chains, in order */
};					/* 0xc00 bytes */

/* An empty record, counters zero, filter as at reset; magic last. */
void net_persist_init(struct net_persist *p);

/* Checks a persistent area a previous process left: 0 or -EPROTO. */
int net_persist_check(const struct net_persist *p);

static inline void
net_count(struct net_persist *p, enum net_counter c, uint64_t n)
{
	p->counter[c] += n;
}

/* ---- features ---------------------------------------------------------- */

/* The features offered on backend kind (VERSION_1 is added by virtio). */
uint64_t net_features(enum net_backend kind);

/*
 * The driver's features with every one whose dependency (5.1.3.1) is
 * missing taken out: GUEST_TSO* without GUEST_CSUM, GUEST_ECN without a
 * GUEST_TSO, the same on the HOST_ side with CSUM, CTRL_RX and
 * CTRL_MAC_ADDR without CTRL_VQ.  The transport takes any subset of the
 * offer, so the device acts on this instead.
 */
uint64_t net_effective(uint64_t features);

/*
 * The TUN_F_* offloads matching what the guest takes in: GUEST_CSUM is
 * TUN_F_CSUM, GUEST_TSO4/6 TUN_F_TSO4/6, GUEST_ECN TUN_F_TSO_ECN.  With
 * them set (TUNSETOFFLOAD) the kernel hands us nothing the guest cannot
 * take; without, it checksums and segments in software.
 */
unsigned net_tun_offload(uint64_t features);

/* The other way: the GUEST_* features a TUN_F_* set serves. */
uint64_t net_tun_features(unsigned tun);

/* ---- frames ------------------------------------------------------------ */

/*
 * Internet checksum (RFC 1071) of len bytes at p added to the 32-bit
 * partial sum sum, folded and complemented.
 */
uint16_t net_csum(const void *p, size_t len, uint32_t sum);

/*
 * Completes a partial checksum as a device does for NEEDS_CSUM: sums
 * frame[start..len) (the field at start + off holds the pseudo-header
 * seed) and stores the result big-endian at start + off; a result of 0
 * is stored as 0xffff, the same number in ones' complement, since 0 in
 * a UDP checksum means "none".  Returns 0, or -EINVAL when the field
 * does not lie inside the frame.
 */
int net_csum_fill(uint8_t *frame, size_t len, unsigned start, unsigned off);

/*
 * Checks a frame the driver sent: buf holds the header and the frame,
 * len bytes.  Refused (-EINVAL, *why says which rule): a frame shorter
 * than an Ethernet header or longer than NET_FRAME_MAX, flags other
 * than NEEDS_CSUM, NEEDS_CSUM without CSUM negotiated or with the field
 * outside the frame, a GSO type not negotiated (UDP never is), GSO
 * without NEEDS_CSUM, with gso_size 0 or hdr_len past the frame.
 */
int net_tx_check(const uint8_t *buf, size_t len, uint64_t features,
    const char **why);

/*
 * Makes a frame from the backend (buf: header then frame, len bytes)
 * fit for a driver with features (net_effective()): checks the header
 * as net_tx_check() does (flags may also have DATA_VALID), drops GSO the
 * driver did not accept, and without GUEST_CSUM completes a partial
 * checksum and clears flags, as 5.1.6.4.1 asks.  num_buffers is left
 * for net_rx_write().  Returns 0; -EINVAL for a malformed frame;
 * -EOPNOTSUPP for GSO the driver did not accept.  *sw_csum tells whether
 * a checksum was computed.
 */
int net_rx_fixup(uint8_t *buf, size_t len, uint64_t features, bool *sw_csum,
    const char **why);

/* What net_rx_fit() found. */
enum net_fit {
	NET_FIT_OK,		/* the first *k chains take the frame */
	NET_FIT_MORE,		/* not enough yet: take another chain */
	NET_FIT_TOO_BIG,	/* can never fit: drop the frame */
	NET_FIT_BAD_FIRST,	/* chain 0 cannot hold a header: return it */
};

/*
 * How a frame of len bytes (header included) goes into the chains ch[0]
 * .. ch[n - 1] taken from the rx queue, in order; max is the most
 * chains that can ever be taken at once (the queue size).  Without
 * mergeable buffers (mrg false) chain 0 must hold it all; with them it
 * is spread over as many chains as needed, each filled before the next
 * (5.1.6.3.2), the header in chain 0.  A first chain shorter than the
 * header cannot start any frame (5.1.6.3.1 requires the driver to give
 * at least that); later chains take what they can, even nothing.  A
 * len shorter than the header is no message and never fits.
 */
enum net_fit net_rx_fit(const struct vq_chain *const *ch, unsigned n,
    unsigned max, size_t len, bool mrg, unsigned *k);

/*
 * Writes the header and frame in buf (len bytes) over ch[0] .. ch[k - 1]
 * as net_rx_fit() planned, setting num_buffers (in buf too) to k, and
 * stores the bytes written into each chain in written[].
 */
void net_rx_write(const struct vq_chain *const *ch, unsigned k, uint8_t *buf,
    size_t len, uint32_t *written);

/* ---- receive filter and control queue ---------------------------------- */

/* The filter as after a device reset. */
void net_filter_reset(struct net_rxfilter *f);

/*
 * Whether a frame to dst is for a driver with features, own MAC mac and
 * filter f.  Without CTRL_RX negotiated the driver cannot program a
 * filter and every frame is accepted.  Otherwise: promiscuous accepts
 * all; broadcast is always accepted; multicast if allmulti, the
 * multicast overflow or an entry; unicast if it is mac, the unicast
 * overflow or an entry.
 */
bool net_filter_accept(const struct net_rxfilter *f, const uint8_t *mac,
    uint64_t features, const uint8_t *dst);

/*
 * Runs one control command: cmd holds the device-readable part of the
 * chain (class, command, data), len bytes; f and mac (the config's MAC)
 * are changed only by a command that is accepted whole.  Returns
 * VIRTIO_NET_OK or VIRTIO_NET_ERR (*why names the reason).
 */
uint8_t net_ctrl(struct net_rxfilter *f, uint8_t *mac, uint64_t features,
    const uint8_t *cmd, size_t len, const char **why);

/* ---- configuration ----------------------------------------------------- */

/* Parses "52:54:00:12:34:56" into mac: 0, or -EINVAL (also multicast). */
int net_parse_mac(const char *s, uint8_t *mac);

/* Fills the device configuration, little-endian. */
void net_config(struct virtio_net_config *cfg, const uint8_t *mac,
    bool link_up);

/* ---- restart ----------------------------------------------------------- */

/*
 * A takeover: puts queue q in line with the record *rec a dead process
 * left, then clears it.  HELD: q->last_avail goes back to base, so the
 * chains taken and never returned are taken again (nothing was pushed:
 * the guest still owns them and never saw what we wrote into them).
 * PUBLISH: the entries ent[] (nent of them at most) not pushed yet
 * are pushed (the frame they carry was complete before the first
 * push), then last_avail goes back to base + n.  q may be NULL (queue
 * not usable): the record is just cleared.  Returns the chains pushed
 * or given back, or -EPROTO for a record that does not agree with q,
 * names a head q cannot have, or whose push vq_push() refuses (a used
 * ring outside guest memory); q is then not touched.
 */
int net_rec_recover(uint64_t *rec, struct vq_state *q,
    const struct net_ent *ent, unsigned nent, const struct gmem *m);

#endif
