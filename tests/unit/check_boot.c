/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the Linux boot protocol: guest memory layout and
 * guest_ptr bounds, the e820 map, and boot_load_linux on a synthetic
 * bzImage (payload, zero page, command line, initrd, page tables, GDT),
 * with every refusal checked to leave guest memory untouched.
 *
 * Header and zero-page offsets are written out here from boot.rst and
 * zero-page.rst on purpose instead of taken from struct setup_header,
 * so that a wrong structure layout cannot hide.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "boot.h"
#include "layout.h"

#define KIB		1024ULL
#define MIB		(1024 * KIB)
#define GIB		(1024 * MIB)

/* Setup header, at the same offsets in the image and the zero page. */
#define H_SETUP_SECTS	0x1f1
#define H_SYSSIZE	0x1f4
#define H_BOOT_FLAG	0x1fe
#define H_JUMP		0x200
#define H_HEADER	0x202
#define H_VERSION	0x206
#define H_TYPE_OF_LOADER 0x210
#define H_LOADFLAGS	0x211
#define H_CODE32_START	0x214
#define H_RAMDISK_IMAGE	0x218
#define H_RAMDISK_SIZE	0x21c
#define H_CMD_LINE_PTR	0x228
#define H_INITRD_ADDR_MAX 0x22c
#define H_XLOADFLAGS	0x236
#define H_CMDLINE_SIZE	0x238
#define H_INIT_SIZE	0x260
#define H_HANDOVER	0x264
#define H_KERNEL_INFO	0x268
#define H_END_2_15	0x26c	/* first byte after a 2.15 header */

/* Zero-page fields outside the setup header. */
#define ZP_ACPI_RSDP	0x070
#define ZP_EXT_RAMDISK_IMAGE 0x0c0
#define ZP_EXT_RAMDISK_SIZE 0x0c4
#define ZP_E820_ENTRIES	0x1e8
#define ZP_E820_TABLE	0x2d0
#define ZP_E820_ENTRY	20
#define ZP_SIZE		4096

/* The synthetic kernel. */
#define SETUP_SECTS	4
#define SETUP_SIZE	((SETUP_SECTS + 1) * 512)
#define PM_SIZE		(24 * KIB)
#define INIT_SIZE	(8 * MIB)
#define INITRD_MAX	0x37ffffffULL
#define CMDLINE_SIZE	2047
#define PM_MAGIC	"cupule test payload"

#define MEM_SIZE	(64 * MIB)
#define SENTINEL	0xa5
#define RSDP		(GUEST_ACPI_START + 0x10)
#define CMDLINE		"console=ttyS0 root=/dev/vda rw quiet"

/* e820 types */
#define E820_RAM	1
#define E820_RESERVED	2

/* Page-table bits. */
#define PTE_P		0x1ULL
#define PTE_RW		0x2ULL
#define PTE_PS		0x80ULL
#define PTE_ADDR	0x000ffffffffff000ULL

static uint64_t
rd(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void
wr(uint8_t *p, size_t n, uint64_t v)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint8_t
pm_byte(size_t i)
{
	return (uint8_t)(i * 131 + (i >> 9) + 7);
}

/*
 * A bzImage of protocol 2.15: a real-mode part of filler around the
 * setup header, then a patterned protected-mode payload.  The caller
 * frees it.
 */
static uint8_t *
make_kernel(size_t *len)
{
	size_t n = SETUP_SIZE + PM_SIZE;
	uint8_t *k = malloc(n);

	ck_assert_ptr_nonnull(k);
	memset(k, 0xcc, SETUP_SIZE);
	memset(k + H_SETUP_SECTS, 0, H_END_2_15 - H_SETUP_SECTS);
	k[H_SETUP_SECTS] = SETUP_SECTS;
	wr(k + H_SYSSIZE, 4, PM_SIZE / 16);
	wr(k + H_BOOT_FLAG, 2, 0xaa55);
	k[H_JUMP] = 0xeb;
	k[H_JUMP + 1] = H_END_2_15 - (H_JUMP + 2);
	memcpy(k + H_HEADER, "HdrS", 4);
	wr(k + H_VERSION, 2, 0x020f);
	k[H_LOADFLAGS] = LOADED_HIGH;
	wr(k + H_INITRD_ADDR_MAX, 4, INITRD_MAX);
	wr(k + 0x230, 4, 2 * MIB);		/* kernel_alignment */
	k[0x234] = 1;				/* relocatable_kernel */
	wr(k + H_XLOADFLAGS, 2, XLF_KERNEL_64);
	wr(k + H_CMDLINE_SIZE, 4, CMDLINE_SIZE);
	wr(k + H_INIT_SIZE, 4, INIT_SIZE);
	wr(k + H_HANDOVER, 4, 0x190);
	wr(k + H_KERNEL_INFO, 4, 0x12340);
	for (size_t i = 0; i < PM_SIZE; i++)
		k[SETUP_SIZE + i] = pm_byte(i);
	memcpy(k + SETUP_SIZE, PM_MAGIC, sizeof(PM_MAGIC));
	*len = n;
	return k;
}

/* A patterned initrd of len bytes; the caller frees it. */
static uint8_t *
make_initrd(size_t len)
{
	uint8_t *p = malloc(len);

	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + (i >> 12) + 1);
	return p;
}

