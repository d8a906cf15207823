/* Far-memory fault latency as the program sees it, through the runtime API
 * (libshunt_rt.a, no LD_PRELOAD), next to the transport's own round trip on
 * the same memory server:
 *   zero_fill       first touches (writes) in random order: zero-filled locally
 *   remote          reads in random order after every page was evicted
 *                   (prefetch off, so each read is one fetch)
 *   seq_prefetch, seq_no_prefetch   a sequential re-read after eviction
 *   transport_rtt   one 4 KiB xport_read on a connection of its own
 *   build: gcc -O2 -D_GNU_SOURCE -Iinclude -Iruntime -o fault_latency bench/far/fault_latency.c \
 *            build/libshunt_rt.a -lpthread -ldl -lunwind
 *   run:   fault_latency PAGES [--server tcp://HOST:PORT]   (no --server: an embedded memd)
 * TSV on stdout: what, n, p50_ns, p99_ns, mean_ns. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	qsort(v, n, sizeof(*v), cmp);
	printf("%s\t%zu\t%llu\t%llu\t%.1f\n", what, n, (unsigned long long)v[n / 2], (unsigned long long)v[n * 99 / 100],
	       (double)sum / (double)n);
}

/* Round trips of one 4 KiB read on a fresh connection to url. */
static int transport_rtt(const char *url, size_t n)
{
	char err[256];
	struct xport *x;
	if (xport_connect(url, &x, err, sizeof(err))) {
		fprintf(stderr, "fault_latency: %s\n", err);
		return 1;
	}
	enum { PAGES = 256 };
	char *buf = mmap(NULL, PAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t raddr, *lat = calloc(n, sizeof(uint64_t));
	if (buf == MAP_FAILED || !lat || xport_reg_buf(x, buf, PAGES * 4096) || xport_alloc(x, PAGES * 4096, &raddr)) {
		fprintf(stderr, "fault_latency: transport set-up failed\n");
		return 1;
	}
	memset(buf, 0x5a, PAGES * 4096);
	struct xport_io all = { raddr, buf, PAGES * 4096 };
	if (xport_write(x, &all, 1)) {
		fprintf(stderr, "fault_latency: transport write failed\n");
		return 1;
	}
	for (size_t i = 0; i < n + 100; i++) {
		struct xport_io io = { raddr + (i * 37 % PAGES) * 4096, buf + (i % PAGES) * 4096, 4096 };
		uint64_t t = now_ns();
		if (xport_read(x, &io, 1)) {
			fprintf(stderr, "fault_latency: transport read failed\n");
			return 1;
		}
		if (i >= 100) /* the first hundred warm the path */
			lat[i - 100] = now_ns() - t;
	}
	report("transport_rtt", lat, n);
	xport_free(x, raddr, PAGES * 4096);
	xport_close(x);
	free(lat);
	munmap(buf, PAGES * 4096);
	return 0;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 && argv[1][0] != '-' ? strtoul(argv[1], NULL, 10) : 4096;
	const char *server = NULL;
	for (int i = 1; i < argc - 1; i++)
		if (!strcmp(argv[i], "--server"))
			server = argv[i + 1];
	printf("what\tn\tp50_ns\tp99_ns\tmean_ns\n");
	size_t *order = malloc(n * sizeof(size_t));
	uint64_t *lat = malloc(n * sizeof(uint64_t));
	if (!order || !lat)
		return 1;
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	srand(7);
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)rand() % (i + 1), t = order[i];
		order[i] = order[j], order[j] = t;
	}
	for (int pf = 0; pf < 2; pf++) {
		struct far_params p = { .region_size = 1ull << 30, .local_mem = (n + 1024) * 4096, .server = server,
					.no_prefetch = !pf };
		char err[256];
		if (far_init(&p, err, sizeof(err))) {
			fprintf(stderr, "fault_latency: far_init: %s\n", err);
			return 1;
		}
		volatile char *r = far_map(n * 4096);
		if (!r) {
			fprintf(stderr, "fault_latency: far_map failed\n");
			return 1;
		}
		if (!pf) {
			for (size_t i = 0; i < n; i++) {
				uint64_t t = now_ns();
				r[order[i] * 4096] = 1;
				lat[i] = now_ns() - t;
			}
			report("zero_fill", lat, n);
			far_evict_all();
			for (size_t i = 0; i < n; i++) {
				uint64_t t = now_ns();
				(void)r[order[i] * 4096];
				lat[i] = now_ns() - t;
			}
			report("remote", lat, n);
		} else {
			for (size_t i = 0; i < n; i++)
				r[i * 4096] = 1;
		}
		far_evict_all();
		uint64_t t = now_ns(), prev = t;
		for (size_t i = 0; i < n; i++) {
			(void)r[i * 4096];
			uint64_t t1 = now_ns();
			lat[i] = t1 - prev;
			prev = t1;
		}
		report(pf ? "seq_prefetch" : "seq_no_prefetch", lat, n);
		far_shutdown();
	}
	free(order);
	free(lat);
	return server ? transport_rtt(server, 4000) : 0;
}
