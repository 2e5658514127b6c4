/* SPDX-License-Identifier: BSD-3-Clause */
/* A 16550A UART: enough of it for Linux's 8250 driver, with interrupts. */
#ifndef CUPULE_UART_H
#define CUPULE_UART_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UART_RX_FIFO	256	/* larger than a 16550's: pasted text fits */

struct console;

struct uart {
	pthread_mutex_t lock;
	uint8_t ier, lcr, mcr, lsr_err, scr, fcr, dll, dlm;
	bool thre_pending;	/* THR-empty interrupt not yet acknowledged */
	bool irq_level;		/* level last driven on the line */
	uint8_t rx[UART_RX_FIFO];
	unsigned rx_head, rx_count;
	struct console *con;
	void (*set_irq)(void *opaque, bool level);
	void *irq_opaque;
};

/* Initialises a UART writing to con and driving its line with set_irq. */
void uart_init(struct uart *u, struct console *con,
    void (*set_irq)(void *opaque, bool level), void *irq_opaque);

/* Frees what uart_init allocated. */
void uart_fini(struct uart *u);

/* The io_fn serving the UART's 8 ports; opaque is the struct uart. */
void uart_io(void *opaque, uint64_t off, uint8_t *data, unsigned size,
    bool is_write);

/*
 * Queues input bytes from the console.  Returns how many fitted in the
 * receive FIFO (the caller keeps the rest for later).
 */
size_t uart_receive(struct uart *u, const uint8_t *buf, size_t len);

/* Returns how many more input bytes the receive FIFO can take now. */
size_t uart_rx_room(struct uart *u);

#endif
