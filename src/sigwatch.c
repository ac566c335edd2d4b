/* Signals as events on the event loop, read from one signalfd (see sigwatch.h). */
#include "sigwatch.h"

#include <errno.h>
#include <sys/signalfd.h>
#include <unistd.h>

static void on_readable(uv_poll_t *handle, int status, int events) {
	struct sigwatch *watch = handle->data;
	struct signalfd_siginfo info;
	/* A bounded loop: each read takes one pending signal, and there are at most 64 kinds. */
	for (int i = 0; i < 64 && watch->fd >= 0; i++) {
		ssize_t n = read(watch->fd, &info, sizeof(info));
		if (n != (ssize_t)sizeof(info)) {
			return; /* EAGAIN: nothing more pending (or EINTR: the loop comes back) */
		}
		watch->cb(watch, (int)info.ssi_signo, watch->data);
	}
}

int sigwatch_start(struct sigwatch *watch, uv_loop_t *loop, const sigset_t *set,
	sigwatch_cb *cb, void *data) {
	watch->fd = -1;
	watch->cb = cb;
	watch->data = data;
	if (sigprocmask(SIG_BLOCK, set, NULL) < 0) {
		return -errno;
	}
	int fd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	int rc = uv_poll_init(loop, &watch->poll, fd);
	if (rc < 0) {
		(void)close(fd);
		return rc;
	}
	watch->poll.data = watch;
	watch->fd = fd;
	/* Should this fail, the handle stays open for sigwatch_close, like a working one. */
	return uv_poll_start(&watch->poll, UV_READABLE, on_readable);
}

void sigwatch_close(struct sigwatch *watch, uv_close_cb closed) {
	if (watch->fd < 0) {
		return;
	}
	/* uv_close stops the polling at once, so the descriptor may go now. */
	uv_close((uv_handle_t *)&watch->poll, closed);
	(void)close(watch->fd);
	watch->fd = -1;
}
