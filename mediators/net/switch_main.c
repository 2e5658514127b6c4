/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cupule-switch: the L2 learning switch that joins the virtio-net
 * devices of a scenario's VMs, without any host networking.  The
 * supervisor starts one per switch with one SOCK_SEQPACKET socket per
 * port, whose other end goes to one VM's cupule-net; a message is one
 * frame (virtio_net_hdr_v1 + Ethernet).  One libevent loop reads at most
 * SW_BURST frames per port per pass, asks switch.c where each goes and
 * sends it there without ever waiting: a port whose socket is full loses
 * the frame (counted), so a guest that stops reading slows nobody else.
 * docs/switch.md has the whole picture.
 *
 *	cupule-switch --name=SWITCH --port-fd=N... [--port-name=N:VM/DEV]...
 *	    [--mac-entries=N] [--mac-port-entries=N] [--mac-age=SECONDS]
 *	    [--uid=N --gid=N] [--no-sandbox]
 *
 * It sandboxes itself (docs/sandbox.md, switch.policy) once its
 * arguments are read and again, narrower, just before its loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "sandbox.h"
#include "switch.h"

#define SW_SNDBUF	(256 * 1024)	/* what may wait for one slow guest */

struct swd;

struct port {
	struct swd *d;
	unsigned idx;
	int fd;			/* -1 once closed */
	int argfd;		/* the number on the command line, for logs */
	char name[64];		/* "VM/DEV", or empty */
	bool said_full;		/* its first drop for a full socket is logged */
	struct event *ev;
};

