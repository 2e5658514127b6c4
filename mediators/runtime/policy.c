/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Policy files (policy.h, docs/sandbox.md): libconfig does the syntax,
 * libseccomp knows the system call names; this file checks the meaning
 * and fills a flat struct that the sandbox and an audit read.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/sched.h>

#include <libconfig.h>
#include <seccomp.h>

#include "policy.h"

struct pctx {
	const char *file;
	char *err;
	size_t errlen;
};

static int __attribute__((format(printf, 3, 4)))
perr(const struct pctx *c, int line, const char *fmt, ...)
{
	char msg[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->err != NULL && c->errlen > 0)
		snprintf(c->err, c->errlen, "%s:%d: %s", c->file, line, msg);
	return -EINVAL;
}

static int
line_of(const config_setting_t *s)
{
	return (int)config_setting_source_line(s);
}

/*
 * Names a policy may use for argument values.  A value may also be a
 * plain number; a name reads better and cannot be mistyped silently.
 */
static const struct {
	const char *name;
	uint64_t value;
} consts[] = {
	{ "CLONE_NEWNS", CLONE_NEWNS },
	{ "CLONE_NEWCGROUP", CLONE_NEWCGROUP },
	{ "CLONE_NEWUTS", CLONE_NEWUTS },
	{ "CLONE_NEWIPC", CLONE_NEWIPC },
	{ "CLONE_NEWUSER", CLONE_NEWUSER },
	{ "CLONE_NEWPID", CLONE_NEWPID },
	{ "CLONE_NEWNET", CLONE_NEWNET },
	{ "PROT_READ", PROT_READ },
	{ "PROT_WRITE", PROT_WRITE },
	{ "PROT_EXEC", PROT_EXEC },
	{ "AF_UNIX", AF_UNIX },
	{ "TUNSETOFFLOAD", (unsigned)TUNSETOFFLOAD },
	{ "TUNGETIFF", (unsigned)TUNGETIFF },
	{ "TUNGETVNETHDRSZ", (unsigned)TUNGETVNETHDRSZ },
	{ "FIONREAD", (unsigned)FIONREAD },
	{ "BLKGETSIZE64", (unsigned)BLKGETSIZE64 },
};

static const struct {
	const char *name;
	int err;
} errnos[] = {
	{ "ENOSYS", ENOSYS },
	{ "EPERM", EPERM },
	{ "EACCES", EACCES },
	{ "EINVAL", EINVAL },
};

static const char *const rlimit_names[POLICY_NRLIMITS] = {
	[POLICY_RLIMIT_NOFILE] = "nofile",
	[POLICY_RLIMIT_NPROC] = "nproc",
	[POLICY_RLIMIT_FSIZE] = "fsize",
	[POLICY_RLIMIT_CORE] = "core",
	[POLICY_RLIMIT_MEMLOCK] = "memlock",
	[POLICY_RLIMIT_MSGQUEUE] = "msgqueue",
};

static const int rlimit_resources[POLICY_NRLIMITS] = {
	[POLICY_RLIMIT_NOFILE] = RLIMIT_NOFILE,
	[POLICY_RLIMIT_NPROC] = RLIMIT_NPROC,
	[POLICY_RLIMIT_FSIZE] = RLIMIT_FSIZE,
	[POLICY_RLIMIT_CORE] = RLIMIT_CORE,
	[POLICY_RLIMIT_MEMLOCK] = RLIMIT_MEMLOCK,
	[POLICY_RLIMIT_MSGQUEUE] = RLIMIT_MSGQUEUE,
};

static const char *const fd_kind_names[POLICY_FD_NKINDS] = {
	[POLICY_FD_INHERITED] = "inherited",
	[POLICY_FD_UNIX_SEQPACKET] = "unix-seqpacket",
	[POLICY_FD_EVENTFD] = "eventfd",
	[POLICY_FD_MEMFD] = "memfd",
	[POLICY_FD_IO_URING] = "io_uring",
	[POLICY_FD_TUN] = "tun",
	[POLICY_FD_FILE] = "file",
	[POLICY_FD_EPOLL] = "epoll",
	[POLICY_FD_SIGNALFD] = "signalfd",
	[POLICY_FD_PIPE] = "pipe",
	[POLICY_FD_TIMERFD] = "timerfd",
};

