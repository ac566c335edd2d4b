/* Tells systemd how the service is doing (sd_notify(3)'s protocol): when $NOTIFY_SOCKET is
 * set, rwith sends STATUS= lines (whom it waits for, what it holds), READY=1 once the lock
 * is held and the command started, and STOPPING=1 when it releases. Best effort: a message
 * that cannot be sent is dropped, as sd_notify does, and never changes what rwith does. */
#ifndef RWITH_NOTIFY_H
#define RWITH_NOTIFY_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "error.h"

struct notify {
	bool active; /* false: nobody to tell */
	int fd;
	struct sockaddr_un addr;
	socklen_t addr_len;
};

/* Prepares messages to `socket_name` ($NOTIFY_SOCKET: a path, or "@name" for an abstract
 * socket). NULL, empty or an address of another kind leaves the notifier off. Never fails:
 * a notifier that could not be set up is off, and a debug message says why. */
void notify_init(struct notify *n, const char *socket_name);

/* Sends one datagram of newline-separated KEY=value lines, e.g. "READY=1\nSTATUS=...".
 * Does nothing when the notifier is off. */
void notify_send(struct notify *n, const char *fmt, ...) RW_PRINTF(2, 3);

/* Closes the socket; accepts a zeroed or finished notifier. */
void notify_finish(struct notify *n);

#endif
