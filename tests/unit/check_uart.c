/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the 16550A UART: output to a file console, the line
 * and modem status registers, the divisor latch, THR-empty and
 * received-data interrupts with their IIR values, the receive FIFO,
 * loopback and the scratch register.
 *
 * Register offsets and bits come from the 16550A data sheet, written
 * out here rather than shared with uart.c.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console.h"
#include "uart.h"

#define RBR	0	/* THR on write, DLL with DLAB */
#define IER	1	/* DLM with DLAB */
#define IIR	2	/* FCR on write */
#define LCR	3
#define MCR	4
#define LSR	5
#define MSR	6
#define SCR	7

#define IER_RDI		0x01
#define IER_THRI	0x02
#define LCR_DLAB	0x80
#define LSR_DR		0x01
#define LSR_THRE	0x20
#define LSR_TEMT	0x40

/* The UART under test, its console file, and the line it drives. */
static struct uart u;
static struct console con;

#define MAX_EDGES	64
static bool edges[MAX_EDGES];
static int nedges;
static bool line;

static void
rec_irq(void *opaque, bool level)
{
	ck_assert_ptr_eq(opaque, &u);
	ck_assert_int_lt(nedges, MAX_EDGES);
	edges[nedges++] = level;
	line = level;
}

/*
 * The console file is unlinked as soon as it is open, so that a failing
 * test (which skips teardown) leaves nothing behind; it is read back
 * through rfd.
 */
static int rfd = -1;

static void
setup(void)
{
	char path[] = "/tmp/check_uart.XXXXXX";

	rfd = mkstemp(path);
	ck_assert_int_ge(rfd, 0);
	ck_assert_int_eq(console_open(&con, CONSOLE_FILE, path), 0);
	unlink(path);
	uart_init(&u, &con, rec_irq, &u);
	nedges = 0;
	line = false;
}

static void
teardown(void)
{
	uart_fini(&u);
	console_close(&con);
	close(rfd);
}

static uint8_t
rd(unsigned reg)
{
	uint8_t v = 0x5a;

	uart_io(&u, reg, &v, 1, false);
	return v;
}

static void
wr(unsigned reg, uint8_t v)
{
	uart_io(&u, reg, &v, 1, true);
}

/* The console file's contents, NUL-terminated, in buf. */
static size_t
file_contents(char *buf, size_t len)
{
	ssize_t n = pread(rfd, buf, len - 1, 0);

	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	return (size_t)n;
}

START_TEST(test_output)
{
	const char *msg = "Linux version 6.1\r\n";
	char buf[64];

	for (const char *p = msg; *p != '\0'; p++)
		wr(RBR, (uint8_t)*p);
	ck_assert_uint_eq(file_contents(buf, sizeof(buf)), strlen(msg));
	ck_assert_str_eq(buf, msg);
	/* No interrupt enabled, so the line never moved. */
	ck_assert_int_eq(nedges, 0);
}
END_TEST

START_TEST(test_lsr_msr)
{
	char buf[8];

	ck_assert_uint_eq(rd(LSR), LSR_THRE | LSR_TEMT);
	wr(RBR, 'x');
	ck_assert_uint_eq(rd(LSR), LSR_THRE | LSR_TEMT);
	/* Writes to the status registers are ignored. */
	wr(LSR, 0x00);
	wr(MSR, 0x00);
	ck_assert_uint_eq(rd(LSR), LSR_THRE | LSR_TEMT);
	/* Not in loopback: carrier, data set ready, clear to send. */
	ck_assert_uint_eq(rd(MSR), 0xb0);
	ck_assert_uint_eq(file_contents(buf, sizeof(buf)), 1);
}
END_TEST

