/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the ioreq ring: layout, every state transition and the
 * illegal ones, sequence numbers and their wrap-around, malformed slots,
 * header mismatches, recovery after a mediator died (in one process and
 * with a real SIGKILL), eventfd notification, and two vCPU threads
 * hammering a mediator process.
 *
 * The tests look into the shared memory through the VM side's mapping
 * (vm.slots, vm.hdr) to check states and to play a misbehaving peer.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ring.h"

#define NSLOTS	4

static struct ioreq_ring vm, med;

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* Attaches m to vm's ring with its own copies of the fds. */
static int
attach(struct ioreq_ring *m, char *why, size_t len)
{
	int done[IOREQ_MAX_SLOTS], memfd = dup(vm.memfd), kick = dup(vm.kick_fd);
	int ret;

	for (unsigned i = 0; i < vm.nslots; i++)
		done[i] = dup(vm.done_fd[i]);
	ret = ioreq_ring_attach(m, memfd, kick, done, vm.nslots, why, len);
	if (ret < 0) {
		close(memfd);
		close(kick);
		for (unsigned i = 0; i < vm.nslots; i++)
			close(done[i]);
	}
	return ret;
}

static void
setup(void)
{
	ck_assert_int_eq(ioreq_ring_create(&vm, NSLOTS), 0);
	ck_assert_int_eq(attach(&med, NULL, 0), 0);
}

static void
teardown(void)
{
	ioreq_ring_close(&med);
	ioreq_ring_close(&vm);
}

static uint32_t
state(unsigned slot)
{
	return __atomic_load_n(&vm.slots[slot].state, __ATOMIC_ACQUIRE);
}

static bool
readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

static void
drain(int fd)
{
	uint64_t v;

	while (readable(fd))
		ck_assert_int_eq(read(fd, &v, sizeof(v)), sizeof(v));
}

static const struct ioreq rd8 = { .type = IOREQ_MMIO, .size = 8,
    .dir = IOREQ_READ, .index = 2, .addr = 0x40 };

