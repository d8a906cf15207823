/* Turns far memory on when the configuration asks (far: auto|off|on|
 * required; auto means on only when the user set far_server or local_mem),
 * registers the fork handlers (fork.c) and far memory's stats report.
 * Called once from the preload constructor (preload/malloc.c); with far
 * memory off only the fork handlers run, for jemalloc's sake. */
#include "far/far_internal.h"
#include "far/arena.h"
#include "far/anon.h"
#include "far/sites.h"
#include "common/config.h"
#include "common/init.h"
#include "common/log.h"
#include "common/stats.h"

#include <pthread.h>
#include <string.h>

enum { FAR_AUTO = 0, FAR_OFF = 1, FAR_ON = 2, FAR_REQUIRED = 3 }; /* order of the choices in config.h */

/* ---- report ---- */

static void report_text(int fd)
{
	far_sites_text(fd);
	struct far_counts c;
	far_get_counts(&c);
	stats_printf(fd, "far memory: transport %s\n", far.xp ? far.xp->ops->scheme : "none (fork child)");
	stats_printf(fd, "far memory: resident %lu/%lu pages; handler service time p50/p99: zero-fill %lu/%lu ns, remote %lu/%lu ns\n",
		     (unsigned long)c.resident_pages, (unsigned long)c.capacity_pages, (unsigned long)c.zero_p50_ns,
		     (unsigned long)c.zero_p99_ns, (unsigned long)c.remote_p50_ns, (unsigned long)c.remote_p99_ns);
}

static void report_json(int fd)
{
	struct far_counts c;
	far_get_counts(&c);
	stats_printf(fd, ",\n  \"far_transport\": \"%s\"", far.xp ? far.xp->ops->scheme : "none (fork child)");
	stats_printf(fd, ",\n  \"far_fault_zero_p50_ns\": %lu,\n  \"far_fault_zero_p99_ns\": %lu", (unsigned long)c.zero_p50_ns,
		     (unsigned long)c.zero_p99_ns);
	stats_printf(fd, ",\n  \"far_fault_remote_p50_ns\": %lu,\n  \"far_fault_remote_p99_ns\": %lu",
		     (unsigned long)c.remote_p50_ns, (unsigned long)c.remote_p99_ns);
	stats_printf(fd, ",\n  \"far_faults_wp\": %lu,\n  \"far_capacity_pages\": %lu", (unsigned long)c.faults_wp,
		     (unsigned long)c.capacity_pages);
	far_sites_json(fd);
}

static const struct stats_section far_section = { report_text, report_json };

/* ---- start-up ---- */

void far_setup_from_config(void)
{
	shunt_common_init();
	pthread_atfork(far_fork_prepare, far_fork_parent, far_fork_child);
	uint64_t mode = cfg.far.num;
	int on = mode == FAR_ON || mode == FAR_REQUIRED ||
		 (mode == FAR_AUTO && (cfg.far_server.set || cfg.local_mem.set));
	if (!on)
		return;
	struct far_params p = { .region_size = cfg.far_size.num, .local_mem = cfg.local_mem.num,
				.server = cfg.far_server.str, .no_prefetch = !cfg.far_prefetch.num,
				.no_zero_map = !cfg.far_zero_map.num };
	char err[256] = "";
	int r = far_init(&p, err, sizeof(err));
	if (!r)
		r = far_arena_init(cfg.far_min.num, err, sizeof(err));
	if (!r && (r = far_anon_init(cfg.far_min.num)))
		log_format(err, sizeof(err), "cannot map the far mapping table");
	if (r) {
		if (mode == FAR_REQUIRED)
			log_die("far memory is required (SHUNT_FAR=required) but cannot start: %s", err);
		log_warn("far memory is off: %s", err);
		if (far_enabled())
			far_shutdown();
		return;
	}
	stats_add_section(&far_section);
	/* Allocation sites cost an unwind per sampled far allocation: only
	 * when a report will show them. */
	if (cfg.stats.str[0] && strcmp(cfg.stats.str, "0"))
		far_sites_init();
}
