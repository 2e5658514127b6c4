/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Scenario file parser.  libconfig does the syntax; this file checks
 * every setting, resolves paths against the scenario's folder and
 * reports every problem it finds as "path:line: message", so that one
 * run of "cupule check" shows them all.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <libconfig.h>

#include "scenario.h"

#define KiB		(1ULL << 10)
#define MiB		(1ULL << 20)
#define GiB		(1ULL << 30)
#define MEM_MIN		(16 * MiB)
#define MEM_ALIGN	(2 * MiB)
#define DEFAULT_CMDLINE	"console=ttyS0"

/*
 * The one table of device types.  A type becomes usable when its
 * mediator is built: flip its flag and the rest of a device entry
 * (id, then the type's own keys) gets checked.
 */
static const struct {
	const char *type;
	bool built;
} device_types[] = {
	{ "blk", false },
	{ "net", false },
	{ "usb", false },
	{ "gpu", false },
};
#define NDEVICE_TYPES	(int)(sizeof(device_types) / sizeof(device_types[0]))

static const char *const vm_keys[] = {
	"name", "memory", "vcpus", "cpus", "kernel", "initrd", "cmdline",
	"console", "on_reboot", "devices", NULL,
};

struct ctx {
	const char *path;	/* scenario path, as given */
	const char *dir;	/* its folder, absolute and normalized */
	FILE *errs;
	const struct sc_host *host;
	int nerrors;
	bool nomem;
};

static void report(struct ctx *c, const config_setting_t *s,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
report(struct ctx *c, const config_setting_t *s, const char *fmt, ...)
{
	const char *file = NULL;
	int line = 0;
	va_list ap;

	if (s) {
		file = config_setting_source_file(s);
		line = config_setting_source_line(s);
	}
	/* The root setting has no line; point at the top of the file. */
	fprintf(c->errs, "%s:%d: ", file ? file : c->path, line ? line : 1);
	va_start(ap, fmt);
	vfprintf(c->errs, fmt, ap);
	va_end(ap);
	fputc('\n', c->errs);
	c->nerrors++;
}

/*
 * Sizes are parsed by hand: libconfig has integers but no unit
 * suffixes, and strtoull() accepts signs and blanks a size must not
 * have.
 */
int
parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	unsigned int shift = 0;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned int d = (unsigned int)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	switch (*p) {
	case '\0':
		break;
	case 'K': case 'k':
		shift = 10;
		p++;
		break;
	case 'M': case 'm':
		shift = 20;
		p++;
		break;
	case 'G': case 'g':
		shift = 30;
		p++;
		break;
	default:
		return -EINVAL;
	}
	if (*p != '\0' || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

/* Writes n as "8G", "23.4G", "512M", "4K" or "100". */
static void
fmt_size(uint64_t n, char *buf, size_t len)
{
	static const struct { uint64_t unit; char suffix; } units[] = {
		{ GiB, 'G' }, { MiB, 'M' }, { KiB, 'K' },
	};
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		uint64_t u = units[i].unit;

		if (n < u)
			continue;
		if (n % u == 0)
			snprintf(buf, len, "%llu%c",
			    (unsigned long long)(n / u), units[i].suffix);
		else
			snprintf(buf, len, "%.1f%c", (double)n / (double)u,
			    units[i].suffix);
		return;
	}
	snprintf(buf, len, "%llu", (unsigned long long)n);
}

/*
 * Returns dir/p (or p if it is absolute) with "//", "." and ".."
 * removed without looking at the file system, so the path stays the
 * one the user wrote rather than where its symbolic links lead.
 * Returns NULL when out of memory.
 */
static char *
path_resolve(const char *dir, const char *p)
{
	size_t dlen = (p[0] == '/' || !dir) ? 0 : strlen(dir);
	char *in, *out, *tok, *save = NULL;
	size_t olen = 0;

	in = malloc(dlen + strlen(p) + 2);
	out = malloc(dlen + strlen(p) + 2);
	if (!in || !out) {
		free(in);
		free(out);
		return NULL;
	}
	if (dlen)
		sprintf(in, "%s/%s", dir, p);
	else
		strcpy(in, p);
	for (tok = strtok_r(in, "/", &save); tok;
	    tok = strtok_r(NULL, "/", &save)) {
		if (strcmp(tok, ".") == 0)
			continue;
		if (strcmp(tok, "..") == 0) {
			while (olen > 0 && out[olen - 1] != '/')
				olen--;
			if (olen > 0)
				olen--;
			continue;
		}
		out[olen++] = '/';
		strcpy(out + olen, tok);
		olen += strlen(tok);
	}
	if (olen == 0)
		out[olen++] = '/';
	out[olen] = '\0';
	free(in);
	return out;
}

/* Returns the absolute folder holding the scenario at path, or NULL. */
static char *
scenario_dir(const char *path)
{
	char cwd[PATH_MAX], *abs, *slash;

	if (path[0] != '/' && !getcwd(cwd, sizeof(cwd)))
		return NULL;
	abs = path_resolve(path[0] == '/' ? NULL : cwd, path);
	if (!abs)
		return NULL;
	/* The file itself was opened, so abs has a last component. */
	slash = strrchr(abs, '/');
	if (slash == abs)
		slash[1] = '\0';
	else
		*slash = '\0';
	return abs;
}

static bool
valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n >= SC_NAME_MAX)
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_-") == n;
}

