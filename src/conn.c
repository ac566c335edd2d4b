/* Routing a lock's commands to the node that holds its data, and following it there.
 *
 * One server: every command goes to the URL's node. The first command also carries a
 * pipelined CLUSTER SLOTS that nobody waits for: a standalone server refuses it and nothing
 * more is asked; a cluster node's answer tells every node to ask when the lock's node fails.
 * So a standalone server costs no round trip more than before.
 *
 * Redis Cluster: MOVED moves every later command to the named node; ASK sends ASKING and
 * the command there, once; TRYAGAIN, CLUSTERDOWN and LOADING are waited out with short
 * pauses; a node that fails or answers READONLY/UNBLOCKED (a demoted master) hands the
 * command to the next known node, whose redirect leads to the slot's master of the moment.
 *
 * Sentinel: every command asks a sentinel first which node is the master (sentinels in
 * turn, until one answers); a node not asked before is confirmed with ROLE, pipelined in
 * front of the command. Asking at every command, rather than listening for +switch-master,
 * means a heartbeat never extends a lock on a master the sentinels no longer name, with no
 * subscription to keep alive and no event that can be missed while reconnecting; it costs
 * one round trip to a sentinel per heartbeat.
 *
 * All of it happens within each command's own deadline: a try starts only while time is
 * left, and every node command carries what is left as its own deadline. Answers to an
 * abandoned try are recognised by a generation number and ignored. */
#include "conn.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "log.h"
#include "node.h"
#include "topology.h"

#define MAX_NODES 128
#define MAX_TRIES 24         /* redirects, pauses and re-routes within one command */
#define RETRY_PAUSE_MS 100u  /* after TRYAGAIN, CLUSTERDOWN, LOADING */
#define REROUTE_PAUSE_MS 50u /* after a node failed or stopped being the master */
#define MIN_TRY_MS 20u       /* with less time left, report rather than try again */
#define FAILED_RECENTLY_MS 2000u
#define SENTINEL_SHARE_MIN_MS 250u
#define WAIT_MARGIN_MS 150u

enum topology_kind {
	TOPOLOGY_UNKNOWN, /* not a cluster as far as we know yet */
	TOPOLOGY_SINGLE,  /* a standalone server (or a unix socket) */
	TOPOLOGY_CLUSTER,
	TOPOLOGY_SENTINEL,
};

struct known_node {
	struct topology_address address;
	struct node *node;  /* NULL until used; replaced once broken */
	uint64_t failed_ms; /* when a command to it last failed; 0: never */
	bool confirmed;     /* Sentinel: answered ROLE "master" on its present connection */
};

enum hop_kind {
	HOP_ASKING,
	HOP_COMMAND,
	HOP_ROLE,
	HOP_INFO,
	HOP_WAIT,
	HOP_SENTINEL,
};

enum stage {
	STAGE_TRYING,
	STAGE_PAUSED,
};

struct request {
	struct conn *conn;
	conn_reply_cb *cb; /* NULL once reported */
	void *data;
	struct conn_replicas *replicas; /* NULL: no WAIT */
	bool retry_safe; /* CONN_RETRY_SAFE: may be sent again after it may have run */
	bool blocking;   /* CONN_BLOCKING: the connection is busy until it answers */
	uint64_t deadline_ms;
	uint64_t timeout_ms;
	char what[32];
	int argc;
	char **argv;
	size_t *argv_len;
	enum stage stage;
	unsigned generation;  /* of the try in flight: older answers are ignored */
	unsigned outstanding; /* node commands still to call back */
	unsigned tries;
	size_t target;       /* the node of the try in flight */
	bool asking;         /* the next try: ASKING first, at ask_target */
	size_t ask_target;
	size_t sentinels_asked; /* in this round */
	bool sentinel_said_unknown;
	uint64_t resume_ms;  /* STAGE_PAUSED: when to try again */
	bool starting;       /* inside conn_command: a failure is returned, not reported */
	struct rw_error start_failure;
	redisReply *kept;    /* the command's answer, kept while WAIT runs */
	int online;          /* replicas online when WAIT was sent */
	struct rw_error last_failure;
	struct request *next;
};

/* One node command of a request. */
struct hop {
	struct request *req;
	struct node *node; /* alive while its commands call back */
	unsigned generation;
	enum hop_kind kind;
	size_t index; /* node (or sentinel) index */
};

struct conn {
	uv_loop_t *loop;
	struct rw_endpoint url;
	const struct tls_context *tls; /* borrowed */
	enum topology_kind topology;
	struct known_node *nodes; /* MAX_NODES */
	size_t node_count;
	size_t current; /* where commands go */
	bool discovery_sent;
	size_t discovery_index; /* the node asked for CLUSTER SLOTS */
	struct node *sentinel; /* connection to sentinel_index */
	size_t sentinel_index;
	struct request *requests;
	uv_timer_t timer; /* resumes paused requests */
	bool destroying;
	char address[300];
};

