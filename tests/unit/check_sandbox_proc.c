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
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include "blk.h"
#include "ctl.h"
#include "net.h"
#include "ring.h"
#include "sandbox.h"
#include "virtio_pci.h"

#define MEM_SIZE	(4u << 20)
#define STATE_SIZE	(64u * 1024)
#define QBASE(q)	(0x10000u + (q) * 0x4000u)
#define BUF(i)		(0x100000u + (i) * 0x1000u)
#define IMAGE_SIZE	(1u << 20)
#define WAIT_MS		10000
#define UID_BLK		0x7ff00011u
#define UID_NET		0x7ff00012u
#define UID_SWITCH	0x7ff00013u

/* The VM process of one mediator, and its guest's driver. */
struct vmp {
	pid_t pid;
	int ctl;
	int backend;			/* the mediator's fd 4 */
	int log;
	struct ioreq_ring ring;
	int state_fd;
	struct virtio_state *s;
	int mem_fd;
	uint8_t *mem;
	int kick[4];
	int nkick;
	int irq[8];
	int nirq;
	int intx, resample;
	uint32_t next_id;
	uint16_t avail[4], desc[4], qsize[4];
	int status;
	char logbuf[16384];
};

static struct vmp vm;

static const char *
prog_path(const char *prog)
{
	static char path[PATH_MAX + 64];
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	/* BUILD/tests/check_sandbox_proc -> BUILD/bin/PROG */
	for (int i = 0; i < 2; i++) {
		ck_assert_ptr_nonnull(slash = strrchr(exe, '/'));
		*slash = '\0';
	}
	snprintf(path, sizeof(path), "%s/bin/%s", exe, prog);
	ck_assert_msg(access(path, X_OK) == 0, "%s is not built", path);
	return path;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
nap(void)
{
	struct timespec ts = { 0, 1000000 };

	nanosleep(&ts, NULL);
}

static int
tmp_log(void)
{
	char tmpl[] = "/tmp/check_sandbox_proc.XXXXXX";
	int fd = mkostemp(tmpl, O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	unlink(tmpl);
	return fd;
}

static const char *
read_log(struct vmp *v)
{
	ssize_t n = pread(v->log, v->logbuf, sizeof(v->logbuf) - 1, 0);

	v->logbuf[n > 0 ? n : 0] = '\0';
	return v->logbuf;
}

/*
 * Starts prog as the spawner should: its own namespaces, fds 3 (ctl or
 * first port) and 4 (backend or second port), stderr to our log file.
 */
static pid_t
start(const char *prog, char *const *args, int fd3, int fd4, int log)
{
	const char *path = prog_path(prog);
	char name[32], *argv[16];
	int a = 0;
	pid_t pid;

	snprintf(name, sizeof(name), "%s", prog);
	argv[a++] = name;
	for (int i = 0; args[i] != NULL && a < 15; i++)
		argv[a++] = args[i];
	argv[a] = NULL;
	fflush(NULL);
	pid = sandbox_fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* Only async-signal-safe calls: see sandbox_fork(). */
		int c = fcntl(fd3, F_DUPFD_CLOEXEC, 200);
		int b = fd4 >= 0 ? fcntl(fd4, F_DUPFD_CLOEXEC, 200) : -1;
		int l = fcntl(log, F_DUPFD_CLOEXEC, 200);

		if (c < 0 || l < 0 || dup2(c, 3) < 0 || (b >= 0 &&
		    dup2(b, 4) < 0) || dup2(l, 2) < 0)
			_exit(127);
		close_range(5, ~0u, CLOSE_RANGE_CLOEXEC);
		execv(path, argv);
		_exit(127);
	}
	return pid;
}

static void
recv_msg(struct ctl_msg *msg)
{
	struct pollfd p = { .fd = vm.ctl, .events = POLLIN };

	ck_assert_msg(poll(&p, 1, WAIT_MS) == 1, "mediator silent: %s",
	    read_log(&vm));
	ck_assert_msg(ctl_recv(vm.ctl, msg) == 0, "channel: %s",
	    read_log(&vm));
}

static void
reply(const struct ctl_msg *msg, int32_t error)
{
	struct ctl_result res = { .error = error };

	ck_assert_int_eq(ctl_send(vm.ctl, CTL_RESULT, msg->hdr.id, &res,
	    sizeof(res), NULL, 0), 0);
}

/* The VM process's side of a mediator's start, up to READY. */
static void
spawn(const char *prog, char *const *args)
{
	struct ctl_hello hello = { .version = CTL_VERSION,
	    .role = CTL_ROLE_VM, .ring_version = IOREQ_VERSION,
	    .name = "check" };
	struct ctl_attach at = { .nslots = 1, .nregions = 1 };
	struct ctl_attach_state st = { .size = STATE_SIZE };
	struct ctl_attach_slots sl = { .first = 0, .count = 1 };
	struct ctl_msg msg;
	int sv[2], fds[3];

	ck_assert_int_eq(ctl_socketpair(sv), 0);
	vm.pid = start(prog, args, sv[0], vm.backend, vm.log);
	close(sv[0]);
	vm.ctl = sv[1];
	at.region[0] = (struct ctl_mem_region){ .gpa = 0, .size = MEM_SIZE,
	    .offset = 0, .fd_index = 2 };
	fds[0] = vm.ring.memfd;
	fds[1] = vm.ring.kick_fd;
	fds[2] = vm.mem_fd;
	ck_assert_int_eq(ctl_send(vm.ctl, CTL_HELLO, vm.next_id++, &hello,
	    sizeof(hello), NULL, 0), 0);
	ck_assert_int_eq(ctl_send(vm.ctl, CTL_ATTACH, vm.next_id++, &at,
	    sizeof(at), fds, 3), 0);
	ck_assert_int_eq(ctl_send(vm.ctl, CTL_ATTACH_STATE, vm.next_id++, &st,
	    sizeof(st), &vm.state_fd, 1), 0);
	ck_assert_int_eq(ctl_send(vm.ctl, CTL_ATTACH_SLOTS, vm.next_id++, &sl,
	    sizeof(sl), &vm.ring.done_fd[0], 1), 0);
	recv_msg(&msg);
	ck_assert_uint_eq(msg.hdr.type, CTL_HELLO);
	ctl_msg_close(&msg);
	for (;;) {
		struct ctl_irqfd irq;

		recv_msg(&msg);
		switch (msg.hdr.type) {
		case CTL_DEVICE:
			reply(&msg, 0);
			break;
		case CTL_IOEVENTFD:
			ck_assert_int_lt(vm.nkick, 4);
			vm.kick[vm.nkick++] = ctl_take_fd(&msg, 0);
			reply(&msg, 0);
			break;
		case CTL_IRQFD:
			ck_assert_int_eq(ctl_get_irqfd(&msg, &irq), 0);
			if (irq.kind == CTL_IRQ_MSIX) {
				ck_assert_int_lt(vm.nirq, 8);
				vm.irq[vm.nirq++] = ctl_take_fd(&msg, 0);
			} else {
				vm.intx = ctl_take_fd(&msg, 0);
				vm.resample = ctl_take_fd(&msg, 1);
			}
			reply(&msg, 0);
			break;
		case CTL_READY:
			ctl_msg_close(&msg);
			return;
		default:
			ck_abort_msg("unexpected message %u", msg.hdr.type);
		}
		ctl_msg_close(&msg);
	}
}

static void
setup(void)
{
	memset(&vm, 0, sizeof(vm));
	vm.pid = -1;
	vm.ctl = vm.backend = vm.intx = vm.resample = -1;
	ck_assert_int_eq(ioreq_ring_create(&vm.ring, 1), 0);
	vm.state_fd = memfd_create("cupule-devstate", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING);
	ck_assert_int_ge(vm.state_fd, 0);
	ck_assert_int_eq(ftruncate(vm.state_fd, STATE_SIZE), 0);
	ck_assert_int_eq(fcntl(vm.state_fd, F_ADD_SEALS, F_SEAL_SHRINK |
	    F_SEAL_GROW), 0);
	vm.s = mmap(NULL, STATE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
	    vm.state_fd, 0);
	ck_assert_ptr_ne(vm.s, MAP_FAILED);
	vm.mem_fd = memfd_create("cupule-ram", MFD_CLOEXEC);
	ck_assert_int_ge(vm.mem_fd, 0);
	ck_assert_int_eq(ftruncate(vm.mem_fd, MEM_SIZE), 0);
	vm.mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
	    vm.mem_fd, 0);
	ck_assert_ptr_ne(vm.mem, MAP_FAILED);
	vm.log = tmp_log();
}

