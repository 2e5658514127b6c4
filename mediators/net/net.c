/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The virtio-net device without its fds (net.h): features and offloads,
 * header checks, checksums, rx spreading, the receive filter and the
 * control commands, and restart records.  Everything a guest or a
 * backend hands us is copied into our own memory before it is checked,
 * and only the copy is used.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <linux/if_tun.h>

#include "net.h"

/* The layouts are shared with the guest or a later process: pin them. */
_Static_assert(sizeof(struct virtio_net_hdr_v1) == NET_HDR_LEN, "header");
_Static_assert(offsetof(struct virtio_net_hdr_v1, num_buffers) == 10,
    "header");
_Static_assert(sizeof(struct virtio_net_config) == 10, "config");
_Static_assert(offsetof(struct virtio_net_config, status) == 6, "config");
_Static_assert(sizeof(struct net_ent) == 8, "entry");
_Static_assert(offsetof(struct net_persist, rec) == 0x010, "persist");
_Static_assert(offsetof(struct net_persist, counter) == 0x030, "persist");
_Static_assert(offsetof(struct net_persist, filter) == 0x130, "persist");
_Static_assert(offsetof(struct net_persist, tx_ent) == 0x3f0, "persist");
_Static_assert(offsetof(struct net_persist, rx_ent) == 0x400, "persist");
_Static_assert(sizeof(struct net_persist) == 0xc00, "persist");
_Static_assert(sizeof(struct net_persist) <= VIRTIO_DEV_AREA,
    "the persistent area fits the device area of the shared state");
_Static_assert(NET_COUNTERS <= NET_COUNTER_SLOTS, "counter slots");
_Static_assert(NET_MAC_TABLE <= 255, "table counts are bytes");
_Static_assert(NET_QUEUE_SIZE <= VQ_MAX_SIZE, "queue size");

const char *const net_counter_name[NET_COUNTERS] = {
	[NET_RX_FRAMES] = "rx_frames",
	[NET_RX_BYTES] = "rx_bytes",
	[NET_TX_FRAMES] = "tx_frames",
	[NET_TX_BYTES] = "tx_bytes",
	[NET_RX_NO_BUFFER] = "rx_no_buffer",
	[NET_RX_TOO_BIG] = "rx_too_big",
	[NET_RX_GSO_UNSUPPORTED] = "rx_gso_unsupported",
	[NET_RX_MALFORMED] = "rx_malformed",
	[NET_RX_FILTERED] = "rx_filtered",
	[NET_RX_BACKEND_ERROR] = "rx_backend_error",
	[NET_RX_BAD_BUFFER] = "rx_bad_buffer",
	[NET_RX_STALLS] = "rx_stalls",
	[NET_RX_SW_CSUM] = "rx_sw_csum",
	[NET_TX_MALFORMED] = "tx_malformed",
	[NET_TX_BACKEND_ERROR] = "tx_backend_error",
	[NET_TX_BLOCKED] = "tx_blocked",
	[NET_CTRL_OK] = "ctrl_ok",
	[NET_CTRL_ERR] = "ctrl_err",
	[NET_TAKEOVERS] = "takeovers",
	[NET_RECOVERED] = "recovered",
};

static const uint8_t bcast[NET_ETH_ALEN] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff
};

/* ---- persistent area --------------------------------------------------- */

void
net_persist_init(struct net_persist *p)
{
	__atomic_store_n(&p->magic, 0, __ATOMIC_RELAXED);
	memset((uint8_t *)p + sizeof(p->magic), 0,
	    sizeof(*p) - sizeof(p->magic));
	p->version = NET_PERSIST_VERSION;
	p->ncounters = NET_COUNTERS;
	net_filter_reset(&p->filter);
	/* Last, so that a process stopped half way leaves no valid area. */
	__atomic_store_n(&p->magic, NET_PERSIST_MAGIC, __ATOMIC_RELEASE);
}

int
net_persist_check(const struct net_persist *p)
{
	const struct net_rxfilter *f = &p->filter;

	if (__atomic_load_n(&p->magic, __ATOMIC_ACQUIRE) != NET_PERSIST_MAGIC ||
	    p->version != NET_PERSIST_VERSION ||
	    p->ncounters > NET_COUNTER_SLOTS)
		return -EPROTO;
	for (unsigned i = 0; i < NET_NUM_QUEUES; i++)
		if (net_rec_state(p->rec[i]) > NET_REC_PUBLISH)
			return -EPROTO;
	if ((unsigned)f->n_uni + f->n_multi > NET_MAC_TABLE)
		return -EPROTO;
	return 0;
}

