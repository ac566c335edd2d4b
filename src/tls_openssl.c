/* TLS for rediss:// servers, on OpenSSL and hiredis_ssl: rwith's TLS module, built as a
 * shared module of its own and loaded (tls.c) only when a URL asks for TLS, so that a run
 * against redis:// never pays for loading and initialising OpenSSL. hiredis's own context
 * helper sets SNI but checks no host name, so the SSL_CTX and each session are made here,
 * where the host name check (SSL_set1_host, or the IP address for a numeric host) is set up.
 * The module shares no state with rwith but what passes through tls_module_api. */
#include "tls_module.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <hiredis/hiredis_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h" /* TLS_FAILURE_HINT */

struct openssl_context {
	SSL_CTX *ssl_ctx;
};

/* The most specific reason OpenSSL has queued, or `fallback` (which may be NULL). Empties
 * the queue. */
static const char *openssl_reason(const char *fallback) {
	unsigned long code = ERR_peek_last_error();
	const char *reason = code ? ERR_reason_error_string(code) : NULL;
	ERR_clear_error();
	return reason ? reason : fallback;
}

static void context_destroy(void *context);
static bool describe_failure(void *session, char *buf, size_t size);

static int context_create(const char *ca_file, void **ret, struct rw_error *err) {
	ERR_clear_error();
	struct openssl_context *tls = calloc(1, sizeof(*tls));
	if (tls == NULL) {
		return error_set(err, RW_ERROR_INTERNAL, "out of memory setting up TLS");
	}
	tls->ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (tls->ssl_ctx == NULL) {
		free(tls);
		return error_set(err, RW_ERROR_INTERNAL, "cannot set up TLS: %s",
			openssl_reason("SSL_CTX_new failed"));
	}
	(void)SSL_CTX_set_min_proto_version(tls->ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(tls->ssl_ctx, SSL_VERIFY_PEER, NULL);
	int loaded = ca_file != NULL ? SSL_CTX_load_verify_locations(tls->ssl_ctx, ca_file, NULL)
				     : SSL_CTX_set_default_verify_paths(tls->ssl_ctx);
	if (loaded != 1) {
		/* OpenSSL names a missing file only as "system lib". */
		const char *reason = ca_file != NULL && access(ca_file, R_OK) < 0
			? strerror(errno) : openssl_reason("no certificates found");
		context_destroy(tls);
		if (ca_file == NULL) {
			return error_set(err, RW_ERROR_SERVER,
				"cannot load the system's trusted CA certificates: %s", reason);
		}
		error_set(err, RW_ERROR_USAGE,
			"cannot load CA certificates from '%s' (--tls-ca or $RWITH_TLS_CA): %s", ca_file,
			reason);
		err->hint = "give --tls-ca (or $RWITH_TLS_CA) a readable PEM file of CA certificates";
		return -1;
	}
	*ret = tls;
	return 0;
}

static void context_destroy(void *context) {
	struct openssl_context *tls = context;
	if (tls == NULL) {
		return;
	}
	SSL_CTX_free(tls->ssl_ctx);
	free(tls);
}

static bool is_ip_address(const char *host) {
	unsigned char addr[16];
	return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

/* The name to verify: a DNS name (also sent as SNI), or an IP address. */
static int expect_host(SSL *ssl, const char *host) {
	if (is_ip_address(host)) {
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1 ? 0 : -1;
	}
	if (SSL_set_tlsext_host_name(ssl, host) != 1) {
		return -1;
	}
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return SSL_set1_host(ssl, host) == 1 ? 0 : -1;
}

static int start(void *context, redisAsyncContext *ac, const char *host, void **ret_session,
	struct rw_error *err) {
	const struct openssl_context *tls = context;
	if (tls == NULL) {
		return error_set(err, RW_ERROR_INTERNAL, "TLS was not set up for host '%s'", host);
	}
	ERR_clear_error();
	SSL *ssl = SSL_new(tls->ssl_ctx);
	if (ssl == NULL) {
		return error_set(err, RW_ERROR_INTERNAL, "cannot start TLS: %s",
			openssl_reason("SSL_new failed"));
	}
	if (expect_host(ssl, host) < 0) {
		SSL_free(ssl);
		return error_set(err, RW_ERROR_USAGE, "cannot verify TLS for host '%s': %s", host,
			openssl_reason("not a valid host name"));
	}
	/* On success hiredis owns ssl and frees it with the context; on failure we do. A
	 * loopback handshake may already have run (and failed) inside this call. */
	if (redisInitiateSSL(&ac->c, ssl) != REDIS_OK) {
		char why[256];
		/* When TLS itself has no reason, the TCP connection failed (refused, say). */
		bool tls_reason = describe_failure(ssl, why, sizeof(why));
		if (!tls_reason) {
			(void)error_format(why, sizeof(why), "%s",
				ac->c.errstr[0] ? ac->c.errstr : "TLS handshake failed");
		}
		SSL_free(ssl);
		error_set(err, RW_ERROR_SERVER, "%s", why);
		err->hint = tls_reason ? TLS_FAILURE_HINT : NULL;
		return -1;
	}
	*ret_session = ssl;
	return 0;
}

static bool describe_failure(void *session, char *buf, size_t size) {
	SSL *ssl = session;
	if (ssl == NULL) {
		return false;
	}
	long verify = SSL_get_verify_result(ssl);
	if (verify != X509_V_OK) {
		ERR_clear_error();
		(void)error_format(buf, size, "the server's TLS certificate was refused: %s",
			X509_verify_cert_error_string(verify));
		return true;
	}
	const char *reason = openssl_reason(NULL);
	if (reason == NULL) {
		return false;
	}
	(void)error_format(buf, size, "TLS failed: %s", reason);
	return true;
}

static bool handshake_pending(void *session) {
	return session != NULL && !SSL_is_init_finished((SSL *)session);
}

static void clear_errors(void) {
	ERR_clear_error();
}

/* The module's one exported symbol (see tls_module.h). */
RW_EXPORT const struct tls_module_api rwith_tls_module = {
	.abi = TLS_MODULE_ABI,
	.context_create = context_create,
	.context_destroy = context_destroy,
	.start = start,
	.describe_failure = describe_failure,
	.handshake_pending = handshake_pending,
	.clear_errors = clear_errors,
};

