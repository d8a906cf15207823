/* One transport, one workload: PAGES single 4 KiB pages written to and read
 * back from a memory server through the transport interface, BATCH pages
 * per call (one doorbell per call on rdma://), every page checked. Prints
 * one line of key=value: per page, the median and p99 wall time (a call's
 * time divided by its pages), the client's CPU time, and the verbs calls
 * (posts, polls) the rdma transport counted.
 *   xport_bench URL PAGES BATCH [--sync]
 * The server's CPU is measured from outside (bench/rdma/guest-bench.sh):
 * with --sync, "ready" is printed once connected, allocated and registered,
 * and "done" after the two phases, each followed by a wait for a line on
 * stdin, so connection set-up and tear-down (per connection, not per page)
 * fall outside the measurement. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#include "common/stats.h"
#include "transport/transport.h"

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double cpu_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

int main(int argc, char **argv)
{
	int sync = argc == 5 && !strcmp(argv[4], "--sync");
	if (argc != 4 && !sync) {
		fprintf(stderr, "usage: xport_bench URL PAGES BATCH [--sync]\n");
		return 2;
	}
	const char *url = argv[1];
	unsigned pages = (unsigned)atoi(argv[2]), batch = (unsigned)atoi(argv[3]);
	if (!pages || !batch || batch > 64 || pages % batch) {
		fprintf(stderr, "xport_bench: PAGES must be a multiple of BATCH (1..64)\n");
		return 2;
	}
	char err[256];
	struct xport *x;
	if (xport_connect(url, &x, err, sizeof(err))) {
		fprintf(stderr, "xport_bench: %s\n", err);
		return 2;
	}
	uint64_t ra;
	if (xport_alloc(x, (uint64_t)pages * 4096, &ra)) {
		fprintf(stderr, "xport_bench: no remote space for %u pages\n", pages);
		return 2;
	}
	unsigned char *buf = mmap(NULL, (size_t)batch * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	xport_reg_buf(x, buf, (size_t)batch * 4096);
	struct xport_io io[64];
	double med[2], p99[2], c[2];
	unsigned ncalls = pages / batch;
	double *lat = calloc(ncalls, sizeof(double));
	uint64_t posts[2], polls[2];
	char line[16];
	if (sync) {
		printf("ready\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 2;
	}
	for (int phase = 0; phase < 2; phase++) { /* 0: write, 1: read back */
		uint64_t p0 = stats_sum(SHUNT_STAT_far_verbs_posts), q0 = stats_sum(SHUNT_STAT_far_verbs_polls);
		double c0 = cpu_us();
		for (unsigned p = 0; p < pages; p += batch) {
			double l0 = now_us();
			for (unsigned i = 0; i < batch; i++) {
				/* Scattered: page p+i goes to slot (p+i)*7 mod pages, so no two are adjacent. */
				uint64_t slot = (uint64_t)(p + i) * 7 % pages;
				io[i] = (struct xport_io){ ra + slot * 4096, buf + (size_t)i * 4096, 4096 };
				if (phase == 0)
					memset(buf + (size_t)i * 4096, (int)((p + i) * 31 + 1), 4096);
			}
			int r = phase == 0 ? xport_write(x, io, batch) : xport_read(x, io, batch);
			lat[p / batch] = (now_us() - l0) / batch;
			if (r) {
				fprintf(stderr, "xport_bench: %s failed: %d\n", phase ? "read" : "write", r);
				return 1;
			}
			for (unsigned i = 0; phase == 1 && i < batch; i++)
				if (buf[(size_t)i * 4096] != (unsigned char)((p + i) * 31 + 1) ||
				    buf[(size_t)i * 4096 + 4095] != (unsigned char)((p + i) * 31 + 1)) {
					fprintf(stderr, "xport_bench: page %u read back wrong\n", p + i);
					return 1;
				}
		}
		qsort(lat, ncalls, sizeof(double), cmp_double);
		med[phase] = lat[ncalls / 2];
		p99[phase] = lat[(size_t)(ncalls * 0.99)];
		c[phase] = (cpu_us() - c0) / pages;
		posts[phase] = stats_sum(SHUNT_STAT_far_verbs_posts) - p0;
		polls[phase] = stats_sum(SHUNT_STAT_far_verbs_polls) - q0;
	}
	if (sync) {
		printf("done\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 2;
	}
	printf("transport=%s batch=%u pages=%u write_med_us=%.1f write_p99_us=%.1f read_med_us=%.1f read_p99_us=%.1f "
	       "write_cpu_us=%.1f read_cpu_us=%.1f write_posts=%.3f read_posts=%.3f write_polls=%.2f read_polls=%.2f\n",
	       x->ops->scheme, batch, pages, med[0], p99[0], med[1], p99[1], c[0], c[1], (double)posts[0] / pages,
	       (double)posts[1] / pages,
	       (double)polls[0] / pages, (double)polls[1] / pages);
	xport_close(x);
	return 0;
}
