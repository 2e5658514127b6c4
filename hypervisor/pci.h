/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PCI bus 0 behind configuration mechanism #1 (ports 0xcf8/0xcfc).
 *
 * A device is a struct pci_dev with a 256-byte configuration space and a
 * write mask; the common code handles read-only bits, BAR sizing and
 * decoding, and calls the device's ops when the guest moves a BAR or
 * writes a register the device wants to see.  Later devices forward
 * these calls to their mediator.
 */
#ifndef CUPULE_PCI_H
#define CUPULE_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define PCI_SLOTS		32
#define PCI_CFG_SIZE		256
#define PCI_NUM_BARS		6
#define PCI_BAR_UNMAPPED	UINT64_MAX

/* Standard configuration-space offsets. */
#define PCI_VENDOR_ID		0x00
#define PCI_DEVICE_ID		0x02
#define PCI_COMMAND		0x04
#define PCI_STATUS		0x06
#define PCI_CLASS_REVISION	0x08
#define PCI_HEADER_TYPE		0x0e
#define PCI_BAR0		0x10
#define PCI_SUBSYS_VENDOR_ID	0x2c
#define PCI_CAP_PTR		0x34
#define PCI_INTERRUPT_LINE	0x3c
#define PCI_INTERRUPT_PIN	0x3d

#define PCI_COMMAND_IO		0x0001
#define PCI_COMMAND_MEMORY	0x0002
#define PCI_COMMAND_MASTER	0x0004
#define PCI_COMMAND_INTX_DISABLE 0x0400

enum pci_bar_type {
	PCI_BAR_NONE,
	PCI_BAR_IO,
	PCI_BAR_MEM32,
	PCI_BAR_MEM64,		/* takes this BAR and the next */
};

struct pci_dev;

struct pci_dev_ops {
	/*
	 * BAR bar now decodes at addr, or stopped decoding (addr is
	 * PCI_BAR_UNMAPPED).  old is where it decoded before.
	 */
	void (*bar_map)(struct pci_dev *d, int bar, uint64_t old,
	    uint64_t addr);
	/* Called after the common code applied a configuration write. */
	void (*cfg_write)(struct pci_dev *d, unsigned off, unsigned size);
	/*
	 * Serves accesses at or above pci_dev.fwd_start itself (the device
	 * owns its capabilities, e.g. in a mediator).  Called without the
	 * bus lock, since it may wait.  For a read it sets *val.
	 */
	void (*cfg_access)(struct pci_dev *d, unsigned off, unsigned size,
	    bool is_write, uint32_t *val);
};

struct pci_bar {
	enum pci_bar_type type;
	uint64_t size;		/* a power of two */
	uint64_t mapped;	/* where it decodes, or PCI_BAR_UNMAPPED */
};

struct pci_dev {
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];	/* bits the guest may change */
	uint8_t w1c[PCI_CFG_SIZE];	/* bits a guest 1 clears */
	struct pci_bar bar[PCI_NUM_BARS];
	const struct pci_dev_ops *ops;
	void *opaque;
	int slot;
	unsigned fwd_start;		/* 0: nothing forwarded */
};

struct pci_bus {
	pthread_mutex_t lock;
	uint32_t addr;			/* the 0xcf8 register */
	struct pci_dev *dev[PCI_SLOTS];
};

/* Initialises an empty bus. */
void pci_bus_init(struct pci_bus *bus);

/* Frees what pci_bus_init allocated (not the devices). */
void pci_bus_fini(struct pci_bus *bus);

/*
 * Fills in a type-0 header: ids, class code (class << 8 | prog-if, 24
 * bits) and revision, with the usual command bits writable.
 */
void pci_dev_init(struct pci_dev *d, uint16_t vendor, uint16_t device,
    uint32_t class_code, uint8_t revision);

/*
 * Declares BAR bar of the given type and size (a power of two, at least
 * 16 bytes for memory, 4 for I/O).  Returns 0 or -EINVAL.
 */
int pci_dev_set_bar(struct pci_dev *d, int bar, enum pci_bar_type type,
    uint64_t size);

/*
 * Puts d in slot (0-31), or the first free slot when slot is -1.
 * Returns the slot, or -EBUSY / -ENOSPC / -EINVAL.
 */
int pci_bus_add(struct pci_bus *bus, struct pci_dev *d, int slot);

/*
 * Configuration access to bus 0 device dev function fn at off.  Absent
 * functions read as all ones.  size is 1, 2 or 4 and off is aligned.
 */
uint32_t pci_cfg_read(struct pci_bus *bus, unsigned dev, unsigned fn,
    unsigned off, unsigned size);
void pci_cfg_write(struct pci_bus *bus, unsigned dev, unsigned fn,
    unsigned off, unsigned size, uint32_t val);

/* io_fn for the address register (0xcf8, 4 bytes, dword access only). */
void pci_io_addr(void *bus, uint64_t off, uint8_t *data, unsigned size,
    bool is_write);

/* io_fn for the data window (0xcfc - 0xcff). */
void pci_io_data(void *bus, uint64_t off, uint8_t *data, unsigned size,
    bool is_write);

/* Adds the host bridge (8086:1237) at 00:00.0.  Returns 0 or -errno. */
int pci_add_host_bridge(struct pci_bus *bus, struct pci_dev *d);

#endif
