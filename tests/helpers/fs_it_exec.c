/* fs_it_exec parent DIR: redirected fds across execve().
 * The parent opens DIR/med.bin (no O_CLOEXEC) and reads 100 bytes, DIR/a.txt
 * with O_CLOEXEC, and DIR/exec-out for writing; children exec this program
 * again ("child" mode) with the whole environment, with a caller-supplied
 * environment lacking LD_PRELOAD and SHUNT_*, and with an empty one; others
 * exec real programs with the inherited fd as their stdin. Each child reads
 * on at the shared offset, finds the O_CLOEXEC fd gone (EBADF), writes to the
 * inherited fd and opens new files under DIR: all of which only works under
 * shunt if the new image still runs under it with the right fds.
 * Prints a transcript that fs_exec.sh compares with a native run. */
#include "fs_it_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

extern char **environ;
static const char *dir;
static char pbuf[4][4096];
static unsigned pn;
static const char *P(const char *rel)
{
	char *b = pbuf[pn++ % 4];
	snprintf(b, sizeof(pbuf[0]), "%s/%s", dir, rel);
	return b;
}

static int child(int argc, char **argv)
{
	if (argc != 7)
		return 2;
	dir = argv[2];
	int a = atoi(argv[3]), b = atoi(argv[4]), w = atoi(argv[5]);
	const char *mode = argv[6];
	char buf[4096];
	setvbuf(stdout, NULL, _IOLBF, 0);
	errno = 0;
	ssize_t n = read(a, buf, 100);
	int e = errno;
	long pos = (long)lseek(a, 0, SEEK_CUR);
	printf("child[%s]: inherited fd read %zd %s -> offset %ld hash %016llx\n", mode, n,
	       n < 0 ? it_errname(e) : "", pos, (unsigned long long)it_hash(buf, n > 0 ? (size_t)n : 0));
	struct stat st;
	errno = 0;
	int fr = fstat(a, &st);
	e = errno;
	printf("child[%s]: fstat inherited fd %d %s size %lld\n", mode, fr, fr ? it_errname(e) : "",
	       fr ? -1LL : (long long)st.st_size);
	errno = 0;
	int fl = fcntl(b, F_GETFD);
	e = errno;
	printf("child[%s]: O_CLOEXEC fd after exec: %d %s\n", mode, fl, fl < 0 ? it_errname(e) : "STILL OPEN");
	errno = 0;
	n = read(b, buf, 10);
	e = errno;
	printf("child[%s]: read on the closed O_CLOEXEC fd: %zd %s\n", mode, n, n < 0 ? it_errname(e) : "");
	char line[64];
	int ln = snprintf(line, sizeof(line), "child %s\n", mode);
	errno = 0;
	int wr = it_write_all(w, line, (size_t)ln);
	e = errno;
	printf("child[%s]: write to inherited fd: %d %s offset %ld\n", mode, wr, wr ? it_errname(e) : "",
	       (long)lseek(w, 0, SEEK_CUR));
	snprintf(line, sizeof(line), "exec-child-%s", mode);
	int nf = open(P(line), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	e = errno;
	printf("child[%s]: open new file under DIR: %s\n", mode, nf >= 0 ? "ok" : it_errname(e));
	if (nf >= 0) {
		if (it_write_all(nf, mode, strlen(mode)))
			printf("child[%s]: write failed %s\n", mode, it_errname(errno));
		close(nf);
	}
	errno = 0;
	fr = stat(P("a.txt"), &st);
	e = errno;
	printf("child[%s]: stat DIR/a.txt %d %s size %lld\n", mode, fr, fr ? it_errname(e) : "",
	       fr ? -1LL : (long long)st.st_size);
	const char *v = getenv("IT_ENV");
	printf("child[%s]: IT_ENV=%s\n", mode, v ? v : "(unset)");
	return 0;
}

static void run(const char *what, char *const *argv, char *const *envp, int stdin_fd)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		IT_DIE("fork");
	if (pid == 0) {
		if (stdin_fd >= 0 && dup2(stdin_fd, 0) != 0)
			IT_DIE("dup2");
		execve(argv[0], argv, envp);
		fprintf(stderr, "exec %s: %s\n", argv[0], it_errname(errno));
		_exit(127);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid)
		IT_DIE("waitpid");
	printf("%s: exit %d\n", what, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "child"))
		return child(argc, argv);
	if (argc != 3 || strcmp(argv[1], "parent")) {
		fprintf(stderr, "usage: fs_it_exec parent DIR\n");
		return 2;
	}
	dir = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	char self[4096];
	ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (sl <= 0)
		IT_DIE("readlink");
	self[sl] = 0;
	int a = open(P("med.bin"), O_RDONLY);
	int b = open(P("a.txt"), O_RDONLY | O_CLOEXEC);
	int w = open(P("exec-out"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (a < 0 || b < 0 || w < 0)
		IT_DIE("open");
	/* a high fd number the new image will not reuse by chance */
	int hi = fcntl(a, F_DUPFD, 100);
	char buf[128];
	if (read(a, buf, 100) != 100 || it_write_all(w, "parent\n", 7))
		IT_DIE("io");
	char sa[16], sb[16], sw[16], shi[16];
	snprintf(sa, sizeof(sa), "%d", a);
	snprintf(sb, sizeof(sb), "%d", b);
	snprintf(sw, sizeof(sw), "%d", w);
	snprintf(shi, sizeof(shi), "%d", hi);

	setenv("IT_ENV", "full", 1);
	char *full[] = { self, "child", (char *)dir, sa, sb, sw, "full", NULL };
	run("exec with the whole environment", full, environ, -1);

	char *stripped_env[] = { "PATH=/usr/bin:/bin", "IT_ENV=stripped", NULL };
	char *stripped[] = { self, "child", (char *)dir, shi, sb, sw, "stripped", NULL };
	run("exec with a caller-supplied environment", stripped, stripped_env, -1);

	char *empty_env[] = { NULL };
	char *empty[] = { self, "child", (char *)dir, sa, sb, sw, "empty", NULL };
	run("exec with an empty environment", empty, empty_env, -1);

	/* real programs reading the inherited fd as stdin */
	char *head[] = { "/usr/bin/head", "-c", "50", NULL };
	run("head -c 50 on inherited stdin", head, environ, a);
	char *wc[] = { "/usr/bin/wc", "-c", NULL };
	run("wc -c on inherited stdin, stripped env", wc, stripped_env, a);

	long pos = (long)lseek(a, 0, SEEK_CUR);
	printf("parent: shared offset after the children: %ld\n", pos);
	close(a);
	close(hi);
	close(b);
	close(w);
	int r = open(P("exec-out"), O_RDONLY);
	ssize_t n = r >= 0 ? it_read_full(r, buf, sizeof(buf) - 1) : -1;
	buf[n > 0 ? n : 0] = 0;
	printf("exec-out (%zd bytes):\n%s", n, buf);
	if (r >= 0)
		close(r);
	return 0;
}
