/* The interface between rwith and its TLS module (tls_openssl.c, built as rwith-tls.so):
 * one exported table of functions, named rwith_tls_module. tls.c loads the module with
 * dlopen only when a URL asks for TLS; the module links OpenSSL and hiredis_ssl, rwith
 * itself links neither. TLS_MODULE_ABI changes whenever this table or struct rw_error
 * changes, so a module from another build is refused rather than called. */
#ifndef RWITH_TLS_MODULE_H
#define RWITH_TLS_MODULE_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/async.h>

#include "compiler.h"
#include "error.h"

#define TLS_MODULE_ABI 1
#define TLS_MODULE_SYMBOL "rwith_tls_module"

/* The functions of tls.h, on the module's own context (opaque to rwith). */
struct tls_module_api {
	int abi; /* TLS_MODULE_ABI */
	int (*context_create)(const char *ca_file, void **ret, struct rw_error *err);
	void (*context_destroy)(void *context);
	int (*start)(void *context, redisAsyncContext *ac, const char *host, void **ret_session,
		struct rw_error *err);
	bool (*describe_failure)(void *session, char *buf, size_t size);
	bool (*handshake_pending)(void *session);
	void (*clear_errors)(void);
};

#endif
