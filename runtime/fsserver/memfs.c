/* The in-memory backend (shuntd --backend mem): a tree of nodes under one
 * lock, for tests and for measuring the channel without a file system under
 * it. The kernel's errnos for what it has; files served uncached, bytes
 * bounded by --cache-mem; no locks. Never leaves its root (EACCES). */
#include "fsserver.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct mem_dirent;
struct mem_node {
	uint32_t mode, uid, gid;
	uint64_t ino, nlink, size, cap;
	char *data;                 /* file bytes, or a symlink's target */
	struct mem_dirent *kids;    /* directories, in cookie order */
	struct mem_dirent *kids_tail;
	uint64_t next_cookie;
	struct mem_node *parent;    /* directories */
	struct timespec atime, mtime, ctime, btime;
	uint32_t opens;             /* handles on it */
};
struct mem_dirent {
	char *name;
	struct mem_node *node;
	uint64_t cookie;
	struct mem_dirent *next;
};

static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mem_node *root;
static uint64_t next_ino = 1;
static uint64_t mem_bytes;          /* file buffers held; bounded by fs_cache_budget */
#define MEM_MAX_LINKS 40

static struct timespec now_ts(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

static struct mem_node *node_new(uint32_t mode, const struct fs_creds *c)
{
	struct mem_node *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->mode = mode;
	n->uid = c ? c->uid : getuid();
	n->gid = c ? c->gid : getgid();
	n->ino = next_ino++;
	n->atime = n->mtime = n->ctime = n->btime = now_ts();
	n->next_cookie = 3; /* 1 ".", 2 ".." */
	return n;
}

static void node_maybe_free(struct mem_node *n)
{
	if (n->nlink || n->opens)
		return;
	if (S_ISREG(n->mode))
		mem_bytes -= n->cap;
	free(n->data);
	free(n);
}

static bool in_groups(const struct fs_creds *c, uint32_t gid)
{
	if (c->gid == gid)
		return true;
	for (uint32_t i = 0; i < c->ngroups; i++)
		if (c->groups[i] == gid)
			return true;
	return false;
}

/* want: 4 r, 2 w, 1 x. */
static bool allowed(const struct mem_node *n, const struct fs_creds *c, unsigned want)
{
	if (c->uid == 0)
		return !(want & 1) || S_ISDIR(n->mode) || (n->mode & 0111);
	unsigned bits = c->uid == n->uid ? (n->mode >> 6) & 7 : in_groups(c, n->gid) ? (n->mode >> 3) & 7 : n->mode & 7;
	return (bits & want) == want;
}

static struct mem_dirent *find(struct mem_node *dir, const char *name, size_t len)
{
	for (struct mem_dirent *d = dir->kids; d; d = d->next)
		if (strlen(d->name) == len && !memcmp(d->name, name, len))
			return d;
	return NULL;
}

static int walk(struct mem_node *start, const char *path, bool follow_last, int depth, const struct fs_creds *c,
		struct mem_node **out);

/* One step from dir by name (len bytes); follows a symlink when follow. */
static int step(struct mem_node *dir, const char *name, size_t len, bool follow, int depth, const struct fs_creds *c,
		struct mem_node **out)
{
	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	if (!allowed(dir, c, 1))
		return -EACCES;
	if (len == 0 || (len == 1 && name[0] == '.')) {
		*out = dir;
		return 0;
	}
	if (len == 2 && name[0] == '.' && name[1] == '.') {
		if (dir == root)
			return -EACCES; /* beneath the root, always */
		*out = dir->parent;
		return 0;
	}
	struct mem_dirent *d = find(dir, name, len);
	if (!d)
		return -ENOENT;
	struct mem_node *n = d->node;
	if (S_ISLNK(n->mode) && follow) {
		if (depth >= MEM_MAX_LINKS)
			return -ELOOP;
		if (n->data[0] == '/')
			return -EACCES; /* an absolute link would leave the root */
		return walk(dir, n->data, true, depth + 1, c, out);
	}
	*out = n;
	return 0;
}

static int walk(struct mem_node *start, const char *path, bool follow_last, int depth, const struct fs_creds *c,
		struct mem_node **out)
{
	struct mem_node *cur = start;
	const char *p = path;
	for (;;) {
		while (*p == '/')
			p++;
		if (!*p) {
			*out = cur;
			return 0;
		}
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		const char *rest = p + len;
		while (*rest == '/')
			rest++;
		bool last = !*rest;
		struct mem_node *next;
		int r = step(cur, p, len, !last || follow_last || (e != NULL), depth, c, &next);
		if (r)
			return r;
		if (last && e && !S_ISDIR(next->mode))
			return -ENOTDIR; /* "file/" */
		cur = next;
		p = rest;
	}
}

/* The parent directory of path and its last name (without slashes). */
static int walk_parent(const char *path, const struct fs_creds *c, struct mem_node **parent, char *leaf,
		       bool *trailing)
{
	size_t n = strlen(path);
	while (n > 0 && path[n - 1] == '/')
		n--;
	*trailing = n != strlen(path);
	size_t s = n;
	while (s > 0 && path[s - 1] != '/')
		s--;
	if (n - s >= NAME_MAX + 1)
		return -ENAMETOOLONG;
	memcpy(leaf, path + s, n - s);
	leaf[n - s] = 0;
	char dir[SHUNT_PATH_MAX];
	memcpy(dir, path, s);
	dir[s] = 0;
	int r = walk(root, dir, true, 0, c, parent);
	if (r)
		return r;
	if (!S_ISDIR((*parent)->mode))
		return -ENOTDIR;
	return 0;
}

static int link_in(struct mem_node *dir, const char *name, struct mem_node *n)
{
	struct mem_dirent *d = calloc(1, sizeof(*d));
	if (!d || !(d->name = strdup(name))) {
		free(d);
		return -ENOMEM;
	}
	d->node = n;
	d->cookie = dir->next_cookie++;
	if (dir->kids_tail)
		dir->kids_tail->next = d;
	else
		dir->kids = d;
	dir->kids_tail = d;
	n->nlink++;
	if (S_ISDIR(n->mode)) {
		n->parent = dir;
		n->nlink++; /* its own "." */
		dir->nlink++; /* its ".." */
	}
	dir->mtime = dir->ctime = now_ts();
	return 0;
}

static void unlink_from(struct mem_node *dir, struct mem_dirent *d)
{
	struct mem_dirent **pp = &dir->kids, *prev = NULL;
	while (*pp != d) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	*pp = d->next;
	if (dir->kids_tail == d)
		dir->kids_tail = prev;
	struct mem_node *n = d->node;
	n->nlink--;
	if (S_ISDIR(n->mode)) {
		n->nlink--;
		dir->nlink--;
	}
	n->ctime = dir->mtime = dir->ctime = now_ts();
	free(d->name);
	free(d);
	node_maybe_free(n);
}

static void fill_stat(const struct mem_node *n, struct shunt_stat *st)
{
	memset(st, 0, sizeof(*st));
	st->dev = 0x5348;
	st->ino = n->ino;
	st->nlink = n->nlink;
	st->size = n->size;
	st->blocks = (n->size + 511) / 512;
	st->mode = n->mode;
	st->uid = n->uid;
	st->gid = n->gid;
	st->blksize = 4096;
	st->atime_sec = n->atime.tv_sec, st->atime_nsec = (uint32_t)n->atime.tv_nsec;
	st->mtime_sec = n->mtime.tv_sec, st->mtime_nsec = (uint32_t)n->mtime.tv_nsec;
	st->ctime_sec = n->ctime.tv_sec, st->ctime_nsec = (uint32_t)n->ctime.tv_nsec;
	st->btime_sec = n->btime.tv_sec, st->btime_nsec = (uint32_t)n->btime.tv_nsec;
	st->mask = STATX_BASIC_STATS | STATX_BTIME;
}

static int resize(struct mem_node *n, uint64_t size)
{
	if (size > (1ull << 32))
		return -EFBIG;
	if (size > n->cap) {
		uint64_t cap = n->cap ? n->cap : 4096;
		while (cap < size)
			cap *= 2;
		/* The whole file system lives in our memory: --cache-mem bounds
		 * it, a full disk's answer beyond. */
		if (mem_bytes - n->cap + cap > fs_cache_budget)
			return -ENOSPC;
		char *d = realloc(n->data, cap);
		if (!d)
			return -ENOSPC;
		mem_bytes += cap - n->cap;
		n->data = d;
		n->cap = cap;
	}
	if (size > n->size)
		memset(n->data + n->size, 0, size - n->size);
	n->size = size;
	return 0;
}

static const struct fs_creds *creds(struct fs_req *r) { return &r->sess->creds; }

static void mem_release(struct fs_handle *h)
{
	pthread_mutex_lock(&mem_lock);
	struct mem_node *n = h->obj;
	n->opens--;
	node_maybe_free(n);
	pthread_mutex_unlock(&mem_lock);
}

/* ---- ops ---------------------------------------------------------------- */

#define LOCKED(expr)                              \
	({                                        \
		pthread_mutex_lock(&mem_lock);    \
		int64_t res_ = (expr);            \
		pthread_mutex_unlock(&mem_lock);  \
		res_;                             \
	})

static int64_t open_locked(struct fs_req *r, struct mem_node **out)
{
	const struct fs_cmd *c = r->cmd;
	int flags = (int)c->arg0, acc = flags & O_ACCMODE;
	struct mem_node *n;
	int err = walk(root, c->path, !(flags & O_NOFOLLOW), 0, creds(r), &n);
	if (err == -ENOENT && (flags & O_CREAT)) {
		struct mem_node *dir;
		char leaf[NAME_MAX + 1];
		bool trailing;
		if ((err = walk_parent(c->path, creds(r), &dir, leaf, &trailing)))
			return err;
		if (trailing)
			return -EISDIR;
		if (find(dir, leaf, strlen(leaf)))
			return -EEXIST; /* a dangling symlink with O_CREAT */
		if (!allowed(dir, creds(r), 3))
			return -EACCES;
		if (!(n = node_new(S_IFREG | (c->arg1 & 07777), creds(r))))
			return -ENOMEM;
		if ((err = link_in(dir, leaf, n))) {
			free(n);
			return err;
		}
	} else if (err) {
		return err;
	} else {
		if ((flags & O_CREAT) && (flags & O_EXCL))
			return -EEXIST;
		if (S_ISLNK(n->mode))
			return -ELOOP; /* O_NOFOLLOW on a link */
		if ((flags & O_DIRECTORY) && !S_ISDIR(n->mode))
			return -ENOTDIR;
		if (S_ISDIR(n->mode) && (acc != O_RDONLY || (flags & O_CREAT)))
			return -EISDIR;
		unsigned want = acc == O_RDONLY ? 4 : acc == O_WRONLY ? 2 : 6;
		if (!(flags & O_PATH) && !allowed(n, creds(r), want))
			return -EACCES;
		if ((flags & O_TRUNC) && S_ISREG(n->mode) && acc != O_RDONLY) {
			resize(n, 0);
			n->mtime = n->ctime = now_ts();
		}
	}
	n->opens++;
	*out = n;
	return 0;
}

static int64_t mem_open(struct fs_req *r)
{
	struct mem_node *n = NULL;
	int64_t err = LOCKED(open_locked(r, &n));
	if (err)
		return err;
	struct fs_handle *h = fs_handle_new(-1, (int)r->cmd->arg0, n->mode, NULL);
	if (!h) {
		struct fs_handle tmp = { .obj = n };
		mem_release(&tmp);
		return -ENOMEM;
	}
	h->obj = n;
	h->release = mem_release;
	int id = fs_handle_install(r->sess->family, h);
	if (id < 0) {
		fs_handle_put(h);
		return id;
	}
	r->cqe->aux0 = 0; /* no shared cache: reads come back in the data area */
	r->cqe->aux1 = n->mode;
	return id;
}

static int64_t mem_close(struct fs_req *r)
{
	struct fs_handle *h = fs_handle_remove(r->sess->family, r->cmd->handle);
	if (!h)
		return -EBADF;
	fs_handle_put(h);
	return 0;
}

#define MEM_HANDLE(r, h)                                                          \
	struct fs_handle *h = fs_handle_get((r)->sess->family, (r)->cmd->handle); \
	if (!h)                                                                   \
		return -EBADF;                                                    \
	struct mem_node *n = h->obj

static int64_t mem_read(struct fs_req *r)
{
	MEM_HANDLE(r, h);
	int acc = h->flags & O_ACCMODE;
	int64_t res;
	pthread_mutex_lock(&mem_lock);
	if ((h->flags & O_PATH) || acc == O_WRONLY) {
		res = -EBADF;
	} else if (S_ISDIR(n->mode)) {
		res = -EISDIR;
	} else {
		uint64_t want = r->cmd->len < r->cmd->reply_cap ? r->cmd->len : r->cmd->reply_cap;
		uint64_t off = r->cmd->off;
		res = off >= n->size ? 0 : (int64_t)(n->size - off < want ? n->size - off : want);
		if (res > 0)
			memcpy(r->s_reply, n->data + off, (size_t)res);
		n->atime = now_ts();
	}
	pthread_mutex_unlock(&mem_lock);
	r->cqe->aux1 = SHUNT_READ_REPLY_DIRECT;
	fs_handle_put(h);
	return res;
}

static int64_t mem_write(struct fs_req *r)
{
	MEM_HANDLE(r, h);
	int acc = h->flags & O_ACCMODE;
	int64_t res;
	pthread_mutex_lock(&mem_lock);
	uint64_t off = r->cmd->off;
	if ((h->flags & O_PATH) || acc == O_RDONLY) {
		res = -EBADF;
	} else if (r->cmd->arg0 & ~SHUNT_WRITE_APPEND) {
		res = -EINVAL;
	} else {
		if ((r->cmd->arg0 & SHUNT_WRITE_APPEND) || (h->flags & O_APPEND))
			off = n->size;
		uint64_t end = off + r->cmd->nbytes;
		res = end > n->size ? resize(n, end) : 0;
		if (!res) {
			memcpy(n->data + off, r->cmd->bytes, r->cmd->nbytes);
			n->mtime = n->ctime = now_ts();
			res = r->cmd->nbytes;
		}
	}
	pthread_mutex_unlock(&mem_lock);
	r->cqe->aux0 = off;
	fs_handle_put(h);
	return res;
}

static int64_t mem_fsync(struct fs_req *r)
{
	MEM_HANDLE(r, h);
	(void)n;
	int64_t res = (h->flags & O_PATH) ? -EBADF : 0;
	fs_handle_put(h);
	return res;
}

static int64_t mem_ftruncate(struct fs_req *r)
{
	MEM_HANDLE(r, h);
	int acc = h->flags & O_ACCMODE;
	int64_t res;
	pthread_mutex_lock(&mem_lock);
	if (h->flags & O_PATH)
		res = -EBADF;
	else if (acc == O_RDONLY || !S_ISREG(n->mode))
		res = -EINVAL;
	else if ((int64_t)r->cmd->off < 0)
		res = -EINVAL;
	else if (!(res = resize(n, r->cmd->off)))
		n->mtime = n->ctime = now_ts();
	pthread_mutex_unlock(&mem_lock);
	fs_handle_put(h);
	return res;
}

static int64_t truncate_locked(struct fs_req *r)
{
	struct mem_node *n;
	int err = walk(root, r->cmd->path, true, 0, creds(r), &n);
	if (err)
		return err;
	if (S_ISDIR(n->mode))
		return -EISDIR;
	if (!S_ISREG(n->mode) || (int64_t)r->cmd->off < 0)
		return -EINVAL;
	if (!allowed(n, creds(r), 2))
		return -EACCES;
	if ((err = resize(n, r->cmd->off)))
		return err;
	n->mtime = n->ctime = now_ts();
	return 0;
}
static int64_t mem_truncate(struct fs_req *r) { return LOCKED(truncate_locked(r)); }

static int64_t stat_locked(struct fs_req *r, struct shunt_stat *st)
{
	struct mem_node *n;
	int err = walk(root, r->cmd->path, !(r->cmd->arg0 & AT_SYMLINK_NOFOLLOW), 0, creds(r), &n);
	if (!err)
		fill_stat(n, st);
	return err;
}
static int64_t mem_stat(struct fs_req *r)
{
	struct shunt_stat st;
	int64_t err = LOCKED(stat_locked(r, &st));
	return err ? err : fs_reply_stat(r, &st);
}

static int64_t mem_fstat(struct fs_req *r)
{
	MEM_HANDLE(r, h);
	struct shunt_stat st;
	pthread_mutex_lock(&mem_lock);
	fill_stat(n, &st);
	pthread_mutex_unlock(&mem_lock);
	fs_handle_put(h);
	return fs_reply_stat(r, &st);
}

static int64_t access_locked(struct fs_req *r)
{
	struct mem_node *n;
	int err = walk(root, r->cmd->path, !(r->cmd->arg1 & AT_SYMLINK_NOFOLLOW), 0, creds(r), &n);
	if (err)
		return err;
	unsigned mode = r->cmd->arg0;
	if (mode & ~7u)
		return -EINVAL;
	return !mode || allowed(n, creds(r), mode) ? 0 : -EACCES;
}
static int64_t mem_access(struct fs_req *r) { return LOCKED(access_locked(r)); }

static int64_t unlink_locked(struct fs_req *r)
{
	struct mem_node *dir;
	char leaf[NAME_MAX + 1];
	bool trailing, rmdir = r->cmd->arg0 & AT_REMOVEDIR;
	if (r->cmd->arg0 & ~(unsigned)AT_REMOVEDIR)
		return -EINVAL;
	int err = walk_parent(r->cmd->path, creds(r), &dir, leaf, &trailing);
	if (err)
		return err;
	if (!strcmp(leaf, ".") || !leaf[0])
		return rmdir ? -EINVAL : -EISDIR;
	if (!strcmp(leaf, ".."))
		return rmdir ? -ENOTEMPTY : -EISDIR;
	struct mem_dirent *d = find(dir, leaf, strlen(leaf));
	if (!d)
		return -ENOENT;
	if (!allowed(dir, creds(r), 3))
		return -EACCES;
	struct mem_node *n = d->node;
	if (rmdir) {
		if (!S_ISDIR(n->mode))
			return -ENOTDIR;
		if (n->kids)
			return -ENOTEMPTY;
	} else if (S_ISDIR(n->mode)) {
		return -EISDIR;
	} else if (trailing) {
		return -ENOTDIR;
	}
	unlink_from(dir, d);
	return 0;
}
static int64_t mem_unlink(struct fs_req *r) { return LOCKED(unlink_locked(r)); }

static bool is_ancestor(const struct mem_node *a, const struct mem_node *n)
{
	for (; n; n = n->parent)
		if (n == a)
			return true;
	return false;
}

static int64_t rename_locked(struct fs_req *r)
{
	struct mem_node *da, *db;
	char la[NAME_MAX + 1], lb[NAME_MAX + 1];
	bool ta, tb;
	unsigned fl = r->cmd->arg0;
	if (fl & ~(unsigned)RENAME_NOREPLACE)
		return -EINVAL;
	int err = walk_parent(r->cmd->path, creds(r), &da, la, &ta);
	if (!err)
		err = walk_parent(r->cmd->path2, creds(r), &db, lb, &tb);
	if (err)
		return err;
	if (!la[0] || !lb[0] || !strcmp(la, ".") || !strcmp(la, "..") || !strcmp(lb, ".") || !strcmp(lb, ".."))
		return -EBUSY;
	struct mem_dirent *src = find(da, la, strlen(la));
	if (!src)
		return -ENOENT;
	if (!allowed(da, creds(r), 3) || !allowed(db, creds(r), 3))
		return -EACCES;
	struct mem_node *n = src->node;
	if ((ta || tb) && !S_ISDIR(n->mode))
		return -ENOTDIR;
	if (S_ISDIR(n->mode) && is_ancestor(n, db))
		return -EINVAL;
	struct mem_dirent *dst = find(db, lb, strlen(lb));
	if (dst) {
		if (dst->node == n)
			return 0;
		if (fl & RENAME_NOREPLACE)
			return -EEXIST;
		if (S_ISDIR(n->mode) && !S_ISDIR(dst->node->mode))
			return -ENOTDIR;
		if (!S_ISDIR(n->mode) && S_ISDIR(dst->node->mode))
			return -EISDIR;
		if (S_ISDIR(dst->node->mode) && dst->node->kids)
			return -ENOTEMPTY;
	}
	n->opens++; /* keep it while it has no name */
	unlink_from(da, src);
	if (dst)
		unlink_from(db, dst);
	err = link_in(db, lb, n);
	n->opens--;
	n->ctime = now_ts();
	return err;
}
static int64_t mem_rename(struct fs_req *r) { return LOCKED(rename_locked(r)); }

static int64_t make_locked(struct fs_req *r, uint32_t mode, const char *path, const char *target)
{
	struct mem_node *dir;
	char leaf[NAME_MAX + 1];
	bool trailing;
	int err = walk_parent(path, creds(r), &dir, leaf, &trailing);
	if (err)
		return err;
	if (!leaf[0] || !strcmp(leaf, ".") || !strcmp(leaf, "..") || find(dir, leaf, strlen(leaf)))
		return -EEXIST;
	if (trailing && !S_ISDIR(mode))
		return -ENOENT;
	if (!allowed(dir, creds(r), 3))
		return -EACCES;
	struct mem_node *n = node_new(mode, creds(r));
	if (!n)
		return -ENOMEM;
	if (target) {
		n->data = strdup(target);
		n->size = strlen(target);
	}
	if ((err = link_in(dir, leaf, n))) {
		free(n->data);
		free(n);
	}
	return err;
}
static int64_t mem_mkdir(struct fs_req *r) { return LOCKED(make_locked(r, S_IFDIR | (r->cmd->arg1 & 07777), r->cmd->path, NULL)); }
static int64_t mem_symlink(struct fs_req *r) { return LOCKED(make_locked(r, S_IFLNK | 0777, r->cmd->path2, r->cmd->path)); }

static int64_t link_locked(struct fs_req *r)
{
	struct mem_node *n, *dir;
	char leaf[NAME_MAX + 1];
	bool trailing;
	if (r->cmd->arg0 & ~(unsigned)AT_SYMLINK_FOLLOW)
		return -EINVAL;
	int err = walk(root, r->cmd->path, r->cmd->arg0 & AT_SYMLINK_FOLLOW, 0, creds(r), &n);
	if (!err)
		err = walk_parent(r->cmd->path2, creds(r), &dir, leaf, &trailing);
	if (err)
		return err;
	if (S_ISDIR(n->mode))
		return -EPERM;
	if (!leaf[0] || find(dir, leaf, strlen(leaf)))
		return -EEXIST;
	if (!allowed(dir, creds(r), 3))
		return -EACCES;
	n->ctime = now_ts();
	return link_in(dir, leaf, n);
}
static int64_t mem_link(struct fs_req *r) { return LOCKED(link_locked(r)); }

static int64_t readlink_locked(struct fs_req *r)
{
	struct mem_node *n;
	int err = walk(root, r->cmd->path, false, 0, creds(r), &n);
	if (err)
		return err;
	if (!S_ISLNK(n->mode) || !r->cmd->len)
		return -EINVAL;
	size_t cap = r->cmd->len < r->cmd->reply_cap ? r->cmd->len : r->cmd->reply_cap;
	size_t len = n->size < cap ? n->size : cap;
	memcpy(r->s_reply, n->data, len);
	return (int64_t)len;
}
static int64_t mem_readlink(struct fs_req *r) { return LOCKED(readlink_locked(r)); }

/* linux_dirent64 records: ".", "..", then children after cookie off. */
static int64_t getdents_locked(struct fs_req *r, struct mem_node *n, uint64_t *next)
{
	size_t cap = r->cmd->len < r->cmd->reply_cap ? r->cmd->len : r->cmd->reply_cap, pos = 0;
	uint64_t cookie = r->cmd->off;
	*next = cookie;
	for (uint64_t k = cookie + 1;; k++) {
		const char *name;
		const struct mem_node *child;
		if (k == 1) {
			name = ".", child = n;
		} else if (k == 2) {
			name = "..", child = n->parent ? n->parent : n;
		} else {
			struct mem_dirent *d = n->kids;
			while (d && d->cookie < k)
				d = d->next;
			if (!d)
				break;
			k = d->cookie;
			name = d->name, child = d->node;
		}
		size_t nl = strlen(name), reclen = (19 + nl + 1 + 7) & ~(size_t)7;
		if (pos + reclen > cap) {
			if (!pos)
				return -EINVAL; /* the buffer holds not even one record */
			break;
		}
		char *rec = r->s_reply + pos;
		uint64_t ino = child->ino;
		int64_t doff = (int64_t)k;
		uint16_t rl = (uint16_t)reclen;
		uint8_t type = S_ISDIR(child->mode) ? DT_DIR : S_ISLNK(child->mode) ? DT_LNK : DT_REG;
		memcpy(rec, &ino, 8);
		memcpy(rec + 8, &doff, 8);
		memcpy(rec + 16, &rl, 2);
		rec[18] = (char)type;
		memcpy(rec + 19, name, nl + 1);
		memset(rec + 19 + nl + 1, 0, reclen - 19 - nl - 1);
		pos += reclen;
		*next = k;
	}
	return (int64_t)pos;
}
static int64_t mem_getdents(struct fs_req *r)
{
	MEM_HANDLE(r, h);
	int64_t res;
	uint64_t next = r->cmd->off;
	pthread_mutex_lock(&mem_lock);
	if (!S_ISDIR(n->mode))
		res = -ENOTDIR;
	else if (h->flags & O_PATH)
		res = -EBADF;
	else
		res = getdents_locked(r, n, &next);
	pthread_mutex_unlock(&mem_lock);
	r->cqe->aux0 = next;
	fs_handle_put(h);
	return res;
}

static int64_t setattr_on(struct fs_req *r, struct mem_node *n)
{
	const struct fs_cmd *c = r->cmd;
	const struct fs_creds *cr = creds(r);
	bool owner = cr->uid == 0 || cr->uid == n->uid;
	if (c->arg0 & ~(SHUNT_SETATTR_MODE | SHUNT_SETATTR_OWNER | SHUNT_SETATTR_TIMES))
		return -EINVAL;
	if (c->arg0 & SHUNT_SETATTR_MODE) {
		if (!owner)
			return -EPERM;
		if (S_ISLNK(n->mode))
			return -EOPNOTSUPP;
		n->mode = (n->mode & S_IFMT) | (c->arg1 & 07777);
	}
	if (c->arg0 & SHUNT_SETATTR_OWNER) {
		if (cr->uid != 0 && ((c->sa.uid != (uint32_t)-1 && c->sa.uid != n->uid) ||
				     (c->sa.gid != (uint32_t)-1 && (!owner || !in_groups(cr, c->sa.gid)))))
			return -EPERM;
		if (c->sa.uid != (uint32_t)-1)
			n->uid = c->sa.uid;
		if (c->sa.gid != (uint32_t)-1)
			n->gid = c->sa.gid;
	}
	if (c->arg0 & SHUNT_SETATTR_TIMES) {
		if (!owner && !allowed(n, cr, 2))
			return -EACCES;
		struct timespec t = now_ts();
		if (c->sa.atime_nsec != UTIME_OMIT)
			n->atime = c->sa.atime_nsec == UTIME_NOW ? t : (struct timespec){ c->sa.atime_sec, c->sa.atime_nsec };
		if (c->sa.mtime_nsec != UTIME_OMIT)
			n->mtime = c->sa.mtime_nsec == UTIME_NOW ? t : (struct timespec){ c->sa.mtime_sec, c->sa.mtime_nsec };
	}
	n->ctime = now_ts();
	return 0;
}
static int64_t setattr_locked(struct fs_req *r, struct fs_handle *h)
{
	struct mem_node *n = h ? h->obj : NULL;
	if (!n) {
		int err = walk(root, r->cmd->path, !(r->cmd->arg2 & AT_SYMLINK_NOFOLLOW), 0, creds(r), &n);
		if (err)
			return err;
	}
	return setattr_on(r, n);
}
static int64_t mem_setattr(struct fs_req *r)
{
	struct fs_handle *h = NULL;
	if (r->cmd->handle && !(h = fs_handle_get(r->sess->family, r->cmd->handle)))
		return -EBADF;
	int64_t res = LOCKED(setattr_locked(r, h));
	if (h)
		fs_handle_put(h);
	return res;
}

static int64_t mem_statfs(struct fs_req *r)
{
	struct shunt_statfs sf = { .type = 0x01021994 /* tmpfs */, .bsize = 4096, .namelen = NAME_MAX, .frsize = 4096,
				   .blocks = 1u << 20, .bfree = 1u << 20, .bavail = 1u << 20, .files = 1u << 20,
				   .ffree = 1u << 20 };
	if (r->cmd->reply_cap < sizeof(sf))
		return -EINVAL;
	memcpy(r->s_reply, &sf, sizeof(sf));
	return 0;
}

static int64_t mem_nop(struct fs_req *r) { (void)r; return 0; }
static int64_t mem_nolock(struct fs_req *r) { (void)r; return -ENOLCK; }
static int64_t mem_nofallocate(struct fs_req *r) { (void)r; return -EOPNOTSUPP; }
/* No holes in memory: the client treats the whole file as data. */
static int64_t mem_noseek(struct fs_req *r) { (void)r; return -EOPNOTSUPP; }

static int mem_init(const char *unused)
{
	(void)unused;
	root = node_new(S_IFDIR | 0755, NULL);
	if (!root)
		return -ENOMEM;
	root->nlink = 2;
	return 0;
}

const struct fs_backend fs_memfs = {
	.name = "mem",
	.init = mem_init,
	.ops = {
		.nop = mem_nop, .open = mem_open, .close = mem_close, .read = mem_read, .write = mem_write,
		.fsync = mem_fsync, .ftruncate = mem_ftruncate, .truncate = mem_truncate, .stat = mem_stat,
		.fstat = mem_fstat, .access = mem_access, .unlink = mem_unlink, .rename = mem_rename,
		.mkdir = mem_mkdir, .getdents = mem_getdents, .lock = mem_nolock, .setattr = mem_setattr,
		.symlink = mem_symlink, .readlink = mem_readlink, .link = mem_link, .statfs = mem_statfs,
		.fallocate = mem_nofallocate,
		.seek = mem_noseek,
	},
};
