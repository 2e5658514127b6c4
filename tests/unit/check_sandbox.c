/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sandbox (mediators/runtime/sandbox.c) applied to forked children,
 * as a mediator applies it to itself: the children start in their own
 * namespaces as a spawner would start them (sandbox_fork()), take a
 * test uid and gid, and this process, their parent and root, looks at
 * them from outside (/proc/PID/status, /proc/PID/root, prlimit) and
 * through what they report on a pipe.  Each layer is also checked
 * alone, with the others left out, and against a control where it is
 * left out too, so that every assertion could fail.
 *
 * Needs root (uid changes, namespaces): exits 77 otherwise.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/landlock.h>

#include "sandbox.h"

#define UID_A		0x7ff00001u
#define UID_B		0x7ff00002u
#define UID_NPROC	0x7ff00003u
#define WAIT_MS		10000
#define REP_FD		3	/* in the child: its reports */
#define GO_FD		4	/* in the child: the parent's go-ahead */

static struct policy net;		/* the real cupule-net policy */
static struct policy tp;		/* this test's, with wide lists */

/*
 * Wide on purpose: with everything a test needs allowed by seccomp, what
 * refuses is the layer under test.
 */
static const char test_policy[] =
    "type = \"test\";\n"
    "program = \"check-sandbox\";\n"
    "setup = ( \"read\", \"write\", \"openat\", \"close\", \"getdents64\",\n"
    "  \"mkdir\", \"kill\", \"prctl\", \"socket\", \"bind\", \"mmap\",\n"
    "  \"munmap\", \"brk\", \"newfstatat\", \"seccomp\", \"exit_group\" );\n"
    "serve = ( \"read\", \"write\", \"openat\", \"close\", \"getdents64\",\n"
    "  \"mkdir\", \"kill\", \"prctl\", \"socket\", \"bind\", \"mmap\",\n"
    "  \"munmap\", \"brk\", \"newfstatat\", \"exit_group\" );\n"
    "rlimits = { nofile = 64; core = 0; };\n";

/* A sandboxed child and how to talk to it. */
struct kid {
	pid_t pid;
	int rep;			/* read: what it reports */
	int go;				/* write: lets it end */
	int log;			/* its stderr: a pipe or a file */
	bool log_file;
	struct sandbox_report report;
	char logbuf[4096];
	int status;
};

/* Runs in the child once sandboxed; returns its exit status. */
typedef int (*kid_fn)(void *arg);

struct kid_cfg {
	const struct policy *p;
	uint32_t uid, gid;		/* SANDBOX_NO_ID: no change */
	unsigned skip;			/* 1 << SANDBOX_* */
	bool disabled;
	bool newns;			/* sandbox_fork() rather than fork() */
	bool serve;			/* stage 2 too */
	bool log_file;			/* stderr to a file, not a pipe */
	bool pdeathsig;			/* PR_SET_PDEATHSIG before the sandbox */
	kid_fn fn;
	void *arg;
};

#define SKIP(step)	(1u << (step))

/* In the child: waits for the parent's byte (or its end). */
static int
kid_wait(void *arg)
{
	char c;

	(void)arg;
	return read(GO_FD, &c, 1) < 0 ? 1 : 0;
}

static void __attribute__((noreturn))
kid_main(const struct kid_cfg *c, int rep, int go, int log)
{
	struct sandbox_opts o;
	struct sandbox s;

	if (c->pdeathsig)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* A mediator holds only what it was given: here, three pipes. */
	if (dup2(log, 2) < 0 || dup2(rep, 100) < 0 || dup2(go, 101) < 0 ||
	    dup2(100, REP_FD) < 0 || dup2(101, GO_FD) < 0)
		_exit(95);
	close_range(GO_FD + 1, ~0u, 0);
	sandbox_opts_init(&o);
	o.uid = c->uid;
	o.gid = c->gid;
	o.skip = c->skip;
	o.disabled = c->disabled;
	sandbox_init(&s, c->p, &o, "check/sbx");
	if (sandbox_setup(&s) < 0) {
		dprintf(2, "%s\n", s.error);
		_exit(90);
	}
	if (c->serve && sandbox_serve(&s) < 0) {
		dprintf(2, "%s\n", s.error);
		_exit(91);
	}
	if (write(REP_FD, &s.rep, sizeof(s.rep)) != sizeof(s.rep))
		_exit(92);
	_exit(c->fn != NULL ? c->fn(c->arg) : kid_wait(NULL));
}

static bool
wait_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, WAIT_MS) == 1;
}

