/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest physical to host address translation for mediators.  Every
 * comparison is written so that no sum of guest-supplied values can
 * wrap: the range is checked as an offset into the region, never as
 * gpa + len.
 */
#include <stddef.h>
#include <stdint.h>

#include "gmem.h"

void *
gmem_ptr(const struct gmem *m, uint64_t gpa, uint64_t len)
{
	int n = m->n;

	/* n comes from our own set-up, but an index is an index. */
	if (n < 0 || n > GMEM_MAX_REGIONS)
		return NULL;
	for (int i = 0; i < n; i++) {
		const struct gmem_region *r = &m->r[i];
		uint64_t off;

		if (r->host == NULL || gpa < r->gpa)
			continue;
		off = gpa - r->gpa;
		if (off >= r->size || len > r->size - off)
			continue;
		return r->host + off;
	}
	return NULL;
}
