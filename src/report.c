/* A lock's status on stdout (see report.h). Host and task names come from the server:
 * the text form replaces their control characters, the JSON form escapes them. */
#include "report.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "json.h"

static void format_time(uint64_t epoch_ms, char *buf, size_t size) {
	time_t seconds = (time_t)(epoch_ms / 1000);
	struct tm tm;
	if (gmtime_r(&seconds, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		(void)snprintf(buf, size, "%" PRIu64 " ms", epoch_ms);
	}
}

static const char *mode_name(const struct lock_holder *holder) {
	return holder->shared ? "shared" : "exclusive";
}

static void print_holder_text(const struct lock_holder *holder) {
	struct lock_holder shown;
	const struct lock_holder *h = &shown;
	lock_holder_printable(holder, &shown);
	char since[32];
	uint64_t held_ms = h->server_now_ms > h->since_ms ? h->server_now_ms - h->since_ms : 0;
	int64_t ttl_ms = h->ttl_left_ms > 0 ? h->ttl_left_ms : 0;
	format_time(h->since_ms, since, sizeof(since));
	printf("  %s:%ld  task '%s'  since %s (%" PRIu64 "s ago)  ttl %" PRId64 ".%" PRId64
	       "s  fence %" PRIu64 "  %s\n",
		h->host, h->pid, h->task, since, held_ms / 1000, ttl_ms / 1000, ttl_ms % 1000 / 100,
		h->fence, mode_name(h));
}

static void print_holder_json(const struct lock_holder *h) {
	fputs("{\"host\":", stdout);
	json_write_string(stdout, h->host);
	printf(",\"pid\":%ld,\"task\":", h->pid);
	json_write_string(stdout, h->task);
	printf(",\"since_ms\":%" PRIu64 ",\"ttl_ms\":%" PRId64 ",\"fence\":%" PRIu64
	       ",\"mode\":\"%s\"}",
		h->since_ms, h->ttl_left_ms > 0 ? h->ttl_left_ms : 0, h->fence, mode_name(h));
}

void report_status_text(const char *name, const struct lock_status *status) {
	if (status->holder_count == 0) {
		printf("%s: free, %ld waiting\n", name, status->waiters);
		return;
	}
	/* All holders share one mode (lua/common.lua). */
	printf("%s: held by %zu holder%s (%s), %ld waiting\n", name, status->holder_count,
		status->holder_count == 1 ? "" : "s", mode_name(&status->holders[0]),
		status->waiters);
	for (size_t i = 0; i < status->holder_count; i++) {
		print_holder_text(&status->holders[i]);
	}
}

void report_status_json(const char *name, const struct lock_status *status) {
	fputs("{\"lock\":", stdout);
	json_write_string(stdout, name);
	printf(",\"held\":%s,\"holders\":[", status->holder_count > 0 ? "true" : "false");
	for (size_t i = 0; i < status->holder_count; i++) {
		if (i > 0) {
			fputc(',', stdout);
		}
		print_holder_json(&status->holders[i]);
	}
	printf("],\"waiters\":%ld}", status->waiters);
}
