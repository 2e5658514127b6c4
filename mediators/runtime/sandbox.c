/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The mediator sandbox (sandbox.h, docs/sandbox.md): the two stages,
 * the seccomp filters (libseccomp builds them), the SIGSYS handler, the
 * report and the probe.  The other steps of stage 1 are in
 * sandbox_steps.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/io_uring.h>

#include <seccomp.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/common_interface_defs.h>
#endif

#include "sandbox_int.h"

#define SBX_NR_MAX	512	/* system call names kept for the handler */

/* A probe child's exit status, besides an errno (1..199). */
#define PROBE_EXIT_ALLOWED	200	/* the operation worked */
#define PROBE_EXIT_SECCOMP	201	/* its own call trapped */
#define PROBE_EXIT_TRAP_OTHER	202	/* another call trapped first */

/*
 * What the SIGSYS handler needs, prepared before the first filter: it
 * may not allocate, format with stdio or ask libseccomp anything.
 */
static char sbx_sysname[SBX_NR_MAX][24];
static char sbx_who[96];
static char sbx_type[POLICY_NAME_MAX];
static volatile sig_atomic_t sbx_stage;
static volatile sig_atomic_t sbx_probe_child;
static volatile sig_atomic_t sbx_probe_nr;

static const char *const step_names[SANDBOX_NSTEPS] = {
	[SANDBOX_NAMESPACES] = "namespaces",
	[SANDBOX_ROOT] = "root",
	[SANDBOX_RLIMITS] = "rlimits",
	[SANDBOX_CAPS] = "caps",
	[SANDBOX_IDS] = "ids",
	[SANDBOX_NNP] = "no_new_privs",
	[SANDBOX_DUMPABLE] = "dumpable",
	[SANDBOX_LANDLOCK] = "landlock",
	[SANDBOX_SECCOMP_SETUP] = "seccomp-setup",
	[SANDBOX_SECCOMP_SERVE] = "seccomp-serve",
};

#ifdef __SANITIZE_ADDRESS__
/*
 * make SAN=1 only: calls the ASan and UBSan runtime makes on its own
 * (alternate signal stacks, memory handed back, thread ids), added to
 * both stages.  Production builds have none of them.
 */
static const int san_calls[] = {
	SCMP_SYS(sigaltstack), SCMP_SYS(madvise), SCMP_SYS(gettid),
	SCMP_SYS(getpid), SCMP_SYS(sched_yield), SCMP_SYS(futex),
};
#define SAN_NCALLS	(sizeof(san_calls) / sizeof(san_calls[0]))

/*
 * LeakSanitizer's hook: its check at exit stops the process's threads
 * with ptrace and reads /proc, which a sandboxed process may not do.
 */
int __lsan_is_turned_off(void);

int
__lsan_is_turned_off(void)
{
	return sbx_stage > 0;
}
#else
#define SAN_NCALLS	0
#endif

const char *
sandbox_step_name(enum sandbox_step step)
{
	return (unsigned)step < SANDBOX_NSTEPS ? step_names[step] : "?";
}

void
sandbox_opts_init(struct sandbox_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->uid = o->gid = SANDBOX_NO_ID;
}

static int
parse_id(const char *v, uint32_t *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	/* 0 is root and -1 is "no change" to set*id(): neither is a sandbox. */
	if (errno != 0 || end == v || *end != '\0' || n == 0 ||
	    n >= SANDBOX_NO_ID)
		return -EINVAL;
	*out = (uint32_t)n;
	return 1;
}

int
sandbox_option(struct sandbox_opts *o, const char *arg)
{
	if (strncmp(arg, "--uid=", 6) == 0)
		return parse_id(arg + 6, &o->uid);
	if (strncmp(arg, "--gid=", 6) == 0)
		return parse_id(arg + 6, &o->gid);
	if (strcmp(arg, "--no-sandbox") == 0) {
		o->disabled = true;
		return 1;
	}
	return 0;
}

