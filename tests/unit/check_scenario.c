/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Scenario parser tests.  Every file under tests/scenarios/ is loaded
 * against a made-up host (8 GiB, 4 CPUs); good files must print what
 * their .out says, bad files must report exactly what their .err says.
 * "@DIR@" in those stands for the scenarios folder, wherever the
 * checkout is.
 *
 * Files with blk devices name disk images, which are not kept in the
 * tree: each such test copies its .cfg into a fresh temporary folder
 * beside sparse images made on the spot (blk_files[]), and "@DIR@" then
 * stands for that folder.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/loop.h>

#include "scenario.h"

#define ALL_BUILT	(~0u)

/* Absolute path of tests/scenarios, found once before the tests run. */
static char dir[PATH_MAX];

/* The temporary folder of a blk test, made by tmp_setup(). */
static char tmp[64];

/*
 * What blk scenarios may name, made in tmp: sparse files of the given
 * size, a hard link (alias.img) and a symbolic link (link.img) to
 * emmc.img, and a folder.
 */
static const struct {
	const char *name;
	off_t size;
} blk_files[] = {
	{ "vmlinuz", 0 },
	{ "ivi.img", 1 << 20 },		/* 2048 sectors */
	{ "emmc.img", 16 << 20 },	/* 32768 sectors */
	{ "rootfs.img", 4 << 20 },	/* 8192 sectors */
	{ "odd.img", 1000 },		/* 1 sector and a bit */
	{ "empty.img", 0 },
};

static const struct sc_host fake_host = {
	.memory = 8ULL << 30,
	.ncpus = 4,
	.devices_built = 0,
};

static bool
find_dir_from(const char *start)
{
	char try[PATH_MAX + 32], base[PATH_MAX], *slash;

	snprintf(base, sizeof(base), "%s", start);
	for (;;) {
		snprintf(try, sizeof(try), "%s/tests/scenarios/minimal.cfg",
		    base);
		if (access(try, R_OK) == 0) {
			snprintf(try, sizeof(try), "%s/tests/scenarios", base);
			return realpath(try, dir) != NULL;
		}
		slash = strrchr(base, '/');
		if (!slash || slash == base)
			return false;
		*slash = '\0';
	}
}

/*
 * CUPULE_SCENARIOS wins; otherwise look upwards from the test binary
 * (build/tests/ or build/san/tests/), then from the current folder.
 */
static bool
find_dir(void)
{
	const char *env = getenv("CUPULE_SCENARIOS");
	char exe[PATH_MAX], cwd[PATH_MAX];
	ssize_t n;

	if (env)
		return realpath(env, dir) != NULL;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		if (find_dir_from(exe))
			return true;
	}
	return getcwd(cwd, sizeof(cwd)) && find_dir_from(cwd);
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;
	FILE *m;
	int ch;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	m = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(m);
	while ((ch = fgetc(f)) != EOF)
		fputc(ch, m);
	fclose(m);
	fclose(f);
	return buf;
}

/* Returns a copy of s with every "from" replaced by "to". */
static char *
subst(const char *s, const char *from, const char *to)
{
	size_t flen = strlen(from), len = 0;
	char *buf = NULL;
	const char *p;
	FILE *m = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(m);
	while ((p = strstr(s, from))) {
		fwrite(s, 1, (size_t)(p - s), m);
		fputs(to, m);
		s = p + flen;
	}
	fputs(s, m);
	fclose(m);
	return buf;
}

/* Reads tests/scenarios/name with @DIR@ replaced by at. */
static char *
expected_at(const char *name, const char *at)
{
	char path[PATH_MAX + 64], *raw, *text;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	raw = slurp(path);
	text = subst(raw, "@DIR@", at);
	free(raw);
	return text;
}

/* Reads tests/scenarios/name with @DIR@ filled in. */
static char *
expected(const char *name)
{
	return expected_at(name, dir);
}

static void
tmp_file(const char *name, off_t size)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, size), 0);
	close(fd);
}