static const char *const map_kind_names[POLICY_MAP_NKINDS] = {
	[POLICY_MAP_PROGRAM] = "program",
	[POLICY_MAP_ANON] = "anonymous",
	[POLICY_MAP_MEMFD] = "memfd",
	[POLICY_MAP_IO_URING] = "io_uring",
	[POLICY_MAP_KERNEL] = "kernel",
};

static const char *const stage_names[POLICY_NSTAGES] = {
	[POLICY_SETUP] = "setup",
	[POLICY_SERVE] = "serve",
};

const char *
policy_rlimit_name(enum policy_rlimit r)
{
	return (unsigned)r < POLICY_NRLIMITS ? rlimit_names[r] : "?";
}

int
policy_rlimit_resource(enum policy_rlimit r)
{
	return (unsigned)r < POLICY_NRLIMITS ? rlimit_resources[r] : -1;
}

const char *
policy_fd_kind_name(enum policy_fd_kind k)
{
	return (unsigned)k < POLICY_FD_NKINDS ? fd_kind_names[k] : "?";
}

const char *
policy_map_kind_name(enum policy_map_kind k)
{
	return (unsigned)k < POLICY_MAP_NKINDS ? map_kind_names[k] : "?";
}

const char *
policy_stage_name(enum policy_stage s)
{
	return (unsigned)s < POLICY_NSTAGES ? stage_names[s] : "?";
}

const struct policy_rule *
policy_find(const struct policy_set *set, int nr)
{
	for (unsigned i = 0; i < set->n; i++)
		if (set->rule[i].nr == nr)
			return &set->rule[i];
	return NULL;
}