pid_t
sandbox_fork(void)
{
	/* clone() without a new stack: the child goes on as after fork(). */
	long pid = syscall(SYS_clone, (unsigned long)sandbox_clone_flags() |
	    SIGCHLD, 0UL, 0UL, 0UL, 0UL);

	if (pid < 0 && (errno == EPERM || errno == EINVAL || errno == ENOSPC))
		return fork();
	return (pid_t)pid;
}

void
sandbox_init(struct sandbox *s, const struct policy *p,
    const struct sandbox_opts *o, const char *name)
{
	memset(s, 0, sizeof(*s));
	s->opt = *o;
	s->policy = p;
	snprintf(s->name, sizeof(s->name), "%s", name != NULL ? name : "");
}

int
sandbox_load(struct sandbox *s, const char *program,
    const struct sandbox_opts *o, const char *name)
{
	struct policy *p = malloc(sizeof(*p));
	char err[160];
	int ret;

	sandbox_init(s, NULL, o, name);
	if (p == NULL)
		return -ENOMEM;
	if ((ret = policy_load_builtin(program, p, err, sizeof(err))) < 0) {
		snprintf(s->error, sizeof(s->error), "sandbox: %s", err);
		free(p);
		return ret;
	}
	s->policy = s->owned = p;
	return 0;
}

void
sandbox_free(struct sandbox *s)
{
	for (int i = 0; i < 2; i++)
		if (s->filter[i] != NULL)
			seccomp_release(s->filter[i]);
	s->filter[0] = s->filter[1] = NULL;
	free(s->owned);
	s->policy = s->owned = NULL;
}

/* ---- the SIGSYS handler: async-signal-safe only --------------------- */

static size_t
put_str(char *b, size_t at, size_t len, const char *str)
{
	while (*str != '\0' && at + 1 < len)
		b[at++] = *str++;
	return at;
}

static size_t
put_num(char *b, size_t at, size_t len, unsigned long long v, unsigned base)
{
	char t[24];
	int n = 0;

	if (base == 16)
		at = put_str(b, at, len, "0x");
	do {
		t[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v != 0);
	while (n > 0 && at + 1 < len)
		b[at++] = t[--n];
	return at;
}

static void
sbx_sigsys(int sig, siginfo_t *si, void *ctx)
{
	const ucontext_t *uc = ctx;
	int nr = si->si_syscall;
	char line[384];
	size_t at = 0;

	(void)sig;
	if (sbx_probe_child)
		_exit(nr == sbx_probe_nr ? PROBE_EXIT_SECCOMP :
		    PROBE_EXIT_TRAP_OTHER);
	at = put_str(line, at, sizeof(line), sbx_who);
	at = put_str(line, at, sizeof(line), ": sandbox: system call ");
	at = put_str(line, at, sizeof(line), nr >= 0 && nr < SBX_NR_MAX &&
	    sbx_sysname[nr][0] != '\0' ? sbx_sysname[nr] : "?");
	at = put_str(line, at, sizeof(line), " (");
	at = put_num(line, at, sizeof(line), (unsigned)nr, 10);
	at = put_str(line, at, sizeof(line), ") is not in the ");
	at = put_str(line, at, sizeof(line), sbx_stage >= 2 ? "serve" :
	    "setup");
	at = put_str(line, at, sizeof(line), " policy of ");
	at = put_str(line, at, sizeof(line), sbx_type);
#ifdef __x86_64__
	at = put_str(line, at, sizeof(line), ", arguments ");
	at = put_num(line, at, sizeof(line),
	    (unsigned long long)uc->uc_mcontext.gregs[REG_RDI], 16);
	at = put_str(line, at, sizeof(line), " ");
	at = put_num(line, at, sizeof(line),
	    (unsigned long long)uc->uc_mcontext.gregs[REG_RSI], 16);
	at = put_str(line, at, sizeof(line), " ");
	at = put_num(line, at, sizeof(line),
	    (unsigned long long)uc->uc_mcontext.gregs[REG_RDX], 16);
#endif
	at = put_str(line, at, sizeof(line), ": killed by SIGSYS\r\n");
	if (write(STDERR_FILENO, line, at) < 0) {
		/* nowhere to say it; die all the same */
	}
#ifdef __x86_64__
	/*
	 * Die by SIGSYS without sigaction() or kill(), which the serve
	 * policy need not allow: a filter has no state, so the same call
	 * with the same arguments traps again, and a seccomp trap while
	 * SIGSYS is blocked (it is, in its own handler) makes the kernel
	 * reset SIGSYS to its default action: the process is killed.
	 */
	syscall(nr, (long)uc->uc_mcontext.gregs[REG_RDI],
	    (long)uc->uc_mcontext.gregs[REG_RSI],
	    (long)uc->uc_mcontext.gregs[REG_RDX],
	    (long)uc->uc_mcontext.gregs[REG_R10],
	    (long)uc->uc_mcontext.gregs[REG_R8],
	    (long)uc->uc_mcontext.gregs[REG_R9]);
#else
	(void)uc;
#endif
	/* Not reached with a filter of ours; still end by SIGSYS. */
	signal(SIGSYS, SIG_DFL);
	{
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGSYS);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
	}
	raise(SIGSYS);
	_exit(128 + SIGSYS);
}

