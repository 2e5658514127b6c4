/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sandbox policies: one human-readable file per mediator type
 * (mediators/blk/blk.policy, mediators/net/net.policy,
 * mediators/net/switch.policy), in libconfig syntax, compiled into the
 * programs that need them from that one file.  policy_parse() turns the
 * text into a struct policy: the system calls allowed while the process
 * sets itself up and once it serves, the resource limits, and what an
 * audit should expect to find in the process (fd kinds, mapping kinds).
 * docs/sandbox.md describes the format.
 *
 * Every function returns 0 or a negative errno unless said otherwise.
 */
#ifndef CUPULE_POLICY_H
#define CUPULE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POLICY_MAX_RULES	128	/* system calls per stage */
#define POLICY_MAX_VALUES	8	/* values of one "argN_in" */
#define POLICY_MAX_FDS		24
#define POLICY_MAX_MAPS		16
#define POLICY_NAME_MAX		32
#define POLICY_WHY_MAX		96
#define POLICY_RLIM_INFINITY	UINT64_MAX

enum policy_stage {
	POLICY_SETUP,		/* from stage 1 until READY: wide */
	POLICY_SERVE,		/* stacked on top at READY: narrow */
	POLICY_NSTAGES,
};

enum policy_action {
	POLICY_ALLOW,		/* the call runs (if its condition holds) */
	POLICY_ERRNO,		/* the call fails with -err, never runs */
};

enum policy_cond {
	POLICY_ANY,		/* no condition on the arguments */
	POLICY_ARG_IN,		/* argument arg is one of values[] */
	POLICY_ARG_WITHOUT,	/* argument arg has no bit of mask */
};

struct policy_rule {
	int nr;				/* native system call number */
	char name[POLICY_NAME_MAX];
	int line;			/* in the policy file */
	enum policy_action action;
	int err;			/* POLICY_ERRNO: a positive errno */
	enum policy_cond cond;
	unsigned arg;			/* 0..5 */
	unsigned nvalues;
	uint64_t values[POLICY_MAX_VALUES];
	unsigned self;			/* bit i: values[i] is the own pid */
	uint64_t mask;
};

struct policy_set {
	unsigned n;
	struct policy_rule rule[POLICY_MAX_RULES];
};

enum policy_rlimit {
	POLICY_RLIMIT_NOFILE,
	POLICY_RLIMIT_NPROC,
	POLICY_RLIMIT_FSIZE,
	POLICY_RLIMIT_CORE,
	POLICY_RLIMIT_MEMLOCK,
	POLICY_RLIMIT_MSGQUEUE,
	POLICY_NRLIMITS,
};

struct policy_rlim {
	bool set;
	uint64_t value;			/* or POLICY_RLIM_INFINITY */
};

/* What an fd of the process may be: /proc/PID/fd tells them apart. */
enum policy_fd_kind {
	POLICY_FD_INHERITED,	/* stdin/out/err: whatever the parent gave */
	POLICY_FD_UNIX_SEQPACKET,
	POLICY_FD_EVENTFD,
	POLICY_FD_MEMFD,	/* with a name: memfd:NAME */
	POLICY_FD_IO_URING,
	POLICY_FD_TUN,
	POLICY_FD_FILE,		/* a regular file or a block device */
	POLICY_FD_EPOLL,
	POLICY_FD_SIGNALFD,
	POLICY_FD_PIPE,
	POLICY_FD_TIMERFD,
	POLICY_FD_NKINDS,
};

struct policy_fd {
	enum policy_fd_kind kind;
	char memfd[POLICY_NAME_MAX];	/* POLICY_FD_MEMFD */
	int fd;				/* its fixed number, or -1 */
	unsigned max;			/* how many at most */
	char why[POLICY_WHY_MAX];
};

/* What a mapping of the process may be: /proc/PID/maps tells them apart. */
enum policy_map_kind {
	POLICY_MAP_PROGRAM,	/* the executable and its shared libraries */
	POLICY_MAP_ANON,	/* heap, stacks, malloc arenas, static data */
	POLICY_MAP_MEMFD,	/* with a name: memfd:NAME */
	POLICY_MAP_IO_URING,	/* the rings and SQE array of an io_uring */
	POLICY_MAP_KERNEL,	/* [vdso], [vvar], [vsyscall] */
	POLICY_MAP_NKINDS,
};

#define POLICY_PROT_R		0x1
#define POLICY_PROT_W		0x2
#define POLICY_PROT_X		0x4

struct policy_map {
	enum policy_map_kind kind;
	char memfd[POLICY_NAME_MAX];	/* POLICY_MAP_MEMFD */
	unsigned prot;			/* the most it may have: POLICY_PROT_* */
	bool shared;			/* MAP_SHARED */
	char why[POLICY_WHY_MAX];
};

struct policy {
	char file[64];			/* where it came from, for messages */
	char type[POLICY_NAME_MAX];	/* "blk" */
	char program[POLICY_NAME_MAX];	/* "cupule-blk" */
	struct policy_set stage[POLICY_NSTAGES];
	struct policy_rlim rlim[POLICY_NRLIMITS];
	unsigned nfds;
	struct policy_fd fd[POLICY_MAX_FDS];
	unsigned nmaps;
	struct policy_map map[POLICY_MAX_MAPS];
};

/* A policy file compiled into the program (BUILD/gen/policies.c). */
struct policy_src {
	const char *file;		/* its path in the repository */
	const char *text;		/* NUL-terminated */
	size_t len;
};

/* Every policy file of the repository; ends with a NULL file. */
extern const struct policy_src policy_builtin[];

/*
 * Parses text (NUL-terminated) from file into *p and checks it: every
 * system call name known on this architecture, no name twice in a
 * stage, every serve call also in setup, conditions and limits well
 * formed, no unknown setting.  Returns 0, or -EINVAL with
 * "file:line: what" in err (err may be NULL).
 */
int policy_parse(const char *text, const char *file, struct policy *p,
    char *err, size_t errlen);

/*
 * Parses the built-in policy whose program is the last path component
 * of program ("cupule-net").  Returns 0, -ENOENT if there is none, or
 * -EINVAL with the reason in err.
 */
int policy_load_builtin(const char *program, struct policy *p, char *err,
    size_t errlen);

/* The rule for system call nr in set, or NULL. */
const struct policy_rule *policy_find(const struct policy_set *set, int nr);

/* Names, as the policy file spells them ("nofile", "eventfd", ...). */
const char *policy_rlimit_name(enum policy_rlimit r);
/* The RLIMIT_* resource of r. */
int policy_rlimit_resource(enum policy_rlimit r);
const char *policy_fd_kind_name(enum policy_fd_kind k);
const char *policy_map_kind_name(enum policy_map_kind k);
const char *policy_stage_name(enum policy_stage s);

#endif