/* Guest RAM for most tests: 64 MiB filled with a sentinel. */
static struct guest_mem M;

static void
mem_setup(void)
{
	guest_mem_layout(&M, MEM_SIZE);
	M.host = malloc(MEM_SIZE);
	ck_assert_ptr_nonnull(M.host);
	memset(M.host, SENTINEL, MEM_SIZE);
}

static void
mem_teardown(void)
{
	free(M.host);
	M.host = NULL;
}

/* RAM that is only reserved: the pages touched are the only ones used. */
static uint8_t *
sparse_map(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	ck_assert_msg(p != MAP_FAILED, "mmap of %llu bytes failed",
	    (unsigned long long)size);
	return p;
}

/* Offset of the first byte of M that is not the sentinel, or -1. */
static long long
first_written(void)
{
	for (uint64_t i = 0; i < MEM_SIZE; i++)
		if (M.host[i] != SENTINEL)
			return (long long)i;
	return -1;
}

START_TEST(test_layout_low)
{
	uint8_t buf[64];
	struct guest_mem m = { .host = buf };

	guest_mem_layout(&m, sizeof(buf));
	ck_assert_uint_eq(m.size, sizeof(buf));
	ck_assert_uint_eq(m.low, sizeof(buf));
	ck_assert_ptr_eq(guest_ptr(&m, 0, 1), buf);
	ck_assert_ptr_eq(guest_ptr(&m, 0, sizeof(buf)), buf);
	ck_assert_ptr_eq(guest_ptr(&m, 10, 54), buf + 10);
	ck_assert_ptr_eq(guest_ptr(&m, 63, 1), buf + 63);
	ck_assert_ptr_null(guest_ptr(&m, 0, sizeof(buf) + 1));
	ck_assert_ptr_null(guest_ptr(&m, 10, 55));
	ck_assert_ptr_null(guest_ptr(&m, 63, 2));
	ck_assert_ptr_null(guest_ptr(&m, 64, 1));
	ck_assert_ptr_null(guest_ptr(&m, GUEST_4G, 1));
	ck_assert_ptr_null(guest_ptr(&m, UINT64_MAX, 1));
	ck_assert_ptr_null(guest_ptr(&m, 1, UINT64_MAX));
	ck_assert_ptr_null(guest_ptr(&m, UINT64_MAX - 7, 16));
}
END_TEST

/* Exactly 3 GiB: all of it below the hole, nothing at 4 GiB. */
START_TEST(test_layout_3g)
{
	struct guest_mem m;

	guest_mem_layout(&m, 3 * GIB);
	m.host = sparse_map(3 * GIB);
	ck_assert_uint_eq(m.size, 3 * GIB);
	ck_assert_uint_eq(m.low, GUEST_PCI_HOLE);
	ck_assert_ptr_eq(guest_ptr(&m, 3 * GIB - 4096, 4096),
	    m.host + 3 * GIB - 4096);
	ck_assert_ptr_null(guest_ptr(&m, 3 * GIB - 4096, 4097));
	ck_assert_ptr_null(guest_ptr(&m, 3 * GIB, 1));
	ck_assert_ptr_null(guest_ptr(&m, GUEST_4G, 1));
	munmap(m.host, 3 * GIB);
}
END_TEST