/* Names and the handler, while stdio, malloc and libseccomp still work. */
static int
prepare_handler(struct sandbox *s)
{
	struct sigaction sa;

	for (int nr = 0; nr < SBX_NR_MAX; nr++) {
		char *n = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

		if (n != NULL) {
			snprintf(sbx_sysname[nr], sizeof(sbx_sysname[nr]), "%s",
			    n);
			free(n);
		}
	}
	snprintf(sbx_who, sizeof(sbx_who), "cupule: %s", s->name[0] != '\0' ?
	    s->name : s->policy->program);
	snprintf(sbx_type, sizeof(sbx_type), "%s", s->policy->type);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sbx_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;
	return 0;
}

/* ---- seccomp --------------------------------------------------------- */

static int
add_rule(scmp_filter_ctx ctx, const struct policy_rule *r)
{
	int ret = 0;

	if (r->action == POLICY_ERRNO)
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO((unsigned)r->err),
		    r->nr, 0);
	switch (r->cond) {
	case POLICY_ANY:
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 0);
		break;
	case POLICY_ARG_WITHOUT:
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
		    SCMP_CMP(r->arg, SCMP_CMP_MASKED_EQ, r->mask, 0));
		break;
	case POLICY_ARG_IN:
		for (unsigned i = 0; i < r->nvalues && ret == 0; i++)
			ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
			    SCMP_CMP(r->arg, SCMP_CMP_EQ, (r->self & (1u << i)) ?
			    (uint64_t)getpid() : r->values[i]));
		break;
	}
	return ret;
}

/*
 * One stage's filter: the policy's calls, everything else a trap.  A
 * foreign architecture's call (i386 int 0x80) kills at once: the
 * handler could not name it safely.
 */
static int
build_filter(struct sandbox *s, enum policy_stage st, void **out)
{
	const struct policy_set *set = &s->policy->stage[st];
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	int ret;

	if (ctx == NULL)
		return -ENOMEM;
	if ((ret = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS)) < 0 ||
	    /* no_new_privs is ours to set, in stage 1. */
	    (ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)) < 0 ||
	    /* Any thread there is gets the filter too. */
	    (ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) < 0)
		goto fail;
	/* A binary tree rather than a list; fine if unsupported. */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
#ifdef __SANITIZE_ADDRESS__
	for (size_t i = 0; i < SAN_NCALLS; i++)
		if (policy_find(set, san_calls[i]) == NULL &&
		    (ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, san_calls[i],
		    0)) < 0)
			goto fail;
#endif
	for (unsigned i = 0; i < set->n; i++)
		if ((ret = add_rule(ctx, &set->rule[i])) < 0) {
			snprintf(s->error, sizeof(s->error), "sandbox: %s:%d: "
			    "libseccomp refuses '%s': %s", s->policy->file,
			    set->rule[i].line, set->rule[i].name,
			    strerror(-ret));
			goto fail;
		}
	*out = ctx;
	return 0;
fail:
	seccomp_release(ctx);
	return ret;
}

