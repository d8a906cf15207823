/* Server-wide inode objects keyed by (dev, ino): the per-file cache, the
 * stat it was filled against, the fds fast opens share. Unreferenced ones
 * keep their cache in an LRU until the memory budget or the count bound
 * drops them. Called by pollers; the table lock is never held across I/O. */
#include "fsserver.h"
#include "common/atomics.h"
#include "common/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define NBUCKETS 4096u

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fs_inode *buckets[NBUCKETS];
static struct fs_inode *lru_head, *lru_tail; /* head = most recently released */
static uint32_t nlru;
static uint64_t next_cache_id;
uint32_t fs_inode_lru_max = 2048; /* set from RLIMIT_NOFILE: each keeps up to 5 fds */


static unsigned bucket_of(uint64_t dev, uint64_t ino)
{
	uint64_t h = (dev * 0x9e3779b97f4a7c15ull) ^ (ino * 0xc2b2ae3d27d4eb4full);
	return (unsigned)(h >> 40) % NBUCKETS;
}

static void lru_unlink(struct fs_inode *i)
{
	if (i->lru_prev)
		i->lru_prev->lru_next = i->lru_next;
	else
		lru_head = i->lru_next;
	if (i->lru_next)
		i->lru_next->lru_prev = i->lru_prev;
	else
		lru_tail = i->lru_prev;
	i->lru_prev = i->lru_next = NULL;
	nlru--;
}

static void hash_unlink(struct fs_inode *i)
{
	struct fs_inode **pp = &buckets[bucket_of(i->dev, i->ino)];
	while (*pp && *pp != i)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = i->hnext;
}

/* Did the file change behind our back since the cache was filled? */
static bool stale(const struct shunt_stat *a, const struct shunt_stat *b)
{
	/* btime too where the file system has it: a new file on a recycled
	 * inode number is a different file even with equal times. */
	bool born = (a->mask & b->mask & STATX_BTIME) &&
		    (a->btime_sec != b->btime_sec || a->btime_nsec != b->btime_nsec);
	return a->ino != b->ino || a->size != b->size || a->mtime_sec != b->mtime_sec ||
	       a->mtime_nsec != b->mtime_nsec || a->ctime_sec != b->ctime_sec || a->ctime_nsec != b->ctime_nsec || born;
}

/* Files once mapped writable (dev, ino), under table_lock: a mapping
 * outlives its handles and the inode object, so a later inode for the same
 * file must not cache what the mapping may still change. */
#define DIRECT_MAX 1024u
static struct {
	uint64_t dev, ino;
} direct_files[DIRECT_MAX];
static uint32_t direct_next;

static bool was_direct(uint64_t dev, uint64_t ino)
{
	for (uint32_t k = 0; k < DIRECT_MAX && k < direct_next; k++)
		if (direct_files[k].dev == dev && direct_files[k].ino == ino)
			return true;
	return false;
}

void fs_inode_make_direct(struct fs_inode *i)
{
	if (i->direct)
		return;
	store_relaxed(&i->direct, true);
	if (i->cached) {
		/* Clients see every block empty and the cache dead: they read
		 * and stat through shuntd, which reads the file itself. */
		fs_fcache_destroy(&i->fc);
		i->cached = false;
	}
	pthread_mutex_lock(&table_lock);
	if (!was_direct(i->dev, i->ino)) {
		direct_files[direct_next % DIRECT_MAX].dev = i->dev;
		direct_files[direct_next % DIRECT_MAX].ino = i->ino;
		direct_next++;
	}
	pthread_mutex_unlock(&table_lock);
}

static struct fs_inode *create(const struct shunt_stat *st)
{
	struct fs_inode *i = calloc(1, sizeof(*i));
	if (!i)
		return NULL;
	i->dev = st->dev;
	i->ino = st->ino;
	i->st = *st;
	i->sfd[0] = i->sfd[1] = i->sfd[2] = -1;
	pthread_mutex_init(&i->lock, NULL);
	pthread_mutex_lock(&table_lock);
	i->direct = was_direct(st->dev, st->ino);
	pthread_mutex_unlock(&table_lock);
	if (S_ISREG(st->mode) && st->size <= fs_cache_max_file && !i->direct) {
		uint64_t id = fetch_add_relaxed(&next_cache_id, 1) + 1;
		if (fs_fcache_create(&i->fc, id, st->size) == 0) {
			i->cached = true;
			i->cache_id = id;
			fs_fcache_set_stat(&i->fc, st);
		} else {
			log_warn("shuntd: no cache for inode %llu", (unsigned long long)st->ino);
		}
	}
	return i;
}

static void destroy(struct fs_inode *i)
{
	if (i->cached)
		fs_fcache_destroy(&i->fc);
	for (int k = 0; k < 3; k++)
		if (i->sfd[k] >= 0)
			close(i->sfd[k]);
	pthread_mutex_destroy(&i->lock);
	free(i);
}

