/* $RWITH_HOLD's entries: what a nested rwith and `rwith --release` learn of the holds they
 * run under (see holdenv.h). */
#include "holdenv.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "url.h"

#define FNV_OFFSET 14695981039346656037ull
#define FNV_PRIME 1099511628211ull

static uint64_t fnv1a(uint64_t hash, const char *text, size_t len) {
	for (size_t i = 0; i < len; i++) {
		hash ^= (unsigned char)text[i];
		hash *= FNV_PRIME;
	}
	return hash;
}

/* Each part is followed by a NUL, so that ("ab", "c") and ("a", "bc") differ. */
static uint64_t add_part(uint64_t hash, const char *part) {
	return fnv1a(hash, part, strlen(part) + 1);
}

void holdenv_entry_init(struct holdenv_entry *ret, bool keeper, const char *token,
	const struct rw_options *opts, uint64_t fence) {
	memset(ret, 0, sizeof(*ret));
	ret->keeper = keeper;
	(void)snprintf(ret->token, sizeof(ret->token), "%s", token);
	ret->mode = opts->mode == LOCK_SHARED ? 's' : 'x';
	ret->fence = fence;
	ret->ttl_ms = opts->ttl_ms;
	ret->identity = holdenv_identity(opts);
}

uint64_t holdenv_identity(const struct rw_options *opts) {
	char url[2048];
	uint64_t hash = FNV_OFFSET;
	for (size_t i = 0; i < opts->server_count; i++) {
		hash = add_part(hash, url_format_masked(&opts->servers[i], url, sizeof(url)));
	}
	hash = add_part(hash, opts->prefix);
	return add_part(hash, opts->lock != NULL ? opts->lock : "");
}

static bool is_hex(const char *text, size_t len) {
	for (size_t i = 0; i < len; i++) {
		if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f'))) {
			return false;
		}
	}
	return true;
}

static uint64_t hex_value(const char *text, size_t len) {
	uint64_t value = 0;
	for (size_t i = 0; i < len; i++) {
		value = value * 16 + (uint64_t)(text[i] <= '9' ? text[i] - '0' : text[i] - 'a' + 10);
	}
	return value;
}

/* A decimal number of 1 to 20 digits that fits 64 bits. */
static bool parse_decimal(const char *text, size_t len, uint64_t *ret) {
	uint64_t value = 0;
	if (len == 0 || len > 20) {
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9' ||
			value > (UINT64_MAX - (uint64_t)(text[i] - '0')) / 10) {
			return false;
		}
		value = value * 10 + (uint64_t)(text[i] - '0');
	}
	*ret = value;
	return true;
}

enum { FIELD_KIND, FIELD_TOKEN, FIELD_MODE, FIELD_FENCE, FIELD_TTL, FIELD_IDENTITY, FIELDS };

/* One entry, `len` bytes of `text`: KIND:TOKEN:MODE:FENCE:TTL:IDENTITY, each field of
 * exactly its form; false when malformed. */
static bool parse_entry(const char *text, size_t len, struct holdenv_entry *ret) {
	const char *field[FIELDS];
	size_t field_len[FIELDS];
	size_t count = 0, start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || text[i] == ':') {
			if (count == FIELDS) {
				return false;
			}
			field[count] = text + start;
			field_len[count++] = i - start;
			start = i + 1;
		}
	}
	struct holdenv_entry entry;
	if (count != FIELDS || field_len[FIELD_KIND] != 1 || field_len[FIELD_MODE] != 1 ||
		field_len[FIELD_TOKEN] != HOLDENV_TOKEN_LEN || field_len[FIELD_IDENTITY] != 16 ||
		(field[FIELD_KIND][0] != 'k' && field[FIELD_KIND][0] != 'w') ||
		(field[FIELD_MODE][0] != 'x' && field[FIELD_MODE][0] != 's') ||
		!is_hex(field[FIELD_TOKEN], HOLDENV_TOKEN_LEN) || !is_hex(field[FIELD_IDENTITY], 16) ||
		!parse_decimal(field[FIELD_FENCE], field_len[FIELD_FENCE], &entry.fence) ||
		!parse_decimal(field[FIELD_TTL], field_len[FIELD_TTL], &entry.ttl_ms) ||
		entry.ttl_ms == 0) {
		return false;
	}
	entry.keeper = field[FIELD_KIND][0] == 'k';
	memcpy(entry.token, field[FIELD_TOKEN], HOLDENV_TOKEN_LEN);
	entry.token[HOLDENV_TOKEN_LEN] = '\0';
	entry.mode = field[FIELD_MODE][0];
	entry.identity = hex_value(field[FIELD_IDENTITY], 16);
	*ret = entry;
	return true;
}

size_t holdenv_parse(const char *value, struct holdenv_entry *ret, size_t max) {
	size_t count = 0;
	const char *p = value;
	while (p != NULL && *p != '\0' && count < max) {
		while (*p == ' ') {
			p++;
		}
		size_t len = strcspn(p, " ");
		if (len > 0 && parse_entry(p, len, &ret[count])) {
			count++;
		}
		p += len;
	}
	return count;
}

static int append_entry(const struct holdenv_entry *e, char *buf, size_t size, size_t *used) {
	int n = snprintf(buf + *used, size - *used, "%s%c:%s:%c:%" PRIu64 ":%" PRIu64 ":%016" PRIx64,
		*used > 0 ? " " : "", e->keeper ? 'k' : 'w', e->token, e->mode, e->fence, e->ttl_ms,
		e->identity);
	if (n < 0 || (size_t)n >= size - *used) {
		return -1;
	}
	*used += (size_t)n;
	return 0;
}

int holdenv_format(const struct holdenv_entry *entry, const char *outer, char *buf, size_t size) {
	struct holdenv_entry older[HOLDENV_MAX_ENTRIES - 1];
	size_t count = holdenv_parse(outer, older, HOLDENV_MAX_ENTRIES - 1);
	size_t used = 0;
	if (size == 0) {
		return -1;
	}
	buf[0] = '\0';
	if (append_entry(entry, buf, size, &used) < 0) {
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		if (append_entry(&older[i], buf, size, &used) < 0) {
			return -1;
		}
	}
	return 0;
}

int holdenv_find(const char *value, uint64_t identity, bool keeper_only,
	struct holdenv_entry *ret) {
	struct holdenv_entry entries[HOLDENV_MAX_ENTRIES];
	size_t count = holdenv_parse(value, entries, HOLDENV_MAX_ENTRIES);
	for (size_t i = 0; i < count; i++) {
		if (entries[i].identity == identity && (!keeper_only || entries[i].keeper)) {
			*ret = entries[i];
			return 1;
		}
	}
	return 0;
}

void holdenv_print_quoted(FILE *out, const char *value) {
	fputc('\'', out);
	for (const char *p = value; *p; p++) {
		if (*p == '\'') {
			fputs("'\\''", out);
		} else {
			fputc(*p, out);
		}
	}
	fputc('\'', out);
}
