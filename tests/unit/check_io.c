/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the I/O bus: registration rules (overlap, empty and
 * wrapping ranges, a full bus), unregistration, dispatch with offsets,
 * unhandled and straddling accesses, and lookups among many ranges.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"

static struct io_bus bus;

/* One handler for every range; opaque tells which range it was. */
struct call {
	int id;
	uint64_t off;
	unsigned size;
	bool is_write;
	uint8_t data[8];
};
static struct call last;
static int ncalls;
static int ids[IO_MAX_RANGES + 1];

static void
rec_io(void *opaque, uint64_t off, uint8_t *data, unsigned size,
    bool is_write)
{
	last.id = *(const int *)opaque;
	last.off = off;
	last.size = size;
	last.is_write = is_write;
	if (is_write) {
		memcpy(last.data, data, size);
	} else {
		/* Reads return a pattern naming the range and offset. */
		for (unsigned i = 0; i < size; i++)
			data[i] = (uint8_t)(last.id * 16 + off + i);
	}
	ncalls++;
}

static void
setup(void)
{
	io_bus_init(&bus);
	for (int i = 0; i <= IO_MAX_RANGES; i++)
		ids[i] = i;
	ncalls = 0;
	memset(&last, 0, sizeof(last));
}

static void
teardown(void)
{
	io_bus_fini(&bus);
}

START_TEST(test_dispatch)
{
	uint8_t d[8] = { 0 };

	ck_assert_int_eq(io_register(&bus, 0x3f8, 8, rec_io, &ids[1]), 0);
	ck_assert_int_eq(io_register(&bus, 0xcf8, 4, rec_io, &ids[2]), 0);

	ck_assert(io_dispatch(&bus, 0x3fd, d, 1, false));
	ck_assert_int_eq(ncalls, 1);
	ck_assert_int_eq(last.id, 1);
	ck_assert_uint_eq(last.off, 5);
	ck_assert_uint_eq(last.size, 1);
	ck_assert(!last.is_write);
	ck_assert_uint_eq(d[0], 16 + 5);

	ck_assert(io_dispatch(&bus, 0xcfa, d, 2, false));
	ck_assert_int_eq(last.id, 2);
	ck_assert_uint_eq(last.off, 2);
	ck_assert_uint_eq(d[0], 32 + 2);
	ck_assert_uint_eq(d[1], 32 + 3);

	memcpy(d, "\x12\x34\x56\x78", 4);
	ck_assert(io_dispatch(&bus, 0xcf8, d, 4, true));
	ck_assert_int_eq(last.id, 2);
	ck_assert_uint_eq(last.off, 0);
	ck_assert_uint_eq(last.size, 4);
	ck_assert(last.is_write);
	ck_assert_mem_eq(last.data, "\x12\x34\x56\x78", 4);

	/* First and last byte of a range */
	ck_assert(io_dispatch(&bus, 0x3f8, d, 1, true));
	ck_assert_uint_eq(last.off, 0);
	ck_assert(io_dispatch(&bus, 0x3ff, d, 1, false));
	ck_assert_uint_eq(last.off, 7);
	ck_assert_int_eq(ncalls, 5);
	ck_assert_uint_eq(bus.unhandled, 0);
}
END_TEST

/* MMIO-sized addresses and 8-byte accesses. */
START_TEST(test_dispatch_mmio)
{
	uint8_t d[8];

	ck_assert_int_eq(io_register(&bus, 0xfebf0000, 0x1000, rec_io,
	    &ids[3]), 0);
	ck_assert_int_eq(io_register(&bus, 0x2e0000000ULL, 0x100000, rec_io,
	    &ids[4]), 0);
	ck_assert(io_dispatch(&bus, 0xfebf0ff8, d, 8, false));
	ck_assert_int_eq(last.id, 3);
	ck_assert_uint_eq(last.off, 0xff8);
	ck_assert_uint_eq(last.size, 8);
	ck_assert(io_dispatch(&bus, 0x2e0012340ULL, d, 4, true));
	ck_assert_int_eq(last.id, 4);
	ck_assert_uint_eq(last.off, 0x12340);
	/* Sizes outside 1..8 are nobody's. */
	ck_assert(!io_dispatch(&bus, 0xfebf0000, d, 0, false));
	ck_assert(!io_dispatch(&bus, 0xfebf0000, d, 16, false));
	ck_assert_int_eq(ncalls, 2);
}
END_TEST

