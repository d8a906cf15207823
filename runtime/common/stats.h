/* Counters (include/shunt/stats.h) and the exit report. stat_add() is a
 * plain add into the calling thread's own slot: no atomics on the hot path,
 * safe in signal handlers and fault paths. */
#ifndef SHUNT_RT_STATS_H
#define SHUNT_RT_STATS_H

#include <stdint.h>
#include "shunt/stats.h"

extern __thread struct shunt_stats_slot *stats_tls __attribute__((tls_model("initial-exec")));
struct shunt_stats_slot *stats_claim_slot(void);

static inline void stat_add(unsigned id, uint64_t n)
{
	struct shunt_stats_slot *s = stats_tls;
	if (__builtin_expect(!s, 0))
		s = stats_claim_slot();
	/* Only this thread writes its slot; readers tolerate torn sums. */
	__atomic_store_n(&s->v[id], s->v[id] + n, __ATOMIC_RELAXED);
}
#define STAT_INC(name) stat_add(SHUNT_STAT_##name, 1)
#define STAT_ADD(name, n) stat_add(SHUNT_STAT_##name, (n))

/* Create the memfd (or adopt the one an exec handed down); before this,
 * counts go to a private static slot. */
int stats_init(void);
/* Around an exec: let the file survive it (returns its fd, or -1), or undo. */
int stats_exec_prepare(void);
void stats_exec_abort(void);
int stats_exec_fd(void);
void stats_set_gauge_far_resident(uint64_t bytes);
uint64_t stats_sum(unsigned id);
const char *stats_name(unsigned id); /* NULL for unnamed slots */
/* Names of the per-op counters (fs_op_<name>), set by the fs client. */
void stats_set_op_names(const char *const *names, unsigned n);

/* Extra report sections (jump-switch sites, far-memory latency, top sites).
 * text() writes lines to fd; json() writes `"key": value` pairs, each
 * preceded by ",\n". At most 8 sections; no malloc. */
struct stats_section {
	void (*text)(int fd);
	void (*json)(int fd);
};
void stats_add_section(const struct stats_section *s);

/* Print or write the report as cfg.stats asks; called once at exit. */
void stats_report(void);
/* Helpers for sections: formatted write to an fd (log.h formats). */
void stats_printf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Latency histogram: 4 sub-buckets per power of two of nanoseconds. */
struct stats_hist {
	uint64_t bucket[256];
};
void hist_record(struct stats_hist *h, uint64_t ns);
uint64_t hist_percentile(const struct stats_hist *h, double p); /* ns; 0 if empty */
uint64_t hist_count(const struct stats_hist *h);

#endif
