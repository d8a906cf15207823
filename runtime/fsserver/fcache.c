/* The per-file cache memfds (layout in fs_wire.h): made sparse and mapped
 * writable by shuntd alone, sealed SHRINK|FUTURE_WRITE|SEAL, kept ready in a
 * pool by a helper thread. Block words go empty->busy->valid, bumping the
 * generation each time. Callers hold the inode's lock; never blocks a client. */
#include "fsserver.h"
#include "common/atomics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BLOCK (1ull << SHUNT_FCACHE_BLOCK_SHIFT)

uint64_t fs_cache_max_file = 1ull << 30;
uint64_t fs_cache_budget = 1ull << 30;
uint64_t fs_cache_bytes;

static uint64_t page_up(uint64_t x) { return (x + 4095) & ~4095ull; }
static uint64_t block_up(uint64_t x) { return (x + BLOCK - 1) & ~(BLOCK - 1); }

static uint64_t capacity_for(const struct fs_fcache *fc, uint64_t size)
{
	uint64_t want = 1ull << 20;
	while (want < size)
		want <<= 1;
	uint64_t max = fc->max_blocks << SHUNT_FCACHE_BLOCK_SHIFT;
	return want < max ? want : max;
}

static int grow(struct fs_fcache *fc, uint64_t end);

static int create_new(struct fs_fcache *fc, uint64_t cache_id, uint64_t size)
{
	memset(fc, 0, sizeof(*fc));
	fc->max_blocks = block_up(fs_cache_max_file) >> SHUNT_FCACHE_BLOCK_SHIFT;
	uint64_t data_off = page_up(SHUNT_FCACHE_STATES_OFF + fc->max_blocks * sizeof(uint32_t));
	fc->map_size = data_off + (fc->max_blocks << SHUNT_FCACHE_BLOCK_SHIFT);
	fc->capacity = capacity_for(fc, size);

	int fd = memfd_create("shunt-fcache", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	int err;
	if (ftruncate(fd, (off_t)(data_off + fc->capacity)) < 0) {
		err = -errno;
		goto out_close;
	}
	/* The whole possible size, reserved once: growing the memfd later
	 * never moves our mapping. Touching past the memfd's end would fault,
	 * so every access stays below capacity. */
	void *p = mmap(NULL, fc->map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED) {
		err = -errno;
		goto out_close;
	}
	fc->hdr = p;
	fc->states = (uint32_t *)((char *)p + SHUNT_FCACHE_STATES_OFF);
	fc->data = (char *)p + data_off;
	fc->hdr->cache_id = cache_id;
	fc->hdr->block_shift = SHUNT_FCACHE_BLOCK_SHIFT;
	fc->hdr->max_blocks = fc->max_blocks;
	fc->hdr->data_off = data_off;
	fc->hdr->capacity = fc->capacity;
	fc->hdr->size = size;
	store_release(&fc->hdr->magic, SHUNT_FCACHE_MAGIC);
	/* Our writable mapping exists: from now on nobody else gets one. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) < 0) {
		err = -errno;
		goto out_unmap;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	fc->rofd = open(path, O_RDONLY | O_CLOEXEC);
	if (fc->rofd < 0) {
		err = -errno;
		goto out_unmap;
	}
	fc->memfd = fd;
	return 0;

out_unmap:
	munmap(p, fc->map_size);
out_close:
	close(fd);
	fc->hdr = NULL;
	return err;
}

/* Ready-made caches (memfd, mapping, seals, read-only fd: five system
 * calls and a fault, 20-50 us each on these machines), so opening a file
 * costs none of them; refilled off the hot path: by a helper thread when
 * the pool runs low (it also unmaps dead caches), by the housekeeping tick,
 * by a poller about to sleep. An empty pool means creating one inline. */
#define POOL_MAX 128u
static struct fs_fcache pool[POOL_MAX];
uint32_t fs_fcache_pool_max = 32; /* <= POOL_MAX; set from RLIMIT_NOFILE (2 fds each) */
static unsigned npool;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_low = PTHREAD_COND_INITIALIZER;
static bool helper_started;

/* Caches declared dead, waiting for the helper to unmap and close them
 * (tens of microseconds each here: not a poller's job). */
struct dead_cache {
	struct fs_fcache fc;
	struct dead_cache *next;
};
static struct dead_cache *graveyard;
static void bury_all(void);

static void *pool_helper(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&pool_lock);
		while (npool >= fs_fcache_pool_max / 2 && !graveyard)
			pthread_cond_wait(&pool_low, &pool_lock);
		pthread_mutex_unlock(&pool_lock);
		bury_all();
		fs_fcache_prepare();
	}
	return NULL;
}

