/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * BAR0 of a virtio 1.x modern PCI device, served by the mediator: the
 * common configuration, ISR, device configuration and notification
 * structures (virtio 1.x 4.1.4), on the shared struct virtio_state.
 *
 * The mediator may die between any two instructions and the request it
 * was serving is then run again by its successor (ipc/ring.h).  Every
 * register write here is idempotent, so running one twice is harmless;
 * the ISR read is the one access with a side effect that must not
 * happen twice, and it is latched (isr_read()).
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "log.h"
#include "ring.h"
#include "virtio_pci.h"

/* ISR latch word: seq << 32 | LATCH_VALID | isr. */
#define LATCH_VALID	0x100ull

/* Kinds of bad access, each logged once per device (s->warned). */
#define WARN_COMMON	0x001	/* no common register at that offset/size */
#define WARN_RDONLY	0x002	/* write to a read-only register */
#define WARN_ISR	0x004	/* ISR access other than a byte read */
#define WARN_DEVCFG	0x008	/* outside the device config */
#define WARN_NOTIFY	0x010	/* not a queue's notify address */
#define WARN_HOLE	0x020	/* no structure at that offset */
#define WARN_NOQUEUE	0x040	/* queue_select names no queue */
#define WARN_STATUS	0x080	/* driver cleared a status bit */
#define WARN_LATE_FEAT	0x100	/* features written after FEATURES_OK */
#define WARN_QDISABLE	0x200	/* queue_enable written with 0 */
#define WARN_SLOT	0x400	/* slot number beyond the latches */

/* Common configuration fields: offset and width. */
enum {
	C_DFSEL, C_DF, C_GFSEL, C_GF, C_MSIX, C_NUMQ, C_STATUS, C_CFGGEN,
	C_QSEL, C_QSIZE, C_QMSIX, C_QENABLE, C_QNOFF, C_QDESC, C_QDRIVER,
	C_QDEVICE, C_NFIELDS
};

static const struct {
	uint8_t off, size;
} common_fields[C_NFIELDS] = {
	[C_DFSEL] = { VIRTIO_PCI_DFSELECT, 4 }, [C_DF] = { VIRTIO_PCI_DF, 4 },
	[C_GFSEL] = { VIRTIO_PCI_GFSELECT, 4 }, [C_GF] = { VIRTIO_PCI_GF, 4 },
	[C_MSIX] = { VIRTIO_PCI_MSIX, 2 }, [C_NUMQ] = { VIRTIO_PCI_NUMQ, 2 },
	[C_STATUS] = { VIRTIO_PCI_STATUS, 1 },
	[C_CFGGEN] = { VIRTIO_PCI_CFGGEN, 1 },
	[C_QSEL] = { VIRTIO_PCI_Q_SELECT, 2 },
	[C_QSIZE] = { VIRTIO_PCI_Q_SIZE, 2 },
	[C_QMSIX] = { VIRTIO_PCI_Q_MSIX, 2 },
	[C_QENABLE] = { VIRTIO_PCI_Q_ENABLE, 2 },
	[C_QNOFF] = { VIRTIO_PCI_Q_NOFF, 2 },
	[C_QDESC] = { VIRTIO_PCI_Q_DESC, 8 },
	[C_QDRIVER] = { VIRTIO_PCI_Q_DRIVER, 8 },
	[C_QDEVICE] = { VIRTIO_PCI_Q_DEVICE, 8 },
};

static const char *const warn_text[] = {
	"no register at that offset and size",
	"write to a read-only register",
	"ISR access other than a byte read",
	"outside the device configuration (or read-only)",
	"not a queue notify address",
	"no structure at that offset",
	"queue_select names no queue",
	"driver cleared a status bit",
	"features written after FEATURES_OK",
	"queue_enable written with 0",
	"ioreq slot beyond the ISR latches",
};

/* Logs a kind of odd guest access the first time it happens. */
static void
warn_once(struct virtio_state *s, const struct virtio_dev *d, uint32_t kind,
    const char *func, uint64_t off, unsigned size)
{
	unsigned i = (unsigned)__builtin_ctz(kind);

	if (__atomic_fetch_or(&s->warned, kind, __ATOMIC_RELAXED) & kind)
		return;
	log_warnx("%s: %s: %s: BAR0 0x%llx size %u (logged once)",
	    d->ops->name, func, i < sizeof(warn_text) / sizeof(warn_text[0]) ?
	    warn_text[i] : "odd access", (unsigned long long)off, size);
}

