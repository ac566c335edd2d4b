/* Loading rwith's TLS module (rwith-tls.so) on demand, and calling it. The module is looked
 * for next to the rwith executable first (a build tree), then in the directory it is
 * installed to; it must export the table of tls_module.h with this build's ABI. It is never
 * unloaded: OpenSSL registers exit handlers that live in it. */
#include "tls.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "tls_module.h"

struct tls_context {
	const struct tls_module_api *api; /* in the loaded module */
	void *context;                    /* the module's */
};

#if RWITH_HAVE_TLS

/* Candidate `index` (0: next to the executable, 1: the installed module) into path;
 * false when there is no such candidate. */
static bool module_candidate(int index, char *path, size_t size) {
	if (index == 0) {
		char exe[PATH_MAX];
		ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (len <= 0) {
			return module_candidate(1, path, size);
		}
		exe[len] = '\0';
		char *slash = strrchr(exe, '/');
		*slash = '\0';
		return !error_format(path, size, "%s/%s", exe, RWITH_TLS_MODULE_NAME);
	}
	if (index == 1) {
		return !error_format(path, size, "%s/%s", RWITH_TLS_MODULE_DIR, RWITH_TLS_MODULE_NAME);
	}
	return false;
}

bool tls_module_find(char *path, size_t size) {
	for (int i = 0; module_candidate(i, path, size); i++) {
		if (access(path, R_OK) == 0) {
			return true;
		}
	}
	return false;
}

static const struct tls_module_api *load_module(struct rw_error *err) {
	char path[PATH_MAX + 64];
	if (!tls_module_find(path, sizeof(path))) {
		error_set(err, RW_ERROR_SERVER, "rwith's TLS module is not installed (looked for %s)",
			path);
		err->hint = "reinstall rwith with its TLS module, or use a redis:// URL";
		return NULL;
	}
	/* RTLD_LOCAL: OpenSSL's symbols stay out of rwith's namespace. */
	void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	const char *why = handle == NULL ? dlerror() : NULL;
	const struct tls_module_api *api = handle ? dlsym(handle, TLS_MODULE_SYMBOL) : NULL;
	if (api == NULL || api->abi != TLS_MODULE_ABI) {
		error_set(err, RW_ERROR_SERVER, "cannot load rwith's TLS module %s: %s", path,
			why ? why : (api ? "it belongs to another version of rwith"
					 : "it is not rwith's TLS module"));
		err->hint = "install OpenSSL and hiredis_ssl (libssl3, libhiredis1.1.0), or reinstall "
			    "rwith";
		return NULL;
	}
	return api;
}

int tls_context_create(const char *ca_file, struct tls_context **ret, struct rw_error *err) {
	const struct tls_module_api *api = load_module(err);
	if (api == NULL) {
		return -1;
	}
	struct tls_context *tls = calloc(1, sizeof(*tls));
	if (tls == NULL) {
		return error_set(err, RW_ERROR_INTERNAL, "out of memory setting up TLS");
	}
	tls->api = api;
	if (api->context_create(ca_file, &tls->context, err) < 0) {
		free(tls);
		return -1;
	}
	*ret = tls;
	return 0;
}

void tls_context_destroy(struct tls_context *tls) {
	if (tls == NULL) {
		return;
	}
	tls->api->context_destroy(tls->context);
	free(tls);
}

int tls_start(const struct tls_context *tls, redisAsyncContext *ac, const char *host,
	void **ret_session, struct rw_error *err) {
	if (tls == NULL) {
		return error_set(err, RW_ERROR_INTERNAL, "TLS was not set up for host '%s'", host);
	}
	return tls->api->start(tls->context, ac, host, ret_session, err);
}

bool tls_describe_failure(const struct tls_context *tls, void *session, char *buf, size_t size) {
	return tls != NULL && session != NULL && tls->api->describe_failure(session, buf, size);
}

bool tls_handshake_pending(const struct tls_context *tls, void *session) {
	return tls != NULL && session != NULL && tls->api->handshake_pending(session);
}

void tls_clear_errors(const struct tls_context *tls) {
	if (tls != NULL) {
		tls->api->clear_errors();
	}
}

#else /* !RWITH_HAVE_TLS */

static int not_built_in(struct rw_error *err) {
	return error_set(err, RW_ERROR_USAGE,
		"this rwith was built without TLS support, so it cannot use a rediss:// server");
}

bool tls_module_find(char *path, size_t size) {
	if (size > 0) {
		path[0] = '\0';
	}
	return false;
}

int tls_context_create(const char *ca_file, struct tls_context **ret, struct rw_error *err) {
	(void)ca_file;
	(void)ret;
	return not_built_in(err);
}

void tls_context_destroy(struct tls_context *tls) {
	(void)tls;
}

int tls_start(const struct tls_context *tls, redisAsyncContext *ac, const char *host,
	void **ret_session, struct rw_error *err) {
	(void)tls;
	(void)ac;
	(void)host;
	(void)ret_session;
	return not_built_in(err);
}

bool tls_describe_failure(const struct tls_context *tls, void *session, char *buf, size_t size) {
	(void)tls;
	(void)session;
	(void)buf;
	(void)size;
	return false;
}

bool tls_handshake_pending(const struct tls_context *tls, void *session) {
	(void)tls;
	(void)session;
	return false;
}

void tls_clear_errors(const struct tls_context *tls) {
	(void)tls;
}

#endif
