/* json_format_string and json_write_string: RFC 8259 escaping, UTF-8 passed through when
 * valid and replaced by U+FFFD byte by byte when not, and snprintf-like truncation. Every
 * output is also checked by an independent validator of JSON strings. */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define R "\\ufffd" /* one replacement character, as escaped in the output */

/* ---- an independent check that `s` is exactly one valid JSON string ---------------------- */

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

/* Length of the well-formed UTF-8 sequence at p, per Table 3-7 of the Unicode standard, or
 * 0. */
static size_t well_formed_utf8(const unsigned char *p) {
	unsigned char b0 = p[0];
	if (b0 < 0x80) {
		return 1;
	}
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;
	if (b0 >= 0xc2 && b0 <= 0xdf) {
		len = 2;
	} else if (b0 >= 0xe0 && b0 <= 0xef) {
		len = 3;
		if (b0 == 0xe0) {
			lo = 0xa0;
		} else if (b0 == 0xed) {
			hi = 0x9f;
		}
	} else if (b0 >= 0xf0 && b0 <= 0xf4) {
		len = 4;
		if (b0 == 0xf0) {
			lo = 0x90;
		} else if (b0 == 0xf4) {
			hi = 0x8f;
		}
	} else {
		return 0;
	}
	if (p[1] < lo || p[1] > hi) {
		return 0;
	}
	for (size_t i = 2; i < len; i++) {
		if (p[i] < 0x80 || p[i] > 0xbf) {
			return 0;
		}
	}
	return len;
}

/* NULL when `s` is one valid JSON string, else what is wrong with it. */
static const char *json_string_problem(const char *s) {
	const unsigned char *p = (const unsigned char *)s;
	if (*p++ != '"') {
		return "no opening quote";
	}
	for (;;) {
		if (*p == '\0') {
			return "no closing quote";
		}
		if (*p == '"') {
			return p[1] == '\0' ? NULL : "text after the closing quote";
		}
		if (*p < 0x20) {
			return "raw control character";
		}
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				unsigned value = 0;
				for (int i = 1; i <= 4; i++) {
					int digit = hex_value((char)p[i]);
					if (digit < 0) {
						return "bad \\u escape";
					}
					value = value * 16 + (unsigned)digit;
				}
				if (value >= 0xd800 && value <= 0xdfff) {
					return "lone surrogate escape";
				}
				p += 5;
			} else if (*p != '\0' && strchr("\"\\/bfnrt", *p) != NULL) {
				p++;
			} else {
				return "bad escape";
			}
			continue;
		}
		size_t len = well_formed_utf8(p);
		if (len == 0) {
			return "invalid UTF-8";
		}
		p += len;
	}
}

/* ---- helpers ------------------------------------------------------------------------------ */

/* json_write_string's output, malloc'd. */
static char *written(const char *text) {
	char *data = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&data, &size);
	cr_assert_not_null(out);
	json_write_string(out, text);
	cr_assert_eq(fclose(out), 0);
	cr_assert_not_null(data);
	return data;
}

/* Formats `text`, checks it is `want` (with the quotes), valid JSON, needed exactly its own
 * length, and that json_write_string writes the same. */
static void expect_json(const char *what, const char *text, const char *want) {
	char buf[1024];
	memset(buf, 'X', sizeof(buf));
	size_t needed = json_format_string(buf, sizeof(buf), text);
	cr_expect_str_eq(buf, want, "%s", what);
	cr_expect_eq(needed, strlen(want), "%s: needed %zu, want %zu", what, needed, strlen(want));
	cr_expect_eq(needed, strlen(buf), "%s: needed %zu, wrote %zu", what, needed, strlen(buf));
	const char *problem = json_string_problem(buf);
	cr_expect_null(problem, "%s: %s: %s", what, problem ? problem : "", buf);
	char *file_text = written(text);
	cr_expect_str_eq(file_text, want, "%s: json_write_string", what);
	free(file_text);
}

struct json_case {
	const char *what;
	const char *text;
	const char *want;
};

static void expect_cases(const struct json_case *cases, size_t count) {
	for (size_t i = 0; i < count; i++) {
		expect_json(cases[i].what, cases[i].text, cases[i].want);
	}
}

#define EXPECT_CASES(cases) expect_cases(cases, sizeof(cases) / sizeof(cases[0]))

/* ---- the validator itself ---------------------------------------------------------------- */

