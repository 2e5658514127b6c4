/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The mediator sandbox (docs/sandbox.md), applied by the process to
 * itself after exec, in two stages, from its built-in policy (policy.h):
 *
 *	stage 1, sandbox_setup(), before the first control message:
 *	  own mount/net/IPC/UTS namespaces, an empty read-only root, no
 *	  capabilities, the per-mediator uid and gid, no_new_privs, not
 *	  dumpable, resource limits, Landlock (no filesystem, no TCP, no
 *	  signals or abstract sockets outside), and the wide seccomp
 *	  filter of the "setup" stage;
 *	stage 2, sandbox_serve(), just before READY:
 *	  the narrow "serve" filter, stacked on the first.
 *
 * A system call outside the policy raises SIGSYS; the handler writes
 * one line naming the call and the mediator to stderr and the process
 * dies by SIGSYS.  Each step is recorded in a struct sandbox_report
 * that says what was applied, and what was not and why.
 *
 * The spawner's part is sandbox_clone_flags() (or sandbox_fork()) and
 * "--uid=N --gid=N" on the command line.
 *
 * Every function returns 0 or a negative errno unless said otherwise.
 */
#ifndef CUPULE_SANDBOX_H
#define CUPULE_SANDBOX_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctl.h"
#include "policy.h"

#define SANDBOX_NO_ID		UINT32_MAX

enum sandbox_step {
	SANDBOX_NAMESPACES,	/* own mount, net, IPC, UTS (and pid) ns */
	SANDBOX_ROOT,		/* an empty read-only tmpfs as / */
	SANDBOX_RLIMITS,
	SANDBOX_CAPS,		/* bounding set, securebits, ambient, sets */
	SANDBOX_IDS,		/* groups, gid and uid from --gid/--uid */
	SANDBOX_NNP,		/* PR_SET_NO_NEW_PRIVS */
	SANDBOX_DUMPABLE,	/* PR_SET_DUMPABLE 0 */
	SANDBOX_LANDLOCK,
	SANDBOX_SECCOMP_SETUP,
	SANDBOX_SECCOMP_SERVE,
	SANDBOX_NSTEPS,
};

enum sandbox_status {
	SANDBOX_PENDING,	/* not reached yet */
	SANDBOX_DONE,		/* applied in full */
	SANDBOX_PARTIAL,	/* applied in part; detail says what not */
	SANDBOX_SKIPPED,	/* not applied; detail says why */
	SANDBOX_FAILED,		/* failed; the process must not go on */
};

struct sandbox_step_report {
	enum sandbox_status status;
	int error;			/* errno of a failure, or 0 */
	char detail[128];
};

struct sandbox_report {
	int stage;			/* seccomp stages in force: 0, 1, 2 */
	bool disabled;			/* --no-sandbox */
	int landlock_abi;		/* 0: no Landlock */
	struct sandbox_step_report step[SANDBOX_NSTEPS];
};

struct sandbox_opts {
	uint32_t uid, gid;		/* SANDBOX_NO_ID: keep the parent's */
	bool disabled;			/* --no-sandbox, for debugging */
	unsigned skip;			/* 1 << step: left out (tests only) */
};

struct sandbox {
	struct sandbox_opts opt;
	const struct policy *policy;
	struct policy *owned;		/* the same, loaded by sandbox_load() */
	char name[64];			/* for the violation line */
	void *filter[2];		/* libseccomp contexts of both stages */
	struct sandbox_report rep;
	char error[192];		/* why the last call failed */
};

/* Options as the spawner passes them: no uid or gid change. */
void sandbox_opts_init(struct sandbox_opts *o);

/*
 * Takes one command-line argument if it is the sandbox's: --uid=N,
 * --gid=N, --no-sandbox.  Returns 1 if taken, 0 if not ours, -EINVAL
 * for a bad value.
 */
int sandbox_option(struct sandbox_opts *o, const char *arg);

/*
 * The namespaces a spawner should start a mediator in (clone(2) or
 * clone3() flags): mount, net, IPC, UTS and pid.  The pid namespace can
 * only be given at clone time; the others stage 1 makes itself when the
 * process did not get them and may (CAP_SYS_ADMIN).  Inline, so that a
 * spawner needs this header only, not the library and libseccomp.
 */
static inline int
sandbox_clone_flags(void)
{
	return CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |
	    CLONE_NEWPID;
}

/*
 * fork(), but into the namespaces of sandbox_clone_flags(); plain fork()
 * where they cannot be made (EPERM, EINVAL, ENOSPC).  For a
 * single-threaded caller, or a child that only calls async-signal-safe
 * functions before exec (the child's glibc state is not reset as
 * fork() resets it).  Returns as fork() does.
 */
pid_t sandbox_fork(void);

/* Prepares s for policy p; name is the mediator's, for logs. */
void sandbox_init(struct sandbox *s, const struct policy *p,
    const struct sandbox_opts *o, const char *name);

/*
 * For a program: loads the built-in policy of program (its argv[0]) and
 * prepares s as sandbox_init() does.  Returns 0 or -errno (s->error).
 */
int sandbox_load(struct sandbox *s, const char *program,
    const struct sandbox_opts *o, const char *name);

/*
 * Stage 1.  Must run single-threaded.  Returns 0 when every step either
 * worked or could be left out safely (see the report); -errno with
 * s->error when the process must not go on.
 */
int sandbox_setup(struct sandbox *s);

/*
 * Stage 2: stacks the serve filter.  Returns 0, or -errno with s->error
 * (the process must not go on).  Nothing when the sandbox is disabled.
 */
int sandbox_serve(struct sandbox *s);

/* Frees what s holds; the filters in force stay in force. */
void sandbox_free(struct sandbox *s);

/* Writes the report as one line into buf.  Returns its length. */
int sandbox_report_line(const struct sandbox_report *r, char *buf,
    size_t len);

/* "namespaces", "root", ... */
const char *sandbox_step_name(enum sandbox_step step);

/*
 * The probe: forks one child per operation asked for in req (all of
 * them if req->ops is 0); each child inherits this process's sandbox
 * exactly, tries its operation and reports by its exit status.  The
 * policy in force must allow clone (without namespace flags), wait4
 * and set_robust_list.  Fills *res; stage is the seccomp stage in
 * force.  Returns 0 or -EINVAL for unknown operations.
 */
int sandbox_probe(const struct ctl_probe *req, int stage,
    struct ctl_probe_result *res);

#endif
