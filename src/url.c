/* URL -> endpoint, and endpoint -> text with the password masked. Pure: no I/O. */
#include "url.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int hex_value(char c) {
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

/* Copies [begin, end) into out, decoding %XX; fails on a bad escape, a NUL or no room. */
static int percent_decode(const char *begin, const char *end, char *out, size_t size) {
	size_t n = 0;
	for (const char *p = begin; p < end; p++) {
		int c = (unsigned char)*p;
		if (c == '%') {
			if (end - p < 3 || hex_value(p[1]) < 0 || hex_value(p[2]) < 0) {
				return -1;
			}
			c = hex_value(p[1]) * 16 + hex_value(p[2]);
			p += 2;
		}
		if (c == 0 || n + 1 >= size) {
			return -1;
		}
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return 0;
}

/* A whole decimal number in [min, max] spanning exactly [begin, end). */
static int parse_number(const char *begin, const char *end, long min, long max, long *ret) {
	if (begin == end || end - begin > 9) {
		return -1;
	}
	long value = 0;
	for (const char *p = begin; p < end; p++) {
		if (*p < '0' || *p > '9') {
			return -1;
		}
		value = value * 10 + (*p - '0');
	}
	if (value < min || value > max) {
		return -1;
	}
	*ret = value;
	return 0;
}

/* One "name=value" of the query string, [begin, end). */
static int parse_parameter(const char *begin, const char *end, struct rw_endpoint *ep,
	const char *shown, struct rw_error *err) {
	const char *eq = memchr(begin, '=', (size_t)(end - begin));
	size_t name_len = eq ? (size_t)(eq - begin) : (size_t)(end - begin);
	const char *value = eq ? eq + 1 : end;
	long db;
	if (name_len == 2 && strncmp(begin, "db", 2) == 0) {
		if (parse_number(value, end, 0, 1000000, &db) < 0) {
			return error_set(err, RW_ERROR_USAGE, "invalid database number in URL '%s'", shown);
		}
		ep->db = (int)db;
		return 0;
	}
	if (ep->sentinel && name_len == 13 && strncmp(begin, "sentinel_user", 13) == 0) {
		if (percent_decode(value, end, ep->sentinel_user, sizeof(ep->sentinel_user)) < 0) {
			return error_set(err, RW_ERROR_USAGE, "invalid sentinel_user in URL '%s'", shown);
		}
		return 0;
	}
	if (ep->sentinel && name_len == 17 && strncmp(begin, "sentinel_password", 17) == 0) {
		if (percent_decode(value, end, ep->sentinel_password,
			sizeof(ep->sentinel_password)) < 0) {
			return error_set(err, RW_ERROR_USAGE, "invalid sentinel_password in URL '%s'",
				shown);
		}
		ep->has_sentinel_password = true;
		return 0;
	}
	return error_set(err, RW_ERROR_USAGE, ep->sentinel ?
		"unsupported parameter in URL '%s': only 'db', 'sentinel_user' and "
		"'sentinel_password' are understood" :
		"unsupported parameter in URL '%s': only '?db=N' is understood", shown);
}

/* The query string: "db=N", and for Sentinel URLs the sentinels' credentials. */
static int parse_query(const char *query, struct rw_endpoint *ep, const char *shown,
	struct rw_error *err) {
	if (query == NULL || *query == '\0') {
		return 0;
	}
	for (const char *item = query; item != NULL;) {
		const char *amp = strchr(item, '&');
		const char *end = amp ? amp : item + strlen(item);
		if (parse_parameter(item, end, ep, shown, err) < 0) {
			return -1;
		}
		item = amp ? amp + 1 : NULL;
	}
	return 0;
}

/* Splits "[user][:password]@" off the front of [begin, end); *rest is what follows. */
static int parse_userinfo(const char *begin, const char *end, struct rw_endpoint *ep,
	const char **rest, const char *shown, struct rw_error *err) {
	const char *at = NULL;
	for (const char *p = begin; p < end; p++) {
		if (*p == '@') {
			at = p; /* the last '@': a password may contain an unescaped '@' */
		}
	}
	*rest = begin;
	if (at == NULL) {
		return 0;
	}
	const char *colon = memchr(begin, ':', (size_t)(at - begin));
	const char *user_end = colon ? colon : at;
	if (percent_decode(begin, user_end, ep->user, sizeof(ep->user)) < 0) {
		return error_set(err, RW_ERROR_USAGE, "invalid user name in URL '%s'", shown);
	}
	if (colon != NULL) {
		if (percent_decode(colon + 1, at, ep->password, sizeof(ep->password)) < 0) {
			return error_set(err, RW_ERROR_USAGE, "invalid password in URL '%s'", shown);
		}
		ep->has_password = true;
	}
	*rest = at + 1;
	return 0;
}

/* "host[:port]" or "[v6]:port" spanning [begin, end) into *host and *port, which has
 * `default_port` when none is given. */
static int parse_host_port(const char *begin, const char *end, char *ret_host, uint16_t *ret_port,
	uint16_t default_port, const char *shown, struct rw_error *err) {
	const char *host_end = end, *port = NULL;
	const char *host = begin;
	if (begin < end && *begin == '[') {
		const char *close = memchr(begin, ']', (size_t)(end - begin));
		if (close == NULL) {
			return error_set(err, RW_ERROR_USAGE, "unterminated '[' in URL '%s'", shown);
		}
		host = begin + 1;
		host_end = close;
		if (close + 1 < end) {
			if (close[1] != ':') {
				return error_set(err, RW_ERROR_USAGE, "invalid address in URL '%s'", shown);
			}
			port = close + 2;
		}
	} else {
		const char *colon = memchr(begin, ':', (size_t)(end - begin));
		if (colon != NULL) {
			host_end = colon;
			port = colon + 1;
		}
	}
	size_t host_len = (size_t)(host_end - host);
	if (host_len == 0) {
		return error_set(err, RW_ERROR_USAGE, "no host in URL '%s'", shown);
	}
	if (host_len >= sizeof(((struct rw_endpoint *)0)->host)) {
		return error_set(err, RW_ERROR_USAGE, "host name too long in URL '%s'", shown);
	}
	for (const char *p = host; p < host_end; p++) {
		if ((unsigned char)*p <= ' ' || *p == '/' || *p == '@' || *p == '%') {
			return error_set(err, RW_ERROR_USAGE, "invalid host in URL '%s'", shown);
		}
	}
	long value = default_port;
	if (port != NULL && parse_number(port, end, 1, 65535, &value) < 0) {
		return error_set(err, RW_ERROR_USAGE, "invalid port in URL '%s'", shown);
	}
	memcpy(ret_host, host, host_len);
	ret_host[host_len] = '\0';
	*ret_port = (uint16_t)value;
	return 0;
}

static int parse_tcp(const char *rest, struct rw_endpoint *ep, const char *shown,
	struct rw_error *err) {
	/* A password may hold '/' or '?' unescaped: look for the path after the last '@'. */
	const char *at = strrchr(rest, '@');
	const char *after_at = at ? at + 1 : rest;
	const char *query = strchr(after_at, '?');
	const char *path = strchr(after_at, '/');
	if (path != NULL && query != NULL && query < path) {
		path = NULL;
	}
	const char *authority_end = path ? path : (query ? query : rest + strlen(rest));
	const char *host;
	if (parse_userinfo(rest, authority_end, ep, &host, shown, err) < 0 ||
		parse_host_port(host, authority_end, ep->host, &ep->port, 6379, shown, err) < 0) {
		return -1;
	}
	if (path != NULL) {
		const char *db_end = query ? query : path + strlen(path);
		long db;
		if (db_end > path + 1) {
			if (parse_number(path + 1, db_end, 0, 1000000, &db) < 0) {
				return error_set(err, RW_ERROR_USAGE,
					"invalid database number in URL '%s'", shown);
			}
			ep->db = (int)db;
		}
	}
	return parse_query(query ? query + 1 : NULL, ep, shown, err);
}

/* [user[:password]@]host[:port][,host[:port]...]/MASTER[/db][?query] */
static int parse_sentinel(const char *rest, struct rw_endpoint *ep, const char *shown,
	struct rw_error *err) {
	const char *at = strrchr(rest, '@');
	const char *after_at = at ? at + 1 : rest;
	const char *query = strchr(after_at, '?');
	const char *end = query ? query : after_at + strlen(after_at);
	const char *path = memchr(after_at, '/', (size_t)(end - after_at));
	const char *hosts;
	if (path == NULL || path + 1 == end || path[1] == '/') {
		return error_set(err, RW_ERROR_USAGE,
			"URL '%s' names no master: write redis+sentinel://host:26379/MASTER", shown);
	}
	if (parse_userinfo(rest, path, ep, &hosts, shown, err) < 0) {
		return -1;
	}
	for (const char *item = hosts; item < path;) {
		const char *comma = memchr(item, ',', (size_t)(path - item));
		const char *item_end = comma ? comma : path;
		if (ep->sentinel_count == URL_MAX_SENTINELS) {
			return error_set(err, RW_ERROR_USAGE, "URL '%s' names more than %d sentinels",
				shown, URL_MAX_SENTINELS);
		}
		struct rw_sentinel_address *s = &ep->sentinels[ep->sentinel_count];
		if (parse_host_port(item, item_end, s->host, &s->port, URL_SENTINEL_PORT, shown,
			err) < 0) {
			return -1;
		}
		ep->sentinel_count++;
		item = comma ? comma + 1 : path;
		if (comma != NULL && item == path) {
			return error_set(err, RW_ERROR_USAGE, "no host in URL '%s'", shown);
		}
	}
	if (ep->sentinel_count == 0) {
		return error_set(err, RW_ERROR_USAGE, "no host in URL '%s'", shown);
	}
	const char *master = path + 1;
	const char *master_end = memchr(master, '/', (size_t)(end - master));
	if (master_end == NULL) {
		master_end = end;
	} else {
		long db;
		if (master_end + 1 < end) {
			if (parse_number(master_end + 1, end, 0, 1000000, &db) < 0) {
				return error_set(err, RW_ERROR_USAGE, "invalid database number in URL '%s'",
					shown);
			}
			ep->db = (int)db;
		}
	}
	if (percent_decode(master, master_end, ep->master, sizeof(ep->master)) < 0 ||
		ep->master[0] == '\0') {
		return error_set(err, RW_ERROR_USAGE, "invalid master name in URL '%s'", shown);
	}
	return parse_query(query ? query + 1 : NULL, ep, shown, err);
}

static int parse_unix(const char *rest, struct rw_endpoint *ep, const char *shown,
	struct rw_error *err) {
	const char *query = strchr(rest, '?');
	const char *end = query ? query : rest + strlen(rest);
	const char *slash = memchr(rest, '/', (size_t)(end - rest));
	if (slash == NULL) {
		return error_set(err, RW_ERROR_USAGE,
			"URL '%s' has no socket path: write unix:///path/to/redis.sock", shown);
	}
	const char *path;
	if (parse_userinfo(rest, slash, ep, &path, shown, err) < 0) {
		return -1;
	}
	if (path != slash) {
		return error_set(err, RW_ERROR_USAGE,
			"URL '%s' names a host; a unix socket URL is unix:///path/to/redis.sock", shown);
	}
	size_t len = (size_t)(end - slash);
	if (len >= sizeof(ep->path)) {
		return error_set(err, RW_ERROR_USAGE, "socket path too long in URL '%s'", shown);
	}
	memcpy(ep->path, slash, len);
	ep->path[len] = '\0';
	return parse_query(query ? query + 1 : NULL, ep, shown, err);
}

int url_parse(const char *text, struct rw_endpoint *ret, struct rw_error *err) {
	struct rw_endpoint ep;
	memset(&ep, 0, sizeof(ep));
	/* Messages quote the URL with any password removed: show only the scheme and what
	 * follows the last '@'. */
	char shown[320];
	const char *at = strrchr(text, '@');
	const char *sep = strstr(text, "://");
	if (at != NULL && sep != NULL && sep < at) {
		(void)snprintf(shown, sizeof(shown), "%.*s://***@%s", (int)(sep - text), text, at + 1);
	} else if (at != NULL) {
		(void)snprintf(shown, sizeof(shown), "***@%s", at + 1);
	} else {
		(void)snprintf(shown, sizeof(shown), "%s", text);
	}
	/* The query of a Sentinel URL may hold the sentinels' password: never quote one. */
	char *query = strchr(shown, '?');
	if (query != NULL && strcmp(query, "?") != 0 && strncmp(query, "?db=", 4) != 0) {
		(void)snprintf(query, sizeof(shown) - (size_t)(query - shown), "?...");
	}
	for (const char *p = text; *p; p++) {
		if ((unsigned char)*p < ' ' || *p == 0x7f) {
			return error_set(err, RW_ERROR_USAGE, "control character in server URL");
		}
	}
	int rc;
	if (strncasecmp(text, "redis://", 8) == 0) {
		rc = parse_tcp(text + 8, &ep, shown, err);
	} else if (strncasecmp(text, "rediss://", 9) == 0) {
		ep.tls = true;
		rc = parse_tcp(text + 9, &ep, shown, err);
	} else if (strncasecmp(text, "redis+sentinel://", 17) == 0) {
		ep.sentinel = true;
		rc = parse_sentinel(text + 17, &ep, shown, err);
	} else if (strncasecmp(text, "rediss+sentinel://", 18) == 0) {
		ep.sentinel = true;
		ep.tls = true;
		rc = parse_sentinel(text + 18, &ep, shown, err);
	} else if (strncasecmp(text, "unix://", 7) == 0) {
		ep.kind = ENDPOINT_UNIX;
		rc = parse_unix(text + 7, &ep, shown, err);
	} else {
		rc = error_set(err, RW_ERROR_USAGE,
			"unsupported server URL '%s': use redis://host:port, rediss://host:port, "
			"unix:///path or redis+sentinel://host:port/MASTER",
			shown);
	}
	if (rc < 0) {
		return -1;
	}
	*ret = ep;
	return 0;
}

char *url_format_host_port(const char *host, uint16_t port, char *buf, size_t size) {
	if (strchr(host, ':') != NULL) {
		(void)snprintf(buf, size, "[%s]:%u", host, (unsigned)port);
	} else {
		(void)snprintf(buf, size, "%s:%u", host, (unsigned)port);
	}
	return buf;
}

char *url_format_address(const struct rw_endpoint *ep, char *buf, size_t size) {
	if (ep->sentinel) {
		(void)snprintf(buf, size, "master '%s'", ep->master);
	} else if (ep->kind == ENDPOINT_UNIX) {
		(void)snprintf(buf, size, "%s", ep->path);
	} else {
		url_format_host_port(ep->host, ep->port, buf, size);
	}
	return buf;
}

/* "h1:26379,h2:26379/MASTER" */
static void format_sentinels(const struct rw_endpoint *ep, char *buf, size_t size) {
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < ep->sentinel_count && used < size; i++) {
		char one[300];
		url_format_host_port(ep->sentinels[i].host, ep->sentinels[i].port, one, sizeof(one));
		int n = snprintf(buf + used, size - used, "%s%s", i > 0 ? "," : "", one);
		used += n > 0 ? (size_t)n : 0;
	}
	if (used < size) {
		(void)snprintf(buf + used, size - used, "/%s", ep->master);
	}
}

