/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest ACPI tables.
 *
 * Layout, as offsets from gpa (every table 16-byte aligned in guest
 * physical memory, the FACS 64-byte aligned as the spec demands):
 *
 *   0x000  RSDP  36 bytes, filled in last
 *   0x040  FACS  64 bytes
 *   0x080  DSDT  AML: \_S5, \_SB.PCI0, \_SB.COM1
 *   ...    FADT  276 bytes (revision 6)
 *   ...    MADT  local APICs, IOAPIC, interrupt source overrides
 *   ...    XSDT  64-bit pointers to FADT and MADT
 *   ...    RSDT  the same with 32-bit pointers, for loaders that want it
 *
 * Tables are laid down in dependency order so that every pointer is
 * known when it is written; only the RSDP at the front waits until the
 * end.  acpi_build() runs the same code twice: once with no buffer to
 * measure, then for real, so that a buffer that is too small is never
 * touched at all.
 *
 * The DSDT is emitted by a tiny AML writer below rather than compiled
 * from ASL: the content depends on the configuration (MMIO window, sleep
 * type), no library emits AML, and the handful of opcodes needed does not
 * justify a build-time dependency on iasl plus patching of its output.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "acpi.h"
#include "layout.h"

#define OEM_ID		"CUPULE"	/* 6 bytes */
#define OEM_TABLE_ID	"CUPULEVM"	/* 8 bytes */
#define CREATOR_ID	"CUPL"		/* 4 bytes */

#define HDR_LEN		36
#define RSDP_LEN	36
#define RSDP_V1_LEN	20		/* what the first checksum covers */
#define FACS_LEN	64

/* FADT field offsets (ACPI 6.3, table 5-33). */
enum {
	FADT_FIRMWARE_CTRL	= 36,
	FADT_DSDT		= 40,
	FADT_SCI_INT		= 46,
	FADT_SMI_CMD		= 48,
	FADT_PM1A_EVT_BLK	= 56,
	FADT_PM1A_CNT_BLK	= 64,
	FADT_PM_TMR_BLK		= 76,
	FADT_PM1_EVT_LEN	= 88,
	FADT_PM1_CNT_LEN	= 89,
	FADT_P_LVL2_LAT		= 96,
	FADT_P_LVL3_LAT		= 98,
	FADT_IAPC_BOOT_ARCH	= 109,
	FADT_FLAGS		= 112,
	FADT_RESET_REG		= 116,
	FADT_RESET_VALUE	= 128,
	FADT_MINOR_VERSION	= 131,
	FADT_X_FIRMWARE_CTRL	= 132,
	FADT_X_DSDT		= 140,
	FADT_X_PM1A_EVT_BLK	= 148,
	FADT_X_PM1A_CNT_BLK	= 172,
	FADT_LEN		= 276,
};

#define FADT_WBINVD		(1u << 0)
#define FADT_PROC_C1		(1u << 2)	/* HLT works on every vCPU */
#define FADT_SLP_BUTTON		(1u << 5)	/* no fixed-feature sleep button */
#define FADT_FIX_RTC		(1u << 6)	/* no RTC_STS in PM1 */
#define FADT_RESET_REG_SUP	(1u << 10)
#define BOOT_ARCH_LEGACY_DEVICES (1u << 0)	/* ISA devices such as COM1 */

#define GAS_SYSTEM_IO		1
#define GAS_ACCESS_BYTE		1
#define GAS_ACCESS_WORD		2
#define RESET_VALUE		0x06	/* full reset through port 0xcf9 */

/* MADT entry types and flags. */
#define MADT_PCAT_COMPAT	1u	/* dual 8259s present (and masked) */
#define MADT_LAPIC		0
#define MADT_IOAPIC		1
#define MADT_ISO		2
#define MADT_LAPIC_ENABLED	1u
#define MPS_HIGH		0x1	/* MPS INTI flags: polarity bits 1:0 */
#define MPS_EDGE		0x4	/* trigger bits 3:2 */
#define MPS_LEVEL		0xc

