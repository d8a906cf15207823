/* The far region: reservation, userfaultfd registration, the connection to
 * the memory server (or an embedded one), handing out ranges of the region
 * and taking them back. Called by the malloc layer and the tests; nothing
 * here runs unless far_init() is called. Uses no malloc. */
#include "far/far_internal.h"
#include "common/atomics.h"
#include "common/log.h"
#include "common/sys.h"
#include "memd/memd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

struct far_state far;
static uint32_t far_on;

/* Free ranges of the region below the bump pointer, sorted, coalesced;
 * under map_lock. A range that does not fit the table is not reused. */
#define FAR_MAX_FREE 4096
static struct { uint64_t off, len; } free_ranges[FAR_MAX_FREE];
static unsigned nfree;
static uint64_t bump;
static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;

int far_enabled(void) { return load_acquire(&far_on) != 0; }

int far_contains(const void *p)
{
	return far_enabled() && (const char *)p >= far.base && (const char *)p < far.base + far.size;
}

static void *memd_thread_main(void *arg)
{
	memd_run(arg);
	return NULL;
}

static int start_embedded_memd(uint64_t size, char *err, size_t errlen)
{
	struct memd_config c = { .size = size, .max_clients = 4 };
	far.memd = memd_create(&c, err, errlen);
	if (!far.memd)
		return -ENOMEM;
	uint16_t port;
	int r = memd_listen(far.memd, "tcp://127.0.0.1:0", &port, err, errlen);
	if (r) {
		memd_destroy(far.memd);
		far.memd = NULL;
		return r;
	}
	log_format(far.url, sizeof(far.url), "tcp://127.0.0.1:%u", (unsigned)port);
	if (pthread_create(&far.memd_thread, NULL, memd_thread_main, far.memd)) {
		memd_destroy(far.memd);
		far.memd = NULL;
		log_format(err, errlen, "cannot start the embedded memory server thread");
		return -EAGAIN;
	}
	return 0;
}

static void stop_embedded_memd(void)
{
	if (!far.memd)
		return;
	memd_stop(far.memd);
	pthread_join(far.memd_thread, NULL);
	memd_destroy(far.memd);
	far.memd = NULL;
}

static void *map_anon(uint64_t len, int noreserve)
{
	void *p = sys_mmap(NULL, len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | (noreserve ? MAP_NORESERVE : 0), -1, 0);
	return sys_mmap_failed(p) ? NULL : p;
}

/* Threads the runtime starts take no signals meant for the program. */
static int start_thread(pthread_t *t, void *(*fn)(void *))
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = pthread_create(t, NULL, fn, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r ? -r : 0;
}

