/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the virtio-net library (mediators/net/net.c): features
 * and tap offloads both ways, header checks one rule at a time, the
 * checksum against packets whose checksums were computed elsewhere, rx
 * frames spread over chains of many shapes (and through vq_pop() from a
 * descriptor table in fake guest memory), the receive filter and the
 * control commands, the persistent area and its counters, and the
 * restart records against real rings.
 *
 * Chains are mostly struct vq_chain filled directly, the way vq_pop()
 * leaves them: writable segments pointing into a pool.
 */
#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/if_tun.h>

#include "net.h"
#include "virtqueue.h"

static const uint8_t own_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t other_mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };

#define ALL_GUEST (VIRTIO_NET_F_GUEST_CSUM | VIRTIO_NET_F_GUEST_TSO4 | \
	VIRTIO_NET_F_GUEST_TSO6 | VIRTIO_NET_F_GUEST_ECN)
#define ALL_HOST (VIRTIO_NET_F_CSUM | VIRTIO_NET_F_HOST_TSO4 | \
	VIRTIO_NET_F_HOST_TSO6 | VIRTIO_NET_F_HOST_ECN)
#define CTRL (VIRTIO_NET_F_CTRL_VQ | VIRTIO_NET_F_CTRL_RX | \
	VIRTIO_NET_F_CTRL_MAC_ADDR)

/* ---- helpers ------------------------------------------------------------- */

static uint8_t pool[1 << 20];
static size_t pool_at;

/* A chain of n writable segments of lens[i] bytes, carved from pool. */
static void
mkchain(struct vq_chain *c, uint16_t head, const uint32_t *lens, unsigned n)
{
	memset(c, 0, sizeof(*c));
	c->head = head;
	for (unsigned i = 0; i < n; i++) {
		ck_assert_uint_le(pool_at + lens[i], sizeof(pool));
		c->seg[i] = (struct vq_seg){ .host = pool + pool_at,
		    .gpa = 0x100000 + pool_at, .len = lens[i], .write = true };
		memset(pool + pool_at, 0xee, lens[i]);
		pool_at += lens[i];
		c->in_len += lens[i];
	}
	c->nseg = (uint16_t)n;
}

/*
 * A tx chain holding len bytes of buf in readable segments cut at
 * cuts[0] < cuts[1] < ... (ncuts of them), then one writable segment
 * of wlen bytes if wlen is not 0.
 */
static void
mkout(struct vq_chain *c, const uint8_t *buf, uint32_t len,
    const uint32_t *cuts, unsigned ncuts, uint32_t wlen)
{
	uint32_t at = 0;

	memset(c, 0, sizeof(*c));
	ck_assert_uint_le(pool_at + len + wlen, sizeof(pool));
	for (unsigned i = 0; i <= ncuts; i++) {
		uint32_t end = i < ncuts ? cuts[i] : len;

		memcpy(pool + pool_at, buf + at, end - at);
		c->seg[c->nseg++] = (struct vq_seg){ .host = pool + pool_at,
		    .len = end - at };
		pool_at += end - at;
		at = end;
	}
	c->out_len = len;
	if (wlen) {
		c->seg[c->nseg++] = (struct vq_seg){ .host = pool + pool_at,
		    .len = wlen, .write = true };
		pool_at += wlen;
		c->in_len = wlen;
	}
}

/* Concatenates the first len writable bytes of c into out. */
static void
chain_bytes(const struct vq_chain *c, uint8_t *out, size_t len)
{
	size_t at = 0;

	for (unsigned i = 0; i < c->nseg && at < len; i++) {
		size_t n = c->seg[i].len < len - at ? c->seg[i].len : len - at;

		memcpy(out + at, c->seg[i].host, n);
		at += n;
	}
	ck_assert_uint_eq(at, len);
}

/* A message: header h, then an Ethernet frame of flen bytes to dst. */
static size_t
mkmsg(uint8_t *buf, const struct virtio_net_hdr_v1 *h, size_t flen,
    const uint8_t *dst)
{
	memcpy(buf, h, NET_HDR_LEN);
	for (size_t i = 0; i < flen; i++)
		buf[NET_HDR_LEN + i] = (uint8_t)(i * 7 + 3);
	if (flen >= 6)
		memcpy(buf + NET_HDR_LEN, dst ? dst : own_mac, 6);
	return NET_HDR_LEN + flen;
}

static void
setup(void)
{
	pool_at = 0;
}

/* ---- features ------------------------------------------------------------ */

START_TEST(test_features_offered)
{
	const uint64_t want = ALL_HOST | ALL_GUEST | VIRTIO_NET_F_MAC |
	    VIRTIO_NET_F_STATUS | VIRTIO_NET_F_MRG_RXBUF | CTRL |
	    VIRTIO_F_EVENT_IDX | VIRTIO_F_INDIRECT_DESC;
	const uint64_t never = VIRTIO_NET_F_GUEST_UFO | VIRTIO_NET_F_HOST_UFO |
	    VIRTIO_NET_F_MTU | VIRTIO_NET_F_CTRL_VLAN | VIRTIO_NET_F_MQ |
	    VIRTIO_NET_F_CTRL_RX_EXTRA | VIRTIO_NET_F_GUEST_ANNOUNCE |
	    VIRTIO_NET_F_CTRL_GUEST_OFFLOADS | VIRTIO_F_RING_PACKED;

	ck_assert_uint_eq(net_features(NET_BACKEND_TAP), want);
	ck_assert_uint_eq(net_features(NET_BACKEND_SWITCH), want);
	ck_assert_uint_eq(net_features(NET_BACKEND_NONE), 0);
	ck_assert_uint_eq(net_features(NET_BACKEND_TAP) & never, 0);
	/* What is offered is consistent: nothing is lost to dependencies. */
	ck_assert_uint_eq(net_effective(want), want);
}
END_TEST

START_TEST(test_effective)
{
	uint64_t f;

	/* GUEST_TSO needs GUEST_CSUM; GUEST_ECN needs a GUEST_TSO. */
	f = VIRTIO_NET_F_GUEST_TSO4 | VIRTIO_NET_F_GUEST_TSO6 |
	    VIRTIO_NET_F_GUEST_ECN | VIRTIO_NET_F_GUEST_UFO;
	ck_assert_uint_eq(net_effective(f), 0);
	f = VIRTIO_NET_F_GUEST_CSUM | VIRTIO_NET_F_GUEST_ECN;
	ck_assert_uint_eq(net_effective(f), VIRTIO_NET_F_GUEST_CSUM);
	f = VIRTIO_NET_F_GUEST_CSUM | VIRTIO_NET_F_GUEST_TSO6 |
	    VIRTIO_NET_F_GUEST_ECN;
	ck_assert_uint_eq(net_effective(f), f);
	/* The same on the host side with CSUM. */
	f = VIRTIO_NET_F_HOST_TSO4 | VIRTIO_NET_F_HOST_ECN;
	ck_assert_uint_eq(net_effective(f), 0);
	f = VIRTIO_NET_F_CSUM | VIRTIO_NET_F_HOST_ECN;
	ck_assert_uint_eq(net_effective(f), VIRTIO_NET_F_CSUM);
	f = VIRTIO_NET_F_CSUM | VIRTIO_NET_F_HOST_TSO4 | VIRTIO_NET_F_HOST_ECN;
	ck_assert_uint_eq(net_effective(f), f);
	/* Control features need the control queue. */
	f = VIRTIO_NET_F_CTRL_RX | VIRTIO_NET_F_CTRL_MAC_ADDR |
	    VIRTIO_NET_F_MRG_RXBUF;
	ck_assert_uint_eq(net_effective(f), VIRTIO_NET_F_MRG_RXBUF);
	ck_assert_uint_eq(net_effective(f | VIRTIO_NET_F_CTRL_VQ),
	    f | VIRTIO_NET_F_CTRL_VQ);
	ck_assert_uint_eq(net_effective(VIRTIO_NET_F_CTRL_VQ |
	    VIRTIO_NET_F_CTRL_RX_EXTRA), VIRTIO_NET_F_CTRL_VQ);
}
END_TEST

