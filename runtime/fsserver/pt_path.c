/* Passthrough backend, operations on paths: truncate, stat, access,
 * unlink, rename, mkdir, setattr, symlink, readlink, link, statfs. Paths are
 * resolved beneath the root (resolve.c), then the leaf is acted on with *at
 * calls on its O_PATH parent, or on an O_PATH fd of the object itself. */
#include "fsserver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

/* An O_PATH fd on the object path names; follow a final symlink unless
 * nofollow. */
static int object_fd(const char *path, bool nofollow)
{
	return fs_resolve_open(fs_rootfd, path, O_PATH | (nofollow ? O_NOFOLLOW : 0), 0);
}

int64_t fs_pt_truncate(struct fs_req *r)
{
	int fd = object_fd(r->cmd->path, false);
	if (fd < 0)
		return fd;
	struct shunt_stat st;
	int64_t res = fs_statx_fd(fd, "", AT_EMPTY_PATH, &st);
	struct fs_inode *ino = res == 0 && S_ISREG(st.mode) ? fs_inode_find(st.dev, st.ino) : NULL;
	if (res == 0) {
		/* truncate(2) through our own fd's magic link: the kernel's
		 * checks (write permission, EISDIR, ETXTBSY) as the client. */
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		if (ino)
			pthread_mutex_lock(&ino->lock);
		res = truncate(proc, (off_t)r->cmd->off) < 0 ? -errno : 0;
		if (ino) {
			if (res == 0)
				fs_cache_truncated(ino, fd, ino->st.size, r->cmd->off);
			pthread_mutex_unlock(&ino->lock);
		}
	}
	if (ino)
		fs_inode_put(ino);
	close(fd);
	return res;
}

int64_t fs_pt_stat(struct fs_req *r)
{
	unsigned fl = r->cmd->arg0;
	if (fl & ~(unsigned)(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE))
		return -EINVAL;
	struct shunt_stat st;
	if (fs_pc_stat(r, &st) == 0)
		return fs_reply_stat(r, &st);
	int fd = object_fd(r->cmd->path, fl & AT_SYMLINK_NOFOLLOW);
	if (fd < 0)
		return fd;
	int64_t res = fs_statx_fd(fd, "", AT_EMPTY_PATH, &st);
	close(fd);
	return res ? res : fs_reply_stat(r, &st);
}

