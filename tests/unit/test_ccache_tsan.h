/* Criterion for the unit tests of far memory and its parts, or under TSan a
 * stand-in. Criterion 2.4.1 cannot start under TSan on these machines:
 * BoxFort places its arena at random addresses inside TSan's shadow range
 * ("Could not initialize inheritable arena"). The TSan build runs the same
 * Test() bodies in-process, one after the other, aborting on the first
 * failed assertion. Only the assertions these tests use are provided. */
#ifndef SHUNT_TEST_CCACHE_TSAN_H
#define SHUNT_TEST_CCACHE_TSAN_H
#ifdef __SANITIZE_THREAD__
#include <stdio.h>
#include <stdlib.h>
struct shim_test { const char *name; void (*fn)(void); };
static struct shim_test shim_tests[64];
static int shim_ntests;
static void shim_fail(const char *what, const char *file, int line)
{
	fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, what);
	abort();
}
#define SHIM_CHECK(c, what) do { if (!(c)) shim_fail(what, __FILE__, __LINE__); } while (0)
#define Test(s, n, ...) \
	static void s##_##n(void); \
	__attribute__((constructor)) static void shim_reg_##s##_##n(void) \
	{ shim_tests[shim_ntests++] = (struct shim_test){ #s "::" #n, s##_##n }; } \
	static void s##_##n(void)
#define cr_assert(c, ...)          SHIM_CHECK((c), #c)
#define cr_assert_eq(a, b, ...)    SHIM_CHECK((a) == (b), #a " == " #b)
#define cr_assert_neq(a, b, ...)   SHIM_CHECK((a) != (b), #a " != " #b)
#define cr_assert_gt(a, b, ...)    SHIM_CHECK((a) > (b), #a " > " #b)
#define cr_assert_geq(a, b, ...)   SHIM_CHECK((a) >= (b), #a " >= " #b)
#define cr_assert_leq(a, b, ...)   SHIM_CHECK((a) <= (b), #a " <= " #b)
#define cr_assert_null(p, ...)     SHIM_CHECK((p) == NULL, #p " == NULL")
#define cr_assert_not_null(p, ...) SHIM_CHECK((p) != NULL, #p " != NULL")
int main(void)
{
	for (int i = 0; i < shim_ntests; i++) {
		shim_tests[i].fn();
		printf("[PASS] %s\n", shim_tests[i].name);
	}
	printf("Synthesis: Tested: %d | Passing: %d (TSan, in-process)\n", shim_ntests, shim_ntests);
	return 0;
}
#else
#include <criterion/criterion.h>
#endif

#endif
