/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The guest console's far end: the terminal cupule runs on, a new
 * pseudo-terminal, an append-only file or a listening Unix socket.
 */
#ifndef CUPULE_CONSOLE_H
#define CUPULE_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <termios.h>

#include "scenario.h"

/* Typed on a stdio console, Ctrl-] stops the VM (like virsh console). */
#define CONSOLE_ESCAPE	0x1d

struct console {
	enum console_kind kind;
	int in_fd;		/* -1: no input */
	int out_fd;		/* -1: output discarded */
	int listen_fd;		/* CONSOLE_SOCKET only */
	bool restore_tty;
	struct termios saved;
	char path[256];		/* pty or socket path */
};

/*
 * Opens the sink described by kind and path.  Returns 0 or -errno, with
 * a one-line reason already logged.
 */
int console_open(struct console *con, enum console_kind kind,
    const char *path);

/* Writes guest output; never blocks on a pty or socket nobody reads. */
void console_write(struct console *con, const void *buf, size_t len);

/*
 * Fd to poll for input (or for a connecting client on a socket), or -1.
 */
int console_poll_fd(const struct console *con);

/*
 * Reads what is ready on the poll fd into buf.  Returns the number of
 * bytes (0 when nothing arrived, for example a client connected),
 * -ECANCELED when the user typed the escape key, or -errno.
 */
long console_read(struct console *con, void *buf, size_t len);

/* Restores the terminal and closes the sink. */
void console_close(struct console *con);

#endif
