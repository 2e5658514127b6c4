/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The switches of a scenario: one cupule-switch process per switch name
 * used by a net device ("switch:NAME"), started by the supervisor before
 * the VMs.  Each device on a switch gets one port, a SOCK_SEQPACKET
 * socket pair: the switch holds one end, the device's VM process the
 * other (device_cfg.port_fd), which it hands to the device's mediator.
 * A VM process holds only its own devices' ends; a switch holds only
 * switch ends.  docs/switch.md says what crosses a port.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "mediator.h"
#include "switches.h"

#define SWITCH_FIRST_FD	3

static bool
selected(const struct vm_cfg *v, const char *only)
{
	return only == NULL || strcmp(v->name, only) == 0;
}

/* Whether dev is a port of switch name. */
static bool
on_switch(const struct device_cfg *dev, const char *name)
{
	return strcmp(dev->type, "net") == 0 &&
	    dev->backend == NET_BACKEND_SWITCH &&
	    strcmp(dev->backend_name, name) == 0;
}

/* Child: the switch's ends at 3, 4, ..., nothing else, then exec. */
static void
exec_switch(char *exe, const char *name, int *fds, char **labels,
    int n, const sigset_t *old)
{
	char **argv = calloc((size_t)n * 2 + 3, sizeof(char *));
	int a = 0;

	/* A switch never outlives its supervisor. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sigprocmask(SIG_SETMASK, old, NULL);
	if (argv == NULL)
		_exit(127);
	/* Out of the way first, so that no dup2 below lands on a source. */
	for (int i = 0; i < n; i++)
		if ((fds[i] = fcntl(fds[i], F_DUPFD, SWITCH_FIRST_FD + n)) < 0)
			_exit(127);
	for (int i = 0; i < n; i++)
		if (dup2(fds[i], SWITCH_FIRST_FD + i) < 0)
			_exit(127);
	close_range(SWITCH_FIRST_FD + (unsigned)n, ~0u, 0);
	argv[a++] = exe;
	if (asprintf(&argv[a++], "--name=%s", name) < 0)
		_exit(127);
	for (int i = 0; i < n; i++) {
		if (asprintf(&argv[a++], "--port-fd=%d",
		    SWITCH_FIRST_FD + i) < 0 ||
		    asprintf(&argv[a++], "--port-name=%d:%s",
		    SWITCH_FIRST_FD + i, labels[i]) < 0)
			_exit(127);
	}
	argv[a] = NULL;
	execv(exe, argv);
	fprintf(stderr, "cupule: cannot run %s: %s\n", exe, strerror(errno));
	_exit(127);
}

/* Starts switch name with a port for each of its devices. */
static int
start_one(struct scenario *sc, const char *only, const char *name,
    const sigset_t *old, struct switch_proc *sw)
{
	int fds[SWITCH_MAX_PORTS], n = 0, ret = 0;
	char *labels[SWITCH_MAX_PORTS];
	char exe[PATH_MAX];
	pid_t pid;

	for (int i = 0; i < sc->nvms; i++) {
		struct vm_cfg *v = &sc->vms[i];

		if (!selected(v, only))
			continue;
		for (int j = 0; j < v->ndevices; j++) {
			struct device_cfg *d = &v->devices[j];
			int sv[2];

			if (!on_switch(d, name))
				continue;
			if (n == SWITCH_MAX_PORTS) {
				log_warnx("switch %s: more than %d ports", name,
				    SWITCH_MAX_PORTS);
				ret = -ENOSPC;
				goto out;
			}
			if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC,
			    0, sv) < 0) {
				ret = -errno;
				log_warn("switch %s: socketpair", name);
				goto out;
			}
			d->port_fd = sv[0];
			fds[n] = sv[1];
			if (asprintf(&labels[n], "%s/%s", v->name, d->id) < 0)
				labels[n] = NULL;
			n++;
		}
	}
	if ((ret = mediator_exe_path("cupule-switch", exe, sizeof(exe))) < 0)
		goto out;
	fflush(NULL);
	if ((pid = fork()) < 0) {
		ret = -errno;
		log_warn("switch %s: fork", name);
		goto out;
	}
	if (pid == 0)
		exec_switch(exe, name, fds, labels, n, old);
	sw->pid = pid;
	snprintf(sw->name, sizeof(sw->name), "%s", name);
	log_info("switch %s: %d port%s, pid %d", name, n, n == 1 ? "" : "s",
	    (int)pid);
out:
	for (int i = 0; i < n; i++) {
		close(fds[i]);	/* the switch has them now */
		free(labels[i]);
	}
	return ret;
}

int
switches_start(struct scenario *sc, const char *only, const sigset_t *old,
    struct switch_proc *sw, int max)
{
	int n = 0, ret;

	for (int i = 0; i < sc->nvms; i++) {
		const struct vm_cfg *v = &sc->vms[i];

		if (!selected(v, only))
			continue;
		for (int j = 0; j < v->ndevices; j++) {
			const struct device_cfg *d = &v->devices[j];
			bool seen = false;

			if (strcmp(d->type, "net") != 0 ||
			    d->backend != NET_BACKEND_SWITCH)
				continue;
			for (int k = 0; k < n; k++)
				seen |= strcmp(sw[k].name, d->backend_name) == 0;
			if (seen)
				continue;
			if (n == max) {
				log_warnx("more than %d switches", max);
				return -ENOSPC;
			}
			if ((ret = start_one(sc, only, d->backend_name, old,
			    &sw[n])) < 0)
				return ret;
			n++;
		}
	}
	return n;
}

void
switches_keep_own(const struct scenario *sc, const struct vm_cfg *self)
{
	for (int i = 0; i < sc->nvms; i++) {
		const struct vm_cfg *v = &sc->vms[i];

		if (v == self)
			continue;
		for (int j = 0; j < v->ndevices; j++)
			if (v->devices[j].port_fd >= 0 &&
			    strcmp(v->devices[j].type, "net") == 0)
				close(v->devices[j].port_fd);
	}
}

void
switches_close_ports(struct scenario *sc)
{
	for (int i = 0; i < sc->nvms; i++)
		for (int j = 0; j < sc->vms[i].ndevices; j++) {
			struct device_cfg *d = &sc->vms[i].devices[j];

			if (strcmp(d->type, "net") == 0 && d->port_fd >= 0) {
				close(d->port_fd);
				d->port_fd = -1;
			}
		}
}
