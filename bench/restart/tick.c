/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tick: the guest's clock and its disk's progress on the console, for
 * bench/restart/run.sh.  Every PERIOD ms (default 500) one line:
 *
 *   CUPULE-BENCH: T <CLOCK_REALTIME in ms> <reads completed on DISK>
 *
 * The test host stamps each line with its own clock when it arrives;
 * the smallest difference over many lines is the offset between the two
 * clocks (plus the shortest trip of a line through the serial port),
 * which places fio's per-I/O log on the test host's time line, where
 * the kills are.  The read count lets the test host see a disk that no
 * longer completes anything.  busybox's date has no sub-second format,
 * hence this program.
 *
 * usage: tick DISK [PERIOD_MS]     (DISK: vda)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* Reads completed on the disk (first field of its stat file), or -1. */
static long long
reads_done(const char *path)
{
	char buf[256];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtoll(buf, NULL, 10);
}

int
main(int argc, char **argv)
{
	struct timespec ts, period;
	char path[128], line[96];
	long ms = 500;
	int len;

	if (argc < 2)
		return 2;
	if (argc > 2)
		ms = atol(argv[2]);
	if (ms <= 0)
		ms = 500;
	snprintf(path, sizeof(path), "/sys/block/%s/stat", argv[1]);
	period.tv_sec = ms / 1000;
	period.tv_nsec = ms % 1000 * 1000000;
	for (;;) {
		long long reads = reads_done(path);

		/* The clock last, right before the line leaves. */
		clock_gettime(CLOCK_REALTIME, &ts);
		len = snprintf(line, sizeof(line), "CUPULE-BENCH: T %lld %lld\n",
		    (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, reads);
		if (write(1, line, (size_t)len) != len)
			return 1;
		nanosleep(&period, NULL);
	}
}
