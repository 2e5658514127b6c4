/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "console.h"
#include "log.h"

static int
console_open_pty(struct console *con)
{
	int fd = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	struct termios t;

	if (fd < 0 || grantpt(fd) < 0 || unlockpt(fd) < 0) {
		log_warn("console: cannot create a pseudo-terminal");
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	/* The guest does its own line editing and echo. */
	if (tcgetattr(fd, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(fd, TCSANOW, &t);
	}
	snprintf(con->path, sizeof(con->path), "%s", ptsname(fd));
	con->in_fd = con->out_fd = fd;
	log_warnx("console on %s", con->path);
	return 0;
}

static int
console_open_socket(struct console *con, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_warnx("console: socket path '%s' is too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		log_warn("console: socket");
		return -errno;
	}
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(fd, 1) < 0) {
		int e = errno;

		log_warn("console: cannot listen on '%s'", path);
		close(fd);
		return -e;
	}
	chmod(path, 0600);
	snprintf(con->path, sizeof(con->path), "%s", path);
	con->listen_fd = fd;
	return 0;
}

int
console_open(struct console *con, enum console_kind kind, const char *path)
{
	struct termios t;

	memset(con, 0, sizeof(*con));
	con->kind = kind;
	con->in_fd = con->out_fd = con->listen_fd = -1;
	switch (kind) {
	case CONSOLE_STDIO:
		con->in_fd = STDIN_FILENO;
		con->out_fd = STDOUT_FILENO;
		if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &t) == 0) {
			con->saved = t;
			con->restore_tty = true;
			cfmakeraw(&t);
			/* Keep output processing so host logs stay readable. */
			t.c_oflag |= OPOST | ONLCR;
			tcsetattr(STDIN_FILENO, TCSANOW, &t);
		}
		return 0;
	case CONSOLE_PTY:
		return console_open_pty(con);
	case CONSOLE_FILE:
		con->out_fd = open(path, O_WRONLY | O_CREAT | O_APPEND |
		    O_CLOEXEC, 0600);
		if (con->out_fd < 0) {
			log_warn("console: cannot open '%s'", path);
			return -errno;
		}
		return 0;
	case CONSOLE_SOCKET:
		return console_open_socket(con, path);
	}
	return -EINVAL;
}

void
console_write(struct console *con, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0 && con->out_fd >= 0) {
		ssize_t n = write(con->out_fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN && con->kind == CONSOLE_STDIO) {
			/* A slow terminal: wait rather than lose output. */
			usleep(1000);
			continue;
		}
		if (n <= 0) {
			/* Nobody is reading a pty, or the client left: drop. */
			if (con->kind == CONSOLE_SOCKET) {
				close(con->out_fd);
				con->in_fd = con->out_fd = -1;
			}
			return;
		}
		p += n;
		len -= (size_t)n;
	}
}

int
console_poll_fd(const struct console *con)
{
	if (con->kind == CONSOLE_SOCKET && con->in_fd < 0)
		return con->listen_fd;
	return con->in_fd;
}

long
console_read(struct console *con, void *buf, size_t len)
{
	ssize_t n;

	if (con->kind == CONSOLE_SOCKET && con->in_fd < 0) {
		int fd = accept4(con->listen_fd, NULL, NULL,
		    SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd >= 0)
			con->in_fd = con->out_fd = fd;
		return 0;
	}
	if (con->in_fd < 0)
		return 0;
	n = read(con->in_fd, buf, len);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR || errno == EIO)
			return 0;	/* EIO: pty with no slave open yet */
		return -errno;
	}
	if (n == 0) {
		/* End of input: stop polling it, keep the output. */
		if (con->kind == CONSOLE_SOCKET) {
			close(con->in_fd);
			con->out_fd = -1;
		}
		con->in_fd = -1;
		return 0;
	}
	if (con->kind == CONSOLE_STDIO && con->restore_tty &&
	    memchr(buf, CONSOLE_ESCAPE, (size_t)n) != NULL)
		return -ECANCELED;
	return n;
}

void
console_close(struct console *con)
{
	if (con->restore_tty)
		tcsetattr(STDIN_FILENO, TCSANOW, &con->saved);
	con->restore_tty = false;
	if (con->kind == CONSOLE_STDIO)
		return;
	if (con->in_fd >= 0)
		close(con->in_fd);
	if (con->out_fd >= 0 && con->out_fd != con->in_fd)
		close(con->out_fd);
	if (con->listen_fd >= 0) {
		close(con->listen_fd);
		unlink(con->path);
	}
	con->in_fd = con->out_fd = con->listen_fd = -1;
}
