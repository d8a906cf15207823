/* The file operations on redirected paths and fds: each builds one command
 * (or, for cached reads and fstat, none at all) and returns what the kernel
 * would, >= 0 or -errno. Called from the interposers; no malloc. */
#include "internal.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>

#define ACCMODE(f) ((f) & O_ACCMODE)

/* Mapping a file's cache costs about six system calls (GETFD, mmap,
 * page-table population) and only pays off for data read again: a first
 * read costs two copies either way (server into the cache or into the data
 * area, client out of it). So a file is read through the channel until it is
 * opened again in this process, or read many times through one open; from
 * then on its reads and fstats are local. */
#define FSC_MAP_AFTER_READS 16
static struct {
	uint64_t id;
	uint32_t opens;
} seen[256];
static uint32_t ofd_reads[FSC_MAX_OFD]; /* this process's reads per description */

static unsigned seen_slot(uint64_t id)
{
	return (unsigned)(id * 0x9e3779b97f4a7c15ull >> 56);
}

static void note_open(int o)
{
	uint64_t id = fsc_ofd_get(o)->cache_id;
	ofd_reads[o] = 0;
	if (!id)
		return;
	unsigned h = seen_slot(id);
	if (seen[h].id != id) {
		seen[h].id = id;
		seen[h].opens = 0;
	}
	seen[h].opens++;
}

enum use { USE_STAT, USE_READ, USE_MAP };

static struct fsc_fcache *ofd_cache_for(int o, enum use use)
{
	struct fsc_ofd *of = fsc_ofd_get(o);
	uint64_t id = of->cache_id;
	if (!id)
		return NULL;
	struct fsc_fcache *fc = fsc_ofd_fc[o];
	if (fc && load_acquire(&fc->cache_id) == id)
		return load_relaxed(&fc->hdr->dead) ? NULL : fc;
	fc = fsc_fcache_find(id);
	if (!fc) {
		unsigned h = seen_slot(id);
		bool reopened = seen[h].id == id && seen[h].opens >= 2;
		bool busy = use == USE_READ && ++ofd_reads[o] >= FSC_MAP_AFTER_READS;
		if (use != USE_MAP && !reopened && !busy)
			return NULL;
		int err = 0;
		fc = fsc_fcache_get(id, &err);
	}
	fsc_ofd_fc[o] = fc;
	/* Dead: the file was mapped writable somewhere, and shuntd serves it
	 * uncached (every block is invalid too, so a copy fails anyway). */
	return fc && load_relaxed(&fc->hdr->dead) ? NULL : fc;
}

/* Put a path (and an optional second one) at the start of the data area. */
static uint32_t put_paths(struct fsc_thread_chan *tc, const char *a, const char *b)
{
	size_t na = strlen(a) + 1, nb = b ? strlen(b) + 1 : 0;
	memcpy(tc->data, a, na);
	if (b)
		memcpy(tc->data + na, b, nb);
	return (uint32_t)(na + nb);
}

/* One synchronous command with a path payload; *cqe gets the completion. */
static long path_call(struct shunt_sqe *sqe, const char *a, const char *b, struct shunt_cqe *cqe, void *reply,
		      size_t reply_len)
{
	int err;
	struct fsc_thread_chan *tc = fsc_chan_get(&err);
	if (!tc)
		return err;
	if (a) {
		sqe->data_off = 0;
		sqe->data_len = put_paths(tc, a, b);
	}
	int r = fsc_call(tc, sqe, cqe);
	if (!r && cqe->res >= 0 && reply)
		memcpy(reply, tc->data, reply_len);
	fsc_chan_release(tc);
	return r ? r : cqe->res;
}

void fsc_stat_from_wire(const struct shunt_stat *w, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = w->dev;
	st->st_ino = w->ino;
	st->st_nlink = w->nlink;
	st->st_mode = w->mode;
	st->st_uid = w->uid;
	st->st_gid = w->gid;
	st->st_rdev = w->rdev;
	st->st_size = (off_t)w->size;
	st->st_blksize = w->blksize;
	st->st_blocks = (blkcnt_t)w->blocks;
	st->st_atim.tv_sec = w->atime_sec;
	st->st_atim.tv_nsec = w->atime_nsec;
	st->st_mtim.tv_sec = w->mtime_sec;
	st->st_mtim.tv_nsec = w->mtime_nsec;
	st->st_ctim.tv_sec = w->ctime_sec;
	st->st_ctim.tv_nsec = w->ctime_nsec;
}

void fsc_statx_from_wire(const struct shunt_stat *w, struct statx *x)
{
	memset(x, 0, sizeof(*x));
	x->stx_mask = w->mask ? w->mask : (STATX_BASIC_STATS);
	x->stx_blksize = w->blksize;
	x->stx_nlink = (uint32_t)w->nlink;
	x->stx_uid = w->uid;
	x->stx_gid = w->gid;
	x->stx_mode = (uint16_t)w->mode;
	x->stx_ino = w->ino;
	x->stx_size = w->size;
	x->stx_blocks = w->blocks;
	x->stx_atime.tv_sec = w->atime_sec;
	x->stx_atime.tv_nsec = w->atime_nsec;
	x->stx_mtime.tv_sec = w->mtime_sec;
	x->stx_mtime.tv_nsec = w->mtime_nsec;
	x->stx_ctime.tv_sec = w->ctime_sec;
	x->stx_ctime.tv_nsec = w->ctime_nsec;
	x->stx_btime.tv_sec = w->btime_sec;
	x->stx_btime.tv_nsec = w->btime_nsec;
	x->stx_rdev_major = (uint32_t)(w->rdev >> 8) & 0xfff;
	x->stx_rdev_minor = (uint32_t)((w->rdev & 0xff) | ((w->rdev >> 12) & 0xfff00));
	x->stx_dev_major = (uint32_t)(w->dev >> 8) & 0xfff;
	x->stx_dev_minor = (uint32_t)((w->dev & 0xff) | ((w->dev >> 12) & 0xfff00));
}

