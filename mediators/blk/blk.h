/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-blk (virtio 1.x 5.2) over an image fd the VM process opened:
 * request parsing and validation, the device configuration, an
 * asynchronous I/O engine for a single-threaded event loop, and the
 * record of in-flight requests a restarted mediator resubmits.
 *
 * The guest sees a disk of range_sectors sectors; sector 0 of that disk
 * is sector range_start of the image.  Every offset that reaches the
 * image goes through one translation (blk.c, blk_image_off()) that
 * refuses anything outside the range, so no request, however crafted,
 * touches a byte of the image outside it.
 *
 * Functions return 0 or a negative errno unless said otherwise.  A bad
 * request is not an error: it completes with VIRTIO_BLK_S_IOERR or
 * VIRTIO_BLK_S_UNSUPP.  Only a chain without room for the header or the
 * status byte is a protocol violation (-EPROTO): the caller moves the
 * device to DEVICE_NEEDS_RESET.  docs/blk.md has the whole picture.
 */
#ifndef CUPULE_BLK_H
#define CUPULE_BLK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtio_pci.h"
#include "virtqueue.h"

#define VIRTIO_ID_BLOCK		2

/* Feature bits (5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX	(1ull << 1)	/* not offered */
#define VIRTIO_BLK_F_SEG_MAX	(1ull << 2)
#define VIRTIO_BLK_F_RO		(1ull << 5)
#define VIRTIO_BLK_F_BLK_SIZE	(1ull << 6)
#define VIRTIO_BLK_F_FLUSH	(1ull << 9)
#define VIRTIO_BLK_F_DISCARD	(1ull << 13)
#define VIRTIO_BLK_F_WRITE_ZEROES (1ull << 14)

/* Request types (5.2.6). */
#define VIRTIO_BLK_T_IN		0
#define VIRTIO_BLK_T_OUT	1
#define VIRTIO_BLK_T_FLUSH	4
#define VIRTIO_BLK_T_GET_ID	8
#define VIRTIO_BLK_T_DISCARD	11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

/* Status, the last byte of a request's device-writable part. */
#define VIRTIO_BLK_S_OK		0
#define VIRTIO_BLK_S_IOERR	1
#define VIRTIO_BLK_S_UNSUPP	2

#define VIRTIO_BLK_WZ_UNMAP	0x1	/* flags of a discard/write-zeroes segment */

#define BLK_SECTOR		512
#define BLK_SECTOR_SHIFT	9
#define BLK_ID_BYTES		20	/* GET_ID: serial, NUL-padded */
#define BLK_HDR_BYTES		16

/* What this device offers, in its configuration. */
#define BLK_QUEUE_SIZE		256	/* max_queue_size; = BLK_INFLIGHT_MAX */
#define BLK_SEG_MAX		(VQ_MAX_SEGS - 2)	/* header and status aside */
#define BLK_DISCARD_SECTORS	(1u << 22)	/* 2 GiB per segment */
#define BLK_DISCARD_SEG		32
#define BLK_DISCARD_ALIGN	8		/* 4 KiB, the usual fs block */
#define BLK_WZ_SECTORS		(1u << 22)
#define BLK_WZ_SEG		32
#define BLK_MAX_SECTORS		(1ull << 54)	/* so that byte offsets fit off_t */

