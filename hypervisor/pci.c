/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <string.h>

#include "pci.h"

#define CF8_ENABLE	0x80000000u

void
pci_bus_init(struct pci_bus *bus)
{
	memset(bus, 0, sizeof(*bus));
	pthread_mutex_init(&bus->lock, NULL);
}

void
pci_bus_fini(struct pci_bus *bus)
{
	pthread_mutex_destroy(&bus->lock);
}

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

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

void
pci_dev_init(struct pci_dev *d, uint16_t vendor, uint16_t device,
    uint32_t class_code, uint8_t revision)
{
	memset(d, 0, sizeof(*d));
	put16(d->cfg + PCI_VENDOR_ID, vendor);
	put16(d->cfg + PCI_DEVICE_ID, device);
	put32(d->cfg + PCI_CLASS_REVISION, class_code << 8 | revision);
	put16(d->wmask + PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
	    PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
	/* Status: the error bits are write-one-to-clear. */
	put16(d->w1c + PCI_STATUS, 0xf900);
	d->wmask[PCI_INTERRUPT_LINE] = 0xff;
	for (int i = 0; i < PCI_NUM_BARS; i++)
		d->bar[i].mapped = PCI_BAR_UNMAPPED;
	d->slot = -1;
}

int
pci_dev_set_bar(struct pci_dev *d, int bar, enum pci_bar_type type,
    uint64_t size)
{
	uint8_t *reg, *mask;
	uint64_t wm;

	if (bar < 0 || bar >= PCI_NUM_BARS || size == 0 ||
	    (size & (size - 1)) != 0)
		return -EINVAL;
	reg = d->cfg + PCI_BAR0 + 4 * bar;
	mask = d->wmask + PCI_BAR0 + 4 * bar;
	switch (type) {
	case PCI_BAR_IO:
		if (size < 4 || size > 0x10000)
			return -EINVAL;
		put32(reg, 0x1);
		put32(mask, (uint32_t)~(size - 1) & 0xfffffffc);
		break;
	case PCI_BAR_MEM32:
		if (size < 16 || size > 0x80000000ULL)
			return -EINVAL;
		put32(reg, 0x0);
		put32(mask, (uint32_t)~(size - 1) & 0xfffffff0);
		break;
	case PCI_BAR_MEM64:
		if (size < 16 || bar == PCI_NUM_BARS - 1)
			return -EINVAL;
		wm = ~(size - 1) & ~0xfULL;
		put32(reg, 0x4);
		put32(reg + 4, 0);
		put32(mask, (uint32_t)wm);
		put32(mask + 4, (uint32_t)(wm >> 32));
		d->bar[bar + 1].type = PCI_BAR_NONE;
		break;
	default:
		return -EINVAL;
	}
	d->bar[bar].type = type;
	d->bar[bar].size = size;
	return 0;
}

int
pci_bus_add(struct pci_bus *bus, struct pci_dev *d, int slot)
{
	int ret;

	if (slot < -1 || slot >= PCI_SLOTS)
		return -EINVAL;
	pthread_mutex_lock(&bus->lock);
	if (slot == -1) {
		for (slot = 0; slot < PCI_SLOTS && bus->dev[slot]; slot++)
			;
		if (slot == PCI_SLOTS) {
			ret = -ENOSPC;
			goto out;
		}
	} else if (bus->dev[slot] != NULL) {
		ret = -EBUSY;
		goto out;
	}
	bus->dev[slot] = d;
	d->slot = slot;
	ret = slot;
out:
	pthread_mutex_unlock(&bus->lock);
	return ret;
}

/* The address BAR i decodes at now, or PCI_BAR_UNMAPPED. */
static uint64_t
pci_bar_decoded(const struct pci_dev *d, int i)
{
	const struct pci_bar *b = &d->bar[i];
	uint16_t cmd = (uint16_t)(d->cfg[PCI_COMMAND] |
	    d->cfg[PCI_COMMAND + 1] << 8);
	uint64_t addr = get32(d->cfg + PCI_BAR0 + 4 * i);

	switch (b->type) {
	case PCI_BAR_IO:
		if (!(cmd & PCI_COMMAND_IO))
			return PCI_BAR_UNMAPPED;
		addr &= ~(uint64_t)3;
		break;
	case PCI_BAR_MEM32:
		if (!(cmd & PCI_COMMAND_MEMORY))
			return PCI_BAR_UNMAPPED;
		addr &= ~(uint64_t)0xf;
		break;
	case PCI_BAR_MEM64:
		if (!(cmd & PCI_COMMAND_MEMORY))
			return PCI_BAR_UNMAPPED;
		addr = (addr & ~(uint64_t)0xf) |
		    (uint64_t)get32(d->cfg + PCI_BAR0 + 4 * i + 4) << 32;
		break;
	default:
		return PCI_BAR_UNMAPPED;
	}
	/* Zero is "not assigned"; a wrapping range cannot decode. */
	if (addr == 0 || addr + b->size < addr)
		return PCI_BAR_UNMAPPED;
	return addr;
}

/* Tells the device about every BAR whose decoding changed. */
static void
pci_update_bars(struct pci_dev *d)
{
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		uint64_t now = pci_bar_decoded(d, i);

		if (now == d->bar[i].mapped)
			continue;
		uint64_t old = d->bar[i].mapped;

		d->bar[i].mapped = now;
		if (d->ops != NULL && d->ops->bar_map != NULL)
			d->ops->bar_map(d, i, old, now);
	}
}

