/* What every fuzz target shares. */
#ifndef RWITH_FUZZ_H
#define RWITH_FUZZ_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a NUL-terminated string (malloc'd; NULL when out of memory). A NUL inside
 * the input ends the string early, as it would in argv or the environment. */
static inline char *fuzz_text(const uint8_t *data, size_t size) {
	char *text = malloc(size + 1);
	if (text != NULL) {
		memcpy(text, data, size);
		text[size] = '\0';
	}
	return text;
}

#endif
