/* TLS for rediss:// servers: one OpenSSL context per run that verifies the server's
 * certificate chain (against --tls-ca, or the system's trust store) and its host name.
 * OpenSSL lives in rwith's TLS module (rwith-tls.so, see tls_module.h), which
 * tls_context_create loads: a run without a TLS URL never loads it. In a build without TLS
 * the functions exist but only report that TLS is not built in. */
#ifndef RWITH_TLS_H
#define RWITH_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/async.h>

#include "error.h"

struct tls_context;

/* What to do about a failed TLS connection. */
#define TLS_FAILURE_HINT                                                                       \
	"check the host name in the URL, the CA bundle (--tls-ca), and that the port speaks TLS"

/* Loads the TLS module, then the trust anchors: the PEM bundle ca_file, or the system's
 * default trust store when ca_file is NULL. A bundle that cannot be loaded is a usage
 * error; a module that cannot be loaded is a server error (exit 69) that names it. */
int tls_context_create(const char *ca_file, struct tls_context **ret, struct rw_error *err);

/* Accepts NULL. */
void tls_context_destroy(struct tls_context *tls);

/* Puts ac's socket (connecting or connected, nothing sent yet) under TLS, to be verified
 * for `host` (a DNS name or an IP address). The handshake runs with the first command.
 * On success the TLS session belongs to hiredis and *ret_session stays valid, for
 * tls_describe_failure, until ac is freed. On failure ac holds hiredis's error and must be
 * freed. */
int tls_start(const struct tls_context *tls, redisAsyncContext *ac, const char *host,
	void **ret_session, struct rw_error *err);

/* Why a TLS session failed, when TLS knows (a certificate that does not verify, a
 * handshake error); false when it knows nothing, e.g. the peer just closed. */
bool tls_describe_failure(const struct tls_context *tls, void *session, char *buf, size_t size);

/* True while the session's handshake has not finished. */
bool tls_handshake_pending(const struct tls_context *tls, void *session);

/* Empties this thread's OpenSSL error queue, which must be empty before each TLS read or
 * write (hiredis clears it only before the handshake). Accepts NULL (then does nothing). */
void tls_clear_errors(const struct tls_context *tls);

/* Where the TLS module is: true with its path when this build has TLS and the file is
 * there; false otherwise, with the path looked for last (empty without TLS). For
 * --version; loads nothing. */
bool tls_module_find(char *path, size_t size);

#endif
