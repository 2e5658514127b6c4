/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "runtime.h"
#include "sandbox.h"

void
med_log(const struct med *m, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "cupule: %s: %s\r\n", m->name[0] ? m->name :
	    "mediator", msg);
}

void
med_exit(struct med *m, int status)
{
	m->status = status;
	event_base_loopbreak(m->base);
}

static const char *const fault_name[MED_FAULT_NPOINTS] = {
	[MED_FAULT_MMIO] = "mmio", [MED_FAULT_RECORD] = "record",
	[MED_FAULT_AVAIL] = "avail", [MED_FAULT_BACKEND] = "backend",
	[MED_FAULT_ELEM] = "elem", [MED_FAULT_COMMIT] = "commit",
	[MED_FAULT_USED] = "used", [MED_FAULT_IRQ] = "irq",
};

void
med_fault_hit(struct med *m)
{
	if (--m->fault_left > 0)
		return;
	med_log(m, "fault point '%s' reached: SIGKILL", fault_name[m->fault]);
	raise(SIGKILL);
	_exit(128 + SIGKILL);	/* not reached */
}

/* --fault=NAME:N, N >= 1.  Returns 0, or -EINVAL with the reason logged. */
static int
med_fault_arg(struct med *m, const struct med_ops *ops, const char *arg)
{
	uint32_t reach = ops->faults | MED_FAULT_BIT(MED_FAULT_MMIO);
	const char *colon = strchr(arg, ':');
	unsigned long n;
	char *end;
	unsigned p;

	for (p = MED_FAULT_NONE + 1; p < MED_FAULT_NPOINTS; p++)
		if (colon != NULL && strlen(fault_name[p]) ==
		    (size_t)(colon - arg) && strncmp(arg, fault_name[p],
		    (size_t)(colon - arg)) == 0)
			break;
	if (p == MED_FAULT_NPOINTS) {
		med_log(m, "--fault=%s: unknown fault point (want NAME:N, NAME "
		    "one of mmio record avail backend elem commit used irq)",
		    arg);
		return -EINVAL;
	}
	errno = 0;
	n = strtoul(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || n == 0 ||
	    colon[1] == '-') {
		med_log(m, "--fault=%s: N must be a number from 1", arg);
		return -EINVAL;
	}
	if (!(reach & MED_FAULT_BIT(p))) {
		med_log(m, "--fault=%s: this mediator never reaches '%s'", arg,
		    fault_name[p]);
		return -EINVAL;
	}
	m->fault = p;
	m->fault_left = n;
	return 0;
}

/* Receives one message, closing it and failing on anything unexpected. */
static int
med_recv(struct med *m, struct ctl_msg *msg, uint32_t type)
{
	int ret = ctl_recv(m->ctl, msg);

	if (ret < 0)
		return ret;
	if (msg->hdr.type != type) {
		med_log(m, "expected %s, got %s", ctl_type_name(type),
		    ctl_type_name(msg->hdr.type));
		ctl_msg_close(msg);
		return -EPROTO;
	}
	return 0;
}

int
med_call(struct med *m, uint32_t type, const void *payload, size_t len,
    const int *fds, unsigned nfds)
{
	uint32_t id = m->next_id++;
	struct ctl_result res;
	struct ctl_msg msg;
	int ret;

	if ((ret = ctl_send(m->ctl, type, id, payload, len, fds, nfds)) < 0)
		return ret;
	/*
	 * The VM process answers requests in order and sends nothing else
	 * unasked but SHUTDOWN, which cannot come before our RESULT.
	 */
	if ((ret = med_recv(m, &msg, CTL_RESULT)) < 0)
		return ret;
	ret = ctl_get_result(&msg, &res);
	ctl_msg_close(&msg);
	if (ret < 0)
		return ret;
	if (msg.hdr.id != id)
		return -EPROTO;
	return res.error;
}

int
med_eventfd_call(struct med *m, uint32_t type, const void *p, size_t len,
    int *fd_out)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), ret;

	if (fd < 0)
		return -errno;
	if ((ret = med_call(m, type, p, len, &fd, 1)) < 0) {
		close(fd);
		return ret;
	}
	*fd_out = fd;
	return 0;
}

