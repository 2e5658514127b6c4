/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Every vCPU starts here with its index in SI.  Each reports its index on
 * the test port and counts itself in; vCPU 0 waits for all of them
 * (the count is in AX: the test patches nothing, the number is fixed at 2)
 * and powers off.
 */
#include "common.h"
	.code16
	.text
	.globl	_start
_start:
	xor	%ax, %ax
	mov	%ax, %ds
	mov	%si, %ax
	mov	$TEST_PORT, %dx
	out	%al, %dx
	lock incw	count
	test	%si, %si
	jnz	park
spin:
	pause
	cmpw	$2, count
	jne	spin
	poweroff
park:
	hlt
	jmp	park
	.balign	2
count:
	.word	0
