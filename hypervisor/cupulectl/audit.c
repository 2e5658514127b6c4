/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cupulectl audit: what the kernel says each mediator can touch, and
 * whether that is what its policy declares.  Everything here is read
 * from /proc (status, the ns, fd and maps entries), never taken from
 * the mediator itself; the supervisor only says which pids are
 * mediators and which memory objects (by inode) are each VM's RAM, ring
 * and device state.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "cupulectl.h"

static const char *const ns_names[AUDIT_NNS] = {
	"mnt", "net", "pid", "ipc", "uts", "user",
};

static void finding(struct audit *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Adds one finding: a line a person reads, kept for --json too. */
static void
finding(struct audit *a, const char *fmt, ...)
{
	va_list ap;

	if (a->nfindings == AUDIT_MAX_FINDINGS)
		return;
	va_start(ap, fmt);
	vsnprintf(a->findings[a->nfindings++], AUDIT_LINE, fmt, ap);
	va_end(ap);
}

static int
read_status(struct audit_med *m)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)m->pid);
	if ((f = fopen(path, "r")) == NULL)
		return -errno;
	m->seccomp = m->nnp = m->filters = -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long long v;
		unsigned u[4];

		if (sscanf(line, "Uid: %u %u %u %u", &u[0], &u[1], &u[2],
		    &u[3]) == 4)
			memcpy(m->uid, u, sizeof(u));
		else if (sscanf(line, "Gid: %u %u %u %u", &u[0], &u[1], &u[2],
		    &u[3]) == 4)
			memcpy(m->gid, u, sizeof(u));
		else if (sscanf(line, "CapPrm: %llx", &v) == 1)
			m->cap_prm = v;
		else if (sscanf(line, "CapEff: %llx", &v) == 1)
			m->cap_eff = v;
		else if (sscanf(line, "CapBnd: %llx", &v) == 1)
			m->cap_bnd = v;
		else if (sscanf(line, "CapAmb: %llx", &v) == 1)
			m->cap_amb = v;
		else if (sscanf(line, "NoNewPrivs: %d", &m->nnp) != 1 &&
		    sscanf(line, "Seccomp: %d", &m->seccomp) != 1)
			sscanf(line, "Seccomp_filters: %d", &m->filters);
	}
	fclose(f);
	return 0;
}

static unsigned long long
ns_ino(pid_t pid, const char *ns)
{
	char path[64], link[64];
	unsigned long long ino = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns);
	if ((n = readlink(path, link, sizeof(link) - 1)) < 0)
		return 0;
	link[n] = '\0';
	/* "net:[4026531840]" */
	if (sscanf(strchr(link, '[') ? strchr(link, '[') + 1 : "", "%llu",
	    &ino) != 1)
		return 0;
	return ino;
}

/* "anon_inode:[eventfd]" -> "eventfd", "/memfd:cupule-ram (deleted)" ->
 * "memfd:cupule-ram", "socket:[123]" -> "socket". */
void
audit_fd_kind(const char *link, char *kind, size_t len)
{
	const char *p;

	if (strncmp(link, "anon_inode:", 11) == 0) {
		p = link + 11;
		if (*p == '[')
			p++;
		snprintf(kind, len, "%.*s", (int)strcspn(p, "]"), p);
	} else if (strncmp(link, "socket:", 7) == 0)
		snprintf(kind, len, "socket");
	else if (strncmp(link, "pipe:", 5) == 0)
		snprintf(kind, len, "pipe");
	else if (strncmp(link, "/memfd:", 7) == 0)
		snprintf(kind, len, "memfd:%.*s", (int)strcspn(link + 7, " "),
		    link + 7);
	else if (strcmp(link, "/dev/net/tun") == 0)
		snprintf(kind, len, "tun");
	else if (strncmp(link, "/dev/", 5) == 0)
		snprintf(kind, len, "device:%s", link);
	else
		snprintf(kind, len, "file:%s", link);
}

static int
read_fds(struct audit_med *m)
{
	char path[64];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)m->pid);
	if ((d = opendir(path)) == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL && m->nfds < AUDIT_MAX_FDS) {
		char fpath[PATH_MAX], link[PATH_MAX];
		struct audit_fd *f = &m->fds[m->nfds];
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(fpath, sizeof(fpath), "%s/%s", path, e->d_name);
		if ((n = readlink(fpath, link, sizeof(link) - 1)) < 0)
			continue;
		link[n] = '\0';
		f->fd = atoi(e->d_name);
		audit_fd_kind(link, f->kind, sizeof(f->kind));
		m->nfds++;
	}
	closedir(d);
	return 0;
}

