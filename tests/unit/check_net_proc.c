/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The cupule-net process (BUILD/bin/cupule-net, next to this test's
 * folder) driven from outside, as in a VM: this test plays the VM
 * process (control channel handshake, ring, guest memory, device-state
 * area, ioeventfds and irqfds), the guest's driver (BAR0 through the
 * ring, queues in guest memory) and the switch (the other end of a
 * SOCK_SEQPACKET pair as the backend).  It checks what unit tests of
 * net.c cannot: frames both ways through the event loop, interrupts,
 * the control queue, waiting for rx buffers, EAGAIN on the backend,
 * the switch going away, and a mediator killed with SIGKILL and started
 * again on the same state, with chains it had taken and not returned.
 *
 * The mediator runs sandboxed as a spawner starts it (sandbox.h): its
 * own namespaces (sandbox_fork()) and a uid and gid of its own.
 *
 * CHECK_NET_LOG=1 prints each mediator's log after its test.
 */
#include <check.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "medtest.h"
#include "net.h"

#define QSIZE		NET_QUEUE_SIZE
#define RXBUF(i)	(0x100000u + (i) * 0x1000u)	/* 4 KiB each */
#define TXBUF(i)	(0x200000u + (i) * 0x800u)	/* 2 KiB each */
#define CTRLBUF		0x300000u
#define WAIT_MS		5000

static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t other[6] = { 0x52, 0x54, 0x00, 0x65, 0x43, 0x21 };
static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* The VM process and the driver (its backend: the mediator's end). */
static struct medvm vm;

/* What the test adds: the switch, and the net part of the state. */
static struct {
	int sw;				/* our end of the backend */
	struct net_persist *p;		/* in the device-state area */
	uint16_t used_seen[NET_NUM_QUEUES];
} net = { .sw = -1 };

static uint64_t
counter(enum net_counter c)
{
	return __atomic_load_n(&net.p->counter[c], __ATOMIC_RELAXED);
}

/* Waits until counter c reaches want. */
static void
wait_counter(enum net_counter c, uint64_t want)
{
	uint64_t end = medtest_now_ms() + WAIT_MS;

	while (counter(c) < want && medtest_now_ms() < end)
		medtest_nap();
	ck_assert_msg(counter(c) >= want, "%s is %llu, want %llu",
	    net_counter_name[c], (unsigned long long)counter(c),
	    (unsigned long long)want);
}

/* ---- the VM process ------------------------------------------------------ */

/*
 * The ID of the device and the ioeventfds on the notify registers, one
 * per queue, as each mediator announces them.
 */
static void
check_msg(struct medvm *m, const struct ctl_msg *msg)
{
	struct ctl_ioeventfd io;
	struct ctl_irqfd irq;
	struct ctl_device dev;

	switch (msg->hdr.type) {
	case CTL_DEVICE:
		ck_assert_int_eq(ctl_get_device(msg, &dev), 0);
		/* virtio-net: 1af4:1041, class Ethernet. */
		ck_assert_uint_eq(dev.config[0] | dev.config[1] << 8, 0x1af4);
		ck_assert_uint_eq(dev.config[2] | dev.config[3] << 8, 0x1041);
		ck_assert_uint_eq(dev.config[0x0b], 0x02);
		ck_assert_uint_eq(dev.config[0x0a], 0x00);
		break;
	case CTL_IOEVENTFD:
		ck_assert_int_eq(ctl_get_ioeventfd(msg, &io), 0);
		/* One per queue, on its notify register. */
		ck_assert_uint_eq(io.offset, VIRTIO_NOTIFY_OFF +
		    (uint64_t)m->nkick * VIRTIO_NOTIFY_MULT);
		break;
	case CTL_IRQFD:
		ck_assert_int_eq(ctl_get_irqfd(msg, &irq), 0);
		if (irq.kind == CTL_IRQ_MSIX)
			ck_assert_uint_eq(irq.vector, m->nirq);
		break;
	}
}

/* Starts the mediator on the current ring, state and backend. */
static void
spawn(void)
{
	char *args[] = { (char *)"--ctl-fd=3", (char *)"--backend-fd=4",
	    (char *)"--backend=switch", (char *)"--mac=52:54:00:12:34:56",
	    (char *)"--name=check/net", (char *)"--uid=2146435104",
	    (char *)"--gid=2146435104", NULL };

	ck_assert(medvm_spawn(&vm, "cupule-net", args, MEDTEST_SANDBOX));
	ck_assert_int_eq(vm.nkick, NET_NUM_QUEUES);
	ck_assert_int_eq(vm.nirq, NET_NUM_QUEUES + 1);
}

/* Kills the mediator as a crash would. */
static void
crash(void)
{
	int st;

	ck_assert_int_gt(vm.pid, 0);
	kill(vm.pid, SIGKILL);
	ck_assert_int_eq(waitpid(vm.pid, &st, 0), vm.pid);
	vm.pid = -1;
	close(vm.ctl);
	vm.ctl = -1;
}

static void
setup(void)
{
	int sv[2];

	medvm_open(&vm, "check_net_proc", WAIT_MS);
	vm.on_msg = check_msg;
	memset(&net, 0, sizeof(net));
	net.p = (struct net_persist *)(void *)vm.s->device;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0, sv), 0);
	net.sw = sv[0];
	vm.backend = sv[1];
	spawn();
}