int far_init(const struct far_params *p, char *err, size_t errlen)
{
	if (far_enabled()) {
		log_format(err, errlen, "far memory is already on");
		return -EALREADY;
	}
	uint64_t size = (p->region_size + (2ull << 20) - 1) & ~((2ull << 20) - 1);
	uint64_t cap = p->local_mem / FAR_PAGE;
	if (!size || cap < 64) {
		log_format(err, errlen, "far memory needs far_size > 0 and local_mem of at least 256K");
		return -EINVAL;
	}
	if (cap > size / FAR_PAGE)
		cap = size / FAR_PAGE;
	int r;
	stats_init(); /* idempotent: per-thread counter slots for our threads */
	memset(&far, 0, sizeof(far));
	far.uffd = -1;
	far.pagemap_fd = -1;
	far.size = size;
	far.npages = size / FAR_PAGE;
	far.no_prefetch = p->no_prefetch ? 1 : 0;
	far.last_zero = far.last_remote = UINT64_MAX - 1;
	pthread_mutex_init(&far.rmap_lock, NULL);
	pthread_rwlockattr_t rwa;
	pthread_rwlockattr_init(&rwa);
	/* fork's exclusive hold must not starve behind a stream of write-backs */
	pthread_rwlockattr_setkind_np(&rwa, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&far.freeze, &rwa);
	pthread_rwlockattr_destroy(&rwa);

	/* The memory server first: nothing to undo if it is not there. */
	if (p->server && p->server[0]) {
		size_t n = strlen(p->server) < sizeof(far.url) - 1 ? strlen(p->server) : sizeof(far.url) - 1;
		memcpy(far.url, p->server, n);
		far.url[n] = 0;
	} else if ((r = start_embedded_memd(size, err, errlen))) {
		return r;
	}
	r = xport_connect(far.url, &far.xp, err, errlen);
	if (r)
		goto out_memd;
	/* Remote space up front (the first chunk), so a server without room
	 * refuses now, clearly, rather than at the first eviction. */
	uint64_t ra0;
	far.rmap = map_anon((far.size / FAR_RCHUNK + 1) * sizeof(uint64_t), 1);
	if (!far.rmap) {
		r = -ENOMEM;
		goto out_xport;
	}
	if ((r = far_remote_addr(0, 1, &ra0))) {
		if (r == -ENOSPC)
			log_format(err, errlen, "shunt-memd at %s has only %lu MiB left; far memory needs %lu MiB to start", far.url,
				   (unsigned long)(far.xp->limits.free >> 20), (unsigned long)(FAR_RCHUNK >> 20));
		else
			log_format(err, errlen, "shunt-memd at %s refused remote space (error %d)", far.url, r);
		goto out_rmap;
	}

	long fd = sys_call(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK, 0, 0, 0, 0, 0);
	if (fd < 0) {
		r = (int)fd;
		log_format(err, errlen, "userfaultfd is not available (error %d; vm.unprivileged_userfaultfd?)", r);
		goto out_rmap;
	}
	far.uffd = (int)fd;
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_THREAD_ID };
	if ((r = (int)far_uffd_ioctl(UFFDIO_API, &api))) {
		log_format(err, errlen, "userfaultfd lacks write-protect support (error %d)", r);
		goto out_uffd;
	}
	far.base = map_anon(size, 1);
	far.pflags = map_anon(far.npages, 1);
	far.evicted_at = map_anon(far.npages * sizeof(uint32_t), 1);
	far.zero = map_anon(FAR_ZERO_AHEAD * FAR_PAGE, 0);
	far.stage = map_anon((FAR_PREFETCH + 1) * FAR_PAGE, 0);
	if (!far.base || !far.pflags || !far.evicted_at || !far.zero || !far.stage) {
		r = -ENOMEM;
		log_format(err, errlen, "cannot reserve a far region of %lu MiB", (unsigned long)(size >> 20));
		goto out_maps;
	}
	xport_reg_buf(far.xp, far.stage, (FAR_PREFETCH + 1) * FAR_PAGE);
	/* 4 KiB pages only: a huge page would bypass the per-page protocol. */
	sys_call(SYS_madvise, far.base, size, MADV_NOHUGEPAGE, 0, 0, 0);
	struct uffdio_register reg = { .range = { (uint64_t)far.base, size },
				       .mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP };
	if ((r = (int)far_uffd_ioctl(UFFDIO_REGISTER, &reg))) {
		log_format(err, errlen, "cannot register the far region with userfaultfd (error %d)", r);
		goto out_maps;
	}
	struct ccache_params cp = { .capacity = (uint32_t)cap, .key_size = sizeof(uint64_t), .hot_pct = 50,
				    .evict = far_evict_cb };
	far.cache = ccache_create(&cp);
	if (!far.cache) {
		r = -ENOMEM;
		log_format(err, errlen, "cannot create the resident set (%lu pages)", (unsigned long)cap);
		goto out_unreg;
	}
	far.high_wm = (uint32_t)(cap / 32 > 64 ? cap / 32 : (cap / 4 < 64 ? cap / 4 : 64));
	far.low_wm = far.high_wm / 2 ? far.high_wm / 2 : 1;
	if (!p->no_zero_map)
		far_prefill_init();
	if ((r = start_thread(&far.handler, far_handler_main))) {
		log_format(err, errlen, "cannot start the fault handler thread");
		goto out_cache;
	}
	if ((r = start_thread(&far.evictor, far_evictor_main))) {
		log_format(err, errlen, "cannot start the evictor thread");
		store_release(&far.stop, 1);
		pthread_join(far.handler, NULL);
		goto out_cache;
	}
	bump = 0;
	nfree = 0;
	store_release(&far_on, 1);
	log_info("far memory: region %lu MiB at %p, local_mem %lu MiB, server %s%s", (unsigned long)(size >> 20),
		 (void *)far.base, (unsigned long)(cap * FAR_PAGE >> 20), far.url, far.memd ? " (embedded)" : "");
	return 0;

