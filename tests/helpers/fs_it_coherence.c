/* fs_it_coherence: what one process writes to a served file, another process
 * that has the file open (and its blocks cached) reads right after.
 *   fs_it_coherence pair DIR             writer and reader are forked children
 *   fs_it_coherence writer|reader FILE TOKENS_IN TOKENS_OUT
 *                                        launched separately (fs_coherence.sh),
 *                                        taking turns through two FIFOs
 * Each round the writer rewrites one block with a new generation (or resizes
 * the file) and passes a token; the reader, which read the whole file first,
 * must see exactly the new bytes and size. Prints the rounds verified. */
#include "fs_it_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define BLK 4096
#define NBLK 64
#define ROUNDS 400

struct tok { int32_t round, blk; uint32_t gen; int64_t size; };

static int xfer(int fd, void *t, int out)
{
	ssize_t n = out ? write(fd, t, sizeof(struct tok)) : read(fd, t, sizeof(struct tok));
	return n == (ssize_t)sizeof(struct tok) ? 0 : -1;
}

static int writer(int fd, int in, int out)
{
	static uint8_t b[BLK];
	int64_t size = NBLK * BLK;
	for (int r = 0; r < ROUNDS; r++) {
		struct tok t = { r, r * 7 % NBLK, (uint32_t)r + 1, size };
		if (r % 50 == 49) { /* shrink, then grow back with zeros */
			size = (r % 100 == 49) ? (NBLK / 2) * BLK + 100 : NBLK * BLK;
			if (ftruncate(fd, size))
				IT_DIE("ftruncate");
			t.blk = -1;
			t.size = size;
		} else {
			if ((int64_t)(t.blk + 1) * BLK > size)
				t.blk %= (int)(size / BLK);
			it_fill(b, BLK, t.gen, (uint64_t)t.blk * BLK);
			if (pwrite(fd, b, BLK, (off_t)t.blk * BLK) != BLK)
				IT_DIE("pwrite");
		}
		if (xfer(out, &t, 1) || xfer(in, &t, 0))
			IT_DIE("token");
	}
	struct tok end = { -1, 0, 0, 0 };
	return xfer(out, &end, 1);
}

static int reader(int fd, int in, int out)
{
	static uint8_t b[NBLK * BLK];
	if (pread(fd, b, sizeof(b), 0) < 0) /* fill the cache */
		IT_DIE("pread");
	int ok = 0;
	for (;;) {
		struct tok t;
		if (xfer(in, &t, 0))
			IT_DIE("token");
		if (t.round < 0)
			break;
		struct stat st;
		if (fstat(fd, &st) || st.st_size != t.size) {
			printf("round %d: size %lld, expected %lld\n", t.round, (long long)st.st_size, (long long)t.size);
			return 1;
		}
		if (t.blk >= 0) {
			ssize_t n = pread(fd, b, BLK, (off_t)t.blk * BLK);
			long bad = n == BLK ? it_check_pat(b, BLK, t.gen, (uint64_t)t.blk * BLK) : -2;
			if (bad != -1) {
				printf("round %d: block %d read %zd bytes, stale/wrong at %ld (gen %u)\n", t.round, t.blk, n, bad,
				       t.gen);
				return 1;
			}
		} else {
			/* after a resize: the whole file reads back at the new size */
			ssize_t n = pread(fd, b, sizeof(b), 0);
			if (n != t.size) {
				printf("round %d: read %zd bytes after resize to %lld\n", t.round, n, (long long)t.size);
				return 1;
			}
		}
		ok++;
		if (xfer(out, &t, 1))
			IT_DIE("token");
	}
	printf("reader: %d rounds verified\n", ok);
	return 0;
}

static int open_file(const char *path, int create)
{
	int fd = open(path, O_RDWR | (create ? O_CREAT | O_TRUNC : 0), 0644);
	if (fd < 0)
		IT_DIE("open %s", path);
	if (create) {
		static uint8_t b[NBLK * BLK];
		for (int i = 0; i < NBLK; i++)
			it_fill(b + i * BLK, BLK, 0, (uint64_t)i * BLK);
		if (it_write_all(fd, b, sizeof(b)))
			IT_DIE("write");
	}
	return fd;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "pair")) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/coherent.bin", argv[2]);
		close(open_file(path, 1));
		int w2r[2], r2w[2];
		if (pipe(w2r) || pipe(r2w))
			IT_DIE("pipe");
		pid_t r = fork();
		if (r == 0)
			_exit(reader(open_file(path, 0), w2r[0], r2w[1]));
		pid_t w = fork();
		if (w == 0)
			_exit(writer(open_file(path, 0), r2w[0], w2r[1]));
		int sr, sw;
		waitpid(r, &sr, 0);
		waitpid(w, &sw, 0);
		printf("pair: reader exit %d, writer exit %d\n", WEXITSTATUS(sr), WEXITSTATUS(sw));
		return WEXITSTATUS(sr) | WEXITSTATUS(sw);
	}
	if (argc == 5 && !strcmp(argv[1], "writer")) {
		int out = open(argv[4], O_WRONLY), in = open(argv[3], O_RDONLY);
		return writer(open_file(argv[2], 0), in, out);
	}
	if (argc == 5 && !strcmp(argv[1], "reader")) {
		int in = open(argv[3], O_RDONLY), out = open(argv[4], O_WRONLY);
		return reader(open_file(argv[2], 0), in, out);
	}
	if (argc == 3 && !strcmp(argv[1], "make")) {
		close(open_file(argv[2], 1));
		return 0;
	}
	fprintf(stderr, "usage: fs_it_coherence pair DIR | make FILE | writer|reader FILE IN OUT\n");
	return 2;
}