static void
teardown(void)
{
	if (vm.pid > 0) {
		struct ctl_shutdown sd = { .reason = CTL_SHUTDOWN_POWEROFF };
		int st;

		ctl_send(vm.ctl, CTL_SHUTDOWN, vm.next_id++, &sd, sizeof(sd),
		    NULL, 0);
		waitpid(vm.pid, &st, 0);
	}
	if (getenv("CHECK_NET_LOG") != NULL)
		medvm_print_log(&vm);
	medvm_close(&vm);
	if (net.sw >= 0)
		close(net.sw);
	net.sw = -1;
}

/* ---- the driver ---------------------------------------------------------- */

/* Brings the device up as Linux does, with the features f. */
static void
driver_init(uint64_t f)
{
	medvm_reset(&vm);
	ck_assert_uint_eq(medvm_offered(&vm) & f, f);
	medvm_set_features(&vm, f);
	medvm_msix(&vm, NET_NUM_QUEUES);
	memset(vm.mem + MEDVM_QBASE(0), 0, 3 * 0x4000);
	for (uint16_t q = 0; q < NET_NUM_QUEUES; q++) {
		ck_assert_uint_eq(medvm_queue_select(&vm, q), QSIZE);
		medvm_queue_enable(&vm, q, QSIZE, q);
		net.used_seen[q] = 0;
	}
	medvm_driver_ok(&vm);
}

/* Posts n rx buffers of len bytes (buffer i at RXBUF(first + i)). */
static void
post_rx(unsigned first, unsigned n, uint32_t len)
{
	for (unsigned i = 0; i < n; i++) {
		memset(vm.mem + RXBUF(first + i), 0xee, 0x1000);
		medvm_publish(&vm, NET_RXQ, medvm_put_desc(&vm, NET_RXQ,
		    RXBUF(first + i), len, VIRTQ_DESC_F_WRITE));
	}
	medvm_kick(&vm, NET_RXQ);
}

/* Sends a tx chain: the message in pieces cut at cuts[]. */
static void
send_tx(unsigned slot, const uint8_t *msg, uint32_t len, const uint32_t *cuts,
    unsigned ncuts)
{
	uint16_t head = vm.desc[NET_TXQ], prev = 0;
	uint32_t at = 0;

	ck_assert_uint_le(len, 0x800);
	memcpy(vm.mem + TXBUF(slot), msg, len);
	for (unsigned i = 0; i <= ncuts; i++) {
		uint32_t end = i < ncuts ? cuts[i] : len;

		prev = medvm_put_desc(&vm, NET_TXQ, TXBUF(slot) + at, end - at,
		    i < ncuts ? VIRTQ_DESC_F_NEXT : 0);
		at = end;
	}
	(void)prev;
	medvm_publish(&vm, NET_TXQ, head);
	medvm_kick(&vm, NET_TXQ);
}

