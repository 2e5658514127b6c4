/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for the virtio-net library (mediators/net/net.c):
 * arbitrary bytes become frames the driver sends (net_tx_check), frames
 * a backend hands us together with rx chains of any shape (net_rx_fixup,
 * net_rx_fit, net_rx_write), control commands (net_ctrl) against a
 * filter that is then compared with a plain reimplementation, restart
 * records against a ring in fake guest memory (net_rec_recover),
 * checksums at any offset (net_csum_fill) and MAC strings.  After each
 * operation it checks what the function promises; every buffer is its
 * own heap allocation of exactly its size, so a read or write past one
 * is an ASan report.
 *
 * Input: three bytes of negotiated features (virtio-net bits 0-23),
 * then operations, each an opcode byte and its operands (frame lengths
 * are three bytes, so that frames reach past the largest allowed),
 * until the input runs out (missing bytes read as 0).
 *
 *   make build/fuzz/fuzz_net && mkdir -p /tmp/corpus-net
 *   build/fuzz/fuzz_net -max_total_time=60 /tmp/corpus-net \
 *	tests/fuzz/corpus/net
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_CHAINS	8
#define MAX_SEGS	4
#define MAX_SEG_LEN	3000

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_net:%d: %s\n", __LINE__, #cond);	\
		abort();						\
	}								\
} while (0)

struct input {
	const uint8_t *p;
	size_t left;
};

static uint8_t
take8(struct input *in)
{
	uint8_t v = 0;

	if (in->left) {
		v = *in->p++;
		in->left--;
	}
	return v;
}

static uint16_t
take16(struct input *in)
{
	uint16_t v = take8(in);

	return (uint16_t)(v | take8(in) << 8);
}

/* A length below max from three bytes: up to 128 KiB. */
static size_t
take_len(struct input *in, size_t max)
{
	size_t v = take16(in);

	return (v | (size_t)(take8(in) & 1) << 16) % max;
}

static void
take(struct input *in, uint8_t *buf, size_t len)
{
	size_t n = len < in->left ? len : in->left;

	memcpy(buf, in->p, n);
	memset(buf + n, 0, len - n);
	in->p += n;
	in->left -= n;
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		abort();
	return p;
}

/* A buffer of len bytes from the input, allocated exactly. */
static uint8_t *
take_buf(struct input *in, size_t len)
{
	uint8_t *b = xmalloc(len);

	take(in, b, len);
	return b;
}

/* ---- tx ------------------------------------------------------------------ */

static void
op_tx(struct input *in, uint64_t f)
{
	size_t len = take_len(in, NET_MSG_MAX + 16);
	uint8_t *b = take_buf(in, len);
	struct virtio_net_hdr_v1 h;
	const char *why = NULL;
	uint64_t e = net_effective(f);
	size_t flen;
	uint8_t gso;

	if (net_tx_check(b, len, f, &why) < 0) {
		CHECK(why != NULL);
		free(b);
		return;
	}
	/* Accepted: every rule of 5.1.6.2 holds for this copy. */
	CHECK(len >= NET_HDR_LEN + NET_ETH_HLEN && len <= NET_MSG_MAX);
	memcpy(&h, b, sizeof(h));
	flen = len - NET_HDR_LEN;
	gso = h.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	CHECK((h.flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM) == 0);
	if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
		CHECK((e & VIRTIO_NET_F_CSUM) &&
		    (size_t)h.csum_start + h.csum_offset + 2 <= flen);
	if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
		CHECK(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
		CHECK(h.gso_size > 0 && h.hdr_len <= flen);
		CHECK((gso == VIRTIO_NET_HDR_GSO_TCPV4 &&
		    (e & VIRTIO_NET_F_HOST_TSO4)) ||
		    (gso == VIRTIO_NET_HDR_GSO_TCPV6 &&
		    (e & VIRTIO_NET_F_HOST_TSO6)) ||
		    (gso == VIRTIO_NET_HDR_GSO_UDP &&
		    (e & VIRTIO_NET_F_HOST_UFO)));
		if (h.gso_type & VIRTIO_NET_HDR_GSO_ECN)
			CHECK(e & VIRTIO_NET_F_HOST_ECN);
	}
	free(b);
}

/* ---- rx ------------------------------------------------------------------ */

