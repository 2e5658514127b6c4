/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cupule-blk: the virtio-blk mediator.  One process per disk: it gets
 * its image as an open fd, maps its VM's RAM, serves BAR0 of its PCI
 * function from the ring, takes requests from its queue when the guest
 * kicks the queue's ioeventfd, runs them on the I/O engine and raises
 * the queue's MSI-X vector through an irqfd.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "blk.h"
#include "runtime.h"
#include "virtio_pci.h"

#define BLK_CLASS	0x018000	/* mass storage, other */

struct blkdev {
	struct med *m;
	int disk_fd;
	uint64_t start, sectors;
	bool readonly;
	char serial[BLK_ID_BYTES + 1];
	struct blk_backend b;
	struct virtio_dev_ops ops;
	struct virtio_dev vdev;
	struct virtio_state *s;
	struct blk_inflight *inflight;
	struct blk_engine *eng;
	int notify_fd;
	int nirq;
	int irq_fd[VIRTIO_MSIX_MAX];
	int intx_fd;
	int resample_fd;
	struct event *ev_notify;
	struct event *ev_resample;
	struct event *ev_done;
};

static void
blk_fire(void *opaque, uint16_t vector)
{
	struct blkdev *d = opaque;
	uint64_t one = 1;
	int fd = vector == VIRTIO_INTX_VECTOR ? d->intx_fd :
	    vector < d->nirq ? d->irq_fd[vector] : -1;

	med_fault(d->m, MED_FAULT_IRQ);
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0)
		med_log(d->m, "irqfd: %s", strerror(errno));
}

/*
 * Returns a finished request to the guest, in the steps the in-flight
 * record can follow (blk.h): a crash between any two leaves it either
 * to be run again or pushed, never both.  A queue that is no longer
 * usable (reset, needs reset) drops the answer with the record entry.
 */
static void
blk_push(struct blkdev *d, uint16_t head, uint32_t written)
{
	struct vq_state *q = virtio_queue(d->s, &d->vdev, 0);

	if (q == NULL) {
		blk_inflight_remove(d->inflight, head);
		return;
	}
	blk_inflight_done(d->inflight, head, q->used_idx);
	if (vq_push_elem(&d->m->mem, q, head, written) < 0) {
		/* The entry stays: the reset asked for clears the record. */
		VIRTIO_VIOLATION(d->s, &d->vdev, "queue 0: used ring unusable");
		return;
	}
	med_fault(d->m, MED_FAULT_ELEM);
	vq_push_commit(q);
	med_fault(d->m, MED_FAULT_COMMIT);
	vq_publish(&d->m->mem, q);
	med_fault(d->m, MED_FAULT_USED);
	blk_inflight_remove(d->inflight, head);
}

/* Returns finished requests to the guest, then one interrupt. */
static void
blk_complete(struct blkdev *d)
{
	struct blk_done done[32];
	int n, pushed = 0;

	while ((n = blk_engine_reap(d->eng, done, 32)) > 0) {
		for (int i = 0; i < n; i++) {
			med_fault(d->m, MED_FAULT_BACKEND);
			blk_push(d, done[i].head, done[i].written);
			pushed++;
		}
	}
	if (pushed)
		virtio_queue_interrupt(d->s, &d->vdev, &d->m->mem, 0);
}

/*
 * Starts the request in chain c: on the engine, or at once when parsing
 * answered it (refused, GET_ID).  Returns 1 when it went to the engine,
 * 0 when it was answered (pushed: the caller owes an interrupt), -EBUSY
 * when the engine is full after all, -EPROTO after a violation.
 */
static int
blk_start_req(struct blkdev *d, const struct vq_chain *c)
{
	static struct blk_req r;	/* large: not on the stack */
	struct blk_done done;
	int ret;

	if (blk_parse(&d->b, c, &r) < 0) {
		VIRTIO_VIOLATION(d->s, &d->vdev, "request %u: %s", c->head,
		    r.why ? r.why : "malformed");
		return -EPROTO;
	}
	if (r.op == BLK_OP_NONE) {
		blk_exec(&d->b, &r, &done);
		med_fault(d->m, MED_FAULT_BACKEND);
		blk_push(d, done.head, done.written);
		return 0;
	}
	if ((ret = blk_engine_submit(d->eng, &r)) < 0) {
		med_log(d->m, "engine: %s", strerror(-ret));
		return ret;
	}
	return 1;
}

