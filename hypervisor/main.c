/* SPDX-License-Identifier: BSD-3-Clause */
/* cupule: a KVM hypervisor whose devices are restartable processes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "scenario.h"
#include "supervisor.h"

#define CUPULE_VERSION	"0.1"

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: cupule check SCENARIO\n"
	    "       cupule run SCENARIO [--vm NAME] [-v]\n"
	    "       cupule version\n"
	    "\n"
	    "check  validates the scenario file and prints the resolved "
	    "configuration\n"
	    "run    boots every VM of the scenario (or only NAME) and waits "
	    "until all\n"
	    "       have powered off; Ctrl-] on a stdio console stops its VM\n");
	exit(status);
}

static int
load(const char *path, struct scenario *sc)
{
	int ret = scenario_load(path, sc, stderr);

	if (ret == -EINVAL)
		return -1;
	if (ret < 0) {
		log_warnx("%s: %s", path, strerror(-ret));
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct scenario sc = { 0 };
	const char *only = NULL;
	int ret, verbose = 0;

	if (argc < 2)
		usage(2);
	if (strcmp(argv[1], "version") == 0 ||
	    strcmp(argv[1], "--version") == 0) {
		printf("cupule %s\n", CUPULE_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)
		usage(0);
	if (strcmp(argv[1], "check") == 0) {
		if (argc != 3)
			usage(2);
		if (load(argv[2], &sc) < 0)
			return 1;
		scenario_print(&sc, stdout);
		scenario_free(&sc);
		return 0;
	}
	if (strcmp(argv[1], "run") != 0)
		usage(2);
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--vm") == 0 && i + 1 < argc)
			only = argv[++i];
		else if (strcmp(argv[i], "-v") == 0)
			verbose++;
		else
			usage(2);
	}
	if (argc < 3 || argv[2][0] == '-')
		usage(2);
	log_set_verbose(verbose);
	if (load(argv[2], &sc) < 0)
		return 1;
	ret = supervisor_run(&sc, only);
	scenario_free(&sc);
	return ret;
}
