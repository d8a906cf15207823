/* The kernel's semantics for anonymous mappings, run natively and under
 * libshunt.so with far memory on (tests/integration/far_mmap.sh): every
 * check must pass both ways. Patterns survive eviction; write() from and
 * read() into evicted pages; MADV_DONTNEED reads
 * back zeros; partial munmap; mremap shrink, grow in place, grow by moving
 * (data preserved), MREMAP_FIXED onto another mapping, no MAYMOVE; mprotect
 * read-only and back; a munmap spanning a mapping and a neighbour. Prints
 * "far_mmap: PASS" and exits 0, or names the first failed check.
 *   far_mmap [MIB]          MIB: size of the main mapping (default 32) */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MiB (1ul << 20)
#define PG 4096ul

static int fails;
#define CHECK(c, ...)                                                              \
	do {                                                                       \
		if (!(c)) {                                                        \
			fprintf(stderr, "far_mmap: FAIL line %d: ", __LINE__);     \
			fprintf(stderr, __VA_ARGS__);                              \
			fprintf(stderr, "\n");                                     \
			fails++;                                                   \
		}                                                                  \
	} while (0)

static unsigned char pat(size_t i, unsigned seed) { return (unsigned char)((i / PG) * 131 + (i / PG >> 8) * 7 + seed + 1); }

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i += PG) {
		p[i] = pat(i, seed);
		p[i + PG - 1] = pat(i, seed);
	}
}

/* Offset of the first page that lacks the pattern, or n. */
static size_t bad_page(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i += PG)
		if (p[i] != pat(i, seed) || p[i + PG - 1] != pat(i, seed))
			return i;
	return n;
}

/* The same for bytes [from, to) of a mapping filled from its start. */
static size_t bad_between(const unsigned char *p, size_t from, size_t to, unsigned seed)
{
	for (size_t i = from; i < to; i += PG)
		if (p[i] != pat(i, seed) || p[i + PG - 1] != pat(i, seed))
			return i;
	return to;
}

static size_t nonzero_page(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i += 64)
		if (p[i])
			return i;
	return n;
}

static void *map(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("far_mmap: mmap");
		exit(1);
	}
	return p;
}

/* Writes other memory so that earlier pages are evicted under a small
 * local_mem (natively: just work). */
static void pressure(size_t n)
{
	unsigned char *q = map(n);
	for (size_t i = 0; i < n; i += PG)
		q[i] = (unsigned char)i;
	munmap(q, n);
}

