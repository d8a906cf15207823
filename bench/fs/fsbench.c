/* fsbench: the file-I/O benchmark, one program for every peer. It runs the
 * workloads of issue 2 on one directory (native, a FUSE mount, or /shunt-bench
 * under LD_PRELOAD=libshunt.so, unmodified) through plain system calls or
 * io_uring at queue depth 1, and prints one TSV row per workload and thread
 * count. Called by bench/fs/run. It links nothing of shunt's and must never
 * depend on it: under shunt it is exactly the program users would run.
 *
 * Expected in DIR: read.dat (any size >= 1 MiB, a multiple of 1 MiB),
 * write.dat (preallocated, >= 4 KiB), small/f000 .. small/fNNN (--nsmall).
 *
 * Latency is one clock_gettime per operation (the gap between consecutive
 * stamps, so loop overhead of a few ns is included); client CPU is
 * getrusage(RUSAGE_SELF) over the measured phase minus in-process "server"
 * threads (io_uring SQPOLL threads); server CPU is utime+stime from
 * /proc/PID/stat of the named server processes, sampled before and after. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum io_mode { IO_SYNC, IO_URING, IO_SQPOLL };
static const char *const io_names[] = { [IO_SYNC] = "sync", [IO_URING] = "uring", [IO_SQPOLL] = "sqpoll" };

enum workload { WL_READ4K, WL_READ64, WL_SEQ1M, WL_OPENSTAT, WL_FSTAT, WL_WRITE4K, WL_READ4K_HOT, WL_COUNT };
static const char *const wl_names[WL_COUNT] = {
	[WL_READ4K] = "read4k", [WL_READ64] = "read64", [WL_SEQ1M] = "seq1m",
	[WL_OPENSTAT] = "openstat", [WL_FSTAT] = "fstat", [WL_WRITE4K] = "write4k",
	[WL_READ4K_HOT] = "read4k-hot", /* the same on hot.dat (1 MiB): a cache-resident working set */
};

#define MIB (1024 * 1024)
#define SQPOLL_SPIN_NS 20000
#define MAX_THREADS 16
#define MAX_SERVERS 16
#define LAT_CAP_DEFAULT (4u * 1024 * 1024) /* samples per thread; the phase ends early when full */

struct opts {
	const char *dir, *peer;
	enum io_mode io;
	bool wl[WL_COUNT];
	int threads[MAX_THREADS], nthreads_list;
	double secs, warm_secs;
	long ops, warm_ops;	/* ops > 0: exactly this many measured ops per thread (for syscall counting) */
	int nsmall;
	char *server_comm[MAX_SERVERS];
	int nserver_comm;
	pid_t server_pid[MAX_SERVERS];
	int nserver_pid;
	bool header;
	size_t lat_cap;
};

static struct opts o = {
	.io = IO_SYNC, .secs = 0.5, .warm_secs = 0.1, .warm_ops = 256, .nsmall = 64,
	.lat_cap = LAT_CAP_DEFAULT,
};

/* One workload at one thread count. Phases, separated by `bar` (workers + main):
 * setup | warm-up | main samples CPU and sets t_end | measured | main samples CPU. */
struct job {
	enum workload wl;
	int nthreads;
	pthread_barrier_t bar;
	uint64_t t_end;		/* written by main before the barrier that starts the measured phase */
	char **small_paths;
	struct io_uring rings[MAX_THREADS];
	bool rings_ok;
};

