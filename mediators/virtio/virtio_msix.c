/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Interrupts of a virtio PCI device: MSI-X vectors and the INTx line.
 *
 * The MSI-X table and PBA live in the shared struct virtio_state.  The
 * VM process owns BAR2 and writes the table (mask bits included) as the
 * guest programs it; the mediator raises interrupts.  A vector is fired
 * by writing its irqfd (virtio_fire_fn), which either process can do.
 *
 * Raise and unmask race: the mediator may raise a vector exactly while
 * the guest unmasks it.  The two halves are
 *
 *   mediator, virtio_raise(v):          VM process, guest unmasks v:
 *     M1 if v is unmasked: fire, done     V1 store the cleared mask bit
 *     M2 set PBA bit v (atomic RMW)       V2 test-and-clear PBA bit v;
 *     M3 if v is still masked: done          fire if it was set
 *        (the unmask will fire it)
 *     M4 test-and-clear PBA bit v;
 *        fire if it was set
 *
 * All of M2-M4 and V1-V2 are sequentially consistent, so they fall in
 * one total order.  If M3 still sees the mask, V1 comes after M3, so V2
 * comes after M2 and finds the bit: the VM process fires.  If M3 sees
 * the vector unmasked, both M4 and V2 may try, and the atomic
 * test-and-clear lets exactly one of them fire.  So an interrupt that
 * was pended is delivered once, never lost and never twice; a raise
 * that finds the bit already set merges into that pending interrupt
 * (MSI-X semantics: one message per pending bit).
 */
#include <errno.h>
#include <stddef.h>

#include "virtio_pci.h"

/* Vectors the table really has: what the state says, within the layout. */
static unsigned
table_size(const struct virtio_state *s)
{
	unsigned n = s->msix_vectors;

	return n < VIRTIO_MSIX_MAX ? n : VIRTIO_MSIX_MAX;
}

static bool
msix_masked(const struct virtio_state *s, uint16_t v)
{
	uint32_t ctl = __atomic_load_n(&s->msix_ctrl, __ATOMIC_SEQ_CST);
	uint32_t ent = __atomic_load_n(&s->msix[v].ctrl, __ATOMIC_SEQ_CST);

	return (ctl & VIRTIO_MSIX_FMASK) || (ent & VIRTIO_MSIX_ENTRY_MASKED);
}

/* Atomically clears PBA bit v; true if it was set. */
static bool
pba_test_and_clear(struct virtio_state *s, uint16_t v)
{
	uint64_t bit = 1ull << (v % 64);

	return __atomic_fetch_and(&s->msix_pba[v / 64], ~bit,
	    __ATOMIC_SEQ_CST) & bit;
}

/* isr_bit: ISR bit to set for INTx (0 when the caller has set it). */
static int
raise_vector(struct virtio_state *s, uint16_t v, uint8_t isr_bit,
    virtio_fire_fn *fire, void *opaque)
{
	uint64_t bit = 1ull << (v % 64);

	/*
	 * XXX a raise that saw MSI-X enabled may still fire the vector
	 * just after the guest disabled MSI-X; drivers only switch modes
	 * while the device is reset, so that is left alone.
	 */
	if (!(__atomic_load_n(&s->msix_ctrl, __ATOMIC_SEQ_CST) &
	    VIRTIO_MSIX_ENABLE)) {
		/* The bit first: the driver's handler reads the ISR. */
		__atomic_fetch_or(&s->isr, isr_bit, __ATOMIC_SEQ_CST);
		fire(opaque, VIRTIO_INTX_VECTOR);
		return VIRTIO_RAISE_FIRED;
	}
	if (v >= table_size(s))
		return VIRTIO_RAISE_NONE;	/* NO_VECTOR too */
	if (!msix_masked(s, v)) {				/* M1 */
		fire(opaque, v);
		return VIRTIO_RAISE_FIRED;
	}
	if (__atomic_fetch_or(&s->msix_pba[v / 64], bit,	/* M2 */
	    __ATOMIC_SEQ_CST) & bit)
		return VIRTIO_RAISE_COALESCED;
	if (msix_masked(s, v))					/* M3 */
		return VIRTIO_RAISE_PENDED;
	if (pba_test_and_clear(s, v)) {				/* M4 */
		fire(opaque, v);
		return VIRTIO_RAISE_FIRED;
	}
	return VIRTIO_RAISE_PENDED;	/* the unmask delivered it */
}

int
virtio_raise(struct virtio_state *s, uint16_t vector, virtio_fire_fn *fire,
    void *opaque)
{
	return raise_vector(s, vector, VIRTIO_ISR_QUEUE, fire, opaque);
}

