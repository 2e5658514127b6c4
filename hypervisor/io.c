/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <string.h>

#include "io.h"

void
io_bus_init(struct io_bus *bus)
{
	memset(bus, 0, sizeof(*bus));
	pthread_rwlock_init(&bus->lock, NULL);
}

void
io_bus_fini(struct io_bus *bus)
{
	pthread_rwlock_destroy(&bus->lock);
}

int
io_register(struct io_bus *bus, uint64_t base, uint64_t len, io_fn fn,
    void *opaque)
{
	int i, ret = 0;

	if (len == 0 || base + len < base || fn == NULL)
		return -EINVAL;
	pthread_rwlock_wrlock(&bus->lock);
	if (bus->n == IO_MAX_RANGES) {
		ret = -ENOSPC;
		goto out;
	}
	for (i = 0; i < bus->n; i++) {
		if (base < bus->r[i].base + bus->r[i].len &&
		    bus->r[i].base < base + len) {
			ret = -EEXIST;
			goto out;
		}
		if (bus->r[i].base > base)
			break;
	}
	memmove(&bus->r[i + 1], &bus->r[i], (bus->n - i) * sizeof(bus->r[0]));
	bus->r[i] = (struct io_range){ base, len, fn, opaque };
	bus->n++;
out:
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

int
io_unregister(struct io_bus *bus, uint64_t base)
{
	int i, ret = -ENOENT;

	pthread_rwlock_wrlock(&bus->lock);
	for (i = 0; i < bus->n; i++) {
		if (bus->r[i].base == base) {
			memmove(&bus->r[i], &bus->r[i + 1],
			    (bus->n - i - 1) * sizeof(bus->r[0]));
			bus->n--;
			ret = 0;
			break;
		}
	}
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

/* Binary search: the range holding addr, or NULL.  Caller holds the lock. */
static const struct io_range *
io_find(const struct io_bus *bus, uint64_t addr)
{
	int lo = 0, hi = bus->n - 1;

	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		const struct io_range *r = &bus->r[mid];

		if (addr < r->base)
			hi = mid - 1;
		else if (addr - r->base >= r->len)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

bool
io_dispatch(struct io_bus *bus, uint64_t addr, uint8_t *data, unsigned size,
    bool is_write)
{
	const struct io_range *r;
	bool served = false;

	if (size == 0 || size > 8)
		return false;
	pthread_rwlock_rdlock(&bus->lock);
	r = io_find(bus, addr);
	/* An access straddling the end of a range is not the handler's. */
	if (r != NULL && addr - r->base + size <= r->len) {
		r->fn(r->opaque, addr - r->base, data, size, is_write);
		served = true;
	}
	pthread_rwlock_unlock(&bus->lock);
	if (!served) {
		__atomic_add_fetch(&bus->unhandled, 1, __ATOMIC_RELAXED);
		if (!is_write)
			memset(data, 0xff, size);
	}
	return served;
}