/* ---- open / close ---- */

/* A server handle becomes an fd: a description, a reserved fd number, the
 * table entry. On failure the handle goes back to the server. */
static int install_handle(const char *rel, int flags, const struct fsc_kept *k)
{
	int o = fsc_ofd_alloc();
	int fd = o < 0 ? o : fsc_reserve_fd(!!(flags & O_CLOEXEC), 0);
	if (fd < 0) {
		if (o >= 0)
			fsc_ofd_put(o); /* no handle in it yet: nothing sent */
		fsc_close_handle(k->handle, false);
		return fd;
	}
	struct fsc_ofd *of = fsc_ofd_get(o);
	of->handle = k->handle;
	of->cache_id = k->cache_id;
	of->mode = k->mode;
	of->keep_epoch = k->epoch;
	of->flags = (uint32_t)(flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY | O_CLOEXEC));
	fsc_strlcpy(of->path, rel, sizeof(of->path));
	fsc_ofd_fc[o] = NULL;
	note_open(o);
	fsc_fd_install(fd, o, !!(flags & O_CLOEXEC));
	return fd;
}

int fsc_open(const char *rel, int flags, mode_t mode)
{
	struct fsc_kept k;
	if (fsc_reopen_take(rel, flags, &k))
		return install_handle(rel, flags, &k); /* no command at all */
	struct shunt_sqe sqe = { .op = SHUNT_OP_open, .arg0 = (uint32_t)(flags & ~O_CLOEXEC) };
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
		sqe.arg1 = (uint32_t)(mode & 07777 & ~fsc_umask_get());
	struct shunt_cqe cqe;
	long r = path_call(&sqe, rel, NULL, &cqe, NULL, 0);
	if (r == -EMFILE) {
		/* The family's server handles ran out: give back the ones this
		 * process keeps for reopening (the last close waits), once. */
		fsc_reopen_flush(true);
		r = path_call(&sqe, rel, NULL, &cqe, NULL, 0);
	}
	char relinked[PATH_MAX];
	if (r == -EACCES && fsc_relink(rel, !(flags & O_NOFOLLOW), relinked)) {
		rel = relinked; /* an absolute symlink into the mount */
		r = path_call(&sqe, rel, NULL, &cqe, NULL, 0);
	}
	if (r < 0)
		return (int)r;
	k = (struct fsc_kept){ .handle = (uint32_t)cqe.res, .cache_id = cqe.aux0, .mode = (uint32_t)cqe.aux1,
			       .epoch = (uint32_t)(cqe.aux1 >> 32) };
	return install_handle(rel, flags, &k);
}

int fsc_close(int fd)
{
	int o = fsc_fd_uninstall(fd);
	if (o < 0)
		return -EBADF;
	if (fd <= 2)
		fsc_unfix_std_stream(fd);
	sys_close(fd);
	fsc_count_syscall();
	struct fsc_ofd *of = fsc_ofd_get(o);
	if (of->posix_lock_pid == fsc_pid && load_relaxed(&of->refs) > 1) {
		/* POSIX: closing any fd of the file drops the process's locks. */
		struct shunt_flock fl = { .type = F_UNLCK, .whence = SEEK_SET };
		int err;
		struct fsc_thread_chan *tc = fsc_chan_get(&err);
		if (tc) {
			memcpy(tc->data, &fl, sizeof(fl));
			struct shunt_sqe sqe = { .op = SHUNT_OP_lock, .handle = of->handle, .data_len = sizeof(fl),
						 .arg0 = SHUNT_LOCK_POSIX, .arg1 = F_SETLK, .arg2 = (uint64_t)fsc_pid };
			struct shunt_cqe cqe;
			fsc_call(tc, &sqe, &cqe);
			fsc_chan_release(tc);
		}
	}
	fsc_ofd_put(o);
	return 0;
}

/* ---- read ---- */

static long read_direct(struct fsc_thread_chan *tc, struct fsc_ofd *of, char *buf, size_t n, uint64_t off)
{
	size_t done = 0;
	while (done < n) {
		size_t chunk = n - done < SHUNT_CHAN_DATA_SIZE ? n - done : SHUNT_CHAN_DATA_SIZE;
		struct shunt_sqe sqe = { .op = SHUNT_OP_read, .handle = of->handle, .off = off + done,
					 .len = (uint32_t)chunk, .arg0 = SHUNT_READ_DIRECT };
		struct shunt_cqe cqe;
		int r = fsc_call(tc, &sqe, &cqe);
		if (r || cqe.res < 0)
			return done ? (long)done : (r ? r : cqe.res);
		size_t got = (size_t)cqe.res < chunk ? (size_t)cqe.res : chunk;
		memcpy(buf + done, tc->data, got);
		done += got;
		if (got < chunk)
			break;
	}
	return (long)done;
}

