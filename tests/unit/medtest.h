/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the tests that run a real mediator program share (check_blk_proc,
 * check_net_proc, check_sandbox_proc): they play the VM process (the
 * control channel and its handshake, the ring, guest memory, the
 * device-state area, the mediator's fd 4, the ioeventfds and irqfds it
 * gives back) and the guest's driver (BAR0 through the ring, queues in
 * guest memory), and each adds its own checks on top.
 *
 * The programs are looked for in BUILD/bin, next to the test's own
 * BUILD/tests.  Every function fails the running test (ck_assert)
 * rather than return an error, unless said otherwise.
 */
#ifndef CUPULE_MEDTEST_H
#define CUPULE_MEDTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctl.h"
#include "ring.h"
#include "virtio_pci.h"

#define MEDVM_MEM_SIZE		(4u << 20)	/* guest memory */
#define MEDVM_STATE_SIZE	(64u * 1024)	/* device-state area */
#define MEDVM_NQ		4	/* queues (ioeventfds), at most */
#define MEDVM_NVEC		8	/* MSI-X vectors (irqfds), at most */

/* Queue q in guest memory: descriptors, then the avail and used rings. */
#define MEDVM_QBASE(q)		(0x10000u + (q) * 0x4000u)
#define MEDVM_AVAIL(q)		(MEDVM_QBASE(q) + 0x1000u)
#define MEDVM_USED(q)		(MEDVM_QBASE(q) + 0x2000u)

/* How medtest_exec() starts a program. */
#define MEDTEST_SANDBOX		0x1	/* sandbox_fork(): namespaces */
#define MEDTEST_PDEATHSIG	0x2	/* SIGKILL when the test dies */
#define MEDTEST_CLOSE_FDS	0x4	/* nothing above fd 4 at exec */

/* The VM process of one mediator, and its guest's driver. */
struct medvm {
	/* the mediator */
	pid_t pid;			/* -1: none */
	int ctl;			/* our end of its control channel */
	int backend;			/* its fd 4: image, tap, port */
	int log;			/* its stderr: an unlinked file */
	/*
	 * The test kills it: a message that cannot be sent is no error,
	 * and medvm_recv() and medvm_spawn() return false once it is gone.
	 */
	bool mortal;
	int wait_ms;			/* for what must come: a bound */
	/* what the VM process gives every mediator */
	struct ioreq_ring ring;
	int state_fd;
	struct virtio_state *s;
	int mem_fd;
	uint8_t *mem;
	uint32_t next_id;
	/* what each new mediator gives back, replacing the last one's */
	int kick[MEDVM_NQ], nkick;
	int irq[MEDVM_NVEC], nirq;
	int intx, resample;
	/* what replaced irqfds had counted and nobody read */
	uint64_t irq_pending[MEDVM_NVEC], intx_pending;
	/* the driver: per queue its size, next descriptor, next avail idx */
	uint16_t qsize[MEDVM_NQ], desc[MEDVM_NQ], avail[MEDVM_NQ];
	/*
	 * A test's own ways, NULL for none.  mmio serves every register
	 * access of the medvm_* driver functions (blk's replaces a mediator
	 * that dies in the middle of one).  on_msg sees each CTL_DEVICE,
	 * CTL_IOEVENTFD and CTL_IRQFD of a start before its fds are taken,
	 * on_reply once it is answered.
	 */
	uint64_t (*mmio)(bool write, uint64_t off, unsigned size,
	    uint64_t val);
	void (*on_msg)(struct medvm *vm, const struct ctl_msg *msg);
	void (*on_reply)(struct medvm *vm, const struct ctl_msg *msg);
	char logbuf[16384];
};

/* ---- small things ------------------------------------------------------- */

/* BUILD/bin/name, which must be built; a static buffer. */
const char *medtest_prog(const char *name);
uint64_t medtest_now_ms(void);
void medtest_sleep_us(unsigned us);
/* 1 ms: what a test polling for something waits between looks. */
void medtest_nap(void);
/* What the eventfd counted, 0 if nothing or fd < 0. */
uint64_t medtest_drain(int fd);
/* A new file in /tmp, already unlinked; name is its prefix. */
int medtest_tmpfile(const char *name);

