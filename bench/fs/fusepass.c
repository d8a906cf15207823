/* fusepass: the FUSE peer of the file-I/O benchmark. A low-level libfuse3
 * passthrough of one directory, enough for fsbench and for ls/cat/cp: lookup,
 * forget, getattr, setattr, open, create, read, write, fsync, release,
 * opendir/readdir/releasedir, statfs. Started and stopped by bench/fs/run.
 *
 *   fusepass --mode cache|direct SRC MNT
 *
 * cache:  kernel page cache on (keep_cache), entry/attr timeouts of an hour,
 *         so cached reads and fstat never reach this daemon; opens do.
 * direct: direct_io and zero timeouts: every read, write, lookup and stat
 *         reaches this daemon.
 * Each inode holds an O_PATH fd of the real file (as libfuse's passthrough_ll);
 * flush is left unimplemented on purpose (the kernel then stops sending it),
 * as a passthrough of a local file system needs none. Never follows symlinks
 * out of SRC by itself; it is a benchmark peer, not a security boundary. */
#define FUSE_USE_VERSION 312
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

struct fp_inode {
	struct fp_inode *next, *prev; /* all inodes but the root, under fp.lock */
	int fd;			      /* O_PATH */
	ino_t ino;
	dev_t dev;
	uint64_t nlookup;
};

static struct {
	pthread_mutex_t lock;
	struct fp_inode root; /* list head too */
	bool direct;
	double timeout;
} fp = { .lock = PTHREAD_MUTEX_INITIALIZER };

#define FP_MAX_READ (1024 * 1024)
static __thread char *fp_buf; /* one read buffer per loop thread */

static struct fp_inode *fp_inode(fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? &fp.root : (struct fp_inode *)(uintptr_t)ino;
}

static int fp_fd(fuse_ino_t ino)
{
	return fp_inode(ino)->fd;
}

static void fp_proc_path(char *out, size_t len, int fd)
{
	snprintf(out, len, "/proc/self/fd/%d", fd);
}

/* Fill e for name under parent, taking one lookup reference. 0 or errno. */
static int fp_do_lookup(fuse_ino_t parent, const char *name, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->attr_timeout = fp.timeout;
	e->entry_timeout = fp.timeout;
	int fd = openat(fp_fd(parent), name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fstatat(fd, "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		int err = errno;
		close(fd);
		return err;
	}
	struct fp_inode *in, *found = NULL;
	pthread_mutex_lock(&fp.lock);
	for (in = fp.root.next; in != &fp.root; in = in->next)
		if (in->ino == e->attr.st_ino && in->dev == e->attr.st_dev) {
			found = in;
			break;
		}
	if (found) {
		found->nlookup++;
		pthread_mutex_unlock(&fp.lock);
		close(fd);
	} else {
		found = calloc(1, sizeof(*found));
		if (!found) {
			pthread_mutex_unlock(&fp.lock);
			close(fd);
			return ENOMEM;
		}
		found->fd = fd;
		found->ino = e->attr.st_ino;
		found->dev = e->attr.st_dev;
		found->nlookup = 1;
		found->next = fp.root.next;
		found->prev = &fp.root;
		fp.root.next->prev = found;
		fp.root.next = found;
		pthread_mutex_unlock(&fp.lock);
	}
	e->ino = (fuse_ino_t)(uintptr_t)found;
	return 0;
}

static void fp_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int err = fp_do_lookup(parent, name, &e);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

static void fp_unref(fuse_ino_t ino, uint64_t n)
{
	struct fp_inode *in = fp_inode(ino);
	if (in == &fp.root)
		return;
	pthread_mutex_lock(&fp.lock);
	in->nlookup -= n;
	if (in->nlookup == 0) {
		in->prev->next = in->next;
		in->next->prev = in->prev;
		pthread_mutex_unlock(&fp.lock);
		close(in->fd);
		free(in);
		return;
	}
	pthread_mutex_unlock(&fp.lock);
}

static void fp_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fp_unref(ino, nlookup);
	fuse_reply_none(req);
}

