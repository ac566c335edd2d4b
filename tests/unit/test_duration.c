/* duration_parse and duration_format: accepted forms, rejected garbage, ranges, locale. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "duration.h"

#define SECOND_MS 1000ull
#define MINUTE_MS (60 * SECOND_MS)
#define HOUR_MS (60 * MINUTE_MS)
#define DAY_MS (24 * HOUR_MS)

/* Written to *ret_ms before each call, to see that a failure leaves it alone. */
#define UNTOUCHED 0xdeadbeefcafef00dull

extern char **environ;

struct good_case {
	const char *text;
	uint64_t ms;
};

struct bad_case {
	const char *text;
	int rc;
};

Test(duration, parses_valid_forms) {
	static const struct good_case cases[] = {
		{"30", 30 * SECOND_MS},
		{"30s", 30 * SECOND_MS},
		{"250ms", 250},
		{"1.5s", 1500},
		{"5m", 5 * MINUTE_MS},
		{"1h", HOUR_MS},
		{"2d", 2 * DAY_MS},
		{"0", 0},
		{"0s", 0},
		{"0ms", 0},
		{"1ms", 1},
		{"100ms", 100},
		{"1.0000000000s", 1000},
		{"1.500000000000s", 1500},
		{"0.001s", 1},
		{"0.5", 500},
		{"1.5m", 90 * SECOND_MS},
		{"0.25h", 15 * MINUTE_MS},
		{"1.0ms", 1},
		{"007s", 7000},
		{"100d", DURATION_MAX_MS},
		{"2400h", DURATION_MAX_MS},
		{"8640000s", DURATION_MAX_MS},
		{"8640000000ms", DURATION_MAX_MS},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ms = UNTOUCHED;
		int rc = duration_parse(cases[i].text, &ms);
		cr_expect_eq(rc, 0, "duration_parse(\"%s\") = %d, want 0", cases[i].text, rc);
		cr_expect_eq(ms, cases[i].ms, "duration_parse(\"%s\") gave %llu ms, want %llu",
			cases[i].text, (unsigned long long)ms, (unsigned long long)cases[i].ms);
	}
}