/*
 * Starts BUILD/bin/prog with argv[0] prog and then args (NULL-ended),
 * fds 3 (a control channel, or a port) and 4 (-1: none) and stderr to
 * log, as flags say.  Returns its pid.
 */
pid_t medtest_exec(const char *prog, char *const *args, int fd3, int fd4,
    int log, int flags);

/* ---- the VM process ----------------------------------------------------- */

/*
 * A new VM process without a mediator: ring, device-state area, guest
 * memory and a log file (name: its prefix); no backend yet.
 */
void medvm_open(struct medvm *vm, const char *name, int wait_ms);
/* Closes and unmaps everything; the mediator must be gone. */
void medvm_close(struct medvm *vm);

/*
 * Starts prog (medtest_exec()) on vm's ring, memory, state and backend
 * and plays the VM process's side of its start up to READY: attach,
 * then every DEVICE, IOEVENTFD and IRQFD answered.  Returns true once
 * it said READY; false if it died before (mortal only).
 */
bool medvm_spawn(struct medvm *vm, const char *prog, char *const *args,
    int flags);

/* One message within wait_ms; false if the mediator is gone (mortal). */
bool medvm_recv(struct medvm *vm, struct ctl_msg *msg);

/* The mediator's log so far (its first 16 KiB), in vm->logbuf. */
const char *medvm_log(struct medvm *vm);
/* The whole log to stderr, for CHECK_*_LOG. */
void medvm_print_log(struct medvm *vm);

/* ---- the driver: registers ---------------------------------------------- */

/* One BAR0 access from the vCPU of slot 0; the value read. */
uint64_t medvm_mmio(struct medvm *vm, bool write, uint64_t off,
    unsigned size, uint64_t val);
/* The device's features, both halves. */
uint64_t medvm_offered(struct medvm *vm);
/* Reset, then ACKNOWLEDGE | DRIVER, as Linux starts. */
void medvm_reset(struct medvm *vm);
/* Features f, then FEATURES_OK, which the device must keep. */
void medvm_set_features(struct medvm *vm, uint64_t f);
/*
 * The VM process's part of MSI-X (on, every vector unmasked), then the
 * driver's configuration vector.
 */
void medvm_msix(struct medvm *vm, uint16_t config_vector);
/* Selects queue q; returns the size the device offers. */
uint16_t medvm_queue_select(struct medvm *vm, uint16_t q);
/*
 * Queue q (selected) at MEDVM_QBASE(q) with size entries, on MSI-X
 * vector (-1: none), enabled; the driver's indexes start again at 0.
 */
void medvm_queue_enable(struct medvm *vm, uint16_t q, uint16_t size,
    int vector);
/* DRIVER_OK, which the device must keep. */
void medvm_driver_ok(struct medvm *vm);

/* ---- the driver: queues ------------------------------------------------- */

/* Puts the next descriptor in queue q's table; returns its index. */
uint16_t medvm_put_desc(struct medvm *vm, uint16_t q, uint64_t addr,
    uint32_t len, uint16_t flags);
/* Publishes the chain at head in queue q's avail ring; no notification. */
void medvm_publish(struct medvm *vm, uint16_t q, uint16_t head);
/* Notifies queue q through its ioeventfd. */
void medvm_kick(struct medvm *vm, uint16_t q);
uint16_t medvm_used_idx(struct medvm *vm, uint16_t q);
/* Used element i of queue q: the head and the length. */
void medvm_used_elem(struct medvm *vm, uint16_t q, uint16_t i, uint32_t *id,
    uint32_t *len);
/* Waits (wait_ms at most) until queue q's used->idx reaches want. */
bool medvm_wait_used(struct medvm *vm, uint16_t q, uint16_t want);

#endif