/* A fresh temporary folder holding blk_files[] and the links. */
static void
tmp_setup(void)
{
	char from[PATH_MAX], to[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "/tmp/check_scenario.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	for (size_t i = 0; i < sizeof(blk_files) / sizeof(blk_files[0]); i++)
		tmp_file(blk_files[i].name, blk_files[i].size);
	snprintf(from, sizeof(from), "%s/emmc.img", tmp);
	snprintf(to, sizeof(to), "%s/alias.img", tmp);
	ck_assert_int_eq(link(from, to), 0);
	snprintf(to, sizeof(to), "%s/link.img", tmp);
	ck_assert_int_eq(symlink("emmc.img", to), 0);
	snprintf(to, sizeof(to), "%s/folder.img", tmp);
	ck_assert_int_eq(mkdir(to, 0755), 0);
}

static void
tmp_teardown(void)
{
	static const char *const extra[] = {
		"alias.img", "link.img", "devices.cfg", "blk.cfg", "bad-blk.cfg",
		"bad-blk-overlap.cfg", "dev.cfg",
	};
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(blk_files) / sizeof(blk_files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmp, blk_files[i].name);
		unlink(path);
	}
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmp, extra[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/folder.img", tmp);
	rmdir(path);
	rmdir(tmp);
}

/* Copies tests/scenarios/name into tmp; returns the copy's path. */
static char *
tmp_copy(const char *name)
{
	char path[PATH_MAX + 64], *text;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	text = slurp(path);
	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	free(text);
	return strdup(path);
}

/* Loads path into sc against host; *errs gets what was reported. */
static int
load(const char *path, const struct sc_host *host, struct scenario *sc,
    char **errs)
{
	size_t len = 0;
	FILE *m;
	int ret;

	*errs = NULL;
	m = open_memstream(errs, &len);
	ck_assert_ptr_nonnull(m);
	ret = host ? scenario_load_host(path, sc, m, host) :
	    scenario_load(path, sc, m);
	fclose(m);
	return ret;
}

static char *
printed(const struct scenario *sc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(m);
	scenario_print(sc, m);
	fclose(m);
	return buf;
}

static const struct {
	const char *name;	/* without .cfg */
	unsigned int built;	/* sc_host.devices_built */
} good[] = {
	{ "minimal", 0 },
	{ "full", 0 },
	{ "several", 0 },
	{ "pinning", 0 },
	{ "sub/relative", 0 },
	{ "net", ALL_BUILT },
	{ "supervise", ALL_BUILT },
}, bad[] = {
	{ "bad-syntax", 0 },
	{ "bad-top-level", 0 },
	{ "bad-empty-vms", 0 },
	{ "bad-unknown-key", 0 },
	{ "bad-name", 0 },
	{ "bad-memory", 0 },
	{ "bad-vcpus", 0 },
	{ "bad-cpus", 0 },
	{ "bad-kernel", 0 },
	{ "bad-console", 0 },
	{ "bad-on-reboot", 0 },
	{ "bad-types", 0 },
	{ "bad-device-unbuilt", 0 },
	{ "bad-device-type", 0 },
	{ "bad-device-id", ALL_BUILT },
	{ "bad-net", ALL_BUILT },
	{ "bad-supervise", ALL_BUILT },
};

/* Files loaded from tmp, beside the images they name. */
static const struct {
	const char *name;
	unsigned int built;
} tmp_good[] = {
	{ "devices", ALL_BUILT },
	{ "blk", 0 },
}, tmp_bad[] = {
	{ "bad-blk", 0 },
	{ "bad-blk-overlap", 0 },
};

START_TEST(test_good_golden)
{
	struct sc_host host = fake_host;
	char path[PATH_MAX + 64], *errs, *want, *got;
	struct scenario sc;
	int ret;

	host.devices_built = good[_i].built;
	snprintf(path, sizeof(path), "%s/%s.cfg", dir, good[_i].name);
	ret = load(path, &host, &sc, &errs);
	ck_assert_msg(ret == 0, "%s: %d, errors:\n%s", path, ret, errs);
	ck_assert_str_eq(errs, "");
	ck_assert_str_eq(sc.path, path);
	ck_assert_int_gt(sc.nvms, 0);

	snprintf(path, sizeof(path), "%s.out", good[_i].name);
	want = expected(path);
	got = printed(&sc);
	ck_assert_str_eq(got, want);
	free(got);
	free(want);
	free(errs);
	scenario_free(&sc);
	ck_assert_ptr_null(sc.vms);
	ck_assert_int_eq(sc.nvms, 0);
}
END_TEST

START_TEST(test_bad_reports)
{
	struct sc_host host = fake_host;
	char path[PATH_MAX + 64], *errs, *want;
	struct scenario sc;

	host.devices_built = bad[_i].built;
	snprintf(path, sizeof(path), "%s/%s.cfg", dir, bad[_i].name);
	ck_assert_int_eq(load(path, &host, &sc, &errs), -EINVAL);
	ck_assert_ptr_null(sc.vms);
	ck_assert_ptr_null(sc.path);
	ck_assert_int_eq(sc.nvms, 0);

	snprintf(path, sizeof(path), "%s.err", bad[_i].name);
	want = expected(path);
	ck_assert_str_eq(errs, want);
	free(want);
	free(errs);
}
END_TEST

START_TEST(test_tmp_good_golden)
{
	struct sc_host host = fake_host;
	char name[PATH_MAX], *path, *errs, *want, *got;
	struct scenario sc;
	int ret;

	host.devices_built = tmp_good[_i].built |
	    1u << scenario_device_type("blk");
	snprintf(name, sizeof(name), "%s.cfg", tmp_good[_i].name);
	path = tmp_copy(name);
	ret = load(path, &host, &sc, &errs);
	ck_assert_msg(ret == 0, "%s: %d, errors:\n%s", path, ret, errs);
	ck_assert_str_eq(errs, "");
	snprintf(name, sizeof(name), "%s.out", tmp_good[_i].name);
	want = expected_at(name, tmp);
	got = printed(&sc);
	ck_assert_str_eq(got, want);
	free(got);
	free(want);
	free(errs);
	free(path);
	scenario_free(&sc);
}
END_TEST

START_TEST(test_tmp_bad_reports)
{
	struct sc_host host = fake_host;
	char name[PATH_MAX], *path, *errs, *want;
	struct scenario sc;

	host.devices_built = tmp_bad[_i].built |
	    1u << scenario_device_type("blk");
	snprintf(name, sizeof(name), "%s.cfg", tmp_bad[_i].name);
	path = tmp_copy(name);
	ck_assert_int_eq(load(path, &host, &sc, &errs), -EINVAL);
	ck_assert_ptr_null(sc.vms);
	snprintf(name, sizeof(name), "%s.err", tmp_bad[_i].name);
	want = expected_at(name, tmp);
	ck_assert_str_eq(errs, want);
	free(want);
	free(errs);
	free(path);
}
END_TEST

START_TEST(test_full_fields)
{
	char path[PATH_MAX + 64], *errs;
	const struct vm_cfg *vm;
	struct scenario sc;

	snprintf(path, sizeof(path), "%s/full.cfg", dir);
	ck_assert_int_eq(load(path, &fake_host, &sc, &errs), 0);
	free(errs);
	ck_assert_int_eq(sc.nvms, 1);
	vm = &sc.vms[0];
	ck_assert_str_eq(vm->name, "ivi");
	ck_assert_uint_eq(vm->memory, 256ULL << 20);
	ck_assert_int_eq(vm->vcpus, 2);
	ck_assert_int_eq(vm->ncpus, 2);
	ck_assert_int_eq(vm->cpus[0], 1);
	ck_assert_int_eq(vm->cpus[1], 0);
	snprintf(path, sizeof(path), "%s/vmlinuz", dir);
	ck_assert_str_eq(vm->kernel, path);
	snprintf(path, sizeof(path), "%s/initrd.gz", dir);
	ck_assert_str_eq(vm->initrd, path);
	ck_assert_str_eq(vm->cmdline, "console=ttyS0 root=/dev/vda rw quiet");
	ck_assert_int_eq(vm->console, CONSOLE_SOCKET);
	snprintf(path, sizeof(path), "%s/ivi.sock", dir);
	ck_assert_str_eq(vm->console_path, path);
	ck_assert_int_eq(vm->on_reboot, REBOOT_RESTART);
	ck_assert_int_eq(vm->ndevices, 0);
	ck_assert_int_eq(vm->line, 3);
	scenario_free(&sc);
}
END_TEST

START_TEST(test_defaults)
{
	char path[PATH_MAX + 64], *errs;
	const struct vm_cfg *vm;
	struct scenario sc;

	snprintf(path, sizeof(path), "%s/minimal.cfg", dir);
	ck_assert_int_eq(load(path, &fake_host, &sc, &errs), 0);
	free(errs);
	vm = &sc.vms[0];
	ck_assert_int_eq(vm->vcpus, 1);
	ck_assert_int_eq(vm->ncpus, 0);
	ck_assert_ptr_null(vm->initrd);
	ck_assert_str_eq(vm->cmdline, "console=ttyS0");
	ck_assert_int_eq(vm->console, CONSOLE_STDIO);
	ck_assert_ptr_null(vm->console_path);
	ck_assert_int_eq(vm->on_reboot, REBOOT_EXIT);
	ck_assert_ptr_null(vm->devices);
	scenario_free(&sc);
}
END_TEST

START_TEST(test_find)
{
	char path[PATH_MAX + 64], *errs;
	struct scenario sc;

	snprintf(path, sizeof(path), "%s/several.cfg", dir);
	ck_assert_int_eq(load(path, &fake_host, &sc, &errs), 0);
	free(errs);
	ck_assert_int_eq(sc.nvms, 3);
	ck_assert_ptr_eq(scenario_find(&sc, "sos"), &sc.vms[0]);
	ck_assert_ptr_eq(scenario_find(&sc, "ivi"), &sc.vms[1]);
	ck_assert_ptr_eq(scenario_find(&sc, "rtvm-1"), &sc.vms[2]);
	ck_assert_ptr_null(scenario_find(&sc, "IVI"));
	ck_assert_ptr_null(scenario_find(&sc, "rtvm"));
	ck_assert_ptr_null(scenario_find(&sc, ""));
	scenario_free(&sc);
	ck_assert_ptr_null(scenario_find(&sc, "sos"));
}
END_TEST

START_TEST(test_devices_ids)
{
	char *path, *errs;
	const struct vm_cfg *vm;
	struct sc_host host = fake_host;
	struct scenario sc;

	host.devices_built = ALL_BUILT;
	path = tmp_copy("devices.cfg");
	ck_assert_int_eq(load(path, &host, &sc, &errs), 0);
	free(errs);
	free(path);
	vm = scenario_find(&sc, "ivi");
	ck_assert_ptr_nonnull(vm);
	ck_assert_int_eq(vm->ndevices, 5);
	ck_assert_str_eq(vm->devices[0].id, "blk0");
	ck_assert_str_eq(vm->devices[2].id, "data");
	ck_assert_str_eq(vm->devices[2].type, "blk");
	/* The explicitly named blk still takes index 1. */
	ck_assert_str_eq(vm->devices[3].id, "blk2");
	ck_assert_int_eq(vm->devices[3].line, 9);
	/* Devices of types with no keys of their own have no image. */
	ck_assert_ptr_null(vm->devices[1].image);
	vm = scenario_find(&sc, "sos");
	ck_assert_str_eq(vm->devices[0].id, "blk0");
	scenario_free(&sc);
}
END_TEST

/* What a blk device entry resolves to, field by field. */
START_TEST(test_blk_fields)
{
	char *path, *errs, want[PATH_MAX];
	const struct device_cfg *d;
	const struct vm_cfg *vm;
	struct scenario sc;

	path = tmp_copy("blk.cfg");
	ck_assert_int_eq(load(path, &fake_host, &sc, &errs), -EINVAL);
	ck_assert_ptr_nonnull(strstr(errs, "device type 'blk': its mediator "
	    "is not built yet"));
	free(errs);
	ck_assert_int_eq(load(path, NULL, &sc, &errs), 0);
	ck_assert_str_eq(errs, "");
	free(errs);
	free(path);

	vm = scenario_find(&sc, "sos");
	d = &vm->devices[0];
	snprintf(want, sizeof(want), "%s/emmc.img", tmp);
	ck_assert_str_eq(d->image, want);
	ck_assert_uint_eq(d->range_start, 0);
	ck_assert_uint_eq(d->range_sectors, 2048);
	ck_assert_uint_eq(d->image_sectors, 32768);
	ck_assert(!d->readonly);
	ck_assert_str_eq(d->serial, "boot");
	d = &vm->devices[1];
	ck_assert_str_eq(d->id, "blk1");
	ck_assert_uint_eq(d->range_start, 2048);
	ck_assert_uint_eq(d->range_sectors, 8192);
	ck_assert_str_eq(d->serial, "SOS-DATA 0001");

	vm = scenario_find(&sc, "ivi");
	d = &vm->devices[0];
	/* The path as written, not where the link leads. */
	snprintf(want, sizeof(want), "%s/alias.img", tmp);
	ck_assert_str_eq(d->image, want);
	d = &vm->devices[1];
	ck_assert(d->readonly);
	ck_assert_uint_eq(d->range_start, 0);
	ck_assert_uint_eq(d->range_sectors, 0);	/* the whole image */
	ck_assert_uint_eq(d->image_sectors, 8192);
	d = &vm->devices[2];
	ck_assert_uint_eq(d->image_sectors, 1);
	/* The default serial is the id, cut to 20 characters. */
	ck_assert_str_eq(d->serial, "a-device-id-of-31-ch");

	vm = scenario_find(&sc, "rtvm");
	d = &vm->devices[0];
	snprintf(want, sizeof(want), "%s/link.img", tmp);
	ck_assert_str_eq(d->image, want);
	ck_assert_str_eq(d->serial, "12345678901234567890");
	ck_assert_uint_eq(d->range_start + d->range_sectors, d->image_sectors);
	ck_assert_str_eq(vm->devices[1].serial, "");
	scenario_free(&sc);
}
END_TEST

/* Writes text as tmp/dev.cfg and loads it on the real host. */
static int
load_text(const char *text, struct scenario *sc, char **errs)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/dev.cfg", tmp);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return load(path, NULL, sc, errs);
}