static void start_try(struct request *req);
static void on_timer(uv_timer_t *timer);

/* ---- copies of answers -------------------------------------------------------------- */

static void free_copy(redisReply *reply) {
	if (reply == NULL) {
		return;
	}
	if (reply->element != NULL) {
		for (size_t i = 0; i < reply->elements; i++) {
			free_copy(reply->element[i]);
		}
		free(reply->element);
	}
	free(reply->str);
	free(reply);
}

/* A deep copy that we own (hiredis's answer lives only during its callback). */
static redisReply *copy_reply(const redisReply *reply) {
	redisReply *copy = malloc(sizeof(*copy));
	if (copy == NULL) {
		return NULL;
	}
	memcpy(copy, reply, sizeof(*copy));
	copy->str = NULL;
	copy->element = NULL;
	bool ok = true;
	if (reply->str != NULL) {
		copy->str = malloc(reply->len + 1);
		ok = copy->str != NULL;
		if (ok) {
			memcpy(copy->str, reply->str, reply->len);
			copy->str[reply->len] = '\0';
		}
	}
	if (ok && reply->element != NULL && reply->elements > 0) {
		copy->element = calloc(reply->elements, sizeof(*copy->element));
		ok = copy->element != NULL;
		for (size_t i = 0; ok && i < reply->elements; i++) {
			copy->element[i] = copy_reply(reply->element[i]);
			ok = copy->element[i] != NULL;
		}
	}
	if (!ok) {
		free_copy(copy);
		return NULL;
	}
	return copy;
}

/* ---- nodes -------------------------------------------------------------------------- */

/* Closes the connection in *slot, which is cleared first: destroying it reports its
 * commands at once, and their callbacks may look at the slot. */
static void drop_node(struct node **slot) {
	struct node *node = *slot;
	*slot = NULL;
	node_destroy(node);
}

static void update_address(struct conn *conn) {
	if (conn->node_count == 0 || (conn->current == 0 && !conn->url.sentinel)) {
		url_format_address(&conn->url, conn->address, sizeof(conn->address));
	} else {
		const struct topology_address *a = &conn->nodes[conn->current].address;
		url_format_host_port(a->host, a->port, conn->address, sizeof(conn->address));
	}
}

static void set_current(struct conn *conn, size_t index) {
	if (conn->current != index) {
		conn->current = index;
		update_address(conn);
		log_msg(LOG_DEBUG, "commands now go to %s", conn->address);
	}
}

/* The index of address among the known nodes, added when new (in the place of one never
 * used when the table is full). */
static size_t find_or_add(struct conn *conn, const struct topology_address *address) {
	for (size_t i = 0; i < conn->node_count; i++) {
		if (conn->nodes[i].address.port == address->port &&
			strcasecmp(conn->nodes[i].address.host, address->host) == 0) {
			return i;
		}
	}
	size_t index = conn->node_count;
	if (index == MAX_NODES) {
		/* Full (a cluster of more nodes than that, replicas counted): the new address
		 * takes the place of one that has never been used. */
		for (index = MAX_NODES - 1; index > 0; index--) {
			if (index != conn->current && conn->nodes[index].node == NULL) {
				break;
			}
		}
		if (index == 0) {
			index = conn->current == MAX_NODES - 1 ? MAX_NODES - 2 : MAX_NODES - 1;
		}
		drop_node(&conn->nodes[index].node);
	} else {
		conn->node_count++;
	}
	struct known_node *known = &conn->nodes[index];
	memset(known, 0, sizeof(*known));
	known->address = *address;
	return index;
}

/* A node of a CLUSTER SLOTS answer; an empty host is the answering node's. */
static void add_discovered(const struct topology_address *address, void *data) {
	struct conn *conn = data;
	struct topology_address full = *address;
	if (full.host[0] == '\0') {
		memcpy(full.host, conn->nodes[conn->discovery_index].address.host, sizeof(full.host));
	}
	(void)find_or_add(conn, &full);
}

/* A usable connection to node `index`: its own, or a new one once that broke. */
static struct node *node_at(struct conn *conn, size_t index, uint64_t timeout_ms) {
	struct known_node *known = &conn->nodes[index];
	if (known->node != NULL && !node_is_broken(known->node)) {
		return known->node;
	}
	drop_node(&known->node);
	known->confirmed = false;
	struct rw_endpoint ep;
	if (index == 0 && !conn->url.sentinel) {
		ep = conn->url;
	} else {
		url_node_endpoint(&conn->url, known->address.host, known->address.port, &ep);
	}
	known->node = node_create(conn->loop, &ep, conn->tls, timeout_ms);
	return known->node;
}