/* More than 3 GiB: the rest of RAM shows up at 4 GiB. */
START_TEST(test_layout_high)
{
	const uint64_t size = 3 * GIB + 256 * MIB;
	const uint64_t high = 256 * MIB;
	struct guest_mem m;
	uint8_t *p;

	guest_mem_layout(&m, size);
	m.host = sparse_map(size);
	ck_assert_uint_eq(m.size, size);
	ck_assert_uint_eq(m.low, 3 * GIB);

	ck_assert_ptr_eq(guest_ptr(&m, 0, 3 * GIB), m.host);
	ck_assert_ptr_eq(guest_ptr(&m, 3 * GIB - 1, 1), m.host + 3 * GIB - 1);
	ck_assert_ptr_eq(guest_ptr(&m, GUEST_4G, 1), m.host + 3 * GIB);
	ck_assert_ptr_eq(guest_ptr(&m, GUEST_4G, high), m.host + 3 * GIB);
	ck_assert_ptr_eq(guest_ptr(&m, GUEST_4G + high - 8, 8),
	    m.host + size - 8);

	/* Writes through the high part land at the end of the buffer. */
	p = guest_ptr(&m, GUEST_4G + 0x1234, 1);
	ck_assert_ptr_nonnull(p);
	*p = 0x5a;
	ck_assert_uint_eq(m.host[3 * GIB + 0x1234], 0x5a);

	/* Into, across and beyond the hole, past the end. */
	ck_assert_ptr_null(guest_ptr(&m, 0, 3 * GIB + 1));
	ck_assert_ptr_null(guest_ptr(&m, 3 * GIB - 8, 16));
	ck_assert_ptr_null(guest_ptr(&m, 3 * GIB, 1));
	ck_assert_ptr_null(guest_ptr(&m, GUEST_LAPIC_BASE, 4));
	ck_assert_ptr_null(guest_ptr(&m, GUEST_4G - 1, 2));
	ck_assert_ptr_null(guest_ptr(&m, GUEST_4G - 1, 1));
	ck_assert_ptr_null(guest_ptr(&m, GUEST_4G, high + 1));
	ck_assert_ptr_null(guest_ptr(&m, GUEST_4G + high - 8, 16));
	ck_assert_ptr_null(guest_ptr(&m, GUEST_4G + high, 1));
	ck_assert_ptr_null(guest_ptr(&m, GUEST_4G + size, 1));
	ck_assert_ptr_null(guest_ptr(&m, UINT64_MAX, 1));
	ck_assert_ptr_null(guest_ptr(&m, GUEST_4G + 16, UINT64_MAX - 8));
	munmap(m.host, size);
}
END_TEST

static void
check_entry(const struct boot_e820_entry *e, uint64_t addr, uint64_t size,
    uint32_t type)
{
	ck_assert_uint_eq(e->addr, addr);
	ck_assert_uint_eq(e->size, size);
	ck_assert_uint_eq(e->type, type);
}

/* The four entries every map starts with. */
static void
check_low_entries(const struct boot_e820_entry *tab, uint64_t low)
{
	check_entry(&tab[0], 0, 0x9fc00, E820_RAM);
	check_entry(&tab[1], 0x9fc00, 0x400, E820_RESERVED);
	check_entry(&tab[2], 0xe0000, 0x20000, E820_RESERVED);
	check_entry(&tab[3], 0x100000, low - 0x100000, E820_RAM);
}

static const uint64_t e820_sizes[] = {
	64 * MIB, 1 * GIB, 3 * GIB - 4096, 3 * GIB,
	3 * GIB + 4096, 4 * GIB, 64 * GIB,
};
#define NE820 ((int)(sizeof(e820_sizes) / sizeof(e820_sizes[0])))

START_TEST(test_e820)
{
	uint64_t size = e820_sizes[_i];
	struct guest_mem m = { .host = NULL };
	struct boot_e820_entry tab[8];
	int n;

	memset(tab, 0xee, sizeof(tab));
	guest_mem_layout(&m, size);
	n = boot_e820(&m, tab, 8);
	check_low_entries(tab, size < 3 * GIB ? size : 3 * GIB);
	if (size > 3 * GIB) {
		ck_assert_int_eq(n, 5);
		check_entry(&tab[4], GUEST_4G, size - 3 * GIB, E820_RAM);
	} else {
		ck_assert_int_eq(n, 4);
		ck_assert_uint_eq(tab[4].type, 0xeeeeeeee);
	}
}
END_TEST

/* A short table is refused, and nothing is written past its end. */
START_TEST(test_e820_enospc)
{
	struct guest_mem m = { .host = NULL };
	struct boot_e820_entry tab[8];

	guest_mem_layout(&m, 64 * MIB);
	memset(tab, 0xee, sizeof(tab));
	ck_assert_int_eq(boot_e820(&m, tab, 3), -ENOSPC);
	ck_assert_uint_eq(tab[3].type, 0xeeeeeeee);
	ck_assert_int_eq(boot_e820(&m, tab, 0), -ENOSPC);
	ck_assert_int_eq(boot_e820(&m, tab, 4), 4);

	guest_mem_layout(&m, 5 * GIB);
	memset(tab, 0xee, sizeof(tab));
	ck_assert_int_eq(boot_e820(&m, tab, 4), -ENOSPC);
	ck_assert_uint_eq(tab[4].type, 0xeeeeeeee);
	ck_assert_int_eq(boot_e820(&m, tab, 5), 5);
}
END_TEST

