/* The far region and its resident set, through the runtime API with an
 * embedded memory server: zero fill without fetching, the local_mem bound,
 * clean pages dropped without I/O, dirty ones written back and fetched,
 * ranges given back reading as zeros, faults inside system calls; fresh
 * ranges mapped to the zero page (first touches without a handler fault,
 * written ones found and written back at eviction, also while written). */
#include "test_ccache_tsan.h" /* Criterion, or its TSan stand-in */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "far/far.h"

#define PG 4096u

/* Every first touch through the handler, unless zero_map. */
static void up_with(uint64_t local, int no_prefetch, int zero_map)
{
	struct far_params p = { .region_size = 1ull << 30, .local_mem = local, .no_prefetch = no_prefetch,
				.no_zero_map = !zero_map };
	char err[256] = "";
	int r = far_init(&p, err, sizeof(err));
	cr_assert_eq(r, 0, "far_init: %d %s", r, err);
}

static void up(uint64_t local, int no_prefetch) { up_with(local, no_prefetch, 0); }

static struct far_counts counts(void)
{
	struct far_counts c;
	far_get_counts(&c);
	return c;
}

/* The evictor maps fresh ranges in the background: wait for n pages
 * (bounded; the assertions after it say what was missing). */
static void wait_zero_mapped(uint64_t n)
{
	for (int i = 0; i < 10000 && counts().zero_mapped < n; i++)
		usleep(1000);
}

Test(far, first_touch_is_zero_and_local, .timeout = 60)
{
	up(4 << 20, 1);
	cr_assert(far_enabled());
	unsigned char *p = far_map(64 * PG);
	cr_assert_not_null(p);
	cr_assert(far_contains(p));
	cr_assert(!far_contains(&p));
	unsigned sum = 0;
	for (unsigned i = 0; i < 64 * PG; i += PG)
		sum += p[i] + p[i + PG - 1];
	cr_assert_eq(sum, 0);
	struct far_counts c = counts();
	cr_assert_eq(c.faults_zero, 64, "zero %lu wp %lu res %lu", (unsigned long)c.faults_zero, (unsigned long)c.faults_wp, (unsigned long)c.resident_pages);
	cr_assert_eq(c.faults_remote, 0);
	cr_assert_eq(c.resident_pages, 64);
	far_shutdown();
	cr_assert(!far_enabled());
}

Test(far, clean_pages_dropped_without_io, .timeout = 60)
{
	up(4 << 20, 1);
	volatile unsigned char *p = far_map(32 * PG);
	for (unsigned i = 0; i < 32; i++)
		(void)p[i * PG]; /* read faults: installed write-protected, clean */
	far_evict_all();
	struct far_counts c = counts();
	cr_assert_eq(c.evictions, 32);
	cr_assert_eq(c.writebacks, 0, "clean pages were written back");
	cr_assert_eq(c.resident_pages, 0);
	/* Never written back: touching them again is a zero fill, not a fetch. */
	cr_assert_eq(p[5 * PG], 0);
	cr_assert_eq(counts().faults_remote, 0);
	far_shutdown();
}

Test(far, dirty_pages_written_back_and_fetched, .timeout = 60)
{
	up(4 << 20, 1);
	unsigned char *p = far_map(32 * PG);
	for (unsigned i = 0; i < 32; i++)
		(void)*(volatile unsigned char *)(p + i * PG); /* clean first */
	for (unsigned i = 0; i < 32; i += 2)
		memset(p + i * PG, (int)(i + 1), PG); /* write-protect faults mark these dirty */
	struct far_counts c = counts();
	cr_assert_eq(c.faults_wp, 16, "wp %lu zero %lu", (unsigned long)c.faults_wp, (unsigned long)c.faults_zero);
	far_evict_all();
	c = counts();
	cr_assert_eq(c.writebacks, 16);
	for (unsigned i = 0; i < 32; i++) {
		unsigned char want = i % 2 ? 0 : (unsigned char)(i + 1);
		cr_assert_eq(p[i * PG], want, "page %u", i);
		cr_assert_eq(p[i * PG + PG - 1], want, "page %u", i);
	}
	c = counts();
	cr_assert_eq(c.faults_remote, 16);
	cr_assert_eq(c.faults_zero, 32 + 16);
	/* Fetched pages are clean until written: a second eviction writes
	 * back only the page written since. */
	p[4 * PG] = 0x77;
	far_evict_all();
	cr_assert_eq(counts().writebacks, 17);
	cr_assert_eq(p[4 * PG], 0x77);
	cr_assert_eq(p[4 * PG + 1], 5);
	far_shutdown();
}

