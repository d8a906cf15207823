/* Turns far memory on when the configuration asks (far: auto|off|on|
 * required; auto means on only when the user set far_server or local_mem),
 * and keeps it correct across fork: the child gets every page the server
 * holds copied into plain local memory, with far memory off, while the
 * parent holds write-backs until the child is done. Called once from the
 * preload constructor (preload/malloc.c); with far memory off only the
 * fork handlers run, for jemalloc's sake. */
#include "far/far_internal.h"
#include "far/arena.h"
#include "far/anon.h"
#include "alloc/alloc.h"
#include "far/sites.h"
#include "common/atomics.h"
#include "common/config.h"
#include "common/init.h"
#include "common/log.h"
#include "common/stats.h"
#include "common/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

enum { FAR_AUTO = 0, FAR_OFF = 1, FAR_ON = 2, FAR_REQUIRED = 3 }; /* order of the choices in config.h */

static int fork_pipe[2] = { -1, -1 };

/* ---- fork ---- */

/* jemalloc's handlers are called from here, around far memory's: its locks
 * first (runtime/alloc/alloc.h says why). Registered whether far memory is
 * on or not. */
static void fork_prepare(void)
{
	alloc_fork_prepare();
	if (!far_enabled())
		return;
	long r = sys_call(SYS_pipe2, fork_pipe, O_CLOEXEC, 0, 0, 0, 0);
	if (r < 0)
		fork_pipe[0] = fork_pipe[1] = -1;
	far_region_fork(XPORT_FORK_PREPARE);
	pthread_rwlock_wrlock(&far.freeze); /* no write-back in flight or starting */
	xport_fork(far.xp, XPORT_FORK_PREPARE);
}

static void fork_parent(void)
{
	if (!far_enabled()) {
		alloc_fork_parent();
		return;
	}
	/* The child copies the server's pages through our connection: wait
	 * for its word (or its death) before using either again. */
	if (fork_pipe[0] >= 0) {
		sys_close(fork_pipe[1]);
		char c;
		long r;
		do
			r = sys_read(fork_pipe[0], &c, 1);
		while (r == -EINTR);
		sys_close(fork_pipe[0]);
	}
	xport_fork(far.xp, XPORT_FORK_PARENT);
	pthread_rwlock_unlock(&far.freeze);
	far_region_fork(XPORT_FORK_PARENT);
	alloc_fork_parent();
}

/* The child: one thread, a copy of the parent's memory, and a region that is
 * plain anonymous memory now (userfaultfd registrations do not survive
 * fork). Pages the parent had resident are here already; pages that lived
 * only on the server are copied in; far memory is then off here. */
static void fork_child(void)
{
	alloc_fork_child(); /* nothing below allocates, but the child may at once */
	if (!far_enabled())
		return;
	xport_fork(far.xp, XPORT_FORK_CHILD);
	far_region_fork(XPORT_FORK_CHILD);
	pthread_rwlock_init(&far.freeze, NULL);
	int failed = 0;
	enum { SCAN = 1024, BATCH = 64 };
	unsigned char vec[SCAN];
	struct xport_io io[BATCH];
	unsigned n = 0;
	uint64_t copied = 0;
	for (uint64_t base = 0; base < far.npages && !failed; base += SCAN) {
		uint64_t cnt = far.npages - base < SCAN ? far.npages - base : SCAN;
		int any = 0;
		for (uint64_t i = 0; i < cnt && !any; i++)
			any = (load_relaxed(&far.pflags[base + i]) & PG_REMOTE) != 0;
		if (!any)
			continue;
		if (sys_call(SYS_mincore, far.base + base * FAR_PAGE, cnt * FAR_PAGE, vec, 0, 0, 0))
			memset(vec, 0, sizeof(vec));
		for (uint64_t i = 0; i < cnt; i++) {
			uint64_t pg = base + i;
			if (!(load_relaxed(&far.pflags[pg]) & PG_REMOTE) || (vec[i] & 1))
				continue; /* never on the server, or the resident copy is newest */
			uint64_t ra;
			if (far_remote_addr(pg, 0, &ra)) {
				failed = -EFAULT;
				break;
			}
			io[n++] = (struct xport_io){ ra, far.base + pg * FAR_PAGE, FAR_PAGE };
			if (n == BATCH) {
				failed = xport_read(far.xp, io, n);
				copied += n;
				n = 0;
			}
		}
	}
	if (n && !failed) {
		failed = xport_read(far.xp, io, n);
		copied += n;
	}
	/* Far memory is off in this process from here on. */
	far_arena_off_in_child();
	far_anon_off_in_child();
	sys_close(far.uffd);
	far_child_forget();
	if (fork_pipe[1] >= 0) {
		sys_write(fork_pipe[1], "k", 1);
		sys_close(fork_pipe[1]);
		sys_close(fork_pipe[0]);
	}
	if (failed) {
		log_error("far memory: fork child could not copy the pages that live on shunt-memd at %s (error %d); "
			  "stopping it with SIGBUS rather than let it read zeros",
			  far.url, failed);
		sys_call(SYS_kill, sys_getpid(), SIGBUS, 0, 0, 0, 0);
	}
	log_debug("far memory: fork child copied %lu pages from the server; far memory is off in the child",
		  (unsigned long)copied);
}

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
	pthread_atfork(fork_prepare, fork_parent, fork_child);
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
