/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Running requests against the image.
 *
 * Each request is a small state machine (struct blk_run) that yields one
 * system-call-sized operation at a time: a readv/writev (again after a
 * short transfer), an fdatasync, one fallocate per discard or
 * write-zeroes segment, or writes of zeroes where fallocate cannot zero.
 * Two executors drive the same machine: blk_exec() and the SYNC engine
 * make the calls on the spot, the URING engine puts them on an io_uring
 * and feeds the completions back.  Nothing here is reached by an offset
 * that did not come out of blk_image_off().
 *
 * Why io_uring rather than a pool of pread/pwrite threads: it measured
 * 2 to 3 times faster at queue depth 1 and no slower at 32 (docs/blk.md
 * has the figures), it needs no locks or threads in the mediator, and it
 * is restricted here to the four operations a disk needs on the one
 * image fd (IORING_REGISTER_RESTRICTIONS), which keeps the mediator's
 * reach as narrow as a seccomp filter on those system calls would.
 * Where io_uring is not allowed (kernel.io_uring_disabled, container
 * seccomp profiles) the SYNC engine keeps the device working.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <liburing.h>

#include "blk.h"

#define ZERO_CHUNK	(64 * 1024)
#define ZERO_IOV	16		/* 1 MiB of zeroes per write */

/* Read by writes of zeroes, never written. */
static uint8_t zero_buf[ZERO_CHUNK];

enum io_kind {
	IO_READV,
	IO_WRITEV,
	IO_FSYNC,
	IO_FALLOC,
};

/* One operation on the image, as both executors take it. */
struct io_op {
	enum io_kind kind;
	struct iovec *iov;	/* READV / WRITEV */
	int niov;
	uint64_t off;
	uint64_t len;		/* FALLOC */
	int mode;		/* FALLOC */
	int rwflags;		/* WRITEV: RWF_DSYNC when write-through */
};

/* A request on its way. */
struct blk_run {
	struct blk_req r;	/* our copy; its iovecs advance as bytes move */
	enum io_kind cur;	/* the operation in progress */
	uint8_t status;
	bool finished;
	bool synced;		/* the request's fdatasync is done */
	bool zeroing;		/* fallocate cannot zero: write zeroes */
	int iov_i;		/* READ / WRITE: first iovec not done */
	uint64_t moved;		/* and bytes done */
	int seg;		/* DISCARD / WRITE_ZEROES: current segment */
	uint64_t seg_moved;	/* and zeroes written into it */
	struct iovec ziov[ZERO_IOV];
};

/* Copies what r uses into x and makes x ready to run. */
static void
run_start(struct blk_run *x, const struct blk_req *r)
{
	x->r.head = r->head;
	x->r.op = r->op;
	x->r.status = r->status;
	x->r.type = r->type;
	x->r.written = r->written;
	x->r.status_byte = r->status_byte;
	x->r.off = r->off;
	x->r.len = r->len;
	x->r.niov = r->niov;
	x->r.ndwz = r->ndwz;
	x->r.why = r->why;
	x->cur = IO_FSYNC;
	x->status = r->op == BLK_OP_NONE ? r->status : VIRTIO_BLK_S_OK;
	x->finished = false;
	x->synced = false;
	x->zeroing = false;
	x->iov_i = 0;
	x->moved = 0;
	x->seg = 0;
	x->seg_moved = 0;
	/* r came from blk_parse(), but a bad count must not overrun us. */
	if (r->niov < 0 || r->niov > VQ_MAX_SEGS || r->ndwz < 0 ||
	    r->ndwz > (int)(sizeof(r->dwz) / sizeof(r->dwz[0])) ||
	    ((r->op == BLK_OP_READ || r->op == BLK_OP_WRITE) && r->niov == 0)) {
		x->r.op = BLK_OP_NONE;
		x->status = VIRTIO_BLK_S_IOERR;
		return;
	}
	memcpy(x->r.iov, r->iov, (size_t)r->niov * sizeof(r->iov[0]));
	memcpy(x->r.dwz, r->dwz, (size_t)r->ndwz * sizeof(r->dwz[0]));
}

