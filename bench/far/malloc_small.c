/* Small-allocation cost: malloc+free pairs of 16..512 bytes in a loop, and a
 * batch pattern (allocate 1000, free them). Run natively, under libshunt.so
 * with far memory off, and with it on, to see what the interposers cost:
 *   build: gcc -O2 -o malloc_small bench/far/malloc_small.c
 *   run:   ./malloc_small; LD_PRELOAD=build/libshunt.so ./malloc_small
 * Prints ns per malloc+free pair (median of 7 runs). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(void)
{
	enum { N = 2000000, B = 1000, RUNS = 7 };
	static void *keep[B];
	double pair[RUNS], batch[RUNS];
	for (int r = 0; r < RUNS; r++) {
		uint64_t t = now_ns();
		for (int i = 0; i < N; i++) {
			void *p = malloc(16 + (i & 31) * 16);
			__asm__ volatile("" : : "r"(p) : "memory");
			free(p);
		}
		pair[r] = (double)(now_ns() - t) / N;
		t = now_ns();
		for (int k = 0; k < N / B; k++) {
			for (int i = 0; i < B; i++)
				keep[i] = malloc(16 + (i & 31) * 16);
			for (int i = 0; i < B; i++)
				free(keep[i]);
		}
		batch[r] = (double)(now_ns() - t) / N;
	}
	qsort(pair, RUNS, sizeof(double), cmp);
	qsort(batch, RUNS, sizeof(double), cmp);
	printf("malloc+free pair: %.2f ns   batch of %d: %.2f ns per pair\n", pair[RUNS / 2], B, batch[RUNS / 2]);
	return 0;
}
