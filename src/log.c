/* Diagnostics on stderr, filtered by the level chosen with -v/-q. One write per line, so
 * lines from concurrent rwith processes sharing a terminal do not interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define LIVE_MAX 512
#define LIVE_DEFAULT_COLUMNS 80

static enum log_level max_log_level = LOG_WARN;
/* The live line (log_live) shown now, so that a message can erase it first and show it
 * again after; live_len 0: none. Global like the level: it describes the one stderr of
 * the process, which every message goes through here. */
static char live_text[LIVE_MAX];
static size_t live_len;

/* Overwrites the live line with spaces: plain characters, no escape sequence, so that any
 * terminal (TERM=dumb too) shows it right. */
static void erase_live(void) {
	char blank[LIVE_MAX + 2];
	if (live_len == 0) {
		return;
	}
	blank[0] = '\r';
	memset(blank + 1, ' ', live_len);
	blank[live_len + 1] = '\r';
	(void)!write(STDERR_FILENO, blank, live_len + 2);
}

static void draw_live(size_t erase_len) {
	char line[LIVE_MAX * 2 + 2];
	size_t used = 0;
	line[used++] = '\r';
	memcpy(line + used, live_text, live_len);
	used += live_len;
	if (erase_len > live_len) {
		memset(line + used, ' ', erase_len - live_len); /* what is left of a longer one */
		used += erase_len - live_len;
	}
	(void)!write(STDERR_FILENO, line, used);
}

/* The terminal's width less one column, so that the line never wraps (a wrapped line
 * could not be overwritten in place). */
static size_t live_columns(void) {
	struct winsize size;
	size_t columns = LIVE_DEFAULT_COLUMNS;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 1) {
		columns = size.ws_col;
	}
	return columns - 1 < LIVE_MAX - 1 ? columns - 1 : LIVE_MAX - 1;
}

void log_live(const char *text) {
	size_t old_len = live_len;
	size_t len = strlen(text);
	size_t columns = live_columns();
	if (len > columns) {
		len = columns;
		while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80) {
			len--; /* not inside a UTF-8 character */
		}
	}
	memcpy(live_text, text, len);
	live_len = len;
	draw_live(old_len);
}

void log_live_clear(void) {
	erase_live();
	live_len = 0;
}

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
	/* A message goes above the live line: erase it, write, show it again. Nothing useful
	 * can be done if stderr is gone. */
	erase_live();
	(void)!write(STDERR_FILENO, text, used);
	if (live_len > 0) {
		draw_live(0);
	}
}