static void
kid_start(struct kid *k, const struct kid_cfg *c)
{
	int rep[2], go[2], log[2] = { -1, -1 };

	memset(k, 0, sizeof(*k));
	ck_assert_int_eq(pipe2(rep, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
	if (c->log_file) {
		char tmpl[] = "/tmp/check_sandbox.XXXXXX";

		log[0] = mkostemp(tmpl, O_CLOEXEC);
		ck_assert_int_ge(log[0], 0);
		unlink(tmpl);
		log[1] = dup(log[0]);
	} else
		ck_assert_int_eq(pipe2(log, O_CLOEXEC), 0);
	fflush(NULL);
	k->pid = c->newns ? sandbox_fork() : fork();
	ck_assert_int_ge(k->pid, 0);
	if (k->pid == 0)
		kid_main(c, rep[1], go[0], log[1]);
	close(rep[1]);
	close(go[0]);
	close(log[1]);
	k->rep = rep[0];
	k->go = go[1];
	k->log = log[0];
	k->log_file = c->log_file;
	/* Its report, or its end (90-92: the sandbox failed; see its log). */
	ck_assert(wait_readable(k->rep));
	if (read(k->rep, &k->report, sizeof(k->report)) !=
	    (ssize_t)sizeof(k->report))
		k->report.stage = -1;
}

/* Reads everything the child wrote to stderr into k->logbuf. */
static void
kid_read_log(struct kid *k)
{
	ssize_t n, at = 0;

	if (k->log_file) {
		n = pread(k->log, k->logbuf, sizeof(k->logbuf) - 1, 0);
		at = n > 0 ? n : 0;
	} else
		while (at < (ssize_t)sizeof(k->logbuf) - 1 &&
		    (n = read(k->log, k->logbuf + at,
		    sizeof(k->logbuf) - 1 - (size_t)at)) > 0)
			at += n;
	k->logbuf[at] = '\0';
}

/* Lets the child end, reaps it, keeps its status and log. */
static void
kid_end(struct kid *k)
{
	if (k->go >= 0) {
		close(k->go);
		k->go = -1;
	}
	ck_assert_int_eq(waitpid(k->pid, &k->status, 0), k->pid);
	kid_read_log(k);
	close(k->rep);
	close(k->log);
}

/* Starts a child, lets it run fn to its end; returns its status. */
static int
kid_run(struct kid *k, const struct kid_cfg *c)
{
	kid_start(k, c);
	kid_end(k);
	ck_assert_msg(k->report.stage >= 0, "sandbox failed: %s", k->logbuf);
	return k->status;
}

static bool
exited(const struct kid *k, int code)
{
	return WIFEXITED(k->status) && WEXITSTATUS(k->status) == code;
}

static bool
sigsys(const struct kid *k)
{
	return WIFSIGNALED(k->status) && WTERMSIG(k->status) == SIGSYS;
}

/* The value of "Name:" in /proc/pid/status, whitespace trimmed. */
static void
status_field(pid_t pid, const char *name, char *out, size_t len)
{
	char path[64], line[256];
	size_t n = strlen(name);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	bool found = false;

	out[0] = '\0';
	while (!found && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, name, n) == 0 && line[n] == ':') {
			char *v = line + n + 1;

			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			/* "Groups:\t \n" when there are none */
			while (v[0] != '\0' && v[strlen(v) - 1] == ' ')
				v[strlen(v) - 1] = '\0';
			snprintf(out, len, "%s", v);
			found = true;
		}
	fclose(f);
	ck_assert_msg(found, "no %s in %s", name, path);
}

/*
 * A limit of pid, soft and hard alike, from /proc/PID/limits (prlimit()
 * needs CAP_SYS_RESOURCE, which a test host may not give).
 */
static rlim_t
limit_of(pid_t pid, const char *name)
{
	char path[64], line[256], soft[32], hard[32];
	size_t n = strlen(name);
	rlim_t v = 12345;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, name, n) == 0 && line[n] == ' ') {
			ck_assert_int_eq(sscanf(line + 26, "%31s %31s", soft,
			    hard), 2);
			ck_assert_str_eq(soft, hard);
			v = strcmp(soft, "unlimited") == 0 ? RLIM_INFINITY :
			    (rlim_t)strtoull(soft, NULL, 10);
			break;
		}
	fclose(f);
	ck_assert_msg(v != 12345, "no '%s' in %s", name, path);
	return v;
}

static int
landlock_abi(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);

	return abi > 0 ? (int)abi : 0;
}

static void
setup(void)
{
	char err[256];

	ck_assert_msg(policy_load_builtin("cupule-net", &net, err,
	    sizeof(err)) == 0, "%s", err);
	ck_assert_msg(policy_parse(test_policy, "test", &tp, err,
	    sizeof(err)) == 0, "%s", err);
}

static const struct kid_cfg full = { .p = &net, .uid = UID_A, .gid = UID_A,
    .newns = true, .serve = true };

/* ---- the whole sandbox, seen from outside ------------------------------ */

