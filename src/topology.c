/* Decoding of the answers that tell where a lock's data lives (Redis Cluster, Sentinel). */
#include "topology.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool starts_with(const char *text, const char *word) {
	size_t len = strlen(word);
	return strncmp(text, word, len) == 0 && (text[len] == ' ' || text[len] == '\0');
}

static bool parse_port(const char *text, uint16_t *ret) {
	unsigned long value = 0;
	if (*text == '\0') {
		return false;
	}
	for (const char *p = text; *p; p++) {
		if (*p < '0' || *p > '9' || value > 65535) {
			return false;
		}
		value = value * 10 + (unsigned long)(*p - '0');
	}
	if (value == 0 || value > 65535) {
		return false;
	}
	*ret = (uint16_t)value;
	return true;
}

/* "host:port", where host may be empty or an IPv6 address (the last ':' splits). */
static bool parse_address(const char *text, size_t len, struct topology_address *ret) {
	char copy[300];
	if (len >= sizeof(copy)) {
		return false;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	char *colon = strrchr(copy, ':');
	if (colon == NULL || (size_t)(colon - copy) >= sizeof(ret->host)) {
		return false;
	}
	struct topology_address address;
	*colon = '\0';
	if (!parse_port(colon + 1, &address.port)) {
		return false;
	}
	char *host = copy;
	size_t host_len = strlen(host);
	if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
		host[host_len - 1] = '\0';
		host++;
	}
	size_t host_size = strlen(host) + 1;
	if (host_size > sizeof(address.host)) {
		return false;
	}
	for (const char *p = host; *p; p++) {
		if ((unsigned char)*p <= ' ') {
			return false;
		}
	}
	memcpy(address.host, host, host_size);
	*ret = address;
	return true;
}

/* "MOVED 3999 127.0.0.1:6381": the address is the third word, alone. */
static bool parse_redirect(const char *text, struct topology_address *ret) {
	const char *slot = strchr(text, ' ');
	if (slot == NULL) {
		return false;
	}
	slot++;
	const char *address = strchr(slot, ' ');
	if (address == NULL || address == slot) {
		return false;
	}
	unsigned long number = 0;
	for (const char *p = slot; p < address; p++) {
		if (*p < '0' || *p > '9' || number > 16383) {
			return false;
		}
		number = number * 10 + (unsigned long)(*p - '0');
	}
	if (number > 16383) {
		return false;
	}
	address++;
	if (strchr(address, ' ') != NULL) {
		return false;
	}
	return parse_address(address, strlen(address), ret);
}

enum topology_error topology_classify_error(const char *text, struct topology_address *ret_target) {
	if (starts_with(text, "MOVED") || starts_with(text, "ASK")) {
		if (!parse_redirect(text, ret_target)) {
			return TOPOLOGY_ERROR_OTHER;
		}
		return text[0] == 'M' ? TOPOLOGY_ERROR_MOVED : TOPOLOGY_ERROR_ASK;
	}
	if (starts_with(text, "TRYAGAIN") || starts_with(text, "CLUSTERDOWN") ||
		starts_with(text, "LOADING") || starts_with(text, "MASTERDOWN")) {
		return TOPOLOGY_ERROR_RETRY;
	}
	if (starts_with(text, "READONLY") || starts_with(text, "UNBLOCKED")) {
		return TOPOLOGY_ERROR_REROUTE;
	}
	return TOPOLOGY_ERROR_OTHER;
}

/* [host, port, ...] of CLUSTER SLOTS; false when it is not one. A nil host (Redis 7's
 * "unknown-endpoint") is the host that answered: an empty host. */
static bool decode_node(const redisReply *node, struct topology_address *ret) {
	if (node->type != REDIS_REPLY_ARRAY || node->elements < 2 ||
		(node->element[0]->type != REDIS_REPLY_STRING &&
			node->element[0]->type != REDIS_REPLY_NIL) ||
		node->element[1]->type != REDIS_REPLY_INTEGER || node->element[1]->integer <= 0 ||
		node->element[1]->integer > 65535) {
		return false;
	}
	const redisReply *host = node->element[0];
	size_t host_len = host->type == REDIS_REPLY_NIL ? 0 : host->len;
	if (host_len >= sizeof(ret->host) || (host_len > 0 && memchr(host->str, '\0', host_len))) {
		return false;
	}
	if (host_len > 0) {
		memcpy(ret->host, host->str, host_len);
	}
	ret->host[host_len] = '\0';
	ret->port = (uint16_t)node->element[1]->integer;
	return true;
}

