/* The concurrent cache: single-thread semantics, eviction order, and a
 * multi-threaded stress that checks the invariants in ccache.h. */
#include "test_ccache_tsan.h" /* Criterion, or its TSan stand-in */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "ccache/ccache.h"
#include "common/atomics.h"

static struct ccache *mk(uint32_t cap, ccache_evict_fn ev, void *ctx)
{
	struct ccache_params p = { .capacity = cap, .key_size = sizeof(uint64_t), .evict = ev, .ctx = ctx };
	struct ccache *c = ccache_create(&p);
	cr_assert_not_null(c);
	return c;
}

static uint64_t get_fill(struct ccache *c, uint64_t k, uint32_t *idx)
{
	int r = ccache_get(c, &k, idx);
	cr_assert(r == CCACHE_HIT || r == CCACHE_MISS, "get: %d", r);
	if (r == CCACHE_MISS)
		ccache_fill_done(c, *idx);
	return (uint64_t)r;
}

Test(ccache, rejects_bad_params)
{
	struct ccache_params p = { .capacity = 1, .key_size = 8 };
	cr_assert_null(ccache_create(&p));
	p.capacity = 8;
	p.key_size = 0;
	cr_assert_null(ccache_create(&p));
	p.key_size = CCACHE_KEY_MAX + 1;
	cr_assert_null(ccache_create(&p));
}

Test(ccache, hit_miss_remove)
{
	struct ccache *c = mk(8, NULL, NULL);
	uint32_t a, b;
	uint64_t k = 42;
	cr_assert_eq(ccache_lookup(c, &k, &a), -ENOENT);
	cr_assert_eq(get_fill(c, 42, &a), CCACHE_MISS);
	cr_assert_eq(get_fill(c, 42, &b), CCACHE_HIT);
	cr_assert_eq(a, b);
	cr_assert_eq(*(const uint64_t *)ccache_key(c, a), 42);
	cr_assert_eq(ccache_remove(c, &k), -EBUSY);
	ccache_release(c, a);
	ccache_release(c, b);
	cr_assert_eq(ccache_remove(c, &k), 0);
	cr_assert_eq(ccache_remove(c, &k), -ENOENT);
	cr_assert_eq(ccache_lookup(c, &k, &a), -ENOENT);
	uint32_t nv = 99;
	cr_assert_eq(ccache_check(c, &nv), 0);
	cr_assert_eq(nv, 0);
	ccache_destroy(c);
}

static uint64_t evicted[64];
static unsigned nevicted;
static int refuse_key = -1;
static int rec_evict(void *ctx, const void *key, uint32_t idx)
{
	(void)ctx;
	(void)idx;
	uint64_t k = *(const uint64_t *)key;
	if ((int)k == refuse_key)
		return 1;
	evicted[nevicted++] = k;
	return 0;
}

Test(ccache, capacity_bound_and_fifo_for_cold)
{
	nevicted = 0;
	refuse_key = -1;
	struct ccache *c = mk(4, rec_evict, NULL);
	uint32_t i;
	for (uint64_t k = 0; k < 10; k++) {
		get_fill(c, k, &i);
		ccache_release(c, i);
	}
	/* Unreferenced keys leave in insertion order. */
	cr_assert_eq(nevicted, 6);
	for (unsigned n = 0; n < 6; n++)
		cr_assert_eq(evicted[n], n);
	uint32_t nv;
	cr_assert_eq(ccache_check(c, &nv), 0);
	cr_assert_eq(nv, 4);
	ccache_destroy(c);
}

Test(ccache, referenced_elements_survive_a_scan)
{
	nevicted = 0;
	refuse_key = -1;
	struct ccache *c = mk(8, rec_evict, NULL);
	uint32_t i;
	/* Key 1000 is hit again after insertion: promoted to HOT on the first
	 * reclaim pass, so a scan of one-shot keys does not push it out. */
	get_fill(c, 1000, &i);
	ccache_release(c, i);
	cr_assert_eq(get_fill(c, 1000, &i), CCACHE_HIT);
	ccache_release(c, i);
	for (uint64_t k = 0; k < 40; k++) {
		get_fill(c, k, &i);
		ccache_release(c, i);
	}
	uint64_t k = 1000;
	cr_assert_eq(ccache_lookup(c, &k, &i), 0, "hot key was evicted by a scan");
	ccache_release(c, i);
	struct ccache_counts n;
	ccache_get_counts(c, &n);
	cr_assert_geq(n.promotions, 1);
	cr_assert_eq(ccache_check(c, NULL), 0);
	ccache_destroy(c);
}