START_TEST(test_tun_offload)
{
	ck_assert_uint_eq(net_tun_offload(0), 0);
	ck_assert_uint_eq(net_tun_offload(ALL_HOST | CTRL), 0);
	ck_assert_uint_eq(net_tun_offload(VIRTIO_NET_F_GUEST_CSUM), TUN_F_CSUM);
	ck_assert_uint_eq(net_tun_offload(VIRTIO_NET_F_GUEST_CSUM |
	    VIRTIO_NET_F_GUEST_TSO4), TUN_F_CSUM | TUN_F_TSO4);
	ck_assert_uint_eq(net_tun_offload(VIRTIO_NET_F_GUEST_CSUM |
	    VIRTIO_NET_F_GUEST_TSO6), TUN_F_CSUM | TUN_F_TSO6);
	ck_assert_uint_eq(net_tun_offload(ALL_GUEST),
	    TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN);
	/* The kernel would refuse TSO without CSUM: none is asked. */
	ck_assert_uint_eq(net_tun_offload(VIRTIO_NET_F_GUEST_TSO4 |
	    VIRTIO_NET_F_GUEST_TSO6 | VIRTIO_NET_F_GUEST_ECN), 0);
	ck_assert_uint_eq(net_tun_offload(VIRTIO_NET_F_GUEST_CSUM |
	    VIRTIO_NET_F_GUEST_ECN), TUN_F_CSUM);
	ck_assert_uint_eq(net_tun_offload(VIRTIO_NET_F_GUEST_CSUM |
	    VIRTIO_NET_F_GUEST_UFO), TUN_F_CSUM | TUN_F_UFO);
}
END_TEST

START_TEST(test_tun_features)
{
	const uint64_t bits[] = { VIRTIO_NET_F_GUEST_CSUM,
	    VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_TSO6,
	    VIRTIO_NET_F_GUEST_ECN, VIRTIO_NET_F_GUEST_UFO };

	ck_assert_uint_eq(net_tun_features(0), 0);
	ck_assert_uint_eq(net_tun_features(TUN_F_TSO4 | TUN_F_TSO6), 0);
	ck_assert_uint_eq(net_tun_features(TUN_F_CSUM | TUN_F_TSO_ECN),
	    VIRTIO_NET_F_GUEST_CSUM);
	ck_assert_uint_eq(net_tun_features(TUN_F_CSUM | TUN_F_TSO4 |
	    TUN_F_TSO6 | TUN_F_TSO_ECN), ALL_GUEST);
	/* Both ways agree for every combination of the guest's bits. */
	for (unsigned m = 0; m < 32; m++) {
		uint64_t f = 0, back;

		for (unsigned i = 0; i < 5; i++)
			if (m & (1u << i))
				f |= bits[i];
		back = net_tun_features(net_tun_offload(f));
		if (back != net_effective(f))
			ck_abort_msg("mask %#x: %#llx back as %#llx", m,
			    (unsigned long long)net_effective(f),
			    (unsigned long long)back);
	}
}
END_TEST

/* ---- checksums ----------------------------------------------------------- */

/* Computed with an independent implementation (and Wikipedia's example). */
static const uint8_t udp_frame[] = {
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x52, 0x54, 0x00, 0xab, 0xcd,
	0xef, 0x08, 0x00, 0x45, 0x00, 0x00, 0x2c, 0x1c, 0x46, 0x40, 0x00,
	0x40, 0x11, 0x06, 0x6c, 0x0a, 0x00, 0x02, 0x0f, 0x0a, 0x00, 0x02,
	0x01, 0x9c, 0x40, 0x00, 0x35, 0x00, 0x18, 0x00, 0x00, 'c', 'u', 'p',
	'u', 'l', 'e', ' ', 'n', 'e', 't', ' ', 't', 'e', 's', 't', '!',
};
#define UDP_CSUM	0x8afd	/* at 14 + 20 + 6 */
#define UDP_SEED	0x1839	/* folded pseudo-header sum */

static const uint8_t tcp_frame[] = {	/* odd length: 3 bytes of data */
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x52, 0x54, 0x00, 0xab, 0xcd,
	0xef, 0x08, 0x00, 0x45, 0x00, 0x00, 0x2b, 0x00, 0x01, 0x40, 0x00,
	0x40, 0x06, 0x22, 0xbd, 0x0a, 0x00, 0x02, 0x0f, 0x0a, 0x00, 0x02,
	0x01, 0x80, 0xe8, 0x13, 0x89, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00,
	0x00, 0x00, 0x50, 0x18, 0xfa, 0xf0, 0x00, 0x00, 0x00, 0x00, 'o',
	'd', 'd',
};
#define TCP_CSUM	0x30ed	/* at 14 + 20 + 16 */
#define TCP_SEED	0x182d

START_TEST(test_csum_known)
{
	/* RFC 1071, 3: the words 0001 f203 f4f5 f6f7 sum to ddf2. */
	static const uint8_t rfc[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5,
	    0xf6, 0xf7 };
	/* The IPv4 header of Wikipedia's example: checksum b861. */
	uint8_t ip[] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00,
	    0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
	    0x00, 0xc7 };

	ck_assert_uint_eq(net_csum(rfc, sizeof(rfc), 0), 0x220d);
	ck_assert_uint_eq(net_csum(ip, sizeof(ip), 0), 0xb861);
	ip[10] = 0xb8;
	ip[11] = 0x61;
	ck_assert_uint_eq(net_csum(ip, sizeof(ip), 0), 0);
	/* The IP headers of the test frames are right as they stand. */
	ck_assert_uint_eq(net_csum(udp_frame + 14, 20, 0), 0);
	ck_assert_uint_eq(net_csum(tcp_frame + 14, 20, 0), 0);
	/* A seed is added in; an odd byte counts as its high half. */
	ck_assert_uint_eq(net_csum(NULL, 0, 0x1234), (uint16_t)~0x1234);
	ck_assert_uint_eq(net_csum((const uint8_t[]){ 0x12 }, 1, 0),
	    (uint16_t)~0x1200);
}
END_TEST

START_TEST(test_csum_fill)
{
	uint8_t f[sizeof(udp_frame) + sizeof(tcp_frame)];

	/* NEEDS_CSUM as a driver leaves it: the pseudo-header in the field. */
	memcpy(f, udp_frame, sizeof(udp_frame));
	f[40] = UDP_SEED >> 8;
	f[41] = UDP_SEED & 0xff;
	ck_assert_int_eq(net_csum_fill(f, sizeof(udp_frame), 34, 6), 0);
	ck_assert_uint_eq(f[40] << 8 | f[41], UDP_CSUM);
	ck_assert_mem_eq(f, udp_frame, 40);
	ck_assert_mem_eq(f + 42, udp_frame + 42, sizeof(udp_frame) - 42);

	memcpy(f, tcp_frame, sizeof(tcp_frame));
	f[50] = TCP_SEED >> 8;
	f[51] = TCP_SEED & 0xff;
	ck_assert_int_eq(net_csum_fill(f, sizeof(tcp_frame), 34, 16), 0);
	ck_assert_uint_eq(f[50] << 8 | f[51], TCP_CSUM);

	/* A sum that comes out 0 is stored as 0xffff. */
	memset(f, 0, sizeof(f));
	f[10] = f[11] = 0xff;	/* a seed of 0xffff, nothing else */
	ck_assert_uint_eq(net_csum(f + 10, 10, 0), 0);
	ck_assert_int_eq(net_csum_fill(f, 20, 10, 0), 0);
	ck_assert_uint_eq(f[10] << 8 | f[11], 0xffff);
	f[10] = f[11] = 0;	/* all zeroes: 0xffff on its own */
	ck_assert_int_eq(net_csum_fill(f, 20, 10, 0), 0);
	ck_assert_uint_eq(f[10] << 8 | f[11], 0xffff);
	f[12] = 0x12;
	f[13] = 0x34;
	f[10] = f[11] = 0;
	ck_assert_int_eq(net_csum_fill(f, 20, 10, 0), 0);
	ck_assert_uint_eq(f[10] << 8 | f[11], 0xedcb);

	/* The field must lie inside the frame, and nothing is written. */
	memset(f, 0x5a, sizeof(f));
	ck_assert_int_eq(net_csum_fill(f, 20, 18, 1), -EINVAL);
	ck_assert_int_eq(net_csum_fill(f, 20, 21, 0), -EINVAL);
	ck_assert_int_eq(net_csum_fill(f, 20, 0, 19), -EINVAL);
	ck_assert_int_eq(net_csum_fill(f, 20, 10, 0xfffffff0u), -EINVAL);
	for (unsigned i = 0; i < sizeof(f); i++)
		ck_assert_uint_eq(f[i], 0x5a);
	ck_assert_int_eq(net_csum_fill(f, 20, 18, 0), 0);
}
END_TEST

/* ---- tx checks ----------------------------------------------------------- */

static uint8_t msg[NET_MSG_MAX + 16];

static int
tx(const struct virtio_net_hdr_v1 *h, size_t flen, uint64_t f,
    const char **why)
{
	*why = NULL;
	return net_tx_check(msg, mkmsg(msg, h, flen, NULL), f, why);
}

/* Asserts a refusal whose reason mentions part. */
#define REFUSED(call, part) do {					\
	ck_assert_int_eq((call), -EINVAL);				\
	ck_assert_ptr_nonnull(why);					\
	ck_assert_msg(strstr(why, part) != NULL, "why: %s", why);	\
} while (0)

