/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control channel (ctl.h, docs/ipc.md).
 *
 * Written by hand rather than with OpenBSD's imsg (libutil, not packaged
 * for Linux as a library) or libevent's buffers (byte streams, no fds):
 * on SOCK_SEQPACKET a message is one packet, so what is left is framing
 * checks and fd bookkeeping, which is this file.
 *
 * One checker serves both directions: ctl_parse() (and so ctl_recv() and
 * the fuzz target) and ctl_send(), so nothing is sent that would be
 * refused, and the typed accessors run the same field checks again on
 * their own copy.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl.h"
#include "ring.h"

#define PAGE_MASK	4095u

_Static_assert(sizeof(struct ctl_hdr) == CTL_HDR_SIZE, "header");
_Static_assert(sizeof(struct ctl_hello) == 48, "hello");
_Static_assert(sizeof(struct ctl_ready) == 8, "ready");
_Static_assert(sizeof(struct ctl_mem_region) == 32, "region");
_Static_assert(sizeof(struct ctl_attach) == 272, "attach");
_Static_assert(sizeof(struct ctl_attach_slots) == 8, "attach_slots");
_Static_assert(sizeof(struct ctl_map_bar) == 32, "map_bar");
_Static_assert(sizeof(struct ctl_ioeventfd) == 32, "ioeventfd");
_Static_assert(sizeof(struct ctl_irqfd) == 16, "irqfd");
_Static_assert(sizeof(struct ctl_msix_route) == 24, "msix_route");
_Static_assert(sizeof(struct ctl_result) == 8, "result");
_Static_assert(sizeof(struct ctl_shutdown) == 8, "shutdown");
_Static_assert(sizeof(struct ctl_device) == 616, "device");
_Static_assert(sizeof(struct ctl_attach_state) == 8, "attach_state");
_Static_assert(sizeof(struct ctl_probe) == 16, "probe");
_Static_assert(sizeof(struct ctl_probe_result) == 264, "probe_result");
_Static_assert(CTL_PROBE_NOPS <= CTL_PROBE_MAX_OPS, "probe ops");
_Static_assert(CTL_MAX_REGIONS + 2 <= CTL_MAX_FDS, "attach fds");

/* Payload size and fd count of each type; fields are checked below. */
static const struct {
	const char *name;
	uint32_t size;
	uint8_t min_fds, max_fds;
} types[CTL_TYPE_MAX + 1] = {
	[CTL_HELLO] = { "HELLO", sizeof(struct ctl_hello), 0, 0 },
	[CTL_READY] = { "READY", sizeof(struct ctl_ready), 0, 0 },
	[CTL_ATTACH] = { "ATTACH", sizeof(struct ctl_attach), 2,
	    2 + CTL_MAX_REGIONS },
	[CTL_ATTACH_SLOTS] = { "ATTACH_SLOTS",
	    sizeof(struct ctl_attach_slots), 1, CTL_MAX_FDS },
	[CTL_MAP_BAR] = { "MAP_BAR", sizeof(struct ctl_map_bar), 0, 1 },
	[CTL_IOEVENTFD] = { "IOEVENTFD", sizeof(struct ctl_ioeventfd), 1, 1 },
	[CTL_IRQFD] = { "IRQFD", sizeof(struct ctl_irqfd), 1, 2 },
	[CTL_MSIX_ROUTE] = { "MSIX_ROUTE", sizeof(struct ctl_msix_route),
	    0, 0 },
	[CTL_RESULT] = { "RESULT", sizeof(struct ctl_result), 0, 0 },
	[CTL_SHUTDOWN] = { "SHUTDOWN", sizeof(struct ctl_shutdown), 0, 0 },
	[CTL_DEVICE] = { "DEVICE", sizeof(struct ctl_device), 0, 0 },
	[CTL_ATTACH_STATE] = { "ATTACH_STATE",
	    sizeof(struct ctl_attach_state), 1, 1 },
	[CTL_PROBE] = { "PROBE", sizeof(struct ctl_probe), 0, 0 },
	[CTL_PROBE_RESULT] = { "PROBE_RESULT",
	    sizeof(struct ctl_probe_result), 0, 0 },
};

/* Any payload, aligned: the packet bytes are copied here to be checked. */
union ctl_any {
	struct ctl_hello hello;
	struct ctl_ready ready;
	struct ctl_attach attach;
	struct ctl_attach_slots attach_slots;
	struct ctl_map_bar map_bar;
	struct ctl_ioeventfd ioeventfd;
	struct ctl_irqfd irqfd;
	struct ctl_msix_route msix_route;
	struct ctl_result result;
	struct ctl_shutdown shutdown;
	struct ctl_device device;
	struct ctl_attach_state attach_state;
	struct ctl_probe probe;
	struct ctl_probe_result probe_result;
};