struct worker {
	pthread_t th;
	int idx;
	struct job *job;
	int fd;
	char *buf;
	uint32_t *lat;
	size_t n;
	uint64_t rng, seqpos, fsize, t_start, t_stop;
	char err[256];
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static void set_err(struct worker *w, const char *what, int err)
{
	/* A truncated message is fine; using the result tells gcc we know. */
	if (!w->err[0] && snprintf(w->err, sizeof(w->err), "%s: %s", what, strerror(err)) < 0)
		w->err[0] = 0;
}

/* ---- io_uring at queue depth 1 ---- */

/* Submit the one prepared SQE and wait for its completion. Without SQPOLL that
 * is one io_uring_enter; with SQPOLL the submit needs no system call while the
 * poller is awake and we spin on the CQ tail, as a polled peer should. */
static int uring_run(struct io_uring *r, bool sqpoll)
{
	struct io_uring_cqe *cqe;
	int ret;
	if (sqpoll) {
		uint64_t t0 = now_ns();
		ret = io_uring_submit(r);
		if (ret < 0)
			return ret;
		/* Spin ~20 us, then sleep in io_uring_enter(GETEVENTS): a client that
		 * never yields starves a poller that shares its CPU for a whole tick. */
		for (unsigned spins = 0; !io_uring_cq_ready(r); spins++) {
			__builtin_ia32_pause();
			if ((spins & 255) == 255 && now_ns() - t0 > SQPOLL_SPIN_NS)
				break;
		}
		ret = io_uring_wait_cqe(r, &cqe);
	} else {
		ret = io_uring_submit_and_wait(r, 1);
		if (ret < 0)
			return ret;
		ret = io_uring_peek_cqe(r, &cqe);
	}
	if (ret < 0)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(r, cqe);
	return ret;
}

static struct io_uring_sqe *uring_sqe(struct io_uring *r)
{
	return io_uring_get_sqe(r); /* QD1: never full */
}

/* ---- the operations; each returns 0 or -errno ---- */

static int op_pread(struct worker *w, void *buf, size_t len, uint64_t off)
{
	ssize_t r;
	if (o.io == IO_SYNC) {
		r = pread(w->fd, buf, len, (off_t)off);
		if (r < 0)
			return -errno;
	} else {
		struct io_uring *ring = &w->job->rings[w->idx];
		io_uring_prep_read(uring_sqe(ring), w->fd, buf, (unsigned)len, off);
		r = uring_run(ring, o.io == IO_SQPOLL);
		if (r < 0)
			return (int)r;
	}
	return (size_t)r == len ? 0 : -EIO; /* a short read is a failure here */
}

static int op_pwrite(struct worker *w, const void *buf, size_t len, uint64_t off)
{
	ssize_t r;
	if (o.io == IO_SYNC) {
		r = pwrite(w->fd, buf, len, (off_t)off);
		if (r < 0)
			return -errno;
	} else {
		struct io_uring *ring = &w->job->rings[w->idx];
		io_uring_prep_write(uring_sqe(ring), w->fd, buf, (unsigned)len, off);
		r = uring_run(ring, o.io == IO_SQPOLL);
		if (r < 0)
			return (int)r;
	}
	return (size_t)r == len ? 0 : -EIO;
}

static int op_openstat(struct worker *w, const char *path)
{
	if (o.io == IO_SYNC) {
		struct stat st;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (fstat(fd, &st) < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		if (close(fd) < 0)
			return -errno;
		return 0;
	}
	struct io_uring *ring = &w->job->rings[w->idx];
	bool sq = o.io == IO_SQPOLL;
	struct statx stx;
	io_uring_prep_openat(uring_sqe(ring), AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	int fd = uring_run(ring, sq);
	if (fd < 0)
		return fd;
	io_uring_prep_statx(uring_sqe(ring), fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx);
	int r = uring_run(ring, sq);
	io_uring_prep_close(uring_sqe(ring), fd);
	int rc = uring_run(ring, sq);
	return r < 0 ? r : rc;
}

static int op_fstat(struct worker *w)
{
	if (o.io == IO_SYNC) {
		struct stat st;
		return fstat(w->fd, &st) < 0 ? -errno : 0;
	}
	struct io_uring *ring = &w->job->rings[w->idx];
	struct statx stx;
	io_uring_prep_statx(uring_sqe(ring), w->fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx);
	int r = uring_run(ring, o.io == IO_SQPOLL);
	return r < 0 ? r : 0;
}

/* One operation of the job's workload. */
static int do_op(struct worker *w, uint64_t i)
{
	switch (w->job->wl) {
	case WL_READ4K:
	case WL_READ4K_HOT:
		return op_pread(w, w->buf, 4096, (rng_next(&w->rng) % (w->fsize / 4096)) * 4096);
	case WL_READ64:
		return op_pread(w, w->buf, 64, (rng_next(&w->rng) % (w->fsize / 64)) * 64);
	case WL_SEQ1M: {
		int r = op_pread(w, w->buf, MIB, w->seqpos);
		w->seqpos += MIB;
		if (w->seqpos + MIB > w->fsize)
			w->seqpos = 0;
		return r;
	}
	case WL_OPENSTAT:
		return op_openstat(w, w->job->small_paths[(i + (uint64_t)w->idx * 7) % (uint64_t)o.nsmall]);
	case WL_FSTAT:
		return op_fstat(w);
	case WL_WRITE4K:
		return op_pwrite(w, w->buf, 4096, (rng_next(&w->rng) % (w->fsize / 4096)) * 4096);
	default:
		return -EINVAL;
	}
}

static int worker_setup(struct worker *w)
{
	struct job *j = w->job;
	char path[4096];
	struct stat st;

	w->fd = -1;
	w->rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(w->idx + 1) + (uint64_t)j->wl;
	/* 2 MiB aligned so O_DIRECT-like peers and THP never split a 1 MiB read. */
	if (posix_memalign((void **)&w->buf, 2 * MIB, MIB)) {
		set_err(w, "posix_memalign", ENOMEM);
		return -1;
	}
	memset(w->buf, 0x5a, MIB);
	w->lat = mmap(NULL, o.lat_cap * sizeof(uint32_t), PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (w->lat == MAP_FAILED) {
		w->lat = NULL;
		set_err(w, "mmap latency buffer", errno);
		return -1;
	}
	if (j->wl == WL_OPENSTAT)
		return 0;
	const char *name = j->wl == WL_WRITE4K ? "write.dat" : j->wl == WL_READ4K_HOT ? "hot.dat" : "read.dat";
	snprintf(path, sizeof(path), "%s/%s", o.dir, name);
	w->fd = open(path, (j->wl == WL_WRITE4K ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
	if (w->fd < 0) {
		char what[4200];
		snprintf(what, sizeof(what), "open %s", path);
		set_err(w, what, errno);
		return -1;
	}
	if (fstat(w->fd, &st) < 0) {
		set_err(w, "fstat", errno);
		return -1;
	}
	w->fsize = (uint64_t)st.st_size;
	if (w->fsize < (j->wl == WL_SEQ1M ? MIB : 4096)) {
		set_err(w, "file too small (fstat size)", EINVAL);
		return -1;
	}
	/* Threads stream disjoint stretches of the file. */
	w->seqpos = ((w->fsize / MIB) * (uint64_t)w->idx / (uint64_t)j->nthreads) * MIB;
	return 0;
}

/* Run ops until `until` (ns, monotonic) or `count` ops; record latencies if `rec`. */
static void run_phase(struct worker *w, uint64_t until, long count, bool rec)
{
	uint64_t t0 = now_ns(), i = 0;
	if (rec)
		w->t_start = t0;
	for (;;) {
		int r = do_op(w, i);
		uint64_t t1 = now_ns();
		if (r < 0) {
			char what[64];
			snprintf(what, sizeof(what), "%s op %llu", wl_names[w->job->wl], (unsigned long long)i);
			set_err(w, what, -r);
			break;
		}
		i++;
		if (rec) {
			uint64_t d = t1 - t0;
			w->lat[w->n++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
		}
		t0 = t1;
		if (count > 0 ? (long)i >= count : t1 >= until)
			break;
		if (rec && w->n == o.lat_cap)
			break;
	}
	if (rec)
		w->t_stop = t0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct job *j = w->job;
	int ok = worker_setup(w) == 0;

	pthread_barrier_wait(&j->bar); /* setup done */
	if (ok)
		run_phase(w, now_ns() + (uint64_t)(o.warm_secs * 1e9), o.ops > 0 ? o.warm_ops : 0, false);
	pthread_barrier_wait(&j->bar); /* warm-up done; main samples CPU */
	pthread_barrier_wait(&j->bar); /* main has set t_end */
	if (ok && !w->err[0])
		run_phase(w, j->t_end, o.ops, true);
	pthread_barrier_wait(&j->bar); /* measured phase done */
	if (w->fd >= 0)
		close(w->fd);
	return NULL;
}

/* ---- CPU accounting ---- */

/* utime+stime of /proc/<path>/stat in ns, or -1. */
static int64_t stat_cpu_ns(const char *statpath)
{
	char buf[1024];
	int fd = open(statpath, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	/* Fields after the comm start at field 3 (state); utime is 14, stime 15. */
	unsigned long long ut = 0, st = 0;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (int64_t)((ut + st) * (1000000000ULL / (unsigned long long)sysconf(_SC_CLK_TCK)));
}

static int read_comm(const char *path, char *out, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, out, len - 1);
	close(fd);
	if (n <= 0)
		return -1;
	out[n] = 0;
	char *nl = strchr(out, '\n');
	if (nl)
		*nl = 0;
	return 0;
}

/* CPU of the server side: named processes (all their threads), listed pids,
 * and our own io_uring SQPOLL threads. Returns ns, -1 when there is none. */
static int64_t server_cpu_ns(int *found)
{
	int64_t sum = 0;
	char path[64], comm[64];
	*found = 0;
	for (int i = 0; i < o.nserver_pid; i++) {
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)o.server_pid[i]);
		int64_t v = stat_cpu_ns(path);
		if (v >= 0) {
			sum += v;
			(*found)++;
		}
	}
	if (o.nserver_comm) {
		DIR *d = opendir("/proc");
		struct dirent *de;
		pid_t self = getpid();
		while (d && (de = readdir(d))) {
			if (!isdigit((unsigned char)de->d_name[0]) || atoi(de->d_name) == self)
				continue;
			snprintf(path, sizeof(path), "/proc/%.20s/comm", de->d_name);
			if (read_comm(path, comm, sizeof(comm)))
				continue;
			for (int i = 0; i < o.nserver_comm; i++)
				if (!strcmp(comm, o.server_comm[i])) {
					snprintf(path, sizeof(path), "/proc/%.20s/stat", de->d_name);
					int64_t v = stat_cpu_ns(path);
					if (v >= 0) {
						sum += v;
						(*found)++;
					}
					break;
				}
		}
		if (d)
			closedir(d);
	}
	if (o.io == IO_SQPOLL) {
		DIR *d = opendir("/proc/self/task");
		struct dirent *de;
		while (d && (de = readdir(d))) {
			if (!isdigit((unsigned char)de->d_name[0]))
				continue;
			snprintf(path, sizeof(path), "/proc/self/task/%.20s/comm", de->d_name);
			if (read_comm(path, comm, sizeof(comm)) || strncmp(comm, "iou-sqp", 7))
				continue;
			snprintf(path, sizeof(path), "/proc/self/task/%.20s/stat", de->d_name);
			int64_t v = stat_cpu_ns(path);
			if (v >= 0) {
				sum += v;
				(*found)++;
			}
		}
		if (d)
			closedir(d);
	}
	return sum;
}

/* In-process server threads only (SQPOLL), to subtract from our rusage. */
static int64_t inproc_server_cpu_ns(void)
{
	if (o.io != IO_SQPOLL)
		return 0;
	int64_t sum = 0;
	char path[64], comm[64];
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%.20s/comm", de->d_name);
		if (read_comm(path, comm, sizeof(comm)) || strncmp(comm, "iou-sqp", 7))
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%.20s/stat", de->d_name);
		int64_t v = stat_cpu_ns(path);
		if (v > 0)
			sum += v;
	}
	if (d)
		closedir(d);
	return sum;
}

static int64_t rusage_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
	       ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/* ---- percentiles ---- */

/* k-th smallest of a[0..n) (Hoare quickselect; reorders a). */
static uint32_t select_kth(uint32_t *a, size_t n, size_t k)
{
	long lo = 0, hi = (long)n - 1, kk = (long)k;
	while (lo < hi) {
		uint32_t pivot = a[lo + (hi - lo) / 2];
		long i = lo, j = hi;
		while (i <= j) {
			while (a[i] < pivot)
				i++;
			while (a[j] > pivot)
				j--;
			if (i <= j) {
				uint32_t t = a[i];
				a[i++] = a[j];
				a[j--] = t;
			}
		}
		if (kk <= j)
			hi = j;
		else if (kk >= i)
			lo = i;
		else
			break;
	}
	return a[kk];
}

/* ---- one job ---- */

static void sanitize(char *s)
{
	for (; *s; s++)
		if (*s == '\t' || *s == '\n')
			*s = ' ';
}

static void print_row(enum workload wl, int nthreads, const char *status, unsigned long long ops, double secs,
		      double opss, double med, double p99, double ccpu, double scpu)
{
	char st[300];
	snprintf(st, sizeof(st), "%s", status);
	sanitize(st);
	printf("%s\t%s\t%s\t%d\t%s\t%llu\t%.3f\t%.0f\t%.0f\t%.0f\t%.0f\t", o.peer, io_names[o.io], wl_names[wl],
	       nthreads, st, ops, secs, opss, med, p99, ccpu);
	if (scpu < 0)
		printf("NA\n");
	else
		printf("%.0f\n", scpu);
	fflush(stdout);
}

static int uring_setup(struct job *j, char *err, size_t errlen)
{
	for (int i = 0; i < j->nthreads; i++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof(p));
		if (o.io == IO_SQPOLL) {
			/* The poller gets the last CPU to itself where it can (SQ_AFF); the
			 * clients stay unpinned like every other peer's. */
			p.flags = IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF;
			p.sq_thread_cpu = (unsigned)(sysconf(_SC_NPROCESSORS_ONLN) - 1);
			p.sq_thread_idle = 2000; /* ms; stays awake across the phases */
			if (i > 0) { /* one shared poller thread for all rings, as a 2-CPU box wants */
				p.flags |= IORING_SETUP_ATTACH_WQ;
				p.wq_fd = (unsigned)j->rings[0].ring_fd;
			}
		}
		int r = io_uring_queue_init_params(8, &j->rings[i], &p);
		if (r < 0) {
			snprintf(err, errlen, "io_uring_queue_init_params: %s", strerror(-r));
			for (int k = 0; k < i; k++)
				io_uring_queue_exit(&j->rings[k]);
			return r;
		}
	}
	j->rings_ok = true;
	return 0;
}

static void run_job(enum workload wl, int nthreads, char **small_paths)
{
	struct job j;
	struct worker ws[MAX_THREADS];
	char err[300] = "";

	memset(&j, 0, sizeof(j));
	memset(ws, 0, sizeof(ws));
	j.wl = wl;
	j.nthreads = nthreads;
	j.small_paths = small_paths;
	if (o.io != IO_SYNC && uring_setup(&j, err, sizeof(err)) < 0) {
		print_row(wl, nthreads, err, 0, 0, 0, 0, 0, 0, -1);
		return;
	}
	pthread_barrier_init(&j.bar, NULL, (unsigned)nthreads + 1);
	for (int i = 0; i < nthreads; i++) {
		ws[i].idx = i;
		ws[i].job = &j;
		ws[i].fd = -1;
		if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i])) {
			fprintf(stderr, "fsbench: pthread_create failed\n");
			exit(2);
		}
	}
	pthread_barrier_wait(&j.bar); /* setup */
	pthread_barrier_wait(&j.bar); /* warm-up */
	int found0 = 0, found1 = 0;
	int64_t s0 = server_cpu_ns(&found0), in0 = inproc_server_cpu_ns(), c0 = rusage_ns();
	j.t_end = now_ns() + (uint64_t)(o.secs * 1e9);
	pthread_barrier_wait(&j.bar); /* go */
	pthread_barrier_wait(&j.bar); /* done */
	int64_t c1 = rusage_ns(), in1 = inproc_server_cpu_ns(), s1 = server_cpu_ns(&found1);
	for (int i = 0; i < nthreads; i++)
		pthread_join(ws[i].th, NULL);