Test(ccache, pinned_and_refusing_elements_stay)
{
	nevicted = 0;
	refuse_key = 1;
	struct ccache *c = mk(2, rec_evict, NULL);
	uint32_t a, b, x;
	get_fill(c, 0, &a); /* stays pinned */
	get_fill(c, 1, &b);
	ccache_release(c, b); /* unpinned but its evict refuses */
	uint64_t k = 2;
	cr_assert_eq(ccache_get(c, &k, &x), -EAGAIN);
	ccache_release(c, a);
	cr_assert_eq(get_fill(c, 2, &x), CCACHE_MISS);
	cr_assert_eq(x, a);
	cr_assert_eq(evicted[0], 0);
	ccache_release(c, x);
	k = 1;
	cr_assert_eq(ccache_lookup(c, &k, &b), 0);
	ccache_release(c, b);
	cr_assert_eq(ccache_check(c, NULL), 0);
	ccache_destroy(c);
}

Test(ccache, fill_abort_frees_the_element)
{
	struct ccache *c = mk(4, NULL, NULL);
	uint64_t k = 7;
	uint32_t i;
	cr_assert_eq(ccache_get(c, &k, &i), CCACHE_MISS);
	ccache_fill_abort(c, i);
	cr_assert_eq(ccache_lookup(c, &k, &i), -ENOENT);
	cr_assert_eq(ccache_check(c, NULL), 0);
	cr_assert_eq(ccache_reclaim(c, 4), 4);
	ccache_destroy(c);
}

Test(ccache, wider_keys)
{
	struct ccache_params p = { .capacity = 16, .key_size = 24 };
	struct ccache *c = ccache_create(&p);
	cr_assert_not_null(c);
	struct { uint64_t ino, dev, blk; } k1 = { 1, 2, 3 }, k2 = { 1, 2, 4 };
	uint32_t a, b;
	cr_assert_eq(ccache_get(c, &k1, &a), CCACHE_MISS);
	ccache_fill_done(c, a);
	cr_assert_eq(ccache_get(c, &k2, &b), CCACHE_MISS);
	ccache_fill_done(c, b);
	cr_assert_neq(a, b);
	cr_assert_eq(memcmp(ccache_key(c, b), &k2, sizeof(k2)), 0);
	ccache_destroy(c);
}

/* ---- stress ---- */

#define S_CAP     256
#define S_KEYS    1024
#define S_THREADS 6
#define S_OPS     60000

static uint64_t payload[S_CAP];     /* what each element holds: its key */
static uint64_t evict_bad, evict_n; /* atomics */
static uint64_t removed_n, abort_n, hit_bad;

static int stress_evict(void *ctx, const void *key, uint32_t idx)
{
	(void)ctx;
	if (payload[idx] != *(const uint64_t *)key)
		fetch_add_relaxed(&evict_bad, 1);
	fetch_add_relaxed(&evict_n, 1);
	return 0;
}

static void *stress_thread(void *arg)
{
	struct ccache *c = arg;
	uint64_t x = (uint64_t)(uintptr_t)&arg * 0x9e3779b97f4a7c15ull | 1;
	for (int n = 0; n < S_OPS; n++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		/* Skewed keys: half the traffic on 1/8 of the keys. */
		uint64_t k = (x & 1) ? (x >> 8) % (S_KEYS / 8) : (x >> 8) % S_KEYS;
		uint32_t i;
		unsigned op = (x >> 40) % 100;
		if (op < 3) {
			if (!ccache_remove(c, &k))
				fetch_add_relaxed(&removed_n, 1);
			continue;
		}
		int r = ccache_get(c, &k, &i);
		if (r == -EAGAIN)
			continue;
		if (r == CCACHE_MISS) {
			if (op < 5) {
				ccache_fill_abort(c, i);
				fetch_add_relaxed(&abort_n, 1);
				continue;
			}
			payload[i] = k;
			ccache_fill_done(c, i);
		} else if (payload[i] != k) {
			fetch_add_relaxed(&hit_bad, 1);
		}
		if (*(const uint64_t *)ccache_key(c, i) != k)
			fetch_add_relaxed(&hit_bad, 1);
		ccache_release(c, i);
		if (op == 99)
			ccache_reclaim(c, 8);
	}
	return NULL;
}