static void
teardown(void)
{
	if (vm.pid > 0) {
		kill(vm.pid, SIGKILL);
		waitpid(vm.pid, NULL, 0);
	}
	if (getenv("CHECK_SBX_LOG") != NULL)
		fprintf(stderr, "%s", read_log(&vm));
}

/* SHUTDOWN, then its exit status. */
static int
shutdown_med(void)
{
	struct ctl_shutdown sd = { .reason = CTL_SHUTDOWN_POWEROFF };
	uint64_t end = now_ms() + WAIT_MS;
	int st = 0;
	pid_t r;

	ck_assert_int_eq(ctl_send(vm.ctl, CTL_SHUTDOWN, vm.next_id++, &sd,
	    sizeof(sd), NULL, 0), 0);
	while ((r = waitpid(vm.pid, &st, WNOHANG)) == 0 && now_ms() < end)
		nap();
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
	recv_msg(&msg);
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
	ck_assert_ptr_nonnull(strstr(read_log(&vm), "probe: 16 operations at "
	    "stage 2: every one refused"));
}

/* ---- the driver ---------------------------------------------------------- */

static uint64_t
mmio(bool write, uint64_t off, unsigned size, uint64_t val)
{
	struct ioreq r = { .type = IOREQ_MMIO, .size = (uint8_t)size,
	    .dir = write ? IOREQ_WRITE : IOREQ_READ, .index = 0, .addr = off,
	    .data = val };
	uint64_t data = 0;
	int ret;

	ck_assert_int_eq(ioreq_submit(&vm.ring, 0, &r), 0);
	while ((ret = ioreq_wait_complete(&vm.ring, 0, 0, &data)) == -EINTR)
		;
	ck_assert_int_eq(ret, 0);
	return data;
}

