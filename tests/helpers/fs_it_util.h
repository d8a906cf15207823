/* Small shared pieces of the fs_it_* integration drivers: errno names,
 * verifiable byte patterns, whole-buffer I/O. Drivers print transcripts that
 * the tests compare between a native run and a run under shunt, so nothing
 * printed may depend on time, pids or addresses. */
#ifndef FS_IT_UTIL_H
#define FS_IT_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline const char *it_errname(int e)
{
	const char *n = e ? strerrorname_np(e) : "0";
	return n ? n : "E?";
}

#define IT_DIE(...)                                                      \
	do {                                                             \
		fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);          \
		fprintf(stderr, __VA_ARGS__);                            \
		fprintf(stderr, " (errno %s)\n", it_errname(errno));     \
		exit(2);                                                 \
	} while (0)

/* The byte a file written by the drivers holds at offset off (seeded). */
static inline uint8_t it_pat(uint64_t seed, uint64_t off)
{
	uint64_t x = (seed + 1) * 0x9e3779b97f4a7c15ull ^ (off >> 3) * 0xbf58476d1ce4e5b9ull;
	x ^= x >> 31;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 29;
	return (uint8_t)(x >> (8 * (off & 7)));
}

static inline void it_fill(uint8_t *b, size_t n, uint64_t seed, uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		b[i] = it_pat(seed, off + i);
}

/* Index of the first byte that differs from the pattern, or -1. */
static inline long it_check_pat(const uint8_t *b, size_t n, uint64_t seed, uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != it_pat(seed, off + i))
			return (long)i;
	return -1;
}

static inline uint64_t it_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static inline int it_write_all(int fd, const void *b, size_t n)
{
	const char *p = b;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static inline ssize_t it_read_full(int fd, void *b, size_t n)
{
	char *p = b;
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* FNV-1a of a buffer: printed instead of data in transcripts. */
static inline uint64_t it_hash(const void *b, size_t n)
{
	const uint8_t *p = b;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

#endif