static bool
no_wrap(uint64_t base, uint64_t len)
{
	return base + len >= base;
}

static bool
check_hello(const struct ctl_hello *p)
{
	return p->version >= 1 && p->reserved == 0 &&
	    (p->role == CTL_ROLE_VM || p->role == CTL_ROLE_MEDIATOR) &&
	    memchr(p->name, '\0', sizeof(p->name)) != NULL;
}

static bool
check_region(const struct ctl_mem_region *r, unsigned nfds)
{
	return r->size > 0 && ((r->gpa | r->size | r->offset) & PAGE_MASK) == 0 &&
	    no_wrap(r->gpa, r->size) && no_wrap(r->offset, r->size) &&
	    r->fd_index >= 2 && r->fd_index < nfds &&
	    (r->flags & ~CTL_MEM_READONLY) == 0;
}

static bool
check_attach(const struct ctl_attach *p, unsigned nfds)
{
	static const struct ctl_mem_region zero;
	uint32_t used = 0;

	if (p->nslots == 0 || p->nslots > IOREQ_MAX_SLOTS ||
	    p->nregions > CTL_MAX_REGIONS || p->reserved[0] || p->reserved[1])
		return false;
	for (unsigned i = 0; i < CTL_MAX_REGIONS; i++) {
		const struct ctl_mem_region *r = &p->region[i];

		if (i >= p->nregions) {
			if (memcmp(r, &zero, sizeof(zero)) != 0)
				return false;
			continue;
		}
		if (!check_region(r, nfds))
			return false;
		used |= 1u << r->fd_index;
		for (unsigned j = 0; j < i; j++) {
			const struct ctl_mem_region *q = &p->region[j];

			if (r->gpa < q->gpa + q->size && q->gpa < r->gpa + r->size)
				return false;
		}
	}
	/* Every memory fd is used: an fd nobody maps is unexpected. */
	return used == (((1u << nfds) - 1) & ~3u);
}

static bool
check_map_bar(const struct ctl_map_bar *p, unsigned nfds)
{
	if (p->bar > 5 || (p->flags & ~(CTL_MAP_READONLY | CTL_MAP_UNMAP)) ||
	    p->size == 0 || ((p->bar_offset | p->fd_offset | p->size) &
	    PAGE_MASK) || !no_wrap(p->bar_offset, p->size) ||
	    !no_wrap(p->fd_offset, p->size))
		return false;
	if (p->flags & CTL_MAP_UNMAP)
		return nfds == 0 && p->fd_offset == 0 &&
		    !(p->flags & CTL_MAP_READONLY);
	return nfds == 1;
}

static bool
check_ioeventfd(const struct ctl_ioeventfd *p)
{
	if (p->index >= IOREQ_MAX_INDEX || p->reserved ||
	    (p->flags & ~(CTL_IOEVENTFD_DATAMATCH | CTL_IOEVENTFD_DEASSIGN)))
		return false;
	if (p->size != 0 && p->size != 1 && p->size != 2 && p->size != 4 &&
	    p->size != 8)
		return false;
	if (!no_wrap(p->offset, p->size))
		return false;
	/* KVM matches data only for a given access size. */
	if (p->flags & CTL_IOEVENTFD_DATAMATCH)
		return p->size != 0 && (p->size == 8 ||
		    p->datamatch >> (8 * p->size) == 0);
	return p->datamatch == 0;
}

static bool
check_irqfd(const struct ctl_irqfd *p, unsigned nfds)
{
	bool resample = p->flags & CTL_IRQFD_RESAMPLE;

	if (p->reserved ||
	    (p->flags & ~(CTL_IRQFD_DEASSIGN | CTL_IRQFD_RESAMPLE)))
		return false;
	if (p->kind == CTL_IRQ_INTX) {
		if (p->vector > 3)
			return false;
	} else if (p->kind == CTL_IRQ_MSIX) {
		if (p->vector >= CTL_MAX_MSIX || resample)
			return false;
	} else {
		return false;
	}
	return nfds == (resample ? 2u : 1u);
}

