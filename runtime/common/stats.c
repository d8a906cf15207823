/* Owns the "shunt-stats" memfd, hands out per-thread slots, and writes the
 * exit report (text table on stderr or JSON). Slot claiming and stat_add are
 * async-signal-safe; the report runs once at exit. */
#include "stats.h"
#include "config.h"
#include "log.h"
#include "sys.h"
#include "atomics.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

__thread struct shunt_stats_slot *stats_tls __attribute__((tls_model("initial-exec")));

static struct shunt_stats_file *stats_file;
static struct shunt_stats_slot early_slot; /* counts made before stats_init() */
static const char *const *op_names;
static unsigned op_count;
static struct stats_section sections[8];
static unsigned nsections;
/* A private copy of stderr: programs such as coreutils close fd 2 at exit,
 * before the report is written. */
static int report_fd = -1;

static const char *const counter_names[] = {
#define STAT_NAME(n) #n,
	SHUNT_STATS_COUNTERS(STAT_NAME)
#undef STAT_NAME
};

static int stats_fd = -1;
extern char **environ;

/* An exec keeps the pid: the new image goes on counting in the file the
 * old image handed down (SHUNT_INTERNAL_STATS_FD), if it is really this
 * process's. */
static struct shunt_stats_file *adopt_inherited(void)
{
	const char *v = NULL;
	for (char **e = environ; e && *e; e++)
		if (!strncmp(*e, "SHUNT_INTERNAL_STATS_FD=", 24))
			v = *e + 24;
	if (!v)
		return NULL;
	int fd = 0;
	for (; *v >= '0' && *v <= '9'; v++)
		fd = fd * 10 + (*v - '0');
	struct stat st;
	if (sys_call(SYS_fstat, fd, &st, 0, 0, 0, 0) < 0 || st.st_size != (off_t)sizeof(struct shunt_stats_file))
		return NULL;
	struct shunt_stats_file *f =
		sys_mmap(NULL, sizeof(*f), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (sys_mmap_failed(f))
		return NULL;
	if (f->magic != SHUNT_STATS_MAGIC || f->pid != (int32_t)sys_getpid()) {
		sys_munmap(f, sizeof(*f));
		return NULL;
	}
	sys_fcntl(fd, F_SETFD, FD_CLOEXEC);
	stats_fd = fd;
	return f;
}

int stats_exec_fd(void) { return stats_fd; }

int stats_exec_prepare(void)
{
	if (stats_fd >= 0)
		sys_fcntl(stats_fd, F_SETFD, 0);
	return stats_fd;
}

void stats_exec_abort(void)
{
	if (stats_fd >= 0)
		sys_fcntl(stats_fd, F_SETFD, FD_CLOEXEC);
}

int stats_init(void)
{
	if (stats_file)
		return 0;
	if (report_fd < 0) {
		long d = sys_fcntl(2, F_DUPFD_CLOEXEC, 800);
		report_fd = d >= 0 ? (int)d : 2;
	}
	struct shunt_stats_file *inh = adopt_inherited();
	if (inh) {
		store_release(&stats_file, inh);
		return 0;
	}
	long fd = sys_memfd_create("shunt-stats", MFD_CLOEXEC);
	if (fd < 0)
		return (int)fd;
	fd = sys_move_high((int)fd);
	if (sys_ftruncate_internal((int)fd, sizeof(struct shunt_stats_file)) < 0) {
		sys_close((int)fd);
		return -ENOMEM;
	}
	void *p = sys_mmap(NULL, sizeof(struct shunt_stats_file), PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, 0);
	if (sys_mmap_failed(p)) {
		sys_close((int)fd);
		return -ENOMEM;
	}
	/* The fd stays open so `shunt stats PID` can find the memfd in /proc/PID/fd. */
	stats_fd = (int)fd;
	struct shunt_stats_file *f = p;
	f->nstat = SHUNT_STAT_MAX;
	f->pid = (int32_t)sys_getpid();
	f->slot[0] = early_slot;
	f->nslots = 1;
	store_release(&f->magic, SHUNT_STATS_MAGIC);
	store_release(&stats_file, f);
	return 0;
}

/* After fork the child keeps the parent's mapping; give it its own file. */
void stats_after_fork_child(void);
void stats_after_fork_child(void)
{
	struct shunt_stats_file *old = stats_file;
	stats_file = NULL;
	stats_tls = NULL;
	memset(&early_slot, 0, sizeof(early_slot));
	if (old)
		sys_munmap(old, sizeof(*old));
	if (stats_fd >= 0)
		sys_close(stats_fd);
	stats_fd = -1;
	stats_init();
}

struct shunt_stats_slot *stats_claim_slot(void)
{
	struct shunt_stats_file *f = load_acquire(&stats_file);
	if (!f)
		return &early_slot; /* not cached: the thread retries once the file exists */
	uint32_t n = fetch_add_acq_rel(&f->nslots, 1);
	if (n >= SHUNT_STATS_SLOTS) {
		/* Pool exhausted: share slot 0; sums stay right up to torn adds. */
		stats_tls = &f->slot[0];
		return stats_tls;
	}
	stats_tls = &f->slot[n];
	return stats_tls;
}

uint64_t stats_sum(unsigned id)
{
	struct shunt_stats_file *f = load_acquire(&stats_file);
	if (!f)
		return early_slot.v[id];
	uint32_t n = load_acquire(&f->nslots);
	if (n > SHUNT_STATS_SLOTS)
		n = SHUNT_STATS_SLOTS;
	uint64_t s = 0;
	for (uint32_t i = 0; i < n; i++)
		s += load_relaxed(&f->slot[i].v[id]);
	return s;
}

void stats_set_gauge_far_resident(uint64_t bytes)
{
	if (stats_file)
		store_relaxed(&stats_file->gauge_far_resident_bytes, bytes);
}

void stats_set_op_names(const char *const *names, unsigned n)
{
	op_names = names;
	op_count = n < 64 ? n : 64;
}

const char *stats_name(unsigned id)
{
	if (id < SHUNT_STAT_FS_OP_BASE)
		return counter_names[id];
	if (id - SHUNT_STAT_FS_OP_BASE < op_count)
		return op_names[id - SHUNT_STAT_FS_OP_BASE];
	return NULL;
}

void stats_add_section(const struct stats_section *s)
{
	if (nsections < sizeof(sections) / sizeof(sections[0]))
		sections[nsections++] = *s;
}

/* The JSON report is gathered here and written with one write(2), so the
 * objects of processes sharing one path never interleave. */
#define STATS_BUF_FD (-100)
static char *json_buf;
static size_t json_len, json_cap;

void stats_printf(int fd, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	size_t n = log_vformat(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (fd == STATS_BUF_FD) {
		if (json_buf && json_len + n <= json_cap) {
			memcpy(json_buf + json_len, buf, n);
			json_len += n;
		}
		return;
	}
	for (size_t off = 0; off < n;) {
		long w = sys_write(fd, buf + off, n - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

static uint64_t counter_value(unsigned id)
{
	if (id == SHUNT_STAT_far_resident_bytes && stats_file)
		return load_relaxed(&stats_file->gauge_far_resident_bytes);
	return stats_sum(id);
}

static void report_text(int fd)
{
	stats_printf(fd, "shunt stats (pid %d)\n", (int)sys_getpid());
	for (unsigned id = 0; id < SHUNT_STAT_MAX; id++) {
		const char *name = stats_name(id);
		uint64_t v = counter_value(id);
		if (!name || (id >= SHUNT_STAT_FS_OP_BASE && !v))
			continue;
		if (id >= SHUNT_STAT_FS_OP_BASE)
			stats_printf(fd, "  fs_op_%-24s %llu\n", name, (unsigned long long)v);
		else
			stats_printf(fd, "  %-30s %llu\n", name, (unsigned long long)v);
	}
	for (unsigned i = 0; i < nsections; i++)
		if (sections[i].text)
			sections[i].text(fd);
}

static void report_json(int fd)
{
	stats_printf(fd, "{\n  \"pid\": %d", (int)sys_getpid());
	for (unsigned id = 0; id < SHUNT_STAT_FS_OP_BASE; id++)
		stats_printf(fd, ",\n  \"%s\": %llu", counter_names[id], (unsigned long long)counter_value(id));
	stats_printf(fd, ",\n  \"fs_op_counts\": {");
	int first = 1;
	for (unsigned i = 0; i < op_count; i++) {
		stats_printf(fd, "%s\"%s\": %llu", first ? "" : ", ", op_names[i],
			     (unsigned long long)stats_sum(SHUNT_STAT_FS_OP_BASE + i));
		first = 0;
	}
	stats_printf(fd, "}");
	for (unsigned i = 0; i < nsections; i++)
		if (sections[i].json)
			sections[i].json(fd);
	stats_printf(fd, "\n}\n");
}

void stats_report(void)
{
	const char *mode = cfg.stats.str;
	if (!mode[0] || !strcmp(mode, "0"))
		return;
	if (!strncmp(mode, "json:", 5)) {
		/* Several processes may share one path (a pipeline, fork, exec):
		 * each appends its own object in one write, so the file is a
		 * sequence of whole JSON objects, one per process. */
		json_cap = 4 << 20;
		json_buf = sys_mmap(NULL, json_cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (sys_mmap_failed(json_buf))
			return;
		json_len = 0;
		report_json(STATS_BUF_FD);
		long fd = sys_openat(AT_FDCWD, mode + 5, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0) {
			log_error("cannot write stats to %s: errno %d", mode + 5, (int)-fd);
			return;
		}
		/* The program's file-size limit is not ours to trip: with SIGXFSZ
		 * blocked an oversized report fails with EFBIG instead. */
		uint64_t block = 1ull << (SIGXFSZ - 1), old = 0;
		sys_call(SYS_rt_sigprocmask, SIG_BLOCK, &block, &old, 8, 0, 0);
		sys_write((int)fd, json_buf, json_len);
		sys_close((int)fd);
		sys_call(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, 8, 0, 0);
		return;
	}
	/* A text table from every process of a pipeline or a wrapper script is
	 * noise: print it only for processes that used shunt. */
	for (unsigned id = 0; id < SHUNT_STAT_MAX; id++)
		if (counter_value(id)) {
			report_text(report_fd >= 0 ? report_fd : 2);
			return;
		}
}

/* 4 sub-buckets per octave: bucket = 4*log2(ns) + next two bits. */
static unsigned hist_index(uint64_t ns)
{
	if (ns < 4)
		return (unsigned)ns;
	unsigned lg = 63u - (unsigned)__builtin_clzll(ns);
	unsigned sub = (unsigned)(ns >> (lg - 2)) & 3u;
	unsigned idx = lg * 4 + sub;
	return idx < 256 ? idx : 255;
}

static uint64_t hist_value(unsigned idx)
{
	if (idx < 4)
		return idx;
	unsigned lg = idx / 4, sub = idx % 4;
	return ((uint64_t)(4 + sub)) << (lg - 2);
}

void hist_record(struct stats_hist *h, uint64_t ns)
{
	fetch_add_relaxed(&h->bucket[hist_index(ns)], 1);
}

uint64_t hist_count(const struct stats_hist *h)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < 256; i++)
		n += load_relaxed(&h->bucket[i]);
	return n;
}

uint64_t hist_percentile(const struct stats_hist *h, double p)
{
	uint64_t total = hist_count(h);
	if (!total)
		return 0;
	uint64_t want = (uint64_t)(p * (double)total);
	if (want >= total)
		want = total - 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < 256; i++) {
		seen += load_relaxed(&h->bucket[i]);
		if (seen > want)
			return hist_value(i);
	}
	return hist_value(255);
}
