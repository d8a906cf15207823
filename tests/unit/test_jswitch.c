/* Jump switches, single-threaded: a site calls exactly the function it is
 * given in every mode (off, learn, on) and through every transition
 * (profiling, learned, unused, used again, megamorphic fallback), for every
 * place the target travels (argument registers 0-5 and the stack). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "jswitch_fixture.h"

SHUNT_JSW_SITE(t_two, long, 2, long, long);

/* One target per arity, returning a mix of all its arguments. */
__attribute__((noinline)) static long a0_x(void) { return 11; }
__attribute__((noinline)) static long a0_y(void) { return 12; }
__attribute__((noinline)) static long a1_x(long a) { return a * 3 + 1; }
__attribute__((noinline)) static long a1_y(long a) { return a * 3 + 2; }
__attribute__((noinline)) static long a3_x(long a, int b, const char *c) { return a + b * 7 + c[0]; }
__attribute__((noinline)) static long a3_y(long a, int b, const char *c) { return a - b * 7 + c[1]; }
__attribute__((noinline)) static long a4_x(long a, long b, long c, long d) { return a + 2 * b + 3 * c + 4 * d; }
__attribute__((noinline)) static long a4_y(long a, long b, long c, long d) { return a - 2 * b + 3 * c - 4 * d; }
__attribute__((noinline)) static long a5_x(long a, long b, long c, long d, long e) { return a + 2 * b + 3 * c + 4 * d + 5 * e; }
__attribute__((noinline)) static long a5_y(long a, long b, long c, long d, long e) { return a + 2 * b - 3 * c + 4 * d - 5 * e; }
__attribute__((noinline)) static long a6_x(long a, long b, long c, long d, long e, long f) { return a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f; }
__attribute__((noinline)) static long a6_y(long a, long b, long c, long d, long e, long f) { return a - 2 * b + 3 * c - 4 * d + 5 * e - 6 * f; }
SHUNT_JSW_SITE(t_a0, long, 0);
SHUNT_JSW_SITE(t_a1, long, 1, long);
SHUNT_JSW_SITE(t_a3, long, 3, long, int, const char *);
SHUNT_JSW_SITE(t_a4, long, 4, long, long, long, long);
SHUNT_JSW_SITE(t_a5, long, 5, long, long, long, long, long);
SHUNT_JSW_SITE(t_a6, long, 6, long, long, long, long, long, long);

static void call_two(int k, int times)
{
	for (int i = 0; i < times; i++) {
		long r = SHUNT_JSW_CALL(t_two, fn2[k], i, k);
		cr_assert_eq(r, MIX(k, i, k), "fn2_%d gave the wrong result at call %d", k, i);
	}
}

static void check_arity(int which)
{
	const char *s = which ? "yz" : "pq";
	long (*f0)(void) = which ? a0_y : a0_x;
	long (*f1)(long) = which ? a1_y : a1_x;
	long (*f3)(long, int, const char *) = which ? a3_y : a3_x;
	long (*f4)(long, long, long, long) = which ? a4_y : a4_x;
	long (*f5)(long, long, long, long, long) = which ? a5_y : a5_x;
	long (*f6)(long, long, long, long, long, long) = which ? a6_y : a6_x;
	for (long i = 0; i < 100; i++) {
		cr_assert_eq(SHUNT_JSW_CALL(t_a0, f0), f0());
		cr_assert_eq(SHUNT_JSW_CALL(t_a1, f1, i), f1(i));
		cr_assert_eq(SHUNT_JSW_CALL(t_a3, f3, i, (int)i * 3, s), f3(i, (int)i * 3, s));
		cr_assert_eq(SHUNT_JSW_CALL(t_a4, f4, i, i + 1, i + 2, i + 3), f4(i, i + 1, i + 2, i + 3));
		cr_assert_eq(SHUNT_JSW_CALL(t_a5, f5, i, i + 1, i + 2, i + 3, i + 4), f5(i, i + 1, i + 2, i + 3, i + 4));
		cr_assert_eq(SHUNT_JSW_CALL(t_a6, f6, i, i + 1, i + 2, i + 3, i + 4, i + 5),
			     f6(i, i + 1, i + 2, i + 3, i + 4, i + 5));
	}
}

/* Manual passes: no worker, so each step is deterministic. */
static void start_manual(void)
{
	cr_assert_eq(jsw_start(JSW_ON, 1000), 0);
	jsw_worker_stop();
}

