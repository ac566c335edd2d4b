/* topology_classify_error, topology_decode_slots, topology_decode_masters,
 * topology_not_a_cluster, topology_decode_role_master, topology_decode_master_address and
 * topology_online_replicas: what Redis Cluster and Sentinel answer, and garbage a broken or
 * foreign server could send instead. The replies are built by hand from the fields hiredis
 * 0.14 and 1.x share (type, integer, len, str, elements, element), so that a tree can hold
 * what no RESP text gives (a NUL in a string). */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "topology.h"
#include "untouched.h"

#define TREE_NODES 128

/* The nodes of one hand-built reply tree, on the caller's stack: nothing to free. */
struct tree {
	redisReply nodes[TREE_NODES];
	redisReply *links[TREE_NODES];
	size_t node_count;
	size_t link_count;
};

static redisReply *new_node(struct tree *t, int type) {
	cr_assert_lt(t->node_count, TREE_NODES, "the test's reply tree is too big");
	redisReply *node = &t->nodes[t->node_count++];
	memset(node, 0, sizeof(*node));
	node->type = type;
	return node;
}

/* A bulk string of `len` bytes (which may hold a NUL); the bytes are borrowed. */
static redisReply *bulk_len(struct tree *t, const char *bytes, size_t len) {
	redisReply *node = new_node(t, REDIS_REPLY_STRING);
	node->str = (char *)bytes; /* the decoders take const replies */
	node->len = len;
	return node;
}

static redisReply *bulk(struct tree *t, const char *text) {
	return bulk_len(t, text, strlen(text));
}

static redisReply *status(struct tree *t, const char *text) {
	redisReply *node = new_node(t, REDIS_REPLY_STATUS);
	node->str = (char *)text;
	node->len = strlen(text);
	return node;
}

static redisReply *error_reply(struct tree *t, const char *text) {
	redisReply *node = new_node(t, REDIS_REPLY_ERROR);
	node->str = (char *)text;
	node->len = strlen(text);
	return node;
}

static redisReply *integer(struct tree *t, long long value) {
	redisReply *node = new_node(t, REDIS_REPLY_INTEGER);
	node->integer = value;
	return node;
}

static redisReply *nil(struct tree *t) {
	return new_node(t, REDIS_REPLY_NIL);
}

static redisReply *array_of(struct tree *t, redisReply *const *elements, size_t count) {
	cr_assert_leq(t->link_count + count, TREE_NODES, "the test's reply tree is too big");
	redisReply *node = new_node(t, REDIS_REPLY_ARRAY);
	node->elements = count;
	node->element = count > 0 ? &t->links[t->link_count] : NULL;
	for (size_t i = 0; i < count; i++) {
		t->links[t->link_count++] = elements[i];
	}
	return node;
}

/* ARRAY(&t, a, b, c): an array of the given replies; array_of(&t, NULL, 0) is the empty one. */
#define ARRAY(t, ...)                                                                              \
	array_of((t), (redisReply *const[]){__VA_ARGS__},                                          \
		sizeof((redisReply *const[]){__VA_ARGS__}) / sizeof(redisReply *))

/* ---- error replies ---------------------------------------------------------------------- */

struct classify_case {
	const char *text;
	enum topology_error want;
	const char *host; /* MOVED and ASK: the target */
	unsigned port;
};

static void expect_classified(const struct classify_case *c) {
	struct topology_address target;
	fill_sentinel(&target, sizeof(target));
	enum topology_error got = topology_classify_error(c->text, &target);
	cr_expect_eq(
		got, c->want, "classify(\"%s\") = %d, want %d", c->text, (int)got, (int)c->want);
	if (got != c->want) {
		return;
	}
	if (c->want == TOPOLOGY_ERROR_MOVED || c->want == TOPOLOGY_ERROR_ASK) {
		cr_expect_str_eq(target.host, c->host, "classify(\"%s\"): host", c->text);
		cr_expect_eq(target.port, c->port, "classify(\"%s\"): port %u, want %u", c->text,
			(unsigned)target.port, c->port);
	} else {
		cr_expect(is_sentinel(&target, sizeof(target)),
			"classify(\"%s\") wrote the target without a redirect", c->text);
	}
}

Test(topology_classify, redirects) {
	static const struct classify_case cases[] = {
		{"MOVED 3999 127.0.0.1:6381", TOPOLOGY_ERROR_MOVED, "127.0.0.1", 6381},
		{"ASK 3999 127.0.0.1:6381", TOPOLOGY_ERROR_ASK, "127.0.0.1", 6381},
		{"MOVED 0 10.0.0.1:1", TOPOLOGY_ERROR_MOVED, "10.0.0.1", 1},
		{"MOVED 16383 node-3.example:65535", TOPOLOGY_ERROR_MOVED, "node-3.example", 65535},
		/* Redis 7 with an unknown endpoint: the host of the node that answered. */
		{"MOVED 1 :7001", TOPOLOGY_ERROR_MOVED, "", 7001},
		{"ASK 1 :7001", TOPOLOGY_ERROR_ASK, "", 7001},
		/* IPv6, bare (the last ':' splits) and bracketed. */
		{"MOVED 1 ::1:7001", TOPOLOGY_ERROR_MOVED, "::1", 7001},
		{"MOVED 1 [::1]:7001", TOPOLOGY_ERROR_MOVED, "::1", 7001},
		{"ASK 12182 fe80::1:2:3:6380", TOPOLOGY_ERROR_ASK, "fe80::1:2:3", 6380},
		{"ASK 12182 [2001:db8::7]:6380", TOPOLOGY_ERROR_ASK, "2001:db8::7", 6380},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		expect_classified(&cases[i]);
	}
}

