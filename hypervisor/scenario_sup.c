/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The scenario's supervision keys: "supervise" groups (at the top for
 * every device, inside a device for that one), "log" and "control".
 */
#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>

#include "scenario_int.h"

struct sup_key {
	const char *name;
	size_t off;
	uint32_t min, max;
};

#define K(f, lo, hi) { #f, offsetof(struct medsup_cfg, f), lo, hi }
static const struct sup_key sup_keys[] = {
	K(heartbeat_ms, 0, 3600000),
	K(heartbeat_misses, 1, 1000),
	K(start_ms, 1, 3600000),
	K(backoff_min_ms, 0, 3600000),
	K(backoff_max_ms, 0, 3600000),
	K(restart_limit, 0, MEDSUP_MAX_LIMIT),
	K(restart_window_ms, 1, 86400000),
	K(stall_ms, 1, 3600000),
};
#undef K

/* Reads group g over *out, which holds the defaults to override. */
void
sc_check_supervise(struct ctx *c, config_setting_t *g, struct medsup_cfg *out)
{
	const char *why;
	int before = c->nerrors;

	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		sc_report(c, g, "'supervise' must be a group such as "
		    "{ restart_limit = 5; }");
		return;
	}
	for (int i = 0; i < config_setting_length(g); i++) {
		config_setting_t *s = config_setting_get_elem(g, i);
		const char *name = config_setting_name(s);
		const struct sup_key *k = NULL;
		long long v;

		for (size_t j = 0; j < sizeof(sup_keys) / sizeof(sup_keys[0]);
		    j++)
			if (strcmp(name, sup_keys[j].name) == 0)
				k = &sup_keys[j];
		if (k == NULL) {
			sc_report(c, s, "unknown key '%s' in supervise", name);
			continue;
		}
		if (!sc_is_int(s)) {
			sc_report(c, s, "supervise %s must be an integer",
			    name);
			continue;
		}
		v = config_setting_get_int64(s);
		if (v < k->min || v > k->max) {
			sc_report(c, s, "supervise %s = %lld is out of range "
			    "(%u-%u)", name, v, k->min, k->max);
			continue;
		}
		*(uint32_t *)(void *)((char *)out + k->off) = (uint32_t)v;
	}
	if (c->nerrors == before && (why = medsup_cfg_check(out)) != NULL)
		sc_report(c, g, "supervise: %s", why);
}

/*
 * libconfig reads a plain integer as 32 bits, wrapped: 3000000000 comes
 * back negative.  What to add to an out-of-range message then.
 */
static const char *
wrap_hint(config_setting_t *s, long long v)
{
	return config_setting_type(s) == CONFIG_TYPE_INT && v < 0 ?
	    "; a number above 2147483647 needs an L suffix, as in "
	    "3000000000L" : "";
}

/*
 * uid_base: mediators run as uid_base + 1, + 2, ... (one per device),
 * switches from uid_base + SC_UID_SWITCH; none of them may be root or
 * wrap around.
 */
void
sc_check_uid_base(struct ctx *c, config_setting_t *s, struct scenario *sc)
{
	long long v;

	if (!sc_is_int(s)) {
		sc_report(c, s, "uid_base must be an integer");
		return;
	}
	v = config_setting_get_int64(s);
	if (v < 1000 || v > 4294967295LL - 2 * SC_UID_SWITCH) {
		sc_report(c, s, "uid_base = %lld is out of range (1000-%lld)%s",
		    v, 4294967295LL - 2 * SC_UID_SWITCH, wrap_hint(s, v));
		return;
	}
	sc->uid_base = (uint32_t)v;
}

/*
 * A device's own uid (and gid), instead of the next one from uid_base:
 * for sites with a fixed uid map.  Two devices given the same one can
 * signal each other; the scenario allows it, cupulectl audit flags it.
 */
void
sc_check_uid(struct ctx *c, config_setting_t *s, struct device_cfg *dev)
{
	long long v;

	if (!sc_is_int(s)) {
		sc_report(c, s, "uid must be an integer");
		return;
	}
	v = config_setting_get_int64(s);
	if (v < 1 || v > 4294967294LL) {
		sc_report(c, s, "uid = %lld is out of range (1-4294967294: "
		    "never root)%s", v, wrap_hint(s, v));
		return;
	}
	dev->uid = (uint32_t)v;
}

/* "log" and "control" at the top of the scenario. */
void
sc_check_log(struct ctx *c, config_setting_t *s, struct scenario *sc)
{
	const char *v;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		sc_report(c, s, "'log' must be \"stderr\" or \"syslog\"");
		return;
	}
	v = config_setting_get_string(s);
	if (strcmp(v, "syslog") == 0)
		sc->log_syslog = true;
	else if (strcmp(v, "stderr") == 0)
		sc->log_syslog = false;
	else
		sc_report(c, s, "log '%s' is not stderr or syslog", v);
}

void
sc_check_control(struct ctx *c, config_setting_t *g, struct scenario *sc)
{
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		sc_report(c, g, "'control' must be a group such as "
		    "{ socket = \"/run/cupule/ivi.sock\"; group = \"cupule\"; }");
		return;
	}
	for (int i = 0; i < config_setting_length(g); i++) {
		config_setting_t *s = config_setting_get_elem(g, i);
		const char *name = config_setting_name(s), *v;

		if (config_setting_type(s) != CONFIG_TYPE_STRING) {
			sc_report(c, s, "control %s must be a string", name);
			continue;
		}
		v = config_setting_get_string(s);
		if (strcmp(name, "socket") == 0) {
			char *abs = sc_path_resolve(c->dir, v);

			if (abs == NULL) {
				c->nomem = true;
				continue;
			}
			if (strlen(abs) >= SC_SOCKET_MAX)
				sc_report(c, s, "control socket '%s' is longer "
				    "than %d bytes", abs, SC_SOCKET_MAX - 1);
			else
				snprintf(sc->control_socket,
				    sizeof(sc->control_socket), "%s", abs);
			free(abs);
		} else if (strcmp(name, "group") == 0) {
			struct group *gr = getgrnam(v);

			if (gr == NULL)
				sc_report(c, s, "control group '%s' does not "
				    "exist", v);
			else
				sc->control_gid = (int)gr->gr_gid;
		} else
			sc_report(c, s, "unknown key '%s' in control", name);
	}
}