START_TEST(test_full)
{
	struct kid k;
	char v[128], path[64];
	struct statvfs vfs;
	struct dirent *e;
	DIR *d;
	int n = 0;

	kid_start(&k, &full);
	ck_assert_int_eq(k.report.stage, 2);
	ck_assert(!k.report.disabled);
	for (int i = 0; i < SANDBOX_NSTEPS; i++)
		ck_assert_msg(k.report.step[i].status == SANDBOX_DONE ||
		    (i == SANDBOX_RLIMITS &&
		    k.report.step[i].status == SANDBOX_PARTIAL) ||
		    (i == SANDBOX_LANDLOCK && landlock_abi() < 6),
		    "%s: %d %s", sandbox_step_name(i), k.report.step[i].status,
		    k.report.step[i].detail);
	status_field(k.pid, "Uid", v, sizeof(v));
	ck_assert_str_eq(v, "2146435073\t2146435073\t2146435073\t2146435073");
	status_field(k.pid, "Gid", v, sizeof(v));
	ck_assert_str_eq(v, "2146435073\t2146435073\t2146435073\t2146435073");
	status_field(k.pid, "Groups", v, sizeof(v));
	ck_assert_str_eq(v, "");
	status_field(k.pid, "CapInh", v, sizeof(v));
	ck_assert_str_eq(v, "0000000000000000");
	status_field(k.pid, "CapPrm", v, sizeof(v));
	ck_assert_str_eq(v, "0000000000000000");
	status_field(k.pid, "CapEff", v, sizeof(v));
	ck_assert_str_eq(v, "0000000000000000");
	status_field(k.pid, "CapBnd", v, sizeof(v));
	ck_assert_str_eq(v, "0000000000000000");
	status_field(k.pid, "CapAmb", v, sizeof(v));
	ck_assert_str_eq(v, "0000000000000000");
	status_field(k.pid, "NoNewPrivs", v, sizeof(v));
	ck_assert_str_eq(v, "1");
	status_field(k.pid, "Seccomp", v, sizeof(v));
	ck_assert_str_eq(v, "2");
	status_field(k.pid, "Seccomp_filters", v, sizeof(v));
	ck_assert_int_ge(atoi(v), 2);
	/* Its own pid namespace: pid 1 there. */
	status_field(k.pid, "NSpid", v, sizeof(v));
	ck_assert_ptr_nonnull(strstr(v, "\t1"));
	/* Its own mount and net namespaces. */
	{
		struct stat a, b;

		snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)k.pid);
		ck_assert_int_eq(stat(path, &a), 0);
		ck_assert_int_eq(stat("/proc/self/ns/mnt", &b), 0);
		ck_assert_uint_ne(a.st_ino, b.st_ino);
		snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)k.pid);
		ck_assert_int_eq(stat(path, &a), 0);
		ck_assert_int_eq(stat("/proc/self/ns/net", &b), 0);
		ck_assert_uint_ne(a.st_ino, b.st_ino);
	}
	/* Its root: empty and read-only. */
	snprintf(path, sizeof(path), "/proc/%d/root", (int)k.pid);
	ck_assert_ptr_nonnull(d = opendir(path));
	while ((e = readdir(d)) != NULL) {
		ck_assert_msg(strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0, "%s in its root", e->d_name);
		n++;
	}
	closedir(d);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(statvfs(path, &vfs), 0);
	ck_assert_uint_ne(vfs.f_flag & ST_RDONLY, 0);
	/* Its limits, from the policy. */
	ck_assert_uint_eq(limit_of(k.pid, "Max open files"), 256);
	ck_assert_uint_eq(limit_of(k.pid, "Max processes"), 8);
	ck_assert_uint_eq(limit_of(k.pid, "Max core file size"), 0);
	ck_assert_uint_eq(limit_of(k.pid, "Max locked memory"), 0);
	ck_assert_uint_eq(limit_of(k.pid, "Max msgqueue size"), 0);
	/* stderr is a pipe here: FSIZE 0 applies. */
	ck_assert_uint_eq(limit_of(k.pid, "Max file size"), 0);
	ck_assert_int_eq(k.report.step[SANDBOX_RLIMITS].status, SANDBOX_DONE);
	kid_end(&k);
	ck_assert_msg(exited(&k, 0), "status %#x: %s", k.status, k.logbuf);
}
END_TEST

/* Logs go to a file: FSIZE stays, or each line would be SIGXFSZ. */
START_TEST(test_fsize_log_file)
{
	struct kid_cfg c = full;
	struct kid k;

	c.log_file = true;
	kid_start(&k, &c);
	ck_assert_uint_eq(limit_of(k.pid, "Max file size"), RLIM_INFINITY);
	ck_assert_int_eq(k.report.step[SANDBOX_RLIMITS].status,
	    SANDBOX_PARTIAL);
	ck_assert_ptr_nonnull(strstr(k.report.step[SANDBOX_RLIMITS].detail,
	    "fsize kept"));
	kid_end(&k);
	ck_assert(exited(&k, 0));
}
END_TEST

