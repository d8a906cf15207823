/* fs_it_spawn DIR: posix_spawn (with file actions that open served paths and
 * dup2 redirected fds), posix_spawnp with a caller-supplied environment,
 * system(), popen() both ways, and vfork()+dup2+exec with a redirected fd.
 * Prints a transcript that fs_spawn.sh compares with a native run. */
#include "fs_it_util.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

extern char **environ;
static const char *dir;
static char pbuf[8][4096];
static unsigned pn;
static const char *P(const char *rel)
{
	char *b = pbuf[pn++ % 8];
	snprintf(b, sizeof(pbuf[0]), "%s/%s", dir, rel);
	return b;
}

static void reap(const char *what, pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) != pid)
		IT_DIE("waitpid %s", what);
	printf("%s: exit %d\n", what, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

static void show_file(const char *rel)
{
	char buf[8192];
	int fd = open(P(rel), O_RDONLY);
	if (fd < 0) {
		printf("%s: open %s\n", rel, it_errname(errno));
		return;
	}
	ssize_t n = it_read_full(fd, buf, sizeof(buf));
	close(fd);
	printf("%s: %zd bytes hash %016llx first line: ", rel, n, (unsigned long long)it_hash(buf, n > 0 ? (size_t)n : 0));
	char *nl = n > 0 ? memchr(buf, '\n', (size_t)n) : NULL;
	printf("%.*s\n", nl ? (int)(nl - buf) : 0, buf);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fs_it_spawn DIR\n");
		return 2;
	}
	dir = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	pid_t pid;
	int rc;

	/* posix_spawn: the child's stdin and stdout opened on served paths. */
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, P("words"), O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, P("spawn-cat.out"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	char *cat[] = { "/bin/cat", NULL };
	rc = posix_spawn(&pid, cat[0], &fa, NULL, cat, environ);
	printf("posix_spawn cat with addopen: %s\n", rc ? it_errname(rc) : "ok");
	if (!rc)
		reap("  cat", pid);
	posix_spawn_file_actions_destroy(&fa);
	show_file("spawn-cat.out");

	/* posix_spawn: a redirected fd dup2'ed onto the child's stdin. */
	int in = open(P("a.txt"), O_RDONLY);
	if (in < 0)
		IT_DIE("open");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	char *wc[] = { "/usr/bin/wc", "-l", NULL };
	fflush(stdout);
	rc = posix_spawn(&pid, wc[0], &fa, NULL, wc, environ);
	if (!rc)
		reap("posix_spawn wc -l with adddup2", pid);
	else
		printf("posix_spawn wc: %s\n", it_errname(rc));
	posix_spawn_file_actions_destroy(&fa);
	close(in);

	/* posix_spawnp with an environment that lacks LD_PRELOAD. */
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "sort '%s' > '%s'", P("words"), P("spawnp-sorted"));
	char *sh[] = { "sh", "-c", cmd, NULL };
	char *env[] = { "PATH=/usr/bin:/bin", "LC_ALL=C", NULL };
	rc = posix_spawnp(&pid, "sh", NULL, NULL, sh, env);
	if (!rc)
		reap("posix_spawnp sh -c sort, stripped env", pid);
	else
		printf("posix_spawnp: %s\n", it_errname(rc));
	show_file("spawnp-sorted");

	/* system() */
	snprintf(cmd, sizeof(cmd), "grep -c needle '%s' > '%s'; ls '%s' | wc -l >> '%s'", P("words"), P("system.out"),
		 P("many"), P("system.out"));
	fflush(stdout);
	rc = system(cmd);
	printf("system: %d\n", WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
	show_file("system.out");

	/* popen for reading and for writing */
	snprintf(cmd, sizeof(cmd), "cat '%s'", P("med.bin"));
	FILE *p = popen(cmd, "r");
	static char big[400000];
	size_t n = fread(big, 1, sizeof(big), p);
	printf("popen r: %zu bytes hash %016llx, pclose %d\n", n, (unsigned long long)it_hash(big, n), pclose(p));
	snprintf(cmd, sizeof(cmd), "tr a-z A-Z > '%s'", P("popen-w.out"));
	p = popen(cmd, "w");
	fputs("written through popen\n", p);
	printf("popen w: pclose %d\n", pclose(p));
	show_file("popen-w.out");

	/* vfork: the child dup2s a redirected fd onto stdin and execs. */
	in = open(P("words"), O_RDONLY);
	int out = open(P("vfork.out"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (in < 0 || out < 0)
		IT_DIE("open");
	fflush(stdout);
	pid = vfork();
	if (pid == 0) {
		if (dup2(in, 0) != 0 || dup2(out, 1) != 1)
			_exit(126);
		char *tail[] = { "/usr/bin/tail", "-n", "3", NULL };
		execve(tail[0], tail, environ);
		_exit(127);
	}
	reap("vfork tail -n 3 < words > vfork.out", pid);
	printf("parent fds after vfork child: in offset %ld, out offset %ld\n", (long)lseek(in, 0, SEEK_CUR),
	       (long)lseek(out, 0, SEEK_CUR));
	close(in);
	close(out);
	show_file("vfork.out");
	return 0;
}
