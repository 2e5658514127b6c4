/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the control-message parser.
 *
 * Input: one byte giving the number of fds that "came with" the packet
 * (0..CTL_MAX_FDS+1), then the packet.  Checked properties:
 *  - ctl_parse() never crashes, and accepts only what exactly one typed
 *    accessor (the one of its type) also accepts;
 *  - whatever it accepts, ctl_send() accepts too, and the message comes
 *    back through a real socket pair byte for byte with as many fds.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

/* Sends msg again (with copies of stdin as its fds) and receives it. */
static void
resend(const struct ctl_msg *msg)
{
	static int sv[2] = { -1, -1 };
	int fds[CTL_MAX_FDS];
	struct ctl_msg back;

	if (sv[0] < 0 && ctl_socketpair(sv) < 0)
		abort();
	for (unsigned i = 0; i < msg->nfds; i++)
		fds[i] = STDIN_FILENO;
	if (ctl_send(sv[0], msg->hdr.type, msg->hdr.id, msg->payload,
	    msg->hdr.len, fds, msg->nfds) != 0)
		abort();
	if (ctl_recv(sv[1], &back) != 0 || back.nfds != msg->nfds ||
	    memcmp(&back.hdr, &msg->hdr, sizeof(back.hdr)) != 0 ||
	    memcmp(back.payload, msg->payload, msg->hdr.len) != 0)
		abort();
	ctl_msg_close(&back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ctl_msg msg;
	uint8_t out[CTL_MAX_PAYLOAD];
	unsigned nfds;
	int ok;

	if (size < 1)
		return 0;
	nfds = data[0] % (CTL_MAX_FDS + 2);
	ok = ctl_parse(data + 1, size - 1, nfds, &msg) == 0;
	for (uint32_t t = 0; t <= CTL_TYPE_MAX + 1; t++) {
		int r = get_any(&msg, t, out);

		if (r != 0 && r != -EBADMSG)
			abort();
		if ((r == 0) != (ok && t == msg.hdr.type))
			abort();
	}
	if (!ok) {
		if (msg.nfds != 0 || msg.hdr.type != 0)
			abort();
		return 0;
	}
	if (msg.nfds != nfds || msg.hdr.len != size - 1 - CTL_HDR_SIZE ||
	    msg.fds[0] != -1)
		abort();
	resend(&msg);
	return 0;
}
