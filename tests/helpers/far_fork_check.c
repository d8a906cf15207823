/* fork() with far pages on the memory server: a malloc'd (far) buffer is
 * filled with a pattern and pushed out of local memory, then the process
 * forks; the child, whose copy of far memory must come from the server,
 * checks every word and exits 0 only if all match; the parent checks its
 * own copy afterwards whatever became of the child.
 *   far_fork_check [MIB]      "fork ok", exit 0: both sides saw every word;
 *                             exit 3: the child failed (how is printed) but
 *                             the parent's memory is intact; exit 1: the
 *                             parent's memory is wrong */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static uint64_t word(uint64_t i) { return i * 0x9e3779b97f4a7c15ull ^ 0x5bd1e995; }

static int check(const uint64_t *b, size_t n, const char *who)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != word(i)) {
			fprintf(stderr, "far_fork_check: %s: word %zu is %llx, not %llx\n", who, i, (unsigned long long)b[i],
				(unsigned long long)word(i));
			return 1;
		}
	return 0;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 8, n = (mib << 20) / 8;
	uint64_t *b = malloc(n * 8);
	if (!b)
		return 2;
	for (size_t i = 0; i < n; i++)
		b[i] = word(i);
	/* Push it out: touch as much again in another far buffer. */
	char *p = malloc(mib << 20);
	for (size_t i = 0; p && i < mib << 20; i += 4096)
		p[i] = 1;
	free(p);
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return perror("fork"), 2;
	if (pid == 0)
		_exit(check(b, n, "child"));
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return 2;
	int child_ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
	if (!child_ok)
		fprintf(stderr, "far_fork_check: child %s %d\n", WIFEXITED(st) ? "exited" : "killed by signal",
			WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	if (check(b, n, "parent"))
		return 1;
	printf("parent ok\n");
	if (!child_ok)
		return 3;
	printf("fork ok\n");
	return 0;
}
