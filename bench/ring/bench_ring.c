/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench-ring: round trip of one request through the ioreq ring between
 * two processes, beside the floors measured in the same run.
 *
 *	bench-ring [-n ROUNDS] [-c SECONDS] [-s SWEEP_ROUNDS]
 *
 * Table 1: median and p99 of ROUNDS round trips (default 200000) for the
 * ring with spin-only, eventfd-only and adaptive waiting, and for the
 * floors (eventfd ping-pong, shared cache-line ping-pong), each with both
 * processes on one CPU and on two.  A cell stops early after SECONDS
 * (default 3): spinning on a shared CPU needs a time slice per round.
 *
 * Table 2 (skipped with -s 0): the spin budget against a vCPU that runs
 * guest code for a while between requests, across CPUs: latency, and CPU
 * time spent per request by each side.  This is how the default budget
 * was chosen.
 *
 * Figures are ns and include one clock read (printed).  Not a test: it
 * prints whatever it measures and exits 0 unless it cannot run.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ring.h"

#define STOP_ADDR	0xdead0000u
#define DASHES		"----------------------------------------"

enum kind { K_EVENTFD, K_CACHELINE, K_RING };

struct cell {
	enum kind kind;
	uint64_t spin_ns;	/* K_RING: both sides' budget */
	uint64_t gap_ns;	/* guest time between requests */
};

struct result {
	unsigned n;
	uint64_t med, p99;
	double mean;
	double vm_cpu_ns, med_cpu_ns;	/* per request */
};

static unsigned rounds = 200000, sweep_rounds = 20000;
static double cap_s = 3;
static int cpus[2];

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		perror("sched_setaffinity");
		exit(1);
	}
}

static double
cpu_ns(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
}

static void
busy(uint64_t ns)
{
	uint64_t end = now_ns() + ns;

	while (ns > 0 && now_ns() < end)
		;
}

static void
relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Shared by both processes for the eventfd and cache-line floors. */
static int efd[2];
static uint64_t *line;
static struct ioreq_ring ring;

static void
serve(const struct cell *c)
{
	struct ioreq_ring m;
	struct ioreq req;
	unsigned slot;
	uint64_t v;

	switch (c->kind) {
	case K_EVENTFD:
		for (;;) {
			if (read(efd[0], &v, sizeof(v)) != sizeof(v) || v > 1)
				_exit(0);
			if (write(efd[1], &v, sizeof(v)) != sizeof(v))
				_exit(1);
		}
	case K_CACHELINE:
		for (;;) {
			v = __atomic_load_n(line, __ATOMIC_ACQUIRE);
			if (v == UINT64_MAX)
				_exit(0);
			if (v & 1)
				__atomic_store_n(line, v + 1, __ATOMIC_RELEASE);
			else
				relax();
		}
	case K_RING:
		if (ioreq_ring_attach(&m, ring.memfd, ring.kick_fd,
		    ring.done_fd, ring.nslots, NULL, 0) < 0)
			_exit(1);
		for (;;) {
			if (ioreq_wait_pending(&m, c->spin_ns) < 0)
				_exit(1);
			while (ioreq_take(&m, &slot, &req) == 0) {
				ioreq_complete(&m, slot, req.data * 3 + req.addr);
				if (req.addr == STOP_ADDR)
					_exit(0);
			}
		}
	}
	_exit(1);
}

/* One round trip from the VM side; returns 0 if the answer is right. */
static int
round_trip(const struct cell *c, uint64_t i)
{
	struct ioreq req = { .type = IOREQ_MMIO, .size = 8,
	    .dir = IOREQ_READ, .addr = 0x100 };
	uint64_t v = 1;

	switch (c->kind) {
	case K_EVENTFD:
		return write(efd[0], &v, sizeof(v)) != sizeof(v) ||
		    read(efd[1], &v, sizeof(v)) != sizeof(v);
	case K_CACHELINE:
		__atomic_store_n(line, 2 * i + 1, __ATOMIC_RELEASE);
		while (__atomic_load_n(line, __ATOMIC_ACQUIRE) != 2 * i + 2)
			relax();
		return 0;
	case K_RING:
		req.dir = IOREQ_WRITE;
		req.data = i;
		if (ioreq_submit(&ring, 0, &req) < 0 ||
		    ioreq_wait_complete(&ring, 0, c->spin_ns, &v) < 0)
			return 1;
		return v != 0;
	}
	return 1;
}

