/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for PCI bus 0: configuration reads and writes (ids,
 * absent functions, read-only and write-one-to-clear bits), BAR sizing
 * and decoding with the bar_map callback, the 0xcf8/0xcfc mechanism,
 * slot allocation and the host bridge.
 *
 * Register offsets are written out from the PCI spec here on purpose
 * instead of taken from pci.h, so that a wrong offset cannot hide.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pci.h"

#define CFG_VENDOR	0x00
#define CFG_DEVICE	0x02
#define CFG_COMMAND	0x04
#define CFG_STATUS	0x06
#define CFG_CLASS_REV	0x08
#define CFG_BAR(i)	(0x10 + 4 * (i))
#define CFG_INT_LINE	0x3c

#define CMD_IO		0x0001
#define CMD_MEM		0x0002
#define CMD_MASTER	0x0004
#define CMD_INTX_DIS	0x0400

#define VENDOR		0x1af4
#define DEVICE		0x1042
#define CLASS		0x010802	/* NVMe controller */
#define REVISION	0x01
#define SLOT		3

static struct pci_bus bus;
static struct pci_dev dev;

/* What the device's callbacks saw. */
#define MAX_CALLS	16
struct map_call {
	int bar;
	uint64_t old, addr;
};
static struct map_call maps[MAX_CALLS];
static int nmaps;
static unsigned cfg_writes, last_cfg_off, last_cfg_size;

static void
rec_bar_map(struct pci_dev *d, int bar, uint64_t old, uint64_t addr)
{
	ck_assert_ptr_eq(d, &dev);
	ck_assert_int_lt(nmaps, MAX_CALLS);
	maps[nmaps++] = (struct map_call){ bar, old, addr };
}

static void
rec_cfg_write(struct pci_dev *d, unsigned off, unsigned size)
{
	ck_assert_ptr_eq(d, &dev);
	cfg_writes++;
	last_cfg_off = off;
	last_cfg_size = size;
}

static const struct pci_dev_ops rec_ops = {
	.bar_map = rec_bar_map,
	.cfg_write = rec_cfg_write,
};

static void
setup(void)
{
	pci_bus_init(&bus);
	pci_dev_init(&dev, VENDOR, DEVICE, CLASS, REVISION);
	dev.ops = &rec_ops;
	ck_assert_int_eq(pci_bus_add(&bus, &dev, SLOT), SLOT);
	nmaps = 0;
	cfg_writes = 0;
}

static void
teardown(void)
{
	pci_bus_fini(&bus);
}

static uint32_t
cfg_rd(unsigned off, unsigned size)
{
	return pci_cfg_read(&bus, SLOT, 0, off, size);
}

static void
cfg_wr(unsigned off, unsigned size, uint32_t val)
{
	pci_cfg_write(&bus, SLOT, 0, off, size, val);
}

static void
check_map(int i, int bar, uint64_t old, uint64_t addr)
{
	ck_assert_int_gt(nmaps, i);
	ck_assert_int_eq(maps[i].bar, bar);
	ck_assert_uint_eq(maps[i].old, old);
	ck_assert_uint_eq(maps[i].addr, addr);
}

START_TEST(test_ids)
{
	ck_assert_uint_eq(cfg_rd(CFG_VENDOR, 2), VENDOR);
	ck_assert_uint_eq(cfg_rd(CFG_DEVICE, 2), DEVICE);
	ck_assert_uint_eq(cfg_rd(CFG_VENDOR, 4),
	    (uint32_t)DEVICE << 16 | VENDOR);
	ck_assert_uint_eq(cfg_rd(CFG_VENDOR, 1), VENDOR & 0xff);
	ck_assert_uint_eq(cfg_rd(CFG_VENDOR + 1, 1), VENDOR >> 8);
	ck_assert_uint_eq(cfg_rd(CFG_DEVICE + 1, 1), DEVICE >> 8);
	ck_assert_uint_eq(cfg_rd(CFG_CLASS_REV, 4),
	    (uint32_t)CLASS << 8 | REVISION);
	ck_assert_uint_eq(cfg_rd(0x08, 1), REVISION);
	ck_assert_uint_eq(cfg_rd(0x09, 1), 0x02);	/* prog-if */
	ck_assert_uint_eq(cfg_rd(0x0a, 1), 0x08);	/* subclass */
	ck_assert_uint_eq(cfg_rd(0x0b, 1), 0x01);	/* class */
	ck_assert_uint_eq(cfg_rd(0x0e, 1), 0);	/* type 0 header */
	ck_assert_uint_eq(cfg_rd(CFG_COMMAND, 2), 0);
	ck_assert_int_eq(dev.slot, SLOT);
}
END_TEST

