/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control channel between the VM process and one mediator: a Unix
 * SOCK_SEQPACKET socket pair, one message per packet:
 *
 *	struct ctl_hdr { type, len, id, flags }   16 bytes
 *	payload                                    len bytes, fixed per type
 *	passed fds (SCM_RIGHTS)                    0..CTL_MAX_FDS, per type
 *
 * Everything is checked on the way in (ctl_recv) and on the way out
 * (ctl_send): a truncated or over-long packet, a len that is not the
 * packet's, a payload of the wrong size for its type, an unknown type or
 * flag, a non-zero reserved field, too many, too few or unexpected fds
 * all give -EBADMSG, and any fds that came with a refused message are
 * closed.  Payloads are little-endian structs of fixed size; reserved
 * fields must be 0 so that a later version can give them a meaning.
 * docs/ipc.md lists who sends what, and when.
 *
 * Every function returns 0 or a negative errno unless said otherwise.
 */
#ifndef CUPULE_CTL_H
#define CUPULE_CTL_H

#include <stddef.h>
#include <stdint.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "control payloads are little-endian and read in place"
#endif

#define CTL_VERSION		1
#define CTL_HDR_SIZE		16
#define CTL_MAX_PAYLOAD		4096
#define CTL_MAX_FDS		16
#define CTL_NAME_MAX		32
#define CTL_MAX_REGIONS		8	/* guest memory regions in ATTACH */
#define CTL_MAX_MSIX		2048	/* MSI-X table entries (PCI limit) */

enum ctl_type {
	/* Both ways, first message on the channel: version, role, name. */
	CTL_HELLO = 1,
	/* Mediator -> VM: the ring is attached and served (after ATTACH). */
	CTL_READY = 2,
	/* VM -> mediator: ring memfd, kick eventfd, guest memory + layout. */
	CTL_ATTACH = 3,
	/* VM -> mediator: completion eventfds for a range of ring slots. */
	CTL_ATTACH_SLOTS = 4,
	/* Mediator -> VM: map (or unmap) shared memory over part of a BAR. */
	CTL_MAP_BAR = 5,
	/* Mediator -> VM: register (or remove) a KVM ioeventfd in a region. */
	CTL_IOEVENTFD = 6,
	/* Mediator -> VM: bind (or unbind) an eventfd to INTx or MSI-X. */
	CTL_IRQFD = 7,
	/* Mediator -> VM: the guest programmed or masked an MSI-X entry. */
	CTL_MSIX_ROUTE = 8,
	/* Reply to the request with the same id: 0 or -errno. */
	CTL_RESULT = 9,
	/* VM -> mediator: stop serving and exit. */
	CTL_SHUTDOWN = 10,
	/* Mediator -> VM: the PCI function it emulates (before READY). */
	CTL_DEVICE = 11,
	/* VM -> mediator: the device-state area, which outlives mediators. */
	CTL_ATTACH_STATE = 12,
	/* VM -> READY mediator: try forbidden operations (sandbox.h). */
	CTL_PROBE = 13,
	/* Mediator -> VM: what each probe operation met (same id). */
	CTL_PROBE_RESULT = 14,
};
#define CTL_TYPE_MAX		14

struct ctl_hdr {
	uint32_t type;		/* enum ctl_type */
	uint32_t len;		/* payload bytes, not counting this header */
	uint32_t id;		/* chosen by the sender; a RESULT echoes it */
	uint32_t flags;		/* none defined in version 1: 0 */
};

#define CTL_ROLE_VM		1
#define CTL_ROLE_MEDIATOR	2

struct ctl_hello {		/* no fds */
	uint32_t version;	/* CTL_VERSION of the sender */
	uint32_t role;		/* CTL_ROLE_* */
	uint32_t ring_version;	/* IOREQ_VERSION of the sender */
	uint32_t reserved;
	char name[CTL_NAME_MAX];	/* device or VM name, NUL-terminated */
};

struct ctl_ready {		/* no fds */
	uint32_t generation;	/* ring attaches so far, this one included */
	uint32_t recovered;	/* requests this attach put back to PENDING */
};

