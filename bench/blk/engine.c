/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench-blk: 4 KiB random reads through the virtio-blk I/O engines, at
 * queue depth 1 and 32, beside a pool of pread() threads doing the same
 * work with the same completion path (an eventfd the loop polls).
 *
 *	bench-blk [-d] [-t SECONDS] [-s MIB] [FILE]
 *
 * FILE (default: a new file in /var/tmp, removed at exit) is filled
 * with SIZE MiB (default 256) so that reads hit the page cache; -d opens
 * it O_DIRECT so that they reach the disk.  Each cell runs for SECONDS
 * (default 2) with a closed loop: a request is resubmitted at a new
 * random offset as soon as it is reaped.  Requests go through
 * blk_parse(), as a guest's would.  Not a test: it prints what it
 * measures and exits 0 unless it cannot run.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "blk.h"

#define BS		4096
#define MAX_QD		32
#define DASHES		"------------------------------------------------"

static uint64_t blocks;		/* BS blocks in the file */
static double secs = 2;

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
report(const char *what, int qd, long n, double t)
{
	printf("%-22s %3d %10.0f %10.1f\n", what, qd, (double)n / t,
	    t / (double)n * 1e6 * qd);
}

/* One guest read: header, 4 KiB buffer, status, as a chain. */
struct greq {
	struct { uint32_t type, reserved; uint64_t sector; } hdr;
	uint8_t status;
	uint8_t *buf;
	struct vq_chain c;
};

static void
greq_aim(struct greq *g, uint64_t *seed)
{
	g->hdr.type = VIRTIO_BLK_T_IN;
	g->hdr.reserved = 0;
	g->hdr.sector = (rnd(seed) % blocks) * (BS / BLK_SECTOR);
}

static void
greq_init(struct greq *g, uint16_t head)
{
	if (posix_memalign((void **)&g->buf, 4096, BS) != 0)
		exit(1);
	memset(&g->c, 0, sizeof(g->c));
	g->c.head = head;
	g->c.nseg = 3;
	g->c.seg[0] = (struct vq_seg){ .host = &g->hdr, .len = 16 };
	g->c.seg[1] = (struct vq_seg){ .host = g->buf, .len = BS, .write = true };
	g->c.seg[2] = (struct vq_seg){ .host = &g->status, .len = 1, .write = true };
	g->c.out_len = 16;
	g->c.in_len = BS + 1;
}

static void
submit(struct blk_engine *e, const struct blk_backend *b, struct greq *g,
    uint64_t *seed)
{
	static struct blk_req r;

	greq_aim(g, seed);
	if (blk_parse(b, &g->c, &r) < 0 || blk_engine_submit(e, &r) < 0) {
		fprintf(stderr, "bench-blk: submit failed\n");
		exit(1);
	}
}

static void
run_engine(const struct blk_backend *b, enum blk_engine_kind kind,
    const char *name, int qd)
{
	static struct greq g[MAX_QD];
	struct blk_done done[MAX_QD];
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	struct blk_engine *e;
	double t0, t;
	long n = 0;
	int ret;

	if ((ret = blk_engine_new(&e, b, MAX_QD, kind)) < 0) {
		printf("%-22s %3d  not available: %s\n", name, qd,
		    strerror(-ret));
		return;
	}
	for (int i = 0; i < qd; i++) {
		if (!g[i].buf)
			greq_init(&g[i], (uint16_t)i);
		submit(e, b, &g[i], &seed);
	}
	blk_engine_kick(e);
	t0 = now();
	do {
		struct pollfd p = { .fd = blk_engine_fd(e), .events = POLLIN };
		int k;

		poll(&p, 1, -1);
		k = blk_engine_reap(e, done, MAX_QD);
		for (int i = 0; i < k; i++) {
			if (done[i].status != VIRTIO_BLK_S_OK) {
				fprintf(stderr, "bench-blk: read failed\n");
				exit(1);
			}
			submit(e, b, &g[done[i].head], &seed);
		}
		blk_engine_kick(e);
		n += k;
	} while ((t = now()) - t0 < secs);
	report(name, qd, n, t - t0);
	blk_engine_free(e);
}

