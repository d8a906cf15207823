/* The far-memory workload: one binary for every peer (all-local, shunt under
 * LD_PRELOAD, kernel swap in a memory cgroup). Allocates the working set
 * with one malloc (under shunt it lands in far memory), touches every page
 * in a scrambled order (first touches: zero-fill faults), then runs the
 * access patterns, timing each 4 KiB operation:
 *   uniform  read a uniformly random page, then write one word of it
 *   zipf     the same with pages drawn from Zipf(0.99), hot pages scattered
 *   seq      read the pages in address order (read-only), whole passes
 * Latencies go into a log-linear histogram in static memory: the program
 * makes no allocation besides the working set, so only the working set is
 * far (or swappable) and the peers run exactly the same code.
 *   farbench --ws-mib N --peer NAME --local LABEL [--workloads touch,uniform,zipf,seq]
 *            [--secs S] [--warm-secs S] [--server-pid PID] [--header]
 * One TSV row per workload on stdout: peer local workload ops median_ns
 * p99_ns mean_ns cpu_ns_op server_cpu_ns_op status. cpu_ns_op is this
 * process's user+system time (all threads, so shunt's handler and evictor
 * too) over the measured ops; server_cpu_ns_op the on-CPU time of every
 * thread of --server-pid (shunt-memd, or kswapd0 for swap) over them. */
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

enum { PAGE = 4096, WORDS = PAGE / 8, SUB_BITS = 5, NBUCKETS = 64 + 58 * (1 << SUB_BITS) };

static uint64_t hist[NBUCKETS];
static volatile uint64_t sink;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Log-linear buckets: exact below 64 ns, then 32 per power of two (3%). */
static unsigned bucket(uint64_t v)
{
	if (v < 64)
		return (unsigned)v;
	unsigned e = 63 - (unsigned)__builtin_clzll(v);
	unsigned b = 64 + (e - 6) * (1u << SUB_BITS) + (unsigned)((v >> (e - SUB_BITS)) & ((1u << SUB_BITS) - 1));
	return b < NBUCKETS ? b : NBUCKETS - 1;
}
static double bucket_mid(unsigned b)
{
	if (b < 64)
		return b;
	unsigned e = (b - 64) / (1u << SUB_BITS) + 6, sub = (b - 64) % (1u << SUB_BITS);
	double lo = ldexp(1.0, (int)e) * (1.0 + sub / (double)(1u << SUB_BITS));
	return lo + ldexp(1.0, (int)e - SUB_BITS) / 2;
}
static double hist_quantile(uint64_t n, double q)
{
	uint64_t want = (uint64_t)(q * (double)(n - 1)) + 1, seen = 0;
	for (unsigned b = 0; b < NBUCKETS; b++)
		if ((seen += hist[b]) >= want)
			return bucket_mid(b);
	return NAN;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) /* splitmix64 */
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A bijection on [0, 2^bits): scrambles page order without a table (a table
 * would be one more allocation, and a large one would be far). Multiply by
 * an odd constant and xor-shift, each invertible modulo 2^bits. */
static unsigned page_bits;
static uint64_t scramble(uint64_t x)
{
	uint64_t mask = (1ull << page_bits) - 1;
	unsigned s = page_bits / 2 + 1;
	for (int r = 0; r < 3; r++) {
		x = (x * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull) & mask;
		x ^= x >> s;
	}
	return x;
}

/* Zipf(theta) ranks in [0, n) by Gray et al.'s method (as YCSB): O(1) state. */
static struct {
	double theta, alpha, zetan, eta, half_pow;
	uint64_t n;
} zipf;
static void zipf_init(uint64_t n, double theta)
{
	double zeta2 = 1.0 + pow(0.5, theta), zetan = 0;
	for (uint64_t i = 1; i <= n; i++)
		zetan += pow((double)i, -theta);
	zipf.n = n, zipf.theta = theta, zipf.zetan = zetan, zipf.alpha = 1.0 / (1.0 - theta);
	zipf.eta = (1.0 - pow(2.0 / (double)n, 1.0 - theta)) / (1.0 - zeta2 / zetan);
	zipf.half_pow = 1.0 + pow(0.5, theta);
}
static uint64_t zipf_next(void)
{
	double u = (double)(rnd() >> 11) * 0x1.0p-53, uz = u * zipf.zetan;
	if (uz < 1.0)
		return 0;
	if (uz < zipf.half_pow)
		return 1;
	uint64_t r = (uint64_t)((double)zipf.n * pow(zipf.eta * u - zipf.eta + 1.0, zipf.alpha));
	return r < zipf.n ? r : zipf.n - 1;
}

static uint64_t cpu_self_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}
/* On-CPU ns of every thread of pid (schedstat's first field), or 0. */
static uint64_t cpu_pid_ns(long pid)
{
	if (pid <= 0)
		return 0;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	uint64_t sum = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char p[320];
		snprintf(p, sizeof(p), "/proc/%ld/task/%s/schedstat", pid, e->d_name);
		FILE *f = fopen(p, "r");
		unsigned long long ns;
		if (f && fscanf(f, "%llu", &ns) == 1)
			sum += ns;
		if (f)
			fclose(f);
	}
	closedir(d);
	return sum;
}

static const char *peer = "?", *local_label = "?";
static long server_pid;
static uint64_t *ws;
static uint64_t npages;