int
med_intx_irqfd(struct med *m, int *irq_fd, int *resample_fd)
{
	struct ctl_irqfd irq = { .kind = CTL_IRQ_INTX, .vector = 0,
	    .flags = CTL_IRQFD_RESAMPLE };
	int fds[2], ret = 0;

	fds[0] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fds[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fds[0] >= 0 && fds[1] >= 0 &&
	    (ret = med_call(m, CTL_IRQFD, &irq, sizeof(irq), fds, 2)) == 0) {
		*irq_fd = fds[0];
		*resample_fd = fds[1];
		return 0;
	}
	if (fds[0] < 0 || fds[1] < 0)
		ret = -errno;
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	return ret;
}

static int
med_map_memory(struct med *m, struct ctl_msg *msg, const struct ctl_attach *a)
{
	for (uint32_t i = 0; i < a->nregions; i++) {
		const struct ctl_mem_region *r = &a->region[i];
		void *p = mmap(NULL, r->size, PROT_READ | PROT_WRITE,
		    MAP_SHARED, msg->fds[r->fd_index], (off_t)r->offset);

		if (p == MAP_FAILED)
			return -errno;
		m->mem.r[i] = (struct gmem_region){ r->gpa, r->size, p };
		m->mem.n = (int)i + 1;
	}
	return 0;
}

/* HELLO both ways, then ATTACH, ATTACH_STATE and ATTACH_SLOTS. */
static int
med_attach(struct med *m)
{
	struct ctl_hello hello = { .version = CTL_VERSION,
	    .role = CTL_ROLE_MEDIATOR, .ring_version = IOREQ_VERSION };
	int done[IOREQ_MAX_SLOTS], kick, memfd, sfd;
	struct ctl_attach_slots sl;
	struct ctl_attach_state st;
	struct ctl_attach at;
	struct ctl_msg msg;
	unsigned ndone = 0;
	char why[128];
	int ret;

	snprintf(hello.name, sizeof(hello.name), "%.31s", m->name);
	if ((ret = ctl_send(m->ctl, CTL_HELLO, m->next_id++, &hello,
	    sizeof(hello), NULL, 0)) < 0)
		return ret;
	if ((ret = med_recv(m, &msg, CTL_HELLO)) < 0)
		return ret;
	ret = ctl_get_hello(&msg, &hello);
	ctl_msg_close(&msg);
	if (ret < 0 || hello.version != CTL_VERSION ||
	    hello.ring_version != IOREQ_VERSION) {
		med_log(m, "the VM process speaks another protocol");
		return -EPROTO;
	}

	if ((ret = med_recv(m, &msg, CTL_ATTACH)) < 0)
		return ret;
	if ((ret = ctl_get_attach(&msg, &at)) == 0)
		ret = med_map_memory(m, &msg, &at);
	memfd = ctl_take_fd(&msg, 0);
	kick = ctl_take_fd(&msg, 1);
	ctl_msg_close(&msg);	/* the memory stays mapped */
	if (ret < 0)
		return ret;

	if ((ret = med_recv(m, &msg, CTL_ATTACH_STATE)) < 0)
		return ret;
	ret = ctl_get_attach_state(&msg, &st);
	sfd = ctl_take_fd(&msg, 0);
	ctl_msg_close(&msg);
	if (ret < 0)
		return ret;
	m->state = mmap(NULL, st.size, PROT_READ | PROT_WRITE, MAP_SHARED, sfd,
	    0);
	close(sfd);
	if (m->state == MAP_FAILED)
		return -errno;
	m->state_size = st.size;

	while (ndone < at.nslots) {
		if ((ret = med_recv(m, &msg, CTL_ATTACH_SLOTS)) < 0)
			return ret;
		ret = ctl_get_attach_slots(&msg, &sl);
		if (ret == 0 && sl.first != ndone)
			ret = -EPROTO;
		for (unsigned i = 0; ret == 0 && i < sl.count; i++)
			done[ndone++] = ctl_take_fd(&msg, i);
		ctl_msg_close(&msg);
		if (ret < 0)
			return ret;
	}
	ret = ioreq_ring_attach(&m->ring, memfd, kick, done, ndone, why,
	    sizeof(why));
	if (ret < 0)
		med_log(m, "cannot attach the ring: %s", why);
	return ret;
}

/* Takes and serves every pending request.  Called from the loop. */
static void
med_serve(struct med *m, const struct med_ops *ops, void *dev)
{
	struct ioreq req;
	unsigned slot;

	do {
		while (ioreq_take(&m->ring, &slot, &req) == 0) {
			uint64_t val = 0;

			ops->ioreq(m, dev, slot, &req, &val);
			med_fault(m, MED_FAULT_MMIO);
			ioreq_complete(&m->ring, slot, val);
		}
		/* Sleep only once a later submit is sure to kick us. */
	} while (ioreq_arm(&m->ring) == -EAGAIN);
}

