/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The virtio 1.x modern PCI transport (virtio 1.x 4.1), shared by every
 * virtio mediator, and the state it keeps.
 *
 * A virtio device is split between two processes:
 *
 *   VM process: serves the PCI configuration space from the image that
 *     virtio_pci_config_template() builds, and BAR2 (the MSI-X table and
 *     PBA) with virtio_msix_read/write/control().
 *   mediator: serves BAR0 with virtio_pci_read/write(), runs the queues
 *     and raises interrupts with virtio_raise*().
 *
 * Both work on one struct virtio_state in shared memory, so that a
 * restarted mediator picks up where the last one stopped.  The guest
 * can observe nothing that is not in it.  docs/virtio.md has the whole
 * picture: BAR layout, state offsets, the ISR latch and the MSI-X
 * raise/unmask protocol.
 *
 * Functions return 0 or a negative errno unless said otherwise; a bad
 * guest access is never an error for the caller, it reads 0 or is
 * dropped, and a guest protocol violation puts the device in
 * DEVICE_NEEDS_RESET (virtio_violation()).
 */
#ifndef CUPULE_VIRTIO_PCI_H
#define CUPULE_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "gmem.h"
#include "virtqueue.h"

/* PCI identity (4.1.2). */
#define VIRTIO_PCI_VENDOR	0x1af4
#define VIRTIO_PCI_DEVICE_BASE	0x1040	/* + virtio device id */
#define VIRTIO_PCI_REVISION	1	/* modern only */

/* BAR0 (64-bit memory, mediator): one 4 KiB window per structure. */
#define VIRTIO_BAR0_SIZE	0x4000
#define VIRTIO_COMMON_OFF	0x0000
#define VIRTIO_COMMON_LEN	0x38	/* up to queue_device */
#define VIRTIO_ISR_OFF		0x1000
#define VIRTIO_DEVCFG_OFF	0x2000
#define VIRTIO_NOTIFY_OFF	0x3000	/* queue i: + i * VIRTIO_NOTIFY_MULT */
#define VIRTIO_NOTIFY_MULT	4
#define VIRTIO_WINDOW		0x1000

/* BAR2 (32-bit memory, VM process): MSI-X. */
#define VIRTIO_BAR2_SIZE	0x1000
#define VIRTIO_MSIX_TABLE_OFF	0x000
#define VIRTIO_MSIX_PBA_OFF	0x800

/* Common configuration registers (offset in BAR0). */
#define VIRTIO_PCI_DFSELECT	0x00	/* 32: device_feature_select */
#define VIRTIO_PCI_DF		0x04	/* 32: device_feature (RO) */
#define VIRTIO_PCI_GFSELECT	0x08	/* 32: driver_feature_select */
#define VIRTIO_PCI_GF		0x0c	/* 32: driver_feature */
#define VIRTIO_PCI_MSIX		0x10	/* 16: config_msix_vector */
#define VIRTIO_PCI_NUMQ		0x12	/* 16: num_queues (RO) */
#define VIRTIO_PCI_STATUS	0x14	/*  8: device_status */
#define VIRTIO_PCI_CFGGEN	0x15	/*  8: config_generation (RO) */
#define VIRTIO_PCI_Q_SELECT	0x16	/* 16 */
#define VIRTIO_PCI_Q_SIZE	0x18	/* 16 */
#define VIRTIO_PCI_Q_MSIX	0x1a	/* 16 */
#define VIRTIO_PCI_Q_ENABLE	0x1c	/* 16 */
#define VIRTIO_PCI_Q_NOFF	0x1e	/* 16: queue_notify_off (RO) */
#define VIRTIO_PCI_Q_DESC	0x20	/* 64, or two 32-bit halves */
#define VIRTIO_PCI_Q_DRIVER	0x28	/* 64: the available ring */
#define VIRTIO_PCI_Q_DEVICE	0x30	/* 64: the used ring */

/* Device status bits. */
#define VIRTIO_STATUS_ACKNOWLEDGE	0x01
#define VIRTIO_STATUS_DRIVER		0x02
#define VIRTIO_STATUS_DRIVER_OK		0x04
#define VIRTIO_STATUS_FEATURES_OK	0x08
#define VIRTIO_STATUS_NEEDS_RESET	0x40
#define VIRTIO_STATUS_FAILED		0x80

/* ISR bits. */
#define VIRTIO_ISR_QUEUE	0x1
#define VIRTIO_ISR_CONFIG	0x2

