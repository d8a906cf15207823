/* Passthrough backend, operations on open handles: open, close, read,
 * write, fsync, ftruncate, fallocate, fstat, getdents, lock. Each returns the
 * kernel's result for the same call (res >= 0 or -errno) and keeps the
 * per-file cache in step. Never blocks on a client (fds are O_NONBLOCK). */
#include "fsserver.h"
#include "common/atomics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

int fs_statx_fd(int fd, const char *path, int flags, struct shunt_stat *out)
{
	struct statx sx;
	if (statx(fd, path, flags, STATX_BASIC_STATS | STATX_BTIME, &sx) < 0)
		return -errno;
	memset(out, 0, sizeof(*out));
	out->dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
	out->ino = sx.stx_ino;
	out->nlink = sx.stx_nlink;
	out->size = sx.stx_size;
	out->blocks = sx.stx_blocks;
	out->rdev = makedev(sx.stx_rdev_major, sx.stx_rdev_minor);
	out->mode = sx.stx_mode;
	out->uid = sx.stx_uid;
	out->gid = sx.stx_gid;
	out->blksize = sx.stx_blksize;
	out->atime_sec = sx.stx_atime.tv_sec;
	out->atime_nsec = sx.stx_atime.tv_nsec;
	out->mtime_sec = sx.stx_mtime.tv_sec;
	out->mtime_nsec = sx.stx_mtime.tv_nsec;
	out->ctime_sec = sx.stx_ctime.tv_sec;
	out->ctime_nsec = sx.stx_ctime.tv_nsec;
	out->btime_sec = sx.stx_btime.tv_sec;
	out->btime_nsec = sx.stx_btime.tv_nsec;
	out->mask = sx.stx_mask;
	return 0;
}

/* After the server changed a file: what clients see in the cache header. */
void fs_refresh_after_change(struct fs_inode *ino, int fd)
{
	struct shunt_stat st;
	if (fs_statx_fd(fd, "", AT_EMPTY_PATH, &st) == 0)
		fs_inode_refresh_stat(ino, &st);
}

static bool readable(const struct fs_handle *h)
{
	int acc = h->flags & O_ACCMODE;
	return !(h->flags & O_PATH) && (acc == O_RDONLY || acc == O_RDWR);
}
static bool writable(const struct fs_handle *h)
{
	int acc = h->flags & O_ACCMODE;
	return !(h->flags & O_PATH) && (acc == O_WRONLY || acc == O_RDWR);
}
static bool seekable(uint32_t mode)
{
	return S_ISREG(mode) || S_ISDIR(mode) || S_ISBLK(mode);
}

int64_t fs_pt_open(struct fs_req *r)
{
	const struct fs_cmd *c = r->cmd;
	int flags = (int)c->arg0;
	int fast = fs_pc_open(r);
	if (fast != -EAGAIN)
		return fast;
	/* The server's fd never appends (appends are done under the inode
	 * lock, at the size it sees) and never blocks a poller. */
	int sflags = (flags & ~(O_APPEND | FASYNC)) | O_NONBLOCK | O_NOCTTY;
	int fd = fs_resolve_open(fs_rootfd, c->path, sflags, c->arg1);
	if (fd < 0)
		return fd;
	struct shunt_stat st;
	int err = fs_statx_fd(fd, "", AT_EMPTY_PATH, &st);
	if (err) {
		close(fd);
		return err;
	}
	struct fs_inode *ino = NULL;
	if (S_ISREG(st.mode) && !(flags & O_PATH)) {
		ino = fs_inode_get(&st);
		if (!ino) {
			close(fd);
			return -ENOMEM;
		}
	}
	struct fs_handle *h = fs_handle_new(fd, flags, st.mode, ino);
	if (!h) {
		if (ino)
			fs_inode_put(ino);
		close(fd);
		return -ENOMEM;
	}
	/* Before the handle is visible: nobody can close fd under the fill. */
	if (ino && !(flags & (O_TRUNC | O_EXCL)))
		fs_pc_fill(c->path, ino, fd, flags);
	int id = fs_handle_install(r->sess->family, h);
	if (id < 0) {
		fs_handle_put(h);
		return id;
	}
	r->cqe->aux0 = ino && ino->cached ? ino->cache_id : 0;
	r->cqe->aux1 = st.mode;
	return id;
}

int64_t fs_pt_close(struct fs_req *r)
{
	struct fs_family *f = r->sess->family;
	struct fs_handle *h = fs_handle_remove(f, r->cmd->handle);
	if (!h)
		return -EBADF;
	if (h->ino) {
		if (r->cmd->arg2)
			fs_lock_release_owner(h->ino, SHUNT_LOCK_POSIX, r->cmd->arg2);
		fs_lock_release_handle(h->ino, h->id, f);
	}
	fs_handle_put(h);
	return 0;
}