char *url_format_masked(const struct rw_endpoint *ep, char *buf, size_t size) {
	char address[1024];
	char db[32] = "";
	const char *scheme = ep->kind == ENDPOINT_UNIX ? "unix://" : (ep->tls ? "rediss://" : "redis://");
	if (ep->sentinel) {
		scheme = ep->tls ? "rediss+sentinel://" : "redis+sentinel://";
	}
	const char *secret = ep->has_password ? ":***" : "";
	const char *at = (ep->user[0] != '\0' || ep->has_password) ? "@" : "";
	if (ep->sentinel) {
		format_sentinels(ep, address, sizeof(address));
	} else {
		url_format_address(ep, address, sizeof(address));
	}
	if (ep->db != 0) {
		(void)snprintf(db, sizeof(db), ep->kind == ENDPOINT_UNIX ? "?db=%d" : "/%d", ep->db);
	}
	/* User names are shown: they are not secret, and they help with "auth refused". */
	(void)snprintf(buf, size, "%s%s%s%s%s%s", scheme, ep->user, secret, at, address, db);
	return buf;
}

void url_sentinel_endpoint(const struct rw_endpoint *ep, size_t index, struct rw_endpoint *ret) {
	memset(ret, 0, sizeof(*ret));
	ret->kind = ENDPOINT_TCP;
	ret->tls = ep->tls;
	(void)snprintf(ret->host, sizeof(ret->host), "%s", ep->sentinels[index].host);
	ret->port = ep->sentinels[index].port;
	(void)snprintf(ret->user, sizeof(ret->user), "%s", ep->sentinel_user);
	(void)snprintf(ret->password, sizeof(ret->password), "%s", ep->sentinel_password);
	ret->has_password = ep->has_sentinel_password;
}

void url_node_endpoint(const struct rw_endpoint *ep, const char *host, uint16_t port,
	struct rw_endpoint *ret) {
	memset(ret, 0, sizeof(*ret));
	ret->kind = ENDPOINT_TCP;
	ret->tls = ep->tls;
	(void)snprintf(ret->host, sizeof(ret->host), "%s", host);
	ret->port = port;
	memcpy(ret->user, ep->user, sizeof(ret->user));
	memcpy(ret->password, ep->password, sizeof(ret->password));
	ret->has_password = ep->has_password;
	ret->db = ep->db;
}