/* A short name: letters, digits, '-' and '_', not empty. */
static int
get_name(const struct pctx *c, const config_setting_t *s, char *out,
    size_t len)
{
	const char *v = config_setting_get_string(s);
	size_t n;

	if (v == NULL)
		return perr(c, line_of(s), "'%s' must be a string",
		    config_setting_name(s));
	n = strlen(v);
	if (n == 0 || n >= len || strspn(v, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:") != n)
		return perr(c, line_of(s), "'%s' is not a valid name", v);
	memcpy(out, v, n + 1);
	return 0;
}

/*
 * An argument value: a number, one of the names above, or "SELF", the
 * pid of the process the filter is loaded in (*self set).
 */
static int
get_value(const struct pctx *c, const config_setting_t *s, uint64_t *out,
    bool *self)
{
	const char *v;

	*self = false;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		*out = (uint64_t)config_setting_get_int64(s);
		return 0;
	case CONFIG_TYPE_STRING:
		v = config_setting_get_string(s);
		if (strcmp(v, "SELF") == 0) {
			*out = 0;
			*self = true;
			return 0;
		}
		for (size_t i = 0; i < sizeof(consts) / sizeof(consts[0]); i++)
			if (strcmp(consts[i].name, v) == 0) {
				*out = consts[i].value;
				return 0;
			}
		return perr(c, line_of(s), "unknown constant '%s'", v);
	default:
		return perr(c, line_of(s), "a value must be a number or a "
		    "constant name");
	}
}

static int
get_errno(const struct pctx *c, const config_setting_t *s, int *out)
{
	const char *v = config_setting_get_string(s);

	if (v != NULL)
		for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
			if (strcmp(errnos[i].name, v) == 0) {
				*out = errnos[i].err;
				return 0;
			}
	return perr(c, line_of(s), "errno must be one of ENOSYS, EPERM, "
	    "EACCES, EINVAL");
}

static int
resolve(const struct pctx *c, const config_setting_t *s, const char *name,
    struct policy_rule *r)
{
	int nr = seccomp_syscall_resolve_name(name);

	/* Negative numbers are libseccomp's for other architectures. */
	if (nr < 0)
		return perr(c, line_of(s), "unknown system call '%s'", name);
	if (strlen(name) >= sizeof(r->name))
		return perr(c, line_of(s), "name too long");
	r->nr = nr;
	strcpy(r->name, name);
	return 0;
}

/* "argN_in" or "argN_without": sets r->arg and r->cond, or returns -1. */
static int
arg_key(const char *key, struct policy_rule *r)
{
	if (strncmp(key, "arg", 3) != 0 || key[3] < '0' || key[3] > '5' ||
	    key[4] != '_')
		return -1;
	r->arg = (unsigned)(key[3] - '0');
	if (strcmp(key + 5, "in") == 0)
		r->cond = POLICY_ARG_IN;
	else if (strcmp(key + 5, "without") == 0)
		r->cond = POLICY_ARG_WITHOUT;
	else
		return -1;
	return 0;
}

/* { syscall = "..."; argN_in = [...]; } or argN_without, or errno. */
static int
parse_rule_group(const struct pctx *c, const config_setting_t *g,
    struct policy_rule *r)
{
	const config_setting_t *name = NULL, *vals = NULL;
	int n = config_setting_length(g), ret;

	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *key = config_setting_name(s);

		if (strcmp(key, "syscall") == 0)
			name = s;
		else if (strcmp(key, "errno") == 0) {
			if (r->action == POLICY_ERRNO || vals != NULL)
				return perr(c, line_of(s), "one condition or "
				    "errno per rule");
			r->action = POLICY_ERRNO;
			if ((ret = get_errno(c, s, &r->err)) < 0)
				return ret;
		} else if (arg_key(key, r) == 0) {
			if (r->action == POLICY_ERRNO || vals != NULL)
				return perr(c, line_of(s), "one condition or "
				    "errno per rule");
			vals = s;
		} else
			return perr(c, line_of(s), "unknown key '%s' in a rule",
			    key);
	}
	if (name == NULL || config_setting_get_string(name) == NULL)
		return perr(c, line_of(g), "a rule needs syscall = \"name\"");
	if ((ret = resolve(c, name, config_setting_get_string(name), r)) < 0)
		return ret;
	if (vals == NULL) {
		r->cond = POLICY_ANY;
		return 0;
	}
	n = config_setting_length(vals);
	if (!(config_setting_is_array(vals) || config_setting_is_list(vals)) ||
	    n < 1 ||
	    n > POLICY_MAX_VALUES)
		return perr(c, line_of(vals), "'%s' needs a list of 1 to %d "
		    "values", config_setting_name(vals), POLICY_MAX_VALUES);
	for (int i = 0; i < n; i++) {
		uint64_t v = 0;
		bool self = false;

		if ((ret = get_value(c, config_setting_get_elem(vals,
		    (unsigned)i), &v, &self)) < 0)
			return ret;
		if (self && r->cond != POLICY_ARG_IN)
			return perr(c, line_of(vals), "SELF is a value, not a "
			    "mask");
		if (self)
			r->self |= 1u << r->nvalues;
		if (r->cond == POLICY_ARG_IN)
			r->values[r->nvalues++] = v;
		else
			r->mask |= v;
	}
	if (r->cond == POLICY_ARG_WITHOUT && r->mask == 0)
		return perr(c, line_of(vals), "an empty mask allows anything");
	return 0;
}

static int
parse_stage(const struct pctx *c, const config_setting_t *list,
    struct policy_set *set)
{
	int n = config_setting_length(list), ret;

	if (!config_setting_is_list(list) && !config_setting_is_array(list))
		return perr(c, line_of(list), "'%s' must be a list: ( ... )",
		    config_setting_name(list));
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(list,
		    (unsigned)i);
		struct policy_rule r;