static void
run_fail(struct blk_run *x)
{
	x->status = VIRTIO_BLK_S_IOERR;
	x->finished = true;
}

/* Describes the next operation of a discard or write-zeroes. */
static bool
next_dwz(const struct blk_backend *b, struct blk_run *x, struct io_op *op)
{
	const struct blk_req *r = &x->r;
	const struct blk_dwz *d;
	uint64_t left;
	int n;

	if (x->seg >= r->ndwz) {
		/* Write-through: the zeroes must be durable like a write. */
		if (r->op == BLK_OP_DISCARD || !b->writethrough || x->synced)
			return false;
		op->kind = IO_FSYNC;
		return true;
	}
	d = &r->dwz[x->seg];
	if (!x->zeroing) {
		op->kind = IO_FALLOC;
		op->off = d->off;
		op->len = d->len;
		if (r->op == BLK_OP_DISCARD || d->unmap)
			op->mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		else
			op->mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
		return true;
	}
	left = d->len - x->seg_moved;
	for (n = 0; n < ZERO_IOV && left > 0; n++) {
		size_t take = left < ZERO_CHUNK ? (size_t)left : ZERO_CHUNK;

		x->ziov[n].iov_base = zero_buf;
		x->ziov[n].iov_len = take;
		left -= take;
	}
	op->kind = IO_WRITEV;
	op->iov = x->ziov;
	op->niov = n;
	op->off = d->off + x->seg_moved;
	op->rwflags = 0;
	return true;
}

/*
 * Describes the next operation of x into op.  Returns false when x has
 * nothing more to do (x->finished is then set).
 */
static bool
run_next(const struct blk_backend *b, struct blk_run *x, struct io_op *op)
{
	struct blk_req *r = &x->r;

	memset(op, 0, sizeof(*op));
	if (x->finished)
		return false;
	switch (r->op) {
	case BLK_OP_READ:
	case BLK_OP_WRITE:
		if (x->moved >= r->len || x->iov_i >= r->niov)
			break;
		op->kind = r->op == BLK_OP_READ ? IO_READV : IO_WRITEV;
		op->iov = r->iov + x->iov_i;
		op->niov = r->niov - x->iov_i;
		op->off = r->off + x->moved;
		if (r->op == BLK_OP_WRITE && b->writethrough)
			op->rwflags = RWF_DSYNC;
		x->cur = op->kind;
		return true;
	case BLK_OP_FLUSH:
		if (x->synced)
			break;
		op->kind = IO_FSYNC;
		x->cur = op->kind;
		return true;
	case BLK_OP_DISCARD:
	case BLK_OP_WRITE_ZEROES:
		if (!next_dwz(b, x, op))
			break;
		x->cur = op->kind;
		return true;
	default:
		break;
	}
	x->finished = true;
	return false;
}

/* Moves a read or write of x on by n bytes (a transfer may be short). */
static void
advance_rw(struct blk_run *x, uint64_t n)
{
	struct blk_req *r = &x->r;

	x->moved += n;
	while (n > 0 && x->iov_i < r->niov) {
		struct iovec *v = &r->iov[x->iov_i];

		if (n >= v->iov_len) {
			n -= v->iov_len;
			x->iov_i++;
		} else {
			v->iov_base = (uint8_t *)v->iov_base + n;
			v->iov_len -= n;
			n = 0;
		}
	}
}

/* Feeds the result of x's current operation (bytes, or -errno) back. */
static void
run_result(struct blk_run *x, int64_t res)
{
	struct blk_req *r = &x->r;
	const struct blk_dwz *d;

	switch (x->cur) {
	case IO_FSYNC:
		x->synced = true;
		if (res < 0)
			run_fail(x);
		return;
	case IO_FALLOC:
		if (res == 0) {
			x->seg++;
			return;
		}
		if (res != -EOPNOTSUPP && res != -EINVAL) {
			run_fail(x);
			return;
		}
		/* A discard is a hint; zeroes must still be written. */
		if (r->op == BLK_OP_DISCARD)
			x->seg++;
		else {
			x->zeroing = true;
			x->seg_moved = 0;
		}
		return;
	case IO_READV:
	case IO_WRITEV:
		/* 0 is the end of a shrunk file: no progress, no success. */
		if (res <= 0) {
			run_fail(x);
			return;
		}
		if (r->op == BLK_OP_READ || r->op == BLK_OP_WRITE) {
			advance_rw(x, (uint64_t)res);
			return;
		}
		d = &r->dwz[x->seg];
		x->seg_moved += (uint64_t)res;
		if (x->seg_moved >= d->len) {
			x->seg++;
			x->seg_moved = 0;
		}
		return;
	}
}