START_TEST(test_tx_valid)
{
	const uint64_t f = ALL_HOST;
	struct virtio_net_hdr_v1 h = { 0 };
	const char *why;

	ck_assert_int_eq(tx(&h, 14, 0, &why), 0);
	ck_assert_int_eq(tx(&h, 1514, 0, &why), 0);
	ck_assert_int_eq(tx(&h, NET_FRAME_MAX, 0, &why), 0);
	h = (struct virtio_net_hdr_v1){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
	    .csum_start = 34, .csum_offset = 6 };
	ck_assert_int_eq(tx(&h, 42, f, &why), 0);	/* field at the end */
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h.gso_size = 1448;
	h.hdr_len = 54;
	h.csum_offset = 16;
	ck_assert_int_eq(tx(&h, 60000, f, &why), 0);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6 | VIRTIO_NET_HDR_GSO_ECN;
	ck_assert_int_eq(tx(&h, 60000, f, &why), 0);
	/* num_buffers means nothing on tx. */
	h.num_buffers = 0xffff;
	ck_assert_int_eq(tx(&h, 60000, f, &why), 0);
}
END_TEST

START_TEST(test_tx_malformed)
{
	const uint64_t f = ALL_HOST;
	const struct virtio_net_hdr_v1 csum = {
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34,
		.csum_offset = 16 };
	struct virtio_net_hdr_v1 h = { 0 };
	const char *why;

	why = NULL;
	REFUSED(net_tx_check(msg, 11, f, &why), "header");
	REFUSED(net_tx_check(msg, 0, f, &why), "header");
	REFUSED(tx(&h, 0, f, &why), "shorter");
	REFUSED(tx(&h, 13, f, &why), "shorter");
	REFUSED(tx(&h, NET_FRAME_MAX + 1, f, &why), "longer");
	h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
	REFUSED(tx(&h, 60, f, &why), "flags");
	h.flags = VIRTIO_NET_HDR_F_RSC_INFO;
	REFUSED(tx(&h, 60, f, &why), "flags");
	h.flags = 0x80;
	REFUSED(tx(&h, 60, f, &why), "flags");

	/* NEEDS_CSUM: negotiated, and the field inside the frame. */
	h = csum;
	REFUSED(tx(&h, 60, 0, &why), "CSUM");
	REFUSED(tx(&h, 51, f, &why), "outside");
	ck_assert_int_eq(tx(&h, 52, f, &why), 0);
	h.csum_start = 0xffff;
	h.csum_offset = 0xffff;
	REFUSED(tx(&h, 60000, f, &why), "outside");

	/* GSO types. */
	h = csum;
	h.gso_size = 1448;
	h.gso_type = 2;
	REFUSED(tx(&h, 9000, f, &why), "unknown GSO");
	h.gso_type = 5;
	REFUSED(tx(&h, 9000, f, &why), "unknown GSO");
	h.gso_type = VIRTIO_NET_HDR_GSO_NONE | VIRTIO_NET_HDR_GSO_ECN;
	REFUSED(tx(&h, 9000, f, &why), "unknown GSO");
	h.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	REFUSED(tx(&h, 9000, f, &why), "not negotiated");
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	REFUSED(tx(&h, 9000, f & ~VIRTIO_NET_F_HOST_TSO4, &why),
	    "not negotiated");
	ck_assert_int_eq(tx(&h, 9000, f & ~VIRTIO_NET_F_HOST_TSO6, &why), 0);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	REFUSED(tx(&h, 9000, f & ~VIRTIO_NET_F_HOST_TSO6, &why),
	    "not negotiated");
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN;
	REFUSED(tx(&h, 9000, f & ~VIRTIO_NET_F_HOST_ECN, &why),
	    "not negotiated");
	/* HOST_TSO4 without CSUM does not count (5.1.3.1). */
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	REFUSED(tx(&h, 9000, VIRTIO_NET_F_HOST_TSO4, &why), "CSUM");

	/* GSO needs NEEDS_CSUM, an MSS and hdr_len inside the frame. */
	h.flags = 0;
	REFUSED(tx(&h, 9000, f, &why), "NEEDS_CSUM");
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.gso_size = 0;
	REFUSED(tx(&h, 9000, f, &why), "gso_size");
	h.gso_size = 1448;
	h.hdr_len = 9001;
	REFUSED(tx(&h, 9000, f, &why), "hdr_len");
	h.hdr_len = 9000;
	ck_assert_int_eq(tx(&h, 9000, f, &why), 0);
	/* Outside GSO hdr_len is a hint and not checked. */
	h = (struct virtio_net_hdr_v1){ .hdr_len = 0xffff };
	ck_assert_int_eq(tx(&h, 60, f, &why), 0);
}
END_TEST

/*
 * A frame as a driver may lay it out: the header cut anywhere, sharing
 * a descriptor with data, many small pieces; read once into a buffer,
 * as main.c does, it is the same frame and passes the same checks.
 */
START_TEST(test_tx_split)
{
	static const uint32_t cuts[][6] = {
		{ 0 }, { 12 }, { 5 }, { 5, 12, 13 }, { 11, 12, 30 },
		{ 1, 2, 3, 4, 20, 40 },
	};
	static const unsigned ncuts[] = { 0, 1, 1, 3, 3, 6 };
	/* The field in the last two bytes: one byte less is refused. */
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
	    .csum_start = 34, .csum_offset = sizeof(udp_frame) - 36 };
	static struct vq_chain c;
	static uint8_t b[256], got[256];
	const char *why = NULL;
	size_t len = mkmsg(b, &h, sizeof(udp_frame), NULL);

	memcpy(b + NET_HDR_LEN, udp_frame, sizeof(udp_frame));
	for (unsigned i = 0; i < sizeof(ncuts) / sizeof(ncuts[0]); i++) {
		pool_at = 0;
		mkout(&c, b, (uint32_t)len, cuts[i], ncuts[i], i == 3 ? 64 : 0);
		memset(got, 0, sizeof(got));
		ck_assert_uint_eq(vq_chain_read(&c, 0, got, c.out_len), len);
		ck_assert_mem_eq(got, b, len);
		ck_assert_int_eq(net_tx_check(got, len, ALL_HOST, &why), 0);
		ck_assert_int_eq(net_tx_check(got, len - 1, ALL_HOST, &why),
		    -EINVAL);
	}
}
END_TEST

/* ---- rx fix-up ----------------------------------------------------------- */

START_TEST(test_rx_fixup_csum)
{
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
	    .csum_start = 34, .csum_offset = 6, .num_buffers = 7 };
	uint8_t b[NET_HDR_LEN + sizeof(udp_frame)];
	struct virtio_net_hdr_v1 out;
	const char *why = NULL;
	bool sw = true;

	/* With GUEST_CSUM the partial checksum goes to the guest as is. */
	memcpy(b, &h, NET_HDR_LEN);
	memcpy(b + NET_HDR_LEN, udp_frame, sizeof(udp_frame));
	b[NET_HDR_LEN + 40] = UDP_SEED >> 8;
	b[NET_HDR_LEN + 41] = UDP_SEED & 0xff;
	ck_assert_int_eq(net_rx_fixup(b, sizeof(b), VIRTIO_NET_F_GUEST_CSUM,
	    &sw, &why), 0);
	ck_assert(!sw);
	memcpy(&out, b, NET_HDR_LEN);
	ck_assert_uint_eq(out.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	ck_assert_uint_eq(out.csum_start, 34);
	ck_assert_uint_eq(b[NET_HDR_LEN + 40] << 8 | b[NET_HDR_LEN + 41],
	    UDP_SEED);

	/* Without it the checksum is completed and flags cleared. */
	memcpy(b, &h, NET_HDR_LEN);
	ck_assert_int_eq(net_rx_fixup(b, sizeof(b), 0, &sw, &why), 0);
	ck_assert(sw);
	memcpy(&out, b, NET_HDR_LEN);
	ck_assert_uint_eq(out.flags, 0);
	ck_assert_uint_eq(out.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	ck_assert_uint_eq(b[NET_HDR_LEN + 40] << 8 | b[NET_HDR_LEN + 41],
	    UDP_CSUM);
	ck_assert_mem_eq(b + NET_HDR_LEN, udp_frame, 40);

	/* DATA_VALID: kept with GUEST_CSUM, cleared without; no sum. */
	h = (struct virtio_net_hdr_v1){ .flags = VIRTIO_NET_HDR_F_DATA_VALID };
	memcpy(b, &h, NET_HDR_LEN);
	ck_assert_int_eq(net_rx_fixup(b, sizeof(b), VIRTIO_NET_F_GUEST_CSUM,
	    &sw, &why), 0);
	ck_assert_uint_eq(b[0], VIRTIO_NET_HDR_F_DATA_VALID);
	ck_assert_int_eq(net_rx_fixup(b, sizeof(b), 0, &sw, &why), 0);
	ck_assert(!sw);
	ck_assert_uint_eq(b[0], 0);
	ck_assert_uint_eq(b[NET_HDR_LEN + 40] << 8 | b[NET_HDR_LEN + 41],
	    UDP_CSUM);
}
END_TEST

START_TEST(test_rx_fixup_gso)
{
	const uint64_t all = ALL_GUEST;
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
	    .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 1448,
	    .hdr_len = 54, .csum_start = 34, .csum_offset = 16 };
	static uint8_t b[NET_MSG_MAX];
	const char *why = NULL;
	size_t len;
	bool sw;

	len = mkmsg(b, &h, 30000, NULL);
	ck_assert_int_eq(net_rx_fixup(b, len, all, &sw, &why), 0);
	ck_assert_uint_eq(b[1], VIRTIO_NET_HDR_GSO_TCPV4);
	ck_assert_int_eq(net_rx_fixup(b, len, all & ~VIRTIO_NET_F_GUEST_TSO4,
	    &sw, &why), -EOPNOTSUPP);
	ck_assert_ptr_nonnull(why);
	/* TSO4 without GUEST_CSUM is no TSO4. */
	ck_assert_int_eq(net_rx_fixup(b, len, VIRTIO_NET_F_GUEST_TSO4, &sw,
	    &why), -EOPNOTSUPP);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	len = mkmsg(b, &h, 30000, NULL);
	ck_assert_int_eq(net_rx_fixup(b, len, all, &sw, &why), 0);
	ck_assert_int_eq(net_rx_fixup(b, len, all & ~VIRTIO_NET_F_GUEST_TSO6,
	    &sw, &why), -EOPNOTSUPP);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6 | VIRTIO_NET_HDR_GSO_ECN;
	len = mkmsg(b, &h, 30000, NULL);
	ck_assert_int_eq(net_rx_fixup(b, len, all, &sw, &why), 0);
	ck_assert_int_eq(net_rx_fixup(b, len, all & ~VIRTIO_NET_F_GUEST_ECN,
	    &sw, &why), -EOPNOTSUPP);
	/* UFO is never accepted: it is not offered. */
	h.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	len = mkmsg(b, &h, 30000, NULL);
	ck_assert_int_eq(net_rx_fixup(b, len, all, &sw, &why), -EOPNOTSUPP);
}
END_TEST