/* AML opcodes and prefixes (ACPI 6.3, section 20). */
#define AML_ZERO		0x00
#define AML_ONE			0x01
#define AML_NAME		0x08
#define AML_BYTE		0x0a
#define AML_WORD		0x0b
#define AML_DWORD		0x0c
#define AML_QWORD		0x0e
#define AML_SCOPE		0x10
#define AML_BUFFER		0x11
#define AML_PACKAGE		0x12
#define AML_ROOT		'\\'
#define AML_EXT			0x5b
#define AML_DEVICE		0x82	/* after AML_EXT */
#define PKGLEN_MAX		4	/* bytes a PkgLength may take */

/*
 * Output cursor.  buf is NULL during the measuring pass; every write goes
 * through put(), which also refuses anything past len.
 */
struct out {
	uint8_t *buf;
	size_t len;
	size_t off;
	uint64_t gpa;		/* guest address of buf[0] */
};

static void put(struct out *o, size_t at, const void *p, size_t n)
{
	if (o->buf != NULL && at <= o->len && n <= o->len - at)
		memcpy(o->buf + at, p, n);
}

/* ACPI is little-endian whatever the host is. */
static void put_le(struct out *o, size_t at, uint64_t v, size_t n)
{
	uint8_t b[8];

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	put(o, at, b, n);
}

static void emit(struct out *o, const void *p, size_t n)
{
	put(o, o->off, p, n);
	o->off += n;
}

static void emit_le(struct out *o, uint64_t v, size_t n)
{
	put_le(o, o->off, v, n);
	o->off += n;
}

static void emit8(struct out *o, uint8_t v)
{
	emit_le(o, v, 1);
}

/* The written range is zeroed up front, so reserved bytes are skipped. */
static void skip(struct out *o, size_t n)
{
	o->off += n;
}

/* Aligns the guest address, not the offset: gpa itself is only 16-aligned. */
static void align(struct out *o, uint64_t a)
{
	uint64_t at = o->gpa + o->off;

	o->off += (size_t)(((at + a - 1) & ~(a - 1)) - at);
}

static uint64_t gpa_of(const struct out *o, size_t off)
{
	return o->gpa + off;
}

/* Generic Address Structure: 12 bytes. */
static void put_gas(struct out *o, size_t at, uint8_t space, uint8_t bits,
    uint8_t access, uint64_t addr)
{
	put_le(o, at, space, 1);
	put_le(o, at + 1, bits, 1);
	put_le(o, at + 2, 0, 1);		/* bit offset */
	put_le(o, at + 3, access, 1);
	put_le(o, at + 4, addr, 8);
}

static size_t table_begin(struct out *o, const char sig[4], uint8_t rev)
{
	size_t t;

	align(o, 16);
	t = o->off;
	emit(o, sig, 4);
	emit_le(o, 0, 4);			/* length: table_end() */
	emit8(o, rev);
	emit8(o, 0);				/* checksum: table_end() */
	emit(o, OEM_ID, 6);
	emit(o, OEM_TABLE_ID, 8);
	emit_le(o, 1, 4);			/* OEM revision */
	emit(o, CREATOR_ID, 4);
	emit_le(o, 1, 4);			/* creator revision */
	return t;
}

static void table_end(struct out *o, size_t t)
{
	put_le(o, t + 4, o->off - t, 4);
	if (o->buf != NULL && o->off <= o->len)
		o->buf[t + 9] = (uint8_t)-acpi_sum(o->buf + t, o->off - t);
}

/*
 * AML writer.  A PkgLength counts itself and may take 1 to 4 bytes, which
 * is only known once the body is written: aml_open() reserves the maximum
 * and aml_close() encodes the length and slides the body down over the
 * bytes it did not need.
 */
static size_t aml_open(struct out *o)
{
	size_t at = o->off;

	skip(o, PKGLEN_MAX);
	return at;
}