START_TEST(test_layout)
{
	const uint8_t *h = (const uint8_t *)vm.hdr, *s;
	struct ioreq req = { .type = IOREQ_PIO, .size = 2, .dir = IOREQ_WRITE,
	    .index = 3, .addr = 0x1234, .data = 0xabcdef };
	int seals = fcntl(vm.memfd, F_GET_SEALS);

	ck_assert_mem_eq(h, "CUIR", 4);
	ck_assert_uint_eq(h[4] | h[5] << 8, IOREQ_VERSION);
	ck_assert_uint_eq(h[6] | h[7] << 8, 128);
	ck_assert_uint_eq(h[8] | h[9] << 8, 64);
	ck_assert_uint_eq(h[10] | h[11] << 8, NSLOTS);
	ck_assert_uint_eq(lseek(vm.memfd, 0, SEEK_END), 128 + NSLOTS * 64);
	ck_assert_int_eq(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
	    F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	ck_assert_uint_eq(h[72], 1);	/* generation: one attach */

	ck_assert_int_eq(ioreq_submit(&vm, 1, &req), 0);
	s = h + 128 + 64;
	ck_assert_uint_eq(s[0], IOREQ_PENDING);
	ck_assert_uint_eq(s[4], 1);		/* seq */
	ck_assert_uint_eq(s[8], IOREQ_PIO);
	ck_assert_uint_eq(s[9], 2);
	ck_assert_uint_eq(s[10], IOREQ_WRITE);
	ck_assert_uint_eq(s[11], 3);
	ck_assert_uint_eq(s[16] | s[17] << 8, 0x1234);
	ck_assert_uint_eq(s[24] | s[25] << 8 | s[26] << 16, 0xcdef); /* masked */
}
END_TEST

START_TEST(test_create_einval)
{
	struct ioreq_ring r;
	int before = count_fds();

	ck_assert_int_eq(ioreq_ring_create(&r, 0), -EINVAL);
	ck_assert_int_eq(ioreq_ring_create(&r, IOREQ_MAX_SLOTS + 1), -EINVAL);
	ck_assert_int_eq(ioreq_ring_create(&r, IOREQ_MAX_SLOTS), 0);
	ioreq_ring_close(&r);
	ioreq_ring_close(&r);
	ck_assert_int_eq(count_fds(), before);
}
END_TEST

static const struct ioreq good[] = {
	{ .type = IOREQ_PIO, .size = 1, .dir = IOREQ_READ, .addr = 0xffff },
	{ .type = IOREQ_PIO, .size = 2, .dir = IOREQ_WRITE, .addr = 0x10,
	    .data = 0x12345 },
	{ .type = IOREQ_PIO, .size = 4, .dir = IOREQ_READ, .index = 7 },
	{ .type = IOREQ_MMIO, .size = 1, .dir = IOREQ_WRITE, .data = 0x1ff },
	{ .type = IOREQ_MMIO, .size = 8, .dir = IOREQ_WRITE, .addr = 1,
	    .data = UINT64_MAX - 1 },
	{ .type = IOREQ_MMIO, .size = 8, .dir = IOREQ_READ,
	    .addr = UINT64_MAX - 7 },
	{ .type = IOREQ_PCI_CFG, .size = 4, .dir = IOREQ_READ, .addr = 0xffc },
	{ .type = IOREQ_PCI_CFG, .size = 2, .dir = IOREQ_WRITE, .addr = 0x6,
	    .index = 7, .data = 0xffff },
};
#define NGOOD ((int)(sizeof(good) / sizeof(good[0])))

/* FREE -> PENDING -> PROCESSING -> COMPLETE -> FREE, for each shape. */
START_TEST(test_cycle)
{
	const struct ioreq *q = &good[_i];
	uint64_t mask = q->size == 8 ? UINT64_MAX : (1ull << (8 * q->size)) - 1;
	struct ioreq got;
	unsigned slot = 99;
	uint64_t data;

	ck_assert_uint_eq(state(2), IOREQ_FREE);
	ck_assert_int_eq(ioreq_submit(&vm, 2, q), 0);
	ck_assert_uint_eq(state(2), IOREQ_PENDING);
	ck_assert_int_eq(ioreq_take(&med, &slot, &got), 0);
	ck_assert_uint_eq(slot, 2);
	ck_assert_uint_eq(state(2), IOREQ_PROCESSING);
	ck_assert_uint_eq(got.type, q->type);
	ck_assert_uint_eq(got.size, q->size);
	ck_assert_uint_eq(got.dir, q->dir);
	ck_assert_uint_eq(got.index, q->index);
	ck_assert_uint_eq(got.addr, q->addr);
	ck_assert_uint_eq(got.seq, 1);
	ck_assert_uint_eq(got.flags, 0);
	ck_assert_uint_eq(got.data, q->dir == IOREQ_WRITE ? q->data & mask : 0);
	ck_assert_int_eq(ioreq_try_complete(&vm, 2, &data), -EAGAIN);
	ck_assert_int_eq(ioreq_complete(&med, 2, 0x0123456789abcdefull), 0);
	ck_assert_uint_eq(state(2), IOREQ_COMPLETE);
	ck_assert_int_eq(ioreq_take(&med, &slot, &got), -EAGAIN);
	ck_assert_int_eq(ioreq_try_complete(&vm, 2, &data), 0);
	ck_assert_uint_eq(state(2), IOREQ_FREE);
	ck_assert_uint_eq(data, q->dir == IOREQ_READ ?
	    0x0123456789abcdefull & mask : 0);
}
END_TEST

START_TEST(test_illegal)
{
	struct ioreq got, bad = rd8;
	unsigned slot;
	uint64_t data;

	/* Nothing in flight. */
	ck_assert_int_eq(ioreq_take(&med, &slot, &got), -EAGAIN);
	ck_assert_int_eq(ioreq_try_complete(&vm, 0, &data), -EINVAL);
	ck_assert_int_eq(ioreq_wait_complete(&vm, 0, 0, &data), -EINVAL);
	ck_assert_int_eq(ioreq_complete(&med, 0, 1), -EINVAL);
	ck_assert_int_eq(ioreq_latch(&med, 0, 1), -EINVAL);
	/* Wrong side, wrong slot, bad request. */
	ck_assert_int_eq(ioreq_submit(&med, 0, &rd8), -EINVAL);
	ck_assert_int_eq(ioreq_take(&vm, &slot, &got), -EINVAL);
	ck_assert_int_eq(ioreq_complete(&vm, 0, 1), -EINVAL);
	ck_assert_int_eq(ioreq_arm(&vm), -EINVAL);
	ck_assert_int_eq(ioreq_wait_pending(&vm, 0), -EINVAL);
	ck_assert_int_eq(ioreq_try_complete(&med, 0, &data), -EINVAL);
	ck_assert_int_eq(ioreq_submit(&vm, NSLOTS, &rd8), -EINVAL);
	ck_assert_int_eq(ioreq_complete(&med, NSLOTS, 1), -EINVAL);
	bad.size = 3;
	ck_assert_int_eq(ioreq_submit(&vm, 0, &bad), -EINVAL);
	ck_assert_uint_eq(state(0), IOREQ_FREE);

	/* PENDING: no second submit, no completion before take. */
	ck_assert_int_eq(ioreq_submit(&vm, 0, &rd8), 0);
	ck_assert_int_eq(ioreq_submit(&vm, 0, &rd8), -EBUSY);
	ck_assert_int_eq(ioreq_complete(&med, 0, 1), -EINVAL);
	ck_assert_uint_eq(state(0), IOREQ_PENDING);
	/* PROCESSING: not taken twice, not consumed. */
	ck_assert_int_eq(ioreq_take(&med, &slot, &got), 0);
	ck_assert_int_eq(ioreq_take(&med, &slot, &got), -EAGAIN);
	ck_assert_int_eq(ioreq_submit(&vm, 0, &rd8), -EBUSY);
	ck_assert_int_eq(ioreq_try_complete(&vm, 0, &data), -EAGAIN);
	/* COMPLETE: not completed twice, consumed once. */
	ck_assert_int_eq(ioreq_complete(&med, 0, 7), 0);
	ck_assert_int_eq(ioreq_complete(&med, 0, 8), -EINVAL);
	ck_assert_int_eq(ioreq_latch(&med, 0, 8), -EINVAL);
	ck_assert_int_eq(ioreq_submit(&vm, 0, &rd8), -EBUSY);
	ck_assert_int_eq(ioreq_try_complete(&vm, 0, &data), 0);
	ck_assert_uint_eq(data, 7);
	ck_assert_int_eq(ioreq_try_complete(&vm, 0, &data), -EINVAL);

	/* Latching is for reads only. */
	bad = rd8;
	bad.dir = IOREQ_WRITE;
	ck_assert_int_eq(ioreq_submit(&vm, 1, &bad), 0);
	ck_assert_int_eq(ioreq_take(&med, &slot, &got), 0);
	ck_assert_int_eq(ioreq_latch(&med, 1, 5), -EINVAL);
	ck_assert_int_eq(ioreq_complete(&med, 1, 5), 0);
	ck_assert_int_eq(ioreq_try_complete(&vm, 1, &data), 0);
	ck_assert_uint_eq(data, 0);
}
END_TEST

/* One full cycle on slot; returns what the mediator saw as seq. */
static uint32_t
cycle(unsigned slot, uint64_t answer)
{
	struct ioreq got;
	unsigned s;
	uint64_t data;

	ck_assert_int_eq(ioreq_submit(&vm, slot, &rd8), 0);
	ck_assert_int_eq(ioreq_take(&med, &s, &got), 0);
	ck_assert_uint_eq(s, slot);
	ck_assert_uint_eq(vm.slots[slot].seq, got.seq);
	ck_assert_int_eq(ioreq_complete(&med, s, answer), 0);
	ck_assert_uint_eq(vm.slots[slot].done_seq, got.seq);
	ck_assert_int_eq(ioreq_try_complete(&vm, slot, &data), 0);
	ck_assert_uint_eq(data, answer);
	return got.seq;
}

START_TEST(test_seq)
{
	for (uint32_t i = 1; i <= 10; i++) {
		ck_assert_uint_eq(cycle(0, i), i);
		ck_assert_uint_eq(cycle(3, i * 7), i);
	}
}
END_TEST

START_TEST(test_seq_wrap)
{
	static const uint32_t want[] = { UINT32_MAX - 1, UINT32_MAX, 0, 1, 2 };

	vm.own[1].seq = UINT32_MAX - 2;
	for (unsigned i = 0; i < 5; i++)
		ck_assert_uint_eq(cycle(1, 100 + i), want[i]);
}
END_TEST

/* A mediator that answers another request number is not believed. */
START_TEST(test_seq_mismatch)
{
	struct ioreq got;
	unsigned s;
	uint64_t data;

	ck_assert_int_eq(ioreq_submit(&vm, 0, &rd8), 0);
	ck_assert_int_eq(ioreq_take(&med, &s, &got), 0);
	ck_assert_int_eq(ioreq_complete(&med, s, 5), 0);
	vm.slots[0].done_seq = got.seq + 1;
	ck_assert_int_eq(ioreq_try_complete(&vm, 0, &data), -EPROTO);
	ck_assert_uint_eq(data, UINT64_MAX);
	ck_assert_uint_eq(state(0), IOREQ_FREE);
	ck_assert_uint_eq(cycle(0, 9), 2);
}
END_TEST

/* Slot contents a hostile or broken VM side could write. */
static const struct {
	const char *what;
	unsigned off, val;
} bad_fields[] = {
	{ "type 0", 8, 0 }, { "type 4", 8, 4 }, { "type 255", 8, 255 },
	{ "size 0", 9, 0 }, { "size 3", 9, 3 }, { "size 16", 9, 16 },
	{ "dir 2", 10, 2 }, { "index 8", 11, 8 }, { "index 255", 11, 255 },
};
#define NBAD ((int)(sizeof(bad_fields) / sizeof(bad_fields[0])))

static void
refused(unsigned slot, unsigned size)
{
	struct ioreq got;
	unsigned s;
	uint64_t data;

	ck_assert_int_eq(ioreq_take(&med, &s, &got), -EAGAIN);
	ck_assert_uint_eq(state(slot), IOREQ_COMPLETE);
	ck_assert_uint_eq(vm.hdr->bad, 1);
	ck_assert_int_eq(ioreq_try_complete(&vm, slot, &data), -EIO);
	ck_assert_uint_eq(data, size == 8 ? UINT64_MAX :
	    (1ull << (8 * size)) - 1);
}

START_TEST(test_bad_field)
{
	ck_assert_int_eq(ioreq_submit(&vm, 1, &rd8), 0);
	((uint8_t *)&vm.slots[1])[bad_fields[_i].off] =
	    (uint8_t)bad_fields[_i].val;
	refused(1, 8);
}
END_TEST

/* Shapes that are only wrong for their type. */
static const struct ioreq bad_shapes[] = {
	{ .type = IOREQ_PIO, .size = 8 },
	{ .type = IOREQ_PIO, .size = 2, .addr = 0xffff },
	{ .type = IOREQ_PIO, .size = 1, .addr = 0x10000 },
	{ .type = IOREQ_PCI_CFG, .size = 8 },
	{ .type = IOREQ_PCI_CFG, .size = 4, .addr = 2 },
	{ .type = IOREQ_PCI_CFG, .size = 1, .addr = 4096 },
	{ .type = IOREQ_MMIO, .size = 2, .addr = UINT64_MAX },
};
#define NSHAPES ((int)(sizeof(bad_shapes) / sizeof(bad_shapes[0])))

START_TEST(test_bad_shape)
{
	struct ioreq q = bad_shapes[_i], ok = { .type = IOREQ_MMIO,
	    .size = 4, .dir = IOREQ_READ };

	ck_assert_int_eq(ioreq_submit(&vm, 2, &q), -EINVAL);
	ck_assert_int_eq(ioreq_submit(&vm, 2, &ok), 0);
	vm.slots[2].type = q.type;
	vm.slots[2].size = q.size;
	vm.slots[2].addr = q.addr;
	refused(2, 4);
}
END_TEST

/* A bad slot does not hide a good one behind it. */
START_TEST(test_bad_beside_good)
{
	struct ioreq got;
	unsigned s;
	uint64_t data;

	ck_assert_int_eq(ioreq_submit(&vm, 0, &rd8), 0);
	ck_assert_int_eq(ioreq_submit(&vm, 1, &rd8), 0);
	vm.slots[0].type = 0;
	ck_assert_int_eq(ioreq_take(&med, &s, &got), 0);
	ck_assert_uint_eq(s, 1);
	ck_assert_int_eq(ioreq_complete(&med, s, 3), 0);
	ck_assert_int_eq(ioreq_try_complete(&vm, 0, &data), -EIO);
	ck_assert_int_eq(ioreq_try_complete(&vm, 1, &data), 0);
	ck_assert_uint_eq(data, 3);
	ck_assert_uint_eq(vm.hdr->bad, 1);
}
END_TEST

/* Ring headers the mediator must refuse, and why. */
static const struct {
	unsigned off, size;
	uint32_t val;
	const char *why;
} bad_hdr[] = {
	{ 0, 4, 0x12345678, "bad ring magic 0x12345678" },
	{ 4, 2, 1, "ring version 1, this side speaks version 2" },
	{ 4, 2, 3, "ring version 3, this side speaks version 2" },
	{ 4, 2, 0, "ring version 0" },
	{ 6, 2, 64, "ring header size 64, expected 128" },
	{ 8, 2, 128, "ring slot size 128, expected 64" },
	{ 10, 2, 0, "ring has 0 slots" },
	{ 10, 2, 65, "ring has 65 slots, 1 to 64 supported" },
	{ 10, 2, 8, "ring memfd has 384 bytes, its 8 slots need 640" },
	{ 12, 4, 1, "ring flags 0x1 not understood" },
};
#define NBADHDR ((int)(sizeof(bad_hdr) / sizeof(bad_hdr[0])))

START_TEST(test_header_mismatch)
{
	struct ioreq_ring m;
	char why[128] = "";
	int before;

	ioreq_ring_close(&med);
	memcpy((uint8_t *)vm.hdr + bad_hdr[_i].off, &bad_hdr[_i].val,
	    bad_hdr[_i].size);
	before = count_fds();
	ck_assert_int_eq(attach(&m, why, sizeof(why)), -EPROTO);
	ck_assert_msg(strstr(why, bad_hdr[_i].why) != NULL, "why: %s", why);
	ck_assert_int_eq(count_fds(), before);
	ck_assert_int_eq(ioreq_ring_check(vm.hdr, IOREQ_HDR_SIZE, NULL, 0),
	    _i == 8 ? 0 : -EPROTO);
}
END_TEST

START_TEST(test_header_other)
{
	struct ioreq_ring m;
	char why[128];
	int fd, done[NSLOTS];

	ck_assert_int_eq(ioreq_ring_check(vm.hdr, 100, why, sizeof(why)),
	    -EPROTO);
	ck_assert_str_eq(why, "ring header has 100 bytes, need 128");
	/* Too few completion eventfds. */
	for (unsigned i = 0; i < NSLOTS; i++)
		done[i] = vm.done_fd[i];
	ck_assert_int_eq(ioreq_ring_attach(&m, vm.memfd, vm.kick_fd, done,
	    NSLOTS - 1, why, sizeof(why)), -EPROTO);
	ck_assert_str_eq(why, "ring has 4 slots but 3 completion eventfds "
	    "were passed");
	/* A good header in a file that could shrink under us. */
	fd = memfd_create("unsealed", MFD_CLOEXEC);
	ck_assert_int_eq(write(fd, vm.hdr, vm.map_size), (ssize_t)vm.map_size);
	ck_assert_int_eq(ioreq_ring_attach(&m, fd, vm.kick_fd, done, NSLOTS,
	    why, sizeof(why)), -EPROTO);
	ck_assert_str_eq(why, "ring memfd is not sealed against shrinking");
	ck_assert_int_eq(ftruncate(fd, 50), 0);
	ck_assert_int_eq(ioreq_ring_attach(&m, fd, vm.kick_fd, done, NSLOTS,
	    why, sizeof(why)), -EPROTO);
	ck_assert_str_eq(why, "ring memfd has 50 bytes, less than a header");
	close(fd);
	ck_assert_int_eq(ioreq_ring_attach(&m, -1, vm.kick_fd, done, NSLOTS,
	    NULL, 0), -EINVAL);
}
END_TEST

/* The mediator died between take and complete: the request runs again. */
START_TEST(test_recover_processing)
{
	struct ioreq got;
	struct ioreq_stats st;
	unsigned s;
	uint64_t data;

	ck_assert_int_eq(ioreq_submit(&vm, 2, &rd8), 0);
	ck_assert_int_eq(ioreq_take(&med, &s, &got), 0);
	ioreq_ring_close(&med);			/* dies */
	ck_assert_uint_eq(state(2), IOREQ_PROCESSING);
	ck_assert_int_eq(attach(&med, NULL, 0), 0);
	ck_assert_uint_eq(state(2), IOREQ_PENDING);
	ioreq_ring_stats(&vm, &st);
	ck_assert_uint_eq(st.generation, 2);
	ck_assert_uint_eq(st.recoveries, 1);
	ck_assert_int_eq(ioreq_take(&med, &s, &got), 0);
	ck_assert_uint_eq(s, 2);
	ck_assert_uint_eq(got.seq, 1);
	ck_assert_uint_eq(got.flags, IOREQ_F_REPLAY);
	ck_assert_int_eq(ioreq_complete(&med, s, 0x77), 0);
	ck_assert_int_eq(ioreq_try_complete(&vm, 2, &data), 0);
	ck_assert_uint_eq(data, 0x77);
	/* Exactly once: nothing left on either side. */
	ck_assert_int_eq(ioreq_try_complete(&vm, 2, &data), -EINVAL);
	ck_assert_int_eq(ioreq_take(&med, &s, &got), -EAGAIN);
	ck_assert_uint_eq(cycle(2, 1), 2);	/* next one is no replay */
}
END_TEST

/* The mediator died after completing: the answer stands, no re-run. */
START_TEST(test_recover_complete)
{
	struct ioreq got;
	struct ioreq_stats st;
	unsigned s;
	uint64_t data;

	ck_assert_int_eq(ioreq_submit(&vm, 1, &rd8), 0);
	ck_assert_int_eq(ioreq_take(&med, &s, &got), 0);
	ck_assert_int_eq(ioreq_complete(&med, s, 0x55), 0);
	ioreq_ring_close(&med);
	drain(vm.done_fd[1]);
	ck_assert_int_eq(attach(&med, NULL, 0), 0);
	ck_assert_uint_eq(state(1), IOREQ_COMPLETE);
	ck_assert(readable(vm.done_fd[1]));	/* in case the wake was lost */
	ioreq_ring_stats(&med, &st);
	ck_assert_uint_eq(st.recoveries, 0);
	ck_assert_int_eq(ioreq_take(&med, &s, &got), -EAGAIN);
	ck_assert_int_eq(ioreq_wait_complete(&vm, 1, 0, &data), 0);
	ck_assert_uint_eq(data, 0x55);
}
END_TEST

/* A read latched before its side effect is replayed with its value. */
START_TEST(test_recover_latched)
{
	struct ioreq got;
	unsigned s;
	uint64_t data;

	ck_assert_int_eq(ioreq_submit(&vm, 3, &rd8), 0);
	ck_assert_int_eq(ioreq_take(&med, &s, &got), 0);
	ck_assert_int_eq(ioreq_latch(&med, s, 0x1234), 0);
	ioreq_ring_close(&med);
	ck_assert_int_eq(attach(&med, NULL, 0), 0);
	ck_assert_int_eq(ioreq_take(&med, &s, &got), 0);
	ck_assert_uint_eq(got.flags, IOREQ_F_REPLAY | IOREQ_F_LATCHED);
	ck_assert_uint_eq(got.data, 0x1234);
	ck_assert_int_eq(ioreq_complete(&med, s, got.data), 0);
	ck_assert_int_eq(ioreq_try_complete(&vm, 3, &data), 0);
	ck_assert_uint_eq(data, 0x1234);
	/* The next request of the slot starts clean. */
	ck_assert_int_eq(ioreq_submit(&vm, 3, &rd8), 0);
	ck_assert_int_eq(ioreq_take(&med, &s, &got), 0);
	ck_assert_uint_eq(got.flags, 0);
	ck_assert_uint_eq(got.data, 0);
}
END_TEST

struct waiter {
	unsigned slot;
	uint64_t spin, data;
	int ret;
	volatile int done;
	volatile pid_t tid;
};

static void *
waiter_main(void *arg)
{
	struct waiter *w = arg;

	w->tid = gettid();
	w->ret = ioreq_wait_complete(&vm, w->slot, w->spin, &w->data);
	w->done = 1;
	return NULL;
}

static void
msleep(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Waits until the waiter thread is asleep in the kernel (state S). */
static void
wait_asleep(struct waiter *w)
{
	char path[64], buf[256], *p;

	while (w->tid == 0)
		msleep(1);
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)w->tid);
	for (;;) {
		FILE *f = fopen(path, "r");

		ck_assert_ptr_nonnull(f);
		p = fgets(buf, sizeof(buf), f);
		fclose(f);
		ck_assert_ptr_nonnull(p);
		p = strrchr(buf, ')');
		if (p != NULL && p[1] == ' ' && p[2] == 'S')
			return;
		msleep(1);
	}
}