static uint64_t
size_mask(unsigned size)
{
	return size >= 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
}

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

/* The queue queue_select names, or NULL if there is none. */
static struct vq_state *
selected_queue(struct virtio_state *s, const struct virtio_dev *d)
{
	uint16_t qi = s->queue_select;

	return qi < d->ops->num_queues ? &s->vq[qi] : NULL;
}

/* 32 bits of a 64-bit feature word, as the select register picks them. */
static uint32_t
feature_half(uint64_t features, uint32_t select)
{
	return select == 0 ? (uint32_t)features :
	    select == 1 ? (uint32_t)(features >> 32) : 0;
}

/*
 * Finds the common register an access of size at off hits.  64-bit
 * fields take one 8-byte access or 4-byte halves (*shift 0 or 32);
 * others only their exact width.  Returns the field or -1.
 */
static int
common_field(uint64_t off, unsigned size, unsigned *shift)
{
	*shift = 0;
	for (int i = 0; i < C_NFIELDS; i++) {
		uint64_t f = common_fields[i].off, w = common_fields[i].size;

		if (off < f || off >= f + w)
			continue;
		if (w == 8 && off == f && (size == 4 || size == 8))
			return i;
		if (w == 8 && off == f + 4 && size == 4) {
			*shift = 32;
			return i;
		}
		return off == f && size == w ? i : -1;
	}
	return -1;
}

static uint64_t
common_read(struct virtio_state *s, const struct virtio_dev *d, int f,
    unsigned shift)
{
	struct vq_state *q = selected_queue(s, d);
	uint64_t feat = __atomic_load_n(&s->driver_features, __ATOMIC_RELAXED);

	switch (f) {
	case C_DFSEL:	return s->device_feature_select;
	case C_DF:	return feature_half(s->device_features,
			    s->device_feature_select);
	case C_GFSEL:	return s->driver_feature_select;
	case C_GF:	return feature_half(feat, s->driver_feature_select);
	case C_MSIX:	return s->config_msix_vector;
	case C_NUMQ:	return d->ops->num_queues;
	case C_STATUS:	return __atomic_load_n(&s->status, __ATOMIC_ACQUIRE);
	case C_CFGGEN:	return s->config_generation;
	case C_QSEL:	return s->queue_select;
	}
	/* An unavailable queue reads as size 0 (spec, common config). */
	if (q == NULL)
		return f == C_QMSIX ? VIRTIO_MSI_NO_VECTOR : 0;
	switch (f) {
	case C_QSIZE:	return q->size;
	case C_QMSIX:	return q->msix_vector;
	case C_QENABLE:	return __atomic_load_n(&q->ready, __ATOMIC_RELAXED);
	case C_QNOFF:	return q->notify_off;
	case C_QDESC:	return q->desc >> shift;
	case C_QDRIVER:	return q->avail >> shift;
	case C_QDEVICE:	return q->used >> shift;
	}
	return 0;
}

/* FEATURES_OK only sticks for a subset of the offer that has VERSION_1. */
static bool
features_acceptable(const struct virtio_state *s)
{
	uint64_t drv = __atomic_load_n(&s->driver_features, __ATOMIC_RELAXED);

	return (drv & ~s->device_features) == 0 && (drv & VIRTIO_F_VERSION_1);
}