static void aml_close(struct out *o, size_t at)
{
	size_t body = o->off - at - PKGLEN_MAX;
	size_t n, total;
	uint8_t enc[PKGLEN_MAX];

	for (n = 1; n < PKGLEN_MAX; n++) {
		/* one byte holds 6 bits, each further byte adds 8 to 4 */
		if (body + n < (n == 1 ? 0x40u : 1u << (4 + 8 * (n - 1))))
			break;
	}
	total = body + n;
	if (n == 1) {
		enc[0] = (uint8_t)total;
	} else {
		enc[0] = (uint8_t)(((n - 1) << 6) | (total & 0xf));
		for (size_t i = 1; i < n; i++)
			enc[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	if (o->buf != NULL && o->off <= o->len)
		memmove(o->buf + at + n, o->buf + at + PKGLEN_MAX, body);
	put(o, at, enc, n);
	o->off -= PKGLEN_MAX - n;
}

/* A root prefix and one name segment, padded with '_' as AML requires. */
static void aml_name(struct out *o, const char *path)
{
	char seg[4] = { '_', '_', '_', '_' };
	size_t n;

	if (*path == AML_ROOT)
		emit8(o, (uint8_t)*path++);
	n = strlen(path);
	memcpy(seg, path, n < 4 ? n : 4);
	emit(o, seg, 4);
}

static void aml_int(struct out *o, uint64_t v)
{
	if (v <= 1) {
		emit8(o, v ? AML_ONE : AML_ZERO);
	} else if (v <= UINT8_MAX) {
		emit8(o, AML_BYTE);
		emit_le(o, v, 1);
	} else if (v <= UINT16_MAX) {
		emit8(o, AML_WORD);
		emit_le(o, v, 2);
	} else if (v <= UINT32_MAX) {
		emit8(o, AML_DWORD);
		emit_le(o, v, 4);
	} else {
		emit8(o, AML_QWORD);
		emit_le(o, v, 8);
	}
}

static void aml_name_int(struct out *o, const char *name, uint64_t v)
{
	emit8(o, AML_NAME);
	aml_name(o, name);
	aml_int(o, v);
}

static unsigned hexval(char c)
{
	return c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'A' + 10);
}

/*
 * Name (name, EISAID ("PNPxxxx")): three letters of 5 bits and four hex
 * digits, stored big-endian, always as a DWordConst like iasl does.
 */
static void aml_name_eisaid(struct out *o, const char *name, const char *id)
{
	uint32_t v;

	v = (uint32_t)(id[0] - '@') << 26 | (uint32_t)(id[1] - '@') << 21 |
	    (uint32_t)(id[2] - '@') << 16 | hexval(id[3]) << 12 |
	    hexval(id[4]) << 8 | hexval(id[5]) << 4 | hexval(id[6]);
	emit8(o, AML_NAME);
	aml_name(o, name);
	emit8(o, AML_DWORD);
	emit8(o, (uint8_t)(v >> 24));
	emit8(o, (uint8_t)(v >> 16));
	emit8(o, (uint8_t)(v >> 8));
	emit8(o, (uint8_t)v);
}

static size_t aml_package_open(struct out *o, uint8_t count)
{
	size_t at;

	emit8(o, AML_PACKAGE);
	at = aml_open(o);
	emit8(o, count);
	return at;
}

static void aml_name_buffer(struct out *o, const char *name, const void *p,
    size_t n)
{
	size_t at;

	emit8(o, AML_NAME);
	aml_name(o, name);
	emit8(o, AML_BUFFER);
	at = aml_open(o);
	aml_int(o, n);
	emit(o, p, n);
	aml_close(o, at);
}

static size_t aml_scope_open(struct out *o, const char *name)
{
	size_t at;

	emit8(o, AML_SCOPE);
	at = aml_open(o);
	aml_name(o, name);
	return at;
}

static size_t aml_device_open(struct out *o, const char *name)
{
	size_t at;

	emit8(o, AML_EXT);
	emit8(o, AML_DEVICE);
	at = aml_open(o);
	aml_name(o, name);
	return at;
}

/* Resource descriptors for _CRS (ACPI 6.3, section 6.4). */
static void res_io(struct out *r, uint16_t base, uint8_t len)
{
	emit8(r, 0x47);				/* small item: I/O port */
	emit8(r, 0x01);				/* 16-bit decode */
	emit_le(r, base, 2);			/* minimum */
	emit_le(r, base, 2);			/* maximum */
	emit8(r, 1);				/* alignment */
	emit8(r, len);
}

static void res_irq(struct out *r, unsigned irq)
{
	emit8(r, 0x22);				/* small item: IRQ, no flags */
	emit_le(r, 1u << irq, 2);
}

/* Bridge windows: producer, fixed minimum and maximum, positive decode. */
#define RES_GEN_FLAGS		0x0c
#define RES_TYPE_MEM		0
#define RES_TYPE_IO		1
#define RES_TYPE_BUS		2
#define RES_IO_ENTIRE_RANGE	0x03
#define RES_MEM_RW		0x01		/* read-write, non-cacheable */

static void res_word(struct out *r, uint8_t type, uint8_t tflags,
    uint16_t min, uint16_t max)
{
	emit8(r, 0x88);				/* large item: word address */
	emit_le(r, 13, 2);
	emit8(r, type);
	emit8(r, RES_GEN_FLAGS);
	emit8(r, tflags);
	emit_le(r, 0, 2);			/* granularity */
	emit_le(r, min, 2);
	emit_le(r, max, 2);
	emit_le(r, 0, 2);			/* translation */
	emit_le(r, (uint32_t)max - min + 1, 2);
}

static void res_dword_mem(struct out *r, uint32_t min, uint32_t max)
{
	emit8(r, 0x87);				/* large item: dword address */
	emit_le(r, 23, 2);
	emit8(r, RES_TYPE_MEM);
	emit8(r, RES_GEN_FLAGS);
	emit8(r, RES_MEM_RW);
	emit_le(r, 0, 4);			/* granularity */
	emit_le(r, min, 4);
	emit_le(r, max, 4);
	emit_le(r, 0, 4);			/* translation */
	emit_le(r, (uint64_t)max - min + 1, 4);
}

static void res_end(struct out *r)
{
	emit8(r, 0x79);				/* end tag */
	emit8(r, 0);				/* 0: checksum not used */
}

/*
 * PCI0: the host bridge behind ports 0xcf8/0xcfc, owning bus 0, all I/O
 * ports but the config ones and the 32-bit MMIO hole, with every INTx
 * routed straight to an IOAPIC pin (no link devices).
 */
static void dsdt_pci0(struct out *o, const struct acpi_cfg *cfg)
{
	uint8_t crs[128];
	struct out r = { .buf = crs, .len = sizeof(crs) };
	size_t dev, prt, entry;

	/* no _ADR: a device has _HID or _ADR, never both (ACPI 6.3, 6.1) */
	dev = aml_device_open(o, "PCI0");
	aml_name_eisaid(o, "_HID", "PNP0A03");
	aml_name_int(o, "_UID", 0);
	aml_name_int(o, "_SEG", 0);
	aml_name_int(o, "_BBN", 0);

	res_word(&r, RES_TYPE_BUS, 0, 0, 0);
	res_io(&r, PORT_PCI_CONFIG_ADDR, 8);
	res_word(&r, RES_TYPE_IO, RES_IO_ENTIRE_RANGE, 0x0000,
	    PORT_PCI_CONFIG_ADDR - 1);
	res_word(&r, RES_TYPE_IO, RES_IO_ENTIRE_RANGE, 0x0d00, 0xffff);
	res_dword_mem(&r, (uint32_t)cfg->pci_mmio_start,
	    (uint32_t)cfg->pci_mmio_end);
	res_end(&r);
	aml_name_buffer(o, "_CRS", crs, r.off);

	/* Slot 0 is the host bridge itself and raises no interrupt. */
	emit8(o, AML_NAME);
	aml_name(o, "_PRT");
	prt = aml_package_open(o, 31 * 4);
	for (unsigned slot = 1; slot < 32; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			entry = aml_package_open(o, 4);
			aml_int(o, slot << 16 | 0xffff);
			aml_int(o, pin);
			aml_int(o, 0);		/* source: none, index is a GSI */
			aml_int(o, PCI_INTX_GSI_BASE +
			    (slot + pin) % PCI_INTX_GSI_COUNT);
			aml_close(o, entry);
		}
	}
	aml_close(o, prt);
	aml_close(o, dev);
}