/* ---- features ---------------------------------------------------------- */

uint64_t
net_features(enum net_backend kind)
{
	/*
	 * The same on both backends, because both carry the virtio header
	 * with every frame:
	 *  - CSUM, HOST_TSO4/6, HOST_ECN: what the guest sends goes out as
	 *    it is; the tap's kernel completes checksums and segments, and
	 *    on the switch the receiving mediator completes checksums for a
	 *    guest that did not take GUEST_CSUM.  A GSO frame for a guest
	 *    that took no GUEST_TSO cannot be undone there (no software
	 *    segmentation) and is dropped and counted (rx_gso_unsupported):
	 *    every cupule guest is offered GUEST_TSO, and Linux takes it.
	 *  - GUEST_CSUM, GUEST_TSO4/6, GUEST_ECN: on the tap they become
	 *    TUNSETOFFLOAD flags, so the kernel hands us only what the guest
	 *    took; on the switch net_rx_fixup() holds frames to them.
	 *  - MRG_RXBUF: 64 KiB frames without 64 KiB buffers.
	 *  - MAC, STATUS: the VM process chose the MAC; the link is up while
	 *    the backend is there (the switch may go away).
	 *  - CTRL_VQ, CTRL_RX, CTRL_MAC_ADDR: the filter is applied to what
	 *    we receive (on the tap it only saves the guest some work, on
	 *    the switch it keeps flooded frames out).
	 *  - EVENT_IDX, INDIRECT_DESC: the transport supports them.
	 * Not offered: UFO (Linux stopped producing it; the tap would have
	 * to be set for it), MTU (the default 1500 is what a tap or a
	 * switch port carries), CTRL_VLAN, CTRL_RX_EXTRA, GUEST_ANNOUNCE,
	 * CTRL_GUEST_OFFLOADS and MQ (one queue pair).
	 */
	if (kind != NET_BACKEND_TAP && kind != NET_BACKEND_SWITCH)
		return 0;
	return VIRTIO_NET_F_CSUM | VIRTIO_NET_F_GUEST_CSUM |
	    VIRTIO_NET_F_MAC | VIRTIO_NET_F_GUEST_TSO4 |
	    VIRTIO_NET_F_GUEST_TSO6 | VIRTIO_NET_F_GUEST_ECN |
	    VIRTIO_NET_F_HOST_TSO4 | VIRTIO_NET_F_HOST_TSO6 |
	    VIRTIO_NET_F_HOST_ECN | VIRTIO_NET_F_MRG_RXBUF |
	    VIRTIO_NET_F_STATUS | VIRTIO_NET_F_CTRL_VQ | VIRTIO_NET_F_CTRL_RX |
	    VIRTIO_NET_F_CTRL_MAC_ADDR | VIRTIO_F_EVENT_IDX |
	    VIRTIO_F_INDIRECT_DESC;
}

uint64_t
net_effective(uint64_t f)
{
	const uint64_t guest_gso = VIRTIO_NET_F_GUEST_TSO4 |
	    VIRTIO_NET_F_GUEST_TSO6 | VIRTIO_NET_F_GUEST_UFO;
	const uint64_t host_gso = VIRTIO_NET_F_HOST_TSO4 |
	    VIRTIO_NET_F_HOST_TSO6 | VIRTIO_NET_F_HOST_UFO;

	if (!(f & VIRTIO_NET_F_GUEST_CSUM))
		f &= ~guest_gso;
	if (!(f & (VIRTIO_NET_F_GUEST_TSO4 | VIRTIO_NET_F_GUEST_TSO6)))
		f &= ~VIRTIO_NET_F_GUEST_ECN;
	if (!(f & VIRTIO_NET_F_CSUM))
		f &= ~host_gso;
	if (!(f & (VIRTIO_NET_F_HOST_TSO4 | VIRTIO_NET_F_HOST_TSO6)))
		f &= ~VIRTIO_NET_F_HOST_ECN;
	if (!(f & VIRTIO_NET_F_CTRL_VQ))
		f &= ~(VIRTIO_NET_F_CTRL_RX | VIRTIO_NET_F_CTRL_VLAN |
		    VIRTIO_NET_F_CTRL_RX_EXTRA | VIRTIO_NET_F_GUEST_ANNOUNCE |
		    VIRTIO_NET_F_MQ | VIRTIO_NET_F_CTRL_MAC_ADDR |
		    VIRTIO_NET_F_CTRL_GUEST_OFFLOADS);
	if (!(f & VIRTIO_NET_F_CTRL_RX))
		f &= ~VIRTIO_NET_F_CTRL_RX_EXTRA;
	return f;
}

