/* Far memory's evictor: a thread that keeps free ccache elements ahead of
 * the faults (and, with room to spare, maps fresh ranges to the zero page:
 * prefill.c), and the eviction callback the ccache calls (from that thread,
 * from the handler when it must, or from far_evict_all): write a dirty page
 * back with writers held off, drop a clean one without I/O. Never calls
 * malloc; the page it copies is resident and locked (its element), so the
 * copy cannot fault. */
#include "far/far_internal.h"
#include "common/atomics.h"
#include "common/log.h"
#include "common/sys.h"

#include <errno.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

/* Each evicting thread copies through its own staging page. It is not
 * registered with the transport: registering allocates (inside rdma-core),
 * and a thread that allocates while it holds far.freeze deadlocks with a
 * fork, whose prepare handler holds the allocator's locks while it waits
 * for far.freeze; rdma:// writes it through its bounce buffer. */
static __thread char *tls_stage __attribute__((tls_model("initial-exec")));

void far_kick_evictor(void)
{
	if (exchange_acq_rel(&far.evict_kick, 1) == 0)
		sys_futex_wake(&far.evict_kick, 1);
}

int far_remote_addr(uint64_t pg, int alloc, uint64_t *raddr)
{
	uint64_t c = pg * FAR_PAGE / FAR_RCHUNK, off = pg * FAR_PAGE % FAR_RCHUNK;
	uint64_t v = load_acquire(&far.rmap[c]);
	if (v) {
		*raddr = v - 1 + off;
		return 0;
	}
	if (!alloc)
		return -EFAULT;
	pthread_mutex_lock(&far.rmap_lock);
	v = far.rmap[c];
	if (!v) {
		uint64_t ra;
		int r = xport_alloc(far.xp, FAR_RCHUNK, &ra);
		if (r) {
			pthread_mutex_unlock(&far.rmap_lock);
			return r;
		}
		v = ra + 1;
		/* pairs with load_acquire above in other threads */
		store_release(&far.rmap[c], v);
	}
	pthread_mutex_unlock(&far.rmap_lock);
	*raddr = v - 1 + off;
	return 0;
}

static uint32_t fatal_told; /* the first caller's message is out */

void far_fatal_server(int err, uint32_t tid)
{
	if (exchange_acq_rel(&far.server_dead, 1) != 0) {
		/* Another thread is telling why: the signal must not end the
		 * process before its message is out (bounded: 1 s). */
		struct timespec ts = { 0, 1000000 };
		for (int i = 0; i < 1000 && !load_acquire(&fatal_told); i++)
			sys_call(SYS_nanosleep, &ts, 0, 0, 0, 0, 0);
	} else {
		if (err == -ENOSPC)
			log_error("far memory: shunt-memd at %s has no space left for written-back pages (%lu MiB free)",
				  far.url, (unsigned long)(far.xp->limits.free >> 20));
		else
			log_error("far memory: shunt-memd at %s cannot be used any more (error %d): pages that live there "
				  "are lost; stopping with SIGBUS",
				  far.url, err);
		store_release(&fatal_told, 1);
	}
	if (err == -ENOSPC)
		return;
	long pid = sys_getpid();
	if (tid)
		sys_call(SYS_tgkill, pid, tid, SIGBUS, 0, 0, 0);
	else
		sys_call(SYS_kill, pid, SIGBUS, 0, 0, 0, 0);
}

int far_evict_cb(void *ctx, const void *key, uint32_t idx)
{
	(void)ctx, (void)idx;
	uint64_t pg;
	memcpy(&pg, key, sizeof(pg));
	char *addr = far.base + pg * FAR_PAGE;
	struct uffdio_writeprotect w = { .range = { (uint64_t)addr, FAR_PAGE }, .mode = UFFDIO_WRITEPROTECT_MODE_WP };
	int protected = 0;
	if (load_acquire(&far.pflags[pg]) & PG_ZMAP) {
		/* Mapped to the zero page at allocation: only the page table
		 * knows whether it was written since. Ask once writers wait. */
		if (far_uffd_ioctl(UFFDIO_WRITEPROTECT, &w))
			return 1;
		protected = 1;
		if (far_zmap_written(pg))
			fetch_or_acq_rel(&far.pflags[pg], PG_DIRTY);
		fetch_and_acq_rel(&far.pflags[pg], (uint8_t)~PG_ZMAP);
	}
	if (load_acquire(&far.pflags[pg]) & PG_DIRTY) {
		if (load_acquire(&far.server_dead))
			return 1; /* cannot write back: keep it */
		/* A fork child may be copying the server's pages: wait. */
		pthread_rwlock_rdlock(&far.freeze);
		/* Writers now take a write-protect fault and wait in the handler
		 * for this element's lock, held by our caller until we are done. */
		if (!protected && far_uffd_ioctl(UFFDIO_WRITEPROTECT, &w)) {
			pthread_rwlock_unlock(&far.freeze);
			return 1;
		}
		uint64_t ra;
		int err = far_remote_addr(pg, 1, &ra);
		if (err) {
			pthread_rwlock_unlock(&far.freeze);
			far_fatal_server(err, 0);
			return 1;
		}
		if (!tls_stage) {
			tls_stage = sys_mmap(NULL, FAR_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (sys_mmap_failed(tls_stage)) {
				tls_stage = NULL;
				pthread_rwlock_unlock(&far.freeze);
				return 1;
			}
		}
		memcpy(tls_stage, addr, FAR_PAGE);
		struct xport_io io = { ra, tls_stage, FAR_PAGE };
		int r = xport_write(far.xp, &io, 1);
		if (r) {
			pthread_rwlock_unlock(&far.freeze);
			far_fatal_server(r, 0);
			return 1;
		}
		fetch_or_acq_rel(&far.pflags[pg], PG_REMOTE);
		fetch_and_acq_rel(&far.pflags[pg], (uint8_t)~PG_DIRTY);
		pthread_rwlock_unlock(&far.freeze);
		fetch_add_relaxed(&far.n_writebacks, 1);
		STAT_INC(far_writebacks);
	}
	sys_call(SYS_madvise, addr, FAR_PAGE, MADV_DONTNEED, 0, 0, 0);
	uint32_t now = fetch_add_relaxed(&far.evict_clock, 1) + 1;
	store_relaxed(&far.evicted_at[pg], now);
	/* Age the protected set slowly: one HOT page back to COLD every
	 * capacity/8 evictions, so what stopped being used leaves it. */
	uint32_t every = ccache_capacity(far.cache) / 8 ? ccache_capacity(far.cache) / 8 : 1;
	if (now % every == 0)
		ccache_age(far.cache);
	fetch_add_relaxed(&far.resident, -1);
	fetch_add_relaxed(&far.n_evictions, 1);
	STAT_INC(far_evictions);
	return 0;
}

void *far_evictor_main(void *arg)
{
	(void)arg;
	while (!load_acquire(&far.stop)) {
		if (ccache_free_count(far.cache) < far.high_wm) {
			ccache_reclaim(far.cache, far.high_wm);
			stats_set_gauge_far_resident((uint64_t)load_relaxed(&far.resident) * FAR_PAGE);
			if (ccache_free_count(far.cache) >= far.high_wm)
				continue;
		}
		if (far_prefill_work())
			continue; /* faults come first: check the room again between runs */
		store_release(&far.evict_kick, 0);
		sys_futex_wait(&far.evict_kick, 0, 20 * 1000000L);
	}
	return NULL;
}
