/* The far-memory fault path end to end, for bench/jswitch/e2e.sh: under
 * LD_PRELOAD with far memory on and a small local bound, malloc a buffer
 * several times that bound, write every page once, then read one byte of
 * every page for ROUNDS rounds in order, so that (almost) every read misses
 * the local cache: a remote fault (fetch over the transport) plus an
 * eviction (write-back) each. Links nothing of shunt's.
 * Prints one TSV row: pages_touched wall_ns_per_page cpu_ns_per_page.
 * Usage: farfault MIB ROUNDS */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static double now_ns(clockid_t c)
{
	struct timespec t;
	clock_gettime(c, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 64;
	int rounds = argc > 2 ? atoi(argv[2]) : 2;
	size_t n = mib << 20, pg = 4096;
	volatile unsigned char *b = malloc(n);
	if (!b)
		return fprintf(stderr, "farfault: malloc failed\n"), 1;
	for (size_t i = 0; i < n; i += pg)
		b[i] = (unsigned char)(i / pg);
	unsigned sum = 0;
	double w0 = now_ns(CLOCK_MONOTONIC), c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	for (int r = 0; r < rounds; r++)
		for (size_t i = 0; i < n; i += pg)
			sum += b[i];
	double w1 = now_ns(CLOCK_MONOTONIC), c1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	size_t touched = (size_t)rounds * (n / pg);
	unsigned want = 0;
	for (size_t i = 0; i < n; i += pg)
		want += (unsigned char)(i / pg);
	if (sum != want * (unsigned)rounds)
		return fprintf(stderr, "farfault: wrong data\n"), 1;
	printf("%zu\t%.0f\t%.0f\n", touched, (w1 - w0) / (double)touched, (c1 - c0) / (double)touched);
	return 0;
}
