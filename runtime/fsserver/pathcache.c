/* The metadata fast path: path -> (inode, shared server fd, the mode and
 * owner of every directory on the way), so a repeated open/stat/access is a
 * lookup and a permission check instead of an openat2. Plain paths only;
 * inotify on each directory and file, read before every lookup, invalidates. */
#include "fsserver.h"
#include "common/atomics.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define PC_BUCKETS 4096u
#define PC_MAX_ENTRIES 16384u
#define PC_MAX_DEPTH 32u

struct pc_perm {
	uint32_t mode, uid, gid;
};

struct pc_entry {
	struct pc_entry *next;
	uint64_t epoch;            /* pc_epoch when filled */
	uint32_t hash;
	uint32_t ndirs;            /* the root and each directory below it */
	uint64_t dev, ino;         /* looked up in the inode table at each hit */
	struct pc_perm leaf;
	struct pc_perm dirs[PC_MAX_DEPTH];
	char path[];
};

bool fs_pc_enabled = true;
uint64_t fs_data_epoch = 1;        /* bumped by any inotify event: revalidate inodes */
static uint64_t pc_epoch = 1;      /* bumped by any event but content changes */
static int ifd = -1;
static pthread_mutex_t pc_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pc_entry *buckets[PC_BUCKETS];
static uint32_t nentries;
#define PC_SEEN 8192u
static uint32_t seen[PC_SEEN];     /* hashes of paths that missed once */
static char root_proc[64];         /* /proc/self/fd/ROOTFD: our own view of the root */
static bool server_root;
struct fs_pc_stats fs_pc_stats;

int fs_pc_init(void)
{
	ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ifd < 0) {
		log_warn("shuntd: no inotify (%d): metadata fast path off", errno);
		fs_pc_enabled = false;
		return 0;
	}
	snprintf(root_proc, sizeof(root_proc), "/proc/self/fd/%d", fs_rootfd);
	server_root = geteuid() == 0;
	if (fs_reopen_init() == 0) {
		pthread_mutex_lock(&pc_lock);
		fs_reopen_publish(pc_epoch);
		pthread_mutex_unlock(&pc_lock);
	}
	return 0;
}

static void drain(void);

void fs_pc_sync(bool retire_kept)
{
	if (!fs_pc_enabled)
		return;
	pthread_mutex_lock(&pc_lock);
	drain();
	if (retire_kept) {
		fs_reopen_retire();
		fs_reopen_publish(pc_epoch);
	}
	pthread_mutex_unlock(&pc_lock);
}

static uint32_t hash_path(const char *p)
{
	uint32_t h = 2166136261u;
	for (; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h;
}

/* Read every queued inotify event. Called with pc_lock held, before any
 * lookup: an event queued by a finished system call is always seen. */
static void drain(void)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	/* The common case is an empty queue: FIONREAD says so for less than
	 * a read() that fails with EAGAIN. */
	int queued = 0;
	if (ioctl(ifd, FIONREAD, &queued) == 0 && queued == 0)
		return;
	for (;;) {
		ssize_t n = read(ifd, buf, sizeof(buf));
		if (n <= 0)
			return;
		bool names = false;
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			if (ev->mask & ~(uint32_t)(IN_MODIFY | IN_CLOSE_WRITE))
				names = true;
			p += sizeof(*ev) + ev->len;
		}
		fetch_add_relaxed(&fs_data_epoch, 1);
		if (names)
			fs_reopen_publish(++pc_epoch);
	}
}

static void free_entry(struct pc_entry *e)
{
	free(e);
}

/* Under pc_lock: the live entry for path, dropping a stale one. */
static struct pc_entry *lookup(const char *path, uint32_t h)
{
	for (struct pc_entry **pp = &buckets[h % PC_BUCKETS]; *pp; pp = &(*pp)->next) {
		struct pc_entry *e = *pp;
		if (e->hash != h || strcmp(e->path, path))
			continue;
		if (e->epoch == pc_epoch)
			return e;
		*pp = e->next;
		nentries--;
		free_entry(e);
		return NULL;
	}
	return NULL;
}

static bool in_group(const struct fs_creds *c, uint32_t gid)
{
	if (c->gid == gid)
		return true;
	for (uint32_t i = 0; i < c->ngroups; i++)
		if (c->groups[i] == gid)
			return true;
	return false;
}

