/* argv + environment -> struct rw_options. Operands: `LOCK -- COMMAND...` or `LOCK -c STR`.
 * Parsing is POSIX-ordered ('+'): options stop at the first operand, so a command's own
 * options ("rwith L -- ls -l") are never taken for ours. Options may stand before and after
 * LOCK, as with flock(1). */
#include "options.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "duration.h"

#define TASK_MAX 256

enum {
	OPT_HEARTBEAT = 256,
	OPT_MIN_HOLD,
	OPT_PREFIX,
	OPT_TLS_CA,
	OPT_NOTIFY_READY,
	OPT_STATUS,
	OPT_JSON,
	OPT_BREAK,
	OPT_SYNC,
	OPT_HOLD,
	OPT_RELEASE,
	OPT_PID,
	OPT_LIST,
};

static const char short_options[] = "+:r:t:w:nE:sxel:T:c:k:vqhV";

static const struct option long_options[] = {
	{"redis", required_argument, NULL, 'r'},
	{"ttl", required_argument, NULL, 't'},
	{"heartbeat", required_argument, NULL, OPT_HEARTBEAT},
	{"wait", required_argument, NULL, 'w'},
	{"timeout", required_argument, NULL, 'w'},
	{"nonblock", no_argument, NULL, 'n'},
	{"nb", no_argument, NULL, 'n'},          /* flock(1)'s spellings */
	{"nonblocking", no_argument, NULL, 'n'},
	{"conflict-exit-code", required_argument, NULL, 'E'},
	{"shared", no_argument, NULL, 's'},
	{"exclusive", no_argument, NULL, 'x'},
	{"limit", required_argument, NULL, 'l'},
	{"task", required_argument, NULL, 'T'},
	{"command", required_argument, NULL, 'c'},
	{"kill-after", required_argument, NULL, 'k'},
	{"min-hold", required_argument, NULL, OPT_MIN_HOLD},
	{"prefix", required_argument, NULL, OPT_PREFIX},
	{"tls-ca", required_argument, NULL, OPT_TLS_CA},
	{"notify-ready", required_argument, NULL, OPT_NOTIFY_READY},
	{"status", no_argument, NULL, OPT_STATUS},
	{"json", no_argument, NULL, OPT_JSON},
	{"break", no_argument, NULL, OPT_BREAK},
	{"sync", no_argument, NULL, OPT_SYNC},
	{"hold", no_argument, NULL, OPT_HOLD},
	{"release", no_argument, NULL, OPT_RELEASE},
	{"pid", required_argument, NULL, OPT_PID},
	{"list", no_argument, NULL, OPT_LIST},
	{"verbose", no_argument, NULL, 'v'},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

/* What the scan saw, before the rules that relate options to each other are applied. */
struct scan {
	const char *server_args[OPTIONS_MAX_SERVERS];
	size_t server_arg_count;
	bool ttl_set, heartbeat_set, limit_set, shared, exclusive, nonblock;
	bool status, brk, hold, release, list, pid_set;
	const char *task;
};

int options_parse_uint(const char *text, unsigned long min, unsigned long max,
	unsigned long *ret) {
	if (text == NULL || *text < '0' || *text > '9') {
		return -1;
	}
	unsigned long value = 0;
	for (const char *p = text; *p; p++) {
		if (*p < '0' || *p > '9') {
			return -1;
		}
		unsigned long digit = (unsigned long)(*p - '0');
		if (digit > max || value > (max - digit) / 10) {
			return -1;
		}
		value = value * 10 + digit;
	}
	if (value < min) {
		return -1;
	}
	*ret = value;
	return 0;
}

int options_check_lock_name(const char *name, struct rw_error *err) {
	size_t len = strlen(name);
	if (len == 0) {
		return error_set(err, RW_ERROR_USAGE, "the lock name is empty");
	}
	if (len > LOCK_NAME_MAX) {
		return error_set(err, RW_ERROR_USAGE, "the lock name is %zu bytes long; at most %d are allowed",
			len, LOCK_NAME_MAX);
	}
	if (name[0] == '-') {
		return error_set(err, RW_ERROR_USAGE, "the lock name '%s' starts with '-'", name);
	}
	for (const char *p = name; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 32 || c == 127) {
			return error_set(err, RW_ERROR_USAGE,
				"the lock name contains a control character (byte %u)", (unsigned)c);
		}
	}
	return 0;
}