START_TEST(test_overlap)
{
	ck_assert_int_eq(io_register(&bus, 0x100, 0x10, rec_io, &ids[1]), 0);
	ck_assert_int_eq(io_register(&bus, 0x100, 0x10, rec_io, &ids[2]),
	    -EEXIST);
	ck_assert_int_eq(io_register(&bus, 0x10f, 2, rec_io, &ids[2]),
	    -EEXIST);
	ck_assert_int_eq(io_register(&bus, 0xf0, 0x11, rec_io, &ids[2]),
	    -EEXIST);
	ck_assert_int_eq(io_register(&bus, 0x104, 2, rec_io, &ids[2]),
	    -EEXIST);
	ck_assert_int_eq(io_register(&bus, 0, 0x1000, rec_io, &ids[2]),
	    -EEXIST);
	/* Touching on either side is fine. */
	ck_assert_int_eq(io_register(&bus, 0x110, 0x10, rec_io, &ids[2]), 0);
	ck_assert_int_eq(io_register(&bus, 0xf0, 0x10, rec_io, &ids[3]), 0);
	/* Covering a later range but starting in a gap before it. */
	ck_assert_int_eq(io_register(&bus, 0x200, 0x10, rec_io, &ids[4]), 0);
	ck_assert_int_eq(io_register(&bus, 0x180, 0x81, rec_io, &ids[5]),
	    -EEXIST);
	ck_assert_int_eq(io_register(&bus, 0x180, 0x80, rec_io, &ids[5]), 0);
	ck_assert_int_eq(bus.n, 5);
	/* The refused ranges left no trace. */
	for (int i = 1; i < bus.n; i++)
		ck_assert_uint_lt(bus.r[i - 1].base, bus.r[i].base);
}
END_TEST

START_TEST(test_einval)
{
	ck_assert_int_eq(io_register(&bus, 0x100, 0, rec_io, &ids[1]),
	    -EINVAL);
	ck_assert_int_eq(io_register(&bus, UINT64_MAX - 3, 8, rec_io,
	    &ids[1]), -EINVAL);
	ck_assert_int_eq(io_register(&bus, 0x10, UINT64_MAX, rec_io, &ids[1]),
	    -EINVAL);
	ck_assert_int_eq(io_register(&bus, 0x100, 8, NULL, &ids[1]), -EINVAL);
	ck_assert_int_eq(bus.n, 0);
	/* The top of the address space, not past it, is fine. */
	ck_assert_int_eq(io_register(&bus, UINT64_MAX - 15, 15, rec_io,
	    &ids[1]), 0);
}
END_TEST

START_TEST(test_full)
{
	uint8_t d[1];

	for (int i = 0; i < IO_MAX_RANGES; i++)
		ck_assert_int_eq(io_register(&bus, 0x1000 + 0x10 * (uint64_t)i,
		    4, rec_io, &ids[i]), 0);
	ck_assert_int_eq(io_register(&bus, 0x10, 4, rec_io,
	    &ids[IO_MAX_RANGES]), -ENOSPC);
	ck_assert_int_eq(bus.n, IO_MAX_RANGES);
	ck_assert(!io_dispatch(&bus, 0x10, d, 1, false));
	/* Room again after one leaves. */
	ck_assert_int_eq(io_unregister(&bus, 0x1000 + 0x10 * 7), 0);
	ck_assert_int_eq(io_register(&bus, 0x10, 4, rec_io,
	    &ids[IO_MAX_RANGES]), 0);
	ck_assert(io_dispatch(&bus, 0x13, d, 1, false));
	ck_assert_int_eq(last.id, IO_MAX_RANGES);
}
END_TEST

START_TEST(test_unregister)
{
	uint8_t d[2];

	ck_assert_int_eq(io_register(&bus, 0x60, 1, rec_io, &ids[1]), 0);
	ck_assert_int_eq(io_register(&bus, 0x64, 1, rec_io, &ids[2]), 0);
	ck_assert_int_eq(io_register(&bus, 0x70, 2, rec_io, &ids[3]), 0);
	ck_assert_int_eq(io_unregister(&bus, 0x71), -ENOENT);
	ck_assert_int_eq(io_unregister(&bus, 0x65), -ENOENT);
	ck_assert_int_eq(io_unregister(&bus, 0x64), 0);
	ck_assert_int_eq(io_unregister(&bus, 0x64), -ENOENT);
	ck_assert_int_eq(bus.n, 2);

	ck_assert(!io_dispatch(&bus, 0x64, d, 1, false));
	ck_assert_uint_eq(d[0], 0xff);
	ck_assert(io_dispatch(&bus, 0x60, d, 1, false));
	ck_assert_int_eq(last.id, 1);
	ck_assert(io_dispatch(&bus, 0x70, d, 2, false));
	ck_assert_int_eq(last.id, 3);
	ck_assert_int_eq(ncalls, 2);

	/* Its place can be taken again, by something larger. */
	ck_assert_int_eq(io_register(&bus, 0x62, 6, rec_io, &ids[4]), 0);
	ck_assert(io_dispatch(&bus, 0x64, d, 1, false));
	ck_assert_int_eq(last.id, 4);
	ck_assert_uint_eq(last.off, 2);
}
END_TEST

