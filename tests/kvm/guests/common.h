/* SPDX-License-Identifier: BSD-3-Clause */
/* Ports the tiny test guests use; see hypervisor/layout.h. */
#define COM1		0x3f8
#define COM1_LSR	0x3fd
#define PM1A_CNT	0x604
#define S5_SLEEP	0x3400	/* SLP_EN | SLP_TYP 5 */
#define TEST_PORT	0x510	/* served by the test, not by cupule */
#define MMIO_TEST	0xd0000000

/* Powers the VM off through the ACPI PM1a control register. */
.macro poweroff
	mov	$PM1A_CNT, %dx
	mov	$S5_SLEEP, %ax
	out	%ax, %dx
1:	hlt
	jmp	1b
.endm
