/* shunt's counters. Each thread counts into its own slot of a shared memfd
 * named "shunt-stats" (so `shunt stats PID` can read a live process); the
 * report sums the slots. Layout is fixed: the `shunt` command maps it. */
#ifndef SHUNT_STATS_H
#define SHUNT_STATS_H

#include <stdint.h>

/* Per-op counters of the file channel follow SHUNT_FS_OPS in fs_wire.h. */
#define SHUNT_STATS_COUNTERS(X) \
	X(fs_ops)            /* commands served through the channel */ \
	X(fs_syscalls)       /* system calls the client made for redirected fds */ \
	X(fs_cache_hits)     /* reads served from the shared file cache, no round trip */ \
	X(fs_cache_misses)   /* reads that needed the server to load blocks */ \
	X(fs_bytes_read) \
	X(fs_bytes_written) \
	X(fs_server_wakeups) /* client had to wake a sleeping poller */ \
	X(fs_client_sleeps)  /* client gave up spinning and slept on a futex */ \
	X(fs_redirected_calls) \
	X(fs_opens_reused)   /* opens that reused a kept handle: no command */ \
	X(far_faults_zero) \
	X(far_faults_remote) \
	X(far_prefetched) \
	X(far_evictions) \
	X(far_writebacks) \
	X(far_resident_bytes) \
	X(far_alloc_bytes) \
	X(far_verbs_reads)   /* rdma://: RDMA READ work requests (one per page or piece) */ \
	X(far_verbs_writes)  /* rdma://: RDMA WRITE work requests */ \
	X(far_verbs_bytes)   /* rdma://: bytes moved by them */ \
	X(far_verbs_posts)   /* rdma://: ibv_post_send calls (doorbells; a batch is one) */ \
	X(far_verbs_polls)   /* rdma://: ibv_poll_cq calls, empty ones included */ \
	X(far_verbs_cqes)    /* rdma://: operations completed (one signaled completion each) */ \
	X(jsw_sites) \
	X(jsw_direct_hits) \
	X(jsw_fallbacks) \
	X(jsw_patches) \
	X(far_mmap_bytes)    /* bytes of anonymous mmaps placed in far memory */ \
	X(far_zero_mapped)   /* far pages mapped to the zero page when allocated: their first touch is the kernel's */

enum shunt_stat_id {
#define SHUNT_STAT_ENUM(n) SHUNT_STAT_##n,
	SHUNT_STATS_COUNTERS(SHUNT_STAT_ENUM)
#undef SHUNT_STAT_ENUM
	SHUNT_STAT_FS_OP_BASE, /* followed by one counter per fs op */
	SHUNT_STAT_MAX = SHUNT_STAT_FS_OP_BASE + 64
};

#define SHUNT_STATS_MAGIC 0x5354415453484e54ull /* "TNHSTATS" */
#define SHUNT_STATS_SLOTS 256

/* One slot per thread; slot 0 is shared (atomic adds) by threads beyond the
 * pool and holds the counts of exited threads. */
struct shunt_stats_slot {
	uint64_t v[SHUNT_STAT_MAX];
};

/* Gauges (set, not summed) live in the header. */
struct shunt_stats_file {
	uint64_t magic;
	uint32_t nslots;     /* slots in use, <= SHUNT_STATS_SLOTS */
	uint32_t nstat;      /* == SHUNT_STAT_MAX */
	int32_t pid;
	uint32_t pad;
	uint64_t gauge_far_resident_bytes;
	uint64_t reserved[59];
	struct shunt_stats_slot slot[SHUNT_STATS_SLOTS];
};
_Static_assert(sizeof(struct shunt_stats_slot) == 8 * SHUNT_STAT_MAX, "slot layout");

#endif
