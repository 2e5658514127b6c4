/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the control channel: a round trip of every message type
 * with its fds (each fd is then used, to show it is the same file),
 * malformed packets sent raw (short, long, len mismatch, too many,
 * missing or unexpected fds, unknown type, bad fields), each refused with
 * -EBADMSG without leaking an fd (counted in /proc/self/fd), and the
 * sender's own checks.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl.h"
#include "ring.h"

static int sv[2];

static void
setup(void)
{
	ck_assert_int_eq(ctl_socketpair(sv), 0);
}

static void
teardown(void)
{
	close(sv[0]);
	close(sv[1]);
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/*
 * Opens one fd per letter of kinds: 'e' eventfd, 'm' memfd, 'p' pipe
 * (fds[i] is the write end, keep[i] the read end).  Returns the count.
 */
static unsigned
open_fds(const char *kinds, int *fds, int *keep)
{
	unsigned n = 0;

	for (; kinds[n] != '\0'; n++) {
		int p[2];

		keep[n] = -1;
		switch (kinds[n]) {
		case 'e':
			fds[n] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			break;
		case 'm':
			fds[n] = memfd_create("ctl-test", MFD_CLOEXEC);
			ck_assert_int_eq(ftruncate(fds[n], 4096), 0);
			break;
		case 'p':
			ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
			fds[n] = p[1];
			keep[n] = p[0];
			break;
		}
		ck_assert_int_ge(fds[n], 0);
	}
	return n;
}

static void
close_all(const int *fds, const int *keep, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		close(fds[i]);
		if (keep[i] >= 0)
			close(keep[i]);
	}
}