Test(ccache, stress_invariants, .timeout = 240)
{
	struct ccache *c = mk(S_CAP, stress_evict, NULL);
	pthread_t t[S_THREADS];
	for (int i = 0; i < S_THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, stress_thread, c), 0);
	for (int i = 0; i < S_THREADS; i++)
		pthread_join(t[i], NULL);
	uint32_t nvalid = 0;
	int chk = ccache_check(c, &nvalid);
	cr_assert_eq(chk, 0, "invariant broken: %d (%u)", chk, nvalid);
	cr_assert_leq(nvalid, S_CAP);
	cr_assert_eq(load_relaxed(&hit_bad), 0, "a hit returned an element holding another key");
	cr_assert_eq(load_relaxed(&evict_bad), 0, "evict saw an element holding another key");
	struct ccache_counts n;
	ccache_get_counts(c, &n);
	/* Nothing lost or duplicated: every inserted key is still hashed, was
	 * evicted, removed, or aborted, exactly once. */
	cr_assert_eq(n.misses, n.evictions + removed_n + abort_n + nvalid,
		     "misses %lu != evictions %lu + removed %lu + aborted %lu + resident %u", (unsigned long)n.misses,
		     (unsigned long)n.evictions, (unsigned long)removed_n, (unsigned long)abort_n, nvalid);
	cr_assert_eq(n.evictions, evict_n);
	cr_assert_gt(n.hits, 0);
	cr_assert_gt(n.evictions, 0);
	/* Everything unpinned now: the whole cache can be made free. */
	cr_assert_eq(ccache_reclaim(c, S_CAP), S_CAP);
	cr_assert_eq(ccache_check(c, &nvalid), 0);
	cr_assert_eq(nvalid, 0);
	ccache_destroy(c);
}

Test(ccache, full_hot_is_not_pushed_through_and_ages)
{
	nevicted = 0;
	refuse_key = -1;
	/* hot_pct 50 of 8: HOT holds at most 4. */
	struct ccache *c = mk(8, rec_evict, NULL);
	uint32_t i;
	for (uint64_t k = 0; k < 8; k++) {
		get_fill(c, k, &i);
		ccache_mark_referenced(c, i); /* every key looks referenced */
		ccache_release(c, i);
	}
	/* Eight more keys: the first four referenced ones go to HOT, the other
	 * four get a second lap in COLD and are then evicted. */
	for (uint64_t k = 100; k < 108; k++) {
		get_fill(c, k, &i);
		ccache_release(c, i);
	}
	for (uint64_t k = 0; k < 4; k++) {
		cr_assert_eq(ccache_lookup(c, &k, &i), 0, "protected key %lu evicted", (unsigned long)k);
		ccache_release(c, i);
	}
	for (uint64_t k = 4; k < 8; k++)
		cr_assert_eq(ccache_lookup(c, &k, &i), -ENOENT, "key %lu should have been evicted", (unsigned long)k);
	/* Aging moves HOT's oldest back to COLD, where it can be evicted. */
	for (int n = 0; n < 4; n++)
		ccache_age(c);
	for (uint64_t k = 200; k < 216; k++) {
		get_fill(c, k, &i);
		ccache_release(c, i);
	}
	uint64_t k0 = 0;
	cr_assert_eq(ccache_lookup(c, &k0, &i), -ENOENT, "aged key survived");
	cr_assert_eq(ccache_check(c, NULL), 0);
	ccache_destroy(c);
}
