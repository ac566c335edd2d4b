/* JSON string escaping with UTF-8 validation (see json.h). */
#include "json.h"

#include <stdint.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p (1 to 4), or 0 if it is not one: overlong forms,
 * surrogates and code points above U+10FFFF are invalid. */
static size_t utf8_sequence(const unsigned char *p) {
	if (p[0] < 0x80) {
		return 1;
	}
	size_t len;
	uint32_t cp;
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80) {
			return 0; /* also stops at the terminating NUL */
		}
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < min_for_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
		return 0;
	}
	return len;
}

struct sink {
	char *buf;
	size_t size;
	size_t used;
	FILE *out;
};

static void put(struct sink *sink, const char *text, size_t len) {
	if (sink->out != NULL) {
		(void)fwrite(text, 1, len, sink->out);
	} else if (sink->used + 1 < sink->size) {
		size_t room = sink->size - 1 - sink->used;
		memcpy(sink->buf + sink->used, text, len < room ? len : room);
	}
	sink->used += len;
}

static void write_string(struct sink *sink, const char *text) {
	const unsigned char *p = (const unsigned char *)text;
	put(sink, "\"", 1);
	while (*p) {
		char escape[8];
		size_t len = utf8_sequence(p);
		if (len == 0) {
			put(sink, "\\ufffd", 6);
			p++;
			continue;
		}
		if (len > 1) {
			put(sink, (const char *)p, len);
		} else if (*p == '"' || *p == '\\') {
			escape[0] = '\\';
			escape[1] = (char)*p;
			put(sink, escape, 2);
		} else if (*p == '\n') {
			put(sink, "\\n", 2);
		} else if (*p == '\t') {
			put(sink, "\\t", 2);
		} else if (*p == '\r') {
			put(sink, "\\r", 2);
		} else if (*p < 0x20 || *p == 0x7f) {
			static const char hex[] = "0123456789abcdef";
			memcpy(escape, "\\u00", 4);
			escape[4] = hex[*p >> 4];
			escape[5] = hex[*p & 15];
			put(sink, escape, 6);
		} else {
			put(sink, (const char *)p, 1);
		}
		p += len;
	}
	put(sink, "\"", 1);
}

void json_write_string(FILE *out, const char *text) {
	struct sink sink = {.out = out};
	write_string(&sink, text);
}

size_t json_format_string(char *buf, size_t size, const char *text) {
	struct sink sink = {.buf = buf, .size = size};
	write_string(&sink, text);
	if (size > 0) {
		buf[sink.used < size - 1 ? sink.used : size - 1] = '\0';
	}
	return sink.used;
}
