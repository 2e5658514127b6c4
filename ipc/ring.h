/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The ioreq ring: how a VM process hands one device access (port I/O,
 * MMIO or PCI configuration) to the mediator process that emulates the
 * device, and gets the answer back.
 *
 * One ring per mediator, in a sealed memfd that the VM side creates and
 * passes to the mediator over the control channel (ctl.h).  It holds a
 * versioned header and one 64-byte slot per vCPU: each vCPU thread owns
 * its slot and has at most one request in flight, so there is no queue,
 * no head or tail and no lock.  A slot moves
 *
 *	FREE -> PENDING -> PROCESSING -> COMPLETE -> FREE
 *	   VM side     mediator     mediator     VM side
 *
 * VM side (one thread per slot):      Mediator (one thread per ring):
 *	ioreq_submit(ring, slot, &req)      ioreq_wait_pending(ring, spin)
 *	ioreq_wait_complete(ring, slot,     while (ioreq_take(ring, &s, &req) == 0)
 *	    spin, &data)                        ioreq_complete(ring, s, f(&req))
 *
 * When a mediator dies and a new one attaches to the same memfd, the
 * attach returns every PROCESSING slot to PENDING (it runs again, flagged
 * IOREQ_F_REPLAY) and leaves COMPLETE slots for the VM side: every
 * request completes exactly once.  docs/ipc.md has the byte layout, the
 * memory orderings and the contract device code must keep for replays.
 *
 * Every function returns 0 or a negative errno unless said otherwise.
 * Nothing read from the shared memory is trusted: each side keeps its
 * own copy of the geometry and of what it has in flight.
 */
#ifndef CUPULE_RING_H
#define CUPULE_RING_H

#include <stddef.h>
#include <stdint.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the ring layout is little-endian and read in place"
#endif

#define IOREQ_MAGIC		0x52495543u	/* bytes "CUIR" */
#define IOREQ_VERSION		2	/* 2: heartbeat, abandoned slots */
#define IOREQ_HDR_SIZE		128
#define IOREQ_SLOT_SIZE		64
#define IOREQ_MAX_SLOTS		64
#define IOREQ_MAX_INDEX		8	/* regions (PIO, MMIO) or functions */
#define IOREQ_CFG_SIZE		4096	/* PCIe configuration space */

/*
 * Spin budgets (ns) for ioreq_wait_complete() and ioreq_wait_pending().
 * 0 sleeps at once; IOREQ_SPIN_FOREVER never sleeps, even when the
 * peer shares this CPU (for benchmarks and dedicated cores).  The default is
 * about what one sleep and wake-up costs across CPUs on the machines
 * this was measured on (docs/ipc.md); pass your own where that differs.
 */
#define IOREQ_SPIN_DEFAULT_NS	50000ull
#define IOREQ_SPIN_FOREVER	UINT64_MAX

enum ioreq_state {
	IOREQ_FREE = 0,		/* owned by the VM side */
	IOREQ_PENDING = 1,	/* filled in, waiting for the mediator */
	IOREQ_PROCESSING = 2,	/* taken by the mediator */
	IOREQ_COMPLETE = 3,	/* answered, waiting for the VM side */
};

/* 0 is no type, so a zeroed slot is never a valid request. */
enum ioreq_type {
	IOREQ_PIO = 1,		/* addr: offset in I/O region `index` */
	IOREQ_MMIO = 2,		/* addr: offset in memory region `index` */
	IOREQ_PCI_CFG = 3,	/* addr: config offset of function `index` */
};

enum ioreq_dir {
	IOREQ_READ = 0,
	IOREQ_WRITE = 1,
};

/* Flags ioreq_take() reports in ioreq.flags. */
#define IOREQ_F_REPLAY		0x1	/* taken before by a mediator that died */
#define IOREQ_F_LATCHED		0x2	/* that mediator latched data (ioreq_latch) */

/* One request, as the VM side submits it and the mediator takes it. */
struct ioreq {
	uint8_t type;		/* enum ioreq_type */
	uint8_t size;		/* 1, 2, 4 or 8 (PIO and PCI_CFG: up to 4) */
	uint8_t dir;		/* enum ioreq_dir */
	uint8_t index;		/* region (BAR 0-5, 6 ROM, 7 device) or function */
	uint32_t flags;		/* IOREQ_F_* (take), ignored by submit */
	uint32_t seq;		/* request number of the slot (take) */
	uint32_t reserved;
	uint64_t addr;		/* offset, see enum ioreq_type */
	uint64_t data;		/* write: the value; read: latched value if any */
};

/*
 * The shared memory, little-endian.  Offsets are part of the ABI
 * (checked at compile time in ring.c); the header is two cache lines so
 * that the mediator's counters never share a line with the constants.
 */
