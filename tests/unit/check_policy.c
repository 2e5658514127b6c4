/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The policy parser (mediators/runtime/policy.c): every policy file of
 * the repository parses and is the one compiled in; errors name the
 * file and line; unknown system calls, stages that widen, bad
 * conditions, limits, fd and mapping kinds are refused; garbage and
 * mutated policies are refused cleanly (run under ASan in make check).
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/if_tun.h>
#include <linux/sched.h>
#include <seccomp.h>

#include "policy.h"

#ifdef __SANITIZE_ADDRESS__
/*
 * Debian 12's libconfig (1.5) leaks the string its scanner was reading
 * (and the tokens before it) when a syntax error ends the text there:
 * the fuzz cases do that.
 */
const char *__lsan_default_suppressions(void);

const char *
__lsan_default_suppressions(void)
{
	return "leak:strbuf_append\nleak:libconfig_yylex\n";
}
#endif

static struct policy pol;	/* large: not on the stack */
static char err[256];

/* A small valid policy; tests append to or edit it. */
#define HEAD	"type = \"t\";\nprogram = \"check-t\";\n"
#define STAGES	"setup = ( \"read\", \"write\", \"exit_group\" );\n" \
		"serve = ( \"read\", \"exit_group\" );\n"

static int
parse(const char *text)
{
	return policy_parse(text, "t.policy", &pol, err, sizeof(err));
}

/* Parsing fails, and err starts with "t.policy:LINE: " and has what. */
static void
refused(const char *text, int line, const char *what)
{
	char prefix[32];

	ck_assert_int_eq(parse(text), -EINVAL);
	snprintf(prefix, sizeof(prefix), "t.policy:%d: ", line);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
	    "'%s' does not start with '%s' for:\n%s", err, prefix, text);
	ck_assert_msg(strstr(err, what) != NULL, "'%s' lacks '%s'", err, what);
}

static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "%s: run from the repository", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	ck_assert_ptr_nonnull(buf = malloc((size_t)n + 1));
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