static int
load_filter(struct sandbox *s, enum policy_stage st)
{
	enum sandbox_step step = st == POLICY_SETUP ? SANDBOX_SECCOMP_SETUP :
	    SANDBOX_SECCOMP_SERVE;
	int ret;

	if (sbx_skipped(s, step))
		return 0;
	/* The handler words the line for the stage about to be in force. */
	sbx_stage = (int)st + 1;
	if ((ret = seccomp_load(s->filter[st])) < 0) {
		sbx_stage = (int)st;
		return sbx_note(s, step, SANDBOX_FAILED, -ret, "seccomp_load: %s",
		    strerror(-ret));
	}
	s->rep.stage = (int)st + 1;
	return sbx_note(s, step, SANDBOX_DONE, 0, "%u calls%s",
	    s->policy->stage[st].n, SAN_NCALLS > 0 ?
	    " (and the sanitizers')" : "");
}

/* ---- the stages --------------------------------------------------------- */

int
sandbox_setup(struct sandbox *s)
{
	bool own_mnt;
	int ret, left = 0;

	if (s->opt.disabled) {
		s->rep.disabled = true;
		for (int i = 0; i < SANDBOX_NSTEPS; i++)
			sbx_note(s, (enum sandbox_step)i, SANDBOX_SKIPPED, 0,
			    "--no-sandbox");
		return 0;
	}
	if (s->policy == NULL) {
		snprintf(s->error, sizeof(s->error), "sandbox: no policy");
		return -EINVAL;
	}
	/* Everything that may fail for a bad policy, before any change. */
	if ((ret = build_filter(s, POLICY_SETUP, &s->filter[0])) < 0 ||
	    (ret = build_filter(s, POLICY_SERVE, &s->filter[1])) < 0)
		return ret;
#ifdef __SANITIZE_ADDRESS__
	/* Reports can still name modules: the maps are read now. */
	__sanitizer_sandbox_on_notify(NULL);
#endif
	if ((ret = prepare_handler(s)) < 0) {
		snprintf(s->error, sizeof(s->error), "sandbox: SIGSYS handler: "
		    "%s", strerror(-ret));
		return ret;
	}
	own_mnt = sbx_namespaces(s);
	if ((ret = sbx_root(s, own_mnt)) < 0 || (ret = sbx_rlimits(s)) < 0)
		return ret;
	if (!sbx_skipped(s, SANDBOX_CAPS))
		left = sbx_drop_bounding();
	if ((ret = sbx_ids(s)) < 0)
		return ret;
	if (s->rep.step[SANDBOX_CAPS].status == SANDBOX_PENDING &&
	    (ret = sbx_caps(s, left)) < 0)
		return ret;
	if (!sbx_skipped(s, SANDBOX_NNP)) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			return sbx_note(s, SANDBOX_NNP, SANDBOX_FAILED, errno, "%s",
			    strerror(errno));
		sbx_note(s, SANDBOX_NNP, SANDBOX_DONE, 0, "on");
	}
	if (!sbx_skipped(s, SANDBOX_DUMPABLE)) {
		if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
			return sbx_note(s, SANDBOX_DUMPABLE, SANDBOX_FAILED, errno,
			    "%s", strerror(errno));
		sbx_note(s, SANDBOX_DUMPABLE, SANDBOX_DONE, 0, "off");
	}
	if ((ret = sbx_landlock(s)) < 0)
		return ret;
	return load_filter(s, POLICY_SETUP);
}

int
sandbox_serve(struct sandbox *s)
{
	int ret;

	if (s->rep.disabled)
		return 0;
	if (s->filter[1] == NULL) {
		snprintf(s->error, sizeof(s->error), "sandbox: stage 2 before "
		    "stage 1");
		return -EINVAL;
	}
	ret = load_filter(s, POLICY_SERVE);
	seccomp_release(s->filter[0]);
	seccomp_release(s->filter[1]);
	s->filter[0] = s->filter[1] = NULL;
	return ret;
}

