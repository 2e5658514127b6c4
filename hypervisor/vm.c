/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "acpi.h"
#include "layout.h"
#include "log.h"
#include "vm.h"

#define SIG_VCPU_KICK	SIGUSR1
#define KVM_TSS_ADDR	0xfffbd000ULL
#define KVM_IDMAP_ADDR	0xfffbc000ULL

/* Capabilities the VM process cannot run without, by name. */
static const struct {
	int cap;
	const char *name;
} vm_required_caps[] = {
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	{ KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	{ KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING" },
};

const char *
vm_exit_name(int reason)
{
	switch (reason) {
	case VM_RUNNING: return "running";
	case VM_EXIT_POWEROFF: return "powered off";
	case VM_EXIT_REBOOT: return "rebooted";
	case VM_EXIT_STOPPED: return "stopped";
	case VM_EXIT_ERROR: return "failed";
	}
	return "?";
}

/* The vCPU this thread runs, for handlers that need a per-vCPU slot. */
static __thread int vcpu_self = -1;

bool
vm_running(const struct vm *vm)
{
	return __atomic_load_n(&vm->exit_reason, __ATOMIC_SEQ_CST) ==
	    VM_RUNNING;
}

int
vm_current_vcpu(void)
{
	return vcpu_self;
}

void
vm_bind_vcpu(int index)
{
	vcpu_self = index;
}

int
vm_watch(struct vm *vm, int fd, void (*fn)(struct vm *, void *),
    void *opaque)
{
	if (vm->nwatch == VM_MAX_WATCH)
		return -ENOSPC;
	vm->watch[vm->nwatch++] = (struct vm_watch){ fd, fn, opaque,
	    vm->round };
	return 0;
}

void
vm_unwatch(struct vm *vm, int fd)
{
	for (int i = 0; i < vm->nwatch; i++)
		if (vm->watch[i].fd == fd) {
			vm->watch[i] = vm->watch[--vm->nwatch];
			return;
		}
}

static void
vm_kick_handler(int sig)
{
	(void)sig;	/* only interrupts KVM_RUN */
}

void
vm_request_stop(struct vm *vm, enum vm_exit reason)
{
	int expected = VM_RUNNING;
	uint64_t one = 1;

	if (!__atomic_compare_exchange_n(&vm->exit_reason, &expected, reason,
	    false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		return;
	for (int i = 0; i < vm->nvcpus; i++) {
		struct vcpu *c = &vm->vcpus[i];

		/* immediate_exit covers a kick that lands before KVM_RUN. */
		__atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		if (c->started && !pthread_equal(c->thread, pthread_self()))
			pthread_kill(c->thread, SIG_VCPU_KICK);
	}
	if (write(vm->stop_fd, &one, sizeof(one)) < 0)
		log_warn("%s: eventfd", __func__);
}

void
vm_set_irq(struct vm *vm, unsigned gsi, bool level)
{
	struct kvm_irq_level irq = { .irq = gsi, .level = level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		log_warn("%s: gsi %u", __func__, gsi);
}

static void
com1_set_irq(void *opaque, bool level)
{
	vm_set_irq(opaque, IRQ_COM1, level);
}

static int
vm_check_caps(struct vm *vm)
{
	int v = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);

	if (v != KVM_API_VERSION) {
		log_warnx("/dev/kvm speaks API version %d, %d is needed", v,
		    KVM_API_VERSION);
		return -ENOTSUP;
	}
	for (size_t i = 0; i < sizeof(vm_required_caps) /
	    sizeof(vm_required_caps[0]); i++) {
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION,
		    vm_required_caps[i].cap) <= 0) {
			log_warnx("KVM lacks the capability %s",
			    vm_required_caps[i].name);
			return -ENOTSUP;
		}
	}
	return 0;
}

static int
vm_setup_memory(struct vm *vm, uint64_t size)
{
	struct kvm_userspace_memory_region r;
	struct sysinfo si;
	uint64_t host;

	if (sysinfo(&si) == 0) {
		host = (uint64_t)si.totalram * si.mem_unit;
		if (size > host) {
			log_warnx("memory of %llu MiB is larger than this host's "
			    "%llu MiB", (unsigned long long)(size >> 20),
			    (unsigned long long)(host >> 20));
			return -ENOMEM;
		}
	}
	guest_mem_layout(&vm->mem, size);
	vm->mem_fd = memfd_create("cupule-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (vm->mem_fd < 0 || ftruncate(vm->mem_fd, (off_t)size) < 0) {
		log_warn("guest memory");
		return -errno;
	}
	/* Mediators may map it, but nobody may resize it under the guest. */
	fcntl(vm->mem_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
	vm->mem.host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED |
	    MAP_NORESERVE, vm->mem_fd, 0);
	if (vm->mem.host == MAP_FAILED) {
		vm->mem.host = NULL;
		log_warn("cannot map %llu MiB of guest memory",
		    (unsigned long long)(size >> 20));
		return -ENOMEM;
	}
	madvise(vm->mem.host, size, MADV_MERGEABLE);
	r = (struct kvm_userspace_memory_region){
		.slot = 0, .guest_phys_addr = 0, .memory_size = vm->mem.low,
		.userspace_addr = (uintptr_t)vm->mem.host,
	};
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
		log_warn("KVM_SET_USER_MEMORY_REGION");
		return -errno;
	}
	if (size > vm->mem.low) {
		r = (struct kvm_userspace_memory_region){
			.slot = 1, .guest_phys_addr = GUEST_4G,
			.memory_size = size - vm->mem.low,
			.userspace_addr = (uintptr_t)vm->mem.host + vm->mem.low,
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
			log_warn("KVM_SET_USER_MEMORY_REGION (high)");
			return -errno;
		}
	}
	return 0;
}

/* The host's CPUID as KVM supports it, with this vCPU's topology ids. */
static int
vcpu_setup_cpuid(struct vcpu *c, const struct kvm_cpuid2 *sup)
{
	size_t sz = sizeof(*sup) + sup->nent * sizeof(sup->entries[0]);
	struct kvm_cpuid2 *cp = malloc(sz);
	int ret = 0;

	if (cp == NULL)
		return -ENOMEM;
	memcpy(cp, sup, sz);
	for (unsigned i = 0; i < cp->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cp->entries[i];

		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0xffff) |
			    (uint32_t)c->vm->nvcpus << 16 | (uint32_t)c->id << 24;
			e->ecx |= 1u << 31;	/* running on a hypervisor */
			/* Never in the supported list: it needs our irqchip. */
			if (c->vm->tsc_deadline)
				e->ecx |= 1u << 24;
			if (c->vm->nvcpus > 1)
				e->edx |= 1u << 28;
			break;
		case 0xb:
		case 0x1f:
			e->edx = (uint32_t)c->id;
			break;
		case 0x8000001e:
			e->eax = (uint32_t)c->id;
			break;
		}
	}
	if (ioctl(c->fd, KVM_SET_CPUID2, cp) < 0) {
		log_warn("vcpu %d: KVM_SET_CPUID2", c->id);
		ret = -errno;
	}
	free(cp);
	return ret;
}

