/* rwith's one clock for deadlines: monotonic milliseconds, immune to wall-clock steps. */
#ifndef RWITH_CLOCK_H
#define RWITH_CLOCK_H

#include <stdint.h>

uint64_t clock_mono_ms(void);

#endif