START_TEST(test_absent)
{
	static const unsigned sizes[] = { 1, 2, 4 };
	static const uint32_t ones[] = { 0xff, 0xffff, 0xffffffff };

	for (int i = 0; i < 3; i++) {
		unsigned sz = sizes[i];

		ck_assert_uint_eq(pci_cfg_read(&bus, SLOT + 1, 0, 0, sz),
		    ones[i]);
		ck_assert_uint_eq(pci_cfg_read(&bus, 31, 0, 4, sz), ones[i]);
		ck_assert_uint_eq(pci_cfg_read(&bus, 32, 0, 0, sz), ones[i]);
		for (unsigned fn = 1; fn < 8; fn++)
			ck_assert_uint_eq(pci_cfg_read(&bus, SLOT, fn, 0, sz),
			    ones[i]);
	}
	/* A write to function 1 does not reach function 0. */
	pci_cfg_write(&bus, SLOT, 1, CFG_COMMAND, 2, CMD_MEM | CMD_IO);
	pci_cfg_write(&bus, SLOT, 1, CFG_INT_LINE, 1, 0x0b);
	ck_assert_uint_eq(cfg_rd(CFG_COMMAND, 2), 0);
	ck_assert_uint_eq(cfg_rd(CFG_INT_LINE, 1), 0);
	ck_assert_uint_eq(cfg_writes, 0);
	/* An unaligned or oversized access is refused as all ones. */
	ck_assert_uint_eq(cfg_rd(CFG_VENDOR + 1, 2), 0xffffffff);
	ck_assert_uint_eq(cfg_rd(CFG_VENDOR + 2, 4), 0xffffffff);
	ck_assert_uint_eq(cfg_rd(0x100, 1), 0xffffffff);
}
END_TEST

START_TEST(test_read_only)
{
	cfg_wr(CFG_VENDOR, 4, 0xffffffff);
	cfg_wr(CFG_VENDOR, 2, 0);
	cfg_wr(CFG_DEVICE + 1, 1, 0x55);
	cfg_wr(CFG_CLASS_REV, 4, 0);
	cfg_wr(0x0b, 1, 0xff);
	cfg_wr(0x0e, 1, 0x80);
	ck_assert_uint_eq(cfg_rd(CFG_VENDOR, 4),
	    (uint32_t)DEVICE << 16 | VENDOR);
	ck_assert_uint_eq(cfg_rd(CFG_CLASS_REV, 4),
	    (uint32_t)CLASS << 8 | REVISION);
	ck_assert_uint_eq(cfg_rd(0x0e, 1), 0);
	/* The interrupt line is the guest's scratch byte. */
	cfg_wr(CFG_INT_LINE, 1, 0x0b);
	ck_assert_uint_eq(cfg_rd(CFG_INT_LINE, 1), 0x0b);
	/* cfg_write is told about every write, even ignored ones. */
	ck_assert_uint_eq(cfg_writes, 7);
	ck_assert_uint_eq(last_cfg_off, CFG_INT_LINE);
	ck_assert_uint_eq(last_cfg_size, 1);
}
END_TEST

START_TEST(test_command)
{
	cfg_wr(CFG_COMMAND, 2, 0xffff);
	ck_assert_uint_eq(cfg_rd(CFG_COMMAND, 2),
	    CMD_IO | CMD_MEM | CMD_MASTER | CMD_INTX_DIS);
	cfg_wr(CFG_COMMAND, 2, CMD_MASTER);
	ck_assert_uint_eq(cfg_rd(CFG_COMMAND, 2), CMD_MASTER);
	/* The high byte alone: only INTx disable sticks. */
	cfg_wr(CFG_COMMAND + 1, 1, 0xff);
	ck_assert_uint_eq(cfg_rd(CFG_COMMAND, 2), CMD_MASTER | CMD_INTX_DIS);
	cfg_wr(CFG_COMMAND, 2, 0);
	ck_assert_uint_eq(cfg_rd(CFG_COMMAND, 2), 0);
}
END_TEST