static void dsdt_com1(struct out *o)
{
	uint8_t crs[16];
	struct out r = { .buf = crs, .len = sizeof(crs) };
	size_t dev;

	dev = aml_device_open(o, "COM1");
	aml_name_eisaid(o, "_HID", "PNP0501");
	aml_name_int(o, "_UID", 1);
	res_io(&r, PORT_COM1, 8);
	res_irq(&r, IRQ_COM1);
	res_end(&r);
	aml_name_buffer(o, "_CRS", crs, r.off);
	aml_close(o, dev);
}

static size_t build_dsdt(struct out *o, const struct acpi_cfg *cfg)
{
	size_t t, pkg, sb;

	t = table_begin(o, "DSDT", 2);	/* revision 2: 64-bit integers */

	/* \_S5: SLP_TYPa, SLP_TYPb, reserved, reserved */
	emit8(o, AML_NAME);
	aml_name(o, "\\_S5");
	pkg = aml_package_open(o, 4);
	aml_int(o, cfg->s5_slp_typ);
	aml_int(o, cfg->s5_slp_typ);
	aml_int(o, 0);
	aml_int(o, 0);
	aml_close(o, pkg);

	sb = aml_scope_open(o, "\\_SB");
	dsdt_pci0(o, cfg);
	dsdt_com1(o);
	aml_close(o, sb);

	table_end(o, t);
	return t;
}

