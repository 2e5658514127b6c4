/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A mediator's process, seen from the VM process: started with exactly
 * the fds it needs, watched (pidfd for its death, the ring's heartbeat
 * for a hang, the ring's waiting vCPUs for a stall), started again on
 * the same ring and device-state area, and given up on when it keeps
 * dying.  medsup.c decides; this file does.  docs/supervision.md says
 * what the guest sees of each step.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "sandbox.h"
#include "layout.h"
#include "log.h"
#include "mediator_int.h"
#include "virtio_pci.h"
#include "vm.h"

/* A probe forks a child per operation: generous for emulated hosts. */
#define MED_PROBE_MS		15000

/* While not RUNNING, look this often for stalled vCPUs and deadlines. */
#define MED_TICK_BUSY_MS	50

/* clone3()'s arguments, version 0 (glibc has no wrapper). */
struct med_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal;
	uint64_t stack, stack_size, tls;
};

static void med_on_ctl(struct vm *vm, void *opaque);
static void med_on_exit(struct vm *vm, void *opaque);
static void med_on_tick(struct vm *vm, void *opaque);

uint64_t
med_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* fd as number want across exec, whatever number it has now. */
static int
place_fd(int fd, int want)
{
	if (fd == want)
		return fcntl(fd, F_SETFD, 0);
	return dup2(fd, want) < 0 ? -1 : 0;
}

/*
 * The child, between clone and exec.  The VM process has threads, so
 * only async-signal-safe calls here: no stdio, no malloc.
 */
static void __attribute__((noreturn))
med_child(struct mediator *m, int ctl)
{
	static const char msg[] = "cupule: cannot start a mediator\n";
	char *argv[MED_MAX_ARGS + 2];
	int i;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* Exactly these fds cross exec: the channel and the backend. */
	if (m->backend_fd == MED_CTL_FD) {
		int b = fcntl(m->backend_fd, F_DUPFD_CLOEXEC, MED_BACKEND_FD + 1);

		if (b < 0)
			_exit(127);
		m->backend_fd = b;
	}
	if (place_fd(ctl, MED_CTL_FD) < 0 || (m->backend_fd >= 0 &&
	    place_fd(m->backend_fd, MED_BACKEND_FD) < 0))
		_exit(127);
	close_range(m->backend_fd >= 0 ? MED_BACKEND_FD + 1 : MED_CTL_FD + 1,
	    ~0U, 0);
	argv[0] = m->exe;
	for (i = 0; i < m->nargs; i++)
		argv[i + 1] = m->args[i];
	argv[i + 1] = NULL;
	execv(m->exe, argv);
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(127);
	_exit(127);
}

