/* SPDX-License-Identifier: BSD-3-Clause */
#include <stddef.h>
#include <string.h>

#include "medsup.h"

const char *
medsup_cfg_check(const struct medsup_cfg *c)
{
	if (c->heartbeat_ms != 0 && c->heartbeat_misses == 0)
		return "heartbeat_misses must be at least 1";
	if (c->start_ms == 0)
		return "start_ms must be at least 1";
	if (c->backoff_min_ms > c->backoff_max_ms)
		return "backoff_min_ms is larger than backoff_max_ms";
	if (c->restart_limit > MEDSUP_MAX_LIMIT)
		return "restart_limit is larger than 64";
	if (c->restart_window_ms == 0)
		return "restart_window_ms must be at least 1";
	if (c->stall_ms == 0)
		return "stall_ms must be at least 1";
	return NULL;
}

static void
enter(struct medsup *s, enum medsup_state st, uint64_t now)
{
	s->state = st;
	s->since = now;
}

void
medsup_init(struct medsup *s, const struct medsup_cfg *c, uint64_t now)
{
	memset(s, 0, sizeof(*s));
	s->cfg = *c;
	enter(s, MEDSUP_STARTING, now);
}

void
medsup_ready(struct medsup *s, uint64_t now)
{
	if (s->state != MEDSUP_STARTING)
		return;
	enter(s, MEDSUP_RUNNING, now);
	s->beat_at = now;
	s->pending = MEDSUP_CAUSE_NONE;
}

bool
medsup_alive(const struct medsup *s)
{
	return s->state == MEDSUP_STARTING || s->state == MEDSUP_RUNNING;
}

/* Forgets exits older than the window. */
static void
expire(struct medsup *s, uint64_t now)
{
	uint32_t keep = 0;

	for (uint32_t i = 0; i < s->nrecent; i++)
		if (now - s->recent[i] < s->cfg.restart_window_ms)
			s->recent[keep++] = s->recent[i];
	s->nrecent = keep;
}

static enum medsup_action
spawn(struct medsup *s, uint64_t now)
{
	enter(s, MEDSUP_STARTING, now);
	s->restarts++;
	s->pending = MEDSUP_CAUSE_NONE;
	return MEDSUP_SPAWN;
}

static enum medsup_action
mark_down(struct medsup *s, uint64_t now, enum medsup_cause why)
{
	enter(s, MEDSUP_DOWN, now);
	s->cause = why;
	s->pending = MEDSUP_CAUSE_NONE;
	return MEDSUP_MARK_DOWN;
}

enum medsup_action
medsup_exited(struct medsup *s, uint64_t now, enum medsup_cause cause)
{
	uint64_t delay;

	if (!medsup_alive(s))
		return MEDSUP_NOTHING;	/* DOWN already, or a second report */
	if (s->pending != MEDSUP_CAUSE_NONE)
		cause = s->pending;
	s->cause = cause;
	s->pending = MEDSUP_CAUSE_NONE;
	if (cause == MEDSUP_CAUSE_RESTART)
		return spawn(s, now);
	s->exits++;
	expire(s, now);
	if (s->nrecent == MEDSUP_MAX_LIMIT + 1) {
		memmove(s->recent, s->recent + 1,
		    MEDSUP_MAX_LIMIT * sizeof(s->recent[0]));
		s->nrecent--;
	}
	s->recent[s->nrecent++] = now;
	if (s->nrecent > s->cfg.restart_limit)
		return mark_down(s, now, MEDSUP_CAUSE_LIMIT);
	/* The first exit in a while: at once.  Then doubling waits. */
	if (s->nrecent == 1)
		return spawn(s, now);
	delay = s->cfg.backoff_min_ms;
	for (uint32_t i = 2; i < s->nrecent && delay < s->cfg.backoff_max_ms;
	    i++)
		delay *= 2;
	if (delay > s->cfg.backoff_max_ms)
		delay = s->cfg.backoff_max_ms;
	if (delay == 0)
		return spawn(s, now);
	enter(s, MEDSUP_BACKOFF, now);
	s->next_at = now + delay;
	return MEDSUP_NOTHING;
}

