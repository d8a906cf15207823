/* Reopen without a round trip, the client half: the server handles of
 * read-only files this process closed, kept (a few dozen) for the next open
 * of the same path with the same flags. Such an open costs the one system
 * call that reserves its fd number and no command, while the server's
 * namespace epoch (a read-only page, see fs_wire.h) still equals the one the
 * handle was checked at. Called from open, close, fork, exec and exit; never
 * waits for a lock (a busy table means the normal path), never mallocs. */
#include "internal.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>

/* A path's slots are the KEEP_WAYS of its bucket: a lookup reads four
 * entries, and a working set of a few hundred files fits. */
#define KEEP_BUCKETS 64u
#define KEEP_WAYS 4u
#define KEEP_SLOTS (KEEP_BUCKETS * KEEP_WAYS)
#define KEEP_PATH 192u

struct kept {
	uint32_t used;
	uint32_t hash;
	uint32_t handle;
	uint32_t epoch;
	uint32_t mode;
	uint32_t flags;
	uint64_t cache_id;
	uint64_t token; /* the session that opened it: another server knows it not */
	char path[KEEP_PATH];
};

static struct kept slots[KEEP_SLOTS];
static uint32_t table_busy;     /* try-lock over slots[] and the fields below */
static uint8_t next_victim[KEEP_BUCKETS];
static uint32_t swept_epoch;    /* slots were checked against this epoch */
static const struct shunt_epoch_page *page;
static uint64_t page_token;     /* session the page came from; 0: none */
static uint64_t page_failed_token;
bool fsc_reopen_on = true;