static long do_pread(int o, void *buf, size_t n, uint64_t off)
{
	struct fsc_ofd *of = fsc_ofd_get(o);
	if (ACCMODE(of->flags) == O_WRONLY)
		return -EBADF;
	if (S_ISDIR(of->mode))
		return -EISDIR;
	if (!n)
		return 0;
	if (n > 0x7ffff000)
		n = 0x7ffff000;
	struct fsc_fcache *fc = ofd_cache_for(o, USE_READ);
	if (fc) {
		uint64_t size = load_acquire(&fc->hdr->size);
		if (off >= size)
			return 0;
		size_t want = n < size - off ? n : (size_t)(size - off);
		if (fsc_fcache_copy(fc, buf, off, want)) {
			STAT_INC(fs_cache_hits);
			STAT_ADD(fs_bytes_read, want);
			return (long)want;
		}
	}
	STAT_INC(fs_cache_misses);
	int err;
	struct fsc_thread_chan *tc = fsc_chan_get(&err);
	if (!tc)
		return err;
	long ret;
	if (fc) {
		for (int attempt = 0;; attempt++) {
			struct shunt_sqe sqe = { .op = SHUNT_OP_read, .handle = of->handle, .off = off,
						 .len = (uint32_t)n };
			struct shunt_cqe cqe;
			int r = fsc_call(tc, &sqe, &cqe);
			if (r || cqe.res < 0) {
				ret = r ? r : cqe.res;
				break;
			}
			if (cqe.aux1 & SHUNT_READ_REPLY_DIRECT) {
				/* Past the largest cache: the bytes came in the data area. */
				size_t got = (size_t)cqe.res < n ? (size_t)cqe.res : n;
				memcpy(buf, tc->data, got);
				ret = (long)got;
				if (got == SHUNT_CHAN_DATA_SIZE && n > got) {
					long more = read_direct(tc, of, (char *)buf + got, n - got, off + got);
					if (more > 0)
						ret += more;
				}
				break;
			}
			uint64_t size = cqe.aux0;
			if (off >= size) {
				ret = 0;
				break;
			}
			size_t want = n < size - off ? n : (size_t)(size - off);
			if (attempt == 0)
				fsc_fcache_populate(fc, off, want);
			if (fsc_fcache_copy(fc, buf, off, want)) {
				ret = (long)want;
				break;
			}
			if (attempt >= 3) { /* blocks keep changing under us */
				ret = read_direct(tc, of, buf, want, off);
				break;
			}
		}
	} else {
		ret = read_direct(tc, of, buf, n, off);
	}
	fsc_chan_release(tc);
	if (ret > 0)
		STAT_ADD(fs_bytes_read, ret);
	return ret;
}

ssize_t fsc_pread(int fd, void *buf, size_t n, off_t off)
{
	int o = fsc_fd_to_ofd(fd);
	if (o < 0)
		return -EBADF;
	if (off < 0)
		return -EINVAL;
	return do_pread(o, buf, n, (uint64_t)off);
}

ssize_t fsc_read(int fd, void *buf, size_t n)
{
	int o = fsc_fd_to_ofd(fd);
	if (o < 0)
		return -EBADF;
	struct fsc_ofd *of = fsc_ofd_get(o);
	for (;;) {
		uint64_t pos = load_acquire(&of->offset);
		long r = do_pread(o, buf, n, pos);
		if (r <= 0)
			return r;
		/* The kernel serialises readers of one description; a lost race
		 * means another reader moved the offset: read again from there. */
		if (cas_acq_rel(&of->offset, &pos, pos + (uint64_t)r))
			return r;
	}
}

ssize_t fsc_readv(int fd, const struct iovec *iov, int cnt, off_t off, bool use_off)
{
	int o = fsc_fd_to_ofd(fd);
	if (o < 0)
		return -EBADF;
	if (cnt < 0 || cnt > 1024)
		return -EINVAL;
	struct fsc_ofd *of = fsc_ofd_get(o);
	uint64_t pos = use_off ? (uint64_t)off : load_acquire(&of->offset);
	if (use_off && off < 0)
		return -EINVAL;
	size_t total = 0;
	for (int i = 0; i < cnt; i++) {
		if (!iov[i].iov_len)
			continue;
		long r = do_pread(o, iov[i].iov_base, iov[i].iov_len, pos + total);
		if (r < 0) {
			if (total)
				break;
			return r;
		}
		total += (size_t)r;
		if ((size_t)r < iov[i].iov_len)
			break;
	}
	if (!use_off)
		fetch_add_acq_rel(&of->offset, total);
	return (ssize_t)total;
}

/* ---- write ---- */

/* RLIMIT_FSIZE is the writer's limit, but shuntd writes on its behalf:
 * the client applies it as the kernel would (a write starting at or past
 * the limit raises SIGXFSZ and fails with EFBIG; one crossing it is cut
 * short). Tracked through setrlimit/prlimit, read once at start-up. */
static uint64_t fsize_limit = UINT64_MAX;

void fsc_fsize_limit_set(uint64_t lim) { store_relaxed(&fsize_limit, lim); }

static long fsize_clip(uint64_t off, size_t *n)
{
	uint64_t lim = load_relaxed(&fsize_limit);
	if (__builtin_expect(lim == UINT64_MAX, 1) || off + *n <= lim)
		return 0;
	if (off >= lim) {
		sys_call(SYS_tgkill, sys_getpid(), sys_gettid(), SIGXFSZ, 0, 0, 0);
		return -EFBIG;
	}
	*n = (size_t)(lim - off);
	return 0;
}

static int fstat_wire(int o, struct shunt_stat *w);

static long do_pwrite(int o, const void *buf, size_t n, uint64_t off, bool append, uint64_t *at)
{
	struct fsc_ofd *of = fsc_ofd_get(o);
	if (ACCMODE(of->flags) == O_RDONLY || (of->flags & O_PATH))
		return -EBADF;
	if (S_ISDIR(of->mode))
		return -EISDIR;
	if (n && S_ISREG(of->mode) && load_relaxed(&fsize_limit) != UINT64_MAX) {
		uint64_t where = off;
		if (append) {
			struct shunt_stat w;
			if (fstat_wire(o, &w) == 0)
				where = w.size;
		}
		long e = fsize_clip(where, &n);
		if (e)
			return e;
	}
	int err;
	struct fsc_thread_chan *tc = fsc_chan_get(&err);
	if (!tc)
		return err;
	size_t done = 0;
	long ret = 0;
	if (at)
		*at = off;
	do {
		size_t chunk = n - done < SHUNT_CHAN_DATA_SIZE ? n - done : SHUNT_CHAN_DATA_SIZE;
		memcpy(tc->data, (const char *)buf + done, chunk);
		struct shunt_sqe sqe = { .op = SHUNT_OP_write, .handle = of->handle, .off = off + done,
					 .data_len = (uint32_t)chunk, .arg0 = append ? SHUNT_WRITE_APPEND : 0 };
		struct shunt_cqe cqe;
		int r = fsc_call(tc, &sqe, &cqe);
		if (r || cqe.res < 0) {
			ret = r ? r : cqe.res;
			break;
		}
		if (at && done == 0)
			*at = cqe.aux0;
		done += (size_t)cqe.res;
		if ((size_t)cqe.res < chunk)
			break;
	} while (done < n);
	fsc_chan_release(tc);
	if (done) {
		STAT_ADD(fs_bytes_written, done);
		return (long)done;
	}
	return ret;
}

