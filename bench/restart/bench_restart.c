/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench-restart: what a guest sees of a mediator's death.  A VM on
 * /dev/kvm with one halted vCPU and a real cupule-blk, whose BAR0 this
 * program reads as a driver would (bound to the vCPU's ring slot).  Each
 * round SIGKILLs the mediator and at once reads a register: the read
 * waits while the VM process notices the death (pidfd), starts a new
 * process (clone3, exec, the sandbox's two stages), hands it the ring
 * and state, and the new process takes the device over and serves it.
 * That wait is the stall a vCPU sees.  Beside it: the same without the
 * sandbox, the time to READY from the supervisor's log of it, and the
 * floor of any restart, a fork+exec+exit of a static program.
 *
 * usage: bench-restart [-n ROUNDS] [-b BUILD/bin]
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "log.h"
#include "mediator.h"
#include "pci.h"
#include "virtio_pci.h"
#include "vm.h"

#define BAR0_ADDR	0xe0000000ULL

static struct vm *vm;
static struct mediator med;

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void *
run_main(void *arg)
{
	(void)arg;
	vm_run(vm);
	return NULL;
}

static uint64_t
capacity(void)
{
	uint64_t v = 0;

	io_dispatch(&vm->mmio, BAR0_ADDR + VIRTIO_DEVCFG_OFF, (uint8_t *)&v, 8,
	    false);
	return v;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
row(const char *what, double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	printf("%-44s %9.2f %9.2f %9.2f %9.2f\n", what, v[n / 2] / 1000,
	    v[n * 9 / 10] / 1000, v[n * 99 / 100] / 1000, v[n - 1] / 1000);
}

/* Kills and reads, n times; stalls in us into stall[], READY into rdy[]. */
static int
rounds(int n, double *stall, double *rdy)
{
	for (int i = 0; i < n; i++) {
		pid_t pid = __atomic_load_n(&med.pid, __ATOMIC_SEQ_CST);
		double t0;

		if (pid <= 0)
			return -1;
		t0 = now_us();
		kill(pid, SIGKILL);
		if (capacity() != 2048)
			return -1;
		stall[i] = now_us() - t0;
		/* READY comes before the read is served: ms resolution. */
		rdy[i] = (double)med.ready_ms * 1000 - t0;
		/* Let the backoff window pass: each kill is a first one. */
		while (__atomic_load_n(&med.sup.state, __ATOMIC_SEQ_CST) !=
		    MEDSUP_RUNNING)
			usleep(1000);
		usleep(20000);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const uint8_t halt[] = { 0xfa, 0xf4, 0xeb, 0xfd };
	struct vm_opts o = { .name = "bench", .memory = 64ULL << 20,
	    .vcpus = 1 };
	struct medsup_cfg sup = MEDSUP_DEFAULTS;
	struct device_cfg dev = { .port_fd = -1 };
	char image[] = "/tmp/cupule-bench-XXXXXX", self[PATH_MAX];
	char bindir[PATH_MAX + 8] = "";
	double *stall, *rdy, *floor_, *bare, *bare_rdy;
	struct console con;
	pthread_t runner;
	int n = 100, c, fd;
	ssize_t len;

	while ((c = getopt(argc, argv, "n:b:")) != -1) {
		if (c == 'n')
			n = atoi(optarg);
		else if (c == 'b')
			snprintf(bindir, sizeof(bindir), "%s", optarg);
		else
			return 2;
	}
	if (n < 10)
		n = 10;
	if (bindir[0] == '\0') {
		len = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (len < 0)
			return 1;
		self[len] = '\0';
		snprintf(bindir, sizeof(bindir), "%s", dirname(self));
	}
	mediator_set_dir(bindir);
	log_set_prefix("bench-restart");
	stall = calloc((size_t)n, sizeof(double));
	rdy = calloc((size_t)n, sizeof(double));
	bare = calloc((size_t)n, sizeof(double));
	bare_rdy = calloc((size_t)n, sizeof(double));
	floor_ = calloc((size_t)n, sizeof(double));
	if ((fd = mkstemp(image)) < 0 || ftruncate(fd, 1 << 20) < 0)
		return 1;
	close(fd);
	if (console_open(&con, CONSOLE_FILE, "/dev/null") < 0)
		return 1;
	o.con = &con;
	if (vm_create(&o, &vm) < 0 ||
	    vm_load_real_mode(vm, halt, sizeof(halt), 0x1000) < 0)
		return 1;
	snprintf(dev.type, sizeof(dev.type), "blk");
	snprintf(dev.id, sizeof(dev.id), "disk");
	snprintf(dev.serial, sizeof(dev.serial), "bench");
	dev.image = image;
	dev.image_sectors = 2048;
	/* Heartbeats off: no timer wake-ups in what is measured. */
	sup.heartbeat_ms = 0;
	sup.restart_limit = 64;
	sup.restart_window_ms = 1;
	dev.supervise = sup;
	dev.uid = 2000000900;
	/* The mediators' lines would fill the screen: keep only ours. */
	if (freopen("/dev/null", "w", stderr) == NULL)
		return 1;
	if (mediator_start(vm, &med, &dev) < 0)
		return 1;
	pci_cfg_write(&vm->pci, (unsigned)med.pdev.slot, 0, PCI_BAR0, 4,
	    (uint32_t)BAR0_ADDR);
	pci_cfg_write(&vm->pci, (unsigned)med.pdev.slot, 0, PCI_BAR0 + 4, 4,
	    (uint32_t)(BAR0_ADDR >> 32));
	pci_cfg_write(&vm->pci, (unsigned)med.pdev.slot, 0, PCI_COMMAND, 2, 2);
	pthread_create(&runner, NULL, run_main, NULL);
	vm_bind_vcpu(0);
	if (capacity() != 2048)
		return 1;

	if (rounds(n, stall, rdy) < 0)
		return 1;
	/* The same without the sandbox: what its two stages cost. */
	/* Read at the next spawn only, which the next kill causes. */
	snprintf(med.args[med.nargs++], sizeof(med.args[0]), "--no-sandbox");
	if (rounds(n, bare, bare_rdy) < 0)
		return 1;
	/* The floor: any process started and ended, no work at all. */
	for (int i = 0; i < n; i++) {
		double t0 = now_us();
		pid_t p = fork();

		if (p == 0) {
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		waitpid(p, NULL, 0);
		floor_[i] = now_us() - t0;
	}

	{
		double load = 0;
		FILE *f = fopen("/proc/loadavg", "r");

		if (f != NULL && fscanf(f, "%lf", &load) != 1)
			load = 0;
		if (f != NULL)
			fclose(f);
		printf("# %d SIGKILLs of cupule-blk per row; ms; %ld CPUs, "
		    "load %.2f\n", n, sysconf(_SC_NPROCESSORS_ONLN), load);
	}
	printf("%-44s %9s %9s %9s %9s\n", "", "median", "p90", "p99", "max");
	row("vCPU stall: kill to register answered", stall, n);
	row("  kill to READY (ms resolution)", rdy, n);
	row("vCPU stall, mediator --no-sandbox", bare, n);
	row("floor: fork+exec+exit of /bin/true", floor_, n);
	vm_request_stop(vm, VM_EXIT_STOPPED);
	pthread_join(runner, NULL);
	mediator_stop(&med);
	vm_destroy(vm);
	unlink(image);
	return 0;
}
