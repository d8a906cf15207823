/* Common start-up and exit for libshunt.so and the shunt programs. Runs in
 * the preload constructor (or the first interposed call, whichever is first):
 * no malloc, no stdio. */
#include "init.h"
#include "atomics.h"
#include "config.h"
#include "log.h"
#include "stats.h"
#include "sys.h"

#include <unistd.h>

extern char **environ;

static uint32_t init_state; /* 0 not started, 1 running, 2 done */
static void (*exit_fns[8])(void);
static unsigned nexit;
static uint32_t exit_done;

void shunt_common_init(void)
{
	uint32_t zero = 0;
	if (load_acquire(&init_state) == 2)
		return;
	if (!cas_acq_rel(&init_state, &zero, 1)) {
		while (load_acquire(&init_state) != 2)
			cpu_relax();
		return;
	}
	char err[256];
	if (config_load(environ, err, sizeof(err)))
		log_die("%s", err);
	log_level_current = (int)(cfg.log.num == 0 ? LOG_WARN : cfg.log.num == 1 ? LOG_ERROR : cfg.log.num);
	stats_init();
	store_release(&init_state, 2);
}

int shunt_common_ready(void)
{
	return load_acquire(&init_state) == 2;
}

void shunt_at_exit(void (*fn)(void))
{
	if (nexit < sizeof(exit_fns) / sizeof(exit_fns[0]))
		exit_fns[nexit++] = fn;
}

void shunt_run_exit(void)
{
	uint32_t zero = 0;
	if (!cas_acq_rel(&exit_done, &zero, 1))
		return;
	for (unsigned i = nexit; i-- > 0;)
		exit_fns[i]();
	stats_report();
}
