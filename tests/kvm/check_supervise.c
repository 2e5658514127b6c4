/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Supervision of a real mediator (BUILD/bin/cupule-blk) under a real VM
 * process: a VM is created on /dev/kvm with one halted vCPU, the
 * mediator is started as cupule starts it, and this test, bound to the
 * vCPU's slots, reads and writes the device's BAR0 the way the guest's
 * driver would, through the VM's MMIO bus and the ioreq ring.  Between
 * accesses it kills the mediator (SIGKILL), stops it (SIGSTOP: a hang),
 * makes it crash in a loop and makes its restarts fail, and checks what
 * each access returns, how the supervisor's state moved, and that no
 * access waits past the stall bound.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "layout.h"
#include "log.h"
#include "mediator.h"
#include "virtio_pci.h"
#include "vm.h"

#define BAR0_ADDR	0xe0000000ULL
#define SECTORS		2048		/* a 1 MiB image */
#define WAIT_S		30

static const struct medsup_cfg sup = {
	.heartbeat_ms = 100, .heartbeat_misses = 3, .start_ms = 5000,
	.backoff_min_ms = 10, .backoff_max_ms = 40, .restart_limit = 3,
	.restart_window_ms = 600000, .stall_ms = 1500,
};

static struct vm *vm;
static struct mediator med;
static struct device_cfg dev;
static struct console con;
static pthread_t runner;
static char image[] = "/tmp/cupule-sup-XXXXXX";
static char bindir[PATH_MAX];

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *
run_main(void *arg)
{
	(void)arg;
	vm_run(vm);
	return NULL;
}

static uint64_t
bar_read(uint64_t off, unsigned size)
{
	uint64_t v = 0;

	ck_assert(io_dispatch(&vm->mmio, BAR0_ADDR + off, (uint8_t *)&v,
	    size, false));
	return v;
}

static void
bar_write(uint64_t off, unsigned size, uint64_t v)
{
	ck_assert(io_dispatch(&vm->mmio, BAR0_ADDR + off, (uint8_t *)&v,
	    size, true));
}

static uint64_t
capacity(void)
{
	return bar_read(VIRTIO_DEVCFG_OFF, 8);
}

static uint8_t
status(void)
{
	return (uint8_t)bar_read(VIRTIO_PCI_STATUS, 1);
}

/* Polls (the supervisor runs on the VM's main thread) until cond. */
#define WAIT_FOR(cond) do {						\
	uint64_t t0_ = now_ms();					\
	while (!(cond)) {						\
		ck_assert_msg(now_ms() - t0_ < WAIT_S * 1000,		\
		    "timed out waiting for " #cond);			\
		usleep(2000);						\
	}								\
} while (0)

static enum medsup_state
sup_state(void)
{
	return __atomic_load_n(&med.sup.state, __ATOMIC_SEQ_CST);
}

static pid_t
live_pid(void)
{
	return __atomic_load_n(&med.pid, __ATOMIC_SEQ_CST);
}

