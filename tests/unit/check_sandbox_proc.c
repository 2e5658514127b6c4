/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The real mediators (BUILD/bin/cupule-blk, cupule-net, cupule-switch),
 * sandboxed as a spawner should start them: in the namespaces of
 * sandbox_clone_flags(), with a uid and gid of their own.  This test
 * plays the VM process and the guest's driver, and checks that each one
 * still does its work under the serve policy (blk: writes, a flush and
 * reads through io_uring; net: a tap, whose offloads are set at serve
 * time; the switch: a frame between two ports), answers a CTL_PROBE
 * with every operation refused, and exits cleanly, not by SIGSYS.
 *
 * CHECK_SBX_LOG=1 prints each mediator's log after its test.  Needs
 * root: exits 77 otherwise.
 */
#include <check.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include "blk.h"
#include "medtest.h"
#include "net.h"

#define BUF(i)		(0x100000u + (i) * 0x1000u)
#define IMAGE_SIZE	(1u << 20)
#define WAIT_MS		10000
#define UID_BLK		0x7ff00011u
#define UID_NET		0x7ff00012u
#define UID_SWITCH	0x7ff00013u

/* The VM process of one mediator, and its guest's driver. */
static struct medvm vm;

/*
 * Starts prog as the spawner should (its own namespaces, nothing above
 * fd 4) and plays the VM process's side of its start, up to READY.
 */
static void
spawn(const char *prog, char *const *args)
{
	ck_assert(medvm_spawn(&vm, prog, args, MEDTEST_SANDBOX |
	    MEDTEST_CLOSE_FDS));
}

static void
setup(void)
{
	medvm_open(&vm, "check_sandbox_proc", WAIT_MS);
}

static void
teardown(void)
{
	if (vm.pid > 0) {
		kill(vm.pid, SIGKILL);
		waitpid(vm.pid, NULL, 0);
	}
	if (getenv("CHECK_SBX_LOG") != NULL)
		medvm_print_log(&vm);
	medvm_close(&vm);
}

/* SHUTDOWN, then its exit status. */
static int
shutdown_med(void)
{
	struct ctl_shutdown sd = { .reason = CTL_SHUTDOWN_POWEROFF };
	uint64_t end = medtest_now_ms() + WAIT_MS;
	int st = 0;
	pid_t r;

	ck_assert_int_eq(ctl_send(vm.ctl, CTL_SHUTDOWN, vm.next_id++, &sd,
	    sizeof(sd), NULL, 0), 0);
	while ((r = waitpid(vm.pid, &st, WNOHANG)) == 0 &&
	    medtest_now_ms() < end)
		medtest_nap();
	ck_assert_int_eq(r, vm.pid);
	vm.pid = -1;
	return st;
}

