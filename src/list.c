/* --list: the lock names that scan.c finds, then each lock's status read as --status reads
 * it (the status script through one conn, which follows a cluster's MOVED to each lock's
 * master; quorum_status in quorum mode), a few at a time; then the locks that have holders
 * or waiters, in name order. A name that the scan found but whose entries all expired is
 * not shown: only the status script reads the server's clock. */
#include "list.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "clock.h"
#include "conn.h"
#include "lock.h"
#include "log.h"
#include "quorum.h"
#include "report.h"
#include "scan.h"

#define LIST_MAX_LOCKS 10000u
#define LIST_SCAN_MS 5000u   /* no SCAN step starts later than this after the start */
#define LIST_STATUS_MS 5000u /* no status request starts later than this after the scan */
/* Status requests at once: enough to hide the round trips, few enough that a slow server
 * is not flooded. In quorum mode each one has connections of its own, one per server: a
 * quorum is made for one lock, so every lock costs a connection to each server. */
#define LIST_IN_FLIGHT 16u

struct entry {
	const char *name; /* borrowed from the scan's result */
	bool known;       /* status is filled */
	struct lock_status status; /* holders owned */
};

/* One status request in flight. */
struct slot {
	struct list *list;
	struct entry *entry;    /* NULL: the slot is free */
	struct rw_options opts; /* the list's, naming entry's lock; borrowed by lock and quorum */
	struct lock lock;
	struct quorum *quorum;  /* quorum mode */
};

struct list {
	uv_loop_t *loop;
	const struct rw_options *opts;
	const struct tls_context *tls;
	struct rw_error *err; /* the caller's: the first failure */
	struct conn *conn;    /* one server: every lock's status goes through it */
	struct entry *entries;
	size_t count;
	size_t next;      /* the first entry not asked about yet */
	size_t in_flight;
	uint64_t deadline_ms;
	bool out_of_time; /* entries from `next` on were never asked about */
	struct slot slots[LIST_IN_FLIGHT];
};

static void pump(struct list *list);

static bool failed(const struct list *list) {
	return list->err->kind != RW_ERROR_NONE;
}

/* Keeps a copy of a status: the one passed to a lock_done_cb lives only during the call. */
static int keep_status(struct entry *entry, const struct lock_status *status,
	struct rw_error *err) {
	struct lock_holder *holders = NULL;
	if (status->holder_count > 0) {
		size_t size = status->holder_count * sizeof(*holders);
		holders = malloc(size);
		if (holders == NULL) {
			return error_set(err, RW_ERROR_INTERNAL, "out of memory");
		}
		memcpy(holders, status->holders, size);
	}
	entry->status = *status;
	entry->status.holders = holders;
	entry->known = true;
	return 0;
}

static void on_status(enum lock_result result, const struct lock_busy *busy,
	const struct lock_status *status, const struct rw_error *err, void *data) {
	struct slot *slot = data;
	struct list *list = slot->list;
	if (result == LOCK_RESULT_ERROR) {
		if (!failed(list)) {
			*list->err = *err;
		}
	} else {
		(void)keep_status(slot->entry, status, list->err);
	}
	/* A quorum may be destroyed from its own callback (it then only tidies up). */
	quorum_destroy(slot->quorum);
	slot->quorum = NULL;
	slot->entry = NULL;
	list->in_flight--;
	pump(list);
}

/* Starts the status request of `entry` in the free `slot`. */
static int start_status(struct list *list, struct slot *slot, struct entry *entry) {
	slot->list = list;
	slot->opts = *list->opts;
	slot->opts.lock = entry->name;
	if (lock_init(&slot->lock, &slot->opts, list->err) < 0) {
		return -1;
	}
	if (list->conn != NULL) {
		if (lock_status(&slot->lock, list->conn, ADMIN_TIMEOUT_MS, on_status, slot,
			list->err) < 0) {
			return -1;
		}
	} else {
		slot->quorum = quorum_create(list->loop, &slot->opts, list->tls, &slot->lock);
		if (slot->quorum == NULL) {
			return error_set(list->err, RW_ERROR_INTERNAL, "out of memory");
		}
		if (quorum_status(slot->quorum, ADMIN_TIMEOUT_MS, on_status, slot, list->err) < 0) {
			quorum_destroy(slot->quorum);
			slot->quorum = NULL;
			return -1;
		}
	}
	slot->entry = entry;
	list->in_flight++;
	return 0;
}

static struct slot *free_slot(struct list *list) {
	for (size_t i = 0; i < LIST_IN_FLIGHT; i++) {
		if (list->slots[i].entry == NULL) {
			return &list->slots[i];
		}
	}
	return NULL;
}