ssize_t fsc_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	int o = fsc_fd_to_ofd(fd);
	if (o < 0)
		return -EBADF;
	if (off < 0)
		return -EINVAL;
	/* Linux: pwrite on an O_APPEND fd appends anyway. */
	return do_pwrite(o, buf, n, (uint64_t)off, fsc_ofd_get(o)->flags & O_APPEND, NULL);
}

ssize_t fsc_write(int fd, const void *buf, size_t n)
{
	int o = fsc_fd_to_ofd(fd);
	if (o < 0)
		return -EBADF;
	struct fsc_ofd *of = fsc_ofd_get(o);
	if (of->flags & O_APPEND) {
		uint64_t at;
		long r = do_pwrite(o, buf, n, 0, true, &at);
		if (r > 0)
			store_release(&of->offset, at + (uint64_t)r);
		return r;
	}
	/* Reserve the range first so concurrent writers never overlap. */
	uint64_t pos = fetch_add_acq_rel(&of->offset, n);
	long r = do_pwrite(o, buf, n, pos, false, NULL);
	long got = r > 0 ? r : 0;
	if ((size_t)got < n)
		fetch_sub_acq_rel(&of->offset, n - (size_t)got);
	return r;
}

ssize_t fsc_writev(int fd, const struct iovec *iov, int cnt, off_t off, bool use_off)
{
	if (cnt < 0 || cnt > 1024)
		return -EINVAL;
	size_t total = 0;
	for (int i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	if (total <= 65536) {
		/* Gather so the write is one command, atomic like the kernel's. */
		char tmp[65536];
		size_t at = 0;
		for (int i = 0; i < cnt; i++) {
			memcpy(tmp + at, iov[i].iov_base, iov[i].iov_len);
			at += iov[i].iov_len;
		}
		return use_off ? fsc_pwrite(fd, tmp, total, off) : fsc_write(fd, tmp, total);
	}
	size_t done = 0;
	for (int i = 0; i < cnt; i++) {
		if (!iov[i].iov_len)
			continue;
		long r = use_off ? fsc_pwrite(fd, iov[i].iov_base, iov[i].iov_len, off + (off_t)done)
				 : fsc_write(fd, iov[i].iov_base, iov[i].iov_len);
		if (r < 0)
			return done ? (ssize_t)done : r;
		done += (size_t)r;
		if ((size_t)r < iov[i].iov_len)
			break;
	}
	return (ssize_t)done;
}

/* ---- stat ---- */

static int fstat_wire(int o, struct shunt_stat *w)
{
	struct fsc_ofd *of = fsc_ofd_get(o);
	struct fsc_fcache *fc = ofd_cache_for(o, USE_STAT);
	if (fc) {
		fsc_fcache_stat(fc, w);
		if (w->mask) {
			w->size = load_acquire(&fc->hdr->size);
			return 0;
		}
	}
	struct shunt_sqe sqe = { .op = SHUNT_OP_fstat, .handle = of->handle };
	struct shunt_cqe cqe;
	long r = path_call(&sqe, NULL, NULL, &cqe, w, sizeof(*w));
	return r < 0 ? (int)r : 0;
}

int fsc_fstat(int fd, struct stat *st)
{
	int o = fsc_fd_to_ofd(fd);
	if (o < 0)
		return -EBADF;
	struct shunt_stat w;
	int r = fstat_wire(o, &w);
	if (!r)
		fsc_stat_from_wire(&w, st);
	return r;
}

static int stat_wire(const char *rel, int at_flags, struct shunt_stat *w)
{
	struct shunt_sqe sqe = { .op = SHUNT_OP_stat, .arg0 = (uint32_t)(at_flags & AT_SYMLINK_NOFOLLOW) };
	struct shunt_cqe cqe;
	long r = path_call(&sqe, rel, NULL, &cqe, w, sizeof(*w));
	char relinked[PATH_MAX];
	if (r == -EACCES && fsc_relink(rel, !(at_flags & AT_SYMLINK_NOFOLLOW), relinked))
		r = path_call(&sqe, relinked, NULL, &cqe, w, sizeof(*w));
	return r < 0 ? (int)r : 0;
}

int fsc_stat(const char *rel, struct stat *st, int at_flags)
{
	struct shunt_stat w;
	int r = stat_wire(rel, at_flags, &w);
	if (!r)
		fsc_stat_from_wire(&w, st);
	return r;
}

int fsc_statx(int fd, const char *rel, int at_flags, unsigned mask, struct statx *stx)
{
	(void)mask;
	struct shunt_stat w;
	int r = fd >= 0 ? (fsc_fd_to_ofd(fd) < 0 ? -EBADF : fstat_wire(fsc_fd_to_ofd(fd), &w)) : stat_wire(rel, at_flags, &w);
	if (!r)
		fsc_statx_from_wire(&w, stx);
	return r;
}

off_t fsc_lseek(int fd, off_t off, int whence)
{
	int o = fsc_fd_to_ofd(fd);
	if (o < 0)
		return -EBADF;
	struct fsc_ofd *of = fsc_ofd_get(o);
	if (S_ISDIR(of->mode)) {
		if (whence != SEEK_SET || off < 0)
			return -EINVAL;
		store_release(&of->offset, (uint64_t)off);
		return off;
	}
	if (S_ISFIFO(of->mode) || S_ISSOCK(of->mode))
		return -ESPIPE;
	int64_t base;
	switch (whence) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = (int64_t)load_acquire(&of->offset);
		break;
	case SEEK_END:
	case SEEK_DATA:
	case SEEK_HOLE: {
		if (whence == SEEK_DATA || whence == SEEK_HOLE) {
			if (off < 0)
				return -ENXIO;
			/* The file system knows where its holes are. */
			struct shunt_sqe sqe = { .op = SHUNT_OP_seek, .handle = of->handle, .off = (uint64_t)off,
						 .arg0 = (uint32_t)whence };
			struct shunt_cqe cqe;
			long r = path_call(&sqe, NULL, NULL, &cqe, NULL, 0);
			if (r >= 0) {
				store_release(&of->offset, (uint64_t)r);
				return (off_t)r;
			}
			if (r != -EOPNOTSUPP && r != -ENOSYS)
				return r;
		}
		struct shunt_stat w;
		int r = fstat_wire(o, &w);
		if (r)
			return r;
		if (whence == SEEK_DATA) {
			if (off < 0)
				return -EINVAL;
			if ((uint64_t)off >= w.size)
				return -ENXIO;
			store_release(&of->offset, (uint64_t)off);
			return off;
		}
		if (whence == SEEK_HOLE) {
			if (off < 0)
				return -EINVAL;
			if ((uint64_t)off >= w.size)
				return -ENXIO;
			store_release(&of->offset, w.size);
			return (off_t)w.size;
		}
		base = (int64_t)w.size;
		break;
	}
	default:
		return -EINVAL;
	}
	int64_t pos = base + (int64_t)off;
	if ((off > 0 && pos < base) || pos < 0)
		return -EINVAL;
	store_release(&of->offset, (uint64_t)pos);
	return (off_t)pos;
}

