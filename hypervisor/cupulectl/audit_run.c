/* SPDX-License-Identifier: BSD-3-Clause */
/* cupulectl audit: ask, read, check, report. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cupulectl.h"

static unsigned long long
jobj(json_object *d, const char *key)
{
	json_object *o;

	if (!json_object_object_get_ex(d, "objects", &o))
		return 0;
	return (unsigned long long)jint(o, key);
}

/* The mediators of the list reply, /proc read for each. */
static int
collect(struct audit *a, json_object *devs)
{
	for (size_t i = 0; i < json_object_array_length(devs); i++) {
		json_object *d = json_object_array_get_idx(devs, i);
		struct audit_med *m;
		int ret;

		if (a->nmeds == AUDIT_MAX_MEDS)
			break;
		if (jint(d, "pid") <= 0)
			continue;
		m = &a->meds[a->nmeds++];
		memset(m, 0, sizeof(*m));
		snprintf(m->vm, sizeof(m->vm), "%s", jstr(d, "vm"));
		snprintf(m->type, sizeof(m->type), "%s", jstr(d, "type"));
		if (strcmp(m->type, "switch") == 0)
			snprintf(m->name, sizeof(m->name), "switch %s",
			    jstr(d, "device"));
		else
			snprintf(m->name, sizeof(m->name), "%s/%s",
			    jstr(d, "vm"), jstr(d, "device"));
		m->pid = (pid_t)jint(d, "pid");
		m->obj_ram = jobj(d, "ram");
		m->obj_ring = jobj(d, "ring");
		m->obj_state = jobj(d, "state");
		if ((ret = audit_read(m)) < 0) {
			fprintf(stderr, "cupulectl: %s: pid %d: %s (audit "
			    "needs root)\n", m->name, (int)m->pid,
			    strerror(-ret));
			return -1;
		}
		m->read = true;
	}
	return 0;
}

static const char *
map_owner(const struct audit *a, const struct audit_med *m,
    const struct audit_map *mp, char *buf, size_t len)
{
	for (int i = 0; i < a->nmeds && mp->ino != 0; i++) {
		const struct audit_med *o = &a->meds[i];
		const char *what = mp->ino == o->obj_ram ? "RAM" :
		    mp->ino == o->obj_ring ? "ring" : mp->ino ==
		    o->obj_state ? "state" : NULL;

		if (what == NULL)
			continue;
		if (o == m || (what[0] == 'R' && strcmp(o->vm, m->vm) == 0))
			snprintf(buf, len, "own %s", what);
		else
			snprintf(buf, len, "%s's %s", o->name, what);
		return buf;
	}
	return mp->name[0] ? mp->name : "?";
}

static void
print_text(const struct audit *a)
{
	for (int i = 0; i < a->nmeds; i++) {
		const struct audit_med *m = &a->meds[i];
		char owner[128];

		printf("%s (%s, pid %d)\n", m->name, m->type, (int)m->pid);
		printf("  uid %u gid %u  caps eff %#llx bnd %#llx  "
		    "no_new_privs %d  seccomp %d (%d filters)\n", m->uid[1],
		    m->gid[1], m->cap_eff, m->cap_bnd, m->nnp, m->seccomp,
		    m->filters);
		printf("  namespaces mnt %llu net %llu pid %llu ipc %llu\n",
		    m->ns[AUDIT_NS_MNT], m->ns[AUDIT_NS_NET],
		    m->ns[AUDIT_NS_PID], m->ns[AUDIT_NS_IPC]);
		printf("  fds:");
		for (int k = 0; k < m->nfds; k++)
			printf(" %d=%s", m->fds[k].fd, m->fds[k].kind);
		printf("\n  shared mappings:");
		for (int k = 0; k < m->nmaps; k++)
			printf(" %s %s%s (%llu KiB)", map_owner(a, m, &m->maps[k],
			    owner, sizeof(owner)), m->maps[k].writable ? "rw" :
			    "r", m->maps[k].exec ? "x" : "",
			    m->maps[k].size >> 10);
		printf("\n");
	}
	if (a->nfindings == 0)
		printf("no findings: every mediator is as its policy says\n");
	for (int i = 0; i < a->nfindings; i++)
		printf("FINDING: %s\n", a->findings[i]);
}

