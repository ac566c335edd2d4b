/* Filling struct rw_error: the record every core function uses to say what went wrong. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void error_vset(struct rw_error *err, enum rw_error_kind kind, const char *fmt,
	va_list ap) RW_PRINTF(3, 0);

static void error_vset(struct rw_error *err, enum rw_error_kind kind, const char *fmt,
	va_list ap) {
	err->kind = kind;
	err->signal = 0;
	err->hint = NULL;
	err->final = false;
	/* A message cut short is still the right message; truncation is acceptable here. */
	(void)vsnprintf(err->message, sizeof(err->message), fmt, ap);
}

int error_set(struct rw_error *err, enum rw_error_kind kind, const char *fmt, ...) {
	if (err == NULL || err->kind != RW_ERROR_NONE) {
		return -1;
	}
	va_list ap;
	va_start(ap, fmt);
	error_vset(err, kind, fmt, ap);
	va_end(ap);
	return -1;
}

int error_replace(struct rw_error *err, enum rw_error_kind kind, const char *fmt, ...) {
	if (err == NULL) {
		return -1;
	}
	va_list ap;
	va_start(ap, fmt);
	error_vset(err, kind, fmt, ap);
	va_end(ap);
	return -1;
}

void error_clear(struct rw_error *err) {
	memset(err, 0, sizeof(*err));
}

bool error_format(char *buf, size_t size, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= size;
}
