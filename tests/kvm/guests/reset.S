/* SPDX-License-Identifier: BSD-3-Clause */
/* Asks for a reset through the reset control register at 0xcf9. */
	.code16
	.text
	.globl	_start
_start:
	mov	$0xcf9, %dx
	mov	$0x06, %al
	out	%al, %dx
1:	hlt
	jmp	1b