static int has_target(const struct shunt_jsw_site *s, void *f)
{
	uintptr_t t[SHUNT_JSW_MAX_TARGETS];
	unsigned n = jsw_site_targets(s, t);
	for (unsigned i = 0; i < n; i++)
		if (t[i] == (uintptr_t)f)
			return 1;
	return 0;
}

Test(jswitch, cold_slot_before_start)
{
	/* The compiled slot is one jmp to the cold entry: usable before any
	 * start-up code ran. The constructor may have switched it already, so
	 * look at the object's bytes through off mode's behaviour instead. */
	cr_assert_eq(jsw_start(JSW_OFF, 100), 0);
	call_two(0, 10);
	check_arity(0);
	cr_assert_eq(jsw_site_mode_of(SHUNT_JSW_SITE_DESC(t_two)), JSW_SITE_COLD);
}

Test(jswitch, off_mode_plain_retpoline)
{
	cr_assert_eq(jsw_start(JSW_ON, 1000), 0);
	cr_assert_eq(jsw_start(JSW_OFF, 1000), 0);
	for (int k = 0; k < NFN; k++)
		call_two(k, 50);
	check_arity(1);
	cr_assert_eq(jsw_site_mode_of(SHUNT_JSW_SITE_DESC(t_two)), JSW_SITE_COLD);
	cr_assert_eq(jsw_update_now(), 0, "off mode never patches");
}

Test(jswitch, learn_mode_counts_targets)
{
	cr_assert_eq(jsw_start(JSW_LEARN, 1000), 0);
	call_two(2, 300);
	call_two(5, 100);
	check_arity(0);
	const struct shunt_jsw_site *s = SHUNT_JSW_SITE_DESC(t_two);
	uint64_t c2 = 0, c5 = 0;
	for (int i = 0; i < SHUNT_JSW_LEARN_SLOTS; i++) {
		if (s->learn[i].target == (uintptr_t)fn2[2])
			c2 = s->learn[i].count;
		if (s->learn[i].target == (uintptr_t)fn2[5])
			c5 = s->learn[i].count;
	}
	cr_assert_eq(c2, 300);
	cr_assert_eq(c5, 100);
	cr_assert_eq(jsw_update_now(), 0, "learn mode never patches");
	cr_assert_eq(jsw_site_mode_of(s), JSW_SITE_LEARN);
}

Test(jswitch, learned_unused_used_again)
{
	const struct shunt_jsw_site *s = SHUNT_JSW_SITE_DESC(t_two);
	start_manual();
	cr_assert_eq(jsw_site_mode_of(s), JSW_SITE_PROFILE);
	call_two(0, 200);
	jsw_update_now();
	cr_assert_eq(jsw_site_mode_of(s), JSW_SITE_STEADY);
	cr_assert(has_target(s, fn2[0]), "fn2_0 learned");
	call_two(0, 200); /* direct now */

	/* fn2_0 stops being used; fn2_1 takes over. */
	call_two(1, 200);
	jsw_update_now();
	cr_assert_eq(jsw_site_mode_of(s), JSW_SITE_PROFILE, "misses reopen profiling");
	call_two(1, 200);
	jsw_update_now();
	cr_assert_eq(jsw_site_mode_of(s), JSW_SITE_STEADY);
	cr_assert(has_target(s, fn2[1]));
	cr_assert(!has_target(s, fn2[0]), "an unused target is dropped");

	/* fn2_0 again: correct on the fallback, then learned again. */
	call_two(0, 200);
	jsw_update_now();
	call_two(0, 200);
	jsw_update_now();
	cr_assert(has_target(s, fn2[0]), "fn2_0 learned again");
	call_two(0, 100);
	call_two(1, 100);
	cr_assert_geq(jsw_site_patches(s), 4);
}

Test(jswitch, several_targets_then_megamorphic)
{
	const struct shunt_jsw_site *s = SHUNT_JSW_SITE_DESC(t_two);
	start_manual();
	for (int r = 0; r < 100; r++)
		for (int k = 0; k < 4; k++)
			call_two(k, 1);
	jsw_update_now();
	cr_assert_eq(jsw_site_mode_of(s), JSW_SITE_STEADY);
	for (int k = 0; k < 4; k++)
		cr_assert(has_target(s, fn2[k]), "fn2_%d in the chain", k);
	for (int r = 0; r < 100; r++)
		for (int k = 0; k < 4; k++)
			call_two(k, 1);
	/* Eight equally hot targets: no four cover 90%. */
	for (int pass = 0; pass < 3; pass++) {
		for (int r = 0; r < 100; r++)
			for (int k = 0; k < NFN; k++)
				call_two(k, 1);
		jsw_update_now();
	}
	cr_assert_eq(jsw_site_mode_of(s), JSW_SITE_FALLBACK);
	for (int r = 0; r < 20; r++)
		for (int k = 0; k < NFN; k++)
			call_two(k, 1);
}