static void
check_fixup(const uint8_t *before, const uint8_t *b, size_t len,
    uint64_t f, bool sw)
{
	struct virtio_net_hdr_v1 h0, h;
	uint64_t e = net_effective(f);
	size_t flen = len - NET_HDR_LEN;
	uint8_t gso;

	memcpy(&h0, before, sizeof(h0));
	memcpy(&h, b, sizeof(h));
	gso = h.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	CHECK(flen >= NET_ETH_HLEN && flen <= NET_FRAME_MAX);
	CHECK((h.flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM |
	    VIRTIO_NET_HDR_F_DATA_VALID)) == 0);
	CHECK(h.gso_type == h0.gso_type);
	if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE)
		CHECK((gso == VIRTIO_NET_HDR_GSO_TCPV4 &&
		    (e & VIRTIO_NET_F_GUEST_TSO4)) ||
		    (gso == VIRTIO_NET_HDR_GSO_TCPV6 &&
		    (e & VIRTIO_NET_F_GUEST_TSO6)) ||
		    (gso == VIRTIO_NET_HDR_GSO_UDP &&
		    (e & VIRTIO_NET_F_GUEST_UFO)));
	if (h.gso_type & VIRTIO_NET_HDR_GSO_ECN)
		CHECK(e & VIRTIO_NET_F_GUEST_ECN);
	if (!(e & VIRTIO_NET_F_GUEST_CSUM)) {
		/* 5.1.6.4.1: no flags, a complete checksum. */
		CHECK(h.flags == 0);
		CHECK(sw == ((h0.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0));
	} else {
		CHECK(!sw && memcmp(b, before, NET_HDR_LEN) == 0);
	}
	if (sw) {
		size_t at = NET_HDR_LEN + h0.csum_start + h0.csum_offset;
		uint16_t seed = (uint16_t)(before[at] << 8 | before[at + 1]);

		/* At an odd offset the field straddles two words: no rule. */
		if (h0.csum_offset % 2 == 0)
			CHECK(net_csum(b + NET_HDR_LEN + h0.csum_start,
			    flen - h0.csum_start, seed) == 0);
		CHECK(memcmp(b + NET_HDR_LEN, before + NET_HDR_LEN,
		    at - NET_HDR_LEN) == 0);
		CHECK(memcmp(b + at + 2, before + at + 2, len - at - 2) == 0);
	} else {
		CHECK(memcmp(b + NET_HDR_LEN, before + NET_HDR_LEN, flen) == 0);
	}
}

