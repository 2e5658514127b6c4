/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Inside the sandbox: the steps of stage 1 other than seccomp
 * (sandbox_steps.c), called in order by sandbox_setup() (sandbox.c).
 * Each records how it went in s->rep and returns 0, or -errno when the
 * process must not go on (the reason in s->error).
 */
#ifndef CUPULE_SANDBOX_INT_H
#define CUPULE_SANDBOX_INT_H

#include "sandbox.h"

/* Records how a step went; returns -error for FAILED, else 0. */
int sbx_note(struct sandbox *s, enum sandbox_step step,
    enum sandbox_status st, int error, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Whether the caller left step out (tests); if so, records it. */
bool sbx_skipped(struct sandbox *s, enum sandbox_step step);

/* Own namespaces, made where missing.  Returns whether mnt is ours. */
bool sbx_namespaces(struct sandbox *s);

/* The empty read-only root, in a mount namespace of our own. */
int sbx_root(struct sandbox *s, bool own_mnt);

int sbx_rlimits(struct sandbox *s);

/*
 * While CAP_SETPCAP is there: bounding set, securebits, ambient set.
 * Returns how many capabilities stay in the bounding set.
 */
int sbx_drop_bounding(void);

/* After the ids change: every capability set empty. */
int sbx_caps(struct sandbox *s, int left);

int sbx_ids(struct sandbox *s);

int sbx_landlock(struct sandbox *s);

#endif
