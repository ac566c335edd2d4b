/* Monotonic time in milliseconds, for every deadline rwith keeps. */
#include "clock.h"

#include <uv.h>

uint64_t clock_mono_ms(void) {
	return uv_hrtime() / 1000000u;
}
