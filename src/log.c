/* Diagnostics on stderr, filtered by the level chosen with -v/-q. One write per line, so
 * lines from concurrent rwith processes sharing a terminal do not interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum log_level max_log_level = LOG_WARN;

void log_init(enum log_level max_level) {
	max_log_level = max_level;
}

void log_write(enum log_level level, const char *file, int line, int code, const char *fmt,
	...) {
	if (level > max_log_level) {
		return;
	}
	char text[1024];
	size_t used = 0;
	int n = snprintf(text, sizeof(text), "rwith: ");
	used = (size_t)n;
	if (max_log_level >= LOG_DEBUG) {
		n = snprintf(text + used, sizeof(text) - used, "%s:%d: ", file, line);
		if (n > 0 && (size_t)n < sizeof(text) - used) {
			used += (size_t)n;
		}
	}
	va_list ap;
	va_start(ap, fmt);
	n = vsnprintf(text + used, sizeof(text) - used, fmt, ap);
	va_end(ap);
	used = (n < 0) ? used : used + (size_t)n;
	if (used >= sizeof(text) - 1) {
		used = sizeof(text) - 2; /* keep room for the newline; a long line is cut */
	}
	if (code != 0) {
		n = snprintf(text + used, sizeof(text) - used, ": %s", strerror(code < 0 ? -code : code));
		used = (n < 0 || (size_t)n >= sizeof(text) - used) ? sizeof(text) - 2 : used + (size_t)n;
	}
	text[used++] = '\n';
	/* Nothing useful can be done if stderr is gone. */
	(void)!write(STDERR_FILENO, text, used);
}
