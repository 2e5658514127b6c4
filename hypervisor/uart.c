/* SPDX-License-Identifier: BSD-3-Clause */
#include <string.h>

#include "console.h"
#include "uart.h"

/* Register offsets and bits, from the 16550A data sheet. */
#define REG_RBR_THR	0
#define REG_IER		1
#define REG_IIR_FCR	2
#define REG_LCR		3
#define REG_MCR		4
#define REG_LSR		5
#define REG_MSR		6
#define REG_SCR		7

#define IER_RDI		0x01
#define IER_THRI	0x02
#define IER_RLSI	0x04
#define IER_MSI		0x08
#define IIR_NO_INT	0x01
#define IIR_RLSI	0x06
#define IIR_RDI		0x04
#define IIR_THRI	0x02
#define IIR_FIFO	0xc0
#define FCR_ENABLE	0x01
#define FCR_CLEAR_RX	0x02
#define LCR_DLAB	0x80
#define MCR_DTR		0x01
#define MCR_RTS		0x02
#define MCR_OUT1	0x04
#define MCR_OUT2	0x08
#define MCR_LOOP	0x10
#define LSR_DR		0x01
#define LSR_OE		0x02
#define LSR_THRE	0x20
#define LSR_TEMT	0x40
#define MSR_CTS		0x10
#define MSR_DSR		0x20
#define MSR_RI		0x40
#define MSR_DCD		0x80

void
uart_init(struct uart *u, struct console *con,
    void (*set_irq)(void *opaque, bool level), void *irq_opaque)
{
	memset(u, 0, sizeof(*u));
	pthread_mutex_init(&u->lock, NULL);
	u->con = con;
	u->set_irq = set_irq;
	u->irq_opaque = irq_opaque;
	u->dll = 12;		/* 9600 baud, what firmware leaves */
	u->lcr = 0x03;		/* 8N1 */
}

void
uart_fini(struct uart *u)
{
	pthread_mutex_destroy(&u->lock);
}

/* The interrupt the UART reports, by the 16550's priorities. */
static uint8_t
uart_iir(const struct uart *u)
{
	if ((u->ier & IER_RLSI) && u->lsr_err)
		return IIR_RLSI;
	if ((u->ier & IER_RDI) && u->rx_count > 0)
		return IIR_RDI;
	if ((u->ier & IER_THRI) && u->thre_pending)
		return IIR_THRI;
	return IIR_NO_INT;
}

/* Drives the line from the current state.  Called with the lock held. */
static void
uart_update_irq(struct uart *u)
{
	bool level = uart_iir(u) != IIR_NO_INT;

	if (level != u->irq_level) {
		u->irq_level = level;
		if (u->set_irq != NULL)
			u->set_irq(u->irq_opaque, level);
	}
}

static size_t
uart_push(struct uart *u, const uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len && u->rx_count < UART_RX_FIFO; i++) {
		u->rx[(u->rx_head + u->rx_count) % UART_RX_FIFO] = buf[i];
		u->rx_count++;
	}
	if (i < len)
		u->lsr_err |= LSR_OE;
	return i;
}

static uint8_t
uart_read_reg(struct uart *u, unsigned reg)
{
	uint8_t v = 0, msr;

	switch (reg) {
	case REG_RBR_THR:
		if (u->lcr & LCR_DLAB)
			return u->dll;
		if (u->rx_count > 0) {
			v = u->rx[u->rx_head];
			u->rx_head = (u->rx_head + 1) % UART_RX_FIFO;
			u->rx_count--;
		}
		return v;
	case REG_IER:
		return (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
	case REG_IIR_FCR:
		v = uart_iir(u);
		/* Reading IIR acknowledges a THR-empty interrupt. */
		if (v == IIR_THRI)
			u->thre_pending = false;
		return v | ((u->fcr & FCR_ENABLE) ? IIR_FIFO : 0);
	case REG_LCR:
		return u->lcr;
	case REG_MCR:
		return u->mcr;
	case REG_LSR:
		v = LSR_THRE | LSR_TEMT | (u->rx_count > 0 ? LSR_DR : 0) |
		    u->lsr_err;
		u->lsr_err = 0;
		return v;
	case REG_MSR:
		if (u->mcr & MCR_LOOP) {
			msr = 0;
			if (u->mcr & MCR_RTS)
				msr |= MSR_CTS;
			if (u->mcr & MCR_DTR)
				msr |= MSR_DSR;
			if (u->mcr & MCR_OUT1)
				msr |= MSR_RI;
			if (u->mcr & MCR_OUT2)
				msr |= MSR_DCD;
			return msr;
		}
		return MSR_DCD | MSR_DSR | MSR_CTS;
	case REG_SCR:
		return u->scr;
	}
	return 0xff;
}

static void
uart_write_reg(struct uart *u, unsigned reg, uint8_t v)
{
	uint8_t old;

	switch (reg) {
	case REG_RBR_THR:
		if (u->lcr & LCR_DLAB) {
			u->dll = v;
			return;
		}
		if (u->mcr & MCR_LOOP)
			uart_push(u, &v, 1);
		else if (u->con != NULL)
			console_write(u->con, &v, 1);
		/* Sent at once: the holding register is empty again. */
		u->thre_pending = true;
		return;
	case REG_IER:
		if (u->lcr & LCR_DLAB) {
			u->dlm = v;
			return;
		}
		old = u->ier;
		u->ier = v & 0x0f;
		/* Enabling THRI with an empty THR raises it at once. */
		if (!(old & IER_THRI) && (u->ier & IER_THRI))
			u->thre_pending = true;
		return;
	case REG_IIR_FCR:
		u->fcr = v & 0xc9;
		if (v & FCR_CLEAR_RX)
			u->rx_count = 0;
		return;
	case REG_LCR:
		u->lcr = v;
		return;
	case REG_MCR:
		u->mcr = v & 0x1f;
		return;
	case REG_SCR:
		u->scr = v;
		return;
	}
	/* LSR and MSR are read-only. */
}

void
uart_io(void *opaque, uint64_t off, uint8_t *data, unsigned size,
    bool is_write)
{
	struct uart *u = opaque;
	unsigned i;

	pthread_mutex_lock(&u->lock);
	/* A wider access touches consecutive registers, as on real ISA. */
	for (i = 0; i < size && off + i < 8; i++) {
		if (is_write)
			uart_write_reg(u, (unsigned)off + i, data[i]);
		else
			data[i] = uart_read_reg(u, (unsigned)off + i);
	}
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

size_t
uart_receive(struct uart *u, const uint8_t *buf, size_t len)
{
	size_t n;

	pthread_mutex_lock(&u->lock);
	n = len;
	if (n > UART_RX_FIFO - u->rx_count)
		n = UART_RX_FIFO - u->rx_count;
	uart_push(u, buf, n);
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return n;
}

size_t
uart_rx_room(struct uart *u)
{
	size_t room;

	pthread_mutex_lock(&u->lock);
	room = UART_RX_FIFO - u->rx_count;
	pthread_mutex_unlock(&u->lock);
	return room;
}