struct med_loop_ctx {
	struct med *m;
	const struct med_ops *ops;
	void *dev;
};

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct med_loop_ctx *c = arg;

	(void)fd;
	(void)what;
	ioreq_disarm(&c->m->ring);
	med_serve(c->m, c->ops, c->dev);
}

/* ---- the sandbox (sandbox.h, docs/sandbox.md) ----------------------- */

/* Stage 1, before the first control message: the process has only fds. */
static int
med_sandbox_enter(struct med *m, struct sandbox *sbx, const char *program,
    const struct sandbox_opts *o)
{
	int ret = 0;

	m->sbx = sbx;
	if (o->disabled) {
		med_log(m, "SANDBOX DISABLED (--no-sandbox): for debugging "
		    "only, this mediator has every privilege of its parent");
		sandbox_init(sbx, NULL, o, m->name);
	} else
		ret = sandbox_load(sbx, program, o, m->name);
	if (ret == 0)
		ret = sandbox_setup(sbx);
	if (ret < 0)
		med_log(m, "%s", sbx->error);
	return ret;
}

/* Stage 2, just before READY, which thus means "serving, narrowed". */
static int
med_sandbox_serve(struct med *m)
{
	char line[512];
	int ret = sandbox_serve(m->sbx);

	if (ret < 0) {
		med_log(m, "%s", m->sbx->error);
		return ret;
	}
	sandbox_report_line(&m->sbx->rep, line, sizeof(line));
	med_log(m, "%s", line);
	return 0;
}

/* CTL_PROBE: tries what the sandbox forbids, answers PROBE_RESULT. */
static void
med_probe(struct med *m, const struct ctl_msg *msg)
{
	struct ctl_probe_result res;
	struct ctl_probe req;
	char bad[192] = "";
	int ret;

	if ((ret = ctl_get_probe(msg, &req)) == 0)
		ret = sandbox_probe(&req, m->sbx->rep.stage, &res);
	if (ret < 0) {
		med_log(m, "probe: %s", strerror(-ret));
		return;
	}
	for (uint32_t i = 0; i < res.nops; i++)
		if (res.op[i].outcome == CTL_PROBE_ALLOWED ||
		    res.op[i].outcome == CTL_PROBE_FAILED)
			snprintf(bad + strlen(bad), sizeof(bad) - strlen(bad),
			    " %s:%s", ctl_probe_op_name(res.op[i].op),
			    ctl_probe_outcome_name(res.op[i].outcome));
	med_log(m, "probe: %u operations at stage %u:%s", res.nops, res.stage,
	    bad[0] != '\0' ? bad : " every one refused");
	if ((ret = ctl_send(m->ctl, CTL_PROBE_RESULT, msg->hdr.id, &res,
	    sizeof(res), NULL, 0)) < 0)
		med_log(m, "PROBE_RESULT: %s", strerror(-ret));
}

static void
on_ctl(evutil_socket_t fd, short what, void *arg)
{
	struct med_loop_ctx *c = arg;
	struct ctl_msg msg;
	int ret;

	(void)fd;
	(void)what;
	ret = ctl_recv(c->m->ctl, &msg);
	if (ret == -EAGAIN)
		return;
	if (ret == 0 && msg.hdr.type == CTL_PROBE) {
		med_probe(c->m, &msg);
		ctl_msg_close(&msg);
		return;
	}
	if (ret < 0 || msg.hdr.type == CTL_SHUTDOWN) {
		if (ret == 0)
			ctl_msg_close(&msg);
		if (c->ops->stop != NULL)
			c->ops->stop(c->m, c->dev);
		med_exit(c->m, 0);
		return;
	}
	med_log(c->m, "unexpected %s message", ctl_type_name(msg.hdr.type));
	ctl_msg_close(&msg);
}

/* The supervisor watches this counter: it moves while the loop turns. */
static void
on_beat(evutil_socket_t fd, short what, void *arg)
{
	struct med *m = arg;

	(void)fd;
	(void)what;
	ioreq_heartbeat(&m->ring);
}