int64_t fs_pt_access(struct fs_req *r)
{
	unsigned mode = r->cmd->arg0, fl = r->cmd->arg1;
	if (mode & ~(unsigned)(R_OK | W_OK | X_OK))
		return -EINVAL;
	if (fl & ~(unsigned)(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
		return -EINVAL;
	if (fs_pc_access(r) == 0)
		return 0;
	int fd = object_fd(r->cmd->path, fl & AT_SYMLINK_NOFOLLOW);
	if (fd < 0)
		return fd;
	/* AT_EACCESS: check as the fsuid/fsgid this thread carries (the
	 * client's), not the server's real uid. */
	int64_t res = syscall(SYS_faccessat2, fd, "", mode, AT_EMPTY_PATH | AT_EACCESS) < 0 ? -errno : 0;
	close(fd);
	return res;
}

int64_t fs_pt_unlink(struct fs_req *r)
{
	if (r->cmd->arg0 & ~(unsigned)AT_REMOVEDIR)
		return -EINVAL;
	const char *leaf;
	int pfd = fs_resolve_parent(fs_rootfd, r->cmd->path, &leaf);
	if (pfd < 0)
		return pfd;
	int64_t res = unlinkat(pfd, leaf, (int)r->cmd->arg0) < 0 ? -errno : 0;
	close(pfd);
	return res;
}

int64_t fs_pt_rename(struct fs_req *r)
{
	const char *la, *lb;
	int pa = fs_resolve_parent(fs_rootfd, r->cmd->path, &la);
	if (pa < 0)
		return pa;
	int pb = fs_resolve_parent(fs_rootfd, r->cmd->path2, &lb);
	if (pb < 0) {
		close(pa);
		return pb;
	}
	int64_t res = renameat2(pa, la, pb, lb, r->cmd->arg0) < 0 ? -errno : 0;
	close(pb);
	close(pa);
	return res;
}

int64_t fs_pt_mkdir(struct fs_req *r)
{
	const char *leaf;
	int pfd = fs_resolve_parent(fs_rootfd, r->cmd->path, &leaf);
	if (pfd < 0)
		return pfd;
	int64_t res = mkdirat(pfd, leaf, r->cmd->arg1 & 07777) < 0 ? -errno : 0;
	close(pfd);
	return res;
}

int64_t fs_pt_setattr(struct fs_req *r)
{
	const struct fs_cmd *c = r->cmd;
	unsigned what = c->arg0;
	if (what & ~(SHUNT_SETATTR_MODE | SHUNT_SETATTR_OWNER | SHUNT_SETATTR_TIMES))
		return -EINVAL;
	if (c->arg2 & ~(uint64_t)AT_SYMLINK_NOFOLLOW)
		return -EINVAL;
	struct fs_handle *h = NULL;
	int fd;
	if (c->handle) {
		if (!(h = fs_handle_get(r->sess->family, c->handle)))
			return -EBADF;
		if ((h->flags & O_PATH) == O_PATH) {
			/* fchmod/fchown/futimens on an O_PATH fd: the kernel's EBADF
			 * (our *at(AT_EMPTY_PATH) calls would accept it). */
			fs_handle_put(h);
			return -EBADF;
		}
		fd = h->fd;
	} else {
		fd = object_fd(c->path, c->arg2 & AT_SYMLINK_NOFOLLOW);
		if (fd < 0)
			return fd;
	}
	int64_t res = 0;
	if ((what & SHUNT_SETATTR_MODE) && syscall(SYS_fchmodat2, fd, "", c->arg1 & 07777, AT_EMPTY_PATH) < 0)
		res = -errno;
	if (!res && (what & SHUNT_SETATTR_OWNER) && fchownat(fd, "", c->sa.uid, c->sa.gid, AT_EMPTY_PATH) < 0)
		res = -errno;
	if (!res && (what & SHUNT_SETATTR_TIMES)) {
		struct timespec ts[2] = { { c->sa.atime_sec, c->sa.atime_nsec }, { c->sa.mtime_sec, c->sa.mtime_nsec } };
		if (utimensat(fd, "", ts, AT_EMPTY_PATH) < 0)
			res = -errno;
	}
	/* Attributes changed: a cached inode's header must say so. */
	struct shunt_stat st;
	if (fs_statx_fd(fd, "", AT_EMPTY_PATH, &st) == 0 && S_ISREG(st.mode)) {
		struct fs_inode *ino = fs_inode_find(st.dev, st.ino);
		if (ino) {
			pthread_mutex_lock(&ino->lock);
			fs_inode_refresh_stat(ino, &st);
			pthread_mutex_unlock(&ino->lock);
			fs_inode_put(ino);
		}
	}
	if (h)
		fs_handle_put(h);
	else
		close(fd);
	return res;
}

int64_t fs_pt_symlink(struct fs_req *r)
{
	const char *leaf;
	int pfd = fs_resolve_parent(fs_rootfd, r->cmd->path2, &leaf);
	if (pfd < 0)
		return pfd;
	/* The target is only text: resolving it later stays beneath too. */
	int64_t res = symlinkat(r->cmd->path, pfd, leaf) < 0 ? -errno : 0;
	close(pfd);
	return res;
}

int64_t fs_pt_readlink(struct fs_req *r)
{
	size_t n = r->cmd->len < r->cmd->reply_cap ? r->cmd->len : r->cmd->reply_cap;
	if (!r->cmd->len)
		return -EINVAL;
	const char *leaf;
	int pfd = fs_resolve_parent(fs_rootfd, r->cmd->path, &leaf);
	if (pfd < 0)
		return pfd;
	ssize_t got = readlinkat(pfd, leaf, r->s_reply, n);
	close(pfd);
	return got < 0 ? -errno : got;
}

int64_t fs_pt_link(struct fs_req *r)
{
	unsigned fl = r->cmd->arg0;
	if (fl & ~(unsigned)AT_SYMLINK_FOLLOW)
		return -EINVAL;
	const char *ln;
	int pn = fs_resolve_parent(fs_rootfd, r->cmd->path2, &ln);
	if (pn < 0)
		return pn;
	int64_t res;
	if (fl & AT_SYMLINK_FOLLOW) {
		/* Follow beneath the root ourselves, then link what we found
		 * through its fd's magic link (no CAP_DAC_READ_SEARCH needed). */
		int ofd = object_fd(r->cmd->path, false);
		if (ofd < 0) {
			close(pn);
			return ofd;
		}
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", ofd);
		res = linkat(AT_FDCWD, proc, pn, ln, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
		close(ofd);
	} else {
		const char *lo;
		int po = fs_resolve_parent(fs_rootfd, r->cmd->path, &lo);
		if (po < 0) {
			close(pn);
			return po;
		}
		res = linkat(po, lo, pn, ln, 0) < 0 ? -errno : 0;
		close(po);
	}
	close(pn);
	return res;
}

int64_t fs_pt_statfs(struct fs_req *r)
{
	struct fs_handle *h = NULL;
	int fd;
	if (r->cmd->handle) {
		if (!(h = fs_handle_get(r->sess->family, r->cmd->handle)))
			return -EBADF;
		fd = h->fd;
	} else {
		fd = object_fd(r->cmd->path, false);
		if (fd < 0)
			return fd;
	}
	struct statfs sf;
	int64_t res = fstatfs(fd, &sf) < 0 ? -errno : 0;
	if (h)
		fs_handle_put(h);
	else
		close(fd);
	if (res)
		return res;
	struct shunt_statfs out = {
		.type = (uint64_t)sf.f_type, .bsize = (uint64_t)sf.f_bsize, .blocks = sf.f_blocks,
		.bfree = sf.f_bfree, .bavail = sf.f_bavail, .files = sf.f_files, .ffree = sf.f_ffree,
		.namelen = (uint64_t)sf.f_namelen, .frsize = (uint64_t)sf.f_frsize, .flags = (uint64_t)sf.f_flags,
	};
	memcpy(&out.fsid, &sf.f_fsid, sizeof(out.fsid));
	if (r->cmd->reply_cap < sizeof(out))
		return -EINVAL;
	memcpy(r->s_reply, &out, sizeof(out));
	return 0;
}
