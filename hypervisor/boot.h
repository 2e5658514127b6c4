/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Linux x86 boot protocol (Documentation/arch/x86/boot.rst): loads a
 * bzImage for its 64-bit entry point, with zero page, command line,
 * initrd, e820 map, identity page tables and a flat GDT.  Pure functions
 * over a guest memory buffer, so they are testable without KVM.
 */
#ifndef CUPULE_BOOT_H
#define CUPULE_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include <asm/bootparam.h>

/* Guest RAM as one host buffer: [0, low) at gpa 0, the rest at 4 GiB. */
struct guest_mem {
	uint8_t *host;
	uint64_t size;		/* all RAM */
	uint64_t low;		/* RAM below the PCI hole */
};

struct boot_info {
	uint64_t entry;		/* 64-bit entry: RIP */
	uint64_t zero_page;	/* RSI */
	uint64_t stack;		/* RSP */
	uint64_t kernel_end;	/* first byte above the decompression area */
	uint64_t initrd_gpa;
	uint64_t initrd_size;
};

/* Splits size bytes of RAM into low and high parts around the PCI hole. */
void guest_mem_layout(struct guest_mem *m, uint64_t size);

/* Returns the host address of [gpa, gpa+len) if all RAM, else NULL. */
void *guest_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/*
 * Writes the e820 map for m into tab (at most max entries).  Returns the
 * number of entries, or -ENOSPC.
 */
int boot_e820(const struct guest_mem *m, struct boot_e820_entry *tab,
    int max);

/*
 * Loads kernel (a bzImage of klen bytes), initrd (may be NULL) and
 * cmdline into guest memory, with the zero page pointing at the ACPI
 * RSDP at rsdp.  Fills bi.  Returns 0, or -EINVAL / -E2BIG / -ENOMEM
 * with a one-line reason in err.
 */
int boot_load_linux(const struct guest_mem *m, const void *kernel,
    size_t klen, const void *initrd, size_t ilen, const char *cmdline,
    uint64_t rsdp, struct boot_info *bi, char *err, size_t errlen);

/* GDT selectors the 64-bit entry runs with. */
#define BOOT_CS		0x10
#define BOOT_DS		0x18

#endif