START_TEST(test_status_w1c)
{
	/* The device reports errors and a capability list (read-only). */
	dev.cfg[CFG_STATUS] = 0x10;
	dev.cfg[CFG_STATUS + 1] = 0xf9;
	cfg_wr(CFG_STATUS, 2, 0);
	ck_assert_uint_eq(cfg_rd(CFG_STATUS, 2), 0xf910);
	cfg_wr(CFG_STATUS, 2, 0x0100);
	ck_assert_uint_eq(cfg_rd(CFG_STATUS, 2), 0xf810);
	cfg_wr(CFG_STATUS + 1, 1, 0x80);
	ck_assert_uint_eq(cfg_rd(CFG_STATUS, 2), 0x7810);
	/* A dword write to the command register clears what it says. */
	cfg_wr(CFG_COMMAND, 4, 0x40000000 | CMD_MEM);
	ck_assert_uint_eq(cfg_rd(CFG_COMMAND, 4), 0x38100000 | CMD_MEM);
	cfg_wr(CFG_STATUS, 2, 0xffff);
	ck_assert_uint_eq(cfg_rd(CFG_STATUS, 2), 0x0010);
}
END_TEST

START_TEST(test_bar_io)
{
	ck_assert_int_eq(pci_dev_set_bar(&dev, 0, PCI_BAR_IO, 32), 0);
	ck_assert_uint_eq(cfg_rd(CFG_BAR(0), 4), 0x1);
	cfg_wr(CFG_BAR(0), 4, 0xffffffff);
	ck_assert_uint_eq(cfg_rd(CFG_BAR(0), 4), ~(uint32_t)31 | 0x1);
	cfg_wr(CFG_BAR(0), 4, 0xc040);
	ck_assert_uint_eq(cfg_rd(CFG_BAR(0), 4), 0xc041);
	cfg_wr(CFG_BAR(0), 4, 0xc05f);
	ck_assert_uint_eq(cfg_rd(CFG_BAR(0), 4), 0xc041);
	cfg_wr(CFG_BAR(0), 2, 0xd0ff);
	ck_assert_uint_eq(cfg_rd(CFG_BAR(0), 4), 0xd0e1);
}
END_TEST

START_TEST(test_bar_mem32)
{
	ck_assert_int_eq(pci_dev_set_bar(&dev, 1, PCI_BAR_MEM32, 4096), 0);
	ck_assert_uint_eq(cfg_rd(CFG_BAR(1), 4), 0);
	cfg_wr(CFG_BAR(1), 4, 0xffffffff);
	ck_assert_uint_eq(cfg_rd(CFG_BAR(1), 4), 0xfffff000);
	cfg_wr(CFG_BAR(1), 4, 0xfebf1234);
	ck_assert_uint_eq(cfg_rd(CFG_BAR(1), 4), 0xfebf1000);
	/* Its neighbours are not BARs: they stay zero. */
	cfg_wr(CFG_BAR(0), 4, 0xffffffff);
	cfg_wr(CFG_BAR(2), 4, 0xffffffff);
	ck_assert_uint_eq(cfg_rd(CFG_BAR(0), 4), 0);
	ck_assert_uint_eq(cfg_rd(CFG_BAR(2), 4), 0);
}
END_TEST

START_TEST(test_bar_mem64)
{
	/* 16 KiB: the upper dword is all address. */
	ck_assert_int_eq(pci_dev_set_bar(&dev, 2, PCI_BAR_MEM64, 16384), 0);
	ck_assert_uint_eq(cfg_rd(CFG_BAR(2), 4), 0x4);
	ck_assert_uint_eq(cfg_rd(CFG_BAR(3), 4), 0);
	cfg_wr(CFG_BAR(2), 4, 0xffffffff);
	cfg_wr(CFG_BAR(3), 4, 0xffffffff);
	ck_assert_uint_eq(cfg_rd(CFG_BAR(2), 4), 0xffffc004);
	ck_assert_uint_eq(cfg_rd(CFG_BAR(3), 4), 0xffffffff);
	cfg_wr(CFG_BAR(2), 4, 0xe0002345);
	cfg_wr(CFG_BAR(3), 4, 0x1);
	ck_assert_uint_eq(cfg_rd(CFG_BAR(2), 4), 0xe0000004);
	ck_assert_uint_eq(cfg_rd(CFG_BAR(3), 4), 0x1);

	/* 8 GiB: the size shows in the upper dword. */
	ck_assert_int_eq(pci_dev_set_bar(&dev, 4, PCI_BAR_MEM64, 8ULL << 30),
	    0);
	cfg_wr(CFG_BAR(4), 4, 0xffffffff);
	cfg_wr(CFG_BAR(5), 4, 0xffffffff);
	ck_assert_uint_eq(cfg_rd(CFG_BAR(4), 4), 0x4);
	ck_assert_uint_eq(cfg_rd(CFG_BAR(5), 4), 0xfffffffe);
	cfg_wr(CFG_BAR(5), 4, 0x3);
	ck_assert_uint_eq(cfg_rd(CFG_BAR(5), 4), 0x2);
}
END_TEST