struct swd {
	char name[64];
	struct sw sw;
	struct event_base *base;
	struct port port[SW_MAX_PORTS];
	unsigned nports;	/* ports given, open or closed */
	unsigned live;		/* ports open */
	struct event *ev_term, *ev_int, *ev_dump, *ev_age;
	unsigned mac_entries, mac_port_entries;
	uint64_t mac_age_ms;
	struct sandbox_opts sbx_opt;	/* --uid, --gid, --no-sandbox */
	struct sandbox sbx;
	uint8_t buf[SW_MAX_MSG];
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* "vm1/net0 (fd 4)", or "fd 4" for a port without a name. */
static const char *
port_label(const struct port *p, char *buf, size_t size)
{
	if (p->name[0] != '\0')
		snprintf(buf, size, "%s (fd %d)", p->name, p->argfd);
	else
		snprintf(buf, size, "fd %d", p->argfd);
	return buf;
}

static void
port_log_stats(struct swd *d, const struct port *p)
{
	char label[96], line[320];

	sw_format_stats(&d->sw.stats[p->idx], line, sizeof(line));
	log_warnx("port %s%s: %s", port_label(p, label, sizeof(label)),
	    p->fd < 0 ? " (closed)" : "", line);
}

/* One line per port, then the MAC table: SIGUSR2 and exit. */
static void
swd_log_stats(struct swd *d)
{
	const struct sw_mac_stats *st = &d->sw.mac.st;

	for (unsigned i = 0; i < d->nports; i++)
		port_log_stats(d, &d->port[i]);
	log_warnx("mac table: %u of %u entries, learned=%" PRIu64
	    " moved=%" PRIu64 " evicted=%" PRIu64 " aged=%" PRIu64
	    " forgotten=%" PRIu64, sw_table_count(&d->sw.mac), d->sw.mac.cap,
	    st->learned, st->moved, st->evicted, st->aged, st->forgotten);
}

/*
 * The guest behind a port is gone (its cupule-net closed the socket or
 * died): forget the port, keep switching for the others, and stop once
 * nobody is left.
 */
static void
port_close(struct port *p, const char *why)
{
	struct swd *d = p->d;
	char label[96];

	if (p->fd < 0)
		return;
	event_free(p->ev);
	p->ev = NULL;
	close(p->fd);
	p->fd = -1;
	sw_port_remove(&d->sw, p->idx);
	d->live--;
	log_warnx("port %s: %s; removed, %u left",
	    port_label(p, label, sizeof(label)), why, d->live);
	port_log_stats(d, p);
	if (d->live == 0)
		event_base_loopbreak(d->base);
}

static bool
peer_gone(int err)
{
	return err == EPIPE || err == ECONNRESET || err == ENOTCONN ||
	    err == ECONNREFUSED;
}

/* Sends one message to every port of out, never waiting for one. */
static void
swd_forward(struct swd *d, uint64_t out, const uint8_t *msg, size_t len)
{
	while (out != 0) {
		unsigned j = (unsigned)__builtin_ctzll(out);
		struct port *q = &d->port[j];
		ssize_t n;
		int err;

		out &= out - 1;
		if (q->fd < 0)
			continue;
		n = send(q->fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		err = n < 0 ? errno : (size_t)n == len ? 0 : EIO;
		if (peer_gone(err)) {
			port_close(q, strerror(err));
			continue;
		}
		sw_tx_done(&d->sw, j, len, -err);
		/* Once per port: a guest that stops reading floods no log. */
		if (err == EAGAIN && !q->said_full) {
			char label[96];

			q->said_full = true;
			log_warnx("port %s: not reading, frames for it are "
			    "dropped (tx_dropped_full)",
			    port_label(q, label, sizeof(label)));
		} else if (err != 0 && err != EAGAIN)
			log_debug("port fd %d: %s", q->argfd, strerror(err));
	}
}

static void
on_port(evutil_socket_t fd, short what, void *arg)
{
	struct port *p = arg;
	struct swd *d = p->d;
	uint64_t now = now_ms();

	(void)what;
	/* A bounded burst, then the others' turn: the loop comes back. */
	for (int i = 0; i < SW_BURST; i++) {
		uint64_t out;
		ssize_t n;

		/* MSG_TRUNC: n is the real length, so oversize shows. */
		n = recv(fd, d->buf, sizeof(d->buf), MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				return;
			port_close(p, strerror(errno));
			return;
		}
		/* An empty message reads as EOF too: only its sender loses. */
		if (n == 0) {
			port_close(p, "closed by its peer");
			return;
		}
		switch (sw_input(&d->sw, p->idx, d->buf, (size_t)n, now,
		    &out)) {
		case SW_UNICAST:
		case SW_FLOOD:
			swd_forward(d, out, d->buf, (size_t)n);
			break;
		case SW_DROP_MALFORMED:
		case SW_DROP_SAME_PORT:
			break;	/* counted */
		}
		if (d->live == 0)
			return;
	}
}

static void
on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct swd *d = arg;

	(void)what;
	log_warnx("%s: stopping", strsignal(sig));
	event_base_loopbreak(d->base);
}

static void
on_dump(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	swd_log_stats(arg);
}

static void
on_age(evutil_socket_t fd, short what, void *arg)
{
	struct swd *d = arg;

	(void)fd;
	(void)what;
	/* Lookups ignore aged entries anyway; this gives their room back. */
	sw_table_age(&d->sw.mac, now_ms());
}

/* Parses a decimal number in [min, max] that is the whole string. */
static int
parse_uint(const char *s, long min, long max, long *v)
{
	char *end;

	errno = 0;
	*v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || *v < min || *v > max)
		return -EINVAL;
	return 0;
}

static struct port *
port_by_fd(struct swd *d, int fd)
{
	for (unsigned i = 0; i < d->nports; i++)
		if (d->port[i].argfd == fd)
			return &d->port[i];
	return NULL;
}

