/* What every interposer needs: the export attribute, the real libc function
 * (REAL(), real.h: a jump-switch site per function), and the -errno -> errno
 * conversion. An interposer decides "ours or the kernel's" and forwards;
 * nothing more. */
#ifndef SHUNT_PRELOAD_H
#define SHUNT_PRELOAD_H

#include <dlfcn.h>
#include <errno.h>
#include "fsclient/fsclient.h"
#include "real.h"

#define SHUNT_EXPORT __attribute__((visibility("default")))

/* preload/mmap.c: an mmap that far memory must see (far/anon.h). */
void *shunt_far_mmap(void *a, size_t n, int prot, int flags, int fd, off_t off);

static inline long ret_errno(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* A path argument: res_ is 1 when ours (rel filled), 0 when the kernel's
 * (path rewritten to an absolute one when the kernel could not resolve it
 * from its own cwd), or the call fails with errno set. */
#define RESOLVE_OR_FAIL(dirfd, path, rel)                 \
	int res_ = fsc_resolve((dirfd), (path), (rel));   \
	if (res_ < 0)                                     \
		return ret_errno(res_);                   \
	if (res_ == 2) {                                  \
		(path) = (rel);                           \
		res_ = 0;                                 \
	}

/* The same for callers that handle the result themselves. */
static inline int resolve_native(int dirfd, const char **path, char *rel)
{
	int r = fsc_resolve(dirfd, *path, rel);
	if (r == 2) {
		*path = rel;
		r = 0;
	}
	return r;
}

#endif