#define CTL_MEM_READONLY	0x1

struct ctl_mem_region {
	uint64_t gpa;		/* guest physical address, page aligned */
	uint64_t size;		/* bytes, page multiple, > 0 */
	uint64_t offset;	/* in the fd, page aligned */
	uint32_t fd_index;	/* index in the message's fds, >= 2 */
	uint32_t flags;		/* CTL_MEM_* */
};

/*
 * fds: [0] ring memfd, [1] kick eventfd, [2..] guest memory fds; every
 * memory fd is used by at least one region, regions may share an fd.
 */
struct ctl_attach {
	uint32_t nslots;	/* ring slots, as in the ring header */
	uint32_t nregions;	/* used entries of region[] */
	uint32_t reserved[2];
	struct ctl_mem_region region[CTL_MAX_REGIONS];
};

/* fds: count completion eventfds, for slots first .. first+count-1. */
struct ctl_attach_slots {
	uint32_t first;
	uint32_t count;		/* 1..CTL_MAX_FDS, = number of fds */
};

#define CTL_MAP_READONLY	0x1
#define CTL_MAP_UNMAP		0x2

/* fds: 1 (map: memory to map) or 0 (CTL_MAP_UNMAP). */
struct ctl_map_bar {
	uint32_t bar;		/* 0-5 */
	uint32_t flags;		/* CTL_MAP_* */
	uint64_t bar_offset;	/* where in the BAR, page aligned */
	uint64_t fd_offset;	/* where in the fd, page aligned; 0 to unmap */
	uint64_t size;		/* page multiple, > 0 */
};

#define CTL_IOEVENTFD_DATAMATCH	0x1
#define CTL_IOEVENTFD_DEASSIGN	0x2

/* fds: 1, the eventfd (KVM needs it to deassign too). */
struct ctl_ioeventfd {
	uint32_t index;		/* region, as in ioreq.index */
	uint32_t flags;		/* CTL_IOEVENTFD_* */
	uint64_t offset;	/* in the region */
	uint32_t size;		/* 0 (any) or 1, 2, 4, 8 */
	uint32_t reserved;
	uint64_t datamatch;	/* with CTL_IOEVENTFD_DATAMATCH */
};

#define CTL_IRQ_INTX		1
#define CTL_IRQ_MSIX		2
#define CTL_IRQFD_DEASSIGN	0x1
#define CTL_IRQFD_RESAMPLE	0x2	/* INTx only: level, with a resample fd */

/* fds: [0] the irq eventfd, [1] the resample eventfd with RESAMPLE. */
struct ctl_irqfd {
	uint32_t kind;		/* CTL_IRQ_* */
	uint32_t vector;	/* INTx pin (0 = INTA .. 3) or MSI-X entry */
	uint32_t flags;		/* CTL_IRQFD_* */
	uint32_t reserved;
};

#define CTL_MSIX_MASKED		0x1

struct ctl_msix_route {		/* no fds */
	uint32_t vector;	/* MSI-X entry */
	uint32_t flags;		/* CTL_MSIX_* */
	uint64_t address;	/* message address */
	uint32_t data;		/* message data */
	uint32_t reserved;
};

struct ctl_result {		/* no fds */
	int32_t error;		/* 0 or -errno (-4095..0) */
	uint32_t reserved;
};

#define CTL_SHUTDOWN_POWEROFF	1	/* the VM is going away */
#define CTL_SHUTDOWN_RESET	2	/* the VM resets: device back to power-on */

struct ctl_shutdown {		/* no fds */
	uint32_t reason;	/* CTL_SHUTDOWN_* */
	uint32_t reserved;
};

#define CTL_BAR_NONE		0
#define CTL_BAR_IO		1
#define CTL_BAR_MEM32		2
#define CTL_BAR_MEM64		3	/* takes this BAR and the next */

#define CTL_LAYOUT_NONE		0	/* the state area is the device's own */
#define CTL_LAYOUT_VIRTIO	1	/* a struct virtio_state at offset 0 */

#define CTL_NO_MSIX		0xff

