/* Driver for tests/integration/jswitch_crash.sh: learns one site, then
 * executes an int3 of its slot's padding (the end of copy A), as a thread
 * sent to a stale or half-written copy would. The crash report must name
 * the site, the part of the slot and its state; the process must still die
 * of SIGTRAP. argv[1] "segv" jumps to an address outside the slot pages
 * instead, whose report carries no jump-switch section. */
#include "shunt/jswitch.h"
#include "jswitch/jsw.h"
#include "common/crash.h"
#include "common/init.h"

#include <stdio.h>
#include <string.h>

SHUNT_JSW_SITE(h_crash, long, 2, long, long);

__attribute__((noinline)) static long h_a(long x, long y) { return x * 31 + y; }

int main(int argc, char **argv)
{
	const struct shunt_jsw_site *s = SHUNT_JSW_SITE_DESC(h_crash);
	shunt_common_init();
	crash_init((const void *)main);
	if (jsw_start(JSW_ON, 1000)) {
		fprintf(stderr, "jsw_crash: jsw_start failed\n");
		return 2;
	}
	jsw_worker_stop();
	for (int pass = 0; pass < 3; pass++) {
		for (long i = 0; i < 1000; i++)
			if (SHUNT_JSW_CALL(h_crash, h_a, i, 1) != h_a(i, 1))
				return 3;
		jsw_update_now();
	}
	if (jsw_site_mode_of(s) != JSW_SITE_STEADY) {
		fprintf(stderr, "jsw_crash: the site did not learn\n");
		return 4;
	}
	const unsigned char *end_of_a = (const unsigned char *)s->slot + JSW_SLOT_B - 1;
	if (*end_of_a != 0xcc) {
		fprintf(stderr, "jsw_crash: copy A is not padded with int3\n");
		return 5;
	}
	fflush(stderr);
	void (*go)(void) = argc > 1 && !strcmp(argv[1], "segv") ? (void (*)(void))8 : (void (*)(void))end_of_a;
	go();
	fprintf(stderr, "jsw_crash: survived\n");
	return 6;
}
