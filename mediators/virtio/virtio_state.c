/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device side of struct virtio_state: creating it, checking one a
 * dead mediator left, resets, protocol violations and the queue functions
 * devices call.  The register interface is in virtio_pci.c, interrupts
 * in virtio_msix.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "ring.h"
#include "virtio_pci.h"

/* The layout is an ABI between processes: pin it. */
_Static_assert(sizeof(struct vq_state) == 40, "vq_state layout");
_Static_assert(offsetof(struct vq_state, desc) == 8, "vq_state layout");
_Static_assert(offsetof(struct vq_state, last_avail) == 32, "vq_state layout");
_Static_assert(offsetof(struct vq_state, used_idx) == 34, "vq_state layout");
_Static_assert(offsetof(struct vq_state, signalled_used) == 36,
    "vq_state layout");
_Static_assert(offsetof(struct vq_state, flags) == 38, "vq_state layout");
_Static_assert(sizeof(struct virtio_msix_entry) == 16, "MSI-X entry");
_Static_assert(offsetof(struct virtio_state, device_features) == 0x018, "");
_Static_assert(offsetof(struct virtio_state, reset_count) == 0x020, "");
_Static_assert(offsetof(struct virtio_state, driver_features) == 0x040, "");
_Static_assert(offsetof(struct virtio_state, status) == 0x054, "");
_Static_assert(offsetof(struct virtio_state, isr) == 0x057, "");
_Static_assert(offsetof(struct virtio_state, needs_reset) == 0x058, "");
_Static_assert(offsetof(struct virtio_state, msix_ctrl) == 0x080, "");
_Static_assert(offsetof(struct virtio_state, msix_pba) == 0x088, "");
_Static_assert(offsetof(struct virtio_state, isr_latch) == 0x100, "");
_Static_assert(offsetof(struct virtio_state, msix) == 0x400, "");
_Static_assert(offsetof(struct virtio_state, vq) == 0xc00, "");
_Static_assert(offsetof(struct virtio_state, config) == 0x1600, "");
_Static_assert(offsetof(struct virtio_state, device) == 0x1800, "");
_Static_assert(sizeof(struct virtio_state) == 0x2800, "virtio_state size");
_Static_assert(VIRTIO_LATCH_SLOTS >= IOREQ_MAX_SLOTS, "a latch per slot");
_Static_assert(VIRTIO_MSIX_MAX * 16 <= VIRTIO_MSIX_PBA_OFF, "table < PBA");
_Static_assert(VIRTIO_MAX_QUEUES + 1 <= VIRTIO_MSIX_MAX, "a vector each");
_Static_assert(VIRTIO_NOTIFY_MULT * VIRTIO_MAX_QUEUES <= VIRTIO_WINDOW, "");

