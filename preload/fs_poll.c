/* Readiness calls on redirected fds. A served regular file or directory is
 * always ready, as the kernel reports for regular files; its reserved kernel
 * fd (O_PATH) would report POLLNVAL or EBADF, so ours are answered here and
 * only the rest reach the kernel. */
#include "preload.h"

#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>

#define OURS(fd) fsc_fd_is_ours(fd)

static short ready_events(short events)
{
	return (short)(events & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM));
}

/* Answers our fds in place, hides them from the kernel (fd -1), returns how
 * many of ours are ready, and whether there were any. */
static int poll_ours(struct pollfd *f, nfds_t n, int *saved, bool *any)
{
	int ready = 0;
	*any = false;
	for (nfds_t i = 0; i < n; i++) {
		saved[i] = f[i].fd;
		if (f[i].fd >= 0 && OURS(f[i].fd)) {
			*any = true;
			f[i].revents = ready_events(f[i].events);
			if (f[i].revents)
				ready++;
			f[i].fd = -1;
		}
	}
	return ready;
}

static int poll_common(struct pollfd *f, nfds_t n, int timeout_ms, const struct timespec *ts, const sigset_t *mask,
		       bool is_ppoll)
{
	if (!fsc_enabled || n > 4096)
		return is_ppoll ? REAL(ppoll)(f, n, ts, mask) : REAL(poll)(f, n, timeout_ms);
	int saved[4096];
	bool any;
	int ours = poll_ours(f, n, saved, &any);
	if (!any)
		return is_ppoll ? REAL(ppoll)(f, n, ts, mask) : REAL(poll)(f, n, timeout_ms);
	struct timespec zero = { 0, 0 };
	int r = is_ppoll ? REAL(ppoll)(f, n, ours ? &zero : ts, mask) : REAL(poll)(f, n, ours ? 0 : timeout_ms);
	int e = errno;
	/* The kernel zeroed revents of the hidden entries: answer them again. */
	for (nfds_t i = 0; i < n; i++) {
		if (f[i].fd == -1 && saved[i] >= 0 && OURS(saved[i]))
			f[i].revents = ready_events(f[i].events);
		f[i].fd = saved[i];
	}
	if (r < 0) {
		errno = e;
		return r;
	}
	return r + ours;
}

SHUNT_EXPORT int poll(struct pollfd *f, nfds_t n, int timeout) { return poll_common(f, n, timeout, NULL, NULL, false); }
SHUNT_EXPORT int __poll_chk(struct pollfd *f, nfds_t n, int timeout, size_t fl)
{
	if (fl / sizeof(*f) < n)
		__builtin_trap();
	return poll(f, n, timeout);
}
SHUNT_EXPORT int ppoll(struct pollfd *f, nfds_t n, const struct timespec *ts, const sigset_t *m)
{
	return poll_common(f, n, 0, ts, m, true);
}

/* select: our fds are ready for reading and writing, never exceptional. */
static int select_ours(int nfds, fd_set *r, fd_set *w, fd_set *x, fd_set *our_r, fd_set *our_w, bool *any)
{
	int ready = 0;
	*any = false;
	FD_ZERO(our_r);
	FD_ZERO(our_w);
	for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++) {
		if (!OURS(fd))
			continue;
		bool in_r = r && FD_ISSET(fd, r), in_w = w && FD_ISSET(fd, w), in_x = x && FD_ISSET(fd, x);
		if (!in_r && !in_w && !in_x)
			continue;
		*any = true;
		if (in_r) {
			FD_SET(fd, our_r);
			FD_CLR(fd, r);
			ready++;
		}
		if (in_w) {
			FD_SET(fd, our_w);
			FD_CLR(fd, w);
			ready++;
		}
		if (in_x)
			FD_CLR(fd, x);
	}
	return ready;
}

static void select_merge(int nfds, fd_set *r, fd_set *w, const fd_set *our_r, const fd_set *our_w)
{
	for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++) {
		if (r && FD_ISSET(fd, our_r))
			FD_SET(fd, r);
		if (w && FD_ISSET(fd, our_w))
			FD_SET(fd, w);
	}
}

SHUNT_EXPORT int select(int nfds, fd_set *r, fd_set *w, fd_set *x, struct timeval *tv)
{
	if (!fsc_enabled)
		return REAL(select)(nfds, r, w, x, tv);
	fd_set our_r, our_w;
	bool any;
	int ours = select_ours(nfds, r, w, x, &our_r, &our_w, &any);
	if (!any)
		return REAL(select)(nfds, r, w, x, tv);
	struct timeval zero = { 0, 0 };
	int n = REAL(select)(nfds, r, w, x, ours ? &zero : tv);
	if (n < 0)
		return n;
	select_merge(nfds, r, w, &our_r, &our_w);
	return n + ours;
}

SHUNT_EXPORT int pselect(int nfds, fd_set *r, fd_set *w, fd_set *x, const struct timespec *ts, const sigset_t *m)
{
	if (!fsc_enabled)
		return REAL(pselect)(nfds, r, w, x, ts, m);
	fd_set our_r, our_w;
	bool any;
	int ours = select_ours(nfds, r, w, x, &our_r, &our_w, &any);
	if (!any)
		return REAL(pselect)(nfds, r, w, x, ts, m);
	struct timespec zero = { 0, 0 };
	int n = REAL(pselect)(nfds, r, w, x, ours ? &zero : ts, m);
	if (n < 0)
		return n;
	select_merge(nfds, r, w, &our_r, &our_w);
	return n + ours;
}

/* epoll refuses regular files with EPERM; so do we. */
SHUNT_EXPORT int epoll_ctl(int ep, int op, int fd, struct epoll_event *ev)
{
	if (OURS(fd) && (op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD))
		return (int)ret_errno(-EPERM);
	if (OURS(fd) && op == EPOLL_CTL_DEL)
		return (int)ret_errno(-ENOENT);
	return REAL(epoll_ctl)(ep, op, fd, ev);
}