/* Does op with a system call.  Returns bytes or 0, or -errno. */
static int64_t
op_sync(const struct blk_backend *b, const struct io_op *op)
{
	ssize_t n;

	do {
		switch (op->kind) {
		case IO_READV:
			n = preadv(b->fd, op->iov, op->niov, (off_t)op->off);
			break;
		case IO_WRITEV:
			n = pwritev2(b->fd, op->iov, op->niov, (off_t)op->off,
			    op->rwflags);
			break;
		case IO_FSYNC:
			n = fdatasync(b->fd);
			break;
		case IO_FALLOC:
			n = fallocate(b->fd, op->mode, (off_t)op->off,
			    (off_t)op->len);
			break;
		default:
			return -EINVAL;
		}
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static void
run_sync(const struct blk_backend *b, struct blk_run *x)
{
	struct io_op op;

	while (run_next(b, x, &op))
		run_result(x, op_sync(b, &op));
}

/* Stores x's status in guest memory and describes it in *done. */
static void
run_finish(const struct blk_run *x, struct blk_done *done)
{
	done->head = x->r.head;
	done->status = x->status;
	done->written = x->status == VIRTIO_BLK_S_OK ? x->r.written : 1;
	if (x->r.status_byte)
		*(volatile uint8_t *)x->r.status_byte = x->status;
}

/* Runs r to the end on this thread and stores its status. */
void
blk_exec(const struct blk_backend *b, const struct blk_req *r,
    struct blk_done *done)
{
	struct blk_run x;

	run_start(&x, r);
	run_sync(b, &x);
	run_finish(&x, done);
}

struct blk_engine {
	const struct blk_backend *b;
	enum blk_engine_kind kind;
	int efd;		/* readable while ready is not empty */
	unsigned depth;
	unsigned pending;	/* submitted, not reaped */
	unsigned busy;		/* with an operation on the ring */
	bool draining;		/* finish runs instead of going on */
	bool ring_up;
	struct io_uring ring;
	struct blk_run *run;	/* depth of them */
	uint16_t *free_idx;	/* runs not in use */
	unsigned nfree;
	uint16_t *ready;	/* runs finished, waiting for reap */
	unsigned nready;
};

static void
notify(struct blk_engine *e)
{
	uint64_t one = 1;

	/* Fails only when the counter is huge: it is readable anyway. */
	if (write(e->efd, &one, sizeof(one)) < 0) {
		/* nothing to do */
	}
}

/* Run idx finished: it waits for reap; the fd turns readable. */
static void
make_ready(struct blk_engine *e, unsigned idx)
{
	e->ready[e->nready++] = (uint16_t)idx;
	if (e->nready == 1)
		notify(e);
}

/*
 * A ring that can do nothing but readv, writev, fsync and fallocate on
 * fixed file 0, the image.  Returns 0 or -errno.
 */
static int
ring_setup(struct blk_engine *e)
{
	struct io_uring_restriction res[] = {
		{ .opcode = IORING_RESTRICTION_SQE_OP,
		    .sqe_op = IORING_OP_READV },
		{ .opcode = IORING_RESTRICTION_SQE_OP,
		    .sqe_op = IORING_OP_WRITEV },
		{ .opcode = IORING_RESTRICTION_SQE_OP,
		    .sqe_op = IORING_OP_FSYNC },
		{ .opcode = IORING_RESTRICTION_SQE_OP,
		    .sqe_op = IORING_OP_FALLOCATE },
		{ .opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED,
		    .sqe_flags = IOSQE_FIXED_FILE },
	};
	struct io_uring_params p;
	int ret;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_R_DISABLED;
	ret = io_uring_queue_init_params(e->depth, &e->ring, &p);
	if (ret < 0)
		return ret;
	/*
	 * The restriction and enable wrappers are missing from the symbol
	 * map of Debian 12's liburing.so (2.3); the raw register call that
	 * they wrap is there.
	 */
	if ((ret = io_uring_register_files(&e->ring, &e->b->fd, 1)) < 0 ||
	    (ret = io_uring_register_eventfd(&e->ring, e->efd)) < 0 ||
	    (ret = io_uring_register((unsigned)e->ring.ring_fd,
	    IORING_REGISTER_RESTRICTIONS, res,
	    sizeof(res) / sizeof(res[0]))) < 0 ||
	    (ret = io_uring_register((unsigned)e->ring.ring_fd,
	    IORING_REGISTER_ENABLE_RINGS, NULL, 0)) < 0) {
		io_uring_queue_exit(&e->ring);
		return ret;
	}
	e->ring_up = true;
	return 0;
}

/* Puts op of run idx on the ring.  Returns 0 or -EBUSY. */
static int
queue_op(struct blk_engine *e, unsigned idx, const struct io_op *op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&e->ring);

	if (!sqe) {
		/* Cannot happen with one operation per run; be safe. */
		io_uring_submit(&e->ring);
		if (!(sqe = io_uring_get_sqe(&e->ring)))
			return -EBUSY;
	}
	switch (op->kind) {
	case IO_READV:
		io_uring_prep_readv(sqe, 0, op->iov, (unsigned)op->niov,
		    op->off);
		break;
	case IO_WRITEV:
		io_uring_prep_writev2(sqe, 0, op->iov, (unsigned)op->niov,
		    op->off, op->rwflags);
		break;
	case IO_FSYNC:
		io_uring_prep_fsync(sqe, 0, IORING_FSYNC_DATASYNC);
		break;
	case IO_FALLOC:
		io_uring_prep_fallocate(sqe, 0, op->mode, (off_t)op->off,
		    (off_t)op->len);
		break;
	}
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, idx);
	e->busy++;
	return 0;
}