Test(far, resident_set_is_bounded, .timeout = 60)
{
	up(1 << 20, 0); /* 256 pages */
	unsigned char *p = far_map(4096 * PG);
	for (unsigned i = 0; i < 4096; i++) {
		p[i * PG] = (unsigned char)i;
		cr_assert_leq(counts().resident_pages, 256);
	}
	for (unsigned i = 0; i < 4096; i++)
		cr_assert_eq(p[i * PG], (unsigned char)i, "page %u", i);
	struct far_counts c = counts();
	cr_assert_leq(c.resident_pages, 256);
	cr_assert_gt(c.evictions, 3000);
	cr_assert_gt(c.faults_remote, 0);
	cr_assert_gt(c.prefetched, 0, "a sequential scan should prefetch");
	far_shutdown();
}

Test(far, unmap_reads_zero_and_reuses, .timeout = 60)
{
	up(4 << 20, 1);
	unsigned char *p = far_map(16 * PG);
	memset(p, 0xab, 16 * PG);
	far_evict_all();
	cr_assert_eq(p[3 * PG], 0xab);
	cr_assert_eq(far_unmap(p, 16 * PG), 0);
	unsigned char *q = far_map(16 * PG);
	cr_assert_eq(q, p, "the range should be reused");
	for (unsigned i = 0; i < 16 * PG; i += 512)
		cr_assert_eq(q[i], 0, "byte %u of a reused range", i);
	cr_assert_eq(far_discard(q + 1, PG), -EINVAL, "misaligned discard");
	far_shutdown();
}

Test(far, system_calls_on_far_buffers, .timeout = 60)
{
	up(4 << 20, 1);
	char *src = far_map(64 * PG), *dst = far_map(64 * PG);
	for (unsigned i = 0; i < 64 * PG; i++)
		src[i] = (char)(i * 7);
	far_evict_all();
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	/* write() from evicted pages, read() into never-touched ones, in pieces
	 * the pipe can hold. */
	for (unsigned off = 0; off < 64 * PG; off += 8 * PG) {
		cr_assert_eq(write(fds[1], src + off, 8 * PG), 8 * PG);
		cr_assert_eq(read(fds[0], dst + off, 8 * PG), 8 * PG);
	}
	close(fds[0]);
	close(fds[1]);
	cr_assert_eq(memcmp(src, dst, 64 * PG), 0);
	far_shutdown();
}

Test(far, refuses_bad_params_and_dead_server, .timeout = 60)
{
	char err[256];
	struct far_params p = { .region_size = 1 << 30, .local_mem = 4096 };
	cr_assert_eq(far_init(&p, err, sizeof(err)), -EINVAL);
	p.local_mem = 4 << 20;
	p.server = "tcp://127.0.0.1:1";
	cr_assert_eq(far_init(&p, err, sizeof(err)), -ECONNREFUSED);
	cr_assert(!far_enabled());
	cr_assert_null(far_map(PG), "far_map with far memory off");
}