struct phase {
	uint64_t ops, t0, cpu0, scpu0;
};
static void phase_begin(struct phase *p)
{
	memset(hist, 0, sizeof(hist));
	p->ops = 0;
	p->scpu0 = cpu_pid_ns(server_pid);
	p->cpu0 = cpu_self_ns();
	p->t0 = now_ns();
}
static void phase_end(struct phase *p, const char *workload)
{
	uint64_t wall = now_ns() - p->t0, cpu = cpu_self_ns() - p->cpu0;
	uint64_t scpu = server_pid > 0 ? cpu_pid_ns(server_pid) - p->scpu0 : 0;
	double n = (double)(p->ops ? p->ops : 1);
	char s[32] = "NA";
	if (server_pid > 0)
		snprintf(s, sizeof(s), "%.1f", (double)scpu / n);
	printf("%s\t%s\t%s\t%" PRIu64 "\t%.1f\t%.1f\t%.1f\t%.1f\t%s\tok\n", peer, local_label, workload, p->ops,
	       hist_quantile(p->ops, 0.5), hist_quantile(p->ops, 0.99), (double)wall / n, (double)cpu / n, s);
	fflush(stdout);
}

static inline uint64_t read_page(uint64_t pg)
{
	const uint64_t *w = ws + pg * WORDS;
	uint64_t s = 0;
	for (unsigned i = 0; i < WORDS; i += 4)
		s += w[i] ^ w[i + 1] ^ w[i + 2] ^ w[i + 3];
	return s;
}

static void run_touch(void)
{
	struct phase p;
	phase_begin(&p);
	uint64_t t = now_ns();
	for (uint64_t i = 0; i < npages; i++) {
		uint64_t *w = ws + scramble(i) * WORDS;
		/* Nonzero words so that no peer can skip the page as all-zero. */
		for (unsigned k = 0; k < WORDS; k += WORDS / 8)
			w[k] = i * 8 + k + 1;
		uint64_t t1 = now_ns();
		hist[bucket(t1 - t)]++;
		t = t1;
	}
	p.ops = npages;
	phase_end(&p, "touch");
}

/* Random 4 KiB operations for warm seconds, then measured for secs. */
static void run_random(const char *name, int zipfian, double warm, double secs)
{
	uint64_t sum = 0;
	for (int measured = 0; measured < 2; measured++) {
		struct phase p;
		phase_begin(&p);
		uint64_t end = p.t0 + (uint64_t)((measured ? secs : warm) * 1e9), t = p.t0;
		while (t < end) {
			for (int k = 0; k < 64; k++) {
				uint64_t pg = zipfian ? scramble(zipf_next()) : rnd() & (npages - 1);
				sum += read_page(pg);
				ws[pg * WORDS + 1] = sum;
				uint64_t t1 = now_ns();
				hist[bucket(t1 - t)]++;
				t = t1;
			}
			p.ops += 64;
		}
		if (measured)
			phase_end(&p, name);
	}
	sink = sum;
}

/* Whole sequential passes: one unmeasured, then as many as fit in secs (one at least). */
static void run_seq(double secs)
{
	uint64_t sum = 0, t;
	for (uint64_t pg = 0; pg < npages; pg++)
		sum += read_page(pg);
	struct phase p;
	phase_begin(&p);
	t = p.t0;
	uint64_t end = p.t0 + (uint64_t)(secs * 1e9);
	do {
		for (uint64_t pg = 0; pg < npages; pg++) {
			sum += read_page(pg);
			uint64_t t1 = now_ns();
			hist[bucket(t1 - t)]++;
			t = t1;
		}
		p.ops += npages;
	} while (t < end);
	phase_end(&p, "seq");
	sink = sum;
}

int main(int argc, char **argv)
{
	uint64_t ws_mib = 256;
	double secs = 2, warm = 0.5;
	const char *workloads = "touch,uniform,zipf,seq";
	int header = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
		if (!strcmp(a, "--header")) {
			header = 1;
			continue;
		}
		i++;
		if (!strcmp(a, "--ws-mib"))
			ws_mib = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--peer"))
			peer = v;
		else if (!strcmp(a, "--local"))
			local_label = v;
		else if (!strcmp(a, "--workloads"))
			workloads = v;
		else if (!strcmp(a, "--secs"))
			secs = atof(v);
		else if (!strcmp(a, "--warm-secs"))
			warm = atof(v);
		else if (!strcmp(a, "--server-pid"))
			server_pid = atol(v);
		else {
			fprintf(stderr, "farbench: unknown argument %s\n", a);
			return 2;
		}
	}
	if (header)
		printf("peer\tlocal\tworkload\tops\tmedian_ns\tp99_ns\tmean_ns\tcpu_ns_op\tserver_cpu_ns_op\tstatus\n");
	npages = ws_mib << 20 >> 12;
	if (!npages || (npages & (npages - 1))) {
		fprintf(stderr, "farbench: --ws-mib must be a power of two\n");
		return 2;
	}
	page_bits = (unsigned)__builtin_ctzll(npages);
	ws = malloc(npages * PAGE);
	if (!ws) {
		perror("farbench: malloc");
		return 1;
	}
	zipf_init(npages, 0.99);
	char list[256];
	snprintf(list, sizeof(list), "%s", workloads);
	int touched = 0;
	for (char *save, *w = strtok_r(list, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		if (!strcmp(w, "touch")) {
			run_touch();
			touched = 1;
			continue;
		}
		if (!touched) { /* every pattern starts from a written working set */
			for (uint64_t i = 0; i < npages; i++)
				ws[i * WORDS] = i + 1;
			touched = 1;
		}
		if (!strcmp(w, "uniform"))
			run_random("uniform", 0, warm, secs);
		else if (!strcmp(w, "zipf"))
			run_random("zipf", 1, warm, secs);
		else if (!strcmp(w, "seq"))
			run_seq(secs);
		else {
			fprintf(stderr, "farbench: unknown workload %s\n", w);
			return 2;
		}
	}
	free(ws);
	return 0;
}