/*
 * A block device as the image: its size comes from BLKGETSIZE64.  Made
 * with a loop device over a sparse file, which needs root and the loop
 * driver; without them the test says so and passes.
 */
START_TEST(test_blk_block_device)
{
	struct loop_config lc;
	char path[PATH_MAX], dev[32], text[512], *errs;
	struct scenario sc;
	int ctl, n, back, loop = -1;

	snprintf(path, sizeof(path), "%s/ivi.img", tmp);
	back = open(path, O_RDWR);
	ck_assert_int_ge(back, 0);
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	n = ctl < 0 ? -1 : ioctl(ctl, LOOP_CTL_GET_FREE);
	if (n >= 0) {
		snprintf(dev, sizeof(dev), "/dev/loop%d", n);
		loop = open(dev, O_RDWR | O_CLOEXEC);
	}
	memset(&lc, 0, sizeof(lc));
	lc.fd = (uint32_t)back;
	lc.info.lo_flags = LO_FLAGS_AUTOCLEAR;	/* gone with our last fd */
	if (loop < 0 || ioctl(loop, LOOP_CONFIGURE, &lc) < 0) {
		fprintf(stderr, "check_scenario: no loop device here (%s); "
		    "the block device test passes without running\n",
		    strerror(errno));
		if (loop >= 0)
			close(loop);
		if (ctl >= 0)
			close(ctl);
		close(back);
		return;
	}
	snprintf(text, sizeof(text), "vms = ( { name = \"a\"; memory = "
	    "\"16M\"; kernel = \"vmlinuz\"; devices = (\n"
	    "  { type = \"blk\"; image = \"%s\"; range = \"1024/1024\"; },\n"
	    "  { type = \"blk\"; image = \"%s\"; range = \"2000/49\"; },\n"
	    "  { type = \"blk\"; image = \"%s\"; range = \"1000/100\"; }\n"
	    "); } );\n", dev, dev, dev);
	ck_assert_int_eq(load_text(text, &sc, &errs), -EINVAL);
	snprintf(text, sizeof(text), "%s/dev.cfg:3: range '2000/49' goes past "
	    "the end of image '%s' (2048 sectors)\n%s/dev.cfg:4: range "
	    "1000/100 of image '%s' overlaps vm 'a' device 'blk0' (line 2)\n",
	    tmp, dev, tmp, dev);
	ck_assert_str_eq(errs, text);
	free(errs);

	snprintf(text, sizeof(text), "vms = ( { name = \"a\"; memory = "
	    "\"16M\"; kernel = \"vmlinuz\"; devices = (\n"
	    "  { type = \"blk\"; image = \"%s\"; }\n); } );\n", dev);
	ck_assert_int_eq(load_text(text, &sc, &errs), 0);
	free(errs);
	ck_assert_uint_eq(sc.vms[0].devices[0].image_sectors, 2048);
	scenario_free(&sc);
	close(loop);
	close(ctl);
	close(back);
}
END_TEST

