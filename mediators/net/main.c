/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cupule-net: the virtio-net mediator.  One process per network device:
 * it gets its backend (a tap, or a port of cupule-switch) as an open fd,
 * maps its VM's RAM, serves BAR0 of its PCI function from the ring, and
 * moves frames between the backend and the guest's queues: rx when the
 * backend is readable, tx and control when the guest kicks a queue's
 * ioeventfd.  Interrupts leave through irqfds.
 *
 * Everything the guest can see is in the shared struct virtio_state,
 * the device's part in its device area (struct net_persist: filter,
 * restart records, counters); what this process keeps is buffers and
 * chains it holds, which a successor gets back through the records
 * (net_rec_recover()).  docs/net.md has the whole picture.
 *
 * This file is the process: its arguments, the checks on the backend,
 * the PCI function declared to the VM process, a takeover's recovery,
 * BAR0's ioreqs and the dump.  What moves frames (rx, tx, the control
 * queue, the transport's hooks) is datapath.c, linked into this program
 * only; netdev.h is what the two share.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <linux/if_tun.h>

#include "netdev.h"

#define NET_CLASS	0x020000	/* network controller, Ethernet */

static int
net_arg(struct med *m, void *dev, const char *arg)
{
	struct netdev *d = dev;
	char *end;
	long v;

	(void)m;
	if (strncmp(arg, "--backend-fd=", 13) == 0) {
		errno = 0;
		v = strtol(arg + 13, &end, 10);
		if (errno != 0 || *end != '\0' || end == arg + 13 || v < 0 ||
		    v > 65535)
			return -EINVAL;
		d->fd = (int)v;
	} else if (strcmp(arg, "--backend=tap") == 0)
		d->kind = NET_BACKEND_TAP;
	else if (strcmp(arg, "--backend=switch") == 0)
		d->kind = NET_BACKEND_SWITCH;
	else if (strncmp(arg, "--mac=", 6) == 0) {
		if (net_parse_mac(arg + 6, d->mac) < 0)
			return -EINVAL;
		d->have_mac = true;
	} else
		return -EINVAL;
	return 0;
}

/*
 * The backend must frame as agreed: a tap with a 12-byte virtio header
 * on every frame, or a SOCK_SEQPACKET socket.  Anything else would make
 * every frame garbage, so it is refused here, once.
 */