int main(int argc, char **argv)
{
	size_t N = (argc > 1 ? strtoul(argv[1], NULL, 10) : 32) * MiB;

	/* A neighbour below the main mapping, to unmap across both at the end. */
	unsigned char *p = map(N);
	fill(p, N, 1);
	pressure(2 * N);
	CHECK(bad_page(p, N, 1) == N, "pattern lost after eviction at +%zu", bad_page(p, N, 1));

	/* write() from evicted pages, read() into evicted pages (a file between). */
	{
		FILE *tf = tmpfile();
		int fd = tf ? fileno(tf) : -1;
		unsigned char *in = map(4 * MiB);
		in[0] = 1; /* touched, then pushed out */
		pressure(2 * N);
		CHECK(fd >= 0 && write(fd, p, 4 * MiB) == (ssize_t)(4 * MiB), "write() from far pages: %s", strerror(errno));
		CHECK(pread(fd, in, 4 * MiB, 0) == (ssize_t)(4 * MiB), "read() into far pages: %s", strerror(errno));
		CHECK(bad_page(in, 4 * MiB, 1) == 4 * MiB, "read()/write() through far pages lost data at +%zu", bad_page(in, 4 * MiB, 1));
		munmap(in, 4 * MiB);
		if (tf)
			fclose(tf);
	}

	/* MADV_DONTNEED: zeros; the rest untouched. */
	CHECK(madvise(p + MiB, MiB, MADV_DONTNEED) == 0, "madvise DONTNEED: %s", strerror(errno));
	CHECK(nonzero_page(p + MiB, MiB) == MiB, "not zero after MADV_DONTNEED at +%zu", nonzero_page(p + MiB, MiB));
	CHECK(bad_page(p, MiB, 1) == MiB && bad_between(p, 2 * MiB, N, 1) == N, "neighbours of the DONTNEED range changed");
	/* after eviction too: the discarded range must not come back from the server */
	pressure(2 * N);
	CHECK(nonzero_page(p + MiB, MiB) == MiB, "DONTNEED range came back after eviction");
	CHECK(madvise(p + 1, PG, MADV_DONTNEED) == -1 && errno == EINVAL, "unaligned madvise accepted");
	CHECK(madvise(p, MiB, MADV_WILLNEED) == 0 && madvise(p, MiB, MADV_SEQUENTIAL) == 0, "madvise hints refused");
	CHECK(bad_page(p, MiB, 1) == MiB, "madvise hints changed data");
	/* MADV_FREE: zeros or the old data, per page; never anything else */
	CHECK(madvise(p + 3 * MiB, MiB, MADV_FREE) == 0, "madvise FREE: %s", strerror(errno));
	for (size_t i = 3 * MiB; i < 4 * MiB; i += PG)
		if (p[i] && p[i] != pat(i, 1)) {
			CHECK(0, "MADV_FREE page at +%zu holds neither zeros nor its data", i);
			break;
		}
	fill(p + 3 * MiB, MiB, 0); /* rewrite with the page-relative pattern */
	for (size_t i = 3 * MiB; i < 4 * MiB; i += PG)
		p[i] = p[i + PG - 1] = pat(i, 1);

	/* MAP_FIXED over part of its own mapping: fresh zeros there, the rest kept. */
	unsigned char *fx = mmap(p + 5 * MiB, MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(fx == p + 5 * MiB, "MAP_FIXED over its own mapping: %s", fx == MAP_FAILED ? strerror(errno) : "elsewhere");
	CHECK(nonzero_page(p + 5 * MiB, MiB) == MiB, "MAP_FIXED range not zero");
	CHECK(bad_between(p, 4 * MiB, 5 * MiB, 1) == 5 * MiB && bad_between(p, 6 * MiB, 7 * MiB, 1) == 7 * MiB,
	      "MAP_FIXED changed its neighbours");
	for (size_t i = 5 * MiB; i < 6 * MiB; i += PG)
		p[i] = p[i + PG - 1] = pat(i, 1);

	/* Partial munmap in the middle: the two ends stay. */
	CHECK(munmap(p + 4 * MiB, 2 * MiB) == 0, "partial munmap: %s", strerror(errno));
	CHECK(bad_page(p, MiB, 1) == MiB, "head changed by a partial munmap");
	for (size_t i = 6 * MiB; i < N; i += PG)
		if (p[i] != pat(i, 1)) {
			CHECK(0, "tail changed by a partial munmap at +%zu", i);
			break;
		}
	unsigned char *tail = p + 6 * MiB;
	size_t tailn = N - 6 * MiB;

	/* mremap: shrink in place keeps the data. */
	unsigned char *r = mremap(tail, tailn, tailn - 2 * MiB, 0);
	CHECK(r == tail, "shrink moved or failed: %s", r == MAP_FAILED ? strerror(errno) : "moved");
	tailn -= 2 * MiB;
	/* grow: in place or moved, the data comes along and the new part is zero */
	unsigned char *blocker = map(MiB); /* likely right after: forces a move */
	fill(blocker, MiB, 7);
	r = mremap(tail, tailn, tailn + 8 * MiB, MREMAP_MAYMOVE);
	CHECK(r != MAP_FAILED, "mremap grow: %s", strerror(errno));
	if (r != MAP_FAILED) {
		for (size_t i = 0; i < tailn; i += PG)
			if (r[i] != pat(i + 6 * MiB, 1) || r[i + PG - 1] != pat(i + 6 * MiB, 1)) {
				CHECK(0, "grown mapping lost data at +%zu", i);
				break;
			}
		CHECK(nonzero_page(r + tailn, 8 * MiB) == 8 * MiB, "grown part not zero");
		tail = r;
		tailn += 8 * MiB;
		fill(tail, tailn, 3);
		pressure(2 * N);
		CHECK(bad_page(tail, tailn, 3) == tailn, "moved mapping lost data after eviction at +%zu", bad_page(tail, tailn, 3));
	}
	CHECK(bad_page(blocker, MiB, 7) == MiB, "the neighbour of a grown mapping changed");
	/* a grow blocked by a neighbour must move, data and all */
	unsigned char *m = map(3 * MiB);
	fill(m, 3 * MiB, 8);
	CHECK(munmap(m + MiB, MiB) == 0, "munmap of a middle: %s", strerror(errno));
	r = mremap(m, MiB, 4 * MiB, MREMAP_MAYMOVE);
	CHECK(r != MAP_FAILED && r != m, "a blocked grow did not move: %s", r == MAP_FAILED ? strerror(errno) : "in place");
	if (r != MAP_FAILED && r != m) {
		CHECK(bad_page(r, MiB, 8) == MiB, "moved mapping lost data at +%zu", bad_page(r, MiB, 8));
		CHECK(nonzero_page(r + MiB, 3 * MiB) == 3 * MiB, "moved mapping's new part not zero");
		for (size_t i = 2 * MiB; i < 3 * MiB; i += PG)
			if (m[i] != pat(i, 8)) {
				CHECK(0, "the blocking neighbour changed at +%zu", i);
				break;
			}
		pressure(2 * N);
		CHECK(bad_page(r, MiB, 8) == MiB, "moved mapping lost data after eviction");
		munmap(r, 4 * MiB);
	}
	munmap(m + 2 * MiB, MiB);
	/* without MAYMOVE: in place or ENOMEM, never a move */
	r = mremap(blocker, MiB, 64 * MiB, 0);
	CHECK(r == blocker || (r == MAP_FAILED && errno == ENOMEM), "grow without MAYMOVE: %p, %s", (void *)r, strerror(errno));
	if (r == blocker)
		munmap(blocker + MiB, 63 * MiB);
	CHECK(bad_page(blocker, MiB, 7) == MiB, "grow without MAYMOVE changed data");
	/* MREMAP_FIXED onto another mapping's place */
	unsigned char *dst = mmap(NULL, 4 * MiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	r = mremap(tail, 4 * MiB, 4 * MiB, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	CHECK(r == dst, "MREMAP_FIXED: %s", r == MAP_FAILED ? strerror(errno) : "elsewhere");
	if (r == dst) {
		CHECK(bad_page(dst, 4 * MiB, 3) == 4 * MiB, "MREMAP_FIXED lost data at +%zu", bad_page(dst, 4 * MiB, 3));
		munmap(dst, 4 * MiB);
	}
	CHECK(munmap(tail + 4 * MiB, tailn - 4 * MiB) == 0, "munmap of the rest: %s", strerror(errno));

	/* mprotect: read-only keeps the data; read-write again, writes stick. */
	CHECK(mprotect(p, MiB, PROT_READ) == 0, "mprotect PROT_READ: %s", strerror(errno));
	pressure(2 * N);
	CHECK(bad_page(p, MiB, 1) == MiB, "read-only range lost data at +%zu", bad_page(p, MiB, 1));
	CHECK(mprotect(p, MiB, PROT_READ | PROT_WRITE) == 0, "mprotect back: %s", strerror(errno));
	fill(p, MiB, 5);
	pressure(2 * N);
	CHECK(bad_page(p, MiB, 5) == MiB, "re-enabled range lost writes");
	CHECK(mprotect(p + 2 * MiB, MiB, PROT_NONE) == 0, "mprotect PROT_NONE: %s", strerror(errno));

	/* munmap over a mapping and its neighbour at once, then reuse. */
	CHECK(munmap(p, 4 * MiB) == 0, "munmap across ranges: %s", strerror(errno));
	CHECK(munmap(blocker, MiB) == 0, "munmap blocker: %s", strerror(errno));
	unsigned char *again = map(N);
	CHECK(nonzero_page(again, N) == N, "a new mapping over reused space is not zero");
	munmap(again, N);
	CHECK(munmap(p + 1, PG) == -1 && errno == EINVAL, "unaligned munmap accepted");
	CHECK(munmap(p, 0) == -1 && errno == EINVAL, "zero-length munmap accepted");

	if (fails)
		return 1;
	printf("far_mmap: PASS\n");
	return 0;
}