static int parse_duration_option(const char *name, const char *text, uint64_t *ret,
	struct rw_error *err) {
	int rc = duration_parse(text, ret);
	if (rc == 0) {
		return 0;
	}
	if (text[0] == '-') {
		return error_set(err, RW_ERROR_USAGE, "%s '%s': a duration cannot be negative", name, text);
	}
	return error_set(err, RW_ERROR_USAGE,
		"%s '%s' is not a duration: write e.g. 30, 30s, 250ms, 1.5s, 5m, 1h or 2d "
		"(whole milliseconds, at most 100 days)",
		name, text);
}

static int add_server_arg(struct scan *scan, const char *text, struct rw_error *err) {
	if (scan->server_arg_count == OPTIONS_MAX_SERVERS) {
		return error_set(err, RW_ERROR_USAGE, "at most %d servers may be given", OPTIONS_MAX_SERVERS);
	}
	scan->server_args[scan->server_arg_count++] = text;
	return 0;
}

static int option_error(int c, char **argv, struct rw_error *err) {
	const char *arg = argv[optind - 1];
	if (c == ':') {
		return error_set(err, RW_ERROR_USAGE, "option '%s' needs a value", arg);
	}
	if (strncmp(arg, "--", 2) == 0) {
		/* getopt reports "--nonblock=yes" like an unknown option; say what is wrong. */
		const char *equals = strchr(arg, '=');
		for (const struct option *o = long_options; equals && o->name; o++) {
			if (strlen(o->name) == (size_t)(equals - arg - 2) &&
				strncmp(o->name, arg + 2, (size_t)(equals - arg - 2)) == 0) {
				return error_set(err, RW_ERROR_USAGE, "option '--%s' takes no value", o->name);
			}
		}
		return error_set(err, RW_ERROR_USAGE, "unknown option '%s'", arg);
	}
	if (optopt != 0 && optopt < 256) {
		return error_set(err, RW_ERROR_USAGE, "unknown option '-%c'", optopt);
	}
	return error_set(err, RW_ERROR_USAGE, "unknown option '%s'", arg);
}

/* Handles one option returned by getopt_long. */
static int apply_option(int c, char **argv, struct scan *scan, struct rw_options *opts,
	struct rw_error *err) {
	unsigned long number;
	switch (c) {
	case 'r':
		return add_server_arg(scan, optarg, err);
	case 't':
		scan->ttl_set = true;
		return parse_duration_option("--ttl", optarg, &opts->ttl_ms, err);
	case OPT_HEARTBEAT:
		scan->heartbeat_set = true;
		return parse_duration_option("--heartbeat", optarg, &opts->heartbeat_ms, err);
	case 'w':
		opts->wait_forever = false;
		return parse_duration_option("--wait", optarg, &opts->wait_ms, err);
	case 'n':
		scan->nonblock = true;
		return 0;
	case 'E':
		if (options_parse_uint(optarg, 0, 255, &number) < 0) {
			return error_set(err, RW_ERROR_USAGE,
				"--conflict-exit-code '%s': give a number from 0 to 255", optarg);
		}
		opts->conflict_exit = (int)number;
		return 0;
	case 's':
		scan->shared = true;
		return 0;
	case 'x':
	case 'e':
		scan->exclusive = true;
		return 0;
	case 'l':
		if (options_parse_uint(optarg, 1, 1000000, &number) < 0) {
			return error_set(err, RW_ERROR_USAGE,
				"--limit '%s': give a whole number of holders from 1 to 1000000", optarg);
		}
		scan->limit_set = true;
		opts->limit = (unsigned)number;
		return 0;
	case 'T':
		scan->task = optarg;
		return 0;
	case 'c':
		opts->shell_command = optarg;
		return 0;
	case 'k':
		return parse_duration_option("--kill-after", optarg, &opts->kill_after_ms, err);
	case OPT_MIN_HOLD:
		return parse_duration_option("--min-hold", optarg, &opts->min_hold_ms, err);
	case OPT_PREFIX:
		opts->prefix = optarg;
		return 0;
	case OPT_TLS_CA:
		opts->tls_ca = optarg;
		return 0;
	case OPT_NOTIFY_READY:
		if (strcmp(optarg, "rwith") != 0 && strcmp(optarg, "command") != 0) {
			return error_set(err, RW_ERROR_USAGE,
				"--notify-ready '%s': give 'rwith' or 'command'", optarg);
		}
		opts->ready_by_command = strcmp(optarg, "command") == 0;
		return 0;
	case OPT_STATUS:
		scan->status = true;
		return 0;
	case OPT_JSON:
		opts->json = true;
		return 0;
	case OPT_BREAK:
		scan->brk = true;
		return 0;
	case OPT_SYNC:
		opts->sync = true;
		return 0;
	case OPT_HOLD:
		scan->hold = true;
		return 0;
	case OPT_RELEASE:
		scan->release = true;
		return 0;
	case OPT_LIST:
		scan->list = true;
		return 0;
	case OPT_PID:
		if (options_parse_uint(optarg, 1, 4194304, &number) < 0) {
			return error_set(err, RW_ERROR_USAGE, "--pid '%s': give a process ID", optarg);
		}
		scan->pid_set = true;
		opts->hold_pid = (long)number;
		return 0;
	case 'v':
		opts->verbosity = opts->verbosity < 0 ? 1 : opts->verbosity + 1;
		return 0;
	case 'q':
		opts->verbosity = -1;
		return 0;
	case 'h':
		opts->action = ACTION_HELP;
		return 0;
	case 'V':
		opts->action = ACTION_VERSION;
		return 0;
	default:
		return option_error(c, argv, err);
	}
}

