/* url_parse, url_format_masked and url_format_address: accepted URLs, rejected ones, and
 * that a password never shows up in an error message or a formatted endpoint. */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "url.h"
#include "untouched.h"

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


/* url_parse refuses text with a usage error and a message, and leaves *ret alone; the
 * message is copied to `message` for the caller's own checks. */
static void expect_refused(const char *text, char *message, size_t size) {
	struct rw_endpoint ep;
	struct rw_error err = {0};
	fill_sentinel(&ep, sizeof(ep));
	int rc = url_parse(text, &ep, &err);
	cr_expect_eq(rc, -1, "url_parse(\"%s\") = %d, want -1", text, rc);
	cr_expect_eq(err.kind, RW_ERROR_USAGE, "url_parse(\"%s\"): kind %d", text, err.kind);
	cr_expect_neq(err.message[0], '\0', "url_parse(\"%s\"): empty message", text);
	cr_expect(is_sentinel(&ep, sizeof(ep)), "url_parse(\"%s\") wrote *ret on failure", text);
	(void)snprintf(message, size, "%s", err.message);
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
		fill_sentinel(&ep, sizeof(ep));
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
		char message[800];
		expect_refused(cases[i], message, sizeof(message));
		cr_expect_null(strstr(message, SECRET), "url_parse(\"%s\") leaks the password: %s",
			cases[i], message);
	}
}

Test(url, unix_path_too_long_is_rejected) {
	char text[300] = "unix:///";
	memset(text + strlen(text), 'a', 200);
	text[8 + 200] = '\0';
	struct rw_endpoint ep;
	struct rw_error err = {0};
	fill_sentinel(&ep, sizeof(ep));
	cr_assert_eq(url_parse(text, &ep, &err), -1);
	cr_assert_eq(err.kind, RW_ERROR_USAGE);
	cr_assert(is_sentinel(&ep, sizeof(ep)));
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

/* ---- Sentinel URLs ---------------------------------------------------------------------- */

/* The sentinels' own password, as distinctive as SECRET. */
#define SENTINEL_SECRET "s3ntn3lpw"

/* No password, in any spelling the tests use, reaches `text` (":pass" rather than "pass",
 * which messages may name as "sentinel_password"). */
static void expect_no_password(const char *url, const char *text) {
	static const char *const secrets[] = {
		SECRET,
		SENTINEL_SECRET,
		"p@ss",
		"p%40ss",
		"s&p",
		"s%26p",
		":pass",
	};
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
		cr_expect_null(
			strstr(text, secrets[i]), "%s: '%s' shows '%s'", url, text, secrets[i]);
	}
}

struct sentinel_case {
	const char *text;
	bool tls;
	const char *user;
	const char *password;
	bool has_password;
	int db;
	const char *master;
	size_t count;
	struct {
		const char *host;
		unsigned port;
	} sentinels[3]; /* the first three */
	const char *sentinel_user;
	const char *sentinel_password;
	bool has_sentinel_password;
	const char *masked;
};

