/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cupulectl: talks to a running cupule through its control socket
 * (docs/control.md).  Tables for people, --json for scripts.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cupulectl.h"

#define CONTROL_DIR	"/run/cupule"

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: cupulectl [--socket PATH] [--json] COMMAND\n"
	    "\n"
	    "  list                 VMs, devices, mediator pids, states\n"
	    "  stats                ring and device counters of every mediator\n"
	    "  restart VM DEVICE    replace the device's mediator (root)\n"
	    "  kill VM DEVICE       SIGKILL it, as a crash would (root)\n"
	    "  audit [--probe]      what each mediator can touch, checked\n"
	    "                       against its policy; --probe also has each\n"
	    "                       one try forbidden things (root)\n"
	    "\n"
	    "With one cupule running, no --socket is needed.\n");
	exit(status);
}

/* The only socket in CONTROL_DIR, or an error saying why not. */
static int
find_socket(char *buf, size_t len)
{
	DIR *d = opendir(CONTROL_DIR);
	struct dirent *e;
	int n = 0;

	if (d == NULL) {
		fprintf(stderr, "cupulectl: no cupule is running (no %s)\n",
		    CONTROL_DIR);
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);

		if (l < 6 || strcmp(e->d_name + l - 5, ".sock") != 0)
			continue;
		if (n++ == 0)
			snprintf(buf, len, "%s/%s", CONTROL_DIR, e->d_name);
		else {
			if (n == 2)
				fprintf(stderr, "cupulectl: several cupules "
				    "run; choose with --socket:\n  %s\n", buf);
			fprintf(stderr, "  %s/%s\n", CONTROL_DIR, e->d_name);
		}
	}
	closedir(d);
	if (n == 0)
		fprintf(stderr, "cupulectl: no cupule is running (no socket "
		    "in %s)\n", CONTROL_DIR);
	return n == 1 ? 0 : -1;
}

static int
ctl_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "cupulectl: %s: path too long\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "cupulectl: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

json_object *
ctl_request(int fd, json_object *req)
{
	const char *s = json_object_to_json_string_ext(req,
	    JSON_C_TO_STRING_PLAIN);
	size_t cap = 65536, have = 0;
	char *buf = malloc(cap), *nl;
	json_object *rep = NULL;

	if (buf == NULL)
		return NULL;
	/* One line, one write: a peer may answer and close after it. */
	if ((size_t)snprintf(buf, cap, "%s\n", s) >= cap ||
	    send(fd, buf, strlen(buf), MSG_NOSIGNAL) < 0) {
		free(buf);
		return NULL;
	}
	for (;;) {
		ssize_t n;

		if (have == cap) {
			char *b = realloc(buf, cap * 2);

			if (b == NULL)
				break;
			buf = b;
			cap *= 2;
		}
		n = recv(fd, buf + have, cap - have, 0);
		if (n <= 0)
			break;
		have += (size_t)n;
		if ((nl = memchr(buf, '\n', have)) != NULL) {
			*nl = '\0';
			rep = json_tokener_parse(buf);
			break;
		}
	}
	free(buf);
	return rep;
}

/* The reply's error, printed; true if there was one. */
bool
ctl_failed(json_object *rep)
{
	json_object *ok, *err;

	if (rep == NULL) {
		fprintf(stderr, "cupulectl: no answer from cupule\n");
		return true;
	}
	if (json_object_object_get_ex(rep, "ok", &ok) &&
	    json_object_get_boolean(ok))
		return false;
	json_object_object_get_ex(rep, "error", &err);
	fprintf(stderr, "cupulectl: %s\n", err ? json_object_get_string(err) :
	    "failed");
	return true;
}

const char *
jstr(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return "-";
	return json_object_get_string(v);
}

long long
jint(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return -1;
	return (long long)json_object_get_int64(v);
}

/* Says which VMs did not answer; 1 when the answer is partial. */
static int
print_errors(json_object *rep)
{
	json_object *errs;
	size_t n;

	if (!json_object_object_get_ex(rep, "errors", &errs) ||
	    (n = json_object_array_length(errs)) == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "cupulectl: %s\n", json_object_get_string(
		    json_object_array_get_idx(errs, i)));
	return 1;
}