/* The FACS has no checksum; the guest only uses it for the global lock. */
static size_t build_facs(struct out *o)
{
	size_t t;

	align(o, 64);
	t = o->off;
	skip(o, FACS_LEN);
	put(o, t, "FACS", 4);
	put_le(o, t + 4, FACS_LEN, 4);
	put_le(o, t + 32, 2, 1);		/* version */
	return t;
}

static size_t build_fadt(struct out *o, const struct acpi_cfg *cfg,
    size_t facs, size_t dsdt)
{
	size_t t;

	t = table_begin(o, "FACP", 6);
	skip(o, FADT_LEN - HDR_LEN);

	put_le(o, t + FADT_FIRMWARE_CTRL, gpa_of(o, facs), 4);
	put_le(o, t + FADT_DSDT, gpa_of(o, dsdt), 4);
	put_le(o, t + FADT_SCI_INT, cfg->sci_irq, 2);
	/* SMI_CMD 0: the hardware is always in ACPI mode, nothing to enable */
	put_le(o, t + FADT_SMI_CMD, 0, 4);
	put_le(o, t + FADT_PM1A_EVT_BLK, cfg->pm1a_evt_port, 4);
	put_le(o, t + FADT_PM1A_CNT_BLK, cfg->pm1a_cnt_port, 4);
	put_le(o, t + FADT_PM_TMR_BLK, 0, 4);	/* no PM timer: kvmclock/TSC */
	put_le(o, t + FADT_PM1_EVT_LEN, PM1_EVT_LEN, 1);
	put_le(o, t + FADT_PM1_CNT_LEN, PM1_CNT_LEN, 1);
	/* latencies above 100 and 1000 us mean "no C2" and "no C3" */
	put_le(o, t + FADT_P_LVL2_LAT, 101, 2);
	put_le(o, t + FADT_P_LVL3_LAT, 1001, 2);
	put_le(o, t + FADT_IAPC_BOOT_ARCH, BOOT_ARCH_LEGACY_DEVICES, 2);
	put_le(o, t + FADT_FLAGS, FADT_WBINVD | FADT_PROC_C1 |
	    FADT_SLP_BUTTON | FADT_FIX_RTC | FADT_RESET_REG_SUP, 4);
	put_gas(o, t + FADT_RESET_REG, GAS_SYSTEM_IO, 8, GAS_ACCESS_BYTE,
	    cfg->reset_port);
	put_le(o, t + FADT_RESET_VALUE, RESET_VALUE, 1);
	put_le(o, t + FADT_MINOR_VERSION, 3, 1);	/* ACPI 6.3 */
	put_le(o, t + FADT_X_FIRMWARE_CTRL, gpa_of(o, facs), 8);
	put_le(o, t + FADT_X_DSDT, gpa_of(o, dsdt), 8);
	/* the PM1 registers are 16 bits wide: status + enable, control */
	put_gas(o, t + FADT_X_PM1A_EVT_BLK, GAS_SYSTEM_IO, PM1_EVT_LEN * 8,
	    GAS_ACCESS_WORD, cfg->pm1a_evt_port);
	put_gas(o, t + FADT_X_PM1A_CNT_BLK, GAS_SYSTEM_IO, PM1_CNT_LEN * 8,
	    GAS_ACCESS_WORD, cfg->pm1a_cnt_port);

	table_end(o, t);
	return t;
}