static void
stop(const struct cell *c, pid_t pid)
{
	struct ioreq req = { .type = IOREQ_MMIO, .size = 8,
	    .dir = IOREQ_WRITE, .addr = STOP_ADDR };
	uint64_t v = 2;
	int status;

	switch (c->kind) {
	case K_EVENTFD:
		if (write(efd[0], &v, sizeof(v)) != sizeof(v))
			kill(pid, SIGKILL);
		break;
	case K_CACHELINE:
		__atomic_store_n(line, UINT64_MAX, __ATOMIC_RELEASE);
		break;
	case K_RING:
		ioreq_submit(&ring, 0, &req);
		ioreq_wait_complete(&ring, 0, 0, &v);
		break;
	}
	waitpid(pid, &status, 0);
}

static void
run(const struct cell *c, int same, unsigned n, struct result *r)
{
	uint64_t *t = calloc(n, sizeof(*t)), start, t0, i;
	unsigned warm = n / 20 < 1000 ? n / 20 : 1000;
	double vm0, med0, vm1;
	pid_t pid;

	if (t == NULL) {
		perror("calloc");
		exit(1);
	}
	memset(r, 0, sizeof(*r));
	if (c->kind == K_RING && ioreq_ring_create(&ring, 1) < 0) {
		perror("ioreq_ring_create");
		exit(1);
	}
	efd[0] = eventfd(0, 0);
	efd[1] = eventfd(0, 0);
	*line = 0;
	med0 = cpu_ns(RUSAGE_CHILDREN);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		pin(cpus[same ? 0 : 1]);
		serve(c);
	}
	pin(cpus[0]);
	start = now_ns();
	for (i = 0; i < warm && now_ns() - start < cap_s * 1e8; i++)
		round_trip(c, i);
	vm0 = cpu_ns(RUSAGE_SELF);
	start = now_ns();
	for (; r->n < n; i++) {
		t0 = now_ns();
		if (round_trip(c, i)) {
			fprintf(stderr, "bench-ring: wrong answer\n");
			exit(1);
		}
		t[r->n++] = now_ns() - t0;
		if (now_ns() - start > (uint64_t)(cap_s * 1e9))
			break;
		busy(c->gap_ns);
	}
	vm1 = cpu_ns(RUSAGE_SELF);
	stop(c, pid);
	for (unsigned j = 0; j < r->n; j++)
		r->mean += (double)t[j] / r->n;
	qsort(t, r->n, sizeof(*t), cmp_u64);
	r->med = t[r->n / 2];
	r->p99 = t[(uint64_t)r->n * 99 / 100];
	/* The vCPU's busy gap is guest time, not the ring's. */
	r->vm_cpu_ns = (vm1 - vm0) / r->n - (double)c->gap_ns;
	if (r->vm_cpu_ns < 0)
		r->vm_cpu_ns = 0;
	r->med_cpu_ns = (cpu_ns(RUSAGE_CHILDREN) - med0) / (r->n + warm);
	if (c->kind == K_RING)
		ioreq_ring_close(&ring);
	close(efd[0]);
	close(efd[1]);
	free(t);
}

static void
fmt_ns(char *buf, size_t len, uint64_t ns)
{
	if (ns < 10000)
		snprintf(buf, len, "%" PRIu64, ns);
	else
		snprintf(buf, len, "%.1fk", ns / 1000.0);
}

static void
cell_text(char *buf, size_t len, const struct result *r, unsigned n)
{
	char a[16], b[16], m[16], c[24] = "";

	fmt_ns(a, sizeof(a), r->med);
	fmt_ns(b, sizeof(b), r->p99);
	fmt_ns(m, sizeof(m), (uint64_t)r->mean);
	if (r->n < n)
		snprintf(c, sizeof(c), " (n=%u)", r->n);
	snprintf(buf, len, "%s / %s / %s%s", a, b, m, c);
}

