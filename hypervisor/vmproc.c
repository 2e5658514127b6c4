/* SPDX-License-Identifier: BSD-3-Clause */
/* The VM process: one VM, from creation to power-off, across reboots. */
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "control.h"
#include "log.h"
#include "mediator.h"
#include "supervisor.h"
#include "vm.h"

struct vm_control {
	int fd;
	struct mediator *meds;
	int nmeds;
};

static void
on_control(struct vm *vm, void *opaque)
{
	struct vm_control *c = opaque;

	if (control_vm_serve(c->fd, c->meds, c->nmeds) < 0) {
		vm_unwatch(vm, c->fd);
		close(c->fd);
		c->fd = -1;
	}
}

int
vm_process_main(const struct vm_cfg *cfg, int control_fd)
{
	struct vm_control vc = { .fd = control_fd };
	struct vm_opts o = {
		.name = cfg->name, .memory = cfg->memory, .vcpus = cfg->vcpus,
		.cpus = cfg->ncpus ? cfg->cpus : NULL,
	};
	struct console con;
	struct mediator *meds;
	struct vm *vm = NULL;
	char prefix[64];
	sigset_t set;
	int sig_fd, reason, status = VMS_SETUP, boots = 0;

	snprintf(prefix, sizeof(prefix), "cupule: vm %s", cfg->name);
	log_set_prefix(prefix);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sig_fd < 0) {
		log_warn("signalfd");
		return VMS_SETUP;
	}
	if (console_open(&con, cfg->console, cfg->console_path) < 0)
		return VMS_SETUP;
	o.con = &con;
	meds = calloc((size_t)cfg->ndevices + 1, sizeof(*meds));
	if (meds == NULL)
		return VMS_SETUP;
	for (;;) {
		int nmeds = 0;

		if (vm_create(&o, &vm) < 0 ||
		    vm_load_linux(vm, cfg->kernel, cfg->initrd,
		    cfg->cmdline) < 0) {
			status = boots ? VMS_ERROR : VMS_SETUP;
			break;
		}
		/* Each device is a mediator process, started with the VM. */
		for (; nmeds < cfg->ndevices; nmeds++)
			if (mediator_start(vm, &meds[nmeds],
			    &cfg->devices[nmeds]) < 0)
				break;
		if (nmeds < cfg->ndevices) {
			mediator_stop(&meds[nmeds]);
			while (nmeds-- > 0)
				mediator_stop(&meds[nmeds]);
			status = boots ? VMS_ERROR : VMS_SETUP;
			break;
		}
		boots++;
		vm->sig_fd = sig_fd;
		vc.meds = meds;
		vc.nmeds = nmeds;
		if (vc.fd >= 0 && vm_watch(vm, vc.fd, on_control, &vc) < 0)
			log_warnx("cannot watch the control channel");
		reason = vm_run(vm);
		while (nmeds-- > 0)
			mediator_stop(&meds[nmeds]);
		if (reason == VM_EXIT_STOPPED && vm->stop_signal)
			log_warnx("stopped by %s", strsignal(vm->stop_signal));
		else if (reason == VM_EXIT_STOPPED)
			log_warnx("stopped from the console");
		else
			log_info("%s", vm_exit_name(reason));
		vm_destroy(vm);
		vm = NULL;
		if (reason == VM_EXIT_REBOOT && cfg->on_reboot == REBOOT_RESTART)
			continue;
		status = reason == VM_EXIT_STOPPED ? VMS_STOPPED :
		    reason == VM_EXIT_ERROR ? VMS_ERROR : VMS_OK;
		break;
	}
	vm_destroy(vm);
	free(meds);
	console_close(&con);
	close(sig_fd);
	if (vc.fd >= 0)
		close(vc.fd);
	return status;
}
