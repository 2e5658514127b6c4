/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket of a running cupule (docs/control.md): a Unix
 * stream socket where cupulectl, or anything that writes JSON, sends one
 * request per line and reads one reply per line.
 *
 *	{"cmd":"list"}                                  everyone allowed
 *	{"cmd":"stats"}                                 everyone allowed
 *	{"cmd":"restart","vm":"ivi","device":"blk0"}    root only
 *	{"cmd":"kill","vm":"ivi","device":"blk0"}       root only
 *	{"cmd":"probe"}                                 root only
 *
 * "Everyone" is root and the members of the scenario's control group;
 * the socket's mode lets nobody else connect, and the peer's
 * credentials are checked again on every request.  The supervisor
 * answers from its own knowledge (switches) and asks each VM process
 * over a private socket pair, with the same JSON.
 */
#ifndef CUPULE_CONTROL_H
#define CUPULE_CONTROL_H

#include <stdbool.h>
#include <sys/types.h>

#include "scenario.h"

#define CONTROL_DIR		"/run/cupule"
#define CONTROL_MAX_LINE	4096	/* longest request */
#define CONTROL_VM_MAX		65536	/* longest VM reply */
#define CONTROL_VM_WAIT_MS	3000	/* a VM that does not answer */

struct mediator;
struct switch_proc;
struct vm;

/*
 * The socket path of scenario sc into buf: its control socket key, else
 * CONTROL_DIR/NAME.sock after the scenario file's name.
 */
void control_socket_path(const struct scenario *sc, char *buf, size_t len);

/*
 * Creates, binds and listens on the control socket (0600, or 0660 with
 * the control group).  A live socket at the path is another cupule's:
 * -EADDRINUSE; a stale one is replaced.  Returns the fd or -errno.
 */
int control_listen(const struct scenario *sc, char *path, size_t len);

/* What the supervisor passes to control_serve_client. */
struct control_vm {
	const char *name;
	int fd;			/* its end of the VM's control pair, or -1 */
	pid_t pid;		/* 0 once the VM process is gone */
};

struct control_ctx {
	const struct scenario *sc;
	struct control_vm *vms;
	int nvms;
	const struct switch_proc *sw;
	int nsw;
};

/*
 * Accepts one connection on lfd and serves its requests until it
 * closes (or stays silent for 2 s).  Never blocks the supervisor for
 * long: every read and every VM's answer is bounded.
 */
void control_serve_client(const struct control_ctx *c, int lfd);

/*
 * One request line as the supervisor (vm_side false) or a VM process
 * with no device (vm_side true) answers it, without any socket: the
 * reply as a malloc'd string.  For the fuzz target.
 */
char *control_handle_line(const struct control_ctx *c, const char *line,
    bool root, bool vm_side);

/*
 * VM process: answers one request from the supervisor on fd about the
 * VM's mediators.  Runs on the VM's main thread (a vm_watch handler).
 * Returns -1 once the supervisor's end is gone (stop watching), else 0.
 */
int control_vm_serve(int fd, struct mediator *meds, int nmeds);

#endif