/* The device configuration (5.2.4) through write_zeroes_may_unmap. */
struct virtio_blk_config {
	uint64_t capacity;		/* 0x00: sectors */
	uint32_t size_max;		/* 0x08 */
	uint32_t seg_max;		/* 0x0c */
	uint16_t cylinders;		/* 0x10: geometry, not offered */
	uint8_t heads;			/* 0x12 */
	uint8_t sectors;		/* 0x13 */
	uint32_t blk_size;		/* 0x14 */
	uint8_t physical_block_exp;	/* 0x18: topology, not offered */
	uint8_t alignment_offset;	/* 0x19 */
	uint16_t min_io_size;		/* 0x1a */
	uint32_t opt_io_size;		/* 0x1c */
	uint8_t writeback;		/* 0x20 */
	uint8_t unused0;		/* 0x21 */
	uint16_t num_queues;		/* 0x22: only with MQ */
	uint32_t max_discard_sectors;	/* 0x24 */
	uint32_t max_discard_seg;	/* 0x28 */
	uint32_t discard_sector_alignment; /* 0x2c */
	uint32_t max_write_zeroes_sectors; /* 0x30 */
	uint32_t max_write_zeroes_seg;	/* 0x34 */
	uint8_t write_zeroes_may_unmap;	/* 0x38 */
	uint8_t unused1[3];		/* 0x39 */
} __attribute__((packed));		/* 0x3c bytes */

/* One segment of a DISCARD or WRITE_ZEROES request, as the guest writes it. */
struct virtio_blk_discard_write_zeroes {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;			/* VIRTIO_BLK_WZ_UNMAP */
};

/* The image and the part of it this device is. */
struct blk_backend {
	int fd;				/* opened by the VM process */
	uint64_t start;			/* first sector of the range */
	uint64_t sectors;		/* the guest's capacity */
	bool readonly;
	bool writethrough;		/* FLUSH not negotiated: each write synced */
	uint64_t negotiated;		/* features the driver accepted */
	char serial[BLK_ID_BYTES];	/* NUL-padded, no terminator at 20 */
};

/*
 * Sets b up over fd for sectors sectors from sector start of the image
 * (sectors 0: from start to the end of the image), with serial cut to
 * 20 bytes.  The image size comes from fstat, or BLKGETSIZE64 for a
 * block device.  Until blk_negotiated() is called every offered feature
 * counts as negotiated.  Returns 0, -EINVAL for a range that is empty
 * or leaves the image, -EBADF for a read-only fd on a writable device,
 * or the errno of fstat/ioctl.
 */
int blk_backend_init(struct blk_backend *b, int fd, uint64_t start,
    uint64_t sectors, bool readonly, const char *serial);

/* Returns the features the device offers (RO only when read-only). */
uint64_t blk_features(const struct blk_backend *b);

/*
 * Records the features the driver accepted.  Without VIRTIO_BLK_F_FLUSH
 * the device must be write-through: every write is then made durable
 * before it completes.
 */
void blk_negotiated(struct blk_backend *b, uint64_t features);

/* Fills cfg, little-endian, for the guest. */
void blk_config(const struct blk_backend *b, struct virtio_blk_config *cfg);

/*
 * Returns the absolute byte offset in the image of nsec sectors at
 * sector of the device, or -EIO when any of them is outside the range.
 * The only place a guest sector becomes an image offset.
 */
int64_t blk_image_off(const struct blk_backend *b, uint64_t sector,
    uint64_t nsec);

/* What a parsed request asks of the image. */
enum blk_op {
	BLK_OP_NONE,		/* nothing: status decided, or GET_ID done */
	BLK_OP_READ,
	BLK_OP_WRITE,
	BLK_OP_FLUSH,
	BLK_OP_DISCARD,
	BLK_OP_WRITE_ZEROES,
};

/* A discard or write-zeroes segment, translated to image bytes. */
struct blk_dwz {
	uint64_t off;
	uint64_t len;
	bool unmap;
};

/*
 * A request, parsed and checked, standing alone: it points into guest
 * memory (data buffers, status byte) but no longer at the chain.
 */
struct blk_req {
	uint16_t head;		/* to return in the used ring */
	uint8_t op;		/* enum blk_op */
	uint8_t status;		/* VIRTIO_BLK_S_*, final when op is NONE */
	uint32_t type;		/* VIRTIO_BLK_T_*, as the guest sent it */
	uint32_t written;	/* used length when the request succeeds */
	uint8_t *status_byte;	/* in guest memory */
	uint64_t off;		/* READ / WRITE: image offset */
	uint64_t len;		/* and bytes */
	int niov;
	struct iovec iov[VQ_MAX_SEGS];	/* READ / WRITE: guest buffers */
	int ndwz;
	struct blk_dwz dwz[BLK_DISCARD_SEG > BLK_WZ_SEG ?
	    BLK_DISCARD_SEG : BLK_WZ_SEG];
	const char *why;	/* after -EPROTO or a refusal, for the log */
};

