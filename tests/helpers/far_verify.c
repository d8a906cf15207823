/* Verification stress of far memory through the runtime API (not malloc):
 * several threads write a seeded pattern over a region FACTOR times
 * local_mem, eviction is forced, everything is read back and compared;
 * then half the pages are rewritten (dirty tracking after fetch), threads
 * read the same pages at once, and read()/write() system calls move data
 * into and out of evicted far buffers.
 *   far_verify [--local MiB] [--factor N] [--threads N] [--seed N] [--server URL] [--no-prefetch]
 * Exit 0 when every byte matched and the resident set stayed bounded. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "far/far.h"

static uint64_t local_mib = 16, factor = 4, nthreads = 4, seed = 12345;
static const char *server;
static int no_prefetch;
static char *region;
static uint64_t region_len, npages;
static uint64_t bad_words;
static uint64_t max_resident;

#define PG 4096ull

static inline uint64_t pattern(uint64_t s, uint64_t off)
{
	uint64_t x = s ^ (off * 0x9e3779b97f4a7c15ull);
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 29;
	return x;
}

static uint64_t page_seed(uint64_t pg, int round)
{
	return round == 0 || pg % 2 ? seed : seed * 7 + 1; /* round 1 rewrote the even pages */
}

static void note_resident(void)
{
	struct far_counts c;
	far_get_counts(&c);
	if (c.resident_pages > __atomic_load_n(&max_resident, __ATOMIC_RELAXED))
		__atomic_store_n(&max_resident, c.resident_pages, __ATOMIC_RELAXED);
}

struct job { int t, round, mode; };

static void *writer(void *arg)
{
	struct job *j = arg;
	/* Interleaved pages: every thread touches every part of the region. */
	for (uint64_t pg = (uint64_t)j->t; pg < npages; pg += nthreads) {
		if (j->round == 1 && pg % 2)
			continue;
		uint64_t *w = (uint64_t *)(region + pg * PG), s = page_seed(pg, j->round);
		for (unsigned i = 0; i < PG / 8; i++)
			w[i] = pattern(s, pg * PG + i * 8);
		if (pg % 1024 == 0)
			note_resident();
	}
	return NULL;
}

static void *reader(void *arg)
{
	struct job *j = arg;
	/* Contiguous slices (mode 0), or every thread reads everything (1). */
	uint64_t lo = j->mode ? 0 : npages * (uint64_t)j->t / nthreads;
	uint64_t hi = j->mode ? npages : npages * (uint64_t)(j->t + 1) / nthreads;
	uint64_t bad = 0;
	for (uint64_t pg = lo; pg < hi; pg++) {
		uint64_t *w = (uint64_t *)(region + pg * PG), s = page_seed(pg, j->round);
		for (unsigned i = 0; i < PG / 8; i++)
			if (w[i] != pattern(s, pg * PG + i * 8)) {
				if (bad < 5)
					fprintf(stderr, "far_verify: mismatch at page %llu word %u (thread %d)\n",
						(unsigned long long)pg, i, j->t);
				bad++;
			}
		if (pg % 1024 == 0)
			note_resident();
	}
	__atomic_fetch_add(&bad_words, bad, __ATOMIC_RELAXED);
	return NULL;
}