Test(jswitch, every_argument_position)
{
	start_manual();
	check_arity(0);
	jsw_update_now();
	check_arity(0); /* learned */
	check_arity(1); /* misses */
	jsw_update_now();
	check_arity(1);
	jsw_update_now();
	check_arity(0);
	check_arity(1);
	cr_assert_eq(jsw_site_mode_of(SHUNT_JSW_SITE_DESC(t_a6)), JSW_SITE_STEADY);
	cr_assert(has_target(SHUNT_JSW_SITE_DESC(t_a6), (void *)a6_y), "a stack-passed target is learned");
	cr_assert(has_target(SHUNT_JSW_SITE_DESC(t_a0), (void *)a0_y), "a target in rdi is learned");
}

Test(jswitch, worker_patches_on_its_own)
{
	const struct shunt_jsw_site *s = SHUNT_JSW_SITE_DESC(t_two);
	cr_assert_eq(jsw_start(JSW_ON, 5), 0);
	for (int i = 0; i < 200 && jsw_site_mode_of(s) != JSW_SITE_STEADY; i++) {
		call_two(3, 100);
		usleep(2000);
	}
	cr_assert_eq(jsw_site_mode_of(s), JSW_SITE_STEADY);
	cr_assert(has_target(s, fn2[3]));
	call_two(3, 1000);
	jsw_stop();
	call_two(3, 10);
}

Test(jswitch, patched_code_is_what_runs)
{
	const struct shunt_jsw_site *s = SHUNT_JSW_SITE_DESC(t_two);
	start_manual();
	cr_assert(jsw_area.ready, "trampoline area mapped");
	cr_assert(jsw_sync.have_sync_core, "membarrier SYNC_CORE registered");
	cr_assert(jsw_sync.have_rseq, "glibc registered rseq (nothing should skip here)");
	const unsigned char *slot = s->slot;
	cr_assert(slot[0] == 0x4c && slot[1] == 0x8d && slot[2] == 0x1d, "slot starts with the rseq prologue");
	call_two(4, 100);
	jsw_update_now();
	/* Settled: the selector is the 8-byte nop, falling into copy A. */
	static const unsigned char nop8[8] = { 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0 };
	cr_assert_eq(memcmp(slot + JSW_SLOT_SEL, nop8, 8), 0, "selector falls through into copy A");
	/* A starts with lea r11,[rip+T]: T must be fn2_4 */
	const unsigned char *a = slot + JSW_SLOT_A;
	int32_t rel;
	cr_assert(a[0] == 0x4c && a[1] == 0x8d && a[2] == 0x1d);
	memcpy(&rel, a + 3, 4);
	cr_assert_eq((uintptr_t)a + 7 + rel, (uintptr_t)fn2[4]);
	cr_assert_eq(s->cs.start_ip, (uintptr_t)slot + JSW_SLOT_SEL,
		     "the rseq section starts right after the rseq_cs store");
	cr_assert_eq(s->cs.start_ip + s->cs.post_commit_offset, (uintptr_t)slot + JSW_SLOT_SIG);
	cr_assert_eq(s->cs.abort_ip, (uintptr_t)slot + JSW_SLOT_SIG + 4);
	cr_assert_eq(*(const uint32_t *)(slot + JSW_SLOT_SIG), 0x53053053u, "rseq signature before the abort handler");
	if (getenv("JSW_DUMP")) {
		FILE *f = fopen(getenv("JSW_DUMP"), "w");
		fwrite(slot, 1, SHUNT_JSW_SLOT_SIZE, f);
		fclose(f);
	}
}

