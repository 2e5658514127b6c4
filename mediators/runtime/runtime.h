/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The mediator runtime: everything a device mediator process does that
 * is not its device.  It takes the control channel from the fd number on
 * its command line, says HELLO, receives its ring, guest memory and
 * device-state area, lets the device describe its PCI function and ask
 * for ioeventfds and irqfds, says READY, and then runs one libevent
 * loop that serves the ring.  A mediator is one call:
 *
 *	return med_main(argc, argv, &my_device_ops, &my_device);
 *
 * The device-state area outlives the process: a mediator started on an
 * area that already holds state takes the device over (med.takeover).
 *
 * The runtime also sandboxes the process (sandbox.h, docs/sandbox.md):
 * stage 1 before the first control message, stage 2 just before READY,
 * from the policy compiled in for argv[0]; --uid=N, --gid=N and
 * --no-sandbox are its arguments, and it answers CTL_PROBE.
 */
#ifndef CUPULE_RUNTIME_H
#define CUPULE_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "ctl.h"
#include "gmem.h"
#include "ring.h"

struct med;
struct sandbox;

/*
 * Fault points: places where a mediator may be told to kill itself
 * (--fault=NAME:N: SIGKILL the Nth time execution reaches NAME), so
 * that tests can stop it at each step of a request deterministically.
 * docs/restart.md says what each one is for.
 */
enum med_fault_point {
	MED_FAULT_NONE,
	MED_FAULT_MMIO,		/* ring request served, not completed */
	MED_FAULT_RECORD,	/* chain recorded, last_avail not moved */
	MED_FAULT_AVAIL,	/* chain taken (recorded, last_avail moved) */
	MED_FAULT_BACKEND,	/* I/O finished, no used entry written */
	MED_FAULT_ELEM,		/* used element written, not committed */
	MED_FAULT_COMMIT,	/* used index committed, not published */
	MED_FAULT_USED,		/* used->idx published, no interrupt */
	MED_FAULT_IRQ,		/* just before an irqfd write */
	MED_FAULT_NPOINTS
};

#define MED_FAULT_BIT(p)	(1u << (p))

struct med_ops {
	/*
	 * The fault points the device reaches (MED_FAULT_BIT()s); the
	 * runtime reaches MMIO itself.  --fault naming another is refused.
	 */
	uint32_t faults;
	/*
	 * Parses the device's own "--key=value" argument (the runtime's
	 * are handled already).  Returns 0, or -EINVAL for an unknown or
	 * bad one.
	 */
	int (*arg)(struct med *m, void *dev, const char *arg);
	/*
	 * Sets the device up on the attached ring, memory and state:
	 * describe the PCI function (med_declare_device) and ask for
	 * ioeventfds and irqfds.  Returns 0 or -errno.
	 */
	int (*start)(struct med *m, void *dev);
	/*
	 * One ring request.  A read stores its value in *val.  req->flags
	 * says whether it is a replay (IOREQ_F_REPLAY).
	 */
	void (*ioreq)(struct med *m, void *dev, unsigned slot,
	    const struct ioreq *req, uint64_t *val);
	/* The VM process asked us to stop.  May be NULL. */
	void (*stop)(struct med *m, void *dev);
	/*
	 * Logs one line on the device's state (SIGUSR2, for a stuck
	 * guest).  May be NULL.
	 */
	void (*dump)(struct med *m, void *dev);
};

struct med {
	char name[64];			/* "vm/device", for logs */
	int ctl;
	struct ioreq_ring ring;
	struct gmem mem;
	void *state;			/* the device-state area */
	size_t state_size;
	bool takeover;			/* the area held a previous state */
	struct event_base *base;
	struct event *ev_kick;
	struct event *ev_ctl;
	struct event *ev_dump;
	struct event *ev_beat;		/* --heartbeat-ms: the supervisor's */
	uint32_t next_id;
	bool ready;
	int status;			/* exit status of med_main */
	unsigned fault;			/* --fault point, or 0 (NONE) */
	unsigned long fault_left;	/* times to reach it before dying */
	struct sandbox *sbx;		/* this process's (sandbox.h) */
};

/* Counts a pass through the armed fault point; SIGKILL on the last. */
void med_fault_hit(struct med *m);

/*
 * Fault point p: dies here if --fault says so.  Unarmed, it costs one
 * compare and a branch that is never taken.
 */
static inline void
med_fault(struct med *m, enum med_fault_point p)
{
	if (__builtin_expect(m->fault == (unsigned)p, 0))
		med_fault_hit(m);
}

/*
 * Runs a mediator: set-up through the control channel, then the event
 * loop until SHUTDOWN or the channel closes.  Returns the process exit
 * status.
 */
int med_main(int argc, char **argv, const struct med_ops *ops, void *dev);

/*
 * Sends one request to the VM process and waits for its RESULT.
 * Returns the result (0 or -errno), or the -errno of the channel.
 */
int med_call(struct med *m, uint32_t type, const void *payload, size_t len,
    const int *fds, unsigned nfds);

/* Logs a line prefixed with the mediator's name. */
void med_log(const struct med *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Stops the event loop; med_main returns status. */
void med_exit(struct med *m, int status);

/*
 * Makes a non-blocking eventfd, hands it to the VM process with request
 * type (IOEVENTFD or IRQFD, payload p of len bytes) and stores it in
 * *fd_out once the VM process accepted it.  Returns 0 or -errno.
 */
int med_eventfd_call(struct med *m, uint32_t type, const void *p, size_t len,
    int *fd_out);

/*
 * Asks for the INTx line of the function: a level-triggered irqfd with a
 * resample eventfd, which KVM signals when the guest acknowledged the
 * interrupt.  Stores both fds.  Returns 0 or -errno.
 */
int med_intx_irqfd(struct med *m, int *irq_fd, int *resample_fd);

#endif
