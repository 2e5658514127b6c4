/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Enters 32-bit protected mode with flat segments, writes a dword to the
 * test MMIO window in the PCI hole, reads the next one back and reports
 * it on the test port, then powers off.
 */
#include "common.h"
	.code16
	.text
	.globl	_start
_start:
	cli
	xor	%ax, %ax
	mov	%ax, %ds
	lgdtl	gdt_desc
	mov	%cr0, %eax
	or	$1, %eax
	mov	%eax, %cr0
	ljmpl	$0x08, $pm
	.code32
pm:
	mov	$0x10, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	movl	$0x12345678, MMIO_TEST
	mov	MMIO_TEST + 4, %eax
	mov	$TEST_PORT, %dx
	out	%eax, %dx
	poweroff
	.balign	8
gdt:
	.quad	0
	.quad	0x00cf9b000000ffff	/* flat 32-bit code */
	.quad	0x00cf93000000ffff	/* flat data */
gdt_desc:
	.word	gdt_desc - gdt - 1
	.long	gdt