Test(jswitch, flapping_site_falls_back_then_retries)
{
	const struct shunt_jsw_site *s = SHUNT_JSW_SITE_DESC(t_two);
	start_manual();
	jsw_tune.flap_limit = 3;
	jsw_tune.cooldown = 2;
	/* The hot target changes every few passes: learned, missed, relearned. */
	int k = 0;
	for (int pass = 0; pass < 40 && jsw_site_mode_of(s) != JSW_SITE_FALLBACK; pass++) {
		if (pass % 2 == 0)
			k = (k + 1) % NFN;
		call_two(k, 200);
		jsw_update_now();
	}
	cr_assert_eq(jsw_site_mode_of(s), JSW_SITE_FALLBACK, "a flapping site goes to the fallback");
	call_two(2, 50);
	/* The cool-down (cooldown * 4 passes for flapping) ends in profiling. */
	for (int pass = 0; pass < 8 * 4 && jsw_site_mode_of(s) == JSW_SITE_FALLBACK; pass++) {
		call_two(2, 10);
		jsw_update_now();
	}
	cr_assert_eq(jsw_site_mode_of(s), JSW_SITE_PROFILE, "profiling again after the cool-down");
	call_two(2, 200);
	jsw_update_now();
	/* flap decays every 16 passes; until then the site may fall back again */
	cr_assert(jsw_site_mode_of(s) == JSW_SITE_STEADY || jsw_site_mode_of(s) == JSW_SITE_FALLBACK);
	call_two(2, 10);
}

/* A barrier that fails (membarrier can return ENOMEM) must never let the
 * worker rewrite a copy a thread may still be running. Here the last
 * barrier of a settle fails: the selector is back on copy A, but B was
 * never proven unreachable, so the next install must not write B. */
Test(jswitch, failed_barrier_keeps_a_possibly_running_copy)
{
	const struct shunt_jsw_site *s = SHUNT_JSW_SITE_DESC(t_two);
	start_manual();
	call_two(1, 100);
	unsigned idx = s->idx;
	struct jsw_chain_spec one = { .targets = { (uintptr_t)fn2[1] }, .n = 1 };
	struct jsw_chain_spec two = { .targets = { (uintptr_t)fn2[2] }, .n = 1 };
	jsw_lock();
	cr_assert_eq(jsw_state_install(idx, JSW_SITE_STEADY, &one), 0);
	cr_assert_eq(jsw_states[idx].active, JSW_COPY_B);
	/* settle: barrier (SYNC_CORE, RSEQ), rewrite A, SYNC_CORE, switch to A,
	 * barrier: its SYNC_CORE (the 4th) fails. */
	jsw_sync_fail_nth = 4;
	jsw_state_settle();
	cr_assert_eq(jsw_sync_fail_nth, 0, "the settle issued the barriers this test counts on");
	cr_assert_eq(jsw_states[idx].active, JSW_COPY_A);
	cr_assert_eq(jsw_states[idx].quiet, 0, "B was not proven unreachable");
	unsigned char b_before[JSW_COPY_SIZE];
	memcpy(b_before, (const unsigned char *)s->slot + JSW_SLOT_B, JSW_COPY_SIZE);
	jsw_sync_fail_nth = 1; /* and the retry's barrier fails too */
	cr_assert_eq(jsw_state_install(idx, JSW_SITE_STEADY, &two), -EIO);
	cr_assert_eq(memcmp(b_before, (const unsigned char *)s->slot + JSW_SLOT_B, JSW_COPY_SIZE), 0,
		     "copy B was rewritten while a thread could still be in it");
	/* Barriers work again: the install goes through. */
	cr_assert_eq(jsw_state_install(idx, JSW_SITE_STEADY, &two), 0);
	jsw_state_settle();
	cr_assert_eq(jsw_states[idx].quiet, 1);
	jsw_unlock();
	call_two(2, 100);
	call_two(1, 100);
	jsw_stop();
}

/* Under QEMU's TCG (tests/helpers/jsw_stress crashes there, see sync.c)
 * nothing is patched: `on` leaves every site on its cold entry, even one
 * a previous start had patched, and calls stay right. The guest test
 * (tests/rdma/guest-test.sh) runs the real thing. */
Test(jswitch, emulator_keeps_sites_cold)
{
	const struct shunt_jsw_site *s = SHUNT_JSW_SITE_DESC(t_two);
	start_manual();
	call_two(5, 100);
	jsw_update_now();
	cr_assert_eq(jsw_site_mode_of(s), JSW_SITE_STEADY);
	jsw_sync_force_emulated = 1;
	cr_assert_eq(jsw_start(JSW_ON, 1), -EOPNOTSUPP);
	cr_assert_eq(jsw_mode_current, JSW_OFF);
	uint64_t rewrites = jsw_site_rewrites(s);
	call_two(5, 1000);
	call_two(6, 1000);
	usleep(20000);
	cr_assert_eq(jsw_site_rewrites(s), rewrites, "a site was rewritten under emulation");
	cr_assert_eq(((const unsigned char *)s->slot)[JSW_SLOT_SEL], 0xe9, "the selector jumps to the cold entry");
	jsw_sync_force_emulated = 0;
	jsw_stop();
}