static uint32_t hash_path(const char *p)
{
	uint32_t h = 2166136261u;
	for (; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h;
}

static bool try_lock(void)
{
	return !__atomic_exchange_n(&table_busy, 1, __ATOMIC_ACQUIRE);
}
static void unlock(void) { __atomic_store_n(&table_busy, 0, __ATOMIC_RELEASE); }

/* The epoch page of the current session's server, mapped once; NULL when
 * the server has none. Under the try-lock. */
static const struct shunt_epoch_page *epoch_page(uint64_t token)
{
	if (page && page_token == token)
		return page;
	if (page_failed_token == token)
		return NULL;
	if (page) {
		sys_munmap((void *)page, SHUNT_EPOCH_PAGE_SIZE);
		page = NULL;
	}
	int fd = fsc_session_getfd(SHUNT_GETFD_EPOCH);
	void *p = fd < 0 ? MAP_FAILED : sys_mmap(NULL, SHUNT_EPOCH_PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	if (fd >= 0)
		sys_close(fd);
	if (sys_mmap_failed(p) || ((const struct shunt_epoch_page *)p)->magic != SHUNT_EPOCH_MAGIC) {
		if (!sys_mmap_failed(p))
			sys_munmap(p, SHUNT_EPOCH_PAGE_SIZE);
		page_failed_token = token;
		return NULL;
	}
	page = p;
	page_token = token;
	return page;
}

/* Closes for handles taken out of the table, sent once the lock is gone. */
struct victims {
	uint32_t n;
	uint32_t handle[KEEP_SLOTS + 1];
};

static void close_victims(const struct victims *v)
{
	for (uint32_t i = 0; i < v->n; i++)
		fsc_close_handle(v->handle[i], false);
}

/* Under the lock: retire every slot not opened at epoch e in this session. */
static void sweep(uint32_t e, uint64_t token, struct victims *v)
{
	for (uint32_t i = 0; i < KEEP_SLOTS; i++) {
		struct kept *k = &slots[i];
		if (!k->used || (k->epoch == e && k->token == token))
			continue;
		k->used = 0;
		if (k->token == token) /* a dead session's handles died with it */
			v->handle[v->n++] = k->handle;
	}
	swept_epoch = e;
}

bool fsc_reopen_take(const char *rel, int flags, struct fsc_kept *out)
{
	if (!fsc_reopen_on || !page || (flags & ~(O_CLOEXEC | O_LARGEFILE | O_NOCTTY)) != O_RDONLY)
		return false;
	uint64_t token = fsc_session_token();
	if (!token || page_token != token || !fsc_session_usable())
		return false;
	size_t len = strlen(rel);
	if (len >= KEEP_PATH || !try_lock())
		return false;
	/* Pairs with shuntd's store_release when a name or attribute changed. */
	uint32_t e = load_acquire(&page->epoch);
	struct victims v = { 0 };
	if (e != swept_epoch)
		sweep(e, token, &v);
	bool found = false;
	uint32_t h = hash_path(rel);
	struct kept *b = &slots[(h % KEEP_BUCKETS) * KEEP_WAYS];
	for (uint32_t i = 0; e && i < KEEP_WAYS; i++) {
		struct kept *k = &b[i];
		if (!k->used || k->hash != h || memcmp(k->path, rel, len + 1))
			continue;
		/* sweep() left only slots of epoch e and this session */
		out->handle = k->handle;
		out->cache_id = k->cache_id;
		out->mode = k->mode;
		out->epoch = k->epoch;
		k->used = 0;
		found = true;
		break;
	}
	unlock();
	close_victims(&v);
	if (found)
		STAT_INC(fs_opens_reused);
	return found;
}

bool fsc_reopen_keep(const struct fsc_kept *kh, const char *rel)
{
	if (!fsc_reopen_on || !kh->epoch || (kh->flags & ~O_LARGEFILE) != O_RDONLY)
		return false;
	size_t len = strlen(rel);
	uint64_t token = fsc_session_token();
	if (len >= KEEP_PATH || !token || !fsc_session_usable() || !try_lock())
		return false;
	const struct shunt_epoch_page *pg = epoch_page(token);
	uint32_t e = pg ? load_acquire(&pg->epoch) : 0;
	struct victims v = { 0 };
	bool kept = false;
	if (e && e == kh->epoch) {
		if (e != swept_epoch)
			sweep(e, token, &v);
		uint32_t h = hash_path(rel), bi = h % KEEP_BUCKETS, i = 0;
		struct kept *b = &slots[bi * KEEP_WAYS];
		while (i < KEEP_WAYS && b[i].used)
			i++;
		if (i == KEEP_WAYS) {
			i = next_victim[bi]++ % KEEP_WAYS;
			v.handle[v.n++] = b[i].handle;
		}
		struct kept *k = &b[i];
		k->hash = h;
		memcpy(k->path, rel, len + 1);
		k->handle = kh->handle;
		k->epoch = e;
		k->mode = kh->mode;
		k->flags = kh->flags;
		k->cache_id = kh->cache_id;
		k->token = token;
		k->used = 1;
		kept = true;
	}
	unlock();
	close_victims(&v);
	return kept;
}

/* exec and exit: the handles go back to the server (the family lives on);
 * the last close waits, so the server has them all before we go on. A
 * forked child owns none of them: it forgets its copy. */
void fsc_reopen_flush(bool give_back)
{
	/* Another thread of ours holds it briefly; a signal handler's exit
	 * may have interrupted the holder itself: then the family keeps the
	 * handles until it ends. */
	for (int tries = 0; !try_lock(); tries++) {
		if (tries == 1000)
			return;
		sys_sched_yield();
	}
	struct victims v = { 0 };
	uint64_t token = fsc_session_token();
	for (uint32_t i = 0; i < KEEP_SLOTS; i++) {
		if (slots[i].used && slots[i].token == token && give_back)
			v.handle[v.n++] = slots[i].handle;
		slots[i].used = 0;
	}
	unlock();
	for (uint32_t i = 0; i < v.n; i++)
		fsc_close_handle(v.handle[i], i + 1 == v.n);
}

void fsc_reopen_after_fork_child(void)
{
	table_busy = 0;
	for (uint32_t i = 0; i < KEEP_SLOTS; i++)
		slots[i].used = 0;
	/* The mapping is inherited and stays right; the child's new session
	 * gets its own token, so the page is looked up again anyway. */
}