/* ---- path operations ---- */

int fsc_access(const char *rel, int mode, int at_flags)
{
	struct shunt_sqe sqe = { .op = SHUNT_OP_access, .arg0 = (uint32_t)mode, .arg1 = (uint32_t)at_flags };
	struct shunt_cqe cqe;
	long r = path_call(&sqe, rel, NULL, &cqe, NULL, 0);
	if (r == -EMFILE) {
		/* The family's server handles ran out: give back the ones this
		 * process keeps for reopening (the last close waits), once. */
		fsc_reopen_flush(true);
		r = path_call(&sqe, rel, NULL, &cqe, NULL, 0);
	}
	char relinked[PATH_MAX];
	if (r == -EACCES && fsc_relink(rel, !(at_flags & AT_SYMLINK_NOFOLLOW), relinked))
		r = path_call(&sqe, relinked, NULL, &cqe, NULL, 0);
	return r < 0 ? (int)r : 0;
}

static int handle_call(int fd, struct shunt_sqe *sqe)
{
	int o = fsc_fd_to_ofd(fd);
	if (o < 0)
		return -EBADF;
	sqe->handle = fsc_ofd_get(o)->handle;
	struct shunt_cqe cqe;
	long r = path_call(sqe, NULL, NULL, &cqe, NULL, 0);
	return r < 0 ? (int)r : 0;
}

int fsc_fsync(int fd, bool datasync)
{
	struct shunt_sqe sqe = { .op = SHUNT_OP_fsync, .arg0 = datasync };
	return handle_call(fd, &sqe);
}

int fsc_ftruncate(int fd, off_t len)
{
	if (len < 0)
		return -EINVAL;
	int o = fsc_fd_to_ofd(fd);
	if (o >= 0 && ACCMODE(fsc_ofd_get(o)->flags) == O_RDONLY)
		return -EINVAL;
	struct shunt_sqe sqe = { .op = SHUNT_OP_ftruncate, .off = (uint64_t)len };
	return handle_call(fd, &sqe);
}

int fsc_truncate(const char *rel, off_t len)
{
	if (len < 0)
		return -EINVAL;
	struct shunt_sqe sqe = { .op = SHUNT_OP_truncate, .off = (uint64_t)len };
	struct shunt_cqe cqe;
	long r = path_call(&sqe, rel, NULL, &cqe, NULL, 0);
	return r < 0 ? (int)r : 0;
}

int fsc_unlink(const char *rel, int at_flags)
{
	struct shunt_sqe sqe = { .op = SHUNT_OP_unlink, .arg0 = (uint32_t)(at_flags & AT_REMOVEDIR) };
	struct shunt_cqe cqe;
	long r = path_call(&sqe, rel, NULL, &cqe, NULL, 0);
	return r < 0 ? (int)r : 0;
}

int fsc_rename(const char *a, const char *b, unsigned flags)
{
	struct shunt_sqe sqe = { .op = SHUNT_OP_rename, .arg0 = flags };
	struct shunt_cqe cqe;
	long r = path_call(&sqe, a, b, &cqe, NULL, 0);
	return r < 0 ? (int)r : 0;
}

int fsc_mkdir(const char *rel, mode_t mode)
{
	struct shunt_sqe sqe = { .op = SHUNT_OP_mkdir, .arg1 = (uint32_t)(mode & 07777 & ~fsc_umask_get()) };
	struct shunt_cqe cqe;
	long r = path_call(&sqe, rel, NULL, &cqe, NULL, 0);
	return r < 0 ? (int)r : 0;
}

int fsc_symlink(const char *target, const char *rel)
{
	struct shunt_sqe sqe = { .op = SHUNT_OP_symlink };
	struct shunt_cqe cqe;
	long r = path_call(&sqe, target, rel, &cqe, NULL, 0);
	return r < 0 ? (int)r : 0;
}

int fsc_link(const char *a, const char *b, int flags)
{
	struct shunt_sqe sqe = { .op = SHUNT_OP_link, .arg0 = (uint32_t)flags };
	struct shunt_cqe cqe;
	long r = path_call(&sqe, a, b, &cqe, NULL, 0);
	return r < 0 ? (int)r : 0;
}

