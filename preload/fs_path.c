/* Interposers of the calls that take a path: open and friends, the stat
 * family (including the __xstat entry points older binaries call), access,
 * truncate, unlink, rename, mkdir, links, attributes, cwd, statfs, realpath. */
#include "preload.h"

#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>
#include <utime.h>

#define OURS(fd) fsc_fd_is_ours(fd)
#define NEEDS_MODE(f) (((f) & O_CREAT) || ((f) & O_TMPFILE) == O_TMPFILE)

/* large: the caller was an ...64 entry point, forwarded to openat64. */
static int open_common(int dirfd, const char *path, int flags, mode_t mode, bool large)
{
	char rel[PATH_MAX];
	RESOLVE_OR_FAIL(dirfd, path, rel);
	if (res_)
		return (int)ret_errno(fsc_open(rel, flags, mode));
	return large ? REAL(openat64)(dirfd, path, flags, mode) : REAL(openat)(dirfd, path, flags, mode);
}

#define OPEN_MODE(flags, mode)                   \
	mode_t mode = 0;                         \
	if (NEEDS_MODE(flags)) {                 \
		va_list ap;                      \
		va_start(ap, flags);             \
		mode = (mode_t)va_arg(ap, int);  \
		va_end(ap);                      \
	}

SHUNT_EXPORT int open(const char *p, int flags, ...) { OPEN_MODE(flags, mode); return open_common(AT_FDCWD, p, flags, mode, false); }
SHUNT_EXPORT int open64(const char *p, int flags, ...) { OPEN_MODE(flags, mode); return open_common(AT_FDCWD, p, flags, mode, true); }
SHUNT_EXPORT int openat(int d, const char *p, int flags, ...) { OPEN_MODE(flags, mode); return open_common(d, p, flags, mode, false); }
SHUNT_EXPORT int openat64(int d, const char *p, int flags, ...) { OPEN_MODE(flags, mode); return open_common(d, p, flags, mode, true); }
SHUNT_EXPORT int __open_2(const char *p, int flags) { return open_common(AT_FDCWD, p, flags, 0, false); }
SHUNT_EXPORT int __open64_2(const char *p, int flags) { return open_common(AT_FDCWD, p, flags, 0, true); }
SHUNT_EXPORT int __openat_2(int d, const char *p, int flags) { return open_common(d, p, flags, 0, false); }
SHUNT_EXPORT int __openat64_2(int d, const char *p, int flags) { return open_common(d, p, flags, 0, true); }
SHUNT_EXPORT int creat(const char *p, mode_t m) { return open_common(AT_FDCWD, p, O_WRONLY | O_CREAT | O_TRUNC, m, false); }
SHUNT_EXPORT int creat64(const char *p, mode_t m) { return open_common(AT_FDCWD, p, O_WRONLY | O_CREAT | O_TRUNC, m, true); }

/* ---- stat ---- */

static int stat_at(int d, const char *p, struct stat *st, int flags)
{
	if ((flags & AT_EMPTY_PATH) && p && !p[0]) {
		if (d == AT_FDCWD && fsc_cwd_is_virtual()) {
			return (int)ret_errno(fsc_stat(".", st, flags)) ;
		}
		if (OURS(d))
			return (int)ret_errno(fsc_fstat(d, st));
		return REAL(fstatat)(d, p, st, flags);
	}
	char rel[PATH_MAX];
	RESOLVE_OR_FAIL(d, p, rel);
	if (res_)
		return (int)ret_errno(fsc_stat(rel, st, flags));
	return REAL(fstatat)(d, p, st, flags);
}

