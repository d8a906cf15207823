/* Interposers of munmap, mremap, madvise, mprotect, mlock, mlockall, and the far branch of
 * mmap (called from fs_io.c's mmap): calls that touch the far region go to
 * runtime/far/anon.c, every other one straight to the kernel (a raw system
 * call: glibc's wrappers are no more than that). With far memory off, one
 * load and a compare. */
#include "preload.h"
#include "far/anon.h"
#include "common/sys.h"

#include <stdarg.h>
#include <sys/mman.h>

static void *ret_map(void *p)
{
	if (sys_mmap_failed(p)) {
		errno = (int)-(long)p;
		return MAP_FAILED;
	}
	return p;
}

void *shunt_far_mmap(void *a, size_t n, int prot, int flags, int fd, off_t off)
{
	return ret_map(far_anon_mmap(a, n, prot, flags, fd, off));
}

SHUNT_EXPORT int munmap(void *p, size_t n)
{
	if (__builtin_expect(far_anon_overlaps(p, n), 0))
		return (int)ret_errno(far_anon_munmap(p, n));
	return (int)ret_errno(sys_munmap(p, n));
}

SHUNT_EXPORT void *mremap(void *old, size_t oldn, size_t newn, int flags, ...)
{
	void *to = NULL;
	if (flags & MREMAP_FIXED) {
		va_list ap;
		va_start(ap, flags);
		to = va_arg(ap, void *);
		va_end(ap);
	}
	if (__builtin_expect(far_anon_overlaps(old, oldn) || ((flags & MREMAP_FIXED) && far_anon_overlaps(to, newn)), 0))
		return ret_map(far_anon_mremap(old, oldn, newn, flags, to));
	return ret_map((void *)sys_call(SYS_mremap, old, oldn, newn, flags, to, 0));
}

SHUNT_EXPORT int madvise(void *p, size_t n, int advice)
{
	if (__builtin_expect(far_anon_overlaps(p, n), 0))
		return (int)ret_errno(far_anon_madvise(p, n, advice));
	return (int)ret_errno(sys_call(SYS_madvise, p, n, advice, 0, 0, 0));
}

SHUNT_EXPORT int mprotect(void *p, size_t n, int prot)
{
	if (__builtin_expect(far_anon_overlaps(p, n), 0))
		return (int)ret_errno(far_anon_mprotect(p, n, prot));
	return (int)ret_errno(sys_call(SYS_mprotect, p, n, prot, 0, 0, 0));
}

/* Far pages cannot be locked: eviction must be able to drop them, and
 * locking the whole region populates all of it. mlock over the region, and
 * mlockall(MCL_CURRENT) while the region exists, fail as the kernel fails
 * when the lock limit is exceeded (ENOMEM); programs treat that as "not
 * locked" and go on. */
SHUNT_EXPORT int mlock(const void *p, size_t n)
{
	if (__builtin_expect(far_anon_overlaps(p, n), 0))
		return (int)ret_errno(-ENOMEM);
	return (int)ret_errno(sys_call(SYS_mlock, p, n, 0, 0, 0, 0));
}

SHUNT_EXPORT int mlock2(const void *p, size_t n, unsigned int flags)
{
	if (__builtin_expect(far_anon_overlaps(p, n), 0))
		return (int)ret_errno(-ENOMEM);
	return (int)ret_errno(sys_call(SYS_mlock2, p, n, flags, 0, 0, 0));
}

SHUNT_EXPORT int mlockall(int flags)
{
	if ((flags & MCL_CURRENT) && far_anon_overlaps((void *)far_malloc_lo, 1))
		return (int)ret_errno(-ENOMEM);
	return (int)ret_errno(sys_call(SYS_mlockall, flags, 0, 0, 0, 0, 0));
}