/* A control command; returns the ack the device wrote. */
static uint8_t
send_ctrl(const void *cmd, uint32_t len)
{
	uint16_t head = vm.desc[NET_CTRLQ];
	uint16_t want = (uint16_t)(net.used_seen[NET_CTRLQ] + 1);

	memcpy(vm.mem + CTRLBUF, cmd, len);
	vm.mem[CTRLBUF + 0x800] = 0xaa;
	medvm_put_desc(&vm, NET_CTRLQ, CTRLBUF, len, VIRTQ_DESC_F_NEXT);
	medvm_put_desc(&vm, NET_CTRLQ, CTRLBUF + 0x800, 1, VIRTQ_DESC_F_WRITE);
	medvm_publish(&vm, NET_CTRLQ, head);
	medvm_kick(&vm, NET_CTRLQ);
	ck_assert(medvm_wait_used(&vm, NET_CTRLQ, want));
	net.used_seen[NET_CTRLQ] = want;
	return vm.mem[CTRLBUF + 0x800];
}

/* Interrupts raised on vector v since the last call. */
static uint64_t
irqs(int v)
{
	uint64_t n = 0;

	if (read(vm.irq[v], &n, sizeof(n)) < 0)
		return 0;
	return n;
}

/* ---- the switch ---------------------------------------------------------- */

/* A message: header h, then an Ethernet frame of flen bytes to dst. */
static size_t
mkmsg(uint8_t *b, const struct virtio_net_hdr_v1 *h, size_t flen,
    const uint8_t *dst, uint8_t tag)
{
	memcpy(b, h, NET_HDR_LEN);
	for (size_t i = 0; i < flen; i++)
		b[NET_HDR_LEN + i] = (uint8_t)(i * 13 + tag);
	memcpy(b + NET_HDR_LEN, dst, 6);
	memcpy(b + NET_HDR_LEN + 6, other, 6);
	b[NET_HDR_LEN + 12] = 0x08;
	b[NET_HDR_LEN + 13] = 0x00;
	if (flen > 14)
		b[NET_HDR_LEN + 14] = tag;
	return NET_HDR_LEN + flen;
}