/* The node to try after `failed`: the next one that has not failed lately. */
static size_t next_node(const struct conn *conn, size_t failed) {
	uint64_t now = clock_mono_ms();
	for (size_t step = 1; step <= conn->node_count; step++) {
		size_t i = (failed + step) % conn->node_count;
		uint64_t failed_ms = conn->nodes[i].failed_ms;
		if (failed_ms == 0 || now - failed_ms >= FAILED_RECENTLY_MS) {
			return i;
		}
	}
	return (failed + 1) % conn->node_count;
}

/* ---- reporting ---------------------------------------------------------------------- */

static void unlink_request(struct conn *conn, struct request *req) {
	for (struct request **p = &conn->requests; *p; p = &(*p)->next) {
		if (*p == req) {
			*p = req->next;
			req->next = NULL;
			return;
		}
	}
}

static void release_request(struct request *req) {
	if (req->cb != NULL || req->outstanding > 0) {
		return;
	}
	for (int i = 0; i < req->argc; i++) {
		free(req->argv[i]);
	}
	free(req->argv);
	free(req->argv_len);
	free_copy(req->kept);
	free(req);
}

/* Reports req once, with an answer or an error. */
static void finish_request(struct request *req, const redisReply *reply, const struct rw_error *err) {
	conn_reply_cb *cb = req->cb;
	if (cb == NULL) {
		return;
	}
	req->cb = NULL;
	req->generation++;
	unlink_request(req->conn, req);
	if (req->starting) {
		/* Only a failure can come this early; conn_command returns it. */
		req->start_failure = err != NULL ? *err : req->last_failure;
		return;
	}
	/* cb may destroy the conn, which cancels req's other node commands: their callbacks
	 * must not free req under us. */
	req->outstanding++;
	cb(reply, err, req->data);
	req->outstanding--;
	release_request(req);
}

static void fail_request(struct request *req, const struct rw_error *err) {
	finish_request(req, NULL, err);
}

/* ---- pauses ------------------------------------------------------------------------- */

static void arm_timer(struct conn *conn) {
	uint64_t earliest = UINT64_MAX;
	for (struct request *req = conn->requests; req; req = req->next) {
		if (req->stage == STAGE_PAUSED && req->resume_ms < earliest) {
			earliest = req->resume_ms;
		}
	}
	if (earliest == UINT64_MAX || conn->destroying) {
		(void)uv_timer_stop(&conn->timer);
		return;
	}
	uint64_t now = clock_mono_ms();
	(void)uv_timer_start(&conn->timer, on_timer, earliest > now ? earliest - now : 0, 0);
}

static void on_timer(uv_timer_t *timer) {
	struct conn *conn = timer->data;
	bool resumed = true;
	while (resumed && !conn->destroying) {
		resumed = false;
		uint64_t now = clock_mono_ms();
		for (struct request *req = conn->requests; req; req = req->next) {
			if (req->stage == STAGE_PAUSED && req->resume_ms <= now) {
				req->stage = STAGE_TRYING;
				start_try(req); /* may finish req: look again from the start */
				resumed = true;
				break;
			}
		}
	}
	if (!conn->destroying) {
		arm_timer(conn);
	}
}

/* Tries again after pause_ms, or reports `why` when that would leave too little time. */
static void pause_then_retry(struct request *req, uint64_t pause_ms, const struct rw_error *why) {
	uint64_t now = clock_mono_ms();
	req->last_failure = *why;
	req->generation++;
	if (now + pause_ms + MIN_TRY_MS >= req->deadline_ms) {
		fail_request(req, why);
		return;
	}
	req->stage = STAGE_PAUSED;
	req->resume_ms = now + pause_ms;
	arm_timer(req->conn);
}

/* ---- sending ------------------------------------------------------------------------ */

static void on_hop_reply(const redisReply *reply, const struct rw_error *err, void *data);

static uint64_t time_left(const struct request *req) {
	uint64_t now = clock_mono_ms();
	return req->deadline_ms > now ? req->deadline_ms - now : 0;
}

/* Sends one node command for req; -1 with err set when it could not be sent. */
static int send_hop(struct request *req, struct node *node, enum hop_kind kind, size_t index,
	uint64_t timeout_ms, const char *what, int argc, const char **argv, const size_t *len,
	struct rw_error *err) {
	struct hop *hop = calloc(1, sizeof(*hop));
	if (hop == NULL) {
		return error_set(err, RW_ERROR_INTERNAL, "out of memory");
	}
	hop->req = req;
	hop->node = node;
	hop->generation = req->generation;
	hop->kind = kind;
	hop->index = index;
	if (node_command(node, what, timeout_ms, on_hop_reply, hop, argc, argv, len, err) < 0) {
		free(hop);
		return -1;
	}
	req->outstanding++;
	return 0;
}

