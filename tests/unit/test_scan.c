/* scan_pattern, scan_lock_name and scan_decode: --list's MATCH pattern with the prefix's
 * glob characters escaped, lock names read back from keys (names may hold '{', '}', "}:"
 * and spaces), and SCAN's answer, with garbage a broken or foreign server could send. */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "options.h"
#include "resp.h"
#include "scan.h"
#include "untouched.h"

/* ---- the MATCH pattern ------------------------------------------------------------------ */

struct pattern_case {
	const char *prefix;
	const char *want;
};

Test(scan_pattern, escapes_the_glob_characters_of_the_prefix) {
	static const struct pattern_case cases[] = {
		{"rwith:", "rwith:{*}:[hq][oe]*"},
		{"", "{*}:[hq][oe]*"},
		{"a*b?c[d]e\\f", "a\\*b\\?c\\[d\\]e\\\\f{*}:[hq][oe]*"},
		{"**", "\\*\\*{*}:[hq][oe]*"},
		/* Not glob characters in Redis: left alone. */
		{"x{y}-^!:", "x{y}-^!:{*}:[hq][oe]*"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[128];
		cr_assert(scan_pattern(cases[i].prefix, buf, sizeof(buf)), "'%s'", cases[i].prefix);
		cr_expect_str_eq(buf, cases[i].want, "prefix '%s'", cases[i].prefix);
	}
}

/* A pattern that does not fit is refused whole, at every size short of it. */
Test(scan_pattern, refuses_what_does_not_fit) {
	const char *prefix = "pre*fix:";
	const char *want = "pre\\*fix:{*}:[hq][oe]*";
	size_t need = strlen(want) + 1;
	for (size_t size = 0; size < need; size++) {
		char buf[64];
		fill_sentinel(buf, sizeof(buf));
		cr_expect_not(scan_pattern(prefix, buf, size), "fits in %zu bytes", size);
		cr_expect(is_sentinel(buf, sizeof(buf)), "written with %zu bytes", size);
	}
	char buf[64];
	cr_assert(scan_pattern(prefix, buf, need));
	cr_expect_str_eq(buf, want);
}

/* ---- lock names from keys --------------------------------------------------------------- */

struct name_case {
	const char *prefix;
	const char *key;
	const char *want; /* NULL: not a key that shows a lock */
};

static void expect_name(const char *prefix, const char *key, size_t len, const char *want) {
	char name[LOCK_NAME_MAX + 1];
	fill_sentinel(name, sizeof(name));
	bool got = scan_lock_name(prefix, key, len, name);
	if (want == NULL) {
		cr_expect_not(got, "'%s' under '%s' gave '%s'", key, prefix, got ? name : "");
		cr_expect(is_sentinel(name, sizeof(name)), "'%s': written on failure", key);
		return;
	}
	cr_expect(got, "'%s' under '%s' refused", key, prefix);
	if (got) {
		cr_expect_str_eq(name, want, "'%s' under '%s'", key, prefix);
	}
}

Test(scan_lock_name, holders_and_qexp_keys) {
	static const struct name_case cases[] = {
		{"rwith:", "rwith:{deploy}:holders", "deploy"},
		{"rwith:", "rwith:{deploy}:qexp", "deploy"},
		{"", "{x}:holders", "x"},
		{"p*[]?\\", "p*[]?\\{a}:qexp", "a"},
		{"x{y", "x{y{z}:holders", "z"},
		/* Names with braces, "}:" and spaces: the text up to the last suffix. */
		{"rwith:", "rwith:{ {a} b }:holders", " {a} b "},
		{"rwith:", "rwith:{x}:holders}:holders", "x}:holders"},
		{"rwith:", "rwith:{x}:qexp}:qexp", "x}:qexp"},
		{"rwith:", "rwith:{x}:holders}:qexp", "x}:holders"},
		{"rwith:", "rwith:{}:holders}:holders", "}:holders"},
		{"rwith:", "rwith:{ünï 🔒}:holders", "ünï 🔒"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		expect_name(cases[i].prefix, cases[i].key, strlen(cases[i].key), cases[i].want);
	}
}

Test(scan_lock_name, other_keys_are_not_locks) {
	static const struct name_case cases[] = {
		/* The lock's other keys. */
		{"rwith:", "rwith:{a}:info", NULL},
		{"rwith:", "rwith:{a}:fence", NULL},
		{"rwith:", "rwith:{a}:queue", NULL},
		{"rwith:", "rwith:{a}:seq", NULL},
		{"rwith:", "rwith:{a}:watch", NULL},
		{"rwith:", "rwith:{a}:wake:0123456789abcdef0123456789abcdef", NULL},
		/* Another prefix, or not quite the layout. */
		{"rwith:", "other:{a}:holders", NULL},
		{"rwith:", "rwith:a}:holders", NULL},
		{"rwith", "rwith:{a}:holders", NULL},
		{"rwith:", "rwith:{a}holders", NULL},
		{"rwith:", "rwith:{a:holders", NULL},
		{"rwith:", "rwith:{a}:holdersX", NULL},
		{"rwith:", "rwith:{a}:Holders", NULL},
		{"rwith:", "rwith:{a}:", NULL},
		{"rwith:", "rwith:{", NULL},
		{"rwith:", "rwith:", NULL},
		{"rwith:", "rwi", NULL},
		{"rwith:", "", NULL},
		{"rwith:", "rwith:{}:holders", NULL},
		{"rwith:", "rwith:{}:qexp", NULL},
		/* Names that no rwith could have used. */
		{"rwith:", "rwith:{-a}:holders", NULL},
		{"rwith:", "rwith:{a\nb}:holders", NULL},
		{"rwith:", "rwith:{a\x7f}:qexp", NULL},
		{"rwith:", "rwith:{\t}:qexp", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		expect_name(cases[i].prefix, cases[i].key, strlen(cases[i].key), cases[i].want);
	}
}

/* The key's length counts, not a terminator: a NUL inside is refused, bytes after len are
 * not read. */
Test(scan_lock_name, length_not_terminator) {
	static const char with_nul[] = "rwith:{a\0b}:holders";
	expect_name("rwith:", with_nul, sizeof(with_nul) - 1, NULL);
	static const char longer[] = "rwith:{a}:holdersXYZ";
	expect_name("rwith:", longer, strlen(longer) - 3, "a");
	expect_name("rwith:", "rwith:{a}:qexp", strlen("rwith:{a}:qex"), NULL);
}

/* 256 bytes is the longest lock name; a longer one is no rwith lock. */
Test(scan_lock_name, longest_name) {
	char key[LOCK_NAME_MAX + 64];
	char name[LOCK_NAME_MAX + 2];
	memset(name, 'n', LOCK_NAME_MAX + 1);
	name[LOCK_NAME_MAX] = '\0';
	(void)snprintf(key, sizeof(key), "rwith:{%s}:holders", name);
	expect_name("rwith:", key, strlen(key), name);
	name[LOCK_NAME_MAX] = 'n';
	name[LOCK_NAME_MAX + 1] = '\0';
	(void)snprintf(key, sizeof(key), "rwith:{%s}:holders", name);
	expect_name("rwith:", key, strlen(key), NULL);
}

/* ---- SCAN's answer ---------------------------------------------------------------------- */

#define RESP(text) reply_from_resp_len((text), sizeof(text) - 1)

Test(scan_decode, cursor_and_keys) {
	redisReply *reply = RESP("*2\r\n$4\r\n1234\r\n*2\r\n$3\r\nabc\r\n$3\r\nd\0f\r\n");
	char cursor[SCAN_CURSOR_SIZE];
	const redisReply *keys = NULL;
	cr_assert(scan_decode(reply, cursor, &keys));
	cr_expect_str_eq(cursor, "1234");
	cr_assert_eq(keys, reply->element[1]);
	cr_expect_eq(keys->elements, 2);
	freeReplyObject(reply);
}

/* The last step: cursor 0; a step may find no key; the largest cursor is 20 digits. */
Test(scan_decode, last_empty_and_largest) {
	static const struct {
		const char *resp;
		const char *cursor;
		size_t keys;
	} cases[] = {
		{"*2\r\n$1\r\n0\r\n*0\r\n", "0", 0},
		{"*2\r\n$20\r\n18446744073709551615\r\n*1\r\n$1\r\nk\r\n", "18446744073709551615",
			1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		redisReply *reply = reply_from_resp(cases[i].resp);
		char cursor[SCAN_CURSOR_SIZE];
		const redisReply *keys = NULL;
		cr_assert(scan_decode(reply, cursor, &keys), "case %zu", i);
		cr_expect_str_eq(cursor, cases[i].cursor);
		cr_expect_eq(keys->elements, cases[i].keys);
		freeReplyObject(reply);
	}
}

Test(scan_decode, garbage_is_refused_untouched) {
	static const char *const cases[] = {
		"-ERR unknown command 'SCAN'\r\n",
		"+OK\r\n",
		":0\r\n",
		"$-1\r\n",
		"*-1\r\n",
		"*0\r\n",
		"*1\r\n$1\r\n0\r\n",
		"*3\r\n$1\r\n0\r\n*0\r\n*0\r\n",
		/* The cursor: an integer, empty, not digits, 21 digits, nil. */
		"*2\r\n:0\r\n*0\r\n",
		"*2\r\n$0\r\n\r\n*0\r\n",
		"*2\r\n$2\r\n1a\r\n*0\r\n",
		"*2\r\n$2\r\n-1\r\n*0\r\n",
		"*2\r\n$21\r\n184467440737095516150\r\n*0\r\n",
		"*2\r\n$-1\r\n*0\r\n",
		/* The keys: not an array, or not all strings. */
		"*2\r\n$1\r\n0\r\n$1\r\nk\r\n",
		"*2\r\n$1\r\n0\r\n*-1\r\n",
		"*2\r\n$1\r\n0\r\n*2\r\n$1\r\nk\r\n:1\r\n",
		"*2\r\n$1\r\n0\r\n*1\r\n*0\r\n",
		"*2\r\n$1\r\n0\r\n*1\r\n$-1\r\n",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		redisReply *reply = reply_from_resp(cases[i]);
		char cursor[SCAN_CURSOR_SIZE];
		const redisReply *keys;
		fill_sentinel(cursor, sizeof(cursor));
		fill_sentinel(&keys, sizeof(keys));
		cr_expect_not(scan_decode(reply, cursor, &keys), "accepted: %s", cases[i]);
		cr_expect(is_sentinel(cursor, sizeof(cursor)), "cursor written: %s", cases[i]);
		cr_expect(is_sentinel(&keys, sizeof(keys)), "keys written: %s", cases[i]);
		freeReplyObject(reply);
	}
}