static bool
check_device(const struct ctl_device *p)
{
	for (int i = 0; i < 6; i++) {
		uint64_t sz = p->bar[i].size;

		if (p->bar[i].reserved != 0 || p->bar[i].type > CTL_BAR_MEM64)
			return false;
		if (p->bar[i].type == CTL_BAR_NONE ? sz != 0 :
		    sz == 0 || (sz & (sz - 1)) != 0)
			return false;
		if (p->bar[i].type == CTL_BAR_MEM64 && (i == 5 ||
		    p->bar[i + 1].type != CTL_BAR_NONE))
			return false;
	}
	if (p->fwd_start != 0 && (p->fwd_start < 0x40 ||
	    p->fwd_start > 0xfc || (p->fwd_start & 3) != 0))
		return false;
	if (p->layout > CTL_LAYOUT_VIRTIO || p->reserved != 0)
		return false;
	if (p->msix_bar != CTL_NO_MSIX && (p->msix_bar > 5 ||
	    p->bar[p->msix_bar].type == CTL_BAR_NONE ||
	    p->layout != CTL_LAYOUT_VIRTIO || p->msix_cap < 0x40 ||
	    p->msix_cap > 0xf4))
		return false;
	return true;
}

static bool
check_probe(const struct ctl_probe *p)
{
	return (p->ops & ~CTL_PROBE_ALL) == 0 && p->sibling_pid >= 0 &&
	    p->mem_fd >= -1 && p->reserved == 0;
}

/* Entries in op order, each op once; unused entries all zero. */
static bool
check_probe_result(const struct ctl_probe_result *p)
{
	if (p->nops > CTL_PROBE_NOPS || p->stage > 2)
		return false;
	for (unsigned i = 0; i < CTL_PROBE_MAX_OPS; i++) {
		const uint8_t *e = (const uint8_t *)&p->op[i];

		if (i >= p->nops) {
			for (size_t k = 0; k < sizeof(p->op[i]); k++)
				if (e[k] != 0)
					return false;
			continue;
		}
		if (p->op[i].op >= CTL_PROBE_NOPS || (i > 0 &&
		    p->op[i].op <= p->op[i - 1].op) ||
		    p->op[i].outcome < CTL_PROBE_SKIPPED ||
		    p->op[i].outcome > CTL_PROBE_FAILED ||
		    p->op[i].reserved != 0 || p->op[i].error < 0 ||
		    p->op[i].error > 4095)
			return false;
	}
	return true;
}

/* Field checks of a payload already sized and copied into u. */
static bool
check_fields(uint32_t type, const union ctl_any *u, unsigned nfds)
{
	switch (type) {
	case CTL_HELLO:
		return check_hello(&u->hello);
	case CTL_READY:
		return u->ready.generation > 0 &&
		    u->ready.recovered <= IOREQ_MAX_SLOTS;
	case CTL_ATTACH:
		return check_attach(&u->attach, nfds);
	case CTL_ATTACH_SLOTS:
		return u->attach_slots.count == nfds &&
		    u->attach_slots.first < IOREQ_MAX_SLOTS &&
		    nfds <= IOREQ_MAX_SLOTS - u->attach_slots.first;
	case CTL_MAP_BAR:
		return check_map_bar(&u->map_bar, nfds);
	case CTL_IOEVENTFD:
		return check_ioeventfd(&u->ioeventfd);
	case CTL_IRQFD:
		return check_irqfd(&u->irqfd, nfds);
	case CTL_MSIX_ROUTE:
		return u->msix_route.vector < CTL_MAX_MSIX &&
		    (u->msix_route.flags & ~CTL_MSIX_MASKED) == 0 &&
		    u->msix_route.reserved == 0;
	case CTL_RESULT:
		return u->result.error <= 0 && u->result.error >= -4095 &&
		    u->result.reserved == 0;
	case CTL_SHUTDOWN:
		return (u->shutdown.reason == CTL_SHUTDOWN_POWEROFF ||
		    u->shutdown.reason == CTL_SHUTDOWN_RESET) &&
		    u->shutdown.reserved == 0;
	case CTL_DEVICE:
		return check_device(&u->device);
	case CTL_ATTACH_STATE:
		return u->attach_state.size > 0 &&
		    (u->attach_state.size & PAGE_MASK) == 0;
	case CTL_PROBE:
		return check_probe(&u->probe);
	case CTL_PROBE_RESULT:
		return check_probe_result(&u->probe_result);
	}
	return false;
}

/* An empty message without fds. */
static void
msg_init(struct ctl_msg *msg)
{
	memset(&msg->hdr, 0, sizeof(msg->hdr));
	msg->nfds = 0;
	for (unsigned i = 0; i < CTL_MAX_FDS; i++)
		msg->fds[i] = -1;
}