unsigned
net_tun_offload(uint64_t f)
{
	unsigned t = 0;

	f = net_effective(f);
	if (f & VIRTIO_NET_F_GUEST_CSUM)
		t |= TUN_F_CSUM;
	if (f & VIRTIO_NET_F_GUEST_TSO4)
		t |= TUN_F_TSO4;
	if (f & VIRTIO_NET_F_GUEST_TSO6)
		t |= TUN_F_TSO6;
	if (f & VIRTIO_NET_F_GUEST_ECN)
		t |= TUN_F_TSO_ECN;
	if (f & VIRTIO_NET_F_GUEST_UFO)
		t |= TUN_F_UFO;
	return t;
}

uint64_t
net_tun_features(unsigned t)
{
	uint64_t f = 0;

	/* The kernel refuses TSO and UFO without CSUM, ECN without TSO. */
	if (!(t & TUN_F_CSUM))
		return 0;
	f |= VIRTIO_NET_F_GUEST_CSUM;
	if (t & TUN_F_TSO4)
		f |= VIRTIO_NET_F_GUEST_TSO4;
	if (t & TUN_F_TSO6)
		f |= VIRTIO_NET_F_GUEST_TSO6;
	if ((t & TUN_F_TSO_ECN) && (t & (TUN_F_TSO4 | TUN_F_TSO6)))
		f |= VIRTIO_NET_F_GUEST_ECN;
	if (t & TUN_F_UFO)
		f |= VIRTIO_NET_F_GUEST_UFO;
	return f;
}

/* ---- checksums --------------------------------------------------------- */

uint16_t
net_csum(const void *p, size_t len, uint32_t sum)
{
	const uint8_t *b = p;
	uint64_t s = sum;
	size_t i;

	/* Big-endian 16-bit words; an odd last byte is padded with 0. */
	for (i = 0; i + 1 < len; i += 2)
		s += (uint32_t)b[i] << 8 | b[i + 1];
	if (len & 1)
		s += (uint32_t)b[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

int
net_csum_fill(uint8_t *frame, size_t len, unsigned start, unsigned off)
{
	uint16_t c;

	if (start > len || off > len - start || len - start - off < 2)
		return -EINVAL;
	c = net_csum(frame + start, len - start, 0);
	if (c == 0)
		c = 0xffff;
	frame[start + off] = (uint8_t)(c >> 8);
	frame[start + off + 1] = (uint8_t)c;
	return 0;
}

/* ---- headers ----------------------------------------------------------- */

static int
refuse(const char **why, const char *what)
{
	if (why != NULL)
		*why = what;
	return -EINVAL;
}

/*
 * The rules both directions share, for a frame of flen bytes after
 * header h; flags_ok the flag bits this direction may carry.
 */
static int
hdr_check(const struct virtio_net_hdr_v1 *h, size_t flen, uint8_t flags_ok,
    const char **why)
{
	uint8_t gso = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;

	if (flen < NET_ETH_HLEN)
		return refuse(why, "frame shorter than an Ethernet header");
	if (flen > NET_FRAME_MAX)
		return refuse(why, "frame longer than 65550 bytes");
	if (h->flags & ~flags_ok)
		return refuse(why, "unknown header flags");
	if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    (size_t)h->csum_start + h->csum_offset + 2 > flen)
		return refuse(why, "checksum field outside the frame");
	if (h->gso_type == VIRTIO_NET_HDR_GSO_NONE)
		return 0;
	if (gso != VIRTIO_NET_HDR_GSO_TCPV4 &&
	    gso != VIRTIO_NET_HDR_GSO_TCPV6 && gso != VIRTIO_NET_HDR_GSO_UDP)
		return refuse(why, "unknown GSO type");
	if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return refuse(why, "GSO without NEEDS_CSUM");
	if (h->gso_size == 0)
		return refuse(why, "GSO with gso_size 0");
	if (h->hdr_len > flen)
		return refuse(why, "hdr_len past the frame");
	return 0;
}

/* Whether features take GSO of type gso_type (ECN bit included). */
static bool
gso_ok(uint8_t gso_type, uint64_t f, uint64_t tso4, uint64_t tso6,
    uint64_t ufo, uint64_t ecn)
{
	uint8_t gso = gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;

	if (gso_type == VIRTIO_NET_HDR_GSO_NONE)
		return true;
	if ((gso_type & VIRTIO_NET_HDR_GSO_ECN) && !(f & ecn))
		return false;
	return (gso == VIRTIO_NET_HDR_GSO_TCPV4 && (f & tso4)) ||
	    (gso == VIRTIO_NET_HDR_GSO_TCPV6 && (f & tso6)) ||
	    (gso == VIRTIO_NET_HDR_GSO_UDP && (f & ufo));
}

int
net_tx_check(const uint8_t *buf, size_t len, uint64_t f, const char **why)
{
	struct virtio_net_hdr_v1 h;
	int ret;

	if (len < NET_HDR_LEN)
		return refuse(why, "no room for the header");
	memcpy(&h, buf, sizeof(h));
	/* 5.1.6.2.1: DATA_VALID and RSC_INFO are the device's. */
	if ((ret = hdr_check(&h, len - NET_HDR_LEN,
	    VIRTIO_NET_HDR_F_NEEDS_CSUM, why)) < 0)
		return ret;
	f = net_effective(f);
	if ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !(f & VIRTIO_NET_F_CSUM))
		return refuse(why, "NEEDS_CSUM without CSUM negotiated");
	if (!gso_ok(h.gso_type, f, VIRTIO_NET_F_HOST_TSO4,
	    VIRTIO_NET_F_HOST_TSO6, VIRTIO_NET_F_HOST_UFO,
	    VIRTIO_NET_F_HOST_ECN))
		return refuse(why, "GSO type not negotiated");
	return 0;
}