Test(topology_classify, transient_and_reroute_errors) {
	static const struct classify_case cases[] = {
		{"TRYAGAIN Multiple keys request during rehashing of slot", TOPOLOGY_ERROR_RETRY,
			NULL, 0},
		{"CLUSTERDOWN The cluster is down", TOPOLOGY_ERROR_RETRY, NULL, 0},
		{"CLUSTERDOWN Hash slot not served", TOPOLOGY_ERROR_RETRY, NULL, 0},
		{"LOADING Redis is loading the dataset in memory", TOPOLOGY_ERROR_RETRY, NULL, 0},
		{"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
			TOPOLOGY_ERROR_RETRY, NULL, 0},
		{"TRYAGAIN", TOPOLOGY_ERROR_RETRY, NULL, 0},
		{"LOADING", TOPOLOGY_ERROR_RETRY, NULL, 0},
		{"READONLY You can't write against a read only replica.", TOPOLOGY_ERROR_REROUTE,
			NULL, 0},
		{"UNBLOCKED force unblock from blocking operation, "
		 "instance state changed (master -> replica?)",
			TOPOLOGY_ERROR_REROUTE, NULL, 0},
		{"READONLY", TOPOLOGY_ERROR_REROUTE, NULL, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		expect_classified(&cases[i]);
	}
}

Test(topology_classify, other_errors_are_the_commands_own) {
	static const struct classify_case cases[] = {
		{"", TOPOLOGY_ERROR_OTHER, NULL, 0},
		{" ", TOPOLOGY_ERROR_OTHER, NULL, 0},
		{"ERR unknown command", TOPOLOGY_ERROR_OTHER, NULL, 0},
		{"ERR unknown command 'FOO', with args beginning with: ", TOPOLOGY_ERROR_OTHER,
			NULL, 0},
		{"NOSCRIPT No matching script. Please use EVAL.", TOPOLOGY_ERROR_OTHER, NULL, 0},
		{"WRONGTYPE Operation against a key holding the wrong kind of value",
			TOPOLOGY_ERROR_OTHER, NULL, 0},
		{"NOAUTH Authentication required.", TOPOLOGY_ERROR_OTHER, NULL, 0},
		{"CROSSSLOT Keys in request don't hash to the same slot", TOPOLOGY_ERROR_OTHER,
			NULL, 0},
		/* The words matter only at the start, and whole. */
		{"ERR MOVED 1 a:1", TOPOLOGY_ERROR_OTHER, NULL, 0},
		{" MOVED 1 a:1", TOPOLOGY_ERROR_OTHER, NULL, 0},
		{"moved 1 a:1", TOPOLOGY_ERROR_OTHER, NULL, 0},
		{"MOVEDX 1 a:1", TOPOLOGY_ERROR_OTHER, NULL, 0},
		{"ASKING is not allowed here", TOPOLOGY_ERROR_OTHER, NULL, 0},
		{"ASKX 1 a:1", TOPOLOGY_ERROR_OTHER, NULL, 0},
		{"LOADINGX", TOPOLOGY_ERROR_OTHER, NULL, 0},
		{"LOADINGX the dataset", TOPOLOGY_ERROR_OTHER, NULL, 0},
		{"TRYAGAINX", TOPOLOGY_ERROR_OTHER, NULL, 0},
		{"CLUSTERDOWNX", TOPOLOGY_ERROR_OTHER, NULL, 0},
		{"MASTERDOWNX", TOPOLOGY_ERROR_OTHER, NULL, 0},
		{"READONLYX", TOPOLOGY_ERROR_OTHER, NULL, 0},
		{"UNBLOCKEDX", TOPOLOGY_ERROR_OTHER, NULL, 0},
		{"LOAD", TOPOLOGY_ERROR_OTHER, NULL, 0},
		{"MOVE", TOPOLOGY_ERROR_OTHER, NULL, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		expect_classified(&cases[i]);
	}
}

/* A redirect whose address cannot be read is not followed: OTHER, and no target. */
Test(topology_classify, malformed_redirects_are_other) {
	static const char *const cases[] = {
		"MOVED",
		"ASK",
		"MOVED ",
		"MOVED 1",
		"MOVED 1 ",
		"MOVED x 1.2.3.4:1",
		"MOVED -1 1.2.3.4:1",
		"MOVED 1x 1.2.3.4:1",
		"MOVED  1 a:1",
		"MOVED 1  a:1",
		"MOVED 1 host",
		"MOVED 1 host:",
		"MOVED 1 host:0",
		"MOVED 1 host:00",
		"MOVED 1 host:65536",
		"MOVED 1 host:70000",
		"MOVED 1 host:99999999999999999999999",
		"MOVED 1 host:-1",
		"MOVED 1 host:+1",
		"MOVED 1 host:1x",
		"MOVED 1 host:x",
		"MOVED 1 host:1\r\n",
		"MOVED 1 a:1 extra",
		"MOVED 1 a:1 ",
		"MOVED 1 a\tb:1",
		"MOVED 1 :",
		"ASK 1 host:0",
		"ASK x a:1",
		"ASK 1 a:1 extra",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct classify_case c = {cases[i], TOPOLOGY_ERROR_OTHER, NULL, 0};
		expect_classified(&c);
	}
}

Test(topology_classify, host_length_limits) {
	struct topology_address target;
	char text[600];
	char host[300];

	/* 255 bytes fit in host[256]. */
	memset(host, 'h', 255);
	host[255] = '\0';
	(void)snprintf(text, sizeof(text), "MOVED 7 %s:6379", host);
	fill_sentinel(&target, sizeof(target));
	cr_assert_eq(topology_classify_error(text, &target), TOPOLOGY_ERROR_MOVED);
	cr_expect_str_eq(target.host, host);
	cr_expect_eq(target.port, 6379);

	/* The longest IPv6 text form, in brackets. */
	fill_sentinel(&target, sizeof(target));
	cr_assert_eq(topology_classify_error(
			     "ASK 1 [ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:6379", &target),
		TOPOLOGY_ERROR_ASK);
	cr_expect_str_eq(target.host, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
	cr_expect_eq(target.port, 6379);

	/* 256 bytes do not, nor do 290 (past the internal copy). */
	static const size_t too_long[] = {256, 257, 290, 299};
	for (size_t i = 0; i < sizeof(too_long) / sizeof(too_long[0]); i++) {
		memset(host, 'h', too_long[i]);
		host[too_long[i]] = '\0';
		(void)snprintf(text, sizeof(text), "MOVED 7 %s:6379", host);
		fill_sentinel(&target, sizeof(target));
		cr_expect_eq(topology_classify_error(text, &target), TOPOLOGY_ERROR_OTHER,
			"a %zu-byte host", too_long[i]);
		cr_expect(is_sentinel(&target, sizeof(target)), "a %zu-byte host was written",
			too_long[i]);
	}
}

/* ---- CLUSTER SLOTS ---------------------------------------------------------------------- */

#define MAX_ADDED 16

struct added {
	struct topology_address addresses[MAX_ADDED];
	size_t count;
};

static void record(const struct topology_address *address, void *data) {
	struct added *added = data;
	cr_assert_lt(added->count, MAX_ADDED, "add() called too often");
	added->addresses[added->count++] = *address;
}

static void expect_added(const struct added *added, size_t index, const char *host, unsigned port) {
	cr_assert_lt(index, added->count, "only %zu addresses added", added->count);
	cr_expect_str_eq(added->addresses[index].host, host, "address %zu", index);
	cr_expect_eq(added->addresses[index].port, port, "address %zu: port %u, want %u", index,
		(unsigned)added->addresses[index].port, port);
}

/* [host, port, id], as Redis 3.2 to 6 send a node. */
static redisReply *slot_node(struct tree *t, const char *host, long long port, const char *id) {
	return ARRAY(t, bulk(t, host), integer(t, port), bulk(t, id));
}

Test(topology_slots, masters_first_then_replicas) {
	struct tree t = {0};
	/* Redis 7 adds a fourth element to a node: a map of further endpoints, an array in
	 * RESP2. It is ignored. */
	redisReply *with_metadata = ARRAY(&t, bulk(&t, "10.0.0.5"), integer(&t, 7004),
		bulk(&t, "id5"), ARRAY(&t, bulk(&t, "hostname"), bulk(&t, "node-5")));
	redisReply *reply = ARRAY(&t,
		ARRAY(&t, integer(&t, 0), integer(&t, 5460), slot_node(&t, "10.0.0.1", 7000, "id1"),
			slot_node(&t, "10.0.0.4", 7003, "id4")),
		ARRAY(&t, integer(&t, 5461), integer(&t, 10922),
			slot_node(&t, "10.0.0.2", 7001, "id2"), with_metadata,
			slot_node(&t, "::1", 7005, "id6")),
		ARRAY(&t, integer(&t, 10923), integer(&t, 16383),
			slot_node(&t, "10.0.0.3", 7002, "id3")));
	struct added added = {0};
	cr_assert(topology_decode_slots(reply, record, &added));
	cr_assert_eq(added.count, 6);
	expect_added(&added, 0, "10.0.0.1", 7000);
	expect_added(&added, 1, "10.0.0.2", 7001);
	expect_added(&added, 2, "10.0.0.3", 7002);
	expect_added(&added, 3, "10.0.0.4", 7003);
	expect_added(&added, 4, "10.0.0.5", 7004);
	expect_added(&added, 5, "::1", 7005);
}

/* A master serving two ranges comes twice: deduplication is the caller's. */
Test(topology_slots, an_address_may_come_twice) {
	struct tree t = {0};
	redisReply *reply = ARRAY(&t,
		ARRAY(&t, integer(&t, 0), integer(&t, 99), slot_node(&t, "a", 1, "x")),
		ARRAY(&t, integer(&t, 100), integer(&t, 16383), slot_node(&t, "a", 1, "x")));
	struct added added = {0};
	cr_assert(topology_decode_slots(reply, record, &added));
	cr_assert_eq(added.count, 2);
	expect_added(&added, 0, "a", 1);
	expect_added(&added, 1, "a", 1);
}

/* Only [host, port] is needed; port 65535 and a 255-byte host are in range. */
Test(topology_slots, smallest_nodes_and_limits) {
	struct tree t = {0};
	char host[256];
	memset(host, 'h', 255);
	host[255] = '\0';
	redisReply *reply = ARRAY(&t, ARRAY(&t, integer(&t, 0), integer(&t, 16383),
					      ARRAY(&t, bulk(&t, host), integer(&t, 65535)),
					      ARRAY(&t, bulk(&t, "r"), integer(&t, 1))));
	struct added added = {0};
	cr_assert(topology_decode_slots(reply, record, &added));
	cr_assert_eq(added.count, 2);
	expect_added(&added, 0, host, 65535);
	expect_added(&added, 1, "r", 1);
}

Test(topology_slots, empty_answer_adds_nothing) {
	struct tree t = {0};
	redisReply *reply = array_of(&t, NULL, 0);
	struct added added = {0};
	cr_expect(topology_decode_slots(reply, record, &added));
	cr_expect_eq(added.count, 0);
}

/* Garbage anywhere, even after good ranges or in a replica: false, and add() never called. */
Test(topology_slots, garbage_is_refused_and_adds_nothing) {
	char long_host[300];
	memset(long_host, 'h', 256);
	long_host[256] = '\0';
	for (int which = 0;; which++) {
		struct tree t = {0};
		redisReply *good = ARRAY(&t, integer(&t, 0), integer(&t, 100),
			slot_node(&t, "10.0.0.1", 7000, "id1"),
			slot_node(&t, "10.0.0.2", 7001, "id2"));
		redisReply *bad;
		const char *what;
		switch (which) {
		case 0:
			what = "a string, not an array";
			bad = bulk(&t, "CLUSTER SLOTS");
			break;
		case 1:
			what = "an error reply";
			bad = error_reply(&t, "ERR This instance has cluster support disabled");
			break;
		case 2:
			what = "nil";
			bad = nil(&t);
			break;
		case 3:
			what = "an integer";
			bad = integer(&t, 3);
			break;
		case 4:
			what = "a status";
			bad = status(&t, "OK");
			break;
		case 5:
			what = "a range that is not an array";
			bad = ARRAY(&t, good, integer(&t, 1));
			break;
		case 6:
			what = "a range with no master";
			bad = ARRAY(&t, good, ARRAY(&t, integer(&t, 0), integer(&t, 100)));
			break;
		case 7:
			what = "a range with one element";
			bad = ARRAY(&t, good, ARRAY(&t, integer(&t, 0)));
			break;
		case 8:
			what = "an empty range";
			bad = ARRAY(&t, good, array_of(&t, NULL, 0));
			break;
		case 9:
			what = "a start that is a string";
			bad = ARRAY(&t, good,
				ARRAY(&t, bulk(&t, "0"), integer(&t, 100),
					slot_node(&t, "a", 1, "x")));
			break;
		case 10:
			what = "an end that is nil";
			bad = ARRAY(&t, good,
				ARRAY(&t, integer(&t, 0), nil(&t), slot_node(&t, "a", 1, "x")));
			break;
		case 11:
			what = "a port that is a string";
			bad = ARRAY(&t, good,
				ARRAY(&t, integer(&t, 0), integer(&t, 1),
					ARRAY(&t, bulk(&t, "a"), bulk(&t, "7000"), bulk(&t, "x"))));
			break;
		case 12:
			what = "port 0";
			bad = ARRAY(&t, good,
				ARRAY(&t, integer(&t, 0), integer(&t, 1),
					slot_node(&t, "a", 0, "x")));
			break;
		case 13:
			what = "a negative port";
			bad = ARRAY(&t, good,
				ARRAY(&t, integer(&t, 0), integer(&t, 1),
					slot_node(&t, "a", -1, "x")));
			break;
		case 14:
			what = "port 65536";
			bad = ARRAY(&t, good,
				ARRAY(&t, integer(&t, 0), integer(&t, 1),
					slot_node(&t, "a", 65536, "x")));
			break;
		case 15:
			what = "a port past 32 bits";
			bad = ARRAY(&t, good,
				ARRAY(&t, integer(&t, 0), integer(&t, 1),
					slot_node(&t, "a", 4294967296LL + 7000, "x")));
			break;
		case 16:
			what = "a node with only a host";
			bad = ARRAY(&t, good,
				ARRAY(&t, integer(&t, 0), integer(&t, 1),
					ARRAY(&t, bulk(&t, "a"))));
			break;
		case 17:
			what = "a node that is a string";
			bad = ARRAY(&t, good,
				ARRAY(&t, integer(&t, 0), integer(&t, 1), bulk(&t, "a:7000")));
			break;
		case 18:
			what = "a host that is an integer";
			bad = ARRAY(&t, good,
				ARRAY(&t, integer(&t, 0), integer(&t, 1),
					ARRAY(&t, integer(&t, 10), integer(&t, 7000))));
			break;
		case 19:
			what = "a 256-byte host";
			bad = ARRAY(&t, good,
				ARRAY(&t, integer(&t, 0), integer(&t, 1),
					slot_node(&t, long_host, 7000, "x")));
			break;
		case 20:
			what = "a good master with a bad replica";
			bad = ARRAY(&t, good,
				ARRAY(&t, integer(&t, 0), integer(&t, 1),
					slot_node(&t, "a", 1, "x"), slot_node(&t, "b", 0, "y")));
			break;
		case 21:
			what = "a bad range before a good one";
			bad = ARRAY(&t, ARRAY(&t, integer(&t, 0)), good);
			break;
		default:
			return;
		}
		struct added added = {0};
		cr_expect_not(topology_decode_slots(bad, record, &added), "%s: accepted", what);
		cr_expect_eq(added.count, 0, "%s: add() called %zu times", what, added.count);
		cr_expect_not(topology_decode_masters(bad, record, &added), "%s: masters accepted",
			what);
		cr_expect_eq(added.count, 0, "%s: masters: add() called %zu times", what,
			added.count);
	}
}

/* ---- the masters of CLUSTER SLOTS ------------------------------------------------------- */

/* Each master once, at its first range, and no replica; a master serving several ranges
 * (after a resharding) is not asked twice. */
Test(topology_masters, each_master_once_in_order_without_replicas) {
	struct tree t = {0};
	redisReply *reply = ARRAY(&t,
		ARRAY(&t, integer(&t, 0), integer(&t, 99), slot_node(&t, "10.0.0.2", 7001, "id2"),
			slot_node(&t, "10.0.0.5", 7004, "id5")),
		ARRAY(&t, integer(&t, 100), integer(&t, 5460),
			slot_node(&t, "10.0.0.1", 7000, "id1"), slot_node(&t, "10.0.0.4", 7003, "id4")),
		ARRAY(&t, integer(&t, 5461), integer(&t, 10922),
			slot_node(&t, "10.0.0.2", 7001, "id2"), slot_node(&t, "10.0.0.5", 7004, "id5")),
		ARRAY(&t, integer(&t, 10923), integer(&t, 16000),
			slot_node(&t, "10.0.0.3", 7002, "id3")),
		ARRAY(&t, integer(&t, 16001), integer(&t, 16383),
			slot_node(&t, "10.0.0.1", 7000, "id1")));
	struct added added = {0};
	cr_assert(topology_decode_masters(reply, record, &added));
	cr_assert_eq(added.count, 3, "want 3 masters, got %zu", added.count);
	expect_added(&added, 0, "10.0.0.2", 7001);
	expect_added(&added, 1, "10.0.0.1", 7000);
	expect_added(&added, 2, "10.0.0.3", 7002);
}

/* The same host on another port is another master; a host differing only in case is the
 * same one; a nil host (Redis 7's unknown endpoint) comes as empty, for the caller. */
Test(topology_masters, addresses_compared_by_host_and_port) {
	struct tree t = {0};
	redisReply *reply = ARRAY(&t,
		ARRAY(&t, integer(&t, 0), integer(&t, 1), slot_node(&t, "node-a", 7000, "a")),
		ARRAY(&t, integer(&t, 2), integer(&t, 3), slot_node(&t, "node-a", 7001, "b")),
		ARRAY(&t, integer(&t, 4), integer(&t, 5), slot_node(&t, "NODE-A", 7000, "a")),
		ARRAY(&t, integer(&t, 6), integer(&t, 7),
			ARRAY(&t, nil(&t), integer(&t, 7002), bulk(&t, "c"))));
	struct added added = {0};
	cr_assert(topology_decode_masters(reply, record, &added));
	cr_assert_eq(added.count, 3, "want 3 masters, got %zu", added.count);
	expect_added(&added, 0, "node-a", 7000);
	expect_added(&added, 1, "node-a", 7001);
	expect_added(&added, 2, "", 7002);
}

/* A cluster whose slots are not assigned yet has no master to ask. */
Test(topology_masters, no_range_no_master) {
	struct tree t = {0};
	struct added added = {0};
	cr_expect(topology_decode_masters(array_of(&t, NULL, 0), record, &added));
	cr_expect_eq(added.count, 0);
}

Test(topology_masters, not_a_cluster) {
	static const char *const standalone[] = {
		"ERR This instance has cluster support disabled",
		"ERR unknown command 'CLUSTER', with args beginning with: 'SLOTS' ",
		"ERR unknown command",
	};
	static const char *const others[] = {
		"",
		"NOPERM this user has no permissions to run the 'cluster|slots' command",
		"CLUSTERDOWN The cluster is down",
		"LOADING Redis is loading the dataset in memory",
		"ERR unknown subcommand 'SLOTS'. Try CLUSTER HELP.",
		"NOAUTH Authentication required.",
		"cluster support disabled",
		"ERRunknown command",
	};
	for (size_t i = 0; i < sizeof(standalone) / sizeof(standalone[0]); i++) {
		cr_expect(topology_not_a_cluster(standalone[i]), "\"%s\"", standalone[i]);
	}
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		cr_expect_not(topology_not_a_cluster(others[i]), "\"%s\"", others[i]);
	}
}

/* ---- ROLE ------------------------------------------------------------------------------- */

Test(topology_role, master) {
	struct tree t = {0};
	cr_expect(topology_decode_role_master(
		ARRAY(&t, bulk(&t, "master"), integer(&t, 0), array_of(&t, NULL, 0))));
	cr_expect(topology_decode_role_master(ARRAY(&t, bulk(&t, "master"), integer(&t, 3129659),
		ARRAY(&t,
			ARRAY(&t, bulk(&t, "127.0.0.1"), bulk(&t, "9001"), bulk(&t, "3129242"))))));
	/* What matters is the first element. */
	cr_expect(topology_decode_role_master(ARRAY(&t, bulk(&t, "master"))));
	cr_expect(topology_decode_role_master(ARRAY(&t, status(&t, "master"), integer(&t, 0))));
}

Test(topology_role, anything_else_is_not_a_master) {
	struct tree t = {0};
	const struct {
		const char *what;
		redisReply *reply;
	} cases[] = {
		{"a replica", ARRAY(&t, bulk(&t, "slave"), bulk(&t, "127.0.0.1"), integer(&t, 9000),
				      bulk(&t, "connected"), integer(&t, 3167038))},
		{"a sentinel", ARRAY(&t, bulk(&t, "sentinel"), ARRAY(&t, bulk(&t, "mymaster")))},
		{"an empty array", array_of(&t, NULL, 0)},
		{"a string", bulk(&t, "master")},
		{"a status", status(&t, "master")},
		{"an error", error_reply(&t, "ERR unknown command 'ROLE'")},
		{"nil", nil(&t)},
		{"an integer", integer(&t, 1)},
		{"an integer role", ARRAY(&t, integer(&t, 1), integer(&t, 0))},
		{"a nil role", ARRAY(&t, nil(&t))},
		{"an array role", ARRAY(&t, ARRAY(&t, bulk(&t, "master")))},
		{"a prefix of master", ARRAY(&t, bulk(&t, "maste"))},
		{"master and more", ARRAY(&t, bulk(&t, "masterx"))},
		{"master and a NUL", ARRAY(&t, bulk_len(&t, "master\0", 7))},
		{"an empty role", ARRAY(&t, bulk(&t, ""))},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_expect_not(topology_decode_role_master(cases[i].reply), "%s: taken for a master",
			cases[i].what);
	}
}

/* ---- SENTINEL GET-MASTER-ADDR-BY-NAME --------------------------------------------------- */

Test(topology_master_address, host_and_port) {
	static const struct {
		const char *host;
		const char *port;
	} cases[] = {
		{"127.0.0.1", "6379"},
		{"10.0.0.7", "1"},
		{"::1", "65535"},
		{"redis-master.example", "7000"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tree t = {0};
		struct topology_address address;
		fill_sentinel(&address, sizeof(address));
		int rc = topology_decode_master_address(
			ARRAY(&t, bulk(&t, cases[i].host), bulk(&t, cases[i].port)), &address);
		cr_expect_eq(rc, 1, "[%s, %s]: %d", cases[i].host, cases[i].port, rc);
		cr_expect_str_eq(address.host, cases[i].host);
		cr_expect_eq((unsigned long)address.port, strtoul(cases[i].port, NULL, 10));
	}
}

Test(topology_master_address, longest_host) {
	char host[256];
	memset(host, 'h', 255);
	host[255] = '\0';
	struct tree t = {0};
	struct topology_address address;
	cr_assert_eq(topology_decode_master_address(
			     ARRAY(&t, bulk(&t, host), bulk(&t, "6379")), &address),
		1);
	cr_expect_str_eq(address.host, host);
}

Test(topology_master_address, nil_means_unknown_master) {
	struct tree t = {0};
	struct topology_address address;
	fill_sentinel(&address, sizeof(address));
	cr_expect_eq(topology_decode_master_address(nil(&t), &address), 0);
	cr_expect(is_sentinel(&address, sizeof(address)), "written for nil");
}

Test(topology_master_address, garbage_is_minus_one_and_writes_nothing) {
	char long_host[300];
	memset(long_host, 'h', 256);
	long_host[256] = '\0';
	struct tree t = {0};
	const struct {
		const char *what;
		redisReply *reply;
	} cases[] = {
		{"a string", bulk(&t, "127.0.0.1:6379")},
		{"a status", status(&t, "OK")},
		{"an error", error_reply(&t, "ERR No such master with that name")},
		{"an integer", integer(&t, 6379)},
		{"an empty array", array_of(&t, NULL, 0)},
		{"a host alone", ARRAY(&t, bulk(&t, "127.0.0.1"))},
		{"3 elements", ARRAY(&t, bulk(&t, "127.0.0.1"), bulk(&t, "6379"), bulk(&t, "x"))},
		{"an integer port", ARRAY(&t, bulk(&t, "127.0.0.1"), integer(&t, 6379))},
		{"a status port", ARRAY(&t, bulk(&t, "127.0.0.1"), status(&t, "6379"))},
		{"a nil port", ARRAY(&t, bulk(&t, "127.0.0.1"), nil(&t))},
		{"an integer host", ARRAY(&t, integer(&t, 1), bulk(&t, "6379"))},
		{"a nil host", ARRAY(&t, nil(&t), bulk(&t, "6379"))},
		{"an array host", ARRAY(&t, ARRAY(&t, bulk(&t, "h")), bulk(&t, "6379"))},
		{"an empty host", ARRAY(&t, bulk(&t, ""), bulk(&t, "6379"))},
		{"a 256-byte host", ARRAY(&t, bulk(&t, long_host), bulk(&t, "6379"))},
		{"a NUL in the host", ARRAY(&t, bulk_len(&t, "a\0b", 3), bulk(&t, "6379"))},
		{"port 0", ARRAY(&t, bulk(&t, "h"), bulk(&t, "0"))},
		{"port 00000", ARRAY(&t, bulk(&t, "h"), bulk(&t, "00000"))},
		{"port abc", ARRAY(&t, bulk(&t, "h"), bulk(&t, "abc"))},
		{"port 99999", ARRAY(&t, bulk(&t, "h"), bulk(&t, "99999"))},
		{"port 65536", ARRAY(&t, bulk(&t, "h"), bulk(&t, "65536"))},
		{"port 123456", ARRAY(&t, bulk(&t, "h"), bulk(&t, "123456"))},
		{"a 30-digit port",
			ARRAY(&t, bulk(&t, "h"), bulk(&t, "000000000000000000000000006379"))},
		{"an empty port", ARRAY(&t, bulk(&t, "h"), bulk(&t, ""))},
		{"port -1", ARRAY(&t, bulk(&t, "h"), bulk(&t, "-1"))},
		{"port +1", ARRAY(&t, bulk(&t, "h"), bulk(&t, "+1"))},
		{"port ' 1'", ARRAY(&t, bulk(&t, "h"), bulk(&t, " 1"))},
		{"port '1 '", ARRAY(&t, bulk(&t, "h"), bulk(&t, "1 "))},
		{"port 1x", ARRAY(&t, bulk(&t, "h"), bulk(&t, "1x"))},
		{"port 0x10", ARRAY(&t, bulk(&t, "h"), bulk(&t, "0x10"))},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct topology_address address;
		fill_sentinel(&address, sizeof(address));
		int rc = topology_decode_master_address(cases[i].reply, &address);
		cr_expect_eq(rc, -1, "%s: %d, want -1", cases[i].what, rc);
		cr_expect(is_sentinel(&address, sizeof(address)), "%s: written", cases[i].what);
	}
}

/* ---- INFO replication ------------------------------------------------------------------- */

struct replicas_case {
	const char *what;
	const char *info;
	int want;
};

Test(topology_replicas, counts_replicas_that_are_online) {
	static const struct replicas_case cases[] = {
		{"one online, one syncing",
			"# Replication\r\n"
			"role:master\r\n"
			"connected_slaves:2\r\n"
			"slave0:ip=127.0.0.1,port=7001,state=online,offset=42,lag=0\r\n"
			"slave1:ip=127.0.0.1,port=7002,state=wait_bgsave,offset=0,lag=0\r\n"
			"master_failover_state:no-failover\r\n",
			1},
		{"two online",
			"# Replication\r\n"
			"role:master\r\n"
			"connected_slaves:2\r\n"
			"slave0:ip=127.0.0.1,port=7001,state=online,offset=42,lag=0\r\n"
			"slave1:ip=127.0.0.1,port=7002,state=online,offset=42,lag=1\r\n"
			"master_failover_state:no-failover\r\n"
			"master_replid:8c0b4c3b0b1d0a9b5c3b5f0e6f7d1e2a3b4c5d6e\r\n"
			"master_repl_offset:42\r\n",
			2},
		{"none online",
			"# Replication\r\n"
			"role:master\r\n"
			"connected_slaves:2\r\n"
			"slave0:ip=127.0.0.1,port=7001,state=wait_bgsave,offset=0,lag=0\r\n"
			"slave1:ip=127.0.0.1,port=7002,state=send_bulk,offset=0,lag=0\r\n",
			0},
		{"no replicas", "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n", 0},
		{"empty text", "", 0},
		{"only line ends", "\r\n\r\n\n", 0},
		/* A replica's own INFO has slave_* fields that are not replicas. */
		{"a replica's INFO",
			"# Replication\r\n"
			"role:slave\r\n"
			"master_host:127.0.0.1\r\n"
			"master_port:7000\r\n"
			"master_link_status:up\r\n"
			"slave_read_only:1\r\n"
			"slave_repl_offset:12345\r\n"
			"slave_priority:100\r\n"
			"slave_read_repl_offset:12345\r\n"
			"connected_slaves:0\r\n",
			0},
		{"slave_read_only with state=online", "slave_read_only:1,state=online,\r\n", 0},
		{"slave_repl_offset with state=online", "slave_repl_offset:state=online,\r\n", 0},
		{"slaves without a number", "slave:ip=a,port=1,state=online,offset=1\r\n", 0},
		{"slaveX", "slaveX:ip=a,port=1,state=online,offset=1\r\n", 0},
		{"a two-digit index",
			"slave10:ip=10.0.0.1,port=7001,state=online,offset=1,lag=0\r\n"
			"slave11:ip=10.0.0.2,port=7002,state=online,offset=1,lag=0\r\n",
			2},
		/* Only the whole field, with its own name. */
		{"state=onlinex", "slave0:ip=a,port=1,state=onlinex,offset=1\r\n", 0},
		{"state=offline", "slave0:ip=a,port=1,state=offline,offset=1\r\n", 0},
		{"xstate=online", "slave0:ip=a,port=1,xstate=online,offset=1\r\n", 0},
		{"state=ONLINE", "slave0:ip=a,port=1,state=ONLINE,offset=1\r\n", 0},
		{"state first", "slave0:state=online,ip=a,port=1\r\n", 1},
		{"state last before CR", "slave0:ip=a,port=1,state=online\r\n", 1},
		{"counted once per line", "slave0:state=online,state=online,\r\n", 1},
		{"bare LF line ends",
			"slave0:ip=a,port=1,state=online,offset=1\nslave1:ip=b,port=2,state=online,"
			"lag=0\n",
			2},
		{"no final line end", "role:master\r\nslave0:ip=a,port=1,state=online,offset=1", 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct replicas_case *c = &cases[i];
		int got = topology_online_replicas(c->info, strlen(c->info));
		cr_expect_eq(got, c->want, "%s: %d, want %d", c->what, got, c->want);
	}
}

/* Only the first `len` bytes count: the text need not end in a NUL. */
Test(topology_replicas, reads_only_len_bytes) {
	static const char info[] = "slave0:ip=a,port=1,state=online,offset=1,lag=0\r\n"
				   "slave1:ip=b,port=2,state=online,offset=1,lag=0\r\n";
	size_t first_line = strlen("slave0:ip=a,port=1,state=online,offset=1,lag=0\r\n");
	cr_expect_eq(topology_online_replicas(info, strlen(info)), 2);
	cr_expect_eq(topology_online_replicas(info, first_line), 1);
	cr_expect_eq(topology_online_replicas(info, first_line + 20), 1, "half a line");
	cr_expect_eq(topology_online_replicas(info, 0), 0);
	cr_expect_eq(topology_online_replicas(info, 6), 0, "\"slave0\" alone");

	/* A copy without the NUL, so that ASan sees any read past `len`. */
	char exact[sizeof(info) - 1];
	memcpy(exact, info, sizeof(exact));
	cr_expect_eq(topology_online_replicas(exact, sizeof(exact)), 2);
	char *cut = exact + first_line;
	cr_expect_eq(topology_online_replicas(cut, strlen("slave1:ip=b,port=2,state=online,")), 1);
}

/* ---- Regressions: a nil endpoint, a NUL in a port --------------------------------------- */

/* Redis 7 with cluster-preferred-endpoint-type unknown-endpoint sends a nil endpoint in
 * CLUSTER SLOTS: "connect to the host you asked, on this port", which is what an empty
 * topology_address host means; conn.c puts in the host it asked. */
Test(topology_slots, nil_endpoint_is_the_answering_host) {
	struct tree t = {0};
	redisReply *reply = ARRAY(&t, ARRAY(&t, integer(&t, 0), integer(&t, 16383),
					      ARRAY(&t, nil(&t), integer(&t, 7000), bulk(&t, "id1"),
						      array_of(&t, NULL, 0)),
					      ARRAY(&t, nil(&t), integer(&t, 7001), bulk(&t, "id2"),
						      array_of(&t, NULL, 0))));
	struct added added = {0};
	cr_assert(topology_decode_slots(reply, record, &added), "a Redis 7 answer refused");
	cr_assert_eq(added.count, 2);
	expect_added(&added, 0, "", 7000);
	expect_added(&added, 1, "", 7001);
}

/* A NUL inside the port string is garbage, as one inside the host is ("1\0" is not
 * port 1). */
Test(topology_master_address, nul_in_the_port_is_garbage) {
	static const struct {
		const char *bytes;
		size_t len;
	} ports[] = {{"1\0", 2}, {"63\00079", 5}, {"\0006379", 5}};
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		struct tree t = {0};
		struct topology_address address;
		fill_sentinel(&address, sizeof(address));
		int rc = topology_decode_master_address(
			ARRAY(&t, bulk(&t, "h"), bulk_len(&t, ports[i].bytes, ports[i].len)),
			&address);
		cr_expect_eq(rc, -1, "port case %zu: %d, want -1", i, rc);
		cr_expect(is_sentinel(&address, sizeof(address)), "port case %zu: written", i);
	}
}