/* Scans options from argv[*index] until an operand or "--" (which getopt steps over). A
 * command may follow LOCK with or without "--", as with flock(1). */
static int scan_options(int argc, char **argv, int *index, struct scan *scan,
	struct rw_options *opts, struct rw_error *err) {
	/* getopt sees argv from *index - 1 on, that element standing for the program's name,
	 * and starts afresh (optind 0, in glibc and musl): optind 1 would let glibc resume
	 * inside an option cluster ("-nX") of the argv of a previous parse, which may be
	 * freed by then. So options_parse may be called any number of times. */
	int base = *index - 1;
	char **view = argv + base;
	optind = 0;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc - base, view, short_options, long_options, NULL)) != -1) {
		if (apply_option(c, view, scan, opts, err) < 0) {
			return -1;
		}
	}
	*index = base + optind;
	return 0;
}

/* Joins the command line into the default task label, cut at TASK_MAX bytes. */
static char *default_task(const struct rw_options *opts) {
	char *task = malloc(TASK_MAX + 1);
	if (task == NULL) {
		return NULL;
	}
	size_t used = 0;
	if (opts->shell_command != NULL) {
		used = (size_t)snprintf(task, TASK_MAX + 1, "%s", opts->shell_command);
	} else {
		task[0] = '\0';
		for (char *const *arg = opts->command; *arg && used < TASK_MAX; arg++) {
			int n = snprintf(task + used, TASK_MAX + 1 - used, "%s%s", used ? " " : "", *arg);
			used += (n < 0) ? 0 : (size_t)n;
		}
	}
	if (used > TASK_MAX) {
		used = TASK_MAX;
	}
	task[used] = '\0';
	return task;
}

/* True when `text` starts with a URL scheme ("redis://", "redis+sentinel://", ...). */
static bool starts_with_scheme(const char *text) {
	const char *p = text;
	if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
		return false;
	}
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		*p == '+' || *p == '-' || *p == '.') {
		p++;
	}
	return strncmp(p, "://", 3) == 0;
}

/* A comma starts a new URL only where a scheme follows, so that the host list of a
 * Sentinel URL ("redis+sentinel://h1,h2/M") stays whole. */
static int split_server_list(const char *list, struct scan *scan, char *storage, size_t size,
	struct rw_error *err) {
	if (strlen(list) >= size) {
		return error_set(err, RW_ERROR_USAGE, "$RWITH_REDIS_URL is too long");
	}
	strcpy(storage, list);
	for (char *item = storage, *next; item != NULL; item = next) {
		next = item;
		while ((next = strchr(next, ',')) != NULL && !starts_with_scheme(next + 1) &&
			next[1] != '\0' && next[1] != ',') {
			next++;
		}
		if (next != NULL) {
			*next++ = '\0';
		}
		if (*item == '\0') {
			return error_set(err, RW_ERROR_USAGE, "$RWITH_REDIS_URL has an empty entry");
		}
		if (add_server_arg(scan, item, err) < 0) {
			return -1;
		}
	}
	return 0;
}

/* The same Redis database, as far as the URLs tell. */
static bool same_server(const struct rw_endpoint *a, const struct rw_endpoint *b) {
	if (a->kind != b->kind || a->db != b->db || a->sentinel != b->sentinel) {
		return false;
	}
	if (a->sentinel) {
		return strcmp(a->master, b->master) == 0 && a->sentinels[0].port == b->sentinels[0].port &&
			strcasecmp(a->sentinels[0].host, b->sentinels[0].host) == 0;
	}
	if (a->kind == ENDPOINT_UNIX) {
		return strcmp(a->path, b->path) == 0;
	}
	return a->port == b->port && strcasecmp(a->host, b->host) == 0;
}