/* Without --uid/--gid: a partial sandbox, and the report says so. */
START_TEST(test_no_ids)
{
	struct kid_cfg c = full;
	char line[768], v[64];
	struct kid k;

	c.uid = c.gid = SANDBOX_NO_ID;
	kid_start(&k, &c);
	status_field(k.pid, "Uid", v, sizeof(v));
	ck_assert_str_eq(v, "0\t0\t0\t0");
	/* Still root by number, but with no capability at all. */
	status_field(k.pid, "CapEff", v, sizeof(v));
	ck_assert_str_eq(v, "0000000000000000");
	status_field(k.pid, "CapBnd", v, sizeof(v));
	ck_assert_str_eq(v, "0000000000000000");
	ck_assert_int_eq(k.report.step[SANDBOX_IDS].status, SANDBOX_SKIPPED);
	sandbox_report_line(&k.report, line, sizeof(line));
	ck_assert_ptr_nonnull(strstr(line, "ids SKIPPED no --uid/--gid"));
	ck_assert_ptr_nonnull(strstr(line, "partial sandbox"));
	ck_assert_ptr_nonnull(strstr(line, "seccomp-serve"));
	kid_end(&k);
	ck_assert(exited(&k, 0));
}
END_TEST

START_TEST(test_disabled)
{
	struct kid_cfg c = full;
	char line[256], v[16];
	struct kid k;

	c.disabled = true;
	kid_start(&k, &c);
	ck_assert(k.report.disabled);
	ck_assert_int_eq(k.report.stage, 0);
	status_field(k.pid, "Seccomp", v, sizeof(v));
	ck_assert_str_eq(v, "0");
	status_field(k.pid, "NoNewPrivs", v, sizeof(v));
	ck_assert_str_eq(v, "0");
	sandbox_report_line(&k.report, line, sizeof(line));
	ck_assert_ptr_nonnull(strstr(line, "DISABLED (--no-sandbox)"));
	kid_end(&k);
	ck_assert(exited(&k, 0));
}
END_TEST

/* ---- violations --------------------------------------------------------- */

enum bad_call {
	BAD_SOCKET,		/* not in serve */
	BAD_IOCTL,		/* a request not in the list */
	BAD_MMAP_EXEC,		/* mmap, PROT_EXEC */
	BAD_CLONE_NEWUSER,	/* clone, with a namespace flag */
	BAD_TGKILL_OTHER,	/* tgkill, not to itself */
	BAD_PTRACE,		/* not even in setup */
	OK_CLONE3,		/* answered ENOSYS, not killed */
	OK_RAISE_KILL,		/* tgkill to itself: SIGKILL, not SIGSYS */
	OK_CLONE,		/* a plain fork */
};

static int
do_bad(void *arg)
{
	enum bad_call b = (enum bad_call)(uintptr_t)arg;
	long r = 0;
	int st;

	switch (b) {
	case BAD_SOCKET:
		r = syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
		break;
	case BAD_IOCTL:
		r = ioctl(0, FIONREAD, &st);
		break;
	case BAD_MMAP_EXEC:
		r = (long)mmap(NULL, 4096, PROT_READ | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		break;
	case BAD_CLONE_NEWUSER:
		r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
		if (r == 0)
			_exit(0);
		break;
	case BAD_TGKILL_OTHER:
		r = syscall(SYS_tgkill, 77777, 77777, 0);
		break;
	case BAD_PTRACE:
		r = syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0);
		break;
	case OK_CLONE3:
		r = syscall(SYS_clone3, NULL, 0);
		return r < 0 && errno == ENOSYS ? 42 : 43;
	case OK_RAISE_KILL:
		raise(SIGKILL);
		break;
	case OK_CLONE:
		r = fork();
		if (r == 0)
			_exit(7);
		return r > 0 && waitpid((pid_t)r, &st, 0) == r &&
		    WIFEXITED(st) && WEXITSTATUS(st) == 7 ? 42 : 43;
	}
	(void)r;
	return 44;	/* the call went through: a hole */
}

