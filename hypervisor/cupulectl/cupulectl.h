/* SPDX-License-Identifier: BSD-3-Clause */
/* What the parts of cupulectl share. */
#ifndef CUPULECTL_H
#define CUPULECTL_H

#include <stdbool.h>

#include <json-c/json.h>

/* One request on the control socket; its reply or NULL. */
json_object *ctl_request(int fd, json_object *req);

/* Prints the reply's error; true if it failed. */
bool ctl_failed(json_object *rep);

/* A member as text ("-" when absent) or number (-1 when absent). */
const char *jstr(json_object *o, const char *key);
long long jint(json_object *o, const char *key);

/*
 * cupulectl audit: reads what the kernel says about every mediator and
 * checks it against its policy.  Returns the exit status: 0 clean, 1
 * findings, 2 trouble.
 */
int audit_run(int fd, bool json, bool probe);

#endif