static struct kvm_cpuid2 *
vm_supported_cpuid(struct vm *vm)
{
	for (unsigned n = 128; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *cp = calloc(1, sizeof(*cp) +
		    n * sizeof(cp->entries[0]));

		if (cp == NULL)
			return NULL;
		cp->nent = n;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cp) == 0)
			return cp;
		free(cp);
		if (errno != E2BIG)
			break;
	}
	log_warn("KVM_GET_SUPPORTED_CPUID");
	return NULL;
}

/* LINT0 delivers the PIC's ExtINT, LINT1 NMIs, as firmware leaves them. */
static int
vcpu_setup_lapic(struct vcpu *c)
{
	struct kvm_lapic_state la;
	uint32_t *lvt0 = (uint32_t *)(void *)&la.regs[0x350];
	uint32_t *lvt1 = (uint32_t *)(void *)&la.regs[0x360];

	if (ioctl(c->fd, KVM_GET_LAPIC, &la) < 0)
		return -errno;
	*lvt0 = (*lvt0 & ~0x700u) | 0x700;
	*lvt1 = (*lvt1 & ~0x700u) | 0x400;
	if (ioctl(c->fd, KVM_SET_LAPIC, &la) < 0)
		return -errno;
	return 0;
}

static int
vm_create_vcpus(struct vm *vm, const int *cpus)
{
	struct kvm_cpuid2 *sup;
	int ret = 0;

	vm->run_size = (size_t)ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	sup = vm_supported_cpuid(vm);
	if (sup == NULL)
		return -ENOTSUP;
	for (int i = 0; i < vm->nvcpus && ret == 0; i++) {
		struct vcpu *c = &vm->vcpus[i];

		c->vm = vm;
		c->id = i;
		c->host_cpu = cpus ? cpus[i] : -1;
		c->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, i);
		if (c->fd < 0) {
			log_warn("vcpu %d: KVM_CREATE_VCPU", i);
			ret = -errno;
			break;
		}
		c->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE,
		    MAP_SHARED, c->fd, 0);
		if (c->run == MAP_FAILED) {
			c->run = NULL;
			log_warn("vcpu %d: mmap kvm_run", i);
			ret = -errno;
			break;
		}
		ret = vcpu_setup_cpuid(c, sup);
		if (ret == 0 && vcpu_setup_lapic(c) < 0) {
			log_warn("vcpu %d: local APIC", i);
			ret = -errno;
		}
	}
	free(sup);
	return ret;
}