out_cache:
	if (far.pagemap_fd >= 0)
		sys_close(far.pagemap_fd);
	far.pagemap_fd = -1;
	ccache_destroy(far.cache);
out_unreg:
	far_uffd_ioctl(UFFDIO_UNREGISTER, &reg.range);
out_maps:
	if (far.base)
		sys_munmap(far.base, size);
	if (far.pflags)
		sys_munmap(far.pflags, far.npages);
	if (far.evicted_at)
		sys_munmap(far.evicted_at, far.npages * sizeof(uint32_t));
	if (far.zero)
		sys_munmap(far.zero, FAR_ZERO_AHEAD * FAR_PAGE);
	if (far.stage)
		sys_munmap(far.stage, (FAR_PREFETCH + 1) * FAR_PAGE);
out_uffd:
	sys_close(far.uffd);
out_rmap:
	sys_munmap(far.rmap, (far.size / FAR_RCHUNK + 1) * sizeof(uint64_t));
out_xport:
	xport_close(far.xp);
out_memd:
	stop_embedded_memd();
	return r;
}

void far_shutdown(void)
{
	if (!far_enabled())
		return;
	store_release(&far_on, 0);
	store_release(&far.stop, 1);
	far_kick_evictor();
	pthread_join(far.evictor, NULL);
	pthread_join(far.handler, NULL);
	struct uffdio_range rg = { (uint64_t)far.base, far.size };
	far_uffd_ioctl(UFFDIO_UNREGISTER, &rg);
	sys_close(far.uffd);
	if (far.pagemap_fd >= 0)
		sys_close(far.pagemap_fd);
	far.pagemap_fd = -1;
	sys_munmap(far.base, far.size);
	sys_munmap(far.pflags, far.npages);
	sys_munmap(far.evicted_at, far.npages * sizeof(uint32_t));
	sys_munmap(far.zero, FAR_ZERO_AHEAD * FAR_PAGE);
	sys_munmap(far.stage, (FAR_PREFETCH + 1) * FAR_PAGE);
	sys_munmap(far.rmap, (far.size / FAR_RCHUNK + 1) * sizeof(uint64_t));
	ccache_destroy(far.cache);
	xport_close(far.xp);
	stop_embedded_memd();
}

/* ---- ranges ---- */

static void give_back_locked(uint64_t off, uint64_t n);

/* Take [off, off + n) out of free range i (which contains it). */
static void carve_locked(unsigned i, uint64_t off, uint64_t n)
{
	uint64_t r_off = free_ranges[i].off, r_end = free_ranges[i].off + free_ranges[i].len;
	memmove(&free_ranges[i], &free_ranges[i + 1], (nfree - i - 1) * sizeof(free_ranges[0]));
	nfree--;
	if (off > r_off)
		give_back_locked(r_off, off - r_off);
	if (off + n < r_end)
		give_back_locked(off + n, r_end - off - n);
}

void *far_map_aligned(size_t len, size_t align)
{
	if (!far_enabled() || !len || (align & (align - 1)))
		return NULL;
	if (align < FAR_PAGE)
		align = FAR_PAGE;
	uint64_t n = ((uint64_t)len + FAR_PAGE - 1) & ~(FAR_PAGE - 1), off = UINT64_MAX;
	pthread_mutex_lock(&map_lock);
	for (unsigned i = 0; i < nfree; i++) {
		uint64_t a = (free_ranges[i].off + align - 1) & ~((uint64_t)align - 1);
		if (a + n <= free_ranges[i].off + free_ranges[i].len) {
			off = a;
			carve_locked(i, off, n);
			break;
		}
	}
	if (off == UINT64_MAX) {
		uint64_t a = (bump + align - 1) & ~((uint64_t)align - 1);
		if (a + n <= far.size) {
			uint64_t old = bump;
			off = a;
			bump = a + n; /* first: the gap below is then not at the top */
			if (a > old)
				give_back_locked(old, a - old);
		}
	}
	pthread_mutex_unlock(&map_lock);
	if (off == UINT64_MAX)
		return NULL;
	STAT_ADD(far_alloc_bytes, n);
	far_prefill(far.base + off, n);
	return far.base + off;
}