/* Transport feature bits. */
#define VIRTIO_F_INDIRECT_DESC	(1ull << 28)
#define VIRTIO_F_EVENT_IDX	(1ull << 29)	/* used_event / avail_event */
#define VIRTIO_F_VERSION_1	(1ull << 32)	/* always offered */
#define VIRTIO_F_RING_PACKED	(1ull << 34)	/* not implemented: refused */

/* Interrupt "vectors" handed to virtio_fire_fn. */
#define VIRTIO_MSI_NO_VECTOR	0xffff	/* no interrupt */
#define VIRTIO_INTX_VECTOR	0xfffe	/* the INTx line (MSI-X disabled) */

/* MSI-X Message Control bits (config space, mirrored in msix_ctrl). */
#define VIRTIO_MSIX_ENABLE	0x8000
#define VIRTIO_MSIX_FMASK	0x4000
#define VIRTIO_MSIX_ENTRY_MASKED 0x1	/* vector control bit 0 */

/* Limits of the shared state. */
#define VIRTIO_MAX_QUEUES	64
#define VIRTIO_MSIX_MAX		128	/* table fits below the PBA at 0x800 */
#define VIRTIO_CFG_MAX		512	/* device-specific configuration */
#define VIRTIO_DEV_AREA		4096	/* device's own persistent state */
#define VIRTIO_LATCH_SLOTS	64	/* >= IOREQ_MAX_SLOTS (checked) */

#define VIRTIO_STATE_MAGIC	0x53565543u	/* bytes "CUVS" */
#define VIRTIO_STATE_VERSION	1

/* One MSI-X table entry, laid out as the guest sees it in BAR2. */
struct virtio_msix_entry {
	uint32_t addr_lo;
	uint32_t addr_hi;
	uint32_t data;
	uint32_t ctrl;		/* VIRTIO_MSIX_ENTRY_MASKED */
};

/*
 * The device state, in shared memory, little-endian, fixed layout
 * (offsets checked at compile time in virtio_pci.c).  "(atomic)" fields
 * are only touched with __atomic builtins: two processes and several
 * threads use them at once.  Everything read from here is bounded
 * again before use; nothing in it is trusted as an index.
 */
struct virtio_state {
	/* 0x000: header, written by virtio_state_init(). */
	uint32_t magic;			/* 0x000 */
	uint16_t version;		/* 0x004 */
	uint16_t device_id;		/* 0x006: virtio device id */
	uint32_t size;			/* 0x008: sizeof(struct virtio_state) */
	uint16_t num_queues;		/* 0x00c */
	uint16_t max_queue_size;	/* 0x00e */
	uint16_t config_len;		/* 0x010 */
	uint16_t msix_vectors;		/* 0x012: MSI-X table size */
	uint32_t reserved0;		/* 0x014 */
	uint64_t device_features;	/* 0x018: offered */
	uint32_t reset_count;		/* 0x020: (atomic) device resets */
	uint32_t violations;		/* 0x024: (atomic) guest violations */
	uint32_t warned;		/* 0x028: (atomic) odd access logged */
	uint8_t reserved1[20];		/* 0x02c */

	/* 0x040: common configuration, written by the mediator. */
	uint64_t driver_features;	/* 0x040 */
	uint32_t device_feature_select;	/* 0x048 */
	uint32_t driver_feature_select;	/* 0x04c */
	uint16_t config_msix_vector;	/* 0x050 */
	uint16_t queue_select;		/* 0x052 */
	uint8_t status;			/* 0x054: (atomic) device_status */
	uint8_t config_generation;	/* 0x055 */
	uint8_t config_changed;		/* 0x056: (atomic) bump gen. on read */
	uint8_t isr;			/* 0x057: (atomic) ISR status */
	uint8_t needs_reset;		/* 0x058: (atomic) violation logged */
	uint8_t reserved2[39];		/* 0x059 */

	/* 0x080: MSI-X, msix_ctrl written by the VM process. */
	uint32_t msix_ctrl;		/* 0x080: (atomic) ENABLE | FMASK */
	uint32_t reserved3;		/* 0x084 */
	uint64_t msix_pba[VIRTIO_MSIX_MAX / 64]; /* 0x088: (atomic) both */
	uint8_t reserved4[104];		/* 0x098 */

	/* 0x100: ISR reads latched per ioreq slot: seq << 32 | 0x100 | isr. */
	uint64_t isr_latch[VIRTIO_LATCH_SLOTS];	/* 0x100: (atomic) */
	uint8_t reserved5[256];		/* 0x300 */

