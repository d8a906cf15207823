/* Jump switches under load: threads call through two sites with targets
 * that keep changing while the worker rewrites every site on every pass,
 * as fast as it can (each patch rewrites copy B, switches to it, then
 * rewrites copy A and switches back: the membarrier + rseq protocol that
 * proves a copy unreachable runs continuously). Every result is checked. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "jswitch_fixture.h"

SHUNT_JSW_SITE(s_reg, long, 2, long, long);
SHUNT_JSW_SITE(s_stack, long, 6, long, long, long, long, long, long);

#define DEF6(k)                                                                                   \
	__attribute__((noinline)) static long f6_##k(long a, long b, long c, long d, long e, long f) \
	{                                                                                         \
		__asm__ volatile("");                                                             \
		return MIX(k, a + 3 * c + 5 * e, b + 7 * d + 11 * f);                             \
	}
DEF6(0) DEF6(1) DEF6(2) DEF6(3) DEF6(4) DEF6(5) DEF6(6) DEF6(7)
typedef long (*fn6_t)(long, long, long, long, long, long);
static fn6_t const fn6[NFN] = { f6_0, f6_1, f6_2, f6_3, f6_4, f6_5, f6_6, f6_7 };

static uint32_t stop;
static uint32_t phase;          /* which targets are in use: a bit set */
static uint64_t calls, wrong;

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *caller(void *arg)
{
	uint64_t seed = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1, n = 0, bad = 0;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		uint32_t set = __atomic_load_n(&phase, __ATOMIC_RELAXED);
		for (int i = 0; i < 256; i++) {
			unsigned k = (unsigned)(rnd(&seed) % NFN);
			if (!(set & (1u << k)))
				k = (unsigned)__builtin_ctz(set);
			long a = (long)(rnd(&seed) & 0xffff), b = (long)i;
			if (SHUNT_JSW_CALL(s_reg, fn2[k], a, b) != MIX(k, a, b))
				bad++;
			if (SHUNT_JSW_CALL(s_stack, fn6[k], a, b, a + 1, b + 1, a + 2, b + 2) !=
			    fn6[k](a, b, a + 1, b + 1, a + 2, b + 2))
				bad++;
			n += 2;
		}
	}
	__atomic_fetch_add(&calls, n, __ATOMIC_RELAXED);
	__atomic_fetch_add(&wrong, bad, __ATOMIC_RELAXED);
	return NULL;
}

Test(jswitch_stress, changing_targets_while_patching, .timeout = 60)
{
	enum { THREADS = 4 };
	jsw_stop(); /* the constructor's worker reads jsw_tune */
	jsw_tune.min_calls = 8;
	jsw_tune.flap_limit = 0;
	jsw_tune.cooldown = 2;
	jsw_tune.force_repatch = 1;
	cr_assert_eq(jsw_start(JSW_ON, 0), 0); /* period 0: back-to-back passes */
	cr_assert(jsw_sync.have_rseq, "rseq is available here (nothing should skip)");

	static const uint32_t sets[] = { 0x01, 0x03, 0x0f, 0x02, 0xff, 0x30, 0x81, 0x0c, 0x01, 0xf0 };
	__atomic_store_n(&phase, sets[0], __ATOMIC_RELAXED);
	pthread_t t[THREADS];
	for (long i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, caller, (void *)i), 0);
	for (int ms = 0; ms < 3000; ms += 5) {
		usleep(5000);
		__atomic_store_n(&phase, sets[(ms / 50) % (sizeof(sets) / sizeof(sets[0]))], __ATOMIC_RELAXED);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	uint64_t patches = jsw_site_rewrites(SHUNT_JSW_SITE_DESC(s_reg)) + jsw_site_rewrites(SHUNT_JSW_SITE_DESC(s_stack));
	jsw_stop();
	cr_log_info("%llu calls, %llu patches", (unsigned long long)calls, (unsigned long long)patches);
	cr_assert_eq(wrong, 0, "%llu of %llu calls reached the wrong function", (unsigned long long)wrong,
		     (unsigned long long)calls);
	cr_assert_gt(calls, 100000);
	cr_assert_gt(patches, 200, "patched only %llu times", (unsigned long long)patches);
}

/* Signals land in the middle of slots (the kernel sends the interrupted
 * thread to its slot's abort handler before running the handler), and the
 * handler itself calls through the same site with other targets, while the
 * worker keeps switching copies. */
static volatile sig_atomic_t sig_bad, sig_calls;

static void on_alarm(int sig)
{
	(void)sig;
	for (long i = 0; i < 16; i++) {
		unsigned k = 4 + (unsigned)(i & 3);
		if (SHUNT_JSW_CALL(s_reg, fn2[k], i, 99) != MIX(k, i, 99))
			sig_bad = sig_bad + 1;
	}
	sig_calls = sig_calls + 16;
}

Test(jswitch_stress, signals_inside_slots_while_patching, .timeout = 60)
{
	jsw_stop();
	jsw_tune.min_calls = 8;
	jsw_tune.flap_limit = 0;
	jsw_tune.force_repatch = 1;
	cr_assert_eq(jsw_start(JSW_ON, 0), 0);
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGALRM, &sa, NULL), 0);
	struct itimerval it = { .it_interval = { 0, 200 }, .it_value = { 0, 200 } };
	cr_assert_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
	uint64_t n = 0, bad = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (long i = 0; i < 4096; i++) {
			unsigned k = (unsigned)((i >> 8) & 3);
			if (SHUNT_JSW_CALL(s_reg, fn2[k], i, 7) != MIX(k, i, 7))
				bad++;
		}
		n += 4096;
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while (t1.tv_sec - t0.tv_sec < 2);
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	uint64_t rewrites = jsw_site_rewrites(SHUNT_JSW_SITE_DESC(s_reg));
	jsw_stop();
	cr_log_info("%llu calls, %d in handlers, %llu rewrites", (unsigned long long)n, (int)sig_calls,
		    (unsigned long long)rewrites);
	cr_assert_eq(bad, 0, "%llu wrong results in the interrupted thread", (unsigned long long)bad);
	cr_assert_eq(sig_bad, 0, "%d wrong results in signal handlers", (int)sig_bad);
	cr_assert_gt(sig_calls, 1000);
	cr_assert_gt(rewrites, 50);
}
