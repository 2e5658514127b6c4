/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The cupule-blk process (BUILD/bin/cupule-blk, next to this test's
 * folder) killed at every step of a request and replaced, as the VM
 * process replaces it: this test plays the VM process (control channel,
 * ring, guest memory, device-state area, the disk image fd, ioeventfd
 * and irqfds) and the guest's driver (BAR0 through the ring, one queue
 * in guest memory, interrupts), and checks what docs/restart.md
 * promises: whenever the mediator dies, a new one on the same ring,
 * state and disk answers every request exactly once, with the data of
 * the last completed write, and the driver is never left without an
 * interrupt.
 *
 * The workload: every write stamps each sector it writes with its own
 * sequence number (and the block and sector), several requests are in
 * flight at once, a block is only written again once the write before
 * it completed and read only while no write to it is in flight, so the
 * right content of every block is known at every moment.  The driver
 * learns of completions only by interrupts, waits on nothing else, and
 * honours used_event / avail_event when EVENT_IDX is negotiated.
 *
 * CHECK_BLK_LOG=1 prints the mediators' log after each device;
 * CHECK_BLK_SEED=N repeats a run of the random-kill test;
 * CHECK_BLK_WAIT_MS=N waits N ms, not 20 s, for what must come.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "blk.h"
#include "medtest.h"

/* A liveness bound, never a measure; CHECK_BLK_WAIT_MS overrides it. */
static int wait_ms = 20000;

#define QSIZE		64		/* the driver's choice: not 256 */
#define DPS		4		/* descriptors per request slot */
#define NSLOT		(QSIZE / DPS)	/* at most 16 requests in flight */
#define DESC_GPA	MEDVM_QBASE(0)	/* the one queue, as medtest.h */
#define AVAIL_GPA	MEDVM_AVAIL(0)
#define USED_GPA	MEDVM_USED(0)
#define HDR_GPA(k)	(0x20000u + (k) * 0x100u)
#define STATUS_GPA(k)	(HDR_GPA(k) + 0x40u)
#define TABLE_GPA(k)	(HDR_GPA(k) + 0x80u)	/* indirect table */
#define DATA_GPA(k)	(0x100000u + (k) * 0x4000u)

#define BLKSZ		4096u		/* a block: 8 sectors */
#define SPB		(BLKSZ / BLK_SECTOR)
#define NBLK		32u		/* 128 KiB: blocks meet often */
#define MAXREQ		8192u

#define SEQ_ZERO	UINT64_MAX	/* block content: zeroes */
#define SEQ_UNKNOWN	(UINT64_MAX - 1)	/* discarded: anything */

#define SERIAL		"CHK-BLK-PROC"

#define USED_EVENT_OFF	(4u + 2u * QSIZE)	/* in the avail ring */
#define AVAIL_EVENT_OFF	(4u + 8u * QSIZE)	/* in the used ring */

/* One request slot of the driver: descriptors DPS*k ... DPS*k+3. */
struct rq {
	bool busy;
	uint8_t type;		/* VIRTIO_BLK_T_* */
	bool unmap;
	uint32_t id;		/* request number */
	unsigned blk, nblk;
	uint64_t seq;		/* OUT: the number stamped */
	uint32_t want_len;	/* the used length it must come back with */
};

/* The VM process and the guest's driver, all in one. */
struct vm {
	struct medvm m;		/* its backend: the disk image */
	/* the mediators */
	const char *fault[8];	/* --fault of spawn i, NULL for none */
	unsigned spawns;
	unsigned kills;		/* deaths seen, every one a SIGKILL */
	unsigned sent;		/* SIGKILLs this test sent */
	bool doomed;		/* the current one was sent one */
	int kill_in_spawn_us;	/* >= 0: kill the next spawn at recovery */
	/* the driver */
	bool msix, event_idx, indirect;
	uint64_t rng;
	uint16_t used_seen;
	struct rq rq[NSLOT];
	unsigned inflight;
	uint32_t nreq;
	uint64_t next_seq;
	uint64_t irqs;		/* interrupts taken */
	unsigned mmio_count;	/* register accesses so far */
	/* what the disk must hold */
	uint64_t exp[NBLK];
	unsigned wbusy[NBLK], rbusy[NBLK];
	uint8_t answered[MAXREQ];
};

static struct vm vm;

/* vm.m.mmio: a register access that may meet a death (below). */
static uint64_t mmio(bool write, uint64_t off, unsigned size, uint64_t val);

/* ---- small things -------------------------------------------------------- */

static uint64_t
rnd(void)
{
	/* xorshift64: the same seed, the same workload. */
	vm.rng ^= vm.rng << 13;
	vm.rng ^= vm.rng >> 7;
	vm.rng ^= vm.rng << 17;
	return vm.rng;
}

static uint16_t *
u16_at(uint32_t gpa)
{
	return (uint16_t *)(void *)(vm.m.mem + gpa);
}

static uint16_t
used_idx(void)
{
	return medvm_used_idx(&vm.m, 0);
}

/*
 * Sector s of block b as the write numbered seq leaves it: the number
 * itself, where it is, then a mix of the three.
 */
