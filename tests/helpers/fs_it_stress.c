/* fs_it_stress DIR [ITERS]: 8 threads at once, each rewriting and verifying
 * blocks of its own file (pwrite/pread, write/read at its fd offset, opens
 * and stats) and of its own quarter-megabyte of one shared file. Every block
 * holds a pattern of (thread, generation, offset) so a lost, torn or
 * misplaced write is caught on the next read. Deterministic: the final files
 * are compared with a native run by fs_stress.sh. Exit 1 on a mismatch. */
#include "fs_it_util.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>

#define NTHREADS 8
#define BLK 4096
#define NBLK 64              /* blocks per private file and per shared region */
#define REGION (NBLK * BLK)

static const char *dir;
static long iters = 3000;
static int shared_fd;
static int failed;

struct th {
	int id;
	uint32_t gen_own[NBLK], gen_sh[NBLK];
	long ops, verified;
};

static uint64_t seed_of(int id, uint32_t gen) { return (uint64_t)id << 32 | gen; }

/* Reads [off, off+len) of a file made of generation-tagged blocks; checks it. */
static int verify(struct th *t, int fd, const uint32_t *gens, off_t base, size_t off, size_t len, const char *what)
{
	static __thread uint8_t buf[NBLK * BLK];
	ssize_t n = pread(fd, buf, len, base + (off_t)off);
	if (n != (ssize_t)len) {
		fprintf(stderr, "thread %d: %s pread %zu@%zu returned %zd (%s)\n", t->id, what, len, off, n, it_errname(errno));
		return -1;
	}
	for (size_t i = 0; i < len;) {
		size_t blk = (off + i) / BLK, end = (blk + 1) * BLK - off;
		if (end > len)
			end = len;
		long bad = it_check_pat(buf + i, end - i, seed_of(t->id, gens[blk]), off + i);
		if (bad >= 0) {
			fprintf(stderr, "thread %d: %s wrong byte at %zu (block %zu gen %u)\n", t->id, what,
				off + i + (size_t)bad, blk, gens[blk]);
			return -1;
		}
		i = end;
	}
	t->verified += (long)len;
	return 0;
}

static int write_blocks(struct th *t, int fd, uint32_t *gens, off_t base, size_t b0, size_t nb, int use_offset)
{
	static __thread uint8_t buf[NBLK * BLK];
	for (size_t b = b0; b < b0 + nb; b++) {
		gens[b]++;
		it_fill(buf + (b - b0) * BLK, BLK, seed_of(t->id, gens[b]), b * BLK);
	}
	ssize_t n;
	if (use_offset) {
		if (lseek(fd, base + (off_t)(b0 * BLK), SEEK_SET) < 0)
			return -1;
		n = write(fd, buf, nb * BLK);
	} else {
		n = pwrite(fd, buf, nb * BLK, base + (off_t)(b0 * BLK));
	}
	if (n != (ssize_t)(nb * BLK)) {
		fprintf(stderr, "thread %d: write of %zu blocks returned %zd (%s)\n", t->id, nb, n, it_errname(errno));
		return -1;
	}
	return 0;
}

static void *worker(void *arg)
{
	struct th *t = arg;
	uint64_t rs = 0x1234567ull * (uint64_t)(t->id + 1);
	char path[4096];
	snprintf(path, sizeof(path), "%s/stress-%d.bin", dir, t->id);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fprintf(stderr, "thread %d: open %s: %s\n", t->id, path, it_errname(errno));
		goto fail;
	}
	if (write_blocks(t, fd, t->gen_own, 0, 0, NBLK, 1) ||
	    write_blocks(t, shared_fd, t->gen_sh, (off_t)t->id * REGION, 0, NBLK, 0))
		goto fail;
	for (long i = 0; i < iters; i++) {
		uint64_t r = it_rand(&rs);
		size_t b0 = r % NBLK, nb = 1 + (r >> 8) % 8;
		if (b0 + nb > NBLK)
			nb = NBLK - b0;
		size_t off = (r >> 16) % REGION, len = 1 + (r >> 40) % (3 * BLK);
		if (off + len > REGION)
			len = REGION - off;
		switch ((r >> 56) % 8) {
		case 0: case 1:
			if (write_blocks(t, fd, t->gen_own, 0, b0, nb, (r >> 60) & 1))
				goto fail;
			break;
		case 2: case 3:
			if (write_blocks(t, shared_fd, t->gen_sh, (off_t)t->id * REGION, b0, nb, 0))
				goto fail;
			break;
		case 4:
			if (verify(t, fd, t->gen_own, 0, off, len, "own"))
				goto fail;
			break;
		case 5:
			if (verify(t, shared_fd, t->gen_sh, (off_t)t->id * REGION, off, len, "shared"))
				goto fail;
			break;
		case 6: {
			struct stat st;
			int f2 = open(path, O_RDONLY);
			if (f2 < 0 || fstat(f2, &st) || st.st_size != REGION) {
				fprintf(stderr, "thread %d: reopen/fstat: %s size %lld\n", t->id, it_errname(errno),
					(long long)(f2 < 0 ? -1 : st.st_size));
				goto fail;
			}
			if (verify(t, f2, t->gen_own, 0, off, len, "reopened"))
				goto fail;
			close(f2);
			break;
		}
		case 7: {
			/* read at the fd's own offset */
			static __thread uint8_t buf[3 * BLK];
			if (lseek(fd, (off_t)off, SEEK_SET) != (off_t)off || read(fd, buf, len) != (ssize_t)len) {
				fprintf(stderr, "thread %d: lseek+read: %s\n", t->id, it_errname(errno));
				goto fail;
			}
			size_t blk = off / BLK, end = (blk + 1) * BLK - off;
			if (end > len)
				end = len;
			if (it_check_pat(buf, end, seed_of(t->id, t->gen_own[blk]), off) >= 0) {
				fprintf(stderr, "thread %d: lseek+read wrong data at %zu\n", t->id, off);
				goto fail;
			}
			break;
		}
		}
		t->ops++;
	}
	if (verify(t, fd, t->gen_own, 0, 0, REGION, "final own") ||
	    verify(t, shared_fd, t->gen_sh, (off_t)t->id * REGION, 0, REGION, "final shared"))
		goto fail;
	close(fd);
	return NULL;
fail:
	__atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: fs_it_stress DIR [ITERS]\n");
		return 2;
	}
	dir = argv[1];
	if (argc > 2)
		iters = atol(argv[2]);
	char path[4096];
	snprintf(path, sizeof(path), "%s/stress-shared.bin", dir);
	shared_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (shared_fd < 0)
		IT_DIE("open %s", path);
	static struct th th[NTHREADS];
	pthread_t tid[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		th[i].id = i;
		if (pthread_create(&tid[i], NULL, worker, &th[i]))
			IT_DIE("pthread_create");
	}
	long ops = 0;
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(tid[i], NULL);
		ops += th[i].ops;
		printf("thread %d: %ld ops, %ld bytes verified\n", i, th[i].ops, th[i].verified);
	}
	struct stat st;
	fstat(shared_fd, &st);
	printf("shared file size %lld, total ops %ld, %s\n", (long long)st.st_size, ops, failed ? "FAILED" : "all verified");
	close(shared_fd);
	return failed;
}