/* /proc/PID/status says it runs under both filters, as nobody. */
static void
check_status(pid_t pid, uint32_t uid)
{
	char path[64], buf[4096], want[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	ck_assert_int_ge(fd = open(path, O_RDONLY | O_CLOEXEC), 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	snprintf(want, sizeof(want), "Uid:\t%u\t%u\t%u\t%u\n", uid, uid, uid,
	    uid);
	ck_assert_msg(strstr(buf, want) != NULL, "%s", buf);
	ck_assert_ptr_nonnull(strstr(buf, "CapEff:\t0000000000000000\n"));
	ck_assert_ptr_nonnull(strstr(buf, "CapBnd:\t0000000000000000\n"));
	ck_assert_ptr_nonnull(strstr(buf, "NoNewPrivs:\t1\n"));
	ck_assert_ptr_nonnull(strstr(buf, "Seccomp:\t2\n"));
	ck_assert_ptr_nonnull(strstr(buf, "Seccomp_filters:\t2\n"));
	/* pid 1 of a namespace of its own */
	ck_assert_msg(strstr(buf, "\t1\nNSpgid:") != NULL, "%s", buf);
}

/* CTL_PROBE at another process; every operation must be refused. */
static void
probe(void)
{
	struct ctl_probe req = { .sibling_pid = getpid(), .mem_fd = 200 };
	struct ctl_probe_result res;
	struct ctl_msg msg;
	char dump[1024] = "";

	ck_assert_int_eq(ctl_send(vm.ctl, CTL_PROBE, 4242, &req, sizeof(req),
	    NULL, 0), 0);
	ck_assert(medvm_recv(&vm, &msg));
	ck_assert_uint_eq(msg.hdr.type, CTL_PROBE_RESULT);
	ck_assert_uint_eq(msg.hdr.id, 4242);
	ck_assert_int_eq(ctl_get_probe_result(&msg, &res), 0);
	ctl_msg_close(&msg);
	for (uint32_t i = 0; i < res.nops; i++)
		snprintf(dump + strlen(dump), sizeof(dump) - strlen(dump),
		    " %s:%s(%d)", ctl_probe_op_name(res.op[i].op),
		    ctl_probe_outcome_name(res.op[i].outcome), res.op[i].error);
	ck_assert_uint_eq(res.nops, CTL_PROBE_NOPS);
	ck_assert_uint_eq(res.stage, 2);
	for (uint32_t i = 0; i < res.nops; i++)
		ck_assert_msg(res.op[i].outcome == CTL_PROBE_SECCOMP ||
		    res.op[i].outcome == CTL_PROBE_ERRNO, "%s", dump);
	ck_assert_ptr_nonnull(strstr(medvm_log(&vm), "probe: 16 operations at "
	    "stage 2: every one refused"));
}

/* ---- the driver ---------------------------------------------------------- */

/* Brings the device up with every feature it offers, nq queues. */
static void
driver_init(unsigned nq)
{
	uint64_t f = medvm_offered(&vm);

	medvm_reset(&vm);
	/* Not EVENT_IDX: every kick is then seen, the test stays simple. */
	f &= ~VIRTIO_F_EVENT_IDX;
	medvm_set_features(&vm, f);
	medvm_msix(&vm, (uint16_t)nq);
	for (uint16_t q = 0; q < nq; q++) {
		uint16_t size;

		memset(vm.mem + MEDVM_QBASE(q), 0, 0x4000);
		size = medvm_queue_select(&vm, q);
		ck_assert_uint_gt(size, 8);
		medvm_queue_enable(&vm, q, size, q);
	}
	medvm_driver_ok(&vm);
}

/* One virtio-blk request of type on sector, with n data bytes at BUF(1). */
static uint8_t
blk_req(uint32_t type, uint64_t sector, uint32_t n)
{
	struct { uint32_t type, reserved; uint64_t sector; } h = { type, 0,
	    sector };
	uint8_t *status = vm.mem + BUF(2);
	uint16_t head;

	memcpy(vm.mem + BUF(0), &h, sizeof(h));
	*status = 0xee;
	head = medvm_put_desc(&vm, 0, BUF(0), sizeof(h), VIRTQ_DESC_F_NEXT);
	if (n > 0)
		medvm_put_desc(&vm, 0, BUF(1), n, VIRTQ_DESC_F_NEXT |
		    (type == VIRTIO_BLK_T_IN ? VIRTQ_DESC_F_WRITE : 0));
	medvm_put_desc(&vm, 0, BUF(2), 1, VIRTQ_DESC_F_WRITE);
	medvm_publish(&vm, 0, head);
	medvm_kick(&vm, 0);
	/* Answered: used->idx is where avail->idx is, not beyond. */
	ck_assert_msg(medvm_wait_used(&vm, 0, vm.avail[0]) &&
	    medvm_used_idx(&vm, 0) == vm.avail[0], "no answer: %s",
	    medvm_log(&vm));
	return *status;
}

/* ---- tests ---------------------------------------------------------------- */

/* Whether pid holds an fd that readlink shows as target. */
static bool
holds(pid_t pid, const char *target)
{
	char path[64], link[128];

	for (int fd = 0; fd < 256; fd++) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
		if ((n = readlink(path, link, sizeof(link) - 1)) < 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, target) == 0)
			return true;
	}
	return false;
}

static bool
no_violation(void)
{
	return strstr(medvm_log(&vm), "sandbox: system call") == NULL;
}