static void
op_rx(struct input *in, uint64_t f)
{
	static struct vq_chain c[MAX_CHAINS];
	const struct vq_chain *cp[MAX_CHAINS];
	uint8_t *seg[MAX_CHAINS][MAX_SEGS];
	uint32_t written[MAX_CHAINS];
	size_t len = take_len(in, NET_MSG_MAX + 16), sum = 0;
	uint8_t *b = take_buf(in, len), *before = xmalloc(len);
	unsigned n = take8(in) % (MAX_CHAINS + 1), max = take8(in) % 10, k = 0;
	bool mrg = (f & VIRTIO_NET_F_MRG_RXBUF) != 0, sw = false;
	const char *why = NULL;
	enum net_fit fit;
	int ret;

	memcpy(before, b, len);
	ret = net_rx_fixup(b, len, f, &sw, &why);
	if (ret == 0)
		check_fixup(before, b, len, f, sw);
	else {
		CHECK((ret == -EINVAL || ret == -EOPNOTSUPP) && why != NULL);
		CHECK(!sw && memcmp(b, before, len) == 0);
	}

	for (unsigned i = 0; i < n; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		c[i].head = (uint16_t)i;
		c[i].nseg = take8(in) % (MAX_SEGS + 1);
		for (unsigned s = 0; s < c[i].nseg; s++) {
			uint32_t l = take16(in) % MAX_SEG_LEN;

			if (take8(in) & 0x80)	/* now and then a big one */
				l = l * 23 % 66000;
			seg[i][s] = xmalloc(l);
			memset(seg[i][s], 0xa5, l);
			c[i].seg[s] = (struct vq_seg){ .host = seg[i][s],
			    .gpa = 0x1000, .len = l, .write = true };
			c[i].in_len += l;
		}
		cp[i] = &c[i];
	}
	fit = net_rx_fit(cp, n, max, len, mrg, &k);
	for (unsigned i = 0; i < n; i++)
		sum += c[i].in_len;
	switch (fit) {
	case NET_FIT_OK: {
		size_t at = 0;

		CHECK(k >= 1 && k <= n && (mrg || k == 1));
		CHECK(len >= NET_HDR_LEN);
		CHECK(c[0].in_len >= NET_HDR_LEN);
		net_rx_write(cp, k, b, len, written);
		CHECK((b[10] | b[11] << 8) == (int)k);
		for (unsigned i = 0; i < k; i++) {
			uint32_t w = 0;

			CHECK(written[i] <= c[i].in_len);
			/* Each chain is filled before the next. */
			if (i + 1 < k)
				CHECK(written[i] == c[i].in_len);
			for (unsigned s = 0; s < c[i].nseg && w < written[i];
			    s++) {
				uint32_t m = c[i].seg[s].len < written[i] - w ?
				    c[i].seg[s].len : written[i] - w;

				CHECK(memcmp(seg[i][s], b + at + w, m) == 0);
				if (m < c[i].seg[s].len)
					CHECK(seg[i][s][m] == 0xa5);
				w += m;
			}
			at += written[i];
		}
		CHECK(at == len);
		break;
	}
	case NET_FIT_BAD_FIRST:
		CHECK(len >= NET_HDR_LEN);
		CHECK(n > 0 && c[0].in_len < NET_HDR_LEN);
		break;
	case NET_FIT_TOO_BIG:
		CHECK(len < NET_HDR_LEN || (n == 0 ? max == 0 : mrg ?
		    (n >= max && sum < len) : c[0].in_len < len));
		break;
	case NET_FIT_MORE:
		CHECK(len >= NET_HDR_LEN);
		CHECK(n == 0 || (mrg && n < max && sum < len));
		break;
	default:
		abort();
	}
	for (unsigned i = 0; i < n; i++)
		for (unsigned s = 0; s < c[i].nseg; s++)
			free(seg[i][s]);
	free(before);
	free(b);
}

/* ---- control queue and filter -------------------------------------------- */

/* What net_filter_accept() should say, written plainly. */
static bool
ref_accept(const struct net_rxfilter *f, const uint8_t *mac, uint64_t feat,
    const uint8_t *dst)
{
	unsigned nu = f->n_uni, nm = f->n_multi;
	bool multi = dst[0] & 1, bc = true;

	if (!(net_effective(feat) & VIRTIO_NET_F_CTRL_RX) || f->promisc)
		return true;
	for (int i = 0; i < 6; i++)
		bc = bc && dst[i] == 0xff;
	if (bc)
		return true;
	if (nu > NET_MAC_TABLE)
		nu = NET_MAC_TABLE;
	if (nm > NET_MAC_TABLE - nu)
		nm = NET_MAC_TABLE - nu;
	if (multi) {
		if (f->allmulti || f->multi_overflow)
			return true;
		for (unsigned i = nu; i < nu + nm; i++)
			if (memcmp(f->mac[i], dst, 6) == 0)
				return true;
		return false;
	}
	if (memcmp(mac, dst, 6) == 0 || f->uni_overflow)
		return true;
	for (unsigned i = 0; i < nu; i++)
		if (memcmp(f->mac[i], dst, 6) == 0)
			return true;
	return false;
}

static struct net_rxfilter filter;
static uint8_t own[6];

static void
op_ctrl(struct input *in, uint64_t f)
{
	size_t len = take16(in) % 1024;
	uint8_t *cmd = take_buf(in, len), dst[6], mac0[6];
	struct net_rxfilter before = filter;
	const char *why = NULL;
	uint8_t ack;

	memcpy(mac0, own, 6);
	ack = net_ctrl(&filter, own, f, cmd, len, &why);
	CHECK(ack == VIRTIO_NET_OK || ack == VIRTIO_NET_ERR);
	CHECK(filter.n_uni + filter.n_multi <= NET_MAC_TABLE);
	CHECK((own[0] & 1) == 0);
	if (ack == VIRTIO_NET_ERR) {
		CHECK(why != NULL);
		CHECK(memcmp(&before, &filter, sizeof(filter)) == 0);
		CHECK(memcmp(mac0, own, 6) == 0);
	} else {
		CHECK(len >= 2);
	}
	free(cmd);
	/* A few destinations, some from the table. */
	for (int i = 0; i < 4; i++) {
		uint8_t pick = take8(in);

		if (pick < NET_MAC_TABLE && (pick & 1))
			memcpy(dst, filter.mac[pick], 6);
		else if (pick == 2)
			memcpy(dst, own, 6);
		else
			take(in, dst, 6);
		CHECK(net_filter_accept(&filter, own, f, dst) ==
		    ref_accept(&filter, own, f, dst));
	}
}