static uint64_t
offered(void)
{
	uint64_t lo;

	mmio(true, VIRTIO_PCI_DFSELECT, 4, 0);
	lo = mmio(false, VIRTIO_PCI_DF, 4, 0);
	mmio(true, VIRTIO_PCI_DFSELECT, 4, 1);
	return lo | mmio(false, VIRTIO_PCI_DF, 4, 0) << 32;
}

/* Brings the device up with every feature it offers, nq queues. */
static void
driver_init(unsigned nq)
{
	uint64_t f = offered();

	mmio(true, VIRTIO_PCI_STATUS, 1, 0);
	mmio(true, VIRTIO_PCI_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE |
	    VIRTIO_STATUS_DRIVER);
	/* Not EVENT_IDX: every kick is then seen, the test stays simple. */
	f &= ~VIRTIO_F_EVENT_IDX;
	mmio(true, VIRTIO_PCI_GFSELECT, 4, 0);
	mmio(true, VIRTIO_PCI_GF, 4, (uint32_t)f);
	mmio(true, VIRTIO_PCI_GFSELECT, 4, 1);
	mmio(true, VIRTIO_PCI_GF, 4, f >> 32);
	mmio(true, VIRTIO_PCI_STATUS, 1, 0x0b);
	ck_assert_uint_eq(mmio(false, VIRTIO_PCI_STATUS, 1, 0), 0x0b);
	for (int v = 0; v < VIRTIO_MSIX_MAX; v++)
		vm.s->msix[v].ctrl = 0;
	__atomic_store_n(&vm.s->msix_ctrl, VIRTIO_MSIX_ENABLE,
	    __ATOMIC_SEQ_CST);
	mmio(true, VIRTIO_PCI_MSIX, 2, nq);
	for (uint16_t q = 0; q < nq; q++) {
		memset(vm.mem + QBASE(q), 0, 0x4000);
		mmio(true, VIRTIO_PCI_Q_SELECT, 2, q);
		vm.qsize[q] = (uint16_t)mmio(false, VIRTIO_PCI_Q_SIZE, 2, 0);
		ck_assert_uint_gt(vm.qsize[q], 8);
		mmio(true, VIRTIO_PCI_Q_DESC, 8, QBASE(q));
		mmio(true, VIRTIO_PCI_Q_DRIVER, 8, QBASE(q) + 0x1000);
		mmio(true, VIRTIO_PCI_Q_DEVICE, 8, QBASE(q) + 0x2000);
		mmio(true, VIRTIO_PCI_Q_MSIX, 2, q);
		mmio(true, VIRTIO_PCI_Q_ENABLE, 2, 1);
		vm.avail[q] = vm.desc[q] = 0;
	}
	mmio(true, VIRTIO_PCI_STATUS, 1, 0x0f);
	ck_assert_uint_eq(mmio(false, VIRTIO_PCI_STATUS, 1, 0), 0x0f);
}

static uint16_t
put_desc(uint16_t q, uint64_t addr, uint32_t len, uint16_t flags)
{
	uint16_t i = vm.desc[q]++;
	struct virtq_desc d = { addr, len, flags,
	    (uint16_t)((i + 1) % vm.qsize[q]) };

	ck_assert_uint_lt(i, vm.qsize[q]);
	memcpy(vm.mem + QBASE(q) + 16u * i, &d, sizeof(d));
	return i;
}

