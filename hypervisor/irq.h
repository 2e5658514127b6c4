/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The VM's GSI routing table: the PC's ISA and PCI INTx lines, plus one
 * MSI route per MSI-X vector a mediator binds to an irqfd.
 */
#ifndef CUPULE_IRQ_H
#define CUPULE_IRQ_H

#include <pthread.h>
#include <stdint.h>

#include <linux/kvm.h>

#define IRQ_PC_GSIS	24		/* IOAPIC pins */
#define IRQ_MAX_ROUTES	1024

struct irq_routes {
	pthread_mutex_t lock;
	int vm_fd;
	unsigned n;			/* used entries */
	unsigned next_gsi;		/* next MSI gsi to hand out */
	struct kvm_irq_routing_entry e[IRQ_MAX_ROUTES];
};

/*
 * Installs the PC routing on vm_fd: ISA IRQs 0-15 to the PIC and the
 * IOAPIC (IRQ0 to pin 2, IRQ2 the cascade), 16-23 to the IOAPIC only.
 * Returns 0 or -errno.
 */
int irq_routes_init(struct irq_routes *r, int vm_fd);

/* Frees what irq_routes_init allocated. */
void irq_routes_fini(struct irq_routes *r);

/* Hands out an unused GSI for an MSI (no route yet).  Returns it or -ENOSPC. */
int irq_msi_alloc(struct irq_routes *r);

/*
 * Routes gsi (from irq_msi_alloc) to the MSI message address/data, or
 * removes its route when addr is 0.  Returns 0 or -errno.
 */
int irq_msi_set(struct irq_routes *r, unsigned gsi, uint64_t addr,
    uint32_t data);

#endif