/* Gives the new process its ring, memory and device-state area. */
static int
med_attach(struct mediator *m)
{
	struct vm *vm = m->vm;
	struct ctl_hello hello = { .version = CTL_VERSION,
	    .role = CTL_ROLE_VM, .ring_version = IOREQ_VERSION };
	struct ctl_attach at = { .nslots = m->ring.nslots, .nregions = 1 };
	struct ctl_attach_state st = { .size = MED_STATE_SIZE };
	int fds[3] = { m->ring.memfd, m->ring.kick_fd, vm->mem_fd };
	int ret;

	snprintf(hello.name, sizeof(hello.name), "%s", vm->name);
	at.region[0] = (struct ctl_mem_region){ .gpa = 0,
	    .size = vm->mem.low, .offset = 0, .fd_index = 2 };
	if (vm->mem.size > vm->mem.low) {
		at.region[1] = (struct ctl_mem_region){ .gpa = GUEST_4G,
		    .size = vm->mem.size - vm->mem.low, .offset = vm->mem.low,
		    .fd_index = 2 };
		at.nregions = 2;
	}
	if ((ret = ctl_send(m->ctl, CTL_HELLO, m->next_id++, &hello,
	    sizeof(hello), NULL, 0)) < 0 ||
	    (ret = ctl_send(m->ctl, CTL_ATTACH, m->next_id++, &at, sizeof(at),
	    fds, 3)) < 0 ||
	    (ret = ctl_send(m->ctl, CTL_ATTACH_STATE, m->next_id++, &st,
	    sizeof(st), &m->state_fd, 1)) < 0)
		return ret;
	for (unsigned first = 0; first < m->ring.nslots; first += CTL_MAX_FDS) {
		struct ctl_attach_slots s = { .first = first,
		    .count = m->ring.nslots - first };

		if (s.count > CTL_MAX_FDS)
			s.count = CTL_MAX_FDS;
		ret = ctl_send(m->ctl, CTL_ATTACH_SLOTS, m->next_id++, &s,
		    sizeof(s), &m->ring.done_fd[first], s.count);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static void
med_signal(struct mediator *m, int sig)
{
	if (m->pidfd >= 0 && pidfd_send_signal(m->pidfd, sig, NULL, 0) < 0 &&
	    errno != ESRCH)
		log_warn("%s: signal pid %d", m->name, (int)m->pid);
}

pid_t
mediator_clone(int *pidfd)
{
	struct med_clone_args ca = { .exit_signal = SIGCHLD };
	long pid;

	*pidfd = -1;
	ca.flags = CLONE_PIDFD | (uint64_t)sandbox_clone_flags();
	ca.pidfd = (uint64_t)(uintptr_t)pidfd;
	fflush(NULL);
	pid = syscall(SYS_clone3, &ca, sizeof(ca));
	/* No right to make namespaces (not root): the sandbox says so. */
	if (pid < 0 && (errno == EPERM || errno == EINVAL ||
	    errno == ENOSPC || errno == EUSERS)) {
		ca.flags = CLONE_PIDFD;
		pid = syscall(SYS_clone3, &ca, sizeof(ca));
	}
	return (pid_t)pid;
}

/*
 * Starts a process: a new control channel, clone3 with a pidfd, the
 * attach messages.  Its HELLO and READY come later, on the channel.
 */
static int
med_spawn(struct mediator *m)
{
	int sv[2], pidfd = -1, ret;
	pid_t pid;

	if ((ret = ctl_socketpair(sv)) < 0)
		return ret;
	pid = mediator_clone(&pidfd);
	if (pid < 0) {
		ret = -errno;
		log_warn("%s: clone3", m->name);
		close(sv[0]);
		close(sv[1]);
		return ret;
	}
	if (pid == 0)
		med_child(m, sv[0]);
	close(sv[0]);
	m->ctl = sv[1];
	m->pid = pid;
	m->pidfd = pidfd;
	m->hello = false;
	m->spawn_ms = med_now_ms();
	if ((ret = med_attach(m)) < 0) {
		log_warnx("%s: attach pid %d: %s", m->name, (int)m->pid,
		    strerror(-ret));
		med_signal(m, SIGKILL);
	}
	return ret;
}

/* Reaps the process; fills why with how it ended. */
static void
med_reap(struct mediator *m, char *why, size_t len)
{
	siginfo_t si = { 0 };

	snprintf(why, len, "ended");
	if (m->pidfd >= 0 && waitid(P_PIDFD, (id_t)m->pidfd, &si, WEXITED) ==
	    0) {
		if (si.si_code == CLD_EXITED)
			snprintf(why, len, "exited with status %d",
			    si.si_status);
		else
			snprintf(why, len, "killed by SIG%s%s",
			    sigabbrev_np(si.si_status) ? sigabbrev_np(
			    si.si_status) : "?", si.si_status == SIGSYS ?
			    " (a system call its sandbox forbids)" : "");
	}
	if (m->pidfd >= 0) {
		vm_unwatch(m->vm, m->pidfd);
		close(m->pidfd);
	}
	if (m->ctl >= 0) {
		vm_unwatch(m->vm, m->ctl);
		close(m->ctl);
	}
	m->pidfd = m->ctl = -1;
	m->pid = 0;
	m->hello = false;
}

/* Every slot a vCPU waits on is answered from the state. */
static void
med_abandon_all(struct mediator *m)
{
	for (unsigned i = 0; i < m->ring.nslots; i++)
		ioreq_abandon(&m->ring, i);
}

/*
 * Given up: from now on the VM process answers the device's registers
 * from the device-state area, with DEVICE_NEEDS_RESET in the status,
 * and tells the driver with a configuration-change interrupt.
 */
static void
med_go_down(struct mediator *m)
{
	log_warnx("%s: device down (%s): its registers are answered from "
	    "the device state with NEEDS_RESET; 'cupulectl restart' brings "
	    "it back", m->name, medsup_cause_name(m->sup.cause));
	__atomic_store_n(&m->down, 1, __ATOMIC_SEQ_CST);
	if (m->vstate != NULL) {
		__atomic_store_n(&m->vstate->needs_reset, 1, __ATOMIC_RELAXED);
		__atomic_fetch_or(&m->vstate->status, VIRTIO_STATUS_NEEDS_RESET,
		    __ATOMIC_SEQ_CST);
		virtio_raise_config(m->vstate, med_fire, m);
	}
	if (m->pidfd >= 0)
		med_signal(m, SIGKILL);	/* the rest when it is reaped */
	else
		med_abandon_all(m);
}

static int
med_watch_process(struct mediator *m)
{
	int ret;

	if ((ret = vm_watch(m->vm, m->ctl, med_on_ctl, m)) < 0 ||
	    (ret = vm_watch(m->vm, m->pidfd, med_on_exit, m)) < 0)
		log_warnx("%s: cannot watch pid %d: %s", m->name, (int)m->pid,
		    strerror(-ret));
	return ret;
}

static void
med_arm_tick(struct mediator *m)
{
	int64_t ms = medsup_next_ms(&m->sup, med_now_ms());
	struct itimerspec its = { 0 };

	if (m->sup.state == MEDSUP_STARTING || m->sup.state == MEDSUP_BACKOFF)
		if (ms < 0 || ms > MED_TICK_BUSY_MS)
			ms = MED_TICK_BUSY_MS;
	if (m->sup.state == MEDSUP_RUNNING && (ms < 0 ||
	    (uint64_t)ms > m->sup.cfg.stall_ms / 2 + 1))
		ms = m->sup.cfg.stall_ms / 2 + 1;
	if (ms == 0)
		ms = 1;
	if (ms > 0) {
		its.it_value.tv_sec = ms / 1000;
		its.it_value.tv_nsec = ms % 1000 * 1000000;
	}
	if (m->tick_fd >= 0)
		timerfd_settime(m->tick_fd, 0, &its, NULL);
}

static void
med_act(struct mediator *m, enum medsup_action a)
{
	int ret;

	while (a == MEDSUP_SPAWN) {
		__atomic_store_n(&m->down, 0, __ATOMIC_SEQ_CST);
		ret = med_spawn(m);
		if (ret == 0 && (ret = med_watch_process(m)) == 0) {
			log_warnx("%s: started again as pid %d (restart %u)",
			    m->name, (int)m->pid, m->sup.restarts);
			break;
		}
		if (m->pid > 0) {
			char why[96];

			med_signal(m, SIGKILL);
			med_reap(m, why, sizeof(why));
		}
		a = medsup_exited(&m->sup, med_now_ms(), MEDSUP_CAUSE_START);
	}
	if (a == MEDSUP_KILL)
		med_signal(m, SIGKILL);
	else if (a == MEDSUP_MARK_DOWN)
		med_go_down(m);
	med_arm_tick(m);
}

/* Requests on the channel: set-up messages, READY, nothing after. */
static void
med_on_ctl(struct vm *vm, void *opaque)
{
	struct mediator *m = opaque;
	uint64_t now;
	int ret = med_serve_one(m);

	(void)vm;
	if (ret == 1) {
		now = med_now_ms();
		m->ready_ms = now;
		medsup_ready(&m->sup, now);
		log_warnx("%s: pid %d ready %llu ms after it was started",
		    m->name, (int)m->pid,
		    (unsigned long long)(now - m->spawn_ms));
		med_arm_tick(m);
	} else if (ret < 0) {
		/* A process without its channel is of no use: end it. */
		vm_unwatch(m->vm, m->ctl);
		close(m->ctl);
		m->ctl = -1;
		med_signal(m, SIGKILL);
	}
}

/* " (hung)" and the like, when the exit was not the process's idea. */
#define CAUSE(m) (m)->sup.cause == MEDSUP_CAUSE_EXIT ? "" : " (",	\
	(m)->sup.cause == MEDSUP_CAUSE_EXIT ? "" :			\
	medsup_cause_name((m)->sup.cause),				\
	(m)->sup.cause == MEDSUP_CAUSE_EXIT ? "" : ")"

static void
med_on_exit(struct vm *vm, void *opaque)
{
	struct mediator *m = opaque;
	enum medsup_state was = m->sup.state;
	enum medsup_action a;
	pid_t pid = m->pid;
	siginfo_t si = { 0 };
	char why[96];

	(void)vm;
	/* Readable only once it exited; never block the main loop on it. */
	if (m->pidfd < 0 || waitid(P_PIDFD, (id_t)m->pidfd, &si, WEXITED |
	    WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
		return;
	med_reap(m, why, sizeof(why));
	if (!vm_running(m->vm))
		return;
	a = medsup_exited(&m->sup, med_now_ms(), MEDSUP_CAUSE_EXIT);
	if (was == MEDSUP_DOWN) {
		log_warnx("%s: pid %d %s", m->name, (int)pid, why);
		med_abandon_all(m);
	} else if (a == MEDSUP_SPAWN)
		log_warnx("%s: pid %d %s%s%s%s: starting it again now",
		    m->name, (int)pid, why, CAUSE(m));
	else if (a == MEDSUP_NOTHING)
		log_warnx("%s: pid %d %s%s%s%s: starting it again in %llu ms",
		    m->name, (int)pid, why, CAUSE(m),
		    (unsigned long long)(m->sup.next_at - m->sup.since));
	else
		log_warnx("%s: pid %d %s: %u exits within %u ms", m->name,
		    (int)pid, why, m->sup.nrecent, m->sup.cfg.restart_window_ms);
	med_act(m, a);
}

/* When the longest-waiting vCPU request on this device was made. */
static uint64_t
med_oldest_wait(const struct mediator *m)
{
	uint64_t oldest = 0;

	for (unsigned i = 0; i < m->ring.nslots; i++) {
		uint64_t t = ioreq_waiting_since(&m->ring, i);

		if (t != 0 && (oldest == 0 || t < oldest))
			oldest = t;
	}
	/* The ring counts in ns on the same clock. */
	return oldest ? (oldest / 1000000 ? oldest / 1000000 : 1) : 0;
}

static void
med_on_tick(struct vm *vm, void *opaque)
{
	struct mediator *m = opaque;
	struct ioreq_stats st;
	enum medsup_state was = m->sup.state;
	enum medsup_action a;
	uint64_t v;

	(void)vm;
	if (read(m->tick_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	ioreq_ring_stats(&m->ring, &st);
	a = medsup_tick(&m->sup, med_now_ms(), st.heartbeat,
	    med_oldest_wait(m));
	if (a == MEDSUP_KILL)
		log_warnx("%s: pid %d %s: killing it", m->name, (int)m->pid,
		    m->sup.pending == MEDSUP_CAUSE_HUNG ? "stopped beating" :
		    m->sup.pending == MEDSUP_CAUSE_STALL ? "left a vCPU "
		    "waiting" : "did not say READY in time");
	else if (a == MEDSUP_MARK_DOWN && was != MEDSUP_DOWN)
		log_warnx("%s: a vCPU waited %u ms for the device", m->name,
		    m->sup.cfg.stall_ms);
	med_act(m, a);
}

int
med_start_first(struct mediator *m)
{
	struct pollfd p[2];
	uint64_t deadline;
	int ret;

	medsup_init(&m->sup, &m->cfg->supervise, med_now_ms());
	if ((ret = med_spawn(m)) < 0)
		return ret;
	deadline = m->spawn_ms + m->sup.cfg.start_ms;
	for (;;) {
		uint64_t now = med_now_ms();

		p[0] = (struct pollfd){ .fd = m->ctl, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = m->pidfd, .events = POLLIN };
		if (now >= deadline)
			return -ETIMEDOUT;
		if (poll(p, 2, (int)(deadline - now)) < 0 && errno != EINTR)
			return -errno;
		if (p[0].revents) {
			ret = med_serve_one(m);
			if (ret < 0)
				return ret;
			if (ret == 1)
				break;
		} else if (p[1].revents)
			return -ECHILD;
	}
	m->ready_ms = med_now_ms();
	medsup_ready(&m->sup, m->ready_ms);
	log_info("%s: pid %d ready in %llu ms", m->name, (int)m->pid,
	    (unsigned long long)(m->ready_ms - m->spawn_ms));
	return 0;
}

int
med_supervise(struct mediator *m)
{
	int ret;

	m->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK |
	    TFD_CLOEXEC);
	if (m->tick_fd < 0)
		return -errno;
	if ((ret = vm_watch(m->vm, m->tick_fd, med_on_tick, m)) < 0 ||
	    (ret = med_watch_process(m)) < 0)
		return ret;
	med_arm_tick(m);
	return 0;
}

int
mediator_probe(struct mediator *m, pid_t sibling,
    struct ctl_probe_result *res)
{
	struct ctl_probe req = { .ops = 0, .sibling_pid = sibling,
	    .mem_fd = -1 };
	uint32_t id = m->next_id++;
	uint64_t deadline = med_now_ms() + MED_PROBE_MS;
	int ret;

	if (m->sup.state != MEDSUP_RUNNING || m->ctl < 0)
		return -ESRCH;
	if ((ret = ctl_send(m->ctl, CTL_PROBE, id, &req, sizeof(req), NULL,
	    0)) < 0)
		return ret;
	/* On the main loop: nothing else is read from the channel now. */
	for (;;) {
		struct pollfd p = { .fd = m->ctl, .events = POLLIN };
		struct ctl_msg msg;
		uint64_t now = med_now_ms();

		if (now >= deadline || poll(&p, 1, (int)(deadline - now)) <= 0)
			return -ETIMEDOUT;
		if ((ret = ctl_recv(m->ctl, &msg)) < 0)
			return ret;
		if (msg.hdr.type == CTL_PROBE_RESULT && msg.hdr.id == id) {
			ret = ctl_get_probe_result(&msg, res);
			ctl_msg_close(&msg);
			return ret;
		}
		log_warnx("%s: %s while waiting for the probe", m->name,
		    ctl_type_name(msg.hdr.type));
		ctl_msg_close(&msg);
	}
}

int
mediator_restart(struct mediator *m)
{
	log_warnx("%s: restart asked by the operator (pid %d, %s)", m->name,
	    (int)m->pid, medsup_state_name(m->sup.state));
	med_act(m, medsup_restart(&m->sup, med_now_ms()));
	return 0;
}

int
mediator_kill(struct mediator *m)
{
	enum medsup_action a = medsup_kill(&m->sup, med_now_ms());

	if (a == MEDSUP_NOTHING)
		return -ESRCH;
	log_warnx("%s: SIGKILL to pid %d asked by the operator", m->name,
	    (int)m->pid);
	med_act(m, a);
	return 0;
}

void
mediator_stop(struct mediator *m)
{
	struct ctl_shutdown sd = { .reason = CTL_SHUTDOWN_POWEROFF };

	if (m->tick_fd >= 0) {
		vm_unwatch(m->vm, m->tick_fd);
		close(m->tick_fd);
		m->tick_fd = -1;
	}
	if (m->ctl >= 0)
		ctl_send(m->ctl, CTL_SHUTDOWN, m->next_id++, &sd, sizeof(sd),
		    NULL, 0);
	if (m->pidfd >= 0) {
		struct pollfd p = { .fd = m->pidfd, .events = POLLIN };
		char why[96];

		/* Give it a moment to flush, then make sure. */
		if (poll(&p, 1, 1000) <= 0)
			med_signal(m, SIGKILL);
		med_reap(m, why, sizeof(why));
	}
	if (m->ctl >= 0) {
		vm_unwatch(m->vm, m->ctl);
		close(m->ctl);
		m->ctl = -1;
	}
	for (int i = 0; i < m->nioevent; i++)
		close(m->ioevent[i].fd);
	for (int i = 0; i < m->nirq; i++) {
		close(m->irq[i].fd);
		if (m->irq[i].resample_fd >= 0)
			close(m->irq[i].resample_fd);
	}
	m->nioevent = m->nirq = 0;
	if (m->state_fd >= 0)
		close(m->state_fd);
	if (m->vstate != NULL)
		munmap(m->vstate, MED_STATE_SIZE);
	m->vstate = NULL;
	if (m->backend_fd >= 0)
		close(m->backend_fd);
	ioreq_ring_close(&m->ring);
	m->state_fd = m->backend_fd = -1;
}