#define WITH_HANDLE(r, h)                                                 \
	struct fs_handle *h = fs_handle_get((r)->sess->family, (r)->cmd->handle); \
	if (!h)                                                           \
		return -EBADF

int64_t fs_pt_read(struct fs_req *r)
{
	const struct fs_cmd *c = r->cmd;
	WITH_HANDLE(r, h);
	int64_t res;
	if (!readable(h)) {
		res = -EBADF;
	} else if (S_ISDIR(h->st_mode)) {
		res = -EISDIR;
	} else if (h->ino && h->ino->cached && !(c->arg0 & SHUNT_READ_DIRECT) && c->off <= INT64_MAX &&
		   fs_fcache_covers(&h->ino->fc, c->off + c->len)) {
		struct fs_inode *ino = h->ino;
		pthread_mutex_lock(&ino->lock);
		uint64_t size = ino->st.size;
		res = fs_fcache_load(&ino->fc, h->fd, c->off, c->len, size);
		pthread_mutex_unlock(&ino->lock);
		r->cqe->aux0 = size;
	} else {
		size_t n = c->len < r->cmd->reply_cap ? c->len : r->cmd->reply_cap;
		ssize_t got = seekable(h->st_mode) ? pread(h->fd, r->s_reply, n, (off_t)c->off) : read(h->fd, r->s_reply, n);
		res = got < 0 ? -errno : got;
		r->cqe->aux1 = SHUNT_READ_REPLY_DIRECT;
	}
	fs_handle_put(h);
	return res;
}

int64_t fs_pt_write(struct fs_req *r)
{
	const struct fs_cmd *c = r->cmd;
	WITH_HANDLE(r, h);
	int64_t res;
	uint64_t off = c->off;
	bool append = (c->arg0 & SHUNT_WRITE_APPEND) || (h->flags & O_APPEND);
	if (c->arg0 & ~SHUNT_WRITE_APPEND) {
		res = -EINVAL;
	} else if (!writable(h)) {
		res = -EBADF;
	} else if (h->ino) {
		struct fs_inode *ino = h->ino;
		pthread_mutex_lock(&ino->lock);
		if (append) {
			/* The size now, under the lock every shunt writer takes:
			 * appends through shunt never interleave. */
			struct stat sb;
			if (fstat(h->fd, &sb) < 0) {
				res = -errno;
				pthread_mutex_unlock(&ino->lock);
				goto out;
			}
			off = (uint64_t)sb.st_size;
		}
		ssize_t n = pwrite(h->fd, c->bytes, c->nbytes, (off_t)off);
		res = n < 0 ? -errno : n;
		if (n > 0 && ino->cached)
			fs_fcache_write(&ino->fc, c->bytes, off, (uint64_t)n, 0);
		if (n >= 0)
			fs_refresh_after_change(ino, h->fd);
		pthread_mutex_unlock(&ino->lock);
	} else {
		ssize_t n = seekable(h->st_mode) && !append ? pwrite(h->fd, c->bytes, c->nbytes, (off_t)off)
							    : write(h->fd, c->bytes, c->nbytes);
		res = n < 0 ? -errno : n;
	}
	r->cqe->aux0 = off;
out:
	fs_handle_put(h);
	return res;
}

int64_t fs_pt_fsync(struct fs_req *r)
{
	WITH_HANDLE(r, h);
	int rc = r->cmd->arg0 & 1 ? fdatasync(h->fd) : fsync(h->fd);
	int64_t res = rc < 0 ? -errno : 0;
	fs_handle_put(h);
	return res;
}

/* Cache after the file's size was set to len by the server. */
void fs_cache_truncated(struct fs_inode *ino, int fd, uint64_t old_size, uint64_t len)
{
	if (ino->cached) {
		/* Size first, then the blocks past it and the partial one. */
		fs_fcache_set_size(&ino->fc, len);
		uint64_t from = len & ~((1ull << SHUNT_FCACHE_BLOCK_SHIFT) - 1);
		fs_fcache_invalidate(&ino->fc, from, old_size > len ? old_size : len);
	}
	fs_refresh_after_change(ino, fd);
}

int64_t fs_pt_ftruncate(struct fs_req *r)
{
	WITH_HANDLE(r, h);
	int64_t res;
	if (!writable(h)) {
		/* The kernel's answers; checked here because a fast-path handle
		 * may share a read-write server fd. */
		res = h->flags & O_PATH ? -EBADF : -EINVAL;
	} else if (h->ino) {
		pthread_mutex_lock(&h->ino->lock);
		uint64_t old = h->ino->st.size;
		res = ftruncate(h->fd, (off_t)r->cmd->off) < 0 ? -errno : 0;
		if (res == 0)
			fs_cache_truncated(h->ino, h->fd, old, r->cmd->off);
		pthread_mutex_unlock(&h->ino->lock);
	} else {
		res = ftruncate(h->fd, (off_t)r->cmd->off) < 0 ? -errno : 0;
	}
	fs_handle_put(h);
	return res;
}