static void
setup(void)
{
	/* A vCPU that halts for good: it never touches the device. */
	static const uint8_t halt[] = { 0xfa, 0xf4, 0xeb, 0xfd };
	struct vm_opts o = { .name = "sup", .memory = 64ULL << 20,
	    .vcpus = 1, .con = &con };
	char self[PATH_MAX];
	ssize_t n;
	int fd, slot;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	ck_assert_int_gt(n, 0);
	self[n] = '\0';
	/* BUILD/tests/check_supervise -> BUILD/bin */
	snprintf(bindir, sizeof(bindir), "%s/../bin", dirname(self));
	mediator_set_dir(bindir);
	fd = mkstemp(image);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, SECTORS * 512), 0);
	close(fd);
	memset(&con, 0, sizeof(con));
	ck_assert_int_eq(console_open(&con, CONSOLE_FILE, "/dev/null"), 0);
	ck_assert_int_eq(vm_create(&o, &vm), 0);
	ck_assert_int_eq(vm_load_real_mode(vm, halt, sizeof(halt), 0x1000), 0);
	memset(&dev, 0, sizeof(dev));
	snprintf(dev.type, sizeof(dev.type), "blk");
	snprintf(dev.id, sizeof(dev.id), "disk");
	snprintf(dev.serial, sizeof(dev.serial), "sup-test");
	dev.image = image;
	dev.image_sectors = SECTORS;
	dev.port_fd = -1;
	dev.supervise = sup;
	dev.uid = 2000000500;	/* its own uid: the whole sandbox */
	ck_assert_int_eq(mediator_start(vm, &med, &dev), 0);
	/* Place BAR0 and turn on memory decoding, as firmware would. */
	slot = med.pdev.slot;
	ck_assert_int_ge(slot, 0);
	pci_cfg_write(&vm->pci, (unsigned)slot, 0, PCI_BAR0, 4,
	    (uint32_t)BAR0_ADDR);
	pci_cfg_write(&vm->pci, (unsigned)slot, 0, PCI_BAR0 + 4, 4,
	    (uint32_t)(BAR0_ADDR >> 32));
	pci_cfg_write(&vm->pci, (unsigned)slot, 0, PCI_COMMAND, 2, 0x2);
	ck_assert_int_eq(pthread_create(&runner, NULL, run_main, NULL), 0);
	vm_bind_vcpu(0);
	ck_assert_uint_eq(capacity(), SECTORS);
}

static void
teardown(void)
{
	vm_request_stop(vm, VM_EXIT_STOPPED);
	pthread_join(runner, NULL);
	mediator_stop(&med);
	vm_destroy(vm);
	console_close(&con);
	unlink(image);
	strcpy(image, "/tmp/cupule-sup-XXXXXX");
}

/* A killed mediator is replaced; the access made meanwhile is served. */
START_TEST(test_kill_restarts)
{
	for (unsigned i = 1; i <= 3; i++) {
		pid_t old = live_pid();

		ck_assert_int_gt(old, 0);
		ck_assert_int_eq(kill(old, SIGKILL), 0);
		/* Made while it is dead or starting: waits, then answered. */
		ck_assert_uint_eq(capacity(), SECTORS);
		ck_assert_int_ne(live_pid(), old);
		ck_assert_uint_eq(med.sup.restarts, i);
		ck_assert_int_eq(med.sup.cause, MEDSUP_CAUSE_EXIT);
		/* Backoff lets the next one wait a little. */
		WAIT_FOR(sup_state() == MEDSUP_RUNNING);
	}
	ck_assert_int_eq(status() & VIRTIO_STATUS_NEEDS_RESET, 0);
}
END_TEST

/* The state lives on: a status the driver wrote survives the restart. */
START_TEST(test_state_survives)
{
	pid_t old = live_pid();

	bar_write(VIRTIO_PCI_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE);
	bar_write(VIRTIO_PCI_Q_SELECT, 2, 0);
	ck_assert_int_eq(kill(old, SIGKILL), 0);
	ck_assert_uint_eq(status(), VIRTIO_STATUS_ACKNOWLEDGE);
	ck_assert_uint_eq(bar_read(VIRTIO_PCI_NUMQ, 2), 1);
	ck_assert_int_ne(live_pid(), old);
}
END_TEST

/* A stopped process stops beating: killed and replaced, access served. */
START_TEST(test_hang_detected)
{
	pid_t old = live_pid();

	ck_assert_int_eq(kill(old, SIGSTOP), 0);
	ck_assert_uint_eq(capacity(), SECTORS);
	ck_assert_int_ne(live_pid(), old);
	ck_assert_int_eq(med.sup.cause, MEDSUP_CAUSE_HUNG);
	ck_assert_uint_eq(med.sup.restarts, 1);
}
END_TEST

/*
 * Crashing again and again: down after restart_limit, the registers
 * answered by the VM process (with NEEDS_RESET), at once; an operator
 * restart brings a serving mediator back, and a reset clears the bit.
 */
