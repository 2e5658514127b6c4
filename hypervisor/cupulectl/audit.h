/* SPDX-License-Identifier: BSD-3-Clause */
/* cupulectl audit: what /proc says of each mediator, and the checks. */
#ifndef CUPULECTL_AUDIT_H
#define CUPULECTL_AUDIT_H

#include <stdbool.h>
#include <sys/types.h>

#define AUDIT_MAX_MEDS		64
#define AUDIT_MAX_FDS		64
#define AUDIT_MAX_MAPS		64
#define AUDIT_MAX_FINDINGS	256
#define AUDIT_LINE		192

enum { AUDIT_NS_MNT, AUDIT_NS_NET, AUDIT_NS_PID, AUDIT_NS_IPC, AUDIT_NS_UTS,
	AUDIT_NS_USER, AUDIT_NNS };

struct audit_fd {
	int fd;
	char kind[96];		/* audit_fd_kind() */
};

struct audit_map {
	unsigned long long ino, size;
	bool writable, exec;
	char name[96];
};

struct audit_med {
	char name[80];		/* "vm/device" */
	char vm[32], type[16];
	pid_t pid;
	bool read;		/* /proc was read */
	unsigned long long obj_ram, obj_ring, obj_state;
	unsigned uid[4], gid[4];	/* real, effective, saved, fs */
	unsigned long long cap_prm, cap_eff, cap_bnd, cap_amb;
	int nnp, seccomp, filters;
	unsigned long long ns[AUDIT_NNS];
	int nfds;
	struct audit_fd fds[AUDIT_MAX_FDS];
	int nmaps;
	struct audit_map maps[AUDIT_MAX_MAPS];	/* shared ones */
};

struct audit {
	int nmeds;
	struct audit_med meds[AUDIT_MAX_MEDS];
	int nfindings;
	char findings[AUDIT_MAX_FINDINGS][AUDIT_LINE];
};

typedef void audit_finding_fn(struct audit *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Classifies the target of a /proc/PID/fd link. */
void audit_fd_kind(const char *link, char *kind, size_t len);

/* Reads /proc/PID/{status,ns,fd,maps} of m->pid.  Returns 0 or -errno. */
int audit_read(struct audit_med *m);

/* Every check; findings appended to a->findings. */
void audit_check(struct audit *a);

/* The checks against each mediator type's declared policy. */
void audit_policy_check(struct audit *a, audit_finding_fn *finding);

#endif
