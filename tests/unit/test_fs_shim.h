/* Criterion for the file-server unit tests, or under TSan an in-process
 * stand-in: Criterion 2.4.1 cannot start under TSan here (BoxFort's arena
 * lands in TSan's shadow range: "Could not initialize inheritable arena").
 * The TSan build runs the same Test() bodies one after the other, with
 * their suite's init/fini, aborting on the first failed assertion. */
#ifndef SHUNT_TEST_FS_SHIM_H
#define SHUNT_TEST_FS_SHIM_H
#ifdef __SANITIZE_THREAD__
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
struct fs_shim_suite {
	void (*init)(void);
	void (*fini)(void);
};
struct fs_shim_test {
	const char *name;
	void (*fn)(void);
	const struct fs_shim_suite *suite;
};
static struct fs_shim_test fs_shim_tests[64];
static int fs_shim_ntests;
static void fs_shim_fail(const char *what, const char *file, int line)
{
	fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, what);
	abort();
}
#define FS_SHIM_CHECK(c, what) do { if (!(c)) fs_shim_fail(what, __FILE__, __LINE__); } while (0)
#define TestSuite(s, ...) static const struct fs_shim_suite s##_suite = { __VA_ARGS__ }
#define Test(s, n, ...) \
	static void s##_##n(void); \
	__attribute__((constructor)) static void fs_shim_reg_##s##_##n(void) \
	{ fs_shim_tests[fs_shim_ntests++] = (struct fs_shim_test){ #s "::" #n, s##_##n, &s##_suite }; } \
	static void s##_##n(void)
#define cr_assert(c, ...)            FS_SHIM_CHECK((c), #c)
#define cr_assert_eq(a, b, ...)      FS_SHIM_CHECK((a) == (b), #a " == " #b)
#define cr_assert_neq(a, b, ...)     FS_SHIM_CHECK((a) != (b), #a " != " #b)
#define cr_assert_geq(a, b, ...)     FS_SHIM_CHECK((a) >= (b), #a " >= " #b)
#define cr_assert_null(p, ...)       FS_SHIM_CHECK((p) == NULL, #p " == NULL")
#define cr_assert_not_null(p, ...)   FS_SHIM_CHECK((p) != NULL, #p " != NULL")
#define cr_assert_str_eq(a, b, ...)  FS_SHIM_CHECK(!strcmp((a), (b)), #a " == " #b)
#define cr_log_warn(...)             fprintf(stderr, __VA_ARGS__)
int main(void)
{
	for (int i = 0; i < fs_shim_ntests; i++) {
		const struct fs_shim_test *t = &fs_shim_tests[i];
		if (t->suite->init)
			t->suite->init();
		t->fn();
		if (t->suite->fini)
			t->suite->fini();
		printf("[PASS] %s\n", t->name);
	}
	printf("Synthesis: Tested: %d | Passing: %d (TSan, in-process)\n", fs_shim_ntests, fs_shim_ntests);
	return 0;
}
#else
#include <criterion/criterion.h>
#endif
#endif