void *far_map(size_t len) { return far_map_aligned(len, FAR_PAGE); }

int far_map_at(void *p, size_t len)
{
	if (!far_contains(p) || (uint64_t)((char *)p - far.base) % FAR_PAGE || !len)
		return -EINVAL;
	uint64_t off = (uint64_t)((char *)p - far.base), n = ((uint64_t)len + FAR_PAGE - 1) & ~(FAR_PAGE - 1);
	int r = -ENOMEM;
	pthread_mutex_lock(&map_lock);
	if (off == bump && off + n <= far.size) {
		bump += n;
		r = 0;
	} else {
		for (unsigned i = 0; i < nfree; i++)
			if (free_ranges[i].off <= off && off + n <= free_ranges[i].off + free_ranges[i].len) {
				carve_locked(i, off, n);
				r = 0;
				break;
			}
		if (r && nfree && off >= free_ranges[nfree - 1].off &&
		    free_ranges[nfree - 1].off + free_ranges[nfree - 1].len == bump && off + n <= far.size) {
			/* The range starts in the top free range and runs past the bump pointer. */
			uint64_t top = free_ranges[--nfree].off;
			bump = off + n;
			if (off > top)
				give_back_locked(top, off - top);
			r = 0;
		}
	}
	pthread_mutex_unlock(&map_lock);
	if (!r) {
		STAT_ADD(far_alloc_bytes, n);
		far_prefill(p, n);
	}
	return r;
}

static void give_back(uint64_t off, uint64_t n)
{
	pthread_mutex_lock(&map_lock);
	give_back_locked(off, n);
	pthread_mutex_unlock(&map_lock);
}

static void give_back_locked(uint64_t off, uint64_t n)
{
	unsigned i = 0;
	while (i < nfree && free_ranges[i].off < off)
		i++;
	int merge_prev = i > 0 && free_ranges[i - 1].off + free_ranges[i - 1].len == off;
	int merge_next = i < nfree && off + n == free_ranges[i].off;
	if (merge_prev && merge_next) {
		free_ranges[i - 1].len += n + free_ranges[i].len;
		memmove(&free_ranges[i], &free_ranges[i + 1], (nfree - i - 1) * sizeof(free_ranges[0]));
		nfree--;
	} else if (merge_prev) {
		free_ranges[i - 1].len += n;
	} else if (merge_next) {
		free_ranges[i].off = off;
		free_ranges[i].len += n;
	} else if (nfree < FAR_MAX_FREE) {
		memmove(&free_ranges[i + 1], &free_ranges[i], (nfree - i) * sizeof(free_ranges[0]));
		free_ranges[i].off = off;
		free_ranges[i].len = n;
		nfree++;
	}
	/* The top free range goes back to the bump pointer. */
	if (nfree && free_ranges[nfree - 1].off + free_ranges[nfree - 1].len == bump) {
		bump = free_ranges[nfree - 1].off;
		nfree--;
	}
}

