/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * KVM tests with tiny guests (the .S files in tests/kvm/guests): the real vCPU exit
 * paths of the VM process on whatever /dev/kvm this host has.  Exits 77
 * (skip) when there is no usable /dev/kvm.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"
#include "log.h"
#include "vm.h"

#define GUEST_LOAD	0x1000
#define TEST_PORT	0x510
#define MMIO_TEST	0xd0000000ULL
#define TIMEOUT_S	30

struct probe {
	pthread_mutex_t lock;
	uint32_t port_vals[16];
	unsigned nport;
	uint32_t mmio_written;
	unsigned nmmio;
};

static void
test_port_io(void *opaque, uint64_t off, uint8_t *data, unsigned size,
    bool is_write)
{
	struct probe *p = opaque;
	uint32_t v = 0;

	(void)off;
	if (!is_write) {
		memset(data, 0, size);
		return;
	}
	memcpy(&v, data, size > 4 ? 4 : size);
	pthread_mutex_lock(&p->lock);
	if (p->nport < 16)
		p->port_vals[p->nport++] = v;
	pthread_mutex_unlock(&p->lock);
}

static void
test_mmio(void *opaque, uint64_t off, uint8_t *data, unsigned size,
    bool is_write)
{
	struct probe *p = opaque;

	pthread_mutex_lock(&p->lock);
	p->nmmio++;
	if (is_write && off == 0 && size == 4)
		memcpy(&p->mmio_written, data, 4);
	else if (!is_write && off == 4 && size == 4) {
		uint32_t v = p->mmio_written ^ 0xffffffffu;

		memcpy(data, &v, 4);
	}
	pthread_mutex_unlock(&p->lock);
}

static char *
guest_path(const char *name)
{
	static char path[PATH_MAX];
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	snprintf(path, sizeof(path), "%s/guests/%s.bin", dirname(exe), name);
	return path;
}

static size_t
read_guest(const char *name, uint8_t *buf, size_t len)
{
	FILE *f = fopen(guest_path(name), "rb");
	size_t n;

	ck_assert_msg(f != NULL, "cannot open %s", guest_path(name));
	n = fread(buf, 1, len, f);
	fclose(f);
	ck_assert_uint_gt(n, 0);
	return n;
}

struct watchdog {
	struct vm *vm;
	int fired;
	int done_fd[2];
};

static void *
watchdog_thread(void *arg)
{
	struct watchdog *w = arg;
	struct timespec ts;
	char c;
	fd_set rd;
	struct timeval tv = { .tv_sec = TIMEOUT_S };

	(void)ts;
	FD_ZERO(&rd);
	FD_SET(w->done_fd[0], &rd);
	if (select(w->done_fd[0] + 1, &rd, NULL, NULL, &tv) == 0) {
		w->fired = 1;
		vm_request_stop(w->vm, VM_EXIT_ERROR);
	} else if (read(w->done_fd[0], &c, 1) < 0) {
		w->fired = -1;
	}
	return NULL;
}

/*
 * Boots guest name on a VM of nvcpus vCPUs with the test port and MMIO
 * window registered, its console going to a temporary file (returned in
 * con_out), and returns the exit reason.
 */
static int
run_guest(const char *name, int nvcpus, struct probe *p, char *con_out,
    size_t con_len)
{
	char tmpl[] = "/tmp/cupule-kvm-XXXXXX";
	int tfd = mkstemp(tmpl);
	struct console con;
	struct vm_opts o = { .name = name, .memory = 64 << 20,
	    .vcpus = nvcpus, .con = &con };
	struct watchdog w = { 0 };
	pthread_t wt;
	uint8_t code[4096];
	size_t len = read_guest(name, code, sizeof(code));
	struct vm *vm;
	int reason;
	ssize_t n;

	ck_assert_int_ge(tfd, 0);
	ck_assert_int_eq(console_open(&con, CONSOLE_FILE, tmpl), 0);
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	ck_assert_int_eq(vm_create(&o, &vm), 0);
	ck_assert_int_eq(io_register(&vm->pio, TEST_PORT, 4, test_port_io, p),
	    0);
	ck_assert_int_eq(io_register(&vm->mmio, MMIO_TEST, 0x1000, test_mmio,
	    p), 0);
	ck_assert_int_eq(vm_load_real_mode(vm, code, len, GUEST_LOAD), 0);
	w.vm = vm;
	ck_assert_int_eq(pipe(w.done_fd), 0);
	pthread_create(&wt, NULL, watchdog_thread, &w);
	reason = vm_run(vm);
	ck_assert_int_eq(write(w.done_fd[1], "x", 1), 1);
	pthread_join(wt, NULL);
	ck_assert_msg(!w.fired, "guest %s did not stop within %d s", name,
	    TIMEOUT_S);
	vm_destroy(vm);
	console_close(&con);
	n = pread(tfd, con_out, con_len - 1, 0);
	con_out[n > 0 ? n : 0] = '\0';
	close(tfd);
	unlink(tmpl);
	close(w.done_fd[0]);
	close(w.done_fd[1]);
	return reason;
}

