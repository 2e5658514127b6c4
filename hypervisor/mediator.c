/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/if.h>
#include <linux/if_tun.h>

#include "ctl.h"
#include "layout.h"
#include "log.h"
#include "mediator_int.h"
#include "virtio_pci.h"
#include "vm.h"


/* Per-type preparation: the backend fd and the mediator's arguments. */
struct med_type {
	const char *type;
	const char *exe;
	int (*prepare)(struct mediator *m, char args[][96], int *nargs);
};

/*
 * The disk image is opened here, not in the mediator, which opens no
 * files at all.  An OFD lock over exactly the device's byte range keeps
 * a second cupule from writing the same sectors (read lock when
 * read-only), while VMs sharing disjoint ranges do not conflict.
 */
static int
blk_prepare(struct mediator *m, char args[][96], int *nargs)
{
	const struct device_cfg *c = m->cfg;
	struct flock fl = {
		.l_type = c->readonly ? F_RDLCK : F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = (off_t)(c->range_start * 512),
		.l_len = (off_t)(c->range_sectors * 512),
	};
	int fd = open(c->image, (c->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);

	if (fd < 0) {
		log_warn("%s: image '%s'", m->name, c->image);
		return -errno;
	}
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
		int e = errno;

		if (c->range_sectors == 0)	/* the whole image, l_len 0 */
			log_warnx("%s: image '%s' is in use by another cupule",
			    m->name, c->image);
		else
			log_warnx("%s: image '%s' sectors %llu+%llu are in use "
			    "by another cupule", m->name, c->image,
			    (unsigned long long)c->range_start,
			    (unsigned long long)c->range_sectors);
		close(fd);
		return -e;
	}
	m->backend_fd = fd;
	snprintf(args[(*nargs)++], 96, "--disk-fd=%d", MED_BACKEND_FD);
	snprintf(args[(*nargs)++], 96, "--start=%llu",
	    (unsigned long long)c->range_start);
	snprintf(args[(*nargs)++], 96, "--sectors=%llu",
	    (unsigned long long)c->range_sectors);
	snprintf(args[(*nargs)++], 96, "--serial=%s", c->serial);
	if (c->readonly)
		snprintf(args[(*nargs)++], 96, "--readonly");
	return 0;
}

/*
 * A tap is opened here, with virtio-net headers on every frame, so the
 * mediator needs no network privilege and no host network namespace.
 * The interface may exist already (made by the administrator, perhaps
 * in a bridge); otherwise this makes it, and it lasts as long as the VM
 * process.  Offloads are left to the mediator (TUNSETOFFLOAD on the fd
 * it holds), which knows what the guest accepted.
 */
static int
tap_open(const struct mediator *m, const char *name)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	int hdr = 12;	/* struct virtio_net_hdr_v1 */

	if (fd < 0) {
		log_warn("%s: /dev/net/tun", m->name);
		return -errno;
	}
	/* The scenario checked it: at most IFNAMSIZ - 1 characters. */
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%.*s", IFNAMSIZ - 1,
	    name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 ||
	    ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		int e = errno;

		log_warn("%s: tap '%s'", m->name, name);
		close(fd);
		return -e;
	}
	return fd;
}

static int
net_prepare(struct mediator *m, char args[][96], int *nargs)
{
	const struct device_cfg *c = m->cfg;
	int fd;

	if (c->backend == NET_BACKEND_TAP)
		fd = tap_open(m, c->backend_name);
	else if (c->port_fd < 0) {
		log_warnx("%s: no port on switch '%s'", m->name,
		    c->backend_name);
		return -ENOTCONN;
	} else if ((fd = fcntl(c->port_fd, F_DUPFD_CLOEXEC, 0)) < 0)
		fd = -errno;
	if (fd < 0)
		return fd;
	m->backend_fd = fd;
	snprintf(args[(*nargs)++], 96, "--backend-fd=%d", MED_BACKEND_FD);
	snprintf(args[(*nargs)++], 96, "--backend=%s",
	    c->backend == NET_BACKEND_TAP ? "tap" : "switch");
	snprintf(args[(*nargs)++], 96, "--mac=%02x:%02x:%02x:%02x:%02x:%02x",
	    c->mac[0], c->mac[1], c->mac[2], c->mac[3], c->mac[4], c->mac[5]);
	return 0;
}

