/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the supervision state machine (hypervisor/medsup.c):
 * restarts after a crash, the backoff between crashes close together,
 * the crash-loop limit and its window, hangs (no heartbeat), a start
 * that never says READY, stalled vCPUs, and the operator's kill and
 * restart.  Time is whatever the test says it is.
 */
#include <check.h>
#include <stdlib.h>

#include "medsup.h"

static const struct medsup_cfg cfg = {
	.heartbeat_ms = 100, .heartbeat_misses = 3, .start_ms = 500,
	.backoff_min_ms = 10, .backoff_max_ms = 80, .restart_limit = 5,
	.restart_window_ms = 10000, .stall_ms = 1000,
};

static struct medsup s;

/* Started and READY at t. */
static void
running(uint64_t t)
{
	medsup_init(&s, &cfg, t);
	medsup_ready(&s, t);
	ck_assert_int_eq(s.state, MEDSUP_RUNNING);
}

START_TEST(test_defaults_are_valid)
{
	const struct medsup_cfg d = MEDSUP_DEFAULTS;
	struct medsup_cfg bad = cfg;

	ck_assert_ptr_null(medsup_cfg_check(&d));
	ck_assert_ptr_null(medsup_cfg_check(&cfg));
	bad.backoff_min_ms = 100;
	ck_assert_ptr_nonnull(medsup_cfg_check(&bad));
	bad = cfg;
	bad.restart_limit = MEDSUP_MAX_LIMIT + 1;
	ck_assert_ptr_nonnull(medsup_cfg_check(&bad));
	bad = cfg;
	bad.heartbeat_misses = 0;
	ck_assert_ptr_nonnull(medsup_cfg_check(&bad));
	bad.heartbeat_ms = 0;		/* no heartbeat: misses unused */
	ck_assert_ptr_null(medsup_cfg_check(&bad));
	bad = cfg;
	bad.stall_ms = 0;
	ck_assert_ptr_nonnull(medsup_cfg_check(&bad));
}
END_TEST

START_TEST(test_first_crash_restarts_at_once)
{
	running(1000);
	ck_assert_int_eq(medsup_exited(&s, 5000, MEDSUP_CAUSE_EXIT),
	    MEDSUP_SPAWN);
	ck_assert_int_eq(s.state, MEDSUP_STARTING);
	ck_assert_uint_eq(s.restarts, 1);
	ck_assert_uint_eq(s.exits, 1);
	ck_assert_int_eq(s.cause, MEDSUP_CAUSE_EXIT);
	medsup_ready(&s, 5002);
	ck_assert_int_eq(s.state, MEDSUP_RUNNING);
}
END_TEST

START_TEST(test_backoff_doubles_up_to_max)
{
	static const uint64_t want[] = { 10, 20, 40, 80 };
	uint64_t t = 1000;

	running(t);
	ck_assert_int_eq(medsup_exited(&s, t, MEDSUP_CAUSE_EXIT),
	    MEDSUP_SPAWN);
	for (unsigned i = 0; i < 4; i++) {
		medsup_ready(&s, ++t);
		ck_assert_int_eq(medsup_exited(&s, t, MEDSUP_CAUSE_EXIT),
		    MEDSUP_NOTHING);
		ck_assert_int_eq(s.state, MEDSUP_BACKOFF);
		ck_assert_uint_eq(s.next_at - t, want[i]);
		ck_assert_int_eq(medsup_next_ms(&s, t), (int64_t)want[i]);
		/* Not a millisecond early. */
		ck_assert_int_eq(medsup_tick(&s, t + want[i] - 1, 0, 0),
		    MEDSUP_NOTHING);
		t += want[i];
		ck_assert_int_eq(medsup_tick(&s, t, 0, 0), MEDSUP_SPAWN);
		ck_assert_int_eq(s.state, MEDSUP_STARTING);
	}
	ck_assert_uint_eq(s.restarts, 5);
}
END_TEST

