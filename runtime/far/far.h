/* Far memory: a reserved virtual region whose pages live on a memory server
 * (shunt-memd), with a bounded set resident in local RAM.
 *
 *   - The region is registered with userfaultfd (MISSING + WP). A first
 *     touch is filled with zeros locally, never fetched; a page that was
 *     written back is fetched from the server (sequential and strided
 *     remote faults prefetch the pages that follow; sequential first
 *     touches zero-fill ahead).
 *   - Resident pages are elements of a ccache (runtime/ccache) sized by
 *     local_mem; an evictor thread keeps free elements ahead of the faults.
 *   - With room to spare, fresh ranges are mapped to the kernel's zero page
 *     ahead of their first touch (prefill.c): that touch is then a kernel
 *     copy-on-write fault (~3 us), not a trip through the handler (~20 us
 *     with its two cross-CPU wake-ups); eviction asks PAGEMAP_SCAN whether
 *     such a page was written.
 *   - Dirtiness: pages are installed write-protected unless the fault was a
 *     write; the first write to a protected page takes a write-protect fault
 *     that marks it dirty. Eviction write-protects a dirty page (so writers
 *     wait), writes it back, then drops it; clean pages are dropped without
 *     I/O. (WP_ASYNC + PAGEMAP_SCAN would save that fault, but cannot make a
 *     writer wait while its page is being written back: a write between the
 *     copy and the drop would be lost.)
 *   - The fault path is a handler thread, chosen by measurement on these
 *     machines (bench/far/fault_path.c, 4096 first touches): kernel zero fill
 *     p50 2.1 us; UFFD_FEATURE_SIGBUS resolved in the faulting thread 5.7 us
 *     but read() into a missing page fails with EFAULT; a handler thread
 *     blocked in poll() 8.7 us (p99 ~23 us) with read()/write() into far
 *     buffers working; a spinning handler no better (8.1 us). The handler
 *     and what it calls never touch a missing far page and never call malloc.
 *
 * The API below is what the malloc layer and the tests use. 0/-errno;
 * pointers NULL on failure. Nothing here runs unless far_init() is called. */
#ifndef SHUNT_FAR_H
#define SHUNT_FAR_H

#include <stddef.h>
#include <stdint.h>

struct far_params {
	uint64_t region_size; /* virtual bytes reserved (far_size) */
	uint64_t local_mem;   /* bound on resident far bytes (local_mem) */
	const char *server;   /* tcp://HOST:PORT; NULL or "" starts an embedded memd */
	int no_prefetch;      /* 1: no prefetch (benchmarks compare) */
	int no_zero_map;      /* 1: every first touch through the handler (prefill.c) */
};

int far_init(const struct far_params *p, char *err, size_t errlen);
int far_enabled(void);
/* Carve len bytes (rounded up to pages) out of the region; reads as zeros. */
void *far_map(size_t len);
/* The same at an alignment (a power of two; pages at least). */
void *far_map_aligned(size_t len, size_t align);
/* Take exactly [p, p + len) if it is free (growing an allocation in place). */
int far_map_at(void *p, size_t len);
/* Give a range back: its resident pages are dropped, its remote copies
 * forgotten; it reads as zeros if touched again. */
int far_unmap(void *p, size_t len);
/* Zero a range (MADV_DONTNEED semantics) without giving it back. */
int far_discard(void *p, size_t len);
int far_contains(const void *p);
/* Evict every resident page that can be (tests, fork). */
void far_evict_all(void);

struct far_counts {
	uint64_t faults_zero, faults_remote, faults_wp, prefetched, zero_ahead, zero_mapped;
	uint64_t evictions, writebacks, resident_pages, capacity_pages;
	uint64_t fault_p50_ns, fault_p99_ns, remote_p50_ns, remote_p99_ns, zero_p50_ns, zero_p99_ns;
};
void far_get_counts(struct far_counts *out);

/* Stops the threads, unregisters and unmaps the region (tests). */
void far_shutdown(void);

#endif
