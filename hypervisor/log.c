/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

static char log_prefix[96] = "cupule";
static int log_verbose;
static int log_syslog;

void
log_set_prefix(const char *prefix)
{
	snprintf(log_prefix, sizeof(log_prefix), "%s", prefix);
}

void
log_set_syslog(int on)
{
	if (on && !log_syslog)
		openlog("cupule", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!on && log_syslog)
		closelog();
	log_syslog = on;
}

void
log_set_verbose(int level)
{
	log_verbose = level;
}

/* Formats the whole line first so that concurrent threads never interleave. */
static void
log_line(const char *fmt, va_list ap, const char *suffix)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_syslog) {
		syslog(LOG_WARNING, "%s: %s%s%s", log_prefix, msg,
		    suffix ? ": " : "", suffix ? suffix : "");
		return;
	}
	/* The console may be in raw mode: end lines with CR LF there. */
	fprintf(stderr, "%s: %s%s%s\r\n", log_prefix, msg, suffix ? ": " : "",
	    suffix ? suffix : "");
	fflush(stderr);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(fmt, ap, NULL);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	const char *e = strerror(errno);

	va_start(ap, fmt);
	log_line(fmt, ap, e);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	if (log_verbose < 1)
		return;
	va_start(ap, fmt);
	log_line(fmt, ap, NULL);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (log_verbose < 2)
		return;
	va_start(ap, fmt);
	log_line(fmt, ap, NULL);
	va_end(ap);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