/*
 * Takes every available request the engine has room for.  When the
 * ring is empty it is armed (virtio_queue_arm) and, if requests came
 * while we drained, drained again: under EVENT_IDX the driver notifies
 * once per arming, so returning with the ring not empty and not armed
 * would wait forever.  With the engine full the loop stops without
 * arming: on_done() calls us again when a request finishes.
 *
 * A chain is recorded before last_avail moves past it, so that a crash
 * in between leaves it either in the record or still available (and
 * recovery tells which: blk_inflight_recover()).
 */
static void
blk_process(struct blkdev *d)
{
	static struct vq_chain c;	/* large: not on the stack */
	struct vq_state *q;
	int submitted = 0, sync = 0, ret;

	if (d->b.negotiated != d->s->driver_features)
		blk_negotiated(&d->b, d->s->driver_features);
	while (blk_engine_pending(d->eng) < BLK_QUEUE_SIZE) {
		ret = virtio_queue_peek(d->s, &d->vdev, &d->m->mem, 0, &c);
		if (ret == 0 &&
		    virtio_queue_arm(d->s, &d->vdev, &d->m->mem, 0))
			continue;	/* published while we drained */
		/* Armed, unusable, or a violation. */
		if (ret != 1 || (q = virtio_queue(d->s, &d->vdev, 0)) == NULL)
			break;
		if (blk_inflight_add(d->inflight, c.head, q->last_avail) < 0) {
			VIRTIO_VIOLATION(d->s, &d->vdev, "head %u is already "
			    "in flight", c.head);
			break;
		}
		med_fault(d->m, MED_FAULT_RECORD);
		vq_advance(q);
		med_fault(d->m, MED_FAULT_AVAIL);
		ret = blk_start_req(d, &c);
		if (ret < 0)
			break;	/* -EBUSY: on_done() comes back */
		if (ret == 0)
			sync++;
		else
			submitted++;
	}
	if (submitted)
		blk_engine_kick(d->eng);
	if (sync)
		virtio_queue_interrupt(d->s, &d->vdev, &d->m->mem, 0);
}

/*
 * A takeover: puts the record in line with the queue (a chain recorded
 * but not taken is taken, a pushed one forgotten), then runs again
 * every request the dead process took and did not answer, oldest first.
 * virtio_takeover() then publishes, interrupts and looks at the queue.
 * A record that does not fit the queue is not guessed at: the driver
 * is asked for a reset.
 */
static void
blk_recover(struct blkdev *d)
{
	static struct vq_chain c;	/* large: not on the stack */
	uint16_t heads[BLK_INFLIGHT_MAX];
	struct vq_state *q = virtio_queue(d->s, &d->vdev, 0);
	int n, ret, submitted = 0;

	/* Not usable: nothing can be answered, and a reset clears it all. */
	if (q == NULL)
		return;
	n = blk_inflight_recover(d->inflight, &q->last_avail, q->used_idx,
	    q->size);
	if (n < 0) {
		VIRTIO_VIOLATION(d->s, &d->vdev, "takeover: the in-flight "
		    "record does not match the queue");
		return;
	}
	n = blk_inflight_list(d->inflight, q->last_avail, heads,
	    BLK_INFLIGHT_MAX);
	if (n > 0)
		med_log(d->m, "takeover: running %d request(s) again", n);
	for (int i = 0; i < n && i < BLK_INFLIGHT_MAX; i++) {
		if (virtio_queue_chain(d->s, &d->vdev, &d->m->mem, 0,
		    heads[i], &c) < 0)
			break;
		/* The engine has room for a whole queue. */
		if ((ret = blk_start_req(d, &c)) < 0)
			break;
		submitted += ret;
	}
	if (submitted)
		blk_engine_kick(d->eng);
}

static void
on_notify(evutil_socket_t fd, short what, void *arg)
{
	uint64_t v;

	(void)what;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	blk_process(arg);
}

static void
on_done(evutil_socket_t fd, short what, void *arg)
{
	struct blkdev *d = arg;

	(void)fd;
	(void)what;
	blk_complete(d);
	/* Room in the engine again: take what waited for it. */
	blk_process(d);
}

