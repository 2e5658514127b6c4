/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the virtio-blk library (mediators/blk/): requests
 * parsed from hand-built chains and run against a temporary image,
 * byte for byte: what a request may change, and that nothing else in
 * the file moved.  Then the in-flight record, and both I/O engines
 * under load.
 *
 * Chains are struct vq_chain filled directly, the way vq_pop() leaves
 * them (readable segments first); one test goes through vq_pop() itself
 * from a descriptor table in fake guest memory.
 */
#include <check.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blk.h"
#include "gmem.h"
#include "virtqueue.h"

#define IMG_SECTORS	200
#define IMG_BYTES	(IMG_SECTORS * BLK_SECTOR)
#define R_START		100	/* the device of most tests: sectors 100-149 */
#define R_SECTORS	50

/* A request's pieces, kept apart so tests can split and break them. */
struct hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

static int img = -1;
static uint8_t before[IMG_BYTES];	/* the image as the test set it up */
static struct blk_backend be;
static struct vq_chain ch;

/* Byte i of the image's initial content: never 0, differs per sector. */
static uint8_t
pattern(uint64_t i)
{
	return (uint8_t)(0x41 + (i / BLK_SECTOR) * 7 + i % 251) | 1;
}

/* A fresh unlinked image of sectors sectors filled with pattern(). */
static int
make_image(uint64_t sectors)
{
	char path[] = "/tmp/check_blk.XXXXXX";
	uint64_t bytes = sectors * BLK_SECTOR;
	uint8_t *buf;
	int fd;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	buf = malloc(bytes ? bytes : 1);
	ck_assert_ptr_nonnull(buf);
	for (uint64_t i = 0; i < bytes; i++)
		buf[i] = pattern(i);
	ck_assert_int_eq(pwrite(fd, buf, bytes, 0), (ssize_t)bytes);
	free(buf);
	return fd;
}

static void
setup(void)
{
	img = make_image(IMG_SECTORS);
	for (uint64_t i = 0; i < IMG_BYTES; i++)
		before[i] = pattern(i);
	ck_assert_int_eq(blk_backend_init(&be, img, R_START, R_SECTORS, false,
	    "cupule-test"), 0);
	memset(&ch, 0, sizeof(ch));
}

static void
teardown(void)
{
	if (img >= 0)
		close(img);
	img = -1;
}

/* Reads the whole image. */
static void
image_now(uint8_t *buf)
{
	ck_assert_int_eq(pread(img, buf, IMG_BYTES, 0), IMG_BYTES);
}

/*
 * Asserts that the image equals its initial content except for the
 * len bytes at image sector first, which must equal want (NULL: any).
 * Loops test bytes with plain C and assert once: every Check assertion
 * costs a system call.
 */
static void
image_is(uint64_t first, uint64_t len, const uint8_t *want)
{
	static uint8_t now[IMG_BYTES];
	uint64_t lo = first * BLK_SECTOR;

	image_now(now);
	for (uint64_t i = 0; i < IMG_BYTES; i++) {
		bool inside = i >= lo && i < lo + len;

		if (inside && want && now[i] != want[i - lo])
			ck_abort_msg("byte %llu is %#x, want %#x",
			    (unsigned long long)i, now[i], want[i - lo]);
		if (!inside && now[i] != before[i])
			ck_abort_msg("byte %llu changed (outside %llu+%llu)",
			    (unsigned long long)i, (unsigned long long)lo,
			    (unsigned long long)len);
	}
}

/*
 * Asserts that image sectors [a0, a1) and [b0, b1) read as zeroes and
 * every other byte is as the test set it up.
 */
static void
image_zeroed(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1)
{
	static uint8_t now[IMG_BYTES];

	image_now(now);
	for (uint64_t i = 0; i < IMG_BYTES; i++) {
		uint64_t sec = i / BLK_SECTOR;
		bool z = (sec >= a0 && sec < a1) || (sec >= b0 && sec < b1);

		if (now[i] != (z ? 0 : before[i]))
			ck_abort_msg("byte %llu is %#x", (unsigned long long)i,
			    now[i]);
	}
}

static void
chain_reset(struct vq_chain *c, uint16_t head)
{
	c->head = head;
	c->nseg = 0;
	c->out_len = c->in_len = 0;
	c->why = NULL;
}

/* Appends a segment, as vq_pop() would (callers keep the order). */
static void
seg(struct vq_chain *c, void *p, uint32_t len, bool write)
{
	ck_assert_uint_lt(c->nseg, VQ_MAX_SEGS);
	c->seg[c->nseg++] = (struct vq_seg){
		.host = p, .gpa = (uint64_t)(uintptr_t)p, .len = len,
		.write = write,
	};
	if (write)
		c->in_len += len;
	else
		c->out_len += len;
}

static void
hdr_set(struct hdr *h, uint32_t type, uint64_t sector)
{
	h->type = htole32(type);
	h->reserved = 0;
	h->sector = htole64(sector);
}

/*
 * Parses c (must succeed) and runs it synchronously.  Checks that the
 * status byte in guest memory matches.  Returns the status.
 */
static uint8_t
run(const struct blk_backend *b, const struct vq_chain *c, uint32_t *written)
{
	static struct blk_req r;
	struct blk_done d;
	uint8_t *status;

	ck_assert_int_eq(blk_parse(b, c, &r), 0);
	status = r.status_byte;
	ck_assert_ptr_nonnull(status);
	*status = 0xee;
	blk_exec(b, &r, &d);
	ck_assert_uint_eq(d.head, c->head);
	ck_assert_uint_eq(*status, d.status);
	if (written)
		*written = d.written;
	return d.status;
}

/* One-segment-each request: header, data (direction by type), status. */
static uint8_t
simple(const struct blk_backend *b, uint32_t type, uint64_t sector,
    void *data, uint32_t len, uint32_t *written)
{
	static struct hdr h;
	static uint8_t st;
	bool in = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;

	chain_reset(&ch, 7);
	hdr_set(&h, type, sector);
	seg(&ch, &h, sizeof(h), false);
	if (len && !in)
		seg(&ch, data, len, false);
	if (len && in)
		seg(&ch, data, len, true);
	seg(&ch, &st, 1, true);
	return run(b, &ch, written);
}

/* A discard or write-zeroes with n segments. */
static uint8_t
dwz(const struct blk_backend *b, uint32_t type,
    const struct virtio_blk_discard_write_zeroes *s, unsigned n)
{
	static struct virtio_blk_discard_write_zeroes copy[64];
	static struct hdr h;
	static uint8_t st;

	ck_assert_uint_le(n, 64);
	memcpy(copy, s, n * sizeof(*s));
	chain_reset(&ch, 3);
	hdr_set(&h, type, 0);
	seg(&ch, &h, sizeof(h), false);
	if (n)
		seg(&ch, copy, n * sizeof(*s), false);
	seg(&ch, &st, 1, true);
	return run(b, &ch, NULL);
}

static struct virtio_blk_discard_write_zeroes
dseg(uint64_t sector, uint32_t num, uint32_t flags)
{
	return (struct virtio_blk_discard_write_zeroes){
		.sector = htole64(sector), .num_sectors = htole32(num),
		.flags = htole32(flags),
	};
}

/* ---- backend, features, configuration ------------------------------- */

START_TEST(test_init_whole_and_range)
{
	struct blk_backend b;

	ck_assert_int_eq(blk_backend_init(&b, img, 0, 0, false, NULL), 0);
	ck_assert_uint_eq(b.sectors, IMG_SECTORS);
	ck_assert_uint_eq(b.start, 0);
	ck_assert_int_eq(blk_backend_init(&b, img, 150, 0, false, NULL), 0);
	ck_assert_uint_eq(b.sectors, 50);
	ck_assert_int_eq(blk_backend_init(&b, img, 199, 1, false, NULL), 0);
	ck_assert_int_eq(blk_backend_init(&b, img, 0, IMG_SECTORS, false,
	    NULL), 0);

	ck_assert_int_eq(blk_backend_init(&b, img, 199, 2, false, NULL),
	    -EINVAL);
	ck_assert_int_eq(blk_backend_init(&b, img, 200, 0, false, NULL),
	    -EINVAL);
	ck_assert_int_eq(blk_backend_init(&b, img, 0, IMG_SECTORS + 1, false,
	    NULL), -EINVAL);
	ck_assert_int_eq(blk_backend_init(&b, img, UINT64_MAX, 2, false,
	    NULL), -EINVAL);
	ck_assert_int_eq(blk_backend_init(&b, img, 1, UINT64_MAX, false,
	    NULL), -EINVAL);
	ck_assert_int_eq(blk_backend_init(&b, -1, 0, 0, false, NULL), -EBADF);
	ck_assert_int_eq(b.fd, -1);
}
END_TEST

