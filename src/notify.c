/* systemd's notification protocol, in a few lines of socket code: one AF_UNIX datagram of
 * KEY=value lines per message to the address in $NOTIFY_SOCKET. libsystemd's sd_notify
 * would do the same, but it is one more dependency that Alpine (musl, no systemd) and macOS
 * builds lack, for a protocol systemd documents as stable (sd_notify(3)). */
#include "notify.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

void notify_init(struct notify *n, const char *socket_name) {
	memset(n, 0, sizeof(*n));
	if (socket_name == NULL || (socket_name[0] != '/' && socket_name[0] != '@')) {
		if (socket_name != NULL && socket_name[0] != '\0') {
			log_msg(LOG_DEBUG, "NOTIFY_SOCKET '%s' is not a Unix socket; not notifying",
				socket_name);
		}
		return;
	}
	size_t len = strlen(socket_name);
	if (len >= sizeof(n->addr.sun_path)) {
		log_msg(LOG_DEBUG, "NOTIFY_SOCKET is too long for a socket address; not notifying");
		return;
	}
	n->addr.sun_family = AF_UNIX;
	memcpy(n->addr.sun_path, socket_name, len);
	if (socket_name[0] == '@') {
		n->addr.sun_path[0] = '\0'; /* the abstract namespace: no trailing NUL */
	}
	n->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
		(socket_name[0] == '/' ? 1 : 0));
	n->fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (n->fd < 0) {
		log_msg(LOG_DEBUG, "cannot make a socket for NOTIFY_SOCKET: %s", strerror(errno));
		return;
	}
	/* The command must not inherit it; a full receive queue must not block the loop. */
	(void)fcntl(n->fd, F_SETFD, FD_CLOEXEC);
	(void)fcntl(n->fd, F_SETFL, O_NONBLOCK);
	n->active = true;
}

void notify_status(struct notify *n, const char *state, const char *fmt, ...) {
	if (n == NULL || !n->active) {
		return;
	}
	char status[900];
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(status, sizeof(status), fmt, ap);
	va_end(ap);
	if (len < 0) {
		return;
	}
	for (char *c = status; *c != '\0'; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			*c = '?';
		}
	}
	char message[1024];
	len = snprintf(message, sizeof(message), "%s%sSTATUS=%s", state ? state : "",
		state ? "\n" : "", status);
	size_t size = (size_t)len < sizeof(message) ? (size_t)len : sizeof(message) - 1;
	ssize_t sent = sendto(n->fd, message, size, MSG_NOSIGNAL,
		(const struct sockaddr *)&n->addr, n->addr_len);
	if (sent < 0) {
		log_msg(LOG_DEBUG, "cannot notify systemd: %s", strerror(errno));
	}
}

void notify_finish(struct notify *n) {
	if (n == NULL || !n->active) {
		return;
	}
	(void)close(n->fd);
	n->active = false;
}