int
sandbox_report_line(const struct sandbox_report *r, char *buf, size_t len)
{
	static const char *const mark[] = { [SANDBOX_PARTIAL] = "PARTIAL ",
	    [SANDBOX_SKIPPED] = "SKIPPED ", [SANDBOX_FAILED] = "FAILED " };
	size_t at;

	if (len == 0)
		return 0;
	if (r->disabled)
		return snprintf(buf, len, "sandbox DISABLED (--no-sandbox): "
		    "this process has every privilege of its parent");
	at = (size_t)snprintf(buf, len, "sandbox stage %d:", r->stage);
	for (int i = 0; i < SANDBOX_NSTEPS && at < len; i++) {
		const struct sandbox_step_report *st = &r->step[i];

		if (st->status == SANDBOX_PENDING)
			continue;
		at += (size_t)snprintf(buf + at, len - at, " %s %s%s;",
		    step_names[i], st->status == SANDBOX_DONE ? "" :
		    mark[st->status], st->detail);
	}
	if (at >= len)
		at = len - 1;
	if (at > 0 && buf[at - 1] == ';')
		buf[--at] = '\0';
	return (int)at;
}

/* ---- the probe ------------------------------------------------------- */

/* In the child: tries op; returns 0 if it worked, else an errno. */
static int
probe_try(enum ctl_probe_op op, const struct ctl_probe *req)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	struct io_uring_params up;
	char path[64], byte;
	struct iovec local = { &byte, 1 }, remote = { NULL, 1 };
	char *const argv[] = { (char *)"sh", (char *)"-c", (char *)"exit 200",
	    NULL };
	char *const envp[] = { NULL };
	long r;

	switch (op) {
	case CTL_PROBE_OPEN_FILE:
		sbx_probe_nr = SYS_openat;
		r = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
		break;
	case CTL_PROBE_OPEN_PROC:
		sbx_probe_nr = SYS_openat;
		r = open("/proc/1/environ", O_RDONLY | O_CLOEXEC);
		break;
	case CTL_PROBE_SOCKET_INET:
		sbx_probe_nr = SYS_socket;
		r = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		break;
	case CTL_PROBE_SOCKET_UNIX:
		sbx_probe_nr = SYS_socket;
		r = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		break;
	case CTL_PROBE_KILL:
		sbx_probe_nr = SYS_kill;
		r = kill(req->sibling_pid, 0);
		break;
	case CTL_PROBE_PTRACE:
		/* SEIZE, not ATTACH: if it worked, nothing is stopped. */
		sbx_probe_nr = SYS_ptrace;
		r = ptrace(PTRACE_SEIZE, req->sibling_pid, NULL, NULL);
		break;
	case CTL_PROBE_PROC_MEM:
		snprintf(path, sizeof(path), "/proc/%d/mem",
		    (int)req->sibling_pid);
		sbx_probe_nr = SYS_openat;
		r = open(path, O_RDONLY | O_CLOEXEC);
		break;
	case CTL_PROBE_VM_READ:
		/* Allowed shows as EFAULT: the address 0 is never mapped. */
		sbx_probe_nr = SYS_process_vm_readv;
		r = process_vm_readv(req->sibling_pid, &local, 1, &remote, 1, 0);
		if (r < 0 && errno == EFAULT)
			r = 0;
		break;
	case CTL_PROBE_MMAP_FD:
		sbx_probe_nr = SYS_mmap;
		r = mmap(NULL, 4096, PROT_READ, MAP_SHARED, req->mem_fd, 0) ==
		    MAP_FAILED ? -1 : 0;
		break;
	case CTL_PROBE_EXEC:
		sbx_probe_nr = SYS_execve;
		r = execve("/bin/sh", argv, envp);
		break;
	case CTL_PROBE_CAPSET:
		memset(d, 0, sizeof(d));
		d[0].effective = d[0].permitted = 1u << CAP_SYS_ADMIN;
		sbx_probe_nr = SYS_capset;
		r = syscall(SYS_capset, &h, d);
		break;
	case CTL_PROBE_SETUID:
		sbx_probe_nr = SYS_setuid;
		r = syscall(SYS_setuid, 0);
		break;
	case CTL_PROBE_MOUNT:
		/*
		 * A file system that does not exist: the permission check
		 * comes first, so ENODEV means it was allowed, and nothing
		 * is ever mounted.
		 */
		sbx_probe_nr = SYS_mount;
		r = mount("none", "/", "cupule-probe-nofs", 0, NULL);
		if (r < 0 && errno == ENODEV)
			r = 0;
		break;
	case CTL_PROBE_WRITE_ROOT:
		/* An unnamed file: if it worked, it leaves nothing behind. */
		sbx_probe_nr = SYS_openat;
		r = open("/", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
		break;
	case CTL_PROBE_USERNS:
		sbx_probe_nr = SYS_unshare;
		r = unshare(CLONE_NEWUSER);
		break;
	case CTL_PROBE_IO_URING:
		memset(&up, 0, sizeof(up));
		sbx_probe_nr = SYS_io_uring_setup;
		r = syscall(SYS_io_uring_setup, 1, &up);
		break;
	default:
		errno = EINVAL;
		r = -1;
		break;
	}
	return r < 0 ? errno : 0;
}

