/* Writing JSON strings: escaped as RFC 8259 requires, with bytes that are not valid UTF-8
 * replaced by U+FFFD, so that any task name or host gives valid JSON. */
#ifndef RWITH_JSON_H
#define RWITH_JSON_H

#include <stddef.h>
#include <stdio.h>

/* Writes `text` as a quoted JSON string to out. */
void json_write_string(FILE *out, const char *text);

/* The same into buf (always terminated; cut short if it does not fit). Returns the length
 * it needed, not counting the terminator. For the unit tests. */
size_t json_format_string(char *buf, size_t size, const char *text);

#endif