int
ctl_parse(const void *buf, size_t len, unsigned nfds, struct ctl_msg *msg)
{
	union ctl_any u;
	struct ctl_hdr h;

	msg_init(msg);
	if (len < CTL_HDR_SIZE || len > CTL_HDR_SIZE + CTL_MAX_PAYLOAD ||
	    nfds > CTL_MAX_FDS)
		return -EBADMSG;
	memcpy(&h, buf, sizeof(h));
	if (h.len != len - CTL_HDR_SIZE || h.flags != 0 || h.type == 0 ||
	    h.type > CTL_TYPE_MAX || h.len != types[h.type].size ||
	    nfds < types[h.type].min_fds || nfds > types[h.type].max_fds)
		return -EBADMSG;
	memcpy(&u, (const uint8_t *)buf + CTL_HDR_SIZE, h.len);
	if (!check_fields(h.type, &u, nfds))
		return -EBADMSG;
	msg->hdr = h;
	memcpy(msg->payload, &u, h.len);
	msg->nfds = nfds;
	return 0;
}

static void
close_fds(const int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

int
ctl_recv(int sock, struct ctl_msg *msg)
{
	uint8_t buf[CTL_HDR_SIZE + CTL_MAX_PAYLOAD];
	union {
		struct cmsghdr align;
		/* One fd more than allowed, to tell "too many" apart. */
		char buf[CMSG_SPACE(sizeof(int) * (CTL_MAX_FDS + 1))];
	} cm;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cm.buf, .msg_controllen = sizeof(cm.buf),
	};
	int fds[CTL_MAX_FDS + 1], ret;
	unsigned nfds = 0;
	bool odd = false;
	ssize_t n;

	msg_init(msg);
	do {
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* Collect every fd first: whatever else is wrong, none may leak. */
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL;
	    c = CMSG_NXTHDR(&mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			odd = true;
			continue;
		}
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (nfds < CTL_MAX_FDS + 1)
				fds[nfds++] = fd;
			else
				close(fd);
		}
	}
	/* A SEQPACKET read of 0 bytes is the peer's close. */
	if (n == 0 && nfds == 0 && !odd && !(mh.msg_flags & MSG_CTRUNC))
		return -ECONNRESET;
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || odd)
		ret = -EBADMSG;
	else
		ret = ctl_parse(buf, (size_t)n, nfds, msg);
	if (ret < 0) {
		close_fds(fds, nfds);
		return ret;
	}
	memcpy(msg->fds, fds, nfds * sizeof(int));
	return 0;
}

int
ctl_send(int sock, uint32_t type, uint32_t id, const void *payload,
    size_t len, const int *fds, unsigned nfds)
{
	uint8_t buf[CTL_HDR_SIZE + CTL_MAX_PAYLOAD];
	struct ctl_hdr h = { .type = type, .len = (uint32_t)len, .id = id };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * CTL_MAX_FDS)];
	} cm;
	struct iovec iov = { .iov_base = buf, .iov_len = CTL_HDR_SIZE + len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct ctl_msg check;
	ssize_t n;

	if (len > CTL_MAX_PAYLOAD || nfds > CTL_MAX_FDS ||
	    (len > 0 && payload == NULL) || (nfds > 0 && fds == NULL))
		return -EINVAL;
	memcpy(buf, &h, sizeof(h));
	if (len > 0)
		memcpy(buf + CTL_HDR_SIZE, payload, len);
	if (ctl_parse(buf, CTL_HDR_SIZE + len, nfds, &check) < 0)
		return -EINVAL;
	if (nfds > 0) {
		struct cmsghdr *c;

		for (unsigned i = 0; i < nfds; i++)
			if (fds[i] < 0)
				return -EINVAL;
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == iov.iov_len ? 0 : -EIO;
}

int
ctl_socketpair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	return 0;
}

int
ctl_take_fd(struct ctl_msg *msg, unsigned i)
{
	int fd;

	if (i >= msg->nfds || msg->fds[i] < 0)
		return -EBADF;
	fd = msg->fds[i];
	msg->fds[i] = -1;
	return fd;
}

void
ctl_msg_close(struct ctl_msg *msg)
{
	for (unsigned i = 0; i < msg->nfds && i < CTL_MAX_FDS; i++) {
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
		msg->fds[i] = -1;
	}
}

const char *
ctl_type_name(uint32_t type)
{
	if (type == 0 || type > CTL_TYPE_MAX)
		return "?";
	return types[type].name;
}