SHUNT_EXPORT int stat(const char *p, struct stat *st) { return stat_at(AT_FDCWD, p, st, 0); }
SHUNT_EXPORT int stat64(const char *p, struct stat64 *st) { return stat_at(AT_FDCWD, p, (struct stat *)st, 0); }
SHUNT_EXPORT int lstat(const char *p, struct stat *st) { return stat_at(AT_FDCWD, p, st, AT_SYMLINK_NOFOLLOW); }
SHUNT_EXPORT int lstat64(const char *p, struct stat64 *st) { return stat_at(AT_FDCWD, p, (struct stat *)st, AT_SYMLINK_NOFOLLOW); }
SHUNT_EXPORT int fstatat(int d, const char *p, struct stat *st, int f) { return stat_at(d, p, st, f); }
SHUNT_EXPORT int fstatat64(int d, const char *p, struct stat64 *st, int f) { return stat_at(d, p, (struct stat *)st, f); }
SHUNT_EXPORT int fstat(int fd, struct stat *st) { return OURS(fd) ? (int)ret_errno(fsc_fstat(fd, st)) : REAL(fstat)(fd, st); }
SHUNT_EXPORT int fstat64(int fd, struct stat64 *st) { return fstat(fd, (struct stat *)st); }
SHUNT_EXPORT int __xstat(int v, const char *p, struct stat *st) { (void)v; return stat(p, st); }
SHUNT_EXPORT int __xstat64(int v, const char *p, struct stat64 *st) { (void)v; return stat64(p, st); }
SHUNT_EXPORT int __lxstat(int v, const char *p, struct stat *st) { (void)v; return lstat(p, st); }
SHUNT_EXPORT int __lxstat64(int v, const char *p, struct stat64 *st) { (void)v; return lstat64(p, st); }
SHUNT_EXPORT int __fxstat(int v, int fd, struct stat *st) { (void)v; return fstat(fd, st); }
SHUNT_EXPORT int __fxstat64(int v, int fd, struct stat64 *st) { (void)v; return fstat64(fd, st); }
SHUNT_EXPORT int __fxstatat(int v, int d, const char *p, struct stat *st, int f) { (void)v; return stat_at(d, p, st, f); }
SHUNT_EXPORT int __fxstatat64(int v, int d, const char *p, struct stat64 *st, int f) { (void)v; return stat_at(d, p, (struct stat *)st, f); }

SHUNT_EXPORT int statx(int d, const char *p, int f, unsigned mask, struct statx *stx)
{
	if ((f & AT_EMPTY_PATH) && p && !p[0] && OURS(d))
		return (int)ret_errno(fsc_statx(d, NULL, f, mask, stx));
	char rel[PATH_MAX];
	RESOLVE_OR_FAIL(d, p, rel);
	if (res_)
		return (int)ret_errno(fsc_statx(-1, rel, f, mask, stx));
	return REAL(statx)(d, p, f, mask, stx);
}

/* ---- access, truncate, unlink, rename, mkdir ---- */

SHUNT_EXPORT int faccessat(int d, const char *p, int m, int f)
{
	char rel[PATH_MAX];
	RESOLVE_OR_FAIL(d, p, rel);
	if (res_)
		return (int)ret_errno(fsc_access(rel, m, f));
	return REAL(faccessat)(d, p, m, f);
}
SHUNT_EXPORT int access(const char *p, int m) { return faccessat(AT_FDCWD, p, m, 0); }
SHUNT_EXPORT int euidaccess(const char *p, int m) { return faccessat(AT_FDCWD, p, m, AT_EACCESS); }
SHUNT_EXPORT int eaccess(const char *p, int m) { return faccessat(AT_FDCWD, p, m, AT_EACCESS); }

SHUNT_EXPORT int truncate(const char *p, off_t l)
{
	char rel[PATH_MAX];
	RESOLVE_OR_FAIL(AT_FDCWD, p, rel);
	return res_ ? (int)ret_errno(fsc_truncate(rel, l)) : REAL(truncate)(p, l);
}
SHUNT_EXPORT int truncate64(const char *p, off_t l) { return truncate(p, l); }

SHUNT_EXPORT int unlinkat(int d, const char *p, int f)
{
	char rel[PATH_MAX];
	RESOLVE_OR_FAIL(d, p, rel);
	return res_ ? (int)ret_errno(fsc_unlink(rel, f)) : REAL(unlinkat)(d, p, f);
}
SHUNT_EXPORT int unlink(const char *p) { return unlinkat(AT_FDCWD, p, 0); }
SHUNT_EXPORT int rmdir(const char *p) { return unlinkat(AT_FDCWD, p, AT_REMOVEDIR); }

