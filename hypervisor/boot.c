/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "boot.h"
#include "layout.h"

#define MIB		(1024ULL * 1024)
#define HDRS_MAGIC	0x53726448	/* "HdrS" */
#define MIN_PROTOCOL	0x020c		/* 2.12: xloadflags, 64-bit entry */
#define ENTRY64_OFFSET	0x200		/* startup_64 from the load address */

/* Page-table entry bits. */
#define PTE_P		0x1ULL
#define PTE_RW		0x2ULL
#define PTE_PS		0x80ULL

void
guest_mem_layout(struct guest_mem *m, uint64_t size)
{
	m->size = size;
	m->low = size < GUEST_PCI_HOLE ? size : GUEST_PCI_HOLE;
}

void *
guest_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	uint64_t high = m->size - m->low;

	if (len > m->size)
		return NULL;
	if (gpa < m->low && len <= m->low - gpa)
		return m->host + gpa;
	if (gpa >= GUEST_4G && gpa - GUEST_4G < high &&
	    len <= high - (gpa - GUEST_4G))
		return m->host + m->low + (gpa - GUEST_4G);
	return NULL;
}

static int
e820_add(struct boot_e820_entry *tab, int n, int max, uint64_t addr,
    uint64_t size, uint32_t type)
{
	if (n < 0 || size == 0)
		return n;
	if (n == max)
		return -ENOSPC;
	tab[n].addr = addr;
	tab[n].size = size;
	tab[n].type = type;
	return n + 1;
}

int
boot_e820(const struct guest_mem *m, struct boot_e820_entry *tab, int max)
{
	int n = 0;

	n = e820_add(tab, n, max, 0, GUEST_EBDA_START, 1);
	n = e820_add(tab, n, max, GUEST_EBDA_START, 0xa0000 - GUEST_EBDA_START,
	    2);
	n = e820_add(tab, n, max, GUEST_ACPI_START, GUEST_HIGH_MEM -
	    GUEST_ACPI_START, 2);
	n = e820_add(tab, n, max, GUEST_HIGH_MEM, m->low - GUEST_HIGH_MEM, 1);
	n = e820_add(tab, n, max, GUEST_4G, m->size - m->low, 1);
	return n;
}

