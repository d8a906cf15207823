/* The jump-switch sites through which interposers reach libc (the list is
 * real.h) and their one-time lookup. Lookup only: never called on a path
 * that has not already missed its site's variable. */
#include "real.h"

#include <dlfcn.h>

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#define SHUNT_REAL_DEFINE(name) SHUNT_JSW_VAR_SITE_DEFINE(real_##name, __typeof__(name));
SHUNT_REAL_FUNCS(SHUNT_REAL_DEFINE)

void shunt_real_resolve(void **var, const char *name)
{
	/* Racing threads store the same address. */
	__atomic_store_n(var, dlsym(RTLD_NEXT, name), __ATOMIC_RELAXED);
}