SHUNT_EXPORT int renameat2(int od, const char *op, int nd, const char *np, unsigned f)
{
	char a[PATH_MAX], b[PATH_MAX];
	int ra = resolve_native(od, &op, a), rb = resolve_native(nd, &np, b);
	if (ra < 0)
		return (int)ret_errno(ra);
	if (rb < 0)
		return (int)ret_errno(rb);
	if (ra && rb)
		return (int)ret_errno(fsc_rename(a, b, f));
	if (ra || rb)
		return (int)ret_errno(-EXDEV); /* across the mount, as across file systems */
	return REAL(renameat2)(od, op, nd, np, f);
}
SHUNT_EXPORT int renameat(int od, const char *op, int nd, const char *np) { return renameat2(od, op, nd, np, 0); }
SHUNT_EXPORT int rename(const char *op, const char *np) { return renameat2(AT_FDCWD, op, AT_FDCWD, np, 0); }

SHUNT_EXPORT int mkdirat(int d, const char *p, mode_t m)
{
	char rel[PATH_MAX];
	RESOLVE_OR_FAIL(d, p, rel);
	return res_ ? (int)ret_errno(fsc_mkdir(rel, m)) : REAL(mkdirat)(d, p, m);
}
SHUNT_EXPORT int mkdir(const char *p, mode_t m) { return mkdirat(AT_FDCWD, p, m); }

/* ---- links ---- */

SHUNT_EXPORT int symlinkat(const char *target, int d, const char *p)
{
	char rel[PATH_MAX];
	RESOLVE_OR_FAIL(d, p, rel);
	return res_ ? (int)ret_errno(fsc_symlink(target, rel)) : REAL(symlinkat)(target, d, p);
}
SHUNT_EXPORT int symlink(const char *target, const char *p) { return symlinkat(target, AT_FDCWD, p); }

SHUNT_EXPORT ssize_t readlinkat(int d, const char *p, char *buf, size_t n)
{
	char rel[PATH_MAX];
	RESOLVE_OR_FAIL(d, p, rel);
	return res_ ? ret_errno(fsc_readlink(rel, buf, n)) : REAL(readlinkat)(d, p, buf, n);
}
SHUNT_EXPORT ssize_t readlink(const char *p, char *buf, size_t n) { return readlinkat(AT_FDCWD, p, buf, n); }
SHUNT_EXPORT ssize_t __readlink_chk(const char *p, char *buf, size_t n, size_t bl)
{
	if (n > bl)
		__builtin_trap();
	return readlink(p, buf, n);
}

SHUNT_EXPORT int linkat(int od, const char *op, int nd, const char *np, int f)
{
	char a[PATH_MAX], b[PATH_MAX];
	int ra = resolve_native(od, &op, a), rb = resolve_native(nd, &np, b);
	if (ra < 0 || rb < 0)
		return (int)ret_errno(ra < 0 ? ra : rb);
	if (ra && rb)
		return (int)ret_errno(fsc_link(a, b, f));
	if (ra || rb)
		return (int)ret_errno(-EXDEV);
	return REAL(linkat)(od, op, nd, np, f);
}
SHUNT_EXPORT int link(const char *op, const char *np) { return linkat(AT_FDCWD, op, AT_FDCWD, np, 0); }

/* ---- attributes ---- */

