/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Scenario file: the VMs of one cupule instance, parsed with libconfig.
 * See docs/scenario.md for the format.
 */
#ifndef CUPULE_SCENARIO_H
#define CUPULE_SCENARIO_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "medsup.h"

#define SC_MAX_VCPUS	64
#define SC_NAME_MAX	32
#define SC_SOCKET_MAX	108	/* sun_path */
#define SC_UID_BASE	2000000000u	/* default uid_base */
#define SC_UID_SWITCH	60000u	/* switch k runs as uid_base + this + k */

enum console_kind {
	CONSOLE_STDIO,		/* the terminal cupule runs on */
	CONSOLE_PTY,		/* a new pseudo-terminal; its path is logged */
	CONSOLE_FILE,		/* output appended to a file, no input */
	CONSOLE_SOCKET,		/* a listening Unix stream socket */
};

enum reboot_action {
	REBOOT_EXIT,		/* a guest reboot ends the VM (status 0) */
	REBOOT_RESTART,		/* a guest reboot starts the VM again */
};

#define SC_SERIAL_MAX	20	/* virtio-blk GET_ID: 20 bytes */

struct device_cfg {
	char type[16];		/* "blk", "net", "usb", "gpu" */
	char id[SC_NAME_MAX];	/* unique within its VM */
	int line;		/* where it was declared */

	/* type "blk" */
	char *image;		/* absolute path: regular file or block device */
	uint64_t range_start;	/* first sector (512 bytes) of the range */
	uint64_t range_sectors;	/* sectors in the range; 0: the whole image */
	uint64_t image_sectors;	/* the image's size when it was checked */
	bool readonly;
	char serial[SC_SERIAL_MAX + 1];	/* GET_ID string, default the id */

	/* type "net" */
	uint8_t mac[6];		/* as given, else derived from VM and id */
	int backend;		/* NET_BACKEND_* */
	char backend_name[SC_NAME_MAX];	/* tap interface or switch name */
	int port_fd;		/* switch port, given by the supervisor; -1 */
	struct medsup_cfg supervise;	/* top-level keys, then its own */
	uint32_t uid;		/* its mediator's own uid and gid */
};

#define NET_BACKEND_TAP		1	/* "tap:IFNAME", the host's tap */
#define NET_BACKEND_SWITCH	2	/* "switch:NAME", cupule-switch */
#define SC_IFNAME_MAX		15	/* Linux IFNAMSIZ - 1 */

struct vm_cfg {
	char name[SC_NAME_MAX];
	uint64_t memory;	/* bytes, a multiple of 2 MiB */
	int vcpus;
	int ncpus;		/* 0: no pinning, else == vcpus */
	int cpus[SC_MAX_VCPUS];	/* host CPU of vCPU i */
	char *kernel;		/* absolute paths */
	char *initrd;		/* NULL if none */
	char *cmdline;		/* never NULL */
	enum console_kind console;
	char *console_path;	/* CONSOLE_FILE / CONSOLE_SOCKET */
	enum reboot_action on_reboot;
	int ndevices;
	struct device_cfg *devices;
	int line;
};

struct scenario {
	char *path;		/* as given */
	int nvms;
	struct vm_cfg *vms;
	bool log_syslog;	/* log = "syslog" */
	char control_socket[SC_SOCKET_MAX];	/* "": the default path */
	int control_gid;	/* may use the socket besides root; -1 */
	uint32_t uid_base;	/* mediators' uids: uid_base + 1 ... */
};

/*
 * What the checks need to know about the machine cupule runs on.  Kept
 * apart from the parser so tests can describe a host of their own.
 */
struct sc_host {
	uint64_t memory;	/* bytes of physical memory */
	int ncpus;		/* host CPUs are numbered 0 .. ncpus - 1 */
	unsigned int devices_built; /* bit i: mediator of device type i built */
};

/*
 * The MAC a net device gets when the scenario gives none: locally
 * administered (02:...), derived from the VM name and device id, so it
 * is the same on every run.
 */
void scenario_default_mac(const char *vm, const char *id, uint8_t mac[6]);

/* Fills host from sysconf() and the table of device types. */
void scenario_host_probe(struct sc_host *host);

/*
 * Returns the index of device type type in the table of device types
 * (the bit it has in sc_host.devices_built), or -1 if it is unknown.
 */
int scenario_device_type(const char *type);

/*
 * Parses and checks the scenario at path into sc.  Every problem is
 * written to errs as "path:line: message\n".  Returns 0, or -EINVAL
 * when the file has errors (sc is then left empty), or -errno when it
 * cannot be read.
 */
int scenario_load(const char *path, struct scenario *sc, FILE *errs);

/*
 * scenario_load, checking memory, CPUs and device types against host
 * instead of the machine it runs on.  scenario_load is this with
 * the result of scenario_host_probe().
 */
int scenario_load_host(const char *path, struct scenario *sc, FILE *errs,
    const struct sc_host *host);

/* Prints the resolved configuration, as "cupule check" shows it. */
void scenario_print(const struct scenario *sc, FILE *out);

/* Returns the VM named name, or NULL. */
const struct vm_cfg *scenario_find(const struct scenario *sc, const char *name);

/* Frees what scenario_load allocated; sc may then be loaded again. */
void scenario_free(struct scenario *sc);

/*
 * Parses a size such as "256M", "1G", "1048576" or "512K" into bytes.
 * Returns 0, or -EINVAL for a malformed or overflowing value.
 */
int parse_size(const char *s, uint64_t *out);

#endif