/* The zero page's e820 table is exactly what boot_e820 makes. */
static void
check_zp_e820(const struct guest_mem *m, const uint8_t *zp)
{
	struct boot_e820_entry want[8];
	int n = boot_e820(m, want, 8);

	ck_assert_int_ge(n, 4);
	ck_assert_uint_eq(zp[ZP_E820_ENTRIES], (unsigned)n);
	for (int i = 0; i < n; i++) {
		const uint8_t *e = zp + ZP_E820_TABLE + ZP_E820_ENTRY * i;

		ck_assert_uint_eq(rd(e, 8), want[i].addr);
		ck_assert_uint_eq(rd(e + 8, 8), want[i].size);
		ck_assert_uint_eq(rd(e + 16, 4), want[i].type);
	}
}

/*
 * Walks the page tables in ram (the first MiB of the guest) for va and
 * checks that a 2 MiB, present, writable page maps it to itself.
 */
static void
check_identity(const uint8_t *ram, uint64_t va)
{
	uint64_t e;

	e = rd(ram + GUEST_PML4 + 8 * ((va >> 39) & 511), 8);
	ck_assert_uint_eq(e & (PTE_P | PTE_RW), PTE_P | PTE_RW);
	ck_assert_uint_lt(e & PTE_ADDR, GUEST_EBDA_START);
	e = rd(ram + (e & PTE_ADDR) + 8 * ((va >> 30) & 511), 8);
	ck_assert_uint_eq(e & (PTE_P | PTE_RW | PTE_PS), PTE_P | PTE_RW);
	ck_assert_uint_lt(e & PTE_ADDR, GUEST_EBDA_START);
	e = rd(ram + (e & PTE_ADDR) + 8 * ((va >> 21) & 511), 8);
	ck_assert_msg((e & (PTE_P | PTE_RW | PTE_PS)) ==
	    (PTE_P | PTE_RW | PTE_PS), "va %#llx: PDE %#llx",
	    (unsigned long long)va, (unsigned long long)e);
	ck_assert_uint_eq(e & 0x000fffffffe00000ULL, va & ~(2 * MIB - 1));
}

/* Page tables and GDT, in the first MiB of a guest at ram. */
static void
check_tables(const uint8_t *ram)
{
	static const uint64_t va[] = {
		0, 0x1000, 0x100000, 2 * MIB + 5, 1 * GIB - 1, 1 * GIB,
		2 * GIB + 3 * MIB, 3 * GIB, GUEST_IOAPIC_BASE,
		GUEST_LAPIC_BASE, GUEST_4G - 1,
	};
	const uint8_t *gdt = ram + GUEST_GDT;
	uint64_t cs, ds;

	for (size_t i = 0; i < sizeof(va) / sizeof(va[0]); i++)
		check_identity(ram, va[i]);

	/* A few PD entries by index, and nothing mapped above 4 GiB. */
	ck_assert_uint_eq(rd(ram + GUEST_PD, 8), 0x83);
	ck_assert_uint_eq(rd(ram + GUEST_PD + 8 * 1, 8), 0x200083);
	ck_assert_uint_eq(rd(ram + GUEST_PD + 8 * 511, 8), 0x3fe00083);
	ck_assert_uint_eq(rd(ram + GUEST_PD + 8 * 512, 8), 0x40000083);
	ck_assert_uint_eq(rd(ram + GUEST_PD + 8 * 2047, 8), 0xffe00083);
	ck_assert_uint_eq(rd(ram + GUEST_PML4 + 8 * 1, 8), 0);
	ck_assert_uint_eq(rd(ram + GUEST_PML4 + 8 * 511, 8), 0);
	ck_assert_uint_eq(rd(ram + GUEST_PDPT + 8 * 4, 8), 0);
	ck_assert_uint_eq(rd(ram + GUEST_PDPT + 8 * 511, 8), 0);

	/* GDT: null descriptor, 64-bit code at BOOT_CS, data at BOOT_DS. */
	ck_assert_uint_eq(rd(gdt, 8), 0);
	cs = rd(gdt + BOOT_CS, 8);
	ds = rd(gdt + BOOT_DS, 8);
	ck_assert_uint_eq(cs, 0x00af9b000000ffffULL);
	ck_assert_uint_eq(ds, 0x00cf93000000ffffULL);
	ck_assert_uint_eq((cs >> 40) & 0xff, 0x9b);	/* P, S, code, R */
	ck_assert_uint_eq((cs >> 53) & 1, 1);		/* L */
	ck_assert_uint_eq((cs >> 54) & 1, 0);		/* D must be 0 */
	ck_assert_uint_eq((ds >> 40) & 0xff, 0x93);	/* P, S, data, W */
	ck_assert_uint_eq((ds >> 54) & 1, 1);		/* B */
	ck_assert_uint_eq((ds >> 55) & 1, 1);		/* G */
}