/* Writes through the received fd got and reads it back through ours. */
static void
check_same_file(char kind, int ours, int keep, int got)
{
	uint64_t v = 0x5a + (uint64_t)got;
	char c = 0;

	ck_assert_int_ne(got, ours);
	switch (kind) {
	case 'e':
		ck_assert_int_eq(write(got, &v, sizeof(v)), sizeof(v));
		v = 0;
		ck_assert_int_eq(read(ours, &v, sizeof(v)), sizeof(v));
		ck_assert_uint_eq(v, 0x5a + (uint64_t)got);
		break;
	case 'm':
		ck_assert_int_eq(pwrite(got, "M", 1, 100), 1);
		ck_assert_int_eq(pread(ours, &c, 1, 100), 1);
		ck_assert_int_eq(c, 'M');
		break;
	case 'p':
		ck_assert_int_eq(write(got, "P", 1), 1);
		ck_assert_int_eq(read(keep, &c, 1), 1);
		ck_assert_int_eq(c, 'P');
		break;
	}
	/* Close-on-exec, as every fd of a fork+exec'd mediator should be. */
	ck_assert_int_eq(fcntl(got, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

/* Calls the typed accessor of type; -EBADMSG for types without one. */
static int
get_any(const struct ctl_msg *m, uint32_t type, void *out)
{
	switch (type) {
	case CTL_HELLO: return ctl_get_hello(m, out);
	case CTL_READY: return ctl_get_ready(m, out);
	case CTL_ATTACH: return ctl_get_attach(m, out);
	case CTL_ATTACH_SLOTS: return ctl_get_attach_slots(m, out);
	case CTL_ATTACH_STATE: return ctl_get_attach_state(m, out);
	case CTL_DEVICE: return ctl_get_device(m, out);
	case CTL_MAP_BAR: return ctl_get_map_bar(m, out);
	case CTL_IOEVENTFD: return ctl_get_ioeventfd(m, out);
	case CTL_IRQFD: return ctl_get_irqfd(m, out);
	case CTL_MSIX_ROUTE: return ctl_get_msix_route(m, out);
	case CTL_RESULT: return ctl_get_result(m, out);
	case CTL_SHUTDOWN: return ctl_get_shutdown(m, out);
	case CTL_PROBE: return ctl_get_probe(m, out);
	case CTL_PROBE_RESULT: return ctl_get_probe_result(m, out);
	}
	return -EBADMSG;
}

/* ---- Valid payloads ---- */

static const struct ctl_hello p_hello = { CTL_VERSION, CTL_ROLE_VM,
    IOREQ_VERSION, 0, "ivi/blk0" };
static const struct ctl_ready p_ready = { 2, 1 };
static const struct ctl_attach p_attach = { .nslots = 4, .nregions = 3,
    .region = {
	{ 0, 0x100000, 0, 2, 0 },
	{ 0x100000000ull, 0x200000, 0x100000, 2, 0 },
	{ 0xc0000000ull, 0x1000, 0, 3, CTL_MEM_READONLY },
} };
static const struct ctl_attach_slots p_slots16 = { 0, 16 };
static const struct ctl_attach_slots p_slots4 = { 16, 4 };
static const struct ctl_attach_state p_state = { 65536 };
static const struct ctl_device p_device = {
	.config = { 0xf4, 0x1a, 0x42, 0x10 },
	.bar = { [0] = { CTL_BAR_MEM32, 0, 4096 },
	    [2] = { CTL_BAR_MEM64, 0, 16384 } },
	.fwd_start = 0x40, .layout = CTL_LAYOUT_VIRTIO, .msix_bar = 2,
	.msix_cap = 0x40,
};
static const struct ctl_map_bar p_map = { 2, CTL_MAP_READONLY, 0x1000,
    0x2000, 0x3000 };
static const struct ctl_map_bar p_unmap = { 2, CTL_MAP_UNMAP, 0x1000, 0,
    0x3000 };
static const struct ctl_ioeventfd p_ioev = { 0, CTL_IOEVENTFD_DATAMATCH,
    0x3000, 2, 0, 0x1234 };
static const struct ctl_irqfd p_intx = { CTL_IRQ_INTX, 1,
    CTL_IRQFD_RESAMPLE, 0 };
static const struct ctl_irqfd p_msix = { CTL_IRQ_MSIX, 2047, 0, 0 };
static const struct ctl_msix_route p_route = { 5, CTL_MSIX_MASKED,
    0xfee00000, 0x4041, 0 };
static const struct ctl_result p_result = { -EINVAL, 0 };
static const struct ctl_shutdown p_shutdown = { CTL_SHUTDOWN_POWEROFF, 0 };
static const struct ctl_probe p_probe = { 1u << CTL_PROBE_KILL, 4242, 9, 0 };
static const struct ctl_probe_result p_probe_result = { 3, 2, {
	{ CTL_PROBE_OPEN_FILE, CTL_PROBE_SECCOMP, 0, 0 },
	{ CTL_PROBE_KILL, CTL_PROBE_ERRNO, 0, EPERM },
	{ CTL_PROBE_IO_URING, CTL_PROBE_ALLOWED, 0, 0 },
} };

static const struct {
	uint32_t type;
	const void *payload;
	size_t len;
	const char *fds;
} rt[] = {
	{ CTL_HELLO, &p_hello, sizeof(p_hello), "" },
	{ CTL_READY, &p_ready, sizeof(p_ready), "" },
	{ CTL_ATTACH, &p_attach, sizeof(p_attach), "memm" },
	{ CTL_ATTACH_SLOTS, &p_slots16, sizeof(p_slots16),
	    "eeeeeeeeeeeeeeee" },
	{ CTL_ATTACH_SLOTS, &p_slots4, sizeof(p_slots4), "eeee" },
	{ CTL_ATTACH_STATE, &p_state, sizeof(p_state), "m" },
	{ CTL_DEVICE, &p_device, sizeof(p_device), "" },
	{ CTL_MAP_BAR, &p_map, sizeof(p_map), "m" },
	{ CTL_MAP_BAR, &p_unmap, sizeof(p_unmap), "" },
	{ CTL_IOEVENTFD, &p_ioev, sizeof(p_ioev), "e" },
	{ CTL_IRQFD, &p_intx, sizeof(p_intx), "ee" },
	{ CTL_IRQFD, &p_msix, sizeof(p_msix), "p" },
	{ CTL_MSIX_ROUTE, &p_route, sizeof(p_route), "" },
	{ CTL_RESULT, &p_result, sizeof(p_result), "" },
	{ CTL_SHUTDOWN, &p_shutdown, sizeof(p_shutdown), "" },
	{ CTL_PROBE, &p_probe, sizeof(p_probe), "" },
	{ CTL_PROBE_RESULT, &p_probe_result, sizeof(p_probe_result), "" },
};
#define NRT ((int)(sizeof(rt) / sizeof(rt[0])))

START_TEST(test_round_trip)
{
	int fds[CTL_MAX_FDS], keep[CTL_MAX_FDS], before = count_fds();
	uint8_t out[CTL_MAX_PAYLOAD];
	struct ctl_msg msg;
	unsigned n = open_fds(rt[_i].fds, fds, keep);

	ck_assert_int_eq(ctl_send(sv[0], rt[_i].type, 1000 + _i,
	    rt[_i].payload, rt[_i].len, fds, n), 0);
	ck_assert_int_eq(ctl_recv(sv[1], &msg), 0);
	ck_assert_uint_eq(msg.hdr.type, rt[_i].type);
	ck_assert_uint_eq(msg.hdr.id, 1000 + _i);
	ck_assert_uint_eq(msg.hdr.len, rt[_i].len);
	ck_assert_uint_eq(msg.nfds, n);
	ck_assert_int_eq(get_any(&msg, rt[_i].type, out), 0);
	ck_assert_mem_eq(out, rt[_i].payload, rt[_i].len);
	/* Every other accessor refuses it. */
	for (uint32_t t = 0; t <= CTL_TYPE_MAX + 1; t++)
		if (t != rt[_i].type)
			ck_assert_int_eq(get_any(&msg, t, out), -EBADMSG);
	for (unsigned i = 0; i < n; i++)
		check_same_file(rt[_i].fds[i], fds[i], keep[i], msg.fds[i]);
	ctl_msg_close(&msg);
	close_all(fds, keep, n);
	ck_assert_int_eq(count_fds(), before);
}
END_TEST

/* ---- Malformed packets, sent raw ---- */

static const struct ctl_hello p_hello_noterm = { CTL_VERSION, CTL_ROLE_VM,
    IOREQ_VERSION, 0, "0123456789abcdef0123456789abcdef" };
static const uint8_t zeros[CTL_MAX_PAYLOAD + 100];

#define NONE	(-1)
static const struct {
	const char *name;
	uint32_t type;
	const void *payload;
	size_t plen;		/* payload bytes sent */
	long hdr_len;		/* NONE: plen */
	uint32_t flags;
	const char *fds;
	long cut;		/* NONE, or the packet's total length */
	int off;		/* NONE, or a payload byte to overwrite */
	uint8_t val;
} bad[] = {
	{ "8-byte packet", CTL_HELLO, &p_hello, 48, NONE, 0, "ee", 8,
	    NONE, 0 },
	{ "empty packet with an fd", CTL_HELLO, &p_hello, 48, NONE, 0, "e",
	    0, NONE, 0 },
	{ "header only", CTL_HELLO, &p_hello, 0, NONE, 0, "e", NONE,
	    NONE, 0 },
	{ "len 47, 48 sent", CTL_HELLO, &p_hello, 48, 47, 0, "e", NONE,
	    NONE, 0 },
	{ "len 100, 48 sent", CTL_HELLO, &p_hello, 48, 100, 0, "", NONE,
	    NONE, 0 },
	{ "payload over 4 KiB", CTL_HELLO, zeros, CTL_MAX_PAYLOAD + 1,
	    NONE, 0, "e", NONE, NONE, 0 },
	{ "RESULT one byte short", CTL_RESULT, &p_result, 7, NONE, 0, "",
	    NONE, NONE, 0 },
	{ "17 fds", CTL_ATTACH_SLOTS, &p_slots16, 8, NONE, 0,
	    "eeeeeeeeeeeeeeeee", NONE, 4, 17 },
	{ "20 fds", CTL_ATTACH_SLOTS, &p_slots16, 8, NONE, 0,
	    "eeeeeeeeeeeeeeeeeeee", NONE, NONE, 0 },
	{ "fd with SHUTDOWN", CTL_SHUTDOWN, &p_shutdown, 8, NONE, 0, "e",
	    NONE, NONE, 0 },
	{ "fd with RESULT", CTL_RESULT, &p_result, 8, NONE, 0, "p", NONE,
	    NONE, 0 },
	{ "IOEVENTFD without fd", CTL_IOEVENTFD, &p_ioev, 32, NONE, 0, "",
	    NONE, NONE, 0 },
	{ "ATTACH with one fd", CTL_ATTACH, &p_attach, 272, NONE, 0, "m",
	    NONE, NONE, 0 },
	{ "type 0", 0, &p_hello, 48, NONE, 0, "e", NONE, NONE, 0 },
	{ "type CTL_TYPE_MAX + 1", CTL_TYPE_MAX + 1, &p_hello, 48, NONE, 0,
	    "e", NONE, NONE, 0 },
	{ "type 0xffffffff", 0xffffffff, &p_hello, 48, NONE, 0, "", NONE,
	    NONE, 0 },
	{ "flags 1", CTL_HELLO, &p_hello, 48, NONE, 1, "e", NONE, NONE, 0 },
	{ "HELLO name unterminated", CTL_HELLO, &p_hello_noterm, 48, NONE,
	    0, "", NONE, NONE, 0 },
	{ "HELLO role 3", CTL_HELLO, &p_hello, 48, NONE, 0, "", NONE, 4, 3 },
	{ "ATTACH fd_index 4 of 4", CTL_ATTACH, &p_attach, 272, NONE, 0,
	    "memm", NONE, 16 + 2 * 32 + 24, 4 },
	{ "ATTACH fd nobody maps", CTL_ATTACH, &p_attach, 272, NONE, 0,
	    "memme", NONE, NONE, 0 },
	{ "ATTACH regions overlap", CTL_ATTACH, &p_attach, 272, NONE, 0,
	    "memm", NONE, 16 + 2 * 32 + 3, 0 },
	{ "ATTACH 65 slots", CTL_ATTACH, &p_attach, 272, NONE, 0, "memm",
	    NONE, 0, 65 },
	{ "ATTACH_SLOTS count 3, 4 fds", CTL_ATTACH_SLOTS, &p_slots4, 8,
	    NONE, 0, "eeee", NONE, 4, 3 },
	{ "ATTACH_SLOTS past slot 64", CTL_ATTACH_SLOTS, &p_slots4, 8,
	    NONE, 0, "eeee", NONE, 0, 62 },
	{ "ATTACH_STATE size 65537", CTL_ATTACH_STATE, &p_state, 8, NONE, 0,
	    "m", NONE, 0, 1 },
	{ "DEVICE BAR size 0x1001", CTL_DEVICE, &p_device,
	    sizeof(p_device), NONE, 0, "", NONE, 512 + 8, 1 },
	{ "DEVICE BAR type 4", CTL_DEVICE, &p_device, sizeof(p_device),
	    NONE, 0, "", NONE, 512, 4 },
	{ "MAP_BAR unaligned", CTL_MAP_BAR, &p_map, 32, NONE, 0, "m", NONE,
	    8, 1 },
	{ "MAP_BAR unmap with fd", CTL_MAP_BAR, &p_unmap, 32, NONE, 0, "m",
	    NONE, NONE, 0 },
	{ "PROBE unknown operation", CTL_PROBE, &p_probe, 16, NONE, 0, "",
	    NONE, 2, 1 },
	{ "PROBE reserved", CTL_PROBE, &p_probe, 16, NONE, 0, "", NONE, 12,
	    1 },
	{ "PROBE with an fd", CTL_PROBE, &p_probe, 16, NONE, 0, "m", NONE,
	    NONE, 0 },
	{ "PROBE_RESULT 17 entries", CTL_PROBE_RESULT, &p_probe_result,
	    sizeof(p_probe_result), NONE, 0, "", NONE, 0, 17 },
	{ "PROBE_RESULT stage 3", CTL_PROBE_RESULT, &p_probe_result,
	    sizeof(p_probe_result), NONE, 0, "", NONE, 4, 3 },
	{ "PROBE_RESULT op twice", CTL_PROBE_RESULT, &p_probe_result,
	    sizeof(p_probe_result), NONE, 0, "", NONE, 16, 0 },
	{ "PROBE_RESULT outcome 6", CTL_PROBE_RESULT, &p_probe_result,
	    sizeof(p_probe_result), NONE, 0, "", NONE, 10, 6 },
	{ "PROBE_RESULT entry past nops", CTL_PROBE_RESULT, &p_probe_result,
	    sizeof(p_probe_result), NONE, 0, "", NONE, 32, 1 },
	{ "IOEVENTFD size 3", CTL_IOEVENTFD, &p_ioev, 32, NONE, 0, "e",
	    NONE, 16, 3 },
	{ "IOEVENTFD datamatch wider than size", CTL_IOEVENTFD, &p_ioev, 32,
	    NONE, 0, "e", NONE, 26, 1 },
	{ "IRQFD resample, one fd", CTL_IRQFD, &p_intx, 16, NONE, 0, "e",
	    NONE, NONE, 0 },
	{ "IRQFD INTx pin 4", CTL_IRQFD, &p_intx, 16, NONE, 0, "ee", NONE,
	    4, 4 },
	{ "MSIX_ROUTE vector 2053", CTL_MSIX_ROUTE, &p_route, 24, NONE, 0,
	    "", NONE, 1, 8 },
	{ "RESULT positive", CTL_RESULT, &p_result, 8, NONE, 0, "", NONE,
	    3, 0 },
	{ "SHUTDOWN reason 0", CTL_SHUTDOWN, &p_shutdown, 8, NONE, 0, "",
	    NONE, 0, 0 },
	{ "SHUTDOWN reserved 1", CTL_SHUTDOWN, &p_shutdown, 8, NONE, 0, "",
	    NONE, 4, 1 },
	{ "READY generation 0", CTL_READY, &p_ready, 8, NONE, 0, "", NONE,
	    0, 0 },
};
#define NBAD ((int)(sizeof(bad) / sizeof(bad[0])))

static uint8_t pkt[CTL_HDR_SIZE + CTL_MAX_PAYLOAD + 100];

/* sendmsg without any of ctl_send()'s checks. */
static void
raw_send(int sock, size_t len, const int *fds, unsigned nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 32)];
	} cm;
	struct iovec iov = { .iov_base = pkt, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (nfds > 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	ck_assert_int_eq(sendmsg(sock, &mh, 0), (ssize_t)len);
}

START_TEST(test_malformed)
{
	struct ctl_hdr h = { .type = bad[_i].type, .flags = bad[_i].flags,
	    .len = (uint32_t)(bad[_i].hdr_len == NONE ? (long)bad[_i].plen :
	    bad[_i].hdr_len), .id = 7 };
	int fds[32], keep[32], before = count_fds();
	size_t len = CTL_HDR_SIZE + bad[_i].plen;
	struct ctl_msg msg;
	unsigned n;

	memcpy(pkt, &h, sizeof(h));
	memcpy(pkt + CTL_HDR_SIZE, bad[_i].payload, bad[_i].plen);
	if (bad[_i].off != NONE)
		pkt[CTL_HDR_SIZE + bad[_i].off] = bad[_i].val;
	if (bad[_i].cut != NONE)
		len = (size_t)bad[_i].cut;
	n = open_fds(bad[_i].fds, fds, keep);
	raw_send(sv[0], len, fds, n);
	close_all(fds, keep, n);
	ck_assert_msg(ctl_recv(sv[1], &msg) == -EBADMSG, "%s: not refused",
	    bad[_i].name);
	ck_assert_msg(count_fds() == before, "%s: fds leaked", bad[_i].name);
	/* The parser alone says the same. */
	ck_assert_int_eq(ctl_parse(pkt, len, n, &msg), -EBADMSG);
	/* And the channel is still in step. */
	ck_assert_int_eq(ctl_send(sv[0], CTL_SHUTDOWN, 8, &p_shutdown,
	    sizeof(p_shutdown), NULL, 0), 0);
	ck_assert_int_eq(ctl_recv(sv[1], &msg), 0);
	ck_assert_uint_eq(msg.hdr.id, 8);
}
END_TEST

/* ctl_send refuses what the peer would, and sends nothing. */
START_TEST(test_send_checks)
{
	int fds[20], keep[20], before, none = -1;
	struct ctl_msg msg;
	unsigned n;

	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	n = open_fds("eeeeeeeeeeeeeeeee", fds, keep);
	before = count_fds();
	ck_assert_int_eq(ctl_send(sv[0], CTL_TYPE_MAX + 1, 1, &p_result, 8,
	    NULL, 0), -EINVAL);
	ck_assert_int_eq(ctl_send(sv[0], CTL_RESULT, 1, &p_result, 7,
	    NULL, 0), -EINVAL);
	ck_assert_int_eq(ctl_send(sv[0], CTL_RESULT, 1, NULL, 8, NULL, 0),
	    -EINVAL);
	ck_assert_int_eq(ctl_send(sv[0], CTL_RESULT, 1, &p_result, 8,
	    fds, 1), -EINVAL);
	ck_assert_int_eq(ctl_send(sv[0], CTL_ATTACH_SLOTS, 1, &p_slots16, 8,
	    fds, 17), -EINVAL);
	ck_assert_int_eq(ctl_send(sv[0], CTL_HELLO, 1, &p_hello_noterm, 48,
	    NULL, 0), -EINVAL);
	ck_assert_int_eq(ctl_send(sv[0], CTL_IOEVENTFD, 1, &p_ioev, 32,
	    &none, 1), -EINVAL);
	ck_assert_int_eq(ctl_send(sv[0], CTL_RESULT, 1, zeros,
	    CTL_MAX_PAYLOAD + 1, NULL, 0), -EINVAL);
	ck_assert_int_eq(ctl_recv(sv[1], &msg), -EAGAIN);
	ck_assert_int_eq(count_fds(), before);
	close_all(fds, keep, n);
}
END_TEST

START_TEST(test_take_fd)
{
	int fds[2], keep[2], a, b;
	struct ctl_msg msg;
	uint64_t v = 3;

	open_fds("ee", fds, keep);
	ck_assert_int_eq(ctl_send(sv[0], CTL_IRQFD, 1, &p_intx,
	    sizeof(p_intx), fds, 2), 0);
	ck_assert_int_eq(ctl_recv(sv[1], &msg), 0);
	a = ctl_take_fd(&msg, 1);
	ck_assert_int_ge(a, 0);
	ck_assert_int_eq(ctl_take_fd(&msg, 1), -EBADF);
	ck_assert_int_eq(ctl_take_fd(&msg, 2), -EBADF);
	b = msg.fds[0];
	ctl_msg_close(&msg);
	ctl_msg_close(&msg);
	/* The taken fd is still ours; the other one is closed. */
	ck_assert_int_eq(write(a, &v, sizeof(v)), sizeof(v));
	ck_assert_int_eq(fcntl(b, F_GETFD), -1);
	close(a);
	close_all(fds, keep, 2);
}
END_TEST

START_TEST(test_peer_closed)
{
	struct ctl_msg msg;

	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	ck_assert_int_eq(ctl_recv(sv[1], &msg), -EAGAIN);
	ck_assert_int_eq(ctl_send(sv[0], CTL_READY, 1, &p_ready,
	    sizeof(p_ready), NULL, 0), 0);
	close(sv[0]);
	/* What was sent before the close still arrives, then the end. */
	ck_assert_int_eq(ctl_recv(sv[1], &msg), 0);
	ck_assert_int_eq(ctl_recv(sv[1], &msg), -ECONNRESET);
	ck_assert_int_eq(ctl_send(sv[1], CTL_READY, 1, &p_ready,
	    sizeof(p_ready), NULL, 0), -EPIPE);
	sv[0] = open("/dev/null", O_RDONLY);
}
END_TEST

START_TEST(test_parse)
{
	struct ctl_hdr h = { CTL_READY, sizeof(p_ready), 5, 0 };
	struct ctl_ready r;
	struct ctl_msg msg;

	memcpy(pkt, &h, sizeof(h));
	memcpy(pkt + sizeof(h), &p_ready, sizeof(p_ready));
	ck_assert_int_eq(ctl_parse(pkt, 24, 0, &msg), 0);
	ck_assert_int_eq(msg.fds[0], -1);
	ck_assert_int_eq(ctl_get_ready(&msg, &r), 0);
	ck_assert_uint_eq(r.generation, 2);
	ck_assert_int_eq(ctl_parse(pkt, 24, 1, &msg), -EBADMSG);
	ck_assert_int_eq(ctl_parse(pkt, 24, CTL_MAX_FDS + 1, &msg), -EBADMSG);
	ck_assert_int_eq(ctl_parse(pkt, 23, 0, &msg), -EBADMSG);
	ck_assert_int_eq(ctl_parse(pkt, 0, 0, &msg), -EBADMSG);
	ck_assert_int_eq(msg.nfds, 0);
}
END_TEST

START_TEST(test_names)
{
	static const char *const want[] = { "?", "HELLO", "READY", "ATTACH",
	    "ATTACH_SLOTS", "ATTACH_STATE", "DEVICE", "MAP_BAR", "IOEVENTFD",
	    "IRQFD", "MSIX_ROUTE", "RESULT", "SHUTDOWN", "PROBE",
	    "PROBE_RESULT", "?" };
	static const uint32_t types[] = { 0, CTL_HELLO, CTL_READY, CTL_ATTACH,
	    CTL_ATTACH_SLOTS, CTL_ATTACH_STATE, CTL_DEVICE, CTL_MAP_BAR,
	    CTL_IOEVENTFD, CTL_IRQFD, CTL_MSIX_ROUTE, CTL_RESULT,
	    CTL_SHUTDOWN, CTL_PROBE, CTL_PROBE_RESULT, CTL_TYPE_MAX + 1 };

	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		ck_assert_str_eq(ctl_type_name(types[i]), want[i]);
	ck_assert_str_eq(ctl_probe_op_name(CTL_PROBE_OPEN_FILE), "open-file");
	ck_assert_str_eq(ctl_probe_op_name(CTL_PROBE_IO_URING), "io_uring");
	ck_assert_str_eq(ctl_probe_op_name(CTL_PROBE_NOPS), "?");
	ck_assert_str_eq(ctl_probe_outcome_name(CTL_PROBE_SECCOMP), "seccomp");
	ck_assert_str_eq(ctl_probe_outcome_name(CTL_PROBE_ALLOWED), "ALLOWED");
	ck_assert_str_eq(ctl_probe_outcome_name(0), "?");
	ck_assert_str_eq(ctl_probe_outcome_name(99), "?");
}
END_TEST

static Suite *
ctl_suite(void)
{
	Suite *s = suite_create("ctl");
	TCase *tc = tcase_create("messages");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_round_trip, 0, NRT);
	tcase_add_loop_test(tc, test_malformed, 0, NBAD);
	tcase_add_test(tc, test_send_checks);
	tcase_add_test(tc, test_take_fd);
	tcase_add_test(tc, test_peer_closed);
	tcase_add_test(tc, test_parse);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(ctl_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