static bool
probe_wanted(const struct ctl_probe *req, enum ctl_probe_op op)
{
	return req->ops == 0 || (req->ops & (1u << op));
}

/* Whether op has something to aim at. */
static bool
probe_has_target(const struct ctl_probe *req, enum ctl_probe_op op)
{
	switch (op) {
	case CTL_PROBE_KILL:
	case CTL_PROBE_PTRACE:
	case CTL_PROBE_PROC_MEM:
	case CTL_PROBE_VM_READ:
		return req->sibling_pid > 0;
	case CTL_PROBE_MMAP_FD:
		return req->mem_fd >= 0;
	default:
		return true;
	}
}

static void
probe_one(const struct ctl_probe *req, enum ctl_probe_op op, uint8_t *outcome,
    int32_t *error)
{
	int st, e;
	pid_t pid;

	*error = 0;
	if (!probe_has_target(req, op)) {
		*outcome = CTL_PROBE_SKIPPED;
		return;
	}
	pid = fork();
	if (pid < 0) {
		*outcome = CTL_PROBE_FAILED;
		*error = errno;
		return;
	}
	if (pid == 0) {
		sbx_probe_child = 1;
		e = probe_try(op, req);
		_exit(e == 0 ? PROBE_EXIT_ALLOWED : e < PROBE_EXIT_ALLOWED ?
		    e : PROBE_EXIT_ALLOWED - 1);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			*outcome = CTL_PROBE_FAILED;
			*error = errno;
			return;
		}
	if (WIFEXITED(st)) {
		e = WEXITSTATUS(st);
		if (e == PROBE_EXIT_ALLOWED)
			*outcome = CTL_PROBE_ALLOWED;
		else if (e == PROBE_EXIT_SECCOMP)
			*outcome = CTL_PROBE_SECCOMP;
		else if (e == PROBE_EXIT_TRAP_OTHER) {
			/* The child's own preparation was refused. */
			*outcome = CTL_PROBE_FAILED;
			*error = ECANCELED;
		} else {
			*outcome = CTL_PROBE_ERRNO;
			*error = e;
		}
	} else if (op == CTL_PROBE_EXEC) {
		/* The new program ran, and died of the inherited filter. */
		*outcome = CTL_PROBE_ALLOWED;
	} else {
		*outcome = CTL_PROBE_FAILED;
		*error = EINTR;
	}
}

int
sandbox_probe(const struct ctl_probe *req, int stage,
    struct ctl_probe_result *res)
{
	memset(res, 0, sizeof(*res));
	res->stage = (uint32_t)stage;
	if ((req->ops & ~CTL_PROBE_ALL) != 0)
		return -EINVAL;
	for (int op = 0; op < CTL_PROBE_NOPS; op++) {
		if (!probe_wanted(req, (enum ctl_probe_op)op))
			continue;
		res->op[res->nops].op = (uint16_t)op;
		probe_one(req, (enum ctl_probe_op)op,
		    &res->op[res->nops].outcome, &res->op[res->nops].error);
		res->nops++;
	}
	return 0;
}
