/* lock_holder_printable: control characters in a holder's host and task become '?', so
 * that text output keeps one holder per line; everything else is kept. */
#include <criterion/criterion.h>

#include <string.h>

#include "lock.h"

Test(lock_printable, control_characters_become_question_marks) {
	struct lock_holder holder, shown;
	memset(&holder, 0, sizeof(holder));
	strcpy(holder.host, "build\t7");
	strcpy(holder.task, "two\nlines\r and \x1b[31m red \x7f ünï");
	holder.pid = 42;
	holder.fence = 7;
	lock_holder_printable(&holder, &shown);
	cr_expect_str_eq(shown.host, "build?7");
	cr_expect_str_eq(shown.task, "two?lines? and ?[31m red ? ünï");
	cr_expect_eq(shown.pid, 42);
	cr_expect_eq(shown.fence, 7);
	cr_expect_str_eq(holder.task, "two\nlines\r and \x1b[31m red \x7f ünï", "input changed");
}

Test(lock_printable, plain_text_is_unchanged) {
	struct lock_holder holder, shown;
	memset(&holder, 0, sizeof(holder));
	strcpy(holder.host, "host-1.example");
	strcpy(holder.task, "make deploy \"prod\" 'x' \\ ✓");
	lock_holder_printable(&holder, &shown);
	cr_expect_str_eq(shown.host, holder.host);
	cr_expect_str_eq(shown.task, holder.task);
}