static void
status_write(struct virtio_state *s, const struct virtio_dev *d, uint8_t v)
{
	uint8_t old, new;

	if (v == 0) {
		virtio_reset(s, d);
		return;
	}
	old = __atomic_load_n(&s->status, __ATOMIC_ACQUIRE);
	do {
		/* NEEDS_RESET is the device's; bits only go away by reset. */
		new = (uint8_t)((v & ~VIRTIO_STATUS_NEEDS_RESET) | old);
		if ((new & VIRTIO_STATUS_FEATURES_OK) &&
		    !(old & VIRTIO_STATUS_FEATURES_OK) &&
		    !features_acceptable(s))
			new &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
	} while (!__atomic_compare_exchange_n(&s->status, &old, new, false,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	if (old & ~v & ~VIRTIO_STATUS_NEEDS_RESET)
		warn_once(s, d, WARN_STATUS, __func__, VIRTIO_PCI_STATUS, 1);
	if (!(new & VIRTIO_STATUS_DRIVER_OK) || (old & VIRTIO_STATUS_DRIVER_OK))
		return;
	if (!(new & VIRTIO_STATUS_FEATURES_OK)) {
		VIRTIO_VIOLATION(s, d, "DRIVER_OK without FEATURES_OK");
		return;
	}
	/*
	 * The device may not touch buffers before DRIVER_OK, so a kick
	 * that came earlier found nothing to do: kick every enabled queue
	 * once now, in case the driver filled one before going live.
	 */
	for (uint16_t i = 0; i < d->ops->num_queues && d->ops->queue_notify;
	    i++)
		if (__atomic_load_n(&s->vq[i].ready, __ATOMIC_ACQUIRE))
			d->ops->queue_notify(d, s, i);
}

/* A vector the driver may map: in the table, or NO_VECTOR. */
static uint16_t
vector_or_none(const struct virtio_dev *d, uint64_t v)
{
	return v < nvectors(d) ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
}

/* Writes a queue area address (or half of it); align is the spec's. */
static void
queue_addr_write(struct virtio_state *s, const struct virtio_dev *d,
    uint64_t *addr, unsigned shift, unsigned size, uint64_t val,
    uint64_t align, const char *what)
{
	uint64_t mask = size_mask(size) << shift;
	uint64_t new = (*addr & ~mask) | ((val << shift) & mask);

	if (new & (align - 1)) {
		VIRTIO_VIOLATION(s, d, "queue %u %s 0x%llx not %llu-aligned",
		    s->queue_select, what, (unsigned long long)new,
		    (unsigned long long)align);
		return;
	}
	*addr = new;
}

static void
queue_write(struct virtio_state *s, const struct virtio_dev *d, int f,
    unsigned shift, unsigned size, uint64_t val)
{
	struct vq_state *q = selected_queue(s, d);

	if (q == NULL) {
		warn_once(s, d, WARN_NOQUEUE, __func__, common_fields[f].off,
		    size);
		return;
	}
	if (f == C_QMSIX) {
		q->msix_vector = vector_or_none(d, val);
		return;
	}
	if (f == C_QENABLE) {
		if (val != 1) {
			/* The spec forbids drivers to write 0 here. */
			warn_once(s, d, WARN_QDISABLE, __func__,
			    VIRTIO_PCI_Q_ENABLE, size);
			return;
		}
		if (__atomic_load_n(&q->ready, __ATOMIC_RELAXED))
			return;
		q->last_avail = 0;
		q->used_idx = 0;
		/* No interrupt decided yet: the first one interrupts. */
		q->signalled_used = 0;
		q->flags = 0;
		/* Publishes size and addresses to the queue threads. */
		__atomic_store_n(&q->ready, 1, __ATOMIC_RELEASE);
		return;
	}
	/* Moving or resizing a ring the device is using breaks it. */
	if (__atomic_load_n(&q->ready, __ATOMIC_RELAXED)) {
		VIRTIO_VIOLATION(s, d, "queue %u reconfigured while enabled",
		    s->queue_select);
		return;
	}
	switch (f) {
	case C_QSIZE:
		if (!pow2((uint32_t)val) || val > d->ops->max_queue_size) {
			VIRTIO_VIOLATION(s, d, "queue %u size %llu",
			    s->queue_select, (unsigned long long)val);
			return;
		}
		q->size = (uint16_t)val;
		break;
	case C_QDESC:
		queue_addr_write(s, d, &q->desc, shift, size, val, 16,
		    "descriptor table");
		break;
	case C_QDRIVER:
		queue_addr_write(s, d, &q->avail, shift, size, val, 2,
		    "available ring");
		break;
	case C_QDEVICE:
		queue_addr_write(s, d, &q->used, shift, size, val, 4,
		    "used ring");
		break;
	}
}

static void
common_write(struct virtio_state *s, const struct virtio_dev *d, int f,
    unsigned shift, unsigned size, uint64_t val)
{
	uint64_t feat, mask;

	switch (f) {
	case C_DFSEL:
		s->device_feature_select = (uint32_t)val;
		return;
	case C_GFSEL:
		s->driver_feature_select = (uint32_t)val;
		return;
	case C_GF:
		if (__atomic_load_n(&s->status, __ATOMIC_ACQUIRE) &
		    VIRTIO_STATUS_FEATURES_OK) {
			warn_once(s, d, WARN_LATE_FEAT, __func__,
			    VIRTIO_PCI_GF, size);
			return;
		}
		if (s->driver_feature_select > 1)
			return;
		mask = 0xffffffffull << (32 * s->driver_feature_select);
		feat = __atomic_load_n(&s->driver_features, __ATOMIC_RELAXED);
		feat = (feat & ~mask) |
		    ((val << (32 * s->driver_feature_select)) & mask);
		__atomic_store_n(&s->driver_features, feat, __ATOMIC_RELAXED);
		return;
	case C_MSIX:
		s->config_msix_vector = vector_or_none(d, val);
		return;
	case C_STATUS:
		status_write(s, d, (uint8_t)val);
		return;
	case C_QSEL:
		s->queue_select = (uint16_t)val;
		return;
	case C_DF: case C_NUMQ: case C_CFGGEN: case C_QNOFF:
		warn_once(s, d, WARN_RDONLY, __func__, common_fields[f].off,
		    size);
		return;
	}
	queue_write(s, d, f, shift, size, val);
}

/*
 * Reading the ISR clears it, so a read that is run again after a crash
 * must not read it again: the value is latched under (slot, seq) before
 * anything is cleared, and a second run finds it there.  Only the bits
 * read are cleared, so a bit raised meanwhile stays for the next read.
 */
static uint8_t
isr_read(struct virtio_state *s, const struct virtio_dev *d, unsigned slot,
    uint32_t seq)
{
	uint64_t l;
	uint8_t v;

	if (slot >= VIRTIO_LATCH_SLOTS) {
		warn_once(s, d, WARN_SLOT, __func__, VIRTIO_ISR_OFF, 1);
		return __atomic_exchange_n(&s->isr, 0, __ATOMIC_SEQ_CST);
	}
	l = __atomic_load_n(&s->isr_latch[slot], __ATOMIC_ACQUIRE);
	if ((l & LATCH_VALID) && (uint32_t)(l >> 32) == seq) {
		v = (uint8_t)l;
	} else {
		v = __atomic_load_n(&s->isr, __ATOMIC_SEQ_CST);
		__atomic_store_n(&s->isr_latch[slot],
		    (uint64_t)seq << 32 | LATCH_VALID | v, __ATOMIC_SEQ_CST);
	}
	__atomic_fetch_and(&s->isr, (uint8_t)~v, __ATOMIC_SEQ_CST);
	return v;
}

/*
 * A slot carries one request at a time, so a latch under another seq
 * belongs to a request that completed: drop it, so that it cannot match
 * a later request after seq wraps.
 */
static void
latch_forget(struct virtio_state *s, unsigned slot, uint32_t seq)
{
	uint64_t l;

	if (slot >= VIRTIO_LATCH_SLOTS)
		return;
	l = __atomic_load_n(&s->isr_latch[slot], __ATOMIC_RELAXED);
	if ((l & LATCH_VALID) && (uint32_t)(l >> 32) != seq)
		__atomic_store_n(&s->isr_latch[slot], 0, __ATOMIC_RELAXED);
}

/* Is BAR0 offset off in the 4 KiB window at base? */
static bool
in_window(uint64_t off, uint64_t base)
{
	return off >= base && off - base < VIRTIO_WINDOW;
}

/* Device config access of size at off: inside config_len? */
static bool
devcfg_ok(const struct virtio_dev *d, uint64_t off, unsigned size)
{
	return off < d->ops->config_len && size <= d->ops->config_len - off;
}

int
virtio_pci_read(struct virtio_state *s, const struct virtio_dev *d,
    uint64_t off, unsigned size, unsigned slot, uint32_t seq, uint64_t *val)
{
	unsigned shift;
	uint64_t v = 0;
	int f;

	*val = 0;
	if (size != 1 && size != 2 && size != 4 && size != 8) {
		warn_once(s, d, WARN_HOLE, __func__, off, size);
		return -EINVAL;
	}
	if (off < VIRTIO_COMMON_OFF + VIRTIO_COMMON_LEN) {
		if ((f = common_field(off, size, &shift)) < 0)
			goto bad_common;
		latch_forget(s, slot, seq);
		*val = common_read(s, d, f, shift) & size_mask(size);
		return 0;
	}
	if (off == VIRTIO_ISR_OFF && size == 1) {
		*val = isr_read(s, d, slot, seq);
		return 0;
	}
	latch_forget(s, slot, seq);
	if (in_window(off, VIRTIO_DEVCFG_OFF)) {
		off -= VIRTIO_DEVCFG_OFF;
		if (!devcfg_ok(d, off, size)) {
			warn_once(s, d, WARN_DEVCFG, __func__,
			    VIRTIO_DEVCFG_OFF + off, size);
			return -EINVAL;
		}
		/*
		 * A change must show in config_generation once the driver
		 * read changed bytes; bumping here, not at the change, also
		 * keeps many changes from wrapping the 8-bit counter.
		 */
		if (__atomic_exchange_n(&s->config_changed, 0,
		    __ATOMIC_ACQ_REL))
			s->config_generation++;
		memcpy(&v, s->config + off, size);
		*val = v;
		return 0;
	}
	if (in_window(off, VIRTIO_NOTIFY_OFF))
		return 0;	/* notify reads carry nothing */
	warn_once(s, d, off >= VIRTIO_ISR_OFF && off < VIRTIO_DEVCFG_OFF ?
	    WARN_ISR : WARN_HOLE, __func__, off, size);
	return -EINVAL;
bad_common:
	warn_once(s, d, WARN_COMMON, __func__, off, size);
	return -EINVAL;
}

/* A write to the notify window: off relative to it. */
static int
notify_write(struct virtio_state *s, const struct virtio_dev *d, uint64_t off,
    unsigned size)
{
	uint64_t qi = off / VIRTIO_NOTIFY_MULT;

	if (off % VIRTIO_NOTIFY_MULT != 0 || (size != 2 && size != 4) ||
	    qi >= d->ops->num_queues) {
		warn_once(s, d, WARN_NOTIFY, __func__, VIRTIO_NOTIFY_OFF + off,
		    size);
		return -EINVAL;
	}
	/* A kick before the queue is enabled has nothing to start. */
	if (d->ops->queue_notify != NULL &&
	    __atomic_load_n(&s->vq[qi].ready, __ATOMIC_ACQUIRE))
		d->ops->queue_notify(d, s, (uint16_t)qi);
	return 0;
}

int
virtio_pci_write(struct virtio_state *s, const struct virtio_dev *d,
    uint64_t off, unsigned size, unsigned slot, uint32_t seq, uint64_t val)
{
	unsigned shift;
	int f;

	latch_forget(s, slot, seq);
	if (size != 1 && size != 2 && size != 4 && size != 8) {
		warn_once(s, d, WARN_HOLE, __func__, off, size);
		return -EINVAL;
	}
	val &= size_mask(size);
	if (off < VIRTIO_COMMON_OFF + VIRTIO_COMMON_LEN) {
		if ((f = common_field(off, size, &shift)) < 0) {
			warn_once(s, d, WARN_COMMON, __func__, off, size);
			return -EINVAL;
		}
		common_write(s, d, f, shift, size, val);
		return 0;
	}
	if (in_window(off, VIRTIO_DEVCFG_OFF)) {
		off -= VIRTIO_DEVCFG_OFF;
		if (!devcfg_ok(d, off, size) || d->ops->config_write == NULL) {
			warn_once(s, d, WARN_DEVCFG, __func__,
			    VIRTIO_DEVCFG_OFF + off, size);
			return -EINVAL;
		}
		d->ops->config_write(d, s, (uint32_t)off, size, val);
		return 0;
	}
	if (in_window(off, VIRTIO_NOTIFY_OFF))
		return notify_write(s, d, off - VIRTIO_NOTIFY_OFF, size);
	/* The ISR is read-only; anything else is a hole. */
	warn_once(s, d, off >= VIRTIO_ISR_OFF && off < VIRTIO_DEVCFG_OFF ?
	    WARN_ISR : WARN_HOLE, __func__, off, size);
	return -EINVAL;
}

void
virtio_pci_ioreq(struct virtio_state *s, const struct virtio_dev *d,
    unsigned slot, const struct ioreq *req, uint64_t *val)
{
	*val = ~0ULL;
	if (req->type != IOREQ_MMIO || req->index != 0)
		return;
	if (req->dir == IOREQ_READ)
		virtio_pci_read(s, d, req->addr, req->size, slot, req->seq,
		    val);
	else
		virtio_pci_write(s, d, req->addr, req->size, slot, req->seq,
		    req->data);
}