START_TEST(test_bar_map)
{
	ck_assert_int_eq(pci_dev_set_bar(&dev, 0, PCI_BAR_IO, 64), 0);
	ck_assert_int_eq(pci_dev_set_bar(&dev, 1, PCI_BAR_MEM32, 4096), 0);
	ck_assert_int_eq(pci_dev_set_bar(&dev, 2, PCI_BAR_MEM64, 1 << 20), 0);
	for (int i = 0; i < PCI_NUM_BARS; i++)
		ck_assert_uint_eq(dev.bar[i].mapped, PCI_BAR_UNMAPPED);

	/* Addresses without decoding: no call. */
	cfg_wr(CFG_BAR(0), 4, 0xc000);
	cfg_wr(CFG_BAR(1), 4, 0xfebf0000);
	cfg_wr(CFG_BAR(2), 4, 0xe0000000);
	cfg_wr(CFG_BAR(3), 4, 0x2);
	ck_assert_int_eq(nmaps, 0);

	/* Memory decoding maps both memory BARs, not the I/O one. */
	cfg_wr(CFG_COMMAND, 2, CMD_MEM);
	ck_assert_int_eq(nmaps, 2);
	check_map(0, 1, PCI_BAR_UNMAPPED, 0xfebf0000);
	check_map(1, 2, PCI_BAR_UNMAPPED, 0x2e0000000ULL);
	ck_assert_uint_eq(dev.bar[1].mapped, 0xfebf0000);
	ck_assert_uint_eq(dev.bar[3].mapped, PCI_BAR_UNMAPPED);

	/* Moved */
	cfg_wr(CFG_BAR(1), 4, 0xfebe0000);
	ck_assert_int_eq(nmaps, 3);
	check_map(2, 1, 0xfebf0000, 0xfebe0000);
	/* The same address again, or a write elsewhere: no call. */
	cfg_wr(CFG_BAR(1), 4, 0xfebe0fff);
	cfg_wr(CFG_INT_LINE, 1, 5);
	cfg_wr(CFG_COMMAND, 2, CMD_MEM | CMD_MASTER);
	ck_assert_int_eq(nmaps, 3);

	/* I/O decoding */
	cfg_wr(CFG_COMMAND, 2, CMD_MEM | CMD_IO);
	ck_assert_int_eq(nmaps, 4);
	check_map(3, 0, PCI_BAR_UNMAPPED, 0xc000);

	/* Disabled */
	cfg_wr(CFG_COMMAND, 2, CMD_IO);
	ck_assert_int_eq(nmaps, 6);
	check_map(4, 1, 0xfebe0000, PCI_BAR_UNMAPPED);
	check_map(5, 2, 0x2e0000000ULL, PCI_BAR_UNMAPPED);
	cfg_wr(CFG_COMMAND, 2, 0);
	ck_assert_int_eq(nmaps, 7);
	check_map(6, 0, 0xc000, PCI_BAR_UNMAPPED);
	for (int i = 0; i < PCI_NUM_BARS; i++)
		ck_assert_uint_eq(dev.bar[i].mapped, PCI_BAR_UNMAPPED);
}
END_TEST

/* Address zero means unassigned: decoding it maps nothing. */
START_TEST(test_bar_zero)
{
	ck_assert_int_eq(pci_dev_set_bar(&dev, 1, PCI_BAR_MEM32, 4096), 0);
	cfg_wr(CFG_COMMAND, 2, CMD_MEM);
	ck_assert_int_eq(nmaps, 0);
	cfg_wr(CFG_BAR(1), 4, 0x80000000);
	ck_assert_int_eq(nmaps, 1);
	check_map(0, 1, PCI_BAR_UNMAPPED, 0x80000000);
	cfg_wr(CFG_BAR(1), 4, 0);
	ck_assert_int_eq(nmaps, 2);
	check_map(1, 1, 0x80000000, PCI_BAR_UNMAPPED);
}
END_TEST

