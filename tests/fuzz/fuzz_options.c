/* options_parse on a whole command line: the input, split at NUL bytes, is argv after
 * "rwith"; its first line (up to '\n'), when it has one, is $RWITH_REDIS_URL. Each input is
 * parsed twice, so a parse that stopped halfway must leave nothing behind for the next. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "options.h"

#define MAX_ARGS 64

static void parse_once(int argc, char **argv, const struct rw_env *env) {
	struct rw_options *opts = malloc(sizeof(*opts));
	struct rw_error err;
	if (opts != NULL && options_parse(argc, argv, env, opts, &err) == 0) {
		options_finish(opts);
	}
	free(opts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	char *text = fuzz_text(data, size);
	if (text == NULL) {
		return 0;
	}
	struct rw_env env = {NULL, NULL, NULL, NULL, NULL};
	char *args = text;
	char *newline = memchr(text, '\n', size);
	if (newline != NULL) {
		*newline = '\0';
		env.rwith_redis_url = text;
		args = newline + 1;
	}
	char *argv[MAX_ARGS + 2];
	int argc = 0;
	argv[argc++] = "rwith";
	char *end = text + size;
	for (char *p = args; p < end && argc < MAX_ARGS;) {
		argv[argc++] = p;
		p += strlen(p) + 1;
	}
	argv[argc] = NULL;
	/* getopt may permute argv; each parse gets its own copy of the pointers. */
	char *copy[MAX_ARGS + 2];
	memcpy(copy, argv, sizeof(copy));
	parse_once(argc, argv, &env);
	parse_once(argc, copy, &env);
	free(text);
	return 0;
}
