/* Driver for tests/integration/jswitch_modes.sh: runs one site under the
 * mode SHUNT_JSW set at start-up (argv[1] says which to expect), checks
 * every result and what the slot runs, then writes the stats report. */
#include "shunt/jswitch.h"
#include "jswitch/jsw.h"
#include "common/init.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

SHUNT_JSW_SITE(h_site, long, 2, long, long);

__attribute__((noinline)) static long h_a(long x, long y) { return x * 31 + y; }
__attribute__((noinline)) static long h_b(long x, long y) { return x * 37 - y; }

static int calls(long (*f)(long, long), int n)
{
	for (long i = 0; i < n; i++)
		if (SHUNT_JSW_CALL(h_site, f, i, 5) != f(i, 5))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	const struct shunt_jsw_site *s = SHUNT_JSW_SITE_DESC(h_site);
	const char *want = argc > 1 ? argv[1] : "on";
	shunt_common_init(); /* as every shunt program does: a bad key stops it here */
	if (calls(h_a, 1000) || calls(h_b, 10))
		return fprintf(stderr, "wrong result\n"), 1;
	if (!strcmp(want, "off")) {
		/* Nothing mapped: the slot is still the image's one jmp. */
		if (jsw_area.ready || ((const unsigned char *)s->slot)[0] != 0xe9)
			return fprintf(stderr, "off mode touched the slot\n"), 1;
	} else if (!strcmp(want, "learn")) {
		if (jsw_site_mode_of(s) != JSW_SITE_LEARN)
			return fprintf(stderr, "not learning\n"), 1;
	} else {
		for (int i = 0; i < 500 && jsw_site_mode_of(s) != JSW_SITE_STEADY; i++) {
			if (calls(h_a, 1000))
				return 1;
			usleep(2000);
		}
		if (jsw_site_mode_of(s) != JSW_SITE_STEADY)
			return fprintf(stderr, "never learned (mode %d)\n", (int)jsw_site_mode_of(s)), 1;
		/* Long enough for several passes: steady chains count their hits
		 * one pass in jsw_tune.sample_every. */
		for (int i = 0; i < 100; i++) {
			if (calls(h_a, 10000) || calls(h_b, 10))
				return fprintf(stderr, "wrong result\n"), 1;
			usleep(1000);
		}
	}
	printf("ok %s\n", want);
	shunt_run_exit();
	return 0;
}
