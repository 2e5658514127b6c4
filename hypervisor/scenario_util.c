/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers of the scenario parser: problem reports, sizes, paths and the
 * typed look-ups every check uses.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scenario_int.h"

/*
 * Writes "file:line: message" to c->errs, the place being that of
 * setting s (the top of the scenario when s is NULL or the root), and
 * counts one more error.
 */
void
sc_report(struct ctx *c, const config_setting_t *s, const char *fmt, ...)
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
 * Parses a size such as "256M" into *out; returns 0 or -EINVAL (see
 * scenario.h).  Sizes are parsed by hand: libconfig has integers but no
 * unit suffixes, and strtoull() accepts signs and blanks a size must not
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
void
sc_fmt_size(uint64_t n, char *buf, size_t len)
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
char *
sc_path_resolve(const char *dir, const char *p)
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
char *
sc_scenario_dir(const char *path)
{
	char cwd[PATH_MAX], *abs, *slash;

	if (path[0] != '/' && !getcwd(cwd, sizeof(cwd)))
		return NULL;
	abs = sc_path_resolve(path[0] == '/' ? NULL : cwd, path);
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

/* Returns whether s is a valid VM or device name: 1-31 of A-Z a-z 0-9 _ -. */
bool
sc_valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n >= SC_NAME_MAX)
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_-") == n;
}

/* Returns whether s holds an integer (32 or 64 bits). */
bool
sc_is_int(const config_setting_t *s)
{
	return config_setting_type(s) == CONFIG_TYPE_INT ||
	    config_setting_type(s) == CONFIG_TYPE_INT64;
}

/*
 * Looks up key in g as a string.  Returns the setting, or NULL when it
 * is absent or (after reporting it) not a string.
 */
config_setting_t *
sc_get_string(struct ctx *c, config_setting_t *g, const char *key,
    const char **val)
{
	config_setting_t *s = config_setting_get_member(g, key);

	if (!s)
		return NULL;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		sc_report(c, s, "'%s' must be a string", key);
		return NULL;
	}
	*val = config_setting_get_string(s);
	return s;
}

/* Stores a strdup() of s in *dst; notes when memory runs out. */
void
sc_set_string(struct ctx *c, char **dst, const char *s)
{
	free(*dst);
	*dst = s ? strdup(s) : NULL;
	if (s && !*dst)
		c->nomem = true;
}
