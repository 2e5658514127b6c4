/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"
#include "supervisor.h"
#include "switches.h"

struct child {
	const struct vm_cfg *cfg;
	pid_t pid;		/* 0 once reaped */
	int wstatus;
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
start_vm(const struct scenario *sc, const struct vm_cfg *cfg,
    const sigset_t *old)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	/* Its own switch ports, none of another VM's. */
	switches_keep_own(sc, cfg);
	/* A VM never outlives its supervisor. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(VMS_STOPPED);
	prctl(PR_SET_NAME, "cupule-vm");
	sigprocmask(SIG_SETMASK, old, NULL);
	fflush(NULL);
	_exit(vm_process_main(cfg));
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
reap_switch(struct switch_proc *sw, int nsw, pid_t pid, int ws, bool stopping)
{
	for (int i = 0; i < nsw; i++) {
		if (sw[i].pid != pid)
			continue;
		sw[i].pid = 0;
		if (!stopping || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
			log_warnx("switch %s: %s %d", sw[i].name,
			    WIFSIGNALED(ws) ? "killed by signal" :
			    "exited with status", WIFSIGNALED(ws) ?
			    WTERMSIG(ws) : WEXITSTATUS(ws));
		return true;
	}
	return false;
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
	int n = 0, live, sfd, ret = 0;
	char why[128];

	if (check_stdio_owner(sc, only) < 0)
		return 1;
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
		free(kids);
		close(sfd);
		sigprocmask(SIG_SETMASK, &old, NULL);
		return 1;
	}

	for (int i = 0; i < sc->nvms; i++) {
		if (only != NULL && strcmp(sc->vms[i].name, only) != 0)
			continue;
		kids[n].cfg = &sc->vms[i];
		kids[n].pid = start_vm(sc, &sc->vms[i], &old);
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
		free(kids);
		close(sfd);
		return 1;
	}
	for (;;) {
		struct signalfd_siginfo si;
		pid_t pid;
		int ws;

		live = 0;
		for (int i = 0; i < n; i++)
			live += kids[i].pid > 0;
		if (live == 0)
			break;
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
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
			if (reap_switch(sw, nsw, pid, ws, false))
				continue;
			for (int i = 0; i < n; i++)
				if (kids[i].pid == pid) {
					kids[i].pid = 0;
					kids[i].wstatus = ws;
				}
		}
	}
	/* The VMs are gone, and with them every port: switches end too. */
	for (int i = 0; i < nsw; i++) {
		int ws;

		if (sw[i].pid <= 0)
			continue;
		kill(sw[i].pid, SIGTERM);
		if (waitpid(sw[i].pid, &ws, 0) == sw[i].pid)
			reap_switch(sw, nsw, sw[i].pid, ws, true);
	}
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
	sigprocmask(SIG_SETMASK, &old, NULL);
	return ret;
}