static void
blk_queue_notify(const struct virtio_dev *vd, struct virtio_state *s,
    uint16_t q)
{
	(void)s;
	(void)q;
	blk_process(vd->opaque);
}

static void
blk_reset(const struct virtio_dev *vd, struct virtio_state *s)
{
	struct blkdev *d = vd->opaque;

	(void)s;
	/* No request may touch guest memory once the driver reset us. */
	blk_engine_drain(d->eng);
	blk_inflight_init(d->inflight);
	d->b.negotiated = 0;
}

static int
blk_arg(struct med *m, void *dev, const char *arg)
{
	struct blkdev *d = dev;

	(void)m;
	if (strncmp(arg, "--disk-fd=", 10) == 0)
		d->disk_fd = atoi(arg + 10);
	else if (strncmp(arg, "--start=", 8) == 0)
		d->start = strtoull(arg + 8, NULL, 10);
	else if (strncmp(arg, "--sectors=", 10) == 0)
		d->sectors = strtoull(arg + 10, NULL, 10);
	else if (strncmp(arg, "--serial=", 9) == 0)
		snprintf(d->serial, sizeof(d->serial), "%s", arg + 9);
	else if (strcmp(arg, "--readonly") == 0)
		d->readonly = true;
	else
		return -EINVAL;
	return 0;
}

static void
on_resample(evutil_socket_t fd, short what, void *arg)
{
	struct blkdev *d = arg;
	uint64_t v;

	(void)what;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	virtio_intx_resample(d->s, blk_fire, d);
}

/* Describes the PCI function and asks for the notify and irq eventfds. */
static int
blk_declare(struct blkdev *d)
{
	struct virtio_pci_config tpl;
	struct ctl_device dev = { .fwd_start = 0, .msix_bar = 2,
	    .layout = CTL_LAYOUT_VIRTIO };
	struct ctl_ioeventfd io = { .index = 0, .offset = VIRTIO_NOTIFY_OFF };
	int ret;

	if ((ret = virtio_pci_config_template(&d->ops, BLK_CLASS,
	    VIRTIO_PCI_VENDOR, VIRTIO_ID_BLOCK, &tpl)) < 0)
		return ret;
	memcpy(dev.config, tpl.cfg, sizeof(dev.config));
	memcpy(dev.wmask, tpl.wmask, sizeof(dev.wmask));
	dev.msix_cap = tpl.msix_cap;
	for (int i = 0; i < 6; i++) {
		if (tpl.bar[i].size == 0)
			continue;
		dev.bar[i].type = tpl.bar[i].mem64 ? CTL_BAR_MEM64 :
		    CTL_BAR_MEM32;
		dev.bar[i].size = tpl.bar[i].size;
	}
	if ((ret = med_call(d->m, CTL_DEVICE, &dev, sizeof(dev), NULL, 0)) < 0)
		return ret;
	if ((ret = med_eventfd_call(d->m, CTL_IOEVENTFD, &io, sizeof(io),
	    &d->notify_fd)) < 0)
		return ret;
	d->nirq = d->s->msix_vectors;
	for (int v = 0; v < d->nirq; v++) {
		struct ctl_irqfd irq = { .kind = CTL_IRQ_MSIX,
		    .vector = (uint32_t)v };

		if ((ret = med_eventfd_call(d->m, CTL_IRQFD, &irq, sizeof(irq),
		    &d->irq_fd[v])) < 0)
			return ret;
	}
	/* INTx, for guests without MSI-X (see virtio_intx_resample). */
	return med_intx_irqfd(d->m, &d->intx_fd, &d->resample_fd);
}