static int
vm_setup_acpi(struct vm *vm)
{
	struct acpi_cfg cfg = {
		.ncpus = vm->nvcpus,
		.lapic_addr = GUEST_LAPIC_BASE,
		.ioapic_addr = GUEST_IOAPIC_BASE,
		.ioapic_id = (uint8_t)vm->nvcpus,
		.pm1a_evt_port = PORT_PM1A_EVT,
		.pm1a_cnt_port = PORT_PM1A_CNT,
		.reset_port = PORT_RESET,
		.sci_irq = SCI_IRQ,
		.s5_slp_typ = ACPI_S5_SLP_TYP,
		.pci_mmio_start = GUEST_PCI_MMIO_START,
		.pci_mmio_end = GUEST_PCI_MMIO_END,
	};
	void *buf = guest_ptr(&vm->mem, GUEST_ACPI_START, GUEST_ACPI_SIZE);
	long n;

	if (buf == NULL)
		return -ENOMEM;
	n = acpi_build(buf, GUEST_ACPI_START, GUEST_ACPI_SIZE, &cfg);
	if (n < 0) {
		log_warnx("ACPI tables: %s", strerror((int)-n));
		return (int)n;
	}
	return 0;
}

int
vm_create(const struct vm_opts *o, struct vm **out)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	struct sigaction sa = { .sa_handler = vm_kick_handler };
	struct vm *vm;
	int ret, max;

	vm = calloc(1, sizeof(*vm));
	if (vm == NULL)
		return -ENOMEM;
	snprintf(vm->name, sizeof(vm->name), "%s", o->name);
	vm->kvm_fd = vm->vm_fd = vm->mem_fd = vm->stop_fd = vm->sig_fd = -1;
	vm->con = o->con;
	io_bus_init(&vm->pio);
	io_bus_init(&vm->mmio);
	pci_bus_init(&vm->pci);
	pthread_mutex_init(&vm->rtc.lock, NULL);
	uart_init(&vm->com1, o->con, com1_set_irq, vm);
	vm->nvcpus = o->vcpus;
	vm->vcpus = calloc((size_t)o->vcpus, sizeof(*vm->vcpus));
	for (int i = 0; vm->vcpus && i < o->vcpus; i++)
		vm->vcpus[i].fd = -1;
	*out = vm;
	if (vm->vcpus == NULL)
		return -ENOMEM;
	/* No SA_RESTART: the kick must interrupt KVM_RUN with EINTR. */
	sigaction(SIG_VCPU_KICK, &sa, NULL);

	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		log_warn("cannot open /dev/kvm");
		return -errno;
	}
	if ((ret = vm_check_caps(vm)) < 0)
		return ret;
	vm->tsc_deadline = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION,
	    KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max <= 0)
		max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max > 0 && o->vcpus > max) {
		log_warnx("%d vCPUs asked, KVM here allows %d", o->vcpus, max);
		return -EINVAL;
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		log_warn("KVM_CREATE_VM");
		return -errno;
	}
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) < 0) {
		log_warn("KVM_SET_TSS_ADDR");
		return -errno;
	}
	{
		uint64_t idmap = KVM_IDMAP_ADDR;

		/* Only Intel needs it; absent elsewhere is fine. */
		ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap);
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		log_warn("KVM_CREATE_IRQCHIP");
		return -errno;
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		log_warn("KVM_CREATE_PIT2");
		return -errno;
	}
	if ((ret = irq_routes_init(&vm->irq, vm->vm_fd)) < 0)
		return ret;
	if ((ret = vm_setup_memory(vm, o->memory)) < 0)
		return ret;
	if ((ret = vm_create_vcpus(vm, o->cpus)) < 0)
		return ret;
	if ((ret = io_register(&vm->pio, PORT_COM1, 8, uart_io,
	    &vm->com1)) < 0 || (ret = chipset_init(vm)) < 0) {
		log_warnx("cannot register devices: %s", strerror(-ret));
		return ret;
	}
	return vm_setup_acpi(vm);
}