static void
publish(uint16_t q, uint16_t head)
{
	uint8_t *avail = vm.mem + QBASE(q) + 0x1000;
	uint16_t idx = vm.avail[q]++;
	uint64_t one = 1;

	memcpy(avail + 4 + 2 * (idx % vm.qsize[q]), &head, 2);
	__atomic_store_n((uint16_t *)(void *)(avail + 2), vm.avail[q],
	    __ATOMIC_RELEASE);
	ck_assert_int_eq(write(vm.kick[q], &one, sizeof(one)), sizeof(one));
}

static bool
wait_used(uint16_t q, uint16_t want)
{
	const uint16_t *used = (const uint16_t *)(const void *)(vm.mem +
	    QBASE(q) + 0x2002);
	uint64_t end = now_ms() + WAIT_MS;

	while (__atomic_load_n(used, __ATOMIC_ACQUIRE) != want &&
	    now_ms() < end)
		nap();
	return __atomic_load_n(used, __ATOMIC_ACQUIRE) == want;
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
	head = put_desc(0, BUF(0), sizeof(h), VIRTQ_DESC_F_NEXT);
	if (n > 0)
		put_desc(0, BUF(1), n, VIRTQ_DESC_F_NEXT |
		    (type == VIRTIO_BLK_T_IN ? VIRTQ_DESC_F_WRITE : 0));
	put_desc(0, BUF(2), 1, VIRTQ_DESC_F_WRITE);
	publish(0, head);
	ck_assert_msg(wait_used(0, vm.avail[0]), "no answer: %s",
	    read_log(&vm));
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
	return strstr(read_log(&vm), "sandbox: system call") == NULL;
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
	vm.backend = tmp_log();		/* the image: a file of our own */
	ck_assert_int_eq(ftruncate(vm.backend, IMAGE_SIZE), 0);
	spawn("cupule-blk", args);
	check_status(vm.pid, UID_BLK);
	/* The io_uring engine, not the SYNC fallback: MEMLOCK allows it. */
	ck_assert_msg(holds(vm.pid, "anon_inode:[io_uring]"), "%s",
	    read_log(&vm));
	ck_assert_ptr_nonnull(strstr(read_log(&vm), "sandbox stage 2: "
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
	ck_assert_msg(no_violation(), "%s", read_log(&vm));
	st = shutdown_med();
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s",
	    st, read_log(&vm));
	ck_assert_msg(no_violation(), "%s", read_log(&vm));
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
	end = now_ms() + WAIT_MS;
	while (__atomic_load_n(&p->tun_offload, __ATOMIC_RELAXED) == 0 &&
	    now_ms() < end)
		nap();
	ck_assert_msg(p->tun_offload != 0, "%s", read_log(&vm));
	probe();
	ck_assert_msg(no_violation(), "%s", read_log(&vm));
	st = shutdown_med();
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s",
	    st, read_log(&vm));
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
	ck_assert_ptr_nonnull(strstr(read_log(&vm), "SANDBOX DISABLED "
	    "(--no-sandbox)"));
	ck_assert_ptr_nonnull(strstr(read_log(&vm), "sandbox DISABLED"));
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
	vm.pid = start("cupule-switch", args, a[1], b[1], vm.log);
	close(a[1]);
	close(b[1]);
	/* Broadcast from 52:54:00:00:00:01. */
	memset(frame + NET_HDR_LEN, 0xff, 6);
	memcpy(frame + NET_HDR_LEN + 6, "\x52\x54\x00\x00\x00\x01", 6);
	frame[NET_HDR_LEN + 12] = 0x08;
	end = now_ms() + WAIT_MS;
	while (strstr(read_log(&vm), "sandbox stage 2") == NULL &&
	    now_ms() < end)
		nap();
	check_status(vm.pid, UID_SWITCH);
	ck_assert_int_eq(send(a[0], frame, sizeof(frame), 0), sizeof(frame));
	pb = (struct pollfd){ .fd = b[0], .events = POLLIN };
	ck_assert_msg(poll(&pb, 1, WAIT_MS) == 1, "%s", read_log(&vm));
	ck_assert_int_eq(recv(b[0], got, sizeof(got), 0), sizeof(frame));
	ck_assert_mem_eq(got, frame, sizeof(frame));
	/* pid 1 of its namespace: SIGTERM arrives because it has a handler. */
	kill(vm.pid, SIGTERM);
	ck_assert_int_eq(waitpid(vm.pid, &st, 0), vm.pid);
	vm.pid = -1;
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s",
	    st, read_log(&vm));
	ck_assert_msg(no_violation(), "%s", read_log(&vm));
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
