/* url_parse, url_format_masked and url_format_address: accepted URLs, rejected ones, and
 * that a password never shows up in an error message or a formatted endpoint. */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <string.h>

#include "url.h"

/* A password distinctive enough that strstr finds it only where it leaked. */
#define SECRET "s3cr3tpw"

struct good_case {
	const char *text;
	enum endpoint_kind kind;
	bool tls;
	const char *host;
	unsigned port;
	const char *path;
	const char *user;
	const char *password;
	bool has_password;
	int db;
	const char *masked; /* NULL: not pinned down, only checked for the password */
	const char *address;
};

static void fill_sentinel(struct rw_endpoint *ep) {
	memset(ep, 0x5a, sizeof(*ep));
}

static bool is_sentinel(const struct rw_endpoint *ep) {
	const unsigned char *bytes = (const unsigned char *)ep;
	for (size_t i = 0; i < sizeof(*ep); i++) {
		if (bytes[i] != 0x5a) {
			return false;
		}
	}
	return true;
}

Test(url, parses_valid_urls) {
	static const struct good_case cases[] = {
		{"redis://host", ENDPOINT_TCP, false, "host", 6379, "", "", "", false, 0,
			"redis://host:6379", "host:6379"},
		{"redis://host:6380", ENDPOINT_TCP, false, "host", 6380, "", "", "", false, 0,
			"redis://host:6380", "host:6380"},
		{"redis://127.0.0.1:6379", ENDPOINT_TCP, false, "127.0.0.1", 6379, "", "", "",
			false, 0, "redis://127.0.0.1:6379", "127.0.0.1:6379"},
		{"redis://host/", ENDPOINT_TCP, false, "host", 6379, "", "", "", false, 0,
			"redis://host:6379", "host:6379"},
		{"redis://host/0", ENDPOINT_TCP, false, "host", 6379, "", "", "", false, 0,
			"redis://host:6379", "host:6379"},
		{"redis://user:pass@host:7000/3", ENDPOINT_TCP, false, "host", 7000, "", "user",
			"pass", true, 3, "redis://user:***@host:7000/3", "host:7000"},
		{"redis://:" SECRET "@host", ENDPOINT_TCP, false, "host", 6379, "", "", SECRET,
			true, 0, "redis://:***@host:6379", "host:6379"},
		{"redis://user@host", ENDPOINT_TCP, false, "host", 6379, "", "user", "", false, 0,
			"redis://user@host:6379", "host:6379"},
		{"redis://:@host", ENDPOINT_TCP, false, "host", 6379, "", "", "", true, 0,
			"redis://:***@host:6379", "host:6379"},
		{"redis://us%40er:p%40ss%3a%2F@host", ENDPOINT_TCP, false, "host", 6379, "",
			"us@er", "p@ss:/", true, 0, NULL, "host:6379"},
		/* An unescaped '@' or '/' in the password: the last '@' ends the user info. */
		{"redis://:p@ss@host:6380", ENDPOINT_TCP, false, "host", 6380, "", "", "p@ss", true,
			0, "redis://:***@host:6380", "host:6380"},
		{"redis://u:pa/ss@host:6380/2", ENDPOINT_TCP, false, "host", 6380, "", "u", "pa/ss",
			true, 2, "redis://u:***@host:6380/2", "host:6380"},
		{"redis://u:a:b@host", ENDPOINT_TCP, false, "host", 6379, "", "u", "a:b", true, 0,
			"redis://u:***@host:6379", "host:6379"},
		{"redis://[::1]:6380", ENDPOINT_TCP, false, "::1", 6380, "", "", "", false, 0,
			"redis://[::1]:6380", "[::1]:6380"},
		{"redis://[::1]", ENDPOINT_TCP, false, "::1", 6379, "", "", "", false, 0,
			"redis://[::1]:6379", "[::1]:6379"},
		{"redis://host:65535", ENDPOINT_TCP, false, "host", 65535, "", "", "", false, 0,
			"redis://host:65535", "host:65535"},
		{"redis://host:1", ENDPOINT_TCP, false, "host", 1, "", "", "", false, 0,
			"redis://host:1", "host:1"},
		{"redis://host?db=5", ENDPOINT_TCP, false, "host", 6379, "", "", "", false, 5,
			"redis://host:6379/5", "host:6379"},
		{"REDIS://host", ENDPOINT_TCP, false, "host", 6379, "", "", "", false, 0,
			"redis://host:6379", "host:6379"},
		{"rediss://host:6380", ENDPOINT_TCP, true, "host", 6380, "", "", "", false, 0,
			"rediss://host:6380", "host:6380"},
		{"rediss://u:" SECRET "@host", ENDPOINT_TCP, true, "host", 6379, "", "u", SECRET,
			true, 0, "rediss://u:***@host:6379", "host:6379"},
		{"unix:///tmp/r.sock", ENDPOINT_UNIX, false, "", 0, "/tmp/r.sock", "", "", false, 0,
			"unix:///tmp/r.sock", "/tmp/r.sock"},
		{"unix:///tmp/r.sock?db=2", ENDPOINT_UNIX, false, "", 0, "/tmp/r.sock", "", "",
			false, 2, "unix:///tmp/r.sock?db=2", "/tmp/r.sock"},
		{"unix://:pw@/tmp/r.sock", ENDPOINT_UNIX, false, "", 0, "/tmp/r.sock", "", "pw",
			true, 0, "unix://:***@/tmp/r.sock", "/tmp/r.sock"},
		{"unix://u:" SECRET "@/tmp/r.sock?db=1", ENDPOINT_UNIX, false, "", 0, "/tmp/r.sock",
			"u", SECRET, true, 1, "unix://u:***@/tmp/r.sock?db=1", "/tmp/r.sock"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct good_case *c = &cases[i];
		struct rw_endpoint ep;
		struct rw_error err = {0};
		fill_sentinel(&ep);
		int rc = url_parse(c->text, &ep, &err);
		cr_expect_eq(rc, 0, "url_parse(\"%s\") = %d: %s", c->text, rc, err.message);
		if (rc != 0) {
			continue;
		}
		cr_expect_eq(err.kind, RW_ERROR_NONE, "%s", c->text);
		cr_expect_eq(ep.kind, c->kind, "%s: kind", c->text);
		cr_expect_eq(ep.tls, c->tls, "%s: tls", c->text);
		if (c->kind == ENDPOINT_TCP) {
			cr_expect_str_eq(ep.host, c->host, "%s: host", c->text);
			cr_expect_eq(ep.port, c->port, "%s: port %u", c->text, (unsigned)ep.port);
		} else {
			cr_expect_str_eq(ep.path, c->path, "%s: path", c->text);
		}
		cr_expect_str_eq(ep.user, c->user, "%s: user", c->text);
		cr_expect_str_eq(ep.password, c->password, "%s: password", c->text);
		cr_expect_eq(ep.has_password, c->has_password, "%s: has_password", c->text);
		cr_expect_eq(ep.db, c->db, "%s: db %d", c->text, ep.db);

		char masked[1024], address[512];
		url_format_masked(&ep, masked, sizeof(masked));
		if (c->masked != NULL) {
			cr_expect_str_eq(masked, c->masked, "url_format_masked for %s", c->text);
		}
		if (c->password[0] != '\0') {
			cr_expect_null(strstr(masked, c->password),
				"%s: masked form '%s' shows the password", c->text, masked);
		}
		cr_expect_eq(strstr(masked, "***") != NULL, c->has_password, "%s: masked '%s'",
			c->text, masked);
		url_format_address(&ep, address, sizeof(address));
		cr_expect_str_eq(address, c->address, "url_format_address for %s", c->text);
	}
}

Test(url, rejects_bad_urls_without_leaking_the_password) {
	static const char *const cases[] = {
		"",
		"host:6379",
		"127.0.0.1",
		"/tmp/r.sock",
		"http://host",
		"http://u:" SECRET "@host",
		"redis:/host",
		"redis:host",
		"redis://",
		"redis://:6379",
		"redis://:" SECRET "@",
		"redis://:" SECRET "@:6379",
		"redis://u:" SECRET "@/3",
		"redis://host:",
		"redis://host:0",
		"redis://host:65536",
		"redis://host:99999999999",
		"redis://host:x",
		"redis://host:63 79",
		"redis://host:-1",
		"redis://host:+80",
		"redis://u:" SECRET "@host:x",
		"redis://u:" SECRET "@host:0",
		"redis://host/x",
		"redis://host/-1",
		"redis://host/1x",
		"redis://u:" SECRET "@host/x",
		"redis://host?db=x",
		"redis://host?db=",
		"redis://host?foo=1",
		"redis://u:" SECRET "@host?foo=1",
		"redis://u:" SECRET "@host?db=x",
		"redis://[::1",
		"redis://[::1]x",
		"redis://[]:6379",
		"redis://ho st",
		"redis://ho%41st",
		"redis://u:" SECRET "%zz@host",
		"redis://u:" SECRET "%4@host",
		"redis://u:" SECRET "%@host",
		"redis://u%zz:" SECRET "@host",
		"redis://u:" SECRET "%00@host",
		"redis://u:" SECRET "\x01@host",
		"redis://u:" SECRET "\x7f@host",
		"redis://u:" SECRET "\n@host",
		"redis://u:" SECRET "@ho\tst",
		"redis://host\r",
		"unix://",
		"unix:///tmp/r.sock?db=x",
		"unix:///tmp/r.sock?foo=1",
		"unix://u:" SECRET "@/tmp/r.sock?foo=1",
		"unix://u:" SECRET "%zz@/tmp/r.sock",
		"unix://host/tmp/r.sock",
		"unix://u:" SECRET "@host/tmp/r.sock",
		"unix:relative.sock",
		"unix://:" SECRET "@",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rw_endpoint ep;
		struct rw_error err = {0};
		fill_sentinel(&ep);
		int rc = url_parse(cases[i], &ep, &err);
		cr_expect_eq(rc, -1, "url_parse(\"%s\") = %d, want -1", cases[i], rc);
		cr_expect_eq(
			err.kind, RW_ERROR_USAGE, "url_parse(\"%s\"): kind %d", cases[i], err.kind);
		cr_expect_neq(err.message[0], '\0', "url_parse(\"%s\"): empty message", cases[i]);
		cr_expect_null(strstr(err.message, SECRET),
			"url_parse(\"%s\") leaks the password: %s", cases[i], err.message);
		cr_expect(is_sentinel(&ep), "url_parse(\"%s\") wrote *ret on failure", cases[i]);
	}
}

Test(url, unix_path_too_long_is_rejected) {
	char text[300] = "unix:///";
	memset(text + strlen(text), 'a', 200);
	text[8 + 200] = '\0';
	struct rw_endpoint ep;
	struct rw_error err = {0};
	fill_sentinel(&ep);
	cr_assert_eq(url_parse(text, &ep, &err), -1);
	cr_assert_eq(err.kind, RW_ERROR_USAGE);
	cr_assert(is_sentinel(&ep));
}

Test(url, long_password_is_never_shown) {
	char text[2048] = "redis://u:";
	size_t len = strlen(text);
	for (int i = 0; i < 100; i++) {
		memcpy(text + len, SECRET, strlen(SECRET));
		len += strlen(SECRET);
	}
	(void)strcpy(text + len, "@host:notaport");
	struct rw_endpoint ep;
	struct rw_error err = {0};
	cr_assert_eq(url_parse(text, &ep, &err), -1);
	cr_assert_eq(err.kind, RW_ERROR_USAGE);
	cr_assert_null(strstr(err.message, SECRET), "leaks: %s", err.message);
	cr_assert_null(strstr(err.message, "s3cr"), "leaks part of it: %s", err.message);
}

Test(url, masked_format_of_a_default_endpoint) {
	struct rw_endpoint ep;
	struct rw_error err = {0};
	cr_assert_eq(url_parse(URL_DEFAULT, &ep, &err), 0);
	char masked[512];
	cr_assert_str_eq(url_format_masked(&ep, masked, sizeof(masked)), URL_DEFAULT);
	cr_assert_null(strstr(masked, "***"));
}

Test(url, masked_format_truncates_without_leaking) {
	struct rw_endpoint ep;
	struct rw_error err = {0};
	cr_assert_eq(url_parse("redis://user:" SECRET "@host:6380/2", &ep, &err), 0);
	char masked[512];
	for (size_t size = 1; size < 40; size++) {
		memset(masked, 'x', sizeof(masked));
		cr_assert_eq(url_format_masked(&ep, masked, size), masked);
		cr_assert_lt(strlen(masked), size);
		cr_assert_null(strstr(masked, "s3c"));
	}
}
