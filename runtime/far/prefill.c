/* Far memory's zero mapping ahead: a freshly allocated far range is mapped
 * to the kernel's shared zero page (UFFDIO_ZEROPAGE, ~60 ns a page, no
 * memory) while the resident set has room, so its first touches are
 * ordinary kernel faults (~2-3 us here) instead of a round trip through the
 * handler thread (~20 us: two cross-CPU wake-ups). Each such page holds a
 * ccache element from the start, so the bound on local memory holds; the
 * kernel's copy-on-write hides which of them were written, so eviction asks
 * PAGEMAP_SCAN (PAGE_IS_PFNZERO) once the page is write-protected.
 * Never calls malloc; raw system calls only. */
#include "far/far_internal.h"
#include "common/atomics.h"
#include "common/log.h"
#include "common/sys.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

/* PAGEMAP_SCAN (Linux 6.7) is newer than Debian 12's headers. */
#ifndef PAGEMAP_SCAN
struct page_region {
	uint64_t start, end, categories;
};
struct pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_PRESENT (1ull << 3)
#define PAGE_IS_SWAPPED (1ull << 4)
#define PAGE_IS_PFNZERO (1ull << 5)
#endif
_Static_assert(sizeof(struct pm_scan_arg) == 96, "struct pm_scan_arg as the kernel has it");
_Static_assert(sizeof(struct page_region) == 24, "struct page_region as the kernel has it");

#define PREFILL_RUN 256u /* pages per UFFDIO_ZEROPAGE: their elements are pinned until it returns */

/* Ranges waiting for the evictor thread: a malloc of gigabytes must not
 * wait for its zero mapping, and what the program touches first goes
 * through the handler meanwhile. A full queue forgets the newest range. */
#define PREFILL_QUEUE 64u
static struct {
	uint64_t first, end;
} queue[PREFILL_QUEUE];
static unsigned q_head, q_len;
static uint32_t run_active; /* a run's elements are pinned (far_prefill_quiesce) */
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;

/* Categories of one page, or <0. */
static long page_categories(uint64_t addr, uint64_t *cat)
{
	struct page_region v = { 0, 0, 0 };
	struct pm_scan_arg a = { .size = sizeof(a), .start = addr, .end = addr + FAR_PAGE, .vec = (uint64_t)&v,
				 .vec_len = 1, .return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_PFNZERO };
	long r = sys_call(SYS_ioctl, far.pagemap_fd, PAGEMAP_SCAN, &a, 0, 0, 0);
	if (r < 0)
		return r;
	*cat = r == 1 ? v.categories : 0;
	return 0;
}

void far_prefill_init(void)
{
	q_head = q_len = 0;
	far.pagemap_fd = -1;
	long fd = sys_call(SYS_openat, AT_FDCWD, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC, 0, 0, 0);
	if (fd < 0) {
		log_info("far memory: no /proc/self/pagemap (error %ld): first touches all go through the handler", fd);
		return;
	}
	far.pagemap_fd = (int)fd;
	/* The kernel must tell a zero-page mapping apart (PAGE_IS_PFNZERO):
	 * check it on the first page, then leave that page as it was. */
	uint64_t addr = (uint64_t)far.base, cat = 0;
	struct uffdio_zeropage z = { .range = { addr, FAR_PAGE }, .mode = UFFDIO_ZEROPAGE_MODE_DONTWAKE };
	long r = far_uffd_ioctl(UFFDIO_ZEROPAGE, &z);
	if (r == 0)
		r = page_categories(addr, &cat);
	sys_call(SYS_madvise, far.base, FAR_PAGE, MADV_DONTNEED, 0, 0, 0);
	if (r || !(cat & PAGE_IS_PFNZERO)) {
		log_info("far memory: PAGEMAP_SCAN cannot report zero-page mappings here (error %ld): first touches all go "
			 "through the handler",
			 r);
		sys_close(far.pagemap_fd);
		far.pagemap_fd = -1;
	}
}

int far_zmap_written(uint64_t pg)
{
	uint64_t cat;
	long r = page_categories((uint64_t)far.base + pg * FAR_PAGE, &cat);
	if (r)
		return (int)r;
	if (cat & PAGE_IS_SWAPPED)
		return 1;
	return (cat & PAGE_IS_PRESENT) && !(cat & PAGE_IS_PFNZERO);
}

