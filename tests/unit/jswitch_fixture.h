/* Shared by the jump-switch tests: targets whose results name them, and
 * sites with 0 to 6 parameters (every place the target can travel). */
#ifndef TEST_JSWITCH_FIXTURE_H
#define TEST_JSWITCH_FIXTURE_H

#include "shunt/jswitch.h"
#include "jswitch/jsw.h"

#define NFN 8
#define MIX(k, a, b) ((long)(a) * 1315423911L + (long)(b) * 2654435761L + (long)(k) * 1000003L)

#define DEF_FN(k) \
	__attribute__((noinline)) static long fn2_##k(long a, long b) { __asm__ volatile(""); return MIX(k, a, b); }
DEF_FN(0) DEF_FN(1) DEF_FN(2) DEF_FN(3) DEF_FN(4) DEF_FN(5) DEF_FN(6) DEF_FN(7)
typedef long (*fn2_t)(long, long);
static fn2_t const fn2[NFN] = { fn2_0, fn2_1, fn2_2, fn2_3, fn2_4, fn2_5, fn2_6, fn2_7 };

#endif
