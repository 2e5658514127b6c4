/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the files of the scenario parser share: the state of one load
 * and the helpers every check uses.  Only scenario*.c include this;
 * everyone else uses scenario.h.
 */
#ifndef CUPULE_SCENARIO_INT_H
#define CUPULE_SCENARIO_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libconfig.h>

#include "scenario.h"

#define KiB		(1ULL << 10)
#define MiB		(1ULL << 20)
#define GiB		(1ULL << 30)

struct blk_use;			/* scenario_dev.c */
struct net_use;			/* scenario_dev.c */

struct ctx {
	const char *path;	/* scenario path, as given */
	const char *dir;	/* its folder, absolute and normalized */
	FILE *errs;
	const struct sc_host *host;
	int nerrors;
	bool nomem;
	int nblk;
	struct blk_use *blk;	/* blk devices that passed their own checks */
	int nnet;
	struct net_use *net;	/* net devices, for the MAC check */
	struct medsup_cfg sup;	/* the top-level supervise keys */
};

/*
 * Writes "file:line: message" to c->errs, the place being that of
 * setting s (the top of the scenario when s is NULL or the root), and
 * counts one more error.
 */
void sc_report(struct ctx *c, const config_setting_t *s,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Writes n as "8G", "23.4G", "512M", "4K" or "100" into buf. */
void sc_fmt_size(uint64_t n, char *buf, size_t len);

/*
 * Returns dir/p (or p if it is absolute) with "//", "." and ".."
 * removed without looking at the file system, or NULL when out of
 * memory.  The caller frees it.
 */
char *sc_path_resolve(const char *dir, const char *p);

/*
 * Returns the absolute folder holding the scenario at path, or NULL
 * when the working folder or memory is unavailable.  The caller frees it.
 */
char *sc_scenario_dir(const char *path);

/* Returns whether s is a valid VM or device name: 1-31 of A-Z a-z 0-9 _ -. */
bool sc_valid_name(const char *s);

/* Returns whether s holds an integer (32 or 64 bits). */
bool sc_is_int(const config_setting_t *s);

/*
 * Looks up key in g as a string into *val.  Returns the setting, or
 * NULL when it is absent or (after reporting it) not a string.
 */
config_setting_t *sc_get_string(struct ctx *c, config_setting_t *g,
    const char *key, const char **val);

/* Stores a strdup() of s in *dst; sets c->nomem when memory runs out. */
void sc_set_string(struct ctx *c, char **dst, const char *s);

/*
 * Checks the 'devices' list of VM group g (named vm in messages) into
 * cfg->devices and cfg->ndevices, reporting every problem; blk devices
 * without errors are added to c->blk for sc_check_blk_sharing().
 */
void sc_check_devices(struct ctx *c, config_setting_t *g, const char *vm,
    struct vm_cfg *cfg);

/*
 * Once every VM is read: reports blk devices of any VMs that share
 * sectors of one image unless both are read-only.
 */
void sc_check_blk_sharing(struct ctx *c);

/* Across every VM: reports net devices that share a MAC. */
void sc_check_net_macs(struct ctx *c);

/* scenario_sup.c: "supervise" over *out, "log", "control". */
void sc_check_supervise(struct ctx *c, config_setting_t *g,
    struct medsup_cfg *out);
void sc_check_log(struct ctx *c, config_setting_t *s, struct scenario *sc);
void sc_check_uid_base(struct ctx *c, config_setting_t *s,
    struct scenario *sc);
void sc_check_uid(struct ctx *c, config_setting_t *s, struct device_cfg *dev);
void sc_check_control(struct ctx *c, config_setting_t *g,
    struct scenario *sc);

#endif