static const struct med_type med_types[] = {
	{ "blk", "cupule-blk", blk_prepare },
	{ "net", "cupule-net", net_prepare },
};

static const struct med_type *
med_type_find(const char *type)
{
	for (size_t i = 0; i < sizeof(med_types) / sizeof(med_types[0]); i++)
		if (strcmp(med_types[i].type, type) == 0)
			return &med_types[i];
	return NULL;
}

static char med_dir[PATH_MAX];

void
mediator_set_dir(const char *dir)
{
	snprintf(med_dir, sizeof(med_dir), "%s", dir ? dir : "");
}

/* Mediator binaries live beside the cupule binary. */
int
mediator_exe_path(const char *exe, char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n;

	if (med_dir[0] != '\0') {
		if ((size_t)snprintf(buf, len, "%s/%s", med_dir, exe) >= len)
			return -ENAMETOOLONG;
		return 0;
	}
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) < 0)
		return -errno;
	self[n] = '\0';
	if ((size_t)snprintf(buf, len, "%s/%s", dirname(self), exe) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * The device is down: the VM process answers what it can without the
 * mediator.  Configuration space from the function's template; BAR0 of
 * a virtio device from the shared state, whose status now carries
 * DEVICE_NEEDS_RESET; all ones for anything else.  Writes go nowhere:
 * the driver must reset the device once it is back.
 */
static uint64_t
med_local(struct mediator *m, uint8_t type, uint8_t index, uint64_t addr,
    unsigned size, bool is_write)
{
	uint64_t v = 0, ones = size == 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
	struct virtio_state *s = m->vstate;
	struct virtio_dev_ops ops = { .name = "down" };
	struct virtio_dev d = { .ops = &ops, .fire = med_fire,
	    .fire_opaque = m };
	int slot = vm_current_vcpu();

	if (is_write)
		return 0;
	if (type == IOREQ_PCI_CFG) {
		if (addr + size > sizeof(m->template))
			return ones;
		memcpy(&v, m->template + addr, size);
		return v;
	}
	if (s == NULL || index != 0 || slot < 0)
		return ones;
	/* The header is the mediator's: bound it before use. */
	ops.device_id = s->device_id;
	ops.num_queues = s->num_queues;
	ops.max_queue_size = s->max_queue_size;
	ops.config_len = s->config_len;
	if (ops.num_queues == 0 || ops.num_queues > VIRTIO_MAX_QUEUES ||
	    ops.config_len > VIRTIO_CFG_MAX)
		return ones;
	if (virtio_pci_read(s, &d, addr, size, (unsigned)slot, 0, &v) < 0)
		return ones;
	return v;
}

/*
 * Sends one access down the ring from this vCPU's slot and waits for the
 * answer.  No vCPU waits on a dead mediator longer than the supervisor's
 * stall_ms: past it the device is down and the request is answered here.
 */
static uint64_t
med_forward(struct mediator *m, uint8_t type, uint8_t index, uint64_t addr,
    unsigned size, bool is_write, uint64_t data)
{
	struct ioreq r = {
		.type = type, .size = (uint8_t)size, .index = index,
		.dir = is_write ? IOREQ_WRITE : IOREQ_READ, .addr = addr,
		.data = data,
	};
	int slot = vm_current_vcpu(), ret;
	uint64_t val = ~0ULL;

	if (slot < 0)
		return val;
	if (__atomic_load_n(&m->down, __ATOMIC_SEQ_CST))
		return med_local(m, type, index, addr, size, is_write);
	ret = ioreq_submit(&m->ring, (unsigned)slot, &r);
	if (ret < 0) {
		log_warnx("%s: ioreq_submit: %s", m->name, strerror(-ret));
		return val;
	}
	/*
	 * Went down between our look and the submit: the supervisor may
	 * have abandoned every slot before ours was PENDING.  Whoever of us
	 * moves the slot first answers it; the other finds nothing to do.
	 */
	if (__atomic_load_n(&m->down, __ATOMIC_SEQ_CST))
		ioreq_abandon(&m->ring, (unsigned)slot);
	do {
		ret = ioreq_wait_complete(&m->ring, (unsigned)slot, m->spin_ns,
		    &val);
	} while (ret == -EINTR && vm_running(m->vm));
	if (ret == -ECANCELED)
		return med_local(m, type, index, addr, size, is_write);
	return ret == 0 ? val : ~0ULL;
}

static void
med_bar_io(void *opaque, uint64_t off, uint8_t *data, unsigned size,
    bool is_write)
{
	struct med_bar *b = opaque;
	uint64_t v = 0;

	memcpy(&v, data, size);
	v = med_forward(b->m, b->m->pdev.bar[b->index].type == PCI_BAR_IO ?
	    IOREQ_PIO : IOREQ_MMIO, (uint8_t)b->index, off, size, is_write, v);
	if (!is_write)
		memcpy(data, &v, size);
}

void
med_fire(void *opaque, uint16_t v)
{
	struct mediator *m = opaque;
	uint64_t one = 1;

	for (int i = 0; i < m->nirq; i++)
		if (m->irq[i].kind == CTL_IRQ_MSIX && m->irq[i].vector == v) {
			if (write(m->irq[i].fd, &one, sizeof(one)) < 0)
				log_warn("%s: irqfd", m->name);
			return;
		}
}

/* The guest reprogrammed vector v: move its MSI route (virtio_fire_fn). */
static void
med_route(void *opaque, uint16_t v)
{
	struct mediator *m = opaque;
	const struct virtio_msix_entry *e;

	if (v >= VIRTIO_MSIX_MAX)
		return;
	e = &m->vstate->msix[v];
	for (int i = 0; i < m->nirq; i++)
		if (m->irq[i].kind == CTL_IRQ_MSIX && m->irq[i].vector == v)
			irq_msi_set(&m->vm->irq, (unsigned)m->irq[i].gsi,
			    (uint64_t)e->addr_hi << 32 | e->addr_lo, e->data);
}

/* The MSI-X table and PBA: ours, so routes follow the guest at once. */
static void
med_msix_io(void *opaque, uint64_t off, uint8_t *data, unsigned size,
    bool is_write)
{
	struct med_bar *b = opaque;
	struct mediator *m = b->m;
	uint64_t v = 0;

	if (is_write) {
		memcpy(&v, data, size);
		virtio_msix_write(m->vstate, off, size, v, med_route, med_fire,
		    m);
	} else {
		virtio_msix_read(m->vstate, off, size, &v);
		memcpy(data, &v, size);
	}
}

/* After a configuration write: the MSI-X Message Control word. */
static void
med_cfg_write(struct pci_dev *d, unsigned off, unsigned size)
{
	struct mediator *m = d->opaque;
	unsigned ctl = (unsigned)m->msix_cap + 2;

	if (m->vstate == NULL || m->msix_bar == CTL_NO_MSIX ||
	    off + size <= ctl || off >= ctl + 2)
		return;
	virtio_msix_control(m->vstate, (uint16_t)(d->cfg[ctl] |
	    d->cfg[ctl + 1] << 8), med_fire, m);
}

static void
med_cfg_access(struct pci_dev *d, unsigned off, unsigned size, bool is_write,
    uint32_t *val)
{
	struct mediator *m = d->opaque;
	uint64_t v = med_forward(m, IOREQ_PCI_CFG, 0, off, size, is_write,
	    *val);

	if (!is_write)
		*val = (uint32_t)v;
}

static int
ioevent_assign(struct mediator *m, struct med_ioevent *e, uint64_t base,
    bool assign)
{
	bool pio = m->pdev.bar[e->index].type == PCI_BAR_IO;
	struct kvm_ioeventfd k = {
		.addr = assign ? base + e->offset : e->assigned,
		.len = e->size, .fd = e->fd, .datamatch = e->datamatch,
		.flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
		    ((e->flags & CTL_IOEVENTFD_DATAMATCH) ?
		    KVM_IOEVENTFD_FLAG_DATAMATCH : 0) |
		    (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};

	if (!assign && e->assigned == 0)
		return 0;
	if (ioctl(m->vm->vm_fd, KVM_IOEVENTFD, &k) < 0) {
		log_warn("%s: KVM_IOEVENTFD at 0x%llx", m->name,
		    (unsigned long long)k.addr);
		return -errno;
	}
	e->assigned = assign ? k.addr : 0;
	return 0;
}

/* The guest moved a BAR: follow it on the bus and with the ioeventfds. */
static void
med_bar_map(struct pci_dev *d, int bar, uint64_t old, uint64_t addr)
{
	struct mediator *m = d->opaque;
	struct io_bus *bus = d->bar[bar].type == PCI_BAR_IO ? &m->vm->pio :
	    &m->vm->mmio;

	(void)old;
	for (int i = 0; i < m->nioevent; i++)
		if (m->ioevent[i].index == (uint32_t)bar)
			ioevent_assign(m, &m->ioevent[i], 0, false);
	if (m->bar[bar].addr != PCI_BAR_UNMAPPED)
		io_unregister(bus, m->bar[bar].addr);
	m->bar[bar].addr = PCI_BAR_UNMAPPED;
	if (addr == PCI_BAR_UNMAPPED)
		return;
	if (io_register(bus, addr, d->bar[bar].size, bar == m->msix_bar ?
	    med_msix_io : med_bar_io, &m->bar[bar]) < 0) {
		log_warnx("%s: BAR%d at 0x%llx overlaps another range", m->name,
		    bar, (unsigned long long)addr);
		return;
	}
	m->bar[bar].addr = addr;
	for (int i = 0; i < m->nioevent; i++)
		if (m->ioevent[i].index == (uint32_t)bar)
			ioevent_assign(m, &m->ioevent[i], addr, true);
}

static const struct pci_dev_ops med_pci_ops = {
	.bar_map = med_bar_map,
	.cfg_write = med_cfg_write,
	.cfg_access = med_cfg_access,
};

/* Maps the device-state area when the VM process serves part of it. */
static int
med_map_state(struct mediator *m, const struct ctl_device *dev)
{
	void *p;

	m->msix_bar = dev->msix_bar;
	m->msix_cap = dev->msix_cap;
	if (dev->layout != CTL_LAYOUT_VIRTIO)
		return 0;
	p = mmap(NULL, MED_STATE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
	    m->state_fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	m->vstate = p;
	/* The mediator initialised it before describing the device. */
	if (m->vstate->magic != VIRTIO_STATE_MAGIC ||
	    m->vstate->size != sizeof(struct virtio_state))
		return -EPROTO;
	return 0;
}

/* CTL_DEVICE: the mediator describes its PCI function. */
static int
med_on_device(struct mediator *m, const struct ctl_device *dev)
{
	uint8_t intx_pin;
	int ret, slot;

	if ((ret = med_map_state(m, dev)) < 0)
		return ret;
	memcpy(m->template, dev->config, sizeof(m->template));
	pci_dev_init(&m->pdev, 0, 0, 0, 0);
	memcpy(m->pdev.cfg, dev->config, PCI_CFG_SIZE);
	/* Beyond the header, the template says what the guest may write. */
	memcpy(m->pdev.wmask + 0x40, dev->wmask + 0x40, PCI_CFG_SIZE - 0x40);
	/* The header's status and BAR registers are ours, not the template's. */
	memset(m->pdev.cfg + PCI_COMMAND, 0, 4);
	memset(m->pdev.cfg + PCI_BAR0, 0, 4 * PCI_NUM_BARS);
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		m->bar[i] = (struct med_bar){ m, i, PCI_BAR_UNMAPPED };
		if (dev->bar[i].type == CTL_BAR_NONE)
			continue;
		ret = pci_dev_set_bar(&m->pdev, i, (enum pci_bar_type)
		    dev->bar[i].type, dev->bar[i].size);
		if (ret < 0)
			return ret;
	}
	/* Status: keep the capability-list bit of the template. */
	m->pdev.cfg[PCI_STATUS] = dev->config[PCI_STATUS] & 0x10;
	m->pdev.ops = &med_pci_ops;
	m->pdev.opaque = m;
	m->pdev.fwd_start = dev->fwd_start;
	slot = pci_bus_add(&m->vm->pci, &m->pdev, -1);
	if (slot < 0)
		return slot;
	intx_pin = m->pdev.cfg[PCI_INTERRUPT_PIN];
	if (intx_pin >= 1 && intx_pin <= 4)
		m->pdev.cfg[PCI_INTERRUPT_LINE] = (uint8_t)(PCI_INTX_GSI_BASE +
		    (slot + intx_pin - 1) % PCI_INTX_GSI_COUNT);
	log_info("%s: PCI function 00:%02x.0, %04x:%04x", m->name, slot,
	    dev->config[0] | dev->config[1] << 8,
	    dev->config[2] | dev->config[3] << 8);
	return 0;
}

static int
med_on_ioeventfd(struct mediator *m, struct ctl_msg *msg)
{
	struct ctl_ioeventfd p;
	struct med_ioevent *e;
	uint64_t base;
	int ret;

	if ((ret = ctl_get_ioeventfd(msg, &p)) < 0)
		return ret;
	if (p.flags & CTL_IOEVENTFD_DEASSIGN)
		return -ENOTSUP;	/* XXX not needed by any mediator yet */
	if (p.index >= PCI_NUM_BARS || m->pdev.bar[p.index].type ==
	    PCI_BAR_NONE || p.offset + (p.size ? p.size : 1) >
	    m->pdev.bar[p.index].size)
		return -EINVAL;
	base = m->bar[p.index].addr;
	/* A new process replaces its predecessor's eventfd in place. */
	for (int i = 0; i < m->nioevent; i++) {
		e = &m->ioevent[i];
		if (e->index != p.index || e->offset != p.offset ||
		    e->size != p.size || e->flags != p.flags ||
		    e->datamatch != p.datamatch)
			continue;
		ioevent_assign(m, e, 0, false);
		close(e->fd);
		e->fd = ctl_take_fd(msg, 0);
		return base == PCI_BAR_UNMAPPED ? 0 :
		    ioevent_assign(m, e, base, true);
	}
	if (m->nioevent == MED_MAX_IOEVENT)
		return -ENOSPC;
	e = &m->ioevent[m->nioevent];
	*e = (struct med_ioevent){ .index = p.index, .flags = p.flags,
	    .offset = p.offset, .size = p.size, .datamatch = p.datamatch };
	e->fd = ctl_take_fd(msg, 0);
	m->nioevent++;
	return base == PCI_BAR_UNMAPPED ? 0 : ioevent_assign(m, e, base, true);
}

static int
med_irqfd_assign(struct mediator *m, const struct med_irq *q)
{
	struct kvm_irqfd k = { .fd = (uint32_t)q->fd, .gsi = (uint32_t)q->gsi };

	if (q->resample_fd >= 0) {
		k.flags = KVM_IRQFD_FLAG_RESAMPLE;
		k.resamplefd = (uint32_t)q->resample_fd;
	}
	if (ioctl(m->vm->vm_fd, KVM_IRQFD, &k) < 0) {
		log_warn("%s: KVM_IRQFD gsi %d", m->name, q->gsi);
		return -errno;
	}
	return 0;
}

static int
med_on_irqfd(struct mediator *m, struct ctl_msg *msg)
{
	struct kvm_irqfd k = { 0 };
	struct ctl_irqfd p;
	struct med_irq *q;
	int ret, gsi;

	if ((ret = ctl_get_irqfd(msg, &p)) < 0)
		return ret;
	if (p.flags & CTL_IRQFD_DEASSIGN)
		return -ENOTSUP;	/* XXX not needed by any mediator yet */
	/* A new process's eventfd takes over its predecessor's GSI. */
	for (int i = 0; i < m->nirq; i++) {
		q = &m->irq[i];
		if (q->kind != p.kind || q->vector != p.vector)
			continue;
		k.fd = (uint32_t)q->fd;
		k.gsi = (uint32_t)q->gsi;
		k.flags = KVM_IRQFD_FLAG_DEASSIGN;
		ioctl(m->vm->vm_fd, KVM_IRQFD, &k);
		close(q->fd);
		if (q->resample_fd >= 0)
			close(q->resample_fd);
		q->resample_fd = -1;
		q->fd = ctl_take_fd(msg, 0);
		if (p.flags & CTL_IRQFD_RESAMPLE)
			q->resample_fd = ctl_take_fd(msg, 1);
		return med_irqfd_assign(m, q);
	}
	if (m->nirq == MED_MAX_IRQ)
		return -ENOSPC;
	if (p.kind == CTL_IRQ_MSIX) {
		gsi = irq_msi_alloc(&m->vm->irq);
		if (gsi < 0)
			return gsi;
	} else {
		if (m->pdev.slot < 0 || p.vector > 3)
			return -EINVAL;
		gsi = PCI_INTX_GSI_BASE + (m->pdev.slot + (int)p.vector) %
		    PCI_INTX_GSI_COUNT;
	}
	q = &m->irq[m->nirq];
	*q = (struct med_irq){ .kind = p.kind, .vector = p.vector, .gsi = gsi,
	    .resample_fd = -1 };
	q->fd = ctl_take_fd(msg, 0);
	if (p.flags & CTL_IRQFD_RESAMPLE)
		q->resample_fd = ctl_take_fd(msg, 1);
	m->nirq++;
	return med_irqfd_assign(m, q);
}

static int
med_on_msix_route(struct mediator *m, const struct ctl_msg *msg)
{
	struct ctl_msix_route p;
	int ret;

	if ((ret = ctl_get_msix_route(msg, &p)) < 0)
		return ret;
	for (int i = 0; i < m->nirq; i++) {
		struct med_irq *q = &m->irq[i];

		if (q->kind != CTL_IRQ_MSIX || q->vector != p.vector)
			continue;
		/* A masked vector keeps no route: nothing can be injected. */
		return irq_msi_set(&m->vm->irq, (unsigned)q->gsi,
		    (p.flags & CTL_MSIX_MASKED) ? 0 : p.address, p.data);
	}
	return -ENOENT;
}

int
med_serve_one(struct mediator *m)
{
	struct ctl_msg msg;
	struct ctl_result res = { 0 };
	struct ctl_device dev;
	int ret;

	ret = ctl_recv(m->ctl, &msg);
	if (ret < 0)
		return ret;
	/* Each new process first says who it is and what it speaks. */
	if (!m->hello) {
		struct ctl_hello hello;

		ret = ctl_get_hello(&msg, &hello);
		ctl_msg_close(&msg);
		if (ret < 0 || hello.role != CTL_ROLE_MEDIATOR)
			return -EPROTO;
		if (hello.version != CTL_VERSION || hello.ring_version !=
		    IOREQ_VERSION) {
			log_warnx("%s: mediator speaks control %u ring %u, "
			    "this cupule %u and %u", m->name, hello.version,
			    hello.ring_version, CTL_VERSION, IOREQ_VERSION);
			return -EPROTO;
		}
		m->hello = true;
		return 0;
	}
	switch (msg.hdr.type) {
	case CTL_READY:
		ctl_msg_close(&msg);
		return 1;
	case CTL_DEVICE:
		res.error = ctl_get_device(&msg, &dev);
		/* A new process taking over declares the same function. */
		if (res.error == 0 && m->pdev.slot >= 0)
			res.error = memcmp(dev.config, m->template,
			    sizeof(m->template)) == 0 ? 0 : -EEXIST;
		else if (res.error == 0)
			res.error = med_on_device(m, &dev);
		break;
	case CTL_IOEVENTFD:
		res.error = med_on_ioeventfd(m, &msg);
		break;
	case CTL_IRQFD:
		res.error = med_on_irqfd(m, &msg);
		break;
	case CTL_MSIX_ROUTE:
		res.error = med_on_msix_route(m, &msg);
		break;
	default:
		log_warnx("%s: unexpected %s message", m->name,
		    ctl_type_name(msg.hdr.type));
		res.error = -EBADMSG;
		break;
	}
	if (res.error < 0)
		log_warnx("%s: %s refused: %s", m->name,
		    ctl_type_name(msg.hdr.type), strerror(-res.error));
	ctl_msg_close(&msg);
	ret = ctl_send(m->ctl, CTL_RESULT, msg.hdr.id, &res, sizeof(res),
	    NULL, 0);
	return ret < 0 ? ret : 0;
}

int
mediator_start(struct vm *vm, struct mediator *m, const struct device_cfg *cfg)
{
	const struct med_type *t = med_type_find(cfg->type);
	int ret;

	memset(m, 0, sizeof(*m));
	m->vm = vm;
	m->cfg = cfg;
	m->ctl = m->state_fd = m->backend_fd = m->pidfd = m->tick_fd = -1;
	m->pdev.slot = -1;
	m->msix_bar = CTL_NO_MSIX;
	m->spin_ns = IOREQ_SPIN_DEFAULT_NS;
	snprintf(m->name, sizeof(m->name), "%s/%s", vm->name, cfg->id);
	if (t == NULL) {
		log_warnx("%s: no mediator for device type '%s'", m->name,
		    cfg->type);
		return -ENOTSUP;
	}
	if ((ret = mediator_exe_path(t->exe, m->exe, sizeof(m->exe))) < 0)
		return ret;
	if ((ret = ioreq_ring_create(&m->ring, (unsigned)vm->nvcpus)) < 0) {
		log_warnx("%s: ring: %s", m->name, strerror(-ret));
		return ret;
	}
	m->state_fd = memfd_create("cupule-devstate", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING);
	if (m->state_fd < 0 || ftruncate(m->state_fd, MED_STATE_SIZE) < 0 ||
	    fcntl(m->state_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
		log_warn("%s: device-state area", m->name);
		return -errno;
	}
	snprintf(m->args[m->nargs++], 96, "--ctl-fd=%d", MED_CTL_FD);
	snprintf(m->args[m->nargs++], 96, "--name=%.80s", m->name);
	/* Its own uid and gid, which no other mediator has. */
	if (cfg->uid != 0) {
		snprintf(m->args[m->nargs++], 96, "--uid=%u", cfg->uid);
		snprintf(m->args[m->nargs++], 96, "--gid=%u", cfg->uid);
	}
	if (cfg->supervise.heartbeat_ms > 0)
		snprintf(m->args[m->nargs++], 96, "--heartbeat-ms=%u",
		    cfg->supervise.heartbeat_ms);
	if ((ret = t->prepare(m, m->args, &m->nargs)) < 0)
		return ret;
	if ((ret = med_start_first(m)) < 0) {
		log_warnx("%s: mediator %s did not start: %s", m->name, m->exe,
		    strerror(-ret));
		return ret;
	}
	if (m->pdev.slot < 0) {
		log_warnx("%s: mediator was ready without a PCI function",
		    m->name);
		return -EPROTO;
	}
	m->ready = true;
	return med_supervise(m);
}