/*
 * The mediator made the slot COMPLETE and died before writing the
 * eventfd of a vCPU that sleeps: the next attach wakes it.
 */
START_TEST(test_recover_lost_wake)
{
	struct waiter w = { .slot = 0 };
	struct ioreq got;
	pthread_t t;
	unsigned s;

	ck_assert_int_eq(ioreq_submit(&vm, 0, &rd8), 0);
	ck_assert_int_eq(ioreq_take(&med, &s, &got), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, waiter_main, &w), 0);
	wait_asleep(&w);	/* past its last look at the state */
	/* What ioreq_complete() does up to its eventfd write. */
	vm.slots[0].data = 0x99;
	vm.slots[0].done_seq = got.seq;
	__atomic_store_n(&vm.slots[0].state, IOREQ_COMPLETE, __ATOMIC_RELEASE);
	ioreq_ring_close(&med);
	msleep(50);
	ck_assert_int_eq(w.done, 0);
	ck_assert_int_eq(attach(&med, NULL, 0), 0);
	pthread_join(t, NULL);
	ck_assert_int_eq(w.ret, 0);
	ck_assert_uint_eq(w.data, 0x99);
}
END_TEST

/* A real mediator process killed while it holds a request. */
START_TEST(test_recover_sigkill)
{
	struct waiter w = { .slot = 1 };
	struct ioreq got;
	pthread_t t;
	pid_t pid;
	int p[2], status;
	unsigned s;
	char c;

	ioreq_ring_close(&med);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(ioreq_submit(&vm, 1, &rd8), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, waiter_main, &w), 0);
	pid = fork();
	if (pid == 0) {
		if (attach(&med, NULL, 0) < 0 || ioreq_take(&med, &s, &got))
			_exit(1);
		if (write(p[1], "t", 1) != 1)
			_exit(1);
		pause();
		_exit(1);
	}
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	ck_assert_uint_eq(state(1), IOREQ_PROCESSING);
	wait_asleep(&w);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	ck_assert(WIFSIGNALED(status));
	pid = fork();
	if (pid == 0) {
		if (attach(&med, NULL, 0) < 0 ||
		    ioreq_wait_pending(&med, 0) < 0 ||
		    ioreq_take(&med, &s, &got) < 0)
			_exit(1);
		ioreq_complete(&med, s, got.flags & IOREQ_F_REPLAY ? 0xaa : 1);
		_exit(ioreq_take(&med, &s, &got) == -EAGAIN ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	pthread_join(t, NULL);
	ck_assert_int_eq(w.ret, 0);
	ck_assert_uint_eq(w.data, 0xaa);
	ck_assert_uint_eq(vm.hdr->recoveries, 1);
	ck_assert_uint_eq(vm.hdr->generation, 3);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(test_notify_kick)
{
	struct ioreq got;
	unsigned s;
	uint64_t data;

	drain(vm.kick_fd);
	/* An awake mediator is not kicked. */
	ck_assert_int_eq(ioreq_submit(&vm, 0, &rd8), 0);
	ck_assert(!readable(vm.kick_fd));
	/* Arming with a request pending is refused. */
	ck_assert_int_eq(ioreq_arm(&med), -EAGAIN);
	ck_assert_uint_eq(vm.hdr->med_sleeping, 0);
	ck_assert_int_eq(ioreq_take(&med, &s, &got), 0);
	ck_assert_int_eq(ioreq_complete(&med, s, 1), 0);
	ck_assert_int_eq(ioreq_try_complete(&vm, 0, &data), 0);
	/* A sleeping one is. */
	ck_assert_int_eq(ioreq_arm(&med), 0);
	ck_assert_uint_eq(vm.hdr->med_sleeping, 1);
	ck_assert_int_eq(ioreq_submit(&vm, 0, &rd8), 0);
	ck_assert(readable(vm.kick_fd));
	ioreq_disarm(&med);
	ck_assert(!readable(vm.kick_fd));
	ck_assert_uint_eq(vm.hdr->med_sleeping, 0);
}
END_TEST

START_TEST(test_notify_done)
{
	struct ioreq got;
	unsigned s;
	uint64_t data;

	/* A vCPU that is not sleeping gets no eventfd write. */
	ck_assert_int_eq(ioreq_submit(&vm, 2, &rd8), 0);
	ck_assert_int_eq(ioreq_take(&med, &s, &got), 0);
	ck_assert_int_eq(ioreq_complete(&med, s, 1), 0);
	ck_assert(!readable(vm.done_fd[2]));
	ck_assert_int_eq(ioreq_try_complete(&vm, 2, &data), 0);
	/* A sleeping one does, and only its own. */
	ck_assert_int_eq(ioreq_submit(&vm, 2, &rd8), 0);
	ck_assert_int_eq(ioreq_take(&med, &s, &got), 0);
	vm.slots[2].waiting = 1;
	ck_assert_int_eq(ioreq_complete(&med, s, 1), 0);
	ck_assert(readable(vm.done_fd[2]));
	for (unsigned i = 0; i < NSLOTS; i++)
		ck_assert(i == 2 || !readable(vm.done_fd[i]));
}
END_TEST

static void *
pending_main(void *arg)
{
	struct waiter *w = arg;

	w->tid = gettid();
	w->ret = ioreq_wait_pending(&med, w->spin);
	w->done = 1;
	return NULL;
}

/* Both sleeping waits, each woken from another thread; spin 0 and 1 ms. */
START_TEST(test_notify_sleep)
{
	struct waiter w = { .slot = 3, .spin = _i ? 1000000 : 0 };
	struct ioreq got;
	pthread_t t;
	unsigned s;

	ck_assert_int_eq(pthread_create(&t, NULL, pending_main, &w), 0);
	wait_asleep(&w);
	ck_assert_int_eq(w.done, 0);
	ck_assert_int_eq(ioreq_submit(&vm, 3, &rd8), 0);
	pthread_join(t, NULL);
	ck_assert_int_eq(w.ret, 0);

	w.done = 0;
	w.tid = 0;
	ck_assert_int_eq(ioreq_take(&med, &s, &got), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, waiter_main, &w), 0);
	wait_asleep(&w);
	ck_assert_int_eq(w.done, 0);
	ck_assert_int_eq(ioreq_complete(&med, s, 42), 0);
	pthread_join(t, NULL);
	ck_assert_int_eq(w.ret, 0);
	ck_assert_uint_eq(w.data, 42);
}
END_TEST

static void
on_usr1(int sig)
{
	(void)sig;
}

/* A signal ends the sleep with -EINTR; the request stays in flight. */
START_TEST(test_wait_eintr)
{
	struct sigaction sa = { .sa_handler = on_usr1 };	/* no SA_RESTART */
	struct waiter w = { .slot = 0 };
	struct ioreq got;
	pthread_t t;
	unsigned s;
	uint64_t data;

	sigaction(SIGUSR1, &sa, NULL);
	ck_assert_int_eq(ioreq_submit(&vm, 0, &rd8), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, waiter_main, &w), 0);
	wait_asleep(&w);
	pthread_kill(t, SIGUSR1);
	pthread_join(t, NULL);
	ck_assert_int_eq(w.ret, -EINTR);
	ck_assert_int_eq(ioreq_take(&med, &s, &got), 0);
	ck_assert_int_eq(ioreq_complete(&med, s, 6), 0);
	ck_assert_int_eq(ioreq_wait_complete(&vm, 0, 0, &data), 0);
	ck_assert_uint_eq(data, 6);
}
END_TEST