static int resolve_servers(struct scan *scan, const struct rw_env *env, struct rw_options *opts,
	struct rw_error *err) {
	char env_list[4096];
	if (scan->server_arg_count == 0) {
		if (env->rwith_redis_url != NULL && env->rwith_redis_url[0] != '\0') {
			if (split_server_list(env->rwith_redis_url, scan, env_list, sizeof(env_list), err) < 0) {
				return -1;
			}
		} else if (env->redis_url != NULL && env->redis_url[0] != '\0') {
			scan->server_args[scan->server_arg_count++] = env->redis_url;
		} else {
			scan->server_args[scan->server_arg_count++] = URL_DEFAULT;
		}
	}
	opts->servers = calloc(scan->server_arg_count, sizeof(*opts->servers));
	if (opts->servers == NULL) {
		return error_set(err, RW_ERROR_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < scan->server_arg_count; i++) {
		if (url_parse(scan->server_args[i], &opts->servers[i], err) < 0) {
			return -1;
		}
		if (opts->servers[i].tls && !RWITH_HAVE_TLS) {
			return error_set(err, RW_ERROR_USAGE,
				"this rwith was built without TLS support, so it cannot use a rediss:// "
				"server (see rwith --version)");
		}
	}
	opts->server_count = scan->server_arg_count;
	for (size_t i = 0; i < opts->server_count; i++) {
		for (size_t j = i + 1; j < opts->server_count; j++) {
			if (same_server(&opts->servers[i], &opts->servers[j])) {
				char shown[300];
				return error_set(err, RW_ERROR_USAGE,
					"the server %s is named twice; in quorum mode each one counts once",
					url_format_address(&opts->servers[i], shown, sizeof(shown)));
			}
		}
	}
	return 0;
}

static int check_timing(struct scan *scan, struct rw_options *opts, struct rw_error *err) {
	char text[32];
	if (opts->ttl_ms < 100) {
		return error_set(err, RW_ERROR_USAGE, "--ttl %s is too short: the minimum is 100ms",
			duration_format(opts->ttl_ms, text, sizeof(text)));
	}
	if (!scan->heartbeat_set) {
		opts->heartbeat_ms = opts->ttl_ms / 3;
	} else if (opts->heartbeat_ms == 0 || opts->heartbeat_ms >= opts->ttl_ms) {
		return error_set(err, RW_ERROR_USAGE,
			"--heartbeat must be above 0 and shorter than --ttl (%s)",
			duration_format(opts->ttl_ms, text, sizeof(text)));
	}
	if (scan->nonblock) {
		opts->wait_forever = false;
		opts->wait_ms = 0;
	}
	return 0;
}

static int check_mode(struct scan *scan, struct rw_options *opts, struct rw_error *err) {
	if (scan->shared && scan->exclusive) {
		return error_set(err, RW_ERROR_USAGE, "--shared and --exclusive exclude each other");
	}
	if (scan->shared && scan->limit_set) {
		return error_set(err, RW_ERROR_USAGE,
			"--limit counts exclusive holders; it cannot be combined with --shared");
	}
	opts->mode = scan->shared ? LOCK_SHARED : LOCK_EXCLUSIVE;
	return 0;
}

/* How many of the options that choose an action were given (check_action refuses more
 * than one). */
static int action_count(const struct scan *scan) {
	return scan->status + scan->brk + scan->hold + scan->release + scan->list;
}

/* The option that chose an action other than running a command, for messages; NULL for
 * none. */
static const char *action_option(const struct scan *scan) {
	return scan->status ? "--status" : scan->brk ? "--break" : scan->hold ? "--hold" :
		scan->release ? "--release" : scan->list ? "--list" : NULL;
}

/* Reads LOCK and the command from the operands at argv[index..]. */
static int take_operands(int argc, char **argv, int index, struct scan *scan,
	struct rw_options *opts, struct rw_error *err) {
	if (index >= argc) {
		if (scan->release || scan->list) {
			return 0; /* --release finds its lock in $RWITH_HOLD; --list needs none */
		}
		return error_set(err, RW_ERROR_USAGE, "no lock name given");
	}
	opts->lock = argv[index++];
	if (options_check_lock_name(opts->lock, err) < 0) {
		return -1;
	}
	if (index < argc && scan_options(argc, argv, &index, scan, opts, err) < 0) {
		return -1;
	}
	if (opts->action == ACTION_HELP || opts->action == ACTION_VERSION) {
		return 0;
	}
	const char *action = action_option(scan);
	if (scan->list && action_count(scan) == 1) { /* before or after the name */
		return error_set(err, RW_ERROR_USAGE, "--list takes no lock name, not '%s'", opts->lock);
	}
	if (action != NULL) {
		if (index < argc) {
			return error_set(err, RW_ERROR_USAGE, "%s takes only a lock name, not '%s'%s",
				action, argv[index], scan->hold ? " (it runs no command: the commands "
				"that follow it in the script run under the lock)" : "");
		}
		return 0;
	}
	if (opts->shell_command != NULL) {
		if (index < argc) {
			return error_set(err, RW_ERROR_USAGE,
				"unexpected '%s' after -c: put the whole shell command in one argument",
				argv[index]);
		}
		return 0;
	}
	if (index >= argc) {
		return error_set(err, RW_ERROR_USAGE,
			"no command given: write 'rwith %s -- COMMAND' or 'rwith %s -c \"...\"'",
			opts->lock, opts->lock);
	}
	opts->command = &argv[index];
	return 0;
}

/* The actions exclude each other; --json, --pid and -c go with some only. */
static int check_action(const struct scan *scan, struct rw_options *opts, struct rw_error *err) {
	int count = action_count(scan);
	if (count > 1) {
		return error_set(err, RW_ERROR_USAGE,
			"--status, --break, --list, --hold and --release exclude each other");
	}
	if (opts->json && !scan->status && !scan->list) {
		return error_set(err, RW_ERROR_USAGE, "--json goes with --status or --list");
	}
	if (scan->pid_set && !scan->hold) {
		return error_set(err, RW_ERROR_USAGE,
			"--pid goes with --hold (the process the hold belongs to)");
	}
	if (opts->shell_command != NULL && count > 0) {
		return error_set(err, RW_ERROR_USAGE, "-c runs a command; %s runs none",
			action_option(scan));
	}
	opts->action = scan->status ? ACTION_STATUS : scan->brk ? ACTION_BREAK :
		scan->hold ? ACTION_HOLD : scan->release ? ACTION_RELEASE :
		scan->list ? ACTION_LIST : ACTION_RUN;
	return 0;
}

static void set_defaults(struct rw_options *opts) {
	memset(opts, 0, sizeof(*opts));
	opts->action = ACTION_RUN;
	opts->ttl_ms = 30 * 1000;
	opts->wait_forever = true;
	opts->conflict_exit = 1;
	opts->mode = LOCK_EXCLUSIVE;
	opts->limit = 1;
	opts->kill_after_ms = 5 * 1000;
	opts->prefix = "rwith:";
}

int options_parse(int argc, char **argv, const struct rw_env *env, struct rw_options *ret,
	struct rw_error *err) {
	struct rw_options opts;
	struct scan scan;
	memset(&scan, 0, sizeof(scan));
	set_defaults(&opts);

	int index = 1;
	if (scan_options(argc, argv, &index, &scan, &opts, err) < 0) {
		return -1;
	}
	if (opts.action == ACTION_HELP || opts.action == ACTION_VERSION) {
		*ret = opts;
		return 0;
	}
	if (take_operands(argc, argv, index, &scan, &opts, err) < 0) {
		return -1;
	}
	if (opts.action == ACTION_HELP || opts.action == ACTION_VERSION) {
		*ret = opts;
		return 0;
	}
	if (check_action(&scan, &opts, err) < 0) {
		return -1;
	}
	opts.hold_env = env->hold;
	if (opts.tls_ca == NULL && env->tls_ca != NULL && env->tls_ca[0] != '\0') {
		opts.tls_ca = env->tls_ca; /* empty counts as unset, as for the URL variables */
	}
	opts.notify_socket = env->notify_socket;
	if (check_timing(&scan, &opts, err) < 0 || check_mode(&scan, &opts, err) < 0) {
		return -1;
	}
	if (resolve_servers(&scan, env, &opts, err) < 0) {
		options_finish(&opts);
		return -1;
	}
	if (opts.action == ACTION_RUN || (opts.action == ACTION_HOLD && scan.task != NULL)) {
		/* A hold's default task is its owner's command line: see hold.c. */
		opts.task = scan.task ? strdup(scan.task) : default_task(&opts);
		if (opts.task == NULL) {
			options_finish(&opts);
			return error_set(err, RW_ERROR_INTERNAL, "out of memory");
		}
	}
	*ret = opts;
	return 0;
}

void options_finish(struct rw_options *opts) {
	if (opts == NULL) {
		return;
	}
	free(opts->task);
	opts->task = NULL;
	free(opts->servers);
	opts->servers = NULL;
	opts->server_count = 0;
}
