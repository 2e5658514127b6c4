/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Inside cupule-net: the device the process (main.c) and the datapath
 * (datapath.c) share, and what main.c calls in the datapath to wire it
 * up: the transport's hooks, the loop's events, and the few steps of
 * start-up and takeover that touch the backend or the link.  Private to
 * the program; the device without its fds is net.h.
 */
#ifndef CUPULE_NETDEV_H
#define CUPULE_NETDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net.h"
#include "runtime.h"
#include "virtio_pci.h"

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

/* net_count() on d's device area; main.c counts takeovers with it. */
void count(struct netdev *d, enum net_counter c, uint64_t n);

/* The transport's hooks (struct virtio_dev, struct virtio_dev_ops). */
void net_fire(void *opaque, uint16_t vector);
void net_queue_notify(const struct virtio_dev *vd, struct virtio_state *s,
    uint16_t q);
void net_reset(const struct virtio_dev *vd, struct virtio_state *s);

/* The loop's events, made by net_start(). */
void on_rx(evutil_socket_t fd, short what, void *arg);
void on_tx_writable(evutil_socket_t fd, short what, void *arg);
void on_more(evutil_socket_t fd, short what, void *arg);
void on_notify(evutil_socket_t fd, short what, void *arg);
void on_resample(evutil_socket_t fd, short what, void *arg);

/* Start-up and takeover: offloads, link status, reading the backend. */
void net_sync(struct netdev *d);
void net_link(struct netdev *d, bool up);
void rx_watch(struct netdev *d);

#endif