Test(far, zero_mapped_first_touch_takes_no_fault, .timeout = 60)
{
	up_with(4 << 20, 1, 1);
	volatile unsigned char *p = far_map(64 * PG);
	cr_assert_not_null(p);
	wait_zero_mapped(64);
	struct far_counts c = counts();
	cr_assert_eq(c.zero_mapped, 64);
	for (unsigned i = 0; i < 10; i++)
		p[i * 7 * PG + 5] = (unsigned char)(i + 1);
	unsigned sum = 0;
	for (unsigned i = 0; i < 64; i++)
		sum += p[i * PG + 5];
	cr_assert_eq(sum, 55);
	c = counts();
	cr_assert_eq(c.faults_zero, 0, "first touches of zero-mapped pages went through the handler");
	cr_assert_eq(c.faults_wp, 0);
	cr_assert_eq(c.resident_pages, 64);
	/* Only the written pages are written back: the rest still map the zero page. */
	far_evict_all();
	c = counts();
	cr_assert_eq(c.evictions, 64);
	cr_assert_eq(c.writebacks, 10, "writebacks %lu, want the 10 written pages", (unsigned long)c.writebacks);
	cr_assert_eq(c.resident_pages, 0);
	for (unsigned i = 0; i < 64; i++)
		cr_assert_eq(p[i * PG + 5], i % 7 == 0 && i / 7 < 10 ? i / 7 + 1 : 0, "page %u", i);
	c = counts();
	cr_assert_eq(c.faults_remote, 10);
	cr_assert_eq(c.faults_zero, 54);
	far_shutdown();
}

Test(far, zero_map_stays_within_local_mem, .timeout = 60)
{
	up_with(1 << 20, 1, 1); /* 256 pages */
	unsigned char *p = far_map(4096 * PG);
	cr_assert_not_null(p);
	wait_zero_mapped(1);
	usleep(20000);
	struct far_counts c = counts();
	cr_assert(c.zero_mapped > 0 && c.zero_mapped < c.capacity_pages, "zero-mapped %lu of capacity %lu",
		  (unsigned long)c.zero_mapped, (unsigned long)c.capacity_pages);
	cr_assert(c.resident_pages <= c.capacity_pages);
	for (unsigned i = 0; i < 4096; i++)
		p[i * PG] = (unsigned char)(i * 31 + 1);
	c = counts();
	cr_assert(c.resident_pages <= c.capacity_pages, "resident %lu > capacity %lu", (unsigned long)c.resident_pages,
		  (unsigned long)c.capacity_pages);
	for (unsigned i = 0; i < 4096; i++)
		cr_assert_eq(p[i * PG], (unsigned char)(i * 31 + 1), "page %u", i);
	far_shutdown();
}

struct zm_writer {
	volatile uint32_t *base;
	unsigned pages, round;
};

static void *zm_write(void *arg)
{
	struct zm_writer *w = arg;
	for (unsigned k = 0; k < w->pages; k++) {
		unsigned pg = (k * 37) % w->pages;
		for (unsigned j = 0; j < PG / 4; j += 64)
			w->base[pg * (PG / 4) + j] = w->round * 100000u + pg * 64 + j / 64 + 1;
	}
	return NULL;
}

/* Eviction write-protects a zero-mapped page before it asks whether it was
 * written: a write that lands in between must wait, not be dropped. */
Test(far, zero_mapped_pages_written_while_evicted, .timeout = 120)
{
	up_with(4 << 20, 1, 1);
	enum { PAGES = 256 };
	for (unsigned round = 1; round <= 60; round++) {
		uint64_t before = counts().zero_mapped;
		volatile uint32_t *p = far_map(PAGES * PG);
		cr_assert_not_null(p);
		wait_zero_mapped(before + PAGES);
		struct zm_writer w = { p, PAGES, round };
		pthread_t t;
		cr_assert_eq(pthread_create(&t, NULL, zm_write, &w), 0);
		far_evict_all();
		pthread_join(t, NULL);
		for (unsigned pg = 0; pg < PAGES; pg++)
			for (unsigned j = 0; j < PG / 4; j += 64)
				cr_assert_eq(p[pg * (PG / 4) + j], round * 100000u + pg * 64 + j / 64 + 1, "round %u page %u word %u",
					     round, pg, j);
		cr_assert_eq(far_unmap((void *)p, PAGES * PG), 0);
	}
	far_shutdown();
}