static bool
pow2(uint32_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

/* Number of MSI-X vectors of d: one per queue and one for config. */
static uint16_t
nvectors(const struct virtio_dev *d)
{
	return (uint16_t)(d->ops->num_queues + 1);
}

/* Checks what the state layout can hold. */
static bool
ops_ok(const struct virtio_dev_ops *o)
{
	return o->num_queues >= 1 && o->num_queues <= VIRTIO_MAX_QUEUES &&
	    pow2(o->max_queue_size) && o->max_queue_size <= VQ_MAX_SIZE &&
	    o->config_len <= VIRTIO_CFG_MAX &&
	    !(o->features & VIRTIO_F_RING_PACKED);
}

/* The driver accepted EVENT_IDX (features are frozen by DRIVER_OK). */
static bool
event_idx(const struct virtio_state *s)
{
	return (__atomic_load_n(&s->driver_features, __ATOMIC_RELAXED) &
	    VIRTIO_F_EVENT_IDX) != 0;
}

/* The driver accepted indirect descriptors. */
static bool
indirect(const struct virtio_state *s)
{
	return (__atomic_load_n(&s->driver_features, __ATOMIC_RELAXED) &
	    VIRTIO_F_INDIRECT_DESC) != 0;
}

/* Puts queue i as after a reset. */
static void
queue_init(struct vq_state *q, const struct virtio_dev *d, uint16_t i)
{
	__atomic_store_n(&q->ready, 0, __ATOMIC_RELEASE);
	*q = (struct vq_state){ .msix_vector = VIRTIO_MSI_NO_VECTOR };
	if (i < d->ops->num_queues) {
		q->size = d->ops->max_queue_size;
		q->notify_off = i;
	}
}

int
virtio_state_init(struct virtio_state *s, const struct virtio_dev *d)
{
	const struct virtio_dev_ops *o = d->ops;

	if (!ops_ok(o))
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	s->magic = VIRTIO_STATE_MAGIC;
	s->version = VIRTIO_STATE_VERSION;
	s->device_id = o->device_id;
	s->size = sizeof(*s);
	s->num_queues = o->num_queues;
	s->max_queue_size = o->max_queue_size;
	s->config_len = o->config_len;
	s->msix_vectors = nvectors(d);
	s->device_features = o->features | VIRTIO_F_VERSION_1;
	s->config_msix_vector = VIRTIO_MSI_NO_VECTOR;
	for (uint16_t i = 0; i < VIRTIO_MAX_QUEUES; i++)
		queue_init(&s->vq[i], d, i);
	/* PCI: every MSI-X vector comes out of reset masked. */
	for (unsigned i = 0; i < VIRTIO_MSIX_MAX; i++)
		s->msix[i].ctrl = VIRTIO_MSIX_ENTRY_MASKED;
	return 0;
}

int
virtio_state_check(const struct virtio_state *s, const struct virtio_dev *d)
{
	const struct virtio_dev_ops *o = d->ops;

	if (s->magic != VIRTIO_STATE_MAGIC ||
	    s->version != VIRTIO_STATE_VERSION ||
	    s->size != sizeof(*s) || !ops_ok(o) ||
	    s->device_id != o->device_id || s->num_queues != o->num_queues ||
	    s->max_queue_size != o->max_queue_size ||
	    s->config_len != o->config_len || s->msix_vectors != nvectors(d) ||
	    s->device_features != (o->features | VIRTIO_F_VERSION_1))
		return -EPROTO;
	return 0;
}

/*
 * The device's hook first, so that it has stopped touching the queues
 * before they are cleared; status last, so that a driver that reads 0
 * back finds everything else reset.  The MSI-X table is the PCI
 * function's, not the virtio device's, and stays as it is.
 */
void
virtio_reset(struct virtio_state *s, const struct virtio_dev *d)
{
	if (d->ops->reset != NULL)
		d->ops->reset(d, s);
	for (uint16_t i = 0; i < VIRTIO_MAX_QUEUES; i++)
		queue_init(&s->vq[i], d, i);
	__atomic_store_n(&s->driver_features, 0, __ATOMIC_RELAXED);
	s->device_feature_select = 0;
	s->driver_feature_select = 0;
	s->config_msix_vector = VIRTIO_MSI_NO_VECTOR;
	s->queue_select = 0;
	__atomic_store_n(&s->isr, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->needs_reset, 0, __ATOMIC_RELAXED);
	__atomic_fetch_add(&s->reset_count, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&s->status, 0, __ATOMIC_RELEASE);
}

void
virtio_violation(struct virtio_state *s, const struct virtio_dev *d,
    const char *func, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	__atomic_fetch_add(&s->violations, 1, __ATOMIC_RELAXED);
	__atomic_fetch_or(&s->status, VIRTIO_STATUS_NEEDS_RESET,
	    __ATOMIC_SEQ_CST);
	/* One line and one interrupt per reset cycle, however bad it gets. */
	if (__atomic_exchange_n(&s->needs_reset, 1, __ATOMIC_SEQ_CST) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("%s: %s: device needs reset: %s", d->ops->name, func, msg);
	if (d->fire != NULL)
		virtio_raise_config(s, d->fire, d->fire_opaque);
}

struct vq_state *
virtio_queue(struct virtio_state *s, const struct virtio_dev *d, uint16_t qi)
{
	uint8_t st = __atomic_load_n(&s->status, __ATOMIC_ACQUIRE);

	/* The device may not touch buffers before DRIVER_OK. */
	if (qi >= d->ops->num_queues || !(st & VIRTIO_STATUS_DRIVER_OK) ||
	    (st & VIRTIO_STATUS_NEEDS_RESET))
		return NULL;
	if (!__atomic_load_n(&s->vq[qi].ready, __ATOMIC_ACQUIRE))
		return NULL;
	return &s->vq[qi];
}

int
virtio_queue_pop(struct virtio_state *s, const struct virtio_dev *d,
    const struct gmem *m, uint16_t qi, struct vq_chain *c)
{
	struct vq_state *q = virtio_queue(s, d, qi);
	int ret;

	if (q == NULL)
		return 0;
	ret = vq_pop(m, q, indirect(s), c);
	if (ret == -EPROTO)
		VIRTIO_VIOLATION(s, d, "queue %u: %s", qi,
		    c->why != NULL ? c->why : "bad chain");
	return ret;
}

int
virtio_queue_peek(struct virtio_state *s, const struct virtio_dev *d,
    const struct gmem *m, uint16_t qi, struct vq_chain *c)
{
	struct vq_state *q = virtio_queue(s, d, qi);
	int ret;

	if (q == NULL)
		return 0;
	ret = vq_peek(m, q, indirect(s), c);
	if (ret == -EPROTO)
		VIRTIO_VIOLATION(s, d, "queue %u: %s", qi,
		    c->why != NULL ? c->why : "bad chain");
	return ret;
}

int
virtio_queue_chain(struct virtio_state *s, const struct virtio_dev *d,
    const struct gmem *m, uint16_t qi, uint16_t head, struct vq_chain *c)
{
	struct vq_state *q = virtio_queue(s, d, qi);
	int ret;

	if (q == NULL)
		return -EINVAL;
	ret = vq_chain_at(m, q, indirect(s), head, c);
	if (ret == -EPROTO)
		VIRTIO_VIOLATION(s, d, "queue %u: chain %u: %s", qi, head,
		    c->why != NULL ? c->why : "bad chain");
	return ret;
}

int
virtio_queue_push(struct virtio_state *s, const struct virtio_dev *d,
    const struct gmem *m, uint16_t qi, uint16_t head, uint32_t written)
{
	struct vq_state *q = virtio_queue(s, d, qi);
	int ret;

	/*
	 * Not after a reset or a violation: the queue's addresses are gone
	 * or not to be trusted, and the driver drops what was in flight.
	 */
	if (q == NULL)
		return -EINVAL;
	ret = vq_push(m, q, head, written);
	if (ret == -EPROTO)
		VIRTIO_VIOLATION(s, d, "queue %u: used ring unusable", qi);
	return ret;
}

int
virtio_queue_interrupt(struct virtio_state *s, const struct virtio_dev *d,
    const struct gmem *m, uint16_t qi)
{
	struct vq_state *q = virtio_queue(s, d, qi);

	if (q == NULL || !vq_want_interrupt(m, q, event_idx(s)))
		return VIRTIO_RAISE_NONE;
	return virtio_raise(s, q->msix_vector, d->fire, d->fire_opaque);
}

bool
virtio_queue_arm(struct virtio_state *s, const struct virtio_dev *d,
    const struct gmem *m, uint16_t qi)
{
	struct vq_state *q = virtio_queue(s, d, qi);
	int ret;

	if (q == NULL)
		return false;
	ret = vq_arm(m, q, event_idx(s));
	if (ret == -EPROTO) {
		VIRTIO_VIOLATION(s, d, "queue %u: rings misaligned or outside "
		    "guest memory", qi);
		return false;
	}
	return ret == 1;
}

/*
 * The dead process may have committed a push and died before publishing
 * it in used->idx, published used entries and died before raising their
 * interrupt, or recorded a decision it did not carry out; and a
 * notification sent while no process listened is gone, which under
 * EVENT_IDX the driver does not repeat (it only notifies when it
 * crosses avail_event, and it already did).  So every decision is
 * forgotten, and every usable queue gets its used index published, an
 * interrupt decision (which then says yes, unless the driver without
 * EVENT_IDX asked for none) and a notification, as if the driver had
 * sent one.  All are harmless when nothing was lost.
 */
void
virtio_takeover(struct virtio_state *s, const struct virtio_dev *d,
    const struct gmem *m)
{
	struct vq_state *q;

	for (uint16_t i = 0; i < VIRTIO_MAX_QUEUES; i++)
		s->vq[i].flags &= (uint16_t)~VQ_SIGNALLED;
	for (uint16_t i = 0; i < d->ops->num_queues; i++) {
		if ((q = virtio_queue(s, d, i)) == NULL)
			continue;
		/* A ring it cannot write had nothing pushed: no error here. */
		(void)vq_publish(m, q);
		if (d->fire != NULL)
			virtio_queue_interrupt(s, d, m, i);
		if (d->ops->queue_notify != NULL)
			d->ops->queue_notify(d, s, i);
	}
}

void
virtio_config_changed(struct virtio_state *s, const struct virtio_dev *d)
{
	__atomic_store_n(&s->config_changed, 1, __ATOMIC_RELEASE);
	if (d->fire != NULL)
		virtio_raise_config(s, d->fire, d->fire_opaque);
}

/* Appends to buf at *at, never past len. */
static void
put(char *buf, size_t len, size_t *at, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*at >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *at, len - *at, fmt, ap);
	va_end(ap);
	if (n > 0)
		*at += (size_t)n < len - *at ? (size_t)n : len - *at - 1;
}

void
virtio_describe(const struct virtio_state *s, const struct gmem *m,
    char *buf, size_t len)
{
	size_t at = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	put(buf, len, &at, "status %#x isr %#x needs_reset %u resets %u "
	    "msix_ctrl %#x pba %#llx", __atomic_load_n(&s->status,
	    __ATOMIC_RELAXED), __atomic_load_n(&s->isr, __ATOMIC_RELAXED),
	    s->needs_reset, s->reset_count, __atomic_load_n(&s->msix_ctrl,
	    __ATOMIC_RELAXED), (unsigned long long)__atomic_load_n(
	    &s->msix_pba[0], __ATOMIC_RELAXED));
	for (unsigned i = 0; i < s->num_queues && i < VIRTIO_MAX_QUEUES; i++) {
		const struct vq_state *q = &s->vq[i];
		const uint16_t *avail, *used;
		unsigned v = q->msix_vector;

		if (!q->ready)
			continue;
		put(buf, len, &at, "; q%u size %u last_avail %u used_idx %u "
		    "vector %u", i, q->size, q->last_avail, q->used_idx, v);
		if (v < VIRTIO_MSIX_MAX)
			put(buf, len, &at, " (mask %u)", s->msix[v].ctrl & 1);
		avail = gmem_ptr(m, q->avail, 4);
		used = gmem_ptr(m, q->used, 4);
		if (avail != NULL)
			put(buf, len, &at, " avail.flags %#x avail.idx %u",
			    __atomic_load_n(&avail[0], __ATOMIC_RELAXED),
			    __atomic_load_n(&avail[1], __ATOMIC_RELAXED));
		if (used != NULL)
			put(buf, len, &at, " used.flags %#x used.idx %u",
			    __atomic_load_n(&used[0], __ATOMIC_RELAXED),
			    __atomic_load_n(&used[1], __ATOMIC_RELAXED));
	}
}
