/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the virtio modern PCI transport (mediators/virtio/
 * virtio_pci.c, virtio_msix.c, virtio_pcicfg.c): the configuration
 * space template, the common configuration registers, the ISR latch
 * that makes a replayed ISR read return the same value, needs-reset on
 * protocol violations, MSI-X masking and the raise/unmask race.
 *
 * Register offsets and capability fields are written out from the
 * virtio 1.x spec (4.1.4) here on purpose instead of taken from
 * virtio_pci.h, so that a wrong offset cannot hide.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ring.h"
#include "virtio_pci.h"

/* Common configuration (BAR0 + 0). */
#define DFSELECT	0x00
#define DF		0x04
#define GFSELECT	0x08
#define GF		0x0c
#define MSIX_CONFIG	0x10
#define NUMQ		0x12
#define STATUS		0x14
#define CFGGEN		0x15
#define Q_SELECT	0x16
#define Q_SIZE		0x18
#define Q_MSIX		0x1a
#define Q_ENABLE	0x1c
#define Q_NOFF		0x1e
#define Q_DESC		0x20
#define Q_DRIVER	0x28
#define Q_DEVICE	0x30
#define ISR		0x1000
#define DEVCFG		0x2000
#define NOTIFY		0x3000

#define S_ACK		0x01
#define S_DRIVER	0x02
#define S_DRIVER_OK	0x04
#define S_FEATURES_OK	0x08
#define S_NEEDS_RESET	0x40

#define F_VERSION_1	(1ull << 32)
#define F_INDIRECT	(1ull << 28)
#define F_EVENT_IDX	(1ull << 29)
#define F_DEV_LO	(1ull << 5)	/* device-type features of the test */
#define F_DEV_HI	(1ull << 35)
#define NO_VECTOR	0xffff

#define NQ		3
#define QMAX		256
#define CFGLEN		24

/* Fake guest RAM for the queue tests. */
#define MEM_BASE	0x40000ull
#define MEM_SIZE	0x10000ull

static struct virtio_state *st;
static int resets, notified[NQ + 1], cfg_writes;
static uint32_t cfg_off;
static unsigned cfg_size;
static uint64_t cfg_val;
static unsigned fires[VIRTIO_MSIX_MAX], intx_fires, routes[VIRTIO_MSIX_MAX];
static uint32_t seq;
static uint8_t *mem;
static struct gmem gm;

static void
rec_reset(const struct virtio_dev *d, struct virtio_state *s)
{
	(void)d;
	ck_assert_ptr_eq(s, st);
	/* The hook runs before the transport forgets the queues. */
	resets++;
}

static void
rec_notify(const struct virtio_dev *d, struct virtio_state *s, uint16_t q)
{
	(void)d;
	(void)s;
	ck_assert_uint_lt(q, NQ);
	notified[q]++;
}

static void
rec_config_write(const struct virtio_dev *d, struct virtio_state *s,
    uint32_t off, unsigned size, uint64_t val)
{
	(void)d;
	(void)s;
	cfg_writes++;
	cfg_off = off;
	cfg_size = size;
	cfg_val = val;
}

static void
rec_fire(void *opaque, uint16_t v)
{
	(void)opaque;
	if (v == 0xfffe)
		intx_fires++;
	else {
		ck_assert_uint_lt(v, VIRTIO_MSIX_MAX);
		fires[v]++;
	}
}

static void
rec_route(void *opaque, uint16_t v)
{
	(void)opaque;
	routes[v]++;
}

static const struct virtio_dev_ops test_ops = {
	.name = "virtio-test",
	.device_id = 2,
	.features = F_DEV_LO | F_DEV_HI | F_INDIRECT | F_EVENT_IDX,
	.num_queues = NQ,
	.max_queue_size = QMAX,
	.config_len = CFGLEN,
	.reset = rec_reset,
	.queue_notify = rec_notify,
	.config_write = rec_config_write,
};

static const struct virtio_dev dev = {
	.ops = &test_ops, .fire = rec_fire,
};

static uint64_t
rd(uint64_t off, unsigned size)
{
	uint64_t v = 0xdead;

	virtio_pci_read(st, &dev, off, size, 0, ++seq, &v);
	return v;
}

static void
wr(uint64_t off, unsigned size, uint64_t v)
{
	virtio_pci_write(st, &dev, off, size, 0, ++seq, v);
}

static int
rd_ret(uint64_t off, unsigned size, uint64_t *v)
{
	return virtio_pci_read(st, &dev, off, size, 0, ++seq, v);
}

static void
setup(void)
{
	/* Shared memory, as a mediator and the VM process would map it. */
	st = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(st, MAP_FAILED);
	ck_assert_int_eq(virtio_state_init(st, &dev), 0);
	resets = cfg_writes = 0;
	memset(notified, 0, sizeof(notified));
	memset(fires, 0, sizeof(fires));
	memset(routes, 0, sizeof(routes));
	intx_fires = 0;
	seq = 100;
	mem = calloc(1, MEM_SIZE);
	gm.n = 1;
	gm.r[0] = (struct gmem_region){ MEM_BASE, MEM_SIZE, mem };
}

static void
teardown(void)
{
	munmap(st, sizeof(*st));
	free(mem);
}

/* ---- capturing log lines ---------------------------------------------- */

static FILE *log_file;
static int saved_stderr;

static void
capture_start(void)
{
	fflush(stderr);
	log_file = tmpfile();
	ck_assert_ptr_nonnull(log_file);
	saved_stderr = dup(2);
	dup2(fileno(log_file), 2);
}

