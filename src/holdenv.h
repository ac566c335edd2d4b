/* $RWITH_HOLD: the holds a process runs under, so that a nested rwith for the same lock runs
 * its command at once instead of waiting for itself, and `rwith --release` finds the keeper
 * of a --hold. Pure: formatting, parsing and matching, no I/O.
 *
 * The value is a list of entries separated by spaces, the innermost (newest) first:
 *   KIND:TOKEN:MODE:FENCE:TTL:IDENTITY
 * KIND 'k' for a keeper's hold (--hold), 'w' for a wrapped command's; TOKEN the holder's
 * token on the server (32 hex digits); MODE 'x' or 's'; FENCE and TTL (the holder's --ttl,
 * in ms, which a nested rwith extends it by) decimal; IDENTITY 16 hex digits naming the
 * servers, prefix and lock (holdenv_identity), so that a hold is never taken for one of
 * another lock, prefix or server. */
#ifndef RWITH_HOLDENV_H
#define RWITH_HOLDENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "options.h"

#define HOLDENV_TOKEN_LEN 32
#define HOLDENV_MAX_ENTRIES 8 /* older entries beyond these are dropped when one is added */
#define HOLDENV_ENTRY_MAX 100 /* one entry's text, with its separator */
#define HOLDENV_VALUE_MAX (HOLDENV_MAX_ENTRIES * HOLDENV_ENTRY_MAX + 1)

struct holdenv_entry {
	bool keeper;  /* held by a keeper (--hold): `rwith --release` ends it */
	char token[HOLDENV_TOKEN_LEN + 1];
	char mode;    /* 'x' or 's' */
	uint64_t fence;
	uint64_t ttl_ms;
	uint64_t identity;
};

/* The entry of a holder of the lock opts names, with its token and fence. */
void holdenv_entry_init(struct holdenv_entry *ret, bool keeper, const char *token,
	const struct rw_options *opts, uint64_t fence);

/* The identity of the lock opts names: its servers (as their masked URLs, in order), its
 * prefix and its name (FNV-1a, 64 bits). */
uint64_t holdenv_identity(const struct rw_options *opts);

/* Writes `entry` followed by the entries of `outer` (an earlier value, or NULL) into buf:
 * at most HOLDENV_MAX_ENTRIES in all, malformed ones dropped. Returns 0, or -1 when buf is
 * too small (size HOLDENV_VALUE_MAX is always enough). */
int holdenv_format(const struct holdenv_entry *entry, const char *outer, char *buf, size_t size);

/* Parses up to `max` well-formed entries of `value` (NULL: none) into ret, skipping the
 * rest; returns how many. */
size_t holdenv_parse(const char *value, struct holdenv_entry *ret, size_t max);

/* The innermost entry for `identity` (a keeper's only, if `keeper_only`): 1 with *ret
 * filled, 0 when there is none. */
int holdenv_find(const char *value, uint64_t identity, bool keeper_only,
	struct holdenv_entry *ret);

/* Writes `value` single-quoted for sh, bash and zsh (a ' becomes '\''). */
void holdenv_print_quoted(FILE *out, const char *value);

#endif
