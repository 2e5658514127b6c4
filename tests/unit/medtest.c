/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The VM process and the guest's driver for the tests that run a real
 * mediator (medtest.h).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "medtest.h"
#include "sandbox.h"

/* ---- small things ------------------------------------------------------- */

const char *
medtest_prog(const char *name)
{
	static char path[PATH_MAX + 64];
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	/* BUILD/tests/check_x -> BUILD/bin/name */
	for (int i = 0; i < 2; i++) {
		ck_assert_ptr_nonnull(slash = strrchr(exe, '/'));
		*slash = '\0';
	}
	snprintf(path, sizeof(path), "%s/bin/%s", exe, name);
	ck_assert_msg(access(path, X_OK) == 0, "%s is not built", path);
	return path;
}

uint64_t
medtest_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
medtest_sleep_us(unsigned us)
{
	struct timespec ts = { us / 1000000, (long)(us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

void
medtest_nap(void)
{
	medtest_sleep_us(1000);
}

uint64_t
medtest_drain(int fd)
{
	uint64_t n = 0;

	/* Every eventfd here is non-blocking: nothing counted reads -1. */
	if (fd < 0 || read(fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

int
medtest_tmpfile(const char *name)
{
	char tmpl[PATH_MAX];
	int fd;

	snprintf(tmpl, sizeof(tmpl), "/tmp/%s.XXXXXX", name);
	fd = mkostemp(tmpl, O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	unlink(tmpl);
	return fd;
}

pid_t
medtest_exec(const char *prog, char *const *args, int fd3, int fd4, int log,
    int flags)
{
	const char *path = medtest_prog(prog);
	char name[32], *argv[16];
	int a = 0;
	pid_t pid;

	snprintf(name, sizeof(name), "%s", prog);
	argv[a++] = name;
	for (int i = 0; args[i] != NULL && a < 15; i++)
		argv[a++] = args[i];
	argv[a] = NULL;
	fflush(NULL);
	pid = flags & MEDTEST_SANDBOX ? sandbox_fork() : fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* Only async-signal-safe calls: see sandbox_fork(). */
		int c = fcntl(fd3, F_DUPFD_CLOEXEC, 200);
		int b = fd4 >= 0 ? fcntl(fd4, F_DUPFD_CLOEXEC, 200) : -1;
		int l = fcntl(log, F_DUPFD_CLOEXEC, 200);

		/* A test that fails takes its mediator with it. */
		if (flags & MEDTEST_PDEATHSIG)
			prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (c < 0 || l < 0 || dup2(c, 3) < 0 || (b >= 0 &&
		    dup2(b, 4) < 0) || dup2(l, 2) < 0)
			_exit(127);
		if (flags & MEDTEST_CLOSE_FDS)
			close_range(5, ~0u, CLOSE_RANGE_CLOEXEC);
		execv(path, argv);
		_exit(127);
	}
	return pid;
}

/* ---- the VM process ----------------------------------------------------- */

void
medvm_open(struct medvm *vm, const char *name, int wait_ms)
{
	memset(vm, 0, sizeof(*vm));
	vm->pid = -1;
	vm->ctl = vm->backend = vm->intx = vm->resample = -1;
	for (int i = 0; i < MEDVM_NQ; i++)
		vm->kick[i] = -1;
	for (int i = 0; i < MEDVM_NVEC; i++)
		vm->irq[i] = -1;
	vm->wait_ms = wait_ms;
	ck_assert_int_eq(ioreq_ring_create(&vm->ring, 1), 0);
	vm->state_fd = memfd_create("cupule-devstate", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING);
	ck_assert_int_ge(vm->state_fd, 0);
	ck_assert_int_eq(ftruncate(vm->state_fd, MEDVM_STATE_SIZE), 0);
	ck_assert_int_eq(fcntl(vm->state_fd, F_ADD_SEALS, F_SEAL_SHRINK |
	    F_SEAL_GROW), 0);
	vm->s = mmap(NULL, MEDVM_STATE_SIZE, PROT_READ | PROT_WRITE,
	    MAP_SHARED, vm->state_fd, 0);
	ck_assert_ptr_ne(vm->s, MAP_FAILED);
	vm->mem_fd = memfd_create("cupule-ram", MFD_CLOEXEC);
	ck_assert_int_ge(vm->mem_fd, 0);
	ck_assert_int_eq(ftruncate(vm->mem_fd, MEDVM_MEM_SIZE), 0);
	vm->mem = mmap(NULL, MEDVM_MEM_SIZE, PROT_READ | PROT_WRITE,
	    MAP_SHARED, vm->mem_fd, 0);
	ck_assert_ptr_ne(vm->mem, MAP_FAILED);
	vm->log = medtest_tmpfile(name);
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void
medvm_close(struct medvm *vm)
{
	close_fd(&vm->ctl);
	for (int i = 0; i < MEDVM_NQ; i++)
		close_fd(&vm->kick[i]);
	for (int i = 0; i < MEDVM_NVEC; i++)
		close_fd(&vm->irq[i]);
	close_fd(&vm->intx);
	close_fd(&vm->resample);
	close_fd(&vm->backend);
	close_fd(&vm->log);
	munmap(vm->mem, MEDVM_MEM_SIZE);
	close_fd(&vm->mem_fd);
	munmap(vm->s, MEDVM_STATE_SIZE);
	close_fd(&vm->state_fd);
	ioreq_ring_close(&vm->ring);
}

/* One message to the mediator. */
static void
send_msg(struct medvm *vm, uint32_t type, uint32_t id, const void *payload,
    size_t len, const int *fds, unsigned nfds)
{
	int ret = ctl_send(vm->ctl, type, id, payload, len, fds, nfds);

	/* A mortal one may be dead already: the next read says so. */
	if (!vm->mortal)
		ck_assert_int_eq(ret, 0);
}

bool
medvm_recv(struct medvm *vm, struct ctl_msg *msg)
{
	struct pollfd p = { .fd = vm->ctl, .events = POLLIN };
	int ret;

	ck_assert_msg(poll(&p, 1, vm->wait_ms) == 1, "mediator silent: %s",
	    medvm_log(vm));
	ret = ctl_recv(vm->ctl, msg);
	if (ret == -ECONNRESET && vm->mortal)
		return false;
	ck_assert_msg(ret == 0, "channel: %d: %s", ret, medvm_log(vm));
	return true;
}

/* Replaces *fd with a new irqfd, keeping what the old one counted. */
static void
replace_irqfd(int *fd, uint64_t *pending, int nfd)
{
	if (*fd >= 0) {
		*pending += medtest_drain(*fd);
		close(*fd);
	}
	*fd = nfd;
}

/* Takes the fds of a DEVICE, IOEVENTFD or IRQFD message. */
static void
take_fds(struct medvm *vm, struct ctl_msg *msg)
{
	struct ctl_irqfd irq;

	switch (msg->hdr.type) {
	case CTL_IOEVENTFD:
		ck_assert_int_lt(vm->nkick, MEDVM_NQ);
		close_fd(&vm->kick[vm->nkick]);
		vm->kick[vm->nkick++] = ctl_take_fd(msg, 0);
		break;
	case CTL_IRQFD:
		ck_assert_int_eq(ctl_get_irqfd(msg, &irq), 0);
		if (irq.kind == CTL_IRQ_MSIX) {
			ck_assert_int_lt(vm->nirq, MEDVM_NVEC);
			replace_irqfd(&vm->irq[vm->nirq],
			    &vm->irq_pending[vm->nirq], ctl_take_fd(msg, 0));
			vm->nirq++;
		} else {
			replace_irqfd(&vm->intx, &vm->intx_pending,
			    ctl_take_fd(msg, 0));
			close_fd(&vm->resample);
			vm->resample = ctl_take_fd(msg, 1);
		}
		break;
	}
}

bool
medvm_spawn(struct medvm *vm, const char *prog, char *const *args,
    int flags)
{
	struct ctl_hello hello = { .version = CTL_VERSION,
	    .role = CTL_ROLE_VM, .ring_version = IOREQ_VERSION,
	    .name = "check" };
	struct ctl_attach at = { .nslots = 1, .nregions = 1 };
	struct ctl_attach_state st = { .size = MEDVM_STATE_SIZE };
	struct ctl_attach_slots sl = { .first = 0, .count = 1 };
	struct ctl_msg msg;
	int sv[2], fds[3];

	ck_assert_int_eq(ctl_socketpair(sv), 0);
	vm->pid = medtest_exec(prog, args, sv[0], vm->backend, vm->log, flags);
	close(sv[0]);
	vm->ctl = sv[1];
	at.region[0] = (struct ctl_mem_region){ .gpa = 0,
	    .size = MEDVM_MEM_SIZE, .offset = 0, .fd_index = 2 };
	fds[0] = vm->ring.memfd;
	fds[1] = vm->ring.kick_fd;
	fds[2] = vm->mem_fd;
	send_msg(vm, CTL_HELLO, vm->next_id++, &hello, sizeof(hello), NULL,
	    0);
	send_msg(vm, CTL_ATTACH, vm->next_id++, &at, sizeof(at), fds, 3);
	send_msg(vm, CTL_ATTACH_STATE, vm->next_id++, &st, sizeof(st),
	    &vm->state_fd, 1);
	send_msg(vm, CTL_ATTACH_SLOTS, vm->next_id++, &sl, sizeof(sl),
	    &vm->ring.done_fd[0], 1);

	if (!medvm_recv(vm, &msg))
		return false;
	ck_assert_uint_eq(msg.hdr.type, CTL_HELLO);
	ctl_msg_close(&msg);
	/* A new mediator's fds take the places of the last one's. */
	vm->nkick = vm->nirq = 0;
	for (;;) {
		struct ctl_result res = { .error = 0 };

		if (!medvm_recv(vm, &msg))
			return false;
		if (msg.hdr.type == CTL_READY) {
			ctl_msg_close(&msg);
			return true;
		}
		ck_assert_msg(msg.hdr.type == CTL_DEVICE ||
		    msg.hdr.type == CTL_IOEVENTFD || msg.hdr.type == CTL_IRQFD,
		    "unexpected message %u", msg.hdr.type);
		if (vm->on_msg != NULL)
			vm->on_msg(vm, &msg);
		take_fds(vm, &msg);
		send_msg(vm, CTL_RESULT, msg.hdr.id, &res, sizeof(res), NULL,
		    0);
		if (vm->on_reply != NULL)
			vm->on_reply(vm, &msg);
		ctl_msg_close(&msg);
	}
}

const char *
medvm_log(struct medvm *vm)
{
	ssize_t n = pread(vm->log, vm->logbuf, sizeof(vm->logbuf) - 1, 0);

	vm->logbuf[n > 0 ? n : 0] = '\0';
	return vm->logbuf;
}

void
medvm_print_log(struct medvm *vm)
{
	char buf[4096];
	ssize_t n;

	if (vm->log < 0)
		return;
	lseek(vm->log, 0, SEEK_SET);
	while ((n = read(vm->log, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stderr);
}

/* ---- the driver: registers ---------------------------------------------- */

uint64_t
medvm_mmio(struct medvm *vm, bool write, uint64_t off, unsigned size,
    uint64_t val)
{
	struct ioreq r = { .type = IOREQ_MMIO, .size = (uint8_t)size,
	    .dir = write ? IOREQ_WRITE : IOREQ_READ, .index = 0, .addr = off,
	    .data = val };
	uint64_t data = 0;
	int ret;

	if (vm->mmio != NULL)
		return vm->mmio(write, off, size, val);
	ck_assert_int_eq(ioreq_submit(&vm->ring, 0, &r), 0);
	while ((ret = ioreq_wait_complete(&vm->ring, 0, 0, &data)) == -EINTR)
		;
	ck_assert_int_eq(ret, 0);
	return data;
}

uint64_t
medvm_offered(struct medvm *vm)
{
	uint64_t lo;

	medvm_mmio(vm, true, VIRTIO_PCI_DFSELECT, 4, 0);
	lo = medvm_mmio(vm, false, VIRTIO_PCI_DF, 4, 0);
	medvm_mmio(vm, true, VIRTIO_PCI_DFSELECT, 4, 1);
	return lo | medvm_mmio(vm, false, VIRTIO_PCI_DF, 4, 0) << 32;
}

void
medvm_reset(struct medvm *vm)
{
	medvm_mmio(vm, true, VIRTIO_PCI_STATUS, 1, 0);
	medvm_mmio(vm, true, VIRTIO_PCI_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE |
	    VIRTIO_STATUS_DRIVER);
}

void
medvm_set_features(struct medvm *vm, uint64_t f)
{
	medvm_mmio(vm, true, VIRTIO_PCI_GFSELECT, 4, 0);
	medvm_mmio(vm, true, VIRTIO_PCI_GF, 4, (uint32_t)f);
	medvm_mmio(vm, true, VIRTIO_PCI_GFSELECT, 4, 1);
	medvm_mmio(vm, true, VIRTIO_PCI_GF, 4, f >> 32);
	medvm_mmio(vm, true, VIRTIO_PCI_STATUS, 1, 0x0b);
	ck_assert_uint_eq(medvm_mmio(vm, false, VIRTIO_PCI_STATUS, 1, 0),
	    0x0b);
}

void
medvm_msix(struct medvm *vm, uint16_t config_vector)
{
	for (int v = 0; v < VIRTIO_MSIX_MAX; v++)
		vm->s->msix[v].ctrl = 0;
	__atomic_store_n(&vm->s->msix_ctrl, VIRTIO_MSIX_ENABLE,
	    __ATOMIC_SEQ_CST);
	medvm_mmio(vm, true, VIRTIO_PCI_MSIX, 2, config_vector);
}

uint16_t
medvm_queue_select(struct medvm *vm, uint16_t q)
{
	medvm_mmio(vm, true, VIRTIO_PCI_Q_SELECT, 2, q);
	return (uint16_t)medvm_mmio(vm, false, VIRTIO_PCI_Q_SIZE, 2, 0);
}

void
medvm_queue_enable(struct medvm *vm, uint16_t q, uint16_t size, int vector)
{
	ck_assert_uint_lt(q, MEDVM_NQ);
	vm->qsize[q] = size;
	vm->desc[q] = vm->avail[q] = 0;
	medvm_mmio(vm, true, VIRTIO_PCI_Q_DESC, 8, MEDVM_QBASE(q));
	medvm_mmio(vm, true, VIRTIO_PCI_Q_DRIVER, 8, MEDVM_AVAIL(q));
	medvm_mmio(vm, true, VIRTIO_PCI_Q_DEVICE, 8, MEDVM_USED(q));
	if (vector >= 0)
		medvm_mmio(vm, true, VIRTIO_PCI_Q_MSIX, 2, (uint64_t)vector);
	medvm_mmio(vm, true, VIRTIO_PCI_Q_ENABLE, 2, 1);
}

void
medvm_driver_ok(struct medvm *vm)
{
	medvm_mmio(vm, true, VIRTIO_PCI_STATUS, 1, 0x0f);
	ck_assert_uint_eq(medvm_mmio(vm, false, VIRTIO_PCI_STATUS, 1, 0),
	    0x0f);
}

/* ---- the driver: queues ------------------------------------------------- */

uint16_t
medvm_put_desc(struct medvm *vm, uint16_t q, uint64_t addr, uint32_t len,
    uint16_t flags)
{
	uint16_t i = vm->desc[q]++;
	struct virtq_desc d = { addr, len, flags,
	    (uint16_t)((i + 1) % vm->qsize[q]) };

	/* The tests stay below one round of the table. */
	ck_assert_uint_lt(i, vm->qsize[q]);
	memcpy(vm->mem + MEDVM_QBASE(q) + 16u * i, &d, sizeof(d));
	return i;
}

void
medvm_publish(struct medvm *vm, uint16_t q, uint16_t head)
{
	uint8_t *avail = vm->mem + MEDVM_AVAIL(q);
	uint16_t idx = vm->avail[q]++;

	/* The entry, then the index that publishes it. */
	memcpy(avail + 4 + 2 * (idx % vm->qsize[q]), &head, 2);
	__atomic_store_n((uint16_t *)(void *)(avail + 2), vm->avail[q],
	    __ATOMIC_RELEASE);
}

void
medvm_kick(struct medvm *vm, uint16_t q)
{
	uint64_t one = 1;

	ck_assert_int_eq(write(vm->kick[q], &one, sizeof(one)), sizeof(one));
}

uint16_t
medvm_used_idx(struct medvm *vm, uint16_t q)
{
	uint16_t *idx = (uint16_t *)(void *)(vm->mem + MEDVM_USED(q) + 2);

	return __atomic_load_n(idx, __ATOMIC_ACQUIRE);
}

void
medvm_used_elem(struct medvm *vm, uint16_t q, uint16_t i, uint32_t *id,
    uint32_t *len)
{
	uint16_t at = (uint16_t)(i % vm->qsize[q]);
	const uint8_t *u = vm->mem + MEDVM_USED(q) + 4 + 8u * at;

	memcpy(id, u, 4);
	memcpy(len, u + 4, 4);
}

bool
medvm_wait_used(struct medvm *vm, uint16_t q, uint16_t want)
{
	uint64_t end = medtest_now_ms() + (uint64_t)vm->wait_ms;

	/* Reached: want or past it, as 16-bit indexes wrap. */
	while ((uint16_t)(medvm_used_idx(vm, q) - want) > 0x8000 &&
	    medtest_now_ms() < end)
		medtest_nap();
	return (uint16_t)(medvm_used_idx(vm, q) - want) <= 0x8000;
}