	/* 0x400: MSI-X table, written by the VM process. */
	struct virtio_msix_entry msix[VIRTIO_MSIX_MAX];	/* 0x400 */

	/* 0xc00: queues, programmed through the common configuration. */
	struct vq_state vq[VIRTIO_MAX_QUEUES];	/* 0xc00 */

	/* 0x1600: device-specific configuration, as the guest reads it. */
	uint8_t config[VIRTIO_CFG_MAX];	/* 0x1600 */

	/* 0x1800: the device's own persistent state (in-flight records). */
	uint8_t device[VIRTIO_DEV_AREA] __attribute__((aligned(64)));
};					/* 0x2800 bytes */

struct virtio_dev;

/* Writes the irqfd of vector (or the INTx line for VIRTIO_INTX_VECTOR). */
typedef void virtio_fire_fn(void *opaque, uint16_t vector);

/*
 * What a device type tells the transport.  Hooks run on the thread that
 * called virtio_pci_write(); NULL hooks are skipped.
 */
struct virtio_dev_ops {
	const char *name;		/* for log lines, e.g. "virtio-blk" */
	uint16_t device_id;		/* virtio device id (2 = block) */
	uint64_t features;		/* offered; VERSION_1 is added */
	uint16_t num_queues;		/* 1..VIRTIO_MAX_QUEUES */
	uint16_t max_queue_size;	/* power of two, <= VQ_MAX_SIZE */
	uint16_t config_len;		/* <= VIRTIO_CFG_MAX */
	/*
	 * The driver wrote 0 to device_status: stop using the queues and
	 * forget in-flight requests.  Called before the transport clears
	 * its state.  A replayed write may call it twice: be idempotent.
	 */
	void (*reset)(const struct virtio_dev *d, struct virtio_state *s);
	/*
	 * The driver notified queue q (an enabled queue < num_queues);
	 * also called for every enabled queue when DRIVER_OK is set.
	 */
	void (*queue_notify)(const struct virtio_dev *d, struct virtio_state *s,
	    uint16_t q);
	/*
	 * The driver wrote size bytes of val at off of the device config
	 * (inside config_len).  The hook stores what it accepts into
	 * s->config.  Without a hook the config space is read-only.
	 */
	void (*config_write)(const struct virtio_dev *d, struct virtio_state *s,
	    uint32_t off, unsigned size, uint64_t val);
};

/* One device instance in the mediator: its type, context and irqfds. */
struct virtio_dev {
	const struct virtio_dev_ops *ops;
	void *opaque;			/* the device's own context */
	virtio_fire_fn *fire;		/* raises a vector */
	void *fire_opaque;
};

/* The PCI function as the VM process declares it. */
struct virtio_pci_config {
	uint8_t cfg[256];		/* configuration space image */
	uint8_t wmask[256];		/* bits the guest may write */
	struct {
		uint64_t size;		/* 0: no BAR */
		bool mem64;		/* 64-bit memory BAR (takes two) */
	} bar[6];
	uint8_t msix_cap;		/* offset of the MSI-X capability */
};

/* Capability offsets in the configuration space image. */
#define VIRTIO_CAP_MSIX		0x40
#define VIRTIO_CAP_COMMON	0x4c
#define VIRTIO_CAP_NOTIFY	0x5c
#define VIRTIO_CAP_ISR		0x70
#define VIRTIO_CAP_DEVCFG	0x80	/* only when config_len > 0 */

/*
 * Fills out with the configuration space of a device of type ops:
 * ids (subsystem ids given), class_code (class << 16 | subclass << 8 |
 * prog-if), the capability list (MSI-X with num_queues + 1 vectors,
 * then the common, notify, ISR and device-config structures in BAR0)
 * and the BARs to declare.  Returns 0, or -EINVAL if ops is out of the
 * limits above.
 */
int virtio_pci_config_template(const struct virtio_dev_ops *ops,
    uint32_t class_code, uint16_t subsys_vendor, uint16_t subsys_id,
    struct virtio_pci_config *out);

/*
 * Initialises a new state for d's device type: the device as after a
 * reset, every MSI-X vector masked.  Returns 0, or -EINVAL for ops out
 * of the limits (or offering RING_PACKED, not implemented).
 */
int virtio_state_init(struct virtio_state *s, const struct virtio_dev *d);

/*
 * Checks that s, left by an earlier process, is a state of this
 * version for d's device type.  Returns 0 or -EPROTO.
 */
int virtio_state_check(const struct virtio_state *s,
    const struct virtio_dev *d);