/* Starts requests while there is room, time and no failure; once none is in flight,
 * closes the connection, so that uv_run() returns. */
static void pump(struct list *list) {
	struct slot *slot;
	while (!failed(list) && list->next < list->count && (slot = free_slot(list)) != NULL) {
		if (clock_mono_ms() >= list->deadline_ms) {
			list->out_of_time = true;
			break;
		}
		if (start_status(list, slot, &list->entries[list->next]) < 0) {
			break;
		}
		list->next++;
	}
	if (list->in_flight == 0) {
		conn_destroy(list->conn);
		list->conn = NULL;
	}
}

static bool shown(const struct entry *entry) {
	return entry->known && (entry->status.holder_count > 0 || entry->status.waiters > 0);
}

static void print_json(const struct list *list, bool complete) {
	bool first = true;
	fputs("{\"locks\":[", stdout);
	for (size_t i = 0; i < list->count; i++) {
		if (shown(&list->entries[i])) {
			fputs(first ? "" : ",", stdout);
			report_status_json(list->entries[i].name, &list->entries[i].status);
			first = false;
		}
	}
	fputs(complete ? "]}\n" : "],\"truncated\":true}\n", stdout);
}

static void print_text(const struct list *list) {
	bool any = false;
	for (size_t i = 0; i < list->count; i++) {
		if (shown(&list->entries[i])) {
			report_status_text(list->entries[i].name, &list->entries[i].status);
			any = true;
		}
	}
	if (!any) {
		printf("no locks under '%s'\n", list->opts->prefix);
	}
}

/* Says on stderr why the list may lack locks; returns whether it is complete. */
static bool tell_incomplete(const struct list *list, enum scan_stop stopped) {
	const char *prefix = list->opts->prefix;
	if (stopped == SCAN_STOPPED_COUNT) {
		log_msg(LOG_WARN, "--list stopped after %u locks; there are more under '%s' (a "
			"longer --prefix shows fewer)", LIST_MAX_LOCKS, prefix);
	} else if (stopped == SCAN_STOPPED_TIME) {
		log_msg(LOG_WARN, "--list stopped scanning after %u s; there may be more locks "
			"under '%s'", LIST_SCAN_MS / 1000, prefix);
	}
	if (list->out_of_time) {
		log_msg(LOG_WARN, "--list read the status of only %zu of %zu locks within %u s; "
			"the others are not shown", list->next, list->count, LIST_STATUS_MS / 1000);
	}
	return stopped == SCAN_COMPLETE && !list->out_of_time;
}

/* Reads every entry's status, running the loop, then prints the list. */
static void read_and_print(struct list *list, enum scan_stop stopped) {
	if (list->opts->server_count == 1) {
		list->conn = conn_create(list->loop, &list->opts->servers[0], list->tls);
		if (list->conn == NULL) {
			error_set(list->err, RW_ERROR_INTERNAL, "out of memory");
			return;
		}
	}
	list->deadline_ms = clock_mono_ms() + LIST_STATUS_MS;
	pump(list);
	(void)uv_run(list->loop, UV_RUN_DEFAULT); /* returns once pump() closed everything */
	if (failed(list)) {
		return;
	}
	bool complete = tell_incomplete(list, stopped);
	if (list->opts->json) {
		print_json(list, complete);
	} else {
		print_text(list);
	}
}

void list_run(uv_loop_t *loop, const struct rw_options *opts, const struct tls_context *tls,
	struct rw_error *err) {
	const struct scan_limits limits = {
		.deadline_ms = clock_mono_ms() + LIST_SCAN_MS,
		.timeout_ms = ADMIN_TIMEOUT_MS,
		.max_names = LIST_MAX_LOCKS,
	};
	struct scan_result found = {0};
	if (scan_lock_names(loop, opts, tls, &limits, &found, err) < 0) {
		return;
	}
	/* calloc: the slots hold a struct lock each, too much for the stack. */
	struct list *list = calloc(1, sizeof(*list));
	struct entry *entries = calloc(found.count + 1, sizeof(*entries));
	if (list == NULL || entries == NULL) {
		error_set(err, RW_ERROR_INTERNAL, "out of memory");
	} else {
		list->loop = loop;
		list->opts = opts;
		list->tls = tls;
		list->err = err;
		list->entries = entries;
		list->count = found.count;
		for (size_t i = 0; i < found.count; i++) {
			entries[i].name = found.names[i];
		}
		read_and_print(list, found.stopped);
	}
	for (size_t i = 0; entries != NULL && i < found.count; i++) {
		free(entries[i].status.holders);
	}
	free(entries);
	free(list);
	scan_result_finish(&found);
}