/* generic_permission() for mode bits, as c (want: 4 r, 2 w, 1 x). */
static bool may(const struct pc_perm *p, const struct fs_creds *c, unsigned want, bool dir)
{
	if (c->uid == 0 && server_root) {
		/* CAP_DAC_OVERRIDE: everything but exec of a file with no x bit. */
		return !(want & 1) || dir || (p->mode & 0111);
	}
	unsigned bits = c->uid == p->uid ? (p->mode >> 6) & 7 : in_group(c, p->gid) ? (p->mode >> 3) & 7 : p->mode & 7;
	return (bits & want) == want;
}

static bool dirs_searchable(const struct pc_entry *e, const struct fs_creds *c)
{
	for (uint32_t i = 0; i < e->ndirs; i++)
		if (!may(&e->dirs[i], c, 1, true))
			return false;
	return true;
}

/* Bring ino's stat up to date when anything changed since it was checked. */
static int revalidate(struct fs_inode *ino)
{
	if (ino->direct)
		return -EAGAIN; /* a writable mapping changes it unseen: always ask the file */
	uint64_t de = load_relaxed(&fs_data_epoch);
	if (load_relaxed(&ino->checked_epoch) == de)
		return 0;
	int fd = ino->sfd[O_RDWR] >= 0 ? ino->sfd[O_RDWR] : ino->sfd[O_RDONLY] >= 0 ? ino->sfd[O_RDONLY] : ino->sfd[O_WRONLY];
	if (fd < 0)
		return -ENOENT;
	struct shunt_stat st;
	int r = fs_statx_fd(fd, "", AT_EMPTY_PATH, &st);
	if (r)
		return r;
	if (st.nlink == 0)
		return -ENOENT; /* unlinked: the path names something else now */
	fs_inode_revalidate(ino, &st);
	store_relaxed(&ino->checked_epoch, de);
	return 0;
}

#define FAST_OPEN_FLAGS (O_ACCMODE | O_CLOEXEC | O_LARGEFILE | O_NOCTTY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK)

bool fs_pc_flags_ok(int flags)
{
	return !(flags & ~FAST_OPEN_FLAGS) && (flags & O_ACCMODE) != O_ACCMODE;
}

/* The fstat answer for an open inode without a system call when nothing
 * happened since it was last checked. */
int fs_pc_stat_inode(struct fs_inode *ino, struct shunt_stat *out)
{
	if (!fs_pc_enabled)
		return -EAGAIN;
	pthread_mutex_lock(&pc_lock);
	drain();
	pthread_mutex_lock(&ino->lock);
	int err = revalidate(ino) ? -EAGAIN : 0;
	if (!err)
		*out = ino->st;
	pthread_mutex_unlock(&ino->lock);
	pthread_mutex_unlock(&pc_lock);
	return err;
}

int fs_pc_open(struct fs_req *r)
{
	const struct fs_cmd *c = r->cmd;
	int flags = (int)c->arg0, acc = flags & O_ACCMODE;
	if (!fs_pc_enabled || !fs_pc_flags_ok(flags))
		return -EAGAIN;
	uint32_t h = hash_path(c->path);
	pthread_mutex_lock(&pc_lock);
	drain();
	struct pc_entry *e = lookup(c->path, h);
	unsigned want = acc == O_RDONLY ? 4 : acc == O_WRONLY ? 2 : 6;
	if (!e || !dirs_searchable(e, &r->sess->creds) || !may(&e->leaf, &r->sess->creds, want, false)) {
		pthread_mutex_unlock(&pc_lock);
		fetch_add_relaxed(&fs_pc_stats.misses, 1);
		return -EAGAIN; /* the slow path finds out exactly what happens */
	}
	struct fs_inode *ino = fs_inode_find(e->dev, e->ino);
	if (!ino) {
		pthread_mutex_unlock(&pc_lock);
		fetch_add_relaxed(&fs_pc_stats.misses, 1);
		return -EAGAIN; /* evicted: the slow path opens it again */
	}
	/* An sfd, once set, stays until the inode dies (we hold a ref), and
	 * st.mode's type never changes: no inode lock unless it must be
	 * revalidated. */
	int fd = load_acquire(&ino->sfd[acc]);
	if (fd < 0 && acc != O_RDWR)
		fd = load_acquire(&ino->sfd[O_RDWR]);
	int err = fd < 0 || load_relaxed(&ino->direct) ? -EAGAIN : 0;
	if (!err && load_relaxed(&ino->checked_epoch) != load_relaxed(&fs_data_epoch)) {
		pthread_mutex_lock(&ino->lock);
		err = revalidate(ino);
		pthread_mutex_unlock(&ino->lock);
	}
	uint32_t mode = e->leaf.mode;
	/* Plain read-only opens may be kept by the client and reused while
	 * this epoch holds (reopen.c). */
	uint32_t keep = (flags & ~(O_CLOEXEC | O_LARGEFILE | O_NOCTTY)) == O_RDONLY ? fs_reopen_epoch(pc_epoch) : 0;
	pthread_mutex_unlock(&pc_lock);
	if (err) {
		fs_inode_put(ino);
		fetch_add_relaxed(&fs_pc_stats.misses, 1);
		return -EAGAIN;
	}

	struct fs_handle *hd = fs_handle_new(fd, flags, mode, ino);
	if (!hd) {
		fs_inode_put(ino);
		return -ENOMEM;
	}
	hd->shared_fd = true;
	int id = fs_handle_install(r->sess->family, hd);
	if (id < 0) {
		fs_handle_put(hd);
		return id;
	}
	fetch_add_relaxed(&fs_pc_stats.hits, 1);
	r->cqe->aux0 = ino->cached ? ino->cache_id : 0;
	r->cqe->aux1 = mode | (uint64_t)keep << 32;
	return id;
}

