/* The concurrent cache: a fixed set of elements, a hash table from key to
 * element, and three queues that decide which element is reused next.
 * Generic over keys (fixed size, compared as bytes); the far-memory
 * resident set and the file server's block cache both sit on it.
 *
 * Structure (the seed's highly concurrent cache replacement algorithm):
 *   - hash table: one mutex per bucket, chains linked through the elements;
 *   - every element has its own mutex, taken alone or before a bucket mutex
 *     (order: element -> bucket; a lookup holds a bucket, lets it go, then
 *     takes the element, and re-checks the key: a changed key is a detected
 *     race and the whole lookup is retried);
 *   - three queues of element indices, FREE, COLD and HOT: bounded MPMC
 *     rings whose head and tail are advanced by compare-and-swap;
 *     a new key enters COLD; a hit sets the element's reference bit; the
 *     reclaimer takes COLD's head and either promotes it to HOT (referenced,
 *     while HOT has room; else it gets a second lap in COLD), sends it round
 *     again (pinned or filling), or evicts it; HOT is kept under hot_max by
 *     demoting unreferenced heads to COLD.
 *
 * Invariants, at quiescence:
 *   |FREE| + |COLD| + |HOT| == capacity   (each element in exactly one queue;
 *                                          in between it is owned by one thread)
 *   hashed elements == elements in state FILLING or VALID <= capacity
 *   no key is hashed twice.
 *
 * Memory comes from mmap, never malloc: usable inside libshunt's malloc and
 * from a fault-handler thread. Not usable from a signal handler (mutexes).
 * Returns: 0/-errno; pointers NULL on failure. */
#ifndef SHUNT_CCACHE_H
#define SHUNT_CCACHE_H

#include <stdint.h>
#include <stddef.h>

#define CCACHE_KEY_MAX 32
#define CCACHE_NONE    UINT32_MAX

/* Called by the reclaimer on a VALID, unpinned element, with the element's
 * lock held and the element still hashed: a concurrent lookup of the same key
 * waits until this returns. Return 0 to let the element go (e.g. after
 * writing a dirty page back), non-zero to keep it (it goes round again). */
typedef int (*ccache_evict_fn)(void *ctx, const void *key, uint32_t idx);

struct ccache_params {
	uint32_t capacity;      /* elements; >= 2 */
	uint32_t key_size;      /* bytes, 1..CCACHE_KEY_MAX */
	uint32_t hot_pct;       /* HOT's share of capacity, %; 0 means 50 */
	ccache_evict_fn evict;  /* may be NULL: elements are dropped silently */
	void *ctx;
};

struct ccache_counts {
	uint64_t hits, misses, evictions, evict_refused, promotions, demotions, races;
};

struct ccache;

struct ccache *ccache_create(const struct ccache_params *p);
void ccache_destroy(struct ccache *c);

enum { CCACHE_HIT = 0, CCACHE_MISS = 1 };

/* Find key; on a hit, pin the element and return 0 with *idx set; -ENOENT
 * if absent. An element still FILLING is waited for. */
int ccache_lookup(struct ccache *c, const void *key, uint32_t *idx);
/* Find or insert key. CCACHE_HIT: pinned, VALID. CCACHE_MISS: a new element,
 * pinned and FILLING: the caller fills what it stands for and calls
 * ccache_fill_done() (or ccache_fill_abort()). Reclaims when no element is
 * free; -EAGAIN if every element is pinned or refuses eviction. */
int ccache_get(struct ccache *c, const void *key, uint32_t *idx);
void ccache_fill_done(struct ccache *c, uint32_t idx);
/* The fill failed: unhash the element and free it (the caller's pin goes). */
void ccache_fill_abort(struct ccache *c, uint32_t idx);
/* Drop a pin taken by lookup/get. */
void ccache_release(struct ccache *c, uint32_t idx);
/* Unhash key without calling evict (the data is gone, e.g. munmap).
 * -ENOENT if absent, -EBUSY if pinned. */
int ccache_remove(struct ccache *c, const void *key);
/* Count a reference the cache could not see (the caller holds a pin): a
 * far page refaulting soon after its eviction, for instance. */
void ccache_mark_referenced(struct ccache *c, uint32_t idx);
/* Move HOT's oldest element back to COLD: slow aging of the protected set
 * when references are only seen now and then. */
void ccache_age(struct ccache *c);
/* Make up to n elements free ahead of need (the background evictor).
 * Returns how many are free now (>= 0). */
int ccache_reclaim(struct ccache *c, uint32_t n);

uint32_t ccache_capacity(const struct ccache *c);
uint32_t ccache_free_count(const struct ccache *c); /* approximate */
/* The key an element holds (valid while the caller holds a pin). */
const void *ccache_key(const struct ccache *c, uint32_t idx);
void ccache_get_counts(const struct ccache *c, struct ccache_counts *out);

/* For tests, at quiescence only: checks the invariants above. Returns 0 or
 * a negative code naming the broken one; *nvalid gets the hashed count. */
int ccache_check(struct ccache *c, uint32_t *nvalid);

#endif
