/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The ioreq ring (ring.h, docs/ipc.md).
 *
 * Ownership of a slot follows its state: the VM side owns a FREE slot and
 * reads a COMPLETE one, the mediator owns a PROCESSING one; `waiting` is
 * always the VM side's.  The state word carries all ordering:
 *
 *   VM: fields, then store-release PENDING.  Mediator: CAS acquire
 *   PENDING -> PROCESSING, then read the fields, then write data, then
 *   store-release COMPLETE.  VM: load-acquire COMPLETE, read data, FREE.
 *
 * Every other field is accessed with relaxed atomics: the ordering comes
 * from the state word, and an atomic access is one load or store, so a
 * peer rewriting a field cannot make our check and our use see two
 * different values.  The two sleep/wake handshakes need a full fence on
 * each side (see submit/arm and wait_complete/finish).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ring.h"

/* The layout is ABI: a change here must bump IOREQ_VERSION. */
_Static_assert(sizeof(struct ioreq_ring_hdr) == IOREQ_HDR_SIZE, "header");
_Static_assert(offsetof(struct ioreq_ring_hdr, flags) == 12, "flags");
_Static_assert(offsetof(struct ioreq_ring_hdr, med_sleeping) == 64, "line");
_Static_assert(offsetof(struct ioreq_ring_hdr, bad) == 80, "bad");
_Static_assert(offsetof(struct ioreq_ring_hdr, heartbeat) == 88, "beat");
_Static_assert(sizeof(struct ioreq_slot) == IOREQ_SLOT_SIZE, "slot");
_Static_assert(offsetof(struct ioreq_slot, type) == 8, "type");
_Static_assert(offsetof(struct ioreq_slot, addr) == 16, "addr");
_Static_assert(offsetof(struct ioreq_slot, data) == 24, "data");
_Static_assert(offsetof(struct ioreq_slot, waiting) == 32, "waiting");
_Static_assert(offsetof(struct ioreq_slot, done_seq) == 36, "done_seq");

enum { SIDE_NONE, SIDE_VM, SIDE_MEDIATOR };

#define LOAD(p)		__atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define CPU_UNKNOWN	UINT32_MAX

static void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
size_mask(unsigned size)
{
	return size >= 8 ? UINT64_MAX : (UINT64_C(1) << (8 * size)) - 1;
}

/*
 * Spinning only pays while the peer runs on another CPU: on ours it
 * cannot make progress until we give the CPU up.  An unknown peer CPU
 * is a bet on spinning; the budget bounds the loss.
 */
static bool
peer_elsewhere(uint32_t peer)
{
	int me;

	if (peer == CPU_UNKNOWN)
		return true;
	me = sched_getcpu();
	return me < 0 || (uint32_t)me != peer;
}

/* Polls done() until it is true (returns true) or spin_ns has passed. */
static bool
spin(bool (*done)(struct ioreq_ring *, unsigned), struct ioreq_ring *ring,
    unsigned arg, uint64_t spin_ns)
{
	uint64_t deadline = 0;
	unsigned i;

	if (spin_ns != IOREQ_SPIN_FOREVER)
		deadline = now_ns() + spin_ns;
	for (i = 1;; i++) {
		if (done(ring, arg))
			return true;
		cpu_relax();
		/* The clock costs ~30 ns here: read it every 32 polls. */
		if (deadline && (i & 31) == 0 && now_ns() >= deadline)
			return false;
	}
}

