/* fs_it_reader FILE WFILE SECONDS: loops until SECONDS pass or a call fails:
 * pread of FILE (made by `fs_it_reader make FILE SIZE`) checked against its
 * pattern, a pwrite to WFILE read back, and an open/fstat/close every few
 * rounds, so every round needs the file server. Prints "progress N" lines;
 * on an error prints the call and errno and exits 3; on wrong data exits 4.
 * fs_server_death.sh kills shuntd under it. */
#include "fs_it_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define FAIL_IF(cond, what)                                                                  \
	do {                                                                                 \
		if (cond) {                                                                  \
			int e_ = errno;                                                      \
			printf("error in %s after %ld rounds: %s\n", what, rounds, it_errname(e_)); \
			fflush(stdout);                                                      \
			return 3;                                                            \
		}                                                                            \
	} while (0)

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "make")) {
		size_t size = (size_t)atol(argv[3]);
		uint8_t *b = malloc(size);
		it_fill(b, size, 99, 0);
		int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || it_write_all(fd, b, size))
			IT_DIE("make %s", argv[2]);
		close(fd);
		return 0;
	}
	if (argc != 4) {
		fprintf(stderr, "usage: fs_it_reader FILE WFILE SECONDS | make FILE SIZE\n");
		return 2;
	}
	double end = now() + atof(argv[3]);
	long rounds = 0;
	int fd = open(argv[1], O_RDONLY);
	FAIL_IF(fd < 0, "open FILE");
	int wfd = open(argv[2], O_RDWR | O_CREAT | O_TRUNC, 0644);
	FAIL_IF(wfd < 0, "open WFILE");
	struct stat st;
	FAIL_IF(fstat(fd, &st), "fstat");
	size_t size = (size_t)st.st_size;
	uint8_t buf[8192], w[64], r[64];
	while (now() < end) {
		off_t off = (off_t)((rounds * 4099) % (long)(size - sizeof(buf)));
		ssize_t n = pread(fd, buf, sizeof(buf), off);
		FAIL_IF(n < 0, "pread");
		if (n != (ssize_t)sizeof(buf) || it_check_pat(buf, (size_t)n, 99, (uint64_t)off) >= 0) {
			printf("WRONG DATA: pread at %lld returned %zd bytes, bad at %ld\n", (long long)off, n,
			       n > 0 ? it_check_pat(buf, (size_t)n, 99, (uint64_t)off) : -1L);
			fflush(stdout);
			return 4;
		}
		it_fill(w, sizeof(w), (uint64_t)rounds, 0);
		FAIL_IF(pwrite(wfd, w, sizeof(w), (off_t)(rounds % 128) * 64) != (ssize_t)sizeof(w), "pwrite");
		n = pread(wfd, r, sizeof(r), (off_t)(rounds % 128) * 64);
		FAIL_IF(n < 0, "pread WFILE");
		if (n != (ssize_t)sizeof(r) || memcmp(w, r, sizeof(r))) {
			printf("WRONG DATA: read back of WFILE round %ld (%zd bytes)\n", rounds, n);
			fflush(stdout);
			return 4;
		}
		if (rounds % 16 == 0) {
			int f2 = open(argv[1], O_RDONLY);
			FAIL_IF(f2 < 0, "reopen");
			FAIL_IF(fstat(f2, &st), "fstat reopened");
			FAIL_IF(close(f2), "close");
		}
		rounds++;
		if (rounds % 1000 == 0) {
			printf("progress %ld\n", rounds);
			fflush(stdout);
		}
	}
	printf("done %ld rounds without error\n", rounds);
	return 0;
}