START_TEST(test_crash_loop_goes_down)
{
	uint64_t t = 1000;
	enum medsup_action a = MEDSUP_NOTHING;
	int spawns = 0;

	running(t);
	/* limit 5: the sixth exit within the window is one too many. */
	for (int i = 0; i < 6; i++) {
		a = medsup_exited(&s, t, MEDSUP_CAUSE_EXIT);
		if (a == MEDSUP_NOTHING) {
			t = s.next_at;
			a = medsup_tick(&s, t, 0, 0);
		}
		if (i < 5) {
			ck_assert_int_eq(a, MEDSUP_SPAWN);
			spawns++;
			medsup_ready(&s, t);
		}
	}
	ck_assert_int_eq(spawns, 5);
	ck_assert_int_eq(a, MEDSUP_MARK_DOWN);
	ck_assert_int_eq(s.state, MEDSUP_DOWN);
	ck_assert_int_eq(s.cause, MEDSUP_CAUSE_LIMIT);
	/* Down stays down: no tick, no exit report brings it back. */
	ck_assert_int_eq(medsup_tick(&s, t + 100000, 0, t), MEDSUP_NOTHING);
	ck_assert_int_eq(medsup_exited(&s, t + 1, MEDSUP_CAUSE_EXIT),
	    MEDSUP_NOTHING);
	ck_assert_int_eq(medsup_next_ms(&s, t), -1);
	/* Until the operator says so, with the history forgotten. */
	ck_assert_int_eq(medsup_restart(&s, t + 2), MEDSUP_SPAWN);
	ck_assert_int_eq(s.state, MEDSUP_STARTING);
	medsup_ready(&s, t + 3);
	ck_assert_int_eq(medsup_exited(&s, t + 4, MEDSUP_CAUSE_EXIT),
	    MEDSUP_SPAWN);
}
END_TEST

START_TEST(test_window_forgets_old_crashes)
{
	uint64_t t = 1000;

	running(t);
	/* One crash every 3 s with a 10 s window never reaches 6. */
	for (int i = 0; i < 50; i++) {
		enum medsup_action a = medsup_exited(&s, t, MEDSUP_CAUSE_EXIT);

		if (a == MEDSUP_NOTHING)
			a = medsup_tick(&s, s.next_at, 0, 0);
		ck_assert_int_eq(a, MEDSUP_SPAWN);
		ck_assert_uint_le(s.nrecent, 4);
		medsup_ready(&s, t + 1);
		t += 3000;
	}
	ck_assert_int_eq(s.state, MEDSUP_RUNNING);
	ck_assert_uint_eq(s.exits, 50);
}
END_TEST

START_TEST(test_hung_is_killed_and_restarted)
{
	uint64_t t = 1000;

	running(t);
	/* Beats keep it alive however long it runs. */
	for (uint64_t b = 1; b <= 100; b++) {
		t += 100;
		ck_assert_int_eq(medsup_tick(&s, t, b, 0), MEDSUP_NOTHING);
	}
	/* Three periods without a beat: hung. */
	ck_assert_int_eq(medsup_tick(&s, t + 299, 100, 0), MEDSUP_NOTHING);
	ck_assert_int_eq(medsup_tick(&s, t + 300, 100, 0), MEDSUP_KILL);
	/* Asked once; the kill is under way. */
	ck_assert_int_eq(medsup_tick(&s, t + 400, 100, 0), MEDSUP_NOTHING);
	ck_assert_int_eq(medsup_exited(&s, t + 401, MEDSUP_CAUSE_EXIT),
	    MEDSUP_SPAWN);
	ck_assert_int_eq(s.cause, MEDSUP_CAUSE_HUNG);
}
END_TEST

START_TEST(test_no_heartbeat_configured)
{
	struct medsup_cfg c = cfg;

	c.heartbeat_ms = 0;
	medsup_init(&s, &c, 0);
	medsup_ready(&s, 0);
	ck_assert_int_eq(medsup_tick(&s, 1000000, 0, 0), MEDSUP_NOTHING);
	ck_assert_int_eq(medsup_next_ms(&s, 0), -1);
}
END_TEST

START_TEST(test_start_deadline)
{
	medsup_init(&s, &cfg, 1000);
	ck_assert_int_eq(medsup_next_ms(&s, 1100), 400);
	ck_assert_int_eq(medsup_tick(&s, 1499, 0, 0), MEDSUP_NOTHING);
	ck_assert_int_eq(medsup_tick(&s, 1500, 0, 0), MEDSUP_KILL);
	ck_assert_int_eq(medsup_exited(&s, 1501, MEDSUP_CAUSE_EXIT),
	    MEDSUP_SPAWN);
	ck_assert_int_eq(s.cause, MEDSUP_CAUSE_START);
	/* A READY that comes late, after the process was replaced, is the
	 * new process's. */
	medsup_ready(&s, 1600);
	ck_assert_int_eq(s.state, MEDSUP_RUNNING);
}
END_TEST

START_TEST(test_stall_while_dead_goes_down)
{
	uint64_t t = 1000;

	running(t);
	medsup_exited(&s, t, MEDSUP_CAUSE_EXIT);	/* spawn */
	medsup_ready(&s, t);
	ck_assert_int_eq(medsup_exited(&s, t, MEDSUP_CAUSE_EXIT),
	    MEDSUP_NOTHING);			/* backoff 10 ms */
	/* A vCPU has waited since t - 995: not yet 1000 ms. */
	ck_assert_int_eq(medsup_tick(&s, t + 4, 0, t - 995),
	    MEDSUP_NOTHING);
	ck_assert_int_eq(medsup_tick(&s, t + 5, 0, t - 995),
	    MEDSUP_MARK_DOWN);
	ck_assert_int_eq(s.state, MEDSUP_DOWN);
	ck_assert_int_eq(s.cause, MEDSUP_CAUSE_STALL);
}
END_TEST

