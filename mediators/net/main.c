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
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include "net.h"
#include "runtime.h"
#include "virtio_pci.h"

#define NET_CLASS	0x020000	/* network controller, Ethernet */
#define NET_CTRL_MAX	16384		/* longest control command read */
#define NET_LOG_MAX	5		/* lines logged per counter */

struct netdev;

/* The ioeventfd of one queue. */
struct net_kick {
	struct netdev *d;
	uint16_t q;
	int fd;
	struct event *ev;
};

struct netdev {
	struct med *m;
	int fd;				/* the backend */
	enum net_backend kind;
	uint8_t mac[NET_ETH_ALEN];	/* the config's MAC at reset */
	bool have_mac;
	struct virtio_dev_ops ops;
	struct virtio_dev vdev;
	struct virtio_state *s;
	struct net_persist *p;
	struct virtio_net_config *cfg;	/* in s->config */
	struct net_kick kick[NET_NUM_QUEUES];
	int nirq;
	int irq_fd[VIRTIO_MSIX_MAX];
	int intx_fd;
	int resample_fd;
	struct event *ev_resample;
	struct event *ev_rx;		/* backend readable */
	struct event *ev_tx;		/* backend writable (tx blocked) */
	struct event *ev_more;		/* tx or ctrl has more to do */
	bool synced;			/* offloads set for features below */
	uint64_t synced_features;
	bool gone;			/* the backend hung up */
	/* rx: chains taken from the queue, oldest first (win[]). */
	bool reading;			/* ev_rx is added */
	bool rx_waiting;		/* for rx buffers: not reading */
	bool rx_pending;		/* rx_buf holds a frame to deliver */
	bool rx_pushed;
	size_t rx_len;
	unsigned win_first, win_n;
	/* tx: the chain taken and not returned (one at a time). */
	bool tx_held;
	bool tx_blocked;		/* waiting for ev_tx */
	size_t tx_len;			/* of tx_buf; 0: refused, return it */
	bool more_tx, more_ctrl;
	unsigned logged[NET_COUNTERS];
};

/* Large, hence not on the stack; one device per process. */
static struct vq_chain win[NET_QUEUE_SIZE];
static struct vq_chain tx_chain, ctrl_chain;
static uint8_t rx_buf[NET_MSG_MAX + 1];	/* + 1: a longer read shows */
static uint8_t tx_buf[NET_MSG_MAX];
static uint8_t ctrl_buf[NET_CTRL_MAX];

static void
count(struct netdev *d, enum net_counter c, uint64_t n)
{
	net_count(d->p, c, n);
}

/* Counts a drop or refusal and logs the first few of each kind. */
static void
drop(struct netdev *d, enum net_counter c, const char *why)
{
	count(d, c, 1);
	if (d->logged[c] >= NET_LOG_MAX)
		return;
	med_log(d->m, "%s: %s%s", net_counter_name[c], why ? why : "",
	    ++d->logged[c] == NET_LOG_MAX ? " (no more of these logged)" : "");
}

static uint64_t
features(const struct netdev *d)
{
	return __atomic_load_n(&d->s->driver_features, __ATOMIC_RELAXED);
}

static void
net_fire(void *opaque, uint16_t vector)
{
	struct netdev *d = opaque;
	uint64_t one = 1;
	int fd = vector == VIRTIO_INTX_VECTOR ? d->intx_fd :
	    vector < d->nirq ? d->irq_fd[vector] : -1;

	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0)
		med_log(d->m, "irqfd: %s", strerror(errno));
}

/*
 * Once the driver's features are final (FEATURES_OK), tells the tap
 * what the guest takes, so that the kernel checksums and segments the
 * rest itself.  Runs again after a reset that changes them.
 */
