/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Supervision of one mediator process: when to start it again, when it
 * is hung, when to give up.  Pure bookkeeping on millisecond timestamps
 * (the caller's monotonic clock), so every path is unit-tested without
 * processes; mediator.c does what the returned actions say.
 *
 *	STARTING --ready--> RUNNING --exit/hung--> BACKOFF --due--> STARTING
 *	    |                   |                     |
 *	    +---- too many exits in the window, or a vCPU stalled ----> DOWN
 *
 * DOWN stays until an operator restart.  A crash right after a long
 * healthy run restarts at once; crashes close together wait
 * backoff_min_ms, then twice that, and so on up to backoff_max_ms.
 */
#ifndef CUPULE_MEDSUP_H
#define CUPULE_MEDSUP_H

#include <stdbool.h>
#include <stdint.h>

#define MEDSUP_MAX_LIMIT	64	/* largest restart_limit */

struct medsup_cfg {
	uint32_t heartbeat_ms;		/* 0: no hang detection */
	uint32_t heartbeat_misses;	/* periods without a beat: hung */
	uint32_t start_ms;		/* READY within this, or killed */
	uint32_t backoff_min_ms;
	uint32_t backoff_max_ms;
	uint32_t restart_limit;		/* exits within the window ... */
	uint32_t restart_window_ms;	/* ... beyond which it stays down */
	uint32_t stall_ms;		/* longest wait of a vCPU on it */
};

/* Defaults: generous enough for a test host under emulation. */
#define MEDSUP_DEFAULTS { .heartbeat_ms = 1000, .heartbeat_misses = 5, \
	.start_ms = 20000, .backoff_min_ms = 10, .backoff_max_ms = 2000, \
	.restart_limit = 10, .restart_window_ms = 60000, .stall_ms = 5000 }

enum medsup_state {
	MEDSUP_STARTING,	/* process started, no READY yet */
	MEDSUP_RUNNING,		/* READY: serving the ring */
	MEDSUP_BACKOFF,		/* dead, starts again at next_at */
	MEDSUP_DOWN,		/* given up: NEEDS_RESET, operator restarts */
};

enum medsup_cause {
	MEDSUP_CAUSE_NONE,
	MEDSUP_CAUSE_EXIT,	/* exited or killed by a signal */
	MEDSUP_CAUSE_HUNG,	/* no heartbeat */
	MEDSUP_CAUSE_START,	/* no READY in time, or set-up refused */
	MEDSUP_CAUSE_KILL,	/* operator kill: a drill, counts as a crash */
	MEDSUP_CAUSE_RESTART,	/* operator restart: does not count */
	MEDSUP_CAUSE_STALL,	/* a vCPU waited stall_ms on a dead device */
	MEDSUP_CAUSE_LIMIT,	/* too many exits in the window */
};

/* What the caller must do now. */
enum medsup_action {
	MEDSUP_NOTHING,
	MEDSUP_SPAWN,		/* start a new process (state is STARTING) */
	MEDSUP_KILL,		/* SIGKILL the process; medsup_exited follows */
	MEDSUP_MARK_DOWN,	/* kill any process, answer from the state */
};

struct medsup {
	struct medsup_cfg cfg;
	enum medsup_state state;
	enum medsup_cause cause;	/* of the last exit or of DOWN */
	enum medsup_cause pending;	/* why we asked for a kill */
	uint64_t since;			/* entered the current state */
	uint64_t next_at;		/* BACKOFF: when to start again */
	uint64_t beat;			/* last heartbeat value seen ... */
	uint64_t beat_at;		/* ... and when it changed */
	uint32_t restarts;		/* processes started after the first */
	uint32_t exits;			/* unexpected exits, ever */
	uint32_t nrecent;		/* exits in recent[], oldest first */
	uint64_t recent[MEDSUP_MAX_LIMIT + 1];
};

/* Checks a configuration; returns NULL or what is wrong with it. */
const char *medsup_cfg_check(const struct medsup_cfg *c);

/* A process was just started for the first time. */
void medsup_init(struct medsup *s, const struct medsup_cfg *c, uint64_t now);

/* It said READY. */
void medsup_ready(struct medsup *s, uint64_t now);

/*
 * The process is gone (reaped).  cause is MEDSUP_CAUSE_EXIT unless the
 * caller knows better; a kill asked for by a previous action keeps its
 * own cause.  Returns SPAWN (restart now), NOTHING (BACKOFF, or already
 * DOWN) or MARK_DOWN (the restart limit was reached).
 */
enum medsup_action medsup_exited(struct medsup *s, uint64_t now,
    enum medsup_cause cause);

/*
 * Called periodically and whenever something changed.  beat is the
 * process's heartbeat counter; oldest_wait is when the longest-waiting
 * vCPU request on this device was made (0: none waits).
 */
enum medsup_action medsup_tick(struct medsup *s, uint64_t now, uint64_t beat,
    uint64_t oldest_wait);

/*
 * Operator requests.  restart: a healthy process is replaced, a DOWN
 * device comes back (crash history forgotten).  kill: a crash drill.
 * Both return KILL while a process lives, restart returns SPAWN when
 * none does; kill on a dead device returns NOTHING.
 */
enum medsup_action medsup_restart(struct medsup *s, uint64_t now);
enum medsup_action medsup_kill(struct medsup *s, uint64_t now);

/* True while a process exists (STARTING or RUNNING). */
bool medsup_alive(const struct medsup *s);

/* Milliseconds until medsup_tick has something to do; -1: nothing. */
int64_t medsup_next_ms(const struct medsup *s, uint64_t now);

const char *medsup_state_name(enum medsup_state st);
const char *medsup_cause_name(enum medsup_cause c);

#endif