		memset(&r, 0, sizeof(r));
		r.line = line_of(s);
		if (config_setting_type(s) == CONFIG_TYPE_STRING)
			ret = resolve(c, s, config_setting_get_string(s), &r);
		else if (config_setting_is_group(s))
			ret = parse_rule_group(c, s, &r);
		else
			ret = perr(c, line_of(s), "an entry is a system call "
			    "name or a { syscall = ...; } rule");
		if (ret < 0)
			return ret;
		if (policy_find(set, r.nr) != NULL)
			return perr(c, r.line, "'%s' is listed twice", r.name);
		if (set->n == POLICY_MAX_RULES)
			return perr(c, r.line, "more than %d rules",
			    POLICY_MAX_RULES);
		set->rule[set->n++] = r;
	}
	return 0;
}

/*
 * Stage 2 is a second filter stacked on the first: the kernel applies
 * both, so serve can only narrow.  A call serve allows that setup does
 * not would still be refused; the file says what really happens.
 */
static int
check_subset(const struct pctx *c, const struct policy *p)
{
	const struct policy_set *setup = &p->stage[POLICY_SETUP];
	const struct policy_set *serve = &p->stage[POLICY_SERVE];

	for (unsigned i = 0; i < serve->n; i++) {
		const struct policy_rule *r = &serve->rule[i];
		const struct policy_rule *w = policy_find(setup, r->nr);

		if (r->action != POLICY_ALLOW)
			continue;
		if (w == NULL || w->action != POLICY_ALLOW)
			return perr(c, r->line, "serve allows '%s', which "
			    "setup does not: a stacked filter only narrows",
			    r->name);
	}
	return 0;
}

static int
parse_rlimits(const struct pctx *c, const config_setting_t *g,
    struct policy *p)
{
	int n = config_setting_length(g);

	if (!config_setting_is_group(g))
		return perr(c, line_of(g), "'rlimits' must be a group: { ... }");
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *key = config_setting_name(s), *v;
		struct policy_rlim *l = NULL;

		for (int k = 0; k < POLICY_NRLIMITS; k++)
			if (strcmp(key, rlimit_names[k]) == 0)
				l = &p->rlim[k];
		if (l == NULL)
			return perr(c, line_of(s), "unknown limit '%s'", key);
		l->set = true;
		switch (config_setting_type(s)) {
		case CONFIG_TYPE_INT:
		case CONFIG_TYPE_INT64:
			if (config_setting_get_int64(s) < 0)
				return perr(c, line_of(s), "'%s' is negative",
				    key);
			l->value = (uint64_t)config_setting_get_int64(s);
			break;
		case CONFIG_TYPE_STRING:
			v = config_setting_get_string(s);
			if (strcmp(v, "unlimited") != 0)
				return perr(c, line_of(s), "'%s': a number or "
				    "\"unlimited\"", key);
			l->value = POLICY_RLIM_INFINITY;
			break;
		default:
			return perr(c, line_of(s), "'%s': a number or "
			    "\"unlimited\"", key);
		}
	}
	return 0;
}

/* "eventfd", or "memfd:NAME" for a kind that takes a name. */
static int
get_kind(const struct pctx *c, const config_setting_t *s,
    const char *const *names, int nnames, int memfd_kind, char *memfd)
{
	const char *v = config_setting_get_string(s);
	const char *colon;

	if (v == NULL)
		return perr(c, line_of(s), "'kind' must be a string");
	colon = strchr(v, ':');
	for (int k = 0; k < nnames; k++) {
		size_t len = strlen(names[k]);

		if (k == memfd_kind && colon != NULL &&
		    (size_t)(colon - v) == len && strncmp(v, names[k], len) == 0) {
			if (colon[1] == '\0' ||
			    strlen(colon + 1) >= POLICY_NAME_MAX)
				return perr(c, line_of(s), "bad memfd name in "
				    "'%s'", v);
			strcpy(memfd, colon + 1);
			return k;
		}
		if (k != memfd_kind && strcmp(v, names[k]) == 0)
			return k;
	}
	if (strcmp(v, names[memfd_kind]) == 0)
		return perr(c, line_of(s), "say which memfd: \"%s:NAME\"", v);
	return perr(c, line_of(s), "unknown kind '%s'", v);
}