static const struct {
	enum bad_call call;
	bool serve;
	const char *line;	/* in the log, or NULL: no SIGSYS */
	int exit_code;		/* without SIGSYS: 0 for SIGKILL */
} bad[] = {
	{ BAD_SOCKET, true, "system call socket (41) is not in the serve "
	    "policy of net, arguments 0x2 0x1 0x0: killed by SIGSYS", 0 },
	{ BAD_IOCTL, true, "system call ioctl (16) is not in the serve policy "
	    "of net, arguments 0x0 0x541b ", 0 },
	{ BAD_MMAP_EXEC, true, "system call mmap (9) is not in the serve "
	    "policy", 0 },
	{ BAD_CLONE_NEWUSER, true, "system call clone (56) is not in the "
	    "serve policy of net, arguments 0x10000011 ", 0 },
	{ BAD_TGKILL_OTHER, true, "system call tgkill (234)", 0 },
	{ BAD_PTRACE, false, "system call ptrace (101) is not in the setup "
	    "policy of net", 0 },
	{ BAD_SOCKET, false, "system call socket (41) is not in the setup "
	    "policy", 0 },
	{ OK_CLONE3, true, NULL, 42 },
	/*
	 * Not in a pid namespace of its own, whose init it would be: the
	 * init of a namespace ignores SIGKILL from inside it, itself too.
	 */
	{ OK_RAISE_KILL, true, NULL, 0 },
	{ OK_CLONE, true, NULL, 42 },
};

START_TEST(test_violation)
{
	struct kid_cfg c = full;
	struct kid k;

	c.serve = bad[_i].serve;
	c.newns = bad[_i].call != OK_RAISE_KILL;
	c.fn = do_bad;
	c.arg = (void *)(uintptr_t)bad[_i].call;
	kid_run(&k, &c);
	if (bad[_i].line != NULL) {
		ck_assert_msg(sigsys(&k), "status %#x, log: %s", k.status,
		    k.logbuf);
		/* One line: who, what, which policy. */
		ck_assert_msg(strncmp(k.logbuf, "cupule: check/sbx: sandbox: ",
		    28) == 0, "%s", k.logbuf);
		ck_assert_msg(strstr(k.logbuf, bad[_i].line) != NULL, "%s",
		    k.logbuf);
		ck_assert_ptr_eq(strchr(k.logbuf, '\n'), k.logbuf +
		    strlen(k.logbuf) - 1);
	} else if (bad[_i].call == OK_RAISE_KILL) {
		ck_assert_msg(WIFSIGNALED(k.status) &&
		    WTERMSIG(k.status) == SIGKILL, "status %#x: %s", k.status,
		    k.logbuf);
	} else
		ck_assert_msg(exited(&k, bad[_i].exit_code), "status %#x: %s",
		    k.status, k.logbuf);
}
END_TEST

/* ---- Landlock and the root, each alone ----------------------------------- */

static int
do_open_host(void *arg)
{
	int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);

	(void)arg;
	return fd >= 0 ? 0 : errno;
}

static int
do_bind_tcp(void *arg)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	(void)arg;
	if (fd < 0)
		return 100;
	return bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 ? 0 : errno;
}

/* With the root left out, Landlock alone keeps the host's files out. */
START_TEST(test_landlock_files)
{
	struct kid_cfg c = { .p = &tp, .uid = UID_A, .gid = UID_A,
	    .newns = true, .serve = true, .fn = do_open_host,
	    .skip = SKIP(SANDBOX_ROOT) };
	struct kid k;

	if (landlock_abi() < 1)
		return;
	kid_run(&k, &c);
	ck_assert_msg(exited(&k, EACCES), "status %#x: %s", k.status, k.logbuf);
	ck_assert_int_ge(k.report.landlock_abi, 1);
	/* Control: without Landlock, the same open works. */
	c.skip |= SKIP(SANDBOX_LANDLOCK);
	kid_run(&k, &c);
	ck_assert_msg(exited(&k, 0), "status %#x: %s", k.status, k.logbuf);
	ck_assert_int_eq(k.report.step[SANDBOX_LANDLOCK].status,
	    SANDBOX_SKIPPED);
}
END_TEST

START_TEST(test_landlock_tcp)
{
	struct kid_cfg c = { .p = &tp, .uid = UID_A, .gid = UID_A,
	    .newns = true, .serve = true, .fn = do_bind_tcp };
	struct kid k;

	if (landlock_abi() < 4)
		return;
	kid_run(&k, &c);
	ck_assert_msg(exited(&k, EACCES), "status %#x: %s", k.status, k.logbuf);
	c.skip |= SKIP(SANDBOX_LANDLOCK);
	kid_run(&k, &c);
	ck_assert_msg(exited(&k, 0), "status %#x: %s", k.status, k.logbuf);
}
END_TEST

static int
do_look_at_root(void *arg)
{
	struct dirent *e;
	int n = 0;
	DIR *d;

	(void)arg;
	if (open("/etc/passwd", O_RDONLY | O_CLOEXEC) >= 0)
		return 10;
	if (errno != ENOENT)
		return 11;
	if (mkdir("/x", 0700) == 0 || errno != EROFS)
		return 12;
	if ((d = opendir("/")) == NULL)
		return 13;
	while ((e = readdir(d)) != NULL)
		n++;
	return n == 2 ? 0 : 14;
}

