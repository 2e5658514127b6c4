/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The "cupule run" process: starts one VM process per VM of a scenario,
 * forwards SIGINT/SIGTERM to them and reports how each one ended.
 */
#ifndef CUPULE_SUPERVISOR_H
#define CUPULE_SUPERVISOR_H

#include "scenario.h"

/* Exit codes of a VM process, read by the supervisor. */
enum vm_status {
	VMS_OK = 0,		/* powered off, or rebooted with on_reboot=exit */
	VMS_SETUP = 1,		/* could not be created or loaded */
	VMS_ERROR = 2,		/* KVM or emulation failure while running */
	VMS_STOPPED = 3,	/* stopped by a signal or the console escape */
};

/*
 * Runs the VMs of sc (only the one named only, if not NULL), each in a
 * child process, and the switches their net devices use, until all VMs
 * have ended.  Sets the port_fd of devices on a switch.  Returns 0 when every VM ended
 * cleanly, else 1 after a line per VM that did not.
 */
int supervisor_run(struct scenario *sc, const char *only);

/*
 * Body of a VM process: builds and runs the VM of cfg, again after a
 * guest reboot when on_reboot is "restart".  control_fd is its end of
 * the supervisor's control pair (-1: none).  Returns an enum vm_status.
 */
int vm_process_main(const struct vm_cfg *cfg, int control_fd);

#endif