/* A vCPU has waited too long on a device that is not serving. */
static bool
stalled(const struct medsup *s, uint64_t now, uint64_t oldest_wait)
{
	return oldest_wait != 0 && now >= oldest_wait &&
	    now - oldest_wait >= s->cfg.stall_ms;
}

enum medsup_action
medsup_tick(struct medsup *s, uint64_t now, uint64_t beat,
    uint64_t oldest_wait)
{
	switch (s->state) {
	case MEDSUP_RUNNING:
		if (beat != s->beat) {
			s->beat = beat;
			s->beat_at = now;
		}
		if (s->pending != MEDSUP_CAUSE_NONE)
			return MEDSUP_NOTHING;
		/* Beating but not answering the ring is hung too. */
		if (stalled(s, now, oldest_wait)) {
			s->pending = MEDSUP_CAUSE_STALL;
			return MEDSUP_KILL;
		}
		if (s->cfg.heartbeat_ms == 0 || now - s->beat_at <
		    (uint64_t)s->cfg.heartbeat_ms * s->cfg.heartbeat_misses)
			return MEDSUP_NOTHING;
		s->pending = MEDSUP_CAUSE_HUNG;
		return MEDSUP_KILL;
	case MEDSUP_STARTING:
		if (stalled(s, now, oldest_wait))
			return mark_down(s, now, MEDSUP_CAUSE_STALL);
		if (s->pending != MEDSUP_CAUSE_NONE ||
		    now - s->since < s->cfg.start_ms)
			return MEDSUP_NOTHING;
		s->pending = MEDSUP_CAUSE_START;
		return MEDSUP_KILL;
	case MEDSUP_BACKOFF:
		if (stalled(s, now, oldest_wait))
			return mark_down(s, now, MEDSUP_CAUSE_STALL);
		return now >= s->next_at ? spawn(s, now) : MEDSUP_NOTHING;
	case MEDSUP_DOWN:
		break;
	}
	return MEDSUP_NOTHING;
}

enum medsup_action
medsup_restart(struct medsup *s, uint64_t now)
{
	s->nrecent = 0;
	if (medsup_alive(s)) {
		s->pending = MEDSUP_CAUSE_RESTART;
		return MEDSUP_KILL;
	}
	s->cause = MEDSUP_CAUSE_RESTART;
	return spawn(s, now);
}

enum medsup_action
medsup_kill(struct medsup *s, uint64_t now)
{
	(void)now;
	if (!medsup_alive(s))
		return MEDSUP_NOTHING;
	s->pending = MEDSUP_CAUSE_KILL;
	return MEDSUP_KILL;
}

int64_t
medsup_next_ms(const struct medsup *s, uint64_t now)
{
	uint64_t due;

	switch (s->state) {
	case MEDSUP_RUNNING:
		if (s->cfg.heartbeat_ms == 0)
			return -1;
		/* Look at the beat once per period. */
		return s->cfg.heartbeat_ms;
	case MEDSUP_STARTING:
		due = s->since + s->cfg.start_ms;
		break;
	case MEDSUP_BACKOFF:
		due = s->next_at;
		break;
	default:
		return -1;
	}
	return due > now ? (int64_t)(due - now) : 0;
}

const char *
medsup_state_name(enum medsup_state st)
{
	static const char *const names[] = {
		[MEDSUP_STARTING] = "starting", [MEDSUP_RUNNING] = "running",
		[MEDSUP_BACKOFF] = "backoff", [MEDSUP_DOWN] = "down",
	};

	return (unsigned)st < sizeof(names) / sizeof(names[0]) ?
	    names[st] : "?";
}

const char *
medsup_cause_name(enum medsup_cause c)
{
	static const char *const names[] = {
		[MEDSUP_CAUSE_NONE] = "none", [MEDSUP_CAUSE_EXIT] = "exited",
		[MEDSUP_CAUSE_HUNG] = "hung", [MEDSUP_CAUSE_START] =
		"did not start", [MEDSUP_CAUSE_KILL] = "killed by operator",
		[MEDSUP_CAUSE_RESTART] = "restarted by operator",
		[MEDSUP_CAUSE_STALL] = "vCPU stalled",
		[MEDSUP_CAUSE_LIMIT] = "restart limit",
	};

	return (unsigned)c < sizeof(names) / sizeof(names[0]) ?
	    names[c] : "?";
}
