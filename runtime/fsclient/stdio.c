/* stdio on redirected files. glibc's FILE calls its internal __read/__write,
 * which no interposer sees, so a redirected stream is a fopencookie() stream
 * whose callbacks go through the channel, with _fileno set so fileno() works.
 * The standard streams are repointed when fd 0/1/2 becomes redirected. */
#include "internal.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static ssize_t ck_read(void *c, char *buf, size_t n)
{
	ssize_t r = fsc_read((int)(intptr_t)c, buf, n);
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* glibc's own file streams retry a short write, so the error that stopped
 * it (ENOSPC, EFBIG) lands in errno; a cookie stream does not, so retry
 * here. fopencookie: returning less than n marks the stream in error. */
static ssize_t ck_write(void *c, const char *buf, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = fsc_write((int)(intptr_t)c, buf + done, n - done);
		if (r < 0) {
			errno = (int)-r;
			break;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

static int ck_seek(void *c, off64_t *pos, int whence)
{
	off_t r = fsc_lseek((int)(intptr_t)c, *pos, whence);
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	*pos = r;
	return 0;
}

static int ck_close(void *c)
{
	int fd = (int)(intptr_t)c;
	if (!fsc_fd_is_ours(fd))
		return close(fd); /* replaced by dup2 meanwhile: the kernel's now */
	int r = fsc_close(fd);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}

/* std streams point at redirected fds without owning them. */
static int ck_close_std(void *c)
{
	(void)c;
	return 0;
}

static FILE *cookie_stream(int fd, const char *mode, bool owns)
{
	cookie_io_functions_t io = { ck_read, ck_write, ck_seek, owns ? ck_close : ck_close_std };
	char m[8];
	size_t j = 0;
	/* fopencookie knows r/w/a/+ only; drop e, x, m, c, b. */
	for (const char *p = mode; *p && j < sizeof(m) - 1; p++)
		if (*p == 'r' || *p == 'w' || *p == 'a' || *p == '+')
			m[j++] = *p;
	m[j] = 0;
	FILE *f = fopencookie((void *)(intptr_t)fd, m, io);
	if (f)
		f->_fileno = fd;
	return f;
}

static int mode_flags(const char *mode, int *flags)
{
	int f;
	switch (mode[0]) {
	case 'r': f = O_RDONLY; break;
	case 'w': f = O_WRONLY | O_CREAT | O_TRUNC; break;
	case 'a': f = O_WRONLY | O_CREAT | O_APPEND; break;
	default: return -EINVAL;
	}
	for (const char *p = mode + 1; *p; p++) {
		if (*p == '+')
			f = (f & ~O_ACCMODE) | O_RDWR;
		else if (*p == 'e')
			f |= O_CLOEXEC;
		else if (*p == 'x')
			f |= O_EXCL;
		else if (*p == ',')
			break;
	}
	*flags = f;
	return 0;
}

FILE *fsc_fopen(const char *rel, const char *mode)
{
	int flags;
	if (mode_flags(mode, &flags)) {
		errno = EINVAL;
		return NULL;
	}
	int fd = fsc_open(rel, flags, 0666);
	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	FILE *f = cookie_stream(fd, mode, true);
	if (!f) {
		int e = errno;
		fsc_close(fd);
		errno = e;
		return NULL;
	}
	if (flags & O_APPEND)
		fsc_lseek(fd, 0, SEEK_END);
	return f;
}

FILE *fsc_fdopen(int fd, const char *mode)
{
	int flags;
	if (mode_flags(mode, &flags)) {
		errno = EINVAL;
		return NULL;
	}
	int o = fsc_fd_to_ofd(fd);
	if (o < 0) {
		errno = EBADF;
		return NULL;
	}
	int have = (int)(fsc_ofd_get(o)->flags & O_ACCMODE);
	int want = flags & O_ACCMODE;
	if ((want == O_RDWR && have != O_RDWR) || (want == O_RDONLY && have == O_WRONLY) ||
	    (want == O_WRONLY && have == O_RDONLY)) {
		errno = EINVAL;
		return NULL;
	}
	return cookie_stream(fd, mode, true);
}

/* glibc's own standard streams, put back when the fd is the kernel's again
 * (a shell restores its stdout after `cmd > file`). */
static FILE *orig_std[3];
static FILE *our_std[3];

void fsc_fix_std_stream(int fd)
{
	FILE **slot = fd == 0 ? &stdin : fd == 1 ? &stdout : &stderr;
	FILE *old = *slot;
	if (old)
		fflush(old);
	if (our_std[fd] && old == our_std[fd])
		return; /* already ours: the cookie reads the fd number afresh */
	FILE *f = cookie_stream(fd, "r+", false);
	if (!f)
		return;
	if (fd == 2)
		setvbuf(f, NULL, _IONBF, 0);
	orig_std[fd] = old;
	our_std[fd] = f;
	*slot = f;
}

void fsc_unfix_std_stream(int fd)
{
	FILE **slot = fd == 0 ? &stdin : fd == 1 ? &stdout : &stderr;
	FILE *ours = our_std[fd];
	if (!ours || *slot != ours)
		return;
	fflush(ours);
	*slot = orig_std[fd];
	our_std[fd] = NULL;
	orig_std[fd] = NULL;
	fclose(ours); /* its close callback leaves the fd alone */
}