static void
table1(void)
{
	static const struct {
		const char *name;
		struct cell c;
	} rows[] = {
		{ "floor: eventfd ping-pong", { K_EVENTFD, 0, 0 } },
		{ "floor: cache-line spin", { K_CACHELINE, 0, 0 } },
		{ "ring: spin only", { K_RING, IOREQ_SPIN_FOREVER, 0 } },
		{ "ring: eventfd only", { K_RING, 0, 0 } },
		{ "ring: adaptive (default)", { K_RING, IOREQ_SPIN_DEFAULT_NS,
		    0 } },
	};
	struct result r;
	char same[64], cross[64];

	printf("Round trip, ns: median / p99 / mean over %u (n: fewer, the "
	    "cell's %.0f s cap); CPUs %d and %d\n\n", rounds, cap_s, cpus[0],
	    cpus[1]);
	printf("| %-26s | %-32s | %-32s |\n", "", "same CPU", "cross CPU");
	printf("|%.28s|%.34s|%.34s|\n", DASHES, DASHES, DASHES);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		run(&rows[i].c, 1, rounds, &r);
		cell_text(same, sizeof(same), &r, rounds);
		run(&rows[i].c, 0, rounds, &r);
		cell_text(cross, sizeof(cross), &r, rounds);
		printf("| %-26s | %-32s | %-32s |\n", rows[i].name, same,
		    cross);
		fflush(stdout);
	}
}

static void
table2(void)
{
	static const uint64_t spins[] = { 0, 2000, 10000, 25000, 50000,
	    100000, 200000 };
	static const uint64_t gaps[] = { 0, 20000, 100000 };
	struct result r;

	printf("\nSpin budget against guest time between requests, cross "
	    "CPU, %u rounds:\nmedian / p99 / mean ns, and CPU ns per request spent "
	    "by the vCPU thread (outside guest time) and the mediator\n\n",
	    sweep_rounds);
	printf("| %-8s | %-8s | %-26s | %-9s | %-9s |\n", "budget",
	    "gap", "median / p99 / mean", "vCPU cpu", "med. cpu");
	printf("|----------|----------|----------------------------|"
	    "-----------|-----------|\n");
	for (size_t g = 0; g < sizeof(gaps) / sizeof(gaps[0]); g++) {
		for (size_t s = 0; s < sizeof(spins) / sizeof(spins[0]); s++) {
			struct cell c = { K_RING, spins[s], gaps[g] };
			char lat[64];

			run(&c, 0, sweep_rounds, &r);
			cell_text(lat, sizeof(lat), &r, sweep_rounds);
			printf("| %5" PRIu64 " us | %5" PRIu64 " us | %-26s | "
			    "%9.0f | %9.0f |\n", spins[s] / 1000,
			    gaps[g] / 1000, lat, r.vm_cpu_ns, r.med_cpu_ns);
			fflush(stdout);
		}
	}
}

int
main(int argc, char **argv)
{
	cpu_set_t set;
	uint64_t t0;
	int opt, k = 0;

	while ((opt = getopt(argc, argv, "n:c:s:")) != -1) {
		switch (opt) {
		case 'n':
			rounds = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'c':
			cap_s = strtod(optarg, NULL);
			break;
		case 's':
			sweep_rounds = (unsigned)strtoul(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: bench-ring [-n rounds] "
			    "[-c seconds] [-s sweep-rounds]\n");
			return 2;
		}
	}
	if (rounds < 100)
		rounds = 100;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	for (int c = 0; c < CPU_SETSIZE && k < 2; c++)
		if (CPU_ISSET(c, &set))
			cpus[k++] = c;
	if (k < 2) {
		fprintf(stderr, "bench-ring: needs two CPUs\n");
		return 1;
	}
	line = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (line == MAP_FAILED)
		return 1;
	t0 = now_ns();
	for (int i = 0; i < 999; i++)
		now_ns();
	printf("(one clock read: %" PRIu64 " ns, included in every figure)\n",
	    (now_ns() - t0) / 1000);
	table1();
	if (sweep_rounds > 0)
		table2();
	return 0;
}