ssize_t fsc_readlink(const char *rel, char *buf, size_t n)
{
	if (!n)
		return -EINVAL;
	int err;
	struct fsc_thread_chan *tc = fsc_chan_get(&err);
	if (!tc)
		return err;
	struct shunt_sqe sqe = { .op = SHUNT_OP_readlink, .len = (uint32_t)(n < PATH_MAX ? n : PATH_MAX) };
	sqe.data_len = put_paths(tc, rel, NULL);
	struct shunt_cqe cqe;
	int r = fsc_call(tc, &sqe, &cqe);
	long ret = r ? r : cqe.res;
	if (ret > 0) {
		if ((size_t)ret > n)
			ret = (long)n;
		memcpy(buf, tc->data, (size_t)ret);
	}
	fsc_chan_release(tc);
	return ret;
}

int fsc_setattr(int fd, const char *rel, unsigned which, mode_t mode, uid_t uid, gid_t gid,
	       const struct timespec *times, int at_flags)
{
	int err;
	uint32_t handle = 0;
	if (fd >= 0) {
		int o = fsc_fd_to_ofd(fd);
		if (o < 0)
			return -EBADF;
		handle = fsc_ofd_get(o)->handle;
	}
	struct shunt_setattr sa = { .uid = (uint32_t)uid, .gid = (uint32_t)gid, .atime_nsec = UTIME_OMIT,
				    .mtime_nsec = UTIME_OMIT };
	if (which & SHUNT_SETATTR_TIMES) {
		if (times) {
			sa.atime_sec = times[0].tv_sec;
			sa.atime_nsec = times[0].tv_nsec;
			sa.mtime_sec = times[1].tv_sec;
			sa.mtime_nsec = times[1].tv_nsec;
		} else {
			sa.atime_nsec = UTIME_NOW;
			sa.mtime_nsec = UTIME_NOW;
		}
	}
	struct fsc_thread_chan *tc = fsc_chan_get(&err);
	if (!tc)
		return err;
	memcpy(tc->data, &sa, sizeof(sa));
	uint32_t len = sizeof(sa);
	if (!handle) {
		size_t n = strlen(rel) + 1;
		memcpy(tc->data + len, rel, n);
		len += (uint32_t)n;
	}
	struct shunt_sqe sqe = { .op = SHUNT_OP_setattr, .handle = handle, .data_len = len, .arg0 = which,
				 .arg1 = (uint32_t)(mode & 07777), .arg2 = (uint64_t)(uint32_t)at_flags };
	struct shunt_cqe cqe;
	int r = fsc_call(tc, &sqe, &cqe);
	fsc_chan_release(tc);
	return r ? r : (int)cqe.res;
}

int fsc_statfs(int fd, const char *rel, struct statfs *sf)
{
	struct shunt_statfs w;
	struct shunt_sqe sqe = { .op = SHUNT_OP_statfs };
	struct shunt_cqe cqe;
	long r;
	if (fd >= 0) {
		int o = fsc_fd_to_ofd(fd);
		if (o < 0)
			return -EBADF;
		sqe.handle = fsc_ofd_get(o)->handle;
		r = path_call(&sqe, NULL, NULL, &cqe, &w, sizeof(w));
	} else {
		r = path_call(&sqe, rel, NULL, &cqe, &w, sizeof(w));
	}
	if (r < 0)
		return (int)r;
	memset(sf, 0, sizeof(*sf));
	sf->f_type = (long)w.type;
	sf->f_bsize = (long)w.bsize;
	sf->f_blocks = w.blocks;
	sf->f_bfree = w.bfree;
	sf->f_bavail = w.bavail;
	sf->f_files = w.files;
	sf->f_ffree = w.ffree;
	sf->f_namelen = (long)w.namelen;
	sf->f_frsize = (long)w.frsize;
	sf->f_flags = (long)w.flags;
	memcpy(&sf->f_fsid, &w.fsid, sizeof(sf->f_fsid));
	return 0;
}

int fsc_fallocate(int fd, int mode, off_t off, off_t len)
{
	if (off < 0 || len <= 0)
		return -EINVAL;
	struct shunt_sqe sqe = { .op = SHUNT_OP_fallocate, .off = (uint64_t)off, .arg0 = (uint32_t)mode,
				 .arg2 = (uint64_t)len };
	return handle_call(fd, &sqe);
}

ssize_t fsc_getdents(int fd, void *buf, size_t n)
{
	int o = fsc_fd_to_ofd(fd);
	if (o < 0)
		return -EBADF;
	struct fsc_ofd *of = fsc_ofd_get(o);
	if (!S_ISDIR(of->mode))
		return -ENOTDIR;
	int err;
	struct fsc_thread_chan *tc = fsc_chan_get(&err);
	if (!tc)
		return err;
	size_t cap = n < SHUNT_CHAN_DATA_SIZE ? n : SHUNT_CHAN_DATA_SIZE;
	struct shunt_sqe sqe = { .op = SHUNT_OP_getdents, .handle = of->handle, .off = load_acquire(&of->offset),
				 .len = (uint32_t)cap };
	struct shunt_cqe cqe;
	int r = fsc_call(tc, &sqe, &cqe);
	long ret = r ? r : cqe.res;
	if (ret > 0) {
		if ((size_t)ret > cap)
			ret = (long)cap;
		memcpy(buf, tc->data, (size_t)ret);
		store_release(&of->offset, cqe.aux0);
	}
	fsc_chan_release(tc);
	return ret;
}

/* ---- fcntl, locks, dup ---- */

static int lock_call(int o, uint32_t kind, uint32_t cmd, struct shunt_flock *fl, uint64_t owner)
{
	int err;
	struct fsc_thread_chan *tc = fsc_chan_get(&err);
	if (!tc)
		return err;
	memcpy(tc->data, fl, sizeof(*fl));
	struct shunt_sqe sqe = { .op = SHUNT_OP_lock, .handle = fsc_ofd_get(o)->handle, .data_len = sizeof(*fl),
				 .arg0 = kind, .arg1 = cmd, .arg2 = owner };
	struct shunt_cqe cqe;
	int r = fsc_call(tc, &sqe, &cqe);
	if (!r && cqe.res >= 0)
		memcpy(fl, tc->data, sizeof(*fl));
	fsc_chan_release(tc);
	return r ? r : (int)cqe.res;
}

