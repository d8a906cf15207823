/* Jump switches whose target sits in a variable (SHUNT_JSW_VAR_SITE, what
 * the interposers' REAL() uses): the slot has the target's own signature,
 * so a call keeps everything a direct call would, in every mode: stack
 * arguments, vector arguments, a variadic call's vector count (al), and
 * the result, through the cold entry, the learning stub and a learned
 * chain, and when the variable changes after being learned. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include "jswitch_fixture.h"

/* Eight integers (two on the stack) and two doubles (xmm0, xmm1). */
typedef double wide_fn(long, long, long, long, long, long, long, long, double, double);
__attribute__((noinline)) static double wide_x(long a, long b, long c, long d, long e, long f, long g, long h,
					       double x, double y)
{
	return (double)(a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f + 7 * g + 8 * h) + x * 0.5 + y * 0.25;
}
__attribute__((noinline)) static double wide_y(long a, long b, long c, long d, long e, long f, long g, long h,
					       double x, double y)
{
	return (double)(a - 2 * b + 3 * c - 4 * d + 5 * e - 6 * f + 7 * g - 8 * h) - x * 0.5 + y * 4;
}

/* Variadic with doubles: the callee reads them only if al says so. */
typedef double vsum_fn(int, ...);
__attribute__((noinline)) static double vsum(int n, ...)
{
	va_list ap;
	va_start(ap, n);
	double s = 0;
	for (int i = 0; i < n; i++)
		s += va_arg(ap, double) * (i + 1);
	va_end(ap);
	return s;
}

SHUNT_JSW_VAR_SITE_DEFINE(v_wide, wide_fn);
SHUNT_JSW_VAR_SITE_DEFINE(v_vsum, vsum_fn);

static void call_wide(wide_fn *f, int times)
{
	SHUNT_JSW_VAR(v_wide) = f;
	for (long i = 0; i < times; i++) {
		double x = (double)i / 3, y = (double)i * 1.5;
		double got = SHUNT_JSW_VAR_CALL(v_wide)(i, i + 1, i + 2, i + 3, i + 4, i + 5, i + 6, i + 7, x, y);
		double want = f(i, i + 1, i + 2, i + 3, i + 4, i + 5, i + 6, i + 7, x, y);
		cr_assert_eq(got, want, "call %ld: got %f, want %f", i, got, want);
	}
}

static void call_vsum(int times)
{
	SHUNT_JSW_VAR(v_vsum) = vsum;
	for (int i = 0; i < times; i++) {
		double a = i * 0.25, b = i + 0.5, c = -i * 2.0;
		double got = SHUNT_JSW_VAR_CALL(v_vsum)(3, a, b, c);
		cr_assert_eq(got, vsum(3, a, b, c), "variadic call %d", i);
	}
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

Test(jswitch_var, off_mode_cold_entry)
{
	cr_assert_eq(jsw_start(JSW_OFF, 1000), 0);
	call_wide(wide_x, 50);
	call_wide(wide_y, 50);
	call_vsum(50);
	cr_assert_eq(jsw_site_mode_of(SHUNT_JSW_SITE_DESC(v_wide)), JSW_SITE_COLD);
}

Test(jswitch_var, learn_stub_keeps_vector_and_stack_arguments)
{
	cr_assert_eq(jsw_start(JSW_LEARN, 1000), 0);
	call_wide(wide_x, 100);
	call_vsum(100);
	const struct shunt_jsw_site *s = SHUNT_JSW_SITE_DESC(v_wide);
	uint64_t c = 0;
	for (int i = 0; i < SHUNT_JSW_LEARN_SLOTS; i++)
		if (s->learn[i].target == (uintptr_t)wide_x)
			c = s->learn[i].count;
	cr_assert_eq(c, 100, "every call through the learning stub is recorded under the variable's target");
	jsw_stop();
}

Test(jswitch_var, learned_then_variable_changes)
{
	const struct shunt_jsw_site *s = SHUNT_JSW_SITE_DESC(v_wide);
	cr_assert_eq(jsw_start(JSW_ON, 1000), 0);
	jsw_worker_stop(); /* manual passes */
	call_wide(wide_x, 200);
	call_vsum(200);
	jsw_update_now();
	cr_assert_eq(jsw_site_mode_of(s), JSW_SITE_STEADY);
	cr_assert(has_target(s, (void *)wide_x), "the variable's target is learned");
	cr_assert(has_target(SHUNT_JSW_SITE_DESC(v_vsum), (void *)vsum), "the variadic target is learned");
	call_wide(wide_x, 200); /* direct now */
	call_vsum(200);
	/* The variable changes: the chain must not call the old target. */
	call_wide(wide_y, 300);
	jsw_update_now();
	call_wide(wide_y, 300);
	jsw_update_now();
	cr_assert(has_target(s, (void *)wide_y), "the new target is learned");
	call_wide(wide_y, 200);
	call_wide(wide_x, 200); /* back again: a miss until relearned, still correct */
	jsw_update_now();
	call_wide(wide_x, 200);
	uint64_t patches = jsw_site_patches(s);
	cr_assert(patches >= 2, "the site was patched (%llu)", (unsigned long long)patches);
	jsw_stop();
	call_wide(wide_y, 10);
}
