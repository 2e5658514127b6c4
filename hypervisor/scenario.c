/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Scenario file parser.  libconfig does the syntax; this file checks
 * the top level and every VM setting, resolves paths against the
 * scenario's folder and reports every problem it finds as
 * "path:line: message", so that one run of "cupule check" shows them
 * all.  Devices are checked in scenario_dev.c, the helpers shared by
 * both are in scenario_util.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "scenario_int.h"

#define MEM_MIN		(16 * MiB)
#define MEM_ALIGN	(2 * MiB)
#define DEFAULT_CMDLINE	"console=ttyS0"

static const char *const vm_keys[] = {
	"name", "memory", "vcpus", "cpus", "kernel", "initrd", "cmdline",
	"console", "on_reboot", "devices", NULL,
};

static void
check_memory(struct ctx *c, config_setting_t *g, const char *vm,
    struct vm_cfg *cfg)
{
	config_setting_t *s = config_setting_get_member(g, "memory");
	char shown[32], host[32];
	const char *text;
	uint64_t n;

	if (!s) {
		sc_report(c, g, "missing 'memory' in vm %s", vm);
		return;
	}
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		text = config_setting_get_string(s);
		if (parse_size(text, &n) < 0) {
			sc_report(c, s, "memory '%s' is not a size such as "
			    "\"256M\" or \"1G\"", text);
			return;
		}
	} else if (sc_is_int(s)) {
		long long v = config_setting_get_int64(s);

		if (v < 0) {
			sc_report(c, s, "memory %lld is not a size", v);
			return;
		}
		n = (uint64_t)v;
		snprintf(shown, sizeof(shown), "%llu", (unsigned long long)n);
		text = shown;
	} else {
		sc_report(c, s, "'memory' must be a string such as \"256M\" "
		    "or an integer number of bytes");
		return;
	}
	if (n < MEM_MIN)
		sc_report(c, s, "memory %s is less than the minimum of 16M",
		    text);
	else if (n % MEM_ALIGN)
		sc_report(c, s, "memory %s is not a multiple of 2M", text);
	else if (n > c->host->memory) {
		sc_fmt_size(c->host->memory, host, sizeof(host));
		sc_report(c, s, "memory %s is larger than this host's %s",
		    text, host);
	} else
		cfg->memory = n;
}

static void
check_cpus(struct ctx *c, config_setting_t *g, struct vm_cfg *cfg,
    bool vcpus_ok)
{
	config_setting_t *s = config_setting_get_member(g, "cpus");
	int i, n;

	if (!s)
		return;
	if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(s) != CONFIG_TYPE_LIST) {
		sc_report(c, s, "'cpus' must be an array of integers");
		return;
	}
	n = config_setting_length(s);
	if (vcpus_ok && n != cfg->vcpus)
		sc_report(c, s, "cpus has %d entries but vcpus = %d", n,
		    cfg->vcpus);
	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, i);
		long long cpu;

		if (!sc_is_int(e)) {
			sc_report(c, e, "cpus[%d] must be an integer", i);
			continue;
		}
		cpu = config_setting_get_int64(e);
		if (cpu < 0 || cpu >= c->host->ncpus) {
			sc_report(c, e, "cpus[%d] = %lld: this host has no "
			    "CPU %lld", i, cpu, cpu);
			continue;
		}
		if (i < SC_MAX_VCPUS)
			cfg->cpus[i] = (int)cpu;
	}
	if (vcpus_ok && n == cfg->vcpus)
		cfg->ncpus = n;
}