	size_t total = 0;
	double opss = 0, secs = 0;
	for (int i = 0; i < nthreads; i++) {
		if (ws[i].err[0] && !err[0] &&
		    snprintf(err, sizeof(err), "error: thread %d: %s", i, ws[i].err) < 0)
			err[0] = 0;
		total += ws[i].n;
		if (ws[i].n) {
			double s = (double)(ws[i].t_stop - ws[i].t_start) / 1e9;
			opss += (double)ws[i].n / s;
			if (s > secs)
				secs = s;
		}
	}
	if (!err[0] && total == 0)
		snprintf(err, sizeof(err), "error: no operations completed");
	if (err[0]) {
		print_row(wl, nthreads, err, total, secs, 0, 0, 0, 0, -1);
	} else {
		uint32_t *all = malloc(total * sizeof(uint32_t));
		if (!all) {
			fprintf(stderr, "fsbench: out of memory\n");
			exit(2);
		}
		size_t k = 0;
		for (int i = 0; i < nthreads; i++) {
			memcpy(all + k, ws[i].lat, ws[i].n * sizeof(uint32_t));
			k += ws[i].n;
		}
		double med = select_kth(all, total, total / 2);
		double p99 = select_kth(all, total, (size_t)((double)total * 0.99));
		free(all);
		double ccpu = (double)((c1 - c0) - (in1 - in0)) / (double)total;
		double scpu = found0 || found1 ? (double)(s1 - s0) / (double)total : -1;
		if (scpu < 0 && (found0 || found1))
			scpu = 0;
		print_row(wl, nthreads, "ok", total, secs, opss, med, p99, ccpu, scpu);
	}
	for (int i = 0; i < nthreads; i++) {
		if (ws[i].lat)
			munmap(ws[i].lat, o.lat_cap * sizeof(uint32_t));
		free(ws[i].buf);
	}
	pthread_barrier_destroy(&j.bar);
	if (j.rings_ok)
		for (int i = 0; i < nthreads; i++)
			io_uring_queue_exit(&j.rings[i]);
}

