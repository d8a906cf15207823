/* read() a file into a large malloc'd (far) buffer, push that buffer out of
 * local memory by filling other far buffers, then write() it to another
 * file: both system calls work on far pages that are missing at the time.
 *   far_rw IN OUT [PRESSURE_MIB]      exit 0 on success */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	size_t pressure = (argc > 3 ? strtoull(argv[3], NULL, 10) : 256) << 20;
	int in = open(argv[1], O_RDONLY);
	struct stat st;
	if (in < 0 || fstat(in, &st))
		return perror("far_rw: open"), 1;
	size_t n = (size_t)st.st_size;
	char *buf = malloc(n);
	if (!buf)
		return 1;
	for (size_t got = 0; got < n;) {
		ssize_t r = read(in, buf + got, n - got > (1 << 20) ? (1 << 20) : n - got);
		if (r <= 0)
			return perror("far_rw: read"), 1;
		got += (size_t)r;
	}
	close(in);
	/* Pressure: write other buffers so the first one is evicted. */
	char *other = malloc(pressure);
	if (!other)
		return 1;
	for (size_t i = 0; i < pressure; i += 4096)
		other[i] = (char)i;
	int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	for (size_t put = 0; put < n;) {
		ssize_t w = write(out, buf + put, n - put);
		if (w <= 0)
			return perror("far_rw: write"), 1;
		put += (size_t)w;
	}
	close(out);
	long sum = 0;
	for (size_t i = 0; i < pressure; i += 4096)
		sum += other[i] != (char)i;
	free(other);
	free(buf);
	return sum ? 1 : 0;
}
