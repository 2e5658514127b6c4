/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the control socket's request handling, on both
 * sides (the supervisor's, with no VM, and a VM process's, with no
 * device), as root and as a group member.  Input: any bytes, taken as
 * one request line.  Checked: no crash or leak, and every reply is one
 * JSON object with a boolean "ok" and, when it is false, an "error".
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "control.h"
#include "mediator_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Never reached with no device; here so that control.c links alone. */
int mediator_restart(struct mediator *m) { (void)m; abort(); }
int mediator_kill(struct mediator *m) { (void)m; abort(); }
int
mediator_probe(struct mediator *m, pid_t sibling, struct ctl_probe_result *r)
{
	(void)m; (void)sibling; (void)r;
	abort();
}
uint64_t med_now_ms(void) { return 0; }

static void
check_reply(const char *out)
{
	json_object *r = json_tokener_parse(out), *ok, *err;

	if (r == NULL || !json_object_is_type(r, json_type_object) ||
	    !json_object_object_get_ex(r, "ok", &ok) ||
	    !json_object_is_type(ok, json_type_boolean))
		abort();
	if (!json_object_get_boolean(ok) &&
	    (!json_object_object_get_ex(r, "error", &err) ||
	    !json_object_is_type(err, json_type_string)))
		abort();
	json_object_put(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scenario sc = { .control_gid = -1 };
	struct control_ctx c = { .sc = &sc };
	char *line = malloc(size + 1), *out;

	if (line == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	for (int side = 0; side < 2; side++)
		for (int root = 0; root < 2; root++) {
			out = control_handle_line(&c, line, root, side);
			if (out == NULL)
				abort();
			check_reply(out);
			free(out);
		}
	free(line);
	return 0;
}