static void madt_iso(struct out *o, uint8_t irq, uint32_t gsi, uint16_t flags)
{
	emit8(o, MADT_ISO);
	emit8(o, 10);
	emit8(o, 0);				/* bus: ISA */
	emit8(o, irq);
	emit_le(o, gsi, 4);
	emit_le(o, flags, 2);
}

static size_t build_madt(struct out *o, const struct acpi_cfg *cfg)
{
	size_t t;

	t = table_begin(o, "APIC", 5);
	emit_le(o, cfg->lapic_addr, 4);
	emit_le(o, MADT_PCAT_COMPAT, 4);

	/* ACPI processor UID i is local APIC id i. */
	for (int i = 0; i < cfg->ncpus; i++) {
		emit8(o, MADT_LAPIC);
		emit8(o, 8);
		emit8(o, (uint8_t)i);
		emit8(o, (uint8_t)i);
		emit_le(o, MADT_LAPIC_ENABLED, 4);
	}

	emit8(o, MADT_IOAPIC);
	emit8(o, 12);
	emit8(o, cfg->ioapic_id);
	emit8(o, 0);
	emit_le(o, cfg->ioapic_addr, 4);
	emit_le(o, 0, 4);			/* GSI base */

	/* The PIT is wired to IOAPIC pin 2, as on every PC since the 8259. */
	madt_iso(o, 0, 2, MPS_EDGE | MPS_HIGH);
	madt_iso(o, cfg->sci_irq, cfg->sci_irq, MPS_LEVEL | MPS_HIGH);

	table_end(o, t);
	return t;
}

/* XSDT (8-byte entries) or RSDT (4-byte entries) over the given tables. */
static size_t build_sdt(struct out *o, const char sig[4], size_t width,
    const size_t *tables, size_t n)
{
	size_t t;

	t = table_begin(o, sig, 1);
	for (size_t i = 0; i < n; i++)
		emit_le(o, gpa_of(o, tables[i]), width);
	table_end(o, t);
	return t;
}

