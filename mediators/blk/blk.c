/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-blk requests: the backend, the features and configuration the
 * device offers, and the parser that turns a descriptor chain into a
 * checked struct blk_req.
 *
 * The chain's segments were validated by vq_pop(), but what they hold
 * is guest memory the guest may rewrite at any time: the header and the
 * discard segments are copied out once and only the copies are looked
 * at.  Data buffers are handed to the I/O as they are; a guest that
 * changes them while a request runs only garbles its own data.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <linux/fs.h>

#include "blk.h"

_Static_assert(sizeof(struct virtio_blk_config) == 0x3c, "config layout");
_Static_assert(offsetof(struct virtio_blk_config, blk_size) == 0x14,
    "config layout");
_Static_assert(offsetof(struct virtio_blk_config, max_discard_sectors) == 0x24,
    "config layout");
_Static_assert(offsetof(struct virtio_blk_config, write_zeroes_may_unmap) ==
    0x38, "config layout");
_Static_assert(sizeof(struct virtio_blk_config) <= VIRTIO_CFG_MAX,
    "config fits the shared state");
_Static_assert(sizeof(struct virtio_blk_discard_write_zeroes) == 16,
    "discard segment layout");
_Static_assert(BLK_QUEUE_SIZE <= VQ_MAX_SIZE, "queue size");

/* The request header (5.2.6), little-endian. */
struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};
_Static_assert(sizeof(struct blk_hdr) == BLK_HDR_BYTES, "header layout");

/* Sets up b over fd and a range of it; 0, -EINVAL, -EBADF or -errno. */
int
blk_backend_init(struct blk_backend *b, int fd, uint64_t start,
    uint64_t sectors, bool readonly, const char *serial)
{
	uint64_t bytes, image;
	struct stat st;
	int fl;

	memset(b, 0, sizeof(*b));
	b->fd = -1;
	if (fd < 0)
		return -EBADF;
	if ((fl = fcntl(fd, F_GETFL)) < 0 || fstat(fd, &st) < 0)
		return -errno;
	/* Reads are always needed; writes unless read-only. */
	if ((fl & O_ACCMODE) == O_WRONLY ||
	    (!readonly && (fl & O_ACCMODE) != O_RDWR))
		return -EBADF;
	if (S_ISREG(st.st_mode))
		bytes = (uint64_t)st.st_size;
	else if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &bytes) < 0)
			return -errno;
	} else
		return -EINVAL;
	/* A trailing part of a sector is never part of the disk. */
	image = bytes >> BLK_SECTOR_SHIFT;
	if (start >= image)
		return -EINVAL;
	if (sectors == 0)
		sectors = image - start;
	if (sectors > image - start || start + sectors > BLK_MAX_SECTORS)
		return -EINVAL;

	b->fd = fd;
	b->start = start;
	b->sectors = sectors;
	b->readonly = readonly;
	if (serial)
		memcpy(b->serial, serial, strnlen(serial, BLK_ID_BYTES));
	b->negotiated = blk_features(b);
	b->writethrough = false;
	return 0;
}

/*
 * What the device truly does.  Not offered: SIZE_MAX (any segment size
 * is fine, the I/O goes straight to guest memory), GEOMETRY, TOPOLOGY,
 * CONFIG_WCE, MQ, and the lifetime and secure-erase requests.
 */
uint64_t
blk_features(const struct blk_backend *b)
{
	uint64_t f = VIRTIO_F_VERSION_1 | VIRTIO_F_INDIRECT_DESC |
	    VIRTIO_F_EVENT_IDX | VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE |
	    VIRTIO_BLK_F_FLUSH;

	if (b->readonly)
		f |= VIRTIO_BLK_F_RO;
	else
		f |= VIRTIO_BLK_F_DISCARD | VIRTIO_BLK_F_WRITE_ZEROES;
	return f;
}

/* Keeps the offered part of what the driver accepted. */
void
blk_negotiated(struct blk_backend *b, uint64_t features)
{
	b->negotiated = features & blk_features(b);
	/* 5.2.6.3: without FLUSH the driver may not have to ask. */
	b->writethrough = !(b->negotiated & VIRTIO_BLK_F_FLUSH);
}

/* Fills the guest-visible configuration, little-endian. */
void
blk_config(const struct blk_backend *b, struct virtio_blk_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->capacity = htole64(b->sectors);
	cfg->seg_max = htole32(BLK_SEG_MAX);
	cfg->blk_size = htole32(BLK_SECTOR);
	if (b->readonly)
		return;
	cfg->max_discard_sectors = htole32(BLK_DISCARD_SECTORS);
	cfg->max_discard_seg = htole32(BLK_DISCARD_SEG);
	cfg->discard_sector_alignment = htole32(BLK_DISCARD_ALIGN);
	cfg->max_write_zeroes_sectors = htole32(BLK_WZ_SECTORS);
	cfg->max_write_zeroes_seg = htole32(BLK_WZ_SEG);
	/* Unmapping write-zeroes punch holes, which read back as zeroes. */
	cfg->write_zeroes_may_unmap = 1;
}