/* Blocking lock requests retry a non-blocking one: the server never parks a
 * poller on a client. Interrupted by a signal like the kernel's. */
static int lock_wait(int o, uint32_t kind, uint32_t cmd_try, struct shunt_flock *fl, uint64_t owner)
{
	long ns = 50000;
	for (;;) {
		struct shunt_flock copy = *fl;
		int r = lock_call(o, kind, cmd_try, &copy, owner);
		if (r != -EAGAIN && r != -EACCES && r != -EWOULDBLOCK)
			return r;
		struct timespec ts = { 0, ns };
		if (sys_call(SYS_nanosleep, &ts, 0, 0, 0, 0, 0) == -EINTR)
			return -EINTR;
		if (ns < 10000000)
			ns *= 2;
	}
}

static int fcntl_lock(int o, int cmd, struct flock *ufl)
{
	if (!ufl)
		return -EFAULT;
	struct fsc_ofd *of = fsc_ofd_get(o);
	struct shunt_flock fl = { .type = ufl->l_type, .whence = ufl->l_whence, .start = ufl->l_start,
				  .len = ufl->l_len };
	if (fl.whence == SEEK_CUR) {
		fl.start += (int64_t)load_acquire(&of->offset);
		fl.whence = SEEK_SET;
	}
	bool ofd_lock = cmd == F_OFD_SETLK || cmd == F_OFD_SETLKW || cmd == F_OFD_GETLK;
	uint32_t kind = ofd_lock ? SHUNT_LOCK_OFD : SHUNT_LOCK_POSIX;
	uint64_t owner = ofd_lock ? of->id : (uint64_t)fsc_pid;
	if (fl.type == F_RDLCK && ACCMODE(of->flags) == O_WRONLY && cmd != F_GETLK && cmd != F_OFD_GETLK)
		return -EBADF;
	if (fl.type == F_WRLCK && ACCMODE(of->flags) == O_RDONLY && cmd != F_GETLK && cmd != F_OFD_GETLK)
		return -EBADF;
	if (!ofd_lock && fl.type != F_UNLCK)
		of->posix_lock_pid = fsc_pid;
	if (fl.type != F_UNLCK)
		of->lock_used = 1;
	int r;
	switch (cmd) {
	case F_GETLK:
	case F_OFD_GETLK:
		r = lock_call(o, kind, F_GETLK, &fl, owner);
		if (!r) {
			ufl->l_type = fl.type;
			ufl->l_whence = fl.whence;
			ufl->l_start = fl.start;
			ufl->l_len = fl.len;
			ufl->l_pid = fl.pid;
		}
		return r;
	case F_SETLKW:
	case F_OFD_SETLKW:
		return lock_wait(o, kind, F_SETLK, &fl, owner);
	default:
		r = lock_call(o, kind, F_SETLK, &fl, owner);
		return r == -EWOULDBLOCK ? -EAGAIN : r;
	}
}

int fsc_flock(int fd, int op)
{
	int o = fsc_fd_to_ofd(fd);
	if (o < 0)
		return -EBADF;
	int base = op & ~LOCK_NB;
	if (base != LOCK_SH && base != LOCK_EX && base != LOCK_UN)
		return -EINVAL;
	struct shunt_flock fl = { 0 };
	uint64_t owner = fsc_ofd_get(o)->id;
	if (base != LOCK_UN)
		fsc_ofd_get(o)->lock_used = 1;
	if ((op & LOCK_NB) || base == LOCK_UN) {
		int r = lock_call(o, SHUNT_LOCK_FLOCK, (uint32_t)op, &fl, owner);
		return r == -EAGAIN ? -EWOULDBLOCK : r;
	}
	return lock_wait(o, SHUNT_LOCK_FLOCK, (uint32_t)(op | LOCK_NB), &fl, owner);
}

int fsc_dup(int oldfd, int newfd, int flags, bool exact)
{
	int o = fsc_fd_to_ofd(oldfd);
	if (o < 0)
		return -EBADF;
	int cloexec = !!(flags & O_CLOEXEC);
	int fd;
	if (exact) {
		if (newfd < 0 || newfd >= FSC_MAX_FD)
			return -EBADF;
		if (oldfd == newfd)
			return newfd;
		fsc_count_syscall();
		long r = sys_dup3(fsc_reserved_template(), newfd, cloexec ? O_CLOEXEC : 0);
		if (r < 0)
			return (int)r;
		fd = newfd;
		fsc_forget_fd(fd); /* it was ours: the old description loses a ref */
	} else {
		fd = fsc_reserve_fd(cloexec, newfd);
		if (fd < 0)
			return fd;
	}
	fetch_add_acq_rel(&fsc_ofd_get(o)->refs, 1);
	fsc_fd_install(fd, o, cloexec);
	if (fd <= 2)
		fsc_fix_std_stream(fd);
	return fd;
}

int fsc_fcntl(int fd, int cmd, long arg)
{
	int o = fsc_fd_to_ofd(fd);
	if (o < 0)
		return -EBADF;
	struct fsc_ofd *of = fsc_ofd_get(o);
	switch (cmd) {
	case F_GETFD:
		return fsc_fd_cloexec[fd] ? FD_CLOEXEC : 0;
	case F_SETFD: {
		long r = sys_fcntl(fd, F_SETFD, arg);
		fsc_count_syscall();
		if (r < 0)
			return (int)r;
		fsc_fd_cloexec[fd] = (arg & FD_CLOEXEC) ? 1 : 0;
		return 0;
	}
	case F_GETFL:
		return (int)(of->flags | 0100000 /* O_LARGEFILE, as the kernel reports */);
	case F_SETFL: {
		uint32_t settable = O_APPEND | O_NONBLOCK | O_NOATIME | O_DIRECT | O_ASYNC;
		of->flags = (of->flags & ~settable) | ((uint32_t)arg & settable);
		return 0;
	}
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		if (arg < 0)
			return -EINVAL;
		return fsc_dup(fd, (int)arg, cmd == F_DUPFD_CLOEXEC ? O_CLOEXEC : 0, false);
	case F_GETLK:
	case F_SETLK:
	case F_SETLKW:
	case F_OFD_GETLK:
	case F_OFD_SETLK:
	case F_OFD_SETLKW:
		return fcntl_lock(o, cmd, (struct flock *)arg);
	case F_GETOWN:
	case F_GETSIG:
	case F_GETLEASE:
		return 0;
	case F_SETLEASE:
	case F_NOTIFY:
		return -EINVAL;
	case F_GET_SEALS:
	case F_ADD_SEALS:
		return -EINVAL;
	case F_GETPIPE_SZ:
	case F_SETPIPE_SZ:
		return -EBADF;
	default:
		return -EINVAL;
	}
}