static void
stamp(uint8_t *p, unsigned b, uint64_t seq)
{
	for (unsigned s = 0; s < SPB; s++) {
		uint64_t w[BLK_SECTOR / 8];

		if (seq == SEQ_ZERO) {
			memset(p + s * BLK_SECTOR, 0, BLK_SECTOR);
			continue;
		}
		w[0] = seq;
		w[1] = (uint64_t)b << 32 | s;
		for (unsigned i = 2; i < BLK_SECTOR / 8; i++)
			w[i] = (seq + 1) * 0x9e3779b97f4a7c15ull ^
			    ((uint64_t)b << 40 | (uint64_t)s << 32 | i);
		memcpy(p + s * BLK_SECTOR, w, sizeof(w));
	}
}

/* Checks that p holds block b as exp says; what = where it was read. */
static void
check_block(const uint8_t *p, unsigned b, uint64_t exp, const char *what)
{
	uint8_t want[BLKSZ];

	if (exp == SEQ_UNKNOWN)
		return;
	stamp(want, b, exp);
	for (unsigned s = 0; s < SPB; s++) {
		uint64_t found;

		if (memcmp(p + s * BLK_SECTOR, want + s * BLK_SECTOR,
		    BLK_SECTOR) == 0)
			continue;
		memcpy(&found, p + s * BLK_SECTOR, 8);
		ck_abort_msg("%s: block %u sector %u holds write %" PRIu64
		    " (first word), the last completed write is %" PRId64,
		    what, b, s, found, exp == SEQ_ZERO ? -1 : (int64_t)exp);
	}
}

/* ---- the VM process ------------------------------------------------------ */

/* The fd and count of the queue's interrupt (MSI-X vector 0, or INTx). */
static int
qirq_fd(void)
{
	return vm.msix ? vm.m.irq[0] : vm.m.intx;
}

/* Interrupts raised on the queue's vector since the last call. */
static uint64_t
qirq_take(void)
{
	uint64_t n;

	if (vm.msix) {
		n = vm.m.irq_pending[0] + medtest_drain(vm.m.irq[0]);
		vm.m.irq_pending[0] = 0;
	} else {
		n = vm.m.intx_pending + medtest_drain(vm.m.intx);
		vm.m.intx_pending = 0;
	}
	return n;
}

/*
 * Kills the mediator now, once: it is ours and not reaped yet (a
 * zombie keeps its pid), so the signal cannot reach anyone else.
 */
static void
kill_now(void)
{
	ck_assert_int_gt(vm.m.pid, 0);
	if (vm.doomed)
		return;
	kill(vm.m.pid, SIGKILL);
	vm.doomed = true;
	vm.sent++;
}

/* The device and its MSI-X vectors, in order, as each mediator says. */
static void
spawn_check(struct medvm *m, const struct ctl_msg *msg)
{
	struct ctl_irqfd irq;
	struct ctl_device dev;

	switch (msg->hdr.type) {
	case CTL_DEVICE:
		ck_assert_int_eq(ctl_get_device(msg, &dev), 0);
		ck_assert_uint_eq(dev.config[2] | dev.config[3] << 8, 0x1042);
		break;
	case CTL_IRQFD:
		ck_assert_int_eq(ctl_get_irqfd(msg, &irq), 0);
		if (irq.kind == CTL_IRQ_MSIX) {
			ck_assert_uint_eq(irq.vector, m->nirq);
			ck_assert_int_lt(m->nirq, 4);
		}
		break;
	}
}

/*
 * The INTx irqfd is the last request before recovery runs: a kill due
 * while the new mediator recovers is timed from its answer.
 */
static void
spawn_replied(struct medvm *m, const struct ctl_msg *msg)
{
	struct ctl_irqfd irq;

	(void)m;
	if (msg->hdr.type != CTL_IRQFD || vm.kill_in_spawn_us < 0)
		return;
	ck_assert_int_eq(ctl_get_irqfd(msg, &irq), 0);
	if (irq.kind == CTL_IRQ_MSIX)
		return;
	medtest_sleep_us((unsigned)vm.kill_in_spawn_us);
	kill_now();
	vm.kill_in_spawn_us = -1;
}

/*
 * Starts a mediator on the ring, state and disk, as the VM process does
 * at start and after every death, with the --fault of this spawn.
 * Returns true once it said READY, false if it died before.
 */
static bool
spawn(void)
{
	const char *fault = vm.spawns < 8 ? vm.fault[vm.spawns] : NULL;
	char farg[64], *args[8] = { (char *)"--ctl-fd=3",
	    (char *)"--disk-fd=4", (char *)"--serial=" SERIAL,
	    (char *)"--name=check/blk" };
	int argc = 4;

	snprintf(farg, sizeof(farg), "--fault=%s", fault ? fault : "");
	vm.spawns++;
#ifdef __SANITIZE_ADDRESS__
	/*
	 * XXX the sandbox's seccomp policy does not admit what the
	 * sanitizer runtime calls (madvise, for one) yet: without this the
	 * sanitizer build's mediator dies of SIGSYS.
	 */
	args[argc++] = (char *)"--no-sandbox";
#endif
	if (fault != NULL)
		args[argc++] = farg;
	args[argc] = NULL;
	if (!medvm_spawn(&vm.m, "cupule-blk", args, MEDTEST_PDEATHSIG))
		return false;
	ck_assert_int_eq(vm.m.nirq, 2);
	return true;
}