static int
blk_start(struct med *m, void *dev)
{
	struct blkdev *d = dev;
	struct virtio_blk_config cfg;
	int ret;

	d->m = m;
	if ((ret = blk_backend_init(&d->b, d->disk_fd, d->start, d->sectors,
	    d->readonly, d->serial)) < 0)
		return ret;
	d->ops = (struct virtio_dev_ops){
		.name = "virtio-blk", .device_id = VIRTIO_ID_BLOCK,
		.features = blk_features(&d->b), .num_queues = 1,
		.max_queue_size = BLK_QUEUE_SIZE,
		.config_len = sizeof(struct virtio_blk_config),
		.reset = blk_reset, .queue_notify = blk_queue_notify,
	};
	d->vdev = (struct virtio_dev){ .ops = &d->ops, .opaque = d,
	    .fire = blk_fire, .fire_opaque = d };
	if (m->state_size < sizeof(struct virtio_state))
		return -ENOSPC;
	d->s = m->state;
	d->inflight = (struct blk_inflight *)(void *)d->s->device;
	if ((ret = blk_engine_new(&d->eng, &d->b, BLK_QUEUE_SIZE,
	    BLK_ENGINE_AUTO)) < 0)
		return ret;
	if (d->s->magic == 0) {
		/* A new device: power-on state. */
		if ((ret = virtio_state_init(d->s, &d->vdev)) < 0)
			return ret;
		blk_config(&d->b, &cfg);
		memcpy(d->s->config, &cfg, sizeof(cfg));
		blk_inflight_init(d->inflight);
	} else {
		/* A takeover: the guest's view is all in the state. */
		if ((ret = virtio_state_check(d->s, &d->vdev)) < 0 ||
		    (ret = blk_inflight_check(d->inflight)) < 0)
			return ret;
		m->takeover = true;
		blk_negotiated(&d->b, d->s->driver_features);
		med_log(m, "took the device over (%u resets so far)",
		    d->s->reset_count);
	}
	if ((ret = blk_declare(d)) < 0)
		return ret;
	d->ev_notify = event_new(m->base, d->notify_fd, EV_READ | EV_PERSIST,
	    on_notify, d);
	d->ev_done = event_new(m->base, blk_engine_fd(d->eng),
	    EV_READ | EV_PERSIST, on_done, d);
	d->ev_resample = event_new(m->base, d->resample_fd,
	    EV_READ | EV_PERSIST, on_resample, d);
	event_add(d->ev_notify, NULL);
	event_add(d->ev_done, NULL);
	event_add(d->ev_resample, NULL);
	/*
	 * The new irqfds and ioeventfd are in place: what the dead process
	 * may have left undone (requests, a used index, an interrupt, a
	 * notification it never read) is done again.
	 */
	if (m->takeover) {
		blk_recover(d);
		virtio_takeover(d->s, &d->vdev, &m->mem);
	}
	return 0;
}

static void
blk_ioreq(struct med *m, void *dev, unsigned slot, const struct ioreq *req,
    uint64_t *val)
{
	struct blkdev *d = dev;

	(void)m;
	virtio_pci_ioreq(d->s, &d->vdev, slot, req, val);
}

static void
blk_stop(struct med *m, void *dev)
{
	struct blkdev *d = dev;

	(void)m;
	/* Finish what is in flight so no completion is lost. */
	while (blk_engine_pending(d->eng) > 0) {
		blk_engine_wait(d->eng);
		blk_complete(d);
	}
}

static void
blk_dump(struct med *m, void *dev)
{
	struct blkdev *d = dev;
	char line[1024];
	unsigned n = 0;

	virtio_describe(d->s, &m->mem, line, sizeof(line));
	for (unsigned i = 0; i < BLK_INFLIGHT_MAX; i++)
		n += d->inflight->e[i].state != BLK_INFLIGHT_FREE;
	med_log(m, "%s; engine pending %u; in flight %u", line,
	    blk_engine_pending(d->eng), n);
}

int
main(int argc, char **argv)
{
	static const struct med_ops ops = {
		.faults = MED_FAULT_BIT(MED_FAULT_RECORD) |
		    MED_FAULT_BIT(MED_FAULT_AVAIL) |
		    MED_FAULT_BIT(MED_FAULT_BACKEND) |
		    MED_FAULT_BIT(MED_FAULT_ELEM) |
		    MED_FAULT_BIT(MED_FAULT_COMMIT) |
		    MED_FAULT_BIT(MED_FAULT_USED) |
		    MED_FAULT_BIT(MED_FAULT_IRQ),
		.arg = blk_arg, .start = blk_start, .ioreq = blk_ioreq,
		.stop = blk_stop, .dump = blk_dump,
	};
	static struct blkdev d = { .disk_fd = -1, .notify_fd = -1,
	    .intx_fd = -1, .resample_fd = -1 };

	return med_main(argc, argv, &ops, &d);
}
