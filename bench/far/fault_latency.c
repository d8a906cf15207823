/* Far-memory fault latency seen by the program, through the runtime API
 * with an embedded memory server (or --server URL): first touches (zero
 * fill, no prefetch: pages touched in random order), remote faults after a
 * forced eviction (random order, so no prefetch), and a sequential re-read
 * with and without prefetch; next to it, the transport's own round trip
 * for one 4 KiB page.
 *   build: gcc -O2 -D_GNU_SOURCE -Iinclude -Iruntime -o fault_latency bench/far/fault_latency.c \
 *            runtime/far/*.c runtime/ccache/*.c runtime/memd/memd.c runtime/transport/*.c \
 *            runtime/common/log.c runtime/common/config.c runtime/common/stats.c -lpthread
 *   run:   ./fault_latency [pages] [--server tcp://HOST:PORT] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "far/far.h"
#include "transport/transport.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}
static void report(const char *what, uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp);
	printf("%-34s p50 %7.2f us  p99 %7.2f us\n", what, v[n / 2] / 1e3, v[n * 99 / 100] / 1e3);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 && argv[1][0] != '-' ? strtoul(argv[1], NULL, 10) : 4096;
	const char *server = NULL;
	for (int i = 1; i < argc - 1; i++)
		if (!strcmp(argv[i], "--server"))
			server = argv[i + 1];
	for (int pf = 0; pf < 2; pf++) {
		struct far_params p = { .region_size = 1ull << 30, .local_mem = (n + 1024) * 4096, .server = server,
					.no_prefetch = !pf };
		char err[256];
		if (far_init(&p, err, sizeof(err))) {
			fprintf(stderr, "far_init: %s\n", err);
			return 1;
		}
		volatile char *r = far_map(n * 4096);
		size_t *order = malloc(n * sizeof(size_t));
		uint64_t *lat = malloc(n * sizeof(uint64_t));
		for (size_t i = 0; i < n; i++)
			order[i] = i;
		srand(7);
		for (size_t i = n - 1; i > 0; i--) {
			size_t j = (size_t)rand() % (i + 1), t = order[i];
			order[i] = order[j], order[j] = t;
		}
		if (!pf) {
			for (size_t i = 0; i < n; i++) {
				uint64_t t = now_ns();
				r[order[i] * 4096] = 1;
				lat[i] = now_ns() - t;
			}
			report("zero-fill fault (write, random)", lat, n);
			far_evict_all();
			for (size_t i = 0; i < n; i++) {
				uint64_t t = now_ns();
				(void)r[order[i] * 4096];
				lat[i] = now_ns() - t;
			}
			report("remote fault (read, random)", lat, n);
		} else {
			for (size_t i = 0; i < n; i++)
				r[i * 4096] = 1;
		}
		far_evict_all();
		uint64_t t = now_ns();
		for (size_t i = 0; i < n; i++)
			(void)r[i * 4096];
		printf("%-34s %7.2f us per page\n", pf ? "sequential re-read, prefetch" : "sequential re-read, no prefetch",
		       (now_ns() - t) / 1e3 / n);
		far_shutdown();
		free(order);
		free(lat);
	}
	/* The transport alone: one page read per round trip. */
	struct far_params p = { .region_size = 1ull << 30, .local_mem = 1 << 20, .server = server };
	char err[256];
	far_init(&p, err, sizeof(err));
	/* far_init started a server if none was given; talk to it directly. */
	extern struct xport *far_bench_xport(void);
	struct xport *x = far_bench_xport();
	static char buf[4096] __attribute__((aligned(4096)));
	uint64_t *lat = malloc(2000 * sizeof(uint64_t));
	for (int i = 0; i < 2000; i++) {
		struct xport_io io = { (uint64_t)(i % 256) * 4096, buf, 4096 };
		uint64_t t0 = now_ns();
		xport_read(x, &io, 1);
		lat[i] = now_ns() - t0;
	}
	report("transport round trip, 4 KiB read", lat, 2000);
	far_shutdown();
	return 0;
}
