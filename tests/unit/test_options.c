/* options_parse, options_check_lock_name and options_parse_uint: defaults, operand forms,
 * every option's accepted and rejected values, the environment, and usage errors. */
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "options.h"

#define MAX_ARGS 24

/* One parse, with the argv it borrows from kept alive next to the result. */
struct parsed {
	char *argv[MAX_ARGS + 2];
	int argc;
	struct rw_options opts;
	struct rw_error err;
	int rc;
};

static const struct rw_env no_env = {NULL, NULL, NULL, NULL, NULL};

/* Parses "rwith" followed by `args` (NULL-terminated). The strings are borrowed. */
static int parse_args(struct parsed *p, const struct rw_env *env, const char *const *args) {
	memset(p, 0, sizeof(*p));
	p->argv[p->argc++] = "rwith";
	for (size_t i = 0; args[i] != NULL; i++) {
		cr_assert_lt(p->argc, MAX_ARGS, "too many arguments for the test helper");
		p->argv[p->argc++] = (char *)args[i];
	}
	p->argv[p->argc] = NULL;
	p->rc = options_parse(p->argc, p->argv, env, &p->opts, &p->err);
	return p->rc;
}

/* parse_args with the arguments inline: parse(&p, env, "L", "--", "true", NULL). */
static int parse(struct parsed *p, const struct rw_env *env, ...) {
	const char *args[MAX_ARGS + 1];
	size_t n = 0;
	va_list ap;
	va_start(ap, env);
	for (const char *arg; (arg = va_arg(ap, const char *)) != NULL;) {
		cr_assert_lt(n, MAX_ARGS, "too many arguments for the test helper");
		args[n++] = arg;
	}
	va_end(ap);
	args[n] = NULL;
	return parse_args(p, env, args);
}

/* "rwith a b c" for messages. */
static const char *show_args(const struct parsed *p, char *buf, size_t size) {
	size_t used = 0;
	buf[0] = '\0';
	for (int i = 0; i < p->argc && used < size; i++) {
		int n = snprintf(buf + used, size - used, "%s%s", i ? " " : "", p->argv[i]);
		used += n > 0 ? (size_t)n : 0;
	}
	return buf;
}

static void expect_ok(struct parsed *p) {
	char shown[512];
	cr_expect_eq(p->rc, 0, "%s: rc %d: %s", show_args(p, shown, sizeof(shown)), p->rc,
		p->err.message);
	cr_expect_eq(p->err.kind, RW_ERROR_NONE, "%s", show_args(p, shown, sizeof(shown)));
}

/* A usage error, with `needle` (if any) in the message, and nothing left to free. */
static void expect_usage(struct parsed *p, const char *needle) {
	char shown[512];
	show_args(p, shown, sizeof(shown));
	cr_expect_eq(p->rc, -1, "%s: rc %d, want -1", shown, p->rc);
	cr_expect_eq(p->err.kind, RW_ERROR_USAGE, "%s: kind %d, want usage", shown, p->err.kind);
	cr_expect_neq(p->err.message[0], '\0', "%s: no message", shown);
	if (needle != NULL) {
		cr_expect_not_null(strstr(p->err.message, needle), "%s: message '%s' lacks '%s'",
			shown, p->err.message, needle);
	}
	cr_expect_null(p->opts.task, "%s: a failed parse left something to free", shown);
	options_finish(&p->opts);
}

struct usage_case {
	const char *args[MAX_ARGS];
	const char *needle; /* must be in the message; NULL: any message */
};

static void expect_usage_table(const struct usage_case *cases, size_t count) {
	for (size_t i = 0; i < count; i++) {
		struct parsed p;
		parse_args(&p, &no_env, cases[i].args);
		expect_usage(&p, cases[i].needle);
	}
}

Test(options, defaults) {
	struct parsed p;
	parse(&p, &no_env, "L", "--", "true", NULL);
	expect_ok(&p);
	const struct rw_options *o = &p.opts;
	cr_expect_eq(o->action, ACTION_RUN);
	cr_expect_str_eq(o->lock, "L");
	cr_expect_eq(o->ttl_ms, 30000);
	cr_expect_eq(o->heartbeat_ms, 10000);
	cr_expect(o->wait_forever);
	cr_expect_eq(o->conflict_exit, 1);
	cr_expect_eq(o->mode, LOCK_EXCLUSIVE);
	cr_expect_eq(o->limit, 1);
	cr_expect_eq(o->kill_after_ms, 5000);
	cr_expect_eq(o->min_hold_ms, 0);
	cr_expect_str_eq(o->prefix, "rwith:");
	cr_expect_null(o->tls_ca);
	cr_expect_not(o->json);
	cr_expect_eq(o->verbosity, 0);
	cr_expect_eq(o->server_count, 1);
	cr_expect_eq(o->servers[0].kind, ENDPOINT_TCP);
	cr_expect_str_eq(o->servers[0].host, "127.0.0.1");
	cr_expect_eq(o->servers[0].port, 6379);
	cr_expect_not(o->servers[0].tls);
	cr_expect_not(o->servers[0].has_password);
	cr_expect_eq(o->servers[0].db, 0);
	cr_expect_null(o->shell_command);
	cr_assert_not_null(o->command);
	cr_expect_str_eq(o->command[0], "true");
	cr_expect_null(o->command[1]);
	cr_expect_str_eq(o->task, "true");
	options_finish(&p.opts);
}

Test(options, heartbeat_defaults_to_a_third_of_the_ttl) {
	struct parsed p;
	parse(&p, &no_env, "-t", "9s", "L", "--", "true", NULL);
	expect_ok(&p);
	cr_expect_eq(p.opts.ttl_ms, 9000);
	cr_expect_eq(p.opts.heartbeat_ms, 3000);
	options_finish(&p.opts);
}

Test(options, command_options_are_not_ours) {
	struct parsed p;
	parse(&p, &no_env, "L", "--", "cmd", "-x", "-n", "-t", "1ms", "--bogus", "--", "-c", NULL);
	expect_ok(&p);
	cr_assert_not_null(p.opts.command);
	static const char *const want[] = {"cmd", "-x", "-n", "-t", "1ms", "--bogus", "--", "-c"};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		cr_assert_not_null(p.opts.command[i], "command[%zu] missing", i);
		cr_expect_str_eq(p.opts.command[i], want[i], "command[%zu]", i);
	}
	cr_expect_null(p.opts.command[sizeof(want) / sizeof(want[0])]);
	cr_expect(p.opts.wait_forever, "the command's -n was taken for rwith's");
	cr_expect_eq(p.opts.ttl_ms, 30000, "the command's -t was taken for rwith's");
	cr_expect_null(p.opts.shell_command, "the command's -c was taken for rwith's");
	options_finish(&p.opts);
}

Test(options, nonblock_before_the_lock) {
	struct parsed p;
	parse(&p, &no_env, "-n", "L", "--", "true", NULL);
	expect_ok(&p);
	cr_expect_str_eq(p.opts.lock, "L");
	cr_expect_not(p.opts.wait_forever);
	cr_expect_eq(p.opts.wait_ms, 0);
	cr_expect_str_eq(p.opts.command[0], "true");
	options_finish(&p.opts);
}