/* Zero-map pages [first, first + n), whose elements idxs[] are FILLING. */
static void map_run(uint64_t first, const uint32_t *idxs, unsigned n)
{
	struct uffdio_zeropage z = { .range = { (uint64_t)far.base + first * FAR_PAGE, (uint64_t)n * FAR_PAGE }, .mode = 0 };
	/* Counted before the program can touch them, so that what it counts
	 * after a touch includes them; the pages that failed come off after. */
	fetch_add_relaxed(&far.resident, (int64_t)n);
	fetch_add_relaxed(&far.n_zero_mapped, n);
	far_uffd_ioctl(UFFDIO_ZEROPAGE, &z);
	uint64_t done = z.zeropage > 0 ? (uint64_t)z.zeropage / FAR_PAGE : 0;
	if (done < n) {
		fetch_add_relaxed(&far.resident, -(int64_t)(n - done));
		fetch_add_relaxed(&far.n_zero_mapped, -(uint64_t)(n - done));
	}
	for (unsigned i = 0; i < n; i++) {
		if (i < done) {
			fetch_or_acq_rel(&far.pflags[first + i], PG_ZMAP);
			ccache_fill_done(far.cache, idxs[i]);
			ccache_release(far.cache, idxs[i]);
		} else {
			/* Already populated (EEXIST): a fault got there first and
			 * the handler, waiting on this element, installs it. */
			ccache_fill_abort(far.cache, idxs[i]);
		}
	}
	if (done)
		STAT_ADD(far_zero_mapped, done);
}


void far_prefill(char *p, uint64_t len)
{
	if (far.pagemap_fd < 0 || !far_contains(p) || len < FAR_PAGE)
		return;
	if (ccache_free_count(far.cache) <= far.high_wm)
		return; /* no room: not worth a wake-up */
	uint64_t first = far_page_of(p), end = first + len / FAR_PAGE;
	pthread_mutex_lock(&q_lock);
	int queued = q_len < PREFILL_QUEUE;
	if (queued) {
		unsigned i = (q_head + q_len++) % PREFILL_QUEUE;
		queue[i].first = first;
		queue[i].end = end < far.npages ? end : far.npages;
	}
	pthread_mutex_unlock(&q_lock);
	if (queued)
		far_kick_evictor();
}

/* One run of at most PREFILL_RUN pages from the queue's head. */
int far_prefill_work(void)
{
	uint64_t pg, end;
	pthread_mutex_lock(&q_lock);
	if (!q_len) {
		pthread_mutex_unlock(&q_lock);
		return 0;
	}
	pg = queue[q_head].first;
	end = queue[q_head].end;
	if (end - pg > PREFILL_RUN) {
		queue[q_head].first = pg + PREFILL_RUN;
		end = pg + PREFILL_RUN;
	} else {
		q_head = (q_head + 1) % PREFILL_QUEUE;
		q_len--;
	}
	store_release(&run_active, 1); /* before the queue lets go of the range */
	pthread_mutex_unlock(&q_lock);

	uint32_t idxs[PREFILL_RUN];
	unsigned n = 0;
	uint64_t run = pg;
	int room = 1;
	for (; pg < end; pg++) {
		/* Only room that is free beyond what the faults need next: never
		 * evict to map zeros. */
		if (ccache_free_count(far.cache) <= far.high_wm) {
			room = 0;
			break;
		}
		/* A page with any state (on the server above all) is not a
		 * fresh one: zeros there would lose data. */
		uint32_t ix;
		int r = load_acquire(&far.pflags[pg]) ? -EEXIST : ccache_get(far.cache, &pg, &ix);
		if (r == CCACHE_MISS && load_acquire(&far.pflags[pg])) {
			ccache_fill_abort(far.cache, ix);
			r = -EEXIST;
		} else if (r == CCACHE_HIT) {
			ccache_release(far.cache, ix); /* touched first: the handler's */
			r = -EEXIST;
		}
		if (r == CCACHE_MISS) {
			idxs[n++] = ix;
			continue;
		}
		if (n)
			map_run(run, idxs, n);
		n = 0;
		run = pg + 1;
		if (r != -EEXIST) {
			room = 0;
			break;
		}
	}
	if (n)
		map_run(run, idxs, n);
	store_release(&run_active, 0); /* pairs with far_prefill_quiesce() */
	if (!room) {
		/* Full: what is queued would only take room the faults need. */
		pthread_mutex_lock(&q_lock);
		q_len = 0;
		pthread_mutex_unlock(&q_lock);
	}
	stats_set_gauge_far_resident((uint64_t)load_relaxed(&far.resident) * FAR_PAGE);
	return 1;
}

void far_prefill_quiesce(void)
{
	while (load_acquire(&run_active) && !load_acquire(&far.stop))
		sys_sched_yield();
}