static void
fmt_uptime(long long ms, char *buf, size_t len)
{
	long long s = ms / 1000;

	if (ms <= 0)
		snprintf(buf, len, "-");
	else if (s < 60)
		snprintf(buf, len, "%lld.%01llds", s, ms % 1000 / 100);
	else if (s < 3600)
		snprintf(buf, len, "%lldm%02llds", s / 60, s % 60);
	else
		snprintf(buf, len, "%lldh%02lldm", s / 3600, s % 3600 / 60);
}

static int
cmd_list(json_object *rep, bool json, bool stats)
{
	json_object *devs;

	if (!json_object_object_get_ex(rep, "devices", &devs))
		return 1;
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(devs,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		return print_errors(rep);
	}
	if (stats)
		printf("%-12s %-12s %-7s %8s %8s %6s %10s %6s %6s %5s\n", "VM",
		    "DEVICE", "TYPE", "RING-GEN", "RECOVERY", "BAD", "HEARTBEAT",
		    "STATUS", "RESETS", "VIOL");
	else
		printf("%-12s %-12s %-7s %7s %-9s %8s %9s %s\n", "VM", "DEVICE",
		    "TYPE", "PID", "STATE", "RESTARTS", "UPTIME", "LAST CAUSE");
	for (size_t i = 0; i < json_object_array_length(devs); i++) {
		json_object *d = json_object_array_get_idx(devs, i), *r, *v;
		char up[32], pid[16];

		if (stats) {
			if (!json_object_object_get_ex(d, "ring", &r))
				continue;
			json_object_object_get_ex(d, "virtio", &v);
			printf("%-12s %-12s %-7s %8lld %8lld %6lld %10lld "
			    "%#6llx %6lld %5lld\n", jstr(d, "vm"),
			    jstr(d, "device"), jstr(d, "type"),
			    jint(r, "generation"), jint(r, "recoveries"),
			    jint(r, "bad"), jint(r, "heartbeat"),
			    v ? jint(v, "status") : 0,
			    v ? jint(v, "resets") : 0,
			    v ? jint(v, "violations") : 0);
			continue;
		}
		fmt_uptime(jint(d, "uptime_ms"), up, sizeof(up));
		if (jint(d, "pid") > 0)
			snprintf(pid, sizeof(pid), "%lld", jint(d, "pid"));
		else
			snprintf(pid, sizeof(pid), "-");
		printf("%-12s %-12s %-7s %7s %-9s %8lld %9s %s\n",
		    jstr(d, "vm"), jstr(d, "device"), jstr(d, "type"), pid,
		    jstr(d, "state"), jint(d, "restarts"), up,
		    jstr(d, "cause"));
	}
	return print_errors(rep);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "probe", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char path[256] = "";
	bool json = false, probe = false;
	json_object *req, *rep;
	const char *cmd;
	int c, fd, ret;

	while ((c = getopt_long(argc, argv, "s:jph", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			snprintf(path, sizeof(path), "%s", optarg);
			break;
		case 'j':
			json = true;
			break;
		case 'p':
			probe = true;
			break;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	if (optind >= argc)
		usage(2);
	cmd = argv[optind];
	if ((strcmp(cmd, "restart") == 0 || strcmp(cmd, "kill") == 0) ?
	    argc - optind != 3 : argc - optind != 1)
		usage(2);
	if (strcmp(cmd, "list") != 0 && strcmp(cmd, "stats") != 0 &&
	    strcmp(cmd, "restart") != 0 && strcmp(cmd, "kill") != 0 &&
	    strcmp(cmd, "audit") != 0)
		usage(2);
	if (path[0] == '\0' && find_socket(path, sizeof(path)) < 0)
		return 2;
	if ((fd = ctl_connect(path)) < 0)
		return 2;
	if (strcmp(cmd, "audit") == 0) {
		ret = audit_run(fd, json, probe);
		close(fd);
		return ret;
	}
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	if (argc - optind == 3) {
		json_object_object_add(req, "vm",
		    json_object_new_string(argv[optind + 1]));
		json_object_object_add(req, "device",
		    json_object_new_string(argv[optind + 2]));
	}
	rep = ctl_request(fd, req);
	json_object_put(req);
	close(fd);
	if (ctl_failed(rep)) {
		json_object_put(rep);
		return 1;
	}
	if (strcmp(cmd, "list") == 0 || strcmp(cmd, "stats") == 0)
		ret = cmd_list(rep, json, cmd[0] == 's');
	else {
		if (json)
			printf("%s\n", json_object_to_json_string_ext(rep,
			    JSON_C_TO_STRING_PLAIN));
		ret = 0;
	}
	json_object_put(rep);
	return ret;
}