static const char *const probe_ops[CTL_PROBE_NOPS] = {
	[CTL_PROBE_OPEN_FILE] = "open-file",
	[CTL_PROBE_OPEN_PROC] = "open-proc",
	[CTL_PROBE_SOCKET_INET] = "socket-inet",
	[CTL_PROBE_SOCKET_UNIX] = "socket-unix",
	[CTL_PROBE_KILL] = "kill-sibling",
	[CTL_PROBE_PTRACE] = "ptrace-sibling",
	[CTL_PROBE_PROC_MEM] = "sibling-proc-mem",
	[CTL_PROBE_VM_READ] = "sibling-vm-read",
	[CTL_PROBE_MMAP_FD] = "mmap-fd",
	[CTL_PROBE_EXEC] = "exec",
	[CTL_PROBE_CAPSET] = "capset",
	[CTL_PROBE_SETUID] = "setuid-0",
	[CTL_PROBE_MOUNT] = "mount",
	[CTL_PROBE_WRITE_ROOT] = "write-root",
	[CTL_PROBE_USERNS] = "userns",
	[CTL_PROBE_IO_URING] = "io_uring",
};

const char *
ctl_probe_op_name(uint32_t op)
{
	return op < CTL_PROBE_NOPS ? probe_ops[op] : "?";
}

const char *
ctl_probe_outcome_name(uint32_t outcome)
{
	static const char *const names[] = { "?", "skipped", "seccomp",
	    "errno", "ALLOWED", "failed" };

	return outcome <= CTL_PROBE_FAILED ? names[outcome] : "?";
}

/* The accessors' common part: type, size, then the same field checks. */
static int
get(const struct ctl_msg *msg, uint32_t type, void *out, size_t size)
{
	union ctl_any u;

	if (msg->hdr.type != type || msg->hdr.len != size ||
	    size != types[type].size || msg->nfds < types[type].min_fds ||
	    msg->nfds > types[type].max_fds)
		return -EBADMSG;
	memcpy(&u, msg->payload, size);
	if (!check_fields(type, &u, msg->nfds))
		return -EBADMSG;
	memcpy(out, &u, size);
	return 0;
}

int
ctl_get_hello(const struct ctl_msg *msg, struct ctl_hello *out)
{
	return get(msg, CTL_HELLO, out, sizeof(*out));
}

int
ctl_get_ready(const struct ctl_msg *msg, struct ctl_ready *out)
{
	return get(msg, CTL_READY, out, sizeof(*out));
}

int
ctl_get_attach(const struct ctl_msg *msg, struct ctl_attach *out)
{
	return get(msg, CTL_ATTACH, out, sizeof(*out));
}

int
ctl_get_attach_slots(const struct ctl_msg *msg, struct ctl_attach_slots *out)
{
	return get(msg, CTL_ATTACH_SLOTS, out, sizeof(*out));
}

int
ctl_get_map_bar(const struct ctl_msg *msg, struct ctl_map_bar *out)
{
	return get(msg, CTL_MAP_BAR, out, sizeof(*out));
}

int
ctl_get_ioeventfd(const struct ctl_msg *msg, struct ctl_ioeventfd *out)
{
	return get(msg, CTL_IOEVENTFD, out, sizeof(*out));
}

int
ctl_get_irqfd(const struct ctl_msg *msg, struct ctl_irqfd *out)
{
	return get(msg, CTL_IRQFD, out, sizeof(*out));
}

int
ctl_get_msix_route(const struct ctl_msg *msg, struct ctl_msix_route *out)
{
	return get(msg, CTL_MSIX_ROUTE, out, sizeof(*out));
}

int
ctl_get_result(const struct ctl_msg *msg, struct ctl_result *out)
{
	return get(msg, CTL_RESULT, out, sizeof(*out));
}

int
ctl_get_shutdown(const struct ctl_msg *msg, struct ctl_shutdown *out)
{
	return get(msg, CTL_SHUTDOWN, out, sizeof(*out));
}

int
ctl_get_device(const struct ctl_msg *msg, struct ctl_device *out)
{
	return get(msg, CTL_DEVICE, out, sizeof(*out));
}

int
ctl_get_attach_state(const struct ctl_msg *msg, struct ctl_attach_state *out)
{
	return get(msg, CTL_ATTACH_STATE, out, sizeof(*out));
}

int
ctl_get_probe(const struct ctl_msg *msg, struct ctl_probe *out)
{
	return get(msg, CTL_PROBE, out, sizeof(*out));
}

int
ctl_get_probe_result(const struct ctl_msg *msg, struct ctl_probe_result *out)
{
	return get(msg, CTL_PROBE_RESULT, out, sizeof(*out));
}
