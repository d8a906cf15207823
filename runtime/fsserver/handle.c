/* A family's table of open handles: the ids clients put in sqe.handle.
 * Lookups take a reference so a concurrent close never frees a handle in
 * use; the last reference closes the server fd. Called by pollers and by
 * the family reaper. */
#include "fsserver.h"
#include "common/atomics.h"
#include "shunt/jswitch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FS_MAX_HANDLES (1u << 20)

uint32_t fs_family_max_open = 4096; /* set from RLIMIT_NOFILE in main */

/* Recently freed handles of this thread, their pos_lock still initialised:
 * an open/close pair then costs no malloc. */
static __thread struct fs_handle *spare;
static __thread unsigned nspare;
#define MAX_SPARE 64

struct fs_handle *fs_handle_new(int fd, int flags, uint32_t st_mode, struct fs_inode *ino)
{
	struct fs_handle *h = spare;
	if (h) {
		spare = h->obj;
		nspare--;
		pthread_mutex_t keep = h->pos_lock;
		memset(h, 0, sizeof(*h));
		h->pos_lock = keep;
	} else {
		if (!(h = calloc(1, sizeof(*h))))
			return NULL;
		pthread_mutex_init(&h->pos_lock, NULL);
	}
	h->refs = 1;
	h->fd = fd;
	h->flags = flags;
	h->st_mode = st_mode;
	h->ino = ino;
	return h;
}

int fs_handle_install(struct fs_family *f, struct fs_handle *h)
{
	pthread_mutex_lock(&f->lock);
	/* One family cannot take every fd the server has. A handle on an
	 * inode's shared fd (a path-cache open) holds none: clients keep such
	 * handles closed for reopening, so those count against a wider bound
	 * that only limits memory. */
	if (h->shared_fd ? f->nshared >= 16 * fs_family_max_open : f->nopen - f->nshared >= fs_family_max_open) {
		pthread_mutex_unlock(&f->lock);
		return -EMFILE;
	}
	uint32_t n = f->nhandles, idx = n;
	/* Round-robin from the last slot handed out: a just-closed id is not
	 * reused at once, so a stale id from a racing client rarely aliases. */
	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = (f->next_free + k) % n;
		if (!f->handles[i]) {
			idx = i;
			break;
		}
	}
	if (idx == n) {
		uint32_t nn = n ? n * 2 : 64;
		if (nn > FS_MAX_HANDLES) {
			pthread_mutex_unlock(&f->lock);
			return -EMFILE;
		}
		struct fs_handle **t = realloc(f->handles, nn * sizeof(*t));
		if (!t) {
			pthread_mutex_unlock(&f->lock);
			return -ENOMEM;
		}
		for (uint32_t i = n; i < nn; i++)
			t[i] = NULL;
		f->handles = t;
		f->nhandles = nn;
	}
	h->id = idx + 1;
	f->handles[idx] = h;
	f->nopen++;
	f->nshared += h->shared_fd;
	f->next_free = idx + 1;
	pthread_mutex_unlock(&f->lock);
	return (int)h->id;
}

struct fs_handle *fs_handle_get(struct fs_family *f, uint32_t id)
{
	struct fs_handle *h = NULL;
	pthread_mutex_lock(&f->lock);
	if (id - 1 < f->nhandles && (h = f->handles[id - 1]))
		fetch_add_relaxed(&h->refs, 1);
	pthread_mutex_unlock(&f->lock);
	return h;
}

/* The backend's per-handle release hook: a jump switch (direct once learned). */
SHUNT_JSW_SITE(fs_handle_release, void, 1, struct fs_handle *);

void fs_handle_put(struct fs_handle *h)
{
	if (fetch_sub_acq_rel(&h->refs, 1) != 1)
		return;
	if (h->release)
		SHUNT_JSW_CALL(fs_handle_release, h->release, h);
	if (!h->shared_fd && h->fd >= 0)
		close(h->fd);
	if (h->ino)
		fs_inode_put(h->ino);
	if (nspare < MAX_SPARE) {
		h->obj = spare; /* the spare list links through obj */
		spare = h;
		nspare++;
		return;
	}
	pthread_mutex_destroy(&h->pos_lock);
	free(h);
}

struct fs_handle *fs_handle_remove(struct fs_family *f, uint32_t id)
{
	struct fs_handle *h = NULL;
	pthread_mutex_lock(&f->lock);
	if (id - 1 < f->nhandles && (h = f->handles[id - 1])) {
		f->handles[id - 1] = NULL;
		f->nopen--;
		f->nshared -= h->shared_fd;
	}
	pthread_mutex_unlock(&f->lock);
	return h;
}

int fs_family_cache_fd(struct fs_family *f, uint64_t cache_id)
{
	int fd = -ENOENT;
	pthread_mutex_lock(&f->lock);
	for (uint32_t i = 0; i < f->nhandles; i++) {
		struct fs_handle *h = f->handles[i];
		if (h && h->ino && h->ino->cached && h->ino->cache_id == cache_id) {
			/* A dup under the lock: the handle may close right after. */
			fd = fcntl(h->ino->fc.rofd, F_DUPFD_CLOEXEC, 0);
			if (fd < 0)
				fd = -errno;
			break;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return fd;
}

void fs_family_close_all(struct fs_family *f)
{
	for (uint32_t id = 1; id <= f->nhandles; id++) {
		struct fs_handle *h = fs_handle_remove(f, id);
		if (!h)
			continue;
		if (h->ino)
			fs_lock_release_handle(h->ino, h->id, f);
		fs_handle_put(h);
	}
	free(f->handles);
	f->handles = NULL;
	f->nhandles = 0;
}
