/* rwith's one clock for deadlines, in milliseconds: CLOCK_BOOTTIME, which is immune to
 * wall-clock steps like CLOCK_MONOTONIC but, unlike it, counts the time the machine spent
 * suspended, as the server's TTL does. So after a resume past a deadline rwith (and the
 * guard, which keeps the same clock) acts at once. libuv's timers still count monotonic time
 * and fire late after a suspend; every decision compares clock_mono_ms() itself, and the
 * guard's own timer is on CLOCK_BOOTTIME. */
#ifndef RWITH_CLOCK_H
#define RWITH_CLOCK_H

#include <stdint.h>

uint64_t clock_mono_ms(void);

#endif