int far_discard(void *p, size_t len)
{
	if (!far_contains(p) || (uint64_t)((char *)p - far.base) % FAR_PAGE)
		return -EINVAL;
	uint64_t first = far_page_of(p), n = (len + FAR_PAGE - 1) / FAR_PAGE;
	if (first + n > far.npages)
		return -EINVAL;
	for (uint64_t pg = first; pg < first + n; pg++) {
		if (load_relaxed(&far.pflags[pg]) == 0) {
			uint32_t idx;
			if (ccache_lookup(far.cache, &pg, &idx))
				continue; /* never touched, or evicted clean */
			ccache_release(far.cache, idx);
		}
		int r;
		while ((r = ccache_remove(far.cache, &pg)) == -EBUSY)
			sys_sched_yield(); /* the handler is filling or the writer is marking it */
		if (r == 0)
			fetch_add_relaxed(&far.resident, -1);
		store_release(&far.pflags[pg], (uint8_t)0);
		store_relaxed(&far.evicted_at[pg], 0);
	}
	sys_call(SYS_madvise, p, n * FAR_PAGE, MADV_DONTNEED, 0, 0, 0);
	/* Whole remote chunks inside the range go back to the server, but
	 * not while a fork child copies from there (fork.c): its copy of this
	 * range may still be in use. */
	uint64_t lo = first * FAR_PAGE, hi = (first + n) * FAR_PAGE;
	uint64_t c0 = (lo + FAR_RCHUNK - 1) / FAR_RCHUNK, c1 = hi / FAR_RCHUNK;
	if (c0 >= c1)
		return 0;
	pthread_rwlock_rdlock(&far.freeze);
	for (uint64_t c = c0; c < c1; c++) {
		pthread_mutex_lock(&far.rmap_lock);
		uint64_t v = far.rmap[c];
		if (v && c != 0) { /* chunk 0 is the start-up reservation */
			xport_free(far.xp, v - 1, FAR_RCHUNK);
			store_release(&far.rmap[c], 0);
		}
		pthread_mutex_unlock(&far.rmap_lock);
	}
	pthread_rwlock_unlock(&far.freeze);
	return 0;
}

int far_unmap(void *p, size_t len)
{
	int r = far_discard(p, len);
	if (r)
		return r;
	give_back((uint64_t)((char *)p - far.base), (len + FAR_PAGE - 1) & ~(FAR_PAGE - 1));
	return 0;
}

void far_child_forget(void)
{
	store_release(&far_on, 0);
	if (far.pagemap_fd >= 0)
		sys_close(far.pagemap_fd); /* it reads the parent's page tables */
	far.pagemap_fd = -1;
	if (far.xp)
		xport_close(far.xp); /* the child's copy of the socket; the parent keeps its own */
	far.xp = NULL;
}

void far_region_fork(int phase)
{
	if (phase == XPORT_FORK_PREPARE)
		pthread_mutex_lock(&map_lock);
	else if (phase == XPORT_FORK_PARENT)
		pthread_mutex_unlock(&map_lock);
	else
		pthread_mutex_init(&map_lock, NULL);
}

void far_evict_all(void)
{
	if (!far_enabled())
		return;
	far_quiesce();
	far_prefill_quiesce();
	ccache_reclaim(far.cache, ccache_capacity(far.cache));
}

void far_get_counts(struct far_counts *o)
{
	memset(o, 0, sizeof(*o));
	if (!far.cache)
		return;
	if (far_enabled()) {
		far_quiesce();
		far_prefill_quiesce();
	}
	o->faults_zero = load_relaxed(&far.n_zero);
	o->faults_remote = load_relaxed(&far.n_remote);
	o->faults_wp = load_relaxed(&far.n_wp);
	o->prefetched = load_relaxed(&far.n_prefetched);
	o->zero_ahead = load_relaxed(&far.n_zero_ahead);
	o->zero_mapped = load_relaxed(&far.n_zero_mapped);
	o->evictions = load_relaxed(&far.n_evictions);
	o->writebacks = load_relaxed(&far.n_writebacks);
	int64_t res = load_relaxed(&far.resident);
	o->resident_pages = res > 0 ? (uint64_t)res : 0;
	o->capacity_pages = ccache_capacity(far.cache);
	o->fault_p50_ns = hist_percentile(&far.h_all, 0.5);
	o->fault_p99_ns = hist_percentile(&far.h_all, 0.99);
	o->remote_p50_ns = hist_percentile(&far.h_remote, 0.5);
	o->remote_p99_ns = hist_percentile(&far.h_remote, 0.99);
	o->zero_p50_ns = hist_percentile(&far.h_zero, 0.5);
	o->zero_p99_ns = hist_percentile(&far.h_zero, 0.99);
}

/* For bench/far/fault_latency.c: the connection, to time the transport alone. */
struct xport *far_bench_xport(void);
struct xport *far_bench_xport(void) { return far.xp; }