static int
backend_check(struct netdev *d)
{
	int fl = fcntl(d->fd, F_GETFL), sz = 0, type = 0;
	socklen_t tl = sizeof(type);
	struct ifreq ifr;

	if (fl < 0) {
		med_log(d->m, "--backend-fd=%d: %s", d->fd, strerror(errno));
		return -EBADF;
	}
	if (!(fl & O_NONBLOCK) && fcntl(d->fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	if (d->kind == NET_BACKEND_TAP) {
		memset(&ifr, 0, sizeof(ifr));
		if (ioctl(d->fd, TUNGETIFF, &ifr) < 0 ||
		    ioctl(d->fd, TUNGETVNETHDRSZ, &sz) < 0) {
			med_log(d->m, "backend: not a tap: %s",
			    strerror(errno));
			return -ENOTTY;
		}
		if ((ifr.ifr_flags & (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)) !=
		    (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) || sz != NET_HDR_LEN) {
			med_log(d->m, "backend: tap flags %#x, header %d "
			    "bytes: want IFF_TAP|IFF_NO_PI|IFF_VNET_HDR and %d",
			    (unsigned)ifr.ifr_flags, sz, NET_HDR_LEN);
			return -EPROTO;
		}
		return 0;
	}
	if (getsockopt(d->fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
	    type != SOCK_SEQPACKET) {
		med_log(d->m, "backend: not a SOCK_SEQPACKET socket");
		return -EPROTO;
	}
	return 0;
}

/* Describes the PCI function, asks for the notify and irq eventfds. */
static int
net_declare(struct netdev *d)
{
	struct virtio_pci_config tpl;
	struct ctl_device dev = { .fwd_start = 0, .msix_bar = 2,
	    .layout = CTL_LAYOUT_VIRTIO };
	int ret;

	if ((ret = virtio_pci_config_template(&d->ops, NET_CLASS,
	    VIRTIO_PCI_VENDOR, VIRTIO_ID_NET, &tpl)) < 0)
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
	/* One ioeventfd per queue, on its notify register. */
	for (uint16_t q = 0; q < NET_NUM_QUEUES; q++) {
		struct ctl_ioeventfd io = { .index = 0,
		    .offset = VIRTIO_NOTIFY_OFF + q * VIRTIO_NOTIFY_MULT };

		if ((ret = med_eventfd_call(d->m, CTL_IOEVENTFD, &io, sizeof(io),
		    &d->kick[q].fd)) < 0)
			return ret;
	}
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

/*
 * A takeover: what the dead process held is put back in line with its
 * records before the queues are looked at again.  A record that does
 * not agree with the queue is not guessed at: the driver is asked for
 * a reset.
 */
static void
net_recover(struct netdev *d)
{
	static const char *const qname[NET_NUM_QUEUES] = { "rx", "tx", "ctrl" };
	struct net_ent *ent[NET_NUM_QUEUES] = { d->p->rx_ent, &d->p->tx_ent,
	    &d->p->ctrl_ent };
	const unsigned nent[NET_NUM_QUEUES] = { NET_QUEUE_SIZE, 1, 1 };
	int ret;

	for (uint16_t i = 0; i < NET_NUM_QUEUES; i++) {
		ret = net_rec_recover(&d->p->rec[i],
		    virtio_queue(d->s, &d->vdev, i), ent[i], nent[i],
		    &d->m->mem);
		if (ret < 0) {
			VIRTIO_VIOLATION(d->s, &d->vdev, "takeover: the %s "
			    "queue's record does not match the queue",
			    qname[i]);
			continue;
		}
		if (ret > 0)
			med_log(d->m, "takeover: %d %s chain(s) taken back or "
			    "returned", ret, qname[i]);
		count(d, NET_RECOVERED, (uint64_t)ret);
	}
}

static int
net_start(struct med *m, void *dev)
{
	struct netdev *d = dev;
	int ret;

	d->m = m;
	if (d->fd < 0 || d->kind == NET_BACKEND_NONE || !d->have_mac) {
		med_log(m, "needs --backend-fd, --backend=tap|switch and "
		    "--mac");
		return -EINVAL;
	}
	if ((ret = backend_check(d)) < 0)
		return ret;
	d->ops = (struct virtio_dev_ops){
		.name = "virtio-net", .device_id = VIRTIO_ID_NET,
		.features = net_features(d->kind),
		.num_queues = NET_NUM_QUEUES, .max_queue_size = NET_QUEUE_SIZE,
		.config_len = sizeof(struct virtio_net_config),
		.reset = net_reset, .queue_notify = net_queue_notify,
	};
	d->vdev = (struct virtio_dev){ .ops = &d->ops, .opaque = d,
	    .fire = net_fire, .fire_opaque = d };
	if (m->state_size < sizeof(struct virtio_state))
		return -ENOSPC;
	d->s = m->state;
	d->p = (struct net_persist *)(void *)d->s->device;
	d->cfg = (struct virtio_net_config *)(void *)d->s->config;
	if (d->s->magic == 0) {
		/* A new device: power-on state, link up. */
		if ((ret = virtio_state_init(d->s, &d->vdev)) < 0)
			return ret;
		net_config(d->cfg, d->mac, true);
		net_persist_init(d->p);
	} else {
		/* A takeover: the guest's view is all in the state. */
		if ((ret = virtio_state_check(d->s, &d->vdev)) < 0 ||
		    (ret = net_persist_check(d->p)) < 0)
			return ret;
		m->takeover = true;
		d->p->ncounters = NET_COUNTERS;
		count(d, NET_TAKEOVERS, 1);
		med_log(m, "took the device over (%u resets so far)",
		    d->s->reset_count);
	}
	if ((ret = net_declare(d)) < 0)
		return ret;
	for (uint16_t q = 0; q < NET_NUM_QUEUES; q++) {
		d->kick[q] = (struct net_kick){ .d = d, .q = q,
		    .fd = d->kick[q].fd };
		d->kick[q].ev = event_new(m->base, d->kick[q].fd,
		    EV_READ | EV_PERSIST, on_notify, &d->kick[q]);
		event_add(d->kick[q].ev, NULL);
	}
	d->ev_resample = event_new(m->base, d->resample_fd,
	    EV_READ | EV_PERSIST, on_resample, d);
	d->ev_rx = event_new(m->base, d->fd, EV_READ | EV_PERSIST, on_rx, d);
	d->ev_tx = event_new(m->base, d->fd, EV_WRITE, on_tx_writable, d);
	d->ev_more = event_new(m->base, -1, 0, on_more, d);
	if (d->ev_resample == NULL || d->ev_rx == NULL || d->ev_tx == NULL ||
	    d->ev_more == NULL)
		return -ENOMEM;
	event_add(d->ev_resample, NULL);
	rx_watch(d);
	if (m->takeover) {
		/*
		 * A new process has a live backend: a link the last one saw
		 * go down comes up again (the guest is told).  Then the
		 * records, then what virtio_takeover() redoes: an interrupt
		 * and a look at every queue.
		 */
		net_sync(d);
		net_link(d, true);
		net_recover(d);
		virtio_takeover(d->s, &d->vdev, &m->mem);
	}
	return 0;
}

static void
net_ioreq(struct med *m, void *dev, unsigned slot, const struct ioreq *req,
    uint64_t *val)
{
	struct netdev *d = dev;

	(void)m;
	virtio_pci_ioreq(d->s, &d->vdev, slot, req, val);
}

/* Counters [first, last) as "name=value ...", for the dump. */
static void
counters(const struct netdev *d, unsigned first, unsigned last, char *buf,
    size_t len)
{
	size_t at = 0;

	buf[0] = '\0';
	for (unsigned i = first; i < last && at < len; i++) {
		int n = snprintf(buf + at, len - at, "%s%s=%llu",
		    i > first ? " " : "", net_counter_name[i],
		    (unsigned long long)d->p->counter[i]);

		if (n < 0)
			break;
		at += (size_t)n;
	}
}

static void
net_dump(struct med *m, void *dev)
{
	struct netdev *d = dev;
	char line[1024];

	virtio_describe(d->s, &m->mem, line, sizeof(line));
	med_log(m, "%s", line);
	med_log(m, "net: %s backend%s, offloads %#x, link %s; rx %s, %u "
	    "buffer(s) held, frame %s; tx %s; filter promisc %u allmulti %u "
	    "uni %u%s multi %u%s", d->kind == NET_BACKEND_TAP ? "tap" :
	    "switch", d->gone ? " (gone)" : "", d->p->tun_offload,
	    d->cfg->status & VIRTIO_NET_S_LINK_UP ? "up" : "down",
	    d->rx_waiting ? "waiting for buffers" : d->reading ? "reading" :
	    "stopped", d->win_n, d->rx_pending ? "pending" : "none",
	    d->tx_blocked ? "blocked on the backend" : d->tx_held ? "holding "
	    "a chain" : "idle", d->p->filter.promisc, d->p->filter.allmulti,
	    d->p->filter.n_uni, d->p->filter.uni_overflow ? "+" : "",
	    d->p->filter.n_multi, d->p->filter.multi_overflow ? "+" : "");
	/* Two lines: each fits med_log()'s line. */
	counters(d, 0, NET_TX_MALFORMED, line, sizeof(line));
	med_log(m, "net: %s", line);
	counters(d, NET_TX_MALFORMED, NET_COUNTERS, line, sizeof(line));
	med_log(m, "net: %s", line);
}

int
main(int argc, char **argv)
{
	static const struct med_ops ops = {
		.arg = net_arg, .start = net_start, .ioreq = net_ioreq,
		.dump = net_dump,
	};
	static struct netdev d = { .fd = -1, .intx_fd = -1,
	    .resample_fd = -1 };

	return med_main(argc, argv, &ops, &d);
}