static void
sw_send(const uint8_t *b, size_t len)
{
	ck_assert_int_eq(send(net.sw, b, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Receives one message from the mediator; -1 if none within ms. */
static ssize_t
sw_recv(uint8_t *b, size_t len, int ms)
{
	struct pollfd p = { .fd = net.sw, .events = POLLIN };

	if (poll(&p, 1, ms) != 1)
		return -1;
	return recv(net.sw, b, len, 0);
}

/* Reads rx buffer chain data: n buffers of len bytes from buffer first. */
static void
rx_bytes(unsigned first, const uint32_t *lens, unsigned n, uint8_t *out)
{
	size_t at = 0;

	for (unsigned i = 0; i < n; i++) {
		memcpy(out + at, vm.mem + RXBUF(first + i), lens[i]);
		at += lens[i];
	}
}

/* ---- tests --------------------------------------------------------------- */

#define FULL	(net_features(NET_BACKEND_SWITCH) | VIRTIO_F_VERSION_1)

START_TEST(test_proc_config)
{
	uint8_t m[6];

	ck_assert_uint_eq(medvm_offered(&vm), FULL);
	for (int i = 0; i < 6; i++)
		m[i] = (uint8_t)medvm_mmio(&vm, false, VIRTIO_DEVCFG_OFF +
		    (unsigned)i, 1, 0);
	ck_assert_mem_eq(m, mac, 6);
	ck_assert_uint_eq(medvm_mmio(&vm, false, VIRTIO_DEVCFG_OFF + 6, 2, 0),
	    VIRTIO_NET_S_LINK_UP);
	ck_assert_uint_eq(medvm_mmio(&vm, false, VIRTIO_DEVCFG_OFF + 8, 2, 0),
	    1);
	ck_assert_uint_eq(medvm_mmio(&vm, false, VIRTIO_PCI_NUMQ, 2, 0),
	    NET_NUM_QUEUES);
	/* Read-only: a write changes nothing. */
	medvm_mmio(&vm, true, VIRTIO_DEVCFG_OFF, 1, 0x99);
	ck_assert_uint_eq(medvm_mmio(&vm, false, VIRTIO_DEVCFG_OFF, 1, 0),
	    mac[0]);
}
END_TEST

START_TEST(test_proc_rx)
{
	static uint8_t b[NET_MSG_MAX], got[NET_MSG_MAX];
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_DATA_VALID };
	uint32_t id, len, lens[3];
	size_t n;

	driver_init(FULL);
	post_rx(0, 8, 2048);
	irqs(0);
	/* A short frame: one buffer, num_buffers 1, flags as sent. */
	n = mkmsg(b, &h, 60, mac, 1);
	sw_send(b, n);
	ck_assert(medvm_wait_used(&vm, NET_RXQ, 1));
	medvm_used_elem(&vm, NET_RXQ, 0, &id, &len);
	ck_assert_uint_eq(id, 0);
	ck_assert_uint_eq(len, n);
	ck_assert_uint_eq(vm.mem[RXBUF(0)], VIRTIO_NET_HDR_F_DATA_VALID);
	ck_assert_uint_eq(vm.mem[RXBUF(0) + 10], 1);
	ck_assert_mem_eq(vm.mem + RXBUF(0) + NET_HDR_LEN, b + NET_HDR_LEN,
	    n - NET_HDR_LEN);
	ck_assert_uint_eq(vm.mem[RXBUF(0) + n], 0xee);
	/* A GSO frame over three buffers. */
	h = (struct virtio_net_hdr_v1){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
	    .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 1448,
	    .hdr_len = 54, .csum_start = 34, .csum_offset = 16 };
	n = mkmsg(b, &h, 5000, mac, 2);
	sw_send(b, n);
	ck_assert(medvm_wait_used(&vm, NET_RXQ, 4));
	for (uint16_t i = 0; i < 3; i++) {
		medvm_used_elem(&vm, NET_RXQ, (uint16_t)(1 + i), &id, &lens[i]);
		ck_assert_uint_eq(id, 1 + i);
	}
	ck_assert_uint_eq(lens[0], 2048);
	ck_assert_uint_eq(lens[1], 2048);
	ck_assert_uint_eq(lens[2], n - 4096);
	rx_bytes(1, lens, 3, got);
	ck_assert_uint_eq(got[10] | got[11] << 8, 3);
	ck_assert_mem_eq(got, b, 10);
	ck_assert_mem_eq(got + NET_HDR_LEN, b + NET_HDR_LEN, n - NET_HDR_LEN);
	ck_assert_uint_ge(irqs(0), 1);
	ck_assert_uint_eq(counter(NET_RX_FRAMES), 2);
	ck_assert_uint_eq(counter(NET_RX_BYTES), 60 + 5000);
	/* Malformed and too short: dropped, counted, nothing used. */
	h = (struct virtio_net_hdr_v1){ .flags = VIRTIO_NET_HDR_F_RSC_INFO };
	sw_send(b, mkmsg(b, &h, 60, mac, 3));
	sw_send(b, NET_HDR_LEN + 13);
	wait_counter(NET_RX_MALFORMED, 2);
	ck_assert_uint_eq(medvm_used_idx(&vm, NET_RXQ), 4);
}
END_TEST

START_TEST(test_proc_rx_single)
{
	static uint8_t b[NET_MSG_MAX];
	struct virtio_net_hdr_v1 h = { 0 };
	uint32_t id, len;

	driver_init(FULL & ~VIRTIO_NET_F_MRG_RXBUF);
	post_rx(0, 2, 1526);
	/* Too big for the buffer: dropped, the buffer kept for the next. */
	sw_send(b, mkmsg(b, &h, 1515, mac, 1));
	wait_counter(NET_RX_TOO_BIG, 1);
	sw_send(b, mkmsg(b, &h, 1514, mac, 2));
	ck_assert(medvm_wait_used(&vm, NET_RXQ, 1));
	medvm_used_elem(&vm, NET_RXQ, 0, &id, &len);
	ck_assert_uint_eq(id, 0);
	ck_assert_uint_eq(len, 1526);
	ck_assert_uint_eq(vm.mem[RXBUF(0) + 10], 1);
	ck_assert_uint_eq(vm.mem[RXBUF(0) + NET_HDR_LEN + 14], 2);
}
END_TEST

START_TEST(test_proc_rx_waits)
{
	static uint8_t b[256];
	struct virtio_net_hdr_v1 h = { 0 };
	uint32_t id, len;

	driver_init(FULL);
	/* No buffers: the frames wait, in the mediator and the socket. */
	for (uint8_t i = 0; i < 5; i++)
		sw_send(b, mkmsg(b, &h, 100, mac, (uint8_t)(10 + i)));
	wait_counter(NET_RX_STALLS, 1);
	usleep(50000);
	ck_assert_uint_eq(medvm_used_idx(&vm, NET_RXQ), 0);
	ck_assert_uint_eq(counter(NET_RX_NO_BUFFER), 0);
	/* Buffers come one at a time: each takes the next frame. */
	for (unsigned i = 0; i < 5; i++) {
		post_rx(i, 1, 2048);
		ck_assert(medvm_wait_used(&vm, NET_RXQ, (uint16_t)(i + 1)));
		medvm_used_elem(&vm, NET_RXQ, (uint16_t)i, &id, &len);
		ck_assert_uint_eq(id, i);
		ck_assert_uint_eq(len, NET_HDR_LEN + 100);
		ck_assert_uint_eq(vm.mem[RXBUF(i) + NET_HDR_LEN + 14], 10 + i);
	}
	ck_assert_uint_eq(counter(NET_RX_FRAMES), 5);
	ck_assert_uint_ge(counter(NET_RX_STALLS), 5);
}
END_TEST

START_TEST(test_proc_rx_no_guest_csum)
{
	static uint8_t b[NET_MSG_MAX];
	const uint64_t f = FULL & ~(VIRTIO_NET_F_GUEST_CSUM |
	    VIRTIO_NET_F_GUEST_TSO4 | VIRTIO_NET_F_GUEST_TSO6 |
	    VIRTIO_NET_F_GUEST_ECN);
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
	    .csum_start = 34, .csum_offset = 6 };
	uint16_t c, seed;
	size_t n;

	driver_init(f);
	post_rx(0, 4, 2048);
	/* A partial checksum is completed for the guest. */
	n = mkmsg(b, &h, 100, mac, 1);
	sw_send(b, n);
	ck_assert(medvm_wait_used(&vm, NET_RXQ, 1));
	ck_assert_uint_eq(vm.mem[RXBUF(0)], 0);
	c = (uint16_t)(vm.mem[RXBUF(0) + NET_HDR_LEN + 40] << 8 |
	    vm.mem[RXBUF(0) + NET_HDR_LEN + 41]);
	/* The field held the pseudo-header sum: with it, all sums to 0. */
	seed = (uint16_t)(b[NET_HDR_LEN + 40] << 8 | b[NET_HDR_LEN + 41]);
	ck_assert_uint_ne(c, seed);
	ck_assert_uint_eq(net_csum(vm.mem + RXBUF(0) + NET_HDR_LEN + 34,
	    100 - 34, seed), 0);
	ck_assert_uint_eq(counter(NET_RX_SW_CSUM), 1);
	/* GSO it cannot take: dropped and counted. */
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h.gso_size = 1448;
	h.csum_offset = 16;
	sw_send(b, mkmsg(b, &h, 3000, mac, 2));
	wait_counter(NET_RX_GSO_UNSUPPORTED, 1);
	ck_assert_uint_eq(medvm_used_idx(&vm, NET_RXQ), 1);
}
END_TEST

START_TEST(test_proc_tx)
{
	static uint8_t b[2048], got[4096];
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
	    .csum_start = 34, .csum_offset = 16, .num_buffers = 0 };
	uint32_t id, len;
	ssize_t n;
	size_t m;

	driver_init(FULL);
	irqs(1);
	/* Header cut in two, sharing a descriptor with the frame. */
	m = mkmsg(b, &h, 1514, other, 7);
	send_tx(0, b, (uint32_t)m, (const uint32_t[]){ 5, 40 }, 2);
	n = sw_recv(got, sizeof(got), WAIT_MS);
	ck_assert_int_eq(n, (ssize_t)m);
	ck_assert_mem_eq(got, b, m);
	ck_assert(medvm_wait_used(&vm, NET_TXQ, 1));
	medvm_used_elem(&vm, NET_TXQ, 0, &id, &len);
	ck_assert_uint_eq(id, 0);
	ck_assert_uint_eq(len, 0);
	ck_assert_uint_ge(irqs(1), 1);
	ck_assert_uint_eq(counter(NET_TX_FRAMES), 1);
	ck_assert_uint_eq(counter(NET_TX_BYTES), 1514);
	/* Malformed: completed, not sent, counted. */
	h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
	m = mkmsg(b, &h, 100, other, 8);
	send_tx(1, b, (uint32_t)m, NULL, 0);
	ck_assert(medvm_wait_used(&vm, NET_TXQ, 2));
	ck_assert_uint_eq(counter(NET_TX_MALFORMED), 1);
	h.flags = 0;
	m = mkmsg(b, &h, 13, other, 9);
	send_tx(2, b, (uint32_t)m, NULL, 0);
	ck_assert(medvm_wait_used(&vm, NET_TXQ, 3));
	ck_assert_uint_eq(counter(NET_TX_MALFORMED), 2);
	ck_assert_int_eq(sw_recv(got, sizeof(got), 50), -1);
	/* And the next good one goes. */
	m = mkmsg(b, &h, 64, other, 10);
	send_tx(3, b, (uint32_t)m, NULL, 0);
	ck_assert_int_eq(sw_recv(got, sizeof(got), WAIT_MS), (ssize_t)m);
	ck_assert_uint_eq(got[NET_HDR_LEN + 14], 10);
}
END_TEST