static void
on_dump(evutil_socket_t sig, short what, void *arg)
{
	struct med_loop_ctx *c = arg;
	struct ioreq_stats st;

	(void)sig;
	(void)what;
	ioreq_ring_stats(&c->m->ring, &st);
	med_log(c->m, "ring: generation %u recoveries %u bad %llu",
	    st.generation, st.recoveries, (unsigned long long)st.bad);
	if (c->ops->dump != NULL)
		c->ops->dump(c->m, c->dev);
}

int
med_main(int argc, char **argv, const struct med_ops *ops, void *dev)
{
	struct med m = { .ctl = -1 };
	struct med_loop_ctx c = { &m, ops, dev };
	struct ctl_ready rd = { 0 };
	struct ioreq_stats st;
	struct sandbox_opts sopt;
	struct sandbox sbx;
	unsigned beat_ms = 0;
	int ret;

	sandbox_opts_init(&sopt);

	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--ctl-fd=", 9) == 0)
			m.ctl = atoi(argv[i] + 9);
		else if (strncmp(argv[i], "--heartbeat-ms=", 15) == 0)
			beat_ms = (unsigned)strtoul(argv[i] + 15, NULL, 10);
		else if (strncmp(argv[i], "--name=", 7) == 0)
			snprintf(m.name, sizeof(m.name), "%s", argv[i] + 7);
		else if (strncmp(argv[i], "--fault=", 8) == 0) {
			if (med_fault_arg(&m, ops, argv[i] + 8) < 0)
				return 2;
		} else if ((ret = sandbox_option(&sopt, argv[i])) != 0) {
			if (ret < 0) {
				med_log(&m, "bad argument '%s'", argv[i]);
				return 2;
			}
		} else if (ops->arg == NULL || ops->arg(&m, dev, argv[i]) < 0) {
			med_log(&m, "bad argument '%s'", argv[i]);
			return 2;
		}
	}
	{
		char prefix[80];

		snprintf(prefix, sizeof(prefix), "cupule: %s", m.name);
		log_set_prefix(prefix);
	}
	if (m.ctl < 0) {
		med_log(&m, "no --ctl-fd: this program is started by cupule");
		return 2;
	}
	if (med_sandbox_enter(&m, &sbx, argv[0], &sopt) < 0)
		return 1;
	if ((ret = med_attach(&m)) < 0) {
		med_log(&m, "attach failed: %s", strerror(-ret));
		return 1;
	}
	/* The device registers its own events (ioeventfds, I/O) in start. */
	m.base = event_base_new();
	if (m.base == NULL)
		return 1;
	if ((ret = ops->start(&m, dev)) < 0) {
		med_log(&m, "device start failed: %s", strerror(-ret));
		return 1;
	}
	m.ev_kick = event_new(m.base, m.ring.kick_fd, EV_READ | EV_PERSIST,
	    on_kick, &c);
	m.ev_ctl = event_new(m.base, m.ctl, EV_READ | EV_PERSIST, on_ctl, &c);
	m.ev_dump = evsignal_new(m.base, SIGUSR2, on_dump, &c);
	event_add(m.ev_kick, NULL);
	event_add(m.ev_ctl, NULL);
	event_add(m.ev_dump, NULL);
	if (beat_ms > 0) {
		struct timeval tv = { beat_ms / 1000, beat_ms % 1000 * 1000 };

		m.ev_beat = event_new(m.base, -1, EV_PERSIST, on_beat, &m);
		if (m.ev_beat == NULL || event_add(m.ev_beat, &tv) < 0)
			return 1;
		ioreq_heartbeat(&m.ring);
	}
	ioreq_ring_stats(&m.ring, &st);
	rd.generation = st.generation;
	rd.recovered = st.recoveries;
	if (med_sandbox_serve(&m) < 0)
		return 1;
	if ((ret = ctl_send(m.ctl, CTL_READY, m.next_id++, &rd, sizeof(rd),
	    NULL, 0)) < 0) {
		med_log(&m, "READY: %s", strerror(-ret));
		return 1;
	}
	m.ready = true;
	/* Requests may have waited for us (a takeover): serve them now. */
	med_serve(&m, ops, dev);
	event_base_dispatch(m.base);
	event_free(m.ev_kick);
	event_free(m.ev_ctl);
	event_free(m.ev_dump);
	if (m.ev_beat != NULL)
		event_free(m.ev_beat);
	event_base_free(m.base);
	ioreq_ring_close(&m.ring);
	sandbox_free(&sbx);
	return m.status;
}