static int
notify(int fd)
{
	uint64_t one = 1;

	while (write(fd, &one, sizeof(one)) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

/* Sleeps until the eventfd fd has a count and consumes it. */
static int
wait_fd(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t v;
	ssize_t n;

	for (;;) {
		n = read(fd, &v, sizeof(v));
		if (n == (ssize_t)sizeof(v))
			return 0;
		if (n >= 0)
			return -EIO;
		if (errno != EAGAIN)
			return -errno;
		/* O_NONBLOCK is shared by every holder of the file: cope. */
		if (poll(&p, 1, -1) < 0)
			return -errno;
	}
}

/*
 * The shape rules for a request; the mediator's handlers may rely on
 * them.  An I/O region is at most 64 KiB; a configuration access stays
 * inside one dword, as mechanism #1 and ECAM accesses do.
 */
static bool
req_valid(unsigned type, unsigned size, unsigned dir, unsigned index,
    uint64_t addr)
{
	if (size != 1 && size != 2 && size != 4 && size != 8)
		return false;
	if (dir != IOREQ_READ && dir != IOREQ_WRITE)
		return false;
	if (index >= IOREQ_MAX_INDEX)
		return false;
	switch (type) {
	case IOREQ_PIO:
		return size <= 4 && addr <= 0x10000u - size;
	case IOREQ_MMIO:
		return addr <= UINT64_MAX - (size - 1);
	case IOREQ_PCI_CFG:
		return size <= 4 && addr < IOREQ_CFG_SIZE &&
		    (addr & 3) + size <= 4;
	}
	return false;
}

static void
ring_reset(struct ioreq_ring *ring)
{
	memset(ring, 0, sizeof(*ring));
	ring->memfd = -1;
	ring->kick_fd = -1;
	for (unsigned i = 0; i < IOREQ_MAX_SLOTS; i++)
		ring->done_fd[i] = -1;
	ring->peer_cpu = CPU_UNKNOWN;
}

static void
ring_map(struct ioreq_ring *ring, void *mem, size_t size, unsigned nslots)
{
	ring->hdr = mem;
	ring->slots = (struct ioreq_slot *)((char *)mem + IOREQ_HDR_SIZE);
	ring->map_size = size;
	ring->nslots = nslots;
}

int
ioreq_ring_create(struct ioreq_ring *ring, unsigned nslots)
{
	size_t size = IOREQ_HDR_SIZE + (size_t)nslots * IOREQ_SLOT_SIZE;
	struct ioreq_ring_hdr *h;
	void *mem;
	int err;

	ring_reset(ring);
	if (nslots == 0 || nslots > IOREQ_MAX_SLOTS)
		return -EINVAL;
	ring->memfd = memfd_create("cupule-ioreq",
	    MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (ring->memfd < 0 || ftruncate(ring->memfd, (off_t)size) < 0)
		goto fail;
	/* A peer that could shrink the file could make us fault. */
	if (fcntl(ring->memfd, F_ADD_SEALS,
	    F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto fail;
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    ring->memfd, 0);
	if (mem == MAP_FAILED)
		goto fail;
	ring_map(ring, mem, size, nslots);
	/* The mediator only polls kick_fd; vCPU threads block on done_fd. */
	ring->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ring->kick_fd < 0)
		goto fail;
	for (unsigned i = 0; i < nslots; i++) {
		ring->done_fd[i] = eventfd(0, EFD_CLOEXEC);
		if (ring->done_fd[i] < 0)
			goto fail;
	}
	/* Plain stores: the memfd reaches nobody before a sendmsg. */
	h = ring->hdr;
	h->magic = IOREQ_MAGIC;
	h->version = IOREQ_VERSION;
	h->hdr_size = IOREQ_HDR_SIZE;
	h->slot_size = IOREQ_SLOT_SIZE;
	h->nslots = (uint16_t)nslots;
	h->med_cpu = CPU_UNKNOWN;
	ring->side = SIDE_VM;
	return 0;
fail:
	err = -errno;
	ioreq_ring_close(ring);
	return err;
}

int
ioreq_ring_check(const void *hdr, size_t len, char *why, size_t whylen)
{
	struct ioreq_ring_hdr h;
	char dummy[1];

	if (why == NULL) {
		why = dummy;
		whylen = sizeof(dummy);
	}
	if (len < sizeof(h)) {
		snprintf(why, whylen, "ring header has %zu bytes, need %u",
		    len, IOREQ_HDR_SIZE);
		return -EPROTO;
	}
	memcpy(&h, hdr, sizeof(h));
	if (h.magic != IOREQ_MAGIC)
		snprintf(why, whylen, "bad ring magic 0x%08x (want 0x%08x, "
		    "\"CUIR\"): not an ioreq ring", h.magic, IOREQ_MAGIC);
	else if (h.version != IOREQ_VERSION)
		snprintf(why, whylen, "ring version %u, this side speaks "
		    "version %u", h.version, IOREQ_VERSION);
	else if (h.hdr_size != IOREQ_HDR_SIZE)
		snprintf(why, whylen, "ring header size %u, expected %u",
		    h.hdr_size, IOREQ_HDR_SIZE);
	else if (h.slot_size != IOREQ_SLOT_SIZE)
		snprintf(why, whylen, "ring slot size %u, expected %u",
		    h.slot_size, IOREQ_SLOT_SIZE);
	else if (h.nslots == 0 || h.nslots > IOREQ_MAX_SLOTS)
		snprintf(why, whylen, "ring has %u slots, 1 to %u supported",
		    h.nslots, IOREQ_MAX_SLOTS);
	else if (h.flags != 0)
		snprintf(why, whylen, "ring flags 0x%x not understood",
		    h.flags);
	else
		return 0;
	return -EPROTO;
}

/*
 * What a dead mediator left: a PROCESSING slot was never answered, so it
 * goes back to PENDING and runs again; a COMPLETE slot was answered, and
 * its vCPU may sleep on an eventfd the dead process never wrote.
 */
static void
recover(struct ioreq_ring *ring)
{
	struct ioreq_ring_hdr *h = ring->hdr;

	__atomic_fetch_add(&h->generation, 1, __ATOMIC_RELAXED);
	STORE(&h->med_sleeping, 0);
	STORE(&h->med_cpu, CPU_UNKNOWN);
	for (unsigned i = 0; i < ring->nslots; i++) {
		struct ioreq_slot *s = &ring->slots[i];
		uint32_t st = IOREQ_PROCESSING;
		uint8_t sf;

		if (LOAD(&s->state) == IOREQ_COMPLETE) {
			notify(ring->done_fd[i]);
			continue;
		}
		if (LOAD(&s->state) != IOREQ_PROCESSING)
			continue;
		/* Acquire: pairs with the dead mediator's ioreq_latch(). */
		sf = __atomic_load_n(&s->sflags, __ATOMIC_ACQUIRE);
		STORE(&s->sflags, (uint8_t)(sf | IOREQ_SF_REPLAY));
		/*
		 * Release: our ioreq_take() acquires PENDING and sees the
		 * flag.  A CAS, in case the slot changed since the load.
		 */
		if (__atomic_compare_exchange_n(&s->state, &st, IOREQ_PENDING,
		    false, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
			__atomic_fetch_add(&h->recoveries, 1,
			    __ATOMIC_RELAXED);
	}
}

int
ioreq_ring_attach(struct ioreq_ring *ring, int memfd, int kick_fd,
    const int *done_fds, unsigned ndone, char *why, size_t whylen)
{
	struct ioreq_ring_hdr h;
	struct stat st;
	size_t size;
	void *mem;
	int seals, ret;

	ring_reset(ring);
	if (memfd < 0 || kick_fd < 0 || ndone > IOREQ_MAX_SLOTS ||
	    (ndone > 0 && done_fds == NULL))
		return -EINVAL;
	for (unsigned i = 0; i < ndone; i++)
		if (done_fds[i] < 0)
			return -EINVAL;
	if (fstat(memfd, &st) < 0)
		return -errno;
	/* Our own copy: the peer may rewrite the shared header later. */
	if (pread(memfd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		if (why)
			snprintf(why, whylen, "ring memfd has %lld bytes, "
			    "less than a header", (long long)st.st_size);
		return -EPROTO;
	}
	ret = ioreq_ring_check(&h, sizeof(h), why, whylen);
	if (ret < 0)
		return ret;
	size = IOREQ_HDR_SIZE + (size_t)h.nslots * IOREQ_SLOT_SIZE;
	seals = fcntl(memfd, F_GET_SEALS);
	if ((size_t)st.st_size < size) {
		if (why)
			snprintf(why, whylen, "ring memfd has %lld bytes, its "
			    "%u slots need %zu", (long long)st.st_size,
			    h.nslots, size);
		return -EPROTO;
	}
	if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
		if (why)
			snprintf(why, whylen, "ring memfd is not sealed "
			    "against shrinking");
		return -EPROTO;
	}
	if (ndone != h.nslots) {
		if (why)
			snprintf(why, whylen, "ring has %u slots but %u "
			    "completion eventfds were passed", h.nslots, ndone);
		return -EPROTO;
	}
	/* A blocking kick_fd would hang ioreq_disarm()'s drain. */
	if (fcntl(kick_fd, F_SETFL, fcntl(kick_fd, F_GETFL) | O_NONBLOCK) < 0)
		return -errno;
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED)
		return -errno;
	ring_map(ring, mem, size, h.nslots);
	ring->memfd = memfd;
	ring->kick_fd = kick_fd;
	memcpy(ring->done_fd, done_fds, ndone * sizeof(int));
	ring->side = SIDE_MEDIATOR;
	recover(ring);
	return 0;
}

void
ioreq_ring_close(struct ioreq_ring *ring)
{
	if (ring->hdr != NULL)
		munmap(ring->hdr, ring->map_size);
	if (ring->memfd >= 0)
		close(ring->memfd);
	if (ring->kick_fd >= 0)
		close(ring->kick_fd);
	for (unsigned i = 0; i < IOREQ_MAX_SLOTS; i++)
		if (ring->done_fd[i] >= 0)
			close(ring->done_fd[i]);
	ring_reset(ring);
}

void
ioreq_ring_stats(const struct ioreq_ring *ring, struct ioreq_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (ring->hdr == NULL)
		return;
	st->generation = LOAD(&ring->hdr->generation);
	st->recoveries = LOAD(&ring->hdr->recoveries);
	st->bad = LOAD(&ring->hdr->bad);
	st->heartbeat = LOAD(&ring->hdr->heartbeat);
}

/* ---- VM side ---- */

int
ioreq_submit(struct ioreq_ring *ring, unsigned slot, const struct ioreq *req)
{
	struct ioreq_slot *s;
	uint32_t seq;
	int cpu;

	if (ring->side != SIDE_VM || slot >= ring->nslots ||
	    !req_valid(req->type, req->size, req->dir, req->index, req->addr))
		return -EINVAL;
	if (ring->own[slot].busy)
		return -EBUSY;
	s = &ring->slots[slot];
	/* Wraps at 2^32: sequence numbers are only compared for equality. */
	seq = ring->own[slot].seq + 1;
	cpu = sched_getcpu();
	STORE(&s->seq, seq);
	STORE(&s->type, req->type);
	STORE(&s->size, req->size);
	STORE(&s->dir, req->dir);
	STORE(&s->index, req->index);
	STORE(&s->cpu, (uint16_t)(cpu < 0 || cpu >= UINT16_MAX ?
	    UINT16_MAX : cpu));
	STORE(&s->sflags, 0);
	STORE(&s->addr, req->addr);
	STORE(&s->data, req->dir == IOREQ_WRITE ?
	    req->data & size_mask(req->size) : 0);
	STORE(&s->waiting, 0);
	/* Release: the mediator's acquiring CAS then sees every field. */
	__atomic_store_n(&s->state, IOREQ_PENDING, __ATOMIC_RELEASE);
	ring->own[slot].seq = seq;
	ring->own[slot].busy = 1;
	ring->own[slot].size = req->size;
	ring->own[slot].dir = req->dir;
	/*
	 * Store PENDING, then load med_sleeping; ioreq_arm() stores
	 * med_sleeping, then loads the states.  Store-load order needs a
	 * full fence on both sides: then at least one side sees the
	 * other's store, so either the mediator finds this slot or we kick.
	 * A failed kick cannot lose the request: it stays PENDING.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (LOAD(&ring->hdr->med_sleeping))
		notify(ring->kick_fd);
	return 0;
}

static bool
slot_complete(struct ioreq_ring *ring, unsigned slot)
{
	/* Acquire: pairs with the mediator's release of COMPLETE. */
	return __atomic_load_n(&ring->slots[slot].state, __ATOMIC_ACQUIRE) ==
	    IOREQ_COMPLETE;
}

/* Reads the answer of a COMPLETE slot and frees it. */
static int
consume(struct ioreq_ring *ring, unsigned slot, uint64_t *data)
{
	struct ioreq_slot *s = &ring->slots[slot];
	uint64_t v = LOAD(&s->data);
	int ret = 0;

	if (LOAD(&s->sflags) & IOREQ_SF_ABANDONED) {
		v = UINT64_MAX;
		ret = -ECANCELED;
	} else if (LOAD(&s->sflags) & IOREQ_SF_BAD) {
		v = UINT64_MAX;
		ret = -EIO;
	} else if (LOAD(&s->done_seq) != ring->own[slot].seq) {
		v = UINT64_MAX;
		ret = -EPROTO;
	} else if (ring->own[slot].dir == IOREQ_WRITE) {
		v = 0;
	}
	*data = v & size_mask(ring->own[slot].size);
	/*
	 * Relaxed: nobody acquires FREE.  The mediator never touches a FREE
	 * slot, and its next writer is this thread, in program order.
	 */
	STORE(&s->state, IOREQ_FREE);
	ring->own[slot].busy = 0;
	__atomic_store_n(&ring->own[slot].since, 0, __ATOMIC_RELEASE);
	return ret;
}

int
ioreq_abandon(struct ioreq_ring *ring, unsigned slot)
{
	struct ioreq_slot *s;
	uint32_t st;

	if (ring->side != SIDE_VM || slot >= ring->nslots)
		return -EINVAL;
	s = &ring->slots[slot];
	/*
	 * A CAS from either in-flight state: the vCPU thread and the
	 * supervisor may both try, and exactly one answer must be given.
	 * No mediator runs, so nobody else moves the slot meanwhile.
	 */
	for (;;) {
		st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
		if (st != IOREQ_PENDING && st != IOREQ_PROCESSING)
			return -EAGAIN;
		STORE(&s->data, UINT64_MAX);
		STORE(&s->done_seq, LOAD(&s->seq));
		__atomic_store_n(&s->sflags, (uint8_t)(LOAD(&s->sflags) |
		    IOREQ_SF_ABANDONED), __ATOMIC_RELEASE);
		if (__atomic_compare_exchange_n(&s->state, &st,
		    IOREQ_COMPLETE, false, __ATOMIC_ACQ_REL,
		    __ATOMIC_RELAXED))
			break;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (LOAD(&s->waiting))
		return notify(ring->done_fd[slot]);
	return 0;
}

uint64_t
ioreq_waiting_since(const struct ioreq_ring *ring, unsigned slot)
{
	if (ring->side != SIDE_VM || slot >= ring->nslots)
		return 0;
	return __atomic_load_n(&ring->own[slot].since, __ATOMIC_ACQUIRE);
}

void
ioreq_heartbeat(struct ioreq_ring *ring)
{
	if (ring->side == SIDE_MEDIATOR)
		__atomic_fetch_add(&ring->hdr->heartbeat, 1,
		    __ATOMIC_RELAXED);
}

int
ioreq_try_complete(struct ioreq_ring *ring, unsigned slot, uint64_t *data)
{
	if (ring->side != SIDE_VM || slot >= ring->nslots ||
	    !ring->own[slot].busy)
		return -EINVAL;
	if (!slot_complete(ring, slot))
		return -EAGAIN;
	return consume(ring, slot, data);
}

int
ioreq_wait_complete(struct ioreq_ring *ring, unsigned slot, uint64_t spin_ns,
    uint64_t *data)
{
	struct ioreq_slot *s;
	int ret;

	if (ring->side != SIDE_VM || slot >= ring->nslots ||
	    !ring->own[slot].busy)
		return -EINVAL;
	s = &ring->slots[slot];
	if (spin_ns > 0 && !slot_complete(ring, slot) &&
	    (spin_ns == IOREQ_SPIN_FOREVER ||
	    peer_elsewhere(LOAD(&ring->hdr->med_cpu))))
		spin(slot_complete, ring, slot, spin_ns);
	/*
	 * Only a request that goes to sleep is timed (for the supervisor's
	 * stall bound): the fast path reads no clock.
	 */
	if (!slot_complete(ring, slot))
		__atomic_store_n(&ring->own[slot].since, now_ns(),
		    __ATOMIC_RELEASE);
	while (!slot_complete(ring, slot)) {
		STORE(&s->waiting, 1);
		/*
		 * Store waiting, then load state; finish() stores COMPLETE,
		 * then loads waiting.  With a full fence on each side one of
		 * us sees the other's store: either we see COMPLETE now or
		 * the mediator sees waiting and writes our eventfd.  A stale
		 * count left in the eventfd only costs one extra loop.
		 */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (slot_complete(ring, slot))
			break;
		ret = wait_fd(ring->done_fd[slot]);
		if (ret < 0) {
			STORE(&s->waiting, 0);
			return ret;
		}
	}
	STORE(&s->waiting, 0);
	return consume(ring, slot, data);
}

/* ---- Mediator ---- */

/* Relaxed: a hint for waiting; ioreq_take()'s CAS does the acquiring. */
static bool
any_pending(struct ioreq_ring *ring, unsigned unused)
{
	(void)unused;
	for (unsigned i = 0; i < ring->nslots; i++)
		if (LOAD(&ring->slots[i].state) == IOREQ_PENDING)
			return true;
	return false;
}

/* Tells the VM side where we run; written only when it changes. */
static void
publish_cpu(struct ioreq_ring *ring)
{
	int cpu = sched_getcpu();

	if (cpu >= 0 && LOAD(&ring->hdr->med_cpu) != (uint32_t)cpu)
		STORE(&ring->hdr->med_cpu, (uint32_t)cpu);
}

/* Publishes the answer already in data: COMPLETE, and a wake-up if due. */
static int
finish(struct ioreq_ring *ring, unsigned slot)
{
	struct ioreq_slot *s = &ring->slots[slot];

	STORE(&s->done_seq, ring->own[slot].seq);
	ring->own[slot].busy = 0;
	/* Release: the VM side's acquire of COMPLETE sees data and seq. */
	__atomic_store_n(&s->state, IOREQ_COMPLETE, __ATOMIC_RELEASE);
	/* Full fence: the other half of wait_complete's handshake. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (LOAD(&s->waiting))
		return notify(ring->done_fd[slot]);
	return 0;
}

int
ioreq_take(struct ioreq_ring *ring, unsigned *slotp, struct ioreq *req)
{
	if (ring->side != SIDE_MEDIATOR)
		return -EINVAL;
	for (unsigned n = 0, i = ring->next; n < ring->nslots; n++, i++) {
		struct ioreq_slot *s;
		uint32_t st = IOREQ_PENDING;
		uint8_t sf;

		if (i >= ring->nslots)
			i = 0;
		s = &ring->slots[i];
		if (ring->own[i].busy || LOAD(&s->state) != IOREQ_PENDING)
			continue;
		/*
		 * Acquire on success: pairs with the VM side's release of
		 * PENDING.  A CAS, not a store, so that a second taker (a
		 * mediator that should be dead) cannot take it too.
		 */
		if (!__atomic_compare_exchange_n(&s->state, &st,
		    IOREQ_PROCESSING, false, __ATOMIC_ACQUIRE,
		    __ATOMIC_RELAXED))
			continue;
		/* Each field read once: the copy is what we check and use. */
		memset(req, 0, sizeof(*req));
		req->type = LOAD(&s->type);
		req->size = LOAD(&s->size);
		req->dir = LOAD(&s->dir);
		req->index = LOAD(&s->index);
		req->addr = LOAD(&s->addr);
		req->seq = LOAD(&s->seq);
		/* Acquire: pairs with a dead mediator's ioreq_latch(). */
		sf = __atomic_load_n(&s->sflags, __ATOMIC_ACQUIRE);
		ring->own[i].busy = 1;
		ring->own[i].seq = req->seq;
		if (!req_valid(req->type, req->size, req->dir, req->index,
		    req->addr)) {
			STORE(&s->data, UINT64_MAX);
			STORE(&s->sflags, IOREQ_SF_BAD);
			finish(ring, i);
			__atomic_fetch_add(&ring->hdr->bad, 1,
			    __ATOMIC_RELAXED);
			continue;
		}
		ring->own[i].size = req->size;
		ring->own[i].dir = req->dir;
		if (sf & IOREQ_SF_REPLAY)
			req->flags |= IOREQ_F_REPLAY;
		if (req->dir == IOREQ_WRITE)
			req->data = LOAD(&s->data) & size_mask(req->size);
		else if (sf & IOREQ_SF_LATCHED) {
			req->flags |= IOREQ_F_LATCHED;
			req->data = LOAD(&s->data) & size_mask(req->size);
		}
		ring->peer_cpu = LOAD(&s->cpu);
		if (ring->peer_cpu == UINT16_MAX)
			ring->peer_cpu = CPU_UNKNOWN;
		publish_cpu(ring);
		ring->next = i + 1 < ring->nslots ? i + 1 : 0;
		*slotp = i;
		return 0;
	}
	return -EAGAIN;
}

int
ioreq_latch(struct ioreq_ring *ring, unsigned slot, uint64_t data)
{
	struct ioreq_slot *s;

	if (ring->side != SIDE_MEDIATOR || slot >= ring->nslots ||
	    !ring->own[slot].busy || ring->own[slot].dir != IOREQ_READ)
		return -EINVAL;
	s = &ring->slots[slot];
	STORE(&s->data, data);
	/* Release: whoever sees LATCHED with acquire sees this data. */
	__atomic_store_n(&s->sflags,
	    (uint8_t)(LOAD(&s->sflags) | IOREQ_SF_LATCHED), __ATOMIC_RELEASE);
	return 0;
}

int
ioreq_complete(struct ioreq_ring *ring, unsigned slot, uint64_t data)
{
	if (ring->side != SIDE_MEDIATOR || slot >= ring->nslots ||
	    !ring->own[slot].busy)
		return -EINVAL;
	STORE(&ring->slots[slot].data, data);
	return finish(ring, slot);
}

int
ioreq_arm(struct ioreq_ring *ring)
{
	if (ring->side != SIDE_MEDIATOR)
		return -EINVAL;
	STORE(&ring->hdr->med_sleeping, 1);
	/* Full fence: the other half of ioreq_submit()'s handshake. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (any_pending(ring, 0)) {
		STORE(&ring->hdr->med_sleeping, 0);
		return -EAGAIN;
	}
	return 0;
}

void
ioreq_disarm(struct ioreq_ring *ring)
{
	uint64_t v;

	if (ring->side != SIDE_MEDIATOR)
		return;
	STORE(&ring->hdr->med_sleeping, 0);
	/* Non-blocking (attach made sure): a kick raced in is harmless. */
	while (read(ring->kick_fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
}

int
ioreq_wait_pending(struct ioreq_ring *ring, uint64_t spin_ns)
{
	struct pollfd p;
	int ret;

	if (ring->side != SIDE_MEDIATOR)
		return -EINVAL;
	if (any_pending(ring, 0))
		return 0;
	publish_cpu(ring);
	if (spin_ns > 0 && (spin_ns == IOREQ_SPIN_FOREVER ||
	    peer_elsewhere(ring->peer_cpu)) &&
	    spin(any_pending, ring, 0, spin_ns))
		return 0;
	for (;;) {
		if (ioreq_arm(ring) == -EAGAIN)
			return 0;
		p = (struct pollfd){ .fd = ring->kick_fd, .events = POLLIN };
		ret = poll(&p, 1, -1) < 0 ? -errno : 0;
		ioreq_disarm(ring);
		if (ret < 0)
			return ret;
		if (any_pending(ring, 0))
			return 0;
	}
}