Test(json, validator_rejects_what_is_not_a_json_string) {
	static const char *const bad[] = {
		"",
		"abc",
		"\"abc",
		"\"a\"b\"",
		"\"a\\\"",
		"\"\\x\"",
		"\"\\u12\"",
		"\"\\ud800\"",
		"\"\n\"",
		"\"\x80\"",
		"\"\xc0\xaf\"",
		"\"\xed\xa0\x80\"",
		"\"\xf4\x90\x80\x80\"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_not_null(json_string_problem(bad[i]), "accepted: %s", bad[i]);
	}
	cr_expect_null(json_string_problem("\"a\\u00e9\\n\\\"\xc3\xbc\""));
}

/* ---- escaping ---------------------------------------------------------------------------- */

Test(json, plain_ascii) {
	static const struct json_case cases[] = {
		{"empty", "", "\"\""},
		{"word", "hello", "\"hello\""},
		{"sentence", "make deploy --env=prod 42", "\"make deploy --env=prod 42\""},
		{"slash is not escaped", "a/b", "\"a/b\""},
		{"punctuation", "!#$%&'()*+,-.:;<=>?@[]^_`{|}~",
			"\"!#$%&'()*+,-.:;<=>?@[]^_`{|}~\""},
		{"space and tilde edges", " ~", "\" ~\""},
	};
	EXPECT_CASES(cases);
}

Test(json, quotes_and_backslashes) {
	static const struct json_case cases[] = {
		{"quote", "\"", "\"\\\"\""},
		{"backslash", "\\", "\"\\\\\""},
		{"mixed", "say \"hi\" to C:\\dir", "\"say \\\"hi\\\" to C:\\\\dir\""},
		{"backslash then quote", "\\\"", "\"\\\\\\\"\""},
		{"two backslashes", "\\\\", "\"\\\\\\\\\""},
	};
	EXPECT_CASES(cases);
}

Test(json, control_characters) {
	static const struct json_case cases[] = {
		{"newline", "\n", "\"\\n\""},
		{"tab", "\t", "\"\\t\""},
		{"carriage return", "\r", "\"\\r\""},
		{"0x01", "\x01", "\"\\u0001\""},
		{"0x7f", "\x7f", "\"\\u007f\""},
		{"backspace", "\b", "\"\\u0008\""},
		{"form feed", "\f", "\"\\u000c\""},
		{"0x1b escape", "\x1b[31m", "\"\\u001b[31m\""},
		{"0x1f", "\x1f", "\"\\u001f\""},
		{"line of text", "a\tb\r\nc", "\"a\\tb\\r\\nc\""},
	};
	EXPECT_CASES(cases);
}

Test(json, every_control_character_is_escaped) {
	for (int c = 1; c < 0x20; c++) {
		char text[2] = {(char)c, '\0'};
		char buf[16];
		size_t needed = json_format_string(buf, sizeof(buf), text);
		cr_expect(needed == 4 || needed == 8, "0x%02x: %zu", c, needed);
		cr_expect_null(json_string_problem(buf), "0x%02x: %s", c, buf);
	}
}

/* ---- UTF-8 ------------------------------------------------------------------------------- */

Test(json, valid_utf8_passes_through) {
	static const struct json_case cases[] = {
		{"2 bytes", "\xc3\xbc", "\"\xc3\xbc\""},                 /* ü */
		{"3 bytes", "\xe2\x82\xac", "\"\xe2\x82\xac\""},         /* € */
		{"4 bytes", "\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\""}, /* 😀 */
		{"mixed", "Gr\xc3\xbc\xc3\x9f" "e 5\xe2\x82\xac \xf0\x9f\x98\x80!",
			"\"Gr\xc3\xbc\xc3\x9f" "e 5\xe2\x82\xac \xf0\x9f\x98\x80!\""},
		{"U+0080", "\xc2\x80", "\"\xc2\x80\""},
		{"U+07FF", "\xdf\xbf", "\"\xdf\xbf\""},
		{"U+0800", "\xe0\xa0\x80", "\"\xe0\xa0\x80\""},
		{"U+D7FF", "\xed\x9f\xbf", "\"\xed\x9f\xbf\""},
		{"U+E000", "\xee\x80\x80", "\"\xee\x80\x80\""},
		{"U+FFFD itself", "\xef\xbf\xbd", "\"\xef\xbf\xbd\""},
		{"U+FFFF", "\xef\xbf\xbf", "\"\xef\xbf\xbf\""},
		{"U+10000", "\xf0\x90\x80\x80", "\"\xf0\x90\x80\x80\""},
		{"U+10FFFF", "\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\""},
		{"U+2028 line separator", "\xe2\x80\xa8", "\"\xe2\x80\xa8\""},
		{"next to an escape", "\xc3\xbc\"\n", "\"\xc3\xbc\\\"\\n\""},
	};
	EXPECT_CASES(cases);
}