int
net_rx_fixup(uint8_t *buf, size_t len, uint64_t f, bool *sw_csum,
    const char **why)
{
	struct virtio_net_hdr_v1 h;
	size_t flen;
	int ret;

	*sw_csum = false;
	if (len < NET_HDR_LEN)
		return refuse(why, "no room for the header");
	flen = len - NET_HDR_LEN;
	memcpy(&h, buf, sizeof(h));
	if ((ret = hdr_check(&h, flen, VIRTIO_NET_HDR_F_NEEDS_CSUM |
	    VIRTIO_NET_HDR_F_DATA_VALID, why)) < 0)
		return ret;
	f = net_effective(f);
	if (!gso_ok(h.gso_type, f, VIRTIO_NET_F_GUEST_TSO4,
	    VIRTIO_NET_F_GUEST_TSO6, VIRTIO_NET_F_GUEST_UFO,
	    VIRTIO_NET_F_GUEST_ECN)) {
		if (why != NULL)
			*why = "GSO type the driver did not accept";
		return -EOPNOTSUPP;
	}
	if (!(f & VIRTIO_NET_F_GUEST_CSUM)) {
		/*
		 * 5.1.6.4.1: flags must be 0 and the frame fully
		 * checksummed.  No GSO got here: net_effective() took every
		 * GUEST_TSO out without GUEST_CSUM.
		 */
		if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
			net_csum_fill(buf + NET_HDR_LEN, flen, h.csum_start,
			    h.csum_offset);
			*sw_csum = true;
		}
		h.flags = 0;
		h.csum_start = h.csum_offset = 0;
	}
	memcpy(buf, &h, sizeof(h));
	return 0;
}

/* ---- rx spreading ------------------------------------------------------ */

enum net_fit
net_rx_fit(const struct vq_chain *const *ch, unsigned n, unsigned max,
    size_t len, bool mrg, unsigned *k)
{
	size_t have = 0;

	if (len < NET_HDR_LEN)
		return NET_FIT_TOO_BIG;		/* not a message: no header */
	if (n == 0)
		return max == 0 ? NET_FIT_TOO_BIG : NET_FIT_MORE;
	if (ch[0]->in_len < NET_HDR_LEN)
		return NET_FIT_BAD_FIRST;
	if (!mrg) {
		if (ch[0]->in_len < len)
			return NET_FIT_TOO_BIG;
		*k = 1;
		return NET_FIT_OK;
	}
	for (unsigned i = 0; i < n; i++) {
		have += ch[i]->in_len;
		if (have >= len) {
			*k = i + 1;
			return NET_FIT_OK;
		}
	}
	return n >= max ? NET_FIT_TOO_BIG : NET_FIT_MORE;
}

