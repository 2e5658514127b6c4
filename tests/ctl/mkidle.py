#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Writes a tiny bzImage (boot protocol 2.15) whose 64-bit entry halts
for good: a VM that boots it idles, so that cupule run, its mediators,
its supervisor and cupulectl can be tested on a machine where a real
Linux guest cannot run."""
import struct
import sys

SETUP_SECTS = 1
SETUP = (SETUP_SECTS + 1) * 512
PM = 4096

k = bytearray(SETUP + PM)
k[0x1f1] = SETUP_SECTS
struct.pack_into("<I", k, 0x1f4, PM // 16)          # syssize
struct.pack_into("<H", k, 0x1fe, 0xAA55)            # boot_flag
k[0x200] = 0xEB                                     # jmp over the header
k[0x201] = 0x26C - 0x202
k[0x202:0x206] = b"HdrS"
struct.pack_into("<H", k, 0x206, 0x020F)            # version 2.15
k[0x211] = 0x01                                     # LOADED_HIGH
struct.pack_into("<I", k, 0x22C, 0x37FFFFFF)        # initrd_addr_max
struct.pack_into("<I", k, 0x230, 2 << 20)           # kernel_alignment
k[0x234] = 1                                        # relocatable
struct.pack_into("<H", k, 0x236, 0x0001)            # XLF_KERNEL_64
struct.pack_into("<I", k, 0x238, 2047)              # cmdline_size
struct.pack_into("<I", k, 0x260, 1 << 20)           # init_size
# startup_64 at 0x200 of the protected-mode part: cli; hlt; jmp hlt
k[SETUP + 0x200:SETUP + 0x204] = bytes([0xFA, 0xF4, 0xEB, 0xFD])

with open(sys.argv[1], "wb") as f:
    f.write(k)