void fs_inode_revalidate(struct fs_inode *i, const struct shunt_stat *st)
{
	if (stale(&i->st, st)) {
		/* Changed outside shunt: what we hold may be wrong. */
		i->st = *st;
		if (i->cached) {
			fs_fcache_set_size(&i->fc, st->size);
			fs_fcache_invalidate(&i->fc, 0, UINT64_MAX);
			fs_fcache_set_stat(&i->fc, st);
		}
	} else if (memcmp(&i->st, st, sizeof(*st))) {
		/* Same contents; attributes moved (atime, nlink, mode): show them. */
		fs_inode_refresh_stat(i, st);
	}
}

void fs_inode_ref(struct fs_inode *i)
{
	pthread_mutex_lock(&table_lock);
	if (i->refs++ == 0)
		lru_unlink(i);
	pthread_mutex_unlock(&table_lock);
}

struct fs_inode *fs_inode_find(uint64_t dev, uint64_t ino)
{
	pthread_mutex_lock(&table_lock);
	struct fs_inode *i = buckets[bucket_of(dev, ino)];
	while (i && !(i->dev == dev && i->ino == ino))
		i = i->hnext;
	if (i) {
		if (i->refs++ == 0)
			lru_unlink(i);
	}
	pthread_mutex_unlock(&table_lock);
	return i;
}

struct fs_inode *fs_inode_get(const struct shunt_stat *st)
{
	if (!next_cache_id) {
		/* Cache ids start at a random point: ids of an earlier shuntd
		 * never name one of ours. */
		uint64_t r = 0;
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = (uint64_t)st->ino << 20;
		uint64_t zero = 0;
		r = (r >> 16) | 1;
		cas_acq_rel(&next_cache_id, &zero, r);
	}
	struct fs_inode *i = fs_inode_find(st->dev, st->ino);
	if (i) {
		pthread_mutex_lock(&i->lock);
		fs_inode_revalidate(i, st);
		pthread_mutex_unlock(&i->lock);
		return i;
	}
	struct fs_inode *n = create(st);
	if (!n)
		return NULL;
	pthread_mutex_lock(&table_lock);
	/* Someone may have raced us in; keep theirs. */
	i = buckets[bucket_of(st->dev, st->ino)];
	while (i && !(i->dev == st->dev && i->ino == st->ino))
		i = i->hnext;
	if (i) {
		if (i->refs++ == 0)
			lru_unlink(i);
		pthread_mutex_unlock(&table_lock);
		destroy(n);
		return i;
	}
	n->refs = 1;
	unsigned b = bucket_of(st->dev, st->ino);
	n->hnext = buckets[b];
	buckets[b] = n;
	pthread_mutex_unlock(&table_lock);
	return n;
}

void fs_inode_put(struct fs_inode *i)
{
	pthread_mutex_lock(&table_lock);
	if (--i->refs == 0) {
		i->lru_prev = NULL;
		i->lru_next = lru_head;
		if (lru_head)
			lru_head->lru_prev = i;
		lru_head = i;
		if (!lru_tail)
			lru_tail = i;
		nlru++;
	}
	bool trim = nlru > fs_inode_lru_max || load_relaxed(&fs_cache_bytes) > fs_cache_budget;
	pthread_mutex_unlock(&table_lock);
	if (trim)
		fs_inode_trim();
}

void fs_inode_trim(void)
{
	for (;;) {
		pthread_mutex_lock(&table_lock);
		struct fs_inode *i = lru_tail;
		if (!i || (nlru <= fs_inode_lru_max && load_relaxed(&fs_cache_bytes) <= fs_cache_budget)) {
			pthread_mutex_unlock(&table_lock);
			return;
		}
		/* No client has it open: nobody can ask for its blocks. Seals
		 * forbid punching holes (FUTURE_WRITE), so the whole cache goes:
		 * marked dead, unmapped, closed; client mappings keep the pages
		 * alive only as long as they keep them. */
		lru_unlink(i);
		hash_unlink(i);
		pthread_mutex_unlock(&table_lock);
		destroy(i);
	}
}

void fs_inode_refresh_stat(struct fs_inode *i, const struct shunt_stat *st)
{
	i->st = *st;
	if (i->cached) {
		fs_fcache_set_size(&i->fc, st->size);
		fs_fcache_set_stat(&i->fc, st);
	}
}

void fs_inode_reap_unlinked(void)
{
	/* Unreferenced inodes whose file is gone: our shared fds are all
	 * that keep its blocks allocated. A few per tick, from the cold end. */
	struct fs_inode *gone[16];
	unsigned n = 0, looked = 0;
	pthread_mutex_lock(&table_lock);
	for (struct fs_inode *i = lru_tail; i && n < 16 && looked++ < 64;) {
		struct fs_inode *prev = i->lru_prev;
		int fd = i->sfd[0] >= 0 ? i->sfd[0] : i->sfd[1] >= 0 ? i->sfd[1] : i->sfd[2];
		struct stat sb;
		if (fd >= 0 && fstat(fd, &sb) == 0 && sb.st_nlink == 0) {
			lru_unlink(i);
			hash_unlink(i);
			gone[n++] = i;
		}
		i = prev;
	}
	pthread_mutex_unlock(&table_lock);
	while (n)
		destroy(gone[--n]);
}
