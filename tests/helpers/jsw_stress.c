/* Jump switches under load, outside Criterion (tests/rdma/guest-test.sh runs
 * it in the QEMU guest, where a fault must reach shunt's crash report):
 * threads call through two sites (a register and a stack target) with
 * targets that keep changing, while the worker rewrites every site on every
 * pass as fast as it can. Every result is checked.
 *   jsw_stress SECONDS [THREADS]
 * Exit 0 when every call reached its function, 1 on a wrong result; a fault
 * kills it (with the crash report). Prints what it did. Under QEMU's TCG
 * the runtime patches nothing (runtime/jswitch/sync.c): before it knew,
 * this crashed there within seconds, every run. */
#include "shunt/jswitch.h"
#include "jswitch/jsw.h"
#include "common/crash.h"
#include "common/init.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

SHUNT_JSW_SITE(h_reg, long, 2, long, long);
SHUNT_JSW_SITE(h_stack, long, 6, long, long, long, long, long, long);

#define MIX(k, a, b) ((long)(a) * 1315423911L + (long)(b) * 2654435761L + (long)(k) * 1000003L)
#define DEF(k)                                                                                    \
	__attribute__((noinline)) static long f2_##k(long a, long b) { __asm__ volatile(""); return MIX(k, a, b); } \
	__attribute__((noinline)) static long f6_##k(long a, long b, long c, long d, long e, long f) \
	{                                                                                         \
		__asm__ volatile("");                                                             \
		return MIX(k, a + 3 * c + 5 * e, b + 7 * d + 11 * f);                             \
	}
DEF(0) DEF(1) DEF(2) DEF(3) DEF(4) DEF(5) DEF(6) DEF(7)
static long (*const f2[8])(long, long) = { f2_0, f2_1, f2_2, f2_3, f2_4, f2_5, f2_6, f2_7 };
static long (*const f6[8])(long, long, long, long, long, long) = { f6_0, f6_1, f6_2, f6_3, f6_4, f6_5, f6_6, f6_7 };

static uint32_t stop, phase;
static uint64_t calls, wrong;

static void *caller(void *arg)
{
	uint64_t seed = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1, n = 0, bad = 0;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		uint32_t set = __atomic_load_n(&phase, __ATOMIC_RELAXED);
		for (int i = 0; i < 256; i++) {
			seed ^= seed << 13;
			seed ^= seed >> 7;
			seed ^= seed << 17;
			unsigned k = (unsigned)(seed % 8);
			if (!(set & (1u << k)))
				k = (unsigned)__builtin_ctz(set);
			long a = (long)(seed >> 20 & 0xffff), b = i;
			if (SHUNT_JSW_CALL(h_reg, f2[k], a, b) != MIX(k, a, b))
				bad++;
			if (SHUNT_JSW_CALL(h_stack, f6[k], a, b, a + 1, b + 1, a + 2, b + 2) != f6[k](a, b, a + 1, b + 1, a + 2, b + 2))
				bad++;
			n += 2;
		}
	}
	__atomic_fetch_add(&calls, n, __ATOMIC_RELAXED);
	__atomic_fetch_add(&wrong, bad, __ATOMIC_RELAXED);
	return NULL;
}

int main(int argc, char **argv)
{
	int secs = argc > 1 ? atoi(argv[1]) : 3, nthreads = argc > 2 ? atoi(argv[2]) : 3;
	pthread_t t[16];
	if (nthreads < 1 || nthreads > 16)
		nthreads = 3;
	shunt_common_init();
	crash_init((const void *)main);
	jsw_stop();
	jsw_tune.min_calls = 8;
	jsw_tune.flap_limit = 0;
	jsw_tune.cooldown = 2;
	jsw_tune.force_repatch = 1;
	int r = jsw_start(JSW_ON, 0); /* period 0: back-to-back passes */
	if (r && r != -EOPNOTSUPP) {
		fprintf(stderr, "jsw_stress: jsw_start failed (%d)\n", r);
		return 2;
	}
	static const uint32_t sets[] = { 0x01, 0x03, 0x0f, 0x02, 0xff, 0x30, 0x81, 0x0c, 0x01, 0xf0 };
	__atomic_store_n(&phase, sets[0], __ATOMIC_RELAXED);
	for (long i = 0; i < nthreads; i++)
		if (pthread_create(&t[i], NULL, caller, (void *)i))
			return 2;
	for (int ms = 0; ms < secs * 1000; ms += 5) {
		usleep(5000);
		__atomic_store_n(&phase, sets[(ms / 50) % (sizeof(sets) / sizeof(sets[0]))], __ATOMIC_RELAXED);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	uint64_t rewrites = jsw_site_rewrites(SHUNT_JSW_SITE_DESC(h_reg)) + jsw_site_rewrites(SHUNT_JSW_SITE_DESC(h_stack));
	jsw_stop();
	printf("jsw_stress: %llu calls, %llu wrong, %llu rewrites, %d threads, %d s%s\n", (unsigned long long)calls,
	       (unsigned long long)wrong, (unsigned long long)rewrites, nthreads, secs,
	       r ? " (nothing patched: emulated CPU)" : "");
	return wrong ? 1 : 0;
}