/* Device sectors to an image byte offset, or -EIO outside the range. */
int64_t
blk_image_off(const struct blk_backend *b, uint64_t sector, uint64_t nsec)
{
	/* Written so that no sum of guest values can wrap. */
	if (sector > b->sectors || nsec > b->sectors - sector)
		return -EIO;
	/* start + sectors <= BLK_MAX_SECTORS: the shift cannot overflow. */
	return (int64_t)((b->start + sector) << BLK_SECTOR_SHIFT);
}

/*
 * Returns the host address of byte off of the device-writable (write)
 * or device-readable part of c, or NULL past its end.
 */
static uint8_t *
chain_byte(const struct vq_chain *c, bool write, uint32_t off)
{
	unsigned nseg = c->nseg < VQ_MAX_SEGS ? c->nseg : VQ_MAX_SEGS;

	for (unsigned i = 0; i < nseg; i++) {
		const struct vq_seg *s = &c->seg[i];

		if (s->write != write)
			continue;
		if (off < s->len)
			return (uint8_t *)s->host + off;
		off -= s->len;
	}
	return NULL;
}

/*
 * Describes len bytes from byte off of one part of c as iovecs.
 * Returns how many were used (never more than c->nseg), or -1 when the
 * segments hold fewer bytes than the chain's lengths say.
 */
static int
chain_iov(const struct vq_chain *c, bool write, uint32_t off, uint32_t len,
    struct iovec *iov)
{
	unsigned nseg = c->nseg < VQ_MAX_SEGS ? c->nseg : VQ_MAX_SEGS;
	int n = 0;

	for (unsigned i = 0; i < nseg && len > 0; i++) {
		const struct vq_seg *s = &c->seg[i];
		uint32_t take;

		if (s->write != write)
			continue;
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		take = s->len - off < len ? s->len - off : len;
		iov[n].iov_base = (uint8_t *)s->host + off;
		iov[n].iov_len = take;
		n++;
		len -= take;
		off = 0;
	}
	return len == 0 ? n : -1;
}

/* Ends parsing with status for the guest and why for the log. */
static int
refuse(struct blk_req *r, uint8_t status, const char *why)
{
	r->op = BLK_OP_NONE;
	r->status = status;
	r->written = 1;
	r->why = why;
	return 0;
}

/* READ or WRITE of len data bytes at sector. */
static int
parse_rw(const struct blk_backend *b, const struct vq_chain *c,
    struct blk_req *r, uint64_t sector, uint32_t len, bool write)
{
	int64_t off;

	if (len % BLK_SECTOR != 0)
		return refuse(r, VIRTIO_BLK_S_IOERR,
		    "data length not a multiple of 512");
	off = blk_image_off(b, sector, len >> BLK_SECTOR_SHIFT);
	if (off < 0)
		return refuse(r, VIRTIO_BLK_S_IOERR, "sectors beyond capacity");
	if (len == 0)
		return 0;	/* nothing to move; OK */
	/* Written data follows the header; read data ends before status. */
	r->niov = chain_iov(c, !write, write ? BLK_HDR_BYTES : 0, len, r->iov);
	if (r->niov <= 0) {
		r->niov = 0;
		return refuse(r, VIRTIO_BLK_S_IOERR, "chain shorter than its "
		    "lengths");
	}
	r->op = write ? BLK_OP_WRITE : BLK_OP_READ;
	r->off = (uint64_t)off;
	r->len = len;
	if (!write)
		r->written = len + 1;
	return 0;
}

/* DISCARD or WRITE_ZEROES with len bytes of segments after the header. */
static int
parse_dwz(const struct blk_backend *b, const struct vq_chain *c,
    struct blk_req *r, uint32_t len, bool discard)
{
	struct virtio_blk_discard_write_zeroes seg[BLK_DISCARD_SEG > BLK_WZ_SEG ?
	    BLK_DISCARD_SEG : BLK_WZ_SEG];
	uint32_t max_seg = discard ? BLK_DISCARD_SEG : BLK_WZ_SEG;
	uint32_t max_sec = discard ? BLK_DISCARD_SECTORS : BLK_WZ_SECTORS;
	uint32_t n = len / sizeof(seg[0]);

