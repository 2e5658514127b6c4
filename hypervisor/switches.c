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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mediator.h"
#include "switches.h"
#include "uids.h"

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
    int n, uint32_t uid, const sigset_t *old)
{
	char **argv = calloc((size_t)n * 2 + 5, sizeof(char *));
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
	if (asprintf(&argv[a++], "--name=%s", name) < 0 ||
	    asprintf(&argv[a++], "--uid=%u", uid) < 0 ||
	    asprintf(&argv[a++], "--gid=%u", uid) < 0)
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

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A process for sw on its ports; 0 or -errno. */
static int
spawn(struct switch_proc *sw)
{
	char exe[PATH_MAX];
	pid_t pid;
	int ret, pidfd;

	if ((ret = mediator_exe_path("cupule-switch", exe, sizeof(exe))) < 0)
		return ret;
	/* In the sandbox's namespaces, as a mediator. */
	if ((pid = mediator_clone(&pidfd)) < 0) {
		log_warn("switch %s: clone", sw->name);
		return -errno;
	}
	if (pid == 0)
		exec_switch(exe, sw->name, sw->fds, sw->labels, sw->nports,
		    sw->uid, &sw->mask);
	if (pidfd >= 0)
		close(pidfd);	/* reaped with waitpid, on SIGCHLD */
	sw->pid = pid;
	return 0;
}

/* Starts switch name with a port for each of its devices. */
static int
start_one(struct scenario *sc, const char *only, const char *name,
    int index, const sigset_t *old, struct switch_proc *sw)
{
	int *fds = sw->fds, n = 0, ret = 0;
	char **labels = sw->labels, who[80];
	const struct medsup_cfg sup = MEDSUP_DEFAULTS;

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
	snprintf(sw->name, sizeof(sw->name), "%s", name);
	sw->nports = n;
	sw->uid = sc->uid_base + SC_UID_SWITCH + (uint32_t)index;
	snprintf(who, sizeof(who), "switch %s", name);
	if (uid_claim(sw->uid, who) < 0) {
		ret = -EBUSY;
		goto out;
	}
	sw->mask = *old;
	medsup_init(&sw->sup, &sup, now_ms());
	if ((ret = spawn(sw)) < 0)
		goto out;
	/* No READY from a switch: running once it is started. */
	medsup_ready(&sw->sup, now_ms());
	log_info("switch %s: %d port%s, pid %d", name, n, n == 1 ? "" : "s",
	    (int)sw->pid);
	return 0;
out:
	for (int i = 0; i < n; i++) {
		close(fds[i]);
		free(labels[i]);
	}
	sw->nports = 0;
	return ret;
}

static void
act(struct switch_proc *sw, enum medsup_action a)
{
	while (a == MEDSUP_SPAWN) {
		if (spawn(sw) == 0) {
			medsup_ready(&sw->sup, now_ms());
			log_warnx("switch %s: started again as pid %d (restart "
			    "%u)", sw->name, (int)sw->pid, sw->sup.restarts);
			return;
		}
		a = medsup_exited(&sw->sup, now_ms(), MEDSUP_CAUSE_START);
	}
	if (a == MEDSUP_MARK_DOWN)
		log_warnx("switch %s: down after %u exits within %u ms; its "
		    "ports keep their frames until the VMs stop", sw->name,
		    sw->sup.nrecent, sw->sup.cfg.restart_window_ms);
}

void
switches_exited(struct switch_proc *sw, int ws, bool stopping)
{
	enum medsup_action a;
	pid_t pid = sw->pid;

	sw->pid = 0;
	if (stopping)
		return;
	a = medsup_exited(&sw->sup, now_ms(), MEDSUP_CAUSE_EXIT);
	log_warnx("switch %s: pid %d %s %d%s", sw->name, (int)pid,
	    WIFSIGNALED(ws) ? "killed by signal" : "exited with status",
	    WIFSIGNALED(ws) ? WTERMSIG(ws) : WEXITSTATUS(ws),
	    a == MEDSUP_SPAWN ? ": starting it again now" :
	    a == MEDSUP_NOTHING ? ": starting it again shortly" : "");
	act(sw, a);
}

int
switches_tick(struct switch_proc *sw, int nsw)
{
	int next = -1;

	for (int i = 0; i < nsw; i++) {
		uint64_t now = now_ms();
		int64_t ms;

		if (sw[i].sup.state == MEDSUP_BACKOFF)
			act(&sw[i], medsup_tick(&sw[i].sup, now, 0, 0));
		if (sw[i].sup.state != MEDSUP_BACKOFF)
			continue;
		ms = medsup_next_ms(&sw[i].sup, now);
		if (ms >= 0 && (next < 0 || ms < next))
			next = (int)ms;
	}
	return next;
}

void
switches_stop(struct switch_proc *sw, int nsw)
{
	for (int i = 0; i < nsw; i++) {
		if (sw[i].pid > 0) {
			kill(sw[i].pid, SIGTERM);
			waitpid(sw[i].pid, NULL, 0);
			sw[i].pid = 0;
		}
		for (int j = 0; j < sw[i].nports; j++) {
			close(sw[i].fds[j]);
			free(sw[i].labels[j]);
		}
		sw[i].nports = 0;
	}
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
			if ((ret = start_one(sc, only, d->backend_name, n, old,
			    &sw[n])) < 0)
				return ret;
			n++;
		}
	}
	return n;
}

void
switches_keep_own(const struct scenario *sc, const struct vm_cfg *self,
    struct switch_proc *sw, int nsw)
{
	for (int i = 0; i < nsw; i++)
		for (int j = 0; j < sw[i].nports; j++)
			close(sw[i].fds[j]);
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
