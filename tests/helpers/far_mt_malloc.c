/* Several threads allocate, fill, check and free far-sized blocks at once
 * (malloc, calloc, realloc growth and shrink, posix_memalign), so frees race
 * with other threads' faults, zero-fill-ahead and evictions. Every block is
 * checked before it is freed; calloc'd and grown parts must read as zeros.
 *   far_mt_malloc [threads] [rounds]      exit 0 when every check held */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rounds = 200;
static long bad;

static void *worker(void *arg)
{
	uint64_t x = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
	for (int r = 0; r < rounds; r++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		size_t n = (256u << 10) + (size_t)(x % (3u << 20));
		unsigned char v = (unsigned char)(x >> 24) | 1;
		unsigned char *p;
		switch (r % 4) {
		case 0: p = malloc(n); break;
		case 1:
			p = calloc(1, n);
			for (size_t i = 0; p && i < n; i += 4093)
				if (p[i]) {
					__atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
					break;
				}
			break;
		case 2: if (posix_memalign((void **)&p, 1 << 16, n)) p = NULL; break;
		default: p = malloc(n / 2); break;
		}
		if (!p) {
			__atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
			continue;
		}
		size_t have = r % 4 == 3 ? n / 2 : n;
		memset(p, v, have);
		if (r % 4 == 3) { /* grow: the old part kept, then shrink */
			unsigned char *q = realloc(p, n);
			if (!q) {
				__atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
				free(p);
				continue;
			}
			p = q;
			memset(p + have, v, n - have);
			have = n;
			q = realloc(p, n / 3);
			if (q)
				p = q, have = n / 3;
		}
		for (size_t i = 0; i < have; i += 509)
			if (p[i] != v) {
				__atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
				break;
			}
		free(p);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int nt = argc > 1 ? atoi(argv[1]) : 4;
	if (argc > 2)
		rounds = atoi(argv[2]);
	pthread_t t[32];
	for (int i = 0; i < nt && i < 32; i++)
		pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < nt && i < 32; i++)
		pthread_join(t[i], NULL);
	printf("far_mt_malloc: %ld bad\n", bad);
	return bad != 0;
}