START_TEST(test_load)
{
	const size_t ilen = 300 * KIB + 123;
	uint8_t *k, *initrd, *zp;
	struct boot_info bi;
	char err[256] = "";
	uint64_t ri;
	size_t klen;

	k = make_kernel(&klen);
	initrd = make_initrd(ilen);
	memset(&bi, 0xee, sizeof(bi));
	ck_assert_int_eq(boot_load_linux(&M, k, klen, initrd, ilen, CMDLINE,
	    RSDP, &bi, err, sizeof(err)), 0);

	/* The protected-mode payload at 1 MiB, and nothing after it. */
	ck_assert_mem_eq(M.host + GUEST_HIGH_MEM, PM_MAGIC, sizeof(PM_MAGIC));
	ck_assert_int_eq(memcmp(M.host + GUEST_HIGH_MEM, k + SETUP_SIZE,
	    PM_SIZE), 0);
	ck_assert_uint_eq(M.host[GUEST_HIGH_MEM + PM_SIZE], SENTINEL);
	ck_assert_uint_eq(M.host[GUEST_HIGH_MEM - 1], SENTINEL);

	ck_assert_uint_eq(bi.entry, GUEST_HIGH_MEM + 0x200);
	ck_assert_uint_eq(bi.zero_page, GUEST_BOOT_PARAMS);
	ck_assert_uint_eq(bi.kernel_end, GUEST_HIGH_MEM + INIT_SIZE);
	ck_assert_uint_eq(bi.stack % 16, 0);
	ck_assert_uint_gt(bi.stack, GUEST_BOOT_PARAMS + ZP_SIZE);
	ck_assert_uint_le(bi.stack, GUEST_PML4);

	/* Zero page: the kernel's header, then what the loader sets. */
	zp = M.host + GUEST_BOOT_PARAMS;
	ck_assert_uint_eq(zp[H_SETUP_SECTS], SETUP_SECTS);
	ck_assert_uint_eq(rd(zp + H_SYSSIZE, 4), PM_SIZE / 16);
	ck_assert_uint_eq(rd(zp + H_BOOT_FLAG, 2), 0xaa55);
	ck_assert_mem_eq(zp + H_HEADER, "HdrS", 4);
	ck_assert_uint_eq(rd(zp + H_VERSION, 2), 0x020f);
	ck_assert_uint_eq(rd(zp + H_XLOADFLAGS, 2), XLF_KERNEL_64);
	ck_assert_uint_eq(rd(zp + H_INIT_SIZE, 4), INIT_SIZE);
	ck_assert_uint_eq(rd(zp + H_KERNEL_INFO, 4), 0x12340);
	ck_assert_uint_eq(zp[H_TYPE_OF_LOADER], 0xff);
	ck_assert_uint_eq(zp[H_LOADFLAGS], LOADED_HIGH | CAN_USE_HEAP);
	ck_assert_uint_eq(rd(zp + H_CODE32_START, 4), GUEST_HIGH_MEM);
	ck_assert_uint_eq(rd(zp + ZP_ACPI_RSDP, 8), RSDP);
	/* The rest of the page is cleared, not left from the image. */
	ck_assert_uint_eq(zp[0], 0);
	ck_assert_uint_eq(zp[H_SETUP_SECTS - 1], 0);
	ck_assert_uint_eq(zp[H_END_2_15], 0);
	ck_assert_uint_eq(zp[ZP_SIZE - 1], 0);

	/* Command line */
	ck_assert_uint_eq(rd(zp + H_CMD_LINE_PTR, 4), GUEST_CMDLINE);
	ck_assert_str_eq((const char *)M.host + GUEST_CMDLINE, CMDLINE);

	/* Initrd: page-aligned, above the kernel, below its limit. */
	ri = rd(zp + H_RAMDISK_IMAGE, 4) |
	    rd(zp + ZP_EXT_RAMDISK_IMAGE, 4) << 32;
	ck_assert_uint_eq(rd(zp + H_RAMDISK_SIZE, 4), ilen);
	ck_assert_uint_eq(rd(zp + ZP_EXT_RAMDISK_SIZE, 4), 0);
	ck_assert_uint_eq(ri, bi.initrd_gpa);
	ck_assert_uint_eq(bi.initrd_size, ilen);
	ck_assert_uint_eq(ri % 4096, 0);
	ck_assert_uint_ge(ri, bi.kernel_end);
	ck_assert_uint_le(ri + ilen, MEM_SIZE);
	ck_assert_uint_le(ri + ilen - 1, INITRD_MAX);
	/* As high as it goes: within a page of the top of RAM. */
	ck_assert_uint_gt(ri + ilen, MEM_SIZE - 4096);
	ck_assert_int_eq(memcmp(M.host + ri, initrd, ilen), 0);

	check_zp_e820(&M, zp);
	check_tables(M.host);
	free(initrd);
	free(k);
}
END_TEST