/*
 * The mediator is gone for good: the VM side answers a sleeping vCPU's
 * request itself, whether it was PENDING or already PROCESSING, exactly
 * once, and the next request on that slot is an ordinary one.
 */
START_TEST(test_abandon)
{
	struct waiter w = { .slot = 1 };
	struct ioreq got;
	pthread_t t;
	unsigned s;
	uint64_t data;

	ck_assert_uint_eq(ioreq_waiting_since(&vm, 1), 0);
	ck_assert_int_eq(ioreq_abandon(&vm, 1), -EAGAIN);	/* idle */
	ck_assert_int_eq(ioreq_submit(&vm, 1, &rd8), 0);
	/* Submitted, nobody waiting yet: no clock read on that path. */
	ck_assert_uint_eq(ioreq_waiting_since(&vm, 1), 0);
	if (_i == 1)
		ck_assert_int_eq(ioreq_take(&med, &s, &got), 0);
	ioreq_ring_close(&med);			/* dies */
	ck_assert_int_eq(pthread_create(&t, NULL, waiter_main, &w), 0);
	wait_asleep(&w);
	ck_assert_uint_gt(ioreq_waiting_since(&vm, 1), 0);
	ck_assert_int_eq(ioreq_abandon(&vm, 1), 0);
	pthread_join(t, NULL);
	ck_assert_int_eq(w.ret, -ECANCELED);
	ck_assert_uint_eq(w.data, UINT64_MAX);
	ck_assert_uint_eq(ioreq_waiting_since(&vm, 1), 0);
	/* Answered once: a second abandon finds nothing. */
	ck_assert_int_eq(ioreq_abandon(&vm, 1), -EAGAIN);
	ck_assert_int_eq(ioreq_try_complete(&vm, 1, &data), -EINVAL);
	/* A new mediator sees no request left over, and serves the next. */
	ck_assert_int_eq(attach(&med, NULL, 0), 0);
	ck_assert_int_eq(ioreq_take(&med, &s, &got), -EAGAIN);
	ck_assert_uint_eq(cycle(1, 2), 2);	/* the second request */
	ck_assert_int_eq(ioreq_abandon(&vm, NSLOTS), -EINVAL);
	ck_assert_int_eq(ioreq_abandon(&med, 1), -EINVAL);
}
END_TEST