/* Resolves, checks and stores the kernel or initrd file named by key. */
static void
check_file(struct ctx *c, config_setting_t *g, const char *key,
    const char *vm, bool required, char **dst)
{
	const char *val;
	config_setting_t *s = sc_get_string(c, g, key, &val);
	struct stat st;
	char *abs;

	if (!s) {
		if (required && !config_setting_get_member(g, key))
			sc_report(c, g, "missing '%s' in vm %s", key, vm);
		return;
	}
	if (val[0] == '\0') {
		sc_report(c, s, "'%s' is empty", key);
		return;
	}
	abs = sc_path_resolve(c->dir, val);
	if (!abs) {
		c->nomem = true;
		return;
	}
	if (stat(abs, &st) < 0 || access(abs, R_OK) < 0)
		sc_report(c, s, "%s '%s': %s", key, abs, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		sc_report(c, s, "%s '%s': not a regular file", key, abs);
	else {
		*dst = abs;
		return;
	}
	free(abs);
}

static void
check_console(struct ctx *c, config_setting_t *g, struct vm_cfg *cfg)
{
	const char *val, *p;
	config_setting_t *s = sc_get_string(c, g, "console", &val);
	struct sockaddr_un sun;
	struct stat st;
	char *abs, *slash;

	cfg->console = CONSOLE_STDIO;
	if (!s)
		return;
	if (strcmp(val, "stdio") == 0)
		return;
	if (strcmp(val, "pty") == 0) {
		cfg->console = CONSOLE_PTY;
		return;
	}
	if (strncmp(val, "file:", 5) == 0) {
		cfg->console = CONSOLE_FILE;
		p = val + 5;
	} else if (strncmp(val, "socket:", 7) == 0) {
		cfg->console = CONSOLE_SOCKET;
		p = val + 7;
	} else {
		sc_report(c, s, "console '%s' is not stdio, pty, file:PATH or "
		    "socket:PATH", val);
		return;
	}
	if (*p == '\0') {
		sc_report(c, s, "console '%s' has no path", val);
		return;
	}
	abs = sc_path_resolve(c->dir, p);
	if (!abs) {
		c->nomem = true;
		return;
	}
	if (cfg->console == CONSOLE_SOCKET &&
	    strlen(abs) >= sizeof(sun.sun_path)) {
		sc_report(c, s, "console socket '%s' is longer than %zu bytes",
		    abs, sizeof(sun.sun_path) - 1);
		free(abs);
		return;
	}
	/* The file or socket is made at start; its folder must exist now. */
	slash = strrchr(abs, '/');
	*slash = '\0';
	if (stat(abs[0] ? abs : "/", &st) < 0)
		sc_report(c, s, "console '%s': folder '%s': %s", val, abs,
		    strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		sc_report(c, s, "console '%s': '%s' is not a folder", val, abs);
	else {
		*slash = '/';
		cfg->console_path = abs;
		return;
	}
	free(abs);
}

static void
check_vm(struct ctx *c, config_setting_t *g, int index, struct vm_cfg *vms)
{
	struct vm_cfg *cfg = &vms[index];
	config_setting_t *s;
	const char *val;
	char vm[SC_NAME_MAX + 16];
	bool vcpus_ok = true;
	int i, j;

	cfg->line = config_setting_source_line(g);
	cfg->vcpus = 1;
	snprintf(vm, sizeof(vm), "#%d", index + 1);

	if ((s = sc_get_string(c, g, "name", &val))) {
		if (!sc_valid_name(val))
			sc_report(c, s, "vm name '%s' must be 1-31 characters "
			    "of A-Z a-z 0-9 _ -", val);
		else {
			for (j = 0; j < index; j++) {
				if (strcmp(vms[j].name, val) == 0)
					break;
			}
			if (j < index)
				sc_report(c, s, "duplicate vm name '%s' (first "
				    "at line %d)", val, vms[j].line);
			else
				snprintf(cfg->name, sizeof(cfg->name), "%s",
				    val);
			snprintf(vm, sizeof(vm), "'%s'", val);
		}
	} else if (!config_setting_get_member(g, "name"))
		sc_report(c, g, "missing 'name' in vm %s", vm);

	for (i = 0; i < config_setting_length(g); i++) {
		const char *key = config_setting_name(
		    config_setting_get_elem(g, i));

		for (j = 0; vm_keys[j]; j++) {
			if (strcmp(key, vm_keys[j]) == 0)
				break;
		}
		if (!vm_keys[j])
			sc_report(c, config_setting_get_elem(g, i),
			    "unknown key '%s' in vm %s", key, vm);
	}

	check_memory(c, g, vm, cfg);

	if ((s = config_setting_get_member(g, "vcpus"))) {
		long long n = sc_is_int(s) ? config_setting_get_int64(s) : 0;

		vcpus_ok = false;
		if (!sc_is_int(s))
			sc_report(c, s, "'vcpus' must be an integer");
		else if (n < 1 || n > SC_MAX_VCPUS)
			sc_report(c, s, "vcpus = %lld is out of range "
			    "(1 to %d)", n, SC_MAX_VCPUS);
		else {
			cfg->vcpus = (int)n;
			vcpus_ok = true;
		}
	}
	check_cpus(c, g, cfg, vcpus_ok);

	check_file(c, g, "kernel", vm, true, &cfg->kernel);
	check_file(c, g, "initrd", vm, false, &cfg->initrd);

	val = DEFAULT_CMDLINE;
	sc_get_string(c, g, "cmdline", &val);
	sc_set_string(c, &cfg->cmdline, val);

	check_console(c, g, cfg);

	cfg->on_reboot = REBOOT_EXIT;
	if ((s = sc_get_string(c, g, "on_reboot", &val))) {
		if (strcmp(val, "restart") == 0)
			cfg->on_reboot = REBOOT_RESTART;
		else if (strcmp(val, "exit") != 0)
			sc_report(c, s, "on_reboot '%s' is not exit or restart",
			    val);
	}

	sc_check_devices(c, g, vm, cfg);
}

static void
vm_free(struct vm_cfg *cfg)
{
	int i;

	for (i = 0; i < cfg->ndevices; i++)
		free(cfg->devices[i].image);
	free(cfg->kernel);
	free(cfg->initrd);
	free(cfg->cmdline);
	free(cfg->console_path);
	free(cfg->devices);
	memset(cfg, 0, sizeof(*cfg));
}

/* Checks the root of a parsed scenario into sc; returns 0 or -errno. */
static int
check_root(struct ctx *c, config_t *cfg, struct scenario *sc)
{
	config_setting_t *root = config_root_setting(cfg), *vms = NULL;
	struct vm_cfg *list;
	int i, n;

	for (i = 0; i < config_setting_length(root); i++) {
		config_setting_t *s = config_setting_get_elem(root, i);
		const char *name = config_setting_name(s);

		/* supervise first: every device starts from it. */
		if (strcmp(name, "vms") == 0)
			vms = s;
		else if (strcmp(name, "supervise") == 0)
			sc_check_supervise(c, s, &c->sup);
		else if (strcmp(name, "log") == 0)
			sc_check_log(c, s, sc);
		else if (strcmp(name, "control") == 0)
			sc_check_control(c, s, sc);
		else if (strcmp(name, "uid_base") == 0)
			sc_check_uid_base(c, s, sc);
		else
			sc_report(c, s, "unknown key '%s'",
			    config_setting_name(s));
	}
	if (!vms) {
		sc_report(c, root, "no 'vms' list");
		return -EINVAL;
	}
	/* An empty array "[]" is also an empty list. */
	if (config_setting_type(vms) != CONFIG_TYPE_LIST &&
	    config_setting_type(vms) != CONFIG_TYPE_ARRAY) {
		sc_report(c, vms, "'vms' must be a list of groups");
		return -EINVAL;
	}
	n = config_setting_length(vms);
	if (n == 0) {
		sc_report(c, vms, "'vms' has no VM");
		return -EINVAL;
	}
	list = calloc((size_t)n, sizeof(*list));
	if (!list)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(vms, i);

		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			sc_report(c, g, "vms[%d] must be a group", i);
			continue;
		}
		check_vm(c, g, i, list);
	}
	sc_check_blk_sharing(c);
	sc_check_net_macs(c);
	if (c->nerrors || c->nomem) {
		for (i = 0; i < n; i++)
			vm_free(&list[i]);
		free(list);
		return c->nomem ? -ENOMEM : -EINVAL;
	}
	sc->vms = list;
	sc->nvms = n;
	/* One uid per mediator, stable across restarts and --vm runs. */
	for (i = 0, n = 1; i < sc->nvms; i++)
		for (int j = 0; j < sc->vms[i].ndevices; j++, n++)
			if (sc->vms[i].devices[j].uid == 0)
				sc->vms[i].devices[j].uid = sc->uid_base +
				    (uint32_t)n;
	return 0;
}