Test(url, parses_sentinel_urls) {
	static const struct sentinel_case cases[] = {
		{"redis+sentinel://h1,h2:26380,[::1]:26381/mymaster", false, "", "", false, 0,
			"mymaster", 3, {{"h1", 26379}, {"h2", 26380}, {"::1", 26381}}, "", "",
			false, "redis+sentinel://h1:26379,h2:26380,[::1]:26381/mymaster"},
		{"rediss+sentinel://u:p%40ss@h1/mymaster/3"
		 "?sentinel_user=su&sentinel_password=s%26p",
			true, "u", "p@ss", true, 3, "mymaster", 1, {{"h1", 26379}}, "su", "s&p",
			true, "rediss+sentinel://u:***@h1:26379/mymaster/3"},
		{"redis+sentinel://h1/m?db=2", false, "", "", false, 2, "m", 1, {{"h1", 26379}}, "",
			"", false, "redis+sentinel://h1:26379/m/2"},
		{"redis+sentinel://h1/m/1?db=2", false, "", "", false, 2, "m", 1, {{"h1", 26379}},
			"", "", false, "redis+sentinel://h1:26379/m/2"},
		{"redis+sentinel://h1/m/", false, "", "", false, 0, "m", 1, {{"h1", 26379}}, "", "",
			false, "redis+sentinel://h1:26379/m"},
		{"redis+sentinel://h1/m?", false, "", "", false, 0, "m", 1, {{"h1", 26379}}, "", "",
			false, "redis+sentinel://h1:26379/m"},
		{"REDIS+SENTINEL://h1:1/m", false, "", "", false, 0, "m", 1, {{"h1", 1}}, "", "",
			false, "redis+sentinel://h1:1/m"},
		{"redis+sentinel://h1:65535,[::1]/m", false, "", "", false, 0, "m", 2,
			{{"h1", 65535}, {"::1", 26379}}, "", "", false,
			"redis+sentinel://h1:65535,[::1]:26379/m"},
		{"redis+sentinel://:" SECRET "@h1/m", false, "", SECRET, true, 0, "m", 1,
			{{"h1", 26379}}, "", "", false, "redis+sentinel://:***@h1:26379/m"},
		{"redis+sentinel://user@h1/m", false, "user", "", false, 0, "m", 1, {{"h1", 26379}},
			"", "", false, "redis+sentinel://user@h1:26379/m"},
		/* An unescaped '@' or ',' in the data password: the last '@' ends the user info. */
		{"redis+sentinel://u:p@ss@h1,h2/m", false, "u", "p@ss", true, 0, "m", 2,
			{{"h1", 26379}, {"h2", 26379}}, "", "", false,
			"redis+sentinel://u:***@h1:26379,h2:26379/m"},
		{"redis+sentinel://u:" SECRET ",x@h1/m", false, "u", SECRET ",x", true, 0, "m", 1,
			{{"h1", 26379}}, "", "", false, "redis+sentinel://u:***@h1:26379/m"},
		/* The sentinels' credentials alone; an empty password is still one (AUTH ""). */
		{"redis+sentinel://h1/m?sentinel_user=su", false, "", "", false, 0, "m", 1,
			{{"h1", 26379}}, "su", "", false, "redis+sentinel://h1:26379/m"},
		{"redis+sentinel://h1/m?sentinel_password=" SENTINEL_SECRET, false, "", "", false,
			0, "m", 1, {{"h1", 26379}}, "", SENTINEL_SECRET, true,
			"redis+sentinel://h1:26379/m"},
		{"redis+sentinel://h1/m?sentinel_password=", false, "", "", false, 0, "m", 1,
			{{"h1", 26379}}, "", "", true, "redis+sentinel://h1:26379/m"},
		{"redis+sentinel://u:" SECRET "@h1,h2:26380/mymaster?sentinel_user=su&"
		 "sentinel_password=" SENTINEL_SECRET "&db=4",
			false, "u", SECRET, true, 4, "mymaster", 2, {{"h1", 26379}, {"h2", 26380}},
			"su", SENTINEL_SECRET, true,
			"redis+sentinel://u:***@h1:26379,h2:26380/mymaster/4"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct sentinel_case *c = &cases[i];
		struct rw_endpoint ep;
		struct rw_error err = {0};
		fill_sentinel(&ep, sizeof(ep));
		int rc = url_parse(c->text, &ep, &err);
		cr_expect_eq(rc, 0, "url_parse(\"%s\") = %d: %s", c->text, rc, err.message);
		if (rc != 0) {
			continue;
		}
		cr_expect(ep.sentinel, "%s: sentinel", c->text);
		cr_expect_eq(ep.kind, ENDPOINT_TCP, "%s: kind", c->text);
		cr_expect_eq(ep.tls, c->tls, "%s: tls", c->text);
		cr_expect_str_eq(ep.user, c->user, "%s: user", c->text);
		cr_expect_str_eq(ep.password, c->password, "%s: password", c->text);
		cr_expect_eq(ep.has_password, c->has_password, "%s: has_password", c->text);
		cr_expect_eq(ep.db, c->db, "%s: db %d", c->text, ep.db);
		cr_expect_str_eq(ep.master, c->master, "%s: master", c->text);
		cr_expect_eq(ep.sentinel_count, c->count, "%s: %zu sentinels", c->text,
			ep.sentinel_count);
		for (size_t j = 0; j < c->count && j < 3; j++) {
			cr_expect_str_eq(ep.sentinels[j].host, c->sentinels[j].host,
				"%s: sentinel %zu", c->text, j);
			cr_expect_eq(ep.sentinels[j].port, c->sentinels[j].port,
				"%s: sentinel %zu port %u", c->text, j,
				(unsigned)ep.sentinels[j].port);
		}
		cr_expect_str_eq(ep.sentinel_user, c->sentinel_user, "%s: sentinel_user", c->text);
		cr_expect_str_eq(ep.sentinel_password, c->sentinel_password,
			"%s: sentinel_password", c->text);
		cr_expect_eq(ep.has_sentinel_password, c->has_sentinel_password,
			"%s: has_sentinel_password", c->text);

		char masked[1024], address[512];
		cr_expect_str_eq(url_format_masked(&ep, masked, sizeof(masked)), c->masked,
			"url_format_masked for %s", c->text);
		expect_no_password(c->text, masked);
		char want_address[300];
		(void)snprintf(want_address, sizeof(want_address), "master '%s'", c->master);
		cr_expect_str_eq(url_format_address(&ep, address, sizeof(address)), want_address,
			"url_format_address for %s", c->text);
	}
}

Test(url, eight_sentinels_fit_nine_do_not) {
	char text[512] = "redis+sentinel://";
	for (int i = 1; i <= URL_MAX_SENTINELS; i++) {
		char host[16];
		(void)snprintf(host, sizeof(host), "%sh%d:%d", i > 1 ? "," : "", i, 26378 + i);
		(void)strcat(text, host);
	}
	char eight[600];
	(void)snprintf(eight, sizeof(eight), "%s/m", text);
	struct rw_endpoint ep;
	struct rw_error err = {0};
	cr_assert_eq(url_parse(eight, &ep, &err), 0, "%s: %s", eight, err.message);
	cr_expect_eq(ep.sentinel_count, URL_MAX_SENTINELS);
	cr_expect_str_eq(ep.sentinels[URL_MAX_SENTINELS - 1].host, "h8");
	cr_expect_eq(ep.sentinels[URL_MAX_SENTINELS - 1].port, 26386);

	static const char *const more[] = {",h9/m", ",h9,h10/m", ",/m"};
	for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++) {
		char nine[600];
		(void)snprintf(nine, sizeof(nine), "redis+sentinel://u:" SECRET "@%s%s",
			text + strlen("redis+sentinel://"), more[i]);
		struct rw_error nine_err = {0};
		fill_sentinel(&ep, sizeof(ep));
		cr_expect_eq(url_parse(nine, &ep, &nine_err), -1, "%s accepted", nine);
		cr_expect_eq(nine_err.kind, RW_ERROR_USAGE, "%s", nine);
		cr_expect(is_sentinel(&ep, sizeof(ep)), "%s: *ret written on failure", nine);
		expect_no_password(nine, nine_err.message);
	}
}

