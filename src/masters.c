/* The masters of a deployment (see masters.h): CLUSTER SLOTS through a conn tells a
 * cluster from a single master; a cluster's masters then get a node connection each. */
#include "masters.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "node.h"
#include "topology.h"

struct master {
	struct topology_address address;
	struct node *node; /* NULL until used; replaced once broken */
	char text[300];    /* the address, for messages */
};

struct masters {
	uv_loop_t *loop;
	struct rw_endpoint url;
	const struct tls_context *tls; /* borrowed */
	struct conn *conn;             /* asks CLUSTER SLOTS; the one master's commands */
	bool cluster;
	bool found;
	bool destroying; /* no new command: the cancelled ones are being reported */
	struct master *list; /* cluster: count of them */
	size_t count;
	size_t capacity;
	masters_found_cb *found_cb; /* NULL once reported */
	void *found_data;
	struct rw_error failure; /* while decoding: what went wrong */
};

struct masters *masters_create(uv_loop_t *loop, const struct rw_endpoint *ep,
	const struct tls_context *tls) {
	struct masters *m = calloc(1, sizeof(*m));
	if (m == NULL) {
		return NULL;
	}
	m->conn = conn_create(loop, ep, tls);
	if (m->conn == NULL) {
		free(m);
		return NULL;
	}
	m->loop = loop;
	m->url = *ep;
	m->tls = tls;
	return m;
}

static void report_found(struct masters *m, const struct rw_error *err) {
	masters_found_cb *cb = m->found_cb;
	m->found_cb = NULL;
	m->found = err == NULL;
	cb(err, m->found_data);
}

/* One master of the CLUSTER SLOTS answer; an empty host is the URL's node's, which is the
 * one that answered (a conn that does not know of a cluster yet sends there). */
static void add_master(const struct topology_address *address, void *data) {
	struct masters *m = data;
	if (m->failure.kind != RW_ERROR_NONE) {
		return;
	}
	if (m->count == m->capacity) {
		size_t capacity = m->capacity == 0 ? 8 : m->capacity * 2;
		struct master *list = realloc(m->list, capacity * sizeof(*list));
		if (list == NULL) {
			error_set(&m->failure, RW_ERROR_INTERNAL, "out of memory");
			return;
		}
		m->list = list;
		m->capacity = capacity;
	}
	struct master *master = &m->list[m->count++];
	memset(master, 0, sizeof(*master));
	master->address = *address;
	if (master->address.host[0] == '\0') {
		memcpy(master->address.host, m->url.host, sizeof(master->address.host));
	}
	url_format_host_port(master->address.host, master->address.port, master->text,
		sizeof(master->text));
}

static void on_slots(const redisReply *reply, const struct rw_error *err, void *data) {
	struct masters *m = data;
	struct rw_error why = {0};
	if (err != NULL) {
		report_found(m, err);
		return;
	}
	if (topology_decode_masters(reply, add_master, m)) {
		m->cluster = true;
		log_msg(LOG_DEBUG, "%s: a Redis Cluster of %zu masters", conn_address(m->conn),
			m->count);
		report_found(m, m->failure.kind == RW_ERROR_NONE ? NULL : &m->failure);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR && topology_not_a_cluster(reply->str)) {
		m->count = 1; /* the conn's node, or the master that Sentinel names */
		report_found(m, NULL);
		return;
	}
	/* NOPERM, or garbage: whether other masters hold data is unknown. */
	error_set(&why, RW_ERROR_SERVER, "CLUSTER SLOTS on %s failed: %s", conn_address(m->conn),
		reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected answer");
	why.hint = reply->type != REDIS_REPLY_ERROR ?
		"check that the URL points to a Redis server" :
		strncmp(reply->str, "NOPERM", 6) == 0 ?
		"grant the user +cluster|slots, which finds every master of a cluster" :
		NULL;
	report_found(m, &why);
}

int masters_find(struct masters *m, uint64_t timeout_ms, masters_found_cb *cb, void *data,
	struct rw_error *err) {
	static const char *const argv[2] = {"CLUSTER", "SLOTS"};
	static const size_t len[2] = {7, 5};
	m->found_cb = cb;
	m->found_data = data;
	if (conn_command(m->conn, "CLUSTER SLOTS", timeout_ms, CONN_RETRY_SAFE, on_slots, m, 2,
		(const char **)argv, len, err) < 0) {
		m->found_cb = NULL;
		return -1;
	}
	return 0;
}

size_t masters_count(const struct masters *m) {
	return m->found ? m->count : 0;
}

const char *masters_address(const struct masters *m, size_t index) {
	return m->cluster ? m->list[index].text : conn_address(m->conn);
}

/* A usable connection to a cluster's master: its own, or a new one once that broke. */
static struct node *master_node(struct masters *m, struct master *master, uint64_t timeout_ms) {
	if (master->node != NULL && !node_is_broken(master->node)) {
		return master->node;
	}
	node_destroy(master->node);
	struct rw_endpoint ep;
	url_node_endpoint(&m->url, master->address.host, master->address.port, &ep);
	master->node = node_create(m->loop, &ep, m->tls, timeout_ms);
	return master->node;
}

int masters_command(struct masters *m, size_t index, const char *what, uint64_t timeout_ms,
	conn_reply_cb *cb, void *data, int argc, const char **argv, const size_t *argv_len,
	struct rw_error *err) {
	if (m->destroying) {
		return error_set(err, RW_ERROR_INTERNAL, "%s on %s: connection is closing", what,
			masters_address(m, index));
	}
	if (!m->cluster) {
		return conn_command(m->conn, what, timeout_ms, CONN_RETRY_SAFE, cb, data, argc,
			argv, argv_len, err);
	}
	struct node *node = master_node(m, &m->list[index], timeout_ms);
	if (node == NULL) {
		return error_set(err, RW_ERROR_INTERNAL, "out of memory");
	}
	return node_command(node, what, timeout_ms, cb, data, argc, argv, argv_len, err);
}

void masters_destroy(struct masters *m) {
	if (m == NULL) {
		return;
	}
	/* The callbacks of the cancelled commands run now, and may still look at m. */
	m->destroying = true;
	conn_destroy(m->conn);
	for (size_t i = 0; i < m->count && m->cluster; i++) {
		node_destroy(m->list[i].node);
	}
	free(m->list);
	free(m);
}