/* With Landlock left out, the empty read-only root alone. */
START_TEST(test_root_alone)
{
	struct kid_cfg c = { .p = &tp, .uid = UID_A, .gid = UID_A,
	    .newns = true, .serve = true, .fn = do_look_at_root,
	    .skip = SKIP(SANDBOX_LANDLOCK) };
	struct kid k;

	kid_run(&k, &c);
	ck_assert_msg(exited(&k, 0), "status %#x: %s", k.status, k.logbuf);
	ck_assert_int_eq(k.report.step[SANDBOX_ROOT].status, SANDBOX_DONE);
	/* Control: without the root, /etc/passwd is there. */
	c.skip |= SKIP(SANDBOX_ROOT);
	kid_run(&k, &c);
	ck_assert_msg(exited(&k, 10), "status %#x: %s", k.status, k.logbuf);
}
END_TEST

/* ---- signals between mediators ------------------------------------------ */

static int
do_kill(void *arg)
{
	pid_t other = *(const pid_t *)arg;

	return kill(other, 0) == 0 ? 0 : errno;
}

/*
 * Two sandboxed children in one pid namespace (so that they can name
 * each other): kill(other, 0) is refused by a different uid alone, by
 * Landlock's signal scope alone, and allowed with neither.
 */
static const struct {
	uint32_t uid_b;
	bool landlock;
	int want;
} kills[] = {
	{ UID_B, true, EPERM },
	{ UID_B, false, EPERM },	/* the uid alone */
	{ UID_A, true, EPERM },		/* Landlock's scope alone */
	{ UID_A, false, 0 },		/* control: nothing stops it */
};

START_TEST(test_kill_each_other)
{
	struct kid_cfg cb = { .p = &tp, .uid = kills[_i].uid_b,
	    .gid = kills[_i].uid_b, .serve = true };
	struct kid_cfg ca = { .p = &tp, .uid = UID_A, .gid = UID_A,
	    .serve = true, .fn = do_kill };
	struct kid a, b;

	if (!kills[_i].landlock)
		cb.skip = ca.skip = SKIP(SANDBOX_LANDLOCK);
	else if (landlock_abi() < 6)
		return;
	kid_start(&b, &cb);
	ca.arg = &b.pid;
	kid_run(&a, &ca);
	kid_end(&b);
	ck_assert_msg(exited(&a, kills[_i].want), "case %d: status %#x: %s",
	    _i, a.status, a.logbuf);
	ck_assert(exited(&b, 0));
}
END_TEST

/* ---- what the spawner relies on ------------------------------------------ */

static int
do_get_pdeathsig(void *arg)
{
	int sig = 0;

	(void)arg;
	return prctl(PR_GET_PDEATHSIG, &sig) == 0 ? sig : 100;
}

/* A credential change clears the parent-death signal: it is put back. */
START_TEST(test_pdeathsig_kept)
{
	struct kid_cfg c = { .p = &tp, .uid = UID_A, .gid = UID_A,
	    .newns = true, .serve = true, .pdeathsig = true,
	    .fn = do_get_pdeathsig };
	struct kid k;

	kid_run(&k, &c);
	ck_assert_msg(exited(&k, SIGKILL), "status %#x: %s", k.status,
	    k.logbuf);
}
END_TEST

static int
do_fork_bomb(void *arg)
{
	int n = 0;

	(void)arg;
	/* The children wait for the parent's end; the last fork fails. */
	for (int i = 0; i < 32; i++) {
		pid_t p = fork();

		if (p == 0)
			_exit(kid_wait(NULL));
		if (p < 0)
			return errno == EAGAIN ? n : 100;
		n++;
	}
	return 101;
}

/* RLIMIT_NPROC (8 in net.policy) bounds what a uid of its own can fork. */
START_TEST(test_nproc)
{
	struct kid_cfg c = full;
	struct kid k;

	c.uid = c.gid = UID_NPROC;
	c.fn = do_fork_bomb;
	kid_run(&k, &c);
	/* Itself and 7 children. */
	ck_assert_msg(exited(&k, 7), "status %#x: %s", k.status, k.logbuf);
}
END_TEST