/* Each byte that is not part of a valid sequence becomes one U+FFFD; what follows is read
 * afresh. */
Test(json, invalid_utf8_is_replaced) {
	static const struct json_case cases[] = {
		{"lone continuation byte", "\x80", "\"" R "\""},
		{"lone continuation in text", "a\x80" "b", "\"a" R "b\""},
		{"continuation bytes", "\x80\xbf", "\"" R R "\""},
		{"truncated 2-byte at the end", "\xc3", "\"" R "\""},
		{"truncated 2-byte after text", "ab\xc3", "\"ab" R "\""},
		{"truncated 2-byte before ASCII", "\xc3(", "\"" R "(\""},
		{"truncated 2-byte before a quote", "\xc3\"", "\"" R "\\\"\""},
		{"truncated 2-byte before a valid one", "\xc3\xc3\xbc", "\"" R "\xc3\xbc\""},
		{"truncated 3-byte", "\xe2\x82", "\"" R R "\""},
		{"truncated 4-byte", "\xf0\x9f\x98", "\"" R R R "\""},
		{"overlong slash", "\xc0\xaf", "\"" R R "\""},
		{"overlong NUL", "\xc0\x80", "\"" R R "\""},
		{"overlong 2-byte 0xc1", "\xc1\xbf", "\"" R R "\""},
		{"overlong 3-byte", "\xe0\x80\xaf", "\"" R R R "\""},
		{"overlong 4-byte", "\xf0\x80\x80\xaf", "\"" R R R R "\""},
		{"high surrogate", "\xed\xa0\x80", "\"" R R R "\""},
		{"low surrogate", "\xed\xbf\xbf", "\"" R R R "\""},
		{"surrogate pair in CESU-8", "\xed\xa0\xbd\xed\xb8\x80", "\"" R R R R R R "\""},
		{"above U+10FFFF", "\xf4\x90\x80\x80", "\"" R R R R "\""},
		{"0xf5 lead", "\xf5\x80\x80\x80", "\"" R R R R "\""},
		{"5-byte form", "\xf8\x88\x80\x80\x80", "\"" R R R R R "\""},
		{"0xfe", "\xfe", "\"" R "\""},
		{"0xff", "\xff", "\"" R "\""},
		{"Latin-1 text", "Gr\xfc\xdf" "e", "\"Gr" R R "e\""},
		{"between valid ones", "\xc3\xbc\x80\xe2\x82\xac", "\"\xc3\xbc" R "\xe2\x82\xac\""},
	};
	EXPECT_CASES(cases);
}

Test(json, every_single_byte_gives_valid_json) {
	for (int c = 1; c < 256; c++) {
		char text[4] = {'a', (char)c, 'z', '\0'};
		char buf[32];
		size_t needed = json_format_string(buf, sizeof(buf), text);
		cr_expect_lt(needed, sizeof(buf), "0x%02x", c);
		cr_expect_null(json_string_problem(buf), "0x%02x: %s", c, buf);
		cr_expect_eq(buf[1], 'a', "0x%02x", c);
		cr_expect_eq(buf[needed - 2], 'z', "0x%02x", c);
	}
}

/* Every pair of bytes after a lead byte: whatever the decoder makes of it is valid JSON,
 * and a sequence the validator accepts is passed through unchanged. */
Test(json, every_two_and_three_byte_sequence_gives_valid_json) {
	for (int b0 = 0xc0; b0 < 0x100; b0++) {
		for (int b1 = 0x01; b1 < 0x100; b1++) {
			for (int b2 = 0x7f; b2 <= 0xc0; b2++) {
				unsigned char text[4] = {(unsigned char)b0, (unsigned char)b1,
					(unsigned char)b2, 0};
				char buf[64];
				json_format_string(buf, sizeof(buf), (const char *)text);
				const char *problem = json_string_problem(buf);
				if (problem != NULL) {
					cr_expect_fail("%02x %02x %02x: %s: %s", b0, b1, b2, problem, buf);
					return;
				}
				size_t len = well_formed_utf8(text);
				if (len >= 2 && memcmp(buf + 1, text, len) != 0) {
					cr_expect_fail("%02x %02x %02x: valid sequence changed: %s", b0, b1,
						b2, buf);
					return;
				}
				if (len == 0 && strncmp(buf + 1, R, 6) != 0) {
					cr_expect_fail("%02x %02x %02x: invalid lead kept: %s", b0, b1, b2,
						buf);
					return;
				}
			}
		}
	}
}