void
net_rx_write(const struct vq_chain *const *ch, unsigned k, uint8_t *buf,
    size_t len, uint32_t *written)
{
	uint16_t nb = (uint16_t)k;
	size_t off = 0;

	if (len >= NET_HDR_LEN)
		memcpy(buf + offsetof(struct virtio_net_hdr_v1, num_buffers),
		    &nb, sizeof(nb));
	for (unsigned i = 0; i < k; i++) {
		size_t take = len - off;

		if (take > ch[i]->in_len)
			take = ch[i]->in_len;
		written[i] = vq_chain_write(ch[i], 0, buf + off,
		    (uint32_t)take);
		off += written[i];
	}
}

/* ---- receive filter and control queue ---------------------------------- */

void
net_filter_reset(struct net_rxfilter *f)
{
	memset(f, 0, sizeof(*f));
	f->promisc = 1;
}

static bool
in_table(const uint8_t (*t)[NET_ETH_ALEN], unsigned n, const uint8_t *mac)
{
	for (unsigned i = 0; i < n; i++)
		if (memcmp(t[i], mac, NET_ETH_ALEN) == 0)
			return true;
	return false;
}

bool
net_filter_accept(const struct net_rxfilter *f, const uint8_t *mac,
    uint64_t features, const uint8_t *dst)
{
	/* Counts from shared memory are bounded again here. */
	unsigned nu = f->n_uni < NET_MAC_TABLE ? f->n_uni : NET_MAC_TABLE;
	unsigned nm = f->n_multi < NET_MAC_TABLE - nu ? f->n_multi :
	    NET_MAC_TABLE - nu;

	if (!(net_effective(features) & VIRTIO_NET_F_CTRL_RX) || f->promisc)
		return true;
	if (dst[0] & 1) {
		if (memcmp(dst, bcast, NET_ETH_ALEN) == 0 || f->allmulti ||
		    f->multi_overflow)
			return true;
		return in_table(f->mac + nu, nm, dst);
	}
	if (memcmp(dst, mac, NET_ETH_ALEN) == 0 || f->uni_overflow)
		return true;
	return in_table(f->mac, nu, dst);
}

static uint8_t
ctrl_err(const char **why, const char *what)
{
	if (why != NULL)
		*why = what;
	return VIRTIO_NET_ERR;
}

static uint32_t
get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

/*
 * MAC_TABLE_SET (5.1.6.5.2): two tables, le32 entries then that many
 * 6-byte MACs, unicast first; nothing may follow.  Parsed whole before
 * anything changes.
 */
static uint8_t
mac_table_set(struct net_rxfilter *f, const uint8_t *d, size_t len,
    const char **why)
{
	struct net_rxfilter nf = *f;
	size_t off = 0, nu, nm, room;

	if (len < 4)
		return ctrl_err(why, "MAC table: no unicast count");
	nu = get_le32(d);
	off = 4;
	if (nu > (len - off) / NET_ETH_ALEN)
		return ctrl_err(why, "MAC table: unicast entries past the end");
	off += nu * NET_ETH_ALEN;
	if (len - off < 4)
		return ctrl_err(why, "MAC table: no multicast count");
	nm = get_le32(d + off);
	off += 4;
	if (nm > (len - off) / NET_ETH_ALEN ||
	    len - off != nm * NET_ETH_ALEN)
		return ctrl_err(why, "MAC table: multicast entries do not "
		    "fill the command");
	nf.uni_overflow = nu > NET_MAC_TABLE;
	nf.n_uni = (uint8_t)(nu > NET_MAC_TABLE ? NET_MAC_TABLE : nu);
	room = NET_MAC_TABLE - nf.n_uni;
	nf.multi_overflow = nm > room;
	nf.n_multi = (uint8_t)(nm > room ? room : nm);
	memcpy(nf.mac, d + 4, nf.n_uni * (size_t)NET_ETH_ALEN);
	memcpy(nf.mac + nf.n_uni, d + 4 + nu * NET_ETH_ALEN + 4,
	    nf.n_multi * (size_t)NET_ETH_ALEN);
	*f = nf;
	return VIRTIO_NET_OK;
}

