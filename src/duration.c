/* Parsing and printing durations. Hand-written rather than strtod: a user locale must not
 * change what "1.5s" means, and binary floating point cannot say "whole milliseconds". */
#include "duration.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct unit {
	const char *suffix;
	uint64_t ms;
};

/* Longest suffix first, so "ms" is not read as "m" followed by garbage. */
static const struct unit units[] = {
	{"ms", 1},
	{"s", 1000},
	{"m", 60 * 1000},
	{"h", 60 * 60 * 1000},
	{"d", 24 * 60 * 60 * 1000},
	{"", 1000},
};

static bool is_digit(char c) {
	return c >= '0' && c <= '9';
}

int duration_parse(const char *text, uint64_t *ret_ms) {
	if (text == NULL || !is_digit(*text)) {
		return -EINVAL;
	}
	const char *p = text;
	uint64_t whole = 0;
	bool too_big = false;
	for (; is_digit(*p); p++) {
		whole = whole * 10 + (uint64_t)(*p - '0');
		if (whole > DURATION_MAX_MS) {
			too_big = true; /* keep scanning: garbage later is still -EINVAL */
			whole = DURATION_MAX_MS + 1;
		}
	}
	/* The fraction is kept as numerator/denominator; trailing zeros are dropped so that
	 * "1.500000000000s" stays exact without overflowing. */
	uint64_t frac = 0, denom = 1;
	int pending_zeros = 0;
	if (*p == '.') {
		p++;
		if (!is_digit(*p)) {
			return -EINVAL;
		}
		for (; is_digit(*p); p++) {
			if (*p == '0') {
				pending_zeros++;
				continue;
			}
			for (; pending_zeros >= 0; pending_zeros--) {
				if (denom >= 1000000000u) {
					/* No unit is divisible by 10^9 ms, so this is finer than a
					 * millisecond; stopping here also keeps frac * unit in range. */
					return -EINVAL;
				}
				frac *= 10;
				denom *= 10;
			}
			pending_zeros = 0;
			frac += (uint64_t)(*p - '0');
		}
	}
	const struct unit *unit = NULL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].suffix) == 0) {
			unit = &units[i];
			break;
		}
	}
	if (unit == NULL) {
		return -EINVAL;
	}
	if ((frac * unit->ms) % denom != 0) {
		return -EINVAL;
	}
	if (too_big || whole > DURATION_MAX_MS / unit->ms) {
		return -ERANGE;
	}
	uint64_t ms = whole * unit->ms + (frac * unit->ms) / denom;
	if (ms > DURATION_MAX_MS) {
		return -ERANGE;
	}
	*ret_ms = ms;
	return 0;
}

char *duration_format(uint64_t ms, char *buf, size_t size) {
	static const struct unit exact[] = {
		{"d", 24 * 60 * 60 * 1000},
		{"h", 60 * 60 * 1000},
		{"m", 60 * 1000},
	};
	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
		if (ms != 0 && ms % exact[i].ms == 0) {
			(void)snprintf(buf, size, "%" PRIu64 "%s", ms / exact[i].ms, exact[i].suffix);
			return buf;
		}
	}
	if (ms >= 1000 && ms % 100 == 0) {
		uint64_t tenths = ms / 100;
		if (tenths % 10 == 0) {
			(void)snprintf(buf, size, "%" PRIu64 "s", tenths / 10);
		} else {
			(void)snprintf(buf, size, "%" PRIu64 ".%" PRIu64 "s", tenths / 10, tenths % 10);
		}
		return buf;
	}
	(void)snprintf(buf, size, "%" PRIu64 "ms", ms);
	return buf;
}