Test(duration, rejects_malformed_text) {
	static const struct bad_case cases[] = {
		{"", -EINVAL},
		{"-1", -EINVAL},
		{"-1s", -EINVAL},
		{"+1s", -EINVAL},
		{" 1s", -EINVAL},
		{"1s ", -EINVAL},
		{"1 s", -EINVAL},
		{"1s\n", -EINVAL},
		{"1.s", -EINVAL},
		{".5s", -EINVAL},
		{"1.", -EINVAL},
		{"1..5s", -EINVAL},
		{"1.5.5s", -EINVAL},
		{"1e3", -EINVAL},
		{"1,5s", -EINVAL},
		{"10S", -EINVAL},
		{"10MS", -EINVAL},
		{"1sec", -EINVAL},
		{"1ss", -EINVAL},
		{"1msx", -EINVAL},
		{"1us", -EINVAL},
		{"1w", -EINVAL},
		{"s", -EINVAL},
		{"ms", -EINVAL},
		{"0x10", -EINVAL},
		{"1h30m", -EINVAL},
		{"nan", -EINVAL},
		{"inf", -EINVAL},
		/* Finer than a millisecond. */
		{"1.5ms", -EINVAL},
		{"0.5ms", -EINVAL},
		{"0.0001s", -EINVAL},
		{"0.0005", -EINVAL},
		{"1.1234s", -EINVAL},
		{"1.0000000001s", -EINVAL},
		{"0.00000000000000000001s", -EINVAL},
		/* Garbage after a number that is also too big is still garbage. */
		{"99999999999999999999999x", -EINVAL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ms = UNTOUCHED;
		int rc = duration_parse(cases[i].text, &ms);
		cr_expect_eq(rc, cases[i].rc, "duration_parse(\"%s\") = %d, want %d", cases[i].text,
			rc, cases[i].rc);
		cr_expect_eq(ms, UNTOUCHED, "duration_parse(\"%s\") wrote *ret_ms on failure",
			cases[i].text);
	}
}

Test(duration, rejects_more_than_100_days) {
	static const struct bad_case cases[] = {
		{"101d", -ERANGE},
		{"2401h", -ERANGE},
		{"8640001s", -ERANGE},
		{"8640000001ms", -ERANGE},
		{"8640001", -ERANGE},
		{"100.5d", -ERANGE},
		{"100.001d", -ERANGE},
		{"99999999999999999999999s", -ERANGE},
		{"99999999999999999999999", -ERANGE},
		{"99999999999999999999999ms", -ERANGE},
		{"18446744073709551616ms", -ERANGE},
		{"18446744073709551615d", -ERANGE},
		{"1844674407370955161.6s", -ERANGE},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ms = UNTOUCHED;
		int rc = duration_parse(cases[i].text, &ms);
		cr_expect_eq(rc, cases[i].rc, "duration_parse(\"%s\") = %d, want %d", cases[i].text,
			rc, cases[i].rc);
		cr_expect_eq(ms, UNTOUCHED, "duration_parse(\"%s\") wrote *ret_ms on failure",
			cases[i].text);
	}
}

Test(duration, rejects_null) {
	uint64_t ms = UNTOUCHED;
	cr_assert_eq(duration_parse(NULL, &ms), -EINVAL);
	cr_assert_eq(ms, UNTOUCHED);
}

/* Runs argv quietly; true when it exits 0. */
static bool run_quietly(char *const argv[]) {
	posix_spawn_file_actions_t actions;
	if (posix_spawn_file_actions_init(&actions) != 0) {
		return false;
	}
	(void)posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
	(void)posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	int rc = posix_spawnp(&pid, argv[0], &actions, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&actions);
	if (rc != 0) {
		return false;
	}
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			return false;
		}
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static bool uses_decimal_comma(const char *name) {
	return setlocale(LC_ALL, name) != NULL && strcmp(localeconv()->decimal_point, ",") == 0;
}

/* Finds or makes a locale whose decimal mark is ','. Minimal images often have none
 * installed, so when localedef and the de_DE source are there, one is built in `dir` and
 * found through LOCPATH. Returns its name, or NULL. */
static const char *set_comma_locale(char *dir) {
	static const char *const installed[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8",
		"fr_FR.utf8", "nl_NL.UTF-8", "ru_RU.UTF-8", "es_ES.UTF-8", "it_IT.UTF-8",
		"pt_BR.UTF-8", "de_DE", "fr_FR"};
	for (size_t i = 0; i < sizeof(installed) / sizeof(installed[0]); i++) {
		if (uses_decimal_comma(installed[i])) {
			return installed[i];
		}
	}
	if (mkdtemp(dir) == NULL) {
		return NULL;
	}
	char output[PATH_MAX];
	(void)snprintf(output, sizeof(output), "%s/de_DE.UTF-8", dir);
	char *localedef[] = {"localedef", "-i", "de_DE", "-f", "UTF-8", output, NULL};
	if (!run_quietly(localedef) || setenv("LOCPATH", dir, 1) != 0) {
		return NULL;
	}
	return uses_decimal_comma("de_DE.UTF-8") ? "de_DE.UTF-8 (built by the test)" : NULL;
}

/* A comma-decimal locale must not change what "1.5s" means. Without any such locale only
 * the C-locale half of the test is meaningful, and it says so. */
Test(duration, ignores_the_locale) {
	char dir[] = "/tmp/rwith-test-locale-XXXXXX";
	const char *found = set_comma_locale(dir);
	if (found == NULL) {
		/* Not cr_log_warn: Criterion 2.4 makes any warning fail the run. */
		fprintf(stderr,
			"note: no comma-decimal locale available; checked the C locale only\n");
		(void)setlocale(LC_ALL, "C");
	} else {
		cr_assert_eq(strtod("1,5", NULL), 1.5, "the locale %s is not in effect", found);
	}
	const char *shown = found ? found : "C";
	uint64_t ms = UNTOUCHED;
	cr_expect_eq(duration_parse("1.5s", &ms), 0, "locale %s", shown);
	cr_expect_eq(ms, 1500, "locale %s", shown);
	ms = UNTOUCHED;
	cr_expect_eq(duration_parse("1,5s", &ms), -EINVAL, "locale %s", shown);
	cr_expect_eq(ms, UNTOUCHED, "locale %s", shown);
	char text[32];
	cr_expect_str_eq(duration_format(1500, text, sizeof(text)), "1.5s", "locale %s", shown);
	(void)setlocale(LC_ALL, "C");
	if (strcmp(dir + strlen(dir) - 6, "XXXXXX") != 0) {
		char *remove[] = {"rm", "-rf", dir, NULL};
		(void)run_quietly(remove); /* a stray temp dir is no reason to fail the test */
	}
}

Test(duration, formats_shortest_exact_form) {
	static const struct good_case cases[] = {
		{"0ms", 0},
		{"1ms", 1},
		{"250ms", 250},
		{"999ms", 999},
		{"1s", 1000},
		{"1.5s", 1500},
		{"1250ms", 1250},
		{"30s", 30 * SECOND_MS},
		{"90s", 90 * SECOND_MS},
		{"5m", 5 * MINUTE_MS},
		{"1h", HOUR_MS},
		{"2d", 2 * DAY_MS},
		{"100d", DURATION_MAX_MS},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[32];
		cr_expect_str_eq(duration_format(cases[i].ms, text, sizeof(text)), cases[i].text,
			"duration_format(%llu)", (unsigned long long)cases[i].ms);
	}
}

Test(duration, format_round_trips) {
	static const uint64_t values[] = {0, 1, 10, 99, 100, 250, 999, 1000, 1001, 1500, 2500,
		59999, 60 * SECOND_MS, 61500, 300 * SECOND_MS, HOUR_MS, HOUR_MS + 1, DAY_MS,
		2 * DAY_MS, DURATION_MAX_MS - 1, DURATION_MAX_MS};
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		char text[32];
		uint64_t ms = UNTOUCHED;
		duration_format(values[i], text, sizeof(text));
		cr_expect_eq(duration_parse(text, &ms), 0, "duration_parse(\"%s\")", text);
		cr_expect_eq(ms, values[i], "\"%s\" parsed back to %llu, want %llu", text,
			(unsigned long long)ms, (unsigned long long)values[i]);
	}
}

Test(duration, format_returns_buf_and_truncates_safely) {
	char text[4];
	memset(text, 'x', sizeof(text));
	cr_assert_eq(duration_format(250000 + 1, text, sizeof(text)), text);
	cr_assert_eq(text[sizeof(text) - 1], '\0');
	cr_assert_eq(strlen(text), sizeof(text) - 1);
}
