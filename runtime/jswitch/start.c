/* Start-up, modes and fork for jump switches. Start-up runs from the image's
 * constructor with raw system calls only (see area.c, sync.c); the worker
 * thread is the first thing that uses libc threads. SHUNT_JSW=off never maps
 * anything: every slot keeps its cold entry, a plain retpoline. */
#include "jsw.h"
#include "../common/init.h"
#include "../common/config.h"
#include "../common/log.h"
#include "../common/stats.h"
#include "../common/atomics.h"

#include <errno.h>
#include <pthread.h>
#include <unistd.h>

extern char **environ;

enum jsw_mode jsw_mode_current = JSW_OFF;
/* jsw_defer_until_wanted(): the constructor leaves `on` for jsw_wanted(). */
enum { DEFER_NO, DEFER_WAIT, DEFER_STARTED };
static unsigned defer_state;
static unsigned period_current;
static int registered;   /* one-time work done (indices, atfork, report) */
static int slots_mapped; /* the image's slot pages are the memfd copy */

void jsw_worker_fork_child(void);

static unsigned nsites_used(void)
{
	unsigned n = jsw_nsites();
	return n > SHUNT_JSW_MAX_SITES ? SHUNT_JSW_MAX_SITES : n;
}

static int snapshot_ok;
static int restart_pending;
static void atfork_prepare(void)
{
	jsw_lock();
	snapshot_ok = jsw_area_fork_prepare() == 0;
}
static void atfork_parent(void) { jsw_unlock(); }
static void atfork_child(void)
{
	/* Only this thread exists now; the worker did not come along. */
	jsw_worker_fork_child();
	if (!slots_mapped)
		return;
	/* Until the remap below our slots are the parent's, which
	 * its worker may rewrite: nothing may call a site before this handler
	 * (it is registered at start-up, ahead of the program's own). */
	if (!snapshot_ok || jsw_area_fork_child() < 0) {
		log_warn("jump switches: no private trampolines after fork; sites frozen as they are");
		jsw_mode_current = JSW_OFF;
		return;
	}
	jsw_sync_register();
	restart_pending = jsw_mode_current == JSW_ON;
}

/* The worker comes back in a second child handler, registered by the
 * worker itself once the program runs: child handlers run in registration
 * order, so by then the allocator's own handlers (glibc, jemalloc) have
 * made malloc usable again for pthread_create. A program that forks before
 * that keeps the parent's chains in the child, frozen (still correct). */
static void atfork_child_restart(void)
{
	if (!restart_pending)
		return;
	restart_pending = 0;
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
	/* TSan forbids threads after a multi-threaded fork; GCC 12's ASan
	 * allocator may be left locked by another parent thread. */
	return;
#else
	jsw_worker_start(period_current);
#endif
}

void jsw_register_restart(void)
{
	static int done;
	if (!done) {
		done = 1;
		pthread_atfork(NULL, NULL, atfork_child_restart);
	}
}

static void at_exit_account(void)
{
	uint64_t d[JSW_CTR_PER_SITE];
	jsw_lock();
	for (unsigned i = 0; i < nsites_used(); i++)
		jsw_state_account(i, d);
	jsw_unlock();
}

void jsw_register_fork(void)
{
	static int done;
	if (!done) {
		done = 1;
		pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	}
}

/* jsw_sites: the image's sites, whether or not they ever start. */
static void count_sites_once(void)
{
	static int counted;
	if (!counted) {
		counted = 1;
		STAT_ADD(jsw_sites, jsw_nsites());
	}
}

static void register_once(void)
{
	unsigned n = jsw_nsites();
	if (registered)
		return;
	registered = 1;
	for (unsigned i = 0; i < n; i++) {
		__start_shunt_jsw_sites[i].idx = i;
		if (i < SHUNT_JSW_MAX_SITES)
			jsw_states[i].quiet = 1; /* copies A and B never ran */
	}
	if (n > SHUNT_JSW_MAX_SITES)
		log_warn("jump switches: %u sites, only the first %u are patched", n, SHUNT_JSW_MAX_SITES);
	count_sites_once();
	jsw_register_fork();
	shunt_at_exit(at_exit_account);
	jsw_report_register();
}

/* Everything a patched site needs; once per process (fork copies it). */
static int map_once(void)
{
	int r;
	if (slots_mapped)
		return 0;
	if ((r = jsw_sync_register()) < 0)
		return r;
	if (!jsw_sync.have_rseq)
		return -ENOSYS; /* nothing could ever be patched: map nothing */
	if ((r = jsw_counters_init()) < 0 || (r = jsw_area_init()) < 0)
		return r;
	for (unsigned i = 0; i < nsites_used(); i++) {
		struct shunt_jsw_site *s = &__start_shunt_jsw_sites[i];
		jsw_emit_slot(s);
	}
	if ((r = jsw_area_map_slots()) < 0)
		return r;
	slots_mapped = 1;
	return 0;
}

