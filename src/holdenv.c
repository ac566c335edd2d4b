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

/* One entry, `len` bytes of `text`: KIND ':' TOKEN ':' MODE ':' FENCE ':' IDENTITY, each
 * part of exactly its form; false when malformed. */
static bool parse_entry(const char *text, size_t len, struct holdenv_entry *ret) {
	const size_t fence_at = 2 + HOLDENV_TOKEN_LEN + 3;
	if (len < fence_at + 1 + 1 + 16 || len > fence_at + 20 + 1 + 16) {
		return false;
	}
	size_t fence_len = len - fence_at - 17;
	const char *identity = text + fence_at + fence_len + 1;
	if ((text[0] != 'k' && text[0] != 'w') || text[1] != ':' ||
		!is_hex(text + 2, HOLDENV_TOKEN_LEN) || text[2 + HOLDENV_TOKEN_LEN] != ':' ||
		(text[fence_at - 2] != 'x' && text[fence_at - 2] != 's') || text[fence_at - 1] != ':' ||
		identity[-1] != ':' || !is_hex(identity, 16)) {
		return false;
	}
	uint64_t fence = 0;
	for (size_t i = 0; i < fence_len; i++) {
		char c = text[fence_at + i];
		if (c < '0' || c > '9' || fence > (UINT64_MAX - (uint64_t)(c - '0')) / 10) {
			return false;
		}
		fence = fence * 10 + (uint64_t)(c - '0');
	}
	ret->keeper = text[0] == 'k';
	memcpy(ret->token, text + 2, HOLDENV_TOKEN_LEN);
	ret->token[HOLDENV_TOKEN_LEN] = '\0';
	ret->mode = text[fence_at - 2];
	ret->fence = fence;
	ret->identity = hex_value(identity, 16);
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
	int n = snprintf(buf + *used, size - *used, "%s%c:%s:%c:%" PRIu64 ":%016" PRIx64,
		*used > 0 ? " " : "", e->keeper ? 'k' : 'w', e->token, e->mode, e->fence, e->identity);
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
