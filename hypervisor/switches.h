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

#include "scenario.h"

#define SWITCH_MAX_PORTS	64
#define SWITCH_MAX		16

struct switch_proc {
	char name[SC_NAME_MAX];
	pid_t pid;		/* 0 once reaped */
};

/*
 * Starts a switch for each switch name the selected VMs (all, or the
 * one named only) use, and sets every such device's port_fd to its end
 * of its port.  old is the signal mask the switch runs with.  Returns
 * how many switches run (filled in sw[0..]), or -errno (logged).
 */
int switches_start(struct scenario *sc, const char *only,
    const sigset_t *old, struct switch_proc *sw, int max);

/* In a VM process: closes the port ends of every other VM's devices. */
void switches_keep_own(const struct scenario *sc, const struct vm_cfg *self);

/* In the supervisor, once the VMs have theirs: closes every port end. */
void switches_close_ports(struct scenario *sc);

#endif
