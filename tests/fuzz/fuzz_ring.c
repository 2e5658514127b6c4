/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: what a peer can write into the ring's shared memory.
 *
 * Input: byte 0 holds flags, then 128 bytes of ring header, then raw
 * slots of 64 bytes each (any state, any field).  Checked properties:
 *  - ioreq_ring_check() never crashes and accepts only sane geometry;
 *  - ioreq_take() hands out only well-formed requests, never a slot
 *    twice, and leaves no slot PENDING (malformed ones are completed with
 *    all ones and counted);
 *  - a re-attach (flag 1) returns exactly the PROCESSING slots to PENDING;
 *  - the VM side's ioreq_try_complete() on whatever the "mediator" wrote
 *    never returns more bits than the request size.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NSLOTS	8

static struct ioreq_ring vm, med;

static void
attach(struct ioreq_ring *m)
{
	int done[NSLOTS];

	for (unsigned i = 0; i < NSLOTS; i++)
		done[i] = dup(vm.done_fd[i]);
	if (ioreq_ring_attach(m, dup(vm.memfd), dup(vm.kick_fd), done, NSLOTS,
	    NULL, 0) != 0)
		abort();
}

static uint64_t
mask(unsigned size)
{
	return size >= 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
}

static void
check_req(const struct ioreq *q)
{
	if (q->size != 1 && q->size != 2 && q->size != 4 && q->size != 8)
		abort();
	if (q->dir > IOREQ_WRITE || q->index >= IOREQ_MAX_INDEX)
		abort();
	if (q->type == IOREQ_PIO) {
		if (q->size > 4 || q->addr + q->size > 0x10000)
			abort();
	} else if (q->type == IOREQ_PCI_CFG) {
		if (q->size > 4 || q->addr >= IOREQ_CFG_SIZE ||
		    (q->addr & 3) + q->size > 4)
			abort();
	} else if (q->type != IOREQ_MMIO || q->addr + q->size - 1 < q->addr) {
		abort();
	}
	if ((q->data & ~mask(q->size)) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ioreq_ring_hdr h;
	unsigned n, slot, taken = 0, processing = 0;
	struct ioreq q;
	uint64_t v;

	if (vm.hdr == NULL) {
		if (ioreq_ring_create(&vm, NSLOTS) != 0)
			abort();
		attach(&med);
	}
	if (size < 1 + IOREQ_HDR_SIZE)
		return 0;
	if (ioreq_ring_check(data + 1, size - 1, NULL, 0) == 0) {
		memcpy(&h, data + 1, sizeof(h));
		if (h.magic != IOREQ_MAGIC || h.nslots == 0 ||
		    h.nslots > IOREQ_MAX_SLOTS)
			abort();
	}

	/* The slots, as a peer may have left them. */
	n = (unsigned)((size - 1 - IOREQ_HDR_SIZE) / IOREQ_SLOT_SIZE);
	if (n > NSLOTS)
		n = NSLOTS;
	memset(vm.slots, 0, NSLOTS * IOREQ_SLOT_SIZE);
	memcpy(vm.slots, data + 1 + IOREQ_HDR_SIZE, n * IOREQ_SLOT_SIZE);
	for (unsigned i = 0; i < NSLOTS; i++) {
		vm.slots[i].state &= 3;
		processing += vm.slots[i].state == IOREQ_PROCESSING;
	}
	if (data[0] & 1) {
		uint32_t before = vm.hdr->recoveries;

		ioreq_ring_close(&med);
		attach(&med);
		if (vm.hdr->recoveries - before != processing)
			abort();
	}
	while (ioreq_take(&med, &slot, &q) == 0) {
		check_req(&q);
		if (slot >= NSLOTS || (taken & (1u << slot)))
			abort();
		taken |= 1u << slot;
		if (ioreq_complete(&med, slot, q.addr ^ q.data) != 0)
			abort();
	}
	for (unsigned i = 0; i < NSLOTS; i++) {
		if (vm.slots[i].state == IOREQ_PENDING)
			abort();
		/* The VM side reads whatever is there as request i. */
		vm.own[i].busy = 1;
		vm.own[i].size = (uint8_t)(1u << (data[0] >> 1 & 3));
		vm.own[i].dir = data[0] >> 3 & 1;
		vm.own[i].seq = vm.slots[i].seq;
		if (ioreq_try_complete(&vm, i, &v) == -EAGAIN)
			continue;
		if ((v & ~mask(vm.own[i].size)) != 0)
			abort();
	}
	/* Whatever is still held goes back to a clean state. */
	for (unsigned i = 0; i < NSLOTS; i++) {
		vm.own[i].busy = 0;
		med.own[i].busy = 0;
	}
	return 0;
}