START_TEST(test_load_no_initrd)
{
	struct boot_info bi;
	char err[256];
	size_t klen;
	uint8_t *k = make_kernel(&klen), *zp;

	memset(&bi, 0xee, sizeof(bi));
	ck_assert_int_eq(boot_load_linux(&M, k, klen, NULL, 0, "", 0, &bi,
	    err, sizeof(err)), 0);
	zp = M.host + GUEST_BOOT_PARAMS;
	ck_assert_uint_eq(bi.initrd_gpa, 0);
	ck_assert_uint_eq(bi.initrd_size, 0);
	ck_assert_uint_eq(rd(zp + H_RAMDISK_IMAGE, 4), 0);
	ck_assert_uint_eq(rd(zp + H_RAMDISK_SIZE, 4), 0);
	ck_assert_uint_eq(rd(zp + ZP_ACPI_RSDP, 8), 0);
	ck_assert_uint_eq(M.host[GUEST_CMDLINE], '\0');
	/* Nothing written near the top of RAM, where an initrd would go. */
	ck_assert_uint_eq(M.host[MEM_SIZE - 1], SENTINEL);
	free(k);
}
END_TEST

/* A small initrd_addr_max wins over the top of RAM. */
START_TEST(test_initrd_addr_max)
{
	const size_t ilen = 100000;
	const uint64_t max = 32 * MIB - 1;
	struct boot_info bi;
	char err[256];
	size_t klen;
	uint8_t *k = make_kernel(&klen), *initrd = make_initrd(ilen);
	uint8_t *zp = M.host + GUEST_BOOT_PARAMS;

	wr(k + H_INITRD_ADDR_MAX, 4, max);
	ck_assert_int_eq(boot_load_linux(&M, k, klen, initrd, ilen, CMDLINE,
	    RSDP, &bi, err, sizeof(err)), 0);
	ck_assert_uint_eq(bi.initrd_gpa % 4096, 0);
	ck_assert_uint_le(bi.initrd_gpa + ilen - 1, max);
	ck_assert_uint_gt(bi.initrd_gpa + ilen, max + 1 - 4096);
	ck_assert_uint_eq(rd(zp + H_RAMDISK_IMAGE, 4), bi.initrd_gpa);
	ck_assert_int_eq(memcmp(M.host + bi.initrd_gpa, initrd, ilen), 0);
	ck_assert_uint_eq(M.host[max + 1], SENTINEL);
	free(initrd);
	free(k);
}
END_TEST

/* The jump at 0x200 gives the header's length: copy no byte past it. */
START_TEST(test_header_length)
{
	struct boot_info bi;
	char err[256];
	size_t klen;
	uint8_t *k = make_kernel(&klen), *zp = M.host + GUEST_BOOT_PARAMS;

	/* A header that ends after init_size (2.10). */
	k[H_JUMP + 1] = H_HANDOVER - (H_JUMP + 2);
	ck_assert_int_eq(boot_load_linux(&M, k, klen, NULL, 0, CMDLINE, RSDP,
	    &bi, err, sizeof(err)), 0);
	ck_assert_uint_eq(rd(zp + H_INIT_SIZE, 4), INIT_SIZE);
	ck_assert_uint_eq(rd(zp + H_HANDOVER, 4), 0);
	ck_assert_uint_eq(rd(zp + H_KERNEL_INFO, 4), 0);

	/* A jump far past the header copies the 2.15 header only. */
	k[H_JUMP + 1] = 0x7f;
	memset(M.host, SENTINEL, MEM_SIZE);
	ck_assert_int_eq(boot_load_linux(&M, k, klen, NULL, 0, CMDLINE, RSDP,
	    &bi, err, sizeof(err)), 0);
	ck_assert_uint_eq(rd(zp + H_HANDOVER, 4), 0x190);
	ck_assert_uint_eq(rd(zp + H_KERNEL_INFO, 4), 0x12340);
	ck_assert_uint_eq(zp[H_END_2_15], 0);
	free(k);
}
END_TEST