Test(url, rejects_bad_sentinel_urls_without_leaking_passwords) {
	static const char *const cases[] = {
		/* No master. */
		"redis+sentinel://h1",
		"redis+sentinel://h1/",
		"redis+sentinel://h1//3",
		"redis+sentinel://h1/?db=1",
		"redis+sentinel://h1?db=1",
		"redis+sentinel://u:" SECRET "@h1",
		"redis+sentinel://u:" SECRET "@h1/",
		"rediss+sentinel://u:p%40ss@h1?sentinel_password=" SENTINEL_SECRET,
		/* Empty or bad hosts and ports. */
		"redis+sentinel://h1,/m",
		"redis+sentinel://,h1/m",
		"redis+sentinel://h1,,h2/m",
		"redis+sentinel://,/m",
		"redis+sentinel://u:" SECRET "@h1,/m",
		"redis+sentinel://h1:0/m",
		"redis+sentinel://h1:65536/m",
		"redis+sentinel://h1:x/m",
		"redis+sentinel://h1:/m",
		"redis+sentinel://h1,h2:99999999999/m",
		"redis+sentinel://[::1/m",
		"redis+sentinel://[::1]x/m",
		"redis+sentinel://[]/m",
		"redis+sentinel://h 1/m",
		"redis+sentinel://h%31/m",
		"redis+sentinel://u:" SECRET "@h1:0/m",
		/* Bad database numbers. */
		"redis+sentinel://h1/m/x",
		"redis+sentinel://h1/m/-1",
		"redis+sentinel://h1/m/1x",
		"redis+sentinel://h1/m/1/2",
		"redis+sentinel://h1/m?db=x",
		"redis+sentinel://h1/m?db=",
		"redis+sentinel://u:" SECRET "@h1/m?sentinel_password=" SENTINEL_SECRET "&db=x",
		/* Unknown parameters. */
		"redis+sentinel://h1/m?foo=1",
		"redis+sentinel://u:" SECRET "@h1/m?foo=1",
		"redis+sentinel://u:p%40ss@h1/m?foo=1",
		"redis+sentinel://u:pass@h1/m?foo=1",
		"redis+sentinel://h1/m?sentinel_password=" SENTINEL_SECRET "&foo=1",
		"redis+sentinel://h1/m?foo=1&sentinel_password=" SENTINEL_SECRET,
		"redis+sentinel://h1/m?sentinel_password=s%26p&foo=1",
		"redis+sentinel://h1/m?sentinel_user=su&foo=1",
		"redis+sentinel://h1/m?sentinel=1",
		"redis+sentinel://h1/m?sentinel_passwordx=1",
		/* Bad escapes, NULs and control characters. */
		"redis+sentinel://h1/m?sentinel_password=" SENTINEL_SECRET "%zz",
		"redis+sentinel://h1/m?sentinel_password=" SENTINEL_SECRET "%00",
		"redis+sentinel://h1/m?sentinel_password=" SENTINEL_SECRET "%4",
		"redis+sentinel://h1/m?sentinel_user=%zz&sentinel_password=" SENTINEL_SECRET,
		"redis+sentinel://u:" SECRET "%zz@h1/m",
		"redis+sentinel://u%zz:" SECRET "@h1/m",
		"redis+sentinel://h1/m%zz",
		"redis+sentinel://h1/%00",
		"redis+sentinel://h1/m?sentinel_password=" SENTINEL_SECRET "\x01",
		"redis+sentinel://u:" SECRET "\n@h1/m",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char message[800];
		expect_refused(cases[i], message, sizeof(message));
		expect_no_password(cases[i], message);
	}
}