/* ---- mmap ---- */

static void *map_file(struct fsc_ofd *of, void *addr, size_t len, int prot, int flags, off_t off, bool write,
		      int *err)
{
	int kfd = fsc_session_getfile(of->handle, write);
	if (kfd < 0) {
		*err = -kfd == EIO ? ENODEV : -kfd;
		return MAP_FAILED;
	}
	fsc_count_syscall();
	void *p = sys_mmap(addr, len, prot, flags, kfd, off);
	sys_close(kfd); /* the mapping holds the file */
	if (sys_mmap_failed(p)) {
		*err = (int)-(long)p;
		return MAP_FAILED;
	}
	return p;
}

void *fsc_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off, int *err)
{
	int o = fsc_fd_to_ofd(fd);
	if (o < 0) {
		*err = EBADF;
		return MAP_FAILED;
	}
	struct fsc_ofd *of = fsc_ofd_get(o);
	int type = flags & MAP_TYPE;
	if (ACCMODE(of->flags) == O_WRONLY || ((type == MAP_SHARED || type == MAP_SHARED_VALIDATE) &&
					       (prot & PROT_WRITE) && ACCMODE(of->flags) == O_RDONLY)) {
		*err = EACCES;
		return MAP_FAILED;
	}
	if (off < 0 || (off & 4095) || !len) {
		*err = EINVAL;
		return MAP_FAILED;
	}
	/* A writable shared mapping writes the file itself (shuntd stops
	 * caching it), as does any mapping of a file without a usable cache. */
	bool shared_write = (type == MAP_SHARED || type == MAP_SHARED_VALIDATE) && (prot & PROT_WRITE);
	struct fsc_fcache *fc = shared_write ? NULL : ofd_cache_for(o, USE_MAP);
	if (!fc)
		return map_file(of, addr, len, prot, flags, off, shared_write, err);
	uint64_t size = load_acquire(&fc->hdr->size);
	uint64_t end = (uint64_t)off + len < size ? (uint64_t)off + len : size;
	if ((uint64_t)off < end) {
		/* Make every block of the mapped range valid first. */
		int e;
		struct fsc_thread_chan *tc = fsc_chan_get(&e);
		if (!tc) {
			*err = -e;
			return MAP_FAILED;
		}
		struct shunt_sqe sqe = { .op = SHUNT_OP_read, .handle = of->handle, .off = (uint64_t)off,
					 .len = (uint32_t)((end - (uint64_t)off) > 0x7ffff000 ? 0x7ffff000 : end - (uint64_t)off) };
		struct shunt_cqe cqe;
		int r = fsc_call(tc, &sqe, &cqe);
		fsc_chan_release(tc);
		if (r || cqe.res < 0 || (cqe.aux1 & SHUNT_READ_REPLY_DIRECT)) {
			*err = r ? -r : cqe.res < 0 ? (int)-cqe.res : ENODEV;
			return MAP_FAILED;
		}
	}
	fsc_count_syscall();
	void *p = sys_mmap(addr, len, prot, flags, fc->memfd, (off_t)(fc->hdr->data_off + (uint64_t)off));
	if (sys_mmap_failed(p)) {
		*err = (int)-(long)p;
		return MAP_FAILED;
	}
	return p;
}

/* ---- copies between fds (sendfile, copy_file_range) ---- */

ssize_t fsc_copy(int out_fd, int in_fd, off_t *in_off, off_t *out_off, size_t n, bool out_ours, bool in_ours)
{
	char buf[65536];
	size_t done = 0;
	while (done < n) {
		size_t chunk = n - done < sizeof(buf) ? n - done : sizeof(buf);
		long r;
		if (in_ours)
			r = in_off ? fsc_pread(in_fd, buf, chunk, *in_off) : fsc_read(in_fd, buf, chunk);
		else
			r = in_off ? sys_pread(in_fd, buf, chunk, *in_off) : sys_read(in_fd, buf, chunk);
		if (r <= 0) {
			if (r < 0 && !done)
				return r;
			break;
		}
		size_t got = (size_t)r, put = 0;
		while (put < got) {
			long w;
			if (out_ours)
				w = out_off ? fsc_pwrite(out_fd, buf + put, got - put, *out_off + (off_t)put)
					    : fsc_write(out_fd, buf + put, got - put);
			else
				w = out_off ? sys_pwrite(out_fd, buf + put, got - put, *out_off + (off_t)put)
					    : sys_write(out_fd, buf + put, got - put);
			if (w <= 0)
				return done + put ? (ssize_t)(done + put) : (w < 0 ? w : -EIO);
			put += (size_t)w;
		}
		if (in_off)
			*in_off += (off_t)got;
		if (out_off)
			*out_off += (off_t)got;
		done += got;
		if (got < chunk)
			break;
	}
	return (ssize_t)done;
}

int fsc_fd_path(int fd, char *rel, size_t cap)
{
	int o = fsc_fd_to_ofd(fd);
	if (o < 0)
		return -EBADF;
	fsc_strlcpy(rel, fsc_ofd_get(o)->path, cap);
	return 0;
}