SHUNT_EXPORT int fchmodat(int d, const char *p, mode_t m, int f)
{
	char rel[PATH_MAX];
	RESOLVE_OR_FAIL(d, p, rel);
	return res_ ? (int)ret_errno(fsc_setattr(-1, rel, SHUNT_SETATTR_MODE, m, (uid_t)-1, (gid_t)-1, NULL, f))
		    : REAL(fchmodat)(d, p, m, f);
}
SHUNT_EXPORT int chmod(const char *p, mode_t m) { return fchmodat(AT_FDCWD, p, m, 0); }
SHUNT_EXPORT int fchmod(int fd, mode_t m)
{
	return OURS(fd) ? (int)ret_errno(fsc_setattr(fd, NULL, SHUNT_SETATTR_MODE, m, (uid_t)-1, (gid_t)-1, NULL, 0))
			: REAL(fchmod)(fd, m);
}
SHUNT_EXPORT int fchownat(int d, const char *p, uid_t u, gid_t g, int f)
{
	char rel[PATH_MAX];
	RESOLVE_OR_FAIL(d, p, rel);
	return res_ ? (int)ret_errno(fsc_setattr(-1, rel, SHUNT_SETATTR_OWNER, 0, u, g, NULL, f))
		    : REAL(fchownat)(d, p, u, g, f);
}
SHUNT_EXPORT int chown(const char *p, uid_t u, gid_t g) { return fchownat(AT_FDCWD, p, u, g, 0); }
SHUNT_EXPORT int lchown(const char *p, uid_t u, gid_t g) { return fchownat(AT_FDCWD, p, u, g, AT_SYMLINK_NOFOLLOW); }
SHUNT_EXPORT int fchown(int fd, uid_t u, gid_t g)
{
	return OURS(fd) ? (int)ret_errno(fsc_setattr(fd, NULL, SHUNT_SETATTR_OWNER, 0, u, g, NULL, 0)) : REAL(fchown)(fd, u, g);
}
SHUNT_EXPORT int utimensat(int d, const char *p, const struct timespec t[2], int f)
{
	if (!p && OURS(d))
		return (int)ret_errno(fsc_setattr(d, NULL, SHUNT_SETATTR_TIMES, 0, (uid_t)-1, (gid_t)-1, t, f));
	if (!p)
		return REAL(utimensat)(d, p, t, f);
	char rel[PATH_MAX];
	RESOLVE_OR_FAIL(d, p, rel);
	return res_ ? (int)ret_errno(fsc_setattr(-1, rel, SHUNT_SETATTR_TIMES, 0, (uid_t)-1, (gid_t)-1, t, f))
		    : REAL(utimensat)(d, p, t, f);
}
SHUNT_EXPORT int futimens(int fd, const struct timespec t[2])
{
	return OURS(fd) ? (int)ret_errno(fsc_setattr(fd, NULL, SHUNT_SETATTR_TIMES, 0, (uid_t)-1, (gid_t)-1, t, 0))
			: REAL(futimens)(fd, t);
}
static int tv_call(int fd, const char *p, const struct timeval tv[2], int f)
{
	struct timespec ts[2], *tp = NULL;
	if (tv) {
		for (int i = 0; i < 2; i++) {
			ts[i].tv_sec = tv[i].tv_sec;
			ts[i].tv_nsec = tv[i].tv_usec * 1000;
		}
		tp = ts;
	}
	return p ? utimensat(AT_FDCWD, p, tp, f) : futimens(fd, tp);
}
SHUNT_EXPORT int utimes(const char *p, const struct timeval tv[2])
{
	char rel[PATH_MAX];
	RESOLVE_OR_FAIL(AT_FDCWD, p, rel);
	return res_ ? tv_call(-1, p, tv, 0) : REAL(utimes)(p, tv);
}
SHUNT_EXPORT int lutimes(const char *p, const struct timeval tv[2])
{
	char rel[PATH_MAX];
	RESOLVE_OR_FAIL(AT_FDCWD, p, rel);
	return res_ ? tv_call(-1, p, tv, AT_SYMLINK_NOFOLLOW) : REAL(lutimes)(p, tv);
}
SHUNT_EXPORT int futimes(int fd, const struct timeval tv[2]) { return OURS(fd) ? tv_call(fd, NULL, tv, 0) : REAL(futimes)(fd, tv); }
SHUNT_EXPORT int utime(const char *p, const struct utimbuf *u)
{
	char rel[PATH_MAX];
	RESOLVE_OR_FAIL(AT_FDCWD, p, rel);
	if (!res_)
		return REAL(utime)(p, u);
	struct timespec ts[2];
	if (u) {
		ts[0] = (struct timespec){ u->actime, 0 };
		ts[1] = (struct timespec){ u->modtime, 0 };
	}
	return (int)ret_errno(fsc_setattr(-1, rel, SHUNT_SETATTR_TIMES, 0, (uid_t)-1, (gid_t)-1, u ? ts : NULL, 0));
}

