/* rwith's clock for every deadline (see clock.h). */
#define _GNU_SOURCE /* CLOCK_BOOTTIME */
#include "clock.h"

#include <time.h>

uint64_t clock_mono_ms(void) {
	struct timespec now;
	/* Cannot fail for a clock every Linux since 2.6.39 has. */
	(void)clock_gettime(CLOCK_BOOTTIME, &now);
	return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}