/*
 * Parses chain c into r and checks it against b.  The header and any
 * discard segments are copied out of guest memory once and only the
 * copies are used.  Returns 0 with r ready for blk_exec() or an engine
 * (r->op NONE: r->status is the answer, GET_ID already written), or
 * -EPROTO when c has no 16-byte header or no status byte (r->why names
 * which).
 */
int blk_parse(const struct blk_backend *b, const struct vq_chain *c,
    struct blk_req *r);

/* A finished request, as blk_engine_reap() and blk_exec() report it. */
struct blk_done {
	uint16_t head;
	uint8_t status;
	uint32_t written;	/* bytes written into the chain, status included */
};

/*
 * Runs r to the end on the calling thread (blocking), stores its status
 * byte in guest memory and fills *done.
 */
void blk_exec(const struct blk_backend *b, const struct blk_req *r,
    struct blk_done *done);

/*
 * The asynchronous engine: requests go in with blk_engine_submit(), the
 * caller's event loop watches blk_engine_fd() and collects finished
 * ones with blk_engine_reap(), which also stores their status bytes.
 * One thread uses an engine.
 *
 * BLK_ENGINE_URING runs requests on an io_uring restricted to the four
 * operations a disk needs on the one image fd; BLK_ENGINE_SYNC runs each
 * request inside blk_engine_submit() (the fallback where io_uring is
 * not allowed, and a reference for tests); BLK_ENGINE_AUTO takes the
 * first that works.
 */
enum blk_engine_kind {
	BLK_ENGINE_AUTO,
	BLK_ENGINE_URING,
	BLK_ENGINE_SYNC,
};

struct blk_engine;

/*
 * Creates an engine for b (which must outlive it) taking up to depth
 * requests at once (1..BLK_QUEUE_SIZE).  Returns 0 with *ep set, or
 * -EINVAL, -ENOMEM, or the io_uring set-up error when kind is URING.
 */
int blk_engine_new(struct blk_engine **ep, const struct blk_backend *b,
    unsigned depth, enum blk_engine_kind kind);

/* Returns the kind the engine runs as (URING or SYNC). */
enum blk_engine_kind blk_engine_kind(const struct blk_engine *e);

/* Returns the eventfd that is readable while finished requests wait. */
int blk_engine_fd(const struct blk_engine *e);

/* Returns how many requests are submitted and not yet reaped. */
unsigned blk_engine_pending(const struct blk_engine *e);

/*
 * Takes a copy of r.  The I/O starts at the latest with the next
 * blk_engine_kick(): submit a batch, then kick once.  Returns 0, or
 * -EBUSY when depth requests are already pending.
 */
int blk_engine_submit(struct blk_engine *e, const struct blk_req *r);

/* Starts what blk_engine_submit() queued.  Returns 0 or -errno. */
int blk_engine_kick(struct blk_engine *e);

/*
 * Collects up to max finished requests into done, in no particular
 * order, their status bytes already stored.  Never blocks.  Returns the
 * number collected.
 */
int blk_engine_reap(struct blk_engine *e, struct blk_done *done, int max);

/*
 * Waits until at least one request has finished (or none is pending).
 * For tests and shutdown; an event loop watches the fd instead.
 * Returns 0 or -errno.
 */
int blk_engine_wait(struct blk_engine *e);

/*
 * For a device reset: waits until no request touches the image or guest
 * memory any more, then forgets every pending one without storing its
 * status.  Blocks for as long as the I/O takes.
 */
void blk_engine_drain(struct blk_engine *e);

/* Waits for every pending request, then frees e.  e may be NULL. */
void blk_engine_free(struct blk_engine *e);