/*
 * No fds.  The configuration space image: the VM process serves the
 * header (ids, command, status, BARs, interrupt line) and, below
 * fwd_start, the rest from this image under wmask; accesses at or
 * above fwd_start (if not 0) go down the ring as IOREQ_PCI_CFG.  With
 * layout VIRTIO the VM process serves the MSI-X table in BAR msix_bar
 * and the MSI-X capability at msix_cap from the shared virtio_state,
 * and programs the vectors' routes itself.
 */
struct ctl_device {
	uint8_t config[256];
	uint8_t wmask[256];
	struct {
		uint32_t type;		/* CTL_BAR_* */
		uint32_t reserved;
		uint64_t size;		/* power of two; 0 for NONE */
	} bar[6];
	uint32_t fwd_start;	/* 0, or 0x40..0xfc, dword aligned */
	uint8_t layout;		/* CTL_LAYOUT_* */
	uint8_t msix_bar;	/* 0-5, or CTL_NO_MSIX */
	uint8_t msix_cap;	/* config offset of the MSI-X capability */
	uint8_t reserved;
};

/* fds: [0] the memfd of the area (sealed against resizing). */
struct ctl_attach_state {
	uint64_t size;		/* bytes, page multiple, > 0 */
};

/*
 * The probe: the mediator forks one child per operation; each child
 * inherits the mediator's sandbox, tries one thing it must not be able
 * to do and reports how it was stopped.  docs/sandbox.md says what each
 * one proves.
 */
enum ctl_probe_op {
	CTL_PROBE_OPEN_FILE,	/* open("/etc/passwd") */
	CTL_PROBE_OPEN_PROC,	/* open("/proc/1/environ") */
	CTL_PROBE_SOCKET_INET,	/* socket(AF_INET, SOCK_STREAM) */
	CTL_PROBE_SOCKET_UNIX,	/* socket(AF_UNIX, SOCK_STREAM) */
	CTL_PROBE_KILL,		/* kill(sibling_pid, 0) */
	CTL_PROBE_PTRACE,	/* ptrace(PTRACE_SEIZE, sibling_pid) */
	CTL_PROBE_PROC_MEM,	/* open("/proc/<sibling_pid>/mem") */
	CTL_PROBE_VM_READ,	/* process_vm_readv(sibling_pid) */
	CTL_PROBE_MMAP_FD,	/* mmap(mem_fd) */
	CTL_PROBE_EXEC,		/* execve("/bin/sh") */
	CTL_PROBE_CAPSET,	/* capset(): raise CAP_SYS_ADMIN */
	CTL_PROBE_SETUID,	/* setuid(0) */
	CTL_PROBE_MOUNT,	/* mount() of a tmpfs */
	CTL_PROBE_WRITE_ROOT,	/* open("/", O_TMPFILE | O_WRONLY) */
	CTL_PROBE_USERNS,	/* unshare(CLONE_NEWUSER) */
	CTL_PROBE_IO_URING,	/* io_uring_setup(): a ring seccomp cannot see */
	CTL_PROBE_NOPS,
};

#define CTL_PROBE_ALL		((1u << CTL_PROBE_NOPS) - 1)

/* No fds.  Another mediator's pid and memory are what the probe aims at. */
struct ctl_probe {
	uint32_t ops;		/* 1 << CTL_PROBE_*, 0 for all */
	int32_t sibling_pid;	/* in the VM process's pid namespace; 0: none */
	int32_t mem_fd;		/* an fd number to try mapping, or -1 */
	uint32_t reserved;
};

enum ctl_probe_outcome {
	CTL_PROBE_SKIPPED = 1,	/* not asked for, or nothing to aim at */
	CTL_PROBE_SECCOMP,	/* the seccomp filter refused the call */
	CTL_PROBE_ERRNO,	/* the kernel refused: error says why */
	CTL_PROBE_ALLOWED,	/* it worked: the sandbox has a hole */
	CTL_PROBE_FAILED,	/* the probe could not run: error says why */
};

#define CTL_PROBE_MAX_OPS	32