static int
get_why(const struct pctx *c, const config_setting_t *s, char *out)
{
	const char *v = config_setting_get_string(s);

	if (v == NULL || strlen(v) >= POLICY_WHY_MAX)
		return perr(c, line_of(s), "'why' must be a string of less than "
		    "%d characters", POLICY_WHY_MAX);
	strcpy(out, v);
	return 0;
}

static int
parse_fd(const struct pctx *c, const config_setting_t *g, struct policy_fd *f)
{
	int n = config_setting_length(g), k = -1, ret;

	f->fd = -1;
	f->max = 1;
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *key = config_setting_name(s);
		long long v;

		if (strcmp(key, "kind") == 0) {
			if ((k = get_kind(c, s, fd_kind_names, POLICY_FD_NKINDS,
			    POLICY_FD_MEMFD, f->memfd)) < 0)
				return k;
			f->kind = (enum policy_fd_kind)k;
		} else if (strcmp(key, "fd") == 0 || strcmp(key, "max") == 0) {
			if (config_setting_type(s) != CONFIG_TYPE_INT)
				return perr(c, line_of(s), "'%s' must be a "
				    "number", key);
			v = config_setting_get_int64(s);
			if (v < 0 || v > 4096)
				return perr(c, line_of(s), "'%s' out of range",
				    key);
			if (key[0] == 'f')
				f->fd = (int)v;
			else
				f->max = (unsigned)v;
		} else if (strcmp(key, "why") == 0) {
			if ((ret = get_why(c, s, f->why)) < 0)
				return ret;
		} else
			return perr(c, line_of(s), "unknown key '%s' in an fd",
			    key);
	}
	if (k < 0)
		return perr(c, line_of(g), "an fd needs a kind");
	return 0;
}

static int
parse_map(const struct pctx *c, const config_setting_t *g,
    struct policy_map *m)
{
	int n = config_setting_length(g), k = -1, ret;

	m->prot = POLICY_PROT_R | POLICY_PROT_W;
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *key = config_setting_name(s), *v;

		if (strcmp(key, "kind") == 0) {
			if ((k = get_kind(c, s, map_kind_names, POLICY_MAP_NKINDS,
			    POLICY_MAP_MEMFD, m->memfd)) < 0)
				return k;
			m->kind = (enum policy_map_kind)k;
		} else if (strcmp(key, "prot") == 0) {
			v = config_setting_get_string(s);
			if (v == NULL || v[0] == '\0' || strlen(v) > 3 ||
			    strspn(v, "rwx") != strlen(v))
				return perr(c, line_of(s), "'prot' is made of "
				    "r, w and x");
			m->prot = (strchr(v, 'r') ? POLICY_PROT_R : 0) |
			    (strchr(v, 'w') ? POLICY_PROT_W : 0) |
			    (strchr(v, 'x') ? POLICY_PROT_X : 0);
		} else if (strcmp(key, "shared") == 0) {
			if (config_setting_type(s) != CONFIG_TYPE_BOOL)
				return perr(c, line_of(s), "'shared' is true or "
				    "false");
			m->shared = config_setting_get_bool(s);
		} else if (strcmp(key, "why") == 0) {
			if ((ret = get_why(c, s, m->why)) < 0)
				return ret;
		} else
			return perr(c, line_of(s), "unknown key '%s' in a map",
			    key);
	}
	if (k < 0)
		return perr(c, line_of(g), "a map needs a kind");
	/* Code is the program's, never written: W^X for every mapping. */
	if ((m->prot & POLICY_PROT_W) && (m->prot & POLICY_PROT_X))
		return perr(c, line_of(g), "a mapping is never writable and "
		    "executable");
	return 0;
}