/*
 * Reads a whole file into memory.  read(), not mmap(): a file that
 * changes under a private mapping, or one on a network filesystem
 * (the test host's 9p share), can give pages that are not the file's.
 * Returns 0 or -errno, reason logged.
 */
static int
read_file(const char *what, const char *path, void **p, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	uint8_t *buf;

	if (fd < 0 || fstat(fd, &st) < 0) {
		log_warn("%s '%s'", what, path);
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0) {
		log_warnx("%s '%s': not a regular, non-empty file", what, path);
		close(fd);
		return -EINVAL;
	}
	*len = (size_t)st.st_size;
	buf = malloc(*len);
	if (buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (got < *len) {
		ssize_t n = pread(fd, buf + got, *len - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				log_warnx("%s '%s': shrank while being read", what,
				    path);
			else
				log_warn("%s '%s'", what, path);
			free(buf);
			close(fd);
			return n == 0 ? -EIO : -errno;
		}
		got += (size_t)n;
	}
	close(fd);
	*p = buf;
	return 0;
}

/* The boot vCPU in 64-bit mode at the kernel's entry, as boot.rst says. */
static int
vcpu_set_long_mode(struct vcpu *c, const struct boot_info *bi)
{
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = BOOT_CS,
		.type = 11, .present = 1, .dpl = 0, .db = 0, .s = 1, .l = 1,
		.g = 1,
	};
	struct kvm_segment data = code;
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	struct kvm_sregs sr;
	struct kvm_regs regs = {
		.rip = bi->entry, .rsi = bi->zero_page, .rsp = bi->stack,
		.rflags = 2,
	};

	if (ioctl(c->fd, KVM_GET_SREGS, &sr) < 0)
		return -errno;
	data.selector = BOOT_DS;
	data.type = 3;
	data.l = 0;
	data.db = 1;
	sr.cs = code;
	sr.ds = sr.es = sr.fs = sr.gs = sr.ss = data;
	sr.gdt.base = GUEST_GDT;
	sr.gdt.limit = 4 * 8 - 1;
	sr.cr0 = 0x80000011;	/* PG | ET | PE */
	sr.cr3 = GUEST_PML4;
	sr.cr4 = 0x20;		/* PAE */
	sr.efer = 0x500;	/* LME | LMA */
	if (ioctl(c->fd, KVM_SET_SREGS, &sr) < 0 ||
	    ioctl(c->fd, KVM_SET_REGS, &regs) < 0 ||
	    ioctl(c->fd, KVM_SET_FPU, &fpu) < 0)
		return -errno;
	return 0;
}

int
vm_load_linux(struct vm *vm, const char *kernel, const char *initrd,
    const char *cmdline)
{
	void *k = NULL, *i = NULL;
	size_t klen = 0, ilen = 0;
	struct boot_info bi;
	char err[256];
	int ret;

	if ((ret = read_file("kernel", kernel, &k, &klen)) < 0)
		return ret;
	if (initrd != NULL && (ret = read_file("initrd", initrd, &i, &ilen)) < 0)
		goto out;
	ret = boot_load_linux(&vm->mem, k, klen, i, ilen, cmdline,
	    GUEST_ACPI_START, &bi, err, sizeof(err));
	if (ret < 0) {
		/* Name the file the reason is about. */
		if (strncmp(err, "initrd", 6) == 0)
			log_warnx("initrd '%s': %s", initrd, err);
		else
			log_warnx("kernel '%s': %s", kernel, err);
		goto out;
	}
	if ((ret = vcpu_set_long_mode(&vm->vcpus[0], &bi)) < 0)
		log_warnx("boot vCPU registers: %s", strerror(-ret));
out:
	free(k);
	free(i);
	return ret;
}