static int
boot_err(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

/* Identity-maps the first 4 GiB with 2 MiB pages, and a flat GDT. */
static void
boot_page_tables(const struct guest_mem *m)
{
	uint64_t *pml4 = guest_ptr(m, GUEST_PML4, 4096);
	uint64_t *pdpt = guest_ptr(m, GUEST_PDPT, 4096);
	uint64_t *pd = guest_ptr(m, GUEST_PD, 4 * 4096);
	uint64_t *gdt = guest_ptr(m, GUEST_GDT, 4 * 8);

	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = GUEST_PDPT | PTE_P | PTE_RW;
	for (int i = 0; i < 4; i++)
		pdpt[i] = (GUEST_PD + 4096ULL * i) | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_P | PTE_RW | PTE_PS;
	gdt[0] = 0;
	gdt[1] = 0;
	gdt[BOOT_CS / 8] = 0x00af9b000000ffffULL;	/* 64-bit code */
	gdt[BOOT_DS / 8] = 0x00cf93000000ffffULL;	/* flat data */
}

int
boot_load_linux(const struct guest_mem *m, const void *kernel, size_t klen,
    const void *initrd, size_t ilen, const char *cmdline, uint64_t rsdp,
    struct boot_info *bi, char *err, size_t errlen)
{
	const uint8_t *k = kernel;
	struct setup_header hdr;
	struct boot_params *zp;
	size_t hdr_end, setup_size, pm_size, clen;
	uint64_t top, initrd_max, gpa;
	void *dst, *cl;
	int n;

	if (m->low < 32 * MIB)
		return boot_err(err, errlen, -ENOMEM,
		    "at least 32 MiB of memory are needed");
	if (klen < 0x300)
		return boot_err(err, errlen, -EINVAL,
		    "not a bzImage: only %zu bytes", klen);
	memcpy(&hdr, k + 0x1f1, sizeof(hdr) < klen - 0x1f1 ? sizeof(hdr) :
	    klen - 0x1f1);
	if (hdr.boot_flag != 0xaa55 || hdr.header != HDRS_MAGIC)
		return boot_err(err, errlen, -EINVAL,
		    "not a bzImage (no boot signature or 'HdrS' header)");
	if (hdr.version < MIN_PROTOCOL)
		return boot_err(err, errlen, -EINVAL,
		    "boot protocol %u.%02u is too old (2.12 is needed)",
		    hdr.version >> 8, hdr.version & 0xff);
	if (!(hdr.xloadflags & XLF_KERNEL_64) || !(hdr.loadflags & LOADED_HIGH))
		return boot_err(err, errlen, -EINVAL,
		    "the kernel has no 64-bit entry point");
	setup_size = ((size_t)(hdr.setup_sects ? hdr.setup_sects : 4) + 1) *
	    512;
	/* The header's own length: the jump at 0x200 skips over it. */
	hdr_end = 0x202 + k[0x201];
	if (hdr_end > setup_size || hdr_end > sizeof(zp->hdr) + 0x1f1)
		hdr_end = 0x1f1 + sizeof(zp->hdr);
	if (klen < setup_size || klen - setup_size < (size_t)hdr.syssize * 16)
		return boot_err(err, errlen, -EINVAL,
		    "truncated: %zu bytes, its header needs %zu", klen,
		    setup_size + (size_t)hdr.syssize * 16);
	pm_size = klen - setup_size;
	bi->kernel_end = GUEST_HIGH_MEM + (hdr.init_size > pm_size ?
	    hdr.init_size : pm_size);
	if (bi->kernel_end > m->low)
		return boot_err(err, errlen, -ENOMEM,
		    "the kernel needs %llu MiB to decompress, the VM has %llu MiB "
		    "below 4 GiB", (unsigned long long)(bi->kernel_end / MIB + 1),
		    (unsigned long long)(m->low / MIB));
	clen = strlen(cmdline) + 1;
	if (clen > GUEST_CMDLINE_MAX || (hdr.cmdline_size && clen - 1 >
	    hdr.cmdline_size))
		return boot_err(err, errlen, -E2BIG,
		    "command line of %zu bytes is longer than the kernel's "
		    "limit of %u", clen - 1, hdr.cmdline_size);

	gpa = 0;
	if (initrd != NULL && ilen > 0) {
		/* Highest page-aligned spot below the kernel's limit. */
		initrd_max = hdr.initrd_addr_max ? (uint64_t)hdr.initrd_addr_max
		    + 1 : 0x38000000ULL;
		if (hdr.xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G)
			initrd_max = m->low;
		top = m->low < initrd_max ? m->low : initrd_max;
		if (ilen > top || ((top - ilen) & ~0xfffULL) < bi->kernel_end)
			return boot_err(err, errlen, -ENOMEM,
			    "initrd of %zu KiB does not fit in memory beside the "
			    "kernel (%llu MiB usable below %llu MiB)",
			    ilen / 1024,
			    (unsigned long long)((top - bi->kernel_end) / MIB),
			    (unsigned long long)(top / MIB));
		gpa = (top - ilen) & ~0xfffULL;
	}

	/* Everything checked: only now write guest memory. */
	dst = guest_ptr(m, GUEST_HIGH_MEM, pm_size);
	zp = guest_ptr(m, GUEST_BOOT_PARAMS, sizeof(*zp));
	cl = guest_ptr(m, GUEST_CMDLINE, clen);
	if (dst == NULL || zp == NULL || cl == NULL)
		return boot_err(err, errlen, -ENOMEM, "memory too small");
	memcpy(dst, k + setup_size, pm_size);
	memcpy(cl, cmdline, clen);
	memset(zp, 0, sizeof(*zp));
	memcpy(&zp->hdr, k + 0x1f1, hdr_end - 0x1f1);
	zp->hdr.type_of_loader = 0xff;
	zp->hdr.loadflags |= CAN_USE_HEAP;
	zp->hdr.heap_end_ptr = 0xfe00;
	zp->hdr.cmd_line_ptr = GUEST_CMDLINE;
	zp->hdr.code32_start = GUEST_HIGH_MEM;
	zp->acpi_rsdp_addr = rsdp;

	bi->initrd_gpa = bi->initrd_size = 0;
	if (initrd != NULL && ilen > 0) {
		memcpy(guest_ptr(m, gpa, ilen), initrd, ilen);
		bi->initrd_gpa = gpa;
		bi->initrd_size = ilen;
		zp->hdr.ramdisk_image = (uint32_t)gpa;
		zp->hdr.ramdisk_size = (uint32_t)ilen;
		zp->ext_ramdisk_image = (uint32_t)(gpa >> 32);
		zp->ext_ramdisk_size = (uint32_t)((uint64_t)ilen >> 32);
	}
	n = boot_e820(m, zp->e820_table, E820_MAX_ENTRIES_ZEROPAGE);
	if (n < 0)
		return boot_err(err, errlen, n, "e820 map overflow");
	zp->e820_entries = (uint8_t)n;

	boot_page_tables(m);
	bi->entry = GUEST_HIGH_MEM + ENTRY64_OFFSET;
	bi->zero_page = GUEST_BOOT_PARAMS;
	bi->stack = GUEST_BOOT_STACK;
	return 0;
}
