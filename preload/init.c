/* libshunt.so's constructor and destructor: start every mechanism once the
 * dynamic loader has finished, and write the stats report at exit. */
#include "preload.h"
#include "common/init.h"
#include "common/crash.h"

__attribute__((constructor(101))) static void shunt_preload_init(void)
{
	fsc_client_init();
	crash_init((const void *)shunt_preload_init);
}

__attribute__((destructor)) static void shunt_preload_fini(void)
{
	shunt_run_exit();
}