int
virtio_raise_config(struct virtio_state *s, virtio_fire_fn *fire,
    void *opaque)
{
	/* The spec wants the config bit set with or without MSI-X. */
	__atomic_fetch_or(&s->isr, VIRTIO_ISR_CONFIG, __ATOMIC_SEQ_CST);
	return raise_vector(s, s->config_msix_vector, 0, fire, opaque);
}

bool
virtio_msix_unmasked(struct virtio_state *s, uint16_t vector,
    virtio_fire_fn *fire, void *opaque)
{
	if (vector >= table_size(s))
		return false;
	/* Still masked another way (function mask): keep it pending. */
	if (!(__atomic_load_n(&s->msix_ctrl, __ATOMIC_SEQ_CST) &
	    VIRTIO_MSIX_ENABLE) || msix_masked(s, vector))
		return false;
	if (!pba_test_and_clear(s, vector))			/* V2 */
		return false;
	fire(opaque, vector);
	return true;
}

int
virtio_msix_read(const struct virtio_state *s, uint64_t off, unsigned size,
    uint64_t *val)
{
	unsigned n = table_size(s);
	uint64_t v = 0;

	*val = 0;
	if ((size != 4 && size != 8) || off % size != 0)
		return -EINVAL;
	if (off < VIRTIO_MSIX_PBA_OFF) {
		const uint32_t *w = (const uint32_t *)s->msix;

		if (off + size > (uint64_t)n * 16)
			return -EINVAL;
		for (unsigned i = 0; i < size / 4; i++)
			v |= (uint64_t)__atomic_load_n(&w[off / 4 + i],
			    __ATOMIC_RELAXED) << (32 * i);
	} else {
		uint64_t pb = off - VIRTIO_MSIX_PBA_OFF;

		if (pb + size > (uint64_t)(n + 63) / 64 * 8)
			return -EINVAL;
		v = __atomic_load_n(&s->msix_pba[pb / 8], __ATOMIC_SEQ_CST);
		if (size == 4)
			v = (uint32_t)(v >> (pb % 8 * 8));
	}
	*val = v;
	return 0;
}

int
virtio_msix_write(struct virtio_state *s, uint64_t off, unsigned size,
    uint64_t val, virtio_fire_fn *route, virtio_fire_fn *fire, void *opaque)
{
	uint32_t *w = (uint32_t *)s->msix;

	/* The PBA is read-only (PCI), and so is what lies past the table. */
	if ((size != 4 && size != 8) || off % size != 0 ||
	    off + size > (uint64_t)table_size(s) * 16)
		return -EINVAL;
	for (unsigned i = 0; i < size / 4; i++) {
		uint64_t word = off / 4 + i;
		uint16_t v = (uint16_t)(word / 4);
		uint32_t nv = (uint32_t)(val >> (32 * i)), old;

		if (word % 4 != 3) {
			/* Address or data: the message this vector sends. */
			old = __atomic_exchange_n(&w[word], nv,
			    __ATOMIC_SEQ_CST);
			if (old != nv && route != NULL)
				route(opaque, v);
			continue;
		}
		/* Vector control: only the mask bit is defined. */
		nv &= VIRTIO_MSIX_ENTRY_MASKED;
		old = __atomic_exchange_n(&w[word], nv,		/* V1 */
		    __ATOMIC_SEQ_CST);
		if ((old & VIRTIO_MSIX_ENTRY_MASKED) && !nv)
			virtio_msix_unmasked(s, v, fire, opaque);
	}
	return 0;
}

void
virtio_msix_control(struct virtio_state *s, uint16_t msgctl,
    virtio_fire_fn *fire, void *opaque)
{
	uint32_t new = msgctl & (VIRTIO_MSIX_ENABLE | VIRTIO_MSIX_FMASK), old;
	bool was, now;

	old = __atomic_exchange_n(&s->msix_ctrl, new, __ATOMIC_SEQ_CST);
	was = (old & VIRTIO_MSIX_ENABLE) && !(old & VIRTIO_MSIX_FMASK);
	now = (new & VIRTIO_MSIX_ENABLE) && !(new & VIRTIO_MSIX_FMASK);
	if (was || !now)
		return;
	/* Every vector may have been held back by the function mask. */
	for (unsigned v = 0; v < table_size(s); v++)
		virtio_msix_unmasked(s, (uint16_t)v, fire, opaque);
}

bool
virtio_intx_pending(const struct virtio_state *s)
{
	return __atomic_load_n(&s->isr, __ATOMIC_SEQ_CST) != 0;
}

bool
virtio_intx_resample(const struct virtio_state *s, virtio_fire_fn *fire,
    void *opaque)
{
	if ((__atomic_load_n(&s->msix_ctrl, __ATOMIC_SEQ_CST) &
	    VIRTIO_MSIX_ENABLE) || !virtio_intx_pending(s))
		return false;
	fire(opaque, VIRTIO_INTX_VECTOR);
	return true;
}
