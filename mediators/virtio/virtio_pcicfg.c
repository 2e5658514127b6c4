/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The PCI configuration space of a virtio 1.x modern device, built once
 * and served by the VM process from the image (the mediator never sees
 * configuration cycles).  Capability list, in this order:
 *
 *   0x40 MSI-X: num_queues + 1 vectors, table BAR2 + 0, PBA BAR2 + 0x800
 *   0x4c virtio common configuration  BAR0 + 0x0000, 0x38 bytes
 *   0x5c virtio notifications         BAR0 + 0x3000, 4 bytes per queue
 *   0x70 virtio ISR status            BAR0 + 0x1000, 1 byte
 *   0x80 virtio device configuration  BAR0 + 0x2000 (if config_len > 0)
 *
 * XXX the spec also asks for a VIRTIO_PCI_CAP_PCI_CFG window (BAR
 * access through configuration cycles).  Serving it needs the VM
 * process to forward reads of the window to the mediator, which its
 * PCI code cannot do yet; a window that reads zeros would be worse
 * than none, so it is left out.  Linux does not use it.
 */
#include <errno.h>
#include <string.h>

#include "virtio_pci.h"

#define CAP_ID_VNDR	0x09
#define CAP_ID_MSIX	0x11
#define CAP_VIRTIO_LEN	16	/* struct virtio_pci_cap */
#define CAP_NOTIFY_LEN	20	/* + notify_off_multiplier */
#define CAP_MSIX_LEN	12

#define CFG_COMMAND	0x04
#define CFG_STATUS	0x06
#define CFG_BAR0	0x10
#define CFG_SUBSYS	0x2c
#define CFG_CAP_PTR	0x34
#define CFG_INT_LINE	0x3c
#define CFG_INT_PIN	0x3d

#define STATUS_CAP_LIST	0x0010
#define CMD_MEM		0x0002
#define CMD_MASTER	0x0004
#define CMD_INTX_DIS	0x0400

_Static_assert(VIRTIO_CAP_COMMON == VIRTIO_CAP_MSIX + CAP_MSIX_LEN, "");
_Static_assert(VIRTIO_CAP_NOTIFY == VIRTIO_CAP_COMMON + CAP_VIRTIO_LEN, "");
_Static_assert(VIRTIO_CAP_ISR >= VIRTIO_CAP_NOTIFY + CAP_NOTIFY_LEN, "");
_Static_assert(VIRTIO_CAP_DEVCFG == VIRTIO_CAP_ISR + CAP_VIRTIO_LEN, "");

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

/* One virtio structure capability at off; returns the next pointer's slot. */
static uint8_t *
virtio_cap(uint8_t *cfg, uint8_t off, uint8_t len, uint8_t type,
    uint32_t bar_off, uint32_t length)
{
	uint8_t *c = cfg + off;

	c[0] = CAP_ID_VNDR;
	c[1] = 0;		/* next: filled by the following capability */
	c[2] = len;
	c[3] = type;		/* cfg_type */
	c[4] = 0;		/* bar: everything virtio is in BAR0 */
	put32(c + 8, bar_off);
	put32(c + 12, length);
	return c + 1;
}

/* A memory BAR: type bits in the image, size bits in the write mask. */
static void
mem_bar(struct virtio_pci_config *out, int i, uint64_t size, bool mem64)
{
	uint64_t wm = ~(size - 1) & ~0xfull;

	put32(out->cfg + CFG_BAR0 + 4 * i, mem64 ? 0x4 : 0x0);
	put32(out->wmask + CFG_BAR0 + 4 * i, (uint32_t)wm);
	if (mem64)
		put32(out->wmask + CFG_BAR0 + 4 * i + 4, (uint32_t)(wm >> 32));
	out->bar[i].size = size;
	out->bar[i].mem64 = mem64;
}

int
virtio_pci_config_template(const struct virtio_dev_ops *ops,
    uint32_t class_code, uint16_t subsys_vendor, uint16_t subsys_id,
    struct virtio_pci_config *out)
{
	uint16_t nvec = (uint16_t)(ops->num_queues + 1);
	uint8_t *cfg = out->cfg, *msix = cfg + VIRTIO_CAP_MSIX, *next;

	if (ops->num_queues < 1 || ops->num_queues > VIRTIO_MAX_QUEUES ||
	    ops->config_len > VIRTIO_CFG_MAX || class_code > 0xffffff)
		return -EINVAL;
	memset(out, 0, sizeof(*out));

	put16(cfg + 0x00, VIRTIO_PCI_VENDOR);
	put16(cfg + 0x02, (uint16_t)(VIRTIO_PCI_DEVICE_BASE + ops->device_id));
	put32(cfg + 0x08, class_code << 8 | VIRTIO_PCI_REVISION);
	put16(cfg + CFG_STATUS, STATUS_CAP_LIST);
	put16(cfg + CFG_SUBSYS, subsys_vendor);
	put16(cfg + CFG_SUBSYS + 2, subsys_id);
	cfg[CFG_CAP_PTR] = VIRTIO_CAP_MSIX;
	cfg[CFG_INT_PIN] = 1;	/* INTA#, for drivers without MSI-X */
	put16(out->wmask + CFG_COMMAND, CMD_MEM | CMD_MASTER | CMD_INTX_DIS);
	out->wmask[CFG_INT_LINE] = 0xff;

	mem_bar(out, 0, VIRTIO_BAR0_SIZE, true);
	mem_bar(out, 2, VIRTIO_BAR2_SIZE, false);

	/* MSI-X: Table Size is N - 1; enable and function mask writable. */
	msix[0] = CAP_ID_MSIX;
	msix[1] = VIRTIO_CAP_COMMON;
	put16(msix + 2, (uint16_t)(nvec - 1));
	put32(msix + 4, VIRTIO_MSIX_TABLE_OFF | 2);
	put32(msix + 8, VIRTIO_MSIX_PBA_OFF | 2);
	put16(out->wmask + VIRTIO_CAP_MSIX + 2,
	    VIRTIO_MSIX_ENABLE | VIRTIO_MSIX_FMASK);
	out->msix_cap = VIRTIO_CAP_MSIX;

	next = virtio_cap(cfg, VIRTIO_CAP_COMMON, CAP_VIRTIO_LEN, 1,
	    VIRTIO_COMMON_OFF, VIRTIO_COMMON_LEN);
	*next = VIRTIO_CAP_NOTIFY;
	/* Queue i is at notify_off i times the multiplier, 2 bytes wide. */
	next = virtio_cap(cfg, VIRTIO_CAP_NOTIFY, CAP_NOTIFY_LEN, 2,
	    VIRTIO_NOTIFY_OFF, (uint32_t)VIRTIO_NOTIFY_MULT * ops->num_queues);
	put32(cfg + VIRTIO_CAP_NOTIFY + 16, VIRTIO_NOTIFY_MULT);
	*next = VIRTIO_CAP_ISR;
	next = virtio_cap(cfg, VIRTIO_CAP_ISR, CAP_VIRTIO_LEN, 3,
	    VIRTIO_ISR_OFF, 1);
	if (ops->config_len > 0) {
		*next = VIRTIO_CAP_DEVCFG;
		virtio_cap(cfg, VIRTIO_CAP_DEVCFG, CAP_VIRTIO_LEN, 4,
		    VIRTIO_DEVCFG_OFF, ops->config_len);
	}
	return 0;
}
