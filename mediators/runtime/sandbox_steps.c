/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The steps of stage 1 besides seccomp (sandbox_int.h, docs/sandbox.md):
 * namespaces, the root, limits, capabilities, ids, Landlock.  By hand:
 * a few calls each, credentials need the raw capset() (libcap would be
 * a dependency for one call), and Debian 12 has no Landlock library.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/landlock.h>
#include <linux/securebits.h>

#include "sandbox_int.h"

/*
 * Landlock beyond the ABI 2 that Debian 12's headers know; the values
 * are the kernel's (include/uapi/linux/landlock.h).
 */
#define SBX_LL_FS_TRUNCATE	(1ULL << 14)	/* ABI 3 */
#define SBX_LL_FS_IOCTL_DEV	(1ULL << 15)	/* ABI 5 */
#define SBX_LL_NET_BIND_TCP	(1ULL << 0)	/* ABI 4 */
#define SBX_LL_NET_CONNECT_TCP	(1ULL << 1)
#define SBX_LL_SCOPE_ABSTRACT	(1ULL << 0)	/* ABI 6 */
#define SBX_LL_SCOPE_SIGNAL	(1ULL << 1)

/* struct landlock_ruleset_attr as of ABI 6; older kernels take a prefix. */
struct sbx_ll_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

int
sbx_note(struct sandbox *s, enum sandbox_step step, enum sandbox_status st,
    int error, const char *fmt, ...)
{
	struct sandbox_step_report *r = &s->rep.step[step];
	va_list ap;

	r->status = st;
	r->error = error;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
	if (st != SANDBOX_FAILED)
		return 0;
	snprintf(s->error, sizeof(s->error), "sandbox: %s: %s",
	    sandbox_step_name(step), r->detail);
	return -(error != 0 ? error : EPERM);
}

bool
sbx_skipped(struct sandbox *s, enum sandbox_step step)
{
	if (!(s->opt.skip & (1u << step)))
		return false;
	sbx_note(s, step, SANDBOX_SKIPPED, 0, "left out by the caller");
	return true;
}

/* ---- namespaces and the root ----------------------------------------- */

static const struct {
	int flag;
	const char *name;
} ns_list[] = {
	{ CLONE_NEWNS, "mnt" },
	{ CLONE_NEWNET, "net" },
	{ CLONE_NEWIPC, "ipc" },
	{ CLONE_NEWUTS, "uts" },
	{ CLONE_NEWPID, "pid" },
};
#define NS_COUNT	(sizeof(ns_list) / sizeof(ns_list[0]))

/*
 * The parent's pid as the mounted /proc sees it: getppid() says 0 in
 * a pid namespace of our own, whose parent lives outside it.
 */
static pid_t
parent_pid(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[128];
	long ppid = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "PPid: %ld", &ppid) == 1)
			break;
	fclose(f);
	return (pid_t)ppid;
}

/* 1 if namespace name is ours alone (not the parent's), 0 if shared. */
static int
ns_own(pid_t ppid, const char *name)
{
	struct stat a, b;
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/ns/%s", name);
	if (stat(path, &a) < 0 || ppid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)ppid, name);
	if (stat(path, &b) < 0)
		return 0;	/* unknown: treated as shared */
	return a.st_ino != b.st_ino || a.st_dev != b.st_dev;
}

/* Appends word to the space-separated list in buf. */
static void
add_word(char *buf, size_t len, const char *word)
{
	size_t at = strlen(buf);

	snprintf(buf + at, len - at, "%s%s", at ? " " : "", word);
}

/*
 * Namespaces the spawner did not give are made here when the process
 * may (CAP_SYS_ADMIN); the pid namespace only the spawner can give.
 * Returns whether the mount namespace is ours.
 */
