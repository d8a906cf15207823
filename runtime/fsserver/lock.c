/* Advisory locks: every lock owner (a client pid for POSIX locks, an open
 * file description id for OFD locks and flock) gets its own server fd on
 * the inode, and the kernel's OFD locks / flock on that fd do the work.
 * Never blocks: F_SETLKW is tried once (-EAGAIN; the client retries). */
#include "fsserver.h"
#include "common/atomics.h"
#include "shunt/jswitch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

struct fs_lockent {
	struct fs_inode *ino;      /* ref held */
	unsigned kind;             /* SHUNT_LOCK_* */
	uint64_t owner;
	int fd;
	uint32_t via_handle;       /* handle that created it (OFD, flock) */
	struct fs_family *family;
	struct fs_lockent *next;
};

static pthread_mutex_t locks_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fs_lockent *locks;
static uint32_t nentries;
uint32_t fs_lock_max_entries = 1024; /* set from RLIMIT_NOFILE in main */

/* Under locks_lock. */
static struct fs_lockent *entry(struct fs_handle *h, unsigned kind, uint64_t owner, struct fs_family *f, int *err)
{
	for (struct fs_lockent *e = locks; e; e = e->next)
		if (e->ino == h->ino && e->kind == kind && e->owner == owner && (kind == SHUNT_LOCK_POSIX || e->family == f))
			return e;
	if (nentries >= fs_lock_max_entries) {
		*err = -ENOLCK; /* each owner costs the server an fd */
		return NULL;
	}
	/* Reopen the file as ourselves: a new description, so its locks are
	 * its own. The client's right to lock was its handle's access mode. */
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", h->fd);
	fs_creds_restore();
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		*err = -errno;
		return NULL;
	}
	struct fs_lockent *e = calloc(1, sizeof(*e));
	if (!e) {
		close(fd);
		*err = -ENOMEM;
		return NULL;
	}
	fs_inode_ref(h->ino); /* the entry keeps the inode (and so the lock fd) alive */
	fetch_add_relaxed(&h->ino->nlocks, 1);
	*e = (struct fs_lockent){ .ino = h->ino, .kind = kind, .owner = owner, .fd = fd, .via_handle = h->id,
				  .family = f, .next = locks };
	locks = e;
	nentries++;
	return e;
}

static void free_entry(struct fs_lockent *e)
{
	fetch_sub_acq_rel(&e->ino->nlocks, 1);
	close(e->fd); /* drops every lock the description held */
	fs_inode_put(e->ino);
	free(e);
}

/* Who holds the conflicting lock? Another POSIX entry whose own view of
 * the range differs (F_OFD_GETLK ignores the asker's own locks). */
static int32_t holder_pid(struct fs_lockent *self, const struct flock *req, const struct flock *got)
{
	for (struct fs_lockent *e = locks; e; e = e->next) {
		if (e == self || e->ino != self->ino || e->kind != SHUNT_LOCK_POSIX)
			continue;
		struct flock q = *req;
		q.l_pid = 0;
		if (fcntl(e->fd, F_OFD_GETLK, &q) < 0)
			continue;
		if (q.l_type == F_UNLCK || q.l_start != got->l_start || q.l_len != got->l_len || q.l_type != got->l_type)
			return (int32_t)e->owner;
	}
	return -1;
}

int fs_lock_op(struct fs_handle *h, struct fs_family *f, const struct fs_cmd *c, pid_t session_pid,
	       struct shunt_flock *out)
{
	unsigned kind = c->arg0;
	if (kind != SHUNT_LOCK_POSIX && kind != SHUNT_LOCK_OFD && kind != SHUNT_LOCK_FLOCK)
		return -EINVAL;
	if ((h->flags & O_PATH) == O_PATH)
		return -EBADF;
	if (!h->ino)
		return -ENOLCK; /* only regular files carry locks here */
	uint64_t owner = c->arg2;
	if (kind == SHUNT_LOCK_POSIX && !owner)
		owner = (uint64_t)session_pid;
	int acc = h->flags & O_ACCMODE;

	int err = 0, r = 0;
	pthread_mutex_lock(&locks_lock);
	if (kind == SHUNT_LOCK_FLOCK) {
		int op = (int)c->arg1 & ~LOCK_NB;
		if (op != LOCK_SH && op != LOCK_EX && op != LOCK_UN) {
			r = -EINVAL;
			goto out;
		}
		struct fs_lockent *e = entry(h, kind, owner, f, &err);
		if (!e) {
			r = err;
			goto out;
		}
		r = flock(e->fd, op | LOCK_NB) < 0 ? -errno : 0;
		goto out;
	}

