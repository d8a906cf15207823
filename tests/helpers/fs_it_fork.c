/* fs_it_fork DIR: parent and child keep reading and writing after fork().
 * An fd opened before fork shares its offset between the two (records
 * alternate in one file, reads continue where the other side stopped); each
 * side also opens files of its own; a grandchild joins in; the child keeps
 * using the shared fd after the parent closed its copy. Prints a transcript
 * (child first, then parent) that fs_fork.sh compares with a native run. */
#include "fs_it_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char pbuf[4][4096];
static unsigned pn;
static const char *dir;
static const char *P(const char *rel)
{
	char *b = pbuf[pn++ % 4];
	snprintf(b, sizeof(pbuf[0]), "%s/%s", dir, rel);
	return b;
}

static void wait_token(int fd)
{
	char c;
	if (read(fd, &c, 1) != 1)
		IT_DIE("token read");
}
static void send_token(int fd)
{
	if (write(fd, "t", 1) != 1)
		IT_DIE("token write");
}

/* Writes and re-reads a private file: returns a status line. */
static void own_file(const char *who, const char *rel, uint64_t seed)
{
	static uint8_t b[200000], r[200000];
	int fd = open(P(rel), O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		IT_DIE("%s open %s", who, rel);
	it_fill(b, sizeof(b), seed, 0);
	for (size_t off = 0; off < sizeof(b); off += 7001) {
		size_t n = sizeof(b) - off < 7001 ? sizeof(b) - off : 7001;
		if (it_write_all(fd, b + off, n))
			IT_DIE("%s write", who);
	}
	ssize_t got = pread(fd, r, sizeof(r), 0);
	struct stat st;
	fstat(fd, &st);
	printf("%s: own file %s size %lld read %zd bad-at %ld\n", who, rel, (long long)st.st_size, got,
	       got > 0 ? it_check_pat(r, (size_t)got, seed, 0) : -2);
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fs_it_fork DIR\n");
		return 2;
	}
	dir = argv[1];
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	int log = open(P("fork.log"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	int in = open(P("med.bin"), O_RDONLY);
	if (log < 0 || in < 0)
		IT_DIE("open");
	if (it_write_all(log, "start\n", 6))
		IT_DIE("write");
	char buf[4096];
	if (read(in, buf, 100) != 100)
		IT_DIE("read");
	int p2c[2], c2p[2];
	if (pipe(p2c) || pipe(c2p))
		IT_DIE("pipe");
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		IT_DIE("fork");
	if (pid == 0) {
		/* child */
		for (int i = 0; i < 50; i++) {
			wait_token(p2c[0]);
			char rec[16];
			int n = snprintf(rec, sizeof(rec), "C%02d\n", i);
			if (it_write_all(log, rec, (size_t)n))
				IT_DIE("child write");
			send_token(c2p[1]);
		}
		/* the shared read offset: the parent read 100 bytes before fork */
		wait_token(p2c[0]);
		ssize_t n = read(in, buf, 1000);
		printf("child: read %zd at shared offset -> now %ld hash %016llx\n", n, (long)lseek(in, 0, SEEK_CUR),
		       (unsigned long long)it_hash(buf, n > 0 ? (size_t)n : 0));
		send_token(c2p[1]);
		own_file("child", "child-own.bin", 11);
		/* a grandchild appends to the same shared fd */
		wait_token(p2c[0]); /* parent has closed its copy of log by now */
		fflush(stdout);
		pid_t g = fork();
		if (g == 0) {
			if (it_write_all(log, "grandchild\n", 11))
				_exit(3);
			own_file("grandchild", "grandchild-own.bin", 12);
			fflush(stdout);
			_exit(0);
		}
		int st;
		waitpid(g, &st, 0);
		printf("child: grandchild exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		if (it_write_all(log, "child-after-parent-close\n", 25))
			IT_DIE("child write after close");
		printf("child: log offset %ld\n", (long)lseek(log, 0, SEEK_CUR));
		close(log);
		close(in);
		fflush(stdout);
		_exit(0);
	}
	for (int i = 0; i < 50; i++) {
		char rec[16];
		int n = snprintf(rec, sizeof(rec), "P%02d\n", i);
		if (it_write_all(log, rec, (size_t)n))
			IT_DIE("parent write");
		send_token(p2c[1]);
		wait_token(c2p[0]);
	}
	send_token(p2c[1]);
	wait_token(c2p[0]);
	ssize_t n = read(in, buf, 1000);
	long pos = (long)lseek(in, 0, SEEK_CUR);
	long logpos = (long)lseek(log, 0, SEEK_CUR);
	close(log);
	send_token(p2c[1]);
	own_file("parent", "parent-own.bin", 10);
	int st;
	if (waitpid(pid, &st, 0) != pid)
		IT_DIE("waitpid");
	printf("parent: child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	printf("parent: read %zd after the child's read -> now %ld hash %016llx\n", n, pos,
	       (unsigned long long)it_hash(buf, n > 0 ? (size_t)n : 0));
	printf("parent: log offset after 100 records %ld\n", logpos);
	int r = open(P("fork.log"), O_RDONLY);
	static char all[8192];
	ssize_t total = it_read_full(r, all, sizeof(all));
	close(r);
	printf("parent: fork.log %zd bytes hash %016llx\n", total, (unsigned long long)it_hash(all, total > 0 ? (size_t)total : 0));
	fwrite(all, 1, total > 0 ? (size_t)total : 0, stdout);
	/* the fd from before fork still reads on */
	n = read(in, buf, 10);
	printf("parent: read %zd more, offset %ld\n", n, (long)lseek(in, 0, SEEK_CUR));
	close(in);
	return 0;
}