/* ---- cwd ---- */

SHUNT_EXPORT int chdir(const char *p)
{
	char rel[PATH_MAX];
	RESOLVE_OR_FAIL(AT_FDCWD, p, rel);
	if (res_)
		return (int)ret_errno(fsc_chdir_rel(rel));
	int r = REAL(chdir)(p);
	if (!r)
		fsc_chdir_native();
	return r;
}
SHUNT_EXPORT int fchdir(int fd)
{
	if (OURS(fd))
		return (int)ret_errno(fsc_fchdir(fd));
	int r = REAL(fchdir)(fd);
	if (!r)
		fsc_chdir_native();
	return r;
}
SHUNT_EXPORT char *getcwd(char *buf, size_t size)
{
	if (!fsc_cwd_is_virtual())
		return REAL(getcwd)(buf, size);
	char tmp[PATH_MAX];
	int n = fsc_getcwd(tmp, sizeof(tmp));
	if (n < 0) {
		errno = -n;
		return NULL;
	}
	if (!buf) {
		size_t cap = size ? size : (size_t)n + 1;
		if ((size_t)n + 1 > cap) {
			errno = ERANGE;
			return NULL;
		}
		buf = malloc(cap);
		if (!buf) {
			errno = ENOMEM;
			return NULL;
		}
		size = cap;
	}
	if ((size_t)n + 1 > size) {
		errno = ERANGE;
		return NULL;
	}
	memcpy(buf, tmp, (size_t)n + 1);
	return buf;
}
SHUNT_EXPORT char *__getcwd_chk(char *buf, size_t size, size_t bl)
{
	if (size > bl)
		__builtin_trap();
	return getcwd(buf, size);
}
SHUNT_EXPORT char *get_current_dir_name(void)
{
	if (!fsc_cwd_is_virtual())
		return REAL(get_current_dir_name)();
	return getcwd(NULL, 0);
}

SHUNT_EXPORT mode_t umask(mode_t m)
{
	mode_t old = REAL(umask)(m);
	fsc_umask_set(m);
	return old;
}

/* ---- file systems, realpath ---- */

SHUNT_EXPORT int statfs(const char *p, struct statfs *sf)
{
	char rel[PATH_MAX];
	RESOLVE_OR_FAIL(AT_FDCWD, p, rel);
	return res_ ? (int)ret_errno(fsc_statfs(-1, rel, sf)) : REAL(statfs)(p, sf);
}
SHUNT_EXPORT int fstatfs(int fd, struct statfs *sf) { return OURS(fd) ? (int)ret_errno(fsc_statfs(fd, NULL, sf)) : REAL(fstatfs)(fd, sf); }
static void vfs_from(const struct statfs *s, struct statvfs *v)
{
	memset(v, 0, sizeof(*v));
	v->f_bsize = (unsigned long)s->f_bsize;
	v->f_frsize = (unsigned long)(s->f_frsize ? s->f_frsize : s->f_bsize);
	v->f_blocks = s->f_blocks;
	v->f_bfree = s->f_bfree;
	v->f_bavail = s->f_bavail;
	v->f_files = s->f_files;
	v->f_ffree = s->f_ffree;
	v->f_favail = s->f_ffree;
	v->f_namemax = (unsigned long)s->f_namelen;
	memcpy(&v->f_fsid, &s->f_fsid, sizeof(v->f_fsid) < sizeof(s->f_fsid) ? sizeof(v->f_fsid) : sizeof(s->f_fsid));
}
SHUNT_EXPORT int statvfs(const char *p, struct statvfs *v)
{
	char rel[PATH_MAX];
	RESOLVE_OR_FAIL(AT_FDCWD, p, rel);
	if (!res_)
		return REAL(statvfs)(p, v);
	struct statfs s;
	int r = fsc_statfs(-1, rel, &s);
	if (r)
		return (int)ret_errno(r);
	vfs_from(&s, v);
	return 0;
}
SHUNT_EXPORT int fstatvfs(int fd, struct statvfs *v)
{
	if (!OURS(fd))
		return REAL(fstatvfs)(fd, v);
	struct statfs s;
	int r = fsc_statfs(fd, NULL, &s);
	if (r)
		return (int)ret_errno(r);
	vfs_from(&s, v);
	return 0;
}