START_TEST(test_divisor_latch)
{
	char buf[8];

	ck_assert_uint_eq(rd(LCR), 0x03);
	wr(IER, IER_RDI);
	wr(LCR, 0x83);
	ck_assert_uint_eq(rd(RBR), 12);		/* 9600 baud */
	ck_assert_uint_eq(rd(IER), 0);
	wr(RBR, 0x01);				/* 115200 baud */
	wr(IER, 0x02);
	ck_assert_uint_eq(rd(RBR), 0x01);
	ck_assert_uint_eq(rd(IER), 0x02);
	ck_assert_uint_eq(rd(LCR), 0x83);
	/* Latch writes are not output and do not touch IER. */
	ck_assert_uint_eq(file_contents(buf, sizeof(buf)), 0);
	wr(LCR, 0x03);
	ck_assert_uint_eq(rd(IER), IER_RDI);
	wr(RBR, 'A');
	ck_assert_uint_eq(file_contents(buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "A");
	/* The latch kept its value across DLAB. */
	wr(LCR, LCR_DLAB | 0x03);
	ck_assert_uint_eq(rd(RBR), 0x01);
	ck_assert_uint_eq(rd(IER), 0x02);
}
END_TEST

START_TEST(test_thri)
{
	wr(IIR, 0x01);				/* FIFO on */
	ck_assert_uint_eq(rd(IIR), 0xc1);
	ck_assert_int_eq(nedges, 0);

	/* Enabling THRI with an empty THR interrupts at once. */
	wr(IER, IER_THRI);
	ck_assert_int_eq(nedges, 1);
	ck_assert(line);
	ck_assert_uint_eq(rd(IER), IER_THRI);
	/* Reading IIR acknowledges it and drops the line. */
	ck_assert_uint_eq(rd(IIR), 0xc2);
	ck_assert_int_eq(nedges, 2);
	ck_assert(!line);
	ck_assert_uint_eq(rd(IIR), 0xc1);
	ck_assert_int_eq(nedges, 2);
	ck_assert(edges[0] && !edges[1]);

	/* Each character sent empties THR again. */
	wr(RBR, 'z');
	ck_assert(line);
	ck_assert_uint_eq(rd(IIR), 0xc2);
	ck_assert(!line);

	/* Without the FIFO the top bits are clear. */
	wr(IIR, 0x00);
	wr(RBR, 'z');
	ck_assert_uint_eq(rd(IIR), 0x02);
	ck_assert_uint_eq(rd(IIR), 0x01);

	/* Disabling THRI drops a pending interrupt. */
	wr(RBR, 'z');
	ck_assert(line);
	wr(IER, 0);
	ck_assert(!line);
	ck_assert_uint_eq(rd(IIR), 0x01);
}
END_TEST

START_TEST(test_receive)
{
	const uint8_t in[] = "abc";

	wr(IER, IER_RDI);
	ck_assert_int_eq(nedges, 0);
	ck_assert_uint_eq(uart_rx_room(&u), UART_RX_FIFO);
	ck_assert_uint_eq(uart_receive(&u, in, 3), 3);
	ck_assert_uint_eq(uart_rx_room(&u), UART_RX_FIFO - 3);
	ck_assert_int_eq(nedges, 1);
	ck_assert(line);
	ck_assert_uint_eq(rd(LSR), LSR_THRE | LSR_TEMT | LSR_DR);
	ck_assert_uint_eq(rd(IIR), 0x04);
	/* Reading IIR does not acknowledge received data. */
	ck_assert(line);

	ck_assert_uint_eq(rd(RBR), 'a');
	ck_assert_uint_eq(rd(RBR), 'b');
	ck_assert(line);
	ck_assert_uint_eq(rd(RBR), 'c');
	ck_assert(!line);
	ck_assert_int_eq(nedges, 2);
	ck_assert_uint_eq(rd(LSR), LSR_THRE | LSR_TEMT);
	ck_assert_uint_eq(rd(IIR), 0x01);
	ck_assert_uint_eq(uart_rx_room(&u), UART_RX_FIFO);

	/* Received data outranks THR empty, and is reported with FIFOs. */
	wr(IIR, 0x01);
	wr(IER, IER_RDI | IER_THRI);
	ck_assert_uint_eq(uart_receive(&u, in, 1), 1);
	ck_assert_uint_eq(rd(IIR), 0xc4);
	ck_assert_uint_eq(rd(RBR), 'a');
	ck_assert_uint_eq(rd(IIR), 0xc2);
	ck_assert_uint_eq(rd(IIR), 0xc1);
	ck_assert(!line);
}
END_TEST

/* Without IER_RDI the data is there but the line stays low. */
START_TEST(test_receive_masked)
{
	const uint8_t in[] = "q";

	ck_assert_uint_eq(uart_receive(&u, in, 1), 1);
	ck_assert_int_eq(nedges, 0);
	ck_assert_uint_eq(rd(LSR) & LSR_DR, LSR_DR);
	ck_assert_uint_eq(rd(IIR), 0x01);
	/* Enabling RDI with data waiting raises the line. */
	wr(IER, IER_RDI);
	ck_assert(line);
	ck_assert_uint_eq(rd(RBR), 'q');
	ck_assert(!line);
	/* An empty FIFO reads as zero. */
	ck_assert_uint_eq(rd(RBR), 0);
}
END_TEST

START_TEST(test_overflow)
{
	uint8_t in[UART_RX_FIFO + 44];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 3 + 1);
	ck_assert_uint_eq(uart_receive(&u, in, 100), 100);
	ck_assert_uint_eq(uart_receive(&u, in + 100, sizeof(in) - 100),
	    UART_RX_FIFO - 100);
	ck_assert_uint_eq(uart_rx_room(&u), 0);
	ck_assert_uint_eq(uart_receive(&u, in, 1), 0);
	/* What did not fit is left to the caller, not counted as lost. */
	ck_assert_uint_eq(rd(LSR), LSR_THRE | LSR_TEMT | LSR_DR);

	ck_assert_uint_eq(rd(RBR), in[0]);
	ck_assert_uint_eq(uart_rx_room(&u), 1);
	ck_assert_uint_eq(uart_receive(&u, in + UART_RX_FIFO, 5), 1);
	for (size_t i = 1; i <= UART_RX_FIFO; i++)
		ck_assert_uint_eq(rd(RBR), in[i]);
	ck_assert_uint_eq(rd(LSR) & LSR_DR, 0);
	ck_assert_uint_eq(uart_rx_room(&u), UART_RX_FIFO);
}
END_TEST