/* Starts the next operation of run idx, or makes it ready. */
static void
step(struct blk_engine *e, unsigned idx)
{
	struct blk_run *x = &e->run[idx];
	struct io_op op;

	if (e->draining)
		x->finished = true;
	if (run_next(e->b, x, &op)) {
		if (queue_op(e, idx, &op) == 0)
			return;
		run_fail(x);
	}
	make_ready(e, idx);
}

/* Feeds every completion on the ring to its run.  Returns how many. */
static unsigned
harvest(struct blk_engine *e)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;

	io_uring_for_each_cqe(&e->ring, head, cqe) {
		uint64_t idx = io_uring_cqe_get_data64(cqe);

		seen++;
		if (idx >= e->depth)
			continue;	/* not ours: cannot happen */
		e->busy--;
		run_result(&e->run[idx], cqe->res);
		step(e, (unsigned)idx);
	}
	io_uring_cq_advance(&e->ring, seen);
	return seen;
}

/* Creates an engine of kind (AUTO: io_uring, else SYNC); 0 or -errno. */
int
blk_engine_new(struct blk_engine **ep, const struct blk_backend *b,
    unsigned depth, enum blk_engine_kind kind)
{
	struct blk_engine *e;
	int ret;

	*ep = NULL;
	if (depth == 0 || depth > BLK_QUEUE_SIZE || kind > BLK_ENGINE_SYNC)
		return -EINVAL;
	if (!(e = calloc(1, sizeof(*e))))
		return -ENOMEM;
	e->b = b;
	e->depth = depth;
	e->run = calloc(depth, sizeof(*e->run));
	e->free_idx = calloc(depth, sizeof(*e->free_idx));
	e->ready = calloc(depth, sizeof(*e->ready));
	e->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!e->run || !e->free_idx || !e->ready || e->efd < 0) {
		ret = e->efd < 0 ? -errno : -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < depth; i++)
		e->free_idx[e->nfree++] = (uint16_t)(depth - 1 - i);
	e->kind = BLK_ENGINE_SYNC;
	if (kind != BLK_ENGINE_SYNC) {
		ret = ring_setup(e);
		if (ret == 0)
			e->kind = BLK_ENGINE_URING;
		else if (kind == BLK_ENGINE_URING)
			goto fail;
	}
	*ep = e;
	return 0;
