/* SPDX-License-Identifier: BSD-3-Clause */
/* One-line diagnostics on stderr, each prefixed with who is speaking. */
#ifndef CUPULE_LOG_H
#define CUPULE_LOG_H

/* Sets the prefix printed before every line, e.g. "cupule: vm ivi". */
void log_set_prefix(const char *prefix);

/* Sends every line to syslog (daemon facility) instead of stderr. */
void log_set_syslog(int on);

/* Raises (1) or lowers (0) the level of detail; debug lines need 2. */
void log_set_verbose(int level);

/* Prints "prefix: message"; log_warn appends ": strerror(errno)". */
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints like log_warnx and exits 1: start-up errors and broken invariants. */
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
