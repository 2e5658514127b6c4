/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the guest ACPI tables: structure and checksums, FADT
 * fields at their spec offsets, the MADT CPU list, the AML names, buffer
 * bounds, and (when iasl is installed) a full disassembly by ACPICA.
 *
 * Field offsets are written out here from the spec on purpose instead of
 * shared with acpi.c, so that a wrong offset there cannot hide.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acpi.h"
#include "layout.h"

static const int ncpus_cases[] = { 1, 2, 64, 255 };
#define NCASES ((int)(sizeof(ncpus_cases) / sizeof(ncpus_cases[0])))

static uint64_t rd(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static struct acpi_cfg cfg_for(int ncpus)
{
	struct acpi_cfg c = {
		.ncpus = ncpus,
		.lapic_addr = GUEST_LAPIC_BASE,
		.ioapic_addr = GUEST_IOAPIC_BASE,
		.ioapic_id = (uint8_t)ncpus,
		.pm1a_evt_port = PORT_PM1A_EVT,
		.pm1a_cnt_port = PORT_PM1A_CNT,
		.reset_port = PORT_RESET,
		.sci_irq = SCI_IRQ,
		.s5_slp_typ = ACPI_S5_SLP_TYP,
		.pci_mmio_start = GUEST_PCI_MMIO_START,
		.pci_mmio_end = GUEST_PCI_MMIO_END,
	};
	return c;
}

/* Tables built at the VM's real address, with pointers into them. */
struct tables {
	uint8_t buf[GUEST_ACPI_SIZE];
	long used;
	struct acpi_cfg cfg;
	const uint8_t *rsdp, *xsdt, *rsdt, *fadt, *madt, *dsdt, *facs;
};

static struct tables *T;

/* Returns the table at guest address a after checking it lies in buf. */
static const uint8_t *at_gpa(uint64_t a, size_t min_len)
{
	ck_assert_uint_ge(a, GUEST_ACPI_START);
	ck_assert_uint_le(a - GUEST_ACPI_START + min_len, (uint64_t)T->used);
	return T->buf + (a - GUEST_ACPI_START);
}

/* Checks the common header of a checksummed table and returns its length. */
static uint32_t check_table(const uint8_t *t, const char *sig)
{
	uint32_t len = (uint32_t)rd(t + 4, 4);

	ck_assert_msg(memcmp(t, sig, 4) == 0, "signature %.4s != %s", t, sig);
	ck_assert_uint_ge(len, 36);
	ck_assert_uint_le((size_t)(t - T->buf) + len, (uint64_t)T->used);
	ck_assert_msg(acpi_sum(t, len) == 0, "%s checksum", sig);
	return len;
}

static void build(int ncpus)
{
	T = calloc(1, sizeof(*T));
	ck_assert_ptr_nonnull(T);
	T->cfg = cfg_for(ncpus);
	T->used = acpi_build(T->buf, GUEST_ACPI_START, sizeof(T->buf), &T->cfg);
	ck_assert_int_gt(T->used, 0);

	T->rsdp = T->buf;
	T->xsdt = at_gpa(rd(T->rsdp + 24, 8), 36);
	T->rsdt = at_gpa(rd(T->rsdp + 16, 4), 36);
	for (uint32_t i = 36; i < rd(T->xsdt + 4, 4); i += 8) {
		const uint8_t *t = at_gpa(rd(T->xsdt + i, 8), 36);

		if (memcmp(t, "FACP", 4) == 0)
			T->fadt = t;
		else if (memcmp(t, "APIC", 4) == 0)
			T->madt = t;
	}
	ck_assert_ptr_nonnull(T->fadt);
	ck_assert_ptr_nonnull(T->madt);
	T->dsdt = at_gpa(rd(T->fadt + 140, 8), 36);
	T->facs = at_gpa(rd(T->fadt + 132, 8), 64);
}

static void unbuild(void)
{
	free(T);
	T = NULL;
}

START_TEST(test_rsdp)
{
	build(ncpus_cases[_i]);
	ck_assert_mem_eq(T->rsdp, "RSD PTR ", 8);
	ck_assert_uint_eq(acpi_sum(T->rsdp, 20), 0);
	ck_assert_uint_eq(T->rsdp[15], 2);
	ck_assert_uint_eq(rd(T->rsdp + 20, 4), 36);
	ck_assert_uint_eq(acpi_sum(T->rsdp, 36), 0);
	ck_assert_uint_ne(rd(T->rsdp + 24, 8), 0);
	unbuild();
}
END_TEST

START_TEST(test_checksums)
{
	uint32_t xlen, rlen;

	build(ncpus_cases[_i]);
	xlen = check_table(T->xsdt, "XSDT");
	rlen = check_table(T->rsdt, "RSDT");
	ck_assert_uint_eq((xlen - 36) / 8, (rlen - 36) / 4);
	for (uint32_t i = 0; i < (xlen - 36) / 8; i++)
		ck_assert_uint_eq(rd(T->xsdt + 36 + 8 * i, 8),
		    rd(T->rsdt + 36 + 4 * i, 4));
	ck_assert_uint_eq(check_table(T->fadt, "FACP"), 276);
	ck_assert_uint_eq(T->fadt[8], 6);
	check_table(T->madt, "APIC");
	check_table(T->dsdt, "DSDT");
	/* The FACS has no checksum field: signature and length only. */
	ck_assert_mem_eq(T->facs, "FACS", 4);
	ck_assert_uint_eq(rd(T->facs + 4, 4), 64);
	ck_assert_uint_eq(rd(T->fadt + 132, 8) % 64, 0);
	unbuild();
}
END_TEST

START_TEST(test_fadt_fields)
{
	const uint8_t *f;
	uint64_t dsdt_gpa;

	build(ncpus_cases[_i]);
	f = T->fadt;
	dsdt_gpa = GUEST_ACPI_START + (uint64_t)(T->dsdt - T->buf);

	ck_assert_uint_eq(rd(f + 36, 4), rd(f + 132, 8));	/* FACS */
	ck_assert_uint_eq(rd(f + 40, 4), dsdt_gpa);		/* DSDT */
	ck_assert_uint_eq(rd(f + 140, 8), dsdt_gpa);		/* X_DSDT */
	ck_assert_uint_eq(rd(f + 46, 2), SCI_IRQ);
	ck_assert_uint_eq(rd(f + 48, 4), 0);			/* SMI_CMD */
	ck_assert_uint_eq(rd(f + 56, 4), PORT_PM1A_EVT);
	ck_assert_uint_eq(rd(f + 60, 4), 0);			/* PM1b */
	ck_assert_uint_eq(rd(f + 64, 4), PORT_PM1A_CNT);
	ck_assert_uint_eq(rd(f + 76, 4), 0);			/* PM_TMR */
	ck_assert_uint_eq(f[88], PM1_EVT_LEN);
	ck_assert_uint_eq(f[89], PM1_CNT_LEN);
	ck_assert_uint_eq(f[91], 0);				/* PM_TMR_LEN */
	ck_assert_uint_eq(rd(f + 109, 2) & 1, 1);		/* legacy devs */
	ck_assert_uint_eq(rd(f + 112, 4) & (1u << 10), 1u << 10);
	ck_assert_uint_eq(rd(f + 112, 4) & (1u << 20), 0);	/* not HW-red. */

	/* RESET_REG: system I/O, 8 bits, at the reset port; value 6 */
	ck_assert_uint_eq(f[116], 1);
	ck_assert_uint_eq(f[117], 8);
	ck_assert_uint_eq(f[118], 0);
	ck_assert_uint_eq(rd(f + 120, 8), PORT_RESET);
	ck_assert_uint_eq(f[128], 0x06);

	/* X_PM1a_EVT_BLK and X_PM1a_CNT_BLK */
	ck_assert_uint_eq(f[148], 1);
	ck_assert_uint_eq(f[149], PM1_EVT_LEN * 8);
	ck_assert_uint_eq(rd(f + 152, 8), PORT_PM1A_EVT);
	ck_assert_uint_eq(f[172], 1);
	ck_assert_uint_eq(f[173], PM1_CNT_LEN * 8);
	ck_assert_uint_eq(rd(f + 176, 8), PORT_PM1A_CNT);
	unbuild();
}
END_TEST

START_TEST(test_madt)
{
	int n = ncpus_cases[_i];
	uint32_t len, off;
	int lapics = 0, ioapics = 0, isos = 0;
	uint8_t seen[256] = { 0 };

	build(n);
	len = (uint32_t)rd(T->madt + 4, 4);
	ck_assert_uint_eq(rd(T->madt + 36, 4), GUEST_LAPIC_BASE);
	ck_assert_uint_eq(rd(T->madt + 40, 4) & 1, 1);	/* PCAT_COMPAT */

	for (off = 44; off < len; off += T->madt[off + 1]) {
		const uint8_t *e = T->madt + off;

		ck_assert_uint_ge(e[1], 2);
		ck_assert_uint_le(off + e[1], len);
		switch (e[0]) {
		case 0:
			ck_assert_uint_eq(e[1], 8);
			ck_assert_uint_eq(rd(e + 4, 4) & 1, 1);
			ck_assert_int_lt(e[3], n);
			ck_assert_uint_eq(seen[e[3]], 0);
			seen[e[3]] = 1;
			lapics++;
			break;
		case 1:
			ck_assert_uint_eq(e[1], 12);
			ck_assert_uint_eq(e[2], T->cfg.ioapic_id);
			ck_assert_uint_eq(rd(e + 4, 4), GUEST_IOAPIC_BASE);
			ck_assert_uint_eq(rd(e + 8, 4), 0);
			ioapics++;
			break;
		case 2:
			ck_assert_uint_eq(e[1], 10);
			if (e[3] == 0) {
				ck_assert_uint_eq(rd(e + 4, 4), 2);
				ck_assert_uint_eq(rd(e + 8, 2) & 0xc, 0x4);
			} else {
				ck_assert_uint_eq(e[3], SCI_IRQ);
				ck_assert_uint_eq(rd(e + 4, 4), SCI_IRQ);
				ck_assert_uint_eq(rd(e + 8, 2), 0xd);
			}
			isos++;
			break;
		}
	}
	ck_assert_uint_eq(off, len);
	ck_assert_int_eq(lapics, n);
	ck_assert_int_eq(ioapics, 1);
	ck_assert_int_eq(isos, 2);
	unbuild();
}
END_TEST

START_TEST(test_dsdt_names)
{
	uint32_t len;
	static const uint8_t s5[] = { 0x08, '\\', '_', 'S', '5', '_' };

	build(ncpus_cases[_i]);
	len = (uint32_t)rd(T->dsdt + 4, 4);
	ck_assert_ptr_nonnull(memmem(T->dsdt, len, s5, sizeof(s5)));
	ck_assert_ptr_nonnull(memmem(T->dsdt, len, "PCI0", 4));
	ck_assert_ptr_nonnull(memmem(T->dsdt, len, "_PRT", 4));
	ck_assert_ptr_nonnull(memmem(T->dsdt, len, "_CRS", 4));
	unbuild();
}
END_TEST

/* A short buffer with a guard after it: nothing may be written at all. */
START_TEST(test_enospc)
{
	struct acpi_cfg c = cfg_for(ncpus_cases[_i]);
	enum { GUARD = 4096 };
	uint8_t *big = malloc(GUEST_ACPI_SIZE + GUARD);
	long need;
	size_t lens[4];

	ck_assert_ptr_nonnull(big);
	need = acpi_build(big, GUEST_ACPI_START, GUEST_ACPI_SIZE, &c);
	ck_assert_int_gt(need, 0);
	lens[0] = 0;
	lens[1] = 36;
	lens[2] = (size_t)need / 2;
	lens[3] = (size_t)need - 1;
	for (int i = 0; i < 4; i++) {
		memset(big, 0xa5, GUEST_ACPI_SIZE + GUARD);
		ck_assert_int_eq(acpi_build(big, GUEST_ACPI_START, lens[i], &c),
		    -ENOSPC);
		for (size_t j = 0; j < GUEST_ACPI_SIZE + GUARD; j++)
			ck_assert_msg(big[j] == 0xa5, "len %zu: byte %zu written",
			    lens[i], j);
	}

	/* Exactly enough, in a heap block of exactly that size for ASan. */
	free(big);
	big = malloc((size_t)need);
	ck_assert_ptr_nonnull(big);
	ck_assert_int_eq(acpi_build(big, GUEST_ACPI_START, (size_t)need, &c),
	    need);
	free(big);
}
END_TEST

START_TEST(test_einval)
{
	static uint8_t buf[GUEST_ACPI_SIZE];
	struct acpi_cfg c;

	c = cfg_for(0);
	ck_assert_int_eq(acpi_build(buf, GUEST_ACPI_START, sizeof(buf), &c),
	    -EINVAL);
	c = cfg_for(4);
	c.ncpus = 256;
	ck_assert_int_eq(acpi_build(buf, GUEST_ACPI_START, sizeof(buf), &c),
	    -EINVAL);
	c = cfg_for(4);
	c.ioapic_id = 3;		/* same as a local APIC */
	ck_assert_int_eq(acpi_build(buf, GUEST_ACPI_START, sizeof(buf), &c),
	    -EINVAL);
	c = cfg_for(4);
	c.s5_slp_typ = 8;
	ck_assert_int_eq(acpi_build(buf, GUEST_ACPI_START, sizeof(buf), &c),
	    -EINVAL);
	c = cfg_for(4);
	c.pci_mmio_end = c.pci_mmio_start - 1;
	ck_assert_int_eq(acpi_build(buf, GUEST_ACPI_START, sizeof(buf), &c),
	    -EINVAL);
	c = cfg_for(4);
	c.lapic_addr = GUEST_4G;
	ck_assert_int_eq(acpi_build(buf, GUEST_ACPI_START, sizeof(buf), &c),
	    -EINVAL);
	c = cfg_for(4);
	ck_assert_int_eq(acpi_build(buf, GUEST_ACPI_START + 8, sizeof(buf), &c),
	    -EINVAL);
	ck_assert_int_eq(acpi_build(buf, GUEST_4G, sizeof(buf), &c), -EINVAL);
	ck_assert_int_eq(acpi_build(buf, GUEST_ACPI_START, sizeof(buf), NULL),
	    -EINVAL);
	ck_assert_int_gt(acpi_build(buf, GUEST_ACPI_START, sizeof(buf), &c), 0);
}
END_TEST

/* The tables do not depend on where in guest memory they are placed. */
START_TEST(test_other_gpa)
{
	static uint8_t buf[GUEST_ACPI_SIZE];
	struct acpi_cfg c = cfg_for(2);
	uint64_t gpa = 0x80010;			/* 16- but not 64-aligned */
	uint64_t facs;

	ck_assert_int_gt(acpi_build(buf, gpa, sizeof(buf), &c), 0);
	ck_assert_uint_eq(acpi_sum(buf, 36), 0);
	for (uint64_t x = rd(buf + 24, 8) - gpa, i = 36;
	    i < rd(buf + x + 4, 4); i += 8) {
		const uint8_t *t = buf + (rd(buf + x + i, 8) - gpa);

		if (memcmp(t, "FACP", 4) != 0)
			continue;
		facs = rd(t + 132, 8);
		ck_assert_uint_eq(facs % 64, 0);
		ck_assert_mem_eq(buf + (facs - gpa), "FACS", 4);
		return;
	}
	ck_abort_msg("no FADT");
}
END_TEST

static int iasl_present(void)
{
	return system("command -v iasl >/dev/null 2>&1") == 0;
}

static void write_file(const char *dir, const char *name, const void *p,
    size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(p, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

/* Returns the whole file as a NUL-terminated string; the caller frees it. */
static char *read_file(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;
	char *s;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	s = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = '\0';
	fclose(f);
	return s;
}

static void remove_dir(const char *dir)
{
	char path[4096];
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/*
 * True when an iasl log holds no diagnostic.  Diagnostics are the lines
 * that mention Warning or Error ("Firmware Warning (ACPI): Incorrect
 * checksum ...", "Warning  3073 - ..."), except the compiler's summary,
 * which must then count none of either.
 */
static int iasl_log_clean(const char *log)
{
	const char *line = log;

	while (*line != '\0') {
		const char *end = strchrnul(line, '\n');
		char buf[512];
		size_t n = (size_t)(end - line);

		snprintf(buf, sizeof(buf), "%.*s", (int)n, line);
		if (strstr(buf, "Compilation successful") != NULL) {
			if (strstr(buf, " 0 Errors, 0 Warnings") == NULL)
				return 0;
		} else if (strstr(buf, "Warning") != NULL ||
		    strstr(buf, "Error") != NULL) {
			return 0;
		}
		line = *end != '\0' ? end + 1 : end;
	}
	return 1;
}

/* Runs iasl on one file in dir and fails the test on any diagnostic. */
static char *iasl(const char *dir, const char *args, const char *file,
    const char *out)
{
	char cmd[8192];
	char *log;
	int rc;

	snprintf(cmd, sizeof(cmd), "cd '%s' && iasl %s %s >iasl.log 2>&1",
	    dir, args, file);
	rc = system(cmd);
	log = read_file(dir, "iasl.log");
	/* Check caps the size of a message: only the log's start fits */
	ck_assert_msg(rc == 0, "iasl %s %s failed:\n%.2000s", args, file, log);
	ck_assert_msg(iasl_log_clean(log), "iasl %s %s:\n%.2000s", args, file,
	    log);
	free(log);
	return read_file(dir, out);
}

/*
 * The scratch directory is made and removed in the parent process, so a
 * failing test (which exits its forked child early) leaves nothing behind.
 */
static char iasl_dir[] = "/tmp/check_acpi.XXXXXX";

static void iasl_setup(void)
{
	if (mkdtemp(iasl_dir) == NULL) {
		perror("check_acpi: mkdtemp");
		exit(EXIT_FAILURE);
	}
}

static void iasl_teardown(void)
{
	remove_dir(iasl_dir);
}

START_TEST(test_iasl)
{
	const char *dir = iasl_dir;
	struct {
		const char *name, *dsl;
		const uint8_t *t;
		size_t len;
	} files[] = {
		{ "dsdt.dat", "dsdt.dsl", NULL, 0 },
		{ "facp.dat", "facp.dsl", NULL, 0 },
		{ "apic.dat", "apic.dsl", NULL, 0 },
		{ "facs.dat", "facs.dsl", NULL, 64 },
		{ "xsdt.dat", "xsdt.dsl", NULL, 0 },
		{ "rsdt.dat", "rsdt.dsl", NULL, 0 },
	};
	char *dsl;

	build(ncpus_cases[_i]);
	files[0].t = T->dsdt;
	files[1].t = T->fadt;
	files[2].t = T->madt;
	files[3].t = T->facs;
	files[4].t = T->xsdt;
	files[5].t = T->rsdt;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		size_t n = files[i].len ? files[i].len : rd(files[i].t + 4, 4);

		write_file(dir, files[i].name, files[i].t, n);
		dsl = iasl(dir, "-d", files[i].name, files[i].dsl);
		if (i == 0) {
			/*
			 * iasl shows a malformed resource template as a plain
			 * Buffer without a warning: look for each descriptor.
			 */
			static const char *const want[] = {
				"_S5", "PNP0A03", "_PRT", "PNP0501",
				"WordBusNumber (", "IO (Decode16", "WordIO (",
				"DWordMemory (", "0xFEBFFFFF", "IRQNoFlags ()",
			};

			size_t nwant = sizeof(want) / sizeof(want[0]);

			for (size_t j = 0; j < nwant; j++) {
				if (strstr(dsl, want[j]) == NULL)
					fputs(dsl, stderr);
				ck_assert_msg(strstr(dsl, want[j]) != NULL,
				    "no %s in the disassembly above", want[j]);
			}
		}
		free(dsl);
	}

	/* The DSDT must also survive a round trip through the compiler. */
	free(iasl(dir, "-p dsdt2", "dsdt.dsl", "dsdt2.aml"));
	unbuild();
}
END_TEST

static Suite *acpi_suite(void)
{
	Suite *s = suite_create("acpi");
	TCase *tc = tcase_create("tables");

	tcase_add_loop_test(tc, test_rsdp, 0, NCASES);
	tcase_add_loop_test(tc, test_checksums, 0, NCASES);
	tcase_add_loop_test(tc, test_fadt_fields, 0, NCASES);
	tcase_add_loop_test(tc, test_madt, 0, NCASES);
	tcase_add_loop_test(tc, test_dsdt_names, 0, NCASES);
	tcase_add_loop_test(tc, test_enospc, 0, NCASES);
	tcase_add_test(tc, test_einval);
	tcase_add_test(tc, test_other_gpa);
	suite_add_tcase(s, tc);

	tc = tcase_create("iasl");
	tcase_set_timeout(tc, 60);
	if (iasl_present()) {
		tcase_add_unchecked_fixture(tc, iasl_setup, iasl_teardown);
		tcase_add_loop_test(tc, test_iasl, 0, NCASES);
	} else {
		fprintf(stderr, "check_acpi: iasl not found (package "
		    "acpica-tools), skipping the disassembly test\n");
	}
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(acpi_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
