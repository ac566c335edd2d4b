/* The exit statuses of CONTRACT.md as named constants (sysexits where one fits). */
#ifndef RWITH_EXIT_CODES_H
#define RWITH_EXIT_CODES_H

enum {
	EXIT_CONFLICT_DEFAULT = 1, /* lock not acquired; -E overrides */
	EXIT_USAGE = 64,           /* EX_USAGE */
	EXIT_SERVER = 69,          /* EX_UNAVAILABLE */
	EXIT_INTERNAL = 70,        /* EX_SOFTWARE */
	EXIT_LOST = 75,            /* EX_TEMPFAIL */
	EXIT_CANNOT_EXEC = 126,
	EXIT_NOT_FOUND = 127,
	EXIT_SIGNAL_BASE = 128,
};

#endif