/* ---- restart records ----------------------------------------------------- */

static void
op_rec(struct input *in)
{
	const uint64_t base = 0x10000;
	uint16_t size = (uint16_t)(1u << (take8(in) % 5));	/* 1..16 */
	size_t memlen = 0x3000;
	uint8_t *mem = xmalloc(memlen), *mem0 = xmalloc(memlen);
	struct gmem gm = { .n = 1, .r = { { base, memlen, mem } } };
	struct vq_state q = { .size = size, .ready = 1, .desc = base,
	    .avail = base + 0x1000, .used = base + 0x2000 }, q0;
	struct net_ent ent[4];
	unsigned nent = 1 + take8(in) % 4, state;
	uint16_t rbase, rused, n, taken, pushed;
	bool ring_ok = true, ok;
	uint64_t rec;
	int ret;

	memset(mem, 0, memlen);
	/* Sometimes a used ring that leaves guest memory. */
	if (take8(in) == 0xff) {
		q.used = base + memlen - 4;
		ring_ok = false;
	}
	q.last_avail = take16(in);
	q.used_idx = take16(in);
	take(in, (uint8_t *)&rec, sizeof(rec));
	take(in, (uint8_t *)ent, sizeof(ent));
	/* Nudge the record towards the queue, so that it often agrees. */
	if (take8(in) & 1)
		rec = net_rec(net_rec_state(rec) % 3,
		    (uint16_t)(q.last_avail - net_rec_base(rec) % (size + 1)),
		    (uint16_t)(q.used_idx - net_rec_used(rec) % 3),
		    (uint16_t)(net_rec_n(rec) % 5));
	q0 = q;
	memcpy(mem0, mem, memlen);
	state = net_rec_state(rec);
	rbase = net_rec_base(rec);
	rused = net_rec_used(rec);
	n = net_rec_n(rec);
	taken = (uint16_t)(q0.last_avail - rbase);
	pushed = (uint16_t)(q0.used_idx - rused);

	ret = net_rec_recover(&rec, &q, ent, nent, &gm);
	CHECK(rec == 0);
	/* What the record allows, worked out here on its own. */
	if (state == NET_REC_IDLE)
		ok = true;
	else if (state == NET_REC_HELD)
		ok = taken <= size && pushed == 0;
	else if (state == NET_REC_PUBLISH) {
		ok = taken <= size && n <= nent && n <= taken && pushed <= n &&
		    (ring_ok || pushed == n);
		for (unsigned i = pushed; ok && i < n; i++)
			ok = ent[i].head < size;
	} else
		ok = false;
	if (!ok) {
		CHECK(ret == -EPROTO);
		CHECK(memcmp(&q, &q0, sizeof(q)) == 0);
		CHECK(memcmp(mem, mem0, memlen) == 0);
		goto out;
	}
	CHECK(ret >= 0);
	if (state == NET_REC_IDLE) {
		CHECK(ret == 0 && memcmp(&q, &q0, sizeof(q)) == 0);
	} else if (state == NET_REC_HELD) {
		CHECK(ret == taken && q.last_avail == rbase);
		CHECK(q.used_idx == q0.used_idx);
		CHECK(memcmp(mem, mem0, memlen) == 0);
	} else {
		CHECK(ret == (n - pushed) + (taken - n));
		CHECK(q.last_avail == (uint16_t)(rbase + n));
		CHECK(q.used_idx == (uint16_t)(q0.used_idx + n - pushed));
		for (unsigned j = 0; j < (unsigned)(n - pushed); j++) {
			uint16_t at = (uint16_t)(q0.used_idx + j);
			const uint8_t *u = mem + 0x2000 + 4 +
			    8 * (at & (size - 1));
			uint32_t id, len;

			memcpy(&id, u, 4);
			memcpy(&len, u + 4, 4);
			CHECK(id == ent[pushed + j].head &&
			    len == ent[pushed + j].len);
		}
		if (n != pushed)
			CHECK(*(uint16_t *)(void *)(mem + 0x2002) ==
			    q.used_idx);
	}
out:
	free(mem);
	free(mem0);
}

