/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The supervisor's switches: one cupule-switch process per switch name
 * of a scenario, with a socket-pair port per net device on it.
 */
#ifndef CUPULE_SWITCHES_H
#define CUPULE_SWITCHES_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "medsup.h"
#include "scenario.h"

#define SWITCH_MAX_PORTS	64
#define SWITCH_MAX		16

struct switch_proc {
	char name[SC_NAME_MAX];
	pid_t pid;		/* 0 once reaped */
	int nports;
	int fds[SWITCH_MAX_PORTS];	/* the switch's ends, kept for restarts */
	char *labels[SWITCH_MAX_PORTS];	/* "vm/device" of each port */
	sigset_t mask;		/* the signal mask it runs with */
	uint32_t uid;		/* its own uid and gid */
	struct medsup sup;	/* restarts, backoff, giving up */
};

/*
 * Starts a switch for each switch name the selected VMs (all, or the
 * one named only) use, and sets every such device's port_fd to its end
 * of its port.  old is the signal mask the switch runs with.  Returns
 * how many switches run (filled in sw[0..]), or -errno (logged).
 */
int switches_start(struct scenario *sc, const char *only,
    const sigset_t *old, struct switch_proc *sw, int max);

/*
 * In a VM process: closes the port ends of every other VM's devices and
 * every switch's own ends.
 */
void switches_keep_own(const struct scenario *sc, const struct vm_cfg *self,
    struct switch_proc *sw, int nsw);

/*
 * A switch process ended (reaped, status ws).  Unless stopping, starts
 * it again on the same ports now or after a backoff (switches_tick),
 * and gives up after too many exits.  Frames already in the ports'
 * socket buffers wait for the new process.
 */
void switches_exited(struct switch_proc *sw, int ws, bool stopping);

/* Starts the switches whose backoff is over; ms until the next, or -1. */
int switches_tick(struct switch_proc *sw, int nsw);

/* Stops every switch and closes its ends. */
void switches_stop(struct switch_proc *sw, int nsw);

/* In the supervisor, once the VMs have theirs: closes every port end. */
void switches_close_ports(struct scenario *sc);

#endif