static void
net_sync(struct netdev *d)
{
	uint8_t st = __atomic_load_n(&d->s->status, __ATOMIC_ACQUIRE);
	uint64_t f = features(d);
	unsigned want;

	if (!(st & VIRTIO_STATUS_FEATURES_OK) ||
	    (d->synced && f == d->synced_features))
		return;
	d->synced = true;
	d->synced_features = f;
	if (d->kind != NET_BACKEND_TAP)
		return;			/* net_rx_fixup() does it all */
	want = net_tun_offload(f);
	if (ioctl(d->fd, TUNSETOFFLOAD, want) < 0) {
		med_log(d->m, "TUNSETOFFLOAD %#x: %s; the kernel will checksum "
		    "and segment every frame", want, strerror(errno));
		want = 0;
		if (ioctl(d->fd, TUNSETOFFLOAD, 0) < 0)
			med_log(d->m, "TUNSETOFFLOAD 0: %s", strerror(errno));
	}
	d->p->tun_offload = want;
}

/* The link status the guest reads (VIRTIO_NET_F_STATUS). */
static void
net_link(struct netdev *d, bool up)
{
	uint16_t st = up ? VIRTIO_NET_S_LINK_UP : 0;

	if (d->cfg->status == st)
		return;
	d->cfg->status = st;
	virtio_config_changed(d->s, &d->vdev);
}

/* Reads the backend when there is somewhere for frames to go. */
static void
rx_watch(struct netdev *d)
{
	bool want = !d->gone && !d->rx_waiting;

	if (want == d->reading)
		return;
	if (want)
		event_add(d->ev_rx, NULL);
	else
		event_del(d->ev_rx);
	d->reading = want;
}

/*
 * The backend hung up (the switch went away) or failed for good: the
 * link goes down, what was waiting is dropped; tx frames are refused by
 * write() from now on, and counted.  A new process, with a new fd,
 * brings the link up again.
 */
static void
backend_gone(struct netdev *d, const char *why)
{
	if (d->gone)
		return;
	med_log(d->m, "backend: %s; link down", why);
	d->gone = true;
	if (d->rx_pending)
		count(d, NET_RX_BACKEND_ERROR, 1);
	d->rx_pending = false;
	rx_watch(d);
	net_link(d, false);
}

/*
 * One frame from the backend into rx_buf.  Returns its length, 0 when
 * there is none now, -EMSGSIZE for one too long (dropped, counted),
 * -EIO for an error (counted) and -ENOTCONN once the backend is gone.
 */
static ssize_t
backend_read(struct netdev *d)
{
	bool trunc = false;
	ssize_t n;

	do {
		if (d->kind == NET_BACKEND_SWITCH) {
			struct iovec iov = { rx_buf, sizeof(rx_buf) };
			struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

			n = recvmsg(d->fd, &mh, MSG_DONTWAIT);
			trunc = n >= 0 && (mh.msg_flags & MSG_TRUNC);
		} else
			n = read(d->fd, rx_buf, sizeof(rx_buf));
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		drop(d, NET_RX_BACKEND_ERROR, strerror(errno));
		/* Memory pressure passes; anything else will not. */
		if (errno != ENOBUFS && errno != ENOMEM) {
			backend_gone(d, strerror(errno));
			return -ENOTCONN;
		}
		return -EIO;
	}
	if (n == 0) {
		/* A seqpacket peer that closed; a tap never reads 0. */
		backend_gone(d, "end of file");
		return -ENOTCONN;
	}
	if (trunc || (size_t)n > NET_MSG_MAX) {
		drop(d, NET_RX_TOO_BIG, "frame longer than 65550 bytes");
		return -EMSGSIZE;
	}
	return n;
}

