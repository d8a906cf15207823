/* The far-memory fault handler thread: reads userfaultfd events and
 * resolves them (zero fill, fetch with prefetch, write-protect faults that
 * mark pages dirty). Never touches a missing far page, never calls malloc,
 * and makes only raw system calls. */
#include "far/far_internal.h"
#include "far/sites.h"
#include "common/atomics.h"
#include "common/log.h"
#include "common/sys.h"

#include <errno.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <time.h>

long far_uffd_ioctl(unsigned long req, void *arg)
{
	return sys_call(SYS_ioctl, far.uffd, req, arg, 0, 0, 0);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no system call, no malloc */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void wake_range(uint64_t addr, uint64_t len)
{
	struct uffdio_range r = { addr, len };
	far_uffd_ioctl(UFFDIO_WAKE, &r);
}

/* Install len bytes at dst from src (local); returns bytes installed. */
static uint64_t install(uint64_t dst, const void *src, uint64_t len, int wp, int dontwake)
{
	struct uffdio_copy c = { .dst = dst, .src = (uint64_t)src, .len = len,
				 .mode = (wp ? UFFDIO_COPY_MODE_WP : 0) | (dontwake ? UFFDIO_COPY_MODE_DONTWAKE : 0) };
	long r = far_uffd_ioctl(UFFDIO_COPY, &c);
	if (r == 0)
		return len;
	return c.copy > 0 ? (uint64_t)c.copy : 0;
}

/* Take an element for page pg. 1: a new element (pinned, FILLING);
 * 0: already resident (pinned, VALID: the caller releases). Waits for the
 * evictor when every element is pinned; fatal after a long wait. */
static int take(uint64_t pg, uint32_t *idx)
{
	for (unsigned tries = 0;; tries++) {
		int r = ccache_get(far.cache, &pg, idx);
		if (r == CCACHE_MISS)
			return 1;
		if (r == CCACHE_HIT)
			return 0;
		far_kick_evictor();
		if (tries == 20000) { /* ~20 s */
			log_error("far memory: no local page can be freed (every one is pinned or cannot be written back)");
			far_fatal_server(-ENOMEM, 0);
		}
		struct timespec ts = { 0, 1000000 };
		sys_call(SYS_nanosleep, &ts, 0, 0, 0, 0, 0);
	}
}

static void filled(uint32_t idx)
{
	ccache_fill_done(far.cache, idx);
	ccache_release(far.cache, idx);
	fetch_add_relaxed(&far.resident, 1);
}

static void maybe_kick(void)
{
	if (ccache_free_count(far.cache) < far.low_wm)
		far_kick_evictor();
}

/* A first touch: zeros, never a fetch. Sequential first touches fill ahead. */
static void fault_zero(uint64_t pg, uint32_t idx, int write)
{
	uint64_t addr = (uint64_t)far.base + pg * FAR_PAGE;
	if (install(addr, far.zero, FAR_PAGE, !write, 0) != FAR_PAGE) {
		ccache_fill_abort(far.cache, idx);
		wake_range(addr, FAR_PAGE);
		return;
	}
	if (write)
		fetch_or_acq_rel(&far.pflags[pg], PG_DIRTY);
	filled(idx);
	fetch_add_relaxed(&far.n_zero, 1);
	STAT_INC(far_faults_zero);

	int seq = pg == far.last_zero + 1;
	far.last_zero = pg;
	if (!seq || far.no_prefetch)
		return;
	/* Zero-fill ahead: the next pages that were never written back and
	 * are not resident, as one run. */
	uint32_t idxs[FAR_ZERO_AHEAD];
	unsigned n = 0;
	for (uint64_t q = pg + 1; q < far.npages && n < FAR_ZERO_AHEAD; q++) {
		if (load_acquire(&far.pflags[q]) & PG_REMOTE)
			break;
		uint32_t ix;
		if (ccache_free_count(far.cache) < far.low_wm)
			break; /* do not evict to zero-fill ahead */
		if (take(q, &ix) == 0) {
			ccache_release(far.cache, ix);
			break;
		}
		if (load_acquire(&far.pflags[q]) & PG_REMOTE) {
			ccache_fill_abort(far.cache, ix);
			break;
		}
		idxs[n++] = ix;
	}
	if (!n)
		return;
	uint64_t done = install(addr + FAR_PAGE, far.zero, n * FAR_PAGE, 1, 1) / FAR_PAGE;
	for (unsigned i = 0; i < n; i++) {
		if (i < done)
			filled(idxs[i]);
		else
			ccache_fill_abort(far.cache, idxs[i]);
	}
	far.last_zero = pg + done;
	fetch_add_relaxed(&far.n_zero_ahead, done);
	STAT_ADD(far_prefetched, done);
}

/* A page that was written back: fetch it, and prefetch what follows when
 * the remote faults run sequentially or with a constant stride. */
static void fault_remote(uint64_t pg, uint32_t idx, int write, uint32_t tid)
{
	int64_t stride = (int64_t)(pg - far.last_remote);
	int pattern = !far.no_prefetch && stride != 0 && (stride == 1 || stride == (int64_t)far.last_stride) &&
		      stride > -64 && stride < 64;
	far.last_stride = (uint64_t)stride;
	far.last_remote = pg;

	uint64_t pages[FAR_PREFETCH + 1];
	uint32_t idxs[FAR_PREFETCH + 1];
	struct xport_io io[FAR_PREFETCH + 1];
	unsigned n = 0;
	pages[0] = pg;
	idxs[0] = idx;
	io[0] = (struct xport_io){ 0, far.stage, FAR_PAGE };
	int r = far_remote_addr(pg, 0, &io[0].raddr);
	n = 1;
	for (unsigned k = 1; pattern && k <= FAR_PREFETCH; k++) {
		int64_t q = (int64_t)pg + stride * (int64_t)k;
		if (q < 0 || (uint64_t)q >= far.npages || !(load_acquire(&far.pflags[q]) & PG_REMOTE))
			break;
		if (ccache_free_count(far.cache) < far.low_wm)
			break;
		uint32_t ix;
		if (take((uint64_t)q, &ix) == 0) {
			ccache_release(far.cache, ix);
			continue;
		}
		if (!(load_acquire(&far.pflags[q]) & PG_REMOTE)) {
			ccache_fill_abort(far.cache, ix);
			break;
		}
		uint64_t ra;
		if (r || far_remote_addr((uint64_t)q, 0, &ra)) {
			ccache_fill_abort(far.cache, ix);
			break;
		}
		pages[n] = (uint64_t)q;
		idxs[n] = ix;
		io[n] = (struct xport_io){ ra, far.stage + n * FAR_PAGE, FAR_PAGE };
		n++;
	}
	if (!r)
		r = xport_read(far.xp, io, n);
	if (r) {
		for (unsigned i = 0; i < n; i++)
			ccache_fill_abort(far.cache, idxs[i]);
		far_fatal_server(r, tid);
		wake_range((uint64_t)far.base + pg * FAR_PAGE, FAR_PAGE);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t q = pages[i];
		int w = i == 0 && write;
		if (install((uint64_t)far.base + q * FAR_PAGE, far.stage + i * FAR_PAGE, FAR_PAGE, !w, i != 0) != FAR_PAGE) {
			ccache_fill_abort(far.cache, idxs[i]);
			if (i == 0)
				wake_range((uint64_t)far.base + q * FAR_PAGE, FAR_PAGE);
			continue;
		}
		if (w)
			fetch_or_acq_rel(&far.pflags[q], PG_DIRTY);
		filled(idxs[i]);
	}
	fetch_add_relaxed(&far.n_remote, 1);
	STAT_INC(far_faults_remote);
	if (n > 1) {
		fetch_add_relaxed(&far.n_prefetched, n - 1);
		STAT_ADD(far_prefetched, n - 1);
	}
}

/* The first write to a page installed write-protected: mark it dirty,
 * then let the writer go. */
static void fault_wp(uint64_t pg)
{
	uint64_t addr = (uint64_t)far.base + pg * FAR_PAGE;
	uint32_t idx;
	if (ccache_lookup(far.cache, &pg, &idx) == 0) {
		fetch_or_acq_rel(&far.pflags[pg], PG_DIRTY);
		struct uffdio_writeprotect w = { .range = { addr, FAR_PAGE }, .mode = 0 };
		far_uffd_ioctl(UFFDIO_WRITEPROTECT, &w); /* clearing wakes the writer */
		ccache_release(far.cache, idx);
	} else {
		/* Evicted meanwhile: the writer retries and takes a missing fault. */
		wake_range(addr, FAR_PAGE);
	}
	fetch_add_relaxed(&far.n_wp, 1);
}

static void handle(const struct uffd_msg *m)
{
	if (m->event != UFFD_EVENT_PAGEFAULT)
		return;
	uint64_t addr = m->arg.pagefault.address & ~(FAR_PAGE - 1);
	uint64_t flags = m->arg.pagefault.flags;
	if (addr < (uint64_t)far.base || addr >= (uint64_t)far.base + far.size)
		return;
	uint64_t pg = far_page_of((void *)addr);
	uint64_t t0 = mono_ns();
	if (flags & UFFD_PAGEFAULT_FLAG_WP) {
		fault_wp(pg);
		hist_record(&far.h_all, mono_ns() - t0);
		return;
	}
	far_sites_fault(pg);
	uint32_t idx;
	if (take(pg, &idx) == 0) {
		/* Resident already: usually another thread's fault on the same
		 * page (the copy below then fails with EEXIST). It can also be a
		 * page zero-filled ahead just before a free() in another thread
		 * dropped its range: a discarded range reads as zeros, so zeros
		 * are what it gets rather than a fault that never resolves. */
		if (!(load_acquire(&far.pflags[pg]) & PG_REMOTE))
			install(addr, far.zero, FAR_PAGE, 1, 1);
		ccache_release(far.cache, idx);
		wake_range(addr, FAR_PAGE);
		return;
	}
	int write = (flags & UFFD_PAGEFAULT_FLAG_WRITE) != 0;
	/* A page back within one cache's worth of evictions was evicted too
	 * early: count it as referenced, so it is protected (ccache HOT). */
	uint32_t ev = load_relaxed(&far.evicted_at[pg]);
	if (ev && load_relaxed(&far.evict_clock) - ev < ccache_capacity(far.cache))
		ccache_mark_referenced(far.cache, idx);
	if (load_acquire(&far.pflags[pg]) & PG_REMOTE) {
		fault_remote(pg, idx, write, m->arg.pagefault.feat.ptid);
		uint64_t dt = mono_ns() - t0;
		hist_record(&far.h_remote, dt);
		hist_record(&far.h_all, dt);
	} else {
		fault_zero(pg, idx, write);
		uint64_t dt = mono_ns() - t0;
		hist_record(&far.h_zero, dt);
		hist_record(&far.h_all, dt);
	}
	maybe_kick();
	stats_set_gauge_far_resident((uint64_t)load_relaxed(&far.resident) * FAR_PAGE);
}

void *far_handler_main(void *arg)
{
	(void)arg;
	struct uffd_msg msgs[16];
	while (!load_acquire(&far.stop)) {
		struct pollfd p = { far.uffd, POLLIN, 0 };
		struct timespec ts = { 0, 100 * 1000000 };
		long r = sys_call(SYS_ppoll, &p, 1, &ts, 0, 0, 0);
		if (r <= 0)
			continue;
		long n = sys_read(far.uffd, msgs, sizeof(msgs));
		if (n <= 0)
			continue;
		long k = n / (long)sizeof(msgs[0]);
		fetch_add_acq_rel(&far.ev_read, (uint64_t)k);
		for (long i = 0; i < k; i++) {
			handle(&msgs[i]);
			/* pairs with load_acquire in far_quiesce() */
			fetch_add_acq_rel(&far.ev_done, 1);
		}
	}
	return NULL;
}

void far_quiesce(void)
{
	uint64_t want = load_acquire(&far.ev_read);
	while (load_acquire(&far.ev_done) < want && !load_acquire(&far.stop))
		sys_sched_yield();
}