static void fill_rsdp(struct out *o, size_t rsdp, size_t rsdt, size_t xsdt)
{
	put(o, rsdp, "RSD PTR ", 8);
	put(o, rsdp + 9, OEM_ID, 6);
	put_le(o, rsdp + 15, 2, 1);		/* revision: ACPI 2.0+ */
	put_le(o, rsdp + 16, gpa_of(o, rsdt), 4);
	put_le(o, rsdp + 20, RSDP_LEN, 4);
	put_le(o, rsdp + 24, gpa_of(o, xsdt), 8);
	if (o->buf == NULL || rsdp + RSDP_LEN > o->len)
		return;
	o->buf[rsdp + 8] = (uint8_t)-acpi_sum(o->buf + rsdp, RSDP_V1_LEN);
	o->buf[rsdp + 32] = (uint8_t)-acpi_sum(o->buf + rsdp, RSDP_LEN);
}

static void build_all(struct out *o, const struct acpi_cfg *cfg)
{
	size_t rsdp, facs, dsdt, sdts[2], xsdt, rsdt;

	rsdp = o->off;
	skip(o, RSDP_LEN);
	facs = build_facs(o);
	dsdt = build_dsdt(o, cfg);
	sdts[0] = build_fadt(o, cfg, facs, dsdt);
	sdts[1] = build_madt(o, cfg);
	xsdt = build_sdt(o, "XSDT", 8, sdts, 2);
	rsdt = build_sdt(o, "RSDT", 4, sdts, 2);
	fill_rsdp(o, rsdp, rsdt, xsdt);
}

static bool cfg_ok(const struct acpi_cfg *c)
{
	/* xAPIC ids are 8 bits and 0xff is the broadcast id */
	if (c->ncpus < 1 || c->ncpus > 255)
		return false;
	if (c->ioapic_id < c->ncpus)
		return false;
	/* the MADT has 32-bit fields for both */
	if (c->lapic_addr > UINT32_MAX || c->ioapic_addr > UINT32_MAX)
		return false;
	if (c->pm1a_evt_port == 0 || c->pm1a_evt_port > 0x10000 - PM1_EVT_LEN ||
	    c->pm1a_cnt_port == 0 || c->pm1a_cnt_port > 0x10000 - PM1_CNT_LEN ||
	    c->reset_port == 0)
		return false;
	/* an ISA IRQ, and not the PIT's IRQ 0 or the GSI 2 it takes */
	if (c->sci_irq == 0 || c->sci_irq == 2 || c->sci_irq > 15)
		return false;
	if (c->s5_slp_typ > 7)			/* SLP_TYP is 3 bits */
		return false;
	if (c->pci_mmio_start > c->pci_mmio_end ||
	    c->pci_mmio_end > UINT32_MAX)
		return false;
	return true;
}

/*
 * Builds RSDP, FACS, DSDT, FADT, MADT, XSDT and RSDT into buf, which the
 * guest sees at gpa.  Returns the bytes used, -EINVAL for a bad cfg, a gpa
 * that is not 16-byte aligned or tables that would not end below 4 GiB
 * (the RSDT and the FADT hold 32-bit pointers), or -ENOSPC, leaving buf
 * untouched, when len is too small.
 */
long acpi_build(void *buf, uint64_t gpa, size_t len, const struct acpi_cfg *cfg)
{
	struct out o = { .gpa = gpa };
	size_t need;

	if (buf == NULL || cfg == NULL || !cfg_ok(cfg) || gpa % 16 != 0)
		return -EINVAL;
	build_all(&o, cfg);			/* measure only */
	need = o.off;
	if (gpa > UINT32_MAX || need - 1 > UINT32_MAX - gpa)
		return -EINVAL;
	if (need > len)
		return -ENOSPC;

	memset(buf, 0, need);
	o = (struct out){ .buf = buf, .len = len, .gpa = gpa };
	build_all(&o, cfg);
	return (long)need;
}

/*
 * Returns the byte sum of len bytes at p, modulo 256: 0 for a table whose
 * checksum is right.
 */
uint8_t acpi_sum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len-- > 0)
		sum = (uint8_t)(sum + *b++);
	return sum;
}