static int start_locked(enum jsw_mode mode)
{
	unsigned n = nsites_used();
	if (!n)
		return 0;
	if (mode == JSW_OFF) {
		if (slots_mapped)
			for (unsigned i = 0; i < n; i++)
				jsw_state_install(i, JSW_SITE_COLD, NULL);
		jsw_state_settle();
		return 0;
	}
	if (jsw_sync_emulated()) {
		/* Info, not a warning: under TCG every program would print it
		 * (shunt-memd, the tools whose output tests parse). */
		static int told;
		if (!told++)
			log_info("jump switches: running under QEMU's software emulation (TCG), whose code cache does "
				 "not honour x86 cross-modifying code rules: sites stay plain retpolines");
		start_locked(JSW_OFF);
		return -EOPNOTSUPP;
	}
	int r = map_once();
	if (r == -ENOSYS) {
		log_warn("jump switches: no rseq (glibc.pthread.rseq=0?): a replaced copy could never be proven "
			 "unreachable, so sites stay plain retpolines");
		return r;
	}
	if (r < 0) {
		log_warn("jump switches: cannot map the trampoline area (errno %d): sites stay plain retpolines", -r);
		return r;
	}
	/* Back to a clean profile: cold first, so no chain counts into the
	 * counters being cleared, then the mode's first chain. A process
	 * starting up has every site cold and quiet already, and takes the
	 * batched path (one serialisation instead of two barriers a site). */
	struct jsw_chain_spec learn_all = { .n = 0, .learn = 1 };
	enum jsw_site_mode first = mode == JSW_LEARN ? JSW_SITE_LEARN : JSW_SITE_PROFILE;
	int fresh = 1;
	for (unsigned i = 0; i < n; i++)
		fresh &= jsw_states[i].active == JSW_COPY_COLD && jsw_states[i].quiet;
	if (!fresh) {
		for (unsigned i = 0; i < n; i++)
			jsw_state_install(i, JSW_SITE_COLD, NULL);
		jsw_state_settle();
	}
	jsw_counters_reset();
	jsw_state_reset_all();
	if (jsw_state_install_fresh(first, &learn_all) == 0)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		r = jsw_state_install(i, first, &learn_all);
		if (r < 0)
			return r;
	}
	jsw_state_settle();
	return 0;
}

int jsw_start(enum jsw_mode mode, unsigned period_ms)
{
	shunt_common_init();
	jsw_worker_stop();
	jsw_lock();
	register_once();
	int r = start_locked(mode);
	jsw_mode_current = r < 0 ? JSW_OFF : mode;
	period_current = period_ms;
	jsw_unlock();
	/* No sites, no thread: an image without any stays single-threaded. */
	if (r == 0 && mode == JSW_ON && nsites_used())
		r = jsw_worker_start(period_ms);
	return r;
}

void jsw_stop(void)
{
	jsw_start(JSW_OFF, period_current);
}

void jsw_start_from_config(void)
{
	/* The image's constructor runs this in every program linked with the
	 * runtime (shuntd too), before the program's own start-up. A bad
	 * configuration is the program's to report (shunt_common_init() stops
	 * it with a message); here it only means "stay cold". */
	if (!shunt_common_ready()) {
		char err[256];
		if (config_load(environ, err, sizeof(err)) < 0)
			return;
	}
	shunt_common_init();
	enum jsw_mode mode = (enum jsw_mode)cfg.jsw.num;
	/* A deferring image (libshunt.so) waits with `on` until shunt is in
	 * use: until then its sites stay cold and it starts no thread. */
	if (mode == JSW_ON && load_relaxed(&defer_state) == DEFER_WAIT) {
		count_sites_once();
		return;
	}
	if (load_relaxed(&defer_state) == DEFER_STARTED)
		return; /* jsw_wanted() came first (far memory's constructor) */
	/* off maps nothing and starts nothing: every slot stays cold. */
	jsw_start(mode, (unsigned)cfg.jsw_period.num);
}

void jsw_defer_until_wanted(void)
{
	unsigned expected = DEFER_NO;
	cas_acq_rel(&defer_state, &expected, DEFER_WAIT);
}

void jsw_wanted(unsigned uses)
{
	static unsigned long seen;
	unsigned expected = DEFER_WAIT;
	if (__builtin_expect(load_relaxed(&defer_state) != DEFER_WAIT, 1))
		return;
	if (fetch_add_relaxed(&seen, 1) + 1 < uses)
		return;
	if (!cas_acq_rel(&defer_state, &expected, DEFER_STARTED))
		return; /* another thread starts it */
	if (shunt_common_ready() && cfg.jsw.num == JSW_ON)
		jsw_start(JSW_ON, (unsigned)cfg.jsw_period.num);
}