/* The sentinels' parameters mean nothing to one server; "?db=N" alone is understood. */
Test(url, plain_urls_refuse_sentinel_parameters) {
	static const char *const cases[] = {
		"redis://h?sentinel_user=x",
		"redis://h/1?sentinel_user=x",
		"redis://h?db=1&sentinel_user=x",
		"redis://h?sentinel_password=" SENTINEL_SECRET,
		"redis://u:" SECRET "@h?sentinel_password=" SENTINEL_SECRET,
		"rediss://h?sentinel_user=x",
		"unix:///tmp/r.sock?sentinel_user=x",
		"unix:///tmp/r.sock?sentinel_password=" SENTINEL_SECRET,
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rw_endpoint ep;
		struct rw_error err = {0};
		fill_sentinel(&ep, sizeof(ep));
		cr_expect_eq(
			url_parse(cases[i], &ep, &err), -1, "url_parse(\"%s\") accepted", cases[i]);
		cr_expect_eq(err.kind, RW_ERROR_USAGE, "%s", cases[i]);
		cr_expect_not_null(strstr(err.message, "db"),
			"%s: '%s' does not say what is understood", cases[i], err.message);
		expect_no_password(cases[i], err.message);
		cr_expect(is_sentinel(&ep, sizeof(ep)), "%s: *ret written on failure", cases[i]);
	}
}