struct ioreq_ring_hdr {
	/* Written once by the VM side before the memfd is passed on. */
	uint32_t magic;		/*  0 */
	uint16_t version;	/*  4 */
	uint16_t hdr_size;	/*  6: offset of slot 0 */
	uint16_t slot_size;	/*  8 */
	uint16_t nslots;	/* 10 */
	uint32_t flags;		/* 12: no flags defined in version 1: 0 */
	uint8_t reserved0[48];	/* 16 */
	/* Written by the mediator. */
	uint32_t med_sleeping;	/* 64: mediator sleeps on the kick eventfd */
	uint32_t med_cpu;	/* 68: CPU it last ran on, UINT32_MAX unknown */
	uint32_t generation;	/* 72: attaches so far */
	uint32_t recoveries;	/* 76: slots returned PROCESSING -> PENDING */
	uint64_t bad;		/* 80: malformed requests refused */
	uint64_t heartbeat;	/* 88: advanced by a live mediator's loop */
	uint8_t reserved1[32];	/* 96 */
};

/* Slot flags (ioreq_slot.sflags). */
#define IOREQ_SF_REPLAY		0x1	/* set by attach on recovery */
#define IOREQ_SF_LATCHED	0x2	/* data holds the latched result */
#define IOREQ_SF_BAD		0x4	/* refused: data is all ones */
#define IOREQ_SF_ABANDONED	0x8	/* the VM side gave up: no mediator */

struct ioreq_slot {
	uint32_t state;		/*  0: enum ioreq_state */
	uint32_t seq;		/*  4: request number, VM side */
	uint8_t type;		/*  8 */
	uint8_t size;		/*  9 */
	uint8_t dir;		/* 10 */
	uint8_t index;		/* 11 */
	uint16_t cpu;		/* 12: submitter's CPU, a spin hint */
	uint8_t sflags;		/* 14: IOREQ_SF_* */
	uint8_t reserved0;	/* 15 */
	uint64_t addr;		/* 16 */
	uint64_t data;		/* 24: write value in, read value out */
	uint32_t waiting;	/* 32: VM side sleeps on its eventfd */
	uint32_t done_seq;	/* 36: seq the mediator completed */
	uint8_t reserved1[24];	/* 40 */
};

/*
 * One side's handle on a ring.  The caller allocates it; the fields are
 * private except memfd, kick_fd and done_fd[], which the VM side reads
 * to pass them to the mediator and the mediator may watch in its event
 * loop (kick_fd is non-blocking).
 */
struct ioreq_ring {
	struct ioreq_ring_hdr *hdr;
	struct ioreq_slot *slots;
	size_t map_size;
	unsigned nslots;
	int side;
	int memfd;
	int kick_fd;
	int done_fd[IOREQ_MAX_SLOTS];
	unsigned next;			/* mediator: first slot of the next scan */
	uint32_t peer_cpu;		/* mediator: last submitter's CPU */
	struct {
		uint32_t seq;		/* VM: submitted; mediator: taken */
		uint8_t busy;		/* request in flight on this side */
		uint8_t size;
		uint8_t dir;
		uint64_t since;		/* VM: submitted at (ns), 0 if idle */
	} own[IOREQ_MAX_SLOTS];
};

/* Counters from the shared header. */
struct ioreq_stats {
	uint32_t generation;
	uint32_t recoveries;
	uint64_t bad;
	uint64_t heartbeat;
};

/*
 * VM side: creates a ring of nslots slots (1..IOREQ_MAX_SLOTS) in a new
 * memfd sealed against resizing, with one kick eventfd and one
 * completion eventfd per slot.  Returns 0, -EINVAL for a bad nslots, or
 * the -errno of the failing system call.
 */
int ioreq_ring_create(struct ioreq_ring *ring, unsigned nslots);

/*
 * Mediator side: maps the ring in memfd after checking its header and
 * seals, and recovers what a previous mediator left (PROCESSING slots go
 * back to PENDING, COMPLETE slots get their eventfd signalled again).
 * done_fds holds ndone completion eventfds, one per slot.  On success the
 * ring owns memfd, kick_fd and done_fds.  Returns 0; -EPROTO for a ring
 * this code cannot serve (why, if not NULL, receives a one-line reason);
 * -EINVAL for bad arguments; -errno of fstat/mmap.
 */
int ioreq_ring_attach(struct ioreq_ring *ring, int memfd, int kick_fd,
    const int *done_fds, unsigned ndone, char *why, size_t whylen);

/*
 * Checks a ring header of len bytes (the first bytes of a ring).
 * Returns 0 or -EPROTO with the reason in why (if not NULL).
 */
