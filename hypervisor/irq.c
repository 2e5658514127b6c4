/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "irq.h"
#include "log.h"

static void
add_chip(struct irq_routes *r, unsigned gsi, unsigned chip, unsigned pin)
{
	struct kvm_irq_routing_entry *e = &r->e[r->n++];

	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_IRQCHIP;
	e->u.irqchip.irqchip = chip;
	e->u.irqchip.pin = pin;
}

/* Pushes the whole table to KVM.  Called with the lock held. */
static int
irq_commit(struct irq_routes *r)
{
	struct {
		struct kvm_irq_routing hdr;
		struct kvm_irq_routing_entry e[IRQ_MAX_ROUTES];
	} *t;
	int ret = 0;

	/* Large: keep it off the (vCPU or main) thread's stack. */
	static __thread char buf[sizeof(*t)] __attribute__((aligned(8)));

	t = (void *)buf;
	memset(&t->hdr, 0, sizeof(t->hdr));
	t->hdr.nr = r->n;
	memcpy(t->e, r->e, r->n * sizeof(r->e[0]));
	if (ioctl(r->vm_fd, KVM_SET_GSI_ROUTING, t) < 0) {
		ret = -errno;
		log_warn("KVM_SET_GSI_ROUTING");
	}
	return ret;
}

int
irq_routes_init(struct irq_routes *r, int vm_fd)
{
	int ret;

	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->vm_fd = vm_fd;
	r->next_gsi = IRQ_PC_GSIS;
	/*
	 * KVM's default table maps IRQ0 to IOAPIC pin 0, but the MADT says
	 * pin 2 (as on every PC), and Linux's timer check follows the MADT.
	 */
	for (unsigned gsi = 0; gsi < IRQ_PC_GSIS; gsi++) {
		if (gsi == 2)
			continue;	/* the PIC cascade */
		if (gsi < 16)
			add_chip(r, gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER :
			    KVM_IRQCHIP_PIC_SLAVE, gsi % 8);
		add_chip(r, gsi, KVM_IRQCHIP_IOAPIC, gsi == 0 ? 2 : gsi);
	}
	pthread_mutex_lock(&r->lock);
	ret = irq_commit(r);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

void
irq_routes_fini(struct irq_routes *r)
{
	pthread_mutex_destroy(&r->lock);
}

int
irq_msi_alloc(struct irq_routes *r)
{
	int gsi = -ENOSPC;

	pthread_mutex_lock(&r->lock);
	if (r->next_gsi < IRQ_MAX_ROUTES)
		gsi = (int)r->next_gsi++;
	pthread_mutex_unlock(&r->lock);
	return gsi;
}

int
irq_msi_set(struct irq_routes *r, unsigned gsi, uint64_t addr, uint32_t data)
{
	struct kvm_irq_routing_entry *e = NULL;
	int ret;

	if (gsi < IRQ_PC_GSIS || gsi >= r->next_gsi)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < r->n; i++)
		if (r->e[i].gsi == gsi)
			e = &r->e[i];
	if (addr == 0) {
		if (e != NULL)
			*e = r->e[--r->n];
	} else {
		if (e == NULL) {
			if (r->n == IRQ_MAX_ROUTES) {
				pthread_mutex_unlock(&r->lock);
				return -ENOSPC;
			}
			e = &r->e[r->n++];
		}
		memset(e, 0, sizeof(*e));
		e->gsi = gsi;
		e->type = KVM_IRQ_ROUTING_MSI;
		e->u.msi.address_lo = (uint32_t)addr;
		e->u.msi.address_hi = (uint32_t)(addr >> 32);
		e->u.msi.data = data;
	}
	ret = irq_commit(r);
	pthread_mutex_unlock(&r->lock);
	return ret;
}
