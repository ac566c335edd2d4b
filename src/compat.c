/* hiredis version differences: connecting, and bounding what a reply may allocate. */
#include "compat.h"

redisAsyncContext *compat_async_connect(const struct rw_endpoint *ep) {
	if (ep->kind == ENDPOINT_UNIX) {
		return redisAsyncConnectUnix(ep->path);
	}
	return redisAsyncConnect(ep->host, ep->port);
}

int compat_async_fd(const redisAsyncContext *ac) {
	return ac->c.fd < 0 ? -1 : (int)ac->c.fd;
}

#if COMPAT_HIREDIS_1X
typedef size_t compat_elements;
#else
typedef int compat_elements;
#endif

/* hiredis's own createArray, taken from the first reader bounded: the same function for
 * every reader, so this never changes once set. */
static void *(*default_create_array)(const redisReadTask *, compat_elements);

static void *bounded_create_array(const redisReadTask *task, compat_elements elements) {
	if ((long long)elements > COMPAT_MAX_ARRAY_ELEMENTS) {
		return NULL; /* hiredis reports "Out of memory": the connection breaks */
	}
	return default_create_array(task, elements);
}

void compat_bound_reader(redisReader *reader) {
	static redisReplyObjectFunctions bounded;
	if (reader == NULL || reader->fn == NULL || reader->fn == &bounded) {
		return;
	}
	if (default_create_array == NULL) {
		bounded = *reader->fn;
		default_create_array = bounded.createArray;
		bounded.createArray = bounded_create_array;
	}
	reader->fn = &bounded;
#if COMPAT_HIREDIS_1X
	reader->maxelements = COMPAT_MAX_ARRAY_ELEMENTS;
#endif
}