static void on_slots(const redisReply *reply, const struct rw_error *err, void *data) {
	struct conn *conn = data;
	if (conn->destroying) {
		return;
	}
	if (err != NULL) {
		conn->discovery_sent = false; /* ask again with a later command */
		return;
	}
	if (topology_decode_slots(reply, add_discovered, conn)) {
		conn->topology = TOPOLOGY_CLUSTER;
		log_msg(LOG_DEBUG, "a Redis Cluster of %zu known nodes", conn->node_count);
	} else if (reply->type == REDIS_REPLY_ERROR && topology_classify_error(reply->str,
		&(struct topology_address){0}) == TOPOLOGY_ERROR_RETRY) {
		conn->discovery_sent = false; /* LOADING, CLUSTERDOWN: ask again later */
	} else if (conn->topology == TOPOLOGY_UNKNOWN) {
		/* "cluster support disabled", or not allowed (NOPERM): a redirect would still
		 * tell us otherwise. */
		conn->topology = TOPOLOGY_SINGLE;
	}
}

/* Once per conn, behind the first command that does not block: learn the cluster's nodes
 * (see the top of this file). */
static void maybe_discover(struct conn *conn, struct node *node, const struct request *req) {
	if (conn->discovery_sent || conn->url.kind == ENDPOINT_UNIX ||
		(conn->topology != TOPOLOGY_UNKNOWN && conn->topology != TOPOLOGY_CLUSTER) ||
		req->blocking) {
		return;
	}
	const char *argv[2] = {"CLUSTER", "SLOTS"};
	size_t len[2] = {7, 5};
	struct rw_error ignored = {0};
	conn->discovery_index = req->target;
	conn->discovery_sent = node_command(node, "CLUSTER SLOTS", req->timeout_ms, on_slots, conn,
		2, argv, len, &ignored) == 0;
}

static void transport_failed(struct request *req, size_t index, bool reached,
	const struct rw_error *err);

/* Sends the command (after ASKING, after ROLE when `confirm`, before INFO with --sync) to
 * node `index`. */
static void send_command(struct request *req, size_t index, bool confirm) {
	struct conn *conn = req->conn;
	struct rw_error err = {0};
	uint64_t left = time_left(req);
	struct node *node = node_at(conn, index, left);
	if (node == NULL) {
		error_set(&err, RW_ERROR_INTERNAL, "out of memory");
		fail_request(req, &err);
		return;
	}
	req->target = index;
	static const char *const asking[1] = {"ASKING"};
	static const size_t asking_len[1] = {6};
	static const char *const role[1] = {"ROLE"};
	static const size_t role_len[1] = {4};
	static const char *const info[2] = {"INFO", "replication"};
	static const size_t info_len[2] = {4, 11};
	bool asked = req->asking;
	req->asking = false;
	if ((asked && send_hop(req, node, HOP_ASKING, index, left, "ASKING", 1,
		(const char **)asking, asking_len, &err) < 0) ||
		(confirm && send_hop(req, node, HOP_ROLE, index, left, "ROLE", 1, (const char **)role,
			role_len, &err) < 0) ||
		send_hop(req, node, HOP_COMMAND, index, left, req->what, req->argc,
			(const char **)req->argv, req->argv_len, &err) < 0 ||
		(req->replicas != NULL && send_hop(req, node, HOP_INFO, index, left,
			"INFO replication", 2, (const char **)info, info_len, &err) < 0)) {
		req->generation++; /* whatever did go out is abandoned */
		transport_failed(req, index, node_reached(node), &err);
		return;
	}
	maybe_discover(conn, node, req);
}

static void format_sentinels(const struct conn *conn, char *buf, size_t size) {
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < conn->url.sentinel_count && used < size; i++) {
		char one[300];
		const struct rw_sentinel_address *s = &conn->url.sentinels[i];
		url_format_host_port(s->host, s->port, one, sizeof(one));
		int n = snprintf(buf + used, size - used, "%s%s", i > 0 ? ", " : "", one);
		used += n > 0 ? (size_t)n : 0;
	}
}

/* Closes the connection to the sentinel, for the next one. */
static void next_sentinel(struct conn *conn) {
	conn->sentinel_index = (conn->sentinel_index + 1) % conn->url.sentinel_count;
	drop_node(&conn->sentinel);
}

