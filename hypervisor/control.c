/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket (supervisor side) and the VM process's answers.
 * JSON through json-c: requests come from anyone allowed on the socket,
 * so they are parsed by a well-tried parser, checked field by field,
 * and never trusted for lengths or indexes.
 */
#include <errno.h>
#include <stdarg.h>
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "control.h"
#include "ctl.h"
#include "log.h"
#include "mediator_int.h"
#include "switches.h"
#include "virtio_pci.h"
#include "vm.h"

#define CLIENT_IDLE_S	2	/* a client silent this long is dropped */

static json_object *vm_handle(json_object *req, struct mediator *meds,
    int nmeds);

void
control_socket_path(const struct scenario *sc, char *buf, size_t len)
{
	char name[SC_SOCKET_MAX], *base, *dot;

	if (sc->control_socket[0] != '\0') {
		snprintf(buf, len, "%s", sc->control_socket);
		return;
	}
	snprintf(name, sizeof(name), "%s", sc->path ? sc->path : "cupule");
	base = basename(name);
	if ((dot = strrchr(base, '.')) != NULL && dot != base)
		*dot = '\0';
	snprintf(buf, len, "%s/%.64s.sock", CONTROL_DIR, base);
}

int
control_listen(const struct scenario *sc, char *path, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, probe, ret;

	control_socket_path(sc, path, len);
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (strncmp(path, CONTROL_DIR "/", sizeof(CONTROL_DIR)) == 0 &&
	    mkdir(CONTROL_DIR, 0755) < 0 && errno != EEXIST)
		return -errno;
	/* A socket someone answers on belongs to a running cupule. */
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&sa,
	    sizeof(sa)) == 0) {
		close(probe);
		return -EADDRINUSE;
	}
	if (probe >= 0)
		close(probe);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	old = umask(0177);
	ret = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (ret == 0 && sc->control_gid >= 0 &&
	    (chown(path, (uid_t)-1, (gid_t)sc->control_gid) < 0 ||
	    chmod(path, 0660) < 0))
		ret = -1;
	if (ret < 0 || listen(fd, 8) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/* ---- The supervisor's side ---- */

static uint32_t next_id = 1;

/*
 * One request to one VM process; its reply, or NULL when it did not
 * answer in time.  Replies to earlier, abandoned requests are skipped.
 */
static json_object *
ask_vm(const struct control_vm *v, json_object *req)
{
	uint32_t id = next_id++;
	const char *s;
	char *buf;
	json_object *reply = NULL, *jid;
	struct timespec t0, t;

	if (v->fd < 0 || v->pid <= 0)
		return NULL;
	json_object_object_add(req, "id", json_object_new_int64(id));
	s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	if (send(v->fd, s, strlen(s), MSG_NOSIGNAL) < 0)
		return NULL;
	if ((buf = malloc(CONTROL_VM_MAX)) == NULL)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { .fd = v->fd, .events = POLLIN };
		long left;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = CONTROL_VM_WAIT_MS - ((t.tv_sec - t0.tv_sec) * 1000 +
		    (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		n = recv(v->fd, buf, CONTROL_VM_MAX - 1, MSG_DONTWAIT);
		if (n <= 0)
			break;
		buf[n] = '\0';
		reply = json_tokener_parse(buf);
		if (reply != NULL && json_object_object_get_ex(reply, "id",
		    &jid) && json_object_get_int64(jid) == id)
			break;
		json_object_put(reply);
		reply = NULL;
	}
	free(buf);
	return reply;
}

static json_object *
error_reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static json_object *
error_reply(const char *fmt, ...)
{
	json_object *r = json_object_new_object();
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(r, "ok", json_object_new_boolean(0));
	json_object_object_add(r, "error", json_object_new_string(msg));
	return r;
}

/* Moves every element of array key of src onto dst. */
static void
take_array(json_object *dst, json_object *src, const char *key)
{
	json_object *a;

	if (!json_object_object_get_ex(src, key, &a) ||
	    !json_object_is_type(a, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(a); i++)
		json_object_array_add(dst,
		    json_object_get(json_object_array_get_idx(a, i)));
}

/* A mediator pid of a VM other than vms[self], if there is one. */
static void
add_sibling(const struct control_ctx *c, int self, json_object *req)
{
	for (int k = 1; k < c->nvms; k++) {
		const struct control_vm *v = &c->vms[(self + k) % c->nvms];
		json_object *lreq, *rep, *devs;

		if (v->pid <= 0)
			continue;
		lreq = json_object_new_object();
		json_object_object_add(lreq, "cmd",
		    json_object_new_string("list"));
		rep = ask_vm(v, lreq);
		json_object_put(lreq);
		if (rep != NULL && json_object_object_get_ex(rep, "devices",
		    &devs) && json_object_array_length(devs) > 0) {
			json_object *d = json_object_array_get_idx(devs, 0), *p;

			if (json_object_object_get_ex(d, "pid", &p) && p != NULL) {
				json_object_object_add(req, "sibling",
				    json_object_get(p));
				json_object_put(rep);
				return;
			}
		}
		json_object_put(rep);
	}
}

/* list, stats, probe: every VM's answer merged, and the switches. */
static json_object *
gather(const struct control_ctx *c, const char *cmd)
{
	json_object *r = json_object_new_object(), *items, *errs;
	const char *key = strcmp(cmd, "probe") == 0 ? "probes" : "devices";

	items = json_object_new_array();
	errs = json_object_new_array();
	for (int i = 0; i < c->nvms; i++) {
		json_object *req, *rep;

		if (c->vms[i].pid <= 0)
			continue;
		req = json_object_new_object();
		json_object_object_add(req, "cmd", json_object_new_string(cmd));
		/* Aim each VM's probes at another VM's mediator. */
		if (key[0] == 'p')
			add_sibling(c, i, req);
		rep = ask_vm(&c->vms[i], req);
		json_object_put(req);
		if (rep == NULL) {
			char msg[96];

			snprintf(msg, sizeof(msg), "vm %s did not answer",
			    c->vms[i].name);
			json_object_array_add(errs, json_object_new_string(msg));
			continue;
		}
		take_array(items, rep, key);
		take_array(errs, rep, "errors");
		json_object_put(rep);
	}
	for (int i = 0; i < c->nsw && key[0] == 'd'; i++) {
		json_object *d = json_object_new_object();

		json_object_object_add(d, "vm", NULL);
		json_object_object_add(d, "device",
		    json_object_new_string(c->sw[i].name));
		json_object_object_add(d, "type",
		    json_object_new_string("switch"));
		json_object_object_add(d, "pid", c->sw[i].pid > 0 ?
		    json_object_new_int(c->sw[i].pid) : NULL);
		json_object_object_add(d, "state", json_object_new_string(
		    c->sw[i].pid > 0 ? "running" :
		    medsup_state_name(c->sw[i].sup.state)));
		json_object_object_add(d, "restarts",
		    json_object_new_int64(c->sw[i].sup.restarts));
		json_object_object_add(d, "exits",
		    json_object_new_int64(c->sw[i].sup.exits));
		json_object_array_add(items, d);
	}
	json_object_object_add(r, "ok", json_object_new_boolean(1));
	json_object_object_add(r, key, items);
	if (json_object_array_length(errs) > 0)
		json_object_object_add(r, "errors", errs);
	else
		json_object_put(errs);
	return r;
}

static json_object *
handle(const struct control_ctx *c, json_object *req, bool root)
{
	json_object *jcmd, *jvm;
	const char *cmd, *vm;

	if (!json_object_is_type(req, json_type_object) ||
	    !json_object_object_get_ex(req, "cmd", &jcmd) ||
	    !json_object_is_type(jcmd, json_type_string))
		return error_reply("a request is an object with a string "
		    "\"cmd\"");
	cmd = json_object_get_string(jcmd);
	if (strcmp(cmd, "list") == 0 || strcmp(cmd, "stats") == 0)
		return gather(c, cmd);
	if (strcmp(cmd, "restart") != 0 && strcmp(cmd, "kill") != 0 &&
	    strcmp(cmd, "probe") != 0)
		return error_reply("unknown command '%.32s'", cmd);
	if (!root)
		return error_reply("%s: only root may do this", cmd);
	if (strcmp(cmd, "probe") == 0)
		return gather(c, cmd);
	if (!json_object_object_get_ex(req, "vm", &jvm) ||
	    !json_object_is_type(jvm, json_type_string))
		return error_reply("%s needs \"vm\" and \"device\"", cmd);
	vm = json_object_get_string(jvm);
	for (int i = 0; i < c->nvms; i++) {
		json_object *rep;

		if (strcmp(c->vms[i].name, vm) != 0)
			continue;
		if (c->vms[i].pid <= 0)
			return error_reply("vm %.32s is not running", vm);
		if ((rep = ask_vm(&c->vms[i], req)) == NULL)
			return error_reply("vm %.32s did not answer", vm);
		json_object_object_del(rep, "id");
		return rep;
	}
	return error_reply("no vm named '%.32s'", vm);
}

char *
control_handle_line(const struct control_ctx *c, const char *line, bool root,
    bool vm_side)
{
	json_object *req = json_tokener_parse(line), *rep;
	char *out;

	if (req == NULL || !json_object_is_type(req, json_type_object))
		rep = error_reply("not a JSON object");
	else if (vm_side)
		rep = vm_handle(req, NULL, 0);
	else
		rep = handle(c, req, root);
	out = strdup(json_object_to_json_string_ext(rep,
	    JSON_C_TO_STRING_PLAIN));
	json_object_put(rep);
	json_object_put(req);
	return out;
}

void
control_serve_client(const struct control_ctx *c, int lfd)
{
	struct timeval tv = { CLIENT_IDLE_S, 0 };
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	char line[CONTROL_MAX_LINE];
	size_t have = 0;
	bool root, allowed;
	int fd;

	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
		close(fd);
		return;
	}
	root = cred.uid == 0;
	allowed = root || (c->sc->control_gid >= 0 &&
	    cred.gid == (gid_t)c->sc->control_gid);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	for (;;) {
		json_object *req, *rep;
		const char *out;
		char *nl;
		ssize_t n;

		nl = memchr(line, '\n', have);
		if (nl == NULL) {
			if (have == sizeof(line)) {
				rep = error_reply("request longer than %d bytes",
				    CONTROL_MAX_LINE);
				out = json_object_to_json_string_ext(rep,
				    JSON_C_TO_STRING_PLAIN);
				dprintf(fd, "%s\n", out);
				json_object_put(rep);
				break;
			}
			n = recv(fd, line + have, sizeof(line) - have, 0);
			if (n <= 0)
				break;
			have += (size_t)n;
			continue;
		}
		*nl = '\0';
		req = json_tokener_parse(line);
		if (!allowed)
			rep = error_reply("uid %u is not allowed here",
			    (unsigned)cred.uid);
		else if (req == NULL)
			rep = error_reply("not JSON");
		else
			rep = handle(c, req, root);
		json_object_put(req);
		out = json_object_to_json_string_ext(rep,
		    JSON_C_TO_STRING_PLAIN);
		if (send(fd, out, strlen(out), MSG_NOSIGNAL) < 0 ||
		    send(fd, "\n", 1, MSG_NOSIGNAL) < 0) {
			json_object_put(rep);
			break;
		}
		json_object_put(rep);
		have -= (size_t)(nl + 1 - line);
		memmove(line, nl + 1, have);
	}
	close(fd);
}

/* ---- The VM process's side ---- */

static ino_t
fd_ino(int fd)
{
	struct stat st;

	return fd >= 0 && fstat(fd, &st) == 0 ? st.st_ino : 0;
}

static json_object *
describe(const struct mediator *m, bool stats)
{
	json_object *d = json_object_new_object(), *o;
	uint64_t now = med_now_ms();

	json_object_object_add(d, "vm", json_object_new_string(m->vm->name));
	json_object_object_add(d, "device",
	    json_object_new_string(m->cfg->id));
	json_object_object_add(d, "type", json_object_new_string(m->cfg->type));
	json_object_object_add(d, "pid", m->pid > 0 ?
	    json_object_new_int(m->pid) : NULL);
	json_object_object_add(d, "state",
	    json_object_new_string(medsup_state_name(m->sup.state)));
	json_object_object_add(d, "restarts",
	    json_object_new_int64(m->sup.restarts));
	json_object_object_add(d, "exits", json_object_new_int64(m->sup.exits));
	if (m->sup.cause != MEDSUP_CAUSE_NONE)
		json_object_object_add(d, "cause",
		    json_object_new_string(medsup_cause_name(m->sup.cause)));
	json_object_object_add(d, "uptime_ms", json_object_new_int64(
	    m->sup.state == MEDSUP_RUNNING ? (int64_t)(now - m->ready_ms) : 0));
	json_object_object_add(d, "vm_pid", json_object_new_int(getpid()));
	/* What its memory maps should be, for the audit. */
	o = json_object_new_object();
	json_object_object_add(o, "ram",
	    json_object_new_int64((int64_t)fd_ino(m->vm->mem_fd)));
	json_object_object_add(o, "ring",
	    json_object_new_int64((int64_t)fd_ino(m->ring.memfd)));
	json_object_object_add(o, "state",
	    json_object_new_int64((int64_t)fd_ino(m->state_fd)));
	json_object_object_add(d, "objects", o);
	if (!stats)
		return d;
	{
		struct ioreq_stats st;

		ioreq_ring_stats(&m->ring, &st);
		o = json_object_new_object();
		json_object_object_add(o, "generation",
		    json_object_new_int64(st.generation));
		json_object_object_add(o, "recoveries",
		    json_object_new_int64(st.recoveries));
		json_object_object_add(o, "bad",
		    json_object_new_int64((int64_t)st.bad));
		json_object_object_add(o, "heartbeat",
		    json_object_new_int64((int64_t)st.heartbeat));
		json_object_object_add(d, "ring", o);
	}
	if (m->vstate != NULL) {
		const struct virtio_state *s = m->vstate;

		o = json_object_new_object();
		json_object_object_add(o, "status", json_object_new_int(
		    __atomic_load_n(&s->status, __ATOMIC_RELAXED)));
		json_object_object_add(o, "resets", json_object_new_int64(
		    __atomic_load_n(&s->reset_count, __ATOMIC_RELAXED)));
		json_object_object_add(o, "violations", json_object_new_int64(
		    __atomic_load_n(&s->violations, __ATOMIC_RELAXED)));
		json_object_object_add(o, "needs_reset",
		    json_object_new_boolean(__atomic_load_n(&s->needs_reset,
		    __ATOMIC_RELAXED)));
		json_object_object_add(d, "virtio", o);
	}
	return d;
}

/*
 * Each mediator's probe, aimed at the sibling the supervisor named (a
 * mediator of another VM), else at another mediator of this VM, else
 * at this VM process.
 */
static json_object *
vm_probe(json_object *req, struct mediator *meds, int nmeds)
{
	json_object *r = json_object_new_object(), *a, *errs, *js;
	pid_t given = 0;

	a = json_object_new_array();
	errs = json_object_new_array();
	if (json_object_object_get_ex(req, "sibling", &js))
		given = (pid_t)json_object_get_int(js);
	for (int i = 0; i < nmeds; i++) {
		struct mediator *m = &meds[i];
		struct ctl_probe_result res;
		json_object *p, *ops;
		pid_t sib = given;
		char msg[160];
		int ret;

		for (int k = 1; sib <= 0 && k < nmeds; k++)
			if (meds[(i + k) % nmeds].pid > 0)
				sib = meds[(i + k) % nmeds].pid;
		if (sib <= 0)
			sib = getpid();
		if ((ret = mediator_probe(m, sib, &res)) < 0) {
			snprintf(msg, sizeof(msg), "%s: probe: %s", m->name,
			    ret == -ESRCH ? "no process serves now" :
			    strerror(-ret));
			json_object_array_add(errs, json_object_new_string(msg));
			continue;
		}
		p = json_object_new_object();
		json_object_object_add(p, "vm",
		    json_object_new_string(m->vm->name));
		json_object_object_add(p, "device",
		    json_object_new_string(m->cfg->id));
		json_object_object_add(p, "pid", json_object_new_int(m->pid));
		json_object_object_add(p, "sibling", json_object_new_int(sib));
		json_object_object_add(p, "seccomp_stages",
		    json_object_new_int64(res.stage));
		ops = json_object_new_array();
		for (uint32_t k = 0; k < res.nops && k < CTL_PROBE_MAX_OPS;
		    k++) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "operation",
			    json_object_new_string(ctl_probe_op_name(
			    res.op[k].op)));
			json_object_object_add(o, "result",
			    json_object_new_string(ctl_probe_outcome_name(
			    res.op[k].outcome)));
			if (res.op[k].error)
				json_object_object_add(o, "error",
				    json_object_new_string(strerror(
				    res.op[k].error)));
			json_object_array_add(ops, o);
		}
		json_object_object_add(p, "operations", ops);
		json_object_array_add(a, p);
	}
	json_object_object_add(r, "ok", json_object_new_boolean(1));
	json_object_object_add(r, "probes", a);
	if (json_object_array_length(errs) > 0)
		json_object_object_add(r, "errors", errs);
	else
		json_object_put(errs);
	return r;
}