static bool
is_int(const config_setting_t *s)
{
	return config_setting_type(s) == CONFIG_TYPE_INT ||
	    config_setting_type(s) == CONFIG_TYPE_INT64;
}

/*
 * Looks up key in g as a string.  Returns the setting, or NULL when it
 * is absent or (after reporting it) not a string.
 */
static config_setting_t *
get_string(struct ctx *c, config_setting_t *g, const char *key,
    const char **val)
{
	config_setting_t *s = config_setting_get_member(g, key);

	if (!s)
		return NULL;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		report(c, s, "'%s' must be a string", key);
		return NULL;
	}
	*val = config_setting_get_string(s);
	return s;
}

/* Stores a strdup() of s in *dst; notes when memory runs out. */
static void
set_string(struct ctx *c, char **dst, const char *s)
{
	free(*dst);
	*dst = s ? strdup(s) : NULL;
	if (s && !*dst)
		c->nomem = true;
}

static void
check_memory(struct ctx *c, config_setting_t *g, const char *vm,
    struct vm_cfg *cfg)
{
	config_setting_t *s = config_setting_get_member(g, "memory");
	char shown[32], host[32];
	const char *text;
	uint64_t n;

	if (!s) {
		report(c, g, "missing 'memory' in vm %s", vm);
		return;
	}
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		text = config_setting_get_string(s);
		if (parse_size(text, &n) < 0) {
			report(c, s, "memory '%s' is not a size such as "
			    "\"256M\" or \"1G\"", text);
			return;
		}
	} else if (is_int(s)) {
		long long v = config_setting_get_int64(s);

		if (v < 0) {
			report(c, s, "memory %lld is not a size", v);
			return;
		}
		n = (uint64_t)v;
		snprintf(shown, sizeof(shown), "%llu", (unsigned long long)n);
		text = shown;
	} else {
		report(c, s, "'memory' must be a string such as \"256M\" "
		    "or an integer number of bytes");
		return;
	}
	if (n < MEM_MIN)
		report(c, s, "memory %s is less than the minimum of 16M", text);
	else if (n % MEM_ALIGN)
		report(c, s, "memory %s is not a multiple of 2M", text);
	else if (n > c->host->memory) {
		fmt_size(c->host->memory, host, sizeof(host));
		report(c, s, "memory %s is larger than this host's %s",
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
		report(c, s, "'cpus' must be an array of integers");
		return;
	}
	n = config_setting_length(s);
	if (vcpus_ok && n != cfg->vcpus)
		report(c, s, "cpus has %d entries but vcpus = %d", n,
		    cfg->vcpus);
	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, i);
		long long cpu;

		if (!is_int(e)) {
			report(c, e, "cpus[%d] must be an integer", i);
			continue;
		}
		cpu = config_setting_get_int64(e);
		if (cpu < 0 || cpu >= c->host->ncpus) {
			report(c, e, "cpus[%d] = %lld: this host has no CPU %lld",
			    i, cpu, cpu);
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
	config_setting_t *s = get_string(c, g, key, &val);
	struct stat st;
	char *abs;

	if (!s) {
		if (required && !config_setting_get_member(g, key))
			report(c, g, "missing '%s' in vm %s", key, vm);
		return;
	}
	if (val[0] == '\0') {
		report(c, s, "'%s' is empty", key);
		return;
	}
	abs = path_resolve(c->dir, val);
	if (!abs) {
		c->nomem = true;
		return;
	}
	if (stat(abs, &st) < 0 || access(abs, R_OK) < 0)
		report(c, s, "%s '%s': %s", key, abs, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		report(c, s, "%s '%s': not a regular file", key, abs);
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
	config_setting_t *s = get_string(c, g, "console", &val);
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
		report(c, s, "console '%s' is not stdio, pty, file:PATH or "
		    "socket:PATH", val);
		return;
	}
	if (*p == '\0') {
		report(c, s, "console '%s' has no path", val);
		return;
	}
	abs = path_resolve(c->dir, p);
	if (!abs) {
		c->nomem = true;
		return;
	}
	if (cfg->console == CONSOLE_SOCKET &&
	    strlen(abs) >= sizeof(sun.sun_path)) {
		report(c, s, "console socket '%s' is longer than %zu bytes",
		    abs, sizeof(sun.sun_path) - 1);
		free(abs);
		return;
	}
	/* The file or socket is made at start; its folder must exist now. */
	slash = strrchr(abs, '/');
	*slash = '\0';
	if (stat(abs[0] ? abs : "/", &st) < 0)
		report(c, s, "console '%s': folder '%s': %s", val, abs,
		    strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		report(c, s, "console '%s': '%s' is not a folder", val, abs);
	else {
		*slash = '/';
		cfg->console_path = abs;
		return;
	}
	free(abs);
}

static void
check_devices(struct ctx *c, config_setting_t *g, const char *vm,
    struct vm_cfg *cfg)
{
	config_setting_t *s = config_setting_get_member(g, "devices");
	int count[NDEVICE_TYPES] = { 0 };
	int i, j, n;

	if (!s)
		return;
	if (config_setting_type(s) != CONFIG_TYPE_LIST &&
	    !(config_setting_type(s) == CONFIG_TYPE_ARRAY &&
	    config_setting_length(s) == 0)) {
		report(c, s, "'devices' must be a list of groups");
		return;
	}
	n = config_setting_length(s);
	if (n == 0)
		return;
	cfg->devices = calloc((size_t)n, sizeof(*cfg->devices));
	if (!cfg->devices) {
		c->nomem = true;
		return;
	}
	for (i = 0; i < n; i++) {
		config_setting_t *d = config_setting_get_elem(s, i), *ts, *is;
		struct device_cfg *dev = &cfg->devices[cfg->ndevices];
		const char *type, *id;
		int t, index;

		if (config_setting_type(d) != CONFIG_TYPE_GROUP) {
			report(c, d, "devices[%d] must be a group", i);
			continue;
		}
		if (!(ts = get_string(c, d, "type", &type))) {
			if (!config_setting_get_member(d, "type"))
				report(c, d, "devices[%d] has no 'type'", i);
			continue;
		}
		t = scenario_device_type(type);
		if (t < 0) {
			report(c, ts, "unknown device type '%s'", type);
			continue;
		}
		if (!(c->host->devices_built & (1u << t))) {
			report(c, ts, "device type '%s': its mediator is not "
			    "built yet", type);
			continue;
		}
		/*
		 * XXX the keys of each device type are checked once their
		 * mediators exist; until then they are let through.
		 */
		/* Named devices count too: blk0, data, blk2. */
		index = count[t]++;
		snprintf(dev->type, sizeof(dev->type), "%s", type);
		dev->line = config_setting_source_line(d);
		if ((is = get_string(c, d, "id", &id))) {
			if (!valid_name(id)) {
				report(c, is, "device id '%s' must be 1-31 "
				    "characters of A-Z a-z 0-9 _ -", id);
				continue;
			}
			snprintf(dev->id, sizeof(dev->id), "%s", id);
		} else if (config_setting_get_member(d, "id"))
			continue;
		else
			snprintf(dev->id, sizeof(dev->id), "%s%d", type, index);
		for (j = 0; j < cfg->ndevices; j++) {
			if (strcmp(cfg->devices[j].id, dev->id) == 0) {
				report(c, is ? is : d, "duplicate device id "
				    "'%s' in vm %s (first at line %d)",
				    dev->id, vm, cfg->devices[j].line);
				break;
			}
		}
		if (j == cfg->ndevices)
			cfg->ndevices++;
	}
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

	if ((s = get_string(c, g, "name", &val))) {
		if (!valid_name(val))
			report(c, s, "vm name '%s' must be 1-31 characters of "
			    "A-Z a-z 0-9 _ -", val);
		else {
			for (j = 0; j < index; j++) {
				if (strcmp(vms[j].name, val) == 0)
					break;
			}
			if (j < index)
				report(c, s, "duplicate vm name '%s' (first at "
				    "line %d)", val, vms[j].line);
			else
				snprintf(cfg->name, sizeof(cfg->name), "%s",
				    val);
			snprintf(vm, sizeof(vm), "'%s'", val);
		}
	} else if (!config_setting_get_member(g, "name"))
		report(c, g, "missing 'name' in vm %s", vm);

	for (i = 0; i < config_setting_length(g); i++) {
		const char *key = config_setting_name(
		    config_setting_get_elem(g, i));

		for (j = 0; vm_keys[j]; j++) {
			if (strcmp(key, vm_keys[j]) == 0)
				break;
		}
		if (!vm_keys[j])
			report(c, config_setting_get_elem(g, i),
			    "unknown key '%s' in vm %s", key, vm);
	}

	check_memory(c, g, vm, cfg);

	if ((s = config_setting_get_member(g, "vcpus"))) {
		long long n = is_int(s) ? config_setting_get_int64(s) : 0;

		vcpus_ok = false;
		if (!is_int(s))
			report(c, s, "'vcpus' must be an integer");
		else if (n < 1 || n > SC_MAX_VCPUS)
			report(c, s, "vcpus = %lld is out of range (1 to %d)",
			    n, SC_MAX_VCPUS);
		else {
			cfg->vcpus = (int)n;
			vcpus_ok = true;
		}
	}
	check_cpus(c, g, cfg, vcpus_ok);

	check_file(c, g, "kernel", vm, true, &cfg->kernel);
	check_file(c, g, "initrd", vm, false, &cfg->initrd);

	val = DEFAULT_CMDLINE;
	get_string(c, g, "cmdline", &val);
	set_string(c, &cfg->cmdline, val);

	check_console(c, g, cfg);

	cfg->on_reboot = REBOOT_EXIT;
	if ((s = get_string(c, g, "on_reboot", &val))) {
		if (strcmp(val, "restart") == 0)
			cfg->on_reboot = REBOOT_RESTART;
		else if (strcmp(val, "exit") != 0)
			report(c, s, "on_reboot '%s' is not exit or restart",
			    val);
	}

	check_devices(c, g, vm, cfg);
}

static void
vm_free(struct vm_cfg *cfg)
{
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

		if (strcmp(config_setting_name(s), "vms") == 0)
			vms = s;
		else
			report(c, s, "unknown key '%s'", config_setting_name(s));
	}
	if (!vms) {
		report(c, root, "no 'vms' list");
		return -EINVAL;
	}
	/* An empty array "[]" is also an empty list. */
	if (config_setting_type(vms) != CONFIG_TYPE_LIST &&
	    config_setting_type(vms) != CONFIG_TYPE_ARRAY) {
		report(c, vms, "'vms' must be a list of groups");
		return -EINVAL;
	}
	n = config_setting_length(vms);
	if (n == 0) {
		report(c, vms, "'vms' has no VM");
		return -EINVAL;
	}
	list = calloc((size_t)n, sizeof(*list));
	if (!list)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(vms, i);

		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			report(c, g, "vms[%d] must be a group", i);
			continue;
		}
		check_vm(c, g, i, list);
	}
	if (c->nerrors || c->nomem) {
		for (i = 0; i < n; i++)
			vm_free(&list[i]);
		free(list);
		return c->nomem ? -ENOMEM : -EINVAL;
	}
	sc->vms = list;
	sc->nvms = n;
	return 0;
}

