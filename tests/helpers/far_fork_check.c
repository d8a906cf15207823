/* fork() with far pages on the memory server: a malloc'd (far) buffer is
 * filled with a pattern and pushed out of local memory (written back to the
 * server), then the process forks while another thread keeps faulting far
 * pages in. The child, whose copy of far memory must come from the server,
 * checks every word, sends the parent a checksum of what it read, writes
 * a pattern of its own over the buffer and checks that; the parent checks
 * the child's checksum against its own, then that its copy is untouched by
 * the child, then writes, pushes out and checks a pattern of its own (far
 * memory must still work in the parent after the fork).
 *   far_fork_check [MIB]      "fork ok", exit 0: every check passed;
 *                             exit 3: the child failed (how is printed) but
 *                             the parent's memory is intact; exit 1: the
 *                             parent's memory is wrong */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static uint64_t word(uint64_t i, uint64_t salt) { return (i * 0x9e3779b97f4a7c15ull ^ 0x5bd1e995) + salt; }

enum { CHILD_SALT = 0x1000, PARENT_SALT = 0x2000 };

static int check(const uint64_t *b, size_t n, uint64_t salt, const char *who)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != word(i, salt)) {
			fprintf(stderr, "far_fork_check: %s: word %zu is %llx, not %llx\n", who, i, (unsigned long long)b[i],
				(unsigned long long)word(i, salt));
			return 1;
		}
	return 0;
}

static uint64_t checksum(const uint64_t *b, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static void fill(uint64_t *b, size_t n, uint64_t salt)
{
	for (size_t i = 0; i < n; i++)
		b[i] = word(i, salt);
}

/* Touches as much again in another far buffer: b's pages go to the server. */
static void push_out(size_t bytes)
{
	char *p = malloc(bytes);
	for (size_t i = 0; p && i < bytes; i += 4096)
		p[i] = 1;
	free(p);
}

/* The parent's other thread: reads its own far buffer (its pages on the
 * server too) over and over while the parent forks and serves the child. */
static volatile int stop;
static uint64_t *side;
static size_t side_n;
static volatile int side_bad;
static void *side_reader(void *arg)
{
	(void)arg;
	while (!stop)
		for (size_t i = 0; i < side_n && !stop; i += 512)
			if (side[i] != word(i, 7))
				side_bad = 1;
	return NULL;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 8, n = (mib << 20) / 8;
	uint64_t *b = malloc(n * 8);
	side_n = n / 4;
	side = malloc(side_n * 8);
	int fds[2];
	if (!b || !side || pipe(fds))
		return 2;
	fill(b, n, 0);
	fill(side, side_n, 7);
	uint64_t want = checksum(b, n);
	push_out(mib << 20);
	pthread_t th;
	if (pthread_create(&th, NULL, side_reader, NULL))
		return 2;
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return perror("fork"), 2;
	if (pid == 0) {
		close(fds[0]);
		uint64_t got = checksum(b, n);
		if (write(fds[1], &got, sizeof(got)) != sizeof(got))
			_exit(4);
		if (check(b, n, 0, "child"))
			_exit(1);
		fill(b, n, CHILD_SALT);
		_exit(check(b, n, CHILD_SALT, "child, its own writes") ? 5 : 0);
	}
	close(fds[1]);
	uint64_t child_sum = 0;
	int got_sum = read(fds[0], &child_sum, sizeof(child_sum)) == sizeof(child_sum);
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return 2;
	stop = 1;
	pthread_join(th, NULL);
	int child_ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
	if (!child_ok)
		fprintf(stderr, "far_fork_check: child %s %d\n", WIFEXITED(st) ? "exited" : "killed by signal",
			WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	if (got_sum && child_sum != want) {
		fprintf(stderr, "far_fork_check: the child's checksum %llx is not the parent's %llx\n",
			(unsigned long long)child_sum, (unsigned long long)want);
		child_ok = 0;
	} else if (!got_sum) {
		child_ok = 0;
	}
	if (check(b, n, 0, "parent") || side_bad || check(side, side_n, 7, "parent's other buffer"))
		return 1;
	/* Far memory still works here: new values go to the server and back. */
	fill(b, n, PARENT_SALT);
	push_out(mib << 20);
	if (check(b, n, PARENT_SALT, "parent, its own writes after the fork"))
		return 1;
	printf("parent ok\n");
	if (!child_ok)
		return 3;
	printf("fork ok\n");
	return 0;
}