SHUNT_EXPORT char *realpath(const char *p, char *resolved)
{
	char rel[PATH_MAX];
	if (!p) {
		errno = EINVAL;
		return NULL;
	}
	int r = resolve_native(AT_FDCWD, &p, rel);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	if (!r)
		return REAL(realpath)(p, resolved);
	char v[PATH_MAX];
	int e = fsc_realpath(rel, v, sizeof(v));
	if (e < 0) {
		errno = -e;
		return NULL;
	}
	if (e == 2)
		return REAL(realpath)(v, resolved);
	if (!resolved) {
		resolved = malloc(PATH_MAX);
		if (!resolved) {
			errno = ENOMEM;
			return NULL;
		}
	}
	memcpy(resolved, v, strlen(v) + 1);
	return resolved;
}

/* glibc's canonicalize_file_name calls its internal realpath. */
SHUNT_EXPORT char *canonicalize_file_name(const char *p)
{
	return realpath(p, NULL);
}

SHUNT_EXPORT char *__realpath_chk(const char *p, char *resolved, size_t rl)
{
	(void)rl;
	return realpath(p, resolved);
}

/* ---- extended attributes: the channel carries none; say so as a file
 * system without xattr support would (ls, cp -a treat ENOTSUP as "none"). ---- */
#include <sys/xattr.h>

#define XATTR_PATH(name, args, call)                          \
	SHUNT_EXPORT ssize_t name args                        \
	{                                                     \
		char rel[PATH_MAX];                           \
		RESOLVE_OR_FAIL(AT_FDCWD, p, rel);            \
		return res_ ? ret_errno(-ENOTSUP) : call;     \
	}
XATTR_PATH(getxattr, (const char *p, const char *n, void *v, size_t s), REAL(getxattr)(p, n, v, s))
XATTR_PATH(lgetxattr, (const char *p, const char *n, void *v, size_t s), REAL(lgetxattr)(p, n, v, s))
XATTR_PATH(listxattr, (const char *p, char *l, size_t s), REAL(listxattr)(p, l, s))
XATTR_PATH(llistxattr, (const char *p, char *l, size_t s), REAL(llistxattr)(p, l, s))
SHUNT_EXPORT ssize_t fgetxattr(int fd, const char *n, void *v, size_t s) { return OURS(fd) ? ret_errno(-ENOTSUP) : REAL(fgetxattr)(fd, n, v, s); }
SHUNT_EXPORT ssize_t flistxattr(int fd, char *l, size_t s) { return OURS(fd) ? ret_errno(-ENOTSUP) : REAL(flistxattr)(fd, l, s); }
SHUNT_EXPORT int setxattr(const char *p, const char *n, const void *v, size_t s, int f)
{
	char rel[PATH_MAX];
	RESOLVE_OR_FAIL(AT_FDCWD, p, rel);
	return res_ ? (int)ret_errno(-ENOTSUP) : REAL(setxattr)(p, n, v, s, f);
}
SHUNT_EXPORT int lsetxattr(const char *p, const char *n, const void *v, size_t s, int f)
{
	char rel[PATH_MAX];
	RESOLVE_OR_FAIL(AT_FDCWD, p, rel);
	return res_ ? (int)ret_errno(-ENOTSUP) : REAL(lsetxattr)(p, n, v, s, f);
}
SHUNT_EXPORT int fsetxattr(int fd, const char *n, const void *v, size_t s, int f) { return OURS(fd) ? (int)ret_errno(-ENOTSUP) : REAL(fsetxattr)(fd, n, v, s, f); }
SHUNT_EXPORT int removexattr(const char *p, const char *n)
{
	char rel[PATH_MAX];
	RESOLVE_OR_FAIL(AT_FDCWD, p, rel);
	return res_ ? (int)ret_errno(-ENOTSUP) : REAL(removexattr)(p, n);
}
SHUNT_EXPORT int lremovexattr(const char *p, const char *n)
{
	char rel[PATH_MAX];
	RESOLVE_OR_FAIL(AT_FDCWD, p, rel);
	return res_ ? (int)ret_errno(-ENOTSUP) : REAL(lremovexattr)(p, n);
}
SHUNT_EXPORT int fremovexattr(int fd, const char *n) { return OURS(fd) ? (int)ret_errno(-ENOTSUP) : REAL(fremovexattr)(fd, n); }