static json_object *
to_json(const struct audit *a)
{
	json_object *r = json_object_new_object(), *meds, *fnd;

	meds = json_object_new_array();
	for (int i = 0; i < a->nmeds; i++) {
		const struct audit_med *m = &a->meds[i];
		json_object *o = json_object_new_object(), *fds, *maps;
		char owner[128];

		json_object_object_add(o, "name", json_object_new_string(m->name));
		json_object_object_add(o, "type", json_object_new_string(m->type));
		json_object_object_add(o, "pid", json_object_new_int(m->pid));
		json_object_object_add(o, "uid", json_object_new_int64(m->uid[1]));
		json_object_object_add(o, "gid", json_object_new_int64(m->gid[1]));
		json_object_object_add(o, "cap_eff",
		    json_object_new_int64((int64_t)m->cap_eff));
		json_object_object_add(o, "cap_bnd",
		    json_object_new_int64((int64_t)m->cap_bnd));
		json_object_object_add(o, "no_new_privs",
		    json_object_new_int(m->nnp));
		json_object_object_add(o, "seccomp",
		    json_object_new_int(m->seccomp));
		json_object_object_add(o, "seccomp_filters",
		    json_object_new_int(m->filters));
		fds = json_object_new_array();
		for (int k = 0; k < m->nfds; k++) {
			json_object *f = json_object_new_object();

			json_object_object_add(f, "fd",
			    json_object_new_int(m->fds[k].fd));
			json_object_object_add(f, "kind",
			    json_object_new_string(m->fds[k].kind));
			json_object_array_add(fds, f);
		}
		json_object_object_add(o, "fds", fds);
		maps = json_object_new_array();
		for (int k = 0; k < m->nmaps; k++) {
			json_object *f = json_object_new_object();

			json_object_object_add(f, "owner", json_object_new_string(
			    map_owner(a, m, &m->maps[k], owner,
			    sizeof(owner))));
			json_object_object_add(f, "writable",
			    json_object_new_boolean(m->maps[k].writable));
			json_object_object_add(f, "bytes", json_object_new_int64(
			    (int64_t)m->maps[k].size));
			json_object_array_add(maps, f);
		}
		json_object_object_add(o, "shared_mappings", maps);
		json_object_array_add(meds, o);
	}
	fnd = json_object_new_array();
	for (int i = 0; i < a->nfindings; i++)
		json_object_array_add(fnd,
		    json_object_new_string(a->findings[i]));
	json_object_object_add(r, "mediators", meds);
	json_object_object_add(r, "findings", fnd);
	return r;
}

/* audit --probe: each mediator's child tried the forbidden things. */
static int
probe(int fd, bool json, json_object *out)
{
	json_object *req = json_object_new_object(), *rep, *probes, *errs;
	int allowed = 0;

	json_object_object_add(req, "cmd", json_object_new_string("probe"));
	rep = ctl_request(fd, req);
	json_object_put(req);
	if (ctl_failed(rep)) {
		json_object_put(rep);
		return -1;
	}
	if (!json_object_object_get_ex(rep, "probes", &probes)) {
		json_object_put(rep);
		return -1;
	}
	/* A mediator that could not be probed is not one that passed. */
	if (json_object_object_get_ex(rep, "errors", &errs))
		for (size_t i = 0; i < json_object_array_length(errs); i++) {
			fprintf(stderr, "cupulectl: %s\n", json_object_get_string(
			    json_object_array_get_idx(errs, i)));
			allowed++;
		}
	for (size_t i = 0; i < json_object_array_length(probes); i++) {
		json_object *p = json_object_array_get_idx(probes, i), *ops;

		if (!json_object_object_get_ex(p, "operations", &ops))
			continue;
		if (!json)
			printf("probe %s/%s (pid %lld):\n", jstr(p, "vm"),
			    jstr(p, "device"), jint(p, "pid"));
		for (size_t k = 0; k < json_object_array_length(ops); k++) {
			json_object *o = json_object_array_get_idx(ops, k);
			const char *res = jstr(o, "result");

			allowed += strcmp(res, "allowed") == 0 ||
			    strcmp(res, "failed") == 0;
			if (!json)
				printf("  %-28s %s\n", jstr(o, "operation"),
				    res);
		}
	}
	if (json)
		json_object_object_add(out, "probes", json_object_get(probes));
	json_object_put(rep);
	return allowed;
}

int
audit_run(int fd, bool json, bool with_probe)
{
	struct audit *a = calloc(1, sizeof(*a));
	json_object *req, *rep, *devs, *out = NULL;
	int ret = 0, allowed = 0;

	if (a == NULL)
		return 2;
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string("list"));
	rep = ctl_request(fd, req);
	json_object_put(req);
	if (ctl_failed(rep) || !json_object_object_get_ex(rep, "devices",
	    &devs) || collect(a, devs) < 0) {
		json_object_put(rep);
		free(a);
		return 2;
	}
	json_object_put(rep);
	audit_check(a);
	if (json)
		out = to_json(a);
	else
		print_text(a);
	if (with_probe && (allowed = probe(fd, json, out)) < 0)
		ret = 2;
	else if (allowed > 0 && !json)
		printf("FINDING: %d probe operation%s not refused, or "
		    "mediators not probed\n", allowed, allowed == 1 ? "" : "s");
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(out,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(out);
	}
	if (ret == 0 && (a->nfindings > 0 || allowed > 0))
		ret = 1;
	free(a);
	return ret;
}