static void fp_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		fp_unref(forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void fp_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	(void)fi;
	if (fstatat(fp_fd(ino), "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_attr(req, &st, fp.timeout);
}

static void fp_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid, struct fuse_file_info *fi)
{
	char path[64];
	int fd = fp_fd(ino);
	fp_proc_path(path, sizeof(path), fd);
	if ((valid & FUSE_SET_ATTR_MODE) && chmod(path, attr->st_mode) < 0)
		goto out_err;
	if ((valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) &&
	    fchownat(fd, "", (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1,
		     (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		goto out_err;
	if (valid & FUSE_SET_ATTR_SIZE) {
		int r = fi ? ftruncate((int)fi->fh, attr->st_size) : truncate(path, attr->st_size);
		if (r < 0)
			goto out_err;
	}
	if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		struct timespec tv[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };
		if (valid & FUSE_SET_ATTR_ATIME_NOW)
			tv[0].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_ATIME)
			tv[0] = attr->st_atim;
		if (valid & FUSE_SET_ATTR_MTIME_NOW)
			tv[1].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_MTIME)
			tv[1] = attr->st_mtim;
		if (utimensat(AT_FDCWD, path, tv, 0) < 0)
			goto out_err;
	}
	fp_getattr(req, ino, fi);
	return;
out_err:
	fuse_reply_err(req, errno);
}

static void fp_set_caching(struct fuse_file_info *fi)
{
	if (fp.direct)
		fi->direct_io = 1;
	else
		fi->keep_cache = 1;
}

static void fp_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	char path[64];
	fp_proc_path(path, sizeof(path), fp_fd(ino));
	int fd = open(path, (fi->flags & ~O_NOFOLLOW) | O_CLOEXEC);
	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	fi->fh = (uint64_t)fd;
	fp_set_caching(fi);
	fuse_reply_open(req, fi);
}

static void fp_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	int fd = openat(fp_fd(parent), name, (fi->flags | O_CREAT | O_CLOEXEC) & ~O_NOFOLLOW, mode);
	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	int err = fp_do_lookup(parent, name, &e);
	if (err) {
		close(fd);
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uint64_t)fd;
	fp_set_caching(fi);
	fuse_reply_create(req, &e, fi);
}

static void fp_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	if (!fp_buf && !(fp_buf = malloc(FP_MAX_READ))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (size > FP_MAX_READ)
		size = FP_MAX_READ;
	ssize_t n = pread((int)fi->fh, fp_buf, size, off);
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_buf(req, fp_buf, (size_t)n);
}

static void fp_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	(void)ino;
	ssize_t n = pwrite((int)fi->fh, buf, size, off);
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_write(req, (size_t)n);
}

static void fp_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	int r = datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh);
	fuse_reply_err(req, r < 0 ? errno : 0);
}

static void fp_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	close((int)fi->fh);
	fuse_reply_err(req, 0);
}

static void fp_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int fd = openat(fp_fd(ino), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		int err = errno;
		close(fd);
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	fuse_reply_open(req, fi);
}

static void fp_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	DIR *d = (DIR *)(uintptr_t)fi->fh;
	char *buf = calloc(1, size);
	size_t used = 0;
	(void)ino;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	seekdir(d, off);
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de)
			break;
		struct stat st = { .st_ino = de->d_ino, .st_mode = (mode_t)DTTOIF(de->d_type) };
		size_t n = fuse_add_direntry(req, buf + used, size - used, de->d_name, &st, telldir(d));
		if (n > size - used)
			break; /* the next call resumes at this entry: seekdir to the previous telldir */
		used += n;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void fp_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	closedir((DIR *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void fp_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	if (fstatvfs(fp_fd(ino), &sv) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops fp_ops = {
	.lookup = fp_lookup,
	.forget = fp_forget,
	.forget_multi = fp_forget_multi,
	.getattr = fp_getattr,
	.setattr = fp_setattr,
	.open = fp_open,
	.create = fp_create,
	.read = fp_read,
	.write = fp_write,
	.fsync = fp_fsync,
	.release = fp_release,
	.opendir = fp_opendir,
	.readdir = fp_readdir,
	.releasedir = fp_releasedir,
	.statfs = fp_statfs,
};

static void usage(void)
{
	fprintf(stderr, "usage: fusepass --mode cache|direct SRC MNT\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc != 5 || strcmp(argv[1], "--mode"))
		usage();
	if (!strcmp(argv[2], "direct"))
		fp.direct = true;
	else if (strcmp(argv[2], "cache"))
		usage();
	fp.timeout = fp.direct ? 0.0 : 3600.0;
	const char *src = argv[3], *mnt = argv[4];

	fp.root.next = fp.root.prev = &fp.root;
	fp.root.nlookup = 2;
	fp.root.fd = open(src, O_PATH | O_CLOEXEC);
	if (fp.root.fd < 0) {
		perror(src);
		return 1;
	}
	char *fargv[] = { argv[0], "-o", fp.direct ? "fsname=fusepass-direct" : "fsname=fusepass-cache", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
	int ret = 1;
	struct fuse_session *se = fuse_session_new(&args, &fp_ops, sizeof(fp_ops), NULL);
	if (!se)
		goto out_close;
	if (fuse_set_signal_handlers(se))
		goto out_destroy;
	if (fuse_session_mount(se, mnt))
		goto out_signals;
	struct fuse_loop_config *lc = fuse_loop_cfg_create();
	if (!lc)
		goto out_unmount;
	fuse_loop_cfg_set_clone_fd(lc, 0);
	fuse_loop_cfg_set_idle_threads(lc, 4);
	ret = fuse_session_loop_mt(se, lc) ? 1 : 0;
	fuse_loop_cfg_destroy(lc);
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
out_close:
	close(fp.root.fd);
	return ret;
}