int fs_pc_stat(struct fs_req *r, struct shunt_stat *out)
{
	if (!fs_pc_enabled || (r->cmd->arg0 & ~(unsigned)(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT)))
		return -EAGAIN;
	uint32_t h = hash_path(r->cmd->path);
	pthread_mutex_lock(&pc_lock);
	drain();
	struct pc_entry *e = lookup(r->cmd->path, h);
	int err = -EAGAIN;
	struct fs_inode *ino = e && dirs_searchable(e, &r->sess->creds) ? fs_inode_find(e->dev, e->ino) : NULL;
	if (ino) {
		pthread_mutex_lock(&ino->lock);
		err = revalidate(ino) ? -EAGAIN : 0;
		if (!err)
			*out = ino->st;
		pthread_mutex_unlock(&ino->lock);
	}
	pthread_mutex_unlock(&pc_lock);
	if (ino)
		fs_inode_put(ino);
	if (err)
		fetch_add_relaxed(&fs_pc_stats.misses, 1);
	else
		fetch_add_relaxed(&fs_pc_stats.hits, 1);
	return err;
}

int fs_pc_access(struct fs_req *r)
{
	unsigned mode = r->cmd->arg0;
	if (!fs_pc_enabled || (r->cmd->arg1 & ~(unsigned)(AT_EACCESS | AT_SYMLINK_NOFOLLOW)) || (mode & ~7u))
		return -EAGAIN;
	uint32_t h = hash_path(r->cmd->path);
	pthread_mutex_lock(&pc_lock);
	drain();
	struct pc_entry *e = lookup(r->cmd->path, h);
	int res = -EAGAIN;
	struct fs_inode *ino = e && dirs_searchable(e, &r->sess->creds) ? fs_inode_find(e->dev, e->ino) : NULL;
	if (ino) {
		pthread_mutex_lock(&ino->lock);
		if (revalidate(ino) == 0) {
			struct pc_perm leaf = { (uint32_t)ino->st.mode, ino->st.uid, ino->st.gid };
			res = !mode || may(&leaf, &r->sess->creds, mode, false) ? 0 : -EACCES;
		}
		pthread_mutex_unlock(&ino->lock);
	}
	pthread_mutex_unlock(&pc_lock);
	if (ino)
		fs_inode_put(ino);
	/* A denial goes the slow way too: ACLs, read-only mounts and the like
	 * are the kernel's to judge. */
	return res == 0 ? 0 : -EAGAIN;
}

/* A path we can cache: relative, no empty, "." or ".." component. */
static bool plain(const char *p)
{
	if (!*p || *p == '/')
		return false;
	for (const char *s = p;;) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		if (!e)
			return true;
		s = e + 1;
	}
}

static bool has_acl(const char *path)
{
	char v[8];
	ssize_t n = lgetxattr(path, "system.posix_acl_access", v, sizeof(v));
	return n >= 0 || errno == ERANGE;
}