/*
 * The switch's socket fills up (EAGAIN): tx stops with the chain kept,
 * and resumes when it drains; no frame is lost or reordered.
 */
START_TEST(test_proc_tx_eagain)
{
	static uint8_t b[2048], got[4096];
	struct virtio_net_hdr_v1 h = { 0 };
	const unsigned nframes = 60;
	ssize_t n;

	/* A small send buffer on the mediator's end fills after a few. */
	ck_assert_int_eq(setsockopt(vm.backend, SOL_SOCKET, SO_SNDBUF,
	    &(int){ 8192 }, sizeof(int)), 0);
	driver_init(FULL);
	for (unsigned i = 0; i < nframes; i++)
		send_tx(i, b, (uint32_t)mkmsg(b, &h, 1000, other,
		    (uint8_t)i), NULL, 0);
	wait_counter(NET_TX_BLOCKED, 1);
	usleep(50000);
	ck_assert_uint_lt(medvm_used_idx(&vm, NET_TXQ), nframes);
	for (unsigned i = 0; i < nframes; i++) {
		n = sw_recv(got, sizeof(got), WAIT_MS);
		ck_assert_int_eq(n, NET_HDR_LEN + 1000);
		ck_assert_uint_eq(got[NET_HDR_LEN + 14], (uint8_t)i);
	}
	ck_assert(medvm_wait_used(&vm, NET_TXQ, nframes));
	ck_assert_uint_eq(counter(NET_TX_FRAMES), nframes);
	ck_assert_uint_eq(counter(NET_TX_BACKEND_ERROR), 0);
}
END_TEST