/* The heartbeat moves only from the mediator's side. */
START_TEST(test_heartbeat)
{
	struct ioreq_stats st;

	ioreq_ring_stats(&vm, &st);
	ck_assert_uint_eq(st.heartbeat, 0);
	ioreq_heartbeat(&med);
	ioreq_heartbeat(&med);
	ioreq_heartbeat(&vm);			/* not the VM side's to beat */
	ioreq_ring_stats(&vm, &st);
	ck_assert_uint_eq(st.heartbeat, 2);
	ck_assert_uint_eq(vm.hdr->heartbeat, 2);
}
END_TEST

START_TEST(test_all_slots)
{
	struct ioreq q = rd8, got;
	unsigned s, seen = 0;
	uint64_t data;

	for (unsigned i = 0; i < NSLOTS; i++) {
		q.addr = 0x100 * i;
		ck_assert_int_eq(ioreq_submit(&vm, i, &q), 0);
	}
	while (ioreq_take(&med, &s, &got) == 0) {
		ck_assert_uint_eq(got.addr, 0x100 * s);
		seen |= 1u << s;
		ck_assert_int_eq(ioreq_complete(&med, s, got.addr + 1), 0);
	}
	ck_assert_uint_eq(seen, (1u << NSLOTS) - 1);
	for (unsigned i = 0; i < NSLOTS; i++) {
		ck_assert_int_eq(ioreq_wait_complete(&vm, i, 1000, &data), 0);
		ck_assert_uint_eq(data, 0x100 * i + 1);
	}
}
END_TEST