static json_object *
vm_handle(json_object *req, struct mediator *meds, int nmeds)
{
	json_object *jcmd, *jdev, *r, *a;
	const char *cmd, *dev;
	struct mediator *m = NULL;
	int ret;

	if (!json_object_object_get_ex(req, "cmd", &jcmd) ||
	    !json_object_is_type(jcmd, json_type_string))
		return error_reply("no command");
	cmd = json_object_get_string(jcmd);
	if (strcmp(cmd, "list") == 0 || strcmp(cmd, "stats") == 0) {
		r = json_object_new_object();
		a = json_object_new_array();
		for (int i = 0; i < nmeds; i++)
			json_object_array_add(a, describe(&meds[i],
			    cmd[0] == 's'));
		json_object_object_add(r, "ok", json_object_new_boolean(1));
		json_object_object_add(r, "devices", a);
		return r;
	}
	if (strcmp(cmd, "probe") == 0)
		return vm_probe(req, meds, nmeds);
	if (strcmp(cmd, "restart") != 0 && strcmp(cmd, "kill") != 0)
		return error_reply("%.32s: not something a VM process does",
		    cmd);
	if (!json_object_object_get_ex(req, "device", &jdev) ||
	    !json_object_is_type(jdev, json_type_string))
		return error_reply("%s needs \"device\"", cmd);
	dev = json_object_get_string(jdev);
	for (int i = 0; i < nmeds; i++)
		if (strcmp(meds[i].cfg->id, dev) == 0)
			m = &meds[i];
	if (m == NULL)
		return error_reply("vm %s has no device '%.32s'",
		    nmeds ? meds[0].vm->name : "?", dev);
	ret = cmd[0] == 'r' ? mediator_restart(m) : mediator_kill(m);
	if (ret < 0)
		return error_reply("%s %s: %s", cmd, m->name, ret == -ESRCH ?
		    "no process runs (down, or waiting to start)" :
		    strerror(-ret));
	r = json_object_new_object();
	json_object_object_add(r, "ok", json_object_new_boolean(1));
	return r;
}

int
control_vm_serve(int fd, struct mediator *meds, int nmeds)
{
	char *buf = malloc(CONTROL_MAX_LINE + 1);
	json_object *req = NULL, *rep, *jid;
	const char *out;
	ssize_t n;

	if (buf == NULL)
		return 0;
	n = recv(fd, buf, CONTROL_MAX_LINE, MSG_DONTWAIT);
	if (n <= 0) {
		free(buf);
		return n == 0 || (errno != EAGAIN && errno != EINTR) ? -1 : 0;
	}
	buf[n] = '\0';
	req = json_tokener_parse(buf);
	free(buf);
	if (req == NULL || !json_object_is_type(req, json_type_object))
		rep = error_reply("not a JSON object");
	else
		rep = vm_handle(req, meds, nmeds);
	if (req != NULL && json_object_object_get_ex(req, "id", &jid))
		json_object_object_add(rep, "id", json_object_get(jid));
	out = json_object_to_json_string_ext(rep, JSON_C_TO_STRING_PLAIN);
	if (send(fd, out, strlen(out), MSG_NOSIGNAL) < 0)
		log_warn("control reply");
	json_object_put(rep);
	json_object_put(req);
	return 0;
}