int64_t fs_pt_fallocate(struct fs_req *r)
{
	const struct fs_cmd *c = r->cmd;
	WITH_HANDLE(r, h);
	int64_t res;
	if (!writable(h)) {
		fs_handle_put(h);
		return -EBADF;
	}
	if (h->ino)
		pthread_mutex_lock(&h->ino->lock);
	res = fallocate(h->fd, (int)c->arg0, (off_t)c->off, (off_t)c->arg2) < 0 ? -errno : 0;
	if (h->ino) {
		if (res == 0 && h->ino->cached) {
			int content = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_COLLAPSE_RANGE |
				      FALLOC_FL_INSERT_RANGE;
			if ((int)c->arg0 & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE))
				fs_fcache_invalidate(&h->ino->fc, c->off, UINT64_MAX);
			else if ((int)c->arg0 & content)
				fs_fcache_invalidate(&h->ino->fc, c->off, c->off + c->arg2);
		}
		if (res == 0)
			fs_refresh_after_change(h->ino, h->fd);
		pthread_mutex_unlock(&h->ino->lock);
	}
	fs_handle_put(h);
	return res;
}

int64_t fs_reply_stat(struct fs_req *r, const struct shunt_stat *st)
{
	if (r->cmd->reply_cap < sizeof(*st))
		return -EINVAL;
	memcpy(r->s_reply, st, sizeof(*st));
	return 0;
}

int64_t fs_pt_fstat(struct fs_req *r)
{
	WITH_HANDLE(r, h);
	struct shunt_stat st;
	int64_t res = h->ino && fs_pc_stat_inode(h->ino, &st) == 0 ? 0 : fs_statx_fd(h->fd, "", AT_EMPTY_PATH, &st);
	if (res == 0)
		res = fs_reply_stat(r, &st);
	fs_handle_put(h);
	return res;
}

int64_t fs_pt_getdents(struct fs_req *r)
{
	const struct fs_cmd *c = r->cmd;
	WITH_HANDLE(r, h);
	int64_t res;
	if (!S_ISDIR(h->st_mode) || (h->flags & O_PATH)) {
		res = S_ISDIR(h->st_mode) ? -EBADF : -ENOTDIR;
		goto out;
	}
	size_t n = c->len < c->reply_cap ? c->len : c->reply_cap;
	pthread_mutex_lock(&h->pos_lock);
	if (lseek(h->fd, (off_t)c->off, SEEK_SET) < 0) {
		res = -errno;
	} else {
		long got = syscall(SYS_getdents64, h->fd, r->s_reply, n);
		res = got < 0 ? -errno : got;
	}
	pthread_mutex_unlock(&h->pos_lock);
	uint64_t next = c->off;
	if (res > 0) {
		/* Walk what we just wrote (bounded by res) for the last d_off. */
		for (int64_t pos = 0; pos + 19 <= res;) {
			const char *rec = r->s_reply + pos;
			uint16_t reclen;
			int64_t doff;
			memcpy(&doff, rec + 8, 8);
			memcpy(&reclen, rec + 16, 2);
			if (reclen < 19 || pos + reclen > res)
				break;
			next = (uint64_t)doff;
			pos += reclen;
		}
	}
	r->cqe->aux0 = next;
out:
	fs_handle_put(h);
	return res;
}

int64_t fs_pt_lock(struct fs_req *r)
{
	WITH_HANDLE(r, h);
	struct shunt_flock out;
	int64_t res = fs_lock_op(h, r->sess->family, r->cmd, r->sess->pid, &out);
	if (res == 1) {
		if (r->cmd->reply_cap < sizeof(out))
			res = -EINVAL;
		else {
			memcpy(r->s_reply, &out, sizeof(out));
			res = 0;
		}
	}
	fs_handle_put(h);
	return res;
}

int64_t fs_pt_nop(struct fs_req *r)
{
	(void)r;
	return 0;
}

/* SEEK_DATA / SEEK_HOLE: where the file system keeps data (sparse files). */
int64_t fs_pt_seek(struct fs_req *r)
{
	const struct fs_cmd *c = r->cmd;
	if (c->arg0 != SEEK_DATA && c->arg0 != SEEK_HOLE)
		return -EINVAL;
	if (c->off > INT64_MAX)
		return -ENXIO;
	WITH_HANDLE(r, h);
	off_t res = lseek(h->fd, (off_t)c->off, (int)c->arg0);
	int64_t ret = res < 0 ? -errno : (int64_t)res;
	fs_handle_put(h);
	return ret;
}
