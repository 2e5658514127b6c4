/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The audit against each mediator type's policy: the very file its
 * sandbox is built from (compiled into cupulectl as into the mediator).
 * Every open fd must be one the policy declares, in number and kind;
 * every shared mapping one of the kinds it declares, never writable
 * where it says read-only.
 */
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "policy.h"

/* The policy kind of an audit_fd_kind() string; memfd name in *name. */
static int
fd_kind(const char *kind, const char **name)
{
	static const struct {
		const char *prefix;
		enum policy_fd_kind kind;
	} map[] = {
		{ "socket", POLICY_FD_UNIX_SEQPACKET },
		{ "eventfd", POLICY_FD_EVENTFD },
		{ "eventpoll", POLICY_FD_EPOLL },
		{ "signalfd", POLICY_FD_SIGNALFD },
		{ "io_uring", POLICY_FD_IO_URING },
		{ "timerfd", POLICY_FD_TIMERFD },
		{ "pipe", POLICY_FD_PIPE },
		{ "tun", POLICY_FD_TUN },
		{ "file:", POLICY_FD_FILE },
		{ "device:", POLICY_FD_FILE },
	};

	*name = NULL;
	if (strncmp(kind, "memfd:", 6) == 0) {
		*name = kind + 6;
		return POLICY_FD_MEMFD;
	}
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strncmp(kind, map[i].prefix, strlen(map[i].prefix)) == 0)
			return map[i].kind;
	return -1;
}

static void
check_fds(struct audit *a, const struct audit_med *m, const struct policy *p,
    audit_finding_fn *finding)
{
	unsigned used[POLICY_MAX_FDS] = { 0 };

	for (int i = 0; i < m->nfds; i++) {
		const struct audit_fd *f = &m->fds[i];
		const char *name;
		int k = fd_kind(f->kind, &name);
		unsigned j;

		for (j = 0; j < p->nfds; j++) {
			const struct policy_fd *e = &p->fd[j];

			if (e->fd >= 0 && e->fd != f->fd)
				continue;
			if (e->kind == POLICY_FD_INHERITED ? f->fd > 2 :
			    (int)e->kind != k)
				continue;
			if (e->kind == POLICY_FD_MEMFD && e->memfd[0] &&
			    (name == NULL || strcmp(e->memfd, name) != 0))
				continue;
			if (used[j] >= e->max)
				continue;
			used[j]++;
			break;
		}
		if (j == p->nfds)
			finding(a, "%s: fd %d (%s) is not in %s", m->name, f->fd,
			    f->kind, p->file);
	}
}

static void
check_maps(struct audit *a, const struct audit_med *m, const struct policy *p,
    audit_finding_fn *finding)
{
	for (int i = 0; i < m->nmaps; i++) {
		const struct audit_map *mp = &m->maps[i];
		const char *name = NULL;
		int kind = -1;
		unsigned j;

		if (strncmp(mp->name, "/memfd:", 7) == 0) {
			kind = POLICY_MAP_MEMFD;
			name = mp->name + 7;
		} else if (strcmp(mp->name, "anon_inode:[io_uring]") == 0)
			kind = POLICY_MAP_IO_URING;
		for (j = 0; j < p->nmaps; j++) {
			const struct policy_map *e = &p->map[j];

			if ((int)e->kind != kind || !e->shared)
				continue;
			if (kind == POLICY_MAP_MEMFD && e->memfd[0] &&
			    strncmp(name, e->memfd, strlen(e->memfd)) != 0)
				continue;
			if (mp->writable && !(e->prot & POLICY_PROT_W))
				continue;
			if (mp->exec && !(e->prot & POLICY_PROT_X))
				continue;
			break;
		}
		if (j == p->nmaps)
			finding(a, "%s: shared mapping %s (%s) is not in %s",
			    m->name, mp->name[0] ? mp->name : "?",
			    mp->writable ? "writable" : "read-only", p->file);
	}
}

void
audit_policy_check(struct audit *a, audit_finding_fn *finding)
{
	static struct policy p;

	for (int i = 0; i < a->nmeds; i++) {
		const struct audit_med *m = &a->meds[i];
		char prog[48], err[256];

		if (!m->read)
			continue;
		snprintf(prog, sizeof(prog), "cupule-%s", m->type);
		if (policy_load_builtin(prog, &p, err, sizeof(err)) < 0) {
			finding(a, "%s: no policy for %s: %s", m->name, prog,
			    err[0] ? err : "not built in");
			continue;
		}
		check_fds(a, m, &p, finding);
		check_maps(a, m, &p, finding);
	}
}
