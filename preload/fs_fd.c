/* Interposers of fd-table calls: dup/dup2/dup3, fcntl, flock, lockf. */
#include "preload.h"

#include <fcntl.h>
#include <stdarg.h>
#include <sys/file.h>
#include <unistd.h>

#define OURS(fd) fsc_fd_is_ours(fd)

SHUNT_EXPORT int dup(int fd) { return OURS(fd) ? (int)ret_errno(fsc_dup(fd, 0, 0, false)) : REAL(dup)(fd); }

SHUNT_EXPORT int dup3(int o, int n, int fl)
{
	if (OURS(o)) {
		if (o == n)
			return (int)ret_errno(-EINVAL);
		if (fl & ~O_CLOEXEC)
			return (int)ret_errno(-EINVAL);
		return (int)ret_errno(fsc_dup(o, n, fl, true));
	}
	int r = REAL(dup3)(o, n, fl);
	if (r >= 0 && OURS(n))
		fsc_forget_fd(n);
	return r;
}

SHUNT_EXPORT int dup2(int o, int n)
{
	if (OURS(o))
		return (int)ret_errno(fsc_dup(o, n, 0, true));
	int r = REAL(dup2)(o, n);
	if (r >= 0 && o != n && OURS(n))
		fsc_forget_fd(n);
	return r;
}

/* large: the caller was fcntl64, forwarded to fcntl64. */
static int fcntl_common(int fd, int cmd, long arg, bool large)
{
	if (OURS(fd))
		return (int)ret_errno(fsc_fcntl(fd, cmd, arg));
	return large ? REAL(fcntl64)(fd, cmd, arg) : REAL(fcntl)(fd, cmd, arg);
}

SHUNT_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	return fcntl_common(fd, cmd, arg, false);
}
SHUNT_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	return fcntl_common(fd, cmd, arg, true);
}

SHUNT_EXPORT int flock(int fd, int op) { return OURS(fd) ? (int)ret_errno(fsc_flock(fd, op)) : REAL(flock)(fd, op); }

SHUNT_EXPORT int lockf(int fd, int cmd, off_t len)
{
	if (!OURS(fd))
		return REAL(lockf)(fd, cmd, len);
	struct flock fl = { .l_whence = SEEK_CUR, .l_start = 0, .l_len = len };
	switch (cmd) {
	case F_ULOCK:
		fl.l_type = F_UNLCK;
		return fcntl(fd, F_SETLK, &fl);
	case F_LOCK:
		fl.l_type = F_WRLCK;
		return fcntl(fd, F_SETLKW, &fl);
	case F_TLOCK:
		fl.l_type = F_WRLCK;
		return fcntl(fd, F_SETLK, &fl);
	case F_TEST:
		fl.l_type = F_WRLCK;
		if (fcntl(fd, F_GETLK, &fl) < 0)
			return -1;
		if (fl.l_type == F_UNLCK || fl.l_pid == getpid())
			return 0;
		errno = EACCES;
		return -1;
	default:
		errno = EINVAL;
		return -1;
	}
}
SHUNT_EXPORT int lockf64(int fd, int cmd, off_t len) { return lockf(fd, cmd, len); }
