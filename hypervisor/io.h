/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * An address space (port I/O or MMIO) of non-overlapping ranges, each
 * served by one handler.  vCPU exits are dispatched through it.
 */
#ifndef CUPULE_IO_H
#define CUPULE_IO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * Serves one access of size 1, 2, 4 or 8 at offset off within the range.
 * On a read the handler fills data; on a write it consumes it.
 */
typedef void (*io_fn)(void *opaque, uint64_t off, uint8_t *data,
    unsigned size, bool is_write);

struct io_range {
	uint64_t base;
	uint64_t len;
	io_fn fn;
	void *opaque;
};

#define IO_MAX_RANGES	64

struct io_bus {
	pthread_rwlock_t lock;
	int n;
	struct io_range r[IO_MAX_RANGES];	/* sorted by base */
	uint64_t unhandled;			/* accesses nobody served */
};

/* Initialises an empty bus. */
void io_bus_init(struct io_bus *bus);

/* Frees what io_bus_init allocated. */
void io_bus_fini(struct io_bus *bus);

/*
 * Adds [base, base+len) served by fn.  Returns 0, -EEXIST when it
 * overlaps a registered range, -ENOSPC when the bus is full, -EINVAL
 * for an empty or wrapping range.
 */
int io_register(struct io_bus *bus, uint64_t base, uint64_t len, io_fn fn,
    void *opaque);

/* Removes the range starting at base.  Returns 0 or -ENOENT. */
int io_unregister(struct io_bus *bus, uint64_t base);

/*
 * Dispatches one access.  An access nobody serves reads as all ones and
 * its writes are dropped.  Returns true if a handler served it.
 */
bool io_dispatch(struct io_bus *bus, uint64_t addr, uint8_t *data,
    unsigned size, bool is_write);

#endif