static int
swd_args(struct swd *d, int argc, char **argv)
{
	long v;

	/* Ports first, so that a --port-name may come before its --port-fd. */
	for (int i = 1; i < argc; i++) {
		struct port *p;

		if (strncmp(argv[i], "--port-fd=", 10) != 0)
			continue;
		if (parse_uint(argv[i] + 10, 3, INT_MAX, &v) < 0) {
			log_warnx("bad port fd in '%s'", argv[i]);
			return -EINVAL;
		}
		if (port_by_fd(d, (int)v) != NULL) {
			log_warnx("fd %ld given twice", v);
			return -EINVAL;
		}
		if (d->nports == SW_MAX_PORTS) {
			log_warnx("more than %d ports", SW_MAX_PORTS);
			return -EINVAL;
		}
		p = &d->port[d->nports];
		*p = (struct port){ .d = d, .idx = d->nports, .fd = -1,
		    .argfd = (int)v };
		d->nports++;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int taken = sandbox_option(&d->sbx_opt, a);

		if (taken < 0)
			goto bad;
		if (taken > 0 || strncmp(a, "--port-fd=", 10) == 0)
			continue;
		if (strncmp(a, "--name=", 7) == 0) {
			snprintf(d->name, sizeof(d->name), "%s", a + 7);
		} else if (strncmp(a, "--port-name=", 12) == 0) {
			const char *colon = strchr(a + 12, ':');
			struct port *p;
			char num[16];

			if (colon == NULL || colon - (a + 12) >=
			    (ptrdiff_t)sizeof(num) || colon[1] == '\0')
				goto bad;
			memcpy(num, a + 12, (size_t)(colon - (a + 12)));
			num[colon - (a + 12)] = '\0';
			if (parse_uint(num, 3, INT_MAX, &v) < 0)
				goto bad;
			if ((p = port_by_fd(d, (int)v)) == NULL) {
				log_warnx("'%s': no --port-fd=%ld", a, v);
				return -EINVAL;
			}
			snprintf(p->name, sizeof(p->name), "%s", colon + 1);
		} else if (strncmp(a, "--mac-entries=", 14) == 0) {
			if (parse_uint(a + 14, 1, SW_MAC_ENTRIES_MAX, &v) < 0)
				goto bad;
			d->mac_entries = (unsigned)v;
		} else if (strncmp(a, "--mac-port-entries=", 19) == 0) {
			if (parse_uint(a + 19, 0, SW_MAC_ENTRIES_MAX, &v) < 0)
				goto bad;
			d->mac_port_entries = (unsigned)v;
		} else if (strncmp(a, "--mac-age=", 10) == 0) {
			if (parse_uint(a + 10, 1, 86400 * 365, &v) < 0)
				goto bad;
			d->mac_age_ms = (uint64_t)v * 1000;
		} else
			goto bad;
		continue;
bad:
		log_warnx("bad argument '%s'", a);
		return -EINVAL;
	}
	if (d->nports == 0) {
		log_warnx("no --port-fd: this program is started by cupule");
		return -EINVAL;
	}
	return 0;
}

/*
 * Takes over one inherited fd: it must be a Unix SOCK_SEQPACKET socket
 * (anything else is the supervisor's bug, refused before we start).
 */
static int
port_open(struct port *p)
{
	int fd = p->argfd, type, domain, flags, sndbuf = SW_SNDBUF;
	socklen_t sl = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &sl) < 0) {
		log_warn("port fd %d", fd);
		return -errno;
	}
	sl = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &sl) < 0 ||
	    domain != AF_UNIX || type != SOCK_SEQPACKET) {
		log_warnx("port fd %d is not a Unix SOCK_SEQPACKET socket", fd);
		return -ENOTSOCK;
	}
	if ((flags = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		log_warn("port fd %d", fd);
		return -errno;
	}
	/*
	 * The send buffer is the only queue toward a guest: bounded, so
	 * that a guest that does not read costs a fixed amount of memory
	 * and then drops.  The kernel may clamp it; that is bounded too.
	 */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) < 0)
		log_warn("port fd %d: SO_SNDBUF", fd);
	p->fd = fd;
	return 0;
}

static uint64_t
hash_seed(void)
{
	uint64_t seed;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == sizeof(seed))
		return seed;
	return now_ms() * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
}

/*
 * Stage 1 of the sandbox (sandbox.h) once the arguments are read, before
 * the ports are touched.  Returns 0 or an exit status.
 */
static int
swd_sandbox(struct swd *d, const char *program)
{
	char who[80];
	int ret = 0;

	snprintf(who, sizeof(who), "switch %s", d->name);
	if (d->sbx_opt.disabled) {
		log_warnx("SANDBOX DISABLED (--no-sandbox): for debugging only, "
		    "this switch has every privilege of its parent");
		sandbox_init(&d->sbx, NULL, &d->sbx_opt, who);
	} else
		ret = sandbox_load(&d->sbx, program, &d->sbx_opt, who);
	if (ret == 0)
		ret = sandbox_setup(&d->sbx);
	if (ret < 0) {
		log_warnx("%s", d->sbx.error);
		return 1;
	}
	return 0;
}