START_TEST(test_rx_fixup_malformed)
{
	struct virtio_net_hdr_v1 h = { 0 };
	static uint8_t b[NET_MSG_MAX + 1];
	const char *why;
	size_t len;
	bool sw;

#define RX_REFUSED(hh, flen, part) do {					\
	why = NULL;							\
	len = mkmsg(b, &(hh), (flen), NULL);				\
	ck_assert_int_eq(net_rx_fixup(b, len, ALL_GUEST, &sw, &why), -EINVAL); \
	ck_assert_ptr_nonnull(why);					\
	ck_assert_msg(strstr(why, part) != NULL, "why: %s", why);	\
} while (0)

	ck_assert_int_eq(net_rx_fixup(b, 11, ALL_GUEST, &sw, &why), -EINVAL);
	RX_REFUSED(h, 13, "shorter");
	RX_REFUSED(h, NET_FRAME_MAX + 1, "longer");
	h.flags = VIRTIO_NET_HDR_F_RSC_INFO;
	RX_REFUSED(h, 60, "flags");
	h = (struct virtio_net_hdr_v1){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
	    .csum_start = 50, .csum_offset = 9 };
	RX_REFUSED(h, 60, "outside");
	h = (struct virtio_net_hdr_v1){ .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
	    .gso_size = 1000 };
	RX_REFUSED(h, 3000, "NEEDS_CSUM");
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.gso_size = 0;
	RX_REFUSED(h, 3000, "gso_size");
	h.gso_type = 6;
	h.gso_size = 1000;
	RX_REFUSED(h, 3000, "unknown GSO");
	/* A refused frame is left as it was. */
	ck_assert_uint_eq(b[1], 6);
#undef RX_REFUSED
}
END_TEST

/* ---- rx spreading -------------------------------------------------------- */

static struct vq_chain chains[8];
static const struct vq_chain *cp[8] = {
	&chains[0], &chains[1], &chains[2], &chains[3],
	&chains[4], &chains[5], &chains[6], &chains[7],
};

START_TEST(test_fit_single)
{
	unsigned k = 99;

	mkchain(&chains[0], 3, (const uint32_t[]){ 1526 }, 1);
	ck_assert_int_eq(net_rx_fit(cp, 0, 256, 100, false, &k), NET_FIT_MORE);
	/* Shorter than a header: no message at all. */
	ck_assert_int_eq(net_rx_fit(cp, 1, 256, 11, false, &k),
	    NET_FIT_TOO_BIG);
	ck_assert_int_eq(net_rx_fit(cp, 1, 256, 11, true, &k),
	    NET_FIT_TOO_BIG);
	ck_assert_int_eq(net_rx_fit(cp, 0, 0, 100, false, &k),
	    NET_FIT_TOO_BIG);
	ck_assert_int_eq(net_rx_fit(cp, 1, 256, 1526, false, &k), NET_FIT_OK);
	ck_assert_uint_eq(k, 1);
	/* Without mergeable buffers one chain must hold it all. */
	k = 99;
	ck_assert_int_eq(net_rx_fit(cp, 1, 256, 1527, false, &k),
	    NET_FIT_TOO_BIG);
	ck_assert_uint_eq(k, 99);
	mkchain(&chains[1], 4, (const uint32_t[]){ 65562 }, 1);
	ck_assert_int_eq(net_rx_fit(cp, 2, 256, 1527, false, &k),
	    NET_FIT_TOO_BIG);	/* chain 0 first: it is the oldest */
	/* A first chain that cannot take a header is returned. */
	mkchain(&chains[0], 3, (const uint32_t[]){ 11 }, 1);
	ck_assert_int_eq(net_rx_fit(cp, 1, 256, 40, false, &k),
	    NET_FIT_BAD_FIRST);
	ck_assert_int_eq(net_rx_fit(cp, 2, 256, 40, true, &k),
	    NET_FIT_BAD_FIRST);
	mkchain(&chains[0], 3, (const uint32_t[]){ 12 }, 1);
	ck_assert_int_eq(net_rx_fit(cp, 1, 256, 40, false, &k),
	    NET_FIT_TOO_BIG);
}
END_TEST

START_TEST(test_fit_mergeable)
{
	unsigned k = 0;

	for (unsigned i = 0; i < 5; i++)
		mkchain(&chains[i], (uint16_t)(10 + i),
		    (const uint32_t[]){ 1500 }, 1);
	ck_assert_int_eq(net_rx_fit(cp, 5, 256, 1500, true, &k), NET_FIT_OK);
	ck_assert_uint_eq(k, 1);
	ck_assert_int_eq(net_rx_fit(cp, 5, 256, 1501, true, &k), NET_FIT_OK);
	ck_assert_uint_eq(k, 2);
	ck_assert_int_eq(net_rx_fit(cp, 5, 256, 4000, true, &k), NET_FIT_OK);
	ck_assert_uint_eq(k, 3);
	ck_assert_int_eq(net_rx_fit(cp, 5, 256, 7500, true, &k), NET_FIT_OK);
	ck_assert_uint_eq(k, 5);
	/* Not enough yet: more chains, unless the queue has no more. */
	ck_assert_int_eq(net_rx_fit(cp, 5, 256, 7501, true, &k), NET_FIT_MORE);
	ck_assert_int_eq(net_rx_fit(cp, 2, 256, 4000, true, &k), NET_FIT_MORE);
	ck_assert_int_eq(net_rx_fit(cp, 5, 5, 7501, true, &k),
	    NET_FIT_TOO_BIG);
	ck_assert_int_eq(net_rx_fit(cp, 5, 4, 7501, true, &k),
	    NET_FIT_TOO_BIG);
	/* Later chains may be short, even empty. */
	mkchain(&chains[1], 11, (const uint32_t[]){ 0 }, 0);
	mkchain(&chains[2], 12, (const uint32_t[]){ 3 }, 1);
	ck_assert_int_eq(net_rx_fit(cp, 5, 256, 1503, true, &k), NET_FIT_OK);
	ck_assert_uint_eq(k, 3);
	ck_assert_int_eq(net_rx_fit(cp, 5, 256, 1504, true, &k), NET_FIT_OK);
	ck_assert_uint_eq(k, 4);
}
END_TEST