fail:
	if (e->efd >= 0)
		close(e->efd);
	free(e->run);
	free(e->free_idx);
	free(e->ready);
	free(e);
	return ret;
}

/* The kind the engine runs as. */
enum blk_engine_kind
blk_engine_kind(const struct blk_engine *e)
{
	return e->kind;
}

/* The eventfd that is readable while finished requests wait. */
int
blk_engine_fd(const struct blk_engine *e)
{
	return e->efd;
}

/* Requests submitted and not reaped. */
unsigned
blk_engine_pending(const struct blk_engine *e)
{
	return e->pending;
}

/* Takes a copy of r and starts it (SYNC: runs it); 0 or -EBUSY. */
int
blk_engine_submit(struct blk_engine *e, const struct blk_req *r)
{
	unsigned idx;

	if (e->nfree == 0)
		return -EBUSY;
	idx = e->free_idx[--e->nfree];
	e->pending++;
	run_start(&e->run[idx], r);
	if (e->kind == BLK_ENGINE_SYNC) {
		run_sync(e->b, &e->run[idx]);
		make_ready(e, idx);
	} else
		step(e, idx);
	return 0;
}

/* Submits the queued operations to the ring; 0 or -errno. */
int
blk_engine_kick(struct blk_engine *e)
{
	int ret;

	if (!e->ring_up || io_uring_sq_ready(&e->ring) == 0)
		return 0;
	ret = io_uring_submit(&e->ring);
	return ret < 0 ? ret : 0;
}

/* Up to max finished requests, status bytes stored; returns how many. */
int
blk_engine_reap(struct blk_engine *e, struct blk_done *done, int max)
{
	uint64_t count;
	int n = 0;

	/* Read first: whatever finishes after this makes it readable again. */
	if (read(e->efd, &count, sizeof(count)) < 0) {
		/* EAGAIN: nothing was signalled; look anyway */
	}
	if (e->ring_up) {
		harvest(e);
		/* Short transfers and further segments went on the ring. */
		blk_engine_kick(e);
	}
	while (n < max && e->nready > 0) {
		unsigned idx = e->ready[--e->nready];

		run_finish(&e->run[idx], &done[n++]);
		e->free_idx[e->nfree++] = (uint16_t)idx;
		e->pending--;
	}
	if (e->nready > 0 || (e->ring_up && io_uring_cq_ready(&e->ring) > 0))
		notify(e);
	return n;
}

/* Blocks until something finished or nothing is pending; 0 or -errno. */
int
blk_engine_wait(struct blk_engine *e)
{
	struct pollfd p = { .fd = e->efd, .events = POLLIN };
	int ret;

	if (e->nready > 0 || e->pending == 0)
		return 0;
	if ((ret = blk_engine_kick(e)) < 0)
		return ret;
	while (poll(&p, 1, -1) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

/* Waits out the I/O in flight and drops every pending request. */
void
blk_engine_drain(struct blk_engine *e)
{
	uint64_t count;

	e->draining = true;
	while (e->ring_up && e->busy > 0) {
		struct io_uring_cqe *cqe;
		int ret;

		blk_engine_kick(e);
		ret = io_uring_wait_cqe(&e->ring, &cqe);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN)
			break;	/* the ring is broken: nothing more arrives */
		harvest(e);
	}
	e->draining = false;
	/* Dropped without a status: the guest no longer owns the chains. */
	while (e->nready > 0) {
		e->free_idx[e->nfree++] = e->ready[--e->nready];
		e->pending--;
	}
	if (read(e->efd, &count, sizeof(count)) < 0) {
		/* EAGAIN: already clear */
	}
}

/* Drains, then frees e (NULL is fine). */
void
blk_engine_free(struct blk_engine *e)
{
	if (!e)
		return;
	blk_engine_drain(e);
	if (e->ring_up)
		io_uring_queue_exit(&e->ring);
	close(e->efd);
	free(e->run);
	free(e->free_idx);
	free(e->ready);
	free(e);
}