Test(options, options_after_the_lock) {
	struct parsed p;
	parse(&p, &no_env, "L", "-n", "-E", "3", "--ttl", "10s", "--", "true", NULL);
	expect_ok(&p);
	cr_expect_str_eq(p.opts.lock, "L");
	cr_expect_not(p.opts.wait_forever);
	cr_expect_eq(p.opts.wait_ms, 0);
	cr_expect_eq(p.opts.conflict_exit, 3);
	cr_expect_eq(p.opts.ttl_ms, 10000);
	cr_expect_str_eq(p.opts.command[0], "true");
	cr_expect_null(p.opts.command[1]);
	options_finish(&p.opts);
}

Test(options, long_nonblock) {
	struct parsed p;
	parse(&p, &no_env, "--nonblock", "L", "--", "true", NULL);
	expect_ok(&p);
	cr_expect_not(p.opts.wait_forever);
	cr_expect_eq(p.opts.wait_ms, 0);
	options_finish(&p.opts);
}

Test(options, shell_command) {
	struct parsed p;
	parse(&p, &no_env, "L", "-c", "exit 3", NULL);
	expect_ok(&p);
	cr_expect_str_eq(p.opts.shell_command, "exit 3");
	cr_expect_null(p.opts.command);
	cr_expect_str_eq(p.opts.task, "exit 3");
	options_finish(&p.opts);

	parse(&p, &no_env, "-n", "L", "--command=make deploy", NULL);
	expect_ok(&p);
	cr_expect_str_eq(p.opts.shell_command, "make deploy");
	cr_expect_null(p.opts.command);
	cr_expect_not(p.opts.wait_forever);
	options_finish(&p.opts);
}

Test(options, command_without_dashes_is_accepted) {
	struct parsed p;
	parse(&p, &no_env, "L", "cmd", NULL);
	expect_ok(&p);
	cr_expect_str_eq(p.opts.lock, "L");
	cr_assert_not_null(p.opts.command);
	cr_expect_str_eq(p.opts.command[0], "cmd");
	cr_expect_null(p.opts.command[1]);
	options_finish(&p.opts);

	/* As with flock(1), the command's own options stay the command's. */
	parse(&p, &no_env, "L", "ls", "-l", "-n", NULL);
	expect_ok(&p);
	cr_assert_not_null(p.opts.command);
	cr_expect_str_eq(p.opts.command[0], "ls");
	cr_expect_str_eq(p.opts.command[1], "-l");
	cr_expect_str_eq(p.opts.command[2], "-n");
	cr_expect_null(p.opts.command[3]);
	cr_expect(p.opts.wait_forever);
	options_finish(&p.opts);
}

Test(options, dashes_as_an_option_value) {
	struct parsed p;
	parse(&p, &no_env, "L", "-T", "--", "--", "cmd", NULL);
	expect_ok(&p);
	cr_expect_str_eq(p.opts.task, "--");
	cr_assert_not_null(p.opts.command);
	cr_expect_str_eq(p.opts.command[0], "cmd");
	cr_expect_null(p.opts.command[1]);
	options_finish(&p.opts);
}

