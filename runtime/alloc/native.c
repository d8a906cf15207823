/* The system calls jemalloc makes through libc names, renamed to these
 * (jemalloc.syms): raw system calls, so jemalloc's own mappings and file
 * reads bypass libshunt's interposers (never far memory, never a served
 * path, never a call into a runtime that is not initialised yet); and its
 * pthread_atfork, whose handlers are kept for alloc_fork_*. Must never
 * allocate. */
#include "alloc/alloc.h"
#include "common/atomics.h"
#include "common/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/mman.h>

#define EXPOSED __attribute__((visibility("hidden"), used))

static long set_errno(long r)
{
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

EXPOSED void *shunt_native_mmap(void *a, size_t n, int prot, int fl, int fd, off_t off)
{
	void *p = sys_mmap(a, n, prot, fl, fd, off);
	if (sys_mmap_failed(p)) {
		errno = (int)-(long)p;
		return MAP_FAILED;
	}
	return p;
}
EXPOSED int shunt_native_munmap(void *p, size_t n) { return (int)set_errno(sys_munmap(p, n)); }
EXPOSED int shunt_native_madvise(void *p, size_t n, int advice) { return (int)set_errno(sys_call(SYS_madvise, p, n, advice, 0, 0, 0)); }
EXPOSED int shunt_native_mprotect(void *p, size_t n, int prot) { return (int)set_errno(sys_call(SYS_mprotect, p, n, prot, 0, 0, 0)); }
EXPOSED int shunt_native_open(const char *path, int fl, ...)
{
	int mode = 0;
	if (fl & (O_CREAT | __O_TMPFILE)) {
		va_list ap;
		va_start(ap, fl);
		mode = va_arg(ap, int);
		va_end(ap);
	}
	return (int)set_errno(sys_openat(AT_FDCWD, path, fl, mode));
}
EXPOSED int shunt_native_creat(const char *path, mode_t mode) { return shunt_native_open(path, O_CREAT | O_WRONLY | O_TRUNC, mode); }
EXPOSED int shunt_native_close(int fd) { return (int)set_errno(sys_close(fd)); }
EXPOSED long shunt_native_readlink(const char *path, char *buf, size_t n)
{
	return set_errno(sys_call(SYS_readlinkat, AT_FDCWD, path, buf, n, 0, 0));
}

static void (*je_prepare)(void), (*je_parent)(void), (*je_child)(void);

EXPOSED int shunt_je_pthread_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
	/* once, from jemalloc's initialisation; published before any fork */
	je_parent = parent;
	je_child = child;
	store_release(&je_prepare, prepare);
	return 0;
}

void alloc_fork_prepare(void)
{
	void (*f)(void) = load_acquire(&je_prepare);
	if (f)
		f();
}
void alloc_fork_parent(void)
{
	if (load_acquire(&je_prepare) && je_parent)
		je_parent();
}
void alloc_fork_child(void)
{
	if (load_acquire(&je_prepare) && je_child)
		je_child();
}
