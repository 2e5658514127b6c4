/* SPDX-License-Identifier: BSD-3-Clause */
/* Prints a line on COM1, polling the line status register, then powers off. */
#include "common.h"
	.code16
	.text
	.globl	_start
_start:
	xor	%ax, %ax
	mov	%ax, %ds
	mov	$msg, %si
next:
	lodsb
	test	%al, %al
	jz	done
	mov	%al, %bl
	mov	$COM1_LSR, %dx
wait:
	in	%dx, %al
	test	$0x20, %al		/* THR empty */
	jz	wait
	mov	$COM1, %dx
	mov	%bl, %al
	out	%al, %dx
	jmp	next
done:
	poweroff
msg:
	.asciz	"hello from a tiny guest\n"