Test(options, missing_command_or_lock_is_a_usage_error) {
	static const struct usage_case cases[] = {
		{{NULL}, NULL},
		{{"-n", NULL}, NULL},
		{{"--", NULL}, NULL},
		{{"L", NULL}, NULL},
		{{"L", "--", NULL}, NULL},
		{{"L", "-n", NULL}, NULL},
		{{"L", "-n", "--", NULL}, NULL},
		{{"-n", "L", NULL}, NULL},
		{{"L", "-c", "true", "extra", NULL}, NULL},
	};
	expect_usage_table(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(options, bad_lock_names_are_usage_errors) {
	char long_name[LOCK_NAME_MAX + 2];
	memset(long_name, 'a', LOCK_NAME_MAX + 1);
	long_name[LOCK_NAME_MAX + 1] = '\0';
	const struct usage_case cases[] = {
		{{"", "--", "true", NULL}, NULL},
		{{long_name, "--", "true", NULL}, NULL},
		{{"--", "-L", "--", "true", NULL}, NULL},
		{{"a\001b", "--", "true", NULL}, NULL},
		{{"a\x1f", "--", "true", NULL}, NULL},
		{{"a\x7f", "--", "true", NULL}, NULL},
		{{"a\nb", "--", "true", NULL}, NULL},
		{{"a\tb", "--", "true", NULL}, NULL},
	};
	expect_usage_table(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(options, good_lock_names) {
	char longest[LOCK_NAME_MAX + 1];
	memset(longest, 'a', LOCK_NAME_MAX);
	longest[LOCK_NAME_MAX] = '\0';
	const char *const names[] = {
		"L", longest, "deploy:prod", "a-b", "a b", "x{y}z", "ünïcødé-锁", "a\x80\xff"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct parsed p;
		parse(&p, &no_env, names[i], "--", "true", NULL);
		expect_ok(&p);
		if (p.rc == 0) {
			cr_expect_str_eq(p.opts.lock, names[i]);
		}
		options_finish(&p.opts);
	}
}

Test(options, conflict_exit_code) {
	static const struct {
		const char *text;
		int code;
	} good[] = {{"0", 0}, {"1", 1}, {"42", 42}, {"255", 255}};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct parsed p;
		parse(&p, &no_env, "-E", good[i].text, "L", "--", "true", NULL);
		expect_ok(&p);
		cr_expect_eq(p.opts.conflict_exit, good[i].code, "-E %s", good[i].text);
		options_finish(&p.opts);
	}
	struct parsed p;
	parse(&p, &no_env, "--conflict-exit-code", "7", "L", "--", "true", NULL);
	expect_ok(&p);
	cr_expect_eq(p.opts.conflict_exit, 7);
	options_finish(&p.opts);

	static const struct usage_case bad[] = {
		{{"-E", "256", "L", "--", "true", NULL}, NULL},
		{{"-E", "-1", "L", "--", "true", NULL}, NULL},
		{{"-E", "x", "L", "--", "true", NULL}, NULL},
		{{"-E", "", "L", "--", "true", NULL}, NULL},
		{{"-E", "1x", "L", "--", "true", NULL}, NULL},
		{{"-E", "+1", "L", "--", "true", NULL}, NULL},
		{{"-E", " 1", "L", "--", "true", NULL}, NULL},
		{{"-E", "99999999999999999999999", "L", "--", "true", NULL}, NULL},
		{{"L", "-E", "1000", "--", "true", NULL}, NULL},
	};
	expect_usage_table(bad, sizeof(bad) / sizeof(bad[0]));
}

Test(options, ttl) {
	struct parsed p;
	parse(&p, &no_env, "-t", "100ms", "L", "--", "true", NULL);
	expect_ok(&p);
	cr_expect_eq(p.opts.ttl_ms, 100);
	cr_expect_eq(p.opts.heartbeat_ms, 33);
	options_finish(&p.opts);

	parse(&p, &no_env, "--ttl=2m", "L", "--", "true", NULL);
	expect_ok(&p);
	cr_expect_eq(p.opts.ttl_ms, 120000);
	options_finish(&p.opts);

	static const struct usage_case bad[] = {
		{{"-t", "99ms", "L", "--", "true", NULL}, NULL},
		{{"-t", "0", "L", "--", "true", NULL}, NULL},
		{{"-t", "", "L", "--", "true", NULL}, NULL},
		{{"-t", "abc", "L", "--", "true", NULL}, NULL},
		{{"-t", "-1s", "L", "--", "true", NULL}, NULL},
		{{"-t", "1,5s", "L", "--", "true", NULL}, NULL},
		{{"-t", "101d", "L", "--", "true", NULL}, NULL},
		{{"-t", "1.5ms", "L", "--", "true", NULL}, NULL},
	};
	expect_usage_table(bad, sizeof(bad) / sizeof(bad[0]));
}

Test(options, heartbeat) {
	struct parsed p;
	parse(&p, &no_env, "-t", "10s", "--heartbeat", "9999ms", "L", "--", "true", NULL);
	expect_ok(&p);
	cr_expect_eq(p.opts.heartbeat_ms, 9999);
	options_finish(&p.opts);

	/* The rule relates two options, so their order must not matter. */
	parse(&p, &no_env, "--heartbeat", "5s", "-t", "10s", "L", "--", "true", NULL);
	expect_ok(&p);
	cr_expect_eq(p.opts.heartbeat_ms, 5000);
	cr_expect_eq(p.opts.ttl_ms, 10000);
	options_finish(&p.opts);

	static const struct usage_case bad[] = {
		{{"-t", "10s", "--heartbeat", "10s", "L", "--", "true", NULL}, NULL},
		{{"-t", "10s", "--heartbeat", "11s", "L", "--", "true", NULL}, NULL},
		{{"--heartbeat", "30s", "L", "--", "true", NULL}, NULL},
		{{"--heartbeat", "40s", "-t", "30s", "L", "--", "true", NULL}, NULL},
		{{"--heartbeat", "0", "L", "--", "true", NULL}, NULL},
		{{"--heartbeat", "0ms", "L", "--", "true", NULL}, NULL},
		{{"--heartbeat", "x", "L", "--", "true", NULL}, NULL},
	};
	expect_usage_table(bad, sizeof(bad) / sizeof(bad[0]));
}

Test(options, wait) {
	static const char *const spellings[] = {"-w", "--wait", "--timeout"};
	for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
		struct parsed p;
		parse(&p, &no_env, spellings[i], "5s", "L", "--", "true", NULL);
		expect_ok(&p);
		cr_expect_not(p.opts.wait_forever, "%s 5s", spellings[i]);
		cr_expect_eq(p.opts.wait_ms, 5000, "%s 5s", spellings[i]);
		options_finish(&p.opts);
	}
	struct parsed p;
	parse(&p, &no_env, "-w", "0", "L", "--", "true", NULL);
	expect_ok(&p);
	cr_expect_not(p.opts.wait_forever);
	cr_expect_eq(p.opts.wait_ms, 0);
	options_finish(&p.opts);

	parse(&p, &no_env, "L", "--wait=250ms", "--", "true", NULL);
	expect_ok(&p);
	cr_expect_not(p.opts.wait_forever);
	cr_expect_eq(p.opts.wait_ms, 250);
	options_finish(&p.opts);

	static const struct usage_case bad[] = {
		{{"-w", "soon", "L", "--", "true", NULL}, NULL},
		{{"-w", "-1", "L", "--", "true", NULL}, NULL},
		{{"--timeout", "1.5ms", "L", "--", "true", NULL}, NULL},
	};
	expect_usage_table(bad, sizeof(bad) / sizeof(bad[0]));
}

Test(options, kill_after_prefix_verbosity_task) {
	struct parsed p;
	parse(&p, &no_env, "-k", "1s", "--prefix", "app:", "-v", "-v", "-T", "deploy", "L", "--",
		"make", "deploy", NULL);
	expect_ok(&p);
	cr_expect_eq(p.opts.kill_after_ms, 1000);
	cr_expect_str_eq(p.opts.prefix, "app:");
	cr_expect_eq(p.opts.verbosity, 2);
	cr_expect_str_eq(p.opts.task, "deploy");
	options_finish(&p.opts);

	parse(&p, &no_env, "-q", "--kill-after=0", "L", "--", "true", NULL);
	expect_ok(&p);
	cr_expect_eq(p.opts.verbosity, -1);
	cr_expect_eq(p.opts.kill_after_ms, 0);
	options_finish(&p.opts);

	parse(&p, &no_env, "-k", "5 s", "L", "--", "true", NULL);
	expect_usage(&p, NULL);
}

Test(options, default_task_is_the_command_line) {
	struct parsed p;
	parse(&p, &no_env, "L", "--", "echo", "hello", "world", NULL);
	expect_ok(&p);
	cr_expect_str_eq(p.opts.task, "echo hello world");
	options_finish(&p.opts);

	parse(&p, &no_env, "--task", "nightly", "L", "-c", "make all", NULL);
	expect_ok(&p);
	cr_expect_str_eq(p.opts.task, "nightly");
	options_finish(&p.opts);

	/* A very long command line still gives a label: a prefix of the joined line. */
	char word[200];
	memset(word, 'w', sizeof(word) - 1);
	word[sizeof(word) - 1] = '\0';
	parse(&p, &no_env, "L", "--", word, word, word, NULL);
	expect_ok(&p);
	cr_assert_not_null(p.opts.task);
	cr_expect_gt(strlen(p.opts.task), 0);
	cr_expect_eq(
		strncmp(p.opts.task, word,
			strlen(p.opts.task) < strlen(word) ? strlen(p.opts.task) : strlen(word)),
		0);
	options_finish(&p.opts);
}

Test(options, shared_with_limit_is_a_usage_error) {
	static const struct usage_case cases[] = {
		{{"-l", "2", "-s", "L", "--", "true", NULL}, "--shared"},
		{{"-s", "-l", "1", "L", "--", "true", NULL}, "--shared"},
		{{"--shared", "--limit", "3", "L", "--", "true", NULL}, "--shared"},
		{{"--limit=3", "L", "--shared", "--", "true", NULL}, "--shared"},
		{{"-s", "L", "-l", "2", "--", "true", NULL}, "--shared"},
		{{"-s", "-x", "L", "--", "true", NULL}, "exclude each other"},
		{{"-x", "-s", "L", "--", "true", NULL}, "exclude each other"},
		{{"--shared", "--exclusive", "L", "--", "true", NULL}, "exclude each other"},
		{{"-s", "L", "-x", "--", "true", NULL}, "exclude each other"},
		{{"-x", "L", "--shared", "-c", "true", NULL}, "exclude each other"},
		{{"-sx", "L", "--", "true", NULL}, "exclude each other"},
		{{"-l", "0", "L", "--", "true", NULL}, NULL},
		{{"-l", "x", "L", "--", "true", NULL}, NULL},
	};
	expect_usage_table(cases, sizeof(cases) / sizeof(cases[0]));

	struct parsed p;
	parse(&p, &no_env, "-x", "-l", "1", "L", "--", "true", NULL);
	expect_ok(&p);
	cr_expect_eq(p.opts.mode, LOCK_EXCLUSIVE);
	cr_expect_eq(p.opts.limit, 1);
	options_finish(&p.opts);
}

Test(options, unknown_option_is_named) {
	static const struct usage_case cases[] = {
		{{"--bogus", "L", "--", "true", NULL}, "--bogus"},
		{{"-Z", "L", "--", "true", NULL}, "-Z"},
		{{"L", "--frobnicate", "--", "true", NULL}, "--frobnicate"},
		{{"L", "-Z", "--", "true", NULL}, "-Z"},
	};
	expect_usage_table(cases, sizeof(cases) / sizeof(cases[0]));
}

/* "--nonblock=yes" is a known option given a value it does not take: the message must name
 * what the user wrote, not call some other option unknown. */
Test(options, option_with_unexpected_value_is_named) {
	static const struct usage_case cases[] = {
		{{"--nonblock=yes", "L", "--", "true", NULL}, "--nonblock"},
		{{"L", "--exclusive=1", "--", "true", NULL}, "--exclusive"},
	};
	expect_usage_table(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(options, missing_option_value) {
	static const struct usage_case cases[] = {
		{{"L", "-t", NULL}, "-t"},
		{{"-t", NULL}, "-t"},
		{{"L", "--ttl", NULL}, "--ttl"},
		{{"L", "-r", NULL}, "-r"},
		{{"L", "-c", NULL}, "-c"},
		{{"L", "-E", NULL}, "-E"},
		{{"L", "--heartbeat", NULL}, "--heartbeat"},
	};
	expect_usage_table(cases, sizeof(cases) / sizeof(cases[0]));
}

static void expect_server(
	const struct rw_env *env, const char *option_url, const char *host, unsigned port) {
	struct parsed p;
	if (option_url != NULL) {
		parse(&p, env, "-r", option_url, "L", "--", "true", NULL);
	} else {
		parse(&p, env, "L", "--", "true", NULL);
	}
	expect_ok(&p);
	if (p.rc != 0) {
		return;
	}
	cr_expect_eq(p.opts.server_count, 1);
	cr_expect_str_eq(p.opts.servers[0].host, host, "want %s:%u", host, port);
	cr_expect_eq(p.opts.servers[0].port, port, "want %s:%u", host, port);
	options_finish(&p.opts);
}

Test(options, server_precedence) {
	const struct rw_env both = {
		"redis://from-rwith-env:1111", "redis://from-redis-env:2222", NULL, NULL, NULL};
	const struct rw_env only_redis = {NULL, "redis://from-redis-env:2222", NULL, NULL, NULL};
	const struct rw_env empty_rwith = {"", "redis://from-redis-env:2222", NULL, NULL, NULL};
	const struct rw_env empty_both = {"", "", NULL, NULL, NULL};
	expect_server(&both, "redis://from-option:3333", "from-option", 3333);
	expect_server(&both, NULL, "from-rwith-env", 1111);
	expect_server(&only_redis, NULL, "from-redis-env", 2222);
	expect_server(&empty_rwith, NULL, "from-redis-env", 2222);
	expect_server(&empty_both, NULL, "127.0.0.1", 6379);
	expect_server(&no_env, NULL, "127.0.0.1", 6379);
	expect_server(&no_env, "unix:///tmp/x.sock", "", 0);

	struct parsed p;
	parse(&p, &no_env, "--redis=redis://:pw@h:7/2", "L", "--", "true", NULL);
	expect_ok(&p);
	cr_expect_str_eq(p.opts.servers[0].host, "h");
	cr_expect_str_eq(p.opts.servers[0].password, "pw");
	cr_expect_eq(p.opts.servers[0].db, 2);
	options_finish(&p.opts);
}

Test(options, bad_server_url_is_a_usage_error_without_the_password) {
	const struct rw_env bad_rwith = {"redis://u:s3cr3tpw@host:0", NULL, NULL, NULL, NULL};
	const struct rw_env bad_redis = {NULL, "http://u:s3cr3tpw@host", NULL, NULL, NULL};
	struct parsed p;
	parse(&p, &bad_rwith, "L", "--", "true", NULL);
	expect_usage(&p, NULL);
	cr_expect_null(strstr(p.err.message, "s3cr3tpw"), "leaks: %s", p.err.message);

	parse(&p, &bad_redis, "L", "--", "true", NULL);
	expect_usage(&p, NULL);
	cr_expect_null(strstr(p.err.message, "s3cr3tpw"), "leaks: %s", p.err.message);

	parse(&p, &no_env, "-r", "redis://u:s3cr3tpw@host/x", "L", "--", "true", NULL);
	expect_usage(&p, NULL);
	cr_expect_null(strstr(p.err.message, "s3cr3tpw"), "leaks: %s", p.err.message);
}

Test(options, tls_ca) {
	const struct rw_env env = {NULL, NULL, "/etc/env-ca.pem", NULL, NULL};
	struct parsed p;
	parse(&p, &env, "L", "--", "true", NULL);
	expect_ok(&p);
	cr_expect_str_eq(p.opts.tls_ca, "/etc/env-ca.pem");
	options_finish(&p.opts);

	parse(&p, &env, "--tls-ca", "/etc/opt-ca.pem", "L", "--", "true", NULL);
	expect_ok(&p);
	cr_expect_str_eq(p.opts.tls_ca, "/etc/opt-ca.pem");
	options_finish(&p.opts);

	/* An empty variable is unset (systemd's Environment=RWITH_TLS_CA= clears it). */
	const struct rw_env empty = {NULL, NULL, "", NULL, NULL};
	parse(&p, &empty, "L", "--", "true", NULL);
	expect_ok(&p);
	cr_expect_null(p.opts.tls_ca, "the system's trust store");
	options_finish(&p.opts);
}

Test(options, help_and_version) {
	static const struct {
		const char *args[4];
		enum options_action action;
	} cases[] = {
		{{"-h", NULL}, ACTION_HELP},
		{{"--help", NULL}, ACTION_HELP},
		{{"-V", NULL}, ACTION_VERSION},
		{{"--version", NULL}, ACTION_VERSION},
		{{"--help", "L", NULL}, ACTION_HELP},
		{{"L", "--help", NULL}, ACTION_HELP},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct parsed p;
		parse_args(&p, &no_env, cases[i].args);
		expect_ok(&p);
		cr_expect_eq(p.opts.action, cases[i].action, "case %zu", i);
		options_finish(&p.opts);
	}
}

Test(options, finish_is_safe_on_zeroed_and_finished_structs) {
	struct rw_options opts;
	memset(&opts, 0, sizeof(opts));
	options_finish(&opts);
	options_finish(NULL);

	struct parsed p;
	parse(&p, &no_env, "L", "--", "true", NULL);
	expect_ok(&p);
	options_finish(&p.opts);
	options_finish(&p.opts);
	cr_expect_null(p.opts.task);
}

/* Quorum mode: several -r options replace the environment's list; $RWITH_REDIS_URL may
 * be a comma-separated list; $REDIS_URL is always one URL. */
Test(options, several_servers) {
	struct parsed p;
	parse(&p, &no_env, "-r", "redis://a:1", "L", "-r", "redis://b:2", "--redis=redis://c:3",
		"--", "true", NULL);
	expect_ok(&p);
	cr_expect_eq(p.opts.server_count, 3);
	cr_expect_str_eq(p.opts.servers[0].host, "a");
	cr_expect_str_eq(p.opts.servers[2].host, "c");
	cr_expect_eq(p.opts.servers[1].port, 2);
	options_finish(&p.opts);

	const struct rw_env quorum = {"redis://a:1,redis://b:2,redis://c:3", NULL, NULL, NULL, NULL};
	parse(&p, &quorum, "L", "--", "true", NULL);
	expect_ok(&p);
	cr_expect_eq(p.opts.server_count, 3);
	cr_expect_str_eq(p.opts.servers[1].host, "b");
	options_finish(&p.opts);

	parse(&p, &quorum, "-r", "redis://x:9", "L", "--", "true", NULL);
	expect_ok(&p);
	cr_expect_eq(p.opts.server_count, 1, "-r replaces the environment's list");
	cr_expect_str_eq(p.opts.servers[0].host, "x");
	options_finish(&p.opts);

	/* One server named twice would count twice towards the majority. */
	parse(&p, &no_env, "-r", "redis://a:1", "-r", "redis://b:2", "-r", "redis://A:1/0", "L",
		"--", "true", NULL);
	expect_usage(&p, "named twice");
	parse(&p, &no_env, "-r", "redis://a:1/1", "-r", "redis://a:1/2", "L", "--", "true", NULL);
	expect_ok(&p); /* two databases are two lock stores */
	options_finish(&p.opts);

	const struct rw_env redis_url = {NULL, "redis://a:1,redis://b:2", NULL, NULL, NULL};
	parse(&p, &redis_url, "L", "--", "true", NULL);
	expect_usage(&p, NULL); /* $REDIS_URL is one URL, and this one has a bad port */
}

/* $RWITH_REDIS_URL: a comma starts a new URL only where a scheme follows, so a Sentinel URL's
 * host list stays whole. */
Test(options, rwith_redis_url_splits_only_before_a_scheme) {
	static const struct {
		const char *list;
		size_t count;
		const char *masked[3]; /* url_format_masked of each server */
	} cases[] = {
		{"redis+sentinel://a:1,b:2/m", 1, {"redis+sentinel://a:1,b:2/m"}},
		{"redis://a:1,redis://b:2", 2, {"redis://a:1", "redis://b:2"}},
		{"redis+sentinel://a,b/m,redis+sentinel://c,d/n", 2,
			{"redis+sentinel://a:26379,b:26379/m",
				"redis+sentinel://c:26379,d:26379/n"}},
		{"redis://a:1,redis+sentinel://b,c/m,unix:///tmp/x.sock", 3,
			{"redis://a:1", "redis+sentinel://b:26379,c:26379/m",
				"unix:///tmp/x.sock"}},
		{"redis+sentinel://b,c/m/2,redis://a:1/3", 2,
			{"redis+sentinel://b:26379,c:26379/m/2", "redis://a:1/3"}},
		{"REDIS://a:1,Redis://b:2", 2, {"redis://a:1", "redis://b:2"}},
		/* A comma in a password is not followed by a scheme either. */
		{"redis+sentinel://u:p,w@a,b/m", 1, {"redis+sentinel://u:***@a:26379,b:26379/m"}},
		{"redis://u:p,w@a:1,redis://b:2", 2, {"redis://u:***@a:1", "redis://b:2"}},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rw_env env = {cases[i].list, NULL, NULL, NULL, NULL};
		struct parsed p;
		parse(&p, &env, "L", "--", "true", NULL);
		expect_ok(&p);
		if (p.rc != 0) {
			continue;
		}
		cr_expect_eq(p.opts.server_count, cases[i].count, "%s: %zu servers", cases[i].list,
			p.opts.server_count);
		for (size_t j = 0; j < cases[i].count && j < p.opts.server_count; j++) {
			char masked[512];
			cr_expect_str_eq(
				url_format_masked(&p.opts.servers[j], masked, sizeof(masked)),
				cases[i].masked[j], "%s: server %zu", cases[i].list, j);
		}
		options_finish(&p.opts);
	}

	/* The fields of the first case, once in full. */
	const struct rw_env env = {
		"redis+sentinel://u:pw@a:1,b:2/m?sentinel_password=spw", NULL, NULL, NULL, NULL};
	struct parsed p;
	parse(&p, &env, "L", "--", "true", NULL);
	expect_ok(&p);
	cr_assert_eq(p.opts.server_count, 1);
	const struct rw_endpoint *ep = &p.opts.servers[0];
	cr_expect(ep->sentinel);
	cr_expect_str_eq(ep->master, "m");
	cr_assert_eq(ep->sentinel_count, 2);
	cr_expect_str_eq(ep->sentinels[0].host, "a");
	cr_expect_eq(ep->sentinels[0].port, 1);
	cr_expect_str_eq(ep->sentinels[1].host, "b");
	cr_expect_eq(ep->sentinels[1].port, 2);
	cr_expect_str_eq(ep->password, "pw");
	cr_expect_str_eq(ep->sentinel_password, "spw");
	options_finish(&p.opts);
}

Test(options, rwith_redis_url_bad_lists_are_usage_errors) {
	static const struct {
		const char *list;
		const char *needle;
	} cases[] = {
		{"redis://a:1,,redis://b:2", "empty entry"},
		{"redis://a:1,", "empty entry"},
		{",redis://a:1", "empty entry"},
		{",", "empty entry"},
		{",,", "empty entry"},
		{"redis+sentinel://a,b/m,", "empty entry"},
		{"redis://a:1,redis://b:2,", "empty entry"},
		/* Without a scheme the comma stays inside the URL, which is then bad. */
		{"redis://a:1,b:2", "port"},
		{"redis://a:1, redis://b:2", NULL},
		{"redis+sentinel://a,b/m,c/n", NULL},
		/* One master through the same first sentinel, twice. */
		{"redis+sentinel://a,b/m,redis+sentinel://a,c/m", "named twice"},
		{"redis://a:1,redis://A:1", "named twice"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rw_env env = {cases[i].list, NULL, NULL, NULL, NULL};
		struct parsed p;
		parse(&p, &env, "L", "--", "true", NULL);
		expect_usage(&p, cases[i].needle);
	}
}

Test(options, rwith_redis_url_limits) {
	/* OPTIONS_MAX_SERVERS fit, one more does not. */
	char list[1024] = "";
	for (int i = 1; i <= OPTIONS_MAX_SERVERS + 1; i++) {
		char url[32];
		(void)snprintf(url, sizeof(url), "%sredis://h%d:1", i > 1 ? "," : "", i);
		(void)strcat(list, url);
		const struct rw_env env = {list, NULL, NULL, NULL, NULL};
		struct parsed p;
		parse(&p, &env, "L", "--", "true", NULL);
		if (i <= OPTIONS_MAX_SERVERS) {
			expect_ok(&p);
			cr_expect_eq(p.opts.server_count, (size_t)i);
			options_finish(&p.opts);
		} else {
			expect_usage(&p, "at most");
		}
	}

	/* A list too long for the parser's copy is refused, not cut. */
	static char huge[8192];
	memset(huge, 'a', sizeof(huge) - 1);
	memcpy(huge, "redis://", 8);
	const struct rw_env env = {huge, NULL, NULL, NULL, NULL};
	struct parsed p;
	parse(&p, &env, "L", "--", "true", NULL);
	expect_usage(&p, "too long");
}

/* A bad Sentinel URL in the list says so without either password. */
Test(options, rwith_redis_url_errors_hide_both_passwords) {
	static const char *const lists[] = {
		"redis+sentinel://u:s3cr3tpw@a,b/m?sentinel_password=s3ntn3lpw&foo=1",
		"redis://a:1,redis+sentinel://u:s3cr3tpw@a,,b/m?sentinel_password=s3ntn3lpw",
		"redis+sentinel://u:s3cr3tpw@a,b?sentinel_password=s3ntn3lpw",
	};
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		const struct rw_env env = {lists[i], NULL, NULL, NULL, NULL};
		struct parsed p;
		parse(&p, &env, "L", "--", "true", NULL);
		expect_usage(&p, NULL);
		cr_expect_null(strstr(p.err.message, "s3cr3tpw"), "leaks: %s", p.err.message);
		cr_expect_null(strstr(p.err.message, "s3ntn3lpw"), "leaks: %s", p.err.message);
	}
}

/* -r takes one URL whole; commas are never split there, nor in $REDIS_URL. */
Test(options, sentinel_url_as_an_option_or_in_redis_url) {
	struct parsed p;
	parse(&p, &no_env, "-r", "redis+sentinel://a,b/m", "L", "--", "true", NULL);
	expect_ok(&p);
	cr_assert_eq(p.opts.server_count, 1);
	cr_expect(p.opts.servers[0].sentinel);
	cr_expect_eq(p.opts.servers[0].sentinel_count, 2);
	cr_expect_str_eq(p.opts.servers[0].master, "m");
	options_finish(&p.opts);

	parse(&p, &no_env, "--redis=redis+sentinel://a,b/m", "-r", "redis+sentinel://c/n", "L",
		"--", "true", NULL);
	expect_ok(&p);
	cr_expect_eq(p.opts.server_count, 2);
	options_finish(&p.opts);

	parse(&p, &no_env, "-r", "redis://a:1,redis://b:2", "L", "--", "true", NULL);
	expect_usage(&p, NULL);

	const struct rw_env redis_url = {NULL, "redis+sentinel://a,b:26380/m", NULL, NULL, NULL};
	parse(&p, &redis_url, "L", "--", "true", NULL);
	expect_ok(&p);
	cr_assert_eq(p.opts.server_count, 1);
	cr_expect_eq(p.opts.servers[0].sentinel_count, 2);
	cr_expect_eq(p.opts.servers[0].sentinels[1].port, 26380);
	options_finish(&p.opts);
}

Test(options, sync) {
	struct parsed p;
	parse(&p, &no_env, "L", "--", "true", NULL);
	expect_ok(&p);
	cr_expect_not(p.opts.sync, "off by default");
	options_finish(&p.opts);

	parse(&p, &no_env, "--sync", "L", "--", "true", NULL);
	expect_ok(&p);
	cr_expect(p.opts.sync);
	options_finish(&p.opts);

	parse(&p, &no_env, "L", "--sync", "-c", "true", NULL);
	expect_ok(&p);
	cr_expect(p.opts.sync, "after the lock");
	options_finish(&p.opts);

	parse(&p, &no_env, "--sync=yes", "L", "--", "true", NULL);
	expect_usage(&p, "takes no value");

	parse(&p, &no_env, "L", "--", "true", "--sync", NULL);
	expect_ok(&p);
	cr_expect_not(p.opts.sync, "the command's own option");
	options_finish(&p.opts);
}

/* rediss:// is a server like any other in a TLS build; without TLS a usage error that says
 * why (the integration tests run the TLS connection itself). */
Test(options, rediss_depends_on_the_build) {
	struct parsed p;
	parse(&p, &no_env, "-r", "rediss://host:6380", "L", "--", "true", NULL);
	if (RWITH_HAVE_TLS) {
		expect_ok(&p);
		cr_expect(p.opts.servers[0].tls);
		cr_expect_eq(p.opts.servers[0].port, 6380);
		options_finish(&p.opts);
	} else {
		expect_usage(&p, "built without TLS support");
	}
}

Test(options, shared) {
	static const char *const spellings[] = {"-s", "--shared"};
	for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
		struct parsed p;
		parse(&p, &no_env, spellings[i], "L", "--", "true", NULL);
		expect_ok(&p);
		cr_expect_eq(p.opts.mode, LOCK_SHARED, "%s", spellings[i]);
		cr_expect_eq(p.opts.limit, 1, "%s: the limit stays at its default", spellings[i]);
		cr_expect_str_eq(p.opts.command[0], "true");
		options_finish(&p.opts);

		/* after the lock, as every option may stand */
		parse(&p, &no_env, "L", spellings[i], "--", "true", NULL);
		expect_ok(&p);
		cr_expect_eq(p.opts.mode, LOCK_SHARED, "L %s", spellings[i]);
		options_finish(&p.opts);
	}

	/* Given twice, still shared; with the other options of a run. */
	struct parsed p;
	parse(&p, &no_env, "-s", "-n", "-t", "10s", "L", "-s", "-c", "cat db", NULL);
	expect_ok(&p);
	cr_expect_eq(p.opts.mode, LOCK_SHARED);
	cr_expect_not(p.opts.wait_forever);
	cr_expect_eq(p.opts.ttl_ms, 10000);
	cr_expect_str_eq(p.opts.shell_command, "cat db");
	options_finish(&p.opts);

	/* Bundled short options. */
	parse(&p, &no_env, "-sn", "L", "--", "true", NULL);
	expect_ok(&p);
	cr_expect_eq(p.opts.mode, LOCK_SHARED);
	cr_expect_not(p.opts.wait_forever);
	options_finish(&p.opts);
}

Test(options, exclusive) {
	static const char *const spellings[] = {"-x", "--exclusive"};
	for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
		struct parsed p;
		parse(&p, &no_env, spellings[i], "L", "--", "true", NULL);
		expect_ok(&p);
		cr_expect_eq(p.opts.mode, LOCK_EXCLUSIVE, "%s", spellings[i]);
		cr_expect_eq(p.opts.limit, 1, "%s", spellings[i]);
		options_finish(&p.opts);
	}
	struct parsed p;
	parse(&p, &no_env, "-x", "L", "-x", "--", "true", NULL);
	expect_ok(&p);
	cr_expect_eq(p.opts.mode, LOCK_EXCLUSIVE);
	options_finish(&p.opts);
}

Test(options, limit) {
	static const struct {
		const char *args[8];
		unsigned limit;
	} good[] = {
		{{"-l", "2", "L", "--", "true", NULL}, 2},
		{{"--limit", "3", "L", "--", "true", NULL}, 3},
		{{"--limit=5", "L", "--", "true", NULL}, 5},
		{{"-l5", "L", "--", "true", NULL}, 5},
		{{"L", "-l", "7", "--", "true", NULL}, 7},
		{{"-x", "-l", "4", "L", "--", "true", NULL}, 4},
		{{"-l", "4", "--exclusive", "L", "--", "true", NULL}, 4},
		{{"-l", "010", "L", "--", "true", NULL}, 10},
		{{"-l", "1000000", "L", "--", "true", NULL}, 1000000},
		/* the last one given counts */
		{{"-l", "2", "L", "-l", "6", "--", "true", NULL}, 6},
		{{"-l", "1", "L", "--", "true", NULL}, 1},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct parsed p;
		parse_args(&p, &no_env, good[i].args);
		expect_ok(&p);
		cr_expect_eq(p.opts.limit, good[i].limit, "case %zu: limit %u", i, p.opts.limit);
		cr_expect_eq(p.opts.mode, LOCK_EXCLUSIVE, "case %zu", i);
		options_finish(&p.opts);
	}

	static const struct usage_case bad[] = {
		{{"-l", "0", "L", "--", "true", NULL}, "--limit"},
		{{"-l", "1000001", "L", "--", "true", NULL}, "--limit"},
		{{"-l", "-2", "L", "--", "true", NULL}, "--limit"},
		{{"-l", "+2", "L", "--", "true", NULL}, "--limit"},
		{{"-l", "2.0", "L", "--", "true", NULL}, "--limit"},
		{{"-l", "2x", "L", "--", "true", NULL}, "--limit"},
		{{"-l", "", "L", "--", "true", NULL}, "--limit"},
		{{"-l", "99999999999999999999", "L", "--", "true", NULL}, "--limit"},
		{{"--limit=", "L", "--", "true", NULL}, "--limit"},
		{{"L", "--limit", NULL}, "--limit"},
	};
	expect_usage_table(bad, sizeof(bad) / sizeof(bad[0]));
}

Test(options, min_hold) {
	static const struct {
		const char *args[8];
		uint64_t min_hold_ms;
	} good[] = {
		{{"--min-hold", "1s", "L", "--", "true", NULL}, 1000},
		{{"--min-hold=250ms", "L", "--", "true", NULL}, 250},
		{{"--min-hold", "5m", "L", "--", "true", NULL}, 300000},
		{{"--min-hold", "2", "L", "--", "true", NULL}, 2000},
		{{"--min-hold", "1.5s", "L", "--", "true", NULL}, 1500},
		{{"L", "--min-hold", "1h", "--", "true", NULL}, 3600000},
		{{"--min-hold", "0", "L", "--", "true", NULL}, 0},
		/* longer than the TTL: the entry is kept until it is over */
		{{"-t", "1s", "--min-hold", "1m", "L", "--", "true", NULL}, 60000},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct parsed p;
		parse_args(&p, &no_env, good[i].args);
		expect_ok(&p);
		cr_expect_eq(p.opts.min_hold_ms, good[i].min_hold_ms, "case %zu: min_hold %llu", i,
			(unsigned long long)p.opts.min_hold_ms);
		options_finish(&p.opts);
	}

	static const struct usage_case bad[] = {
		{{"--min-hold", "soon", "L", "--", "true", NULL}, "--min-hold"},
		{{"--min-hold", "-1s", "L", "--", "true", NULL}, "--min-hold"},
		{{"--min-hold", "", "L", "--", "true", NULL}, "--min-hold"},
		{{"--min-hold", "1.5ms", "L", "--", "true", NULL}, "--min-hold"},
		{{"--min-hold", "101d", "L", "--", "true", NULL}, "--min-hold"},
		{{"L", "--min-hold", NULL}, "--min-hold"},
	};
	expect_usage_table(bad, sizeof(bad) / sizeof(bad[0]));
}

/* The new modes go together with each other and the rest of a run's options. */
Test(options, shared_limit_and_min_hold_combinations) {
	struct parsed p;
	parse(&p, &no_env, "-s", "--min-hold", "2s", "L", "--", "true", NULL);
	expect_ok(&p);
	cr_expect_eq(p.opts.mode, LOCK_SHARED);
	cr_expect_eq(p.opts.limit, 1);
	cr_expect_eq(p.opts.min_hold_ms, 2000);
	options_finish(&p.opts);

	parse(&p, &no_env, "-l", "3", "--min-hold", "10s", "-n", "-T", "cron", "L", "-c",
		"make backup", NULL);
	expect_ok(&p);
	cr_expect_eq(p.opts.mode, LOCK_EXCLUSIVE);
	cr_expect_eq(p.opts.limit, 3);
	cr_expect_eq(p.opts.min_hold_ms, 10000);
	cr_expect_not(p.opts.wait_forever);
	cr_expect_str_eq(p.opts.task, "cron");
	options_finish(&p.opts);

	/* --break passes the limit on (break.lua wakes waiters by it). */
	parse(&p, &no_env, "--break", "-l", "3", "L", NULL);
	expect_ok(&p);
	cr_expect_eq(p.opts.action, ACTION_BREAK);
	cr_expect_eq(p.opts.limit, 3);
	options_finish(&p.opts);
}

Test(options, status_and_break) {
	static const struct {
		const char *args[5];
		enum options_action action;
		bool json;
	} cases[] = {
		{{"--status", "L", NULL}, ACTION_STATUS, false},
		{{"L", "--status", NULL}, ACTION_STATUS, false},
		{{"--status", "--json", "L", NULL}, ACTION_STATUS, true},
		{{"--json", "--status", "L", NULL}, ACTION_STATUS, true},
		{{"L", "--status", "--json", NULL}, ACTION_STATUS, true},
		{{"--break", "L", NULL}, ACTION_BREAK, false},
		{{"L", "--break", NULL}, ACTION_BREAK, false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct parsed p;
		parse_args(&p, &no_env, cases[i].args);
		expect_ok(&p);
		cr_expect_eq(p.opts.action, cases[i].action, "case %zu", i);
		cr_expect_eq(p.opts.json, cases[i].json, "case %zu", i);
		cr_expect_str_eq(p.opts.lock, "L", "case %zu", i);
		cr_expect_null(p.opts.command, "case %zu", i);
		cr_expect_null(p.opts.task, "case %zu: a task without a command", i);
		options_finish(&p.opts);
	}
}

Test(options, status_and_break_usage_errors) {
	static const struct usage_case cases[] = {
		{{"--status", "--break", "L", NULL}, "exclude each other"},
		{{"--break", "L", "--status", NULL}, "exclude each other"},
		{{"--status", "L", "--", "true", NULL}, "takes only a lock name"},
		{{"--status", "L", "true", NULL}, "takes only a lock name"},
		{{"--break", "L", "--", "true", NULL}, "takes only a lock name"},
		{{"--break", "--json", "L", NULL}, "--json goes with --status or --list"},
		{{"--status", NULL}, "no lock name"},
		{{"--break", NULL}, "no lock name"},
	};
	expect_usage_table(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(options, hold_release_and_list) {
	struct parsed p;
	const struct rw_env env = {NULL, NULL, NULL, NULL, "k:x"};
	parse(&p, &env, "-n", "--hold", "L", NULL);
	expect_ok(&p);
	cr_expect_eq(p.opts.action, ACTION_HOLD);
	cr_expect_str_eq(p.opts.lock, "L");
	cr_expect_eq(p.opts.hold_pid, 0);
	cr_expect_null(p.opts.task, "a hold's task is its owner's command line, found later");
	cr_expect_str_eq(p.opts.hold_env, "k:x");
	options_finish(&p.opts);

	parse(&p, &no_env, "L", "--hold", "--pid", "1234", "-T", "nightly", NULL);
	expect_ok(&p);
	cr_expect_eq(p.opts.action, ACTION_HOLD);
	cr_expect_eq(p.opts.hold_pid, 1234);
	cr_expect_str_eq(p.opts.task, "nightly");
	options_finish(&p.opts);

	parse(&p, &no_env, "--release", NULL);
	expect_ok(&p);
	cr_expect_eq(p.opts.action, ACTION_RELEASE);
	cr_expect_null(p.opts.lock, "--release finds its lock in $RWITH_HOLD");
	options_finish(&p.opts);
	parse(&p, &no_env, "--release", "L", NULL);
	expect_ok(&p);
	cr_expect_str_eq(p.opts.lock, "L");
	options_finish(&p.opts);

	parse(&p, &no_env, "--list", "--json", NULL);
	expect_ok(&p);
	cr_expect_eq(p.opts.action, ACTION_LIST);
	cr_expect(p.opts.json);
	cr_expect_null(p.opts.lock);
	options_finish(&p.opts);
}

Test(options, hold_release_and_list_usage_errors) {
	static const struct usage_case cases[] = {
		{{"--hold", NULL}, "no lock name"},
		{{"--hold", "L", "--", "true", NULL}, "runs no command"},
		{{"--hold", "-c", "true", "L", NULL}, "runs none"},
		{{"--pid", "1", "L", "--", "true", NULL}, "--pid goes with --hold"},
		{{"--hold", "--pid", "0", "L", NULL}, "--pid '0'"},
		{{"--hold", "--pid", "x", "L", NULL}, "--pid 'x'"},
		{{"--hold", "--release", "L", NULL}, "exclude each other"},
		{{"--list", "--status", "L", NULL}, "exclude each other"},
		{{"--list", "L", NULL}, "--list takes no lock name"},
		{{"--release", "L", "extra", NULL}, "takes only a lock name"},
		{{"--hold", "--json", "L", NULL}, "--json goes with"},
	};
	expect_usage_table(cases, sizeof(cases) / sizeof(cases[0]));
}

/* flock(1)'s spellings: -e for --exclusive, --nb and --nonblocking for --nonblock. */
Test(options, flock_spellings) {
	static const char *const nonblock[] = {"-n", "--nb", "--nonblocking", "--nonblock"};
	for (size_t i = 0; i < sizeof(nonblock) / sizeof(nonblock[0]); i++) {
		struct parsed p;
		parse(&p, &no_env, nonblock[i], "L", "true", NULL);
		expect_ok(&p);
		cr_expect(!p.opts.wait_forever && p.opts.wait_ms == 0, "%s", nonblock[i]);
		options_finish(&p.opts);
	}
	struct parsed p;
	parse(&p, &no_env, "-e", "L", "true", NULL);
	expect_ok(&p);
	cr_expect_eq(p.opts.mode, LOCK_EXCLUSIVE);
	options_finish(&p.opts);
	parse(&p, &no_env, "-e", "-s", "L", "true", NULL);
	expect_usage(&p, "exclude each other");
}

Test(options, json_without_status_is_a_usage_error) {
	struct parsed p;
	parse(&p, &no_env, "--json", "L", "--", "true", NULL);
	expect_usage(&p, NULL);
}

Test(lock_name, rules) {
	char longest[LOCK_NAME_MAX + 1], too_long[LOCK_NAME_MAX + 2];
	memset(longest, 'a', LOCK_NAME_MAX);
	longest[LOCK_NAME_MAX] = '\0';
	memset(too_long, 'a', LOCK_NAME_MAX + 1);
	too_long[LOCK_NAME_MAX + 1] = '\0';
	const struct {
		const char *name;
		bool ok;
	} cases[] = {
		{"L", true},
		{longest, true},
		{"ünïcødé-锁", true},
		{"a b", true},
		{"a-", true},
		{"~", true},
		{"", false},
		{too_long, false},
		{"-L", false},
		{"-", false},
		{"--", false},
		{"\x01", false},
		{"a\x01", false},
		{"a\037b", false},
		{"a\x7f", false},
		{"a\n", false},
		{"\t", false},
		{"a\r", false},
		{"\x1b[31m", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rw_error err = {0};
		int rc = options_check_lock_name(cases[i].name, &err);
		if (cases[i].ok) {
			cr_expect_eq(rc, 0, "case %zu: %s", i, err.message);
			cr_expect_eq(err.kind, RW_ERROR_NONE, "case %zu", i);
		} else {
			cr_expect_lt(rc, 0, "case %zu accepted", i);
			cr_expect_eq(err.kind, RW_ERROR_USAGE, "case %zu", i);
			cr_expect_neq(err.message[0], '\0', "case %zu", i);
		}
	}
}

Test(parse_uint, table) {
	static const struct {
		const char *text;
		unsigned long min, max;
		int rc;
		unsigned long value;
	} cases[] = {
		{"0", 0, 255, 0, 0},
		{"255", 0, 255, 0, 255},
		{"007", 0, 255, 0, 7},
		{"1", 1, 1, 0, 1},
		{"1000000", 1, 1000000, 0, 1000000},
		{"4294967295", 0, 4294967295ul, 0, 4294967295ul},
		{"256", 0, 255, -1, 0},
		{"0", 1, 255, -1, 0},
		{"1000001", 1, 1000000, -1, 0},
		{"", 0, 255, -1, 0},
		{"-1", 0, 255, -1, 0},
		{"+1", 0, 255, -1, 0},
		{" 1", 0, 255, -1, 0},
		{"1 ", 0, 255, -1, 0},
		{"1x", 0, 255, -1, 0},
		{"0x10", 0, 255, -1, 0},
		{"1.0", 0, 255, -1, 0},
		{"99999999999999999999999999", 0, 255, -1, 0},
		{"18446744073709551616", 0, (unsigned long)-1, -1, 0},
		/* A single digit above a small maximum. */
		{"7", 0, 5, -1, 0},
		{"9", 1, 8, -1, 0},
		{"2", 0, 1, -1, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned long value = 12345;
		int rc = options_parse_uint(cases[i].text, cases[i].min, cases[i].max, &value);
		cr_expect_eq(rc, cases[i].rc,
			"options_parse_uint(\"%s\", %lu, %lu) = %d (value %lu), want %d",
			cases[i].text, cases[i].min, cases[i].max, rc, value, cases[i].rc);
		if (cases[i].rc == 0) {
			cr_expect_eq(
				value, cases[i].value, "options_parse_uint(\"%s\")", cases[i].text);
		} else {
			cr_expect_eq(value, 12345,
				"options_parse_uint(\"%s\") wrote *ret on failure", cases[i].text);
		}
	}
	unsigned long value = 3;
	cr_expect_eq(options_parse_uint(NULL, 0, 10, &value), -1);
	cr_expect_eq(value, 3);
}

/* options_parse may run any number of times in one process: a parse that stopped inside an
 * option cluster ("-nX") must leave nothing behind for the next, whose argv is another. */
Test(options, parses_again_after_an_aborted_cluster) {
	char *first[] = {strdup("rwith"), strdup("-nX"), strdup("L"), strdup("--"), strdup("true"),
		NULL};
	struct rw_options opts;
	struct rw_error err = {0};
	cr_assert_eq(options_parse(5, first, &no_env, &opts, &err), -1, "-X is unknown");
	for (size_t i = 0; first[i] != NULL; i++) {
		memset(first[i], 'Z', strlen(first[i])); /* what a stale pointer would now read */
		free(first[i]);
	}
	struct parsed p;
	parse(&p, &no_env, "-v", "M", "--", "echo", NULL);
	expect_ok(&p);
	cr_expect_str_eq(p.opts.lock, "M");
	cr_expect_eq(p.opts.verbosity, 1);
	cr_expect(p.opts.wait_forever, "no -n carried over from the first parse");
	options_finish(&p.opts);
	parse(&p, &no_env, "-n", "N", "true", NULL);
	expect_ok(&p);
	cr_expect_str_eq(p.opts.lock, "N");
	cr_expect_str_eq(p.opts.command[0], "true");
	options_finish(&p.opts);
}