/* The end of the mediators' log, for a failure message. */
static const char *
log_tail(void)
{
	static char buf[1024];
	off_t end = lseek(vm.m.log, 0, SEEK_END);
	off_t at = end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 :
	    0;
	ssize_t n = pread(vm.m.log, buf, sizeof(buf) - 1, at);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* Reaps the dead mediator: it must have died of SIGKILL. */
static void
reap(void)
{
	int st;

	ck_assert_int_gt(vm.m.pid, 0);
	ck_assert_int_eq(waitpid(vm.m.pid, &st, 0), vm.m.pid);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
	    "mediator ended with status %#x, not SIGKILL; its log ends:\n%s",
	    st, log_tail());
	vm.m.pid = -1;
	vm.doomed = false;
	vm.kills++;
	close(vm.m.ctl);
	vm.m.ctl = -1;
}

/* The mediator died: reap it and start others until one is READY. */
static void
restart(void)
{
	do
		reap();
	while (!spawn());
}

/*
 * The mediator's channel closed.  If the driver was asleep waiting for
 * an interrupt and the dead process had published entries for it
 * without raising one, the new process must have raised it by the time
 * it says READY: that is the only way the driver ever learns.
 */
static void
died(bool asleep)
{
	uint64_t before = qirq_take();
	bool owed = asleep && before == 0 && used_idx() != vm.used_seen;

	restart();
	if (owed)
		ck_assert_msg(qirq_take() > 0, "used->idx %u, the driver saw "
		    "%u and sleeps: no interrupt after the takeover",
		    used_idx(), vm.used_seen);
	vm.irqs += before;
}

/* True when the control channel says the mediator is gone. */
static bool
ctl_closed(int timeout_ms)
{
	struct pollfd p = { .fd = vm.m.ctl, .events = POLLIN };

	return poll(&p, 1, timeout_ms) == 1;
}


static void
vm_open(bool msix, bool event_idx, bool indirect, uint64_t seed)
{
	uint8_t *img;

	memset(&vm, 0, sizeof(vm));
	medvm_open(&vm.m, "check_blk_proc.log", wait_ms);
	vm.m.mortal = true;
	vm.m.mmio = mmio;
	vm.m.on_msg = spawn_check;
	vm.m.on_reply = spawn_replied;
	vm.kill_in_spawn_us = -1;
	vm.msix = msix;
	vm.event_idx = event_idx;
	vm.indirect = indirect;
	vm.rng = seed | 1;
	vm.next_seq = 1;
	vm.m.backend = medtest_tmpfile("check_blk_proc.img");
	/* Every block starts as "write 0", which is not zeroes. */
	img = malloc(NBLK * BLKSZ);
	ck_assert_ptr_nonnull(img);
	for (unsigned b = 0; b < NBLK; b++)
		stamp(img + b * BLKSZ, b, 0);
	ck_assert_int_eq(pwrite(vm.m.backend, img, NBLK * BLKSZ, 0),
	    (ssize_t)(NBLK * BLKSZ));
	free(img);
}

static void
vm_close(void)
{
	if (vm.m.pid > 0) {
		struct ctl_shutdown sd = { .reason = CTL_SHUTDOWN_POWEROFF };
		int st;

		ctl_send(vm.m.ctl, CTL_SHUTDOWN, vm.m.next_id++, &sd,
		    sizeof(sd), NULL, 0);
		ck_assert_int_eq(waitpid(vm.m.pid, &st, 0), vm.m.pid);
		vm.m.pid = -1;
		/* A clean exit: a sanitizer report would have changed it. */
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		    "mediator ended with status %#x on SHUTDOWN; its log "
		    "ends:\n%s", st, log_tail());
	}
	if (getenv("CHECK_BLK_LOG") != NULL)
		medvm_print_log(&vm.m);
	medvm_close(&vm.m);
}

/* ---- the driver: registers ----------------------------------------------- */

/*
 * One BAR0 access from the vCPU.  A mediator that dies holding it is
 * replaced; the new one serves it again (REPLAY).  kill_us >= 0 kills
 * the mediator that long after the access was submitted.
 */
static uint64_t
mmio_kill(bool write, uint64_t off, unsigned size, uint64_t val, int kill_us)
{
	struct ioreq r = { .type = IOREQ_MMIO, .size = (uint8_t)size,
	    .dir = write ? IOREQ_WRITE : IOREQ_READ, .index = 0, .addr = off,
	    .data = val };
	uint64_t data = 0;
	int ret, spins = 0;

	vm.mmio_count++;
	ck_assert_int_eq(ioreq_submit(&vm.m.ring, 0, &r), 0);
	if (kill_us >= 0) {
		medtest_sleep_us((unsigned)kill_us);
		kill_now();
	}
	for (;;) {
		ret = ioreq_try_complete(&vm.m.ring, 0, &data);
		if (ret == 0)
			return data;
		ck_assert_int_eq(ret, -EAGAIN);
		/* The slot is the vCPU's to watch; the channel, the death. */
		if (ctl_closed(spins++ < 100 ? 0 : 1))
			died(false);
	}
}