/* Spreads a frame of len bytes over the chains of lens and checks it. */
static void
spread(const uint32_t *const *lens, const unsigned *nseg, unsigned n,
    size_t flen, unsigned want_k, const uint32_t *want_written)
{
	static uint8_t b[NET_MSG_MAX], copy[NET_MSG_MAX], got[NET_MSG_MAX];
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_DATA_VALID };
	uint32_t written[8];
	size_t len, at = 0;
	unsigned k = 0;

	pool_at = 0;
	for (unsigned i = 0; i < n; i++)
		mkchain(&chains[i], (uint16_t)(20 + i), lens[i], nseg[i]);
	len = mkmsg(b, &h, flen, NULL);
	memcpy(copy, b, len);
	ck_assert_int_eq(net_rx_fit(cp, n, 256, len, true, &k), NET_FIT_OK);
	ck_assert_uint_eq(k, want_k);
	net_rx_write(cp, k, b, len, written);
	for (unsigned i = 0; i < k; i++) {
		ck_assert_uint_eq(written[i], want_written[i]);
		chain_bytes(&chains[i], got + at, written[i]);
		at += written[i];
	}
	ck_assert_uint_eq(at, len);
	/* The header says how many chains; everything else is the frame. */
	ck_assert_uint_eq(got[10] | got[11] << 8, k);
	ck_assert_uint_eq(b[10] | b[11] << 8, k);
	ck_assert_mem_eq(got, copy, 10);
	ck_assert_mem_eq(got + NET_HDR_LEN, copy + NET_HDR_LEN,
	    len - NET_HDR_LEN);
	/* Nothing was written past the frame (pool bytes stay 0xee). */
	if (k > 0 && written[k - 1] < chains[k - 1].in_len) {
		size_t last = written[k - 1];

		chain_bytes(&chains[k - 1], got, last + 1);
		ck_assert_uint_eq(got[last], 0xee);
	}
}

START_TEST(test_spread)
{
	/* One chain, no spreading: num_buffers is 1. */
	spread((const uint32_t *[]){ (const uint32_t[]){ 1526 } },
	    (const unsigned[]){ 1 }, 1, 1514, 1, (const uint32_t[]){ 1526 });
	spread((const uint32_t *[]){ (const uint32_t[]){ 4096 } },
	    (const unsigned[]){ 1 }, 1, 60, 1, (const uint32_t[]){ 72 });
	/* Page-sized buffers, a 64 KiB GSO frame. */
	{
		const uint32_t l[] = { 4096 };
		const uint32_t *ls[8] = { l, l, l, l, l, l, l, l };
		const unsigned ns[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };
		const uint32_t w[8] = { 4096, 4096, 4096, 4096, 4096, 4096,
		    4096, 4096 };

		spread(ls, ns, 8, 8 * 4096 - NET_HDR_LEN, 8, w);
		spread(ls, ns, 8, 4096, 2, (const uint32_t[]){ 4096, 12 });
	}
	/* Odd shapes: the header split over segments, empty middle chain. */
	spread((const uint32_t *[]){ (const uint32_t[]){ 5, 7, 100 },
	    (const uint32_t[]){ 0 }, (const uint32_t[]){ 1, 1, 1 },
	    (const uint32_t[]){ 3000 } }, (const unsigned[]){ 3, 0, 3, 1 }, 4,
	    1000, 4, (const uint32_t[]){ 112, 0, 3, 897 });
	/* Exactly full. */
	spread((const uint32_t *[]){ (const uint32_t[]){ 12 },
	    (const uint32_t[]){ 14 } }, (const unsigned[]){ 1, 1 }, 2, 14, 2,
	    (const uint32_t[]){ 12, 14 });
}
END_TEST

/*
 * The whole rx path from a descriptor table: vq_pop() takes chains the
 * driver posted, the frame is spread over them and pushed, and the
 * driver finds it in the used ring and its buffers.
 */
START_TEST(test_rx_through_virtqueue)
{
	const uint64_t base = 0x200000, size = 0x40000;
	uint8_t *mem = calloc(1, size);
	struct gmem gm = { .n = 1, .r = { { base, size, mem } } };
	struct vq_state q = { .size = 8, .ready = 1, .desc = base,
	    .avail = base + 0x1000, .used = base + 0x2000 };
	static struct vq_chain c[4];
	const struct vq_chain *p[4] = { &c[0], &c[1], &c[2], &c[3] };
	static uint8_t b[NET_MSG_MAX], copy[NET_MSG_MAX];
	struct virtio_net_hdr_v1 h = { 0 };
	uint32_t written[4], used[8];
	uint16_t idx = 4;
	unsigned n = 0, k = 0;
	size_t len;

	ck_assert_ptr_nonnull(mem);
	/* Four 2 KiB buffers, one descriptor each, posted in order. */
	for (uint16_t i = 0; i < 4; i++) {
		struct virtq_desc d = { base + 0x10000 + i * 0x1000u, 2048,
		    VIRTQ_DESC_F_WRITE, 0 };

		memcpy(mem + i * 16, &d, sizeof(d));
		memcpy(mem + 0x1000 + 4 + 2 * i, &i, 2);
	}
	memcpy(mem + 0x1000 + 2, &idx, 2);
	len = mkmsg(b, &h, 5000, NULL);
	memcpy(copy, b, len);
	while (net_rx_fit(p, n, q.size, len, true, &k) == NET_FIT_MORE) {
		ck_assert_int_eq(vq_pop(&gm, &q, false, &c[n]), 1);
		n++;
	}
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(k, 3);
	net_rx_write(p, k, b, len, written);
	for (unsigned i = 0; i < k; i++)
		ck_assert_int_eq(vq_push(&gm, &q, c[i].head, written[i]), 0);
	memcpy(used, mem + 0x2000 + 4, sizeof(used));
	ck_assert_uint_eq(used[0], 0);
	ck_assert_uint_eq(used[1], 2048);
	ck_assert_uint_eq(used[2], 1);
	ck_assert_uint_eq(used[3], 2048);
	ck_assert_uint_eq(used[4], 2);
	ck_assert_uint_eq(used[5], len - 4096);
	ck_assert_uint_eq(mem[0x2002], 3);	/* used->idx */
	/* The driver reads the frame back across its three buffers. */
	ck_assert_uint_eq(mem[0x10000 + 10], 3);	/* num_buffers */
	ck_assert_mem_eq(mem + 0x10000 + NET_HDR_LEN, copy + NET_HDR_LEN,
	    2048 - NET_HDR_LEN);
	ck_assert_mem_eq(mem + 0x11000, copy + 2048, 2048);
	ck_assert_mem_eq(mem + 0x12000, copy + 4096, len - 4096);
	ck_assert_uint_eq(mem[0x12000 + len - 4096], 0);	/* untouched */
	free(mem);
}
END_TEST

/* ---- filter and control queue ------------------------------------------- */

static const uint8_t mc1[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
static const uint8_t mc2[6] = { 0x33, 0x33, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t bc[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

START_TEST(test_filter)
{
	struct net_rxfilter f;
	const uint64_t feat = CTRL;

	net_filter_reset(&f);
	ck_assert_uint_eq(f.promisc, 1);
	ck_assert_uint_eq(f.allmulti, 0);
	ck_assert_uint_eq(f.n_uni + f.n_multi, 0);
	ck_assert(net_filter_accept(&f, own_mac, feat, other_mac));

	f.promisc = 0;
	ck_assert(net_filter_accept(&f, own_mac, feat, own_mac));
	ck_assert(net_filter_accept(&f, own_mac, feat, bc));
	ck_assert(!net_filter_accept(&f, own_mac, feat, other_mac));
	ck_assert(!net_filter_accept(&f, own_mac, feat, mc1));
	/* Without CTRL_RX the driver cannot filter: everything goes. */
	ck_assert(net_filter_accept(&f, own_mac, 0, other_mac));
	ck_assert(net_filter_accept(&f, own_mac, VIRTIO_NET_F_CTRL_RX,
	    other_mac));
	/* allmulti takes every multicast, not other unicast. */
	f.allmulti = 1;
	ck_assert(net_filter_accept(&f, own_mac, feat, mc1));
	ck_assert(net_filter_accept(&f, own_mac, feat, mc2));
	ck_assert(!net_filter_accept(&f, own_mac, feat, other_mac));
	f.allmulti = 0;
	/* Table entries, each kind in its part. */
	f.n_uni = 1;
	f.n_multi = 1;
	memcpy(f.mac[0], other_mac, 6);
	memcpy(f.mac[1], mc2, 6);
	ck_assert(net_filter_accept(&f, own_mac, feat, other_mac));
	ck_assert(net_filter_accept(&f, own_mac, feat, mc2));
	ck_assert(!net_filter_accept(&f, own_mac, feat, mc1));
	memcpy(f.mac[0], mc1, 6);	/* multicast in the unicast part */
	ck_assert(!net_filter_accept(&f, own_mac, feat, mc1));
	/* Overflow: the whole kind. */
	f.multi_overflow = 1;
	ck_assert(net_filter_accept(&f, own_mac, feat, mc1));
	ck_assert(!net_filter_accept(&f, own_mac, feat, other_mac));
	f.uni_overflow = 1;
	ck_assert(net_filter_accept(&f, own_mac, feat, other_mac));
	/* Counts beyond the table (shared memory) are bounded. */
	memset(&f, 0, sizeof(f));
	f.n_uni = 200;
	f.n_multi = 200;
	ck_assert(!net_filter_accept(&f, own_mac, feat, other_mac));
	ck_assert(!net_filter_accept(&f, own_mac, feat, mc1));
}
END_TEST

/* Runs a control command of len bytes at cmd. */
static uint8_t
ctrl(struct net_rxfilter *f, uint8_t *mac, uint64_t feat, const void *cmd,
    size_t len)
{
	const char *why = "unset";
	uint8_t ack = net_ctrl(f, mac, feat, cmd, len, &why);

	if (ack == VIRTIO_NET_ERR)
		ck_assert_msg(why != NULL && strcmp(why, "unset") != 0,
		    "no reason given");
	return ack;
}

START_TEST(test_ctrl_rx)
{
	struct net_rxfilter f;
	uint8_t mac[6];

	memcpy(mac, own_mac, 6);
	net_filter_reset(&f);
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, "\x00\x00\x00", 3),
	    VIRTIO_NET_OK);
	ck_assert_uint_eq(f.promisc, 0);
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, "\x00\x01\x07", 3),
	    VIRTIO_NET_OK);
	ck_assert_uint_eq(f.allmulti, 1);
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, "\x00\x00\x01", 3),
	    VIRTIO_NET_OK);
	ck_assert_uint_eq(f.promisc, 1);
	/* Refusals change nothing. */
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, "\x00\x00", 2), VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, "\x00\x00\x00\x00", 4),
	    VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, "\x00\x02\x01", 3),
	    VIRTIO_NET_ERR);	/* ALLUNI: CTRL_RX_EXTRA is not offered */
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, "\x00\x05\x01", 3),
	    VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl(&f, mac, VIRTIO_NET_F_CTRL_VQ, "\x00\x00\x00",
	    3), VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl(&f, mac, VIRTIO_NET_F_CTRL_RX, "\x00\x00\x00",
	    3), VIRTIO_NET_ERR);	/* CTRL_RX without CTRL_VQ */
	ck_assert_uint_eq(f.promisc, 1);
	ck_assert_uint_eq(f.allmulti, 1);
	/* No class or command; classes not offered. */
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, "", 0), VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, "\x00", 1), VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, "\x02\x00\x01\x00", 4),
	    VIRTIO_NET_ERR);	/* VLAN */
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, "\x03\x00", 2),
	    VIRTIO_NET_ERR);	/* ANNOUNCE */
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, "\x04\x00\x01\x00", 4),
	    VIRTIO_NET_ERR);	/* MQ */
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, "\x05\x00\0\0\0\0\0\0\0\0", 10),
	    VIRTIO_NET_ERR);	/* GUEST_OFFLOADS */
	ck_assert_mem_eq(mac, own_mac, 6);
}
END_TEST

