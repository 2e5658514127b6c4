/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "control.h"
#include "log.h"
#include "supervisor.h"
#include "switches.h"
#include "uids.h"

struct child {
	const struct vm_cfg *cfg;
	pid_t pid;		/* 0 once reaped */
	int wstatus;
	int ctl;		/* our end of its control pair, or -1 */
};

/* One line saying why a VM did not end cleanly; NULL if it did. */
static const char *
child_failure(const struct child *c, char *buf, size_t len)
{
	if (WIFSIGNALED(c->wstatus)) {
		snprintf(buf, len, "VM process killed by %s",
		    strsignal(WTERMSIG(c->wstatus)));
		return buf;
	}
	switch (WEXITSTATUS(c->wstatus)) {
	case VMS_OK:
		return NULL;
	case VMS_SETUP:
		return "could not start (see above)";
	case VMS_ERROR:
		return "stopped on a virtualisation failure (see above)";
	case VMS_STOPPED:
		return "stopped before the guest powered off";
	}
	snprintf(buf, len, "VM process exited with status %d",
	    WEXITSTATUS(c->wstatus));
	return buf;
}

static pid_t
start_vm(const struct scenario *sc, struct child *kids, int n, int lfd,
    struct switch_proc *sw, int nsw, const sigset_t *old)
{
	const struct vm_cfg *cfg = kids[n].cfg;
	int sv[2] = { -1, -1 };
	pid_t pid;