START_TEST(test_proc_ctrl)
{
	static uint8_t b[256];
	struct virtio_net_hdr_v1 h = { 0 };
	uint8_t cmd[8] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET };
	uint8_t m[6];

	driver_init(FULL);
	post_rx(0, 16, 2048);
	/* Promiscuous at first: a frame to another MAC comes in. */
	sw_send(b, mkmsg(b, &h, 60, other, 1));
	ck_assert(medvm_wait_used(&vm, NET_RXQ, 1));
	ck_assert_uint_eq(send_ctrl("\x00\x00\x00", 3), VIRTIO_NET_OK);
	ck_assert_uint_eq(net.p->filter.promisc, 0);
	sw_send(b, mkmsg(b, &h, 60, other, 2));
	wait_counter(NET_RX_FILTERED, 1);
	sw_send(b, mkmsg(b, &h, 60, bcast, 3));
	sw_send(b, mkmsg(b, &h, 60, mac, 4));
	ck_assert(medvm_wait_used(&vm, NET_RXQ, 3));
	ck_assert_uint_eq(vm.mem[RXBUF(1) + NET_HDR_LEN + 14], 3);
	ck_assert_uint_eq(vm.mem[RXBUF(2) + NET_HDR_LEN + 14], 4);
	/* A new MAC: in the config, and the filter follows. */
	memcpy(cmd + 2, other, 6);
	ck_assert_uint_eq(send_ctrl(cmd, 8), VIRTIO_NET_OK);
	for (int i = 0; i < 6; i++)
		m[i] = (uint8_t)medvm_mmio(&vm, false, VIRTIO_DEVCFG_OFF +
		    (unsigned)i, 1, 0);
	ck_assert_mem_eq(m, other, 6);
	sw_send(b, mkmsg(b, &h, 60, mac, 5));
	wait_counter(NET_RX_FILTERED, 2);
	sw_send(b, mkmsg(b, &h, 60, other, 6));
	ck_assert(medvm_wait_used(&vm, NET_RXQ, 4));
	ck_assert_uint_eq(vm.mem[RXBUF(3) + NET_HDR_LEN + 14], 6);
	/* Refused commands say so. */
	ck_assert_uint_eq(send_ctrl("\x04\x00\x01\x00", 4), VIRTIO_NET_ERR);
	ck_assert_uint_eq(send_ctrl("\x00", 1), VIRTIO_NET_ERR);
	ck_assert_uint_eq(counter(NET_CTRL_OK), 2);
	ck_assert_uint_eq(counter(NET_CTRL_ERR), 2);
	/* A reset puts the MAC and the filter back. */
	medvm_mmio(&vm, true, VIRTIO_PCI_STATUS, 1, 0);
	ck_assert_uint_eq(medvm_mmio(&vm, false, VIRTIO_DEVCFG_OFF + 5, 1, 0),
	    mac[5]);
	ck_assert_uint_eq(net.p->filter.promisc, 1);
}
END_TEST