int
vm_load_real_mode(struct vm *vm, const void *code, size_t len, uint64_t gpa)
{
	void *dst = guest_ptr(&vm->mem, gpa, len);

	if (dst == NULL || gpa + len > 0x10000)
		return -EINVAL;
	memcpy(dst, code, len);
	for (int i = 0; i < vm->nvcpus; i++) {
		struct vcpu *c = &vm->vcpus[i];
		struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };
		struct kvm_regs regs = {
			.rip = gpa, .rsi = (uint64_t)i, .rflags = 2,
			.rsp = 0x8000 - 0x100 * (uint64_t)i,
		};
		struct kvm_sregs sr;

		if (ioctl(c->fd, KVM_GET_SREGS, &sr) < 0)
			return -errno;
		sr.cs.selector = 0;
		sr.cs.base = 0;
		sr.ds = sr.es = sr.ss = sr.fs = sr.gs = sr.cs;
		sr.ds.type = sr.es.type = sr.ss.type = 3;
		sr.fs.type = sr.gs.type = 3;
		if (ioctl(c->fd, KVM_SET_SREGS, &sr) < 0 ||
		    ioctl(c->fd, KVM_SET_REGS, &regs) < 0 ||
		    ioctl(c->fd, KVM_SET_MP_STATE, &mp) < 0)
			return -errno;
	}
	return 0;
}

static bool
vcpu_handle_io(struct vcpu *c)
{
	struct kvm_run *run = c->run;
	uint8_t *p = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;

	/* A string instruction brings count back-to-back elements. */
	for (uint32_t i = 0; i < run->io.count; i++, p += run->io.size)
		io_dispatch(&c->vm->pio, run->io.port, p, run->io.size,
		    is_write);
	return true;
}

/* Serves one exit.  Returns false when the vCPU must stop. */
static bool
vcpu_handle_exit(struct vcpu *c)
{
	struct kvm_run *run = c->run;
	struct vm *vm = c->vm;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return vcpu_handle_io(c);
	case KVM_EXIT_MMIO:
		io_dispatch(&vm->mmio, run->mmio.phys_addr, run->mmio.data,
		    run->mmio.len, run->mmio.is_write);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_HLT:
		/* The in-kernel local APIC handles HLT; a stray one waits. */
		return true;
	case KVM_EXIT_SHUTDOWN:
		/* Worth a line: an early one usually means a broken kernel. */
		log_warnx("vcpu %d: triple fault, resetting", c->id);
		vm_request_stop(vm, VM_EXIT_REBOOT);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
			vm_request_stop(vm, VM_EXIT_REBOOT);
		else
			vm_request_stop(vm, VM_EXIT_POWEROFF);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		log_warnx("vcpu %d: entry failed, hardware reason 0x%llx",
		    c->id, (unsigned long long)
		    run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		log_warnx("vcpu %d: KVM internal error, suberror %u", c->id,
		    run->internal.suberror);
		break;
	default:
		log_warnx("vcpu %d: unexpected exit reason %u", c->id,
		    run->exit_reason);
		break;
	}
	vm_request_stop(vm, VM_EXIT_ERROR);
	return false;
}

static void *
vcpu_thread(void *arg)
{
	struct vcpu *c = arg;
	struct vm *vm = c->vm;
	sigset_t set;
	char name[16];

	vcpu_self = c->id;
	snprintf(name, sizeof(name), "vcpu%d", c->id);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&set);
	sigaddset(&set, SIG_VCPU_KICK);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (c->host_cpu >= 0) {
		cpu_set_t cpus;

		CPU_ZERO(&cpus);
		CPU_SET(c->host_cpu, &cpus);
		if (sched_setaffinity(0, sizeof(cpus), &cpus) < 0)
			log_warn("vcpu %d: cannot pin to host CPU %d", c->id,
			    c->host_cpu);
	}
	while (__atomic_load_n(&vm->exit_reason, __ATOMIC_SEQ_CST) ==
	    VM_RUNNING) {
		if (ioctl(c->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			log_warn("vcpu %d: KVM_RUN", c->id);
			vm_request_stop(vm, VM_EXIT_ERROR);
			break;
		}
		if (!vcpu_handle_exit(c))
			break;
	}
	return NULL;
}