/* ---- Two vCPU threads against a mediator process ---- */

static uint64_t
f(uint64_t addr, uint64_t last)
{
	return last ^ (addr * 0x9e3779b97f4a7c15ull);
}

/* Mediator: a write stores its value per slot, a read returns f(). */
static void
hammer_mediator(uint64_t spin)
{
	uint64_t last[IOREQ_MAX_SLOTS] = { 0 };
	uint32_t seq[IOREQ_MAX_SLOTS] = { 0 };
	struct ioreq q;
	unsigned s;

	if (attach(&med, NULL, 0) < 0)
		_exit(2);
	for (;;) {
		if (ioreq_wait_pending(&med, spin) < 0)
			_exit(3);
		while (ioreq_take(&med, &s, &q) == 0) {
			if (q.seq != seq[s] + 1)
				_exit(4);
			seq[s] = q.seq;
			if (q.dir == IOREQ_WRITE)
				last[s] = q.data;
			ioreq_complete(&med, s, f(q.addr, last[s]));
			if (q.type == IOREQ_PIO)	/* the stop request */
				_exit(0);
		}
	}
}

struct vcpu {
	unsigned slot, n;
	uint64_t spin;
	unsigned errors;
};

static void *
vcpu_main(void *arg)
{
	struct vcpu *v = arg;
	uint64_t last = 0, data, mask;
	struct ioreq q = { .type = IOREQ_MMIO };

	for (unsigned i = 0; i < v->n; i++) {
		q.size = (uint8_t)(1u << (i % 4));
		mask = q.size == 8 ? UINT64_MAX : (1ull << (8 * q.size)) - 1;
		q.dir = (i / 4) % 2 ? IOREQ_READ : IOREQ_WRITE;
		q.addr = i * 8 + v->slot;
		q.data = (uint64_t)i * 0x0101010101010101ull + v->slot;
		if (ioreq_submit(&vm, v->slot, &q) < 0 ||
		    ioreq_wait_complete(&vm, v->slot, v->spin, &data) < 0) {
			v->errors++;
			continue;
		}
		if (q.dir == IOREQ_WRITE)
			last = q.data & mask;
		if (data != (q.dir == IOREQ_WRITE ? 0 : f(q.addr, last) & mask))
			v->errors++;
	}
	return NULL;
}

