/* hiredis version differences: connecting. */
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