	kids[n].ctl = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		log_warn("vm %s: control pair", cfg->name);
	pid = fork();
	if (pid != 0) {
		if (sv[1] >= 0)
			close(sv[1]);
		kids[n].ctl = pid > 0 ? sv[0] : -1;
		if (pid < 0 && sv[0] >= 0)
			close(sv[0]);
		return pid;
	}
	/* Its own switch ports and control end, none of another VM's. */
	switches_keep_own(sc, cfg, sw, nsw);
	for (int i = 0; i < n; i++)
		if (kids[i].ctl >= 0)
			close(kids[i].ctl);
	if (sv[0] >= 0)
		close(sv[0]);
	if (lfd >= 0)
		close(lfd);
	/* A VM never outlives its supervisor. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(VMS_STOPPED);
	prctl(PR_SET_NAME, "cupule-vm");
	sigprocmask(SIG_SETMASK, old, NULL);
	fflush(NULL);
	_exit(vm_process_main(cfg, sv[1]));
}

/* Only one VM can own the terminal.  Returns 0 or -EBUSY, logged. */
static int
check_stdio_owner(const struct scenario *sc, const char *only)
{
	const struct vm_cfg *first = NULL;

	for (int i = 0; i < sc->nvms; i++) {
		const struct vm_cfg *v = &sc->vms[i];

		if ((only != NULL && strcmp(v->name, only) != 0) ||
		    v->console != CONSOLE_STDIO)
			continue;
		if (first != NULL) {
			log_warnx("%s:%d: vms '%s' and '%s' both use the stdio "
			    "console: give one of them console = \"pty\", "
			    "\"file:PATH\" or \"socket:PATH\", or start one "
			    "with --vm", sc->path, v->line, first->name,
			    v->name);
			return -EBUSY;
		}
		first = v;
	}
	return 0;
}

/* Reaps a switch that ended; true if pid was one. */
static bool
reap_switch(struct switch_proc *sw, int nsw, pid_t pid, int ws)
{
	for (int i = 0; i < nsw; i++)
		if (sw[i].pid == pid) {
			switches_exited(&sw[i], ws, false);
			return true;
		}
	return false;
}

/* One client of the control socket, with what the supervisor knows. */
static void
serve_control(const struct scenario *sc, const struct child *kids, int n,
    const struct switch_proc *sw, int nsw, int lfd)
{
	struct control_vm vms[n > 0 ? n : 1];
	struct control_ctx c = { .sc = sc, .vms = vms, .nvms = n, .sw = sw,
	    .nsw = nsw };

	for (int i = 0; i < n; i++)
		vms[i] = (struct control_vm){ .name = kids[i].cfg->name,
		    .fd = kids[i].ctl, .pid = kids[i].pid };
	control_serve_client(&c, lfd);
}

/* The uids of the devices of the VMs we start (uids.h). */
static int
claim_uids(const struct scenario *sc, const char *only)
{
	for (int i = 0; i < sc->nvms; i++) {
		const struct vm_cfg *v = &sc->vms[i];

		if (only != NULL && strcmp(v->name, only) != 0)
			continue;
		for (int j = 0; j < v->ndevices; j++) {
			char who[160];

			if (v->devices[j].uid == 0)
				continue;
			snprintf(who, sizeof(who), "%s/%s", v->name,
			    v->devices[j].id);
			if (uid_claim(v->devices[j].uid, who) < 0)
				return -1;
		}
	}
	return 0;
}

int
supervisor_run(struct scenario *sc, const char *only)
{
	struct switch_proc sw[SWITCH_MAX];
	struct child *kids;
	int nsw;
	struct termios tio;
	bool have_tio = isatty(STDIN_FILENO) &&
	    tcgetattr(STDIN_FILENO, &tio) == 0;
	sigset_t set, old;
	int n = 0, live, sfd, lfd, ret = 0;
	char why[128], sock[SC_SOCKET_MAX];

	if (check_stdio_owner(sc, only) < 0)
		return 1;
	/* VM processes inherit it: their events go the same way. */
	if (sc->log_syslog)
		log_set_syslog(1);
	/* One cupule per socket: cupulectl must know whom it talks to. */
	lfd = control_listen(sc, sock, sizeof(sock));
	if (lfd == -EADDRINUSE) {
		log_warnx("%s: control socket %s is in use by another cupule; "
		    "give this scenario its own with control = { socket = "
		    "\"PATH\"; }", sc->path, sock);
		return 1;
	}
	if (lfd < 0)
		log_warnx("control socket %s: %s: running without one", sock,
		    strerror(-lfd));
	else
		log_info("control socket %s", sock);
	/* Each mediator's uid is ours alone while we run (switches: later). */
	if (claim_uids(sc, only) < 0) {
		if (lfd >= 0) {
			close(lfd);
			unlink(sock);
		}
		return 1;
	}
	kids = calloc((size_t)sc->nvms, sizeof(*kids));
	if (kids == NULL)
		fatalx("out of memory");
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &old);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0)
		fatalx("signalfd: %s", strerror(errno));
	/* Switches first: the VM processes inherit their port ends. */
	if ((nsw = switches_start(sc, only, &old, sw, SWITCH_MAX)) < 0) {
		switches_close_ports(sc);
		if (lfd >= 0) {
			close(lfd);
			unlink(sock);
		}
		free(kids);
		close(sfd);
		sigprocmask(SIG_SETMASK, &old, NULL);
		return 1;
	}

	for (int i = 0; i < sc->nvms; i++) {
		if (only != NULL && strcmp(sc->vms[i].name, only) != 0)
			continue;
		kids[n].cfg = &sc->vms[i];
		kids[n].pid = start_vm(sc, kids, n, lfd, sw, nsw, &old);
		if (kids[n].pid < 0) {
			log_warn("vm %s: fork", sc->vms[i].name);
			kids[n].pid = 0;
			kids[n].wstatus = VMS_SETUP << 8;
		}
		n++;
	}
	switches_close_ports(sc);
	if (n == 0) {
		log_warnx("%s: no vm named '%s'", sc->path, only);
		if (lfd >= 0) {
			close(lfd);
			unlink(sock);
		}
		free(kids);
		close(sfd);
		return 1;
	}
	for (;;) {
		struct signalfd_siginfo si;
		struct pollfd p[2] = { { .fd = sfd, .events = POLLIN },
		    { .fd = lfd, .events = POLLIN } };
		pid_t pid;
		int ws;

		live = 0;
		for (int i = 0; i < n; i++)
			live += kids[i].pid > 0;
		if (live == 0)
			break;
		if (poll(p, 2, switches_tick(sw, nsw)) < 0)
			continue;
		if (p[1].revents & POLLIN)
			serve_control(sc, kids, n, sw, nsw, lfd);
		if (!(p[0].revents & POLLIN) ||
		    read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM) {
			log_warnx("%s: stopping every VM",
			    strsignal((int)si.ssi_signo));
			for (int i = 0; i < n; i++)
				if (kids[i].pid > 0)
					kill(kids[i].pid, SIGTERM);
			continue;
		}
		while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
			if (reap_switch(sw, nsw, pid, ws))
				continue;
			for (int i = 0; i < n; i++)
				if (kids[i].pid == pid) {
					kids[i].pid = 0;
					kids[i].wstatus = ws;
					if (kids[i].ctl >= 0)
						close(kids[i].ctl);
					kids[i].ctl = -1;
				}
		}
	}
	/* The VMs are gone, and with them every port: switches end too. */
	switches_stop(sw, nsw);
	/* A VM process killed outright leaves the terminal raw. */
	if (have_tio)
		tcsetattr(STDIN_FILENO, TCSANOW, &tio);
	for (int i = 0; i < n; i++) {
		const char *f = child_failure(&kids[i], why, sizeof(why));

		if (f != NULL) {
			log_warnx("vm %s: %s", kids[i].cfg->name, f);
			ret = 1;
		}
	}
	free(kids);
	close(sfd);
	if (lfd >= 0) {
		close(lfd);
		unlink(sock);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	return ret;
}