static int
backend_write(struct netdev *d, const void *buf, size_t len)
{
	ssize_t n;

	do {
		/* MSG_NOSIGNAL: a switch gone is EPIPE, not a signal. */
		n = d->kind == NET_BACKEND_SWITCH ?
		    send(d->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) :
		    write(d->fd, buf, len);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return (size_t)n == len ? 0 : -EIO;
}

/* ---- rx ----------------------------------------------------------------- */

static struct vq_chain *
win_at(const struct netdev *d, unsigned i)
{
	return &win[(d->win_first + i) % NET_QUEUE_SIZE];
}

/*
 * Returns the first k chains of the window with the lengths written,
 * under a PUBLISH record so that a successor finishes a frame we die in
 * the middle of pushing, and never pushes one twice.
 */
static void
rx_publish(struct netdev *d, struct vq_state *q, unsigned k,
    const uint32_t *written)
{
	uint64_t *rec = &d->p->rec[NET_RXQ];
	uint16_t base = net_rec_base(*rec);

	for (unsigned i = 0; i < k; i++)
		d->p->rx_ent[i] = (struct net_ent){ .head = win_at(d, i)->head,
		    .len = written[i] };
	net_rec_set(rec, net_rec(NET_REC_PUBLISH, base, q->used_idx,
	    (uint16_t)k));
	for (unsigned i = 0; i < k; i++)
		virtio_queue_push(d->s, &d->vdev, &d->m->mem, NET_RXQ,
		    win_at(d, i)->head, written[i]);
	d->win_first = (d->win_first + k) % NET_QUEUE_SIZE;
	d->win_n -= k;
	net_rec_set(rec, d->win_n == 0 ? 0 : net_rec(NET_REC_HELD,
	    (uint16_t)(base + k), q->used_idx, 0));
	d->rx_pushed = true;
}

/*
 * Delivers the frame in rx_buf, taking chains from the rx queue as it
 * needs them.  Returns true when the frame is gone (delivered or
 * dropped), false when the queue ran dry: the queue is armed and the
 * frame waits for the driver's next kick.
 */
static bool
rx_deliver(struct netdev *d)
{
	const struct vq_chain *ch[NET_QUEUE_SIZE];
	uint32_t written[NET_QUEUE_SIZE];
	struct vq_state *q;
	unsigned k = 0, max;
	bool mrg;
	int ret;

	for (;;) {
		if ((q = virtio_queue(d->s, &d->vdev, NET_RXQ)) == NULL) {
			drop(d, NET_RX_NO_BUFFER, "rx queue not usable");
			return true;
		}
		mrg = (net_effective(features(d)) &
		    VIRTIO_NET_F_MRG_RXBUF) != 0;
		max = q->size < NET_QUEUE_SIZE ? q->size : NET_QUEUE_SIZE;
		for (unsigned i = 0; i < d->win_n; i++)
			ch[i] = win_at(d, i);
		switch (net_rx_fit(ch, d->win_n, max, d->rx_len, mrg, &k)) {
		case NET_FIT_OK:
			net_rx_write(ch, k, rx_buf, d->rx_len, written);
			rx_publish(d, q, k, written);
			count(d, NET_RX_FRAMES, 1);
			count(d, NET_RX_BYTES, d->rx_len - NET_HDR_LEN);
			return true;
		case NET_FIT_BAD_FIRST:
			written[0] = 0;
			rx_publish(d, q, 1, written);
			drop(d, NET_RX_BAD_BUFFER, "rx buffer shorter than the "
			    "header");
			continue;
		case NET_FIT_TOO_BIG:
			drop(d, NET_RX_TOO_BIG, mrg ? "frame larger than every "
			    "rx buffer together" : "frame larger than the rx "
			    "buffer");
			return true;
		case NET_FIT_MORE:
			break;
		}
		/* The record covers a chain before we take it. */
		if (d->win_n == 0)
			net_rec_set(&d->p->rec[NET_RXQ], net_rec(NET_REC_HELD,
			    q->last_avail, q->used_idx, 0));
		ret = virtio_queue_pop(d->s, &d->vdev, &d->m->mem, NET_RXQ,
		    win_at(d, d->win_n));
		if (ret == 1) {
			d->win_n++;
			continue;
		}
		if (d->win_n == 0)
			net_rec_set(&d->p->rec[NET_RXQ], 0);
		if (ret < 0)
			continue;	/* a violation: the queue is dead now */
		if (virtio_queue_arm(d->s, &d->vdev, &d->m->mem, NET_RXQ))
			continue;	/* buffers came while we looked */
		return false;
	}
}

/*
 * Checks a frame just read against what the guest takes.  Returns true
 * when it is to be delivered; a drop is counted.
 */
static bool
rx_accept(struct netdev *d)
{
	const char *why = NULL;
	bool sw = false;
	int ret;

	if (virtio_queue(d->s, &d->vdev, NET_RXQ) == NULL) {
		/*
		 * No driver (not loaded, being reset, or broken): nowhere
		 * for the frame to go, as on a NIC that is down.
		 */
		count(d, NET_RX_NO_BUFFER, 1);
		return false;
	}
	if (d->rx_len < NET_HDR_LEN + NET_ETH_HLEN) {
		drop(d, NET_RX_MALFORMED, "frame shorter than an Ethernet "
		    "header");
		return false;
	}
	if (!net_filter_accept(&d->p->filter, d->cfg->mac, features(d),
	    rx_buf + NET_HDR_LEN)) {
		count(d, NET_RX_FILTERED, 1);
		return false;
	}
	ret = net_rx_fixup(rx_buf, d->rx_len, features(d), &sw, &why);
	if (ret == -EOPNOTSUPP) {
		drop(d, NET_RX_GSO_UNSUPPORTED, why);
		return false;
	}
	if (ret < 0) {
		drop(d, NET_RX_MALFORMED, why);
		return false;
	}
	if (sw)
		count(d, NET_RX_SW_CSUM, 1);
	return true;
}

/*
 * Moves frames from the backend to the guest, at most NET_BURST per
 * call: the backend stays readable and the loop comes back after the
 * other events had their turn.
 */
static void
rx_run(struct netdev *d)
{
	unsigned n = 0;
	ssize_t len;

	net_sync(d);
	d->rx_pushed = false;
	d->rx_waiting = false;
	while (n < NET_BURST && !d->gone) {
		if (!d->rx_pending) {
			if ((len = backend_read(d)) == 0 || len == -ENOTCONN)
				break;
			n++;
			if (len < 0)
				continue;
			d->rx_len = (size_t)len;
			if (!rx_accept(d))
				continue;
			d->rx_pending = true;
		}
		if (!rx_deliver(d)) {
			/* The backend queues meanwhile: nothing is dropped. */
			count(d, NET_RX_STALLS, 1);
			d->rx_waiting = true;
			break;
		}
		d->rx_pending = false;
	}
	if (d->rx_pushed)
		virtio_queue_interrupt(d->s, &d->vdev, &d->m->mem, NET_RXQ);
	rx_watch(d);
}

static void
on_rx(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	rx_run(arg);
}

/* ---- tx and ctrl --------------------------------------------------------- */

/*
 * Takes the next chain of queue qi into c under a HELD record, so that
 * a successor takes it again if we die before returning it.  Returns 1,
 * or 0 when there is none (the queue is armed, or not usable).
 */
static int
take(struct netdev *d, uint16_t qi, struct vq_chain *c)
{
	uint64_t *rec = &d->p->rec[qi];
	struct vq_state *q;
	int ret;

	for (;;) {
		if ((q = virtio_queue(d->s, &d->vdev, qi)) == NULL)
			return 0;
		net_rec_set(rec, net_rec(NET_REC_HELD, q->last_avail,
		    q->used_idx, 0));
		ret = virtio_queue_pop(d->s, &d->vdev, &d->m->mem, qi, c);
		if (ret == 1)
			return 1;
		net_rec_set(rec, 0);
		if (ret < 0 ||
		    !virtio_queue_arm(d->s, &d->vdev, &d->m->mem, qi))
			return 0;
	}
}

/* Returns the chain take() gave, under a PUBLISH record. */
static void
give_back(struct netdev *d, uint16_t qi, const struct vq_chain *c,
    struct net_ent *ent, uint32_t written)
{
	uint64_t *rec = &d->p->rec[qi];
	struct vq_state *q = virtio_queue(d->s, &d->vdev, qi);

	if (q == NULL) {
		net_rec_set(rec, 0);
		return;		/* reset or broken: nothing to return to */
	}
	*ent = (struct net_ent){ .head = c->head, .len = written };
	net_rec_set(rec, net_rec(NET_REC_PUBLISH, net_rec_base(*rec),
	    q->used_idx, 1));
	virtio_queue_push(d->s, &d->vdev, &d->m->mem, qi, c->head, written);
	net_rec_set(rec, 0);
}

/* Copies the frame of tx_chain into tx_buf and checks it. */
static void
tx_load(struct netdev *d)
{
	const char *why = NULL;
	uint32_t len = tx_chain.out_len;

	d->tx_len = 0;
	if (len > sizeof(tx_buf)) {
		drop(d, NET_TX_MALFORMED, "frame longer than 65550 bytes");
		return;
	}
	/* Once: the guest may rewrite its buffer, we send what we checked. */
	len = vq_chain_read(&tx_chain, 0, tx_buf, len);
	if (net_tx_check(tx_buf, len, features(d), &why) < 0) {
		drop(d, NET_TX_MALFORMED, why);
		return;
	}
	d->tx_len = len;
}

static void
more(struct netdev *d)
{
	event_active(d->ev_more, EV_TIMEOUT, 0);
}

/*
 * Sends what the guest queued, at most NET_BURST chains per call.  A
 * backend that cannot take a frame now (EAGAIN) keeps it: the chain
 * stays ours, and the loop waits for the fd to be writable.
 */
static void
tx_run(struct netdev *d)
{
	unsigned n = 0;
	int ret;

	d->more_tx = false;
	if (d->tx_blocked)
		return;
	net_sync(d);
	while (n < NET_BURST) {
		if (!d->tx_held) {
			if (take(d, NET_TXQ, &tx_chain) != 1)
				break;
			d->tx_held = true;
			tx_load(d);
		}
		if (d->tx_len > 0) {
			ret = backend_write(d, tx_buf, d->tx_len);
			if (ret == -EAGAIN) {
				count(d, NET_TX_BLOCKED, 1);
				d->tx_blocked = true;
				event_add(d->ev_tx, NULL);
				break;
			}
			if (ret < 0)
				drop(d, NET_TX_BACKEND_ERROR, strerror(-ret));
			else {
				count(d, NET_TX_FRAMES, 1);
				count(d, NET_TX_BYTES, d->tx_len - NET_HDR_LEN);
			}
		}
		give_back(d, NET_TXQ, &tx_chain, &d->p->tx_ent, 0);
		d->tx_held = false;
		n++;
	}
	if (n > 0)
		virtio_queue_interrupt(d->s, &d->vdev, &d->m->mem, NET_TXQ);
	if (n == NET_BURST) {
		d->more_tx = true;
		more(d);
	}
}

static void
on_tx_writable(evutil_socket_t fd, short what, void *arg)
{
	struct netdev *d = arg;

	(void)fd;
	(void)what;
	d->tx_blocked = false;
	tx_run(d);
}

/* Runs the driver's control commands, each at once. */
static void
ctrl_run(struct netdev *d)
{
	const char *why = NULL;
	unsigned n = 0;
	uint8_t ack;

	d->more_ctrl = false;
	net_sync(d);
	while (n < NET_BURST && take(d, NET_CTRLQ, &ctrl_chain) == 1) {
		uint32_t len = ctrl_chain.out_len;

		ack = VIRTIO_NET_ERR;
		why = NULL;
		if (ctrl_chain.in_len < 1)
			why = "no room for the ack";
		else if (len > sizeof(ctrl_buf))
			why = "command too long";
		else {
			len = vq_chain_read(&ctrl_chain, 0, ctrl_buf, len);
			ack = net_ctrl(&d->p->filter, d->cfg->mac, features(d),
			    ctrl_buf, len, &why);
		}
		if (ack == VIRTIO_NET_OK)
			count(d, NET_CTRL_OK, 1);
		else
			drop(d, NET_CTRL_ERR, why);
		if (ctrl_chain.in_len >= 1)
			vq_chain_write(&ctrl_chain, 0, &ack, 1);
		give_back(d, NET_CTRLQ, &ctrl_chain, &d->p->ctrl_ent,
		    ctrl_chain.in_len >= 1 ? 1 : 0);
		n++;
	}
	if (n > 0)
		virtio_queue_interrupt(d->s, &d->vdev, &d->m->mem, NET_CTRLQ);
	if (n == NET_BURST) {
		d->more_ctrl = true;
		more(d);
	}
}

static void
on_more(evutil_socket_t fd, short what, void *arg)
{
	struct netdev *d = arg;

	(void)fd;
	(void)what;
	if (d->more_tx)
		tx_run(d);
	if (d->more_ctrl)
		ctrl_run(d);
}

/* ---- the transport's hooks and the loop's events ------------------------- */

static void
queue_kick(struct netdev *d, uint16_t q)
{
	switch (q) {
	case NET_RXQ:
		/* Buffers for a frame that waits; otherwise rx reads on. */
		if (d->rx_waiting)
			rx_run(d);
		break;
	case NET_TXQ:
		tx_run(d);
		break;
	case NET_CTRLQ:
		ctrl_run(d);
		break;
	}
}

static void
on_notify(evutil_socket_t fd, short what, void *arg)
{
	struct net_kick *k = arg;
	uint64_t v;

	(void)what;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	queue_kick(k->d, k->q);
}

static void
net_queue_notify(const struct virtio_dev *vd, struct virtio_state *s,
    uint16_t q)
{
	(void)s;
	queue_kick(vd->opaque, q);
}

/*
 * The driver reset the device: every chain we hold is the driver's
 * again (it will not look at them), the filter and the MAC are as at
 * power-on.  A frame waiting for rx buffers is dropped.  The counters
 * stay: they are the device's, not the driver's.  Idempotent, as a
 * replayed status write calls it twice.
 */
static void
net_reset(const struct virtio_dev *vd, struct virtio_state *s)
{
	struct netdev *d = vd->opaque;

	(void)s;
	d->win_first = d->win_n = 0;
	if (d->rx_pending)
		count(d, NET_RX_NO_BUFFER, 1);
	d->rx_pending = false;
	d->rx_waiting = false;
	d->tx_held = false;
	d->tx_len = 0;
	if (d->tx_blocked)
		event_del(d->ev_tx);
	d->tx_blocked = false;
	for (unsigned i = 0; i < NET_NUM_QUEUES; i++)
		net_rec_set(&d->p->rec[i], 0);
	net_filter_reset(&d->p->filter);
	net_config(d->cfg, d->mac, !d->gone);
	rx_watch(d);
}

static void
on_resample(evutil_socket_t fd, short what, void *arg)
{
	struct netdev *d = arg;
	uint64_t v;

	(void)what;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	virtio_intx_resample(d->s, net_fire, d);
}

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
	*val = ~0ULL;
	if (req->type != IOREQ_MMIO || req->index != 0)
		return;		/* only BAR0 is ours */
	if (req->dir == IOREQ_READ)
		virtio_pci_read(d->s, &d->vdev, req->addr, req->size, slot,
		    req->seq, val);
	else
		virtio_pci_write(d->s, &d->vdev, req->addr, req->size, slot,
		    req->seq, req->data);
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