START_TEST(test_builtin_all)
{
	static const char *const programs[] = { "cupule-blk", "cupule-net",
	    "cupule-switch" };
	unsigned n = 0;

	for (const struct policy_src *s = policy_builtin; s->file != NULL; s++) {
		char *disk = read_file(s->file);
		const char *base = strrchr(s->file, '/') + 1;

		/* Compiled in from that very file, byte for byte. */
		ck_assert_uint_eq(s->len, strlen(disk));
		ck_assert_mem_eq(s->text, disk, s->len);
		free(disk);
		ck_assert_msg(policy_parse(s->text, s->file, &pol, err,
		    sizeof(err)) == 0, "%s", err);
		/* blk.policy is of type "blk". */
		ck_assert_uint_eq(strlen(pol.type) + strlen(".policy"),
		    strlen(base));
		ck_assert(strncmp(base, pol.type, strlen(pol.type)) == 0);
		ck_assert_uint_gt(pol.stage[POLICY_SETUP].n, 0);
		ck_assert_uint_gt(pol.stage[POLICY_SERVE].n, 0);
		ck_assert_uint_gt(pol.nfds, 0);
		ck_assert_uint_gt(pol.nmaps, 0);
		n++;
	}
	ck_assert_uint_eq(n, 3);
	for (unsigned i = 0; i < 3; i++) {
		ck_assert_msg(policy_load_builtin(programs[i], &pol, err,
		    sizeof(err)) == 0, "%s: %s", programs[i], err);
		ck_assert_str_eq(pol.program, programs[i]);
	}
	/* By path, as argv[0] has it. */
	ck_assert_int_eq(policy_load_builtin("/x/y/cupule-net", &pol, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(pol.type, "net");
	ck_assert_int_eq(policy_load_builtin("cupule-nothing", &pol, err,
	    sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "cupule-nothing"));
}
END_TEST

/* The kernel stacks the filters: serve can only narrow setup. */
START_TEST(test_builtin_serve_within_setup)
{
	for (const struct policy_src *s = policy_builtin; s->file != NULL; s++) {
		const struct policy_set *setup = &pol.stage[POLICY_SETUP];
		const struct policy_set *serve = &pol.stage[POLICY_SERVE];

		ck_assert_int_eq(policy_parse(s->text, s->file, &pol, err,
		    sizeof(err)), 0);
		ck_assert_uint_lt(serve->n, setup->n);
		for (unsigned i = 0; i < serve->n; i++) {
			const struct policy_rule *r = &serve->rule[i];
			const struct policy_rule *w = policy_find(setup, r->nr);

			if (r->action != POLICY_ALLOW)
				continue;
			ck_assert_msg(w != NULL && w->action == POLICY_ALLOW,
			    "%s: %s", s->file, r->name);
		}
		/* Never at serve time: new sockets, files, programs, rings. */
		ck_assert_ptr_null(policy_find(serve, SCMP_SYS(socket)));
		ck_assert_ptr_null(policy_find(serve, SCMP_SYS(openat)));
		ck_assert_ptr_null(policy_find(serve, SCMP_SYS(open)));
		ck_assert_ptr_null(policy_find(serve, SCMP_SYS(execve)));
		ck_assert_ptr_null(policy_find(serve, SCMP_SYS(io_uring_setup)));
		ck_assert_ptr_null(policy_find(serve, SCMP_SYS(ptrace)));
		ck_assert_ptr_null(policy_find(serve, SCMP_SYS(mount)));
		ck_assert_ptr_null(policy_find(serve, SCMP_SYS(unshare)));
		ck_assert_ptr_null(policy_find(serve, SCMP_SYS(kill)));
	}
}
END_TEST

/* What the files say is what the struct says. */
START_TEST(test_builtin_details)
{
	const struct policy_rule *r;
	const struct policy_set *serve = &pol.stage[POLICY_SERVE];
	uint64_t ns = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS |
	    CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;
	bool ring = false, ctl = false;

	ck_assert_int_eq(policy_load_builtin("cupule-net", &pol, err,
	    sizeof(err)), 0);
	ck_assert_ptr_nonnull(r = policy_find(serve, SCMP_SYS(ioctl)));
	ck_assert_int_eq(r->cond, POLICY_ARG_IN);
	ck_assert_uint_eq(r->arg, 1);
	ck_assert_uint_eq(r->nvalues, 1);
	ck_assert_uint_eq(r->values[0], (unsigned)TUNSETOFFLOAD);
	ck_assert_ptr_nonnull(r = policy_find(serve, SCMP_SYS(clone)));
	ck_assert_int_eq(r->cond, POLICY_ARG_WITHOUT);
	ck_assert_uint_eq(r->arg, 0);
	ck_assert_uint_eq(r->mask, ns);
	ck_assert_ptr_nonnull(r = policy_find(serve, SCMP_SYS(clone3)));
	ck_assert_int_eq(r->action, POLICY_ERRNO);
	ck_assert_int_eq(r->err, ENOSYS);
	ck_assert_ptr_nonnull(r = policy_find(serve, SCMP_SYS(tgkill)));
	ck_assert_uint_eq(r->self, 1);
	ck_assert_ptr_nonnull(r = policy_find(serve, SCMP_SYS(mmap)));
	ck_assert_uint_eq(r->mask, 4);	/* PROT_EXEC */
	ck_assert(pol.rlim[POLICY_RLIMIT_FSIZE].set);
	ck_assert_uint_eq(pol.rlim[POLICY_RLIMIT_FSIZE].value, 0);
	ck_assert_uint_eq(pol.rlim[POLICY_RLIMIT_NOFILE].value, 256);
	for (unsigned i = 0; i < pol.nfds; i++) {
		if (pol.fd[i].kind == POLICY_FD_MEMFD &&
		    strcmp(pol.fd[i].memfd, "cupule-ioreq") == 0)
			ring = true;
		if (pol.fd[i].kind == POLICY_FD_UNIX_SEQPACKET &&
		    pol.fd[i].fd == 3)
			ctl = true;
	}
	ck_assert(ring && ctl);
	for (unsigned i = 0; i < pol.nmaps; i++)
		ck_assert_msg(!((pol.map[i].prot & POLICY_PROT_W) &&
		    (pol.map[i].prot & POLICY_PROT_X)), "W+X map %u", i);
	ck_assert_int_eq(policy_load_builtin("cupule-blk", &pol, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(pol.rlim[POLICY_RLIMIT_FSIZE].value,
	    POLICY_RLIM_INFINITY);
	ck_assert_ptr_nonnull(policy_find(serve, SCMP_SYS(io_uring_enter)));
	ck_assert_ptr_null(policy_find(serve, SCMP_SYS(io_uring_register)));
	ck_assert_ptr_nonnull(policy_find(&pol.stage[POLICY_SETUP],
	    SCMP_SYS(io_uring_setup)));
	/* The switch never forks. */
	ck_assert_int_eq(policy_load_builtin("cupule-switch", &pol, err,
	    sizeof(err)), 0);
	ck_assert_ptr_null(policy_find(serve, SCMP_SYS(clone)));
	ck_assert_uint_eq(pol.rlim[POLICY_RLIMIT_NPROC].value, 1);
}
END_TEST

START_TEST(test_minimal)
{
	ck_assert_msg(parse(HEAD STAGES) == 0, "%s", err);
	ck_assert_str_eq(pol.type, "t");
	ck_assert_str_eq(pol.program, "check-t");
	ck_assert_str_eq(pol.file, "t.policy");
	ck_assert_uint_eq(pol.stage[POLICY_SETUP].n, 3);
	ck_assert_uint_eq(pol.stage[POLICY_SERVE].n, 2);
	ck_assert_int_eq(pol.stage[POLICY_SETUP].rule[1].nr, SCMP_SYS(write));
	ck_assert_str_eq(pol.stage[POLICY_SETUP].rule[1].name, "write");
	ck_assert_int_eq(pol.stage[POLICY_SETUP].rule[1].line, 3);
	ck_assert_int_eq(pol.stage[POLICY_SETUP].rule[1].cond, POLICY_ANY);
	ck_assert_uint_eq(pol.nfds, 0);
	for (int k = 0; k < POLICY_NRLIMITS; k++)
		ck_assert(!pol.rlim[k].set);
}
END_TEST

START_TEST(test_conditions)
{
	const char *text = HEAD
	    "setup = ( { syscall = \"ioctl\"; arg1_in = ( \"TUNSETOFFLOAD\", 0x5421 ); },\n"
	    "  { syscall = \"clone\"; arg0_without = [ \"CLONE_NEWUSER\", \"CLONE_NEWNET\" ]; },\n"
	    "  { syscall = \"clone3\"; errno = \"ENOSYS\"; },\n"
	    "  { syscall = \"tgkill\"; arg0_in = [ \"SELF\" ]; },\n"
	    "  \"exit_group\" );\n"
	    "serve = ( { syscall = \"clone3\"; errno = \"EPERM\"; }, \"exit_group\" );\n"
	    "rlimits = { nofile = 64; fsize = 0; core = \"unlimited\"; };\n"
	    "fds = ( { kind = \"memfd:cupule-ram\"; max = 2; why = \"ram\"; },\n"
	    "  { kind = \"unix-seqpacket\"; fd = 3; } );\n"
	    "maps = ( { kind = \"memfd:cupule-ram\"; prot = \"rw\"; shared = true; },\n"
	    "  { kind = \"program\"; prot = \"rx\"; } );\n";
	const struct policy_rule *r = pol.stage[POLICY_SETUP].rule;

	ck_assert_msg(parse(text) == 0, "%s", err);
	ck_assert_int_eq(r[0].cond, POLICY_ARG_IN);
	ck_assert_uint_eq(r[0].nvalues, 2);
	ck_assert_uint_eq(r[0].values[0], (unsigned)TUNSETOFFLOAD);
	ck_assert_uint_eq(r[0].values[1], 0x5421);
	ck_assert_int_eq(r[1].cond, POLICY_ARG_WITHOUT);
	ck_assert_uint_eq(r[1].mask, CLONE_NEWUSER | CLONE_NEWNET);
	ck_assert_int_eq(r[2].action, POLICY_ERRNO);
	ck_assert_int_eq(r[2].err, ENOSYS);
	ck_assert_int_eq(r[2].line, 5);
	ck_assert_uint_eq(r[3].self, 1);
	/* An errno rule at serve time narrows; it needs no setup twin. */
	ck_assert_int_eq(pol.stage[POLICY_SERVE].rule[0].err, EPERM);
	ck_assert(pol.rlim[POLICY_RLIMIT_NOFILE].set);
	ck_assert_uint_eq(pol.rlim[POLICY_RLIMIT_NOFILE].value, 64);
	ck_assert_uint_eq(pol.rlim[POLICY_RLIMIT_FSIZE].value, 0);
	ck_assert_uint_eq(pol.rlim[POLICY_RLIMIT_CORE].value,
	    POLICY_RLIM_INFINITY);
	ck_assert(!pol.rlim[POLICY_RLIMIT_NPROC].set);
	ck_assert_uint_eq(pol.nfds, 2);
	ck_assert_int_eq(pol.fd[0].kind, POLICY_FD_MEMFD);
	ck_assert_str_eq(pol.fd[0].memfd, "cupule-ram");
	ck_assert_uint_eq(pol.fd[0].max, 2);
	ck_assert_int_eq(pol.fd[0].fd, -1);
	ck_assert_str_eq(pol.fd[0].why, "ram");
	ck_assert_int_eq(pol.fd[1].fd, 3);
	ck_assert_uint_eq(pol.fd[1].max, 1);
	ck_assert_uint_eq(pol.nmaps, 2);
	ck_assert(pol.map[0].shared);
	ck_assert_uint_eq(pol.map[0].prot, POLICY_PROT_R | POLICY_PROT_W);
	ck_assert_uint_eq(pol.map[1].prot, POLICY_PROT_R | POLICY_PROT_X);
	ck_assert_str_eq(policy_fd_kind_name(pol.fd[1].kind), "unix-seqpacket");
	ck_assert_str_eq(policy_map_kind_name(pol.map[1].kind), "program");
	ck_assert_str_eq(policy_rlimit_name(POLICY_RLIMIT_MEMLOCK), "memlock");
	ck_assert_str_eq(policy_stage_name(POLICY_SERVE), "serve");
}
END_TEST

/* Each refused text, the line its error names and a word of the error. */
static const struct {
	const char *text;
	int line;
	const char *what;
} bad[] = {
	{ HEAD "setup = ( \"read\",\n \"frobnicate\" );\n", 4,
	    "unknown system call 'frobnicate'" },
	/* i386 only: not a call of this architecture. */
	{ HEAD "setup = ( \"socketcall\" );\n", 3, "unknown system call" },
	{ HEAD "setup = ( \"read\" );\nserve = ( \"read\",\n\"write\" );\n", 5,
	    "serve allows 'write', which setup does not" },
	{ HEAD "setup = ( { syscall = \"clone3\"; errno = \"ENOSYS\"; } );\n"
	    "serve = ( \"clone3\" );\n", 4, "which setup does not" },
	{ HEAD "setup = ( \"read\", \"write\",\n\"read\" );\n", 4,
	    "'read' is listed twice" },
	{ HEAD STAGES "bogus = 1;\n", 5, "unknown setting 'bogus'" },
	{ "program = \"x\";\n" STAGES, 1, "'type' and 'program' are required" },
	{ HEAD "setup = ( \"read\" );\n", 1, "no 'serve' stage" },
	{ HEAD "serve = ( \"read\" );\n", 1, "no 'setup' stage" },
	{ HEAD "setup = { a = 1; };\nserve = ( \"read\" );\n", 3,
	    "must be a list" },
	{ HEAD "setup = ( 42 );\nserve = ( \"read\" );\n", 3,
	    "an entry is a system call name" },
	{ HEAD "setup = ( { arg1_in = [ 1 ]; } );\n", 3, "needs syscall" },
	{ HEAD "setup = ( { syscall = \"ioctl\"; arg6_in = [ 1 ]; } );\n", 3,
	    "unknown key 'arg6_in'" },
	{ HEAD "setup = ( { syscall = \"ioctl\"; arg1_is = [ 1 ]; } );\n", 3,
	    "unknown key 'arg1_is'" },
	{ HEAD "setup = ( { syscall = \"ioctl\"; arg1_in = [ ]; } );\n", 3,
	    "needs a list of 1 to" },
	{ HEAD "setup = ( { syscall = \"ioctl\"; arg1_in = [ 1, 2, 3, 4, 5, "
	    "6, 7, 8, 9 ]; } );\n", 3, "needs a list of 1 to" },
	{ HEAD "setup = ( { syscall = \"ioctl\"; arg1_in = [ \"TUNSETNOTHING\" ];"
	    " } );\n", 3, "unknown constant 'TUNSETNOTHING'" },
	{ HEAD "setup = ( { syscall = \"ioctl\"; arg1_in = [ 1.5 ]; } );\n", 3,
	    "a number or a constant" },
	{ HEAD "setup = ( { syscall = \"clone\"; arg0_without = [ 0 ]; } );\n",
	    3, "empty mask" },
	{ HEAD "setup = ( { syscall = \"clone\"; arg0_without = [ \"SELF\" ]; }"
	    " );\n", 3, "SELF is a value" },
	{ HEAD "setup = ( { syscall = \"ioctl\"; arg1_in = [ 1 ];\n"
	    "arg2_in = [ 2 ]; } );\n", 4, "one condition or errno" },
	{ HEAD "setup = ( { syscall = \"ioctl\"; errno = \"EPERM\";\n"
	    "arg2_in = [ 2 ]; } );\n", 4, "one condition or errno" },
	{ HEAD "setup = ( { syscall = \"clone3\"; errno = \"EWHATEVER\"; } );\n",
	    3, "errno must be one of" },
	{ HEAD "setup = ( { syscall = \"clone3\"; errno = 38; } );\n", 3,
	    "errno must be one of" },
	{ HEAD STAGES "rlimits = { nofile = -1; };\n", 5, "negative" },
	{ HEAD STAGES "rlimits = { nofile = \"lots\"; };\n", 5, "unlimited" },
	{ HEAD STAGES "rlimits = { stack = 1; };\n", 5, "unknown limit 'stack'" },
	{ HEAD STAGES "rlimits = ( 1 );\n", 5, "must be a group" },
	{ HEAD STAGES "fds = ( { kind = \"socket\"; } );\n", 5,
	    "unknown kind 'socket'" },
	{ HEAD STAGES "fds = ( { kind = \"memfd\"; } );\n", 5,
	    "say which memfd" },
	{ HEAD STAGES "fds = ( { kind = \"memfd:\"; } );\n", 5, "bad memfd name" },
	{ HEAD STAGES "fds = ( { kind = \"eventfd:x\"; } );\n", 5,
	    "unknown kind" },
	{ HEAD STAGES "fds = ( { max = 2; } );\n", 5, "an fd needs a kind" },
	{ HEAD STAGES "fds = ( { kind = \"pipe\"; fd = -3; } );\n", 5,
	    "out of range" },
	{ HEAD STAGES "fds = ( { kind = \"pipe\"; colour = 3; } );\n", 5,
	    "unknown key 'colour'" },
	{ HEAD STAGES "fds = ( \"pipe\" );\n", 5, "an entry is a group" },
	{ HEAD STAGES "maps = ( { kind = \"anonymous\"; prot = \"rwx\"; } );\n", 5,
	    "never writable and executable" },
	{ HEAD STAGES "maps = ( { kind = \"anonymous\"; prot = \"rq\"; } );\n", 5,
	    "made of r, w and x" },
	{ HEAD STAGES "maps = ( { kind = \"anonymous\"; shared = 1; } );\n", 5,
	    "true or false" },
	{ HEAD STAGES "why = \"x\";\n@include \"/etc/passwd\"\n", 6,
	    "@include is not allowed" },
	{ "type = \"a b\";\nprogram = \"x\";\n" STAGES, 1, "not a valid name" },
	{ "type = 3;\nprogram = \"x\";\n" STAGES, 1, "must be a string" },
	/* Syntax errors come from libconfig, with their line. */
	{ HEAD "setup = ( \"read\",\n, \"write\" );\n", 4, "syntax error" },
	/* libconfig joins adjacent strings: a missing comma is caught too. */
	{ HEAD "setup = ( \"read\"\n\"write\" );\n", 4,
	    "unknown system call 'readwrite'" },
	{ HEAD STAGES "rlimits = { nofile = 3 \n", 6, "syntax error" },
	{ HEAD "setup = (\n\"read\",\n", 5, "syntax error" },
	{ HEAD "setup = ( { syscall = \"ioctl\"; arg1_in = { a = 1; }; } );\n",
	    3, "needs a list" },
};

START_TEST(test_refused)
{
	refused(bad[_i].text, bad[_i].line, bad[_i].what);
}
END_TEST

/* A tiny deterministic generator: the same garbage on every run. */
static uint32_t
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Returns 0, or -EINVAL with "file:N: " and a reason; never crashes. */
static void
parse_any(const char *text)
{
	int ret = policy_parse(text, "f.policy", &pol, err, sizeof(err));

	if (ret == 0)
		return;
	ck_assert_int_eq(ret, -EINVAL);
	ck_assert_msg(strncmp(err, "f.policy:", 9) == 0 &&
	    err[9] >= '0' && err[9] <= '9' && strstr(err, ": ") != NULL,
	    "bad error '%s'", err);
}

/* Mutations of the real policies: bytes flipped, cut, repeated. */
START_TEST(test_fuzz_mutations)
{
	uint32_t seed = 0x12345u + (uint32_t)_i;
	const struct policy_src *src = &policy_builtin[_i % 3];
	char *buf = malloc(src->len * 2 + 2);
	unsigned ok = 0;

	ck_assert_ptr_nonnull(buf);
	for (int iter = 0; iter < 400; iter++) {
		size_t len = src->len;

		memcpy(buf, src->text, len + 1);
		for (int k = 1 + (int)(rnd(&seed) % 4); k > 0; k--) {
			size_t at = rnd(&seed) % len;
			static const char bytes[] = "\"(){}[];=,#/*\n 0xa_-:@\x7f\x01";

			switch (rnd(&seed) % 4) {
			case 0:		/* one byte replaced */
				buf[at] = bytes[rnd(&seed) % (sizeof(bytes) - 1)];
				break;
			case 1:		/* cut here */
				buf[at] = '\0';
				len = at;
				break;
			case 2:		/* a span repeated */
				if (len + 64 < src->len * 2) {
					size_t n = rnd(&seed) % 64;

					if (at + n > len)
						n = len - at;
					memmove(buf + at + n, buf + at, len - at + 1);
					len += n;
				}
				break;
			case 3:		/* one byte removed */
				memmove(buf + at, buf + at + 1, len - at);
				len--;
				break;
			}
			if (len == 0)
				break;
		}
		parse_any(buf);
		ok += pol.type[0] != '\0';
	}
	free(buf);
	/* Some mutations hit comments and still parse. */
	ck_assert_uint_gt(ok, 0);
}
END_TEST

START_TEST(test_fuzz_garbage)
{
	static const char grammar[] = "type=\"serve\"setup();{}[],#\n"
	    "syscall arg0_in errno 0x12 memfd: \\";
	uint32_t seed = 0xdecafu;
	char buf[512];

	for (int iter = 0; iter < 2000; iter++) {
		size_t len = rnd(&seed) % (sizeof(buf) - 1);

		for (size_t i = 0; i < len; i++) {
			uint32_t r = rnd(&seed);

			/* Mostly the grammar's own characters. */
			if (r % 3 != 0)
				buf[i] = grammar[(r >> 4) % (sizeof(grammar) - 1)];
			else
				buf[i] = (char)((r >> 8) % 255 + 1);
		}
		buf[len] = '\0';
		parse_any(buf);
	}
	parse_any("");
	parse_any("\n\n\n");
	parse_any("setup = (");
	parse_any(HEAD "setup = ( ( ( ( ( ( ( ( \"read\" ) ) ) ) ) ) ) );\n");
}
END_TEST

static Suite *
policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("files");

	tcase_add_test(tc, test_builtin_all);
	tcase_add_test(tc, test_builtin_serve_within_setup);
	tcase_add_test(tc, test_builtin_details);
	suite_add_tcase(s, tc);
	tc = tcase_create("parser");
	tcase_add_test(tc, test_minimal);
	tcase_add_test(tc, test_conditions);
	tcase_add_loop_test(tc, test_refused, 0, sizeof(bad) / sizeof(bad[0]));
	suite_add_tcase(s, tc);
	tc = tcase_create("fuzz");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_fuzz_mutations, 0, 6);
	tcase_add_test(tc, test_fuzz_garbage);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(policy_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
