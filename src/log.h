/* The only code that writes diagnostics to stderr. Every line starts with "rwith: ". */
#ifndef RWITH_LOG_H
#define RWITH_LOG_H

#include "compiler.h"

enum log_level {
	LOG_ERROR = 0, /* always shown, even with -q */
	LOG_WARN = 1,  /* default */
	LOG_INFO = 2,  /* -v */
	LOG_DEBUG = 3, /* -vv: adds file:line */
};

/* Set once at startup; the one piece of global state besides the event loop. */
void log_init(enum log_level max_level);

void log_write(enum log_level level, const char *file, int line, int code, const char *fmt,
	...) RW_PRINTF(5, 6);

/* The live line, for a terminal: one line without a newline at the bottom, which each call
 * replaces in place (cut to the terminal's width) and messages do not disturb (they are
 * written above it). log_live_clear erases it. The caller checks that stderr is a
 * terminal. */
void log_live(const char *text);
void log_live_clear(void);

/* `code` is a negative errno or libuv error code; its text is appended. */
#define log_msg(level, ...) log_write((level), __FILE__, __LINE__, 0, __VA_ARGS__)
#define log_err(level, code, ...) log_write((level), __FILE__, __LINE__, (code), __VA_ARGS__)

#endif
