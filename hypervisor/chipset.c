/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The platform glue a PC guest expects around its CPUs: ACPI PM1 event
 * and control registers (power-off through \_S5), the reset control
 * register at 0xcf9 and the keyboard controller's reset command, a CMOS
 * RTC, and the PCI configuration ports.
 */
#include <string.h>
#include <time.h>

#include "layout.h"
#include "log.h"
#include "vm.h"

#define PM1_SLP_EN	(1u << 13)
#define PM1_SLP_TYP(v)	(((v) >> 10) & 7)
#define PM1_SCI_EN	1u
#define RESET_CPU	0x04	/* 0xcf9: pulse reset */
#define KBD_RESET	0xfe	/* 8042 command: pulse the reset line */

static uint16_t
le16(const uint8_t *d, unsigned size)
{
	return size == 1 ? d[0] : (uint16_t)(d[0] | d[1] << 8);
}

static void
put_le16(uint8_t *d, unsigned size, uint16_t v)
{
	d[0] = (uint8_t)v;
	if (size > 1)
		d[1] = (uint8_t)(v >> 8);
	for (unsigned i = 2; i < size; i++)
		d[i] = 0;
}

/* PM1a_EVT_BLK: status (write one to clear) then enable. */
static void
pm1_evt_io(void *opaque, uint64_t off, uint8_t *data, unsigned size,
    bool is_write)
{
	struct vm *vm = opaque;
	uint16_t *reg = off < 2 ? &vm->pm1_sts : &vm->pm1_en;

	if (off & 1)
		return;		/* only aligned word or byte accesses */
	if (!is_write)
		put_le16(data, size, *reg);
	else if (off < 2)
		vm->pm1_sts &= (uint16_t)~le16(data, size);
	else
		vm->pm1_en = le16(data, size);
}

/* PM1a_CNT_BLK: SLP_EN with the \_S5 sleep type powers off. */
static void
pm1_cnt_io(void *opaque, uint64_t off, uint8_t *data, unsigned size,
    bool is_write)
{
	struct vm *vm = opaque;
	uint16_t v;

	if (off != 0)
		return;
	if (!is_write) {
		put_le16(data, size, vm->pm1_cnt | PM1_SCI_EN);
		return;
	}
	v = le16(data, size);
	if ((v & PM1_SLP_EN) && PM1_SLP_TYP(v) == ACPI_S5_SLP_TYP) {
		log_info("guest powered off");
		vm_request_stop(vm, VM_EXIT_POWEROFF);
	}
	vm->pm1_cnt = v & (uint16_t)~PM1_SLP_EN;
}

/*
 * 0xcf8-0xcfb: dword accesses are the PCI address register; a byte
 * write to 0xcf9 is the reset control register (also the FADT's).
 */
static void
cf8_io(void *opaque, uint64_t off, uint8_t *data, unsigned size,
    bool is_write)
{
	struct vm *vm = opaque;

	if (size == 1 && off == 1) {
		if (is_write && (data[0] & RESET_CPU))
			vm_request_stop(vm, VM_EXIT_REBOOT);
		else if (!is_write)
			data[0] = 0;
		return;
	}
	pci_io_addr(&vm->pci, off, data, size, is_write);
}

static void
kbd_io(void *opaque, uint64_t off, uint8_t *data, unsigned size,
    bool is_write)
{
	struct vm *vm = opaque;

	(void)off;
	if (is_write && data[0] == KBD_RESET)
		vm_request_stop(vm, VM_EXIT_REBOOT);
	else if (!is_write)
		memset(data, 0, size);	/* status: nothing to read, ready */
}

static uint8_t
bcd(int v)
{
	return (uint8_t)((v / 10) << 4 | (v % 10));
}

/* CMOS RTC: time registers read the host's UTC clock, in BCD, 24 h. */
static void
rtc_io(void *opaque, uint64_t off, uint8_t *data, unsigned size,
    bool is_write)
{
	struct vm *vm = opaque;
	struct rtc *rtc = &vm->rtc;
	struct tm tm;
	time_t now;
	uint8_t v;

	if (size != 1)
		return;
	pthread_mutex_lock(&rtc->lock);
	if (off == 0) {
		if (is_write)
			rtc->index = data[0] & 0x7f;
		else
			data[0] = 0xff;
		goto out;
	}
	if (is_write) {
		/* Time and status A-D are the clock's own. */
		if (rtc->index > 0x0d)
			rtc->cmos[rtc->index] = data[0];
		goto out;
	}
	now = time(NULL);
	gmtime_r(&now, &tm);
	switch (rtc->index) {
	case 0x00: v = bcd(tm.tm_sec); break;
	case 0x02: v = bcd(tm.tm_min); break;
	case 0x04: v = bcd(tm.tm_hour); break;
	case 0x06: v = bcd(tm.tm_wday + 1); break;
	case 0x07: v = bcd(tm.tm_mday); break;
	case 0x08: v = bcd(tm.tm_mon + 1); break;
	case 0x09: v = bcd(tm.tm_year % 100); break;
	case 0x32: v = bcd(19 + tm.tm_year / 100); break;
	case 0x0a: v = 0x26; break;	/* 32.768 kHz, no update in progress */
	case 0x0b: v = 0x02; break;	/* 24-hour, BCD */
	case 0x0c: v = 0x00; break;
	case 0x0d: v = 0x80; break;	/* battery good */
	default: v = rtc->cmos[rtc->index]; break;
	}
	data[0] = v;
out:
	pthread_mutex_unlock(&rtc->lock);
}

/* Port 0x80 (POST codes, I/O delay): accepted and ignored. */
static void
sink_io(void *opaque, uint64_t off, uint8_t *data, unsigned size,
    bool is_write)
{
	(void)opaque;
	(void)off;
	if (!is_write)
		memset(data, 0xff, size);
}

int
chipset_init(struct vm *vm)
{
	static const struct {
		uint16_t port, len;
		io_fn fn;
	} ports[] = {
		{ PORT_PM1A_EVT, PM1_EVT_LEN, pm1_evt_io },
		{ PORT_PM1A_CNT, PM1_CNT_LEN, pm1_cnt_io },
		{ PORT_PCI_CONFIG_ADDR, 4, cf8_io },
		{ PORT_KBD_CMD, 1, kbd_io },
		{ 0x70, 2, rtc_io },
		{ 0x80, 1, sink_io },
	};
	int ret;

	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		ret = io_register(&vm->pio, ports[i].port, ports[i].len,
		    ports[i].fn, vm);
		if (ret < 0)
			return ret;
	}
	ret = io_register(&vm->pio, PORT_PCI_CONFIG_DATA, 4, pci_io_data,
	    &vm->pci);
	if (ret < 0)
		return ret;
	return pci_add_host_bridge(&vm->pci, &vm->host_bridge);
}