/* Each type stands alone: building one must not let the others in. */
START_TEST(test_devices_one_built)
{
	char path[PATH_MAX + 64], *errs;
	struct sc_host host = fake_host;
	struct scenario sc;
	int blk = scenario_device_type("blk");

	ck_assert_int_ge(blk, 0);
	ck_assert_int_eq(scenario_device_type("nope"), -1);
	host.devices_built = 1u << blk;
	snprintf(path, sizeof(path), "%s/bad-device-unbuilt.cfg", dir);
	ck_assert_int_eq(load(path, &host, &sc, &errs), -EINVAL);
	ck_assert_ptr_null(strstr(errs, "type 'blk'"));
	ck_assert_ptr_nonnull(strstr(errs, "device type 'net': its mediator "
	    "is not built yet"));
	ck_assert_ptr_nonnull(strstr(errs, "device type 'gpu'"));
	free(errs);
}
END_TEST

/* The scenario's folder counts, not the current one. */
START_TEST(test_relative_from_elsewhere)
{
	char *errs, *want, *got;
	struct scenario sc;

	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_int_eq(load("sub/relative.cfg", &fake_host, &sc, &errs), 0);
	free(errs);
	ck_assert_str_eq(sc.path, "sub/relative.cfg");
	want = expected("sub/relative.out");
	got = printed(&sc);
	ck_assert_str_eq(got, want);
	free(got);
	scenario_free(&sc);

	ck_assert_int_eq(chdir("sub"), 0);
	ck_assert_int_eq(load("./relative.cfg", &fake_host, &sc, &errs), 0);
	free(errs);
	got = printed(&sc);
	ck_assert_str_eq(got, want);
	free(got);
	scenario_free(&sc);

	/* Errors name the file as it was given. */
	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_int_eq(load("bad-on-reboot.cfg", &fake_host, &sc, &errs),
	    -EINVAL);
	ck_assert_str_eq(errs, "bad-on-reboot.cfg:2: on_reboot 'halt' is not "
	    "exit or restart\nbad-on-reboot.cfg:3: 'on_reboot' must be a "
	    "string\n");
	free(errs);
	free(want);
}
END_TEST

