/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The VM process: one KVM VM, its guest RAM, vCPU threads and the
 * devices it emulates itself (UART, PCI host bridge, ACPI PM, RTC).
 */
#ifndef CUPULE_VM_H
#define CUPULE_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "boot.h"
#include "console.h"
#include "io.h"
#include "irq.h"
#include "pci.h"
#include "uart.h"

enum vm_exit {
	VM_RUNNING,
	VM_EXIT_POWEROFF,	/* the guest powered off */
	VM_EXIT_REBOOT,		/* the guest asked for a reset */
	VM_EXIT_STOPPED,	/* stopped from outside: signal or escape */
	VM_EXIT_ERROR,		/* KVM or emulation failure */
};

struct vm;

struct vcpu {
	struct vm *vm;
	int id;
	int fd;
	int host_cpu;		/* -1: not pinned */
	struct kvm_run *run;
	pthread_t thread;
	bool started;
};

struct rtc {
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t cmos[128];
};

#define VM_MAX_WATCH	64

/* An fd the VM process's main thread watches, e.g. a mediator channel. */
struct vm_watch {
	int fd;
	void (*fn)(struct vm *vm, void *opaque);
	void *opaque;
	unsigned round;		/* the poll round it was added in */
};

struct vm_opts {
	const char *name;
	uint64_t memory;	/* bytes */
	int vcpus;
	const int *cpus;	/* NULL, or host CPU of each vCPU */
	struct console *con;	/* guest console sink (may be NULL) */
};

struct vm {
	char name[32];
	int kvm_fd;
	int vm_fd;
	int mem_fd;		/* memfd: mediators will map guest RAM */
	bool tsc_deadline;	/* KVM emulates the TSC-deadline timer */
	struct guest_mem mem;
	size_t run_size;
	int nvcpus;
	struct vcpu *vcpus;
	struct io_bus pio;
	struct io_bus mmio;
	struct console *con;
	struct uart com1;
	struct pci_bus pci;
	struct pci_dev host_bridge;
	struct rtc rtc;
	struct irq_routes irq;
	uint16_t pm1_sts, pm1_en, pm1_cnt;
	int nwatch;
	struct vm_watch watch[VM_MAX_WATCH];
	unsigned round;		/* poll rounds of the main loop */
	int stop_fd;		/* eventfd: vm_request_stop was called */
	int sig_fd;		/* signalfd for SIGINT/SIGTERM, or -1 */
	int exit_reason;	/* enum vm_exit, set once */
	int stop_signal;	/* the signal that stopped it, if any */
};

/*
 * Creates the VM: KVM VM with in-kernel irqchip and PIT, guest RAM in a
 * memfd, vCPUs, the built-in devices and the ACPI tables.  Returns 0 and
 * sets *out, or -errno with a one-line reason logged.
 */
int vm_create(const struct vm_opts *o, struct vm **out);

/*
 * Loads a bzImage, optional initrd and command line and points the boot
 * vCPU at the 64-bit entry.  Returns 0 or -errno with the reason logged.
 */
int vm_load_linux(struct vm *vm, const char *kernel, const char *initrd,
    const char *cmdline);

/*
 * Loads a flat 16-bit program at gpa (below 64 KiB) and starts every
 * vCPU there in real mode, with SI holding the vCPU's index: the tiny
 * test guests.  Returns 0 or -errno.
 */
int vm_load_real_mode(struct vm *vm, const void *code, size_t len,
    uint64_t gpa);

/*
 * Runs the vCPUs and serves the console until the VM stops.  Returns
 * the enum vm_exit reason.
 */
int vm_run(struct vm *vm);

/* Asks every vCPU to stop; the first reason given wins. */
void vm_request_stop(struct vm *vm, enum vm_exit reason);

/* Drives interrupt line gsi (in-kernel PIC/IOAPIC). */
void vm_set_irq(struct vm *vm, unsigned gsi, bool level);

/* True until a stop was requested. */
bool vm_running(const struct vm *vm);

/* Returns the index of the vCPU running this thread, or -1. */
int vm_current_vcpu(void);

/*
 * Makes this thread use vCPU index's per-vCPU slots (ring slot, ISR
 * latch) when it accesses devices: for tests and tools driving devices
 * from outside the vCPU threads while that vCPU itself does no I/O.
 */
void vm_bind_vcpu(int index);

/*
 * Calls fn on the main thread whenever fd is readable while the VM runs.
 * Returns 0 or -ENOSPC.
 */
int vm_watch(struct vm *vm, int fd, void (*fn)(struct vm *, void *),
    void *opaque);

/* Stops watching fd. */
void vm_unwatch(struct vm *vm, int fd);

/* Tears down what vm_create built. */
void vm_destroy(struct vm *vm);

/* Registers the PM, reset, RTC and PCI ports of the VM (chipset.c). */
int chipset_init(struct vm *vm);

/* Returns the name of a vm_exit reason. */
const char *vm_exit_name(int reason);

#endif
