/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pattern DEV FIRST COUNT SECONDS SEED: a guest workload that exposes a
 * lost, replayed or misplaced write.  Blocks FIRST..FIRST+COUNT-1 (4 KiB
 * each) of DEV are written with O_DIRECT, each write carrying the block
 * number and a sequence number never used before, and the rest of the
 * block derived from both.  Random writes and read-backs run for
 * SECONDS; every read must find exactly the last completed write of its
 * block.  A write the device re-executed after a newer one, or lost, or
 * put in the wrong place, shows as a mismatch.  Prints a line every 5 s
 * and "pattern: done ..." at the end; exits 0 only with no I/O error
 * and no mismatch.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BS	4096
#define MAGIC	0x43555055ULL	/* "CUPU" */

struct hdr {
	uint64_t magic, block, seq, sum;
};

static uint64_t rng;

static uint64_t
next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
fill(uint8_t *b, uint64_t block, uint64_t seq)
{
	struct hdr h = { MAGIC, block, seq, block * 1000003 ^ seq };
	uint64_t x = h.sum | 1;

	memcpy(b, &h, sizeof(h));
	for (size_t i = sizeof(h); i < BS; i += 8) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		memcpy(b + i, &x, 8);
	}
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	uint64_t first, count, *last, seq = 0, writes = 0, reads = 0;
	uint64_t errors = 0, mismatches = 0, slow = 0;
	double worst = 0, t;
	uint8_t *buf, *want;
	double end, report;
	int fd;

	if (argc != 6) {
		fprintf(stderr, "usage: pattern DEV FIRST COUNT SECONDS SEED\n");
		return 2;
	}
	first = strtoull(argv[2], NULL, 0);
	count = strtoull(argv[3], NULL, 0);
	rng = strtoull(argv[5], NULL, 0) | 1;
	fd = open(argv[1], O_RDWR | O_DIRECT);
	last = calloc(count, sizeof(*last));
	if (fd < 0 || last == NULL || count == 0 ||
	    posix_memalign((void **)&buf, BS, BS) != 0 ||
	    posix_memalign((void **)&want, BS, BS) != 0) {
		perror("pattern");
		return 2;
	}
	/* seq encodes the writer too: several run at once on one disk. */
	seq = (first << 32);
	for (uint64_t b = 0; b < count; b++) {
		fill(buf, first + b, ++seq);
		if (pwrite(fd, buf, BS, (off_t)((first + b) * BS)) != BS) {
			fprintf(stderr, "pattern: initial write %llu: %s\n",
			    (unsigned long long)(first + b), strerror(errno));
			return 1;
		}
		last[b] = seq;
	}
	end = now() + atof(argv[4]);
	report = now() + 5;
	while (now() < end) {
		uint64_t b = next() % count;

		fill(buf, first + b, ++seq);
		t = now();
		if (pwrite(fd, buf, BS, (off_t)((first + b) * BS)) != BS) {
			fprintf(stderr, "pattern: write %llu: %s\n",
			    (unsigned long long)(first + b), strerror(errno));
			errors++;
		} else {
			last[b] = seq;
			writes++;
		}
		b = next() % count;
		if (pread(fd, buf, BS, (off_t)((first + b) * BS)) != BS) {
			fprintf(stderr, "pattern: read %llu: %s\n",
			    (unsigned long long)(first + b), strerror(errno));
			errors++;
			continue;
		}
		reads++;
		/* One write and one read: the longest a request waited. */
		t = now() - t;
		if (t > worst)
			worst = t;
		slow += t > 0.1;
		fill(want, first + b, last[b]);
		if (memcmp(buf, want, BS) != 0) {
			struct hdr h;

			memcpy(&h, buf, sizeof(h));
			fprintf(stderr, "pattern: block %llu holds seq %llu "
			    "(block %llu), the last write was seq %llu\n",
			    (unsigned long long)(first + b),
			    (unsigned long long)h.seq,
			    (unsigned long long)h.block,
			    (unsigned long long)last[b]);
			mismatches++;
		}
		if (now() >= report) {
			printf("pattern: %llu writes %llu reads %llu errors "
			    "%llu mismatches\n", (unsigned long long)writes,
			    (unsigned long long)reads,
			    (unsigned long long)errors,
			    (unsigned long long)mismatches);
			fflush(stdout);
			report += 5;
		}
	}
	/* Every block, once more. */
	for (uint64_t b = 0; b < count; b++) {
		if (pread(fd, buf, BS, (off_t)((first + b) * BS)) != BS) {
			errors++;
			continue;
		}
		fill(want, first + b, last[b]);
		if (memcmp(buf, want, BS) != 0)
			mismatches++;
	}
	printf("pattern: done writes=%llu reads=%llu errors=%llu "
	    "mismatches=%llu worst-pair-ms=%.1f pairs-over-100ms=%llu\n",
	    (unsigned long long)writes, (unsigned long long)reads,
	    (unsigned long long)errors, (unsigned long long)mismatches,
	    worst * 1000, (unsigned long long)slow);
	return errors || mismatches ? 1 : 0;
}
