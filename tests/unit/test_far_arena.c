/* The far arena (runtime/far/arena.c): jemalloc's extent hooks over the far
 * region, through far_arena_alloc/free/realloc with an embedded memory
 * server. Allocations land in the region, survive eviction, read as zeros
 * when asked, honour alignment, give their pages back when freed, grow with
 * their data, and a request larger than the region fails cleanly (the
 * interposers then use local memory). */
#include "test_ccache_tsan.h" /* Criterion, or its TSan stand-in */
#include <stdint.h>
#include <string.h>

#include "far/far.h"
#include "far/arena.h"

#define MiB (1ul << 20)

static void up(uint64_t local)
{
	struct far_params p = { .region_size = 1ull << 30, .local_mem = local };
	char err[256] = "";
	int r = far_init(&p, err, sizeof(err));
	cr_assert_eq(r, 0, "far_init: %d %s", r, err);
	r = far_arena_init(64 << 10, err, sizeof(err));
	cr_assert_eq(r, 0, "far_arena_init: %d %s", r, err);
	cr_assert(far_arena_wants(64 << 10));
	cr_assert(!far_arena_wants((64 << 10) - 1));
}

static struct far_counts counts(void)
{
	struct far_counts c;
	far_get_counts(&c);
	return c;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i += 512)
		p[i] = (unsigned char)(i / 512 * 31 + seed);
}

static int check(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i += 512)
		if (p[i] != (unsigned char)(i / 512 * 31 + seed))
			return 0;
	return 1;
}

Test(far_arena, allocations_live_in_the_region_and_survive_eviction, .timeout = 60)
{
	up(2 * MiB);
	unsigned char *p[8];
	for (int i = 0; i < 8; i++) {
		p[i] = far_arena_alloc(MiB + 100 * i, 0, 0);
		cr_assert_not_null(p[i]);
		cr_assert(far_contains(p[i]) && far_contains(p[i] + MiB - 1));
		cr_assert(far_arena_owns(p[i]));
		cr_assert_geq(far_arena_usable(p[i]), MiB + 100 * i);
		fill(p[i], MiB, i);
	}
	far_evict_all();
	for (int i = 0; i < 8; i++)
		cr_assert(check(p[i], MiB, i), "allocation %d lost its data", i);
	cr_assert_gt(counts().faults_remote, 0);
	for (int i = 0; i < 8; i++)
		far_arena_free(p[i]);
	far_shutdown();
}

Test(far_arena, freed_pages_are_given_back_and_zero_is_honoured, .timeout = 60)
{
	up(64 * MiB);
	unsigned char *p = far_arena_alloc(4 * MiB, 0, 0);
	cr_assert_not_null(p);
	memset(p, 0xa5, 4 * MiB);
	uint64_t before = counts().resident_pages;
	cr_assert_geq(before, 1024);
	far_arena_free(p); /* decay 0: purged through the hook at once */
	cr_assert_leq(counts().resident_pages, before - 1024, "freed pages still resident: %lu of %lu",
		      (unsigned long)counts().resident_pages, (unsigned long)before);
	unsigned char *q = far_arena_alloc(4 * MiB, 0, 1);
	cr_assert_not_null(q);
	for (size_t i = 0; i < 4 * MiB; i += 4096 / 2)
		cr_assert_eq(q[i], 0, "byte %zu of a zeroed far allocation is %u", i, q[i]);
	far_arena_free(q);
	far_shutdown();
}

Test(far_arena, alignment, .timeout = 60)
{
	up(16 * MiB);
	for (size_t a = 4096; a <= 8 * MiB; a <<= 1) {
		void *p = far_arena_alloc(256 << 10, a, 0);
		cr_assert_not_null(p);
		cr_assert_eq((uintptr_t)p % a, 0, "alignment %zu: %p", a, p);
		cr_assert(far_contains(p));
		far_arena_free(p);
	}
	far_shutdown();
}

Test(far_arena, realloc_keeps_the_data, .timeout = 60)
{
	up(4 * MiB);
	unsigned char *p = far_arena_alloc(512 << 10, 0, 0);
	fill(p, 512 << 10, 9);
	unsigned char *q = far_arena_realloc(p, 24 * MiB);
	cr_assert_not_null(q);
	cr_assert(far_contains(q));
	cr_assert(check(q, 512 << 10, 9));
	fill(q, 24 * MiB, 3);
	unsigned char *r = far_arena_realloc(q, 2 * MiB);
	cr_assert_not_null(r);
	cr_assert(check(r, 2 * MiB, 3));
	far_arena_free(r);
	far_shutdown();
}

Test(far_arena, larger_than_the_region_fails_cleanly, .timeout = 60)
{
	up(4 * MiB);
	cr_assert_null(far_arena_alloc(2ul << 30, 0, 0));
	void *p = far_arena_alloc(MiB, 0, 0); /* and the arena still works */
	cr_assert_not_null(p);
	far_arena_free(p);
	far_shutdown();
}