START_TEST(test_blk)
{
	char uid[32], gid[32], *args[] = { (char *)"--ctl-fd=3",
	    (char *)"--name=check/blk", (char *)"--disk-fd=4",
	    (char *)"--serial=sbx", uid, gid, NULL };
	uint8_t sector[512], back[512];
	int st;

	snprintf(uid, sizeof(uid), "--uid=%u", UID_BLK);
	snprintf(gid, sizeof(gid), "--gid=%u", UID_BLK);
	/* The image: a file of our own. */
	vm.backend = medtest_tmpfile("check_sandbox_proc");
	ck_assert_int_eq(ftruncate(vm.backend, IMAGE_SIZE), 0);
	spawn("cupule-blk", args);
	check_status(vm.pid, UID_BLK);
	/* The io_uring engine, not the SYNC fallback: MEMLOCK allows it. */
	ck_assert_msg(holds(vm.pid, "anon_inode:[io_uring]"), "%s",
	    medvm_log(&vm));
	ck_assert_ptr_nonnull(strstr(medvm_log(&vm), "sandbox stage 2: "
	    "namespaces own mnt net ipc uts pid; root empty, read-only;"));
	driver_init(1);
	for (int i = 0; i < 512; i++)
		sector[i] = (uint8_t)(i * 7 + 1);
	memcpy(vm.mem + BUF(1), sector, sizeof(sector));
	ck_assert_uint_eq(blk_req(VIRTIO_BLK_T_OUT, 5, 512), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(blk_req(VIRTIO_BLK_T_FLUSH, 0, 0), VIRTIO_BLK_S_OK);
	memset(vm.mem + BUF(1), 0, 512);
	ck_assert_uint_eq(blk_req(VIRTIO_BLK_T_IN, 5, 512), VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(vm.mem + BUF(1), sector, 512);
	ck_assert_int_eq(pread(vm.backend, back, 512, 5 * 512), 512);
	ck_assert_mem_eq(back, sector, 512);
	probe();
	/* The dump (SIGUSR2) runs under the serve policy too. */
	kill(vm.pid, SIGUSR2);
	ck_assert_uint_eq(blk_req(VIRTIO_BLK_T_IN, 6, 512), VIRTIO_BLK_S_OK);
	ck_assert_msg(no_violation(), "%s", medvm_log(&vm));
	st = shutdown_med();
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s",
	    st, medvm_log(&vm));
	ck_assert_msg(no_violation(), "%s", medvm_log(&vm));
}
END_TEST

/* A tap: TUNSETOFFLOAD comes at FEATURES_OK, under the serve policy. */
START_TEST(test_net_tap)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	char uid[32], gid[32], *args[] = { (char *)"--ctl-fd=3",
	    (char *)"--name=check/net", (char *)"--backend-fd=4",
	    (char *)"--backend=tap", (char *)"--mac=52:54:00:12:34:56", uid,
	    gid, NULL };
	const struct net_persist *p;
	uint64_t end;
	int hdr = NET_HDR_LEN, st;

	vm.backend = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (vm.backend < 0) {
		fprintf(stderr, "test_net_tap: no /dev/net/tun, not run\n");
		return;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "cupsbx%d", getpid() %
	    100000);
	ck_assert_int_eq(ioctl(vm.backend, TUNSETIFF, &ifr), 0);
	ck_assert_int_eq(ioctl(vm.backend, TUNSETVNETHDRSZ, &hdr), 0);
	snprintf(uid, sizeof(uid), "--uid=%u", UID_NET);
	snprintf(gid, sizeof(gid), "--gid=%u", UID_NET);
	spawn("cupule-net", args);
	check_status(vm.pid, UID_NET);
	p = (const struct net_persist *)(const void *)vm.s->device;
	driver_init(NET_NUM_QUEUES);
	end = medtest_now_ms() + WAIT_MS;
	while (__atomic_load_n(&p->tun_offload, __ATOMIC_RELAXED) == 0 &&
	    medtest_now_ms() < end)
		medtest_nap();
	ck_assert_msg(p->tun_offload != 0, "%s", medvm_log(&vm));
	probe();
	ck_assert_msg(no_violation(), "%s", medvm_log(&vm));
	st = shutdown_med();
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s",
	    st, medvm_log(&vm));
}
END_TEST

