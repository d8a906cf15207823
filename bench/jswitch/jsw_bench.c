/* Nanoseconds per call through each kind of call site, in one run:
 * direct, plain indirect (no retpoline), retpoline indirect, jump switch with
 * 1, 2 and 4 learned targets (steady, lean: hits not counted; and one
 * site on a counting pass), a megamorphic jump switch (fallback), the
 * jump switch with SHUNT_JSW=off behaviour (cold entry), the ideal
 * inline form (compare + direct call compiled into the call site), and the
 * floor of any outline form (a call to a stub that only jumps on).
 * Each loop chains the result of one call into the next. Variants are
 * interleaved over the repetitions; runs twice, with a light callee (xor,
 * add) and a heavier one (4 more dependent multiply-adds). TSV on stdout:
 *   callee variant median_ns p99_ns cpu_median_ns cpu_p99_ns cpu_ns targets
 * (wall and thread-CPU ns per call: medians and p99 over repetitions, and
 * CPU over all of them; CPU time leaves out preemption by other load).
 * Usage: jsw_bench [reps] [calls_per_rep] */
#include "shunt/jswitch.h"
#include "jswitch/jsw.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

long bench_plain_loop(long (*fp)(long, long), long n, long acc);

/* The callee: a few cycles of dependent work, `work` multiply-adds more for
 * the heavy run (the figures came from a heavier callee than ours). */
static int work;
#define T(k)                                                           \
	__attribute__((noinline)) long bench_t##k(long a, long i)      \
	{                                                              \
		for (int j = 0; j < work; j++)                         \
			a = a * 3 + i;                                 \
		return (a ^ i) + k;                                    \
	}
long bench_t0(long, long); long bench_t1(long, long); long bench_t2(long, long); long bench_t3(long, long);
long bench_t4(long, long); long bench_t5(long, long); long bench_t6(long, long); long bench_t7(long, long);
T(0) T(1) T(2) T(3) T(4) T(5) T(6) T(7)
typedef long (*fn_t)(long, long);
static fn_t const targets[8] = { bench_t0, bench_t1, bench_t2, bench_t3, bench_t4, bench_t5, bench_t6, bench_t7 };

SHUNT_JSW_SITE(b_one, long, 2, long, long);
SHUNT_JSW_SITE(b_two, long, 2, long, long);
SHUNT_JSW_SITE(b_four, long, 2, long, long);
SHUNT_JSW_SITE(b_mega, long, 2, long, long);
SHUNT_JSW_SITE(b_cold, long, 2, long, long);
SHUNT_JSW_SITE(b_count, long, 2, long, long);

/* Hide the pointer from the optimiser: every indirect variant really calls
 * through a register. */
static fn_t opaque(fn_t f)
{
	__asm__ volatile("" : "+r"(f));
	return f;
}

__attribute__((noinline)) static long loop_direct(long n, long acc)
{
	for (long i = 0; i < n; i++)
		acc = bench_t0(acc, i);
	return acc;
}

__attribute__((noinline)) static long loop_retpoline(long n, long acc)
{
	fn_t f = opaque(bench_t0);
	for (long i = 0; i < n; i++)
		acc = f(acc, i); /* -mindirect-branch=thunk: call __x86_indirect_thunk_* */
	return acc;
}

__attribute__((noinline)) static long loop_plain(long n, long acc)
{
	return bench_plain_loop(opaque(bench_t0), n, acc);
}

/* The ideal inline form: the learned target's compare and direct call in
 * the call site itself, retpoline otherwise. */
__attribute__((noinline)) static long loop_inline(long n, long acc)
{
	fn_t f = opaque(bench_t0);
	for (long i = 0; i < n; i++)
		acc = f == bench_t0 ? bench_t0(acc, i) : f(acc, i);
	return acc;
}

/* The floor of any outline form: a direct call to a 512-byte aligned stub
 * that is nothing but `jmp bench_t0` (no rseq store, no selector, no
 * compare), called exactly like a site (the target as a third argument).
 * What a learned site costs over this is its slot's work; what this costs
 * over a direct call is the one extra taken branch a trampoline means. */