static struct pci_dev *
pci_lookup(struct pci_bus *bus, unsigned dev, unsigned fn)
{
	if (dev >= PCI_SLOTS || fn != 0)
		return NULL;
	return bus->dev[dev];
}

/* Accesses the device serves itself (pci_dev_ops.cfg_access). */
static bool
pci_forwarded(const struct pci_dev *d, unsigned off)
{
	return d->fwd_start != 0 && off >= d->fwd_start && d->ops != NULL &&
	    d->ops->cfg_access != NULL;
}

static bool
pci_access_ok(unsigned off, unsigned size)
{
	return (size == 1 || size == 2 || size == 4) && off < PCI_CFG_SIZE &&
	    (off & (size - 1)) == 0;
}

uint32_t
pci_cfg_read(struct pci_bus *bus, unsigned dev, unsigned fn, unsigned off,
    unsigned size)
{
	struct pci_dev *d;
	uint32_t v = 0;

	if (!pci_access_ok(off, size))
		return 0xffffffffu;
	pthread_mutex_lock(&bus->lock);
	d = pci_lookup(bus, dev, fn);
	if (d != NULL && pci_forwarded(d, off)) {
		pthread_mutex_unlock(&bus->lock);
		v = 0xffffffffu >> (32 - 8 * size);
		d->ops->cfg_access(d, off, size, false, &v);
		return v;
	}
	if (d == NULL)
		v = 0xffffffffu >> (32 - 8 * size);
	else
		for (unsigned i = 0; i < size; i++)
			v |= (uint32_t)d->cfg[off + i] << (8 * i);
	pthread_mutex_unlock(&bus->lock);
	return v;
}

void
pci_cfg_write(struct pci_bus *bus, unsigned dev, unsigned fn, unsigned off,
    unsigned size, uint32_t val)
{
	struct pci_dev *d;

	if (!pci_access_ok(off, size))
		return;
	pthread_mutex_lock(&bus->lock);
	d = pci_lookup(bus, dev, fn);
	if (d == NULL)
		goto out;
	if (pci_forwarded(d, off)) {
		pthread_mutex_unlock(&bus->lock);
		d->ops->cfg_access(d, off, size, true, &val);
		return;
	}
	for (unsigned i = 0; i < size; i++) {
		uint8_t b = (uint8_t)(val >> (8 * i));
		uint8_t *c = &d->cfg[off + i];

		*c = (uint8_t)((*c & ~d->wmask[off + i]) |
		    (b & d->wmask[off + i]));
		*c &= (uint8_t)~(b & d->w1c[off + i]);
	}
	if ((off < PCI_BAR0 + 4 * PCI_NUM_BARS && off + size > PCI_BAR0) ||
	    (off <= PCI_COMMAND && off + size > PCI_COMMAND))
		pci_update_bars(d);
	if (d->ops != NULL && d->ops->cfg_write != NULL)
		d->ops->cfg_write(d, off, size);
out:
	pthread_mutex_unlock(&bus->lock);
}

void
pci_io_addr(void *opaque, uint64_t off, uint8_t *data, unsigned size,
    bool is_write)
{
	struct pci_bus *bus = opaque;

	/* Only dword accesses reach the register (byte ones are others'). */
	if (off != 0 || size != 4) {
		if (!is_write)
			memset(data, 0xff, size);
		return;
	}
	pthread_mutex_lock(&bus->lock);
	if (is_write)
		bus->addr = get32(data) & 0x80fffffcu;
	else
		put32(data, bus->addr);
	pthread_mutex_unlock(&bus->lock);
}

void
pci_io_data(void *opaque, uint64_t off, uint8_t *data, unsigned size,
    bool is_write)
{
	struct pci_bus *bus = opaque;
	uint32_t a, v = 0;
	unsigned busno, dev, fn, reg;

	pthread_mutex_lock(&bus->lock);
	a = bus->addr;
	pthread_mutex_unlock(&bus->lock);
	busno = (a >> 16) & 0xff;
	dev = (a >> 11) & 0x1f;
	fn = (a >> 8) & 0x7;
	reg = (a & 0xfc) + (unsigned)off;
	if (!(a & CF8_ENABLE) || busno != 0 || !pci_access_ok(reg, size)) {
		if (!is_write)
			memset(data, 0xff, size);
		return;
	}
	if (is_write) {
		for (unsigned i = 0; i < size; i++)
			v |= (uint32_t)data[i] << (8 * i);
		pci_cfg_write(bus, dev, fn, reg, size, v);
	} else {
		v = pci_cfg_read(bus, dev, fn, reg, size);
		for (unsigned i = 0; i < size; i++)
			data[i] = (uint8_t)(v >> (8 * i));
	}
}

int
pci_add_host_bridge(struct pci_bus *bus, struct pci_dev *d)
{
	int ret;

	/* An i440FX-compatible id: every guest knows it needs no driver. */
	pci_dev_init(d, 0x8086, 0x1237, 0x060000, 0x02);
	/* A host bridge decodes memory and masters; those bits are fixed. */
	put16(d->cfg + PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	put16(d->wmask + PCI_COMMAND, 0);
	d->wmask[PCI_INTERRUPT_LINE] = 0;
	ret = pci_bus_add(bus, d, 0);
	return ret < 0 ? ret : 0;
}