/* --no-sandbox: loud, and nothing applied. */
START_TEST(test_net_no_sandbox)
{
	char *args[] = { (char *)"--ctl-fd=3", (char *)"--name=check/net",
	    (char *)"--backend-fd=4", (char *)"--backend=switch",
	    (char *)"--mac=52:54:00:12:34:56", (char *)"--no-sandbox", NULL };
	char path[64], buf[4096];
	int sv[2], fd, st;
	ssize_t n;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    sv), 0);
	vm.backend = sv[1];
	spawn("cupule-net", args);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)vm.pid);
	ck_assert_int_ge(fd = open(path, O_RDONLY | O_CLOEXEC), 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_ptr_nonnull(strstr(buf, "Seccomp:\t0\n"));
	ck_assert_ptr_nonnull(strstr(medvm_log(&vm), "SANDBOX DISABLED "
	    "(--no-sandbox)"));
	ck_assert_ptr_nonnull(strstr(medvm_log(&vm), "sandbox DISABLED"));
	st = shutdown_med();
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(sv[0]);
}
END_TEST

/* The switch: a broadcast frame from one port reaches the other. */
START_TEST(test_switch)
{
	char uid[32], gid[32], *args[] = { (char *)"--name=sbx",
	    (char *)"--port-fd=3", (char *)"--port-fd=4", uid, gid, NULL };
	uint8_t frame[NET_HDR_LEN + 60] = { 0 }, got[sizeof(frame) + 16];
	struct pollfd pb;
	int a[2], b[2], st;
	uint64_t end;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    a), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    b), 0);
	snprintf(uid, sizeof(uid), "--uid=%u", UID_SWITCH);
	snprintf(gid, sizeof(gid), "--gid=%u", UID_SWITCH);
	vm.pid = medtest_exec("cupule-switch", args, a[1], b[1], vm.log,
	    MEDTEST_SANDBOX | MEDTEST_CLOSE_FDS);
	close(a[1]);
	close(b[1]);
	/* Broadcast from 52:54:00:00:00:01. */
	memset(frame + NET_HDR_LEN, 0xff, 6);
	memcpy(frame + NET_HDR_LEN + 6, "\x52\x54\x00\x00\x00\x01", 6);
	frame[NET_HDR_LEN + 12] = 0x08;
	end = medtest_now_ms() + WAIT_MS;
	while (strstr(medvm_log(&vm), "sandbox stage 2") == NULL &&
	    medtest_now_ms() < end)
		medtest_nap();
	check_status(vm.pid, UID_SWITCH);
	ck_assert_int_eq(send(a[0], frame, sizeof(frame), 0), sizeof(frame));
	pb = (struct pollfd){ .fd = b[0], .events = POLLIN };
	ck_assert_msg(poll(&pb, 1, WAIT_MS) == 1, "%s", medvm_log(&vm));
	ck_assert_int_eq(recv(b[0], got, sizeof(got), 0), sizeof(frame));
	ck_assert_mem_eq(got, frame, sizeof(frame));
	/* pid 1 of its namespace: SIGTERM arrives because it has a handler. */
	kill(vm.pid, SIGTERM);
	ck_assert_int_eq(waitpid(vm.pid, &st, 0), vm.pid);
	vm.pid = -1;
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s",
	    st, medvm_log(&vm));
	ck_assert_msg(no_violation(), "%s", medvm_log(&vm));
	close(a[0]);
	close(b[0]);
}
END_TEST

static Suite *
sandbox_proc_suite(void)
{
	Suite *s = suite_create("sandbox_proc");
	TCase *tc = tcase_create("mediators");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_blk);
	tcase_add_test(tc, test_net_tap);
	tcase_add_test(tc, test_net_no_sandbox);
	tcase_add_test(tc, test_switch);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	if (geteuid() != 0) {
		fprintf(stderr, "check_sandbox_proc: needs root\n");
		return 77;
	}
	sr = srunner_create(sandbox_proc_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
