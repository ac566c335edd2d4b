/* duration_parse on any bytes; what it accepts must format and parse back to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "duration.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	char *text = fuzz_text(data, size);
	if (text == NULL) {
		return 0;
	}
	uint64_t ms = 0;
	if (duration_parse(text, &ms) == 0) {
		char shown[64];
		uint64_t again = 0;
		(void)duration_format(ms, shown, sizeof(shown));
		if (duration_parse(shown, &again) != 0 || again != ms) {
			abort(); /* a duration rwith prints must read back as the same */
		}
	}
	free(text);
	return 0;
}