/* Moves console input into the UART as room allows. */
static int
vm_console_input(struct vm *vm, uint8_t *pend, size_t *npend)
{
	long n;
	size_t used;

	if (*npend == 0) {
		n = console_read(vm->con, pend, 64);
		if (n == -ECANCELED) {
			vm->stop_signal = 0;
			vm_request_stop(vm, VM_EXIT_STOPPED);
			return 0;
		}
		if (n < 0)
			return (int)n;
		*npend = (size_t)n;
	}
	used = uart_receive(&vm->com1, pend, *npend);
	memmove(pend, pend + used, *npend - used);
	*npend -= used;
	return 0;
}

int
vm_run(struct vm *vm)
{
	uint8_t pend[64];
	size_t npend = 0;
	sigset_t set, old;
	int ret;

	/* vCPU threads take only the kick; the caller's signals stay here. */
	sigfillset(&set);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	for (int i = 0; i < vm->nvcpus; i++) {
		ret = pthread_create(&vm->vcpus[i].thread, NULL, vcpu_thread,
		    &vm->vcpus[i]);
		if (ret != 0) {
			log_warnx("cannot start vcpu %d: %s", i, strerror(ret));
			vm_request_stop(vm, VM_EXIT_ERROR);
			break;
		}
		vm->vcpus[i].started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	while (__atomic_load_n(&vm->exit_reason, __ATOMIC_SEQ_CST) ==
	    VM_RUNNING) {
		struct pollfd pfd[3 + VM_MAX_WATCH] = {
			{ .fd = vm->stop_fd, .events = POLLIN },
			{ .fd = vm->sig_fd, .events = POLLIN },
			{ .fd = -1, .events = POLLIN },
		};
		int timeout = -1, nwatch = vm->nwatch;

		for (int i = 0; i < nwatch; i++)
			pfd[3 + i] = (struct pollfd){ vm->watch[i].fd, POLLIN, 0 };

		if (vm->con != NULL) {
			/* Input waits while the guest's FIFO is full. */
			if (npend == 0)
				pfd[2].fd = console_poll_fd(vm->con);
			else
				timeout = 10;
		}
		if (poll(pfd, 3 + (nfds_t)nwatch, timeout) < 0 &&
		    errno != EINTR) {
			log_warn("%s: poll", __func__);
			vm_request_stop(vm, VM_EXIT_ERROR);
			break;
		}
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(vm->sig_fd, &si, sizeof(si)) == sizeof(si)) {
				vm->stop_signal = (int)si.ssi_signo;
				vm_request_stop(vm, VM_EXIT_STOPPED);
			}
		}
		/*
		 * A handler may unwatch: match by fd, not by index.  It may
		 * also close an fd and watch a new one that got the same
		 * number: that one was not polled, its revents are not its.
		 */
		vm->round++;
		for (int i = 0; i < nwatch; i++) {
			if (!(pfd[3 + i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			for (int j = 0; j < vm->nwatch; j++)
				if (vm->watch[j].fd == pfd[3 + i].fd &&
				    vm->watch[j].round != vm->round) {
					vm->watch[j].fn(vm, vm->watch[j].opaque);
					break;
				}
		}
		if (npend > 0 || (pfd[2].revents & (POLLIN | POLLHUP))) {
			if (vm_console_input(vm, pend, &npend) < 0) {
				/* A broken input side: keep the output only. */
				vm->con->in_fd = -1;
			}
		}
	}
	for (int i = 0; i < vm->nvcpus; i++)
		if (vm->vcpus[i].started) {
			pthread_join(vm->vcpus[i].thread, NULL);
			vm->vcpus[i].started = false;
		}
	return vm->exit_reason;
}

void
vm_destroy(struct vm *vm)
{
	if (vm == NULL)
		return;
	for (int i = 0; vm->vcpus && i < vm->nvcpus; i++) {
		if (vm->vcpus[i].run != NULL)
			munmap(vm->vcpus[i].run, vm->run_size);
		if (vm->vcpus[i].fd >= 0)
			close(vm->vcpus[i].fd);
	}
	free(vm->vcpus);
	if (vm->mem.host != NULL)
		munmap(vm->mem.host, vm->mem.size);
	if (vm->mem_fd >= 0)
		close(vm->mem_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	irq_routes_fini(&vm->irq);
	uart_fini(&vm->com1);
	pci_bus_fini(&vm->pci);
	io_bus_fini(&vm->pio);
	io_bus_fini(&vm->mmio);
	pthread_mutex_destroy(&vm->rtc.lock);
	free(vm);
}