START_TEST(test_proc_switch_gone)
{
	static uint8_t b[256];
	struct virtio_net_hdr_v1 h = { 0 };

	driver_init(FULL);
	irqs(NET_NUM_QUEUES);
	close(net.sw);
	net.sw = -1;
	/* Link down, and the guest is told (configuration interrupt). */
	{
		uint64_t end = medtest_now_ms() + WAIT_MS;

		while (medvm_mmio(&vm, false, VIRTIO_DEVCFG_OFF + 6, 2,
		    0) != 0 && medtest_now_ms() < end)
			medtest_nap();
	}
	ck_assert_uint_eq(medvm_mmio(&vm, false, VIRTIO_DEVCFG_OFF + 6, 2, 0),
	    0);
	ck_assert_uint_ge(irqs(NET_NUM_QUEUES), 1);
	/* tx is refused by the socket, counted, and completed. */
	send_tx(0, b, (uint32_t)mkmsg(b, &h, 60, other, 1), NULL, 0);
	ck_assert(medvm_wait_used(&vm, NET_TXQ, 1));
	ck_assert_uint_eq(counter(NET_TX_BACKEND_ERROR), 1);

	/* A new process on a new port: the link comes back, and works. */
	crash();
	{
		int sv[2];

		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET |
		    SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
		close(vm.backend);
		net.sw = sv[0];
		vm.backend = sv[1];
	}
	spawn();
	ck_assert_uint_eq(medvm_mmio(&vm, false, VIRTIO_DEVCFG_OFF + 6, 2, 0),
	    VIRTIO_NET_S_LINK_UP);
	ck_assert_uint_ge(irqs(NET_NUM_QUEUES), 1);	/* told so */
	post_rx(0, 1, 2048);
	sw_send(b, mkmsg(b, &h, 60, mac, 2));
	ck_assert(medvm_wait_used(&vm, NET_RXQ, 1));
}
END_TEST

/*
 * SIGKILL, then a new process on the same state: counters and the
 * filter stay, and what the dead one held is taken up again: rx chains
 * it had taken (not returned) get the next frames, a tx chain it had
 * taken (not sent) is sent and completed.
 */
