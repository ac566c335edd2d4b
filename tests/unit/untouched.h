/* For the unit tests: fill an output with a known byte before a call, to check afterwards
 * that a call that failed left it alone (the ret_ rule of STYLE.md). */
#ifndef RWITH_TEST_UNTOUCHED_H
#define RWITH_TEST_UNTOUCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define SENTINEL_BYTE 0x5a

static inline void fill_sentinel(void *object, size_t size) {
	memset(object, SENTINEL_BYTE, size);
}

static inline bool is_sentinel(const void *object, size_t size) {
	const unsigned char *bytes = object;
	for (size_t i = 0; i < size; i++) {
		if (bytes[i] != SENTINEL_BYTE) {
			return false;
		}
	}
	return true;
}

#endif
