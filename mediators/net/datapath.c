/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cupule-net's datapath: frames between the backend and the guest's
 * queues.  rx runs when the backend is readable, tx and control when
 * the guest kicks a queue's ioeventfd; the transport's hooks (a queue
 * notified through BAR0, the driver's reset) and the INTx resample land
 * here too.  A chain held across a call is covered by a record in
 * struct net_persist first, so that a successor takes it back
 * (net_rec_recover()).  The process around it (arguments, start-up,
 * takeover, ioreqs, dump) is main.c; netdev.h is what the two share.
 *
 * Linked into cupule-net only, not into libcupule-net.a: it works on a
 * live device (fds, libevent), where the library is plain memory the
 * unit tests and fuzz targets drive.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include "netdev.h"

#define NET_CTRL_MAX	16384		/* longest control command read */
#define NET_LOG_MAX	5		/* lines logged per counter */

/* Large, hence not on the stack; one device per process. */
static struct vq_chain win[NET_QUEUE_SIZE];
static struct vq_chain tx_chain, ctrl_chain;
static uint8_t rx_buf[NET_MSG_MAX + 1];	/* + 1: a longer read shows */
static uint8_t tx_buf[NET_MSG_MAX];
static uint8_t ctrl_buf[NET_CTRL_MAX];

void
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

void
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
void
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
void
net_link(struct netdev *d, bool up)
{
	uint16_t st = up ? VIRTIO_NET_S_LINK_UP : 0;

	if (d->cfg->status == st)
		return;
	d->cfg->status = st;
	virtio_config_changed(d->s, &d->vdev);
}

/* Reads the backend when there is somewhere for frames to go. */
void
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

void
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

void
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

void
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

void
on_notify(evutil_socket_t fd, short what, void *arg)
{
	struct net_kick *k = arg;
	uint64_t v;

	(void)what;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	queue_kick(k->d, k->q);
}

void
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
void
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

void
on_resample(evutil_socket_t fd, short what, void *arg)
{
	struct netdev *d = arg;
	uint64_t v;

	(void)what;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	virtio_intx_resample(d->s, net_fire, d);
}