long bench_jmp_stub(long, long, fn_t);
__asm__(".pushsection .text\n\t.balign 512\n"
	"bench_jmp_stub:\n\tjmp bench_t0\n\t"
	".balign 512\n\t.popsection");

__attribute__((noinline)) static long loop_floor(long n, long acc)
{
	fn_t f = opaque(bench_t0);
	for (long i = 0; i < n; i++)
		acc = bench_jmp_stub(acc, i, f);
	return acc;
}

/* Jump switches: the targets rotate through the first `k` of the table. */
#define JSW_LOOP(site, k)                                                              \
	__attribute__((noinline)) static long loop_##site(long n, long acc)            \
	{                                                                              \
		fn_t t[8];                                                             \
		for (int j = 0; j < 8; j++)                                            \
			t[j] = opaque(targets[j]);                                     \
		for (long i = 0; i < n; i++)                                           \
			acc = SHUNT_JSW_CALL(site, t[i & ((k) - 1)], acc, i);          \
		return acc;                                                            \
	}
JSW_LOOP(b_one, 1)
JSW_LOOP(b_two, 2)
JSW_LOOP(b_four, 4)
JSW_LOOP(b_mega, 8)
JSW_LOOP(b_cold, 1)
JSW_LOOP(b_count, 1)

/* Steady chains count hits one pass in jsw_tune.sample_every: measure both
 * kinds, lean (the usual pass) and counting. */
static void set_counting(const struct shunt_jsw_site *s, int on)
{
	jsw_lock();
	struct jsw_chain_spec spec = jsw_states[s->idx].spec;
	spec.count_hits = on;
	jsw_state_install(s->idx, JSW_SITE_STEADY, &spec);
	jsw_state_settle();
	jsw_unlock();
}

struct variant {
	const char *name;
	long (*loop)(long, long);
	int targets;
	double *ns;   /* wall ns per call, per repetition */
	double *cns;  /* thread CPU ns per call, per repetition */
	double cpu;   /* thread CPU seconds, all repetitions */
};

