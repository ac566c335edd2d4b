/* What Redis Cluster and Sentinel answers mean for routing: redirects, transient errors,
 * CLUSTER SLOTS, ROLE, a sentinel's master address, INFO replication. Pure decoding, no
 * I/O; conn.c acts on it. */
#ifndef RWITH_TOPOLOGY_H
#define RWITH_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

/* What an error reply asks of the router. */
enum topology_error {
	TOPOLOGY_ERROR_OTHER,   /* the command's own error: report it */
	TOPOLOGY_ERROR_MOVED,   /* the slot lives elsewhere for good: follow and remember */
	TOPOLOGY_ERROR_ASK,     /* the key is being migrated: ASKING there, this once */
	TOPOLOGY_ERROR_RETRY,   /* TRYAGAIN, CLUSTERDOWN, LOADING, MASTERDOWN: pause, try again */
	TOPOLOGY_ERROR_REROUTE, /* READONLY, UNBLOCKED: this node is no longer the master */
};

struct topology_address {
	char host[256]; /* empty: the host of the node that answered (Redis 7's "MOVED 1 :7001") */
	uint16_t port;
};

/* Classifies an error reply's text; for MOVED and ASK also fills *ret_target, and returns
 * TOPOLOGY_ERROR_OTHER when their address cannot be read. */
enum topology_error topology_classify_error(const char *text, struct topology_address *ret_target);

/* Calls add() for the master, then the replicas, of every slot range in a CLUSTER SLOTS
 * answer (an address may come more than once). Returns false, having called nothing, when
 * the answer is not one. */
bool topology_decode_slots(const redisReply *reply,
	void (*add)(const struct topology_address *address, void *data), void *data);

/* Calls add() once for each master of a CLUSTER SLOTS answer, in the order of its first
 * slot range (an empty host is the answering node's). Returns false, having called nothing,
 * when the answer is not one. */
bool topology_decode_masters(const redisReply *reply,
	void (*add)(const struct topology_address *address, void *data), void *data);

/* True for an error that CLUSTER SLOTS gets only from a server that is not a cluster node:
 * "ERR This instance has cluster support disabled", or an unknown command (CLUSTER renamed
 * away). Such a server is its own only master. */
bool topology_not_a_cluster(const char *error_text);

/* ROLE's answer: true for a master ("master", ...), false for anything else. */
bool topology_decode_role_master(const redisReply *reply);

/* SENTINEL GET-MASTER-ADDR-BY-NAME's answer: 1 with *ret filled for [host, port], 0 for nil
 * (the sentinel does not know the master), -1 for anything else. */
int topology_decode_master_address(const redisReply *reply, struct topology_address *ret);

/* The number of replicas with state=online in the text of INFO replication. */
int topology_online_replicas(const char *info, size_t len);

#endif