/*
 * Resets the device as a driver write of 0 to device_status does: calls
 * the reset hook, then clears features, selects, vectors, the ISR,
 * needs-reset and every queue, counts the reset and sets status 0.
 */
void virtio_reset(struct virtio_state *s, const struct virtio_dev *d);

/*
 * One BAR0 access of size bytes at off: request seq of ioreq slot slot
 * (the slot and seq of struct ioreq; a replayed request comes with the
 * same pair).  A read stores the value in *val (0 for a bad access).
 * An ISR read returns and clears the ISR exactly once per (slot, seq);
 * every other access is safe to replay.  Returns 0, or -EINVAL for an
 * access to no register (read 0 / dropped, logged once).
 */
int virtio_pci_read(struct virtio_state *s, const struct virtio_dev *d,
    uint64_t off, unsigned size, unsigned slot, uint32_t seq, uint64_t *val);
int virtio_pci_write(struct virtio_state *s, const struct virtio_dev *d,
    uint64_t off, unsigned size, unsigned slot, uint32_t seq, uint64_t val);

struct ioreq;

/*
 * A ring request for a device whose one BAR is BAR0, the modern transport
 * (what a mediator's ioreq hook gets): MMIO to BAR0 goes to
 * virtio_pci_read/write() with the request's slot and seq; anything else
 * reads as all ones and writes are dropped.
 */
void virtio_pci_ioreq(struct virtio_state *s, const struct virtio_dev *d,
    unsigned slot, const struct ioreq *req, uint64_t *val);

/*
 * Reports a guest protocol violation: sets DEVICE_NEEDS_RESET, raises
 * the configuration-change interrupt and logs the first one of each
 * reset cycle (func and the message).  Never fails, never aborts.
 */