/* A command line of exactly cmdline_size bytes is accepted. */
START_TEST(test_cmdline_limit)
{
	struct boot_info bi;
	char err[256], cl[17];
	size_t klen;
	uint8_t *k = make_kernel(&klen);

	memset(cl, 'x', 16);
	cl[16] = '\0';
	wr(k + H_CMDLINE_SIZE, 4, 16);
	ck_assert_int_eq(boot_load_linux(&M, k, klen, NULL, 0, cl, RSDP, &bi,
	    err, sizeof(err)), 0);
	ck_assert_str_eq((const char *)M.host + GUEST_CMDLINE, cl);
	free(k);
}
END_TEST

/* Above 3 GiB: a fifth e820 entry, RAM at 4 GiB, the same tables. */
START_TEST(test_load_high_mem)
{
	const uint64_t size = 3 * GIB + 512 * MIB;
	const size_t ilen = 64 * KIB + 1;
	struct guest_mem m;
	struct boot_info bi;
	char err[256];
	size_t klen;
	uint8_t *k = make_kernel(&klen), *initrd = make_initrd(ilen), *zp;

	guest_mem_layout(&m, size);
	m.host = sparse_map(size);
	ck_assert_int_eq(boot_load_linux(&m, k, klen, initrd, ilen, CMDLINE,
	    RSDP, &bi, err, sizeof(err)), 0);
	zp = m.host + GUEST_BOOT_PARAMS;
	ck_assert_uint_eq(zp[ZP_E820_ENTRIES], 5);
	ck_assert_uint_eq(rd(zp + ZP_E820_TABLE + 4 * ZP_E820_ENTRY, 8),
	    GUEST_4G);
	ck_assert_uint_eq(rd(zp + ZP_E820_TABLE + 4 * ZP_E820_ENTRY + 8, 8),
	    512 * MIB);
	ck_assert_uint_eq(rd(zp + ZP_E820_TABLE + 3 * ZP_E820_ENTRY + 8, 8),
	    3 * GIB - GUEST_HIGH_MEM);
	check_zp_e820(&m, zp);
	ck_assert_int_eq(memcmp(m.host + GUEST_HIGH_MEM, k + SETUP_SIZE,
	    PM_SIZE), 0);
	/* Below the kernel's initrd_addr_max although RAM goes higher. */
	ck_assert_uint_le(bi.initrd_gpa + ilen - 1, INITRD_MAX);
	ck_assert_uint_gt(bi.initrd_gpa + ilen, INITRD_MAX + 1 - 4096);
	ck_assert_int_eq(memcmp(m.host + bi.initrd_gpa, initrd, ilen), 0);
	check_tables(m.host);
	munmap(m.host, size);
	free(initrd);
	free(k);
}
END_TEST

/* One refused load: what to break, and the error it must give. */
struct job {
	uint8_t *k;
	size_t klen;
	size_t ilen;
	const char *cmdline;
	uint64_t mem;
};

struct refusal {
	const char *what;
	int want;
	void (*breakit)(struct job *j);
};

static void
no_boot_flag(struct job *j)
{
	wr(j->k + H_BOOT_FLAG, 2, 0x55aa);
}

static void
no_hdrs(struct job *j)
{
	memcpy(j->k + H_HEADER, "HdrT", 4);
}

static void
tiny_file(struct job *j)
{
	j->klen = 0x2ff;
}

static void
protocol_2_11(struct job *j)
{
	wr(j->k + H_VERSION, 2, 0x020b);
}

static void
no_xlf_kernel_64(struct job *j)
{
	wr(j->k + H_XLOADFLAGS, 2, XLF_CAN_BE_LOADED_ABOVE_4G);
}

static void
not_loaded_high(struct job *j)
{
	j->k[H_LOADFLAGS] = 0;
}

static void
truncated_payload(struct job *j)
{
	j->klen -= 16;
}

static void
truncated_setup(struct job *j)
{
	/* 64 sectors of setup: longer than the whole file. */
	j->k[H_SETUP_SECTS] = 63;
	wr(j->k + H_SYSSIZE, 4, 0);
}

