/* fs_it_async DIR signals|forks: file I/O from places an interposer finds
 * awkward.
 *   signals  a 500 us interval timer whose handler pwrite()s a record to a
 *            served log while the main thread loops reading and writing other
 *            served files (the handler may interrupt a command in flight on
 *            the same thread); every record and every main-loop read is checked.
 *   forks    four threads keep doing served I/O while the main thread forks
 *            children that open, write, read and close served files at once
 *            (locks another thread held at fork time must not hang the child).
 *   manythreads  150 threads, released at once, each writing and reading
 *            back its own file: more threads than a session has channels.
 * Prints only counts that do not depend on timing; exit 1 on a mismatch. */
#include "fs_it_util.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

static const char *dir;
static int logfd;
static volatile sig_atomic_t nsig, sig_err;

static void path(char *b, size_t n, const char *rel, int i)
{
	snprintf(b, n, "%s/%s%d", dir, rel, i);
}

static void on_alarm(int s)
{
	(void)s;
	int saved = errno;
	char rec[16];
	int i = nsig;
	if (i >= 100000)
		return;
	memset(rec, 'a' + i % 26, sizeof(rec));
	memcpy(rec, &i, sizeof(i));
	if (pwrite(logfd, rec, sizeof(rec), (off_t)i * 16) != (ssize_t)sizeof(rec))
		sig_err = 1;
	nsig = i + 1;
	errno = saved;
}

static int signals(void)
{
	char p[4096];
	path(p, sizeof(p), "async-log", 0);
	logfd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	path(p, sizeof(p), "async-data", 0);
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (logfd < 0 || fd < 0)
		IT_DIE("open");
	static uint8_t w[65536], r[65536];
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, 500 }, { 0, 500 } };
	setitimer(ITIMER_REAL, &it, NULL);
	int bad = 0;
	for (int i = 0; i < 3000 && !bad; i++) {
		size_t n = 1 + (size_t)(i * 7919) % sizeof(w);
		off_t off = (off_t)(i % 97) * 4096;
		it_fill(w, n, (uint64_t)i, (uint64_t)off);
		if (pwrite(fd, w, n, off) != (ssize_t)n || pread(fd, r, n, off) != (ssize_t)n ||
		    it_check_pat(r, n, (uint64_t)i, (uint64_t)off) >= 0) {
			fprintf(stderr, "main loop round %d: %s\n", i, it_errname(errno));
			bad = 1;
		}
		if (i % 100 == 0) { /* opens and closes too */
			int f2 = open(p, O_RDONLY);
			if (f2 < 0 || close(f2))
				bad = 1;
		}
	}
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	int count = nsig;
	for (int i = 0; i < count && !bad; i++) {
		char rec[16], want[16];
		memset(want, 'a' + i % 26, sizeof(want));
		memcpy(want, &i, sizeof(i));
		if (pread(logfd, rec, sizeof(rec), (off_t)i * 16) != (ssize_t)sizeof(rec) || memcmp(rec, want, sizeof(rec))) {
			fprintf(stderr, "signal record %d of %d wrong\n", i, count);
			bad = 1;
		}
	}
	/* the count is timing-dependent: make the log deterministic for the tree check */
	if (ftruncate(logfd, 0))
		bad = 1;
	printf("signals: main loop and %s handler records %s\n", count > 10 ? "many" : "FEW", bad || sig_err ? "WRONG" : "verified");
	if (count <= 10)
		fprintf(stderr, "only %d timer signals arrived\n", count);
	return bad || sig_err;
}

static volatile int stop;
static void *spinner(void *arg)
{
	int id = (int)(long)arg;
	char p[4096];
	path(p, sizeof(p), "async-thread", id);
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	uint8_t b[8192];
	long bad = 0;
	for (long i = 0; !__atomic_load_n(&stop, __ATOMIC_RELAXED); i++) {
		it_fill(b, sizeof(b), (uint64_t)id, 0);
		if (pwrite(fd, b, sizeof(b), 0) != (ssize_t)sizeof(b) || pread(fd, b, sizeof(b), 0) != (ssize_t)sizeof(b) ||
		    it_check_pat(b, sizeof(b), (uint64_t)id, 0) >= 0)
			bad++;
		if (i % 64 == 0) {
			int f2 = open(p, O_RDONLY);
			struct stat st;
			if (f2 < 0 || fstat(f2, &st) || close(f2))
				bad++;
		}
	}
	close(fd);
	return (void *)bad;
}

static int forks(void)
{
	pthread_t t[4];
	for (long i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, spinner, (void *)i);
	int ok = 0;
	for (int c = 0; c < 40; c++) {
		pid_t pid = fork();
		if (pid == 0) {
			alarm(20); /* a child stuck on a lock dies instead of hanging */
			char p[4096];
			path(p, sizeof(p), "async-child", c);
			int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
			uint8_t b[5000], r[5000];
			it_fill(b, sizeof(b), (uint64_t)c + 100, 0);
			if (fd < 0 || write(fd, b, sizeof(b)) != (ssize_t)sizeof(b) || pread(fd, r, sizeof(r), 0) != (ssize_t)sizeof(r) ||
			    memcmp(b, r, sizeof(b)) || close(fd))
				_exit(3);
			_exit(0);
		}
		int st;
		if (waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
		else
			fprintf(stderr, "child %d: %s %d\n", c, WIFSIGNALED(st) ? "signal" : "exit",
				WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	long bad = 0;
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		bad += (long)r;
	}
	printf("forks: %d of 40 children ok, thread errors %ld\n", ok, bad);
	return ok != 40 || bad;
}

/* More threads doing I/O at once than the session has channels (64). */
#define MANY 150
static pthread_barrier_t many_start;
static void *many_worker(void *arg)
{
	int id = (int)(long)arg;
	char p[4096];
	path(p, sizeof(p), "async-many", id);
	pthread_barrier_wait(&many_start);
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return (void *)1L;
	uint8_t b[3000], r[3000];
	long bad = 0;
	for (int i = 0; i < 100; i++) {
		off_t off = (off_t)(i % 10) * 3000;
		it_fill(b, sizeof(b), (uint64_t)id * 1000 + (uint64_t)(i % 10), (uint64_t)off);
		if (pwrite(fd, b, sizeof(b), off) != (ssize_t)sizeof(b) || pread(fd, r, sizeof(r), off) != (ssize_t)sizeof(r) ||
		    memcmp(b, r, sizeof(b)))
			bad++;
	}
	close(fd);
	return (void *)bad;
}

static int manythreads(void)
{
	pthread_t t[MANY];
	pthread_barrier_init(&many_start, NULL, MANY);
	for (long i = 0; i < MANY; i++)
		if (pthread_create(&t[i], NULL, many_worker, (void *)i))
			IT_DIE("pthread_create");
	long bad = 0;
	for (int i = 0; i < MANY; i++) {
		void *r;
		pthread_join(t[i], &r);
		bad += (long)r;
	}
	printf("manythreads: %d threads, %ld bad rounds\n", MANY, bad);
	return bad != 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: fs_it_async DIR signals|forks|manythreads\n");
		return 2;
	}
	dir = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[2], "signals"))
		return signals();
	if (!strcmp(argv[2], "forks"))
		return forks();
	if (!strcmp(argv[2], "manythreads"))
		return manythreads();
	return 2;
}