/* Lines logged since capture_start() that contain needle. */
static int
capture_count(const char *needle)
{
	char line[512];
	int n = 0;

	fflush(stderr);
	rewind(log_file);
	while (fgets(line, sizeof(line), log_file) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	return n;
}

static void
capture_end(void)
{
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	fclose(log_file);
}

/* ---- configuration space template ------------------------------------- */

static uint16_t
cfg16(const uint8_t *c, unsigned off)
{
	return (uint16_t)(c[off] | c[off + 1] << 8);
}

static uint32_t
cfg32(const uint8_t *c, unsigned off)
{
	return cfg16(c, off) | (uint32_t)cfg16(c, off + 2) << 16;
}

START_TEST(template_ids_and_bars)
{
	struct virtio_pci_config pc;

	ck_assert_int_eq(virtio_pci_config_template(&test_ops, 0x018000,
	    0x1234, 0x0042, &pc), 0);
	ck_assert_uint_eq(cfg16(pc.cfg, 0x00), 0x1af4);
	ck_assert_uint_eq(cfg16(pc.cfg, 0x02), 0x1042);
	ck_assert_uint_eq(pc.cfg[0x08], 1);			/* revision */
	ck_assert_uint_eq(cfg32(pc.cfg, 0x08) >> 8, 0x018000);	/* class */
	ck_assert_uint_eq(pc.cfg[0x0e], 0);			/* type 0 */
	ck_assert_uint_eq(cfg16(pc.cfg, 0x2c), 0x1234);
	ck_assert_uint_eq(cfg16(pc.cfg, 0x2e), 0x0042);
	ck_assert(cfg16(pc.cfg, 0x06) & 0x10);		/* capability list */
	ck_assert_uint_eq(pc.cfg[0x3d], 1);			/* INTA */
	ck_assert_uint_eq(pc.wmask[0x3c], 0xff);
	ck_assert_uint_eq(cfg16(pc.wmask, 0x04) & 0x0406, 0x0406);

	/* BAR0: 16 KiB 64-bit memory; BAR2: 4 KiB 32-bit memory. */
	ck_assert_uint_eq(pc.bar[0].size, 0x4000);
	ck_assert(pc.bar[0].mem64);
	ck_assert_uint_eq(cfg32(pc.cfg, 0x10) & 0xf, 0x4);
	ck_assert_uint_eq(cfg32(pc.wmask, 0x10), 0xffffc000);
	ck_assert_uint_eq(cfg32(pc.wmask, 0x14), 0xffffffff);
	ck_assert_uint_eq(pc.bar[1].size, 0);
	ck_assert_uint_eq(pc.bar[2].size, 0x1000);
	ck_assert(!pc.bar[2].mem64);
	ck_assert_uint_eq(cfg32(pc.cfg, 0x18) & 0xf, 0x0);
	ck_assert_uint_eq(cfg32(pc.wmask, 0x18), 0xfffff000);
	for (int i = 3; i < 6; i++)
		ck_assert_uint_eq(pc.bar[i].size, 0);
}
END_TEST

START_TEST(template_capabilities)
{
	struct virtio_pci_config pc;
	unsigned seen[6] = { 0 }, msix = 0, caps = 0;
	uint8_t p;

	ck_assert_int_eq(virtio_pci_config_template(&test_ops, 0x018000,
	    0x1af4, 0x1100, &pc), 0);
	for (p = pc.cfg[0x34]; p != 0; p = pc.cfg[p + 1]) {
		ck_assert_uint_ge(p, 0x40);
		ck_assert_uint_eq(p % 4, 0);
		ck_assert_uint_lt(++caps, 16);		/* no cycle */
		if (pc.cfg[p] == 0x11) {		/* MSI-X */
			msix = p;
			continue;
		}
		ck_assert_uint_eq(pc.cfg[p], 0x09);	/* vendor specific */
		uint8_t type = pc.cfg[p + 3], bar = pc.cfg[p + 4];
		uint32_t off = cfg32(pc.cfg, p + 8);
		uint32_t len = cfg32(pc.cfg, p + 12);

		ck_assert_uint_ge(type, 1);
		ck_assert_uint_le(type, 4);
		seen[type]++;
		ck_assert_uint_eq(bar, 0);
		ck_assert_uint_ge(pc.cfg[p + 2], type == 2 ? 20 : 16);
		ck_assert_uint_le(p + pc.cfg[p + 2], 256);
		/* Every structure lies inside BAR0. */
		ck_assert_uint_le((uint64_t)off + len, 0x4000);
		switch (type) {
		case 1:
			ck_assert_uint_eq(off, 0x0000);
			ck_assert_uint_ge(len, 0x38);
			break;
		case 2:
			ck_assert_uint_eq(off, 0x3000);
			ck_assert_uint_eq(cfg32(pc.cfg, p + 16), 4);
			/* Queue NQ-1's 2-byte register fits. */
			ck_assert_uint_ge(len, 4 * (NQ - 1) + 2);
			break;
		case 3:
			ck_assert_uint_eq(off, 0x1000);
			ck_assert_uint_ge(len, 1);
			break;
		case 4:
			ck_assert_uint_eq(off, 0x2000);
			ck_assert_uint_eq(len, CFGLEN);
			break;
		}
		/* The driver must not write into these capabilities. */
		for (unsigned i = 0; i < pc.cfg[p + 2]; i++)
			ck_assert_uint_eq(pc.wmask[p + i], 0);
	}
	for (int t = 1; t <= 4; t++)
		ck_assert_msg(seen[t] == 1, "cfg_type %d seen %u times", t,
		    seen[t]);
	ck_assert_uint_ne(msix, 0);
	ck_assert_uint_eq(pc.msix_cap, msix);
	/* Table Size (N - 1): one vector per queue and one for config. */
	ck_assert_uint_eq(cfg16(pc.cfg, msix + 2) & 0x7ff, NQ);
	ck_assert_uint_eq(cfg16(pc.cfg, msix + 2) & 0xc000, 0);
	ck_assert_uint_eq(cfg16(pc.wmask, msix + 2), 0xc000);
	/* Table at BAR2 + 0, PBA at BAR2 + 0x800 (BIR in the low bits). */
	ck_assert_uint_eq(cfg32(pc.cfg, msix + 4), 0x000 | 2);
	ck_assert_uint_eq(cfg32(pc.cfg, msix + 8), 0x800 | 2);
}
END_TEST

START_TEST(template_no_devcfg_and_bad_ops)
{
	struct virtio_pci_config pc;
	struct virtio_dev_ops o = test_ops;
	uint8_t p;

	o.config_len = 0;
	ck_assert_int_eq(virtio_pci_config_template(&o, 0xff0000, 0, 0, &pc),
	    0);
	for (p = pc.cfg[0x34]; p != 0; p = pc.cfg[p + 1])
		ck_assert(!(pc.cfg[p] == 0x09 && pc.cfg[p + 3] == 4));
	o.num_queues = 0;
	ck_assert_int_eq(virtio_pci_config_template(&o, 0, 0, 0, &pc), -EINVAL);
	o.num_queues = VIRTIO_MAX_QUEUES + 1;
	ck_assert_int_eq(virtio_pci_config_template(&o, 0, 0, 0, &pc), -EINVAL);
	o.num_queues = 1;
	o.config_len = VIRTIO_CFG_MAX + 1;
	ck_assert_int_eq(virtio_pci_config_template(&o, 0, 0, 0, &pc), -EINVAL);
}
END_TEST

/* ---- state ------------------------------------------------------------ */

START_TEST(state_init_and_check)
{
	struct virtio_dev_ops o = test_ops;
	struct virtio_dev other = { .ops = &o, .fire = rec_fire };

	ck_assert_int_eq(virtio_state_check(st, &dev), 0);
	ck_assert_uint_eq(rd(NUMQ, 2), NQ);
	ck_assert_uint_eq(rd(MSIX_CONFIG, 2), NO_VECTOR);
	for (unsigned i = 0; i < NQ; i++) {
		wr(Q_SELECT, 2, i);
		ck_assert_uint_eq(rd(Q_SIZE, 2), QMAX);
		ck_assert_uint_eq(rd(Q_NOFF, 2), i);
		ck_assert_uint_eq(rd(Q_MSIX, 2), NO_VECTOR);
		ck_assert_uint_eq(rd(Q_ENABLE, 2), 0);
	}
	/* A queue that does not exist has size 0. */
	wr(Q_SELECT, 2, NQ);
	ck_assert_uint_eq(rd(Q_SIZE, 2), 0);
	/* Another device type, or a damaged header, is refused. */
	o.num_queues = NQ + 1;
	ck_assert_int_eq(virtio_state_check(st, &other), -EPROTO);
	o = test_ops;
	o.features |= 1;
	ck_assert_int_eq(virtio_state_check(st, &other), -EPROTO);
	st->version++;
	ck_assert_int_eq(virtio_state_check(st, &dev), -EPROTO);
	st->version--;
	st->magic = 0;
	ck_assert_int_eq(virtio_state_check(st, &dev), -EPROTO);
	/* Features the queues do not implement cannot be offered. */
	o = test_ops;
	o.features |= 1ull << 34;	/* RING_PACKED */
	ck_assert_int_eq(virtio_state_init(st, &other), -EINVAL);
	/* EVENT_IDX can (test_ops offers it), and is shown. */
	ck_assert_int_eq(virtio_state_init(st, &dev), 0);
	ck_assert_uint_eq(st->device_features & F_EVENT_IDX, F_EVENT_IDX);
	o = test_ops;
	o.max_queue_size = 100;
	ck_assert_int_eq(virtio_state_init(st, &other), -EINVAL);
}
END_TEST

/* ---- common configuration --------------------------------------------- */

START_TEST(features_two_halves)
{
	wr(DFSELECT, 4, 0);
	ck_assert_uint_eq(rd(DFSELECT, 4), 0);
	ck_assert_uint_eq(rd(DF, 4),
	    (uint32_t)(F_DEV_LO | F_INDIRECT | F_EVENT_IDX));
	wr(DFSELECT, 4, 1);
	ck_assert_uint_eq(rd(DF, 4), (F_DEV_HI | F_VERSION_1) >> 32);
	wr(DFSELECT, 4, 2);
	ck_assert_uint_eq(rd(DF, 4), 0);

	wr(GFSELECT, 4, 0);
	wr(GF, 4, (uint32_t)F_DEV_LO);
	wr(GFSELECT, 4, 1);
	wr(GF, 4, F_VERSION_1 >> 32);
	ck_assert_uint_eq(rd(GF, 4), F_VERSION_1 >> 32);
	wr(GFSELECT, 4, 0);
	ck_assert_uint_eq(rd(GF, 4), (uint32_t)F_DEV_LO);
	ck_assert_uint_eq(st->driver_features, F_DEV_LO | F_VERSION_1);
	/* Select 2 and up hold no bits and take none. */
	wr(GFSELECT, 4, 2);
	wr(GF, 4, 0xffffffff);
	ck_assert_uint_eq(rd(GF, 4), 0);
	ck_assert_uint_eq(st->driver_features, F_DEV_LO | F_VERSION_1);
}
END_TEST

static void
write_features(uint64_t f)
{
	wr(GFSELECT, 4, 0);
	wr(GF, 4, (uint32_t)f);
	wr(GFSELECT, 4, 1);
	wr(GF, 4, f >> 32);
}

START_TEST(features_ok_accepted)
{
	wr(STATUS, 1, S_ACK);
	wr(STATUS, 1, S_ACK | S_DRIVER);
	write_features(F_VERSION_1 | F_DEV_HI | F_INDIRECT);
	wr(STATUS, 1, S_ACK | S_DRIVER | S_FEATURES_OK);
	ck_assert_uint_eq(rd(STATUS, 1), S_ACK | S_DRIVER | S_FEATURES_OK);
	/* Once accepted, the features are fixed. */
	write_features(F_VERSION_1);
	ck_assert_uint_eq(st->driver_features,
	    F_VERSION_1 | F_DEV_HI | F_INDIRECT);
	wr(STATUS, 1, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	ck_assert_uint_eq(rd(STATUS, 1) & S_NEEDS_RESET, 0);
}
END_TEST

START_TEST(features_ok_refused)
{
	/* Without VERSION_1 (a legacy driver) ... */
	wr(STATUS, 1, S_ACK | S_DRIVER);
	write_features(F_DEV_LO);
	wr(STATUS, 1, S_ACK | S_DRIVER | S_FEATURES_OK);
	ck_assert_uint_eq(rd(STATUS, 1), S_ACK | S_DRIVER);
	/* ... or with a bit that was not offered. */
	write_features(F_VERSION_1 | (1ull << 7));
	wr(STATUS, 1, S_ACK | S_DRIVER | S_FEATURES_OK);
	ck_assert_uint_eq(rd(STATUS, 1), S_ACK | S_DRIVER);
	/* A correct set afterwards is accepted. */
	write_features(F_VERSION_1);
	wr(STATUS, 1, S_ACK | S_DRIVER | S_FEATURES_OK);
	ck_assert_uint_eq(rd(STATUS, 1), S_ACK | S_DRIVER | S_FEATURES_OK);
}
END_TEST

/* Brings queue qi up with its rings at gpa base (desc, +0x1000, +0x2000). */
static void
queue_setup(uint16_t qi, uint16_t size, uint64_t base)
{
	wr(Q_SELECT, 2, qi);
	wr(Q_SIZE, 2, size);
	wr(Q_DESC, 4, (uint32_t)base);
	wr(Q_DESC + 4, 4, base >> 32);
	wr(Q_DRIVER, 4, (uint32_t)(base + 0x1000));
	wr(Q_DRIVER + 4, 4, (base + 0x1000) >> 32);
	wr(Q_DEVICE, 8, base + 0x2000);
	wr(Q_ENABLE, 2, 1);
}

static void
driver_up(uint64_t features)
{
	wr(STATUS, 1, S_ACK | S_DRIVER);
	write_features(features);
	wr(STATUS, 1, S_ACK | S_DRIVER | S_FEATURES_OK);
	ck_assert_uint_eq(rd(STATUS, 1) & S_FEATURES_OK, S_FEATURES_OK);
}

START_TEST(reset_clears_everything)
{
	driver_up(F_VERSION_1 | F_INDIRECT);
	wr(MSIX_CONFIG, 2, 1);
	queue_setup(1, 64, MEM_BASE);
	wr(Q_MSIX, 2, 2);
	wr(STATUS, 1, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	wr(DFSELECT, 4, 1);
	st->isr = 3;
	st->vq[1].signalled_used = 77;
	st->vq[1].flags = VQ_SIGNALLED;
	ck_assert_uint_eq(rd(Q_ENABLE, 2), 1);

	wr(STATUS, 1, 0);
	ck_assert_int_eq(resets, 1);
	ck_assert_uint_eq(st->reset_count, 1);
	ck_assert_uint_eq(rd(STATUS, 1), 0);
	ck_assert_uint_eq(rd(DFSELECT, 4), 0);
	ck_assert_uint_eq(rd(MSIX_CONFIG, 2), NO_VECTOR);
	ck_assert_uint_eq(rd(Q_SELECT, 2), 0);
	ck_assert_uint_eq(st->driver_features, 0);
	ck_assert_uint_eq(st->isr, 0);
	for (unsigned i = 0; i < NQ; i++) {
		wr(Q_SELECT, 2, i);
		ck_assert_uint_eq(rd(Q_SIZE, 2), QMAX);
		ck_assert_uint_eq(rd(Q_ENABLE, 2), 0);
		ck_assert_uint_eq(rd(Q_MSIX, 2), NO_VECTOR);
		ck_assert_uint_eq(rd(Q_DESC, 8), 0);
		ck_assert_uint_eq(rd(Q_DRIVER, 4), 0);
		ck_assert_uint_eq(rd(Q_DEVICE + 4, 4), 0);
		ck_assert_uint_eq(st->vq[i].last_avail, 0);
		ck_assert_uint_eq(st->vq[i].signalled_used, 0);
		ck_assert_uint_eq(st->vq[i].flags, 0);
	}
	/* The driver may start over. */
	driver_up(F_VERSION_1);
	ck_assert_int_eq(resets, 1);
}
END_TEST

START_TEST(queue_size_validation)
{
	driver_up(F_VERSION_1);
	wr(Q_SELECT, 2, 0);
	wr(Q_SIZE, 2, 64);
	ck_assert_uint_eq(rd(Q_SIZE, 2), 64);
	ck_assert_uint_eq(rd(STATUS, 1) & S_NEEDS_RESET, 0);
	wr(Q_SIZE, 2, QMAX);
	ck_assert_uint_eq(rd(Q_SIZE, 2), QMAX);
	/* Not a power of two. */
	wr(Q_SIZE, 2, 48);
	ck_assert_uint_eq(rd(Q_SIZE, 2), QMAX);
	ck_assert_uint_eq(rd(STATUS, 1) & S_NEEDS_RESET, S_NEEDS_RESET);
	wr(STATUS, 1, 0);
	/* Larger than offered, and zero. */
	driver_up(F_VERSION_1);
	wr(Q_SIZE, 2, 2 * QMAX);
	ck_assert_uint_eq(rd(Q_SIZE, 2), QMAX);
	ck_assert_uint_eq(rd(STATUS, 1) & S_NEEDS_RESET, S_NEEDS_RESET);
	wr(STATUS, 1, 0);
	driver_up(F_VERSION_1);
	wr(Q_SIZE, 2, 0);
	ck_assert_uint_eq(rd(STATUS, 1) & S_NEEDS_RESET, S_NEEDS_RESET);
}
END_TEST

START_TEST(queue_address_alignment)
{
	driver_up(F_VERSION_1);
	wr(Q_SELECT, 2, 2);
	wr(Q_DESC, 8, 0x123456780ull);			/* 16-aligned */
	ck_assert_uint_eq(rd(Q_DESC, 4), 0x23456780);
	ck_assert_uint_eq(rd(Q_DESC + 4, 4), 0x1);
	ck_assert_uint_eq(rd(Q_DESC, 8), 0x123456780ull);
	wr(Q_DRIVER, 4, 0x1002);			/* 2-aligned */
	wr(Q_DEVICE, 4, 0x2004);			/* 4-aligned */
	ck_assert_uint_eq(rd(Q_DRIVER, 4), 0x1002);
	ck_assert_uint_eq(rd(Q_DEVICE, 4), 0x2004);
	ck_assert_uint_eq(rd(STATUS, 1) & S_NEEDS_RESET, 0);

	wr(Q_DESC, 4, 0x1008);
	ck_assert_uint_eq(rd(STATUS, 1) & S_NEEDS_RESET, S_NEEDS_RESET);
	ck_assert_uint_eq(rd(Q_DESC, 4), 0x23456780);	/* unchanged */
	wr(STATUS, 1, 0);
	driver_up(F_VERSION_1);
	wr(Q_DRIVER, 4, 0x1001);
	ck_assert_uint_eq(rd(STATUS, 1) & S_NEEDS_RESET, S_NEEDS_RESET);
	wr(STATUS, 1, 0);
	driver_up(F_VERSION_1);
	wr(Q_DEVICE, 4, 0x2002);
	ck_assert_uint_eq(rd(STATUS, 1) & S_NEEDS_RESET, S_NEEDS_RESET);
	ck_assert_uint_eq(st->violations, 3);
}
END_TEST

START_TEST(queue_enable)
{
	driver_up(F_VERSION_1);
	/* Left by an earlier life of the queue: enabling forgets it. */
	st->vq[1].last_avail = 5;
	st->vq[1].used_idx = 6;
	st->vq[1].signalled_used = 7;
	st->vq[1].flags = VQ_SIGNALLED;
	queue_setup(1, 128, MEM_BASE);
	ck_assert_uint_eq(rd(Q_ENABLE, 2), 1);
	ck_assert_uint_eq(st->vq[1].last_avail, 0);
	ck_assert_uint_eq(st->vq[1].used_idx, 0);
	ck_assert_uint_eq(st->vq[1].signalled_used, 0);
	ck_assert_uint_eq(st->vq[1].flags, 0);
	ck_assert_uint_eq(st->vq[1].size, 128);
	ck_assert_uint_eq(st->vq[1].desc, MEM_BASE);
	ck_assert_uint_eq(st->vq[1].avail, MEM_BASE + 0x1000);
	ck_assert_uint_eq(st->vq[1].used, MEM_BASE + 0x2000);
	/* 0 is not a valid write; the queue stays enabled. */
	capture_start();
	wr(Q_ENABLE, 2, 0);
	ck_assert_uint_eq(rd(Q_ENABLE, 2), 1);
	ck_assert_uint_eq(rd(STATUS, 1) & S_NEEDS_RESET, 0);
	/* Vectors are free to change; ring geometry is not. */
	wr(Q_MSIX, 2, 1);
	ck_assert_uint_eq(rd(Q_MSIX, 2), 1);
	wr(Q_MSIX, 2, NQ + 1);		/* beyond the table: mapping fails */
	ck_assert_uint_eq(rd(Q_MSIX, 2), NO_VECTOR);
	wr(Q_DESC, 4, 0x5000);
	ck_assert_uint_eq(rd(Q_DESC, 4), (uint32_t)MEM_BASE);
	ck_assert_uint_eq(rd(STATUS, 1) & S_NEEDS_RESET, S_NEEDS_RESET);
	ck_assert_int_eq(capture_count("needs reset"), 1);
	capture_end();
	/* Other queues are untouched. */
	wr(Q_SELECT, 2, 0);
	ck_assert_uint_eq(rd(Q_ENABLE, 2), 0);
}
END_TEST

START_TEST(bad_accesses)
{
	uint64_t v = 1;

	capture_start();
	/* Wrong width on a register: reads 0, write dropped. */
	ck_assert_int_eq(rd_ret(STATUS, 4, &v), -EINVAL);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(rd_ret(Q_SIZE, 1, &v), -EINVAL);
	ck_assert_int_eq(rd_ret(DF + 2, 2, &v), -EINVAL);	/* mid-field */
	ck_assert_int_eq(rd_ret(Q_DESC + 2, 4, &v), -EINVAL);
	ck_assert_int_eq(rd_ret(0x38, 2, &v), -EINVAL);	/* past the end */
	ck_assert_int_eq(rd_ret(0x4000, 4, &v), -EINVAL);	/* past BAR0 */
	ck_assert_int_eq(rd_ret(ISR, 4, &v), -EINVAL);
	ck_assert_int_eq(rd_ret(0, 3, &v), -EINVAL);
	wr(Q_SELECT, 4, 2);
	ck_assert_uint_eq(rd(Q_SELECT, 2), 0);
	/* Read-only registers ignore writes. */
	wr(NUMQ, 2, 9);
	wr(DF, 4, 0);
	ck_assert_uint_eq(rd(NUMQ, 2), NQ);
	wr(DFSELECT, 4, 1);
	ck_assert_uint_eq(rd(DF, 4), (F_DEV_HI | F_VERSION_1) >> 32);
	/* Nothing of that is a protocol violation ... */
	ck_assert_uint_eq(rd(STATUS, 1) & S_NEEDS_RESET, 0);
	/* ... and each kind is logged once, however often it happens. */
	ck_assert_int_eq(capture_count("(logged once)"), 4);
	ck_assert_int_eq(rd_ret(STATUS, 4, &v), -EINVAL);
	wr(NUMQ, 2, 9);
	ck_assert_int_eq(capture_count("(logged once)"), 4);
	capture_end();
}
END_TEST

/* A mediator's ring request: BAR0 MMIO reaches the transport with the
 * request's slot and seq; any other kind or region reads all ones and
 * writes nothing. */
START_TEST(ioreq_routing)
{
	struct ioreq r = { .type = IOREQ_MMIO, .size = 1, .dir = IOREQ_WRITE,
	    .index = 0, .seq = 1, .addr = STATUS, .data = S_ACK };
	uint64_t v = 0;

	virtio_pci_ioreq(st, &dev, 0, &r, &v);
	ck_assert_uint_eq(rd(STATUS, 1), S_ACK);
	r.dir = IOREQ_READ;
	r.seq = 2;
	virtio_pci_ioreq(st, &dev, 0, &r, &v);
	ck_assert_uint_eq(v, S_ACK);
	/* Not BAR0, not MMIO: all ones, the status untouched. */
	r.dir = IOREQ_WRITE;
	r.data = 0;
	r.index = 2;
	virtio_pci_ioreq(st, &dev, 0, &r, &v);
	ck_assert_uint_eq(v, ~0ULL);
	r.index = 0;
	r.type = IOREQ_PIO;
	virtio_pci_ioreq(st, &dev, 0, &r, &v);
	ck_assert_uint_eq(v, ~0ULL);
	ck_assert_uint_eq(rd(STATUS, 1), S_ACK);
	/* The ISR's read-and-clear happens once per (slot, seq), replays
	 * included, through this path too. */
	virtio_raise_config(st, rec_fire, NULL);
	r = (struct ioreq){ .type = IOREQ_MMIO, .size = 1, .dir = IOREQ_READ,
	    .index = 0, .seq = 7, .addr = ISR };
	virtio_pci_ioreq(st, &dev, 3, &r, &v);
	ck_assert_uint_eq(v, 0x2);
	virtio_pci_ioreq(st, &dev, 3, &r, &v);
	ck_assert_uint_eq(v, 0x2);
	r.seq = 8;
	virtio_pci_ioreq(st, &dev, 3, &r, &v);
	ck_assert_uint_eq(v, 0);
}
END_TEST

/* ---- ISR and its latch ------------------------------------------------ */

static uint8_t
isr_read(unsigned slot, uint32_t s)
{
	uint64_t v = 0xdead;

	ck_assert_int_eq(virtio_pci_read(st, &dev, ISR, 1, slot, s, &v), 0);
	ck_assert_uint_le(v, 0xff);
	return (uint8_t)v;
}

START_TEST(isr_read_clears)
{
	/* MSI-X is off: a raise sets the ISR and pulls INTx. */
	ck_assert_int_eq(virtio_raise(st, 0, rec_fire, NULL),
	    VIRTIO_RAISE_FIRED);
	ck_assert_uint_eq(intx_fires, 1);
	ck_assert(virtio_intx_pending(st));
	ck_assert_uint_eq(isr_read(0, 1), 0x1);
	ck_assert_uint_eq(st->isr, 0);
	ck_assert(!virtio_intx_pending(st));
	ck_assert_uint_eq(isr_read(0, 2), 0);
	virtio_raise_config(st, rec_fire, NULL);
	ck_assert_uint_eq(isr_read(0, 3), 0x2);
	ck_assert_uint_eq(intx_fires, 2);
}
END_TEST

/* The guest's EOI (KVM's resample eventfd) asserts INTx again only
 * while the ISR still holds a reason, and never with MSI-X on. */
START_TEST(intx_resample)
{
	ck_assert(!virtio_intx_resample(st, rec_fire, NULL));
	ck_assert_uint_eq(intx_fires, 0);
	virtio_raise(st, 0, rec_fire, NULL);
	ck_assert_uint_eq(intx_fires, 1);
	/* EOI before the handler read the ISR: the line comes back. */
	ck_assert(virtio_intx_resample(st, rec_fire, NULL));
	ck_assert_uint_eq(intx_fires, 2);
	/* The handler read it: the line stays down. */
	ck_assert_uint_eq(isr_read(0, 1), 0x1);
	ck_assert(!virtio_intx_resample(st, rec_fire, NULL));
	ck_assert_uint_eq(intx_fires, 2);
	/* A config change pending is a reason too. */
	virtio_raise_config(st, rec_fire, NULL);
	ck_assert(virtio_intx_resample(st, rec_fire, NULL));
	ck_assert_uint_eq(intx_fires, 4);
	/* With MSI-X enabled the line is not used at all. */
	virtio_msix_control(st, 0x8000, rec_fire, NULL);
	ck_assert(!virtio_intx_resample(st, rec_fire, NULL));
	ck_assert_uint_eq(intx_fires, 4);
}
END_TEST

START_TEST(isr_latch_replay)
{
	virtio_raise(st, 0, rec_fire, NULL);
	virtio_raise_config(st, rec_fire, NULL);
	ck_assert_uint_eq(isr_read(3, 10), 0x3);
	ck_assert_uint_eq(st->isr, 0);
	/* The same request run again: the same answer, nothing re-read. */
	ck_assert_uint_eq(isr_read(3, 10), 0x3);
	ck_assert_uint_eq(st->isr, 0);
	/* Another slot with the same number is another request. */
	ck_assert_uint_eq(isr_read(4, 10), 0);
	/* The next request on the slot reads afresh. */
	virtio_raise(st, 0, rec_fire, NULL);
	ck_assert_uint_eq(isr_read(3, 11), 0x1);
	ck_assert_uint_eq(isr_read(3, 12), 0);
}
END_TEST

START_TEST(isr_latch_crash_before_clear)
{
	/*
	 * A mediator latched 0x2 for (slot 5, seq 20) and died before it
	 * cleared the ISR; the queue bit was raised after the latch.  The
	 * replay answers 0x2 and clears just that bit.
	 */
	st->isr = 0x2 | 0x1;
	st->isr_latch[5] = (uint64_t)20 << 32 | 0x100 | 0x2;
	ck_assert_uint_eq(isr_read(5, 20), 0x2);
	ck_assert_uint_eq(st->isr, 0x1);
	ck_assert_uint_eq(isr_read(5, 21), 0x1);
	ck_assert_uint_eq(st->isr, 0);
}
END_TEST

START_TEST(isr_latch_forgotten)
{
	uint64_t v;

	virtio_raise(st, 0, rec_fire, NULL);
	ck_assert_uint_eq(isr_read(2, 7), 0x1);
	/* Any later access on the slot retires the latch ... */
	ck_assert_int_eq(virtio_pci_read(st, &dev, STATUS, 1, 2, 8, &v), 0);
	ck_assert_uint_eq(st->isr_latch[2], 0);
	/* ... so a wrapped seq cannot find a stale value. */
	ck_assert_uint_eq(isr_read(2, 7), 0);
	/* Slots beyond the latches still read and clear. */
	virtio_raise(st, 0, rec_fire, NULL);
	capture_start();
	ck_assert_uint_eq(isr_read(VIRTIO_LATCH_SLOTS, 1), 0x1);
	ck_assert_int_eq(capture_count("(logged once)"), 1);
	capture_end();
}
END_TEST

/* ---- violations ------------------------------------------------------- */

/* Queue 0 of size 8 with rings in the fake RAM, driver fully up. */
static void
ring_up(void)
{
	driver_up(F_VERSION_1 | F_INDIRECT);
	queue_setup(0, 8, MEM_BASE);
	wr(STATUS, 1, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
}

/* Makes the next available entry of queue 0 name head. */
static void
post_head(uint16_t head)
{
	uint16_t idx;

	memcpy(&idx, mem + 0x1002, 2);
	memcpy(mem + 0x1004 + 2 * (idx % 8), &head, 2);
	idx++;
	memcpy(mem + 0x1002, &idx, 2);
}

START_TEST(violation_needs_reset)
{
	struct vq_chain *c = malloc(sizeof(*c));

	ring_up();
	capture_start();
	post_head(9);				/* head >= queue size */
	ck_assert_int_eq(virtio_queue_pop(st, &dev, &gm, 0, c), -EPROTO);
	ck_assert_uint_eq(rd(STATUS, 1) & S_NEEDS_RESET, S_NEEDS_RESET);
	ck_assert_uint_eq(rd(STATUS, 1) & S_DRIVER_OK, S_DRIVER_OK);
	/* The config-change interrupt (MSI-X off: ISR bit 1 + INTx). */
	ck_assert_uint_eq(intx_fires, 1);
	ck_assert_uint_eq(st->isr & 0x2, 0x2);
	ck_assert_int_eq(capture_count("needs reset"), 1);
	ck_assert_int_eq(capture_count("head index"), 1);
	/* The queue is dead until reset; no second line, no second irq. */
	ck_assert_int_eq(virtio_queue_pop(st, &dev, &gm, 0, c), 0);
	ck_assert_ptr_null(virtio_queue(st, &dev, 0));
	wr(Q_SELECT, 2, 1);
	wr(Q_SIZE, 2, 3);			/* a transport violation */
	ck_assert_uint_eq(st->violations, 2);
	ck_assert_int_eq(capture_count("needs reset"), 1);
	ck_assert_uint_eq(intx_fires, 1);
	/* The driver writing the bit itself changes nothing. */
	wr(STATUS, 1, S_ACK);
	ck_assert_uint_eq(rd(STATUS, 1) & S_NEEDS_RESET, S_NEEDS_RESET);
	/* Reset: a new cycle, logged again. */
	wr(STATUS, 1, 0);
	ck_assert_uint_eq(rd(STATUS, 1), 0);
	ring_up();
	post_head(8);
	ck_assert_int_eq(virtio_queue_pop(st, &dev, &gm, 0, c), -EPROTO);
	ck_assert_int_eq(capture_count("needs reset"), 2);
	ck_assert_uint_eq(intx_fires, 2);
	capture_end();
	free(c);
}
END_TEST

START_TEST(driver_ok_without_features_ok)
{
	capture_start();
	wr(STATUS, 1, S_ACK | S_DRIVER | S_DRIVER_OK);
	ck_assert_uint_eq(rd(STATUS, 1) & S_NEEDS_RESET, S_NEEDS_RESET);
	ck_assert_int_eq(capture_count("needs reset"), 1);
	capture_end();
}
END_TEST

START_TEST(queue_pop_push)
{
	struct vq_chain *c = malloc(sizeof(*c));
	uint64_t buf = MEM_BASE + 0x4000;
	uint16_t used_idx;

	/* Nothing before DRIVER_OK. */
	driver_up(F_VERSION_1);
	queue_setup(0, 8, MEM_BASE);
	memcpy(mem, &buf, 8);			/* desc 0: 16 writable bytes */
	mem[8] = 16;
	mem[12] = 2;
	post_head(0);
	ck_assert_int_eq(virtio_queue_pop(st, &dev, &gm, 0, c), 0);
	wr(STATUS, 1, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	ck_assert_int_eq(virtio_queue_pop(st, &dev, &gm, 0, c), 1);
	ck_assert_uint_eq(c->in_len, 16);
	ck_assert_int_eq(virtio_queue_push(st, &dev, &gm, 0, c->head, 16), 0);
	memcpy(&used_idx, mem + 0x2002, 2);
	ck_assert_uint_eq(used_idx, 1);
	/* The queue's interrupt, on its vector when MSI-X is on. */
	virtio_msix_control(st, 0x8000, rec_fire, NULL);
	wr(Q_MSIX, 2, 1);
	virtio_msix_write(st, 16 + 12, 4, 0, NULL, rec_fire, NULL);
	ck_assert_int_eq(virtio_queue_interrupt(st, &dev, &gm, 0),
	    VIRTIO_RAISE_FIRED);
	ck_assert_uint_eq(fires[1], 1);
	mem[0x1000] = 1;			/* VIRTQ_AVAIL_F_NO_INTERRUPT */
	ck_assert_int_eq(virtio_queue_interrupt(st, &dev, &gm, 0),
	    VIRTIO_RAISE_NONE);
	ck_assert_uint_eq(fires[1], 1);
	/* After a reset, late completions are dropped, not written. */
	wr(STATUS, 1, 0);
	ck_assert_int_eq(virtio_queue_push(st, &dev, &gm, 0, 0, 16), -EINVAL);
	memcpy(&used_idx, mem + 0x2002, 2);
	ck_assert_uint_eq(used_idx, 1);
	free(c);
}
END_TEST

/* ---- EVENT_IDX ------------------------------------------------------- */

/* Queue 0 (size 8, rings at MEM_BASE) in the spec's layout. */
#define USED_EVENT	(0x1000 + 4 + 2 * 8)	/* after avail->ring[8] */
#define AVAIL_EVENT	(0x2000 + 4 + 8 * 8)	/* after used->ring[8] */

static void
put16(uint64_t off, uint16_t v)
{
	memcpy(mem + off, &v, 2);
}

static uint16_t
get16(uint64_t off)
{
	uint16_t v;

	memcpy(&v, mem + off, 2);
	return v;
}

/* ring_up() with features, MSI-X on and queue 0 on unmasked vector 1. */
static void
ring_up_msix(uint64_t features)
{
	uint64_t buf = MEM_BASE + 0x4000;

	driver_up(features);
	queue_setup(0, 8, MEM_BASE);
	wr(Q_MSIX, 2, 1);
	wr(STATUS, 1, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	virtio_msix_control(st, 0x8000, rec_fire, NULL);
	virtio_msix_write(st, 16 + 12, 4, 0, NULL, rec_fire, NULL);
	memcpy(mem, &buf, 8);			/* desc 0: 16 writable bytes */
	mem[8] = 16;
	mem[12] = 2;
}

START_TEST(queue_event_idx)
{
	struct vq_chain *c = malloc(sizeof(*c));

	ring_up_msix(F_VERSION_1 | F_EVENT_IDX);
	post_head(0);
	ck_assert_int_eq(virtio_queue_pop(st, &dev, &gm, 0, c), 1);
	/* Empty after the pop: armed at last_avail (1), nothing more. */
	put16(AVAIL_EVENT, 0xbeef);
	ck_assert(!virtio_queue_arm(st, &dev, &gm, 0));
	ck_assert_uint_eq(get16(AVAIL_EVENT), 1);
	/* A chain published in between is reported, not waited for. */
	post_head(0);
	ck_assert(virtio_queue_arm(st, &dev, &gm, 0));
	ck_assert_int_eq(virtio_queue_pop(st, &dev, &gm, 0, c), 1);
	ck_assert(!virtio_queue_arm(st, &dev, &gm, 0));
	ck_assert_uint_eq(get16(AVAIL_EVENT), 2);

	/* First decision since the queue was enabled: interrupt. */
	put16(USED_EVENT, 100);
	ck_assert_int_eq(virtio_queue_push(st, &dev, &gm, 0, 0, 16), 0);
	ck_assert_int_eq(virtio_queue_interrupt(st, &dev, &gm, 0),
	    VIRTIO_RAISE_FIRED);
	ck_assert_uint_eq(fires[1], 1);
	/* Then used_event rules, and NO_INTERRUPT means nothing. */
	mem[0x1000] = 1;
	put16(USED_EVENT, 1);
	ck_assert_int_eq(virtio_queue_push(st, &dev, &gm, 0, 0, 16), 0);
	ck_assert_int_eq(virtio_queue_interrupt(st, &dev, &gm, 0),
	    VIRTIO_RAISE_FIRED);
	ck_assert_uint_eq(fires[1], 2);
	mem[0x1000] = 0;
	ck_assert_int_eq(virtio_queue_push(st, &dev, &gm, 0, 0, 16), 0);
	ck_assert_int_eq(virtio_queue_interrupt(st, &dev, &gm, 0),
	    VIRTIO_RAISE_NONE);
	ck_assert_uint_eq(fires[1], 2);
	ck_assert_uint_eq(st->vq[0].signalled_used, 3);
	ck_assert_uint_eq(rd(STATUS, 1) & S_NEEDS_RESET, 0);
	free(c);
}
END_TEST

START_TEST(queue_no_event_idx)
{
	/* Offered but not taken: flags as before, the event fields unused. */
	ring_up_msix(F_VERSION_1);
	put16(AVAIL_EVENT, 0xbeef);
	put16(USED_EVENT, 100);
	ck_assert(!virtio_queue_arm(st, &dev, &gm, 0));
	post_head(0);
	ck_assert(virtio_queue_arm(st, &dev, &gm, 0));
	ck_assert_uint_eq(get16(AVAIL_EVENT), 0xbeef);
	ck_assert_int_eq(virtio_queue_push(st, &dev, &gm, 0, 0, 16), 0);
	ck_assert_int_eq(virtio_queue_interrupt(st, &dev, &gm, 0),
	    VIRTIO_RAISE_FIRED);
	ck_assert_int_eq(virtio_queue_interrupt(st, &dev, &gm, 0),
	    VIRTIO_RAISE_FIRED);
	mem[0x1000] = 1;
	ck_assert_int_eq(virtio_queue_interrupt(st, &dev, &gm, 0),
	    VIRTIO_RAISE_NONE);
	ck_assert_uint_eq(fires[1], 2);
}
END_TEST

/* Queue 0 of size 8 with its used ring at used, the rest as usual. */
static void
ring_up_used_at(uint64_t features, uint64_t used)
{
	driver_up(features);
	wr(Q_SELECT, 2, 0);
	wr(Q_SIZE, 2, 8);
	wr(Q_DESC, 8, MEM_BASE);
	wr(Q_DRIVER, 8, MEM_BASE + 0x1000);
	wr(Q_DEVICE, 8, used);
	wr(Q_ENABLE, 2, 1);
	wr(STATUS, 1, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
}

START_TEST(queue_event_outside_memory)
{
	/* avail_event, the used ring's last two bytes, past the end. */
	uint64_t used = MEM_BASE + MEM_SIZE - (4 + 8 * 8);

	/* Without EVENT_IDX arming does not look at the used ring ... */
	ring_up_used_at(F_VERSION_1, used);
	ck_assert(!virtio_queue_arm(st, &dev, &gm, 0));
	ck_assert_uint_eq(rd(STATUS, 1) & S_NEEDS_RESET, 0);
	wr(STATUS, 1, 0);
	/* ... with it, the ring is refused: a violation, no write. */
	ring_up_used_at(F_VERSION_1 | F_EVENT_IDX, used);
	capture_start();
	ck_assert(!virtio_queue_arm(st, &dev, &gm, 0));
	ck_assert_uint_eq(rd(STATUS, 1) & S_NEEDS_RESET, S_NEEDS_RESET);
	ck_assert_int_eq(capture_count("outside guest memory"), 1);
	capture_end();
	ck_assert_ptr_null(virtio_queue(st, &dev, 0));
	ck_assert(!virtio_queue_arm(st, &dev, &gm, 0));
	/* Lower (keeping the alignment) it fits, avail_event last. */
	wr(STATUS, 1, 0);
	ring_up_used_at(F_VERSION_1 | F_EVENT_IDX, used - 4);
	put16(MEM_SIZE - 4, 0xbeef);
	put16(MEM_SIZE - 2, 0xbeef);
	ck_assert(!virtio_queue_arm(st, &dev, &gm, 0));
	ck_assert_uint_eq(get16(MEM_SIZE - 4), 0);
	ck_assert_uint_eq(get16(MEM_SIZE - 2), 0xbeef);
	ck_assert_uint_eq(rd(STATUS, 1) & S_NEEDS_RESET, 0);
}
END_TEST

START_TEST(takeover_redoes)
{
	ring_up_msix(F_VERSION_1 | F_EVENT_IDX);
	ck_assert_int_eq(virtio_queue_push(st, &dev, &gm, 0, 0, 16), 0);
	ck_assert_int_eq(virtio_queue_interrupt(st, &dev, &gm, 0),
	    VIRTIO_RAISE_FIRED);
	/* The driver wants nothing now: a decision would say no ... */
	put16(USED_EVENT, 50);
	st->vq[2].flags = VQ_SIGNALLED;		/* not enabled */
	/* ... but the dead process may have decided and not raised. */
	virtio_takeover(st, &dev, &gm);
	ck_assert_uint_eq(fires[1], 2);
	ck_assert_uint_eq(st->vq[0].flags & VQ_SIGNALLED, VQ_SIGNALLED);
	ck_assert_uint_eq(st->vq[2].flags, 0);
	/* And the queue is looked at as if the driver had notified. */
	ck_assert_int_eq(notified[0], 2);	/* DRIVER_OK, takeover */
	ck_assert_int_eq(notified[1], 0);
	ck_assert_int_eq(notified[2], 0);
	/* Without EVENT_IDX, NO_INTERRUPT still holds. */
	wr(STATUS, 1, 0);
	ring_up_msix(F_VERSION_1);
	mem[0x1000] = 1;
	virtio_takeover(st, &dev, &gm);
	ck_assert_uint_eq(fires[1], 2);
	ck_assert_int_eq(notified[0], 4);
	/* A device that needs reset gets neither. */
	mem[0x1000] = 0;
	capture_start();
	wr(Q_SIZE, 2, 3);			/* a violation */
	capture_end();
	virtio_takeover(st, &dev, &gm);
	ck_assert_uint_eq(fires[1], 2);
	ck_assert_int_eq(notified[0], 4);
}
END_TEST

/* ---- device configuration and notifications --------------------------- */

START_TEST(device_config)
{
	uint64_t v;

	for (unsigned i = 0; i < CFGLEN; i++)
		st->config[i] = (uint8_t)(0x10 + i);
	ck_assert_uint_eq(rd(DEVCFG + 4, 4), 0x17161514);
	ck_assert_uint_eq(rd(DEVCFG + 1, 1), 0x11);
	ck_assert_uint_eq(rd(DEVCFG + 16, 8), 0x2726252423222120ull);
	ck_assert_int_eq(rd_ret(DEVCFG + CFGLEN - 2, 4, &v), -EINVAL);
	ck_assert_uint_eq(v, 0);
	/* A change shows in the generation after the next config read. */
	uint8_t gen = (uint8_t)rd(CFGGEN, 1);

	virtio_config_changed(st, &dev);
	ck_assert_uint_eq(intx_fires, 1);
	ck_assert_uint_eq(st->isr, 0x2);
	rd(DEVCFG, 1);
	ck_assert_uint_eq(rd(CFGGEN, 1), (uint8_t)(gen + 1));
	rd(DEVCFG, 1);
	ck_assert_uint_eq(rd(CFGGEN, 1), (uint8_t)(gen + 1));
	/* Writes go to the device's hook, inside config_len only. */
	wr(DEVCFG + 8, 2, 0xbeef);
	ck_assert_int_eq(cfg_writes, 1);
	ck_assert_uint_eq(cfg_off, 8);
	ck_assert_uint_eq(cfg_size, 2);
	ck_assert_uint_eq(cfg_val, 0xbeef);
	wr(DEVCFG + CFGLEN, 1, 1);
	ck_assert_int_eq(cfg_writes, 1);
	/* The transport itself never stores guest writes there. */
	ck_assert_uint_eq(st->config[8], 0x18);
}
END_TEST

START_TEST(notify)
{
	driver_up(F_VERSION_1);
	queue_setup(1, 8, MEM_BASE);
	wr(NOTIFY + 4 * 1, 2, 1);
	ck_assert_int_eq(notified[1], 1);
	wr(NOTIFY + 4 * 1, 4, 1);		/* NOTIFICATION_DATA width */
	ck_assert_int_eq(notified[1], 2);
	wr(NOTIFY + 4 * 0, 2, 0);			/* not enabled */
	ck_assert_int_eq(notified[0], 0);
	wr(NOTIFY + 4 * 1 + 2, 2, 1);			/* misaligned */
	wr(NOTIFY + 4 * NQ, 2, NQ);			/* no such queue */
	wr(NOTIFY + 4 * 1, 1, 1);			/* wrong width */
	ck_assert_int_eq(notified[1], 2);
	ck_assert_int_eq(notified[NQ], 0);
	ck_assert_uint_eq(rd(NOTIFY, 2), 0);
	/* Going live kicks the enabled queues once (kicks before were moot). */
	wr(STATUS, 1, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	ck_assert_int_eq(notified[1], 3);
	ck_assert_int_eq(notified[0], 0);
	wr(STATUS, 1, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	ck_assert_int_eq(notified[1], 3);
}
END_TEST

/* ---- MSI-X ------------------------------------------------------------ */

static uint64_t
pba(void)
{
	uint64_t v;

	ck_assert_int_eq(virtio_msix_read(st, 0x800, 8, &v), 0);
	return v;
}

static void
vector_ctrl(uint16_t v, uint32_t ctrl)
{
	ck_assert_int_eq(virtio_msix_write(st, 16 * v + 12, 4, ctrl,
	    rec_route, rec_fire, NULL), 0);
}

START_TEST(msix_masked_then_unmasked)
{
	virtio_msix_control(st, 0x8000, rec_fire, NULL);	/* enable */
	/* Vectors come out of reset masked. */
	ck_assert_int_eq(virtio_raise(st, 1, rec_fire, NULL),
	    VIRTIO_RAISE_PENDED);
	ck_assert_uint_eq(fires[1], 0);
	ck_assert_uint_eq(intx_fires, 0);
	ck_assert_uint_eq(st->isr, 0);
	ck_assert_uint_eq(pba(), 1u << 1);
	/* A second raise merges into the pending one. */
	ck_assert_int_eq(virtio_raise(st, 1, rec_fire, NULL),
	    VIRTIO_RAISE_COALESCED);
	vector_ctrl(1, 0);
	ck_assert_uint_eq(fires[1], 1);
	ck_assert_uint_eq(pba(), 0);
	/* Unmasking again (or writing 0 again) fires nothing more. */
	vector_ctrl(1, 0);
	ck_assert(!virtio_msix_unmasked(st, 1, rec_fire, NULL));
	ck_assert_uint_eq(fires[1], 1);
	/* Unmasked: straight through. */
	ck_assert_int_eq(virtio_raise(st, 1, rec_fire, NULL),
	    VIRTIO_RAISE_FIRED);
	ck_assert_uint_eq(fires[1], 2);
	/* No vector, or one past the table: nothing. */
	ck_assert_int_eq(virtio_raise(st, NO_VECTOR, rec_fire, NULL),
	    VIRTIO_RAISE_NONE);
	ck_assert_int_eq(virtio_raise(st, NQ + 1, rec_fire, NULL),
	    VIRTIO_RAISE_NONE);
	ck_assert_uint_eq(pba(), 0);
	for (unsigned v = 0; v < VIRTIO_MSIX_MAX; v++)
		ck_assert_uint_eq(fires[v], v == 1 ? 2 : 0);
}
END_TEST

START_TEST(msix_function_mask)
{
	virtio_msix_control(st, 0x8000 | 0x4000, rec_fire, NULL);
	vector_ctrl(0, 0);
	vector_ctrl(2, 0);
	ck_assert_int_eq(virtio_raise(st, 0, rec_fire, NULL),
	    VIRTIO_RAISE_PENDED);
	ck_assert_int_eq(virtio_raise(st, 2, rec_fire, NULL),
	    VIRTIO_RAISE_PENDED);
	ck_assert_uint_eq(pba(), 0x5);
	/* An entry unmask under the function mask delivers nothing. */
	ck_assert(!virtio_msix_unmasked(st, 0, rec_fire, NULL));
	ck_assert_uint_eq(fires[0], 0);
	virtio_msix_control(st, 0x8000, rec_fire, NULL);
	ck_assert_uint_eq(fires[0], 1);
	ck_assert_uint_eq(fires[2], 1);
	ck_assert_uint_eq(pba(), 0);
	/* Disabling MSI-X falls back to INTx and the ISR. */
	virtio_msix_control(st, 0, rec_fire, NULL);
	ck_assert_int_eq(virtio_raise(st, 0, rec_fire, NULL),
	    VIRTIO_RAISE_FIRED);
	ck_assert_uint_eq(intx_fires, 1);
	ck_assert_uint_eq(fires[0], 1);
	ck_assert_uint_eq(st->isr, 0x1);
}
END_TEST

START_TEST(msix_bar2)
{
	uint64_t v;

	/* 32- and 64-bit accesses to an entry; data changes move routes. */
	ck_assert_int_eq(virtio_msix_write(st, 16 * 2, 8, 0xfee00000ull,
	    rec_route, rec_fire, NULL), 0);
	ck_assert_uint_eq(routes[2], 1);
	ck_assert_int_eq(virtio_msix_write(st, 16 * 2 + 8, 4, 0x4041,
	    rec_route, rec_fire, NULL), 0);
	ck_assert_uint_eq(routes[2], 2);
	ck_assert_int_eq(virtio_msix_write(st, 16 * 2 + 8, 4, 0x4041,
	    rec_route, rec_fire, NULL), 0);
	ck_assert_uint_eq(routes[2], 2);		/* same value */
	ck_assert_int_eq(virtio_msix_read(st, 16 * 2, 4, &v), 0);
	ck_assert_uint_eq(v, 0xfee00000);
	ck_assert_int_eq(virtio_msix_read(st, 16 * 2 + 8, 8, &v), 0);
	ck_assert_uint_eq(v, 0x100000000ull | 0x4041);	/* data, masked */
	/* Vector control keeps only the mask bit. */
	vector_ctrl(2, 0xfffffffe);
	ck_assert_int_eq(virtio_msix_read(st, 16 * 2 + 12, 4, &v), 0);
	ck_assert_uint_eq(v, 0);
	/* Past the table (NQ + 1 entries), the PBA, bad sizes: refused. */
	ck_assert_int_eq(virtio_msix_write(st, 16 * (NQ + 1), 4, 0, rec_route,
	    rec_fire, NULL), -EINVAL);
	ck_assert_int_eq(virtio_msix_write(st, 0x800, 8, ~0ull, rec_route,
	    rec_fire, NULL), -EINVAL);
	ck_assert_uint_eq(pba(), 0);
	ck_assert_int_eq(virtio_msix_write(st, 2, 2, 0, rec_route, rec_fire,
	    NULL), -EINVAL);
	ck_assert_int_eq(virtio_msix_read(st, 16 * (NQ + 1), 4, &v), -EINVAL);
	ck_assert_int_eq(virtio_msix_read(st, 0x808, 8, &v), -EINVAL);
	ck_assert_int_eq(virtio_msix_read(st, 0x804, 4, &v), 0);
	ck_assert_int_eq(virtio_msix_read(st, 6, 4, &v), -EINVAL);
}
END_TEST

/*
 * The race: one thread raises a masked vector (the mediator) while
 * another unmasks it (the VM process), round after round, each round
 * started by a spin barrier so that the two meet within a few hundred
 * nanoseconds and the unmask lands at a different point of the raise
 * every time.  Per round, every raise that did not merge into a pending
 * interrupt (FIRED or PENDED) must produce exactly one fire, counted
 * by whichever side fired; a lost interrupt (a pended raise nobody
 * delivers) or a doubled one (both sides deliver) breaks the equality
 * in the round it happens, and the PBA bit must be clear at the end.
 *
 * The check can only catch what the scheduler lets happen: the rounds
 * where the unmask really fell among the raises are counted, and the
 * test runs on past RACE_ROUNDS (within a time budget) until enough of
 * them happened.  On a machine too busy to run both threads at once it
 * says so on stdout.
 */
#define RACE_ROUNDS	100000		/* at least */
#define RACE_MAX_ROUNDS	2000000
#define RACE_MIN_INSIDE	1000		/* rounds with the unmask inside */
#define RACE_BUDGET_NS	20000000000ull	/* after RACE_ROUNDS */
#define RACE_VECTOR	1
#define RACE_SPINS	20000		/* before a waiting thread yields */

struct race {
	unsigned arrived, generation;		/* spin barrier */
	unsigned stop;				/* main: no more rounds */
	unsigned step;				/* ordered rounds: first done */
	unsigned long fires_med, fires_vm;	/* fires from each side */
	unsigned long expected;			/* FIRED + PENDED this round */
	uint64_t raise_start, raise_end;	/* this round's raises (ns) */
	unsigned long total_fired, total_pended, total_coalesced;
};

static struct race race;
static int side_med, side_vm;		/* fire() opaque tags */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
race_fire(void *opaque, uint16_t v)
{
	if (v != RACE_VECTOR)
		return;		/* counts as lost: the round's check fails */
	if (opaque == &side_med)
		__atomic_fetch_add(&race.fires_med, 1, __ATOMIC_SEQ_CST);
	else
		__atomic_fetch_add(&race.fires_vm, 1, __ATOMIC_SEQ_CST);
}

static void
race_spin_until(const unsigned *p, unsigned differs_from)
{
	for (unsigned spins = 0;
	    __atomic_load_n(p, __ATOMIC_ACQUIRE) == differs_from; spins++)
		if (spins > RACE_SPINS)
			sched_yield();	/* the other thread may share our CPU */
}

static void
race_barrier(void)
{
	unsigned gen = __atomic_load_n(&race.generation, __ATOMIC_ACQUIRE);

	if (__atomic_add_fetch(&race.arrived, 1, __ATOMIC_ACQ_REL) == 2) {
		__atomic_store_n(&race.arrived, 0, __ATOMIC_RELAXED);
		__atomic_add_fetch(&race.generation, 1, __ATOMIC_RELEASE);
		return;
	}
	race_spin_until(&race.generation, gen);
}

/*
 * Rounds come in four kinds: unmask strictly before the raise, raise
 * strictly before the unmask (so that each path is surely taken), then
 * two kinds of free race where one side or the other starts up to 2047
 * spins late: the thread leaving the barrier second lags by some
 * hundred nanoseconds, and the delays sweep across that lag.
 */
#define RACE_UNMASK_FIRST(r)	((r) % 4 == 0)
#define RACE_RAISE_FIRST(r)	((r) % 4 == 1)

/* Spins before side (0: the unmask, 1: the raise) starts in round r. */
static unsigned
race_delay(unsigned r, int side)
{
	unsigned d = (r * 2654435761u) >> 21;	/* 0-2047, scattered */

	return r % 4 == 2u + (unsigned)side ? d : 0;
}

static void *
race_mediator(void *arg)
{
	(void)arg;
	for (unsigned r = 0;; r++) {
		unsigned long exp = 0;
		volatile unsigned spin;

		race_barrier();
		if (__atomic_load_n(&race.stop, __ATOMIC_ACQUIRE))
			return NULL;
		if (RACE_UNMASK_FIRST(r))
			race_spin_until(&race.step, 0);
		for (spin = 0; spin < race_delay(r, 1); spin++)
			;
		race.raise_start = now_ns();
		for (unsigned i = 0; i < 1 + r % 3; i++) {
			switch (virtio_raise(st, RACE_VECTOR, race_fire,
			    (void *)&side_med)) {
			case VIRTIO_RAISE_FIRED:
				race.total_fired++;
				exp++;
				break;
			case VIRTIO_RAISE_PENDED:
				race.total_pended++;
				exp++;
				break;
			case VIRTIO_RAISE_COALESCED:
				race.total_coalesced++;
				break;
			}
		}
		race.raise_end = now_ns();
		race.expected = exp;
		if (RACE_RAISE_FIRST(r))
			__atomic_store_n(&race.step, 1, __ATOMIC_RELEASE);
		race_barrier();
	}
}

START_TEST(msix_raise_unmask_race)
{
	unsigned r, bad = 0, first_bad = 0, inside = 0;
	unsigned long vm_delivered = 0, med_fired = 0;
	uint64_t deadline = 0;
	pthread_t t;

	memset(&race, 0, sizeof(race));
	virtio_msix_control(st, 0x8000, rec_fire, NULL);
	ck_assert_int_eq(pthread_create(&t, NULL, race_mediator, NULL), 0);
	for (r = 0;; r++) {
		unsigned long got;
		volatile unsigned spin;
		uint64_t unmask_at;

		if (r == RACE_ROUNDS)
			deadline = now_ns() + RACE_BUDGET_NS;
		if (r >= RACE_MAX_ROUNDS || (r >= RACE_ROUNDS &&
		    (inside >= RACE_MIN_INSIDE || now_ns() > deadline))) {
			__atomic_store_n(&race.stop, 1, __ATOMIC_RELEASE);
			race_barrier();
			break;
		}
		/* Masked, nothing pending, counts cleared: then go. */
		st->msix[RACE_VECTOR].ctrl = 1;
		__atomic_store_n(&race.fires_med, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&race.fires_vm, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&race.step, 0, __ATOMIC_RELAXED);
		race_barrier();
		if (RACE_RAISE_FIRST(r))
			race_spin_until(&race.step, 0);
		for (spin = 0; spin < race_delay(r, 0); spin++)
			;
		unmask_at = now_ns();
		ck_assert_int_eq(virtio_msix_write(st, 16 * RACE_VECTOR + 12,
		    4, 0, NULL, race_fire, (void *)&side_vm), 0);
		if (RACE_UNMASK_FIRST(r))
			__atomic_store_n(&race.step, 1, __ATOMIC_RELEASE);
		race_barrier();
		if (unmask_at >= race.raise_start &&
		    unmask_at <= race.raise_end)
			inside++;
		got = race.fires_med + race.fires_vm;
		vm_delivered += race.fires_vm;
		med_fired += race.fires_med;
		if (got != race.expected || (pba() & (1u << RACE_VECTOR))) {
			if (bad++ == 0)
				first_bad = r;
		}
	}
	pthread_join(t, NULL);
	printf("raise/unmask: %u rounds (%u with the unmask inside the "
	    "raises), %lu fired by the raise, %lu pended (%lu delivered by the "
	    "unmask), %lu coalesced\n", r, inside, race.total_fired,
	    race.total_pended, vm_delivered, race.total_coalesced);
	if (inside < RACE_MIN_INSIDE)
		printf("raise/unmask: WARNING: the machine was too busy to "
		    "overlap the two threads often; the race was barely run\n");
	ck_assert_msg(bad == 0, "%u of %u rounds lost or doubled an "
	    "interrupt (first: round %u)", bad, r, first_bad);
	ck_assert_uint_eq(med_fired + vm_delivered,
	    race.total_fired + race.total_pended);
	/* The ordered rounds took both paths. */
	ck_assert_uint_gt(vm_delivered, 0);
	ck_assert_uint_gt(race.total_fired, 0);
	ck_assert_uint_gt(race.total_pended, 0);
}
END_TEST

static Suite *
virtio_pci_suite(void)
{
	Suite *s = suite_create("virtio_pci");
	TCase *tc = tcase_create("transport");
	TCase *race_tc = tcase_create("race");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, template_ids_and_bars);
	tcase_add_test(tc, template_capabilities);
	tcase_add_test(tc, template_no_devcfg_and_bad_ops);
	tcase_add_test(tc, state_init_and_check);
	tcase_add_test(tc, features_two_halves);
	tcase_add_test(tc, features_ok_accepted);
	tcase_add_test(tc, features_ok_refused);
	tcase_add_test(tc, reset_clears_everything);
	tcase_add_test(tc, queue_size_validation);
	tcase_add_test(tc, queue_address_alignment);
	tcase_add_test(tc, queue_enable);
	tcase_add_test(tc, bad_accesses);
	tcase_add_test(tc, ioreq_routing);
	tcase_add_test(tc, isr_read_clears);
	tcase_add_test(tc, intx_resample);
	tcase_add_test(tc, isr_latch_replay);
	tcase_add_test(tc, isr_latch_crash_before_clear);
	tcase_add_test(tc, isr_latch_forgotten);
	tcase_add_test(tc, violation_needs_reset);
	tcase_add_test(tc, driver_ok_without_features_ok);
	tcase_add_test(tc, queue_pop_push);
	tcase_add_test(tc, queue_event_idx);
	tcase_add_test(tc, queue_no_event_idx);
	tcase_add_test(tc, queue_event_outside_memory);
	tcase_add_test(tc, takeover_redoes);
	tcase_add_test(tc, device_config);
	tcase_add_test(tc, notify);
	tcase_add_test(tc, msix_masked_then_unmasked);
	tcase_add_test(tc, msix_function_mask);
	tcase_add_test(tc, msix_bar2);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(race_tc, setup, teardown);
	tcase_set_timeout(race_tc, 300);
	tcase_add_test(race_tc, msix_raise_unmask_race);
	suite_add_tcase(s, race_tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(virtio_pci_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
