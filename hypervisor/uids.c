/* SPDX-License-Identifier: BSD-3-Clause */
/* Uids of mediators and switches: claimed for the whole run (uids.h). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "uids.h"

#define UIDS_MAX	512

static uint32_t claimed[UIDS_MAX];
static int nclaimed;
static bool no_dir_said;

/*
 * A live process whose real, effective, saved or filesystem uid is uid:
 * its pid (and name in comm), or 0.  Zombies do not count: they can do
 * nothing, and a test host's init may be slow to reap the mediators of
 * a cupule that just ended.
 */
static pid_t
uid_user(uint32_t uid, char *comm, size_t len)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;

	if (d == NULL)
		return 0;
	while (found == 0 && (e = readdir(d)) != NULL) {
		char path[300], line[256];
		unsigned long ids[4];
		FILE *f;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
		if ((f = fopen(path, "re")) == NULL)
			continue;	/* gone meanwhile */
		comm[0] = '\0';
		while (fgets(line, sizeof(line), f) != NULL) {
			if (strncmp(line, "State:\t", 7) == 0 &&
			    (line[7] == 'Z' || line[7] == 'X'))
				break;
			if (strncmp(line, "Name:\t", 6) == 0) {
				size_t k = strcspn(line + 6, "\n");

				if (k >= len)
					k = len - 1;
				memcpy(comm, line + 6, k);
				comm[k] = '\0';
			} else if (sscanf(line, "Uid:\t%lu\t%lu\t%lu\t%lu",
			    &ids[0], &ids[1], &ids[2], &ids[3]) == 4) {
				for (int i = 0; i < 4; i++)
					if (ids[i] == uid)
						found = (pid_t)atoi(e->d_name);
				break;
			}
		}
		fclose(f);
	}
	closedir(d);
	return found;
}

int
uid_claim(uint32_t uid, const char *who)
{
	char path[64], comm[64], holder[32] = "";
	pid_t pid;
	ssize_t n;
	int fd;

	for (int i = 0; i < nclaimed; i++)
		if (claimed[i] == uid)
			return 0;
	if (nclaimed == UIDS_MAX) {
		log_warnx("%s: more than %d uids to claim", who, UIDS_MAX);
		return -EBUSY;
	}
	if ((pid = uid_user(uid, comm, sizeof(comm))) > 0) {
		log_warnx("%s: uid %u is in use by pid %d (%s): is another "
		    "cupule running with the same uid_base? Give each scenario "
		    "that runs at once a uid_base of its own", who, uid,
		    (int)pid, comm);
		return -EBUSY;
	}
	if ((mkdir("/run/cupule", 0755) < 0 && errno != EEXIST) ||
	    (mkdir(UIDS_DIR, 0700) < 0 && errno != EEXIST)) {
		if (!no_dir_said)
			log_warn("%s: cannot claim uids in %s (checked against "
			    "running processes only)", who, UIDS_DIR);
		no_dir_said = true;
		claimed[nclaimed++] = uid;
		return 0;
	}
	snprintf(path, sizeof(path), "%s/%u", UIDS_DIR, uid);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		log_warn("%s: %s", who, path);
		return -EBUSY;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if ((n = pread(fd, holder, sizeof(holder) - 1, 0)) > 0)
			holder[strcspn(holder, "\n")] = '\0';
		log_warnx("%s: uid %u is claimed by another cupule (pid %s): "
		    "give each scenario that runs at once a uid_base of its "
		    "own", who, uid, holder[0] ? holder : "?");
		close(fd);
		return -EBUSY;
	}
	/* Kept open, never closed: the lock lasts as long as we do. */
	if (ftruncate(fd, 0) == 0)
		dprintf(fd, "%d\n", (int)getpid());
	claimed[nclaimed++] = uid;
	return 0;
}