static int
parse_list(const struct pctx *c, const config_setting_t *l, struct policy *p,
    bool fds)
{
	int n = config_setting_length(l), ret;
	unsigned max = fds ? POLICY_MAX_FDS : POLICY_MAX_MAPS;

	if (!config_setting_is_list(l))
		return perr(c, line_of(l), "'%s' must be a list: ( ... )",
		    config_setting_name(l));
	if ((unsigned)n > max)
		return perr(c, line_of(l), "more than %u entries", max);
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(l,
		    (unsigned)i);

		if (!config_setting_is_group(g))
			return perr(c, line_of(g), "an entry is a group: "
			    "{ kind = ...; }");
		ret = fds ? parse_fd(c, g, &p->fd[p->nfds++]) :
		    parse_map(c, g, &p->map[p->nmaps++]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int
parse_root(const struct pctx *c, const config_setting_t *root,
    struct policy *p)
{
	const config_setting_t *st[POLICY_NSTAGES] = { NULL, NULL };
	int n = config_setting_length(root), ret = 0;

	for (int i = 0; i < n && ret == 0; i++) {
		const config_setting_t *s = config_setting_get_elem(root,
		    (unsigned)i);
		const char *key = config_setting_name(s);

		if (strcmp(key, "type") == 0)
			ret = get_name(c, s, p->type, sizeof(p->type));
		else if (strcmp(key, "program") == 0)
			ret = get_name(c, s, p->program, sizeof(p->program));
		else if (strcmp(key, "setup") == 0)
			st[POLICY_SETUP] = s;
		else if (strcmp(key, "serve") == 0)
			st[POLICY_SERVE] = s;
		else if (strcmp(key, "rlimits") == 0)
			ret = parse_rlimits(c, s, p);
		else if (strcmp(key, "fds") == 0)
			ret = parse_list(c, s, p, true);
		else if (strcmp(key, "maps") == 0)
			ret = parse_list(c, s, p, false);
		else
			ret = perr(c, line_of(s), "unknown setting '%s'", key);
	}
	if (ret < 0)
		return ret;
	if (p->type[0] == '\0' || p->program[0] == '\0')
		return perr(c, 1, "'type' and 'program' are required");
	for (int k = 0; k < POLICY_NSTAGES; k++) {
		if (st[k] == NULL)
			return perr(c, 1, "no '%s' stage", stage_names[k]);
		if ((ret = parse_stage(c, st[k], &p->stage[k])) < 0)
			return ret;
	}
	return check_subset(c, p);
}

int
policy_parse(const char *text, const char *file, struct policy *p,
    char *err, size_t errlen)
{
	struct pctx c = { file != NULL ? file : "(policy)", err, errlen };
	const char *inc;
	config_t cfg;
	int ret;

	memset(p, 0, sizeof(*p));
	snprintf(p->file, sizeof(p->file), "%s", c.file);
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	/* A policy is one self-contained file: nothing is read from disk. */
	if ((inc = strstr(text, "@include")) != NULL) {
		int line = 1;

		for (const char *q = text; q < inc; q++)
			line += *q == '\n';
		return perr(&c, line, "@include is not allowed in a policy");
	}
	config_init(&cfg);
	if (config_read_string(&cfg, text) != CONFIG_TRUE) {
		ret = perr(&c, config_error_line(&cfg), "%s",
		    config_error_text(&cfg));
		config_destroy(&cfg);
		return ret;
	}
	ret = parse_root(&c, config_root_setting(&cfg), p);
	config_destroy(&cfg);
	return ret;
}

int
policy_load_builtin(const char *program, struct policy *p, char *err,
    size_t errlen)
{
	const char *base = strrchr(program, '/');
	int ret, broken = 0;
	char why[192] = "";

	base = base != NULL ? base + 1 : program;
	/*
	 * Another program's broken policy does not stop this one; if ours
	 * is not found, a broken one may have been it: say why it broke.
	 */
	for (const struct policy_src *s = policy_builtin; s->file != NULL; s++) {
		if ((ret = policy_parse(s->text, s->file, p, err, errlen)) < 0) {
			if (broken == 0)
				snprintf(why, sizeof(why), "%s", err != NULL ?
				    err : "");
			broken = ret;
			continue;
		}
		if (strcmp(p->program, base) == 0)
			return 0;
	}
	memset(p, 0, sizeof(*p));
	if (err != NULL && errlen > 0) {
		if (broken != 0)
			snprintf(err, errlen, "%s", why);
		else
			snprintf(err, errlen, "no built-in policy for '%s'",
			    base);
	}
	return broken != 0 ? broken : -ENOENT;
}
