/* Interposers of directory streams: ours are fsc_dir objects (dir.c). */
#include "preload.h"

/* readdir_r is deprecated but still called by old binaries. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#define OURS_DIR(d) (fsc_enabled && fsc_dir_is_ours(d))

SHUNT_EXPORT DIR *opendir(const char *p)
{
	char rel[PATH_MAX];
	int r = resolve_native(AT_FDCWD, &p, rel);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	return r ? fsc_opendir(rel) : REAL(opendir)(p);
}
SHUNT_EXPORT DIR *fdopendir(int fd) { return fsc_fd_is_ours(fd) ? fsc_fdopendir(fd) : REAL(fdopendir)(fd); }
SHUNT_EXPORT struct dirent *readdir(DIR *d) { return OURS_DIR(d) ? (struct dirent *)fsc_readdir(d) : REAL(readdir)(d); }
SHUNT_EXPORT struct dirent64 *readdir64(DIR *d) { return OURS_DIR(d) ? fsc_readdir(d) : REAL(readdir64)(d); }
SHUNT_EXPORT int readdir_r(DIR *d, struct dirent *e, struct dirent **res)
{
	if (!OURS_DIR(d))
		return REAL(readdir_r)(d, e, res);
	int saved = errno;
	errno = 0;
	struct dirent64 *x = fsc_readdir(d);
	if (!x) {
		int err = errno;
		errno = saved;
		*res = NULL;
		return err;
	}
	memcpy(e, x, x->d_reclen < sizeof(*e) ? x->d_reclen : sizeof(*e));
	*res = e;
	errno = saved;
	return 0;
}
SHUNT_EXPORT int readdir64_r(DIR *d, struct dirent64 *e, struct dirent64 **res)
{
	return readdir_r(d, (struct dirent *)e, (struct dirent **)res);
}
SHUNT_EXPORT int closedir(DIR *d) { return OURS_DIR(d) ? fsc_closedir(d) : REAL(closedir)(d); }
SHUNT_EXPORT void rewinddir(DIR *d) { OURS_DIR(d) ? fsc_rewinddir(d) : REAL(rewinddir)(d); }
SHUNT_EXPORT long telldir(DIR *d) { return OURS_DIR(d) ? fsc_telldir(d) : REAL(telldir)(d); }
SHUNT_EXPORT void seekdir(DIR *d, long p) { OURS_DIR(d) ? fsc_seekdir(d, p) : REAL(seekdir)(d, p); }
SHUNT_EXPORT int dirfd(DIR *d) { return OURS_DIR(d) ? fsc_dirfd(d) : REAL(dirfd)(d); }

/* The program's filter, once per entry: a jump switch. */
SHUNT_JSW_SITE(scandir_select, int, 1, const struct dirent *);

/* glibc's scandir opens the directory internally: do it through ours. */
SHUNT_EXPORT int scandir(const char *p, struct dirent ***out, int (*sel)(const struct dirent *),
			 int (*cmp)(const struct dirent **, const struct dirent **))
{
	char rel[PATH_MAX];
	int r = resolve_native(AT_FDCWD, &p, rel);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	if (!r)
		return REAL(scandir)(p, out, sel, cmp);
	DIR *d = fsc_opendir(rel);
	if (!d)
		return -1;
	struct dirent **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent64 *e;
	while ((e = fsc_readdir(d))) {
		if (sel && !SHUNT_JSW_CALL(scandir_select, sel, (struct dirent *)e))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct dirent **nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				goto oom;
			v = nv;
		}
		struct dirent *copy = malloc(e->d_reclen);
		if (!copy)
			goto oom;
		memcpy(copy, e, e->d_reclen);
		v[n++] = copy;
	}
	fsc_closedir(d);
	if (cmp && n)
		qsort(v, n, sizeof(*v), (int (*)(const void *, const void *))cmp);
	*out = v;
	return (int)n;
oom:
	while (n)
		free(v[--n]);
	free(v);
	fsc_closedir(d);
	errno = ENOMEM;
	return -1;
}
SHUNT_EXPORT int scandir64(const char *p, struct dirent64 ***out, int (*sel)(const struct dirent64 *),
			   int (*cmp)(const struct dirent64 **, const struct dirent64 **))
{
	return scandir(p, (struct dirent ***)out, (int (*)(const struct dirent *))sel,
		       (int (*)(const struct dirent **, const struct dirent **))cmp);
}
