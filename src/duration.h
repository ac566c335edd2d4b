/* Durations as the command line writes them ("30", "250ms", "1.5s", "5m", "1h", "2d") and
 * as rwith keeps them: whole milliseconds in a uint64_t. */
#ifndef RWITH_DURATION_H
#define RWITH_DURATION_H

#include <stddef.h>
#include <stdint.h>

#define DURATION_MAX_MS (100ull * 24 * 60 * 60 * 1000) /* 100 days */

/* Parses `text`. A bare number means seconds. Returns 0 and writes *ret_ms, or -EINVAL for
 * malformed text or a fraction of a millisecond, -ERANGE above DURATION_MAX_MS; on failure
 * *ret_ms is untouched. Independent of the locale: the decimal mark is always '.'. */
int duration_parse(const char *text, uint64_t *ret_ms);

/* Writes the shortest exact form ("250ms", "1.5s", "5m", "2d") into buf; returns buf. */
char *duration_format(uint64_t ms, char *buf, size_t size);

#endif