Test(url, sentinel_masked_format_truncates_without_leaking) {
	static const char text[] = "rediss+sentinel://u:" SECRET "@h1,[::1]:26380/mymaster/2"
				   "?sentinel_user=su&sentinel_password=" SENTINEL_SECRET;
	struct rw_endpoint ep;
	struct rw_error err = {0};
	cr_assert_eq(url_parse(text, &ep, &err), 0, "%s", err.message);
	char masked[512];
	cr_assert_str_eq(url_format_masked(&ep, masked, sizeof(masked)),
		"rediss+sentinel://u:***@h1:26379,[::1]:26380/mymaster/2");
	for (size_t size = 1; size < 70; size++) {
		memset(masked, 'x', sizeof(masked));
		cr_assert_eq(url_format_masked(&ep, masked, size), masked);
		cr_assert_lt(strlen(masked), size);
		cr_assert_null(strstr(masked, "s3c"));
		cr_assert_null(strstr(masked, "s3n"));
	}
	for (size_t size = 1; size < 20; size++) {
		char address[64];
		memset(address, 'x', sizeof(address));
		cr_assert_eq(url_format_address(&ep, address, size), address);
		cr_assert_lt(strlen(address), size);
	}
}

#define THREE_SENTINELS                                                                            \
	"redis+sentinel://u:" SECRET "@h1,h2:26380,[::1]:26381/mymaster/5"                         \
	"?sentinel_user=su&sentinel_password=" SENTINEL_SECRET