/* FCR bit 1 empties the receive FIFO. */
START_TEST(test_fifo_clear)
{
	const uint8_t in[] = "xyz";

	wr(IER, IER_RDI);
	ck_assert_uint_eq(uart_receive(&u, in, 3), 3);
	ck_assert(line);
	wr(IIR, 0x03);
	ck_assert(!line);
	ck_assert_uint_eq(rd(LSR) & LSR_DR, 0);
	ck_assert_uint_eq(uart_rx_room(&u), UART_RX_FIFO);
	ck_assert_uint_eq(uart_receive(&u, in + 2, 1), 1);
	ck_assert_uint_eq(rd(RBR), 'z');
}
END_TEST

START_TEST(test_loopback)
{
	char buf[8];

	wr(MCR, 0x10 | 0x03);			/* loop, DTR, RTS */
	ck_assert_uint_eq(rd(MCR), 0x13);
	ck_assert_uint_eq(rd(MSR), 0x30);	/* DSR, CTS */
	wr(MCR, 0x10 | 0x0c);			/* loop, OUT1, OUT2 */
	ck_assert_uint_eq(rd(MSR), 0xc0);	/* RI, DCD */
	wr(MCR, 0x10);
	ck_assert_uint_eq(rd(MSR), 0x00);
	wr(MCR, 0xff);
	ck_assert_uint_eq(rd(MCR), 0x1f);
	ck_assert_uint_eq(rd(MSR), 0xf0);

	/* THR comes back in RBR and never reaches the console. */
	wr(IER, IER_RDI);
	wr(RBR, 'L');
	ck_assert(line);
	ck_assert_uint_eq(rd(LSR) & LSR_DR, LSR_DR);
	ck_assert_uint_eq(rd(RBR), 'L');
	ck_assert(!line);
	ck_assert_uint_eq(file_contents(buf, sizeof(buf)), 0);

	/* Out of loopback, output goes to the console again. */
	wr(MCR, 0x0b);
	ck_assert_uint_eq(rd(MSR), 0xb0);
	wr(RBR, 'M');
	ck_assert_uint_eq(rd(LSR) & LSR_DR, 0);
	ck_assert_uint_eq(file_contents(buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "M");
}
END_TEST

START_TEST(test_scratch)
{
	ck_assert_uint_eq(rd(SCR), 0);
	wr(SCR, 0x5a);
	ck_assert_uint_eq(rd(SCR), 0x5a);
	wr(SCR, 0xa5);
	ck_assert_uint_eq(rd(SCR), 0xa5);
	/* DLAB does not hide it. */
	wr(LCR, 0x83);
	ck_assert_uint_eq(rd(SCR), 0xa5);
}
END_TEST

/* A wider access touches consecutive registers, stopping at the last. */
START_TEST(test_wide_access)
{
	uint8_t v[4] = { 0x11, 0x22, 0x33, 0x44 };

	uart_io(&u, SCR - 1, v, 2, false);
	ck_assert_uint_eq(v[0], 0xb0);		/* MSR */
	ck_assert_uint_eq(v[1], 0);		/* SCR */
	memcpy(v, "\x77\x88\x99\xaa", 4);
	uart_io(&u, SCR, v, 4, true);
	ck_assert_uint_eq(rd(SCR), 0x77);
	uart_io(&u, SCR, v, 4, false);
	ck_assert_uint_eq(v[0], 0x77);
	/* The bytes past the last register are left alone. */
	ck_assert_uint_eq(v[1], 0x88);
}
END_TEST

static Suite *
uart_suite(void)
{
	Suite *s = suite_create("uart");
	TCase *tc = tcase_create("registers");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_output);
	tcase_add_test(tc, test_lsr_msr);
	tcase_add_test(tc, test_divisor_latch);
	tcase_add_test(tc, test_thri);
	tcase_add_test(tc, test_receive);
	tcase_add_test(tc, test_receive_masked);
	tcase_add_test(tc, test_overflow);
	tcase_add_test(tc, test_fifo_clear);
	tcase_add_test(tc, test_loopback);
	tcase_add_test(tc, test_scratch);
	tcase_add_test(tc, test_wide_access);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(uart_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