/* [start, end, master, replica...] */
static bool valid_range(const redisReply *range) {
	if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
		range->element[0]->type != REDIS_REPLY_INTEGER ||
		range->element[1]->type != REDIS_REPLY_INTEGER) {
		return false;
	}
	struct topology_address address;
	for (size_t i = 2; i < range->elements; i++) {
		if (!decode_node(range->element[i], &address)) {
			return false;
		}
	}
	return true;
}

static bool valid_slots(const redisReply *reply) {
	if (reply->type != REDIS_REPLY_ARRAY) {
		return false;
	}
	for (size_t i = 0; i < reply->elements; i++) {
		if (!valid_range(reply->element[i])) {
			return false;
		}
	}
	return true;
}

bool topology_decode_slots(const redisReply *reply,
	void (*add)(const struct topology_address *address, void *data), void *data) {
	if (!valid_slots(reply)) {
		return false;
	}
	struct topology_address address;
	/* Masters first: they are the ones to ask after a failure. */
	for (size_t pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < reply->elements; i++) {
			const redisReply *range = reply->element[i];
			for (size_t j = pass == 0 ? 2 : 3; j < (pass == 0 ? 3 : range->elements); j++) {
				(void)decode_node(range->element[j], &address);
				add(&address, data);
			}
		}
	}
	return true;
}

static bool same_address(const struct topology_address *a, const struct topology_address *b) {
	return a->port == b->port && strcasecmp(a->host, b->host) == 0;
}

bool topology_decode_masters(const redisReply *reply,
	void (*add)(const struct topology_address *address, void *data), void *data) {
	if (!valid_slots(reply)) {
		return false;
	}
	/* A master that serves several ranges is added at its first. Looking back over the
	 * ranges costs nothing worth a table: a cluster has a few ranges per master. */
	for (size_t i = 0; i < reply->elements; i++) {
		struct topology_address master, earlier;
		(void)decode_node(reply->element[i]->element[2], &master);
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++) {
			(void)decode_node(reply->element[j]->element[2], &earlier);
			seen = same_address(&master, &earlier);
		}
		if (!seen) {
			add(&master, data);
		}
	}
	return true;
}

bool topology_not_a_cluster(const char *error_text) {
	return strncmp(error_text, "ERR ", 4) == 0 &&
		(strstr(error_text, "cluster support disabled") != NULL ||
			strncmp(error_text, "ERR unknown command", 19) == 0);
}

bool topology_decode_role_master(const redisReply *reply) {
	return reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 &&
		(reply->element[0]->type == REDIS_REPLY_STRING ||
			reply->element[0]->type == REDIS_REPLY_STATUS) &&
		reply->element[0]->len == 6 && memcmp(reply->element[0]->str, "master", 6) == 0;
}

int topology_decode_master_address(const redisReply *reply, struct topology_address *ret) {
	if (reply->type == REDIS_REPLY_NIL) {
		return 0;
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
		reply->element[0]->type != REDIS_REPLY_STRING ||
		reply->element[1]->type != REDIS_REPLY_STRING || reply->element[0]->len == 0 ||
		reply->element[0]->len >= sizeof(ret->host) || reply->element[1]->len > 5) {
		return -1;
	}
	struct topology_address address;
	char port[8];
	if (memchr(reply->element[1]->str, '\0', reply->element[1]->len) != NULL) {
		return -1;
	}
	memcpy(port, reply->element[1]->str, reply->element[1]->len);
	port[reply->element[1]->len] = '\0';
	if (!parse_port(port, &address.port)) {
		return -1;
	}
	memcpy(address.host, reply->element[0]->str, reply->element[0]->len);
	address.host[reply->element[0]->len] = '\0';
	if (memchr(address.host, '\0', reply->element[0]->len) != NULL) {
		return -1;
	}
	*ret = address;
	return 1;
}

int topology_online_replicas(const char *info, size_t len) {
	int online = 0;
	const char *end = info + len;
	for (const char *line = info; line < end;) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		size_t line_len = eol ? (size_t)(eol - line) : (size_t)(end - line);
		/* slave0:ip=127.0.0.1,port=7001,state=online,offset=42,lag=0 */
		if (line_len > 5 && memcmp(line, "slave", 5) == 0 && line[5] >= '0' && line[5] <= '9') {
			for (size_t i = 0; i + 13 <= line_len; i++) {
				if (memcmp(line + i, "state=online", 12) == 0 &&
					(line[i + 12] == ',' || line[i + 12] == '\r') && (i == 0 || line[i - 1] == ',' ||
						line[i - 1] == ':')) {
					online++;
					break;
				}
			}
		}
		line = eol ? eol + 1 : end;
	}
	return online;
}