START_TEST(test_init_odd_sizes)
{
	struct blk_backend b;
	int fd = make_image(0);

	/* Empty: no sector at all. */
	ck_assert_int_eq(blk_backend_init(&b, fd, 0, 0, false, NULL), -EINVAL);
	/* 1000 bytes: one whole sector; the tail is never the disk's. */
	ck_assert_int_eq(ftruncate(fd, 1000), 0);
	ck_assert_int_eq(blk_backend_init(&b, fd, 0, 0, false, NULL), 0);
	ck_assert_uint_eq(b.sectors, 1);
	ck_assert_int_eq(blk_backend_init(&b, fd, 0, 2, false, NULL), -EINVAL);
	close(fd);

	/* Not a file or a block device. */
	fd = open("/dev/null", O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(blk_backend_init(&b, fd, 0, 0, false, NULL), -EINVAL);
	close(fd);
}
END_TEST

/* The fd must allow what the device does: reads, and writes unless RO. */
START_TEST(test_init_access_mode)
{
	char path[64];
	struct blk_backend b;
	int ro, wo;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", img);
	ro = open(path, O_RDONLY);
	wo = open(path, O_WRONLY);
	ck_assert_int_ge(ro, 0);
	ck_assert_int_ge(wo, 0);
	ck_assert_int_eq(blk_backend_init(&b, ro, 0, 0, false, NULL), -EBADF);
	ck_assert_int_eq(blk_backend_init(&b, ro, 0, 0, true, NULL), 0);
	ck_assert_int_eq(blk_backend_init(&b, wo, 0, 0, true, NULL), -EBADF);
	ck_assert_int_eq(blk_backend_init(&b, wo, 0, 0, false, NULL), -EBADF);
	close(ro);
	close(wo);
}
END_TEST

START_TEST(test_features)
{
	struct blk_backend ro;
	uint64_t f = blk_features(&be);

	ck_assert(f & VIRTIO_F_VERSION_1);
	ck_assert(f & VIRTIO_F_INDIRECT_DESC);
	ck_assert(f & VIRTIO_BLK_F_SEG_MAX);
	ck_assert(f & VIRTIO_BLK_F_BLK_SIZE);
	ck_assert(f & VIRTIO_BLK_F_FLUSH);
	ck_assert(f & VIRTIO_BLK_F_DISCARD);
	ck_assert(f & VIRTIO_BLK_F_WRITE_ZEROES);
	ck_assert(!(f & VIRTIO_BLK_F_RO));
	ck_assert(!(f & VIRTIO_BLK_F_SIZE_MAX));
	/* The transport's EVENT_IDX; nothing it refuses. */
	ck_assert(f & VIRTIO_F_EVENT_IDX);
	ck_assert(!(f & VIRTIO_F_RING_PACKED));

	ck_assert_int_eq(blk_backend_init(&ro, img, 0, 0, true, NULL), 0);
	f = blk_features(&ro);
	ck_assert(f & VIRTIO_BLK_F_RO);
	ck_assert(f & VIRTIO_BLK_F_FLUSH);
	ck_assert(f & VIRTIO_F_EVENT_IDX);
	ck_assert(!(f & VIRTIO_BLK_F_DISCARD));
	ck_assert(!(f & VIRTIO_BLK_F_WRITE_ZEROES));
}
END_TEST

/* The configuration as the guest reads it: offsets from the spec. */
START_TEST(test_config_layout)
{
	struct virtio_blk_config cfg;
	const uint8_t *p = (const uint8_t *)&cfg;
	struct blk_backend ro;
	uint64_t cap;
	uint32_t v;

	ck_assert_uint_eq(sizeof(cfg), 60);
	blk_config(&be, &cfg);
	memcpy(&cap, p + 0, 8);
	ck_assert_uint_eq(le64toh(cap), R_SECTORS);
	memcpy(&v, p + 8, 4);
	ck_assert_uint_eq(v, 0);			/* size_max: not offered */
	memcpy(&v, p + 12, 4);
	ck_assert_uint_eq(le32toh(v), VQ_MAX_SEGS - 2);	/* seg_max */
	memcpy(&v, p + 20, 4);
	ck_assert_uint_eq(le32toh(v), 512);		/* blk_size */
	ck_assert_uint_eq(p[32], 0);			/* writeback */
	memcpy(&v, p + 36, 4);
	ck_assert_uint_eq(le32toh(v), BLK_DISCARD_SECTORS);
	memcpy(&v, p + 40, 4);
	ck_assert_uint_eq(le32toh(v), BLK_DISCARD_SEG);
	memcpy(&v, p + 44, 4);
	ck_assert_uint_eq(le32toh(v), BLK_DISCARD_ALIGN);
	memcpy(&v, p + 48, 4);
	ck_assert_uint_eq(le32toh(v), BLK_WZ_SECTORS);
	memcpy(&v, p + 52, 4);
	ck_assert_uint_eq(le32toh(v), BLK_WZ_SEG);
	ck_assert_uint_eq(p[56], 1);			/* write_zeroes_may_unmap */

	ck_assert_int_eq(blk_backend_init(&ro, img, 10, 5, true, NULL), 0);
	blk_config(&ro, &cfg);
	ck_assert_uint_eq(le64toh(cfg.capacity), 5);
	ck_assert_uint_eq(cfg.max_discard_sectors, 0);
	ck_assert_uint_eq(cfg.max_write_zeroes_sectors, 0);
}
END_TEST

START_TEST(test_negotiated)
{
	uint64_t all = blk_features(&be);

	ck_assert_uint_eq(be.negotiated, all);
	ck_assert(!be.writethrough);
	blk_negotiated(&be, VIRTIO_F_VERSION_1);
	ck_assert(be.writethrough);
	ck_assert_uint_eq(be.negotiated, VIRTIO_F_VERSION_1);
	/* Bits never offered do not stick. */
	blk_negotiated(&be, all | VIRTIO_F_RING_PACKED | VIRTIO_BLK_F_RO);
	ck_assert_uint_eq(be.negotiated, all);
	ck_assert(!be.writethrough);
}
END_TEST

START_TEST(test_image_off)
{
	ck_assert_int_eq(blk_image_off(&be, 0, 1), R_START * 512);
	ck_assert_int_eq(blk_image_off(&be, 0, R_SECTORS), R_START * 512);
	ck_assert_int_eq(blk_image_off(&be, 49, 1), (R_START + 49) * 512);
	ck_assert_int_eq(blk_image_off(&be, 50, 0), (R_START + 50) * 512);
	ck_assert_int_eq(blk_image_off(&be, 49, 2), -EIO);
	ck_assert_int_eq(blk_image_off(&be, 50, 1), -EIO);
	ck_assert_int_eq(blk_image_off(&be, 51, 0), -EIO);
	ck_assert_int_eq(blk_image_off(&be, 0, R_SECTORS + 1), -EIO);
	/* Sums that would wrap. */
	ck_assert_int_eq(blk_image_off(&be, UINT64_MAX, 1), -EIO);
	ck_assert_int_eq(blk_image_off(&be, 1, UINT64_MAX), -EIO);
	ck_assert_int_eq(blk_image_off(&be, UINT64_MAX, UINT64_MAX), -EIO);
	ck_assert_int_eq(blk_image_off(&be, 1ull << 55, 1), -EIO);
}
END_TEST

/* ---- requests -------------------------------------------------------- */

/* Range 100/50: the guest's sector 0 is the image's 100, and no further. */
START_TEST(test_write_read_in_range)
{
	static uint8_t data[R_SECTORS * 512], back[R_SECTORS * 512];
	uint32_t written;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 5);
	ck_assert_uint_eq(simple(&be, VIRTIO_BLK_T_OUT, 0, data, sizeof(data),
	    &written), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(written, 1);
	image_is(R_START, sizeof(data), data);

	memset(back, 0, sizeof(back));
	ck_assert_uint_eq(simple(&be, VIRTIO_BLK_T_IN, 0, back, sizeof(back),
	    &written), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(written, sizeof(back) + 1);
	ck_assert_mem_eq(back, data, sizeof(data));

	/* The last sector of the range, alone. */
	memset(data, 0x5a, 512);
	ck_assert_uint_eq(simple(&be, VIRTIO_BLK_T_OUT, 49, data, 512, NULL),
	    VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(simple(&be, VIRTIO_BLK_T_IN, 49, back, 512, NULL),
	    VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(back, data, 512);
	image_is(R_START, sizeof(data), NULL);
}
END_TEST

/* Data scattered over odd segments; header, data and status sharing. */
START_TEST(test_scattered_segments)
{
	static uint8_t out[16 + 1536], in[2048 + 1];
	static uint8_t a[100], b[412];
	struct hdr h;
	uint32_t written;

	/* Write: header and first data bytes in one segment. */
	hdr_set(&h, VIRTIO_BLK_T_OUT, 3);
	memcpy(out, &h, sizeof(h));
	for (size_t i = 16; i < sizeof(out); i++)
		out[i] = (uint8_t)(i ^ 0x3c);
	chain_reset(&ch, 1);
	seg(&ch, out, 40, false);
	seg(&ch, out + 40, 1000, false);
	seg(&ch, out + 1040, sizeof(out) - 1040, false);
	seg(&ch, in + 2048, 1, true);
	ck_assert_uint_eq(run(&be, &ch, NULL), VIRTIO_BLK_S_OK);
	image_is(R_START + 3, 1536, out + 16);

	/* Read into three segments; the status shares the last one. */
	hdr_set(&h, VIRTIO_BLK_T_IN, 3);
	chain_reset(&ch, 2);
	seg(&ch, &h, sizeof(h), false);
	seg(&ch, a, sizeof(a), true);
	seg(&ch, b, sizeof(b), true);
	seg(&ch, in, 1024 + 1, true);
	ck_assert_uint_eq(run(&be, &ch, &written), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(written, 1024 + 512 + 1);
	ck_assert_mem_eq(a, out + 16, 100);
	ck_assert_mem_eq(b, out + 116, 412);
	ck_assert_mem_eq(in, out + 528, 1024);
	ck_assert_uint_eq(in[1024], VIRTIO_BLK_S_OK);
}
END_TEST

START_TEST(test_out_of_range)
{
	static uint8_t buf[1024];

	memset(buf, 0x77, sizeof(buf));
	ck_assert_uint_eq(simple(&be, VIRTIO_BLK_T_OUT, 49, buf, 1024, NULL),
	    VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(simple(&be, VIRTIO_BLK_T_OUT, 50, buf, 512, NULL),
	    VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(simple(&be, VIRTIO_BLK_T_OUT, UINT64_MAX, buf, 512,
	    NULL), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(simple(&be, VIRTIO_BLK_T_OUT,
	    UINT64_MAX / 512 + 1, buf, 512, NULL), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(simple(&be, VIRTIO_BLK_T_IN, 49, buf, 1024, NULL),
	    VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(simple(&be, VIRTIO_BLK_T_IN, 1ull << 60, buf, 512,
	    NULL), VIRTIO_BLK_S_IOERR);
	image_is(0, 0, NULL);
	/* Nothing to move at the very end is fine. */
	ck_assert_uint_eq(simple(&be, VIRTIO_BLK_T_OUT, 50, buf, 0, NULL),
	    VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(simple(&be, VIRTIO_BLK_T_OUT, 51, buf, 0, NULL),
	    VIRTIO_BLK_S_IOERR);
	image_is(0, 0, NULL);
}
END_TEST

START_TEST(test_misaligned_length)
{
	static uint8_t buf[1024];
	uint32_t written;

	memset(buf, 0x11, sizeof(buf));
	ck_assert_uint_eq(simple(&be, VIRTIO_BLK_T_OUT, 0, buf, 513, NULL),
	    VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(simple(&be, VIRTIO_BLK_T_OUT, 0, buf, 511, NULL),
	    VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(simple(&be, VIRTIO_BLK_T_IN, 0, buf, 1000,
	    &written), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(written, 1);
	/* A refused read leaves the guest's buffer alone. */
	for (size_t i = 0; i < 1000; i++)
		ck_assert_uint_eq(buf[i], 0x11);
	image_is(0, 0, NULL);
}
END_TEST

START_TEST(test_unknown_type)
{
	static const uint32_t types[] = {
		2, 3, 5, 7, 9, 10, 12, 14, 15, 0x80000000u, 0xffffffffu,
	};
	static uint8_t buf[512];
	uint32_t written;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		ck_assert_uint_eq(simple(&be, types[i], 0, buf, 512, &written),
		    VIRTIO_BLK_S_UNSUPP);
		ck_assert_uint_eq(written, 1);
	}
	image_is(0, 0, NULL);
}
END_TEST

/* No header or no status byte: the device must be reset. */
START_TEST(test_malformed_chain)
{
	static struct blk_req r;
	static uint8_t buf[64], st;

	/* Header of 15 bytes. */
	chain_reset(&ch, 0);
	seg(&ch, buf, 15, false);
	seg(&ch, &st, 1, true);
	ck_assert_int_eq(blk_parse(&be, &ch, &r), -EPROTO);
	ck_assert_ptr_nonnull(r.why);
	/* Header in two pieces of 8 is fine. */
	hdr_set((struct hdr *)buf, VIRTIO_BLK_T_FLUSH, 0);
	chain_reset(&ch, 0);
	seg(&ch, buf, 8, false);
	seg(&ch, buf + 8, 8, false);
	seg(&ch, &st, 1, true);
	ck_assert_uint_eq(run(&be, &ch, NULL), VIRTIO_BLK_S_OK);
	/* No writable byte at all. */
	chain_reset(&ch, 0);
	seg(&ch, buf, 16, false);
	ck_assert_int_eq(blk_parse(&be, &ch, &r), -EPROTO);
	ck_assert_ptr_nonnull(r.why);
	chain_reset(&ch, 0);
	seg(&ch, buf, 64, false);
	ck_assert_int_eq(blk_parse(&be, &ch, &r), -EPROTO);
	/* Only writable bytes: no header. */
	chain_reset(&ch, 0);
	seg(&ch, buf, 16, true);
	seg(&ch, &st, 1, true);
	ck_assert_int_eq(blk_parse(&be, &ch, &r), -EPROTO);
	/* Empty chain. */
	chain_reset(&ch, 0);
	ck_assert_int_eq(blk_parse(&be, &ch, &r), -EPROTO);
	/* in_len claims more than the segments hold. */
	chain_reset(&ch, 0);
	seg(&ch, buf, 16, false);
	ch.in_len = 1;
	ck_assert_int_eq(blk_parse(&be, &ch, &r), -EPROTO);
	/* out_len does: the data is not there, nothing is written. */
	hdr_set((struct hdr *)buf, VIRTIO_BLK_T_OUT, 0);
	chain_reset(&ch, 0);
	seg(&ch, buf, 16 + 32, false);
	seg(&ch, &st, 1, true);
	ch.out_len += 512 - 32;
	ck_assert_uint_eq(run(&be, &ch, NULL), VIRTIO_BLK_S_IOERR);
	hdr_set((struct hdr *)buf, VIRTIO_BLK_T_DISCARD, 0);
	ch.out_len = 16 + 16;
	ch.seg[0].len = 16 + 8;
	ck_assert_uint_eq(run(&be, &ch, NULL), VIRTIO_BLK_S_IOERR);
	image_is(0, 0, NULL);
}
END_TEST

/* Data on the wrong side of a request is refused, not guessed at. */
START_TEST(test_wrong_directions)
{
	static uint8_t buf[1024], st;
	struct hdr h;

	/* Read with readable data after the header. */
	hdr_set(&h, VIRTIO_BLK_T_IN, 0);
	chain_reset(&ch, 0);
	seg(&ch, &h, sizeof(h), false);
	seg(&ch, buf, 512, false);
	seg(&ch, buf + 512, 512, true);
	seg(&ch, &st, 1, true);
	ck_assert_uint_eq(run(&be, &ch, NULL), VIRTIO_BLK_S_IOERR);
	/* Write with writable data before the status. */
	hdr_set(&h, VIRTIO_BLK_T_OUT, 0);
	chain_reset(&ch, 0);
	seg(&ch, &h, sizeof(h), false);
	seg(&ch, buf, 512, false);
	seg(&ch, buf + 512, 512, true);
	seg(&ch, &st, 1, true);
	ck_assert_uint_eq(run(&be, &ch, NULL), VIRTIO_BLK_S_IOERR);
	/* Flush with data either way. */
	ck_assert_uint_eq(simple(&be, VIRTIO_BLK_T_FLUSH, 0, buf, 512, NULL),
	    VIRTIO_BLK_S_IOERR);
	hdr_set(&h, VIRTIO_BLK_T_FLUSH, 0);
	chain_reset(&ch, 0);
	seg(&ch, &h, sizeof(h), false);
	seg(&ch, buf, 4, true);
	seg(&ch, &st, 1, true);
	ck_assert_uint_eq(run(&be, &ch, NULL), VIRTIO_BLK_S_IOERR);
	image_is(0, 0, NULL);
}
END_TEST

START_TEST(test_flush)
{
	uint32_t written;

	ck_assert_uint_eq(simple(&be, VIRTIO_BLK_T_FLUSH, 0, NULL, 0,
	    &written), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(written, 1);
	/* The sector of a flush means nothing. */
	ck_assert_uint_eq(simple(&be, VIRTIO_BLK_T_FLUSH, UINT64_MAX, NULL, 0,
	    NULL), VIRTIO_BLK_S_OK);
}
END_TEST

/* A read-only device refuses every change, and the file stays as it was. */
START_TEST(test_readonly_refusals)
{
	static uint8_t buf[512], back[512];
	struct virtio_blk_discard_write_zeroes s = dseg(0, 1, 0);
	struct blk_backend ro;

	ck_assert_int_eq(blk_backend_init(&ro, img, R_START, R_SECTORS, true,
	    "ro"), 0);
	memset(buf, 0x99, sizeof(buf));
	ck_assert_uint_eq(simple(&ro, VIRTIO_BLK_T_OUT, 0, buf, 512, NULL),
	    VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(dwz(&ro, VIRTIO_BLK_T_DISCARD, &s, 1),
	    VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(dwz(&ro, VIRTIO_BLK_T_WRITE_ZEROES, &s, 1),
	    VIRTIO_BLK_S_IOERR);
	/* Even if the driver claims to have negotiated them. */
	blk_negotiated(&ro, ~0ull);
	ck_assert_uint_eq(dwz(&ro, VIRTIO_BLK_T_WRITE_ZEROES, &s, 1),
	    VIRTIO_BLK_S_IOERR);
	image_is(0, 0, NULL);
	/* Reads, flush and GET_ID still work. */
	ck_assert_uint_eq(simple(&ro, VIRTIO_BLK_T_IN, 0, back, 512, NULL),
	    VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(back, before + R_START * 512, 512);
	ck_assert_uint_eq(simple(&ro, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL),
	    VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(simple(&ro, VIRTIO_BLK_T_GET_ID, 0, back, 20, NULL),
	    VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(back, "ro\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
}
END_TEST

START_TEST(test_get_id)
{
	static uint8_t id[32];
	struct blk_backend b;
	uint32_t written;

	memset(id, 0xcc, sizeof(id));
	ck_assert_uint_eq(simple(&be, VIRTIO_BLK_T_GET_ID, 0, id, 20,
	    &written), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(written, 21);
	ck_assert_mem_eq(id, "cupule-test\0\0\0\0\0\0\0\0\0", 20);

	/* 20 characters: no terminator; longer: cut. */
	ck_assert_int_eq(blk_backend_init(&b, img, 0, 0, false,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"), 0);
	memset(id, 0xcc, sizeof(id));
	ck_assert_uint_eq(simple(&b, VIRTIO_BLK_T_GET_ID, 0, id, 30,
	    &written), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(written, 21);
	ck_assert_mem_eq(id, "ABCDEFGHIJKLMNOPQRST", 20);
	for (size_t i = 20; i < 30; i++)
		ck_assert_uint_eq(id[i], 0xcc);

	/* No serial: twenty NULs. */
	ck_assert_int_eq(blk_backend_init(&b, img, 0, 0, false, NULL), 0);
	ck_assert_uint_eq(simple(&b, VIRTIO_BLK_T_GET_ID, 0, id, 20, NULL),
	    VIRTIO_BLK_S_OK);
	for (size_t i = 0; i < 20; i++)
		ck_assert_uint_eq(id[i], 0);

	/* Too small a buffer: refused, untouched. */
	memset(id, 0xcc, sizeof(id));
	ck_assert_uint_eq(simple(&be, VIRTIO_BLK_T_GET_ID, 0, id, 19,
	    &written), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(written, 1);
	for (size_t i = 0; i < 19; i++)
		ck_assert_uint_eq(id[i], 0xcc);
}
END_TEST

/* Sectors read back as zeroes after a discard or write-zeroes. */
static void
assert_zero_sectors(uint64_t first, uint64_t n)
{
	static uint8_t zero[R_SECTORS * 512];

	ck_assert_uint_le(n * 512, sizeof(zero));
	memset(zero, 0, sizeof(zero));
	image_is(first, n * 512, zero);
}

START_TEST(test_discard)
{
	struct virtio_blk_discard_write_zeroes s[3];

	s[0] = dseg(2, 3, 0);
	s[1] = dseg(10, 0, 0);		/* empty: nothing */
	s[2] = dseg(20, 8, 0);
	ck_assert_uint_eq(dwz(&be, VIRTIO_BLK_T_DISCARD, s, 3),
	    VIRTIO_BLK_S_OK);
	/* Punched holes read as zeroes. */
	image_zeroed(R_START + 2, R_START + 5, R_START + 20, R_START + 28);
}
END_TEST

START_TEST(test_discard_refusals)
{
	struct virtio_blk_discard_write_zeroes s[BLK_DISCARD_SEG + 1];
	static uint8_t odd[24], st;
	struct hdr h;

	s[0] = dseg(0, 1, VIRTIO_BLK_WZ_UNMAP);
	ck_assert_uint_eq(dwz(&be, VIRTIO_BLK_T_DISCARD, s, 1),
	    VIRTIO_BLK_S_UNSUPP);
	s[0] = dseg(0, 1, 2);
	ck_assert_uint_eq(dwz(&be, VIRTIO_BLK_T_DISCARD, s, 1),
	    VIRTIO_BLK_S_UNSUPP);
	s[0] = dseg(0, 1, 0x80000000u);
	ck_assert_uint_eq(dwz(&be, VIRTIO_BLK_T_WRITE_ZEROES, s, 1),
	    VIRTIO_BLK_S_UNSUPP);
	/* Past the range, or over it by one. */
	s[0] = dseg(49, 2, 0);
	ck_assert_uint_eq(dwz(&be, VIRTIO_BLK_T_DISCARD, s, 1),
	    VIRTIO_BLK_S_IOERR);
	s[0] = dseg(50, 1, 0);
	ck_assert_uint_eq(dwz(&be, VIRTIO_BLK_T_WRITE_ZEROES, s, 1),
	    VIRTIO_BLK_S_IOERR);
	s[0] = dseg(UINT64_MAX, 2, 0);
	ck_assert_uint_eq(dwz(&be, VIRTIO_BLK_T_DISCARD, s, 1),
	    VIRTIO_BLK_S_IOERR);
	/* A good segment before a bad one: nothing at all is done. */
	s[0] = dseg(0, 4, 0);
	s[1] = dseg(48, 3, 0);
	ck_assert_uint_eq(dwz(&be, VIRTIO_BLK_T_DISCARD, s, 2),
	    VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(dwz(&be, VIRTIO_BLK_T_WRITE_ZEROES, s, 2),
	    VIRTIO_BLK_S_IOERR);
	/* Over the sector limit (the range is small, so the limit trips first). */
	s[0] = dseg(0, BLK_DISCARD_SECTORS + 1, 0);
	ck_assert_uint_eq(dwz(&be, VIRTIO_BLK_T_DISCARD, s, 1),
	    VIRTIO_BLK_S_IOERR);
	s[0] = dseg(0, BLK_WZ_SECTORS + 1, 0);
	ck_assert_uint_eq(dwz(&be, VIRTIO_BLK_T_WRITE_ZEROES, s, 1),
	    VIRTIO_BLK_S_IOERR);
	/* Too many segments. */
	for (unsigned i = 0; i < BLK_DISCARD_SEG + 1; i++)
		s[i] = dseg(i, 1, 0);
	ck_assert_uint_eq(dwz(&be, VIRTIO_BLK_T_DISCARD, s,
	    BLK_DISCARD_SEG + 1), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(dwz(&be, VIRTIO_BLK_T_WRITE_ZEROES, s,
	    BLK_WZ_SEG + 1), VIRTIO_BLK_S_IOERR);
	/* No segment, or a part of one. */
	ck_assert_uint_eq(dwz(&be, VIRTIO_BLK_T_DISCARD, s, 0),
	    VIRTIO_BLK_S_IOERR);
	hdr_set(&h, VIRTIO_BLK_T_DISCARD, 0);
	chain_reset(&ch, 0);
	seg(&ch, &h, sizeof(h), false);
	seg(&ch, odd, sizeof(odd), false);
	seg(&ch, &st, 1, true);
	ck_assert_uint_eq(run(&be, &ch, NULL), VIRTIO_BLK_S_IOERR);
	image_is(0, 0, NULL);

	/* Exactly the limits is fine. */
	for (unsigned i = 0; i < BLK_DISCARD_SEG; i++)
		s[i] = dseg(i, 1, 0);
	ck_assert_uint_eq(dwz(&be, VIRTIO_BLK_T_DISCARD, s, BLK_DISCARD_SEG),
	    VIRTIO_BLK_S_OK);
	assert_zero_sectors(R_START, BLK_DISCARD_SEG);
}
END_TEST

/* Segments straddling descriptors are read as one copy. */
START_TEST(test_dwz_split_segment)
{
	static uint8_t buf[16 + 32], st;
	struct virtio_blk_discard_write_zeroes s[2] = {
		dseg(1, 1, 0), dseg(40, 10, VIRTIO_BLK_WZ_UNMAP),
	};

	hdr_set((struct hdr *)buf, VIRTIO_BLK_T_WRITE_ZEROES, 0);
	memcpy(buf + 16, s, sizeof(s));
	chain_reset(&ch, 0);
	seg(&ch, buf, 21, false);
	seg(&ch, buf + 21, 3, false);
	seg(&ch, buf + 24, sizeof(buf) - 24, false);
	seg(&ch, &st, 1, true);
	ck_assert_uint_eq(run(&be, &ch, NULL), VIRTIO_BLK_S_OK);
	image_zeroed(R_START + 1, R_START + 2, R_START + 40, R_START + 50);
}
END_TEST

/* Write-zeroes up to the last sector of the range; the next one stays. */
START_TEST(test_write_zeroes_edges)
{
	struct virtio_blk_discard_write_zeroes s;

	s = dseg(45, 5, 0);
	ck_assert_uint_eq(dwz(&be, VIRTIO_BLK_T_WRITE_ZEROES, &s, 1),
	    VIRTIO_BLK_S_OK);
	assert_zero_sectors(R_START + 45, 5);
	s = dseg(0, 1, VIRTIO_BLK_WZ_UNMAP);
	ck_assert_uint_eq(dwz(&be, VIRTIO_BLK_T_WRITE_ZEROES, &s, 1),
	    VIRTIO_BLK_S_OK);
	s = dseg(0, R_SECTORS, 0);
	ck_assert_uint_eq(dwz(&be, VIRTIO_BLK_T_WRITE_ZEROES, &s, 1),
	    VIRTIO_BLK_S_OK);
	assert_zero_sectors(R_START, R_SECTORS);
	/* The file keeps its size. */
	{
		struct stat st;

		ck_assert_int_eq(fstat(img, &st), 0);
		ck_assert_int_eq(st.st_size, IMG_BYTES);
	}
}
END_TEST

/* Without the feature negotiated, discard/write-zeroes are unsupported. */
START_TEST(test_dwz_not_negotiated)
{
	struct virtio_blk_discard_write_zeroes s = dseg(0, 1, 0);

	blk_negotiated(&be, VIRTIO_F_VERSION_1 | VIRTIO_BLK_F_FLUSH);
	ck_assert_uint_eq(dwz(&be, VIRTIO_BLK_T_DISCARD, &s, 1),
	    VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(dwz(&be, VIRTIO_BLK_T_WRITE_ZEROES, &s, 1),
	    VIRTIO_BLK_S_UNSUPP);
	image_is(0, 0, NULL);
}
END_TEST

/* Write-through (no FLUSH negotiated): writes and zeroes still land. */
START_TEST(test_writethrough)
{
	static uint8_t buf[1024];
	struct virtio_blk_discard_write_zeroes s = dseg(5, 2, 0);

	blk_negotiated(&be, VIRTIO_F_VERSION_1 | VIRTIO_BLK_F_WRITE_ZEROES);
	ck_assert(be.writethrough);
	memset(buf, 0x42, sizeof(buf));
	ck_assert_uint_eq(simple(&be, VIRTIO_BLK_T_OUT, 0, buf, 1024, NULL),
	    VIRTIO_BLK_S_OK);
	image_is(R_START, 1024, buf);
	memcpy(before + R_START * 512, buf, 1024);
	ck_assert_uint_eq(dwz(&be, VIRTIO_BLK_T_WRITE_ZEROES, &s, 1),
	    VIRTIO_BLK_S_OK);
	assert_zero_sectors(R_START + 5, 2);
}
END_TEST

/*
 * tmpfs (a memfd) cannot FALLOC_FL_ZERO_RANGE: write-zeroes falls back
 * to writing zeroes, a discard to doing nothing.
 */
START_TEST(test_zero_fallback)
{
	const uint64_t sectors = 8192;	/* 4 MiB: several 1 MiB writes */
	struct virtio_blk_discard_write_zeroes s[2];
	struct blk_backend b;
	uint8_t *p;
	int fd = memfd_create("check_blk", MFD_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)(sectors * 512)), 0);
	p = mmap(NULL, sectors * 512, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
	    0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	memset(p, 0xab, sectors * 512);
	ck_assert_int_eq(fallocate(fd, FALLOC_FL_ZERO_RANGE |
	    FALLOC_FL_KEEP_SIZE, 0, 512), -1);

	ck_assert_int_eq(blk_backend_init(&b, fd, 1, sectors - 2, false, NULL),
	    0);
	s[0] = dseg(0, 3, 0);
	s[1] = dseg(100, (uint32_t)(sectors - 2 - 100), 0);
	ck_assert_uint_eq(dwz(&b, VIRTIO_BLK_T_WRITE_ZEROES, s, 2),
	    VIRTIO_BLK_S_OK);
	for (uint64_t i = 0; i < sectors * 512; i++) {
		uint64_t sec = i / 512;
		bool z = (sec >= 1 && sec < 4) || (sec >= 101 &&
		    sec < sectors - 1);

		if (p[i] != (z ? 0 : 0xab))
			ck_abort_msg("byte %llu", (unsigned long long)i);
	}
	/* Discard: tmpfs can punch; either way the result is OK. */
	s[0] = dseg(3, 1, 0);
	ck_assert_uint_eq(dwz(&b, VIRTIO_BLK_T_DISCARD, s, 1),
	    VIRTIO_BLK_S_OK);
	munmap(p, sectors * 512);
	close(fd);
}
END_TEST

/* A file that shrank under the device: the missing part is an error. */
START_TEST(test_shrunk_image)
{
	static uint8_t buf[1024];

	ck_assert_int_eq(ftruncate(img, (R_START + 10) * 512 + 100), 0);
	ck_assert_uint_eq(simple(&be, VIRTIO_BLK_T_IN, 9, buf, 1024, NULL),
	    VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(simple(&be, VIRTIO_BLK_T_IN, 20, buf, 512, NULL),
	    VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(simple(&be, VIRTIO_BLK_T_IN, 0, buf, 1024, NULL),
	    VIRTIO_BLK_S_OK);
}
END_TEST

/*
 * The whole path from a descriptor table: vq_pop() builds the chain,
 * blk_parse() takes it, the used ring gets the head and length.
 */
START_TEST(test_through_virtqueue)
{
	const uint64_t base = 0x200000, size = 0x20000;
	uint8_t *mem = calloc(1, size);
	struct gmem gm = { .n = 1, .r = { { base, size, mem } } };
	struct vq_state q = {
		.size = 8, .ready = 1, .desc = base, .avail = base + 0x1000,
		.used = base + 0x2000,
	};
	struct virtq_desc d[3] = {
		{ base + 0x4000, 16, VIRTQ_DESC_F_NEXT, 1 },
		{ base + 0x5000, 1024, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2 },
		{ base + 0x6000, 1, VIRTQ_DESC_F_WRITE, 0 },
	};
	static struct blk_req r;
	struct blk_done done;
	uint16_t idx = 1, head = 0;
	uint32_t used[2];

	ck_assert_ptr_nonnull(mem);
	memcpy(mem, d, sizeof(d));
	memcpy(mem + 0x1000 + 4, &head, 2);		/* avail ring[0] */
	memcpy(mem + 0x1000 + 2, &idx, 2);		/* avail idx */
	hdr_set((struct hdr *)(mem + 0x4000), VIRTIO_BLK_T_IN, 10);

	ck_assert_int_eq(vq_pop(&gm, &q, true, &ch), 1);
	ck_assert_int_eq(blk_parse(&be, &ch, &r), 0);
	blk_exec(&be, &r, &done);
	ck_assert_uint_eq(done.status, VIRTIO_BLK_S_OK);
	ck_assert_int_eq(vq_push(&gm, &q, done.head, done.written), 0);
	ck_assert_mem_eq(mem + 0x5000, before + (R_START + 10) * 512, 1024);
	ck_assert_uint_eq(mem[0x6000], VIRTIO_BLK_S_OK);
	memcpy(used, mem + 0x2000 + 4, 8);
	ck_assert_uint_eq(used[0], 0);
	ck_assert_uint_eq(used[1], 1025);
	free(mem);
}
END_TEST

/* ---- in-flight record ------------------------------------------------ */

START_TEST(test_inflight_layout)
{
	ck_assert_uint_eq(sizeof(struct blk_inflight), 0x810);
	ck_assert_uint_eq(offsetof(struct blk_inflight, magic), 0);
	ck_assert_uint_eq(offsetof(struct blk_inflight, version), 4);
	ck_assert_uint_eq(offsetof(struct blk_inflight, max), 6);
	ck_assert_uint_eq(offsetof(struct blk_inflight, reserved), 8);
	ck_assert_uint_eq(offsetof(struct blk_inflight, e), 0x10);
	ck_assert_uint_eq(sizeof(struct blk_inflight_entry), 8);
	ck_assert_uint_eq(offsetof(struct blk_inflight_entry, avail_idx), 0);
	ck_assert_uint_eq(offsetof(struct blk_inflight_entry, used_idx), 4);
	ck_assert_uint_eq(offsetof(struct blk_inflight_entry, state), 6);
	ck_assert_uint_le(sizeof(struct blk_inflight), VIRTIO_DEV_AREA);
	ck_assert_uint_ge(BLK_INFLIGHT_MAX, BLK_QUEUE_SIZE);
}
END_TEST

START_TEST(test_inflight_add_remove_list)
{
	static struct blk_inflight r;
	uint16_t heads[BLK_INFLIGHT_MAX];

	memset(&r, 0xff, sizeof(r));
	ck_assert_int_eq(blk_inflight_check(&r), -EPROTO);
	blk_inflight_init(&r);
	ck_assert_int_eq(blk_inflight_check(&r), 0);
	ck_assert_int_eq(blk_inflight_list(&r, 0, heads, 8), 0);

	/* Taken at avail indexes 10, 11, 12, 13. */
	ck_assert_int_eq(blk_inflight_add(&r, 5, 10), 0);
	ck_assert_int_eq(blk_inflight_add(&r, 0, 11), 0);
	ck_assert_int_eq(blk_inflight_add(&r, 255, 12), 0);
	ck_assert_int_eq(blk_inflight_add(&r, 17, 13), 0);
	ck_assert_int_eq(blk_inflight_add(&r, 5, 14), -EEXIST);
	ck_assert_int_eq(blk_inflight_add(&r, 256, 14), -EINVAL);
	ck_assert_int_eq(blk_inflight_add(&r, UINT16_MAX, 14), -EINVAL);

	ck_assert_int_eq(blk_inflight_list(&r, 14, heads, BLK_INFLIGHT_MAX),
	    4);
	ck_assert_uint_eq(heads[0], 5);
	ck_assert_uint_eq(heads[1], 0);
	ck_assert_uint_eq(heads[2], 255);
	ck_assert_uint_eq(heads[3], 17);

	ck_assert_int_eq(blk_inflight_remove(&r, 0), 0);
	ck_assert_int_eq(blk_inflight_remove(&r, 0), -ENOENT);
	ck_assert_int_eq(blk_inflight_remove(&r, 300), -ENOENT);
	ck_assert_int_eq(blk_inflight_add(&r, 0, 14), 0);	/* the newest */
	/* A short list gives the oldest ones and the full count. */
	ck_assert_int_eq(blk_inflight_list(&r, 15, heads, 2), 4);
	ck_assert_uint_eq(heads[0], 5);
	ck_assert_uint_eq(heads[1], 255);
	ck_assert_int_eq(blk_inflight_list(&r, 15, heads, BLK_INFLIGHT_MAX),
	    4);
	ck_assert_uint_eq(heads[2], 17);
	ck_assert_uint_eq(heads[3], 0);

	/* Every head at once. */
	blk_inflight_init(&r);
	for (unsigned i = 0; i < BLK_INFLIGHT_MAX; i++)
		ck_assert_int_eq(blk_inflight_add(&r,
		    (uint16_t)((i * 37) % BLK_INFLIGHT_MAX), (uint16_t)i), 0);
	ck_assert_int_eq(blk_inflight_list(&r, BLK_INFLIGHT_MAX, heads,
	    BLK_INFLIGHT_MAX), BLK_INFLIGHT_MAX);
	for (unsigned i = 0; i < BLK_INFLIGHT_MAX; i++)
		ck_assert_uint_eq(heads[i], (i * 37) % BLK_INFLIGHT_MAX);
}
END_TEST

/* Order survives the 16-bit avail index wrapping. */
START_TEST(test_inflight_avail_wrap)
{
	static struct blk_inflight r;
	uint16_t heads[4];

	blk_inflight_init(&r);
	ck_assert_int_eq(blk_inflight_add(&r, 9, 65534), 0);
	ck_assert_int_eq(blk_inflight_add(&r, 3, 65535), 0);
	ck_assert_int_eq(blk_inflight_add(&r, 7, 0), 0);
	ck_assert_int_eq(blk_inflight_add(&r, 1, 1), 0);
	ck_assert_int_eq(blk_inflight_list(&r, 2, heads, 4), 4);
	ck_assert_uint_eq(heads[0], 9);
	ck_assert_uint_eq(heads[1], 3);
	ck_assert_uint_eq(heads[2], 7);
	ck_assert_uint_eq(heads[3], 1);
}
END_TEST

/*
 * What each crash leaves, and what recovery makes of it.  Plain data: a
 * copy elsewhere in memory, as a new process maps it, behaves the same.
 */
START_TEST(test_inflight_recover)
{
	static struct blk_inflight r;
	uint16_t heads[8], last;
	struct blk_inflight *n;
	uint8_t *copy;

	blk_inflight_init(&r);
	ck_assert_int_eq(blk_inflight_add(&r, 1, 100), 0);
	ck_assert_int_eq(blk_inflight_add(&r, 2, 101), 0);
	ck_assert_int_eq(blk_inflight_add(&r, 3, 102), 0);
	ck_assert_int_eq(blk_inflight_done(&r, 9, 0), -ENOENT);
	ck_assert_int_eq(blk_inflight_done(&r, 999, 0), -ENOENT);
	/* 2 is being pushed at used index 40 ... */
	ck_assert_int_eq(blk_inflight_done(&r, 2, 40), 0);

	copy = malloc(sizeof(r) + 8);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy + 8, &r, sizeof(r));
	n = (struct blk_inflight *)(copy + 8);
	ck_assert_int_eq(blk_inflight_check(n), 0);
	/* ... and was not (used index still 40): it runs again. */
	last = 103;
	ck_assert_int_eq(blk_inflight_recover(n, &last, 40, 8), 3);
	ck_assert_uint_eq(last, 103);
	ck_assert_uint_eq(n->e[2].state, BLK_INFLIGHT_PENDING);
	ck_assert_int_eq(blk_inflight_list(n, last, heads, 8), 3);
	ck_assert_uint_eq(heads[0], 1);
	ck_assert_uint_eq(heads[1], 2);
	ck_assert_uint_eq(heads[2], 3);

	/* Pushed (committed 41): forgotten.  The used index wraps. */
	memcpy(n, &r, sizeof(r));
	ck_assert_int_eq(blk_inflight_recover(n, &last, 41, 8), 2);
	ck_assert_uint_eq(n->e[2].state, BLK_INFLIGHT_FREE);
	ck_assert_int_eq(blk_inflight_done(n, 1, 65535), 0);
	ck_assert_int_eq(blk_inflight_recover(n, &last, 0, 8), 1);
	ck_assert_int_eq(blk_inflight_list(n, last, heads, 8), 1);
	ck_assert_uint_eq(heads[0], 3);

	/* Recorded at 103, last_avail not moved yet: it is taken now. */
	memcpy(n, &r, sizeof(r));
	ck_assert_int_eq(blk_inflight_add(n, 4, 103), 0);
	ck_assert_int_eq(blk_inflight_recover(n, &last, 41, 8), 3);
	ck_assert_uint_eq(last, 104);
	ck_assert_int_eq(blk_inflight_list(n, last, heads, 8), 3);
	ck_assert_uint_eq(heads[2], 4);
	/* A second recovery (the successor died too) changes nothing. */
	ck_assert_int_eq(blk_inflight_recover(n, &last, 41, 8), 3);
	ck_assert_uint_eq(last, 104);

	/* What no crash of this code leaves is refused, nothing changed. */
	memcpy(n, &r, sizeof(r));
	last = 103;
	ck_assert_int_eq(blk_inflight_recover(n, &last, 45, 8), -EPROTO);
	ck_assert_int_eq(blk_inflight_recover(n, &last, 39, 8), -EPROTO);
	ck_assert_uint_eq(n->e[2].state, BLK_INFLIGHT_DONE);
	ck_assert_int_eq(blk_inflight_add(n, 5, 103), 0);
	ck_assert_int_eq(blk_inflight_add(n, 6, 103), 0);	/* two fresh */
	ck_assert_int_eq(blk_inflight_recover(n, &last, 40, 8), -EPROTO);
	ck_assert_uint_eq(last, 103);
	memcpy(n, &r, sizeof(r));
	ck_assert_int_eq(blk_inflight_add(n, 5, 90), 0);	/* 13 back */
	ck_assert_int_eq(blk_inflight_recover(n, &last, 40, 8), -EPROTO);
	ck_assert_int_eq(blk_inflight_recover(n, &last, 40, 16), 4);
	memcpy(n, &r, sizeof(r));
	ck_assert_int_eq(blk_inflight_add(n, 3, 102), -EEXIST);
	ck_assert_int_eq(blk_inflight_add(n, 9, 100), 0);	/* head >= 8 */
	ck_assert_int_eq(blk_inflight_recover(n, &last, 40, 8), -EPROTO);
	ck_assert_int_eq(blk_inflight_recover(n, &last, 40, 0), -EPROTO);
	ck_assert_int_eq(blk_inflight_done(n, 1, 40), 0);	/* two DONE */
	ck_assert_int_eq(blk_inflight_recover(n, &last, 40, 16), -EPROTO);

	/* Unknown states or layouts are refused. */
	memcpy(n, &r, sizeof(r));
	n->e[7].state = 3;
	ck_assert_int_eq(blk_inflight_check(n), -EPROTO);
	n->e[7].state = 0;
	n->version = 1;
	ck_assert_int_eq(blk_inflight_check(n), -EPROTO);
	n->version = BLK_INFLIGHT_VERSION;
	n->max = 128;
	ck_assert_int_eq(blk_inflight_check(n), -EPROTO);
	free(copy);
}
END_TEST

/* ---- engines --------------------------------------------------------- */

static const enum blk_engine_kind kinds[] = {
	BLK_ENGINE_SYNC, BLK_ENGINE_URING,
};

/* Creates an engine of kinds[i]; false when io_uring is not allowed. */
static bool
engine_for(int i, struct blk_engine **e, const struct blk_backend *b,
    unsigned depth)
{
	int ret = blk_engine_new(e, b, depth, kinds[i]);

	if (ret == -ENOSYS || ret == -EPERM) {
		fprintf(stderr, "check_blk: io_uring not allowed here (%s); "
		    "URING engine tests pass without running\n",
		    strerror(-ret));
		return false;
	}
	ck_assert_int_eq(ret, 0);
	ck_assert_int_eq(blk_engine_kind(*e), kinds[i]);
	return true;
}

/* Requests of the load test, each with its own buffers. */
struct lreq {
	struct hdr h;
	uint8_t st;
	struct vq_chain c;
	uint8_t *data;
};

static void
lreq_build(struct lreq *q, uint16_t head, uint32_t type, uint64_t sector,
    uint32_t len)
{
	bool in = type == VIRTIO_BLK_T_IN;

	chain_reset(&q->c, head);
	hdr_set(&q->h, type, sector);
	seg(&q->c, &q->h, sizeof(q->h), false);
	seg(&q->c, q->data, len, in);
	seg(&q->c, &q->st, 1, true);
	q->st = 0xee;
}

/*
 * Submits n requests through e at most depth at a time and waits for
 * them all; every one must end with status.
 */
static void
pump(struct blk_engine *e, const struct blk_backend *b, struct lreq *q,
    unsigned n, unsigned depth, uint8_t status)
{
	static struct blk_req r;
	struct blk_done done[16];
	unsigned next = 0, finished = 0;
	bool *seen = calloc(n, sizeof(*seen));

	ck_assert_ptr_nonnull(seen);
	while (finished < n) {
		while (next < n && blk_engine_pending(e) < depth) {
			ck_assert_int_eq(blk_parse(b, &q[next].c, &r), 0);
			ck_assert_int_eq(blk_engine_submit(e, &r), 0);
			next++;
		}
		ck_assert_int_eq(blk_engine_kick(e), 0);
		ck_assert_int_eq(blk_engine_wait(e), 0);
		for (int k = blk_engine_reap(e, done, 16), j = 0; j < k; j++) {
			uint16_t h = done[j].head;

			ck_assert_uint_lt(h, n);
			ck_assert(!seen[h]);
			seen[h] = true;
			ck_assert_uint_eq(done[j].status, status);
			ck_assert_uint_eq(q[h].st, status);
			finished++;
		}
	}
	ck_assert_uint_eq(blk_engine_pending(e), 0);
	free(seen);
}

/* 1000 random 4k writes at queue depth 32, then reads checked by content. */
START_TEST(test_engine_load)
{
	enum { N = 1000, BLOCKS = 2048, DEPTH = 32 };
	struct blk_backend b;
	struct blk_engine *e;
	struct lreq *q = calloc(N, sizeof(*q));
	uint8_t *data = malloc((size_t)N * 4096);
	uint32_t *block = malloc(N * sizeof(*block));
	uint32_t *perm = malloc(BLOCKS * sizeof(*perm));
	uint64_t rnd = 0x9e3779b97f4a7c15ull;
	int fd = make_image(BLOCKS * 8 + 16);

	ck_assert(q && data && block && perm);
	ck_assert_int_eq(blk_backend_init(&b, fd, 16, BLOCKS * 8, false, "l"),
	    0);
	if (!engine_for(_i, &e, &b, DEPTH))
		goto out;
	/* Distinct blocks: concurrent writes to one block have no order. */
	for (uint32_t i = 0; i < BLOCKS; i++)
		perm[i] = i;
	for (uint32_t i = BLOCKS - 1; i > 0; i--) {
		uint32_t j, t;

		rnd ^= rnd << 13;
		rnd ^= rnd >> 7;
		rnd ^= rnd << 17;
		j = (uint32_t)(rnd % (i + 1));
		t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (uint32_t i = 0; i < N; i++) {
		block[i] = perm[i];
		q[i].data = data + (size_t)i * 4096;
		for (uint32_t k = 0; k < 4096; k += 4) {
			uint32_t v = i * 0x10001u ^ k;

			memcpy(q[i].data + k, &v, 4);
		}
		lreq_build(&q[i], (uint16_t)i, VIRTIO_BLK_T_OUT,
		    (uint64_t)block[i] * 8, 4096);
	}
	pump(e, &b, q, N, DEPTH, VIRTIO_BLK_S_OK);

	memset(data, 0, (size_t)N * 4096);
	for (uint32_t i = 0; i < N; i++)
		lreq_build(&q[i], (uint16_t)i, VIRTIO_BLK_T_IN,
		    (uint64_t)block[i] * 8, 4096);
	pump(e, &b, q, N, DEPTH, VIRTIO_BLK_S_OK);
	for (uint32_t i = 0; i < N; i++) {
		for (uint32_t k = 0; k < 4096; k += 4) {
			uint32_t v;

			memcpy(&v, q[i].data + k, 4);
			if (v != (i * 0x10001u ^ k))
				ck_abort_msg("request %u byte %u", i, k);
		}
	}
	/* The 16 sectors before the range were not written. */
	{
		uint8_t head[16 * 512];

		ck_assert_int_eq(pread(fd, head, sizeof(head), 0),
		    (ssize_t)sizeof(head));
		for (size_t i = 0; i < sizeof(head); i++)
			if (head[i] != pattern(i))
				ck_abort_msg("byte %zu before the range", i);
	}
	blk_engine_free(e);
out:
	close(fd);
	free(q);
	free(data);
	free(block);
	free(perm);
}
END_TEST

/* Refusals, GET_ID, flush, discard and write-zeroes through an engine. */
START_TEST(test_engine_mixed)
{
	static uint8_t bufs[8][4096];
	struct lreq q[8];
	struct virtio_blk_discard_write_zeroes s = dseg(2, 2, 0);
	struct blk_engine *e;
	static struct blk_req r;
	struct blk_done done[8];
	struct pollfd p;
	int n = 0, got;

	if (!engine_for(_i, &e, &be, 8))
		return;
	memset(q, 0, sizeof(q));
	for (int i = 0; i < 8; i++)
		q[i].data = bufs[i];
	lreq_build(&q[0], 0, VIRTIO_BLK_T_IN, 60, 512);	/* beyond: IOERR */
	lreq_build(&q[1], 1, 77, 0, 512);			/* UNSUPP */
	lreq_build(&q[2], 2, VIRTIO_BLK_T_GET_ID, 0, 20);
	q[2].c.seg[1].write = true;
	q[2].c.out_len -= 20;
	q[2].c.in_len += 20;
	chain_reset(&q[3].c, 3);
	hdr_set(&q[3].h, VIRTIO_BLK_T_FLUSH, 0);
	seg(&q[3].c, &q[3].h, 16, false);
	seg(&q[3].c, &q[3].st, 1, true);
	chain_reset(&q[4].c, 4);
	hdr_set(&q[4].h, VIRTIO_BLK_T_DISCARD, 0);
	memcpy(bufs[4], &s, sizeof(s));
	seg(&q[4].c, &q[4].h, 16, false);
	seg(&q[4].c, bufs[4], 16, false);
	seg(&q[4].c, &q[4].st, 1, true);
	chain_reset(&q[5].c, 5);
	hdr_set(&q[5].h, VIRTIO_BLK_T_WRITE_ZEROES, 0);
	s = dseg(10, 3, VIRTIO_BLK_WZ_UNMAP);
	memcpy(bufs[5], &s, sizeof(s));
	seg(&q[5].c, &q[5].h, 16, false);
	seg(&q[5].c, bufs[5], 16, false);
	seg(&q[5].c, &q[5].st, 1, true);

	for (int i = 0; i < 6; i++) {
		ck_assert_int_eq(blk_parse(&be, &q[i].c, &r), 0);
		ck_assert_int_eq(blk_engine_submit(e, &r), 0);
	}
	ck_assert_int_eq(blk_engine_kick(e), 0);
	while (n < 6) {
		ck_assert_int_eq(blk_engine_wait(e), 0);
		p = (struct pollfd){ .fd = blk_engine_fd(e), .events = POLLIN };
		ck_assert_int_eq(poll(&p, 1, 0), 1);
		/* One at a time: the fd stays readable while more wait. */
		got = blk_engine_reap(e, done + n, 1);
		ck_assert_int_le(got, 1);
		n += got;
	}
	ck_assert_int_eq(blk_engine_reap(e, done, 8), 0);
	ck_assert_uint_eq(q[0].st, VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(q[1].st, VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(q[2].st, VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(bufs[2], "cupule-test\0\0\0\0\0\0\0\0\0", 20);
	ck_assert_uint_eq(q[3].st, VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(q[4].st, VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(q[5].st, VIRTIO_BLK_S_OK);
	image_zeroed(R_START + 2, R_START + 4, R_START + 10, R_START + 13);
	/* Nothing left: the fd is quiet. */
	p = (struct pollfd){ .fd = blk_engine_fd(e), .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 0), 0);
	blk_engine_free(e);
}
END_TEST

START_TEST(test_engine_limits)
{
	static uint8_t bufs[5][512];
	struct lreq q[5];
	static struct blk_req r;
	struct blk_engine *e;
	struct blk_done done[5];
	int n = 0;

	ck_assert_int_eq(blk_engine_new(&e, &be, 0, BLK_ENGINE_SYNC), -EINVAL);
	ck_assert_ptr_null(e);
	ck_assert_int_eq(blk_engine_new(&e, &be, BLK_QUEUE_SIZE + 1,
	    BLK_ENGINE_SYNC), -EINVAL);
	ck_assert_int_eq(blk_engine_new(&e, &be, 4, (enum blk_engine_kind)7),
	    -EINVAL);
	blk_engine_free(NULL);
	if (!engine_for(_i, &e, &be, 4))
		return;
	for (int i = 0; i < 5; i++) {
		q[i].data = bufs[i];
		lreq_build(&q[i], (uint16_t)i, VIRTIO_BLK_T_IN, (uint64_t)i,
		    512);
		ck_assert_int_eq(blk_parse(&be, &q[i].c, &r), 0);
		ck_assert_int_eq(blk_engine_submit(e, &r), i < 4 ? 0 : -EBUSY);
	}
	ck_assert_uint_eq(blk_engine_pending(e), 4);
	while (n < 4) {
		ck_assert_int_eq(blk_engine_wait(e), 0);
		n += blk_engine_reap(e, done + n, 4 - n);
	}
	ck_assert_uint_eq(blk_engine_pending(e), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_mem_eq(bufs[i], before + (R_START + i) * 512, 512);
	/* An empty engine does not block in wait. */
	ck_assert_int_eq(blk_engine_wait(e), 0);
	blk_engine_free(e);
}
END_TEST

/* Drain (device reset) forgets requests without touching their status. */
START_TEST(test_engine_drain)
{
	static uint8_t bufs[16][4096];
	struct lreq q[16];
	static struct blk_req r;
	struct blk_engine *e;
	struct blk_done done[16];
	struct pollfd p;

	if (!engine_for(_i, &e, &be, 16))
		return;
	for (int i = 0; i < 16; i++) {
		q[i].data = bufs[i];
		lreq_build(&q[i], (uint16_t)i, VIRTIO_BLK_T_IN,
		    (uint64_t)i * 2, 1024);
		ck_assert_int_eq(blk_parse(&be, &q[i].c, &r), 0);
		ck_assert_int_eq(blk_engine_submit(e, &r), 0);
	}
	ck_assert_int_eq(blk_engine_kick(e), 0);
	blk_engine_drain(e);
	ck_assert_uint_eq(blk_engine_pending(e), 0);
	ck_assert_int_eq(blk_engine_reap(e, done, 16), 0);
	for (int i = 0; i < 16; i++)
		ck_assert_uint_eq(q[i].st, 0xee);
	p = (struct pollfd){ .fd = blk_engine_fd(e), .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 0), 0);
	/* And it works afterwards. */
	pump(e, &be, q, 16, 16, VIRTIO_BLK_S_OK);
	blk_engine_free(e);
}
END_TEST

/* Both engines agree with blk_exec() on a file that shrank. */
START_TEST(test_engine_shrunk)
{
	static uint8_t bufs[2][1024];
	struct lreq q[2];
	struct blk_engine *e;

	if (!engine_for(_i, &e, &be, 2))
		return;
	ck_assert_int_eq(ftruncate(img, (R_START + 10) * 512 + 100), 0);
	q[0].data = bufs[0];
	q[1].data = bufs[1];
	lreq_build(&q[0], 0, VIRTIO_BLK_T_IN, 9, 1024);
	lreq_build(&q[1], 1, VIRTIO_BLK_T_IN, 30, 512);
	pump(e, &be, q, 2, 2, VIRTIO_BLK_S_IOERR);
	blk_engine_free(e);
}
END_TEST

static Suite *
blk_suite(void)
{
	Suite *s = suite_create("blk");
	int nkinds = (int)(sizeof(kinds) / sizeof(kinds[0]));
	TCase *tc;

	tc = tcase_create("backend");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_init_whole_and_range);
	tcase_add_test(tc, test_init_odd_sizes);
	tcase_add_test(tc, test_init_access_mode);
	tcase_add_test(tc, test_features);
	tcase_add_test(tc, test_config_layout);
	tcase_add_test(tc, test_negotiated);
	tcase_add_test(tc, test_image_off);
	suite_add_tcase(s, tc);

	tc = tcase_create("requests");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_write_read_in_range);
	tcase_add_test(tc, test_scattered_segments);
	tcase_add_test(tc, test_out_of_range);
	tcase_add_test(tc, test_misaligned_length);
	tcase_add_test(tc, test_unknown_type);
	tcase_add_test(tc, test_malformed_chain);
	tcase_add_test(tc, test_wrong_directions);
	tcase_add_test(tc, test_flush);
	tcase_add_test(tc, test_readonly_refusals);
	tcase_add_test(tc, test_get_id);
	tcase_add_test(tc, test_discard);
	tcase_add_test(tc, test_discard_refusals);
	tcase_add_test(tc, test_dwz_split_segment);
	tcase_add_test(tc, test_write_zeroes_edges);
	tcase_add_test(tc, test_dwz_not_negotiated);
	tcase_add_test(tc, test_writethrough);
	tcase_add_test(tc, test_zero_fallback);
	tcase_add_test(tc, test_shrunk_image);
	tcase_add_test(tc, test_through_virtqueue);
	suite_add_tcase(s, tc);

	tc = tcase_create("inflight");
	tcase_add_test(tc, test_inflight_layout);
	tcase_add_test(tc, test_inflight_add_remove_list);
	tcase_add_test(tc, test_inflight_avail_wrap);
	tcase_add_test(tc, test_inflight_recover);
	suite_add_tcase(s, tc);

	tc = tcase_create("engine");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_engine_load, 0, nkinds);
	tcase_add_loop_test(tc, test_engine_mixed, 0, nkinds);
	tcase_add_loop_test(tc, test_engine_limits, 0, nkinds);
	tcase_add_loop_test(tc, test_engine_drain, 0, nkinds);
	tcase_add_loop_test(tc, test_engine_shrunk, 0, nkinds);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(blk_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