START_TEST(test_set_bar_invalid)
{
	ck_assert_int_eq(pci_dev_set_bar(&dev, 0, PCI_BAR_MEM32, 0), -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&dev, 0, PCI_BAR_MEM32, 24), -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&dev, 0, PCI_BAR_MEM32, 4097),
	    -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&dev, 0, PCI_BAR_MEM32, 8), -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&dev, 0, PCI_BAR_MEM32, 1ULL << 32),
	    -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&dev, 0, PCI_BAR_IO, 2), -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&dev, 0, PCI_BAR_IO, 0x20000),
	    -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&dev, 0, PCI_BAR_IO, 12), -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&dev, 0, PCI_BAR_MEM64, 8), -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&dev, 0, PCI_BAR_MEM64, 3 << 20),
	    -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&dev, 5, PCI_BAR_MEM64, 4096),
	    -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&dev, 0, PCI_BAR_NONE, 4096), -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&dev, -1, PCI_BAR_MEM32, 4096),
	    -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&dev, 6, PCI_BAR_MEM32, 4096),
	    -EINVAL);
	/* Nothing was declared: the registers are still plain zeros. */
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		cfg_wr(CFG_BAR(i), 4, 0xffffffff);
		ck_assert_uint_eq(cfg_rd(CFG_BAR(i), 4), 0);
		ck_assert_int_eq(dev.bar[i].type, PCI_BAR_NONE);
	}
	/* The limits themselves are fine. */
	ck_assert_int_eq(pci_dev_set_bar(&dev, 0, PCI_BAR_IO, 4), 0);
	ck_assert_int_eq(pci_dev_set_bar(&dev, 1, PCI_BAR_MEM32, 16), 0);
	ck_assert_int_eq(pci_dev_set_bar(&dev, 2, PCI_BAR_MEM32, 1ULL << 31),
	    0);
	ck_assert_int_eq(pci_dev_set_bar(&dev, 4, PCI_BAR_MEM64, 16), 0);
}
END_TEST

/* Accesses through the I/O ports. */
static uint32_t
cf8_rd(unsigned off, unsigned size)
{
	uint8_t b[4] = { 0 };

	pci_io_addr(&bus, off, b, size, false);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	    (uint32_t)b[3] << 24;
}

static void
cf8_wr(unsigned off, unsigned size, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
	    (uint8_t)(v >> 24) };

	pci_io_addr(&bus, off, b, size, true);
}

static uint32_t
cfc_rd(unsigned off, unsigned size)
{
	uint8_t b[4] = { 0 };

	pci_io_data(&bus, off, b, size, false);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	    (uint32_t)b[3] << 24;
}

static void
cfc_wr(unsigned off, unsigned size, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
	    (uint8_t)(v >> 24) };

	pci_io_data(&bus, off, b, size, true);
}

static uint32_t
cf8(unsigned busno, unsigned slot, unsigned fn, unsigned reg)
{
	return 0x80000000u | busno << 16 | slot << 11 | fn << 8 | reg;
}