static uint64_t
mmio(bool write, uint64_t off, unsigned size, uint64_t val)
{
	return mmio_kill(write, off, size, val, -1);
}

static uint64_t
features(void)
{
	uint64_t f = VIRTIO_F_VERSION_1 | VIRTIO_BLK_F_FLUSH |
	    VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_SEG_MAX |
	    VIRTIO_BLK_F_DISCARD | VIRTIO_BLK_F_WRITE_ZEROES;

	if (vm.event_idx)
		f |= VIRTIO_F_EVENT_IDX;
	if (vm.indirect)
		f |= VIRTIO_F_INDIRECT_DESC;
	return f;
}

/*
 * Brings the device up as Linux does; every step can be the one killed
 * (vm.m.mmio is mmio()).
 */
static void
driver_init(void)
{
	uint64_t f = features();

	medvm_reset(&vm.m);
	ck_assert_uint_eq(medvm_offered(&vm.m) & f, f);
	medvm_set_features(&vm.m, f);
	if (vm.msix)
		medvm_msix(&vm.m, 1);
	memset(vm.m.mem + DESC_GPA, 0, 0x3000);
	ck_assert_uint_eq(medvm_queue_select(&vm.m, 0), BLK_QUEUE_SIZE);
	mmio(true, VIRTIO_PCI_Q_SIZE, 2, QSIZE);
	medvm_queue_enable(&vm.m, 0, QSIZE, vm.msix ? 0 : -1);
	ck_assert_uint_eq(mmio(false, VIRTIO_PCI_Q_ENABLE, 2, 0), 1);
	vm.used_seen = 0;
	medvm_driver_ok(&vm.m);
	ck_assert_uint_eq(mmio(false, VIRTIO_PCI_Q_SIZE, 2, 0), QSIZE);
}

/* ---- the driver: requests ------------------------------------------------ */

struct dsc {
	uint64_t addr;
	uint32_t len;
	bool write;
};