static void
init_size_too_big(struct job *j)
{
	wr(j->k + H_INIT_SIZE, 4, MEM_SIZE);
}

static void
initrd_too_big(struct job *j)
{
	j->ilen = 60 * MIB;
}

static void
initrd_max_below_kernel(struct job *j)
{
	wr(j->k + H_INITRD_ADDR_MAX, 4, GUEST_HIGH_MEM + INIT_SIZE - 1);
}

static void
cmdline_over_limit(struct job *j)
{
	wr(j->k + H_CMDLINE_SIZE, 4, 16);
	j->cmdline = "xxxxxxxxxxxxxxxxx";	/* 17 */
}

static char huge_cmdline[GUEST_CMDLINE_MAX + 1];

static void
cmdline_over_64k(struct job *j)
{
	memset(huge_cmdline, 'y', GUEST_CMDLINE_MAX);
	huge_cmdline[GUEST_CMDLINE_MAX] = '\0';
	wr(j->k + H_CMDLINE_SIZE, 4, 0x7fffffff);
	j->cmdline = huge_cmdline;
}

static void
memory_too_small(struct job *j)
{
	j->mem = 16 * MIB;
}

static const struct refusal refusals[] = {
	{ "no boot flag", -EINVAL, no_boot_flag },
	{ "no HdrS", -EINVAL, no_hdrs },
	{ "shorter than a header", -EINVAL, tiny_file },
	{ "protocol 2.11", -EINVAL, protocol_2_11 },
	{ "no XLF_KERNEL_64", -EINVAL, no_xlf_kernel_64 },
	{ "not LOADED_HIGH", -EINVAL, not_loaded_high },
	{ "payload shorter than syssize", -EINVAL, truncated_payload },
	{ "setup longer than the file", -EINVAL, truncated_setup },
	{ "init_size beyond RAM", -ENOMEM, init_size_too_big },
	{ "initrd larger than free RAM", -ENOMEM, initrd_too_big },
	{ "initrd_addr_max below the kernel", -ENOMEM,
	    initrd_max_below_kernel },
	{ "command line over cmdline_size", -E2BIG, cmdline_over_limit },
	{ "command line over 64 KiB", -E2BIG, cmdline_over_64k },
	{ "less than 32 MiB of RAM", -ENOMEM, memory_too_small },
};
#define NREFUSALS ((int)(sizeof(refusals) / sizeof(refusals[0])))

START_TEST(test_refused)
{
	const struct refusal *r = &refusals[_i];
	struct job j = { .ilen = 64 * KIB, .cmdline = CMDLINE,
	    .mem = MEM_SIZE };
	struct guest_mem m = M;
	struct boot_info bi;
	char err[256] = "";
	uint8_t *initrd;
	long long at;
	int ret;

	j.k = make_kernel(&j.klen);
	r->breakit(&j);
	initrd = make_initrd(j.ilen);
	guest_mem_layout(&m, j.mem);
	ret = boot_load_linux(&m, j.k, j.klen, initrd, j.ilen, j.cmdline,
	    RSDP, &bi, err, sizeof(err));
	ck_assert_msg(ret == r->want, "%s: returned %d, not %d (%s)", r->what,
	    ret, r->want, err);
	ck_assert_msg(err[0] != '\0', "%s: no reason given", r->what);
	ck_assert_msg(strchr(err, '\n') == NULL, "%s: '%s' is not one line",
	    r->what, err);
	at = first_written();
	ck_assert_msg(at < 0, "%s: guest memory written at %#llx", r->what,
	    at);
	free(initrd);
	free(j.k);
}
END_TEST

static Suite *
boot_suite(void)
{
	Suite *s = suite_create("boot");
	TCase *tc;

	tc = tcase_create("layout");
	tcase_add_test(tc, test_layout_low);
	tcase_add_test(tc, test_layout_3g);
	tcase_add_test(tc, test_layout_high);
	tcase_add_loop_test(tc, test_e820, 0, NE820);
	tcase_add_test(tc, test_e820_enospc);
	suite_add_tcase(s, tc);

	tc = tcase_create("load");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, mem_setup, mem_teardown);
	tcase_add_test(tc, test_load);
	tcase_add_test(tc, test_load_no_initrd);
	tcase_add_test(tc, test_initrd_addr_max);
	tcase_add_test(tc, test_header_length);
	tcase_add_test(tc, test_cmdline_limit);
	tcase_add_test(tc, test_load_high_mem);
	tcase_add_loop_test(tc, test_refused, 0, NREFUSALS);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(boot_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