void virtio_violation(struct virtio_state *s, const struct virtio_dev *d,
    const char *func, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define VIRTIO_VIOLATION(s, d, ...) \
	virtio_violation((s), (d), __func__, __VA_ARGS__)

/*
 * Queue qi if the device may use it now (DRIVER_OK, no NEEDS_RESET,
 * queue enabled), else NULL.
 */
struct vq_state *virtio_queue(struct virtio_state *s,
    const struct virtio_dev *d, uint16_t qi);

/*
 * vq_pop() on queue qi with the negotiated features; a violation goes
 * to virtio_violation().  Returns 1, 0 (nothing, or queue not usable)
 * or -EPROTO.
 */
int virtio_queue_pop(struct virtio_state *s, const struct virtio_dev *d,
    const struct gmem *m, uint16_t qi, struct vq_chain *c);

/*
 * vq_peek() on queue qi with the negotiated features, violations
 * reported: the next chain, not taken until vq_advance().  Returns 1,
 * 0 (nothing, or queue not usable) or -EPROTO.
 */
int virtio_queue_peek(struct virtio_state *s, const struct virtio_dev *d,
    const struct gmem *m, uint16_t qi, struct vq_chain *c);

/*
 * vq_chain_at() on queue qi with the negotiated features, violations
 * reported: the chain at head, which the device took before (a restart
 * resubmitting it).  Returns 0, -EINVAL when the queue is not usable, or
 * -EPROTO.
 */
int virtio_queue_chain(struct virtio_state *s, const struct virtio_dev *d,
    const struct gmem *m, uint16_t qi, uint16_t head, struct vq_chain *c);

/*
 * vq_push() on queue qi, violations reported.  Returns 0, -EPROTO, or
 * -EINVAL when the queue is not usable (reset, or needs reset): the
 * completion is dropped.
 */
int virtio_queue_push(struct virtio_state *s, const struct virtio_dev *d,
    const struct gmem *m, uint16_t qi, uint16_t head, uint32_t written);

/*
 * After one or more pushes: raises queue qi's interrupt unless the
 * driver asked for none (avail->flags, or with EVENT_IDX used_event,
 * see vq_want_interrupt()).  Call it once per batch of pushes, never
 * skip it after a push: under EVENT_IDX the decision is about every
 * entry published since the last one.  Returns what virtio_raise()
 * returns, or VIRTIO_RAISE_NONE.
 */
int virtio_queue_interrupt(struct virtio_state *s, const struct virtio_dev *d,
    const struct gmem *m, uint16_t qi);

/*
 * The device popped until virtio_queue_pop() returned 0 and is about to
 * wait for queue qi's next notification.  With EVENT_IDX, asks the
 * driver to notify for the next entry (vq_arm()), then looks again.
 * Returns true when chains arrived meanwhile: the caller pops again and
 * calls this again when the ring is empty; only after false may it
 * wait, and the notification is then sure to come.  Returns false for a
 * queue that is not usable, and after a violation (rings misaligned or
 * outside guest memory, reported).  A device that stops popping for its
 * own reasons (no room for more requests) does not call it, and must
 * come back to the queue by itself when it has room: under EVENT_IDX no
 * notification is due until it arms again.
 */
bool virtio_queue_arm(struct virtio_state *s, const struct virtio_dev *d,
    const struct gmem *m, uint16_t qi);

/*
 * A new process took s over (virtio_state_check() passed), its
 * interrupts and notifications set up: forgets every interrupt decision
 * the dead process recorded, then for every usable queue publishes the
 * used index again (vq_publish(): it may have died between committing
 * a push and publishing it), decides on an interrupt (which now says
 * yes, unless NO_INTERRUPT without EVENT_IDX) and calls queue_notify,
 * since an interrupt or a notification may have been lost while no
 * process ran.
 */
void virtio_takeover(struct virtio_state *s, const struct virtio_dev *d,
    const struct gmem *m);

/*
 * The device configuration changed: the next config read bumps
 * config_generation, and the configuration-change interrupt is raised.
 */
void virtio_config_changed(struct virtio_state *s, const struct virtio_dev *d);

/*
 * One line describing s for a log: status, interrupts and, for every
 * ready queue, our indexes beside the guest's (read from m).
 */
void virtio_describe(const struct virtio_state *s, const struct gmem *m,
    char *buf, size_t len);

/* What virtio_raise() did. */
#define VIRTIO_RAISE_NONE	0	/* no vector: nothing to do */
#define VIRTIO_RAISE_FIRED	1	/* fire() called by this raise */
#define VIRTIO_RAISE_PENDED	2	/* PBA bit set; an unmask fires it */
#define VIRTIO_RAISE_COALESCED	3	/* PBA bit was already set */

/*
 * Raises a queue interrupt on vector.  MSI-X enabled: fires the vector,
 * or sets its PBA bit while it is masked (see virtio_msix.c for the
 * protocol with virtio_msix_unmasked()).  MSI-X disabled: sets the ISR
 * queue bit and fires VIRTIO_INTX_VECTOR.  Returns VIRTIO_RAISE_*.
 */
int virtio_raise(struct virtio_state *s, uint16_t vector,
    virtio_fire_fn *fire, void *opaque);

/* Like virtio_raise() for the configuration-change interrupt. */
int virtio_raise_config(struct virtio_state *s, virtio_fire_fn *fire,
    void *opaque);

/*
 * VM process: vector was unmasked (entry or function mask cleared, the
 * new mask already stored): delivers its pending interrupt, if any,
 * exactly once.  Returns true if it fired.
 */
bool virtio_msix_unmasked(struct virtio_state *s, uint16_t vector,
    virtio_fire_fn *fire, void *opaque);

/*
 * VM process: BAR2 accesses (table, then PBA at VIRTIO_MSIX_PBA_OFF),
 * size 4 or 8, aligned.  A read stores the value in *val (0 for a bad
 * access).  A write that changes a vector's address or data calls
 * route(opaque, vector) (if not NULL) so that the caller moves the
 * vector's irqfd route, before an unmask in the same access fires it
 * through fire(opaque, vector).  The PBA is read-only.  Return 0, or
 * -EINVAL for a bad access (read 0 / dropped).
 */
int virtio_msix_read(const struct virtio_state *s, uint64_t off,
    unsigned size, uint64_t *val);
int virtio_msix_write(struct virtio_state *s, uint64_t off, unsigned size,
    uint64_t val, virtio_fire_fn *route, virtio_fire_fn *fire, void *opaque);

/*
 * VM process: the guest wrote the MSI-X Message Control register
 * (msgctl as now in the config space image).  Enabling MSI-X or
 * clearing the function mask delivers what is pending.
 */
void virtio_msix_control(struct virtio_state *s, uint16_t msgctl,
    virtio_fire_fn *fire, void *opaque);

/* VM process: true while the INTx line should be asserted (ISR != 0). */
bool virtio_intx_pending(const struct virtio_state *s);

/*
 * The guest acknowledged the INTx line (KVM signalled the irqfd's
 * resample eventfd, and deasserted the line): asserts it again while the
 * ISR still holds a reason, so a level-triggered interrupt is never lost.
 * Returns true when it fired.
 */
bool virtio_intx_resample(const struct virtio_state *s, virtio_fire_fn *fire,
    void *opaque);

#endif