START_TEST(test_crash_loop_down_and_back)
{
	uint64_t t0;

	for (unsigned i = 0; i <= sup.restart_limit; i++) {
		WAIT_FOR(sup_state() == MEDSUP_RUNNING ||
		    sup_state() == MEDSUP_DOWN);
		if (sup_state() == MEDSUP_DOWN)
			break;
		ck_assert_int_eq(kill(live_pid(), SIGKILL), 0);
		WAIT_FOR(sup_state() != MEDSUP_RUNNING);
	}
	WAIT_FOR(sup_state() == MEDSUP_DOWN);
	ck_assert_int_eq(med.sup.cause, MEDSUP_CAUSE_LIMIT);
	ck_assert_uint_eq(med.sup.exits, sup.restart_limit + 1);
	WAIT_FOR(live_pid() == 0);
	t0 = now_ms();
	ck_assert_uint_ne(status() & VIRTIO_STATUS_NEEDS_RESET, 0);
	ck_assert_uint_eq(capacity(), SECTORS);	/* from the state */
	bar_write(VIRTIO_PCI_STATUS, 1, 0);		/* goes nowhere */
	ck_assert_uint_ne(status() & VIRTIO_STATUS_NEEDS_RESET, 0);
	/* Answered by the VM process, not after some wait. */
	ck_assert_uint_lt(now_ms() - t0, sup.stall_ms);
	ck_assert_int_eq(mediator_kill(&med), -ESRCH);

	ck_assert_int_eq(mediator_restart(&med), 0);
	WAIT_FOR(sup_state() == MEDSUP_RUNNING);
	ck_assert_int_gt(live_pid(), 0);
	ck_assert_uint_ne(status() & VIRTIO_STATUS_NEEDS_RESET, 0);
	bar_write(VIRTIO_PCI_STATUS, 1, 0);		/* the driver resets */
	ck_assert_uint_eq(status(), 0);
	ck_assert_uint_eq(capacity(), SECTORS);
}
END_TEST

/*
 * The restarts themselves fail (the binary is gone): a vCPU that made
 * an access meanwhile is answered from the state within the stall
 * bound, plus the supervisor's tick, never left waiting.
 */
START_TEST(test_stall_bounded)
{
	uint64_t t0, took;

	snprintf(med.exe, sizeof(med.exe), "/nonexistent/cupule-blk");
	ck_assert_int_eq(kill(live_pid(), SIGKILL), 0);
	t0 = now_ms();
	ck_assert_uint_eq(capacity(), SECTORS);
	took = now_ms() - t0;
	ck_assert_int_eq(sup_state(), MEDSUP_DOWN);
	ck_assert_uint_ne(status() & VIRTIO_STATUS_NEEDS_RESET, 0);
	/* Bounded: the stall bound and a generous margin, not forever. */
	ck_assert_msg(took < sup.stall_ms + 10000, "waited %llu ms",
	    (unsigned long long)took);
}
END_TEST

/* The operator's restart replaces a healthy process; no crash counted. */
START_TEST(test_operator_restart)
{
	pid_t old = live_pid();

	ck_assert_int_eq(mediator_restart(&med), 0);
	WAIT_FOR(live_pid() != old && sup_state() == MEDSUP_RUNNING);
	ck_assert_uint_eq(capacity(), SECTORS);
	ck_assert_uint_eq(med.sup.exits, 0);
	ck_assert_int_eq(med.sup.cause, MEDSUP_CAUSE_RESTART);
	ck_assert_int_eq(mediator_kill(&med), 0);
	ck_assert_uint_eq(capacity(), SECTORS);
	ck_assert_uint_eq(med.sup.exits, 1);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("supervise");
	TCase *tc = tcase_create("blk");
	SRunner *sr;
	int failed;

	log_set_prefix("cupule: test");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_kill_restarts);
	tcase_add_test(tc, test_state_survives);
	tcase_add_test(tc, test_hang_detected);
	tcase_add_test(tc, test_crash_loop_down_and_back);
	tcase_add_test(tc, test_stall_bounded);
	tcase_add_test(tc, test_operator_restart);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
