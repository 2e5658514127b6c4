/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for the virtio-blk request path: arbitrary bytes
 * become descriptor chains (segment lengths, directions and contents
 * from the input) that blk_parse() and blk_exec() run against a small
 * image.  The device is a range in the middle of the image; after each
 * input every byte outside it must still be zero and the file must
 * keep its size.  Each segment is its own heap allocation, so a read or
 * write past one is an ASan report.
 *
 * Input: one byte of device options, one of range start, one of range
 * length, then up to MAX_REQS requests, each a segment count, per
 * segment a 16-bit length and a direction byte, then the contents of
 * the readable segments.  The tail of the input is also tried as an
 * in-flight record left by a previous process.
 *
 *   make build/fuzz/fuzz_blk && mkdir -p build/fuzz/corpus-blk
 *   build/fuzz/fuzz_blk -max_total_time=60 build/fuzz/corpus-blk \
 *	tests/fuzz/corpus/blk
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blk.h"

#define IMG_SECTORS	64
#define IMG_BYTES	(IMG_SECTORS * BLK_SECTOR)
#define MAX_REQS	4
#define MAX_SEGS	8
#define MAX_SEG_LEN	8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int img = -1;

/* Takes bytes off the front of the input; zeroes once it runs out. */
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

static void
take(struct input *in, uint8_t *buf, size_t len)
{
	size_t n = len < in->left ? len : in->left;

	memcpy(buf, in->p, n);
	memset(buf + n, 0, len - n);
	in->p += n;
	in->left -= n;
}

static void
image_open(void)
{
	char path[] = "/tmp/fuzz_blk.XXXXXX";

	img = mkstemp(path);
	if (img < 0) {
		perror("fuzz_blk: mkstemp");
		abort();
	}
	unlink(path);
}

/* Every byte outside sectors [start, start + n) is zero; size kept. */
static void
image_check(uint64_t start, uint64_t n)
{
	static uint8_t buf[IMG_BYTES];
	struct stat st;

	if (fstat(img, &st) < 0 || st.st_size != IMG_BYTES) {
		fprintf(stderr, "fuzz_blk: image size changed\n");
		abort();
	}
	if (pread(img, buf, IMG_BYTES, 0) != IMG_BYTES)
		abort();
	for (uint64_t i = 0; i < IMG_BYTES; i++) {
		uint64_t sec = i / BLK_SECTOR;

		if ((sec < start || sec >= start + n) && buf[i] != 0) {
			fprintf(stderr, "fuzz_blk: byte %llu outside range "
			    "%llu/%llu written\n", (unsigned long long)i,
			    (unsigned long long)start, (unsigned long long)n);
			abort();
		}
	}
}

/* Builds one chain from the input, runs it, frees its segments. */
static void
one_request(const struct blk_backend *b, struct input *in, uint16_t head)
{
	static struct vq_chain c;
	static struct blk_req r;
	struct { uint32_t len; bool write; } spec[MAX_SEGS];
	uint8_t *bufs[MAX_SEGS];
	struct blk_done done;
	unsigned n = 1 + take8(in) % MAX_SEGS, k = 0;

	for (unsigned i = 0; i < n; i++) {
		uint32_t len = take8(in);

		len |= (uint32_t)take8(in) << 8;
		spec[i].len = 1 + len % MAX_SEG_LEN;
		spec[i].write = take8(in) & 1;
	}
	/* vq_pop() hands over readable segments first, then writable. */
	memset(&c, 0, sizeof(c));
	c.head = head;
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < n; i++) {
			uint8_t *p;

			if (spec[i].write != (pass == 1))
				continue;
			p = malloc(spec[i].len);
			if (!p)
				abort();
			if (spec[i].write)
				memset(p, 0xa5, spec[i].len);
			else
				take(in, p, spec[i].len);
			bufs[k] = p;
			c.seg[k] = (struct vq_seg){
				.host = p, .gpa = 0x1000 * (k + 1),
				.len = spec[i].len, .write = spec[i].write,
			};
			if (spec[i].write)
				c.in_len += spec[i].len;
			else
				c.out_len += spec[i].len;
			k++;
		}
	}
	c.nseg = (uint16_t)k;

	if (blk_parse(b, &c, &r) == 0) {
		blk_exec(b, &r, &done);
		if (done.head != head || done.status > VIRTIO_BLK_S_UNSUPP ||
		    *r.status_byte != done.status || done.written == 0 ||
		    done.written > c.in_len) {
			fprintf(stderr, "fuzz_blk: bad completion\n");
			abort();
		}
	} else if (r.why == NULL) {
		abort();
	}
	for (unsigned i = 0; i < k; i++)
		free(bufs[i]);
}

/*
 * A record left by a dead process is read without trusting it: whatever
 * recovery accepts lists only heads of the queue, none of them DONE.
 */
static void
inflight_garbage(const uint8_t *data, size_t size)
{
	static struct blk_inflight rec;
	uint16_t heads[BLK_INFLIGHT_MAX];
	uint16_t last = size > 1 ? (uint16_t)(data[0] | data[1] << 8) : 0;
	uint16_t qsize = (uint16_t)(1u << (size > 2 ? data[2] % 9 : 8));
	int n;

	memset(&rec, 0, sizeof(rec));
	memcpy(&rec, data, size < sizeof(rec) ? size : sizeof(rec));
	/* Give garbage a chance to pass the header check. */
	rec.magic = BLK_INFLIGHT_MAGIC;
	rec.version = BLK_INFLIGHT_VERSION;
	rec.max = BLK_INFLIGHT_MAX;
	if (blk_inflight_check(&rec) < 0)
		return;
	if (blk_inflight_recover(&rec, &last, size > 3 ? data[3] : 0,
	    qsize) < 0)
		return;
	n = blk_inflight_list(&rec, last, heads, BLK_INFLIGHT_MAX);
	if (n < 0 || n > qsize)
		abort();
	for (int i = 0; i < n; i++)
		if (heads[i] >= qsize ||
		    rec.e[heads[i]].state != BLK_INFLIGHT_PENDING ||
		    blk_inflight_remove(&rec, heads[i]) != 0)
			abort();
	if (blk_inflight_list(&rec, last, heads, BLK_INFLIGHT_MAX) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct blk_backend b;
	uint8_t opt, start, len;
	uint64_t f;

	if (img < 0)
		image_open();
	/* A fresh all-zero image each time. */
	if (ftruncate(img, 0) < 0 || ftruncate(img, IMG_BYTES) < 0)
		abort();
	opt = take8(&in);
	start = (uint8_t)(1 + take8(&in) % 16);
	len = (uint8_t)(1 + take8(&in) % 32);
	if (blk_backend_init(&b, img, start, len, opt & 1, "fuzz") < 0)
		abort();
	f = blk_features(&b);
	if (opt & 2)
		f &= ~VIRTIO_BLK_F_FLUSH;
	if (opt & 4)
		f &= ~(VIRTIO_BLK_F_DISCARD | VIRTIO_BLK_F_WRITE_ZEROES);
	blk_negotiated(&b, f);

	for (uint16_t i = 0; i < MAX_REQS && in.left > 0; i++)
		one_request(&b, &in, i);
	/* Read-only: not even the range may change. */
	image_check(start, (opt & 1) ? 0 : len);
	inflight_garbage(data, size);
	return 0;
}
