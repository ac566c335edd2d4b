/* struct rw_error: the first error is kept, error_replace overwrites, and messages are cut
 * safely. */
#include <criterion/criterion.h>

#include <string.h>

#include "error.h"

Test(error, set_keeps_the_first_error) {
	struct rw_error err = {0};
	cr_expect_eq(error_set(&err, RW_ERROR_SERVER, "connect to %s: %s", "h:1", "refused"), -1);
	cr_expect_eq(err.kind, RW_ERROR_SERVER);
	cr_expect_str_eq(err.message, "connect to h:1: refused");
	cr_expect_eq(error_set(&err, RW_ERROR_INTERNAL, "a consequence"), -1);
	cr_expect_eq(err.kind, RW_ERROR_SERVER);
	cr_expect_str_eq(err.message, "connect to h:1: refused");
}

Test(error, replace_overwrites_and_clear_resets) {
	struct rw_error err = {0};
	error_set(&err, RW_ERROR_SERVER, "first");
	err.signal = 15;
	err.hint = "hint";
	cr_expect_eq(error_replace(&err, RW_ERROR_LOST, "second %d", 2), -1);
	cr_expect_eq(err.kind, RW_ERROR_LOST);
	cr_expect_str_eq(err.message, "second 2");
	cr_expect_eq(err.signal, 0);
	cr_expect_null(err.hint);
	error_clear(&err);
	cr_expect_eq(err.kind, RW_ERROR_NONE);
	cr_expect_eq(err.message[0], '\0');
}

Test(error, null_record_is_ignored) {
	cr_expect_eq(error_set(NULL, RW_ERROR_USAGE, "x"), -1);
	cr_expect_eq(error_replace(NULL, RW_ERROR_USAGE, "x"), -1);
}

Test(error, long_messages_are_cut_and_terminated) {
	char text[2000];
	memset(text, 'm', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	struct rw_error err = {0};
	error_set(&err, RW_ERROR_USAGE, "%s", text);
	cr_expect_eq(strlen(err.message), sizeof(err.message) - 1);

	char buf[8];
	cr_expect(error_format(buf, sizeof(buf), "%s", "123456789"));
	cr_expect_str_eq(buf, "1234567");
	cr_expect_not(error_format(buf, sizeof(buf), "%s", "1234567"));
	cr_expect_str_eq(buf, "1234567");
}