START_TEST(test_cf8_cfc)
{
	/* The address register keeps the enable, bus, slot, fn, reg bits. */
	cf8_wr(0, 4, 0xffffffff);
	ck_assert_uint_eq(cf8_rd(0, 4), 0x80fffffc);
	cf8_wr(0, 4, cf8(0, SLOT, 0, 0) | 0x3);
	ck_assert_uint_eq(cf8_rd(0, 4), cf8(0, SLOT, 0, 0));

	ck_assert_uint_eq(cfc_rd(0, 4), (uint32_t)DEVICE << 16 | VENDOR);
	ck_assert_uint_eq(cfc_rd(0, 2), VENDOR);
	ck_assert_uint_eq(cfc_rd(2, 2), DEVICE);
	ck_assert_uint_eq(cfc_rd(1, 1), VENDOR >> 8);
	ck_assert_uint_eq(cfc_rd(2, 1), DEVICE & 0xff);
	ck_assert_uint_eq(cfc_rd(3, 1), DEVICE >> 8);

	cf8_wr(0, 4, cf8(0, SLOT, 0, CFG_CLASS_REV));
	ck_assert_uint_eq(cfc_rd(3, 1), 0x01);
	ck_assert_uint_eq(cfc_rd(0, 4), (uint32_t)CLASS << 8 | REVISION);

	/* Writes: the command register through 0xcfc and 0xcfd. */
	cf8_wr(0, 4, cf8(0, SLOT, 0, CFG_COMMAND));
	cfc_wr(0, 2, CMD_MEM | CMD_MASTER);
	ck_assert_uint_eq(cfg_rd(CFG_COMMAND, 2), CMD_MEM | CMD_MASTER);
	cfc_wr(1, 1, CMD_INTX_DIS >> 8);
	ck_assert_uint_eq(cfg_rd(CFG_COMMAND, 2),
	    CMD_MEM | CMD_MASTER | CMD_INTX_DIS);
	/* Status through 0xcfe: write one to clear. */
	dev.cfg[CFG_STATUS + 1] = 0x20;
	cfc_wr(2, 2, 0x2000);
	ck_assert_uint_eq(cfg_rd(CFG_STATUS, 2), 0);

	/* The interrupt line at 0x3c through 0xcfc. */
	cf8_wr(0, 4, cf8(0, SLOT, 0, CFG_INT_LINE));
	cfc_wr(0, 1, 0x0a);
	ck_assert_uint_eq(cfg_rd(CFG_INT_LINE, 1), 0x0a);
	ck_assert_uint_eq(cfc_rd(0, 1), 0x0a);
}
END_TEST

START_TEST(test_cf8_refused)
{
	/* Enable bit clear: all ones, writes dropped. */
	cf8_wr(0, 4, cf8(0, SLOT, 0, CFG_COMMAND) & ~0x80000000u);
	ck_assert_uint_eq(cfc_rd(0, 4), 0xffffffff);
	ck_assert_uint_eq(cfc_rd(2, 2), 0xffff);
	ck_assert_uint_eq(cfc_rd(3, 1), 0xff);
	cfc_wr(0, 2, CMD_MEM);
	ck_assert_uint_eq(cfg_rd(CFG_COMMAND, 2), 0);

	/* Bus 1 has nothing, and slot 3 there is not ours. */
	cf8_wr(0, 4, cf8(1, SLOT, 0, CFG_COMMAND));
	ck_assert_uint_eq(cfc_rd(0, 4), 0xffffffff);
	cfc_wr(0, 2, CMD_MEM);
	ck_assert_uint_eq(cfg_rd(CFG_COMMAND, 2), 0);
	cf8_wr(0, 4, cf8(0xff, SLOT, 0, 0));
	ck_assert_uint_eq(cfc_rd(0, 2), 0xffff);

	/* Function 1 and an empty slot */
	cf8_wr(0, 4, cf8(0, SLOT, 1, 0));
	ck_assert_uint_eq(cfc_rd(0, 4), 0xffffffff);
	cf8_wr(0, 4, cf8(0, SLOT + 1, 0, 0));
	ck_assert_uint_eq(cfc_rd(0, 4), 0xffffffff);
	ck_assert_uint_eq(cfc_rd(0, 1), 0xff);

	/* Byte and word accesses to 0xcf8-0xcfb are not the register. */
	cf8_wr(0, 4, cf8(0, SLOT, 0, 0));
	cf8_wr(0, 1, 0x04);
	cf8_wr(0, 2, 0x0004);
	cf8_wr(1, 1, 0x00);
	cf8_wr(2, 2, 0x0000);
	cf8_wr(3, 1, 0x00);
	ck_assert_uint_eq(cf8_rd(0, 4), cf8(0, SLOT, 0, 0));
	ck_assert_uint_eq(cf8_rd(0, 1), 0xff);
	ck_assert_uint_eq(cf8_rd(0, 2), 0xffff);
	ck_assert_uint_eq(cf8_rd(1, 1), 0xff);
	ck_assert_uint_eq(cf8_rd(2, 2), 0xffff);
	ck_assert_uint_eq(cfc_rd(0, 2), VENDOR);
}
END_TEST

