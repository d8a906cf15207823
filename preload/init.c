/* libshunt.so's constructor and destructor: start every mechanism once the
 * dynamic loader has finished, and write the stats report at exit. */
#include "preload.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "common/init.h"
#include "common/crash.h"
#include "jswitch/jsw.h"

__attribute__((constructor(101))) static void shunt_preload_init(void)
{
	/* First: the jump switches' fork child handler must run before any
	 * other that calls through a site (far memory's, the file client's);
	 * and they start only once the program uses shunt (jsw_wanted). */
	jsw_register_fork();
	jsw_defer_until_wanted();
	fsc_client_init();
	shunt_at_exit(fsc_client_exit);
	crash_init((const void *)shunt_preload_init);
}

__attribute__((destructor)) static void shunt_preload_fini(void)
{
	/* stdio flushes after destructors: write redirected streams out now,
	 * while their fds still work. */
	fflush(NULL);
	shunt_run_exit();
}

/* Programs that leave with _exit() (dash, forked children) run no
 * destructors: write the report there too. Only raw system calls run. */
SHUNT_EXPORT void _exit(int status)
{
	shunt_run_exit();
	REAL(_exit)(status);
	__builtin_unreachable();
}

SHUNT_EXPORT void _Exit(int status)
{
	shunt_run_exit();
	REAL(_Exit)(status);
	__builtin_unreachable();
}