/* Writes request slot k's chain, directly or through an indirect table. */
static void
put_chain(unsigned k, const struct dsc *d, unsigned n)
{
	bool ind = vm.indirect && rnd() % 3 == 0;
	uint16_t base = ind ? 0 : (uint16_t)(DPS * k);
	uint8_t *table = vm.m.mem + (ind ? TABLE_GPA(k) : DESC_GPA);

	for (unsigned i = 0; i < n; i++) {
		struct virtq_desc v = {
			.addr = d[i].addr, .len = d[i].len,
			.flags = (uint16_t)((d[i].write ? VIRTQ_DESC_F_WRITE :
			    0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
			.next = (uint16_t)(base + i + 1),
		};

		memcpy(table + 16u * (base + i), &v, sizeof(v));
	}
	if (ind) {
		struct virtq_desc v = { .addr = TABLE_GPA(k), .len = 16 * n,
		    .flags = VIRTQ_DESC_F_INDIRECT };

		memcpy(vm.m.mem + DESC_GPA + 16u * DPS * k, &v, sizeof(v));
	}
}

static bool
blocks_free(unsigned b, unsigned n, bool write)
{
	for (unsigned i = b; i < b + n; i++)
		if (vm.wbusy[i] || (write && vm.rbusy[i]))
			return false;
	return true;
}

/* Fills a free slot with a random request and publishes it. */
static void
submit_one(void)
{
	struct dsc d[DPS];
	struct rq *r = NULL;
	struct { uint32_t type, reserved; uint64_t sector; } hdr;
	unsigned k, n = 0, pick = (unsigned)(rnd() % 100);
	bool write;

	for (k = (unsigned)(rnd() % NSLOT); r == NULL; k = (k + 1) % NSLOT)
		if (!vm.rq[k].busy)
			r = &vm.rq[k];
	k = (unsigned)(r - vm.rq);
	ck_assert_uint_lt(vm.nreq, MAXREQ);
	*r = (struct rq){ .busy = true, .id = vm.nreq++, .want_len = 1 };
	r->type = pick < 55 ? VIRTIO_BLK_T_OUT : pick < 85 ? VIRTIO_BLK_T_IN :
	    pick < 90 ? VIRTIO_BLK_T_FLUSH : pick < 93 ? VIRTIO_BLK_T_GET_ID :
	    pick < 97 ? VIRTIO_BLK_T_WRITE_ZEROES : VIRTIO_BLK_T_DISCARD;
	write = r->type != VIRTIO_BLK_T_IN;
	if (r->type != VIRTIO_BLK_T_FLUSH && r->type != VIRTIO_BLK_T_GET_ID) {
		unsigned tries;

		r->nblk = (r->type == VIRTIO_BLK_T_IN ||
		    r->type == VIRTIO_BLK_T_OUT) && rnd() % 4 == 0 ? 2 : 1;
		for (tries = 0; tries < 16; tries++) {
			r->blk = (unsigned)(rnd() % (NBLK - r->nblk + 1));
			if (blocks_free(r->blk, r->nblk, write))
				break;
		}
		if (tries == 16) {
			/* Every pick meets a request in flight: flush. */
			r->type = VIRTIO_BLK_T_FLUSH;
			r->nblk = 0;
		}
	}
	hdr.type = r->type;
	hdr.reserved = 0;
	hdr.sector = (uint64_t)r->blk * SPB;
	memcpy(vm.m.mem + HDR_GPA(k), &hdr, sizeof(hdr));
	d[n++] = (struct dsc){ HDR_GPA(k), sizeof(hdr), false };
	switch (r->type) {
	case VIRTIO_BLK_T_OUT:
		r->seq = vm.next_seq++;
		for (unsigned i = 0; i < r->nblk; i++) {
			stamp(vm.m.mem + DATA_GPA(k) + i * BLKSZ, r->blk + i,
			    r->seq);
			d[n++] = (struct dsc){ DATA_GPA(k) + i * BLKSZ, BLKSZ,
			    false };
		}
		break;
	case VIRTIO_BLK_T_IN:
		memset(vm.m.mem + DATA_GPA(k), 0x5a, 2 * BLKSZ);
		for (unsigned i = 0; i < r->nblk; i++)
			d[n++] = (struct dsc){ DATA_GPA(k) + i * BLKSZ, BLKSZ,
			    true };
		r->want_len = r->nblk * BLKSZ + 1;
		break;
	case VIRTIO_BLK_T_GET_ID:
		memset(vm.m.mem + DATA_GPA(k), 0x5a, BLK_ID_BYTES);
		d[n++] = (struct dsc){ DATA_GPA(k), BLK_ID_BYTES, true };
		r->want_len = BLK_ID_BYTES + 1;
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: {
		struct virtio_blk_discard_write_zeroes seg = {
			.sector = (uint64_t)r->blk * SPB, .num_sectors = SPB,
		};

		r->unmap = r->type == VIRTIO_BLK_T_WRITE_ZEROES && rnd() % 2;
		seg.flags = r->unmap ? VIRTIO_BLK_WZ_UNMAP : 0;
		memcpy(vm.m.mem + DATA_GPA(k), &seg, sizeof(seg));
		d[n++] = (struct dsc){ DATA_GPA(k), sizeof(seg), false };
		break;
	}
	}
	vm.m.mem[STATUS_GPA(k)] = 0xee;
	d[n++] = (struct dsc){ STATUS_GPA(k), 1, true };
	put_chain(k, d, n);
	for (unsigned i = r->blk; i < r->blk + r->nblk; i++) {
		if (write)
			vm.wbusy[i]++;
		else
			vm.rbusy[i]++;
	}
	vm.inflight++;
	medvm_publish(&vm.m, 0, (uint16_t)(DPS * k));
}

/* Notifies for what was published since old, as the driver must. */
static void
notify(uint16_t old)
{
	/* Store avail->idx, then load avail_event (the device's mirror). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vm.event_idx && !vq_need_event(__atomic_load_n(
	    u16_at(USED_GPA + AVAIL_EVENT_OFF), __ATOMIC_RELAXED),
	    vm.m.avail[0], old))
		return;
	if (rnd() % 10 == 0)
		mmio(true, VIRTIO_NOTIFY_OFF, 2, 0);
	else
		medvm_kick(&vm.m, 0);
}

/* Submits up to n requests (as slots allow) and notifies once. */
static void
submit(unsigned n, unsigned limit)
{
	uint16_t old = vm.m.avail[0];

	while (n-- > 0 && vm.inflight < NSLOT && vm.nreq < limit)
		submit_one();
	if (vm.m.avail[0] != old)
		notify(old);
}

/* One used entry: the request it answers must be in flight, and right. */
static void
complete(uint32_t id, uint32_t len)
{
	struct rq *r;
	uint8_t status;
	unsigned k;

	ck_assert_msg(id % DPS == 0 && id < QSIZE, "used entry with head %u, "
	    "which no request has", id);
	k = id / DPS;
	r = &vm.rq[k];
	ck_assert_msg(r->busy, "head %u answered twice (request #%u was "
	    "answered already)", id, r->id);
	status = vm.m.mem[STATUS_GPA(k)];
	ck_assert_msg(status == VIRTIO_BLK_S_OK, "request #%u (type %u) "
	    "status %#x", r->id, r->type, status);
	ck_assert_msg(len == r->want_len, "request #%u (type %u) used length "
	    "%u, want %u", r->id, r->type, len, r->want_len);
	ck_assert_uint_eq(vm.answered[r->id], 0);
	vm.answered[r->id]++;
	for (unsigned i = 0; i < r->nblk; i++) {
		unsigned b = r->blk + i;

		switch (r->type) {
		case VIRTIO_BLK_T_IN:
			check_block(vm.m.mem + DATA_GPA(k) + i * BLKSZ, b,
			    vm.exp[b], "read");
			vm.rbusy[b]--;
			break;
		case VIRTIO_BLK_T_OUT:
			vm.exp[b] = r->seq;
			vm.wbusy[b]--;
			break;
		case VIRTIO_BLK_T_WRITE_ZEROES:
			vm.exp[b] = SEQ_ZERO;
			vm.wbusy[b]--;
			break;
		case VIRTIO_BLK_T_DISCARD:
			/* A hint: the content is the device's choice now. */
			vm.exp[b] = SEQ_UNKNOWN;
			vm.wbusy[b]--;
			break;
		}
	}
	if (r->type == VIRTIO_BLK_T_GET_ID) {
		char want[BLK_ID_BYTES] = SERIAL;

		ck_assert_mem_eq(vm.m.mem + DATA_GPA(k), want, BLK_ID_BYTES);
	}
	r->busy = false;
	vm.inflight--;
}

/* Takes every used entry published; returns how many. */
static unsigned
take_used(void)
{
	uint16_t idx = used_idx();
	unsigned n = 0;

	while (vm.used_seen != idx) {
		uint32_t id, len;

		medvm_used_elem(&vm.m, 0, vm.used_seen, &id, &len);
		complete(id, len);
		vm.used_seen++;
		n++;
	}
	return n;
}

/*
 * Sleeps until the queue's interrupt, handling a mediator's death on
 * the way.  No interrupt within wait_ms means one was lost (or a
 * completion was): the test fails.
 */
static void
sleep_irq(void)
{
	struct pollfd p[3] = {
		{ .fd = qirq_fd(), .events = POLLIN },
		{ .fd = vm.m.ctl, .events = POLLIN },
		{ .fd = vm.msix ? vm.m.irq[1] : -1, .events = POLLIN },
	};
	int ret;

	ret = poll(p, 3, wait_ms);
	/* Only a violation raises the configuration vector. */
	ck_assert_msg(!(p[2].revents & POLLIN), "configuration interrupt: "
	    "device status %#x, %u violation(s)", vm.m.s->status,
	    vm.m.s->violations);
	ck_assert_msg(ret > 0, "no interrupt in %d ms: used->idx %u, seen %u, "
	    "%u in flight, avail %u, device last_avail %u used_idx %u, "
	    "status %#x", wait_ms, used_idx(), vm.used_seen, vm.inflight,
	    vm.m.avail[0], vm.m.s->vq[0].last_avail, vm.m.s->vq[0].used_idx,
	    vm.m.s->status);
	if (p[0].revents & POLLIN) {
		vm.irqs += qirq_take();
		if (!(p[1].revents & (POLLIN | POLLHUP)))
			return;
		died(false);
		return;
	}
	died(true);
}

/*
 * Waits for completions as a driver does: take what is there; to sleep,
 * ask for an interrupt at the next entry (used_event, or no
 * NO_INTERRUPT flag), then look once more, since an entry published
 * before the request was seen raises nothing.  all: until nothing is
 * in flight; else until at least one came.
 */
static void
wait_done(bool all)
{
	unsigned got = 0;

	for (;;) {
		got += take_used();
		if (vm.inflight == 0 || (!all && got > 0))
			return;
		if (vm.event_idx)
			__atomic_store_n(u16_at(AVAIL_GPA + USED_EVENT_OFF),
			    vm.used_seen, __ATOMIC_RELAXED);
		/* Store used_event, then load used->idx. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (used_idx() != vm.used_seen)
			continue;
		sleep_irq();
	}
}

/* The device is live and sane, through the registers. */
static void
check_status(void)
{
	ck_assert_uint_eq(mmio(false, VIRTIO_PCI_STATUS, 1, 0), 0x0f);
}

/*
 * The end of a run: nothing in flight, each request answered once, the
 * disk holding the last completed write of every block, no violation
 * and no configuration interrupt (both would mean the device gave up),
 * and kills deaths, all of them SIGKILL.
 */
static void
finish(unsigned kills)
{
	uint8_t *img = malloc(NBLK * BLKSZ);

	/* A kill sent last is seen, whatever the mediator did meanwhile. */
	if (vm.doomed) {
		ck_assert(ctl_closed(wait_ms));
		died(false);
	}
	wait_done(true);
	ck_assert_uint_eq(vm.inflight, 0);
	for (uint32_t i = 0; i < vm.nreq; i++)
		ck_assert_msg(vm.answered[i] == 1, "request #%u answered %u "
		    "times", i, vm.answered[i]);
	ck_assert_uint_eq(used_idx(), vm.m.avail[0]);
	ck_assert_uint_eq(vm.used_seen, vm.nreq);
	check_status();
	ck_assert_uint_eq(vm.m.s->violations, 0);
	if (vm.msix)
		ck_assert_uint_eq(vm.m.irq_pending[1] +
		    medtest_drain(vm.m.irq[1]), 0);
	ck_assert_ptr_nonnull(img);
	ck_assert_int_eq(pread(vm.m.backend, img, NBLK * BLKSZ, 0),
	    (ssize_t)(NBLK * BLKSZ));
	for (unsigned b = 0; b < NBLK; b++)
		check_block(img + b * BLKSZ, b, vm.exp[b], "disk at the end");
	free(img);
	ck_assert_msg(vm.kills == kills, "%u mediator deaths, want %u: a "
	    "fault point was not reached", vm.kills, kills);
}

/*
 * nreq requests in rounds: a batch of 1 to 12 (1 in the first rounds,
 * so that the first completions have nothing after them to hide a
 * missed interrupt), then a wait for some of them, or every third
 * round for all.  A register read now and then.
 */
static void
workload(uint32_t nreq)
{
	for (unsigned round = 0; vm.nreq < nreq || vm.inflight > 0; round++) {
		unsigned k = round < 3 ? 1 : 1 + (unsigned)(rnd() % 12);

		submit(k, nreq);
		wait_done(round % 3 == 0 || vm.nreq >= nreq);
		if (round % 8 == 7)
			check_status();
	}
}

/*
 * The workload of nreq requests, then more until kills mediators died:
 * how often some points are reached (an interrupt under EVENT_IDX, say)
 * depends on how the driver and the mediator interleave.  Bounded, so a
 * point never reached still fails in finish().
 */
static void
workload_until(uint32_t nreq, unsigned kills)
{
	workload(nreq);
	while (vm.kills < kills && vm.nreq + 40 <= MAXREQ / 2)
		workload(vm.nreq + 40);
}

/* ---- tests --------------------------------------------------------------- */

/* A fresh device and a live driver, with the --fault list given. */
static void
start(bool msix, bool event_idx, bool indirect, uint64_t seed,
    const char *const *faults, unsigned nfaults)
{
	vm_open(msix, event_idx, indirect, seed);
	for (unsigned i = 0; i < nfaults && i < 8; i++)
		vm.fault[i] = faults[i];
	/* The first spawn may die during its handshake too. */
	if (!spawn())
		restart();
	driver_init();
}

static const char *const points[] = {
	"record", "avail", "backend", "elem", "commit", "used", "irq", "mmio",
};
#define NPOINTS	((int)(sizeof(points) / sizeof(points[0])))

/*
 * One fault point, reached for the 1st, 2nd, 5th and 17th time, with and
 * without EVENT_IDX: the mediator dies there once, a new one without
 * the fault takes over, the workload goes on to the end.
 */
START_TEST(test_fault_point)
{
	static const unsigned nth[] = { 1, 2, 5, 17 };
	char spec[32];

	for (unsigned i = 0; i < 4; i++) {
		for (int ev = 0; ev < 2; ev++) {
			const char *f[1] = { spec };

			snprintf(spec, sizeof(spec), "%s:%u", points[_i],
			    nth[i]);
			start(true, ev, ev, 0x5eed0000u + i * 2 + (unsigned)ev,
			    f, 1);
			workload_until(160, 1);
			finish(1);
			vm_close();
		}
	}
}
END_TEST

/*
 * The successor dies too, some of them while they recover (before
 * READY: the takeover's interrupt, a request answered at once, a
 * replayed register access), and the one after finishes the job.
 */
START_TEST(test_fault_chains)
{
	static const char *const chains[][3] = {
		{ "used:3", "avail:1", NULL },
		{ "backend:5", "backend:1", "elem:1" },
		{ "record:2", "record:1", NULL },
		{ "commit:4", "commit:1", "used:1" },
		{ "irq:3", "irq:1", NULL },
		{ "mmio:5", "mmio:1", "mmio:1" },
		{ "elem:7", "irq:1", "backend:2" },
	};

	for (unsigned i = 0; i < sizeof(chains) / sizeof(chains[0]); i++) {
		unsigned n = chains[i][2] != NULL ? 3 : 2;

		start(true, i % 2 == 0, true, 0xc4a10000u + i, chains[i], n);
		workload_until(160, n);
		finish(n);
		vm_close();
	}
}
END_TEST

/*
 * Every register access of the driver's set-up killed in turn, after
 * the mediator served it and before it answered: the replay must give
 * the vCPU what the first run would have (status read back, features,
 * queue size), apply the write once in effect (the status is exactly
 * what the driver built up, the queue enabled once with its indexes
 * from 0), and leave a device that works.
 */
START_TEST(test_fault_mmio_setup)
{
	unsigned n = 0, total;

	/* How many accesses the set-up makes. */
	start(true, true, false, 1, NULL, 0);
	total = vm.mmio_count;
	vm_close();
	ck_assert_uint_ge(total, 20);
	for (n = 1; n <= total; n++) {
		char spec[32];
		const char *f[1] = { spec };

		snprintf(spec, sizeof(spec), "mmio:%u", n);
		start(true, true, false, 0x3a3a0000u + n, f, 1);
		ck_assert_uint_eq(vm.kills, 1);
		ck_assert_uint_eq(vm.m.s->driver_features, features());
		ck_assert_uint_eq(vm.m.s->vq[0].size, QSIZE);
		workload(24);
		finish(1);
		vm_close();
	}
}
END_TEST

/*
 * An ISR read killed after the mediator latched and cleared the ISR:
 * the replay answers the latched value, not the cleared ISR, and the
 * bit is gone for the next read.  INTx, so that completions set the
 * ISR; no interrupt wanted (NO_INTERRUPT), so that no takeover sets it
 * again behind the test's back.
 */
START_TEST(test_fault_mmio_isr)
{
	for (unsigned n = 1; n <= 2; n++) {
		char spec[32];
		const char *f[2] = { NULL, spec };

		snprintf(spec, sizeof(spec), "mmio:%u", n);
		start(false, false, false, 0x15c0000u + n, f, 2);
		submit(1, 1);
		wait_done(true);
		ck_assert_uint_eq(vm.m.s->isr, VIRTIO_ISR_QUEUE);
		*u16_at(AVAIL_GPA) = VIRTQ_AVAIL_F_NO_INTERRUPT;
		/* A clean kill between requests, then the faulty one. */
		kill_now();
		ck_assert(ctl_closed(wait_ms));
		restart();
		ck_assert_uint_eq(vm.m.s->isr, VIRTIO_ISR_QUEUE);
		if (n == 2)
			check_status();
		ck_assert_uint_eq(mmio(false, VIRTIO_ISR_OFF, 1, 0),
		    VIRTIO_ISR_QUEUE);
		ck_assert_uint_eq(vm.kills, 2);
		ck_assert_uint_eq(mmio(false, VIRTIO_ISR_OFF, 1, 0), 0);
		/* And the line works as before. */
		*u16_at(AVAIL_GPA) = 0;
		workload(12);
		finish(2);
		vm_close();
	}
}
END_TEST

/*
 * SIGKILL at random moments while the workload runs: right after a
 * submission or a little later, during a register access, and while a
 * new mediator recovers (before READY).  The seed is printed, and
 * CHECK_BLK_SEED repeats a run.
 */
START_TEST(test_random_kills)
{
	const char *env = getenv("CHECK_BLK_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) :
	    (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
	const unsigned want = 60;
	const uint32_t limit = 6000;

	printf("check_blk_proc: random kills with seed %" PRIu64
	    " (CHECK_BLK_SEED=%" PRIu64 " repeats it)\n", seed, seed);
	fflush(stdout);
	start(true, seed % 2 == 0, true, seed, NULL, 0);
	for (unsigned round = 0; vm.sent < want || vm.inflight > 0; round++) {
		unsigned k = 1 + (unsigned)(rnd() % 12), dice;
		bool more = vm.sent < want;

		ck_assert_msg(vm.nreq < limit, "%u requests and only %u kills",
		    vm.nreq, vm.sent);
		submit(more ? k : 0, limit);
		dice = (unsigned)(rnd() % 100);
		if (more && dice < 12) {
			/* While the mediator works on the batch. */
			medtest_sleep_us((unsigned)(rnd() % 400));
			kill_now();
			/* And now and then its successor while it recovers. */
			if (rnd() % 4 == 0)
				vm.kill_in_spawn_us = (int)(rnd() % 1500);
		} else if (more && dice < 16) {
			mmio_kill(false, VIRTIO_PCI_STATUS, 1, 0,
			    (int)(rnd() % 200));
		}
		wait_done(round % 3 == 0 || !more);
	}
	/* A successor to kill that was never started is not waited for. */
	vm.kill_in_spawn_us = -1;
	finish(vm.sent);
	printf("check_blk_proc: %u requests, %u kills, %" PRIu64
	    " interrupts taken\n", vm.nreq, vm.sent, vm.irqs);
	vm_close();
}
END_TEST

/*
 * --fault is checked before anything else: a bad one is a clear error,
 * and so is a point the mediator never reaches (cupule-net: only mmio).
 */
START_TEST(test_fault_option)
{
	static const char *const bad[][3] = {
		{ "cupule-blk", "--fault=nowhere:1", "unknown fault point" },
		{ "cupule-blk", "--fault=avail", "unknown fault point" },
		{ "cupule-blk", "--fault=avail:0", "N must be a number" },
		{ "cupule-blk", "--fault=avail:x", "N must be a number" },
		{ "cupule-blk", "--fault=avail:-1", "N must be a number" },
		{ "cupule-net", "--fault=avail:1", "never reaches 'avail'" },
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char log[1024];
		int fd = medtest_tmpfile("check_blk_proc.opt"), st;
		const char *path = medtest_prog(bad[i][0]);
		pid_t pid;
		ssize_t n;

		fflush(NULL);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			char arg[64];
			char *argv[] = { (char *)"cupule-blk",
			    (char *)"--ctl-fd=3", arg, NULL };

			snprintf(arg, sizeof(arg), "%s", bad[i][1]);
			if (dup2(fd, 2) < 0)
				_exit(127);
			execv(path, argv);
			_exit(127);
		}
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert(WIFEXITED(st));
		ck_assert_int_eq(WEXITSTATUS(st), 2);
		n = pread(fd, log, sizeof(log) - 1, 0);
		ck_assert_int_gt(n, 0);
		log[n] = '\0';
		ck_assert_msg(strstr(log, bad[i][2]) != NULL, "%s %s: %s",
		    bad[i][0], bad[i][1], log);
		close(fd);
	}
}
END_TEST

static Suite *
blk_proc_suite(void)
{
	Suite *s = suite_create("blk_proc");
	TCase *tc = tcase_create("faults");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_fault_option);
	tcase_add_loop_test(tc, test_fault_point, 0, NPOINTS);
	tcase_add_test(tc, test_fault_chains);
	tcase_add_test(tc, test_fault_mmio_setup);
	tcase_add_test(tc, test_fault_mmio_isr);
	tcase_add_test(tc, test_random_kills);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(blk_proc_suite());
	const char *w = getenv("CHECK_BLK_WAIT_MS");
	int failed;

	if (w != NULL && atoi(w) > 0)
		wait_ms = atoi(w);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