START_TEST(test_bus_add)
{
	struct pci_dev d[PCI_SLOTS + 1];
	struct pci_bus b;

	pci_bus_init(&b);
	for (int i = 0; i <= PCI_SLOTS; i++)
		pci_dev_init(&d[i], 0x1234, (uint16_t)i, 0xff0000, 0);

	ck_assert_int_eq(pci_bus_add(&b, &d[0], -1), 0);
	ck_assert_int_eq(pci_bus_add(&b, &d[1], -1), 1);
	ck_assert_int_eq(pci_bus_add(&b, &d[2], 1), -EBUSY);
	ck_assert_int_eq(d[2].slot, -1);
	ck_assert_int_eq(pci_bus_add(&b, &d[2], 3), 3);
	ck_assert_int_eq(d[2].slot, 3);
	/* The first free slot is the hole at 2. */
	ck_assert_int_eq(pci_bus_add(&b, &d[3], -1), 2);
	ck_assert_int_eq(d[3].slot, 2);
	ck_assert_int_eq(pci_bus_add(&b, &d[4], 31), 31);
	ck_assert_int_eq(pci_bus_add(&b, &d[5], 32), -EINVAL);
	ck_assert_int_eq(pci_bus_add(&b, &d[5], -2), -EINVAL);
	for (int i = 5; i < PCI_SLOTS; i++)
		ck_assert_int_eq(pci_bus_add(&b, &d[i], -1), i - 1);
	ck_assert_int_eq(pci_bus_add(&b, &d[PCI_SLOTS], -1), -ENOSPC);
	ck_assert_int_eq(d[PCI_SLOTS].slot, -1);
	/* Each slot answers with its own device. */
	ck_assert_uint_eq(pci_cfg_read(&b, 3, 0, CFG_DEVICE, 2), 2);
	ck_assert_uint_eq(pci_cfg_read(&b, 2, 0, CFG_DEVICE, 2), 3);
	ck_assert_uint_eq(pci_cfg_read(&b, 31, 0, CFG_DEVICE, 2), 4);
	ck_assert_uint_eq(pci_cfg_read(&b, 30, 0, CFG_DEVICE, 2), 31);
	pci_bus_fini(&b);
}
END_TEST

START_TEST(test_host_bridge)
{
	struct pci_dev hb, other;
	struct pci_bus b;

	pci_bus_init(&b);
	ck_assert_int_eq(pci_add_host_bridge(&b, &hb), 0);
	ck_assert_int_eq(hb.slot, 0);
	ck_assert_uint_eq(pci_cfg_read(&b, 0, 0, CFG_VENDOR, 2), 0x8086);
	ck_assert_uint_eq(pci_cfg_read(&b, 0, 0, CFG_DEVICE, 2), 0x1237);
	ck_assert_uint_eq(pci_cfg_read(&b, 0, 0, CFG_CLASS_REV, 4) >> 8,
	    0x060000);
	ck_assert_uint_eq(pci_cfg_read(&b, 0, 0, CFG_COMMAND, 2),
	    CMD_MEM | CMD_MASTER);
	pci_cfg_write(&b, 0, 0, CFG_COMMAND, 2, 0);
	ck_assert_uint_eq(pci_cfg_read(&b, 0, 0, CFG_COMMAND, 2),
	    CMD_MEM | CMD_MASTER);
	pci_cfg_write(&b, 0, 0, CFG_COMMAND, 2, 0xffff);
	ck_assert_uint_eq(pci_cfg_read(&b, 0, 0, CFG_COMMAND, 2),
	    CMD_MEM | CMD_MASTER);
	pci_cfg_write(&b, 0, 0, CFG_INT_LINE, 1, 0x0b);
	ck_assert_uint_eq(pci_cfg_read(&b, 0, 0, CFG_INT_LINE, 1), 0);
	/* Slot 0 is taken now. */
	ck_assert_int_eq(pci_add_host_bridge(&b, &other), -EBUSY);
	ck_assert_ptr_eq(b.dev[0], &hb);
	pci_bus_fini(&b);
}
END_TEST

static Suite *
pci_suite(void)
{
	Suite *s = suite_create("pci");
	TCase *tc = tcase_create("config");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ids);
	tcase_add_test(tc, test_absent);
	tcase_add_test(tc, test_read_only);
	tcase_add_test(tc, test_command);
	tcase_add_test(tc, test_status_w1c);
	tcase_add_test(tc, test_bar_io);
	tcase_add_test(tc, test_bar_mem32);
	tcase_add_test(tc, test_bar_mem64);
	tcase_add_test(tc, test_bar_map);
	tcase_add_test(tc, test_bar_zero);
	tcase_add_test(tc, test_set_bar_invalid);
	tcase_add_test(tc, test_cf8_cfc);
	tcase_add_test(tc, test_cf8_refused);
	tcase_add_test(tc, test_bus_add);
	tcase_add_test(tc, test_host_bridge);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(pci_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