bool
sbx_namespaces(struct sandbox *s)
{
	char own[48] = "", shared[48] = "";
	pid_t ppid = parent_pid();
	int need = 0, err = 0;
	bool own_mnt = false, made = false;

	if (sbx_skipped(s, SANDBOX_NAMESPACES))
		return ns_own(ppid, "mnt") == 1;
	for (size_t i = 0; i < NS_COUNT; i++)
		if (ns_own(ppid, ns_list[i].name) != 1 &&
		    ns_list[i].flag != CLONE_NEWPID)
			need |= ns_list[i].flag;
	if (need != 0 && unshare(need) < 0)
		err = errno;
	/* "own mnt* net* pid": a star for those made here. */
	for (size_t i = 0; i < NS_COUNT; i++) {
		bool mine = ns_own(ppid, ns_list[i].name) == 1;
		char word[8];

		snprintf(word, sizeof(word), "%s%s", ns_list[i].name, mine &&
		    (need & ns_list[i].flag) ? "*" : "");
		add_word(mine ? own : shared, 48, word);
		made |= mine && (need & ns_list[i].flag);
		if (ns_list[i].flag == CLONE_NEWNS)
			own_mnt = mine;
	}
	if (shared[0] == '\0')
		sbx_note(s, SANDBOX_NAMESPACES, SANDBOX_DONE, 0, "own %s%s", own,
		    made ? " (*: made here)" : "");
	else
		sbx_note(s, SANDBOX_NAMESPACES, SANDBOX_PARTIAL, err,
		    "own %s, shared %s%s%s%s", own[0] ? own : "none", shared,
		    err != 0 ? " (" : "", err != 0 ? strerror(err) : "",
		    err != 0 ? ")" : made ? " (*: made here)" : "");
	return own_mnt;
}

/*
 * An empty tmpfs, read-only from the start, becomes the root; the old
 * root is detached.  It goes over /proc, which exists wherever cupule
 * runs (the VM process finds mediators through /proc/self/exe); in our
 * own mount namespace that hides nothing from anyone else.
 */