static double now(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int steady_with(const struct shunt_jsw_site *s, unsigned n)
{
	uintptr_t t[SHUNT_JSW_MAX_TARGETS];
	return jsw_site_mode_of(s) == JSW_SITE_STEADY && jsw_site_targets(s, t) == n;
}

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 301;
	long calls = argc > 2 ? atol(argv[2]) : 50000;
	struct variant v[] = {
		{ "direct", loop_direct, 1 },
		{ "plain indirect", loop_plain, 1 },
		{ "retpoline indirect", loop_retpoline, 1 },
		{ "jsw 1 target", loop_b_one, 1 },
		{ "jsw 1 target, counting pass", loop_b_count, 1 },
		{ "jsw 2 targets", loop_b_two, 2 },
		{ "jsw 4 targets", loop_b_four, 4 },
		{ "jsw megamorphic (8)", loop_b_mega, 8 },
		{ "jsw off (cold entry)", loop_b_cold, 1 },
		{ "ideal inline compare", loop_inline, 1 },
		{ "outline floor (call + jmp)", loop_floor, 1 },
	};
	enum { NV = sizeof(v) / sizeof(v[0]) };

	/* One CPU, so migrations do not show up as noise. */
	cpu_set_t cpus;
	CPU_ZERO(&cpus);
	CPU_SET(sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 1 : 0, &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);

	/* Learn: the worker patches while the sites run their patterns; then it
	 * stops, so no patching happens while we measure. The cold site is put
	 * back on its cold entry, as SHUNT_JSW=off leaves every site. */
	if (jsw_start(JSW_ON, 2)) {
		fprintf(stderr, "jsw_start failed\n");
		return 1;
	}
	for (int i = 0; i < 5000; i++) {
		loop_b_one(1000, 1);
		loop_b_two(1000, 1);
		loop_b_four(1000, 1);
		loop_b_mega(1000, 1);
		loop_b_count(1000, 1);
		if (steady_with(SHUNT_JSW_SITE_DESC(b_one), 1) && steady_with(SHUNT_JSW_SITE_DESC(b_two), 2) &&
		    steady_with(SHUNT_JSW_SITE_DESC(b_count), 1) &&
		    steady_with(SHUNT_JSW_SITE_DESC(b_four), 4) &&
		    jsw_site_mode_of(SHUNT_JSW_SITE_DESC(b_mega)) == JSW_SITE_FALLBACK)
			break;
		usleep(1000);
	}
	jsw_worker_stop();
	jsw_lock();
	jsw_state_install(SHUNT_JSW_SITE_DESC(b_cold)->idx, JSW_SITE_COLD, NULL);
	jsw_state_settle();
	jsw_unlock();
	set_counting(SHUNT_JSW_SITE_DESC(b_one), 0);
	set_counting(SHUNT_JSW_SITE_DESC(b_two), 0);
	set_counting(SHUNT_JSW_SITE_DESC(b_four), 0);
	set_counting(SHUNT_JSW_SITE_DESC(b_count), 1);
	int ok = steady_with(SHUNT_JSW_SITE_DESC(b_one), 1) && steady_with(SHUNT_JSW_SITE_DESC(b_two), 2) &&
		 steady_with(SHUNT_JSW_SITE_DESC(b_four), 4) &&
		 jsw_site_mode_of(SHUNT_JSW_SITE_DESC(b_mega)) == JSW_SITE_FALLBACK;
	if (!ok) {
		fprintf(stderr, "sites did not reach their learned state\n");
		return 1;
	}

	long sink = 0;
	printf("callee\tvariant\tmedian_ns\tp99_ns\tcpu_median_ns\tcpu_p99_ns\tcpu_ns\ttargets\n");
	for (int wi = 0; wi < 2; wi++) {
		work = wi ? 4 : 0;
		for (int k = 0; k < NV; k++) {
			free(v[k].ns);
			free(v[k].cns);
			v[k].ns = calloc((size_t)reps, sizeof(double));
			v[k].cns = calloc((size_t)reps, sizeof(double));
			v[k].cpu = 0;
			sink += v[k].loop(calls, k); /* warm-up */
		}
		for (int r = 0; r < reps; r++) {
			for (int k = 0; k < NV; k++) {
				double c0 = now(CLOCK_THREAD_CPUTIME_ID), t0 = now(CLOCK_MONOTONIC);
				sink += v[k].loop(calls, r);
				double t1 = now(CLOCK_MONOTONIC), c1 = now(CLOCK_THREAD_CPUTIME_ID);
				v[k].ns[r] = (t1 - t0) * 1e9 / (double)calls;
				v[k].cns[r] = (c1 - c0) * 1e9 / (double)calls;
				v[k].cpu += c1 - c0;
			}
		}
		for (int k = 0; k < NV; k++) {
			qsort(v[k].ns, (size_t)reps, sizeof(double), cmp_d);
			qsort(v[k].cns, (size_t)reps, sizeof(double), cmp_d);
			int p99 = (int)((reps - 1) * 0.99 + 0.5);
			printf("%s\t%s\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%d\n", wi ? "heavy" : "light", v[k].name,
			       v[k].ns[reps / 2], v[k].ns[p99], v[k].cns[reps / 2], v[k].cns[p99],
			       v[k].cpu * 1e9 / ((double)calls * reps), v[k].targets);
		}
	}
	/* What one rewrite costs the worker: write copy B, SYNC_CORE, switch,
	 * then settle (SYNC_CORE + RSEQ, copy A, SYNC_CORE, switch, SYNC_CORE +
	 * RSEQ). Printed as a comment line for the report. */
	{
		int n = 200;
		double t0 = now(CLOCK_MONOTONIC);
		for (int i = 0; i < n; i++)
			set_counting(SHUNT_JSW_SITE_DESC(b_count), i & 1);
		double t1 = now(CLOCK_MONOTONIC);
		printf("#rewrite_us\t%.1f\n", (t1 - t0) * 1e6 / n);
	}
	fprintf(stderr, "(checksum %ld; %d repetitions of %ld calls per variant)\n", sink, reps, calls);
	return 0;
}
