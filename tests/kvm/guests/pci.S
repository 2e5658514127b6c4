/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reads 00:00.0's vendor/device dword and an absent device's through
 * configuration mechanism #1 and reports both on the test port.
 */
#include "common.h"
	.code16
	.text
	.globl	_start
_start:
	mov	$0xcf8, %dx
	mov	$0x80000000, %eax	/* bus 0, dev 0, fn 0, reg 0 */
	out	%eax, %dx
	mov	$0xcfc, %dx
	in	%dx, %eax
	mov	$TEST_PORT, %dx
	out	%eax, %dx
	mov	$0xcf8, %dx
	mov	$0x80001800, %eax	/* dev 3: nothing there */
	out	%eax, %dx
	mov	$0xcfc, %dx
	in	%dx, %eax
	mov	$TEST_PORT, %dx
	out	%eax, %dx
	poweroff