/* Builds MAC_TABLE_SET with nu unicast and nm multicast entries. */
static size_t
mac_table(uint8_t *b, uint32_t nu, uint32_t nm)
{
	size_t at = 0;

	b[at++] = VIRTIO_NET_CTRL_MAC;
	b[at++] = VIRTIO_NET_CTRL_MAC_TABLE_SET;
	memcpy(b + at, &nu, 4);
	at += 4;
	for (uint32_t i = 0; i < nu; i++) {
		memcpy(b + at, other_mac, 6);
		b[at + 5] = (uint8_t)i;
		at += 6;
	}
	memcpy(b + at, &nm, 4);
	at += 4;
	for (uint32_t i = 0; i < nm; i++) {
		memcpy(b + at, mc1, 6);
		b[at + 5] = (uint8_t)i;
		at += 6;
	}
	return at;
}

START_TEST(test_ctrl_mac_table)
{
	static uint8_t b[4096];
	struct net_rxfilter f, before;
	uint8_t mac[6], m[6];
	uint32_t huge = 0xffffffffu;
	size_t len;

	memcpy(mac, own_mac, 6);
	net_filter_reset(&f);
	f.promisc = 0;
	len = mac_table(b, 2, 3);
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, b, len), VIRTIO_NET_OK);
	ck_assert_uint_eq(f.n_uni, 2);
	ck_assert_uint_eq(f.n_multi, 3);
	ck_assert_uint_eq(f.uni_overflow | f.multi_overflow, 0);
	memcpy(m, other_mac, 6);
	m[5] = 1;
	ck_assert(net_filter_accept(&f, mac, CTRL, m));
	m[5] = 2;
	ck_assert(!net_filter_accept(&f, mac, CTRL, m));
	memcpy(m, mc1, 6);
	m[5] = 2;
	ck_assert(net_filter_accept(&f, mac, CTRL, m));
	m[5] = 3;
	ck_assert(!net_filter_accept(&f, mac, CTRL, m));

	/* Malformed tables are refused whole, the filter kept. */
	before = f;
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, b, len - 1), VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, b, len + 1), VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, b, 5), VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, b, 2 + 4 + 12), VIRTIO_NET_ERR);
	len = mac_table(b, 0, 0);
	memcpy(b + 2, &huge, 4);
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, b, len), VIRTIO_NET_ERR);
	len = mac_table(b, 1, 0);
	memcpy(b + 2 + 4 + 6, &huge, 4);
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, b, len), VIRTIO_NET_ERR);
	len = mac_table(b, 1, 1);
	ck_assert_uint_eq(ctrl(&f, mac, VIRTIO_NET_F_CTRL_VQ, b, len),
	    VIRTIO_NET_ERR);	/* needs CTRL_RX */
	ck_assert_mem_eq(&f, &before, sizeof(f));

	/* Empty tables are fine. */
	len = mac_table(b, 0, 0);
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, b, len), VIRTIO_NET_OK);
	ck_assert_uint_eq(f.n_uni + f.n_multi, 0);

	/* Longer than the table: the overflowing kind is accepted whole. */
	len = mac_table(b, NET_MAC_TABLE + 1, 2);
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, b, len), VIRTIO_NET_OK);
	ck_assert_uint_eq(f.n_uni, NET_MAC_TABLE);
	ck_assert_uint_eq(f.uni_overflow, 1);
	ck_assert_uint_eq(f.n_multi, 0);
	ck_assert_uint_eq(f.multi_overflow, 1);
	len = mac_table(b, 60, 4);
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, b, len), VIRTIO_NET_OK);
	ck_assert_uint_eq(f.n_uni, 60);
	ck_assert_uint_eq(f.n_multi, 4);
	ck_assert_uint_eq(f.uni_overflow | f.multi_overflow, 0);
	len = mac_table(b, 60, 5);
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, b, len), VIRTIO_NET_OK);
	ck_assert_uint_eq(f.n_multi, 4);
	ck_assert_uint_eq(f.multi_overflow, 1);
	ck_assert_uint_eq(f.uni_overflow, 0);
}
END_TEST

START_TEST(test_ctrl_mac_addr)
{
	struct net_rxfilter f;
	uint8_t mac[6], cmd[8] = { VIRTIO_NET_CTRL_MAC,
	    VIRTIO_NET_CTRL_MAC_ADDR_SET };

	memcpy(mac, own_mac, 6);
	net_filter_reset(&f);
	memcpy(cmd + 2, other_mac, 6);
	ck_assert_uint_eq(ctrl(&f, mac, VIRTIO_NET_F_CTRL_VQ |
	    VIRTIO_NET_F_CTRL_RX, cmd, 8), VIRTIO_NET_ERR);
	ck_assert_mem_eq(mac, own_mac, 6);
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, cmd, 7), VIRTIO_NET_ERR);
	ck_assert_mem_eq(mac, own_mac, 6);
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, cmd, 8), VIRTIO_NET_OK);
	ck_assert_mem_eq(mac, other_mac, 6);
	/* The filter follows the new address. */
	f.promisc = 0;
	ck_assert(net_filter_accept(&f, mac, CTRL, other_mac));
	ck_assert(!net_filter_accept(&f, mac, CTRL, own_mac));
	memcpy(cmd + 2, mc1, 6);
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, cmd, 8), VIRTIO_NET_ERR);
	ck_assert_mem_eq(mac, other_mac, 6);
	cmd[1] = 2;
	ck_assert_uint_eq(ctrl(&f, mac, CTRL, cmd, 8), VIRTIO_NET_ERR);
}
END_TEST

/* ---- configuration and the persistent area ------------------------------ */