/*
 * Reads path and checks it against host.  Returns 0, -EINVAL after
 * reporting every error, or -errno when the file cannot be read.
 */
int
scenario_load_host(const char *path, struct scenario *sc, FILE *errs,
    const struct sc_host *host)
{
	struct ctx c = { .path = path, .errs = errs, .host = host,
	    .sup = MEDSUP_DEFAULTS };
	struct stat st;
	config_t cfg;
	char *dir;
	FILE *fp;
	int err;

	memset(sc, 0, sizeof(*sc));
	sc->control_gid = -1;
	sc->uid_base = SC_UID_BASE;
	fp = fopen(path, "r");
	if (!fp || fstat(fileno(fp), &st) < 0) {
		err = errno;
		fprintf(errs, "%s: %s\n", path, strerror(err));
		if (fp)
			fclose(fp);
		return -err;
	}
	if (S_ISDIR(st.st_mode)) {
		fprintf(errs, "%s: %s\n", path, strerror(EISDIR));
		fclose(fp);
		return -EISDIR;
	}
	dir = sc_scenario_dir(path);
	if (!dir) {
		err = errno ? errno : ENOMEM;
		fprintf(errs, "%s: %s\n", path, strerror(err));
		fclose(fp);
		return -err;
	}
	c.dir = dir;

	config_init(&cfg);
	/* @include is relative to the scenario too, not to the caller. */
	config_set_include_dir(&cfg, dir);
	if (!config_read(&cfg, fp)) {
		fprintf(errs, "%s:%d: syntax error: %s\n",
		    config_error_file(&cfg) ? config_error_file(&cfg) : path,
		    config_error_line(&cfg), config_error_text(&cfg));
		err = -EINVAL;
	} else
		err = check_root(&c, &cfg, sc);
	config_destroy(&cfg);
	fclose(fp);
	free(dir);
	free(c.blk);
	free(c.net);
	if (err == 0) {
		sc->path = strdup(path);
		if (!sc->path) {
			scenario_free(sc);
			err = -ENOMEM;
		}
	}
	return err;
}

