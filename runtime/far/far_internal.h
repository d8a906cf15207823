/* Far memory's shared state between region.c (set-up, ranges), fault.c (the
 * handler thread) and evict.c (the evictor and write-back). Not an API. */
#ifndef SHUNT_FAR_INTERNAL_H
#define SHUNT_FAR_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "ccache/ccache.h"
#include "common/stats.h"
#include "far/far.h"
#include "transport/transport.h"

#define FAR_PAGE      4096ull
#define FAR_RCHUNK    (64ull << 20)  /* remote space grows in these */
#define FAR_PREFETCH  16u            /* pages fetched ahead on a sequential or strided remote fault */
#define FAR_ZERO_AHEAD 16u           /* pages zero-filled ahead on sequential first touches */

/* Page flags. Changed only by a thread that holds the page's ccache element
 * (pinned by the handler, or locked by an eviction), or by far_unmap()
 * after the element is gone; atomics so the racy readers are defined. */
/* PG_ZMAP: mapped to the kernel's zero page at allocation (prefill.c); the
 * kernel handles its first write, so whether it is dirty is asked of
 * PAGEMAP_SCAN at eviction, with the page write-protected. */
enum { PG_REMOTE = 1, PG_DIRTY = 2, PG_ZMAP = 4 };

struct memd_server;

struct far_state {
	char *base;
	uint64_t size, npages;
	uint8_t *pflags;          /* per page */
	uint32_t *evicted_at;     /* per page: eviction clock when last evicted (refault distance) */
	uint32_t evict_clock;     /* evictions so far (wraps) */
	uint64_t *rmap;           /* per FAR_RCHUNK of the region: server raddr + 1, 0 = none; under rmap_lock */
	pthread_mutex_t rmap_lock;
	pthread_rwlock_t freeze;   /* write-backs and remote frees hold it shared; fork holds it exclusive until the child has copied */
	int uffd;
	int pagemap_fd;            /* /proc/self/pagemap for PAGEMAP_SCAN; -1: no zero mapping ahead */
	struct ccache *cache;
	struct xport *xp;
	char url[96];
	struct memd_server *memd; /* embedded server, or NULL */
	pthread_t memd_thread, handler, evictor;
	uint32_t stop;
	uint32_t evict_kick;      /* futex word: the handler wants free elements */
	uint32_t low_wm, high_wm; /* free elements: kick below low, evictor refills to high */
	char *zero;               /* FAR_ZERO_AHEAD zeroed pages, local */
	char *stage;              /* the handler's staging buffer, FAR_PREFETCH + 1 pages, registered */
	uint32_t no_prefetch;
	uint32_t server_dead;
	/* Handler-only prefetch state. */
	uint64_t last_remote, last_stride, last_zero;
	/* Counters (relaxed atomics) and the handler's service-time histograms. */
	uint64_t n_zero, n_remote, n_wp, n_prefetched, n_zero_ahead, n_evictions, n_writebacks, n_zero_mapped;
	int64_t resident;
	uint64_t ev_read, ev_done;  /* events taken off the uffd / fully handled (far_quiesce) */
	struct stats_hist h_all, h_zero, h_remote;
};

extern struct far_state far;

/* fault.c */
void *far_handler_main(void *arg);
long far_uffd_ioctl(unsigned long req, void *arg);

/* Wait until every fault event read so far is fully handled: a thread
 * that just returned from a fault sees its page accounted. */
void far_quiesce(void);

/* prefill.c */
/* Open the pagemap and check PAGEMAP_SCAN reports zero-page mappings;
 * without it, far_prefill() does nothing. */
void far_prefill_init(void);
/* Queue a fresh range to be mapped to the zero page by the evictor thread
 * while the resident set has free room beyond its high watermark: first
 * touches there are then ordinary kernel faults, not a trip through the
 * handler thread. */
void far_prefill(char *p, uint64_t len);
/* The evictor's share: map one run from the queue. 1 if there was work. */
int far_prefill_work(void);
/* Wait until no run is half done: its pages counted but still pinned. */
void far_prefill_quiesce(void);
/* For a PG_ZMAP page the caller has write-protected: 1 if it was written
 * (a page of its own, or swapped), 0 if it still maps the zero page or
 * nothing, <0 if the kernel would not say (treat as written). */
int far_zmap_written(uint64_t pg);

/* fork.c: the fork handlers (setup.c registers them) */
void far_fork_prepare(void);
void far_fork_parent(void);
void far_fork_child(void);

/* region.c: the range table's lock across fork */
void far_region_fork(int phase);
/* In a fork child: far memory off, the connection copy closed. */
void far_child_forget(void);

/* evict.c */
int far_evict_cb(void *ctx, const void *key, uint32_t idx);
void *far_evictor_main(void *arg);
void far_kick_evictor(void);
/* Server address of page pg into *raddr, allocating its chunk's remote
 * space if asked. 0, -EFAULT (none and !alloc) or the transport's error. */
int far_remote_addr(uint64_t pg, int alloc, uint64_t *raddr);
/* Log once, then SIGBUS the faulting thread (tid) or the process (tid 0). */
void far_fatal_server(int err, uint32_t tid);

static inline uint64_t far_page_of(const void *p) { return (uint64_t)((const char *)p - far.base) / FAR_PAGE; }

#endif
