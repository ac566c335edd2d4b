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

/* Sends one datagram: `state` ("READY=1", "STOPPING=1" or NULL) and a STATUS= line made
 * from fmt. Control characters in the status (a server's error text may hold a newline)
 * become '?', so that nothing in it can pose as a line of its own. Does nothing when the
 * notifier is off. */
void notify_status(struct notify *n, const char *state, const char *fmt, ...) RW_PRINTF(3, 4);

/* Closes the socket; accepts a zeroed or finished notifier. */
void notify_finish(struct notify *n);

#endif