void fs_pc_fill(const char *path, struct fs_inode *ino, int fd, int flags)
{
	if (!fs_pc_enabled || !ino || !fs_pc_flags_ok(flags) || !plain(path))
		return;
	size_t plen = strlen(path);
	if (plen + strlen(root_proc) + 2 > SHUNT_PATH_MAX)
		return;
	pthread_mutex_lock(&pc_lock);
	drain();
	/* Filling costs a watch, an lstat and an xattr probe per component:
	 * worth it for a path opened again, not for one read once (tar, grep
	 * -r). So the first miss only remembers the path's hash. */
	uint32_t ph = hash_path(path);
	if (seen[ph % PC_SEEN] != ph) {
		seen[ph % PC_SEEN] = ph;
		pthread_mutex_unlock(&pc_lock);
		return;
	}
	/* Keep a server fd of this access mode for later fast opens (lock
	 * order: pc_lock, then the inode's). */
	int acc = flags & O_ACCMODE;
	pthread_mutex_lock(&ino->lock);
	if (ino->sfd[acc] < 0)
		store_release(&ino->sfd[acc], fcntl(fd, F_DUPFD_CLOEXEC, 0)); /* read lock-free in fs_pc_open */
	pthread_mutex_unlock(&ino->lock);
	if (lookup(path, ph) || nentries >= PC_MAX_ENTRIES) {
		pthread_mutex_unlock(&pc_lock);
		return;
	}
	uint64_t epoch = pc_epoch;
	struct pc_entry *e = calloc(1, sizeof(*e) + plen + 1);
	if (!e) {
		pthread_mutex_unlock(&pc_lock);
		return;
	}
	memcpy(e->path, path, plen + 1);
	/* Watches first, then look: a change after the watch is an event, a
	 * change before it shows in what we look at. */
	char full[SHUNT_PATH_MAX + 64];
	int rl = snprintf(full, sizeof(full), "%s/", root_proc);
	const uint32_t dir_mask = IN_ATTRIB | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF |
				  IN_MOVE_SELF | IN_MODIFY | IN_ONLYDIR;
	const uint32_t file_mask = IN_ATTRIB | IN_MODIFY | IN_DELETE_SELF | IN_MOVE_SELF | IN_DONT_FOLLOW;
	bool ok = true;
	uint32_t nd = 0;
	for (size_t i = 0; ok; i++) {
		/* Prefix [0, i) is a directory when i == 0 or path[i] == '/'. */
		if (i < plen && path[i] != '/' && i != 0)
			continue;
		if (i == plen)
			break;
		if (nd >= PC_MAX_DEPTH) {
			ok = false;
			break;
		}
		memcpy(full + rl, path, i);
		full[rl + i] = 0;
		struct stat st;
		if (inotify_add_watch(ifd, full, dir_mask) < 0 || !fs_reopen_watch(full, true) || lstat(full, &st) < 0 ||
		    !S_ISDIR(st.st_mode) ||
		    has_acl(full)) {
			ok = false;
			break;
		}
		e->dirs[nd++] = (struct pc_perm){ st.st_mode, st.st_uid, st.st_gid };
	}
	struct stat st;
	memcpy(full + rl, path, plen + 1);
	if (ok && (inotify_add_watch(ifd, full, file_mask) < 0 || !fs_reopen_watch(full, false) || lstat(full, &st) < 0 ||
		   !S_ISREG(st.st_mode) ||
		   (uint64_t)st.st_ino != ino->ino || (uint64_t)st.st_dev != ino->dev || has_acl(full)))
		ok = false;
	if (!ok) {
		pthread_mutex_unlock(&pc_lock);
		free(e);
		fetch_add_relaxed(&fs_pc_stats.uncacheable, 1);
		return;
	}
	e->ndirs = nd;
	e->leaf = (struct pc_perm){ st.st_mode, st.st_uid, st.st_gid };
	e->epoch = epoch;
	e->hash = hash_path(path);
	e->dev = ino->dev;
	e->ino = ino->ino;
	struct pc_entry **b = &buckets[e->hash % PC_BUCKETS];
	e->next = *b;
	*b = e;
	nentries++;
	pthread_mutex_unlock(&pc_lock);
}

void fs_pc_trim(void)
{
	/* Drop stale entries: memory only, nothing else hangs off them. */
	static uint64_t trimmed; /* the epoch of the last sweep: nothing went stale since */
	struct pc_entry *gone = NULL;
	if (!fs_pc_enabled)
		return;
	pthread_mutex_lock(&pc_lock);
	drain();
	if (trimmed == pc_epoch) {
		pthread_mutex_unlock(&pc_lock);
		return;
	}
	trimmed = pc_epoch;
	for (unsigned b = 0; b < PC_BUCKETS; b++)
		for (struct pc_entry **pp = &buckets[b]; *pp;) {
			struct pc_entry *e = *pp;
			if (e->epoch == pc_epoch) {
				pp = &e->next;
				continue;
			}
			*pp = e->next;
			e->next = gone;
			gone = e;
			nentries--;
		}
	pthread_mutex_unlock(&pc_lock);
	while (gone) {
		struct pc_entry *n = gone->next;
		free_entry(gone);
		gone = n;
	}
}
