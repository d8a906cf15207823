/* Interposers of the data calls on fds: read/write families, lseek, close,
 * sync, truncate, getdents64, sendfile, copy_file_range, fallocate, mmap. */
#include "preload.h"
#include "far/anon.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <unistd.h>

#define OURS(fd) fsc_fd_is_ours(fd)

/* The hottest forwards call glibc's public __ aliases directly: a plain
 * call, where REAL() would be an indirect call through a retpoline
 * (~25 ns here) on every native read and write of the program. */
extern ssize_t __read(int, void *, size_t);
extern ssize_t __write(int, const void *, size_t);
extern ssize_t __pread64(int, void *, size_t, off_t);
extern ssize_t __pwrite64(int, const void *, size_t, off_t);
extern off_t __lseek(int, off_t, int);
extern int __close(int);

SHUNT_EXPORT ssize_t read(int fd, void *b, size_t n) { return OURS(fd) ? ret_errno(fsc_read(fd, b, n)) : __read(fd, b, n); }
SHUNT_EXPORT ssize_t __read_chk(int fd, void *b, size_t n, size_t bl)
{
	if (n > bl)
		__builtin_trap();
	return read(fd, b, n);
}
SHUNT_EXPORT ssize_t pread(int fd, void *b, size_t n, off_t o) { return OURS(fd) ? ret_errno(fsc_pread(fd, b, n, o)) : __pread64(fd, b, n, o); }
SHUNT_EXPORT ssize_t pread64(int fd, void *b, size_t n, off_t o) { return OURS(fd) ? ret_errno(fsc_pread(fd, b, n, o)) : __pread64(fd, b, n, o); }
SHUNT_EXPORT ssize_t __pread_chk(int fd, void *b, size_t n, off_t o, size_t bl)
{
	if (n > bl)
		__builtin_trap();
	return pread(fd, b, n, o);
}
SHUNT_EXPORT ssize_t __pread64_chk(int fd, void *b, size_t n, off_t o, size_t bl)
{
	if (n > bl)
		__builtin_trap();
	return pread(fd, b, n, o);
}
SHUNT_EXPORT ssize_t readv(int fd, const struct iovec *v, int c) { return OURS(fd) ? ret_errno(fsc_readv(fd, v, c, 0, false)) : REAL(readv)(fd, v, c); }
SHUNT_EXPORT ssize_t preadv(int fd, const struct iovec *v, int c, off_t o) { return OURS(fd) ? ret_errno(fsc_readv(fd, v, c, o, true)) : REAL(preadv)(fd, v, c, o); }
SHUNT_EXPORT ssize_t preadv64(int fd, const struct iovec *v, int c, off_t o) { return OURS(fd) ? ret_errno(fsc_readv(fd, v, c, o, true)) : REAL(preadv64)(fd, v, c, o); }
SHUNT_EXPORT ssize_t preadv2(int fd, const struct iovec *v, int c, off_t o, int f) { return OURS(fd) ? ret_errno(fsc_readv(fd, v, c, o, o != -1)) : REAL(preadv2)(fd, v, c, o, f); }
SHUNT_EXPORT ssize_t preadv64v2(int fd, const struct iovec *v, int c, off_t o, int f) { return OURS(fd) ? ret_errno(fsc_readv(fd, v, c, o, o != -1)) : REAL(preadv64v2)(fd, v, c, o, f); }

SHUNT_EXPORT ssize_t write(int fd, const void *b, size_t n) { return OURS(fd) ? ret_errno(fsc_write(fd, b, n)) : __write(fd, b, n); }
SHUNT_EXPORT ssize_t pwrite(int fd, const void *b, size_t n, off_t o) { return OURS(fd) ? ret_errno(fsc_pwrite(fd, b, n, o)) : __pwrite64(fd, b, n, o); }
SHUNT_EXPORT ssize_t pwrite64(int fd, const void *b, size_t n, off_t o) { return OURS(fd) ? ret_errno(fsc_pwrite(fd, b, n, o)) : __pwrite64(fd, b, n, o); }
SHUNT_EXPORT ssize_t writev(int fd, const struct iovec *v, int c) { return OURS(fd) ? ret_errno(fsc_writev(fd, v, c, 0, false)) : REAL(writev)(fd, v, c); }
SHUNT_EXPORT ssize_t pwritev(int fd, const struct iovec *v, int c, off_t o) { return OURS(fd) ? ret_errno(fsc_writev(fd, v, c, o, true)) : REAL(pwritev)(fd, v, c, o); }
SHUNT_EXPORT ssize_t pwritev64(int fd, const struct iovec *v, int c, off_t o) { return OURS(fd) ? ret_errno(fsc_writev(fd, v, c, o, true)) : REAL(pwritev64)(fd, v, c, o); }
SHUNT_EXPORT ssize_t pwritev2(int fd, const struct iovec *v, int c, off_t o, int f) { return OURS(fd) ? ret_errno(fsc_writev(fd, v, c, o, o != -1)) : REAL(pwritev2)(fd, v, c, o, f); }
SHUNT_EXPORT ssize_t pwritev64v2(int fd, const struct iovec *v, int c, off_t o, int f) { return OURS(fd) ? ret_errno(fsc_writev(fd, v, c, o, o != -1)) : REAL(pwritev64v2)(fd, v, c, o, f); }