/* scenario_load_host() against the machine cupule runs on. */
int
scenario_load(const char *path, struct scenario *sc, FILE *errs)
{
	struct sc_host host;

	scenario_host_probe(&host);
	return scenario_load_host(path, sc, errs, &host);
}

static const char *
console_name(enum console_kind k)
{
	switch (k) {
	case CONSOLE_STDIO:
		return "stdio";
	case CONSOLE_PTY:
		return "pty";
	case CONSOLE_FILE:
		return "file";
	case CONSOLE_SOCKET:
		return "socket";
	}
	return "?";
}

/* Supervision, when it is not the default. */
static void
print_supervise(const struct medsup_cfg *s, FILE *out)
{
	const struct medsup_cfg def = MEDSUP_DEFAULTS;

	if (memcmp(s, &def, sizeof(def)) == 0)
		return;
	fprintf(out, "    supervise heartbeat %ums x%u, start %ums, backoff "
	    "%u-%ums, limit %u in %ums, stall %ums\n", s->heartbeat_ms,
	    s->heartbeat_misses, s->start_ms, s->backoff_min_ms,
	    s->backoff_max_ms, s->restart_limit, s->restart_window_ms,
	    s->stall_ms);
}

/* A device line, then the keys of its type, indented under it. */
static void
print_device(const struct device_cfg *d, FILE *out)
{
	fprintf(out, "  device     %s (%s)\n", d->id, d->type);
	print_supervise(&d->supervise, out);
	if (strcmp(d->type, "net") == 0) {
		fprintf(out, "    mac      %02x:%02x:%02x:%02x:%02x:%02x\n",
		    d->mac[0], d->mac[1], d->mac[2], d->mac[3], d->mac[4],
		    d->mac[5]);
		fprintf(out, "    backend  %s:%s\n", d->backend ==
		    NET_BACKEND_TAP ? "tap" : "switch", d->backend_name);
		return;
	}
	if (strcmp(d->type, "blk") != 0)
		return;
	fprintf(out, "    image    %s (%llu sector%s)\n", d->image,
	    (unsigned long long)d->image_sectors,
	    d->image_sectors == 1 ? "" : "s");
	if (d->range_sectors == 0)
		fprintf(out, "    range    whole image\n");
	else
		fprintf(out, "    range    %llu/%llu\n",
		    (unsigned long long)d->range_start,
		    (unsigned long long)d->range_sectors);
	fprintf(out, "    readonly %s\n", d->readonly ? "yes" : "no");
	fprintf(out, "    serial   \"%s\"\n", d->serial);
}