int
sbx_root(struct sandbox *s, bool own_mnt)
{
	const char *what;

	if (sbx_skipped(s, SANDBOX_ROOT))
		return 0;
	if (!own_mnt)
		return sbx_note(s, SANDBOX_ROOT, SANDBOX_SKIPPED, 0, "no mount "
		    "namespace of its own: the host's root stays");
	what = "making mounts private";
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		goto fail;
	what = "mounting the tmpfs";
	if (mount("cupule-sandbox", "/proc", "tmpfs", MS_NOSUID | MS_NODEV |
	    MS_NOEXEC | MS_RDONLY, "size=4k,nr_inodes=2,mode=0555") < 0)
		goto fail;
	what = "pivot_root";
	if (chdir("/proc") < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		goto fail;
	/* The old root is stacked on "." now: detach it. */
	what = "detaching the old root";
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		goto fail;
	return sbx_note(s, SANDBOX_ROOT, SANDBOX_DONE, 0, "empty, read-only");
fail:
	/* Landlock still keeps the filesystem out: say so, go on. */
	return sbx_note(s, SANDBOX_ROOT, SANDBOX_PARTIAL, errno, "%s: %s", what,
	    strerror(errno));
}

/* ---- limits, capabilities, ids ---------------------------------------- */

static bool
stderr_is_file(void)
{
	struct stat st;

	return fstat(STDERR_FILENO, &st) == 0 && S_ISREG(st.st_mode);
}

/* Never above the current hard limit: a limit only ever tightens. */
int
sbx_rlimits(struct sandbox *s)
{
	char d[128] = "";
	bool partial = false;

	if (sbx_skipped(s, SANDBOX_RLIMITS))
		return 0;
	for (int k = 0; k < POLICY_NRLIMITS; k++) {
		const struct policy_rlim *l = &s->policy->rlim[k];
		int res = policy_rlimit_resource((enum policy_rlimit)k);
		struct rlimit cur, want;
		size_t at = strlen(d);

		if (!l->set)
			continue;
		/*
		 * Logs sent to a regular file must grow it: with FSIZE 0
		 * every line would end in SIGXFSZ.
		 */
		if (k == POLICY_RLIMIT_FSIZE &&
		    l->value != POLICY_RLIM_INFINITY && stderr_is_file()) {
			snprintf(d + at, sizeof(d) - at, "%sfsize kept (log is "
			    "a file)", at ? " " : "");
			partial = true;
			continue;
		}
		if (getrlimit(res, &cur) < 0)
			return sbx_note(s, SANDBOX_RLIMITS, SANDBOX_FAILED, errno,
			    "getrlimit %s: %s", policy_rlimit_name(k),
			    strerror(errno));
		want.rlim_cur = l->value == POLICY_RLIM_INFINITY ?
		    RLIM_INFINITY : (rlim_t)l->value;
		if (want.rlim_cur > cur.rlim_max)
			want.rlim_cur = cur.rlim_max;
		want.rlim_max = want.rlim_cur;
		if (setrlimit(res, &want) < 0)
			return sbx_note(s, SANDBOX_RLIMITS, SANDBOX_FAILED, errno,
			    "setrlimit %s: %s", policy_rlimit_name(k),
			    strerror(errno));
		if (want.rlim_cur == RLIM_INFINITY)
			snprintf(d + at, sizeof(d) - at, "%s%s=inf",
			    at ? " " : "", policy_rlimit_name(k));
		else
			snprintf(d + at, sizeof(d) - at, "%s%s=%llu",
			    at ? " " : "", policy_rlimit_name(k),
			    (unsigned long long)want.rlim_cur);
	}
	/* The kernel does not count root's processes against NPROC. */
	if (s->policy->rlim[POLICY_RLIMIT_NPROC].set &&
	    s->opt.uid == SANDBOX_NO_ID && getuid() == 0) {
		size_t at = strlen(d);

		snprintf(d + at, sizeof(d) - at, " (nproc: not for root)");
		partial = true;
	}
	return sbx_note(s, SANDBOX_RLIMITS, partial ? SANDBOX_PARTIAL :
	    SANDBOX_DONE, 0, "%s", d[0] ? d : "none in the policy");
}

/*
 * Before the ids change, while CAP_SETPCAP is still there: empty the
 * bounding set, no ambient set, and lock the securebits so that uid 0
 * never regains capabilities through exec and nothing raises ambient
 * ones.  Returns how many capabilities stay in the bounding set.
 */
int
sbx_drop_bounding(void)
{
	int left = 0;

	for (int c = 0; c < 64; c++) {
		int r = prctl(PR_CAPBSET_READ, c, 0, 0, 0);

		if (r < 0)
			break;		/* past the last capability */
		if (r == 1 && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
			left++;
	}
	prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
	    SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED |
	    SECBIT_KEEP_CAPS_LOCKED, 0, 0, 0);
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	return left;
}

/* After the ids change: effective, permitted, inheritable all empty. */
int
sbx_caps(struct sandbox *s, int left)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	if (syscall(SYS_capset, &h, d) < 0)
		return sbx_note(s, SANDBOX_CAPS, SANDBOX_FAILED, errno, "capset: %s",
		    strerror(errno));
	if (syscall(SYS_capget, &h, d) < 0 || d[0].effective ||
	    d[0].permitted || d[1].effective || d[1].permitted)
		return sbx_note(s, SANDBOX_CAPS, SANDBOX_FAILED, EPERM,
		    "capabilities remain after capset");
	if (left > 0)
		return sbx_note(s, SANDBOX_CAPS, SANDBOX_PARTIAL, EPERM, "none; %d "
		    "left in the bounding set (no CAP_SETPCAP)", left);
	return sbx_note(s, SANDBOX_CAPS, SANDBOX_DONE, 0, "none, bounding set "
	    "empty");
}