START_TEST(test_stall_while_starting_goes_down)
{
	medsup_init(&s, &cfg, 1000);
	ck_assert_int_eq(medsup_tick(&s, 1100, 0, 1000), MEDSUP_NOTHING);
	ck_assert_int_eq(medsup_tick(&s, 2000, 0, 1000), MEDSUP_MARK_DOWN);
	ck_assert_int_eq(s.state, MEDSUP_DOWN);
}
END_TEST

START_TEST(test_stall_while_running_restarts)
{
	running(1000);
	/* Beating, but a ring request has waited a second: restart. */
	ck_assert_int_eq(medsup_tick(&s, 2100, 1, 1100), MEDSUP_KILL);
	ck_assert_int_eq(medsup_exited(&s, 2101, MEDSUP_CAUSE_EXIT),
	    MEDSUP_SPAWN);
	ck_assert_int_eq(s.cause, MEDSUP_CAUSE_STALL);
}
END_TEST

START_TEST(test_operator_restart_does_not_count)
{
	uint64_t t = 1000;

	running(t);
	for (int i = 0; i < 20; i++) {
		ck_assert_int_eq(medsup_restart(&s, t), MEDSUP_KILL);
		ck_assert_int_eq(medsup_exited(&s, t, MEDSUP_CAUSE_EXIT),
		    MEDSUP_SPAWN);
		ck_assert_int_eq(s.cause, MEDSUP_CAUSE_RESTART);
		medsup_ready(&s, t);
	}
	ck_assert_uint_eq(s.exits, 0);
	ck_assert_uint_eq(s.restarts, 20);
}
END_TEST

START_TEST(test_operator_kill_counts)
{
	uint64_t t = 1000;

	running(t);
	ck_assert_int_eq(medsup_kill(&s, t), MEDSUP_KILL);
	ck_assert_int_eq(medsup_exited(&s, t, MEDSUP_CAUSE_EXIT),
	    MEDSUP_SPAWN);
	ck_assert_int_eq(s.cause, MEDSUP_CAUSE_KILL);
	ck_assert_uint_eq(s.exits, 1);
	/* Nothing to kill while it waits out a backoff. */
	medsup_ready(&s, t);
	ck_assert_int_eq(medsup_exited(&s, t, MEDSUP_CAUSE_EXIT),
	    MEDSUP_NOTHING);
	ck_assert_int_eq(medsup_kill(&s, t), MEDSUP_NOTHING);
	/* Restart skips the wait. */
	ck_assert_int_eq(medsup_restart(&s, t), MEDSUP_SPAWN);
}
END_TEST

START_TEST(test_clock_going_nowhere)
{
	/* Many exits in the same millisecond: no division, no overflow. */
	running(0);
	for (int i = 0; i < 100 && s.state != MEDSUP_DOWN; i++) {
		if (medsup_exited(&s, 0, MEDSUP_CAUSE_EXIT) == MEDSUP_NOTHING)
			medsup_tick(&s, s.next_at, 0, 0);
		if (s.state == MEDSUP_STARTING)
			medsup_ready(&s, 0);
	}
	ck_assert_int_eq(s.state, MEDSUP_DOWN);
	ck_assert_uint_eq(s.exits, cfg.restart_limit + 1);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(medsup_state_name(MEDSUP_DOWN), "down");
	ck_assert_str_eq(medsup_state_name((enum medsup_state)99), "?");
	ck_assert_str_eq(medsup_cause_name(MEDSUP_CAUSE_HUNG), "hung");
	ck_assert_str_eq(medsup_cause_name((enum medsup_cause)99), "?");
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("medsup");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_defaults_are_valid);
	tcase_add_test(tc, test_first_crash_restarts_at_once);
	tcase_add_test(tc, test_backoff_doubles_up_to_max);
	tcase_add_test(tc, test_crash_loop_goes_down);
	tcase_add_test(tc, test_window_forgets_old_crashes);
	tcase_add_test(tc, test_hung_is_killed_and_restarted);
	tcase_add_test(tc, test_no_heartbeat_configured);
	tcase_add_test(tc, test_start_deadline);
	tcase_add_test(tc, test_stall_while_dead_goes_down);
	tcase_add_test(tc, test_stall_while_starting_goes_down);
	tcase_add_test(tc, test_stall_while_running_restarts);
	tcase_add_test(tc, test_operator_restart_does_not_count);
	tcase_add_test(tc, test_operator_kill_counts);
	tcase_add_test(tc, test_clock_going_nowhere);
	tcase_add_test(tc, test_names);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