static double run(void *(*fn)(void *), int round, int mode)
{
	pthread_t th[64];
	struct job jobs[64];
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (uint64_t t = 0; t < nthreads; t++) {
		jobs[t] = (struct job){ (int)t, round, mode };
		pthread_create(&th[t], NULL, fn, &jobs[t]);
	}
	for (uint64_t t = 0; t < nthreads; t++)
		pthread_join(th[t], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
}

static void show(const char *what, double secs)
{
	struct far_counts c;
	far_get_counts(&c);
	printf("%-22s %6.2f s  zero %llu remote %llu wp %llu prefetched %llu zero-ahead %llu evictions %llu "
	       "writebacks %llu resident %llu/%llu\n",
	       what, secs, (unsigned long long)c.faults_zero, (unsigned long long)c.faults_remote,
	       (unsigned long long)c.faults_wp, (unsigned long long)c.prefetched, (unsigned long long)c.zero_ahead,
	       (unsigned long long)c.evictions, (unsigned long long)c.writebacks, (unsigned long long)c.resident_pages,
	       (unsigned long long)c.capacity_pages);
}

static int fail(const char *msg)
{
	fprintf(stderr, "far_verify: FAIL: %s\n", msg);
	return 1;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
		if (!strcmp(a, "--local"))
			local_mib = strtoull(v, NULL, 10), i++;
		else if (!strcmp(a, "--factor"))
			factor = strtoull(v, NULL, 10), i++;
		else if (!strcmp(a, "--threads"))
			nthreads = strtoull(v, NULL, 10), i++;
		else if (!strcmp(a, "--seed"))
			seed = strtoull(v, NULL, 10), i++;
		else if (!strcmp(a, "--server"))
			server = v, i++;
		else if (!strcmp(a, "--no-prefetch"))
			no_prefetch = 1;
		else {
			fprintf(stderr, "far_verify: unknown argument %s\n", a);
			return 2;
		}
	}
	if (nthreads < 1 || nthreads > 64 || factor < 1)
		return 2;
	struct far_params p = { .region_size = 4ull << 30, .local_mem = local_mib << 20, .server = server,
				.no_prefetch = no_prefetch };
	char err[256];
	int r = far_init(&p, err, sizeof(err));
	if (r) {
		fprintf(stderr, "far_verify: far_init: %s\n", err);
		return 2;
	}
	region_len = factor * (local_mib << 20);
	npages = region_len / PG;
	region = far_map(region_len);
	if (!region)
		return fail("far_map");
	printf("far_verify: %llu MiB region, %llu MiB local, %llu threads, seed %llu\n",
	       (unsigned long long)(region_len >> 20), (unsigned long long)local_mib, (unsigned long long)nthreads,
	       (unsigned long long)seed);

	show("write (first touch)", run(writer, 0, 0));
	far_evict_all();
	show("forced eviction", 0);
	show("read back, slices", run(reader, 0, 0));
	show("rewrite even pages", run(writer, 1, 0));
	far_evict_all();
	show("read back, all threads", run(reader, 1, 1));

	/* System calls on evicted far buffers: write() from one, read() into
	 * another (both pages missing when the kernel touches them). */
	size_t io_len = region_len < (8u << 20) ? region_len : 8u << 20; /* only the pattern's pages */
	char *src = region, *dst = far_map(io_len);
	if (!dst)
		return fail("far_map for the I/O buffer");
	far_evict_all();
	char path[] = "/tmp/far_verify.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return fail("mkstemp");
	unlink(path);
	if (write(fd, src, io_len) != (ssize_t)io_len)
		return fail("write() from an evicted far buffer");
	far_evict_all();
	if (pread(fd, dst, io_len, 0) != (ssize_t)io_len)
		return fail("read() into a missing far buffer");
	close(fd);
	for (uint64_t pg = 0; pg < io_len / PG; pg++) {
		const uint64_t *w = (const uint64_t *)(dst + pg * PG);
		for (unsigned i = 0; i < PG / 8; i++)
			if (w[i] != pattern(page_seed(pg, 1), pg * PG + i * 8)) {
				bad_words++;
				break;
			}
	}
	show("read()/write() via far", 0);

	/* A range given back reads as zeros. */
	if (far_unmap(dst, io_len))
		return fail("far_unmap");
	char *again = far_map(io_len);
	for (size_t i = 0; again && i < io_len; i += PG)
		if (again[i] || again[i + PG - 1]) {
			bad_words++;
			break;
		}

	struct far_counts c;
	far_get_counts(&c);
	printf("handler service time: all p50 %.1f us p99 %.1f us; zero p50 %.1f us p99 %.1f us; remote p50 %.1f us p99 %.1f us\n",
	       c.fault_p50_ns / 1e3, c.fault_p99_ns / 1e3, c.zero_p50_ns / 1e3, c.zero_p99_ns / 1e3,
	       c.remote_p50_ns / 1e3, c.remote_p99_ns / 1e3);
	printf("max resident seen %llu pages of %llu\n", (unsigned long long)max_resident,
	       (unsigned long long)c.capacity_pages);
	int rc = 0;
	if (bad_words)
		rc = fail("data mismatch"), fprintf(stderr, "far_verify: %llu bad words\n", (unsigned long long)bad_words);
	if (max_resident > c.capacity_pages)
		rc = fail("resident set exceeded local_mem");
	if (!c.faults_remote || !c.writebacks || !c.evictions)
		rc = fail("no remote traffic: eviction never happened");
	far_shutdown();
	if (!rc)
		printf("far_verify: PASS\n");
	return rc;
}