SHUNT_EXPORT off_t lseek(int fd, off_t o, int w) { return OURS(fd) ? ret_errno(fsc_lseek(fd, o, w)) : __lseek(fd, o, w); }
SHUNT_EXPORT off_t lseek64(int fd, off_t o, int w) { return OURS(fd) ? ret_errno(fsc_lseek(fd, o, w)) : __lseek(fd, o, w); }

SHUNT_EXPORT int close(int fd) { return OURS(fd) ? (int)ret_errno(fsc_close(fd)) : __close(fd); }
SHUNT_EXPORT int close_range(unsigned lo, unsigned hi, int flags)
{
	int r = REAL(close_range)(lo, hi, flags);
	if (r == 0 && !(flags & CLOSE_RANGE_CLOEXEC))
		for (unsigned fd = lo; fd <= hi && fd < FSC_MAX_FD; fd++)
			if (OURS((int)fd))
				fsc_forget_fd((int)fd);
	return r;
}

SHUNT_EXPORT int fsync(int fd) { return OURS(fd) ? (int)ret_errno(fsc_fsync(fd, false)) : REAL(fsync)(fd); }
SHUNT_EXPORT int fdatasync(int fd) { return OURS(fd) ? (int)ret_errno(fsc_fsync(fd, true)) : REAL(fdatasync)(fd); }
SHUNT_EXPORT int ftruncate(int fd, off_t l) { return OURS(fd) ? (int)ret_errno(fsc_ftruncate(fd, l)) : REAL(ftruncate)(fd, l); }
SHUNT_EXPORT int ftruncate64(int fd, off_t l) { return OURS(fd) ? (int)ret_errno(fsc_ftruncate(fd, l)) : REAL(ftruncate64)(fd, l); }
SHUNT_EXPORT ssize_t getdents64(int fd, void *b, size_t n) { return OURS(fd) ? ret_errno(fsc_getdents(fd, b, n)) : REAL(getdents64)(fd, b, n); }
SHUNT_EXPORT int fallocate(int fd, int m, off_t o, off_t l) { return OURS(fd) ? (int)ret_errno(fsc_fallocate(fd, m, o, l)) : REAL(fallocate)(fd, m, o, l); }
SHUNT_EXPORT int fallocate64(int fd, int m, off_t o, off_t l) { return OURS(fd) ? (int)ret_errno(fsc_fallocate(fd, m, o, l)) : REAL(fallocate64)(fd, m, o, l); }
SHUNT_EXPORT int posix_fallocate(int fd, off_t o, off_t l) { return OURS(fd) ? -fsc_fallocate(fd, 0, o, l) : REAL(posix_fallocate)(fd, o, l); }
SHUNT_EXPORT int posix_fallocate64(int fd, off_t o, off_t l) { return OURS(fd) ? -fsc_fallocate(fd, 0, o, l) : REAL(posix_fallocate64)(fd, o, l); }
SHUNT_EXPORT int posix_fadvise(int fd, off_t o, off_t l, int a) { return OURS(fd) ? 0 : REAL(posix_fadvise)(fd, o, l, a); }
SHUNT_EXPORT int posix_fadvise64(int fd, off_t o, off_t l, int a) { return OURS(fd) ? 0 : REAL(posix_fadvise64)(fd, o, l, a); }

SHUNT_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
	if (!OURS(out) && !OURS(in))
		return REAL(sendfile)(out, in, off, n);
	return ret_errno(fsc_copy(out, in, off, NULL, n, OURS(out), OURS(in)));
}
SHUNT_EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t n) { return sendfile(out, in, off, n); }
SHUNT_EXPORT ssize_t copy_file_range(int in, off_t *ino, int out, off_t *outo, size_t n, unsigned fl)
{
	if (!OURS(out) && !OURS(in))
		return REAL(copy_file_range)(in, ino, out, outo, n, fl);
	if (fl)
		return ret_errno(-EINVAL);
	return ret_errno(fsc_copy(out, in, ino, outo, n, OURS(out), OURS(in)));
}

SHUNT_EXPORT void *mmap(void *a, size_t l, int p, int f, int fd, off_t o)
{
	if (!(f & MAP_ANONYMOUS) && OURS(fd)) {
		int err = 0;
		void *r = fsc_mmap(a, l, p, f, fd, o, &err);
		if (r == MAP_FAILED)
			errno = err;
		return r;
	}
	if (far_anon_considers(a, l, f)) /* far memory's anonymous mappings: preload/mmap.c */
		return shunt_far_mmap(a, l, p, f, fd, o);
	return REAL(mmap)(a, l, p, f, fd, o);
}
SHUNT_EXPORT void *mmap64(void *a, size_t l, int p, int f, int fd, off_t o) { return mmap(a, l, p, f, fd, o); }