/* ---- glibc functions that open or unlink through internal calls ---- */

SHUNT_EXPORT int remove(const char *p)
{
	char rel[PATH_MAX];
	RESOLVE_OR_FAIL(AT_FDCWD, p, rel);
	if (!res_)
		return REAL(remove)(p);
	int r = fsc_unlink(rel, 0);
	if (r == -EISDIR)
		r = fsc_unlink(rel, AT_REMOVEDIR);
	return (int)ret_errno(r);
}

/* Fill the trailing XXXXXX (before suffixlen bytes) and create: glibc's
 * mkstemp family opens through its internal open, which we cannot see. */
static int mktemp_served(char *tmpl, int suffixlen, int flags, bool dir)
{
	size_t len = strlen(tmpl);
	if (suffixlen < 0 || len < 6 + (size_t)suffixlen)
		return (int)ret_errno(-EINVAL);
	char *x = tmpl + len - suffixlen - 6;
	if (memcmp(x, "XXXXXX", 6))
		return (int)ret_errno(-EINVAL);
	static const char set[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	for (int attempt = 0; attempt < 1000; attempt++) {
		uint64_t v;
		if (getentropy(&v, sizeof(v)))
			v = (uint64_t)attempt * 0x9e3779b97f4a7c15ull;
		for (int i = 0; i < 6; i++, v /= 62)
			x[i] = set[v % 62];
		char rel[PATH_MAX];
		int res = fsc_resolve(AT_FDCWD, tmpl, rel);
		if (res != 1)
			return (int)ret_errno(res < 0 ? res : -EXDEV);
		int r = dir ? fsc_mkdir(rel, 0700) : fsc_open(rel, O_RDWR | O_CREAT | O_EXCL | flags, 0600);
		if (r != -EEXIST)
			return (int)ret_errno(r);
	}
	return (int)ret_errno(-EEXIST);
}

static int served(const char *p)
{
	char rel[PATH_MAX];
	return fsc_resolve(AT_FDCWD, p, rel) == 1;
}

SHUNT_EXPORT int mkstemp(char *t) { return served(t) ? mktemp_served(t, 0, 0, false) : REAL(mkstemp)(t); }
SHUNT_EXPORT int mkstemp64(char *t) { return mkstemp(t); }
SHUNT_EXPORT int mkostemp(char *t, int f) { return served(t) ? mktemp_served(t, 0, f, false) : REAL(mkostemp)(t, f); }
SHUNT_EXPORT int mkostemp64(char *t, int f) { return mkostemp(t, f); }
SHUNT_EXPORT int mkstemps(char *t, int s) { return served(t) ? mktemp_served(t, s, 0, false) : REAL(mkstemps)(t, s); }
SHUNT_EXPORT int mkstemps64(char *t, int s) { return mkstemps(t, s); }
SHUNT_EXPORT int mkostemps(char *t, int s, int f) { return served(t) ? mktemp_served(t, s, f, false) : REAL(mkostemps)(t, s, f); }
SHUNT_EXPORT int mkostemps64(char *t, int s, int f) { return mkostemps(t, s, f); }
SHUNT_EXPORT char *mkdtemp(char *t)
{
	if (!served(t))
		return REAL(mkdtemp)(t);
	return mktemp_served(t, 0, 0, true) < 0 ? NULL : t;
}
