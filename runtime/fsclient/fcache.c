/* The client's view of shuntd's per-file caches: maps each cache memfd
 * read-only once (over its largest possible size, so growth never needs a
 * remap) and copies valid blocks with the seqlock of fsc_wire.h. A hit makes
 * no system call and no round trip. */
#include "internal.h"

#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#define FSC_FCACHE_SLOTS 256
static struct fsc_fcache slots[FSC_FCACHE_SLOTS];
/* Process-local: which mapped cache each open description uses. */
struct fsc_fcache *fsc_ofd_fc[FSC_MAX_OFD];
static uint32_t lru_clock;
static pthread_mutex_t fc_lock = PTHREAD_MUTEX_INITIALIZER;

static struct fsc_fcache *find(uint64_t id)
{
	for (int i = 0; i < FSC_FCACHE_SLOTS; i++)
		if (load_acquire(&slots[i].cache_id) == id)
			return &slots[i];
	return NULL;
}

static int map_cache(struct fsc_fcache *fc, uint64_t id)
{
	int fd = fsc_session_getfd(id);
	if (fd < 0)
		return fd;
	fsc_count_syscall();
	struct shunt_fcache_hdr *h = sys_mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	if (sys_mmap_failed(h)) {
		sys_close(fd);
		return -ENOMEM;
	}
	uint64_t data_off = READ_ONCE(h->data_off), maxb = READ_ONCE(h->max_blocks);
	uint32_t shift = READ_ONCE(h->block_shift);
	int ok = h->magic == SHUNT_FCACHE_MAGIC && h->cache_id == id && shift >= 12 && shift <= 24 &&
		 maxb && maxb <= (1ull << 30) && data_off >= SHUNT_FCACHE_STATES_OFF + maxb * 4 && !(data_off & 4095);
	sys_munmap(h, 4096);
	if (!ok) {
		sys_close(fd);
		return -EPROTO;
	}
	size_t len = data_off + (maxb << shift);
	fsc_count_syscall();
	void *p = sys_mmap(NULL, len, PROT_READ, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (sys_mmap_failed(p)) {
		sys_close(fd);
		return -ENOMEM;
	}
	fc->hdr = p;
	fc->map_len = len;
	fc->memfd = fd;
	store_release(&fc->cache_id, id);
	fsc_fcache_populate(fc, 0, load_acquire(&fc->hdr->size));
	return 0;
}

/* Map the page tables of the valid blocks in [off, off+len) now, in one
 * system call per run of blocks, so later hits are a memcpy with no page
 * fault (a minor fault costs as much as the read it serves). Capped: a
 * huge file is populated as it is read. */
#define FSC_POPULATE_MAX (1ull << 30)
void fsc_fcache_populate(struct fsc_fcache *fc, uint64_t off, uint64_t len)
{
	const struct shunt_fcache_hdr *h = fc->hdr;
	const uint32_t shift = SHUNT_FCACHE_BLOCK_SHIFT;
	const uint32_t *states = (const uint32_t *)((const char *)h + SHUNT_FCACHE_STATES_OFF);
	uint64_t maxb = h->max_blocks;
	if (len > FSC_POPULATE_MAX)
		len = FSC_POPULATE_MAX;
	uint64_t b = off >> shift, end = (off + len + (1ull << shift) - 1) >> shift;
	if (end > maxb)
		end = maxb;
	while (b < end) {
		while (b < end && SHUNT_BLOCK_STATE(load_relaxed(&states[b])) != SHUNT_BLOCK_VALID)
			b++;
		uint64_t run = b;
		while (run < end && SHUNT_BLOCK_STATE(load_relaxed(&states[run])) == SHUNT_BLOCK_VALID)
			run++;
		if (run > b) {
			fsc_count_syscall();
			sys_call(SYS_madvise, (const char *)h + h->data_off + (b << shift), (run - b) << shift,
				 22 /* MADV_POPULATE_READ */, 0, 0, 0);
		}
		b = run;
	}
}

/* A mapping is in use while an open description of this process points at
 * it; only unused ones are unmapped to make room. One pass over the
 * descriptions marks every slot in use. */
static void mark_in_use(bool used[FSC_FCACHE_SLOTS])
{
	memset(used, 0, FSC_FCACHE_SLOTS * sizeof(bool));
	for (int i = 0; i < FSC_MAX_OFD; i++) {
		struct fsc_fcache *fc = fsc_ofd_fc[i];
		if (fc && load_relaxed(&fsc_ofds->ofd[i].refs))
			used[fc - slots] = true;
	}
}

struct fsc_fcache *fsc_fcache_find(uint64_t id)
{
	return find(id);
}

struct fsc_fcache *fsc_fcache_get(uint64_t id, int *err)
{
	struct fsc_fcache *fc = find(id);
	if (fc)
		return fc;
	pthread_mutex_lock(&fc_lock);
	fc = find(id);
	if (!fc) {
		struct fsc_fcache *victim = NULL;
		for (int i = 0; i < FSC_FCACHE_SLOTS && !victim; i++)
			if (!slots[i].cache_id)
				victim = &slots[i];
		if (!victim) {
			bool used[FSC_FCACHE_SLOTS];
			mark_in_use(used);
			for (int i = 0; i < FSC_FCACHE_SLOTS; i++)
				if (!used[i] && (!victim || slots[i].lru < victim->lru))
					victim = &slots[i];
		}
		if (!victim) {
			*err = -ENOSPC;
		} else {
			if (victim->cache_id) {
				store_release(&victim->cache_id, 0);
				sys_munmap(victim->hdr, victim->map_len);
				sys_close(victim->memfd);
			}
			int r = map_cache(victim, id);
			if (r)
				*err = r;
			else
				fc = victim;
		}
	}
	if (fc)
		fc->lru = ++lru_clock;
	pthread_mutex_unlock(&fc_lock);
	return fc;
}

bool fsc_fcache_copy(struct fsc_fcache *fc, void *buf, uint64_t off, size_t n)
{
	const struct shunt_fcache_hdr *h = fc->hdr;
	const uint32_t shift = SHUNT_FCACHE_BLOCK_SHIFT;
	const uint32_t *states = (const uint32_t *)((const char *)h + SHUNT_FCACHE_STATES_OFF);
	const char *data = (const char *)h + h->data_off;
	uint64_t maxb = h->max_blocks;
	char *out = buf;
	while (n) {
		uint64_t b = off >> shift;
		if (b >= maxb)
			return false;
		size_t in_block = (size_t)(((b + 1) << shift) - off);
		size_t chunk = n < in_block ? n : in_block;
		/* Pairs with the server's store_release of the valid state after
		 * it filled the block. */
		uint32_t s1 = load_acquire(&states[b]);
		if (SHUNT_BLOCK_STATE(s1) != SHUNT_BLOCK_VALID)
			return false;
		memcpy(out, data + off, chunk);
		/* Orders the copy before the re-check: a changed word means the
		 * server rewrote the block while we copied. */
		fence_acquire();
		if (load_relaxed(&states[b]) != s1)
			return false;
		out += chunk;
		off += chunk;
		n -= chunk;
	}
	return true;
}

void fsc_fcache_stat(struct fsc_fcache *fc, struct shunt_stat *out)
{
	const struct shunt_fcache_hdr *h = fc->hdr;
	for (;;) {
		uint32_t s1 = load_acquire(&h->attr_seq);
		if (s1 & 1) {
			cpu_relax();
			continue;
		}
		memcpy(out, (const void *)&h->st, sizeof(*out));
		fence_acquire();
		if (load_relaxed(&h->attr_seq) == s1)
			return;
	}
}

int fsc_fcache_remap(struct fsc_fcache *fc)
{
	(void)fc; /* mapped at its largest size once: nothing to do */
	return 0;
}

void fsc_fcache_reset(void)
{
	pthread_mutex_init(&fc_lock, NULL);
}