START_TEST(test_parse_mac)
{
	uint8_t m[6] = { 0 };

	ck_assert_int_eq(net_parse_mac("52:54:00:12:34:56", m), 0);
	ck_assert_mem_eq(m, own_mac, 6);
	ck_assert_int_eq(net_parse_mac("52:54:00:AB:cd:Ef", m), 0);
	ck_assert_mem_eq(m, other_mac, 6);
	ck_assert_int_eq(net_parse_mac("52:54:00:12:34", m), -EINVAL);
	ck_assert_int_eq(net_parse_mac("52:54:00:12:34:56:78", m), -EINVAL);
	ck_assert_int_eq(net_parse_mac("52:54:00:12:34:5", m), -EINVAL);
	ck_assert_int_eq(net_parse_mac("52-54-00-12-34-56", m), -EINVAL);
	ck_assert_int_eq(net_parse_mac("52:54:00:12:34:5g", m), -EINVAL);
	ck_assert_int_eq(net_parse_mac("5:254:00:12:34:56", m), -EINVAL);
	ck_assert_int_eq(net_parse_mac("", m), -EINVAL);
	ck_assert_int_eq(net_parse_mac("53:54:00:12:34:56", m), -EINVAL);
	ck_assert_int_eq(net_parse_mac("ff:ff:ff:ff:ff:ff", m), -EINVAL);
	ck_assert_mem_eq(m, other_mac, 6);	/* refusals write nothing */
}
END_TEST

START_TEST(test_config)
{
	struct virtio_net_config c;
	uint8_t raw[sizeof(c)];

	memset(&c, 0xaa, sizeof(c));
	net_config(&c, own_mac, true);
	memcpy(raw, &c, sizeof(raw));
	ck_assert_uint_eq(sizeof(raw), 10);
	ck_assert_mem_eq(raw, own_mac, 6);
	ck_assert_uint_eq(raw[6] | raw[7] << 8, VIRTIO_NET_S_LINK_UP);
	ck_assert_uint_eq(raw[8] | raw[9] << 8, 1);
	net_config(&c, own_mac, false);
	memcpy(raw, &c, sizeof(raw));
	ck_assert_uint_eq(raw[6] | raw[7] << 8, 0);
}
END_TEST

START_TEST(test_persist)
{
	static struct net_persist p;
	uint8_t *raw = (uint8_t *)&p;

	ck_assert_uint_le(sizeof(p), VIRTIO_DEV_AREA);
	ck_assert_uint_eq(offsetof(struct net_persist, counter), 0x30);
	ck_assert_uint_eq(offsetof(struct net_persist, rx_ent), 0x400);
	memset(&p, 0xff, sizeof(p));
	ck_assert_int_eq(net_persist_check(&p), -EPROTO);
	net_persist_init(&p);
	ck_assert_int_eq(net_persist_check(&p), 0);
	ck_assert_mem_eq(raw, "CUNP", 4);
	ck_assert_uint_eq(p.filter.promisc, 1);
	for (unsigned i = 0; i < NET_COUNTER_SLOTS; i++)
		ck_assert_uint_eq(p.counter[i], 0);
	for (unsigned i = 0; i < NET_NUM_QUEUES; i++)
		ck_assert_uint_eq(p.rec[i], 0);

	/* What a successor refuses. */
	p.version = 2;
	ck_assert_int_eq(net_persist_check(&p), -EPROTO);
	p.version = NET_PERSIST_VERSION;
	p.rec[1] = net_rec(3, 0, 0, 0);
	ck_assert_int_eq(net_persist_check(&p), -EPROTO);
	p.rec[1] = net_rec(NET_REC_PUBLISH, 1, 2, 3);
	ck_assert_int_eq(net_persist_check(&p), 0);
	p.filter.n_uni = 40;
	p.filter.n_multi = 25;
	ck_assert_int_eq(net_persist_check(&p), -EPROTO);
	p.filter.n_multi = 24;
	ck_assert_int_eq(net_persist_check(&p), 0);
	p.ncounters = NET_COUNTER_SLOTS + 1;
	ck_assert_int_eq(net_persist_check(&p), -EPROTO);
	p.ncounters = 3;	/* an older process had fewer: fine */
	ck_assert_int_eq(net_persist_check(&p), 0);
}
END_TEST

START_TEST(test_counters)
{
	static struct net_persist p;

	/* Every counter has its own name. */
	for (unsigned i = 0; i < NET_COUNTERS; i++) {
		ck_assert_ptr_nonnull(net_counter_name[i]);
		for (unsigned j = 0; j < i; j++)
			ck_assert_str_ne(net_counter_name[i],
			    net_counter_name[j]);
	}
	ck_assert_str_eq(net_counter_name[NET_RX_NO_BUFFER], "rx_no_buffer");
	ck_assert_str_eq(net_counter_name[NET_TX_MALFORMED], "tx_malformed");

	/* They add up, and a successor's check keeps them. */
	net_persist_init(&p);
	net_count(&p, NET_RX_FRAMES, 1);
	net_count(&p, NET_RX_FRAMES, 2);
	net_count(&p, NET_TX_BYTES, 1514);
	net_count(&p, NET_RX_GSO_UNSUPPORTED, 1);
	ck_assert_int_eq(net_persist_check(&p), 0);
	ck_assert_uint_eq(p.counter[NET_RX_FRAMES], 3);
	ck_assert_uint_eq(p.counter[NET_TX_BYTES], 1514);
	ck_assert_uint_eq(p.counter[NET_RX_GSO_UNSUPPORTED], 1);
	ck_assert_uint_eq(p.counter[NET_TX_FRAMES], 0);
	ck_assert_uint_eq(*(uint64_t *)((uint8_t *)&p + 0x30), 3);
}
END_TEST

/* ---- restart records ----------------------------------------------------- */

/* A queue of 8 in fake memory with n one-descriptor chains posted. */
struct ring {
	uint8_t *mem;
	struct gmem gm;
	struct vq_state q;
};

static const uint64_t rbase = 0x400000;

static void
ring_new(struct ring *r, uint16_t n)
{
	r->mem = calloc(1, 0x20000);
	ck_assert_ptr_nonnull(r->mem);
	r->gm = (struct gmem){ .n = 1, .r = { { rbase, 0x20000, r->mem } } };
	r->q = (struct vq_state){ .size = 8, .ready = 1, .desc = rbase,
	    .avail = rbase + 0x1000, .used = rbase + 0x2000 };
	for (uint16_t i = 0; i < 8; i++) {
		struct virtq_desc d = { rbase + 0x4000 + i * 0x800u, 2048,
		    VIRTQ_DESC_F_WRITE, 0 };

		memcpy(r->mem + i * 16, &d, sizeof(d));
	}
	for (uint16_t i = 0; i < n; i++) {
		uint16_t head = (uint16_t)(7 - i);	/* heads in any order */

		memcpy(r->mem + 0x1000 + 4 + 2 * i, &head, 2);
	}
	memcpy(r->mem + 0x1000 + 2, &n, 2);
}

static uint16_t
used_idx(const struct ring *r)
{
	uint16_t v;

	memcpy(&v, r->mem + 0x2002, 2);
	return v;
}

static void
used_elem(const struct ring *r, unsigned i, uint32_t *id, uint32_t *len)
{
	memcpy(id, r->mem + 0x2004 + 8 * i, 4);
	memcpy(len, r->mem + 0x2008 + 8 * i, 4);
}

START_TEST(test_rec_word)
{
	uint64_t r = net_rec(NET_REC_PUBLISH, 0xfffe, 0x1234, 0x0100);

	ck_assert_uint_eq(net_rec_state(r), NET_REC_PUBLISH);
	ck_assert_uint_eq(net_rec_base(r), 0xfffe);
	ck_assert_uint_eq(net_rec_used(r), 0x1234);
	ck_assert_uint_eq(net_rec_n(r), 0x0100);
	ck_assert_uint_eq(net_rec(NET_REC_IDLE, 0, 0, 0), 0);
}
END_TEST

START_TEST(test_rec_held_rewinds)
{
	static struct vq_chain c[4];
	struct ring r;
	uint64_t rec;
	struct net_ent ent[1] = { { 0 } };

	ring_new(&r, 5);
	/* Take two, return one: the record starts at the third. */
	ck_assert_int_eq(vq_pop(&r.gm, &r.q, false, &c[0]), 1);
	ck_assert_int_eq(vq_push(&r.gm, &r.q, c[0].head, 0), 0);
	rec = net_rec(NET_REC_HELD, r.q.last_avail, r.q.used_idx, 0);
	for (unsigned i = 1; i < 4; i++)
		ck_assert_int_eq(vq_pop(&r.gm, &r.q, false, &c[i]), 1);
	ck_assert_uint_eq(r.q.last_avail, 4);
	/* The process dies; its successor takes the three chains again. */
	ck_assert_int_eq(net_rec_recover(&rec, &r.q, ent, 1, &r.gm), 3);
	ck_assert_uint_eq(rec, 0);
	ck_assert_uint_eq(r.q.last_avail, 1);
	ck_assert_uint_eq(r.q.used_idx, 1);
	ck_assert_uint_eq(used_idx(&r), 1);
	for (unsigned i = 1; i < 4; i++) {
		static struct vq_chain again;

		ck_assert_int_eq(vq_pop(&r.gm, &r.q, false, &again), 1);
		ck_assert_uint_eq(again.head, c[i].head);
	}
	/* A record before the pop it covers: nothing was taken. */
	rec = net_rec(NET_REC_HELD, r.q.last_avail, r.q.used_idx, 0);
	ck_assert_int_eq(net_rec_recover(&rec, &r.q, ent, 1, &r.gm), 0);
	ck_assert_uint_eq(r.q.last_avail, 4);
	free(r.mem);
}
END_TEST