/* ---- checksum and MAC strings -------------------------------------------- */

static void
op_csum(struct input *in)
{
	size_t len = take16(in) % 2048;
	unsigned start = take16(in), off = take16(in) % 4096;
	uint8_t *b = take_buf(in, len), *b0 = xmalloc(len);
	int ret;

	if (take8(in) & 1)
		start %= 2048;
	memcpy(b0, b, len);
	ret = net_csum_fill(b, len, start, off);
	if (ret < 0) {
		CHECK((size_t)start + off + 2 > len);
		CHECK(memcmp(b, b0, len) == 0);
	} else {
		size_t at = (size_t)start + off;
		uint16_t seed = (uint16_t)(b0[at] << 8 | b0[at + 1]);

		CHECK(at + 2 <= len);
		if (off % 2 == 0)
			CHECK(net_csum(b + start, len - start, seed) == 0);
		CHECK(memcmp(b, b0, at) == 0);
		CHECK(memcmp(b + at + 2, b0 + at + 2, len - at - 2) == 0);
	}
	free(b);
	free(b0);
}

static void
op_mac(struct input *in)
{
	size_t len = take8(in) % 24;
	char *s = xmalloc(len + 1), back[32];
	uint8_t m[6] = { 1, 2, 3, 4, 5, 6 };

	take(in, (uint8_t *)s, len);
	s[len] = '\0';
	if (net_parse_mac(s, m) == 0) {
		CHECK((m[0] & 1) == 0);
		snprintf(back, sizeof(back), "%02x:%02x:%02x:%02x:%02x:%02x",
		    m[0], m[1], m[2], m[3], m[4], m[5]);
		CHECK(strlen(s) == 17);
		for (int i = 0; i < 17; i++)
			CHECK(tolower((unsigned char)s[i]) == back[i]);
	} else {
		CHECK(m[0] == 1 && m[5] == 6);
	}
	free(s);
}

/* A persistent area left by a previous process. */
static void
persist_garbage(const uint8_t *data, size_t size)
{
	static struct net_persist p;
	uint8_t dst[6] = { 0x01, 0, 0x5e, 0, 0, 1 };

	memset(&p, 0, sizeof(p));
	memcpy(&p, data, size < sizeof(p) ? size : sizeof(p));
	p.magic = NET_PERSIST_MAGIC;
	p.version = NET_PERSIST_VERSION;
	if (net_persist_check(&p) < 0)
		return;
	for (unsigned i = 0; i < NET_NUM_QUEUES; i++)
		CHECK(net_rec_state(p.rec[i]) <= NET_REC_PUBLISH);
	CHECK(p.filter.n_uni + p.filter.n_multi <= NET_MAC_TABLE);
	CHECK(net_filter_accept(&p.filter, own, ~0ull, dst) ==
	    ref_accept(&p.filter, own, ~0ull, dst));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	uint64_t f;

	f = take8(&in);
	f |= (uint64_t)take8(&in) << 8;
	f |= (uint64_t)take8(&in) << 16;
	/* The offer, and UFO (never offered) to see it handled anyway. */
	f &= net_features(NET_BACKEND_TAP) | VIRTIO_NET_F_GUEST_UFO |
	    VIRTIO_NET_F_HOST_UFO;
	net_filter_reset(&filter);
	memcpy(own, (const uint8_t[]){ 0x52, 0x54, 0, 0x12, 0x34, 0x56 }, 6);
	for (int ops = 0; ops < 16 && in.left > 0; ops++) {
		switch (take8(&in) % 6) {
		case 0:
			op_tx(&in, f);
			break;
		case 1:
			op_rx(&in, f);
			break;
		case 2:
			op_ctrl(&in, f);
			break;
		case 3:
			op_rec(&in);
			break;
		case 4:
			op_csum(&in);
			break;
		case 5:
			op_mac(&in);
			break;
		}
	}
	persist_garbage(data, size);
	return 0;
}