/*
 * One block per VM, one setting per line, paths absolute: the same
 * input always prints the same text, so tests compare it whole.
 */
void
scenario_print(const struct scenario *sc, FILE *out)
{
	bool top = false;
	int i, j;

	/* The top-level keys, when they are not the defaults. */
	if (sc->log_syslog)
		top = fprintf(out, "log        syslog\n") > 0;
	if (sc->control_socket[0] != '\0')
		top = fprintf(out, "control    socket %s\n",
		    sc->control_socket) > 0;
	if (sc->control_gid >= 0)
		top = fprintf(out, "control    group %d\n", sc->control_gid) > 0;
	if (sc->uid_base != SC_UID_BASE)
		top = fprintf(out, "uid_base   %u\n", sc->uid_base) > 0;
	for (i = 0; i < sc->nvms; i++) {
		const struct vm_cfg *vm = &sc->vms[i];

		if (i > 0 || top)
			fputc('\n', out);
		fprintf(out, "vm %s\n", vm->name);
		fprintf(out, "  memory     %llu MiB\n",
		    (unsigned long long)(vm->memory / MiB));
		fprintf(out, "  vcpus      %d\n", vm->vcpus);
		fprintf(out, "  pinning   ");
		if (vm->ncpus == 0)
			fprintf(out, " none");
		for (j = 0; j < vm->ncpus; j++)
			fprintf(out, " vcpu%d:cpu%d", j, vm->cpus[j]);
		fputc('\n', out);
		fprintf(out, "  kernel     %s\n", vm->kernel);
		fprintf(out, "  initrd     %s\n",
		    vm->initrd ? vm->initrd : "none");
		fprintf(out, "  cmdline    \"%s\"\n", vm->cmdline);
		if (vm->console_path)
			fprintf(out, "  console    %s:%s\n",
			    console_name(vm->console), vm->console_path);
		else
			fprintf(out, "  console    %s\n",
			    console_name(vm->console));
		fprintf(out, "  on_reboot  %s\n",
		    vm->on_reboot == REBOOT_RESTART ? "restart" : "exit");
		if (vm->ndevices == 0)
			fprintf(out, "  devices    none\n");
		for (j = 0; j < vm->ndevices; j++)
			print_device(&vm->devices[j], out);
	}
}

/* Returns the VM called name, or NULL. */
const struct vm_cfg *
scenario_find(const struct scenario *sc, const char *name)
{
	int i;

	for (i = 0; i < sc->nvms; i++) {
		if (strcmp(sc->vms[i].name, name) == 0)
			return &sc->vms[i];
	}
	return NULL;
}

/* Frees everything in sc and zeroes it. */
void
scenario_free(struct scenario *sc)
{
	int i;

	for (i = 0; i < sc->nvms; i++)
		vm_free(&sc->vms[i]);
	free(sc->vms);
	free(sc->path);
	memset(sc, 0, sizeof(*sc));
}
