/* Redis server addresses: redis://, rediss:// and unix:// URLs, parsed into an endpoint that
 * can print itself with the password masked. */
#ifndef RWITH_URL_H
#define RWITH_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum endpoint_kind {
	ENDPOINT_TCP,
	ENDPOINT_UNIX,
};

struct rw_endpoint {
	enum endpoint_kind kind;
	bool tls;           /* rediss:// */
	char host[256];     /* TCP: name or address, IPv6 without brackets */
	uint16_t port;      /* TCP */
	char path[108];     /* UNIX: socket path (sun_path's size) */
	char user[256];     /* empty: the default user */
	char password[512]; /* empty: no AUTH */
	bool has_password;
	int db; /* SELECT this database when not 0 */
};

#define URL_DEFAULT "redis://127.0.0.1:6379"

/* Parses `text` (percent-escapes allowed in user and password). Returns 0 and fills *ret, or
 * -1 with a RW_ERROR_USAGE in err that never contains the password; *ret is untouched then. */
int url_parse(const char *text, struct rw_endpoint *ret, struct rw_error *err);

/* "redis://user:***@host:port/db": the only way an endpoint reaches a message. */
char *url_format_masked(const struct rw_endpoint *ep, char *buf, size_t size);

/* "host:port" or the socket path: short, for "held by" and timeout messages. */
char *url_format_address(const struct rw_endpoint *ep, char *buf, size_t size);

#endif
