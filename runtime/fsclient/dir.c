/* Directory streams on redirected directories: our own DIR objects (glibc's
 * opendir would call its internal open and getdents, which we cannot see).
 * Told apart from glibc's by a magic no real DIR can start with. */
#include "internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FSC_DIR_MAGIC 0x5249445453484e54ull /* an fd no process can have */

struct fsc_dir {
	uint64_t magic;
	int fd;
	size_t pos, len;
	int64_t last_off;
	char buf[32768] __attribute__((aligned(8)));
};

bool fsc_dir_is_ours(DIR *d)
{
	return d && *(const uint64_t *)(const void *)d == FSC_DIR_MAGIC;
}

DIR *fsc_fdopendir(int fd)
{
	int o = fsc_fd_to_ofd(fd);
	if (o < 0) {
		errno = EBADF;
		return NULL;
	}
	if (!S_ISDIR(fsc_ofd_get(o)->mode)) {
		errno = ENOTDIR;
		return NULL;
	}
	struct fsc_dir *d = malloc(sizeof(*d));
	if (!d) {
		errno = ENOMEM;
		return NULL;
	}
	d->magic = FSC_DIR_MAGIC;
	d->fd = fd;
	d->pos = d->len = 0;
	d->last_off = (int64_t)load_acquire(&fsc_ofd_get(o)->offset);
	/* glibc's opendir sets close-on-exec on its fd; fdopendir does too. */
	fsc_fcntl(fd, F_SETFD, FD_CLOEXEC);
	return (DIR *)d;
}

DIR *fsc_opendir(const char *rel)
{
	int fd = fsc_open(rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	DIR *d = fsc_fdopendir(fd);
	if (!d) {
		int e = errno;
		fsc_close(fd);
		errno = e;
	}
	return d;
}

struct dirent64 *fsc_readdir(DIR *dp)
{
	struct fsc_dir *d = (struct fsc_dir *)dp;
	if (d->pos >= d->len) {
		long n = fsc_getdents(d->fd, d->buf, sizeof(d->buf));
		if (n <= 0) {
			if (n < 0)
				errno = (int)-n;
			return NULL;
		}
		d->pos = 0;
		d->len = (size_t)n;
	}
	struct dirent64 *e = (struct dirent64 *)(void *)(d->buf + d->pos);
	if (e->d_reclen == 0 || d->pos + e->d_reclen > d->len) {
		errno = EIO; /* a malformed reply: never loop on it */
		d->pos = d->len;
		return NULL;
	}
	d->pos += e->d_reclen;
	d->last_off = e->d_off;
	return e;
}

int fsc_closedir(DIR *dp)
{
	struct fsc_dir *d = (struct fsc_dir *)dp;
	int r = fsc_close(d->fd);
	d->magic = 0;
	free(d);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}

void fsc_seekdir(DIR *dp, long pos)
{
	struct fsc_dir *d = (struct fsc_dir *)dp;
	fsc_lseek(d->fd, pos, SEEK_SET);
	d->pos = d->len = 0;
	d->last_off = pos;
}

void fsc_rewinddir(DIR *dp) { fsc_seekdir(dp, 0); }
long fsc_telldir(DIR *dp) { return (long)((struct fsc_dir *)dp)->last_off; }
int fsc_dirfd(DIR *dp) { return ((struct fsc_dir *)dp)->fd; }