/* Stage 2, just before the loop; logs what the sandbox is. */
static int
swd_sandbox_serve(struct swd *d)
{
	char line[512];

	if (sandbox_serve(&d->sbx) < 0) {
		log_warnx("%s", d->sbx.error);
		return 1;
	}
	sandbox_report_line(&d->sbx.rep, line, sizeof(line));
	log_warnx("%s", line);
	return 0;
}

/* Frees what main() set up, however far it got. */
static void
swd_free(struct swd *d)
{
	struct event *ev[] = { d->ev_term, d->ev_int, d->ev_dump, d->ev_age };

	for (unsigned i = 0; i < d->nports; i++) {
		if (d->port[i].ev != NULL)
			event_free(d->port[i].ev);
		if (d->port[i].fd >= 0)
			close(d->port[i].fd);
	}
	for (size_t i = 0; i < sizeof(ev) / sizeof(ev[0]); i++)
		if (ev[i] != NULL)
			event_free(ev[i]);
	if (d->base != NULL)
		event_base_free(d->base);
	sw_fini(&d->sw);
	sandbox_free(&d->sbx);
	free(d);
}

/* Opens the ports and sets the loop up.  Returns 0 or an exit status. */
static int
swd_setup(struct swd *d)
{
	struct timeval sec = { 1, 0 };
	int ret;

	for (unsigned i = 0; i < d->nports; i++)
		if (port_open(&d->port[i]) < 0)
			return 2;
	if ((ret = sw_init(&d->sw, d->mac_entries, d->mac_port_entries,
	    d->mac_age_ms, hash_seed())) < 0) {
		log_warnx("MAC table: %s", strerror(-ret));
		return 1;
	}
	if ((d->base = event_base_new()) == NULL) {
		log_warnx("cannot create the event loop");
		return 1;
	}
	for (unsigned i = 0; i < d->nports; i++) {
		struct port *p = &d->port[i];

		p->ev = event_new(d->base, p->fd, EV_READ | EV_PERSIST,
		    on_port, p);
		if (p->ev == NULL || event_add(p->ev, NULL) < 0 ||
		    sw_port_add(&d->sw, i) < 0) {
			log_warnx("cannot watch port fd %d", p->argfd);
			return 1;
		}
		d->live++;
	}
	d->ev_term = evsignal_new(d->base, SIGTERM, on_stop, d);
	d->ev_int = evsignal_new(d->base, SIGINT, on_stop, d);
	d->ev_dump = evsignal_new(d->base, SIGUSR2, on_dump, d);
	d->ev_age = event_new(d->base, -1, EV_PERSIST, on_age, d);
	if (d->ev_term == NULL || d->ev_int == NULL || d->ev_dump == NULL ||
	    d->ev_age == NULL || event_add(d->ev_term, NULL) < 0 ||
	    event_add(d->ev_int, NULL) < 0 || event_add(d->ev_dump, NULL) < 0 ||
	    event_add(d->ev_age, &sec) < 0) {
		log_warnx("cannot set up the event loop");
		return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct swd *d;
	char prefix[96];
	int status;

	/* Logs go to the supervisor's pipe: losing it must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if ((d = calloc(1, sizeof(*d))) == NULL)
		fatalx("out of memory");
	d->mac_entries = SW_MAC_ENTRIES;
	d->mac_port_entries = SW_MAC_PORT_ENTRIES;
	d->mac_age_ms = SW_MAC_AGE_MS;
	sandbox_opts_init(&d->sbx_opt);
	log_set_prefix("cupule: switch");
	if (swd_args(d, argc, argv) < 0) {
		swd_free(d);
		return 2;
	}
	if (d->name[0] != '\0') {
		snprintf(prefix, sizeof(prefix), "cupule: switch %s", d->name);
		log_set_prefix(prefix);
	}
	if ((status = swd_sandbox(d, argv[0])) != 0 ||
	    (status = swd_setup(d)) != 0 ||
	    (status = swd_sandbox_serve(d)) != 0) {
		swd_free(d);
		return status;
	}
	log_info("%u ports", d->nports);

	if (event_base_dispatch(d->base) < 0) {
		log_warnx("event loop failed");
		status = 1;
	}
	if (d->live == 0)
		log_warnx("every port is gone: stopping");
	swd_log_stats(d);
	swd_free(d);
	return status;
}