START_TEST(test_unhandled)
{
	uint8_t d[8];

	ck_assert_int_eq(io_register(&bus, 0x80, 1, rec_io, &ids[1]), 0);
	memset(d, 0, sizeof(d));
	ck_assert(!io_dispatch(&bus, 0x81, d, 4, false));
	ck_assert_mem_eq(d, "\xff\xff\xff\xff\0\0\0\0", 8);
	ck_assert_uint_eq(bus.unhandled, 1);
	memset(d, 0, sizeof(d));
	ck_assert(!io_dispatch(&bus, 0xdead0000, d, 8, false));
	ck_assert_mem_eq(d, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
	ck_assert_uint_eq(bus.unhandled, 2);
	/* Dropped writes leave the data alone but are counted too. */
	memcpy(d, "\x01\x02", 2);
	ck_assert(!io_dispatch(&bus, 0x7f, d, 1, true));
	ck_assert_mem_eq(d, "\x01\x02", 2);
	ck_assert_uint_eq(bus.unhandled, 3);
	ck_assert_int_eq(ncalls, 0);
	ck_assert(io_dispatch(&bus, 0x80, d, 1, true));
	ck_assert_uint_eq(bus.unhandled, 3);
}
END_TEST

START_TEST(test_straddle)
{
	uint8_t d[4];

	ck_assert_int_eq(io_register(&bus, 0x100, 4, rec_io, &ids[1]), 0);
	ck_assert_int_eq(io_register(&bus, 0x104, 4, rec_io, &ids[2]), 0);
	memset(d, 0, sizeof(d));
	ck_assert(!io_dispatch(&bus, 0x102, d, 4, false));
	ck_assert_mem_eq(d, "\xff\xff\xff\xff", 4);
	ck_assert(!io_dispatch(&bus, 0x103, d, 2, true));
	ck_assert(!io_dispatch(&bus, 0x107, d, 2, false));
	ck_assert(!io_dispatch(&bus, 0xff, d, 2, false));
	ck_assert_int_eq(ncalls, 0);
	ck_assert_uint_eq(bus.unhandled, 4);
	/* Right up to the end is served. */
	ck_assert(io_dispatch(&bus, 0x100, d, 4, false));
	ck_assert(io_dispatch(&bus, 0x102, d, 2, false));
	ck_assert_int_eq(last.id, 1);
	ck_assert(io_dispatch(&bus, 0x107, d, 1, false));
	ck_assert_int_eq(last.id, 2);
	ck_assert_uint_eq(last.off, 3);
	/* The first byte after one range belongs to the next. */
	ck_assert(io_dispatch(&bus, 0x104, d, 4, false));
	ck_assert_int_eq(last.id, 2);
	ck_assert_uint_eq(last.off, 0);
	ck_assert_int_eq(ncalls, 4);
	ck_assert_uint_eq(bus.unhandled, 4);
}
END_TEST

/*
 * A full bus registered in scrambled order, ranges of different
 * lengths with gaps between them: every byte finds its own range and
 * every gap finds none.
 */
#define STRIDE	0x40

static uint64_t
many_base(int i)
{
	return 0x10000 + STRIDE * (uint64_t)i;
}

static uint64_t
many_len(int i)
{
	return 1 + (uint64_t)(i * 7) % (STRIDE - 1);
}

static void
check_many(const bool *present)
{
	uint8_t d[1];

	for (int i = 0; i < IO_MAX_RANGES; i++) {
		uint64_t base = many_base(i), len = many_len(i);

		for (uint64_t a = base - 1; a <= base + len; a++) {
			bool in = present[i] && a >= base && a < base + len;

			ncalls = 0;
			ck_assert_msg(io_dispatch(&bus, a, d, 1, false) == in,
			    "range %d, address %#llx", i,
			    (unsigned long long)a);
			if (in) {
				ck_assert_int_eq(last.id, i);
				ck_assert_uint_eq(last.off, a - base);
			} else {
				ck_assert_int_eq(ncalls, 0);
			}
		}
	}
}

START_TEST(test_many)
{
	bool present[IO_MAX_RANGES];

	for (int k = 0; k < IO_MAX_RANGES; k++) {
		/* 37 is coprime with 64: every range exactly once. */
		int i = (k * 37 + 11) % IO_MAX_RANGES;

		ck_assert_int_eq(io_register(&bus, many_base(i), many_len(i),
		    rec_io, &ids[i]), 0);
		present[i] = true;
	}
	ck_assert_int_eq(bus.n, IO_MAX_RANGES);
	for (int i = 1; i < bus.n; i++)
		ck_assert_uint_lt(bus.r[i - 1].base, bus.r[i].base);
	check_many(present);

	/* Every third range leaves: the rest are still found. */
	for (int i = 0; i < IO_MAX_RANGES; i += 3) {
		ck_assert_int_eq(io_unregister(&bus, many_base(i)), 0);
		present[i] = false;
	}
	check_many(present);
}
END_TEST

static Suite *
io_suite(void)
{
	Suite *s = suite_create("io");
	TCase *tc = tcase_create("bus");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_dispatch);
	tcase_add_test(tc, test_dispatch_mmio);
	tcase_add_test(tc, test_overlap);
	tcase_add_test(tc, test_einval);
	tcase_add_test(tc, test_full);
	tcase_add_test(tc, test_unregister);
	tcase_add_test(tc, test_unhandled);
	tcase_add_test(tc, test_straddle);
	tcase_add_test(tc, test_many);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(io_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
