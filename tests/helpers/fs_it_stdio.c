/* fs_it_stdio DIR: stdio on files in DIR (fopen/fgets/fprintf/fseek/fread/
 * fwrite/freopen/fdopen/getline/fscanf/ungetc/setvbuf/tmp-style rename).
 * Prints a transcript; fs_stdio.sh compares a native run with one under
 * shunt, and the files left in DIR. glibc's stdio calls its internal
 * __read/__write, so this is what proves stdio is really redirected. */
#include "fs_it_util.h"

#include <fcntl.h>
#include <sys/stat.h>

static char pbuf[4][4096];
static unsigned pn;
static const char *dir;
static const char *P(const char *rel)
{
	char *b = pbuf[pn++ % 4];
	snprintf(b, sizeof(pbuf[0]), "%s/%s", dir, rel);
	return b;
}

static FILE *xfopen(const char *rel, const char *mode)
{
	FILE *f = fopen(P(rel), mode);
	if (!f)
		IT_DIE("fopen %s %s", rel, mode);
	return f;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fs_it_stdio DIR\n");
		return 2;
	}
	dir = argv[1];
	char line[512];

	/* fprintf/fputs/fputc/fwrite, then read back with fgets. */
	FILE *f = xfopen("stdio-out.txt", "w");
	for (int i = 0; i < 2000; i++)
		fprintf(f, "line %04d %s %x\n", i, i % 3 ? "abc" : "defghij", i * 7919);
	fputs("no newline at end", f);
	fputc('!', f);
	if (fclose(f))
		IT_DIE("fclose");
	f = xfopen("stdio-out.txt", "r");
	unsigned lines = 0;
	size_t total = 0;
	uint64_t h = 0;
	while (fgets(line, sizeof(line), f)) {
		lines++;
		total += strlen(line);
		h ^= it_hash(line, strlen(line)) + lines;
	}
	printf("fgets: %u lines %zu bytes hash %016llx feof=%d ferror=%d\n", lines, total,
	       (unsigned long long)h, feof(f), ferror(f));

	/* fseek/ftell/rewind/fread/ungetc/fscanf on the same FILE. */
	clearerr(f);
	int sk = fseek(f, 0, SEEK_END);
	printf("fseek end: %d ftell %ld\n", sk, ftell(f));
	sk = fseek(f, -17, SEEK_CUR);
	printf("fseek -17 cur: %d ftell %ld\n", sk, ftell(f));
	size_t n = fread(line, 1, 40, f);
	printf("fread: %zu \"%.*s\"\n", n, (int)n, line);
	rewind(f);
	int a, b;
	char w[32];
	int sc = fscanf(f, "line %d %31s %x", &a, w, &b);
	printf("fscanf: %d -> %d %s %x\n", sc, a, w, b);
	int c = fgetc(f);
	ungetc('Z', f);
	printf("fgetc %d then ungetc: %c\n", c, fgetc(f));
	sk = fseek(f, 5000, SEEK_SET);
	printf("fseek 5000: %d ", sk);
	char *lp = NULL;
	size_t cap = 0;
	ssize_t gl = getline(&lp, &cap, f);
	printf("getline: %zd \"%s\"", gl, gl > 0 ? lp : "");
	free(lp);
	fclose(f);

	/* "a" appends even after fseek; "r+" overwrites in place; "w+" reads back. */
	f = xfopen("stdio-out.txt", "a");
	fseek(f, 0, SEEK_SET);
	fprintf(f, "\nappended %d\n", 42);
	fclose(f);
	f = xfopen("stdio-out.txt", "r+");
	fseek(f, 5, SEEK_SET);
	fwrite("XXXX", 1, 4, f);
	fflush(f);
	fseek(f, 0, SEEK_SET);
	n = fread(line, 1, 20, f);
	printf("r+ overwrite: %.*s\n", (int)n, line);
	fclose(f);
	f = xfopen("stdio-wplus.bin", "w+");
	static uint8_t big[300000], back[300000];
	it_fill(big, sizeof(big), 7, 0);
	printf("w+ fwrite %zu\n", fwrite(big, 1, sizeof(big), f));
	fseek(f, 1000, SEEK_SET);
	n = fread(back, 1, sizeof(back), f);
	printf("w+ fread back %zu bad-at %ld\n", n, it_check_pat(back, n, 7, 1000));
	fclose(f);

	/* Unbuffered and line-buffered streams. */
	f = xfopen("stdio-unbuf.txt", "w");
	setvbuf(f, NULL, _IONBF, 0);
	for (int i = 0; i < 50; i++)
		fprintf(f, "%d,", i);
	fclose(f);
	f = xfopen("stdio-unbuf.txt", "r");
	n = fread(line, 1, sizeof(line) - 1, f);
	line[n] = 0;
	printf("unbuffered: %zu %s\n", n, line);
	fclose(f);

	/* fdopen on an fd from open(), with "a" on an O_APPEND fd. */
	int fd = open(P("stdio-fdopen.txt"), O_RDWR | O_CREAT | O_TRUNC, 0640);
	if (fd < 0)
		IT_DIE("open");
	f = fdopen(fd, "w+");
	fprintf(f, "via fdopen %s\n", "works");
	fflush(f);
	long pos = (long)lseek(fd, 0, SEEK_CUR);
	printf("fdopen: fileno==fd %d, lseek %ld\n", fileno(f) == fd, pos);
	rewind(f);
	printf("fdopen read: %s", fgets(line, sizeof(line), f) ? line : "(null)\n");
	fclose(f);
	errno = 0;
	int gf = fcntl(fd, F_GETFD);
	printf("fd closed by fclose: %d %s\n", gf, it_errname(errno));

	/* freopen stdout onto a served file, then back. */
	fflush(stdout);
	int saved = dup(1);
	if (!freopen(P("stdio-freopen.txt"), "w", stdout))
		IT_DIE("freopen");
	printf("this went to the file via freopen\n");
	for (int i = 0; i < 100; i++)
		printf("%d\n", i * i);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	clearerr(stdout);
	if (!freopen(P("stdio-freopen.txt"), "r", stdin))
		IT_DIE("freopen stdin");
	unsigned in_lines = 0;
	while (fgets(line, sizeof(line), stdin))
		in_lines++;
	printf("freopen: %u lines read back through stdin\n", in_lines);

	/* fopen errors and modes. */
	errno = 0;
	FILE *mf = fopen(P("no-such"), "r");
	printf("fopen missing r: %s %s\n", mf ? "opened" : "NULL", it_errname(errno));
	errno = 0;
	f = fopen(P("stdio-out.txt"), "wx");
	printf("fopen existing wx: %s %s\n", f ? "opened" : "NULL", it_errname(errno));
	if (f)
		fclose(f);
	f = xfopen("stdio-excl.txt", "wx");
	fputs("x\n", f);
	fclose(f);
	f = xfopen("stdio-out.txt", "re");
	printf("fopen e: cloexec=%d\n", (fcntl(fileno(f), F_GETFD) & FD_CLOEXEC) != 0);
	struct stat st;
	fstat(fileno(f), &st);
	printf("fstat(fileno): size %lld mode %o\n", (long long)st.st_size, (unsigned)(st.st_mode & 07777));
	fclose(f);
	if (rename(P("stdio-excl.txt"), P("stdio-renamed.txt")))
		IT_DIE("rename");
	if (remove(P("stdio-unbuf.txt")))
		IT_DIE("remove");
	return 0;
}
