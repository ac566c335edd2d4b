/* Redis server addresses: redis://, rediss://, unix:// and redis+sentinel:// URLs, parsed
 * into an endpoint that can print itself with the passwords masked. */
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

#define URL_MAX_SENTINELS 8
#define URL_SENTINEL_PORT 26379

struct rw_sentinel_address {
	char host[256];
	uint16_t port;
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

	/* redis+sentinel:// and rediss+sentinel://: the master is whatever node the sentinels
	 * name for `master`; host and port above are unused. user and password are the data
	 * nodes', sentinel_user and sentinel_password the sentinels' own (from the query). */
	bool sentinel;
	char master[256];
	size_t sentinel_count;
	struct rw_sentinel_address sentinels[URL_MAX_SENTINELS];
	char sentinel_user[256];
	char sentinel_password[512];
	bool has_sentinel_password;
};

#define URL_DEFAULT "redis://127.0.0.1:6379"

/* Parses `text` (percent-escapes allowed in user and password). Returns 0 and fills *ret, or
 * -1 with a RW_ERROR_USAGE in err that never contains the password; *ret is untouched then. */
int url_parse(const char *text, struct rw_endpoint *ret, struct rw_error *err);

/* "redis://user:***@host:port/db": the only way an endpoint reaches a message. */
char *url_format_masked(const struct rw_endpoint *ep, char *buf, size_t size);

/* "host:port", or "[v6]:port" for an IPv6 address. */
char *url_format_host_port(const char *host, uint16_t port, char *buf, size_t size);

/* "host:port" or the socket path (for a Sentinel URL: "master 'NAME'"): short, for
 * "held by" and timeout messages. */
char *url_format_address(const struct rw_endpoint *ep, char *buf, size_t size);

/* The endpoint of sentinel number `index` of a Sentinel URL: its host and port, the
 * sentinels' credentials, the URL's TLS setting, database 0. */
void url_sentinel_endpoint(const struct rw_endpoint *ep, size_t index, struct rw_endpoint *ret);

/* The endpoint of a data node at host:port found through ep (a redirect, a sentinel's
 * answer): ep's credentials, TLS and database, that address. */
void url_node_endpoint(const struct rw_endpoint *ep, const char *host, uint16_t port,
	struct rw_endpoint *ret);

#endif
