/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ACPI tables for the guest: RSDP, XSDT, MADT, FADT (+FACS) and a DSDT
 * holding \_S5 and the PCI root bridge.
 */
#ifndef CUPULE_ACPI_H
#define CUPULE_ACPI_H

#include <stddef.h>
#include <stdint.h>

struct acpi_cfg {
	int ncpus;			/* local APIC ids 0 .. ncpus-1 */
	uint64_t lapic_addr;
	uint64_t ioapic_addr;
	uint8_t ioapic_id;		/* != any LAPIC id */
	uint16_t pm1a_evt_port;		/* PORT_PM1A_EVT */
	uint16_t pm1a_cnt_port;		/* PORT_PM1A_CNT */
	uint16_t reset_port;		/* PORT_RESET, written with 0x06 */
	uint8_t sci_irq;		/* SCI_IRQ */
	uint8_t s5_slp_typ;		/* ACPI_S5_SLP_TYP */
	uint64_t pci_mmio_start;	/* 32-bit BAR window, inclusive */
	uint64_t pci_mmio_end;
};

/*
 * Builds every table into buf, which the guest sees at guest physical
 * address gpa (16-byte aligned); the RSDP comes first, at gpa.
 * Returns the number of bytes used, or -ENOSPC when len is too small,
 * or -EINVAL for a bad cfg.
 */
long acpi_build(void *buf, uint64_t gpa, size_t len, const struct acpi_cfg *cfg);

/* Returns the ACPI checksum byte sum of len bytes (0 for a valid table). */
uint8_t acpi_sum(const void *p, size_t len);

#endif