uint8_t
net_ctrl(struct net_rxfilter *f, uint8_t *mac, uint64_t features,
    const uint8_t *cmd, size_t len, const char **why)
{
	const uint8_t *data;
	size_t dlen;

	features = net_effective(features);
	if (len < 2)
		return ctrl_err(why, "no class and command");
	data = cmd + 2;
	dlen = len - 2;
	switch (cmd[0]) {
	case VIRTIO_NET_CTRL_RX:
		if (!(features & VIRTIO_NET_F_CTRL_RX))
			return ctrl_err(why, "CTRL_RX not negotiated");
		if (cmd[1] != VIRTIO_NET_CTRL_RX_PROMISC &&
		    cmd[1] != VIRTIO_NET_CTRL_RX_ALLMULTI)
			return ctrl_err(why, "rx mode command not offered");
		if (dlen != 1)
			return ctrl_err(why, "rx mode command without its "
			    "byte");
		if (cmd[1] == VIRTIO_NET_CTRL_RX_PROMISC)
			f->promisc = data[0] != 0;
		else
			f->allmulti = data[0] != 0;
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_MAC:
		if (cmd[1] == VIRTIO_NET_CTRL_MAC_TABLE_SET) {
			if (!(features & VIRTIO_NET_F_CTRL_RX))
				return ctrl_err(why, "CTRL_RX not negotiated");
			return mac_table_set(f, data, dlen, why);
		}
		if (cmd[1] == VIRTIO_NET_CTRL_MAC_ADDR_SET) {
			if (!(features & VIRTIO_NET_F_CTRL_MAC_ADDR))
				return ctrl_err(why, "CTRL_MAC_ADDR not "
				    "negotiated");
			if (dlen != NET_ETH_ALEN)
				return ctrl_err(why, "MAC address of the wrong "
				    "length");
			if (data[0] & 1)
				return ctrl_err(why, "multicast MAC address");
			memcpy(mac, data, NET_ETH_ALEN);
			return VIRTIO_NET_OK;
		}
		return ctrl_err(why, "MAC command not offered");
	default:
		/* VLAN, ANNOUNCE, MQ, GUEST_OFFLOADS: none is offered. */
		return ctrl_err(why, "control class not offered");
	}
}

/* ---- configuration ----------------------------------------------------- */

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
net_parse_mac(const char *s, uint8_t *mac)
{
	uint8_t m[NET_ETH_ALEN];

	for (int i = 0; i < NET_ETH_ALEN; i++) {
		int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);

		if (lo < 0)
			return -EINVAL;
		m[i] = (uint8_t)(hi << 4 | lo);
		s += 2;
		if (*s != (i == NET_ETH_ALEN - 1 ? '\0' : ':'))
			return -EINVAL;
		s += i < NET_ETH_ALEN - 1;
	}
	if (m[0] & 1)
		return -EINVAL;		/* a station address is unicast */
	memcpy(mac, m, NET_ETH_ALEN);
	return 0;
}

void
net_config(struct virtio_net_config *cfg, const uint8_t *mac, bool link_up)
{
	memset(cfg, 0, sizeof(*cfg));
	memcpy(cfg->mac, mac, NET_ETH_ALEN);
	cfg->status = link_up ? VIRTIO_NET_S_LINK_UP : 0;
	cfg->max_virtqueue_pairs = 1;
}

/* ---- restart ----------------------------------------------------------- */

int
net_rec_recover(uint64_t *rec, struct vq_state *q, const struct net_ent *ent,
    unsigned nent, const struct gmem *m)
{
	uint64_t r = __atomic_load_n(rec, __ATOMIC_ACQUIRE);
	unsigned state = net_rec_state(r);
	uint16_t base = net_rec_base(r), n = net_rec_n(r), taken, pushed;
	int ret;

	if (state == NET_REC_IDLE || q == NULL) {
		net_rec_set(rec, 0);
		return 0;
	}
	/* Distances, modulo 2^16 like the indexes they come from. */
	taken = (uint16_t)(q->last_avail - base);
	pushed = (uint16_t)(q->used_idx - net_rec_used(r));
	net_rec_set(rec, 0);
	if (taken > q->size)
		return -EPROTO;
	if (state == NET_REC_HELD) {
		if (pushed != 0)
			return -EPROTO;
		q->last_avail = base;
		return taken;
	}
	if (state != NET_REC_PUBLISH || n > nent || n > taken || pushed > n)
		return -EPROTO;
	/* Every head first, so that a bad one leaves q as it was. */
	for (uint16_t i = pushed; i < n; i++)
		if (ent[i].head >= q->size)
			return -EPROTO;
	for (uint16_t i = pushed; i < n; i++)
		if ((ret = vq_push(m, q, ent[i].head, ent[i].len)) < 0)
			return ret;
	q->last_avail = (uint16_t)(base + n);
	return (n - pushed) + (taken - n);
}