/* An absolute kernel path is kept as written, only normalized. */
START_TEST(test_absolute_paths)
{
	char tmpl[] = "/tmp/check_scenario.XXXXXX", path[PATH_MAX + 64];
	char want[PATH_MAX + 64], *errs;
	struct scenario sc;
	FILE *f;
	int fd;

	fd = mkstemp(tmpl);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "vms = ( { name = \"abs\"; memory = \"16M\";\n"
	    "  kernel = \"%s/./sub/..//vmlinuz\"; console = \"file:/tmp/x\";"
	    " } );\n", dir);
	fclose(f);
	snprintf(path, sizeof(path), "%s", tmpl);
	ck_assert_int_eq(load(path, &fake_host, &sc, &errs), 0);
	unlink(tmpl);
	free(errs);
	snprintf(want, sizeof(want), "%s/vmlinuz", dir);
	ck_assert_str_eq(sc.vms[0].kernel, want);
	ck_assert_int_eq(sc.vms[0].console, CONSOLE_FILE);
	ck_assert_str_eq(sc.vms[0].console_path, "/tmp/x");
	ck_assert_uint_eq(sc.vms[0].memory, 16ULL << 20);
	scenario_free(&sc);
}
END_TEST

START_TEST(test_unreadable)
{
	char path[PATH_MAX + 64], want[PATH_MAX + 128], *errs;
	struct scenario sc;

	snprintf(path, sizeof(path), "%s/no-such.cfg", dir);
	ck_assert_int_eq(load(path, &fake_host, &sc, &errs), -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory\n", path);
	ck_assert_str_eq(errs, want);
	ck_assert_ptr_null(sc.vms);
	free(errs);

	ck_assert_int_eq(load(dir, &fake_host, &sc, &errs), -EISDIR);
	ck_assert_ptr_null(sc.path);
	free(errs);

	/* Not a scenario at all: an empty file has no vms. */
	snprintf(path, sizeof(path), "%s/vmlinuz", dir);
	ck_assert_int_eq(load(path, &fake_host, &sc, &errs), -EINVAL);
	snprintf(want, sizeof(want), "%s:1: no 'vms' list\n", path);
	ck_assert_str_eq(errs, want);
	free(errs);
}
END_TEST

/* A failed load leaves sc empty and a good one can follow. */
START_TEST(test_reload)
{
	char path[PATH_MAX + 64], *errs;
	struct scenario sc;

	snprintf(path, sizeof(path), "%s/bad-memory.cfg", dir);
	ck_assert_int_eq(load(path, &fake_host, &sc, &errs), -EINVAL);
	free(errs);
	scenario_free(&sc);
	snprintf(path, sizeof(path), "%s/pinning.cfg", dir);
	ck_assert_int_eq(load(path, &fake_host, &sc, &errs), 0);
	free(errs);
	ck_assert_int_eq(sc.nvms, 2);
	scenario_free(&sc);
	snprintf(path, sizeof(path), "%s/minimal.cfg", dir);
	ck_assert_int_eq(load(path, &fake_host, &sc, &errs), 0);
	free(errs);
	ck_assert_str_eq(sc.vms[0].name, "tiny");
	scenario_free(&sc);
}
END_TEST

/* The host checks follow the host description they are given. */
START_TEST(test_host_limits)
{
	struct sc_host host = fake_host;
	char path[PATH_MAX + 64], *errs;
	struct scenario sc;

	snprintf(path, sizeof(path), "%s/pinning.cfg", dir);
	host.ncpus = 3;
	ck_assert_int_eq(load(path, &host, &sc, &errs), -EINVAL);
	ck_assert_ptr_nonnull(strstr(errs, "pinning.cfg:3: cpus[0] = 3: "
	    "this host has no CPU 3\n"));
	free(errs);

	snprintf(path, sizeof(path), "%s/sub/relative.cfg", dir);
	host = fake_host;
	host.memory = (1ULL << 30) + (400ULL << 20);
	ck_assert_int_eq(load(path, &host, &sc, &errs), -EINVAL);
	ck_assert_ptr_nonnull(strstr(errs, "relative.cfg:3: memory 2G is "
	    "larger than this host's 1.4G\n"));
	free(errs);
	host.memory = 2ULL << 30;
	ck_assert_int_eq(load(path, &host, &sc, &errs), 0);
	free(errs);
	scenario_free(&sc);
}
END_TEST

/* The real probe: scenario_load must see this machine. */
START_TEST(test_real_host)
{
	char path[PATH_MAX + 64], want[2 * PATH_MAX + 128], *errs;
	struct sc_host host;
	struct scenario sc;

	scenario_host_probe(&host);
	ck_assert_uint_ge(host.memory, 64ULL << 20);
	ck_assert_int_ge(host.ncpus, 1);
	ck_assert_int_eq(host.ncpus, (int)sysconf(_SC_NPROCESSORS_CONF));
	/* blk and net are the mediators built so far. */
	ck_assert_uint_eq(host.devices_built,
	    1u << scenario_device_type("blk") |
	    1u << scenario_device_type("net"));

	snprintf(path, sizeof(path), "%s/minimal.cfg", dir);
	ck_assert_int_eq(load(path, NULL, &sc, &errs), 0);
	ck_assert_str_eq(errs, "");
	free(errs);
	scenario_free(&sc);

	/*
	 * blk and net get checked (the image is not there, the net device
	 * has no backend); usb and gpu are refused.
	 */
	snprintf(path, sizeof(path), "%s/bad-device-unbuilt.cfg", dir);
	ck_assert_int_eq(load(path, NULL, &sc, &errs), -EINVAL);
	ck_assert_ptr_null(strstr(errs, "device type 'blk'"));
	snprintf(want, sizeof(want), "%s:5: image '%s/ivi.img': No such file "
	    "or directory\n", path, dir);
	ck_assert_ptr_nonnull(strstr(errs, want));
	ck_assert_ptr_null(strstr(errs, "device type 'net'"));
	ck_assert_ptr_nonnull(strstr(errs, ":6: missing 'backend' in device "
	    "'net0' of vm 'ivi'"));
	ck_assert_ptr_nonnull(strstr(errs, "device type 'usb': its mediator "
	    "is not built yet"));
	ck_assert_ptr_nonnull(strstr(errs, "device type 'gpu': its mediator "
	    "is not built yet"));
	free(errs);
}
END_TEST

START_TEST(test_parse_size)
{
	static const struct {
		const char *s;
		int ret;
		uint64_t v;
	} cases[] = {
		{ "0", 0, 0 },
		{ "1", 0, 1 },
		{ "1048576", 0, 1048576 },
		{ "512K", 0, 512ULL << 10 },
		{ "256M", 0, 256ULL << 20 },
		{ "1G", 0, 1ULL << 30 },
		{ "2g", 0, 2ULL << 30 },
		{ "0M", 0, 0 },
		{ "007K", 0, 7ULL << 10 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "17179869183G", 0, UINT64_MAX - (1ULL << 30) + 1 },
		{ "18446744073709551616", -EINVAL, 0 },
		{ "99999999999999999999999", -EINVAL, 0 },
		{ "17179869184G", -EINVAL, 0 },
		{ "18014398509481984K", -EINVAL, 0 },
		{ "", -EINVAL, 0 },
		{ "K", -EINVAL, 0 },
		{ "12X", -EINVAL, 0 },
		{ "256MB", -EINVAL, 0 },
		{ "1T", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
		{ "+1", -EINVAL, 0 },
		{ " 1", -EINVAL, 0 },
		{ "1 ", -EINVAL, 0 },
		{ "1.5G", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 12345;
		int ret = parse_size(cases[i].s, &v);

		ck_assert_msg(ret == cases[i].ret, "parse_size(\"%s\") = %d",
		    cases[i].s, ret);
		/* On failure the output is left alone. */
		ck_assert_msg(v == (ret ? 12345 : cases[i].v),
		    "parse_size(\"%s\") gave %llu", cases[i].s,
		    (unsigned long long)v);
	}
	ck_assert_int_eq(parse_size(NULL, NULL), -EINVAL);
}
END_TEST

static Suite *
scenario_suite(void)
{
	Suite *s = suite_create("scenario");
	TCase *tc;

	tc = tcase_create("files");
	tcase_add_loop_test(tc, test_good_golden, 0,
	    (int)(sizeof(good) / sizeof(good[0])));
	tcase_add_loop_test(tc, test_bad_reports, 0,
	    (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, test_full_fields);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_find);
	tcase_add_test(tc, test_devices_one_built);
	tcase_add_test(tc, test_relative_from_elsewhere);
	tcase_add_test(tc, test_absolute_paths);
	tcase_add_test(tc, test_unreadable);
	tcase_add_test(tc, test_reload);
	tcase_add_test(tc, test_host_limits);
	tcase_add_test(tc, test_real_host);
	suite_add_tcase(s, tc);

	tc = tcase_create("blk");
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_loop_test(tc, test_tmp_good_golden, 0,
	    (int)(sizeof(tmp_good) / sizeof(tmp_good[0])));
	tcase_add_loop_test(tc, test_tmp_bad_reports, 0,
	    (int)(sizeof(tmp_bad) / sizeof(tmp_bad[0])));
	tcase_add_test(tc, test_devices_ids);
	tcase_add_test(tc, test_blk_fields);
	tcase_add_test(tc, test_blk_block_device);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse_size");
	tcase_add_test(tc, test_parse_size);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	if (!find_dir()) {
		fprintf(stderr, "check_scenario: cannot find tests/scenarios "
		    "(set CUPULE_SCENARIOS)\n");
		return 1;
	}
	sr = srunner_create(scenario_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