/* Asks the next sentinel for the master's address. */
static void ask_sentinel(struct request *req) {
	struct conn *conn = req->conn;
	struct rw_error err = {0};
	size_t count = conn->url.sentinel_count;
	if (req->sentinels_asked >= count) {
		char asked[600];
		format_sentinels(conn, asked, sizeof(asked));
		if (req->sentinel_said_unknown) {
			error_set(&err, RW_ERROR_SERVER, "no sentinel knows the master '%s' (asked %s)",
				conn->url.master, asked);
			err.hint = "check the master name in the URL against the sentinels' "
				   "'sentinel monitor' lines";
		} else {
			error_set(&err, RW_ERROR_SERVER,
				"no sentinel told where the master '%s' is (asked %s; the last said: %s)",
				conn->url.master, asked,
				req->last_failure.message[0] ? req->last_failure.message : "nothing");
			err.hint = "check the sentinel addresses in the URL and that the sentinels run";
		}
		fail_request(req, &err);
		return;
	}
	uint64_t left = time_left(req);
	if (left < MIN_TRY_MS) {
		if (req->last_failure.message[0] == '\0') {
			error_set(&req->last_failure, RW_ERROR_SERVER, "no sentinel answered about the "
				"master '%s' in time", conn->url.master);
		}
		fail_request(req, &req->last_failure);
		return;
	}
	/* Each sentinel left gets its share, but a hung one no less than a floor, and never
	 * all of the time while another could still be asked. */
	size_t untried = count - req->sentinels_asked;
	uint64_t share = left / untried;
	uint64_t floor = untried > 1 ? left / 2 : left;
	floor = floor < SENTINEL_SHARE_MIN_MS ? floor : SENTINEL_SHARE_MIN_MS;
	uint64_t timeout = share > floor ? share : floor;
	if (conn->sentinel == NULL || node_is_broken(conn->sentinel)) {
		drop_node(&conn->sentinel);
		struct rw_endpoint ep;
		url_sentinel_endpoint(&conn->url, conn->sentinel_index, &ep);
		conn->sentinel = node_create(conn->loop, &ep, conn->tls, timeout);
		if (conn->sentinel == NULL) {
			error_set(&err, RW_ERROR_INTERNAL, "out of memory");
			fail_request(req, &err);
			return;
		}
	}
	const char *argv[3] = {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", conn->url.master};
	size_t len[3] = {8, 23, strlen(conn->url.master)};
	req->sentinels_asked++;
	if (send_hop(req, conn->sentinel, HOP_SENTINEL, conn->sentinel_index, timeout,
		"SENTINEL GET-MASTER-ADDR", 3, argv, len, &err) < 0) {
		req->last_failure = err;
		next_sentinel(conn);
		ask_sentinel(req);
	}
}

/* A new try of req: to the sentinels, or to the node commands go to now. */
static void start_try(struct request *req) {
	struct rw_error err = {0};
	req->generation++;
	free_copy(req->kept);
	req->kept = NULL;
	if (time_left(req) < MIN_TRY_MS || ++req->tries > MAX_TRIES) {
		if (req->last_failure.message[0] != '\0') {
			fail_request(req, &req->last_failure);
		} else {
			error_set(&err, RW_ERROR_SERVER, "%s on %s: no answer within %" PRIu64 " ms",
				req->what, req->conn->address, req->timeout_ms);
			err.hint = "check that the Redis server is running and not overloaded";
			fail_request(req, &err);
		}
		return;
	}
	if (req->conn->topology == TOPOLOGY_SENTINEL) {
		req->sentinels_asked = 0;
		req->sentinel_said_unknown = false;
		ask_sentinel(req);
		return;
	}
	send_command(req, req->asking ? req->ask_target : req->conn->current, false);
}

/* ---- answers ------------------------------------------------------------------------ */

/* The command could not be done on node `index` (refused, closed, timed out). In a
 * cluster the next known node is asked, whose redirect leads to the slot's master of the
 * moment; with Sentinel the sentinels are asked again; one server: the caller decides.
 * A command that may have run (the connection was `reached`) is sent again only when it
 * is retry-safe: a release that ran once would say "not held" the second time. */
static void transport_failed(struct request *req, size_t index, bool reached,
	const struct rw_error *err) {
	struct conn *conn = req->conn;
	conn->nodes[index].failed_ms = clock_mono_ms();
	conn->nodes[index].confirmed = false;
	bool may_have_run = reached && !req->retry_safe;
	if (conn->topology == TOPOLOGY_CLUSTER) {
		set_current(conn, next_node(conn, index));
	}
	if ((conn->topology == TOPOLOGY_CLUSTER || conn->topology == TOPOLOGY_SENTINEL) &&
		!may_have_run) {
		pause_then_retry(req, REROUTE_PAUSE_MS, err);
	} else {
		fail_request(req, err);
	}
}

/* --sync: the command ran, but whether the replicas have it is unknown. */
static void sync_failed(struct request *req, const char *why) {
	*req->replicas = (struct conn_replicas){.failed = true};
	(void)error_format(req->replicas->failure, sizeof(req->replicas->failure), "%s", why);
	finish_request(req, req->kept, NULL);
}

static void on_error_reply(struct request *req, size_t index, const redisReply *reply) {
	struct conn *conn = req->conn;
	struct topology_address target;
	struct rw_error why = {0};
	enum topology_error kind = topology_classify_error(reply->str, &target);
	if (conn->topology == TOPOLOGY_SENTINEL &&
		(kind == TOPOLOGY_ERROR_MOVED || kind == TOPOLOGY_ERROR_ASK)) {
		kind = TOPOLOGY_ERROR_OTHER;
	}
	if (kind != TOPOLOGY_ERROR_OTHER) {
		error_set(&why, RW_ERROR_SERVER, "%s on %s failed: %s", req->what,
			conn->address, reply->str);
	}
	switch (kind) {
	case TOPOLOGY_ERROR_MOVED:
	case TOPOLOGY_ERROR_ASK:
		if (target.host[0] == '\0') {
			/* "MOVED 1 :7001": the same host as the node that answered. */
			memcpy(target.host, conn->nodes[index].address.host, sizeof(target.host));
		}
		conn->topology = TOPOLOGY_CLUSTER;
		req->last_failure = why;
		log_msg(LOG_DEBUG, "%s: %s", req->what, reply->str);
		if (kind == TOPOLOGY_ERROR_MOVED) {
			set_current(conn, find_or_add(conn, &target));
		} else {
			req->asking = true;
			req->ask_target = find_or_add(conn, &target);
		}
		start_try(req);
		return;
	case TOPOLOGY_ERROR_RETRY:
		log_msg(LOG_DEBUG, "%s on %s: %s; trying again", req->what, conn->address, reply->str);
		pause_then_retry(req, RETRY_PAUSE_MS, &why);
		return;
	case TOPOLOGY_ERROR_REROUTE:
		if (req->blocking) {
			break; /* UNBLOCKED: sent again, it would outlive its deadline */
		}
		if (conn->topology == TOPOLOGY_CLUSTER) {
			conn->nodes[index].failed_ms = clock_mono_ms();
			set_current(conn, next_node(conn, index));
			pause_then_retry(req, REROUTE_PAUSE_MS, &why);
			return;
		}
		if (conn->topology == TOPOLOGY_SENTINEL) {
			conn->nodes[index].confirmed = false;
			pause_then_retry(req, REROUTE_PAUSE_MS, &why);
			return;
		}
		break;
	case TOPOLOGY_ERROR_OTHER:
		break;
	}
	finish_request(req, reply, NULL);
}

static void on_command_reply(struct request *req, size_t index, const redisReply *reply) {
	struct rw_error err = {0};
	if (reply->type == REDIS_REPLY_ERROR) {
		on_error_reply(req, index, reply);
		return;
	}
	if (req->replicas == NULL) {
		finish_request(req, reply, NULL);
		return;
	}
	/* --sync: INFO replication follows on the same connection; keep the answer till then. */
	req->kept = copy_reply(reply);
	if (req->kept == NULL) {
		error_set(&err, RW_ERROR_INTERNAL, "out of memory");
		fail_request(req, &err);
	}
}

static void on_info_reply(struct request *req, size_t index, const redisReply *reply) {
	struct rw_error err = {0};
	if (req->kept == NULL) {
		return; /* the command failed; its answer decided */
	}
	if (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS) {
		error_set(&err, RW_ERROR_SERVER, "INFO replication on %s failed: %s", req->conn->address,
			reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected answer");
		sync_failed(req, err.message);
		return;
	}
	req->online = topology_online_replicas(reply->str, reply->len);
	if (req->online == 0) {
		*req->replicas = (struct conn_replicas){.acked = 0, .online = 0};
		finish_request(req, req->kept, NULL);
		return;
	}
	/* WAIT's timeout 0 means for ever. The server notices a WAIT's timeout at its next
	 * event loop turn, up to 100 ms late (hz 10): leave that, and a quarter, for the answer. */
	uint64_t left = time_left(req);
	uint64_t margin = left / 4 > WAIT_MARGIN_MS ? left / 4 : WAIT_MARGIN_MS;
	uint64_t wait_ms = left > 2 * margin ? left - margin : left / 2;
	char count[16], timeout[24];
	(void)snprintf(count, sizeof(count), "%d", req->online);
	(void)snprintf(timeout, sizeof(timeout), "%" PRIu64, wait_ms > 0 ? wait_ms : 1);
	const char *argv[3] = {"WAIT", count, timeout};
	size_t len[3] = {4, strlen(count), strlen(timeout)};
	struct node *node = req->conn->nodes[index].node;
	if (node == NULL || send_hop(req, node, HOP_WAIT, index, left, "WAIT", 3, argv, len, &err) < 0) {
		if (node == NULL) {
			error_set(&err, RW_ERROR_SERVER, "lost the connection to %s", req->conn->address);
		}
		sync_failed(req, err.message);
	}
}

static void on_wait_reply(struct request *req, const redisReply *reply) {
	struct rw_error err = {0};
	if (reply->type != REDIS_REPLY_INTEGER || reply->integer < 0) {
		error_set(&err, RW_ERROR_SERVER, "WAIT on %s failed: %s", req->conn->address,
			reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected answer");
		sync_failed(req, err.message);
		return;
	}
	int acked = reply->integer < req->online ? (int)reply->integer : req->online;
	*req->replicas = (struct conn_replicas){.acked = acked, .online = req->online};
	finish_request(req, req->kept, NULL);
}

static void on_role_reply(struct request *req, size_t index, const redisReply *reply) {
	struct conn *conn = req->conn;
	struct rw_error why = {0};
	if (topology_decode_role_master(reply)) {
		conn->nodes[index].confirmed = true;
		return; /* the command's answer follows */
	}
	/* A sentinel's view can be stale: ask again (the command's answer is ignored). */
	error_set(&why, RW_ERROR_SERVER, "%s, named by the sentinels as master '%s', is not a "
		"master", conn->address, conn->url.master);
	why.hint = "wait for the sentinels to finish the failover";
	pause_then_retry(req, REROUTE_PAUSE_MS, &why);
}

/* Moves on to the next sentinel after the one at `failed` (a connection of ours) failed or
 * did not know the master; when another request has moved on already, `failed` is no
 * longer conn->sentinel and the present one is asked instead. */
static void after_sentinel(struct request *req, const struct node *failed) {
	if (failed == req->conn->sentinel) {
		next_sentinel(req->conn);
	}
	ask_sentinel(req);
}

static void on_sentinel_reply(struct request *req, const struct node *from,
	size_t sentinel_index, const redisReply *reply) {
	struct conn *conn = req->conn;
	struct topology_address master;
	int answer = topology_decode_master_address(reply, &master);
	if (answer < 0) {
		const struct rw_sentinel_address *s = &conn->url.sentinels[sentinel_index];
		error_replace(&req->last_failure, RW_ERROR_SERVER, "sentinel %s:%u answered %s", s->host,
			(unsigned)s->port, reply->type == REDIS_REPLY_ERROR ? reply->str : "garbage");
	}
	if (answer == 0) {
		req->sentinel_said_unknown = true;
	}
	if (answer <= 0) {
		after_sentinel(req, from);
		return;
	}
	size_t index = find_or_add(conn, &master);
	set_current(conn, index);
	update_address(conn); /* the first answer replaces "master 'NAME'" */
	struct known_node *known = &conn->nodes[index];
	bool confirm = !known->confirmed || known->node == NULL || node_is_broken(known->node);
	send_command(req, index, confirm);
}

static void on_hop_reply(const redisReply *reply, const struct rw_error *err, void *data) {
	struct hop *hop = data;
	struct request *req = hop->req;
	enum hop_kind kind = hop->kind;
	size_t index = hop->index;
	bool reached = err != NULL && node_reached(hop->node);
	const struct node *from = hop->node; /* compared, never used: it may be gone later */
	bool current = hop->generation == req->generation && req->cb != NULL &&
		req->stage == STAGE_TRYING;
	free(hop);
	req->outstanding--;
	if (!current || kind == HOP_ASKING) {
		release_request(req);
		return;
	}
	if (err != NULL) {
		if (kind == HOP_SENTINEL) {
			if (from != req->conn->sentinel) {
				/* Cancelled because another request moved on: not this sentinel's
				 * answer, so it does not count as asked. */
				req->sentinels_asked--;
			} else {
				req->last_failure = *err;
			}
			after_sentinel(req, from);
		} else if ((kind == HOP_INFO || kind == HOP_WAIT) && req->kept != NULL) {
			sync_failed(req, err->message);
		} else {
			req->generation++;
			transport_failed(req, index, reached, err);
		}
		return;
	}
	switch (kind) {
	case HOP_COMMAND:
		on_command_reply(req, index, reply);
		break;
	case HOP_INFO:
		on_info_reply(req, index, reply);
		break;
	case HOP_WAIT:
		on_wait_reply(req, reply);
		break;
	case HOP_ROLE:
		on_role_reply(req, index, reply);
		break;
	case HOP_SENTINEL:
		on_sentinel_reply(req, from, index, reply);
		break;
	case HOP_ASKING:
		break;
	}
}

/* ---- the API ------------------------------------------------------------------------ */

struct conn *conn_create(uv_loop_t *loop, const struct rw_endpoint *ep,
	const struct tls_context *tls) {
	struct conn *conn = calloc(1, sizeof(*conn));
	if (conn == NULL) {
		return NULL;
	}
	/* Not calloc: zeroing the whole table (36 KB) would touch every page of it, each a page
	 * fault at start-up. find_or_add clears each entry it adds; only node_count are read. */
	conn->nodes = malloc(MAX_NODES * sizeof(*conn->nodes));
	if (conn->nodes == NULL) {
		free(conn);
		return NULL;
	}
	memset(&conn->nodes[0], 0, sizeof(conn->nodes[0]));
	conn->loop = loop;
	conn->url = *ep;
	conn->tls = tls;
	if (ep->sentinel) {
		conn->topology = TOPOLOGY_SENTINEL;
	} else {
		conn->topology = ep->kind == ENDPOINT_UNIX ? TOPOLOGY_SINGLE : TOPOLOGY_UNKNOWN;
		(void)snprintf(conn->nodes[0].address.host, sizeof(conn->nodes[0].address.host), "%s",
			ep->host);
		conn->nodes[0].address.port = ep->port;
		conn->node_count = 1;
	}
	update_address(conn);
	/* uv_timer_init cannot fail on a live loop. */
	(void)uv_timer_init(loop, &conn->timer);
	conn->timer.data = conn;
	return conn;
}

static int copy_arguments(struct request *req, int argc, const char **argv, const size_t *argv_len) {
	req->argv = calloc((size_t)argc, sizeof(*req->argv));
	req->argv_len = calloc((size_t)argc, sizeof(*req->argv_len));
	if (req->argv == NULL || req->argv_len == NULL) {
		return -1;
	}
	req->argc = argc;
	for (int i = 0; i < argc; i++) {
		req->argv[i] = malloc(argv_len[i] + 1);
		if (req->argv[i] == NULL) {
			return -1;
		}
		memcpy(req->argv[i], argv[i], argv_len[i]);
		req->argv[i][argv_len[i]] = '\0';
		req->argv_len[i] = argv_len[i];
	}
	return 0;
}

int conn_command_replicated(struct conn *conn, const char *what, uint64_t timeout_ms,
	unsigned flags, conn_reply_cb *cb, void *data, int argc, const char **argv,
	const size_t *argv_len, struct conn_replicas *ret_replicas, struct rw_error *err) {
	if (conn->destroying) {
		return error_set(err, RW_ERROR_INTERNAL, "%s on %s: connection is closing", what,
			conn->address);
	}
	struct request *req = calloc(1, sizeof(*req));
	if (req == NULL || argc < 1 || copy_arguments(req, argc, argv, argv_len) < 0) {
		if (req != NULL) {
			release_request(req);
		}
		return error_set(err, RW_ERROR_INTERNAL, "%s: out of memory", what);
	}
	req->conn = conn;
	req->data = data;
	req->replicas = ret_replicas;
	req->retry_safe = (flags & CONN_RETRY_SAFE) != 0;
	req->blocking = (flags & CONN_BLOCKING) != 0;
	req->timeout_ms = timeout_ms;
	req->deadline_ms = clock_mono_ms() + timeout_ms;
	(void)snprintf(req->what, sizeof(req->what), "%s", what);
	req->stage = STAGE_TRYING;
	req->next = conn->requests;
	conn->requests = req;
	req->cb = cb;
	req->starting = true;
	start_try(req);
	req->starting = false;
	if (req->cb == NULL) {
		*err = req->start_failure;
		release_request(req);
		return -1;
	}
	return 0;
}

int conn_command(struct conn *conn, const char *what, uint64_t timeout_ms, unsigned flags,
	conn_reply_cb *cb, void *data, int argc, const char **argv, const size_t *argv_len,
	struct rw_error *err) {
	return conn_command_replicated(conn, what, timeout_ms, flags, cb, data, argc, argv, argv_len,
		NULL, err);
}

bool conn_is_broken(const struct conn *conn) {
	const struct node *node = conn->node_count > 0 ? conn->nodes[conn->current].node : NULL;
	return node != NULL && node_is_broken(node);
}

const char *conn_address(const struct conn *conn) {
	return conn->address;
}

static void on_timer_closed(uv_handle_t *handle) {
	struct conn *conn = handle->data;
	free(conn->nodes);
	free(conn);
}

void conn_destroy(struct conn *conn) {
	if (conn == NULL || conn->destroying) {
		return;
	}
	conn->destroying = true;
	struct rw_error cancelled = {0};
	error_set(&cancelled, RW_ERROR_INTERNAL, "request to %s cancelled", conn->address);
	while (conn->requests != NULL) {
		fail_request(conn->requests, &cancelled);
	}
	/* Their node commands call back now, and free what they held. */
	for (size_t i = 0; i < conn->node_count; i++) {
		drop_node(&conn->nodes[i].node);
	}
	drop_node(&conn->sentinel);
	uv_close((uv_handle_t *)&conn->timer, on_timer_closed);
}