START_TEST(test_options)
{
	struct sandbox_opts o;

	sandbox_opts_init(&o);
	ck_assert_uint_eq(o.uid, SANDBOX_NO_ID);
	ck_assert_uint_eq(o.gid, SANDBOX_NO_ID);
	ck_assert_int_eq(sandbox_option(&o, "--uid=2146435073"), 1);
	ck_assert_uint_eq(o.uid, UID_A);
	ck_assert_int_eq(sandbox_option(&o, "--gid=1000"), 1);
	ck_assert_uint_eq(o.gid, 1000);
	ck_assert_int_eq(sandbox_option(&o, "--no-sandbox"), 1);
	ck_assert(o.disabled);
	ck_assert_int_eq(sandbox_option(&o, "--uid=0"), -EINVAL);
	ck_assert_int_eq(sandbox_option(&o, "--uid=-1"), -EINVAL);
	ck_assert_int_eq(sandbox_option(&o, "--uid=4294967295"), -EINVAL);
	ck_assert_int_eq(sandbox_option(&o, "--gid=12x"), -EINVAL);
	ck_assert_int_eq(sandbox_option(&o, "--gid="), -EINVAL);
	ck_assert_int_eq(sandbox_option(&o, "--name=x"), 0);
	ck_assert_int_eq(sandbox_option(&o, "--uidx=3"), 0);
	ck_assert_int_eq(sandbox_clone_flags(), CLONE_NEWNS | CLONE_NEWNET |
	    CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID);
	ck_assert_str_eq(sandbox_step_name(SANDBOX_LANDLOCK), "landlock");
	ck_assert_str_eq(sandbox_step_name(SANDBOX_NSTEPS), "?");
}
END_TEST

/* Only one of --uid and --gid: refused, the process must not go on. */
START_TEST(test_half_ids)
{
	struct kid_cfg c = full;
	struct kid k;

	c.gid = SANDBOX_NO_ID;
	kid_start(&k, &c);
	kid_end(&k);
	ck_assert_msg(exited(&k, 90), "status %#x", k.status);
	ck_assert_ptr_nonnull(strstr(k.logbuf, "--uid and --gid go together"));
}
END_TEST

/* ---- the probe ------------------------------------------------------------ */

struct probe_arg {
	struct ctl_probe req;
	int stage;
};

static int
do_probe(void *arg)
{
	const struct probe_arg *a = arg;
	struct ctl_probe_result res;

	if (sandbox_probe(&a->req, a->stage, &res) < 0)
		return 100;
	return write(REP_FD, &res, sizeof(res)) == sizeof(res) ? 0 : 101;
}

/* Runs the probe in a child made by c; the result in *res. */
static void
probe_in(struct kid_cfg *c, struct probe_arg *pa, struct ctl_probe_result *res)
{
	struct kid k;

	c->fn = do_probe;
	c->arg = pa;
	kid_start(&k, c);
	ck_assert(wait_readable(k.rep));
	ck_assert_int_eq(read(k.rep, res, sizeof(*res)), sizeof(*res));
	kid_end(&k);
	ck_assert_msg(exited(&k, 0), "status %#x: %s", k.status, k.logbuf);
}

static const struct ctl_probe_result *
probe_dump(const struct ctl_probe_result *r, char *buf, size_t len)
{
	buf[0] = '\0';
	for (uint32_t i = 0; i < r->nops; i++)
		snprintf(buf + strlen(buf), len - strlen(buf), " %s:%s(%d)",
		    ctl_probe_op_name(r->op[i].op),
		    ctl_probe_outcome_name(r->op[i].outcome), r->op[i].error);
	return r;
}

/*
 * A fully sandboxed child probes, aiming at another sandboxed child
 * (by its pid here, in the initial pid namespace) and at a memfd of
 * ours by number: every operation is refused.
 */
START_TEST(test_probe_denied)
{
	struct kid_cfg cb = full, ca = full;
	struct probe_arg pa = { .stage = 2 };
	struct ctl_probe_result res;
	char dump[1024];
	struct kid b;
	int memfd = memfd_create("cupule-ram", MFD_CLOEXEC);

	ck_assert_int_ge(memfd, 0);
	ck_assert_int_eq(ftruncate(memfd, 4096), 0);
	/* A number no fd of the child has, whatever it holds. */
	ck_assert_int_eq(dup3(memfd, 200, O_CLOEXEC), 200);
	close(memfd);
	memfd = 200;
	cb.uid = cb.gid = UID_B;
	kid_start(&b, &cb);
	pa.req = (struct ctl_probe){ .sibling_pid = b.pid, .mem_fd = memfd };
	probe_in(&ca, &pa, &res);
	kid_end(&b);
	probe_dump(&res, dump, sizeof(dump));
	ck_assert_uint_eq(res.nops, CTL_PROBE_NOPS);
	ck_assert_uint_eq(res.stage, 2);
	for (uint32_t i = 0; i < res.nops; i++) {
		ck_assert_uint_eq(res.op[i].op, i);
		ck_assert_msg(res.op[i].outcome == CTL_PROBE_SECCOMP ||
		    res.op[i].outcome == CTL_PROBE_ERRNO, "%s", dump);
	}
	/* Not in the serve policy: refused before the kernel looks. */
	ck_assert_int_eq(res.op[CTL_PROBE_OPEN_FILE].outcome, CTL_PROBE_SECCOMP);
	ck_assert_int_eq(res.op[CTL_PROBE_SOCKET_INET].outcome,
	    CTL_PROBE_SECCOMP);
	ck_assert_int_eq(res.op[CTL_PROBE_EXEC].outcome, CTL_PROBE_SECCOMP);
	ck_assert_int_eq(res.op[CTL_PROBE_IO_URING].outcome, CTL_PROBE_SECCOMP);
	ck_assert_int_eq(res.op[CTL_PROBE_KILL].outcome, CTL_PROBE_SECCOMP);
	/* mmap is allowed, but the number names nothing it holds. */
	ck_assert_int_eq(res.op[CTL_PROBE_MMAP_FD].outcome, CTL_PROBE_ERRNO);
	ck_assert_int_eq(res.op[CTL_PROBE_MMAP_FD].error, EBADF);
	close(memfd);
}
END_TEST