START_TEST(test_proc_restart)
{
	static uint8_t b[2048], got[4096];
	struct virtio_net_hdr_v1 h = { 0 };
	struct vq_state *rxq = &vm.s->vq[NET_RXQ], *txq = &vm.s->vq[NET_TXQ];
	uint32_t id, len;
	size_t m;

	driver_init(FULL);
	post_rx(0, 8, 2048);
	sw_send(b, mkmsg(b, &h, 60, mac, 1));
	ck_assert(medvm_wait_used(&vm, NET_RXQ, 1));
	ck_assert_uint_eq(send_ctrl("\x00\x01\x01", 3), VIRTIO_NET_OK);
	crash();

	/*
	 * What a process dying at the wrong moment leaves: two rx chains
	 * taken, one tx chain taken, the records saying so.
	 */
	net.p->rec[NET_RXQ] = net_rec(NET_REC_HELD, rxq->last_avail,
	    rxq->used_idx, 0);
	rxq->last_avail += 2;
	m = mkmsg(b, &h, 200, other, 42);
	send_tx(0, b, (uint32_t)m, NULL, 0);
	net.p->rec[NET_TXQ] = net_rec(NET_REC_HELD, txq->last_avail,
	    txq->used_idx, 0);
	txq->last_avail += 1;

	spawn();
	ck_assert_uint_eq(counter(NET_TAKEOVERS), 1);
	ck_assert_uint_eq(counter(NET_RX_FRAMES), 1);
	ck_assert_uint_eq(net.p->filter.allmulti, 1);
	/* The tx chain: sent once, completed once. */
	ck_assert_int_eq(sw_recv(got, sizeof(got), WAIT_MS), (ssize_t)m);
	ck_assert_uint_eq(got[NET_HDR_LEN + 14], 42);
	ck_assert(medvm_wait_used(&vm, NET_TXQ, 1));
	medvm_used_elem(&vm, NET_TXQ, 0, &id, &len);
	ck_assert_uint_eq(id, 0);
	ck_assert_uint_eq(counter(NET_RECOVERED), 3);
	/* The rx chains: the next frames go into them, in order. */
	sw_send(b, mkmsg(b, &h, 60, mac, 2));
	sw_send(b, mkmsg(b, &h, 60, mac, 3));
	ck_assert(medvm_wait_used(&vm, NET_RXQ, 3));
	medvm_used_elem(&vm, NET_RXQ, 1, &id, &len);
	ck_assert_uint_eq(id, 1);
	medvm_used_elem(&vm, NET_RXQ, 2, &id, &len);
	ck_assert_uint_eq(id, 2);
	ck_assert_uint_eq(vm.mem[RXBUF(1) + NET_HDR_LEN + 14], 2);
	ck_assert_uint_eq(vm.mem[RXBUF(2) + NET_HDR_LEN + 14], 3);
	ck_assert_uint_eq(counter(NET_RX_FRAMES), 3);
	ck_assert_int_eq(sw_recv(got, sizeof(got), 50), -1);

	/* A record that does not match the queue: the device needs reset. */
	crash();
	net.p->rec[NET_RXQ] = net_rec(NET_REC_HELD, rxq->last_avail,
	    (uint16_t)(rxq->used_idx - 1), 0);
	spawn();
	ck_assert_uint_ne(medvm_mmio(&vm, false, VIRTIO_PCI_STATUS, 1, 0) &
	    VIRTIO_STATUS_NEEDS_RESET, 0);
	ck_assert_uint_eq(counter(NET_TAKEOVERS), 2);
}
END_TEST

/* SIGUSR2: the device's state and every counter in the log. */
START_TEST(test_proc_dump)
{
	static uint8_t b[256];
	static char log[16384];
	struct virtio_net_hdr_v1 h = { 0 };
	uint64_t end = medtest_now_ms() + WAIT_MS;
	ssize_t n = 0;

	driver_init(FULL);
	post_rx(0, 2, 2048);
	sw_send(b, mkmsg(b, &h, 60, mac, 1));
	ck_assert(medvm_wait_used(&vm, NET_RXQ, 1));
	kill(vm.pid, SIGUSR2);
	while (medtest_now_ms() < end) {
		n = pread(vm.log, log, sizeof(log) - 1, 0);
		ck_assert_int_ge(n, 0);
		log[n] = '\0';
		if (strstr(log, "takeovers=") != NULL)
			break;
		medtest_nap();
	}
	ck_assert_msg(strstr(log, "net: rx_frames=1 rx_bytes=60 ") != NULL,
	    "%s", log);
	ck_assert_ptr_nonnull(strstr(log, "net: tx_malformed=0 "));
	ck_assert_ptr_nonnull(strstr(log, "switch backend"));
	ck_assert_ptr_nonnull(strstr(log, "link up"));
}
END_TEST

static Suite *
net_proc_suite(void)
{
	Suite *s = suite_create("net_proc");
	TCase *tc = tcase_create("process");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_proc_config);
	tcase_add_test(tc, test_proc_rx);
	tcase_add_test(tc, test_proc_rx_single);
	tcase_add_test(tc, test_proc_rx_waits);
	tcase_add_test(tc, test_proc_rx_no_guest_csum);
	tcase_add_test(tc, test_proc_tx);
	tcase_add_test(tc, test_proc_tx_eagain);
	tcase_add_test(tc, test_proc_ctrl);
	tcase_add_test(tc, test_proc_switch_gone);
	tcase_add_test(tc, test_proc_restart);
	tcase_add_test(tc, test_proc_dump);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(net_proc_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