	int cmd = (int)c->arg1;
	if (cmd == F_OFD_SETLK)
		cmd = F_SETLK;
	else if (cmd == F_OFD_SETLKW)
		cmd = F_SETLKW;
	else if (cmd == F_OFD_GETLK)
		cmd = F_GETLK;
	if (cmd != F_SETLK && cmd != F_SETLKW && cmd != F_GETLK) {
		r = -EINVAL;
		goto out;
	}
	struct flock fl = { .l_type = c->fl.type, .l_whence = c->fl.whence, .l_start = c->fl.start, .l_len = c->fl.len };
	if (fl.l_type != F_RDLCK && fl.l_type != F_WRLCK && fl.l_type != F_UNLCK) {
		r = -EINVAL;
		goto out;
	}
	if (cmd != F_GETLK && ((fl.l_type == F_RDLCK && acc == O_WRONLY) || (fl.l_type == F_WRLCK && acc == O_RDONLY))) {
		r = -EBADF;
		goto out;
	}
	if (cmd == F_GETLK && fl.l_type == F_UNLCK) {
		r = -EINVAL;
		goto out;
	}
	/* SEEK_CUR is relative to the client's offset, which only it knows:
	 * the client sends SEEK_SET (SEEK_CUR here counts from 0). */
	struct fs_lockent *e = entry(h, kind, owner, f, &err);
	if (!e) {
		r = err;
		goto out;
	}
	if (cmd == F_GETLK) {
		struct flock req = fl;
		if (fcntl(e->fd, F_OFD_GETLK, &fl) < 0) {
			r = -errno;
			goto out;
		}
		out->type = fl.l_type;
		out->whence = SEEK_SET;
		out->start = fl.l_start;
		out->len = fl.l_len;
		out->pid = fl.l_type == F_UNLCK ? 0 : holder_pid(e, &req, &fl);
		r = 1; /* tells the caller to copy *out back */
		goto out;
	}
	if (fcntl(e->fd, F_OFD_SETLK, &fl) < 0)
		r = errno == EACCES ? -EAGAIN : -errno;
out:
	pthread_mutex_unlock(&locks_lock);
	return r;
}

/* Which entries a release drops: a jump switch (three matchers, each
 * called once per held lock on close and on client exit). */
SHUNT_JSW_SITE(fs_lock_match, bool, 2, struct fs_lockent *, const void *);

static void release_if(bool (*match)(struct fs_lockent *, const void *), const void *arg)
{
	struct fs_lockent *gone = NULL;
	pthread_mutex_lock(&locks_lock);
	for (struct fs_lockent **pp = &locks; *pp;) {
		struct fs_lockent *e = *pp;
		if (SHUNT_JSW_CALL(fs_lock_match, match, e, arg)) {
			nentries--;
			*pp = e->next;
			e->next = gone;
			gone = e;
		} else {
			pp = &e->next;
		}
	}
	pthread_mutex_unlock(&locks_lock);
	while (gone) {
		struct fs_lockent *n = gone->next;
		free_entry(gone);
		gone = n;
	}
}

struct owner_key { struct fs_inode *ino; unsigned kind; uint64_t owner; };
static bool match_owner(struct fs_lockent *e, const void *a)
{
	const struct owner_key *k = a;
	return e->ino == k->ino && e->kind == k->kind && e->owner == k->owner;
}
void fs_lock_release_owner(struct fs_inode *ino, unsigned kind, uint64_t owner)
{
	if (!load_acquire(&ino->nlocks))
		return;
	struct owner_key k = { ino, kind, owner };
	release_if(match_owner, &k);
}

struct handle_key { struct fs_inode *ino; uint32_t id; struct fs_family *f; };
static bool match_handle(struct fs_lockent *e, const void *a)
{
	const struct handle_key *k = a;
	return e->ino == k->ino && e->kind != SHUNT_LOCK_POSIX && e->via_handle == k->id && e->family == k->f;
}
void fs_lock_release_handle(struct fs_inode *ino, uint32_t handle_id, struct fs_family *f)
{
	if (!load_acquire(&ino->nlocks))
		return;
	struct handle_key k = { ino, handle_id, f };
	release_if(match_handle, &k);
}

static bool match_pid(struct fs_lockent *e, const void *a)
{
	return e->kind == SHUNT_LOCK_POSIX && e->owner == (uint64_t) * (const pid_t *)a;
}
void fs_lock_release_pid_all(pid_t pid)
{
	release_if(match_pid, &pid);
}