Test(json, every_four_byte_lead_and_second_byte) {
	for (int b0 = 0xf0; b0 < 0x100; b0++) {
		for (int b1 = 0x80; b1 < 0xc0; b1++) {
			unsigned char text[5] = {(unsigned char)b0, (unsigned char)b1, 0x80, 0xbf, 0};
			char buf[64];
			json_format_string(buf, sizeof(buf), (const char *)text);
			cr_expect_null(json_string_problem(buf), "%02x %02x: %s", b0, b1, buf);
			if (well_formed_utf8(text) == 4) {
				cr_expect_eq(memcmp(buf + 1, text, 4), 0, "%02x %02x: %s", b0, b1,
					buf);
			} else {
				cr_expect_eq(strncmp(buf + 1, R, 6), 0, "%02x %02x: %s", b0, b1,
					buf);
			}
		}
	}
}

/* ---- truncation -------------------------------------------------------------------------- */

static void expect_truncation(const char *text) {
	char full[512];
	size_t needed = json_format_string(full, sizeof(full), text);
	cr_assert_lt(needed, sizeof(full));
	cr_assert_eq(strlen(full), needed);
	for (size_t size = 1; size <= needed + 3; size++) {
		char buf[sizeof(full) + 8];
		memset(buf, 'X', sizeof(buf));
		size_t got = json_format_string(buf, size, text);
		size_t kept = needed < size - 1 ? needed : size - 1;
		cr_expect_eq(got, needed, "size %zu: returned %zu, needs %zu", size, got, needed);
		cr_expect_eq(buf[kept], '\0', "size %zu: not terminated at %zu", size, kept);
		cr_expect_eq(strlen(buf), kept, "size %zu", size);
		cr_expect_eq(memcmp(buf, full, kept), 0, "size %zu: not a prefix", size);
		for (size_t i = size; i < sizeof(buf); i++) {
			if (buf[i] != 'X') {
				cr_expect_fail("size %zu: wrote byte %zu past the end", size, i);
				break;
			}
		}
	}
	/* Size 0: nothing written, but the length still reported. */
	char untouched[4] = {'X', 'X', 'X', 'X'};
	cr_expect_eq(json_format_string(untouched, 0, text), needed);
	cr_expect_eq(memcmp(untouched, "XXXX", 4), 0, "size 0 wrote");
}

Test(json, truncation_terminates_and_reports_the_full_length) {
	expect_truncation("");
	expect_truncation("hello");
	expect_truncation("a\"b\\c\n\x01\x7f");
	expect_truncation("\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80");
	expect_truncation("\x80\xc3\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80");
}

Test(json, small_buffers) {
	char buf[8];
	cr_expect_eq(json_format_string(buf, 1, "hello"), 7);
	cr_expect_str_eq(buf, "");
	cr_expect_eq(json_format_string(buf, 2, "hello"), 7);
	cr_expect_str_eq(buf, "\"");
	cr_expect_eq(json_format_string(buf, 4, "hello"), 7);
	cr_expect_str_eq(buf, "\"he");
	cr_expect_eq(json_format_string(buf, 7, "hello"), 7);
	cr_expect_str_eq(buf, "\"hello");
	cr_expect_eq(json_format_string(buf, 8, "hello"), 7);
	cr_expect_str_eq(buf, "\"hello\"");
	cr_expect_eq(json_format_string(buf, 5, "\x80"), 8);
	cr_expect_str_eq(buf, "\"\\uf");
}

Test(json, long_text) {
	enum { COUNT = 5000 };
	char *text = malloc(2 * COUNT + 1);
	char *buf = malloc(2 * COUNT + 3);
	cr_assert_not_null(text);
	cr_assert_not_null(buf);
	for (size_t i = 0; i < COUNT; i++) {
		text[2 * i] = '\xc3';
		text[2 * i + 1] = '\xa9'; /* é */
	}
	text[2 * COUNT] = '\0';
	cr_expect_eq(json_format_string(buf, 2 * COUNT + 3, text), 2 * COUNT + 2);
	cr_expect_eq(buf[0], '"');
	cr_expect_eq(memcmp(buf + 1, text, 2 * COUNT), 0);
	cr_expect_str_eq(buf + 1 + 2 * COUNT, "\"");
	cr_expect_null(json_string_problem(buf));
	char *file_text = written(text);
	cr_expect_str_eq(file_text, buf);
	free(file_text);
	free(buf);
	free(text);
}
