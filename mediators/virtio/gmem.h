/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest memory as a mediator maps it: the VM's RAM memfd mapped region by
 * region.  Every guest address a guest hands us goes through gmem_ptr().
 */
#ifndef CUPULE_GMEM_H
#define CUPULE_GMEM_H

#include <stdint.h>

#define GMEM_MAX_REGIONS	4

struct gmem_region {
	uint64_t gpa;		/* guest physical start */
	uint64_t size;
	uint8_t *host;		/* where this process mapped it */
};

struct gmem {
	int n;
	struct gmem_region r[GMEM_MAX_REGIONS];
};

/*
 * Returns the host address of [gpa, gpa + len) when the whole range lies
 * inside one region, else NULL.  len 0 is allowed (any gpa in a region).
 */
void *gmem_ptr(const struct gmem *m, uint64_t gpa, uint64_t len);

#endif