/* Returns the table index of type, or -1 (see scenario.h). */
int
scenario_device_type(const char *type)
{
	int i;

	for (i = 0; i < NDEVICE_TYPES; i++) {
		if (strcmp(device_types[i].type, type) == 0)
			return i;
	}
	return -1;
}

/*
 * Describes this machine: memory from _SC_PHYS_PAGES, CPUs 0 .. n-1 from
 * _SC_NPROCESSORS_CONF, and the device types whose mediators are built.
 */
void
scenario_host_probe(struct sc_host *host)
{
	long pages = sysconf(_SC_PHYS_PAGES);
	long pagesize = sysconf(_SC_PAGESIZE);
	long ncpus = sysconf(_SC_NPROCESSORS_CONF);
	int i;

	memset(host, 0, sizeof(*host));
	if (pages > 0 && pagesize > 0)
		host->memory = (uint64_t)pages * (uint64_t)pagesize;
	host->ncpus = ncpus > 0 ? (int)ncpus : 1;
	for (i = 0; i < NDEVICE_TYPES; i++) {
		if (device_types[i].built)
			host->devices_built |= 1u << i;
	}
}

/*
 * Reads path and checks it against host.  Returns 0, -EINVAL after
 * reporting every error, or -errno when the file cannot be read.
 */
int
scenario_load_host(const char *path, struct scenario *sc, FILE *errs,
    const struct sc_host *host)
{
	struct ctx c = { .path = path, .errs = errs, .host = host };
	struct stat st;
	config_t cfg;
	char *dir;
	FILE *fp;
	int err;

	memset(sc, 0, sizeof(*sc));
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
	dir = scenario_dir(path);
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

/*
 * One block per VM, one setting per line, paths absolute: the same
 * input always prints the same text, so tests compare it whole.
 */
void
scenario_print(const struct scenario *sc, FILE *out)
{
	int i, j;

	for (i = 0; i < sc->nvms; i++) {
		const struct vm_cfg *vm = &sc->vms[i];

		if (i > 0)
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
			fprintf(out, "  device     %s (%s)\n",
			    vm->devices[j].id, vm->devices[j].type);
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