START_TEST(test_uart_output_and_poweroff)
{
	struct probe p;
	char out[256];

	ck_assert_int_eq(run_guest("uart", 1, &p, out, sizeof(out)),
	    VM_EXIT_POWEROFF);
	ck_assert_str_eq(out, "hello from a tiny guest\n");
}
END_TEST

START_TEST(test_two_vcpus)
{
	struct probe p;
	char out[16];
	int seen[2] = { 0, 0 };

	ck_assert_int_eq(run_guest("smp", 2, &p, out, sizeof(out)),
	    VM_EXIT_POWEROFF);
	ck_assert_uint_eq(p.nport, 2);
	for (unsigned i = 0; i < p.nport; i++) {
		ck_assert_uint_lt(p.port_vals[i] & 0xff, 2);
		seen[p.port_vals[i] & 0xff]++;
	}
	ck_assert_int_eq(seen[0], 1);
	ck_assert_int_eq(seen[1], 1);
}
END_TEST

START_TEST(test_pci_config_mechanism)
{
	struct probe p;
	char out[16];

	ck_assert_int_eq(run_guest("pci", 1, &p, out, sizeof(out)),
	    VM_EXIT_POWEROFF);
	ck_assert_uint_eq(p.nport, 2);
	ck_assert_uint_eq(p.port_vals[0], 0x12378086);	/* host bridge */
	ck_assert_uint_eq(p.port_vals[1], 0xffffffff);	/* empty slot */
}
END_TEST

START_TEST(test_mmio_exits)
{
	struct probe p;
	char out[16];

	ck_assert_int_eq(run_guest("mmio", 1, &p, out, sizeof(out)),
	    VM_EXIT_POWEROFF);
	ck_assert_uint_eq(p.nmmio, 2);
	ck_assert_uint_eq(p.mmio_written, 0x12345678);
	ck_assert_uint_eq(p.nport, 1);
	ck_assert_uint_eq(p.port_vals[0], 0x12345678u ^ 0xffffffffu);
}
END_TEST

START_TEST(test_reset_register)
{
	struct probe p;
	char out[16];

	ck_assert_int_eq(run_guest("reset", 1, &p, out, sizeof(out)),
	    VM_EXIT_REBOOT);
}
END_TEST

START_TEST(test_memory_larger_than_host)
{
	struct vm_opts o = { .name = "big", .memory = 1ULL << 50, .vcpus = 1 };
	struct vm *vm;

	ck_assert_int_eq(vm_create(&o, &vm), -ENOMEM);
	vm_destroy(vm);
}
END_TEST

START_TEST(test_truncated_kernel_refused)
{
	char tmpl[] = "/tmp/cupule-kernel-XXXXXX";
	int fd = mkstemp(tmpl);
	uint8_t hdr[1024] = { 0 };
	struct vm_opts o = { .name = "k", .memory = 64 << 20, .vcpus = 1 };
	struct vm *vm;

	/* A header claiming 1 MiB of protected-mode code, with none. */
	hdr[0x1f1] = 4;				/* setup_sects */
	hdr[0x1f4] = 0x00; hdr[0x1f5] = 0x00;
	hdr[0x1f6] = 0x01;			/* syssize = 0x10000 paras */
	hdr[0x1fe] = 0x55; hdr[0x1ff] = 0xaa;
	memcpy(hdr + 0x202, "HdrS", 4);
	hdr[0x206] = 0x0f; hdr[0x207] = 0x02;	/* protocol 2.15 */
	hdr[0x211] = 0x01;			/* LOADED_HIGH */
	hdr[0x236] = 0x01;			/* XLF_KERNEL_64 */
	ck_assert_int_eq(write(fd, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
	close(fd);
	ck_assert_int_eq(vm_create(&o, &vm), 0);
	ck_assert_int_eq(vm_load_linux(vm, tmpl, NULL, "console=ttyS0"),
	    -EINVAL);
	vm_destroy(vm);
	unlink(tmpl);
}
END_TEST

static Suite *
kvm_suite(void)
{
	Suite *s = suite_create("kvm");
	TCase *tc = tcase_create("tiny guests");

	tcase_set_timeout(tc, TIMEOUT_S + 30);
	tcase_add_test(tc, test_uart_output_and_poweroff);
	tcase_add_test(tc, test_two_vcpus);
	tcase_add_test(tc, test_pci_config_mechanism);
	tcase_add_test(tc, test_mmio_exits);
	tcase_add_test(tc, test_reset_register);
	tcase_add_test(tc, test_memory_larger_than_host);
	tcase_add_test(tc, test_truncated_kernel_refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int fd, failed;

	fd = open("/dev/kvm", O_RDWR);
	if (fd < 0) {
		printf("SKIP: kvm tests: cannot open /dev/kvm: %s\n",
		    strerror(errno));
		return 77;
	}
	close(fd);
	log_set_prefix("check_kvm");
	sr = srunner_create(kvm_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