START_TEST(test_rec_publish_finishes)
{
	static struct vq_chain c[4];
	struct net_ent ent[3];
	struct ring r;
	uint32_t id, len;
	uint64_t rec;

	ring_new(&r, 6);
	for (unsigned i = 0; i < 4; i++)
		ck_assert_int_eq(vq_pop(&r.gm, &r.q, false, &c[i]), 1);
	/* A frame over three chains; the fourth waits for the next. */
	for (unsigned i = 0; i < 3; i++)
		ent[i] = (struct net_ent){ .head = c[i].head,
		    .len = 100 + i };
	rec = net_rec(NET_REC_PUBLISH, 0, r.q.used_idx, 3);
	/* Dies after the first push. */
	ck_assert_int_eq(vq_push(&r.gm, &r.q, ent[0].head, ent[0].len), 0);
	ck_assert_int_eq(net_rec_recover(&rec, &r.q, ent, 3, &r.gm), 3);
	ck_assert_uint_eq(rec, 0);
	/* The frame is whole, in order, each chain once. */
	ck_assert_uint_eq(used_idx(&r), 3);
	for (unsigned i = 0; i < 3; i++) {
		used_elem(&r, i, &id, &len);
		ck_assert_uint_eq(id, c[i].head);
		ck_assert_uint_eq(len, 100 + i);
	}
	/* The fourth chain is taken again. */
	ck_assert_uint_eq(r.q.last_avail, 3);
	{
		static struct vq_chain again;

		ck_assert_int_eq(vq_pop(&r.gm, &r.q, false, &again), 1);
		ck_assert_uint_eq(again.head, c[3].head);
	}

	/* Died after the last push: nothing pushed twice. */
	rec = net_rec(NET_REC_PUBLISH, 3, 2, 1);
	ck_assert_uint_eq(r.q.used_idx, 3);
	ck_assert_int_eq(net_rec_recover(&rec, &r.q, ent, 3, &r.gm), 0);
	ck_assert_uint_eq(used_idx(&r), 3);
	ck_assert_uint_eq(r.q.last_avail, 4);
	free(r.mem);
}
END_TEST

START_TEST(test_rec_refused)
{
	static struct vq_chain c;
	struct net_ent ent[2] = { { .head = 7 }, { .head = 6 } };
	struct vq_state before;
	struct ring r;
	uint64_t rec;

	ring_new(&r, 4);
	ck_assert_int_eq(vq_pop(&r.gm, &r.q, false, &c), 1);
	ck_assert_int_eq(vq_pop(&r.gm, &r.q, false, &c), 1);
	before = r.q;
	/* HELD while the used index moved: something is wrong. */
	rec = net_rec(NET_REC_HELD, 0, (uint16_t)(r.q.used_idx - 1), 0);
	ck_assert_int_eq(net_rec_recover(&rec, &r.q, ent, 2, &r.gm), -EPROTO);
	ck_assert_uint_eq(rec, 0);
	/* More taken than the queue holds. */
	rec = net_rec(NET_REC_HELD, 0xfff0, r.q.used_idx, 0);
	ck_assert_int_eq(net_rec_recover(&rec, &r.q, ent, 2, &r.gm), -EPROTO);
	/* PUBLISH of more chains than taken, or than entries. */
	rec = net_rec(NET_REC_PUBLISH, 0, r.q.used_idx, 3);
	ck_assert_int_eq(net_rec_recover(&rec, &r.q, ent, 8, &r.gm), -EPROTO);
	rec = net_rec(NET_REC_PUBLISH, 0, r.q.used_idx, 2);
	ck_assert_int_eq(net_rec_recover(&rec, &r.q, ent, 1, &r.gm), -EPROTO);
	/* More pushed than published. */
	rec = net_rec(NET_REC_PUBLISH, 0, (uint16_t)(r.q.used_idx - 2), 1);
	ck_assert_int_eq(net_rec_recover(&rec, &r.q, ent, 2, &r.gm), -EPROTO);
	/* An unknown state. */
	rec = net_rec(9, 0, r.q.used_idx, 0);
	ck_assert_int_eq(net_rec_recover(&rec, &r.q, ent, 2, &r.gm), -EPROTO);
	ck_assert_mem_eq(&r.q, &before, sizeof(before));
	ck_assert_uint_eq(used_idx(&r), 0);
	/* A head the queue cannot have: nothing pushed, not even ent[0]. */
	ent[0].head = 7;
	ent[1].head = 8;
	rec = net_rec(NET_REC_PUBLISH, 0, r.q.used_idx, 2);
	ck_assert_int_eq(net_rec_recover(&rec, &r.q, ent, 2, &r.gm), -EPROTO);
	ck_assert_uint_eq(used_idx(&r), 0);
	ck_assert_mem_eq(&r.q, &before, sizeof(before));
	/* IDLE, or a queue that is not usable: just cleared. */
	rec = net_rec(NET_REC_HELD, 0, r.q.used_idx, 0);
	ck_assert_int_eq(net_rec_recover(&rec, NULL, ent, 2, &r.gm), 0);
	ck_assert_uint_eq(rec, 0);
	ck_assert_int_eq(net_rec_recover(&rec, &r.q, ent, 2, &r.gm), 0);
	ck_assert_uint_eq(r.q.last_avail, 2);
	free(r.mem);
}
END_TEST

/* The tx pattern: one chain, sent, then returned with 0 bytes. */
START_TEST(test_rec_tx)
{
	static struct vq_chain c, again;
	struct net_ent ent;
	struct ring r;
	uint32_t id, len;
	uint64_t rec;

	ring_new(&r, 2);
	rec = net_rec(NET_REC_HELD, r.q.last_avail, r.q.used_idx, 0);
	ck_assert_int_eq(vq_pop(&r.gm, &r.q, false, &c), 1);
	/* Dies while the frame waits for the backend: sent again. */
	ck_assert_int_eq(net_rec_recover(&rec, &r.q, &ent, 1, &r.gm), 1);
	ck_assert_int_eq(vq_pop(&r.gm, &r.q, false, &again), 1);
	ck_assert_uint_eq(again.head, c.head);
	/* Dies between PUBLISH and the push: the push is done for it. */
	ent = (struct net_ent){ .head = again.head, .len = 0 };
	rec = net_rec(NET_REC_PUBLISH, 0, r.q.used_idx, 1);
	ck_assert_int_eq(net_rec_recover(&rec, &r.q, &ent, 1, &r.gm), 1);
	ck_assert_uint_eq(used_idx(&r), 1);
	used_elem(&r, 0, &id, &len);
	ck_assert_uint_eq(id, c.head);
	ck_assert_uint_eq(len, 0);
	ck_assert_uint_eq(r.q.last_avail, 1);
	free(r.mem);
}
END_TEST

static Suite *
net_suite(void)
{
	Suite *s = suite_create("net");
	TCase *tc;

	tc = tcase_create("features");
	tcase_add_test(tc, test_features_offered);
	tcase_add_test(tc, test_effective);
	tcase_add_test(tc, test_tun_offload);
	tcase_add_test(tc, test_tun_features);
	suite_add_tcase(s, tc);

	tc = tcase_create("frames");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_csum_known);
	tcase_add_test(tc, test_csum_fill);
	tcase_add_test(tc, test_tx_valid);
	tcase_add_test(tc, test_tx_malformed);
	tcase_add_test(tc, test_tx_split);
	tcase_add_test(tc, test_rx_fixup_csum);
	tcase_add_test(tc, test_rx_fixup_gso);
	tcase_add_test(tc, test_rx_fixup_malformed);
	suite_add_tcase(s, tc);

	tc = tcase_create("spread");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_fit_single);
	tcase_add_test(tc, test_fit_mergeable);
	tcase_add_test(tc, test_spread);
	tcase_add_test(tc, test_rx_through_virtqueue);
	suite_add_tcase(s, tc);

	tc = tcase_create("filter");
	tcase_add_test(tc, test_filter);
	tcase_add_test(tc, test_ctrl_rx);
	tcase_add_test(tc, test_ctrl_mac_table);
	tcase_add_test(tc, test_ctrl_mac_addr);
	suite_add_tcase(s, tc);

	tc = tcase_create("state");
	tcase_add_test(tc, test_parse_mac);
	tcase_add_test(tc, test_config);
	tcase_add_test(tc, test_persist);
	tcase_add_test(tc, test_counters);
	tcase_add_test(tc, test_rec_word);
	tcase_add_test(tc, test_rec_held_rewinds);
	tcase_add_test(tc, test_rec_publish_finishes);
	tcase_add_test(tc, test_rec_refused);
	tcase_add_test(tc, test_rec_tx);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(net_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