static const struct {
	uint64_t spin;
	unsigned n;
} hammer_cases[] = {
	{ IOREQ_SPIN_DEFAULT_NS, 100000 },	/* adaptive */
	{ 0, 20000 },				/* eventfd only */
};

START_TEST(test_hammer)
{
	struct vcpu v[2] = {
		{ 0, hammer_cases[_i].n, hammer_cases[_i].spin, 0 },
		{ 3, hammer_cases[_i].n, hammer_cases[_i].spin, 0 },
	};
	struct ioreq stop = { .type = IOREQ_PIO, .size = 1,
	    .dir = IOREQ_WRITE };
	pthread_t t[2];
	pid_t pid;
	uint64_t data;
	int status;

	ioreq_ring_close(&med);
	pid = fork();
	if (pid == 0)
		hammer_mediator(hammer_cases[_i].spin);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, vcpu_main, &v[i]),
		    0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(ioreq_submit(&vm, 1, &stop), 0);
	ck_assert_int_eq(ioreq_wait_complete(&vm, 1, 0, &data), 0);
	waitpid(pid, &status, 0);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "mediator status 0x%x", status);
	ck_assert_uint_eq(v[0].errors, 0);
	ck_assert_uint_eq(v[1].errors, 0);
	ck_assert_uint_eq(vm.slots[0].seq, hammer_cases[_i].n);
	ck_assert_uint_eq(vm.hdr->bad, 0);
}
END_TEST