/* The alternative: pread() workers, completions through an eventfd. */
struct job {
	off_t off;
	uint8_t *buf;
	struct job *next;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, *tail;	/* to do */
	struct job *done;		/* finished */
	int idle, efd, fd;
	bool stop;
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void *
worker(void *arg)
{
	(void)arg;
	for (;;) {
		struct job *j;
		bool first;

		pthread_mutex_lock(&pool.mu);
		while (!pool.head && !pool.stop) {
			pool.idle++;
			pthread_cond_wait(&pool.cv, &pool.mu);
			pool.idle--;
		}
		if (pool.stop) {
			pthread_mutex_unlock(&pool.mu);
			return NULL;
		}
		j = pool.head;
		pool.head = j->next;
		if (!pool.head)
			pool.tail = NULL;
		pthread_mutex_unlock(&pool.mu);

		if (pread(pool.fd, j->buf, BS, j->off) != BS)
			abort();

		pthread_mutex_lock(&pool.mu);
		first = pool.done == NULL;
		j->next = pool.done;
		pool.done = j;
		pthread_mutex_unlock(&pool.mu);
		if (first) {
			uint64_t one = 1;

			if (write(pool.efd, &one, sizeof(one)) < 0)
				abort();
		}
	}
}

static void
pool_submit(struct job *j, uint64_t *seed)
{
	j->off = (off_t)((rnd(seed) % blocks) * BS);
	j->next = NULL;
	pthread_mutex_lock(&pool.mu);
	if (pool.tail)
		pool.tail->next = j;
	else
		pool.head = j;
	pool.tail = j;
	if (pool.idle)
		pthread_cond_signal(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
}

static void
run_pool(int fd, int nthreads, int qd)
{
	static struct job jobs[MAX_QD];
	pthread_t th[64];
	uint64_t seed = 0x9e3779b97f4a7c15ull, v;
	char name[32];
	double t0, t;
	long n = 0;

	pool.fd = fd;
	pool.efd = eventfd(0, EFD_CLOEXEC);
	pool.stop = false;
	pool.head = pool.tail = pool.done = NULL;
	for (int i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (int i = 0; i < qd; i++) {
		if (!jobs[i].buf && posix_memalign((void **)&jobs[i].buf, 4096,
		    BS) != 0)
			exit(1);
		pool_submit(&jobs[i], &seed);
	}
	t0 = now();
	do {
		struct job *list;

		if (read(pool.efd, &v, sizeof(v)) < 0)
			abort();
		pthread_mutex_lock(&pool.mu);
		list = pool.done;
		pool.done = NULL;
		pthread_mutex_unlock(&pool.mu);
		while (list) {
			struct job *next = list->next;

			pool_submit(list, &seed);
			list = next;
			n++;
		}
	} while ((t = now()) - t0 < secs);
	snprintf(name, sizeof(name), "pread pool, %d threads", nthreads);
	report(name, qd, n, t - t0);

	/* Let what is in flight finish, then stop the workers. */
	pthread_mutex_lock(&pool.mu);
	pool.head = pool.tail = NULL;
	pool.stop = true;
	pthread_cond_broadcast(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	close(pool.efd);
}

int
main(int argc, char **argv)
{
	char tmpl[] = "/var/tmp/bench-blk.XXXXXX";
	const char *path = NULL;
	uint64_t mib = 256;
	struct blk_backend b;
	bool direct = false;
	uint8_t *chunk;
	int opt, fd, ret;

	while ((opt = getopt(argc, argv, "dt:s:")) != -1) {
		switch (opt) {
		case 'd':
			direct = true;
			break;
		case 't':
			secs = atof(optarg);
			break;
		case 's':
			mib = strtoull(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: bench-blk [-d] [-t SECONDS] "
			    "[-s MIB] [FILE]\n");
			return 2;
		}
	}
	if (optind < argc)
		path = argv[optind];
	fd = path ? open(path, O_RDWR | O_CREAT, 0600) : mkstemp(tmpl);
	if (fd < 0 || mib == 0) {
		perror("bench-blk");
		return 1;
	}
	if (!path)
		unlink(tmpl);
	/* Real data, not holes: a hole reads without any I/O. */
	chunk = malloc(1 << 20);
	memset(chunk, 0x5a, 1 << 20);
	for (uint64_t i = 0; i < mib; i++)
		if (pwrite(fd, chunk, 1 << 20, (off_t)(i << 20)) != 1 << 20) {
			perror("bench-blk: fill");
			return 1;
		}
	free(chunk);
	fsync(fd);
	if (direct) {
		int fl = fcntl(fd, F_GETFL);

		if (fcntl(fd, F_SETFL, fl | O_DIRECT) < 0) {
			perror("bench-blk: O_DIRECT");
			return 1;
		}
	}
	blocks = (mib << 20) / BS;
	if ((ret = blk_backend_init(&b, fd, 0, 0, false, "bench")) < 0) {
		fprintf(stderr, "bench-blk: %s\n", strerror(-ret));
		return 1;
	}

	printf("4 KiB random reads, %llu MiB file%s, %.0f s per cell\n",
	    (unsigned long long)mib, direct ? ", O_DIRECT" :
	    " (page cache)", secs);
	printf("%-22s %3s %10s %10s\n", "engine", "qd", "IOPS", "us/req");
	printf("%.50s\n", DASHES);
	for (int qd = 1; qd <= MAX_QD; qd *= 32) {
		run_engine(&b, BLK_ENGINE_URING, "io_uring (blk engine)", qd);
		run_engine(&b, BLK_ENGINE_SYNC, "sync (blk engine)", qd);
		run_pool(fd, 4, qd);
		run_pool(fd, 8, qd);
	}
	close(fd);
	return 0;
}
