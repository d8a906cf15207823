/* Small-allocation cost: malloc+free of 16..512 bytes, as pairs (allocate,
 * free at once) and as batches (allocate 1000, then free them). Timed in
 * blocks of 1000 pairs (the clock costs as much as a pair); median and p99
 * are over the blocks, per pair. Run natively (glibc), under a preloaded
 * jemalloc, and under libshunt.so with far memory off and on, to see what
 * the interposers cost:
 *   build: gcc -O2 -o malloc_small bench/far/malloc_small.c
 *   run:   malloc_small PEER        (TSV rows on stdout; --header first)
 * Columns: peer, workload, ops, median_ns, p99_ns, mean_ns, cpu_ns_op. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

enum { BLOCK = 1000, BLOCKS = 3000, WARM = 300 };

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
static uint64_t cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}
static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t blk[BLOCKS];
static void *keep[BLOCK];

static void one_block(int batch)
{
	if (!batch) {
		for (int i = 0; i < BLOCK; i++) {
			void *p = malloc(16 + (size_t)(i & 31) * 16);
			__asm__ volatile("" : : "r"(p) : "memory");
			free(p);
		}
		return;
	}
	for (int i = 0; i < BLOCK; i++)
		keep[i] = malloc(16 + (size_t)(i & 31) * 16);
	__asm__ volatile("" : : "r"(keep) : "memory");
	for (int i = 0; i < BLOCK; i++)
		free(keep[i]);
}

int main(int argc, char **argv)
{
	const char *peer = argc > 1 ? argv[argc - 1] : "?";
	if (argc > 1 && !strcmp(argv[1], "--header"))
		printf("peer\tworkload\tops\tmedian_ns\tp99_ns\tmean_ns\tcpu_ns_op\n");
	for (int batch = 0; batch < 2; batch++) {
		for (int b = 0; b < WARM; b++)
			one_block(batch);
		uint64_t c0 = cpu_ns(), t0 = now_ns();
		for (int b = 0; b < BLOCKS; b++) {
			uint64_t t = now_ns();
			one_block(batch);
			blk[b] = now_ns() - t;
		}
		uint64_t wall = now_ns() - t0, cpu = cpu_ns() - c0;
		qsort(blk, BLOCKS, sizeof(blk[0]), cmp);
		double ops = (double)BLOCKS * BLOCK;
		printf("%s\t%s\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\n", peer, batch ? "malloc_batch" : "malloc_pair", ops,
		       (double)blk[BLOCKS / 2] / BLOCK, (double)blk[BLOCKS * 99 / 100] / BLOCK, (double)wall / ops,
		       (double)cpu / ops);
	}
	return 0;
}