int
sbx_ids(struct sandbox *s)
{
	uint32_t u = s->opt.uid, g = s->opt.gid;
	uid_t ru, eu, su;
	int sig = 0;

	if (sbx_skipped(s, SANDBOX_IDS))
		return 0;
	if (u == SANDBOX_NO_ID && g == SANDBOX_NO_ID)
		return sbx_note(s, SANDBOX_IDS, SANDBOX_SKIPPED, 0, "no --uid/--gid:"
		    " still uid %u (a partial sandbox)", (unsigned)getuid());
	if (u == SANDBOX_NO_ID || g == SANDBOX_NO_ID)
		return sbx_note(s, SANDBOX_IDS, SANDBOX_FAILED, EINVAL, "--uid and "
		    "--gid go together");
	/* A credential change clears the parent-death signal: keep it. */
	prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0);
	if (setgroups(0, NULL) < 0 || setresgid(g, g, g) < 0 ||
	    setresuid(u, u, u) < 0)
		return sbx_note(s, SANDBOX_IDS, SANDBOX_FAILED, errno, "uid %u gid "
		    "%u: %s", u, g, strerror(errno));
	if (sig != 0)
		prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0);
	if (getresuid(&ru, &eu, &su) < 0 || ru != u || eu != u || su != u)
		return sbx_note(s, SANDBOX_IDS, SANDBOX_FAILED, EPERM, "uid did not "
		    "change");
	return sbx_note(s, SANDBOX_IDS, SANDBOX_DONE, 0, "uid %u gid %u, no groups",
	    u, g);
}

/* ---- Landlock ---------------------------------------------------------- */

/*
 * A ruleset that handles every access the kernel knows and allows none:
 * no file or directory can be opened, created or changed by path, no TCP
 * port bound or connected, and (ABI 6) no signal sent nor abstract Unix
 * socket reached outside the domain.  fds held already are not affected.
 */
int
sbx_landlock(struct sandbox *s)
{
	struct sbx_ll_attr a = { 0 };
	size_t size = sizeof(a.handled_access_fs);
	int abi, fd;

	if (sbx_skipped(s, SANDBOX_LANDLOCK))
		return 0;
	abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1)
		return sbx_note(s, SANDBOX_LANDLOCK, SANDBOX_SKIPPED, errno, "not "
		    "available (%s): filesystem kept out by the root and "
		    "seccomp only", strerror(errno));
	s->rep.landlock_abi = abi;
	a.handled_access_fs = ((LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1);
	if (abi >= 2)
		a.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		a.handled_access_fs |= SBX_LL_FS_TRUNCATE;
	if (abi >= 5)
		a.handled_access_fs |= SBX_LL_FS_IOCTL_DEV;
	if (abi >= 4) {
		a.handled_access_net = SBX_LL_NET_BIND_TCP |
		    SBX_LL_NET_CONNECT_TCP;
		size = offsetof(struct sbx_ll_attr, scoped);
	}
	if (abi >= 6) {
		a.scoped = SBX_LL_SCOPE_ABSTRACT | SBX_LL_SCOPE_SIGNAL;
		size = sizeof(a);
	}
	fd = (int)syscall(SYS_landlock_create_ruleset, &a, size, 0);
	if (fd < 0)
		return sbx_note(s, SANDBOX_LANDLOCK, SANDBOX_FAILED, errno,
		    "create_ruleset: %s", strerror(errno));
	if (syscall(SYS_landlock_restrict_self, fd, 0) < 0) {
		int e = errno;

		close(fd);
		return sbx_note(s, SANDBOX_LANDLOCK, SANDBOX_FAILED, e,
		    "restrict_self: %s", strerror(e));
	}
	close(fd);
	return sbx_note(s, SANDBOX_LANDLOCK, abi >= 6 ? SANDBOX_DONE :
	    SANDBOX_PARTIAL, 0, "ABI %d: filesystem%s%s", abi,
	    abi >= 4 ? ", tcp" : " (no tcp: ABI < 4)",
	    abi >= 6 ? ", signal and socket scopes" :
	    " (no signal scope: ABI < 6)");
}
