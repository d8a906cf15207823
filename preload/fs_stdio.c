/* Interposers of stdio's openers: a served path or fd becomes a cookie
 * stream (stdio.c); everything else is glibc's. */
#include "preload.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

SHUNT_EXPORT FILE *fopen(const char *p, const char *m)
{
	char rel[PATH_MAX];
	int r = resolve_native(AT_FDCWD, &p, rel);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	return r ? fsc_fopen(rel, m) : REAL(fopen)(p, m);
}
SHUNT_EXPORT FILE *fopen64(const char *p, const char *m) { return fopen(p, m); }
SHUNT_EXPORT FILE *fdopen(int fd, const char *m) { return fsc_fd_is_ours(fd) ? fsc_fdopen(fd, m) : REAL(fdopen)(fd, m); }

SHUNT_EXPORT FILE *freopen(const char *p, const char *m, FILE *s)
{
	char rel[PATH_MAX];
	int r = p ? resolve_native(AT_FDCWD, &p, rel) : 0;
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	if (!r)
		return REAL(freopen)(p, m, s);
	/* A served file cannot live inside glibc's FILE. For a standard stream,
	 * the fd number stays (0, 1 or 2) and the standard name is pointed at a
	 * cookie stream on it; any other stream is closed and replaced. */
	int std = s == stdin ? 0 : s == stdout ? 1 : s == stderr ? 2 : -1;
	if (std < 0) {
		fclose(s);
		return fsc_fopen(rel, m);
	}
	fflush(s);
	FILE *f = fsc_fopen(rel, m);
	if (!f)
		return NULL;
	int fd = fileno(f);
	int d = dup2(fd, std); /* repoints the standard name (fsc_fix_std_stream) */
	fclose(f);
	if (d < 0)
		return NULL;
	return std == 0 ? stdin : std == 1 ? stdout : stderr;
}
SHUNT_EXPORT FILE *freopen64(const char *p, const char *m, FILE *s) { return freopen(p, m, s); }