/*
 * The record of in-flight requests, for live restart.  It lives in the
 * device's shared state (virtio_state.device), holds no pointer, and is
 * indexed by descriptor head: a head is in flight at most once, since
 * the driver cannot reuse it before the device returns it.
 *
 * Per request, each step one release store that a crash leaves either
 * done or not (docs/restart.md has the whole argument):
 *
 *   blk_inflight_add(head, last_avail)	chain seen at last_avail (PENDING)
 *   vq_advance()			last_avail moves past it
 *   ... the request runs ...
 *   blk_inflight_done(head, used_idx)	finished, to be pushed at used_idx
 *   vq_push_elem(), vq_push_commit()	pushed once used_idx moved past it
 *   blk_inflight_remove(head)
 *
 * A new process calls blk_inflight_check(), then blk_inflight_recover()
 * on the queue's indexes, and resubmits what blk_inflight_list() returns,
 * oldest first.  Every request type is safe to run again (docs/blk.md).
 */
#define BLK_INFLIGHT_MAX	BLK_QUEUE_SIZE
#define BLK_INFLIGHT_MAGIC	0x49425543u	/* bytes "CUBI" */
#define BLK_INFLIGHT_VERSION	2

#define BLK_INFLIGHT_FREE	0
#define BLK_INFLIGHT_PENDING	1	/* taken, not finished */
#define BLK_INFLIGHT_DONE	2	/* finished, being pushed at used_idx */

struct blk_inflight_entry {
	uint16_t avail_idx;	/* the avail ring index it was taken at */
	uint16_t reserved;
	uint16_t used_idx;	/* DONE: the used index it is pushed at */
	uint16_t state;		/* BLK_INFLIGHT_* */
};

struct blk_inflight {
	uint32_t magic;		/* 0x00 */
	uint16_t version;	/* 0x04 */
	uint16_t max;		/* 0x06: BLK_INFLIGHT_MAX */
	uint32_t reserved[2];	/* 0x08 */
	struct blk_inflight_entry e[BLK_INFLIGHT_MAX];	/* 0x10 */
};				/* 0x810 bytes */

/* Initialises an empty record. */
void blk_inflight_init(struct blk_inflight *r);

/*
 * Checks that r, left by an earlier process, is a record of this layout
 * with only known states.  Returns 0 or -EPROTO.
 */
int blk_inflight_check(const struct blk_inflight *r);

/*
 * Records head as seen at avail index avail_idx, before the caller
 * moves last_avail past it.  Returns 0, -EINVAL for head out of the
 * record, or -EEXIST when head is already in flight (a driver bug).
 */
int blk_inflight_add(struct blk_inflight *r, uint16_t head,
    uint16_t avail_idx);

/*
 * Marks head finished and about to be pushed at used index used_idx.
 * Returns 0, or -ENOENT when head is not in flight.
 */
int blk_inflight_done(struct blk_inflight *r, uint16_t head,
    uint16_t used_idx);

/* Forgets head.  Returns 0, or -ENOENT when head is not in flight. */
int blk_inflight_remove(struct blk_inflight *r, uint16_t head);

/*
 * After a restart, with the queue's committed indexes (size entries,
 * *last_avail, used_idx): moves *last_avail past a chain recorded and
 * not yet taken, forgets every DONE entry that was pushed (used_idx
 * moved past it) and turns the other DONE ones back to PENDING.
 * Returns the number of entries left to run again, or -EPROTO, with
 * nothing changed, for a record that cannot come from this queue (an
 * entry taken more than size chains ago, or two not yet taken).
 */
int blk_inflight_recover(struct blk_inflight *r, uint16_t *last_avail,
    uint16_t used_idx, uint16_t size);

/*
 * Stores up to max heads in flight into heads, oldest first (the
 * furthest behind last_avail).  Returns how many are in flight (may
 * exceed max).
 */
int blk_inflight_list(const struct blk_inflight *r, uint16_t last_avail,
    uint16_t *heads, int max);

#endif