int fs_fcache_pool_start(void)
{
	pthread_t t;
	int r = pthread_create(&t, NULL, pool_helper, NULL);
	if (r)
		return -r;
	pthread_detach(t);
	helper_started = true;
	return 0;
}

void fs_fcache_prepare(void)
{
	for (;;) {
		pthread_mutex_lock(&pool_lock);
		bool full = npool >= fs_fcache_pool_max;
		pthread_mutex_unlock(&pool_lock);
		if (full)
			return;
		struct fs_fcache fc;
		if (create_new(&fc, 0, 0))
			return;
		pthread_mutex_lock(&pool_lock);
		if (npool < fs_fcache_pool_max) {
			pool[npool++] = fc;
			fc.hdr = NULL;
		}
		pthread_mutex_unlock(&pool_lock);
		if (fc.hdr)
			fs_fcache_destroy(&fc);
	}
}

int fs_fcache_create(struct fs_fcache *fc, uint64_t cache_id, uint64_t size)
{
	pthread_mutex_lock(&pool_lock);
	bool have = npool > 0;
	if (have)
		*fc = pool[--npool];
	if (helper_started && npool < fs_fcache_pool_max / 2)
		pthread_cond_signal(&pool_low);
	pthread_mutex_unlock(&pool_lock);
	if (!have)
		return create_new(fc, cache_id, size);
	/* Nobody has seen this one: no fd was handed out, no block loaded. */
	fc->hdr->cache_id = cache_id;
	int r = grow(fc, block_up(size < fs_cache_max_file ? size : fs_cache_max_file));
	if (r) {
		fs_fcache_destroy(fc);
		return r;
	}
	store_release(&fc->hdr->size, size);
	return 0;
}


static void bury(struct fs_fcache *fc)
{
	munmap(fc->hdr, fc->map_size);
	close(fc->rofd);
	close(fc->memfd);
	fc->hdr = NULL;
}

static void bury_all(void)
{
	pthread_mutex_lock(&pool_lock);
	struct dead_cache *d = graveyard;
	graveyard = NULL;
	pthread_mutex_unlock(&pool_lock);
	while (d) {
		struct dead_cache *n = d->next;
		bury(&d->fc);
		free(d);
		d = n;
	}
}

void fs_fcache_destroy(struct fs_fcache *fc)
{
	if (!fc->hdr)
		return;
	/* Clients that still map it see every block empty and the cache dead. */
	fs_fcache_invalidate(fc, 0, UINT64_MAX);
	store_release(&fc->hdr->dead, 1);
	struct dead_cache *d = helper_started ? malloc(sizeof(*d)) : NULL;
	if (!d) {
		bury(fc);
		return;
	}
	d->fc = *fc;
	fc->hdr = NULL;
	pthread_mutex_lock(&pool_lock);
	d->next = graveyard;
	graveyard = d;
	pthread_cond_signal(&pool_low);
	pthread_mutex_unlock(&pool_lock);
}

bool fs_fcache_covers(const struct fs_fcache *fc, uint64_t end)
{
	return end <= (fc->max_blocks << SHUNT_FCACHE_BLOCK_SHIFT);
}

static void set_state(struct fs_fcache *fc, uint64_t b, uint32_t state)
{
	uint32_t w = load_relaxed(&fc->states[b]);
	/* Pairs with the client's load_acquire of the word before and after
	 * its copy: data written before a valid store is visible with it. */
	store_release(&fc->states[b], (((w >> 2) + 1) << 2) | state);
}

static int grow(struct fs_fcache *fc, uint64_t end)
{
	if (end <= fc->capacity)
		return 0;
	uint64_t cap = capacity_for(fc, end);
	if (cap < end)
		return -EFBIG;
	if (ftruncate(fc->memfd, (off_t)(fc->hdr->data_off + cap)) < 0)
		return -errno;
	fc->capacity = cap;
	store_release(&fc->hdr->capacity, cap); /* clients remap when they see it */
	return 0;
}