/* Each sentinel is asked with the sentinels' credentials, in database 0, with the URL's TLS. */
Test(url, sentinel_endpoint) {
	static const struct {
		const char *text;
		size_t index;
		const char *host;
		unsigned port;
		bool tls;
		const char *user;
		const char *password;
		bool has_password;
	} cases[] = {
		{THREE_SENTINELS, 1, "h2", 26380, false, "su", SENTINEL_SECRET, true},
		{THREE_SENTINELS, 2, "::1", 26381, false, "su", SENTINEL_SECRET, true},
		{"rediss+sentinel://u:" SECRET "@h1/m/3", 0, "h1", 26379, true, "", "", false},
		{"redis+sentinel://h1/m?sentinel_password=", 0, "h1", 26379, false, "", "", true},
		{"redis+sentinel://h1,h2/m?sentinel_user=only", 1, "h2", 26379, false, "only", "",
			false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rw_endpoint ep, out;
		struct rw_error err = {0};
		cr_assert_eq(url_parse(cases[i].text, &ep, &err), 0, "%s: %s", cases[i].text,
			err.message);
		fill_sentinel(&out, sizeof(out));
		url_sentinel_endpoint(&ep, cases[i].index, &out);
		cr_expect_eq(out.kind, ENDPOINT_TCP, "case %zu", i);
		cr_expect_not(out.sentinel, "case %zu: a sentinel is asked directly", i);
		cr_expect_str_eq(out.host, cases[i].host, "case %zu", i);
		cr_expect_eq(out.port, cases[i].port, "case %zu", i);
		cr_expect_eq(out.tls, cases[i].tls, "case %zu", i);
		cr_expect_str_eq(out.user, cases[i].user, "case %zu", i);
		cr_expect_str_eq(out.password, cases[i].password, "case %zu", i);
		cr_expect_eq(out.has_password, cases[i].has_password, "case %zu", i);
		cr_expect_eq(out.db, 0, "case %zu: sentinels have no databases", i);
		cr_expect_eq(out.sentinel_count, 0, "case %zu", i);

		char masked[512], address[512];
		url_format_masked(&out, masked, sizeof(masked));
		expect_no_password(cases[i].text, masked);
		char want[300];
		(void)snprintf(want, sizeof(want), strchr(cases[i].host, ':') ? "[%s]:%u" : "%s:%u",
			cases[i].host, cases[i].port);
		cr_expect_str_eq(url_format_address(&out, address, sizeof(address)), want);
	}
}

/* A data node found through a URL keeps the URL's credentials, database and TLS. */
Test(url, node_endpoint) {
	static const struct {
		const char *text;
		const char *user;
		const char *password;
		bool has_password;
		int db;
		bool tls;
	} cases[] = {
		{"redis+sentinel://u:" SECRET
		 "@h1/mymaster/3?sentinel_user=su&sentinel_password=" SENTINEL_SECRET,
			"u", SECRET, true, 3, false},
		{"rediss+sentinel://h1/m?db=7", "", "", false, 7, true},
		{"redis://:" SECRET "@seed:7000/2", "", SECRET, true, 2, false},
		{"rediss://u@seed", "u", "", false, 0, true},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rw_endpoint ep, out;
		struct rw_error err = {0};
		cr_assert_eq(url_parse(cases[i].text, &ep, &err), 0, "%s: %s", cases[i].text,
			err.message);
		fill_sentinel(&out, sizeof(out));
		url_node_endpoint(&ep, "10.0.0.1", 7000, &out);
		cr_expect_eq(out.kind, ENDPOINT_TCP, "case %zu", i);
		cr_expect_not(out.sentinel, "case %zu", i);
		cr_expect_str_eq(out.host, "10.0.0.1", "case %zu", i);
		cr_expect_eq(out.port, 7000, "case %zu", i);
		cr_expect_eq(out.tls, cases[i].tls, "case %zu", i);
		cr_expect_str_eq(out.user, cases[i].user, "case %zu", i);
		cr_expect_str_eq(out.password, cases[i].password, "case %zu", i);
		cr_expect_eq(out.has_password, cases[i].has_password, "case %zu", i);
		cr_expect_eq(out.db, cases[i].db, "case %zu", i);
		cr_expect_eq(out.sentinel_count, 0, "case %zu", i);
		cr_expect_str_eq(out.sentinel_password, "", "case %zu: the sentinels' password", i);

		char address[512];
		cr_expect_str_eq(
			url_format_address(&out, address, sizeof(address)), "10.0.0.1:7000");
	}

	/* IPv6 and a 255-byte name. */
	struct rw_endpoint ep, out;
	struct rw_error err = {0};
	cr_assert_eq(url_parse("redis+sentinel://h1/m", &ep, &err), 0);
	url_node_endpoint(&ep, "::1", 1, &out);
	char masked[512];
	cr_expect_str_eq(url_format_masked(&out, masked, sizeof(masked)), "redis://[::1]:1");
	char host[256];
	memset(host, 'n', 255);
	host[255] = '\0';
	url_node_endpoint(&ep, host, 65535, &out);
	cr_expect_str_eq(out.host, host);
}

/* ---- Regressions: a Sentinel URL without hosts, a password without "://" ---------------- */

/* No host before the master is a usage error, not a server error later ("no sentinel
 * told where the master is"). */
Test(url, sentinel_url_without_hosts_is_a_usage_error) {
	static const char *const cases[] = {
		"redis+sentinel:///m",
		"redis+sentinel://u:" SECRET "@/m",
		"rediss+sentinel:///m/2",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rw_endpoint ep;
		struct rw_error err = {0};
		fill_sentinel(&ep, sizeof(ep));
		cr_expect_eq(
			url_parse(cases[i], &ep, &err), -1, "url_parse(\"%s\") accepted", cases[i]);
		cr_expect_eq(err.kind, RW_ERROR_USAGE, "%s", cases[i]);
		expect_no_password(cases[i], err.message);
	}
}

/* Without "://" the URL is still quoted with its password masked. */
Test(url, no_password_in_the_message_without_a_scheme_separator) {
	static const char *const cases[] = {
		"redis:/u:" SECRET "@host",
		"redis:u:" SECRET "@host",
		"u:" SECRET "@host:6379",
		"redis+sentinel:/u:" SECRET "@h1/m",
		("redis+sentinel//h1/m?sentinel_password=" SENTINEL_SECRET),
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rw_endpoint ep;
		struct rw_error err = {0};
		cr_expect_eq(
			url_parse(cases[i], &ep, &err), -1, "url_parse(\"%s\") accepted", cases[i]);
		cr_expect_eq(err.kind, RW_ERROR_USAGE, "%s", cases[i]);
		expect_no_password(cases[i], err.message);
	}
}