/* No fds.  One entry per operation tried, in the order of the op ids. */
struct ctl_probe_result {
	uint32_t nops;		/* used entries of op[] */
	uint32_t stage;		/* seccomp stages in force: 0, 1, 2 */
	struct {
		uint16_t op;	/* enum ctl_probe_op */
		uint8_t outcome;	/* enum ctl_probe_outcome */
		uint8_t reserved;
		int32_t error;	/* errno (ERRNO, FAILED), else 0 */
	} op[CTL_PROBE_MAX_OPS];
};

/* A received message; its fds belong to it until taken or closed. */
struct ctl_msg {
	struct ctl_hdr hdr;
	uint8_t payload[CTL_MAX_PAYLOAD];
	unsigned nfds;
	int fds[CTL_MAX_FDS];
};

/* Creates a connected SOCK_SEQPACKET pair with close-on-exec set. */
int ctl_socketpair(int sv[2]);

/*
 * Sends one message with payload (len bytes) and nfds fds after checking
 * it as ctl_recv() would.  The caller keeps its fds.  Returns 0; -EINVAL
 * for a message the peer would refuse; -EPIPE if the peer is gone; the
 * -errno of sendmsg.
 */
int ctl_send(int sock, uint32_t type, uint32_t id, const void *payload,
    size_t len, const int *fds, unsigned nfds);

/*
 * Receives and checks one message into msg, retrying on EINTR.  Returns
 * 0; -EBADMSG for a malformed message (its fds closed); -ECONNRESET when
 * the peer closed the channel; -EAGAIN on an empty non-blocking socket;
 * the -errno of recvmsg.
 */
int ctl_recv(int sock, struct ctl_msg *msg);

/*
 * Parses a message of len bytes from buf that came with nfds fds (their
 * numbers are not needed: msg->fds are set to -1) and checks it fully.
 * This is ctl_recv() without the socket.  Returns 0 or -EBADMSG.
 */
int ctl_parse(const void *buf, size_t len, unsigned nfds,
    struct ctl_msg *msg);

/*
 * Returns fd i of msg and forgets it (the caller now owns it), or
 * -EBADF if there is no such fd or it was already taken.
 */
int ctl_take_fd(struct ctl_msg *msg, unsigned i);

/* Closes the fds of msg that were not taken. */
void ctl_msg_close(struct ctl_msg *msg);

/* Returns the name of a message type ("HELLO"), or "?" if unknown. */
const char *ctl_type_name(uint32_t type);

/* Names of a probe operation ("open-file") and outcome ("seccomp"). */
const char *ctl_probe_op_name(uint32_t op);
const char *ctl_probe_outcome_name(uint32_t outcome);

/*
 * Typed accessors: each copies the payload of msg into *out after
 * checking the type, the payload size, the fd count and every field.
 * Returns 0 or -EBADMSG (also when msg is of another type).
 */
int ctl_get_hello(const struct ctl_msg *msg, struct ctl_hello *out);
int ctl_get_ready(const struct ctl_msg *msg, struct ctl_ready *out);
int ctl_get_attach(const struct ctl_msg *msg, struct ctl_attach *out);
int ctl_get_attach_slots(const struct ctl_msg *msg,
    struct ctl_attach_slots *out);
int ctl_get_map_bar(const struct ctl_msg *msg, struct ctl_map_bar *out);
int ctl_get_ioeventfd(const struct ctl_msg *msg, struct ctl_ioeventfd *out);
int ctl_get_irqfd(const struct ctl_msg *msg, struct ctl_irqfd *out);
int ctl_get_msix_route(const struct ctl_msg *msg,
    struct ctl_msix_route *out);
int ctl_get_result(const struct ctl_msg *msg, struct ctl_result *out);
int ctl_get_shutdown(const struct ctl_msg *msg, struct ctl_shutdown *out);
int ctl_get_device(const struct ctl_msg *msg, struct ctl_device *out);
int ctl_get_attach_state(const struct ctl_msg *msg,
    struct ctl_attach_state *out);
int ctl_get_probe(const struct ctl_msg *msg, struct ctl_probe *out);
int ctl_get_probe_result(const struct ctl_msg *msg,
    struct ctl_probe_result *out);

#endif