	if (b->readonly)
		return refuse(r, VIRTIO_BLK_S_IOERR, "write to a read-only "
		    "device");
	if (len == 0 || len % sizeof(seg[0]) != 0)
		return refuse(r, VIRTIO_BLK_S_IOERR, "discard/write-zeroes "
		    "segments not a multiple of 16 bytes");
	if (n > max_seg)
		return refuse(r, VIRTIO_BLK_S_IOERR, "too many discard/"
		    "write-zeroes segments");
	/* One copy; only the copy is checked and used. */
	if (vq_chain_read(c, BLK_HDR_BYTES, seg, n * sizeof(seg[0])) !=
	    n * sizeof(seg[0]))
		return refuse(r, VIRTIO_BLK_S_IOERR, "chain shorter than its "
		    "lengths");
	for (uint32_t i = 0; i < n; i++) {
		uint64_t sector = le64toh(seg[i].sector);
		uint32_t num = le32toh(seg[i].num_sectors);
		uint32_t flags = le32toh(seg[i].flags);
		int64_t off;

		if (flags & ~(uint32_t)VIRTIO_BLK_WZ_UNMAP)
			return refuse(r, VIRTIO_BLK_S_UNSUPP, "unknown "
			    "discard/write-zeroes flag");
		/* 5.2.6.2: a discard with unmap set is unsupported. */
		if (discard && (flags & VIRTIO_BLK_WZ_UNMAP))
			return refuse(r, VIRTIO_BLK_S_UNSUPP, "discard with "
			    "unmap");
		if (num > max_sec)
			return refuse(r, VIRTIO_BLK_S_IOERR, "discard/"
			    "write-zeroes segment over the sector limit");
		off = blk_image_off(b, sector, num);
		if (off < 0)
			return refuse(r, VIRTIO_BLK_S_IOERR, "discard/"
			    "write-zeroes sectors beyond capacity");
		if (num == 0)
			continue;
		r->dwz[r->ndwz++] = (struct blk_dwz){
			.off = (uint64_t)off,
			.len = (uint64_t)num << BLK_SECTOR_SHIFT,
			.unmap = (flags & VIRTIO_BLK_WZ_UNMAP) != 0,
		};
	}
	if (r->ndwz > 0)
		r->op = discard ? BLK_OP_DISCARD : BLK_OP_WRITE_ZEROES;
	return 0;
}

/* Chain to checked request; 0, or -EPROTO without header or status. */
int
blk_parse(const struct blk_backend *b, const struct vq_chain *c,
    struct blk_req *r)
{
	struct blk_hdr h;
	uint32_t out, in;
	uint64_t sector;

	r->head = c->head;
	r->op = BLK_OP_NONE;
	r->status = VIRTIO_BLK_S_OK;
	r->type = 0;
	r->written = 1;
	r->status_byte = NULL;
	r->off = r->len = 0;
	r->niov = r->ndwz = 0;
	r->why = NULL;

	if (c->out_len < BLK_HDR_BYTES) {
		r->why = "request header shorter than 16 bytes";
		return -EPROTO;
	}
	if (c->in_len < 1 ||
	    (r->status_byte = chain_byte(c, true, c->in_len - 1)) == NULL) {
		r->why = "request without a status byte";
		return -EPROTO;
	}
	if (vq_chain_read(c, 0, &h, sizeof(h)) != sizeof(h)) {
		r->why = "request header shorter than 16 bytes";
		return -EPROTO;
	}
	r->type = le32toh(h.type);
	sector = le64toh(h.sector);
	out = c->out_len - BLK_HDR_BYTES;	/* readable bytes after the header */
	in = c->in_len - 1;			/* writable bytes before status */

	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		if (out != 0)
			return refuse(r, VIRTIO_BLK_S_IOERR, "read with data "
			    "after the header");
		return parse_rw(b, c, r, sector, in, false);
	case VIRTIO_BLK_T_OUT:
		if (b->readonly)
			return refuse(r, VIRTIO_BLK_S_IOERR, "write to a "
			    "read-only device");
		if (in != 0)
			return refuse(r, VIRTIO_BLK_S_IOERR, "write with "
			    "writable data");
		return parse_rw(b, c, r, sector, out, true);
	case VIRTIO_BLK_T_FLUSH:
		/* Honoured even when not negotiated: it cannot hurt. */
		if (out != 0 || in != 0)
			return refuse(r, VIRTIO_BLK_S_IOERR, "flush with data");
		r->op = BLK_OP_FLUSH;
		return 0;
	case VIRTIO_BLK_T_GET_ID:
		if (out != 0 || in < BLK_ID_BYTES)
			return refuse(r, VIRTIO_BLK_S_IOERR, "GET_ID without "
			    "room for 20 bytes");
		vq_chain_write(c, 0, b->serial, BLK_ID_BYTES);
		r->written = BLK_ID_BYTES + 1;
		return 0;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: {
		bool discard = r->type == VIRTIO_BLK_T_DISCARD;

		if (!(b->negotiated & (discard ? VIRTIO_BLK_F_DISCARD :
		    VIRTIO_BLK_F_WRITE_ZEROES)))
			return refuse(r, b->readonly ? VIRTIO_BLK_S_IOERR :
			    VIRTIO_BLK_S_UNSUPP, "discard/write-zeroes not "
			    "negotiated");
		if (in != 0)
			return refuse(r, VIRTIO_BLK_S_IOERR, "discard/"
			    "write-zeroes with writable data");
		return parse_dwz(b, c, r, out, discard);
	}
	default:
		return refuse(r, VIRTIO_BLK_S_UNSUPP, "unknown request type");
	}
}