int ioreq_ring_check(const void *hdr, size_t len, char *why, size_t whylen);

/* Unmaps the ring and closes the fds it owns.  Safe to call twice. */
void ioreq_ring_close(struct ioreq_ring *ring);

/* Reads the shared counters into st. */
void ioreq_ring_stats(const struct ioreq_ring *ring, struct ioreq_stats *st);

/*
 * VM side: checks req, fills the FREE slot and makes it PENDING, then
 * kicks the mediator if it sleeps.  Returns 0; -EINVAL for a bad slot
 * number or request; -EBUSY if the slot has a request in flight.
 */
int ioreq_submit(struct ioreq_ring *ring, unsigned slot,
    const struct ioreq *req);

/*
 * VM side: waits until the slot's request is COMPLETE, frees the slot and
 * stores the read value (masked to the request size; 0 for a write) in
 * *data.  Spins up to spin_ns first unless the mediator runs on this
 * thread's CPU, then sleeps on the slot's eventfd.  Returns 0; -EIO when
 * the mediator refused the request as malformed and -EPROTO when it
 * completed another request number (both with *data all ones, slot
 * freed); -ECANCELED when ioreq_abandon() answered it (*data all ones,
 * slot freed); -EINVAL if no request is in flight; -EINTR if a signal
 * interrupted the sleep (the request stays in flight: wait again).
 */
int ioreq_wait_complete(struct ioreq_ring *ring, unsigned slot,
    uint64_t spin_ns, uint64_t *data);

/*
 * VM side: like ioreq_wait_complete() without waiting.  Returns -EAGAIN
 * if the request is not complete yet.
 */
int ioreq_try_complete(struct ioreq_ring *ring, unsigned slot,
    uint64_t *data);

/*
 * VM side, any thread, only while no mediator is attached (its process
 * is reaped): answers the slot's request, PENDING or PROCESSING, as
 * abandoned and wakes its waiter, whose wait returns -ECANCELED.
 * Returns 0, -EAGAIN if the slot had no request in flight, -EINVAL for
 * a bad slot number.
 */
int ioreq_abandon(struct ioreq_ring *ring, unsigned slot);

/*
 * VM side: the time (CLOCK_MONOTONIC, ns) since which the slot's
 * request has been waited for past the spin, or 0 if none is.  Any
 * thread.
 */
uint64_t ioreq_waiting_since(const struct ioreq_ring *ring, unsigned slot);

/*
 * Mediator: one more beat of the heartbeat a supervisor watches; call it
 * from the event loop, so that a loop that stops turning stops it.
 */
void ioreq_heartbeat(struct ioreq_ring *ring);

/*
 * Mediator: takes a PENDING slot (scanning round robin from the last
 * one taken), makes it PROCESSING and copies the request into *req.
 * Malformed requests are completed with all ones, counted in the header
 * and skipped.  Returns 0 with *slot set, or -EAGAIN if nothing valid is
 * pending.
 */
int ioreq_take(struct ioreq_ring *ring, unsigned *slot, struct ioreq *req);

/*
 * Mediator: records the result of a read before the device applies the
 * read's side effects, so that a replay after a crash can return the same
 * value (IOREQ_F_LATCHED).  Returns 0, or -EINVAL if the slot is not
 * taken or the request is a write.
 */
int ioreq_latch(struct ioreq_ring *ring, unsigned slot, uint64_t data);

/*
 * Mediator: answers the slot taken by ioreq_take() with data (ignored
 * for writes), makes it COMPLETE and wakes its vCPU thread if it sleeps.
 * Returns 0, -EINVAL if the slot is not taken, or the -errno of the
 * eventfd write.
 */
int ioreq_complete(struct ioreq_ring *ring, unsigned slot, uint64_t data);

/*
 * Mediator: waits until some slot is PENDING.  Spins up to spin_ns
 * unless the last submitter runs on this CPU, then sleeps on the kick
 * eventfd.  Returns 0 when ioreq_take() may have work, -EINTR on a
 * signal, or the -errno of poll.
 */
int ioreq_wait_pending(struct ioreq_ring *ring, uint64_t spin_ns);

/*
 * Mediator with its own event loop: announces that it is about to sleep
 * on kick_fd.  Returns 0 when it may sleep (any later submit will kick),
 * -EAGAIN when a request is already pending (it must not sleep), or
 * -EINVAL on a ring that is not attached as the mediator.
 * Call ioreq_disarm() when kick_fd becomes readable.
 */
int ioreq_arm(struct ioreq_ring *ring);

/* Mediator: withdraws ioreq_arm() and drains kick_fd. */
void ioreq_disarm(struct ioreq_ring *ring);

#endif
