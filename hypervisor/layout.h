/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest physical address map shared by every part of the VM process.
 *
 *   0x00000000 - 0x0009fbff  RAM (real-mode area, zero page, page tables)
 *   0x0009fc00 - 0x0009ffff  reserved (EBDA)
 *   0x000e0000 - 0x000fffff  reserved: ACPI tables (RSDP at 0xe0000)
 *   0x00100000 - low_end     RAM (kernel at 1 MiB, initrd at the top)
 *   0xc0000000 - 0xfebfffff  PCI hole: 32-bit MMIO window for BARs
 *   0xfec00000               IOAPIC
 *   0xfee00000               local APIC
 *   0x100000000 -            RAM above 4 GiB when memory > 3 GiB
 */
#ifndef CUPULE_LAYOUT_H
#define CUPULE_LAYOUT_H

#define GUEST_EBDA_START	0x9fc00ULL
#define GUEST_ACPI_START	0xe0000ULL
#define GUEST_ACPI_SIZE		0x20000ULL
#define GUEST_HIGH_MEM		0x100000ULL	/* 1 MiB: protected-mode kernel */
#define GUEST_PCI_HOLE		0xc0000000ULL	/* low RAM ends here at most */
#define GUEST_PCI_MMIO_START	0xc0000000ULL
#define GUEST_PCI_MMIO_END	0xfebfffffULL	/* inclusive */
#define GUEST_IOAPIC_BASE	0xfec00000ULL
#define GUEST_LAPIC_BASE	0xfee00000ULL
#define GUEST_4G		0x100000000ULL

/* Boot-time structures in the first 64 KiB of RAM. */
#define GUEST_GDT		0x500ULL
#define GUEST_BOOT_PARAMS	0x7000ULL	/* zero page */
#define GUEST_CMDLINE		0x20000ULL
#define GUEST_CMDLINE_MAX	0x10000ULL
#define GUEST_PML4		0x9000ULL
#define GUEST_PDPT		0xa000ULL
#define GUEST_PD		0xb000ULL	/* four pages: 0xb000 - 0xefff */
#define GUEST_BOOT_STACK	0x8ff0ULL

/* Fixed I/O ports. */
#define PORT_COM1		0x3f8
#define IRQ_COM1		4
#define PORT_PCI_CONFIG_ADDR	0xcf8
#define PORT_PCI_CONFIG_DATA	0xcfc
#define PORT_RESET		0xcf9	/* also the FADT reset register */
#define PORT_KBD_CMD		0x64
#define PORT_PM1A_EVT		0x600	/* PM1a_EVT_BLK: status(2) + enable(2) */
#define PORT_PM1A_CNT		0x604	/* PM1a_CNT_BLK: control(2) */
#define PM1_EVT_LEN		4
#define PM1_CNT_LEN		2
#define SCI_IRQ			9
#define ACPI_S5_SLP_TYP		5	/* value in the DSDT's \_S5 package */

/* INTx of PCI slot s pin p (0 = INTA) reaches IOAPIC pin 16 + (s + p) % 8. */
#define PCI_INTX_GSI_BASE	16
#define PCI_INTX_GSI_COUNT	8

#endif