static Suite *
ring_suite(void)
{
	Suite *s = suite_create("ring");
	TCase *tc = tcase_create("states");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_layout);
	tcase_add_test(tc, test_create_einval);
	tcase_add_loop_test(tc, test_cycle, 0, NGOOD);
	tcase_add_test(tc, test_illegal);
	tcase_add_test(tc, test_seq);
	tcase_add_test(tc, test_seq_wrap);
	tcase_add_test(tc, test_seq_mismatch);
	tcase_add_loop_test(tc, test_bad_field, 0, NBAD);
	tcase_add_loop_test(tc, test_bad_shape, 0, NSHAPES);
	tcase_add_test(tc, test_bad_beside_good);
	tcase_add_loop_test(tc, test_header_mismatch, 0, NBADHDR);
	tcase_add_test(tc, test_header_other);
	tcase_add_test(tc, test_all_slots);
	suite_add_tcase(s, tc);

	tc = tcase_create("recovery");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_recover_processing);
	tcase_add_test(tc, test_recover_complete);
	tcase_add_test(tc, test_recover_latched);
	tcase_add_test(tc, test_recover_lost_wake);
	tcase_add_test(tc, test_recover_sigkill);
	suite_add_tcase(s, tc);

	tc = tcase_create("notify");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_notify_kick);
	tcase_add_test(tc, test_notify_done);
	tcase_add_loop_test(tc, test_notify_sleep, 0, 2);
	tcase_add_test(tc, test_wait_eintr);
	tcase_add_loop_test(tc, test_abandon, 0, 2);
	tcase_add_test(tc, test_heartbeat);
	suite_add_tcase(s, tc);

	tc = tcase_create("hammer");
	tcase_set_timeout(tc, 300);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_hammer, 0,
	    sizeof(hammer_cases) / sizeof(hammer_cases[0]));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(ring_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