/* ---- command line ---- */

static void usage(void)
{
	fprintf(stderr,
		"usage: fsbench --dir DIR --peer LABEL [--io sync|uring|sqpoll]\n"
		"               [--workloads read4k,read64,seq1m,openstat,fstat,write4k,read4k-hot] [--threads 1,2]\n"
		"               [--secs S] [--warm S] [--ops N] [--warm-ops N] [--nsmall N]\n"
		"               [--server-comm NAME[,NAME..]] [--server-pid PID[,PID..]] [--header]\n"
		"Prints TSV: peer io workload threads status ops secs ops_per_s median_ns p99_ns\n"
		"            client_cpu_ns_op server_cpu_ns_op\n");
	exit(2);
}

static void parse_workloads(char *s)
{
	memset(o.wl, 0, sizeof(o.wl));
	for (char *t = strtok(s, ","); t; t = strtok(NULL, ",")) {
		int k;
		for (k = 0; k < WL_COUNT; k++)
			if (!strcmp(t, wl_names[k]))
				break;
		if (k == WL_COUNT) {
			fprintf(stderr, "fsbench: unknown workload '%s'\n", t);
			usage();
		}
		o.wl[k] = true;
	}
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dir", 1, 0, 'd' },	     { "peer", 1, 0, 'p' },	 { "io", 1, 0, 'i' },
		{ "workloads", 1, 0, 'w' },  { "threads", 1, 0, 't' },	 { "secs", 1, 0, 's' },
		{ "warm", 1, 0, 'W' },	     { "ops", 1, 0, 'n' },	 { "warm-ops", 1, 0, 'N' },
		{ "nsmall", 1, 0, 'm' },     { "server-comm", 1, 0, 'c' }, { "server-pid", 1, 0, 'P' },
		{ "header", 0, 0, 'H' },     { 0, 0, 0, 0 },
	};
	int c;
	for (int k = 0; k < WL_COUNT; k++)
		o.wl[k] = true;
	o.threads[0] = 1;
	o.threads[1] = 2;
	o.nthreads_list = 2;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd': o.dir = optarg; break;
		case 'p': o.peer = optarg; break;
		case 'i':
			if (!strcmp(optarg, "sync")) o.io = IO_SYNC;
			else if (!strcmp(optarg, "uring")) o.io = IO_URING;
			else if (!strcmp(optarg, "sqpoll")) o.io = IO_SQPOLL;
			else usage();
			break;
		case 'w': parse_workloads(optarg); break;
		case 't':
			o.nthreads_list = 0;
			for (char *t = strtok(optarg, ","); t; t = strtok(NULL, ",")) {
				int n = atoi(t);
				if (n < 1 || n > MAX_THREADS || o.nthreads_list == MAX_THREADS)
					usage();
				o.threads[o.nthreads_list++] = n;
			}
			break;
		case 's': o.secs = atof(optarg); break;
		case 'W': o.warm_secs = atof(optarg); break;
		case 'n': o.ops = atol(optarg); break;
		case 'N': o.warm_ops = atol(optarg); break;
		case 'm': o.nsmall = atoi(optarg); break;
		case 'c':
			for (char *t = strtok(optarg, ","); t && o.nserver_comm < MAX_SERVERS; t = strtok(NULL, ","))
				o.server_comm[o.nserver_comm++] = t;
			break;
		case 'P':
			for (char *t = strtok(optarg, ","); t && o.nserver_pid < MAX_SERVERS; t = strtok(NULL, ","))
				o.server_pid[o.nserver_pid++] = (pid_t)atoi(t);
			break;
		case 'H': o.header = true; break;
		default: usage();
		}
	}
	if (!o.dir || !o.peer || o.nsmall < 1 || o.secs <= 0 || o.ops < 0)
		usage();
	if (o.ops > 0 && (size_t)o.ops < o.lat_cap)
		o.lat_cap = (size_t)o.ops;

	char **small = calloc((size_t)o.nsmall, sizeof(char *));
	for (int i = 0; small && i < o.nsmall; i++)
		if (asprintf(&small[i], "%s/small/f%03d", o.dir, i) < 0)
			small[i] = NULL;
	if (o.header)
		printf("peer\tio\tworkload\tthreads\tstatus\tops\tsecs\tops_per_s\tmedian_ns\tp99_ns\t"
		       "client_cpu_ns_op\tserver_cpu_ns_op\n");
	for (int k = 0; k < WL_COUNT; k++)
		if (o.wl[k])
			for (int t = 0; t < o.nthreads_list; t++)
				run_job((enum workload)k, o.threads[t], small);
	return 0;
}