int fs_fcache_load(struct fs_fcache *fc, int fd, uint64_t off, uint64_t len, uint64_t size)
{
	uint64_t end = off + len < off ? UINT64_MAX : off + len;
	if (end > size)
		end = size;
	if (off >= end)
		return 0;
	int r = grow(fc, block_up(end));
	if (r)
		return r;
	uint64_t b0 = off >> SHUNT_FCACHE_BLOCK_SHIFT, b1 = (end - 1) >> SHUNT_FCACHE_BLOCK_SHIFT;
	for (uint64_t b = b0; b <= b1;) {
		if (SHUNT_BLOCK_STATE(load_relaxed(&fc->states[b])) == SHUNT_BLOCK_VALID) {
			b++;
			continue;
		}
		/* A run of missing blocks: one pread for all of it. */
		uint64_t e = b;
		while (e + 1 <= b1 && SHUNT_BLOCK_STATE(load_relaxed(&fc->states[e + 1])) != SHUNT_BLOCK_VALID)
			e++;
		for (uint64_t i = b; i <= e; i++)
			set_state(fc, i, SHUNT_BLOCK_BUSY);
		uint64_t start = b << SHUNT_FCACHE_BLOCK_SHIFT, want = (e + 1 - b) << SHUNT_FCACHE_BLOCK_SHIFT;
		uint64_t got = 0;
		while (got < want) {
			ssize_t n = pread(fd, fc->data + start + got, want - got, (off_t)(start + got));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				int err = -errno;
				for (uint64_t i = b; i <= e; i++)
					set_state(fc, i, SHUNT_BLOCK_EMPTY);
				return err;
			}
			if (n == 0)
				break;
			got += (uint64_t)n;
		}
		/* Bytes past the end of file read as zeros. Pages above the
		 * highest byte we ever wrote still are (a sparse memfd): a small
		 * file costs the pages it fills, not a whole 64 KiB block. */
		uint64_t zero_end = start + want < fc->dirty_hwm ? start + want : fc->dirty_hwm;
		if (start + got < zero_end)
			memset(fc->data + start + got, 0, zero_end - (start + got));
		if (start + got > fc->dirty_hwm)
			fc->dirty_hwm = start + got;
		for (uint64_t i = b; i <= e; i++)
			set_state(fc, i, SHUNT_BLOCK_VALID);
		fc->valid_blocks += e + 1 - b;
		fetch_add_relaxed(&fs_cache_bytes, (e + 1 - b) << SHUNT_FCACHE_BLOCK_SHIFT);
		b = e + 1;
	}
	return 0;
}

void fs_fcache_write(struct fs_fcache *fc, const char *buf, uint64_t off, uint64_t len, uint64_t size)
{
	(void)size;
	if (!len)
		return;
	uint64_t end = off + len;
	uint64_t lim = fc->capacity >> SHUNT_FCACHE_BLOCK_SHIFT;
	for (uint64_t b = off >> SHUNT_FCACHE_BLOCK_SHIFT; b <= (end - 1) >> SHUNT_FCACHE_BLOCK_SHIFT && b < lim; b++) {
		if (SHUNT_BLOCK_STATE(load_relaxed(&fc->states[b])) != SHUNT_BLOCK_VALID)
			continue; /* loaded from the file when someone reads it */
		uint64_t bs = b << SHUNT_FCACHE_BLOCK_SHIFT, be = bs + BLOCK;
		uint64_t s = off > bs ? off : bs, e = end < be ? end : be;
		set_state(fc, b, SHUNT_BLOCK_BUSY);
		memcpy(fc->data + s, buf + (s - off), e - s);
		if (e > fc->dirty_hwm)
			fc->dirty_hwm = e;
		set_state(fc, b, SHUNT_BLOCK_VALID);
	}
}

void fs_fcache_invalidate(struct fs_fcache *fc, uint64_t from, uint64_t to)
{
	uint64_t lim = fc->capacity >> SHUNT_FCACHE_BLOCK_SHIFT;
	uint64_t b0 = from >> SHUNT_FCACHE_BLOCK_SHIFT;
	uint64_t b1 = to == UINT64_MAX ? lim : block_up(to) >> SHUNT_FCACHE_BLOCK_SHIFT;
	if (b1 > lim)
		b1 = lim;
	for (uint64_t b = b0; b < b1; b++) {
		if (SHUNT_BLOCK_STATE(load_relaxed(&fc->states[b])) == SHUNT_BLOCK_EMPTY)
			continue;
		set_state(fc, b, SHUNT_BLOCK_EMPTY);
		fc->valid_blocks--;
		fetch_add_relaxed(&fs_cache_bytes, -BLOCK);
	}
}

int fs_fcache_set_size(struct fs_fcache *fc, uint64_t size)
{
	int r = fs_fcache_covers(fc, size) ? grow(fc, block_up(size)) : 0;
	/* Pairs with the client's load_acquire of size before it trusts blocks. */
	store_release(&fc->hdr->size, size);
	return r;
}

void fs_fcache_set_stat(struct fs_fcache *fc, const struct shunt_stat *st)
{
	struct shunt_fcache_hdr *h = fc->hdr;
	uint32_t seq = load_relaxed(&h->attr_seq);
	store_relaxed(&h->attr_seq, seq + 1); /* odd: readers retry */
	/* Orders the odd seq before the st stores; pairs with the reader's
	 * load_acquire of attr_seq after its copy. */
	fence_release();
	memcpy(&h->st, st, sizeof(*st));
	store_release(&h->attr_seq, seq + 2);
}