/* With stage 1 only, the kernel's own checks answer where seccomp lets. */
START_TEST(test_probe_stage1)
{
	struct kid_cfg c = full;
	struct probe_arg pa = { .stage = 1,
	    .req = { .ops = 1u << CTL_PROBE_MMAP_FD | 1u << CTL_PROBE_KILL,
	    .sibling_pid = 1, .mem_fd = 60 } };
	struct ctl_probe_result res;
	char dump[512];

	c.serve = false;
	probe_in(&c, &pa, &res);
	probe_dump(&res, dump, sizeof(dump));
	ck_assert_uint_eq(res.nops, 2);
	ck_assert_uint_eq(res.stage, 1);
	ck_assert_uint_eq(res.op[0].op, CTL_PROBE_KILL);
	ck_assert_uint_eq(res.op[1].op, CTL_PROBE_MMAP_FD);
	ck_assert_int_eq(res.op[1].outcome, CTL_PROBE_ERRNO);
	ck_assert_int_eq(res.op[1].error, EBADF);
}
END_TEST

/* Control: without a sandbox the probe finds the holes. */
START_TEST(test_probe_control)
{
	struct kid_cfg cb = full, ca = full;
	struct probe_arg pa = { .stage = 0 };
	struct ctl_probe_result res;
	char dump[1024];
	struct kid b;

	cb.uid = cb.gid = UID_B;
	kid_start(&b, &cb);
	ca.disabled = true;
	ca.newns = false;
	pa.req = (struct ctl_probe){ .sibling_pid = b.pid, .mem_fd = -1 };
	probe_in(&ca, &pa, &res);
	kid_end(&b);
	probe_dump(&res, dump, sizeof(dump));
	ck_assert_uint_eq(res.nops, CTL_PROBE_NOPS);
	ck_assert_int_eq(res.op[CTL_PROBE_MMAP_FD].outcome, CTL_PROBE_SKIPPED);
	ck_assert_msg(res.op[CTL_PROBE_OPEN_FILE].outcome == CTL_PROBE_ALLOWED &&
	    res.op[CTL_PROBE_SOCKET_INET].outcome == CTL_PROBE_ALLOWED &&
	    res.op[CTL_PROBE_KILL].outcome == CTL_PROBE_ALLOWED &&
	    res.op[CTL_PROBE_PROC_MEM].outcome == CTL_PROBE_ALLOWED &&
	    res.op[CTL_PROBE_VM_READ].outcome == CTL_PROBE_ALLOWED &&
	    res.op[CTL_PROBE_EXEC].outcome == CTL_PROBE_ALLOWED &&
	    res.op[CTL_PROBE_SETUID].outcome == CTL_PROBE_ALLOWED &&
	    res.op[CTL_PROBE_CAPSET].outcome == CTL_PROBE_ALLOWED &&
	    res.op[CTL_PROBE_MOUNT].outcome == CTL_PROBE_ALLOWED, "%s", dump);
}
END_TEST

static Suite *
sandbox_suite(void)
{
	Suite *s = suite_create("sandbox");
	TCase *tc = tcase_create("sandbox");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_options);
	tcase_add_test(tc, test_full);
	tcase_add_test(tc, test_fsize_log_file);
	tcase_add_test(tc, test_no_ids);
	tcase_add_test(tc, test_half_ids);
	tcase_add_test(tc, test_disabled);
	tcase_add_loop_test(tc, test_violation, 0,
	    sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_landlock_files);
	tcase_add_test(tc, test_landlock_tcp);
	tcase_add_test(tc, test_root_alone);
	tcase_add_loop_test(tc, test_kill_each_other, 0,
	    sizeof(kills) / sizeof(kills[0]));
	tcase_add_test(tc, test_pdeathsig_kept);
	tcase_add_test(tc, test_nproc);
	tcase_add_test(tc, test_probe_denied);
	tcase_add_test(tc, test_probe_stage1);
	tcase_add_test(tc, test_probe_control);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	if (geteuid() != 0) {
		fprintf(stderr, "check_sandbox: needs root (uids, namespaces)\n");
		return 77;
	}
	sr = srunner_create(sandbox_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
