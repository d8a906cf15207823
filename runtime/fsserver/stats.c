/* shuntd's counters: each poller counts into its own struct fs_counters
 * (plain adds, no atomics); the report sums them. Printed on SIGUSR1 and at
 * exit. Uses the log formatter: no stdio, no malloc. */
#include "fsserver.h"
#include "common/atomics.h"
#include "common/log.h"
#include "common/stats.h"

#include <unistd.h>

static void put(int fd, const char *fmt, unsigned long long v, const char *name)
{
	char buf[160];
	size_t n = name ? log_format(buf, sizeof(buf), fmt, name, v) : log_format(buf, sizeof(buf), fmt, v);
	if (write(fd, buf, n) < 0)
		return;
}

void fs_stats_print(int fd)
{
	struct fs_counters sum = { 0 };
	for (unsigned i = 0; i < fs_npollers; i++) {
		/* Racy reads of other threads' plain counters: a report may be
		 * a few commands behind, never torn on x86-64 aligned words. */
		const struct fs_counters *c = &fs_pollers[i].cnt;
		for (unsigned op = 0; op < SHUNT_OP_COUNT; op++)
			sum.ops[op] += READ_ONCE(c->ops[op]);
		sum.bad += READ_ONCE(c->bad);
		sum.dropped_sessions += READ_ONCE(c->dropped_sessions);
		sum.cq_dropped += READ_ONCE(c->cq_dropped);
		sum.sleeps += READ_ONCE(c->sleeps);
		sum.wakeups += READ_ONCE(c->wakeups);
	}
	uint64_t total = 0;
	for (unsigned op = 0; op < SHUNT_OP_COUNT; op++)
		total += sum.ops[op];
	char head[96];
	size_t n = log_format(head, sizeof(head), "shuntd stats (pid %d)\n", (int)getpid());
	if (write(fd, head, n) < 0)
		return;
	put(fd, "  %s %llu\n", total, "fs_ops");
	for (unsigned op = 0; op < SHUNT_OP_COUNT; op++)
		if (sum.ops[op])
			put(fd, "  fs_op_%s %llu\n", sum.ops[op], fs_op_names[op]);
	put(fd, "  %s %llu\n", sum.bad, "bad_commands");
	put(fd, "  %s %llu\n", sum.dropped_sessions, "dropped_sessions");
	put(fd, "  %s %llu\n", sum.cq_dropped, "completions_dropped");
	put(fd, "  %s %llu\n", load_relaxed(&fs_stat_sessions_total), "sessions");
	put(fd, "  %s %llu\n", sum.sleeps, "poller_sleeps");
	put(fd, "  %s %llu\n", load_relaxed(&fs_cache_bytes), "cache_bytes");
	put(fd, "  %s %llu\n", load_relaxed(&fs_pc_stats.hits), "path_cache_hits");
	put(fd, "  %s %llu\n", load_relaxed(&fs_pc_stats.misses), "path_cache_misses");
}
