/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The VM process's side of a device mediator: the process that emulates
 * one PCI function.  cupule creates the function's ioreq ring, control
 * channel and device-state area, fork+execs the mediator binary with
 * only the fds it needs, and from then on sends the function's
 * configuration (capabilities) and BAR accesses down the ring.  What
 * needs KVM (BAR placement, ioeventfds, irqfds, MSI routes) it does
 * itself, on the mediator's control messages.  docs/ipc.md lists them.
 */
#ifndef CUPULE_MEDIATOR_H
#define CUPULE_MEDIATOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "medsup.h"
#include "pci.h"
#include "ring.h"
#include "scenario.h"

#define MED_STATE_SIZE	(64 * 1024)	/* device-state area, shared */
#define MED_MAX_IOEVENT	16
#define MED_MAX_IRQ	64
#define MED_MAX_ARGS	16

struct vm;
struct mediator;
struct virtio_state;

struct med_bar {
	struct mediator *m;
	int index;
	uint64_t addr;		/* registered at, or PCI_BAR_UNMAPPED */
};

struct med_ioevent {
	int fd;
	uint32_t index;		/* BAR */
	uint32_t flags;		/* CTL_IOEVENTFD_DATAMATCH */
	uint64_t offset;
	uint32_t size;
	uint64_t datamatch;
	uint64_t assigned;	/* guest address while assigned, else 0 */
};

struct med_irq {
	int fd;
	int resample_fd;	/* INTx only, else -1 */
	uint32_t kind;		/* CTL_IRQ_MSIX / CTL_IRQ_INTX */
	uint32_t vector;
	int gsi;
};

struct mediator {
	struct vm *vm;
	const struct device_cfg *cfg;
	char name[64];		/* "vm/device", for logs */
	pid_t pid;		/* the current process, 0 when none */
	int pidfd;		/* and its pidfd, -1 when none */
	int ctl;		/* our end of the control channel */
	int tick_fd;		/* timerfd: supervision ticks */
	int state_fd;		/* memfd of the device-state area */
	int backend_fd;		/* e.g. the disk image, -1 if none */
	struct ioreq_ring ring;
	struct pci_dev pdev;
	struct med_bar bar[PCI_NUM_BARS];
	int nioevent;
	struct med_ioevent ioevent[MED_MAX_IOEVENT];
	int nirq;
	struct med_irq irq[MED_MAX_IRQ];
	uint32_t next_id;
	struct virtio_state *vstate;	/* layout VIRTIO: the shared state */
	uint8_t template[256];	/* config image, to recognise a takeover */
	uint8_t msix_bar;	/* served here, or CTL_NO_MSIX */
	uint8_t msix_cap;
	bool ready;		/* the first process was READY */
	bool hello;		/* the current process said HELLO */
	int down;		/* (atomic) given up: the VM answers */
	struct medsup sup;	/* what the supervisor knows of it */
	uint64_t spawn_ms;	/* when the current process started */
	uint64_t ready_ms;	/* when it said READY */
	uint64_t spin_ns;
	char exe[256];
	int nargs;
	char args[MED_MAX_ARGS][96];
};

/*
 * Starts the mediator for device cfg of vm, waits for its READY and
 * plugs its PCI function into the bus.  Returns 0 or -errno, with the
 * reason logged.
 */
int mediator_start(struct vm *vm, struct mediator *m,
    const struct device_cfg *cfg);

/* Tells the mediator to exit, reaps it and frees its resources. */
void mediator_stop(struct mediator *m);

/*
 * Operator requests (cupulectl): replace the process now, or SIGKILL it
 * as a crash would.  Return 0, or -ESRCH for kill when no process runs.
 */
int mediator_restart(struct mediator *m);
int mediator_kill(struct mediator *m);

/*
 * cupulectl audit --probe: asks the READY mediator to try what its
 * sandbox forbids (docs/sandbox.md), aiming at sibling, and waits for
 * the outcome.  Returns 0, -ESRCH when no process serves, -ETIMEDOUT.
 */
struct ctl_probe_result;
int mediator_probe(struct mediator *m, pid_t sibling,
    struct ctl_probe_result *res);

/*
 * The path of program exe beside the running cupule binary (where the
 * mediators are installed) into buf.  Returns 0 or -errno.
 */
int mediator_exe_path(const char *exe, char *buf, size_t len);

/*
 * clone3() into the sandbox's namespaces (its own pid, mount, net, IPC
 * and UTS namespaces; none when this process may not make them), with
 * a pidfd in *pidfd.  Returns as fork() does.  The child may only call
 * async-signal-safe functions before it execs.
 */
pid_t mediator_clone(int *pidfd);

/* Takes mediator binaries from dir instead (tests); NULL: beside cupule. */
void mediator_set_dir(const char *dir);

#endif
