/* The command line and environment, turned into struct rw_options. Pure: no I/O, no
 * printing, no exiting; problems come back as RW_ERROR_USAGE. */
#ifndef RWITH_OPTIONS_H
#define RWITH_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "url.h"

#define LOCK_NAME_MAX 256
#define OPTIONS_MAX_SERVERS 16

enum options_action {
	ACTION_RUN,
	ACTION_STATUS,
	ACTION_BREAK,
	ACTION_LIST,    /* --list: every lock under the prefix */
	ACTION_HOLD,    /* --hold: a keeper holds the lock for a process (see hold.h) */
	ACTION_RELEASE, /* --release: ends a hold */
	ACTION_HELP,
	ACTION_VERSION,
};

enum lock_mode {
	LOCK_EXCLUSIVE,
	LOCK_SHARED,
};

/* What rwith reads from its environment, passed in so that parsing stays pure. */
struct rw_env {
	const char *rwith_redis_url; /* $RWITH_REDIS_URL: one URL or a comma-separated list (a
	                                comma starts a new URL only where a scheme follows) */
	const char *redis_url;       /* $REDIS_URL: always a single URL */
	const char *tls_ca;          /* $RWITH_TLS_CA */
	const char *notify_socket;   /* $NOTIFY_SOCKET: systemd's, when it runs us */
	const char *hold;            /* $RWITH_HOLD: the holds this process runs under */
};

struct rw_options {
	enum options_action action;
	const char *lock; /* borrowed from argv */

	struct rw_endpoint *servers; /* owned: server_count of them (each is some KB: only as many
	                              * as given, so a run does not zero and copy sixteen) */
	size_t server_count;

	uint64_t ttl_ms;
	uint64_t heartbeat_ms;
	uint64_t wait_ms;  /* meaningful when !wait_forever */
	bool wait_forever;
	int conflict_exit; /* -E */
	enum lock_mode mode;
	unsigned limit;    /* -l: holders at once */
	uint64_t kill_after_ms;
	uint64_t min_hold_ms;
	const char *prefix; /* borrowed from argv or static */
	const char *tls_ca; /* borrowed */
	const char *notify_socket; /* borrowed from the environment; NULL: not under systemd */
	bool ready_by_command;     /* --notify-ready=command: READY=1 is the command's to send */
	bool json;
	bool sync; /* --sync: WAIT for every online replica at the acquisition and each heartbeat */
	int verbosity; /* -1 quiet, 0 default, 1 -v, 2 -vv */

	char *const *command; /* borrowed from argv, NULL-terminated; NULL with -c */
	const char *shell_command; /* -c; borrowed */
	char *task; /* owned: -T, or the command line; NULL for --hold without -T */
	long hold_pid;        /* --pid; 0: rwith's parent */
	const char *hold_env; /* $RWITH_HOLD, borrowed; NULL when unset */
};

/* Fills *ret from argv and env. Returns 0, or -1 with err set (RW_ERROR_USAGE). May
 * reorder nothing in argv. On failure *ret holds nothing that needs freeing. */
int options_parse(int argc, char **argv, const struct rw_env *env, struct rw_options *ret,
	struct rw_error *err);

/* Frees what options_parse allocated; accepts a zeroed struct. */
void options_finish(struct rw_options *opts);

/* Checks the contract's rules for a lock name; on failure err says which rule. */
int options_check_lock_name(const char *name, struct rw_error *err);

/* Parses a whole decimal number in [min, max]; -1 on anything else. */
int options_parse_uint(const char *text, unsigned long min, unsigned long max,
	unsigned long *ret);

#endif