/* Shared mappings with their inodes; private ones need no owner. */
static int
read_maps(struct audit_med *m)
{
	char path[64], line[PATH_MAX + 128];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)m->pid);
	if ((f = fopen(path, "r")) == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL &&
	    m->nmaps < AUDIT_MAX_MAPS) {
		unsigned long long lo, hi, ino;
		char perms[8], name[PATH_MAX] = "";
		struct audit_map *mp = &m->maps[m->nmaps];

		if (sscanf(line, "%llx-%llx %7s %*s %*s %llu %4095[^\n]", &lo,
		    &hi, perms, &ino, name) < 4)
			continue;
		if (perms[3] != 's')
			continue;
		mp->ino = ino;
		mp->size = hi - lo;
		mp->writable = perms[1] == 'w';
		mp->exec = perms[2] == 'x';
		snprintf(mp->name, sizeof(mp->name), "%s", name[0] == ' ' ?
		    name + strspn(name, " ") : name);
		m->nmaps++;
	}
	fclose(f);
	return 0;
}

int
audit_read(struct audit_med *m)
{
	int ret;

	if ((ret = read_status(m)) < 0)
		return ret;
	for (int i = 0; i < AUDIT_NNS; i++)
		m->ns[i] = ns_ino(m->pid, ns_names[i]);
	if ((ret = read_fds(m)) < 0 || (ret = read_maps(m)) < 0)
		return ret;
	return 0;
}

/* Which of the mediators' objects inode ino is: "vm RAM", or NULL. */
static const struct audit_med *
owner_of(const struct audit *a, unsigned long long ino, const char **what)
{
	*what = NULL;
	if (ino == 0)
		return NULL;	/* anonymous: nobody's object */
	for (int i = 0; i < a->nmeds; i++) {
		const struct audit_med *o = &a->meds[i];

		*what = ino == o->obj_ram ? "RAM" : ino == o->obj_ring ?
		    "ring" : ino == o->obj_state ? "device state" : NULL;
		if (*what != NULL)
			return o;
	}
	return NULL;
}

void
audit_check(struct audit *a)
{
	unsigned long long init_ns[AUDIT_NNS];

	/* cupulectl runs where cupule runs: its namespaces are the host's. */
	for (int i = 0; i < AUDIT_NNS; i++)
		init_ns[i] = ns_ino(getpid(), ns_names[i]);
	for (int i = 0; i < a->nmeds; i++) {
		struct audit_med *m = &a->meds[i];

		if (!m->read)
			continue;
		if (m->uid[1] == 0 || m->uid[0] == 0)
			finding(a, "%s: runs as root (uid %u)", m->name,
			    m->uid[1]);
		for (int j = 0; j < i; j++)
			if (a->meds[j].read && a->meds[j].uid[1] == m->uid[1])
				finding(a, "%s and %s share uid %u: they could "
				    "signal or trace each other", a->meds[j].name,
				    m->name, m->uid[1]);
		if (m->cap_eff || m->cap_prm || m->cap_amb)
			finding(a, "%s: holds capabilities (effective %#llx, "
			    "permitted %#llx)", m->name, m->cap_eff,
			    m->cap_prm);
		if (m->cap_bnd)
			finding(a, "%s: capability bounding set not empty "
			    "(%#llx)", m->name, m->cap_bnd);
		if (m->nnp != 1)
			finding(a, "%s: no_new_privs is not set", m->name);
		if (m->seccomp != 2)
			finding(a, "%s: no seccomp filter (mode %d)", m->name,
			    m->seccomp);
		for (int k = 0; k < AUDIT_NNS; k++)
			if (k != AUDIT_NS_USER && k != AUDIT_NS_UTS &&
			    m->ns[k] != 0 && m->ns[k] == init_ns[k])
				finding(a, "%s: shares the host's %s namespace",
				    m->name, ns_names[k]);
		for (int k = 0; k < m->nmaps; k++) {
			const struct audit_map *mp = &m->maps[k];
			const struct audit_med *o;
			const char *what;

			o = owner_of(a, mp->ino, &what);
			if (o != NULL && strcmp(o->vm, m->vm) != 0)
				finding(a, "%s: maps vm %s's %s", m->name,
				    o->vm, what);
			else if (o != NULL && what[0] != 'R' && o != m)
				finding(a, "%s: maps %s's %s", m->name,
				    o->name, what);
			else if (o == NULL && mp->writable &&
			    strcmp(mp->name, "anon_inode:[io_uring]") != 0)
				finding(a, "%s: writable shared mapping of "
				    "something not its own: %s (inode %llu)",
				    m->name, mp->name[0] ? mp->name : "?",
				    mp->ino);
			if (mp->exec)
				finding(a, "%s: executable shared mapping %s",
				    m->name, mp->name);
		}
	}
	audit_policy_check(a, finding);
}
